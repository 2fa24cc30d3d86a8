"""Probe p98 #3: serve's footprint builds a model of alike layers from its two layer samples (k + p and k + 2p
layers) and extrapolates the bytes, exactly: the same Footprint as from the whole model's graphs."""

from __future__ import annotations

import accelsim.serving.cost as cost
from accelsim.config import build_graph, load_arch, load_workload
from accelsim.config.serving import EngineConfig
from accelsim.serving.cost import footprint, shape


def _layer_counts(monkeypatch) -> list[int]:
    seen: list[int] = []
    real = cost.build_graph

    def counted(spec, dtype=None):
        g = real(spec, dtype)
        seen.append(int(spec.params.get("layers") or 0))
        return g

    monkeypatch.setattr(cost, "build_graph", counted)
    return seen


def test_llama2_7b_footprint_from_its_1_and_2_layer_samples(monkeypatch):
    seen = _layer_counts(monkeypatch)
    fp = footprint(load_workload("llama2_7b"), load_arch("h100"), EngineConfig(max_model_len=4096))
    # Llama-2-7B: 6,738,415,616 parameters (HF meta-llama/Llama-2-7b-hf num_parameters()) × 2 B in fp16
    assert fp.weight_bytes == 6_738_415_616 * 2
    # 32 layers × (K + V) × 4096 × 2 B = 524,288 B a token
    assert fp.kv_bytes_per_token == 32 * 2 * 4096 * 2
    assert fp.state_bytes_per_seq == 0 and fp.cross_bytes_per_seq == 0 and fp.windows == ()
    assert seen and set(seen) == {1, 2}  # (0, 32, 1): only the 1- and 2-layer samples were built


def test_hybrid_qwen3_next_footprint_equals_the_whole_models(monkeypatch):
    # Qwen3-Next: units of 4 layers (3 Gated DeltaNet + 1 full attention); the states and the KV cache are affine
    # in the units, so the samples of 4 and 8 layers give the whole model's bytes exactly
    model = load_workload("qwen3_next_80b", ["tensor_parallel=8"])
    arch = load_arch("dgx-h100")
    whole = {}
    for k in (1, 2, 64):
        g = build_graph(shape(model, phase="decode", kv_len=k, batch=1), arch.dtype)
        whole[k] = g
    seen = _layer_counts(monkeypatch)
    # max_num_seqs 64: vLLM refuses a token budget below it (probe p99 #8); the footprint does not depend on it
    fp = footprint(model, arch, EngineConfig(max_model_len=64, max_num_batched_tokens=64, max_num_seqs=64))
    assert set(seen) <= {4, 8}
    assert fp.weight_bytes == whole[64].weight_bytes
    assert fp.kv_bytes_per_token == whole[2].meta["kv_cache_bytes"] - whole[1].meta["kv_cache_bytes"]
    assert fp.state_bytes_per_seq == whole[64].meta["state_cache_bytes"] > 0


def test_samples_that_disagree_on_a_fact_build_the_whole_model(monkeypatch):
    real = cost._facts
    calls = iter(range(1000))

    def names_differ(g):  # every graph named apart: the two samples disagree, so they are not trusted
        f = real(g)
        return f._replace(name=f"{f.name}{next(calls)}")

    monkeypatch.setattr(cost, "_facts", names_differ)
    seen = _layer_counts(monkeypatch)
    fp = footprint(load_workload("llama2_7b"), load_arch("h100"), EngineConfig(max_model_len=4096))
    assert 0 in seen  # a whole-model build (layers unset: the model's 32)
    assert fp.weight_bytes == 6_738_415_616 * 2 and fp.kv_bytes_per_token == 32 * 2 * 4096 * 2
