"""Probe p221 #6: sweep_lines.png's tick labels at the values themselves never overlap: those that would are hidden."""

from accelsim.sweep import plots


def test_tick_labels_that_would_meet_on_a_log_axis_are_thinned(tmp_path, monkeypatch):
    # probe p221 #6: 500MB/s, 34GB/s, 68GB/s, 1TB/s on a log2 axis (the values span 2000x): 34 and 68 GB/s are one
    # octave apart, less than a label's width on a 5-inch panel, and printed as "34GB/68GB/s". Made-up latencies.
    axes = ["arch.hbm.bandwidth"]
    recs = [{"id": str(i), "status": "ok", "point": {"arch.hbm.bandwidth": bw}, "metrics": {"seconds": s}}
            for i, (bw, s) in enumerate([("1TB/s", 1e-6), ("34GB/s", 6e-6), ("68GB/s", 3e-6), ("500MB/s", 4e-4)])]
    shown = []
    real = plots._save

    def save(plt, fig, path):
        plots._tight(fig)
        plots._thin_labels(fig)
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in fig.axes[0].get_xticklabels()
                 if t.get_visible() and t.get_text()]
        shown.append(([t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_visible() and t.get_text()],
                      boxes))
        return real(plt, fig, path)

    monkeypatch.setattr(plots, "_save", save)
    plots.plot_lines(recs, axes, tmp_path / "l.png", name="sw3")
    (texts, boxes), = shown
    assert texts[0] == "500MB/s" and "1TB/s" in texts and len(texts) < 4  # one of 34 / 68 GB/s hidden
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:], strict=False))  # the shown ones do not overlap
