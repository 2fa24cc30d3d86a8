"""Probe p152 (energy and area on the accelerator presets): the scratchpad port of the arrays that left it at the
default 64 bits (#2), the accumulator's adder (#3), vector FLOPs at the dtype the hardware runs (#4) and the
supply voltage of the node scaling (#1)."""

from __future__ import annotations

import math

import pytest

from accelsim import config
from accelsim.energy import constants

PJ = 1e-12


def _c(arch: str, *sets: str, dtype: str | None = None):
    c = constants(config.load_arch(arch, list(sets)), dtype)
    assert c is not None
    return c


# p152 #2: the port is one row of operands per access, as tpu-v1's 256 int8 values = 2048 bits:
# edge-npu 32 rows x 8 bits; gemmini's sp_width = meshColumns * tileColumns * inputType.getWidth = 16 x 1 x 8
# (ucb-bar/gemmini GemminiConfigs.scala); SCALE-Sim one 1-byte word per column: 128 x 8 and 32 x 8
@pytest.mark.parametrize(("preset", "port"), [("edge-npu", 256), ("gemmini", 128), ("scalesim-128x128", 1024),
                                              ("scalesim-32x32", 256)])
def test_array_presets_size_the_scratchpad_port_by_a_row(preset, port):
    arch = config.load_arch(preset, [])
    assert arch.energy.sram_port_bits == port
    # the SRAM rule costs an access pj x sqrt(C / 8 KiB) x sqrt(w / 64), so per bit it goes as 1 / sqrt(w): the
    # row-wide port is sqrt(port / 64) cheaper per byte than the old 64-bit default (edge-npu 2x, gemmini 1.41x,
    # scalesim-128x128 4x, scalesim-32x32 2x)
    wide = _c(preset).level_j_per_bit["sram"]
    narrow = _c(preset, "energy.sram_port_bits=64").level_j_per_bit["sram"]
    assert narrow / wide == pytest.approx(math.sqrt(port / 64), rel=1e-12)
