"""GPU row reductions as the kernels that run them (probe p186): PyTorch's softmax / log_softmax and layer norm and
a fused cross entropy's gradient run one thread block per row (accelsim/cost/vector.py KERNELS), so a few rows are
bounded by the bytes a few blocks keep in flight; a block's re-reads of its row come from the innermost cache (the
L2, else an MI300X's Infinity Cache) that holds the rows it and the other resident blocks move meanwhile; every SM
running rows reads a norm's scale and shift.

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


# probe p267 #2: the re-reads come from the innermost cache that holds a wave's rows, any level of arch.caches, and
# are charged to it and the caches inside it, not to main memory. mi300x.yaml: 304 CUs of 2048 threads; L2 32 MiB
# (33,554,432 B), then the 256 MiB (268,435,456 B) Infinity Cache at 17,203.2 GB/s and 400 ns; HBM 5324.8 GB/s x 0.9
# sustained, 600 ns. PyTorch's softmax block of a 16384-column row: ILP 16 B / element, min(16384 / ILP, 1024) / 2
# = 512 threads, so 2048 / 512 = 4 blocks a CU, a wave of 304 x 4 = 1216 rows.

@pytest.mark.parametrize(("dtype", "elem"), [
    # bf16: a wave is 1216 x (32,768 B in + 32,768 B out) = 79,691,776 B: over the L2's 33,554,432, within the
    # Infinity Cache's 268,435,456. fp32: 1216 x (65,536 + 65,536) = 159,383,552 B, within it too.
    ("bf16", 2),
    ("fp32", 4),
])
def test_mi300x_softmax_rereads_hit_the_infinity_cache(dtype, elem):
    tensor = 16384 * 16384 * elem  # the input, and as many bytes of output: bf16 2^29 B, fp32 2^30 B
    got = _bytes(16384, 16384, arch="mi300x", dtype=dtype)
    # HBM one read and the write (bf16 2^30 B; was 3 reads and the write, 2^31 B)
    assert got["hbm"] == tensor + tensor
    # the Infinity Cache serves the two re-reads: three reads and the write pass it, as they pass the L2 inside it
    assert got["infinity_cache"] == 3 * tensor + tensor
    assert got["l2"] == 3 * tensor + tensor


@pytest.mark.parametrize(("rows", "l2", "ic", "hbm"), [
    # 1,000,000 fp16 columns on mi300x: 512 threads a block, 4 blocks a CU, so every row is in the first wave; a row
    # is 2,000,000 B in and 2,000,000 B out, 4,000,000 B a row of the wave.
    # 8 rows: 32,000,000 B <= 33,554,432 (32 MiB): re-reads from the L2; the Infinity Cache and HBM see one read
    # and the write, 8 x 4,000,000
    (8, 8 * 8_000_000, 8 * 4_000_000, 8 * 4_000_000),
    # 9 rows: 36,000,000 B > 32 MiB, <= 256 MiB: re-reads from the Infinity Cache (and through the L2)
    (9, 9 * 8_000_000, 9 * 8_000_000, 9 * 4_000_000),
    # 67 rows: 268,000,000 B <= 268,435,456: still the Infinity Cache
    (67, 67 * 8_000_000, 67 * 8_000_000, 67 * 4_000_000),
    # 68 rows: 272,000,000 B > 256 MiB: every pass from HBM again, 3 x 2,000,000 + 2,000,000 a row at every level
    (68, 68 * 8_000_000, 68 * 8_000_000, 68 * 8_000_000),
])
def test_mi300x_rereads_come_from_the_innermost_cache_that_holds_a_wave(rows, l2, ic, hbm):
    got = _bytes(rows, 1_000_000, arch="mi300x")
    assert (got["l2"], got["infinity_cache"], got["hbm"]) == (l2, ic, hbm)


@pytest.mark.parametrize(("arch", "dtype", "tensor", "reads"), [
    # one cache level (unchanged by p267 #2): h100 132 SMs x 4 blocks = 528 rows. bf16 (2^29 B in, as many out):
    # 528 x 65,536 B = 34,603,008 <= 50 MiB (52,428,800): HBM one read and the write. fp32 (2^30 B): 528 x 131,072
    # = 69,206,016 > 50 MiB: three reads and the write from HBM. a100 108 SMs: bf16 108 x 4 x 65,536 = 28,311,552
    # <= 40 MiB (41,943,040); fp32 56,623,104 > 40 MiB
    ("h100", "bf16", 2**29, 1),
    ("h100", "fp32", 2**30, 3),
    ("a100", "bf16", 2**29, 1),
    ("a100", "fp32", 2**30, 3),
])
def test_one_cache_level_gpus_keep_their_rereads(arch, dtype, tensor, reads):
    got = _bytes(16384, 16384, arch=arch, dtype=dtype)
    assert got["hbm"] == reads * tensor + tensor
    assert got["l2"] == 3 * tensor + tensor  # three reads and the write pass the L2 either way


def test_mi300x_rereads_are_paced_at_the_infinity_cache():
    # bf16 16384 x 16384: 16384 rows in 13 waves of 1216 and one of 576; each block has 512 x 16 B = 8192 B in flight
    # and walks its row in 16384 / (512 x 8) = 4 iterations, each one round trip plus the wave's bytes in flight
    # drained at the level's sustained bandwidth. The first pass from HBM, the two re-reads from the Infinity Cache.
    mi300x = load_arch("mi300x")
    hbm_bw, hbm_lat, ic_bw, ic_lat = 5324.8e9 * 0.9, 600e-9, 17203.2e9, 400e-9

    def one_pass(lat, bw):  # 13 x 4 x (lat + 1216 x 8192 / bw) + 4 x (lat + 576 x 8192 / bw)
        return 13 * 4 * (lat + 1216 * 8192 / bw) + 4 * (lat + 576 * 8192 / bw)

    seconds = one_pass(hbm_lat, hbm_bw) + 2 * one_pass(ic_lat, ic_bw)  # 145.6 + 2 x 53.6 = 252.8 us
    hbm = 2 * 2**29  # a read and the write
    frac = vector.achieved_fraction(_op(softmax, 16384, 16384, "bf16"), mi300x, hbm, passes=3)
    assert frac == pytest.approx(hbm / hbm_bw / seconds, rel=1e-9)  # 224.1 / 252.8 us = 0.886


# The softmax's instructions per element (docs/validation.md "Softmax re-reads", a100.yaml pytorch_softmax_mix), from
# aten/src/ATen/native/cuda/SoftMax.cu and PersistentSoftmax.cuh (torch 2.0), 16-bit input, fp32 accumulator:
#   expf (nvcc, no fast math; assumption): FFMA.SAT, FFMA.RM, FADD, FFMA, FFMA, FMUL + SHF + MUFU.EX2
#   an IEEE fp32 division (assumption, the minimal mix): MUFU.RCP + 5 FFMA (a Newton step, quotient, residual, fix)
EXPF = {"fp32": 6, "shift": 1, "sfu": 1}
DIV = {"fp32": 5, "sfu": 1}


def _mix(*parts, **more):
    out = {"fp32": 0, "sfu": 0, "cvt": 0, "shift": 0, "mem": 0}
    for part in (*parts, more):
        for k, v in part.items():
            out[k] += v
    out["issue"] = sum(out.values())  # every instruction issues once
    return out


MIXES = {
    # cunn_SoftMaxForward: max pass (cvt, FMNMX); sum pass (cvt, FADD, expf, FADD); epilogue exp(v - max) / sum (cvt,
    # FADD, expf, division, half a packed cvt back); 3 loads + 1 store of 16-byte vectors per 8 elements
    "softmax": _mix(EXPF, EXPF, DIV, fp32=1 + 2 + 1, cvt=3 + 0.5, mem=4 / 8),
    # softmax_warp_forward: the row loaded and converted once; FMNMX, FADD, expf (kept), FADD; the division; cvt back;
    # a scalar load and a scalar store an element
    "softmax_short": _mix(EXPF, DIV, fp32=1 + 1 + 1, cvt=2, mem=2),
    # LogSoftMaxForwardEpilogue v - max - log(sum): two FADDs, no exponential, no division
    "log_softmax": _mix(EXPF, fp32=1 + 2 + 2, cvt=3 + 0.5, mem=4 / 8),
    "log_softmax_short": _mix(EXPF, fp32=1 + 2 + 1, cvt=2, mem=2),
}


@pytest.mark.parametrize(("arch", "lanes", "fp32", "shift"), [
    # CUDA C++ Programming Guide, "Arithmetic Instructions" throughput table, results per clock per SM: fp32
    # add/mul/FMA and min/max 64 on cc 8.0, 128 on 8.9, 9.0 (and 10.0: 128 FP32 cores, 16 SFUs); SFU (exp2, rcp)
    # and type conversions 16; 32-bit shifts 64. Issue: 4 schedulers x 32 threads = 128 a clock (the whitepapers)
    ("a100", 512, 64, 64),
    ("h100", 512, 128, 64),
    ("b200", 512, 128, 64),
    ("l40s", 256, 128, 64),
])
def test_softmax_lane_cycles_are_the_busiest_pipe_of_pytorchs_mix(arch, lanes, fp32, shift):
    assert MIXES["softmax"] == {"fp32": 21, "sfu": 3, "cvt": 3.5, "shift": 2, "mem": 0.5, "issue": 30}
    per_op = {"fp32": lanes / fp32, "sfu": lanes / 16, "cvt": lanes / 16, "shift": lanes / shift, "issue": lanes / 128}
    vu = load_arch(arch).core.vector
    for fn, mix in MIXES.items():
        assert vu.cost(fn) == max(mix[k] * per_op[k] for k in per_op), fn
    # a100: the fp32 pipe, 21 x 8 = 168 lane-cycles (the built-in table's 10 before); summed over the pipes 392
    if arch == "a100":
        assert vu.cost("softmax") == 168


@pytest.mark.parametrize(("cols", "dtype", "key"), [
    (1024, "fp16", "softmax_short"),  # <= 1024 elements and <= 4096 B: the persistent warp softmax
    (1024, "fp32", "softmax_short"),  # 4096 B
    (2048, "fp16", "softmax"),  # > 1024 elements: cunn_SoftMaxForward
    (2048, "fp32", "softmax"),
])
def test_short_softmax_rows_take_the_persistent_kernels_mix(cols, dtype, key):
    op = _op(softmax, 64, cols, dtype)
    vu = A100.core.vector
    assert vector.cost_key(op, vu) == key
    priced = vector.price(op, vu, A100)
    # ⌈elements x lane-cycles / 512 lanes⌉ (the fp32 rate is applied later, mapping.pricing)
    assert priced.cycles == -(-64 * cols * vu.cost(key) // 512)
    assert priced.details["cycles_per_element"] == vu.cost(key)


def test_a_unit_without_a_short_row_cost_prices_every_row_as_its_function():
    # mi210 lists no softmax mix: the built-in table's 10 lane-cycles for every row length
    mi210 = load_arch("mi210")
    op = _op(softmax, 64, 1024)
    assert vector.cost_key(op, mi210.core.vector) == "softmax"
    assert vector.price(op, mi210.core.vector, mi210).details["cycles_per_element"] == 10
