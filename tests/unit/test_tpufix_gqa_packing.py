"""Probe p116 #1: off a GPU (a TPU's MXUs) a fused attention whose KV heads each serve a group of query heads runs
one GEMM pair per (sample, KV head) with the group's query heads as its rows (m = q_len × heads / kv_heads, count =
batch × kv_heads), as JAX's TPU paged attention kernel does ("Paged grouped query attention": one program per
(batch, KV head), its q block (num_heads // num_kv_heads, head_dim), einsum('hd,td->ht', q, k)); MACs and bytes
unchanged. Every figure below is worked by hand from the fold formulas of docs/architecture.md ("Cost models")."""

from __future__ import annotations

import dataclasses

import accelsim
from accelsim.config import load_arch
from accelsim.cost import attention, systolic

from .attention_ops import fused_attention_op

# the probe's micro-workload: 64 decode queries, kv 1024, head dim 128
DECODE = {"batch": 64, "kv_len": 1024, "head_dim": 128}


def test_gqa_decode_folds_the_group_into_the_rows_on_tpu_v6e():
    v6e = load_arch("tpu-v6e")  # 4 MXUs of 256 x 256, ws, preload overlapped
    sa = v6e.core.systolic
    gqa = fused_attention_op(DECODE, heads=8, kv_heads=1, q_len=1)
    p = systolic.price(gqa, sa, v6e)
    # the 8 query heads of the one KV head are the rows of one GEMM per sample: 64 QKᵀ of 8 x 1024 x 128, 64 PV of
    # 8 x 128 x 1024 (the op itself keeps its per-head GEMM and its MACs: 64 · 8 · 1024 · 128 · 2)
    assert p.details["gemm"] == [[8, 1024, 128, 64], [8, 128, 1024, 64]]
    assert (gqa.gemm.m, gqa.gemm.count) == (1, 64 * 8) and gqa.macs == 64 * 8 * 1024 * 128 * 2 == 134_217_728
    # ws folds: QKᵀ ⌈128 / 256⌉ = 1 fold of K by ⌈1024 / 256⌉ = 4 of N; PV ⌈1024 / 256⌉ = 4 of K by 1 of N
    assert p.details["folds"] == [[1, 4], [4, 1]]
    # each GEMM a pipeline of 64 · 4 folds starting max(T = 8, R = 256) = 256 cycles apart after the first R-cycle
    # preload, the last streaming its T = 8 rows and then skewing and draining R + C − 2 (no later preload to wait
    # for; probe p169 #1 charged it 256 before, 132,602 in all): 2 · (256 + 255 · 256 + 8 + 256 + 256 − 3) =
    # 132,106 (per query head, T = 1, it was 2 · (256 + 2,047 · 256 + 1 + 509) = 1,049,596, 7.9 x); the softmax,
    # 64 · 8 · 1024 scores x 10 / 4096 lanes (8 x 128 x 4 ALUs: probe p267 #1; 1024 before, 5,120 cycles) = 1,280
    # cycles, hides under it
    assert p.details["softmax_cycles"] == 64 * 8 * 1024 * 10 // 4096 == 1280
    assert p.cycles == 2 * (256 + 255 * 256 + 8 + 256 + 256 - 3) == 132_106
    # the same 8 query rows as one head (the probe's second command): the same two GEMMs, the same cycles
    one = fused_attention_op(DECODE, heads=1, kv_heads=1, q_len=8)
    q = systolic.price(one, sa, v6e)
    assert q.details["gemm"] == p.details["gemm"] and q.cycles == p.cycles and one.macs == gqa.macs


def test_the_probes_two_attention_commands_take_the_same_time():
    shape = {"model": "attention", "attention": "fused", "dtype": "bf16", **DECODE}
    gqa = accelsim.simulate({**shape, "heads": 8, "kv_heads": 1, "q_len": 1}, "tpu-v6e").to_dict()
    one = accelsim.simulate({**shape, "heads": 1, "kv_heads": 1, "q_len": 8}, "tpu-v6e").to_dict()
    # before the fix: 152.2 µs against 26.2 µs (266,558 and 45,910 cycles). Now the same GEMMs; what may differ is the
    # share of the pipeline fill and drain each of the 4 MXUs is charged when the op is split over them, at most
    # one array's 2 · (R + R + C − 3) = 2 · 765 = 1,530 cycles
    assert abs(gqa["total_cycles"] - one["total_cycles"]) <= 2 * (256 + 256 + 256 - 3)
    # the K/V bytes are the same: 64 samples x (K and V of 1024 x 128 bf16) = 32 MiB, plus q and out
    assert gqa["bytes"]["hbm"] == one["bytes"]["hbm"]
    # and it is bound by streaming them: 64 · 2 · 1024 · 128 · 2 B / 1640 GB/s = 20.5 µs ≤ the run, less than 2 x it
    kv = 64 * 2 * 1024 * 128 * 2 / 1640e9
    assert kv <= gqa["seconds"] < 2 * kv


def test_fused_gqa_decode_is_not_slower_than_unfused_on_a_tpu():
    shape = {"model": "attention", "dtype": "bf16", **DECODE, "heads": 8, "kv_heads": 1, "q_len": 1}
    fused = accelsim.simulate({**shape, "attention": "fused"}, "tpu-v6e").to_dict()
    unfused = accelsim.simulate({**shape, "attention": "unfused"}, "tpu-v6e").to_dict()
    assert fused["seconds"] <= unfused["seconds"]


def test_fused_mla_decode_packs_the_heads_of_its_latent_head_and_is_not_slower_than_unfused():
    # DeepSeek-V3 decode at TP8 on tpu-v5p-128 (the probe's): 128 / 8 = 16 heads a chip on one latent KV head
    work = {"base": "deepseek_v3", "phase": "decode", "kv_len": 1024, "layers": 1, "tensor_parallel": 8}
    runs = {a: accelsim.simulate({**work, "attention": a}, "tpu-v5p-128", batch=64).to_dict()
            for a in ("fused", "unfused")}
    ops = {a: {o["name"].rsplit(".", 1)[-1]: o for o in r["ops"] if o["name"].startswith("model.layers.0.self_attn.")}
           for a, r in runs.items()}
    fused = ops["fused"]["attention"]
    # one GEMM pair per sample (count 64 x 1 KV head) of 16 rows: QKᵀ over the 1025 cached latents (512 + 64 rope
    # features), PV of 512 latent features; as the unfused graph's scores and context GEMMs are built
    assert fused["mapping"]["gemm"] == [[16, 1025, 576, 64], [16, 512, 1025, 64]]
    assert ops["unfused"]["scores"]["mapping"]["gemm"] == [16, 1025, 576, 64]
    # 128 x 128 ws MXUs: QKᵀ ⌈576 / 128⌉ · ⌈1025 / 128⌉ = 5 · 9 = 45 folds, PV ⌈1025 / 128⌉ · ⌈512 / 128⌉ = 9 · 4 = 36:
    # 81 folds a sample (the probe's hand count), where it was 81 a head, 16 x as many
    assert fused["mapping"]["folds"] == [[5, 9], [9, 4]]
    core = sum(o["end_cycle"] - o["start_cycle"] for k, o in ops["unfused"].items()
               if k in ("scores", "softmax", "context"))
    assert fused["end_cycle"] - fused["start_cycle"] <= core
    assert runs["fused"]["seconds"] <= runs["unfused"]["seconds"]


def test_causal_prefill_keeps_its_per_head_block_walk():
    # a walked causal prefill stays one GEMM pair per query head (Pallas' flash attention grid: batch, head, query
    # block, key block): 2 heads on 1 KV head, 512 queries, tpu-v4's 128 x 128 ws MXUs skip the blocks above the
    # diagonal
    v4 = load_arch("tpu-v4")
    op = fused_attention_op({"batch": 1}, heads=2, kv_heads=1, q_len=512, kv_len=512, head_dim=128, causal=True)
    p = systolic.price(op, v4.core.systolic, v4)
    assert p.details["causal"] and p.details["gemm"] == [[512, 512, 128, 2], [512, 128, 512, 2]]


def test_only_a_forward_with_a_group_is_packed():
    gqa = fused_attention_op(DECODE, heads=8, kv_heads=2, q_len=1)
    assert attention.gemms(gqa) == [gqa.gemm, gqa.pv_gemm]  # unless asked (a GPU fallback keeps its GEMMs)
    packed = attention.gemms(gqa, pack=True)  # 4 query heads a KV head: m = 1 x 4, count = 64 x 2
    assert [(g.m, g.count) for g in packed] == [(4, 128), (4, 128)]
    assert sum(g.macs for g in packed) == gqa.macs
    mha = fused_attention_op(DECODE, heads=8, kv_heads=8, q_len=1)
    assert attention.gemms(mha, pack=True) == [mha.gemm, mha.pv_gemm]
    grad = dataclasses.replace(gqa, attrs={**gqa.attrs, "fn": "attention_grad"})
    assert attention.gemms(grad, pack=True) == [grad.gemm, grad.pv_gemm]
