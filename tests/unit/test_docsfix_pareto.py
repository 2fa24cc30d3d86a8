"""Probe p118 #6: the Pareto plot's energy colorbar is titled by its metric alone, its ticks carrying the unit
("260 µJ", "1.6 mJ"); before, "system_energy_j (J)" sat over ticks in µJ and mJ."""
from pathlib import Path

from accelsim.sweep import plots


def test_the_energy_colorbar_title_has_no_unit_beside_its_unit_ticks(tmp_path, monkeypatch):
    figures = {}

    def keep(plt, fig, path):
        fig.canvas.draw()
        figures[Path(path).name] = fig
        return Path(path)

    monkeypatch.setattr(plots, "_save", keep)
    # made-up points of one workload: 3 array sizes, system energy 260 µJ .. 1.6 mJ (the probe's tick range)
    records = [{"id": str(i), "status": "ok", "point": {"arch.core.systolic.rows": rows},
                "metrics": {"seconds": s, "system_area_mm2": a, "system_energy_j": e}}
               for i, (rows, s, a, e) in enumerate([(16, 4e-3, 1.0, 1.6e-3), (32, 2e-3, 2.0, 6e-4),
                                                    (64, 1e-3, 4.0, 2.6e-4)])]
    assert plots.plot_pareto(records, ["arch.core.systolic.rows"], tmp_path / plots.PARETO_FILE) is not None
    bar = figures[plots.PARETO_FILE].axes[1]
    assert bar.get_ylabel() == "system_energy_j"
    ticks = [t.get_text() for t in bar.get_yticklabels() if t.get_text()]
    assert ticks and all(t.endswith("J") for t in ticks)  # "400 µJ", "1 mJ": the unit is on every tick
