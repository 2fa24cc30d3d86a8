"""The NCCL collective model (Interconnect.collective = "nccl") against hand calculations from NCCL 2.20.3's
published constants (NVIDIA/nccl @b6475625, src/graph/tuning.cc, src/include/{comm,device}.h, src/enqueue.cc), and
the formula mode kept as it was.

DGX A100 as the preset describes it: 12 rings of 20 GB/s (NCCL's search on 12 NVLinks x 20 GB/s, duplicated), so
the bus bandwidth is 12 x 20 = 240 GB/s and a call may run on 2 x 12 = 24 channels. For 8 GPUs a ring all-reduce
takes 2(8-1) = 14 steps; ring algorithm bandwidth = bus bandwidth x 8/14:
  LL     bus min(87.7 (llMaxBw Ampere), 240/4 = 60) = 60      -> 34.2857 GB/s; latency 6.6 + 14 x 0.6 = 15.0 us
  LL128  bus min(240 x 0.92 = 220.8, 12 x 20 = 240) = 220.8   -> 126.1714 GB/s; latency 14.0 + 14 x 1.9 = 40.6 us
  Simple bus 240                                              -> 137.1429 GB/s; latency 8.4 + 14 x 3.4 = 56.0 us
Channels a call gets (enqueue.cc): bytes / (threads x threshold) of the 24, at least 1: ring LL 512 x 8 x 8 ranks
= 32768 B per channel, LL128 640 x 8 = 5120 B, Simple 512 x 64 = 32768 B.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from pydantic import ValidationError

from accelsim.config import load_arch
from accelsim.hardware import Interconnect

US = 1e-6
MIB = 2**20


@pytest.fixture(scope="module")
def dgx():
    # the DGX A100 preset with NCCL 2.20.3's own tuner table (Interconnect.nccl_estimate)
    return load_arch("dgx-a100").interconnect.model_copy(update={"collective": "nccl"})


def test_dgx_presets_carry_the_node_nccl_finds():
    a100, h100 = load_arch("dgx-a100").interconnect, load_arch("dgx-h100").interconnect
    assert a100.collective == h100.collective == "nccl"  # priced by accelsim.cost.collective
    assert (a100.nccl.generation, a100.nccl.channels, a100.nccl.channel_bandwidth) == ("ampere", 12, 20e9)
    assert (h100.nccl.generation, h100.nccl.channels, h100.nccl.channel_bandwidth) == ("hopper", 12, 30e9)
    assert a100.nccl.runtime_channels == 24  # "Channel 23/24" in NCCL's log on HGX A100 (nccl-tests issue 100)


def test_4kib_all_reduce_on_8_gpus_under_each_protocol(dgx):
    # 4096 B gives every protocol less than one channel's worth, so each runs on 1 of 24 channels:
    # time = latency + 4096 B / (algorithm bandwidth x 1/24) = latency + 98304 B / algorithm bandwidth
    #   LL     15.0 + 98304 / 34.2857e3  = 15.0 + 2.8672  = 17.8672 us
    #   LL128  40.6 + 98304 / 126.1714e3 = 40.6 + 0.77913 = 41.3791 us
    #   Simple 56.0 + 98304 / 137.1429e3 = 56.0 + 0.7168  = 56.7168 us
    expected = {"LL": 17.8672, "LL128": 41.3791, "Simple": 56.7168}
    for proto, us in expected.items():
        e = dgx.nccl_estimate("all_reduce", 4096, 8, algorithm="ring", protocol=proto)
        assert e.seconds == pytest.approx(us * US, rel=1e-4), proto
        assert e.channels == 1.0
    # NCCL's tuner compares the full-channel times: LL 15.0 + 4096/34.2857e3 = 15.119 us beats LL128 40.632,
    # Simple 56.030 and tree LL (6.8 + 14 x 0.6 = 15.2 us + 4096 / (29.05 GB/s x 0.7) = 15.401 us)
    chosen = dgx.nccl_estimate("all_reduce", 4096, 8)
    assert (chosen.algorithm, chosen.protocol) == ("ring", "LL")
    assert dgx.all_reduce_seconds(4096, 8) == pytest.approx(17.8672 * US, rel=1e-4)


def test_256mib_all_reduce_on_8_gpus_under_each_protocol(dgx):
    # 268,435,456 B fills all 24 channels under every protocol: time = latency + bytes / algorithm bandwidth
    #   LL     15.0 + 268435456 x 14 / 480e3    = 15.0 + 7829.37 = 7844.37 us
    #   LL128  40.6 + 268435456 x 14 / 1766.4e3 = 40.6 + 2127.54 = 2168.14 us
    #   Simple 56.0 + 268435456 x 14 / 1920e3   = 56.0 + 1957.34 = 2013.34 us
    expected = {"LL": 7844.37, "LL128": 2168.14, "Simple": 2013.34}
    for proto, us in expected.items():
        e = dgx.nccl_estimate("all_reduce", 256 * MIB, 8, algorithm="ring", protocol=proto)
        assert e.seconds == pytest.approx(us * US, rel=1e-5), proto
        assert e.channels == 24.0
    chosen = dgx.nccl_estimate("all_reduce", 256 * MIB, 8)
    assert (chosen.algorithm, chosen.protocol) == ("ring", "Simple")
    # bus bandwidth seen by nccl-tests (2(N-1)/N x bytes / time): 1.75 x 268435456 / 2013.34 us = 233.3 GB/s
    assert 1.75 * 256 * MIB / dgx.all_reduce_seconds(256 * MIB, 8) == pytest.approx(233.3e9, rel=1e-3)


def test_protocol_switches_from_ll_to_ll128_to_simple_as_size_grows(dgx):
    # 8 GPUs, full-channel times equal where
    #   LL = LL128:     15.0 + S x 14/480e3 = 40.6 + S x 14/1766.4e3   -> S = 25.6 / 2.124094e-5 = 1,205,220 B
    #   LL128 = Simple: 40.6 + S x 14/1766.4e3 = 56.0 + S x 14/1920e3  -> S = 15.4 / 6.34058e-7  = 24,287,810 B
    protocols = {size: dgx.nccl_estimate("all_reduce", size, 8).protocol
                 for size in (MIB, 1_200_000, 1_211_000, 2 * MIB, 16 * MIB, 24_280_000, 24_300_000, 32 * MIB)}
    assert protocols == {MIB: "LL", 1_200_000: "LL", 1_211_000: "LL128", 2 * MIB: "LL128", 16 * MIB: "LL128",
                         24_280_000: "LL128", 24_300_000: "Simple", 32 * MIB: "Simple"}
    # 2 GPUs (2 steps): Simple's latency 8.4 + 2 x 3.4 = 15.2 us is below LL128's 14.0 + 2 x 1.9 = 17.8 us and its
    # bandwidth 240 GB/s above LL128's 220.8, so LL128 never wins; LL (7.8 us, 60 GB/s) hands over to Simple at
    # 7.8 + S/60e3 = 15.2 + S/240e3 -> S = 7.4 / 1.25e-5 = 592,000 B
    two = {size: dgx.nccl_estimate("all_reduce", size, 2).protocol for size in (4096, 591_000, 593_000, 64 * MIB)}
    assert two == {4096: "LL", 591_000: "LL", 593_000: "Simple", 64 * MIB: "Simple"}


def test_small_calls_run_on_fewer_channels(dgx):
    # 64 KiB on 8 GPUs, ring LL: 65536 / 32768 = 2 of 24 channels: 15.0 + 65536 x 24 / (2 x 34.2857e3) = 37.9372 us
    e = dgx.nccl_estimate("all_reduce", 64 * 1024, 8)
    assert (e.protocol, e.channels) == ("LL", 2.0)
    assert e.seconds == pytest.approx(37.9372 * US, rel=1e-4)
    # 4 GPUs: 512 x 8 x 4 = 16384 B per channel -> 4 channels; algorithm bandwidth 60 x 4/6 = 40 GB/s, latency
    # 6.6 + 6 x 0.6 = 10.2 us: 10.2 + 65536 x 24 / (4 x 40e3) = 10.2 + 9.8304 = 20.0304 us
    assert dgx.all_reduce_seconds(64 * 1024, 4) == pytest.approx(20.0304 * US, rel=1e-4)


def test_reduce_scatter_and_all_gather_in_nccl_mode(dgx):
    # ring only, 8 - 1 = 7 steps, algorithm bandwidth = bus x 8/7; nbytes is the whole (gathered) tensor.
    # Simple at 256 MiB: 8.4 + 7 x 3.4 = 32.2 us + 268435456 x 7 / (8 x 240e3) = 978.67 us -> 1010.87 us
    # (LL128: 14.0 + 7 x 1.9 = 27.3 + 268435456 x 7 / (8 x 220.8e3) = 1063.77 -> 1091.07 us, slower)
    for seconds in (dgx.reduce_scatter_seconds(256 * MIB, 8), dgx.all_gather_seconds(256 * MIB, 8)):
        assert seconds == pytest.approx(1010.87 * US, rel=1e-5)
    # LL is booked at 1/3 of the bus bandwidth here (1/4 for all-reduce): min(87.7, 240/3) = 80 x 8/7 GB/s, and
    # 6.6 + 7 x 0.6 = 10.8 us; 4096 B on 1 channel: 10.8 + 4096 x 24 / 91.4286e3 = 10.8 + 1.07520 = 11.8752 us
    e = dgx.nccl_estimate("all_gather", 4096, 8)
    assert (e.algorithm, e.protocol) == ("ring", "LL")
    assert e.seconds == pytest.approx(11.8752 * US, rel=1e-4)


def test_nccl_time_never_falls_as_bytes_grow(dgx):
    sizes = sorted({int(1.01**k) for k in range(0, 2400)})  # 1 B .. ~2e10 B, 1 % apart
    for chips in (2, 3, 4, 6, 8):
        for coll in ("all_reduce", "all_gather"):
            times = [dgx.nccl_estimate(coll, s, chips).seconds for s in sizes]
            assert all(b >= a for a, b in pairwise(times)), (chips, coll)
    assert dgx.all_reduce_seconds(0, 8) == dgx.all_reduce_seconds(1 * MIB, 1) == 0.0


def test_pcie_link_has_no_ll128_and_slower_hops():
    ic = Interconnect(bandwidth="32GB/s", collective="nccl",
                      nccl={"generation": "ampere", "link": "pci", "channels": 2, "channel_bandwidth": "12GB/s"})
    with pytest.raises(ValueError, match="no ring/LL128"):
        ic.nccl_estimate("all_reduce", MIB, 4, algorithm="ring", protocol="LL128")
    # ring Simple over PCIe, 4 GPUs: 8.4 + 6 x 5.7 = 42.6 us; bus 2 x 12 = 24 GB/s x 4/6 = 16 GB/s;
    # 64 MiB: 42.6 + 67108864 / 16e3 = 42.6 + 4194.304 = 4236.904 us
    e = ic.nccl_estimate("all_reduce", 64 * MIB, 4)
    assert (e.algorithm, e.protocol) == ("ring", "Simple")
    assert e.seconds == pytest.approx(4236.904 * US, rel=1e-6)


def test_formula_mode_is_unchanged_and_the_default():
    ic = Interconnect(bandwidth="50GB/s", latency="2us", topology="ring", efficiency=0.5)
    assert ic.collective == "formula" and ic.nccl is None
    # all-reduce: 2(N-1)/N x bytes / (bandwidth x efficiency) + 2(N-1) x latency
    assert ic.all_reduce_seconds(64 * MIB, 4) == pytest.approx(1.5 * 67_108_864 / 25e9 + 6 * 2e-6)
    # reduce-scatter / all-gather: half of each: (N-1)/N x bytes / (bandwidth x efficiency) + (N-1) x latency
    assert ic.reduce_scatter_seconds(64 * MIB, 4) == pytest.approx(0.75 * 67_108_864 / 25e9 + 3 * 2e-6)
    assert ic.all_gather_seconds(64 * MIB, 4) == ic.reduce_scatter_seconds(64 * MIB, 4)
    fc = Interconnect(bandwidth="50GB/s", latency="2us", topology="fully_connected")
    assert fc.all_gather_seconds(64 * MIB, 4) == pytest.approx(0.75 * 67_108_864 / 50e9 + 1 * 2e-6)
    # a nccl block alone does not switch the mode
    both = Interconnect(bandwidth="50GB/s", latency="2us", topology="fully_connected",
                        nccl={"generation": "ampere", "channels": 12, "channel_bandwidth": "20GB/s"})
    assert both.all_reduce_seconds(64 * MIB, 4) == fc.all_reduce_seconds(64 * MIB, 4)


def test_nccl_mode_needs_its_node_and_rejects_unknown_keys():
    with pytest.raises(ValidationError, match="needs 'nccl'"):
        Interconnect(bandwidth="300GB/s", collective="nccl")
    with pytest.raises(ValidationError, match="Extra inputs"):
        Interconnect(bandwidth="300GB/s", collective="nccl",
                     nccl={"generation": "ampere", "channels": 12, "channel_bandwidth": "20GB/s", "nvls": True})
    with pytest.raises(ValidationError):
        Interconnect(bandwidth="300GB/s", collective="nccl",
                     nccl={"generation": "pascal", "channels": 12, "channel_bandwidth": "20GB/s"})
