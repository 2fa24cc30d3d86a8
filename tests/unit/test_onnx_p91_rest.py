"""Probe p91 leftovers: the ONNX importer's batch when ``dims`` sizes axis 0 (#5) and where the missing-dims error
is reported when the model is named by its path (#6). Counts are by hand: a MatMul of x (..., 64) by W (64, 128)
is rows × 64 × 128 MACs; a 3×3 conv of 3 → 4 channels, padding 1 on 8×8, is N·4·8·8·(3·3·3) MACs."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.cli import main
from accelsim.errors import ConfigError

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from .test_api_p91 import _matmul_model  # noqa: E402

_matmul = _matmul_model  # x (dims) @ W (64, 128), saved at path when given


def _conv(n):
    w = helper.make_tensor("W", TensorProto.FLOAT, (4, 3, 3, 3), [0.0] * (4 * 3 * 3 * 3))
    node = helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "cv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, 4, 8, 8])], initializer=[w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


# ---- #5: an axis 0 that dims sizes under another name is no batch --------------------------------------------------

def test_dims_sized_axis_0_of_another_name_is_not_the_batch():
    g = accelsim.from_onnx(_matmul(["seq", 4, 64]), dims={"seq": 10})
    assert g.meta["batch"] == 1  # was 10: the sequence length taken for the batch
    assert g.macs == 10 * 4 * 64 * 128  # 327,680: the 40 rows still run
    notes = g.meta.get("notes") or []
    assert any("no graph input has a symbolic batch axis" in n and "'seq'" in n
               and "batch/batch_size (or N at axis 0)" in n for n in notes), notes  # N only at axis 0: p95 #2


def test_dims_sized_axis_0_reports_energy_per_run(tmp_path):
    _matmul(["seq", 4, 64], tmp_path / "s.onnx")
    r = accelsim.simulate({"model": "onnx", "path": str(tmp_path / "s.onnx"), "dims": {"seq": 10}}, "tpu-v4",
                          plots=False).to_dict()
    assert r["workload"]["batch"] == 1
    assert r["efficiency"]["j_per_inference"] == pytest.approx(r["energy"]["total_j"], rel=1e-12)  # total / 1


@pytest.mark.parametrize("name", ["batch", "batch_size", "N"])
def test_dims_sized_axis_0_named_as_a_batch_is_the_batch(name):
    # N at axis 0 is where the ONNX spec puts its batch N (onnxload.FIRST_BATCH_NAMES); past axis 0 it is a count
    g = accelsim.from_onnx(_matmul([name, "seq", 64]), dims={name: 3, "seq": 5})
    assert g.meta["batch"] == 3 and g.macs == 3 * 5 * 64 * 128
    assert not any("symbolic batch axis" in n for n in g.meta.get("notes") or [])


def test_dims_sized_n_at_axis_1_is_no_batch():
    # probe p95 #2: x [seq, N, 64] used to take N's 4 for the batch (onnxload._batch_axes read N as a batch name);
    # N is ambiguous, so neither axis is a known batch: batch 1, the 40 rows still run. [seq, batch, 64] keeps
    # batch 4 (tests/unit/test_api_p91.py::test_sequence_first_model_takes_its_named_batch_axis)
    g = accelsim.from_onnx(_matmul(["seq", "N", 64]), dims={"seq": 10, "N": 4})
    assert g.meta["batch"] == 1 and g.macs == 10 * 4 * 64 * 128  # 327,680


def test_dims_sized_axis_0_of_a_conv_input_is_the_batch_by_the_op_spec():
    # the ONNX Conv spec names X's axis 0 N, the batch, whatever the file calls it
    g = accelsim.from_onnx(_conv("n"), dims={"n": 2})
    assert g.meta["batch"] == 2
    assert g.macs == 2 * 4 * 8 * 8 * (3 * 3 * 3)  # 13,824


def test_batch_still_sizes_a_symbolic_axis_0_of_any_name():
    g = accelsim.from_onnx(_matmul(["seq", 4, 64]), batch=6)
    assert g.meta["batch"] == 6 and g.macs == 6 * 4 * 64 * 128


# ---- #6: the missing-dims error at workload.dims, whichever form names the model -----------------------------------

MISSING = r"workload\.dims: .*symbolic input dims other than the batch axis need a size: 'x' axis 1 \('seq'\)"


@pytest.mark.parametrize("form", ["path", "mapping", "base"])
def test_simulate_names_workload_dims_in_every_form(tmp_path, monkeypatch, form):
    _matmul(["batch", "seq", 64], tmp_path / "seq.onnx")
    monkeypatch.chdir(tmp_path)
    workload = {"path": "seq.onnx", "mapping": {"model": "onnx", "path": "seq.onnx"}, "base": {"base": "seq.onnx"}}
    with pytest.raises(ConfigError, match=r"^<input>: " + MISSING):
        accelsim.simulate(workload[form], "tpu-v1", plots=False)


def test_cli_names_workload_dims_for_a_path(tmp_path, monkeypatch, capsys):
    _matmul(["batch", "seq", 64], tmp_path / "seq.onnx")
    (tmp_path / "e.yaml").write_text("name: e\nworkload: seq.onnx\narch: tpu-v1\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "e.yaml", "--no-plots", "-q", "-o", "o1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("accelsim: error: e.yaml:2: workload.dims: ") and "\n" not in err
    assert main(["run", "--workload", "seq.onnx", "--arch", "tpu-v1", "--no-plots", "-q", "-o", "o2"]) == 2
    assert capsys.readouterr().err.startswith("accelsim: error: --workload: workload.dims: ")


def test_workload_file_with_an_onnx_base_keeps_its_own_keys(tmp_path, monkeypatch, capsys):
    # a workload file's keys are printed from its root (as `m:` in a gemm workload file), its base's too
    _matmul(["batch", "seq", 64], tmp_path / "seq.onnx")
    (tmp_path / "wl.yaml").write_text("base: seq.onnx\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--workload", "wl.yaml", "--arch", "tpu-v1", "--no-plots", "-q", "-o", "o3"]) == 2
    assert capsys.readouterr().err.startswith("accelsim: error: wl.yaml:1: dims: ")
