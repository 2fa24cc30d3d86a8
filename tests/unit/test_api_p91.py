"""Probe p91 (the Python API from a script author's side): a hand-built Graph's lint catches tied weights of
different sizes, bad Weight fields, a fused attention without its P·V GEMM and wrong types as one-line
WorkloadErrors naming the op and field (#1-#4); the ONNX importer takes a dim named as the batch for the batch axis
of a sequence-first model and puts its missing-dims error at workload.dims (#5, #6); TransformerBuilder refuses a
list of inputs (#8); Report.save refuses an empty folder name and a file (#9)."""

from __future__ import annotations

import math

import pytest

import accelsim
from accelsim.builders.tlayers import TransformerBuilder
from accelsim.errors import ConfigError, WorkloadError
from accelsim.ir import Gemm, Graph, Op, OpKind, Weight


def _fc(op_name: str, src: str, m: int, k: int, n: int, weight: Weight, **kw) -> Op:
    """A LINEAR op (m×k) · (k×n) in int8: m·n·k MACs, 2·m·n·k FLOPs."""
    args = dict(name=op_name, kind=OpKind.LINEAR, inputs=(src,), in_shapes=((m, k),), out_shape=(m, n), dtype="int8",
                weights=(weight,), macs=m * n * k, flops=2 * m * n * k, gemm=Gemm(m, n, k))
    return Op(**{**args, **kw})


# ---- #1: two weights of one name are one tensor -------------------------------------------------------------------

def test_same_name_weights_of_different_sizes_are_refused_naming_both_ops():
    o1 = _fc("fc1", "x", 8, 64, 128, Weight("weight", (128, 64)))
    o2 = _fc("fc2", "fc1", 8, 128, 4096, Weight("weight", (4096, 128)))
    with pytest.raises(WorkloadError) as e:
        Graph("g", [o1, o2], {"x": (8, 64)})
    msg = str(e.value)
    assert "'weight'" in msg and "'fc1'" in msg and "'fc2'" in msg and "(128, 64)" in msg and "(4096, 128)" in msg
    assert "\n" not in msg


def test_distinct_names_count_both_and_tied_weights_count_once():
    o1 = _fc("fc1", "x", 8, 64, 128, Weight("w1", (128, 64)))
    o2 = _fc("fc2", "fc1", 8, 128, 4096, Weight("w2", (4096, 128)))
    assert Graph("g", [o1, o2], {"x": (8, 64)}).params == 128 * 64 + 4096 * 128  # 532,480
    # tied: one (64, 64) tensor read by two ops, counted once (64·64 = 4,096), even as two equal Weight objects
    t1 = _fc("fc1", "x", 8, 64, 64, Weight("tied", (64, 64)))
    t2 = _fc("fc2", "fc1", 8, 64, 64, Weight("tied", (64, 64)))
    g = Graph("g", [t1, t2], {"x": (8, 64)})
    assert g.params == 64 * 64
    assert g.weight_bytes == 64 * 64  # int8: 1 byte an element, once


def test_same_name_weights_of_different_roles_are_refused():
    o1 = _fc("fc1", "x", 8, 64, 64, Weight("w", (64, 64)))
    o2 = _fc("fc2", "fc1", 8, 64, 64, Weight("w", (64, 64), role="state"))
    with pytest.raises(WorkloadError, match="'w' is state .* on op 'fc2' but param .* on op 'fc1'"):
        Graph("g", [o1, o2], {"x": (8, 64)})


# ---- #2: Weight fields --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weight, field", [
    (Weight("w", (64, 32), role="Param"), "role 'Param', which is unknown; did you mean 'param'?"),
    (Weight("w", (64, 32), role="bogus"), "role 'bogus'"),
    (Weight("w", (64, 32), dtype="INT4"), "dtype 'INT4', which is unknown; did you mean 'int4'?"),
    (Weight("w", (64, 32), nnz=-3), "nnz -3"),
    (Weight("w", (64, 32), dtype="int4", group_size=-5), "group_size -5"),
    (Weight("w", (64, 32), nnz=1024, index_bits=-2), "index_bits -2"),
    (Weight("w", (64, 32), group_size=True), "group_size True"),
    (Weight("w", (64, 32), nnz=64 * 32 + 1), "nnz 2,049, more than its 2,048 elements"),
    (Weight("w", (64, 32.0)), "shape (64, 32.0)"),
    (Weight(7, (64, 32)), "weight named 7"),
])
def test_bad_weight_fields_are_one_line_workload_errors_naming_op_and_field(weight, field):
    with pytest.raises(WorkloadError) as e:
        Graph("g", [_fc("fc", "x", 8, 64, 32, weight)], {"x": (8, 64)})
    assert field in str(e.value) and "'fc'" in str(e.value) and "\n" not in str(e.value)


def test_a_valid_compressed_weight_still_builds_with_its_bytes():
    # 1,024 of 2,048 int8 elements kept, 2 index bits each: 1,024 B + ⌈1,024·2 / 8⌉ = 256 B of metadata
    w = Weight("w", (64, 32), nnz=1024, index_bits=2)
    g = Graph("g", [_fc("fc", "x", 8, 64, 32, w)], {"x": (8, 64)})
    assert g.weight_bytes == 1024 + 256
    assert g.params == 64 * 32  # params count the dense tensor (ir.py's conventions)


# ---- #3: a fused attention's P·V GEMM ------------------------------------------------------------------------------

def _attention(**attrs) -> Op:
    # QKᵀ: 8 heads of (128 × 64) · (64 × 128): m 128, n 128, k 64, count 8
    return Op("at", OpKind.ATTENTION, ("q",), ((1, 8, 128, 64),), (1, 8, 128, 64), dtype="bf16",
              macs=8 * 128 * 128 * 64, gemm=Gemm(128, 128, 64, 8), attrs=attrs)


@pytest.mark.parametrize("attrs, shown", [({}, "no attrs['pv_gemm']"), ({"pv_gemm": (128, 64)}, "(128, 64)"),
                                           ({"pv_gemm": (128, 64, 0, 8)}, "(128, 64, 0, 8)"),
                                           ({"pv_gemm": "128,64,128"}, "'128,64,128'")])
def test_attention_without_a_valid_pv_gemm_is_refused_at_lint(attrs, shown):
    with pytest.raises(WorkloadError) as e:
        Graph("g", [_attention(**attrs)], {"q": (1, 8, 128, 64)})
    assert "attention op 'at'" in str(e.value) and shown in str(e.value)


def test_attention_with_its_pv_gemm_counts_both_gemms():
    # P·V: (128 × 128) · (128 × 64) per head: m 128, n 64, k 128, count 8 → 8,388,608 MACs, as QKᵀ's
    both = 2 * 8 * 128 * 128 * 64  # 16,777,216
    op = _attention(pv_gemm=(128, 64, 128, 8))
    g = Graph("g", [Op(**{**{f: getattr(op, f) for f in op.__slots__ if not f.startswith("_")}, "macs": both})],
              {"q": (1, 8, 128, 64)})
    assert g.macs == both
    over = Op(**{**{f: getattr(op, f) for f in op.__slots__ if not f.startswith("_")}, "macs": both + 1})
    with pytest.raises(WorkloadError, match="does 16,777,216"):
        Graph("g", [over], {"q": (1, 8, 128, 64)})


# ---- #4: types -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, shown", [
    ({"macs": "16384"}, "macs '16384', which is not an integer (type str)"),
    ({"flops": None}, "flops None, which is not an integer"),
    ({"macs": 16384.0}, "macs 16384.0, which is not an integer (type float)"),
    ({"flops": 32768.5}, "flops 32768.5"),
    ({"macs": True}, "macs True"),
    ({"gemm": (8, 32, 64)}, "gemm (8, 32, 64), which is not a Gemm"),
    ({"gemm": Gemm(8, 32, 64.0)}, "whose sizes are not all integers"),
    ({"weights": [("w", (64, 32))]}, "expected a tuple of Weight"),
    ({"attrs": None}, "attrs None, which is not a mapping"),
    ({"name": 5}, "op name 5 is not a string (type int)"),
])
def test_wrong_types_are_one_line_workload_errors(change, shown):
    with pytest.raises(WorkloadError) as e:
        Graph("g", [_fc("fc", "x", 8, 64, 32, Weight("w", (32, 64)), **change)], {"x": (8, 64)})
    assert shown in str(e.value) and "\n" not in str(e.value)


def test_float_vector_elems_is_refused():
    op = Op("a", OpKind.ACTIVATION, ("x",), ((8, 64),), (8, 64), dtype="int8", flops=512, vector_elems=512.5,
            attrs={"fn": "relu"})
    with pytest.raises(WorkloadError, match="vector_elems 512.5, which is not an integer"):
        Graph("g", [op], {"x": (8, 64)})


def test_report_op_rows_keep_integer_counts():
    r = accelsim.simulate(Graph("g", [_fc("fc", "x", 8, 64, 32, Weight("w", (32, 64)))], {"x": (8, 64)}),
                          "tpu-v1", plots=False).to_dict()
    row = r["ops"][0]
    assert (row["macs"], row["flops"]) == (8 * 64 * 32, 2 * 8 * 64 * 32)  # 16,384 and 32,768
    assert type(row["macs"]) is int and type(row["flops"]) is int


# ---- #5, #6: ONNX batch axis by name; the missing-dims error at workload.dims --------------------------------------

def _matmul_model(dims: list, path=None):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    w = helper.make_tensor("W", TensorProto.FLOAT, (64, 128), [0.0] * (64 * 128))
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "sf",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [*dims[:-1], 128])],
                              initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if path is not None:
        onnx.save(model, str(path))
    return model


@pytest.mark.parametrize("batch, dims", [(1, {"seq": 10, "batch": 4}), (4, {"seq": 10})])
def test_sequence_first_model_takes_its_named_batch_axis(batch, dims):
    g = accelsim.from_onnx(_matmul_model(["seq", "batch", 64]), batch=batch, dims=dims)
    assert g.meta["batch"] == 4  # the axis named 'batch', not seq's 10
    assert g.macs == 10 * 4 * 64 * 128  # 327,680: every one of the 40 rows × (64 × 128)


def test_sequence_first_model_reports_energy_per_inference_of_its_batch(tmp_path):
    _matmul_model(["seq", "batch", 64], tmp_path / "sf.onnx")
    r = accelsim.simulate({"model": "onnx", "path": str(tmp_path / "sf.onnx"), "dims": {"seq": 10, "batch": 4}},
                          "tpu-v4", plots=False).to_dict()
    assert r["workload"]["batch"] == 4
    assert math.isclose(r["efficiency"]["j_per_inference"], r["energy"]["total_j"] / 4, rel_tol=1e-12)


def test_batch_named_at_axis_0_is_unchanged():
    g = accelsim.from_onnx(_matmul_model(["batch", "seq", 64]), batch=2, dims={"seq": 5})
    assert g.meta["batch"] == 2 and g.macs == 2 * 5 * 64 * 128


def test_missing_dims_error_names_the_dims_key(tmp_path):
    model = _matmul_model(["batch", "seq", 64], tmp_path / "seq.onnx")
    with pytest.raises(WorkloadError) as e:
        accelsim.from_onnx(model)
    assert e.value.key == ("dims",) and "'seq'" in str(e.value)
    with pytest.raises(ConfigError, match=r"^<input>: workload\.dims: .*'x' axis 1 \('seq'\)"):
        accelsim.simulate({"model": "onnx", "path": str(tmp_path / "seq.onnx")}, "tpu-v1")


# ---- #8: TransformerBuilder inputs ---------------------------------------------------------------------------------

def test_transformer_builder_refuses_a_list_of_inputs():
    with pytest.raises(WorkloadError, match=r"^t: inputs must map each graph input's name to its shape.*got a list"):
        TransformerBuilder("t", [("x", (1, 16, 64))])


# ---- #9: Report.save's folder ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report():
    return accelsim.simulate(Graph("g", [_fc("fc", "x", 8, 64, 32, Weight("w", (32, 64)))], {"x": (8, 64)}),
                             "tpu-v1", plots=False)


@pytest.mark.parametrize("outdir", ["", "  ", None])
def test_save_refuses_an_empty_folder_name_and_writes_nothing(report, outdir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^<input>: outdir: expected a folder name"):
        report.save(outdir)
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_file_and_leaves_it(report, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    with pytest.raises(ConfigError, match="afile is a file, not a folder"):
        report.save(afile)
    assert afile.read_text() == "keep"
    assert [p.name for p in report.save(tmp_path / "out", plots=False)] == ["report.json", "ops.csv", "report.html"]


# ---- probe p115 #7: dims passed to simulate as an option ----------------------------------------------------------
def test_dims_as_an_option_names_the_workload_key(tmp_path):
    import pytest as _pytest

    import accelsim as _accelsim
    from accelsim.errors import ConfigError as _ConfigError

    with _pytest.raises(_ConfigError) as e:
        _accelsim.simulate("resnet18", "a100", dims={"seq": 16})  # was "options.dims: Extra inputs are not permitted"
    text = str(e.value)
    assert "\n" not in text and "workload.dims" in text and "dims is a workload key, not an option" in text
    assert "'dims': {...}" in text
