"""Hardware validation: replay published real-hardware measurements through accelsim and report the error
(``python benchmarks/validate.py``; docs/validation.md).

Modules, in the order a run uses them:

* :mod:`.data`: where the measurement files are, their format, hardware tag and rows.
* :mod:`.llmcompass`, :mod:`.vidur`, :mod:`.calculon` (chosen by :mod:`.plan`): each measured row as the
  simulation jobs and formula terms that give its simulated counterpart (:mod:`.model` holds the types).
* :mod:`.jobs`, :mod:`.replay`: a job as an accelsim experiment; every distinct one simulated once, through
  :mod:`accelsim.sweep`'s results store (stable ids, finished ones skipped on a re-run) and process pool.
* :mod:`.metrics`: errors, MAPE and bias per view, the targets.
* :mod:`.report`: the console tables and validation.csv, skipped.csv, summary.json, validation.png.
* :mod:`.cli`: the command line.
"""

from .data import default_data_dir, discover, read_rows
from .metrics import bias, evaluate, mape, summarize
from .model import TARGETS, FilePlan, FileResult, RowResult, RowSpec, ViewStat, job
from .plan import plan_file
from .replay import SimStore, replay_file, simulate_jobs

__all__ = ["TARGETS", "FilePlan", "FileResult", "RowResult", "RowSpec", "SimStore", "ViewStat", "bias",
           "default_data_dir", "discover", "evaluate", "job", "mape", "plan_file", "read_rows", "replay_file",
           "simulate_jobs", "summarize"]
