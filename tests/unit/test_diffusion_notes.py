"""A diffusion pipeline's composed notes: its peak-over-TDP note and its unfused-attention note (probe p151 #1, #2).

The pipeline's ``power.peak_w`` is its busiest part's window (docs/architecture.md, "Diffusion pipelines"), so the
over-TDP note must quote that figure and appear whenever it exceeds the TDP; FLUX's T5 encoder is kept unfused by
its builder whatever ``attention`` says, so at the preset's ``attention: fused`` there is no unfused-attention note,
and at ``unfused`` the note does not say that fused is refused.
"""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.energy.model import PEAK_OVER_TDP

H100_TDP_W = 700  # NVIDIA H100 SXM5 datasheet: max thermal design power "up to 700W" (arch/h100.yaml energy.tdp)


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
