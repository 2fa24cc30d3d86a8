"""A data-parallel recommender table's sparse gradient is all-gathered and every replica's lazy step updates the
group's union of rows (probe p88 #3: the whole table was all-reduced while the step updated the replica's own rows).

Every expected number is a hand calculation in a comment. The sparse reduction follows torch's DDP for a sparse
gradient (``nn.EmbeddingBag(sparse=True)``, as facebookresearch/dlrm builds its tables): each replica's touched rows
and their int64 ids are all-gathered, and the lazy optimizer (torch.optim.SparseAdam) updates the rows the gathered
gradient holds.
"""

from __future__ import annotations

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


def _steps(report: dict) -> dict[str, dict]:
    return {op["name"]: op for op in report["ops"] if op["name"].endswith(".weight.step")}


def test_unsharded_tables_all_gather_their_rows_and_step_on_the_union():
    r = simulate(DLRM, TWO).to_dict()
    steps = _steps(r)
    # table 0: each of the 2 replicas sends its 8 rows and their 8-B ids: 2 × 8 × (32 + 8) = 640 B gathered, a
    # chip sending (2 − 1)/2 of it, 320 B (the whole table all-reduced was 100 × 32 = 3,200 B a chip); the step
    # updates min(2 × 8, 100) = 16 rows: 16 × 16 × 10 = 2,560 FLOPs
    t0 = steps["emb.0.weight.step"]
    assert t0["bytes"]["link"] == 8 * (ROW + 8) == 320
    assert t0["flops"] == 16 * 16 * ADAM == 2_560
    assert "all_gather_s" in t0["mapping"] and "all_reduce_s" not in t0["mapping"]
    # table 1: the same 320 B sent; the union is capped by its 10 rows: 10 × 16 × 10 = 1,600 FLOPs
    assert steps["emb.1.weight.step"]["bytes"]["link"] == 320
    assert steps["emb.1.weight.step"]["flops"] == 10 * 16 * ADAM == 1_600
    # table 2's dense gradient is still all-reduced whole: 1 × 5 × 32 = 160 B a chip; every row stepped, 800 FLOPs
    t2 = steps["emb.2.weight.step"]
    # (now fp32: a bf16 table's dense gradient is kept in fp32, probe p117 #1: 5 × 16 × 4 = 320 B)
    assert t2["bytes"]["link"] == 5 * 16 * 4 == 320 and "all_reduce_s" in t2["mapping"]
    assert t2["flops"] == 5 * 16 * ADAM == 800
    # the gradients held: each sparse table's gathered 2 × 8 rows with ids, 640 B, in place of its own 8 × 32 = 256
    one = simulate(DLRM, {**TWO, "chips": 1}).to_dict()
    assert r["memory"]["hbm"]["gradients"] - one["memory"]["hbm"]["gradients"] == 2 * (640 - 256) == 768
    # one chip: no reduction, and the lazy step updates its own 8 rows, 8 × 16 × 10 = 1,280 FLOPs
    assert _steps(one)["emb.0.weight.step"]["flops"] == 8 * 16 * ADAM == 1_280


def test_union_pass_marks_the_replica_rows_and_the_gathered_gradient():
    g = build_workload("dlrm_mlperf", {k: v for k, v in DLRM.items() if k != "model"})
    assert union_sparse_steps(g, 1) is g  # one replica: nothing gathered
    u = union_sparse_steps(g, 4)
    steps = {op.name: op for op in u if op.kind is OpKind.OPTIMIZER}
    t0, t1 = steps["emb.0.weight.step"], steps["emb.1.weight.step"]
    # 4 replicas × 8 rows = 32 of table 0's 100; table 1 all of its 10
    assert (t0.attrs["sparse_rows"], t0.attrs["replica_rows"], t0.attrs["index_bytes"], t0.out_shape) == (
        32, 8, 8, (32, 16))
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
    # table 0: the gradients' all-gather (320 B), then each rank's half of the 16 updated rows all-gathered:
    # 16 × 32 = 512 B, (2 − 1)/2 of it sent, 256 B (the whole table's would be 3,200 / 2 = 1,600); the step does
    # half of the 2,560 FLOPs
    assert steps["emb.0.weight.step"]["bytes"]["link"] == 320 + 256
    assert steps["emb.0.weight.step"]["flops"] == 2_560 // 2
    # table 1: 320 + 10 × 32 / 2 = 480
    assert steps["emb.1.weight.step"]["bytes"]["link"] == 320 + 160
    # the dense table 2: reduce-scatter of its fp32 gradient, 320 B (probe p117 #1), and all-gather of its bf16
    # parameter, 160 B, half of each sent
    assert steps["emb.2.weight.step"]["bytes"]["link"] == 160 + 80
