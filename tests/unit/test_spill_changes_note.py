"""A serving run whose placement changes while it decodes gets a note saying how many decode steps the changes made
it simulate (probe p98 #1: a bf16 DeepSeek-V3 on dgx-h200 simulated 82 of 128 steps, 194 s of CPU, and said
nothing)."""

from __future__ import annotations

from accelsim.api import simulate
from accelsim.config import load_arch

# the spill of test_scenarios_sampling's two-sample test: llama2_7b cut to 2 layers, batch 16, a 512-token prompt and
# 64 decode steps on an H100 whose HBM holds 1358 MB; its 4 KV caches (67.1 MB at kv 512, +131,072 B a step each)
# outgrow HBM mid-run and one V cache moves to host memory at one step s
WL = {"model": "llama2_7b", "batch": 16, "seq_len": 512, "layers": 2, "decode_steps": 64}


def test_note_counts_the_steps_the_changes_add():
    arch = load_arch({"base": "h100", "hbm": {"capacity": 1358 * 10**6}})
    report = simulate(WL, arch, decode_samples=2, plots=False).to_dict()
    first, s_1, s, last = report["serving"]["decode_steps_simulated"]
    # 2 samples (0 and 63) and the two steps either side of the one change s: 4 of 64 decode steps simulated
    assert (first, last) == (0, 63) and s == s_1 + 1
    note = [n for n in report["notes"] if "placement change" in n]
    assert len(note) == 1 and note[0].startswith(
        "1 placement change while decoding (the growing KV cache moves tensors out of hbm): 4 of 64 decode steps "
        "simulated (serving.decode_steps_simulated: options.decode_samples' 2 and the steps either side of each "
        "change)")


def test_no_note_without_a_change():
    # the same run on a whole H100 (80 GiB): its KV caches (4 · 16 · 575 · 4096 · 2 B = 301 MB at most) and the
    # 2 layers' weights stay in HBM, so the 2 samples are all that is simulated
    report = simulate(WL, load_arch("h100"), decode_samples=2, plots=False).to_dict()
    assert report["serving"]["decode_steps_simulated"] == [0, 63]
    assert not [n for n in report["notes"] if "placement change" in n]
