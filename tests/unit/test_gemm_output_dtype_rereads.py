"""How many times a GPU GEMM reads A and B from HBM does not depend on its output's dtype (probe p190 #2): its SMs
accumulate each output tile in fp32 registers and write it once, in the epilogue, so the L2 tiling behind them
(traffic._behind) bounds the output block one sweep of the L2 serves by the accumulators held at once (a tile a SM),
not by the output's bytes at its dtype. Before, an fp8 GEMM writing bf16 re-read its inputs as one writing fp32
would and more than one writing fp8 (h100 8192^3: 469,762,048 / 671,088,640 / 872,415,232 B). Every figure below is
derived by hand from the h100 preset's datasheet quantities: 132 SMs, 50 MiB L2."""

from __future__ import annotations

import pytest

import accelsim

M = N = K = 8192
A8 = M * K  # 67,108,864 B of fp8 A (B likewise)


def _op(**w: str) -> dict:
    return accelsim.simulate({"model": "gemm", "m": M, "n": N, "k": K, **w}, "h100").to_dict()["ops"][0]


def test_the_l2_tiling_behind_a_8192_cubed_gemm_by_hand():
    # each SM holds one 128 x 256 tile of accumulators: 132 x 32,768 = 4,325,376 outputs at once, of 67,108,864;
    # a block of 8192/nm x 8192/nn outputs fits when nm * nn >= 15.5, i.e. 16: nm = nn = 4 reads A 4 times and B 4
    # times (k cut into chunks, A's and B's chunks within the 52,428,800 // 3 // 2 = 8,738,133 B an operand gets);
    # keeping whole-K panels instead (A once) needs fp8 A rows of 8192 B in 8,738,133 B: at most 1066 rows, 8
    # row blocks, so B 8 times: 9 reads, more than 8
    live = 132 * 128 * 256
    assert live == 4_325_376 and 15 * live < M * N <= 16 * live
    assert 8_738_133 // 8192 == 1066
    op = _op(dtype="fp8")
    assert op["mapping"]["tile"] == [128, 256] and op["mapping"]["split_k"] == 1
    assert op["bytes"]["hbm"] == 4 * A8 + 4 * A8 + M * N * 1 == 603_979_776


@pytest.mark.parametrize("out, width", [("bf16", 2), ("fp32", 4)])
def test_the_output_dtype_adds_only_the_outputs_own_bytes(out: str, width: int):
    fp8 = _op(dtype="fp8")
    wider = _op(dtype="fp8", output_dtype=out)
    assert wider["mapping"]["tile"] == fp8["mapping"]["tile"]  # the same kernel tiles, only the epilogue differs
    # A and B read as often; the output M x N written once at its own width
    assert wider["bytes"]["hbm"] - fp8["bytes"]["hbm"] == M * N * (width - 1)
    assert wider["bytes"]["hbm"] == 8 * A8 + M * N * width  # 671,088,640 (bf16) / 805,306,368 (fp32)


def test_bf16_inputs_likewise():
    # bf16 A and B are 134,217,728 B each, read 4 times each by the same 4 x 4 blocks (a whole-K bf16 row is
    # 16,384 B: at most 533 rows in 8,738,133 B, 16 row blocks); the output at bf16 or fp32
    bf16, fp32 = _op(dtype="bf16"), _op(dtype="bf16", output_dtype="fp32")
    assert bf16["bytes"]["hbm"] == 8 * 2 * A8 + M * N * 2 == 1_207_959_552
    assert fp32["bytes"]["hbm"] == 8 * 2 * A8 + M * N * 4 == 1_342_177_280
