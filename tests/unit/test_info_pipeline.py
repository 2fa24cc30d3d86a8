"""`accelsim info` on a diffusion pipeline: params are the whole pipeline's, as a run reports them (the operator
table stays one denoiser pass)."""

from __future__ import annotations

import json

from accelsim.cli import main

from .test_sd import PARAMS


def test_info_gives_the_pipelines_params_and_each_parts(capsys):
    assert main(["info", "sd15", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # diffusers' counts of the three parts (tests/unit/test_sd.py: the text encoder, the UNet, the VAE decoder)
    parts = {p: PARAMS[("sd15", p)] for p in ("text_encoder", "unet", "vae_decoder")}
    assert out["params"] == sum(parts.values()) == 123_060_480 + 859_520_964 + 49_490_199
    assert {p["part"]: p["params"] for p in out["pipeline"]} == parts
    # (the parts' counts, 1 / 50 / 1: tests/integration/test_diffusion.py::test_info_names_the_pipeline)
