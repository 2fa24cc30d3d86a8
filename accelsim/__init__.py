"""accelsim: a discrete-event simulator of deep-learning accelerators.

    >>> import accelsim
    >>> report = accelsim.simulate("resnet50", "tpu-v1")          # doctest: +SKIP
    >>> report.total_cycles, report.to_dict()["mac_utilization"]  # doctest: +SKIP

The public names are imported on first use, so ``import accelsim.mapping`` does not load YAML or pydantic
schemas it does not need.
"""

__version__ = "0.1.0"

__all__ = ["simulate", "serve", "run_experiment", "load_experiment", "load_workload", "load_arch", "Report", "from_onnx",
           "from_torch", "register_workload", "__version__"]


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
    if name == "register_workload":
        from .builders.registry import register_workload

        return register_workload
    if name == "Report":
        from .report import Report

        return Report
    raise AttributeError(f"module 'accelsim' has no attribute {name!r}")
