"""Probe p244 #1: ``energy.off_package_j`` holds the energy of the devices outside the package, off-package memory
and a multi-node run's NIC, and the console and the TDP note say which (docs/energy.md), not "off-package memory"
of the NIC's energy."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from accelsim import simulate
from accelsim.energy.model import off_package_parts
from accelsim.report.console import summary_table


def _power_row(rep: dict) -> str:
    out = io.StringIO()
    Console(file=out, width=400).print(summary_table(rep))
    return next(line for line in out.getvalue().splitlines() if "│ power" in line)


def test_a_multi_node_runs_off_package_energy_is_its_nic_and_says_so():
    # a ring all-reduce over 2 nodes of dgx-h100 (int8: no NVLS): 1/8 of each chip's 2 x 15/16 x 1e8 B leave the node,
    # 23,437,500 B x 8 x 103 pJ (scale_out.energy_per_bit) = 19.3 mJ, all of the off-package energy (no dgx-h100
    # level is off_package)
    rep = simulate({"model": "collective", "op": "all_reduce", "bytes": 10**8, "dtype": "int8"},
                   {"base": "dgx-h100", "chips": 16}).to_dict()
    energy = rep["energy"]
    assert energy["by_level"]["nic"] == pytest.approx(23_437_500 * 8 * 103e-12)
    assert energy["off_package_j"] == pytest.approx(energy["by_level"]["nic"], rel=1e-12)
    row = _power_row(rep)
    assert "off-package network hardware (NIC)" in row and "memory" not in row


def test_a_memory_off_the_package_is_named_memory():
    # tpu-v1's DDR3 DIMMs (hbm.off_package) and no NIC
    rep = simulate({"model": "gemm", "m": 64, "n": 64, "k": 64}, "tpu-v1").to_dict()
    assert "nic" not in rep["energy"]["by_level"] and rep["energy"]["off_package_j"] > 0
    assert "off-package memory devices" in _power_row(rep)


def test_off_package_parts_names_what_the_energy_holds():
    assert off_package_parts({"hbm": 2.0}, 2.0) == "memory devices"
    assert off_package_parts({"hbm": 2.0, "nic": 1.0}, 1.0) == "network hardware (NIC)"
    assert off_package_parts({"hbm": 2.0, "nic": 1.0}, 3.0) == "memory devices and network hardware (NIC)"
