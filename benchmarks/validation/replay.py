"""Running the jobs: every distinct job is an accelsim experiment whose stable id is
:func:`accelsim.sweep.expand.point_id`; finished ones are kept in an :mod:`accelsim.sweep` results store
(``OUT/simulations/results.jsonl``, append-only, one record per simulation) and are not run again; the rest run on
accelsim.sweep's local process pool (``workers`` > 1) or one after another in this process.

The store holds the simulations of one accelsim source: its ``sweep.json`` records a hash of accelsim's source
files, and a store written by other source is started afresh. The presets are part of each id (the resolved arch),
so a changed preset re-runs only its own jobs.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from pathlib import Path

from .jobs import experiment, job_cost, point_values
from .metrics import evaluate
from .model import FileResult, Job, Sim
from .plan import plan_file

STORE_DIR = "simulations"


def code_fingerprint() -> str:
    """A hash of accelsim's source files: a store written by other source is not used."""
    import accelsim

    h = hashlib.sha256()
    root = Path(accelsim.__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


class SimStore:
    """``OUT/simulations``: an :class:`accelsim.sweep.store.ResultStore` of the simulations of this accelsim source,
    with a ``sweep.json`` that names the source (``accelsim_source``) and the ids of the jobs run into it."""

    def __init__(self, out: Path):
        from accelsim.sweep.store import ResultStore

        self.dir = Path(out) / STORE_DIR
        self.code = code_fingerprint()
        self.results = ResultStore(self.dir)

    def load(self) -> dict[str, dict]:
        """The finished records by id; none (and the old results removed) when another accelsim source wrote
        them."""
        from accelsim.errors import AccelsimError
        from accelsim.sweep.store import read_sweep_json

        try:
            source = read_sweep_json(self.dir).get("accelsim_source")
        except AccelsimError:
            source = None
        if source != self.code:
            self.results.path.unlink(missing_ok=True)
            return {}
        return self.results.load()

    def describe(self, ids: Iterable[str]) -> None:
        """Write ``sweep.json``: this accelsim source and the ids of the store's jobs."""
        from accelsim import __version__
        from accelsim.sweep.store import write_sweep_json

        ids = list(dict.fromkeys(ids))
        write_sweep_json(self.dir, {"name": "validation", "description": "benchmarks/validate.py simulations",
                                    "accelsim_version": __version__, "accelsim_source": self.code,
                                    "axes": ["arch", "workload"], "points": len(ids), "ids": ids})


class _Ticker:
    """Progress lines: simulations done, elapsed and left, every 10 s and at the end."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.done = total, enabled, 0
        self.t0 = time.time()
        self.last = 0.0

    def tick(self) -> None:
        self.done += 1
        now = time.time()
        if self.enabled and (now - self.last > 10 or self.done == self.total):
            self.last = now
            rate = self.done / max(now - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else 0
            print(f"  {self.done}/{self.total} simulated, {now - self.t0:.0f} s elapsed, ~{eta:.0f} s left",
                  flush=True)


def _slim(rec: dict) -> dict:
    """A record with the report's scalar metrics only (not the per-unit utilization, bytes and stalls)."""
    return {**rec, "metrics": {k: v for k, v in rec["metrics"].items() if not isinstance(v, dict)}}


def _run(points: list, workers: int, on_record) -> None:
    """Run ``points`` (:class:`accelsim.sweep.expand.PlannedPoint`) on the local process pool, or here for one
    worker; ``on_record`` gets each point's results.jsonl record."""
    from accelsim.sweep.executors import Chunker, dispatch, make_executor, run_chunk

    if workers <= 1:
        for p in points:
            for rec, _ in run_chunk([(p.id, p.values, p.experiment)]):
                on_record(rec)
        return
    with make_executor("local", workers) as ex:
        dispatch(ex, points, on_record, chunker=Chunker(ex.slots, first=1))


def _sim(rec: dict) -> Sim:
    m = rec["metrics"]
    return (float(m["seconds"]), float(m["launch_overhead_s"]), float(m.get("kernel_dispatch_s", 0.0)),
            float(m.get("backward_end_s", 0.0)))


def _failures(records: dict[str, dict], ids: dict[Job, str]) -> list[str]:
    return [f"{j[1]} {dict(j[2])} on {j[0]}: {records[i].get('error')}" for j, i in ids.items()
            if records[i]["status"] != "ok"]


def simulate_jobs(jobs: Iterable[Job], *, workers: int = 1, store: SimStore | None = None,
                  progress: bool = False) -> dict[Job, Sim]:
    """(``seconds``, ``launch_overhead_s``, ``kernel_dispatch_s``) of every job: each distinct experiment simulated once (``workers``
    processes), the ones already in ``store`` not at all. A failed simulation raises RuntimeError (its record
    stays in the store)."""
    from accelsim.sweep.expand import PlannedPoint, point_id

    points = {}
    for j in dict.fromkeys(jobs):
        exp = experiment(j)
        points[j] = PlannedPoint(len(points), point_values(j), point_id(exp), exp)
    ids = {j: p.id for j, p in points.items()}
    records = store.load() if store is not None else {}
    todo = list({p.id: p for _, p in sorted(points.items(), key=lambda item: -job_cost(item[0]))
                 if p.id not in records}.values())
    if progress:
        print(f"simulating {len(todo)} distinct kernels ({len(points) - len(todo)} cached) on {workers} "
              f"process(es)", flush=True)
    if todo:
        ticker = _Ticker(len(todo), progress)

        def on_record(rec: dict) -> None:
            kept = _slim(rec)
            records[kept["id"]] = kept
            if store is not None:
                store.results.append(kept)
            ticker.tick()

        if store is None:
            _run(todo, workers, on_record)
        else:
            store.describe([*records, *ids.values()])
            with store.results:
                _run(todo, workers, on_record)
    bad = _failures(records, ids)
    if bad:
        kept = f" (kept in {store.results.path}: delete their lines, or use --no-cache, to run them again)" \
            if store is not None else ""
        raise RuntimeError(f"{len(bad)} simulations failed{kept}, e.g. " + "; ".join(bad[:3]))
    return {j: _sim(records[i]) for j, i in ids.items()}


def replay_file(path: Path, label: str | None = None, arch_map: dict[str, dict[str, str]] | None = None, *,
                workers: int = 1, store: SimStore | None = None) -> FileResult:
    """Plan, simulate and evaluate one measurement file."""
    plan = plan_file(Path(path), label, arch_map)
    return evaluate(plan, simulate_jobs(plan.jobs(), workers=workers, store=store))
