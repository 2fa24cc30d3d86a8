"""Files that hold a report: ``report.json`` (the contract in DESIGN.md) and ``ops.csv`` (one row per operator).

Both are written atomically: the text goes to a temporary file in the destination folder, which then replaces the
destination with :func:`os.replace`, so a run killed half-way leaves the previous file or none, never half a file.
Everything here works on the plain report dict, so ``accelsim plot OUTDIR`` can reread what ``run`` wrote.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from accelsim.errors import AccelsimError, ConfigError

from .schema import not_a_report, part_keys

REPORT_FILE = "report.json"
OPS_CSV_FILE = "ops.csv"
TRACE_FILE = "trace.json"
INCOMPLETE_FILE = "INCOMPLETE"
"""The file that marks a report folder whose save did not finish (report/result.py's ``Report.save``): written
before the first file of the run is replaced and removed after the last is in place, so a folder holding it may
lack files or hold stale ones, and :func:`read_report` refuses it."""

# Columns of ops.csv before the per-level columns, and after them. ``duration_cycles`` is end - start and
# ``ready_to_end_cycles`` end - ready_cycle, each times the row's ``count`` in a composed report (:func:`write_ops_csv`).
_HEAD_COLUMNS = (
    "name", "kind", "fn", "unit", "core", "macs", "flops", "start_cycle", "end_cycle", "duration_cycles",
    "ready_to_end_cycles", "compute_cycles", "stall_cycles",
)
_TAIL_COLUMNS = ("tiles", "arithmetic_intensity", "achieved_flops_per_s", "bound", "energy_j")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder and ``os.replace``."""
    atomic_write_chunks(path, (text,))


def atomic_write_chunks(path: Path, chunks: Iterable[str]) -> None:
    """:func:`atomic_write_text` of the text ``chunks`` make one after another, each written as it comes (a file
    too large to hold as one string: a long serving run's trace.json)."""
    with staged_chunks(path, chunks):
        pass


@contextmanager
def staged_chunks(path: Path, chunks: Iterable[str]) -> Iterator[None]:
    """Write the text ``chunks`` (UTF-8, each as it comes) to a temporary file beside ``path`` on entering, and put
    it in place of ``path`` (``os.replace``) when the ``with`` block ends, or remove it when the writing or the
    block raises: a file made before the files written in the block and put in place after them (report.save's
    trace.json, streamed before anything is written, in place after report.json and ops.csv)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the mode a plain open() would
        yield
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _jsonable(value: object) -> object:
    """JSON form of the values ``json`` does not know: numpy scalars and arrays, paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"report value {value!r} of type {type(value).__name__} is not JSON serializable")


def json_text(value: object, **dump_args: object) -> str:
    """``value`` as standard JSON (RFC 8259), numpy scalars and arrays as plain numbers and lists. JSON has no
    Infinity or NaN: a report states an unbounded figure as null, so a non-finite float here is a bug, and raises
    ``ValueError`` naming where it is (``levels[0].bandwidth is inf``)."""
    try:
        return json.dumps(value, allow_nan=False, default=_jsonable, **dump_args)  # type: ignore[arg-type]
    except ValueError as e:
        named = _not_finite(value)
        if named is None:
            raise
        raise named from e


def _not_finite(value: object) -> ValueError | None:
    """The error :func:`json_text` raises for ``value`` that the encoder refused: where its non-finite float is
    (None when it has none)."""
    where = _non_finite(value)
    if where is None:
        return None
    return ValueError(f"{where[0] or 'value'} is {where[1]}: JSON has no Infinity or NaN (write null for an "
                      "unbounded figure)")


def _json_chunks(value: object, *, indent: int) -> Iterator[str]:
    """:func:`json_text` of ``value`` (and a newline) in pieces of ~64 KiB, as the encoder makes it: the text of a
    report of 32,006 op rows (42 MB) is never held whole, nor the encoder's ~10⁷ small strings it is joined from
    (~200 MB more at the peak of ``accelsim run`` on lstm_lm at seq_len 8000)."""
    encoder = json.JSONEncoder(allow_nan=False, default=_jsonable, indent=indent)
    part: list[str] = []
    size = 0
    for chunk in encoder.iterencode(value):
        part.append(chunk)
        size += len(chunk)
        if size >= 1 << 16:
            yield "".join(part)
            part, size = [], 0
    yield "".join(part) + "\n"


def _non_finite(value: object, at: str = "") -> tuple[str, float] | None:
    """The dotted path and value of the first non-finite float in ``value`` (dicts, lists, numpy), or None."""
    if isinstance(value, (float, np.floating)):
        return None if math.isfinite(value) else (at, float(value))
    if isinstance(value, np.ndarray):
        return _non_finite(value.tolist(), at)
    if isinstance(value, dict):
        items = ((f"{at}.{k}" if at else str(k), v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((f"{at}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    return next((hit for key, v in items if (hit := _non_finite(v, key)) is not None), None)


def write_json(report: dict, path: str | os.PathLike) -> Path:
    """Write ``report`` to ``path`` as indented JSON (keys in insertion order), atomically; returns the path.

    numpy scalars and arrays are written as plain numbers and lists. The file is standard JSON (:func:`json_text`):
    an unbounded value is null in the report, and a non-finite float raises ``ValueError`` rather than being written
    as ``Infinity`` / ``NaN``, which JavaScript's and serde's JSON readers refuse.
    """
    path = Path(path)
    try:
        atomic_write_chunks(path, _json_chunks(report, indent=2))
    except ValueError as e:  # a non-finite float (the temporary file is gone; an earlier report.json stays)
        named = _not_finite(report)
        if named is None:
            raise
        raise named from e
    return path


def read_report(outdir_or_file: str | os.PathLike) -> dict:
    """The report dict stored in ``OUTDIR/report.json`` (or in the JSON file given).

    Raises :class:`AccelsimError` with a one-line message when there is no report, or it is not a JSON object
    with the keys every report has (:func:`~accelsim.report.schema.not_a_report`: ``FILE: not an accelsim report
    (missing total_cycles)``). ``Infinity`` and ``NaN``, which reports written before they were standard JSON hold
    for an unbounded bandwidth, are read as null, as reports now write it.
    """
    given = Path(outdir_or_file)
    if given.is_dir() or given.suffix.lower() != ".json":
        outdir, file = given, given / REPORT_FILE
    else:
        outdir, file = given.parent, given
    if not file.is_file():
        if file.name == REPORT_FILE and (swept := _sweep_folder(outdir)) is not None:
            raise AccelsimError(swept)
        if file.name == REPORT_FILE and (served := _serving_folder(outdir)) is not None:  # probe p94 #4
            raise AccelsimError(served)
        if file.name == REPORT_FILE and given.is_file():  # ops.csv, a PNG: a file of the folder, not the folder
            raise AccelsimError(f"{given}: not a report: give the report folder ({given.parent}) or its "
                                f"{REPORT_FILE}")
        if file.name == REPORT_FILE:
            raise AccelsimError(f"{outdir}: no {REPORT_FILE} (run 'accelsim run ... -o {outdir}' first)")
        raise AccelsimError(f"{file}: no such report file")
    if file.name == REPORT_FILE and (mixed := mixed_folder(outdir)) is not None:
        raise AccelsimError(mixed)
    if (outdir / INCOMPLETE_FILE).is_file():  # a save that did not finish (Report.save)
        raise AccelsimError(f"{outdir}: an incomplete report folder (its save was interrupted: see its "
                            f"{INCOMPLETE_FILE} file); run the command that wrote it again")
    # every message names the file by the path as typed (a folder's: FOLDER/report.json), never "FOLDER: FILE",
    # which read as ".: bad.json" for a file in the current folder (probe p59 finding 4)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise AccelsimError(f"{file}: not valid JSON: not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise AccelsimError(f"{file}: cannot read: {e.strerror or e}") from None
    try:
        report = json.loads(text, parse_constant=_legacy_constant)
    except json.JSONDecodeError as e:
        raise AccelsimError(f"{file}: not valid JSON: {e.msg} (line {e.lineno} column {e.colno})") from None
    except (ValueError, RecursionError) as e:  # an int of more than 4,300 digits; nesting beyond the stack
        why = "nested too deeply" if isinstance(e, RecursionError) else "a number with too many digits"
        raise AccelsimError(f"{file}: not valid JSON: {why}") from None
    if not isinstance(report, dict):
        raise AccelsimError(f"{file}: not an accelsim report (expected a JSON object, got {type(report).__name__})")
    why = not_a_report(report)
    if why is not None:
        raise AccelsimError(f"{file}: not an accelsim report ({why})")
    return report


# the files that mark a folder 'accelsim serve' wrote with --sweep or --capacity (serving/curve.py's CURVE_CSV,
# serving/capacity.py's CAPACITY_CSV and SWEEP_CSV: named here, as sweep.json is, since report/ imports no serving/)
_SERVE_SWEEP_CSV, _CAPACITY_CSV, _CAPACITY_SWEEP_CSV = "sweep.csv", "capacity.csv", "capacity_sweep.csv"

# The first bytes each command writes into the file at the top of its folder (the header row of its CSV, the first
# key of its JSON), by which folder_writers tells the file from a user's of the same name (probe p174 #1: a user's
# report.json took their folder for a run's, whose save then deleted their trace.json). A file is read this far only.
_SWEEP_FORMAT = "accelsim-sweep/"  # sweep.json's "format" (sweep/store.py's FORMAT, accelsim-sweep/1), its first key
_MARK_HEAD_BYTES = 4096
_CSV_HEADS = {
    "requests.csv": re.compile(r"id,replica,arrival_s,"),  # serving/metrics.py's CSV_COLUMNS
    _CAPACITY_CSV: re.compile(r"rate,requests,finished,requests_per_s,"),  # serving/capacity.py's COLUMNS
    _CAPACITY_SWEEP_CSV: re.compile(r"value,capacity_requests_per_s,runs\r?$", re.M),  # capacity.py's SWEEP_COLUMNS
    # serving/curve.py's CURVE_COLUMNS, a sweep of several keys with a column a key after "value"
    _SERVE_SWEEP_CSV: re.compile(r"value,(?:[^,\r\n]*,)*?requests,finished,"),
}
# a results.jsonl record as sweep/store.py's record() writes it (compact JSON, "id" a point_id's 16 hex digits first,
# "point" next): a sweep folder whose sweep.json is gone or torn is still the sweep's (probe p199 #2)
_RESULTS_JSONL = "results.jsonl"  # sweep/store.py's RESULTS_FILE
_LINE_HEADS = {_RESULTS_JSONL: re.compile(r'\{"id":"[0-9a-f]{16}","point":\{')}
_JSON_HEADS = {
    REPORT_FILE: re.compile(r'\s*\{\s*"accelsim_version"\s*:\s*"'),  # report/summary.py's and serving's first key
    "sweep.json": re.compile(r'\s*\{\s*"format"\s*:\s*"' + re.escape(_SWEEP_FORMAT)),
}
_FULL_CHECK_BYTES = 64 << 20  # a report.json without that first key (keys reordered) is parsed whole up to this size

# the file each command writes at the top of its folder, by which folder_writers tells what a folder holds
_FOLDER_MARKS = (("sweep.json", "accelsim sweep"), (_RESULTS_JSONL, "accelsim sweep"),
                 (_CAPACITY_SWEEP_CSV, "accelsim serve --capacity --sweep"), (_CAPACITY_CSV, "accelsim serve --capacity"), (_SERVE_SWEEP_CSV, "accelsim serve --sweep"),
                 ("requests.csv", "accelsim serve"), (REPORT_FILE, "accelsim run"))


def accelsims_mark(path: Path) -> bool:
    """Whether ``path``, a folder's ``report.json``, ``requests.csv``, ``sweep.json``, ``results.jsonl``,
    ``sweep.csv``, ``capacity.csv`` or ``capacity_sweep.csv``, is the file an accelsim command writes there, by its
    first bytes (:data:`_MARK_HEAD_BYTES`): a CSV's header row, the first key of its JSON object (a report's
    ``accelsim_version``, a sweep description's ``"format": "accelsim-sweep/1"``), a sweep's first result record
    (``{"id":"<16 hex digits>","point":{``). A report.json whose keys were
    reordered is read whole and checked as ``plot`` reads it (:func:`~accelsim.report.schema.not_a_report`). A
    file that is missing or cannot be read is not a mark."""
    try:
        with path.open("rb") as f:
            head = f.read(_MARK_HEAD_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff")
    except OSError:
        return False
    if path.name in _CSV_HEADS:
        return _CSV_HEADS[path.name].match(head) is not None
    if path.name in _LINE_HEADS:
        return _LINE_HEADS[path.name].match(head) is not None
    if _JSON_HEADS[path.name].match(head) is not None:
        return True
    if path.name != REPORT_FILE:
        return False
    try:  # keys in another order (a tool that sorts them, a script's edit): the whole report, as plot checks it
        if path.stat().st_size > _FULL_CHECK_BYTES:
            return False
        report = json.loads(path.read_text(encoding="utf-8"), parse_constant=_legacy_constant)
    except (OSError, ValueError, RecursionError):  # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        return False
    return isinstance(report, dict) and not_a_report(report) is None


def folder_writers(outdir: str | os.PathLike) -> list[str]:
    """The commands whose outputs folder ``outdir`` holds, by the file each writes at its top, when that file is the
    command's (:func:`accelsims_mark`: a user's report.json or requests.csv marks nothing; an ``accelsim serve``
    run's report.json beside its requests.csv is the serve run's; a sweep's results.jsonl marks its folder when
    its sweep.json is missing or torn): [] for a folder none wrote; two or more for a folder written by several
    before :func:`claim_folder` refused that (probe p118 #2)."""
    out = Path(outdir)
    found = list(dict.fromkeys(command for name, command in _FOLDER_MARKS
                               if (out / name).is_file() and accelsims_mark(out / name)))
    if "accelsim serve" in found and "accelsim run" in found:
        found.remove("accelsim run")
    if not found and _serve_sweep_points(out):
        found.append("accelsim serve --sweep")
    return found


# a serve --sweep's point report folder (serving/curve.py's save_point: OUTDIR/point_<i>, and .point_<i>.partial while
# it is written), named here as sweep.csv is, since report/ imports no serving/
_SERVE_POINT_DIR, _SERVE_PARTIAL_DIR = re.compile(r"point_[0-9]+"), re.compile(r"\.point_[0-9]+\.partial")


def _serve_sweep_points(outdir: Path) -> bool:
    """Whether ``outdir`` holds the finished points of an ``accelsim serve --sweep`` stopped before it wrote its
    sweep.csv (SIGKILL, or a sweep of an accelsim before probe p241 #1, which wrote it only at the end): one
    ``point_<i>/`` or more, each an ``accelsim serve`` report folder (its requests.csv and report.json accelsim's),
    and else only a half-written ``.point_<i>.partial/`` and the lock file."""
    from .lock import LOCK_FILE

    points = 0
    try:
        for p in outdir.iterdir():
            if p.name == LOCK_FILE or (_SERVE_PARTIAL_DIR.fullmatch(p.name) and p.is_dir() and not p.is_symlink()):
                continue
            if not (_SERVE_POINT_DIR.fullmatch(p.name) and p.is_dir() and not p.is_symlink()
                    and accelsims_mark(p / "requests.csv") and accelsims_mark(p / REPORT_FILE)):
                return False
            points += 1
    except OSError:
        return False
    return points > 0


def save_folder(outdir: object) -> Path:
    """``outdir`` as a library save takes it (``Report.save``, ``ServeResult.save``): a non-empty path, not a file
    (else :class:`~accelsim.errors.ConfigError` at ``outdir``, one line): "" would be the current folder, which the
    CLI's ``-o ""`` refuses too (probe p91 #9, p148 #1)."""
    if not isinstance(outdir, (str, os.PathLike)) or not os.fspath(outdir).strip():
        raise ConfigError.one(None, "outdir", "expected a folder name (a non-empty path); pass '.' for the "
                              "current folder", value=outdir)
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise ConfigError.one(None, "outdir", f"{out} is a file, not a folder")
    return out


# a sweep's point report folder, as ``accelsim sweep --point ID`` writes it inside the sweep's folder (OUTDIR/point_ID,
# ID the 16 hex digits of sweep/expand.py's point_id): the sweep's own, not a user's file (probe p170 #1)
_SWEEP_POINT_DIR = re.compile(r"point_[0-9a-f]{16}")


def claim_folder(outdir: str | os.PathLike, command: str, *, shown: str | None = None) -> None:
    """Refuse (:class:`AccelsimError`, one line) to write ``command``'s outputs into ``outdir`` unless it is missing,
    empty or one ``command`` wrote (:func:`folder_writers`: for ``accelsim sweep``, its sweep.json or, that gone
    or torn, its results.jsonl records, which the sweep then resumes from; or a run's save left :data:`INCOMPLETE_FILE`; for
    ``accelsim sweep``, a folder holding only ``point_ID`` report folders ``sweep --point`` wrote): not into
    a folder another command's outputs fill, which ``plot`` / ``compare`` would read as either (probe p118 #2: a
    ``serve --sweep`` over a ``run`` folder, and ``compare`` reported the old run), nor into any other folder that
    holds files (the source tree, ``/``, a user's folder, whose trace.json a run's save would delete: probe p132
    #2). A folder an interrupted run's save left (:data:`INCOMPLETE_FILE`) is refused to other commands as that.
    The folder's lock file (:data:`~accelsim.report.lock.LOCK_FILE`), held by a writer now, is not a file it
    holds: that writer's lock refuses the folder next, naming it. A path that is a file, or that the system
    refuses (a name too long), is refused naming the path. ``shown`` is the command the refusal names, where the
    one typed is not the writer whose outputs it checks for (``accelsim sweep --point``: a sweep's folder, then its
    point's run report folder)."""
    from .lock import LOCK_FILE

    out = Path(outdir)
    shown = shown or command
    refuse = f"'{shown}' writes into a new folder, an empty one or one it wrote: give -o another folder"
    try:
        if not out.exists():
            return
        if not out.is_dir():
            raise AccelsimError(f"{outdir}: a file, not a folder")
        writers = folder_writers(out)
        held = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE
                      and not (command == "accelsim sweep" and _SWEEP_POINT_DIR.fullmatch(p.name) and p.is_dir()))
    except OSError as e:
        raise AccelsimError(f"{outdir}: cannot use it as a folder: {e.strerror or e}") from None
    others = [c for c in writers if c != command]
    if others:
        raise AccelsimError(f"{outdir}: holds the outputs of '{others[0]}'; {refuse}")
    if writers or not held or (command == "accelsim run" and INCOMPLETE_FILE in held):
        return
    if INCOMPLETE_FILE in held:  # accelsim's own mark, not a user's file (probe p138 #5: "not written by accelsim")
        raise AccelsimError(f"{outdir}: holds an interrupted 'accelsim run' save ({INCOMPLETE_FILE}), which "
                            f"'accelsim run' rewrites: run that run into it again, or give '{shown}' -o another "
                            f"folder")
    shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
    raise AccelsimError(f"{outdir}: not empty and not written by accelsim (holds {shown}); {refuse}")


def mixed_folder(outdir: Path) -> str | None:
    """The message for a folder two commands wrote into (before :func:`claim_folder` refused that), else None."""
    found = folder_writers(outdir)
    if len(found) < 2:
        return None
    return (f"{outdir}: holds the outputs of both '{found[0]}' and '{found[1]}', written into one folder; run the "
            f"one you want again into a new folder")


def _sweep_folder(outdir: Path) -> str | None:
    """The message for a folder with no report.json that ``accelsim sweep`` wrote: its sweep.json (sweep/store.py's
    SWEEP_FILE) or, that gone, its results.jsonl records (probe p199 #2); None for any other folder."""
    if (outdir / "sweep.json").is_file():
        return (f"{outdir}: a sweep folder, not a report: its points are in results.csv ('accelsim plot {outdir}' "
                "draws them)")
    if accelsims_mark(outdir / _RESULTS_JSONL):
        return (f"{outdir}: a sweep folder without its sweep.json (its points are in {_RESULTS_JSONL}): run "
                f"'accelsim sweep SWEEP.yaml -o {outdir}' with the sweep's file again, which rebuilds sweep.json and "
                f"reuses the finished points, then 'accelsim plot {outdir}'")
    return None


def _serving_folder(outdir: Path) -> str | None:
    """The message for a folder with no report.json that ``accelsim serve --sweep`` / ``--capacity`` wrote: what it
    holds and the report folders inside it to give instead (None for any other folder)."""
    def point(d: Path) -> int:  # point_<i>/ or point_<i>/best/: i (-1 for another name)
        index = (d.parent if d.name == "best" else d).name.partition("_")[2]
        return int(index) if index.isdigit() else -1

    def reports(pattern: str) -> list[str]:
        return [str(d) for d in sorted(outdir.glob(pattern), key=point) if (d / REPORT_FILE).is_file()]

    if (outdir / _CAPACITY_SWEEP_CSV).is_file():
        kind, where, folders = "'serve --capacity --sweep' folder", f"{_CAPACITY_SWEEP_CSV} lists each point's " \
            "capacity", reports("point_*/best")
    elif (outdir / _CAPACITY_CSV).is_file():
        kind, where, folders = "'serve --capacity' folder", f"{_CAPACITY_CSV} lists its runs", reports("best")
    elif (outdir / _SERVE_SWEEP_CSV).is_file():
        kind, where, folders = "'serve --sweep' folder", f"{_SERVE_SWEEP_CSV} lists its points", reports("point_*")
    elif _serve_sweep_points(outdir):  # stopped before it wrote sweep.csv (probe p241 #1)
        folders = reports("point_*")
        return (f"{outdir}: a 'serve --sweep' folder without its {_SERVE_SWEEP_CSV} (stopped before it wrote it): "
                f"run the same 'accelsim serve --sweep' into it again, which reuses its finished points and writes "
                f"{_SERVE_SWEEP_CSV}; or compare its report folders: 'accelsim compare "
                f"{' '.join(folders[:3]) + (' ...' if len(folders) > 3 else '')}'")
    else:
        return None
    shown = " ".join(folders[:3]) + (" ..." if len(folders) > 3 else "")
    advice = (f"compare its report folders: 'accelsim compare {shown}'" if folders else
              "it holds no report folder (no rate kept the goal)" if "capacity" in kind else
              "it holds no report folder")
    return f"{outdir}: a {kind}, not a report: {where}; {advice}"


def _legacy_constant(name: str) -> None:
    """``Infinity`` / ``NaN`` in a report written before reports were standard JSON: read as null (unbounded)."""
    return None


def _levels(first: Iterable[str], ops: list[dict], key: str) -> list[str]:
    """Union of memory levels: those of ``first`` in order, then any new ones met in ``op[key]``, in order."""
    seen = dict.fromkeys(first)
    for op in ops:
        seen.update(dict.fromkeys(op.get(key) or {}))
    return list(seen)


def ops_csv_columns(report: dict) -> list[str]:
    """Header of ``ops.csv`` for ``report``: fixed columns (with a composed report's ``phase`` / ``stage`` and
    ``count`` after ``core`` when its rows have them, ``sparsity`` when some op's weights are pruned N:M, and
    ``fixed_cycles`` after ``stall_cycles`` when some op's GPU tiles have fixed costs, then ``ring_repeat`` and
    ``ring_folded_into`` when a context-parallel ring was folded), ``bytes_<level>`` and
    ``stall_<level>`` per level, and after ``achieved_flops_per_s`` an ``achieved_bytes_per_s_<level>`` per memory
    level of the arch (report.json's ``arch.memory_bytes_per_s``, then any other an op's ``achieved_bytes_per_s``
    names; none for a report before it)."""
    ops = report.get("ops") or []
    byte_levels = _levels(report.get("bytes") or {}, ops, "bytes")
    stall_levels = _levels(report.get("stalls_by_level") or {}, ops, "stalls_by_level")
    at = _HEAD_COLUMNS.index("core") + 1
    sparse = ["sparsity"] if any(_sparsity(op) for op in ops) else []
    fixed = ["fixed_cycles"] if any(op.get("fixed_cycles") for op in ops) else []
    ring = list(RING_COLUMNS) if any(_ring(op, RING_COLUMNS[0]) for op in ops) else []
    rates = (_levels((report.get("arch") or {}).get("memory_bytes_per_s") or {}, ops, RATE_KEY)
             if any(RATE_KEY in op for op in ops) else [])
    after = _TAIL_COLUMNS.index("achieved_flops_per_s") + 1
    return [
        *_HEAD_COLUMNS[:at], *part_keys(ops), *sparse, *_HEAD_COLUMNS[at:], *fixed, *ring,
        *(f"bytes_{lvl}" for lvl in byte_levels),
        *(f"stall_{lvl}" for lvl in stall_levels),
        *_TAIL_COLUMNS[:after], *(f"{RATE_KEY}_{lvl}" for lvl in rates), *_TAIL_COLUMNS[after:],
    ]


RATE_KEY = "achieved_bytes_per_s"  # an op's bytes per second at each memory level over its span (one execution's)


RING_COLUMNS = ("ring_repeat", "ring_folded_into")  # a folded context-parallel ring's rows (mapping/ring.py)


def _ring(op: dict, key: str) -> object:
    """An op's mapping ``ring_repeat`` (the r ring steps its row stands for: its span and stalls are theirs, its
    work and bytes one step's) or ``ring_folded_into`` (the op standing for it), else None."""
    return (op.get("mapping") or {}).get(key)


def _sparsity(op: dict) -> str:
    """An op's N:M weight sparsity as ops.csv shows it: the pattern and whether its unit skipped the zeros ("2:4
    skipped", "2:4 dense"), or "" for a dense op."""
    sp = (op.get("mapping") or {}).get("sparsity")
    if not isinstance(sp, dict):
        return ""
    return f"{sp.get('pattern')} {'skipped' if sp.get('skips_zeros') else 'dense'}"


def _csv_value(value: object) -> object:
    """A cell: None (JSON null) becomes an empty cell; numbers are written as Python prints them."""
    return "" if value is None else value


def write_ops_csv(report: dict, path: str | os.PathLike) -> Path:
    """Write one row per operator of ``report`` to ``path`` as CSV (header first), atomically; returns the path.

    A level an op did not touch reads 0 in its ``bytes_<level>`` and ``stall_<level>`` columns; a null value (an op
    with no off-chip bytes has no arithmetic intensity) is an empty cell. A composed report's row stands for its
    ``count`` executions (decode steps, a diffusion part's steps, a stage's micro-batches) and every quantity column
    is their total: ``macs``, ``flops``, ``bytes_*``, ``stall_*`` and ``energy_j`` as report.json holds them, and
    ``duration_cycles``, ``compute_cycles`` and ``fixed_cycles`` one execution's (report.json's ``end_cycle -
    start_cycle``, ``compute_cycles`` and ``fixed_cycles``) times ``count``, so work / duration is a rate the chip can
    reach (``ready_to_end_cycles`` likewise: end − ``ready_cycle``, the op's time from its inputs ready to its end,
    which leaves out the parameter loads that start it ahead of its producers and counts any wait for its unit
    after them, so a chain's rows add up to the run; ``duration_cycles`` counts that prefetch, not that wait);
    ``start_cycle`` and
    ``end_cycle`` place the first execution on the run's timeline, and ``arithmetic_intensity``,
    ``achieved_flops_per_s`` and ``achieved_bytes_per_s_<level>``, ratios, are the same for one execution as for all
    of them. An op that spans no time has an empty ``achieved_bytes_per_s_<level>`` (as ``achieved_flops_per_s``);
    one that spans some but moved nothing at a level reads 0 there.
    """
    path = Path(path)
    columns = ops_csv_columns(report)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for op in report.get("ops") or []:
        start, end = op.get("start_cycle"), op.get("end_cycle")
        row = dict(op)
        count = op.get("count", 1)  # a composed report's row: every quantity its executions' total
        row["duration_cycles"] = count * (end - start) if start is not None and end is not None else None
        ready = op.get("ready_cycle")  # (a report before it: empty)
        row["ready_to_end_cycles"] = count * (end - ready) if ready is not None and end is not None else None
        if op.get("compute_cycles") is not None:
            row["compute_cycles"] = count * op["compute_cycles"]
        if op.get("fixed_cycles") is not None:
            row["fixed_cycles"] = count * op["fixed_cycles"]
        row["sparsity"] = _sparsity(op)
        row.update({key: _ring(op, key) for key in RING_COLUMNS})
        op_bytes = op.get("bytes") or {}
        op_stalls = op.get("stalls_by_level") or {}
        op_rates = op.get(RATE_KEY) or {}
        spans = start is not None and end is not None and end > start
        for col in columns:
            if col.startswith("bytes_"):
                row[col] = op_bytes.get(col[len("bytes_"):], 0)
            elif col.startswith("stall_") and col != "stall_cycles":
                row[col] = op_stalls.get(col[len("stall_"):], 0)
            elif col.startswith(f"{RATE_KEY}_"):
                row[col] = op_rates.get(col[len(RATE_KEY) + 1:], 0) if spans else None
        writer.writerow([_csv_value(row.get(col)) for col in columns])
    atomic_write_text(path, buf.getvalue())
    return path
