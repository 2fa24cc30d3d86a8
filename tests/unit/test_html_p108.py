"""Probe p108 #2, #3, #7: report.html of a training step gives the figures the console gives (MFU, the data-parallel
row, the collective ops, the training phases); the console's pipeline stage row says its main-memory share is of
the capacity; the serving page's Settings give times with their unit.

The training report comes from the real builder and writer: a one-layer GPT training step (hidden 256, 4 heads, seq
128, batch 2) at tensor parallel 2 on dgx-h100 (8 chips: 8 / 2 = 4 data-parallel replicas), saved without plots and
read back from report.json and report.html as a reader gets them."""

from __future__ import annotations

import html
import json
import re

import pytest

import accelsim
from accelsim.report import fmt
from accelsim.report.console import _pipeline_rows
from accelsim.report.html import render_html
from accelsim.serving import page, serve

from .test_serve import Stub, spec


def _text(page_html: str) -> str:
    """The page's visible text, tags dropped and white space collapsed."""
    page_html = re.sub(r"<style>.*?</style>|<script>.*?</script>", "", page_html, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page_html)))


def _section(page_html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">.*?</section>', page_html, flags=re.S)
    assert m, f"no section {sid}"
    return m.group(0)


def _kv(table_html: str) -> dict[str, str]:
    """The rows of the summary's key/value table: label -> value text."""
    return {html.unescape(k): html.unescape(v)
            for k, v in re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", table_html, flags=re.S)}


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    out = tmp_path_factory.mktemp("p108")
    accelsim.simulate({"model": "gpt", "hidden": 256, "heads": 4, "layers": 1, "seq_len": 128,
                       "tensor_parallel": 2}, "dgx-h100", batch=2, mode="training", plots=False).save(out)
    return json.loads((out / "report.json").read_text()), (out / "report.html").read_text(encoding="utf-8")


def test_training_page_has_the_mfu_row_and_card(train):
    rep, page_html = train
    mfu = rep["mfu"]
    assert 0 < mfu < 1
    shown = f"{100 * mfu:.1f} %"  # one decimal, as every percentage of the report
    rows = _kv(_section(page_html, "summary"))
    assert rows["MFU"].startswith(shown + " (model FLOPs utilization: ")
    assert fmt.count_si(rep["model_flops"]) in rows["MFU"]
    assert rows["MAC utilization"] == f"{100 * rep['mac_utilization']:.1f} %"
    cards = re.findall(r'<div class="v">(.*?)</div><div class="k">(.*?)</div>', page_html)
    assert (shown, "MFU") in [(html.unescape(v), k) for v, k in cards]


def test_training_page_has_the_data_parallel_and_collective_rows(train):
    rep, page_html = train
    rows = _kv(_section(page_html, "summary"))
    # 8 chips at tensor parallel 2: 4 replicas of 2 chips, each a batch of 2, so a global batch of 8
    dp = rep["data_parallel"]
    assert (dp["replicas"], dp["chips_per_replica"], dp["global_batch"]) == (4, 2, 8)
    samples = round(8 / rep["seconds"])
    assert rows["data parallel"].startswith(f"4 replicas of 2 chips × batch 2 = global batch 8, {samples:,} "
                                            "samples/s; gradient reduction ")
    # every collective op row (its mapping names an NCCL algorithm), counted by its executions
    calls = sum(op.get("count", 1) for op in rep["ops"] if "algorithm" in op["mapping"])
    assert calls > 3  # more than the console lists one by one: a summary row
    assert rows["collective ops"].startswith(f"{calls:,} calls, ")


def test_training_page_has_the_phases_table(train):
    rep, page_html = train
    sec = _section(page_html, "training")
    assert f"The phases cover {rep['phases_scope']}." in _text(sec)
    body = re.findall(r"<tr><td>(\w+)</td>(.*?)</tr>", sec, flags=re.S)
    names = [name for name, _ in body]
    assert names == ["forward", "backward", "optimizer", "grad_reduce"]  # a step's order, the reduction last
    for name, cells in body:
        ph = rep["phases"][name]
        values = [float(v) for v in re.findall(r'data-v="([^"]*)"', cells) if v]
        span = ph["end_cycle"] - ph["start_cycle"]
        # start, end, span in cycles, span in seconds (cycles at the clock), busy cycles, ops[, link bytes]
        assert values[:3] == [ph["start_cycle"], ph["end_cycle"], span]
        assert values[3] == pytest.approx(span / rep["clock_hz"])
        assert values[4:6] == [ph["compute_cycles"], ph["ops"]]
        if name == "grad_reduce":
            assert values[6] == ph["link_bytes"] > 0
        else:
            assert len(values) == 6  # a dash: no link bytes of its own


def test_inference_page_has_no_training_figures():
    rep = accelsim.simulate("lenet5", "a100", batch=1, plots=False).to_dict()
    page_html = render_html(rep, plots=False)
    assert 'id="training"' not in page_html
    rows = _kv(_section(page_html, "summary"))
    assert "MFU" not in rows and "data parallel" not in rows


def test_console_stage_row_says_capacity(train):
    rep, _ = train
    stages = {k.strip(): v for k, v in _pipeline_rows(rep) if k.strip().startswith("stage")}
    assert stages
    for st in rep["pipeline"]["stage_times"]:
        text = stages[f"stage {st['stage']}"]
        # the share is of the main memory's capacity: hbm_used_bytes / capacity
        capacity = rep["memory"]["hbm"]["capacity"]
        assert st["hbm_fraction"] == pytest.approx(st["hbm_used_bytes"] / capacity)
        assert (f"{fmt.size(st['hbm_used_bytes'])} of hbm used ({100 * st['hbm_fraction']:.1f} % of its capacity)"
                in text)
        assert not re.search(r"hbm \d", text)  # "hbm 3.8 %" read as a busy share beside the busy rows


def test_serving_settings_give_times_with_units():
    # from Python, settings are in base units: 3 s of arrivals at 1 request/s, TTFT 0.2 s, TPOT 0.05 s
    s = spec(workload={"requests": None, "duration": 3}, slo={"ttft": 0.2, "tpot": 0.05})
    report = serve(s, cost=Stub(), blocks=1000).report
    assert report["config"]["slo"]["ttft"] == 0.2 and report["config"]["workload"]["duration"] == 3
    rows = _kv(_section(page.render(report), "config"))
    assert rows["workload.duration"] == "3s"
    assert rows["slo.ttft"] == "200ms" and rows["slo.tpot"] == "50ms"
    assert rows["engine.step_overhead"] in ("0", "0s")  # 0 needs no unit
    assert rows["slo.e2e"] == fmt.DASH
    # not times: counts stay plain numbers
    assert rows["engine.max_num_seqs"] == "8" and rows["workload.arrival.rate"] == "1"
