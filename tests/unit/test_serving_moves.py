"""A serving run's placement moves between passes (probe p172 #1): each pass is placed on its own, and the tensors
a pass finds in another memory than the pass before left them cross the link first, in bytes and in time."""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.config import load_arch
from accelsim.scenarios.serving import move_seconds, placement_moves


def _mem(**kinds: int) -> dict:
    return dict(kinds)


def test_moves_are_the_kinds_net_bytes_per_outer_memory():
    # prefill: weights 700 in hbm, 300 in host, KV 500 in hbm (it wrote it there); decode step: weights 950 in hbm,
    # 50 in host, KV 380 in hbm (376 placed + 4 appended by the step) and 128 in host. 250 B of weights come in
    # (300 - 50), 128 B of KV go out (the host's 0 -> 128: none of it was there)
    before = {"hbm": _mem(weights=700, kv_cache=500), "host": _mem(weights=300, kv_cache=0)}
    after = {"hbm": _mem(weights=950, kv_cache=380), "host": _mem(weights=50, kv_cache=128)}
    assert placement_moves(before, after, "hbm") == [("weights", "host", "hbm", 250), ("kv_cache", "hbm", "host", 128)]
    # nothing changes level: nothing moves (the usual run, all in HBM, and a spilling one whose placement holds)
    assert placement_moves(before, before, "hbm") == []
    assert placement_moves({"hbm": _mem(weights=10)}, {"hbm": _mem(weights=10, kv_cache=4)}, "hbm") == []
    # the other way: weights leaving hbm are dropped, not moved (the host keeps the copy they were loaded from: they
    # are never written); the KV cache leaving host (128 B) comes back as far as hbm holds more (500 - 380 = 120 B)
    assert placement_moves(after, before, "hbm") == [("kv_cache", "host", "hbm", 120)]
    # host weights the later pass's graph lacks (Whisper's encoder in a decode step) are dropped: hbm gained none
    assert placement_moves({"hbm": _mem(weights=700), "host": _mem(weights=300)},
                           {"hbm": _mem(weights=700), "host": _mem(weights=100)}, "hbm") == []
    # ... and as far as hbm gained weights, the rest dropped: 300 - 100 = 200 left host, hbm holds 60 more
    assert placement_moves({"hbm": _mem(weights=700), "host": _mem(weights=300)},
                           {"hbm": _mem(weights=760), "host": _mem(weights=100)}, "hbm") == [
        ("weights", "host", "hbm", 60)]


def test_moves_match_senders_to_receivers_across_all_memories():
    # probe p176 #3: tpu-v5e with a 2 GiB cxl level after hbm (docs/configuration.md), llama2_7b, batch 8, between
    # decode steps 1 and 2. The KV cache's change per level: hbm +1,900,544, cxl -133,234,688 (a whole tensor
    # left), host +135,528,448. Together it grew by step 2's new token, appended in hbm: 8 sequences x 32 layers
    # x 2 (K, V) x 4,096 x 2 B = 4,194,304 B, written where it lands, not moved. So hbm sent 4,194,304 -
    # 1,900,544 = 2,293,760 B (step 1's tokens of the 35 outer K/V tensors: 35 x 8 x 4,096 x 2 B) and cxl its
    # 133,234,688 B, both to host (2,293,760 + 133,234,688 = 135,528,448, host's gain). It said kv_cache cxl -> hbm
    # 1,900,544 and hbm -> host 135,528,448: each outer level compared with hbm alone.
    before = {"hbm": _mem(kv_cache=10**10), "cxl": _mem(kv_cache=2 * 10**9), "host": _mem(kv_cache=3 * 10**9)}
    after = {"hbm": _mem(kv_cache=10**10 + 1_900_544), "cxl": _mem(kv_cache=2 * 10**9 - 133_234_688),
             "host": _mem(kv_cache=3 * 10**9 + 135_528_448)}
    assert 8 * 32 * 2 * 4096 * 2 == 4_194_304 and 35 * 8 * 4096 * 2 == 2_293_760
    assert placement_moves(before, after, "hbm") == [("kv_cache", "hbm", "host", 2_293_760),
                                                     ("kv_cache", "cxl", "host", 133_234_688)]
    # two outer levels that both lose a kind cannot both claim hbm's gain: cxl and host each hold 30 B less of
    # state, hbm 40 B more; 20 B vanished (net -20), dropped where they were, innermost (cxl) first: cxl sends 10,
    # host 30, 40 in all (it said 30 + 30 = 60, hbm's 40 counted for both)
    assert placement_moves({"hbm": _mem(state=100), "cxl": _mem(state=50), "host": _mem(state=50)},
                           {"hbm": _mem(state=140), "cxl": _mem(state=20), "host": _mem(state=20)}, "hbm") == [
        ("state", "cxl", "hbm", 10), ("state", "host", "hbm", 30)]
    # weights reaching the last memory (host, the checkpoint's copy) are dropped, reaching cxl they are written:
    # hbm lets go of 50 B, 20 to cxl, 30 to host
    assert placement_moves({"hbm": _mem(weights=100), "cxl": _mem(weights=0), "host": _mem(weights=0)},
                           {"hbm": _mem(weights=50), "cxl": _mem(weights=20), "host": _mem(weights=30)}, "hbm") == [
        ("weights", "hbm", "cxl", 20)]


def test_weights_do_not_move_between_decode_steps():
    # probe p176 #4: llama2_7b on tpu-v5e, batch 4. At 1,890 tokens one K (or V) tensor no longer fits hbm:
    # 4 x 1,890 x 4,096 x 2 B = 61,931,520 B of it goes to host, and the step's placement fills the room with
    # 59,834,368 B of the embedding table's rows from host. The step writes its new token in hbm (4 x 32 layers x
    # 2 x 4,096 x 2 B = 2,097,152 B: not a move), so hbm's cache changes by 2,097,152 - 61,931,520.
    assert 4 * 1890 * 4096 * 2 == 61_931_520 and 4 * 32 * 2 * 4096 * 2 == 2_097_152
    before = {"hbm": _mem(weights=13_000_000_000, kv_cache=2_000_000_000),
              "host": _mem(weights=260_874_240, kv_cache=0)}
    after = {"hbm": _mem(weights=13_000_000_000 + 59_834_368, kv_cache=2_000_000_000 + 2_097_152 - 61_931_520),
             "host": _mem(weights=260_874_240 - 59_834_368, kv_cache=61_931_520)}
    # the prefill -> first step rule would load the rows (a step reads 4 of the 32,000 rows, 1/8,000 of them:
    # 8,000 steps to repay the copy, and ~30 steps later the growing cache pushes them out again) ...
    assert placement_moves(before, after, "hbm") == [("weights", "host", "hbm", 59_834_368),
                                                     ("kv_cache", "hbm", "host", 61_931_520)]
    # ... between decode steps they stay where the step before left them: only the cache tensor moves
    assert placement_moves(before, after, "hbm", weights=False) == [("kv_cache", "hbm", "host", 61_931_520)]


def test_a_decode_step_that_spills_a_cache_tensor_moves_it_and_no_weights():
    # probe p176 #4 in two decode steps: llama2_7b on tpu-v5e, batch 4, from 1,889 cached tokens. The second step
    # (1,890 tokens) places one K/V tensor in host memory, 4 x 1,890 x 4,096 x 2 B = 61,931,520 B, and fills the
    # room with rows of the embedding table (host weights fall). Only the tensor crosses the link, at 16 GB/s after
    # 1 us: 1e-6 + 61,931,520 / 16e9 = 0.00387172 s (it also charged the rows, 121,765,888 B and 0.00761 s)
    r = simulate({"model": "llama2_7b", "dtype": "bf16", "batch": 4, "phase": "decode", "kv_len": 1889,
                  "decode_steps": 2, "attention": "fused"}, "tpu-v5e").to_dict()
    assert r["memory"]["host"]["weights"] > r["serving"]["memory"]["host"]["weights"]
    assert r["serving"]["memory"]["host"]["kv_cache"] == 4 * 1890 * 4096 * 2 == 61_931_520
    assert r["serving"]["moved_bytes"] == {"hbm": 61_931_520, "host": 61_931_520}
    assert r["serving"]["move_s"] == pytest.approx(1e-6 + 61_931_520 / 16e9, abs=1 / 1.5e9)
    row = next(op for op in r["ops"] if op.get("phase") == "move")
    assert [m["kind"] for m in row["mapping"]["moves"]] == ["kv_cache"]


def test_a_move_takes_its_bytes_over_the_slowest_level_both_directions_sharing_it():
    # tpu-v5e: host link 16 GB/s (scaling_book's PCIe figure) after 1 us; HBM 819 GB/s after 500 ns. 5 GB in and
    # 3 GB out share the link: 1e-6 + 8e9 / 16e9 = 0.500001 s (hbm: 5e-7 + 8e9 / 819e9 = 0.00977 s, concurrent)
    arch = load_arch("tpu-v5e")
    moves = [("weights", "host", "hbm", 5 * 10**9), ("kv_cache", "hbm", "host", 3 * 10**9)]
    assert move_seconds(moves, arch) == pytest.approx(1e-6 + 8e9 / 16e9, rel=1e-12)
    assert move_seconds([], arch) == 0.0


def test_llama2_7b_on_tpu_v5e_moves_weights_in_and_kv_out_after_the_prefill():
    # probe p172 #1: LLaMA-2-7B bf16 on tpu-v5e (16 GiB HBM, host link 16 GB/s, 1 us), 8 sequences of 2,048 prompt
    # tokens and 1 decode step. The prefill keeps 1,082,130,432 B of activations in HBM beside the KV cache it
    # writes (8 × 2,048 tokens × 32 layers × 2 × 4,096 × 2 B = 8,589,934,592 B), so more weights spill; the decode
    # step's activations are small, so it places more weights in HBM and part of the prompt's KV in host memory.
    # Whatever the two placements (the footprint's figures), the weights the step holds in HBM beyond the
    # prefill's come over the link and the KV it finds in host memory goes out, both at 16 GB/s, before the step.
    r = simulate({"model": "llama2_7b", "dtype": "bf16", "batch": 8, "seq_len": 2048, "decode_steps": 1,
                  "attention": "fused"}, "tpu-v5e").to_dict()
    pre, step = r["memory"], r["serving"]["memory"]
    kv = 8 * 2048 * 32 * 2 * 4096 * 2
    assert pre["hbm"]["kv_cache"] == kv and pre["host"]["kv_cache"] == 0
    # the step's cache: the prompt's (where placed) and its own new token (8 × 524,288 B, appended in hbm)
    assert step["hbm"]["kv_cache"] + step["host"]["kv_cache"] == kv + 8 * 524_288
    weights_in = pre["host"]["weights"] - step["host"]["weights"]
    assert weights_in == step["hbm"]["weights"] - pre["hbm"]["weights"] > 0
    kv_out = step["host"]["kv_cache"]
    assert r["serving"]["moved_bytes"] == {"host": weights_in + kv_out, "hbm": weights_in + kv_out}
    move_s = 1e-6 + (weights_in + kv_out) / 16e9  # ~0.65 s: the link carries 10.5 GB
    clock = 1.5e9
    assert r["serving"]["move_s"] == pytest.approx(move_s, abs=1 / clock)
    # the move delays the decode step (in its step_cycles), not the first token
    assert r["seconds"] == pytest.approx(r["serving"]["ttft_s"] + r["serving"]["step_cycles"][0] / clock, rel=1e-12)
    row = next(op for op in r["ops"] if op.get("phase") == "move")
    assert row["count"] == 1 and row["bytes"] == r["serving"]["moved_bytes"]
    assert row["end_cycle"] - row["start_cycle"] == round(r["serving"]["move_s"] * clock)
    # the report's bytes are its rows' sums, the move's included
    assert r["bytes"]["host"] == sum(op["bytes"].get("host", 0) for op in r["ops"])
    # probe p176 #2: the link is busy while it moves them. Every host byte (the passes' 10.55 GB and the move's
    # 10.47 GB) streams at the link's 16 GB/s, so busy host = bytes.host / 16e9 / seconds = 21.02e9 / 16e9 / 2.294
    # = 0.5727, the bandwidth share (it said 0.2874, the passes' alone); hbm's busy gains the move's bytes at 819 GB/s
    assert r["utilization"]["host"] == pytest.approx(r["bytes"]["host"] / 16e9 / r["seconds"], rel=1e-9)
    assert r["utilization"]["host"] == pytest.approx(r["bandwidth_share"]["host"], rel=1e-9)
    assert any(n.startswith("placement moves between passes (prefill -> decode step 1): ") for n in r["notes"])
    # the last step's memory note numbers it as memory_pass does (probe p172 #2: it said "decode step 0")
    assert r["serving"]["memory_pass"] == "decode step 1"
    assert any(n.startswith("decode step 1 (the last): ") for n in r["notes"])
