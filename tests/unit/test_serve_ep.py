"""A serving replica with expert parallelism is its tensor × expert-parallel chips: every rank's KV blocks and
energy, each iteration priced on its busiest rank (probe p58)."""

from __future__ import annotations

import pytest

from accelsim.config.serving import load_serving
from accelsim.energy import constants
from accelsim.errors import ConfigError
from accelsim.serving import Meter, check, rank_share, serve
from accelsim.serving.cost import Grid


def test_an_expert_parallel_iteration_is_priced_on_its_busiest_rank():
    calls = []

    def cost(*args):
        calls.append(args)
        return 1.0

    # 8 ranks share 100 prefill tokens, 10 decodes with KV sum 1,000 (mean 100) and 5,000 scores:
    # ⌈100/8⌉ = 13, ⌈10/8⌉ = 2 decodes with KV sum 2 × 100 = 200 (the mean kept), ⌈5000/8⌉ = 625
    rank_share(cost, 8)(100, 10, 1000, 5000)
    rank_share(cost, 8)(100, 0, 0)
    assert calls == [(13, 2, 200, 625), (13, 0, 0, None)]
    assert rank_share(cost, 1) is cost


def _ep_spec(**model):
    return load_serving({
        "name": "ep", "model": {"base": "mixtral_8x7b", "expert_parallel": 8, **model}, "arch": "dgx-h100",
        "engine": {"max_num_seqs": 2, "max_num_batched_tokens": 256, "max_model_len": 512, "block_size": 16},
        "workload": {"arrival": {"process": "constant", "rate": 1}, "prompt_tokens": {"dist": "fixed", "value": 64},
                     "output_tokens": {"dist": "fixed", "value": 2}, "requests": 16}})


def test_an_expert_parallel_replica_holds_every_ranks_kv_and_limits():
    seen = []

    def cost(p, d, kv, scores=None):
        seen.append((p, d))
        return 0.001

    r = serve(_ep_spec(), cost=cost, blocks=100).report
    # each of the 8 ranks holds its own sequences' KV: 8 × 100 blocks; the replica admits 8 × 2 sequences
    assert r["kv_blocks_per_replica"] == 800
    # 16 requests at 1/s of 64 prompt tokens: each iteration's prefill of 64 priced on one rank's ⌈64/8⌉ = 8
    assert max(p for p, _ in seen) == 8
    assert r["serving"]["finished"] == 16


def test_an_expert_parallel_replicas_energy_counts_all_its_chips():
    spec = _ep_spec()
    # every shape's joules 10 (one sequence or two: no attention share), so any iteration's are 10 J on a chip
    grid = Grid([32, 64], [1.0, 1.0], [1.0, 1.0], [1], [[16, 64]], [[0.1, 0.1]],
                prefill_j=[10.0, 10.0], prefill2_j=[10.0, 10.0], decode_j=[[10.0, 10.0]])
    meter = Meter(grid.joules(), grid.iteration, ranks=8)
    step = meter.of(0)
    step(64, 0, 0, 64 * 64)
    step(0, 2, 130)
    out = meter.account(spec, [object()], {"makespan_s": 2.0, "finished": 1}, [])  # type: ignore[list-item]
    c = constants(spec.arch, spec.model.params.get("dtype"))
    assert c is not None
    # 2 iterations × 10 J on each of the replica's 1 (TP) × 8 (EP) chips, all 8 drawing static power for 2 s
    assert out["energy"]["chips"] == out["power"]["chips"] == 8
    assert out["energy"]["busy_j"] == pytest.approx(2 * 10.0 * 8)
    assert out["energy"]["static_j"] == pytest.approx(c.static_total * 8 * 2.0)
    # tensor parallelism 2 × EP 8: 16 chips
    assert Meter(grid.joules(), grid.iteration, ranks=8).account(
        _ep_spec(tensor_parallel=2), [object()], {"makespan_s": 2.0, "finished": 1}, [])["energy"]["chips"] == 16  # type: ignore[list-item]


# ---- probe p258 #1, #3: each expert-parallel rank is its own engine (its KV blocks, sequences and token budget) ----

def _ranks_spec(ep: int, seqs: int, budget: int, prompt: int, output: int, requests: int, rate: float = 1000.0,
                **engine):
    return load_serving({
        "name": "ep", "model": {"base": "mixtral_8x7b", "expert_parallel": ep}, "arch": "dgx-h100",
        "engine": {"max_num_seqs": seqs, "max_num_batched_tokens": budget, "max_model_len": 2048, "block_size": 16,
                   **engine},
        "workload": {"arrival": {"process": "constant", "rate": rate},
                     "prompt_tokens": {"dist": "fixed", "value": prompt},
                     "output_tokens": {"dist": "fixed", "value": output}, "requests": requests}})


def test_a_request_takes_its_kv_blocks_on_one_rank():
    # EP 2, 5 blocks of 16 a rank. A request of 48 + 1 tokens keeps KV for 48 (the last token sampled is never fed
    # back): ⌈48/16⌉ = 3 blocks; two on one rank would need 2 × 3 = 6 > 5, so each rank runs one: 2 sequences at
    # most, though the replica's 2 × 5 = 10 blocks would take 3 × 3 = 9 (the pooled engine ran 3 at once). The 6
    # requests arrive 1 ns apart, so all but the first wait for the second iteration
    res = serve(_ranks_spec(2, 4, 256, 48, 1, 6, rate=1e9), cost=lambda *a: 0.001, blocks=5)
    r = res.report
    assert r["kv_blocks_per_replica"] == 10
    assert r["serving"]["finished"] == 6
    assert max(res.replicas[0].samples.running) == 2
    assert max(res.replicas[0].samples.used) == 2 * 3  # one request's 3 blocks on each rank


def test_a_long_prompt_is_prefilled_within_its_ranks_token_budget():
    # EP 2, max_num_batched_tokens 256 a rank: one prompt of 1,000 tokens lands on one rank, so it is prefilled in
    # chunks of 256, 256, 256 and 1,000 − 3 × 256 = 232 (4 iterations, not 2 of the replica's 2 × 256 = 512), each
    # priced as the grid's pass at ⌈chunk / 2⌉ (rank_share): 128, 128, 128, 116; then its second token's decode
    seen = []

    def cost(p, d, kv, scores=None):
        seen.append((p, d))
        return 0.001

    res = serve(_ranks_spec(2, 4, 256, 1000, 2, 1), cost=cost, blocks=1000)
    assert seen == [(128, 0), (128, 0), (128, 0), (116, 0), (0, 1)]
    (req,) = res.requests
    assert req.first_token - req.arrival == pytest.approx(4 * 0.001)  # 4 iterations of 1 ms to the first token


def test_requests_go_to_the_rank_with_fewest_running_then_the_lowest_index():
    # 3 requests 1 ns apart on EP 2 (blocks, sequences and budget to spare). The first iteration (t = 0) has the
    # first alone: rank 0, its 200-token prompt priced at ⌈200/2⌉ = 100. At the next (t = 1 ms) the second goes to
    # rank 1 (0 running there, 1 on rank 0) and the third to rank 0 (1 running on each: the lowest index); rank 0
    # decodes the first's token and prefills 200, rank 1 prefills 200: 400 prefill tokens and 1 decode, priced
    # ⌈400/2⌉ = 200 and ⌈1/2⌉ = 1
    seen = []

    def cost(p, d, kv, scores=None):
        seen.append((p, d))
        return 0.001

    res = serve(_ranks_spec(2, 4, 256, 200, 2, 3, rate=1e9), cost=cost, blocks=1000)
    assert [q.rank for q in sorted(res.requests, key=lambda q: q.id)] == [0, 1, 0]
    assert seen[:2] == [(100, 0), (200, 1)]


def test_the_no_request_error_under_ep_names_one_ranks_blocks():
    # probe p258 #3: 64 + 2 tokens keep KV for 65: ⌈65/16⌉ = 5 blocks, more than a rank's 4; the replica holds
    # 8 × 4 = 32 (report.json's kv_blocks_per_replica), so "a replica's 4" misled
    with pytest.raises(ConfigError) as e:
        check(_ranks_spec(8, 2, 256, 64, 2, 4, kv_blocks=4))
    (line,) = str(e.value).splitlines()
    assert line.endswith("5 blocks of 16, more than one expert-parallel rank's 4 (the replica holds 8 × 4 = 32) "
                         "(got 4)"), line


def test_the_iteration_floor_counts_every_expert_parallel_rank():
    # probe p262 #2: the floor options.memory_budget is checked against took one rank's limits, though each rank is
    # an engine of its own (above) and the ranks step together. EP 2, max_num_seqs 2 a rank, 4 requests of 16 + 3
    # tokens 1 ns apart: 12 output tokens; an iteration samples at most 2 ranks × min(256, 2 × 1) = 4 of them, so
    # the floor is ⌈12 / 4⌉ = 3 (one rank's 2 gave ⌈12 / 2⌉ = 6). The run: iteration 1 prefills the first alone
    # (its token 1; the rest arrive after it starts); 2 decodes it (token 2) and prefills the other three, 1 to rank 1,
    # 2 to rank 0 (1 running on each: the lowest index), 3 to rank 1 (token 1 each); 3 decodes all four (the first
    # ends at token 3); 4 decodes the other three (token 3): 4 iterations, above 3 and below the old 6
    from accelsim.serving import iteration_floor
    from accelsim.serving.engine import ITERATION_BYTES
    from accelsim.serving.requests import make_requests

    def spec(budget=None):
        doc = {"name": "ep", "model": {"base": "mixtral_8x7b", "expert_parallel": 2}, "arch": "dgx-h100",
               "engine": {"max_num_seqs": 2, "max_num_batched_tokens": 256, "max_model_len": 2048, "block_size": 16},
               "workload": {"arrival": {"process": "constant", "rate": 1e9},
                            "prompt_tokens": {"dist": "fixed", "value": 16},
                            "output_tokens": {"dist": "fixed", "value": 3}, "requests": 4}}
        return load_serving({**doc, "options": {"memory_budget": budget}} if budget else doc)

    s = spec()
    assert iteration_floor(s, make_requests(s.serve.workload), 1000) == (3, 12, 4)
    res = serve(s, cost=lambda *a: 0.001, blocks=1000)
    assert res.replicas[0].iterations == 4
    # the 4 iterations the run keeps (4 × 128 B = 512 B) fit a 512 B budget; the old floor asked for 6 × 128 = 768
    assert ITERATION_BYTES == 128
    check(spec(4 * ITERATION_BYTES))
    serve(spec(4 * ITERATION_BYTES), cost=lambda *a: 0.001, blocks=1000)
    # below the floor's 3 × 128 = 384 B the refusal counts both ranks
    with pytest.raises(ConfigError) as e:
        check(spec(383))
    (line,) = str(e.value).splitlines()
    assert ("4 requests generate 12 output tokens, at most 4 an iteration (1 a sequence, engine.max_num_seqs = 2, on "
            "each of expert_parallel = 2 ranks stepping together): at least 3 iterations, which need 384 B") in line, line
