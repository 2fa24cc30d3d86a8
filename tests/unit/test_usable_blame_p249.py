"""Probe p249 #4: memories too small for a pass are blamed on the key set last (docs/configuration.md), and a
level's ``usable_fraction`` sizes its room as its capacity does (usable = capacity × usable_fraction). A ``--set
arch.host.usable_fraction=0.0001`` that overflowed the host was reported at an unrelated ``--set workload.seq_len=128``
(which shrinks the footprint: gpt2's default is 1024), and ``--set arch.hbm.usable_fraction=0.001`` at the a100
preset's untouched ``hbm.capacity`` line; a set usable_fraction now ranks beside its level's capacity (a tie keeps the
capacity, so a preset's own usable_fraction is never named over it)."""

from __future__ import annotations

import pytest

from accelsim.cli import main

# gpt2 (124,439,808 parameters) trained with Adam in bf16: weights 2 B, gradients 4 B, Adam state 12 B a parameter
PARAMS = 124_439_808
TRAIN = ["run", "-w", "gpt2", "-a", "a100", "--set", "workload.mode=training", "--set", "workload.seq_len=128"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _err(capsys, argv: list[str]) -> str:
    assert main([*argv, "-q", "--no-plots", "-o", "o"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


def test_a_host_usable_fraction_that_overflows_the_host_is_named(capsys):
    # the offloaded Adam state, 12 × 124,439,808 = 1,493,277,696 B, against the host's 1 TiB × 0.0001 =
    # 109,951,162.8 -> 109,951,163 B usable: the host overflows because of its usable_fraction, not the seq_len
    line = _err(capsys, [*TRAIN, "--set", "options.offload=optimizer", "--set", "arch.host.usable_fraction=0.0001"])
    assert 12 * PARAMS > round(2**40 * 0.0001) == 109_951_163
    assert line.startswith("accelsim: error: --set: arch.host.usable_fraction: ")
    assert "host (109951163 B)" in line and line.endswith("host overflows (got 0.0001)")


def test_an_hbm_usable_fraction_is_named_over_the_presets_capacity(capsys):
    # weights, gradients and Adam state: 18 × 124,439,808 = 2,239,916,544 B, more than 80 GiB × 0.001 =
    # 85,899,345.9 -> 85,899,346 B usable: at the usable_fraction set, not at arch/a100.yaml's hbm.capacity line
    line = _err(capsys, [*TRAIN, "--set", "arch.hbm.usable_fraction=0.001",
                         "--set", "arch.host.usable_fraction=0.0001"])
    assert line.startswith("accelsim: error: --set: arch.hbm.usable_fraction: ")
    assert f"alone need {18 * PARAMS:,} B, more than the 85,899,346 B" in line and "a100.yaml" not in line


def test_a_capacity_set_keeps_the_blame_over_a_presets_usable_fraction(capsys):
    # l40s's preset gives hbm.usable_fraction; a --set hbm.capacity of 1 GiB (1,073,741,824 B < 2,239,916,544 B of
    # fixed state) is the key set last, and so named, as before the change
    line = _err(capsys, ["run", "-w", "gpt2", "-a", "l40s", "--set", "workload.mode=training",
                         "--set", "workload.seq_len=128", "--set", "arch.hbm.capacity=1GiB"])
    assert line.startswith("accelsim: error: --set: arch.hbm.capacity: ")
    # and the host capacity of the probe's second command stays at its own --set
    line = _err(capsys, [*TRAIN, "--set", "options.offload=optimizer", "--set", "arch.host.capacity=100MiB"])
    assert line.startswith("accelsim: error: --set: arch.host.capacity: ") and line.endswith("(got '100MiB')")
