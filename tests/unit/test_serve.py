"""The serving engine on hand-checkable cases: a stub iteration cost (the test hook of ``accelsim.serving.serve``) and
a given number of KV blocks, so every time below is computed by hand from the stub."""

from __future__ import annotations

import math

import pytest

from accelsim.config.serving import load_serving
from accelsim.serving import serve
from accelsim.serving.cost import Grid, evenly, geometric, interp
from accelsim.serving.engine import KvPool


def spec(**over):
    """A serving file (as a mapping) for llama2_7b on h100 with ``over`` merged into its sections."""
    doc = {"name": "t", "model": "llama2_7b", "arch": "h100",
           "engine": {"max_num_seqs": 8, "max_num_batched_tokens": 256, "max_model_len": 512, "block_size": 16},
           "workload": {"arrival": {"process": "constant", "rate": 1}, "prompt_tokens": {"dist": "fixed", "value": 100},
                        "output_tokens": {"dist": "fixed", "value": 4}, "requests": 3}}
    for key, value in over.items():
        doc[key] = {**doc[key], **value} if isinstance(value, dict) and key in doc else value
    return load_serving(doc)


class Stub:
    """Iteration seconds = fixed + per prefill token · p + per decode · d; records every call."""

    def __init__(self, fixed=0.0, per_token=0.001, per_decode=0.01):
        self.fixed, self.per_token, self.per_decode = fixed, per_token, per_decode
        self.calls: list[tuple[int, int, int]] = []
        self.scores: list[int] = []  # the prefill chunks' attention scores Σ q·(c + q) of each call

    def __call__(self, p, d, kv, scores=0):
        self.calls.append((p, d, kv))
        self.scores.append(scores)
        return self.fixed + self.per_token * p + self.per_decode * d


def by_id(result):
    return {r.id: r for r in result.requests}


def test_isolated_requests_have_the_hand_computed_latencies():
    # 1 request/s, each done long before the next: prefill of 100 tokens = 0.1 + 100·0.001 = 0.2 s (TTFT);
    # then 3 decode iterations of 0.1 + 0.01 = 0.11 s each: finish at 0.2 + 0.33 = 0.53 s; TPOT 0.33/3 = 0.11 s
    res = serve(spec(), cost=Stub(fixed=0.1), blocks=1000)
    s = res.report["serving"]
    assert s["finished"] == 3 and s["unfinished"] == 0
    assert s["ttft_s"]["p50"] == pytest.approx(0.2) and s["ttft_s"]["p99"] == pytest.approx(0.2)
    assert s["e2e_s"]["mean"] == pytest.approx(0.53)
    assert s["tpot_s"]["mean"] == pytest.approx(0.11) and s["itl_s"]["p90"] == pytest.approx(0.11)
    r2 = by_id(res)[2]
    assert (r2.arrival, r2.first_token, r2.finish) == pytest.approx((2.0, 2.2, 2.53))
    # the last finish (2.53 s) comes before the end of the arrival window, 3 gaps of 1 s = 3 s: the makespan is 3 s,
    # and the throughput is the offered load, 3 requests in 3 s (3 / 2.53 = 1.19 requests/s would exceed it)
    assert s["offered_requests_per_s"] == pytest.approx(1.0)
    assert s["makespan_s"] == pytest.approx(3.0)
    assert s["requests_per_s"] == pytest.approx(3 / 3.0)
    assert s["output_tokens_per_s"] == pytest.approx(12 / 3.0)


def test_overlapping_requests_batch_a_decode_with_a_prefill():
    # arrivals 0 and 0.1 s, prompt 100, output 3; cost 0.05 + 0.001·p + 0.01·d
    # it1 [0, 0.15): r0 prefill 100 → r0 token 1 at 0.15
    # it2 [0.15, 0.31): r0 decode + r1 prefill 100 (0.05 + 0.1 + 0.01) → r0 token 2, r1 token 1 at 0.31
    # it3 [0.31, 0.38): two decodes (0.05 + 0.02) → r0 token 3: done at 0.38; r1 token 2
    # it4 [0.38, 0.44): r1 decode → done at 0.44
    stub = Stub(fixed=0.05)
    res = serve(spec(workload={"arrival": {"process": "constant", "rate": 10}, "requests": 2,
                               "output_tokens": {"dist": "fixed", "value": 3}}), cost=stub, blocks=1000)
    r0, r1 = by_id(res)[0], by_id(res)[1]
    assert (r0.first_token, r0.finish) == pytest.approx((0.15, 0.38))
    assert (r1.scheduled, r1.first_token, r1.finish) == pytest.approx((0.15, 0.31, 0.44))
    assert [c[:2] for c in stub.calls] == [(100, 0), (100, 1), (0, 2), (0, 1)]
    assert stub.scores == [100 * 100, 100 * 100, 0, 0]  # the decode's attention is in its KV length
    # KV lengths the decodes attend to: r0's second token sees 101 tokens; then r0 102 and r1 101
    assert stub.calls[1][2] == 101 and stub.calls[2][2] == 102 + 101
    s = res.report["serving"]
    assert s["ttft_s"]["mean"] == pytest.approx((0.15 + 0.21) / 2)
    assert s["tpot_s"]["mean"] == pytest.approx(((0.38 - 0.15) / 2 + (0.44 - 0.31) / 2) / 2)
    # token gaps 0.16 (r0), 0.07 (r0), 0.07 (r1), 0.06 (r1): sorted [0.06, 0.07, 0.07, 0.16]; linear percentiles at
    # position 3p/100: p50 = 0.07, p90 = 0.07 + 0.7·0.09 = 0.133, p99 = 0.07 + 0.97·0.09
    assert s["itl_s"] == pytest.approx({"mean": 0.09, "p50": 0.07, "p90": 0.133, "p99": 0.1573})


def test_step_overhead_is_added_to_every_iteration():
    # the first test's request with 5 ms more per iteration: TTFT 0.2 + 0.005; 3 decodes of 0.11 + 0.005
    res = serve(spec(engine={"step_overhead": "5ms"}, workload={"requests": 1}), cost=Stub(fixed=0.1), blocks=1000)
    r = by_id(res)[0]
    assert (r.first_token, r.finish) == pytest.approx((0.205, 0.205 + 3 * 0.115))


def test_chunked_prefill_splits_a_prompt_at_the_token_budget():
    # budget 64: the 100-token prompt is prefilled as 64 + 36 tokens; the first token comes after the second chunk
    stub = Stub()
    res = serve(spec(engine={"max_num_batched_tokens": 64}, workload={"requests": 1}), cost=stub, blocks=1000)
    assert [c[0] for c in stub.calls[:2]] == [64, 36]
    assert stub.scores[:2] == [64 * 64, 36 * (64 + 36)]  # the second chunk attends to the first
    assert by_id(res)[0].first_token == pytest.approx(0.064 + 0.036)
    with pytest.raises(Exception, match="max_num_batched_tokens"):  # without chunking the prompt must fit
        spec(engine={"max_num_batched_tokens": 64, "chunked_prefill": False})


def test_kv_blocks_follow_the_tokens_computed():
    # block 16: a 100-token prompt holds ⌈100/16⌉ = 7 blocks; its 12th decode computes token 112 → still 7; the
    # 13th (token 113) takes an 8th block
    res = serve(spec(workload={"requests": 1, "output_tokens": {"dist": "fixed", "value": 20}}), cost=Stub(),
                blocks=1000)
    used = [s[4] for s in res.replicas[0].samples]
    assert used[0] == 7 and used[12] == 7 and used[13] == 8 and used[-1] == 8
    assert res.replicas[0].pool.used == 0 and res.replicas[0].pool.free == 1000  # all given back


def test_preemption_when_blocks_run_out_recomputes_the_newest():
    # 14 blocks: two 100-token prompts take 7 each. r0's 13th decode needs an 8th block → r1 (the newest) is
    # preempted and recomputed after r0 finishes: by then r1 had its first token (iteration 2) and 11 decodes
    # (iterations 3 … 13), so it re-prefills 100 + 12 tokens
    stub = Stub()
    res = serve(spec(workload={"arrival": {"process": "constant", "rate": 1000}, "requests": 2,
                               "output_tokens": {"dist": "fixed", "value": 20}}), cost=stub, blocks=14)
    r0, r1 = by_id(res)[0], by_id(res)[1]
    assert (r0.preemptions, r1.preemptions) == (0, 1)
    assert res.report["serving"]["preemptions"] == 1
    assert (112, 0, 0) in stub.calls
    assert r0.generated == r0.output == 20 and r1.generated == r1.output == 20  # tokens out = tokens asked
    assert r1.finish > r0.finish


def test_prefix_caching_skips_the_cached_prefix():
    # one group sharing 64 tokens (4 blocks): the second request prefills only 100 − 64 = 36 tokens and holds
    # 3 private blocks (⌈100/16⌉ − 4) beside the 4 shared ones
    stub = Stub()
    res = serve(spec(engine={"prefix_caching": True},
                     workload={"requests": 2, "shared_prefix": {"groups": 1, "tokens": 64}}), cost=stub, blocks=1000)
    assert [c[0] for c in stub.calls if c[1] == 0 and c[0]][:2] == [100, 36]
    assert by_id(res)[1].cached_tokens == 64 and by_id(res)[0].cached_tokens == 0
    assert res.report["serving"]["cached_prefix_tokens"] == 64


def test_kv_pool_evicts_idle_prefixes_oldest_first():
    pool = KvPool(10)
    pool.take(3)
    pool.register(1, 3)
    pool.take(2)
    pool.register(2, 2)
    pool.unref(1)
    pool.unref(2)
    assert (pool.free, pool.evictable, pool.used, pool.available()) == (5, 5, 0, 10)
    pool.take(7)  # needs 2 more than free: evicts group 1 (released first, 3 blocks)
    assert pool.hits(1) == 0 and pool.hits(2) == 2 and pool.free == 1


def test_static_batching_admits_only_into_an_empty_engine():
    # arrivals 0, 0.1, 0.2 with output 3: r0 alone forms the first batch; r1 and r2 wait for it to finish
    stub = Stub(fixed=0.05)
    res = serve(spec(engine={"policy": "static"}, workload={"arrival": {"process": "constant", "rate": 10},
                                                             "output_tokens": {"dist": "fixed", "value": 3}}),
                cost=stub, blocks=1000)
    r = by_id(res)
    assert r[1].scheduled == pytest.approx(r[0].finish) and r[2].scheduled == pytest.approx(r[0].finish)
    assert [c[:2] for c in stub.calls][:3] == [(100, 0), (0, 1), (0, 1)]


def test_least_tokens_router_balances_and_round_robin_alternates(tmp_path):
    # a trace: a long request at 0 s (300 + 100 tokens), two short ones (10 + 2) at 0.1 and 0.2 s. Round robin:
    # replicas 0, 1, 0. Least outstanding tokens: 0 (a tie, lowest index), then 1 (0 has 400 to do), then 1 again
    # (0 still has 400: its prefill takes 0.3 s; 1 finished its short request at 0.12 s: 0 left)
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens\n0,300,100\n0.1,10,2\n0.2,10,2\n")
    trace = {"arrival": {"trace": str(tmp_path / "t.csv")}, "prompt_tokens": {"dist": "trace"},
             "output_tokens": {"dist": "trace"}}

    def routed(router):
        res = serve(spec(replicas=2, router=router, workload=trace), cost=Stub(), blocks=1000)
        return [r.replica for r in res.requests]

    assert routed("round_robin") == [0, 1, 0]
    assert routed("least_tokens") == [0, 1, 1]


def test_littles_law_holds_on_a_poisson_run():
    # L = λ·W: the time-average number of requests in the system equals the arrival rate times the mean time in it.
    # The engine's samples count requests at iteration starts (a request arriving mid-iteration is counted from the
    # next one), so iterations are kept short against the time in the system (~100 of them per request)
    res = serve(spec(workload={"arrival": {"process": "poisson", "rate": 20}, "requests": 500, "seed": 3,
                               "output_tokens": {"dist": "fixed", "value": 100}}),
                cost=Stub(fixed=0.001, per_token=1e-5, per_decode=1e-4), blocks=1000)
    reqs = res.requests
    lam = (len(reqs) - 1) / (reqs[-1].arrival - reqs[0].arrival)
    w = sum(r.finish - r.arrival for r in reqs) / len(reqs)
    samples = res.replicas[0].samples
    span = reqs[-1].finish - reqs[0].arrival
    area = sum((run + wait) * sec for _, sec, run, wait, _, _ in samples)  # idle time holds no request
    assert area / span == pytest.approx(lam * w, rel=0.03)
    # conservation: every request finished with the tokens it asked for
    assert res.report["serving"]["finished"] == 500 and all(r.generated == r.output == 100 for r in reqs)


def test_same_seed_same_requests_and_a_new_seed_differs(tmp_path):
    def run(seed, out):
        res = serve(spec(workload={"arrival": {"process": "gamma", "rate": 5, "cv": 2}, "requests": 200,
                                   "prompt_tokens": {"dist": "lognormal", "mean": 120, "std": 60},
                                   "output_tokens": {"dist": "uniform", "low": 2, "high": 30}, "seed": seed}),
                    cost=Stub(fixed=0.01), blocks=1000)
        res.save(tmp_path / out)
        return [(tmp_path / out / f).read_bytes() for f in ("report.json", "requests.csv", "timeseries.csv")]

    assert run(1, "a") == run(1, "b")
    assert run(2, "c")[1] != run(1, "a")[1]


def test_requests_that_cannot_fit_are_refused_and_reported():
    # 100 prompt tokens and 1 to 8 output tokens under max_model_len 104: those of more than 4 are refused (a
    # workload none of whose requests fits is an error: test_serve_load)
    res = serve(spec(engine={"max_model_len": 104}, workload={"output_tokens": {"dist": "uniform", "low": 1, "high": 8},
                                                              "requests": 20}), cost=Stub(), blocks=1000)
    s = res.report["serving"]
    long = sum(1 for r in res.requests if r.output > 4)
    assert 0 < long < 20 and all(r.refused == (r.output > 4) for r in res.requests)
    assert (s["requests"], s["finished"], s["rejected"]) == (20, 20 - long, long)


def test_saturation_is_reported_when_load_exceeds_capacity():
    # each request needs at least 0.1 + 4·0.01 s alone; 20 requests/s of them cannot be served: the queue grows
    over = serve(spec(workload={"arrival": {"process": "constant", "rate": 20}, "requests": 400}),
                 cost=Stub(fixed=0.1), blocks=1000)
    under = serve(spec(workload={"arrival": {"process": "constant", "rate": 1}, "requests": 20}),
                  cost=Stub(fixed=0.1), blocks=1000)
    assert over.report["serving"]["saturated"] and not under.report["serving"]["saturated"]
    # the reason names the queue (one replica, no disaggregation: no decode queue of its own)
    assert over.report["serving"]["saturated_reason"].startswith("the queue grew: TTFT, mean ")
    assert over.report["serving"]["decode_queue_s"] is None


def test_a_disaggregated_run_whose_decode_queue_grows_is_saturated():
    # probe p74 #1. 1 prefill and 1 decode replica, prompt 100, output 40, the KV crossing in 0.1 s (100 tokens ×
    # 524,288 B / 524,288,000 B/s). The prefill replica takes 0.1 + 100·0.001 = 0.2 s a request, alone at 3
    # requests/s (1/3 s apart), so every TTFT is 0.2 s: TTFT alone never grows. The decode replica runs each
    # request's 39 tokens after the first in iterations of b ≤ 8 sequences, 0.1 + 0.01·b s, at least 0.18/8 =
    # 0.0225 s a token, so 0.8775 s a request; request k starts decoding only when at most 7 others run, after k − 7
    # have finished: not before (k − 7) × 0.8775 s. The last fifth (k = 48..59, arriving at k/3 s) then waits at
    # least (48 − 7) × 0.8775 − 48/3 = 19.98 s from arrival to its first decode scheduling
    disagg = {"prefill_replicas": 1, "decode_replicas": 1, "bandwidth": 524_288_000, "latency": 0}
    out = {"dist": "fixed", "value": 40}
    over = serve(spec(disaggregation=disagg, workload={"arrival": {"process": "constant", "rate": 3},
                                                       "requests": 60, "output_tokens": out}),
                 cost=Stub(fixed=0.1), blocks=1000)
    reqs = sorted(over.requests, key=lambda r: r.id)
    assert all(r.first_token - r.arrival == pytest.approx(0.2) for r in reqs)
    assert reqs[0].decoding == pytest.approx(0.3)  # 0.2 s prefill + 0.1 s transfer, the decode replica idle
    assert min(r.decoding - r.arrival for r in reqs[48:]) >= 19.98 - 1e-9
    assert over.report["serving"]["saturated"]
    # healthy: 0.5 requests/s (2 s apart), each decoding 39 × 0.11 s = 4.29 s alone, so at most 3 at once; the KV
    # arrives 0.3 s after its request and waits at most one iteration (≤ 0.1 + 3·0.01 = 0.13 s): ≤ 0.43 s < 1 s
    under = serve(spec(disaggregation=disagg, workload={"arrival": {"process": "constant", "rate": 0.5},
                                                        "requests": 20, "output_tokens": out}),
                  cost=Stub(fixed=0.1), blocks=1000)
    assert all(0.3 - 1e-9 <= r.decoding - r.arrival <= 0.43 + 1e-9 for r in under.requests)
    assert not under.report["serving"]["saturated"]
    # probe p81 #6: the reason named "latency" and queue_s was 0 while requests waited seconds for a decode slot.
    # The prefill replica never queues (0.2 s a request, 1/3 s apart): queue_s 0. Each KV reaches the decode replica
    # 0.2 + 0.1 = 0.3 s after its arrival, so its decode wait is (decoding - arrival) - 0.3: 0 for request 0, at
    # least 19.98 - 0.3 = 19.68 s for each of the last fifth (12 of 60, so p90 and p99 lie among them)
    s = over.report["serving"]
    assert s["queue_s"] == {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0}
    waits = [r.decoding - r.arrival - 0.3 for r in reqs]
    assert s["decode_queue_s"]["mean"] == pytest.approx(sum(waits) / 60)
    assert min(waits) == pytest.approx(0.0, abs=1e-9) and s["decode_queue_s"]["p90"] >= 19.68 - 1e-9
    assert s["saturated_reason"].startswith("the decode replicas' queue grew: time from arrival to first decode "
                                            "scheduling, mean ")
    # healthy: a KV waits at most one iteration of ≤ 0.13 s for its decode slot; no reason
    assert under.report["serving"]["decode_queue_s"]["p99"] <= 0.13 + 1e-9
    assert under.report["serving"]["saturated_reason"] is None


def test_the_saturation_reason_names_the_queue_that_grew():
    from accelsim.serving.metrics import saturation
    from accelsim.serving.requests import Request

    def reqs(ttft, decode_wait=None):  # five requests 1 s apart (a fifth: one request)
        out = [Request(i, float(i), 10, 2) for i in range(5)]
        for r, t in zip(out, ttft, strict=True):
            r.first_token = r.arrival + t
        for r, t in zip(out, decode_wait or (), strict=False):
            r.decoding = r.arrival + t
        return out
    # TTFT 0.5 s first, 2 s last: 2 > 3 × 0.5 = 1.5 and 2 > 1 s; no disaggregation: "the queue"
    assert saturation(reqs([0.5, 0.5, 1, 1, 2])) == ("the queue grew: TTFT, mean 500ms over the first fifth of the "
                                                     "requests, 2s over the last")
    # disaggregated: TTFT flat at 0.1 s; arrival to first decode scheduling 0.4 s first, 1.5 s last (> 1.2 s and 1 s)
    assert saturation(reqs([0.1] * 5, [0.4, 0.5, 0.8, 1, 1.5])) == (
        "the decode replicas' queue grew: time from arrival to first decode scheduling, mean 400ms over the first "
        "fifth of the requests, 1.5s over the last")
    # with TTFT growing there: the prefill replicas' queue
    assert saturation(reqs([0.5, 0.5, 1, 1, 2], [0.6] * 5)).startswith("the prefill replicas' queue grew: TTFT")
    # 1.5 s last against 0.6 s first: not over 3 × 0.6 = 1.8 s, not saturated
    assert saturation(reqs([0.1] * 5, [0.6, 0.6, 1, 1, 1.5])) is None
    # one without a first token is left unfinished
    left = reqs([0.1] * 5)
    left[4].first_token = math.nan
    assert saturation(left) == "1 of 5 requests left unfinished"


def test_grid_helpers():
    assert geometric(16, 2048, 2) == [16, 32, 64, 128, 256, 512, 1024, 2048]
    assert geometric(1, 6, 4) == [1, 4, 6] and geometric(5, 5, 2) == [5]
    assert evenly(16, 4096, 3) == [16, 2056, 4096]
    assert interp([0, 10], [1.0, 3.0], 2.5) == pytest.approx(1.5)
    assert interp([0, 10], [1.0, 3.0], -1) == 1.0 and interp([0, 10], [1.0, 3.0], 11) == 3.0
    assert math.isclose(interp([1, 2, 4], [0.0, 1.0, 5.0], 3), 3.0)


def test_energy_grid_prices_an_iteration_by_the_time_rule():
    # two prefill sizes and one decode row, seconds and joules on the same shapes: an iteration's joules follow the
    # seconds' rule with the joules in place (module docstring of accelsim.serving.cost). Mixed iteration of 48 prefill
    # tokens (scores 48²) and 2 decodes at KV 100: max(P(50, S) + D(2, 100) − L(2), D(2, 100)), each linear between
    # grid points. (Before probe p184 #1 the rule was P(50, S) + D(2, 100) − D(2, 16), which took the decodes'
    # attention at KV 16 out with the pass's; the decode figures are now above L(2), so the decodes' attention counts.)
    g = Grid([32, 64], [1.0, 2.0], [0.8, 1.6], [1, 4], [[16, 200], [16, 200]], [[0.7, 0.9], [0.8, 1.2]],
             prefill_j=[10.0, 20.0], prefill2_j=[8.0, 16.0], decode_j=[[7.0, 9.0], [8.0, 12.0]])
    j = g.joules()
    # P₁(50) = 10 + 18/32 · 10 = 15.625, P₂(50) = 12.5, A = 2 · 3.125 = 6.25, S = 48² / 50² of it
    p = 15.625 - 6.25 + 6.25 * 48 ** 2 / 50 ** 2
    # D(2, k): batch 2 is a third of the way from row 1 to row 4; D(1, 100) = 7 + 84/184 · 2, D(4, 100) = 8 + 84/184 · 4
    d1, d4 = 7 + 84 / 184 * 2, 8 + 84 / 184 * 4
    d = d1 + (d4 - d1) / 3
    # L(2): the pass of 2 tokens clamped to the grid's first, 32: P₁ − 2(P₁ − P₂) = 10 − 4 = 6
    assert j.iteration(48, 2, 200, 48 * 48) == pytest.approx(p + d - 6)
    assert j.iteration(48, 2, 200, 48 * 48) > j.iteration(0, 2, 200)  # more work than the decodes alone
    assert g.iteration(48, 2, 200, 48 * 48) == pytest.approx(j.iteration(48, 2, 200, 48 * 48) / 10)  # all ×10
    assert g.to_dict()["decode_j"] == [[7.0, 9.0], [8.0, 12.0]]
    with pytest.raises(ValueError, match="no energy"):
        Grid([32], [1.0], [0.8], [1], [[16]], [[0.1]]).joules()


def test_a_mixed_iteration_keeps_the_decodes_own_attention():
    # probe p184 #1: a decode step carries attention of its own per sequence (each sequence its own CTAs, reading its
    # KV) that a prefill pass of as many tokens lacks; here D(128, 16) = 1.5 s against L(128) = 1.18 s. Prefills of 16
    # and 128 tokens: P₁ = 1.0, 1.2 and P₂ = 0.99, 1.19, so A = 2(P₁ − P₂) = 0.02 and L = P₁ − A = 0.98, 1.18. Decode
    # rows of batch 1 and 128 at KV 16 and 1,000.
    g = Grid([16, 128], [1.0, 1.2], [0.99, 1.19], [1, 128], [[16, 1000], [16, 1000]], [[1.0, 1.1], [1.5, 3.5]])
    # 127 decodes at KV 700: D(1, 700) = 1.0 + 684/984 · 0.1, D(128, 700) = 1.5 + 684/984 · 2.0, batch 127 at 126/127
    d1, d128 = 1.0 + 684 / 984 * 0.1, 1.5 + 684 / 984 * 2.0
    d = d1 + 126 / 127 * (d128 - d1)
    assert g.iteration(0, 127, 127 * 700) == pytest.approx(d, rel=1e-12)
    # with a 1-token prompt (1 score): the pass of 128 tokens, L(128) + A(128) · 1/128², plus the decodes' attention,
    # D(127, 700) less the pass of their 127 tokens, L(127) = 0.98 + 111/112 · 0.2
    mixed = 1.18 + 0.02 / 128 ** 2 + d - (0.98 + 111 / 112 * 0.2)
    assert g.iteration(1, 127, 127 * 700, 1) == pytest.approx(mixed, rel=1e-12)
    assert mixed > d  # strictly more work than the decodes alone costs more
    # (the old rule, P(128, 1) + D(127, 700) − D(127, 16), took out D(127, 16) = 1.0 + 126/127 · 0.5: 0.31 s less
    # than the decodes alone)
    assert 1.18 + 0.02 / 128 ** 2 + d - (1.0 + 126 / 127 * 0.5) < d - 0.3
    # a grid whose pass of b tokens costs more than the decode step of b (L(16) = 0.98 > D(1, 16) = 0.9): the decodes
    # add no attention beyond it, and the iteration is the pass over every token, never below the decodes alone
    h = Grid([16, 128], [1.0, 1.2], [0.99, 1.19], [1], [[16, 1000]], [[0.9, 1.0]])
    assert h.iteration(15, 1, 16, 225) == pytest.approx(h.prefill(16, 225, 15), rel=1e-12)
    for p in (1, 15, 64, 200):
        for kv in (16, 500, 1000):
            assert h.iteration(p, 1, kv, p * p) >= h.iteration(0, 1, kv)
            assert g.iteration(p, 100, 100 * kv, p * p) >= g.iteration(0, 100, 100 * kv)


def test_a_stub_cost_reports_no_energy():
    res = serve(spec(), cost=Stub(), blocks=100)
    assert res.report["energy"] is None and res.report["power"] is None and res.report["efficiency"] is None


def test_md1_queue_matches_the_textbook_mean_wait():
    # one request at a time (max_num_seqs 1), one output token (the prefill is the whole service), a fixed service
    # time S = 1 s: an M/D/1 queue. Pollaczek-Khinchine: Wq = ρ·S / (2(1 − ρ)); at λ = 0.5/s, ρ = 0.5: Wq = 0.5 s
    res = serve(spec(engine={"max_num_seqs": 1},
                     workload={"arrival": {"process": "poisson", "rate": 0.5}, "requests": 20000, "seed": 7,
                               "output_tokens": {"dist": "fixed", "value": 1}}),
                cost=Stub(fixed=1.0, per_token=0.0), blocks=1000)
    assert res.report["serving"]["queue_s"]["mean"] == pytest.approx(0.5, rel=0.05)
    assert res.report["serving"]["e2e_s"]["mean"] == pytest.approx(1.5, rel=0.05)


def test_swap_preemption_keeps_the_kv_and_pays_the_host_link():
    # the preemption case above with swap: r1's 7 blocks (111 tokens computed) go to host memory in the iteration
    # that preempts it, and the same 7 come back when it is readmitted;
    # a block is 16 tokens × 524,288 B (2 × 32 layers × 4096 × 2 B) over the host link's sustained bandwidth.
    s = spec(engine={"preemption": "swap"}, workload={"arrival": {"process": "constant", "rate": 1000}, "requests": 2,
                                                      "output_tokens": {"dist": "fixed", "value": 20}})
    per_block = 16 * 524_288 / s.arch.memory(s.arch.spill_memory).sustained_bandwidth
    stub = Stub()
    res = serve(s, cost=stub, blocks=14)
    r1 = by_id(res)[1]
    assert r1.preemptions == 1 and r1.generated == 20
    assert all(c[0] <= 100 for c in stub.calls)  # nothing recomputed
    priced = [stub.fixed + stub.per_token * p + stub.per_decode * d for p, d, _ in stub.calls]
    extra = [sec - c for (_, sec, *_), c in zip(res.replicas[0].samples, priced, strict=True)]
    assert sorted(x for x in extra if x > 1e-12) == pytest.approx([7 * per_block, 7 * per_block])


def two_at_once(tmp_path, rows, **engine):
    """Probe p281's two requests arriving together ((prompt, output) each) on an engine of a 2,048-token budget."""
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens\n" +
                                    "".join(f"0,{p},{o}\n" for p, o in rows))
    return spec(engine={"max_num_batched_tokens": 2048, "max_model_len": 4096, **engine},
                workload={"arrival": {"trace": str(tmp_path / "t.csv")}, "prompt_tokens": {"dist": "trace"},
                          "output_tokens": {"dist": "trace"}, "requests": None})


@pytest.mark.parametrize("rows, blocks, held", [
    # r0 1,000 tokens (⌈1000/16⌉ = 63 blocks) and r1's first chunk of 2,048 − 1,000 = 1,048 (66 blocks) in 200;
    # r1's rest (1,452 tokens: ⌈2500/16⌉ = 157 blocks, 91 more) finds 71 free, so it is swapped out holding 66
    # blocks, and back in with those 66 once r0 has finished (its 157 − 66 new ones hold no data to copy; probe p281
    # #1 had 157 charged)
    (((1000, 1000), (2500, 2)), 200, 66),
    # two prompts of 300 (19 blocks each) in 40: both take a 20th block at token 305, and at token 321 r0's 21st
    # finds none free: r1 is swapped out holding ⌈320/16⌉ = 20 and back in with 20 (21 charged before: its next
    # token's block too)
    (((300, 100), (300, 100)), 40, 20),
])
def test_a_swap_in_copies_back_the_blocks_swapped_out(tmp_path, rows, blocks, held):
    s = two_at_once(tmp_path, rows, preemption="swap")
    per_block = 16 * 524_288 / s.arch.memory(s.arch.spill_memory).sustained_bandwidth
    stub = Stub()
    res = serve(s, cost=stub, blocks=blocks)
    assert by_id(res)[1].preemptions == 1
    priced = [stub.fixed + stub.per_token * p + stub.per_decode * d for p, d, _ in stub.calls]
    extra = [sec - c for (_, sec, *_), c in zip(res.replicas[0].samples, priced, strict=True)]
    assert sorted(x for x in extra if x > 1e-12) == pytest.approx([held * per_block, held * per_block])


def test_a_recompute_preemption_with_prefix_caching_hits_its_own_blocks_again(tmp_path):
    # probe p281 #2: r0 (1,000 + 1,000 tokens) holds 63 blocks, r1's first chunk of 1,048 tokens 66 (65 full:
    # 1,040 tokens) of 200. r1's rest needs 91 more, 71 are free: it is preempted, and its 65 full blocks stay cached
    # while free (vLLM V1 frees a request's blocks onto the free queue with their hashes); 72 are free. Readmitted it
    # would hit the 65 and need 157 − 65 = 92 new blocks, but only 72 are free besides them, and r0's growth to
    # ⌈1999/16⌉ = 125 blocks takes 62 of those 72: none of r1's is evicted, it waits for r0 to finish, then
    # prefills 2,500 − 1,040 = 1,460 tokens.
    rows = ((1000, 1000), (2500, 2))
    stub = Stub()
    res = serve(two_at_once(tmp_path, rows, prefix_caching=True), cost=stub, blocks=200)
    r0, r1 = by_id(res)[0], by_id(res)[1]
    assert (r1.preemptions, r1.cached_tokens) == (1, 1040)
    assert [c[0] for c in stub.calls if c[0] > 1] == [2048, 1460]
    assert r1.first_token > r0.finish
    pool = res.replicas[0].pool
    assert (pool.used, pool.free + pool.evictable, pool.kept) == (0, 200, {})
    # in 160 blocks 31 are free when r1 is preempted, 32 after (its 66th block, partial, is not kept): r0's 62 new
    # blocks take the 32 and evict 30 of r1's, its last first (vLLM frees a request's blocks in reverse order), so
    # r1 comes back with its first 65 − 30 = 35 blocks hit (560 tokens) and prefills 2,500 − 560 = 1,940
    stub = Stub()
    r1 = by_id(serve(two_at_once(tmp_path, rows, prefix_caching=True), cost=stub, blocks=160))[1]
    assert (r1.preemptions, r1.cached_tokens) == (1, 560)
    assert [c[0] for c in stub.calls if c[0] > 1] == [2048, 1940]


def test_without_prefix_caching_a_recompute_preemption_keeps_nothing(tmp_path):
    # the same two requests in 200 blocks, prefix caching off: r1 recomputes from nothing. After its preemption in
    # iteration 2 it comes back in iteration 3 with a 2,047-token chunk (128 blocks; r0's decode takes the 2,048th
    # token of the budget) and is preempted again in iteration 4 (its last 453 tokens need 29 more blocks, 9 free at
    # most), and so on while r0's blocks leave 128 free: r0 has 1,000 + (t − 2) tokens computed before iteration t
    # and takes ⌈(1000 + t − 1)/16⌉ ≤ 72 blocks up to t = 153, so r1 is readmitted in iterations 3, 5, …, 153 (76
    # times) and preempted 1 + 76 = 77 times (vLLM V1 without prefix caching thrashes alike)
    res = serve(two_at_once(tmp_path, ((1000, 1000), (2500, 2))), cost=Stub(), blocks=200)
    r1 = by_id(res)[1]
    assert (r1.preemptions, r1.cached_tokens) == (77, 0)
    assert res.replicas[0].pool.kept == {} and res.replicas[0].pool.evictable == 0


def test_kv_pool_evicts_a_kept_request_tail_first_and_only_what_it_needs():
    # 10 blocks: a preempted request keeps 4 (free, cached), then a group's 3 go idle: 3 free blocks. Taking 5
    # evicts 2 of the request's (released first), leaving it 2; taking 3 more evicts its last 2 and none of the group's
    pool = KvPool(10)
    pool.keep(7, 4)
    pool.take(3)
    pool.register(1, 3)
    pool.unref(1)
    assert (pool.free, pool.evictable, pool.used, pool.available()) == (3, 7, 0, 10)
    pool.take(5)
    assert (pool.kept, pool.cached, pool.free, pool.evictable) == ({7: 2}, {1: 3}, 0, 5)
    pool.take(2)
    assert (pool.kept, pool.cached, pool.free, pool.evictable) == ({}, {1: 3}, 0, 3)
    pool.keep(8, 0)  # nothing kept
    assert pool.reclaim(8) == 0 and pool.kept == {}


def test_trace_has_a_track_per_replica_and_spans_per_request(tmp_path):
    import json

    res = serve(spec(replicas=2), cost=Stub(fixed=0.1), blocks=1000)
    res.save(tmp_path, trace=True)
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert names == {"replica 0", "replica 1"}
    # request 0 (replica 0): queued 0 → 0, prefill 0 → 0.2 s, decode 0.2 → 0.53 s (the first test's numbers), in µs
    spans = [(e["name"], e["ph"], e["ts"]) for e in events if e.get("cat") == "request" and e["id"] == 0]
    assert [s[:2] for s in spans] == [("queued", "b"), ("queued", "e"), ("prefill", "b"), ("prefill", "e"),
                                      ("decode", "b"), ("decode", "e")]
    assert [s[2] for s in spans] == pytest.approx([0, 0, 0, 2e5, 2e5, 5.3e5])
    iterations = [e for e in events if e["ph"] == "X"]
    assert len(iterations) == 3 * 4  # 3 requests × (1 prefill + 3 decodes), none overlapping
    res.save(tmp_path)
    assert not (tmp_path / "trace.json").exists()


def test_trace_is_written_event_by_event_as_the_whole_document_was(tmp_path):
    # trace.json is streamed (serving/trace.py): the same text as write_json of the whole document (indent 2), and
    # the writer holds one event at a time, so its peak memory does not grow with the run's iterations
    import tracemalloc

    from accelsim.report.writers import write_json
    from accelsim.serving.trace import trace_events, write_trace

    peaks = []
    for requests in (3, 300):  # 3 requests × 4 iterations each (the test above), then 100 times as many
        res = serve(spec(replicas=2, workload={"requests": requests}), cost=Stub(fixed=0.1), blocks=1000)
        whole = write_json(trace_events(res.requests, res.replicas), tmp_path / "whole.json").read_text()
        tracemalloc.start()
        path = write_trace(res.requests, res.replicas, tmp_path / "trace.json")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        streamed = path.read_text()
        assert streamed == whole
        assert len(trace_events(res.requests, res.replicas)["traceEvents"]) == 2 * 2 + requests * (4 + 6)
    # the whole document of 300 requests is ~3,000 events of ~250 B of text and dicts each, ~1 MB; streamed, both
    # peaks are the file's buffer and one event's text
    assert peaks[1] < 2 * peaks[0]


def test_disaggregation_moves_the_kv_after_the_first_token():
    # prefill on replica 0: [0, 0.2 s) → first token at 0.2 s. The KV of 100 tokens × 524,288 B (2 × 32 layers ×
    # 4096 × 2 B, fp16) = 52,428,800 B crosses a 524,288,000 B/s link in 0.1 s; replica 1 decodes from 0.3 s:
    # 3 iterations of 0.1 + 0.01 s → finish at 0.63 s; the token gaps 0.21, 0.11, 0.11 s
    res = serve(spec(disaggregation={"prefill_replicas": 1, "decode_replicas": 1, "bandwidth": 524_288_000,
                                     "latency": 0}, workload={"requests": 1}), cost=Stub(fixed=0.1), blocks=1000)
    r = by_id(res)[0]
    assert (r.replica, r.decode_replica) == (0, 1)
    assert (r.first_token, r.decoding, r.finish) == pytest.approx((0.2, 0.3, 0.63))
    assert res.report["serving"]["itl_s"]["mean"] == pytest.approx((0.21 + 0.11 + 0.11) / 3)
    assert res.report["serving"]["itl_s"]["p50"] == pytest.approx(0.11)
    assert [len(x.samples) for x in res.replicas] == [1, 3]
    assert [x["role"] for x in res.report["serving"]["replicas"]] == ["prefill", "decode"]
    assert all(x.pool.used == 0 for x in res.replicas)
    # report.json counts the transfer: one of 100 prompt tokens x 524,288 B = 52,428,800 B on the one chip, 0.1 s
    kt = res.report["serving"]["kv_transfer"]
    assert (kt["transfers"], kt["bytes_per_chip"], kt["mean_bytes_per_chip"]) == (1, 52_428_800, 52_428_800)
    assert (kt["seconds"], kt["mean_s"]) == pytest.approx((0.1, 0.1))
    assert kt["link"] == "disaggregation.bandwidth"
    # report.json's config: replicas is the prefill and decode replicas' sum, 1 + 1 (probe p74 #4: it said 1)
    assert res.report["config"]["replicas"] == 2
    with pytest.raises(Exception, match="prefill_replicas"):
        spec(replicas=3, disaggregation={"prefill_replicas": 1, "decode_replicas": 1})


def test_weighted_percentiles_equal_those_of_the_expanded_list():
    import numpy as np

    from accelsim.serving.metrics import stats, weighted_stats

    values, counts = np.array([0.3, 0.1, 0.2, 0.5]), np.array([2, 5, 1, 3])
    expanded = np.repeat(values, counts)
    assert weighted_stats(values, counts) == pytest.approx(stats(expanded))


def test_the_goodput_row_names_the_slos_or_says_there_are_none():
    # the isolated requests above: TTFT 0.2 s and TPOT 0.11 s each, so a 250 ms TTFT and 200 ms TPOT SLO is met
    # by all three, a 150 ms TTFT by none
    from accelsim.serving.metrics import summary_rows
    rows = dict(summary_rows(serve(spec(slo={"ttft": "250ms", "tpot": "200ms"}), cost=Stub(fixed=0.1),
                                   blocks=1000).report))
    assert rows["goodput"].endswith("(100.0% meet TTFT <= 250ms, TPOT <= 200ms)")
    rows = dict(summary_rows(serve(spec(slo={"ttft": "150ms"}), cost=Stub(fixed=0.1), blocks=1000).report))
    assert rows["goodput"] == "0.00 req/s (0.0% meet TTFT <= 150ms)"
    rows = dict(summary_rows(serve(spec(), cost=Stub(fixed=0.1), blocks=1000).report))
    assert rows["goodput"].endswith("(no SLO set: every finished request counts)")


def test_a_prompt_shorter_than_its_groups_cached_prefix_takes_no_blocks_it_cannot_have():
    # a group's cached prefix (100 tokens: 6 blocks) is referenced as a whole (KvPool.ref takes all its blocks out of
    # the evictable ones), so a request hitting fewer of them (a prompt of 38 tokens: 2 blocks) may only count the
    # free blocks and the other idle groups': admitting it on "available - hits" ran out of blocks to evict (a
    # KeyError from an empty LRU). Short prompts under 12 blocks: every run finishes with its blocks back.
    for rate in (2, 10, 50):
        s = spec(workload={"requests": 100, "arrival": {"process": "poisson", "rate": rate},
                           "prompt_tokens": {"dist": "uniform", "low": 1, "high": 200},
                           "output_tokens": {"dist": "uniform", "low": 1, "high": 50},
                           "shared_prefix": {"groups": 9, "tokens": 100}}, engine={"prefix_caching": True})
        res = serve(s, cost=Stub(fixed=0.01), blocks=12)
        s = res.report["serving"]
        assert s["unfinished"] == 0 and s["finished"] + s["rejected"] == 100  # over 12 blocks' 192 tokens: refused
        (r,) = res.replicas
        assert r.pool.free + r.pool.evictable == r.pool.total == 12


def test_a_latency_axis_is_labelled_at_round_steps_around_its_values():
    # TTFT from 21.4 to 49.1 ms: log10(49.1 / 21.4) = 0.36 decade, so the fine steps (1, 1.2, 1.5, 2, 2.5, 3, 3.5,
    # 4, 5, ...); the tick below 21.4 is 20, the one above 49.1 is 50: 20, 25, 30, 35, 40, 50, each labelled
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from accelsim.report.serving_plots import _readable_log_ticks

    fig, ax = plt.subplots()
    ax.set_yscale("log")
    _readable_log_ticks(ax, [21.4, 26.5, 30.3, 49.1])
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["20", "25", "30", "35", "40", "50"]
    # 1,963 to 5,908 ms (0.48 decade): 1,500 below, 6,000 above; 100 to 10,000 (2 decades): 1, 2, 5 steps
    _readable_log_ticks(ax, [1963.3, 5907.8])
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["1,500", "2,000"]
    _readable_log_ticks(ax, [100.0, 10_000.0])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["100", "200", "500", "1,000", "2,000", "5,000", "10,000"]
    plt.close(fig)


def test_timeseries_keeps_at_most_its_limit_of_evenly_picked_iterations():
    from accelsim.serving.metrics import timeseries_rows

    res = serve(spec(), cost=Stub(fixed=0.1), blocks=1000)
    (replica,) = res.replicas
    assert len(replica.samples) == 3 * 4  # 3 requests × (1 prefill + 3 decodes), as the trace test counts
    # 12 iterations at a limit of 5: exactly 5 rows, i·11/4 = 0, 2.75, 5.5, 8.25, 11 rounded half up: iterations 0,
    # 3, 6, 8 and 11, the first and the last among them (a stride of ⌈12 / 5⌉ = 3 kept 4 rows, 0, 3, 6, 9)
    rows = timeseries_rows(res.replicas, limit=5)
    assert [r[1] for r in rows] == [repr(round(replica.samples[i][0], 9)) for i in (0, 3, 6, 8, 11)]
    # 12 at a limit of 7 (a stride of 2 kept 6): i·11/6 = 0, 1.83, 3.67, 5.5, 7.33, 9.17, 11 → 0, 2, 4, 6, 7, 9, 11
    rows = timeseries_rows(res.replicas, limit=7)
    assert [r[1] for r in rows] == [repr(round(replica.samples[i][0], 9)) for i in (0, 2, 4, 6, 7, 9, 11)]
    assert len(timeseries_rows(res.replicas, limit=12)) == len(timeseries_rows(res.replicas, limit=99)) == 12


def test_config_leaves_out_gpu_only_engine_settings_on_an_arch_without_launches():
    # tpu-v4 has no kernel launch, graph launch or dispatch time: nothing for CUDA graphs to capture, and no
    # CUDA kernel for vLLM's custom all-reduce; the memory fraction still acts
    tpu = serve(spec(arch="tpu-v4"), cost=Stub(fixed=0.1), blocks=1000).report["config"]["engine"]
    assert "cuda_graphs" not in tpu and "custom_all_reduce" not in tpu
    assert tpu["gpu_memory_fraction"] == 0.9 and tpu["max_num_seqs"] == 8
    # h100: launch times: both settings are shown
    gpu = serve(spec(), cost=Stub(fixed=0.1), blocks=1000).report["config"]["engine"]
    assert gpu["cuda_graphs"] is True and gpu["custom_all_reduce"] is True


def test_the_running_batch_and_waiting_queue_are_time_weighted_over_every_iteration():
    # probe p56 #6. Stub: 0.1 s + 1 ms a prefill token + 10 ms a decode. Two requests of 100 + 4 tokens, constant
    # arrivals at 1,000/s (0 and 1 ms), up to 8 sequences:
    #   t 0     prefill r0 (r1 not yet arrived)       0.1 + 0.100        = 0.20 s, running 1
    #   t 0.20  r0 decode + r1 prefill                0.1 + 0.100 + 0.01 = 0.21 s, running 2
    #   t 0.41  r0, r1 decode (2x)                    0.1 + 0.02         = 0.12 s, running 2 (r0's 4th token after)
    #   t 0.53  r0, r1 decode                                               0.12 s, running 2 (r0 done)
    #   t 0.65  r1 decode                             0.1 + 0.01         = 0.11 s, running 1 (r1 done)
    # mean running = (0.2·1 + 0.21·2 + 0.12·2 + 0.12·2 + 0.11·1) / 0.76 = 1.21 / 0.76; max 2; nothing waits
    wl = {"arrival": {"process": "constant", "rate": 1000}, "requests": 2}
    s = serve(spec(workload=wl), cost=Stub(fixed=0.1), blocks=1000).report["serving"]
    assert s["running_sequences"] == {"mean": pytest.approx(1.21 / 0.76), "max": 2}
    assert s["waiting_requests"] == {"mean": 0.0, "max": 0}
    # one sequence at a time: r1 waits through r0's 3 decodes (0.11 s each) and runs after it:
    # 0.20 (r0 prefill, r1 not arrived) + 3 × 0.11 (r1 waiting) + 0.20 + 3 × 0.11 (r1) = 1.06 s, one running
    # throughout; mean waiting 0.33 / 1.06, max 1
    s = serve(spec(workload=wl, engine={"max_num_seqs": 1}), cost=Stub(fixed=0.1), blocks=1000).report["serving"]
    assert s["running_sequences"] == {"mean": pytest.approx(1.0), "max": 1}
    assert s["waiting_requests"] == {"mean": pytest.approx(0.33 / 1.06), "max": 1}


def test_the_largest_running_batch_is_the_kv_bound_of_the_probes_example():
    # probe p56's example: 512-token prompts in 16-token blocks take 512 / 16 = 32 blocks each, so 200 blocks admit
    # ⌊200 / 32⌋ = 6 sequences (a 7th would need 224), far below max_num_seqs 64; 50 arrivals at 50/s queue
    # behind them. The report's maximum is over every iteration, not timeseries.csv's sample.
    s = serve(spec(engine={"max_num_seqs": 64, "max_num_batched_tokens": 2048, "max_model_len": 4096},
                   workload={"arrival": {"process": "poisson", "rate": 50}, "prompt_tokens": {"dist": "fixed",
                             "value": 512}, "output_tokens": {"dist": "fixed", "value": 128}, "requests": 50,
                             "seed": 1}), cost=Stub(fixed=0.005, per_token=1e-5, per_decode=1e-4),
              blocks=200).report["serving"]
    assert s["running_sequences"]["max"] == 200 // (512 // 16) == 6
    assert 0 < s["running_sequences"]["mean"] <= 6 and s["waiting_requests"]["max"] > 0
