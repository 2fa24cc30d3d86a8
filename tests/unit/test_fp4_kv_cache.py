"""A 4-bit activation dtype's KV cache and attention (probe p231 #2).

``dtype: fp4`` (NVFP4 / MXFP4 W4A4) used to cache K/V in "fp4" at a byte an element and price the attention at
fp4's tensor rate (B200: 9 PFLOPS, 4x bf16's 2.25). No serving stack attends in fp4: NVIDIA's NVFP4 checkpoints keep
an FP8 cache (ModelOpt's hf_quant_config.json: ``"quant_algo": "NVFP4", "kv_cache_quant_algo": "FP8"``), and
TensorRT-LLM's NVFP4 KV cache is read through FP8 (FlashInfer's ``nvfp4_kv_materialize_fp8``). So the cache defaults
to fp8 under fp4 activations (int4 keeps its own: probe p233 #3), an fp4 ``kv_cache_dtype`` is refused, and an attention a builder makes in
fp4 any other way computes at the fp8 rate.
"""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_workload
from accelsim.ir import OpKind
from accelsim.units import DTYPE_BITS, NARROW_KV_CACHE, attention_dtype, default_kv_cache


def _llama3(*sets):
    w = load_workload("llama3_8b", ["layers=1", *sets])
    return build_workload(w.model, w.params)


def test_default_kv_cache_is_fp8_under_fp4_only():
    # fp4 gets the 8-bit float cache (NVFP4 checkpoints' kv_cache_quant_algo FP8); int4 keeps its own (probe p233 #3:
    # the A100 datasheet lists INT4 and INT8 tensor rates and no FP8, so an fp8 cache ran at its bf16 rate there);
    # 8 bits and wider keep their own
    assert {d: default_kv_cache(d) for d in DTYPE_BITS if DTYPE_BITS[d] < 8} == {"int4": "int4", "fp4": "fp8"}
    assert all(default_kv_cache(d) == d for d in DTYPE_BITS if DTYPE_BITS[d] >= 8)
    assert attention_dtype("fp4") == NARROW_KV_CACHE == "fp8"
    assert attention_dtype("int4") == "int4"  # SageAttention2 runs QKᵀ in int4: kept


def test_w4a4_caches_kv_in_fp8_and_attends_in_fp8():
    g = _llama3("phase=decode", "kv_len=1024", "dtype=fp4")
    attn = "model.layers.0.self_attn."
    assert g.meta["kv_cache_dtype"] == "fp8"
    for name in ("scores", "context"):
        assert g[attn + name].dtype == "fp8", name
    # the cache: 1 layer x (K, V) x 8 KV heads x 1,025 tokens x 128 x 1 B (fp8) = 2,099,200 B
    assert g.meta["kv_cache_bytes"] == 1 * 2 * 8 * 1025 * 128 * 1 == 2_099_200
    # the same graph as naming the fp8 cache, bar the note saying so
    named = _llama3("phase=decode", "kv_len=1024", "dtype=fp4", "kv_cache_dtype=fp8")
    assert [(op.name, op.dtype, op.out_dtype) for op in g.ops] == [(op.name, op.dtype, op.out_dtype) for op in named.ops]
    notes = [n for n in g.meta.get("notes", ()) if "kv_cache_dtype unset" in n]
    assert len(notes) == 1 and "fp8" in notes[0]
    assert not [n for n in named.meta.get("notes", ()) if "kv_cache_dtype unset" in n]


def test_w8a8_and_bf16_keep_their_own_cache():
    assert _llama3("phase=decode", "activation_dtype=fp8").meta["kv_cache_dtype"] == "fp8"
    assert _llama3("phase=decode", "dtype=bf16").meta.get("kv_cache_dtype") in (None, "bf16")


def test_w4a4_fused_prefill_attends_at_the_fp8_rate_on_b200():
    # B200 datasheet: dense FP8 4.5 PFLOPS = 2x BF16's 2.25, FP4 9 = 4x; the fused attention now runs the trtllm_gen
    # FP8 kernel at multiplier 2.0 (before: the generic fused fallback at fp4's 4.0)
    def attention(**kw):
        w = {"base": "llama3_8b", "layers": 1, "seq_len": 2048, "attention": "fused", "logits": "last",
             "dtype": "fp4", **kw}
        ops = simulate(w, "b200", plots=False).to_dict()["ops"]
        return next(op for op in ops if op["name"] == "model.layers.0.self_attn.attention")

    fp4 = attention()
    assert fp4["mapping"]["rate"] == {"dtype": "fp8", "runs_as": "fp8", "multiplier": 2.0}
    assert fp4["mapping"]["kernel"] == "trtllm_gen"
    assert fp4["compute_cycles"] == attention(kv_cache_dtype="fp8")["compute_cycles"]


@pytest.mark.parametrize("workload", ["llama3_8b", "attention"])
def test_an_fp4_kv_cache_is_refused_at_its_key(capsys, workload):
    code = main(["run", "-w", workload, "-a", "b200", "--set", "workload.kv_cache_dtype=fp4", "-q", "--no-plots",
                 "-o", "unused"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "workload.kv_cache_dtype" in err[0] and "NVFP4" in err[0] and "Traceback" not in err[0]


def test_a_model_built_in_fp4_attends_in_fp8():
    # bert_base with dtype fp4 builds every op in fp4; its scores and context GEMMs compute in fp8 and write fp4
    # (both a byte an element: the bytes do not move), 12 layers x 2 = 24 ops, with one note
    w = load_workload("bert_base", ["dtype=fp4"])
    g = build_workload(w.model, w.params)
    attn = [op for op in g.ops if op.kind is OpKind.MATMUL and op.name.rpartition(".")[2] in ("scores", "context")]
    assert len(attn) == 24
    assert all(op.dtype == "fp8" and op.out_dtype == "fp4" for op in attn)
    assert [n for n in g.meta["notes"] if n.startswith("24 attention op(s) in fp4 compute at the fp8 rate")]


def test_the_attention_micro_in_fp4_caches_fp8():
    g = build_workload("attention", {"dtype": "fp4", "attention": "fused"})
    (op,) = g.ops
    assert op.kind is OpKind.ATTENTION and op.dtype == "fp8" and g.meta["kv_cache_dtype"] == "fp8"
    assert any("kv_cache_dtype unset" in n for n in g.meta["notes"])
    assert build_workload("attention", {"dtype": "bf16"}).meta.get("notes") is None
