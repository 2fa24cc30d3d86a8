"""Collectives on the chip interconnect: an all-reduce, all-gather, reduce-scatter or all-to-all of a ``nbytes``
buffer on each of ``group`` chips (``nbytes`` is nccl-tests' *size*: an all-gather's gathered output, a
reduce-scatter's unscattered input).

``interconnect.collective: formula`` keeps the interconnect's formula (:meth:`accelsim.hardware.Interconnect.
all_reduce_seconds` and its siblings). ``collective: nccl`` prices the call as NCCL runs it on one node: every
algorithm NCCL could run (ring; tree for an all-reduce; NVLink SHARP, ``nvls``, for an all-reduce on an NVSwitch
node of a generation whose switch reduces, and elements of a type it reduces: :data:`NVLS_DTYPES`) under each
protocol (LL, LL128, Simple), the fastest chosen as NCCL's
tuner chooses by size. Each candidate costs

    NCCL's latency of the algorithm and protocol (tuning.cc baseLat + hops x hwLat, :data:`accelsim.hardware.
    NCCL_BASE_LATENCY_US` / ``NCCL_HOP_LATENCY_US``; NVLS :data:`NVLS_LATENCY_US`)
    + the link's ``latency`` once (the first bytes' flight across the link before the pipeline runs)
    + (bytes each chip puts on its link + a ring's pipeline fill) / (NCCL's bus bandwidth x the protocol's data
      fraction)

NCCL's bus bandwidth is what its topology search finds, ``nccl.channels`` x ``nccl.channel_bandwidth`` (tuning.cc
busBw = nChannels x bwIntra: 240 GB/s on a DGX A100), not the link's point-to-point ``bandwidth`` x ``efficiency``
(nccl-tests sendrecv: 195 GB/s there), which all-to-all and the formula keep; but at most the link's line rate
``bandwidth``, since the channels cannot carry more than the links (:func:`bus_bandwidth_of`, :attr:`accelsim.
hardware.Interconnect.nccl_bus_bandwidth`: a DGX preset whose ``bandwidth`` is lowered to 50 GB/s runs its
all-reduce at 50 GB/s; the presets' line rates are above their channels', 300 > 240, 450 > 360, 900 > 720 GB/s). LL's rate is capped at NCCL's llMaxBw
of the GPU generation (:data:`LL_MAX_BUS_BANDWIDTH`), a tree's at NCCL's one-node tree fractions and size correction
(:data:`TREE_BUS_FRACTION`, :func:`tree_correction`), as NCCL's tuner books them. A ring pays one chunk more per
channel than its 2(n-1) (n-1) steps move (:func:`ring_fill_bytes`: min(size / n, channels x NCCL's chunk)), a
structure read off aiconfigurator's a100_sxm/nccl_all_reduce.csv and LLMCompass's allreduce_A100x4_nvlink.csv
(their bus bandwidth climbs to NCCL's 240 GB/s only past 1 GiB, and 2 GPUs lag 4 and 8), not fitted: its size is
NCCL's default buffers (docs/validation.md, wip-coll2),

with the bytes on each chip's link per direction: ring all-reduce 2(n-1)/n x size, all-gather / reduce-scatter
(n-1)/n x size (nccl-tests' bus-bandwidth factors, PERFORMANCE.md in NVIDIA/nccl-tests), tree (a chain on one
node: reduce up, broadcast down) 2 x size, NVLS (1 + 1/n) x size (each chip's share of the switch's multicast
reads and writes, times NVLS's switch efficiency), all-to-all (n-1)/n x size to its peers (times the mean hop
distance on a ring). ``efficiency`` is the link's application-level fraction of its line rate under NCCL's
point-to-point transport (the presets cite it); no constant here is fitted to measurements.

A multi-node arch (``interconnect.node_chips`` and ``scale_out``) runs a collective whose chips span more than one
node (``extent``: the consecutive chips its group is spread over, in Megatron's rank order, tensor parallel
innermost, then data parallel, then pipeline stages) on the scale-out network instead, as a ring whose traffic out
of each node is spread over the NICs of the group's chips in that node (:class:`accelsim.hardware.ScaleOut`), priced
as NCCL's tuner prices a ring across nodes (:func:`ring_across_nodes`: its base latency, the hops inside the nodes
and the crossings between them, each protocol's bandwidth cap), at the NICs' rate but never above the node's own
NCCL rate (:func:`node_bus_bandwidth`): 16 GPUs of two DGX A100 nodes all-reduce at up to 8 × 25 GB/s × 0.9 = 180
GB/s of bus bandwidth, two DGX H100 nodes at NVLink's 360 GB/s (below the 8 × 47 GB/s of their NICs), a
data-parallel pair of tensor-parallel-8 ranks at one NIC's 22.5 GB/s; so a collective across nodes never beats the
same one inside a node. An all-reduce may run as NCCL's tree instead (:func:`tree_across_nodes`), or, across
NVSwitch nodes whose switches reduce (:func:`has_nvls`) with at least 3 of the group's chips in each, as NCCL's
NVLS_TREE (:func:`nvls_tree_across_nodes`: NVLS inside each node pipelined with a tree over the NICs), the
fastest of the three as NCCL's tuner picks it. An all-to-all
across nodes is point-to-point sends instead, not a ring: each chip's off-node share through its own NIC, or its
sends inside the node where those are slower.

``options.all_reduce: custom`` prices an all-reduce inside one node as a serving engine's own kernel instead of
NCCL's (:func:`custom`): vLLM's custom all-reduce, whose GPUs read their peers' buffers over NVLink in one kernel
with flag barriers (PyTorch's intra-node all-reduce, which gpt-fast runs, works alike; its own thresholds are not
modelled). One-shot (every GPU reads the whole
buffer of each peer and reduces it: (n-1) x size on its link) below vLLM's size threshold, two-shot
(reduce-scatter, then all-gather, by peer reads: 2(n-1)/n x size) above, each costing the link's ``latency`` once
+ those bytes / (the group's link bandwidth x ``efficiency``), as a point-to-point send
(:meth:`accelsim.hardware.Interconnect.send_seconds`); no NCCL protocol latency. vLLM runs it for 2, 4, 6 or 8
GPUs of a fully connected node (NVSwitch or a full mesh) and messages under 8 MiB; others stay NCCL's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..draws import dispatch_ranks
from ..errors import WorkloadError
from ..hardware import NCCL_BASE_LATENCY_US, NCCL_HOP_LATENCY_US, NCCL_TREE_CORRECTION, Arch, Interconnect
from ..hardware import mean_ring_hops as mean_ring_hops  # re-exported: this module's, before hardware's formula used it
from ..units import NVLS_DTYPES, time_cycles

# send_recv: each chip of a ring sends a tensor to the next and receives the previous one's (NCCL's ncclSend /
# ncclRecv pair; TransformerEngine's context-parallel K/V ring)
KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
# Fraction of the bytes on the wire that are data, per protocol: LL sends 8-byte lines of 4 data bytes and a 4-byte
# flag; LL128 128-byte lines of 120 data bytes and an 8-byte flag; Simple data only, synchronised by separate flags
# (NCCL docs, "NCCL_PROTO": LL, LL128, Simple; NVIDIA/nccl src/include/device.h NCCL_LL_LINES / NCCL_LL128_DATAELEMS)
PROTOCOL_DATA_FRACTION: dict[str, float] = {"LL": 4 / 8, "LL128": 120 / 128, "Simple": 1.0}
# NVLink SHARP (multicast and in-switch reduction): the switch's throughput as a fraction of the links' (NVIDIA/nccl
# tuning nvlsEfficiency: Hopper 0.85, Blackwell 0.74; Volta and Ampere switches have none) and its fixed latency
# (tuning.cc hwLat NVLink NVLS Simple 25 us, baseLat NVLS 0). Checked against NCCL's maintainer (nccl-tests issue 212):
# 8 x H100 NVLS all-reduce peaks at algbw ~275 GB/s; here NCCL's bus bandwidth (bus_bandwidth_of: dgx-h100's 12
# channels x 30 GB/s = 360 GB/s) x 0.85 / (1 + 1/8) = 272 GB/s (busbw 2 x 7/8 x 272 = 476; the 1 GiB call, with its
# 25 us, 471.9).
NVLS_EFFICIENCY: dict[str, float] = {"hopper": 0.85, "blackwell": 0.74}
NVLS_LATENCY_US = 25.0
# the fewest GPUs a node's NVLS spans: NCCL sets up no NVLS on a node of 2 or fewer (src/transport/nvls.cc
# ncclNvlsInit: ``if (!ncclParamNvlsEnable() || gpuCount <= 2) return ncclSuccess;`` before nvlsSupport is set), so
# NVLS_TREE needs 3 or more of the group's chips in each node
NVLS_MIN_CHIPS = 3
# The element types NVLS reduces: units.NVLS_DTYPES (dtype names are listed in units.py alone)
# LL's bus bandwidth has a ceiling of its own, whatever the link: here a ring LL runs at min(llMaxBw, busBw x 0.5,
# LL's data fraction), as a recent tuning.cc books it (one with the PAT algorithm and a Blackwell column: ring LL
# busBw = min(llMaxBw, busBw * .5); aiconfigurator's a100_sxm NCCL rows are 2.27.3). The 2.8-era tuning.cc booked
# busBw / 4 for an all-reduce (/ 3 for the others), as accelsim.hardware.Interconnect.nccl_estimate keeps; session 54
# tried / 4 here and did not take it: aiconfigurator a100_sxm nccl_all_reduce.csv all rows 19.5 -> 22.0 % MAPE,
# >= 1 MiB 9.5 -> 10.5 % (docs/architecture.md, collectives). NVIDIA/nccl src/graph/tuning.cc llMaxBws, single-node
# column: Ampere 87.7 GB/s since 2.20.3, Hopper 141.0 from the 2.2x releases that model NVLS at 25 us, Blackwell
# twice Hopper's; LL moves 8-byte lines with a flag each, one volatile store per thread, so it is bound by the SMs'
# store rate, not the NVLink. Volta's 39.0 (2.20.3) for completeness. In bytes/s.
LL_MAX_BUS_BANDWIDTH: dict[str, float] = {"volta": 39.0e9, "ampere": 87.7e9, "hopper": 141.0e9, "blackwell": 282.0e9}
# LL's ceiling across nodes: tuning.cc llMaxBws' multi-node columns, which NCCL indexes by the host CPU, not the
# GPU ("LL: for single node, we look at GPU type; for multi-node, we look at CPU type"): Intel 39.0 GB/s on 2 nodes,
# 20.4 on more; AMD 22.5, 19.0. The presets name no host CPU, so the larger, Intel's, bounds it (a DGX A100's EPYC
# would run LL slower still). (2 nodes, more), bytes/s
LL_MAX_BUS_BANDWIDTH_NODES: tuple[float, float] = (39.0e9, 20.4e9)
# LL128's share of the bus across nodes where each node holds one of the group's chips (tuning.cc: "if ppn < 2, then
# we are sending/receiving at the same GPU through the NIC, apply some bw discount", 0.7)
LL128_ONE_PER_NODE = 0.7
# NCCL's tree on one node is a chain (reduce up, broadcast down); tuning.cc books it below the ring per byte: Simple
# min(busBw x 0.92, ...), LL min(busBw / 3.8, llMaxBw), LL128 busBw x 0.92 x 7/9 (one node), then algbw = busBw / 2
# (the 2 x size this module puts on the wire) and treeCorrectionFactor by size (accelsim.hardware
# NCCL_TREE_CORRECTION). Fractions of NCCL's bus bandwidth (bus_bandwidth_of) per protocol:
TREE_BUS_FRACTION: dict[str, float] = {"LL": 1 / 3.8, "LL128": 0.92 * 7 / 9, "Simple": 0.92}
# The tree's bus bandwidth across nodes, as a fraction of the network's (tuning.cc ncclTopoTuneModel, 2.20: tree
# busBw x 0.92, then LL / 3.8, LL128 x 120/128 when nNodes > 1); cf. TREE_BUS_FRACTION on one node
TREE_NET_BUS_FRACTION: dict[str, float] = {"LL": 0.92 / 3.8, "LL128": 0.92 * 120 / 128, "Simple": 0.92}
# The most data one ring step moves on one channel (NCCL's chunk): buffer / NCCL_STEPS x chunk steps, data part only.
# NVIDIA/nccl src/init.cc DEFAULT_BUFFSIZE 4 MiB (Simple), DEFAULT_LL_BUFFSIZE 8 lines x 512 threads x 8 steps x
# 16 B = 512 KiB, DEFAULT_LL128_BUFFSIZE 120 x 640 x 8 x 8 B = 4,915,200 B; src/include/device.h NCCL_STEPS 8;
# src/include/collectives.h ALLREDUCE_CHUNKSTEPS = NCCL_STEPS / 2 (Simple ring); src/enqueue.cc: LL carries half
# its lines as flags, LL128 15 of 16 words. Simple 4 MiB / 8 x 4 = 2 MiB; LL 64 KiB / 2 = 32 KiB; LL128 614,400 x
# 15/16 = 576,000 B.
CHUNK_BYTES: dict[str, int] = {"Simple": 2 * 2**20, "LL": 32 * 2**10, "LL128": 576_000}


# vLLM's custom all-reduce (vllm-project/vllm vllm/distributed/device_communicators/custom_all_reduce.py @00d618a:
# CustomAllreduce._SUPPORTED_WORLD_SIZES [2, 4, 6, 8]; max_size=8192 * 1024 and should_custom_ar: inp_size <
# max_size; more than two GPUs only when fully connected, "not supported on more than two PCIe-only GPUs").
CUSTOM_GROUPS = (2, 4, 6, 8)
CUSTOM_MAX_BYTES = 8192 * 1024
# csrc/custom_all_reduce.cuh @c9eabec CustomAllreduce::allreduce: world size 2 always one-stage; on full NVLink
# cross_device_reduce_1stage when (world_size <= 4 and bytes < 512 * 1024) or (world_size <= 8 and bytes < 256 *
# 1024), else cross_device_reduce_2stage. By group size: the largest group of each bound, the bound in bytes.
CUSTOM_ONE_SHOT_BELOW = ((4, 512 * 1024), (8, 256 * 1024))
# the interconnect topologies on which every GPU of a group reaches every other directly (vLLM's fully_connected:
# NVLink through NVSwitch, a full mesh of direct links: MI300X's Infinity Fabric, where vLLM's ROCm build runs the
# same kernel)
CUSTOM_TOPOLOGIES = ("fully_connected", "full_mesh")
ALL_REDUCE_ALGORITHMS = ("nccl", "custom")  # options.all_reduce


class Choice(NamedTuple):
    """One collective as priced: ``seconds``, the ``algorithm`` and ``protocol`` chosen, and the bytes each chip
    puts on its link per direction (``wire_bytes``); ``off_node``: of those, the bytes that leave the node through
    the chip's NIC, where the algorithm splits them from the node's links itself (``nvls_tree`` and ``tree`` across
    nodes; 0 elsewhere, where :func:`node_hop_bytes` splits a ring's)."""

    seconds: float
    algorithm: str
    protocol: str
    wire_bytes: float
    off_node: float = 0.0  # of wire_bytes, those a chip sends through its NIC where the call says (nvls_tree, tree)

    @property
    def sent(self) -> int:
        """Whole bytes each chip puts on its link (the link task's and report's ``bytes.link``)."""
        return math.floor(self.wire_bytes)

    def cycles(self, clock_hz: float) -> int:
        """The call's time in whole cycles of a ``clock_hz`` clock (its link task's)."""
        return time_cycles(self.seconds, clock_hz)


def fanout_nic_bytes(nbytes: int, fanout: tuple[int, ...], group: int, nodes: int) -> int:
    """The message of a per-rank dispatch (``nbytes``: a row per token and destination rank) sized for its hops
    across nodes, a row per token and destination node (DeepEP's normal mode sends a token over RDMA once to each
    node that holds any of its experts, ``num_tokens_per_rdma_rank``, and forwards it inside the node over NVLink):
    ``nbytes`` · D_nodes / D_ranks, :func:`dispatch_ranks` over the group's ``nodes`` nodes (each holding
    ``group`` / ``nodes`` of its ranks: :func:`call` refuses unequal shares, as DeepEP does) and its ``group``
    ranks of the routing ``fanout`` (experts, top-k, n_group, topk_group, and where given the chip's tokens and the
    message's rows). With the tokens, at most a row per token and node, tokens · ``nodes`` rows of the message's
    width (nbytes / rows a row), so that the (nodes − 1) / nodes of it on the NIC is at most a row per token and
    remote node: what the chip sends once to each other node, and what it receives from its RDMA peers there,
    each holding as many tokens (DeepEP's internode dispatch: rank r of one node exchanges with rank r of each
    other, ``rdma_rank``; probe p280 #1: Qwen1.5-MoE at EP 16 over 2 nodes, 1,024 tokens a chip, put 8,152 rows on
    the NIC under skew and 1,025.6 balanced, where at most 1,024 exist)."""
    experts, top_k, groups, picked = fanout[:4]
    ranks = dispatch_ranks(experts, top_k, group, groups, picked)
    reached = dispatch_ranks(experts, top_k, max(nodes, 1), groups, picked)
    wide = nbytes * reached / ranks if ranks > 0 else nbytes
    if len(fanout) >= 6 and fanout[5] > 0:  # the chip's tokens and the message's rows
        wide = min(wide, nbytes * fanout[4] * max(nodes, 1) / fanout[5])
    return math.floor(wide)


def check_fanout_nodes(ic: Interconnect, group: int, extent: int) -> int:
    """The nodes a per-rank dispatch's ``group`` of ranks (every ``extent`` / ``group``-th chip) spans, each holding
    the same share of them; a one-line error at ``expert_parallel`` where the shares differ (probe p260 #1: EP 12
    on 8-GPU nodes, 8 and 4). DeepEP, whose normal mode the per-rank dispatch models, refuses such a group:
    deepseek-ai/DeepEP csrc/deep_ep.cpp ``Buffer::Buffer`` asserts ``num_ranks < NUM_MAX_NVL_PEERS or num_ranks %
    NUM_MAX_NVL_PEERS == 0`` (8 NVLink peers a node) and takes ``rdma_rank = rank / NUM_MAX_NVL_PEERS``, so a node
    holds 8 ranks or the group fits one node."""
    nodes = ic.group_nodes(group, extent)
    fewest = ic.per_node(group, extent)
    if fewest * nodes != group:
        raise WorkloadError(
            f"{group} ranks over {nodes} nodes of {ic.node_chips} chips, as few as {fewest} on one: an inference "
            f"prefill's expert-parallel dispatch (DeepEP's normal mode) needs the same ranks on every node it spans "
            f"(DeepEP asserts num_ranks < 8 or a multiple of 8); use at most {ic.node_chips} or a multiple of them",
            ("expert_parallel",))
    return nodes


def wire_fraction(kind: str, group: int) -> float:
    """nccl-tests' bus-bandwidth factor busbw / algbw of a ring: all-reduce 2(n-1)/n; all-gather,
    reduce-scatter and all-to-all (n-1)/n."""
    if group <= 1:
        return 0.0
    if kind == "send_recv":  # the whole tensor, to one peer
        return 1.0
    return (2 if kind == "all_reduce" else 1) * (group - 1) / group


def node_hop_bytes(kind: str, nbytes: float, group: int, per_node: int, c: Choice | None = None) -> float:
    """Bytes each chip of a collective across nodes sends to chips of its own node, ``per_node`` of the ``group``
    in each: a ring (:meth:`accelsim.hardware.ScaleOut.collective_seconds`) passes through a node's chips before
    leaving it, so (k − 1)/k of each chip's :func:`wire_fraction` of the tensor stays inside the node; an all-to-all
    sends each peer its 1/N piece, k − 1 of them in the node; a point-to-point send, none. A call ``c`` that splits
    its bytes itself (``off_node``: NVLS_TREE, :func:`nvls_tree_across_nodes`; NCCL's tree, :func:`tree_across_nodes`)
    keeps all but its NIC's in the node."""
    if c is not None and c.off_node:
        return c.wire_bytes - c.off_node
    if per_node <= 1 or group <= 1 or kind == "send_recv":
        return 0.0
    if kind == "all_to_all":
        return (per_node - 1) / group * nbytes
    return wire_fraction(kind, group) * nbytes * (per_node - 1) / per_node


def bus_bandwidth(kind: str, nbytes: float, group: int, seconds: float) -> float:
    """nccl-tests' busbw of a call: algbw = size / time, times :func:`wire_fraction`."""
    return nbytes / seconds * wire_fraction(kind, group)


def has_nvls(ic: Interconnect, dtype: str | None = None) -> bool:
    """An NVSwitch node (fully connected) of a generation whose switches reduce (NVLink SHARP), for elements of
    ``dtype`` that NVLS reduces (:data:`NVLS_DTYPES`; None: any)."""
    return (ic.topology == "fully_connected" and ic.nccl is not None and ic.nccl.generation in NVLS_EFFICIENCY
            and (dtype is None or dtype in NVLS_DTYPES))


def tree_correction(protocol: str, nbytes: int) -> float:
    """NCCL's treeCorrectionFactor for a call of ``nbytes`` (tuning.cc: by log2(bytes / 64), 1.0 past the table)."""
    table = NCCL_TREE_CORRECTION[protocol]
    index = max((nbytes >> 6).bit_length() - 1, 0)
    return table[index] if index < len(table) else 1.0


def bus_bandwidth_of(ic: Interconnect) -> float:
    """The bus bandwidth NCCL's collectives run at: the topology search's channels x bandwidth per channel
    (tuning.cc ncclTopoTuneModel busBw = nChannels x bwIntra; the presets' ``nccl`` block), at most the link's
    line rate ``bandwidth`` (:attr:`accelsim.hardware.Interconnect.nccl_bus_bandwidth`, which NCCL's tuner table
    reads too), else the link's ``bandwidth`` x ``efficiency``. Point-to-point (all-to-all) keeps the link's
    figure."""
    if ic.nccl is not None:
        return ic.nccl_bus_bandwidth
    return ic.bandwidth * ic.efficiency


def ring_fill_bytes(ic: Interconnect, protocol: str, nbytes: int, group: int) -> float:
    """One chunk more per channel than the ring's 2(n-1) (or n-1) steps: the pipeline's fill. A ring step moves
    size / (channels x n) on each channel, at most NCCL's chunk (:data:`CHUNK_BYTES`); over all runtime channels
    that is min(size / n, channels x chunk) bytes at the protocol's bus rate."""
    channels = ic.nccl.runtime_channels if ic.nccl is not None else 1
    return min(nbytes / group, channels * CHUNK_BYTES[protocol])


def _candidates(ic: Interconnect, kind: str, nbytes: int, group: int, dtype: str | None = None
                ) -> list[tuple[str, str, float, float, float, float]]:
    """(algorithm, protocol, latency s, bytes per direction, pipeline-fill bytes, bytes/s) of every algorithm
    NCCL could run on elements of ``dtype`` (None: any)."""
    link = ic.nccl.link if ic.nccl is not None else "nvlink"
    bw = bus_bandwidth_of(ic)
    out = []
    if kind == "all_to_all":  # grouped send/recv to every peer at once, Simple protocol, one hop each
        hops = 1.0 if ic.topology == "fully_connected" else mean_ring_hops(group) / 2  # a ring: both directions
        lat = NCCL_BASE_LATENCY_US["ring", "Simple"] + NCCL_HOP_LATENCY_US[link]["ring", "Simple"]
        return [("p2p", "Simple", lat * 1e-6, wire_fraction(kind, group) * nbytes * hops, 0.0,
                 ic.bandwidth * ic.efficiency)]
    steps = 2 * (group - 1) if kind == "all_reduce" else group - 1
    ll_max = LL_MAX_BUS_BANDWIDTH[ic.nccl.generation] if ic.nccl is not None else math.inf
    for proto, data in PROTOCOL_DATA_FRACTION.items():
        if proto == "LL128" and link != "nvlink":
            continue  # NCCL enables LL128 by default over NVLink only
        ring_bw = min(bw * data, ll_max) if proto == "LL" else bw * data
        lat = NCCL_BASE_LATENCY_US["ring", proto] + steps * NCCL_HOP_LATENCY_US[link]["ring", proto]
        out.append(("ring", proto, lat * 1e-6, wire_fraction(kind, group) * nbytes,
                    ring_fill_bytes(ic, proto, nbytes, group), ring_bw))
        if kind == "all_reduce":
            lat = NCCL_BASE_LATENCY_US["tree", proto] + steps * NCCL_HOP_LATENCY_US[link]["tree", proto]
            tree_bw = bw * TREE_BUS_FRACTION[proto] * tree_correction(proto, nbytes)
            out.append(("tree", proto, lat * 1e-6, 2.0 * nbytes, 0.0,
                        min(tree_bw, ll_max) if proto == "LL" else tree_bw))
    if kind == "all_reduce" and has_nvls(ic, dtype):
        eff = NVLS_EFFICIENCY[ic.nccl.generation]  # type: ignore[union-attr]
        out.append(("nvls", "Simple", NVLS_LATENCY_US * 1e-6, (1 + 1 / group) * nbytes, 0.0, bw * eff))
    return out


def node_bus_bandwidth(ic: Interconnect, per_node: int) -> float:
    """The bus bandwidth of a collective across nodes with ``per_node`` (k) of its chips in a node: the NICs of
    those k chips (k x ``scale_out.bandwidth`` x ``scale_out.efficiency``), but, where a ring or chain also passes
    between chips inside the node (k > 1), at most the node's own rate, :func:`bus_bandwidth_of` (NCCL's channels:
    12 x 30 GB/s = 360 GB/s on a DGX H100, below its 8 NDR NICs' 8 x 47 = 376), as NCCL's tuner takes the intra-node
    channel rate for a ring over two nodes (tuning.cc ncclTopoTuneModel: bw = nNodes <= 2 ? bwIntra : bwInter)."""
    so = ic.scale_out
    assert so is not None
    nics = per_node * so.bandwidth * so.efficiency
    return min(nics, bus_bandwidth_of(ic)) if per_node > 1 else nics


def inter_node_steps(kind: str, nodes: int, group: int) -> int:
    """The steps of a ring of ``group`` (N) chips over ``nodes`` (M) nodes that cross the network, as NCCL's tuner
    counts them (NVIDIA/nccl src/graph/tuning.cc ncclTopoTuneModel, nInterSteps, since the NVLS-era model of the
    2.17 line: ``2*nNodes`` for an all-reduce, ``nNodes-1`` for an all-gather or reduce-scatter; 2.8-2.12 booked
    2(M - 1) for an all-reduce): 2M for an all-reduce (a chunk that starts inside a node passes all M crossings of
    a loop, the ring's wrap-around edge from the last node back to the first included; a reduce-scatter loop, then
    an all-gather loop), but at most its 2(N - 1) steps: with one chip a node (N = M) a chunk passes N - 1 = M - 1
    crossings a loop, where tuning.cc's 2M outnumbers the steps and books -2 hops inside the nodes, which have
    none; M - 1 for an all-gather or reduce-scatter; 0 on one node."""
    if nodes <= 1:
        return 0
    return min(2 * nodes, 2 * (group - 1)) if kind == "all_reduce" else nodes - 1


def ring_across_nodes(ic: Interconnect, kind: str, nbytes: int, group: int, per_node: int, nodes: int) -> Choice:
    """An all-reduce, all-gather or reduce-scatter of ``nbytes`` as a ring over ``group`` (N) chips in ``nodes`` (M)
    nodes, ``per_node`` (k) of them in a node, priced as NCCL's tuner prices a ring across nodes (NVIDIA/nccl
    src/graph/tuning.cc ncclTopoTuneModel), the protocol of the least time chosen as :func:`choose` chooses:

        latency: baseLat + (nsteps - nInterSteps) x intraLat (x 1.8 for LL across nodes) + nInterSteps x interLat,
            nsteps 2(N - 1) for an all-reduce, N - 1 for the others; nInterSteps 2M for an all-reduce (a ring over
            M nodes crosses the network M times a loop, its wrap-around edge included, and an all-reduce runs two
            loops; at most its 2(N - 1) steps, with one chip a node), M - 1 for the others
            (:func:`inter_node_steps`: tuning.cc's ``2*nNodes`` / ``nNodes-1`` since its NVLS-era model, the 2.17
            line, whose constants this module uses; 2.8-2.12 booked 2(M - 1)); intraLat the node's NCCL
            hop (:data:`accelsim.hardware.NCCL_HOP_LATENCY_US`, the link's ``nccl.link``), interLat the
            scale-out network's ``latency`` (the preset's figure per crossing, as :func:`tree_across_nodes` pays it);
            + the node's link ``latency`` once where the ring has hops inside a node (k > 1), as on one node;
        bandwidth: :func:`node_bus_bandwidth` (the NICs, at most the node's NCCL rate) x the protocol's data
            fraction; LL at most :data:`LL_MAX_BUS_BANDWIDTH_NODES`; LL128 at most :data:`LL128_ONE_PER_NODE` of it
            with one chip a node; LL128 only over NVLink;
        bytes: each chip's :func:`wire_fraction` of the tensor, plus the ring's pipeline fill
            (:func:`ring_fill_bytes`).

    Every term is at least its one-node counterpart's over the node's chips (more steps, a crossing's latency above
    a hop's, a bus no faster), so a ring that leaves the node never beats one inside it. An interconnect without an
    ``nccl`` block (``collective: formula``) runs its formula's ring instead: (nsteps - nInterSteps) x the link's
    ``latency`` + nInterSteps x the network's + the bytes / :func:`node_bus_bandwidth`, no protocol."""
    so = ic.scale_out
    assert so is not None
    steps = 2 * (group - 1) if kind == "all_reduce" else group - 1
    inter = inter_node_steps(kind, nodes, group)
    wire = wire_fraction(kind, group) * nbytes
    bus = node_bus_bandwidth(ic, per_node)
    first = ic.latency if per_node > 1 else 0.0
    if ic.collective != "nccl" or ic.nccl is None:
        return Choice(first + (steps - inter) * ic.latency + inter * so.latency + wire / bus, "ring", "", wire)
    link = ic.nccl.link
    best: tuple[float, Choice] | None = None
    for proto, data in PROTOCOL_DATA_FRACTION.items():
        if proto == "LL128" and link != "nvlink":
            continue
        bw = bus * data
        if proto == "LL":
            bw = min(bw, LL_MAX_BUS_BANDWIDTH_NODES[nodes > 2])
        elif proto == "LL128" and per_node < 2:
            bw = min(bw, bus * LL128_ONE_PER_NODE)
        intra = NCCL_HOP_LATENCY_US[link]["ring", proto] * (1.8 if proto == "LL" else 1.0)
        lat = (NCCL_BASE_LATENCY_US["ring", proto] + (steps - inter) * intra) * 1e-6 + inter * so.latency
        booked = lat + first + wire / bw
        if best is None or booked < best[0]:
            best = (booked, Choice(booked + ring_fill_bytes(ic, proto, nbytes, group) / bw, "ring", proto, wire))
    assert best is not None
    return best[1]


def tree_across_nodes(ic: Interconnect, nbytes: int, per_node: int, nodes: int) -> Choice:
    """An all-reduce of ``nbytes`` across ``nodes`` nodes, ``per_node`` (k) of the group's chips in each, as NCCL's
    tree: a chain through each node's k chips and a double binary tree between the nodes (reduce up, broadcast
    down). Its time under each protocol is NCCL's tuning model for more than one node (NVIDIA/nccl
    src/graph/tuning.cc ncclTopoTuneModel, 2.20: tree latency baseLat + 2 x ((k - 1) x intraLat + log2(nodes) x
    interLat), intraLat the NVLink tree hop, x 1.8 for LL across nodes; tree bus bandwidth busBw x 0.92, then / 3.8
    (LL) or x 120/128 (LL128, more than one node); algbw = busBw / 2, times treeCorrectionFactor by size: 2 x size
    at the bus bandwidth; LL at most NCCL's multi-node llMaxBw, :data:`LL_MAX_BUS_BANDWIDTH_NODES`), the
    protocol of the least time chosen; LL128 only where the node's links are NVLink, as on one node. Here busBw is
    :func:`node_bus_bandwidth`: the NICs of a node's k chips, at most the node's own NCCL rate, and interLat the
    network's ``latency`` per crossing between nodes, the same figure the ring pays 2M times (an all-reduce)
    (tuning.cc's own hwLat NET tree figures, 5.0 / 8.5 / 14 us, are not used: one crossing costs what the preset
    says for the ring and the tree alike). log2 is rounded up (a tree over 3 nodes is 2 levels deep).

    The bytes a chip sends, counted edge by edge: NCCL's double binary tree (src/graph/trees.cc ncclGetDtree,
    built over the M nodes, half the channels on each tree) carries S/2 on each of its two trees, and each tree
    over M nodes has M − 1 edges, each crossed by S/2 up (the reduce) and S/2 down (the broadcast), so the M nodes
    send 2 (M − 1) S between them in all; over their M k chips' NICs that is ``off_node`` = 2 (M − 1) S / (M k) a
    chip (probe p238 #2: the ring's split was used; 2 DGX H100, k = 8: S/8), k = 1 included (probe p247 #2: it was
    2 S; M = 4: 1.5 S). The chain through a node's k chips has k − 1 edges on each tree, each crossed by S/2 up and
    S/2 down: 2 (k − 1) S a node, 2 (k − 1) S / k a chip, which stays on the node's links (:func:`node_hop_bytes`:
    ``wire_bytes`` − ``off_node``; none at k = 1; it was 2 S − ``off_node``). ``wire_bytes`` is their sum,
    2 (M k − 1) S / (M k), the N − 1 edges of a tree over all N = M k chips (it was 2 S)."""
    so = ic.scale_out
    assert so is not None
    link = ic.nccl.link if ic.nccl is not None else "nvlink"
    bus = node_bus_bandwidth(ic, per_node)
    depth = max(math.ceil(math.log2(max(nodes, 2))), 1)
    # the bytes a chip sends through its NIC: the nodes' 2 (M - 1) S over their M k chips, and along its node's
    # chain: 2 (k - 1) S over the k chips (the docstring)
    off = 2.0 * nbytes * (nodes - 1) / (nodes * per_node)
    wire = off + 2.0 * nbytes * (per_node - 1) / per_node
    best: Choice | None = None
    for proto, fraction in TREE_NET_BUS_FRACTION.items():
        if proto == "LL128" and link != "nvlink":
            continue
        intra = NCCL_HOP_LATENCY_US[link]["tree", proto] * (1.8 if proto == "LL" else 1.0)
        lat = NCCL_BASE_LATENCY_US["tree", proto] + 2 * ((per_node - 1) * intra) + 2 * depth * so.latency * 1e6
        tree_bw = bus * fraction
        if proto == "LL":
            tree_bw = min(tree_bw, LL_MAX_BUS_BANDWIDTH_NODES[nodes > 2])
        time = lat * 1e-6 + 2.0 * nbytes / (tree_bw * tree_correction(proto, nbytes))  # algbw = busBw / 2
        if best is None or time < best.seconds:
            best = Choice(time, "tree", proto, wire, off)
    assert best is not None
    return best


def nvls_tree_across_nodes(ic: Interconnect, nbytes: int, per_node: int, nodes: int) -> Choice:
    """An all-reduce of ``nbytes`` (S) across ``nodes`` (M) NVSwitch nodes whose switches reduce, ``per_node`` (k)
    of the group's chips in each, as NCCL's NVLS_TREE: NVLink SHARP reduces the buffer inside each node, a tree
    over the nodes' NICs (each of the k chips a head carrying 1/k of the buffer through its own NIC) reduces and
    broadcasts it between the nodes, and NVLS's multicast writes the sum back to every chip, in one pipeline
    (NVIDIA/nccl src/graph/tuning.cc ncclTopoTuneModel, 2.19-2.2x: ``if (a == NCCL_ALGO_NVLS_TREE) bw =
    std::min(graphs[a]->bwIntra, nNodes <= 2 ? graphs[a]->bwInter : graphs[a]->bwInter/2)``; latency ``baseLat``
    0 + ``intraLat + 2 * log2i(nNodes) * interLat``, hwLat NVLink NVLSTree Simple 25 us, the NVLS figure; Simple
    only; ``if (comm->nNodes == 1 ...) algoEnable[NCCL_ALGO_NVLS_TREE] = 0``: NCCL weighs it on every NVLS system
    of more than one node). Its time is

        NVLS's latency (:data:`NVLS_LATENCY_US`) + 2 x ceil(log2 M) x ``scale_out.latency`` (a crossing up and one
        down per tree level; rounded up as :func:`tree_across_nodes` rounds) + the link's ``latency`` once
        + max(the node's NVLS stage, the NICs' stage), the slower of the two pipelined stages:
          NVLS: (1 + 1/k) x S / (NCCL's bus bandwidth x NVLS's switch efficiency), a one-node NVLS call over the
            node's k chips (:func:`choose`'s ``nvls``);
          NICs: S / k through each chip's NIC, each way, on two nodes (one node sends its sum up the tree and takes
            the result back down); 2 S / k past two (a tree's inner node hears from two children: NCCL's bwInter/2)
            / (``scale_out.bandwidth`` x ``efficiency``).

    2 x DGX H100, 1 GiB: 25 + 40 + 8.92 us + max(1.125 x 2^30 / 306 GB/s = 3,947 us, 2^30 / 8 / 47 GB/s = 2,856
    us) = 4,021 us, where the ring takes 5,918. The ``wire_bytes`` are both stages' (the NVLink's (1 + 1/k) S and
    the NIC's), ``off_node`` the NIC's."""
    so = ic.scale_out
    assert so is not None and ic.nccl is not None
    inside = (1 + 1 / per_node) * nbytes
    off = nbytes / per_node * (1 if nodes <= 2 else 2)
    depth = max(math.ceil(math.log2(max(nodes, 2))), 1)
    latency = NVLS_LATENCY_US * 1e-6 + 2 * depth * so.latency + ic.latency
    nvls = inside / (bus_bandwidth_of(ic) * NVLS_EFFICIENCY[ic.nccl.generation])
    return Choice(latency + max(nvls, off / (so.bandwidth * so.efficiency)), "nvls_tree", "Simple", inside + off, off)


def choose(ic: Interconnect, kind: str, nbytes: int, group: int, *, algorithm: str | None = None,
           protocol: str | None = None, dtype: str | None = None) -> Choice:
    """The algorithm and protocol NCCL's tuner picks for one call (``collective: nccl``): the least latency +
    bytes / bandwidth, as tuning.cc ncclTopoGetAlgoTime prices it, then the call's time with the ring's pipeline
    fill, which the tuner does not see. ``algorithm`` / ``protocol`` force one, as NCCL_ALGO / NCCL_PROTO do
    (ValueError when none is left); ``dtype``, the elements' type, rules out NVLS where NVLS cannot reduce it
    (:data:`NVLS_DTYPES`: an int8 or fp8 all-reduce runs ring or tree)."""
    best: tuple[float, Choice] | None = None
    for algo, proto, lat, wire, fill, bw in _candidates(ic, kind, nbytes, group, dtype):
        if algo != (algorithm or algo) or proto != (protocol or proto):
            continue
        booked = lat + ic.latency + wire / bw
        if best is None or booked < best[0]:
            best = (booked, Choice(booked + fill / bw, algo, proto, wire))
    if best is None:
        raise ValueError(f"no {algorithm or 'algorithm'}/{protocol or 'protocol'} for {kind} on this interconnect")
    return best[1]


def custom(ic: Interconnect, nbytes: int, group: int) -> Choice | None:
    """vLLM's custom all-reduce of ``nbytes`` over ``group`` chips of one node (the module docstring), or None
    where vLLM runs NCCL's: a group size its kernel has no case for, a message of :data:`CUSTOM_MAX_BYTES` or
    more, chips not fully connected (:data:`CUSTOM_TOPOLOGIES`; vLLM also runs a pair of PCIe GPUs, which no
    preset is: a ring or torus is a TPU's ICI, whose collectives are XLA's). One-shot (``cross_device_reduce_1stage``) below
    :data:`CUSTOM_ONE_SHOT_BELOW`, and always for two chips: each chip reads the (n-1) peers' whole buffers;
    two-shot (``cross_device_reduce_2stage``) above: it reduces its 1/n of the buffer from every peer's, then
    gathers the other (n-1)/n from theirs. Either costs the link's latency once (the kernel's start barrier is
    one peer write per chip, start_sync: "Latency = 1 p2p write", then every read streams; assumption: the
    barriers' writes and the reads' round trips within that one latency, the presets giving no separate figure
    for a flag write) + its bytes / (:meth:`~accelsim.hardware.Interconnect.group_bandwidth` x ``efficiency``),
    the link's point-to-point rate."""
    if group not in CUSTOM_GROUPS or nbytes >= CUSTOM_MAX_BYTES or ic.topology not in CUSTOM_TOPOLOGIES:
        return None
    one_shot = group == 2 or any(group <= most and nbytes < below for most, below in CUSTOM_ONE_SHOT_BELOW)
    wire = (group - 1) * nbytes if one_shot else 2 * (group - 1) / group * nbytes
    return Choice(ic.latency + wire / (ic.group_bandwidth(group) * ic.efficiency),
                  "one_shot" if one_shot else "two_shot", "", wire)


def seconds(arch: Arch, kind: str, nbytes: int, group: int, extent: int | None = None,
            dtype: str | None = None) -> float:
    """Time of one ``kind`` collective of ``nbytes`` (per chip) over ``group`` chips of ``arch`` spread over
    ``extent`` consecutive chips (default ``group``)."""
    return call(arch, kind, nbytes, group, extent, dtype=dtype).seconds


def call(arch: Arch, kind: str, nbytes: int, group: int, extent: int | None = None,
         all_reduce: str = "nccl", dtype: str | None = None, fanout: tuple[int, ...] | None = None) -> Choice:
    """The call (seconds, the algorithm and protocol, bytes each chip sends) under the interconnect's
    ``collective`` mode: ``nccl``, the tuner's pick (:func:`choose`); ``formula``, the interconnect's ring or
    direct exchange (its ``topology``), no protocol; across nodes (``extent`` chips, default ``group``, more than
    a node holds) a ring on the scale-out network (:meth:`accelsim.hardware.ScaleOut.collective_seconds`), or for an
    all-reduce the faster of that, NCCL's tree (:func:`tree_across_nodes`) and, on NVSwitch nodes whose switches
    reduce ``dtype`` with 3 or more of the group's chips in each, NCCL's NVLS_TREE (:func:`nvls_tree_across_nodes`,
    probe p183 #1). With
    ``all_reduce`` "custom" (``options.all_reduce``) an all-reduce inside one node is vLLM's custom kernel where
    vLLM runs it (:func:`custom`). ``dtype``: the elements' type, which NCCL's choice of NVLS depends on (None:
    any; :func:`choose`). ``fanout`` (an MoE all-to-all that sends a token once per destination rank: the routing,
    :func:`fanout_nic_bytes`): across nodes its NIC sends a token once per remote node, and the node's links carry
    the whole message (the forwarded rows and the node's own), in the node's all-to-all over its chips (DeepEP's
    normal-mode internode dispatch, RDMA then NVLink)."""
    ic = arch.interconnect
    if kind not in KINDS:
        raise ValueError(f"unknown collective {kind!r}; known: {', '.join(KINDS)}")
    if all_reduce not in ALL_REDUCE_ALGORITHMS:
        raise ValueError(f"unknown all_reduce {all_reduce!r}; known: {', '.join(ALL_REDUCE_ALGORITHMS)}")
    if ic is None or group <= 1 or nbytes <= 0:
        return Choice(0.0, "none", "", 0.0)
    sent = wire_fraction(kind, group) * nbytes
    if kind == "send_recv":  # a point-to-point send at the link's rate, as a pipeline stage's; a ring that leaves a
        # node waits for its hops across nodes
        across = ic.scale_out is not None and ic.crosses_nodes(extent or group, group)
        return Choice((ic.scale_out if across else ic).send_seconds(nbytes), "p2p", "", sent)  # type: ignore[union-attr]
    if ic.scale_out is not None and ic.crosses_nodes(extent or group, group):
        per_node = ic.per_node(group, extent or group)
        if kind == "all_to_all":  # point-to-point sends (ScaleOut): those inside the node run beside the NIC's, an
            # all-to-all of the node's k/N share over its k chips, and the slower of the two is the call's
            if fanout is not None:  # a row per destination node on the NIC, then forwarded inside the node
                wide = fanout_nic_bytes(nbytes, fanout, group, check_fanout_nodes(ic, group, extent or group))
                nic = (group - per_node) / group * wide
                node = call(arch, kind, nbytes, per_node, None, all_reduce, dtype)
                seconds = ic.scale_out.collective_seconds(kind, wide, group, per_node)
                return Choice(max(seconds, node.seconds), "p2p", "", node.wire_bytes + nic, off_node=nic)
            seconds = ic.scale_out.collective_seconds(kind, nbytes, group, per_node)
            inside = call(arch, kind, nbytes * per_node // group, per_node, None, all_reduce, dtype).seconds
            return Choice(max(seconds, inside), "p2p", "", sent)
        nodes = ic.group_nodes(group, extent or group)
        ring = ring_across_nodes(ic, kind, nbytes, group, per_node, nodes)
        if kind != "all_reduce" or ic.collective != "nccl":  # NCCL's tree is NCCL's (probe p107 #1: a formula
            # interconnect, mi300x-8 as two nodes, got NVLink's 0.6 us hops and an LL protocol from it)
            return ring
        options = [ring, tree_across_nodes(ic, nbytes, per_node, nodes)]
        if per_node >= NVLS_MIN_CHIPS and has_nvls(ic, dtype):  # NVLS inside each node, a tree between them
            options.append(nvls_tree_across_nodes(ic, nbytes, per_node, nodes))
        return min(options, key=lambda c: c.seconds)  # the first of the least: a ring before a tie
    if kind == "all_reduce" and all_reduce == "custom" and (own := custom(ic, nbytes, group)) is not None:
        return own
    if ic.collective == "nccl":
        return choose(ic, kind, nbytes, group, dtype=dtype)
    algorithm = ic.topology if ic.topology in ("ring", "torus") else "direct"
    if kind == "all_to_all" and ic.topology == "ring":  # the pieces relayed round the ring, as the time counts them
        sent *= mean_ring_hops(group) / 2
    return Choice(ic.collective_seconds(kind, nbytes, group, extent), algorithm, "", sent)


def price(arch: Arch, kind: str, nbytes: int, group: int, extent: int | None = None,
          all_reduce: str = "nccl", dtype: str | None = None) -> tuple[int, float, int]:
    """(cycles, seconds, bytes each chip sends) of one ``kind`` collective of ``nbytes`` over ``group`` chips
    spread over ``extent`` consecutive chips (default ``group``; ``all_reduce``, ``dtype``: :func:`call`'s)."""
    c = call(arch, kind, nbytes, group, extent, all_reduce, dtype)
    return c.cycles(arch.clock_hz), c.seconds, c.sent


# a collective's input and output buffers by kind, as fractions of nccl-tests' size S on each chip of n: a
# reduce-scatter's input is S and its output S/n, an all-gather's the reverse (nccl-tests' size convention)
_IN_OUT = {"reduce_scatter": (1, 0), "all_gather": (0, 1)}  # (input, output): 1 the whole S, 0 S/n


def memory_traffic(c: Choice, kind: str, nbytes: int, group: int, elem_bytes: int) -> tuple[int, int]:
    """(bytes each chip of call ``c`` reads and writes in its main memory, the FLOPs of its share of the
    reduction) of a ``kind`` of ``nbytes`` (nccl-tests' size S) over ``group`` (n) chips of ``elem_bytes``
    elements; the call's time is its link task's alone (:func:`call`), these are for the energy (probe p66).

    A ring, tree or two-shot call (NCCL's ring: a reduce-scatter then an all-gather, 2(n-1) steps of S/n, its
    ``prims`` receiving each chunk into a FIFO in the receiver's device memory, which the receiver reads back to
    reduce it with its own chunk or copy it on; NVIDIA/nccl src/device/all_reduce.h ``runRing``): its input read
    once and its output written once, plus each byte it receives written into the FIFO by the sender and read back
    (2 x the bytes it receives, its link's ``wire_bytes``: 2(n-1)/n S for a ring all-reduce, 2 S for a tree's
    chain in one node, 2(n-1)/n S for NCCL's tree across nodes: :func:`tree_across_nodes`); a ring all-reduce of S: 2 S + 4(n-1)/n S (n = 8: 5.5 S). NVLS (NVLink SHARP): the switch reads each
    chip's input once (``multimem.ld_reduce``) and writes the sum to every chip (``multimem.st``): 2 S, no FIFO,
    and the switch adds. vLLM's one-shot: each of the n chips reads this chip's input (n S) and it writes its
    output (S). An all-to-all or send: its input read and its output written, plus the FIFO of what it receives.

    The reduction (all-reduce, reduce-scatter): each chip adds the n-1 chunks of S/n elements it receives, one
    FLOP an element: (n-1)/n x S / ``elem_bytes`` (on the switch under NVLS: 0; one-shot: (n-1) x S / elem).
    NVLS_TREE (``nvls_tree``, across nodes): NVLS's 2 S, plus the bytes its NIC receives (``off_node``) written
    into its buffer and read back; it adds the half that comes up the tree (off_node / 2 / elem) to its node's sum,
    the switch the rest."""
    n = group
    if c.algorithm == "none" or n <= 1 or nbytes <= 0:
        return 0, 0
    elems = nbytes // max(elem_bytes, 1)
    reduces = kind in ("all_reduce", "reduce_scatter")
    if c.algorithm == "nvls":
        return 2 * nbytes, 0
    if c.algorithm == "nvls_tree":  # NVLS's 2 S in the node, plus what the NIC receives written and read back; of
        # that, the half that comes up the tree is added to the node's sum, the half coming down is the result
        return math.floor(2 * nbytes + 2 * c.off_node), math.floor(c.off_node / 2 / max(elem_bytes, 1))
    if c.algorithm == "one_shot":
        return (n + 1) * nbytes, (n - 1) * elems if reduces else 0
    whole_in, whole_out = _IN_OUT.get(kind, (1, 1))
    moved = (nbytes if whole_in else nbytes / n) + (nbytes if whole_out else nbytes / n)
    received = c.wire_bytes if c.algorithm == "tree" else wire_fraction(kind, n) * nbytes
    return math.floor(moved + 2 * received), (n - 1) * elems // n if reduces else 0


def describe(c: Choice, kind: str, nbytes: int, group: int) -> dict:
    """What a report says of call ``c`` (:func:`call`), a ``kind`` of ``nbytes`` over ``group`` chips: the
    ``algorithm`` (and NCCL's ``protocol`` where the interconnect runs its tuner), the ``message_bytes``
    (nccl-tests' size) and nccl-tests' bus bandwidth (``bus_bandwidth``, bytes/s: size / time x the fraction each
    chip puts on the wire, 2(n-1)/n for an all-reduce, (n-1)/n for the others: :func:`bus_bandwidth`)."""
    out: dict = {"algorithm": c.algorithm, **({"protocol": c.protocol} if c.protocol else {}),
                 "message_bytes": nbytes}
    if c.seconds > 0:
        out["bus_bandwidth"] = bus_bandwidth(kind, nbytes, group, c.seconds)
    return out
