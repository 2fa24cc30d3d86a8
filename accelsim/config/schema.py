"""The validated values config produces (:class:`WorkloadSpec`, :class:`ExperimentSpec`) and the translation of
pydantic validation errors into one-line :class:`ConfigIssue` s that name the file, line and dotted key.

The arch and options schemas are the pydantic models themselves (:class:`accelsim.hardware.Arch`,
:class:`accelsim.options.Options`); a workload's parameters are validated by its builder's params model.
"""

from __future__ import annotations

import contextlib
import math
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import AliasChoices, BaseModel, BeforeValidator, PlainValidator, ValidationError, WrapValidator
from pydantic.fields import FieldInfo

from ..builders import BUILDERS
from ..errors import (
    MAX_VALUE_CHARS,
    AccelsimError,
    ConfigError,
    ConfigIssue,
    IssuesError,
    KeyPairError,
    WorkloadError,
    clip,
)
from ..hardware import Arch, import_plugins, unit_spec_model
from ..options import Options
from ..units import MAX_INT, bare_time, parse_bandwidth, parse_frequency, parse_time, unitless_rate
from .overrides import SET_LABEL
from .presets import preset_dir, suggest
from .yamlio import Doc

EXPERIMENT_KEYS = ("name", "description", "workload", "arch", "options", "output")


class Plugins(NamedTuple):
    """The modules a workload's ``plugins:`` names (each registers a builder with ``accelsim.register_workload``)
    and the folder of the file naming them (searched after PYTHONPATH), or none."""

    names: tuple[str, ...] = ()
    folder: str | None = None


def load_plugins(plugins: Plugins | None) -> None:
    """Import the modules of a workload's ``plugins`` (a no-op for those already imported); a
    :class:`WorkloadError` naming the one that cannot be."""
    if plugins and plugins.names:
        problem = import_plugins(plugins.names, plugins.folder, beside="the workload file")
        if problem is not None:
            raise WorkloadError(problem)


@dataclass(frozen=True)
class WorkloadSpec:
    """A workload to build: the builder ``model`` name and its ``params`` (validated by the builder's params
    model, defaults filled in); ``file`` is the workload YAML it came from (None when inline or a bare name);
    ``plugins`` the modules its ``plugins:`` named (they register a builder of the user's: a worker process that
    unpickles the spec imports them again, :meth:`__setstate__`)."""

    model: str
    params: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    description: str = ""
    source: Doc | None = field(default=None, compare=False, repr=False)  # where each parameter was written
    # the experiment's other command-line overrides (--set arch.cores=4096, --set options.memory_budget=1GiB), as
    # given: a mapping error may lie in them as well
    elsewhere: tuple[str, ...] = field(default=(), compare=False, repr=False)
    # where the experiment set options.memory_budget ("exp.yaml:3", "--set options.memory_budget=64MiB"), for a
    # refusal of the budget; "" when it was not set
    budget_at: str = field(default="", compare=False, repr=False)
    plugins: Plugins = field(default_factory=Plugins, compare=False, repr=False)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled in another process (a sweep's worker): the modules of :attr:`plugins` register the user's
        builder there too, before anything looks the model up. One that cannot be imported there (it was in the
        process that loaded the spec) is left to the lookup's "unknown workload" error."""
        self.__dict__.update(state)
        with contextlib.suppress(WorkloadError):
            load_plugins(self.plugins)

    def resolved(self) -> dict[str, Any]:
        """``{"model": ..., "params": {...}}`` as plain JSON-able values."""
        return {"model": self.model, "params": jsonable(self.params)}

    def located(self, err: WorkloadError, *, every: bool = False) -> AccelsimError:
        """``err``, raised building this workload, as a one-line ConfigError at the file, line and key of the
        parameter it names (``err.key``: a hand-written layer list's layer), or ``err`` itself when it names none
        or the spec does not know where its parameters were written. The command-line overrides of its parameters
        are named with it; with ``every`` the experiment's arch and options overrides too (:attr:`elsewhere`: a
        workload too big for the arch or the memory budget)."""
        if self.source is None:
            return err
        if err.key:
            key = err.key
            if getattr(err, "also", ()) and len(key) == 1:  # the involved parameter set last (a tie: err.key)
                key = (self.latest([str(key[0]), *err.also])[0],)
            issue = self.source.issue(key, err.detail)
        elif not err.arch_key and ":" in getattr(BUILDERS.get(self.model), "fn_ref", ""):
            # a registered builder's error naming none of its params: at the model line of its workload's file
            # (probe p47 #5); a mapping given in Python has no line, and keeps its WorkloadError
            issue = self.source.issue(("model",), err.detail)
            if issue.line is None:
                return err
        else:
            return err
        given = self.overridden() + (list(self.elsewhere) if every else [])
        if given and issue.file != SET_LABEL:  # the fault may lie in a command-line value: name them
            issue = replace(issue, msg=issue.msg + given_note(given))
        return ConfigError([issue])

    def latest(self, keys: Sequence[str]) -> tuple[str, int]:
        """Of the parameters ``keys``, the one set most recently (:func:`_recency`: --set over a file over a preset
        over a default; a tie: the first listed) and that rank; ``(keys[0], 0)`` when the spec does not know where
        its parameters were written."""
        if self.source is None or not keys:
            return (keys[0] if keys else ""), 0
        ranks = [(_recency(self.source, self.source.data, (k,)), -i, k) for i, k in enumerate(keys)]
        rank, _, key = max(ranks)
        return key, rank

    def overridden(self) -> list[str]:
        """The parameters a command-line override (``--set``) gave, as ``--set workload.seq_len=4096``, in the
        order they were written; empty when none did or the spec does not know where its parameters came from."""
        if self.source is None:
            return []
        out = []
        for path, w in self.source.where.items():
            if w.file == SET_LABEL and len(path) == 1 and path[0] in self.params:
                key = ".".join(str(k) for k in (*w.prefix, *path))
                out.append(f"{SET_LABEL} {key}={clip(str(self.params[path[0]]), MAX_VALUE_CHARS)}")
        return out


@dataclass(frozen=True)
class ExperimentSpec:
    """One validated experiment: which workload runs on which arch with which options, and where it came from.

    ``source`` is the experiment file's path, or "<cli>" for ``accelsim run --workload W --arch A``;
    ``output`` is the default output folder written in the file (None if not given).
    """

    name: str
    workload: WorkloadSpec
    arch: Arch
    options: Options = field(default_factory=Options)
    description: str = ""
    output: str | None = None
    source: str = "<cli>"
    # where each arch value was written (the experiment file, its arch preset, a --set, a sweep's axis line), so
    # that a run that fails on an arch value (a scratchpad or memory too small) names that key
    # (:func:`accelsim.scenarios.run_workload`)
    arch_source: Doc | None = field(default=None, compare=False, repr=False)

    def resolved(self) -> dict[str, Any]:
        """Everything resolved as a plain JSON-able dict (presets expanded, overrides applied, defaults filled):
        the input to a sweep point's stable id. ``source`` is left out so that a moved file hashes the same."""
        return {
            "name": self.name,
            "description": self.description,
            "workload": self.workload.resolved(),
            "arch": jsonable(self.arch.model_dump()),
            "options": jsonable(self.options.model_dump()),
            "output": self.output,
        }


def jsonable(value: Any) -> Any:
    """``value`` as JSON-safe builtins: dicts with str keys, lists, finite floats or "inf"/"-inf"/"nan"."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "value") and isinstance(value.value, (str, int)):  # enums
        return value.value
    return str(value)


# ---- pydantic errors → issues ------------------------------------------------------------------------------------
def _model_in(annotation: Any, value: Any = None) -> type[BaseModel] | None:
    """The pydantic model class inside ``annotation`` (through Optional, Union and Annotated), if any; of a union of
    models (a discriminated one: ``model: layers``' layer types), the one that the mapping ``value`` stands for by
    its tag (:func:`_pick_model`: probe p89 #2, a misspelt key of an lstm layer was told Conv2d's fields), else the
    first."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0], value)
    if origin is typing.Union or origin is types.UnionType:
        found = [m for arg in typing.get_args(annotation) if (m := _model_in(arg, value)) is not None]
        if len(found) > 1 and isinstance(value, dict):
            picked = _pick_model(found, value)
            if picked is not None:
                return picked
        return found[0] if found else None
    return None


def _container_item(annotation: Any) -> Any:
    """The item type of a dict/list annotation (through Optional), or None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _container_item(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(annotation):
            item = _container_item(arg)
            if item is not None:
                return item
        return None
    if origin in (dict, typing.Dict, typing.Mapping):  # noqa: UP006
        return typing.get_args(annotation)[1] if typing.get_args(annotation) else Any
    if origin in (list, tuple, typing.List, typing.Sequence):  # noqa: UP006
        args = typing.get_args(annotation)
        return args[0] if args else Any
    return None


def field_names_at(model: type[BaseModel], loc: tuple, data: Any = None) -> list[str]:
    """Field names of the model reached from ``model`` by the key path ``loc`` (empty if not a model); a core's unit
    of a registered kind (a field typed bare ``BaseModel``) gives ``kind`` and its spec's fields, and a member of a
    union of models (a layer list's layer) the fields of the one its tag names, both read from ``data`` (the
    document ``loc`` is a path in)."""
    annotation, raw = _annotation_at(model, loc, data)
    cls = _model_in(annotation, raw)
    if cls is BaseModel and data is not None:
        spec = unit_spec_model(raw)
        return ["kind", *_accepted_keys(spec)] if spec is not None else []
    return _accepted_keys(cls) if cls is not None else []


def _step(raw: Any, key: Any) -> Any:
    """The value at ``key`` of the mapping or list ``raw``, or None."""
    if isinstance(raw, dict):
        return raw.get(key)
    if isinstance(raw, (list, tuple)) and isinstance(key, int) and -len(raw) <= key < len(raw):
        return raw[key]
    return None


def _annotation_at(model: type[BaseModel], loc: tuple, data: Any = None) -> tuple[Any, Any]:
    """The annotation the key path ``loc`` reaches from ``model`` (through models and containers), or None, and the
    value of ``data`` at ``loc`` (None where it has none): a union of models is walked into the member the data
    stands for (:func:`_model_in`)."""
    current: Any = model
    raw = data
    i = 0
    while i < len(loc):
        cls = _model_in(current, raw)
        if cls is None or cls is BaseModel:
            return None, None
        info = cls.model_fields.get(str(loc[i]))
        if info is None:
            return None, None
        current = info.annotation
        raw = _step(raw, loc[i])
        i += 1
        if _model_in(current) is None:
            item = _container_item(current)
            if item is not None and i < len(loc):
                current = item
                raw = _step(raw, loc[i])
                i += 1
    return current, raw


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a union ``annotation`` (through Optional and Annotated) joins; [] for other types."""
    members, _ = _unwrap(annotation)
    return [t for t in members if isinstance(t, type) and issubclass(t, BaseModel) and t is not BaseModel]


def _tag_of(cls: type[BaseModel], value: dict) -> tuple[str, Any] | None:
    """The discriminator of member ``cls`` of a union: its Literal field that ``value`` has, and the field's first
    tag (its own name: ``("type", "lstm")``), or None."""
    for k, info in cls.model_fields.items():
        if typing.get_origin(info.annotation) is typing.Literal and k in value:
            return k, typing.get_args(info.annotation)[0]
    return None


def _other_members_taking(model: type[BaseModel], loc: tuple, key: str, data: Any) -> str:
    """Where ``loc`` reaches a mapping that is one member of a tagged union of models (a layer of ``model: layers``)
    and ``key`` is not one of its keys but is one of other members': a hint naming them ("; proj_size is a key of
    lstm, not gru"), else ""."""
    annotation, raw = _annotation_at(model, loc, data)
    models = _models_of(annotation)
    if len(models) < 2 or not isinstance(raw, dict):
        return ""
    own = _pick_model(models, raw)
    own_tag = _tag_of(own, raw) if own is not None else None
    if own_tag is None:
        return ""
    others = [tag[1] for cls in models if cls is not own and key in _accepted_keys(cls)
              and (tag := _tag_of(cls, raw)) is not None and tag[0] == own_tag[0]]
    if not others:
        return ""
    return f"; {key} is a key of {', '.join(map(str, others))}, not {raw[own_tag[0]]}"  # (as the user spelt it)


def _accepted_keys(cls: type[BaseModel]) -> list[str]:
    """The keys a model accepts: each field's name, or the names its validation alias allows."""
    keys: list[str] = []
    for name, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            keys += [c for c in alias.choices if isinstance(c, str)]
        elif isinstance(alias, str):
            keys.append(alias)
        else:
            keys.append(name)
    return keys


def _message(err: dict) -> str:
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


MAX_KEYS_LISTED = 24
"""The most keys an unknown key's error lists, where none is close to it (a builder's parameters, an arch level's)."""


def _added_by_command_line(doc: Doc, section: tuple) -> bool:
    """Whether the mapping at ``section`` exists only because a ``--set`` / ``--sweep`` item wrote a key inside it
    (its place is that item's label, no line): the document itself had none."""
    w = doc.where.get(section)
    return w is not None and w.line is None and w.file is not None and str(w.file).startswith("-")


def _show_value(err: dict) -> tuple[bool, object]:
    """Whether to print the given value, and the value (not for missing keys or whole mappings)."""
    if err.get("type") == "missing" or "input" not in err:
        return False, None
    value = err["input"]
    if isinstance(value, dict):
        return False, None
    if isinstance(value, (list, tuple)) and len(repr(value)) > 80:
        return False, None
    return True, value


def _data_path(data: Any, loc: tuple) -> tuple:
    """``loc`` without the segments pydantic adds that are not keys of the data (union member names such as
    'int' or 'tuple[int, int]'); the last segment is kept (a missing or unknown key)."""
    out = []
    node = data
    for i, k in enumerate(loc):
        if isinstance(node, dict) and k not in node and isinstance(k, str):
            # a key that is not a string or int (null:, true:) is in loc as its str(): the key itself, so its
            # line is found (probe p132 #5: "null: 2" on line 2 was blamed on line 1)
            k = next((key for key in node if not isinstance(key, (str, int)) and str(key) == k), k)
        if isinstance(node, dict) and k in node:
            node = node[k]
        elif isinstance(node, (list, tuple)) and isinstance(k, int) and 0 <= k < len(node):
            node = node[k]
        elif i < len(loc) - 1 or (isinstance(k, str) and ("[" in k or k.startswith("function-"))):
            continue
        out.append(k)
    return tuple(out)


_KEY_PREFIX = re.compile(r"^([\w\-]+(?:\.[\w\-]+)+|[\w\-]+): (.+)$")


def _named_key(data: Any, loc: tuple, msg: str) -> tuple[tuple, str]:
    """A model-wide error (``loc`` under the model itself) whose message starts with the dotted key it is about
    (``"hbm.latency: ..."``) is moved to that key when the data has it, so it names the file and line of the value."""
    m = _KEY_PREFIX.match(msg)
    if m is None:
        return loc, msg
    path = tuple(int(p) if p.isascii() and p.isdigit() else p for p in m.group(1).split("."))
    node = data
    for k in loc:  # the message's key is relative to the model the error is at
        if not isinstance(node, dict) or k not in node:
            return loc, msg
        node = node[k]
    for k in path:
        if isinstance(node, dict) and k in node:
            node = node[k]
        elif isinstance(node, list) and isinstance(k, int) and 0 <= k < len(node):
            node = node[k]
        else:
            return loc, msg
    return (*loc, *path), m.group(2)


def _is_preset(file: str) -> bool:
    """Whether ``file`` is one of the shipped preset files (arch, workloads, experiments)."""
    try:
        path = Path(file).resolve()
    except (OSError, ValueError):
        return False
    return any(path.is_relative_to(preset_dir(kind).resolve()) for kind in ("arch", "workloads", "experiments"))


def _given(data: Any, path: tuple) -> bool:
    """Whether ``data`` holds a value at key ``path`` (a user wrote it, not a default)."""
    node = data
    for k in path:
        if not isinstance(node, dict) or k not in node:
            return False
        node = node[k]
    return True


def _recency(doc: Doc, written: Any, path: tuple) -> int:
    """How recently the value at ``path`` was set, the layers of an experiment in the order they apply: 0 a default
    (not written), 1 a shipped preset file, 2 a file of the user's (or a mapping from Python), 3 a command-line
    override (``--set``) or a sweep axis (the overrides: a source without a line)."""
    if not _given(written, path):
        return 0
    w = doc.where.get(path) or doc.locate(path)[0]
    if w.file is None or w.file.startswith("<"):
        return 2
    if w.line is None and path in doc.where:
        return 3
    return 1 if _is_preset(w.file) else 2


def given_note(given: Sequence[str]) -> str:
    """The command-line values an error involves, after its message: " (command line: --set a=1, --set b=2)",
    worded as context, not as a remedy (probe p98 #5: "what can make them fit: more tensor parallelism (with --set
    workload.tensor_parallel=8)" read as the fix); "" for none."""
    return f" (command line: {', '.join(given)})" if given else ""


def set_rank(doc: Doc, path: tuple) -> int:
    """How recently the value at ``path`` of ``doc`` was set (:func:`_recency`: 0 a default ... 3 a --set)."""
    return _recency(doc, doc.data, path)


def _blame(doc: Doc, written: Any, model: type[BaseModel], loc: tuple, msg: str, value: object,
           root: tuple) -> tuple[tuple, str, object, str | None] | None:
    """A cross-field error moved to the key the user changed last: when ``msg`` (about the key at ``loc``) names
    sibling keys of the same model (``kv_heads``: "must divide heads (8)"), the involved key set most recently
    (:func:`_recency`: --set over a file over a preset over a default; a tie keeps ``loc``) is the one reported,
    and the message names the other side's value and where it came from. Returns ``(loc, msg, value, key)``, the
    key in its dotted ``--set`` form under ``root`` (``workload.heads``), or None when ``msg`` names no sibling.
    Reported at its own key, an options message names each sibling it quotes with a value ("max_tiles_per_op (16)")
    in its ``--set`` form with the value's origin ("options.max_tiles_per_op (16, the default)")."""
    if not loc or not isinstance(loc[-1], str):
        return None
    siblings = [n for n in field_names_at(model, loc[:-1], doc.data)
                if n != loc[-1] and re.search(rf"\b{re.escape(n)}\b", msg)]
    involved = [(*loc[:-1], n) for n in siblings if _given(doc.data, (*loc[:-1], n))]
    dotted = lambda p: ".".join(str(k) for k in (*root, *p)) if root else doc.locate(p)[1]  # noqa: E731

    def origin(p: tuple) -> str:
        if _recency(doc, written, p) == 0:
            return "the default"
        w = doc.where.get(p) or doc.locate(p)[0]
        return f"from {w.file or '<input>'}{f':{w.line}' if w.line is not None else ''}"  # (None: a mapping)
    best = max(involved, key=lambda p: _recency(doc, written, p)) if involved else loc
    if _recency(doc, written, best) <= _recency(doc, written, loc):
        # the check's own key: each other key it names with its value, "NAME (VALUE)", in its --set form with
        # where that value came from ("options.max_tiles_per_op (16, the default)"); options only, so far (the
        # builders' messages name their siblings bare)
        named = msg
        for n in siblings if root == ("options",) else ():
            p = (*loc[:-1], n)
            named = re.sub(rf"(?<![\w.]){re.escape(n)} \(([^()]*)\)",
                           lambda m, p=p: f"{dotted(p)} ({m.group(1)}, {origin(p)})", named, count=1)
        return (loc, named, value, dotted(loc)) if involved or named != msg else None
    node: Any = doc.data
    for k in best:
        node = node[k]
    return best, f"{dotted(loc)} ({clip(repr(value), MAX_VALUE_CHARS)}, {origin(loc)}) {msg}", node, dotted(best)


def _pair_key(doc: Doc, written: Any, loc: tuple, error: KeyPairError) -> tuple[tuple, str]:
    """Where a rule between two keys of the model at ``loc`` goes (:class:`~accelsim.errors.KeyPairError`): at the
    key set last by :func:`_recency` (``--set: arch.energy.tdp`` over the preset's ``idle_power`` line, a user's
    file over the preset it names as ``base:``), else (both at one level) at the first; its message names the other
    value's source. Returns the key's path and the message."""
    def path(key: str) -> tuple:
        return (*loc, *(int(k) if k.isascii() and k.isdigit() else k for k in key.split(".")))

    blamed = max(error.messages, key=lambda k: _recency(doc, written, path(k)))  # a tie: the first
    others = [doc.where.get(path(k)) or doc.locate(path(k))[0] for k in error.messages
              if k != blamed and _given(written, path(k))]
    at = "".join(f", {w.file}:{w.line}" if w.line is not None else f", {w.file}" for w in others if w.file)
    return path(blamed), error.messages[blamed].replace(KeyPairError.OTHER_AT, at)


def _holding_field(model: type[BaseModel], data: Any, path: tuple) -> tuple[int, FieldInfo | None]:
    """The position in ``path`` of the key of the model field it is in (the last string key: ``shapes`` of
    ``arch.core.tile.shapes.0``) and that field's FieldInfo (None where no model holds it)."""
    i = max((j for j, k in enumerate(path) if isinstance(k, str)), default=0)
    parent, raw = _annotation_at(model, path[:i], data) if i else (model, data)
    cls = _model_in(parent, raw)  # of a union of models (a layer list's types), the one the data stands for
    return i, cls.model_fields.get(str(path[i])) if cls is not None and cls is not BaseModel else None


def _tuple_sizes(annotation: Any, info: FieldInfo | None) -> list[int]:
    """The lengths a fixed-length tuple field takes (of each tuple member of a union: ``tuple[int, int] | tuple[int,
    int, int]`` takes 2 or 3), smallest first; [] for no fixed-length tuple, or one that a custom validator reads
    first (its own message says what it takes: a layer's ``padding``, "an int >= 0 or a pair [h, w] of them")."""
    members, custom = _unwrap(annotation)
    if custom or (info is not None and any(isinstance(m, _CUSTOM) for m in info.metadata)):
        return []
    return sorted({len(args) for t in members if typing.get_origin(t) is tuple
                   and (args := typing.get_args(t)) and Ellipsis not in args})


def _tuple_error(model: type[BaseModel], data: Any, loc: tuple, kind: str) -> tuple[tuple, str | None] | None:
    """An error at or under a list given for a fixed-length tuple field (``input_size``, an item of
    ``efficiency_by_size`` or of ``core.tile.shapes``), as one line about the list: where its length is none the
    field takes (pydantic reports each absent item, and each member of a union of lengths: "at most 2 items", "at
    most 3 items"), ``(path, "NAME [item I] needs N [or M] values (what), got K: [...]")``, the what the field's
    description up to its first parenthesis (which names them: "Input D, H, W voxels"); where the length is one it
    takes, ``(path, None)`` for an error that only another member's length gives (an absent item past the end,
    "at most 2 items"), to drop. None for any other error, and for a validator's own message on the list (a layer's
    inputs: "expected 2 layer names, not 1"). Probe p150 #3; p162 #4: an item of a list was named by its index ("1
    needs 2 values"), and a union of lengths gave two contradictory lines."""
    for n in range(1, len(loc) + 1):
        path = loc[:n]
        annotation, given = _annotation_at(model, path, data)
        if not isinstance(given, (list, tuple)) or annotation is None:
            continue
        i, info = _holding_field(model, data, path)
        sizes = _tuple_sizes(annotation, info)
        if not sizes:
            continue
        if kind == "value_error" and len(loc) == n:  # a validator's own message on the list (a layer's inputs)
            return None
        if len(given) not in sizes:
            about = re.split(r" \(|; ", info.description)[0].rstrip(".") if info and info.description else ""
            items = ".".join(str(k) for k in path[i + 1:])
            need = f"{', '.join(map(str, sizes[:-1]))} or {sizes[-1]}" if len(sizes) > 1 else str(sizes[0])
            return path, (f"{path[i]}{f' item {items}' if items else ''} needs {need} "
                          f"value{'' if sizes == [1] else 's'}{f' ({about})' if about else ''}, "
                          f"got {len(given)}: {list(given)}")
        past_end = (kind == "missing" and len(loc) == n + 1 and isinstance(loc[n], int)
                    and not isinstance(loc[n], bool) and loc[n] >= len(given))
        if past_end or (kind in ("too_long", "too_short") and len(loc) == n):
            return path, None
    return None


def issues_from_validation(error: ValidationError, doc: Doc, model: type[BaseModel], *, root: tuple = (),
                           written: Any = None) -> list[ConfigIssue]:
    """One :class:`ConfigIssue` per pydantic error, located through ``doc``'s provenance; unknown keys get a
    "did you mean" from ``model``'s field names at that level. A cross-field error is reported at the involved
    key set last (:func:`_blame`), named in its dotted form under ``root`` (``("workload",)``); ``written`` is the
    data as the user gave it (default ``doc.data``: a second pass over the defaults passes the first's)."""
    issues = []
    seen = set()
    written = doc.data if written is None else written
    for err in error.errors(include_url=False):
        loc = _data_path(doc.data, tuple(err.get("loc", ())))
        msg = _message(err)
        pair = (err.get("ctx") or {}).get("error")
        if isinstance(pair, IssuesError) and err.get("type") == "value_error":  # several, some located already
            # and a Hugging Face config's rules between two keys, each at its key set last (probe p96 #3)
            ranked = [_pair_key(doc, written, loc, p) for p in getattr(pair, "pairs", ())
                      if isinstance(p, KeyPairError)]
            for issue in [*(doc.issue(at, msg) for at, msg in ranked),
                          *(doc.issue((*loc, *path), msg) for path, msg in pair.keyed), *pair.issues]:
                if str(issue) not in seen:
                    seen.add(str(issue))
                    issues.append(issue)
            continue
        paired = isinstance(pair, KeyPairError) and err.get("type") == "value_error"
        if paired:
            loc, msg = _pair_key(doc, written, loc, pair)
        else:
            loc, msg = _named_key(doc.data, loc, msg)
        if err.get("type") == "extra_forbidden" and loc:
            names = field_names_at(model, loc[:-1], doc.data)
            # no close name: the keys it takes, where they are few enough for one line (probe p84 #6: "steps" on
            # vit_b_16 got a bare "Extra inputs are not permitted"); a key of another layer type: that type's name
            # and this one's keys (probe p89 #2: proj_size on a gru)
            elsewhere = _other_members_taking(model, loc[:-1], str(loc[-1]), doc.data)
            takes = f"; it takes {', '.join(sorted(names))}" if 0 < len(names) <= MAX_KEYS_LISTED else ""
            msg += elsewhere + takes if elsewhere else suggest(str(loc[-1]), names) or takes
        elif (shaped := _tuple_error(model, doc.data, loc, str(err.get("type")))) is not None:
            # probe p150 #3: [116, 132] for unet3d's input_size read "input_size.2: missing: the command line's
            # input_size has no 2 (a mapping given whole ...)"; pydantic reports each absent item of a fixed tuple,
            # and each member of a union of lengths (probe p162 #4): one line on the list, or none
            at, text = shaped
            issue = doc.issue(at, text) if text is not None else None
            if issue is not None and str(issue) not in seen:
                seen.add(str(issue))
                issues.append(issue)
            continue
        elif err.get("type") == "missing" and len(loc) > 1 and _added_by_command_line(doc, loc[:-1]):
            # probe p83 #7: --set arch.l2.capacity on gemmini (no L2) read "arch.l2.bandwidth: Field required"
            section = ".".join(map(str, loc[:-1]))
            if any(len(p) > len(loc) - 1 and p[:len(loc) - 1] == loc[:-1] for p in doc.where):
                msg = (f"missing: the file has no {section}, so the command line's key inside it adds a new one, "
                       f"which needs {loc[-1]} too")
            else:  # --set core.systolic={} gave the mapping itself (probe p132 #6: "the file has no" was untrue)
                msg = (f"missing: the command line's {section} has no {loc[-1]} (a mapping given whole replaces the "
                       f"file's; --set a key inside it to change that key alone)")
        show, value = _show_value(err)
        if show and not paired and err.get("type") != "extra_forbidden":
            blamed = _blame(doc, written, model, loc, msg, value, root)
            if blamed is not None:
                at, text, shown, key = blamed
                w, _ = doc.locate(at)
                issue = ConfigIssue(w.file, w.line, key or "", text, shown, True)
                if str(issue) not in seen:
                    seen.add(str(issue))
                    issues.append(issue)
                continue
        issue = doc.issue(loc, msg, value) if show else doc.issue(loc, msg)
        if str(issue) not in seen:
            seen.add(str(issue))
            issues.append(issue)
    return issues


# ---- numbers: no booleans, nothing non-finite, nothing beyond 64 bits ----------------------------------------------
# pydantic's lax mode takes ``true`` for 1, "inf" and "nan" for floats and any Python int; a config value that is a
# number must be a real one. The check walks the data along the model's annotations, so it covers every numeric field
# of the arch, the options and each workload's params model alike (and the layer models of ``model: layers``).
_CUSTOM = (BeforeValidator, PlainValidator, WrapValidator)
_NUMBER_KINDS = (int, float)


def _unwrap(annotation: Any) -> tuple[list[Any], bool]:
    """The member types of ``annotation`` (through Annotated, Optional and Union) and whether a custom validator
    (a units parser, a pair validator) reads the value first."""
    custom = False
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        members, inner = _unwrap(base)
        return members, inner or any(isinstance(m, _CUSTOM) for m in meta)
    if origin is typing.Union or origin is types.UnionType:
        members: list[Any] = []
        for arg in typing.get_args(annotation):
            sub, c = _unwrap(arg)
            members += sub
            custom = custom or c
        return members, custom
    return [annotation], custom


def _parses_time(metadata: list[Any] | tuple[Any, ...]) -> bool:
    """Whether ``metadata`` (an Annotated's, or a model field's) reads the value as a time (:func:`parse_time`)."""
    return any(isinstance(m, BeforeValidator) and m.func is parse_time for m in metadata)


def _is_time(annotation: Any) -> bool:
    """Whether ``annotation`` (through Optional and Union) is a time read by :func:`parse_time`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return _parses_time(meta) or _is_time(base)
    if origin is typing.Union or origin is types.UnionType:
        return any(_is_time(arg) for arg in typing.get_args(annotation))
    return False


_RATES = {parse_frequency: "clock", parse_bandwidth: "bandwidth"}


def _parses_rate(metadata: list[Any] | tuple[Any, ...]) -> str | None:
    """"clock" or "bandwidth" where ``metadata`` reads the value with :func:`parse_frequency` /
    :func:`parse_bandwidth`, else None."""
    return next((_RATES[m.func] for m in metadata if isinstance(m, BeforeValidator) and m.func in _RATES), None)


def _rate_of(annotation: Any) -> str | None:
    """"clock" or "bandwidth" where ``annotation`` (through Optional and Union) is read by :func:`parse_frequency`
    / :func:`parse_bandwidth`, else None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return _parses_rate(meta) or _rate_of(base)
    if origin is typing.Union or origin is types.UnionType:
        return next((r for arg in typing.get_args(annotation) if (r := _rate_of(arg))), None)
    return None


BARE_TIME = "a time needs its unit, e.g. '100ns' (s, ms, us (µs), ns, ps, min or h): only 0 may be written without one"


def _is_number_type(t: Any) -> bool:
    return t in _NUMBER_KINDS


def _accepts(members: list[Any], value: object) -> bool:
    """True if a member other than a number type takes ``value`` as it is (``bool``, ``str``, ``Any``, a Literal)."""
    for t in members:
        if t is Any or (isinstance(t, type) and not _is_number_type(t) and isinstance(value, t)):
            return True
        if typing.get_origin(t) is typing.Literal and value in typing.get_args(t):
            return True
    return False


def _field_of(cls: type[BaseModel], key: object) -> Any:
    """The field of ``cls`` that data key ``key`` fills (by name or validation alias), or None."""
    for name, info in cls.model_fields.items():
        alias = info.validation_alias
        names = ([c for c in alias.choices if isinstance(c, str)] if isinstance(alias, AliasChoices)
                 else [alias] if isinstance(alias, str) else [name])
        if key in names:
            return info
    return None


def _pick_model(members: list[Any], value: dict) -> type[BaseModel] | None:
    """The model among ``members`` that a mapping ``value`` stands for: the only one, or the one whose Literal
    fields (a discriminator such as a layer's ``type``) match; for a bare ``BaseModel`` (a core's ``units``), the
    spec model of the registered unit kind the mapping names."""
    if BaseModel in members:
        return unit_spec_model(value)
    models = [t for t in members if isinstance(t, type) and issubclass(t, BaseModel) and t is not BaseModel]
    if len(models) <= 1:
        return models[0] if models else None
    for cls in models:
        tags = [(k, info.annotation) for k, info in cls.model_fields.items()
                if typing.get_origin(info.annotation) is typing.Literal and k in value]
        if tags and all(value[k] in typing.get_args(a) for k, a in tags):
            return cls
    return None


def _number_problem(members: list[Any], custom: bool, value: object) -> str | None:
    """What is wrong with scalar ``value`` where ``members`` are expected, if a number is expected and it is not a
    real one; None otherwise."""
    if not any(_is_number_type(t) for t in members) or _accepts(members, value):
        return None
    if isinstance(value, bool):
        return "expected a number, not a boolean"
    whole = int in members and float not in members
    if (isinstance(value, int) or (whole and isinstance(value, float) and math.isfinite(value))) \
            and abs(value) > MAX_INT:
        return f"number too large (the limit is {MAX_INT:,}, 2**63 - 1)"
    if custom:  # a units parser decides about strings and infinities ("inf" is a valid bandwidth)
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "expected a finite number"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        if not math.isfinite(number):
            return "expected a finite number"
    return None


def number_issues(annotation: Any, value: object, path: tuple = (), *, custom: bool = False, timed: bool = False,
                  times: list[tuple[tuple, str, object]] | None = None,
                  rate: str | None = None) -> list[tuple[tuple, str, object]]:
    """``(path, message, value)`` for each value under ``value`` that stands where ``annotation`` expects a number
    and is a boolean, a non-finite float (or a string that reads as one) or an int beyond 64 bits. ``custom``: a
    custom validator reads the value first; ``timed``: it reads a time; ``rate``: it reads a clock or a bandwidth
    (all given for a model field, whose metadata pydantic keeps apart). ``times``, when given, receives each time
    written as a number without its unit (other than 0: :func:`accelsim.units.bare_time`) and each clock or
    bandwidth written as a number too small to be meant without one (:func:`accelsim.units.unitless_rate`), which
    the caller refuses where the value was written (a dumped arch's numbers are taken as they are)."""
    members, inner = _unwrap(annotation)
    custom = custom or inner
    timed = timed or _is_time(annotation)
    rate = rate or _rate_of(annotation)
    out: list[tuple[tuple, str, object]] = []
    if isinstance(value, dict):
        cls = _pick_model(members, value)
        if cls is not None:
            for key, item in value.items():
                info = _field_of(cls, key)
                if info is not None:
                    out += number_issues(info.annotation, item, (*path, key),
                                         custom=any(isinstance(m, _CUSTOM) for m in info.metadata),
                                         timed=_parses_time(info.metadata), times=times,
                                         rate=_parses_rate(info.metadata))
            return out
        for t in members:
            if typing.get_origin(t) in (dict, typing.Dict, typing.Mapping):  # noqa: UP006
                args = typing.get_args(t)
                item_type = args[1] if len(args) == 2 else Any
                for key, item in value.items():
                    out += number_issues(item_type, item, (*path, key), times=times)
                return out
        return out
    if isinstance(value, (list, tuple)):
        for t in members:
            origin, args = typing.get_origin(t), typing.get_args(t)
            if origin in (list, typing.List, typing.Sequence, set, frozenset) and args:  # noqa: UP006
                for i, item in enumerate(value):
                    out += number_issues(args[0], item, (*path, i), times=times)
                return out
            if origin is tuple and args:
                positional = not (len(args) == 2 and args[1] is Ellipsis)
                if positional and len(args) != len(value):
                    continue
                for i, item in enumerate(value):
                    out += number_issues(args[i] if positional else args[0], item, (*path, i), times=times)
                return out
        return out
    problem = _number_problem(members, custom, value)
    if problem is not None:
        out.append((path, problem, value))
    elif timed and times is not None and bare_time(value):
        times.append((path, BARE_TIME, value))
    elif rate and times is not None and (why := unitless_rate(value, rate)) is not None:
        times.append((path, why, value))
    return out


def _written(doc: Doc, path: tuple) -> bool:
    """Whether the value at ``path`` was written in a file or on the command line (``--set``, ``--sweep``, a sweep
    file's axis), not given as a mapping from Python (no file, or ``<input>``), where numbers are in base units."""
    file = doc.locate(path)[0].file
    return file is not None and not file.startswith("<")


def validate(model: type[BaseModel], doc: Doc, *, root: tuple = (), **context: Any) -> tuple[Any, list[ConfigIssue]]:
    """``model`` validated from ``doc.data``: ``(instance, [])``, or ``(None, issues)``. A number that is not a real
    one (:func:`number_issues`) is an issue too, reported with whatever pydantic finds elsewhere, and so is a time
    other than 0 written without its unit in a file or on the command line (:data:`BARE_TIME`)."""
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        return None, [doc.issue((), f"expected a mapping of {model.__name__} keys", data)]
    times: list[tuple[tuple, str, object]] = []
    numbers = [doc.issue(path, msg, value) for path, msg, value in number_issues(model, data, times=times)]
    numbers += [doc.issue(path, msg, value) for path, msg, value in times if _written(doc, path)]
    try:
        instance = model.model_validate(data, context=context or None)
    except ValidationError as e:
        flagged = {(i.file, i.line, i.key) for i in numbers}
        rest = [i for i in issues_from_validation(e, doc, model, root=root) if (i.file, i.line, i.key) not in flagged]
        return None, capped(numbers + rest, doc)
    return (None, capped(numbers, doc)) if numbers else (instance, [])


MAX_ISSUES = 50  # problems printed per document; a 200,000-item list of bad values is one line per item otherwise


def capped(issues: list[ConfigIssue], doc: Doc) -> list[ConfigIssue]:
    """The first :data:`MAX_ISSUES` of ``issues`` (a document's), then one counting the rest: in ``doc``'s file with
    no line, so that sorting by line (:meth:`.docs.Issues.raise_if_any`) leaves it after them (probe p94 #5: at the
    document's first line it was printed first, reading like the first problem)."""
    if len(issues) <= MAX_ISSUES:
        return issues
    more = replace(doc.issue((), f"{len(issues) - MAX_ISSUES:,} more problems not shown"), line=None)
    return [*issues[:MAX_ISSUES], more]


__all__ = ["EXPERIMENT_KEYS", "ExperimentSpec", "WorkloadSpec", "issues_from_validation", "jsonable", "validate",
           "Arch", "Options"]
