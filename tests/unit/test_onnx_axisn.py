"""Probe p95 #2: an ONNX input axis named N is no batch axis. N is the ONNX operator spec's batch letter, but it is
as often a point, node or token count (a PointNet export's x [1, 3, N], a token list's [B, N, 64]), so only batch
and batch_size (torch.onnx.export's dynamic_axes names) move the batch off axis 0, never off axis 0 of a Conv's X
(the spec's N), and an axis named N needs its size from workload.dims like any other symbolic dim.

Counts by hand: a kernel-1 Conv1d of 3 → 64 channels over P points is P · 64 · 3 MACs; a MatMul of x (..., 64) by
W (64, 64) is rows · 64 · 64 MACs."""

from __future__ import annotations

import math

import pytest

import accelsim
from accelsim.cli import main
from accelsim.errors import WorkloadError

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _points(dims: list, path=None):
    """x (dims) → Conv1d 3 → 64, kernel 1 → ReduceMax over the points: p95's pts.onnx."""
    w = helper.make_tensor("W", TensorProto.FLOAT, (64, 3, 1), [0.0] * (64 * 3))
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], kernel_shape=[1]),
             helper.make_node("ReduceMax", ["c"], ["y"], axes=[2], keepdims=0)]
    graph = helper.make_graph(nodes, "pts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [dims[0], 64])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    if path is not None:
        onnx.save(model, str(path))
    return model


def _tokens(dims: list):
    """x (dims) @ W (64, 64): p95's tok.onnx."""
    w = helper.make_tensor("W", TensorProto.FLOAT, (64, 64), [0.0] * (64 * 64))
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "tok",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)], initializer=[w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


NEEDS_N = r"symbolic input dims other than the batch axis need a size: 'x' axis {axis} \('N'\)"


@pytest.mark.parametrize("batch", [1, 4])
def test_point_axis_named_n_needs_its_size(batch):
    # was: batch 4 sized the points, x (1, 3, 4), 768 MACs (4 points, not 4 samples); batch 1 gave 1 point silently
    with pytest.raises(WorkloadError, match=NEEDS_N.format(axis=2)) as e:
        accelsim.from_onnx(_points([1, 3, "N"]), batch=batch)
    assert e.value.key == ("dims",)


def test_cli_info_refuses_a_point_count_for_the_batch(tmp_path, capsys):
    _points([1, 3, "N"], tmp_path / "pts.onnx")
    assert main(["info", str(tmp_path / "pts.onnx"), "--batch", "4"]) == 2  # was 0, with a 4-point model
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "workload.dims: " in err and "'x' axis 2 ('N')" in err


def test_dims_sized_point_count_is_no_batch(tmp_path):
    g = accelsim.from_onnx(_points([1, 3, "N"]), dims={"N": 1024})
    assert g.meta["batch"] == 1  # was 1024: the point count taken for the batch
    assert g.macs == 1024 * 64 * 3  # 196,608
    _points([1, 3, "N"], tmp_path / "pts.onnx")
    r = accelsim.simulate({"model": "onnx", "path": str(tmp_path / "pts.onnx"), "dims": {"N": 1024}}, "tpu-v4",
                          plots=False).to_dict()
    assert r["workload"]["batch"] == 1
    # one sample of 1,024 points: the energy per inference is the run's (was total_j / 1024)
    assert math.isclose(r["efficiency"]["j_per_inference"], r["energy"]["total_j"], rel_tol=1e-12)


def test_conv_input_keeps_its_batch_at_axis_0_whatever_a_later_axis_is_named():
    # the Conv spec makes X's axis 0 the batch: a later axis named 'batch' is not moved to, and needs dims
    with pytest.raises(WorkloadError, match=r"'x' axis 2 \('batch'\)"):
        accelsim.from_onnx(_points(["n", 3, "batch"]), batch=2)
    g = accelsim.from_onnx(_points(["n", 3, "batch"]), batch=2, dims={"batch": 5})
    assert g.meta["batch"] == 2 and g.macs == 2 * 5 * 64 * 3  # 1,920: axis 0 took batch 2, 5 points each


def test_token_axis_named_n_needs_its_size():
    # was: x (2, 1, 64), 8,192 MACs, the token axis silently set to 1 by the batch default
    with pytest.raises(WorkloadError, match=NEEDS_N.format(axis=1)):
        accelsim.from_onnx(_tokens(["B", "N", 64]), dims={"B": 2})
    g = accelsim.from_onnx(_tokens(["B", "N", 64]), batch=2, dims={"N": 5})
    assert g.meta["batch"] == 2 and g.macs == 2 * 5 * 64 * 64  # 40,960
    # an N past axis 0 names no batch, so B's dims size is no batch either ([seq, 4, 64]'s rule): batch 1
    g = accelsim.from_onnx(_tokens(["B", "N", 64]), dims={"B": 2, "N": 5})
    assert g.meta["batch"] == 1 and g.macs == 2 * 5 * 64 * 64


def test_sequence_first_input_named_batch_still_moves_the_batch():
    # the case probe p91 #5 fixed (af02171a) stays: x [seq, batch, 64], dims {seq: 10, batch: 4} is batch 4
    g = accelsim.from_onnx(_tokens(["seq", "batch", 64]), dims={"seq": 10, "batch": 4})
    assert g.meta["batch"] == 4 and g.macs == 10 * 4 * 64 * 64  # 163,840
