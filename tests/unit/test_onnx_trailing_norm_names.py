"""Probe p119 #6: an ONNX RMSNormalization / LayerNormalization over several trailing axes keeps the file's weight
names (scale, B), as over the last axis alone; the norm's FLOPs are over all of its elements either way."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.builders import build_workload  # noqa: E402


def _model(path, op: str, axis: int, opset: int):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 16, 8, 8])
    shape = [8, 8] if axis == 2 else [8]
    inits = [numpy_helper.from_array(np.ones(shape, np.float32), "scale")]
    if op == "LayerNormalization":
        inits.append(numpy_helper.from_array(np.zeros(shape, np.float32), "B"))
    node = helper.make_node(op, ["x", *(i.name for i in inits)], ["y"], axis=axis)
    graph = helper.make_graph([node], "g", [x], [y], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


@pytest.mark.parametrize("op, opset, names", [("RMSNormalization", 23, ["scale"]),
                                              ("LayerNormalization", 17, ["scale", "B"])])
@pytest.mark.parametrize("axis", [2, -1])
def test_a_norm_over_trailing_axes_keeps_the_files_weight_names(tmp_path, op, opset, names, axis):
    graph = build_workload("onnx", {"path": str(_model(tmp_path / "m.onnx", op, axis, opset))})
    weights = [w.name for o in graph.ops for w in o.weights]
    assert weights == names
    # 2 · 16 · 8 · 8 = 2,048 elements: rmsnorm 4 FLOPs each, layernorm 5 (onnxnorm's docstrings)
    (norm,) = [o for o in graph.ops if o.weights]
    assert norm.flops == 2_048 * (4 if op == "RMSNormalization" else 5)
