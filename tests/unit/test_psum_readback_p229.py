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
