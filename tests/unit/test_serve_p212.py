"""Probe p212: a request's KV at the capacity boundary (the last sampled token is never fed back, so a request of
prompt + output tokens holds KV for prompt + output − 1 at most, as the engine and vLLM V1's ``allocate_slots``
allocate it), and a note where ``workload.requests`` asks for more rows than a trace has."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.config.serving import EngineConfig
from accelsim.errors import ConfigError
from accelsim.hardware import Level
from accelsim.serving import _peak_blocks, serve
from accelsim.serving.cost import Footprint, kv_blocks

from .test_serve import Stub, spec
from .test_serve_load import _trace

LONG = {"max_model_len": 1024}


def test_a_request_holds_kv_for_all_but_its_last_token():
    # 500 + 13 = 513 tokens: the last decode computes token 512 (511 computed + 1 new), ⌈512 / 16⌉ = 32 blocks,
    # not ⌈513 / 16⌉ = 33; 500 + 14 reaches 513 tokens of KV, ⌈513 / 16⌉ = 33
    s = spec(engine=LONG)
    assert _peak_blocks(s, None, 500 + 13) == 32
    assert _peak_blocks(s, None, 500 + 14) == 33
    assert _peak_blocks(s, None, 16 + 1) == 1  # 16 tokens of KV fill one block exactly


def test_the_report_case_runs_in_exactly_its_blocks():
    # the probe's case: 3 requests of 500 + 13 in 32 blocks of 16 were refused as a whole run; each runs, one at a
    # time (a second needs ⌈500 / 16⌉ = 32 more blocks), its last decode filling all 32 blocks: peak KV 1.0
    res = serve(spec(engine=LONG, workload={"prompt_tokens": {"dist": "fixed", "value": 500},
                                            "output_tokens": {"dist": "fixed", "value": 13}}),
                cost=Stub(fixed=0.1), blocks=32)
    s = res.report["serving"]
    assert (s["finished"], s["rejected"], s["preemptions"]) == (3, 0, 0)
    assert s["kv_cache_utilization"]["max"] == 1.0
    # one token more needs 33 blocks: no request can be served, an error naming both figures
    with pytest.raises(ConfigError, match=r"engine\.kv_blocks: no request can be served: every request has 500 "
                                          r"prompt \+ 14 output tokens = 514, KV for 513 .*: 33 blocks of 16, more "
                                          r"than a replica's 32"):
        serve(spec(engine={**LONG, "kv_blocks": 32}, workload={"prompt_tokens": {"dist": "fixed", "value": 500},
                                                               "output_tokens": {"dist": "fixed", "value": 14}}),
              cost=Stub())


def test_a_trace_refuses_only_the_request_past_the_boundary(tmp_path):
    # rows 500 + 13 (32 blocks: runs) and 500 + 14 (33 blocks: refused at arrival)
    res = serve(spec(engine=LONG, workload=_trace(tmp_path, "0,500,13\n1,500,14\n")), cost=Stub(), blocks=32)
    assert [q.refused for q in res.requests] == [False, True]
    assert res.report["serving"]["finished"] == 1 and res.report["serving"]["rejected"] == 1


def test_requests_beyond_a_traces_rows_are_noted(tmp_path):
    # requests: 5 on a trace of 2 rows runs the 2, and says so; requests: 2 (all it has) or 1 needs no note
    for asked, note in ((5, True), (2, False), (1, False)):
        workload = {**_trace(tmp_path, "0,100,4\n1,100,4\n"), "requests": asked}
        res = serve(spec(workload=workload), cost=Stub(), blocks=1000)
        assert res.report["serving"]["requests"] == min(asked, 2)
        noted = [n for n in res.report["notes"] if n.startswith("workload.requests")]
        assert noted == (["workload.requests 5: the trace holds only 2 rows, so the run has 2 requests, not 5"]
                         if note else [])


def test_the_note_names_where_requests_was_set(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens\n0,100,4\n1,100,4\n")
    assert main(["serve", "llama2_7b_h100", "-q", "--no-plots", "-o", "out", "--set", "workload.arrival.trace=t.csv",
                 "--set", "workload.duration=null", "--set", "workload.requests=5", "--set",
                 "workload.shared_prefix=null", "--set", "engine.kv_blocks=1000", "--set", "cost.batch_ratio=64"]) == 0
    notes = json.loads((tmp_path / "out" / "report.json").read_text())["notes"]
    assert "workload.requests 5 (--set): the trace holds only 2 rows, so the run has 2 requests, not 5" in notes


# ---- probe p212 #2: the memory the driver reports ---------------------------------------------------------------

LLAMA3_8B = Footprint(weight_bytes=8_030_261_248 * 2, kv_bytes_per_token=32 * 2 * 8 * 128 * 2)


def test_l40s_kv_blocks_come_from_the_memory_the_driver_reports():
    # Llama-3-8B: 8,030,261,248 parameters (its model card's 8.03B; the safetensors' count) in bf16 = 16,060,522,496
    # B; 32 layers x 2 x 8 KV heads x 128 x 2 B = 131,072 B a token. An L40S reports memory.total 46,068 MiB
    # (nvidia-smi; ECC keeps 1/16 of its 48 GiB), and vLLM budgets gpu_memory_utilization 0.9 of that:
    # (0.9 x 46,068 x 2^20 - 16,060,522,496) / (16 x 131,072) = (43,475,219,251.2 - 16,060,522,496) / 2,097,152
    # = 13,072.3 -> 13,072 blocks; the datasheet's 48 GiB gave (46,385,646,796.8 - 16,060,522,496) / 2,097,152 =
    # 14,460.1 -> 14,460, 10.6 % more than the card holds
    engine = EngineConfig(gpu_memory_fraction=0.9, block_size=16)
    l40s = load_arch("l40s")
    assert l40s.memory(l40s.main_memory).usable == 46_068 * 2**20
    assert kv_blocks(LLAMA3_8B, l40s, engine) == 13_072
    hbm = l40s.memory(l40s.main_memory).model_copy(update={"usable_capacity": None})  # without it: 48 GiB
    assert hbm.usable == hbm.capacity == 48 * 2**30
    # an arch without the key keeps its capacity: h100's 80 GiB, (0.9 x 80 x 2^30 - weights) / 2,097,152 = 29,205.7
    h100 = load_arch("h100")
    assert h100.memory(h100.main_memory).usable_capacity is None
    assert kv_blocks(LLAMA3_8B, h100, engine) == 29_205


def test_usable_capacity_is_at_most_the_capacity_of_a_memory():
    with pytest.raises(ValidationError, match="usable_capacity: 50GiB is more than the level's capacity"):
        Level(capacity="48GiB", usable_capacity="50GiB", bandwidth="864GB/s")
    with pytest.raises(ValidationError, match="usable_capacity: a cache holds no tensors"):
        Level(role="cache", capacity="96MiB", usable_capacity="90MiB", bandwidth="1TB/s")
