"""Probe p75's sweep findings: overlapping keys (#1), a sweep preset as the base (#2), the resume start line (#3),
filters that keep no point (#5), `accelsim plot` on a locked folder (#6) and empty axis blocks (#7)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from accelsim.config.sweep import load_sweep
from accelsim.errors import ConfigError
from accelsim.sweep.executors import run_chunk
from accelsim.sweep.expand import plan_sweep

BASE = "base: {workload: {model: gemm, m: 8, n: 1024, k: 1024}, arch: tpu-v1}\n"


def write(tmp_path: Path, body: str, name: str = "s.yaml", base: str = BASE) -> Path:
    path = tmp_path / name
    path.write_text(base + textwrap.dedent(body))
    return path


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    return str(info.value).splitlines()


# ---- #1: a key inside another key ------------------------------------------------------------------------------
HBM = "[{capacity: 8GiB, bandwidth: 1TB/s, latency: 100ns}]"


@pytest.mark.parametrize("body", [
    # the probe's case: the section axis written last silently won (rows labelled 10GB/s ran at 1 TB/s)
    f"grid:\n  arch.hbm.bandwidth: [10GB/s, 100GB/s]\n  arch.hbm: {HBM}\n",
    # the other order: the sub-key won; refused alike, the result must not depend on the order written
    f"grid:\n  arch.hbm: {HBM}\n  arch.hbm.bandwidth: [10GB/s, 100GB/s]\n",
])
def test_a_grid_axis_inside_another_is_refused_naming_both(tmp_path, body):
    path = write(tmp_path, body)
    first, second = ("arch.hbm.bandwidth", "arch.hbm") if body.index("bandwidth:") < body.index("arch.hbm:") \
        else ("arch.hbm", "arch.hbm.bandwidth")
    # line 1 is base:, line 2 grid:, so the axes are on lines 3 and 4; the error is at the one written later
    assert errors(path) == [
        f"{path}:4: {second}: overlaps '{first}' (grid, line 3): 'arch.hbm.bandwidth' lies inside 'arch.hbm', so "
        f"the one applied last would replace the other's value; sweep or set 'arch.hbm' whole or its keys, not both"]


def test_a_set_key_inside_a_zip_axis_is_refused_not_dropped(tmp_path):
    # set's arch.hbm.bandwidth was silently discarded under an arch.hbm axis
    path = write(tmp_path, f"set:\n  arch.hbm.bandwidth: 10GB/s\nzip:\n  arch.hbm: {HBM}\n  workload.m: [8]\n")
    (line,) = errors(path)
    assert line.startswith(f"{path}:5: arch.hbm: overlaps 'arch.hbm.bandwidth' (set, line 3): ")


def test_keys_that_only_share_a_prefix_of_letters_do_not_overlap(tmp_path):
    # "workload.m" is a prefix of "workload.mode" as text; as dotted keys they are siblings (checked part by part)
    path = write(tmp_path, "grid:\n  workload.m: [8]\n  workload.mode: [inference]\n")
    assert [a.key for a in load_sweep(path).axes] == ["workload.m", "workload.mode"]


@pytest.mark.parametrize("section_first", [True, False])
def test_a_whole_section_with_keys_inside_it_applies_the_keys_after_it_in_either_order(tmp_path, section_first):
    # docs/sweeps.md: a whole section (arch, workload, options) may be swept beside keys inside it; the section is
    # applied first, then its keys, whatever the order written: each arch runs at each bandwidth
    axes = ["  arch: [tpu-v1, gemmini]\n", "  arch.hbm.bandwidth: [10GB/s, 1TB/s]\n"]
    path = write(tmp_path, "set:\n  workload.m: 16\ngrid:\n" + "".join(axes if section_first else axes[::-1]))
    points = plan_sweep(load_sweep(path)).points
    got = {(p.experiment.arch.name, p.experiment.arch.hbm.bandwidth, p.experiment.workload.params["m"]): p
           for p in points}
    # 2 archs x 2 bandwidths, each as written: 10 GB/s = 1e10 B/s, 1 TB/s = 1e12 B/s (decimal units)
    assert set(got) == {(a, bw, 16) for a in ("tpu-v1", "gemmini") for bw in (1e10, 1e12)}
    # the same points whichever order: the same ids (a hash of the resolved config), so the same numbers
    other = write(tmp_path, "set:\n  workload.m: 16\ngrid:\n" + "".join(axes[::-1] if section_first else axes),
                  name="other.yaml")
    assert sorted(p.id for p in points) == sorted(p.id for p in plan_sweep(load_sweep(other)).points)


def test_a_section_axis_and_a_key_inside_it_give_the_same_cycles_in_either_order(tmp_path):
    # the probe's numbers: an 8x1024x1024 int8 GEMM on tpu-v1 reads its 1 MiB of weights from HBM, ~1.05 MB at
    # 10 GB/s = 105 us = 73,400 cycles at 700 MHz, and far less at 1 TB/s; run both files' points and compare
    def cycles(body: str, name: str) -> dict:
        plan = plan_sweep(load_sweep(write(tmp_path, body, name)))
        recs = run_chunk([(p.id, p.values, p.experiment) for p in plan.points])
        return {(r["point"]["arch"], r["point"]["arch.hbm.bandwidth"]): r["metrics"]["total_cycles"]
                for r, _ in recs}

    a = cycles("grid:\n  arch: [tpu-v1]\n  arch.hbm.bandwidth: [10GB/s, 1TB/s]\n", "a.yaml")
    b = cycles("grid:\n  arch.hbm.bandwidth: [10GB/s, 1TB/s]\n  arch: [tpu-v1]\n", "b.yaml")
    assert a == b
    slow, fast = a[("tpu-v1", "10GB/s")], a[("tpu-v1", "1TB/s")]
    assert 73_400 <= slow < 80_000 and fast < slow / 5


# ---- #7: empty axis blocks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, line, key, msg", [
    ("grid: {}\n", 2, "grid", "no axes (an empty mapping)"),
    ("zip:\n  - {}\n", 3, "zip.0", "no axes (an empty mapping)"),
    ("zip: {}\n", 2, "zip", "no axes (an empty mapping)"),
    ("zip: []\n", 2, "zip", "no axis groups (an empty list)"),
])
def test_an_empty_grid_or_zip_says_it_has_no_axes(tmp_path, body, line, key, msg):
    # "{}" is a mapping: "expected a mapping (got {})" contradicted itself
    path = write(tmp_path, body)
    assert errors(path) == [f"{path}:{line}: {key}: {msg}"]


# ---- #2: a sweep as the base ------------------------------------------------------------------------------------
def test_a_sweep_preset_as_the_base_is_one_line_at_the_base(tmp_path):
    # it gave four errors against the preset's own file (arch: missing, workload: missing, base: and grid: unknown)
    path = tmp_path / "bs.yaml"
    path.write_text("base: nccl_all_reduce_busbw_sweep\ngrid:\n  workload.bytes: [1MiB]\n")
    assert errors(path) == [f"{path}:1: base: nccl_all_reduce_busbw_sweep is a sweep, not an experiment: base: "
                            f"names the experiment to sweep (copy its base: mapping here)"]


def test_a_sweep_file_as_the_base_names_its_own_base(tmp_path):
    (tmp_path / "inner.yaml").write_text("base: resnet50_tpu_v1\ngrid:\n  workload.batch: [1, 2]\n")
    path = tmp_path / "outer.yaml"
    path.write_text("name: outer\nbase: inner.yaml\ngrid:\n  workload.batch: [4]\n")
    assert errors(path) == [f"{path}:2: base: inner.yaml is a sweep, not an experiment: base: names the experiment "
                            f"to sweep (its own base is resnet50_tpu_v1)"]


def test_an_unknown_base_offers_experiments_only(tmp_path):
    path = tmp_path / "b1.yaml"
    path.write_text("base: nonexistent_thing\ngrid:\n  arch.core.systolic.rows: [32]\n")
    (line,) = errors(path)
    names = line.split("valid names: ")[1].split(" (got")[0].split(", ")
    # experiments/*_sweep.yaml are sweeps (each has grid:), which no base may name; resnet50_tpu_v1 is an experiment
    sweeps = {p.stem for p in (Path(__file__).parents[2] / "experiments").glob("*_sweep.yaml")}
    assert len(sweeps) >= 6 and not sweeps & set(names) and "resnet50_tpu_v1" in names


# ---- #3: the start line of a resumed sweep ----------------------------------------------------------------------
def test_the_start_line_counts_this_sweeps_points_already_done_not_every_record(tmp_path):
    import io

    from rich.console import Console

    from accelsim.sweep.runner import run_sweep

    out = tmp_path / "out"
    first = write(tmp_path, "grid:\n  arch.hbm.bandwidth: [10GB/s, 20GB/s, 34GB/s]\n", "a.yaml")
    run_sweep(first, out, workers=1, plots=False, progress=False)
    # the same folder, 2 x 2 points: 10GB/s and 34GB/s at m=8 are 2 of the 3 records there; 1TB/s and m=16 are new
    second = write(tmp_path, "grid:\n  arch.hbm.bandwidth: [10GB/s, 34GB/s]\n  workload.m: [8, 16]\n", "b.yaml")
    said = io.StringIO()
    summary = run_sweep(second, out, workers=1, plots=False, console=Console(file=said, width=400))
    start = said.getvalue().splitlines()[0]
    # was "4 points expanded; 3 already in ...": 3 records, of which 2 are this sweep's points
    assert start == f"sweep b: 4 points expanded; 2 already done (3 records there) in {out / 'results.jsonl'}; " \
                    f"planning points as they run"
    assert (summary.skipped, summary.ran) == (2, 2)


def test_the_start_line_of_a_stream_not_yet_planned_through_counts_records(tmp_path):
    from accelsim.sweep.expand import PlanStream
    from accelsim.sweep.runner import _done_text

    # 3 points, 1 planned before anything runs: which records are this sweep's points is not known yet
    stream = PlanStream(load_sweep(write(tmp_path, "grid:\n  workload.m: [8, 16, 32]\n")), prime=1)
    stream.check()
    assert not stream.complete and stream.planned == 1
    assert _done_text(stream, {"a", "b", "c"}) == "3 records in"
    assert _done_text(stream, set()) == "0 already done in"


# ---- #5: filters that keep no point -----------------------------------------------------------------------------
def test_a_filter_keeping_no_point_is_refused_before_any_output(tmp_path):
    from accelsim.sweep.runner import run_sweep

    # rows 16 and 32 are both <= 100: the filter keeps neither (it ran 0 points, exit 0, a header-only results.csv)
    path = write(tmp_path, 'grid:\n  arch.core.systolic.rows: [16, 32]\nfilters: "arch.core.systolic.rows > 100"\n')
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        run_sweep(path, out, workers=1, progress=False)
    assert str(info.value) == (f"{path}:4: filters[0]: keeps none of 2 points: the sweep would run nothing "
                               f"(got 'arch.core.systolic.rows > 100')")
    assert not out.exists()
    with pytest.raises(ConfigError):
        plan_sweep(load_sweep(path))


def test_filters_keeping_no_point_together_name_the_first_filter(tmp_path):
    # rows > 20 keeps 32, rows < 20 keeps 16: each keeps one of the 2 points, both together none
    path = write(tmp_path, 'grid:\n  arch.core.systolic.rows: [16, 32]\nfilters:\n  - "arch.core.systolic.rows > 20"\n'
                           '  - "arch.core.systolic.rows < 20"\n')
    assert str(pytest.raises(ConfigError, plan_sweep, load_sweep(path)).value) == (
        f"{path}:5: filters: the 2 filters keep none of 2 points together (each keeps some): the sweep would run "
        f"nothing")


def test_a_filter_keeping_one_point_runs_it(tmp_path):
    path = write(tmp_path, 'grid:\n  arch.core.systolic.rows: [16, 32]\nfilters: "arch.core.systolic.rows > 20"\n')
    plan = plan_sweep(load_sweep(path))
    assert [p.values for p in plan.points] == [{"arch.core.systolic.rows": 32}] and plan.filtered == 1


# ---- #6: `accelsim plot` on a folder a sweep is running into ----------------------------------------------------
def test_plot_refuses_a_folder_locked_by_a_running_sweep_and_writes_nothing(tmp_path, capsys):
    import json
    import socket
    import subprocess
    import sys

    from accelsim.cli import main
    from accelsim.errors import AccelsimError
    from accelsim.sweep.runner import LOCK_FILE, plot_sweep, run_sweep

    out = tmp_path / "out"
    run_sweep(write(tmp_path, "grid:\n  workload.m: [8, 16]\n"), out, workers=1, plots=False, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a live "sweep" process
    try:
        (out / LOCK_FILE).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "sweep": "s",
                                                 "since": "2026-12-06 13:00:00"}))
        with pytest.raises(AccelsimError) as e:
            plot_sweep(out)
        assert str(e.value) == (f"{out} is in use by sweep 's' (pid {holder.pid} on {socket.gethostname()} since "
                                f"2026-12-06 13:00:00); its results are partial until it ends: plot it then (remove "
                                f"{out / LOCK_FILE} if that process is gone)")
        assert main(["plot", str(out)]) == 2  # was 0, rewriting results.csv, sweep.json and the plots mid-run
        assert capsys.readouterr().err.count("\n") == 1
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != LOCK_FILE} == before
    finally:
        holder.kill()
        holder.wait()
    # the sweep is gone: its lock is stale, the plot takes the folder over, draws, and frees it
    assert any(p.name.endswith(".png") for p in plot_sweep(out)) and not (out / LOCK_FILE).exists()


def test_a_sweep_is_refused_while_a_plot_holds_the_folder(tmp_path):
    from accelsim.errors import AccelsimError
    from accelsim.sweep.runner import _FolderLock, run_sweep

    out = tmp_path / "out"
    with _FolderLock(out, "s", command="plot"), pytest.raises(AccelsimError, match=r"in use by 'accelsim plot' of "
                                                                                    r"sweep 's' \(pid "):
        run_sweep(write(tmp_path, "grid:\n  workload.m: [8]\n"), out, workers=1, plots=False, progress=False)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="zombies are read from Linux's /proc/PID/stat")
def test_a_lock_held_by_a_zombie_is_stale_and_taken_over(tmp_path):
    # probe p199 #4: a sweep killed by SIGKILL stays a zombie (state Z) until its parent reaps it, and os.kill(pid, 0)
    # succeeds on a zombie; it holds nothing, so its lock is taken over (docs/sweeps.md: "a process that is gone")
    import json
    import socket
    import subprocess
    import sys
    import time

    from accelsim.sweep.runner import LOCK_FILE, _FolderLock

    holder = subprocess.Popen([sys.executable, "-c", "pass"])  # exits at once; not waited for: a zombie
    try:
        for _ in range(200):
            stat = open(f"/proc/{holder.pid}/stat").read()
            if stat[stat.rfind(")") + 1:].split()[0] == "Z":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the child never became a zombie")
        out = tmp_path / "out"
        out.mkdir()
        (out / LOCK_FILE).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "sweep": "s6",
                                                 "since": "2026-12-07 08:00:00"}))
        with _FolderLock(out, "s1") as lock:  # was refused: "out is in use by sweep 's6' (pid N ...)"
            assert json.loads((out / LOCK_FILE).read_text())["pid"] == os.getpid() and lock.held
    finally:
        holder.wait()
