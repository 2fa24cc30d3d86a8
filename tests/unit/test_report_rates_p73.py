"""Report figures a reader of probe p73 misread, built through the real report builder: a pipeline report's
FLOP/s a chip (its FLOPs are its P stage chips', drawn against one chip's roof), bandwidth_share in report.html and
`accelsim compare`, compare's chips and per-chip power rows, and a serve report beside a run report in compare."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.report import fmt
from accelsim.report.console import summary_table
from accelsim.report.html import _summary
from accelsim.report.plots import _run_point
from accelsim.report.schema import chips_covered

PP = {"model": "gpt", "hidden": 256, "heads": 4, "layers": 4, "seq_len": 128, "vocab": 1024, "batch": 1,
      "mode": "training", "pipeline_parallel": 2, "tensor_parallel": 2, "micro_batches": 2}


@pytest.fixture(scope="module")
def pipeline_report() -> dict:
    return accelsim.simulate(PP, {"base": "dgx-h100", "chips": 4}, plots=False).to_dict()


def _rows(table) -> dict[str, str]:
    cols = table.columns
    return {str(k).strip(): str(v) for k, v in zip(cols[0]._cells, cols[1]._cells, strict=True)}


def test_a_pipeline_reports_flops_rate_per_chip_as_its_mfu(pipeline_report):
    rep = pipeline_report
    # the report covers the P = 2 stage chips (power.chips; pipeline.stages without energy constants)
    assert rep["power"]["chips"] == rep["pipeline"]["stages"] == 2 == chips_covered(rep)
    per_chip = rep["computed_flops"] / rep["seconds"] / 2
    peak = rep["roofline"]["peak_flops_per_s"]  # one chip's roof
    # MAC utilization = MACs / (peak MACs a cycle × P × cycles): a chip's share of its peak, as the rate a chip is;
    # computed FLOPs add the vector units' few FLOPs to 2 × MACs, so the two agree to within a few per cent
    # (probe p73: 157 TFLOP/s for all 4 chips read as 15.9 % of the roof beside an MFU of 3.9 %)
    assert per_chip / peak == pytest.approx(rep["mac_utilization"], rel=0.1)
    assert _run_point(rep)[1] == pytest.approx(per_chip)
    assert ("achieved (a chip of 2)", fmt.flops_rate(per_chip)) in _html_rows(rep)
    computed = _rows(summary_table(rep))["computed"]
    assert f"{fmt.flops_rate(per_chip)} a chip (2 chips)" in computed


def test_a_single_pass_report_covers_one_chip():
    rep = accelsim.simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, "h100", plots=False).to_dict()
    assert chips_covered(rep) == 1
    assert ("achieved", fmt.flops_rate(rep["computed_flops"] / rep["seconds"])) in _html_rows(rep)


def _html_rows(rep: dict) -> list[tuple[str, str]]:
    import html
    import re

    return [(html.unescape(k), html.unescape(v))
            for k, v in re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", _summary(rep))]


GEMM = {"model": "gemm", "m": 256, "n": 256, "k": 256}


@pytest.fixture(scope="module")
def gemm_report() -> dict:
    return accelsim.simulate(GEMM, "h100", plots=False).to_dict()


def test_bandwidth_share_is_in_the_html_summary_memory_table_and_compare(gemm_report, pipeline_report):
    from accelsim.report.compare import compare_rows, format_value
    from accelsim.report.html import _memory

    rep = gemm_report
    hbm_bw = next(lv["bandwidth"] for lv in rep["levels"] if lv["name"] == "hbm")
    # the documented definition: bytes / (bandwidth × seconds)
    share = rep["bytes"]["hbm"] / (hbm_bw * rep["seconds"])
    assert rep["bandwidth_share"]["hbm"] == pytest.approx(share)
    row = dict(_html_rows(rep))["bandwidth hbm"]
    assert row == f"{fmt.pct(share)} used ({fmt.bandwidth(share * hbm_bw)} of {fmt.bandwidth(hbm_bw)})"
    assert "bandwidth used" in _memory(rep) and "bandwidth used" in _memory(pipeline_report)
    rows = dict(compare_rows([("gemm", rep), ("pp", pipeline_report)]))
    # the pipeline report's: the step's bytes over its stage chips' bandwidth and time (probe p81 #5)
    pp = pipeline_report
    pp_share = pp["bytes"]["hbm"] / (hbm_bw * pp["pipeline"]["stages"] * pp["seconds"])
    assert rows["bandwidth_share.hbm"] == [pytest.approx(share), pytest.approx(pp_share)]
    assert format_value("bandwidth_share.hbm", rows["bandwidth_share.hbm"][0]) == fmt.pct(share)


def test_compare_gives_the_chips_energy_and_power_cover_and_the_power_a_chip(gemm_report, pipeline_report):
    from accelsim.report.compare import compare_rows

    rows = dict(compare_rows([("gemm", gemm_report), ("pp", pipeline_report)]))
    # the gemm is one chip's run; the pipeline's energy and power cover its P = 2 stage chips
    assert rows["power.chips"] == [1, 2]
    avg = [r["power"]["average_w"] for r in (gemm_report, pipeline_report)]
    peak = [r["power"]["peak_w"] for r in (gemm_report, pipeline_report)]
    assert rows["power.average_w"] == pytest.approx(avg)
    assert rows["power.average_w_per_chip"] == pytest.approx([avg[0], avg[1] / 2])
    assert rows["power.peak_w_per_chip"] == pytest.approx([peak[0], peak[1] / 2])
    # J per sample or step counts every chip it passes through, not power.chips's: the label says so (probe p82 #3)
    from rich.console import Console

    from accelsim.report.compare import compare_table
    console = Console(record=True, width=200)
    console.print(compare_table([("gemm", gemm_report), ("pp", pipeline_report)]))
    text = console.export_text()
    assert "J/inference (every chip)" in text and "J/step (every chip)" in text


def test_compare_of_a_serve_report_and_a_run_report_on_one_arch(tmp_path, gemm_report):
    import json

    from accelsim.cli import main
    from accelsim.report.compare import compare_rows, differing_settings

    assert main(["serve", "llama2_7b_h100", "--set", "workload.duration=2s", "-o", str(tmp_path / "srv"),
                 "--no-plots", "--quiet"]) == 0
    srv = json.loads((tmp_path / "srv" / "report.json").read_text())
    assert srv["arch"] == "h100"  # a serve report names its arch
    run = accelsim.simulate({"model": "llama2_7b", "phase": "decode", "kv_len": 64, "layers": 1}, "h100",
                            plots=False).to_dict()
    reports = [("srv", srv), ("dec", run)]
    diff = dict(differing_settings(reports))
    # one arch by name: no arch.* setting reads as differing, nor the run's batch and dtype the serve report's
    # model leaves unset (probe p73 #5: 29 arch settings and workload.batch / dtype were listed)
    assert not [k for k in diff if k.startswith("arch.")]
    assert "workload.batch" not in diff and "workload.dtype" not in diff
    # nor the launch mode and kernel order, which a serve report does not record (probe p83 #6): only keys both have
    assert "execution" not in diff and "kernel_order" not in diff
    rows = dict(compare_rows(reports))
    # J/output token and J/token are one number in a serve report (docs/serving.md): one row
    assert "efficiency.j_per_output_token" not in rows
    assert rows["efficiency.j_per_token"][0] == pytest.approx(srv["efficiency"]["j_per_output_token"])


def test_docs_say_which_reports_give_tops_definition(tmp_path, gemm_report):
    import json
    from pathlib import Path

    from accelsim.cli import main

    docs = Path(__file__).resolve().parents[2] / "docs"
    energy, serving = (docs / "energy.md").read_text(), (docs / "serving.md").read_text()
    # a run report gives it (docs/energy.md); a serve report does not, and both docs say so (probe p73 #7)
    assert gemm_report["efficiency"]["tops_definition"]
    assert main(["serve", "llama2_7b_h100", "--set", "workload.duration=2s", "-o", str(tmp_path / "srv"),
                 "--no-plots", "--quiet"]) == 0
    eff = json.loads((tmp_path / "srv" / "report.json").read_text())["efficiency"]
    assert not {"tops_per_w", "useful_tops_per_w", "tops_definition"} & set(eff)
    assert "in every report" not in energy and "in every `accelsim run` report" in energy
    assert "`tops_definition`" in serving.split("Not given:")[1].split("\n\n")[0]


def test_a_serving_runs_bandwidth_share_is_the_runs_not_its_first_pass():
    # probe p86 #1: a run with decode_steps (and a diffusion pipeline) kept its first pass's share, 62.3 % of hbm where
    # the report's own bytes over its seconds give 96.7 %: the documented definition, bytes / (bandwidth × seconds)
    rep = accelsim.simulate({"model": "llama2_7b", "layers": 1, "seq_len": 64, "decode_steps": 4}, "h100",
                            plots=False).to_dict()
    assert rep["serving"] is not None and rep["simulation"]["passes"] > 1
    for lv in rep["levels"]:
        if lv["bandwidth"]:
            share = rep["bytes"].get(lv["name"], 0) / (lv["bandwidth"] * rep["seconds"])
            assert rep["bandwidth_share"][lv["name"]] == pytest.approx(share, rel=1e-12)
