"""The validated values config produces (:class:`WorkloadSpec`, :class:`ExperimentSpec`) and the translation of
pydantic validation errors into one-line :class:`ConfigIssue` s that name the file, line and dotted key.

The arch and options schemas are the pydantic models themselves (:class:`accelsim.hardware.Arch`,
:class:`accelsim.options.Options`); a workload's parameters are validated by its builder's params model.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import AliasChoices, BaseModel, ValidationError

from ..errors import ConfigIssue
from ..hardware import Arch
from ..options import Options
from .presets import suggest
from .yamlio import Doc

EXPERIMENT_KEYS = ("name", "description", "workload", "arch", "options", "output")


@dataclass(frozen=True)
class WorkloadSpec:
    """A workload to build: the builder ``model`` name and its ``params`` (validated by the builder's params
    model, defaults filled in); ``file`` is the workload YAML it came from (None when inline or a bare name)."""

    model: str
    params: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    description: str = ""

    def resolved(self) -> dict[str, Any]:
        """``{"model": ..., "params": {...}}`` as plain JSON-able values."""
        return {"model": self.model, "params": jsonable(self.params)}


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
def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model class inside ``annotation`` (through Optional, Union and Annotated), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
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


def field_names_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the model reached from ``model`` by the key path ``loc`` (empty if not a model)."""
    current: Any = model
    i = 0
    while i < len(loc):
        cls = _model_in(current)
        if cls is None:
            return []
        info = cls.model_fields.get(str(loc[i]))
        if info is None:
            return []
        current = info.annotation
        i += 1
        if _model_in(current) is None:
            item = _container_item(current)
            if item is not None and i < len(loc):
                current = item
                i += 1
    cls = _model_in(current)
    return _accepted_keys(cls) if cls is not None else []


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
        if isinstance(node, dict) and k in node:
            node = node[k]
        elif isinstance(node, (list, tuple)) and isinstance(k, int) and 0 <= k < len(node):
            node = node[k]
        elif i < len(loc) - 1 or (isinstance(k, str) and ("[" in k or k.startswith("function-"))):
            continue
        out.append(k)
    return tuple(out)


def issues_from_validation(error: ValidationError, doc: Doc, model: type[BaseModel]) -> list[ConfigIssue]:
    """One :class:`ConfigIssue` per pydantic error, located through ``doc``'s provenance; unknown keys get a
    "did you mean" from ``model``'s field names at that level."""
    issues = []
    seen = set()
    for err in error.errors(include_url=False):
        loc = _data_path(doc.data, tuple(err.get("loc", ())))
        msg = _message(err)
        if err.get("type") == "extra_forbidden" and loc:
            msg += suggest(str(loc[-1]), field_names_at(model, loc[:-1]))
        show, value = _show_value(err)
        issue = doc.issue(loc, msg, value) if show else doc.issue(loc, msg)
        if str(issue) not in seen:
            seen.add(str(issue))
            issues.append(issue)
    return issues


def validate(model: type[BaseModel], doc: Doc, **context: Any) -> tuple[Any, list[ConfigIssue]]:
    """``model`` validated from ``doc.data``: ``(instance, [])``, or ``(None, issues)``."""
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        return None, [doc.issue((), f"expected a mapping of {model.__name__} keys", data)]
    try:
        return model.model_validate(data, context=context or None), []
    except ValidationError as e:
        return None, issues_from_validation(e, doc, model)


__all__ = ["EXPERIMENT_KEYS", "ExperimentSpec", "WorkloadSpec", "issues_from_validation", "jsonable", "validate",
           "Arch", "Options"]
