"""Errors of impossible multi-chip layouts name the key at fault (probe 18 finding 6), one line, exit status 2."""

from __future__ import annotations

import pytest

from accelsim.cli import main


def _err(capsys, *args):
    code = main(["run", *args, "--no-plots", "-q", "-o", "/dev/null/never"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    return err


def test_tensor_parallel_beyond_the_node_names_the_key_not_the_workload_file(capsys):
    err = _err(capsys, "-w", "llama2_7b", "-a", "dgx-h100", "--set", "workload.tensor_parallel=16")
    # 16 x 1 chips against dgx-h100's 8, at the --set that asked for them (before: llama2_7b.yaml:2: model:)
    assert err.startswith("accelsim: error: --set: workload.tensor_parallel: llama2_7b: tensor_parallel × "
                          "pipeline_parallel = 16 × 1 = 16 chips, but arch 'dgx-h100' has arch.chips=8")


def test_a_scale_out_removed_on_the_command_line_is_blamed_there(capsys):
    err = _err(capsys, "-w", "llama2_7b", "-a", "dgx-h100", "--set", "arch.interconnect.scale_out=null")
    # the preset's node_chips (line 32) stays; the key set last is the --set's
    assert err.startswith("accelsim: error: --set: arch.interconnect.scale_out: node_chips and scale_out go together")
    assert "node_chips 8, " in err and "dgx-h100.yaml:32)" in err


def test_a_collective_on_one_chip_names_arch_chips_in_the_singular(capsys):
    err = _err(capsys, "-w", "collective", "-a", "dgx-h100", "--set", "arch.chips=1")
    assert err.startswith("accelsim: error: --set: arch.chips: op 'all_reduce': an all_reduce over 1 chip needs")


def test_a_collective_on_a_preset_without_chips_names_no_line_of_it(capsys):
    # multicore-4.yaml writes no chips: key (one chip, the default), so no line holds it; it named line 5, name:
    # (probe p40 finding 2), and said "an reduce_scatter"
    err = _err(capsys, "-w", "collective", "-a", "multicore-4", "--set", "workload.op=reduce_scatter")
    assert err.startswith("accelsim: error: ") and "multicore-4.yaml: chips: op 'reduce_scatter': a reduce_scatter "\
        "over 1 chip needs an arch with at least 2 chips" in err, err


@pytest.mark.parametrize("value", ["0", "-5"])
def test_zero_and_negative_bytes_get_one_message(capsys, value):
    err = _err(capsys, "-w", "collective", "-a", "dgx-h100", "--set", f"workload.bytes={value}")
    assert err == f"accelsim: error: --set: workload.bytes: expected a whole, positive number of bytes (got {value})"
