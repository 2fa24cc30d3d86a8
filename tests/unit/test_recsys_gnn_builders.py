"""Recommendation and GNN builders: DLRM (MLPerf), embedding bag, GCN and GAT (PyG) against published figures and
hand calculations.

Every expected number is a published figure (cited) or a hand calculation in a comment.
"""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.ir import Gemm, OpKind, Weight

ROOT = Path(__file__).resolve().parents[2]

# The 26 Criteo Terabyte table sizes with --max-ind-range=40000000 (MLPerf DLRM v1), as facebookresearch/dlrm's
# tools/visualize.py lists them for "Criteo Terabyte MLPerf training" (m_spa=128, ln_bot 13-512-256-128, ln_top
# 479-1024-1024-512-256-1), and as mlcommons/inference's DLRM --arch-embedding-size and NVIDIA HugeCTR's
# slot_size_array give them. Every count is under the 40M cap (the reference maps x → min(x, max_ind_range)).
CRITEO_TB_40M = [39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10, 2208, 11938,
                 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36]


def _graph(name: str, **params: object):
    return build_workload(name, params)


def _ops(g, kind: OpKind):
    return [op for op in g if op.kind is kind]


def _mlp_params(widths: list[int]) -> int:
    return sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))


# ---- DLRM (MLPerf v1, Criteo Terabyte) -----------------------------------------------------------------------
def test_dlrm_params_by_hand():
    assert len(CRITEO_TB_40M) == 26 and max(CRITEO_TB_40M) < 40_000_000
    rows = 39884406 + 39043 + 17289 + 7420 + 20263 + 3 + 7120 + 1543 + 63 + 38532951 + 2953546 + 403346 + 10 \
        + 2208 + 11938 + 155 + 4 + 976 + 14 + 39979771 + 25641295 + 39664984 + 585935 + 12972 + 108 + 36
    assert rows == sum(CRITEO_TB_40M) == 187_767_399
    tables = rows * 128  # 24,034,227,072
    bottom = 13 * 512 + 512 + 512 * 256 + 256 + 256 * 128 + 128  # 171,392
    top = 479 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 512 + 512 + 512 * 256 + 256 + 256 * 1 + 1  # 2,197,505
    assert tables + bottom + top == 24_036_595_969
    g = _graph("dlrm_mlperf")
    assert g.params == 24_036_595_969
    # "about 24 G parameters: ~96 GB in fp32": 24,036,595,969 · 4 B = 96,146,383,876 B
    assert g.params == pytest.approx(24e9, rel=0.002)
    assert _graph("dlrm_mlperf", dtype="fp32").weight_bytes == 24_036_595_969 * 4
    assert [op.weights[0].shape for op in _ops(g, OpKind.EMBEDDING)] == [(r, 128) for r in CRITEO_TB_40M]


def test_dlrm_macs_by_hand():
    b = 2048
    bottom = b * (13 * 512 + 512 * 256 + 256 * 128)
    interaction = b * 27 * 27 * 128  # Z = X·Xᵀ over the full 27×27 (no triangle discount)
    top = b * (479 * 1024 + 1024 * 1024 + 1024 * 512 + 512 * 256 + 256 * 1)
    assert _graph("dlrm_mlperf").macs == bottom + interaction + top


def test_dlrm_embedding_ops_follow_the_convention():
    g = _graph("dlrm_mlperf", batch=64, pooling=3, access="zipf", zipf_alpha=1.2)
    embs = _ops(g, OpKind.EMBEDDING)
    assert [op.name for op in embs] == [f"emb.{t}" for t in range(26)]
    for t, op in enumerate(embs):
        assert op.weights == (Weight(f"emb.{t}.weight", (CRITEO_TB_40M[t], 128)),)
        # int64 ids (torch.nn.EmbeddingBag's and facebookresearch/dlrm's torch.long lS_i / lS_o) in fp16 elements:
        # 64 · 3 ids × 8 B = 1,536 B = 768 fp16 elements; 65 offsets × 8 B = 520 B = 260 elements
        assert op.inputs == (f"indices.{t}", f"offsets.{t}")
        assert g.inputs[f"indices.{t}"] == (768,) and g.inputs[f"offsets.{t}"] == (260,)
        assert op.out_shape == (64, 128)
        # sparse_grad: facebookresearch/dlrm's tables are nn.EmbeddingBag(n, m, mode="sum", sparse=True)
        assert dict(op.attrs) == {"fn": "embedding_bag", "gather_rows": 64 * 3, "pooling": 3, "access": "zipf",
                                  "zipf_alpha": 1.2, "sparse_grad": True}
        assert op.vector_elems == 64 * 3 * 128  # every gathered element is read and summed
        assert op.flops == 64 * (3 - 1) * 128  # pooling − 1 adds per output element
        assert op.macs == 0
    assert g.inputs["dense"] == (64, 13)


def test_dlrm_one_hot_pooling_has_no_adds():
    op = _graph("dlrm_mlperf")["emb.0"]
    assert op.attrs["gather_rows"] == 2048 and op.attrs["access"] == "uniform" and op.attrs["zipf_alpha"] == 1.05
    assert op.flops == 0 and op.vector_elems == 2048 * 128


def test_dlrm_dot_interaction():
    g = _graph("dlrm_mlperf", batch=8)
    stack, bmm, tril, cat = g["interact.stack"], g["interact.bmm"], g["interact.tril"], g["interact.cat"]
    assert stack.kind is OpKind.CONCAT and stack.out_shape == (8, 27, 128)
    assert stack.inputs == ("bot_l.5", *(f"emb.{t}" for t in range(26)))  # bottom output first, as the reference
    assert bmm.kind is OpKind.MATMUL and bmm.gemm == Gemm(m=27, n=27, k=128, count=8)
    assert bmm.inputs == ("interact.stack", "interact.stack") and bmm.out_shape == (8, 27, 27)
    assert tril.kind is OpKind.RESHAPE and tril.out_shape == (8, 27 * 26 // 2)  # 351 pairs without the diagonal
    assert cat.kind is OpKind.CONCAT and cat.inputs == ("bot_l.5", "interact.tril")
    assert cat.out_shape == (8, 128 + 351)  # 479
    assert g["top_l.0"].gemm == Gemm(m=8, n=1024, k=479)


def test_dlrm_mlps():
    g = _graph("dlrm_mlperf", batch=4)
    linears = _ops(g, OpKind.LINEAR)
    # bottom 13-512-256-128, top 479-1024-1024-512-256-1, each a LINEAR with bias
    assert [(op.gemm.k, op.gemm.n) for op in linears] == [
        (13, 512), (512, 256), (256, 128), (479, 1024), (1024, 1024), (1024, 512), (512, 256), (256, 1)]
    assert g["bot_l.0"].inputs == ("dense",)
    acts = [op.fn for op in _ops(g, OpKind.ACTIVATION)]
    assert acts == ["relu"] * 7 + ["sigmoid"]
    assert g.ops[-1].fn == "sigmoid" and g.ops[-1].out_shape == (4, 1)


def test_dlrm_tables_and_dim_override():
    g = _graph("dlrm_mlperf", batch=2, tables=[10, 20, 30], dim=16)
    assert len(_ops(g, OpKind.EMBEDDING)) == 3
    # 4 vectors of 16: 6 pairs; top MLP input 16 + 6 = 22
    assert g["interact.stack"].out_shape == (2, 4, 16) and g["interact.cat"].out_shape == (2, 22)
    tables = (10 + 20 + 30) * 16
    assert g.params == tables + _mlp_params([13, 512, 256, 16]) + _mlp_params([22, 1024, 1024, 512, 256, 1])


@pytest.mark.parametrize(("params", "loc"), [
    ({"pooling": 0}, ("pooling",)),
    ({"tables": []}, ("tables",)),
    ({"tables": [5, 0]}, ("tables", 1)),
    ({"dim": 0}, ("dim",)),
    ({"zipf_alpha": 0}, ("zipf_alpha",)),
    ({"zipf_alpha": -1.5}, ("zipf_alpha",)),
    ({"access": "hot"}, ("access",)),
])
def test_dlrm_validation_names_the_key(params, loc):
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("dlrm_mlperf", params)
    assert [e["loc"] for e in info.value.errors()] == [loc]


# ---- embedding_bag micro-workload ----------------------------------------------------------------------------
def test_embedding_bag_micro():
    g = _graph("embedding_bag")
    (op,) = g.ops
    assert op.kind is OpKind.EMBEDDING and op.fn == "embedding_bag"
    assert op.weights[0].shape == (1_000_000, 128) and g.params == 128_000_000
    # 2,048 · 20 int64 ids = 327,680 B = 163,840 fp16 elements; 2,049 int64 offsets = 16,392 B = 8,196 elements
    assert g.inputs == {"input": (163_840,), "offsets": (8_196,)} and op.out_shape == (2048, 128)
    assert op.inputs == ("input", "offsets")
    assert op.attrs["gather_rows"] == 2048 * 20 and op.attrs["pooling"] == 20
    assert op.vector_elems == 2048 * 20 * 128 and op.flops == 2048 * 19 * 128 and op.macs == 0


def test_embedding_bag_zipf_and_validation():
    op = _graph("embedding_bag", rows=1000, dim=8, pooling=2, batch=3, access="zipf", zipf_alpha=0.8).ops[0]
    assert op.attrs["access"] == "zipf" and op.attrs["zipf_alpha"] == 0.8 and op.attrs["gather_rows"] == 6
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("embedding_bag", {"rows": 0})
    assert [e["loc"] for e in info.value.errors()] == [("rows",)]


# ---- GNNs (PyG) ----------------------------------------------------------------------------------------------
CORA_NODES, CORA_EDGES = 2708, 10556  # Planetoid Cora: 2,708 nodes, 10,556 directed edges, 1,433 features, 7 classes
CORA_NEIGHBOURS = CORA_EDGES + CORA_NODES  # 13,264 rows per aggregation with self-loops


def test_gcn_params():
    # PyG GCNConv: lin.weight (out, in) without bias + bias (out,). Kipf & Welling's Cora GCN (hidden 16): 23,063
    assert 1433 * 16 + 16 + 16 * 7 + 7 == 23_063
    g = _graph("gcn_cora")
    assert g.params == 23_063
    assert {w.name: w.shape for op in g for w in op.weights} == {
        "conv1.lin.weight": (16, 1433), "conv1.bias": (16,), "conv2.lin.weight": (7, 16), "conv2.bias": (7,)}
    assert g.ops[-1].out_shape == (2708, 7)


def test_gat_params():
    # PyG GATConv(1433, 8, heads=8): lin (64, 1433), att_src/att_dst (1, 8, 8), bias (64,);
    # GATConv(64, 7, heads=1, concat=False): lin (7, 64), att_src/att_dst (1, 1, 7), bias (7,). 92,373 params
    assert 1433 * 64 + 2 * 64 + 64 + 64 * 7 + 2 * 7 + 7 == 92_373
    g = _graph("gat_cora")
    assert g.params == 92_373
    shapes = {w.name: w.shape for op in g for w in op.weights}
    assert shapes["conv1.att_src"] == shapes["conv1.att_dst"] == (1, 8, 8) and shapes["conv1.bias"] == (64,)
    assert shapes["conv2.att_src"] == (1, 1, 7) and shapes["conv2.bias"] == (7,)
    assert g.ops[-1].out_shape == (2708, 7)


def test_gcn_ops():
    g = _graph("gcn_cora")
    lin1, lin2 = _ops(g, OpKind.LINEAR)
    assert lin1.gemm == Gemm(m=2708, n=16, k=1433) and lin2.gemm == Gemm(m=2708, n=7, k=16)
    assert lin1.attrs["bias"] is False
    # MACs: the two dense transforms and, in each aggregation, one multiply-add (edge weight × feature) per
    # gathered element: 13,264 rows (10,556 edges + 2,708 self-loops) of 16, then of 7 features
    assert g.macs == 2708 * 1433 * 16 + 2708 * 16 * 7 + 13_264 * 16 + 13_264 * 7 == 62_697_392
    spmm1, spmm2 = _ops(g, OpKind.SPMM)
    # the CSR adjacency with self-loops both layers read (torch_sparse SparseTensor): rowptr 2,709 × 8 B + 13,264
    # nonzeros × (8 B col + 2 B fp16 value) = 21,672 + 132,640 = 154,312 B = 77,156 fp16 elements
    assert g.inputs["adj_t"] == (77_156,)
    for op, f in ((spmm1, 16), (spmm2, 7)):
        assert op.fn == "spmm" and op.inputs == (lin1.name if f == 16 else lin2.name, "adj_t")
        assert op.attrs["gather_rows"] == CORA_NEIGHBOURS and op.attrs["row_elems"] == f
        assert op.vector_elems == CORA_NEIGHBOURS * f and op.flops == 2 * CORA_NEIGHBOURS * f
        assert op.out_shape == (2708, f) and op.macs == CORA_NEIGHBOURS * f
    bias = g["conv1.add_bias"]
    assert bias.kind is OpKind.ELEMENTWISE and bias.fn == "add" and bias.weights == (Weight("conv1.bias", (16,)),)
    assert [op.fn for op in _ops(g, OpKind.ACTIVATION)] == ["relu"]


def test_gat_ops():
    g = _graph("gat_cora")
    e1 = CORA_NEIGHBOURS
    assert g["conv1.lin"].gemm == Gemm(m=2708, n=64, k=1433) and g["conv2.lin"].gemm == Gemm(m=2708, n=7, k=64)
    src = g["conv1.alpha_src"]
    assert src.weights == (Weight("conv1.att_src", (1, 8, 8)),) and src.out_shape == (2708, 8)
    assert src.vector_elems == 2708 * 8 * 8
    gather = g["conv1.alpha_edge"]
    assert gather.kind is OpKind.SPMM and gather.attrs["gather_rows"] == e1 and gather.attrs["row_elems"] == 8
    assert gather.out_shape == (e1, 8)
    leaky, soft = g["conv1.leaky_relu"], g["conv1.softmax"]
    assert leaky.kind is OpKind.ACTIVATION and leaky.fn == "leaky_relu" and leaky.vector_elems == e1 * 8
    assert soft.kind is OpKind.SOFTMAX and soft.fn == "softmax" and soft.vector_elems == e1 * 8
    # PyG's COO edge_index (2, E') int64 after GATConv adds the self-loops: each row 13,264 × 8 B = 106,112 B =
    # 53,056 fp16 elements; the edge logits gather by both rows, the softmax groups by the targets
    assert g.inputs["edge_index.src"] == g.inputs["edge_index.dst"] == (53_056,)
    assert gather.inputs == ("conv1.alpha_src", "conv1.alpha_dst", "edge_index.src", "edge_index.dst")
    assert soft.inputs == ("conv1.leaky_relu", "edge_index.dst")
    agg = g["conv1.propagate"]
    assert agg.kind is OpKind.SPMM and agg.fn == "spmm"
    assert agg.inputs == ("conv1.lin", "conv1.softmax", "edge_index.src", "edge_index.dst")
    assert agg.attrs["gather_rows"] == e1 and agg.attrs["row_elems"] == 64
    assert agg.vector_elems == e1 * 64 and agg.out_shape == (2708, 64)
    assert g["conv2.propagate"].attrs["row_elems"] == 7 and g["conv2.propagate"].vector_elems == e1 * 7
    assert [op.fn for op in _ops(g, OpKind.ACTIVATION)] == ["leaky_relu", "elu", "leaky_relu"]
    # MACs: the dense transforms; the attention logits (x · att_src and x · att_dst: one multiply-add per node, head
    # and feature, 2 × 2708·8·8 in layer 1, 2 × 2708·1·7 in layer 2); the aggregations (α_ij · x_j summed: one
    # multiply-add per gathered element, 13,264·64 and 13,264·7). The edge logits α_src[j] + α_dst[i] are adds.
    assert src.macs == 2708 * 8 * 8 and g["conv1.alpha_edge"].macs == 0 and agg.macs == e1 * 64
    assert g.macs == (2708 * 1433 * 64 + 2708 * 64 * 7 + 2 * 2708 * 8 * 8 + 2 * 2708 * 7 + 13_264 * 64
                      + 13_264 * 7) == 250_895_560


@pytest.mark.parametrize("model", ["gcn_cora", "gat_cora"])
def test_aggregation_scales_with_edges_not_nodes_squared(model):
    def aggs(nodes: int, edges: int):
        g = _graph(model, nodes=nodes, edges=edges)
        return [(op.attrs["gather_rows"], op.vector_elems) for op in _ops(g, OpKind.SPMM)]

    base, doubled = aggs(1000, 20_000), aggs(1000, 40_000)
    for (rows, elems), (rows2, elems2) in zip(base, doubled, strict=True):
        # gather_rows = edges + nodes: the edge part doubles (20,000 → 40,000), the 1,000 self-loops stay
        assert rows == 21_000 and rows2 == 41_000
        assert rows2 - 1000 == 2 * (rows - 1000)
        assert elems2 * rows == elems * rows2  # vector work per gathered row is fixed
    # a million nodes and no edges: a million rows (self-loops), not 10^12
    assert all(rows == 1_000_000 for rows, _ in aggs(1_000_000, 0))


def test_ogbn_products_gcn_builds():
    # ogbn-products (OGB): 2,449,029 nodes, 61,859,140 directed edges, 100 features, 47 classes
    g = _graph("gcn_cora", nodes=2_449_029, edges=61_859_140, features=100, classes=47)
    assert g.params == 100 * 16 + 16 + 16 * 47 + 47
    assert _ops(g, OpKind.SPMM)[0].attrs["gather_rows"] == 61_859_140 + 2_449_029


def test_gnn_batch_other_than_one_is_an_error():
    # the whole graph is one pass: batch 4 built the same graph while report.json said batch 4 and
    # j_per_inference divided the one pass's energy by 4
    for name in ("gat_cora", "gcn_cora"):
        with pytest.raises(pydantic.ValidationError) as info:
            build_workload(name, {"batch": 4})
        assert [e["loc"] for e in info.value.errors()] == [("batch",)]
    assert _graph("gat_cora", batch=1).params == _graph("gat_cora").params


def test_gnn_validation_names_the_key():
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("gat_cora", {"heads": 0, "edges": -1})
    assert sorted(e["loc"] for e in info.value.errors()) == [("edges",), ("heads",)]


# ---- presets and experiments ---------------------------------------------------------------------------------
def test_dlrm_experiment_and_sweep_load():
    from accelsim.config import load_experiment
    from accelsim.config.sweep import load_sweep
    from accelsim.sweep.expand import plan_sweep

    spec = load_experiment(ROOT / "experiments" / "dlrm_tpu_v4.yaml")
    assert spec.workload.model == "dlrm_mlperf" and spec.workload.params["batch"] == 2048
    assert spec.arch.name == "tpu-v4" and spec.output == "runs/dlrm_tpu_v4"
    plan = plan_sweep(load_sweep(ROOT / "experiments" / "dlrm_hbm_link_sweep.yaml"))
    assert len(plan.points) == 4 * 3  # HBM capacities × host link bandwidths


def test_a_gcn_backward_spmm_counts_its_multiply_adds():
    # Cora: 10,556 directed edges + 2,708 self-loops = 13,264 non-zeros; conv1 aggregates 16 features: the forward
    # A·X is 13,264 x 16 = 212,224 MACs, and the backward Aᵀ·dY gathers the same edges, the same 212,224 (it
    # counted 0, its flops alone), reading the same adjacency (the op's second input, so its gradient is grad_input0)
    g = build_workload("gcn_cora", {"mode": "training"})
    fwd, bwd = g["conv1.propagate"], g["conv1.propagate.grad_input0"]
    assert fwd.macs == 13_264 * 16 == bwd.macs
    assert "adj_t" in bwd.inputs
    assert bwd.flops == 2 * bwd.macs


def test_a_gat_backward_reads_the_edge_index_its_forward_indexed_by():
    # PyG's GATConv backward indexes by the same edge_index as its forward: the gradient of the attention
    # coefficients (dα_ij = dY_i · h_j per edge) gathers h by the sources and dY by the targets, the segmented
    # softmax's gradient sums over each target's in-edges (edge_index.dst), and the edge logits' gather
    # (α_src[j] + α_dst[i]) scatters its gradient back by both rows
    g = build_workload("gat_cora", {"mode": "training"})
    both = ("edge_index.src", "edge_index.dst")
    assert g["conv1.propagate"].attrs["index"] == 2
    coef = g["conv1.propagate.grad_input1"]
    assert coef.inputs[-2:] == both and "conv1.lin" in coef.inputs
    assert g["conv1.softmax.grad_input"].inputs[-1] == "edge_index.dst"
    for i in (0, 1):
        assert g[f"conv1.alpha_edge.grad_input{i}"].inputs[-2:] == both
    # each row is Cora's 10,556 edges + 2,708 self-loops, 13,264 × 8 B = 106,112 B: the coefficients' gradient on a
    # TPU v1 reads both rows from its DDR3 (212,224 B of its main-memory bytes beside dY and h)
    report = accelsim.simulate(g, load_arch("tpu-v1")).to_dict()
    row = next(o for o in report["ops"] if o["name"] == "conv1.propagate.grad_input1")
    assert row["bytes"]["hbm"] >= 2 * 13_264 * 8
