"""``fused_projections``: q/k/v as one qkv_proj and gate/up as one gate_up_proj (vLLM's QKVParallelLinear and
MergedColumnParallelLinear), the same params, MACs and weight bytes as the separate projections; and ``accelsim
serve`` building its grid with it (``engine.fused_projections``)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_workload
from accelsim.config.serving import CostGrid, EngineConfig
from accelsim.serving import cost


def _graph(model: str, **params: object):
    spec = load_workload(model)
    return build_workload(spec.model, {**spec.params, **params})


def _gemm(g, name: str) -> tuple[int, int, int]:
    gm = g[name].gemm
    return gm.m, gm.n, gm.k


def test_llama2_7b_decode_fused_shapes_by_hand():
    # LLaMA-2-7B: hidden 4096, 32 heads of 128, no GQA, ffn 11008; a decode step of batch 1 has m = 1
    g = _graph("llama2_7b", phase="decode", kv_len=576, fused_projections=True)
    attn, mlp = "model.layers.0.self_attn", "model.layers.0.mlp"
    assert _gemm(g, f"{attn}.qkv_proj") == (1, (32 + 2 * 32) * 128, 4096)  # n = 12288
    assert _gemm(g, f"{attn}.o_proj") == (1, 4096, 4096)
    assert _gemm(g, f"{mlp}.gate_up_proj") == (1, 2 * 11008, 4096)  # n = 22016
    assert _gemm(g, f"{mlp}.down_proj") == (1, 4096, 11008)
    for gone in (f"{attn}.q_proj", f"{attn}.k_proj", f"{attn}.v_proj", f"{mlp}.gate_proj", f"{mlp}.up_proj"):
        assert gone not in g
    # the views: q, k and v of (batch, heads, 1, 128); gate and up of 11008 features each
    assert g[f"{attn}.k"].out_shape == (1, 32, 1, 128)
    assert g[f"{mlp}.gate"].out_shape == g[f"{mlp}.up"].out_shape == (1, 1, 11008)
    # one GEMM's MACs = the three (two) it replaces: 4096·12288 = 3·4096·4096; 4096·22016 = 2·4096·11008
    assert g[f"{attn}.qkv_proj"].macs == 3 * 4096 * 4096 == 50_331_648
    assert g[f"{mlp}.gate_up_proj"].macs == 2 * 4096 * 11008 == 90_177_536


@pytest.mark.parametrize("model", ["llama2_7b", "llama3_8b", "qwen2_7b", "mistral_7b"])
def test_totals_identical_to_separate_projections(model):
    # Qwen2's q/k/v biases: the fused bias is the three concatenated, (28 + 2·4)·128 = 4608 = 3584 + 2·512
    off, on = _graph(model, seq_len=8), _graph(model, seq_len=8, fused_projections=True)
    assert (on.params, on.macs, on.flops, on.weight_bytes) == (off.params, off.macs, off.flops, off.weight_bytes)
    layers = sum(1 for op in off.ops if op.name.endswith(".mlp.down_proj"))
    # per layer: q/k/v_proj and gate/up_proj (5 GEMMs) become qkv_proj and gate_up_proj (2), with 2 slice views
    # (gate, up) more: one op fewer a layer
    assert len(on.ops) == len(off.ops) - layers


def test_llama3_8b_gqa_and_tensor_parallel_shards():
    # Llama 3 8B: 32 heads, 8 KV heads of 128, ffn 14336. Whole: n = (32 + 2·8)·128 = 6144; TP 2 (a chip's shard,
    # QKVParallelLinear): (16 + 2·4)·128 = 3072; MergedColumnParallelLinear: 2·14336 / 2 = 14336
    whole = _graph("llama3_8b", phase="decode", kv_len=64, fused_projections=True)
    assert _gemm(whole, "model.layers.0.self_attn.qkv_proj") == (1, 6144, 4096)
    assert _gemm(whole, "model.layers.0.mlp.gate_up_proj") == (1, 2 * 14336, 4096)
    tp = _graph("llama3_8b", phase="decode", kv_len=64, fused_projections=True, tensor_parallel=2)
    assert _gemm(tp, "model.layers.0.self_attn.qkv_proj") == (1, (16 + 2 * 4) * 128, 4096)
    assert _gemm(tp, "model.layers.0.mlp.gate_up_proj") == (1, 14336, 4096)
    assert tp["model.layers.0.self_attn.k"].out_shape == (1, 4, 1, 128)
    sep = _graph("llama3_8b", phase="decode", kv_len=64, tensor_parallel=2)
    assert (tp.params, tp.macs, tp.weight_bytes) == (sep.params, sep.macs, sep.weight_bytes)
    # LLaMA-2-7B at TP 2 (dgx-h100's shards): (16 + 2·16)·128 = 6144 and 2·11008 / 2 = 11008, the N of Vidur's
    # profiled attn_pre_proj and mlp_up_proj at tp 2 (../shared/reference/hardware/vidur/a100_Llama-2-7b-hf_ops.csv;
    # 12288 and 22016 at tp 1)
    l2 = _graph("llama2_7b", phase="decode", kv_len=64, fused_projections=True, tensor_parallel=2)
    assert _gemm(l2, "model.layers.0.self_attn.qkv_proj") == (1, 6144, 4096)
    assert _gemm(l2, "model.layers.0.mlp.gate_up_proj") == (1, 11008, 4096)


def test_forms_that_need_separate_projections_keep_them():
    # OLMo 2 norms each whole q and k projection before splitting heads: q/k/v stay three GEMMs, gate/up fuse
    g = _graph("olmo2_7b", seq_len=8, fused_projections=True)
    assert "model.layers.0.self_attn.q_proj" in g and "model.layers.0.self_attn.qkv_proj" not in g
    assert "model.layers.0.mlp.gate_up_proj" in g
    # Phi-3 is fused already: the option changes nothing
    off, on = _graph("phi3_mini", seq_len=8), _graph("phi3_mini", seq_len=8, fused_projections=True)
    assert [op.name for op in on.ops] == [op.name for op in off.ops]


def test_training_graph_with_fused_projections():
    # the backward of one GEMM: its data and weight gradients, the same MACs as the three it replaces (2× forward)
    off = _graph("llama2_7b", seq_len=8, layers=1, mode="training")
    on = _graph("llama2_7b", seq_len=8, layers=1, mode="training", fused_projections=True)
    assert (on.params, on.macs) == (off.params, off.macs)


def test_engine_model_sets_the_option_unless_the_model_does():
    spec = load_workload("llama2_7b")
    engine = EngineConfig()
    assert engine.fused_projections is True  # vLLM's model code
    assert cost.engine_model(spec, engine).params["fused_projections"] is True
    assert cost.engine_model(spec, EngineConfig(fused_projections=False)).params["fused_projections"] is False
    own = replace(spec, params={**spec.params, "fused_projections": False})
    assert cost.engine_model(own, engine).params["fused_projections"] is False  # the model's own setting wins
    gemm = load_workload("gemm")  # a builder without the parameter: unchanged
    assert cost.engine_model(gemm, engine) == gemm


def test_build_grid_simulates_the_fused_model(monkeypatch):
    seen = []

    class Stop(Exception):
        pass

    def capture(shapes, *args, **kwargs):
        seen.extend(shapes)
        raise Stop

    monkeypatch.setattr(cost, "simulate_all", capture)
    from accelsim.config import load_arch
    from accelsim.options import Options

    with pytest.raises(Stop):
        cost.build_grid(load_workload("llama2_7b"), load_arch("h100"), Options(), EngineConfig(max_num_seqs=2),
                        CostGrid(), 4096)
    assert seen and all(s.params["fused_projections"] is True for s in seen)


def test_the_documented_a100_decode_step_is_what_its_command_gives(tmp_path):
    # docs/validation.md and docs/serving.md quote llama2_7b's a100 decode step at KV 576 (CUDA graphs, fused
    # attention), separate -> fused projections; the figures went stale after later merges (probe p61 #6): read
    # them from the docs and run the documented command for each
    docs = Path(__file__).resolve().parents[2] / "docs"
    validation = re.search(r"The whole step (\d+\.\d{3}) → (\d+\.\d{3}) ms", (docs / "validation.md").read_text())
    serving = re.search(r"fused attention\) (\d+\.\d{3}) → (\d+\.\d{3}) ms", (docs / "serving.md").read_text())
    assert validation and serving and validation.groups() == serving.groups()
    for fused, quoted in zip(("false", "true"), validation.groups(), strict=True):
        out = tmp_path / fused
        assert main(["run", "-w", "llama2_7b", "-a", "a100", "-q", "--no-plots", "-o", str(out),
                     "--set", "workload.phase=decode", "--set", "workload.seq_len=1", "--set", "workload.kv_len=576",
                     "--set", "workload.logits=last", "--set", "workload.attention=fused",
                     "--set", "options.execution=cuda_graph", "--set", f"workload.fused_projections={fused}"]) == 0
        seconds = json.loads((out / "report.json").read_text())["seconds"]
        assert f"{seconds * 1e3:.3f}" == quoted
