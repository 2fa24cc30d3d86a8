"""A SpMM or attention-logit backward priced as its forward (probe p88 #6's leftovers). Every expected number is a
hand calculation written out here from Cora's size (2,708 nodes, 10,556 directed edges: PyG's Planetoid docs),
PyG's GCNConv / GATConv and the tpu-v4 preset's vector lanes, read from the preset, not assumed."""

from __future__ import annotations

import math

import accelsim
from accelsim.config import load_arch


def _op(report: dict, name: str) -> dict:
    return next(o for o in report["ops"] if o["name"] == name)


def test_an_arch_price_of_spmm_carries_to_its_backward():
    # p88 #6's leftover: --set arch.core.vector.cycles_per_element.spmm=1 priced the forward at 1 lane-cycle a
    # gathered element but left spmm_grad (dX = Aᵀ·dY, the same scale and accumulate) at the built-in 2
    base = load_arch("tpu-v4")
    arch = load_arch("tpu-v4", ["core.vector.cycles_per_element.spmm=1"])
    assert base.core.vector.cost("spmm_grad") == base.core.vector.cost("spmm") == 2.0
    assert arch.core.vector.cost("spmm_grad") == arch.core.vector.cost("spmm") == 1.0
    # an arch pricing the backward itself keeps its own value
    own = load_arch("tpu-v4", ["core.vector.cycles_per_element.spmm=1", "core.vector.cycles_per_element.spmm_grad=3"])
    assert own.core.vector.cost("spmm_grad") == 3.0
    # GCN on Cora in training: conv1 aggregates E' = 10,556 + 2,708 = 13,264 rows of 16 features:
    # 13,264 × 16 × 1 / 2,048 lanes (tpu-v4's 8 x 128 x 2 ALUs: probe p267 #1; 1,024 and 208 cycles before) =
    # 103.6 → 104 cycles, forward and backward alike
    e, lanes = 10_556 + 2_708, arch.core.vector.lanes
    r = accelsim.simulate({"model": "gcn_cora", "mode": "training"}, arch).to_dict()
    cycles = math.ceil(e * 16 * 1 / lanes)
    assert lanes == 2048 and cycles == 104
    assert _op(r, "conv1.propagate")["compute_cycles"] == _op(r, "conv1.propagate.grad_input0")["compute_cycles"] \
        == cycles


def test_attention_logit_backward_is_priced_as_its_forward():
    # GAT's alpha_src / alpha_dst ((x · att).sum(-1): a multiply-add per element of x, 2 lane-cycles) had
    # backward ops at "default" 1: the weight gradient Σ_nodes dY·x is the same multiply-add. Cora's conv1: 2,708
    # nodes × 8 heads × 8 = 173,312 elements × 2 / 2,048 lanes = 169.25 → 170 cycles, forward and backward (tpu-v4's
    # 2,048 lanes, 8 x 128 x 2 ALUs: probe p267 #1; 1,024 lanes and 339 cycles before)
    vector = load_arch("tpu-v4").core.vector
    assert vector.cost("att_dot_grad") == vector.cost("att_dot") == 2.0
    r = accelsim.simulate({"model": "gat_cora", "mode": "training"}, "tpu-v4").to_dict()
    cycles = math.ceil(2708 * 8 * 8 * 2 / vector.lanes)
    assert vector.lanes == 2048 and cycles == 170
    for side in ("src", "dst"):
        for op in (f"conv1.alpha_{side}", f"conv1.alpha_{side}.grad_input", f"conv1.alpha_{side}.grad_weight"):
            assert _op(r, op)["compute_cycles"] == cycles, op
