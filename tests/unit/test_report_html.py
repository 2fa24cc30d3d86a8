"""The HTML report: summary figures, one table row per op, four embedded PNG plots, escaping, odd reports, atomic write.

The reports come from the real report builder (``accelsim.simulate``): LeNet-5 on gemmini, a LLaMA-2-7B decode run
for the serving section, a ResNet-18 training step for a page of many ops. A test that needs an odd report edits
fields of a real one and says so. The page with plots is rendered once per module (drawing is the slow part).
"""

from __future__ import annotations

import base64
import copy
import html
import os
import re
from html import escape as html_escape
from html.parser import HTMLParser

import pytest

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.report import html as html_report
from accelsim.report import writers
from accelsim.report.html import render_html, write_html

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URI = "data:image/png;base64,"
# LeNet-5 on gemmini, counted by hand in tests/unit/test_report_output.py's docstring
LENET_MACS = 117_600 + 240_000 + 48_000 + 10_080 + 840  # 416,520
LENET_PARAMS = 156 + 2_416 + 48_120 + 10_164 + 850  # 61,706
# FLOPs: 2·MACs + a bias add per conv/linear output + ReLU 1 per element + 2×2 max-pool 3 per output
LENET_FLOPS = (2 * LENET_MACS + (4_704 + 1_600 + 120 + 84 + 10)  # biases: 28·28·6, 10·10·16, 120, 84, 10
               + (4_704 + 1_600 + 120 + 84)  # ReLUs
               + 3 * (1_176 + 400))  # max-pools: 14·14·6 and 5·5·16 outputs


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
def lenet() -> dict:
    return simulate("lenet5", "gemmini").to_dict()


@pytest.fixture
def report(lenet) -> dict:
    return copy.deepcopy(lenet)


@pytest.fixture(scope="module")
def page_text(lenet) -> str:
    return render_html(lenet)


def test_summary_figures_are_formatted(page_text, lenet):
    total = lenet["total_cycles"]
    for text in (f"{total:,}",  # total cycles
                 f"{LENET_MACS:,} (417 k)", f"{LENET_FLOPS:,} (851 k)", f"{LENET_PARAMS:,} (61.7 k)",
                 f"{100 * LENET_MACS / (256 * total):.1f} %",  # MAC utilization: MACs / (16·16 × cycles)
                 # DRAM bytes: image 1,024 + params 61,706 + logits 10, with the 236 biases int32 in an int8 run
                 # (TFLite's quantization spec; units.INT_BIAS_DTYPE) 3 B more each: 63,448 B = 61.96 KiB
                 "61.96KiB",
                 "lenet5 (batch 1; int8; inference; ", "num_classes=10, ", "image_size=32, in_channels=1)",
                 # gemmini.yaml: 1 GHz, a 16×16 ws array, 64 + 64 + 128 KiB SRAM, 16 GiB DRAM at 16 GB/s
                 "gemmini (1GHz, 1 core, 16×16 systolic ws, sram 256KiB, hbm 16GiB at 16GB/s)",
                 "512 GFLOP/s peak, 16GB/s hbm, ridge 32 FLOP/B"):  # 2·256·1e9 FLOP/s ÷ 16e9 B/s = 32
        assert text in page_text, text
    assert "<title>accelsim: lenet5_gemmini</title>" in page_text
    assert '<div class="v">61.96KiB</div><div class="k">hbm bytes</div>' in page_text  # a card per memory level
    assert 'id="serving"' not in page_text  # no serving metrics, no section


def test_one_row_per_op_with_all_columns(page_text, lenet):
    page = _parse(page_text)
    assert len(page.body_rows) == len(lenet["ops"]) == 12  # 2 convs, 3 linears, 4 ReLUs, 2 pools, a flatten
    head = page.head_rows[0]
    assert head == ["#", "name", "kind", "unit", "core", "MACs", "start", "end", "duration", "compute", "stall",
                    *(f"bytes {lvl}" for lvl in ("sram", "hbm")), "FLOP/B", "roofline", "energy"]  # energy: gemmini gives constants
    names = [op["name"] for op in lenet["ops"]]
    fc1_op = lenet["ops"][names.index("fc1")]
    fc1 = dict(zip(head, page.body_rows[names.index("fc1")], strict=True))
    assert fc1["name"] == "fc1" and fc1["unit"] == "core0.systolic0" and fc1["roofline"] == "memory"
    assert fc1["duration"] == f"{fc1_op['end_cycle'] - fc1_op['start_cycle']:,}"
    # 400·120 MACs; ws with gemmini's preload overlap (R + (F − 1)·max(T, R) + T + R + C − 3: the last fold waits
    # for no next preload, probe p169 #1): 25·8 = 200 folds starting max(1, 16) = 16 cycles apart, the last one
    # streaming T = 1: 16 + 199·16 + 1 + 16 + 16 − 3 = 3,230; 48,000 int8 weights + 120 int32 biases:
    # 48,000 + 4 · 120 = 48,480 B = 47.34 KiB
    assert fc1["MACs"] == "48,000" and fc1["compute"] == "3,230" and fc1["bytes hbm"] == "47.34KiB"
    # the arrays' work, 2·48,000 FLOPs (its 120 bias adds are not the arrays'), / 48,480 B = 1.9802 (four significant
    # digits, the trailing zero dropped), under the ridge of 32
    assert fc1["FLOP/B"] == "1.98"
    relu = dict(zip(head, page.body_rows[names.index("relu1")], strict=True))
    assert relu["FLOP/B"] == "\u2014" and relu["bytes hbm"] == "0B"  # its input stays in SRAM: null intensity
    # numeric cells carry the raw number the sorter uses, and the sorter is inline
    assert '<td class="n" data-v="3230">3,230</td>' in page_text
    assert "<script>" in page_text and "table.sortable" in page_text and 'class="sortable ops"' in page_text
    # the note says what compute and stall count: on a GPU compute is one SM's cycles, stall summed over its SMs
    # (the note said both were "summed over the op's tile groups", so a stall 132× the compute looked like 99 %)
    assert "compute is the busiest unit's cycles of one execution" in page_text
    assert "summed over its units (a GPU's SMs) and executions" in page_text


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
    # edited fields: markup where a user's file names an op or a unit
    evil = '<script>alert("x")</script>'
    report["name"] = evil
    report["ops"][0]["name"] = evil
    report["ops"][1]["kind"] = "<b>bold</b>"
    report["utilization"]["<img src=x onerror=alert(1)>"] = 0.5
    text = render_html(report, plots=False)
    assert evil not in text and "<b>bold</b>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert text.count("<script>") == 1  # only the sorter's
    page = _parse(text)
    assert page.body_rows[0][1] == evil  # the parser decodes the escaped name back to the original text


def test_zero_ops_nulls_and_extra_keys_render(report):
    # edited fields: no ops, nulls and an unknown key
    report["ops"] = []
    report["mac_utilization"] = None
    report["seconds"] = None
    report["roofline"] = {"peak_flops_per_s": None, "bandwidth_bytes_per_s": None, "ridge_flops_per_byte": None}
    report["something_new"] = {"nested": [1, 2, {"x": None}]}
    text = render_html(report)
    page = _parse(text)
    assert page.body_rows == [] and len(page.images) == 4
    assert "No ops in this report." in text and "something_new" not in text
    minimal = render_html({"ops": [{"name": None, "start_cycle": None, "bytes": None}]}, plots=False)
    assert len(_parse(minimal).body_rows) == 1
    assert render_html({}, plots=False).startswith("<!DOCTYPE html>")


@pytest.fixture(scope="module")
def served() -> dict:
    # LLaMA-2-7B decode against a 32-token cache, 2 steps (the serving scenario, scenarios/serving.py)
    return simulate(load_workload("llama2_7b", ["phase=decode", "kv_len=32", "decode_steps=2"]), "tpu-v4").to_dict()


def test_serving_section_only_when_present(served, report):
    rep = copy.deepcopy(served)
    # edited fields, to check the formatting against hand-written figures
    rep["serving"].update(ttft_s=0.0123, tpot_s=2.5e-5, tokens_per_s=40000.0, kv_cache_bytes=2**30)
    rep["serving"]["note"] = "<i>x</i>"
    text = render_html(rep, plots=False)
    section = text[text.index('<section id="serving">'):]
    section = section[: section.index("</section>")]
    # the KV cache edited to 1 GiB no longer adds up to the memory table's, so it gets a row of its own
    for want in ("time to first token (TTFT)</th><td>12.3ms", "time per output token (TPOT)</th><td>25\u00b5s (the mean "
                 "of 2 decode steps", "40,000 tokens/s", "KV cache</th><td>1GiB<", "&lt;i&gt;x&lt;/i&gt;"):
        assert want in section, want
    assert 'id="serving"' not in render_html(report, plots=False)  # the CNN has no serving metrics
    assert 'id="serving"' not in render_html(dict(served, serving=None), plots=False)


def test_a_long_list_of_the_serving_section_shows_its_ends_and_length(served):
    # step_cycles holds a value per decode step (5,000,000 steps made 76 MB of HTML): past 20 values the page shows
    # the first 10, the last 10 and the count; 20 values are shown whole
    rep = copy.deepcopy(served)
    rep["serving"]["step_cycles"] = list(range(1000, 1021))  # 21 values: 1,000 … 1,020
    text = render_html(rep, plots=False)
    row = text[text.index("cycles of each decode step</th><td>"):]
    row = row[: row.index("</td>")]
    assert row.endswith("1,000, 1,001, 1,002, 1,003, 1,004, 1,005, 1,006, 1,007, 1,008, 1,009, …, 1,011, 1,012, "
                        "1,013, 1,014, 1,015, 1,016, 1,017, 1,018, 1,019, 1,020 (21 values, all in report.json)")
    rep["serving"]["step_cycles"] = list(range(1000, 1020))
    text = render_html(rep, plots=False)
    assert "1,000, 1,001, 1,002, 1,003, 1,004, 1,005, 1,006, 1,007, 1,008, 1,009, 1,010, 1,011, 1,012, 1,013, " \
           "1,014, 1,015, 1,016, 1,017, 1,018, 1,019</td>" in text


def test_a_page_of_many_ops_stays_light():
    rep = simulate(load_workload("resnet18", ["mode=training"]), "tpu-v1").to_dict()
    text = render_html(rep, plots=False)
    # forward, loss, backward and one optimizer step per parameter tensor: hundreds of rows
    assert len(_parse(text).body_rows) == len(rep["ops"]) > 200
    assert len(text) < 1000 * len(rep["ops"]) and "<img" not in text  # under 1 kB per op
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


def test_a_serving_runs_ops_table_names_each_rows_phase_and_runs(served):
    page = _parse(render_html(served, plots=False))
    head = page.head_rows[0]
    assert head[:6] == ["#", "name", "phase", "runs", "kind", "unit"]  # LeNet's (above) has neither
    rows = [dict(zip(head, r, strict=True)) for r in page.body_rows]
    # decode only (phase=decode), 2 steps: the rows of layer 0 stand for 31 of the 32 layers (layer samples)
    assert [(r["name"], r["phase"], r["runs"]) for r in rows] == [
        (op["name"], op["phase"], f"{op['count']:,}") for op in served["ops"]]
    assert {r["runs"] for r in rows if ".layers.0." in r["name"]} == {"62"}


def _section(text: str, key: str) -> str:
    section = text[text.index(f'<section id="{key}">'):]
    return section[: section.index("</section>")]


def _cells(section: str) -> dict[str, str]:
    """The first table's rows of a section: header → cell text."""
    return dict(re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", section))


@pytest.fixture(scope="module")
def gpt2_served() -> dict:
    # the probe's run (p17 findings 3, 7): gpt2 on an A100, a 128-token prompt and 4 decode steps; its notes say the
    # attention runs unfused and the eager prefill's launches bind the run. logits=all keeps the probe's prefill, the
    # LM head over all 128 positions, whose GEMM is the 2-layer sample's busiest window over the TDP (p141 #1) that
    # the notes below check; a served gpt2 prefill now defaults to the last position's logits (probe p247 #1), a
    # window of 338 W, under the a100's 400 W, and no TDP note
    return simulate(load_workload("gpt2", ["decode_steps=4", "seq_len=128", "logits=all"]), "a100").to_dict()


def test_the_page_shows_every_note_as_the_console_prints_it(gpt2_served):
    # report.html had no notes: a run on an arch without energy constants lost the reason it has no energy section
    mc4 = simulate(load_workload("gemm", ["m=64", "n=64", "k=64"]), "multicore-4").to_dict()
    assert mc4.get("energy") is None
    for rep, first in ((mc4, "energy: arch multicore-4 gives no 'energy' constants"),
                       (gpt2_served, "attention runs unfused")):
        assert any(n.startswith(first) for n in rep["notes"])
        items = re.findall(r"<li>(.*?)</li>", _section(render_html(rep, plots=False), "notes"))
        assert items == [f"note: {html_escape(n)}" for n in rep["notes"]]  # every one, in order, escaped
    # and, its 12 layers simulated as 1- and 2-layer samples, that its peak power is the 2-layer pass's (probe p49)
    # (probe p141 #1: that 2-layer window's 424 W is over the a100's 400 W TDP, which a note says before it)
    assert len(gpt2_served["notes"]) == 4 and gpt2_served["notes"][1].startswith("kernel launches bind")
    assert gpt2_served["notes"][2].startswith("energy: peak power") and "exceeds the TDP of 400 W" in gpt2_served["notes"][2]
    assert gpt2_served["notes"][3].startswith("power.peak_w")
    assert 'id="notes"' not in render_html(dict(mc4, notes=[]), plots=False)


def test_the_summary_has_the_consoles_launch_bound_row(gpt2_served, report):
    from io import StringIO

    from rich.console import Console

    from accelsim.report.console import summary_table

    rep = gpt2_served
    # launch_bound_fraction = launch_overhead_s / seconds (report.json contract)
    assert rep["launch_bound_fraction"] == pytest.approx(rep["launch_overhead_s"] / rep["seconds"], rel=1e-12)
    row = _cells(_section(render_html(rep, plots=False), "summary"))["launch-bound"]
    assert row == html_escape(f"{rep['launch_bound_fraction'] * 100:.1f} % of the time ("
                              f"{rep['launch_overhead_s'] * 1e3:.4g}ms added by kernel launches; prefill eager, "
                              f"decode cuda_graph)")
    out = StringIO()
    Console(file=out, width=400).print(summary_table(rep))
    assert html.unescape(row) in out.getvalue()  # the console's row, word for word
    assert "launch-bound" not in render_html(report, plots=False)  # gemmini: no host launches (execution none)


def test_the_serving_section_is_a_table_in_one_unit_family(gpt2_served):
    sv = gpt2_served["serving"]
    section = _section(render_html(gpt2_served, plots=False), "serving")
    # gpt2's weights (tied LM head, counted once): wte 50,257 x 768 + wpe 1,024 x 768 + 12 layers of (2 LNs 3,072 +
    # qkv 768 x 2,304 + 2,304 + proj 768^2 + 768 + fc 768 x 3,072 + 3,072 + proj 3,072 x 768 + 768 = 7,087,872)
    # + final LN 1,536 = 124,439,808 params, x 2 bytes (bf16) = 248,879,616 B = 237.35 MiB
    weights = 2 * (50_257 * 768 + 1_024 * 768 + 12 * 7_087_872 + 1_536)
    assert sv["weight_bytes"] == weights
    # KV cache after the last step: 12 layers x (K, V) x 768 x 2 bytes x (128 + 4) tokens = 4,866,048 B = 4.641 MiB
    assert sv["kv_cache_bytes"] == 12 * 2 * 768 * 2 * 132
    assert section.count("237.4MiB") == 1 and section.count("4.641MiB") == 1  # each shown once, as a size
    assert "248,879,616" not in section and "4,866,048" not in section  # no raw byte counts
    hbm = sv["memory"]["hbm"]
    row = re.search(r"<tr><td>hbm</td>(.*?)</tr>", section).group(1)
    cells = re.findall(r'<td class="n" data-v="[^"]*">(.*?)</td>', row)
    # capacity 80 GiB, weights, KV cache, activations, used, used/capacity as a % (not the bare 0.002955)
    assert cells[:3] == ["80GiB", "237.4MiB", "4.641MiB"]
    assert cells[-1] == f"{hbm['used'] / 80 / 2**30 * 100:.1f} %" == "0.3 %"
    kv = _cells(section)
    # TTFT = prefill cycles / 1.41 GHz; TPOT = decode cycles / 4 steps / 1.41 GHz (arch/a100.yaml clock)
    assert kv["time to first token (TTFT)"] == (f"{sv['prefill_cycles'] / 1.41e9 * 1e3:.4g}ms (the prefill: "
                                                f"{sv['prefill_cycles']:,} cycles)")
    assert kv["time per output token (TPOT)"].startswith(f"{sv['decode_cycles'] / 4 / 1.41e9 * 1e6:.4g}\u00b5s (the mean "
                                                         f"of 4 decode steps")
    assert kv["cycles of each decode step"] == ", ".join(f"{c:,}" for c in sv["step_cycles"])
    assert kv["decode steps simulated"] == "all 4"
    assert "layer_samples" not in section and "memory.hbm" not in section  # no raw dict keys


def test_the_pipeline_section_is_a_table_in_one_unit_family():
    # probe p17: the section was report.json's pipeline object flattened ("stage_times  stage=0,
    # micro_batch_s=0.002187, ..., hbm_used_bytes=549,040,128, hbm_fraction=0.006392, ...")
    from accelsim.config import load_arch

    w = load_workload("gpt", ["hidden=256", "heads=4", "layers=4", "pipeline_parallel=2", "mode=training"])
    rep = simulate(w, load_arch("dgx-a100", ["chips=2"])).to_dict()
    pl = rep["pipeline"]
    t0, t1 = (st["micro_batch_s"] for st in pl["stage_times"])
    # 1F1B with m = 1 micro-batch, P = 2, v = 1: the fill is t0 + t1, of which m x max(t) is work, so the bubble is
    # min(t0, t1); the iteration adds the optimizer step, the 2 x (P·v - 1) = 2 sends and the embedding all-reduce
    assert pl["p2p_transfers"] == 2 and pl["bubble_s"] == pytest.approx(min(t0, t1), rel=1e-9)
    # the iteration is whole cycles (seconds = total_cycles / clock_hz, probe p216 #5), its phases not: within half
    # a cycle of their sum
    assert pl["iteration_s"] == pytest.approx(max(t0, t1) + pl["bubble_s"] + pl["optimizer_s"] + pl["p2p_s"]
                                              + pl["embedding_sync_s"], rel=0, abs=0.5 / rep["clock_hz"])
    assert pl["iteration_s"] == rep["seconds"] and pl["bubble_fraction"] == pytest.approx(
        pl["bubble_s"] / pl["iteration_s"], rel=1e-9)
    section = _section(render_html(rep, plots=False), "pipeline")
    rows = _cells(section)
    assert rows["stages"] == f"2 (the slowest: stage {1 if t1 > t0 else 0})"
    assert rows["iteration"] == html_report.fmt.seconds(rep["seconds"])
    assert rows["bubble"] == (f"{html_report.fmt.seconds(pl['bubble_s'])} "
                              f"({pl['bubble_fraction'] * 100:.1f} % of the iteration)")
    # m = 1: those are every send of the step, each one micro-batch's hidden states, 1 x 2048 x 256 x 2 B (bf16):
    # 2 x 1 MiB (probe p77 #2: the step's sends beside the critical path's)
    assert pl["p2p_sends_total"] == 2 and pl["p2p_bytes_total"] == 2 * 2048 * 256 * 2
    assert rows["activation sends"].endswith("(the 2 sends the fill and drain wait for; every send of the step, 2MiB)")
    # the stages as a table: times as durations, the main memory's bytes as a size, its share of the A100's 80 GiB
    # (85,899,345,920 B) in %, each quantity once
    capacity = 80 * 2**30
    assert rep["arch"]["name"] == "dgx-a100" and next(iter(rep["memory"])) == "hbm"
    table = re.findall(r"<tr><td>(\d)</td>(.*?)</tr>", section)
    assert [k for k, _ in table] == ["0", "1"]
    for (_, row), st in zip(table, pl["stage_times"], strict=True):
        cells = re.findall(r'<td class="n" data-v="[^"]*">(.*?)</td>', row)
        assert cells == [html_report.fmt.seconds(st["micro_batch_s"]), html_report.fmt.seconds(st["optimizer_s"]),
                         "1", html_report.fmt.size(st["hbm_used_bytes"]),  # in flight: min(P - k, m) = 1
                         f"{st['hbm_used_bytes'] / capacity * 100:.1f} %"]
    # no raw figure shown as text (a cell's data-v attribute holds its exact value for sorting, not shown)
    shown = re.sub(r' data-v="[^"]*"', "", section)
    for raw in ("stage_times", "hbm_fraction", "micro_batch_s", f"{pl['stage_times'][0]['hbm_used_bytes']:,}",
                f"{pl['stage_times'][0]['hbm_fraction']:.4g}"):
        assert raw not in shown, raw
    for label in ("micro-batches", "interleave", "optimizer tail", "embedding gradient all-reduce", "layer samples",
                  "last forward ends / gradients ready"):
        assert label in rows, label
