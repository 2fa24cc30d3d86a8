"""Probe p238 #2: NCCL's tree all-reduce across nodes put the ring's share of its bytes on the NICs (its Choice had
no ``off_node``, so ``node_hop_bytes`` took the ring's branch): 2 x DGX H100, TP 16, a 262,144 B all-reduce printed
nic_bytes 94,208 = the tree's 2 S - the ring's hops 1.875 x 7/8 x S, where NCCL's double binary tree sends S/8 a GPU
off the node. The NIC share is derived here from the tree's structure, not from the code's formula.

Probe p247 #2: with one of the group's chips a node (k = 1) the NIC share was 2 S, the bus-bandwidth convention,
where the same edge count gives 2 (M - 1) S / M (M = 4: 1.5 S); and the bytes kept on the node's links were 2 S less
the NIC's, where the chain through a node's k chips carries 2 (k - 1) S / k a chip. The tests now count both from
the trees' edges: a chip's wire bytes are the two shares' sum, 2 (N - 1) S / N over N = M k chips (was 2 S)."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import load_arch
from accelsim.cost import collective


def _btree_parent(rank: int, n: int) -> int:
    """The parent of ``rank`` in NCCL's binary tree over ``n`` ranks (src/graph/trees.cc ncclGetBtree, written out
    from its comment: root 0; a rank's lowest set bit b, its parent (rank ^ b) | 2b, or rank ^ b past the end)."""
    if rank == 0:
        return -1
    bit = rank & -rank
    up = (rank ^ bit) | (bit << 1)
    return up if up < n else rank ^ bit


def _off_node_bytes_by_tree(size: float, nodes: int) -> float:
    """Bytes the ``nodes`` nodes send between them in all, counted edge by edge on NCCL's double binary tree: tree 0
    the binary tree, tree 1 its mirror (rank r -> n - 1 - r; trees.cc ncclGetDtree mirrors for an even count, shifts
    by one for an odd one: a relabelling either way); each tree carries half the buffer (half the channels each).
    In the reduce each non-root node sends its half to its parent; in the broadcast each parent sends it to each
    child: every edge is crossed once each way by size / 2."""
    total = 0.0
    for tree in (0, 1):
        def parent(r: int, tree: int = tree) -> int:
            if tree == 0:
                return _btree_parent(r, nodes)
            p = _btree_parent(nodes - 1 - r, nodes)
            return -1 if p < 0 else nodes - 1 - p
        edges = 0
        for r in range(nodes):
            x, steps = r, 0  # following parents reaches the root: a tree spanning the nodes
            while parent(x) >= 0:
                x, steps = parent(x), steps + 1
                assert steps < nodes
            edges += parent(r) >= 0
        total += edges * 2 * (size / 2)  # each edge: size / 2 up in the reduce, size / 2 down in the broadcast
    return total


def _chain_bytes(size: float, nodes: int, k: int) -> float:
    """Bytes the chips send to chips of their own node in all: on each of the two trees every node's k chips form a
    chain (NCCL's intra-node tree pattern: the node's head receives from the tree above and passes down its k - 1
    chain edges), each edge crossed by size / 2 up and size / 2 down."""
    total = 0.0
    for _tree in (0, 1):
        for _node in range(nodes):
            chain = list(range(k))  # the node's chips, head first
            edges = len(chain) - 1  # chip i passes to chip i + 1
            total += edges * 2 * (size / 2)
    return total


@pytest.mark.parametrize("k", [1, 2, 8])
@pytest.mark.parametrize("nodes", [2, 3, 4, 5, 8])
def test_the_trees_nic_bytes_are_the_double_binary_trees(nodes, k):
    arch = load_arch("dgx-a100").model_copy(update={"chips": 8 * nodes})
    ic = arch.interconnect
    size = 262_144
    c = collective.tree_across_nodes(ic, size, k, nodes)
    chips = nodes * k
    assert c.algorithm == "tree"
    # the nodes' off-node bytes spread over their nodes x k chips' NICs: 2 (M - 1) S / (M k), k = 1 included
    assert _off_node_bytes_by_tree(size, nodes) == 2 * (nodes - 1) * size
    assert c.off_node == pytest.approx(_off_node_bytes_by_tree(size, nodes) / chips, rel=1e-12)
    # the chain's hops inside each node stay on the node's links: 2 (k - 1) S / k a chip (was 2 S - the NIC's)
    assert _chain_bytes(size, nodes, k) == 2 * nodes * (k - 1) * size
    hops = collective.node_hop_bytes("all_reduce", size, chips, k, c)
    assert hops == pytest.approx(_chain_bytes(size, nodes, k) / chips, rel=1e-12)
    # a chip's wire bytes are both: the N - 1 edges of one tree over all N chips, 2 (N - 1) S / N (was 2 S)
    assert c.wire_bytes == pytest.approx(2 * (chips - 1) * size / chips, rel=1e-12)


def test_one_chip_a_node_sends_all_of_its_bytes_through_its_nic():
    # probe p247 #2: 2 nodes of one chip each. Tree 0: node B sends S/2 up, node A S/2 down; tree 1 the mirror: each
    # chip sends S through its NIC, 2 (M - 1) S / M = S (was 2 S), and nothing over the node's links
    arch = load_arch("dgx-a100").model_copy(update={"chips": 16})
    c = collective.tree_across_nodes(arch.interconnect, 1024, 1, 2)
    assert c.off_node == c.wire_bytes == 1024
    assert collective.node_hop_bytes("all_reduce", 1024, 2, 1, c) == 0


def test_probe_p247_dp_group_of_one_chip_a_node_on_four_dgx_h100():
    # the probe's call: a 4,096 B all-reduce over 4 chips, one in each of 4 DGX H100 nodes (a DP group {0, 8, 16, 24}
    # at TP 8 on 32 chips); NCCL's tuner picks the tree (latency-bound). The double binary tree over 4 nodes: 3
    # edges a tree, each crossed by S/2 up and S/2 down, two trees: 6 S over 4 chips = 1.5 S = 6,144 B a chip (was
    # 8,192 = 2 S), the ring's 2 (n - 1) / n S too
    arch = load_arch("dgx-h100").model_copy(update={"chips": 32})
    c = collective.tree_across_nodes(arch.interconnect, 4096, 1, 4)
    assert c.algorithm == "tree"
    assert c.off_node == c.wire_bytes == 2 * 3 * 4096 / 4 == 6144


def test_probe_p238_two_dgx_h100_tp16_all_reduce_sends_s_over_8_through_the_nic():
    # the probe's call: llama2_70b decode, batch 16, hidden 8192, bf16: 16 x 8192 x 2 = 262,144 B over 16 GPUs of 2
    # nodes; NCCL's tuner picks the tree (latency-bound). Double binary tree over 2 nodes: in tree 0 node B sends
    # S/2 up and node A S/2 down, tree 1 the mirror, so each node sends S off the node, S/8 = 32,768 B for each of
    # its 8 GPUs (was 94,208 = 2 S - 1.875 x 7/8 x S). Each node's chain of 8 GPUs: 7 edges a tree, S/2 each way,
    # two trees: 14 S a node, 1.75 S = 458,752 B a GPU on the NVLinks (probe p247 #2: was 2 S - S/8 = 1.875 S);
    # the link's bytes 1.875 S = 491,520 (was 2 S), 2 (16 - 1) / 16 S
    size = 262_144
    r = simulate({"model": "collective", "op": "all_reduce", "bytes": size},
                 {"base": "dgx-h100", "chips": 16}).to_dict()
    (op,) = r["ops"]
    assert op["mapping"]["algorithm"] == "tree"
    assert op["bytes"]["link"] == 2 * 15 * size // 16 == 491_520
    assert op["mapping"]["nic_bytes"] == size // 8 == 32_768
    # its main memory (collective.memory_traffic): input read and output written, 2 S, + each byte it receives
    # written into the FIFO and read back, 2 x 1.875 S: 5.75 S = 1,507,328 B (was 6 S with the 2 S wire)
    assert op["bytes"]["hbm"] == 2 * size + 2 * (2 * 15 * size // 16) == 1_507_328
    by = r["energy"]["by_level"]
    # dgx-h100: scale_out.energy_per_bit 103 pJ; NVLink's 1.3 pJ, a byte inside the node crossing 2 NVLinks (into the
    # NVSwitch and out of it); by_level is one chip's
    assert by["nic"] == pytest.approx(32_768 * 8 * 103e-12)
    assert by["link"] == pytest.approx(2 * 7 * size / 8 * 2 * 8 * 1.3e-12)
