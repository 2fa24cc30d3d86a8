"""Sweep throughput: a 1,000-point ResNet-50 sweep on 1 and 2 local workers, and the per-point overhead of the
Dask executor against the local pool.

    python benchmarks/sweep.py                 # everything (about 2 minutes on 2 cores)
    python benchmarks/sweep.py --points 200    # a smaller sweep (its first --points points, in tens)
    python benchmarks/sweep.py --skip-dask
    python benchmarks/sweep.py --plan-only     # planning alone: 60,000 and 1,000,000 LeNet-5 points
    python benchmarks/sweep.py --plan-only --plan-points 60000 --plan-mode eager   # as before streaming

Targets (issue: sweeps): the 1,000 points take at most 5 minutes with 2 workers, and 2 workers are at least 1.8x
as fast as 1. Figures printed:
* ``plan_s``: loading the sweep file and validating every point (serial, in the sweep process);
* per worker count: wall seconds of the whole ``run_sweep`` (plan, runs, results.csv; no plots), points/s, and
  ``cpu_s``, the summed per-point run time measured inside the workers;
* ``speedup`` = wall(1 worker) / wall(2 workers);
* Dask: run time per point on a 1-worker LocalCluster and on a 1-worker local pool (cluster start excluded),
  their difference being the Dask executor's overhead per point; also without chunks (one point per task);
* ``ship``: what sending a point costs: pickling its ExperimentSpec there and back, against re-loading it from
  (base, overrides) in the worker.
* ``--plan-only``: a rows x cols x clock x dataflow x batch sweep of LeNet-5 on gemmini (60,000 or 1,000,000
  points, no filters), each size in a fresh process: ``first_point_s``, the time from loading the sweep file to
  the first chunk ready to dispatch (``stream``: check() and the first chunk's points; ``eager``: plan_sweep,
  which validates every point first), ``plan_s`` the time to plan every point (the stream consumed as dispatch
  would, the points dropped), ``peak_rss_mb`` the process's peak resident memory; ``run``: ``first_record_s``,
  from ``run_sweep``'s start (one local worker, its start included) to the first result back.
Compare figures taken on the same machine only; a busy machine shows in ``cpu_s`` rising above its idle value.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path

SWEEP = """\
name: bench_resnet50_{n}
base: resnet50_tpu_v1
grid:
  arch.core.systolic.rows: {{start: 16, stop: 160, step: 16}}
  arch.core.systolic.cols: {{start: 16, stop: 160, step: 16}}
  arch.hbm.bandwidth: [10GB/s, 20GB/s, 34GB/s, 50GB/s, 68GB/s, 100GB/s, 200GB/s, 400GB/s, 800GB/s, 1600GB/s]
filters: ["arch.core.systolic.rows * 1000 + arch.core.systolic.cols * 10 + {bw_index} < {limit}"]
"""


def sweep_file(folder: Path, points: int) -> Path:
    """A rows (10) x cols (10) x bandwidth (10) ResNet-50 sweep, cut to its first ``points`` points by a filter."""
    if points >= 1000:
        text = SWEEP.replace('filters: ["arch.core.systolic.rows * 1000 + arch.core.systolic.cols * 10 + '
                             '{bw_index} < {limit}"]\n', "").format(n=1000)
    else:
        rows, rest = divmod(points, 100)
        cols = rest // 10
        keep = " or ".join(filter(None, [
            f"arch.core.systolic.rows < {16 * (rows + 1)}" if rows else "",
            f"(arch.core.systolic.rows == {16 * (rows + 1)} and arch.core.systolic.cols < {16 * (cols + 1)})"
            if cols else ""]))
        text = SWEEP.split("filters:")[0].format(n=points) + f'filters: ["{keep}"]\n'
    path = folder / f"bench_{points}.yaml"
    path.write_text(text)
    return path


class _TimingChunker:
    """A Chunker that also sums the per-point run times the workers report."""

    def __init__(self, slots: int, **kwargs):
        from accelsim.sweep.executors import Chunker

        self._inner = Chunker(slots, **kwargs)
        self.cpu_s = 0.0

    def observe(self, seconds: float) -> None:
        self.cpu_s += seconds
        self._inner.observe(seconds)

    def size(self, remaining: int) -> int:
        return self._inner.size(remaining)


def run_local(path: Path, workers: int, folder: Path) -> dict:
    """One whole run_sweep (fresh OUTDIR, no plots), with the worker-side run time summed."""
    from accelsim.sweep import executors, runner

    out = folder / f"out_local_{workers}"
    shutil.rmtree(out, ignore_errors=True)
    timing: dict = {}
    original = executors.dispatch

    def timed_dispatch(ex, points, on_record, **kw):
        chunker = _TimingChunker(ex.slots)
        original(ex, points, on_record, chunker=chunker, **kw)
        timing["cpu_s"] = chunker.cpu_s

    runner.dispatch = timed_dispatch
    try:
        t0 = time.perf_counter()
        summary = runner.run_sweep(path, out, workers=workers, progress=False, plots=False)
        wall = time.perf_counter() - t0
    finally:
        runner.dispatch = original
    assert summary.ok == summary.points, summary
    return {"workers": workers, "points": summary.points, "wall_s": round(wall, 2),
            "points_per_s": round(summary.points / wall, 1), "cpu_s": round(timing.get("cpu_s", 0.0), 2),
            "results": (out / "results.csv").read_text()}


def per_point(plan, kind: str, max_chunk: int | None = None) -> dict:
    """Run time per point on one worker of ``kind`` (executor start excluded)."""
    from accelsim.sweep.executors import dispatch, make_executor

    t0 = time.perf_counter()
    ex = make_executor(kind, 1)
    started = time.perf_counter() - t0
    try:
        kw = {"max_size": max_chunk} if max_chunk else {}
        chunker = _TimingChunker(ex.slots, **kw)
        t1 = time.perf_counter()
        dispatch(ex, plan.points, lambda rec: None, chunker=chunker)
        run = time.perf_counter() - t1
    finally:
        ex.close()
    n = len(plan.points)
    return {"executor": kind, "chunks": "1 point" if max_chunk == 1 else "adaptive", "start_s": round(started, 2),
            "ms_per_point": round(1000 * run / n, 2), "worker_ms_per_point": round(1000 * chunker.cpu_s / n, 2),
            "overhead_ms_per_point": round(1000 * (run - chunker.cpu_s) / n, 2)}


def ship_cost(plan) -> dict:
    """Sending a spec (pickle there and back) against re-loading it in the worker from (base, overrides)."""
    from accelsim.config import load_experiment
    from accelsim.config.sweep import PointLoader

    points = plan.points[:200]
    t0 = time.perf_counter()
    for p in points:
        pickle.loads(pickle.dumps(p.experiment))
    pickled = (time.perf_counter() - t0) / len(points)
    loader = PointLoader(plan.spec)
    t0 = time.perf_counter()
    for p in points:
        loader.load(p.values)
    cached = (time.perf_counter() - t0) / len(points)
    t0 = time.perf_counter()
    for p in points:
        load_experiment("resnet50_tpu_v1", [f"{k}={v}" for k, v in p.values.items()])
    reload = (time.perf_counter() - t0) / len(points)
    return {"pickle_ms": round(1000 * pickled, 3), "spec_bytes": len(pickle.dumps(points[0].experiment)),
            "reload_point_loader_ms": round(1000 * cached, 3), "reload_load_experiment_ms": round(1000 * reload, 3)}


PLAN_SWEEP = """\
name: plan_{n}
base:
  workload: {{model: lenet5, batch: 1}}
  arch: gemmini
grid:
  arch.core.systolic.rows: {{start: 4, stop: {rows}, step: 4}}
  arch.core.systolic.cols: {{start: 4, stop: {cols}, step: 4}}
  arch.clock: {{start: 100000000, stop: {clock}, step: 100000000}}  # Hz: 100 MHz steps
  arch.core.systolic.dataflow: [ws, os]
  workload.batch: {{start: 1, stop: {batch}}}
"""
PLAN_SIZES = {60_000: (20, 20, 15, 5), 1_000_000: (50, 50, 20, 10)}  # rows, cols, clocks, batches (x 2 dataflows)


def plan_case(points: int, mode: str) -> dict:
    """Plan a LeNet-5 sweep of ``points`` points in this process: time to the first chunk, time to plan every
    point and peak RSS (run it in a fresh process)."""
    import resource

    from accelsim.config.sweep import load_sweep
    from accelsim.sweep.executors import FIRST_CHUNK
    from accelsim.sweep.expand import PlanStream, plan_sweep

    rows, cols, clocks, batches = PLAN_SIZES[points]
    folder = Path(tempfile.mkdtemp(prefix="accelsim_plan_bench_"))
    try:
        path = folder / "plan.yaml"
        path.write_text(PLAN_SWEEP.format(n=points, rows=4 * rows, cols=4 * cols, clock=100_000_000 * clocks,
                                          batch=batches))
        t0 = time.perf_counter()
        if mode == "run":
            return {"mode": mode, "first_record_s": round(first_record(path, folder / "out"), 2),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
        spec = load_sweep(path)
        if mode == "eager":
            n = len(plan_sweep(spec).points)
            first = plan_s = time.perf_counter() - t0
        else:
            stream = PlanStream(spec)
            stream.check()
            taken = iter(stream)
            for _ in range(FIRST_CHUNK):
                next(taken)
            first = time.perf_counter() - t0
            n = FIRST_CHUNK + sum(1 for _ in taken)
            plan_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"mode": mode, "points": n, "first_point_s": round(first, 2), "plan_s": round(plan_s, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def first_record(path: Path, out: Path) -> float:
    """Seconds from run_sweep's start (one local worker) to the first record back; the sweep is then stopped."""
    from accelsim.sweep import executors, runner

    class FirstRecord(Exception):
        pass

    def stop_at_first(ex, points, on_record, **kw):
        def first(rec):
            on_record(rec)
            raise FirstRecord

        executors.dispatch(ex, points, first, **kw)

    runner.dispatch = stop_at_first
    t0 = time.perf_counter()
    try:
        runner.run_sweep(path, out, workers=1, progress=False, plots=False)
    except FirstRecord:
        pass
    return time.perf_counter() - t0


def plan_only(sizes: list[int], modes: list[str]) -> None:
    """Each (size, mode) in a fresh process, so that its peak RSS is its own."""
    import subprocess
    import sys

    print(f"machine: {os.cpu_count()} cores; LeNet-5 on gemmini, rows x cols x clock x dataflow x batch")
    for points in sizes:
        for mode in modes:
            out = subprocess.run([sys.executable, __file__, "--plan-case", mode, str(points)], capture_output=True,
                                 text=True, check=False)
            print(out.stdout.strip() or out.stderr.strip()[-2000:], flush=True)


END_AXES = ("arch.core.systolic.rows", "arch.core.systolic.cols", "arch.clock", "arch.core.systolic.dataflow",
            "workload.batch")
END_GRID = (list(range(4, 204, 4)), list(range(4, 204, 4)), [100_000_000 * k for k in range(1, 21)], ["ws", "os"],
            list(range(1, 11)))  # 50 x 50 x 20 x 2 x 10 = 1,000,000 points (as --plan-only's largest sweep)


def fabricate(folder: Path, n: int, seed: int = 17) -> Path:
    """A sweep folder of ``n`` fabricated LeNet-5-like records in the store's format (sweep.json with the ids in
    sweep order; results.jsonl with the records of each block of 4,096 points shuffled, as workers return
    chunks out of order; 1 in 100 points an error record). Metrics follow a made-up roofline: they only need
    the shape and the spread of real ones."""
    import itertools
    import random

    from accelsim.sweep.store import RESULTS_FILE, record, write_sweep_json

    if n > math.prod(len(v) for v in END_GRID):
        raise SystemExit(f"--end-only: at most {math.prod(len(v) for v in END_GRID):,} points")
    rng = random.Random(seed)
    ids = [f"{i * 2654435761 % 2**64:016x}" for i in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    write_sweep_json(folder, {"name": f"end_{n}", "axes": list(END_AXES), "complete": True, "points": n,
                              "ids": ids})
    points = itertools.islice(itertools.product(*END_GRID), n)
    with open(folder / RESULTS_FILE, "w") as f:
        block: list[str] = []
        for i, values in enumerate(points):
            point = dict(zip(END_AXES, values, strict=True))
            if i % 100 == 99:
                rec = record(ids[i], point, error="ConfigError: made-up failure")
            else:
                rec = record(ids[i], point, metrics=_end_metrics(*values, jitter=rng.random()))
            block.append(json.dumps(rec, separators=(",", ":")))
            if len(block) == 4096:
                rng.shuffle(block)
                f.write("\n".join(block) + "\n")
                block = []
        rng.shuffle(block)
        f.write("".join(line + "\n" for line in block))
    return folder


def _end_metrics(rows: int, cols: int, clock: int, dataflow: str, batch: int, jitter: float) -> dict:
    macs = 416_520 * batch
    cycles = int(macs / (rows * cols) * (1.2 if dataflow == "os" else 1.0) * (1 + 0.1 * jitter)) + 500
    seconds = cycles / clock
    energy = macs * 8e-11 * (1 + 0.2 * jitter) + rows * cols * 2e-12 * cycles
    area = 0.3 + rows * cols * 2e-5
    return {"total_cycles": cycles, "seconds": seconds, "launch_overhead_s": 0.0, "clock_hz": float(clock),
            "macs": macs, "flops": 2 * macs, "params": 61_706,
            "utilization": {"core0.systolic0": 0.9 * jitter, "core0.vector": 0.03, "hbm": 0.1 + 0.1 * jitter},
            "mac_utilization": macs / (rows * cols * cycles), "stall_cycles": 100 + batch,
            "stalls_by_level": {"hbm": 100 + batch}, "bytes": {"sram": 200_000 * batch, "hbm": 62_740 * batch},
            "edp": energy * seconds, "sram_bytes": 262_144, "peak_macs_per_cycle": rows * cols,
            "energy_j": energy, "average_power_w": energy / seconds, "tops_per_w": 2 * macs / energy / 1e12,
            "j_per_inference": energy / batch, "area_mm2": area}


def end_case(folder: Path, plots: bool) -> dict:
    """The end step of a sweep on ``folder`` in this process (results.csv, and the plots unless ``plots`` is
    false) with whichever accelsim is importable: seconds and peak RSS."""
    import resource

    from accelsim.sweep import runner, store

    t0 = time.perf_counter()
    if plots:
        runner.plot_sweep(folder)
    elif hasattr(store, "stream_csv"):
        store.stream_csv(folder, store.read_sweep_json(folder))
    else:  # the code before the streamed end
        info = store.read_sweep_json(folder)
        store.write_csv(folder, store.ordered_records(folder, info), info["axes"])
    return {"plots": plots, "end_s": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def end_only(n: int, code: str | None, plots: list[bool], limit_s: float, max_rss_mb: int) -> None:
    """Fabricate ``n`` records, then time the end step in a fresh process per case (``code``: the checkout
    whose accelsim runs it, e.g. an older commit's); a case past ``limit_s`` or ``max_rss_mb`` is stopped, with
    the peak RSS it had reached."""
    import subprocess
    import sys

    folder = Path(tempfile.mkdtemp(prefix="accelsim_end_bench_"))
    try:
        t0 = time.perf_counter()
        fabricate(folder, n)
        size = (folder / "results.jsonl").stat().st_size
        print(f"machine: {os.cpu_count()} cores; {n:,} records fabricated in {time.perf_counter() - t0:.0f} s "
              f"({size / 2**20:,.0f} MiB results.jsonl); code: {code or 'this checkout'}", flush=True)
        env = {**os.environ, **({"PYTHONPATH": code} if code else {})}
        for with_plots in plots:
            args = [sys.executable, __file__, "--end-case", str(folder), *([] if with_plots else ["--no-plots"])]
            child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            print(_watch(child, limit_s, max_rss_mb, with_plots), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _watch(child, limit_s: float, max_rss_mb: int, plots: bool) -> str:
    """The child's own line, or, when it had to be stopped, what it had reached."""
    t0, peak = time.perf_counter(), 0
    while child.poll() is None:
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
            peak = max(peak, int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))))
        except (OSError, StopIteration):
            pass
        if time.perf_counter() - t0 > limit_s or peak / 1024 > max_rss_mb:
            child.kill()
            child.wait()
            return json.dumps({"plots": plots, "stopped_after_s": round(time.perf_counter() - t0, 1),
                               "peak_rss_mb_so_far": round(peak / 1024)})
        time.sleep(0.2)
    out, err = child.communicate()
    return out.strip() or err.strip()[-2000:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1000, help="sweep size (at most 1000)")
    ap.add_argument("--dask-points", type=int, default=200, help="points for the per-point overhead runs")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--plan-only", action="store_true", help="measure planning only (streamed, by default)")
    ap.add_argument("--plan-points", type=int, nargs="+", choices=sorted(PLAN_SIZES), default=sorted(PLAN_SIZES))
    ap.add_argument("--plan-mode", nargs="+", choices=["stream", "eager", "run"], default=["stream", "run"],
                    help="eager: plan_sweep, every point validated before the first runs (as before streaming); "
                         "run: run_sweep on one worker until its first record is back")
    ap.add_argument("--plan-case", nargs=2, metavar=("MODE", "POINTS"), help=argparse.SUPPRESS)
    ap.add_argument("--end-only", type=int, metavar="N", help="time the end of a sweep (results.csv + plots) on N "
                    "fabricated records (at most 1,000,000)")
    ap.add_argument("--end-code", help="PYTHONPATH of the accelsim that runs the end step (default: this one)")
    ap.add_argument("--end-limit-s", type=float, default=600.0, help="stop an end-step case after this long")
    ap.add_argument("--end-max-rss-mb", type=int, default=10_000, help="... or past this peak RSS")
    ap.add_argument("--no-plots", action="store_true", help="--end-only: results.csv alone")
    ap.add_argument("--end-case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.end_case:
        print(json.dumps(end_case(Path(args.end_case), not args.no_plots)))
        return
    if args.end_only:
        end_only(args.end_only, args.end_code, [False] if args.no_plots else [False, True], args.end_limit_s,
                 args.end_max_rss_mb)
        return
    if args.plan_case:
        print(json.dumps(plan_case(int(args.plan_case[1]), args.plan_case[0])))
        return
    if args.plan_only:
        plan_only(args.plan_points, args.plan_mode)
        return

    from accelsim.config.sweep import load_sweep
    from accelsim.sweep.expand import plan_sweep

    folder = Path(tempfile.mkdtemp(prefix="accelsim_sweep_bench_"))
    try:
        path = sweep_file(folder, min(args.points, 1000))
        t0 = time.perf_counter()
        plan = plan_sweep(load_sweep(path))
        plan_s = time.perf_counter() - t0
        print(f"machine: {os.cpu_count()} cores; sweep: {len(plan.points)} ResNet-50 points (rows x cols x HBM "
              f"bandwidth on tpu-v1); plan (load + validate every point): {plan_s:.2f} s")
        results, walls = {}, {}
        for workers in (1, 2):
            r = run_local(path, workers, folder)
            results[workers], walls[workers] = r.pop("results"), r["wall_s"]
            print(json.dumps(r))
        print(f"speedup 2 vs 1 worker: {walls[1] / walls[2]:.2f}x; identical results.csv: {results[1] == results[2]}")
        small = plan_sweep(load_sweep(sweep_file(folder, min(args.dask_points, 1000))))
        rows = [per_point(small, "local"), per_point(small, "local", max_chunk=1)]
        if not args.skip_dask:
            try:
                rows += [per_point(small, "dask"), per_point(small, "dask", max_chunk=1)]
            except Exception as e:  # dask missing: say so and go on
                print(f"dask: {e}")
        for row in rows:
            print(json.dumps(row))
        print(json.dumps({"ship": ship_cost(small)}))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
