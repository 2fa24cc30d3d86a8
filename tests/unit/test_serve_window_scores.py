"""A chunked prefill of a sliding-window model attends only to the cached keys in each query's band (the fused
kernel skips the rest since ca960a7, ``cost.attention.tile_blocks(window=)``): the serving engine's attention
scores count those, not every earlier token (Mistral-7B's chunks of an 8,000-token prompt were priced as if each
saw all its predecessors)."""

from __future__ import annotations

import pytest

from accelsim.config.serving import load_serving
from accelsim.serving import serve
from accelsim.serving.cost import Footprint, band_pairs


def test_band_pairs_by_hand():
    # c = 2 cached, q = 3 new, window 3 (its own key included): the query at 2 sees keys 0..2 -> cached 0, 1 (2);
    # at 3 keys 1..3 -> cached 1 (1); at 4 keys 2..4 -> none (0): 3
    assert band_pairs(2, 3, 3) == 2 + 1 + 0 == 3
    # every cached key inside the band: 100 queries after 1,000 tokens in a window of 4,096: 100 x 1,000
    assert band_pairs(1000, 100, 4096) == 100_000
    # Mistral's window 4,096, a chunk of 2,048 after 4,096: query j sees 4,095 - j cached keys
    assert band_pairs(4096, 2048, 4096) == 2048 * 4095 - 2047 * 2048 // 2 == 6_290_432
    # cached keys all before the band of every query (c >= window + q - 1 does not change it: the band is W - 1)
    assert band_pairs(100_000, 2048, 4096) == 6_290_432
    assert band_pairs(0, 10, 4) == band_pairs(5, 0, 4) == 0


def test_band_pairs_matches_a_brute_force_count():
    for c in range(0, 12):
        for q in range(0, 12):
            for w in range(1, 10):
                want = sum(1 for j in range(q) for k in range(c) if k >= c + j - (w - 1))
                assert band_pairs(c, q, w) == want, (c, q, w)


def test_footprint_scores_weigh_the_windowed_layers_share():
    # half the KV bytes a token in layers of window 4,096 (Gemma-2's alternation): a chunk of 2,048 after 4,096
    # counts its own 2,048^2 = 4,194,304, the global half's 2,048 x 4,096 = 8,388,608 and the local half's
    # 6,290,432: 4,194,304 + 0.5 x 8,388,608 + 0.5 x 6,290,432 = 11,533,824
    fp = Footprint(0, 100.0, windows=((4096, 50.0),))
    assert fp.scores(4096, 2048) == 4_194_304 + 4_194_304 + 3_145_216 == 11_533_824
    assert Footprint(0, 100.0).scores(4096, 2048) == 2048 * (4096 + 2048)  # no window: every earlier token
    assert Footprint(0, 100.0, windows=((4096, 100.0),)).scores(1000, 100) == 100 * 1100  # all in the band


SERVE = """\
name: mis
model: {base: mistral_7b, attention: fused}
arch: h100
engine: {max_num_seqs: 64, max_num_batched_tokens: 2048, max_model_len: 16384, block_size: 16,
         prefix_caching: false}
workload:
  arrival: {process: constant, rate: 1}
  prompt_tokens: {dist: fixed, value: 8000}
  output_tokens: {dist: fixed, value: 2}
  requests: 1
"""


@pytest.mark.parametrize("window", ["4096", "null"])
def test_a_mistral_prompts_chunks_count_only_their_band(tmp_path, monkeypatch, window):
    # 8,000 tokens in chunks of 2,048: after 0, 2,048, 4,096 and 6,144 (the last 1,856). With the 4,096 window
    # (every layer) the cached pairs are 0; 2,048 x 2,048 (all in the band: a = 2,048); 6,290,432 (above);
    # 1,856 x 4,095 - 1,855 x 1,856 / 2 = 7,600,320 - 1,721,440 = 5,878,880. Without it q x c each.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(SERVE)
    seen: list[float] = []

    def cost(prefill, decodes, kv, scores=None, drafts=0):
        if prefill:
            seen.append(scores)
        return 0.01

    serve(load_serving("m.yaml", [f"model.sliding_window={window}"]), cost=cost)
    own = [2048**2] * 3 + [1856**2]
    cached = [0, 2048 * 2048, 6_290_432, 5_878_880] if window != "null" else \
        [0, 2048 * 2048, 2048 * 4096, 1856 * 6144]
    assert seen == [o + c for o, c in zip(own, cached, strict=True)]


CACHED = """\
name: pcw
model: mistral_7b
arch: h100
engine: {max_num_seqs: 16, max_num_batched_tokens: 2000, max_model_len: 32768, block_size: 16,
         prefix_caching: true}
workload:
  arrival: {trace: t.csv}
  shared_prefix: {groups: 1, tokens: 16000}
  seed: 0
"""


def _cached_run(tmp_path, monkeypatch, overrides=(), cost=None):
    # two 18,000-token prompts of one prefix group (16,000 shared tokens, 1,000 full blocks of 16): the first,
    # uncached, prefills in 9 chunks of 2,000 (the last after 16,000 computed); the second, at 5 s, is admitted with
    # the 16,000 computed (a prefix-cache hit) and prefills its 2,000 left in one chunk at the same depth
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens,prefix_group\n"
                                    "0,18000,2,0\n5,18000,2,0\n")
    (tmp_path / "m.yaml").write_text(CACHED)
    return serve(load_serving("m.yaml", list(overrides)), cost=cost)


def test_a_chunk_admitted_with_a_cache_hit_counts_only_its_band(tmp_path, monkeypatch):
    # probe p263 #1: the waiting-admission path charged new x (computed + new) = 2,000 x 18,000 = 36,000,000 pairs
    # whatever the window. Mistral-7B's 4,096 window (every layer), 2,000 queries after 16,000 cached: the query j
    # sees the 4,095 - j cached keys before it in its band (16,000 >= 4,095, so the band is full), summed over
    # j = 0..1,999: 2,000 x 4,095 - 1,999 x 2,000 / 2 = 8,190,000 - 1,999,000 = 6,191,000; plus its own 2,000^2
    band = 2000 * 4095 - 1999 * 2000 // 2
    assert band == 6_191_000 == band_pairs(16_000, 2000, 4096)
    seen: list[float] = []

    def cost(prefill, decodes, kv, scores=None, drafts=0):
        if prefill:
            seen.append(scores)
        return 0.01

    res = _cached_run(tmp_path, monkeypatch, cost=cost)
    assert [r.cached_tokens for r in res.requests] == [0, 16_000]
    # 10 prefill chunks: the first request's 9, then the second's one (the last entry)
    assert len(seen) == 10
    assert seen[-1] == 2000**2 + band == 10_191_000
    # the first request's chunk after 16,000 (on the running path): the same pairs
    assert seen[-2] == seen[-1]
    # its chunks after 0 and 2,000 (every cached key in the band); after 4,000: the first a = 4,096 - 4,000 = 96
    # queries see all 4,000 cached keys, the query j = 96..1,999 sees 4,095 - j, which sum to
    # 1,904 x 4,095 - (96 + 1,999) x 1,904 / 2 = 7,796,880 - 1,994,440 = 5,802,440
    assert seen[:3] == [2000**2, 2000**2 + 2000 * 2000, 2000**2 + 96 * 4000 + 5_802_440]


def test_a_cached_windowed_requests_ttft_is_its_chunks_price_at_that_depth(tmp_path, monkeypatch):
    # with the accelerator model: the second request's TTFT is one iteration, its 2,000-token chunk after 16,000
    # (a cache hit); the first request's 9th iteration is the same chunk at the same depth on the running path
    # (the same tokens, scores and no decodes), so the same seconds. Before the fix it was priced as the full
    # causal rectangle (36,000,000 pairs against 10,191,000), as the same model with no window prices it, which
    # must now cost more.
    res = _cached_run(tmp_path, monkeypatch)
    _, second = res.requests
    assert second.first_token - second.arrival == pytest.approx(res.replicas[0].samples[8][1], rel=1e-12)
    (tmp_path / "full").mkdir()
    full = _cached_run(tmp_path / "full", monkeypatch, ["model.sliding_window=null"])
    assert second.first_token - second.arrival < full.requests[1].first_token - full.requests[1].arrival
