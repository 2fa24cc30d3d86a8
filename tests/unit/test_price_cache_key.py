"""Cached prices and split estimates are keyed by everything a cost model reads, a weight's stored form included:
a run's numbers must not depend on what ran before it in the same process."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from accelsim.api import simulate
from accelsim.builders import build_workload
from accelsim.ir import Weight
from accelsim.mapping.pricing import signature

DECODE = {"model": "llama2_7b", "phase": "decode", "kv_len": 512, "batch": 64, "layers": 1, "dtype": "bf16",
          "weight_dtype": "int4"}


def _cycles(group: int) -> dict[str, int]:
    rep = simulate({**DECODE, "quant_group_size": group}, "h100").to_dict()
    return {o["name"]: o["compute_cycles"] for o in rep["ops"]}


def test_a_quantisation_group_size_is_part_of_an_ops_signature():
    # the same linear with its int4 weight in groups of 1 and of 8,192: 4096 x 4096 scales against 4096 x 1, so
    # different bytes, so different signatures (it keyed on the weights' shapes only)
    op = next(o for o in build_workload("llama2_7b", {"layers": 1, "phase": "decode", "kv_len": 8}) if o.weights
              and len(o.weights[0].shape) == 2)
    ops = [dataclasses.replace(op, weights=(Weight("w", (4096, 4096), dtype="int4", group_size=g),))
           for g in (1, 8192)]
    assert ops[0].weights[0].nbytes("bf16") != ops[1].weights[0].nbytes("bf16")
    assert signature(ops[0]) != signature(ops[1])


def test_a_run_after_another_gives_a_fresh_process_numbers():
    # int4 weights with one scale per element (group 1) against one per 8,192 (a row's worth): the GPU GEMM's price
    # reads the weights' bytes, so the two differ; run second in this process, group 8,192 must give what a fresh
    # process gives
    first = _cycles(1)
    after = _cycles(8192)
    assert first != after  # the two price differently, so a shared cache would show
    code = ("import json, sys; sys.path.insert(0, '.'); from tests.unit.test_price_cache_key import _cycles; "
            "print(json.dumps(_cycles(8192)))")
    root = Path(__file__).resolve().parents[2]  # the repo: the child imports this module from there
    fresh = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                      cwd=root).stdout)
    assert after == fresh
