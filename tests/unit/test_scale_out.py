"""Several nodes (``interconnect.node_chips`` and ``scale_out``): collectives and pipeline sends whose chips are in
different nodes run over the scale-out network: a ring whose traffic out of each node spreads over the NICs of the
group's chips in that node. dgx-a100's figures are Calculon's a100_80g InfiniBand (25 GB/s a GPU, efficiency 0.9,
20 µs a step); a DGX node is 8 GPUs with one NIC each."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.builders.build import build_workload
from accelsim.config import load_arch
from accelsim.cost import collective

IB_BW, IB_EFF, IB_LAT = 25e9, 0.9, 20e-6


def _ring(kind: str, nbytes: int, n: int, per_node: int = 1) -> float:
    # by hand: each half of a ring collective moves (n−1)/n of the tensor out of every node, over the NICs of the
    # group's chips in that node (one per GPU on a DGX), and a chunk crosses the m − 1 node boundaries once
    halves = 2 if kind == "all_reduce" else 1
    nodes = n // per_node
    return halves * ((n - 1) / n * nbytes / (per_node * IB_BW * IB_EFF) + (nodes - 1) * IB_LAT)


def _nccl_ring_simple(kind: str, nbytes: int, n: int, nodes: int, bus: float, nvlink_latency: float = 8.92e-6,
                      channels: int = 24) -> float:
    # by hand, NCCL's ring across nodes under Simple (tuning.cc ncclTopoTuneModel): baseLat 8.4 µs + (nsteps −
    # nInterSteps) NVLink ring Simple hops of 3.4 µs + nInterSteps crossings of the network's 20 µs (nsteps 2(n − 1)
    # for an all-reduce, n − 1 otherwise; nInterSteps 2m for an all-reduce, the ring's two loops each crossing the
    # network m times, its wrap-around edge included, as tuning.cc counts them since 2.17, but no more than its
    # 2(n − 1) steps where each node holds one chip; m − 1 otherwise), + the node's NVLink latency once (8.92 µs on
    # the DGX presets), + (each chip's ring bytes + the pipeline fill, min(size / n, 24 runtime channels × Simple's
    # 2 MiB chunk)) / the bus bandwidth
    halves = 2 if kind == "all_reduce" else 1
    steps = halves * (n - 1)
    inter = min(2 * nodes, steps) if kind == "all_reduce" else nodes - 1
    fill = min(nbytes / n, channels * 2 * 2**20)
    return ((8.4 + (steps - inter) * 3.4) * 1e-6 + inter * IB_LAT + nvlink_latency
            + (halves * (n - 1) / n * nbytes + fill) / bus)


def test_the_dgx_presets_name_their_node_and_its_network():
    # HDR 200 Gb/s and NDR 400 Gb/s per GPU; NDR's 0.94 from NCCL's maintainer (46-48 GB/s per NIC)
    for name, bandwidth, eff in (("dgx-a100", 25e9, 0.9), ("dgx-h100", 50e9, 0.94), ("dgx-h200", 50e9, 0.94),
                                 ("dgx-b200", 50e9, 0.94)):
        ic = load_arch(name).interconnect
        assert ic.node_chips == 8 and ic.scale_out.bandwidth == bandwidth and ic.scale_out.efficiency == eff


@pytest.mark.parametrize("kind", ["all_reduce", "all_gather", "reduce_scatter"])
def test_a_collective_over_two_nodes_runs_on_the_nics(kind):
    arch = load_arch("dgx-a100").model_copy(update={"chips": 16})
    size = 1 << 30
    # 16 chips over 2 nodes: 8 NICs per node carry the rings (8 × 25 GB/s × 0.9 = 180 GB/s of bus bandwidth, below
    # the node's NCCL channels' 12 × 20 = 240), as NCCL's ring across nodes, Simple at 1 GiB
    c = collective.call(arch, kind, size, 16)
    assert (c.algorithm, c.protocol) == ("ring", "Simple")
    assert c.seconds == pytest.approx(_nccl_ring_simple(kind, size, 16, 2, 8 * IB_BW * IB_EFF))
    # eight chips of one node keep NCCL's NVLink model (faster than a node's NICs)
    assert collective.seconds(arch, kind, size, 8) < _ring(kind, size, 8, per_node=8)
    # two chips 8 apart (a data-parallel pair of tensor-parallel 8) are in different nodes: one NIC each, no hop
    # inside a node (no NVLink latency), every step a crossing
    assert collective.seconds(arch, kind, size, 2, extent=16) == pytest.approx(
        _nccl_ring_simple(kind, size, 2, 2, IB_BW * IB_EFF, nvlink_latency=0.0))


def test_the_collective_workload_spans_nodes_when_the_arch_has_more_chips_than_a_node():
    size = 256 << 20
    r = api.simulate({"model": "collective", "op": "all_reduce", "bytes": size}, {"base": "dgx-a100", "chips": 16},
                     plots=False).to_dict()
    op = next(o for o in r["ops"] if o["kind"] == "collective")
    assert op["mapping"]["all_reduce_s"] == pytest.approx(
        _nccl_ring_simple("all_reduce", size, 16, 2, 8 * IB_BW * IB_EFF), rel=1e-6)


def test_data_parallel_gradients_cross_nodes_and_tensor_parallel_ones_do_not():
    wl = {"model": "gpt", "mode": "training", "layers": 1, "hidden": 1024, "heads": 16, "seq_len": 256,
          "tensor_parallel": 8}
    r = api.simulate(wl, {"base": "dgx-a100", "chips": 16}, plots=False).to_dict()
    numel = {f"{w.name}.step": w.numel for op in build_workload("gpt", {k: v for k, v in wl.items() if k != "model"})
             for w in op.weights if w.role == "param"}
    steps = [o for o in r["ops"] if o["kind"] == "optimizer"]
    assert len(steps) == len(numel)
    # data parallel 2, the pair 8 chips apart: each gradient (fp32: dgx-a100's bf16 parameters keep fp32 gradients,
    # probe p117 #1) all-reduced over the NICs, a ring of 2 sending
    # 2·(1/2) of it, or NCCL's tree, where its tuner prices that faster (small ones: tree/Simple's baseLat
    # is 0), its two trees' halves each crossing the one edge up and down: 2 S over 2 chips, 1 × it (probe p247 #2:
    # this test said 2 × it, the bus-bandwidth convention): the call across the two nodes, which takes at least its
    # bytes through one NIC and two crossings
    arch16 = load_arch("dgx-a100", ["chips=16"])
    for o in steps:
        grad = 4 * numel[o["name"]]
        across = collective.call(arch16, "all_reduce", grad, 2, 16, dtype="fp32")
        assert o["bytes"]["link"] == grad  # ring or tree alike
        assert o["mapping"]["all_reduce_s"] == pytest.approx(across.seconds, rel=1e-6)
        assert across.seconds >= _ring("all_reduce", grad, 2)
    # the tensor-parallel all-reduces of (1, 256, 1024) fp16 stay inside a node: NCCL's NVLink model, as on one node
    tp = [o for o in r["ops"] if o["kind"] == "collective" and not o["name"].startswith("loss.")]
    inside = collective.seconds(load_arch("dgx-a100"), "all_reduce", 256 * 1024 * 2, 8)
    assert tp and all(o["mapping"]["all_reduce_s"] == pytest.approx(inside) for o in tp)
    # and the vocabulary-parallel loss's three (probe p238 #3), one fp32 value for each of the 256 tokens, alike
    loss = [o for o in r["ops"] if o["kind"] == "collective" and o["name"].startswith("loss.")]
    small = collective.seconds(load_arch("dgx-a100"), "all_reduce", 256 * 4, 8)
    assert len(loss) == 3 and all(o["mapping"]["all_reduce_s"] == pytest.approx(small) for o in loss)


def test_gradients_on_the_nics_do_not_hold_up_the_nodes_tensor_parallel_all_reduces():
    # tensor parallel 8 in each node, data parallel 2 across two nodes, one micro-batch: the gradient all-reduces
    # (over InfiniBand) overlap the backward pass, and the backward's tensor-parallel all-reduces (over NVLink) do not
    # queue behind them: the backward ends when it does with no data parallelism (8 chips), and the NIC and the
    # node's links are busy apart
    wl = {"model": "gpt", "mode": "training", "layers": 6, "hidden": 2048, "heads": 16, "seq_len": 512,
          "vocab": 4096, "batch": 2, "tensor_parallel": 8}
    one, two = (api.simulate(wl, {"base": "dgx-a100", "chips": n}, plots=False).to_dict() for n in (8, 16))
    assert "nic" not in one["utilization"] and two["utilization"]["nic"] > 0
    assert two["utilization"]["link"] > 0
    assert two["phases"]["backward"]["end_cycle"] == one["phases"]["backward"]["end_cycle"]
    # every byte either unit carried is counted as the link's: the gradients' on top of the tensor-parallel ones
    grads = sum(o["bytes"]["link"] for o in two["ops"] if o["kind"] == "optimizer")
    assert grads > 0 and two["bytes"]["link"] == one["bytes"]["link"] + grads


def test_a_ring_across_nodes_also_rides_the_nodes_links():
    # 16 chips on two DGX A100 nodes: each ring passes through a node's 8 chips before leaving it, so 7 of every 8
    # of a chip's 2·(15/16)·size bytes go over NVLink (300 GB/s at 0.65, dgx-a100.yaml) while the NICs carry the
    # call; the call ends when both have: the link is busy for those bytes' time, the NIC for the whole call
    size = 256 << 20
    assert collective.node_hop_bytes("all_reduce", size, 16, 8) == 2 * 15 / 16 * size * 7 / 8
    assert collective.node_hop_bytes("all_to_all", size, 16, 8) == 7 / 16 * size  # 7 of its 16 pieces stay
    assert collective.node_hop_bytes("all_reduce", size, 2, 1) == 0  # one chip a node: every hop leaves it
    assert collective.node_hop_bytes("send_recv", size, 16, 8) == 0
    r = api.simulate({"model": "collective", "op": "all_reduce", "bytes": size}, {"base": "dgx-a100", "chips": 16},
                     plots=False).to_dict()
    nvlink = 2 * 15 / 16 * size * 7 / 8 / (300e9 * 0.65)
    assert r["utilization"]["link"] * r["seconds"] == pytest.approx(nvlink, rel=1e-4)
    assert r["utilization"]["nic"] * r["seconds"] == pytest.approx(
        _nccl_ring_simple("all_reduce", size, 16, 2, 8 * IB_BW * IB_EFF), rel=1e-4)
    op = next(o for o in r["ops"] if o["kind"] == "collective")
    assert op["unit"] == "nic" and op["bytes"]["link"] == 2 * 15 / 16 * size  # the call's bytes, counted once


def test_pipeline_stages_on_different_nodes_send_over_the_nics():
    wl = {"model": "gpt", "mode": "training", "layers": 2, "hidden": 1024, "heads": 16, "seq_len": 256,
          "tensor_parallel": 8, "pipeline_parallel": 2, "micro_batches": 2}
    r = api.simulate(wl, {"base": "dgx-a100", "chips": 16}, plots=False).to_dict()
    p = r["pipeline"]
    send = 1 * 256 * 1024 * 2 / 8  # one micro-batch's hidden states in fp16, split over the 8 tensor ranks
    # each stage is one node: its one boundary crosses; 2 · (P − 1) sends in training
    assert p["p2p_transfers"] == 2
    assert p["p2p_s"] == pytest.approx(2 * (IB_LAT + send / (IB_BW * IB_EFF)))


def test_an_all_to_all_across_nodes_sends_each_chips_off_node_share_through_its_own_nic():
    # NCCL runs all-to-all as point-to-point sends to every peer (its user guide, "Point-to-point communication"),
    # which cannot relay through a ring: each GPU of dgx-h100 (NDR, 50 GB/s × 0.94 = 47 GB/s a NIC, 20 µs)
    # pushes the (16 − 8)/16 of its 64 MiB that goes to the other node through its own NIC, the sends at once:
    # ½ × 67,108,864 B / 47e9 B/s + 20 µs = 713.94 + 20 = 733.94 µs (the ring's 8-NIC spread gave 187 µs)
    arch = load_arch("dgx-h100").model_copy(update={"chips": 16})
    size = 64 << 20
    assert collective.seconds(arch, "all_to_all", size, 16) == pytest.approx(0.5 * size / 47e9 + 20e-6)
    # two chips, one a node (a data-parallel pair of tensor-parallel-8 ranks): all of the other half leaves,
    # ½ × 64 MiB / 47 GB/s + 20 µs, the same per-NIC time (k = 1: each chip's own NIC carried it before too)
    assert collective.seconds(arch, "all_to_all", size, 2, 16) == pytest.approx(0.5 * size / 47e9 + 20e-6)


def test_a_node_holding_fewer_of_the_groups_chips_bounds_a_collective_across_nodes():
    # 12 dgx-h100 GPUs are a node of 8 and one of 4: the ring's traffic out of the small node spreads over its 4
    # NICs, not 12 / 2 = 6. All-reduce 64 MiB as NCCL's ring, Simple: (8.4 + (22 − 4) × 3.4) µs + 4 × 20 µs (2
    # nodes: 2 crossings a loop, two loops) + 8.92 µs + (2 × 11/12 × 67,108,864 + 67,108,864 / 12) / (4 × 47e9)
    # = 158.52 + 684.18 = 842.7 µs (LL128's 120/128 of the bus costs more than its 24 µs less latency); an
    # all-to-all sends a GPU of the small node's (12 − 4)/12 off it through its NIC: 8/12 × 67,108,864 / 47e9
    # + 20 µs = 951.91 + 20 = 971.9 µs. The ring is what int8 elements run; bf16's all-reduce runs NCCL's NVLS_TREE
    # (probe p183 #1; this test asserted the ring for any dtype before it was modelled), bounded by the small node
    # too: 25 + 2 × 20 + 8.92 µs + max((1 + 1/4) × 64 MiB / 306e9 = 274.1 µs, 64 MiB / 4 NICs / 47e9 = 357.0 µs)
    arch = load_arch("dgx-h100").model_copy(update={"chips": 12})
    size = 64 << 20
    assert arch.interconnect.per_node(12, 12) == 4 and arch.interconnect.nodes(12) == 2
    assert collective.seconds(arch, "all_reduce", size, 12, dtype="int8") == pytest.approx(
        (8.4 + 18 * 3.4 + 4 * 20 + 8.92) * 1e-6 + (2 * 11 / 12 * size + size / 12) / (4 * 47e9))
    assert collective.seconds(arch, "all_reduce", size, 12) == pytest.approx(
        (25 + 2 * 20 + 8.92) * 1e-6 + max(1.25 * size / 306e9, size / 4 / 47e9))
    assert collective.seconds(arch, "all_to_all", size, 12) == pytest.approx(8 / 12 * size / 47e9 + 20e-6)


def test_chips_left_over_by_whole_tensor_parallel_replicas_are_named_idle():
    # 12 chips at tensor_parallel 8: 12 // 8 = 1 replica of chips 0-7 (Megatron's rank grid has no place for a
    # partial one), so 12 − 8 = 4 chips, 8-11, do nothing; 16 chips hold two replicas and none idles
    def notes(chips):
        return api.simulate({"model": "gpt", "mode": "training", "tensor_parallel": 8, "layers": 1, "hidden": 256,
                             "heads": 8, "seq_len": 128, "vocab": 1024},
                            {"base": "dgx-h100", "chips": chips}, plots=False).to_dict()["notes"]
    idle = [n for n in notes(12) if n.startswith("chips:")]
    assert len(idle) == 1 and "4 of the arch's 12 chips (chips 8-11) are idle" in idle[0]
    assert not [n for n in notes(16) if n.startswith("chips:")]


def test_a_strided_group_pays_a_latency_per_node_it_holds():
    # chips 0 and 16 of 32 H100s (8 a node): two nodes, whether the group's extent is 16 or 32 (it was priced as
    # the 4 nodes 32 chips span). A ring over 2 nodes, one GPU and its NIC each (50 GB/s x 0.94 = 47 GB/s), NCCL's
    # Simple: baseLat 8.4 us + 2 crossings x 20 us + (2 x 1/2 x 1 MiB + the fill, 1/2 MiB) / 47e9 = 48.4 + 33.46
    # = 81.86 us (LL: 1 MiB / min(47 x 1/2, 39) GB/s alone is 44.6 us; LL128 at 0.7 of 47 GB/s, 54 us of latency)
    arch = load_arch("dgx-h100", ["chips=32"])
    ring = (8.4 + 2 * 20) * 1e-6 + 1.5 * 2**20 / 47e9
    for extent in (16, 32):
        assert abs(collective.call(arch, "all_reduce", 2**20, 2, extent).seconds - ring) < 1e-9
    # chips 0 and 6 of 12 sit in one node: NVLink, as a pair of neighbours
    arch = load_arch("dgx-h100", ["chips=12"])
    assert collective.call(arch, "all_reduce", 2**20, 2, 12).seconds == collective.call(arch, "all_reduce", 2**20, 2, 2).seconds


def test_a_small_all_reduce_over_many_nodes_runs_as_nccls_tree():
    # 1 KiB over 64 H100s (8 DGX nodes, 8 GPUs each, a 50 GB/s NDR NIC each at 0.94, 20 us a crossing). NCCL's
    # tuning model (tuning.cc, 2.20) for a tree over 8 nodes, LL: baseLat 6.8 + 2 x ((8 - 1) x 0.6 x 1.8 + log2(8)
    # x 20) = 6.8 + 15.12 + 120 = 141.92 us, + 2 x 1024 / (min(360e9 (the node's NCCL channels, below its NICs'
    # 8 x 47) x 0.92 / 3.8, 20.4e9 (tuning.cc llMaxBws, more than 2 nodes)) x 0.9 (treeCorrectionFactor LL at
    # log2(1024 / 64) = 4)) = 0.11 us. LL128: 14 + 2 x 7 x 1.25 + 120 = 151.5 us; Simple 2 x 7 x 28 + 120 = 512 us.
    # The ring, LL: 6.6 + (126 - 14) x 0.6 x 1.8 + 14 x 20 = 407.56 us. So tree/LL, 142.03 us
    h100 = load_arch("dgx-h100")
    c = collective.call(h100, "all_reduce", 1024, 64)
    assert (c.algorithm, c.protocol) == ("tree", "LL")
    bus = 20.4e9 * 0.9
    assert c.seconds == pytest.approx((6.8 + 2 * (7 * 0.6 * 1.8 + 3 * 20)) * 1e-6 + 2 * 1024 / bus, rel=1e-9)
    # the tree's depth grows with log2 of the nodes, the ring's crossings linearly: 128 nodes (1024 chips) add 4
    # levels, 2 x 4 x 20 = 160 us
    assert collective.call(h100, "all_reduce", 1024, 1024).seconds - c.seconds == pytest.approx(160e-6, rel=1e-9)
    # on two nodes the tree's 2 x log2(2) crossings are the ring's 2 x (2 - 1), but the ring pays its 28 NVLink
    # hops inside the nodes (LL: 6.6 + 28 x 1.08 + 40 = 76.84 us, + 8.92 us) where the tree's chains pay 2 x 7:
    # 6.8 + 2 x (7 x 1.08 + 20) = 61.92 us + 2 x 1024 / (min(360e9 x 0.92 / 3.8, 39e9 (llMaxBws, 2 nodes)) x 0.9)
    two = collective.call(h100, "all_reduce", 1024, 16)
    assert (two.algorithm, two.protocol) == ("tree", "LL")
    assert two.seconds == pytest.approx((6.8 + 2 * (7 * 0.6 * 1.8 + 20)) * 1e-6 + 2 * 1024 / (39e9 * 0.9), rel=1e-9)
    # large messages stay on the ring, whose bus bandwidth is the NICs' whole (the tree's 0.92 of it, and 2 x size
    # on the wire against 2 x 63/64): 1 GiB over 64 chips, of elements NVLS cannot reduce (int8); bf16 runs NCCL's
    # NVLS_TREE, whose NICs carry 2 x size / 8 (probe p183 #1; asserted the ring for any dtype before it was modelled)
    assert collective.call(h100, "all_reduce", 2**30, 64, dtype="int8").algorithm == "ring"
    assert collective.call(h100, "all_reduce", 2**30, 64).algorithm == "nvls_tree"
