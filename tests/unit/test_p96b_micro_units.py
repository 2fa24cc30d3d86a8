"""Microseconds written with either look-alike letter (probe p96 #7: ``1.5µs`` with the micro sign U+00B5 was read,
``1.5μs`` with the Greek small mu U+03BC, what NFKC folds the micro sign to and much copied text uses, was refused)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from accelsim.units import parse_time

MICRO_SIGN, GREEK_MU = "\u00b5", "\u03bc"


@pytest.mark.parametrize("mu", [MICRO_SIGN, GREEK_MU, "u"])
def test_either_mu_reads_microseconds(mu):
    # 1.5 µs = 1.5 / 10^6 s; 100 µs = 10^-4 s
    assert MICRO_SIGN != GREEK_MU
    assert parse_time(f"1.5{mu}s") == 1.5 / 1e6 == 1.5e-6
    assert parse_time(f"100 {mu}s") == 1e-4


def test_a_greek_mu_with_another_unit_is_still_refused():
    # the letter is read only as the micro prefix of seconds: "μm" is no time
    with pytest.raises(ValueError, match="unknown time unit"):
        parse_time(f"1.5{GREEK_MU}m")


def test_the_cli_takes_a_greek_mu_launch_time():
    # the probe's command: exit 0 with either letter, as with '1.5us'; an unknown unit still exits 2
    for value, rc in ((f"1.5{GREEK_MU}s", 0), (f"1.5{MICRO_SIGN}s", 0), ("1.5xs", 2)):
        run = subprocess.run([sys.executable, "-m", "accelsim", "info", "a100", "--set",
                              f"arch.kernel_launch={value}"], capture_output=True, text=True)
        assert run.returncode == rc, (value, run.stderr)
