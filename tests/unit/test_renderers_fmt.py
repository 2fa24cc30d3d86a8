"""accelsim.report.fmt, the one number-formatting module of the console, HTML, plots, compare and sweep figures:
each figure against a hand-written expectation, and no renderer keeps a formatting helper of its own."""

from __future__ import annotations

import importlib
import math

import pytest

from accelsim.report import fmt

RENDERERS = ("accelsim.report.console", "accelsim.report.html", "accelsim.report.plots", "accelsim.report.compare",
             "accelsim.sweep.plots", "accelsim.sweep.store")


def test_counts_and_si():
    assert fmt.count(1_234_567.4) == "1,234,567"
    assert fmt.count(0) == "0"
    assert fmt.si(4_089_184_256) == "4.09 G"  # 4.089… × 10⁹ to 3 significant digits
    assert fmt.si(4_089_184_256, digits=4) == "4.089 G"
    assert fmt.si(25_557_032, sep="") == "25.6M"
    assert fmt.si(2.5e15) == "2.5 P" and fmt.si(999) == "999"
    assert fmt.count_si(61_706) == "61,706 (61.7 k)"
    assert fmt.count_si(9_999) == "9,999"  # below 10,000 the count alone


def test_percentages_sizes_times_rates():
    assert fmt.pct(0.4213) == "42.1 %" and fmt.pct(1) == "100.0 %"
    assert fmt.size(1536) == "1.5KiB"  # 1536 / 1024
    assert fmt.size(3 * 2**20) == "3MiB"
    assert fmt.seconds(123_456e-9) == "123.5\u00b5s"
    assert fmt.seconds(-1.0) == "-1.0"  # a negative duration is shown as it is
    assert fmt.bandwidth(16e9) == "16GB/s" and fmt.bandwidth(math.inf) == "inf"
    assert fmt.frequency(1.41e9) == "1.41GHz"
    assert fmt.flops_rate(512e9) == "512 GFLOP/s"  # 2 × 256 MACs × 1 GHz
    assert fmt.flops_rate(91.8e12) == "91.8 TFLOP/s" and fmt.flops_rate(12.0) == "12 FLOP/s"


def test_ratios():
    assert [fmt.ratio(x) for x in (0.25, 0.52, 1.0, 12.34, 0.0224, 1234.5, 0, None)] == [
        "0.25×", "0.52×", "1.00×", "12.3×", "0.0224×", "1,234×", "0×", fmt.DASH]


@pytest.mark.parametrize("bad", [None, True, "12", [1], {"a": 1}])
def test_what_is_not_a_number_is_a_dash(bad):
    for f in (fmt.count, fmt.si, fmt.count_si, fmt.pct, fmt.size, fmt.seconds, fmt.frequency, fmt.flops_rate,
              fmt.bandwidth):
        assert f(bad) == fmt.DASH, f.__name__
    assert fmt.num(bad) == 0.0 and fmt.num(bad, None) is None and fmt.number(bad) is None


def test_non_finite_numbers_are_shown_not_hidden():
    assert fmt.count(math.inf) == "inf" and fmt.pct(math.nan) == "nan" and fmt.size(math.inf) == "inf"


def test_general_values():
    assert fmt.general(None) == fmt.DASH and fmt.general(True) == "yes" and fmt.general(12345) == "12,345"
    assert fmt.general(0.123456) == "0.1235" and fmt.general({"a": [1, 2.5]}) == "a=1, 2.5"


@pytest.mark.parametrize("module", RENDERERS)
def test_no_renderer_keeps_its_own_number_formatting(module):
    mod = importlib.import_module(module)
    own = {"_num", "_count", "_si", "_pct", "_size", "_time", "_flops_rate", "_flops_text", "_compact", "_general",
           "_count_si", "_duration", "_memory_levels", "ON_CHIP_LEVELS", "_MEMORY_NAMES"}
    assert not own & set(vars(mod)), f"{module} defines {sorted(own & set(vars(mod)))}: use accelsim.report.fmt"
    for name in ("format_size", "format_time", "format_bandwidth", "format_frequency"):
        assert getattr(mod, name, None) is None, f"{module} formats with units.{name}: use accelsim.report.fmt"
