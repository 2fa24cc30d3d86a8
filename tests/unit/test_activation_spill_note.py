"""The report note on activations the scratchpad would keep for their readers but cannot hold
(``summary.activation_spill_notes``, op rows' ``mapping.output_spilled``), built through the real report builder."""

from __future__ import annotations

import accelsim


def test_activations_that_do_not_fit_the_scratchpad_get_a_note_with_the_batch_that_would_hold_them():
    # tpu-v1 with a 64 KiB unified buffer: the activation region is half of it, 32,768 B. A 3x3 conv of 8 -> 16
    # channels on 32 x 32 at batch 4, int8: its output is 4 x 16 x 32 x 32 = 65,536 B, read only by the ReLU on the
    # same core, so it would stay, but does not fit: to main memory and back. A sample's share is 16,384 B, so a
    # batch of 32,768 // 16,384 = 2 would hold it
    spec = {"model": "layers", "input": [1, 8, 32, 32], "batch": 4, "layers": [
        {"type": "conv2d", "name": "c", "out_channels": 16, "kernel_size": 3, "padding": 1}, {"type": "relu"},
        {"type": "conv2d", "out_channels": 4, "kernel_size": 1}]}
    rep = accelsim.simulate(spec, {"base": "tpu-v1", "core": {"sram": {"unified": "64KiB"}}}).to_dict()
    conv = next(op for op in rep["ops"] if op["name"] == "c")
    assert conv["mapping"]["output_spilled"] == 4 * 16 * 32 * 32 == 65_536
    (note,) = [n for n in rep["notes"] if n.startswith("activations:")]
    assert "c's, 65536 B" in note and "32768 B" in note and "16384 B" in note and "a batch of 2 would hold it" in note
    # with a 1 MiB buffer (a 524,288 B region) it stays: no note
    rep = accelsim.simulate(spec, {"base": "tpu-v1", "core": {"sram": {"unified": "1MiB"}}}).to_dict()
    assert not any(n.startswith("activations:") for n in rep["notes"])
