"""YAML loading for accelsim's config files: ``yaml.safe_load`` semantics plus a key-path → line map.

:func:`load_yaml` parses a file once with a :class:`yaml.SafeLoader` subclass, walks the composed node tree to
record the 1-based line of every mapping key and list item (``("core", "systolic", "rows") → 4``), rejects
duplicate keys, and constructs the data from the same nodes. Every failure is a one-line :class:`ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import ConfigError, ConfigIssue

KeyPath = tuple  # of str | int: mapping keys and list indices from the document root


class _SafeLoader(yaml.SafeLoader):
    """The safe loader (no arbitrary Python objects); a subclass so accelsim never touches the global one."""


_MERGE_TAG = "tag:yaml.org,2002:merge"


def display_path(path: str | os.PathLike) -> str:
    """``path`` as accelsim prints it in messages: relative to the working directory when inside it."""
    p = Path(path)
    try:
        rel = p.resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return str(p)
    return str(rel)


class LineMap:
    """The 1-based line where each key path of one YAML document was written."""

    def __init__(self, file: str, lines: dict[KeyPath, int] | None = None):
        self.file = file
        self.lines: dict[KeyPath, int] = dict(lines or {})

    def __getitem__(self, path: KeyPath) -> int:
        return self.lines[tuple(path)]

    def __contains__(self, path: object) -> bool:
        return tuple(path) in self.lines  # type: ignore[arg-type]

    def __iter__(self):
        return iter(self.lines.items())

    def __len__(self) -> int:
        return len(self.lines)

    def get(self, path: Iterable, default: int | None = None) -> int | None:
        """Line of ``path``, or ``default`` if it was not written."""
        return self.lines.get(tuple(path), default)

    def nearest(self, path: Iterable) -> int | None:
        """Line of ``path`` or of its nearest ancestor that was written (None for an empty document)."""
        p = tuple(path)
        while True:
            if p in self.lines:
                return self.lines[p]
            if not p:
                return None
            p = p[:-1]

    def subtree(self, prefix: Iterable) -> dict[KeyPath, int]:
        """Lines of the paths under ``prefix``, re-keyed relative to it (``prefix`` itself becomes ``()``)."""
        pre = tuple(prefix)
        n = len(pre)
        return {p[n:]: line for p, line in self.lines.items() if p[:n] == pre}


def _scalar_key(loader: _SafeLoader, node: yaml.Node) -> object:
    """The constructed value of a mapping key node (a hashable stand-in for complex keys)."""
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node)
    return ("<complex key>", node.start_mark.line, node.start_mark.column)


def _walk(loader: _SafeLoader, node: yaml.Node, path: KeyPath, lines: dict, file: str, stack: set[int]) -> None:
    if id(node) in stack:  # a recursive alias: its lines are already recorded
        return
    stack = stack | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = _scalar_key(loader, key_node)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key, e.g. a list; yaml reports it when constructing
                continue
            if first is not None:
                dotted = ".".join(str(k) for k in (*path, key))
                raise ConfigError(ConfigIssue(file, line, dotted, f"duplicate key (first written on line {first})"))
            seen[key] = line
            lines[(*path, key)] = line
            _walk(loader, value_node, (*path, key), lines, file, stack)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(loader, item, (*path, i), lines, file, stack)


def parse_yaml(text: str, file: str) -> tuple[object, LineMap]:
    """Parse YAML ``text`` (named ``file`` in messages) into ``(data, LineMap)``; ConfigError on bad YAML."""
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        data: object = None
        if node is not None:
            lines[()] = node.start_mark.line + 1
            _walk(loader, node, (), lines, file, set())
            data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = e.problem or e.context or "cannot parse"
        raise ConfigError(ConfigIssue(file, line, "", f"malformed YAML: {problem}")) from None
    except yaml.YAMLError as e:
        msg = " ".join(str(e).split())
        raise ConfigError(ConfigIssue(file, None, "", f"malformed YAML: {msg}")) from None
    finally:
        loader.dispose()
    return data, LineMap(file, lines)


def load_yaml(path: str | os.PathLike) -> tuple[object, LineMap]:
    """Load the YAML file ``path`` safely: ``(data, LineMap)``. Missing, unreadable or malformed files,
    and duplicate keys, raise a one-line :class:`ConfigError` naming the file (and line)."""
    file = display_path(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(ConfigIssue(file, None, "", "file not found")) from None
    except IsADirectoryError:
        raise ConfigError(ConfigIssue(file, None, "", "is a directory, not a YAML file")) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(ConfigIssue(file, None, "", f"cannot read file: {e}")) from None
    return parse_yaml(text, file)


@dataclass(frozen=True)
class Where:
    """Where a value was written: ``file`` and ``line`` (None for a command-line override), and ``prefix``, the
    key path in that file of the document's root (``("arch",)`` for an arch written inline in an experiment)."""

    file: str | None
    line: int | None
    prefix: KeyPath = ()


@dataclass
class Doc:
    """A plain YAML document with provenance: ``where[path]`` says where the value at ``path`` was written.

    Documents merged from several files (a preset under its ``base:``, an experiment's inline section, ``--set``
    overrides) keep the source of each key, so a validation error points at the file and line that set it.
    """

    data: object
    where: dict[KeyPath, Where] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, data: object, lines: LineMap, prefix: KeyPath = ()) -> Doc:
        """The sub-document of a loaded file at ``prefix`` (``data`` is the value there)."""
        where = {p: Where(lines.file, line, tuple(prefix)) for p, line in lines.subtree(prefix).items()}
        if () not in where:
            where[()] = Where(lines.file, lines.nearest(prefix), tuple(prefix))
        return cls(data, where)

    def child(self, key: str | int) -> Doc:
        """The sub-document under ``key`` (``data`` must be a mapping or list holding it); keys inside it keep
        their sources, printed with their full path from their file's root."""
        value = self.data[key] if isinstance(self.data, (dict, list)) else None  # type: ignore[index]
        where = {p[1:]: Where(w.file, w.line, (*w.prefix, key)) for p, w in self.where.items() if p[:1] == (key,)}
        if () not in where:
            w, _ = self.locate((key,))
            where[()] = Where(w.file, w.line, (*w.prefix, key))
        return Doc(value, where)

    def locate(self, path: Iterable) -> tuple[Where, str]:
        """Where ``path`` (or its nearest written ancestor) came from, and the dotted key to print for it:
        the full path from that file's root."""
        p = tuple(path)
        q = p
        while q not in self.where and q:
            q = q[:-1]
        w = self.where.get(q, Where(None, None, ()))
        return w, ".".join(str(k) for k in (*w.prefix, *p))

    def issue(self, path: Iterable, msg: str, *value: object) -> ConfigIssue:
        """A :class:`ConfigIssue` at ``path`` of this document; pass one ``value`` to print what was given."""
        w, key = self.locate(path)
        if value:
            return ConfigIssue(w.file, w.line, key, msg, value[0], True)
        return ConfigIssue(w.file, w.line, key, msg)
