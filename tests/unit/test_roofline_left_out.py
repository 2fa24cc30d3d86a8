"""Probe p221 #5: the roofline's note counts the ops it leaves out by their reason. A real report: one GPT-2 layer at
32 tokens on the h100 preset, whose 2 embedding gathers (wte, wpe) move bytes over a duration but have 0 FLOPs
(intensity 0, which a log axis cannot show), and whose 4 attention reshapes (q, k, v, merge) are views with no
off-chip bytes and no duration (intensity and FLOP/s null)."""

from __future__ import annotations

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.report import plots


def test_ops_with_no_flops_are_counted_apart_from_those_without_bytes_or_duration(tmp_path, monkeypatch):
    report = simulate(load_workload("gpt2", ["seq_len=32", "layers=1"]), "h100").to_dict()
    gathers = [op for op in report["ops"] if op["kind"] == "embedding"]
    views = [op for op in report["ops"] if op["kind"] == "reshape"]
    assert len(gathers) == 2 and all(op["flops"] == 0 and op["arithmetic_intensity"] == 0 for op in gathers)
    assert len(views) == 4 and all(op["arithmetic_intensity"] is None for op in views)
    assert plots.roofline_left_out(report) == (4, 2)
    texts = []
    real = plots._save
    monkeypatch.setattr(plots, "_save", lambda plt, fig, path: (
        texts.extend(t.get_text() for t in fig.axes[0].texts), real(plt, fig, path))[1])
    plots.plot_roofline(report, tmp_path / "roofline.png")
    # was "6 op(s) without off-chip bytes or duration not shown"
    assert "4 op(s) without off-chip bytes or duration, 2 op(s) with no FLOPs (intensity 0) not shown" in texts
