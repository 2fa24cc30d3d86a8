"""Digests a results folder records to know its results again: a point's :func:`content_hash` (its inputs as
canonical JSON, with :func:`file_digests` of the files they name) and the :func:`code_fingerprint` of the accelsim
that ran it (probe p124 #2: a model change without a version bump would reuse the stale records of unchanged point
ids). ``accelsim sweep`` and ``accelsim serve --sweep`` both read them, so they live below both."""


from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import presets


def tree_hash(roots: Iterable[tuple[str, Path, str]]) -> str:
    """The first 16 hex digits of the SHA-256 of every file under each ``(label, folder, glob)`` root: each file's
    label-relative path and its bytes, in sorted path order (so a renamed, added or removed file changes it too)."""
    h = hashlib.sha256()
    files = sorted((f"{label}/{p.relative_to(folder).as_posix()}", p) for label, folder, pattern in roots
                   if folder.is_dir() for p in folder.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts)
    for name, path in files:
        data = path.read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:16]


@functools.cache
def code_fingerprint() -> str:
    """The fingerprint of the accelsim running here: :func:`tree_hash` of the package's ``.py`` files and of the
    preset folders it reads (``arch/``, ``workloads/``, ``experiments/``: a wheel's ``_presets`` or a checkout's).
    Computed once a process (~150 files, a few MB: tens of milliseconds)."""
    package = Path(__file__).resolve().parents[1]
    return tree_hash([("accelsim", package, "*.py"),
                      *((kind, presets.preset_dir(kind), "*") for kind in presets.KINDS)])


def content_hash(data: Any) -> str:
    """A point's id: the first 16 hex digits of the SHA-256 of ``data`` as canonical JSON (``accelsim sweep``'s and
    ``serve --sweep``'s point records)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digests(params: Mapping[str, Any]) -> dict[str, str]:
    """The SHA-256 of each file a workload parameter names (a string that is the path of a readable file, or of a
    model folder holding a ``config.json``, which ``hf``'s ``config`` reads: that file's; probe p271 #1, a folder's
    edited config.json kept the old digest-less key)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, str) and value and len(value) < 4096:
            try:
                path = Path(value).expanduser()
                if path.is_dir():
                    path = path / "config.json"
                if path.is_file():
                    out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            except (OSError, ValueError):  # a parameter that is no path: nothing to hash
                continue
    return out


__all__ = ["code_fingerprint", "content_hash", "file_digests", "tree_hash"]
