"""Probe p145 #1: ``Report.save`` (the Python API) takes its folder as ``accelsim run -o`` does: a new, empty or run's
folder only, locked while it writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

import accelsim
from accelsim.cli import main
from accelsim.errors import AccelsimError, ConfigError
from accelsim.report import writers
from accelsim.report.lock import LOCK_FILE, FolderLock
from accelsim.report.writers import mixed_folder

GEMM = {"model": "gemm", "m": 8, "n": 64, "k": 64}
REFUSE = "'accelsim run' writes into a new folder, an empty one or one it wrote: give -o another folder"


@pytest.fixture(scope="module")
def report():
    return accelsim.simulate(GEMM, "tpu-v1", plots=False)


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_save_refuses_a_users_folder_and_deletes_none_of_its_files(report, tmp_path):
    # the probe's folder: the user's own trace.json (which save deleted) and report.html (which it overwrote)
    out = tmp_path / "userdir"
    out.mkdir()
    for name, text in {"trace.json": "my own trace", "report.html": "my html", "notes.txt": "x"}.items():
        (out / name).write_text(text)
    before = _files(out)
    with pytest.raises(AccelsimError) as e:
        report.save(out)
    assert str(e.value) == f"{out}: not empty and not written by accelsim (holds notes.txt, report.html, trace.json); {REFUSE}"
    assert _files(out) == before


def test_save_refuses_a_folder_another_live_process_has_locked(report, tmp_path):
    out = tmp_path / "locked"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a live "accelsim run"
    try:
        (out / LOCK_FILE).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "sweep": "x",
                                                 "since": "2026-01-01 00:00:00", "command": "run"}))
        with pytest.raises(AccelsimError, match=rf"^{out} is being written by another accelsim process \(pid "
                                                rf"{holder.pid}: 'accelsim run' of 'x' "):
            report.save(out)
        assert os.listdir(out) == [LOCK_FILE]  # nothing written, the holder's lock left
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale, the save takes the folder over, writes, and frees it
    assert sorted(p.name for p in report.save(out)) == ["ops.csv", "report.html", "report.json"]
    assert not (out / LOCK_FILE).exists()


def test_save_refuses_a_finished_sweep_folder_which_plot_and_compare_still_read(report, tmp_path, capsys):
    from accelsim.sweep.runner import run_sweep

    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: {workload: {model: gemm, m: 8, n: 64, k: 64}, arch: tpu-v1}\ngrid:\n  workload.m: [8, 16]\n")
    out = tmp_path / "sw"
    run_sweep(sweep, out, workers=1, plots=False, progress=False)
    before = _files(out)
    with pytest.raises(AccelsimError, match=rf"^{out}: holds the outputs of 'accelsim sweep'; {REFUSE}$"):
        report.save(out)
    assert _files(out) == before and mixed_folder(out) is None  # was: report.json etc. beside sweep.json
    assert main(["plot", str(out)]) == 0  # (the probe: exit 2, "holds the outputs of both ...")


def test_save_holds_the_folders_lock_while_it_writes_and_frees_it(report, tmp_path, monkeypatch):
    seen = []
    write_json = writers.write_json

    def spy(data, path):
        lock = json.loads((path.parent / LOCK_FILE).read_text())
        seen.append((lock["pid"], lock["command"], lock["sweep"]))
        return write_json(data, path)

    monkeypatch.setattr("accelsim.report.result.write_json", spy)
    report.save(tmp_path / "new")  # a new folder
    report.save(tmp_path / "new")  # one a run's save wrote: rewritten
    assert seen == [(os.getpid(), "run", report["name"])] * 2
    assert sorted(os.listdir(tmp_path / "new")) == ["ops.csv", "report.html", "report.json"]


def test_a_folder_this_process_has_locked_is_saved_under_that_lock(report, tmp_path):
    # `accelsim run` locks its folder before it simulates, then saves into it: the save does not refuse its own
    # caller (FolderLock is not re-entrant: a second FolderLock here would be refused)
    out = tmp_path / "mine"
    with FolderLock(out, "caller", command="run"):
        report.save(out)
        assert json.loads((out / LOCK_FILE).read_text())["sweep"] == "caller"  # the caller's lock, kept
    assert sorted(os.listdir(out)) == ["ops.csv", "report.html", "report.json"]


def test_the_cli_run_saves_under_its_own_lock_into_its_own_folder_again(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "-w", "gemm", "-a", "tpu-v1", "-q", "--no-plots", "-o", str(out)]) == 0
    assert main(["run", "-w", "gemm", "-a", "tpu-v1", "-q", "--no-plots", "-o", str(out)]) == 0  # its own folder again
    assert sorted(os.listdir(out)) == ["ops.csv", "report.html", "report.json"]


def test_a_serving_results_save_takes_its_folder_as_serve_does(tmp_path):
    # a ServeResult's save claims its folder as `accelsim serve -o` does: a user's folder is refused with no file
    # touched, and a new folder takes the run (the serve report's files), which a second save may rewrite
    result = accelsim.serve("llama2_7b_h100", overrides=["workload.requests=3", "workload.duration=null"])
    out = tmp_path / "userdir"
    out.mkdir()
    (out / "trace.json").write_text("my own trace")  # a serve save without trace removes its folder's trace.json
    (out / "notes.txt").write_text("mine")
    with pytest.raises(AccelsimError, match="not written by accelsim"):
        result.save(out)
    assert (out / "trace.json").read_text() == "my own trace"  # (before: deleted)
    fresh = tmp_path / "served"
    names = {p.name for p in result.save(fresh)}
    assert {"report.json", "requests.csv", "timeseries.csv"} <= names
    assert {p.name for p in result.save(fresh)} == names  # its own folder again


def test_a_serving_results_save_refuses_an_empty_or_missing_folder_name(tmp_path, monkeypatch):
    # probe p148 #1: ServeResult.save("") wrote its files into the working folder and save(None) raised a TypeError;
    # both are refused at outdir as Report.save refuses them (one ConfigError line), nothing written
    result = accelsim.serve("llama2_7b_h100", overrides=["workload.requests=3", "workload.duration=null"])
    monkeypatch.chdir(tmp_path)
    for bad in ("", "  ", None):
        with pytest.raises(ConfigError, match="outdir: expected a folder name"):
            result.save(bad)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        result.save(tmp_path / "afile")
