"""Mapping of attention, embedding gathers and KV caches on hand-built graphs (no builders needed)."""

from __future__ import annotations

import pytest

from accelsim import __version__
from accelsim.engine import simulate
from accelsim.ir import Gemm, Graph, Op, OpKind, Weight
from accelsim.mapping import lower
from accelsim.options import Options
from accelsim.report import build_report

from ..conftest import make_arch

B, H, D = 1, 8, 64


def _attention_graph(q_len, kv_len, kv_heads=H, fused=False, dtype="fp16"):
    qs, ks = (B, H, q_len, D), (B, kv_heads, kv_len, D)
    inputs = {"q": qs, "k": ks, "v": ks}
    qk = Gemm(q_len, kv_len, D, B * H)
    pv = Gemm(q_len, D, kv_len, B * H)
    soft = B * H * q_len * kv_len
    if fused:
        ops = [Op("attn", OpKind.ATTENTION, ("q", "k", "v"), (qs, ks, ks), qs, dtype, (), qk.macs + pv.macs,
                  2 * (qk.macs + pv.macs) + 5 * soft, qk, soft,
                  {"fn": "attention", "pv_gemm": (pv.m, pv.n, pv.k, pv.count)})]
    else:
        ss = (B, H, q_len, kv_len)
        ops = [Op("scores", OpKind.MATMUL, ("q", "k"), (qs, ks), ss, dtype, (), qk.macs, 2 * qk.macs, qk),
               Op("softmax", OpKind.SOFTMAX, ("scores",), (ss,), ss, dtype, (), 0, 5 * soft, None, soft,
                  {"fn": "softmax"}),
               Op("out", OpKind.MATMUL, ("softmax", "v"), (ss, ks), qs, dtype, (), pv.macs, 2 * pv.macs, pv)]
    return Graph("attn", ops, inputs)


def _run(graph, arch, **opts):
    tg = lower(graph, arch, Options(**opts))
    trace = simulate(tg)
    return tg, build_report(graph, arch, tg, trace, name="t", workload={}, version=__version__)


ARCH = dict(rows=32, cols=32, sram={"unified": "3MiB"}, bandwidth="100GB/s")


def test_fused_attention_moves_fewer_hbm_bytes_at_long_sequences():
    # 4096×4096 scores per head in fp16 = 32 MiB per head: they cannot stay on chip, so unfused attention writes
    # and re-reads them (plus the softmax output); fused attention keeps them on chip
    g_un, g_fu = _attention_graph(4096, 4096), _attention_graph(4096, 4096, fused=True)
    arch = make_arch(**ARCH)
    _, un = _run(g_un, arch)
    _, fu = _run(g_fu, arch)
    scores = B * H * 4096 * 4096 * 2
    assert un["bytes"]["hbm"] >= 4 * scores  # written by QKᵀ, read and written by softmax, read by PV
    assert fu["bytes"]["hbm"] < scores
    assert fu["total_cycles"] < un["total_cycles"]
    assert g_un.macs == g_fu.macs == 2 * B * H * 4096 * 4096 * D  # QKᵀ + PV: B·H·q·kv·(d_qk + d_v)


def test_fused_attention_reads_q_k_v_once_when_they_fit():
    # 128 tokens: q, k, v and the output (B·H·128·64·2 B = 128 KiB each) fit the buffers: compulsory traffic
    g = _attention_graph(128, 128, fused=True)
    _, rep = _run(g, make_arch(**ARCH), activations_on_chip=False)
    assert rep["bytes"]["hbm"] == 4 * B * H * 128 * D * 2


def test_grouped_query_attention_reads_fewer_kv_bytes_by_the_group_ratio():
    # K with 2 instead of 8 heads: the QKᵀ op reads q (unchanged) and 4× fewer K bytes, MACs unchanged
    mha, gqa = _attention_graph(256, 256), _attention_graph(256, 256, kv_heads=2)
    arch = make_arch(**ARCH)
    _, r_mha = _run(mha, arch, activations_on_chip=False)
    _, r_gqa = _run(gqa, arch, activations_on_chip=False)
    q_bytes = B * H * 256 * D * 2
    k_mha = B * H * 256 * D * 2
    scores_bytes = B * H * 256 * 256 * 2
    assert r_mha["ops"][0]["bytes"]["hbm"] == q_bytes + k_mha + scores_bytes
    assert r_gqa["ops"][0]["bytes"]["hbm"] == q_bytes + k_mha // 4 + scores_bytes
    assert mha.macs == gqa.macs


def test_embedding_gathers_rows_at_access_granularity():
    # 10 looked-up rows of a 50,000 × 100 fp16 table: each row is 200 B → 4 granules of 64 B = 256 B;
    # the gather moves 10 · 256 = 2560 B, not the 10 MB table
    table = Weight("emb.weight", (50_000, 100))
    op = Op("emb", OpKind.EMBEDDING, ("ids",), ((1, 10),), (1, 10, 100), "fp16", (table,), 0, 0, None, 0,
            {"fn": "embedding", "gather_rows": 10})
    g = Graph("emb", [op], {"ids": (1, 10)})
    _, rep = _run(g, make_arch(), activations_on_chip=False)
    ids_bytes, out_bytes = 10 * 2, 10 * 100 * 2
    assert rep["ops"][0]["bytes"]["hbm"] == 10 * 256 + ids_bytes + out_bytes
    assert rep["params"] == 5_000_000


def test_kv_cache_beyond_hbm_streams_over_the_host_link():
    # decode-like: one query token against 8 MiB K and V caches (fp16) on a chip with 12 MiB of HBM: K fits,
    # V does not, so V lives in host memory and all its 8 MiB cross the host link
    kv_len = 8192
    ks = (B, H, kv_len, D)  # 1·8·8192·64·2 B = 8 MiB each
    qs = (B, H, 1, D)
    qk, pv = Gemm(1, kv_len, D, B * H), Gemm(1, D, kv_len, B * H)
    op = Op("attn", OpKind.ATTENTION, ("q", "k_cache", "v_cache"), (qs, ks, ks), qs, "fp16", (),
            qk.macs + pv.macs, 0, qk, B * H * kv_len, {"fn": "attention", "pv_gemm": (1, D, kv_len, B * H)})
    g = Graph("decode", [op], {"q": qs, "k_cache": ks, "v_cache": ks}, meta={"kv_cache": ["k_cache", "v_cache"]})
    tg, rep = _run(g, make_arch(hbm_capacity="12MiB", **{k: v for k, v in ARCH.items() if k != "sram"}))
    assert tg.placement == {"k_cache": "hbm", "v_cache": "host"}
    assert rep["bytes"]["host"] == 8 * 2**20
    with pytest.raises(Exception, match="need"):
        lower(g, make_arch(hbm_capacity="4MiB", host_capacity="4MiB"), Options())
