"""The energy parts `accelsim compare` and a sweep's metrics list add up to the total (docs/energy.md:
``total_j`` = ``dynamic_j`` + ``activity_j`` + ``static_j``), on a GPU preset whose activity term is a large share."""

from __future__ import annotations

import csv
import json
import textwrap

import pytest

import accelsim
from accelsim.cli import main
from accelsim.sweep.runner import run_sweep

GEMM = {"model": "gemm", "m": 512, "n": 512, "k": 512}


def test_compare_lists_activity_energy_and_the_parts_add_up(tmp_path, capsys):
    dirs = []
    for dtype in ("bf16", "fp16"):
        out = tmp_path / dtype
        accelsim.simulate({**GEMM, "dtype": dtype}, "a100").save(out, plots=False)
        dirs.append(str(out))
    assert main(["compare", *dirs, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    for label in ("bf16", "fp16"):
        total, dyn = metrics["energy.total_j"][label], metrics["energy.dynamic_j"][label]
        act, static = metrics["energy.activity_j"][label], metrics["energy.static_j"][label]
        # a100's activity_power_share 0.589 of (400 W TDP - 61 W idle) while busy: the largest part of a short GEMM
        assert act > dyn and act > 0.1 * total
        assert dyn + act + static == pytest.approx(total, rel=1e-9)
    assert main(["compare", *dirs]) == 0
    assert "activity energy" in capsys.readouterr().out


def test_sweep_metrics_carry_activity_energy_and_the_parts_add_up(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent("""\
        name: parts
        base:
          workload: {model: gemm, m: 512, n: 512, k: 512}
          arch: h100
        grid:
          workload.dtype: [bf16, fp8]
        """))
    out = tmp_path / "out"
    summary = run_sweep(path, out, workers=1, progress=False, plots=False)
    assert summary.ok == 2
    records = [json.loads(line)["metrics"] for line in (out / "results.jsonl").read_text().splitlines()]
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    for m, row in zip(records, rows, strict=True):
        assert m["activity_energy_j"] > 0.1 * m["energy_j"]
        assert m["dynamic_energy_j"] + m["activity_energy_j"] + m["static_energy_j"] == pytest.approx(m["energy_j"],
                                                                                                    rel=1e-9)
        parts = sum(float(row[k]) for k in ("dynamic_energy_j", "activity_energy_j", "static_energy_j"))
        assert parts == pytest.approx(float(row["energy_j"]), rel=1e-6)
