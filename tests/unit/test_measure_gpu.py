"""benchmarks/kernels/measure_gpu.py on the CPU (--dry): every section writes the rows validate.py reads. Needs
PyTorch (an optional extra), skipped without it; the GPU path runs only on a lent GPU (benchmarks/data/measured)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "kernels"))
from measure_gpu import NCCL_SIZES, main  # noqa: E402


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_dry_run_writes_every_file_in_the_replayed_formats(tmp_path):
    assert main(["--out", str(tmp_path), "--dry"]) == 0
    gemm = _rows(tmp_path / "gemm.csv")
    # --dry: 2 shapes in bf16, fp16, tf32 and fp32 (fp8 needs a GPU)
    assert [r["dtype"] for r in gemm] == ["bf16"] * 2 + ["fp16"] * 2 + ["tf32"] * 2 + ["fp32"] * 2
    assert all(float(r["latency_us"]) > 0 for r in gemm)
    assert {"sm_clock_mhz", "power_w"} <= set(gemm[0])
    for name, q in (("context_attention.csv", "32"), ("generation_attention.csv", "1")):
        (row,) = _rows(tmp_path / name)
        assert row["q_len"] == q and row["kernel_source"] == "sdpa_math"
    ops = {r["op"] for r in _rows(tmp_path / "kernels.csv")}
    assert {"add", "rmsnorm", "embedding", "embedding_bag_sum", "dependent_scale_chain", "copy"} <= ops
    burst = _rows(tmp_path / "gemm_burst.csv")
    assert [r["mode"] for r in burst] == ["burst", "sustained"] and all(float(r["latency_us"]) > 0 for r in burst)
    # two CPU ranks over gloo, the three smallest sizes, elements = bytes / 2 (fp16 on a GPU)
    nccl = _rows(tmp_path / "nccl_all_reduce.csv")
    assert [(r["num_gpus"], int(r["message_bytes"]), int(r["message_elements"])) for r in nccl] == [
        ("2", b, b // 2) for b in NCCL_SIZES[:3]]
