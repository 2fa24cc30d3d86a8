"""Probe p170 #1, #2: ``accelsim sweep FILE --point ID -o OUTDIR`` takes OUTDIR as a plain sweep takes it (new,
empty, a sweep's, or holding only point folders) and OUTDIR/point_ID as ``run`` takes its folder, both before it
simulates, each refusal one line naming ``accelsim sweep --point``, nothing in the refused folder touched."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from accelsim import api
from accelsim.cli import main
from accelsim.config.sweep import load_sweep
from accelsim.errors import AccelsimError
from accelsim.report.lock import LOCK_FILE
from accelsim.sweep.expand import PlanStream

from .sweep_inputs import TWO_POINT_SWEEP

REFUSE = "'accelsim sweep --point' writes into a new folder, an empty one or one it wrote: give -o another folder"

SWEEP = TWO_POINT_SWEEP  # LeNet-5 on gemmini, 2 rows: 2 points of a few milliseconds each


@pytest.fixture
def sweep(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "sw.yaml"
    path.write_text(textwrap.dedent(SWEEP))
    return path, [p.id for p in PlanStream(load_sweep(path))]


@pytest.fixture
def no_run(monkeypatch):
    def simulated(*args, **kwargs):
        raise AssertionError("simulated although the folder was refused")

    monkeypatch.setattr(api, "run_experiment", simulated)


def _contents(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() if p.is_file() else "/" for p in sorted(folder.rglob("*"))}


def _point(sweep_file: Path, point: str, out: Path) -> list[str]:
    return ["sweep", str(sweep_file), "--point", point, "-o", str(out), "-q", "--no-plots"]


def test_a_point_is_refused_a_folder_of_a_users_files_before_it_simulates(tmp_path, sweep, no_run, capsys):
    # p170 #1: it wrote junk/point_ID beside the user's a.txt, exit 0, where 'sweep -o junk' and 'run -o junk' refuse
    path, ids = sweep
    out = tmp_path / "junk"
    out.mkdir()
    (out / "a.txt").write_text("hi\n")
    assert main(_point(path, ids[0], out)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"accelsim: error: {out}: not empty and not written by accelsim (holds a.txt); {REFUSE}"]
    assert _contents(out) == {"a.txt": "hi\n"}


def test_a_point_is_refused_a_run_folder_before_it_simulates(tmp_path, sweep, capsys, monkeypatch):
    # p170 #1: a run folder took a point's report folder, and plot / compare did not see two commands' outputs
    path, ids = sweep
    out = tmp_path / "r18"
    assert main(["run", "-w", "lenet5", "-a", "gemmini", "-o", str(out), "-q", "--no-plots"]) == 0
    before = _contents(out)
    capsys.readouterr()

    def simulated(*args, **kwargs):
        raise AssertionError("simulated although the folder was refused")

    monkeypatch.setattr(api, "run_experiment", simulated)
    assert main(_point(path, ids[0], out)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"accelsim: error: {out}: holds the outputs of 'accelsim run'; {REFUSE}"]
    assert _contents(out) == before


def test_a_point_folder_of_other_files_is_refused_naming_the_command_before_it_simulates(tmp_path, sweep, no_run,
                                                                                         capsys):
    # p170 #2: refused only after the point was simulated, naming 'accelsim run' (the command typed was sweep --point)
    path, ids = sweep
    out = tmp_path / "pj"
    (out / f"point_{ids[0]}").mkdir(parents=True)
    (out / f"point_{ids[0]}" / "notes.txt").write_text("x\n")
    assert main(_point(path, ids[0], out)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"accelsim: error: {out / f'point_{ids[0]}'}: not empty and not written by accelsim (holds notes.txt); "
        f"{REFUSE}"]
    assert _contents(out) == {f"point_{ids[0]}": "/", f"point_{ids[0]}/notes.txt": "x\n"}


def test_points_and_the_whole_sweep_share_one_folder_in_any_order(tmp_path, sweep):
    # OUTDIR is the sweep's folder (docs/sweeps.md): its point_ID folders are the sweep's own, so a second point and
    # then the sweep itself go into it (before p170 the plain sweep refused it, "holds point_..."), and a point again
    path, ids = sweep
    out = tmp_path / "fresh"
    assert main(_point(path, ids[0], out)) == 0
    assert main(_point(path, ids[1], out)) == 0
    assert main(["sweep", str(path), "-o", str(out), "-q", "--no-plots"]) == 0
    assert main(_point(path, ids[0], out)) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"point_{ids[0]}", f"point_{ids[1]}", "results.csv", "results.jsonl", "sweep.json"])
    for point in ids:
        assert (out / f"point_{point}" / "report.json").is_file()
        assert not (out / f"point_{point}" / LOCK_FILE).exists()


def test_a_point_that_fails_leaves_no_folder_it_made(tmp_path, sweep, monkeypatch, capsys):
    # the folders are now made (and point_ID locked) before the simulation: one that fails takes them away again
    path, ids = sweep

    def fails(*args, **kwargs):
        raise AccelsimError("lenet5: does not fit")

    monkeypatch.setattr(api, "run_experiment", fails)
    out = tmp_path / "new"
    assert main(_point(path, ids[0], out)) == 2
    assert capsys.readouterr().err.splitlines() == ["accelsim: error: lenet5: does not fit"]
    assert not out.exists()
