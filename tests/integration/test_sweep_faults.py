"""Sweeps under faults (issue 17): SIGTERM ends a sweep as Ctrl-C does, a folder is locked by the sweep using it,
filters do arithmetic on numbers only."""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import sys

import pytest

from accelsim.errors import AccelsimError, ConfigError
from accelsim.sweep.runner import LOCK_FILE, run_sweep

from .test_sweep import LONG, SMALL, _group_gone, _start, _wait_for_lines, records, write


def test_sigterm_stops_cleanly_and_keeps_what_finished(tmp_path):
    out = tmp_path / "out"
    proc = _start(write(tmp_path, LONG), out)
    _wait_for_lines(out, 4, proc)
    proc.send_signal(signal.SIGTERM)  # a batch scheduler's kill: to the sweep process only
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and b"KeyboardInterrupt" in err
    assert _group_gone(proc.pid)  # the workers went with it
    kept = records(out)
    assert 4 <= len(kept) < 64
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(kept)  # results.csv written, as after Ctrl-C
    assert not (out / LOCK_FILE).exists()


def test_sigterm_while_the_plots_are_drawn_keeps_the_csv_says_so_and_frees_the_folder(tmp_path, monkeypatch):
    # the end step (results.csv, plots) ran outside the SIGTERM handler: a kill there died with status 143, no
    # message, the lock left behind
    import io

    from rich.console import Console

    from accelsim.sweep import runner

    def killed(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)  # as `kill PID` while the first plot is drawn
        raise AssertionError("the handler should have raised")

    monkeypatch.setattr(runner, "plot_sweep_records", killed)
    out = tmp_path / "out"
    text = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        run_sweep(write(tmp_path, SMALL), out, workers=1, progress=True, console=Console(file=text, width=200))
    assert not (out / LOCK_FILE).exists()
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 6  # SMALL: 3 rows x 2 dataflows, every one run before the plots
    assert "interrupted at the end of the sweep" in text.getvalue() and "accelsim plot" in text.getvalue()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back


def test_a_folder_in_use_is_refused_naming_its_holder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK_FILE).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                                 "sweep": "other", "since": "2026-12-03 10:00:00"}))
        with pytest.raises(AccelsimError, match=rf"in use by sweep 'other' \(pid {holder.pid} on") as e:
            run_sweep(write(tmp_path, SMALL), out, workers=1, progress=False, plots=False)
        assert "\n" not in str(e.value) and not (out / "results.jsonl").exists()  # nothing ran, nothing written
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and the next sweep takes the folder over, then frees it
    summary = run_sweep(write(tmp_path, SMALL), out, workers=1, progress=False, plots=False)
    assert summary.ok == 6 and not (out / LOCK_FILE).exists()


def test_filters_do_arithmetic_on_numbers_only(tmp_path):
    bomb = SMALL + "filters:\n  - \"'ab' * 100000000000 != ''\"\n"
    with pytest.raises(ConfigError, match="arithmetic on numbers only") as e:
        run_sweep(write(tmp_path, bomb), tmp_path / "out", workers=1, progress=False, plots=False)
    assert "\n" not in str(e.value)
    ok = SMALL + "filters:\n  - \"arch.core.systolic.rows * 2 <= 32\"\n"  # rows 8, 16 of 8, 16, 32
    assert run_sweep(write(tmp_path, ok), tmp_path / "out2", workers=1, progress=False, plots=False).points == 4


def test_a_dead_local_worker_is_a_one_line_error_and_the_finished_points_are_kept(tmp_path):
    # a worker killed (out of memory, kill -9) breaks the process pool: the next chunk sent raises, and that must be
    # the runner's one-line AccelsimError (exit 2, results.csv written), not an internal error
    import os
    from concurrent.futures.process import BrokenProcessPool

    from accelsim.sweep.executors import LocalExecutor

    ex = LocalExecutor(1)
    try:
        died = ex._pool.submit(os._exit, 3)
        with pytest.raises(BrokenProcessPool):
            died.result(timeout=60)
        with pytest.raises(AccelsimError, match="a local worker failed: .*finished points are kept"):
            ex.submit([])
    finally:
        ex._pool.shutdown(wait=False, cancel_futures=True)


def _sigint_ignored(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGINT: bit SIGINT - 1 of /proc/<pid>/status's SigIgn mask (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn:"))
    return bool(mask >> (signal.SIGINT - 1) & 1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_processes_started_while_ctrl_c_is_ignored_inherit_it_and_the_handler_comes_back():
    from accelsim.sweep.executors import _ctrl_c_ignored

    before = signal.getsignal(signal.SIGINT)
    with _ctrl_c_ignored():
        inside = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    outside = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # a worker started in the block cannot die of Ctrl-C while it imports; one started after can
        assert _sigint_ignored(inside.pid) and not _sigint_ignored(outside.pid)
    finally:
        inside.kill(), outside.kill()
        inside.wait(), outside.wait()
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_within_a_held_block_is_raised_once_the_block_ends():
    from accelsim.sweep.executors import _ctrl_c_after

    finished = []
    with pytest.raises(KeyboardInterrupt):
        with _ctrl_c_after():
            signal.raise_signal(signal.SIGINT)  # Ctrl-C in the middle of, say, a pool starting a worker
            finished.append(True)  # the block still runs to its end
    assert finished == [True]
    with _ctrl_c_after():  # no Ctrl-C: nothing raised
        pass


def test_sigterm_within_a_held_block_reaches_the_sweeps_handler_once_the_block_ends():
    # the sweep turns SIGTERM into KeyboardInterrupt (runner._sigterm_interrupts); raised inside the pool's queue put
    # it left the queue's lock held and the sweep hung stopping the pool, so a held block defers it too
    from accelsim.sweep.executors import _ctrl_c_after
    from accelsim.sweep.runner import _sigterm_interrupts

    order = []
    with _sigterm_interrupts(), pytest.raises(KeyboardInterrupt):
        with _ctrl_c_after():
            signal.raise_signal(signal.SIGTERM)
            order.append("block ran on")
        order.append("not reached")
    assert order == ["block ran on"]
