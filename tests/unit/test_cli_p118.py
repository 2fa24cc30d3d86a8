"""Probe p118: a command does not write into a folder another command's outputs fill (``plot`` and ``compare`` read
such a folder as either), they refuse one written so before, and ``run EXPERIMENT --batch/--mode`` names the
``--set`` that does what the flag given would."""

from __future__ import annotations

import pytest

from accelsim.cli import main
from accelsim.errors import AccelsimError
from accelsim.report.writers import claim_folder, folder_writers, read_report
from accelsim.serving import capacity, curve, metrics
from accelsim.sweep.store import FORMAT

# What each command writes at the top of its mark file (probe p174 #1: a file counts as the command's by its content,
# not its name alone; these tests wrote empty files, which now mark nothing, as a user's file of the name does not)
MARKS = {
    "report.json": '{\n  "accelsim_version": "0.1.0",\n  "name": "gemm"\n}\n',
    "requests.csv": ",".join(metrics.CSV_COLUMNS) + "\n",
    "sweep.csv": ",".join(curve.curve_columns("rate")) + "\n",
    "capacity.csv": ",".join(capacity.COLUMNS) + "\n",
    "capacity_sweep.csv": ",".join(capacity.SWEEP_COLUMNS) + "\n",
    "sweep.json": f'{{\n  "format": "{FORMAT}"\n}}\n',
}


def _write_marks(folder, names):
    for name in names:
        (folder / name).write_text(MARKS.get(name, ""))


@pytest.mark.parametrize("files, writers", [
    ([], []),
    (["report.json", "ops.csv"], ["accelsim run"]),
    (["report.json", "requests.csv", "timeseries.csv"], ["accelsim serve"]),  # a serve run's report.json is its own
    (["sweep.csv"], ["accelsim serve --sweep"]),
    (["capacity.csv"], ["accelsim serve --capacity"]),
    (["capacity_sweep.csv"], ["accelsim serve --capacity --sweep"]),
    (["sweep.json", "results.jsonl"], ["accelsim sweep"]),
    (["sweep.csv", "report.json"], ["accelsim serve --sweep", "accelsim run"]),
    (["notes.txt"], []),  # a file no command writes marks nothing
])
def test_folder_writers_names_each_command_by_the_file_it_writes_at_the_top(tmp_path, files, writers):
    _write_marks(tmp_path, files)
    assert folder_writers(tmp_path) == writers


def test_claim_folder_refuses_another_commands_folder_and_takes_its_own_or_an_empty_one(tmp_path):
    claim_folder(tmp_path / "new", "accelsim run")  # not there yet
    claim_folder(tmp_path, "accelsim run")  # empty
    _write_marks(tmp_path, ["report.json"])
    claim_folder(tmp_path, "accelsim run")  # its own: a run again overwrites its own files
    with pytest.raises(AccelsimError, match=r"holds the outputs of 'accelsim run'; 'accelsim serve --sweep' writes"):
        claim_folder(tmp_path, "accelsim serve --sweep")


def test_run_into_a_serve_folder_is_refused_before_it_runs(tmp_path, capsys):
    out = tmp_path / "served"
    out.mkdir()
    _write_marks(out, ["report.json", "requests.csv", "timeseries.csv"])
    assert main(["run", "-w", "gemm", "-a", "tpu-v1", "-q", "--no-plots", "-o", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"accelsim: error: {out}: holds the outputs of 'accelsim serve'; 'accelsim run' writes into a new "
                   f"folder, an empty one or one it wrote: give -o another folder"]
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "requests.csv", "timeseries.csv"]  # untouched


def test_plot_and_compare_refuse_a_folder_two_commands_wrote(tmp_path, capsys):
    _write_marks(tmp_path, ["report.json", "sweep.json"])
    msg = (f"{tmp_path}: holds the outputs of both 'accelsim sweep' and 'accelsim run', written into one folder; "
           f"run the one you want again into a new folder")
    with pytest.raises(AccelsimError) as e:
        read_report(tmp_path)
    assert str(e.value) == msg
    assert main(["plot", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"accelsim: error: {msg}"]


@pytest.mark.parametrize("flags, remedy", [
    (["--mode", "training"], "--mode goes with --workload; with an experiment use --set workload.mode=training"),
    (["--batch", "4"], "--batch goes with --workload; with an experiment use --set workload.batch=4"),
    (["--batch", "2", "--mode", "training"],
     "--batch/--mode go with --workload; with an experiment use --set workload.batch=2 --set workload.mode=training"),
])
def test_run_experiment_with_batch_or_mode_names_the_set_for_the_flag_given(tmp_path, capsys, flags, remedy):
    assert main(["run", "resnet50_tpu_v1", *flags, "-o", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.splitlines() == [f"accelsim: error: run: {remedy}"]
