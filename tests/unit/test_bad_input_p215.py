"""Probe p215: bad input that got an internal error (exit 1), several lines, a wrong location, or lost finished work.
Each case here is one line naming the file, line and key, with exit status 2, found before anything is simulated."""

from __future__ import annotations

import pytest

from ..conftest import cli_errors

EXPERIMENT = "name: x\nworkload: lenet5\narch: scalesim-32x32\n"
SERVING = """\
name: x
model: {model: llama2_7b, attention: fused}
arch: h100
workload: {arrival: {process: constant, rate: 2}, prompt_tokens: {dist: fixed, value: 100}, output_tokens: {dist: fixed, value: 10}, requests: 4}
"""
SWEEP = "base: {workload: lenet5, arch: scalesim-32x32}\ngrid: {workload.batch: [1, 2]}\n"
RUN = ["--no-plots", "-q"]


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one(capsys, argv: list[str]) -> str:
    (line,) = cli_errors(capsys, argv)
    return line


def _write(name: str, text: str) -> str:
    with open(name, "w") as f:
        f.write(text)
    return name


# ---- 5 and 6: a file's output: empty, blank or with a NUL byte --------------------------------------------------

EMPTY = "an empty folder name; give a folder, or leave output out for the default (runs/NAME)"
NUL = "folder not found: a name with a NUL byte is no path"


@pytest.mark.parametrize(("command", "text", "line"), [("run", EXPERIMENT, 4), ("serve", SERVING, 5),
                                                        ("sweep", SWEEP, 3)])
@pytest.mark.parametrize(("value", "why"), [('""', EMPTY), ('"   "', EMPTY), ('"a\\0b"', NUL)])
def test_a_files_output_is_refused_at_its_line(here, capsys, command, text, line, value, why):
    # `-o ""` is refused rather than taken for the default folder (README): the file's output: "" the same way
    # (it wrote runs/x); "   " named `outdir`, no line, with a PosixPath repr; "a\0b" was an internal error, exit 1
    _write("f.yaml", text + f"output: {value}\n")
    got = _one(capsys, [command, "f.yaml", *RUN])
    assert got.startswith(f"accelsim: error: f.yaml:{line}: output: {why} (got "), got
    assert not (here / "runs").exists()


# ---- 5: a NUL byte in an hf config: or an onnx path: -------------------------------------------------------------

@pytest.mark.parametrize(("workload", "key"), [('{model: hf, config: "a\\0b.json"}', "config"),
                                               ('{model: onnx, path: "a\\0b.onnx"}', "path")])
def test_a_nul_byte_in_a_workload_path_is_file_not_found(here, capsys, workload, key):
    # as `arch: "a\0b.yaml"` gives: "file not found" at the key (it was "internal error: ValueError: embedded null
    # byte", exit 1)
    _write("f.yaml", f"name: x\nworkload: {workload}\narch: tpu-v4\n")
    assert _one(capsys, ["run", "f.yaml", *RUN]) == (
        f"accelsim: error: f.yaml:2: workload.{key}: file not found (got 'a\\x00b.{'json' if key == 'config' else 'onnx'}')")
