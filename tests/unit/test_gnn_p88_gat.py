"""Probe p88 #1 (GAT's aggregation priced twice GCN's). Every expected number is a hand calculation written out here
from Cora's published size (2,708 nodes, 10,556 directed edges: PyG's Planetoid docs), PyG's layer definitions and
the tpu-v4 preset's vector unit (1,024 lanes, read from the preset, not assumed)."""

from __future__ import annotations

import math

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch

CORA_NODES, CORA_EDGES = 2708, 10556


def _op(report: dict, name: str) -> dict:
    return next(o for o in report["ops"] if o["name"] == name)


def test_gat_aggregation_costs_the_lane_cycles_of_gcns_for_the_same_gathered_elements():
    # probe p88 #1: GAT's propagate declared 2·E'·F vector elements at fn "spmm", whose 2 lane-cycles an element
    # already price the multiply and the add, so it cost 4 lane-cycles a gathered element to GCN's 2
    arch = load_arch("tpu-v4")
    lanes, per = arch.core.vector.lanes, arch.core.vector.cost("spmm")
    e = CORA_EDGES + CORA_NODES  # E' = edges + one self-loop per node (add_self_loops=True) = 13,264
    assert e == 13_264
    # one head of 16 (GAT) against GCN's hidden 16: the same E'·16 = 212,224 multiply-adds each
    gcn = accelsim.simulate({"model": "gcn_cora", "hidden": 16}, "tpu-v4").to_dict()
    gat = accelsim.simulate({"model": "gat_cora", "hidden": 16, "heads": 1}, "tpu-v4").to_dict()
    for r in (gcn, gat):
        op = _op(r, "conv1.propagate")
        assert op["macs"] == e * 16 == 212_224 and op["flops"] == 2 * e * 16
        assert op["mapping"]["elements"] == e * 16
        # 212,224 × 2 / 2,048 = 207.25 (tpu-v4's 2,048 lanes, 8 x 128 x 2 ALUs: probe p267 #1; / 1,024 = 414.5 → 415
        # before)
        assert op["compute_cycles"] == math.ceil(e * 16 * per / lanes) == 208
    # the default GAT: 8 heads of 8 (F = 64) in conv1, one head of 7 in conv2
    g = build_workload("gat_cora", {})
    assert g["conv1.propagate"].vector_elems == e * 64 == 848_896
    assert g["conv2.propagate"].vector_elems == e * 7 == 92_848
    r = accelsim.simulate("gat_cora", "tpu-v4").to_dict()
    assert _op(r, "conv1.propagate")["compute_cycles"] == math.ceil(848_896 * 2 / 2048) == 829  # 1,658 at 1,024
