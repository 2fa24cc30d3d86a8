"""Probe p238 #2: NCCL's tree all-reduce across nodes put the ring's share of its bytes on the NICs (its Choice had
no ``off_node``, so ``node_hop_bytes`` took the ring's branch): 2 x DGX H100, TP 16, a 262,144 B all-reduce printed
nic_bytes 94,208 = the tree's 2 S - the ring's hops 1.875 x 7/8 x S, where NCCL's double binary tree sends S/8 a GPU
off the node. The NIC share is derived here from the tree's structure, not from the code's formula."""

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


@pytest.mark.parametrize("nodes", [2, 3, 4, 5, 8])
def test_the_trees_nic_bytes_are_the_double_binary_trees(nodes):
    arch = load_arch("dgx-a100").model_copy(update={"chips": 8 * nodes})
    ic = arch.interconnect
    size, k = 262_144, 8
    c = collective.tree_across_nodes(ic, size, k, nodes)
    assert c.algorithm == "tree" and c.wire_bytes == 2 * size  # each chip's 2 S, as before
    # the nodes' off-node bytes spread over their nodes x k chips' NICs: 2 (M - 1) S / (M k)
    assert c.off_node == pytest.approx(_off_node_bytes_by_tree(size, nodes) / (nodes * k), rel=1e-12)
    assert _off_node_bytes_by_tree(size, nodes) == 2 * (nodes - 1) * size
    # the rest of the chip's 2 S, the chain's hops inside its node, stays on the node's links
    assert collective.node_hop_bytes("all_reduce", size, 8 * nodes, k, c) == pytest.approx(2 * size - c.off_node)


def test_one_chip_a_node_sends_all_of_its_bytes_through_its_nic():
    arch = load_arch("dgx-a100").model_copy(update={"chips": 16})
    c = collective.tree_across_nodes(arch.interconnect, 1024, 1, 2)
    assert c.off_node == c.wire_bytes == 2048  # no chain inside a node: no hops on the node's links
    assert collective.node_hop_bytes("all_reduce", 1024, 2, 1, c) == 0


def test_probe_p238_two_dgx_h100_tp16_all_reduce_sends_s_over_8_through_the_nic():
    # the probe's call: llama2_70b decode, batch 16, hidden 8192, bf16: 16 x 8192 x 2 = 262,144 B over 16 GPUs of 2
    # nodes; NCCL's tuner picks the tree (latency-bound). Double binary tree over 2 nodes: in tree 0 node B sends
    # S/2 up and node A S/2 down, tree 1 the mirror, so each node sends S off the node, S/8 = 32,768 B for each of
    # its 8 GPUs (was 94,208 = 2 S - 1.875 x 7/8 x S)
    size = 262_144
    r = simulate({"model": "collective", "op": "all_reduce", "bytes": size},
                 {"base": "dgx-h100", "chips": 16}).to_dict()
    (op,) = r["ops"]
    assert op["mapping"]["algorithm"] == "tree"
    assert op["bytes"]["link"] == 2 * size
    assert op["mapping"]["nic_bytes"] == size // 8 == 32_768
    by = r["energy"]["by_level"]
    # dgx-h100: scale_out.energy_per_bit 103 pJ; NVLink's 1.3 pJ, a byte inside the node crossing 2 NVLinks (into the
    # NVSwitch and out of it); by_level is one chip's
    assert by["nic"] == pytest.approx(32_768 * 8 * 103e-12)
    assert by["link"] == pytest.approx((2 * size - 32_768) * 2 * 8 * 1.3e-12)
