"""Capacity search (``accelsim serve FILE --capacity [GOAL]``; docs/serving.md "Capacity"): the highest request
rate a serving setup sustains within its SLOs, as Vidur's capacity search and the serving papers' "goodput at SLO"
define it: the largest ``workload.arrival.rate`` at which at least ``GOAL`` (0.9 by default) of the requests meet
every SLO of the file (refused requests count as missing them), the run is not saturated and it served at least
:data:`SERVED_SHARE` of the load offered to it.

From the file's own rate the search doubles the rate while a run passes (or halves it while one fails) to bracket
the capacity between a passing and a failing rate, then bisects the bracket geometrically :data:`BISECTIONS` times
(a bracket of 2 narrows to 2^(1/64), 1.1 %). Each probe is a whole serving run on the same requests' seed; the
iteration-cost grid does not depend on the rate, so it is simulated once for every probe.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config.serving import ServingSpec, load_serving
from ..errors import ConfigError
from . import ServeResult, check, serve, write_csv
from .curve import checked_points, remove_points_from

GOAL = 0.9  # the share of requests meeting every SLO a rate must keep (the file's slo)
BISECTIONS = 6  # geometric halvings of the bracket: 2 -> 2^(1/64)
SERVED_SHARE = 0.5  # the least completed rate / offered rate a run that keeps up shows (see served_share)
MAX_STEPS = 12  # doublings or halvings from the file's rate before the search gives up (a factor of 4,096)
CAPACITY_CSV = "capacity.csv"
SWEEP_CSV = "capacity_sweep.csv"
SWEEP_COLUMNS = ("value", "capacity_requests_per_s", "runs")
COLUMNS = ("rate", "requests", "finished", "requests_per_s", "served_share", "output_tokens_per_s", "goodput_fraction",
           "ttft_p99_s", "tpot_p99_s", "e2e_p99_s", "saturated", "passes")


def title(name: str, goal: float, key: str | None = None, values: Sequence[str] = ()) -> str:
    """A capacity table's title: ``name`` (the model on the arch, :func:`.curve.spec_name`: the file's name may carry
    a rate, which the search varies), the goal, and with ``--sweep`` its key and values, as a sweep's curve names
    them ("llama2_7b on h100: capacity at 90 % of requests within the SLOs, by engine.max_num_seqs = 32, 128")."""
    text = f"{name}: capacity at {100 * goal:g} % of requests within the SLOs"
    return f"{text}, by {key} = {', '.join(values)}" if key else text


@dataclass(frozen=True)
class Probe:
    """One serving run of the search: its rate and whether it kept the goal."""

    rate: float
    result: ServeResult
    passes: bool


def served_share(result: ServeResult) -> float | None:
    """The share of the offered load a run served: its completed rate (finished requests over the makespan, first
    arrival to last finish) over its offered rate (``offered_requests_per_s``: n per arrival window W); None for a
    run of one arrival (no window).

    n requests arriving over W, each finished about one latency L after it arrived, complete n over W + L, so the
    share is W / (W + L): near 1 for a run much longer than a request, and, when the server falls behind, the
    backlog's drain adds to L and the share sinks. :data:`SERVED_SHARE` (1/2) asks for L <= W: the tail after the
    last arrival no longer than the arrivals themselves. That bounds a count-bound file (``workload.requests``)
    whose n requests all fit one batch, which never queues and so never saturates, however fast they arrive: every
    request holds a slot for L >= (output - 1) x TPOT, so W = n / rate >= L caps the rate at n / L <= max_num_seqs x
    replicas / L, the rate the slots sustain (Little's law), where goodput alone would pass any rate at all."""
    s = result.report["serving"]
    done, offered = s["requests_per_s"], s["offered_requests_per_s"]
    return done / offered if done is not None and offered else None


def passes(result: ServeResult, goal: float) -> bool:
    """Whether a run keeps the goal: at least ``goal`` of its requests meet every SLO (a request refused at arrival,
    longer than max_model_len or than a replica's KV cache, misses them: the goodput fraction is of every request),
    none is left unfinished, it is not saturated (its queue did not grow while requests arrived) and it served at
    least :data:`SERVED_SHARE` of the offered load (:func:`served_share`; a run of one arrival has no offered rate
    and so shows nothing sustained: it fails, probe p51: a 1 ms file passed every probe to 3,263 requests/s)."""
    s = result.report["serving"]
    fraction = s["goodput"]["fraction"]
    share = served_share(result)
    return (fraction is not None and fraction >= goal and not s["saturated"] and not s["unfinished"]
            and share is not None and share >= SERVED_SHARE)


def search(run: Callable[[float], ServeResult], start: float, goal: float = GOAL,
           progress: Callable[[str, int, int], None] | None = None) -> tuple[float | None, list[Probe]]:
    """The highest rate whose run keeps ``goal`` (None when even ``start`` / 2^MAX_STEPS does not) and every probe,
    in the order run. ``run(rate)`` serves the file at that rate."""
    probes: list[Probe] = []
    total = MAX_STEPS + BISECTIONS

    def probe(rate: float) -> bool:
        if progress:
            progress(f"rate {rate:.4g} requests/s", len(probes), total)
        result = run(rate)
        probes.append(Probe(rate, result, passes(result, goal)))
        return probes[-1].passes

    lo = hi = None
    rate = start
    if probe(rate):
        lo = rate
        for _ in range(MAX_STEPS):
            rate *= 2
            if not probe(rate):
                hi = rate
                break
            lo = rate
        if hi is None:  # it kept the goal at 4,096 x the file's rate: report the highest rate tried
            return lo, probes
    else:
        hi = rate
        for _ in range(MAX_STEPS):
            rate /= 2
            if probe(rate):
                lo = rate
                break
            hi = rate
        if lo is None:
            return None, probes
    for _ in range(BISECTIONS):
        mid = math.sqrt(lo * hi)
        if probe(mid):
            lo = mid
        else:
            hi = mid
    return lo, probes


def check_goal(goal: float) -> None:
    """A GOAL outside (0, 1] (NaN too) is a one-line error naming ``--capacity``."""
    if not 0 < goal <= 1:
        raise ConfigError.one("--capacity", "", "the share of requests meeting the SLOs must be in (0, 1]", value=goal)


def check_capacity(spec: ServingSpec) -> None:
    """The one-line error a capacity search of ``spec`` meets before it runs anything: no SLO to keep, an arrival
    trace (no rate to vary), a count-bound file of one request (no rate at all), then whatever :func:`accelsim.serving.check` finds."""
    arrival = spec.serve.workload.arrival
    if not spec.serve.slo.model_dump(exclude_none=True):
        raise spec.error("slo", "a capacity search needs an SLO to keep (e.g. slo: {ttft: 500ms, tpot: 50ms})")
    if arrival.trace is not None:  # its rows fix the arrival times, whatever rate is written beside it (probe p99 #1)
        raise spec.at_line("workload.arrival.trace", "a capacity search varies workload.arrival.rate: not with a "
                           "trace, whose rows fix the arrival times (drop it: --set workload.arrival.trace=null, "
                           "and give a rate)", value=arrival.trace)
    requests = spec.serve.workload.requests
    if requests is not None and requests < 2:  # one arrival has no rate: every probe would pass (probe p46 #1)
        raise spec.error("workload.requests", "a capacity search needs at least 2 requests: one arrival has no "
                         "rate to serve or to fall behind", value=requests)
    check(spec)


def capacity(ref: str, overrides: Sequence[str] = (), goal: float = GOAL,
             progress: Callable[[str, int, int], None] | None = None) -> tuple[float | None, list[Probe], ServingSpec]:
    """:func:`search` on the serving file ``ref`` (with ``overrides``): its rate's runs, each checked first."""
    check_goal(goal)
    spec = load_serving(ref, overrides)
    check_capacity(spec)
    arrival = spec.serve.workload.arrival

    def run(rate: float) -> ServeResult:
        return serve(load_serving(ref, [*overrides, f"workload.arrival.rate={rate!r}"]))

    best, probes = search(run, float(arrival.rate), goal, progress)
    return best, probes, spec


def capacity_sweep(ref: str, key: str, values: Sequence[str], overrides: Sequence[str] = (), goal: float = GOAL,
                   progress: Callable[[str, int, int], None] | None = None
                   ) -> tuple[list[tuple[float | None, list[Probe]]], ServingSpec]:
    """:func:`capacity` at every value of ``key`` (``--sweep KEY=V1,V2,... --capacity``): every point's file is
    checked before any search runs, as a sweep's are."""
    check_goal(goal)
    # a point with no SLO, a trace or a model that does not fit fails the sweep before any point runs
    specs = checked_points(ref, key, values, overrides, check_capacity)
    found = []
    for n, v in enumerate(values):
        if progress:
            progress(f"{key}={v}", n, len(values))
        best, probes, _ = capacity(ref, [*overrides, f"{key}={v}"], goal)
        found.append((best, probes))
    return found, specs[0]


def save_sweep(outdir: str | Path, key: str, values: Sequence[str],
               found: Sequence[tuple[float | None, list[Probe]]], *, plots: bool = True) -> list[Path]:
    """capacity_sweep.csv (each value's capacity and runs) and each point's capacity folder ``point_<i>``; an
    earlier, longer sweep's ``point_<i>`` beyond them is removed (probe p94 #1)."""
    out = Path(outdir)
    paths = []
    for i, (best, probes) in enumerate(found):
        paths += save(out / f"point_{i}", best, probes, plots=plots)
    remove_points_from(out, len(found))
    paths.append(write_csv(out / SWEEP_CSV, SWEEP_COLUMNS,
                           [[v, best, len(probes)] for v, (best, probes) in zip(values, found, strict=True)]))
    return paths


def rows(probes: Sequence[Probe]) -> list[list]:
    """capacity.csv's rows (:data:`COLUMNS`), by rate."""
    out = []
    for p in sorted(probes, key=lambda p: p.rate):
        s = p.result.report["serving"]
        out.append([p.rate, s["requests"], s["finished"], s["requests_per_s"], served_share(p.result),
                    s["output_tokens_per_s"], s["goodput"]["fraction"], s["ttft_s"]["p99"], s["tpot_s"]["p99"],
                    s["e2e_s"]["p99"], s["saturated"], p.passes])
    return out


def save(outdir: str | Path, best: float | None, probes: Sequence[Probe], *, plots: bool = True) -> list[Path]:
    """capacity.csv and, when a rate kept the goal, the best one's report folder ``best/`` (when none did, an
    earlier search's ``best/`` is removed: capacity.csv no longer names its rate)."""
    out = Path(outdir)
    paths = [write_csv(out / CAPACITY_CSV, COLUMNS, rows(probes))]
    chosen = next((p for p in probes if best is not None and p.rate == best), None)
    if chosen is not None:
        paths += chosen.result.save(out / "best", plots=plots)
    elif (out / "best").is_dir() and not (out / "best").is_symlink():
        shutil.rmtree(out / "best")
    return paths
