"""Parallel workers share the default options.memory_budget: each worker of a sweep (local pool or Dask
LocalCluster) or of a serving grid's ``cost.workers`` gets half of the machine's memory divided by the workers,
unless the run sets options.memory_budget itself."""

from __future__ import annotations

import concurrent.futures as cf
import types

import pytest

import accelsim.options as options_module
from accelsim.errors import MappingError
from accelsim.mapping import lower
from accelsim.options import Options, default_memory_budget, share_memory
from accelsim.serving import cost
from accelsim.sweep.executors import LocalExecutor, run_chunk

from ..conftest import make_arch, mlp_graph

HALF = 160 * 1024  # the small machine below: 80 pages of 4 KiB = 320 KiB, half of it 160 KiB


@pytest.fixture
def small_machine(monkeypatch):
    """A machine of 80 × 4 KiB pages, in this process alone, sharing its memory with no other (restored after)."""
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 80}
    monkeypatch.setattr(options_module, "os", types.SimpleNamespace(sysconf=pages.__getitem__))
    monkeypatch.setattr(options_module, "_SHARERS", 1)


def test_a_worker_of_two_holds_half_the_tasks_of_the_default_budget(small_machine):
    # alone: 160 KiB at 1 KiB a task (options.TASK_BYTES) holds 160 tasks, more than a 1-layer MLP's; one of 2
    # workers: 80 KiB = 81,920 B, 80 tasks, fewer
    g, arch = mlp_graph(layers=1), make_arch()
    n = len(lower(g, arch, Options()))
    assert default_memory_budget() == HALF and 80 < n <= 160
    share_memory(2)
    assert default_memory_budget() == HALF // 2
    with pytest.raises(MappingError, match=r"more than 80 tasks .*\(81,920 B: half of this machine's memory over 2 "
                                           r"workers at ~1024 B a task\)"):
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
