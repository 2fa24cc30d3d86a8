"""A diffusion pipeline's composed notes: its peak-over-TDP note and its unfused-attention note (probe p151 #1, #2).

The pipeline's ``power.peak_w`` is its busiest part's window (docs/architecture.md, "Diffusion pipelines"), so the
over-TDP note must quote that figure and appear whenever it exceeds the TDP; FLUX's T5 encoder is kept unfused by
its builder whatever ``attention`` says, so at the preset's ``attention: fused`` there is no unfused-attention note,
and at ``unfused`` the note does not say that fused is refused.
"""

from __future__ import annotations

import re

import pytest

from accelsim import simulate
from accelsim.builders.flux import FluxParams, flux
from accelsim.config import load_arch
from accelsim.energy.model import PEAK_OVER_TDP
from accelsim.report.summary import CAUSAL_NOTE_HEAD, UNFUSED_NOTE_HEAD, unfused_attention_names

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


@pytest.fixture(scope="module")
def sd15_fp8() -> tuple[dict, dict]:
    """SD 1.5 at 128 pixels, 2 steps, fp8 on a100 (no fp8 rate: every part gets its rate notes): the pipeline, and
    its text encoder run alone."""
    run = {"model": "sd15", "image_size": 128, "steps": 2, "dtype": "fp8"}
    alone = {k: v for k, v in run.items() if k != "steps"}  # a part alone refuses a steps it does not read
    return (simulate(run, "a100").to_dict(), simulate({**alone, "part": "text_encoder"}, "a100").to_dict())


@pytest.fixture(scope="module")
def sd15_fp32() -> tuple[dict, dict]:
    """SD 1.5 at 128 pixels, 2 steps, fp32 on a100: FlashAttention-2 takes no fp32, so the CLIP text encoder's causal
    attention goes to the non-FlashAttention model, whose kernel skips the blocks above the diagonal (the fp8
    fixture above no longer does: since probe p252 #2 an fp8 attention on a100 runs flash2 at bf16, whose one
    77-token tile skips nothing): the pipeline, and its text encoder run alone."""
    run = {"model": "sd15", "image_size": 128, "steps": 2, "dtype": "fp32"}
    alone = {k: v for k, v in run.items() if k != "steps"}
    return (simulate(run, "a100").to_dict(), simulate({**alone, "part": "text_encoder"}, "a100").to_dict())


def test_the_pipelines_causal_attention_note_quotes_the_runs_figures(sd15_fp32):
    """Probe p191 #1: the composed run's "causal attention" note quoted the text encoder's pass (sd15 fp8, steps 2
    at 512²: 26,519,255,712 FLOPs at 8.525 TFLOP/s, the run 7,395,232,790,688 at 122.6). It quotes the run's own
    computed_flops, their share of flops and computed_flops / seconds, as a plain run's note does."""
    run, text = sd15_fp32
    notes = [n for n in run["notes"] if n.startswith(CAUSAL_NOTE_HEAD)]
    assert len(notes) == 1, notes
    computed, flops, seconds = run["computed_flops"], run["flops"], run["seconds"]
    assert computed < flops  # the encoder's causal blocks are skipped: the note is due
    assert f"compute {computed:,} FLOPs (computed_flops, {computed / flops:.1%} of flops)" in notes[0], notes[0]
    assert f"{computed / seconds / 1e12:.4g} TFLOP/s (flops / seconds: {flops / seconds / 1e12:.4g})" in notes[0]
    # not the text encoder's own figure, which its part run alone quotes
    assert f"compute {text['computed_flops']:,} FLOPs" not in notes[0]
    assert any(f"compute {text['computed_flops']:,} FLOPs" in n for n in text["notes"])


def test_a_parts_op_count_notes_name_the_part(sd15_fp8):
    """Probe p191 #1: "N op(s) of dtype fp8: the vector units have no fp8 rate ..." came once per part with
    different N, none saying whose. Each names its part: the text encoder's and the VAE decoder's one pass,
    the UNet's each of its passes (sd15's PNDMScheduler with skip_prk_steps runs steps + 1 = 3 UNet calls at
    steps 2, diffusers' plms_timesteps), and the text encoder's count is the one its part run alone gives."""
    run, text = sd15_fp8
    counts = [n for n in run["notes"] if re.match(r"\d[\d,]* [^:]*?op\(s\)", n)]
    # (the safety checker's pass too, which sd15's pipeline runs since probe p251 #1)
    assert counts and all(re.match(r"\d[\d,]* [^:]*?op\(s\) in (the (text_encoder|vae_decoder|safety_checker) pass|"
                                   r"each of the 3 unet passes)\b", n) for n in counts), counts
    vector = "op(s) of dtype fp8: the vector units have no fp8 rate"
    own = next(n for n in text["notes"] if vector in n)
    n_text = own.split(" ", 1)[0]
    assert any(n.startswith(f"{n_text} op(s) in the text_encoder pass of dtype fp8: the vector units have no fp8 "
                            f"rate") for n in run["notes"])
    for whose in ("the text_encoder pass", "each of the 3 unet passes", "the vae_decoder pass"):  # one line each
        assert sum(f" op(s) in {whose} of dtype fp8: the vector units" in n for n in counts) == 1, whose
