"""Design-space sweeps: a base experiment and axes (grid, zip) → points with stable ids → an executor (local
processes or Dask) → OUTDIR/results.jsonl, results.csv and plots. See docs/sweeps.md.

    >>> from accelsim.sweep import run_sweep                                   # doctest: +SKIP
    >>> run_sweep("experiments/resnet50_array_dataflow_sweep.yaml", workers=2)  # doctest: +SKIP

Modules: :mod:`.expand` (points, filters, ids), :mod:`.store` (results.jsonl, sweep.json, results.csv),
:mod:`.executors` (process pool, Dask), :mod:`.runner` (:func:`run_sweep`, :func:`plot_sweep`), :mod:`.plots`.
The names below are imported on first use, so importing this package loads nothing heavy.
"""

__all__ = ["SweepSummary", "is_sweep_dir", "plot_sweep", "run_sweep"]


def __getattr__(name: str):
    if name in ("SweepSummary", "plot_sweep", "run_sweep"):
        from . import runner

        return getattr(runner, name)
    if name == "is_sweep_dir":
        from .store import is_sweep_dir

        return is_sweep_dir
    raise AttributeError(f"module 'accelsim.sweep' has no attribute {name!r}")
