"""Probe p102 #2, #3, #5: the diffusion pipelines' UNet count, the parts a tensor-parallel FLUX.1 / DiT does not
shard, and `accelsim list`'s DiT-XL/2 params.

#2: runwayml/stable-diffusion-v1-5's scheduler/scheduler_config.json is PNDMScheduler with ``skip_prk_steps: true``;
diffusers' ``PNDMScheduler.set_timesteps`` (src/diffusers/schedulers/scheduling_pndm.py) then builds
``plms_timesteps = np.concatenate([_timesteps[:-1], _timesteps[-2:-1], _timesteps[-1:]])`` from the ``steps``
"leading" timesteps, and the pipeline calls the UNet once per timestep. stabilityai/stable-diffusion-xl-base-1.0's is
EulerDiscreteScheduler, whose ``set_timesteps`` gives ``steps`` timesteps.
"""

from __future__ import annotations

import json

import pytest

from accelsim.builders import build_workload
from accelsim.builders.sd import SDParams, SDXLParams, sd_parts
from accelsim.cli import main


def _pndm_plms_timesteps(steps: int) -> list[int]:
    """PNDMScheduler.set_timesteps with skip_prk_steps (module docstring), written out on Python lists: the
    "leading" spacing of 1000 training steps plus steps_offset 1, then the PLMS list."""
    ratio = 1000 // steps
    t = [i * ratio + 1 for i in range(steps)]
    return (t[:-1] + t[-2:-1] + t[-1:])[::-1]


@pytest.mark.parametrize("steps, calls", [
    (50, 51),  # 49 + 1 + 1: SD 1.x's "51/51" progress bar in diffusers
    (2, 3),    # [1, 501] -> [1] + [1] + [501]
    (1, 1),    # [1] -> [] + [] + [1]: _timesteps[-2:-1] of one element is empty
])
def test_sd15_runs_the_unet_once_per_pndm_timestep(steps, calls):
    assert len(_pndm_plms_timesteps(steps)) == calls
    # then the safety checker once (since probe p251 #1 sd15's pipeline runs diffusers' safety checker after the VAE decoder, as StableDiffusionPipeline does by default: probe p251 #1)
    assert sd_parts(SDParams.model_validate({"steps": steps})) == [
        ("text_encoder", 1), ("unet", calls), ("vae_decoder", 1), ("safety_checker", 1)]


def test_sdxl_runs_the_unet_steps_times():
    # EulerDiscreteScheduler.set_timesteps: steps timesteps (np.linspace / arange of num_inference_steps)
    assert sd_parts(SDXLParams.model_validate({"steps": 50})) == [
        ("text_encoder", 1), ("unet", 50), ("vae_decoder", 1)]


def test_info_counts_sd15s_51_unet_calls(capsys):
    assert main(["info", "sd15", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # and the safety checker once (since probe p251 #1 sd15's pipeline runs diffusers' safety checker after the VAE decoder, as StableDiffusionPipeline does by default: probe p251 #1)
    assert [(p["part"], p["count"]) for p in out["pipeline"]] == [("text_encoder", 1), ("unet", 51), ("vae_decoder", 1),
                                                                  ("safety_checker", 1)]
    text, unet, vae, checker = out["pipeline"]
    assert out["macs"] == text["macs"] + 51 * unet["macs"] + vae["macs"] + checker["macs"]  # the 51st call's counted


# ---- #3: the parts a tensor-parallel pipeline does not shard -------------------------------------------------
FLUX_SMALL = {"image_size": 256, "steps": 2, "prompt_tokens": 64, "tensor_parallel": 8}


@pytest.mark.parametrize("part, tp", [("text_encoder", 1), ("vae_decoder", 1), ("transformer", 8)])
def test_flux_graphs_say_which_part_is_a_shard(part, tp):
    g = build_workload("flux1_dev", {**FLUX_SMALL, "part": part})
    assert g.info.tensor_parallel == tp


def test_flux_tp8_note_puts_only_the_transformer_over_the_group(tmp_path, capsys):
    assert main(["run", "-w", "flux1_dev", "-a", "dgx-h100", *[a for k, v in FLUX_SMALL.items()
                                                              for a in ("--set", f"workload.{k}={v}")],
                 "--no-plots", "-q", "-o", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    (note,) = [n for n in report["notes"] if n.startswith("chips: ")]
    assert "the transformer over chips 0-7 (tensor_parallel 8)" in note
    assert "text_encoder over" not in note and "vae_decoder over" not in note
    assert "the text_encoder and vae_decoder on chip 0 alone" in note
    # chip 0 holds the text encoders and the VAE whole and its shard of the transformer: params_per_chip is their sum,
    # the params memory's weights hold in bf16 (2 B each), not the largest part's (probe p102 #3: 4.885 B)
    shard = build_workload("flux1_dev", {**FLUX_SMALL, "part": "transformer"}).params
    whole = [build_workload("flux1_dev", {**FLUX_SMALL, "part": p}).params for p in ("text_encoder", "vae_decoder")]
    assert report["params_per_chip"] == shard + sum(whole)
    assert report["params_per_chip"] * 2 == report["memory"]["hbm"]["weights"]
    assert main(["info", "flux1_dev", *[a for k, v in FLUX_SMALL.items() for a in ("--set", f"workload.{k}={v}")],
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params_per_chip"] == report["params_per_chip"]


@pytest.mark.parametrize("model, part", [("flux1_dev", "text_encoder"), ("flux1_dev", "vae_decoder"),
                                         ("flux1_schnell", "text_encoder"), ("dit_xl_2", "vae_decoder")])
def test_tensor_parallel_on_a_part_that_is_not_sharded_is_refused(model, part, tmp_path, capsys):
    status = main(["run", "-w", model, "-a", "dgx-h100", "--set", f"workload.part={part}", "--set",
                   "workload.tensor_parallel=8", "--no-plots", "-q", "-o", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    assert "workload.tensor_parallel" in err and f"part: {part}" in err and "(got 8)" in err


def test_tensor_parallel_1_on_a_part_is_accepted(capsys):
    assert main(["info", "flux1_dev", "--set", "workload.part=vae_decoder", "--set", "workload.tensor_parallel=1",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 49_545_475  # FLUX.1's AutoencoderKL decoder (flux.py)


# ---- #5: accelsim list's DiT-XL/2 line -----------------------------------------------------------------------
def test_list_gives_dit_xl_2s_parts_and_their_sum_as_info_does(capsys):
    assert main(["list", "workloads"]) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("dit_xl_2 ")]
    # facebookresearch/DiT models.py DiT-XL/2 674,834,720 + Stable Diffusion's VAE decoder 49,490,199 = 724,324,919
    assert "674,834,720" in line and "49,490,199" in line and "724,324,919" in line
    assert 674_834_720 + 49_490_199 == 724_324_919
    assert main(["info", "dit_xl_2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 724_324_919


@pytest.mark.parametrize("model, part", [("sd15", "unet"), ("flux1_schnell", "transformer")])
def test_info_names_the_part_whose_operators_it_lists_at_one_step(capsys, model, part):
    # probe p106 #4: at steps 1 every part runs once (sd15's PNDM: 1 UNet call at 1 step) and the tie named the text
    # encoder for the denoiser's table; the table is the denoiser's graph, so it names the denoiser
    assert main(["info", model, "--set", "workload.steps=1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(p["count"] for p in out["pipeline"]) == {1}  # sd15's 4 parts (its safety checker: probe p251 #1), FLUX's 3
    assert out["op_table_part"] == part
    assert out["op_table_graph"] == f"{model}_{part}"
