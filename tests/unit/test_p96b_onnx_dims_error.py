"""Probe p96 #6: the ONNX missing-dims error reads the same whichever form names the model: ``workload.dims`` for
``-w X.onnx`` and for ``-w onnx --set workload.path=X.onnx`` (it was bare ``dims``), and ``info`` names the file once
(it printed ``X.onnx: workload.dims: X.onnx: ...``)."""

from __future__ import annotations

import pytest

from accelsim.cli import main

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

WHY = "symbolic input dims other than the batch axis need a size: 'x' axis 1 ('seq')"


@pytest.fixture
def model(tmp_path, monkeypatch):
    """seq.onnx in a fresh folder: x (batch, seq, 64) @ W (64, 128); 'seq' has no size and is not the batch."""
    w = helper.make_tensor("W", TensorProto.FLOAT, (64, 128), [0.0] * (64 * 128))
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "mm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 128])],
                              initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "seq.onnx"))
    monkeypatch.chdir(tmp_path)
    return "seq.onnx"


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    return line


@pytest.mark.parametrize("named", ["seq.onnx", "./seq.onnx"])
def test_info_names_the_file_once(model, capsys, named):
    line = _error(capsys, ["info", "-w", named])
    assert line.startswith(f"accelsim: error: {named}: workload.dims: {WHY}"), line
    assert line.count("seq.onnx") == 1, line


@pytest.mark.parametrize("command", ["info", "run"])
def test_the_set_path_form_roots_dims_under_workload(model, capsys, command):
    # `-w onnx --set workload.path=X.onnx` is the same workload as `-w X.onnx` (configuration.md): the same key
    run = ["-a", "a100", "-o", "out", "-q", "--no-plots"] if command == "run" else []
    line = _error(capsys, [command, "-w", "onnx", "--set", f"workload.path={model}", *run])
    label = "onnx" if command == "info" else "--workload"
    assert line.startswith(f"accelsim: error: {label}: workload.dims: seq.onnx: {WHY}"), line
    form = _error(capsys, [command, "-w", model, *run])
    assert ": workload.dims: " in form and ": dims: " not in line + form
