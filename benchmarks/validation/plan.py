"""Which planner replays a file: by its format (:func:`~.data.classify`) and the presets its hardware tag names."""

from __future__ import annotations

from pathlib import Path

from .aiconfigurator import plan_aic_attention, plan_aic_gemm, plan_aic_nccl
from .calculon import plan_megatron
from .data import DEFAULT_ARCH_MAP, classify, hardware_of, skip_all
from .llmcompass import plan_allreduce_sizes, plan_gpt3_layer, plan_matmul, plan_vector
from .measured import plan_measured_kernels
from .model import FilePlan
from .models import plan_model_inference, plan_model_training
from .vidur import plan_vidur_allreduce, plan_vidur_ops


def _not_replayed(plan: FilePlan, network: str | None) -> FilePlan | None:
    """The plan of a file without kernels to replay (training, area, unknown), or None for a kernel file."""
    kind, hw = plan.kind, plan.hardware
    plan.preset = None
    if kind == "training":
        if network is None:
            plan.compared = "not replayed"
            return skip_all(plan, f"no multi-GPU preset for hardware {hw!r} (see --arch-map)")
        plan.preset = network
        return plan_megatron(plan, network)
    plan.compared = "not replayed"
    if kind == "area":
        return skip_all(plan, "areas, not times: compared by tests/integration/test_energy_area.py (docs/energy.md)", lambda r: r["component"])
    if kind == "gemm_burst":
        return skip_all(plan, "measure_gpu.py's burst / sustained pairs: how a power-limited GPU's clock follows the "
                              "duty cycle, read beside each other, not replayed",
                        lambda r: f"{r['m']}x{r['n']}x{r['k']} {r['mode']}")
    if kind == "power":
        return skip_all(plan, "measure_model.py's sustained power and clock per GEMM dtype and for a copy: held-out "
                              "figures for the energy model, read beside report.json's power (docs/validation.md)",
                        lambda r: f"{r['what']} {r['dtype']}")
    return skip_all(plan, "unknown file format")


def plan_file(path: Path, label: str | None = None, arch_map: dict[str, dict[str, str]] | None = None) -> FilePlan:
    """What replaying ``path`` takes: its rows, the jobs that simulate them, the skipped rows and why."""
    arch_map = arch_map or DEFAULT_ARCH_MAP
    kind = classify(path)
    hw = hardware_of(path, arch_map)
    presets = arch_map.get(hw or "", {})
    compute, network = presets.get("compute"), presets.get("network")
    plan = FilePlan(label or path.name, path, kind, hw, compute, "")
    if kind in ("training", "area", "unknown", "gemm_burst", "power"):
        return _not_replayed(plan, network)
    if kind == "aic_nccl":
        return plan_aic_nccl(plan, network)
    if kind in ("vidur_allreduce", "allreduce_sizes"):
        plan.preset = network
        return (plan_vidur_allreduce if kind == "vidur_allreduce" else plan_allreduce_sizes)(plan, network)
    if compute is None:
        plan.compared = "not replayed"
        return skip_all(plan, f"no preset for hardware {hw!r} (see --arch-map)")
    if kind in ("aic_gemm", "aic_attention"):
        return (plan_aic_gemm if kind == "aic_gemm" else plan_aic_attention)(plan, compute)
    if kind == "matmul":
        return plan_matmul(plan, compute)
    if kind == "measured_kernels":
        return plan_measured_kernels(plan, compute)
    if kind in ("model_inference", "model_training"):
        return (plan_model_inference if kind == "model_inference" else plan_model_training)(plan, compute)
    if kind in ("softmax", "layernorm", "gelu"):
        return plan_vector(plan, compute)
    if kind == "gpt3_layer":
        return plan_gpt3_layer(plan, compute, network)
    return plan_vidur_ops(plan, compute)
