"""Probe p112 #1, #4 and #8: a sharded DLRM run simulates each distinct chip and reports the slowest (a chip whose
table spills beyond HBM looks it up over the host link, and every chip waits for it at the all-to-all); a lazily
updated table's weight weighs its placement with the step's rows read and written on top of its gather; an inference
on more chips than one group says the other groups are idle.

Every expected number is a hand calculation written out here, from the presets' spec-sheet values: tpu-v5e
(arch/tpu-v5e.yaml: hbm 16 GiB, host link 16 GB/s) and its 8-chip host tpu-v5e-8.
"""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.builders import build_workload
from accelsim.builders.recsys import distinct_chips, shard_tables
from accelsim.errors import WorkloadError
from accelsim.mapping.placement import gathered_tables

HBM = 16 * 2**30  # tpu-v5e: 17,179,869,184 B
HOST_BW = 16e9  # tpu-v5e's host link, B/s
ROW = 128 * 2  # dim 128 in bf16: 256 B a row


def test_identical_chips_are_one_shape_and_the_builders_chip_comes_first():
    # [5, 7, 7, 5] over 3 chips, largest first (ties: the lower table) onto the chip with the fewest (tables, rows):
    # t1 (7) → chip 0, t2 (7) → chip 1, t0 (5) → chip 2, t3 (5) → chip 2 ((1, 5) < (1, 7))
    shards = shard_tables([5, 7, 7, 5], 3)
    assert shards == ((1,), (2,), (0, 3))
    # chips 0 and 1 each hold one 7-row table: one shape; chip 2 (5, 5) another
    assert distinct_chips(shards, [5, 7, 7, 5], 2) == [2, 0]
    assert distinct_chips(shards, [5, 7, 7, 5], 1) == [1, 2]  # chip 1 stands for its shape when it is the first
    assert distinct_chips([(0, 3), (1,), (2,)], [5, 7, 7, 5], 0) == [0, 1]  # the docstring's example


def test_the_chip_whose_table_spills_is_the_one_timed():
    # tables [200M, 10, 10] over 2 chips: chip 0 holds the 200M-row table (51.2 GB of bf16 rows), chip 1 the two
    # 10-row tables (the most look-ups: the builder's chip, what the run timed before, probe p112 #1)
    params = {"model": "dlrm_mlperf", "tables": [200_000_000, 10, 10], "embedding_parallel": 2}
    r = simulate(params, "tpu-v5e-8").to_dict()
    assert r["embedding_parallel"]["simulated_chip"] == 0
    # at most 16 GiB / 256 B = 67,108,864 of the 200M rows fit HBM (33.55 %), so at least 2048 × (1 − 0.33554) =
    # 1,360.8 of the 2,048 uniform look-ups read host memory: ≥ 1,360 × 256 = 348,160 B over the 16 GB/s link,
    # ≥ 21.76 µs of the look-up (the probe counted 1,361 rows)
    emb = next(op for op in r["ops"] if op["name"] == "emb.0")
    assert 1_360 * ROW <= emb["bytes"]["host"] <= 1_362 * ROW
    look_up_s = (emb["end_cycle"] - emb["start_cycle"]) / r["clock_hz"]
    assert look_up_s >= 1_360 * ROW / HOST_BW
    # the all-to-all waits for it
    a2a = next(op for op in r["ops"] if op["name"] == "emb.all_to_all")
    assert a2a["start_cycle"] >= emb["end_cycle"]
    # the all-to-all is priced at the busiest send, chip 1's 2 tables: 2048 × 2 × 256 B = 1,048,576 B, though chip
    # 0 sends one table's vectors
    assert a2a["mapping"]["message_bytes"] == r["embedding_parallel"]["all_to_all_bytes"] == 2048 * 2 * ROW
    # chip 1 alone: its two 10-row tables (5,120 B) live in HBM, and its pass is the shorter; the run's is chip 0's
    one = simulate({**params, "simulated_chip": 1}, "tpu-v5e-8").to_dict()
    assert one["bytes"].get("host", 0) == 0
    assert r["seconds"] > one["seconds"]
    assert r["total_cycles"] == simulate({**params, "simulated_chip": 0}, "tpu-v5e-8").to_dict()["total_cycles"]
    note = next(n for n in r["notes"] if "each distinct chip was simulated" in n)
    assert "chip 0's, the slowest" in note and "chip 1 " in note


def test_identical_chips_are_simulated_once():
    # [100, 100, 50, 50] over 2 chips: 100 (t0) → chip 0, 100 (t1) → chip 1, 50 (t2) → chip 0 (a tie: the lower
    # chip), 50 (t3) → chip 1: both chips hold rows (100, 50), one graph simulated, no comparison note
    params = {"model": "dlrm_mlperf", "tables": [100, 100, 50, 50], "dim": 16, "batch": 8,
              "embedding_parallel": 2}
    assert shard_tables([100, 100, 50, 50], 2) == ((0, 2), (1, 3))
    r = simulate(params, "tpu-v5e-8").to_dict()
    assert r["embedding_parallel"]["simulated_chip"] == 0
    assert r["simulation"] == simulate({**params, "simulated_chip": 0}, "tpu-v5e-8").to_dict()["simulation"]
    assert not any("each distinct chip" in n for n in r["notes"])


def test_a_chip_beyond_the_group_is_refused_at_its_key():
    with pytest.raises(WorkloadError, match="simulated_chip 2 is not a chip of the group") as e:
        build_workload("dlrm_mlperf", {"embedding_parallel": 2, "simulated_chip": 2})
    assert e.value.key == ("simulated_chip",)


def test_the_cli_refuses_it_in_one_line_with_status_2(tmp_path, capsys, monkeypatch):
    from accelsim.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["run", "-w", "dlrm_mlperf", "-a", "tpu-v5e-8", "--set", "workload.embedding_parallel=2", "--set",
                 "workload.simulated_chip=5", "-q", "--no-plots", "-o", "o"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "workload.simulated_chip" in err[0]


def test_a_lazily_updated_tables_weight_counts_the_steps_rows_read_and_written():
    # embedding_bag training: 2048 samples × pooling 20 = 40,960 look-ups of a 1M-row table, and the lazy step
    # reads and writes the rows it updates (sparse_rows): the distinct ones, 10^6 · (1 − (1 − 10^−6)^40,960) =
    # 40,132.5 → 40,132 (probe p214 #2: torch's sparse Adam coalesces the gradient; it was 40,960). The weight moves
    # 40,960 + 2 × 40,132 rows a step, each Adam state 2 × 40,132 (probe p112 #4: the weight had 40,960, its states
    # 40,960)
    g = build_workload("embedding_bag", {"mode": "training"})
    tables = gathered_tables(g)
    weight = next(n for n in tables if n.endswith(".weight"))
    assert tables[weight][:2] == (1_000_000, 40_960 + 2 * 40_132)
    states = [n for n in tables if n != weight]
    assert states and all(tables[n][:2] == (1_000_000, 2 * 40_132) for n in states)


def test_an_inference_says_the_groups_beyond_the_first_are_idle():
    # 8 chips, embedding_parallel 4: the pass runs on chips 0-3; chips 4-7 hold a second copy of every table
    params = {"model": "dlrm_mlperf", "tables": [100, 90, 50, 40, 10, 5, 4, 3], "dim": 16, "batch": 8,
              "embedding_parallel": 4}
    notes = simulate(params, "tpu-v5e-8").to_dict()["notes"]
    (note,) = [n for n in notes if "runs on one group" in n]
    assert "one group of 4 chips (chips 0-3)" in note and "1 group of 4 (chips 4-7)" in note
    # 8 chips would take every table: 8 ≤ the 8 tables and 8 divides the batch of 8
    assert "workload.embedding_parallel=8" in note
    # a training step's groups are data-parallel replicas: none is idle
    notes = simulate({**params, "mode": "training"}, "tpu-v5e-8").to_dict()["notes"]
    assert not any("runs on one group" in n for n in notes)
