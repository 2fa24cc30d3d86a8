"""The HTML report: summary figures, one table row per op, four embedded PNG plots, escaping, odd reports, atomic write.

The report is a small hand-built dict in the report.json shape, so these tests do not run the simulator. The page
with plots is rendered once per module (drawing the four figures is the slow part).
"""

from __future__ import annotations

import base64
import copy
import os
import re
from html.parser import HTMLParser

import pytest

from accelsim.report import html as html_report
from accelsim.report import writers
from accelsim.report.html import render_html, write_html

CLOCK_HZ = 1e9
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URI = "data:image/png;base64,"


def _op(name, kind, unit, macs, start, end, compute, stall, hbm, sram, bound):
    flops = 2 * macs or 1000
    return {
        "name": name, "kind": kind, "fn": kind, "unit": unit, "core": 0, "macs": macs, "flops": flops,
        "start_cycle": start, "end_cycle": end, "compute_cycles": compute, "stall_cycles": stall,
        "stalls_by_level": {"hbm": stall} if stall else {}, "bytes": {"sram": sram, "hbm": hbm}, "tiles": 1,
        "arithmetic_intensity": flops / hbm if hbm else None,
        "achieved_flops_per_s": flops / ((end - start) / CLOCK_HZ) if end > start else None,
        "bound": bound,
    }


def _report(ops: list[dict]) -> dict:
    return {
        "accelsim_version": "0.1.0", "name": "tiny_gemmini",
        "workload": {"name": "tiny", "model": "tiny", "params": {"width": 8}, "batch": 2, "dtype": "int8"},
        "arch": {"name": "gemmini", "clock_hz": CLOCK_HZ, "cores": 1, "peak_macs_per_cycle": 256,
                 "peak_flops_per_s": 512e9, "memory_bytes_per_s": {"hbm": 16e9}, "sram_bytes": 262144},
        "total_cycles": 123456, "seconds": 123456 / CLOCK_HZ, "clock_hz": CLOCK_HZ,
        "macs": 4089184256, "flops": 8217431528, "params": 25557032,
        "utilization": {"core0.systolic0": 0.6123, "core0.vector": 0.05, "hbm": 0.9},
        "mac_utilization": 0.4213,
        "stall_cycles": 2345, "stalls_by_level": {"hbm": 2345},
        "bytes": {"sram": 3 * 2**20, "hbm": 1536},
        "roofline": {"peak_flops_per_s": 512e9, "bandwidth_bytes_per_s": 16e9, "ridge_flops_per_byte": 32.0},
        "simulation": {"tasks": 40, "events": 80},
        "ops": ops,
    }


def _ops() -> list[dict]:
    return [
        _op("conv1", "conv", "core0.systolic0", 118013952, 0, 9000, 7000, 1500, 160_000, 1_300_000, "compute"),
        _op("relu1", "activation", "core0.vector", 0, 9000, 10200, 800, 0, 0, 1_605_632, "none"),
        _op("fc", "linear", "core0.systolic0", 2048000, 10200, 60000, 1500, 845, 2_049_000, 10_000, "memory"),
    ]


class _Page(HTMLParser):
    """Collects the rows of the table with id="ops" (split into head and body) and every <img> src."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.head_rows: list[list[str]] = []
        self.body_rows: list[list[str]] = []
        self._in_ops = self._in_body = self._in_cell = False
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "table" and a.get("id") == "ops":
            self._in_ops = True
        elif self._in_ops and tag == "tbody":
            self._in_body = True
        elif self._in_ops and tag == "tr":
            self._row = []
            (self.body_rows if self._in_body else self.head_rows).append(self._row)
        elif self._in_ops and tag in ("td", "th"):
            self._row.append("")
            self._in_cell = True

    def handle_endtag(self, tag):
        if tag == "table" and self._in_ops:
            self._in_ops = self._in_body = False
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell and self._row is not None:
            self._row[-1] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


@pytest.fixture(scope="module")
def report() -> dict:
    return _report(_ops())


@pytest.fixture(scope="module")
def page_text(report) -> str:
    return render_html(report)


def test_summary_figures_are_formatted(page_text):
    for text in ("123,456",  # total cycles
                 "123.5us",  # time, format_time
                 "4,089,184,256 (4.09 G)", "8,217,431,528 (8.22 G)", "25,557,032 (25.6 M)",  # MACs, FLOPs, params
                 "42.1 %", "61.2 %", "90.0 %",  # MAC utilization, systolic and HBM busy
                 "3MiB", "1.5KiB",  # bytes per level, format_size
                 "2,345",  # stall cycles
                 "tiny (batch 2; int8; width=8)", "gemmini (1GHz, 1 core, 256KiB SRAM, hbm 16GB/s)"):
        assert text in page_text, text
    assert "<title>accelsim: tiny_gemmini</title>" in page_text
    assert 'id="serving"' not in page_text  # no serving metrics, no section


def test_one_row_per_op_with_all_columns(page_text, report):
    page = _parse(page_text)
    assert len(page.body_rows) == len(report["ops"])
    head = page.head_rows[0]
    assert head == ["#", "name", "kind", "unit", "core", "MACs", "start", "end", "duration", "compute", "stall",
                    "bytes sram", "bytes hbm", "FLOP/B", "bound"]
    fc = dict(zip(head, page.body_rows[2], strict=True))
    assert fc["name"] == "fc" and fc["unit"] == "core0.systolic0" and fc["bound"] == "memory"
    assert (fc["start"], fc["end"], fc["duration"], fc["compute"], fc["stall"]) == (
        "10,200", "60,000", "49,800", "1,500", "845")
    assert fc["MACs"] == "2,048,000" and fc["bytes hbm"] == "1.954MiB" and fc["FLOP/B"] == "1.999"
    relu = dict(zip(head, page.body_rows[1], strict=True))
    assert relu["FLOP/B"] == "\u2014"  # null arithmetic intensity
    # numeric cells carry the raw number the sorter uses, and the sorter is inline
    assert '<td class="n" data-v="49800">49,800</td>' in page_text
    assert "<script>" in page_text and "table.sortable" in page_text and 'class="sortable ops"' in page_text


def test_four_embedded_png_plots(page_text):
    images = _parse(page_text).images
    assert len(images) == 4
    for src in images:
        assert src.startswith(DATA_URI)
        data = base64.b64decode(src[len(DATA_URI):], validate=True)
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    # self-contained: nothing is fetched from elsewhere
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page_text)


def test_strings_from_the_report_are_escaped(report):
    rep = copy.deepcopy(report)
    evil = '<script>alert("x")</script>'
    rep["name"] = evil
    rep["ops"][0]["name"] = evil
    rep["ops"][1]["kind"] = "<b>bold</b>"
    rep["utilization"]["<img src=x onerror=alert(1)>"] = 0.5
    text = render_html(rep, plots=False)
    assert evil not in text and "<b>bold</b>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert text.count("<script>") == 1  # only the sorter's
    page = _parse(text)
    assert page.body_rows[0][1] == evil  # the parser decodes the escaped name back to the original text


def test_zero_ops_nulls_and_extra_keys_render(report):
    rep = copy.deepcopy(report)
    rep["ops"] = []
    rep["mac_utilization"] = None
    rep["seconds"] = None
    rep["roofline"] = {"peak_flops_per_s": None, "bandwidth_bytes_per_s": None, "ridge_flops_per_byte": None}
    rep["something_new"] = {"nested": [1, 2, {"x": None}]}
    text = render_html(rep)
    page = _parse(text)
    assert page.body_rows == [] and len(page.images) == 4
    assert "No ops in this report." in text and "something_new" not in text
    minimal = render_html({"ops": [{"name": None, "start_cycle": None, "bytes": None}]}, plots=False)
    assert len(_parse(minimal).body_rows) == 1
    assert render_html({}, plots=False).startswith("<!DOCTYPE html>")


def test_serving_section_only_when_present(report):
    rep = dict(report, serving={"ttft_s": 0.0123, "tpot_s": 2.5e-5, "tokens_per_s": 40000.0, "batch": 8,
                                "kv_cache_bytes": 2**30, "note": "<i>x</i>"})
    text = render_html(rep, plots=False)
    section = text[text.index('<section id="serving">'):]
    section = section[: section.index("</section>")]
    for want in ("ttft_s", "12.3ms", "25us", "40,000 tokens/s", "1GiB", "&lt;i&gt;x&lt;/i&gt;"):
        assert want in section, want
    assert 'id="serving"' not in render_html(dict(report, serving=None), plots=False)


def test_500_ops_page_stays_light():
    ops = [_op(f"layer{i}.conv", "conv", "core0.systolic0", 1000 * i, 100 * i, 100 * i + 90, 80, 10, 4096, 65536,
               "compute") for i in range(500)]
    text = render_html(_report(ops), plots=False)
    assert len(_parse(text).body_rows) == 500
    assert len(text) < 500_000 and "<img" not in text
    assert 'class="scroll tall"' in text  # the table scrolls in its own box


def test_write_html_is_atomic(tmp_path, report, monkeypatch):
    path = write_html(report, tmp_path / "report.html", plots=False)
    assert path == tmp_path / "report.html" and html_report.HTML_FILE == "report.html"
    assert os.listdir(tmp_path) == ["report.html"]
    before = path.read_bytes()
    assert before.decode("utf-8") == render_html(report, plots=False)  # deterministic

    def boom(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(writers.os, "replace", boom)
    with pytest.raises(OSError):
        write_html(dict(report, name="other"), path, plots=False)
    assert os.listdir(tmp_path) == ["report.html"] and path.read_bytes() == before
