"""Checks of a workload's parameters that depend on several of them, or on the shapes they give, name the key at
fault with its file and line (or its ``--set``), one line and exit 2, as the per-field checks do: the U-Net and 3D
U-Net input sizes, seq2seq_lstm's layers, Whisper's and GPT's learned positions, GPT's shape and parallel splits,
GraphSAGE's fanouts (``builders.params.invalid_at`` from the params models' validators), SAM's tensor_parallel (a
build-time WorkloadError with its key)."""

from __future__ import annotations

import pytest

from accelsim.builders.cnn import UNet3dParams, UNetParams, unet, unet3d, unet_size_problem
from accelsim.cli import main
from accelsim.errors import WorkloadError


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


# (workload, --set items, the error line after "accelsim: error: ")
SET_CASES = [
    # 100 valid: down0 100-4 = 96 → 48, down1 44 → 22, down2 18 → 9, down3 9-4 = 5: odd before its pool
    ("unet", ["image_size=100"], "--set: workload.image_size: gives an odd 5×5 map before max-pool 'down3.pool'"),
    # 500 same: 500 → 250 → 125, odd before down2's pool
    ("unet", ["padding=same", "image_size=500"],
     "--set: workload.image_size: gives an odd 125×125 map before max-pool 'down2.pool'"),
    # 60 valid: 56 → 28, 24 → 12, 8 → 4, and down3's two 3×3 convs need more than 4 pixels
    ("unet", ["image_size=60"], "--set: workload.image_size: is too small: the unpadded 3×3 convs of 'down3' get a "
                                "4×4 map"),
    # 20³ valid: 16 → 8, 4 → 2, and down2's convs get 2×2×2
    ("unet3d", ["input_size=[20,20,20]"], "--set: workload.input_size: is too small: the unpadded 3×3 convs of "
                                          "'down2' get a 2×2×2 map"),
    ("unet3d", ["padding=same", "input_size=[17,33,33]"],
     "--set: workload.input_size: gives an odd 17×33×33 map before max-pool 'down0.pool'"),
    ("seq2seq_lstm", ["layers=1"], "--set: workload.layers: Input should be greater than or equal to 2 (got 1)"),
    # cached 447, new tokens at positions 447 … 451: 448 - 447 = 1 step fits
    ("whisper_base", ["phase=decode", "kv_len=447", "decode_steps=5"],
     "--set: workload.decode_steps: must be at most 1 with kv_len 447: decoder positions up to 451 exceed "
     "Whisper's 448 learned positions (got 5)"),
    ("whisper_base", ["seq_len=400", "decode_steps=49"], "--set: workload.decode_steps: must be at most 48 with "
                                                         "seq_len 400"),
    ("gpt", ["heads=7"], "--set: workload.heads: must divide hidden (2048) (got 7)"),
    ("gpt", ["pipeline_parallel=5"], "--set: workload.pipeline_parallel: pipeline_parallel × pipeline_interleave "
                                     "(5 × 1 = 5) does not divide layers (24): choose another pipeline_parallel (got 5)"),
    ("gpt", ["pipeline_parallel=2", "pipeline_stage=2"], "--set: workload.pipeline_stage: must be < "
                                                         "pipeline_parallel (2) (got 2)"),
    # gpt's 2048 positions: 2040 prompt tokens + 10 steps reach position 2049
    ("gpt", ["max_positions=2048", "seq_len=2040", "decode_steps=10"],
     "--set: workload.decode_steps: positions up to 2049 exceed the 2048 learned positions"),
    ("gpt", ["max_positions=2048", "seq_len=4096"], "--set: workload.seq_len: positions up to 4095 exceed"),
    ("gpt", ["sequence_parallel=true", "tensor_parallel=2", "seq_len=1023"],
     "--set: workload.sequence_parallel: needs seq_len (1023) divisible by tensor_parallel (2)"),
    ("gpt", ["context_parallel=2", "attention=unfused"], "--set: workload.context_parallel: needs attention: fused"),
    ("graphsage_products", ["fanouts=[5,5]", "layers=3"], "--set: workload.fanouts: has 2 entries for 3 layers"),
    ("sam_vit_b", ["tensor_parallel=2"], "--set: workload.tensor_parallel: sam_vit_b: not supported for SAM"),
]


@pytest.mark.parametrize(("model", "sets", "says"), SET_CASES)
def test_a_set_value_at_fault_is_named(capsys, model, sets, says):
    args = [a for s in sets for a in ("--set", f"workload.{s}")]
    assert main(["info", model, *args]) == 2
    assert _one_line(capsys).startswith(f"accelsim: error: {says}")


@pytest.mark.parametrize(("workload", "line", "says"), [
    ("  model: unet\n  image_size: 100\n", 4, "workload.image_size: gives an odd 5×5 map"),
    ("  model: unet3d\n  input_size: [20, 20, 20]\n", 4, "workload.input_size: is too small"),
    ("  model: seq2seq_lstm\n  layers: 1\n", 4, "workload.layers: Input should be greater than or equal to 2"),
    ("  model: whisper_base\n  phase: decode\n  kv_len: 447\n  decode_steps: 5\n", 6,
     "workload.decode_steps: must be at most 1 with kv_len 447"),
])
def test_an_experiment_files_line_is_named(tmp_path, capsys, workload, line, says):
    exp = tmp_path / "exp.yaml"  # line 1 name, 2 workload, 3 model, 4 on its keys
    exp.write_text(f"name: bad\nworkload:\n{workload}arch: tpu-v1\n")
    assert main(["run", str(exp), "-o", str(tmp_path / "out"), "-q", "--no-plots"]) == 2
    assert _one_line(capsys).startswith(f"accelsim: error: {exp}:{line}: {says}")


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_the_unet_size_check_admits_exactly_what_builds(padding):
    """The check's arithmetic against the builder's own shape inference: every side it admits builds (and the
    classic sizes are admitted), every side it calls too small the builder cannot build (checks bypassed)."""
    admitted = 0
    for side in range(1, 200):
        why = unet_size_problem((side, side), 4, padding == "valid")
        p = UNetParams.model_construct(**{**UNetParams().model_dump(), "image_size": side, "padding": padding})
        if not why:
            unet(p)
            admitted += 1
        elif "too small" in why:
            with pytest.raises(WorkloadError, match="not positive"):
                unet(p)
    assert admitted and not unet_size_problem((572, 572), 4, True) and not unet_size_problem((512, 512), 4, False)
    # 3D, depth 4 (3 pools): the paper's 116×132×132 and a 'same' cube
    assert not unet_size_problem((116, 132, 132), 3, True) and not unet_size_problem((64, 64, 64), 3, False)
    for side in (12, 20, 44):  # valid: each too small or odd somewhere; 44 → 40 → 20 → 16 → 8 → 4 - 4 = 0
        assert unet_size_problem((side,) * 3, 3, True)
        p = UNet3dParams.model_construct(**{**UNet3dParams().model_dump(), "input_size": (side,) * 3})
        if "too small" in unet_size_problem((side,) * 3, 3, True):
            with pytest.raises(WorkloadError):
                unet3d(p)
