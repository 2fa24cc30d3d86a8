"""The report's note on a GPU run whose unfused attention moves its score tensors through memory."""

from __future__ import annotations

from accelsim import simulate


def test_a_gpu_run_with_unfused_attention_says_how_to_fuse_it():
    # GPT-2 small at 1,024 tokens: 12 layers × 12 heads × 1,024 × 1,024 fp16 scores = 301,989,888 B, more than the
    # H100's 50 MiB L2, so they go through HBM; the fused kernel the preset models keeps them on chip
    note = "attention runs unfused"
    unfused = simulate("gpt2", "h100", plots=False).to_dict()["notes"]
    assert any(note in n and "301989888 B" in n and "--set workload.attention=fused" in n for n in unfused)
    assert not any(note in n for n in simulate({"model": "gpt2", "attention": "fused"}, "h100",
                                               plots=False).to_dict()["notes"])
    # a TPU prices the fused attention op too (Pallas flash / splash attention): the same advice (probe p92 #2);
    # GPT-2's scores, 12 layers × 12 heads × 1,024 × 1,024 × 2 B = 301,989,888 B (a layer's 24 MiB), go through HBM
    tpu = simulate("gpt2", "tpu-v4", plots=False).to_dict()["notes"]
    assert any(note in n and "301989888 B" in n and "go through hbm" in n and "--set workload.attention=fused" in n
               for n in tpu), tpu


def test_a_layer_sampled_serving_run_notes_the_whole_models_scores():
    # LLaMA-2-7B prefill of 256 tokens on an H100: 32 layers x 32 heads x 256 x 256 fp16 scores = 134,217,728 B,
    # more than the 50 MiB L2. The serving run simulates 2 of the 32 identical layers (options.layer_samples); its
    # note speaks for all 32, as the full simulation's does
    run = {"model": "llama2_7b", "seq_len": 256, "decode_steps": 2}
    for samples in (True, False):
        notes = simulate(run, "h100", plots=False, layer_samples=samples).to_dict()["notes"]
        assert any("attention runs unfused" in n and "(32 ops, 134217728 B" in n for n in notes), (samples, notes)
