"""The lock an accelsim command holds on the folder it writes (``OUTDIR/.accelsim-sweep.lock``): a sweep, a
sweep's plot, a run and a serve, so two never write one folder at once (probe p132 #1: two ``accelsim run`` into
one folder left one run's report.json beside the other's report.html, with no INCOMPLETE mark)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import AccelsimError

LOCK_FILE = ".accelsim-sweep.lock"
"""The lock's file (named when only sweeps held it; every writer takes this one, so a run and a sweep into one
folder exclude each other too)."""


class FolderLock:
    """OUTDIR/:data:`LOCK_FILE` while ``accelsim COMMAND`` writes into OUTDIR: a second writer into the same folder is
    refused with who holds it (two sweeps would run every point twice; two runs would mix or replace each other's
    files). The file holds the holder's pid, host, ``name`` (the sweep's, or the run's) and start time. A lock whose
    process is gone (same host), or has exited and is a zombie not yet reaped (:func:`_defunct`), is stale and taken
    over. It is not re-entrant: a holder that enters it again is
    refused as another would be; :func:`writing` (a library save) skips the lock this process holds already
    (:func:`held_here`)."""

    def __init__(self, outdir: str | os.PathLike, name: str, command: str = "sweep"):
        self.path = Path(outdir) / LOCK_FILE
        self.name = name
        self.command = command  # "sweep"; "plot" (a sweep's folder redrawn); "run"; "serve" (any of its modes)
        self.held = False

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "sweep": self.name,
              "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        if self.command != "sweep":
            me["command"] = self.command
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and not self._stale(holder):
                    raise AccelsimError(self._refusal(holder)) from None
                self.path.unlink(missing_ok=True)  # stale, or unreadable: the writer died
                continue
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(me, default=str))
            self.held = True
            _HERE.add(_key(self.path.parent))
            return self
        raise AccelsimError(f"cannot lock {self.path.parent}: {self.path} keeps reappearing")

    def _refusal(self, holder: dict) -> str:
        """The one line refusing the folder that ``holder`` (the lock file's dict) holds."""
        command = holder.get("command", "sweep")
        where = f"on {holder.get('host')} since {holder.get('since')}"
        gone = f"(remove {self.path} if that process is gone)"
        if command in ("sweep", "plot") and self.command in ("sweep", "plot"):  # a sweep's folder, as before p132
            by = "'accelsim plot' of sweep" if command == "plot" else "sweep"
            what = ("its results are partial until it ends: plot it then" if self.command == "plot" else
                    "wait for it to finish or use another OUTDIR")
            return (f"{self.path.parent} is in use by {by} {holder.get('sweep')!r} (pid {holder.get('pid')} "
                    f"{where}); {what} {gone}")
        whose = "sweep " if command == "plot" else ""
        return (f"{self.path.parent} is being written by another accelsim process (pid {holder.get('pid')}: "
                f"'accelsim {command}' of {whose}{holder.get('sweep')!r} {where}); wait for it to finish or give -o "
                f"another folder {gone}")

    def _holder(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _stale(holder: dict) -> bool:
        if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
            return False  # another machine's process: we cannot tell, so it holds the folder
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return _defunct(holder["pid"])

    def __exit__(self, *exc: object) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
            _HERE.discard(_key(self.path.parent))


def _defunct(pid: int) -> bool:
    """Whether process ``pid``, which ``os.kill(pid, 0)`` found, has exited and only waits to be reaped: a zombie
    (state ``Z``, or ``X`` dead, in Linux's /proc/PID/stat: the field after the command's closing parenthesis). It
    holds nothing, so its lock is stale (probe p199 #4: a sweep killed by SIGKILL kept its folder locked until its
    parent reaped it, for ever under a PID 1 that does not reap). Where /proc/PID/stat cannot be read (not Linux),
    the process counts as alive, as ``os.kill`` says."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return False
    fields = stat[stat.rfind(")") + 1:].split()
    return bool(fields) and fields[0] in ("Z", "X")


_HERE: set[str] = set()  # the folders a FolderLock of this process holds now (real paths)


def _key(outdir: str | os.PathLike) -> str:
    return os.path.realpath(outdir)


def held_here(outdir: str | os.PathLike) -> bool:
    """Whether this process holds ``outdir``'s lock now (a :class:`FolderLock` entered and not yet left: the CLI's,
    taken before it simulates, whose save then writes under it)."""
    return _key(outdir) in _HERE


@contextlib.contextmanager
def writing(outdir: str | os.PathLike, command: str, name: str) -> Iterator[None]:
    """``outdir`` claimed for ``command``'s outputs (:func:`~accelsim.report.writers.claim_folder`: missing, empty or
    one ``command`` wrote) and locked while the block writes (:class:`FolderLock`, named ``name``), as the CLI takes
    its folder: a library save (``Report.save``) refuses what ``accelsim run`` refuses, with the same
    :class:`AccelsimError` line (probe p145 #1). A folder this process locked already (:func:`held_here`: the
    CLI's own, claimed before its run) is written under that lock."""
    from .writers import claim_folder

    claim_folder(outdir, command)
    if held_here(outdir):
        yield
        return
    with FolderLock(outdir, name, command=command.split()[1]):
        yield
