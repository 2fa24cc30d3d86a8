"""The ``collective`` micro-workload: one call as nccl-tests times it, and its ``bytes`` taken exactly."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.errors import ConfigError


def test_the_collective_workloads_seconds_is_the_calls_own_time():
    # nccl-tests times a loop of back-to-back calls, the host's launches running ahead, so one call's time is the
    # collective's alone: 512 B over 8 A100s, ring LL: 6.6 + 14 x 0.6 = 15.0 us + the link's 8.92 us + (1.75 x 512
    # + fill 512 / 8 = 64 B) / 87.7e9 (LL's cap) = 23.93 us; before, seconds added one eager launch (21 us) and its
    # dispatch (0.87 us): 45.8 us, while bus_bandwidth came from the 23.93
    r = accelsim.simulate({"model": "collective", "op": "all_reduce", "bytes": 512}, {"base": "dgx-a100"},
                          plots=False).to_dict()
    m = r["ops"][0]["mapping"]
    own = (15.0 + 8.92) * 1e-6 + (1.75 * 512 + 64) / 87.7e9
    assert m["all_reduce_s"] == pytest.approx(own, rel=1e-9)
    assert r["seconds"] == pytest.approx(own, abs=1 / r["clock_hz"])  # within the one cycle it is rounded to
    assert r["launch_overhead_s"] == 0.0
    # seconds and bus_bandwidth describe the same time: busbw = size / seconds x 2(n-1)/n
    assert m["bus_bandwidth"] == pytest.approx(512 / r["seconds"] * 1.75, rel=1e-4)
    # the launch one call alone would add, reported apart: a100's eager 21 us + its 0.87 us dispatch
    assert m["launch_s"] == pytest.approx(21.87e-6, abs=1 / r["clock_hz"])


@pytest.mark.parametrize("nbytes", [1, 1001, 1_144_835])
def test_bytes_that_are_not_whole_elements_are_refused_at_the_key(nbytes):
    # fp16 elements are 2 B each: nccl-tests' size is count x 2, so an odd size is no call it could make
    with pytest.raises(ConfigError) as e:
        accelsim.simulate({"model": "collective", "bytes": nbytes, "dtype": "fp16"}, {"base": "dgx-h100"},
                          plots=False)
    # the whole elements either side (none below 1 B): 1 -> 2 only, 1001 -> 1000 or 1002
    assert "workload.bytes: bytes" in str(e.value)
    assert str(e.value).endswith(f"use {nbytes - 1} or {nbytes + 1}" if nbytes > 1 else "use 2")


def test_bytes_are_priced_exactly_as_message_bytes():
    r = accelsim.simulate({"model": "collective", "bytes": 1002, "dtype": "fp16"}, {"base": "dgx-h100"},
                          plots=False).to_dict()
    assert r["ops"][0]["mapping"]["message_bytes"] == 1002


@pytest.mark.parametrize("argv, key", [(["--mode", "training"], "workload.mode"),
                                        (["--set", "workload.sparsity=2:4"], "workload.sparsity")])
def test_a_collective_refuses_training_and_sparsity(capsys, argv, key):
    # probe p104 #5: --mode training added a loss op and called the 8 chips the call spans "8 data-parallel replicas";
    # sparsity 2:4 was taken silently (a collective has no weights). Each is a one-line error at its key, exit 2
    from accelsim.cli import main
    assert main(["run", "-w", "collective", "-a", "dgx-h100", *argv, "-o", "unused", "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f": {key}: " in line
