"""The busiest ops of a training step: the console's top-ops table and op_cycles.png rank ops by their own busy
cycles (``compute_cycles``), not by their start-to-end span, which for an optimizer step is mostly waiting.

The run: a ResNet-18 training step with momentum SGD, batch 4, on tpu-v1 (as tests/integration/test_training_run.py
builds one). Its optimizer steps wait for the weight memory (34 GB/s DDR3) and so span the longest, while the
convolutions keep the 256×256 array busiest.
"""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.report.console import top_ops_table
from accelsim.report.plots import op_bars

# conv1 (7×7/2, 3 → 64 channels, 224² input, batch 4) on tpu-v1's 256×256 ws array, SCALE-Sim's model
# (docs/architecture.md): M = 4·112·112 = 50,176, N = 64, K = 7·7·3 = 147; (S_r, S_c, T) = (K, N, M) = one fold;
# τ = 2R + C + T − 2 = 512 + 256 + 50,176 − 2 = 50,942; cycles = 1·1·τ − 1 = 50,941.
CONV1_CYCLES = 2 * 256 + 256 + 4 * 112 * 112 - 2 - 1


@pytest.fixture(scope="module")
def step() -> dict:
    wl = load_workload("resnet18", ["mode=training", "optimizer=momentum", "batch=4"])
    return simulate(wl, "tpu-v1").to_dict()


def _phase(op: dict) -> str | None:
    return op["mapping"].get("phase")


def test_the_run_is_the_case_of_the_defect(step):
    ops = step["ops"]
    longest = max(ops, key=lambda op: op["end_cycle"] - op["start_cycle"])
    assert _phase(longest) == "optimizer"  # by span an optimizer step would head the table
    optimizer_max = max(op["compute_cycles"] for op in ops if _phase(op) == "optimizer")
    busier = [op for op in ops if _phase(op) in ("forward", "backward") and op["compute_cycles"] > optimizer_max]
    assert len(busier) >= 10  # but at least ten forward/backward ops keep a unit busier than any optimizer step


def test_top_ops_table_has_no_optimizer_step(step):
    table = top_ops_table(step, n=10)
    names = list(table.columns[0].cells)
    phase = {op["name"]: _phase(op) for op in step["ops"]}
    assert len(names) == 10 and all(phase[n] in ("forward", "backward") for n in names)
    assert names[0] == "conv1" and list(table.columns[3].cells)[0] == f"{CONV1_CYCLES:,}"
    busy = [int(c.replace(",", "")) for c in table.columns[3].cells]
    assert busy == sorted(busy, reverse=True)
    assert "busy cycles" in table.title


def test_op_cycles_plot_shows_the_busiest_first(step):
    shown, rest = op_bars(step["ops"])
    assert len(shown) == 40 and len(rest) == len(step["ops"]) - 40  # 263 ops: the 40 busiest and an "other" bar
    optimizer_max = max(op["compute_cycles"] for op in step["ops"] if _phase(op) == "optimizer")
    leaders = [op for op in shown if op["compute_cycles"] > optimizer_max]
    assert shown[: len(leaders)] == leaders and len(leaders) >= 10  # the busier convs come before any step
    assert shown[0]["name"] == "conv1" and shown[0]["compute_cycles"] == CONV1_CYCLES
