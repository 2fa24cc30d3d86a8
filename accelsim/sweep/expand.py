"""Sweep points: the grid's cartesian product crossed with each zip group, filtered, validated, each with a
stable id (a hash of its resolved config).

Order: the product of the grid axes in the order written (the last varies fastest), then the zip groups (each
group one dimension, its axes in lock-step). A point's ``index`` is its position in that order before filters,
so it does not change when a filter is edited.

Planning is a stream (:class:`PlanStream`): points are expanded, filtered, validated and given their ids as the
executor takes them, so memory holds the points in flight, not one experiment per point of the sweep;
:meth:`PlanStream.check` validates the first points and every distinct axis value before anything runs.
:func:`plan_sweep` plans every point at once (for tests and small tools).
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..config.digest import content_hash, file_digests
from ..config.presets import suggest
from ..config.schema import ExperimentSpec
from ..config.sweep import FilterText, PointLoader, SweepSpec
from ..errors import ConfigError, ConfigIssue

MAX_POINTS = 1_000_000  # a sweep bigger than this is almost surely a mistake (and its plan would not fit memory)
MAX_ISSUE_LINES = 20  # distinct validation problems shown; the rest are counted
MAX_VALUES_SHOWN = 5  # bad values listed per problem
PRIME_POINTS = 500  # points validated (and kept to run first) before anything runs: ~0.2 s
MAX_PROBES = 1_000  # further points validated before anything runs, one per distinct axis value


@dataclass(frozen=True)
class Point:
    """One point of a sweep: ``index`` (position in expansion order, before filters) and ``values`` (axis key →
    value as written in the sweep file, in axis order)."""

    index: int
    values: dict[str, Any]


@dataclass(frozen=True)
class PlannedPoint:
    """A validated point: its ``id`` (:func:`point_id` of ``experiment``) and the experiment it runs. A point
    that does not validate has ``experiment`` None, its problems in one line in ``error`` and an id from
    :func:`invalid_point_id`."""

    index: int
    values: dict[str, Any]
    id: str
    experiment: ExperimentSpec | None
    error: str | None = None


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
    return math.prod(len(dim) for dim in _dimensions(spec))


class _Expander:
    """A sweep's dimensions and filters: a point from its per-dimension value positions (its ``combo``), and
    the kept points in expansion order, made one at a time."""

    def __init__(self, spec: SweepSpec):
        self.spec, self.keys = spec, spec.keys
        self.dims = _dimensions(spec)
        self.total = math.prod(len(dim) for dim in self.dims)
        if self.total > MAX_POINTS:  # at the largest axis: the one to narrow
            big = max(zip(self.dims, spec.grid, strict=False), key=lambda da: len(da[0]), default=None)
            where = (big[1].line, big[1].key) if big is not None else (None, "grid")
            raise ConfigError(ConfigIssue(spec.file, where[0], where[1],
                                          f"the grid expands to {self.total:,} points: more than {MAX_POINTS:,}; "
                                          f"narrow the axes (the cap counts the points before filters)"))
        self.filters = compile_filters(spec)
        self.file = spec.file
        self.fixed = {s.key: s.value for s in spec.settings}
        self._strides = [math.prod(len(d) for d in self.dims[i + 1:]) for i in range(len(self.dims))]
        self._dim_of = {a.key: d for d, a in enumerate(spec.grid)}
        self._dim_of.update({a.key: len(spec.grid) + g for g, group in enumerate(spec.zips) for a in group})

    def point(self, combo: tuple[int, ...], index: int | None = None) -> Point:
        values: dict[str, Any] = {}
        for dim, i in zip(self.dims, combo, strict=True):
            values.update(dim[i])
        if index is None:
            index = sum(i * s for i, s in zip(combo, self._strides, strict=True))
        return Point(index, {k: values[k] for k in self.keys})

    def keeps(self, point: Point) -> bool:
        env = self.fixed | point.values
        return all(f(env, point) for f in self.filters)

    def kept(self) -> Iterator[tuple[Point, tuple[int, ...]]]:
        """``(point, combo)`` of every point that passes the filters, in expansion order."""
        for index, combo in enumerate(itertools.product(*(range(len(d)) for d in self.dims))):
            point = self.point(combo, index)
            if self.keeps(point):
                yield point, combo

    def none_kept(self) -> ConfigError:
        """The error of filters that keep no point (probe p75 #5: a sweep of nothing is a mistake in its file, as an
        empty axis is): at each filter that alone keeps none, else at the first filter, saying they keep none
        together. One more pass of expansion, filters evaluated one at a time (a filter that cannot be evaluated
        where the others did not let it run counts as keeping that point)."""
        kept = [0] * len(self.filters)
        for index, combo in enumerate(itertools.product(*(range(len(d)) for d in self.dims))):
            env = self.fixed | self.point(combo, index).values
            for i, f in enumerate(self.filters):
                try:
                    kept[i] += f(env)
                except ConfigError:
                    kept[i] += 1
        many = f"{self.total} points" if self.total != 1 else "the 1 point"
        alone = [f for f, n in zip(self.filters, kept, strict=True) if n == 0]
        if alone:
            return ConfigError([ConfigIssue(self.file, f.line, f.label, f"keeps none of {many}: the sweep would run "
                                            f"nothing", f.text, True) for f in alone])
        first = self.filters[0]
        return ConfigError(ConfigIssue(self.file, first.line, "filters", f"the {len(self.filters)} filters keep "
                                       f"none of {many} together (each keeps some): the sweep would run nothing"))

    def dim_of(self, key: str) -> int | None:
        """The dimension of the axis that an issue's ``key`` names (the axis key, or a key inside it)."""
        while key:
            if key in self._dim_of:
                return self._dim_of[key]
            key = key.rpartition(".")[0]
        return None


def expand(spec: SweepSpec) -> tuple[list[Point], int]:
    """The sweep's points that pass every filter, in expansion order, and the number before filtering."""
    expander = _Expander(spec)
    return [point for point, _ in expander.kept()], expander.total


# ---- ids and validation ------------------------------------------------------------------------------------------
ID_IGNORED = ("name", "description", "output")
"""What a point's id leaves out of the resolved experiment: labels that change no simulated number (so a point is the
same point whichever sweep file, or base name, it came from)."""
WORKLOAD_ID_IGNORED = ("name",)
"""What it leaves out of the workload's parameters: the model's name in reports (the ``layers`` and ``hf``
builders' ``name``), a label too. A layer's own ``name`` in a layer list is kept: other layers name it as their
input, so it is part of the graph's wiring."""


def point_id(experiment: ExperimentSpec) -> str:
    """The stable id of a point: the first 16 hex digits of the SHA-256 of the canonical JSON (sorted keys, no
    spaces) of ``experiment.resolved()`` without its labels (:data:`ID_IGNORED`, the workload's
    :data:`WORKLOAD_ID_IGNORED`), and of the contents of every file a
    workload parameter names (a Hugging Face ``config.json``, an ONNX ``path``) in place of its path: an edited file
    makes new points, a moved one (the workload file reads it relative to itself) keeps them.
    Values written differently but equal once resolved ("64KiB" and 65536) give the same id."""
    data = {k: v for k, v in experiment.resolved().items() if k not in ID_IGNORED}
    files = file_digests(experiment.workload.params)
    # a file is its contents, not where it lies: a sweep folder moved with its files keeps its ids
    wl = data["workload"]
    data["workload"] = {**wl, "params": {k: v for k, v in wl["params"].items()
                                         if k not in files and k not in WORKLOAD_ID_IGNORED}}
    return content_hash({**data, "files": files} if files else data)



def invalid_point_id(spec: SweepSpec, values: Mapping[str, Any]) -> str:
    """The id of a point that does not validate (it has no resolved config): the same hash of the sweep's
    ``base`` as written, its ``set:`` values and the point's values, so it is stable from run to run."""
    return content_hash({"invalid_point": {"base": spec.base, "set": {s.key: s.value for s in spec.settings},
                                         "point": dict(values)}})



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


class Problems:
    """Distinct validation problems of a sweep's points: each (file, line, key, message) once, with how many
    points have it, the first of them and up to :data:`MAX_VALUES_SHOWN` + 1 of its distinct values."""

    def __init__(self) -> None:
        self._entries: dict[tuple, list] = {}  # key → [issue, count, first point, distinct values, "of" text]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def add(self, issues: Iterable[ConfigIssue], point: Point) -> list[tuple]:
        """Count ``point`` for each of its ``issues``; returns the problems' keys."""
        keys = []
        for issue in issues:
            key = (issue.file, issue.line, issue.key, issue.msg)
            entry = self._entries.setdefault(key, [issue, 0, point, {}, None])
            entry[1] += 1
            if point.index < entry[2].index:
                entry[2] = point
            if issue.has_value and len(entry[3]) <= MAX_VALUES_SHOWN:
                entry[3].setdefault(repr(issue.value), issue.value)
            keys.append(key)
        return keys

    def recount(self, key: tuple, count: int | None = None, first: Point | None = None,
                of: str | None = None) -> None:
        """Set a problem's count and first point (None: keep it) and ``of``, what the count is out of when
        that is not every point of the sweep."""
        entry = self._entries[key]
        entry[1], entry[2], entry[4] = count or entry[1], first or entry[2], of

    def error(self, spec: SweepSpec, points: int) -> ConfigError:
        """One :class:`ConfigError`, a line per problem in the order of their first points, those of one point in
        the order of their lines: ``FILE:LINE: key: message (got VALUES) in N of M points, first point #I
        (values)``."""
        entries = sorted(self._entries.values(), key=lambda e: (e[2].index, e[0].line is None, e[0].line or 0))
        issues = []
        for issue, count, first, values, of in entries[:MAX_ISSUE_LINES]:
            shown = ", ".join(list(values)[:MAX_VALUES_SHOWN]) + (", ..." if len(values) > MAX_VALUES_SHOWN else "")
            got = f" (got {shown})" if values else ""
            many = f"in {count} of {of or f'{points} points'}, first" if count > 1 or of else "in"
            issues.append(ConfigIssue(issue.file, issue.line, issue.key,
                                      f"{issue.msg}{got} {many} point #{first.index} ({describe(first.values)})"))
        if len(entries) > MAX_ISSUE_LINES:
            issues.append(ConfigIssue(spec.file, None, "", f"... and {len(entries) - MAX_ISSUE_LINES} more "
                                                           f"problems"))
        return ConfigError(issues)


# ---- planning: a stream ------------------------------------------------------------------------------------------
class PlanStream:
    """The points of a sweep planned one at a time: expanded, filtered, validated and given their ids as they
    are taken, so a million-point sweep starts at once and holds only the points in flight plus 8 bytes of id
    per point (``ids``, in sweep order) and a set of the ids seen (to drop duplicates).

    Iterating yields a :class:`PlannedPoint` per unique point, in expansion order; a point that does not validate
    comes with ``experiment=None`` and its one-line ``error`` (its problems are also counted in ``problems``).
    :meth:`check` is the cheap check before anything runs. Counters (``kept``, ``filtered``, ``duplicates``,
    ``invalid``, ``validated``) grow as points are taken; ``complete`` is True once the last point was taken.
    """

    def __init__(self, spec: SweepSpec, *, prime: int | None = None, max_probes: int | None = None):
        self.spec = spec
        self._expander = _Expander(spec)
        self._loader = PointLoader(spec)
        self.prime = PRIME_POINTS if prime is None else prime
        self.max_probes = MAX_PROBES if max_probes is None else max_probes
        self.expanded = self._expander.total
        self.kept = self.duplicates = self.invalid = self.validated = 0
        self.complete = False
        self.ids = array("Q")  # unique ids in sweep order, as 64-bit integers
        self._seen: set[int] = set()
        self.problems = Problems()
        self._position = 0  # expansion positions taken
        self._buffer: deque[PlannedPoint] = deque()
        self._source = self._plan()
        self._checked: dict[tuple, dict[int, set[int]] | None] | None = None  # problems found by check
        self._kept_total = 0  # points after filters, counted when check found a problem
        self._ok: set[tuple[int, int]] = set()  # (dimension, value position) seen in a valid point by check

    @property
    def filtered(self) -> int:
        """Points dropped by filters so far (all of them once ``complete``)."""
        return self._position - self.kept

    @property
    def planned(self) -> int:
        """Unique points yielded so far."""
        return len(self.ids)

    def remaining(self) -> int:
        """At most how many points are still to come (the positions not yet expanded, plus those checked)."""
        return self.expanded - self._position + len(self._buffer)

    def id_list(self) -> list[str]:
        """The unique points' ids so far, in sweep order."""
        return [f"{i:016x}" for i in self.ids]

    def __iter__(self) -> Iterator[PlannedPoint]:
        while self._buffer:
            yield self._buffer.popleft()
        yield from self._source

    def _plan(self) -> Iterator[PlannedPoint]:
        for point, combo in self._expander.kept():
            self._position, self.kept = point.index + 1, self.kept + 1
            planned = self._validate(point, combo)
            key = int(planned.id, 16)
            if key in self._seen:
                self.duplicates += 1
                continue
            self._seen.add(key)
            self.ids.append(key)
            yield planned
        self._position = self.expanded
        self.complete = True

    def _validate(self, point: Point, combo: tuple[int, ...]) -> PlannedPoint:
        experiment, issues = self._load(point, combo)
        if experiment is None:
            self.invalid += 1
            error = "; ".join(str(ConfigError(issues)).splitlines())
            return PlannedPoint(point.index, point.values, invalid_point_id(self.spec, point.values), None, error)
        return PlannedPoint(point.index, point.values, point_id(experiment), experiment)

    def _load(self, point: Point, combo: tuple[int, ...]) -> tuple[ExperimentSpec | None, list[ConfigIssue]]:
        """The point's experiment, or None and its issues (counted in ``problems``)."""
        self.validated += 1
        try:
            experiment = self._loader.load(point.values)
        except ConfigError as e:
            self._note(self.problems.add(e.issues, point), e.issues, combo)
            return None, list(e.issues)
        if self._checked is not None:
            self._ok.update(enumerate(combo))
        return experiment, []

    def _note(self, keys: list[tuple], issues: Iterable[ConfigIssue], combo: tuple[int, ...]) -> None:
        """While :meth:`check` runs: which axis values each problem was seen with (by the axis its key names)."""
        if self._checked is None:
            return
        for key, issue in zip(keys, issues, strict=True):
            dim = self._expander.dim_of(issue.key)
            if dim is None:
                self._checked[key] = None
                continue
            where = self._checked.setdefault(key, {})
            if where is not None:
                where.setdefault(dim, set()).add(combo[dim])

    def check(self) -> None:
        """Before anything runs: validate the first :attr:`prime` points (kept to run first) and, when the
        sweep has more, one point per distinct value of each dimension (:attr:`max_probes` at most: the first
        point with that value swapped in, when it passes the filters). Raises one :class:`ConfigError` for
        every problem found, counted over the whole sweep (see :meth:`_recount`)."""
        self._checked = {}
        try:
            for planned in self._source:
                self._buffer.append(planned)
                if self.validated >= self.prime:
                    break
            if self.complete:
                if self.kept == 0 and self._expander.filters:
                    raise self._expander.none_kept()
                if self.problems:
                    raise self.problems.error(self.spec, self.kept)
                return
            for point, combo in self._probes():
                self._load(point, combo)
            if self.problems:
                self._recount()
                raise self.problems.error(self.spec, self._kept_total)
        finally:
            self._checked, self._ok = None, set()

    def _probes(self) -> Iterator[tuple[Point, tuple[int, ...]]]:
        if not self._buffer:
            return
        first = self._buffer[0]
        base = tuple(_combo_of(first.index, self._expander))
        n = 0
        for d, dim in enumerate(self._expander.dims):
            for j in range(len(dim)):
                combo = (*base[:d], j, *base[d + 1:])
                if j == base[d]:
                    continue
                point = self._expander.point(combo)
                if point.index < self._position or not self._expander.keeps(point):
                    continue  # already validated as one of the first points, or never runs
                if n >= self.max_probes:
                    return
                n += 1
                yield point, combo

    def _recount(self) -> None:
        """Count each problem found by :meth:`check` over the whole sweep with one pass of expansion and
        filters (no validation): a problem whose key names an axis, seen only with values of it that never
        validated, is counted in every point that has one of those values; any other (a ``set:`` value, a
        value that is bad only with some others) only among the points checked."""
        checked = self._checked or {}
        by_axis = {key: where for key, where in checked.items()
                   if where and not any((d, j) in self._ok for d, js in where.items() for j in js)}
        for key, (count, first) in self._counts(by_axis).items():
            self.problems.recount(key, count, first)
        for key in checked:
            if key not in by_axis:
                self.problems.recount(key, of=f"the {self.validated} points checked")

    def _counts(self, by_axis: dict[tuple, dict[int, set[int]]]) -> dict[tuple, tuple[int, Point]]:
        """Per problem, the kept points with one of its (dimension, value) pairs: how many and the first. Without
        filters that is arithmetic (each value of a dimension is in total / its length points); with filters,
        one pass of expansion and filters. Sets ``_kept_total``."""
        ex = self._expander
        if not ex.filters:
            self._kept_total = self.expanded
            out = {}
            for key, where in by_axis.items():
                count = sum(len(js) * (self.expanded // len(ex.dims[d])) for d, js in where.items())
                first = min((ex.point(tuple(min(js) if i == d else 0 for i in range(len(ex.dims))))
                             for d, js in where.items()), key=lambda p: p.index)
                out[key] = (count, first)
            return out
        counts: dict[tuple, list] = {key: [0, None] for key in by_axis}
        self._kept_total = 0
        for point, combo in ex.kept():
            self._kept_total += 1
            for key, where in by_axis.items():
                if any(combo[d] in js for d, js in where.items()):
                    entry = counts[key]
                    entry[0] += 1
                    entry[1] = entry[1] or point
        return {key: (count, first) for key, (count, first) in counts.items()}


def _combo_of(index: int, expander: _Expander) -> list[int]:
    """The per-dimension positions of the point at expansion ``index``."""
    combo = []
    for dim in reversed(expander.dims):
        index, i = divmod(index, len(dim))
        combo.append(i)
    return combo[::-1]


def plan_sweep(spec: SweepSpec) -> Plan:
    """Expand ``spec``, validate every point and give each its id, all at once (``accelsim sweep`` plans as it
    runs: :class:`PlanStream`). Raises one :class:`ConfigError`: a problem shared by many points is one line,
    naming the sweep file and line, the key, the value, how many points have it and the first of them."""
    stream = PlanStream(spec)
    points = tuple(stream)
    if stream.kept == 0 and stream.expanded and spec.filters:
        raise _Expander(spec).none_kept()
    if stream.problems:
        raise stream.problems.error(spec, stream.kept)
    return Plan(spec, points, stream.expanded, stream.filtered, stream.duplicates)


__all__ = ["Filter", "Plan", "PlanStream", "PlannedPoint", "Point", "Problems", "compile_filters", "count_points",
           "describe", "expand", "invalid_point_id", "plan_sweep", "point_id", "short_names"]
