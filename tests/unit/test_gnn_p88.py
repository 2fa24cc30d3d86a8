"""Probe p88's GNN and DLRM findings. Every expected number is a hand calculation written out here from Cora's
published size (2,708 nodes, 10,556 directed edges: PyG's Planetoid docs), PyG's layer definitions and the tpu-v4
preset's vector unit (its lanes read from the preset, not assumed)."""

from __future__ import annotations

import math

import accelsim
from accelsim.config import load_arch

CORA_NODES, CORA_EDGES = 2708, 10556


def _op(report: dict, name: str) -> dict:
    return next(o for o in report["ops"] if o["name"] == name)


def test_spmm_backward_costs_the_forwards_lane_cycles_per_gathered_element():
    # probe p88 #6: dX = Aᵀ·dY scales and accumulates over the same nonzeros as the forward A·X (equal MACs and
    # FLOPs), but "spmm_grad" had no entry in the vector cost table and took "default" (1 lane-cycle), half the
    # forward's "spmm" (2: a multiply by the edge weight and an add)
    vector = load_arch("tpu-v4").core.vector
    assert vector.cost("spmm_grad") == vector.cost("spmm") == 2.0
    e = CORA_EDGES + CORA_NODES  # E' = edges + a self-loop per node (GCNConv's add_self_loops) = 13,264
    r = accelsim.simulate({"model": "gcn_cora", "mode": "training"}, "tpu-v4").to_dict()
    # conv1 aggregates hidden 16 features, conv2 the 7 classes: E'·F gathered elements at 2 lane-cycles each over
    # tpu-v4's 2,048 lanes (8 x 128 x 2 ALUs: probe p267 #1; at 1,024 before, 415 and 182): 13,264·16·2 / 2,048 =
    # 207.25 → 208; 13,264·7·2 / 2,048 = 90.7 → 91
    assert vector.lanes == 2048
    for conv, width, cycles in (("conv1", 16, 208), ("conv2", 7, 91)):
        fwd, bwd = _op(r, f"{conv}.propagate"), _op(r, f"{conv}.propagate.grad_input0")
        assert bwd["macs"] == fwd["macs"] == e * width and bwd["flops"] == fwd["flops"] == 2 * e * width
        assert bwd["compute_cycles"] == fwd["compute_cycles"] == math.ceil(e * width * 2 / vector.lanes) == cycles


def test_sampled_node_ids_are_int64_whatever_the_feature_dtype():
    # probe p88 #5: GraphSAGE's n_id (PyG's sampled node ids, torch.long) was n elements of the gather's dtype, 1 / 2
    # / 4 B an id in int8 / bf16 / fp32; it is 8 B an id, as the GNN edge indices and the DLRM ids. One sampled
    # mini-batch: 1024 seeds, fanouts [15, 10, 5], NeighborSampler (each hop samples every node gathered so far,
    # probe p136 #1) → 1024·16·11·6 = 1,081,344 ids, 8,650,752 B
    n = 1024 * (1 + 15) * (1 + 10) * (1 + 5)
    assert n == 1_081_344
    for feature_dtype, model_dtype, width in (("bf16", "bf16", 2), ("fp32", "fp32", 4), ("int8", "bf16", 1)):
        r = accelsim.simulate({"model": "graphsage_products", "feature_dtype": feature_dtype, "dtype": model_dtype,
                               "features_on": "host"},
                              "tpu-v4").to_dict()
        # the host gathers with the ids (probe p88 #4: the packed copy), so the device copies in only the (n, 100)
        # rows, written to its main memory (the ids, int64, n × 8 B: tests/unit/test_gnn_sage_copy.py)
        assert _op(r, "sample.copy_features")["bytes"]["hbm"] == n * 100 * width
