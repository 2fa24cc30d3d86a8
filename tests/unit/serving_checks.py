"""Shared by the encoder-decoder serving tests: a serving run's metrics follow from its simulated cycles."""

from __future__ import annotations

import pytest


def assert_steps_add_up(report: dict, steps: int) -> None:
    """``report`` (report.json's dict) of a run with ``steps`` decode steps, each simulated: TTFT is the prefill's
    cycles, TPOT the steps' mean, and the run's cycles the prefill's plus the steps'."""
    sv, clock = report["serving"], report["clock_hz"]
    assert sv["decode_steps"] == steps and sv["decode_steps_simulated"] == list(range(steps))
    assert sv["ttft_s"] == pytest.approx(sv["prefill_cycles"] / clock)
    assert sv["tpot_s"] == pytest.approx(sum(sv["step_cycles"]) / steps / clock)
    assert report["total_cycles"] == sv["prefill_cycles"] + sv["decode_cycles"]
