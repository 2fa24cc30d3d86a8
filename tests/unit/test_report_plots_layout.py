"""Layout of the report plots (accelsim/report/plots.py).

The figures are laid out with margins computed from the text they hold (``_margins``), not by a tight_layout
pass, so these tests measure where matplotlib actually put each piece of text in the saved figure: every title,
axis label, offset text ("1e5"), drawn tick label and legend entry must lie inside the figure and must not overlap
another. The reports come from the real report builder (``accelsim.simulate``): LeNet-5 on gemmini (12 ops, every
op a bar, 8 pt names) and MobileNet-v2 on tpu-v1 (152 ops > MAX_OP_BARS = 60: the 40 busiest, 6 pt names, and the
"other" bar on its own axes; both axes over 1e5 cycles, so both carry an offset text under the titles). A test that needs a long op name renames ops of a real report and says so.
"""

from __future__ import annotations

import copy
import itertools
import re

import pytest

from accelsim import simulate
from accelsim.report import plots

LONG = "model.language_model.layers.31.self_attn.o_proj.lora_adapter.weight.grad_weight"  # longer than the cut
WIDE = "W" * 80  # the widest letter in DejaVu Sans: the worst case for a label's length


@pytest.fixture(scope="module")
def lenet() -> dict:
    return simulate("lenet5", "gemmini").to_dict()


@pytest.fixture(scope="module")
def many() -> dict:
    return simulate("mobilenet_v2", "tpu-v1").to_dict()


@pytest.fixture(scope="module")
def serving() -> dict:
    # gpt2's prefill of 32 tokens and 2 decode steps: every op both a prefill and a decode row, alike in name
    return simulate({"model": "gpt2", "seq_len": 32, "decode_steps": 2}, "a100").to_dict()


@pytest.fixture(scope="module")
def pipeline() -> dict:
    # a GPT of 4 layers (hidden 512) trained on 2 pipeline stages of a DGX A100, 4 micro-batches: op names 40 to 60
    # characters long ("language_model.encoder.layers.0.mlp.dense_h_to_4h.grad_input"), alike up to the layer
    return simulate({"model": "gpt", "mode": "training", "hidden": 512, "heads": 8, "layers": 4, "seq_len": 256,
                     "pipeline_parallel": 2, "micro_batches": 4}, "dgx-a100").to_dict()


def _renamed(report: dict) -> dict:
    """``report`` with its two busiest ops renamed to LONG and WIDE (both drawn, cut to plots.NAME_WIDTH, 64 characters)."""
    rep = copy.deepcopy(report)
    shown, _ = plots.op_bars(rep["ops"])
    busiest = sorted(shown, key=lambda op: -op["compute_cycles"])
    busiest[0]["name"], busiest[1]["name"] = LONG, WIDE
    return rep


def _saved(monkeypatch, tmp_path, plot, report):
    """Draw one figure with ``plot`` as the CLI does (saved PNG) and return it with a renderer at the saved DPI."""
    figs = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda plt, fig, path: (figs.append(fig), save(plt, fig, path))[1])
    plot(report, tmp_path / "figure.png")
    (fig,) = figs
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(plots.DPI)  # the saved resolution (closing the figure restored its own dpi and a bare canvas)
    return fig, FigureCanvasAgg(fig).get_renderer()


def _drawn_tick_labels(axis) -> list:
    """The tick labels ``axis`` drew: those of major ticks inside its view limits, with text."""
    lo, hi = sorted(axis.get_view_interval())
    locs = axis.get_majorticklocs()
    ticks = axis.get_major_ticks(len(locs))
    return [t.label1 for t, v in zip(ticks, locs, strict=True)
            if lo <= v <= hi and t.label1.get_visible() and t.label1.get_text()]


def _texts(fig) -> list:
    """Every piece of text ``fig`` drew: suptitle, and per axes its title, labels, offset texts, tick labels, key."""
    texts = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, ax.xaxis.offsetText, ax.yaxis.offsetText]
        texts += _drawn_tick_labels(ax.xaxis) + _drawn_tick_labels(ax.yaxis)
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    return [t for t in texts if t.get_visible() and t.get_text()]


def _assert_laid_out(fig, renderer) -> None:
    inside = fig.bbox
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in _texts(fig)]
    for text, box in boxes:
        assert (box.x0 >= inside.x0 and box.y0 >= inside.y0 and box.x1 <= inside.x1 and box.y1 <= inside.y1), (
            f"{text!r} at {box.extents} leaves the figure {inside.extents}")
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"{a!r} {box_a.extents} overlaps {b!r} {box_b.extents}"


@pytest.mark.parametrize("which", ["lenet", "many"])
def test_long_op_names_lie_inside_the_op_cycles_figure(monkeypatch, tmp_path, lenet, many, which):
    report = _renamed({"lenet": lenet, "many": many}[which])
    fig, renderer = _saved(monkeypatch, tmp_path, plots.plot_op_cycles, report)
    ax = fig.axes[0]
    names = {t.get_text(): t for t in ax.get_xticklabels()}
    cut = "\u2026" + LONG[-63:]  # _short: an ellipsis and the name's last 63 characters
    long_label, wide_label = names[cut], names["\u2026" + WIDE[-63:]]
    assert long_label.get_rotation() == 90
    for label in (long_label, wide_label):
        box = label.get_window_extent(renderer)
        assert box.height > box.width  # rotated: its length hangs down from the axis
        assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)
        assert box.y0 > ax.xaxis.label.get_window_extent(renderer).y1  # above the x-axis label, not through it
    if which == "many":  # the busiest + "other" layout, each axes with its "1eN" offset text drawn
        assert len(fig.axes) == 2 and fig.axes[1].get_xticklabels()[0].get_text().startswith("other\n")
        assert all(a.yaxis.offsetText.get_text().startswith("1e") for a in fig.axes)
    _assert_laid_out(fig, renderer)


@pytest.mark.parametrize("name", ["utilization", "bytes_per_level", "roofline", "op_cycles"])
@pytest.mark.parametrize("which", ["lenet", "many", "empty", "serving"])
def test_every_text_of_every_figure_is_inside_and_apart(monkeypatch, tmp_path, lenet, many, serving, which, name):
    # empty: LeNet-5's report with its ops, utilization, MAC utilization and bytes removed (the "no ..." figures);
    # serving: a composed run, its titles two lines long
    empty = dict(lenet, ops=[], utilization={}, mac_utilization=None, bytes={})
    report = {"lenet": lenet, "many": many, "empty": empty, "serving": serving}[which]
    fig, renderer = _saved(monkeypatch, tmp_path, plots.PLOTS[name], report)
    _assert_laid_out(fig, renderer)


def test_utilization_margin_follows_the_longest_unit_label(monkeypatch, tmp_path, lenet):
    # edited: one unit renamed to a 40-character name; its label must still start inside the figure
    report = copy.deepcopy(lenet)
    util = report["utilization"]
    unit = next(iter(util))
    report["utilization"] = {("core0.a_very_long_unit_name_for_the_test" if k == unit else k): v
                             for k, v in util.items()}
    fig, renderer = _saved(monkeypatch, tmp_path, plots.plot_utilization, report)
    label = next(t for t in fig.axes[0].get_yticklabels() if t.get_text().startswith("core0.a_very_long"))
    assert label.get_window_extent(renderer).x0 >= 0
    _assert_laid_out(fig, renderer)


def test_log_axes_label_powers_of_ten_without_mathtext():
    # 10^14 and 10^-1 as Unicode superscripts; 2.5e3 is not a power of ten and keeps 3 significant figures
    assert plots._pow10(1e14) == "10\u00b9\u2074"
    assert plots._pow10(0.1) == "10\u207b\u00b9"
    assert plots._pow10(1.0) == "10\u2070"
    assert plots._pow10(2500.0) == "2.5e+03"
    assert plots._pow10(0.0) == ""


def test_op_bars_draw_one_units_stall_per_execution(monkeypatch, tmp_path):
    """The stall segment of an op's bar is counted as its compute segment and span are: one unit, one execution.
    Hand-written rows: a GEMM on 132 lock-step SMs (100 cycles on the busiest, 1,320 SM-cycles of stall, 800 of
    them on the L2 and 520 on HBM: 10 cycles per SM, span 200) and a composed row of 4 executions on one unit (50
    compute cycles and a 100-cycle span each, 200 HBM stall cycles in all: 50 per execution)."""
    ops = [{"name": "gpu", "start_cycle": 0, "end_cycle": 200, "compute_cycles": 100, "stall_cycles": 1_320,
            "stalls_by_level": {"l2": 800, "hbm": 520}, "mapping": {"units": 132, "work_cycles": 13_200}},
           {"name": "composed", "count": 4, "start_cycle": 200, "end_cycle": 300, "compute_cycles": 50,
            "stall_cycles": 200, "stalls_by_level": {"hbm": 200}}]
    report = {"name": "hand", "levels": [{"name": "l2"}, {"name": "hbm"}], "ops": ops}
    drawn: dict[str, list[float]] = {}
    real_bars = plots._bars

    def record(ax, x, heights, bottom, color, label):
        drawn[label] = [float(h) for h in heights]
        real_bars(ax, x, heights, bottom, color, label)

    monkeypatch.setattr(plots, "_bars", record)
    plots.plot_op_cycles(report, tmp_path / "op_cycles.png")
    assert drawn["compute"] == [100, 50]
    assert drawn["stall: l2"] == pytest.approx([800 / 132, 0])  # 6.06 cycles per SM
    assert drawn["stall: hbm"] == pytest.approx([520 / 132, 200 / 4])  # 3.94 per SM; 50 per execution
    # other wait = span − compute − stall: 200 − 100 − 10 = 90 and 100 − 50 − 50 = 0
    assert drawn["other wait (end - start - compute - stall)"] == pytest.approx([90, 0])


def test_bytes_per_level_ticks_are_round_binary_sizes(monkeypatch, tmp_path, lenet):
    # LeNet-5 on gemmini writes 268,408 bytes to and from sram before its read-back (its ws partial sums at the 4-byte
    # accumulator width; its four ReLUs fused into the accumulator's output path, arch/gemmini.yaml, so not the
    # 2 x (4,704 + 1,600 + 120 + 84) = 13,016 B they read and wrote before: 280,716 - 13,016; its 236 biases int32
    # in the int8 run, TFLite's quantization spec, units.INT_BIAS_DTYPE: 3 x 236 = 708 B more, as from DRAM) and
    # 62,740 + 708 = 63,448 to hbm. Each K fold after the first of the 16-deep array reads the running partial sums
    # back (probe p229 #1: Gemmini's AccumulatorMem reads before an accumulating write), (F_k − 1) · M · N · 4 B:
    # conv1 K 25 (2 folds) 1 · 784 · 6, conv2 K 150 (10) 9 · 100 · 16, fc1 K 400 (25) 24 · 120, fc2 K 120 (8) 7 · 84,
    # fc3 K 84 (6) 5 · 10 → (4,704 + 14,400 + 2,880 + 588 + 50) · 4 = 90,488 B, so 268,408 + 90,488 = 358,896 B of
    # sram: under 100x apart, a linear axis up to 1.15 x 358,896 = 412,730 B = 403.1 KiB. Six ticks' worth is 67.2 KiB
    # a tick, rounded up to 100 KiB (1, 2, 2.5, 5 x 10ⁿ): 0, 100, 200, 300, 400 KiB. A decimal step (100,000 B) read
    # "97.66KiB", "195.3KiB", ...
    readback = (1 * 784 * 6 + 9 * 100 * 16 + 24 * 120 + 7 * 84 + 5 * 10) * 4
    assert lenet["bytes"] == {"sram": 280_716 - 13_016 + 3 * 236 + readback, "hbm": 62_740 + 3 * 236}
    fig, _ = _saved(monkeypatch, tmp_path, plots.plot_bytes_per_level, lenet)
    labels = [t.get_text() for t in _drawn_tick_labels(fig.axes[0].yaxis)]
    assert labels == ["0", "100KiB", "200KiB", "300KiB", "400KiB"]


def test_binary_step():
    # 487 MiB / 6 = 81.2 MiB → 100 MiB; 1.5 MiB / 6 = 0.25 MiB → 0.25 MiB = 256 KiB; 10 B / 6 = 1.67 → 2 B;
    # 3 B / 6 = 0.5 → at least one byte; 3 GiB / 6 = 0.5 GiB → 512 MiB
    assert plots.binary_step(487 * 2**20) == 100 * 2**20
    assert plots.binary_step(1.5 * 2**20) == 256 * 2**10
    assert plots.binary_step(10) == 2
    assert plots.binary_step(3) == 1
    assert plots.binary_step(3 * 2**30) == 2**29


def _bar_labels(monkeypatch, tmp_path, report) -> tuple[list[str], str]:
    """The op bars' labels of ``report``'s op_cycles figure, as drawn, and the figure's title."""
    fig, _ = _saved(monkeypatch, tmp_path, plots.plot_op_cycles, report)
    return [t.get_text() for t in fig.axes[0].get_xticklabels()], fig._suptitle.get_text()


def test_a_serving_runs_bars_name_their_phase_and_the_title_what_the_run_covers(monkeypatch, tmp_path, serving):
    labels, title = _bar_labels(monkeypatch, tmp_path, serving)
    shown, _ = plots.op_bars(serving["ops"])
    # each bar is one op row, named with its phase as the console's table names it: the LM head once per phase
    assert labels == [f"{op['name']} ({op['phase']})" for op in shown]
    assert {"lm_head (prefill)", "lm_head (decode)"} <= set(labels)
    assert len(set(labels)) == len(labels)  # no two bars alike
    assert title == "gpt2_a100: cycles per op (compute vs stall)\nprefill + 2 decode steps; each bar one execution " \
                    "of its op"


def test_a_pipelines_bars_keep_the_ends_of_their_names_and_their_stage(monkeypatch, tmp_path, pipeline):
    labels, title = _bar_labels(monkeypatch, tmp_path, pipeline)
    shown, _ = plots.op_bars(pipeline["ops"])
    assert len(labels) == len(shown) == plots.TOP_OPS
    for label, op in zip(labels, shown, strict=True):
        suffix = f" (stage {op['stage']})"
        assert label.endswith(suffix) and len(label) <= plots.NAME_WIDTH
        name = label[: -len(suffix)]
        # the whole name, or an ellipsis and the name's end (its layer and sublayer: "…layers.0.mlp.dense_h_to_4h")
        assert name == op["name"] or name.startswith("\u2026") and op["name"].endswith(name[1:])
    cut = [label for label in labels if label.startswith("\u2026")]
    assert cut and all(re.search(r"\.\d+\.", label) for label in cut)  # a cut name still says its layer (".1.")
    assert len(set(labels)) == len(labels)  # so no two bars are alike
    assert title.endswith("\npipeline of 2 stages × 4 micro-batches; each bar one execution of its op")


def test_a_plain_runs_title_is_one_line(monkeypatch, tmp_path, lenet):
    labels, title = _bar_labels(monkeypatch, tmp_path, lenet)
    assert title == "lenet5_gemmini: cycles per op (compute vs stall)"
    assert labels == [op["name"] for op in plots.op_bars(lenet["ops"])[0]]  # no part, no cut (short names)


def test_the_chips_link_is_drawn_and_listed_apart_from_memories_and_on_chip_levels(monkeypatch, tmp_path):
    # a 1 MiB ring all-reduce over dgx-h100's 8 GPUs: each GPU sends 2 (n - 1) / n x 1 MiB = 1,835,008 B over the
    # NVLink/NVSwitch link (the NCCL ring's bus bytes), an off-chip fabric that holds no tensor: neither a memory
    # (green) nor an on-chip level (blue) in bytes_per_level, utilization and the HTML table (probe p195 #1)
    from matplotlib.colors import to_hex

    run = simulate({"model": "collective", "op": "all_reduce", "bytes": "1MiB"}, "dgx-h100")
    report = run.to_dict()
    assert report["bytes"]["link"] == 2 * 7 * 2**20 // 8
    fig, _ = _saved(monkeypatch, tmp_path, plots.plot_bytes_per_level, report)
    ax = fig.axes[0]
    colour = dict(zip([t.get_text() for t in ax.get_xticklabels()], [to_hex(p.get_facecolor()) for p in ax.patches],
                      strict=True))
    assert colour["link"] == plots._LINK_COLOR.lower() and colour["hbm"] == plots._MEMORY_COLOR.lower()
    assert colour["sram"] == colour["l2"] == plots._COMPUTE_COLOR.lower()
    assert "purple: between chips" in ax.get_xlabel()
    fig, _ = _saved(monkeypatch, tmp_path, plots.plot_utilization, report)
    assert "between chips" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    run.save(tmp_path / "run", plots=False)
    page = (tmp_path / "run" / "report.html").read_text()
    assert "<td>link</td><td>interconnect</td>" in page and "<td>hbm</td><td>memory</td>" in page
