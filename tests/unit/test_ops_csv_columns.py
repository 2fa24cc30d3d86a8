"""docs/architecture.md's table of ops.csv columns against the real writer, both ways (probe p86 #6): every column
:func:`accelsim.report.writers.write_ops_csv` writes for a CNN on tpu-v1, an LLM decode on h100 and a training step
is documented (a ``<level>`` pattern stands for each memory level), in the documented order, and every documented
column is written for the runs (or, for the conditional ones, for a report with their condition); and a zero-work
row's ``bound`` follows the documented rule."""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path

import pytest

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.report import writers

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"

RUNS = {
    "cnn": ("resnet50", [], "tpu-v1"),
    "decode": ("llama2_7b", ["phase=decode", "kv_len=32", "decode_steps=2"], "h100"),
    "training": ("gpt", ["layers=4", "hidden=256", "heads=4", "seq_len=64", "pipeline_parallel=2",
                         "micro_batches=2", "mode=training"], "dgx-a100"),
}


def documented() -> list[str]:
    """The column names (patterns with ``<level>``) of the doc's ops.csv table, in its order."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index("**ops.csv columns**")
    table = text[text.index("| column | value |", start):]
    table = table[:table.index("\n\n")]
    names = []
    for line in table.splitlines()[2:]:
        names += re.findall(r"`([^`]+)`", line.split(" | ")[0])
    return names


def pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name).replace(re.escape("<level>"), "[a-z0-9_]+") + r"\Z")


def match(column: str, names: list[str]) -> int | None:
    """The index of the documented name ``column`` is (an exact name before a pattern: ``stall_cycles``)."""
    if column in names:
        return names.index(column)
    hits = [i for i, n in enumerate(names) if "<level>" in n and pattern(n).match(column)]
    return hits[0] if len(hits) == 1 else None


@pytest.fixture(scope="module")
def reports() -> dict[str, dict]:
    return {kind: simulate(load_workload(model, sets), arch).to_dict() for kind, (model, sets, arch) in RUNS.items()}


def header(report: dict, path: Path) -> list[str]:
    with writers.write_ops_csv(report, path).open(newline="") as f:
        return next(csv.reader(f))


def test_every_written_column_is_documented_in_order(reports, tmp_path):
    names = documented()
    assert len(names) == len(set(names))
    for kind, report in reports.items():
        columns = header(report, tmp_path / f"{kind}.csv")
        where = [match(c, names) for c in columns]
        assert None not in where, (kind, [c for c, i in zip(columns, where, strict=True) if i is None])
        assert where == sorted(where), kind  # the table's order


def test_every_documented_column_is_written(reports, tmp_path):
    written = {c for kind, report in reports.items() for c in header(report, tmp_path / f"{kind}.csv")}
    # the runs' own conditional columns: a decode run's phase and count, a pipeline's stage, h100 GEMMs' fixed cycles
    assert {"phase", "count", "stage", "fixed_cycles"} <= written
    # the others, from a CNN report given their conditions: an op with N:M pruned weights, a folded ring step
    cnn = copy.deepcopy(reports["cnn"])
    conv = next(op for op in cnn["ops"] if op["kind"] == "conv")
    conv["mapping"] = {**conv["mapping"], "sparsity": {"pattern": "2:4", "skips_zeros": True}, "ring_repeat": 2}
    with writers.write_ops_csv(cnn, tmp_path / "cond.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    written |= set(rows[0])
    row = next(r for r in rows if r["name"] == conv["name"])
    assert (row["sparsity"], row["ring_repeat"]) == ("2:4 skipped", "2")
    for name in documented():
        assert any(pattern(name).match(c) for c in written), name
    # the per-level patterns: one column per level of the CNN's arch (tpu-v1: sram, its accumulators (probe p279
    # #1: core.systolic.accumulator_sram), hbm, host; its memory levels hbm and host have bandwidths)
    cnn_columns = header(reports["cnn"], tmp_path / "cnn.csv")
    assert [c for c in cnn_columns if c.startswith("bytes_")] == ["bytes_sram", "bytes_accumulators", "bytes_hbm",
                                                                   "bytes_host"]
    assert [c for c in cnn_columns if c.startswith("stall_") and c != "stall_cycles"] == ["stall_hbm", "stall_host"]
    assert [c for c in cnn_columns if c.startswith("achieved_bytes_per_s_")] == [
        "achieved_bytes_per_s_hbm", "achieved_bytes_per_s_host"]


def test_zero_work_rows_are_bound_none(reports):
    ops = reports["cnn"]["ops"]
    for op in ops:
        idle = op["unit"] == "none" or (not op["compute_cycles"] and not any(op["bytes"].values()))
        assert (op["bound"] == "none") == idle, op["name"]
    # ResNet-50 (torchvision): the stem's relu and the two inside each of its 16 bottlenecks follow a conv and fuse
    # into its epilogue (no cycles, no bytes): 1 + 2 x 16 = 33 rows of bound none; the 16 after the residual adds
    # run on the vector unit (compute); every batch norm (1 + 3 x 16 + 4 downsample = 53) folds into its conv
    relus = [op for op in ops if op["fn"] == "relu"]
    assert sum(op["bound"] == "none" for op in relus) == 1 + 2 * 16
    assert sum(op["bound"] == "compute" for op in relus) == 16
    assert sum(op["bound"] == "none" and op["fn"] == "batchnorm" for op in ops) == 1 + 3 * 16 + 4
