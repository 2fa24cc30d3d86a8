"""The typed report.json schema (accelsim.report.schema) against real reports of every kind the builder makes: a
CNN, an LLM serving run with decode steps, a training step, a pipeline-parallel run, a DLRM with split embedding
tables. Every key a report holds is declared, every required key is there, every value has its declared type."""

from __future__ import annotations

import copy
import typing

import pytest

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.report import schema

RUNS = {
    "cnn": ("lenet5", [], "gemmini"),
    "serving": ("llama2_7b", ["phase=decode", "kv_len=32", "decode_steps=2"], "tpu-v4"),
    "training": ("resnet18", ["mode=training", "optimizer=momentum"], "tpu-v1"),
    "pipeline": ("gpt", ["layers=4", "hidden=256", "heads=4", "seq_len=64", "pipeline_parallel=2",
                         "micro_batches=2", "mode=training"], "dgx-a100"),
    "tables": ("dlrm_mlperf", [], "tpu-v4"),
}


@pytest.fixture(scope="module")
def reports() -> dict[str, dict]:
    return {kind: simulate(load_workload(model, sets), arch).to_dict() for kind, (model, sets, arch) in RUNS.items()}


@pytest.mark.parametrize("kind", list(RUNS))
def test_real_reports_conform(reports, kind):
    report = reports[kind]
    assert schema.problems(report) == []
    hints = typing.get_type_hints(schema.ReportDict)
    assert set(report) <= set(hints) and schema.ReportDict.__required_keys__ <= set(report)
    extra = {"serving": "serving", "training": "phases", "pipeline": "pipeline", "tables": "tables"}.get(kind)
    assert extra is None or extra in report  # each run exercises its optional part of the schema


def test_every_op_row_is_declared(reports):
    ops = reports["serving"]["ops"]
    assert {op["phase"] for op in ops} == {"decode"}  # serving tags each op with its pass
    for op in ops:
        assert set(op) <= set(typing.get_type_hints(schema.Op)) and schema.Op.__required_keys__ <= set(op)


def test_problems_name_the_key(reports):
    rep = copy.deepcopy(reports["cnn"])
    rep["surprise"] = 1  # edited: an undeclared key
    del rep["total_cycles"]  # edited: a required key missing
    rep["ops"][0]["macs"] = "many"  # edited: a value of the wrong type
    rep["levels"][0]["role"] = "disk"  # edited: a role that is not one of the three
    found = schema.problems(rep)
    assert "report.surprise: not declared in ReportDict" in found
    assert "report.total_cycles: missing" in found
    assert "report.ops[0].macs: expected an integer, got str" in found
    assert any(p.startswith("report.levels[0].role: 'disk' is not one of") for p in found)
    assert len(found) == 4


def test_the_first_memory_level_is_the_main_memory(reports):
    report = reports["pipeline"]  # dgx-a100: the scratchpad, an L2 cache, HBM, host memory
    roles = [lv["role"] for lv in schema.levels(report)]
    assert roles == ["scratchpad", "cache", "memory", "memory"]
    assert schema.main_memory(report) == schema.memory_levels(report)[0] == report["levels"][2]["name"]
