"""A serving file run at several values of one key (``accelsim serve FILE --sweep workload.arrival.rate=1,2,4``):
the throughput–latency curve; or at every combination of several keys' values (``--sweep`` given once a key: their
product, the first key's values outermost). The points share one process, so they share the iteration-cost grid
when the keys do not change it (a rate, a duration, replicas, the router, SLOs)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from ..config.digest import code_fingerprint, content_hash, file_digests
from ..config.schema import jsonable
from ..config.serving import SWEEP_LABEL, ServingSpec, load_serving
from ..errors import AccelsimError, ConfigError
from ..report.serving_plots import LATENCY_PNG, TIMESERIES_PNG, plot_curve
from ..report.writers import atomic_write_text, json_text, read_report
from . import ServeResult, _csv_rows, check, page, replot, serve, write_csv
from .metrics import model_title

CURVE_CSV = "sweep.csv"
CURVE_PNG = "throughput_latency.png"

Progress = Callable[[str, int, int], None]
CURVE_COLUMNS = ("value", "requests", "finished", "offered_requests_per_s", "requests_per_s", "output_tokens_per_s",
                 "goodput_requests_per_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "e2e_p50_s", "e2e_p99_s", "preemptions",
                 "saturated", "average_power_w", "j_per_output_token", "tokens_per_verification")


def parse_sweep(text: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2,...`` → (KEY, [V1, V2, ...]); a one-line ConfigError naming ``--sweep`` when malformed."""
    key, sep, values = text.partition("=")
    items = [v.strip() for v in values.split(",")] if sep else []
    if not key.strip() or not items or any(not v for v in items):
        raise ConfigError.one("--sweep", key.strip(), "expected KEY=V1,V2,... such as workload.arrival.rate=1,2,4",
                              value=text)
    return key.strip(), items


Keys = str | Sequence[str]  # one swept key, or several (a point is then a tuple of values, one a key)
Point = str | Sequence[str]


def parse_sweeps(items: Sequence[str]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """``--sweep`` items (``KEY=V1,V2,...`` each, :func:`parse_sweep`) → (keys, points): every combination of the
    keys' values, one tuple a point with a value a key, the first key's values outermost (``a=1,2 b=x,y`` → (1, x),
    (1, y), (2, x), (2, y)): the order of the ``point_<i>/`` folders and of sweep.csv's rows."""
    parsed = [parse_sweep(item) for item in items]
    return tuple(k for k, _ in parsed), list(itertools.product(*(v for _, v in parsed)))


def _keys(key: Keys) -> tuple[str, ...]:
    return (key,) if isinstance(key, str) else tuple(key)


def _point(value: Point) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def point_text(key: Keys, value: Point) -> str:
    """A point as ``--sweep`` items would write it: ``engine.max_num_seqs=16`` or
    ``workload.arrival.rate=4 engine.max_num_seqs=16``."""
    return " ".join(f"{k}={v}" for k, v in zip(_keys(key), _point(value), strict=True))


def point_value(value: Point) -> str:
    """sweep.csv's ``value`` of a point (and its label on the curve): the value of one key, the values of several
    joined by commas ("4,16"; a value holds no comma, ``--sweep`` splits on them)."""
    return ",".join(_point(value))


def curve_columns(key: Keys) -> tuple[str, ...]:
    """sweep.csv's columns: :data:`CURVE_COLUMNS`, with a sweep of several keys one column a key after ``value``
    (headed by the key, holding its value at the point)."""
    keys = _keys(key)
    return CURVE_COLUMNS if len(keys) == 1 else (CURVE_COLUMNS[0], *keys, *CURVE_COLUMNS[1:])


def _run_identity(spec: ServingSpec) -> tuple:
    """What a point runs: its model, draft model, arch, serving settings (seed included), options and trace. Two
    points with equal identities are the same run, whatever their ``--sweep`` items' spelling ("4" and "4.0")."""
    return (spec.model, spec.draft_model, spec.arch, spec.serve, spec.options, spec.trace_file)


def run_id(spec: ServingSpec) -> str:
    """The id of the run a point is (:func:`_run_identity`), made as ``accelsim sweep`` makes a point's id
    (:func:`accelsim.sweep.expand.point_id`): the first 16 hex digits of the SHA-256 of the canonical JSON of the
    resolved inputs (the model and draft model with their parameters, the arch, the serving settings, seed included,
    the options), with the SHA-256 of the contents of every file they name (a Hugging Face ``config.json``, the
    arrival trace) beside them: an edited file is another run."""
    def model(w) -> dict | None:
        return None if w is None else {"model": w.model, "params": jsonable(w.params),
                                       "files": file_digests(w.params)}

    return content_hash({"model": model(spec.model), "draft_model": model(spec.draft_model), "arch": jsonable(spec.arch),
                  "serve": jsonable(spec.serve), "options": jsonable(spec.options),
                  "trace": file_digests({"file": spec.trace_file}) if spec.trace_file else None})


POINT_INPUTS = ".accelsim-point.json"
"""The file in a finished point's folder (``point_<i>/``) recording what it ran (:func:`point_inputs`), by which a
rerun of the sweep into the folder reuses it (:func:`finished_point`)."""


def point_inputs(spec: ServingSpec) -> dict:
    """What :data:`POINT_INPUTS` records of a point: its :func:`run_id` and the code fingerprint of the accelsim
    that ran it (:func:`accelsim.config.digest.code_fingerprint`)."""
    return {"id": run_id(spec), "code_fingerprint": code_fingerprint()}


def finished_point(outdir: str | os.PathLike, i: int, spec: ServingSpec, *, plots: bool | None = None
                   ) -> ServeResult | None:
    """The result of point ``i`` from ``OUTDIR/point_<i>`` (its report.json; no requests or replicas) when an
    earlier run of the sweep finished it with exactly the inputs of ``spec``, by the same accelsim code
    (:func:`point_inputs` equal to the recorded ones, as ``accelsim sweep`` reuses a point whose id its results
    hold; probe p241 #2: a rerun of an interrupted ``serve --sweep`` simulated its finished points again); else None
    (missing, another run's, an older accelsim's, unreadable: the point runs). With ``plots`` given, the folder's
    plots are then drawn from its CSVs (True) or removed (False) where the earlier run's ``--no-plots`` differed,
    as saving the point again would have left them."""
    folder = Path(outdir) / f"point_{i}"
    try:
        recorded = json.loads((folder / POINT_INPUTS).read_text(encoding="utf-8"))
        if recorded != point_inputs(spec):
            return None
        report = read_report(folder)
        if report.get("kind") != "serving" or not isinstance(report.get("serving"), dict):
            return None
        drawn = [(folder / name).is_file() for name in (LATENCY_PNG, TIMESERIES_PNG)]
        if plots and not all(drawn):
            replot(folder, report)
        elif plots is False and any(drawn):
            for name in (LATENCY_PNG, TIMESERIES_PNG):
                (folder / name).unlink(missing_ok=True)
            page.write(report, folder, plots=False)
    except (OSError, ValueError, AccelsimError):
        return None
    return ServeResult(report, [], [], output=spec.output)


def unique_points(ref: str | os.PathLike, key: Keys, values: Sequence[Point], overrides: Sequence[str] = ()
                  ) -> tuple[list[Point], int]:
    """``values`` with every point whose run equals an earlier point's dropped (:func:`_run_identity`: a value
    repeated, ``--sweep workload.arrival.rate=4,4``, or spelt another way), in order, and how many were dropped: a
    duplicate would simulate the same run again and give sweep.csv and the curve a repeated row, as ``accelsim
    sweep`` drops its duplicate points (probe p199 #3). A point that does not load is kept, for
    :func:`checked_points` to name."""
    keys = _keys(key)
    identities: list[tuple] = []  # not hashed: a spec holds lists; a serve sweep has a few points
    kept: list[Point] = []
    for value in values:
        try:
            spec = load_serving(ref, overrides, swept=[f"{k}={v}" for k, v in zip(keys, _point(value), strict=True)])
        except ConfigError:
            kept.append(value)
            continue
        identity = _run_identity(spec)
        if identity in identities:
            continue
        identities.append(identity)
        kept.append(value)
    return kept, len(values) - len(kept)


def duplicates_line(points: int, expanded: int, duplicates: int) -> str:
    """The console's count of a sweep's points as ``accelsim sweep`` words it: "planned 1 points (2 expanded, 1
    duplicates)"."""
    return f"planned {points} points ({expanded} expanded, {duplicates} duplicates)"


def checked_points(ref: str | os.PathLike, key: Keys, values: Sequence[Point], overrides: Sequence[str],
                   check_point: Callable[[ServingSpec], object], progress: Progress | None = None) -> list[ServingSpec]:
    """The serving file at every value of ``key`` (every point of several keys), each loaded and passed to
    ``check_point`` before any runs; a point's ConfigError names it (``; at --sweep KEY=V``: the key at fault may
    be another one, model for a memory fraction)."""
    keys = _keys(key)
    specs = [load_serving(ref, overrides, swept=[f"{k}={v}" for k, v in zip(keys, _point(value), strict=True)])
             for value in values]
    for n, spec in enumerate(specs):
        if progress:
            progress(f"checking {point_text(keys, values[n])}", n, len(specs))
        for k in keys:  # a swept key an arrival trace replaces: every point alike (probe p99 #2)
            if any(k == r or k.startswith(f"{r}.") for r in spec.replaced):
                raise ConfigError.one(SWEEP_LABEL, k, f"replaced by workload.arrival.trace "
                                      f"({spec.written('workload.arrival.trace')}), whose rows give the requests: every "
                                      "point would run the trace alike; sweep another "
                                      "key, or drop the trace (--set workload.arrival.trace=null)")
        try:
            check_point(spec)
        except ConfigError as e:
            # an issue at the one swept key names its --sweep item already; with several keys the point's other
            # values are named too (the fault may lie in their combination: a model with a memory fraction)
            raise ConfigError([i if i.file == SWEEP_LABEL and len(keys) == 1 else
                               dataclasses.replace(i, msg=f"{i.msg}; at --sweep {point_text(keys, values[n])}")
                               for i in e.issues]) from None
    return specs


def sweep(ref: str | os.PathLike, key: Keys, values: Sequence[Point], overrides: Sequence[str] = (),
          progress: Progress | None = None,
          on_point: Callable[[int, ServeResult], None] | None = None,
          reuse: Callable[[int, ServingSpec], ServeResult | None] | None = None) -> list[ServeResult]:
    """The serving file ``ref`` run once per value of ``key`` (or per point of several keys, ``values`` then
    :func:`parse_sweeps`'s tuples). Every point is validated before the first runs: its file and overrides, then
    everything a run checks before it simulates (its requests, the model's fit in memory, its KV blocks), so that
    bad input never fails a sweep after points have finished (and are lost). ``on_point(i, result)`` is called as
    each point finishes (to save it before the next one runs). ``reuse(i, spec)``, asked before point ``i`` runs,
    gives its result when an earlier run finished it (the CLI's :func:`finished_point`): that point is not run
    again, nor passed to ``on_point``."""
    specs = checked_points(ref, key, values, overrides, check, progress)
    out = []
    for n, spec in enumerate(specs):
        if reuse is not None and (done := reuse(n, spec)) is not None:
            out.append(done)
            continue
        if progress:
            progress(point_text(key, values[n]), n, len(specs))
        out.append(serve(spec, progress=None))
        if on_point:
            on_point(n, out[-1])
    return out


def write_curve_csv(outdir: str | os.PathLike, key: Keys, values: Sequence[Point], results: Sequence[ServeResult]
                    ) -> Path:
    """sweep.csv of the points finished so far (``results``, the first of ``values``), written as each finishes, so
    that a sweep killed before its end (SIGKILL, the OOM killer) leaves a folder ``accelsim plot`` draws (probe p241
    #1)."""
    return write_csv(Path(outdir) / CURVE_CSV, curve_columns(key), curve_rows(values[:len(results)], results))


def curve_rows(values: Sequence[Point], results: Sequence[ServeResult]) -> list[list]:
    """One row per point (:func:`curve_columns`: a point of several keys has its values after ``value``)."""
    rows = []
    for value, res in zip(values, results, strict=True):
        s = res.report["serving"]
        point = _point(value)
        rows.append([point_value(value), *(point if len(point) > 1 else ()), s["requests"], s["finished"],
                     s["offered_requests_per_s"], s["requests_per_s"], s["output_tokens_per_s"],
                     s["goodput"]["requests_per_s"], s["ttft_s"]["p50"], s["ttft_s"]["p99"], s["tpot_s"]["p50"],
                     s["tpot_s"]["p99"], s["e2e_s"]["p50"], s["e2e_s"]["p99"], s["preemptions"], s["saturated"],
                     (res.report.get("power") or {}).get("average_w"),
                     (res.report.get("efficiency") or {}).get("j_per_output_token"),
                     (s.get("speculative") or {}).get("tokens_per_verification")])
    return rows


def curve_name(report: dict) -> str:
    """What a curve's title and table name: the model on the arch ("llama2_7b on h100"), not the serving file's
    name, which may carry one value of the swept key ("llama2_7b_h100_8rps" swept over rates 2 to 16); a Hugging
    Face model's architecture in brackets (:func:`.metrics.model_title`)."""
    return model_title(report)


def spec_name(spec: ServingSpec) -> str:
    """:func:`curve_name` of a serving file before it runs (a capacity search's title, whose rate the file's name may
    carry: "llama2_7b_h100_8rps"): its model on its arch."""
    return curve_name({"model": {"model": spec.model.model, "params": dict(spec.model.params)},
                       "arch": spec.arch.name, "name": spec.name})


def save_curve(outdir: str | os.PathLike, key: Keys, values: Sequence[Point], results: Sequence[ServeResult], *,
               name: str, plots: bool = True, points: bool = True) -> list[Path]:
    """Each point's report folder (``point_<i>``; not with ``points`` off: saved as each finished, the CLI's
    ``on_point``), sweep.csv and (with ``plots``) throughput_latency.png. The folder then describes this sweep
    alone: an earlier sweep's ``point_<i>`` beyond this one's points is removed (:func:`remove_points_from`), and
    its throughput_latency.png when ``plots`` is off (probe p94 #1)."""
    out = Path(outdir)
    paths = []
    for i, res in enumerate(results if points else ()):
        paths += res.save(out / f"point_{i}", plots=plots)
    remove_points_from(out, len(results))
    rows = curve_rows(values, results)
    columns = curve_columns(key)
    paths.append(write_csv(out / CURVE_CSV, columns, rows))
    if plots:
        dicts = [dict(zip(columns, r, strict=True)) for r in rows]
        paths.append(plot_curve(name, " × ".join(_keys(key)), dicts, out / CURVE_PNG,
                                lines=curve_lines(dicts, _keys(key))))
    else:
        (out / CURVE_PNG).unlink(missing_ok=True)  # an earlier sweep's curve, which sweep.csv no longer describes
    return paths


def point_index(folder: Path) -> int | None:
    """``i`` of a ``point_<i>`` folder's name; None for any other name."""
    prefix, _, index = folder.name.partition("_")
    return int(index) if prefix == "point" and index.isdigit() else None


def remove_points_from(outdir: Path, n: int) -> None:
    """Remove the ``point_<i>`` folders of ``outdir`` with ``i >= n``: an earlier, longer sweep's points, which a
    sweep of ``n`` points into the same folder did not replace (probe p94 #1: ``accelsim plot`` drew them as this
    sweep's)."""
    if not outdir.is_dir():
        return
    for d in outdir.glob("point_*"):
        i = point_index(d)
        if i is not None and i >= n and d.is_dir() and not d.is_symlink():
            shutil.rmtree(d)


ALONG = "workload.arrival.rate"  # the key a throughput–latency curve runs along when it is swept


def curve_lines(rows: Sequence[dict], keys: Sequence[str]) -> list[tuple[str, list[int], str]]:
    """The curves of a sweep of several keys (:func:`~accelsim.report.serving_plots.plot_curve`'s ``lines``): one
    along :data:`ALONG` when it is swept (else along the first key) per combination of the other keys' values, in
    the order they first appear: (legend label "max_num_seqs=16", the rows' indices, the key labelling the points).
    One key: no lines (one curve through every row)."""
    if len(keys) < 2:
        return []
    along = ALONG if ALONG in keys else keys[0]
    others = [k for k in keys if k != along]
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(tuple(str(r[k]) for k in others), []).append(i)
    return [(", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in zip(others, vals, strict=True)), idx, along)
            for vals, idx in groups.items()]


def save_point(outdir: str | os.PathLike, i: int, result: ServeResult, *, plots: bool = True,
               spec: ServingSpec | None = None) -> Path:
    """A finished point's report folder, ``OUTDIR/point_<i>``, whole or not at all: written into
    ``.point_<i>.partial`` and renamed when complete, so that a sweep stopped while it saves leaves no half-written
    point (the partial folder is removed). With ``spec`` (the point's), what it ran (:data:`POINT_INPUTS`), by which
    a rerun reuses it (:func:`finished_point`)."""
    out = Path(outdir)
    final, part = out / f"point_{i}", out / f".point_{i}.partial"
    shutil.rmtree(part, ignore_errors=True)
    try:
        result.save(part, plots=plots)
        if spec is not None:
            atomic_write_text(part / POINT_INPUTS, json_text(point_inputs(spec)) + "\n")
        shutil.rmtree(final, ignore_errors=True)  # an earlier run's
        os.replace(part, final)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    return final


def replot_capacity(outdir: str | os.PathLike) -> list[Path]:
    """Redraw a ``serve --capacity`` folder's best run (``best/``), or every point's of a capacity sweep."""
    from .capacity import SWEEP_CSV

    out = Path(outdir)
    swept = _csv_rows(out / SWEEP_CSV) if (out / SWEEP_CSV).is_file() else None
    # a capacity sweep's points only: point_0 to point_<rows - 1> of capacity_sweep.csv (probe p94 #1)
    points = sorted((d for d in out.glob("point_*")
                     if (i := point_index(d)) is not None and (swept is None or i < len(swept))), key=point_index)
    folders = [d / "best" for d in (out, *points) if (d / "best" / "report.json").is_file()]
    if not folders:
        raise AccelsimError(f"{out}: a capacity search whose rates all missed the goal: no run to draw")
    return [path for d in folders for path in replot(d, read_report(d))]


def replot_curve(outdir: str | os.PathLike) -> list[Path]:
    """Redraw a ``serve --sweep`` folder (``accelsim plot OUTDIR``): throughput_latency.png from sweep.csv, then
    every point's plots. The swept key is not in sweep.csv: the title names the one setting the points' reports differ
    in (:func:`swept_key`), else the values only."""
    out = Path(outdir)
    rows = _csv_rows(out / CURVE_CSV)
    if not rows or any(col not in rows[0] for col in ("value", "output_tokens_per_s", "ttft_p50_s", "e2e_p50_s")):
        raise AccelsimError(f"{out / CURVE_CSV}: not a sweep.csv 'accelsim serve --sweep' wrote")
    try:
        values = [{k: v if k == "value" or k not in CURVE_COLUMNS  # a swept key's column: its values as written
                   else float(v) if v not in ("", "True", "False") else v or None
                   for k, v in r.items()} for r in rows]
    except ValueError as e:
        raise AccelsimError(f"{out / CURVE_CSV}: not a sweep.csv 'accelsim serve --sweep' wrote ({e})") from None
    # sweep.csv's points only: point_0 to point_<rows - 1> (a folder beyond them is another sweep's, probe p94 #1)
    points = sorted((d for d in out.glob("point_*")
                     if (i := point_index(d)) is not None and i < len(rows) and (d / "report.json").is_file()),
                    key=point_index)
    name = curve_name(read_report(points[0])) if points else out.name
    keys = [k for k in (values[0] if values else {}) if k not in CURVE_COLUMNS]  # several keys: a column each
    reports = [read_report(d) for d in points]
    paths = [plot_curve(name, None if keys else swept_key(reports), values, out / CURVE_PNG,
                        lines=curve_lines(values, keys))]
    for d, report in zip(points, reports, strict=True):
        paths += replot(d, report)
    return paths


def swept_key(reports: Sequence[dict]) -> str | None:
    """The one setting the points' reports differ in (:func:`accelsim.report.compare.settings`: their serve config
    flattened, ``workload.arrival.rate``), which sweep.csv does not hold; None unless exactly one differs (probe
    p221 #2: a redrawn curve's title named the values 4, 16, 32 but not their key)."""
    from ..report.compare import settings

    per = [settings(dict(r)) for r in reports]
    keys = dict.fromkeys(k for p in per for k in p)
    differ = [k for k in keys if len({repr(p.get(k)) for p in per}) > 1]
    return differ[0] if len(per) > 1 and len(differ) == 1 else None

