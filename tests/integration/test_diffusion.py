"""A diffusion pipeline run (scenarios/diffusion.py): the text encoder once, the denoiser ``steps`` times, the VAE
decoder once, each part simulated once and counted.

The composition is checked against the parts run alone (``part: unet`` etc., plain runs of the same graphs): the
pipeline's seconds are Σ count × the part's seconds, its MACs Σ count × the part's MACs, its params the parts' sum.
The parts' own MACs and params are diffusers' (tests/unit/test_sd.py, test_dit.py). Small images keep it fast: a
128 × 128 image is a 16 × 16 latent.
"""

from __future__ import annotations

import json

import pytest

from accelsim import simulate
from accelsim.cli import main

SD = {"model": "sd15", "image_size": 128, "steps": 3}
# sd15's default PNDMScheduler (skip_prk_steps) sets steps + 1 timesteps: 3 steps run the UNet 4 times
# then the safety checker once (since probe p251 #1 sd15's pipeline runs diffusers' safety checker after the VAE decoder, as StableDiffusionPipeline does by default: probe p251 #1)
PARTS = [("text_encoder", 1), ("unet", 4), ("vae_decoder", 1), ("safety_checker", 1)]
PART = {k: v for k, v in SD.items() if k != "steps"}  # one part alone: steps left at its default


def _alone(part: str) -> dict:
    """The workload of ``part`` run alone: the safety checker refuses an image_size it does not read (its feature
    extractor makes every image 224²)."""
    return {**{k: v for k, v in PART.items() if part != "safety_checker" or k != "image_size"}, "part": part}


@pytest.fixture(scope="module")
def runs():
    whole = simulate(SD, "h100").to_dict()
    # a part alone is one execution: it refuses a steps it does not read, so leave steps at its default
    alone = {part: simulate(_alone(part), "h100").to_dict() for part, _ in PARTS}
    return whole, alone


def test_the_pipeline_counts_each_part(runs):
    whole, alone = runs
    d = whole["diffusion"]
    assert [(p["part"], p["count"]) for p in d["parts"]] == PARTS
    assert whole["seconds"] == pytest.approx(sum(n * alone[part]["seconds"] for part, n in PARTS), rel=1e-9)
    assert whole["macs"] == sum(n * alone[part]["macs"] for part, n in PARTS)
    assert whole["params"] == sum(alone[part]["params"] for part, _ in PARTS)
    assert d["seconds_per_image"] == whole["seconds"] and d["images_per_s"] == pytest.approx(1 / whole["seconds"])
    for p in d["parts"]:  # one execution of a part is its plain run
        assert p["seconds"] == pytest.approx(alone[p["part"]]["seconds"], rel=1e-9)
        assert p["total_seconds"] == pytest.approx(p["count"] * p["seconds"])


def test_rows_are_tagged_with_their_part_and_count(runs):
    whole, alone = runs
    rows = whole["ops"]
    assert [r["phase"] for r in rows] == [part for part, _ in PARTS for _ in alone[part]["ops"]]
    unet = [r for r in rows if r["phase"] == "unet"]
    assert {r["count"] for r in unet} == {4}
    # a repeated part's row holds its work over every execution
    assert sum(r["macs"] for r in unet) == 4 * alone["unet"]["macs"]
    # the parts follow each other on the timeline: the UNet's first row starts after the text encoder
    assert min(r["start_cycle"] for r in unet) >= alone["text_encoder"]["total_cycles"]
    assert whole["total_cycles"] == sum(n * alone[part]["total_cycles"] for part, n in PARTS)


def test_guidance_doubles_the_unet_and_text_encoder_work():
    on = simulate({**PART, "part": "unet"}, "h100")["macs"]
    off = simulate({**PART, "part": "unet", "guidance": False}, "h100")["macs"]
    assert on == 2 * off


def test_dit_pipeline_runs_its_transformer_steps_then_the_vae(tmp_path, capsys):
    out = tmp_path / "dit"
    assert main(["run", "--workload", "dit_xl_2", "--arch", "a100", "--set", "workload.steps=4", "-o", str(out),
                 "-q", "--no-plots"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [(p["part"], p["count"]) for p in report["diffusion"]["parts"]] == [("transformer", 4), ("vae_decoder", 1)]
    # DiT-XL/2's 674,834,720 and the VAE decoder's 49,490,199 parameters (facebookresearch/DiT, diffusers)
    assert report["params"] == 674_834_720 + 49_490_199


def test_a_part_alone_is_a_plain_run():
    r = simulate({**PART, "part": "unet"}, "h100").to_dict()
    assert "diffusion" not in r and r["params"] == 859_520_964  # diffusers' UNet2DConditionModel (sd15)


def test_info_names_the_pipeline(capsys):
    assert main(["info", "sd15", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [{k: p[k] for k in ("part", "count")} for p in info["pipeline"]] == [
        {"part": "text_encoder", "count": 1}, {"part": "unet", "count": 51}, {"part": "vae_decoder", "count": 1},
        {"part": "safety_checker", "count": 1}]  # the last since probe p251 #1


def test_the_pipeline_holds_every_parts_weights(runs):
    """A diffusers pipeline keeps its models on the device: the footprint's weights are the parts' sum (each part's
    own report holds only its weights), beside the largest part's activations."""
    whole, alone = runs
    hbm = whole["memory"]["hbm"]
    assert hbm["weights"] == sum(alone[part]["memory"]["hbm"]["weights"] for part, _ in PARTS)
    assert hbm["activations"] == max(alone[part]["memory"]["hbm"]["activations"] for part, _ in PARTS)
    # the busiest window of any part, and every part's notes
    assert whole["power"]["peak_w"] == max(alone[part]["power"]["peak_w"] for part, _ in PARTS)
    assert whole["workload"]["name"] == "sd15"


def test_one_step_still_describes_the_denoiser():
    """With steps: 1 every part runs once; the pipeline still names the model, not its first part."""
    r = simulate({**SD, "steps": 1}, "h100").to_dict()
    assert r["workload"]["name"] == "sd15" and [p["count"] for p in r["diffusion"]["parts"]] == [1, 1, 1, 1]


def test_training_a_pipeline_is_refused_in_one_line(capsys):
    status = main(["run", "--workload", "sd15", "--arch", "h100", "--mode", "training", "-q", "--no-plots",
                   "-o", "/tmp/accelsim_test_sd_training"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "set part: unet" in err, err


def test_a_tensor_parallel_pipeline_has_one_chips_note_that_agrees_with_its_figures():
    """Probe p84 #1: DiT at tensor_parallel 2 on 8 chips carried the transformer's "one replica of 2 chips" note
    beside the VAE's own "this run uses 1 chip ... mac_utilization 21.6%" while the report's was 6.3%. The
    composed report has one chips note, quoting its own mac_utilization, and its figures are chip 0's: its
    shard of the transformer and the whole VAE decoder."""
    w = {"model": "dit_xl_2", "steps": 1, "tensor_parallel": 2}
    r = simulate(w, "dgx-h100").to_dict()
    shard = simulate({**w, "part": "transformer", "steps": 250}, "dgx-h100").to_dict()  # one step: steps unread
    # the VAE decoder is not sharded: alone it refuses tensor_parallel 2 (probe p102 #3), and runs whole at 1
    vae = simulate({**w, "part": "vae_decoder", "steps": 250, "tensor_parallel": 1}, "dgx-h100").to_dict()
    assert r["macs"] == shard["macs"] + vae["macs"]
    chips = [n for n in r["notes"] if n.startswith("chips: ")]
    assert len(chips) == 1, chips
    assert f"mac_utilization {r['mac_utilization']:.1%} is against one chip's peak" in chips[0]
    assert "transformer over chips 0-1 (tensor_parallel 2)" in chips[0] and "vae_decoder on chip 0 alone" in chips[0]
    assert "chips 2-7 are idle" in chips[0]  # 8 chips less the group of 2
    # the VAE's own run says it is the run; that line is not carried into the pipeline's report
    assert any("this run uses 1 chip" in n for n in vae["notes"])
    assert not any("this run uses 1 chip" in n or "every figure here is its own" in n for n in r["notes"])


@pytest.mark.parametrize(("model", "part", "key", "value"), [
    # sd15's prompt_tokens no longer stands here: any value but its default 77 is refused for every part (probe p230
    # #5: diffusers pads every prompt to 77); flux's vae_decoder below still checks an unread prompt_tokens
    ("sd15", "unet", "steps", 7), ("sd15", "vae_decoder", "negative_prompt", "true"),
    ("sd15", "vae_decoder", "guidance", "false"), ("dit_xl_2", "vae_decoder", "guidance", "false"),
    ("sdxl", "unet", "negative_prompt", "true"),
    ("flux1_schnell", "transformer", "steps", 2), ("flux1_schnell", "vae_decoder", "prompt_tokens", 64),
    ("dit_xl_2", "vae_decoder", "modulate_kernel", "fused"), ("flux1_schnell", "text_encoder", "modulate_kernel",
                                                              "fused")])
def test_a_part_alone_refuses_a_pipeline_key_it_does_not_read(capsys, model, part, key, value):
    """Probe p84 #3: part: unet with steps: 7 ran one UNet step, exit 0, steps unread and unsaid. A part alone
    refuses a non-default value of a pipeline key it does not read, in one line at that key naming the part (as
    the hf builder refuses a key its model does not read); run and info alike."""
    for cmd in (["run", "-q", "--no-plots", "-o", "/tmp/accelsim_test_unread", "--arch", "h100"], ["info"]):
        status = main([*cmd[:1], *(["--workload", model] if cmd[0] == "run" else [model]), *cmd[1:],
                       "--set", f"workload.part={part}", "--set", f"workload.{key}={value}"])
        err = capsys.readouterr().err.strip()
        assert status == 2 and len(err.splitlines()) == 1, err
        assert f"--set: workload.{key}: not read by part: {part}" in err and f"(got {value})" in err, err


def test_a_part_alone_keeps_a_pipeline_key_at_its_default():
    """The default (as the presets write it) is no request: sd15's part: unet with steps: 50 runs, one step, the
    same as without it."""
    assert simulate({**PART, "part": "unet", "steps": 50}, "h100")["macs"] == \
        simulate({**PART, "part": "unet"}, "h100")["macs"]


def test_a_tensor_parallel_pipelines_j_per_inference_charges_the_idle_chip_static_power_alone():
    """Probe p191 #2: flux1_schnell at tensor_parallel 2 on dgx-h100 gave j_per_inference 519.42 J = 2 × chip 0's
    259.71 J, counting twice the text encoders and VAE decoder that its chips note says ran on chip 0 alone (right:
    501.10 J). By hand from the parts run alone (DiT-XL/2, 2 steps, TP 2 on dgx-h100): chip 0 spends
    2 × the transformer shard's J + the VAE decoder's J (the report's total_j); chip 1 spends 2 × the shard's J,
    and through the VAE's seconds only its static power (power.static_w / power.chips of a one-chip run)."""
    w = {"model": "dit_xl_2", "steps": 2, "tensor_parallel": 2}
    r = simulate(w, "dgx-h100").to_dict()
    shard = simulate({**w, "part": "transformer", "steps": 250}, "dgx-h100").to_dict()  # one step: steps unread
    vae = simulate({**w, "part": "vae_decoder", "steps": 250, "tensor_parallel": 1}, "dgx-h100").to_dict()
    shard_j, vae_j = shard["energy"]["total_j"], vae["energy"]["total_j"]
    static_w = vae["power"]["static_w"] / vae["power"]["chips"]  # one chip's
    chip0 = 2 * shard_j + vae_j
    chip1 = 2 * shard_j + static_w * vae["seconds"]
    assert r["energy"]["total_j"] == pytest.approx(chip0, rel=1e-9)
    assert r["efficiency"]["j_per_inference"] == pytest.approx(chip0 + chip1, rel=1e-9)
    assert r["efficiency"]["j_per_inference"] < 2 * r["energy"]["total_j"]  # the old figure, too high
    # one chip: nothing idles, the report's own energy (batch 1)
    one = simulate({**w, "tensor_parallel": 1}, "h100").to_dict()
    assert one["efficiency"]["j_per_inference"] == one["energy"]["total_j"]


@pytest.mark.parametrize(("model", "part"), [("sd15", "pipeline"), ("sdxl", "pipeline"), ("sdxl", "text_encoder")])
def test_a_negative_prompt_without_guidance_is_refused_in_one_line(capsys, model, part):
    """Probe p191 #3: negative_prompt: true with guidance: false was accepted and shown ("negative_prompt=yes")
    though nothing reads it: diffusers' encode_prompt encodes a negative prompt only under
    do_classifier_free_guidance. Refused at its key, exit status 2, run and info alike; with guidance it runs."""
    for cmd in (["run", "-q", "--no-plots", "-o", "/tmp/accelsim_test_negative", "--arch", "h100"], ["info"]):
        status = main([*cmd[:1], *(["--workload", model] if cmd[0] == "run" else [model]), *cmd[1:],
                       "--set", f"workload.part={part}", "--set", "workload.guidance=false",
                       "--set", "workload.negative_prompt=true"])
        err = capsys.readouterr().err.strip()
        assert status == 2 and len(err.splitlines()) == 1, err
        assert "--set: workload.negative_prompt: not read without guidance" in err and "(got true)" in err, err
    assert main(["info", model, "--set", f"workload.part={part}", "--set", "workload.negative_prompt=true"]) == 0
