"""YAML loading for accelsim's config files: ``yaml.safe_load`` semantics plus a key-path → line map.

:func:`load_yaml` parses a file with a safe loader (libyaml's C parser when PyYAML has it, else the pure-Python
one), walks the composed node tree to record the 1-based line of every mapping key and list item
(``("core", "systolic", "rows") → 4``), rejects duplicate keys, and constructs the data from the same nodes.
Every failure is a one-line :class:`ConfigError`. A key under an aliased value (``options: *w``) is placed on the
line of the alias, where it was used, and remembers the line it was written on (:attr:`LineMap.aliases`), so an
error there reads ``file:4: options.model (alias of line 2): ...``.

Input limits (hostile or broken files fail at once with a one-line error, never a hang or a MemoryError): a file
holds at most :data:`MAX_YAML_BYTES` bytes of UTF-8 text without control characters (tab, newline and carriage
return are fine); collections nest at most :data:`MAX_DEPTH` deep; aliases (``*name``) may add at most
:data:`MAX_ALIAS_NODES` values to the document when expanded (a "billion laughs" file is refused before it is
built) and may not refer to the collection they are in; a file holds at most :data:`MAX_NODES` values (scalars,
mappings and lists, so that a huge file of tiny items is refused in well under a second); a number may not overflow to infinity (``.inf`` and
``.nan`` written as such are kept; the schema decides where they are allowed).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ..errors import ConfigError, ConfigIssue, not_utf8

KeyPath = tuple  # of str | int: mapping keys and list indices from the document root

MAX_YAML_BYTES = 8 * 2**20
"""Largest input file accepted (bytes; YAML, and SCALE-Sim configs and topologies): 8 MiB, some thousand times the
largest preset."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted (the top-level mapping is depth 1)."""
MAX_ALIAS_NODES = 10_000
"""Most values (scalars and collections) that the aliases of one document may add when expanded."""
MAX_NODES = 100_000
"""Most values (scalars, mappings and lists, as written) in one input text: some 200 times the largest preset
(``arch/a100.yaml`` has ~220). Parsing, line tracking and validation cost a few microseconds per value, so an
8 MiB file of a million tiny mappings would take tens of seconds; it is refused after reading this many instead."""

LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))
"""True when PyYAML has libyaml's C parser, which loads large files some 5× faster than the pure-Python one."""
_BASE_LOADER = yaml.CSafeLoader if LIBYAML else yaml.SafeLoader

# YAML's printable set (as PyYAML's reader checks it): everything else is a control character or a lone surrogate
_NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
_FLOAT_TAG = "tag:yaml.org,2002:float"
_INT_TAG = "tag:yaml.org,2002:int"
_DEEP = f"nesting deeper than {MAX_DEPTH} levels of mappings and lists"


class _SafeLoader(_BASE_LOADER):  # type: ignore[misc,valid-type]
    """The safe loader (no arbitrary Python objects; the C one when available); a subclass so accelsim never
    touches the global one. Colon-separated digits (``2:4``, ``1:30``) read as strings, as YAML 1.2 reads them,
    not as YAML 1.1's base-60 numbers (124, 90): an N:M sparsity pattern stays what was written."""


_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
for _first in "-+0123456789":  # tried before YAML 1.1's int and float resolvers for the same first character
    _SafeLoader.add_implicit_resolver("tag:yaml.org,2002:str", _SEXAGESIMAL, [_first])
    _SafeLoader.yaml_implicit_resolvers[_first].insert(0, _SafeLoader.yaml_implicit_resolvers[_first].pop())


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
    """The 1-based line where each key path of one YAML document was written; for a path under an alias
    (``options: *w``), the alias's line, and in :attr:`aliases` the line its key or item was written on."""

    def __init__(self, file: str, lines: dict[KeyPath, int] | None = None,
                 aliases: dict[KeyPath, int] | None = None):
        self.file = file
        self.lines: dict[KeyPath, int] = dict(lines or {})
        self.aliases: dict[KeyPath, int] = dict(aliases or {})

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
        return _under(self.lines, prefix)


def _under(lines: dict[KeyPath, int], prefix: Iterable) -> dict[KeyPath, int]:
    pre = tuple(prefix)
    n = len(pre)
    return {p[n:]: line for p, line in lines.items() if p[:n] == pre}


_CONSTRUCT_ERRORS = (ValueError, KeyError, TypeError, OverflowError)  # a constructor's own bugs on odd scalars


def _scalar(loader: _SafeLoader, node: yaml.ScalarNode, path: KeyPath, file: str) -> object:
    """The constructed value of a scalar node (cached by the loader for the document); a value its tag's constructor
    cannot read (``2020-13-45``, ``!!int abc``, an int of more than 4,300 digits) is a one-line ConfigError."""
    if node.tag == _INT_TAG and len(node.value) > 300:  # beyond any limit, and Python reads at most 4,300 digits
        raise ConfigError(ConfigIssue(file, node.start_mark.line + 1, _dotted(path),
                                      f"number too large: an integer of {len(node.value):,} digits"))
    try:
        return loader.construct_object(node)
    except _CONSTRUCT_ERRORS as e:
        tag = node.tag.rsplit(":", 1)[-1]
        why = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        raise ConfigError(ConfigIssue(file, node.start_mark.line + 1, _dotted(path),
                                      f"cannot read {node.value[:40]!r} as a YAML {tag} ({why[:80]})")) from None


def _scalar_key(loader: _SafeLoader, node: yaml.Node, path: KeyPath, file: str) -> object:
    """The constructed value of a mapping key node (a hashable stand-in for complex keys)."""
    if isinstance(node, yaml.ScalarNode):
        return _scalar(loader, node, path, file)
    return ("<complex key>", node.start_mark.line, node.start_mark.column)


def _dotted(path: KeyPath) -> str:
    return ".".join(str(k) for k in path)


_Sites = dict  # (id of a mapping or list node, index in it, 0 key / 1 value) -> line of the alias written there


def _alias_sites(root: yaml.Node, alias_lines: list[int]) -> _Sites:
    """Where each alias was written: the composer hands back the anchored node itself, without the alias's line,
    so the nodes are visited in document order (an anchor's node is met first and walked; each later meeting of
    it is an alias), which is the order of the parser's alias events whose lines ``alias_lines`` holds."""
    sites: _Sites = {}
    seen: set[int] = set()
    events = iter(alias_lines)

    def visit(node: yaml.Node) -> None:  # depth bounded: aliases are not followed, and _check_events limits nesting
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            children = [(i, part, n) for i, pair in enumerate(node.value) for part, n in enumerate(pair)]
        elif isinstance(node, yaml.SequenceNode):
            children = [(i, 1, n) for i, n in enumerate(node.value)]
        else:
            return
        for i, part, child in children:
            if id(child) in seen:
                line = next(events, None)
                if line is not None:
                    sites[(id(node), i, part)] = line
            else:
                visit(child)

    visit(root)
    return sites


def _walk(loader: _SafeLoader, node: yaml.Node, path: KeyPath, lines: dict, file: str, sites: _Sites | None = None,
          aliases: dict | None = None, at: int | None = None) -> None:
    """Record the line of every key and item under ``node``; refuse duplicate keys and numbers that overflow.
    Under an alias (``sites``, from :func:`_alias_sites`) a key's line is the alias's, ``at``, and ``aliases``
    records the line it was written on. (Recursion is bounded: :func:`_check_events` has refused deep nesting and
    recursive aliases.)"""
    sites = {} if sites is None else sites
    aliases = {} if aliases is None else aliases
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for i, (key_node, value_node) in enumerate(node.value):
            if key_node.tag == _MERGE_TAG:
                continue
            key = _scalar_key(loader, key_node, path, file)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key, e.g. a list; yaml reports it when constructing
                continue
            if first is not None:
                raise ConfigError(ConfigIssue(file, line, _dotted((*path, key)),
                                              f"duplicate key (first written on line {first})"))
            seen[key] = line
            here = (*path, key)
            _place(here, line, value_node, at, sites.get((id(node), i, 0)), sites.get((id(node), i, 1)),
                   lines, aliases)
            _walk(loader, value_node, here, lines, file, sites, aliases, at or sites.get((id(node), i, 1)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            alias = sites.get((id(node), i, 1))
            _place((*path, i), item.start_mark.line + 1, item, at, alias, None, lines, aliases)  # item: key and value
            _walk(loader, item, (*path, i), lines, file, sites, aliases, at or alias)
    elif isinstance(node, yaml.ScalarNode):
        value = _scalar(loader, node, path, file)
        if (node.tag == _FLOAT_TAG and isinstance(value, float) and math.isinf(value)
                and not _explicit_special(node.value)):
            raise ConfigError(ConfigIssue(file, node.start_mark.line + 1, _dotted(path),
                                          f"number too large: {node.value[:40]} overflows to infinity (write "
                                          f"'.inf' or a unit string where an unbounded value is meant)"))


def _place(path: KeyPath, line: int, value: yaml.Node, at: int | None, key_alias: int | None,
           value_alias: int | None, lines: dict, aliases: dict) -> None:
    """Record the line of ``path``, written on ``line`` with ``value``: inside an alias's value, the alias's line
    ``at`` (and ``line`` in ``aliases``); a key that is itself an alias, that alias's line; a value that is an
    alias, the key's line, with the line the value was written on in ``aliases``."""
    if at is not None:
        lines[path], aliases[path] = at, line
    elif key_alias is not None:
        lines[path], aliases[path] = key_alias, line
    else:
        lines[path] = line
        if value_alias is not None:
            aliases[path] = value.start_mark.line + 1


def _explicit_special(text: str) -> bool:
    """True for YAML's own spellings of infinity and not-a-number (``.inf``, ``-.Inf``, ``.nan``)."""
    return text.lstrip("+-").lower() in (".inf", ".nan")


def _limit_issue(file: str, event: yaml.Event | None, msg: str) -> ConfigError:
    line = event.start_mark.line + 1 if event is not None and event.start_mark is not None else None
    return ConfigError(ConfigIssue(file, line, "", msg))


_NODE_EVENTS = (yaml.ScalarEvent, yaml.CollectionStartEvent, yaml.AliasEvent)


def _check_events(text: str, file: str) -> list[int]:
    """Refuse more than :data:`MAX_NODES` values, nesting deeper than :data:`MAX_DEPTH`, aliases that expand to more than :data:`MAX_ALIAS_NODES`
    values and recursive aliases, from the parser's event stream (iterative: nothing is built, nothing
    recurses), before the document is composed. Returns the 1-based line of each alias, in document order."""
    loader = _SafeLoader(text)
    # one entry per open collection: [values inside it when expanded, its anchor, its depth in collections]
    stack: list[list] = []
    size: dict[str, int] = {}  # anchor -> values of the anchored node when expanded (closed nodes only)
    depth: dict[str, int] = {}  # anchor -> nesting depth of the anchored node (0 for a scalar)
    open_anchors: set[str] = set()
    added = nodes = 0
    alias_lines: list[int] = []
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, _NODE_EVENTS):
                nodes += 1
                if nodes > MAX_NODES:
                    raise _limit_issue(file, event, f"more than {MAX_NODES:,} values (scalars, mappings and lists): "
                                                    f"inputs are limited to {MAX_NODES:,}; is this a generated file?")
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise _limit_issue(file, event, _DEEP)
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
                stack.append([1, event.anchor, 1])
            elif isinstance(event, yaml.CollectionEndEvent):
                n, anchor, d = stack.pop()
                if anchor is not None:
                    size[anchor], depth[anchor] = n, d
                    open_anchors.discard(anchor)
                if stack:
                    stack[-1][0] += n
                    stack[-1][2] = max(stack[-1][2], d + 1)
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor is not None:
                    size[event.anchor], depth[event.anchor] = 1, 0
                if stack:
                    stack[-1][0] += 1
            elif isinstance(event, yaml.AliasEvent):
                alias_lines.append(event.start_mark.line + 1)
                if event.anchor in open_anchors:
                    raise _limit_issue(file, event, f"recursive alias: *{event.anchor[:40]} refers to a collection "
                                                    f"that contains it")
                n = size.get(event.anchor)
                if n is None:
                    continue  # undefined: the composer says so
                added += n
                if added > MAX_ALIAS_NODES:
                    raise _limit_issue(file, event, f"aliases expand to more than {MAX_ALIAS_NODES:,} values "
                                                    f"(an alias bomb?); write the values out instead")
                if len(stack) + depth[event.anchor] > MAX_DEPTH:
                    raise _limit_issue(file, event, f"alias *{event.anchor[:40]} nests deeper than {MAX_DEPTH} "
                                                    f"levels of mappings and lists")
                if stack:
                    stack[-1][0] += n
                    stack[-1][2] = max(stack[-1][2], depth[event.anchor] + 1)
            elif isinstance(event, yaml.DocumentStartEvent):
                size.clear()
                depth.clear()
    finally:
        loader.dispose()
    return alias_lines


def _check_characters(text: str, file: str) -> None:
    """Refuse control characters (other than tab, newline and carriage return) and lone surrogates."""
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        what = "a NUL byte" if bad.group() == "\0" else f"control character U+{ord(bad.group()):04X}"
        raise ConfigError(ConfigIssue(file, line, "", f"{what} (column {column}) is not allowed in YAML; is this a "
                                                      f"binary or corrupted file?"))


def _too_large(file: str, size: int, hint: str = "") -> ConfigError:
    limit = f"{MAX_YAML_BYTES:,} bytes ({MAX_YAML_BYTES // 2**20} MiB)"
    return ConfigError(ConfigIssue(file, None, "", f"file too large: {size:,} bytes; inputs are limited to "
                                                   f"{limit}{'.' + hint if hint else ''}"))


def parse_yaml(text: str, file: str) -> tuple[object, LineMap]:
    """Parse YAML ``text`` (named ``file`` in messages) into ``(data, LineMap)``; ConfigError on bad YAML or on
    input beyond the limits in this module's docstring."""
    if len(text) > MAX_YAML_BYTES:
        raise _too_large(file, len(text.encode("utf-8", "surrogatepass")))
    _check_characters(text, file)
    loader = None
    try:
        alias_lines = _check_events(text, file)
        loader = _SafeLoader(text)
        node = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        aliases: dict[KeyPath, int] = {}
        data: object = None
        if node is not None:
            lines[()] = node.start_mark.line + 1
            _walk(loader, node, (), lines, file, _alias_sites(node, alias_lines) if alias_lines else {}, aliases)
            try:
                data = loader.construct_document(node)
            except _CONSTRUCT_ERRORS as e:  # not expected: _walk has constructed every scalar
                raise ConfigError(ConfigIssue(file, None, "", f"malformed YAML: {e}")) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = e.problem or e.context or "cannot parse"
        opened = e.context_mark
        if opened is not None and line is not None and opened.line + 1 < line and e.context and \
                any(w in e.context for w in _UNCLOSED):  # a bracket or quote never closed: where it opened, not
            what = e.context.removeprefix("while parsing ").removeprefix("while scanning ")  # the end of the file
            problem = f"{what} opened on this line is not closed ({problem} at line {line})"
            line = opened.line + 1
        if "maximum nesting depth" in problem:  # libyaml's own limit (1000), met while scanning ahead
            raise ConfigError(ConfigIssue(file, line, "", _DEEP)) from None
        raise ConfigError(ConfigIssue(file, line, "", f"malformed YAML: {problem}")) from None
    except yaml.YAMLError as e:
        msg = " ".join(str(e).split())
        raise ConfigError(ConfigIssue(file, None, "", f"malformed YAML: {msg}")) from None
    except RecursionError:  # not expected after _check_events; kept so that no input becomes an internal error
        raise ConfigError(ConfigIssue(file, None, "", _DEEP)) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, LineMap(file, lines, aliases)


_UNCLOSED = ("flow sequence", "flow mapping", "quoted scalar")  # contexts whose start is where the fix goes


def read_text_file(path: str | os.PathLike, file: str | None = None, *, encoding: str = "utf-8") -> str:
    """The text of the input file ``path`` (named ``file`` in messages): at most :data:`MAX_YAML_BYTES` bytes of
    UTF-8 (``encoding`` "utf-8-sig" drops a byte-order mark). Missing, unreadable, oversized and binary files are a
    one-line :class:`ConfigError` naming the file (and, for a byte that is not UTF-8, its line)."""
    file = display_path(path) if file is None else file
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_YAML_BYTES:
                raise _too_large(file, size, _onnx_hint(file, f.read(4)))
            data = f.read(MAX_YAML_BYTES + 1)  # a pipe or a growing file: never read more than the limit
    except FileNotFoundError:
        raise ConfigError(ConfigIssue(file, None, "", "file not found")) from None
    except IsADirectoryError:
        raise ConfigError(ConfigIssue(file, None, "", "is a directory, not a file")) from None
    except OSError as e:
        raise ConfigError(ConfigIssue(file, None, "", f"cannot read file: {e.strerror or e}")) from None
    if len(data) > MAX_YAML_BYTES:
        raise _too_large(file, len(data))
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        if file.lower().endswith(".onnx"):  # what it is says more than where its first non-UTF-8 byte is
            raise ConfigError(ConfigIssue(file, None, "", _onnx_hint(file, data).lstrip())) from None
        line, msg = not_utf8(data, e)
        raise ConfigError(ConfigIssue(file, line, "", msg + _onnx_hint(file, data))) from None


def _onnx_hint(file: str, head: bytes) -> str:
    """What to do with an ONNX model given where a YAML file is read (``head``: its first bytes): a file named
    ``*.onnx`` is a workload (where a workload goes: ``accelsim run -w FILE``, ``workload: FILE`` in an experiment or
    a sweep's base; ``accelsim serve`` and ``accelsim sweep`` say their own, cli.py); one under another name that
    looks like a model is renamed to ``*.onnx`` or given as ``--workload onnx --set workload.path=FILE``; "" for
    any other file."""
    if file.lower().endswith(".onnx"):
        return (f" {file} is an ONNX model, not a YAML file: name it where a workload goes (accelsim run -w {file} "
                f"-a ARCH, or workload: {file} in an experiment file or a sweep's base)")
    if _looks_like_onnx(head):
        return " It looks like an ONNX model: name it *.onnx, or give --workload onnx --set workload.path=FILE"
    return ""


def _looks_like_onnx(data: bytes) -> bool:
    """Whether ``data`` opens as a serialised onnx.ModelProto does: field 1 (ir_version, a small varint: tag 0x08)
    then a length-delimited field (producer, graph, opset_import: wire type 2)."""
    return len(data) > 3 and data[0] == 0x08 and 1 <= data[1] < 0x80 and data[2] & 0x07 == 2


def load_yaml(path: str | os.PathLike) -> tuple[object, LineMap]:
    """Load the YAML file ``path`` safely: ``(data, LineMap)``. Missing, unreadable, oversized, binary or
    malformed files, and duplicate keys, raise a one-line :class:`ConfigError` naming the file (and line)."""
    file = display_path(path)
    return parse_yaml(read_text_file(path, file), file)


def load_yaml_value(text: str, file: str) -> object:
    """The value of a short YAML text (a ``--set`` value), loaded like a file: same limits, one-line errors."""
    data, _ = parse_yaml(text, file)
    return data


@dataclass(frozen=True)
class Where:
    """Where a value was written: ``file`` and ``line`` (None for a command-line override), and ``prefix``, the
    key path in that file of the document's root (``("arch",)`` for an arch written inline in an experiment);
    ``alias_of``, for a value reached through an alias (``line`` is then the alias's), the line it was written on."""

    file: str | None
    line: int | None
    prefix: KeyPath = ()
    alias_of: int | None = None

    @property
    def folder(self) -> Path | None:
        """The folder of the file the value was written in, against which a relative path in it is read; None
        for a value not from a file (``--set``, ``<cli>``, a mapping given in Python)."""
        return Path(self.file).parent if self.file and not self.file.startswith(("-", "<")) else None


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
        origin = _under(lines.aliases, prefix)
        where = {p: Where(lines.file, line, tuple(prefix), origin.get(p)) for p, line in lines.subtree(prefix).items()}
        if () not in where:
            where[()] = Where(lines.file, lines.nearest(prefix), tuple(prefix))
        return cls(data, where)

    def child(self, key: str | int) -> Doc:
        """The sub-document under ``key`` (``data`` must be a mapping or list holding it); keys inside it keep
        their sources, printed with their full path from their file's root."""
        value = self.data[key] if isinstance(self.data, (dict, list)) else None  # type: ignore[index]
        where = {p[1:]: replace(w, prefix=(*w.prefix, key)) for p, w in self.where.items() if p[:1] == (key,)}
        if () not in where:
            w, _ = self.locate((key,))
            where[()] = replace(w, prefix=(*w.prefix, key))
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
        """A :class:`ConfigIssue` at ``path`` of this document; pass one ``value`` to print what was given. Under an
        alias the line is the alias's and the key says where the value was written: ``options.m (alias of line 2)``."""
        w, key = self.locate(path)
        if w.alias_of is not None and w.alias_of != w.line:
            key = f"{key} (alias of line {w.alias_of})"
        if value:
            return ConfigIssue(w.file, w.line, key, msg, value[0], True)
        return ConfigIssue(w.file, w.line, key, msg)
