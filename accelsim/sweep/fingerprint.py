"""The code fingerprint a sweep folder records: a hash of the accelsim source files and shipped presets that
produced its results, so that resuming into it with other code warns even when the version string is unchanged
(probe p124 #2: a model change without a version bump would reuse the stale records of unchanged point ids)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

from ..config import presets


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


__all__ = ["code_fingerprint", "tree_hash"]
