"""Recommendation models as op graphs: MLPerf DLRM v1 (Criteo Terabyte) and its embedding-bag look-up.

``dlrm_mlperf`` is the reference ``DLRM_Net`` of facebookresearch/dlrm as MLPerf training v1 runs it
(``bench/run_and_time.sh``: ``--arch-sparse-feature-size=128 --arch-mlp-bot=13-512-256-128
--arch-mlp-top=1024-1024-512-256-1 --max-ind-range=40000000``, dot interaction without the diagonal):

* graph inputs ``dense`` (batch, 13) and, for each table t, ``indices.{t}`` (its batch · pooling ids) and
  ``offsets.{t}`` (batch + 1: where each sample's bag starts, TorchRec's KeyedJaggedTensor offsets), int64 whatever
  the model's dtype as torch.nn.EmbeddingBag and the reference's ``lS_i`` / ``lS_o`` (torch.long) hold them, each
  declared 1-D as :meth:`RecsysBuilder.index_input` elements of the graph's dtype whose bytes are the ids' (8 B
  each; 2,048 ids: 16,384 B, 8,192 fp16 elements), as the GNN builders declare their int64 edge indices;
* bottom MLP ``bot_l.0`` 13→512, ``bot_l.2`` 512→256, ``bot_l.4`` 256→dim, each followed by a ReLU
  (``bot_l.1``, ``bot_l.3``, ``bot_l.5``), as the reference's ``nn.Sequential`` numbers them;
* one EMBEDDING op per table, ``emb.{t}`` (see :meth:`RecsysBuilder.embedding_bag`);
* the dot interaction: ``interact.stack`` (CONCAT of the bottom output and the tables' outputs to
  (batch, T+1, dim), bottom output first as the reference's ``torch.cat([x] + ly, dim=1).view(...)``; marked
  ``eager_copy``, as is ``interact.cat``: each a copy kernel on a GPU preset, a view elsewhere, mapping.aliases),
  ``interact.bmm`` (MATMUL Z = X·Xᵀ, ``Gemm(m=T+1, n=T+1, k=dim, count=batch)``, inputs (stack, stack),
  ``transpose_b``), ``interact.tril`` (RESHAPE view (batch, (T+1)·T/2): the strictly-lower triangle, a
  gather the consumer reads in place) and ``interact.cat`` (CONCAT of the bottom output and the triangle:
  (batch, dim + (T+1)·T/2) = (batch, 479) for the 26 tables);
* top MLP ``top_l.0`` 479→1024, ``top_l.2`` 1024→1024, ``top_l.4`` 1024→512, ``top_l.6`` 512→256,
  ``top_l.8`` 256→1, ReLU after each but the last, which is followed by a sigmoid ``top_l.9``.

The table sizes are the Criteo Terabyte per-feature counts of the MLPerf preprocessing with
``--max-ind-range=40000000`` (:data:`CRITEO_TB_ROWS`), so ``params`` = 24,036,595,969 (≈ 24.0 G; 96.1 GB in fp32).

Embedding-bag convention (the mapper relies on it): each table is ONE op of kind EMBEDDING named ``emb.{t}`` (the
micro-workload's is ``embedding_bag``), weights ``(Weight("<name>.weight", (rows, dim)),)``, inputs the int64 ids
and offsets (above), output (batch, dim), attrs ``fn`` "embedding_bag", ``gather_rows`` = batch·pooling (rows
read), ``pooling``, ``access`` ("uniform" | "zipf": how look-ups spread over the rows, hottest first),
``zipf_alpha`` and ``sparse_grad`` True (the table's gradient is sparse, as facebookresearch/dlrm's
``nn.EmbeddingBag(n, m, mode="sum", sparse=True)``: a training step updates only the looked-up rows,
``builders/training.py``), and ``table_shard`` True on a chip of a sharded model (below); vector_elems =
batch·pooling·dim (the pooled sum on the vector unit: every gathered element is read and accumulated), flops =
batch·(pooling − 1)·dim (the adds), macs = 0.

Table-wise sharding (``embedding_parallel`` E > 1; facebookresearch/dlrm's model-parallel embeddings, TorchRec's
table-wise sharding): ``batch`` is the group's global batch, and the tables are placed whole on the E chips by
:func:`shard_tables` (the largest table first, each onto the chip with the fewest look-ups, then rows, so far). The graph is one
chip's: ``simulated_chip`` where given, else the chip with the most look-ups (:func:`simulated_chip`), whose
all-to-all send is the group's largest. Chips differ once their tables do not all fit the main memory: a chip whose
rows spill looks them up (and in training steps them) over the host link, so a run
(``scenarios._run_kind``) builds and simulates each distinct chip (the same tables' rows: simulated once) and reports
the slowest, which every chip waits for at the all-to-all (probe p112 #1). Its ``dense`` input is (batch / E, 13)
and its bottom MLP runs on those samples; it looks up its own tables ``emb.{t}`` (their original indices; inputs
``indices.{t}`` (batch · pooling ids) and ``offsets.{t}``, attrs ``table_shard``) for the whole batch;
``emb.stack`` (CONCAT view, (batch, n, dim) for its n tables) is the buffer ``emb.all_to_all`` (COLLECTIVE fn
"all_to_all", ``group`` = ``extent`` = E, output (batch / E, T, dim): every table's pooled vectors of the chip's own
samples) sends out, (E − 1)/E of it to the other chips; its attrs ``message_bytes`` = batch · n_max · dim · dtype
bytes for the group's most tables on a chip, n_max (nccl-tests' size: the busiest chip's send buffer, which is the
largest of any chip's send or receive, a chip receiving batch / E · (T − n_c) vectors with T − n_c ≤ (E − 1) ·
n_max, and which every chip's all-to-all waits for). The interaction's stack reads
the bottom output and the all-to-all's output; the interaction and top MLP run on batch / E samples. In training the
all-to-all's gradient is the reverse all-to-all ((batch, n, dim): the same bytes), each table's step is local (its
gradient is reduced over the chips / E replicas of the group that hold it: none when E is every chip) and the MLPs'
gradients are all-reduced over every chip. ``meta["embedding_shards"]`` lists each chip's tables, rows and bytes.

Row-wise sharding (``embedding_sharding: row`` with E > 1; TorchRec's row-wise sharding, its block bucketization):
every table is cut into E blocks of consecutive rows, chip c holding :func:`row_block` (rows[t], E, c) rows of table
t (⌈rows / E⌉ on the first chips, what is left on the last). Under ``access: uniform`` a table's look-ups land on its
blocks in proportion to their rows; under ``access: zipf`` the ids are ranks, hottest first, so block bucketization
puts the hottest ⌈rows / E⌉ rows on chip 0 and each block serves its ranks' Zipf mass (:func:`_block_lookups`: a
40M-row table over 8 chips sends H(5M, 1.05) / H(40M, 1.05) ≈ 0.93 of its look-ups to chip 0), and chip 0's block
of ranks 1 .. b is itself a Zipf table of b rows. The graph is chip 0's (the largest blocks: the most rows and
look-ups). Each input ``indices.{t}`` holds h_t int64 ids: the look-ups of the whole batch that land in its block
(TorchRec's bucketized ids, an all-to-all of int ids this graph does not send: the ids are the graph's inputs, as
table-wise), h_t = ⌈batch · pooling · block / rows[t]⌉ (uniform) or ⌈batch · pooling · its Zipf share⌉, with the
batch + 1 ``offsets.{t}`` of its bags; ``emb.{t}`` (:meth:`RecsysBuilder.
embedding_bag_block`) gathers those h_t rows and adds each into its sample's partial sum, (batch, dim) partial sums
(flops = vector_elems = h_t · dim); ``emb.stack`` (CONCAT view, (batch, T, dim)) is the buffer ``emb.reduce_scatter``
(COLLECTIVE fn "reduce_scatter", ``group`` = ``extent`` = E, output (batch / E, T, dim)) sums over the chips and
scatters by sample (TorchRec's row-wise output distribution); nccl-tests' size is its input, batch · T · dim · dtype
bytes, the same on every chip. A chip holding no row of table t (rows[t] < E: chip 7 of 8 holds none of a 3-row
table) has no ``emb.{t}`` and no ``indices.{t}`` / ``offsets.{t}``, but t keeps its slot of zeros in ``emb.stack``
(TorchRec's reduce-scatter covers every table's pooled output on every rank), so every chip's interaction and top
MLP are the same (probe p239 #1: chip 7 dropped 4 of Criteo's tables from its interaction). In training the reduce-scatter's gradient is an all-gather of the same bytes, each
block's sparse step local (the chip's h_t rows at most)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from ..errors import WorkloadError
from ..ir import Gemm, Graph, OpKind, Weight, zipf_share
from ..units import dtype_bytes
from .gnn import index_elems  # defined beside INDEX_BYTES (gnn.py); importable from here as before
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
        None, description="Rows of each embedding table, overriding the 26 Criteo Terabyte tables "
                          "(capped at 40M rows); the number of tables follows the list.")
    dim: PositiveInt = Field(128, description="Embedding dimension (also the bottom MLP's output width).")
    embedding_parallel: PositiveInt = Field(
        1, description="Chips the tables are sharded over, whole tables on each (DLRM's model-parallel embeddings, "
                       "TorchRec's table-wise sharding): each chip looks up its tables for the whole batch, an "
                       "all-to-all sends each chip the pooled vectors of its batch / embedding_parallel samples, "
                       "whose interaction and MLPs it runs (data parallel). batch is the group's; it must divide "
                       "batch, and be at most the arch's chips (and, table-wise, the tables). 1: every chip "
                       "holds every table.")
    embedding_sharding: Literal["table", "row"] = Field(
        "table", description="How embedding_parallel > 1 shards the tables: 'table' places whole tables (an "
                             "all-to-all of the pooled vectors); 'row' cuts every table into embedding_parallel "
                             "blocks of rows, each chip pooling partial sums of the look-ups landing in its blocks "
                             "for the whole batch and a reduce-scatter summing them (TorchRec's row-wise sharding: "
                             "balanced when a few tables dominate).")
    simulated_chip: NonNegativeInt | None = Field(
        None, description="Which chip of the embedding_parallel group the graph is (0 .. embedding_parallel - 1). "
                          "None: a run simulates each distinct chip (chips holding the same tables' rows once) and "
                          "reports the slowest, which every chip waits for at the all-to-all (a chip whose tables "
                          "spill beyond the main memory looks them up over the host link); a graph built alone is "
                          "the chip with the most look-ups (table-wise) or chip 0 (row-wise: the largest blocks).")

    @field_validator("tables")
    @classmethod
    def _some_table(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """At least one table, checked after the items (pydantic's ``min_length`` counts the items that validated,
        so one bad row count, ``[1.5]``, also read as an empty list: a second error, probe p112 #7)."""
        if v is not None and not v:
            raise ValueError("needs at least one table's row count (an empty list has none)")
        return v


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

    def index_input(self, name: str, count: int) -> str:
        """The graph input ``name`` of ``count`` int64 ids (:data:`~.gnn.INDEX_BYTES` each, as
        torch.nn.EmbeddingBag's ``input`` and ``offsets`` and facebookresearch/dlrm's ``lS_i`` / ``lS_o`` are
        torch.long whatever the tables' dtype): a graph input takes the ops' dtype, so it is 1-D, ⌈count · 8 /
        element bytes⌉ elements of the graph's dtype (2,048 ids: 8,192 fp16 elements), its bytes the ids'."""
        return self.add_input(name, (index_elems(count, self.dtype),))

    def embedding_bag(self, ids: str, rows: int, dim: int, *, batch: int, pooling: int, offsets: str | None = None,
                      access: str = "uniform", zipf_alpha: float = 1.05, name: str | None = None,
                      **attrs: object) -> str:
        """Sum-pool ``pooling`` rows of a (rows, dim) table per sample for ``batch`` samples → (batch, dim); the
        op reads ``ids`` (the batch · pooling indices, :meth:`index_input`) and ``offsets`` (where each bag starts).

        One EMBEDDING op with the convention of the module docstring.
        """
        name = self._name(name, "embedding_bag")
        if rows < 1 or dim < 1:
            raise WorkloadError(f"{self.name}: embedding_bag {name!r} needs a positive table (got {rows}×{dim})")
        inputs = [ids] if offsets is None else [ids, offsets]
        return self._add(name, OpKind.EMBEDDING, inputs, (batch, dim), weights=[Weight(f"{name}.weight", (rows, dim))],
                         flops=batch * (pooling - 1) * dim, vector_elems=batch * pooling * dim, fn="embedding_bag",
                         gather_rows=batch * pooling, pooling=pooling, access=access, zipf_alpha=zipf_alpha,
                         sparse_grad=True, **attrs)

    def embedding_bag_block(self, ids: str, offsets: str, rows: int, dim: int, batch: int, *, hits: int,
                            pooling: int, access: str = "uniform", zipf_alpha: float = 1.05, name: str | None = None,
                            **attrs: object) -> str:
        """Partial sums of a row block of a table (row-wise sharding): ``ids`` the ``hits`` look-ups of a batch of
        ``batch`` samples that land in the block's ``rows`` rows (and their ``offsets``), → (batch, dim) partial
        sums, each gathered row added into its sample's (flops = vector_elems = h·dim; the block's rows are its
        weight). The attrs of :meth:`embedding_bag` with gather_rows = h and ``pooling`` the whole table's."""
        name = self._name(name, "embedding_bag")
        return self._add(name, OpKind.EMBEDDING, [ids, offsets], (batch, dim),
                         weights=[Weight(f"{name}.weight", (rows, dim))],
                         flops=hits * dim, vector_elems=hits * dim, fn="embedding_bag", gather_rows=hits,
                         pooling=pooling, access=access, zipf_alpha=zipf_alpha, sparse_grad=True, **attrs)

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
        bottom output. Each embedding is one (batch, dim) vector or (batch, k, dim), k of them (a sharded model's
        all-to-all output). Returns (batch, dim + n·(n−1)/2) for n = 1 + the embedding vectors."""
        batch, dim = self.shape(bottom)
        vectors = [bottom, *embeddings]
        n = 0
        for v in vectors:
            shape = self.shape(v)
            if shape == (batch, dim):
                n += 1
            elif len(shape) == 3 and (shape[0], shape[2]) == (batch, dim):
                n += shape[1]
            else:
                raise WorkloadError(f"{self.name}: interaction: {v!r} is {list(shape)}, expected "
                                    f"{[batch, dim]} like the bottom MLP's output")
        pairs = n * (n - 1) // 2
        # interact_features' T = torch.cat([x] + ly, dim=1).view(...) and R = torch.cat([x] + [Zflat], dim=1): copy
        # kernels on a GPU preset (mapping.aliases)
        stack = self._add(self._name("interact.stack", "stack"), OpKind.CONCAT, vectors, (batch, n, dim), fn="stack",
                          dim=1, eager_copy=True)
        gemm = Gemm(m=n, n=n, k=dim, count=batch)
        z = self.matmul([stack, stack], (batch, n, n), gemm, name="interact.bmm", transpose_b=True)
        tri = self.view(z, (batch, pairs), "tril", name="interact.tril", strict=False, offset=-1)
        return self.concat([bottom, tri], dim=1, name="interact.cat", eager_copy=True)


def shard_tables(rows: Sequence[int], chips: int) -> tuple[tuple[int, ...], ...]:
    """Table-wise sharding of tables of ``rows`` rows (all as wide, in one dtype: rows are bytes; every table looked
    up batch · pooling times) over ``chips`` chips: greedy, the largest table first (ties: the lower index), each
    onto the chip with the fewest look-ups so far, that is the fewest tables (ties: the fewest rows, then the lower
    chip). TorchRec's planner (GreedyPerfPartitioner) places each table on the rank of the least estimated cost,
    whose terms (the look-ups' compute, the pooled vectors' all-to-all) scale with a table's look-ups and width, not
    its rows; rows, the storage, only break ties. A row-balancing greedy put 19 of the 26 Criteo tables on one of
    8 chips, whose all-to-all sends 19 tables' vectors (probe p67 #5). Each chip's table indices, in increasing
    order. [100, 90, 50, 40, 10] on 2 chips: (0, 3, 4), (1, 2)."""
    load = [(0, 0)] * chips  # (tables, rows)
    held: list[list[int]] = [[] for _ in range(chips)]
    for t in sorted(range(len(rows)), key=lambda t: (-rows[t], t)):
        c = min(range(chips), key=lambda c: (load[c], c))
        load[c] = (load[c][0] + 1, load[c][1] + rows[t])
        held[c].append(t)
    return tuple(tuple(sorted(h)) for h in held)


def row_block(rows: int, chips: int, chip: int) -> int:
    """Rows of a table of ``rows`` rows that chip ``chip`` holds under row-wise sharding over ``chips``: blocks of
    ⌈rows / chips⌉ consecutive rows (TorchRec's block bucketization), the last block what is left, none past the
    table's end. 10 rows on 4 chips: 3, 3, 3, 1; 3 rows on 4 chips: 1, 1, 1, 0."""
    block = -(-rows // chips)
    return max(0, min(block, rows - chip * block))


def _block_lookups(lookups: int, rows: int, chips: int, chip: int, p: TableAccessParams) -> int:
    """Of a table's ``lookups``, those landing in chip ``chip``'s row block (:func:`row_block`): its rows' share,
    ⌈lookups · block / rows⌉ under uniform access; under ``access: zipf`` the Zipf mass of its ranks (chip c holds
    ranks c·⌈rows / chips⌉ + 1 onwards, the hottest on chip 0), ⌈lookups · (H(last, α) − H(first − 1, α)) /
    H(rows, α)⌉ (:func:`~accelsim.ir.zipf_share`); none for an empty block."""
    block = row_block(rows, chips, chip)
    if not block:
        return 0
    if p.access != "zipf":
        return -(-lookups * block // rows)
    share = zipf_share(rows, p.zipf_alpha, chip * -(-rows // chips) + 1, block)
    return max(1, math.ceil(lookups * share - 1e-9))  # (an integral product stays itself despite rounding)


def simulated_chip(shards: Sequence[Sequence[int]], rows: Sequence[int]) -> int:
    """The chip a sharded DLRM's graph is when no ``simulated_chip`` is given: the one with the most look-ups
    (every table is looked up batch · pooling times: the most tables), whose all-to-all send is the group's
    largest; ties: the most rows, then the lower chip. That is the slowest chip only while every chip's tables fit
    its main memory: a run (``scenarios._run_kind``) simulates each distinct chip (:func:`distinct_chips`) and
    reports the slowest."""
    return min(range(len(shards)), key=lambda c: (-len(shards[c]), -sum(rows[t] for t in shards[c]), c))


def distinct_chips(shards: Sequence[Sequence[int]], rows: Sequence[int], first: int) -> list[int]:
    """One chip of each distinct shape of a table-wise sharded group (the row counts of its tables: chips holding
    the same ones build the same graph but for the tables' names, and time the same), ``first``'s shape first and
    represented by ``first``, the others by their lowest chip, in chip order. [(0, 3), (1,), (2,)] of rows
    [5, 7, 7, 5] from chip 0: [0, 1] (chips 1 and 2 each hold one 7-row table)."""
    shape = [tuple(sorted(rows[t] for t in held)) for held in shards]
    out = [first]
    seen = {shape[first]}
    for c, s in enumerate(shape):
        if s not in seen:
            seen.add(s)
            out.append(c)
    return out


def dlrm_mlperf(p: DlrmParams) -> Graph:
    """MLPerf DLRM v1 (Criteo Terabyte): 26 tables of 128, bottom 13-512-256-128, dot interaction (479), top
    1024-1024-512-256-1; 24,036,595,969 params with the 40M-capped tables of :data:`CRITEO_TB_ROWS`. With
    ``embedding_parallel`` > 1 one chip of the table-wise sharded model (the module docstring)."""
    tables = tuple(p.tables) if p.tables is not None else CRITEO_TB_ROWS
    chips = p.embedding_parallel
    if p.embedding_sharding == "row" and chips == 1:
        raise WorkloadError("row is read only with embedding_parallel > 1 (the chips the tables "
                            "are cut over); set embedding_parallel, or leave embedding_sharding out",
                            ("embedding_sharding",))
    rowwise = p.embedding_sharding == "row"
    if chips > len(tables) and not rowwise:
        raise WorkloadError(f"embedding_parallel {chips} is more than the {len(tables)} tables: the tables are "
                            f"placed whole (table-wise), so a chip would hold none (embedding_sharding: row cuts "
                            f"them by rows)", ("embedding_parallel",))
    if p.simulated_chip is not None and p.simulated_chip >= chips:
        raise WorkloadError(f"simulated_chip {p.simulated_chip} is not a chip of the group: embedding_parallel "
                            f"{chips} has chips 0 .. {chips - 1}", ("simulated_chip",))
    if p.batch % chips:
        raise WorkloadError(f"embedding_parallel {chips} must divide batch {p.batch} (the group's batch: each "
                            f"chip's MLPs run on batch / embedding_parallel samples)", ("embedding_parallel",))
    local = p.batch // chips
    lookups = p.batch * p.pooling
    if rowwise:  # every chip holds a block of every table; chip 0 the largest ones (the module docstring)
        chip = p.simulated_chip or 0
        shards = tuple(tuple(range(len(tables))) for _ in range(chips))
        blocks = [[row_block(r, chips, c) for r in tables] for c in range(chips)]
        hits = [[_block_lookups(lookups, tables[t], chips, c, p) for t in range(len(tables))] for c in range(chips)]
        # the tables with rows on this chip: a chip holding none of a table's rows (a table of fewer rows than
        # chips) does no look-ups for it, but its pooled slot stays in the reduce-scatter (zeros; probe p239 #1)
        mine = tuple(t for t in shards[chip] if blocks[chip][t])
    else:
        shards = shard_tables(tables, chips)
        chip = simulated_chip(shards, tables) if p.simulated_chip is None else p.simulated_chip
        blocks = [[r if t in shards[c] else 0 for t, r in enumerate(tables)] for c in range(chips)]
        hits = [[lookups if t in shards[c] else 0 for t in range(len(tables))] for c in range(chips)]
        mine = shards[chip]
    b = RecsysBuilder("dlrm_mlperf", {"dense": (local, DENSE_FEATURES)}, dtype=p.dtype or "fp16")
    # each table's int64 ids and the (batch + 1) offsets of its bags (RecsysBuilder.index_input)
    for t in mine:
        b.index_input(f"indices.{t}", hits[chip][t])
        b.index_input(f"offsets.{t}", p.batch + 1)
    bottom = b.mlp_stack("dense", (*BOTTOM_MLP, p.dim), "bot_l")
    shard = {"table_shard": True} if chips > 1 else {}
    access = {"access": p.access, "zipf_alpha": p.zipf_alpha}
    if rowwise:
        embs = [b.embedding_bag_block(f"indices.{t}", f"offsets.{t}", blocks[chip][t], p.dim, p.batch,
                                      hits=hits[chip][t], pooling=p.pooling, name=f"emb.{t}", **access, **shard)
                for t in mine]
    else:
        embs = [b.embedding_bag(f"indices.{t}", tables[t], p.dim, batch=p.batch, pooling=p.pooling,
                                offsets=f"offsets.{t}", name=f"emb.{t}", **access, **shard) for t in mine]
    row_bytes = p.dim * dtype_bytes(b.dtype)
    meta: dict[str, object] = {}
    if chips > 1:
        # the chip's send buffer: table-wise its tables' pooled vectors; row-wise every table's partial sums (TorchRec's
        # row-wise output: (batch, Σ dims) on every rank), an empty block's slot zeros no look-up writes
        slots = len(tables) if rowwise else len(mine)
        sent = b._add("emb.stack", OpKind.CONCAT, embs, (p.batch, slots, p.dim), fn="stack", dim=1)
        # nccl-tests' size: the chip's send buffer (the stack); table-wise the busiest chip's, which every chip's
        # all-to-all waits for (a chip with fewer tables is simulated when its tables spill: probe p112 #1)
        message = p.batch * (slots if rowwise else max(map(len, shards))) * row_bytes
        if rowwise:
            embs = [b._add("emb.reduce_scatter", OpKind.COLLECTIVE, [sent], (local, slots, p.dim),
                           fn="reduce_scatter", group=chips, extent=chips)]
            sizes = {"reduce_scatter_bytes": message}
        else:
            embs = [b._add("emb.all_to_all", OpKind.COLLECTIVE, [sent], (local, len(tables), p.dim),
                           fn="all_to_all", group=chips, extent=chips, message_bytes=message)]
            sizes = {"all_to_all_bytes": message}
        meta["embedding_shards"] = {
            "chips": chips, "sharding": p.embedding_sharding, "simulated_chip": chip, **sizes,
            "shards": [{"chip": c, "tables": [t for t in held if blocks[c][t]], "rows": sum(blocks[c]),
                        "table_bytes": sum(blocks[c]) * row_bytes, "lookups": sum(hits[c])}
                       for c, held in enumerate(shards)]}
    x = b.dot_interaction(bottom, embs)
    b.mlp_stack(x, TOP_MLP, "top_l", sigmoid_last=True)
    n = len(tables) + 1
    graph = b.build({"model": "dlrm_mlperf", **p.model_dump(), "table_rows": list(tables),
                     "interaction_features": p.dim + n * (n - 1) // 2,
                     "table_bytes": sum(tables) * row_bytes, **meta})
    if chips > 1:  # the whole model's parameters: this chip's and the other chips' tables
        others = (sum(tables) - sum(blocks[chip])) * p.dim
        graph = graph.with_meta({**graph.meta, "model_params": graph.params + others})
    return graph


__all__ = ["CRITEO_TB_ROWS", "RecsysBuilder", "distinct_chips", "dlrm_mlperf", "index_elems", "row_block", "shard_tables", "simulated_chip"]
