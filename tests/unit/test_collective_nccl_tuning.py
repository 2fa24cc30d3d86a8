"""accelsim.cost.collective against NCCL's published tuning model (NVIDIA/nccl src/graph/tuning.cc), by hand.

Bus bandwidth of NCCL's collectives (tuning.cc busBw = nChannels x bwIntra, the presets' nccl block): dgx-a100 12 x
20 GB/s = 240 GB/s, Ampere; dgx-h100 12 x 30 = 360 GB/s, Hopper (NVLS efficiency 0.85); dgx-b200 16 x 45 = 720 GB/s,
Blackwell (NVLS 0.74); channels at run time twice those (24, 24, 32). Link latency 8.92 us each.
NCCL 2.20.3 latencies (accelsim.hardware): ring base LL 6.6 / LL128 14.0 / Simple 8.4 us, NVLink hop LL 0.6 /
LL128 1.9 / Simple 3.4 us; tree base LL 6.8 / LL128 14.0 / Simple 0, hop LL 0.6 / LL128 1.25 / Simple 28.0 us.
tuning.cc: ring LL bus bandwidth min(llMaxBw, busBw x 0.5) with llMaxBw (one node) Ampere 87.7, Hopper 141.0,
Blackwell 282.0 GB/s; LL128 at 120/128 of the bus; one-node tree busBw x 0.92 (Simple), / 3.8 (LL), x 0.92 x 7/9
(LL128), then / 2 (algbw) and treeCorrectionFactor[protocol][log2(bytes / 64)]. A ring pays one chunk per channel
of pipeline fill: min(size / n, runtime channels x NCCL's chunk: Simple 2 MiB, LL128 576,000 B, LL 32 KiB) bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from accelsim.config import load_arch
from accelsim.cost import collective

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from validation import plan_file  # noqa: E402  (benchmarks/validation/)
from validation.model import TARGETS  # noqa: E402

US = 1e-6
MIB = 2**20


@pytest.fixture(scope="module")
def dgx():
    return {name: load_arch(name).interconnect for name in ("dgx-a100", "dgx-h100", "dgx-b200")}


def test_ll_is_capped_at_nccls_ceiling_not_the_link(dgx):
    # H100, 1 MiB on 8 GPUs. Ring LL: 360e9 x 0.5 = 180e9 > Hopper's llMaxBw 141e9, so 141e9. NCCL's tuner books
    # 6.6 + 14 x 0.6 = 15.0 us + 8.92 us + 1.75 x 1,048,576 / 141e9 = 13.014 us -> 36.934 us against NVLS's
    # 25 + 8.92 us + 1.125 x 1,048,576 / (360e9 x 0.85 = 306e9) = 3.855 us -> 37.775 us: ring LL, which then also
    # pays its fill 1,048,576 / 8 = 131,072 B / 141e9 = 0.930 us -> 37.864 us
    c = collective.choose(dgx["dgx-h100"], "all_reduce", MIB, 8)
    assert (c.algorithm, c.protocol) == ("ring", "LL")
    assert c.seconds == pytest.approx((15.0 + 8.92) * US + (1.75 * MIB + 131_072) / 141e9, rel=1e-9)
    nvls = collective.choose(dgx["dgx-h100"], "all_reduce", MIB, 8, algorithm="nvls")
    assert nvls.seconds == pytest.approx((25 + 8.92) * US + 1.125 * MIB / 306e9, rel=1e-9)
    # B200: 720e9 x 0.5 = 360e9 > Blackwell's 282e9; 2 GPUs, 64 KiB: 6.6 + 2 x 0.6 = 7.8 us + 8.92 us
    # + (65,536 + fill 32,768) / 282e9
    b = collective.choose(dgx["dgx-b200"], "all_reduce", 64 * 1024, 2, protocol="LL")
    assert b.seconds == pytest.approx((7.8 + 8.92) * US + (65_536 + 32_768) / 282e9, rel=1e-9)
    # A100: 240e9 x 0.5 = 120e9 > 87.7e9; 4 GPUs, 256 KiB: 6.6 + 6 x 0.6 = 10.2 us + 8.92
    # + (1.5 x 262,144 + fill 65,536) / 87.7e9
    a = collective.choose(dgx["dgx-a100"], "all_reduce", 256 * 1024, 4, algorithm="ring", protocol="LL")
    assert a.seconds == pytest.approx((10.2 + 8.92) * US + (1.5 * 262_144 + 65_536) / 87.7e9, rel=1e-9)


def test_ring_pipeline_fill_is_one_chunk_per_channel_up_to_nccls_chunk(dgx):
    a100 = dgx["dgx-a100"]
    # 2 GPUs, 64 MiB Simple: size / n = 33,554,432 B, under 24 channels x 2 MiB = 50,331,648 B, so size / n
    assert collective.ring_fill_bytes(a100, "Simple", 64 * MIB, 2) == 33_554_432
    # 2 GPUs, 512 MiB: capped at 24 channels x NCCL's 2 MiB Simple chunk = 50,331,648 B
    assert collective.ring_fill_bytes(a100, "Simple", 512 * MIB, 2) == 50_331_648
    # LL128's chunk (614,400-byte step x 15/16 = 576,000 B) and LL's (64 KiB step / 2 = 32 KiB)
    assert collective.ring_fill_bytes(a100, "LL128", 512 * MIB, 8) == 24 * 576_000
    assert collective.ring_fill_bytes(a100, "LL", 512 * MIB, 8) == 24 * 32_768
    # 512 MiB on 2 A100s, ring Simple: 8.4 + 2 x 3.4 = 15.2 us + 8.92 us + (536,870,912 + 50,331,648) / 240e9
    # = 2446.68 us -> 2470.80 us; busbw = 536,870,912 / 2470.80 us = 217.3 GB/s
    c = collective.choose(a100, "all_reduce", 512 * MIB, 2)
    assert (c.algorithm, c.protocol) == ("ring", "Simple")
    assert c.seconds == pytest.approx((15.2 + 8.92) * US + (536_870_912 + 50_331_648) / 240e9, rel=1e-9)
    # NCCL's tuner does not see the fill: 128 MiB on 2 A100s is booked Simple 24.12 us + 134,217,728 / 240e9 =
    # 583.36 us against LL128 (14 + 2 x 1.9 + 8.92 us + 134,217,728 / 225e9 = 623.24 us), so Simple, though with
    # the fills (Simple 50,331,648 B, LL128 24 x 576,000 B) LL128 would end first (793.09 against 684.68 us)
    big = collective.choose(a100, "all_reduce", 128 * MIB, 2)
    assert (big.algorithm, big.protocol) == ("ring", "Simple")
    assert big.seconds == pytest.approx((15.2 + 8.92) * US + (134_217_728 + 50_331_648) / 240e9, rel=1e-9)
    # NVLS and the tree pay none (the NVLS call on 8 H100s: latency + 1.125 x size / 306e9 only)
    h = collective.choose(dgx["dgx-h100"], "all_reduce", 64 * MIB, 8, algorithm="nvls")
    assert h.seconds == pytest.approx(33.92 * US + 1.125 * 64 * MIB / 306e9, rel=1e-9)


def test_one_node_tree_is_booked_below_the_ring_as_nccl_books_it(dgx):
    a100 = dgx["dgx-a100"]
    # 4 MiB = 4,194,304 B on 8 A100s; log2(4,194,304 / 64) = 16 -> treeCorrectionFactor LL128 0.8, Simple 0.5.
    # Tree LL128: 14 + 14 x 1.25 = 31.5 us + 8.92 us + 2 x 4,194,304 / (240e9 x 0.92 x 7/9 x 0.8 = 137.39e9)
    #   = 40.42 + 61.06 = 101.48 us (at the ring's 240e9 x 120/128 it would be 40.42 + 37.28 = 77.70 us and win).
    # Ring LL128: 40.6 + 8.92 + (1.75 x 4,194,304 + fill 524,288) / 225e9 = 49.52 + 34.95 = 84.47 us.
    # Ring LL: 23.92 + (7,340,032 + 524,288) / 87.7e9 = 113.59 us; ring Simple 64.92 + 7,864,320 / 240e9 = 97.69 us.
    tree = collective.choose(a100, "all_reduce", 4 * MIB, 8, algorithm="tree", protocol="LL128")
    assert tree.seconds == pytest.approx((31.5 + 8.92) * US + 2 * 4 * MIB / (240e9 * 0.92 * 7 / 9 * 0.8), rel=1e-9)
    c = collective.choose(a100, "all_reduce", 4 * MIB, 8)
    assert (c.algorithm, c.protocol) == ("ring", "LL128")
    assert c.seconds == pytest.approx((49.52 * US) + (1.75 * 4 * MIB + 524_288) / 225e9, rel=1e-9)
    # the correction table: 64 B is entry 0 (Simple 0.9), 256 MiB entry 22 (0.9), 512 MiB past the table (1.0)
    assert collective.tree_correction("Simple", 64) == 0.9
    assert collective.tree_correction("LL", 4096) == 0.7  # log2(4096 / 64) = 6
    assert collective.tree_correction("Simple", 256 * MIB) == 0.9
    assert collective.tree_correction("Simple", 512 * MIB) == 1.0


def test_large_all_reduce_bus_bandwidth_of_each_node(dgx):
    # 8 GiB on 8 GPUs, busbw = 1.75 x size / time.
    size = 8 * 2**30
    # A100 ring Simple: 56 + 8.92 us + (1.75 x size + fill 24 x 2 MiB) / 240e9 = 62,909.6 us, busbw 238.95e9:
    # nccl-tests on a DGX A100 reach 230-250 (docs.alayanew.com, "NCCL-tests in practice"); an older NCCL tuning.cc
    # caps compute capability 8.0 at 235
    a = collective.choose(dgx["dgx-a100"], "all_reduce", size, 8)
    assert a.seconds == pytest.approx(64.92 * US + (1.75 * size + 50_331_648) / 240e9, rel=1e-9)
    assert collective.bus_bandwidth("all_reduce", size, 8, a.seconds) == pytest.approx(235e9, rel=0.03)
    # H100 NVLS: 25 + 8.92 us + 1.125 x size / (360e9 x 0.85) = 31,614.6 us, busbw 475.5e9. NCCL's maintainer,
    # nccl-tests issue 212: "peak busBw of ~480GB/s (algbw ~275GB/s)"; GTC S62129: 480 GB/s
    h = collective.choose(dgx["dgx-h100"], "all_reduce", size, 8)
    assert h.algorithm == "nvls"
    assert h.seconds == pytest.approx(33.92 * US + 1.125 * size / (360e9 * 0.85), rel=1e-9)
    assert collective.bus_bandwidth("all_reduce", size, 8, h.seconds) == pytest.approx(480e9, rel=0.05)
    # B200 NVLS: 33.92 us + 1.125 x size / (720e9 x 0.74): busbw 828.3e9 (8 GB200s on NVLink 5 through MNNVL
    # measured 811 GB/s busbw, lixueduan.com/posts/ai/13-gb200-mnnvl-nccl-test)
    b = collective.choose(dgx["dgx-b200"], "all_reduce", size, 8)
    assert b.seconds == pytest.approx(33.92 * US + 1.125 * size / (720e9 * 0.74), rel=1e-9)
    assert collective.bus_bandwidth("all_reduce", size, 8, b.seconds) == pytest.approx(811e9, rel=0.05)


def test_issue_12_nccl_target_covers_the_1_mib_view_of_every_a100_all_reduce_file(tmp_path):
    # Vidur's DGX file: 2 GPUs, 512 KiB and 1 MiB on one node, 1 MiB across two nodes (skipped); LLMCompass: 4 GPUs
    vidur = tmp_path / "vidur" / "allreduce_a100_dgx.csv"
    vidur.parent.mkdir(parents=True)
    vidur.write_text("num_workers,devices_per_node,bytes,median_ms\n2,2,524288,0.02\n2,2,1048576,0.05\n"
                     "2,1,1048576,0.1\n")
    llmc = tmp_path / "llmcompass" / "allreduce_A100x4_nvlink.csv"
    llmc.parent.mkdir(parents=True)
    llmc.write_text("size_bytes,latency_us\n524288,47.27\n1048576,60.75\n")
    for path in (vidur, llmc):
        plan = plan_file(path)
        (view,) = [v for v in plan.views if v.label == ">= 1 MiB"]
        assert view.target == "nccl"
        assert [r.measured_s for r in plan.rows if view.select(r)] == pytest.approx(
            [5e-5] if path is vidur else [60.75e-6])
    vidur_plan = plan_file(vidur)
    assert [v.target for v in vidur_plan.views if v.label == "all single-node rows"] == ["allreduce"]  # kept, 10 %
    assert {v.label for v in vidur_plan.views} >= {"2 GPUs >= 1 MiB"}
    assert TARGETS["nccl"][1] == 12.0 and TARGETS["allreduce"][1] == 10.0  # issue 12's 12 %; the older 10 %


def test_vidurs_two_node_rows_replay_on_the_scale_out_network_without_a_target(tmp_path):
    # 2 GPUs, one in each of two DGX A100 nodes, 1 MiB: NCCL's ring of 2 over one HDR NIC each (Calculon's 25 GB/s,
    # 0.9, 20 µs a crossing), Simple: baseLat 8.4 µs + 2 crossings + (1 MiB + the fill, ½ MiB) / 22.5 GB/s; 16 GPUs,
    # 8 a node: the node's 8 NICs (180 GB/s, below the channels' 240): NCCL's tree, LL128, 14 µs + 2 · (7 NVLink
    # tree hops of 1.25 µs + 1 crossing) + 2 MiB / (180 GB/s × 0.92 × 120/128 × 0.6, treeCorrectionFactor at 1 MiB)
    vidur = tmp_path / "vidur" / "allreduce_a100_dgx.csv"
    vidur.parent.mkdir(parents=True)
    vidur.write_text("num_workers,devices_per_node,bytes,median_ms\n2,2,1048576,0.05\n2,1,1048576,0.1\n"
                     "16,8,1048576,0.3\n")
    plan = plan_file(vidur)
    assert not plan.skipped
    by = {r.key: r for r in plan.rows}
    pair, wide = by["2 GPUs on 2 node(s), 1048576 B"], by["16 GPUs on 2 node(s), 1048576 B"]
    assert pair.extra_s == pytest.approx((8.4 + 2 * 20) * 1e-6 + 1.5 * 2**20 / (25e9 * 0.9))
    assert wide.extra_s == pytest.approx((14 + 2 * (7 * 1.25 + 20)) * 1e-6
                                         + 2 * 2**20 / (8 * 25e9 * 0.9 * 0.92 * 120 / 128 * 0.6))
    views = {v.label: v for v in plan.views}
    assert views["all multi-node rows"].target is None
    assert [r.measured_s for r in plan.rows if views["all single-node rows"].select(r)] == [5e-5]
