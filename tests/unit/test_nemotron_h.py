"""Nemotron-H (``hf``, NemotronHForCausalLM): the block pattern, parameter counts, the Mamba-2 mixer's SSD kernels in a
prompt and its state update in a decode step, the state cache, tensor parallelism and the refusals.

Every expected figure is worked out below from workloads/nemotron_nano_9b_v2.yaml (the published config's sizes) and
the structure of transformers' modeling_nemotron_h (NemotronHBlock, NemotronHMamba2Mixer) and the state-spaces/mamba
SSD kernels (mamba_ssm/ops/triton/ssd_*.py, selective_state_update.py). NVIDIA: Nemotron Nano 9B v2 has 8.89 B
parameters.
"""

from __future__ import annotations

import math
import re

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.builders.hf import HfParams, identical_layers
from accelsim.config import load_experiment, load_workload
from accelsim.errors import ConfigError
from accelsim.ir import Gemm

H, VOCAB, FFN = 4480, 131072, 15680
MH, P, N, G, K = 128, 80, 128, 8, 4  # Mamba heads, head dim, state, groups, conv taps
INNER = MH * P  # 10240
CONV = INNER + 2 * G * N  # 12288: x, B and C
MAMBA = H * (INNER + CONV + MH) + CONV * K + CONV + 3 * MH + INNER + INNER * H  # in_proj, conv, dt/A/D, norm, out
MLP = 2 * H * FFN
ATTN = H * 40 * 128 + 2 * H * 8 * 128 + 40 * 128 * H
PATTERN = "M-M-M-MM-M-M-M*-M-M-M*-M-M-M-M*-M-M-M-M*-M-MM-M-M-M-M-M-"
STATE = MH * P * N * 2 + CONV * (K - 1) * 2  # a Mamba layer's state and conv taps, bf16


def _model(**params):
    w = load_workload("nemotron_nano_9b_v2")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_the_pattern_and_the_parameter_count():
    counts = {c: PATTERN.count(c) for c in "M-*"}
    assert counts == {"M": 27, "-": 25, "*": 4}
    # every block also has its RMSNorm (H); the embeddings and the untied head, the final norm
    total = counts["M"] * (MAMBA + H) + counts["-"] * (MLP + H) + counts["*"] * (ATTN + H) + 2 * VOCAB * H + H
    g = _model(seq_len=8)
    assert g.params == g.meta["model_params"] == total == 8_888_227_328
    assert round(total / 1e7) == 889  # NVIDIA: 8.89 B
    names = {op.name for op in g.ops}
    # layer 0 a Mamba mixer, 1 an MLP, 14 the first attention block
    assert {"backbone.layers.0.mixer.in_proj", "backbone.layers.1.mixer.up_proj",
            "backbone.layers.14.mixer.q_proj"} <= names
    assert not any(n.startswith("backbone.layers.14.mixer.") and "rope" in n for n in names)  # no RoPE


def test_a_prompt_runs_the_ssd_chunks():
    g = _model(seq_len=300, layers=1)
    m = "backbone.layers.0.mixer"
    n = math.ceil(300 / 128)  # chunks of chunk_size 128: 2 whole ones and the last of 300 - 256 = 44 tokens
    chunks = (128, 128, 44)
    assert g[f"{m}.in_proj"].out_shape == (1, 300, INNER + CONV + MH)
    # per head and chunk: the chunk's state Xᵀ·B (80 × 128 by 128), the output C·S + (C·Bᵀ ⊙ decay)·X (128 × 80 by
    # 128 + 128); per group and chunk C·Bᵀ (128 × 128 by 128)
    # (the last chunk its own 44 tokens: the kernels' chunk_size_limit)
    assert g[f"{m}.chunk_state"].macs == MH * P * N * 300
    # chunk_scan's intra-chunk (C·Bᵀ ⊙ decay)·X runs causally (mamba_ssm ssd_chunk_scan.py: _chunk_scan_fwd passes
    # IS_CAUSAL=True; rows in blocks of BLOCK_SIZE_M 64, block i's K loop to min((i + 1)·64, chunk_size_limit)):
    # a 128-token chunk computes 64·64 + 64·128 = 12,288 of its 128² pairs (probe p149 #3: counted whole before)
    intra = {128: 64 * 64 + 64 * 128, 44: 44 * 44}  # the 44-token chunk one block of rows, whole
    assert g[f"{m}.chunk_scan"].macs == MH * sum(P * (c * N + intra[c]) for c in chunks)
    assert g[f"{m}.bmm_chunk"].macs == G * sum(c * c for c in chunks) * N
    # the mapper's: 3 whole chunks, k the causal part's mean columns a row, 12,288 / 128 = 96
    assert g[f"{m}.chunk_scan"].gemm == Gemm(m=128, n=P, k=N + 96, count=MH * n)
    assert g[f"{m}.chunk_cumsum"].flops == 8 * MH * 300  # CUMSUM_FLOPS per head and token
    assert g[f"{m}.state_passing"].flops == 2 * MH * n * P * N
    assert g[f"{m}.norm"].weights[0].shape == (INNER,)
    assert g.meta["state_cache_bytes"] == STATE


def test_a_prompt_shorter_than_a_chunk_runs_one_chunk_of_its_length():
    # L = 10 < chunk_size 128: one chunk of 10 tokens (the SSD kernels bound their loops by the tokens there are),
    # so the MACs are the work: per head Xᵀ·B 80 × 128 by 10; per group C·Bᵀ 10 × 10 by 128; per head the output
    # 10 × 80 by 128 + 10
    m = "backbone.layers.0.mixer"
    g = _model(seq_len=10, layers=1)
    assert g[f"{m}.chunk_state"].macs == MH * 80 * 128 * 10 == 13_107_200
    assert g[f"{m}.bmm_chunk"].macs == G * 10 * 10 * 128 == 102_400
    assert g[f"{m}.chunk_scan"].macs == MH * 10 * 80 * (128 + 10) == 14_131_200
    assert g[f"{m}.chunk_cumsum"].flops == 8 * MH * 10  # CUMSUM_FLOPS per head and token
    # one token and 128 differ (were the same 128-token chunk): 128 tokens are 12.8 × 10's chunk_state
    assert _model(seq_len=128, layers=1)[f"{m}.chunk_state"].macs == MH * 80 * 128 * 128


def test_a_decode_step_updates_the_state_and_an_fp32_cache_keeps_its_dtype():
    g = _model(phase="decode", kv_len=4000, batch=2, layers=1, mamba_ssm_cache_dtype="float32")
    m = "backbone.layers.0.mixer"
    assert g.inputs[f"{m}.ssm_state"] == (2, MH, P, N)
    upd = g[f"{m}.selective_state_update"]
    # 5 FLOPs an element (state·dA, + dB·x, ·C and the row sum: probe p149 #2, was 7, Gated DeltaNet's count)
    assert upd.dtype == "fp32" and upd.flops == 5 * 2 * MH * P * N
    assert g[f"{m}.state_write"].out_bytes == 2 * MH * P * N * 4
    assert g.meta["state_cache_bytes"] == 2 * (MH * P * N * 4 + CONV * (K - 1) * 2)


def test_a_decode_step_writes_its_states_inside_the_update_kernels():
    # vLLM's selective_state_update and causal_conv1d_update write the state they read in place: the writes are
    # no kernels of their own (no launch, no dispatch) but keep their bytes; a prompt's final-state writes stay
    import dataclasses

    from accelsim import api
    from accelsim.config import load_arch
    from accelsim.ir import Graph

    m = "backbone.layers.0.mixer"
    g = _model(phase="decode", kv_len=64, layers=1)
    assert g[f"{m}.state_write"].in_kernel_of == f"{m}.selective_state_update"
    assert g[f"{m}.conv_state_write"].in_kernel_of == f"{m}.conv1d"
    # their bytes, bf16: the state write reads the step's output (1 × 1 × 128 heads × 80) and writes the state
    # (128 × 80 × 128); the conv state write reads the conv's output (1 × 1 × 12,288) and writes its 3 taps
    sw, cw = g[f"{m}.state_write"], g[f"{m}.conv_state_write"]
    assert (sw.in_bytes, sw.out_bytes) == (MH * P * 2, MH * P * N * 2) == (20_480, 2_621_440)
    assert (cw.in_bytes, cw.out_bytes) == (CONV * 2, CONV * (K - 1) * 2) == (24_576, 73_728)
    assert _model(seq_len=8, layers=1)[f"{m}.state_write"].in_kernel_of is None
    # simulated on h100 (eager: 21 µs a launch, h100.yaml) the same bytes move at every level, two launches fewer
    plain = Graph(g.name, [dataclasses.replace(op, attrs={k: v for k, v in op.attrs.items() if k != "in_kernel_of"})
                           for op in g.ops], g.inputs, meta=g.meta)
    arch = load_arch("h100")
    fused, apart = (api.run(x, arch, name="t").to_dict() for x in (g, plain))
    assert fused["bytes"] == apart["bytes"]
    assert apart["seconds"] - fused["seconds"] == pytest.approx(2 * 21e-6, rel=0.05)


def test_a_prompt_writes_only_the_states_it_keeps():
    # causal_conv1d_fn keeps the last K − 1 = 3 inputs of the conv's 12,288 channels, and the SSD's state passing
    # emits the final state: the writes read those (bf16), not the prompt's 2048 tokens or all 16 chunk states
    from accelsim import api
    from accelsim.config import load_arch

    m = "backbone.layers.0.mixer"
    g = _model(seq_len=2048, layers=1)
    cw, sw = g[f"{m}.conv_state_write"], g[f"{m}.state_write"]
    assert cw.inputs == (f"{m}.conv_tail",) and g[f"{m}.conv_tail"].attrs["start"] == 2048 - 3
    assert (cw.in_bytes, cw.out_bytes) == (3 * CONV * 2, CONV * (K - 1) * 2) == (73_728, 73_728)
    assert g[f"{m}.final_state"].attrs["start"] == 2048 // 128 - 1  # the last of 16 chunks of 128
    assert (sw.in_bytes, sw.out_bytes) == (MH * P * N * 2, MH * P * N * 2) == (2_621_440, 2_621_440)
    # simulated on h100: each write moves its state twice through HBM (read, write), not 12,288 × 2048 × 2 B
    # (50,331,648 B) and 16 + 1 states (44,564,480 B) as before
    ops = {o["name"]: o for o in api.run(g, load_arch("h100"), name="t").to_dict()["ops"]}
    assert ops[f"{m}.conv_state_write"]["bytes"]["hbm"] == 2 * 73_728
    assert ops[f"{m}.state_write"]["bytes"]["hbm"] == 2 * 2_621_440
    # a prompt shorter than the taps keeps what it has (2 tokens; the third tap zeros)
    short = _model(seq_len=2, layers=1)
    assert short[f"{m}.conv_tail"].out_shape == (1, 2, CONV) and short[f"{m}.conv_state_write"].out_bytes == 73_728


def test_a_decode_steps_state_update_counts_its_contractions_as_macs():
    # selective_state_update: h ← e^{dt·A}·h + (dt·x)·Bᵀ and y = h·C per head: two multiply-adds per state element
    # (the decay a multiply), as a prompt's chunk_state (Xᵀ·B) and chunk_scan (C·S) count them per token; FLOPs
    # 2·2 + 1 = 5 an element (mamba_ssm's _selective_scan_update_kernel with TIE_HDIM: dA = exp(A·dt) one a head, so
    # state·dA, + dB·x, state·C and the row sum; probe p149 #2: was 7, Gated DeltaNet's count)
    g = _model(phase="decode", kv_len=64, layers=1)
    upd = g["backbone.layers.0.mixer.selective_state_update"]
    assert upd.macs == 2 * MH * P * N == 2_621_440 and upd.flops == 5 * MH * P * N == 6_553_600
    p = _model(seq_len=1, layers=1)  # a one-token prompt: chunk_state and chunk_scan's C·S part, H·P·N each
    assert p["backbone.layers.0.mixer.chunk_state"].macs == MH * P * N
    assert p["backbone.layers.0.mixer.chunk_scan"].macs == MH * P * (N + 1)  # C·S, and the 1 × 1 C·Bᵀ·x


def test_tensor_parallelism_splits_heads_and_groups():
    g = _model(seq_len=64, layers=1, tensor_parallel=4)
    inner, conv = INNER // 4, INNER // 4 + 2 * (G // 4) * N
    assert g["backbone.layers.0.mixer.in_proj"].out_shape == (1, 64, inner + conv + MH // 4)
    with pytest.raises(Exception, match="tensor_parallel 3 must divide mamba_num_heads"):
        _model(seq_len=64, layers=1, tensor_parallel=3)


def test_refusals_and_the_layers_are_not_alike():
    with pytest.raises(ValidationError, match="training is not modelled for NemotronHForCausalLM"):
        _model(mode="training")
    with pytest.raises(ValidationError, match="hybrid_override_pattern: expected 56 blocks"):
        _model(hybrid_override_pattern="M-X*" * 14)  # no such block
    with pytest.raises(ValidationError, match="moe_latent_size: 1024 is not supported"):
        _model(moe_latent_size=1024)  # Nemotron 3 Super's latent expert projections
    # B and C of each group serve mamba_num_heads / n_groups heads: 3 groups cannot share 128 heads
    with pytest.raises(ValidationError, match=r"n_groups: 3 must divide mamba_num_heads \(128\)"):
        _model(n_groups=3)
    w = load_workload("nemotron_nano_9b_v2")
    assert identical_layers(HfParams(**{**w.params, "layers": 4})) is None


def test_a_groups_error_is_put_at_the_key_the_user_set(tmp_path):
    # probe p85 #4: mamba_num_heads 100 in the user's file (its line 4) over the preset's n_groups 8 (preset line 29)
    # was reported at the preset's line ("workloads/nemotron_nano_9b_v2.yaml:29: n_groups: ..."). 100 heads in 8
    # groups: 100 = 12 × 8 + 4, no whole number of heads a group, so the rule breaks at the key set last
    # each file shown relative to the working folder when under it
    mine, preset = r"(?:.*/)?bad\.yaml", r"(?:.*/)?workloads/nemotron_nano_9b_v2\.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nworkload:\n  base: nemotron_nano_9b_v2\n  mamba_num_heads: 100\narch: h100\n")
    with pytest.raises(ConfigError) as e:
        load_experiment(bad)
    assert re.fullmatch(rf"{mine}:4: workload\.mamba_num_heads: 100 is not a multiple of n_groups "
                        rf"\(8, {preset}:29\)", str(e.value))
    # a --set over both: at the --set, naming the file's value
    with pytest.raises(ConfigError) as e:
        load_experiment(bad, ["workload.n_groups=7"])
    assert re.fullmatch(rf"--set: workload\.n_groups: 7 must divide mamba_num_heads \(100, {mine}:4\)", str(e.value))
    # the user's n_groups over the preset's 128 heads: at the user's line
    bad.write_text("name: bad\nworkload:\n  base: nemotron_nano_9b_v2\n  n_groups: 3\narch: h100\n")
    with pytest.raises(ConfigError) as e:
        load_experiment(bad)
    assert re.fullmatch(rf"{mine}:4: workload\.n_groups: 3 must divide mamba_num_heads "
                        rf"\(128, {preset}:26\)", str(e.value))


def test_a_missing_pattern_says_so():
    # without hybrid_override_pattern NemotronHConfig's default (Nemotron-H-8B's 52 blocks) stands in: 56 layers
    # are not its length, and the error says the key is missing rather than quoting a pattern nobody wrote
    w = load_workload("nemotron_nano_9b_v2")
    params = {k: v for k, v in w.params.items() if k != "hybrid_override_pattern"}
    with pytest.raises(ValidationError, match=r"hybrid_override_pattern: missing, and NemotronHConfig's default "
                                              r"pattern \(Nemotron-H-8B's, 52 blocks\) does not match "
                                              r"num_hidden_layers \(56\)"):
        build_workload(w.model, {**params, "seq_len": 8})
    # a pattern written too short is quoted as written
    with pytest.raises(ValidationError, match=r"expected 56 blocks.*\(got 'M-\*'\)"):
        _model(hybrid_override_pattern="M-*", seq_len=8)


def test_one_more_token_costs_about_a_decode_step():
    # 1,024 tokens are 8 whole chunks of 128; 1,025 add a ninth chunk of 1 token, which the SSD kernels run for its
    # one token (chunk_size_limit = 1): per head its state 80 × 128 by 1 and its output 1 × 80 by 128 + 1, per group
    # C·Bᵀ 1 × 1 by 128 (before, the ninth chunk counted whole: 128 × 80 by 256 a head, 2.7x a decode step in all)
    m = "backbone.layers.0.mixer"
    a, b = _model(seq_len=1024, layers=1), _model(seq_len=1025, layers=1)
    assert b[f"{m}.chunk_state"].macs - a[f"{m}.chunk_state"].macs == MH * P * N * 1
    assert b[f"{m}.chunk_scan"].macs - a[f"{m}.chunk_scan"].macs == MH * 1 * P * (N + 1)
    assert b[f"{m}.bmm_chunk"].macs - a[f"{m}.bmm_chunk"].macs == G * 1 * 1 * N
    # the whole model: the extra token's linears, the attention layers' one more query row (and key) and the chunks'
    # one token, against a decode step at kv_len 1,024 (its linears, attention over 1,024 + 1 keys, no chunks):
    # the same work within a few per cent
    macs = lambda g: sum(op.macs for op in g.ops)  # noqa: E731
    step = macs(_model(phase="decode", kv_len=1024))
    assert 1.0 < (macs(_model(seq_len=1025)) - macs(_model(seq_len=1024))) / step < 1.05


def test_chunk_scan_skips_the_blocks_above_the_diagonal_of_a_partial_chunk():
    # probe p149 #3: mamba_ssm's causal _chunk_scan_fwd_kernel in row blocks of 64 on a 100-token chunk: rows 0-63 run
    # their K loop to min(64, 100) = 64, rows 64-99 (36 of them) to min(128, 100) = 100: 64·64 + 36·100 = 7,696 of the
    # 100² pairs, each × P for the (C·Bᵀ ⊙ decay)·X part; the C·S part is 100 × P by N whole
    m = "backbone.layers.0.mixer"
    g = _model(seq_len=100, layers=1)
    assert g[f"{m}.chunk_scan"].macs == MH * P * (100 * N + 64 * 64 + 36 * 100) == 209_879_040
    assert g[f"{m}.bmm_chunk"].macs == G * 100 * 100 * N  # _bmm_chunk_fwd runs causal=False: whole


def test_a_one_tap_conv_is_refused_at_conv_kernel():
    # probe p276 #3: a decode step failed naming the conv_state input ([1, 12288, 0]) instead of the key
    with pytest.raises(ValidationError, match=r"conv_kernel: expected an integer ≥ 2 \(got 1\): the causal_conv1d kernels \(causal-conv1d's, vLLM's\) take widths from 2"):
        _model(phase="decode", kv_len=8, conv_kernel=1)
