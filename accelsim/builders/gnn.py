"""Graph neural networks as op graphs: PyG's GCN and GAT on a whole graph (full-batch inference, Cora by default).

``gcn_cora``: ``GCNConv(features, hidden)`` → ReLU → ``GCNConv(hidden, classes)`` (PyG's ``examples/gcn.py``);
``gat_cora``: ``GATConv(features, hidden, heads)`` → ELU → ``GATConv(hidden·heads, classes, heads=1,
concat=False)`` (PyG's ``examples/gat.py``). Dropout is the identity at inference; the output is the logits
(nodes, classes). The graph has ``nodes`` nodes and ``edges`` directed edges without self-loops, at most one per
ordered pair of distinct nodes (nodes·(nodes − 1); GraphSAGE's may include self-loops, nodes²; a multigraph is not
modelled, and the params refuse more at ``edges``); both convs add a self-loop per node (PyG's
``add_self_loops=True``), so every aggregation reads E' = edges + nodes neighbour rows.
The graph input is ``input`` (nodes, features). The graph's structure is read as further graph inputs of int64
indices (:data:`INDEX_BYTES`), each declared as elements of the graph's dtype whose bytes are the structure's (a
graph input takes the ops' dtype; :meth:`GnnBuilder.structure`): GCN's ``adj_t``, the normalised adjacency with
self-loops in CSR as PyG's SparseTensor (rowptr (nodes + 1) and col (E') int64, value (E') in the graph's dtype:
(nodes + 1)·8 + E'·(8 + dtype bytes) B); GAT's, GraphSAGE's and the MPNN's ``edge_index.src`` and
``edge_index.dst``, the two rows of PyG's COO ``edge_index`` (2, E) int64, 8 B per edge each (GAT's with the
self-loops it adds, E'; a neighbour-sampled GraphSAGE's layer l its own adj's or trimmed prefix, ``edge_index.{l}.src`` / ``.dst``, the untrimmed NeighborLoader's layers the batch's one ``edge_index``). Each op that indexes by them reads them whole, in order, from main memory, as any graph
input (a cache serves them only with ``options.warm_inputs``). ``batch`` does not apply (one full graph).

Op conventions (the mapper relies on these), parameter names as PyG's state dict (``conv1.lin.weight``, ...):

* Dense feature transform: LINEAR ``{conv}.lin`` without bias, ``Gemm(m = nodes, n = heads·out, k = in)``, weight
  (heads·out, in). The layer's bias is a separate ELEMENTWISE add ``{conv}.add_bias`` with Weight ``{conv}.bias``
  of (out,) for GCN, (heads·out,) for a concatenating GAT layer, (out,) otherwise.
* Neighbourhood aggregation: ONE op of kind SPMM per layer, ``{conv}.propagate``, first input the transformed
  features (nodes, F) whose rows it gathers, attrs ``fn`` "spmm", ``gather_rows`` = E' (one row per edge and
  self-loop), ``row_elems`` = F (elements per gathered row), ``nodes``, ``edges``; output (nodes, F); then the
  graph-structure inputs it reads (GCN ``adj_t``, GAT ``edge_index.src`` and ``.dst``). Its cost follows the
  gathered rows and the nonzeros, never nodes². GCN (PyG's fused ``message_and_aggregate`` sparse matmul with the
  symmetric-normalised edge weights, taken as precomputed as with ``cached=True``): vector_elems = E'·F (one
  multiply-accumulate per gathered element), macs = E'·F, flops = 2·E'·F. GAT (message ``α·x_j`` then a
  scatter-add, no fused path): second input the attention coefficients (E', heads), F = heads·out, macs =
  vector_elems = E'·heads·out (a multiply by α and an add per gathered element, as GCN's by its edge weight: fn
  "spmm" prices both, ``hardware.DEFAULT_VECTOR_COSTS``), flops = 2·E'·heads·out; output (nodes, heads·out), or
  (nodes, heads, out) for a layer that averages its heads.
* GAT attention: ``{conv}.heads`` (RESHAPE view (nodes, heads, out)); ``{conv}.alpha_src`` and ``{conv}.alpha_dst``
  (ELEMENTWISE fn "att_dot": (x · att).sum(-1) with Weights ``{conv}.att_src`` / ``{conv}.att_dst`` (1, heads, out);
  output (nodes, heads), macs = vector_elems = nodes·heads·out, flops = 2·nodes·heads·out); ``{conv}.alpha_edge`` (SPMM fn
  "gather_add": α_src[j] + α_dst[i] per edge, inputs (alpha_src, alpha_dst, edge_index.src, edge_index.dst),
  gather_rows = E', row_elems = heads,
  output (E', heads), vector_elems = flops = E'·heads); ``{conv}.leaky_relu`` (ACTIVATION fn "leaky_relu", slope
  0.2, 2 flops per element: a multiply and a max); ``{conv}.softmax`` (SOFTMAX fn "softmax" over each node's
  neighbours, inputs (the logits, edge_index.dst: PyG's softmax groups the edges by target), E'·heads elements, 5
  flops each as :data:`~.tlayers.SOFTMAX_FLOPS`, attrs ``segments`` = nodes).
  A non-concatenating layer with heads > 1 averages the heads (POOL fn "avg" ``{conv}.mean``, nodes·heads·out
  elements); with one head that is a view (``{conv}.squeeze``).
* Between layers: ACTIVATION fn "relu" (GCN, 1 flop per element) or fn "elu" (GAT, 3 flops per element: exp,
  subtract, select).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, ValidationInfo, field_validator, model_validator

from ..errors import WorkloadError
from ..ir import HOST_COPY, Gemm, Graph, OpKind, Weight
from ..units import DType, dtype_bytes
from .layers import INPUT
from .params import WorkloadParams, invalid_at
from .tlayers import SOFTMAX_FLOPS, TransformerBuilder


def _at_most(edges: int, info: ValidationInfo, loops: bool, per: str = "") -> int:
    """``edges`` directed edges fit a graph of the ``nodes`` validated before them: at most one per ordered pair of
    nodes, nodes² with self-loops (``loops``), else nodes × (nodes − 1). A multigraph (an edge repeated) is not
    modelled."""
    nodes = info.data.get("nodes")
    if nodes is None:  # nodes itself was refused
        return edges
    most, formula = (nodes * nodes, "nodes²") if loops else (nodes * (nodes - 1), "nodes × (nodes − 1)")
    if edges > most:
        pairs = "ordered pair of nodes, a self-loop included" if loops else "ordered pair of distinct nodes"
        raise ValueError(f"at most {formula} = {most:,} directed edges between {nodes:,} nodes{per}, one per "
                         f"{pairs}")
    return edges


class GraphParams(WorkloadParams):
    """A GNN over one whole graph (full-batch inference), Cora by default."""

    batch: PositiveInt = Field(1, description="The whole graph is one pass: 1 (another value is an error; it "
                                              "built the same graph while per-inference figures divided by it).")
    nodes: PositiveInt = Field(2708, description="Nodes of the graph (Cora: 2,708).")
    # validate_default: pydantic runs a field validator on a default only when asked, and a default of edges must
    # fit a nodes that is set (nodes 103 left Cora's 10,556 edges between 103 nodes unchecked)
    edges: NonNegativeInt = Field(10556, validate_default=True,
                                  description="Directed edges without self-loops (Cora: 10,556), at most "
                                              "nodes·(nodes − 1); each conv adds a self-loop per node (so 0, "
                                              "self-loops only, still aggregates).")
    features: PositiveInt = Field(1433, description="Input features per node (Cora: 1,433).")
    classes: PositiveInt = Field(7, description="Output classes (Cora: 7).")

    @field_validator("batch")
    @classmethod
    def _one_pass(cls, value: int) -> int:
        if value != 1:
            raise ValueError("must be 1: the whole graph is one pass (set nodes and edges for a bigger graph)")
        return value

    @field_validator("edges")
    @classmethod
    def _fits(cls, value: int, info: ValidationInfo) -> int:
        """Without self-loops (each conv adds them): at most nodes × (nodes − 1)."""
        return _at_most(value, info, loops=False)


class GcnParams(GraphParams):
    """Two-layer GCN (PyG GCNConv)."""

    hidden: PositiveInt = Field(16, description="Width of the hidden layer.")


class GatParams(GraphParams):
    """Two-layer GAT (PyG GATConv): heads × hidden concatenated, then one averaged head of classes."""

    hidden: PositiveInt = Field(8, description="Features per attention head of the first layer.")
    heads: PositiveInt = Field(8, description="Attention heads of the first layer (the output layer has one).")

FeaturesOn = Literal["device", "host"]
"""Where a sampled GraphSAGE's node-feature table lives (:func:`graphsage_products`)."""

Sampler = Literal["neighbor_sampler", "neighbor_loader"]
"""How a neighbour-sampled mini-batch grows hop by hop (:func:`sampled_layers`)."""

READOUTS = {"mean": "avg", "sum": "sum", "max": "max"}
"""Graph-level readouts (PyG global_mean_pool, global_add_pool, global_max_pool) → the POOL op's fn."""
class SageParams(WorkloadParams):
    """GraphSAGE (PyG SAGEConv, mean aggregator) on a large graph, mini-batched by neighbour sampling on the host
    (ogbn-products by default)."""

    batch: PositiveInt = Field(1024, description="Seed (target) nodes per mini-batch (the PyG sampler's "
                                                 "batch_size), at most nodes; ignored without fanouts, where the "
                                                 "whole graph is one inference.")
    nodes: PositiveInt = Field(2_449_029, description="Nodes of the graph (ogbn-products: 2,449,029).")
    edges: NonNegativeInt = Field(123_718_280, validate_default=True,  # checked against nodes when defaulted too
                                  description="Directed edges (ogbn-products: 61,859,140 undirected "
                                              "edges, each loaded in both directions), at most nodes² "
                                              "(self-loops included); 0 leaves each node its root weight, a "
                                              "sampled mini-batch its seeds alone.")
    features: PositiveInt = Field(100, description="Input features per node (ogbn-products: 100).")
    classes: PositiveInt = Field(47, description="Output classes (ogbn-products: 47).")
    hidden: PositiveInt = Field(256, description="Width of the hidden layers.")
    layers: PositiveInt = Field(3, description="SAGEConv layers.")
    fanouts: list[PositiveInt] = Field(
        default_factory=lambda: [15, 10, 5],
        description="Neighbours sampled per node at each hop (PyG num_neighbors), one per layer; [] runs the "
                    "whole graph at once (full-batch inference, features already in device memory).")
    sampler: Sampler = Field(
        "neighbor_sampler",
        description="How each hop grows the mini-batch (:func:`sampled_layers`): neighbor_sampler as PyG's "
                    "NeighborSampler (examples/ogbn_products_sage.py up to its NeighborLoader rewrite), each hop "
                    "sampling the fanout for every node gathered so far, each layer computing its bipartite adj's "
                    "targets; neighbor_loader as PyG's NeighborLoader (pyg-lib, the example's current loader), each "
                    "hop sampling it for the nodes the previous hop added only, each layer computing every sampled "
                    "node over every sampled edge (x = conv(x, edge_index)). With fanouts only.")
    trim_to_layer: bool = Field(
        False, description="With sampler neighbor_loader: trim each layer as PyG's trim_to_layer does (layer l "
                           "computes the nodes within L − l hops of the seeds over the edges of hops 1 .. L − l) "
                           "instead of running every layer over the whole sampled subgraph.")
    feature_dtype: DType = Field(
        "fp32", description="Data type of the node-feature table (ogbn-products' x is float32 as OGB and PyG load "
                            "it), which the sampled rows are gathered in; cast on the device to the model's dtype "
                            "where that differs. With fanouts only.")
    features_on: FeaturesOn = Field(
        "device", description="Where the node-feature table lives during sampled mini-batches: device as "
                              "examples/ogbn_products_sage.py (x = data.x.to(device) once; the device gathers "
                              "x[n_id] from its resident table and the host link carries only n_id and the adjs), "
                              "host (the host gathers x[n_id] and the packed rows and the adjs cross the host "
                              "link). With "
                              "fanouts only.")

    @field_validator("edges")
    @classmethod
    def _fits(cls, value: int, info: ValidationInfo) -> int:
        """The graph's own edges (SAGEConv adds no self-loops; the graph may have them): at most nodes²."""
        return _at_most(value, info, loops=True)

    @model_validator(mode="after")
    def _seeds_in_graph(self) -> SageParams:
        """A mini-batch's seeds are distinct nodes of the graph; the fanouts give one per layer."""
        if self.fanouts and len(self.fanouts) != self.layers:
            raise invalid_at("fanouts", list(self.fanouts), f"has {len(self.fanouts)} entries for {self.layers} "
                                                            f"layers; give one per layer, or [] for the whole graph")
        if self.trim_to_layer and (self.sampler != "neighbor_loader" or not self.fanouts):
            raise invalid_at("trim_to_layer", True, "applies to sampler: neighbor_loader with fanouts only (the "
                                                    "NeighborSampler's layers already compute their targets alone)")
        if self.fanouts and self.batch > self.nodes:
            raise ValueError(f"batch: {self.batch:,} seed nodes in a graph of {self.nodes:,} nodes: at most nodes "
                             f"(the seeds are distinct nodes of the graph)")
        return self


class MpnnParams(WorkloadParams):
    """An MPNN with edge features (PyG NNConv edge network) and a graph-level readout, on a batch of molecules."""

    batch: PositiveInt = Field(128, description="Graphs (molecules) per mini-batch.")
    nodes: PositiveInt = Field(18, description="Nodes (atoms, hydrogens included) per graph (QM9: ~18.0 on "
                                               "average).")
    edges: NonNegativeInt = Field(306, validate_default=True,  # checked against nodes when defaulted too
                                  description="Directed edges per graph: 306 = 18·17, every ordered pair of "
                                              "distinct atoms, as the Complete() transform of PyG's "
                                              "examples/qm9_nn_conv.py builds them (37, QM9's ~37.3 bonds in "
                                              "both directions, for the bond graph); at least 1 (the edge "
                                              "network computes on them) and at most nodes·(nodes − 1).")
    features: PositiveInt = Field(11, description="Input features per node (PyG QM9: 11 atom features).")
    edge_features: PositiveInt = Field(5, description="Features per edge: 5, PyG QM9's one-hot of 4 bond types "
                                                      "(zeros for an unbonded pair) and the distance "
                                                      "T.Distance(norm=False) appends, as "
                                                      "examples/qm9_nn_conv.py's Linear(5, 128); 4 for the bond "
                                                      "types alone.")
    hidden: PositiveInt = Field(64, description="Node state width (dim of PyG's examples/qm9_nn_conv.py).")
    edge_hidden: PositiveInt = Field(128, description="Hidden width of each layer's edge MLP.")
    layers: PositiveInt = Field(3, description="NNConv message-passing layers (each with its own weights).")
    readout: Literal["mean", "sum", "max"] = Field("mean", description="Graph-level readout over each graph's "
                                                                       "nodes: global mean, sum or max pooling.")
    targets: PositiveInt = Field(1, description="Outputs per graph (regression targets or class logits).")

    @field_validator("edges")
    @classmethod
    def _fits(cls, value: int, info: ValidationInfo) -> int:
        """Bonds in both directions, no self-loops: at most nodes × (nodes − 1) per graph; at least one, unlike the
        other GNNs' graphs (a GCN or GAT aggregates its self-loops, a SAGEConv its root weight): every NNConv layer
        computes on the edges' features (``edge_attr``, batch·edges rows), which a batch without bonds lacks."""
        if value < 1:
            raise ValueError("must be at least 1: each NNConv layer's edge network computes on the edges' features "
                             "(edge_attr, batch × edges rows), and a batch without bonds has none")
        return _at_most(value, info, loops=False, per=" per graph")


INDEX_BYTES = 8
"""Bytes of one index of a graph's structure: int64. PyG's ``Data.edge_index`` is "graph connectivity in COO
format with shape [2, num_edges] and type torch.long" (torch_geometric.data.Data's docs), and torch_sparse's
SparseStorage (the SparseTensor ``adj_t`` of PyG's fused sparse matmuls) asserts its row and col are torch.long
and builds its rowptr as torch.long."""


def index_elems(count: int, dtype: str, width: int = INDEX_BYTES) -> int:
    """Elements of ``dtype`` that hold ``count`` int64 ids (:data:`INDEX_BYTES` each; integers of another ``width``
    in bytes where given): ⌈count · width / element bytes⌉. A graph input takes the dtype of the op that reads it
    (one no op reads, the graph's first op's), so ids are declared this way (``RecsysBuilder.index_input``,
    GraphSAGE's ``n_id``)."""
    return -(-count * width // dtype_bytes(dtype))


LEAKY_RELU_FLOPS = 2
"""FLOPs per element of a leaky ReLU: a multiply by the slope and a max."""
ELU_FLOPS = 3
"""FLOPs per element of an ELU: exp, subtract one, select."""


class GnnBuilder(TransformerBuilder):
    """A TransformerBuilder for message passing on a graph of ``nodes`` nodes and ``edges`` directed edges (self-loops
    added: every aggregation gathers ``edges + nodes`` rows)."""

    def __init__(self, name: str, nodes: int, edges: int, features: int, *, dtype: str = "fp16",
                 inputs: dict[str, tuple[int, ...]] | None = None):
        if nodes < 1 or edges < 0 or features < 1:
            raise WorkloadError(f"{name}: a graph needs nodes >= 1, edges >= 0 and features >= 1 (got nodes {nodes}, "
                                f"edges {edges}, features {features})")
        if edges > nodes * nodes:
            raise WorkloadError(f"{name}: {edges:,} directed edges between {nodes:,} nodes: at most nodes² = "
                                f"{nodes * nodes:,}, one per ordered pair of nodes (a multigraph is not modelled)")
        super().__init__(name, {INPUT: (nodes, features)} if inputs is None else inputs, dtype=dtype)
        self.nodes = nodes
        self.edges = edges

    @property
    def neighbours(self) -> int:
        """Rows one aggregation gathers: every edge plus a self-loop per node."""
        return self.edges + self.nodes

    def structure(self, name: str, nbytes: int) -> str | None:
        """The graph input ``name`` holding ``nbytes`` bytes of the graph's structure (int64 indices, edge weights),
        declared on first use. A graph input takes the ops' dtype, so it is ⌈nbytes / element bytes⌉ elements of
        the graph's dtype (an int64 index is 4 fp16 elements): its bytes are the structure's. None when it is empty
        (a graph without edges reads no edge index)."""
        if nbytes <= 0:
            return None
        shape = (-(-nbytes // dtype_bytes(self.dtype)),)
        if name not in self._inputs:
            self.add_input(name, shape)
        elif self._inputs[name] != shape:
            raise WorkloadError(f"{self.name}: graph structure {name!r} declared twice with different sizes")
        return name

    def adj_t(self) -> str:
        """GCN's normalised adjacency with its self-loops (E' = :attr:`neighbours` nonzeros) in CSR, as the
        SparseTensor ``adj_t`` that PyG's fused message_and_aggregate multiplies (torch_sparse ``matmul``): rowptr
        (nodes + 1) and col (E') int64, value (E') in the graph's dtype (GCNConv passes ``x.dtype`` to gcn_norm,
        which makes the edge weights in it). One graph input ``adj_t`` every layer reads."""
        value = dtype_bytes(self.dtype)
        name = self.structure("adj_t", (self.nodes + 1) * INDEX_BYTES + self.neighbours * (INDEX_BYTES + value))
        assert name is not None  # E' ≥ nodes ≥ 1
        return name

    def edge_index(self, rows: int) -> tuple[str, ...]:
        """PyG's ``edge_index`` (2, ``rows``) int64, as two graph inputs of ``rows`` × 8 bytes: ``edge_index.src``
        (row 0: the source j whose features a message gathers) and ``edge_index.dst`` (row 1: the target i it is
        scattered to). Empty without edges."""
        return tuple(n for n in (self.structure(f"edge_index.{side}", rows * INDEX_BYTES) for side in ("src", "dst"))
                     if n is not None)

    def spmm(self, inputs: list[str], out_shape: tuple[int, ...], row_elems: int, *, vector_elems: int, flops: int,
             macs: int = 0, fn: str = "spmm", name: str | None = None, rows: int | None = None,
             index: Sequence[str] = ()) -> str:
        """A sparse × dense op that gathers ``rows`` (default :attr:`neighbours`) rows of ``row_elems`` elements of
        ``inputs[0]``; ``index``: the graph-structure inputs it reads whole after them (:meth:`adj_t`,
        :meth:`edge_index`; attrs ``index``: how many, which its backward ops read too)."""
        name = self._name(name, fn)
        return self._add(name, OpKind.SPMM, [*inputs, *index], out_shape, flops=flops, vector_elems=vector_elems,
                         fn=fn, macs=macs, gather_rows=self.neighbours if rows is None else rows, row_elems=row_elems,
                         nodes=self.nodes, edges=self.edges, index=len(index))

    def leaky_relu(self, x: str, name: str | None = None) -> str:
        """max(x, 0.2·x): ACTIVATION fn "leaky_relu", 2 flops per element."""
        return self._unary(x, "leaky_relu", LEAKY_RELU_FLOPS, name)

    def elu(self, x: str, name: str | None = None) -> str:
        """x if x > 0 else exp(x) − 1: ACTIVATION fn "elu", 3 flops per element."""
        return self._unary(x, "elu", ELU_FLOPS, name)

    def add_bias(self, x: str, width: int, scope: str) -> str:
        """x + ``{scope}.bias`` (width,): the conv's bias, broadcast over the nodes."""
        return self.add_param(x, Weight(f"{scope}.bias", (width,)), name=f"{scope}.add_bias")

    def gcn_conv(self, x: str, out: int, scope: str) -> str:
        """PyG GCNConv: lin (no bias), normalised aggregation over neighbours and self, bias."""
        with self.scope(scope):
            h = self.linear(x, out, bias=False, name="lin")
        e = self.neighbours
        a = self.spmm([h], (self.nodes, out), out, vector_elems=e * out, flops=2 * e * out, macs=e * out,
                      name=f"{scope}.propagate", index=[self.adj_t()])
        return self.add_bias(a, out, scope)

    def gat_conv(self, x: str, out: int, heads: int, concat: bool, scope: str) -> str:
        """PyG GATConv: lin (no bias), per-node logits, per-edge leaky ReLU and softmax, weighted aggregation, bias."""
        n, e = self.nodes, self.neighbours
        src, dst = self.edge_index(e)  # with the self-loops GATConv adds: E' ≥ nodes ≥ 1 columns
        with self.scope(scope):
            h = self.linear(x, heads * out, bias=False, name="lin")
            hv = self.view(h, (n, heads, out), "split_heads", name="heads")
            alphas = []
            for side in ("src", "dst"):
                alphas.append(self._add(self._name(f"alpha_{side}", "att_dot"), OpKind.ELEMENTWISE, [hv], (n, heads),
                                        weights=[Weight(f"{scope}.att_{side}", (1, heads, out))],
                                        flops=2 * n * heads * out, vector_elems=n * heads * out, fn="att_dot",
                                        macs=n * heads * out))
        logits = self.spmm(alphas, (e, heads), heads, vector_elems=e * heads, flops=e * heads, fn="gather_add",
                           name=f"{scope}.alpha_edge", index=[src, dst])
        with self.scope(scope):
            logits = self.leaky_relu(logits, name="leaky_relu")
            coef = self.vector(OpKind.SOFTMAX, [logits, dst], (e, heads), "softmax", SOFTMAX_FLOPS, name="softmax",
                               segments=n)
        width = heads * out
        # one element per gathered element, as GCN's: fn "spmm" prices its multiply and add (probe p88 #1: 2·E'·F
        # elements priced them twice, 4 lane-cycles a gathered element)
        agg = self.spmm([h, coef], (n, width) if concat else (n, heads, out), width, vector_elems=e * width,
                        flops=2 * e * width, macs=e * width, name=f"{scope}.propagate", index=[src, dst])
        if not concat:
            with self.scope(scope):
                if heads == 1:
                    agg = self.view(agg, (n, out), "squeeze", name="squeeze")
                else:
                    elems = n * width
                    agg = self._add(self._name("mean", "avg"), OpKind.POOL, [agg], (n, out), flops=elems,
                                    vector_elems=elems, fn="avg", over="heads")
        return self.add_bias(agg, width if concat else out, scope)


    def sage_conv(self, x: str, out: int, scope: str, targets: int | None = None, edges: int | None = None,
                  index: str = "edge_index") -> str:
        """PyG SAGEConv (mean aggregator, root weight): mean over each target's in-edges (no self-loop; the gather
        by ``{index}.src`` and scatter-mean by ``{index}.dst`` read both), lin_l with bias on the mean, lin_r
        without bias on the target itself, summed; 2·in·out + out parameters. By default every node of ``x`` is a
        target and the graph's edges are aggregated; a sampled layer (PyG's bipartite ``SAGEConv((x, x_target),
        edge_index)``) gives its ``targets`` (the first rows of ``x``: ``x_target = x[:size[1]]``, a view
        ``{scope}.x_target``) and ``edges``."""
        width = self.shape(x)[-1]
        n = self.shape(x)[0] if targets is None else targets
        e = self.edges if edges is None else edges
        rows = tuple(t for t in (self.structure(f"{index}.{side}", e * INDEX_BYTES) for side in ("src", "dst"))
                     if t is not None)
        agg = self.spmm([x], (n, width), width, vector_elems=e * width + n * width, flops=e * width + n * width,
                        fn="spmm_mean", name=f"{scope}.propagate", rows=e, index=rows)
        with self.scope(scope):
            root = x if n == self.shape(x)[0] else self.view(x, (n, width), "slice", name="x_target", strict=False)
            left = self.linear(agg, out, bias=True, name="lin_l")
            right = self.linear(root, out, bias=False, name="lin_r")
            return self.add(left, right, name="add")

    def nn_conv(self, x: str, edge_attr: str, out: int, edge_hidden: int, scope: str) -> str:
        """PyG NNConv (the edge network of Gilmer et al. 2017), aggr "mean": an edge MLP (edge features →
        edge_hidden → in·out) gives each edge a weight matrix Θ(e); message = x_src · Θ(e) (the gather reads
        edge_index.src); mean over each node's in-edges (the scatter reads edge_index.dst); + lin (root weight, no
        bias) of the node itself + bias."""
        n, e, width = self.nodes, self.edges, self.shape(x)[-1]
        with self.scope(scope):
            h = self.relu(self.linear(edge_attr, edge_hidden, name="nn.0"), name="nn.1")
            theta = self.linear(h, width * out, name="nn.2")
            theta = self.view(theta, (e, width, out), "edge_weights", name="theta")
        index = self.edge_index(e)  # (src, dst); e ≥ 1: the edge MLP's input needs edges
        src = self.spmm([x], (e, 1, width), width, vector_elems=e * width, flops=0, fn="gather",
                        name=f"{scope}.gather_src", rows=e, index=index[:1])
        msg = self.matmul([src, theta], (e, 1, out), Gemm(m=1, n=out, k=width, count=e), name=f"{scope}.message")
        msg = self.view(msg, (e, out), "squeeze", name=f"{scope}.message_rows")
        agg = self.spmm([msg], (n, out), out, vector_elems=e * out + n * out, flops=e * out + n * out,
                        fn="scatter_mean", name=f"{scope}.aggregate", rows=e, index=index[1:])
        with self.scope(scope):
            root = self.linear(x, out, bias=False, name="lin")
            summed = self.add(agg, root, name="add_root")
        return self.add_bias(summed, out, scope)

    def readout(self, x: str, graphs: int, fn: str, name: str = "readout") -> str:
        """Graph-level readout of a batch of ``graphs`` graphs (PyG global_mean/add/max_pool): POOL fn "avg",
        "sum" or "max" over each graph's nodes, (nodes, F) → (graphs, F); one flop per node element (an add or a
        max) plus, for the mean, one divide per output element."""
        if fn not in READOUTS:
            raise WorkloadError(f"{self.name}: readout {fn!r}; expected one of {', '.join(READOUTS)}")
        n, width = self.shape(x)
        elems = n * width
        return self._add(self._name(name, READOUTS[fn]), OpKind.POOL, [x], (graphs, width),
                         flops=elems + (graphs * width if fn == "mean" else 0), vector_elems=elems,
                         fn=READOUTS[fn], over="nodes", segments=graphs)

    def host_features(self, rows: int, features: int, name: str = "sample.copy_features",
                      dtype: str | None = None) -> str:
        """The node features of a host-sampled mini-batch as the device receives them: the host gathers the ``rows``
        sampled rows of its feature table into one packed tensor (PyG NeighborLoader's ``batch.x = x[n_id]``, on
        the CPU: host work, not charged to the device, as the sampler's is not), and the device copies that tensor
        in (``batch.to(device)``): ELEMENTWISE fn "host_copy" ``sample.copy_features``, no inputs and no lane work,
        whose one Weight ``x[n_id]`` (rows, features) of role "host" (host memory, never the main one) it reads
        whole over the host link, exactly rows · features · element bytes (one contiguous transfer, no per-row
        access granules), and writes to the main memory: a DMA, priced as the copy (``ir.HOST_COPY``: no scratchpad
        or cache bytes, mapping.traffic). In ``dtype`` (default the graph's); where that is not the
        graph's dtype an ELEMENTWISE fn "cast" ``sample.cast`` (0 flops, a copy as ONNX's Cast) converts the rows on
        the device."""
        packed = Weight("x[n_id]", (rows, features), role="host")
        x = self._add(self._name(name, HOST_COPY), OpKind.ELEMENTWISE, [], (rows, features), weights=[packed],
                      fn=HOST_COPY, dtype=dtype)
        return self._cast_features(x, dtype)

    def host_adjs(self, index_bytes: int, dtype: str | None = None) -> str | None:
        """The per-batch copy of a host-sampled mini-batch's adjacency to the device, wherever its features live
        (examples/ogbn_products_sage.py's ``adjs = [adj.to(device) for adj in adjs]``): ELEMENTWISE fn "host_copy"
        ``sample.copy_adjs`` reads its one Weight ``adjs`` of role "host", ``index_bytes`` bytes (the caller's
        count: each copied adj's int64 ``edge_index`` and ``e_id``), over the host link into the main memory, as
        :meth:`host_features` its packed rows. In ``dtype`` (default the graph's). None when there is nothing to
        copy (a batch without edges)."""
        if index_bytes <= 0:
            return None
        adjs = Weight("adjs", (index_elems(index_bytes, dtype or self.dtype, width=1),), role="host")
        return self._add(self._name("sample.copy_adjs", HOST_COPY), OpKind.ELEMENTWISE, [], adjs.shape,
                         weights=[adjs], fn=HOST_COPY, dtype=dtype)

    def device_features(self, rows: int, table_rows: int, features: int, index_bytes: int,
                        dtype: str | None = None) -> str:
        """The node features of a host-sampled mini-batch gathered on the device from the feature table it holds,
        as examples/ogbn_products_sage.py runs ``x = data.x.to(device)`` once and then ``model(x[n_id], adjs)``.
        The host link carries only the sampler's indices: ELEMENTWISE fn "host_copy" ``sample.copy_indices``
        reads its one Weight ``n_id+adjs`` of role "host", ``index_bytes`` bytes (the caller's count: n_id's int64
        ids, which ``x[n_id]`` copies to the device first, and each layer's ``adj.to(device)``), over the host link
        into the main memory; its first ``rows`` ids are the view ``sample.n_id``. EMBEDDING fn "embedding"
        ``sample.gather_features`` then reads those ids and gathers ``rows`` rows of the (``table_rows``,
        ``features``) table ``x``, a Weight of role "data" (resident in device memory, placed as a parameter is,
        never trained), into (rows, features). In ``dtype`` (default the graph's), cast as :meth:`host_features`."""
        copied = Weight("n_id+adjs", (index_elems(index_bytes, dtype or self.dtype, width=1),), role="host")
        indices = self._add(self._name("sample.copy_indices", HOST_COPY), OpKind.ELEMENTWISE, [], copied.shape,
                            weights=[copied], fn=HOST_COPY, dtype=dtype)
        n_id = self.view(indices, (index_elems(rows, dtype or self.dtype),), "slice", name="sample.n_id",
                         strict=False)
        table = Weight("x", (table_rows, features), role="data")
        x = self._add(self._name("sample.gather_features", "embedding"), OpKind.EMBEDDING, [n_id], (rows, features),
                      weights=[table], fn="embedding", gather_rows=rows, dtype=dtype)
        return self._cast_features(x, dtype)

    def _cast_features(self, x: str, dtype: str | None) -> str:
        """``x`` in the graph's dtype: ELEMENTWISE fn "cast" ``sample.cast`` where ``dtype`` is another."""
        if dtype is None or dtype == self.dtype:
            return x
        shape = self.shape(x)
        cast = self._add(self._name("sample.cast", "cast"), OpKind.ELEMENTWISE, [x], shape, fn="cast",
                         vector_elems=math.prod(shape))
        self._ops[-1] = dataclasses.replace(self._ops[-1], dtype=dtype, attrs={**self._ops[-1].attrs,
                                                                              "out_dtype": self.dtype})
        return cast


def _meta(model: str, p: object, b: GnnBuilder) -> dict[str, object]:
    return {"model": model, **p.model_dump(), "neighbours": b.neighbours}  # type: ignore[attr-defined]


def gcn_cora(p: GcnParams) -> Graph:
    """Two-layer GCN (PyG GCNConv) on Cora by default: 1433 → 16 → 7, ReLU between; 23,063 params."""
    b = GnnBuilder("gcn_cora", p.nodes, p.edges, p.features, dtype=p.dtype or "fp16")
    x = b.relu(b.gcn_conv(INPUT, p.hidden, "conv1"), name="relu")
    b.gcn_conv(x, p.classes, "conv2")
    return b.build(_meta("gcn_cora", p, b))


def gat_cora(p: GatParams) -> Graph:
    """Two-layer GAT (PyG GATConv) on Cora by default: 8 heads of 8 (concatenated, 64), ELU, then one head of 7
    (averaged); 92,373 params."""
    b = GnnBuilder("gat_cora", p.nodes, p.edges, p.features, dtype=p.dtype or "fp16")
    x = b.gat_conv(INPUT, p.hidden, p.heads, True, "conv1")
    x = b.elu(x, name="elu")
    b.gat_conv(x, p.classes, 1, False, "conv2")
    return b.build(_meta("gat_cora", p, b))


def sampled_subgraph(seeds: int, fanouts: list[int], nodes: int, edges: int, *,
                     sampler: Sampler) -> tuple[int, int]:
    """(nodes, edges) of the subgraph that neighbour sampling with ``fanouts`` draws around ``seeds`` target nodes
    (:func:`sampled_layers`): every node gathered and every edge sampled over all hops, no node or edge counted as
    sampled twice (an upper bound: real samples overlap), capped at the graph's own size."""
    if not fanouts:
        return min(seeds, nodes), 0
    layers = sampled_layers(seeds, fanouts, nodes, edges, sampler=sampler)
    sampled = layers[0][2] if sampler == "neighbor_loader" else min(sum(e for *_, e in layers), edges)
    return layers[0][0], sampled


def sampled_layers(seeds: int, fanouts: list[int], nodes: int, edges: int, *, sampler: Sampler,
                   trim: bool = False) -> list[tuple[int, int, int]]:
    """(source nodes, computed nodes, edges) of each layer of a GNN of L = len(``fanouts``) layers on a mini-batch
    neighbour-sampled around ``seeds`` target nodes, first layer first, no node or edge counted as sampled twice (an
    upper bound: real samples overlap). Each count is capped at the graph's (and the nodes beyond the seeds at the
    edges sampled).

    ``sampler`` "neighbor_sampler": PyG's NeighborSampler (torch_geometric/loader/neighbor_sampler.py ``sample``:
    ``adj_t, n_id = self.adj_t.sample_adj(n_id, size)`` with ``n_id`` every node gathered so far, targets first),
    as examples/ogbn_products_sage.py handed out its ``adjs`` before its NeighborLoader rewrite: hop h samples f_h
    neighbours for each of the W_{h−1} nodes within h − 1 hops, E_h = W_{h−1}·f_h edges, W_h = W_{h−1} + E_h;
    layer l reads the nodes within L − l hops and computes only those within L − l − 1 (the bipartite adj's
    ``x_target = x[:size[1]]``) over hop L − l's edges alone, so the last layer's outputs are the seeds'. Seeds
    1024, fanouts [15, 10, 5]: W = 1,024, 16,384, 180,224, 1,081,344; layers (1,081,344, 180,224, 901,120),
    (180,224, 16,384, 163,840), (16,384, 1,024, 15,360).

    ``sampler`` "neighbor_loader": PyG's NeighborLoader (pyg-lib's neighbor_sample: each hop samples only the nodes
    the previous hop added, ``begin = end, end = sampled_nodes.size()``): hop h adds F_h = seeds·f_1·…·f_h nodes
    and as many edges, all in one homogeneous batch (``batch.x``, ``batch.edge_index``). The example's current
    forward runs ``x = conv(x, edge_index)`` at every layer, so every layer computes every sampled node over every
    sampled edge: seeds 1024, fanouts [15, 10, 5]: (937,984, 937,984, 936,960) three times. ``trim``: PyG's
    ``trim_to_layer`` (torch_geometric/utils/trim_to_layer.py: layer l ≥ 1 narrows x by the last l hops' nodes and
    edge_index by their edges), so layer l computes the nodes within L − l hops over the edges of hops 1 .. L − l:
    (937,984, 937,984, 936,960), (169,984, 169,984, 168,960), (16,384, 16,384, 15,360)."""
    hops = len(fanouts)
    if sampler == "neighbor_sampler":
        within, hop_edges = [seeds], [0]  # nodes within h hops; edges sampled at hop h
        for f in fanouts:
            hop_edges.append(min(within[-1] * f, edges))  # f per target, at most the graph's edges
            within.append(min(within[-1] + hop_edges[-1], nodes))
        return [(within[hops - i], within[hops - i - 1], hop_edges[hops - i]) for i in range(hops)]
    within, reached = [seeds], [0]  # nodes within h hops; sampled edges of hops 1 .. h
    frontier = seeds
    for f in fanouts:
        frontier *= f
        within.append(within[-1] + frontier)
        reached.append(reached[-1] + frontier)
    # a node beyond the seeds is reached by a sampled edge: at most seeds + edges of them (none without edges)
    capped = [(min(w, nodes, seeds + min(r, edges)), min(r, edges)) for w, r in zip(within, reached, strict=True)]
    if not trim:
        n, e = capped[hops]
        return [(n, n, e)] * hops
    return [(capped[hops - i][0], capped[hops - i][0], capped[hops - i][1]) for i in range(hops)]


def graphsage_products(p: SageParams) -> Graph:
    """GraphSAGE on ogbn-products as PyG's examples/ogbn_products_sage.py: SAGEConv 100 → 256 → 256 → 47, ReLU
    between; 206,895 params. With ``fanouts`` one mini-batch: the host samples the subgraph (:func:`sampled_layers`,
    grown as ``sampler`` does it) and gathers its features, in ``feature_dtype``, from the table it holds into one
    packed tensor, which the device copies in over the host link (:meth:`GnnBuilder.host_features`:
    ``sample.copy_features``; cast on the device, ``sample.cast``, where the model's dtype differs) after the adjs
    (:meth:`GnnBuilder.host_adjs`: ``sample.copy_adjs``), or the device gathers them from its resident table
    (``features_on: device``). With the NeighborSampler layer l runs on its
    hop's bipartite graph as the example's old ``adjs``: the mean over its edges (their ``edge_index.{l}`` src and
    dst rows) for its targets only, lin_l on that mean and lin_r on the targets' own rows (``x_target``), so the
    last layer's logits are the seeds'. With the NeighborLoader every layer runs on the whole sampled subgraph (its
    one ``edge_index``), or on the rows ``trim_to_layer`` leaves it (its own prefix ``edge_index.{l}``), and the
    seeds' logits are the first ``batch`` rows (the view ``seeds``: ``out[:batch.batch_size]``). Without fanouts
    every layer runs on the whole graph. The forward ends as the example's ``SAGE.forward`` (both samplers'):
    ``log_softmax`` (SOFTMAX fn "log_softmax", 5 flops an element) over every row the last layer computed, before
    the view ``seeds``."""
    dtype = p.dtype or "fp16"
    shared = p.fanouts and p.sampler == "neighbor_loader" and not p.trim_to_layer  # one edge_index for every layer

    def index(i: int) -> str:
        return f"edge_index.{i}" if p.fanouts and not shared else "edge_index"

    if p.fanouts:
        layers = sampled_layers(p.batch, p.fanouts, p.nodes, p.edges, sampler=p.sampler, trim=p.trim_to_layer)
        n, e = sampled_subgraph(p.batch, p.fanouts, p.nodes, p.edges, sampler=p.sampler)
        # the example's per-batch adjacency copies, wherever x lives, int64 (INDEX_BYTES) each: the edges'
        # edge_index (2 × E) and e_id (E), the NeighborSampler's one adj per layer (adj.to(device); size is a
        # Python tuple, no bytes), the NeighborLoader's one batch of E edges (its trimmed layers narrow that batch on
        # the device: no further copy)
        copied = e if p.sampler == "neighbor_loader" else sum(d for *_, d in layers)
        if p.features_on == "host":
            # n_id: the sampled nodes' int64 ids, 8 B each (probe p88 #5: they were 1 / 2 / 4 B an id in int8 /
            # bf16 / fp32), declared in the feature dtype of the graph's first op. The host gathers the features
            # with them, so no op reads them and the device needs no copy of them (x[n_id] is gathered on the
            # host); the adjs still cross the link every batch, ``sample.copy_adjs`` (probe p239 #2: they were not
            # charged, 24 B an edge that features_on: device charges)
            b = GnnBuilder("graphsage_products", n, e, p.features, dtype=dtype,
                           inputs={"n_id": (index_elems(n, p.feature_dtype),)})
            b.host_adjs(INDEX_BYTES * 3 * copied, dtype=p.feature_dtype)  # the example's order: adjs, then x[n_id]
            x = b.host_features(n, p.features, dtype=p.feature_dtype)
        else:
            # and n_id (x[n_id] with x on the device copies it there first)
            index_bytes = INDEX_BYTES * (n + 3 * copied)
            # the graph's inputs: the first layer's edge_index rows, read from the main memory as in host mode (so
            # declared as GnnBuilder.structure would); a batch without edges has none, and n_id then stands as an
            # input no op reads, as in host mode
            first = layers[0][2] * INDEX_BYTES
            inputs = ({f"{index(0)}.{side}": (-(-first // dtype_bytes(dtype)),) for side in ("src", "dst")}
                      if first else {"n_id": (index_elems(n, p.feature_dtype),)})
            b = GnnBuilder("graphsage_products", n, e, p.features, dtype=dtype, inputs=inputs)
            x = b.device_features(n, p.nodes, p.features, index_bytes, dtype=p.feature_dtype)
    else:
        n, e = p.nodes, p.edges
        layers = [(n, n, e)] * p.layers
        b = GnnBuilder("graphsage_products", n, e, p.features, dtype=dtype)
        x = INPUT
    widths = [p.hidden] * (p.layers - 1) + [p.classes]
    for i, (width, (_, targets, edges)) in enumerate(zip(widths, layers, strict=True)):
        x = b.sage_conv(x, width, f"convs.{i}", targets=targets, edges=edges, index=index(i))
        if i < len(widths) - 1:
            x = b.relu(x, name=f"relu{i}")
    # SAGE.forward's last line, ``return x.log_softmax(dim=-1)``, over every row the last layer computed (both
    # samplers' examples; the NeighborLoader's before its train loop's ``[:batch.batch_size]``; probe p166 #3)
    x = b.vector(OpKind.SOFTMAX, [x], b.shape(x), "log_softmax", SOFTMAX_FLOPS, name="log_softmax")
    if p.fanouts and b.shape(x)[0] > p.batch:  # the NeighborLoader's: out[:batch.batch_size], the seeds' logits
        x = b.view(x, (p.batch, p.classes), "slice", name="seeds", strict=False)
    # without fanouts the whole graph is one inference: per-inference figures must not divide by the unused batch
    return b.build({**_meta("graphsage_products", p, b), "batch": p.batch if p.fanouts else 1,
                    "sampled_nodes": n, "sampled_edges": e,
                    "layer_targets": [t for _, t, _ in layers], "layer_edges": [d for _, _, d in layers]})


def mpnn_qm9(p: MpnnParams) -> Graph:
    """An MPNN with edge features on a batch of ``batch`` QM9-sized molecules (Gilmer et al. 2017's edge network
    as PyG NNConv, aggr "mean"): lin0 (features → hidden) and ReLU; ``layers`` NNConv(hidden, hidden) each with
    its own edge MLP (edge_features → edge_hidden → hidden²) and ReLU; a graph-level readout; lin1 (hidden →
    hidden), ReLU, lin2 (hidden → targets). Inputs ``input`` (batch·nodes, features) and ``edge_attr``
    (batch·edges, edge_features). By default the edges are those of PyG's examples/qm9_nn_conv.py: its Complete()
    makes every ordered pair of distinct atoms an edge (18·17 = 306 at QM9's mean 18 atoms) and Distance appends
    a 5th edge feature; ``edges: 37, edge_features: 4`` is the bond graph. The example's shared NNConv, GRU and
    Set2Set are not built (each layer here has its own edge MLP; the readout is a pooling)."""
    n, e = p.batch * p.nodes, p.batch * p.edges
    b = GnnBuilder("mpnn_qm9", n, e, p.features, dtype=p.dtype or "fp16",
                   inputs={INPUT: (n, p.features), "edge_attr": (e, p.edge_features)})
    x = b.relu(b.linear(INPUT, p.hidden, name="lin0"), name="relu0")
    for i in range(p.layers):
        x = b.relu(b.nn_conv(x, "edge_attr", p.hidden, p.edge_hidden, f"convs.{i}"), name=f"convs.{i}.relu")
    x = b.readout(x, p.batch, p.readout)
    x = b.relu(b.linear(x, p.hidden, name="lin1"), name="relu1")
    b.linear(x, p.targets, name="lin2")
    return b.build(_meta("mpnn_qm9", p, b))


__all__ = ["READOUTS", "GnnBuilder", "MpnnParams", "SageParams", "gat_cora", "gcn_cora", "graphsage_products",
           "mpnn_qm9", "Sampler", "sampled_layers", "sampled_subgraph"]
