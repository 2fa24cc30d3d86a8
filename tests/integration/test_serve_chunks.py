"""A prefill chunk after earlier tokens of its prompt (chunked prefill, or a new turn after a cached history): its
attention to the cached tokens is priced from the grid's decode row (reading their KV) or the largest prefill's
rate per query-key pair, whichever is larger (accelsim/serving/cost.py, ``Grid.context``)."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.config.serving import load_serving
from accelsim.serving.cost import Grid, engine_model, shape, simulate_seconds

# one request alone on the replica (the probe's single.yaml): a prompt over 2,048 tokens runs as a first chunk of
# 2,048 and a second of the rest after it; a small grid (token ratio 4: prefills of 16, 64, 256, 1,024, 2,048; one
# decode batch row of 3 KV lengths) keeps the test short
ALONE = {"name": "alone", "model": "llama2_7b", "arch": "h100",
         "engine": {"max_num_seqs": 1, "max_num_batched_tokens": 2048, "max_model_len": 4096},
         "cost": {"token_ratio": 4, "kv_points": 3},
         "workload": {"arrival": {"process": "constant", "rate": 0.5}, "requests": 1,
                      "prompt_tokens": {"dist": "fixed", "value": 2048}, "output_tokens": {"dist": "fixed", "value": 1}}}
PROMPTS = (2048, 2049, 2050, 2056, 2064, 2112, 2176)  # the probe's table (p35, finding 1)


@pytest.fixture(scope="module")
def ttft():
    return {p: api.serve(load_serving(ALONE, [f"workload.prompt_tokens.value={p}"])).report["serving"]["ttft_s"]["p50"]
            for p in PROMPTS}


def test_one_token_after_2048_costs_a_decode_step_at_kv_2048(ttft):
    # the second chunk of a 2,049-token prompt is 1 new token attending to 2,048 cached ones: the shape of a decode
    # step of one sequence at KV 2,048 (a prefill's kv_len is not a context: the builders read kv_len in decode
    # only, so `accelsim run --set workload.phase=prefill --set workload.seq_len=1 --set workload.kv_len=2049` is a
    # 1-token prompt alone, 6.85 ms, not this). TTFT = the first chunk (2,048 tokens, a grid point: exact) + the
    # second. Before the fix the second chunk was A(16)·2,049/1² over L(16): 29.2 ms against ~7.5 ms.
    spec = load_serving(ALONE)
    model = engine_model(spec.model, spec.serve.engine)  # the grid's (engine.fused_projections)
    opts = spec.options.model_copy(update={"plots": False})
    first = simulate_seconds(shape(model, phase="prefill", seq_len=2048, batch=1), spec.arch, opts, graphs=True)
    step = simulate_seconds(shape(model, phase="decode", kv_len=2048, batch=1), spec.arch, opts, graphs=True)
    assert ttft[2048] == pytest.approx(first, rel=1e-9)
    # the grid's passes start at 16 tokens (a 1-token pass is priced as 16, ~3 % dearer on llama2_7b_h100)
    assert ttft[2049] - first == pytest.approx(step, rel=0.04)


def test_ttft_grows_with_the_prompt(ttft):
    # a longer prompt never reaches its first token sooner (before: 2,049 tokens 76.2 ms, 2,176 tokens 55.2 ms)
    times = [ttft[p] for p in PROMPTS]
    assert all(a <= b for a, b in zip(times, times[1:], strict=False)), times
    assert ttft[2049] > ttft[2048]


def test_context_attention_is_the_larger_of_the_kv_read_and_the_pairs_compute():
    # a hand-made grid: prefills of 16 and 2,048 tokens, P₁ = 1.0, 10.0 and P₂ = 0.99, 9.0 s, so A(16) = 0.02 and
    # A(2,048) = 2.0 (A = 2(P₁ − P₂)); a decode row of batch 1 at KV 16 and 2,064: 1.0 and 2.0 s
    g = Grid([16, 2048], [1.0, 10.0], [0.99, 9.0], [1], [[16, 2064]], [[1.0, 2.0]])
    # 1 token after 2,048 (scores 1 · 2,049): its own pair A(16)·1/1² over L(16) = 1.0 − 0.02 (the pass clamped at
    # 16 tokens), then the context's 2,048 pairs: the KV read D(1, 16 + 2,048) − D(1, 16) = 1.0 s against the
    # compute 2.0 · 2,048 / 2,048² ≈ 0.001 s: 0.98 + 0.02 + 1.0 = 2.0 s (the old A(16)·2,049/1² gave 41.96 s)
    assert g.prefill(1, 2049) == pytest.approx(2.0, rel=1e-12)
    # 2,048 tokens after 2,048 (scores 2,048 · 4,096): L + A = 10.0, then the context's 2,048² pairs: the read 1.0
    # against the compute 2.0 · 2,048² / 2,048² = 2.0 s: 12.0 s (as L + A·S/n² = 8 + 2·2 before)
    assert g.prefill(2048, 2048 * 4096) == pytest.approx(12.0, rel=1e-12)
    # two whole prompts of 8 (scores 2 · 8² = 128 ≤ 16²): no context, L(16) + A(16)·128/256 = 0.98 + 0.01
    assert g.prefill(16, 128) == pytest.approx(0.99, rel=1e-12)
    # in an iteration with 3 decodes beside a 1-token chunk after 2,048: the pass of 4 tokens (clamped to 16) with
    # the chunk's own pair priced over 4² and its context by its own 1 token: 0.98 + 0.02·1/16 + 1.0 = 1.98125,
    # plus the decodes' attention, their step D(3, 100) = 1.0 + 84/2,048 (batch 3 clamped to the one row) less the
    # pass of their 3 tokens, L(3) = L(16) = 0.98 (probe p184 #1; before, less D(3, 16) = 1.0, which took the decodes'
    # own attention at KV 16 out: 1.98125 + 84/2,048)
    assert g.iteration(1, 3, 300, 2049) == pytest.approx(1.98125 + 1.0 + 84 / 2048 - 0.98, rel=1e-12)


def test_a_causal_kernels_prefill_prices_each_context_pair_at_twice_its_counted_rate():
    # the same hand-made grid with pair_share ½ (a causal fused kernel: A(2,048) = 2.0 s computed 2,048²/2 pairs,
    # so a pair costs 2.0 / (0.5 · 2,048²)): 2,048 tokens after 2,048 have 2,048² context pairs, all computed
    # (none is masked): 4.0 s against the KV read's 1.0, so 10.0 + 4.0 = 14.0 s (12.0 at the counted rate)
    g = Grid([16, 2048], [1.0, 10.0], [0.99, 9.0], [1], [[16, 2064]], [[1.0, 2.0]], pair_share=0.5)
    assert g.prefill(2048, 2048 * 4096) == pytest.approx(14.0, rel=1e-12)
    # 1 token after 2,048: the compute 2.0 · 2,048 / (0.5 · 2,048²) ≈ 0.002 s stays below the read's 1.0 s
    assert g.prefill(1, 2049) == pytest.approx(2.0, rel=1e-12)


@pytest.fixture(scope="module")
def long_prompt():
    # the probe's repro (p38, finding 1): one prompt of 4,095 tokens runs as a chunk of 2,048, then 2,047 after the
    # 2,048 cached ones
    spec = load_serving(ALONE, ["engine.max_model_len=8192", "workload.prompt_tokens.value=4095"])
    return api.serve(spec)


def test_pair_share_of_a_causal_flash_attention_is_a_half(long_prompt):
    # a causal kernel of square b × b blocks computes a sequence of s tokens' (s/b)(s/b + 1)/2 blocks, s²/2 + s·b/2
    # pairs (llama2_7b on h100, b = 128: 0.53125 of 2,048², 0.5625 of 1,024²); A = 2(P₁ − P₂) computes
    # 2(N²/2 + N·b/2 − 2·((N/2)²/2 + (N/2)·b/2)) = N²/2 of its N² pairs whatever b: 2 · 0.53125 − 0.5625 = 0.5
    assert long_prompt.report["iteration_cost"]["pair_share"] == pytest.approx(0.5, abs=1e-12)


def test_no_chunks_context_computes_above_the_peak(long_prompt):
    ic = long_prompt.report["iteration_cost"]
    grid = Grid(*(ic[k] for k in ("prefill_tokens", "prefill_s", "prefill2_s", "decode_batches", "decode_kv",
                                  "decode_s")), pair_share=ic["pair_share"])
    # a chunk of q tokens after c cached ones computes every q·c context pair (no causal mask between them):
    # QKᵀ and PV, 2 MACs of head_dim each per pair and head, 2 FLOP a MAC, on llama2_7b's 32 layers × 32 heads ×
    # 128; H100 SXM bf16 dense peak 989.4 TFLOPS (NVIDIA H100 datasheet)
    for q, c in ((2047, 2048), (2048, 6144), (512, 4096), (64, 8000)):
        flops = 2 * 2 * 32 * 32 * 128 * q * c
        assert grid.context(q, q * c) >= flops / 989.4e12, (q, c)
    # the repro: its second iteration is the 2,047-token chunk's own pass plus its context, 2.198e12 FLOP, which
    # cost 1.959 ms (1.12 PFLOP/s) before; at least 2.22 ms at the peak now
    (r,) = long_prompt.requests
    second = r.first_token - r.arrival - grid.prefill(2048)
    assert second == pytest.approx(grid.prefill(2047, 2047 * 4095), rel=1e-9)
    assert second - grid.prefill(2047) >= 2 * 2 * 32 * 32 * 128 * 2047 * 2048 / 989.4e12
