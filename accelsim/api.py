"""The Python API: ``simulate(workload, arch, **options) -> Report``, as five plain calls read top to bottom
(``tests/unit/test_api_contracts.py`` runs this example):

    >>> import accelsim
    >>> from accelsim import config, engine, mapping
    >>> from accelsim.report import Report, build_report
    >>> from accelsim.scenarios import workload_info
    >>> spec = config.load_experiment("resnet50_tpu_v1")          # 1. files → validated, typed values
    >>> graph = config.build_graph(spec.workload, spec.arch.dtype)  # 2. workload → op graph (builders)
    >>> tg = mapping.lower(graph, spec.arch, spec.options)          # 3. op graph + arch → task graph
    >>> trace = engine.simulate(tg)                                 # 4. task graph → trace (SimPy)
    >>> data = build_report(graph, spec.arch, tg, trace, name=spec.name,  # 5. trace → report.json's dict
    ...                     workload=workload_info(graph, spec.workload), version=accelsim.__version__)
    >>> report = Report(data, segments=[(tg, trace, 0)])            # what simulate returns (a trace can be saved)
    >>> report.total_cycles == accelsim.simulate(spec.workload, spec.arch, spec.options).total_cycles
    True

Steps 2-5 run once for a plain workload and once per pass for the composed scenarios (LLM serving, pipeline
parallelism); :func:`accelsim.scenarios.run_workload` decides which.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from .config import ExperimentSpec, WorkloadSpec, build_graph, load_arch, load_experiment, load_options, load_workload
from .errors import ConfigError
from .hardware import Arch
from .ir import Graph
from .options import Options
from .report import Report, live_dict
from .scenarios import Progress, run_graph, run_workload
from .scenarios import decode_samples as _decode_samples
from .scenarios import pipeline as _pipeline
from .scenarios import serve as _serve_decode_steps

if TYPE_CHECKING:  # the serving DES is imported by the calls that use it (start-up of every other run)
    from .config.serving import ServingSpec
    from .serving import ServeResult


F = TypeVar("F", bound=Callable)


def collector_paused(call: F) -> F:
    """``call`` with Python's cyclic garbage collector switched off while it runs, and back on after it (returning
    or raising) if it was on before: a run builds hundreds of thousands of objects that live until it ends (ops,
    tasks, events), and each automatic collection walks every object still alive, so collections took 0.9 of a
    2.8 s resnet152 training run. A call inside another (or while the caller keeps the collector off) leaves it as
    it found it. Cycles made during the call are collected by the first automatic collection after it."""

    @functools.wraps(call)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return call(*args, **kwargs)
        gc.disable()
        try:
            return call(*args, **kwargs)
        finally:
            gc.enable()

    return paused  # type: ignore[return-value]


def options_checked(call: F) -> F:
    """``call`` (a scenario taking ``(graph or workload, arch, options)``: run, pipeline, serve_decode_steps) with
    its ``options``, when given, validated again by :func:`~accelsim.config.load_options`: an :class:`Options`
    changed with pydantic's ``model_copy(update=...)``, which skips validation, gets the one-line ConfigError a
    mapping would (probe p216 #1: ``split_ops="no"`` ran with splitting on), and a mapping of options is taken as
    :func:`simulate` takes it."""

    @functools.wraps(call)
    def checked(*args, **kwargs):
        if len(args) > 2 and args[2] is not None:
            args = (*args[:2], load_options(args[2]), *args[3:])
        elif kwargs.get("options") is not None:
            kwargs["options"] = load_options(kwargs["options"])
        return call(*args, **kwargs)

    return checked  # type: ignore[return-value]


run = collector_paused(options_checked(run_graph))
pipeline = collector_paused(options_checked(_pipeline))
decode_samples = collector_paused(_decode_samples)
serve_decode_steps = collector_paused(options_checked(_serve_decode_steps))


@collector_paused
def run_experiment(spec: ExperimentSpec, progress: Progress | None = None) -> Report:
    """Build, map, simulate and report a loaded experiment (a serving or pipeline-parallel run when its workload
    asks for one)."""
    return run_workload(spec.workload, spec.arch, spec.options, name=spec.name, progress=progress,
                        arch_source=spec.arch_source)


IMPORTED = ("onnx", "torch")  # graphs from_onnx / from_torch build, whose dtype defaults to fp16 whatever the arch
IMPORTED_DTYPE_NOTE = ("the imported graph computes in {dtype}, not the arch's dtype {arch}: a built Graph keeps the "
                       "dtype it was built with (from_onnx / from_torch default to fp16); pass dtype='{arch}' to "
                       "build it in the arch's, or simulate the model's path or workload, which follow the arch")


@collector_paused
def simulate(workload: str | os.PathLike | Mapping | WorkloadSpec | Graph,
             arch: str | os.PathLike | Mapping | Arch, options: Options | Mapping[str, object] | None = None, *,
             name: str | None = None, batch: int | None = None, mode: str | None = None,
             **option_values: object) -> Report:
    """Simulate ``workload`` on ``arch`` and return the :class:`Report`.

    ``workload`` is a workload preset or builder name (``"resnet50"``), a YAML path, a mapping with ``model:`` and
    the builder's parameters (``{"model": "gpt", "layers": 4}``), a :class:`WorkloadSpec`, or a built
    :class:`~accelsim.ir.Graph` (simulated as is). ``arch`` is a preset name, a YAML path, a mapping (which may
    start from a preset with ``base:``, e.g. ``{"base": "tpu-v1", "clock": "1GHz"}``) or an :class:`Arch`, which is
    validated again (:func:`~accelsim.config.load_arch`): an Arch is frozen, so derive a changed one with
    ``accelsim.load_arch(arch, ["core.systolic.rows=128"])``; one changed with pydantic's ``model_copy(update=...)``
    is checked as a mapping would be. An experiment, serving or sweep preset's name is refused with the call that
    runs it (``accelsim.run_experiment(accelsim.load_experiment(NAME))``, ``accelsim.serve(NAME)``).

    ``batch`` and ``mode`` override the workload's, as the CLI's ``--batch`` and ``--mode`` do (not for a Graph,
    which is already built). Options come as an :class:`Options` (validated again, as an Arch is: one changed with
    ``model_copy(update=...)`` is checked as a mapping would be), a mapping, or keyword arguments
    (``fold_batchnorm=False``); keywords win. A WorkloadSpec changed with ``dataclasses.replace`` is validated again
    too. A bad argument of any kind raises a
    :class:`~accelsim.errors.ConfigError` whose message is one line per problem, naming the key
    (``<input>: workload.batch: Input should be a valid integer ... (got 'x')``), as the CLI reports it.
    The options ``plots`` and ``trace`` are what :meth:`Report.save` then writes unless it is told otherwise.
    """
    if name is not None and not isinstance(name, str):
        raise ConfigError.one(None, "name", "expected a string (the report's name)", value=name)
    arch = load_arch(arch)  # type: ignore[arg-type]  # an Arch too: model_copy(update=...) skips validation
    if "dims" in option_values or (isinstance(options, Mapping) and "dims" in options):
        # a workload key, not an option (probe p115 #7: "options.dims: Extra inputs are not permitted" led nowhere)
        dims = option_values.get("dims", options.get("dims") if isinstance(options, Mapping) else None)
        raise ConfigError.one(None, "workload.dims", "dims is a workload key, not an option: pass the workload as a "
                              "mapping, {'model': 'onnx', 'path': PATH, 'dims': {...}}, or build it with "
                              "accelsim.from_onnx(PATH, dims={...})", value=dims)
    opts = load_options(options, option_values)
    given = {k: v for k, v in (("batch", batch), ("mode", mode)) if v is not None}
    if isinstance(workload, Graph):
        if given:
            key = next(iter(given))
            raise ConfigError.one(None, f"workload.{key}", "cannot override a built Graph (pass a workload name, "
                                  "path, mapping or WorkloadSpec)", value=given[key])
        workload.require_ops()
        report = run(workload, arch, opts, name=name)
        dtype = workload.meta.get("dtype")
        if workload.meta.get("model") in IMPORTED and isinstance(dtype, str) and dtype != arch.dtype:
            data = live_dict(report)
            data["notes"] = [*data.get("notes", []), IMPORTED_DTYPE_NOTE.format(dtype=dtype, arch=arch.dtype)]
        return report
    try:
        spec = load_workload(workload)  # type: ignore[arg-type]
    except ConfigError as e:
        redirect = _preset_redirect(workload)
        if redirect is None:
            raise
        raise redirect from e
    if given or (isinstance(workload, WorkloadSpec) and (workload.source is None or not _params_valid(workload))):
        # overrides, a WorkloadSpec the caller made (its parameters never validated) or one changed with
        # dataclasses.replace (probe p216 #2: a raw pydantic ValidationError): validated as a mapping
        spec = replace(load_workload({"model": spec.model, **spec.params, **given}), file=spec.file,
                       description=spec.description)
    return run_workload(spec, arch, opts, name=name)


def _params_valid(spec: WorkloadSpec) -> bool:
    """Whether a loaded ``spec``'s parameters pass its builder's checks still (``dataclasses.replace`` keeps the
    ``source`` of one it changes, but not its validation); one that passes keeps its source, whose file and line
    later errors name."""
    from pydantic import ValidationError

    from .builders import BUILDERS

    builder = BUILDERS.get(spec.model)
    if builder is None:
        return False
    try:
        builder.params.model_validate(spec.params)
    except (ValidationError, TypeError):
        return False
    return True


def _preset_redirect(workload: object) -> ConfigError | None:
    """The error for a workload that names a serving, experiment or sweep preset, naming the call that runs it (the
    CLI's ``accelsim run NAME`` says which command does), or None (probe p65 #7: "unknown workload; did you mean
    'llama2_7b'?" led away from the preset meant)."""
    from .config.presets import find_preset, looks_like_path
    from .config.serving import serving_presets

    if not isinstance(workload, str) or looks_like_path(workload):
        return None
    if workload in serving_presets():
        how = f"a serving preset, not a workload: run it with accelsim.serve({workload!r})"
    elif (path := find_preset("experiments", workload)) is None:
        return None
    else:
        try:
            load_experiment(path)
            how = (f"an experiment preset (a workload and an arch), not a workload: run it with "
                   f"accelsim.run_experiment(accelsim.load_experiment({workload!r}))")
        except ConfigError as e:
            if "sweep file" not in str(e):
                return None
            how = (f"a sweep preset, not a workload: run it with accelsim.sweep.run_sweep({workload!r}) (under "
                   f"'if __name__ == \"__main__\":', docs/sweeps.md)")
    return ConfigError.one(None, "workload", f"{workload!r} is {how}")


@collector_paused
def serve(serving: str | os.PathLike | Mapping | ServingSpec, *, overrides: Sequence[str] = (),
          progress: Progress | None = None) -> ServeResult:
    """Simulate LLM serving under load (docs/serving.md): ``serving`` is a serving YAML path, a preset name from
    ``experiments/serving/``, a mapping of the same keys or a loaded :class:`ServingSpec`; ``overrides`` are
    ``--set`` items (a list of ``"workload.arrival.rate=4"`` strings), not with a ServingSpec (load it with them:
    :func:`load_serving`). Returns a :class:`~accelsim.serving.ServeResult`: ``.report``
    (report.json's dict), ``.requests``, and ``.save(outdir)``. Bad input raises a one-line ConfigError."""
    from .config.serving import ServingSpec
    from .serving import serve as run_serving

    _check_overrides(overrides)
    if isinstance(serving, ServingSpec):
        if overrides:  # they were dropped without a word (probe p99 #5)
            raise ConfigError.one(None, "overrides", "not with a loaded ServingSpec, whose items were applied when "
                                  "it was loaded: pass them to accelsim.api.load_serving(FILE, overrides), or pass "
                                  "the file, preset name or mapping to serve()", value=list(overrides))
        return run_serving(serving, progress=progress)
    return run_serving(load_serving(serving, overrides), progress=progress)  # type: ignore[arg-type]


def _check_overrides(overrides: object) -> None:
    """A one-line ConfigError for serving ``overrides`` that are not a list of ``--set`` strings: a mapping
    ({"workload.arrival.rate": 3}) was read as its keys and failed as "--set: expected KEY=VALUE" (probe p99 #5), a
    string as its characters (``load_serving`` took "workload.x=1" letter by letter; probe p107 #9)."""
    if isinstance(overrides, (str, bytes, Mapping)) or not isinstance(overrides, Sequence):
        raise ConfigError.one(None, "overrides", f"expected a list of 'KEY=VALUE' strings, as --set items (e.g. "
                              f"['workload.arrival.rate=3']), not a {type(overrides).__name__}")


def register_workload(name: str, params: type, build, description: str = ""):
    """:func:`accelsim.builders.registry.register_workload` (``accelsim.register_workload``), refusing also the name
    of a workload preset (``workloads/NAME.yaml``, shipped or in :data:`~accelsim.config.presets.PRESET_PATH_ENV`'s
    folders): ``simulate("NAME")`` runs the preset while ``{"model": "NAME"}`` would run the builder, so one name
    would name two models (``llama3_8b``'s preset is ``model: hf``; probe p47 #1)."""
    from .builders.registry import BUILT_IN
    from .builders.registry import register_workload as register
    from .config.presets import find_preset, list_presets
    from .errors import WorkloadError

    if isinstance(name, str) and name not in BUILT_IN and name in list_presets("workloads"):
        raise WorkloadError(f"register_workload: {name!r} is a workload preset ({find_preset('workloads', name)}), "
                            f"which accelsim.simulate({name!r}) and -w {name} run; choose another name")
    return register(name, params, build, description)


def load_serving(path: str | os.PathLike | Mapping, overrides: Sequence[str] = ()) -> ServingSpec:
    """A serving file (path, preset name or mapping) with ``--set`` overrides, validated
    (:func:`accelsim.config.serving.load_serving`)."""
    from .config.serving import load_serving as load

    _check_overrides(overrides)
    return load(path, overrides)


__all__ = ["simulate", "run", "run_experiment", "serve", "serve_decode_steps", "load_serving", "register_workload", "pipeline", "decode_samples", "build_graph",
           "load_experiment", "Report"]
