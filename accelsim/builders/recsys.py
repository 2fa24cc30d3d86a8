"""Recommendation models as op graphs: MLPerf DLRM v1 (Criteo Terabyte) and its embedding-bag look-up.

``dlrm_mlperf`` is the reference ``DLRM_Net`` of facebookresearch/dlrm as MLPerf training v1 runs it
(``bench/run_and_time.sh``: ``--arch-sparse-feature-size=128 --arch-mlp-bot=13-512-256-128
--arch-mlp-top=1024-1024-512-256-1 --max-ind-range=40000000``, dot interaction without the diagonal):

* graph inputs ``dense`` (batch, 13) and ``indices.{t}`` (batch, pooling) for each table t;
* bottom MLP ``bot_l.0`` 13→512, ``bot_l.2`` 512→256, ``bot_l.4`` 256→dim, each followed by a ReLU
  (``bot_l.1``, ``bot_l.3``, ``bot_l.5``), as the reference's ``nn.Sequential`` numbers them;
* one EMBEDDING op per table, ``emb.{t}`` (see :meth:`RecsysBuilder.embedding_bag`);
* the dot interaction: ``interact.stack`` (CONCAT view of the bottom output and the tables' outputs to
  (batch, T+1, dim), bottom output first as the reference's ``torch.cat([x] + ly, dim=1).view(...)``),
  ``interact.bmm`` (MATMUL Z = X·Xᵀ, ``Gemm(m=T+1, n=T+1, k=dim, count=batch)``, inputs (stack, stack),
  ``transpose_b``), ``interact.tril`` (RESHAPE view (batch, (T+1)·T/2): the strictly-lower triangle, a
  gather the consumer reads in place) and ``interact.cat`` (CONCAT of the bottom output and the triangle:
  (batch, dim + (T+1)·T/2) = (batch, 479) for the 26 tables);
* top MLP ``top_l.0`` 479→1024, ``top_l.2`` 1024→1024, ``top_l.4`` 1024→512, ``top_l.6`` 512→256,
  ``top_l.8`` 256→1, ReLU after each but the last, which is followed by a sigmoid ``top_l.9``.

The table sizes are the Criteo Terabyte per-feature counts of the MLPerf preprocessing with
``--max-ind-range=40000000`` (:data:`CRITEO_TB_ROWS`), so ``params`` = 24,036,595,969 (≈ 24.0 G; 96.1 GB in fp32).

Embedding-bag convention (the mapper relies on it): each table is ONE op of kind EMBEDDING named ``emb.{t}`` (the
micro-workload's is ``embedding_bag``), weights ``(Weight("<name>.weight", (rows, dim)),)``, one input (the
(batch, pooling) indices), output (batch, dim), attrs ``fn`` "embedding_bag", ``gather_rows`` = batch·pooling (rows
read), ``pooling``, ``access`` ("uniform" | "zipf": how look-ups spread over the rows, hottest first),
``zipf_alpha`` and ``sparse_grad`` True (the table's gradient is sparse, as facebookresearch/dlrm's
``nn.EmbeddingBag(n, m, mode="sum", sparse=True)``: a training step updates only the looked-up rows,
``builders/training.py``); vector_elems = batch·pooling·dim (the pooled sum on the vector unit: every gathered element is
read and accumulated), flops = batch·(pooling − 1)·dim (the adds), macs = 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, PositiveInt

from ..errors import WorkloadError
from ..ir import Gemm, Graph, OpKind, Weight
from ..units import dtype_bytes
from .params import WorkloadParams
from .tlayers import TransformerBuilder


class TableAccessParams(WorkloadParams):
    """How embedding look-ups spread over a table's rows."""

    access: Literal["uniform", "zipf"] = Field(
        "uniform", description="'uniform': every row equally likely; 'zipf': row r (hottest first) with probability "
                               "∝ r^−zipf_alpha, so the hottest rows can sit in HBM and serve most look-ups.")
    zipf_alpha: float = Field(1.05, gt=0, description="Exponent of the Zipf access distribution (> 0; with "
                                                      "access: zipf).")


class DlrmParams(TableAccessParams):
    """MLPerf DLRM v1 on Criteo Terabyte (facebookresearch/dlrm, --max-ind-range=40000000)."""

    batch: PositiveInt = Field(2048, description="Samples per inference (MLPerf's training mini-batch is 2048).")
    pooling: PositiveInt = Field(1, description="Indices per table per sample (1: one-hot as Criteo; > 1: "
                                                "multi-hot, sum-pooled).")
    tables: tuple[PositiveInt, ...] | None = Field(
        None, min_length=1, description="Rows of each embedding table, overriding the 26 Criteo Terabyte tables "
                                        "(capped at 40M rows); the number of tables follows the list.")
    dim: PositiveInt = Field(128, description="Embedding dimension (also the bottom MLP's output width).")

CRITEO_TB_ROWS: tuple[int, ...] = (
    39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10,
    2208, 11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36,
)
"""Rows of the 26 Criteo Terabyte tables with ``--max-ind-range=40000000`` (MLPerf DLRM v1): the ``day_fea_count``
of the 40M-hashed preprocessing, as facebookresearch/dlrm's ``tools/visualize.py`` (``max_ind_range ==
40000000``: "Criteo Terabyte MLPerf training") and mlcommons/inference's DLRM ``--arch-embedding-size`` list them;
every count is below the 40,000,000 cap. Σ = 187,767,399 rows."""

DENSE_FEATURES = 13
"""Dense (integer) features of a Criteo sample."""
BOTTOM_MLP = (512, 256)
"""Hidden widths of the bottom MLP; its last layer is ``dim`` wide (13-512-256-128 in MLPerf)."""
TOP_MLP = (1024, 1024, 512, 256, 1)
"""Widths of the top MLP after the interaction (479-1024-1024-512-256-1 in MLPerf)."""


class RecsysBuilder(TransformerBuilder):
    """A TransformerBuilder with pooled embedding-bag look-ups."""

    def embedding_bag(self, ids: str, rows: int, dim: int, *, access: str = "uniform", zipf_alpha: float = 1.05,
                      name: str | None = None) -> str:
        """Sum-pool ``pooling`` rows of a (rows, dim) table per sample: (batch, pooling) ids → (batch, dim).

        One EMBEDDING op with the convention of the module docstring.
        """
        name = self._name(name, "embedding_bag")
        shape = self.shape(ids)
        if len(shape) != 2:
            raise WorkloadError(f"{self.name}: embedding_bag {name!r} needs (batch, pooling) indices; {ids!r} is "
                                f"{list(shape)}")
        if rows < 1 or dim < 1:
            raise WorkloadError(f"{self.name}: embedding_bag {name!r} needs a positive table (got {rows}×{dim})")
        batch, pooling = shape
        return self._add(name, OpKind.EMBEDDING, [ids], (batch, dim), weights=[Weight(f"{name}.weight", (rows, dim))],
                         flops=batch * (pooling - 1) * dim, vector_elems=batch * pooling * dim, fn="embedding_bag",
                         gather_rows=batch * pooling, pooling=pooling, access=access, zipf_alpha=zipf_alpha,
                         sparse_grad=True)

    def mlp_stack(self, x: str, widths: Sequence[int], scope: str, sigmoid_last: bool = False) -> str:
        """Linear layers of ``widths``, each followed by a ReLU (a sigmoid after the last with ``sigmoid_last``),
        named as the reference's ``nn.Sequential``: ``{scope}.0`` linear, ``{scope}.1`` activation, ..."""
        for i, width in enumerate(widths):
            x = self.linear(x, width, name=f"{scope}.{2 * i}")
            if sigmoid_last and i == len(widths) - 1:
                x = self.sigmoid(x, name=f"{scope}.{2 * i + 1}")
            else:
                x = self.relu(x, name=f"{scope}.{2 * i + 1}")
        return x

    def dot_interaction(self, bottom: str, embeddings: Sequence[str]) -> str:
        """DLRM's dot interaction without the diagonal: stack, Z = X·Xᵀ, strictly-lower triangle, concat with the
        bottom output. Returns (batch, dim + n·(n−1)/2) for n = 1 + len(embeddings) vectors."""
        batch, dim = self.shape(bottom)
        vectors = [bottom, *embeddings]
        for v in vectors:
            if self.shape(v) != (batch, dim):
                raise WorkloadError(f"{self.name}: interaction: {v!r} is {list(self.shape(v))}, expected "
                                    f"{[batch, dim]} like the bottom MLP's output")
        n = len(vectors)
        pairs = n * (n - 1) // 2
        stack = self._add(self._name("interact.stack", "stack"), OpKind.CONCAT, vectors, (batch, n, dim), fn="stack",
                          dim=1)
        gemm = Gemm(m=n, n=n, k=dim, count=batch)
        z = self.matmul([stack, stack], (batch, n, n), gemm, name="interact.bmm", transpose_b=True)
        tri = self.view(z, (batch, pairs), "tril", name="interact.tril", strict=False, offset=-1)
        return self.concat([bottom, tri], dim=1, name="interact.cat")


def dlrm_mlperf(p: DlrmParams) -> Graph:
    """MLPerf DLRM v1 (Criteo Terabyte): 26 tables of 128, bottom 13-512-256-128, dot interaction (479), top
    1024-1024-512-256-1; 24,036,595,969 params with the 40M-capped tables of :data:`CRITEO_TB_ROWS`."""
    tables = tuple(p.tables) if p.tables is not None else CRITEO_TB_ROWS
    inputs: dict[str, tuple[int, ...]] = {"dense": (p.batch, DENSE_FEATURES)}
    inputs.update({f"indices.{t}": (p.batch, p.pooling) for t in range(len(tables))})
    b = RecsysBuilder("dlrm_mlperf", inputs, dtype=p.dtype or "fp16")
    bottom = b.mlp_stack("dense", (*BOTTOM_MLP, p.dim), "bot_l")
    embs = [b.embedding_bag(f"indices.{t}", rows, p.dim, access=p.access, zipf_alpha=p.zipf_alpha, name=f"emb.{t}")
            for t, rows in enumerate(tables)]
    x = b.dot_interaction(bottom, embs)
    b.mlp_stack(x, TOP_MLP, "top_l", sigmoid_last=True)
    n = len(tables) + 1
    return b.build({"model": "dlrm_mlperf", **p.model_dump(), "table_rows": list(tables),
                    "interaction_features": p.dim + n * (n - 1) // 2,
                    "table_bytes": sum(tables) * p.dim * dtype_bytes(b.dtype)})


__all__ = ["CRITEO_TB_ROWS", "RecsysBuilder", "dlrm_mlperf"]
