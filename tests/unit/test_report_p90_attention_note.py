"""Probe p92 #2: the "attention runs unfused" note is given on every arch that prices the fused op (a TPU's
systolic arrays as well as a GPU's FlashAttention kernel), in wording that names no one kind of chip."""

from __future__ import annotations

from accelsim import simulate

NOTE = "attention runs unfused"


def _notes(workload, arch: str) -> list[str]:
    return [n for n in simulate(workload, arch, plots=False).to_dict()["notes"] if n.startswith(NOTE)]


def test_a_tpu_run_with_unfused_attention_says_how_to_fuse_it():
    # GPT-2 small at its 1,024-token default: 12 layers x 12 heads x 1,024 x 1,024 bf16 scores = 301,989,888 B. A
    # layer's 12 x 1,024^2 x 2 B = 25,165,824 B outgrow tpu-v4's activation region (half of a core's 16 MiB of
    # vector memory, 8 MiB), so they go to HBM and back
    assert 12 * 12 * 1024 * 1024 * 2 == 301_989_888 and 12 * 1024 * 1024 * 2 > 8 * 2**20
    (note,) = _notes("gpt2", "tpu-v4")
    assert "its 48 ops" in note  # per layer: scores, causal mask, softmax, context (4 x 12)
    assert "score tensors (12 ops, 301989888 B" in note and note.endswith("--set workload.attention=fused")
    assert "GPU serving stacks" not in note and "TPUs" in note and "GPUs" in note  # names both, neither alone
    # the fused run the note suggests is priced there: no note, and less time than the unfused run
    unfused = simulate("gpt2", "tpu-v4", plots=False).to_dict()
    fused = simulate({"model": "gpt2", "attention": "fused"}, "tpu-v4", plots=False).to_dict()
    assert not any(n.startswith(NOTE) for n in fused["notes"])
    assert fused["seconds"] < unfused["seconds"]


def test_scores_that_stay_in_the_scratchpad_get_no_memory_clause():
    # at 64 tokens a layer's scores are 12 x 64^2 x 2 B = 98,304 B, well inside the 8 MiB activation region: they
    # stay on the core, so the note gives the share and the advice but no memory clause
    assert 12 * 64 * 64 * 2 < 8 * 2**20
    (note,) = _notes({"model": "gpt2", "seq_len": 64}, "tpu-v4")
    assert "score tensors" not in note and "--set workload.attention=fused" in note


def test_the_gpu_note_reads_the_same():
    # the same words on an H100, whose 50 MiB L2 the 301,989,888 B of scores outgrow
    (gpu,) = _notes("gpt2", "h100")
    (tpu,) = _notes("gpt2", "tpu-v4")
    tail = "; serving and training stacks run fused attention kernels"
    assert tail in gpu and gpu[gpu.index(tail):] == tpu[tpu.index(tail):]
    assert "score tensors (12 ops, 301989888 B" in gpu
