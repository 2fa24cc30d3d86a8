"""Probe p81's sweep findings: a whole-section axis whose values set a key also swept or set inside it (#3), and
the line of the first occurrence of a key swept twice (#7)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from accelsim.config.sweep import load_sweep
from accelsim.errors import ConfigError

BASE = "base: {workload: {model: gemm, m: 64, n: 64, k: 64}, arch: tpu-v1}\n"  # line 1 of every file here
GEMM64, GEMM256 = "{model: gemm, m: 64, n: 64, k: 64}", "{model: gemm, m: 256, n: 64, k: 64}"


def write(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(BASE + textwrap.dedent(body))
    return path


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    return str(info.value).splitlines()


# ---- #7: where a key swept twice was first swept --------------------------------------------------------------
@pytest.mark.parametrize("body, first", [
    # the probe's two zip groups: "already swept or set in 'zip'" did not say which group
    ("zip:\n  - {arch.hbm.bandwidth: [10GB/s, 1TB/s]}\n  - {arch.hbm.bandwidth: [20GB/s, 2TB/s]}\n", "'zip' (line 3)"),
    ("set:\n  arch.hbm.bandwidth: 10GB/s\ngrid:\n  workload.m: [8]\n  arch.hbm.bandwidth: [1TB/s]\n",
     "'set' (line 3)"),
])
def test_a_key_swept_twice_names_the_line_of_its_first_occurrence(tmp_path, body, first):
    path = write(tmp_path, body)
    last = len(body.splitlines()) + 1  # the repeat is the last line written (line 1 is base:)
    assert errors(path) == [f"{path}:{last}: arch.hbm.bandwidth: already swept or set in {first}"]
