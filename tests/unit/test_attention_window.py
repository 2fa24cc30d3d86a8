"""A sliding-window fused attention's kernel skips the K/V blocks wholly outside each query tile's band
[p − W + 1, p], as FlashAttention with ``window_size`` = (W − 1, 0) does (probe p85 #1: a Gemma 3 prefill was priced
as full causal attention at every window); the model's ``macs`` still count every query × key, as a causal op's do.
Every count below is worked by hand from :func:`accelsim.cost.attention.tile_blocks`' rule."""

from __future__ import annotations

import dataclasses

import pytest

from accelsim import simulate
from accelsim.builders import build_workload
from accelsim.config import load_arch, load_workload
from accelsim.cost import attention as fa
from accelsim.cost import systolic
from accelsim.hardware import Arch
from accelsim.ir import OpKind

from .attention_ops import fused_attention_op

ONE_HEAD = {"heads": 1, "kv_heads": 1, "batch": 1}


def _windowed(op, window: int):
    return dataclasses.replace(op, attrs={**op.attrs, "window": window})


def test_tile_blocks_skip_the_blocks_before_each_tiles_band():
    # 8192 queries and keys, 128 x 128 tiles, W = 512: tile t's first query 128·t sees keys from
    # 128·t − 511 = 128·(t − 4) + 1, in block t − 4, so tile t ≥ 4 visits blocks t − 4 … t (5); tiles 0-3 t + 1
    blocks = fa.tile_blocks(8192, 8192, True, 128, 128, window=512)
    assert blocks[:6] == [1, 2, 3, 4, 5, 5] and set(blocks[4:]) == {5}
    assert fa.kv_blocks(8192, 8192, True, 128, 128, window=512) == 1 + 2 + 3 + 4 + 60 * 5 == 310
    assert fa.kv_blocks(8192, 8192, True, 128, 128) == 64 * 65 // 2 == 2080  # causal, no window
    # a window covering every key skips nothing more than the causal mask
    assert fa.tile_blocks(512, 512, True, 64, 128, window=512) == fa.tile_blocks(512, 512, True, 64, 128)
    # not causal: the window is not applied here (shape() reads it only with the causal mask)
    assert fa.kv_blocks(512, 512, False, 64, 128, window=64) == 8 * 4


def test_a_packed_prefills_tiles_take_their_first_querys_band():
    # 512 queries x 4 heads packed, 128-row tiles hold 32 queries: tile t queries 32t … 32t + 31; W = 128, 128-key
    # blocks: hi = ⌈(32t + 32) / 128⌉, lo = ⌊max(0, 32t − 127) / 128⌋. t 0-3: 1 − 0; t 4-7: 2 − 0 (32·7 − 127 = 97);
    # t 8-11: 3 − 1 (129 … 225); t 12-15: 4 − 2 (257 … 353): 2 each
    assert fa.tile_blocks(2048, 512, True, 128, 128, group=4, window=128) == [1] * 4 + [2] * 12
    assert fa.kv_blocks(2048, 512, True, 128, 128, group=4) == 40  # causal: 4·(1 + 2 + 3 + 4)


def test_flash3_on_h100_computes_only_the_band_blocks():
    # h100 FlashAttention-3, hd 128 causal: 128 x 128 tiles (test_attention_model.test_flash3_tiles_and_overlap_on_h100)
    h100 = load_arch("h100")
    op = fused_attention_op(ONE_HEAD, q_len=8192, kv_len=8192, head_dim=128, causal=True)
    causal = systolic.price(op, h100.core.systolic, h100)
    win = systolic.price(_windowed(op, 512), h100.core.systolic, h100)
    assert causal.details["kv_blocks"] == 2080 and win.details["kv_blocks"] == 310
    assert win.details["window"] == 512 and "window" not in causal.details
    # 310 blocks of 128 x 128 scores of 8192²
    assert win.details["mac_fraction"] == pytest.approx(310 * 128 * 128 / 8192**2)
    assert win.cycles < causal.cycles * 0.2  # 310 / 2080 = 0.149 of the blocks (plus the prologues)
    # one query over 512 keys with W = 64 sees keys 448 … 511: one 128-key block of 4
    dec = fused_attention_op(ONE_HEAD, q_len=1, kv_len=512, head_dim=128, causal=True)
    assert systolic.price(_windowed(dec, 64), h100.core.systolic, h100).details["kv_blocks"] == 1
    assert systolic.price(dec, h100.core.systolic, h100).details["kv_blocks"] == 4


def _arch(dataflow: str) -> Arch:
    return Arch.model_validate({
        "name": "t", "clock": "1GHz", "dtype": "bf16", "cores": 1,
        "core": {"systolic": {"rows": 128, "cols": 128, "dataflow": dataflow, "preload_overlap": True},
                 "vector": {"lanes": 1024}, "sram": {"unified": "16MiB", "double_buffered": True}},
        "hbm": {"capacity": "8GiB", "bandwidth": "100GB/s", "latency": "0ns"}})


def test_a_ws_array_streams_only_the_queries_whose_band_meets_the_kv_block():
    arch = _arch("ws")
    op = _windowed(fused_attention_op(ONE_HEAD, q_len=512, kv_len=512, head_dim=128, causal=True), 128)
    d = systolic.price(op, arch.core.systolic, arch).details
    # block j (keys 128j … 128j + 127) is seen by queries 128j … 128j + 127 + 127 (W − 1 = 127 past its last key):
    # 255 rows for j = 0, 1, 2; j = 3: queries 384 … 511, 128 rows (causal: 512, 384, 256, 128)
    assert d["mac_fraction"] == (3 * 255 + 128) * 128 / 512**2 == 0.43603515625


def test_an_os_array_walks_each_query_block_from_its_first_band_block():
    arch = _arch("os")
    op = _windowed(fused_attention_op(ONE_HEAD, q_len=320, kv_len=320, head_dim=64, causal=True), 16)
    d = systolic.price(op, arch.core.systolic, arch).details
    # query blocks of 128, 128, 64 rows. Block 0: keys 0-127; block 1 (first query 128 sees 113 …): keys 0-255;
    # block 2 (first query 256 sees 241 …): blocks 1-2, keys 128-319, 192 keys (the last block partial)
    assert d["mac_fraction"] == (128 * 128 + 128 * 256 + 64 * 192) / 320**2 == 0.6
    causal = systolic.price(fused_attention_op(ONE_HEAD, q_len=320, kv_len=320, head_dim=64, causal=True),
                            arch.core.systolic, arch).details
    assert causal["mac_fraction"] == (128 * 128 + 128 * 256 + 64 * 320) / 320**2 == 0.68


def _attention_ops(**kw):
    w = load_workload("gemma3_1b")
    graph = build_workload(w.model, {**w.params, "seq_len": 1024, **kw})
    return {op.name: op for op in graph.ops if op.kind is OpKind.ATTENTION or op.fn == "softmax"}


def test_the_builder_records_the_window_on_a_fused_local_layer_only():
    ops = _attention_ops(attention="fused")
    local, glob = ops["model.layers.0.self_attn.attention"], ops["model.layers.5.self_attn.attention"]
    # gemma3_1b: layers 0-4 local (sliding_window 512 < 1024 keys), layer 5 global
    assert local.attrs["window"] == 512 and "window" not in glob.attrs
    # the model's work stays every query x key: QKᵀ and PV of 4 heads x 1024² x 256
    assert local.macs == glob.macs == 2 * 4 * 1024 * 1024 * 256
    # a window covering the prompt masks nothing: not recorded
    assert "window" not in _attention_ops(attention="fused", sliding_window=1024)[
        "model.layers.0.self_attn.attention"].attrs
    # unfused: eager attention computes every score, nothing recorded
    assert all("window" not in op.attrs for op in _attention_ops(attention="unfused").values())
    # a decode step reads the window's W − 1 cached keys and its own: W keys, nothing left to mask
    dec = _attention_ops(attention="fused", phase="decode", kv_len=4096)["model.layers.0.self_attn.attention"]
    assert dec.attrs["kv_len"] == 512 and "window" not in dec.attrs


def test_a_narrower_window_prices_a_gemma3_prefill_lower_on_h100():
    # probe p85 #1: at 8192 tokens windows 64 and 512 both took 0.049679 s
    runs = {w: simulate({"base": "gemma3_1b", "seq_len": 8192, "attention": "fused", "sliding_window": w},
                        "h100").to_dict() for w in (64, 512)}
    assert runs[64]["macs"] == runs[512]["macs"]  # the model's count
    assert runs[64]["computed_macs"] < runs[512]["computed_macs"]
    assert runs[64]["seconds"] < runs[512]["seconds"]
    # a local layer's kernel: (W + bn) / 8192 of the square, about; the global layer 5 its causal half
    frac = {w: {i: next(o for o in r["ops"] if o["name"] == f"model.layers.{i}.self_attn.attention")["mapping"][
        "mac_fraction"] for i in (0, 5)} for w, r in runs.items()}
    assert frac[64][0] < frac[512][0] < 0.1 < 0.5 < frac[64][5] == frac[512][5] < 0.52
