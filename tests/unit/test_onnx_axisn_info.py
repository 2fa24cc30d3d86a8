"""Probe p95 #7: ``accelsim info`` on an experiment, serving or sweep file given by its path names what the file is
and the command that runs it, as it does for a preset's name (036a463d), instead of reading it as a workload file
and blaming a ``model:`` that is not missing ("experiments/resnet50_tpu_v1.yaml:5: model: missing"). (The file is
named for the branch that fixed it, test_onnx_axisn*; it tests the CLI, not ONNX.)"""

from __future__ import annotations

import json

from accelsim.cli import main


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()  # one line
    return line


def test_experiment_by_path_says_it_is_an_experiment(tmp_path, capsys):
    (tmp_path / "e.yaml").write_text("name: e\nworkload:\n  model: resnet50\n  batch: 1\narch: tpu-v1\n")
    line = _error(capsys, ["info", str(tmp_path / "e.yaml")])
    assert line == (f"accelsim: error: {tmp_path / 'e.yaml'}: an experiment, not a workload or arch: its workload is "
                    f"'resnet50' on arch 'tpu-v1' ('accelsim run {tmp_path / 'e.yaml'}' runs it; 'accelsim info "
                    f"resnet50 --arch tpu-v1' shows that workload without the file's settings)")
    assert "model: missing" not in line  # was "e.yaml:3: model: missing: name the workload builder"


def test_shipped_experiment_by_path(capsys):
    import accelsim.config.presets as presets

    path = presets.find_preset("experiments", "resnet50_tpu_v1")
    line = _error(capsys, ["info", str(path)])
    assert f"{path}: an experiment, not a workload or arch: its workload is 'resnet50' on arch 'tpu-v1'" in line
    assert f"'accelsim run {path}' runs it" in line


def test_a_workload_path_the_experiment_names_is_shown_from_its_folder(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.yaml").write_text("workload: ../wl.yaml\narch: tpu-v1\n")
    line = _error(capsys, ["info", str(tmp_path / "sub" / "e.yaml")])
    assert f"its workload is '{tmp_path / 'wl.yaml'}' on arch 'tpu-v1'" in line  # relative to the file's folder


def test_serving_and_sweep_files_by_path(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text("model: {model: llama2_7b}\narch: h100\nworkload:\n  arrival: {rate: 1}\n")
    line = _error(capsys, ["info", str(tmp_path / "s.yaml")])
    assert ": a serving file, not a workload or arch: its model is 'llama2_7b' on arch 'h100'" in line
    assert f"'accelsim serve {tmp_path / 's.yaml'}' runs it" in line
    (tmp_path / "w.yaml").write_text("base: {workload: resnet50, arch: tpu-v1}\ngrid:\n  workload.batch: [1, 2]\n")
    line = _error(capsys, ["info", str(tmp_path / "w.yaml")])
    assert line.endswith(f"a sweep, not a workload or arch ('accelsim sweep {tmp_path / 'w.yaml'}' runs it)")


def test_workload_and_arch_files_by_path_still_show(tmp_path, capsys):
    (tmp_path / "wl.yaml").write_text("model: gemm\nm: 8\nn: 16\nk: 32\n")
    assert main(["info", str(tmp_path / "wl.yaml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["macs"] == 8 * 16 * 32  # 4,096: the workload file, read as one
    (tmp_path / "b.yaml").write_text("base: gemm\nm: 4\nn: 4\nk: 4\nbatch: 2\n")  # a base: is no experiment
    assert main(["info", str(tmp_path / "b.yaml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["workload"]["batch"] == 2
    (tmp_path / "a.yaml").write_text("base: tpu-v1\n")  # an arch file by path: still the arch
    assert main(["info", str(tmp_path / "a.yaml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["clock_hz"] == 700e6  # TPU v1: 700 MHz (Jouppi et al., ISCA 2017)
