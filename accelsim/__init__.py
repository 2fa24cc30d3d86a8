"""accelsim: a discrete-event simulator of deep-learning accelerators.

    >>> import accelsim
    >>> report = accelsim.simulate("resnet50", "tpu-v1")          # doctest: +SKIP
    >>> report.total_cycles, report.to_dict()["mac_utilization"]  # doctest: +SKIP

The public names are imported on first use, so ``import accelsim.mapping`` does not load YAML or pydantic
schemas it does not need.
"""

__version__ = "0.1.0"

ERRORS = ("AccelsimError", "ConfigError", "ConfigIssue", "WorkloadError", "MappingError", "CapacityError",
          "BudgetError", "SimulationError")
"""The error types of :mod:`accelsim.errors` a caller catches, also reachable as ``accelsim.AccelsimError`` (the base
of them all: ``except accelsim.AccelsimError``)."""

__all__ = ["simulate", "serve", "run_experiment", "load_experiment", "load_workload", "load_arch", "Report", "from_onnx",
           "from_torch", "register_workload", *ERRORS, "__version__"]


def __getattr__(name: str):
    if name in ("simulate", "serve", "run_experiment", "load_experiment"):
        from . import api

        return getattr(api, name)
    if name in ("load_workload", "load_arch"):  # a workload or arch spec, validated (YAML, a preset name, a dict)
        from . import config

        return getattr(config, name)
    if name == "from_onnx":  # needs the optional extra accelsim[onnx]
        from .builders.importers import from_onnx

        return from_onnx
    if name == "from_torch":  # needs the optional extra accelsim[torch]
        from .builders.torch_fx import from_torch

        return from_torch
    if name == "register_workload":  # the registry's, refusing a workload preset's name too (config knows those)
        from .api import register_workload

        return register_workload
    if name in ERRORS:
        from . import errors

        return getattr(errors, name)
    if name == "Report":
        from .report import Report

        return Report
    raise AttributeError(f"module 'accelsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's own names and the public ones (:data:`__all__`) it loads on first use."""
    return sorted({*globals(), *__all__})
