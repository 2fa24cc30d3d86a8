"""Preset lookup: a name such as ``tpu-v1`` or ``resnet50`` → the YAML file that defines it.

Presets live in the top-level ``arch/``, ``workloads/`` and ``experiments/`` folders of the source tree and are
shipped in the wheel as ``accelsim/_presets/<kind>/``. :func:`preset_dir` finds whichever is present; a user's own
preset folders are searched after it (:data:`PRESET_PATH_ENV`). Lookup order in :func:`resolve` is an existing path,
then a preset name, then an error that lists the valid names.
"""

from __future__ import annotations

import difflib
import os
from importlib.resources import files
from pathlib import Path

from ..errors import ConfigError, ConfigIssue

KINDS = ("arch", "workloads", "experiments")
_SUFFIXES = (".yaml", ".yml")


def preset_dir(kind: str) -> Path:
    """The folder holding the presets of ``kind`` ("arch", "workloads" or "experiments").

    An installed wheel carries them in ``accelsim/_presets/<kind>``; a source checkout or editable install reads
    the live top-level ``<kind>/`` folder beside the package.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown preset kind {kind!r}; expected one of {', '.join(KINDS)}")
    shipped = files("accelsim").joinpath("_presets", kind)
    if shipped.is_dir():
        return Path(str(shipped))
    return Path(__file__).resolve().parents[2] / kind  # accelsim/config/presets.py → the folder above accelsim/


PRESET_PATH_ENV = "ACCELSIM_PRESET_PATH"
"""Environment variable: folders (separated by ``os.pathsep``) each holding ``arch/``, ``workloads/`` and/or
``experiments/`` preset files of a user's own, searched after the shipped presets."""


def search_dirs(kind: str) -> list[Path]:
    """The folders searched for presets of ``kind``, in order: :func:`preset_dir`, then ``<folder>/<kind>`` of each
    folder of :data:`PRESET_PATH_ENV`."""
    dirs = [preset_dir(kind)]
    for folder in os.environ.get(PRESET_PATH_ENV, "").split(os.pathsep):
        if folder.strip():
            dirs.append(Path(folder.strip()).expanduser() / kind)
    return dirs


def list_presets(kind: str) -> list[str]:
    """Names (file stems) of the presets of ``kind`` in every :func:`search_dirs` folder, sorted."""
    return sorted({p.stem for folder in search_dirs(kind) if folder.is_dir()
                   for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file()})


SWEEP_MARKS = ("grid", "zip")
"""Top-level keys that make a YAML file a sweep (:func:`is_sweep_file`), not an experiment."""


def is_sweep_file(path: str | os.PathLike) -> bool:
    """True when the YAML file ``path`` is a sweep (a top-level ``grid:`` or ``zip:``); False for anything else, a
    file that cannot be read or parsed included (its reader says what is wrong)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and any(k in data for k in SWEEP_MARKS)


def experiment_names() -> list[str]:
    """The experiment presets that are experiments, not sweeps (:func:`is_sweep_file`): what a sweep's ``base:``
    may name."""
    return [n for n in list_presets("experiments") if not is_sweep_file(find_preset("experiments", n) or "")]


def looks_like_path(ref: str) -> bool:
    """True when ``ref`` is written as a file path (has a folder part or a YAML suffix), not a bare name."""
    return "/" in ref or os.sep in ref or ref.endswith(_SUFFIXES)


def as_typed(ref: str | os.PathLike, shown: str) -> str:
    """What to write after a command to name ``ref`` again (a redirect's "run it with 'accelsim run X'"): the preset
    name as typed, else ``shown``, the file's path."""
    text = os.fspath(ref)
    return text if not looks_like_path(text) and not Path(text).expanduser().is_file() else shown


def import_form(ref: str) -> dict[str, str] | None:
    """The workload mapping an import form of a workload reference stands for, or None for any other reference:
    ``torch:package.module:factory`` → ``{model: torch, factory: ...}``, a path ending in ``.onnx`` →
    ``{model: onnx, path: ...}`` (the builders of builders/torch_fx.py and builders/importers.py)."""
    if ref.startswith("torch:"):
        return {"model": "torch", "factory": ref[len("torch:"):]}
    if ref.lower().endswith(".onnx"):
        return {"model": "onnx", "path": ref}
    return None


def suggest(name: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """"; did you mean 'x'?" for the closest of ``choices`` to ``name``, or "" when none is close."""
    close = difflib.get_close_matches(str(name), sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


FILE_NOT_FOUND = "file not found"
IS_DIRECTORY = "is a directory, not a YAML file"  # a workload, arch or experiment given as a folder


def find_preset(kind: str, name: str) -> Path | None:
    """The preset file for ``name`` in ``kind`` (the first :func:`search_dirs` folder holding one), or None."""
    for folder in search_dirs(kind):
        for suffix in _SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def resolve(kind: str, ref: str | os.PathLike, *, relative_to: str | os.PathLike | None = None,
            extra_names: tuple[str, ...] | list[str] = (), names: list[str] | None = None) -> Path:
    """The file that ``ref`` names: an existing path (as given, then relative to ``relative_to``), else the
    preset of that name; else :class:`ConfigError`: :data:`IS_DIRECTORY` for a folder, :data:`FILE_NOT_FOUND` for a
    path, or a "did you mean" and the valid names.

    ``extra_names`` are further valid names to suggest (e.g. builder names for workloads); the caller handles them.
    ``names`` replaces the presets of ``kind`` in that list (a sweep's ``base:`` offers :func:`experiment_names`).
    """
    text = str(ref)
    candidates = [Path(text).expanduser()]
    if relative_to is not None and not Path(text).is_absolute():
        candidates.append(Path(relative_to) / text)
    for path in candidates:
        if path.is_file():
            return path
    if not looks_like_path(text):
        found = find_preset(kind, text)
        if found is None and kind == "experiments":  # a serving preset: the caller says which command runs it
            found = next((p for p in (preset_dir(kind) / "serving" / f"{text}{s}" for s in _SUFFIXES)
                          if p.is_file()), None)
        if found is not None:
            return found
    folder = next((p for p in candidates if p.is_dir()), None)
    if folder is not None:  # an existing path, but not a file: "file not found" would mislead
        raise ConfigError(ConfigIssue(text if folder is candidates[0] else os.fspath(folder), None, "", IS_DIRECTORY))
    if looks_like_path(text) or isinstance(ref, os.PathLike):
        shown = os.fspath(candidates[-1]) if len(candidates) > 1 else text
        raise ConfigError(ConfigIssue(shown, None, "", FILE_NOT_FOUND))
    names = sorted(set(list_presets(kind) if names is None else names) | set(extra_names))
    what = {"arch": "arch preset", "workloads": "workload", "experiments": "experiment preset"}[kind]
    valid = f"valid names: {', '.join(names) or 'none'}"
    hint = suggest(text, names)
    missing = [os.fspath(d.parent) for d in search_dirs(kind)[1:] if not d.is_dir()]
    # a mistyped ACCELSIM_PRESET_PATH folder would otherwise be searched in silence; said before the valid names,
    # which a long list (97 workloads) would cut at the message's length limit (probe p46 #2)
    what += f" (no {kind}/ folder in {PRESET_PATH_ENV}'s {', '.join(missing)})" if missing else ""
    msg = f"unknown {what}{hint} ({valid})" if hint else f"unknown {what}; {valid}"
    # a preset of another kind given here (an experiment's name as the arch): say what it is (probe p71 #6)
    kinds = {"arch": "an arch preset", "workloads": "a workload preset", "experiments": "an experiment preset"}
    other = next((k for k in KINDS if k != kind and find_preset(k, text) is not None), None)
    if other is not None:
        msg = f"{text!r} is {kinds[other]}, not {'an' if what[0] in 'aeiou' else 'a'} {what}; {valid}"
    raise ConfigError(ConfigIssue(None, None, kind, msg, text, True))
