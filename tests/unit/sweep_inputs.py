"""Shared by the sweep tests: a sweep of two LeNet-5 points on gemmini (a few milliseconds each)."""

from __future__ import annotations

TWO_POINT_SWEEP = """\
name: small
base:
  workload: {model: lenet5, batch: 1}
  arch: gemmini
grid:
  arch.core.systolic.rows: [8, 16]
"""
