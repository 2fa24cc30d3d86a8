"""Errors that accelsim raises on bad input; ``str()`` of each is one line per problem.

Library code raises these and never exits; only :mod:`accelsim.cli` turns them into a message on stderr and exit
status 2.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass

MAX_LINE_CHARS = 1000
"""Longest line of an error message; longer lines are cut to this many characters, the last one "…". (Room for a
message that lists every valid workload name, some 450 characters.)"""
MAX_VALUE_CHARS = 80
"""Longest ``repr`` of a given value printed in a :class:`ConfigIssue` ("(got VALUE)"); cut with "…"."""
MAX_KEY_CHARS = 200
"""Longest dotted key or file name printed in a :class:`ConfigIssue`; cut with "…"."""


def clip(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(e: BaseException) -> str:
    """An exception a user's module raised as one short line: its type and message (for the errors naming it: a
    plug-in unit's, a registered workload builder's)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def clip_lines(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """Each line of ``text`` cut to ``limit`` characters (:func:`clip`)."""
    return "\n".join(clip(line, limit) for line in text.splitlines())


def not_utf8(data: bytes, error: UnicodeDecodeError) -> tuple[int, str]:
    """``(line, message)`` for ``data`` (a file's bytes) that ``error`` found not to be UTF-8: the line of the first
    bad byte and "not UTF-8 text (byte 0xff at offset 0); is this a binary file?", the one wording every reader of
    an input file (YAML, a Hugging Face config.json) gives."""
    line = data.count(b"\n", 0, error.start) + 1
    return line, (f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start:,}); "
                  f"is this a binary file?")


class AccelsimError(Exception):
    """Base class of every error accelsim raises for bad input or an impossible request.

    ``str()`` cuts each line of the message to :data:`MAX_LINE_CHARS`, so a huge value or key in the input (a
    50 MB string) never becomes a 50 MB line on stderr."""

    def __str__(self) -> str:
        return clip_lines(super().__str__())


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one configuration value: where it is, which key, what was expected and what was given."""

    file: str | None
    line: int | None
    key: str
    msg: str
    value: object = None
    has_value: bool = False

    def __str__(self) -> str:
        where = clip(self.file or "<input>", MAX_KEY_CHARS)
        if self.line is not None:
            where = f"{where}:{self.line}"
        got = f" (got {_short_repr(self.value)})" if self.has_value else ""
        key = f" {clip(self.key, MAX_KEY_CHARS)}:" if self.key else ""
        msg = clip(self.msg, MAX_LINE_CHARS - len(where) - len(key) - len(got) - 2)  # the value stays at the end
        return clip(f"{where}:{key} {msg}{got}")


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, MAX_VALUE_CHARS, MAX_VALUE_CHARS
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 12


def _short_repr(value: object) -> str:
    """``repr(value)`` cut to :data:`MAX_VALUE_CHARS`, made in time bounded by that length: a long string is cut
    before its repr is made, a large mapping or list shows its first items only, a huge int its size."""
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        value = value[: MAX_VALUE_CHARS + 1]
    elif isinstance(value, int) and value.bit_length() > 256:
        return f"an integer of {value.bit_length():,} bits"
    elif isinstance(value, (dict, list, tuple, set, frozenset)):
        try:
            return clip(_REPR.repr(value), MAX_VALUE_CHARS)
        except ValueError:  # a huge int inside
            return f"a {type(value).__name__} of {len(value):,} items"
    return clip(repr(value), MAX_VALUE_CHARS)


class ConfigError(AccelsimError):
    """Invalid configuration: one or more :class:`ConfigIssue`, each printed on its own line."""

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue):
        self.issues = [issues] if isinstance(issues, ConfigIssue) else list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    @classmethod
    def one(cls, file: str | None, key: str, msg: str, *, line: int | None = None, **value: object) -> ConfigError:
        """A ConfigError with a single issue; pass ``value=...`` to print what was given."""
        if value:
            return cls(ConfigIssue(file, line, key, msg, value["value"], True))
        return cls(ConfigIssue(file, line, key, msg))


class IssuesError(ValueError):
    """Several problems a model's validator found at once, for the config layer to report one line each:
    ``issues`` already located (a key's line in a file the validator read itself, a Hugging Face config.json) and
    ``keyed`` (path of the key relative to the model, message) for the config layer to place where the value was
    written (a YAML line, a ``--set``). ``str()`` is every problem, one a line, as they would read without a config
    layer."""

    def __init__(self, issues: list[ConfigIssue], keyed: list[tuple[tuple[str, ...], str]]):
        self.issues, self.keyed = list(issues), list(keyed)
        lines = [f"{'.'.join(path)}: {msg}" for path, msg in self.keyed] + [str(i) for i in self.issues]
        super().__init__("\n".join(lines))


class KeyPairError(ValueError):
    """Two keys or more of one model whose values break a rule between them, raised by the model's validator. The
    config layer puts the problem at whichever was set last (a ``--set`` over a preset's line, a file over its
    ``base:``), with that key's message, naming where the others' values came from (in key order); where all come
    from one file it stays at the first key. ``str()`` is the first key's message, as a plain ValueError's would be.

    ``messages``: dotted key (relative to the model) → the message when the problem is put at that key, in which
    :data:`OTHER_AT` stands for ", FILE:LINE" of the other key's value (nothing where that is not known)."""

    OTHER_AT = "{other_at}"

    def __init__(self, messages: dict[str, str]):
        self.messages = dict(messages)
        key, msg = next(iter(self.messages.items()))
        super().__init__(f"{key}: {msg.replace(self.OTHER_AT, '')}")


class WorkloadError(AccelsimError):
    """A workload cannot be built (inconsistent shapes, impossible sizes). ``key`` is the path of the parameter at
    fault when one is (``("layers", 3)``: the fourth layer of a layer list), shown at the end of the message
    ("(layers[3])") and used by the config layer to name the file's line. ``arch_key``: an arch value the fault
    lies in as much (``("chips",)``: a parallel grid larger than the arch), which the scenario names instead when
    it was set more recently than ``key``; with ``arch_first`` on a tie too, and always where ``key`` is
    ``("model",)`` (a training step whose weights, gradients and optimizer states alone overflow the capacity
    ``arch_key``: the model's line only where the arch's source is not known). ``also``: other parameters of the
    workload the fault lies in as much (``("mode",)`` for a part that cannot train); the config layer names the
    one of ``key[0]`` and these set last (a ``--mode training`` over a preset's ``part:`` line)."""

    def __init__(self, message: str, key: tuple[str | int, ...] = (), arch_key: tuple[str, ...] = (),
                 arch_first: bool = False, also: tuple[str, ...] = ()):
        super().__init__(message)
        self.key = tuple(key)
        self.arch_key = tuple(arch_key)
        self.arch_first = arch_first
        self.also = tuple(also)

    @property
    def detail(self) -> str:
        """The message without the key."""
        return clip_lines(str(self.args[0]) if self.args else "")

    def __str__(self) -> str:
        where = "".join(f"[{k}]" if isinstance(k, int) else f"{'.' if i else ''}{k}" for i, k in enumerate(self.key))
        return clip_lines(self.detail + (f" ({where})" if where else ""))


class MappingError(AccelsimError):
    """An operator cannot be mapped onto the architecture (does not fit a memory level, no unit can run it).

    ``arch_key`` is the path in the arch document of the value the failure depends on when one does
    (``("core", "sram", "unified")`` for a scratchpad too small for any tiling, ``("hbm", "capacity")`` for a workload
    the memories cannot hold), so the config layer can name that key's file and line; empty when none does."""

    def __init__(self, message: str, arch_key: tuple[str, ...] = ()):
        super().__init__(message)
        self.arch_key = tuple(arch_key)

    def __reduce__(self):  # pickled across sweep worker processes with its key
        return (type(self), (str(self.args[0]) if self.args else "", self.arch_key))


class CapacityError(MappingError):
    """Memories too small for a pass's footprint (placement). ``arch_key`` is the capacity named when nothing else
    is known (the level that overflows, or the main memory); ``arch_keys`` every capacity the footprint is held
    against, the main memory's first, of which the scenario names the one set most recently, or the workload key
    that sizes the footprint where that was set more recently still. ``row``: a training step's footprint in the
    main memory (report.json's ``memory`` row, with ``used`` and ``capacity``) when that memory alone is too small,
    which the scenario turns into the training refusal (``scenarios/fit.py``); else empty. ``fixed``: the bytes of
    the footprint that no workload size key shrinks (the weights, and a training step's optimizer states), and
    ``room`` the bytes of every memory that could hold them: where ``fixed`` > ``room`` the scenario names the
    capacity, not a size key (0, 0: not known)."""

    def __init__(self, message: str, arch_key: tuple[str, ...] = (), arch_keys: tuple[tuple[str, ...], ...] = (),
                 row: dict[str, int] | None = None, fixed: int = 0, room: int = 0):
        super().__init__(message, arch_key)
        self.arch_keys = tuple(arch_keys) or ((self.arch_key,) if self.arch_key else ())
        self.row = dict(row or {})
        self.fixed, self.room = fixed, room

    def __reduce__(self):
        return (type(self), (str(self.args[0]) if self.args else "", self.arch_key, self.arch_keys, self.row,
                             self.fixed, self.room))


class BudgetError(MappingError):
    """A run refused for ``options.memory_budget`` (a pass's tasks, or the passes a composed run keeps): the scenario
    names where the budget was set (:func:`accelsim.scenarios.run_workload`)."""


class SimulationError(AccelsimError):
    """The engine could not finish (a dependency cycle or a task that can never start)."""
