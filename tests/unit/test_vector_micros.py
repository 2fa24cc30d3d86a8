"""The element-wise micro-workloads Vidur's per-op profile needs (rope, add, silu_mul, rmsnorm): their HBM bytes and
FLOPs by hand on the a100 preset (64 tokens × 256 features, fp16 = 2 bytes, 16,384 elements = 32,768 B a tensor)."""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.config import load_workload

T = 64 * 256 * 2  # bytes of one 64 × 256 fp16 tensor


@pytest.mark.parametrize(("model", "hbm", "flops"), [
    ("rope", 2 * T, 3 * 64 * 256),          # in place: read q‖k once, write once; x·cos + rotate(x)·sin = 3 flops
    ("add", 3 * T, 64 * 256),               # read a and b, write a + b
    ("silu_mul", 3 * T, 5 * 64 * 256),      # read gate and up, write silu(gate)·up: silu 4 + mul 1
    # a100 reads an RMSNorm row twice (Sarathi's kernel: sum of squares, then normalise), the second time from the
    # L2 (the block just read it; cost/vector.py): HBM sees one read, the write and 256 fp16 weights
    ("rmsnorm", T + T + 256 * 2, 4 * 64 * 256),
])
def test_micro_bytes_and_flops(model, hbm, flops):
    rep = simulate(load_workload({"model": model, "rows": 64, "cols": 256, "dtype": "fp16"}), "a100").to_dict()
    assert rep["bytes"]["hbm"] == hbm
    assert rep["flops"] == flops


def test_rmsnorm_second_pass_reads_the_l2():
    # the L2 sees every byte the SMs move: the input twice (2T), the write (T) and the weights (512 B) once for each
    # of the 64 SMs running the 64 rows, a block a row each reading all of them (probe p186 #3; was counted once)
    rep = simulate(load_workload({"model": "rmsnorm", "rows": 64, "cols": 256, "dtype": "fp16"}), "a100").to_dict()
    assert rep["bytes"]["l2"] == 3 * T + 64 * 256 * 2
