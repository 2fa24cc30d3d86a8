"""report.json ``memory``: every parameter the model holds is placed and counted, read this pass or not; the KV
cache a pass writes is held in the main memory beside what placement put there."""

from __future__ import annotations

import re

import pytest

from accelsim.api import simulate
from accelsim.builders import build_workload
from accelsim.errors import MappingError
from accelsim.report.html import render_html

# A two-layer Mixtral of the same form: 4 experts, top-2
TINY = {"architectures": ["MixtralForCausalLM"], "hidden_size": 128, "intermediate_size": 256,
        "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256,
        "num_local_experts": 4, "num_experts_per_tok": 2}
DECODE = {"model": "hf", "config": TINY, "phase": "decode", "kv_len": 64, "dtype": "bf16"}


def _small_hbm(capacity: int) -> dict:
    """h100 with an HBM of ``capacity`` bytes, a few MiB for these tiny models, and its L2 cut to 1 MiB: a cache is
    never larger than the main memory behind it (hardware.Arch), and none of these checks reads the L2."""
    return {"base": "h100", "hbm": {"capacity": capacity}, "l2": {"capacity": "1MiB"}}


def _weights(memory: dict) -> int:
    return sum(int(row["weights"]) for row in memory.values())


def test_experts_no_token_is_routed_to_are_held_and_counted():
    # one decode token reads 2 of each layer's 4 experts; the other 2 are held (an unused_params view): the
    # memories hold every parameter in bf16, 2 bytes each
    graph = build_workload("hf", {k: v for k, v in DECODE.items() if k != "model"})
    assert any(op.name.endswith("idle_experts") for op in graph.ops)
    r = simulate(DECODE, "h100").to_dict()
    assert _weights(r["memory"]) == 2 * graph.params


def test_unread_weights_spill_first_and_the_routed_experts_come_from_there_in_proportion():
    # an HBM too small for every expert: the unread ones (2 layers × 2 idle experts × 3 projections of 128 × 256,
    # bf16: 786,432 B) go to host memory. Over many passes any expert is as likely to be routed to, so half of
    # each layer's expert tensors being in host memory (6 of 12), half of the 6 the pass reads come from there:
    # 2 layers × 3 tensors × 65,536 B = 393,216 B over the host link, all of it by the experts' GEMMs
    tensor = 128 * 256 * 2
    idle = 2 * 2 * 3 * tensor
    big = simulate(DECODE, "h100").to_dict()
    fit = int(big["memory"]["hbm"]["used"]) - idle  # room for all but the idle experts
    r = simulate(DECODE, _small_hbm(fit)).to_dict()
    assert r["memory"]["host"]["weights"] == idle
    assert r["bytes"]["host"] == 2 * 3 * tensor
    assert sum(op["bytes"].get("host", 0) for op in r["ops"] if ".experts_" in op["name"]) == 2 * 3 * tensor
    assert any("weights this pass does not read" in n for n in r["notes"])


@pytest.mark.parametrize("spare", [0, 100_000, 300_000])
def test_the_kv_cache_a_prefill_writes_is_held_beside_the_placed_tensors(spare):
    # a 512-token prefill writes 2 layers × (K, V) × 2 KV heads × 32 dims × 512 tokens × 2 B = 262,144 B of cache;
    # with an HBM of the weights, the activations and `spare` bytes, the weights that leave no room for it spill
    # to host memory and the HBM never holds more than its capacity
    kv = 2 * 2 * 2 * 32 * 512 * 2
    prefill = {"model": "hf", "config": TINY, "seq_len": 512, "dtype": "bf16"}
    big = simulate(prefill, "h100").to_dict()["memory"]["hbm"]
    assert big["kv_cache"] == kv
    capacity = int(big["weights"] + big["activations"]) + spare
    try:
        r = simulate(prefill, _small_hbm(capacity)).to_dict()
    except MappingError:  # not even the activations and the cache fit: refused
        assert big["activations"] + kv > capacity
        return
    assert r["memory"]["hbm"]["used"] <= capacity
    assert r["memory"]["hbm"]["kv_cache"] == kv
    assert r["memory"]["host"]["weights"] >= kv - spare


def test_a_sliding_window_cache_holds_the_window_after_a_prefill():
    # Mistral's rolling buffer: after a 64-token prefill a layer with a 16-token window holds 16 tokens of K and V:
    # 2 layers × (K, V) × 2 KV heads × 16 tokens × 32 dims × 2 B (bf16) = 8,192 B; without the window all 64
    cfg = {"architectures": ["MistralForCausalLM"], "hidden_size": 128, "intermediate_size": 256,
           "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256}
    windowed = build_workload("hf", {"config": {**cfg, "sliding_window": 16}, "seq_len": 64, "dtype": "bf16"})
    full = build_workload("hf", {"config": {**cfg, "sliding_window": None}, "seq_len": 64, "dtype": "bf16"})
    assert windowed.meta["kv_cache_bytes"] == 2 * 2 * 2 * 16 * 32 * 2 == 8_192
    assert full.meta["kv_cache_bytes"] == 2 * 2 * 2 * 64 * 32 * 2
    r = simulate({"model": "hf", "config": {**cfg, "sliding_window": 16}, "seq_len": 64, "dtype": "bf16"}, "h100")
    assert r.to_dict()["memory"]["hbm"]["kv_cache"] == 8_192


def test_which_unread_weights_spill_is_the_same_in_every_process():
    # an HBM with room for half of the unread experts: which of them spill must not follow Python's per-process
    # string hashing (a set's order), or two runs of one experiment would differ
    import json
    import os
    import subprocess
    import sys

    idle = 2 * 2 * 3 * 128 * 256 * 2
    fit = int(simulate(DECODE, "h100").to_dict()["memory"]["hbm"]["used"]) - idle // 2
    code = (f"import json, accelsim; r = accelsim.simulate({DECODE!r}, {_small_hbm(fit)!r})"
            ".to_dict(); print(json.dumps([r['placement'], r['total_cycles']]))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")]
    placement, _ = json.loads(runs[0])
    assert list(placement.values()).count("host") > 0
    assert runs[0] == runs[1] == runs[2]


def test_an_optimizer_step_updates_its_parameter_in_place():
    # one 4096 × 4096 fp32 linear on 8 rows, trained with SGD: the stash is the input and the output the loss
    # gradient reads (8 × 4096 × 4 B = 131,072 B each). The largest op's working set is what nothing else holds:
    # dY (131,072 B; gemm.grad_weight reads it beside the stashed input, and writes the 4096 × 4096 × 4 =
    # 67,108,864 B gradient, counted under gradients: probes p113 #2, p117 #5 — it was counted in activations too).
    # The step reads that gradient (held with the gradients) and writes the weight where it lives: it was
    # counted as 2 × 67,108,864 B of activations
    r = simulate({"model": "gemm", "m": 8, "n": 4096, "k": 4096, "mode": "training", "optimizer": "sgd",
                  "dtype": "fp32"}, "tpu-v4").to_dict()
    hbm = r["memory"]["hbm"]
    assert hbm["gradients"] == 67_108_864
    assert hbm["activations"] == 131_072 + 2 * 131_072 == 393_216


def test_recurrent_states_are_held_beside_the_kv_cache_and_each_footprint_names_its_pass():
    # LFM2-1.2B: 6 attention layers cache 2 × 8 KV heads × 64 × 2 B = 12,288 B a token; its 10 short-conv layers
    # keep 2048 channels × 2 taps × 2 B = 8,192 B each, 81,920 B whatever the length (graph meta state_cache_bytes)
    kv_token, state = 6 * 2 * 8 * 64 * 2, 10 * 2048 * 2 * 2
    r = simulate({"base": "lfm2_1_2b", "seq_len": 128, "decode_steps": 4}, "h100", plots=False).to_dict()
    first, last = r["memory"]["hbm"], r["serving"]["memory"]["hbm"]
    assert r["memory_pass"] == "prefill" and first["kv_cache"] == kv_token * 128 and first["state"] == state
    assert r["serving"]["memory_pass"] == "decode step 4"  # the last step's cache: the prompt and 4 tokens
    assert last["kv_cache"] == kv_token * 132 and last["state"] == state
    assert first["used"] == sum(v for k, v in first.items() if k not in ("capacity", "used", "fraction"))
    # a decode step reads the states (cache inputs, placed) and writes them back in place: still apart from the KV
    d = simulate({"base": "lfm2_1_2b", "phase": "decode", "kv_len": 100}, "h100", plots=False).to_dict()
    assert d["memory"]["hbm"]["kv_cache"] == kv_token * 101 and d["memory"]["hbm"]["state"] == state
    assert "memory_pass" not in d  # one pass: the report's own
    # a model without recurrent layers has no state row
    assert "state" not in simulate(DECODE, "h100", plots=False).to_dict()["memory"]["hbm"]


def test_serving_counts_the_kv_cache_apart_from_the_recurrent_states():
    # probe p85 #3: serving.kv_cache_bytes was KV + states (6,471,680 B for lfm2_1_2b at 512 + 8 tokens) while
    # memory.*.kv_cache is KV only. LFM2-1.2B at 128 + 4 tokens: KV 6 layers × 2 × 8 heads × 64 × 2 B × 132 tokens
    # = 1,622,016 B; state 10 conv layers × 2048 channels × 2 taps × 2 B = 81,920 B (the graph meta counts both)
    kv, state = 6 * 2 * 8 * 64 * 2 * 132, 10 * 2048 * 2 * 2
    r = simulate({"base": "lfm2_1_2b", "seq_len": 128, "decode_steps": 4}, "h100", plots=False).to_dict()
    sv = r["serving"]
    assert sv["kv_cache_bytes"] == kv == 1_622_016 == sv["memory"]["hbm"]["kv_cache"]
    assert sv["state_bytes"] == state == 81_920 == sv["memory"]["hbm"]["state"]
    # report.html: the footprint table has a "recurrent state" column (its "used" is weights + KV + state +
    # activations), and the serving rows repeat neither figure, as the table adds up to both
    section = render_html(r, plots=False).split('id="serving"')[1].split("</section>")[0]
    head = re.findall(r'<th class="n">(.*?)</th>', section)
    assert head == ["capacity", "weights", "KV cache", "recurrent state", "activations", "used", "used of capacity"]
    row = re.search(r"<tr><td>hbm</td>(.*?)</tr>", section).group(1)
    assert re.findall(r'<td class="n" data-v="[^"]*">(.*?)</td>', row)[2:4] == ["1.547MiB", "80KiB"]  # 1,622,016 B
    assert "<td>KV cache</td>" not in section and "<td>recurrent state</td>" not in section
    # a model without recurrent layers: no state_bytes, no state column
    dense = simulate({**DECODE, "phase": "prefill", "seq_len": 16, "decode_steps": 2}, "h100", plots=False).to_dict()
    assert "state_bytes" not in dense["serving"]
    assert "recurrent state" not in render_html(dense, plots=False)
