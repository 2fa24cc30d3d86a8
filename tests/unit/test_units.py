"""Unit strings: parse and format sizes, bandwidths, clocks and times (accelsim.units).

Expected values are the SI/IEC definitions: KiB = 2**10 B, MiB = 2**20 B, KB = 10**3 B, GB/s = 10**9 B/s,
GHz = 10**9 Hz, ns = 10**-9 s.
"""

from __future__ import annotations

import math

import pytest

from accelsim import units


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64KiB", 64 * 2**10),  # 65,536
        ("24MiB", 24 * 2**20),
        ("8GiB", 8 * 2**30),
        ("64KB", 64_000),
        ("1.5KiB", 1536),  # 1.5 × 1024
        ("108 KB", 108_000),  # a space before the unit is allowed
        ("512", 512),
        (4096, 4096),
    ],
)
def test_parse_size(text, expected):
    assert units.parse_size(text) == expected


def test_parse_size_64kib_is_65536():
    assert units.parse_size("64KiB") == 65536


def test_a_lower_case_b_counts_bits():
    # SI / IEC: b = bit, B = byte. A ConnectX-7 port's 400 Gb/s is 400e9 / 8 = 50e9 B/s; a 16 Gb DRAM die holds
    # 16e9 / 8 = 2e9 B; 68 Gb/s is not 68 GB/s
    assert units.parse_bandwidth("400Gb/s") == 50e9
    assert units.parse_bandwidth("68Gb/s") == 8.5e9 != units.parse_bandwidth("68GB/s")
    assert units.parse_size("16Gb") == 2 * 10**9
    assert units.parse_size("8Kib") == 1024  # 8 x 1024 bits


@pytest.mark.parametrize(("written", "fix"), [
    ("4gb", "write GB for gigabytes or Gb for gigabits"), ("25.6gb/s", "write GB for gigabytes or Gb for gigabits"),
    ("512kb", "write KB for kilobytes or Kb for kilobits"), ("8mib", "write MiB for mebibytes or Mib for mebibits"),
    ("1tb/s", "write TB for terabytes or Tb for terabits")])
def test_an_all_lower_case_size_unit_is_refused_as_ambiguous(written, fix):
    # a spec sheet's "25.6gb/s" of LPDDR4 read as gigabits was 3.2e9 B/s, 8x too slow, with no word (probe 16):
    # all lower case, the unit is as often meant as bytes as bits, so neither reading is taken
    parse = units.parse_bandwidth if written.endswith("/s") else units.parse_size
    with pytest.raises(ValueError, match=f"ambiguous: {fix}"):
        parse(written)
    # a capital prefix with a lower-case b stays bits, and a capital B bytes, in either case of the prefix
    assert units.parse_size("4Gb") == 4 * 10**9 // 8 and units.parse_size("4gB") == 4 * 10**9
    with pytest.raises(ValueError, match="not a whole number of bytes"):
        units.parse_size("3b")


def test_units_whose_case_changes_their_meaning_are_refused():
    # mHz is millihertz, Ms megaseconds: read case-blind they would be MHz and ms
    with pytest.raises(ValueError, match="millihertz"):
        units.parse_frequency("700mHz")
    with pytest.raises(ValueError, match="megaseconds"):
        units.parse_time("1Ms")
    assert units.parse_frequency("700mhz") == 700e6 and units.parse_time("1MS".lower()) == 1e-3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("900GB/s", 900e9),
        ("34 GB/s", 34e9),
        ("1.2TB/s", 1.2e12),
        ("16GiB/s", 16 * 2**30),
        ("15.75GB/s", 15.75e9),
    ],
)
def test_parse_bandwidth(text, expected):
    assert units.parse_bandwidth(text) == pytest.approx(expected, rel=1e-12)


def test_parse_bandwidth_unbounded():
    assert math.isinf(units.parse_bandwidth("inf"))
    assert math.isinf(units.parse_bandwidth("unlimited"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.4GHz", 1.4e9), ("700MHz", 700e6), ("200 MHz", 200e6), ("1GHz", 1e9), (5e8, 5e8)],
)
def test_parse_frequency(text, expected):
    assert units.parse_frequency(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100ns", 100e-9), ("1.5us", 1.5e-6), ("2ms", 2e-3), ("0ns", 0.0), ("1s", 1.0),
     # a serving run's duration: 20 minutes = 20 · 60 s, 1.5 hours = 1.5 · 3600 s
     ("20min", 1200.0), ("1.5h", 5400.0)],
)
def test_parse_time(text, expected):
    assert units.parse_time(text) == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.parametrize(
    ("parse", "bad"),
    [
        (units.parse_size, "12parsecs"),
        (units.parse_size, "-4KiB"),
        (units.parse_size, -4),
        (units.parse_size, True),
        (units.parse_size, 1.5),  # not a whole number of bytes
        (units.parse_size, "0.5B"),
        (units.parse_size, None),
        (units.parse_bandwidth, "12parsecs"),
        (units.parse_bandwidth, "900GB"),  # a size, not a bandwidth
        (units.parse_bandwidth, -1),
        (units.parse_bandwidth, 0),
        (units.parse_bandwidth, False),
        (units.parse_frequency, "12parsecs"),
        (units.parse_frequency, "-1GHz"),
        (units.parse_frequency, 0),
        (units.parse_frequency, True),
        (units.parse_time, "12parsecs"),
        (units.parse_time, "-100ns"),
        (units.parse_time, -1.0),
        (units.parse_time, True),
    ],
)
def test_bad_values_raise_value_error(parse, bad):
    with pytest.raises(ValueError):
        parse(bad)


def test_error_message_says_what_was_expected():
    with pytest.raises(ValueError, match="unknown size unit 'parsecs'; use B, KB"):
        units.parse_size("12parsecs")
    with pytest.raises(ValueError, match="such as '64KiB'"):
        units.parse_size("-4KiB")


@pytest.mark.parametrize("nbytes", [1, 512, 1024, 65536, 24 * 2**20, 8 * 2**30, 3 * 2**40])
def test_size_round_trip(nbytes):
    assert units.parse_size(units.format_size(nbytes)) == nbytes


@pytest.mark.parametrize("bw", [1e3, 34e9, 900e9, 15.75e9, 2.039e12])
def test_bandwidth_round_trip(bw):
    assert units.parse_bandwidth(units.format_bandwidth(bw)) == pytest.approx(bw, rel=1e-12)


@pytest.mark.parametrize("hz", [200e6, 700e6, 1e9, 1.4e9, 1.83e9])
def test_frequency_round_trip(hz):
    assert units.parse_frequency(units.format_frequency(hz)) == pytest.approx(hz, rel=1e-12)


@pytest.mark.parametrize("seconds", [100e-9, 1.5e-6, 2e-3, 3.0])
def test_time_round_trip(seconds):
    assert units.parse_time(units.format_time(seconds)) == pytest.approx(seconds, rel=1e-12)


def test_format_examples():
    assert units.format_size(65536) == "64KiB"
    assert units.format_bandwidth(9e11) == "900GB/s"
    assert units.format_frequency(1.4e9) == "1.4GHz"
    assert units.format_time(1e-7) == "100ns"
    assert units.format_bandwidth(math.inf) == "inf"


def test_dtype_bytes():
    assert units.dtype_bytes("int8") == 1
    assert units.dtype_bytes("fp16") == 2
    assert units.dtype_bytes("bf16") == 2
    assert units.dtype_bytes("fp32") == 4
    with pytest.raises(ValueError, match="unknown dtype"):
        units.dtype_bytes("fp12")
