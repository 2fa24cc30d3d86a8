"""A Blackwell 2-SM (CTA-pair) tile splits its M rows between the pair's two SMs (NVIDIA PTX ISA, tcgen05
``cta_group::2``: each CTA holds its own A rows), so a GEMM whose m fits one SM's share of the tile's rows, and a GEMV,
takes one-SM tiles: a batch-1 GEMV gave both SMs of each pair the same single row, 224 CTAs for 112 column blocks
(probe p105 #2: 1 x 14336 x 4096 on b200 24.51 -> 21.01 us)."""

from __future__ import annotations

import math

import accelsim
from accelsim.cost.gpu_tiles import _cluster_fits
from accelsim.ir import Gemm


def _mapping(m: int) -> dict:
    rep = accelsim.simulate({"model": "gemm", "m": m, "n": 14336, "k": 4096, "dtype": "bf16"}, "b200").to_dict()
    return rep["ops"][0]["mapping"]


def test_a_gemv_takes_one_sm_tiles_one_per_column_block():
    got = _mapping(1)
    assert got.get("cluster") in (None, 1)
    assert got["output_tiles"] == math.ceil(14336 / got["tile"][1]) == 112  # 14,336 columns in blocks of 128


def test_the_pair_rule_by_hand():
    # a 128-row tile over 2 SMs: each SM 64 rows; m = 64 fits one SM's share, m = 65 gives both some rows
    assert not _cluster_fits(Gemm(64, 14336, 4096), (128, 256, 2))
    assert _cluster_fits(Gemm(65, 14336, 4096), (128, 256, 2))
    assert not _cluster_fits(Gemm(1, 14336, 4096), (128, 256, 2))  # a GEMV: cuBLAS's one-SM GEMV kernel
    assert _cluster_fits(Gemm(1, 14336, 4096), (128, 256, 1))  # a one-SM tile always fits
    assert _mapping(65).get("cluster") == 2  # the pair tile still offered where both SMs have rows
