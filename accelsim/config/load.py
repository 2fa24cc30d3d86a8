"""Load experiments, archs and workloads: YAML → presets and ``base:`` resolved → ``--set`` applied → validated.

Every problem found on the way is collected, and one :class:`ConfigError` lists them all, one line each:
``FILE:LINE: dotted.key: what was expected (got VALUE)``, where FILE:LINE is where the key (or its nearest
written parent) was set: the experiment file, the preset or ``base:`` file it came from, or ``--set``.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ..builders import BUILDERS
from ..errors import MAX_VALUE_CHARS, ConfigError, ConfigIssue, clip
from ..hardware import Arch, import_plugins, level_graph_problems
from ..options import (
    DISTRIBUTED_OPTIMIZER_TRAINING_ONLY,
    OFFLOAD_TRAINING_ONLY,
    OPTIMIZER_TRAINING_ONLY,
    RECOMPUTE_TRAINING_ONLY,
    Options,
)
from . import presets
from .docs import FILE_KINDS, Issues, file_doc, file_kind, section_doc, top_level_issues
from .overrides import SET_LABEL, Override, apply_overrides, parse_overrides
from .schema import EXPERIMENT_KEYS, ExperimentSpec, Plugins, WorkloadSpec, issues_from_validation, set_rank, validate
from .yamlio import Doc, Where, display_path

_WORKLOAD_META = ("model", "description", "plugins")


def arch_from_doc(doc: Doc) -> tuple[Arch | None, list[ConfigIssue]]:
    """The :class:`Arch` of an arch document, validated, or None and the issues. Its ``plugins`` are imported first
    (from PYTHONPATH or the folder of the file naming them, or of the arch file a ``--set`` of them changes), so the
    unit kinds they register are known to the checks; one that cannot be imported is the one issue, at its line."""
    data = doc.data if isinstance(doc.data, dict) else {}
    if data.get("plugins"):
        # the folder of the file that names them; for a --set, that of the arch file it changes
        folder = doc.locate(("plugins",))[0].folder or doc.locate(())[0].folder
        problem = import_plugins(data["plugins"], os.fspath(folder.resolve()) if folder is not None else None)
        if problem is not None:
            key, _, msg = problem.partition(": ")
            path = tuple(int(k) if k.isdigit() else k for k in key.split("."))
            return None, [doc.issue(path, msg)]
    arch, issues = validate(Arch, doc, root=("arch",))
    if arch is None:
        # the levels' problems as a whole (an 'after' naming no level, a circle of them, a short form's role) are
        # checked after every field has passed: check them on the data as written too, so that they come with the
        # other keys' problems in one run, not one edit later
        seen = {str(i) for i in issues}
        for path, msg in level_graph_problems(data):
            issue = doc.issue(path, msg)
            if str(issue) not in seen:
                seen.add(str(issue))
                issues.append(issue)
    return arch, issues


def workload_from_doc(doc: Doc, file: str | None) -> tuple[WorkloadSpec | None, list[ConfigIssue]]:
    """The :class:`WorkloadSpec` of a workload document (``model:`` and its builder's parameters, validated), or
    None and the issues; shared with :mod:`.serving` (a serving file's ``model:``)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    model = data.get("model")
    if model is None:
        return None, [doc.issue(("model",), "missing: name the workload builder, e.g. 'model: resnet50'")]
    if not isinstance(model, str):
        return None, [doc.issue(("model",), "expected a builder name", model)]
    plugins, issues = _workload_plugins(doc)
    if issues:
        return None, issues
    if model not in BUILDERS:
        if model in presets.list_presets("workloads"):  # a preset's name where a builder's is expected
            return None, [doc.issue(("model",), f"{model!r} is a workload preset, not a builder: write "
                                                f"'base: {model}' to start from it and change its keys", model)]
        names = sorted(BUILDERS)
        hint = presets.suggest(model, names)
        valid = f"valid models: {', '.join(names)}"
        msg = f"unknown workload model{hint} ({valid})" if hint else f"unknown workload model; {valid}"
        return None, [doc.issue(("model",), msg, model)]
    description = data.get("description", "")
    if not isinstance(description, str):
        return None, [doc.issue(("description",), "expected a string", description)]
    params_doc = Doc({k: v for k, v in data.items() if k not in _WORKLOAD_META}, doc.where)
    if model in _IMPORT_KEYS and _IMPORT_KEYS[model][0] not in params_doc.data:  # `accelsim info onnx`
        key, example = _IMPORT_KEYS[model]
        return None, [doc.issue((key,), f"missing: an imported model needs workload.{key} (--set "
                                        f"workload.{key}={example})")]
    if model in _FILE_PARAMS:
        params_doc, found = _file_param(params_doc, model)
        if found:
            return None, found
    if "recompute" in params_doc.data and "recompute" not in BUILDERS[model].params.model_fields:
        takes = sorted(n for n, b in BUILDERS.items() if "recompute" in b.params.model_fields)
        return None, [doc.issue(("recompute",), f"{model} takes no recompute: activation recompute is modelled for "
                                                f"these builders only ({', '.join(takes)}); leave it out",
                                params_doc.data["recompute"])]
    params, issues = validate(BUILDERS[model].params, params_doc, root=("workload",))
    if params is None:
        return None, issues
    dumped = params.model_dump()
    try:  # the build validates these again, defaults included, which pydantic leaves unchecked on a first pass
        BUILDERS[model].params.model_validate(dumped)  # (attention's kv_heads 32 against heads 2)
    except ValidationError as e:
        return None, issues_from_validation(e, Doc(dumped, params_doc.where), BUILDERS[model].params,
                                            root=("workload",), written=params_doc.data)
    found = _unread_group_size(params, params_doc)
    if found:
        return None, found
    return WorkloadSpec(model, dumped, file, description, source=params_doc, plugins=plugins), []


def _unread_group_size(params: BaseModel, doc: Doc) -> list[ConfigIssue]:
    """A ``quant_group_size`` the user wrote (a file of theirs, a mapping, a ``--set``; not a preset's, which a
    changed ``weight_dtype`` may leave unread) where no weight is stored with scales, refused at its line rather
    than ignored (probe p79 #3), where the builder's params model says why (``group_size_unread()``: ``hf``'s); the
    ``hf`` builder lists it in ``workload.unread`` otherwise."""
    if set_rank(doc, ("quant_group_size",)) < 2:
        return []
    own = getattr(params, "group_size_unread", None)  # the builder's params say (hf's HfParams.group_size_unread)
    why = own() if callable(own) else None
    return [doc.issue(("quant_group_size",), why, params.quant_group_size)] if why else []  # type: ignore[attr-defined]


def training_only_issues(workload: WorkloadSpec) -> list[ConfigIssue]:
    """The workload keys an inference run refuses, at their lines: ``recompute`` other than none and an
    ``optimizer`` the user wrote (not a preset's: gpt.yaml lists every key, optimizer: adam beside mode:
    inference); for ``run`` and ``accelsim info`` alike (probe p28: info took the optimizer)."""
    if workload.params.get("mode") == "training" or workload.source is None:
        return []
    found = []
    if workload.params.get("recompute") not in (None, "none"):
        found.append(workload.source.issue(("recompute",), RECOMPUTE_TRAINING_ONLY, workload.params["recompute"]))
    if set_rank(workload.source, ("optimizer",)) >= 2:
        found.append(workload.source.issue(("optimizer",), OPTIMIZER_TRAINING_ONLY, workload.params["optimizer"]))
    return found


def _workload_plugins(doc: Doc) -> tuple[Plugins, list[ConfigIssue]]:
    """A workload's ``plugins`` (the modules that register its builder with ``accelsim.register_workload``),
    imported from PYTHONPATH or the folder of the file naming them (as an arch's are), with that folder; an issue at
    the one that cannot be imported, or at a value that is no module name or list of them."""
    names = doc.data.get("plugins") if isinstance(doc.data, dict) else None
    if names is None:
        return Plugins(), []
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return Plugins(), [doc.issue(("plugins",), "expected a list of Python module names, e.g. [my_workloads]",
                                     names)]
    located = doc.locate(("plugins",))[0].folder or doc.locate(())[0].folder
    folder = os.fspath(located.resolve()) if located is not None else None
    problem = import_plugins(names, folder, beside="the workload file")
    if problem is not None:
        key, _, msg = problem.partition(": ")
        return Plugins(), [doc.issue(tuple(int(k) if k.isdigit() else k for k in key.split(".")), msg)]
    return Plugins(tuple(names), folder), []


_FILE_PARAMS = {"onnx": "path", "hf": "config"}  # builder → its parameter that names a file
_IMPORT_KEYS = {"onnx": ("path", "model.onnx"), "torch": ("factory", "package.module:function")}  # required, example


def _file_param(doc: Doc, model: str) -> tuple[Doc, list[ConfigIssue]]:
    """``doc`` (a workload's params) with its file parameter (an ONNX ``path``, a Hugging Face ``config`` path) read
    relative to the file that wrote it (an experiment, a workload file, a ``base:``), as a serving trace is; a path
    that exists only as given (from the current folder) is kept, as files wrote before. A missing ONNX file is an
    issue at that file and key."""
    key = _FILE_PARAMS[model]
    value = doc.data.get(key) if isinstance(doc.data, dict) else None
    if not isinstance(value, str) or not value:
        return doc, []
    if "\0" in value:  # no path at all: refused as other path keys refuse it, not an internal error (probe p215 #5)
        return doc, [doc.issue((key,), presets.FILE_NOT_FOUND, value)]
    path = Path(value).expanduser()
    folder = doc.locate((key,))[0].folder
    if not path.is_absolute() and folder is not None and ((folder / path).exists() or not path.exists()):
        path = (folder / path).resolve()
    if model == "onnx" and not path.is_file():
        at = "" if os.fspath(path) == value else f" at {os.fspath(path)} (relative to the file that names it)"
        return doc, [doc.issue((key,), f"ONNX file not found{at}", value)]
    return Doc({**doc.data, key: os.fspath(path)}, doc.where), []  # type: ignore[dict-item]


def _options_doc(parent: Doc) -> tuple[Doc | None, list[ConfigIssue]]:
    value = parent.data.get("options") if isinstance(parent.data, dict) else None
    if value is None:
        w, _ = parent.locate(("options",))
        return Doc({}, {(): Where(w.file, w.line, ("options",))}), []
    if not isinstance(value, dict):
        return None, [parent.issue(("options",), "expected a mapping of run options", value)]
    return parent.child("options"), []


def _replace_sections(doc: Doc, overrides: list[Override]) -> Doc:
    """``doc`` with whole sections replaced by ``--set SECTION=VALUE`` items (e.g. ``arch=gemmini``)."""
    for o in overrides:
        if o.keys:
            continue
        data = dict(doc.data) if isinstance(doc.data, dict) else {}
        data[o.section] = o.value
        where = {p: w for p, w in doc.where.items() if p[:1] != (o.section,)}
        where[(o.section,)] = Where(o.label, None, ())
        doc = Doc(data, where)
    return doc


def _stem(ref: object) -> str:
    if isinstance(ref, str) and ref.startswith("torch:"):
        return ref.rpartition(":")[2] or "torch"
    if isinstance(ref, (str, os.PathLike)):
        named_file = presets.looks_like_path(str(ref)) or presets.import_form(str(ref)) is not None
        return Path(ref).stem if named_file else str(ref)
    if isinstance(ref, Mapping):
        return str(ref.get("name") or ref.get("model") or "inline")
    return "custom"


def experiment_from_doc(doc: Doc, overrides: list[Override], issues: Issues, *, source: str,
                        default_name: str) -> ExperimentSpec:
    """The experiment ``doc`` stands for with ``overrides`` applied, validated; ``issues`` already collected are
    raised with the new ones. The shared back end of :func:`load_experiment`, :func:`experiment_from_parts` and
    the sweep's :class:`~accelsim.config.sweep.PointLoader`."""
    data = doc.data if isinstance(doc.data, dict) else {}
    issues.extend(top_level_issues(doc, EXPERIMENT_KEYS))
    doc = _replace_sections(doc, overrides)

    arch_doc, _, found = section_doc("arch", doc, "arch")
    issues.extend(found)
    arch = None
    if arch_doc is not None:
        arch_doc, found = apply_overrides(arch_doc, [o for o in overrides if o.section == "arch"], base_merged=True)
        issues.extend(found)
        arch, found = arch_from_doc(arch_doc)
        issues.extend(found)

    workload_doc, wfile, found = section_doc("workload", doc, "workload")
    issues.extend(found)
    workload = None
    if workload_doc is not None:
        workload_doc, found = apply_overrides(workload_doc, [o for o in overrides if o.section == "workload"],
                                              base_merged=True)
        issues.extend(found)
        workload, found = workload_from_doc(workload_doc, wfile)
        issues.extend(found)

    options_doc, found = _options_doc(doc)
    issues.extend(found)
    options = None
    if options_doc is not None:
        options_doc, found = apply_overrides(options_doc, [o for o in overrides if o.section == "options"])
        issues.extend(found)
        options, found = validate(Options, options_doc, root=("options",))
        issues.extend(found)

    issues.raise_if_any()
    if workload.params.get("mode") != "training":  # the training-only keys, at their lines
        found = training_only_issues(workload)
        if options is not None and options_doc is not None:
            if options.offload != "none":
                found.append(options_doc.issue(("offload",), OFFLOAD_TRAINING_ONLY, options.offload))
            if options.distributed_optimizer:
                found.append(options_doc.issue(("distributed_optimizer",), DISTRIBUTED_OPTIMIZER_TRAINING_ONLY, True))
        if found:
            raise ConfigError(found)
    name = data.get("name") or default_name
    elsewhere = tuple(f"{o.label} {o.dotted}={clip(o.text.split('=', 1)[1].strip(), MAX_VALUE_CHARS)}"
                      for o in overrides if o.section != "workload" and o.label == SET_LABEL)
    if elsewhere:
        workload = replace(workload, elsewhere=elsewhere)  # type: ignore[arg-type]
    at = options_doc.where.get(("memory_budget",)) if options_doc is not None else None
    if at is not None and options is not None and options.memory_budget is not None:
        given = [e for e in elsewhere if e.startswith(f"{SET_LABEL} options.memory_budget=")]
        budget_at = (given[-1] if given else f"{SET_LABEL} options.memory_budget") if at.file == SET_LABEL else \
            f"{at.file}:{at.line}" if at.line is not None else str(at.file)
        workload = replace(workload, budget_at=budget_at)  # type: ignore[arg-type]
    return ExperimentSpec(name=name, workload=workload, arch=arch, options=options,  # type: ignore[arg-type]
                          description=data.get("description") or "", output=data.get("output"), source=source,
                          arch_source=arch_doc)


# ---- public API ------------------------------------------------------------------------------------------------
def load_experiment(path: str | os.PathLike, overrides: Iterable[str] = ()) -> ExperimentSpec:
    """The experiment in the YAML file ``path`` (or the experiment preset of that name) with ``--set`` items
    ``overrides`` applied, validated. Raises one :class:`ConfigError` listing every problem."""
    if not isinstance(path, (str, os.PathLike)):  # a mapping was read as a name (probe p216 #3)
        raise ConfigError.one("<input>", "experiment", "expected the path of an experiment YAML file or an "
                              "experiment preset name (an experiment given as a mapping is not read: pass its "
                              "workload and arch to accelsim.simulate(workload, arch, options), or write it to a "
                              "YAML file)", value=type(path).__name__)
    issues = Issues()
    parsed, found = parse_overrides(overrides)
    issues.extend(found)
    try:
        try:
            file = presets.resolve("experiments", path)
        except ConfigError:  # the valid names listed are the experiments, no sweep (probe p216 #3; docs/sweeps.md)
            file = presets.resolve("experiments", path, names=presets.experiment_names())
    except ConfigError as e:
        issues.extend(i if i.file else ConfigIssue("<input>", None, "experiment", i.msg, i.value, i.has_value)
                      for i in e.issues)
        issues.raise_if_any()
        raise
    try:
        doc, found = file_doc(file)
    except ConfigError as e:
        issues.take(e)
        issues.raise_if_any()
        raise
    issues.extend(found)
    if doc is None:
        issues.raise_if_any()
    assert doc is not None
    again = presets.as_typed(path, display_path(file))
    kind = file_kind(doc.data)  # the one test of a file's kind, as the arch and workload slots use (docs.wrong_kind)
    if kind in ("sweep", "serving"):
        raise ConfigError.one(display_path(file), "", f"this is {FILE_KINDS[kind]}; run it with "
                              f"'accelsim {'sweep' if kind == 'sweep' else 'serve'} {again}'")
    refuse_part_file(doc.data, display_path(file))
    return experiment_from_doc(doc, parsed, issues, source=os.fspath(file), default_name=file.stem)


def refuse_part_file(data: object, shown: str) -> None:
    """A one-line error when ``data``, given as an experiment, is a workload file (it names a ``model:``) or an arch
    file (a ``clock:`` or ``core:``) rather than an experiment (neither ``workload:`` nor ``arch:``); ``accelsim
    serve`` and ``accelsim sweep`` give the same line for such a file (probe p223 #4)."""
    kind = file_kind(data)
    if kind == "workload":
        raise ConfigError.one(shown, "", f"this is {FILE_KINDS[kind]}; run it with 'accelsim run "
                              f"--workload {shown} --arch ARCH'")
    if kind == "arch":
        raise ConfigError.one(shown, "", f"this is {FILE_KINDS[kind]}; run it with 'accelsim run "
                              f"--workload WORKLOAD --arch {shown}'")


def experiment_from_parts(workload: str, arch: str, *, batch: int | None = None, mode: str | None = None,
                          overrides: Iterable[str] = ()) -> ExperimentSpec:
    """An experiment from a workload and an arch named on the command line (preset names or YAML paths), as
    ``accelsim run --workload W --arch A [--batch N] [--mode M] [--set K=V ...]``."""
    issues = Issues()
    parsed, found = parse_overrides(overrides)
    issues.extend(found)
    if batch is not None:
        parsed.insert(0, Override("workload", ("batch",), batch, f"--batch {batch}", label="--batch"))
    if mode is not None:
        parsed.insert(0, Override("workload", ("mode",), mode, f"--mode {mode}", label="--mode"))
    doc = Doc({"workload": workload, "arch": arch},
              {(): Where("<cli>", None, ()), ("workload",): Where("--workload", None, ()),
               ("arch",): Where("--arch", None, ())})
    named = {"workload": workload, "arch": arch} | {o.section: o.value for o in parsed if not o.keys}
    # each stem through _folder_name, as the builder form's model name below: `--workload "my net.onnx"` and
    # `--workload onnx --set "workload.path=my net.onnx"` both write my_net_h100 (probe p138 #4: "my net_h100")
    arch_stem = _folder_name(_stem(named["arch"]))
    spec = experiment_from_doc(doc, parsed, issues, source="<cli>",
                               default_name=f"{_folder_name(_stem(named['workload']))}_{arch_stem}")
    if isinstance(named["workload"], str) and named["workload"] in BUILDERS:
        # an importer named bare (--workload hf --set workload.config=X.json) stands for any model: the run is
        # named after the model it reads, not the builder, so two models on one arch write two folders (p126 #1)
        own = BUILDERS[spec.workload.model].params.model_validate(spec.workload.params).run_name()
        if own:
            spec = replace(spec, name=f"{_folder_name(own)}_{arch_stem}")
    return spec


def _folder_name(name: str) -> str:
    """``name`` fit to start a folder name (:func:`.docs.name_problem`): each path separator, NUL or other control
    character or white space an underscore, no leading dot (``meta-llama/Llama-3.1-8B`` → ``meta-llama_Llama-3.1-8B``)."""
    return "".join("_" if c in "/\\" or not c.isprintable() or c.isspace() else c for c in name).lstrip(".") or "model"


def _single(section: str, ref: object, overrides: Iterable[str], label: str | None) -> tuple[Doc | None, str | None,
                                                                                            list[Override],
                                                                                            Issues]:
    issues = Issues()
    parsed, found = parse_overrides(overrides, sections=(section,), default_section=section)
    issues.extend(found)
    parent = Doc({section: ref}, {(): Where(label, None, ()), (section,): Where(label, None, ())})
    parent = _replace_sections(parent, parsed)
    doc, file, found = section_doc(section, parent, section)
    issues.extend(found)
    if doc is not None:
        doc, found = apply_overrides(doc, [o for o in parsed if o.section == section], base_merged=True)
        issues.extend(found)
    return doc, file, parsed, issues


def load_arch(ref: str | os.PathLike | Mapping | Arch, overrides: Iterable[str] = ()) -> Arch:
    """The :class:`Arch` that ``ref`` names (a preset name, a YAML path, a mapping or an Arch), with ``--set``
    items applied (``arch.core.systolic.rows=128`` or ``core.systolic.rows=128``).

    An Arch is frozen; derive a changed one with ``load_arch(arch, ["core.systolic.rows=128", "clock=1.4GHz"])``
    (or a mapping, ``{"base": "tpu-v1", "clock": "1.4GHz"}``). An Arch is validated again from the fields a user
    can set, so one changed with pydantic's ``model_copy(update=...)``, which skips validation, gets the same
    one-line :class:`ConfigError` per problem as a mapping, and a key it set that is no field (``clock_hz``, a
    figure derived from ``clock``) is refused rather than ignored."""
    if isinstance(ref, Arch):
        unknown = [_not_a_field(obj, path, key) for obj, path, key in _unknown_fields(ref, ())]
        if unknown:
            raise ConfigError(unknown)
        with warnings.catch_warnings():  # a value of the wrong type (model_copy's) dumps as given, with a warning
            warnings.simplefilter("ignore")
            ref = ref.model_dump()
        if not overrides:
            try:
                return Arch.model_validate(ref)
            except ValidationError:
                pass  # validated again below as a mapping: one line per problem, naming its key
    doc, _, _, issues = _single("arch", dict(ref) if isinstance(ref, Mapping) else ref, overrides, None)
    arch = None
    if doc is not None:
        arch, found = arch_from_doc(doc)
        issues.extend(found)
    issues.raise_if_any()
    return arch  # type: ignore[return-value]


def _unknown_fields(obj: object, path: tuple[str, ...]) -> Iterator[tuple[BaseModel, tuple[str, ...], str]]:
    """``(model, its path, key)`` for each key set on a model within ``obj`` that is none of its fields (pydantic's
    ``model_copy(update=...)`` takes any key, and validation would drop it)."""
    if isinstance(obj, BaseModel):
        fields = type(obj).model_fields
        for key in sorted(set(obj.model_fields_set) - set(fields)):
            yield obj, path, key
        for key in fields:
            yield from _unknown_fields(getattr(obj, key, None), (*path, key))
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _unknown_fields(value, (*path, str(key)))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _unknown_fields(value, (*path, str(i)))


def _not_a_field(model: BaseModel, path: tuple[str, ...], key: str) -> ConfigIssue:
    """The issue for ``key`` set on ``model`` (at ``path`` of an Arch) that is not one of its fields."""
    derived = isinstance(getattr(type(model), key, None), (property, functools.cached_property))
    what = "a figure derived from its fields, not a setting" if derived else "not a field"
    hint = presets.suggest(key, list(type(model).model_fields))
    return ConfigIssue(None, None, ".".join(("arch", *path, key)),
                       f"{type(model).__name__}.{key} is {what}{hint}; derive a changed Arch with "
                       f"load_arch(arch, ['{'.'.join((*path, 'KEY'))}=VALUE'])")


def load_workload(ref: str | os.PathLike | Mapping | WorkloadSpec, overrides: Iterable[str] = ()) -> WorkloadSpec:
    """The :class:`WorkloadSpec` that ``ref`` names (a workload preset or builder name, a YAML path, a mapping
    with ``model:``, or a WorkloadSpec), with ``--set`` items applied (``workload.batch=8`` or ``batch=8``)."""
    file = None
    if isinstance(ref, WorkloadSpec):
        if not overrides:
            return ref
        file = ref.file
        ref = {"model": ref.model, **ref.params}
    doc, found_file, _, issues = _single("workload", dict(ref) if isinstance(ref, Mapping) else ref, overrides,
                                         None)
    spec = None
    if doc is not None:
        spec, found = workload_from_doc(doc, found_file or file)
        issues.extend(found)
    issues.raise_if_any()
    return spec  # type: ignore[return-value]


def load_options(options: object = None, values: Mapping[str, object] | None = None) -> Options:
    """Run options from an :class:`Options` or a mapping, with keyword ``values`` on top; a bad key or value is a
    one-line :class:`ConfigError` naming ``options.KEY``, as the CLI's ``--set options.KEY=VALUE`` gives. An Options
    is validated again from the keys set on it, as an Arch is (:func:`load_arch`): one changed with pydantic's
    ``model_copy(update=...)``, which skips validation, is checked as a mapping would be (probe p216 #1: ``split_ops
    "no"`` ran with splitting on, a key that is no field ran without a word)."""
    values = dict(values or {})
    where = Doc({}, {(): Where(None, None, ("options",))})
    if isinstance(options, Options):
        with warnings.catch_warnings():  # a value of the wrong type (model_copy's) dumps as given, with a warning
            warnings.simplefilter("ignore")
            data = options.model_dump(exclude_unset=True)
        # a key model_copy set that is no field: model_dump leaves it out, validation would never see it
        data |= {k: getattr(options, k, None) for k in sorted(options.model_fields_set - set(Options.model_fields))}
        data |= values
    elif options is None or isinstance(options, Mapping):
        data = {**dict(options or {}), **values}
    else:
        raise ConfigError(where.issue((), "expected an Options or a mapping of run options", options))
    opts, issues = validate(Options, Doc(data, where.where), root=("options",))
    if issues:
        raise ConfigError(issues)
    return opts
