"""The ramp of an op whose bytes come from a memory other than the main one (probe p103 #2).

An op's transfers at the slowest memory bound it, whichever memory that is: the same bytes over the same link take
the same time whether that link is the main memory's or the one behind it. Each case below moves one GEMV's
weights, 8192 × 8192 bf16 = 134,217,728 B, from one memory in both runs of a pair, and the pair differs only in
which memory that is (the main one, or one behind a faster first tier or host memory); the run whose weights are not
in the main memory may only be slower by what its link's latency adds (written out per case). Before the fix, the
ramp (traffic.ramp_groups) priced the main memory alone, saw no transfers to overlap, and left each unit's first
load and last compute whole: 150,935 cycles against 122,119 on tpu-v4.

Hand figures used throughout (tpu-v4, arch/tpu-v4.yaml: 1050 MHz, HBM 1200 GB/s at efficiency 1, 500 ns; host
15.75 GB/s, 1 µs): the weights take 134,217,728 B / 1.2e12 B/s = 111.85 µs = 117,440.5 cycles over a 1.2 TB/s
link, 134,217,728 / 450e9 = 298.26 µs = 313,174.7 cycles over a 450 GB/s one; HBM's latency is 500 ns = 525 cycles,
host memory's 1 µs = 1,050."""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.config import load_workload

GEMV = {"model": "gemm", "m": 1, "n": 8192, "k": 8192, "dtype": "bf16"}
WEIGHT_BYTES = 8192 * 8192 * 2  # bf16
# a 10 TB/s on-chip memory in front of HBM: it becomes the main memory (activations), too small (64 MiB) for the
# 128 MiB of weights, which stay in HBM
ONCHIP = {"onchip": {"role": "memory", "after": "sram", "capacity": "64MiB", "bandwidth": "10TB/s",
                     "latency": "10ns"}}
# HBM too small for the weights: they go to host memory (its link set below)
SMALL_HBM = {"capacity": "64MiB"}


def _run(workload: dict, arch: dict) -> dict:
    return simulate(load_workload(workload), arch).to_dict()


def _floor(bandwidth: float) -> float:
    """Cycles the weights take at ``bandwidth`` bytes/s on tpu-v4's 1050 MHz clock."""
    return WEIGHT_BYTES / bandwidth * 1.05e9


def test_faster_tier_in_front_of_hbm_is_not_slower() -> None:
    """v4-onchip: the weights cross HBM's 1.2 TB/s as on tpu-v4; the activations (a 16 KiB input and output) sit
    in the 10 TB/s tier, whose 10 ns latency is below HBM's. So the run is no slower than tpu-v4's, and no faster
    than the weights' 117,440.5 cycles over the link (it was 150,935 against 122,119)."""
    plain = _run(GEMV, {"base": "tpu-v4"})
    tier = _run(GEMV, {"base": "tpu-v4", "levels": ONCHIP})
    assert plain["bytes"]["hbm"] >= WEIGHT_BYTES and tier["bytes"]["hbm"] == WEIGHT_BYTES  # the premise
    assert _floor(1.2e12) <= tier["total_cycles"] <= plain["total_cycles"]
    assert tier["ops"][0]["mapping"].get("ramp")  # its ends are cut as tpu-v4's are


@pytest.mark.parametrize("bandwidth", ["1200GB/s", "450GB/s"])
def test_weights_in_host_memory_at_hbm_speed_are_not_slower(bandwidth: str) -> None:
    """Weights in host memory behind a link as fast as HBM and of HBM's latency (500 ns) against the same weights
    in HBM: the same bytes over a link of the same bandwidth and latency, so no slower (1200 GB/s: 151,450
    against 122,119 before the fix; 450 GB/s: 347,184 against 316,355), and no faster than the link allows."""
    bw = float(bandwidth.removesuffix("GB/s")) * 1e9
    hbm = _run(GEMV, {"base": "tpu-v4", "hbm": {"bandwidth": bandwidth}})
    host = _run(GEMV, {"base": "tpu-v4", "hbm": SMALL_HBM, "host": {"bandwidth": bandwidth, "latency": "500ns"}})
    assert host["bytes"]["host"] == WEIGHT_BYTES  # the premise: every weight byte crosses the host link, once
    assert _floor(bw) <= host["total_cycles"] <= hbm["total_cycles"]


def test_weights_in_host_memory_pay_only_the_longer_latency() -> None:
    """The finding's own case: host memory at 1200 GB/s with tpu-v4's host latency (1 µs, 1,050 cycles against
    HBM's 525). Only the weights come from host memory; their loads stream back to back, so the longer latency
    shows once, at the first load: at most 1,050 − 525 = 525 cycles more than with the weights in HBM
    (151,975 against 122,119 before the fix)."""
    hbm = _run(GEMV, {"base": "tpu-v4"})
    host = _run(GEMV, {"base": "tpu-v4", "hbm": SMALL_HBM, "host": {"bandwidth": "1200GB/s"}})
    assert host["bytes"]["host"] == WEIGHT_BYTES
    assert host["total_cycles"] <= hbm["total_cycles"] + (1050 - 525)


def test_llama_decode_with_a_faster_first_tier_is_not_slower() -> None:
    """LLaMA-2-7B decode on tpu-v4 with the 10 TB/s tier: its activations move to the faster tier, its weights
    and KV cache (6.7 G parameters, 512 tokens' keys and values: more than the tier's 64 MiB) stay in HBM, so it
    moves no more bytes over HBM than on plain tpu-v4, and the step is no slower (it was 11.574 ms against
    11.403 ms)."""
    w = {"model": "llama2_7b", "phase": "decode", "kv_len": 512}
    plain = _run(w, {"base": "tpu-v4"})
    tier = _run(w, {"base": "tpu-v4", "levels": ONCHIP})
    assert tier["bytes"]["hbm"] <= plain["bytes"]["hbm"]  # the premise
    assert tier["total_cycles"] <= plain["total_cycles"]
