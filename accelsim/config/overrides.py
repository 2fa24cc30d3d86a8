"""Command-line overrides (``--set arch.core.systolic.rows=128``) and the deep merge of a preset under its
``base:``. Both work on :class:`~accelsim.config.yamlio.Doc`, so every value keeps the file and line it came from.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ConfigError, ConfigIssue
from .presets import suggest
from .yamlio import Doc, KeyPath, Where, load_yaml_value

SECTIONS = ("workload", "arch", "options")
SET_LABEL = "--set"


@dataclass(frozen=True)
class Override:
    """One ``KEY=VALUE`` item: the experiment ``section`` it addresses, the key path inside it (empty to
    replace the whole section, e.g. ``arch=gemmini``), the value parsed as YAML, and the label printed as the
    "file" in messages (``--set``)."""

    section: str
    keys: KeyPath
    value: object
    text: str
    label: str = SET_LABEL

    @property
    def dotted(self) -> str:
        """The full dotted key, section first."""
        return ".".join(str(k) for k in (self.section, *self.keys))


def _segment(part: str) -> str | int:
    return int(part) if part.isascii() and part.isdigit() else part  # "²".isdigit() is True, int("²") fails


def parse_override(item: str, *, sections: Iterable[str] = SECTIONS, default_section: str | None = None,
                   label: str = SET_LABEL) -> Override:
    """Parse one ``dotted.key=value`` item; the value is read as YAML, with a file's limits (``128`` → int,
    ``true`` → bool, ``68GB/s`` → str). ``default_section`` is prefixed to keys that name no section (so
    :func:`~accelsim.config.load.load_arch` takes ``core.systolic.rows=128`` as well as ``arch.core...``).
    Raises a one-line :class:`ConfigError` whose file is ``label``."""
    allowed = tuple(sections)
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(ConfigIssue(label, None, "", "expected KEY=VALUE such as arch.core.systolic.rows=128",
                                      item, True))
    key_text, value_text = item.split("=", 1)
    key_text = key_text.strip()
    if not key_text:
        raise ConfigError(ConfigIssue(label, None, "", "expected KEY=VALUE with a non-empty KEY", item, True))
    parts = key_text.split(".")
    if any(not p.strip() for p in parts):
        raise ConfigError(ConfigIssue(label, None, key_text, "empty part in the dotted key", item, True))
    parts = [p.strip() for p in parts]
    if parts[0] in allowed:
        section, rest = parts[0], parts[1:]
    elif default_section is not None and parts[0] not in SECTIONS:
        section, rest = default_section, parts
    else:
        starts = ", ".join(f"{s}." for s in allowed)
        if parts[0] in SECTIONS:
            msg = f"section {parts[0]!r} does not apply here; keys start with {starts}"
        else:
            msg = f"unknown section {parts[0]!r}{suggest(parts[0], allowed) or ';'} keys start with {starts}"
        raise ConfigError(ConfigIssue(label, None, key_text, msg, item, True))
    try:
        value = load_yaml_value(value_text, label) if value_text.strip() else None
    except ConfigError as e:
        problem = e.issues[0].msg.removeprefix("malformed YAML: ")
        raise ConfigError(ConfigIssue(label, None, key_text, f"value is not valid YAML: {problem}",
                                      value_text, True)) from None
    return Override(section, tuple(_segment(p) for p in rest), value, item, label)


def parse_overrides(items: Iterable[str | Override], *, sections: Iterable[str] = SECTIONS,
                    default_section: str | None = None, label: str = SET_LABEL) -> tuple[list[Override],
                                                                                           list[ConfigIssue]]:
    """Parse every item (an :class:`Override` already made, e.g. from ``--batch``, is kept as it is, its label
    naming the flag); returns the overrides and the issues of the malformed ones (all of them). A single string
    is one item (``load_arch("tpu-v1", "core.systolic.rows=64")``), not a sequence of one-character items."""
    out: list[Override] = []
    issues: list[ConfigIssue] = []
    allowed = tuple(sections)
    if isinstance(items, (str, Override)):
        items = [items]
    elif not isinstance(items, Iterable):
        return out, [ConfigIssue(label, None, "", "expected KEY=VALUE items (a list of strings, or one string)",
                                 items, has_value=True)]
    for item in items:
        if isinstance(item, Override):
            out.append(item)
            continue
        try:
            out.append(parse_override(item, sections=allowed, default_section=default_section, label=label))
        except ConfigError as e:
            issues.extend(e.issues)
    return out, issues


# ---- merging --------------------------------------------------------------------------------------------------
def _merge_data(base: object, over: object) -> object:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge_data(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def _covered(over: object, path: KeyPath) -> bool:
    """True if ``over`` sets ``path`` itself or replaces one of its ancestors with a non-mapping."""
    node = over
    for k in path:
        if not isinstance(node, dict):
            return True
        if k not in node:
            return False
        node = node[k]
    return True


def deep_merge(base: Doc, over: Doc) -> Doc:
    """``over`` merged onto ``base``: mappings merge key by key, anything else (lists included) replaces.
    Each value keeps the source it came from."""
    data = _merge_data(base.data, over.data)
    where = {p: w for p, w in base.where.items() if not _covered(over.data, p)}
    where.update(over.where)
    return Doc(data, where)


def _dict_key(node: dict, key: str | int) -> str | int:
    """The key of ``node`` that a dotted-key segment names: an int segment is a string key unless the
    mapping has that int key."""
    return key if not isinstance(key, int) or key in node else str(key)


def _base_refused(o: Override) -> ConfigIssue:
    """The issue of ``--set SECTION.base=X`` on a section whose ``base:`` was merged already (probe p153 #1:
    ``--set model.base=qwen2_7b`` in serve read "not a parameter ...; did you mean 'phase'?", a key serve refuses)."""
    return ConfigIssue(o.label, None, o.dotted, f"base can be written only in a file or an inline mapping (it is "
                       f"merged under the {o.section} before {o.label} applies); {o.label} a key of the {o.section} "
                       f"itself, or {o.section}={{base: ..., ...}} to give the whole mapping", o.value, True)


def apply_overrides(doc: Doc, overrides: Iterable[Override], *, base_merged: bool = False) -> tuple[Doc,
                                                                                              list[ConfigIssue]]:
    """``doc`` with each override's value set at its key path (on a copy), and the issues of overrides that
    cannot be set (a key inside a value that is not a mapping, a list index out of range, and with ``base_merged``,
    a document whose ``base:`` is already merged under it, its top-level ``base``)."""
    items = [o for o in overrides if o.keys]
    if not items:
        return doc, []
    data = copy.deepcopy(doc.data) if isinstance(doc.data, dict) else {}
    where = dict(doc.where)
    issues: list[ConfigIssue] = []
    for o in items:
        if base_merged and o.keys == ("base",):
            issues.append(_base_refused(o))
            continue
        here = Where(o.label, None, (o.section,))
        node: object = data
        path: list[str | int] = []
        problem = None
        for i, key in enumerate(o.keys):
            last = i == len(o.keys) - 1
            if isinstance(node, dict):
                key = _dict_key(node, key)
                if not last and (key not in node or node[key] is None):
                    node[key] = {}
                    where[(*path, key)] = here
            elif isinstance(node, list):
                if not isinstance(key, int) or key >= len(node):
                    problem = f"no item {key!r} in the list at {'.'.join(map(str, (o.section, *path)))!r} " \
                              f"({len(node)} items)"
                    break
                # an item set changes the list, a value checked as a whole (interconnect.shape against chips):
                # the list is this item's now, not the preset line's (probe p215 #7)
                where[tuple(path)] = here
            else:
                problem = f"cannot set a key inside {'.'.join(map(str, (o.section, *path)))!r}, " \
                          f"which is not a mapping"
                break
            path.append(key)
            if last:
                node[key] = copy.deepcopy(o.value)  # type: ignore[index]
            else:
                node = node[key]  # type: ignore[index]
        if problem is not None:
            issues.append(ConfigIssue(o.label, None, o.dotted, problem, o.text, True))
            continue
        full = tuple(path)
        for p in [p for p in where if p[: len(full)] == full]:
            del where[p]
        where[full] = here
    return Doc(data, where), issues
