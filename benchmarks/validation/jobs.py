"""A simulation job as an accelsim experiment: the preset it runs on, its :class:`ExperimentSpec` and a rough cost
that orders the long jobs first."""

from __future__ import annotations

import math

from .model import Job

_ARCHS: dict[str, object] = {}


def _ref(ref: str) -> tuple[str, dict[str, str]]:
    """A job's arch ref split into the preset and its ``|key=value`` settings."""
    base, *settings = ref.split("|")
    return base, dict(kv.split("=", 1) for kv in settings)


def load_preset(ref: str):
    """The :class:`accelsim.hardware.Arch` of a preset name or YAML path (loaded once per process);
    ``"dgx-a100|chips=64"`` is the preset with another chip count, ``"h200|kernel=flash2"`` the preset running
    another of its attention kernels (``core.attention_kernel``: the kernel a measurement timed), ``"h100|
    gemm_library=vllm"`` its GEMMs as that library's own table dispatches them (``core.tile.library``)."""
    if ref not in _ARCHS:
        from accelsim.config import load_arch

        base, settings = _ref(ref)
        arch = load_arch(base)
        if "chips" in settings:
            arch = arch.model_copy(update={"chips": int(settings["chips"])})
        if "kernel" in settings:
            core = arch.core.model_copy(update={"attention_kernel": settings["kernel"]})
            arch = arch.model_copy(update={"core": core})
        if "gemm_library" in settings:  # "h100|gemm_library=vllm": its GEMMs as that library dispatches them
            tile = arch.core.tile.model_copy(update={"library": settings["gemm_library"]})
            arch = arch.model_copy(update={"core": arch.core.model_copy(update={"tile": tile})})
        _ARCHS[ref] = arch
    return _ARCHS[ref]


def experiment(j: Job):
    """The :class:`accelsim.config.schema.ExperimentSpec` that simulates job ``j`` (default options;
    ``"a100|execution=cuda_graph"`` runs the kernels as one CUDA graph, as a collector that replays a captured
    graph measures them; ``"|warm=all"`` starts the micro-workload's graph inputs in the L2, ``options.warm_inputs``;
    ``"|params=6"`` replays it on the same parameters, 6 copies of each per run, ``options.warm_params``;
    ``"|throttle=tdp"`` runs it at the clock that holds the TDP where it would exceed it, as sustained full-power
    load does, ``options.throttle_to_tdp``)."""
    from accelsim.config import load_workload
    from accelsim.config.schema import ExperimentSpec
    from accelsim.options import Options

    arch_ref, model, params = j
    arch = load_preset(arch_ref)
    settings = _ref(arch_ref)[1]
    chosen: dict[str, object] = {"execution": settings["execution"]} if "execution" in settings else {}
    if "warm" in settings:  # "|warm=all" or "|warm=b": the graph inputs the measurement had in the L2 (the files cite why)
        chosen["warm_inputs"] = True if settings["warm"] == "all" else tuple(settings["warm"].split("+"))
    if "params" in settings:  # "|params=6": the run is replayed on the same weights, 6 copies of each per run
        chosen["warm_params"] = int(settings["params"])
    if "fold_bn" in settings:  # "|fold_bn=false": eager PyTorch runs each eval batch norm as a kernel of its own
        chosen["fold_batchnorm"] = settings["fold_bn"] != "false"
    if settings.get("throttle") == "tdp":  # "|throttle=tdp": sustained full-power load (the files cite why)
        chosen["throttle_to_tdp"] = True
    options = Options(**chosen)
    # a list-valued parameter travels as a tuple (a job is hashable): the workload takes it as the list it is
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in params}
    return ExperimentSpec(name=f"{model}_{arch.name}", workload=load_workload({"model": model, **values}),
                          arch=arch, options=options)


def point_values(j: Job) -> dict:
    """How a job is written in the results store (its record's ``point``)."""
    return {"arch": j[0], "workload": {"model": j[1], **dict(j[2])}}


def job_cost(j: Job) -> float:
    """A rough ordering key (output tiles of a GEMM) so the long simulations start first."""
    p = dict(j[2])
    if j[1] == "gemm":
        return math.ceil(p.get("batch", 1) * p["m"] / 128) * math.ceil(p["n"] / 128) + 1
    if j[1] == "gpt":  # whole training iterations: minutes each, start them first
        return 1e12
    if j[1] == "attention":
        return p.get("batch", 1) * p["heads"] * max(1, p["q_len"] // 128) * max(1, p["kv_len"] // 128)
    return 1.0
