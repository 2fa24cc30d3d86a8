"""Energy, power and area from the actions a run counted (docs/energy.md); import layer L1.5, beside ``cost``."""

from .model import (
    NULL,
    Constants,
    account,
    computed_share,
    constants,
    executed_flops,
    executed_macs,
    flop_pricer,
    mac_pricer,
    mark_throttled,
    no_energy_note,
    op_energy,
    package_w_per_chip,
    row_dtype,
    says_peak_over_tdp,
    scratchpad_port_bits,
    throttle_factor,
    unit_group,
)
from .profile import peak_dynamic_power
from .tech import area_scale, energy_scale, sram_area_mm2, sram_pj_per_bit

__all__ = ["NULL", "Constants", "account", "area_scale", "computed_share", "constants", "energy_scale", "executed_flops",
           "executed_macs", "flop_pricer",
           "mac_pricer",
           "mark_throttled", "no_energy_note", "op_energy", "package_w_per_chip", "peak_dynamic_power", "row_dtype", "says_peak_over_tdp", "scratchpad_port_bits", "sram_area_mm2", "sram_pj_per_bit",
           "throttle_factor", "unit_group"]
