"""Multi-turn conversations in ``accelsim serve`` (``workload.conversation``), on hand-computed cases with the stub
iteration cost of tests/unit/test_serve.py: each turn's prompt is the conversation so far plus its new tokens, the
next turn arrives ``think_time`` after the answer, and with prefix caching the history's full KV blocks are served
from the cache."""

from __future__ import annotations

import pytest

from accelsim.errors import ConfigError
from accelsim.serving import serve

from .test_serve import Stub, spec


def conversation(turns: int = 3, new: int = 100, caching: bool = True, **over):
    workload = {"requests": 1, "prompt_tokens": {"dist": "fixed", "value": new},
                "conversation": {"turns": {"dist": "fixed", "value": turns}, "think_time": "1s"}}
    return spec(workload={**workload, **over.pop("workload", {})}, engine={"prefix_caching": caching}, **over)


def test_each_turn_prefills_only_what_the_cache_does_not_hold():
    # Stub: 0.1 s + 1 ms a prefill token + 10 ms a decode; 100 new tokens and 4 output tokens a turn; 16-token blocks.
    # Turn 0 (arrives at 0): 100 tokens, 0.2 s (TTFT); 3 decodes of 0.11 s: done at 0.53 s with KV for 103 tokens,
    # whose 6 full blocks (96 tokens) stay cached. Turn 1 arrives 1 s later, 1.53 s: prompt 104 + 100 = 204, 96 of
    # them cached: 108 prefilled in 0.208 s, done at 1.53 + 0.208 + 0.33 = 2.068 s with KV for 207 tokens: 12 full
    # blocks (192). Turn 2 at 3.068 s: prompt 208 + 100 = 308, 192 cached: 116 prefilled in 0.216 s, done 3.614 s.
    res = serve(conversation(), cost=Stub(fixed=0.1), blocks=1000)
    turns = sorted(res.requests, key=lambda r: r.turn)
    assert [r.prompt for r in turns] == [100, 204, 308]
    assert [r.cached_tokens for r in turns] == [0, 96, 192]
    assert [r.arrival for r in turns] == pytest.approx([0.0, 1.53, 3.068])
    assert [r.first_token - r.arrival for r in turns] == pytest.approx([0.2, 0.208, 0.216])
    assert turns[-1].finish == pytest.approx(3.614)
    c = res.report["serving"]["conversations"]
    assert (c["conversations"], c["turns"], c["history_tokens"], c["cached_history_tokens"]) == (1, 3, 104 + 208, 288)
    assert c["later_turn_ttft_s"]["mean"] == pytest.approx(0.212)


def test_without_prefix_caching_every_turn_prefills_its_whole_history():
    # Turn 1 prefills all 204 tokens (0.304 s), turn 2 all 308: 256 at the token budget (0.356 s), then 52 (0.152 s)
    res = serve(conversation(caching=False), cost=Stub(fixed=0.1), blocks=1000)
    turns = sorted(res.requests, key=lambda r: r.turn)
    assert [r.cached_tokens for r in turns] == [0, 0, 0]
    assert [r.first_token - r.arrival for r in turns] == pytest.approx([0.2, 0.304, 0.356 + 0.152])
    assert res.report["serving"]["conversations"]["cached_history_fraction"] == 0.0


def test_a_turn_too_long_for_the_model_ends_its_conversation():
    # 200 new tokens and 4 output tokens a turn, max_model_len 512: turns of 204 and 408 (+ 4) tokens run; the third,
    # 408 + 200 = 608 tokens, is refused at arrival and the fourth never arrives
    res = serve(conversation(turns=4, new=200), cost=Stub(), blocks=1000)
    s = res.report["serving"]
    assert (s["requests"], s["finished"], s["rejected"]) == (3, 2, 1)
    assert sorted(r.turn for r in res.requests) == [0, 1, 2]
    assert s["conversations"]["turns"] == 3


def test_a_conversation_stays_on_its_replica():
    # two replicas in turn: conversation 0 starts on replica 0, conversation 1 (a second later) on replica 1, and each
    # one's later turns follow it whatever round robin's turn is
    res = serve(conversation(replicas=2, workload={"requests": 2}), cost=Stub(), blocks=1000)
    by_conversation = {}
    for r in res.requests:
        by_conversation.setdefault(r.conversation, set()).add(r.replica)
    assert by_conversation == {0: {0}, 1: {1}}


def test_requests_csv_has_the_conversation_and_turn(tmp_path):
    res = serve(conversation(), cost=Stub(), blocks=1000)
    res.save(tmp_path)
    header, *rows = (tmp_path / "requests.csv").read_text().splitlines()
    assert header.endswith(",conversation,turn")
    assert [r.split(",")[-2:] for r in rows] == [["0", "0"], ["0", "1"], ["0", "2"]]


@pytest.mark.parametrize("over, key", [
    ({"workload": {"requests": 1, "conversation": {"turns": {"dist": "trace"}}}}, "workload.conversation.turns"),
    ({"workload": {"requests": 1, "shared_prefix": {"groups": 2, "tokens": 10},
                   "conversation": {"turns": {"dist": "fixed", "value": 2}}}}, "workload.conversation"),
    ({"workload": {"requests": 1, "conversation": {"turns": {"dist": "fixed", "value": 2}, "think_time": "-1s"}}},
     "workload.conversation.think_time"),
    ({"workload": {"requests": 1, "conversation": {"turns": {"dist": "fixed", "value": 2}}},
      "disaggregation": {"prefill_replicas": 1, "decode_replicas": 1}}, "disaggregation"),
])
def test_bad_conversation_settings_are_one_line_errors(over, key):
    with pytest.raises(ConfigError) as e:
        spec(**over)
    (line,) = str(e.value).splitlines()
    assert f" {key}:" in line


def test_a_turn_swapped_out_and_back_still_leaves_its_history_cached():
    # two conversations of 3 turns on 14 blocks: conversation 1's second turn (74 prompt + 81 output tokens; its
    # first turn's 22 + 38 - 1 = 59 computed tokens left 3 full blocks, 48 tokens, cached) is preempted once.
    # Swapped back in it holds private copies of its conversation's 3 cached blocks; when it finishes, its own 9 full
    # blocks (74 + 81 - 1 = 154 computed tokens) replace them, so the third turn starts with 144 tokens cached, as it
    # does when the turn was recomputed instead
    for pre in ("recompute", "swap"):
        res = serve(spec(engine={"preemption": pre, "prefix_caching": True},
                         workload={"requests": 2, "seed": 37, "arrival": {"process": "constant", "rate": 10},
                                   "prompt_tokens": {"dist": "uniform", "low": 10, "high": 60},
                                   "output_tokens": {"dist": "uniform", "low": 2, "high": 120},
                                   "conversation": {"turns": {"dist": "fixed", "value": 3}, "think_time": "0s"}}),
                    cost=Stub(), blocks=14)
        turns = {(r.conversation, r.turn): r for r in res.requests}
        assert (turns[1, 0].prompt, turns[1, 0].output, turns[1, 1].cached_tokens) == (22, 38, 48)
        assert (turns[1, 1].prompt, turns[1, 1].output, turns[1, 1].preemptions) == (74, 81, 1)
        assert turns[1, 2].cached_tokens == 144
        pool = res.replicas[0].pool
        assert pool.free + pool.evictable == pool.total


def test_requests_csv_is_in_arrival_order_and_a_refused_turn_has_no_replica(tmp_path):
    # two conversations a second apart, 4 turns of 200 new tokens: each conversation's third turn (608 tokens) is
    # refused by max_model_len 512; rows by arrival interleave the conversations
    res = serve(conversation(turns=4, new=200, workload={"requests": 2}), cost=Stub(), blocks=1000)
    res.save(tmp_path)
    header, *rows = (tmp_path / "requests.csv").read_text().splitlines()
    cols = header.split(",")
    arrivals = [float(r.split(",")[cols.index("arrival_s")]) for r in rows]
    assert arrivals == sorted(arrivals) and len(rows) == 6
    refused = [r.split(",") for r in rows if not r.split(",")[cols.index("finish_s")]]
    assert len(refused) == 2 and all(r[cols.index("replica")] == "" for r in refused)
