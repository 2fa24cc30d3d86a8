"""Resolving configuration documents: a YAML file as a :class:`Doc`, an ``arch:`` or ``workload:`` entry (a preset
name, a path or an inline mapping, with ``base:`` chains merged) as the :class:`Doc` it stands for, and the
:class:`Issues` collected on the way. :mod:`.load` (experiments, archs, workloads) and :mod:`.sweep` build on these.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..builders import BUILDERS
from ..errors import ConfigError, ConfigIssue
from . import presets
from .overrides import deep_merge
from .yamlio import Doc, Where, display_path, load_yaml

_KIND = {"arch": "arch", "workload": "workloads"}


class Issues(list):
    """Issues collected while loading; :meth:`raise_if_any` raises them as one ConfigError."""

    def take(self, error: ConfigError) -> None:
        self.extend(error.issues)

    def raise_if_any(self) -> None:
        """Raise every issue in one ConfigError: grouped by file (in order of first mention), by line within, those
        of a file with no line (a count of the problems not shown) after its others."""
        if self:
            order = {f: i for i, f in reversed(list(enumerate(i.file for i in self)))}
            raise ConfigError(sorted(self, key=lambda i: (order[i.file], i.line is None, i.line or 0)))


def name_problem(name: object) -> str | None:
    """What makes ``name`` (a file's ``name:``, the folder runs/NAME its output goes to without ``output:`` or
    ``-o``) unfit to be one folder name, or None: a path separator, ``.`` or ``..`` would put the output elsewhere
    than in runs/, a NUL byte is no path at all."""
    if not isinstance(name, str) or not name:
        return None
    if "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        return ("expected a plain name, without '/', '\\' or NUL, and not '.' or '..': it names the folder "
                "runs/NAME (give 'output:' or -o for another folder)")
    return None


def output_problem(output: object) -> str | None:
    """What makes a file's ``output:`` (the folder its report is written to) unusable, or None: an empty or blank
    name is refused as ``-o ""`` is, not taken for the default folder (probe p215 #6); a NUL byte is no path at all,
    refused here as other path keys refuse it rather than failing in the folder lock (probe p215 #5)."""
    if not isinstance(output, str):
        return None
    if not output.strip():
        return "an empty folder name; give a folder, or leave output out for the default (runs/NAME)"
    if "\0" in output:
        return "folder not found: a name with a NUL byte is no path"
    return None


FILE_KINDS = {
    "sweep": "a sweep file (it has grid:/zip: axes)",
    "serving": "a serving file (its workload has arrivals)",
    "experiment": "an experiment file (it names workload:/arch:)",
    "workload": "a workload file (it names a model:)",
    "arch": "an arch file (it gives clock:/core:)",
}
"""What each kind :func:`file_kind` tells apart is, as messages name it."""


def file_kind(data: object) -> str | None:
    """The kind of YAML file whose top level is ``data``, a key of :data:`FILE_KINDS`: a sweep has ``grid:`` or
    ``zip:`` axes, a serving file a workload with arrivals, an experiment a ``workload:`` or ``arch:``, a workload
    file a ``model:``, an arch file a ``clock:`` or ``core:``; None when it shows none of these (an empty file, or
    one of ``base:`` and other keys only). The one test ``accelsim run``, ``info``, the arch and workload slots and
    a ``base:`` use to say which file was given where another was expected (probe p215 #3)."""
    if not isinstance(data, dict):
        return None
    if {"grid", "zip"} & set(data):
        return "sweep"
    workload = data.get("workload")
    if isinstance(workload, dict) and "arrival" in workload:
        return "serving"
    if {"workload", "arch"} & set(data):
        return "experiment"
    if "model" in data:
        return "workload"
    if {"clock", "core"} & set(data):
        return "arch"
    return None


_COMMANDS = {"sweep": "sweep", "serving": "serve", "experiment": "run"}


def wrong_kind(data: object, expected: str, shown: str) -> str | None:
    """One line saying what the file ``shown`` (top level ``data``) is when it is of another kind than ``expected``
    (a :data:`FILE_KINDS` key) and how to run it, or None: an experiment as an arch was four lines of "Field
    required" and "Extra inputs" (probe p215 #3)."""
    kind = file_kind(data)
    if kind is None or kind == expected:
        return None
    what = f"{shown} is {FILE_KINDS[kind]}, not {'an' if expected[0] in 'aeiou' else 'a'} {expected} file"
    if kind in _COMMANDS:
        return f"{what}; run it with 'accelsim {_COMMANDS[kind]} {shown}'"
    return f"{what}; name it as the {kind} ({kind}: FILE in an experiment, --{kind} FILE on the command line)"


def top_level_issues(doc: Doc, keys: tuple[str, ...] | list[str]) -> list[ConfigIssue]:
    """Issues of a file's top level: keys not in ``keys`` (with a "did you mean"), and a ``name``,
    ``description`` or ``output`` that is not a string."""
    data = doc.data if isinstance(doc.data, dict) else {}
    out = []
    for key in data:
        if key not in keys:
            hint = presets.suggest(str(key), keys)
            out.append(doc.issue((key,), f"unknown key{hint}" if hint else
                                 f"unknown key; expected one of {', '.join(keys)}", data[key]))
    for key in ("name", "description", "output"):
        if data.get(key) is not None and not isinstance(data[key], str):
            out.append(doc.issue((key,), "expected a string", data[key]))
    problem = name_problem(data.get("name"))
    if problem is not None:
        out.append(doc.issue(("name",), problem, data["name"]))
    problem = output_problem(data.get("output"))
    if problem is not None:
        out.append(doc.issue(("output",), problem, data["output"]))
    from .schema import capped  # (schema imports the builders through hardware: imported when needed)

    return capped(out, doc)  # as schema's per-document cap


def _relocate(error: ConfigError, parent: Doc, key: Any, value: object) -> list[ConfigIssue]:
    """A resolution error (no file/line of its own) re-pointed at where ``key`` is written in ``parent``."""
    out = []
    for issue in error.issues:
        if issue.file is None and issue.line is None:
            out.append(parent.issue((key,), issue.msg, value))
        elif issue.line is None and issue.msg in (presets.FILE_NOT_FOUND, presets.IS_DIRECTORY):
            out.append(parent.issue((key,), issue.msg, value))
        else:
            out.append(issue)
    return out


def _import_doc(form: dict[str, str], parent: Doc, key: Any,
                rel: Path | None) -> tuple[Doc | None, str | None, list[ConfigIssue]]:
    """The workload document of an import form (:func:`.presets.import_form`): an ONNX path must name a file (relative
    to the file that names it, failing that as given). An ONNX form's keys are printed under the key that names it,
    as an inline mapping's are (``workload.dims``, not ``dims``: probe p91 #6); a ``base:`` form's under its
    document's. (A torch form's keep their bare names, ``--workload: factory:``, as tests/unit/test_import_forms.py
    pins.)"""
    where, _ = parent.locate((key,))
    if "path" in form and key != "base":
        where = Where(where.file, where.line, (*where.prefix, key))
    if "path" in form:
        path = Path(form["path"]).expanduser()
        if rel is not None and not path.is_absolute() and (rel / path).is_file():  # relative to the file first
            path = (rel / path).resolve()
        if not path.is_file():
            return None, None, [parent.issue((key,), "ONNX file not found", form["path"])]
        form = {**form, "path": os.fspath(path)}
    return Doc(form, {(): where}), None, []


def file_doc(path: Path) -> tuple[Doc | None, list[ConfigIssue]]:
    """The YAML file ``path`` as a :class:`Doc` (an empty file is an empty mapping): ``(doc, [])``, or ``(None,
    issues)`` when its top level is not a mapping."""
    data, lines = load_yaml(path)
    doc = Doc.from_yaml(data, lines)
    if data is None:
        return Doc({}, doc.where), []
    if not isinstance(data, dict):
        return None, [doc.issue((), "expected a mapping of keys at the top of the file", type(data).__name__)]
    return doc, []


def section_doc(section: str, parent: Doc, key: Any, *,
                chain: tuple[str, ...] = ()) -> tuple[Doc | None, str | None, list[ConfigIssue]]:
    """The document that ``parent[key]`` stands for in ``section`` ("arch" or "workload"): a preset name, a path
    or an inline mapping, with any ``base:`` merged under it. Returns ``(doc, file, issues)``."""
    value = parent.data.get(key) if isinstance(parent.data, dict) else None
    kind = _KIND[section]
    file: str | None = None
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bool):
        where, _ = parent.locate((key,))
        rel = where.folder
        extra = sorted(BUILDERS) if section == "workload" else []
        form = presets.import_form(str(value)) if section == "workload" else None
        if form is not None:
            return _import_doc(form, parent, key, rel)
        try:
            path = presets.resolve(kind, value, relative_to=rel, extra_names=extra)
        except ConfigError as e:
            if section == "workload" and str(value) in extra:  # a builder with no preset file: its defaults
                w, _ = parent.locate((key,))
                if str(value) == "onnx" and key != "base":  # what `-w X.onnx` stands for, its keys printed as that
                    # form's are (:func:`_import_doc`): workload.dims, not dims (probe p96 #6). Other builders'
                    # keep their bare names (tests/unit/test_config.py::test_builder_name_without_preset_file)
                    w = Where(w.file, w.line, (*w.prefix, key))
                return Doc({"model": str(value)}, {(): w}), None, []
            return None, None, _relocate(e, parent, key, str(value))
        resolved = str(path.resolve())
        if resolved in chain:
            return None, None, [parent.issue((key,), "circular base: a preset names itself through 'base:'",
                                             str(value))]
        chain = (*chain, resolved)
        try:
            doc, issues = file_doc(path)
        except ConfigError as e:
            return None, None, list(e.issues)
        if doc is None:
            return None, None, issues
        wrong = wrong_kind(doc.data, section, display_path(path))  # an experiment as the arch: one line, not each
        if wrong is not None:  # of its keys unknown to an arch (probe p215 #3)
            return None, None, [parent.issue((key,), wrong, str(value))]
        file = os.fspath(path)
    elif isinstance(value, dict):
        doc = parent.child(key)
        doc = Doc(dict(value), doc.where)
    else:
        what = "a preset name, a file path or a mapping" + (" with 'model:'" if section == "workload" else "")
        if value is None and key not in (parent.data or {}):
            return None, None, [parent.issue((key,), f"missing: give {what}")]
        return None, None, [parent.issue((key,), f"expected {what}", value)]
    if isinstance(doc.data, dict) and "base" in doc.data:
        base_doc, _, issues = section_doc(section, doc, "base", chain=chain)
        if base_doc is None:
            return None, file, issues
        data = {k: v for k, v in doc.data.items() if k != "base"}
        where = {p: w for p, w in doc.where.items() if p[:1] != ("base",)}
        doc = deep_merge(base_doc, Doc(data, where))
    return doc, file, []


__all__ = ["FILE_KINDS", "Issues", "file_doc", "file_kind", "output_problem", "section_doc", "top_level_issues",
           "wrong_kind"]
