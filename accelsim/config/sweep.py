"""Sweep files: a base experiment, fixed overrides, and axes (``grid``, ``zip``) over its dotted keys.

:func:`load_sweep` reads a sweep file, checks its structure and turns every axis into its list of values (ranges
``{start, stop, step}`` and ``{log2: [LO, HI]}`` expanded here). :class:`PointLoader` turns one point (axis key →
value) into a validated :class:`ExperimentSpec`; a point's bad value is reported at the line of its axis in the
sweep file. Expanding the axes into points and evaluating filters is :mod:`accelsim.sweep.expand`'s job.

Every problem found is reported at once, one line each: ``FILE:LINE: key: message (got VALUE)``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ConfigIssue
from . import presets
from .docs import Issues, file_doc, name_problem, output_problem, section_doc, wrong_kind
from .load import experiment_from_doc, refuse_part_file
from .overrides import Override, parse_override
from .schema import ExperimentSpec
from .yamlio import Doc, Where, display_path, load_yaml

SWEEP_KEYS = ("name", "description", "base", "set", "grid", "zip", "filters", "output")
MAX_AXIS_VALUES = 100_000  # a range longer than this is almost surely a typo (a step of 1 instead of 16)
_VALUES_HELP = "expected a list of values, a range {start, stop, step} or {log2: [LO, HI]}"


@dataclass(frozen=True)
class Axis:
    """One swept key: the dotted experiment ``key`` (``arch.core.systolic.rows``), its ``values`` in order, and
    the ``line`` of the sweep file where the key is written."""

    key: str
    values: tuple
    line: int | None


@dataclass(frozen=True)
class Setting:
    """One fixed override of the sweep's ``set:`` block, applied to every point: ``key``, ``value``, ``line``."""

    key: str
    value: Any
    line: int | None


@dataclass(frozen=True)
class FilterText:
    """One entry of ``filters:``: the expression ``text``, its position ``index`` and its ``line``."""

    text: str
    index: int
    line: int | None


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep file: the ``base`` experiment (a preset name or path as written, or an inline mapping),
    fixed ``settings``, the ``grid`` axes (crossed), the ``zips`` groups (each group's axes advance together; the
    groups are crossed with the grid and each other), ``filters`` (not yet compiled) and the default ``output``.

    ``file`` is the sweep file as printed in messages; ``base_file`` the experiment file the base names (None
    when the base is written inline).
    """

    name: str
    file: str
    base: str | dict
    base_file: str | None
    description: str = ""
    settings: tuple[Setting, ...] = ()
    grid: tuple[Axis, ...] = ()
    zips: tuple[tuple[Axis, ...], ...] = ()
    filters: tuple[FilterText, ...] = ()
    output: str | None = None
    base_doc: Doc | None = field(default=None, compare=False, repr=False)

    @property
    def axes(self) -> tuple[Axis, ...]:
        """Every axis: the grid's in order, then each zip group's."""
        return (*self.grid, *(a for group in self.zips for a in group))

    @property
    def keys(self) -> tuple[str, ...]:
        """The dotted keys of :attr:`axes`, in order (the columns of a point)."""
        return tuple(a.key for a in self.axes)

    def describe(self) -> dict[str, Any]:
        """The sweep as plain JSON-able data (for ``sweep.json``)."""
        return {
            "name": self.name, "description": self.description, "file": self.file,
            "base": self.base, "base_file": self.base_file,
            "set": {s.key: s.value for s in self.settings},
            "grid": {a.key: list(a.values) for a in self.grid},
            "zip": [{a.key: list(a.values) for a in group} for group in self.zips],
            "filters": [f.text for f in self.filters],
            "output": self.output,
        }


# ---- axis values -----------------------------------------------------------------------------------------------
def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _with_unit(value: object) -> tuple[float, str] | None:
    """A range bound as (number, unit): a number as it is (no unit), a string such as '100ns' or '1.5GB/s' split at
    its unit (a time needs one, as every time written in a file: accelsim.units.bare_time); None if it is neither."""
    if _is_number(value):
        return value, ""  # type: ignore[return-value]
    m = _UNIT_NUMBER.match(value) if isinstance(value, str) else None
    if m is None:
        return None
    number = float(m[1])
    return (int(number) if number.is_integer() and "." not in m[1] and "e" not in m[1].lower() else number), m[2]


_UNIT_NUMBER = re.compile(r"^\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµμ/]*)\s*$")


def _arange(start: float, stop: float, step: float) -> list:
    """``start, start+step, ...`` up to and including ``stop`` (when a step lands on it). Integers stay integers;
    float values are rounded to 12 significant digits so that 0.1 steps read 0.3, not 0.30000000000000004."""
    n = math.floor((stop - start) / step + 1e-9) + 1
    if n > MAX_AXIS_VALUES:
        raise ValueError(f"{n:,} values (more than {MAX_AXIS_VALUES:,})")
    if all(isinstance(v, int) for v in (start, stop, step)):
        return [start + i * step for i in range(n)]
    return [float(f"{start + i * step:.12g}") for i in range(n)]


def _log2_range(lo: int, hi: int) -> list[int]:
    """``lo, 2·lo, 4·lo, ...`` up to and including ``hi`` (``[16, 256]`` → 16, 32, 64, 128, 256)."""
    out = []
    v = lo
    while v <= hi:
        out.append(v)
        v *= 2
    return out


def _log2_missed(lo: int, hi: int, values: list[int]) -> str:
    """Why ``{log2: [lo, hi]}`` is refused when doubling from ``lo`` (``values``) passes ``hi`` without landing on it,
    with the ranges that would land (probe p124 #1: ``[12, 64]`` ran 12, 24, 48 and silently no 64): from ``lo`` the
    doublings that stay within ``hi`` (one past it, ``[lo, 2·lo]``, where none does), the range onto ``hi`` in as
    many values where ``hi`` is even enough, and the values as a plain list (probe p138 #3: ``[8, 12]`` offered
    ``[8, 12]`` back, as if the same thing)."""
    shown = ", ".join(map(str, values))
    k = len(values) - 1  # lo·2^k <= hi < lo·2^(k+1): the doublings that stay within hi
    fixes = [f"{{log2: [{lo}, {values[-1] if k else 2 * lo}]}}"]
    steps = max(k, 1)  # hi / 2^steps doubles onto hi in as many values (at least one doubling: not [hi, hi])
    if hi % (1 << steps) == 0:
        fixes.append(f"{{log2: [{hi >> steps}, {hi}]}}")
    return (f"log2: {hi} is not {lo} times a power of two, so doubling from {lo} ({shown}) never reaches it; did you "
            f"mean {', '.join(fixes)} or the plain list [{shown}, {hi}] (no log2)?")


def _at(doc: Doc, path: tuple, key: str, msg: str, *value: object) -> ConfigIssue:
    """An issue at the line of ``path`` in ``doc``, printed under the axis ``key`` (not the YAML path)."""
    w, _ = doc.locate(path)
    return ConfigIssue(w.file, w.line, key, msg, value[0], True) if value else ConfigIssue(w.file, w.line, key, msg)


def _values(doc: Doc, path: tuple, key: str) -> tuple[tuple | None, list[ConfigIssue]]:
    """The values that the axis at ``path`` of ``doc`` stands for: a list as written, or an expanded range."""
    spec = doc.data
    for k in path:
        spec = spec[k]
    if isinstance(spec, list):
        if not spec:
            return None, [_at(doc, path, key, "the axis has no values")]
        return tuple(spec), []
    if isinstance(spec, dict) and set(spec) == {"log2"}:
        bounds = spec["log2"]
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) and not isinstance(b, bool)
                                                                      for b in bounds)):
            return None, [_at(doc, (*path, "log2"), key, "log2: expected [LO, HI], two integers", bounds)]
        lo, hi = bounds
        if lo <= 0 or hi < lo:
            return None, [_at(doc, (*path, "log2"), key, "log2: expected 0 < LO <= HI", bounds)]
        values = _log2_range(lo, hi)
        if values[-1] != hi:  # "up to and including HI" (docs/sweeps.md): a HI doubling never reaches is refused
            return None, [_at(doc, (*path, "log2"), key, _log2_missed(lo, hi, values), bounds)]
        return tuple(values), []
    if isinstance(spec, dict) and spec and set(spec) <= {"start", "stop", "step"}:
        if not {"start", "stop"} <= set(spec):
            return None, [_at(doc, path, key, f"a range needs start and stop (step is optional); got "
                                              f"{', '.join(map(str, spec))}")]
        given = {"start": spec["start"], "stop": spec["stop"], "step": spec.get("step", 1)}
        split = {k: _with_unit(v) for k, v in given.items()}
        bad = [(k, v) for k, v in given.items() if split[k] is None]
        if bad:
            return None, [_at(doc, (*path, k), key, f"{k}: expected a number, or a number with a unit (100ns)", v)
                          for k, v in bad]
        units = {u for _, u in split.values() if u}
        if len(units) > 1:
            return None, [_at(doc, path, key, f"start, stop and step in one unit (got {', '.join(sorted(units))})")]
        (start, _), (stop, _), (step, _) = split["start"], split["stop"], split["step"]
        if step == 0 or (stop - start) * step < 0:
            return None, [_at(doc, path, key, f"step never reaches stop={stop} from start={start}", step)]
        try:
            values = _arange(start, stop, step)
        except ValueError as e:
            return None, [_at(doc, path, key, f"range too long: {e}")]
        unit = units.pop() if units else ""
        return tuple(f"{v:g}{unit}" for v in values) if unit else tuple(values), []
    if isinstance(spec, dict):
        keys = ", ".join(map(str, spec))
        return None, [_at(doc, path, key, f"{_VALUES_HELP}; got a mapping with keys {keys}")]
    return None, [_at(doc, path, key, _VALUES_HELP, spec)]


def _check_key(doc: Doc, path: tuple, key: object) -> list[ConfigIssue]:
    """Issues of a dotted experiment key that cannot name a value (not a string, unknown section)."""
    if not isinstance(key, str) or not key.strip():  # (an empty key: not the command line's KEY=VALUE wording)
        return [doc.issue(path, "expected a dotted key such as arch.core.systolic.rows", key)]
    try:
        parse_override(f"{key}=0")
    except ConfigError as e:
        w, _ = doc.locate(path)
        return [ConfigIssue(w.file, w.line, key, i.msg) for i in e.issues]
    return []


def _first_at(block: str, line: int | None) -> str:
    """Where a key was first swept or set, as the errors print it: ``'zip' (line 3)``."""
    return f"'{block}' (line {line})" if line else f"'{block}'"


def _axes(doc: Doc, section: tuple, seen: dict[str, str], where: str) -> tuple[tuple[Axis, ...], list[ConfigIssue]]:
    """The axes of the mapping at ``section`` (a grid, or one zip group); ``seen`` maps keys to their block and
    line as the errors print them (``'zip' (line 3)``: which of several zip groups, probe p81 #7)."""
    node = doc.data
    for k in section:
        node = node[k]
    if isinstance(node, dict) and not node:  # {} is a mapping: say what is missing (probe p75 #7)
        return (), [doc.issue(section, "no axes (an empty mapping)")]
    if not isinstance(node, dict):
        return (), [doc.issue(section, "expected a mapping of dotted key → values", node)]
    axes, issues = [], []
    for key in node:
        path = (*section, key)
        found = _check_key(doc, path, key)
        if not found and key in seen:
            found = [_at(doc, path, key, f"already swept or set in {seen[key]}")]
        if found:
            issues += found
            continue
        seen[key] = _first_at(where, doc.locate(path)[0].line)
        values, found = _values(doc, path, key)
        issues += found
        if values is not None:
            axes.append(Axis(key, values, doc.locate(path)[0].line))
    return tuple(axes), issues


def _zip_groups(doc: Doc, seen: dict[str, str]) -> tuple[tuple[tuple[Axis, ...], ...], list[ConfigIssue]]:
    value = doc.data["zip"]
    sections = [("zip",)] if isinstance(value, dict) else [("zip", i) for i in range(len(value))] \
        if isinstance(value, list) and value else None
    if value == []:
        return (), [doc.issue(("zip",), "no axis groups (an empty list)")]
    if sections is None:
        return (), [doc.issue(("zip",), "expected a mapping of dotted key → values, or a list of such groups",
                              value)]
    groups, issues = [], []
    for section in sections:
        axes, found = _axes(doc, section, seen, "zip")
        issues += found
        lengths = {a.key: len(a.values) for a in axes}
        if len(set(lengths.values())) > 1:
            text = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            issues.append(doc.issue(section, f"zip lists must have the same length ({text})"))
        elif axes:
            groups.append(axes)
    return tuple(groups), issues


def _settings(doc: Doc, seen: dict[str, str]) -> tuple[tuple[Setting, ...], list[ConfigIssue]]:
    value = doc.data["set"]
    if value is None:
        return (), []
    if not isinstance(value, dict):
        return (), [doc.issue(("set",), "expected a mapping of dotted key → value", value)]
    out, issues = [], []
    for key, v in value.items():
        found = _check_key(doc, ("set", key), key)
        if not found and key in seen:
            found = [_at(doc, ("set", key), key, f"already swept or set in {seen[key]}")]
        issues += found
        if not found:
            seen[key] = _first_at("set", doc.locate(("set", key))[0].line)
            out.append(Setting(key, v, doc.locate(("set", key))[0].line))
    return tuple(out), issues


def _written_inside(value: object, parts: list[str]) -> str | None:
    """What a whole-section value written inline sets at ``parts`` (a key's path inside the section), as
    ``m: 64``, or None when it leaves that key alone. A preset named by string is not looked into: its row is
    labelled with the preset's name, which the key then modifies (as the base's own values are)."""
    node, path = value, []
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
        path.append(part)
        if not isinstance(node, dict) and len(path) < len(parts):  # e.g. hbm: written whole beside hbm.bandwidth
            break
    shown = node if not isinstance(node, (dict, list)) else ("{...}" if isinstance(node, dict) else "[...]")
    return f"{'.'.join(path)}: {shown}"


def _section_sets(section: Setting | Axis, outer: str, inner: str) -> str | None:
    """The first value of a whole-section ``set:`` or axis that writes the key ``inner`` itself (probe p81 #3:
    the key's value replaced it, so the row's section column showed ``m: 64`` for a point run at ``m: 32``, and
    two section values differing only there ran once, the other dropped as a duplicate)."""
    values = section.values if isinstance(section, Axis) else (section.value,)
    parts = inner.split(".")[1:]
    for i, value in enumerate(values):
        written = _written_inside(value, parts)
        if written is not None:
            which = f"{outer!r} value {i + 1} of {len(values)}" if isinstance(section, Axis) else \
                f"the {outer!r} value"
            return f"{which} sets {written} itself"
    return None


def _overlaps(file: str, blocks: list[tuple[str, tuple[Setting | Axis, ...]]]) -> list[ConfigIssue]:
    """Keys of ``set``, ``grid`` and ``zip`` of which one lies inside another (``arch.hbm`` and
    ``arch.hbm.bandwidth``): the value applied last would replace part of the other's, so a row could be labelled
    with a value that was not simulated (probe p75 #1). Refused at the key written later, naming both. A whole
    section (``arch``, ``workload`` or ``options``) is allowed with keys inside it while none of its values
    written inline sets that key: the section is always applied first, then its keys
    (:func:`~accelsim.config.load.experiment_from_doc`), whatever the order written; a value that does set the
    key is refused alike (probe p81 #3)."""
    entries = [(".".join(p.strip() for p in item.key.split(".")), item, block) for block, items in blocks
               for item in items]
    entries.sort(key=lambda e: (e[1].line is None, e[1].line or 0))
    issues = []
    for i, (key, item, _block) in enumerate(entries):
        for other, earlier, other_block in entries[:i]:
            inner, outer = (key, other) if key.startswith(other + ".") else (other, key) \
                if other.startswith(key + ".") else (None, None)
            if inner is None:
                continue
            at = f"{other_block}, line {earlier.line}" if earlier.line else other_block
            if "." not in outer:  # a whole section with keys inside it: refused only where its values set the key
                written = _section_sets(item if key == outer else earlier, outer, inner)
                if written is None:
                    continue
                rest = inner.split(".", 1)[1]
                issues.append(ConfigIssue(file, item.line, item.key,
                                          f"overlaps {earlier.key!r} ({at}): {written}, which {inner!r} would "
                                          f"replace, so a row could be labelled with a value it did not run (and "
                                          f"points differing only there would run once); leave {rest!r} out of "
                                          f"the {outer} values or drop {inner!r}"))
                break
            issues.append(ConfigIssue(file, item.line, item.key,
                                      f"overlaps {earlier.key!r} ({at}): {inner!r} lies inside {outer!r}, so "
                                      f"the one applied last would replace the other's value; sweep or set "
                                      f"{outer!r} whole or its keys, not both"))
            break
    return issues


def _filters(doc: Doc) -> tuple[tuple[FilterText, ...], list[ConfigIssue]]:
    value = doc.data["filters"]
    if value is None:
        return (), []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return (), [doc.issue(("filters",), "expected a list of expressions", value)]
    out, issues = [], []
    for i, text in enumerate(items):
        path = ("filters",) if isinstance(value, str) else ("filters", i)
        if not isinstance(text, str) or not text.strip():
            issues.append(doc.issue(path, "expected an expression such as 'arch.core.systolic.rows <= 128'", text))
        else:
            out.append(FilterText(text, i, doc.locate(path)[0].line))
    return tuple(out), issues


def _base(doc: Doc, sweep_path: Path) -> tuple[str | None, Doc | None, list[ConfigIssue]]:
    """``(base_file, base_doc, issues)`` for the ``base:`` entry: a path (relative to the sweep file first, then
    the working directory), an experiment preset name, or an inline experiment mapping."""
    if doc.data.get("base") is None:
        return None, None, [doc.issue((), "missing 'base': name the experiment to sweep (a preset name or a path)")]
    value = doc.data["base"]
    if isinstance(value, dict):
        _refuse_serving_base(doc, value, None)
        return None, doc.child("base"), []
    if not isinstance(value, str) or not value.strip():
        return None, None, [doc.issue(("base",), "expected an experiment preset name, a path or a mapping", value)]
    local = sweep_path.parent / value
    try:
        path = local if not Path(value).is_absolute() and local.is_file() else \
            presets.resolve("experiments", value, names=presets.experiment_names())  # no sweep is a base
    except ConfigError as e:
        w, _ = doc.locate(("base",))
        return None, None, [ConfigIssue(w.file, w.line, "base", i.msg, value, True) for i in e.issues]
    try:
        base_doc, issues = file_doc(path)
    except ConfigError as e:
        return None, None, list(e.issues)
    if base_doc is not None:
        _refuse_serving_base(doc, base_doc.data, display_path(path))
        if isinstance(base_doc.data, dict) and any(k in base_doc.data for k in presets.SWEEP_MARKS):
            w, _ = doc.locate(("base",))  # one line, not the sweep's keys each "unknown" to an experiment
            own = base_doc.data.get("base")
            how = f"its own base is {own}" if isinstance(own, str) else "copy its base: mapping here"
            raise ConfigError.one(w.file, "base", f"{value} is a sweep, not an experiment: base: names the "
                                  f"experiment to sweep ({how})", line=w.line)
        wrong = wrong_kind(base_doc.data, "experiment", display_path(path))  # an arch or workload file: one line,
        if wrong is not None:  # not each of its keys unknown to an experiment (probe p215 #3)
            w, _ = doc.locate(("base",))
            raise ConfigError.one(w.file, "base", wrong, line=w.line, value=value)
    return display_path(path), base_doc, issues


def _refuse_serving_base(doc: Doc, base: object, shown: str | None) -> None:
    """A one-line error when the sweep's ``base:`` is a serving file (its workload has arrivals): its keys would
    each be "unknown" to an experiment; the line says how a serving file is swept."""
    if isinstance(base, dict) and isinstance(base.get("workload"), dict) and "arrival" in base["workload"]:
        w, _ = doc.locate(("base",))
        how = f"sweep it with 'accelsim serve {shown}" if shown else "write it to a file and sweep that with " \
                                                                   "'accelsim serve FILE"
        raise ConfigError.one(w.file, "base", f"{shown or 'this mapping'} is a serving file (its workload has "
                              f"arrivals); 'accelsim sweep' sweeps experiments: {how} --sweep KEY=V1,V2,...' (one "
                              f"--sweep a key; several are crossed)", line=w.line)


def load_sweep(path: str | os.PathLike) -> SweepSpec:
    """The sweep in the YAML file ``path`` (or the preset of that name in ``experiments/``), checked: keys,
    axis values and ranges, zip lengths, keys swept twice, the base experiment's file. Raises one
    :class:`ConfigError` listing every problem. The points themselves are validated by :class:`PointLoader`."""
    if not isinstance(path, (str, os.PathLike)):  # a sweep is read from its file (its base: is relative to it)
        raise ConfigError.one("<input>", "sweep", "expected the path of a sweep YAML file or a sweep preset name "
                              "(a sweep given as a mapping is not read: write it to a YAML file)",
                              value=type(path).__name__)
    try:
        file = presets.resolve("experiments", path)
    except ConfigError as e:
        raise ConfigError([i if i.file else ConfigIssue("<input>", None, "sweep", i.msg, i.value, i.has_value)
                           for i in e.issues]) from None
    data, lines = load_yaml(file)
    doc = Doc.from_yaml(data, lines)
    if not isinstance(data, dict):
        raise ConfigError(doc.issue((), "expected a sweep: a mapping with base:, grid: and/or zip:",
                                    type(data).__name__))
    if not ({"grid", "zip", "base"} & set(data)) and ({"workload", "arch"} & set(data)):  # the reverse of run's
        shown = display_path(file)
        kind, command = (("a serving file (its workload has arrivals)", "serve")
                         if isinstance(data.get("workload"), dict) and "arrival" in data["workload"]
                         else ("an experiment, not a sweep (it has no grid:/zip: axes)", "run"))
        raise ConfigError.one(shown, "", f"this is {kind}; run it with 'accelsim {command} "
                              f"{presets.as_typed(path, shown)}'")
    refuse_part_file(data, display_path(file))  # an arch or workload file: run's one line (probe p223 #4: 14 and 9)
    issues = Issues()
    for key in data:
        if key not in SWEEP_KEYS:
            hint = presets.suggest(str(key), SWEEP_KEYS)
            issues.append(doc.issue((key,), f"unknown key{hint}" if hint else
                                    f"unknown key; expected one of {', '.join(SWEEP_KEYS)}"))
    for key in ("name", "description", "output"):
        if data.get(key) is not None and not isinstance(data[key], str):
            issues.append(doc.issue((key,), "expected a string", data[key]))
    if name_problem(data.get("name")) is not None:
        issues.append(doc.issue(("name",), name_problem(data["name"]), data["name"]))
    if output_problem(data.get("output")) is not None:
        issues.append(doc.issue(("output",), output_problem(data["output"]), data["output"]))
    data = {k: data.get(k) for k in SWEEP_KEYS} | data
    doc = Doc(data, doc.where)
    base_file, base_doc, found = _base(doc, Path(file))
    issues += found
    seen: dict[str, str] = {}
    settings: tuple[Setting, ...] = ()
    grid: tuple[Axis, ...] = ()
    zips: tuple[tuple[Axis, ...], ...] = ()
    # the blocks in the order written, so that a key given twice is refused at its later line, naming the first
    # (probe p83 #2: with zip above set, the error sat at the zip's line naming the set's)
    for block in sorted((b for b in ("set", "grid", "zip") if data[b] is not None),
                        key=lambda b: doc.locate((b,))[0].line or 0):
        if block == "set":
            settings, found = _settings(doc, seen)
        elif block == "grid":
            grid, found = _axes(doc, ("grid",), seen, "grid")
        else:
            zips, found = _zip_groups(doc, seen)
        issues += found
    if data["grid"] is None and data["zip"] is None:
        issues.append(doc.issue((), "nothing to sweep: give 'grid:' and/or 'zip:' axes"))
    issues += _overlaps(doc.locate(())[0].file, [("set", settings), ("grid", grid),
                                                 ("zip", tuple(a for group in zips for a in group))])
    filters, found = _filters(doc)
    issues += found
    issues.raise_if_any()
    return SweepSpec(name=data["name"] or file.stem, file=display_path(file), base=data["base"],
                     base_file=base_file, description=data["description"] or "", settings=settings, grid=grid,
                     zips=zips, filters=filters, output=data["output"], base_doc=base_doc)


# ---- points → experiments ----------------------------------------------------------------------------------------
def _inline_section(doc: Doc, section: str) -> Doc:
    """``doc`` with its ``section`` (a preset name, a path, or a mapping with ``base:``) replaced by the resolved
    mapping, each key keeping the file and line it came from: points then re-read no YAML."""
    if not isinstance(doc.data, dict) or section not in doc.data:
        return doc
    resolved, _, issues = section_doc(section, doc, section)
    if issues:
        raise ConfigError(issues)
    assert resolved is not None
    data = dict(doc.data)
    data[section] = resolved.data
    where = {p: w for p, w in doc.where.items() if p[:1] != (section,)}
    # each point reads the section back as a child of ``doc`` (Doc.child adds the section to a key's prefix), so a
    # key written inline, already prefixed with it, drops it here: its errors print "workload.model", not
    # "workload.workload.model"
    where.update({(section, *p): replace(w, prefix=w.prefix[:-1]) if w.prefix[-1:] == (section,) else w
                  for p, w in resolved.where.items()})
    return Doc(data, where)


class PointLoader:
    """Turns points of one sweep into validated experiments, fast: the base experiment's files are read and its
    arch and workload presets resolved once, so a point costs one override pass and one validation.

    ``load(values)`` returns the :class:`ExperimentSpec` of the base with the sweep's ``set:`` values and then
    the point's ``values`` (axis key → value) applied. A problem with a point's value is reported at the line
    of its axis in the sweep file, e.g. ``sweep.yaml:6: arch.core.systolic.rows: Input should be greater than 0
    (got -1)``.
    """

    def __init__(self, spec: SweepSpec):
        self.spec = spec
        doc = spec.base_doc if spec.base_doc is not None else Doc({}, {(): Where(spec.file, None, ())})
        for section in ("arch", "workload"):
            doc = _inline_section(doc, section)
        self._doc = doc
        self._source = spec.base_file or spec.file
        self._default_name = Path(spec.base_file).stem if spec.base_file else spec.name
        lines = {s.key: s.line for s in spec.settings} | {a.key: a.line for a in spec.axes}
        # an override's label is printed where a file name goes; each key gets its own, mapped back to FILE:LINE
        self._labels = {f"{spec.file}:{line}" if line else spec.file: (spec.file, line) for line in lines.values()}
        self._lines = lines
        self._templates = {key: parse_override(f"{key}=null", label=f"{spec.file}:{line}" if line else spec.file)
                           for key, line in lines.items()}
        self._fixed = [self._override(s.key, s.value) for s in spec.settings]

    def _override(self, key: str, value: object) -> Override:
        return replace(self._templates[key], value=value, text=f"{key}={value}")

    def load(self, values: Mapping[str, object]) -> ExperimentSpec:
        """The validated experiment of one point; :class:`ConfigError` (issues at the sweep's lines) if invalid."""
        overrides = [*self._fixed, *(self._override(k, v) for k, v in values.items())]
        issues = Issues()
        try:
            return experiment_from_doc(self._doc, overrides, issues, source=self._source,
                                       default_name=self._default_name)
        except ConfigError as e:
            raise ConfigError([self._relabel(i, values) for i in e.issues]) from None

    def _relabel(self, issue: ConfigIssue, values: Mapping[str, object] = {}) -> ConfigIssue:  # noqa: B006
        """``issue`` at the sweep file's line of the override it names; a problem found in a preset or base file
        (``arch/gemmini.yaml:28: core.sram: ... not both``) at a section that an axis or ``set:`` key of the point
        changes (``arch.core.sram.unified``) is the user's axis's doing: it is re-pointed at that key's line (the
        most specific such key; docs/sweeps.md: errors name the sweep file and the line of the axis), the file's
        own place kept in the message (probe p101 #7)."""
        if issue.file in self._labels:
            file, line = self._labels[issue.file]
            return replace(issue, file=file, line=line)
        key = self._culprit(issue, values)
        if key is None:
            return issue
        where = display_path(issue.file) if issue.file else "<input>"
        where += f":{issue.line}" if issue.line is not None else ""
        line = self._lines.get(key)
        return replace(issue, file=self.spec.file, line=line, key=key,
                       msg=f"clashes with {issue.key} at {where}: {issue.msg}")

    def _culprit(self, issue: ConfigIssue, values: Mapping[str, object]) -> str | None:
        """The longest axis or ``set:`` key of the point that lies at or under ``issue``'s key (read as written,
        or below the key's section: ``core.sram`` in an arch file is ``arch.core.sram``); None if none does."""
        if not issue.key:
            return None
        found = None
        for key in (*values, *(s.key for s in self.spec.settings)):
            section, _, rest = key.partition(".")
            under = [k for k in (key, rest) if k]
            if section in ("arch", "workload") and key != section and any(
                    k == issue.key or k.startswith(issue.key + ".") for k in under):
                if found is None or len(key) > len(found):
                    found = key
        return found


__all__ = ["Axis", "FilterText", "PointLoader", "Setting", "SweepSpec", "SWEEP_KEYS", "load_sweep"]
