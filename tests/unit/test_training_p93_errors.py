"""Probe p93 #2, #3, #5: the pipeline keys' refusals name the key at fault (pipeline_parallel not dividing the layers
blames pipeline_parallel whatever the interleave; an interleave without a pipeline is refused), and
overlap_grad_reduce is refused in inference as the other training-only keys are."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.cli import main


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


@pytest.mark.parametrize(("sets", "says"), [
    # 5 does not divide 96: no interleave fixes it, so pipeline_parallel is at fault, "(got 5)" its value
    (["layers=96", "pipeline_parallel=5", "pipeline_interleave=3", "micro_batches=10"],
     "--set: workload.pipeline_parallel: pipeline_parallel × pipeline_interleave (5 × 3 = 15) does not divide "
     "layers (96)"),
    # 8 divides 96 but 8 × 5 = 40 does not: the interleave is at fault
    (["layers=96", "pipeline_parallel=8", "pipeline_interleave=5", "micro_batches=8"],
     "--set: workload.pipeline_interleave: pipeline_parallel × pipeline_interleave (8 × 5 = 40) does not divide "
     "layers (96): choose another pipeline_interleave (got 5)"),
    # interleaving needs a pipeline (Megatron-LM's interleaved schedule), whatever divides the layers
    (["pipeline_interleave=4", "micro_batches=4"], "--set: workload.pipeline_interleave: interleaves model chunks"),
    (["pipeline_interleave=5"], "--set: workload.pipeline_interleave: interleaves model chunks"),
    # an inference run reduces no gradient
    (["overlap_grad_reduce=true"], "--set: workload.overlap_grad_reduce: training only"),
])
def test_pipeline_keys_at_fault_are_named(capsys, sets, says):
    args = [a for s in sets for a in ("--set", f"workload.{s}")]
    assert main(["info", "gpt", *args]) == 2
    err = _one_line(capsys)
    assert err.startswith(f"accelsim: error: {says}"), err
    if "pipeline_parallel=5" in sets:
        assert err.endswith("choose another pipeline_parallel (got 5)"), err


def test_the_file_form_points_at_the_pipeline_parallel_line(tmp_path, capsys):
    exp = tmp_path / "exp.yaml"  # line 1 name, 2 workload, 3 model, 4 layers, 5 pipeline_parallel, 6 interleave
    exp.write_text("name: bad\nworkload:\n  model: gpt\n  layers: 96\n  pipeline_parallel: 5\n"
                   "  pipeline_interleave: 3\n  micro_batches: 10\n  mode: training\narch: dgx-a100\n")
    assert main(["run", str(exp), "-o", str(tmp_path / "out"), "-q", "--no-plots"]) == 2
    assert _one_line(capsys).startswith(f"accelsim: error: {exp}:5: workload.pipeline_parallel: ")


def test_overlap_grad_reduce_is_taken_in_training():
    accelsim.load_workload({"model": "gpt", "mode": "training", "overlap_grad_reduce": True})
