"""Errors that accelsim raises on bad input; ``str()`` of each is one line per problem.

Library code raises these and never exits; only :mod:`accelsim.cli` turns them into a message on stderr and exit
status 2.
"""

from __future__ import annotations

from dataclasses import dataclass


class AccelsimError(Exception):
    """Base class of every error accelsim raises for bad input or an impossible request."""


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
        where = self.file or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        got = f" (got {self.value!r})" if self.has_value else ""
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.msg}{got}"


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


class WorkloadError(AccelsimError):
    """A workload cannot be built (inconsistent shapes, impossible sizes)."""


class MappingError(AccelsimError):
    """An operator cannot be mapped onto the architecture (does not fit a memory level, no unit can run it)."""


class SimulationError(AccelsimError):
    """The engine could not finish (a dependency cycle or a task that can never start)."""
