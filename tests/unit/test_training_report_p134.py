"""What a training step's reports show (probe p134): the causal-attention note of a composed ``gpt`` step quotes the
step's own figures; the console summary and report.html of a one-chip step give its HBM footprint and samples/s."""

from __future__ import annotations

import re

import pytest

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload
from accelsim.report.console import summary_table
from accelsim.report.html import render_html
from accelsim.units import format_size

# a small Megatron GPT whose fused causal attention skips blocks above the diagonal (seq_len 512 is several K/V
# blocks) and whose 4 layers are layer-sampled from 1- and 2-layer passes (options.layer_samples, the default)
TINY_GPT = {"model": "gpt", "hidden": 256, "heads": 4, "layers": 4, "seq_len": 512, "vocab": 1024, "batch": 2,
            "mode": "training", "attention": "fused"}


def _causal_note(report: dict) -> str:
    (note,) = [n for n in report["notes"] if n.startswith("causal attention")]
    return note


@pytest.mark.parametrize("micro_batches", [1, 2])
def test_a_gpt_steps_causal_note_quotes_the_steps_figures_not_a_stage_pass(micro_batches):
    # probe p134 #3: the note quoted the 2-layer one-micro-batch sample pass (10.6 T FLOPs, 95.9 %, 552.7 TFLOP/s)
    # where the report's fields give 70.8 T, 92.8 %, 533.1; with micro_batches 2 it was unchanged. Each figure is
    # the hand arithmetic of the report's own fields: computed_flops, computed / flops, computed / seconds and
    # flops / seconds (one stage: one chip)
    # as a CUDA graph: eagerly, this tiny model's forward and backward are bound by the host's launches while its
    # step, Megatron's fused Adam (one multi-tensor kernel for all its tensors, probe p161 #2), is the device's,
    # which sampling.launches_affine cannot prove affine, so it is simulated with all 4 layers; the note's figures
    # are the report's either way, and the graph keeps this on the layer-sampled path the probe found wrong
    r = simulate(load_workload({**TINY_GPT, "micro_batches": micro_batches}), load_arch("h100"),
                 execution="cuda_graph").to_dict()
    assert r["pipeline"]["layer_samples"] and r["pipeline"]["stages"] == 1
    flops, computed, seconds = r["flops"], r["computed_flops"], r["seconds"]
    assert computed < flops
    note = _causal_note(r)
    assert f"compute {computed:,} FLOPs" in note
    assert f"(computed_flops, {computed / flops:.1%} of flops)" in note
    assert f"{computed / seconds / 1e12:.4g} TFLOP/s (flops / seconds: {flops / seconds / 1e12:.4g})" in note


def test_a_two_stage_steps_causal_note_gives_a_chips_rate():
    # a pipeline report's FLOPs are its P stages' chips': the rate is a chip's, as the console's computed row says
    # (computed_flops / seconds / P)
    arch = load_arch("h100", ["chips=2", "interconnect.bandwidth=450GB/s"])
    r = simulate(load_workload({**TINY_GPT, "pipeline_parallel": 2}), arch).to_dict()
    flops, computed, seconds = r["flops"], r["computed_flops"], r["seconds"]
    note = _causal_note(r)
    assert f"compute {computed:,} FLOPs ({computed / flops:.1%} of flops)" in note.replace("(computed_flops, ", "(")
    assert (f"{computed / seconds / 2 / 1e12:.4g} TFLOP/s a chip (2 chips) (flops / seconds / 2: "
            f"{flops / seconds / 2 / 1e12:.4g})") in note


def _rows(report: dict) -> dict[str, str]:
    table = summary_table(report)
    labels, values = (list(col.cells) for col in table.columns)
    return dict(zip(labels, values, strict=True))


# LeNet-5's parameters (LeCun et al. 1998, as the builder lays it out): conv1 6·(1·5·5)+6 = 156, conv2 16·(6·5·5)+16
# = 2,416, fc1 120·400+120 = 48,120, fc2 84·120+84 = 10,164, fc3 10·84+10 = 850: 61,706
LENET5_PARAMS = 156 + 2_416 + 48_120 + 10_164 + 850


def test_a_one_chip_training_step_prints_its_footprint_and_samples_per_s():
    # probe p134 #2: a one-chip step printed neither (samples/s only for several replicas, a footprint only for a
    # pipeline's stages)
    r = simulate("lenet5", "gemmini", mode="training", batch=4).to_dict()
    assert r["params"] == LENET5_PARAMS and r["data_parallel"]["replicas"] == 1
    rows = _rows(r)
    # samples/s = the batch over the step's time
    rate = re.match(r"([\d,.]+) \(batch 4 a step", rows["samples/s"])
    assert rate and float(rate[1].replace(",", "")) == pytest.approx(4 / r["seconds"], rel=1e-3)
    hbm = r["memory"]["hbm"]
    # Adam keeps an fp32 master copy, m and v: 12 B a parameter (ZeRO, Rajbhandari et al. 2020, K = 12)
    assert hbm["optimizer_states"] == 12 * LENET5_PARAMS
    # what the step holds is the sum of its parts, each printed
    used = hbm["weights"] + hbm["gradients"] + hbm["optimizer_states"] + hbm["activations"]
    text = rows["memory hbm"]
    assert text.startswith(f"{format_size(used)} of hbm used (")
    for part, key in (("weights", "weights"), ("gradients", "gradients"), ("optimizer states", "optimizer_states"),
                      ("activations", "activations")):
        assert f"{part} {format_size(hbm[key])}" in text, part
    assert "memory host" not in rows  # nothing offloaded: no host row
    page = render_html(r, plots=False)
    assert "samples/s" in page and f"{format_size(used)} of hbm used" in page


def test_an_offloaded_optimizer_shows_on_the_host_row():
    # options.offload: optimizer moves the optimizer states to the second memory (host): its row gives them, the
    # main memory's no longer does
    spec = load_workload({**TINY_GPT, "attention": "unfused"})
    r = simulate(spec, load_arch("h100"), offload="optimizer").to_dict()
    rows = _rows(r)
    host = r["memory"]["host"]
    assert host["optimizer_states"] > 0
    assert rows["memory host"].startswith(f"{format_size(host['used'])} of host used")
    assert f"optimizer states {format_size(host['optimizer_states'])}" in rows["memory host"]
    assert "optimizer states" not in rows["memory hbm"]


# TINY_GPT's parameters (Narayanan et al. 2021 with the final LayerNorm): 12·l·h² + 13·l·h + V·h + s·h + 2h, l = 4,
# h = 256, V = 1024, s = 512
TINY_GPT_PARAMS = 12 * 4 * 256**2 + 13 * 4 * 256 + 1024 * 256 + 512 * 256 + 2 * 256


def test_compare_gives_the_footprint_beside_the_time():
    # probe p134 #1: compare showed full recompute's 1.33x time and no row for the memory it saves
    from accelsim.report.compare import compare_json, compare_rows

    arch = load_arch("h100")
    runs = [(name, simulate(load_workload({**TINY_GPT, **extra}), arch, **opts).to_dict())
            for name, extra, opts in (("none", {}, {}), ("full", {"recompute": "full"}, {}),
                                      ("offload", {}, {"offload": "optimizer"}))]
    rows = dict(compare_rows(runs))
    none, full, off = (r["memory"] for _, r in runs)
    assert runs[0][1]["params"] == TINY_GPT_PARAMS
    # bf16 with Adam (Megatron's 18 B a parameter): weights 2, fp32 gradients 4, fp32 master + m + v 12
    assert rows["memory.hbm.weights"] == [2 * TINY_GPT_PARAMS] * 2 + [2 * TINY_GPT_PARAMS]
    assert rows["memory.hbm.gradients"] == [4 * TINY_GPT_PARAMS] * 3
    assert rows["memory.hbm.optimizer_states"] == [12 * TINY_GPT_PARAMS, 12 * TINY_GPT_PARAMS, 0]
    assert rows["memory.host.optimizer_states"] == [0, 0, 12 * TINY_GPT_PARAMS]
    # full recompute keeps each layer's input only (Korthikanti et al. 2022: 2sbh a layer, not sbh(34 + 5as/h))
    assert rows["memory.hbm.activations"] == [none["hbm"]["activations"], full["hbm"]["activations"],
                                              off["hbm"]["activations"]]
    assert full["hbm"]["activations"] < none["hbm"]["activations"]
    assert rows["memory.hbm.used"] == [m["hbm"]["used"] for m in (none, full, off)]
    assert rows["memory.hbm.fraction"] == [m["hbm"]["fraction"] for m in (none, full, off)]
    assert rows["memory.fits"] == ["yes"] * 3
    assert "memory.hbm.kv_cache" not in rows  # a part no report holds gets no row
    # after the time, before the work; --json gives the ratios: full recompute's activations over none's
    keys = list(rows)
    assert keys.index("seconds") < keys.index("memory.hbm.used") < keys.index("macs")
    ratio = compare_json(runs)["ratios"]["memory.hbm.activations"]["full"]
    assert ratio == pytest.approx(full["hbm"]["activations"] / none["hbm"]["activations"])
