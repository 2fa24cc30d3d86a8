"""A validation term's ways of reading a simulation (benchmarks/validation/model.py RowSpec.simulated)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from validation.model import RowSpec, job  # noqa: E402

J = job("a100", "gemm", m=1, n=128, k=128)
SIMS = {J: (30e-6, 10e-6, 1.2e-6)}  # seconds, launch_overhead_s (host 8.8 us + dispatch 1.2 us), kernel_dispatch_s


@pytest.mark.parametrize(("mode", "expected"), [
    ("host", 30e-6),  # the whole run, host launch included
    ("device", 20e-6),  # 30 - 10: the kernels alone, as a profiler's kernel trace times them
    ("replay", 21.2e-6),  # 30 - (10 - 1.2): back to back in a CUDA graph, each kernel pays its dispatch gap
])
def test_modes(mode, expected):
    assert RowSpec("r", 1.0, ((J, 1, mode),)).simulated(SIMS) == pytest.approx(expected)


def test_a_two_field_simulation_has_no_dispatch_to_add():
    assert RowSpec("r", 1.0, ((J, 1, "replay"),)).simulated({J: (30e-6, 10e-6)}) == pytest.approx(20e-6)


def test_launch_mode_and_overlapping_terms():
    # "launch": the host's launches alone (10 us); combine "max": eager calls back to back take the longer of the
    # host's launches and the device's replayed kernels, max(10, 21.2) = 21.2 us; summed they would be 31.2 us
    assert RowSpec("r", 1.0, ((J, 1, "launch"),)).simulated(SIMS) == pytest.approx(10e-6)
    both = ((J, 1, "replay"), (J, 1, "launch"))
    assert RowSpec("r", 1.0, both, combine="max").simulated(SIMS) == pytest.approx(21.2e-6)
    assert RowSpec("r", 1.0, both).simulated(SIMS) == pytest.approx(31.2e-6)


def test_host_launch_mode_is_the_launch_less_its_device_dispatch():
    # "host_launch": the host's part of the launch alone, 10 - 1.2 = 8.8 us (under execution cuda_graph: the graph
    # launch); a sixth of it beside a replay, as a collector window of 6 replays holds one: 21.2 + 8.8 / 6 us
    assert RowSpec("r", 1.0, ((J, 1, "host_launch"),)).simulated(SIMS) == pytest.approx(8.8e-6)
    terms = ((J, 1, "replay"), (J, 1 / 6, "host_launch"))
    assert RowSpec("r", 1.0, terms).simulated(SIMS) == pytest.approx(21.2e-6 + 8.8e-6 / 6)
