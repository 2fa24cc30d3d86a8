"""Probe p183 #1: an all-reduce across NVSwitch nodes whose switches reduce runs NCCL's NVLS_TREE where it is the
fastest (NVIDIA/nccl src/graph/tuning.cc: NVLS_TREE's bandwidth min(bwIntra, nNodes <= 2 ? bwInter : bwInter/2),
latency intraLat + 2 log2(nNodes) interLat, disabled on one node only): NVLS inside each node pipelined with a tree
over the NICs. Before, only a ring and a tree were weighed (2 x DGX H100, 1 GiB: ring/Simple 5,918 us).

Every figure is the presets' own (arch/dgx-h100.yaml, dgx-b200.yaml): NCCL's channels 12 x 30 GB/s = 360 GB/s on
a DGX H100, 16 x 45 = 720 GB/s on a DGX B200; NVLS's switch efficiency 0.85 (Hopper), 0.74 (Blackwell) and its
25 us; the NVLink latency 8.92 us; one NDR NIC a GPU, 50 GB/s x 0.94 = 47 GB/s, 20 us a crossing between nodes.
"""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import load_arch
from accelsim.cost import collective

US = 1e-6
GIB = 2**30
MIB = 2**20
NIC = 50e9 * 0.94  # one NDR NIC's bytes/s, each GPU's own
H100_NVLS = 12 * 30e9 * 0.85  # 306 GB/s: NCCL's bus bandwidth x NVLS's switch efficiency
B200_NVLS = 16 * 45e9 * 0.74  # 532.8 GB/s


def _arch(name: str, chips: int):
    return load_arch(name).model_copy(update={"chips": chips})


def _by_hand(size: float, nvls_rate: float, k: int, nodes: int, levels: int) -> float:
    # NVLS's 25 us + a crossing up and one down per tree level (20 us each) + the NVLink latency once, + the slower
    # of the two pipelined stages: NVLS over the node's k chips, (1 + 1/k) x size at the switch's rate; each chip's
    # NIC carrying 1/k of the node's sum each way, twice that past 2 nodes (a tree's inner node: bwInter / 2)
    nic = size / k * (1 if nodes <= 2 else 2)
    return (25 + 2 * levels * 20 + 8.92) * US + max((1 + 1 / k) * size / nvls_rate, nic / NIC)


def test_two_dgx_h100_all_reduce_1_gib_runs_nvls_tree_by_hand():
    # 73.92 us + max(1.125 x 2^30 / 306e9 = 3,947.6 us, 2^30 / 8 / 47e9 = 2,855.7 us) = 4,021.5 us (the probe: about
    # 4.0 ms), busbw 2 x 15/16 x 2^30 / 4,021.5 us = 500.6 GB/s (was the ring's 340.2)
    for name in ("dgx-h100", "dgx-h200"):  # the same NVLink 4 and NICs
        c = collective.call(_arch(name, 16), "all_reduce", GIB, 16)
        assert (c.algorithm, c.protocol) == ("nvls_tree", "Simple")
        assert c.seconds == pytest.approx(_by_hand(GIB, H100_NVLS, 8, 2, 1), rel=1e-12)
        assert c.seconds == pytest.approx(4021.5 * US, abs=0.1 * US)
        assert collective.bus_bandwidth("all_reduce", GIB, 16, c.seconds) == pytest.approx(500.6e9, rel=1e-3)
        # the NVLink's (1 + 1/8) x size and the NIC's size / 8 on the wire; the NIC's apart
        assert (c.wire_bytes, c.off_node) == (1.25 * GIB, GIB / 8)
    # the ring and the tree it replaced are slower; the one node of 8 is faster (NVLS alone: no NIC, no crossings)
    ic = _arch("dgx-h100", 16).interconnect
    assert collective.ring_across_nodes(ic, "all_reduce", GIB, 16, 8, 2).seconds > 5.9e-3
    assert collective.tree_across_nodes(ic, GIB, 8, 2).seconds > c.seconds
    one = collective.call(load_arch("dgx-h100"), "all_reduce", GIB, 8)
    assert one.algorithm == "nvls" and one.seconds == pytest.approx(c.seconds - 2 * 20 * US, rel=1e-12)


def test_dgx_b200_is_bound_by_its_nics_and_more_nodes_halve_them():
    # B200: NVLS 1.125 x 2^30 / 532.8e9 = 2,267.1 us is under the NICs' 2,855.7: 73.92 + 2,855.7 = 2,929.6 us
    c = collective.call(_arch("dgx-b200", 16), "all_reduce", GIB, 16)
    assert c.algorithm == "nvls_tree"
    assert c.seconds == pytest.approx(GIB / 8 / NIC + 73.92 * US, rel=1e-12)
    assert c.seconds == pytest.approx(_by_hand(GIB, B200_NVLS, 8, 2, 1), rel=1e-12)
    # 4 nodes of H100s: 2 tree levels (2 x 2 x 20 us) and each NIC carries 2 x 2^30 / 8 (tuning.cc's bwInter / 2):
    # 113.92 + 5,711.4 = 5,825.3 us
    c = collective.call(_arch("dgx-h100", 32), "all_reduce", GIB, 32)
    assert c.algorithm == "nvls_tree" and c.off_node == GIB / 4
    assert c.seconds == pytest.approx((25 + 80 + 8.92) * US + 2 * GIB / 8 / NIC, rel=1e-12)
    # 64 MiB on 2 H100 nodes: NVLS bound, 73.92 + 1.125 x 64 MiB / 306e9 = 73.92 + 246.7 = 320.6 us
    c = collective.call(_arch("dgx-h100", 16), "all_reduce", 64 * MIB, 16)
    assert c.algorithm == "nvls_tree"
    assert c.seconds == pytest.approx(_by_hand(64 * MIB, H100_NVLS, 8, 2, 1), rel=1e-12)


def test_nvls_tree_only_where_nccl_would_run_it():
    h100 = _arch("dgx-h100", 16)
    # elements NVLS cannot reduce (int8: NCCL's ncclNvlsSupported) keep the ring or tree
    assert collective.call(h100, "all_reduce", GIB, 16, dtype="int8").algorithm == "ring"
    # 2 of the group's chips a node (4 chips spread over 16, every 4th): NCCL sets up no NVLS for 2 GPUs a node
    # (nvls.cc ncclNvlsInit: gpuCount <= 2)
    assert h100.interconnect.per_node(4, 16) == 2
    assert collective.call(h100, "all_reduce", GIB, 4, 16).algorithm in ("ring", "tree")
    # an A100 switch does not reduce: no NVLS, no NVLS_TREE
    assert collective.call(_arch("dgx-a100", 16), "all_reduce", GIB, 16).algorithm == "ring"
    # only all-reduces: an all-gather across nodes stays a ring
    assert collective.call(h100, "all_gather", GIB, 16).algorithm == "ring"
    # tiny messages: NVLS's 25 us loses to the tree's LL (test_scale_out: 62 us for 1 KiB on 2 nodes)
    assert collective.call(h100, "all_reduce", 1024, 16).algorithm == "tree"


def test_memory_traffic_of_nvls_tree_by_hand():
    # 1e9 B over 16 chips of 2 nodes, 2-byte elements: NVLS's 2 x 1e9 (switch reads the input, writes the sum) +
    # the NIC's 1e9 / 8 received, written and read back (2 x 0.125e9); it adds the half that came up the tree:
    # 0.0625e9 B / 2 B = 31,250,000 FLOPs
    c = collective.Choice(1e-3, "nvls_tree", "Simple", 1.25e9, 0.125e9)
    assert collective.memory_traffic(c, "all_reduce", 10**9, 16, 2) == (2_250_000_000, 31_250_000)
    # the NVLink's share stays in the node, the rest leaves through the NIC
    assert collective.node_hop_bytes("all_reduce", 10**9, 16, 8, c) == 1.125e9


def test_the_report_names_nvls_tree_and_prices_its_nic_bytes():
    r = simulate({"model": "collective", "op": "all_reduce", "bytes": 10**9}, {"base": "dgx-h100", "chips": 16}).to_dict()
    (op,) = r["ops"]
    m = op["mapping"]
    assert (m["algorithm"], m["protocol"]) == ("nvls_tree", "Simple")
    # each chip: 1.125e9 B on the NVLink (NVLS over 8 chips) and 1e9 / 8 = 125,000,000 B through its NIC
    assert m["nic_bytes"] == 125_000_000
    assert op["bytes"]["link"] == 1_250_000_000 and op["bytes"]["hbm"] == 2_250_000_000
    assert m["all_reduce_s"] == pytest.approx(_by_hand(1e9, H100_NVLS, 8, 2, 1), rel=1e-6)
    # dgx-h100: scale_out.energy_per_bit 103 pJ, NVLink's 1.3 pJ; by_level is one chip's
    by = r["energy"]["by_level"]
    assert by["nic"] == pytest.approx(125_000_000 * 8 * 103e-12)
    # the bytes inside the node cross 2 NVLinks each (probe p234 #1: through the NVSwitch a byte crosses 2 links, the sender's into the switch and the receiver's out; was 1)
    assert by["link"] == pytest.approx(1.125e9 * 2 * 8 * 1.3e-12)

