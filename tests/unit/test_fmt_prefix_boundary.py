"""Probe p221 #3: a figure just below a prefix boundary takes the larger prefix when it rounds up to it in the digits
shown ("1 mJ", not "1e+03 µJ"; "1s", not "1000ms"), and a ratio its form by the value as shown. Every expected
string is worked out by hand in the comments."""

from __future__ import annotations

import pytest
from rich.console import Console

from accelsim import simulate, units
from accelsim.config import load_workload
from accelsim.report import fmt
from accelsim.report.console import summary_table


@pytest.mark.parametrize("call, expected", [
    # 999.528 µJ to 3 significant digits is 1.00e3 µJ = 1.00 mJ; 999.4 µJ stays 999 µJ
    (lambda: fmt.quantity(0.0009995280029794907, "J"), "1 mJ"),
    (lambda: fmt.quantity(0.0009994, "J"), "999 µJ"),
    (lambda: fmt.quantity(999.6, "W"), "1 kW"),
    # 999,700 / 1e3 = 999.7 -> 3 digits: 1.00e3 k = 1 M; 999,499 -> 999 k
    (lambda: fmt.si(999_700), "1 M"),
    (lambda: fmt.si(999_499), "999 k"),
    (lambda: fmt.count_si(999_999_999), "999,999,999 (1 G)"),
    (lambda: fmt.flops_rate(999.96e12), "1 PFLOP/s"),  # 999.96 T -> 1.00e3 T = 1 P
    # 4 digits: 0.99999 s = 999.99 ms -> 1000 ms = 1 s; 0.99994 s = 999.94 ms -> 999.9ms
    (lambda: units.format_time(0.99999), "1s"),
    (lambda: units.format_time(0.99994), "999.9ms"),
    # binary: 1023.99 KiB -> 4 digits 1024 KiB = 1 MiB; 1023.4 KiB -> 1023KiB
    (lambda: units.format_size(1023.99 * 1024), "1MiB"),
    (lambda: units.format_size(1023.4 * 1024), "1023KiB"),
    (lambda: units.format_bandwidth(999.96e9), "1TB/s"),
    (lambda: units.format_frequency(999.99e6), "1GHz"),
    # ratios: 9.999 -> 2 decimals "10.00" is 10 or more -> 1 decimal "10.0"; 999.96 -> 1 decimal "1000.0" -> "1,000"
    (lambda: fmt.ratio(9.999), "10.0\u00d7"),
    (lambda: fmt.ratio(9.994), "9.99\u00d7"),
    (lambda: fmt.ratio(999.96), "1,000\u00d7"),
    (lambda: fmt.ratio(999.94), "999.9\u00d7"),
    (lambda: fmt.ratio(0.09996), "0.10\u00d7"),  # 3 digits: 0.1, so the 2-decimal form
    (lambda: fmt.ratio(999_999.7), "1e+06\u00d7"),  # rounds to 1,000,000: 3 significant digits
])
def test_the_prefix_is_chosen_after_rounding(call, expected):
    assert call() == expected


def test_a_run_whose_energy_is_just_below_a_millijoule_prints_it_in_mj():
    # the probe's run: a 256³ GEMM on tpu-v1 at an HBM of 6.23681640625 GB/s; its energy, 0.99953 mJ, read "1e+03 µJ".
    # With core.sram.holds: all, as that run counted its unified buffer: since probe p253 #3 tpu-v1's own buffer
    # (holds: activations) counts none of the 2 x 65,536 weight bytes, 0.99889 mJ, which 3 digits keep at 999 µJ.
    # And as that run kept the partial sums in the unified buffer (accumulator_sram null): since probe p286 #2 the
    # accumulators count this one-fold GEMM's 2 x 256² x 4 B of sums, +0.52 µJ, 1.00005 mJ, past the boundary
    report = simulate(load_workload("gemm", ["m=256", "n=256", "k=256"]),
                      {"base": "tpu-v1", "hbm": {"bandwidth": "6.23681640625GB/s"},
                       "core": {"sram": {"holds": "all"}, "systolic": {"accumulator_sram": None}}}).to_dict()
    total = report["energy"]["total_j"]
    assert 0.0009995 <= total < 0.001  # so 3 significant digits round it to 1.00e-3 J
    console = Console(record=True, width=200)
    console.print(summary_table(report))
    text = console.export_text()
    assert "1e+03" not in text
    assert next(line for line in text.splitlines() if "energy" in line).split("\u2502")[2].strip().startswith("1 mJ")


def test_a_value_whose_larger_step_reads_just_under_one_in_binary_keeps_that_step():
    # probe p225 #4: 999.5e-6 / 1e-3 = 0.99949999... in binary (0.999 at 3 digits, under 1, so milli was passed
    # over) while 999.5e-6 / 1e-6 = 999.5 exactly, which .3g rounds half-to-even up to "1e+03": shown in milli
    assert fmt.quantity(999.5e-6, "J") == "0.999 mJ"
    assert fmt.quantity(999.5e-6, "W") == "0.999 mW"
    assert fmt.quantity(999.4e-6, "J") == "999 µJ"  # rounds down: stays in micro
