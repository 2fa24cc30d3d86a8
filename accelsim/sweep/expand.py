"""Sweep points: the grid's cartesian product crossed with each zip group, filtered, validated, each with a
stable id (a hash of its resolved config).

Order: the product of the grid axes in the order written (the last varies fastest), then the zip groups (each
group one dimension, its axes in lock-step). A point's ``index`` is its position in that order before filters,
so it does not change when a filter is edited.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config.presets import suggest
from ..config.schema import ExperimentSpec
from ..config.sweep import FilterText, PointLoader, SweepSpec
from ..errors import ConfigError, ConfigIssue

MAX_POINTS = 1_000_000  # a sweep bigger than this is almost surely a mistake (and its plan would not fit memory)
MAX_ISSUE_LINES = 20  # distinct validation problems shown; the rest are counted
MAX_VALUES_SHOWN = 5  # bad values listed per problem


@dataclass(frozen=True)
class Point:
    """One point of a sweep: ``index`` (position in expansion order, before filters) and ``values`` (axis key →
    value as written in the sweep file, in axis order)."""

    index: int
    values: dict[str, Any]


@dataclass(frozen=True)
class PlannedPoint:
    """A validated point: its ``id`` (:func:`point_id` of ``experiment``) and the experiment it runs."""

    index: int
    values: dict[str, Any]
    id: str
    experiment: ExperimentSpec


@dataclass(frozen=True)
class Plan:
    """Every point a sweep will run, validated: ``points`` (unique ids, in expansion order), ``expanded`` (points
    before filters), ``filtered`` (dropped by filters) and ``duplicates`` (points whose resolved config equals an
    earlier point's, so they share its id and run once)."""

    spec: SweepSpec
    points: tuple[PlannedPoint, ...]
    expanded: int
    filtered: int
    duplicates: int


# ---- filters -----------------------------------------------------------------------------------------------------
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


class Filter:
    """A compiled ``filters:`` expression: comparisons (chained too), ``and``/``or``/``not``, ``+ - * / // %``,
    ``in`` a list, numbers, strings, booleans, and dotted names of the sweep's keys. It is evaluated by walking
    the syntax tree; nothing else (calls, subscripts, ``**``, other names) is accepted, and ``eval`` is never
    used. Calling it with a point's values returns whether the point is kept."""

    def __init__(self, item: FilterText, names: Mapping[str, Any], file: str):
        self.text, self.index, self.line, self.file = item.text, item.index, item.line, file
        try:
            self._tree = ast.parse(item.text.strip(), mode="eval").body
        except SyntaxError as e:
            raise self._error(f"invalid expression: {e.msg}") from None
        self._check(self._tree, set(names))

    @property
    def label(self) -> str:
        return f"filters[{self.index}]"

    def _error(self, msg: str) -> ConfigError:
        return ConfigError(ConfigIssue(self.file, self.line, self.label, msg, self.text, True))

    def _check(self, node: ast.AST, names: set[str]) -> None:
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = _dotted(node)
            if name is None:
                raise self._error(f"not a dotted name: {ast.unparse(node)}")
            if name not in names:
                hint = suggest(name, names) or f"; known names: {', '.join(sorted(names))}"
                raise self._error(f"unknown name {name!r}{hint}")
            return
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float, str, bool)) and node.value is not None:
                raise self._error(f"unsupported constant {node.value!r}")
            return
        allowed = (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.BinOp, ast.Compare, ast.List, ast.Tuple, ast.Load,
                   *_BINOPS, *_CMPOPS, *_UNARY)
        if not isinstance(node, allowed):
            raise self._error(f"unsupported syntax: {ast.unparse(node) or type(node).__name__} (filters allow "
                              f"comparisons, and/or/not, + - * / // %, numbers, strings and the sweep's keys)")
        for child in ast.iter_child_nodes(node):
            self._check(child, names)

    def _eval(self, node: ast.AST, env: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Name, ast.Attribute)):
            return env[_dotted(node)]  # type: ignore[index]
        if isinstance(node, ast.BoolOp):
            result = True if isinstance(node.op, ast.And) else False
            for value in node.values:
                result = self._eval(value, env)
                if isinstance(node.op, ast.And) != bool(result):
                    return result
            return result
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._eval(node.operand, env))
        if isinstance(node, ast.BinOp):  # numbers only: "'ab' * 10**11" must not build a 200 GB string
            left, right = self._eval(node.left, env), self._eval(node.right, env)
            if not (_number(left) and _number(right)):
                raise TypeError(f"arithmetic on numbers only, not {ast.unparse(node)} "
                                f"({type(left).__name__} and {type(right).__name__})")
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, env)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self._eval(comp, env)
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self._eval(e, env) for e in node.elts]
        raise AssertionError(f"unchecked node {node!r}")  # _check admits nothing else

    def __call__(self, env: Mapping[str, Any], point: Point | None = None) -> bool:
        try:
            return bool(self._eval(self._tree, env))
        except (TypeError, ZeroDivisionError, ValueError) as e:
            where = f" at point #{point.index} ({describe(point.values)})" if point is not None else ""
            raise self._error(f"cannot evaluate{where}: {e}") from None


def compile_filters(spec: SweepSpec) -> list[Filter]:
    """The sweep's filters, compiled; one :class:`ConfigError` lists every bad one (syntax, unknown names)."""
    names = {s.key: s.value for s in spec.settings} | {k: None for k in spec.keys}
    out, issues = [], []
    for item in spec.filters:
        try:
            out.append(Filter(item, names, spec.file))
        except ConfigError as e:
            issues += e.issues
    if issues:
        raise ConfigError(issues)
    return out


# ---- expansion ---------------------------------------------------------------------------------------------------
def _dimensions(spec: SweepSpec) -> list[list[dict[str, Any]]]:
    """One list per dimension of the product: a grid axis's values, or a zip group's rows (key → value)."""
    dims = [[{a.key: v} for v in a.values] for a in spec.grid]
    for group in spec.zips:
        rows = zip(*(a.values for a in group), strict=True)  # load_sweep checked the lengths
        dims.append([{a.key: v for a, v in zip(group, row, strict=True)} for row in rows])
    return dims


def count_points(spec: SweepSpec) -> int:
    """Points before filters: the product of the grid axes' lengths and the zip groups' lengths."""
    n = 1
    for dim in _dimensions(spec):
        n *= len(dim)
    return n


def expand(spec: SweepSpec) -> tuple[list[Point], int]:
    """The sweep's points that pass every filter, in expansion order, and the number before filtering."""
    total = count_points(spec)
    if total > MAX_POINTS:
        raise ConfigError(ConfigIssue(spec.file, None, "", f"{total:,} points: more than {MAX_POINTS:,}; "
                                                           f"narrow the axes or add filters"))
    filters = compile_filters(spec)
    fixed = {s.key: s.value for s in spec.settings}
    points = []
    for index, combo in enumerate(itertools.product(*_dimensions(spec))):
        values: dict[str, Any] = {}
        for part in combo:
            values.update(part)
        values = {k: values[k] for k in spec.keys}
        point = Point(index, values)
        env = fixed | values
        if all(f(env, point) for f in filters):
            points.append(point)
    return points, total


# ---- ids and validation ------------------------------------------------------------------------------------------
def point_id(experiment: ExperimentSpec) -> str:
    """The stable id of a point: the first 16 hex digits of the SHA-256 of the canonical JSON (sorted keys, no
    spaces) of ``experiment.resolved()``. Values written differently but equal once resolved ("64KiB" and
    65536) give the same id."""
    text = json.dumps(experiment.resolved(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def short_names(keys: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Each dotted key's shortest trailing part that no other key ends with (``rows`` for
    ``arch.core.systolic.rows``), for labels."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(o != key and (o == tail or o.endswith("." + tail)) for o in keys):
                break
        out[key] = tail
    return out


def describe(values: Mapping[str, Any]) -> str:
    """``rows=64, cols=32, dataflow=ws``: a point's values with short key names."""
    names = short_names(list(values))
    return ", ".join(f"{names[k]}={v}" for k, v in values.items())


def plan_sweep(spec: SweepSpec) -> Plan:
    """Expand ``spec``, validate every point and give each its id. Raises one :class:`ConfigError` before
    anything runs: a problem shared by many points is one line, naming the sweep file and line, the key, the
    value, how many points have it and the first of them."""
    points, total = expand(spec)
    loader = PointLoader(spec)
    planned: dict[str, PlannedPoint] = {}
    problems: dict[tuple, list] = {}  # (file, line, key, msg) → [issue, count, first point, distinct values]
    duplicates = 0
    for point in points:
        try:
            experiment = loader.load(point.values)
        except ConfigError as e:
            for issue in e.issues:
                entry = problems.setdefault((issue.file, issue.line, issue.key, issue.msg), [issue, 0, point, {}])
                entry[1] += 1
                if issue.has_value:
                    entry[3].setdefault(repr(issue.value), issue.value)
            continue
        pid = point_id(experiment)
        if pid in planned:
            duplicates += 1
        else:
            planned[pid] = PlannedPoint(point.index, point.values, pid, experiment)
    if problems:
        issues = []
        for issue, count, first, values in list(problems.values())[:MAX_ISSUE_LINES]:
            shown = ", ".join(list(values)[:MAX_VALUES_SHOWN]) + (", ..." if len(values) > MAX_VALUES_SHOWN else "")
            got = f" (got {shown})" if values else ""
            many = f"in {count} of {len(points)} points, first" if count > 1 else "in"
            issues.append(ConfigIssue(issue.file, issue.line, issue.key,
                                      f"{issue.msg}{got} {many} point #{first.index} ({describe(first.values)})"))
        if len(problems) > MAX_ISSUE_LINES:
            issues.append(ConfigIssue(spec.file, None, "", f"... and {len(problems) - MAX_ISSUE_LINES} more "
                                                           f"problems"))
        raise ConfigError(issues)
    return Plan(spec, tuple(planned.values()), total, total - len(points), duplicates)


__all__ = ["Filter", "Plan", "PlannedPoint", "Point", "compile_filters", "count_points", "describe", "expand",
           "plan_sweep", "point_id", "short_names"]
