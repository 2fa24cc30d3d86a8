"""Sweep files and their points: grid and zip expansion, ranges, filters, ids, validation before anything runs,
the result store's torn-line handling, chunk sizing and the Pareto front.

Every expected point set below is listed by hand from the sweep file next to it.
"""

from __future__ import annotations

import itertools
import json
import re
import textwrap
from pathlib import Path

import pytest

from accelsim.config.sweep import load_sweep
from accelsim.errors import ConfigError
from accelsim.sweep.executors import Chunker, Executor, dispatch
from accelsim.sweep.expand import (
    PlannedPoint,
    PlanStream,
    describe,
    expand,
    invalid_point_id,
    plan_sweep,
    point_id,
    short_names,
)
from accelsim.sweep.plots import pareto_front_nd
from accelsim.sweep.store import ResultStore, metrics_from_report, record, table

BASE = """\
base:
  workload: {model: lenet5, batch: 1}
  arch: gemmini
"""
ROWS, COLS, DF = "arch.core.systolic.rows", "arch.core.systolic.cols", "arch.core.systolic.dataflow"
BW, LAT = "arch.hbm.bandwidth", "arch.hbm.latency"


def sweep_file(tmp_path: Path, body: str, base: str = BASE) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(base + textwrap.dedent(body))
    return path


def points_of(tmp_path: Path, body: str) -> list[dict]:
    points, _ = expand(load_sweep(sweep_file(tmp_path, body)))
    return [p.values for p in points]


def error_lines(fn, *args) -> list[str]:
    with pytest.raises(ConfigError) as info:
        fn(*args)
    return str(info.value).splitlines()


def line_of(path: Path, text: str) -> int:
    """1-based line of the first line of ``path`` containing ``text``."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# ---- expansion -----------------------------------------------------------------------------------------------------
def test_grid_is_the_cartesian_product_with_the_last_axis_fastest(tmp_path):
    got = points_of(tmp_path, f"""\
        grid:
          {ROWS}: [16, 32]
          {DF}: [ws, os, is]
        """)
    assert got == [{ROWS: 16, DF: "ws"}, {ROWS: 16, DF: "os"}, {ROWS: 16, DF: "is"},
                   {ROWS: 32, DF: "ws"}, {ROWS: 32, DF: "os"}, {ROWS: 32, DF: "is"}]


def test_zip_advances_in_lock_step_and_unit_strings_stay_strings(tmp_path):
    got = points_of(tmp_path, f"""\
        zip:
          {BW}: [34GB/s, 68GB/s, 136GB/s]
          {LAT}: [100ns, 80ns, 60ns]
        """)
    assert got == [{BW: "34GB/s", LAT: "100ns"}, {BW: "68GB/s", LAT: "80ns"}, {BW: "136GB/s", LAT: "60ns"}]


def test_grid_is_crossed_with_zip_grid_outer(tmp_path):
    got = points_of(tmp_path, f"""\
        grid:
          {ROWS}: [16, 32]
        zip:
          {BW}: [34GB/s, 68GB/s]
          {LAT}: [100ns, 80ns]
        """)
    assert got == [{ROWS: 16, BW: "34GB/s", LAT: "100ns"}, {ROWS: 16, BW: "68GB/s", LAT: "80ns"},
                   {ROWS: 32, BW: "34GB/s", LAT: "100ns"}, {ROWS: 32, BW: "68GB/s", LAT: "80ns"}]


def test_several_zip_groups_are_crossed_with_each_other(tmp_path):
    got = points_of(tmp_path, f"""\
        zip:
          - {{{ROWS}: [16, 32], {COLS}: [8, 4]}}
          - {{{BW}: [1GB/s, 2GB/s], {LAT}: [1ns, 2ns]}}
        """)
    assert got == [{ROWS: 16, COLS: 8, BW: "1GB/s", LAT: "1ns"}, {ROWS: 16, COLS: 8, BW: "2GB/s", LAT: "2ns"},
                   {ROWS: 32, COLS: 4, BW: "1GB/s", LAT: "1ns"}, {ROWS: 32, COLS: 4, BW: "2GB/s", LAT: "2ns"}]


@pytest.mark.parametrize("spec, values", [
    ("{start: 32, stop: 128, step: 32}", [32, 64, 96, 128]),   # stop included when a step lands on it
    ("{start: 32, stop: 120, step: 32}", [32, 64, 96]),        # ... and not passed otherwise
    ("{start: 10, stop: 1, step: -3}", [10, 7, 4, 1]),
    ("{start: 1, stop: 4}", [1, 2, 3, 4]),                     # step defaults to 1
    ("{start: 0.1, stop: 0.3, step: 0.1}", [0.1, 0.2, 0.3]),   # no 0.30000000000000004
    # YAML 1.1 (PyYAML) reads 1e9 as the string '1e9' (its float needs a dot): a number all the same, as in a list
    # (probe p232 #2: the range refused it, "expected a number")
    ("{start: 1e9, stop: 3000000000, step: 1000000000}", [1e9, 2e9, 3e9]),
    ("{log2: [16, 256]}", [16, 32, 64, 128, 256]),
    ("{log2: [24, 96]}", [24, 48, 96]),                        # any LO: 96 = 24·2²
    ("{log2: [7, 7]}", [7]),
    ("[8]", [8]),
])
def test_ranges(tmp_path, spec, values):
    got = points_of(tmp_path, f"grid:\n  {ROWS}: {spec}\n")
    assert [p[ROWS] for p in got] == values


@pytest.mark.parametrize("bounds, expected", [
    # 12, 24, 48: 64 is not 12·2^k; 64 / 2² = 16 doubles onto 64 in as many values
    ("[12, 64]", "log2: 64 is not 12 times a power of two, so doubling from 12 (12, 24, 48) never reaches it; did "
                 "you mean {log2: [12, 48]}, {log2: [16, 64]} or the plain list [12, 24, 48, 64] (no log2)?"),
    # 24, 48, 96: 100 / 2² = 25 doubles onto 100 (25, 50, 100)
    ("[24, 100]", "log2: 100 is not 24 times a power of two, so doubling from 24 (24, 48, 96) never reaches it; "
                  "did you mean {log2: [24, 96]}, {log2: [25, 100]} or the plain list [24, 48, 96, 100] (no log2)?"),
    # 3, 6: 7 is odd, no LO' doubles onto it
    ("[3, 7]", "log2: 7 is not 3 times a power of two, so doubling from 3 (3, 6) never reaches it; did you mean "
               "{log2: [3, 6]} or the plain list [3, 6, 7] (no log2)?"),
    # probe p138 #3: 8 doubles past 12 at once, and the refusal offered [8, 12], the input: from 8 one doubling,
    # 8, 16; onto 12 from 12 / 2 = 6, 6, 12; or 8 and 12 as a plain list of the two
    ("[8, 12]", "log2: 12 is not 8 times a power of two, so doubling from 8 (8) never reaches it; did you mean "
                "{log2: [8, 16]}, {log2: [6, 12]} or the plain list [8, 12] (no log2)?"),
    # 5 doubles past 7 at once and 7 is odd: from 5, 5, 10; or the plain list
    ("[5, 7]", "log2: 7 is not 5 times a power of two, so doubling from 5 (5) never reaches it; did you mean "
               "{log2: [5, 10]} or the plain list [5, 7] (no log2)?"),
])
def test_a_log2_range_whose_hi_doubling_misses_is_refused(tmp_path, bounds, expected):
    # docs/sweeps.md: {log2: [LO, HI]} is "LO, 2·LO, 4·LO, ... up to and including HI" (probe p124 #1: [12, 64] ran
    # 12, 24, 48 and no 64, silently; test_ranges pinned [24, 100] -> 24, 48, 96 before)
    path = sweep_file(tmp_path, f"grid:\n  {ROWS}: {{log2: {bounds}}}\n")
    lines = error_lines(load_sweep, path)
    assert lines == [f"{path}:{line_of(path, 'log2')}: {ROWS}: {expected} (got {bounds})"]


def test_a_range_may_carry_a_unit_and_a_range_of_times_needs_one(tmp_path):
    # the unit rides on every value: 0, 100, 200, 300 ns (each a time the arch reads as nanoseconds)
    got = points_of(tmp_path, f"grid:\n  {LAT}: {{start: 0ns, stop: 300ns, step: 100ns}}\n")
    assert [p[LAT] for p in got] == ["0ns", "100ns", "200ns", "300ns"]
    got = points_of(tmp_path, f"grid:\n  {BW}: {{start: 1GB/s, stop: 3GB/s}}\n")
    assert [p[BW] for p in got] == ["1GB/s", "2GB/s", "3GB/s"]
    # mixed units are refused; bare numbers for a time are refused as any bare time is (they would be seconds)
    lines = error_lines(lambda: points_of(tmp_path, f"grid:\n  {LAT}: {{start: 1ns, stop: 3us}}\n"))
    assert "start, stop and step in one unit" in lines[0]
    lines = error_lines(lambda: plan_sweep(load_sweep(sweep_file(
        tmp_path, f"grid:\n  {LAT}: {{start: 0, stop: 3.0e-7, step: 1.0e-7}}\n"))))
    assert "a time needs its unit" in lines[0]


def test_filters_keep_the_points_where_every_expression_holds(tmp_path):
    # rows x cols over {16, 32, 64}^2 (9 points); keep rows <= 2 * cols and not both 64:
    # (16,16) (16,32) (16,64) (32,16) (32,32) (32,64) (64,32) [(64,16) fails the first, (64,64) the second]
    got = points_of(tmp_path, f"""\
        grid:
          {ROWS}: [16, 32, 64]
          {COLS}: [16, 32, 64]
        filters:
          - "{ROWS} <= 2 * {COLS}"
          - "not ({ROWS} == 64 and {COLS} == 64)"
        """)
    assert [(p[ROWS], p[COLS]) for p in got] == [(16, 16), (16, 32), (16, 64), (32, 16), (32, 32), (32, 64),
                                                 (64, 32)]


def test_filters_know_in_arithmetic_chains_and_set_values(tmp_path):
    got = points_of(tmp_path, f"""\
        set: {{workload.batch: 4}}
        grid:
          {ROWS}: [8, 16, 32, 64]
          {DF}: [ws, os, is]
        filters:
          - "{DF} in ['ws', 'os'] or {ROWS} // 16 % 2 == 1"
          - "8 < {ROWS} * workload.batch / 2 <= 64"
        """)
    # second filter: rows*4/2 in (8, 64] → rows in {8, 16, 32}; first: dataflow ws/os, or is when rows//16 is odd
    # (rows=16 → 1, odd; rows=8 → 0; rows=32 → 2)
    assert [(p[ROWS], p[DF]) for p in got] == [(8, "ws"), (8, "os"), (16, "ws"), (16, "os"), (16, "is"),
                                               (32, "ws"), (32, "os")]


@pytest.mark.parametrize("expr, message", [
    ("arch.core.systolic.rows <", "invalid expression"),
    ("arch.core.systolic.rowz > 1", "unknown name 'arch.core.systolic.rowz'; did you mean 'arch.core.systolic.rows'?"),
    ("__import__('os').system('true')", "unsupported syntax"),
    ("arch.core.systolic.rows ** 99", "unsupported syntax"),
    ("rows > 1", "unknown name 'rows'"),
])
def test_a_bad_filter_is_one_line_naming_the_filter_and_its_line(tmp_path, expr, message):
    path = sweep_file(tmp_path, f"""\
        grid:
          {ROWS}: [16, 32]
        filters:
          - "{ROWS} > 0"
          - "{expr}"
        """)
    lines = error_lines(lambda: expand(load_sweep(path)))
    assert len(lines) == 1
    assert "sweep.yaml:8: filters[1]: " in lines[0]  # 3 lines of base, grid (4-5), filters: (6), the second (8)
    assert message in lines[0]


def test_a_filter_that_cannot_be_evaluated_names_the_point(tmp_path):
    path = sweep_file(tmp_path, f"""\
        grid:
          {DF}: [ws, os]
        filters: ["{DF} > 3"]
        """)
    (line,) = error_lines(lambda: expand(load_sweep(path)))
    assert "filters[0]: cannot evaluate at point #0 (dataflow=ws)" in line and "'>' not supported" in line


# ---- structure errors ----------------------------------------------------------------------------------------------
def test_structure_errors_are_all_reported_with_their_lines(tmp_path):
    path = sweep_file(tmp_path, f"""\
        grid:
          {ROWS}: [16, 32]
          arh.core.systolic.cols: [1, 2]
          {DF}: {{start: 1}}
        zip:
          {BW}: [1GB/s, 2GB/s]
          {LAT}: [1ns]
          {ROWS}: [1, 2]
        filter: []
        """)
    lines = error_lines(load_sweep, path)
    text = "\n".join(lines)
    assert len(lines) == 5, text
    assert f":{line_of(path, 'arh.core')}: arh.core.systolic.cols: unknown section 'arh'; did you mean 'arch'?" in text
    assert f":{line_of(path, DF)}: {DF}: a range needs start and stop (step is optional); got start" in text
    assert f":{line_of(path, 'zip:')}: zip: zip lists must have the same length ({BW}: 2, {LAT}: 1)" in text
    assert f":{line_of(path, f'{ROWS}: [1, 2]')}: {ROWS}: already swept or set in 'grid'" in text
    assert f":{line_of(path, 'filter:')}: filter: unknown key; did you mean 'filters'?" in text


def test_nothing_to_sweep_and_a_missing_base_are_errors(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\n")
    lines = error_lines(load_sweep, path)
    assert any("missing 'base'" in x for x in lines) and any("nothing to sweep" in x for x in lines)


def test_base_path_is_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "exp.yaml").write_text("workload: lenet5\narch: gemmini\nname: mine\n")
    path = tmp_path / "sub" / "s.yaml"
    path.write_text(f"base: exp.yaml\ngrid:\n  {ROWS}: [4]\n")
    plan = plan_sweep(load_sweep(path))
    assert plan.points[0].experiment.name == "mine" and plan.points[0].experiment.arch.core.systolic.rows == 4



def test_a_points_workload_keys_are_located_as_written_in_the_base(tmp_path):
    # a run's error at a workload key (a workload that cannot fit: scenarios.run_workload locates it at "model")
    # names the base file's line and the key as written there, workload.model, in a sweep as in `accelsim run`
    (tmp_path / "exp.yaml").write_text("name: mine\nworkload:\n  model: lenet5\n  batch: 1\narch: gemmini\n")
    (tmp_path / "s.yaml").write_text(f"base: exp.yaml\ngrid:\n  {ROWS}: [4, 8]\n")
    for point in plan_sweep(load_sweep(tmp_path / "s.yaml")).points:
        where, key = point.experiment.workload.source.locate(("model",))
        assert (key, where.line) == ("workload.model", 3)
    # an inline base: the key's path in the sweep file
    path = sweep_file(tmp_path, f"grid:\n  {ROWS}: [4]\n")
    point = plan_sweep(load_sweep(path)).points[0]
    assert point.experiment.workload.source.locate(("model",))[1] == "base.workload.model"


# ---- validation of every point, ids --------------------------------------------------------------------------------
def test_a_bad_axis_key_is_one_line_naming_it(tmp_path):
    path = sweep_file(tmp_path, f"""\
        grid:
          arch.core.systolic.rowz: [16, 32]
          {DF}: [ws, os]
        """)
    lines = error_lines(lambda: plan_sweep(load_sweep(path)))
    assert len(lines) == 1, lines
    assert re.match(rf".*sweep\.yaml:{line_of(path, 'rowz')}: arch\.core\.systolic\.rowz: Extra inputs are not "
                    rf"permitted; did you mean 'rows'\?", lines[0]), lines[0]


def test_a_bad_value_names_the_file_line_key_value_and_point(tmp_path):
    path = sweep_file(tmp_path, f"""\
        grid:
          {ROWS}: [16, -1]
          {DF}: [ws, os, xs]
        """)
    lines = error_lines(lambda: plan_sweep(load_sweep(path)))
    # rows=-1 fails in 3 of the 6 points (the first is #3: rows=-1, ws); dataflow=xs in 2 (#2: rows=16, xs)
    assert len(lines) == 2, lines
    rows_line = next(x for x in lines if "systolic.rows" in x)
    df_line = next(x for x in lines if "systolic.dataflow" in x)
    assert f"sweep.yaml:{line_of(path, ROWS)}: {ROWS}: Input should be greater than 0 (got -1) in 3 of 6 points, " \
           f"first point #3 (rows=-1, dataflow=ws)" in rows_line
    assert f"sweep.yaml:{line_of(path, DF)}: {DF}: " in df_line and "(got 'xs') in 2 of 6 points, first point #2 " \
           "(rows=16, dataflow=xs)" in df_line


def test_ids_hash_the_resolved_config(tmp_path):
    # 24MiB and 25165824 are the same SRAM once resolved: one id, counted as a duplicate; 12MiB differs
    path = sweep_file(tmp_path, """\
        grid:
          arch.core.sram.unified: [24MiB, 25165824, 12MiB]
        """, base="base: resnet50_tpu_v1\n")
    plan = plan_sweep(load_sweep(path))
    assert len(plan.points) == 2 and plan.duplicates == 1 and plan.expanded == 3
    a, b = plan.points
    assert re.fullmatch(r"[0-9a-f]{16}", a.id) and a.id != b.id
    assert a.id == point_id(a.experiment)
    # the id is the sha256 of the canonical JSON of the resolved config, without its labels (name, description,
    # output: nothing simulated depends on them)
    import hashlib
    resolved = {k: v for k, v in a.experiment.resolved().items() if k not in ("name", "description", "output")}
    canonical = json.dumps(resolved, sort_keys=True, separators=(",", ":"))
    assert a.id == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    # the same point in another sweep file (different axes, written differently) has the same id
    other = sweep_file(tmp_path, "grid:\n  arch.core.sram.unified: [24MiB]\n  workload.batch: [1]\n",
                       base="base: resnet50_tpu_v1\n")
    assert plan_sweep(load_sweep(other)).points[0].id == a.id


def test_set_values_apply_to_every_point(tmp_path):
    path = sweep_file(tmp_path, f"""\
        set: {{workload.batch: 3, {COLS}: 8}}
        grid:
          {ROWS}: [4, 8]
        """)
    plan = plan_sweep(load_sweep(path))
    assert [(p.experiment.workload.params["batch"], p.experiment.arch.core.systolic.cols,
             p.experiment.arch.core.systolic.rows) for p in plan.points] == [(3, 8, 4), (3, 8, 8)]


# ---- helpers -------------------------------------------------------------------------------------------------------
def test_short_names_and_describe():
    keys = [ROWS, COLS, "arch.hbm.latency", "arch.host.latency"]
    assert short_names(keys) == {ROWS: "rows", COLS: "cols", "arch.hbm.latency": "hbm.latency",
                                 "arch.host.latency": "host.latency"}
    assert describe({ROWS: 16, DF: "ws"}) == "rows=16, dataflow=ws"


def test_pareto_front_by_hand():
    # (area, cycles): (1,10) (2,8) (2,9) (3,8) (4,3) (5,4) → front (1,10) (2,8) (4,3); (3,8) ties on cycles with a
    # smaller point, (5,4) and (2,9) are beaten
    pts = [(3, 8), (1, 10), (2, 9), (2, 8), (5, 4), (4, 3)]
    assert pareto_front_nd(pts) == [1, 3, 5]
    # (area, seconds, joules): a bandwidth sweep of one area: the faster point that spends more energy stays on the
    # front beside the slower, frugal one; (1, 5, 5) loses to (1, 4, 5); the two equal (1, 5, 3) do not dominate
    # each other (Deb 2001, Def. 2.5: dominance needs one coordinate strictly better), so both are on the front
    # (this test kept only the first of them before: the front then depended on the order of the points)
    pts3 = [(1, 5, 3), (1, 4, 5), (1, 5, 5), (2, 3, 9), (1, 5, 3)]
    assert pareto_front_nd(pts3) == [0, 1, 3, 4]


def test_chunk_sizes_follow_the_measured_point_time():
    c = Chunker(slots=2, target_s=0.5, max_size=64, first=2)
    assert c.size(1000) == 2  # nothing measured yet
    for _ in range(5):
        c.observe(0.025)
    assert c.size(1000) == 20  # 0.5 s / 0.025 s
    assert c.size(30) == 15  # never more than an even share per slot: ceil(30 / 2)
    assert c.size(1) == 1
    c2 = Chunker(slots=1, target_s=0.5, max_size=64)
    c2.observe(0.001)
    assert c2.size(1000) == 64  # 500 capped at max_size
    c3 = Chunker(slots=4)
    c3.observe(3.0)
    assert c3.size(1000) == 1  # slow points go one by one


# ---- the store -----------------------------------------------------------------------------------------------------
def test_metrics_keep_the_totals_and_not_the_ops():
    report = {"name": "x", "total_cycles": 100, "seconds": 1e-7, "mac_utilization": 0.5, "utilization": {"a": 1.0},
              "bytes": {"hbm": 10}, "stalls_by_level": {"hbm": 3}, "ops": [{"name": "op"}], "roofline": {"r": 1},
              "flag": True, "arch": {"sram_bytes": 1024, "peak_macs_per_cycle": 256},
              "energy": {"total_j": 2.0, "by_level": {"hbm": 1.0}}, "power": {"average_w": 4.0, "peak_w": None},
              "area": {"total_mm2": 3.5}, "edp": 2e-7}
    assert metrics_from_report(report) == {"total_cycles": 100, "seconds": 1e-7, "mac_utilization": 0.5,
                                           "utilization": {"a": 1.0}, "bytes": {"hbm": 10},
                                           "stalls_by_level": {"hbm": 3}, "sram_bytes": 1024,
                                           "peak_macs_per_cycle": 256, "energy_j": 2.0, "average_power_w": 4.0,
                                           "area_mm2": 3.5, "edp": 2e-7}


def test_store_ignores_and_cuts_a_torn_last_line(tmp_path):
    store = ResultStore(tmp_path)
    a = record("a" * 16, {"k": 1}, metrics={"total_cycles": 5})
    b = record("b" * 16, {"k": 2}, error="MappingError: too big")
    with store:
        store.append(a)
        store.append(b)
    with open(store.path, "ab") as f:  # a run killed in the middle of a line
        f.write(b'{"id":"cccccccccccccccc","point":{"k"')
    assert store.load() == {a["id"]: a, b["id"]: b}
    c = record("c" * 16, {"k": 3}, metrics={"total_cycles": 7})
    with store:  # opening cuts the torn tail, so the next record starts on its own line
        store.append(c)
    lines = store.path.read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["a" * 16, "b" * 16, "c" * 16]


def test_table_columns_are_id_axes_status_pareto_metrics_error():
    recs = [record("1", {"x": 1, "y": "ws"}, metrics={"total_cycles": 5, "bytes": {"hbm": 2}}),
            record("2", {"x": 2, "y": "os"}, error="boom")]
    header, rows = table(recs, ["x", "y"])
    assert header == ["id", "x", "y", "status", "pareto", "total_cycles", "bytes.hbm", "error"]
    # no energy or area: nothing to rank, so the pareto cells are empty
    assert rows == [["1", 1, "ws", "ok", "", 5, 2, ""], ["2", 2, "os", "error", "", "", "", "boom"]]


# ---- planning as a stream ------------------------------------------------------------------------------------------
def test_a_million_point_sweep_plans_lazily(tmp_path):
    # rows 1..100 x cols 1..100 x batch 1..100 = 1,000,000 points (MAX_POINTS); taking the first 10 validates 10
    path = sweep_file(tmp_path, f"""\
        grid:
          {ROWS}: {{start: 1, stop: 100}}
          {COLS}: {{start: 1, stop: 100}}
          workload.batch: {{start: 1, stop: 100}}
        """)
    spec = load_sweep(path)
    stream = PlanStream(spec)
    first = list(itertools.islice(stream, 10))
    # 10 validations, not 1,000,000 (the count, not a wall-clock limit: timings belong in benchmarks/)
    assert stream.validated == 10 and stream.planned == 10 and stream.expanded == 1_000_000
    assert stream.remaining() == 1_000_000 - 10 and not stream.complete
    # expansion order, the last axis fastest: batch 1..10 at rows=1, cols=1
    assert [(p.index, p.values["workload.batch"]) for p in first] == [(i, i + 1) for i in range(10)]
    assert stream.id_list() == [p.id for p in first]


def test_check_validates_the_first_points_and_each_axis_value_once(tmp_path):
    path = sweep_file(tmp_path, f"""\
        grid:
          {ROWS}: {{start: 1, stop: 100}}
          {COLS}: {{start: 1, stop: 100}}
          workload.batch: {{start: 1, stop: 100}}
        """)
    stream = PlanStream(load_sweep(path), prime=500)
    stream.check()
    # the first 500 points (rows=1, cols 1..5, batch 1..100), then one probe per value not among them, swapped
    # into point #0: rows 2..100 (99 probes, points #10000...) and cols 6..100 (95); every batch value was among
    # the first 500: 500 + 99 + 95 = 694 validations
    assert stream.validated == 694 and stream.planned == 500
    assert [p.index for p in itertools.islice(stream, 3)] == [0, 1, 2]  # the checked points run first


def test_check_finds_a_bad_axis_value_beyond_the_first_points(tmp_path):
    path = sweep_file(tmp_path, f"""\
        grid:
          {ROWS}: [16, 32, -1]
          {DF}: [ws, os]
          workload.batch: [1, 2]
        """)
    stream = PlanStream(load_sweep(path), prime=4)
    lines = error_lines(stream.check)
    # the first 4 points have rows=16; the probe rows=-1 (point #8: -1, ws, 1) fails; rows=-1 is in 2 x 2 = 4
    # of the 12 points; 4 + 2 probes (rows=32, rows=-1) validated, nothing else
    assert lines == [f"{path}:{line_of(path, ROWS)}: {ROWS}: Input should be greater than 0 (got -1) in 4 of 12 "
                     f"points, first point #8 (rows=-1, dataflow=ws, batch=1)"]
    assert stream.validated == 6
    # with a filter the count is over the points it keeps: batch 2 only leaves 6, rows=-1 in 2 (#9: -1, ws, 2)
    filtered = PlanStream(load_sweep(sweep_file(tmp_path, f"""\
        grid:
          {ROWS}: [16, 32, -1]
          {DF}: [ws, os]
          workload.batch: [1, 2]
        filters: ["workload.batch == 2"]
        """)), prime=2)
    (line,) = error_lines(filtered.check)
    assert line.endswith("(got -1) in 2 of 6 points, first point #9 (rows=-1, dataflow=ws, batch=2)"), line


def test_check_counts_a_value_bad_only_with_others_among_the_points_checked(tmp_path):
    # a 1e9 s HBM latency is 1e17 cycles at 100 MHz (fine) but 1e19 > 2**63 - 1 at 10 GHz: bad only together
    path = sweep_file(tmp_path, """\
        grid:
          arch.hbm.latency: [100ns, 1000000000s]
          arch.clock: [100000000, 10000000000]
        """)
    stream = PlanStream(load_sweep(path), prime=5)  # all 4 points checked: the message is as plan_sweep's
    (line,) = error_lines(stream.check)
    # both axes are as recent: at the first key, hbm.latency, naming the clock's line (sweep.yaml:6)
    assert "arch.hbm.latency: 1e+09 s is more than" in line and line.endswith(
        "cycles at the clock of 1e+10 Hz (clock, sweep.yaml:6) in point #3 (latency=1000000000s, clock=10000000000)"
        .replace("sweep.yaml", str(path)))
    assert error_lines(lambda: plan_sweep(load_sweep(path))) == [line]
    # checking only point #0 and the probes (#1: clock 10 GHz; #2: latency 1e9 s) misses it: it is found while
    # streaming, as an invalid point with its one-line error
    stream = PlanStream(load_sweep(path), prime=1)
    stream.check()
    points = list(stream)
    assert [p.experiment is None for p in points] == [False, False, False, True]
    assert points[3].error == line.split(" in point #")[0] and points[3].id == invalid_point_id(stream.spec,
                                                                                                  points[3].values)
    assert stream.invalid == 1 and stream.complete


def test_the_stream_keeps_order_filters_and_duplicates(tmp_path):
    # sram 24MiB == 25165824 once resolved; the filter drops rows=16: 3 x 3 = 9 expanded, 3 filtered, 6 kept, of
    # which 2 (25165824 with rows 4 and 8) repeat an earlier point: 4 unique points
    path = sweep_file(tmp_path, f"""\
        grid:
          arch.core.sram.unified: [24MiB, 25165824, 12MiB]
          {ROWS}: [4, 8, 16]
        filters: ["{ROWS} != 16"]
        """, base="base: resnet50_tpu_v1\n")
    plan = plan_sweep(load_sweep(path))
    stream = PlanStream(load_sweep(path), prime=1, max_probes=0)
    stream.check()
    streamed = list(stream)
    assert [p.id for p in streamed] == [p.id for p in plan.points] == stream.id_list()
    assert [p.index for p in streamed] == [0, 1, 6, 7]
    assert (stream.expanded, stream.filtered, stream.kept, stream.duplicates, stream.planned) == (9, 3, 6, 2, 4)
    assert (plan.expanded, plan.filtered, plan.duplicates) == (9, 3, 2)


class _AtOnce(Executor):
    """A fake executor that runs each chunk when it is submitted (a subclass says which are done at a wait)."""

    slots = 1

    def __init__(self):
        self.chunks: list[list] = []

    def submit(self, items):
        self.chunks.append([(record(pid, values), 0.001) for pid, values, _ in items])
        return len(self.chunks) - 1

    def result(self, handle):
        return self.chunks[handle]


def test_dispatch_takes_a_generator_a_chunk_at_a_time():
    # a fake executor that runs chunks at once: dispatch must not take more points than the chunks it queues
    taken = []

    def points():
        for i in range(100):
            taken.append(i)
            yield PlannedPoint(i, {"i": i}, f"{i:016x}", None)

    class Now(_AtOnce):
        def wait(self, handles, timeout):
            return sorted(handles)[:1]

    seen = []
    source = points()

    def on_record(rec):
        seen.append(rec["id"])
        if len(seen) == 1:  # two chunks of FIRST_CHUNK = 2 are queued per slot when the first record is back
            assert len(taken) == 2 * 2

    dispatch(Now(), source, on_record, chunker=Chunker(1, first=2, max_size=2))
    assert seen == [f"{i:016x}" for i in range(100)] and len(taken) == 100


def test_dispatch_hands_back_finished_chunks_in_submission_order():
    # concurrent.futures.wait returns its finished futures as a set: two chunks done in the same poll came back in
    # either order, so which records a Ctrl-C kept varied by run. dispatch reads them in the order it sent them.
    class Both(_AtOnce):
        def wait(self, handles, timeout):
            return sorted(handles, reverse=True)  # every queued chunk done, the later one listed first

    seen = []
    points = [PlannedPoint(i, {"i": i}, f"{i:016x}", None) for i in range(6)]
    dispatch(Both(), points, lambda rec: seen.append(rec["id"]), chunker=Chunker(1, first=2, max_size=2))
    assert seen == [f"{i:016x}" for i in range(6)]


def test_an_inline_bases_name_does_not_change_the_ids_but_an_edited_config_file_does(tmp_path):
    # two sweeps that differ only in their name give the same points; a workload reading a Hugging Face config.json
    # by path gives new ids when the file changes (its 2 layers become 4), so stale results are never reused
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
                               "num_attention_heads": 4, "num_key_value_heads": 4, "num_hidden_layers": 2,
                               "vocab_size": 1000}))

    def ids(name: str) -> list[str]:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"name: {name}\nbase:\n  workload: {{model: hf, config: {cfg}, seq_len: 16}}\n"
                        "  arch: h100\ngrid:\n  workload.batch: [1, 2]\n")
        return [p.id for p in plan_sweep(load_sweep(path)).points]

    first = ids("first")
    assert ids("second") == first
    cfg.write_text(cfg.read_text().replace('"num_hidden_layers": 2', '"num_hidden_layers": 4'))
    assert set(ids("first")).isdisjoint(first)


def test_a_sweep_folder_moved_with_its_config_file_keeps_its_ids(tmp_path):
    # a workload's config: is read relative to the file that names it, so its resolved path follows the folder; the
    # point ids hash the file's contents, not that path, so a moved checkout reuses its finished points
    config = {"architectures": ["LlamaForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
              "num_attention_heads": 4, "num_key_value_heads": 4, "num_hidden_layers": 2, "vocab_size": 1000}

    def ids(folder: Path) -> list[str]:
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
        path = folder / "s.yaml"
        path.write_text("base:\n  workload: {model: hf, config: config.json, seq_len: 16}\n  arch: h100\n"
                        "grid:\n  workload.batch: [1, 2]\n")
        return [p.id for p in plan_sweep(load_sweep(path)).points]

    assert ids(tmp_path / "here") == ids(tmp_path / "there")


def test_a_torn_tail_is_found_reading_back_a_block_at_a_time(tmp_path):
    # the offset after the last newline, for tails shorter and longer than the 64 KiB block and files without one
    import os

    from accelsim.sweep import store

    cases = {b"": 0, b"abc": 0, b"a\nb": 2, b"\n": 1, b"line1\n" + b"y" * 150_000: 6,
             b"l1\nl2\n" + b"z" * 70_000: 6, b"x" * 200_000: 0}
    for content, expected in cases.items():
        path = tmp_path / "f"
        path.write_bytes(content)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert store._after_last_newline(fd, len(content)) == expected
        finally:
            os.close(fd)


def test_a_grid_over_the_cap_is_one_line_at_its_largest_axis(tmp_path):
    # 1,001 x 1,000 = 1,001,000 points before filters, over the 1,000,000 cap: reported at the larger axis's line
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\nbase: resnet50_tpu_v1\ngrid:\n"
                    "  workload.batch: {start: 1, stop: 1001}\n  arch.core.systolic.rows: {start: 1, stop: 1000}\n")
    with pytest.raises(ConfigError) as e:
        plan_sweep(load_sweep(path))
    (line,) = str(e.value).splitlines()
    assert line.startswith(f"{path}:4: workload.batch: the grid expands to 1,001,000 points")


def test_a_workloads_name_is_a_label_left_out_of_the_ids_but_a_layers_name_is_not(tmp_path):
    # renaming a layer-list workload (its name:, the graph's name in reports) re-ran every point; a layer's own name
    # stays in the id, as another layer may name it as its input (the wiring)
    def ids(workload_name: str, layer_name: str) -> list[str]:
        path = tmp_path / "s.yaml"
        path.write_text(f"base:\n  workload: {{model: layers, name: {workload_name}, input: [1, 16], layers: "
                        f"[{{type: linear, name: {layer_name}, out_features: 8}}]}}\n  arch: gemmini\n"
                        "grid:\n  workload.batch: [1, 2]\n")
        return [p.id for p in plan_sweep(load_sweep(path)).points]

    first = ids("net", "fc1")
    assert len(set(first)) == 2 and ids("renamed_net", "fc1") == first
    assert set(ids("net", "dense")).isdisjoint(first)


def test_problems_of_one_point_are_listed_in_line_order(tmp_path):
    # three bad axes, each bad in every point (first point #0 for all): listed by their lines 5, 6, 7 (they came
    # 6, 5, 7: the order in which validation met them)
    path = sweep_file(tmp_path, """\
        grid:
          workload.mm: [64, 128]
          arch.core.systolic.rowz: [8, 16]
          options.nonsense: [1]
        """)
    lines = error_lines(lambda: PlanStream(load_sweep(path)).check())
    assert [int(line.split(":")[1]) for line in lines] == [5, 6, 7]
    assert [line.split(": ")[1] for line in lines] == ["workload.mm", "arch.core.systolic.rowz", "options.nonsense"]


def test_an_empty_axis_key_is_refused_in_the_files_words(tmp_path):
    # it said "expected KEY=VALUE with a non-empty KEY", the command line's --set wording, inside a YAML file
    path = sweep_file(tmp_path, 'grid:\n  "": [1]\n')
    assert error_lines(load_sweep, path) == [f"{path}:5: grid.: expected a dotted key such as "
                                             f"arch.core.systolic.rows (got '')"]
