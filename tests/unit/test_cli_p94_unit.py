"""Probe p94 (and p89 #7): a folder written by ``serve --sweep`` / ``--capacity`` describes that run alone, ``compare``
on such a folder names what it is, ``info`` on a run preset names what it runs, argument errors show the command's own
usage, and ``info``'s title for a ``model: layers`` file is short."""

from __future__ import annotations

import json

import pytest
import yaml

from accelsim.cli import main
from accelsim.config.presets import find_preset
from accelsim.errors import AccelsimError
from accelsim.report.writers import read_report
from accelsim.serving.capacity import CAPACITY_CSV, SWEEP_CSV, save, save_sweep
from accelsim.serving.curve import CURVE_CSV, remove_points_from


def _point(folder, text="{}"):
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(text)
    return folder


def test_remove_points_from_keeps_the_new_sweeps_points_only(tmp_path):
    # a 5-point sweep's folders, then a 2-point sweep: point_2 .. point_4 are the old sweep's; other names stay
    for i in range(5):
        _point(tmp_path / f"point_{i}")
    (tmp_path / "point_notes").mkdir()
    (tmp_path / "point_7.txt").write_text("a file, not a point folder")
    remove_points_from(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["point_0", "point_1", "point_7.txt", "point_notes"]


def test_capacity_sweep_removes_an_older_longer_sweeps_points_and_a_search_without_best_its_old_best(tmp_path):
    for i in range(3):
        _point(tmp_path / f"point_{i}" / "best")
    # one value, no rate kept the goal (no probes): capacity_sweep.csv has 1 row, point_0 has no best/ any more
    save_sweep(tmp_path, "engine.max_num_seqs", ["8"], [(None, [])], plots=False)
    assert sorted(p.name for p in tmp_path.glob("point_*")) == ["point_0"]
    assert not (tmp_path / "point_0" / "best").exists()
    assert (tmp_path / "point_0" / CAPACITY_CSV).is_file()
    assert (tmp_path / SWEEP_CSV).read_text().splitlines() == ["value,capacity_requests_per_s,runs", "8,,0"]
    # a plain search into a folder with an earlier best/: capacity.csv names no best, so best/ goes
    _point(tmp_path / "single" / "best")
    save(tmp_path / "single", None, [], plots=False)
    assert not (tmp_path / "single" / "best").exists()


@pytest.mark.parametrize("marker, points, says", [
    (CURVE_CSV, ["point_0", "point_1", "point_10", "point_2"], "a 'serve --sweep' folder, not a report"),
    (CAPACITY_CSV, ["best"], "a 'serve --capacity' folder, not a report"),
    (SWEEP_CSV, ["point_0/best", "point_1/best"], "a 'serve --capacity --sweep' folder, not a report"),
])
def test_compare_on_a_serve_sweep_or_capacity_folder_names_it_and_its_report_folders(tmp_path, capsys, marker,
                                                                                      points, says):
    out = tmp_path / "out"
    out.mkdir()
    (out / marker).write_text("value\n")
    for p in points:
        _point(out / p)
    with pytest.raises(AccelsimError) as e:
        read_report(out)
    msg = str(e.value)
    assert msg.startswith(f"{out}: {says}") and "accelsim run" not in msg, msg
    # the report folders in point order (point_10 after point_2), three at most then "..."
    order = sorted(points, key=lambda p: int(p.split("/")[0].rpartition("_")[2]) if "_" in p else 0)
    shown = " ".join(str(out / p) for p in order[:3]) + (" ..." if len(order) > 3 else "")
    assert msg.endswith(f"'accelsim compare {shown}'"), msg
    assert main(["compare", str(out), str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"accelsim: error: {msg}"]


def test_compare_on_a_capacity_folder_with_no_best_says_so(tmp_path):
    (tmp_path / CAPACITY_CSV).write_text("rate\n")
    with pytest.raises(AccelsimError, match=r"holds no report folder \(no rate kept the goal\)$"):
        read_report(tmp_path)


@pytest.mark.parametrize("argv, command", [
    (["info", "nonexist", "-q"], "info"),
    (["plot", "x", "--foo"], "plot"),
    (["run", "-w", "gemm", "-a", "tpu-v1", "--foo"], "run"),
    (["compare", "a", "b", "-q"], "compare"),
])
def test_an_unknown_option_shows_the_usage_of_its_command(argv, command, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.splitlines()
    assert e.value.code == 2
    assert err[0].startswith(f"usage: accelsim {command} [-h]"), err
    assert err[-1] == f"accelsim {command}: error: unrecognized arguments: {argv[-1]}"


def test_an_unknown_option_before_the_command_shows_the_top_level_usage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--foo", "list"])
    err = capsys.readouterr().err.splitlines()
    assert e.value.code == 2 and err[0].startswith("usage: accelsim [-h]") and err[-1].endswith("--foo")


def test_info_help_describes_batch_and_mode(capsys):
    with pytest.raises(SystemExit):
        main(["info", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--batch BATCH batch size" in text
    assert "--mode {inference,training} inference or training" in text


def test_info_on_an_experiment_or_serving_preset_names_what_it_runs(capsys):
    # the names expected are read from the shipped files themselves
    exp = yaml.safe_load(find_preset("experiments", "resnet50_tpu_v1").read_text())
    assert main(["info", "resnet50_tpu_v1"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("accelsim: error: resnet50_tpu_v1: an experiment, not a workload or arch")
    assert f"its workload is {exp['workload']['model']!r} on arch {exp['arch']!r}" in line
    assert "'accelsim run resnet50_tpu_v1' runs it" in line
    serving = yaml.safe_load((find_preset("experiments", "serving/llama2_7b_h100")).read_text())
    assert main(["info", "llama2_7b_h100"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"a serving preset, not a workload or arch: its model is {serving['model']['model']!r} " \
           f"on arch {serving['arch']!r}" in line and "'accelsim serve llama2_7b_h100' runs it" in line
    assert main(["info", "resnet50_array_dataflow_sweep"]) == 2
    assert "a sweep, not a workload or arch ('accelsim sweep resnet50_array_dataflow_sweep' runs it" \
        in capsys.readouterr().err


def test_info_title_of_a_layers_file_counts_its_layers(tmp_path, capsys):
    # four layers of three types (the second linear unnamed: its default name is linear_1)
    path = tmp_path / "two.yaml"
    path.write_text(json.dumps({"name": "two", "model": "layers", "input": [1, 64], "layers": [
        {"type": "linear", "out_features": 64}, {"type": "relu"},
        {"type": "linear", "out_features": 64, "inputs": ["input"]}, {"type": "add", "inputs": ["relu", "linear_1"]}]}))
    assert main(["info", str(path)]) == 0
    title = capsys.readouterr().out.splitlines()[0].strip()
    assert title == "two (batch 1; inference; input=1, 64, layers=4 (linear, relu, add))"
