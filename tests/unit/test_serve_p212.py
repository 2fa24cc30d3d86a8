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
    # B; 32 layers x 2 x 8 KV heads x 128 x 2 B = 131,072 B a token. vLLM budgets gpu_memory_utilization 0.9 of
    # cudaMemGetInfo's total, which is 45,589 MiB on an L40S (torch.cuda.get_device_properties: total_memory=45589MB;
    # PyTorch's OOM "total capacity of 44.52 GiB"; arch/l40s.yaml cites them), so usable_fraction = 45,589 / 49,152:
    # (0.9 x 45,589 x 2^20 - 16,060,522,496) / (16 x 131,072) = (43,023,178,137.6 - 16,060,522,496) / 2,097,152
    # = 12,856.8 -> 12,856 blocks. Probe p223 #3 changed this from 13,072 (nvidia-smi's memory.total, 46,068 MiB,
    # which counts 479 MiB the driver keeps); the datasheet's 48 GiB gave (46,385,646,796.8 - 16,060,522,496) /
    # 2,097,152 = 14,460.1 -> 14,460
    engine = EngineConfig(gpu_memory_fraction=0.9, block_size=16)
    l40s = load_arch("l40s")
    assert l40s.memory(l40s.main_memory).usable == 45_589 * 2**20
    assert kv_blocks(LLAMA3_8B, l40s, engine) == 12_856
    hbm = l40s.memory(l40s.main_memory).model_copy(update={"usable_fraction": 1.0})  # without it: 48 GiB
    assert hbm.usable == hbm.capacity == 48 * 2**30
    # an arch without the key keeps its capacity: h100's 80 GiB, (0.9 x 80 x 2^30 - weights) / 2,097,152 = 29,205.7
    h100 = load_arch("h100")
    assert h100.memory(h100.main_memory).usable_fraction == 1
    assert kv_blocks(LLAMA3_8B, h100, engine) == 29_205


LLAMA2_7B = Footprint(weight_bytes=6_738_415_616 * 2, kv_bytes_per_token=32 * 2 * 32 * 128 * 2)


@pytest.mark.parametrize(("set_capacity", "blocks"), [
    # the preset's 48 GiB: (0.9 x 45,589 x 2^20 - 13,476,831,232) / (16 x 524,288) = 3,522.2 (was 3,576 from 46,068)
    (None, 3_522),
    # 96 GiB x 45,589 / 49,152 = 91,178 MiB: (0.9 x 91,178 x 2^20 - 13,476,831,232) / 8,388,608 = 8,650.9; the
    # absolute usable_capacity kept 3,576 whatever the capacity (probe p223 #1)
    ("96GiB", 8_650),
    # 24 GiB, an L4-class variant: 22,794.5 MiB; 0.9 x 23,901,765,632 - 13,476,831,232 = 8,034,757,836.8 B,
    # / 8,388,608 = 957.8 -> 957 (the absolute key refused every command here, probe p223 #2)
    ("24GiB", 957),
])
def test_the_usable_share_follows_a_changed_capacity(tmp_path, set_capacity, blocks):
    # LLaMA-2-7B: 6,738,415,616 parameters x 2 B; 32 layers x 2 x 32 heads x 128 x 2 B = 524,288 B a token
    base = tmp_path / "variant.yaml"
    base.write_text("base: l40s\nname: variant\n" + (f"hbm:\n  capacity: {set_capacity}\n" if set_capacity else ""))
    arch = load_arch(str(base))
    assert kv_blocks(LLAMA2_7B, arch, EngineConfig(gpu_memory_fraction=0.9, block_size=16)) == blocks


def test_a_base_l40s_variant_under_45_gib_still_runs(tmp_path, monkeypatch):
    # probe p223 #2: an l40s-based 24 GiB arch was refused by accelsim run, blamed on arch/l40s.yaml's key
    monkeypatch.chdir(tmp_path)
    (tmp_path / "l4.yaml").write_text("base: l40s\nname: l4-like\nhbm:\n  capacity: 24GiB\n  bandwidth: 300GB/s\n")
    assert main(["run", "-w", "gemm", "-a", "l4.yaml", "-o", "out", "--no-plots", "-q"]) == 0


def test_usable_fraction_is_a_share_of_a_memory():
    with pytest.raises(ValidationError, match="usable_fraction"):
        Level(capacity="48GiB", usable_fraction=1.2, bandwidth="864GB/s")
    with pytest.raises(ValidationError, match="usable_fraction"):
        Level(capacity="48GiB", usable_fraction=0, bandwidth="864GB/s")
    with pytest.raises(ValidationError, match="usable_fraction: a cache holds no tensors"):
        Level(role="cache", capacity="96MiB", usable_fraction=0.9, bandwidth="1TB/s")
