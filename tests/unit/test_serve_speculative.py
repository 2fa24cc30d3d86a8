"""Speculative decoding in ``accelsim serve``: the engine's draft tokens and their acceptance on hand-computed
cases (a stub iteration cost, as tests/unit/test_serve.py), the acceptance sampler against Leviathan et al. 2023's
distribution, the iteration and draft-model costs on a hand-made grid, and the KV blocks left beside a draft model."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from accelsim.errors import ConfigError
from accelsim.serving import serve
from accelsim.serving.cost import Grid
from accelsim.serving.requests import Request
from accelsim.serving.speculative import Acceptor, draft_cost, expected_tokens

from .test_serve import spec


class Stub:
    """Iteration seconds = 0.1 + 0.001 per prefill token + 0.01 per decode + 0.001 per draft; records the drafts."""

    def __init__(self):
        self.drafts: list[int] = []

    def __call__(self, p, d, kv, scores=0, drafts=0):
        self.drafts.append(drafts)
        return 0.1 + 0.001 * p + 0.01 * d + 0.001 * drafts


def one_request(alpha: float, tokens: int = 3, output: int = 9):
    stub = Stub()
    s = spec(workload={"requests": 1, "output_tokens": {"dist": "fixed", "value": output}},
             speculative={"method": "ngram", "num_tokens": tokens, "acceptance_rate": alpha})
    return serve(s, cost=stub, blocks=1000), stub


def test_every_draft_accepted_samples_the_drafts_and_one_more_token_a_step():
    # 9 output tokens, 3 drafts a step, all accepted. The prefill of 100 tokens (0.1 + 0.1 = 0.2 s) gives token 1;
    # a decode verifies its token and min(3, 9 - 1 - 1) = 3 drafts and samples 4 tokens (0.1 + 0.01 + 0.003 =
    # 0.113 s): tokens 2-5; the next, min(3, 9 - 5 - 1) = 3 drafts: tokens 6-9. End-to-end 0.2 + 2 x 0.113 = 0.426 s
    # (without drafts 0.2 + 8 x 0.11 = 1.08 s)
    res, stub = one_request(1.0)
    (r,) = res.requests
    assert r.finish - r.arrival == pytest.approx(0.426)
    assert stub.drafts == [0, 3, 3]
    sp = res.report["serving"]["speculative"]
    assert (sp["verifications"], sp["drafted_tokens"], sp["accepted_tokens"]) == (2, 6, 6)
    assert sp["tokens_per_verification"] == 4.0 and sp["draft_acceptance"] == 1.0
    # TPOT: (0.426 - 0.2) / 8 tokens after the first
    assert res.report["serving"]["tpot_s"]["mean"] == pytest.approx(0.226 / 8)


def test_no_draft_accepted_samples_one_token_a_step_and_still_pays_the_drafts():
    # alpha 0: each decode keeps no draft, so 8 decodes after the prefill, as without speculation; the decode after
    # g tokens verifies min(3, 9 - g - 1) drafts: 3, 3, 3, 3, 3, 2, 1, 0 (the last token needs none)
    res, stub = one_request(0.0)
    assert stub.drafts == [0, 3, 3, 3, 3, 3, 2, 1, 0]
    (r,) = res.requests
    assert r.finish - r.arrival == pytest.approx(0.2 + 8 * 0.11 + 0.001 * 18)
    sp = res.report["serving"]["speculative"]
    assert (sp["verifications"], sp["drafted_tokens"], sp["accepted_tokens"]) == (7, 18, 0)


def test_the_acceptance_sampler_follows_the_geometric_law():
    # P(i drafts kept) = alpha^i (1 - alpha) for i < d, alpha^d for all d (Leviathan et al. 2023, Sec. 3.1, with
    # independent acceptances); at alpha 0.6, d 4: 0.4, 0.24, 0.144, 0.0864, 0.1296; mean 0.6 + 0.36 + 0.216 +
    # 0.1296 = 1.3056. 200,000 draws: each share's standard error is below 0.0011
    acc, req, n = Acceptor(0.6, seed=0, replica=0), Request(0, 0.0, 1, 1), 200_000
    counts = Counter(acc(req, 4) for _ in range(n))
    for i, p in enumerate([0.4, 0.24, 0.144, 0.0864, 0.1296]):
        assert counts[i] / n == pytest.approx(p, abs=0.005)
    assert sum(i * c for i, c in counts.items()) / n == pytest.approx(1.3056, abs=0.01)
    assert expected_tokens(0.6, 4) == pytest.approx(1 + 1.3056)  # the drafts kept and the model's own token
    assert expected_tokens(1.0, 4) == 5.0
    one, two, other = Acceptor(0.6, 0, 0), Acceptor(0.6, 0, 0), Acceptor(0.6, 0, 1)
    draws = [one(req, 4) for _ in range(1000)]
    assert draws == [two(req, 4) for _ in range(1000)]  # the same seed and replica: the same counts
    assert draws != [other(req, 4) for _ in range(1000)]  # another replica's stream


def test_a_run_is_the_same_on_the_same_seed_and_its_acceptance_near_the_rate():
    def run(seed: int):
        s = spec(workload={"requests": 40, "output_tokens": {"dist": "fixed", "value": 200}, "seed": seed},
                 speculative={"method": "ngram", "num_tokens": 4, "acceptance_rate": 0.6})
        return serve(s, cost=Stub(), blocks=1000).report["serving"]

    a, b = run(0), run(0)
    assert a == b
    # drafts are capped only near each request's end, so the mean tokens a verification samples is near
    # (1 - 0.6^5) / 0.4 = 2.3056
    assert a["speculative"]["tokens_per_verification"] == pytest.approx(2.3056, abs=0.05)
    assert run(1)["speculative"]["accepted_tokens"] != a["speculative"]["accepted_tokens"]


def _grid() -> Grid:
    # one-sequence prefills P1 = 1, 2, 4 s at 16, 32, 64 tokens; two halves P2 = 0.9, 1.8, 3.6 s: attention
    # A = 2 (P1 - P2) = 0.2, 0.4, 0.8 s, the rest L = P1 - A = 0.8, 1.6, 3.2 s; decodes of 1 and 8 sequences at KV
    # 16 and 512
    return Grid([16, 32, 64], [1.0, 2.0, 4.0], [0.9, 1.8, 3.6], [1, 8], [[16, 512], [16, 512]],
                [[0.5, 0.6], [0.7, 0.9]])


def test_verified_drafts_add_token_wise_work_to_the_iteration():
    g = _grid()
    # decodes only: D(8, 16) + L(8 + 24) - L(8) = 0.7 + 1.6 - 0.8 (L below 16 tokens clamped to L(16))
    assert g.iteration(0, 8, 8 * 16, 0, 24) == pytest.approx(0.7 + 1.6 - 0.8)
    assert g.iteration(0, 8, 8 * 16, 0, 8) == pytest.approx(0.7)  # 16 tokens: still L(16), weight-bound
    # with a prefill of 16 tokens (256 scores) the prefill keeps its own attention: max(P(16 + 8, 256) + D(8, 16) -
    # L(8), D(8, 16)) + L(32) - L(24); L(24) = 1.2 and A(24) = 0.3 between the grid points, and D(8, 16) = 0.7 is
    # below L(8) = L(16) = 0.8 (the decodes add no attention beyond their pass), so 1.2 + 0.3 x 256 / 24² + 0.4
    # (probe p184 #1 changed the rule from P + D(8, 16) - D(8, 16); the same figure on this grid)
    assert g.iteration(16, 8, 8 * 16, 256, 8) == pytest.approx(1.2 + 0.3 * 256 / 576 + 0.4)
    assert g.iteration(16, 8, 8 * 16, 256, 0) == g.iteration(16, 8, 8 * 16, 256)
    # more drafts never cost less (a 1-token chunk after 3000 cached tokens beside one decode)
    costs = [g.iteration(1, 1, 600, 3001, d) for d in range(0, 64)]
    assert all(b >= a for a, b in zip(costs, costs[1:], strict=False))


def test_a_draft_model_runs_over_the_iterations_tokens_then_proposes_the_rest():
    cost = draft_cost(_grid())
    # 8 decodes drafting 4 each (32): one pass over the iteration (8 decodes at KV 16: D(8, 16) = 0.7) and 32 / 8 -
    # 1 = 3 decode steps of the 8
    assert cost(0, 8, 8 * 16, 0, 32, 8) == pytest.approx(4 * 0.7)
    # 4 of the 8 drafting 2 each: the pass, then one step of 4 sequences, D(4, 16) = 0.5 + 3/7 x 0.2
    assert cost(0, 8, 8 * 16, 0, 8, 4) == pytest.approx(0.7 + 0.5 + 3 / 7 * 0.2)
    # no decode drafting: nothing but the draft's own pass over prefill chunks (its KV cache)
    assert cost(0, 8, 8 * 16, 0, 0, 0) == 0.0
    assert cost(16, 0, 0, 256, 0, 0) == pytest.approx(1.0)


def test_a_draft_model_shares_the_memory_and_each_kv_block():
    # LLaMA-2-7B fp16: 6,738,415,616 params = 13,476,831,232 B, KV 2 x 32 layers x 4096 x 2 B = 524,288 B a token.
    # The draft, LLaMA-2-7B cut to 2 layers: the table and head 2 x 32000 x 4096 = 262,144,000, the final norm 4096,
    # 2 layers of 4 x 4096² + 3 x 4096 x 11008 + 2 x 4096 = 202,383,360: 666,914,816 params = 1,333,829,632 B;
    # KV 2 x 2 x 4096 x 2 = 32,768 B a token. h100: 80 GiB, 0.9 of it for the engine
    s = spec(speculative={"method": "draft", "num_tokens": 4, "acceptance_rate": 0.7},
             draft_model={"model": "llama2_7b", "layers": 2})
    res = serve(s, cost=Stub())
    room = 80 * 2**30 * 0.9 - 13_476_831_232 - 1_333_829_632
    assert res.report["kv_blocks_per_replica"] == math.floor(room / (16 * (524_288 + 32_768)))
    assert res.report["draft_model"]["params"]["layers"] == 2


@pytest.mark.parametrize("over, key", [
    ({"draft_model": "llama2_7b"}, "draft_model"),
    ({"speculative": {"method": "draft", "num_tokens": 2, "acceptance_rate": 0.5}}, "speculative.method"),
    ({"speculative": {"method": "ngram", "num_tokens": 2, "acceptance_rate": 0.5}, "draft_model": "llama2_7b"},
     "draft_model"),
    ({"speculative": {"method": "ngram", "num_tokens": 33, "acceptance_rate": 0.5}}, "speculative.num_tokens"),
    ({"speculative": {"method": "ngram", "num_tokens": 2, "acceptance_rate": -0.1}}, "speculative.acceptance_rate"),
    ({"speculative": {"method": "draft", "num_tokens": 2, "acceptance_rate": 0.5}, "draft_model": "resnet50"},
     "draft_model"),
])
def test_bad_speculative_settings_are_one_line_errors(over, key):
    with pytest.raises(ConfigError) as e:
        spec(**over)
    (line,) = str(e.value).splitlines()
    assert f" {key}: " in line


def test_the_sweep_table_has_the_tokens_a_verification_sampled():
    from accelsim.serving.curve import CURVE_COLUMNS, curve_rows

    res, _ = one_request(1.0)  # 2 verifications of 3 drafts, all kept: 4 tokens each
    plain = serve(spec(workload={"requests": 1}), cost=Stub(), blocks=1000)
    rows = [dict(zip(CURVE_COLUMNS, r, strict=True)) for r in curve_rows(["on", "off"], [res, plain])]
    assert rows[0]["tokens_per_verification"] == 4.0 and rows[1]["tokens_per_verification"] is None


def test_a_draft_models_errors_name_it(tmp_path):
    from accelsim.serving import check

    # GPT-2 has 1,024 positions: the engine's max_model_len of 512 in spec() fits, 4096 does not
    draft = {"method": "draft", "num_tokens": 2, "acceptance_rate": 0.5}
    with pytest.raises(ConfigError) as e:
        check(spec(engine={"max_model_len": 4096}, speculative=draft, draft_model="gpt2"))
    (line,) = str(e.value).splitlines()
    assert " draft_model: kv_len:" in line and "max_model_len 4096" in line
    # LLaMA-2-70B's 137,953,296,384 B of fp16 weights beside LLaMA-2-7B's leave no room in 0.9 x 80 GiB: the draft's
    with pytest.raises(ConfigError) as e:
        check(spec(speculative=draft, draft_model="llama2_70b"))
    (line,) = str(e.value).splitlines()
    assert " draft_model: with the draft model's weights" in line
    # another key's mistake is reported alone, not as a draft model that does not belong
    with pytest.raises(ConfigError) as e:
        spec(speculative={**draft, "acceptance_rate": 1.5}, draft_model={"model": "llama2_7b", "layers": 2})
    (line,) = str(e.value).splitlines()
    assert " speculative.acceptance_rate:" in line


def test_compare_shows_the_tokens_a_verification_only_when_a_report_has_them():
    from accelsim.report.compare import compare_rows

    res, _ = one_request(1.0)  # 4 tokens a verification (the hand count above)
    plain = serve(spec(workload={"requests": 1}), cost=Stub(), blocks=1000)
    rows = dict(compare_rows([("spec", res.report), ("plain", plain.report)]))
    assert rows["serving.speculative.tokens_per_verification"] == [4.0, None]
    assert "serving.conversations.later_turn_ttft_s.p50" not in rows  # neither has conversations
    assert "serving.speculative.tokens_per_verification" not in dict(compare_rows([("plain", plain.report)]))


# a two-layer Mamba-1 LM (MambaConfig's fields; small sizes): a recurrent state of 64·(8 + 3) elements a layer
TINY_MAMBA = {"model": "hf", "name": "tiny_mamba", "layers": 2, "config": {
    "architectures": ["MambaForCausalLM"], "hidden_size": 32, "num_hidden_layers": 2, "vocab_size": 512,
    "state_size": 8, "expand": 2, "conv_kernel": 4}}


def test_speculative_decoding_is_refused_for_a_model_with_recurrent_state():
    # a rejected draft leaves the state advanced past the last kept token; the state cache holds one state a
    # sequence, as prefix caching's refusal (docs/serving.md, "Not modelled")
    from accelsim.config.serving import load_serving
    from accelsim.serving import check

    def spec(model, **over):  # test_serve's file with its model replaced
        return load_serving({**base, "model": model, **over})

    base = {"name": "t", "arch": "h100",
            "engine": {"max_num_seqs": 8, "max_num_batched_tokens": 256, "max_model_len": 512, "block_size": 16},
            "workload": {"arrival": {"process": "constant", "rate": 1}, "prompt_tokens": {"dist": "fixed", "value": 100},
                         "output_tokens": {"dist": "fixed", "value": 4}, "requests": 3}}
    ngram = {"method": "ngram", "num_tokens": 2, "acceptance_rate": 0.5}
    with pytest.raises(ConfigError, match=r"^<input>: speculative: not modelled for tiny_mamba's recurrent layers") as e:
        check(spec(TINY_MAMBA, speculative=ngram))
    assert len(str(e.value).splitlines()) == 1
    check(spec(TINY_MAMBA))  # without speculation the same file runs
    # a recurrent draft model for an attention-only model: the draft's state is the one not kept
    with pytest.raises(ConfigError, match=r"^<input>: draft_model: not modelled for tiny_mamba's recurrent layers"):
        check(spec({"model": "llama2_7b", "layers": 1}, draft_model=TINY_MAMBA,
                   speculative={**ngram, "method": "draft"}))
