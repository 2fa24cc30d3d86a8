"""Probe p150 #3: a list too short for a fixed-length tuple field says how many values it needs, not "missing: the
command line's input_size has no 2 (a mapping given whole replaces the file's; ...)"."""

from __future__ import annotations

import os

from accelsim.cli import main

# unet3d's input_size is D, H, W: three values (builders/cnn.py UNet3dParams, the paper's 116, 132, 132)
SHORT = "input_size needs 3 values (Input D, H, W voxels), got 2: [116, 132]"


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_a_short_tuple_from_the_command_line_says_how_many_values_it_needs(capsys):
    assert main(["info", "unet3d", "--set", "workload.input_size=[116,132]"]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: --set: workload.input_size: {SHORT}"]
    # one item: pydantic reports items 1 and 2 missing; one line, not two
    assert main(["info", "unet3d", "--set", "workload.input_size=[116]"]) == 2
    assert _err_lines(capsys) == ["accelsim: error: --set: workload.input_size: input_size needs 3 values (Input D, "
                                  "H, W voxels), got 1: [116]"]


def test_a_short_tuple_in_a_file_is_named_at_its_line(tmp_path, capsys):
    path = tmp_path / "u.yaml"
    path.write_text("workload:\n  model: unet3d\n  input_size: [116, 132]\narch: h100\n")  # input_size on line 3
    assert main(["run", str(path), "-q", "-o", str(tmp_path / "out")]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: {path}:3: workload.input_size: {SHORT}"]
    assert not os.path.exists(tmp_path / "out")
