"""Probe p89 #5: a unet3d size made invalid by ``--set workload.depth`` blames depth, not the preset's
input_size line."""

from __future__ import annotations

from accelsim.cli import main


def _errors(capsys, argv: list[str]) -> list[str]:
    assert main(argv) == 2
    return capsys.readouterr().err.strip().splitlines()


# ---- p89 #5: unet3d depth ------------------------------------------------------------------------------------
def test_a_unet3d_depth_set_on_the_command_line_is_blamed_for_the_size_it_breaks(capsys):
    # valid 3×3×3 convs take 4 voxels a level, 2×2×2 pools halve: 116, 132, 132 → 112, 128, 128 → 56, 64, 64 →
    # 52, 60, 60 → 26, 30, 30 → 22, 26, 26 → 11, 13, 13 → 7, 9, 9, odd before down3's pool (depth 6 has 5 pools;
    # the preset's depth 4 has 3 and stops before it)
    (line,) = _errors(capsys, ["info", "unet3d", "--set", "workload.depth=6"])
    assert line.startswith("accelsim: error: --set: workload.depth: workload.input_size ([116, 132, 132], from "), line
    assert "gives an odd 7×9×9 map before max-pool 'down3.pool'" in line and line.endswith("(got 6)"), line


def test_a_unet3d_input_size_set_last_is_still_the_one_blamed(capsys):
    # 117 - 4 = 113: odd before down0's pool
    (line,) = _errors(capsys, ["info", "unet3d", "--set", "workload.input_size=[117,132,132]"])
    assert line.startswith("accelsim: error: --set: workload.input_size: gives an odd 113×128×128 map before "
                           "max-pool 'down0.pool'"), line


def test_training_a_batch_norm_of_one_voxel_at_batch_1_is_refused(capsys):
    # probe p277 #1: depth 1 on a 5³ input: two valid 3³ convs, 5 → 3 → 1, so down0's second BatchNorm3d (64
    # channels, 2 × the 32 base) sees (1, 64, 1, 1, 1): 1 value a channel, refused by PyTorch in training
    argv = ["info", "unet3d", "--mode", "training", "--set", "workload.depth=1", "--set", "workload.input_size=[5,5,5]"]
    (line,) = _errors(capsys, argv)
    assert "unet3d: training: batch norm 'down0.bn2' gets 1 value per channel (input [1, 64, 1, 1, 1]: batch 1)" in line
    assert main([*argv, "--batch", "2"]) == 0  # 2 values a channel

