"""A diffusion pipeline's composed notes: its peak-over-TDP note and its unfused-attention note (probe p151 #1, #2).

The pipeline's ``power.peak_w`` is its busiest part's window (docs/architecture.md, "Diffusion pipelines"), so the
over-TDP note must quote that figure and appear whenever it exceeds the TDP; FLUX's T5 encoder is kept unfused by
its builder whatever ``attention`` says, so at the preset's ``attention: fused`` there is no unfused-attention note,
and at ``unfused`` the note does not say that fused is refused.
"""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.builders.flux import FluxParams, flux
from accelsim.config import load_arch
from accelsim.energy.model import PEAK_OVER_TDP
from accelsim.report.summary import UNFUSED_NOTE_HEAD, unfused_attention_names

H100_TDP_W = 700  # NVIDIA H100 SXM5 datasheet: max thermal design power "up to 700W" (arch/h100.yaml energy.tdp)
T5_XXL_LAYERS = 24  # google/t5-v1_1-xxl config.json num_layers


@pytest.fixture(scope="module")
def sd15() -> tuple[dict, dict]:
    """SD 1.5 at 256 pixels, one step, on h100: the pipeline, and its VAE decoder run alone."""
    run = {"model": "sd15", "image_size": 256, "steps": 1}
    return (simulate(run, "h100").to_dict(),
            simulate({"model": "sd15", "image_size": 256, "part": "vae_decoder"}, "h100").to_dict())


def test_the_pipelines_peak_is_its_busiest_parts_and_its_tdp_note_quotes_it(sd15):
    whole, vae = sd15
    peak = vae["power"]["peak_w_per_chip"]
    # the VAE decoder alone: its own busiest window over the TDP, with its own note (the part's, a plain run)
    assert vae["power"]["tdp_w"] == H100_TDP_W and peak > H100_TDP_W
    assert any(n.startswith(f"{PEAK_OVER_TDP}{peak:.4g} W per chip") for n in vae["notes"])
    # the pipeline: that window is its busiest (the VAE's), and its note quotes it, not the UNet's window (probe p151
    # #1: the note came from the composed run before the busiest part's peak was put in, none at all for sd15)
    assert whole["power"]["peak_w_per_chip"] == pytest.approx(peak, rel=1e-12)
    assert whole["power"]["average_w"] < H100_TDP_W  # (else the note on the average would be given instead)
    notes = [n for n in whole["notes"] if n.startswith(PEAK_OVER_TDP)]
    assert len(notes) == 1 and notes[0].startswith(f"{PEAK_OVER_TDP}{peak:.4g} W per chip")
    assert f"exceeds the TDP of {H100_TDP_W} W" in notes[0]


def _flux(**params: object):
    return flux(FluxParams.model_validate(params).model_copy(update={"dtype": "bf16"}))


def test_fluxs_text_encoder_at_attention_fused_names_no_unfused_attention():
    arch = load_arch("h100")
    fused = _flux(part="text_encoder", prompt_tokens=64)
    # T5's attention is unfused whatever the key: its scores, bias add, softmax and context in each of 24 layers
    assert sum(op.fn == "add_rel_pos" for op in fused.ops) == T5_XXL_LAYERS
    assert unfused_attention_names(fused, arch) == frozenset()
    unfused = _flux(part="text_encoder", prompt_tokens=64, attention="unfused")
    assert {op.fn for op in unfused.ops if op.name in unfused_attention_names(unfused, arch)} >= {"add_rel_pos"}


@pytest.mark.parametrize("attention", ["fused", "unfused"])
def test_the_flux_pipelines_unfused_attention_note(attention):
    run = {"model": "flux1_dev", "image_size": 256, "prompt_tokens": 64, "steps": 2, "attention": attention}
    notes = [n for n in simulate(run, "h100").to_dict()["notes"] if n.startswith(UNFUSED_NOTE_HEAD)]
    if attention == "fused":  # the preset's default: only T5's eager ops are unfused, which no key fuses
        assert notes == []
        return
    # unfused: fusing is the advice (the transformer's, CLIP's and the VAE's attention), T5's biased scores apart;
    # not T5's "fused is refused", which is false of FLUX (probe p151 #2)
    assert len(notes) == 1
    assert "--set workload.attention=fused" in notes[0] and "add_rel_pos" in notes[0]
    assert "refused" not in notes[0]
