"""Whisper under ``accelsim serve`` (probe p97 #1-#4): a per-request encoder pass, the cross-attention K/V each
request holds, max_model_len at the model's learned positions, GPT-2's decode_steps limit."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders.transformer import Gpt2Params
from accelsim.config import load_arch, load_workload
from accelsim.config.serving import EngineConfig, load_serving
from accelsim.serving import serve
from accelsim.serving.cost import Grid, footprint, longest_decode
from accelsim.serving.engine import Replica
from accelsim.serving.requests import Request


def test_whisper_cross_cache_is_held_per_request():
    # Whisper base: 6 decoder layers, d_model 512, 1500 encoder positions, fp16 (2 B):
    # cross K/V = 6 × 2 (K and V) × 1500 × 512 × 2 B = 18,432,000 B; self K/V a token = 6 × 2 × 512 × 2 = 12,288 B
    engine = EngineConfig(max_num_seqs=8, max_model_len=448, max_num_batched_tokens=448, block_size=16)
    fp = footprint(load_workload("whisper_base"), load_arch("h100"), engine)
    assert fp.kv_bytes_per_token == 6 * 2 * 512 * 2
    assert fp.cross_bytes_per_seq == 6 * 2 * 1500 * 512 * 2
    assert fp.state_bytes_per_seq == 0
    # a block is 16 tokens × 12,288 B = 196,608 B: 18,432,000 / 196,608 = 93.75 -> 94 = ⌈1500 / 16⌉
    assert fp.cross_blocks(16) == 94


def test_decoder_only_model_holds_no_cross_cache():
    engine = EngineConfig(max_num_seqs=8, max_model_len=1024, block_size=16)
    fp = footprint(load_workload("gpt2"), load_arch("h100"), engine)
    assert fp.cross_bytes_per_seq == 0 and fp.cross_blocks(16) == 0


def test_longest_decode_at_the_learned_positions():
    # a request of max_model_len tokens decodes its last token at position max_model_len - 1 (kv_len 447 for 448)
    whisper = load_workload("whisper_base")
    assert longest_decode(whisper, EngineConfig(max_model_len=448, max_num_batched_tokens=2048)) == 447
    assert longest_decode(load_workload("gpt2"), EngineConfig(max_model_len=1024)) == 1023
    # a model without a position limit keeps max_model_len (its grid as before)
    assert longest_decode(load_workload("llama2_7b"), EngineConfig(max_model_len=4096)) == 4096


def _grid() -> Grid:
    # P₁(n) = W(1) + 1 ms + 1 µs·n (no attention), P₂(n) = W(2) + 1 ms + 1 µs·n; W(m) = 1 ms + 0.5 ms·(m - 1)
    w = {1: 1e-3, 2: 1.5e-3, 8: 4.5e-3}
    tokens = [16, 32]
    return Grid(tokens, [w[1] + 1e-3 + 1e-6 * n for n in tokens], [w[2] + 1e-3 + 1e-6 * n for n in tokens],
                [1, 8], [[16, 32], [16, 32]], [[1e-4, 2e-4], [3e-4, 4e-4]],
                request_s=[w[1], w[2], w[8]], request_sequences=[1, 2, 8])


def test_grid_takes_the_encoder_out_of_the_prefill():
    g = _grid()
    # the decoder part of 32 tokens: P₁(32) - W(1) = 1 ms + 32 µs; A = 2·((P₁ - W1) - (P₂ - W2)) = 0
    assert g.prefill(32, 32 * 32) == pytest.approx(1e-3 + 32e-6)
    # 4 requests' encoders: W(2) + (4 - 2)/(8 - 2)·(W(8) - W(2)) = 1.5 + 1/3·3 = 2.5 ms
    assert g.requests(4) == pytest.approx(2.5e-3)
    assert g.requests(0) == 0.0
    # beyond the grid's last prefill (several sequences of max_model_len): along the last segment, 1 µs a token
    assert g.prefill(64, 2 * 32 * 32) == pytest.approx(1e-3 + 64e-6)
    # a mixed iteration, 4 prompt tokens beside 8 decodes at KV 16: the decoder's pass of 12 tokens (clamped to 16,
    # 1 ms + 16 µs) plus the decodes' step less one sequence's at KV 16, D(8, 16) − D(1, 16) = 0.3 − 0.1 ms: W(1)
    # holds one decoder pass (probe p184 #1 changed the decoder-only models' rule to − L(b) and kept this one:
    # docs/serving.md, "Encoder-decoder models")
    assert g.iteration(4, 8, 8 * 16, 16) == pytest.approx(1e-3 + 16e-6 + 3e-4 - 1e-4)


def test_replica_charges_each_new_request_one_encoder_pass():
    engine = EngineConfig(max_num_seqs=8, max_num_batched_tokens=64, max_model_len=448, block_size=16)
    passes: list[int] = []

    def encoders(n: int) -> float:
        passes.append(n)
        return 1e-3 * n

    rep = Replica(0, engine, 1000, lambda *a: 0.0, encode_requests=encoders, held=lambda t, c: -(-t // 16) + 94)
    reqs = [Request(id=i, arrival=0.0, prompt=4, output=3) for i in range(5)]
    rep.waiting.extend(reqs)
    seconds = rep.schedule(0.0)
    assert passes == [5]  # all five prefills start together: one iteration, five encoder passes
    assert seconds == pytest.approx(5e-3 + engine.step_overhead)
    assert all(r.blocks == 1 + 94 for r in reqs)  # ⌈4 / 16⌉ self blocks + the 94 cross blocks
    rep.complete(seconds, [])
    rep.schedule(seconds)  # decodes: no encoder
    assert passes == [5]
    rep._preempt(reqs[-1])  # recompute drops its KV, cross K/V included: it encodes again
    assert rep.pool.free == 1000 - 4 * 95
    rep.complete(2 * seconds, [])
    rep.schedule(2 * seconds)
    assert passes == [5, 1]


def _budgeted(budget: int, n: int) -> tuple[Replica, list[int], list[Request]]:
    # vLLM V1 (vllm/v1/core/encoder_cache_manager.py compute_mm_encoder_budget): the encoder budget is
    # max(max_num_encoder_input_tokens or max_num_batched_tokens, the largest item's tokens); Whisper's audio is
    # max_source_positions = 1500 tokens (vllm/model_executor/models/whisper.py get_num_audio_tokens)
    engine = EngineConfig(max_num_seqs=8, max_num_batched_tokens=2048, max_model_len=448, block_size=16)
    passes: list[int] = []

    def encoders(m: int) -> float:
        passes.append(m)
        return 1e-3 * m  # 1 ms a request's encoder pass

    rep = Replica(0, engine, 10_000, lambda *a: 0.0, encode_requests=encoders, held=lambda t, c: -(-t // 16) + 94,
                  encoder_budget=budget, audio_tokens=1500)
    reqs = [Request(id=i, arrival=0.0, prompt=4, output=3) for i in range(n)]
    rep.waiting.extend(reqs)
    return rep, passes, reqs


def test_encoder_budget_starts_one_whisper_request_an_iteration():
    # probe p168 #1: vLLM V1's _try_schedule_encoder_inputs gives an encoder-decoder request at position 0 no tokens
    # when EncoderDecoderCacheManager.can_allocate fails (its 1500 audio tokens > the budget left), so with
    # max_num_batched_tokens 2048 the budget max(2048, 1500) = 2048 takes ⌊2048 / 1500⌋ = 1 request's pass a step
    rep, passes, reqs = _budgeted(max(2048, 1500), 3)
    now, ends, used = 0.0, [], []
    for _ in range(3):
        seconds = rep.schedule(now)
        used.append(rep.pool.used)
        now += seconds
        ends.append(now)
        rep.complete(now, [])
    assert passes == [1, 1, 1]  # one encoder pass (1 ms) an iteration, not three in the first
    # the iterations cost nothing but the encoder: request k's first token ends iteration k + 1, at (k + 1) ms
    assert ends == pytest.approx([1e-3, 2e-3, 3e-3])
    assert [r.first_token for r in reqs] == pytest.approx([1e-3, 2e-3, 3e-3])
    # a waiting request takes no KV blocks: iteration k holds k requests' ⌈4 / 16⌉ + 94 = 95 blocks
    assert used == [95, 2 * 95, 3 * 95]


def test_a_larger_encoder_budget_starts_more_requests():
    # max_num_encoder_input_tokens 3000 = 2 × 1500: two passes an iteration (5 requests: 2, 2, 1)
    rep, passes, _ = _budgeted(3000, 5)
    now = 0.0
    for _ in range(3):
        now += rep.schedule(now)
        rep.complete(now, [])
    assert passes == [2, 2, 1]


def test_gpt2_decode_steps_past_its_positions():
    Gpt2Params(seq_len=1, decode_steps=1023)  # the last step at kv_len 1 + 1023 - 1 = 1023 < 1024
    with pytest.raises(ValidationError, match="(?s)decode_steps.*at most 1023 with seq_len 1:"):
        Gpt2Params(seq_len=1, decode_steps=1024)
    with pytest.raises(ValidationError, match="at most 24 with seq_len 1000"):  # 1024 - 1000
        Gpt2Params(seq_len=1000, decode_steps=500)


@pytest.mark.parametrize(("extra", "per_iteration"), [({}, 1), ({"max_num_encoder_input_tokens": 3000}, 2)])
def test_serve_applies_the_encoder_budget_to_whisper_audio(extra, per_iteration):
    # probe p168 #1 end to end: 4 requests arrive together (10 µs apart, before the first iteration ends). With
    # max_num_batched_tokens 2048 the budget is max(2048, 1500) = 2048: one 1500-token audio pass an iteration, so
    # the requests start in iterations 1, 2, 3, 4; with max_num_encoder_input_tokens 3000, two: iterations 1, 2, 2, 3
    # (request 0 is alone when iteration 1 starts). Each request's 3 output tokens then take 2 decode iterations.
    doc = {"name": "t", "model": {"model": "whisper_base"}, "arch": "h100",
           "engine": {"max_num_seqs": 8, "max_num_batched_tokens": 2048, "max_model_len": 448, "block_size": 16,
                      **extra},
           "workload": {"arrival": {"process": "constant", "rate": 100_000}, "requests": 4,
                        "prompt_tokens": {"dist": "fixed", "value": 4}, "output_tokens": {"dist": "fixed", "value": 3}}}
    res = serve(load_serving(doc))
    (rep,) = res.replicas
    started = [1, 2, 3, 4] if per_iteration == 1 else [1, 2, 2, 3]
    assert rep.iterations == started[-1] + 2
    # request k's first token comes at the end (start + seconds) of iteration started[k]
    ends = [start + seconds for start, seconds, *_ in rep.samples]
    assert [r.first_token for r in res.requests] == pytest.approx([ends[i - 1] for i in started])
    # every request's own encoder ran once, in W(1) passes (one request) or W(2) (two)
    w = dict(zip(res.report["iteration_cost"]["request_sequences"], res.report["iteration_cost"]["request_s"],
                 strict=False))
    assert rep.request_encoder_s == pytest.approx(4 * w[1] if per_iteration == 1 else w[1] * 2 + w[2])
