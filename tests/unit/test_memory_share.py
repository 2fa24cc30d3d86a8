"""Parallel workers share the default options.memory_budget: each worker of a sweep (local pool or Dask
LocalCluster) or of a serving grid's ``cost.workers`` gets half of the machine's memory divided by the workers,
unless the run sets options.memory_budget itself."""

from __future__ import annotations

import concurrent.futures as cf
import json
import types

import pytest

import accelsim.options as options_module
from accelsim.config import build_graph
from accelsim.config.sweep import load_sweep
from accelsim.errors import MappingError
from accelsim.mapping import lower
from accelsim.options import Options, default_memory_budget, share_memory, sharing_memory
from accelsim.serving import cost
from accelsim.sweep import executors, runner
from accelsim.sweep.executors import LocalExecutor, run_chunk
from accelsim.sweep.expand import plan_sweep
from accelsim.sweep.runner import run_sweep
from accelsim.sweep.store import ResultStore, share_refusal

from ..conftest import make_arch, mlp_graph

HALF = 160 * 1024  # the small machine below: 80 pages of 4 KiB = 320 KiB, half of it 160 KiB


@pytest.fixture
def small_machine(monkeypatch):
    """A machine of 80 × 4 KiB pages, in this process alone, sharing its memory with no other (restored after)."""
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 80}
    monkeypatch.setattr(options_module, "os", types.SimpleNamespace(sysconf=pages.__getitem__))
    monkeypatch.setattr(options_module, "_SHARERS", 1)


def test_a_worker_of_two_holds_half_the_tasks_of_the_default_budget(small_machine):
    # alone: 160 KiB, less 8 KiB for each of a 1-layer MLP's 2 ops (options.OP_BYTES), at 1 KiB a task
    # (options.TASK_BYTES) holds 144 tasks, more than the MLP's; one of 2 workers: 80 KiB = 81,920 B, 64 tasks, fewer
    g, arch = mlp_graph(layers=1), make_arch()
    n = len(lower(g, arch, Options()))
    assert default_memory_budget() == HALF and 64 < n <= 144
    share_memory(2)
    assert default_memory_budget() == HALF // 2
    with pytest.raises(MappingError, match=r"more than 64 tasks .*\(81,920 B: half of this machine's memory over 2 "
                                           r"workers at ~1024 B a task, after ~8192 B for each of its 2 ops\)"):
        lower(g, arch, Options())
    assert len(lower(g, arch, Options(memory_budget="160KiB"))) == n  # a budget the run sets is its own, whole


def test_a_dask_chunk_takes_its_share_of_the_local_cluster(small_machine):
    run_chunk([], workers=3)  # DaskExecutor sends a LocalCluster's worker count with each chunk
    assert default_memory_budget() == HALF // 3


def test_a_local_sweep_pool_worker_gets_its_share_of_this_machine(monkeypatch):
    monkeypatch.setattr(options_module, "_SHARERS", 1)
    whole = default_memory_budget()  # this process shares with no other
    with LocalExecutor(workers=2) as ex:
        assert ex._pool.submit(default_memory_budget).result(timeout=60) == whole // 2


class InProcessPool:
    """concurrent.futures.ProcessPoolExecutor run in this process: its initializer first, then each call."""

    def __init__(self, max_workers, mp_context=None, initializer=None, initargs=()):
        self.max_workers = max_workers
        initializer(*initargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args, **kwargs):
        future = cf.Future()
        future.set_result(fn(*args, **kwargs))
        return future


@pytest.mark.parametrize("sweep_workers, grid_workers, shapes, share", [
    (1, 2, 3, 2),  # 2 grid processes: each half of the default
    (1, 8, 3, 3),  # no more processes than shapes: 3
    (4, 2, 3, 8),  # a grid in one of a sweep's 4 workers: its 2 processes share that worker's quarter
])
def test_a_serving_grid_on_several_processes_shares_the_default_budget(small_machine, monkeypatch, sweep_workers,
                                                                       grid_workers, shapes, share):
    monkeypatch.setattr(cf, "ProcessPoolExecutor", InProcessPool)
    monkeypatch.setattr(cost, "simulate_shape", lambda spec, arch, options, graphs: (default_memory_budget(), None))
    share_memory(sweep_workers)
    seen = cost.simulate_all([None] * shapes, None, Options(), graphs=False, workers=grid_workers)
    assert seen == [(HALF // share, None)] * shapes


class InProcessExecutor(executors.Executor):
    """A sweep executor of ``slots`` workers run in this process, one chunk at a time: each chunk runs as one of
    ``slots`` workers sharing the machine's memory (share_memory), as a local pool's worker process would, and
    this process's own share is restored after it."""

    name = "in-process"

    def __init__(self, slots: int):
        self.slots = slots

    def submit(self, items):
        before = sharing_memory()
        future = cf.Future()
        try:
            future.set_result(run_chunk(items, workers=self.slots))
        finally:
            share_memory(before)
        return future

    def wait(self, handles, timeout):
        return list(handles)

    def result(self, handle):
        return handle.result()

    def close(self, cancel=False):
        self.closed = True


LENET_ROWS = """\
name: share
base:
  workload: {model: lenet5, batch: 1}
  arch: gemmini
grid:
  arch.core.systolic.rows: [4, 16]
"""


def _lenet_points(tmp_path) -> dict:
    """The LeNet-5 sweep's points (written to tmp_path/share.yaml), by rows."""
    path = tmp_path / "share.yaml"
    path.write_text(LENET_ROWS)
    return {p.values["arch.core.systolic.rows"]: p for p in plan_sweep(load_sweep(path)).points}


def _sweep_outcome(tmp_path, monkeypatch, workers: int, out: str) -> dict:
    """Run the LeNet-5 sweep on ``workers`` in-process workers; its records' (status, error) by rows."""
    monkeypatch.setattr(runner, "make_executor", lambda kind, n, scheduler: InProcessExecutor(n or 1))
    path = tmp_path / "share.yaml"
    run_sweep(path, tmp_path / out, workers=workers, progress=False, plots=False)
    lines = (tmp_path / out / "results.jsonl").read_text().splitlines()
    return {r["point"]["arch.core.systolic.rows"]: (r["status"], r.get("error")) for r in map(json.loads, lines)}


@pytest.fixture
def tiny_machine(monkeypatch):
    """A machine of 64 × 4 KiB pages = 256 KiB: half of it 128 KiB, which holds LeNet-5's 12 ops at 8 KiB an op
    (options.OP_BYTES, 96 KiB) and (128 − 96) KiB / 1 KiB = 32 tasks at 1 KiB a task (options.TASK_BYTES) alone;
    each of 2 workers' 64 KiB not even the ops."""
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 64}
    monkeypatch.setattr(options_module, "os", types.SimpleNamespace(sysconf=pages.__getitem__))
    monkeypatch.setattr(options_module, "_SHARERS", 1)


def test_a_points_outcome_does_not_depend_on_the_sweeps_workers(tmp_path, monkeypatch, tiny_machine):
    tasks = {rows: len(lower(build_graph(p.experiment.workload, p.experiment.arch.dtype), p.experiment.arch,
                             Options(memory_budget="1GiB"))) for rows, p in _lenet_points(tmp_path).items()}
    # the machine is sized so that rows=16 fits 32 tasks alone but not one of 2 workers' share, and rows=4 fits
    # neither (gemmini's preload overlap, arch/gemmini.yaml, makes fewer, longer-pipelined groups: 28 tasks at
    # rows=16 and 39 at rows=4 where, without it, rows 16 and 8 lowered to 40 and 49 against 70 pages' 44)
    assert tasks[16] <= 32 < tasks[4]
    alone = _sweep_outcome(tmp_path, monkeypatch, 1, "w1")
    shared = _sweep_outcome(tmp_path, monkeypatch, 2, "w2")
    assert alone[16] == ("ok", None) and alone[4][0] == "error"
    # with 2 workers both passes were refused for the worker's share; run again alone, each gets the 1-worker
    # outcome: rows=16 ok, rows=4 refused for the whole default (32 tasks), the same message
    assert shared == alone
    assert "more than 32 tasks" in alone[4][1] and " workers" not in alone[4][1]


def test_a_record_of_a_refusal_for_the_workers_share_is_not_done(tmp_path, monkeypatch, tiny_machine):
    # a folder written before such a refusal was run again alone: its record names the share of 2 workers
    point = _lenet_points(tmp_path)[16]
    (rec, _), = run_chunk([(point.id, point.values, point.experiment)], workers=2)
    share_memory(1)
    assert rec["status"] == "error" and share_refusal(rec["error"]) and "over 2 workers" in rec["error"]
    first = _sweep_outcome(tmp_path, monkeypatch, 1, "old")
    store = ResultStore(tmp_path / "old")
    with store:
        store.append(rec)  # the last record of rows=16 now the refusal
    assert len(store.ids()) == 1 and point.id not in store.ids()
    again = run_sweep(tmp_path / "share.yaml", tmp_path / "old", workers=1, progress=False, plots=False)
    assert (again.ran, again.skipped) == (1, 1)
    assert _sweep_outcome(tmp_path, monkeypatch, 1, "old") == first  # rows=16 ok again, its last record
