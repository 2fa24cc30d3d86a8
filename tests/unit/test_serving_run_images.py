"""``accelsim run`` of a vision-language model with images and decode steps fills report.json's ``serving.images``
as ``accelsim serve`` does (probe p228 #4: the CLIP tower ran, TTFT 40.75 ms against 32.99 ms without the image,
yet the run gave no ``serving.images``)."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import load_workload

# LLaVA-1.5-7B: CLIP ViT-L/14 at 336 px, 24 patches a side, 576 patches an image (llava-hf/llava-1.5-7b-hf
# vision_config: image_size 336, patch_size 14); a prompt of 640 tokens holds one image's 576 positions
SETS = ["seq_len=640", "decode_steps=1"]


def _run(*sets: str) -> dict:
    return simulate(load_workload("llava_1_5_7b", [*SETS, *sets]), "h100").to_dict()


@pytest.fixture(scope="module")
def runs() -> tuple[dict, dict]:
    return _run("images=1"), _run()


def test_a_run_with_an_image_reports_its_encoder(runs):
    with_image, text = runs
    images = with_image["serving"]["images"]
    assert (images["requests"], images["images"], images["encoded_images"]) == (1, 1, 1)
    # the same prompt without the image runs the same decoder: the image adds the encoder's time to the prefill
    # (accelsim serve's encoder pass is that difference), up to the decoder's merging of the image tokens
    added = with_image["serving"]["ttft_s"] - text["serving"]["ttft_s"]
    assert images["encoder_s"] == pytest.approx(added, rel=0.01)
    assert images["encoder_busy_fraction"] == pytest.approx(images["encoder_s"] / with_image["seconds"])
    # and the run's MACs grow by the encoder's rows alone (the tower and the projector)
    tower = sum(op["macs"] for op in with_image["ops"] if op["phase"] == "prefill"
                and op["name"].startswith(("model.vision_tower.", "model.multi_modal_projector.")))
    assert tower > 0 and with_image["macs"] - text["macs"] == tower
    # without images, no serving.images (as report.json gives no state_bytes without recurrent layers)
    assert "images" not in text["serving"]


def test_each_sequence_carries_its_images():
    # a batch of 2 sequences of 2 images each (1,152 of the 1,280 prompt positions): 4 images, 2 requests
    images = simulate(load_workload("llava_1_5_7b", ["seq_len=1280", "decode_steps=1", "batch=2", "images=2"]),
                      "h100").to_dict()["serving"]["images"]
    assert (images["requests"], images["images"], images["encoded_images"]) == (2, 2 * 2, 2 * 2)
    assert images["encoder_s"] > 0


def test_a_decode_only_run_encodes_no_image():
    # phase decode: the image was encoded with the prompt, before this run (the pass reads only the cache)
    rep = simulate(load_workload("llava_1_5_7b", ["phase=decode", "kv_len=640", "decode_steps=1", "images=1"]),
                   "h100").to_dict()
    assert "images" not in rep["serving"]
