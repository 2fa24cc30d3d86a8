"""Serving under load, by hand: the serving report's rates and per-replica rows, the engine's static batches, the
refusals a run meets before it starts, and the decode cost between grid batches. Times from the stub iteration cost
of test_serve (seconds = fixed + 0.001 per prefill token + 0.01 per decode)."""

from __future__ import annotations

import pytest

from accelsim.errors import ConfigError
from accelsim.serving import _prepare, serve
from accelsim.serving.capacity import passes
from accelsim.serving.cost import Grid
from accelsim.serving.metrics import summary_rows

from .test_serve import Stub, by_id, spec


def _trace(tmp_path, rows: str) -> dict:
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens\n" + rows)
    return {"arrival": {"trace": str(tmp_path / "t.csv")}, "prompt_tokens": {"dist": "trace"},
            "output_tokens": {"dist": "trace"}, "requests": None}


def test_requests_that_all_arrive_at_once_have_no_offered_rate(tmp_path):
    # three requests at 2.0 s (no arrival span: no rate offered; it divided by 0), 100 prompt tokens and 1 output
    # token each, budget 256: it1 [2.0, 2.356): r0 100, r1 100, r2's first 56 (0.1 + 0.256 s) → r0, r1 finish;
    # it2 [2.356, 2.5): r2's other 44 (0.1 + 0.044 s) → finishes at 2.5. Makespan 0.5 s, 3 / 0.5 = 6 requests/s
    res = serve(spec(workload=_trace(tmp_path, "2.0,100,1\n2.0,100,1\n2.0,100,1\n")), cost=Stub(fixed=0.1),
                blocks=1000)
    s = res.report["serving"]
    assert s["offered_requests_per_s"] is None
    assert [r.finish for r in res.requests] == pytest.approx([2.356, 2.356, 2.5])
    assert s["makespan_s"] == pytest.approx(0.5) and s["requests_per_s"] == pytest.approx(6.0)


def test_throughput_never_exceeds_the_offered_load_at_low_load():
    # 4 requests at 0.2 requests/s (0, 5, 10, 15 s), each done in 0.2 + 3 × 0.11 = 0.53 s: the last finishes at
    # 15.53 s, before the end of the arrival window, 4 gaps of 5 s = 20 s. Offered (4 − 1) / 15 = 0.2 requests/s;
    # served 4 in the 20 s makespan = 0.2 (4 / 15.53 = 0.258 before)
    res = serve(spec(workload={"arrival": {"process": "constant", "rate": 0.2}, "requests": 4}),
                cost=Stub(fixed=0.1), blocks=1000)
    s = res.report["serving"]
    assert by_id(res)[3].finish == pytest.approx(15.53)
    assert s["offered_requests_per_s"] == pytest.approx(0.2) and s["makespan_s"] == pytest.approx(20.0)
    assert s["requests_per_s"] == pytest.approx(0.2) and s["output_tokens_per_s"] == pytest.approx(16 / 20)
    # 4 requests 0.1 s apart (window 0.4 s): the last finish comes after the window, and the makespan runs to it.
    # it1 [0, 0.2): r0's prefill; it2 [0.2, 0.51): r0's decode, r1's and r2's prefills (0.1 + 0.2 + 0.01);
    # it3 [0.51, 0.74): 3 decodes and r3's prefill; it4 [0.74, 0.88): 4 decodes, r0 done; it5 [0.88, 1.01): 3
    # decodes, r1 and r2 done; it6 [1.01, 1.12): r3 done. 4 in 1.12 s, below the 10 offered
    busy = serve(spec(workload={"arrival": {"process": "constant", "rate": 10}, "requests": 4}),
                 cost=Stub(fixed=0.1), blocks=1000).report["serving"]
    assert busy["makespan_s"] == pytest.approx(1.12) and busy["requests_per_s"] == pytest.approx(4 / 1.12)
    assert busy["offered_requests_per_s"] == pytest.approx(10.0)


def test_refused_requests_miss_the_slos_in_the_goodput_fraction_and_the_capacity_rule(tmp_path):
    # a trace of 4 requests, the last 600 + 4 tokens over max_model_len 512: refused; the other 3 (100 + 4) run
    # alone and meet a TTFT of 1 s (0.2 s each). 3 good of 4 requests: 0.75, not 3 of the 3 finished
    res = serve(spec(workload=_trace(tmp_path, "0,100,4\n1,100,4\n2,100,4\n3,600,4\n"), slo={"ttft": "1s"}),
                cost=Stub(fixed=0.1), blocks=1000)
    g = res.report["serving"]["goodput"]
    assert res.report["serving"]["rejected"] == 1 and g["good_requests"] == 3
    assert g["fraction"] == pytest.approx(0.75)
    assert dict(summary_rows(res.report))["goodput"].endswith("(75.0% meet TTFT <= 1s)")
    # a capacity goal of 90 % is not kept at this rate; 75 % is
    assert not passes(res, 0.9) and passes(res, 0.75)
    # the refused request's arrival counts in the window: 4 arrivals over 3 s, offered (4 − 1) / 3 = 1 request/s,
    # window 3 · 4 / 3 = 4 s; 3 finished in 4 s = 0.75 requests/s, all good: goodput 0.75 = fraction × offered
    # (over the 3 accepted alone: a 3 s window and 1 request/s, as if the refused one never came)
    s = res.report["serving"]
    assert s["offered_requests_per_s"] == pytest.approx(1.0) and s["makespan_s"] == pytest.approx(4.0)
    assert s["requests_per_s"] == pytest.approx(0.75) and g["requests_per_s"] == pytest.approx(0.75)


def test_a_refused_last_request_still_ends_the_arrival_window(tmp_path):
    # two rows 0.5 s apart, the second 600 + 4 tokens over max_model_len 512: refused. The first (100 + 4) runs
    # alone: 0.2 s prefill + 3 × 0.11 s decodes, done at 0.53 s. Offered: 2 arrivals over 0.5 s, (2 − 1) / 0.5 =
    # 2 requests/s; window 0.5 · 2 / 1 = 1 s; makespan max(0.53, 1) = 1 s: 1 request/s, goodput 1 request/s
    # (TTFT 0.2 s <= 1 s) and fraction 1 of 2. Over the accepted request alone it was 1 in 0.53 s = 1.89 requests/s
    # and no offered rate at all.
    res = serve(spec(workload=_trace(tmp_path, "0,100,4\n0.5,600,4\n"), slo={"ttft": "1s"}),
                cost=Stub(fixed=0.1), blocks=1000)
    s = res.report["serving"]
    assert s["rejected"] == 1 and by_id(res)[0].finish == pytest.approx(0.53)
    assert s["offered_requests_per_s"] == pytest.approx(2.0) and s["makespan_s"] == pytest.approx(1.0)
    assert s["requests_per_s"] == pytest.approx(1.0) and s["goodput"]["requests_per_s"] == pytest.approx(1.0)
    assert s["goodput"]["fraction"] == pytest.approx(0.5)
    assert s["replicas"][0]["busy_fraction"] == pytest.approx(0.53)


def test_a_static_batch_takes_the_queue_and_prefills_it_over_iterations(tmp_path):
    # five requests at 0 s and one at 0.05 s, 100 prompt + 3 output tokens, max_num_seqs 8, budget 256.
    # it1 [0, 0.306): the batch is all five queued (not the 2.56 prompts the budget takes); r0 100, r1 100, r2's
    #   first 56 (0.05 + 0.256 s): r0, r1 have their first tokens
    # it2 [0.306, 0.6): r2's other 44, r3 100, r4 100 (0.05 + 0.244 s); r0 and r1 wait for the batch's prefills
    # it3, it4: five decodes each (0.05 + 0.05 s): the batch finishes at 0.8 s; r5 waited for it (no admission into
    #   a running batch), then runs alone: prefill (0.05 + 0.1) and two decodes (0.06 each): 0.95, 1.01, 1.07 s
    stub = Stub(fixed=0.05)
    rows = "0,100,3\n" * 5 + "0.05,100,3\n"
    res = serve(spec(engine={"policy": "static"}, workload=_trace(tmp_path, rows)), cost=stub, blocks=1000)
    assert [c[:2] for c in stub.calls] == [(256, 0), (244, 0), (0, 5), (0, 5), (100, 0), (0, 1), (0, 1)]
    r = by_id(res)
    assert [r[i].first_token for i in range(5)] == pytest.approx([0.306, 0.306, 0.6, 0.6, 0.6])
    assert [r[i].finish for i in range(5)] == pytest.approx([0.8] * 5)
    assert (r[5].scheduled, r[5].finish) == pytest.approx((0.8, 1.07))
    # the batch is at most max_num_seqs (3 of the 6 here) and what the KV blocks hold: 100 prompt tokens take 7
    # blocks of 16, so 20 blocks hold 2 prompts (a third needs 21)
    for engine, blocks, first in (({"policy": "static", "max_num_seqs": 3}, 1000, 3), ({"policy": "static"}, 20, 2)):
        res = serve(spec(engine=engine, workload=_trace(tmp_path, rows)), cost=Stub(fixed=0.05), blocks=blocks)
        assert sum(1 for q in res.requests if q.scheduled == 0.0) == first


def test_a_workload_no_request_of_which_fits_is_one_line_at_the_limit(tmp_path):
    # fixed lengths of 100 + 4 tokens over max_model_len 100: no report of 3 refused requests, an error
    with pytest.raises(ConfigError, match=r"engine\.max_model_len: no request can be served: every request has 100 "
                                          r"prompt \+ 4 output tokens = 104"):
        serve(spec(engine={"max_model_len": 100}), cost=Stub(), blocks=1000)
    # uniform lengths whose least (600 + 4) is over 512 can never be served either
    with pytest.raises(ConfigError, match=r"engine\.max_model_len: .* the shortest request the workload can draw "
                                          r"has 600 prompt"):
        serve(spec(workload={"prompt_tokens": {"dist": "uniform", "low": 600, "high": 900}}), cost=Stub(),
              blocks=1000)
    # 104 tokens hold KV for 103 (the last sampled is never fed back): ⌈103 / 16⌉ = 7 blocks; engine.kv_blocks 6
    # holds none of them
    with pytest.raises(ConfigError, match=r"engine\.kv_blocks: .* 7 blocks of 16, more than a replica's 6"):
        serve(spec(engine={"kv_blocks": 6}), cost=Stub())
    # 6 blocks from memory hold none of them: raising gpu_memory_fraction is advice only below its maximum, 1
    for fraction, advice in ((0.9, "raise it, use more"), (1.0, "use more")):
        with pytest.raises(ConfigError, match=rf"engine\.gpu_memory_fraction: .* 7 KV blocks of 16, more than the 6 "
                                              rf"a replica's memory leaves after the weights \({advice} tensor "):
            serve(spec(engine={"gpu_memory_fraction": fraction}), cost=Stub(), blocks=6)
    # a trace whose every request is too long
    with pytest.raises(ConfigError, match=r"engine\.max_model_len: .* the shortest request of the trace has 600"):
        serve(spec(workload=_trace(tmp_path, "0,700,4\n1,600,4\n")), cost=Stub(), blocks=1000)
    # uniform prompts of 300 to 700 tokens, of which those up to 508 fit max_model_len 512 with their 4 output
    # tokens: each longer one is refused, the rest served
    res = serve(spec(workload={"prompt_tokens": {"dist": "uniform", "low": 300, "high": 700}, "requests": 40}),
                cost=Stub(), blocks=1000)
    s = res.report["serving"]
    assert s["rejected"] > 0 and s["finished"] > 0 and s["finished"] + s["rejected"] == 40
    assert all((q.prompt + q.output > 512) == q.refused for q in res.requests)


def test_a_max_model_len_past_the_models_context_is_noted():
    # Llama 2's context is 4,096 tokens (Touvron et al. 2023; config.json max_position_embeddings 4096): a request of
    # max_model_len 4,096 tokens stays within it (its last decode step at position 4,096); 8,192 does not
    assert _prepare(spec(engine={"max_model_len": 4096})).notes == []
    (note,) = _prepare(spec(engine={"max_model_len": 8192})).notes
    assert note.startswith("engine.max_model_len 8,192: llama2_7b: positions up to 8,192 exceed the model's "
                           "4,096-token context")
    res = serve(spec(engine={"max_model_len": 8192}), cost=Stub(), blocks=1000)
    assert res.report["notes"] == [note] and ("note", note) in summary_rows(res.report)


def test_disaggregated_replica_rows_add_up_to_the_totals():
    # 3 requests of 4 output tokens through 1 prefill and 1 decode replica: the prefill replica generated each first
    # token and finished none; the decode replica the other 3 tokens of each and finished all 3
    res = serve(spec(disaggregation={"prefill_replicas": 1, "decode_replicas": 1, "bandwidth": 524_288_000,
                                     "latency": 0}), cost=Stub(fixed=0.1), blocks=1000)
    s = res.report["serving"]
    rows = s["replicas"]
    assert [(x["role"], x["requests"], x["finished"], x["output_tokens"]) for x in rows] == [
        ("prefill", 3, 0, 3), ("decode", 3, 3, 9)]
    assert sum(x["finished"] for x in rows) == s["finished"] == 3
    assert sum(x["output_tokens"] for x in rows) == sum(q.generated for q in res.requests) == 12


def test_a_decode_beyond_the_larger_batchs_row_follows_its_last_segment():
    # rows: batch 1 over KV [10, 210] → [1.0, 3.0] s; batch 4 over KV [10, 110] → [2.0, 4.0] s (its KV capacity ends
    # at 110). Batch 2 at KV 160: batch 1's row gives 1 + 150/200·2 = 2.5; batch 4's row goes on at 0.02 s a token,
    # 4 + 50·0.02 = 5.0 (clamped, it gave 4.0); a third of the way from batch 1 to 4: 2.5 + (5.0 − 2.5)/3 = 3.333
    g = Grid([16], [1.0], [1.0], [1, 4], [[10, 210], [10, 110]], [[1.0, 3.0], [2.0, 4.0]])
    assert g.decode(2, 160) == pytest.approx(2.5 + 2.5 / 3)
    # within both rows, as before: batch 1 at KV 60 1 + 50/200·2 = 1.5, batch 4 2 + 50/100·2 = 3.0; 1.5 + 1.5/3
    assert g.decode(2, 60) == pytest.approx(2.0)
    assert g.decode(4, 160) == 4.0 and g.decode(1, 300) == 3.0  # a grid batch's own row is clamped


@pytest.mark.parametrize("arrival", [{"process": "poisson"}, {"process": "gamma", "cv": 2.0}])
def test_one_seed_draws_the_same_requests_at_every_rate(arrival):
    # common random numbers: each quantity has its own stream, so the requests' lengths and groups do not depend on
    # how many gaps the rate made the arrival stream draw (it drew ceil(20·rate)·1.2 + 50: 98, 242, 818 here), and
    # the gaps are the same standard draws times 1/rate (exponential and gamma scale with their scale parameter):
    # request i arrives at rate 2 at 16 times its time at rate 32, 4 times at rate 8, up to float rounding
    from accelsim.config.serving import RequestsConfig
    from accelsim.serving.requests import make_requests

    def draw(rate: float) -> list:
        return make_requests(RequestsConfig.model_validate({
            "arrival": {**arrival, "rate": rate}, "duration": "20s", "seed": 3,
            "prompt_tokens": {"dist": "uniform", "low": 200, "high": 400},
            "output_tokens": {"dist": "lognormal", "mean": 80, "std": 40},
            "shared_prefix": {"groups": 5, "tokens": 50}}))

    runs = {rate: draw(rate) for rate in (2.0, 8.0, 32.0)}
    n = min(len(r) for r in runs.values())
    assert n > 20 and len(runs[32.0]) > 4 * n / 2  # about 40, 160 and 640 requests
    base = [(r.prompt, r.output, r.group) for r in runs[2.0][:n]]
    for rate, reqs in runs.items():
        assert [(r.prompt, r.output, r.group) for r in reqs[:n]] == base
        assert [r.arrival * rate for r in reqs[:n]] == pytest.approx([r.arrival * 2.0 for r in runs[2.0][:n]],
                                                                      rel=1e-12, abs=1e-15)
    # and the mix is not one repeated request: the streams differ from one another
    assert len({p for p, _, _ in base}) > n // 2 and len({o for _, o, _ in base}) > 5


def test_kv_blocks_beyond_the_memory_get_a_note():
    # probe p74 #5: engine.kv_blocks past what the HBM holds ran without a word. LLaMA-2-7B in fp16 on one H100:
    # weights 6,738,415,616 params × 2 B = 13,476,831,232 B; a block 16 tokens × 524,288 B (2 × 32 layers × 4096 ×
    # 2 B) = 8,388,608 B; 0.9 × 80 GiB = 77,309,411,328 B hold ⌊(77,309,411,328 − 13,476,831,232) / 8,388,608⌋ =
    # 7,609 blocks. 7,610 of them with the weights need 7,610 × 8,388,608 + 13,476,831,232 = 77,314,138,112 B,
    # 4,726,784 B more; 7,609 fit (no note). The blocks are the run's as given either way
    at = _prepare(spec(engine={"kv_blocks": 7609}))
    assert at.blocks == 7609 and not [n for n in at.notes if n.startswith("engine.kv_blocks")]
    over = _prepare(spec(engine={"kv_blocks": 7610}))
    (note,) = [n for n in over.notes if n.startswith("engine.kv_blocks")]
    assert over.blocks == 7610
    assert "63,837,306,880 B of KV cache" in note and "(13,476,831,232 B a chip)" in note
    assert "4,726,784 B more than gpu_memory_fraction 0.9 of hbm's 85,899,345,920 B, which holds 7,609 blocks" in note
