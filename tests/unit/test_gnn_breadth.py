"""GNN breadth (builders/gnn.py): GraphSAGE with host-side neighbour sampling at ogbn-products scale, an MPNN with
edge features (NNConv edge MLPs) and graph-level readouts. Every expected number is a hand calculation written out
here from PyG's layer definitions or a published dataset figure (cited)."""

from __future__ import annotations

import re

import pydantic
import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.builders.gnn import sampled_subgraph
from accelsim.config import load_arch, load_workload
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind


def _sage_params(widths: list[int]) -> int:
    # PyG SAGEConv (torch_geometric/nn/conv/sage_conv.py): lin_l = Linear(in, out, bias=True) on the mean of the
    # neighbours, lin_r = Linear(in, out, bias=False) on the root node (root_weight=True): 2·in·out + out
    return sum(2 * a * b + b for a, b in zip(widths, widths[1:], strict=False))


def test_graphsage_products_preset_params_macs_and_sampled_subgraph():
    # (features_on: host, the host-gathered packed copy checked below; the preset keeps x on the device, as the
    # example: tests/unit/test_gnn_sage_copy.py)
    g = build_workload("graphsage_products", {**load_workload("graphsage_products").params, "features_on": "host"})
    # ogbn-products (https://ogb.stanford.edu/docs/nodeprop/): 100 features, 47 classes; hidden 256, 3 layers
    # (PyG examples/ogbn_products_sage.py): 2·100·256 + 256 + 2·256·256 + 256 + 2·256·47 + 47 = 206,895
    assert g.params == _sage_params([100, 256, 256, 47]) == 206_895
    # 1024 seeds, sizes [15, 10, 5], PyG's NeighborSampler as the example uses it (torch_geometric/loader/
    # neighbor_sampler.py, sample: `adj_t, n_id = self.adj_t.sample_adj(n_id, size)`, n_id every node gathered so far,
    # targets first), no overlap: hop h samples f_h neighbours of each node within h − 1 hops, so within h hops
    # 1024, 1024·(1 + 15) = 16,384, 16,384·(1 + 10) = 180,224, 180,224·(1 + 5) = 1,081,344 nodes, over hop edges
    # 1024·15 = 15,360, 16,384·10 = 163,840, 180,224·5 = 901,120: one sampled edge per non-seed node, 1,080,320
    # (probe p136 #1: it counted NeighborLoader's frontier-only growth, 937,984 nodes and 936,960 edges)
    n, e = 1024 * 16 * 11 * 6, 15_360 + 163_840 + 901_120
    assert (n, e) == (1_081_344, 1_080_320) == (n, n - 1024) == (g.meta["sampled_nodes"], g.meta["sampled_edges"])
    # layer l computes only its targets (the sampler's adjs, outermost hop first: x_target = x[:size[1]]) over its
    # own hop's edges: layer 0 the 180,224 nodes within 2 hops over hop 3's 901,120; layer 1 the 16,384 within 1 hop
    # over hop 2's 163,840; layer 2 the 1,024 seeds over hop 1's 15,360
    targets, edges = [180_224, 16_384, 1_024], [901_120, 163_840, 15_360]
    assert targets == [1024 * 16 * 11, 1024 * 16, 1024] and edges == [180_224 * 5, 16_384 * 10, 1024 * 15]
    assert (g.meta["layer_targets"], g.meta["layer_edges"]) == (targets, edges)
    # lin_l (on the mean) and lin_r (on x_target) over each layer's targets: 2·targets·in·out MACs; the mean none.
    # 2·(180,224·100·256 + 16,384·256·256 + 1,024·256·47) = 2·(4,613,734,400 + 1,073,741,824 + 12,320,768)
    # = 11,399,593,984 (NeighborLoader's counts gave 10,875,305,984)
    assert g.macs == sum(2 * t * a * b for t, (a, b) in zip(targets, [(100, 256), (256, 256), (256, 47)],
                                                               strict=True)) == 11_399_593_984
    # the host gathers the n sampled rows into one packed tensor (x[n_id]); the device copies it in
    # whole (probe p88 #4): no inputs, no lane work, the packed (n, 100) tensor its one host-held Weight, in fp32
    copy = g["sample.copy_features"]
    assert copy.kind is OpKind.ELEMENTWISE and copy.fn == "host_copy" and copy.inputs == ()
    assert copy.out_shape == (n, 100) and copy.vector_elems == copy.flops == 0 and copy.dtype == "fp32"
    assert [(w.name, w.shape, w.role) for w in copy.weights] == [("x[n_id]", (n, 100), "host")]
    # n_id: the n int64 ids (8 B each: 1,081,344 × 8 = 8,650,752 B, as fp32-wide 4 B elements), which no op reads
    assert g.inputs["n_id"] == (n * 8 // 4,) and not any("n_id" in op.inputs for op in g.ops)
    for i, (t, d) in enumerate(zip(targets, edges, strict=True)):
        mean = g[f"convs.{i}.propagate"]
        width = 100 if i == 0 else 256
        # the mean: d gathered rows summed, then t·width divides; no self-loop in SAGEConv; the layer's own
        # edge_index rows, d int64s each
        assert mean.gather_rows == d and mean.flops == d * width + t * width and mean.out_shape == (t, width)
        assert mean.inputs[1:] == (f"edge_index.{i}.src", f"edge_index.{i}.dst")
        assert g.inputs[f"edge_index.{i}.src"] == (d * 8 // 2,)  # 8 B indices as fp16-wide (2 B) elements
        assert g[f"convs.{i}.lin_r"].in_shapes[0] == (t, width)
    assert g.ops[-1].out_shape == (1024, 47)  # the seeds' logits


def test_neighbor_loader_expands_only_the_newest_nodes_and_runs_every_layer_on_the_whole_batch():
    # sampler: neighbor_loader, PyG's NeighborLoader (pyg-lib neighbor_sample: each hop samples the nodes in
    # [begin, end), then `begin = end, end = sampled_nodes.size()`, the ones the previous hop added): hop h adds
    # 1024·15·…·f_h nodes, one sampled edge each: 1024 + 15,360 + 153,600 + 768,000 = 937,984 nodes, 936,960 edges
    g = build_workload("graphsage_products", {"sampler": "neighbor_loader"})
    n, e = 1024 * (1 + 15 + 150 + 750), 1024 * (15 + 150 + 750)
    assert (n, e) == (937_984, 936_960) == (g.meta["sampled_nodes"], g.meta["sampled_edges"])
    # PyG's examples/ogbn_products_sage.py (pyg-team/pytorch_geometric 05cd381e) runs
    # `model(batch.x, batch.edge_index)[:batch.batch_size]` with `for conv in self.convs: x = conv(x, edge_index)`:
    # a homogeneous SAGEConv computes every row of x over every edge, so each of the 3 layers computes all 937,984
    # sampled nodes over all 936,960 sampled edges (probe p164 #1: this test held the layers to their next layer's
    # targets, 169,984 / 16,384 / 1,024 rows over 936,960 / 168,960 / 15,360 edges, 10,875,305,984 MACs, which is
    # the old NeighborSampler's bipartite schedule, not the loader's)
    assert (g.meta["layer_targets"], g.meta["layer_edges"]) == ([n] * 3, [e] * 3)
    # lin_l + lin_r: rows·(in + in)·out per layer: 937,984·200·256 = 48,024,780,800, 937,984·512·256 =
    # 122,943,438,848, 937,984·512·47 = 22,571,646,976: 193,539,866,624 in all
    assert g.macs == 937_984 * (200 * 256 + 512 * 256 + 512 * 47) == 193_539_866_624
    for i in range(3):
        mean = g[f"convs.{i}.propagate"]
        assert mean.gather_rows == e and mean.out_shape[0] == n
        assert mean.inputs[1:] == ("edge_index.src", "edge_index.dst")  # the batch's one edge_index, every layer
    # one edge_index of 936,960 int64 columns: 936,960 × 8 B = 7,495,680 B a row, as 3,747,840 fp16 elements
    assert g.inputs["edge_index.src"] == (e * 8 // 2,) and "edge_index.0.src" not in g.inputs
    # the seeds' logits are out[:batch.batch_size]: a view of the first 1024 rows
    assert g.ops[-1].name == "seeds" and g.ops[-1].out_shape == (1024, 47)
    # the host link carries n_id (8 B a node) and the batch's edge_index (2 × 8 B) and e_id (8 B) once:
    # 8·(937,984 + 3·936,960) = 29,990,912 B (before: each layer's edges copied again, 34,414,592 B)
    copy = g["sample.copy_indices"]
    assert copy.weights[0].shape == (8 * (937_984 + 3 * 936_960) // 4,)  # fp32 (feature_dtype) elements
    # (features_on: host, the host-gathered copy; the default, device, copies ids and adjs only): n × 100 × 4 B
    # (ogbn-products' fp32 features) = 375,193,600 B, against the NeighborSampler default's 1,081,344 × 400 =
    # 432,537,600 B; and the adjs, copied wherever x lives (probe p239 #2: they were left out in host mode), 24 B
    # an edge: the loader's one batch of 936,960 edges, 22,487,040 B, the sampler's three adjs of 15,360 + 163,840 +
    # 901,120 = 1,080,320 edges, 25,927,680 B
    loader = accelsim.simulate({"model": "graphsage_products", "sampler": "neighbor_loader", "features_on": "host"},
                               "tpu-v4").to_dict()
    sampler = accelsim.simulate({"model": "graphsage_products", "features_on": "host"}, "tpu-v4").to_dict()
    assert loader["bytes"]["host"] == 937_984 * 100 * 4 + 24 * 936_960 == 397_680_640
    assert sampler["bytes"]["host"] == 1_081_344 * 100 * 4 + 24 * 1_080_320 == 458_465_280


def test_neighbor_loader_trimmed_to_layer_computes_the_rows_trim_to_layer_leaves():
    # PyG torch_geometric/utils/trim_to_layer.py: layer l ≥ 1 narrows x to x.size(0) − num_sampled_nodes_per_hop[-l]
    # rows and edge_index to edge_index.size(1) − num_sampled_edges_per_hop[-l] columns, cumulatively (each layer's
    # x is the previous layer's trimmed output). Per hop, nodes 1024 / 15,360 / 153,600 / 768,000 and edges
    # 15,360 / 153,600 / 768,000: layer 0 keeps all 937,984 rows and 936,960 edges, layer 1 drops hop 3
    # (937,984 − 768,000 = 169,984 rows, 936,960 − 768,000 = 168,960 edges), layer 2 hop 2 too
    # (169,984 − 153,600 = 16,384 rows, 168,960 − 153,600 = 15,360 edges). Every remaining row is computed, not only
    # the next layer's targets.
    g = build_workload("graphsage_products", {"sampler": "neighbor_loader", "trim_to_layer": True})
    rows, edges = [937_984, 169_984, 16_384], [936_960, 168_960, 15_360]
    assert (g.meta["layer_targets"], g.meta["layer_edges"]) == (rows, edges)
    # 937,984·200·256 + 169,984·512·256 + 16,384·512·47 = 48,024,780,800 + 22,280,093,696 + 394,264,576
    assert g.macs == 48_024_780_800 + 169_984 * 512 * 256 + 16_384 * 512 * 47 == 70_699_188_224
    for i, (t, d) in enumerate(zip(rows, edges, strict=True)):
        assert g[f"convs.{i}.propagate"].gather_rows == d and g[f"convs.{i}.lin_r"].in_shapes[0][0] == t
        assert g.inputs[f"edge_index.{i}.src"] == (d * 8 // 2,)  # the prefix each layer reads
    assert g.ops[-1].out_shape == (1024, 47)
    # the batch crosses the host link once, as untrimmed: 8·(937,984 + 3·936,960) B
    assert g["sample.copy_indices"].weights[0].shape == (8 * (937_984 + 3 * 936_960) // 4,)


@pytest.mark.parametrize("sets", [["sampler=neighbor_sampler"], ["sampler=neighbor_loader", "fanouts=[]"]])
def test_trim_to_layer_without_the_neighbor_loader_is_one_line_at_the_key(capsys, sets):
    from accelsim.cli import main

    args = [a for s in [*sets, "trim_to_layer=true"] for a in ("--set", f"workload.{s}")]
    assert main(["info", "graphsage_products", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "workload.trim_to_layer: " in err and "sampler: neighbor_loader" in err, err


def test_sage_forward_ends_with_log_softmax_over_every_row_the_last_layer_computed():
    # probe p166 #3: SAGE.forward in PyG's examples/ogbn_products_sage.py ends `return x.log_softmax(dim=-1)`, at
    # 05cd381e (NeighborLoader) over every sampled row, before the train loop's `[:batch.batch_size]`, and at
    # 5858150b (NeighborSampler) over its last bipartite layer's targets, the 1,024 seeds
    loader = build_workload("graphsage_products", {"sampler": "neighbor_loader"})
    ls = loader["log_softmax"]
    assert (ls.kind, ls.fn, ls.inputs) == (OpKind.SOFTMAX, "log_softmax", ("convs.2.add",))
    assert ls.out_shape == (937_984, 47)
    assert loader["seeds"].inputs == ("log_softmax",) and loader["seeds"].out_shape == (1024, 47)
    # 937,984·47 = 44,085,248 elements at 5 FLOPs (max, subtract, exp, sum, subtract the log-sum; the project's
    # softmax count, workloads/softmax.yaml) = 220,426,240 FLOPs
    assert ls.flops == 5 * 937_984 * 47 == 220_426_240
    sampler = build_workload("graphsage_products", {})
    assert sampler["log_softmax"].out_shape == (1024, 47) and sampler["log_softmax"].flops == 5 * 1024 * 47
    assert sampler["log_softmax"].inputs == ("convs.2.add",)
    trimmed = build_workload("graphsage_products", {"sampler": "neighbor_loader", "trim_to_layer": True})
    assert trimmed["log_softmax"].out_shape == (16_384, 47)  # the last trimmed layer's rows


def test_sage_training_takes_one_softmax_pass_then_the_nll_loss():
    # leftover #3: the example trains with `out = model(...)` (log-probabilities) and `F.nll_loss(out, y)`: one
    # log_softmax. The loss was a cross_entropy over the log-probabilities, a second softmax (5 FLOPs an element) and
    # its gradient another (cross_entropy_grad, 5 FLOPs an element, reading them).
    from accelsim.builders.training import training_graph

    for params, rows in (({}, 1024), ({"sampler": "neighbor_loader"}, 1024)):
        g = training_graph(build_workload("graphsage_products", params), "adam")
        softmaxes = [op for op in g.ops if op.fn in ("log_softmax", "softmax", "cross_entropy", "cross_entropy_grad")]
        assert [op.name for op in softmaxes] == ["log_softmax"], params  # one softmax pass in the step
        loss, grad = g["loss"], g["loss.grad"]
        # NLL: each seed row's target log-probability summed, one FLOP a row: 1,024 (it was 5·1,024·47 = 240,640)
        assert (loss.fn, loss.flops, loss.out_shape) == ("nll_loss", rows, (1,))
        # its gradient: −1/N at each row's target in a zeroed (1,024, 47) dY (PyTorch's nll_loss_backward reads the
        # targets, not the log-probabilities): reads the scalar loss gradient, one FLOP a row (it was 240,640,
        # reading the 1,024 × 47 log-probabilities)
        assert (grad.fn, grad.inputs, grad.out_shape, grad.flops) == ("nll_loss_grad", ("loss",), (rows, 47), rows)
        # log_softmax's own gradient then reads dY and its saved output: unchanged
        assert g["log_softmax.grad_input"].fn == "log_softmax_grad"
    # a model without a final log_softmax keeps the cross-entropy (a softmax and its gradient)
    mpnn = training_graph(build_workload("mpnn_qm9", {}), "adam")
    assert mpnn["loss"].fn == "cross_entropy" and mpnn["loss.grad"].fn == "cross_entropy_grad"


def test_sage_training_loss_gradient_writes_dy_and_reads_no_log_probabilities():
    # a100, defaults (NeighborSampler, 1,024 seeds of 47 classes, fp16): loss.grad writes the 1,024 × 47 × 2 =
    # 96,256 B dY to HBM and reads no log-probabilities (it was 192,512 B: the cross_entropy_grad read the 96,256 B
    # of log-probabilities and wrote dY); the step's FLOPs lose 2·(5·1,024·47 − 1,024) = 479,232
    rep = accelsim.simulate("graphsage_products", "a100", mode="training", plots=False).to_dict()
    ops = {op["name"]: op for op in rep["ops"]}
    assert ops["loss"]["flops"] == ops["loss.grad"]["flops"] == 1024
    assert ops["loss.grad"]["bytes"]["hbm"] == 1024 * 47 * 2 == 96_256


def test_sage_nll_loss_gathers_one_log_probability_a_row_and_the_targets():
    # probe p176 #5: PyTorch's nll_loss forward gathers input[i][target[i]], one entry a row, and reads the int64
    # targets; the loss read all 1,024 × 47 × 2 = 96,256 B of log-probabilities (96,258 B with its output). Each
    # picked 2 B entry moves the access granule it lies in, as every gather's row does (cost.gather.row_bytes:
    # 2 + g − gcd(2, g) = g): a100's HBM 64 B (arch/a100.yaml: two 32-byte sectors, the smallest DRAM fetch), so
    # 1,024 × 64 + 1,024 × 8 (targets) + 2 (the fp16 loss) = 73,730 B; tpu-v4's HBM the same 64 B granule, its
    # loss output written on chip: 1,024 × 64 + 1,024 × 8 = 73,728 B
    from accelsim.cost.gather import row_bytes

    assert row_bytes(2, 64) == 64
    for arch, hbm in (("a100", 1024 * 64 + 1024 * 8 + 2), ("tpu-v4", 1024 * 64 + 1024 * 8)):
        rep = accelsim.simulate("graphsage_products", arch, mode="training", plots=False).to_dict()
        ops = {op["name"]: op for op in rep["ops"]}
        assert ops["loss"]["bytes"]["hbm"] == hbm, arch
        assert hbm < 1024 * 47 * 2  # fewer than the log-probabilities it read


def test_a_bad_sampler_is_one_line_naming_file_line_and_key(tmp_path, capsys):
    from accelsim.cli import main

    spec = tmp_path / "w.yaml"
    spec.write_text("model: graphsage_products\nsampler: neighbour_loader\n")
    assert main(["info", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "w.yaml:2: sampler: " in err and "'neighbor_sampler' or 'neighbor_loader'" in err, err
    assert err.endswith("(got 'neighbour_loader')"), err


def test_sampled_subgraph_is_capped_at_the_graph():
    # NeighborLoader: 4 seeds, fanouts [3, 2] add 4·3 = 12 then 12·2 = 24 nodes, one edge each
    assert sampled_subgraph(4, [3, 2], 10**6, 10**6, sampler="neighbor_loader") == (4 * (1 + 3 + 6), 4 * (3 + 6))
    assert sampled_subgraph(1000, [10, 10], 5000, 7000, sampler="neighbor_loader") == (5000, 7000)
    # NeighborSampler: hop 1 samples 3 for each of the 4 seeds (12 edges, 16 nodes), hop 2 samples 2 for each of
    # those 16 (32 edges, 48 nodes): 48 nodes, 12 + 32 = 44 edges
    assert sampled_subgraph(4, [3, 2], 10**6, 10**6, sampler="neighbor_sampler") == (48, 44)
    # capped: hop 1 would sample 1000·10 = 10,000 edges, at most the graph's 7,000, reaching at most its 5,000
    # nodes; hop 2 again at most 7,000 edges; the subgraph's edges at most the graph's
    assert sampled_subgraph(1000, [10, 10], 5000, 7000, sampler="neighbor_sampler") == (5000, 7000)
    with pytest.raises(pydantic.ValidationError, match="fanouts\n.*has 2 entries for 3 layers"):
        build_workload("graphsage_products", {"fanouts": [10, 5]})


def test_host_side_sampling_copies_the_packed_features_over_the_host_link():
    # a small sampled batch on tpu-v1: 8 seeds, fanouts [3, 2], NeighborSampler (each hop samples every node
    # gathered so far) → 8·(1 + 3) = 32, then 32·(1 + 2) = 96 nodes (probe p136 #1: NeighborLoader's
    # 8·(1 + 3 + 6) = 80) whose 100 features each (fp32, feature_dtype's default: ogbn-products' x as OGB loads it)
    # the host gathers from its table into one packed (96, 100) tensor, x[n_id], which crosses the host link as one
    # copy: 96 × 100 × 4 B = 38,400 B, no per-row access granules (probe p88 #4: each 400-B row was charged
    # 400 + 64 − gcd(400, 64) = 448 B of 64-B read completions, as if the device gathered the rows itself)
    arch = load_arch("tpu-v1")
    host = arch.memories[-1]
    small = {"model": "graphsage_products", "batch": 8, "layers": 2, "fanouts": [3, 2], "features_on": "host"}
    # The adjs cross the link too, wherever x lives (probe p239 #2; PyG's adj.to(device)): hop 1 samples 3 for each
    # of the 8 seeds, 24 edges, hop 2 2 for each of the 32 nodes within a hop, 64; each edge's int64 edge_index
    # (2 × 8 B) and e_id (8 B): 24 × 88 = 2,112 B
    r = accelsim.simulate(small, arch).to_dict()
    assert r["placement"]["x[n_id]"] == r["placement"]["adjs"] == host and r["params"] == _sage_params([100, 256, 47])
    assert r["bytes"][host] == 96 * 100 * 4 + 24 * 88 == 40_512
    assert any("host data (adjs, x[n_id]" in n and f"{host} link" in n for n in r["notes"])
    # the note gives the host data's size exactly and in binary prefixes: 40,512 B = 40,512 / 1,024 = 39.5625 KiB
    assert any(n.startswith("40512 B (39.56KiB) of host data") for n in r["notes"])
    # feature_dtype: int8, the model's own: 1 B a feature, 96 × 100 = 9,600 B, no cast; the adjs' 2,112 B as ever
    int8 = accelsim.simulate({**small, "feature_dtype": "int8"}, arch).to_dict()
    assert any(n.startswith("11712 B (") and "host data (adjs, x[n_id]" in n for n in int8["notes"])
    assert int8["bytes"][host] == 96 * 100 * 1 + 2_112 == 11_712
    assert "sample.cast" not in {o["name"] for o in int8["ops"]} and "sample.cast" in {o["name"] for o in r["ops"]}
    assert not any("do not fit" in n for n in r["notes"])
    bigger = accelsim.simulate({**small, "batch": 16}, arch).to_dict()
    assert bigger["bytes"][host] == 2 * 40_512  # twice the seeds, twice the rows and edges over the link


def test_full_batch_graphsage_reads_features_as_input():
    g = build_workload("graphsage_products", {"nodes": 100, "edges": 400, "features": 8, "hidden": 16,
                                              "classes": 3, "layers": 2, "fanouts": []})
    # and the COO edge_index's two int64 rows: 400 × 8 B = 3,200 B = 1,600 fp16 elements each
    assert g.inputs == {"input": (100, 8), "edge_index.src": (1600,), "edge_index.dst": (1600,)}
    assert not any(op.kind is OpKind.EMBEDDING for op in g.ops)
    assert g.macs == 2 * 100 * 8 * 16 + 2 * 100 * 16 * 3
    assert g["convs.0.propagate"].gather_rows == 400


def _mpnn_params(f=11, ef=5, d=64, eh=128, layers=3, targets=1) -> int:
    edge_mlp = ef * eh + eh + eh * d * d + d * d  # Linear(ef, eh), Linear(eh, d·d)
    nnconv = edge_mlp + d * d + d  # PyG NNConv: + root Linear(d, d, bias=False) + bias (d)
    return (f * d + d) + layers * nnconv + (d * d + d) + (d * targets + targets)


def test_mpnn_qm9_preset_params_and_macs_by_hand():
    # PyG's examples/qm9_nn_conv.py (pyg-team/pytorch_geometric a1c131f9): transform Complete() (every ordered pair of
    # distinct atoms, remove_self_loops) then T.Distance(norm=False) (cat: a 5th edge feature), and the edge network
    # Sequential(Linear(5, 128), ReLU(), Linear(128, dim * dim)), dim 64, batch_size 128. QM9 (PyG's dataset table):
    # ~18.0 atoms a molecule, so 18 · 17 = 306 directed edges (probe p164 #2: the preset was the bond graph, 37
    # edges and 4 features, 8.3x fewer edge-network MACs than the cited example)
    g = build_workload("mpnn_qm9", dict(load_workload("mpnn_qm9").params))
    # lin0 11·64 + 64 = 768; per layer Linear(5, 128) 640 + 128 = 768, Linear(128, 4096) 524,288 + 4,096 = 528,384,
    # root 4,096, bias 64; lin1 4,160; lin2 65: 768 + 3·(768 + 528,384 + 4,096 + 64) + 4,160 + 65 = 1,604,929
    # (the bond graph's Linear(4, 128), 640, gave 1,604,545)
    assert g.params == _mpnn_params() == 768 + 3 * (768 + 528_384 + 4_096 + 64) + 4_160 + 65 == 1_604_929
    assert _mpnn_params(ef=4) == 1_604_545
    n, e, d = 128 * 18, 128 * 18 * 17, 64
    assert e == 39_168
    per_layer = e * 5 * 128 + e * 128 * d * d + e * d * d + n * d * d  # edge MLP, x_src·Θ(e), root lin
    assert g.macs == n * 11 * d + 3 * per_layer + 128 * d * d + 128 * d
    # the edge MLPs alone: 3 · 39,168 · (5·128 + 128·4096) = 61,681,139,712 (probe p164 #2's figure)
    assert sum(g[f"convs.{i}.nn.{j}"].macs for i in range(3) for j in (0, 2)) == 61_681_139_712
    msg = g["convs.0.message"]
    assert msg.gemm.m == 1 and msg.gemm.n == d and msg.gemm.k == d and msg.gemm.count == e
    assert g["convs.2.nn.2"].out_shape == (e, d * d)
    assert g.inputs["edge_attr"] == (e, 5) and g.ops[-1].out_shape == (128, 1)
    # the bond graph: 37 directed bonds and the 4 bond types, 3 · 4,736 · (4·128 + 128·4096) = 7,456,358,400
    bonds = build_workload("mpnn_qm9", {"edges": 37, "edge_features": 4})
    assert bonds.params == 1_604_545
    assert sum(bonds[f"convs.{i}.nn.{j}"].macs for i in range(3) for j in (0, 2)) == 7_456_358_400


@pytest.mark.parametrize(("readout", "fn", "extra"), [("mean", "avg", 1), ("sum", "sum", 0), ("max", "max", 0)])
def test_graph_readout_pools_each_graphs_nodes(readout, fn, extra):
    g = build_workload("mpnn_qm9", {"batch": 4, "nodes": 10, "edges": 20, "layers": 1, "hidden": 8,
                                    "edge_hidden": 4, "readout": readout})
    op = g["readout"]
    # (4·10 nodes, 8) → (4 graphs, 8): an add or max per node element, plus a divide per output for the mean
    assert op.kind is OpKind.POOL and op.fn == fn and op.out_shape == (4, 8) and op.attrs["segments"] == 4
    assert op.vector_elems == 40 * 8 and op.flops == 40 * 8 + extra * 4 * 8
    assert accelsim.simulate(g, "tpu-v1").to_dict()["total_cycles"] > 0


def test_full_batch_graphsage_is_one_inference_whatever_the_unused_batch():
    # with fanouts [] the whole graph is one pass and `batch` (seed nodes of a mini-batch) is unused, so J per
    # inference is the pass's whole energy, not that energy / the default batch of 1024; with fanouts each of the
    # batch's seed nodes is one inference
    full = {"model": "graphsage_products", "nodes": 100, "edges": 400, "features": 8, "hidden": 16, "classes": 3,
            "layers": 2, "fanouts": []}
    r = accelsim.simulate(full, "h100").to_dict()
    assert r["workload"]["batch"] == 1
    assert r["efficiency"]["j_per_inference"] == pytest.approx(r["energy"]["total_j"])
    sampled = accelsim.simulate({**full, "batch": 8, "fanouts": [3, 2]}, "h100").to_dict()
    assert sampled["efficiency"]["j_per_inference"] == pytest.approx(sampled["energy"]["total_j"] / 8)


# ---- a graph's edges and seeds must fit its nodes ------------------------------------------------------------------
# (workload, sets that leave the limit exactly full, the key one past it sets, the refused value, the limit as written
# in the message). Cora: 2,708 nodes without self-loops (each conv adds them) hold at most 2,708 × 2,707 = 7,330,556
# directed edges; GraphSAGE's own edges may include self-loops: 1,000 nodes hold at most 1,000² = 1,000,000; a QM9
# molecule of 18 atoms has at most 18 × 17 = 306 directed edges (the default: the complete graph); a mini-batch of
# 1,000 nodes' graph has at most 1,000 distinct seed nodes.
FULL_GRAPHS = [
    ("gcn_cora", [], "edges", 7_330_556, "at most nodes × (nodes − 1) = 7,330,556 directed edges between 2,708 nodes"),
    ("gat_cora", [], "edges", 7_330_556, "at most nodes × (nodes − 1) = 7,330,556 directed edges between 2,708 nodes"),
    ("graphsage_products", ["nodes=1000", "fanouts=[]", "features=4", "hidden=4", "classes=2", "layers=1"], "edges",
     1_000_000,
     "at most nodes² = 1,000,000 directed edges between 1,000 nodes"),
    ("mpnn_qm9", [], "edges", 306, "at most nodes × (nodes − 1) = 306 directed edges between 18 nodes per graph"),
    ("graphsage_products", ["nodes=1000", "edges=5000", "fanouts=[1]", "layers=1"], "batch", 1_000,
     "1,001 seed nodes in a graph of 1,000 nodes: at most nodes"),
]


@pytest.mark.parametrize(("model", "sets", "key", "limit", "message"), FULL_GRAPHS)
def test_a_graph_refuses_more_edges_or_seeds_than_its_nodes_hold(capsys, model, sets, key, limit, message):
    from accelsim.cli import main

    # at the limit the graph builds (a complete graph, every node a seed)
    spec = load_workload(model, [*sets, f"{key}={limit}"])
    assert build_workload(model, spec.params).ops
    # one past it: one line, exit 2, naming the key and the limit
    args = [a for s in sets for a in ("--set", f"workload.{s}")]
    assert main(["info", model, *args, "--set", f"workload.{key}={limit + 1}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"accelsim: error: --set: workload.{key}: ") and message in err, err


# nodes set, edges left at its default: pydantic skips a field validator on a default, so the limit went unchecked
# (gcn_cora with 103 nodes built Cora's 10,556 edges among them). Limits: 103 × 102 = 10,506 < 10,556 (GCN, GAT);
# GraphSAGE 1,000² = 1,000,000 < 123,718,280; an MPNN molecule of 6 atoms 6 × 5 = 30 < 306 (the complete graph of
# 18 atoms, 18 × 17: probe p164 #2; it was the bond graph's 37).
DEFAULT_EDGES = [
    ("gcn_cora", 103, 10_556, "at most nodes × (nodes − 1) = 10,506 directed edges between 103 nodes"),
    ("gat_cora", 103, 10_556, "at most nodes × (nodes − 1) = 10,506 directed edges between 103 nodes"),
    ("graphsage_products", 1000, 123_718_280, "at most nodes² = 1,000,000 directed edges between 1,000 nodes"),
    ("mpnn_qm9", 6, 306, "at most nodes × (nodes − 1) = 30 directed edges between 6 nodes per graph"),
]


@pytest.mark.parametrize(("model", "nodes", "default", "message"), DEFAULT_EDGES)
def test_a_default_edges_is_checked_against_the_nodes_set(tmp_path, capsys, model, nodes, default, message):
    import pydantic

    from accelsim.cli import main

    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        build_workload(model, {"nodes": nodes})
    spec = tmp_path / "w.yaml"
    spec.write_text(f"model: {model}\nnodes: {nodes}\n")
    assert main(["info", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    # the nodes written are blamed, the default edges named with their value
    assert "\n" not in err and f"w.yaml:2: workload.nodes: workload.edges ({default}, the default) {message}" in err
    assert err.endswith(f"(got {nodes})"), err


def test_full_batch_graphsage_takes_any_unused_batch():
    # without fanouts the batch (seed nodes of a mini-batch) is unused: 5,000 with 1,000 nodes is not refused
    assert build_workload("graphsage_products", {"nodes": 1000, "edges": 5000, "batch": 5000, "fanouts": []}).ops


def test_the_gnn_builder_refuses_a_multigraph():
    from accelsim.builders.gnn import GnnBuilder

    # 3 nodes hold 3² = 9 directed edges with self-loops; a 10th repeats one (a multigraph, not modelled)
    assert GnnBuilder("g", 3, 9, 1).edges == 9
    with pytest.raises(WorkloadError, match="at most nodes² = 9"):
        GnnBuilder("g", 3, 10, 1)


def test_sage_and_mpnn_aggregations_read_the_edge_index_rows_they_index_by():
    # PyG's edge_index is (2, E) torch.long: 8 B per edge in each row. GraphSAGE's mean aggregation gathers by the
    # sources and scatters by the targets (both rows); the MPNN's NNConv gathers its messages' sources
    # (edge_index.src) in one op and scatter-means into the targets (edge_index.dst) in another
    sage = build_workload("graphsage_products", {"nodes": 100, "edges": 400, "features": 8, "hidden": 16,
                                                 "classes": 3, "layers": 2, "fanouts": [], "dtype": "fp32"})
    assert sage.inputs["edge_index.src"] == (400 * 8 // 4,)  # 800 fp32 elements: 3,200 B
    assert sage["convs.0.propagate"].inputs == ("input", "edge_index.src", "edge_index.dst")
    # a batch of 4 molecules of 10 atoms and 20 directed bonds: 80 edges, 640 B per row = 320 fp16 elements
    mpnn = build_workload("mpnn_qm9", {"batch": 4, "nodes": 10, "edges": 20, "layers": 1, "hidden": 8,
                                       "edge_hidden": 4})
    assert mpnn.inputs["edge_index.src"] == mpnn.inputs["edge_index.dst"] == (80 * 8 // 2,)
    assert mpnn["convs.0.gather_src"].inputs == ("relu0", "edge_index.src")
    assert mpnn["convs.0.aggregate"].inputs == ("convs.0.message_rows", "edge_index.dst")
    # a full-batch GraphSAGE without edges reads no edge index
    assert "edge_index.src" not in build_workload("graphsage_products", {"nodes": 100, "edges": 0, "fanouts": []}).inputs


def test_graphsage_products_trains_with_its_feature_table_in_host_memory(tmp_path, capsys, monkeypatch):
    # probe p48 #1: the host-held node-feature table (role host, row-split by its gathers) was counted as spilled
    # training state and the step refused ("needs 1,877,633,728 B ... holds 85,899,345,920 B"); the table is data,
    # never trained, so the step runs whatever the batch or offload
    from accelsim.cli import main

    monkeypatch.chdir(tmp_path)
    r = accelsim.simulate({"model": "graphsage_products", "mode": "training", "features_on": "host"}, "h100").to_dict()
    assert r["placement"]["x[n_id]"] == "host"
    # 1024 seeds x 16 x 11 x 6 = 1,081,344 sampled rows (NeighborSampler: each hop samples every node gathered so
    # far, probe p136 #1) of 100 fp32 features (400 B), which the host packs into one tensor that crosses the link
    # whole (probe p88 #4: no 64-B granules a row); training copies no more rows than inference. The three adjs
    # cross it too (probe p239 #2): 24 B (int64 edge_index 2 × 8, e_id 8) × 1,080,320 edges = 25,927,680 B
    assert r["bytes"]["host"] == 1024 * 16 * 11 * 6 * 400 + 24 * 1_080_320 == 458_465_280
    # the packed rows (1,081,344 x 400 B) are the host's data in its memory; HBM holds the model's 206,895
    # parameters in bf16 (2 B), their gradients in fp32 (4 B: bf16 training keeps fp32 gradients, probe p117 #1) and
    # Adam's 12 B (fp32 master, m, v) beside the activations
    hbm, host = r["memory"]["hbm"], r["memory"]["host"]
    assert host["weights"] == 1_081_344 * 100 * 4 + 24 * 1_080_320 == 458_465_280  # x[n_id] and the adjs
    assert (hbm["weights"], hbm["gradients"], hbm["optimizer_states"]) == (2 * 206_895, 4 * 206_895, 12 * 206_895)
    assert hbm["used"] <= hbm["capacity"]
    for extra in ([], ["--batch", "64"], ["--set", "options.offload=optimizer"]):
        assert main(["run", "-w", "graphsage_products", "-a", "tpu-v4", "--mode", "training", *extra, "-q",
                     "--set", "workload.features_on=host",
                     "--no-plots", "-o", "o"]) == 0, capsys.readouterr().err


def test_zero_edges_runs_where_the_model_computes_without_them_and_is_refused_at_the_key_where_not(tmp_path, capsys):
    # probe p48 #2: mpnn_qm9 with edges 0 said "input 'edge_attr' must have positive sizes (got [0, 4])", no key.
    # An NNConv layer computes on the edges' features, so a batch without bonds is refused at workload.edges, one
    # line, exit 2, from --set and from a file alike
    from accelsim.cli import main

    assert main(["info", "mpnn_qm9", "--set", "workload.edges=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("accelsim: error: --set: workload.edges: must be at least 1") and \
        err.endswith("(got 0)"), err
    spec = tmp_path / "mp.yaml"
    spec.write_text("name: mp\nworkload:\n  model: mpnn_qm9\n  edges: 0\narch: tpu-v4\n")
    assert main(["run", str(spec), "-q", "--no-plots", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "mp.yaml:4: workload.edges: must be at least 1" in err, err
    # GCN and GAT add a self-loop per node (each node aggregates itself) and a SAGEConv keeps its root weight, so
    # 0 edges is a graph they compute on: GCN's MACs are then 2708·1433·16 + 2708·16 (self-loop aggregation) +
    # 2708·16·7 + 2708·7, Cora's edge terms (10,556·16 + 10,556·7) gone
    gcn = build_workload("gcn_cora", {"edges": 0})
    assert gcn.macs == 2708 * 1433 * 16 + 2708 * 16 + 2708 * 16 * 7 + 2708 * 7
    assert build_workload("gat_cora", {"edges": 0}).ops
    # a sampled GraphSAGE mini-batch without edges reaches no neighbours: its 1024 seeds alone, each layer
    # computing them (2·in·out per target: 100 → 256 → 256 → 47), their rows 1024 × 400 B (100 fp32 features,
    # packed by the host) over the host link, not the 10,000 nodes the cap at nodes gave
    for sampler in ("neighbor_sampler", "neighbor_loader"):
        assert sampled_subgraph(1024, [15, 10, 5], 10_000, 0, sampler=sampler) == (1024, 0)
    sage = accelsim.simulate({"model": "graphsage_products", "nodes": 10_000, "edges": 0, "features_on": "host"},
                             "tpu-v4").to_dict()
    assert sage["macs"] == 1024 * (2 * 100 * 256 + 2 * 256 * 256 + 2 * 256 * 47)
    assert sage["bytes"]["host"] == 1024 * 100 * 4 == 409_600
