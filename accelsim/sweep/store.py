"""The sweep folder: ``results.jsonl`` (append-only, one line per finished point), ``sweep.json`` (what the sweep
is) and ``results.csv`` (the table written at the end). Both JSON files are standard JSON: a value given as
``.inf`` is written as the text ``"inf"``.

Durability: each record is one ``os.write`` of one complete line on a file opened with ``O_APPEND``, so a run
killed at any moment (even by SIGKILL) leaves whole lines plus at most a torn last line. Opening the store
cuts a torn tail off before appending, so the point it belonged to simply runs again. The file is fsynced every
:data:`FSYNC_EVERY_S` seconds and when the store closes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..energy.model import working_chips  # (moved to the energy model: accelsim compare counts them too)
from ..errors import AccelsimError
from ..report.schema import core_units, level_names, ordered
from ..report.writers import atomic_write_text
from ..units import MAX_INT

RESULTS_FILE = "results.jsonl"
SWEEP_FILE = "sweep.json"
CSV_FILE = "results.csv"
FORMAT = "accelsim-sweep/1"  # the "format" of sweep.json; is_sweep_dir looks for it
FSYNC_EVERY_S = 2.0

# report.json's top-level objects that become metrics (flattened to "bytes.<level>" in results.csv); bandwidth_share:
# each bounded level's bytes / (bandwidth × seconds), beside utilization's busy shares (probe p71 #5)
METRIC_OBJECTS = ("utilization", "bandwidth_share", "bytes", "stalls_by_level")
# report.json's objects whose scalar numbers become metrics, nested likewise ("serving.ttft_s" in results.csv):
# an LLM run's serving figures (decode_steps: ttft_s, tpot_s, tokens_per_s, ...), a pipeline's (bubble_fraction, ...),
# a data-parallel training step's (replicas, global_batch, samples_per_s, ...) and a diffusion pipeline's (batch,
# seconds_per_image, images_per_s; each part's time per run as "<part>_s": _top_level_numbers)
# ... and what the run cost the simulator (probe p128 #3): ``simulation``'s tasks, events and, for a composed run
# (serving, a pipeline, sampled stages), the passes simulated; never wall-clock time, which differs from run to run
SCALAR_OBJECTS = ("serving", "pipeline", "data_parallel", "diffusion", "moe", "simulation")
# report.json's objects of an object of numbers per memory level, kept as such ("memory.hbm.activations" in
# results.csv): the footprint a recompute, batch or offload sweep trades for time (probe p134 #1)
LEVEL_SCALAR_OBJECTS = ("memory",)
LEVEL_OBJECTS = ("bytes",)  # objects with an entry for every memory level of the report (0 where none)
# sweep metric → (report.json object, key): the energy, power, efficiency and area figures a sweep keeps (energy_j
# = dynamic + activity + static energy, docs/energy.md)
ENERGY_METRICS: dict[str, tuple[str, str]] = {
    "energy_j": ("energy", "total_j"), "dynamic_energy_j": ("energy", "dynamic_j"),
    "activity_energy_j": ("energy", "activity_j"), "static_energy_j": ("energy", "static_j"),
    "average_power_w": ("power", "average_w"),
    "peak_power_w": ("power", "peak_w"), "tops_per_w": ("efficiency", "tops_per_w"),
    "useful_tops_per_w": ("efficiency", "useful_tops_per_w"),
    "j_per_token": ("efficiency", "j_per_token"), "j_per_inference": ("efficiency", "j_per_inference"),
    "j_per_step": ("efficiency", "j_per_step"), "j_per_step_per_chip": ("efficiency", "j_per_step_per_chip"),
    "area_mm2": ("area", "total_mm2"),
}


def _top_level_numbers(report: Mapping[str, Any]) -> dict[str, Any]:
    """report.json's top-level numbers, its :data:`METRIC_OBJECTS` whole, the numbers of its
    :data:`SCALAR_OBJECTS` (not their lists, objects or nulls) and those of each level of its
    :data:`LEVEL_SCALAR_OBJECTS`."""
    out: dict[str, Any] = {}
    for key, value in report.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = value
        elif key in METRIC_OBJECTS and isinstance(value, Mapping):
            out[key] = dict(value)
        elif key in SCALAR_OBJECTS and isinstance(value, Mapping):
            numbers = {k: v for k, v in value.items() if _is_number(v)}
            if key == "diffusion":  # each part's time per run (count × one execution), as diffusion.<part>_s
                for part in value.get("parts") or []:
                    if isinstance(part, Mapping) and _is_number(part.get("total_seconds")):
                        numbers[f"{part.get('part')}_s"] = part["total_seconds"]
            if key == "moe" and isinstance(value.get("decode_step"), Mapping):  # a prefill's run: the decode steps'
                numbers.update({f"decode_{k}": v for k, v in value["decode_step"].items() if _is_number(v)})
            if numbers:
                out[key] = numbers
        elif key in LEVEL_SCALAR_OBJECTS and isinstance(value, Mapping):
            levels = {lvl: {k: v for k, v in held.items() if _is_number(v)}
                      for lvl, held in value.items() if isinstance(held, Mapping)}
            if any(levels.values()):
                out[key] = {lvl: numbers for lvl, numbers in levels.items() if numbers}
    return out


def step_ends(report: Mapping[str, Any]) -> dict[str, float]:
    """A training step's ``forward_end_s`` and ``backward_end_s`` on the step's timeline: a composed iteration's
    (report.json's ``pipeline``: a ``gpt`` step, whose ``phases`` are one micro-batch of one stage), else the ends of
    report.json's ``phases`` forward and backward (a single pass: the step's), in cycles over the clock; none for an
    inference run (or an older pipeline report, whose phases are not the step's unless it is one micro-batch on one
    stage)."""
    pipe, phases, clock = report.get("pipeline"), report.get("phases"), report.get("clock_hz")
    if not isinstance(phases, Mapping):
        return {}
    if isinstance(pipe, Mapping):
        if "backward_end_s" in pipe:
            return {k: float(pipe[k]) for k in ("forward_end_s", "backward_end_s")}
        if pipe.get("stages", 1) != 1 or pipe.get("micro_batches", 1) != 1:
            return {}
    if not isinstance(clock, (int, float)) or clock <= 0:
        return {}
    return {f"{ph}_end_s": phases[ph]["end_cycle"] / clock for ph in ("forward", "backward")
            if isinstance(phases.get(ph), Mapping)}


def metrics_from_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics a sweep keeps of one report.json: every top-level number (``total_cycles``, ``seconds``,
    ``macs``, ``mac_utilization``, ...), the ``utilization``, ``bandwidth_share``, ``bytes`` and
    ``stalls_by_level`` objects (per unit and per memory level; ``bandwidth_share`` per level of bounded
    bandwidth; ``bytes`` has every level of the report, innermost first, so results.csv has a ``bytes.<level>``
    column for each: ``bytes.hbm`` for an arch with a level named hbm), and the size figures of the arch: ``sram_bytes`` (the cores' scratchpads), ``on_chip_bytes`` (those and the cache levels: all the
    on-chip SRAM) and ``peak_macs_per_cycle`` (MAC units); the numbers of the :data:`SCALAR_OBJECTS` (``serving``:
    an LLM run's ``ttft_s``, ``tpot_s``, ``tokens_per_s``, ...; ``pipeline``; ``data_parallel``: replicas, global
    batch, samples_per_s, ...; ``moe``: experts_hit, dropped_tokens, capacity, tokens, ..., with a prefill's
    decode steps' as ``decode_experts_hit``, ...; ``simulation``: tasks, events and a composed run's passes),
    nested as in report.json, without their lists, objects and nulls; the footprint of each memory level,
    report.json's ``memory`` (``memory.hbm.weights``, ..., ``used``, ``fraction``; a training step's
    ``gradients`` and ``optimizer_states`` too), its numbers per level; and the energy figures
    (docs/energy.md; left out when the arch gives no energy constants): :data:`ENERGY_METRICS` (``energy_j``,
    ``average_power_w``, ``tops_per_w``, ``area_mm2``, ...) and ``edp``, with ``system_energy_j`` (``energy_j``,
    the chips the report covers, scaled to every chip of the arch) and ``system_area_mm2`` (one chip's
    ``area_mm2`` × the arch's chips); for a training step, ``forward_end_s`` and ``backward_end_s``
    (:func:`step_ends`: when the step's last forward op ends and when its gradients are ready, before their
    reduction and the optimizer step); for a run of one collective (the ``collective`` micro-workload), its
    nccl-tests ``bus_bandwidth`` (bytes/s). The ops list is not kept."""
    out = _top_level_numbers(report)
    for key in LEVEL_OBJECTS:
        if key in out:
            given = out[key]
            out[key] = {lvl: given.get(lvl, 0) for lvl in ordered([*level_names(report), *given], report)}
    arch = report.get("arch") or {}
    sram, macs = arch.get("sram_bytes"), arch.get("peak_macs_per_cycle")
    if isinstance(sram, int) and isinstance(macs, int):
        out["sram_bytes"] = sram
        on_chip = arch.get("on_chip_bytes")
        if isinstance(on_chip, int) and not isinstance(on_chip, bool):  # (reports before it lack it)
            out["on_chip_bytes"] = on_chip
        out["peak_macs_per_cycle"] = macs
    out.update(step_ends(report))
    for name, (obj, key) in ENERGY_METRICS.items():
        value = (report.get(obj) or {}).get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = value
    # the whole system's figures (what the Pareto plot compares): report.json's energy is the chips the report
    # covers (power.chips: one, or a pipeline's stages) and its area one chip's; the system is every chip of the arch
    chips = arch.get("chips")
    if isinstance(chips, int) and chips > 0:
        system_j = system_energy_j(report, chips)
        if system_j is not None:
            out["system_energy_j"] = system_j
        if "area_mm2" in out:
            out["system_area_mm2"] = out["area_mm2"] * chips
    calls = [op for op in report.get("ops") or [] if op.get("kind") == "collective"]
    busbw = (calls[0].get("mapping") or {}).get("bus_bandwidth") if len(calls) == 1 else None
    if isinstance(busbw, (int, float)) and not isinstance(busbw, bool):  # the collective micro-workload's call
        out["bus_bandwidth"] = busbw
    return out


def system_energy_j(report: Mapping[str, Any], chips: int) -> float | None:
    """J of the whole system of ``chips`` over a run (results.csv's ``system_energy_j``; None without energy
    figures): ``energy.total_j`` of the chips report.json covers (``power.chips``), scaled to the chips doing that
    work (:func:`working_chips`), plus the idle chips' static energy, their static power (``power.static_w`` /
    ``power.chips`` each) over the run's ``seconds`` (probe p66: a one-chip GEMM on a DGX H100 was charged 8 × its
    dynamic and activity energy)."""
    energy, power = report.get("energy") or {}, report.get("power") or {}
    total, covered, static_w = energy.get("total_j"), power.get("chips"), power.get("static_w")
    if not isinstance(total, (int, float)) or not isinstance(covered, int) or covered <= 0:
        return None
    working = working_chips(report, chips)
    idle_w = static_w / covered if isinstance(static_w, (int, float)) else 0.0
    return total * working / covered + idle_w * max(chips - working, 0) * float(report.get("seconds") or 0.0)


SHARE_NOTE = "half of this machine's memory over "  # how mapping.lower's task-budget refusal names a worker's
# share of the default options.memory_budget: "(N B: half of this machine's memory over W workers at ~1024 B a task)"


def share_refusal(error: object) -> bool:
    """Whether a failed point's ``error`` is the refusal of a pass too big for its worker's share of the default
    options.memory_budget (half of the machine's memory divided among the sweep's workers): an effect of how many
    workers ran beside it, not of the point, so the sweep runs such a point again alone (docs/sweeps.md) and a
    record of one (left by an earlier version) does not count as done."""
    return isinstance(error, str) and SHARE_NOTE in error and " workers at ~" in error


def one_line(error: BaseException) -> str:
    """An exception as one line: accelsim's own errors as their message (lines joined with "; "), anything else
    prefixed with its type."""
    text = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if isinstance(error, AccelsimError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def plain(value: Any) -> Any:
    """``value`` (a point's values, a sweep's settings) with each non-finite float as its text (``inf``, which the
    config reads back as the same value): standard JSON has no Infinity or NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def to_json(value: Any, **dump_args: Any) -> str:
    """``value`` as one standard JSON text (a non-finite float raises ``ValueError``; what JSON does not know is
    written as its ``str``)."""
    return json.dumps(value, allow_nan=False, default=str, **dump_args)


def record(point_id: str, point: Mapping[str, Any], *, metrics: Mapping[str, Any] | None = None,
           error: str | None = None) -> dict[str, Any]:
    """One results.jsonl record: ``id``, ``point``, ``status`` ("ok" or "error"), ``error`` (failed points only)
    and ``metrics`` (empty for a failed point)."""
    rec: dict[str, Any] = {"id": point_id, "point": plain(dict(point)), "status": "ok" if error is None else "error"}
    if error is not None:
        rec["error"] = error
    # a metric that is not finite (an unbounded figure, a ratio of nothing) is null: standard JSON has no Infinity
    rec["metrics"] = {k: None if isinstance(v, float) and not math.isfinite(v) else v
                      for k, v in (metrics or {}).items()}
    return rec


def _huge_int(value: Any) -> bool:
    """True if an int beyond 64 bits is anywhere in ``value`` (JSON allows them; the plots' float math does not)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) > MAX_INT
    if isinstance(value, dict):
        return any(_huge_int(v) for v in value.values())
    if isinstance(value, list):
        return any(_huge_int(v) for v in value)
    return False


def record_problem(rec: Any) -> str | None:
    """What makes ``rec`` (one parsed results.jsonl line) not a result record, or None when it is one: an object
    with a string ``id``, ``status`` "ok" or "error", and, when present, an object ``point``, an object
    ``metrics`` (of numbers, and of objects of numbers: :func:`_metrics_problem`), a string ``error`` and a string
    ``code`` (the code fingerprint that computed it), with no
    number beyond 64 bits."""
    if not isinstance(rec, dict):
        return f"not a result record: expected a JSON object, found {type(rec).__name__}"
    if not isinstance(rec.get("id"), str):
        return "not a result record: 'id' is missing or not a string"
    if rec.get("status") not in ("ok", "error"):
        return "not a result record: 'status' is missing or not 'ok' or 'error'"
    for key in ("point", "metrics"):
        if rec.get(key) is not None and not isinstance(rec[key], dict):
            return f"{key}: expected a JSON object, found {type(rec[key]).__name__}"
    for key in ("error", "code"):
        if rec.get(key) is not None and not isinstance(rec[key], str):
            return f"{key}: expected a string, found {type(rec[key]).__name__}"
    if _huge_int(rec.get("point")) or _huge_int(rec.get("metrics")):
        return f"a number beyond {MAX_INT:,} (2**63 - 1)"
    return _metrics_problem(rec.get("metrics") or {})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _metrics_problem(metrics: Mapping[str, Any]) -> str | None:
    """What makes a record's ``metrics`` not what :func:`metrics_from_report` writes, or None: each a number, or
    (``utilization``, ``bytes``, ``stalls_by_level``, ``serving``, ``pipeline``, ...) an object of numbers, or
    (``memory``) an object of such objects."""
    for key, value in metrics.items():
        if isinstance(value, Mapping) and key in LEVEL_SCALAR_OBJECTS:
            for lvl, held in value.items():
                if not isinstance(held, Mapping):
                    return f"metrics.{key}.{lvl}: expected an object, found {type(held).__name__}"
                inner = next((k for k, v in held.items() if not _is_number(v)), None)
                if inner is not None:
                    return f"metrics.{key}.{lvl}.{inner}: expected a number, found {type(held[inner]).__name__}"
        elif isinstance(value, Mapping) and (key in METRIC_OBJECTS or key in SCALAR_OBJECTS):
            inner = next((k for k, v in value.items() if not _is_number(v)), None)
            if inner is not None:
                return f"metrics.{key}.{inner}: expected a number, found {type(value[inner]).__name__}"
        elif not _is_number(value):
            return f"metrics.{key}: expected a number, found {type(value).__name__}"
    return None


def _parse_line(raw: bytes) -> tuple[Any, str | None]:
    """One results.jsonl line parsed: ``(record, None)``, or ``(None, what is wrong with it)``."""
    try:
        rec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError as e:
        return None, f"not JSON: {e.msg} (column {e.colno})"
    except ValueError:  # an int of more than 4,300 digits
        return None, "not JSON that can be read: a number with too many digits"
    except RecursionError:
        return None, "not JSON that can be read: nested too deeply"
    return rec, record_problem(rec)


TAIL_BLOCK = 1 << 16  # bytes read at a time when looking back for a torn line's start


def _after_last_newline(fd: int, size: int) -> int:
    """The offset just after the last newline of the file open at ``fd`` (0 when it has none), reading back from
    its end a block at a time: a torn tail costs a block, not the whole file, in memory."""
    end = size
    while end > 0:
        start = max(end - TAIL_BLOCK, 0)
        at = os.pread(fd, end - start, start).rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0


class ResultStore:
    """``OUTDIR/results.jsonl``: :meth:`load` reads the finished records, :meth:`open` prepares appending
    (cutting off a torn last line), :meth:`append` writes one record durably, :meth:`close` fsyncs."""

    def __init__(self, outdir: str | os.PathLike):
        self.outdir = Path(outdir)
        self.path = self.outdir / RESULTS_FILE
        self._fd: int | None = None
        self._last_sync = 0.0
        self.skipped_lines = 0  # complete lines that were not records (hand edits); ignored
        self.first_skipped: tuple[int, str] | None = None  # the first of them: (line number, what is wrong)
        self.other_code: dict[str, str | None] = {}  # id → the other code that computed its last record (ids())

    def load(self, *, strict: bool = False) -> dict[str, dict[str, Any]]:
        """Records by id (the last line of an id wins). A last line without its newline (a killed run) is
        ignored; so are complete lines that are not records (:func:`record_problem`), counted in
        ``skipped_lines``, unless ``strict``: then the first of them is an :class:`AccelsimError`
        ``results.jsonl:LINE: what is wrong``."""
        return {rec["id"]: rec for rec in self._records(strict)}

    def ids(self, code: str | None = None) -> set[str]:
        """The ids of the finished records (as :meth:`load`, without keeping the records: a sweep resuming
        into a folder of a million results holds their ids only). A point whose last record is an error for its
        worker's share of memory (:func:`share_refusal`) is not finished: it runs again. With ``code`` (the code
        fingerprint running now), :attr:`other_code` maps each id whose last record another code computed to that
        record's ``code`` (None: a record from before records carried one, of unknown code)."""
        done: set[str] = set()
        again: set[str] = set()
        self.other_code = {}
        for rec in self._records(False):
            done.add(rec["id"])
            if rec["status"] == "error" and share_refusal(rec.get("error")):
                again.add(rec["id"])
            else:
                again.discard(rec["id"])
            if code is not None and rec.get("code") != code:
                self.other_code[rec["id"]] = rec.get("code")
            elif code is not None:
                self.other_code.pop(rec["id"], None)
        return done - again

    def _records(self, strict: bool) -> Iterator[dict[str, Any]]:
        return (rec for _, rec in self._scan(strict))

    def scan(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(byte offset, record)`` of every record, in file order (lines that are not records skipped)."""
        return self._scan(False)

    def _scan(self, strict: bool) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(byte offset, record)`` for every complete line that is a record (see :meth:`load`)."""
        self.skipped_lines = 0
        self.first_skipped = None
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed below; read a line at a time
        except FileNotFoundError:
            return
        with f:
            offset = 0
            for number, raw in enumerate(f, 1):
                at, offset = offset, offset + len(raw)
                if not raw.endswith(b"\n"):
                    break  # a torn last line
                if not raw.strip():
                    continue
                rec, problem = _parse_line(raw[:-1])
                if problem is not None:
                    if strict:
                        raise AccelsimError(f"{self.path}:{number}: {problem}")
                    self.skipped_lines += 1
                    self.first_skipped = self.first_skipped or (number, problem)
                    continue
                yield at, rec

    def skipped_note(self) -> str | None:
        """What the last read of results.jsonl ignored, as the one warning a sweep and ``accelsim plot`` give
        ("1 line of OUTDIR/results.jsonl is not a result (line 5: not JSON: ...); ignored"), or None."""
        if not self.skipped_lines or self.first_skipped is None:
            return None
        n, (line, problem) = self.skipped_lines, self.first_skipped
        what = "line of {} is not a result" if n == 1 else "lines of {} are not results"
        first = "" if n == 1 else "the first: "
        return f"{n:,} {what.format(self.path)} ({first}line {line}: {problem}); ignored"

    def open(self) -> ResultStore:
        """Open for appending; a torn last line left by a killed run is cut off first."""
        self.outdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.ftruncate(fd, _after_last_newline(fd, size))  # up to the last complete line
            os.fsync(fd)
        self._fd = fd
        self._last_sync = time.monotonic()
        return self

    def append(self, rec: Mapping[str, Any]) -> None:
        """Write ``rec`` as one line with a single write (flushed to the OS at once; fsynced now and then)."""
        if self._fd is None:
            raise RuntimeError("ResultStore.append before open()")
        data = (to_json(rec, separators=(",", ":")) + "\n").encode()
        written = os.write(self._fd, data)
        while written < len(data):  # a short write (a full disk or a signal): finish the line
            written += os.write(self._fd, data[written:])
        now = time.monotonic()
        if now - self._last_sync >= FSYNC_EVERY_S:
            os.fsync(self._fd)
            self._last_sync = now

    def close(self) -> None:
        """fsync and close (safe to call twice)."""
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> ResultStore:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- sweep.json ----------------------------------------------------------------------------------------------------
def write_sweep_json(outdir: str | os.PathLike, info: Mapping[str, Any]) -> Path:
    """Write ``OUTDIR/sweep.json`` (``info`` plus the format marker), atomically."""
    path = Path(outdir) / SWEEP_FILE
    atomic_write_text(path, to_json(plain({"format": FORMAT, **info}), indent=2) + "\n")
    return path


def _line_of(text: str, key: str) -> int | None:
    """The line where ``"key":`` is first written in the JSON ``text`` (None if it is not)."""
    at = text.find(f'"{key}"')
    return None if at < 0 else text.count("\n", 0, at) + 1


def read_sweep_json(outdir: str | os.PathLike) -> dict[str, Any]:
    """The ``sweep.json`` of a sweep folder; :class:`AccelsimError` (one line, naming the file and the line where
    it can) if there is none, it is not JSON or not a sweep description, or its ``name``, ``axes`` or ``ids``
    have the wrong type."""
    path = Path(outdir) / SWEEP_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AccelsimError(f"{outdir}: no {SWEEP_FILE} (not a folder written by 'accelsim sweep')") from None
    except UnicodeDecodeError as e:
        raise AccelsimError(f"{path}: not UTF-8 text (byte {e.start:,}); is this a binary file?") from None
    except OSError as e:
        raise AccelsimError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as e:
        raise AccelsimError(f"{path}:{e.lineno}: not valid JSON: {e.msg} (column {e.colno})") from None
    except ValueError:  # an int of more than 4,300 digits
        raise AccelsimError(f"{path}: not JSON that can be read: a number with too many digits") from None
    except RecursionError:
        raise AccelsimError(f"{path}: not JSON that can be read: nested too deeply") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise AccelsimError(f"{path}: not an accelsim sweep description (no \"format\": \"{FORMAT}\")")
    for key, what in (("axes", "a list of axis names"), ("ids", "a list of point ids")):
        value = info.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            line = _line_of(text, key)
            raise AccelsimError(f"{path}{'' if line is None else f':{line}'}: {key}: expected {what} (strings)")
    if not isinstance(info.get("name", ""), (str, type(None))):
        raise AccelsimError(f"{path}:{_line_of(text, 'name')}: name: expected a string")
    return info


def is_sweep_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder written by ``accelsim sweep`` (it holds a sweep.json)."""
    try:
        read_sweep_json(path)
    except AccelsimError:
        return False
    return True


# ---- results.csv ---------------------------------------------------------------------------------------------------
def flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"bytes": {"cxl": 1}}`` → ``{"bytes.cxl": 1}``."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return to_json(value, separators=(",", ":"))
    return value


GPU_CORES = "cores"  # results.csv's name for report.json's "core*" (a GPU's SMs as one lock-step unit): no '*'
COMPUTE_MAX = "utilization.compute_max"  # the busiest compute unit's busy fraction (compare's "max compute-unit busy")
PARETO = "pareto"  # results.csv's column after status: "true" on its workload's Pareto front, "false" off it


def row_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A record's ``metrics`` as results.csv's metric cells: flattened (:func:`flatten`), a GPU's
    ``utilization.core*.<unit>`` named ``utilization.cores.<unit>`` (:data:`GPU_CORES`), and
    :data:`COMPUTE_MAX`, the busiest of the cores' compute units (``core<i>.<unit>`` or ``core*.<unit>``:
    :func:`accelsim.report.schema.core_units`), so that GPU and TPU rows share one comparable column."""
    out = {k.replace("utilization.core*.", f"utilization.{GPU_CORES}.", 1): v for k, v in flatten(metrics).items()}
    util = metrics.get("utilization")
    busy = core_units({"utilization": util}).values() if isinstance(util, Mapping) else ()
    if busy:
        out[COMPUTE_MAX] = max(busy)
    return out


def _natural(key: str) -> list:
    """A sort key reading runs of digits as numbers: core2 before core10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def arrange(columns: Iterable[str]) -> list[str]:
    """Metric columns in order of first appearance, but the ``utilization.*`` ones together, sorted (digits as
    numbers), where the first of them appears, and the ``bandwidth_share.*`` ones together right after them (in
    order of first appearance: a level's, innermost first): a sweep of GPU and TPU archs keeps one family of
    columns, and each level's bandwidth share stands beside the busy shares."""
    cols = list(dict.fromkeys(columns))
    util = sorted((c for c in cols if c.startswith("utilization.")), key=_natural)
    share = [c for c in cols if c.startswith("bandwidth_share.")]
    if not util and not share:
        return cols
    at = next(i for i, c in enumerate(cols) if c.startswith(("utilization.", "bandwidth_share.")))
    rest = [c for c in cols if not c.startswith(("utilization.", "bandwidth_share."))]
    return [*rest[:at], *util, *share, *rest[at:]]


PARETO_KEYS = (("seconds", None), ("system_area_mm2", "area_mm2"), ("system_energy_j", "energy_j"))  # as the plot's


def pareto_inputs(rec: Mapping[str, Any], work: Sequence[str]) -> tuple[tuple[float, ...] | None, tuple]:
    """What the Pareto front of a record needs: its (latency, area, energy) with the Pareto plot's fallbacks (None
    unless an ok record has all three as numbers) and its work (:func:`accelsim.sweep.plots.work_of` over the
    ``work`` axes: equal for points that run the same work)."""
    metrics = rec.get("metrics") or {}
    xs = []
    for key, fallback in PARETO_KEYS:
        value = metrics.get(key, metrics.get(fallback) if fallback else None)
        xs.append(float(value) if _is_number(value) and math.isfinite(value) else None)
    from .plots import work_of

    point = rec.get("point") or {}
    ok = rec.get("status") == "ok" and None not in xs
    return (tuple(xs) if ok else None), work_of(point, metrics, work)  # type: ignore[arg-type]


def pareto_flags(values, groups) -> list[str]:
    """The ``pareto`` cell of each point: ``values`` an (n, 3) array of (latency, area, energy), a NaN row where the
    point has none, and ``groups`` its workload's number: "true" for the points of their workload's front
    (:func:`accelsim.sweep.plots.front_mask`), "false" for the others, "" where there is nothing to rank."""
    import numpy as np

    from .plots import front_mask

    values = np.asarray(values, dtype=np.float64).reshape(-1, 3)
    on = front_mask(values, np.asarray(groups))
    has = ~np.isnan(values).any(axis=1)
    return ["true" if o else "false" if h else "" for o, h in zip(on.tolist(), has.tolist(), strict=True)]


def work_axes(axes: Sequence[str]) -> list[str]:
    """The workload axes, from whose values and a record's ``macs`` and ``params`` the Pareto front tells its work
    (:func:`accelsim.sweep.plots.work_of`): points of other work are not on one front."""
    from .plots import workload_axis

    return [a for a in axes if workload_axis(a)]


def table(records: Iterable[Mapping[str, Any]], axes: list[str]) -> tuple[list[str], list[list[Any]]]:
    """The results table: header ``id, <axes...>, status, pareto, <metrics...>, error`` and one row per record
    (metric columns in order of first appearance, the utilization ones together and sorted: :func:`arrange`; a
    metric a record lacks is an empty cell; ``pareto``: :func:`pareto_flags`)."""
    recs = list(records)
    flat = [row_metrics(r.get("metrics") or {}) for r in recs]
    metric_cols = arrange(k for f in flat for k in f)
    header = ["id", *axes, "status", PARETO, *metric_cols, "error"]
    work = work_axes(axes)
    inputs = [pareto_inputs(r, work) for r in recs]
    seen: dict[tuple, int] = {}
    flags = pareto_flags([v if v is not None else (math.nan,) * 3 for v, _ in inputs],
                         [seen.setdefault(g, len(seen)) if v is not None else -1 for v, g in inputs])
    rows = []
    for rec, metrics, flag in zip(recs, flat, flags, strict=True):
        point = rec.get("point") or {}
        rows.append([rec.get("id"), *(_cell(point.get(a)) for a in axes), rec.get("status"), flag,
                     *(_cell(metrics.get(c)) for c in metric_cols), rec.get("error") or ""])
    return header, rows


def write_csv(outdir: str | os.PathLike, records: Iterable[Mapping[str, Any]], axes: list[str]) -> Path:
    """Write ``OUTDIR/results.csv`` from ``records`` (in the order given), atomically. (A sweep's end streams
    the table from results.jsonl instead: :func:`stream_csv`.)"""
    header, rows = table(records, axes)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path = Path(outdir) / CSV_FILE
    atomic_write_text(path, buf.getvalue())
    return path


def ordered_records(outdir: str | os.PathLike, info: Mapping[str, Any] | None = None, *,
                    strict: bool = False) -> list[dict[str, Any]]:
    """The finished records of a sweep folder in the sweep's point order (sweep.json's ``ids``); records of
    ids the sweep no longer has (an axis value since removed) are left out. ``strict``: a line of results.jsonl
    that is not a record is an error (:meth:`ResultStore.load`). Holds every record: for small sweeps and tests;
    the end of a sweep reads them one at a time (:class:`RecordIndex`)."""
    info = info if info is not None else read_sweep_json(outdir)
    found = ResultStore(outdir).load(strict=strict)
    return [found[i] for i in info.get("ids", []) if i in found]


def _shape(metrics: dict[str, Any]) -> tuple:
    """The keys of ``metrics``, nested ones as ``(key, their shape)``: equal shapes flatten to equal columns."""
    return tuple((k, _shape(v)) if isinstance(v, dict) else k for k, v in metrics.items())  # parsed JSON: dicts


class RecordIndex(ResultStore):
    """Where the last record of each of ``ids`` (a sweep's point ids, in its order, distinct) lies in
    ``OUTDIR/results.jsonl``: one pass keeps a byte offset per point (an int64 array indexed by the point's
    position), not the records, and the metric columns the records have; :meth:`records` then reads them back
    one at a time in the sweep's order, so results.csv and the plots' columns are written in bounded memory.
    Records of ids not in ``ids`` are skipped.

    The metric columns are those :func:`table` would find (order of first appearance over the records in sweep
    order): only the first record of each distinct set of metric keys ("shape") can add a column, so the pass
    keeps the distinct shapes and each point's shape number (an int32 array)."""

    def __init__(self, outdir: str | os.PathLike, ids: Sequence[str], *, strict: bool = False,
                 axes: Sequence[str] = ()):
        import numpy as np

        super().__init__(outdir)
        position = {rid: pos for pos, rid in enumerate(ids)}  # keys shared with ``ids``: no second copy
        self.offsets = np.full(len(ids), -1, dtype=np.int64)
        self.shapes = np.zeros(len(ids), dtype=np.int32)
        # what the pareto column needs of each point (pareto_inputs): (latency, area, energy) and its workload
        self.pareto_values = np.full((len(ids), 3), np.nan)
        self.workloads = np.full(len(ids), -1, dtype=np.int32)
        work, groups = work_axes(axes), {}
        shapes: dict[tuple, int] = {}  # shape (nested key tuple: cheaper than flattening) → its number
        self._columns: list[list[str]] = []  # the flattened keys of each shape
        for offset, rec in self._scan(strict):
            pos = position.get(rec["id"])
            if pos is None:
                continue
            metrics = rec.get("metrics") or {}
            shape = shapes.setdefault(_shape(metrics), len(shapes))
            if shape == len(self._columns):
                self._columns.append(list(row_metrics(metrics)))
            self.offsets[pos], self.shapes[pos] = offset, shape
            values, group = pareto_inputs(rec, work)
            self.pareto_values[pos] = values if values is not None else np.nan
            self.workloads[pos] = groups.setdefault(group, len(groups)) if values is not None else -1

    def pareto(self) -> list[str]:
        """The ``pareto`` cell of each point that has a record, in sweep order (:func:`pareto_flags`)."""
        has = self.offsets >= 0
        return pareto_flags(self.pareto_values[has], self.workloads[has])

    def metric_columns(self) -> list[str]:
        """results.csv's metric columns of the records (:func:`row_metrics`), in order of first appearance in sweep
        order, the utilization ones together (:func:`arrange`)."""
        import numpy as np

        found = np.flatnonzero(self.offsets >= 0)
        kinds, first = np.unique(self.shapes[found], return_index=True)
        return arrange(k for i in kinds[np.argsort(first)].tolist() for k in self._columns[i])

    def records(self) -> Iterator[dict[str, Any]]:
        """The last record of each point that has one, in sweep order, read back one at a time."""
        with open(self.path, "rb") as f:
            for at in self.offsets[self.offsets >= 0].tolist():
                f.seek(at)
                yield json.loads(f.readline())


def stream_csv(outdir: str | os.PathLike, info: Mapping[str, Any], *, strict: bool = False,
               sink: Any = None, warn: Any = None, front: list[str] | None = None) -> tuple[Path, dict[str, int]]:
    """Write ``OUTDIR/results.csv`` as :func:`write_csv` does from :func:`ordered_records` (byte for byte),
    streaming results.jsonl: one pass indexes it (:class:`RecordIndex`), the second writes a row per record in
    the sweep's order straight to a temporary file (renamed at the end). ``sink(record)``, when given, sees
    each record as its row is written (the plots gather their columns so); ``warn(text)``, when given, hears of
    lines that are not records, which are ignored (:meth:`ResultStore.skipped_note`). ``front``, when given,
    receives the ids of the points whose ``pareto`` is true, in sweep order. Returns the path and the count of
    records by status."""
    axes = list(info.get("axes") or [])
    index = RecordIndex(outdir, info.get("ids", []), strict=strict, axes=axes)
    note = index.skipped_note()
    if note is not None and warn is not None:
        warn(note)
    cols = index.metric_columns()
    flags = index.pareto()
    counts = {"ok": 0, "error": 0}
    path = Path(outdir) / CSV_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["id", *axes, "status", PARETO, *cols, "error"])
            for rec, flag in zip(index.records(), flags, strict=True):
                point, metrics = rec.get("point") or {}, row_metrics(rec.get("metrics") or {})
                writer.writerow([rec.get("id"), *(_cell(point.get(a)) for a in axes), rec.get("status"), flag,
                                 *(_cell(metrics.get(c)) for c in cols), rec.get("error") or ""])
                if flag == "true" and front is not None:
                    front.append(rec["id"])
                counts[rec["status"]] += 1
                if sink is not None:
                    sink(rec)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path, counts


__all__ = ["COMPUTE_MAX", "CSV_FILE", "FORMAT", "GPU_CORES", "PARETO", "RESULTS_FILE", "SWEEP_FILE", "RecordIndex",
           "ResultStore", "arrange", "flatten", "is_sweep_dir", "metrics_from_report", "one_line", "ordered_records",
           "pareto_flags", "read_sweep_json", "record", "record_problem", "row_metrics", "share_refusal", "stream_csv",
           "table", "write_csv", "write_sweep_json"]
