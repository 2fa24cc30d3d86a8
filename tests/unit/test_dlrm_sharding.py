"""DLRM's table-wise sharded embeddings (``dlrm_mlperf`` with ``embedding_parallel``): the greedy placement, one
chip's graph (its look-ups for the whole batch, the all-to-all, its MLPs on batch / chips), the link bytes of the
all-to-alls and, in training, of the MLPs' gradient all-reduces (none for the tables), and the refusals.

Every expected number is a hand calculation in a comment (facebookresearch/dlrm's model-parallel embeddings: each
chip looks up its own tables for the global batch and an all-to-all hands every chip the pooled vectors of its
batch / chips samples; TorchRec's table-wise sharding places whole tables).
"""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.builders import build_workload
from accelsim.builders.recsys import row_block, shard_tables, simulated_chip
from accelsim.errors import ConfigError, WorkloadError
from accelsim.ir import Gemm, OpKind
from accelsim.report import schema

PARAMS = {"tables": [100, 90, 50, 40, 10], "dim": 16, "batch": 8, "dtype": "bf16"}
SMALL = {"model": "dlrm_mlperf", **PARAMS}
# two chips of dgx-h100 whose collectives use the interconnect's formula: a ring all-reduce over 2 chips puts
# 2·(2 − 1)/2 = 1× its message on each link, an all-to-all (2 − 1)/2 of it
TWO = {"base": "dgx-h100", "chips": 2, "interconnect": {"collective": "formula"}}
# The 26 Criteo Terabyte tables (MLPerf DLRM v1, --max-ind-range=40000000), as tests/unit/test_recsys_gnn_builders
CRITEO = [39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10, 2208, 11938,
          155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36]


def test_greedy_places_the_largest_table_first_on_the_least_loaded_chip():
    # 100 → chip 0 (both empty: the lower chip); 90 → chip 1 (0 < 100); 50 → chip 1 (90 < 100, now 140);
    # 40 → chip 0 (100 < 140, now 140); 10 → chip 0 (140 = 140: the lower chip, now 150)
    shards = shard_tables([100, 90, 50, 40, 10], 2)
    assert shards == ((0, 3, 4), (1, 2))
    assert simulated_chip(shards, [100, 90, 50, 40, 10]) == 0  # 3 tables: the most look-ups


def test_criteo_on_eight_chips_balances_look_ups_then_rows():
    # probe p67 #5: balancing rows put 19 of the 26 tables on chip 7. Every table is looked up batch x pooling times,
    # so each goes to the chip with the fewest tables (ties: the fewest rows, then the lower chip), largest first.
    # Round 1, the 8 largest, one a chip in order: t19 → 0, t0 → 1, t21 → 2, t9 → 3, t20 → 4, t10 (2,953,546) → 5,
    # t22 (585,935) → 6, t11 (403,346) → 7. Round 2, each chip at one table, the fewest rows first: t1 (39,043) →
    # 7 (442,389), t4 (20,263) → 6 (606,198), t2 → 5, t23 → 4, t14 → 3, t3 → 2, t6 → 1, t13 → 0. Round 3, still
    # 7 < 6 < 5 < 4 < 3 < 2 < 1 < 0 by rows: t7 → 7, t17 (976) → 6, t15 → 5, t24 → 4, t8 → 3, t25 → 2, t18 → 1,
    # t12 → 0. Round 4: t16 (4) → 7 (443,936), t5 (3) → 6 (607,177)
    shards = shard_tables(CRITEO, 8)
    assert shards == ((12, 13, 19), (0, 6, 18), (3, 21, 25), (8, 9, 14), (20, 23, 24), (2, 10, 15), (4, 5, 17, 22),
                      (1, 7, 11, 16))
    assert 20_263 + 3 + 976 + 585_935 == 607_177 > 39_043 + 1_543 + 403_346 + 4 == 443_936
    assert simulated_chip(shards, CRITEO) == 6  # 4 tables (as chip 7) and the more rows


def test_one_chips_graph_looks_up_its_tables_for_the_whole_batch():
    g = build_workload("dlrm_mlperf", {**PARAMS, "embedding_parallel": 2})
    embs = [op for op in g if op.kind is OpKind.EMBEDDING]
    # chip 0 holds tables 0, 3, 4 and looks each up for all 8 samples (pooling 1: 8 rows)
    assert [op.name for op in embs] == ["emb.0", "emb.3", "emb.4"]
    assert all(op.attrs["table_shard"] and op.attrs["gather_rows"] == 8 and op.out_shape == (8, 16) for op in embs)
    # each table's 8 int64 ids (64 B = 32 fp16 elements) and 9 int64 offsets (72 B = 36 elements)
    assert g.inputs == {"dense": (4, 13), **{k: v for t in (0, 3, 4)
                                             for k, v in ((f"indices.{t}", (32,)), (f"offsets.{t}", (36,)))}}
    # the all-to-all sends the 3 tables' pooled vectors of all 8 samples (8 · 3 · 16 · 2 B = 768 B, nccl-tests'
    # size) and hands the chip all 5 tables' vectors of its own 8 / 2 = 4 samples
    assert g["emb.stack"].out_shape == (8, 3, 16)
    a2a = g["emb.all_to_all"]
    assert a2a.kind is OpKind.COLLECTIVE and a2a.fn == "all_to_all" and a2a.inputs == ("emb.stack",)
    assert (a2a.group, a2a.attrs["extent"], a2a.out_shape) == (2, 2, (4, 5, 16))
    assert a2a.attrs["message_bytes"] == 8 * 3 * 16 * 2 == 768
    # the interaction over 1 + 5 vectors of its 4 samples: 6 · 5 / 2 = 15 pairs, 16 + 15 = 31 features
    assert g["interact.stack"].inputs == ("bot_l.5", "emb.all_to_all") and g["interact.stack"].out_shape == (4, 6, 16)
    assert g["interact.bmm"].gemm == Gemm(m=6, n=6, k=16, count=4)
    assert g["interact.cat"].out_shape == (4, 31)


def test_the_mlps_run_on_batch_over_chips_samples():
    # per sample: bottom 13·512 + 512·256 + 256·16 = 141,824 MACs, interaction 6·6·16 = 576, top 31·1024 +
    # 1024·1024 + 1024·512 + 512·256 + 256·1 = 1,735,936; each chip runs 8 / 2 = 4 samples
    per_sample = 13 * 512 + 512 * 256 + 256 * 16 + 6 * 6 * 16 + 31 * 1024 + 1024 * 1024 + 1024 * 512 + 512 * 256 + 256
    assert per_sample == 141_824 + 576 + 1_735_936
    assert build_workload("dlrm_mlperf", {**PARAMS, "embedding_parallel": 2}).macs == per_sample * 4
    assert build_workload("dlrm_mlperf", PARAMS).macs == per_sample * 8  # unsharded: all 8 samples


def test_params_are_the_whole_models_and_the_chips_share():
    # MLPs: bottom (13+1)·512 + (512+1)·256 + (256+1)·16 = 142,608; top (31+1)·1024 + (1024+1)·1024 +
    # (1024+1)·512 + (512+1)·256 + (256+1)·1 = 1,738,753; tables (100+90+50+40+10)·16 = 4,640, chip 0's
    # (100+40+10)·16 = 2,400
    mlp = 142_608 + 1_738_753
    g = build_workload("dlrm_mlperf", {**PARAMS, "embedding_parallel": 2})
    assert g.params == 2_400 + mlp and g.meta["model_params"] == 4_640 + mlp
    assert build_workload("dlrm_mlperf", PARAMS).params == 4_640 + mlp


def test_criteo_all_to_all_on_dgx_h100_moves_the_hand_counted_bytes():
    r = simulate({"model": "dlrm_mlperf", "embedding_parallel": 8, "dtype": "bf16"}, "dgx-h100").to_dict()
    shards = r["embedding_parallel"]["shards"]
    # the group's vectors: 2048 samples × 26 tables × 128 × 2 B = 13,631,488 B, each chip's part its tables'
    assert sum(2048 * len(s["tables"]) * 128 * 2 for s in shards) == 2048 * 26 * 128 * 2 == 13_631_488
    # chip 6 (4 tables, the most, and the more rows of the two such) sends the most: 2048 · 4 · 128 · 2 =
    # 2,097,152 B, (8 − 1)/8 of it to the other chips
    (a2a,) = [op for op in r["ops"] if op["name"] == "emb.all_to_all"]
    assert a2a["mapping"]["message_bytes"] == r["embedding_parallel"]["all_to_all_bytes"] == 2_097_152
    assert a2a["bytes"]["link"] == 2_097_152 * 7 // 8 == 1_835_008
    assert r["bytes"]["link"] == 1_835_008  # inference: nothing else crosses the links
    # chip 6 holds 607,177 rows × 128 × 2 B of tables and the MLPs' 171,392 + 2,197,505 = 2,368,897 params in bf16
    assert r["memory"]["hbm"]["weights"] == 607_177 * 256 + 2_368_897 * 2
    assert r["params"] == 24_036_595_969 and r["params_per_chip"] == 607_177 * 128 + 2_368_897
    # an inference's energy per sample: the 8 chips of the group share its 2048 samples
    assert r["efficiency"]["j_per_inference"] == pytest.approx(r["energy"]["total_j"] * 8 / 2048)
    assert schema.problems(r) == []  # report.json's embedding_parallel is declared


def test_training_reduces_the_mlps_gradients_and_not_the_tables():
    r = simulate({**SMALL, "embedding_parallel": 2, "mode": "training"}, TWO).to_dict()
    link = {op["name"]: op["bytes"].get("link", 0) for op in r["ops"]}
    # the tables' steps are local to their chip: no all-reduce
    for t in (0, 3, 4):
        assert link[f"emb.{t}.weight.step"] == 0
        assert "all_reduce_s" not in next(op for op in r["ops"] if op["name"] == f"emb.{t}.weight.step")["mapping"]
    # each MLP parameter's gradient is all-reduced over both chips: (142,608 + 1,738,753) params × 4 B in all (the
    # bf16 parameters' fp32 gradients: probe p117 #1)
    mlp = sum(b for n, b in link.items() if n.endswith(".step") and not n.startswith("emb."))
    assert mlp == (142_608 + 1_738_753) * 4 == 7_525_444
    # the forward all-to-all and its gradient, the reverse all-to-all of the same (8, 3, 16) bf16 buffer:
    # 768 B each, half of it to the other chip
    assert link["emb.all_to_all"] == link["emb.all_to_all.grad_input"] == 768 // 2
    assert r["bytes"]["link"] == 7_525_444 + 2 * 384


def test_tables_of_replicated_groups_are_reduced_over_the_replicas():
    # embedding_parallel 2 on 4 chips: two groups, each holding every table once; a table's gradient is reduced over
    # the 4 / 2 = 2 chips holding it. Table 0 (100 rows) is looked up 8 times a group (its whole batch, pooling 1):
    # a sparse gradient of r = 8 rows, which the 2 holders all-gather with their int64 ids (probe p88 #3; it was
    # the whole table's 100 × 16 × 2 B = 3,200 B all-reduced): 2 × 8 × (16 × 2 + 8) = 640 B gathered, of which a
    # chip sends the (2 − 1)/2 that is its own, 320 B. Each holder's lazy Adam step then updates the union's
    # distinct rows (probe p214 #2: torch's sparse Adam coalesces the gradient; it was min(2 × 8, 100) = 16 rows):
    # 100 · (1 − (1 − 1/100)^16) = 14.85 → 15 rows, 15 × 16 × 10 FLOPs = 2,400
    r = simulate({**SMALL, "embedding_parallel": 2, "mode": "training"}, {**TWO, "chips": 4}).to_dict()
    step = next(op for op in r["ops"] if op["name"] == "emb.0.weight.step")
    assert step["bytes"]["link"] == (2 - 1) * 8 * (16 * 2 + 8) == 320
    assert step["flops"] == 15 * 16 * 10 == 2_400
    assert "all_gather_s" in step["mapping"] and "all_reduce_s" not in step["mapping"]


def test_notes_name_the_unsharded_idle_chips_and_the_fullest_chip():
    plain = simulate({"model": "dlrm_mlperf", "dtype": "bf16"}, "dgx-h100").to_dict()
    note = next(n for n in plain["notes"] if n.startswith("embedding_parallel"))
    # 187,767,399 rows × 128 × 2 B = 48,068,454,144 B of tables on the simulated chip; the other 7 idle
    assert "48068454144 B" in note and "other 7 chips" in note and "workload.embedding_parallel=8" in note
    sharded = simulate({"model": "dlrm_mlperf", "dtype": "bf16", "embedding_parallel": 8}, "dgx-h100").to_dict()
    note = next(n for n in sharded["notes"] if n.startswith("embedding_parallel"))
    # chip 0 holds table 19 (and t12, t13: 2,218 rows), (39,979,771 + 2,218) rows × 256 B = 10,235,389,184 B, not the
    # simulated chip 6
    assert "chip 6 is simulated" in note and "chip 0 holds the most table bytes, 10235389184 B" in note
    one_chip = simulate({"model": "dlrm_mlperf", "dtype": "bf16"}, "h100").to_dict()["notes"]
    assert [n for n in one_chip if not n.startswith("kernel launches bind")] == []  # one chip: no sharding note


@pytest.mark.parametrize(("params", "why"), [
    ({"embedding_parallel": 6}, "more than the 5 tables"),
    ({"embedding_parallel": 3}, "must divide batch 8"),
])
def test_builder_refusals_name_the_key(params, why):
    with pytest.raises(WorkloadError, match=why) as info:
        build_workload("dlrm_mlperf", {**PARAMS, **params})
    assert info.value.key == ("embedding_parallel",) and "\n" not in str(info.value)


def test_mapping_refusals():
    # probe p88 #7: refused by the scenario at the key (workload.embedding_parallel), as tensor_parallel, before
    # lowering would blame the workload's model: line
    with pytest.raises(ConfigError, match=r"workload\.embedding_parallel: dlrm_mlperf: embedding_parallel = 4 chips, "
                                          r"but arch 'dgx-h100' has arch\.chips=2"):
        simulate({**SMALL, "embedding_parallel": 4}, TWO)
    with pytest.raises(ConfigError, match=r"workload\.embedding_parallel: dlrm_mlperf: embedding_parallel \(2\) "
                                          r"must divide the data-parallel chips in training \(arch 'dgx-h100' has "
                                          r"arch\.chips=3\)"):
        simulate({**SMALL, "embedding_parallel": 2, "mode": "training"}, {**TWO, "chips": 3})


# Row-wise sharding (embedding_sharding: row): TorchRec's row-wise sharding, blocks of ⌈rows / E⌉ consecutive rows
# (its block bucketization), the ids hashed so a block gets the look-ups in proportion to its rows, partial sums of
# the whole batch reduce-scattered by sample.

def test_row_blocks_are_ceil_rows_over_chips_the_last_what_is_left():
    assert [row_block(10, 4, c) for c in range(4)] == [3, 3, 3, 1]  # ⌈10/4⌉ = 3; 10 − 9 = 1
    assert [row_block(3, 4, c) for c in range(4)] == [1, 1, 1, 0]  # ⌈3/4⌉ = 1; nothing past row 3
    assert [row_block(8, 2, c) for c in range(2)] == [4, 4]


def test_row_wise_chip_holds_a_block_of_every_table_and_pools_its_share_of_the_look_ups():
    g = build_workload("dlrm_mlperf", {**PARAMS, "embedding_parallel": 2, "embedding_sharding": "row"})
    embs = [op for op in g if op.kind is OpKind.EMBEDDING]
    # chip 0 holds ⌈rows / 2⌉ of each table: 50, 45, 25, 20, 5 rows; the 8 look-ups of a table (pooling 1) land on
    # its two blocks in proportion to their rows: ⌈8 · 50/100⌉ = ⌈8 · 45/90⌉ = ... = 4 on chip 0
    assert [op.name for op in embs] == [f"emb.{t}" for t in range(5)]
    assert [op.weights[0].shape for op in embs] == [(50, 16), (45, 16), (25, 16), (20, 16), (5, 16)]
    assert all(op.attrs["gather_rows"] == 4 and op.attrs["table_shard"] for op in embs)
    # each look-up's row is added into its sample's partial sum: 4 rows × 16 = 64 adds; partial sums of all 8
    assert all(op.flops == op.vector_elems == 64 and op.out_shape == (8, 16) for op in embs)
    # each block's 4 int64 ids (32 B = 16 fp16 elements) and the 8 + 1 int64 offsets of its bags (72 B = 36)
    assert g.inputs == {"dense": (4, 13), **{k: v for t in range(5)
                                             for k, v in ((f"indices.{t}", (16,)), (f"offsets.{t}", (36,)))}}
    (rs,) = [op for op in g if op.kind is OpKind.COLLECTIVE]
    # the (8, 5, 16) partial sums, summed over the 2 chips and scattered by sample: each chip its 4 samples
    assert rs.fn == "reduce_scatter" and rs.in_shapes[0] == (8, 5, 16) and rs.out_shape == (4, 5, 16)
    # params: the chip's blocks, 145 rows × 16, and the MLPs; the model's, every table's 290 rows × 16
    mlp = 142_608 + 1_738_753
    assert g.params == 145 * 16 + mlp and g.meta["model_params"] == 290 * 16 + mlp
    shards = g.meta["embedding_shards"]
    assert shards["sharding"] == "row" and shards["simulated_chip"] == 0
    assert shards["reduce_scatter_bytes"] == 8 * 5 * 16 * 2 == 1_280  # batch × tables × dim × bf16
    assert [s["rows"] for s in shards["shards"]] == [145, 145]
    assert [s["lookups"] for s in shards["shards"]] == [20, 20]  # 5 tables × 4


def test_row_wise_uneven_blocks_take_look_ups_by_their_rows():
    # tables of 10 and 3 rows on 4 chips, batch 8, pooling 2 (16 look-ups a table): chip 0 holds 3 of 10 rows
    # (⌈16 · 3/10⌉ = ⌈4.8⌉ = 5 look-ups) and 1 of 3 (⌈16/3⌉ = 6); chip 3 holds 1 row of the first (⌈1.6⌉ = 2) and
    # none of the second
    g = build_workload("dlrm_mlperf", {"tables": [10, 3], "dim": 16, "batch": 8, "pooling": 2, "dtype": "bf16",
                                       "embedding_parallel": 4, "embedding_sharding": "row"})
    assert {op.name: op.attrs["gather_rows"] for op in g if op.kind is OpKind.EMBEDDING} == {"emb.0": 5, "emb.1": 6}
    shards = g.meta["embedding_shards"]["shards"]
    assert [s["rows"] for s in shards] == [4, 4, 4, 1]
    assert [s["lookups"] for s in shards] == [11, 11, 11, 2] and shards[3]["tables"] == [0]


def test_row_wise_reduce_scatter_moves_the_partial_sums_and_training_all_gathers_them_back():
    r = simulate({**SMALL, "embedding_parallel": 2, "embedding_sharding": "row", "mode": "training"},
                 TWO).to_dict()
    link = {op["name"]: op["bytes"].get("link", 0) for op in r["ops"]}
    # the (8, 5, 16) bf16 partial sums, 1,280 B: a ring reduce-scatter over 2 chips sends (2 − 1)/2 of it on each
    # link; its gradient, the all-gather of the same buffer, as much
    assert link["emb.reduce_scatter"] == link["emb.reduce_scatter.grad_input"] == 1_280 // 2
    assert next(op for op in r["ops"] if op["name"] == "emb.reduce_scatter.grad_input")["fn"] == "all_gather"
    for t in range(5):  # each block's step is local to its chip
        assert link[f"emb.{t}.weight.step"] == 0
    # the MLPs' gradients all-reduced as table-wise: (142,608 + 1,738,753) params × 4 B (fp32 gradients)
    assert r["bytes"]["link"] == 7_525_444 + 2 * 640
    assert schema.problems(r) == []


def test_row_wise_balances_heavy_pooling_that_table_wise_piles_on_one_chip():
    # pooling 64 on the 5 tables over 2 chips: table-wise chip 0 looks up 3 tables × 8 × 64 = 1,536 rows,
    # row-wise each chip ⌈8 · 64 · block / rows⌉ = 256 of each of the 5 tables, 1,280
    table = build_workload("dlrm_mlperf", {**PARAMS, "pooling": 64, "embedding_parallel": 2})
    row = build_workload("dlrm_mlperf", {**PARAMS, "pooling": 64, "embedding_parallel": 2,
                                         "embedding_sharding": "row"})
    assert table.meta["embedding_shards"]["shards"][0]["lookups"] == 1_536
    assert [s["lookups"] for s in row.meta["embedding_shards"]["shards"]] == [1_280, 1_280]
    # and more chips than tables is no refusal row-wise: 8 chips hold a block of each of the 5
    g = build_workload("dlrm_mlperf", {**PARAMS, "embedding_parallel": 8, "embedding_sharding": "row"})
    assert g.meta["embedding_shards"]["chips"] == 8


def test_row_sharding_without_chips_to_shard_over_is_refused_at_its_key():
    # embedding_parallel 1: no chips to cut the tables over, so the setting would do nothing
    with pytest.raises(WorkloadError, match="row is read only with embedding_parallel > 1") as info:
        build_workload("dlrm_mlperf", {**PARAMS, "embedding_sharding": "row"})
    assert info.value.key == ("embedding_sharding",)


def test_row_wise_zipf_gives_chip_0_the_hottest_block_and_its_zipf_share_of_the_look_ups():
    # access: zipf, α = 1, ranks hottest first: block bucketization puts ranks 1 .. ⌈rows / 2⌉ on chip 0.
    # Table 0, 4 rows: H(4) = 1 + 1/2 + 1/3 + 1/4 = 25/12; chip 0 ranks 1-2, H(2) = 3/2: (3/2) / (25/12) = 18/25
    # of the 100 look-ups = 72; chip 1 ranks 3-4: (1/3 + 1/4) / (25/12) = 7/25 → 28.
    # Table 1, 6 rows: H(6) = 49/20; chip 0 ranks 1-3, H(3) = 11/6: 110/147 · 100 = 74.8 → ⌈⌉ 75; chip 1 ranks 4-6:
    # (1/4 + 1/5 + 1/6) = 37/60, 37/147 · 100 = 25.2 → 26. Uniform: each block its rows' share, 50 and 50
    params = {"tables": [4, 6], "dim": 16, "batch": 100, "dtype": "bf16", "embedding_parallel": 2,
              "embedding_sharding": "row", "zipf_alpha": 1.0}
    zipf = build_workload("dlrm_mlperf", {**params, "access": "zipf"})
    uniform = build_workload("dlrm_mlperf", params)
    assert [zipf[f"emb.{t}"].attrs["gather_rows"] for t in (0, 1)] == [72, 75]
    assert [uniform[f"emb.{t}"].attrs["gather_rows"] for t in (0, 1)] == [50, 50]
    # chip 0's block of ranks 1 .. b is itself a Zipf(α) table of b rows (the law restricted to its head)
    assert zipf["emb.0"].weights[0].shape == (2, 16) and zipf["emb.0"].access == ("zipf", 1.0)
    shards = zipf.meta["embedding_shards"]["shards"]
    assert [s["lookups"] for s in shards] == [72 + 75, 28 + 26]
    assert [s["lookups"] for s in uniform.meta["embedding_shards"]["shards"]] == [100, 100]


def test_row_wise_chip_without_rows_of_a_table_keeps_its_slot_in_the_reduce_scatter():
    # probe p239 #1: tables of 2 and 1,000 rows on 4 chips, chip 3 simulated (batch 2048, dim 128, pooling 1).
    # row_block: ⌈2/4⌉ = 1 row on chips 0-1, none on chip 3; ⌈1000/4⌉ = 250 rows on each chip. Chip 3 looks up
    # nothing of table 0 (no op, no ids), ⌈2048 · 250/1000⌉ = 512 rows of table 1; but TorchRec's row-wise
    # reduce-scatter covers every table's pooled output on every rank (an empty block adds zeros), so the stack is
    # (2048, 2, 128), the dense part chip 0's: 3 interaction vectors, 3 · 2/2 = 3 pairs, top_l.0 128 + 3 = 131 → 1024
    params = {"tables": [2, 1000], "dtype": "bf16", "embedding_parallel": 4, "embedding_sharding": "row"}
    g = build_workload("dlrm_mlperf", {**params, "simulated_chip": 3})
    embs = {op.name: op for op in g if op.kind is OpKind.EMBEDDING}
    assert list(embs) == ["emb.1"] and embs["emb.1"].attrs["gather_rows"] == 512
    assert "indices.0" not in g.inputs and "offsets.0" not in g.inputs
    assert g["emb.stack"].out_shape == (2048, 2, 128) and g["emb.reduce_scatter"].out_shape == (512, 2, 128)
    assert g["interact.stack"].out_shape == (512, 3, 128) and g["interact.cat"].out_shape == (512, 131)
    assert g["top_l.0"].params == 131 * 1024 + 1024 == 135_168
    # 2048 · 2 tables · 128 · 2 B (bf16), what chip 0 sends too
    assert g.meta["embedding_shards"]["reduce_scatter_bytes"] == 2048 * 2 * 128 * 2 == 1_048_576
    # the model: (2 + 1000) · 128 table params + bottom 7,168 + 131,328 + 32,896 + top 135,168 + 1,049,600 +
    # 524,800 + 131,328 + 257 = 2,140,801 (the report's sum); the chip's: 250 · 128 = 32,000 table params + the MLPs
    mlp = 7_168 + 131_328 + 32_896 + 135_168 + 1_049_600 + 524_800 + 131_328 + 257
    assert g.meta["model_params"] == 1002 * 128 + mlp == 2_140_801
    assert g.params == 250 * 128 + mlp
    chip0 = build_workload("dlrm_mlperf", params)
    assert chip0.meta["model_params"] == 2_140_801 and chip0["top_l.0"].params == 135_168


def test_row_wise_training_chip_without_rows_all_reduces_the_whole_dense_model():
    # tables of 1 and 100 rows on 2 chips: chip 1 holds none of table 0 (⌈1/2⌉ = 1 row on chip 0). Its MLPs are
    # the replicated dense model's: bottom 7,168 + 131,328 + (256 · 16 + 16 = 4,112), interaction 1 + 2 vectors,
    # 3 pairs, top_l.0 (16 + 3) · 1024 + 1024 = 20,480, then 1,049,600 + 524,800 + 131,328 + 257: 1,869,073 params,
    # whose fp32 gradients the 2-chip ring all-reduce puts 1× on the link: 7,476,292 B. The reduce-scatter of the
    # (8, 2, 16) bf16 partial sums (512 B) and its all-gather gradient each (2 − 1)/2 of it, 256 B
    r = simulate({"model": "dlrm_mlperf", "tables": [1, 100], "dim": 16, "batch": 8, "dtype": "bf16",
                  "embedding_parallel": 2, "embedding_sharding": "row", "simulated_chip": 1, "mode": "training"},
                 TWO).to_dict()
    link = {op["name"]: op["bytes"].get("link", 0) for op in r["ops"]}
    assert link["emb.reduce_scatter"] == link["emb.reduce_scatter.grad_input"] == 256
    assert "emb.0" not in link and link["emb.1.weight.step"] == 0
    assert r["bytes"]["link"] == 4 * 1_869_073 + 2 * 256
    assert schema.problems(r) == []
