"""Images in serving requests (docs/serving.md, "Images in the requests"): their prompt tokens, the encoder's pass in
the first prefill iteration (again after a recompute preemption), the encoder's grid points, and bad input."""

from __future__ import annotations

import pytest

from accelsim.cli import main
from accelsim.config.serving import load_serving
from accelsim.errors import ConfigError
from accelsim.serving import serve
from accelsim.serving.cost import Grid
from accelsim.serving.requests import make_requests

# Qwen2.5-VL at 448 x 448 pixels: patches of 14 -> 32 x 32 = 1,024 patches, merged 2 x 2 -> 256 tokens an image
# (Qwen2.5-VL's processor: tokens = (height / 14) * (width / 14) / 2², the model card's "448*448 image, 256 tokens")
QWEN_448_TOKENS = (448 // 14) ** 2 // 2**2


def spec(engine=None, workload=None, model=None):
    doc = {"name": "t", "model": {"base": "qwen2_5_vl_7b", **(model or {})}, "arch": "h100",
           "engine": {"max_num_seqs": 8, "max_num_batched_tokens": 4096, "max_model_len": 1024, "block_size": 16,
                      **(engine or {})},
           "workload": {"arrival": {"process": "constant", "rate": 1}, "prompt_tokens": {"dist": "fixed", "value": 100},
                        "output_tokens": {"dist": "fixed", "value": 3}, "images": {"dist": "fixed", "value": 1},
                        "requests": 1, **(workload or {})}}
    return load_serving(doc)


class Encoder:
    """The encoder's stub: 10 ms an image; records every call."""

    def __init__(self):
        self.calls: list[int] = []

    def __call__(self, images):
        self.calls.append(images)
        return 0.010 * images


def one_ms(p, d, kv, scores=0):
    return 0.001


def test_an_image_adds_its_tokens_and_one_encoder_pass_to_the_first_iteration():
    enc = Encoder()
    res = serve(spec(), cost=one_ms, blocks=1000, encode=enc)
    (r,) = res.requests
    assert r.prompt == 100 + QWEN_448_TOKENS == 356 and r.images == 1
    # iteration 1: the whole prompt (1 ms) + the encoder on 1 image (10 ms) -> first token at 11 ms; two decodes of
    # 1 ms each -> finish at 13 ms
    assert enc.calls == [1]
    assert (r.first_token, r.finish) == pytest.approx((0.011, 0.013))
    im = res.report["serving"]["images"]
    assert (im["requests"], im["images"], im["encoded_images"]) == (1, 1, 1)
    assert im["encoder_s"] == pytest.approx(0.010)
    assert im["encoder_busy_fraction"] == pytest.approx(0.010 / 0.013)


def test_a_chunked_prompt_encodes_each_image_once_as_its_chunk_reaches_it():
    enc = Encoder()
    # 2 x 256 image tokens (leading the prompt) + 100 text = 612 prompt tokens in chunks of 256, 256, 100: three
    # prefill iterations of 1 ms; the first chunk reaches image 0 only (positions 0-255), the second image 1
    # (256-511), each encoded then (10 ms), as vLLM V1 schedules encoder inputs: first token at 3 + 20 = 23 ms
    res = serve(spec(engine={"max_num_batched_tokens": 256}, workload={"images": {"dist": "fixed", "value": 2}}),
                cost=one_ms, blocks=1000, encode=enc)
    (r,) = res.requests
    assert r.prompt == 100 + 2 * QWEN_448_TOKENS
    assert enc.calls == [1, 1]
    assert r.first_token == pytest.approx(0.023)


def test_a_chunk_stops_before_an_image_the_encoder_budget_cannot_take():
    enc = Encoder()
    # max_num_encoder_input_tokens 256 = one image an iteration; a budget of 2048 tokens would take the whole 612-token
    # prompt, but its chunk stops before image 1: iteration 1 prefills image 0's 256 positions (encoding it), iteration
    # 2 the remaining 356 (encoding image 1): two prefill iterations of 1 ms and two encoder calls of 10 ms
    res = serve(spec(engine={"max_num_batched_tokens": 2048, "max_num_encoder_input_tokens": 256},
                     workload={"images": {"dist": "fixed", "value": 2}}), cost=one_ms, blocks=1000, encode=enc)
    (r,) = res.requests
    assert enc.calls == [1, 1]
    assert r.first_token == pytest.approx(0.022)
    # the default budget (max_num_batched_tokens, 2048) takes both images in the first iteration
    enc = Encoder()
    res = serve(spec(engine={"max_num_batched_tokens": 2048}, workload={"images": {"dist": "fixed", "value": 2}}),
                cost=one_ms, blocks=1000, encode=enc)
    assert enc.calls == [2] and res.requests[0].first_token == pytest.approx(0.021)


def test_a_recompute_preemption_encodes_the_images_again():
    enc = Encoder()
    # two requests of 356 prompt tokens (23 blocks of 16 each) and 40 output tokens in 47 blocks: both fit, then
    # growing past 368 tokens needs a 24th block each, one is free, so the newest is preempted and recomputed
    res = serve(spec(workload={"requests": 2, "arrival": {"process": "constant", "rate": 1000},
                               "output_tokens": {"dist": "fixed", "value": 40}}),
                cost=one_ms, blocks=47, encode=enc)
    s = res.report["serving"]
    assert s["finished"] == 2 and s["preemptions"] >= 1
    assert s["images"]["encoded_images"] == 2 + s["preemptions"] == sum(enc.calls)


def test_text_only_runs_report_no_images_and_keep_their_requests():
    with_images = make_requests(spec().serve.workload)
    text = spec(workload={"images": None}).serve.workload
    assert text.images is None
    plain = make_requests(text)
    # images are drawn after every other column: the text requests are the same with or without them
    assert [(r.arrival, r.prompt, r.output) for r in plain] == [(r.arrival, r.prompt, r.output) for r in with_images]
    assert serve(spec(workload={"images": None}), cost=one_ms, blocks=1000).report["serving"]["images"] is None


def test_the_encoder_grid_is_affine_in_images():
    g = Grid([16], [1.0], [1.0], [1], [[16]], [[1.0]], encoder_s=[0.004, 0.007])
    # E(m) = E1 + (m - 1)(E2 - E1): 0, 4, 7, 10 ms
    assert [g.encoder(m) for m in (0, 1, 2, 3)] == pytest.approx([0.0, 0.004, 0.007, 0.010])
    assert g.simulations == 1 + 1 + 1 + 4
    assert Grid([16], [1.0], [1.0], [1], [[16]], [[1.0]]).encoder(3) == 0.0


def test_the_simulated_encoder_is_at_least_the_towers_flops_at_the_tensor_peak():
    res = serve(spec(), blocks=1000)
    e1, e2 = res.report["iteration_cost"]["encoder_s"]
    # Qwen2.5-VL-7B's vision tower: 32 blocks of width 1280, MLP 3420 (the published vision_config): per block
    # q/k/v/o 4 x 1280² + gated MLP 3 x 1280 x 3420 = 19,686,400 weights, x 1,024 patches x 2 FLOPs; the merger
    # (5120² + 5120 x 3584 on 256 tokens) adds more. H100 SXM bf16 dense: 989.4 TFLOPS (NVIDIA H100 datasheet).
    flops = 2 * 32 * (4 * 1280**2 + 3 * 1280 * 3420) * 1024
    assert e1 >= flops / 989.4e12
    assert e1 < e2 <= 2 * e1  # the second image adds its work; the weights are read once for both
    (r,) = res.requests
    # a lone request's first iteration: its prompt's prefill plus the encoder on its image
    grid = Grid(*(res.report["iteration_cost"][k] for k in ("prefill_tokens", "prefill_s", "prefill2_s",
                                                            "decode_batches", "decode_kv", "decode_s")))
    assert r.first_token - r.arrival == pytest.approx(grid.prefill(r.prompt) + e1)


def test_bad_image_settings_are_one_line_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = """\
name: t
model: {model: llama2_7b}
arch: h100
workload:
  arrival: {process: constant, rate: 1}
  prompt_tokens: {dist: fixed, value: 10}
  output_tokens: {dist: fixed, value: 2}
  images: {dist: fixed, value: 1}
  requests: 2
"""
    (tmp_path / "s.yaml").write_text(text)
    assert main(["serve", "s.yaml", "-q"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: s.yaml:4: workload.images: llama2_7b has no image encoder (a vision-language model reads "
        "images: qwen2_5_vl_7b, llava_1_5_7b, gemma3_27b, ...)"]
    (tmp_path / "s.yaml").write_text(text.replace("value: 1}", "value: -1}"))
    assert main(["serve", "s.yaml", "-q"]) == 2
    assert "s.yaml:8: workload.images.value:" in capsys.readouterr().err
    (tmp_path / "s.yaml").write_text(text.replace("value: 1}", "dist: trace}").replace("{dist: fixed, dist", "{dist"))
    assert main(["serve", "s.yaml", "-q"]) == 2
    # probe p99 #8: the message says what dist trace reads and what is missing
    assert "s.yaml:8: workload.images: dist trace reads the images column of workload.arrival.trace, which is not " \
        "given" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="model.images: a serving run draws each request's images"):
        serve(spec(model={"images": 1}), cost=one_ms, blocks=1000)


def test_a_trace_gives_each_requests_images(tmp_path):
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens,images\n0,10,2,3\n0.5,20,2,\n")
    s = spec(workload={"arrival": {"trace": str(tmp_path / "t.csv")}, "prompt_tokens": {"dist": "trace"},
                       "output_tokens": {"dist": "trace"}, "images": {"dist": "trace"}, "requests": None})
    assert [(r.prompt, r.images) for r in make_requests(s.serve.workload, s.trace_file)] == [(10, 3), (20, 0)]
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens\n0,10,2\n")
    with pytest.raises(ConfigError, match=r"t\.csv:1: images: missing column"):
        make_requests(s.serve.workload, s.trace_file)
