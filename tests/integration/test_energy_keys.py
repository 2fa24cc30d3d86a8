"""Rules between two energy keys (docs/energy.md, "TDP" and "Activity power") through the command line: the error is
one line, exit status 2, at the key the user set last (a ``--set`` over a preset's line, a file over its ``base:``),
naming the other value and where it came from; both from one file, it stays at the first key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from accelsim.cli import main
from accelsim.config import presets
from accelsim.config.yamlio import display_path

GEMM = ["-w", "gemm", "--set", "workload.m=64", "--set", "workload.n=64", "--set", "workload.k=64", "--no-plots",
        "-q"]


def _line(path: Path, key: str) -> int:
    """1-based line of the first line of ``path`` that sets ``key:``."""
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith(f"{key}:"))


def _preset(name: str) -> tuple[Path, str]:
    """The preset file and its name as an error prints it (relative to the current folder when under it)."""
    path = presets.resolve("arch", name)
    return path, display_path(path)


def _error(capsys, tmp_path, arch: str, *sets: str) -> str:
    argv = ["run", *GEMM, "-a", arch, "-o", str(tmp_path / "out")]
    for item in sets:
        argv += ["--set", item]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    return err.strip()


def test_a_tdp_below_the_presets_idle_power_is_reported_at_the_set(tmp_path, capsys):
    tpu, shown = _preset("tpu-v1")  # idle_power 28 W, tdp 75 W (Jouppi et al.)
    err = _error(capsys, tmp_path, "tpu-v1", "arch.energy.tdp=10W")
    assert err.startswith(f"accelsim: error: --set: arch.energy.tdp: 10 W, below energy.idle_power "
                          f"(28 W, {shown}:{_line(tpu, 'idle_power')}): ")
    err = _error(capsys, tmp_path, "tpu-v1", "arch.energy.idle_power=100W")
    assert err.startswith(f"accelsim: error: --set: arch.energy.idle_power: 100 W, above energy.tdp "
                          f"(75 W, {shown}:{_line(tpu, 'tdp')}): ")


def test_a_file_over_its_base_is_blamed_and_one_file_keeps_the_first_key(tmp_path, capsys):
    tpu, shown = _preset("tpu-v1")
    mine = tmp_path / "mine.yaml"
    mine.write_text(textwrap.dedent("""\
        base: tpu-v1
        name: mine
        energy:
          tdp: 10W
        """))
    err = _error(capsys, tmp_path, str(mine))
    assert err.startswith(f"accelsim: error: {display_path(mine)}:4: energy.tdp: 10 W, below energy.idle_power "
                          f"(28 W, {shown}:{_line(tpu, 'idle_power')}): ")
    both = tmp_path / "both.yaml"  # both values written in one file: at idle_power, as before
    both.write_text(textwrap.dedent("""\
        base: tpu-v1
        name: both
        energy:
          tdp: 10W
          idle_power: 28W
        """))
    err = _error(capsys, tmp_path, str(both))
    assert err.startswith(f"accelsim: error: {display_path(both)}:5: energy.idle_power: 28 W, above energy.tdp "
                          f"(10 W, {display_path(both)}:4): ")


def test_an_activity_share_needs_a_tdp(tmp_path, capsys):
    a100, shown = _preset("a100")  # activity_power_share 0.589 of tdp - idle_power
    err = _error(capsys, tmp_path, "a100", "arch.energy.tdp=null")
    assert err.startswith(f"accelsim: error: --set: arch.energy.tdp: null, but energy.activity_power_share "
                          f"(0.589, {shown}:{_line(a100, 'activity_power_share')}) is a share of the headroom tdp − "
                          f"idle_power: ")
    # a new chip that gives the share and leaves the TDP out: at the share's line
    chip = tmp_path / "chip.yaml"
    chip.write_text(textwrap.dedent("""\
        name: chip
        clock: 1GHz
        dtype: fp16
        core: {systolic: {rows: 4, cols: 4}, vector: {lanes: 16}, sram: {unified: 8KiB}}
        hbm: {capacity: 1GiB, bandwidth: 16GB/s, energy_per_bit: 4.0}
        energy:
          node: 45nm
          idle_power: 0.5W
          activity_power_share: 0.4
        """))
    err = _error(capsys, tmp_path, str(chip))
    assert err.startswith(f"accelsim: error: {display_path(chip)}:9: energy.activity_power_share: 0.4, a share of the headroom "
                          f"tdp − idle_power, but energy.tdp is not given (null): give the chip's tdp")
    # with a TDP (2.5 W: 2 W of headroom) or a share of 0 it runs
    assert main(["run", *GEMM, "-a", str(chip), "--set", "arch.energy.tdp=2.5W", "-o", str(tmp_path / "o1")]) == 0
    assert main(["run", *GEMM, "-a", str(chip), "--set", "arch.energy.activity_power_share=0",
                 "-o", str(tmp_path / "o2")]) == 0


@pytest.mark.parametrize("name", ["a100", "h100", "h200", "l40s", "mi210", "mi300x", "dgx-h100", "tpu-v1",
                                  "eyeriss-like"])
def test_shipped_presets_still_load(name):
    from accelsim.config.load import load_arch

    arch = load_arch(name)
    e = arch.energy
    assert e is None or e.activity_power_share == 0 or e.tdp is not None
