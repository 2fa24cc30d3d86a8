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
    assert sd_parts(SDParams.model_validate({"steps": steps})) == [
        ("text_encoder", 1), ("unet", calls), ("vae_decoder", 1)]


def test_sdxl_runs_the_unet_steps_times():
    # EulerDiscreteScheduler.set_timesteps: steps timesteps (np.linspace / arange of num_inference_steps)
    assert sd_parts(SDXLParams.model_validate({"steps": 50})) == [
        ("text_encoder", 1), ("unet", 50), ("vae_decoder", 1)]


def test_info_counts_sd15s_51_unet_calls(capsys):
    assert main(["info", "sd15", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(p["part"], p["count"]) for p in out["pipeline"]] == [("text_encoder", 1), ("unet", 51), ("vae_decoder", 1)]
    text, unet, vae = out["pipeline"]
    assert out["macs"] == text["macs"] + 51 * unet["macs"] + vae["macs"]  # the 51st call's MACs are counted
