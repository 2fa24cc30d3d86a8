"""GPU row reductions as the kernels that run them (probe p186): PyTorch's softmax / log_softmax and layer norm and
a fused cross entropy's gradient run one thread block per row (accelsim/cost/vector.py KERNELS), so a few rows are
bounded by the bytes a few blocks keep in flight; a block's re-reads of its row come from the L2 while the rows it
and the other resident blocks move meanwhile fit there; every SM running rows reads a norm's scale and shift.

Every expected number is computed below from the sources the kernels cite and the a100 preset's numbers: HBM
2039 GB/s x 0.9 sustained, 600 ns; L2 40 MiB, 7219.2 GB/s, 200 ns; 108 SMs of 2048 threads and 32 blocks."""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.builders.micro import RowsColsParams, layernorm, softmax
from accelsim.config import load_arch
from accelsim.cost import vector

A100 = load_arch("a100")
HBM_BW, HBM_LAT = 2039e9 * 0.9, 600e-9
L2_BW, L2_LAT = 7219.2e9, 200e-9
SOFTMAX = vector.KERNELS["softmax"]


def _op(builder, rows, cols, dtype="fp16"):
    return builder(RowsColsParams(rows=rows, cols=cols, dtype=dtype)).ops[0]


@pytest.mark.parametrize(("cols", "dtype", "threads", "iterations"), [
    # SoftMax_getBlockSize(ILP, dim): ILP = 16 B / element; min(dim / ILP, 1024), halved (ILP > 1), up to a power
    # of two, at least 32; each iteration one 16-byte load per thread
    (1_000_000, "fp16", 512, 245),  # min(125,000, 1024) / 2 = 512; 1,000,000 / (512 x 8) = 244.1 -> 245
    (4096, "fp16", 256, 2),  # 512 / 2 = 256; 4096 / (256 x 8) = 2
    (4096, "fp32", 512, 2),  # ILP 4: 1024 / 2 = 512; 4096 / (512 x 4) = 2
    (1500, "fp16", 128, 2),  # 187 / 2 = 93 -> 128; 1500 / 1024 -> 2
    (2048, "fp32", 256, 2),  # 512 / 2 = 256; 2048 / (256 x 4) = 2
])
def test_softmax_block_is_pytorchs(cols, dtype, threads, iterations):
    op = _op(softmax, 3, cols, dtype)
    assert vector.kernel(op, A100) is SOFTMAX
    assert vector._loops(op, SOFTMAX) == (threads, 3, ((iterations, 1.0),))


@pytest.mark.parametrize(("cols", "dtype"), [(1024, "fp16"), (1024, "fp32"), (512, "fp16")])
def test_short_softmax_rows_run_the_persistent_kernel_not_modelled(cols, dtype):
    # host_softmax: dim <= 1024 and dim x elem <= 4096 B go to dispatch_softmax_forward (a warp per row)
    assert vector.kernel(_op(softmax, 8, cols, dtype), A100) is None
    assert vector.achieved_fraction(_op(softmax, 8, cols, dtype), A100, 1000, 1) is None


def test_one_softmax_row_is_one_block():
    # 1 x 1,000,000 fp16, 3 passes (a100.yaml input_passes.softmax): one 512-thread block, 245 iterations a pass
    # of 512 x 16 B = 8192 B in flight; the first pass from HBM, the two re-reads from the L2. HBM moves one read
    # and one write, 4,000,000 B.
    seconds = 245 * (HBM_LAT + 8192 / HBM_BW) + 2 * 245 * (L2_LAT + 8192 / L2_BW)  # 148.1 + 98.6 us
    hbm = 2 * 2_000_000
    frac = vector.achieved_fraction(_op(softmax, 1, 1_000_000), A100, hbm, passes=3)
    assert frac == pytest.approx(hbm / HBM_BW / seconds, rel=1e-9)
    assert seconds > 240e-6  # was priced at the whole chip's bandwidth: 7.47 us (probe p186 #1)


def test_one_layernorm_row_is_one_128_thread_block():
    # launch_vectorized_layer_norm_kernel: 128 threads, vec_size 4: 512 elements an iteration, 1,000,000 / 512 =
    # 1953.1 -> 1954 iterations of 128 x 4 x 2 B = 1024 B in flight; one pass (the presets list no layernorm rule)
    seconds = 1954 * (HBM_LAT + 1024 / HBM_BW)
    hbm = 2 * 2_000_000
    frac = vector.achieved_fraction(_op(layernorm, 1, 1_000_000), A100, hbm, passes=1)
    assert frac == pytest.approx(hbm / HBM_BW / seconds, rel=1e-9)


def test_cross_entropy_grad_is_a_1024_thread_program_a_row():
    # Liger's kernel: 32 warps, BLOCK_SIZE min(32768, next_power_of_2(50,257)) = 32,768 elements an iteration
    # (32 a thread): 50,257 / 32,768 -> 2 iterations
    op = _op(softmax, 4, 50_257)
    ce = vector.KERNELS["cross_entropy_grad"]
    assert vector._loops(op, ce) == (1024, 4, ((2, 1.0),))


def _bytes(rows, cols, model="softmax", arch="a100", dtype="fp16"):
    return simulate({"model": model, "rows": rows, "cols": cols, "dtype": dtype}, arch).to_dict()["bytes"]


def test_softmax_rereads_hit_the_l2():
    # probe p186 #2: 32768 x 4096 fp16 is 268,435,456 B; LLMCompass timed it at 481.4 us, under which 3 reads and
    # a write from HBM would need 2.23 TB/s > 2.039. A wave: 108 SMs x min(2048 // 256, 32) = 864 rows of 8192 B
    # in and 8192 B out = 14,155,776 B <= 40 MiB: HBM one read and one write, the L2 three reads and the write
    got = _bytes(32768, 4096)
    assert got["hbm"] == 2 * 268_435_456
    assert got["l2"] == 4 * 268_435_456


@pytest.mark.parametrize(("rows", "hbm"), [
    # 1,000,000 fp16 columns: 512 threads a block, 4 blocks an SM, so every row is in the first wave; a row is
    # 2,000,000 B in and 2,000,000 B out. 10 rows: 40,000,000 B <= 41,943,040 (40 MiB): re-reads from the L2,
    # HBM 20,000,000 in + 20,000,000 out. 11 rows: 44,000,000 B > 40 MiB: every pass from HBM again,
    # 3 x 22,000,000 + 22,000,000
    (10, 40_000_000),
    (11, 88_000_000),
])
def test_rereads_go_back_to_hbm_when_a_waves_rows_overflow_the_l2(rows, hbm):
    assert _bytes(rows, 1_000_000)["hbm"] == hbm


@pytest.mark.parametrize(("model", "arch", "rows", "l2"), [
    # probe p186 #3: 108 rows of 65,536 bf16, one block a row on 108 SMs, each block reading all of the
    # parameters: layernorm's gamma and beta 2 x 65,536 x 2 = 262,144 B, 108 copies; in + out 2 x 14,155,776
    ("layernorm", "a100", 108, 2 * 14_155_776 + 108 * 262_144),  # 56,623,104
    ("layernorm", "h100", 108, 2 * 14_155_776 + 108 * 262_144),  # 132 SMs, 108 of them running rows
    # rmsnorm's weight 131,072 B; its input twice (the variance loop, then the output loop)
    ("rmsnorm", "a100", 108, 3 * 14_155_776 + 108 * 131_072),  # 56,623,104
    # 4 rows: 4 SMs, 4 copies; in + out 2 x 524,288
    ("layernorm", "a100", 4, 2 * 524_288 + 4 * 262_144),
])
def test_every_sm_running_rows_reads_the_norms_parameters(model, arch, rows, l2):
    got = _bytes(rows, 65_536, model, arch, "bf16")
    assert got["l2"] == l2
    # HBM reads them once
    params = 262_144 if model == "layernorm" else 131_072
    assert got["hbm"] == 2 * rows * 65_536 * 2 + params
