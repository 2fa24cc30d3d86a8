"""Probe p229 #1: a ws / is array adds each K fold's share of an output to the running sum in the accumulator SRAM,
a read-modify-write, so every fold after the first reads the partial sum back before writing it
(ucb-bar/gemmini src/main/scala/gemmini/AccumulatorMem.scala: an accumulating write reads its address,
``mem.io.ren := io.read.req.fire() || (io.write.fire() && io.write.bits.acc)``, and writes that read plus the new
data, ``w_sum``; TPU v1's accumulators likewise, Jouppi et al. ISCA 2017). accelsim had counted the writes only:
(F_r − 1) · M · N partial sums at the accumulator's width were missing from ``bytes.sram`` and its energy."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.config import experiment_from_parts


def _run(workload: str, arch: str, *overrides: str) -> dict:
    return api.run_experiment(experiment_from_parts(workload, arch, overrides=list(overrides))).to_dict()


def test_gemmini_16x16x64_reads_back_three_partial_sums():
    # int8 16×16×64 GEMM on Gemmini's 16×16 ws array (int32 accumulator, 4 B): B (K×N, 64·16) stationary, read
    # once: 1,024 B; K down the rows, F_r = 64 / 16 = 4 folds, N across the columns, F_c = 1, so A (16·64) streams
    # once: 1,024 B. The output's 256 elements: written as an int32 partial sum by folds 1-3 (3 · 4 B), as the
    # finished int8 output by fold 4 (1 B), and read back as int32 by folds 2-4 to add to (3 · 4 B):
    # 256 · (12 + 1 + 12) = 6,400 B. Fills of A and B from DRAM 2,048 B, the drain of C 256 B: 10,752 B
    # (7,680 B before the read-back, probe p229 #1).
    rep = _run("gemm", "gemmini", "workload.m=16", "workload.n=16", "workload.k=64")
    mp = rep["ops"][0]["mapping"]
    assert mp["dataflow"] == "ws" and mp["folds"] == [4, 1]
    assert mp["sram_operand_bytes"] == 1024 + 1024 + 256 * (3 * 4 + 1 + 3 * 4) == 8_448
    assert rep["bytes"]["hbm"] == 1024 + 1024 + 256 == 2_304
    assert rep["bytes"]["sram"] == 8_448 + 2_304 == 10_752
    # the energy is per scratchpad byte: the 3,072 read-back bytes cost what 3,072 written bytes cost (the same
    # run with 1-byte partial sums moves 256 · (3 + 1 + 3) = 1,792 B of output, 4,608 B less, at the same price)
    narrow = _run("gemm", "gemmini", "workload.m=16", "workload.n=16", "workload.k=64",
                  "arch.core.systolic.accumulator_dtype=int8")
    assert rep["bytes"]["sram"] - narrow["bytes"]["sram"] == 256 * (3 * 3 + 3 * 3) == 4_608
    per_byte = rep["energy"]["by_level"]["sram"] / rep["bytes"]["sram"]
    assert narrow["energy"]["by_level"]["sram"] / narrow["bytes"]["sram"] == pytest.approx(per_byte)


def test_one_k_fold_reads_nothing_back_and_os_keeps_its_sums_in_the_pes():
    # K = 16 fills the 16 rows once (F_r = 1): the output is written once, finished, and nothing is read back:
    # B 256 + A 256 + C 256 · 1 = 768 B
    rep = _run("gemm", "gemmini", "workload.m=16", "workload.n=16", "workload.k=16")
    assert rep["ops"][0]["mapping"]["sram_operand_bytes"] == 256 + 256 + 256 == 768
    # os holds the partial sums in its PEs across all of K (F_r counts M folds, not K): A once per column fold,
    # B once per row fold, C written once. 16×16×64 on 16×16 os: F_r = F_c = 1: 1,024 + 1,024 + 256 = 2,304 B
    os_ = _run("gemm", "gemmini", "workload.m=16", "workload.n=16", "workload.k=64",
               "arch.core.systolic.dataflow=os")
    assert os_["ops"][0]["mapping"]["sram_operand_bytes"] == 1024 + 1024 + 256 == 2_304


def test_eyeriss_alexnet_conv1_reads_back_its_partial_sums():
    # AlexNet CONV1 (3 → 96, 11×11, stride 4, 227² → 55²), batch 4, on eyeriss-like's 12×14 ws array, int16 with
    # int16 partial sums (2 B): M = 4 · 55 · 55 = 12,100 output pixels, N = 96, K = 3 · 11 · 11 = 363. F_r =
    # ⌈363 / 12⌉ = 31 K folds, F_c = ⌈96 / 14⌉ = 7. B (363 · 96 · 2 B) once: 69,696 B; A once per column fold:
    # 7 · 12,100 · 363 · 2 B = 61,492,200 B; C: 30 partial-sum writes, the output, 30 read-backs, all 2 B:
    # 12,100 · 96 · (30 · 2 + 2 + 30 · 2) = 141,715,200 B. In all 203,277,096 B, of which the read-back is
    # 30 · 12,100 · 96 · 2 = 69,696,000 B (133,581,096 B before, probe p229 #1).
    rep = _run("conv2d", "eyeriss-like", "workload.batch=4", "workload.in_channels=3", "workload.out_channels=96",
               "workload.kernel_size=11", "workload.stride=4", "workload.padding=0", "workload.height=227",
               "workload.width=227")
    conv = next(o for o in rep["ops"] if o.get("mapping", {}).get("sram_operand_bytes"))
    mp = conv["mapping"]
    assert mp["dataflow"] == "ws" and mp["gemm"][:3] == [12_100, 96, 363] and mp["folds"] == [31, 7]
    a, b = 7 * 12_100 * 363 * 2, 363 * 96 * 2
    assert mp["sram_operand_bytes"] == a + b + 12_100 * 96 * (30 * 2 + 2 + 30 * 2) == 203_277_096
    assert mp["sram_operand_bytes"] - (a + b + 12_100 * 96 * (30 * 2 + 2)) == 69_696_000


def test_tpu_v1_partial_sums_are_its_accumulators_bytes_not_the_unified_buffers():
    # Probe p279 #1: TPU v1 collects the matrix unit's sums in its 4 MiB of 32-bit Accumulators, beside the 24 MiB
    # unified buffer (Jouppi et al. ISCA 2017 Fig. 1; the preset's core.systolic.accumulator_sram). int8 1024³ on
    # the 256×256 ws array: F_r = 1024 / 256 = 4 K folds, F_c = 4 column folds. The partial sums: written at 4 B
    # by all 4 folds (every fold's result lands in the accumulators) and read 4 times, by folds 2-4's
    # read-modify-writes and once by the activation unit, which takes the finished sums to the unified buffer
    # ("Activate ... Its inputs are the Accumulators", Jouppi et al. Sec. 2; probe p286 #2: 2 · 3 · 1024² · 4 =
    # 25,165,824 B before, the Gemmini convention): 2 · 4 · 1024² · 4 B = 33,554,432 B, the accumulators'. The unified
    # buffer keeps A, streamed once per column fold (4 · 1024² B), and the finished int8 output (1024² B):
    # 5,242,880 B, plus the fills of A and the drain of C from and to the DDR3 (the weights pass it, holds:
    # activations): 2 · 1024² B. 32,505,856 B was all the buffer's before.
    rep = _run("gemm", "tpu-v1", "workload.m=1024", "workload.n=1024", "workload.k=1024")
    mp = rep["ops"][0]["mapping"]
    assert mp["dataflow"] == "ws" and mp["folds"] == [4, 4]
    psums = 2 * 4 * 1024 * 1024 * 4
    assert mp["accumulator_bytes"] == rep["bytes"]["accumulators"] == psums == 33_554_432
    assert mp["sram_operand_bytes"] == 4 * 1024**2 + 1024**2 == 5_242_880
    assert rep["bytes"]["sram"] == 5_242_880 + 2 * 1024**2 == 7_340_032
    # report.json lists the accumulators after the scratchpad: on chip, 4 MiB a core, no bandwidth of their own
    assert rep["levels"][1] == {"name": "accumulators", "role": "accumulator", "capacity": 4 * 2**20, "bandwidth": None}
    # their bytes priced by the SRAM rule at their size and a row of the array's 256 32-bit sums (8,192 bits):
    # 10 pJ (8 KiB, 64 bits, 45 nm) × √(4 MiB / 8 KiB) × √(8192 / 64) per 8192-bit access × 0.3967 (45 nm, 0.9 V →
    # 28 nm, 0.8 V) = 0.9919 pJ/B, against the unified buffer's 10 × √(24 MiB / 8 KiB) × √(2048 / 64) / 256 B ×
    # 0.3967 = 4.859 pJ/B; filed under by_unit.accumulators beside its static share
    e28 = 0.39673
    acc = 10 * (4 * 2**20 / 8192) ** 0.5 * (8192 / 64) ** 0.5 / 1024 * e28
    ub = 10 * (24 * 2**20 / 8192) ** 0.5 * (2048 / 64) ** 0.5 / 256 * e28
    assert acc == pytest.approx(0.9919, rel=1e-4) and ub == pytest.approx(4.859, rel=1e-4)
    e = rep["energy"]
    dynamic_acc = e["by_unit"]["accumulators"] - e["static_by_unit"]["accumulators"]
    assert dynamic_acc == pytest.approx(psums * acc * 1e-12, rel=1e-4)
    assert e["by_level"]["sram"] - e["static_by_level"]["sram"] == pytest.approx(7_340_032 * ub * 1e-12, rel=1e-4)
    assert "accumulators" not in e["by_level"]


def test_an_accumulator_sram_of_its_own_moves_no_time_and_gemmini_keeps_its_buffer():
    # the accumulators' bytes change where the partial sums are counted, not the run: the same cycles and DDR3 bytes
    # as the unified buffer holding them (accumulator_sram null); gemmini's accumulator is one of its scratchpad's
    # buffers (core.sram.ofmap), not a core_sram array, so its partial sums stay bytes.sram (10,752 B above)
    own = _run("gemm", "tpu-v1", "workload.m=512", "workload.n=512", "workload.k=1024")
    pad = _run("gemm", "tpu-v1", "workload.m=512", "workload.n=512", "workload.k=1024",
               "arch.core.systolic.accumulator_sram=null")
    assert own["total_cycles"] == pad["total_cycles"] and own["bytes"]["hbm"] == pad["bytes"]["hbm"]
    # the buffer sheds the 2 · (F_r − 1) · M · N partial sums (F_r = 1024 / 256 = 4) and keeps the int8 output's
    # write; the accumulators count F_r writes and F_r reads (probe p286 #2): one write and one read of each
    # 4-B sum more than the buffer counted, 2 · 512² · 4 B
    assert pad["bytes"]["sram"] - own["bytes"]["sram"] == 2 * 3 * 512 * 512 * 4
    assert own["bytes"]["accumulators"] == 2 * 4 * 512 * 512 * 4 == 8_388_608
    assert "accumulators" not in pad["bytes"]
    gemmini = _run("gemm", "gemmini", "workload.m=16", "workload.n=16", "workload.k=64")
    assert set(gemmini["bytes"]) == {"sram", "hbm"}


def test_tpu_v1_one_fold_gemm_still_writes_and_reads_its_accumulators():
    # Probe p286 #2: K ≤ 256 is one K fold on tpu-v1's 256-row array, yet its sums still land in the accumulators
    # and the activation unit reads them from there (Jouppi et al. ISCA 2017 Sec. 2): 2 · 1 · M · N · 4 B, not the
    # 0 B of the scratchpad convention. int8 512×512×256: F_r = 1, F_c = 2; 2 · 512 · 512 · 4 = 2,097,152 B. The
    # unified buffer keeps A once per column fold (2 · 512 · 256 B) and the int8 output once (512² B): 524,288 B.
    rep = _run("gemm", "tpu-v1", "workload.m=512", "workload.n=512", "workload.k=256")
    mp = rep["ops"][0]["mapping"]
    assert mp["dataflow"] == "ws" and mp["folds"] == [1, 2]
    assert mp["accumulator_bytes"] == rep["bytes"]["accumulators"] == 2 * 1 * 512 * 512 * 4 == 2_097_152
    assert mp["sram_operand_bytes"] == 2 * 512 * 256 + 512 * 512 == 524_288


def test_tpu_v1_accumulators_count_every_fold_of_a_ragged_gemm():
    # the probe's 1000×3000×2000 GEMM: F_r = ⌈2000 / 256⌉ = 8 K folds, so 2 · 8 · 1000 · 3000 · 4 = 192,000,000 B
    # (168,000,000 = 2 · 7 · ... before, probe p286 #2); the output passes the buffer once, at 1 B (int8), as before
    rep = _run("gemm", "tpu-v1", "workload.m=1000", "workload.n=3000", "workload.k=2000")
    mp = rep["ops"][0]["mapping"]
    assert mp["folds"][0] == -(-2000 // 256) == 8
    assert rep["bytes"]["accumulators"] == 2 * 8 * 1000 * 3000 * 4 == 192_000_000


def test_os_keeps_its_partial_sums_in_the_pes_even_with_an_accumulator_sram():
    # os holds each output's sums in its PEs until done (SCALE-Sim's os): no accumulator bytes on tpu-v1 set to os
    rep = _run("gemm", "tpu-v1", "workload.m=512", "workload.n=512", "workload.k=1024",
               "arch.core.systolic.dataflow=os")
    assert rep["ops"][0]["mapping"]["accumulator_bytes"] == rep["bytes"]["accumulators"] == 0
