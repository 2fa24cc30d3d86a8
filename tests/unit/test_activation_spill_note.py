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


def test_a_buffer_for_activations_only_says_the_spill_path_is_not_the_chips():
    # TPU v1 (core.sram.holds: activations): its DDR3 weight memory feeds only the weight FIFO (Jouppi et al.,
    # ISCA 2017, Fig. 1), so an activation that leaves the unified buffer goes to the host over PCIe, not to the DDR3
    # that accelsim sends it to (probe p192 #1): the note says so and names the host. The same spill on a buffer that
    # holds everything gets the note without that clause
    spec = {"model": "layers", "input": [1, 8, 32, 32], "batch": 4, "layers": [
        {"type": "conv2d", "name": "c", "out_channels": 16, "kernel_size": 3, "padding": 1}, {"type": "relu"},
        {"type": "conv2d", "out_channels": 4, "kernel_size": 1}]}
    small = {"unified": "64KiB"}
    (note,) = [n for n in accelsim.simulate(spec, {"base": "tpu-v1", "core": {"sram": small}}).to_dict()["notes"]
               if n.startswith("activations:")]
    assert "went to hbm and back" in note and "core.sram.holds: activations" in note
    assert "spill path is not the real one" in note and "sends them to host" in note
    (note,) = [n for n in accelsim.simulate(spec, {"base": "tpu-v1", "core": {"sram": {**small, "holds": "all"}}})
               .to_dict()["notes"] if n.startswith("activations:")]
    assert "went to hbm and back" in note and "not the real one" not in note


def test_outputs_of_ops_split_over_cores_get_a_note_with_the_outputs_one_core_could_keep():
    # tpu-v4 (2 cores, 16 MiB of SRAM each: an 8 MiB activation region): a 3x3 conv, a ReLU and a grouped 3x3 conv
    # (4 groups) on a 64 x 56 x 56 bf16 map, each split over both cores. The ReLU folds into the conv (tpu-v4's
    # output path, probe p182 #2), which writes the activated map; the grouped conv is not cut in bands of rows
    # (architecture.md step 5), so that output (64·56·56·2 = 401,408 B) goes to main memory and back: written once
    # and read once, 802,816 B (one output: the fused ReLU's row is the conv's output, read through it by c2); it
    # fits the 8 MiB region alone, so one core keeps it. (c2's output is the graph's: in main memory either way.)
    spec = {"model": "layers", "input": [1, 64, 56, 56], "layers": [
        {"type": "conv2d", "name": "c1", "out_channels": 64, "kernel_size": 3, "padding": 1},
        {"type": "relu", "name": "r"},
        {"type": "conv2d", "name": "c2", "out_channels": 64, "kernel_size": 3, "padding": 1, "groups": 4}]}
    rep = accelsim.simulate(spec, "tpu-v4", plots=False).to_dict()
    assert all(op.get("core") is None for op in rep["ops"])  # each on both cores
    assert next(op for op in rep["ops"] if op["name"] == "r")["mapping"]["fused_into"] == "c1"
    hbm = rep["bytes"]["hbm"]
    (note,) = [n for n in rep["notes"] if "split over several cores" in n]
    assert note.startswith("activations: 1 output of ops split over several cores (401408 B (392KiB) in all) went "
                           "to hbm and back"), note
    assert f"about 802816 B (784KiB) written and read (from their sizes), of the run's {hbm} B" in note
    assert "1 of them fit one core's activation region (8388608 B (8MiB): half its SRAM) alone and could stay " \
        "there on one core (--set arch.cores=1 measures it)" in note
    assert "would move" not in note  # probe p64 #1: no guess at the one-core run's bytes
    # on one core they stay in its SRAM: no note (and the run moves less than the 2-core one less their traffic)
    one = accelsim.simulate(spec, {"base": "tpu-v4", "cores": 1}, plots=False).to_dict()
    assert not any("split over several cores" in n for n in one["notes"])
    assert one["bytes"]["hbm"] <= hbm - 802_816


def test_the_split_outputs_traffic_is_never_more_than_the_run_moved():
    # probe p64 #1: the estimate (each output written once and read once a reader, from its size) said 13.41 GiB
    # "of the run's 12.98 GiB" for SAM ViT-B on tpu-v4; a part is at most the whole
    import re

    rep = accelsim.simulate("sam_vit_b", "tpu-v4", plots=False).to_dict()
    (note,) = [n for n in rep["notes"] if "split over several cores" in n]
    said = int(re.search(r"about (\d+) B", note).group(1))
    assert 0 < said <= rep["bytes"]["hbm"]
    assert said < rep["bytes"]["hbm"] or "(their sizes give more: capped)" in note
