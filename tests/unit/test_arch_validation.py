"""An arch written by hand: values that would run as something else than what they say are one-line errors at their
key (the file's line, or ``--set``); values written in another accepted form give the same arch."""

from __future__ import annotations

import textwrap

import pytest

from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.units import parse_bandwidth

NPU = """\
name: npu
clock: 1GHz
dtype: int8
core:
  systolic: {rows: 128, cols: 128}
  vector: {lanes: 128}
  sram: {unified: 4MiB}
hbm:
  capacity: 8GiB
  bandwidth: 100GB/s
  latency: 100ns
"""


def arch_file(tmp_path, text: str = NPU, name: str = "npu.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors(ref, overrides=()) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_arch(ref, overrides)
    return [str(i) for i in e.value.issues]


# ---- bandwidth in scientific notation ------------------------------------------------------------------------
@pytest.mark.parametrize("written", ["1e11", "1.0e11", "1.0e+11", "100000000000"])
def test_a_bandwidth_as_a_bare_number_in_any_notation_is_bytes_per_second(tmp_path, written):
    # YAML 1.1 reads 1.0e+11 as a float and 1e11 / 1.0e11 (no dot, or no exponent sign) as strings: all are 1e11 B/s,
    # the 100GB/s the file writes (GB = 10^9 B)
    path = arch_file(tmp_path)
    assert load_arch(path, [f"arch.hbm.bandwidth={written}"]).hbm.bandwidth == 1e11 == load_arch(path).hbm.bandwidth
    assert parse_bandwidth(written) == 1e11


@pytest.mark.parametrize("written", ["0", "0e5", "1e400"])
def test_a_bare_bandwidth_string_is_still_checked(tmp_path, written):
    (line,) = errors(arch_file(tmp_path), [f"arch.hbm.bandwidth={written}"])
    assert line.startswith("--set: arch.hbm.bandwidth: ")
    assert ("> 0" in line) if written != "1e400" else ("too large" in line)
