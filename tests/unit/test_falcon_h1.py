"""Falcon-H1 (``hf``, FalconH1ForCausalLM): attention and a Mamba-2 mixer side by side in every layer, the parameter
count, and what the published config's options change.

Every expected figure is worked out below from workloads/falcon_h1_7b.yaml (the published config's sizes) and the
structure of transformers' modeling_falcon_h1 (FalconH1DecoderLayer, FalconH1Mixer). TII: 7.59 B parameters.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.builders.hf import HfParams, identical_layers
from accelsim.cli import main
from accelsim.config import load_workload
from accelsim.errors import WorkloadError

H, VOCAB, FFN, LAYERS = 3072, 130048, 12288, 44
D_SSM, MH, N = 3072, 24, 256
CONV = D_SSM + 2 * N  # x, and B and C of one group
MAMBA = H * (D_SSM + CONV + MH) + CONV * 4 + CONV + 3 * MH + D_SSM + D_SSM * H  # in_proj, conv, dt/A/D, norm, out
ATTN = H * 12 * 128 * 2 + 2 * H * 2 * 128
MLP = 3 * H * FFN


def _model(**params):
    w = load_workload("falcon_h1_7b")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_parameter_count_by_hand():
    total = LAYERS * (ATTN + MAMBA + MLP + 2 * H) + 2 * VOCAB * H + H
    g = _model(seq_len=8)
    assert g.params == g.meta["model_params"] == total == 7_585_648_736 and round(total / 1e7) == 759


def test_every_layer_adds_the_two_branches_on_one_normed_input():
    g = _model(seq_len=64, layers=1)
    norm = "model.layers.0.input_layernorm"
    assert g["model.layers.0.self_attn.q_proj"].inputs == (norm,) == g["model.layers.0.mamba.in_proj"].inputs
    add = g["model.layers.0.add_mamba"]
    assert add.inputs == ("model.layers.0.self_attn.o_proj", "model.layers.0.mamba.out_proj")
    assert g["model.layers.0.pre_ff_layernorm"].kind.value == "norm"
    # the embedding and LM-head multipliers: one pass each; the in-layer μP multipliers: none
    assert g["model.embed_scale"].flops == 64 * H and g["logits_scaling"].flops == 64 * VOCAB
    # without mamba_rms_norm the mixer's output is y · SiLU(z), no weight
    plain = _model(seq_len=64, layers=1, mamba_rms_norm=False)
    assert plain["model.layers.0.mamba.gate"].weights == () and plain.params == g.params - D_SSM
    w = load_workload("falcon_h1_7b")
    assert identical_layers(HfParams(**w.params)) == (0, LAYERS, 1)  # every layer alike: a serving run samples two


def test_mamba_groups_must_divide_the_heads():
    # each group's B and C serve mamba_n_heads / mamba_n_groups heads: 5 groups cannot share 24 heads
    with pytest.raises(ValidationError, match=r"mamba_n_groups: 5 must divide mamba_n_heads \(24\)"):
        _model(mamba_n_groups=5, seq_len=8)
    assert _model(mamba_n_groups=24, seq_len=8, layers=1).params > 0  # one group a head is a model


@pytest.mark.parametrize("groups, tp, per_chip", [(1, 4, 1), (4, 4, 1), (2, 2, 1), (4, 2, 2)])
def test_tensor_parallelism_splits_the_groups_it_divides_or_keeps_the_one(groups, tp, per_chip):
    # vLLM's MambaMixer2 takes a degree dividing n_groups, or one group, which every chip keeps: the conv's channels
    # a chip, its 24 / tp heads' x (3,072 / tp) and its groups' B and C (256 each)
    g = _model(seq_len=8, layers=1, mamba_n_groups=groups, tensor_parallel=tp)
    assert g["model.layers.0.mamba.conv1d"].out_shape == (1, 8, D_SSM // tp + 2 * per_chip * N)


@pytest.mark.parametrize("groups, tp", [(2, 4), (3, 2), (6, 4)])
def test_a_degree_that_does_not_divide_two_or_more_groups_is_refused_as_vllm_does(groups, tp, capsys):
    # probe p276 #2: 2 groups at TP 4 was built with one group a chip (the old rule took a degree that is a multiple
    # of the groups); vLLM's MambaMixer2.__init__ asserts n_groups % tp_size == 0 or n_groups == 1
    with pytest.raises(WorkloadError, match=rf"tensor_parallel {tp} must divide the Mamba groups \({groups}\) unless "
                                            r"there is one group, as vLLM's MambaMixer2 asserts"):
        _model(seq_len=8, layers=1, mamba_n_groups=groups, tensor_parallel=tp)
    assert main(["info", "falcon_h1_7b", "-a", "dgx-h100", "--set", f"workload.mamba_n_groups={groups}", "--set",
                 f"workload.tensor_parallel={tp}", "--set", "workload.phase=decode"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"accelsim: error: --set: workload.tensor_parallel: falcon_h1_7b: tensor_parallel {tp} "), line


def test_sequence_parallelism_gathers_the_shared_normed_input_once():
    # both mixers read one input_layernorm output: under sequence parallelism at TP 2 one all-gather of the token
    # shards, (1, 128, 3072) → (1, 256, 3072) bf16, feeds q_proj and the Mamba in_proj (was one gather each)
    g = _model(seq_len=256, layers=1, tensor_parallel=2, sequence_parallel=True)
    gathers = [op for op in g.ops if op.fn == "all_gather" and op.name.startswith("model.layers.0.")]
    assert [op.name for op in gathers] == ["model.layers.0.input_layernorm_all_gather",
                                           "model.layers.0.feed_forward.pre_ff_layernorm_all_gather"]
    ag = gathers[0]
    assert (ag.in_bytes, ag.out_bytes) == (128 * H * 2, 256 * H * 2) == (786_432, 1_572_864)
    assert g["model.layers.0.self_attn.q_proj"].inputs == (ag.name,) == g["model.layers.0.mamba.in_proj"].inputs


def test_the_published_chunk_size_and_a_decode_steps_state_macs():
    # mamba_chunk_size 128 as published: 512 tokens are 4 chunks; bmm_chunk C·Bᵀ is 128 × 128 by N = 256 per chunk
    # (1 group), chunk_scan 128 × 128 (P) by N + 128 per chunk and head
    g = _model(seq_len=512, layers=1)
    assert g["model.layers.0.mamba.chunk_state"].out_shape == (1, MH, 4, 128, N)
    assert g["model.layers.0.mamba.bmm_chunk"].macs == 4 * 128 * 128 * N == 16_777_216
    # chunk_scan's intra-chunk (C·Bᵀ ⊙ decay)·X runs causally (mamba_ssm ssd_chunk_scan.py: _chunk_scan_fwd passes
    # IS_CAUSAL=True; rows in blocks of BLOCK_SIZE_M 64, block i's K loop to min((i + 1)·64, chunk_size_limit)):
    # a 128-token chunk computes 64·64 + 64·128 = 12,288 of its 128² pairs (probe p149 #3: counted whole before)
    assert g["model.layers.0.mamba.chunk_scan"].macs == 4 * MH * 128 * (128 * N + 12_288) == 553_648_128
    # a decode step's selective_state_update: 2 MACs (B·dt·x in, C·h out) per element of 24 × 128 × 256
    d = _model(phase="decode", kv_len=1024, layers=1)
    assert d["model.layers.0.mamba.selective_state_update"].macs == 2 * MH * 128 * N == 1_572_864


def test_a_one_tap_conv_is_refused_at_mamba_d_conv(capsys):
    # probe p276 #3: it passed the key and failed inside the builder (a conv state of 0 columns)
    assert main(["info", "falcon_h1_7b", "--set", "workload.mamba_d_conv=1"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == ("accelsim: error: --set: workload.mamba_d_conv: expected an integer ≥ 2 (got 1): the "
                    "causal_conv1d kernels (causal-conv1d's, vLLM's) take widths from 2"), line
