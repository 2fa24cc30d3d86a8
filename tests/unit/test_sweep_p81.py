"""Probe p81's sweep findings: a whole-section axis whose values set a key also swept or set inside it (#3), and
the line of the first occurrence of a key swept twice (#7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.config.sweep import load_sweep
from accelsim.sweep.expand import plan_sweep

from .test_sweep_p75 import errors
from .test_sweep_p75 import write as write_with

BASE = "base: {workload: {model: gemm, m: 64, n: 64, k: 64}, arch: tpu-v1}\n"  # line 1 of every file here
GEMM64, GEMM256 = "{model: gemm, m: 64, n: 64, k: 64}", "{model: gemm, m: 256, n: 64, k: 64}"


def write(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    return write_with(tmp_path, body, name, BASE)


# ---- #3: a section value that sets a key swept or set inside it ----------------------------------------------
def test_the_probes_section_axis_setting_the_swept_key_is_refused_naming_both(tmp_path):
    # it ran 2 of 4 points, labelled workload m: 64 but run at m = 32 and 128 (MACs 32*64*64 and 128*64*64), the
    # m: 256 value never ran: "2 duplicates"
    path = write(tmp_path, f"grid:\n  workload.m: [32, 128]\n  workload: [{GEMM64}, {GEMM256}]\n")
    assert errors(path) == [
        f"{path}:4: workload: overlaps 'workload.m' (grid, line 3): 'workload' value 1 of 2 sets m: 64 itself, "
        f"which 'workload.m' would replace, so a row could be labelled with a value it did not run (and points "
        f"differing only there would run once); leave 'm' out of the workload values or drop 'workload.m'"]


def test_the_key_written_after_the_section_is_refused_at_the_key(tmp_path):
    # the other order: the error is at the later line (4), the key's; the first value setting m is named (the 2nd)
    path = write(tmp_path, "grid:\n  workload: [{model: gemm, n: 64, k: 64}, " + GEMM256 + "]\n"
                           "  workload.m: [32, 128]\n")
    (line,) = errors(path)
    assert line.startswith(f"{path}:4: workload.m: overlaps 'workload' (grid, line 3): 'workload' value 2 of 2 "
                           f"sets m: 256 itself, ")


@pytest.mark.parametrize("body, line, key, first", [
    # a set: section value whose m a grid axis replaces: every row would say m: 64
    (f"set:\n  workload: {GEMM64}\ngrid:\n  workload.m: [32, 128]\n", 5, "workload.m",
     "overlaps 'workload' (set, line 3): the 'workload' value sets m: 64 itself"),
    # a set: key under a section axis whose values set it: both values would run at m = 32, one dropped
    (f"set:\n  workload.m: 32\nzip:\n  workload: [{GEMM64}, {GEMM256}]\n", 5, "workload",
     "overlaps 'workload.m' (set, line 3): 'workload' value 1 of 2 sets m: 64 itself"),
    # a nested key: the inline arch writes hbm.bandwidth itself
    ("grid:\n  arch: [{base: tpu-v1, hbm: {capacity: 8GiB, bandwidth: 1TB/s, latency: 100ns}}]\n"
     "  arch.hbm.bandwidth: [10GB/s]\n", 4, "arch.hbm.bandwidth",
     "overlaps 'arch' (grid, line 3): 'arch' value 1 of 1 sets hbm.bandwidth: 1TB/s itself"),
])
def test_set_and_nested_keys_set_by_a_section_value_are_refused(tmp_path, body, line, key, first):
    (got,) = errors(write(tmp_path, body))
    assert got.startswith(f"{tmp_path / 's.yaml'}:{line}: {key}: {first}, which ")


def test_section_values_that_leave_the_key_alone_still_cross_with_it(tmp_path):
    # the section values set n, not m: 2 sections x 2 m values = 4 points, each run at the m of its row
    path = write(tmp_path, "grid:\n  workload.m: [32, 128]\n  workload: [{model: gemm, n: 64, k: 64}, "
                           "{model: gemm, n: 128, k: 64}]\n")
    points = plan_sweep(load_sweep(path)).points
    got = sorted((p.values["workload.m"], p.experiment.workload.params["m"], p.experiment.workload.params["n"])
                 for p in points)
    assert got == [(32, 32, 64), (32, 32, 128), (128, 128, 64), (128, 128, 128)]
    # MACs m*n*k: the smallest 32*64*64 = 131,072, the largest 128*128*64 = 1,048,576
    assert sorted(p.experiment.workload.params["m"] * p.experiment.workload.params["n"] * 64 for p in points) == \
        [131_072, 262_144, 524_288, 1_048_576]


def test_a_preset_named_by_string_is_the_preset_with_the_key_applied(tmp_path):
    # arch/tpu-v1.yaml sets hbm.bandwidth 34GB/s; its row is labelled "tpu-v1" (the name), which the
    # arch.hbm.bandwidth column modifies, as the base's own values are: allowed, each arch at each bandwidth
    path = write(tmp_path, "grid:\n  arch: [tpu-v1]\n  arch.hbm.bandwidth: [10GB/s, 1TB/s]\n")
    assert sorted(p.experiment.arch.hbm.bandwidth for p in plan_sweep(load_sweep(path)).points) == [1e10, 1e12]


# ---- #7: where a key swept twice was first swept --------------------------------------------------------------
@pytest.mark.parametrize("body, first", [
    # the probe's two zip groups: "already swept or set in 'zip'" did not say which group
    ("zip:\n  - {arch.hbm.bandwidth: [10GB/s, 1TB/s]}\n  - {arch.hbm.bandwidth: [20GB/s, 2TB/s]}\n", "'zip' (line 3)"),
    ("set:\n  arch.hbm.bandwidth: 10GB/s\ngrid:\n  workload.m: [8]\n  arch.hbm.bandwidth: [1TB/s]\n",
     "'set' (line 3)"),
    # blocks in any order: at the later line, naming the first (probe p83 #2: zip above set or grid was blamed)
    ("zip:\n  arch.hbm.bandwidth: [10GB/s, 1TB/s]\nset:\n  arch.hbm.bandwidth: 10GB/s\n", "'zip' (line 3)"),
    ("zip:\n  arch.hbm.bandwidth: [10GB/s, 1TB/s]\ngrid:\n  arch.hbm.bandwidth: [10GB/s, 1TB/s]\n", "'zip' (line 3)"),
    ("grid:\n  arch.hbm.bandwidth: [1TB/s]\nset:\n  arch.hbm.bandwidth: 10GB/s\n", "'grid' (line 3)"),
])
def test_a_key_swept_twice_names_the_line_of_its_first_occurrence(tmp_path, body, first):
    path = write(tmp_path, body)
    last = len(body.splitlines()) + 1  # the repeat is the last line written (line 1 is base:)
    assert errors(path) == [f"{path}:{last}: arch.hbm.bandwidth: already swept or set in {first}"]
