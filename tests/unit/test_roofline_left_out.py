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
    # GPT2Attention's eager path on a GPU preset (probe p235 #3): the scores' division by √d (``scale``) and the
    # merge's ``permute(0, 2, 1, 3).contiguous()`` (``merge``, a view before) are kernels with bytes and no FLOPs
    eager = [op for op in report["ops"] if op["name"] in ("transformer.h.0.attn.scale", "transformer.h.0.attn.merge")]
    assert len(gathers) == 2 and all(op["flops"] == 0 and op["arithmetic_intensity"] == 0 for op in gathers)
    assert len(eager) == 2 and all(op["flops"] == 0 and op["arithmetic_intensity"] == 0 for op in eager)
    assert len(views) == 3 and all(op["arithmetic_intensity"] is None for op in views)  # q, k and v's split_heads
    # and the 7 steps of gelu_new's eager chain before its last kernel (transformer._eager_gelu_new: in inference
    # eager-only, no FLOPs, the model's GELU counted by the last, so the model's FLOPs are one GELU's)
    gelu = [op for op in report["ops"] if op["name"].startswith("transformer.h.0.mlp.act.")]
    assert len(gelu) == 7 and all(op["flops"] == 0 and op["arithmetic_intensity"] == 0 for op in gelu)
    assert plots.roofline_left_out(report) == (3, 4 + 7)
    texts = []
    real = plots._save
    monkeypatch.setattr(plots, "_save", lambda plt, fig, path: (
        texts.extend(t.get_text() for t in fig.axes[0].texts), real(plt, fig, path))[1])
    plots.plot_roofline(report, tmp_path / "roofline.png")
    # was "6 op(s) without off-chip bytes or duration not shown"
    assert "3 op(s) without off-chip bytes or duration, 11 op(s) with no FLOPs (intensity 0) not shown" in texts
