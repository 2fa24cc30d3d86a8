"""A plug-in unit kind for accelsim: an analog compute-in-memory (CIM) crossbar array (docs/configuration.md,
"Plug-in unit kinds"; docs/energy.md for its energy and area hooks).

A linear layer's or a convolution's weights are programmed into ``crossbars`` crossbars of ``rows`` x ``cols``
cells, as a GEMM's K x N weight matrix cut into ``rows`` x ``cols`` tiles; each input row is one matrix-vector
multiply (MVM) per crossbar, which takes ``mvm_cycles`` clock cycles (the column ADCs convert one after another).
With more tiles than crossbars the tiles run in rounds. The defaults are illustrative, not any one chip's.

An arch uses it with ``plugins: [cim_crossbar]`` (this file beside the arch file, or on PYTHONPATH) and a unit
``{kind: cim_crossbar, ...}`` in ``core.units`` (npu-cim.yaml here).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from accelsim.cost import Priced
from accelsim.hardware import register_unit_kind
from accelsim.ir import OpKind


class Crossbars(BaseModel):
    """The unit's spec: the fields an arch writes under ``core.units.NAME`` beside ``kind``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rows: PositiveInt = 256  # cells per column: the K of one tile
    cols: PositiveInt = 256  # columns: the N of one tile
    crossbars: PositiveInt = 16
    mvm_cycles: PositiveInt = 100  # cycles of one MVM, ADC conversion included
    count: PositiveInt = 1  # such units per core (the mapper deals an op's MVMs out to them: price's pieces)
    pj_per_mac: float | None = Field(None, ge=0)  # None: the arch's energy constants price its MACs
    area_mm2: float | None = Field(None, ge=0)  # of one unit; None: derived from its peak MACs per cycle


def accepts(op):
    """Linear layers and convolutions, preferred to the systolic array (whose preference is 1); None: the unit
    cannot run the op."""
    return 2 if op.kind in (OpKind.LINEAR, OpKind.CONV) else None


def macs_per_cycle(spec):
    """Peak MACs per cycle of one unit: every cell of every crossbar once per MVM."""
    return spec.rows * spec.cols * spec.crossbars / spec.mvm_cycles


def price(op, spec, arch):
    """Cycles of ``op`` on one unit: M input rows, each an MVM on every tile, ``crossbars`` tiles at a time. Its
    ``pieces`` are the M x rounds MVMs of ``mvm_cycles`` each: units the op is split over each take whole MVMs (an
    MVM is not cut), so one row on one round of tiles takes ``mvm_cycles`` however many units there are."""
    g = op.gemm
    tiles = math.ceil(g.k / spec.rows) * math.ceil(g.n / spec.cols) * g.count
    rounds = math.ceil(tiles / spec.crossbars)
    return Priced(g.m * rounds * spec.mvm_cycles, {"tiles": tiles, "rounds": rounds, "pieces": g.m * rounds})


def pj_per_mac(spec, dtype):
    """pJ per MAC of ``dtype`` on this unit (optional hook; None: the arch's figure)."""
    return spec.pj_per_mac


def area_mm2(spec):
    """mm² of one unit (optional hook; None: derived from macs_per_cycle)."""
    return spec.area_mm2


register_unit_kind("cim_crossbar", Crossbars, __name__)
