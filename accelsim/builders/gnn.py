"""Graph neural networks as op graphs: PyG's GCN and GAT on a whole graph (full-batch inference, Cora by default).

``gcn_cora``: ``GCNConv(features, hidden)`` → ReLU → ``GCNConv(hidden, classes)`` (PyG's ``examples/gcn.py``);
``gat_cora``: ``GATConv(features, hidden, heads)`` → ELU → ``GATConv(hidden·heads, classes, heads=1,
concat=False)`` (PyG's ``examples/gat.py``). Dropout is the identity at inference; the output is the logits
(nodes, classes). The graph has ``nodes`` nodes and ``edges`` directed edges without self-loops; both convs add a
self-loop per node (PyG's ``add_self_loops=True``), so every aggregation reads E' = edges + nodes neighbour rows.
The graph input is ``input`` (nodes, features); the edge list is a property of the workload, not a tensor the
graph reads (its indices are not counted as bytes). ``batch`` does not apply (one full graph).

Op conventions (the mapper relies on these), parameter names as PyG's state dict (``conv1.lin.weight``, ...):

* Dense feature transform: LINEAR ``{conv}.lin`` without bias, ``Gemm(m = nodes, n = heads·out, k = in)``, weight
  (heads·out, in). The layer's bias is a separate ELEMENTWISE add ``{conv}.add_bias`` with Weight ``{conv}.bias``
  of (out,) for GCN, (heads·out,) for a concatenating GAT layer, (out,) otherwise.
* Neighbourhood aggregation: ONE op of kind SPMM per layer, ``{conv}.propagate``, first input the transformed
  features (nodes, F) whose rows it gathers, attrs ``fn`` "spmm", ``gather_rows`` = E' (one row per edge and
  self-loop), ``row_elems`` = F (elements per gathered row), ``nodes``, ``edges``; output (nodes, F). Its cost
  follows the gathered rows, never nodes². GCN (PyG's fused ``message_and_aggregate`` sparse matmul with the
  symmetric-normalised edge weights, taken as precomputed as with ``cached=True``): vector_elems = E'·F (one
  multiply-accumulate per gathered element), macs = E'·F, flops = 2·E'·F. GAT (message ``α·x_j`` then a
  scatter-add, no fused path): second input the attention coefficients (E', heads), F = heads·out, macs =
  E'·heads·out (a multiply and an add per gathered element), vector_elems = flops = 2·E'·heads·out;
  output (nodes, heads·out), or (nodes, heads, out) for a layer that averages its heads.
* GAT attention: ``{conv}.heads`` (RESHAPE view (nodes, heads, out)); ``{conv}.alpha_src`` and ``{conv}.alpha_dst``
  (ELEMENTWISE fn "att_dot": (x · att).sum(-1) with Weights ``{conv}.att_src`` / ``{conv}.att_dst`` (1, heads, out);
  output (nodes, heads), macs = vector_elems = nodes·heads·out, flops = 2·nodes·heads·out); ``{conv}.alpha_edge`` (SPMM fn
  "gather_add": α_src[j] + α_dst[i] per edge, inputs (alpha_src, alpha_dst), gather_rows = E', row_elems = heads,
  output (E', heads), vector_elems = flops = E'·heads); ``{conv}.leaky_relu`` (ACTIVATION fn "leaky_relu", slope
  0.2, 2 flops per element: a multiply and a max); ``{conv}.softmax`` (SOFTMAX fn "softmax" over each node's
  neighbours, E'·heads elements, 5 flops each as :data:`~.tlayers.SOFTMAX_FLOPS`, attrs ``segments`` = nodes).
  A non-concatenating layer with heads > 1 averages the heads (POOL fn "avg" ``{conv}.mean``, nodes·heads·out
  elements); with one head that is a view (``{conv}.squeeze``).
* Between layers: ACTIVATION fn "relu" (GCN, 1 flop per element) or fn "elu" (GAT, 3 flops per element: exp,
  subtract, select).
"""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveInt

from ..errors import WorkloadError
from ..ir import Graph, OpKind, Weight
from .layers import INPUT
from .params import WorkloadParams
from .tlayers import SOFTMAX_FLOPS, TransformerBuilder


class GraphParams(WorkloadParams):
    """A GNN over one whole graph (full-batch inference), Cora by default."""

    batch: PositiveInt = Field(1, description="Not used: the whole graph is one pass (keep it 1).")
    nodes: PositiveInt = Field(2708, description="Nodes of the graph (Cora: 2,708).")
    edges: NonNegativeInt = Field(10556, description="Directed edges without self-loops (Cora: 10,556); each conv "
                                                     "adds a self-loop per node.")
    features: PositiveInt = Field(1433, description="Input features per node (Cora: 1,433).")
    classes: PositiveInt = Field(7, description="Output classes (Cora: 7).")


class GcnParams(GraphParams):
    """Two-layer GCN (PyG GCNConv)."""

    hidden: PositiveInt = Field(16, description="Width of the hidden layer.")


class GatParams(GraphParams):
    """Two-layer GAT (PyG GATConv): heads × hidden concatenated, then one averaged head of classes."""

    hidden: PositiveInt = Field(8, description="Features per attention head of the first layer.")
    heads: PositiveInt = Field(8, description="Attention heads of the first layer (the output layer has one).")

LEAKY_RELU_FLOPS = 2
"""FLOPs per element of a leaky ReLU: a multiply by the slope and a max."""
ELU_FLOPS = 3
"""FLOPs per element of an ELU: exp, subtract one, select."""


class GnnBuilder(TransformerBuilder):
    """A TransformerBuilder for message passing on a graph of ``nodes`` nodes and ``edges`` directed edges (self-loops
    added: every aggregation gathers ``edges + nodes`` rows)."""

    def __init__(self, name: str, nodes: int, edges: int, features: int, *, dtype: str = "fp16"):
        if nodes < 1 or edges < 0 or features < 1:
            raise WorkloadError(f"{name}: a graph needs nodes >= 1, edges >= 0 and features >= 1 (got nodes {nodes}, "
                                f"edges {edges}, features {features})")
        super().__init__(name, {INPUT: (nodes, features)}, dtype=dtype)
        self.nodes = nodes
        self.edges = edges

    @property
    def neighbours(self) -> int:
        """Rows one aggregation gathers: every edge plus a self-loop per node."""
        return self.edges + self.nodes

    def spmm(self, inputs: list[str], out_shape: tuple[int, ...], row_elems: int, *, vector_elems: int, flops: int,
             macs: int = 0, fn: str = "spmm", name: str | None = None) -> str:
        """A sparse × dense op that gathers :attr:`neighbours` rows of ``row_elems`` elements of ``inputs[0]``."""
        name = self._name(name, fn)
        return self._add(name, OpKind.SPMM, inputs, out_shape, flops=flops, vector_elems=vector_elems, fn=fn,
                         macs=macs, gather_rows=self.neighbours, row_elems=row_elems, nodes=self.nodes,
                         edges=self.edges)

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
                      name=f"{scope}.propagate")
        return self.add_bias(a, out, scope)

    def gat_conv(self, x: str, out: int, heads: int, concat: bool, scope: str) -> str:
        """PyG GATConv: lin (no bias), per-node logits, per-edge leaky ReLU and softmax, weighted aggregation, bias."""
        n, e = self.nodes, self.neighbours
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
                           name=f"{scope}.alpha_edge")
        with self.scope(scope):
            logits = self.leaky_relu(logits, name="leaky_relu")
            coef = self.vector(OpKind.SOFTMAX, [logits], (e, heads), "softmax", SOFTMAX_FLOPS, name="softmax",
                               segments=n)
        width = heads * out
        agg = self.spmm([h, coef], (n, width) if concat else (n, heads, out), width, vector_elems=2 * e * width,
                        flops=2 * e * width, macs=e * width, name=f"{scope}.propagate")
        if not concat:
            with self.scope(scope):
                if heads == 1:
                    agg = self.view(agg, (n, out), "squeeze", name="squeeze")
                else:
                    elems = n * width
                    agg = self._add(self._name("mean", "avg"), OpKind.POOL, [agg], (n, out), flops=elems,
                                    vector_elems=elems, fn="avg", over="heads")
        return self.add_bias(agg, width if concat else out, scope)


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


__all__ = ["GnnBuilder", "gat_cora", "gcn_cora"]
