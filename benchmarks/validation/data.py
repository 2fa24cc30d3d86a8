"""Measurement files: where they are, what format each is, which hardware it names, and their rows."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from .model import FilePlan

REPO = Path(__file__).resolve().parents[2]

# file-name hardware tag -> presets: "compute" for one GPU's kernels, "network" for collectives
DEFAULT_ARCH_MAP: dict[str, dict[str, str]] = {
    "a100": {"compute": "a100", "network": "dgx-a100"},
    "h100": {"compute": "h100", "network": "dgx-h100"},
    "h200": {"compute": "h200", "network": "dgx-h200"},
    "b200": {"compute": "b200", "network": "dgx-b200"},
    "l40s": {"compute": "l40s"},
    "mi210": {"compute": "mi210"},
    "mi300x": {"compute": "mi300x", "network": "mi300x-8"},
}


def default_data_dir() -> Path:
    """$ACCELSIM_REFERENCE_DIR, else <repo>/../shared/reference/hardware."""
    env = os.environ.get("ACCELSIM_REFERENCE_DIR")
    return Path(env) if env else REPO.parent / "shared" / "reference" / "hardware"


def read_rows(path: Path) -> list[dict[str, str]]:
    """A CSV with a header as dicts; lines starting with '#' are comments."""
    with open(path, newline="") as f:
        lines = [line for line in f if not line.lstrip().startswith("#")]
    return list(csv.DictReader(lines))


def _header(path: Path) -> list[str]:
    rows = read_rows(path)
    if rows:
        return list(rows[0].keys())
    with open(path, newline="") as f:
        for line in f:
            if not line.lstrip().startswith("#"):
                return next(csv.reader([line]))
    return []


def classify(path: Path) -> str:
    """The format of a measurement file, from its header and name."""
    cols = set(_header(path))
    name = path.stem.lower()
    if {"M", "N", "K", "latency_ms"} <= cols:
        return "matmul"
    if {"M", "N", "latency_us_derived"} <= cols and name.split("_")[0] in ("softmax", "layernorm"):
        return name.split("_")[0]
    if {"num_elements", "latency_us_derived"} <= cols and name.startswith("gelu"):
        return "gelu"
    if {"op", "latency_s"} <= cols and re.search(r"gpt3_layer_(prefill|decode)", name):
        return "gpt3_layer"
    if {"num_tokens", "n_embd", "tp"} <= cols and any(c.endswith("_median_ms") for c in cols):
        return "vidur_ops"
    if {"num_workers", "devices_per_node", "bytes", "median_ms"} <= cols:
        return "vidur_allreduce"
    if {"model", "phase", "batch", "seq_len", "mode", "latency_us"} <= cols:
        return "model_inference" if "kv_len" in cols else "model_training"
    if {"what", "power_w_mean", "sm_clock_mhz_mean"} <= cols:
        return "power"
    if {"m", "n", "k", "mode", "calls", "latency_us"} <= cols:
        return "gemm_burst"
    if {"m", "n", "k", "latency_us"} <= cols:
        return "aic_gemm"
    if {"batch_size", "num_heads", "num_key_value_heads", "head_dim", "q_len", "kv_len", "latency_us"} <= cols:
        return "aic_attention"
    if {"op_name", "num_gpus", "latency_us"} <= cols and cols & {"message_bytes", "message_elements"}:
        return "aic_nccl"
    if {"op", "dtype", "shape", "bytes", "latency_us"} <= cols:
        return "measured_kernels"
    if {"size_bytes", "latency_us"} <= cols:
        return "allreduce_sizes"
    if "measured_iteration_time_s" in cols:
        return "training"
    if "component" in cols and any(c.endswith("_mm2") for c in cols):
        return "area"
    return "unknown"


def skip_all(plan: FilePlan, reason: str, key: Callable[[dict[str, str]], str] | None = None) -> FilePlan:
    """``plan`` with every row of its file skipped for ``reason`` (named by ``key``, else "row N")."""
    rows = read_rows(plan.path) if plan.path.exists() else []
    plan.skipped = [(key(r) if key else f"row {i + 1}", reason) for i, r in enumerate(rows)] or [("file", reason)]
    return plan


def hardware_of(path: Path, arch_map: dict[str, dict[str, str]]) -> str | None:
    """The hardware tag of a file name (``matmul_A100``, ``h100_Llama-2-7b-hf_ops``, ``allreduce_A100x4_nvlink``),
    else of its folder (``aiconfigurator/a100_sxm/gemm.csv``) or the folder above (``h200_sxm/models/x.csv``)."""
    keys = sorted(arch_map, key=len, reverse=True)
    for name in (path.stem, path.parent.name, path.parent.parent.name):
        for tok in re.split(r"[_\-.]", name.lower()):
            for key in keys:
                if tok == key or (tok.startswith(key) and not tok[len(key):].isdigit()):
                    return key
    return None


def discover(dirs: Sequence[Path]) -> list[tuple[str, Path]]:
    """(label, path) of every CSV directly in each dir or one or two folders down (not ``verbatim/`` copies;
    aiconfigurator's tables are ``aiconfigurator/<system>/*.csv``)."""
    seen: set[Path] = set()
    labels: set[str] = set()
    out = []
    for d in dirs:
        files = sorted(d.glob("*.csv")) + sorted(p for p in [*d.glob("*/*.csv"), *d.glob("*/*/*.csv")]
                                                 if "verbatim" not in p.relative_to(d).parts)
        for p in files:
            rp = p.resolve()
            if rp in seen:
                continue
            seen.add(rp)
            label = p.relative_to(d).as_posix()
            if label in labels:
                label = f"{d.name}/{label}"
            labels.add(label)
            out.append((label, p))
    return out


def load_arch_map(path: Path | None) -> dict[str, dict[str, str]]:
    """DEFAULT_ARCH_MAP updated from a YAML file ``{tag: preset}`` or ``{tag: {compute: P, network: P}}``; preset
    paths are taken relative to the file."""
    amap = {k: dict(v) for k, v in DEFAULT_ARCH_MAP.items()}
    if path is None:
        return amap
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping of hardware tag -> preset")
    for tag, value in data.items():
        entry = {"compute": value} if isinstance(value, str) else dict(value or {})
        for role, ref in entry.items():
            if role not in ("compute", "network"):
                raise SystemExit(f"{path}: {tag}.{role}: expected 'compute' or 'network'")
            cand = Path(path).parent / str(ref)
            entry[role] = str(cand) if cand.suffix in (".yaml", ".yml") and cand.exists() else str(ref)
        amap.setdefault(str(tag).lower(), {}).update(entry)
    return amap
