"""Times below the second parse without a float artefact (accelsim.units.parse_time): the number is divided by the
unit's power of ten (ns: 10**9), a correctly rounded division, so "100ns" is the double nearest 100 × 10**-9 s
(Python's literal 1e-07), where a product with the rounded reciprocal 1e-9 gave 1.0000000000000001e-07 in
report.json and ``accelsim info --json``."""

from __future__ import annotations

import json

import pytest

import accelsim
from accelsim import units
from accelsim.cli import main


@pytest.mark.parametrize(("text", "literal"), [
    ("100ns", 1e-07),  # was 100 × 1e-9 = 1.0000000000000001e-07
    ("5us", 5e-06),  # was 5 × 1e-6 = 4.9999999999999996e-06
    ("5µs", 5e-06),  # µs (U+00B5), the same unit
    ("200ns", 2e-07),  # was 2.0000000000000002e-07 (h100's latencies)
    ("600ns", 6e-07),  # was 6.000000000000001e-07
    ("20us", 2e-05),  # was 1.9999999999999998e-05
    ("3ps", 3e-12),
    ("2ms", 2e-03),
    ("1.5us", 1.5e-06),
    ("20min", 1200.0),  # minutes and hours still multiply: 20 × 60 s, exact
    ("1h", 3600.0),
])
def test_a_time_is_the_double_nearest_its_value(text, literal):
    # the Python literal is the correctly rounded double of the decimal value, the reference here
    assert units.parse_time(text) == literal
    assert repr(units.parse_time(text)) == repr(literal)


def test_unknown_time_unit_lists_every_unit_parse_time_takes():
    with pytest.raises(ValueError) as e:
        units.parse_time("5xs")
    assert str(e.value) == "unknown time unit 'xs'; use s, ms, us (µs), ns, ps, min or h"
    for unit in ("µs", "ps"):  # both listed, and both parse: 1 µs = 1e-06 s, 1 ps = 1e-12 s
        assert units.parse_time(f"1{unit}") == {"µs": 1e-06, "ps": 1e-12}[unit]


def test_time_cycles_still_rounds_a_product_within_an_ulp_to_its_integer():
    # 5 us at 1.4 GHz is 7,000 cycles by hand (5e-6 × 1.4e9); in doubles the product is 7000.000000000001, which a
    # plain ceil would make 7,001 (the docstring's example)
    assert 5e-06 * 1.4e9 != 7000
    assert units.time_cycles(units.parse_time("5us"), 1.4e9) == 7000
    assert units.time_cycles(units.parse_time("100ns"), 1e9) == 100  # 100 ns at 1 GHz: 100 cycles
    assert units.time_cycles(1.5e-9, 1e9) == 2  # a real half cycle still rounds up


def test_tpu_v1_hbm_latency_shows_as_written_in_report_and_info(capsys):
    # arch/tpu-v1.yaml: hbm latency 100ns, host latency 1us
    r = accelsim.simulate({"model": "gemm", "m": 64, "n": 64, "k": 64}, "tpu-v1", plots=False).to_dict()
    assert repr(r["arch"]["levels"]["hbm"]["latency_s"]) == "1e-07"
    assert repr(r["arch"]["levels"]["host"]["latency_s"]) == "1e-06"
    assert main(["info", "tpu-v1", "--json"]) in (0, None)
    text = capsys.readouterr().out
    assert "1.0000000000000001e-07" not in text
    levels = json.loads(text)["levels"]
    assert [lv["latency"] for lv in levels[1:3]] == [1e-07, 1e-06]
