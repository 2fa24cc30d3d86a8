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
    # a TPU's core models no FlashAttention kernel: nothing to suggest
    assert not any(note in n for n in simulate("gpt2", "tpu-v4", plots=False).to_dict()["notes"])
