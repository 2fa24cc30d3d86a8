"""Memory levels as data: a CXL tier added to a preset from YAML alone is placed, moved, stalled on and reported
like any level — in report.json, the console summary, the HTML page and a sweep's results.csv."""

from __future__ import annotations

import csv
import io
import textwrap

import pytest
from rich.console import Console

from accelsim import api
from accelsim.config import load_experiment
from accelsim.report.console import print_summary
from accelsim.sweep.runner import run_sweep

# A GEMV whose 4096×4096 fp16 weight (32 MiB) does not fit a 16 MiB HBM: placement skips it there and puts it in
# the next memory out, the CXL tier (1 GiB), before host memory.
WEIGHT = 4096 * 4096 * 2
ARCH = textwrap.dedent("""\
    name: tpu-v4-tiered
    base: tpu-v4
    hbm: {capacity: 16MiB}
    levels:
      cxl: {role: memory, after: hbm, capacity: 1GiB, bandwidth: 64GB/s, latency: 400ns, kind: CXL 2.0 x16}
""")
EXPERIMENT = textwrap.dedent("""\
    name: gemv_cxl
    workload: {model: gemm, m: 1, n: 4096, k: 4096, dtype: fp16}
    arch: tpu_v4_cxl.yaml
""")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cxl")
    (d / "tpu_v4_cxl.yaml").write_text(ARCH)
    (d / "gemv_cxl.yaml").write_text(EXPERIMENT)
    return d


@pytest.fixture(scope="module")
def report(files):
    return api.run_experiment(load_experiment(files / "gemv_cxl.yaml"))


def test_the_new_level_sits_between_hbm_and_host(report):
    assert [lv["name"] for lv in report["levels"]] == ["sram", "hbm", "cxl", "host"]
    assert [lv["role"] for lv in report["levels"]] == ["scratchpad", "memory", "memory", "memory"]


def test_the_weight_lives_in_cxl_and_streams_from_it_once(report):
    assert report["memory"]["cxl"]["weights"] == WEIGHT and report["memory"]["host"]["used"] == 0
    assert report["bytes"]["cxl"] == WEIGHT  # a GEMV reads each weight byte once
    assert report["bytes"]["host"] == 0
    # the array waits for CXL: at least the weight's transfer time at 64 GB/s, and the wait is charged to cxl
    assert report["seconds"] >= WEIGHT / 64e9
    assert report["stalls_by_level"]["cxl"] > 0 and report["stalls_by_level"]["host"] == 0


def test_console_and_html_show_the_level(report, tmp_path):
    buf = io.StringIO()
    print_summary(report.to_dict(), Console(file=buf, width=200))
    assert "cxl" in buf.getvalue()
    report.save(tmp_path / "out", plots=False)
    assert "cxl" in (tmp_path / "out" / "report.html").read_text()


def test_a_sweep_over_the_level_reports_it_per_point(files, tmp_path):
    (files / "sweep.yaml").write_text(textwrap.dedent("""\
        name: cxl_bw
        base: gemv_cxl.yaml
        grid:
          arch.levels.cxl.bandwidth: [32GB/s, 64GB/s]
    """))
    out = tmp_path / "sweep"
    run_sweep(files / "sweep.yaml", out, workers=1, progress=False, plots=False)
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert [int(float(r["bytes.cxl"])) for r in rows] == [WEIGHT, WEIGHT]
    by_bw = {r["arch.levels.cxl.bandwidth"]: int(float(r["total_cycles"])) for r in rows}
    assert by_bw["32GB/s"] > by_bw["64GB/s"]  # the half-speed link streams the weight in about twice the time
