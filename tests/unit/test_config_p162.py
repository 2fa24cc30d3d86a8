"""Probe p162 #4: a list of the wrong length for a fixed-length tuple field is one line naming the key, the item's
index where the field is a list of tuples, the lengths it takes and what was given.

Before: an item of ``efficiency_by_size`` was named by its index ("efficiency_by_size.1: 1 needs 2 values"); the
union ``core.tile.shapes`` (``[m, n]`` or ``[m, n, cores]``, docs/configuration.md) printed one line per member
("Tuple should have at most 2 items", "at most 3 items"; two "Field required"); and a nested bad value in a list of
the wrong length printed a second line for the item. The expected lengths below are the fields' types
(hardware.py: MemoryLevel.efficiency_by_size, a list of (size, efficiency); OutputTile.shapes; unet3d's D, H, W).
"""

from __future__ import annotations

import pytest

from accelsim.cli import main
from accelsim.config.serving import load_serving
from accelsim.errors import ConfigError

EFF = "efficiency_by_size item 1 needs 2 values (size, efficiency), got 1: ['10MB']"


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_an_item_of_a_list_of_pairs_is_named_by_field_and_index(capsys):
    assert main(["info", "a100", "--set", "hbm.efficiency_by_size=[[100MB, 0.9], [10MB]]"]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: --set: arch.hbm.efficiency_by_size.1: {EFF}"]
    assert main(["info", "a100", "--set", "hbm.efficiency_by_size=[[100MB, 0.9, 3]]"]) == 2  # one too many
    assert _err_lines(capsys) == ["accelsim: error: --set: arch.hbm.efficiency_by_size.0: efficiency_by_size item 0 "
                                  "needs 2 values (size, efficiency), got 3: ['100MB', 0.9, 3]"]


def test_an_item_in_a_file_is_named_at_its_line(tmp_path, capsys):
    path = tmp_path / "short.yaml"
    path.write_text("base: a100\nname: short\nhbm:\n  efficiency_by_size:\n    - [100MB, 0.9]\n    - [10MB]\n")
    assert main(["info", str(path)]) == 2  # the short item on line 6
    assert _err_lines(capsys) == [f"accelsim: error: {path}:6: hbm.efficiency_by_size.1: {EFF}"]


@pytest.mark.parametrize(("given", "shown"), [
    ("[[128]]", "got 1: [128]"),  # was two "Field required" lines (items 1 and 2)
    ("[[128,128,64,3]]", "got 4: [128, 128, 64, 3]"),  # was "at most 2 items" and "at most 3 items"
    ("[[]]", "got 0: []"),
])
def test_a_union_of_lengths_gives_one_line_with_both(capsys, given, shown):
    assert main(["info", "a100", "--set", f"core.tile.shapes={given}"]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: --set: arch.core.tile.shapes.0: shapes item 0 needs 2 or 3 "
                                  f"values (m, n[, cores]), {shown}"]


def test_a_length_the_union_takes_keeps_the_item_errors_of_that_length_only(capsys):
    # [128, -1] is a 2-tuple with a bad n: the 3-tuple member's "shapes.0.2: Field required" is not reported
    assert main(["info", "a100", "--set", "core.tile.shapes=[[128, -1]]"]) == 2
    assert _err_lines(capsys) == ["accelsim: error: --set: arch.core.tile.shapes.0.1: Input should be greater than 0 "
                                  "(got -1)"]
    # [128, 128, 0] a 3-tuple with a bad cores: the 2-tuple member's "at most 2 items" is not reported
    assert main(["info", "a100", "--set", "core.tile.shapes=[[128, 128, 0]]"]) == 2
    assert _err_lines(capsys) == ["accelsim: error: --set: arch.core.tile.shapes.0.2: Input should be greater than 0 "
                                  "(got 0)"]


def test_a_bad_item_inside_a_list_of_the_wrong_length_is_not_a_second_line(capsys):
    assert main(["info", "unet3d", "--set", "workload.input_size=[[116],132]"]) == 2
    assert _err_lines(capsys) == ["accelsim: error: --set: workload.input_size: input_size needs 3 values (Input D, H, "
                                  "W voxels), got 2: [[116], 132]"]
    assert main(["info", "unet3d", "--set", "workload.input_size=[116,132,132,5]"]) == 2  # one too many
    assert _err_lines(capsys) == ["accelsim: error: --set: workload.input_size: input_size needs 3 values (Input D, H, "
                                  "W voxels), got 4: [116, 132, 132, 5]"]


def test_load_serving_gives_the_same_line():
    with pytest.raises(ConfigError) as info:
        load_serving("qwen3_next_dgx_h100", overrides=["arch.core.tile.shapes=[[128,128,64,3]]"])
    assert str(info.value) == ("--set: arch.core.tile.shapes.0: shapes item 0 needs 2 or 3 values (m, n[, cores]), "
                               "got 4: [128, 128, 64, 3]")


def test_a_validators_own_message_on_the_list_is_kept(tmp_path, capsys):
    # a layer's padding (a custom validator reads it) and an add layer's inputs (its field validator counts them)
    # say what they take in their own words; the length line does not replace them
    pad = tmp_path / "pad.yaml"
    pad.write_text("model: layers\ninput: [1, 3, 16, 16]\nlayers:\n  - {type: conv2d, out_ch: 3, kernel: 3, "
                   "padding: [1]}\n")
    assert main(["info", str(pad)]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: {pad}:4: layers.0.padding: expected an int >= 0 or a pair [h, w] "
                                  "of them or 'same' or 'valid' (got [1])"]
    add = tmp_path / "add.yaml"
    add.write_text("model: layers\ninput: [1, 3, 16, 16]\nlayers:\n  - {type: conv2d, out_ch: 3, kernel: 3}\n"
                   "  - {type: add, inputs: [input]}\n")
    assert main(["info", str(add)]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: {add}:5: layers.1.inputs: expected 2 layer names, not 1 "
                                  "(got ['input'])"]
