"""Tables at 80 and 60 columns: the top-ops table, ``accelsim info``'s operators and ``accelsim compare`` keep every
number whole; the op's name is what gives way (cut by an ellipsis, keeping its end), and kind, unit and bound move
under it. rich's own fitting cut numbers ("8,589,934,5…") and squeezed the left-aligned text columns to nothing.

Each table is rendered from a real run (the report builder's dict, as ``accelsim run`` prints it) onto a rich
Console of the given width.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from accelsim import cli, simulate
from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.report import fmt
from accelsim.report.compare import compare_tables
from accelsim.report.console import top_ops_table
from accelsim.report.schema import memory_levels, op_busy_cycles, op_span, top_ops
from accelsim.report.tables import NAME_MIN_WIDTH, middle_cut

WIDTHS = (60, 80)


def _render(renderables, width: int) -> list[str]:
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None)
    for r in renderables:
        console.print(r)
    return buf.getvalue().splitlines()


@pytest.fixture(scope="module")
def gpt2() -> dict:
    # GPT-2's op names ("transformer.h.11.mlp.c_proj") are longer than a narrow console leaves for them
    return simulate(load_workload("gpt2"), "a100").to_dict()


@pytest.mark.parametrize("width", WIDTHS)
def test_top_ops_keep_their_numbers_whole_and_cut_only_the_name(gpt2, width):
    lines = _render([top_ops_table(gpt2, width=width)], width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    ops = gpt2["ops"]
    memories = memory_levels(gpt2)
    for op in (ops[i] for i in top_ops(ops, 10)):
        offchip = sum(fmt.num((op.get("bytes") or {}).get(lvl)) for lvl in memories)
        for number in (fmt.count(op_busy_cycles(op)), fmt.count(op_span(op)), fmt.size(offchip)):
            assert number in text, (number, width)
        # the name whole, or its end after an ellipsis; never shorter than NAME_MIN_WIDTH
        shown = [ln for ln in lines if op["name"] in ln or middle_cut(op["name"], NAME_MIN_WIDTH)[1:] in ln]
        assert shown, (op["name"], width)
        for word in (op["kind"], op["bound"]):  # kind and bound are whole (beside the name or under it)
            assert f" {word} " in text
    assert "core*.systolic0" in text  # the unit's name, not squeezed to "cor…"


def test_a_wide_console_keeps_one_row_per_op(gpt2):
    lines = _render([top_ops_table(gpt2, width=200)], 200)
    header = next(ln for ln in lines if " op " in ln)
    # the op's report.json `bound` is headed "roofline": its roofline position, not its measured stalls
    assert all(f" {h} " in header for h in ("kind", "unit", "busy cycles", "off-chip bytes", "roofline"))
    assert " bound " not in header
    assert len(lines) == 10 + 5  # title, 3 rules, the header and 10 ops: nothing wrapped


def _info(monkeypatch, capsys, width: int, *argv: str) -> list[str]:
    buf = io.StringIO()
    monkeypatch.setattr(cli, "_stdout_console", lambda: Console(file=buf, width=width, color_system=None))
    assert cli.main(["info", *argv]) == 0
    return buf.getvalue().splitlines()


@pytest.mark.parametrize("width", WIDTHS)
def test_info_keeps_its_numbers_whole_and_shows_the_kind_a_run_reports(monkeypatch, capsys, width):
    lines = _info(monkeypatch, capsys, width, "gpt2")
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    graph = build_workload("gpt2", {}, default_dtype="fp32")
    for op in graph.ops:
        assert f" {op.macs:,} " in text and f" {op.params:,} " in text
    # the kind is the op's kind as ops.csv and report.json give it (linear, norm), the function beside it
    lm_head = graph.ops[-1]
    assert lm_head.name == "lm_head" and lm_head.kind.value == "linear"
    row = next(i for i, ln in enumerate(lines) if " lm_head " in ln)
    assert "linear" in lines[row] + lines[row + 1]
    norms = [op for op in graph.ops if op.kind.value == "norm"]
    assert norms and all(op.fn == "layernorm" for op in norms)
    assert text.count("norm · layernorm") == len(norms)


def test_info_at_a_wide_console_has_kind_and_fn_columns(monkeypatch, capsys):
    lines = _info(monkeypatch, capsys, 200, "lenet5")
    header = next(ln for ln in lines if " name " in ln)
    assert [h for h in ("kind", "fn", "output", "params", "MACs") if f" {h} " in header] == \
        ["kind", "fn", "output", "params", "MACs"]
    conv1 = next(ln for ln in lines if " conv1 " in ln)
    assert " conv " in conv1 and " conv2d " in conv1  # lenet5's first layer: a Conv2d, kind conv


@pytest.fixture(scope="module")
def three(gpt2) -> list[tuple[str, dict]]:
    return [("a100", gpt2), ("h100", simulate(load_workload("gpt2"), "h100").to_dict()),
            ("tpu-v4", simulate(load_workload("gpt2"), "tpu-v4").to_dict())]


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_splits_its_reports_rather_than_cut_a_number(three, width):
    from accelsim.report.compare import compare_rows, format_value

    tables = compare_tables(three, width=width)
    lines = _render(tables, width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    for metric, values in compare_rows(three):
        for value in values:
            shown = format_value(metric, value)
            assert shown in text, (metric, shown, width)
    assert all(label in text for label, _ in three)
    # 60 columns hold the metric, the baseline and one other report with its ratio: two tables
    assert len(tables) == (2 if width == 60 else 1)


def test_compare_at_any_width_is_one_table(three):
    assert len(compare_tables(three)) == 1 and len(compare_tables(three, width=300)) == 1


def test_middle_cut():
    name = "model.layers.10.self_attn.q_proj"  # 32 characters
    assert middle_cut(name, 40) == name
    assert middle_cut(name, 17) == "…" + name[-16:]  # the end kept: ".self_attn.q_proj"[1:]
    # 30: 29 after the ellipsis; 16 to the end, a third of the other 13 (4) to the start, the rest (25) to the end
    assert middle_cut(name, 30) == "mode…" + name[-25:]
    assert len(middle_cut(name, 30)) == 30
