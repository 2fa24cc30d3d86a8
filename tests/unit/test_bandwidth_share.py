"""report.json's bandwidth_share beside utilization (probe p69 finding 2): a latency-bound kernel keeps its memory
busy while using a fraction of its bandwidth."""

from __future__ import annotations

import pytest

from accelsim.api import simulate


def test_bandwidth_share_beside_busy_on_a_latency_bound_kernel():
    # Sarathi's silu_and_mul on h100, 4096 x 4096 fp16: reads gate and up, writes the product, 3 x 32 MiB at HBM.
    # Its row walk paces HBM below the bandwidth (cost/vector.py KERNELS), so the level is busy most of the run
    # while the bytes use about half of 3.35 TB/s: bandwidth_share = bytes / (3.35e12 x seconds)
    report = simulate({"model": "silu_mul", "rows": 4096, "cols": 4096, "dtype": "fp16"}, "h100").to_dict()
    hbm = 3 * 4096 * 4096 * 2
    assert report["bytes"]["hbm"] == hbm
    share = report["bandwidth_share"]["hbm"]
    assert share == pytest.approx(hbm / (3.35e12 * report["seconds"]), rel=1e-12)
    assert share < 0.7 < report["utilization"]["hbm"]
    assert "host" in report["bandwidth_share"] and report["bandwidth_share"]["host"] == 0.0
    op = report["ops"][0]
    span_s = (op["end_cycle"] - op["start_cycle"]) / report["clock_hz"]
    assert op["achieved_bytes_per_s"] == {"hbm": pytest.approx(hbm / span_s, rel=1e-12)}
