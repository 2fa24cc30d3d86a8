"""docs/sweeps.md keeps up with the sweeps it documents (probe p118 #4, #5): its results.jsonl sample line carries
the id the preset's first point has today, and its "Ready sweeps" table lists every sweep preset once."""
import json
import re
from pathlib import Path

from accelsim.config import list_presets
from accelsim.config.presets import experiment_names
from accelsim.config.sweep import load_sweep
from accelsim.sweep.expand import PlanStream

DOC = Path(__file__).resolve().parents[2] / "docs" / "sweeps.md"


def test_the_sample_results_line_has_the_presets_first_point_id():
    # the doc says: "the first line `accelsim sweep resnet50_array_dataflow_sweep --workers 2` writes", 16x16 ws
    # (probe p118 #4: the id 7ce08c933396c17f had gone stale while every metric still matched)
    line = next(x for x in DOC.read_text().splitlines() if x.startswith('{"id": '))
    sample = json.loads(line)
    first = next(iter(PlanStream(load_sweep("resnet50_array_dataflow_sweep"))))  # planned as the sweep runs
    assert first.values == sample["point"]
    assert first.id == sample["id"]


def test_the_ready_sweeps_table_lists_every_sweep_preset_once():
    text = DOC.read_text().split("## Ready sweeps", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `experiments/(\w+)\.yaml` \|", text, flags=re.M)
    sweeps = [n for n in list_presets("experiments") if n not in experiment_names()]  # `accelsim list sweeps`
    assert len(sweeps) >= 7 and sorted(rows) == sorted(sweeps)
