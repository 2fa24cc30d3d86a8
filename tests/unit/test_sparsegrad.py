"""A data-parallel recommender table's sparse gradient is all-gathered and every replica's lazy step updates the
group's union of rows (probe p88 #3: the whole table was all-reduced while the step updated the replica's own rows).

Every expected number is a hand calculation in a comment. The sparse reduction follows torch's DDP for a sparse
gradient (``nn.EmbeddingBag(sparse=True)``, as facebookresearch/dlrm builds its tables): each replica's touched rows
and their int64 ids are all-gathered, and the lazy optimizer (torch.optim.SparseAdam) updates the rows the gathered
gradient holds.
"""

from __future__ import annotations

import numpy as np

from accelsim.api import simulate
from accelsim.builders import build_workload
from accelsim.builders.training import union_sparse_steps
from accelsim.ir import OpKind

# three tables of 16 bf16 elements a row, looked up once a sample by 8 samples (pooling 1): r = 8 rows written a
# replica. Tables 0 (100 rows) and 1 (10 rows) have more rows than look-ups, so their gradient is sparse; table 2
# (5 rows) is looked up more often than it has rows: its gradient is the whole (dense) table
DLRM = {"model": "dlrm_mlperf", "tables": [100, 10, 5], "dim": 16, "batch": 8, "dtype": "bf16", "mode": "training"}
# two chips of dgx-h100 whose collectives use the formula: a ring over 2 chips sends (2 − 1)/2 of an all-gather's
# (or reduce-scatter's) whole buffer and 2·(2 − 1)/2 = 1× an all-reduce's
TWO = {"base": "dgx-h100", "chips": 2, "interconnect": {"collective": "formula"}}
ROW = 16 * 2  # bytes of a bf16 row of 16
ADAM = 10  # Adam's FLOPs per element (builders.training.OPTIMIZER_ELEMS)
# The lazy step updates the distinct rows of its gradient, not one a look-up (probe p214 #2: torch's sparse
# optimizers coalesce the gradient first, torch/optim/_functional.py sparse_adam "grad = grad.coalesce()"): n uniform
# look-ups of R rows touch R·(1 − (1 − 1/R)^n) rows, rounded. These tests asserted the look-ups as rows before.
#   table 0 (100 rows): 8 look-ups 100·(1 − 0.99^8) = 7.73 → 8; 16: 100·(1 − 0.99^16) = 14.85 → 15;
#                       32: 100·(1 − 0.99^32) = 27.50 → 28
#   table 1 (10 rows):  8 look-ups 10·(1 − 0.9^8) = 5.70 → 6; 16: 10·(1 − 0.9^16) = 8.15 → 8; 32: 10·(1 − 0.9^32) = 9.66 → 10


def _steps(report: dict) -> dict[str, dict]:
    return {op["name"]: op for op in report["ops"] if op["name"].endswith(".weight.step")}


def test_unsharded_tables_all_gather_their_rows_and_step_on_the_union():
    r = simulate(DLRM, TWO).to_dict()
    steps = _steps(r)
    # table 0: each of the 2 replicas sends its 8 rows and their 8-B ids: 2 × 8 × (32 + 8) = 640 B gathered, a
    # chip sending (2 − 1)/2 of it, 320 B (the whole table all-reduced was 100 × 32 = 3,200 B a chip); the step
    # updates the 15 distinct rows of the 2 × 8 look-ups (it was min(2 × 8, 100) = 16): 15 × 16 × 10 = 2,400 FLOPs
    t0 = steps["emb.0.weight.step"]
    assert t0["bytes"]["link"] == 8 * (ROW + 8) == 320
    assert t0["flops"] == 15 * 16 * ADAM == 2_400
    assert "all_gather_s" in t0["mapping"] and "all_reduce_s" not in t0["mapping"]
    # table 1: the same 320 B sent; 16 look-ups of its 10 rows touch 8 (it was all 10): 8 × 16 × 10 = 1,280 FLOPs
    assert steps["emb.1.weight.step"]["bytes"]["link"] == 320
    assert steps["emb.1.weight.step"]["flops"] == 8 * 16 * ADAM == 1_280
    # table 2's dense gradient is still all-reduced whole: 1 × 5 × 32 = 160 B a chip; every row stepped, 800 FLOPs
    t2 = steps["emb.2.weight.step"]
    # (now fp32: a bf16 table's dense gradient is kept in fp32, probe p117 #1: 5 × 16 × 4 = 320 B)
    assert t2["bytes"]["link"] == 5 * 16 * 4 == 320 and "all_reduce_s" in t2["mapping"]
    assert t2["flops"] == 5 * 16 * ADAM == 800
    # the gradients held: each sparse table's gathered 2 × 8 rows with ids, 640 B, in place of its own 8 × 32 = 256
    one = simulate(DLRM, {**TWO, "chips": 1}).to_dict()
    assert r["memory"]["hbm"]["gradients"] - one["memory"]["hbm"]["gradients"] == 2 * (640 - 256) == 768
    # one chip: no reduction, and the lazy step updates the 8 distinct rows of its 8 look-ups, 8 × 16 × 10 = 1,280
    # FLOPs; table 1's 8 look-ups touch 6 of its 10 rows: 6 × 16 × 10 = 960
    assert _steps(one)["emb.0.weight.step"]["flops"] == 8 * 16 * ADAM == 1_280
    assert _steps(one)["emb.1.weight.step"]["flops"] == 6 * 16 * ADAM == 960


def test_union_pass_marks_the_replica_rows_and_the_gathered_gradient():
    g = build_workload("dlrm_mlperf", {k: v for k, v in DLRM.items() if k != "model"})
    assert union_sparse_steps(g, 1) is g  # one replica: nothing gathered
    u = union_sparse_steps(g, 4)
    steps = {op.name: op for op in u if op.kind is OpKind.OPTIMIZER}
    t0, t1 = steps["emb.0.weight.step"], steps["emb.1.weight.step"]
    # 4 replicas × 8 look-ups touch 28 of table 0's 100 rows (was 32, the look-ups); table 1 all of its 10 (9.66)
    assert (t0.attrs["sparse_rows"], t0.attrs["replica_rows"], t0.attrs["index_bytes"], t0.out_shape) == (
        28, 8, 8, (28, 16))
    assert (t1.attrs["sparse_rows"], t1.out_shape, t1.flops) == (10, (10, 16), 10 * 16 * ADAM)
    assert "replica_rows" not in steps["emb.2.weight.step"].attrs  # the dense table
    # gradient_bytes: each sparse table's 4 × 8 × (32 + 8) = 1,280 B gathered in place of its 8 × 32 = 256
    assert u.info.gradient_bytes - g.info.gradient_bytes == 2 * (1_280 - 256)
    again = union_sparse_steps(u, 4)  # applied once: a step already widened is left as it is
    assert _same_steps(again, u) and again.info.gradient_bytes == u.info.gradient_bytes


def _same_steps(a, b) -> bool:
    return [(op.name, op.attrs, op.flops) for op in a if op.kind is OpKind.OPTIMIZER] == [
        (op.name, op.attrs, op.flops) for op in b if op.kind is OpKind.OPTIMIZER]


def test_distributed_optimizer_gathers_the_updated_rows_not_the_table():
    r = simulate(DLRM, TWO, {"distributed_optimizer": True}).to_dict()
    steps = _steps(r)
    # table 0: the gradients' all-gather (320 B), then each rank's half of the 15 updated (distinct) rows
    # all-gathered: 15 × 32 = 480 B, (2 − 1)/2 of it sent, 240 B (the whole table's would be 3,200 / 2 = 1,600); the
    # step does half of the 2,400 FLOPs
    assert steps["emb.0.weight.step"]["bytes"]["link"] == 320 + 240
    assert steps["emb.0.weight.step"]["flops"] == 2_400 // 2
    # table 1: 320 + 8 × 32 / 2 = 448
    assert steps["emb.1.weight.step"]["bytes"]["link"] == 320 + 128
    # the dense table 2: reduce-scatter of its fp32 gradient, 320 B (probe p117 #1), and all-gather of its bf16
    # parameter, 160 B, half of each sent
    assert steps["emb.2.weight.step"]["bytes"]["link"] == 160 + 80


def _zipf_distinct(rows: int, lookups: int, alpha: float = 1.05) -> float:
    """Σ_i 1 − (1 − p_i)^T over every row, p_i ∝ i^−α: the expected distinct rows of T Zipf draws, row by row."""
    p = np.arange(1, rows + 1, dtype=np.float64) ** -alpha
    p /= p.sum()
    return float(np.sum(1 - (1 - p) ** lookups))


def test_a_zipf_tables_lazy_step_updates_its_distinct_rows_once():
    # probe p214 #2: embedding_bag training (2,048 × 20 = 40,960 Zipf(1.05) look-ups of 10^6 rows of 128) stepped
    # 40,960 rows; torch's sparse Adam coalesces the gradient first (torch/optim/_functional.py sparse_adam:
    # "grad = grad.coalesce()  # the update is non-linear so indices must be unique"), updating each of the
    # Σ 1 − (1 − p_i)^40,960 = 14,689.4 → 14,689 distinct rows once: Adam 10 FLOPs × 14,689 × 128 = 18,801,920
    # (was 52,428,800); the gradient it reads still holds a row a look-up, 40,960
    g = build_workload("embedding_bag", {"mode": "training", "access": "zipf"})
    step = g["embedding_bag.weight.step"]
    rows = round(_zipf_distinct(1_000_000, 40_960))
    assert rows == 14_689
    assert step.attrs["sparse_rows"] == rows and step.out_shape == (rows, 128)
    assert step.flops == 10 * rows * 128 == 18_801_920
    assert g["embedding_bag.grad_weight"].out_shape == (40_960, 128)
    # the forward gather's HBM rows on h100 (Che's cold-cache rule, docs/architecture.md "Placement") are the same
    # 14,689: 868,360 B of ids, offsets and output + 14,689 × 256 B (probe p214's 4,628,744 B)
    fwd = simulate({"model": "embedding_bag", "access": "zipf"}, "h100").to_dict()
    assert fwd["bytes"]["hbm"] == 868_360 + rows * 256 == 4_628_744


def test_the_data_parallel_union_of_zipf_look_ups_counts_distinct_rows():
    # DLRM above under Zipf(1.05) on 2 chips: table 0's union is the distinct rows of the 2 × 8 draws over its 100
    # rows, table 1's over its 10 (row by row below); each replica still sends its 8 gradient rows and ids
    zipf = {**DLRM, "access": "zipf"}
    steps = _steps(simulate(zipf, TWO).to_dict())
    u0, u1 = round(_zipf_distinct(100, 16)), round(_zipf_distinct(10, 16))
    assert (u0, u1) == (11, 7)  # 11.29 and 6.67: fewer than the uniform 15 and 8, the hot rows repeat
    assert steps["emb.0.weight.step"]["flops"] == u0 * 16 * ADAM
    assert steps["emb.1.weight.step"]["flops"] == u1 * 16 * ADAM
    assert steps["emb.0.weight.step"]["bytes"]["link"] == 8 * (ROW + 8) == 320
    # the union pass on 4 replicas: 32 draws; table 0 a replica's own d = round(Σ over 8 draws) widened to the union
    g = build_workload("dlrm_mlperf", {k: v for k, v in zipf.items() if k != "model"})
    u = {op.name: op for op in union_sparse_steps(g, 4) if op.kind is OpKind.OPTIMIZER}
    assert g["emb.0.weight.step"].attrs["sparse_rows"] == round(_zipf_distinct(100, 8))
    assert u["emb.0.weight.step"].attrs["sparse_rows"] == round(_zipf_distinct(100, 32))
    assert u["emb.0.weight.step"].attrs["replica_rows"] == 8
