"""The import forms of a workload reference (config/presets.py ``import_form``): ``--workload model.onnx`` loads
through from_onnx and ``--workload torch:package.module:factory`` through from_torch, with one-line errors for a
missing file, a malformed factory spec, a factory that cannot be imported or returns the wrong thing, and a missing
extra; and ONNX op types without a mapping: all listed in one line, or priced as element-wise work and noted."""

from __future__ import annotations

import sys
import textwrap

import pytest

import accelsim
from accelsim.builders import build_graph
from accelsim.cli import main
from accelsim.config import experiment_from_parts, load_experiment, load_workload
from accelsim.errors import ConfigError, WorkloadError


def _one_line_error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("accelsim: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_torch_form_refuses_a_malformed_factory_spec(capsys):
    for spec in ("torch:nomodule", "torch:pkg.mod:", "torch::fn", "torch:pkg mod:fn"):
        err = _one_line_error(capsys, "info", spec)
        assert "expected a factory 'package.module:function'" in err, (spec, err)
    with pytest.raises(ConfigError, match=r"--workload: factory: expected a factory"):
        experiment_from_parts("torch:nomodule", "tpu-v1")


def test_torch_form_without_torch_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    err = _one_line_error(capsys, "info", "torch:mymodels.nets:make")
    assert "pip install 'accelsim[torch]'" in err and "mymodels.nets:make" in err


def test_onnx_form_missing_file_is_one_line(capsys, tmp_path):
    err = _one_line_error(capsys, "run", "--workload", str(tmp_path / "absent.onnx"), "--arch", "tpu-v1",
                          "-o", str(tmp_path / "out"))
    assert "--workload" in err and "ONNX file not found" in err and "absent.onnx" in err
    assert not (tmp_path / "out").exists()


# ---- with onnx installed --------------------------------------------------------------------------------------
def _tiny_onnx(path, extra_nodes=(), out="y", out_shape=(None, 4)):
    """x (N, 3, 8, 8) → 1×1 conv to 4 channels (w: 4·3 = 12 params) → global average pool → flatten → y (N, 4),
    then ``extra_nodes``."""
    onnx = pytest.importorskip("onnx")
    h = onnx.helper
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             h.make_node("GlobalAveragePool", ["c"], ["g"], name="gap"),
             h.make_node("Flatten", ["g"], ["y"], name="flatten"), *extra_nodes]
    w = h.make_tensor("w", onnx.TensorProto.FLOAT, (4, 3, 1, 1), [0.0] * 12)
    graph = h.make_graph(nodes, "tiny", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 8, 8])],
                         [h.make_tensor_value_info(out, onnx.TensorProto.FLOAT, ["N", *out_shape[1:]])], [w])
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), str(path))
    return path


def test_onnx_form_loads_through_from_onnx(tmp_path, capsys, monkeypatch):
    path = _tiny_onnx(tmp_path / "tiny.onnx")
    spec = experiment_from_parts(str(path), "tpu-v1", batch=2)
    assert spec.workload.model == "onnx" and spec.workload.params["path"] == str(path)
    assert spec.name == "tiny_tpu-v1"
    g = build_graph(spec.workload)
    # 1×1 conv: 2 samples × 8·8 pixels × 4 out × 3 in MACs; 12 weights
    assert g.params == 12 and g.macs == 2 * 64 * 4 * 3
    # relative to the experiment file that names it
    (tmp_path / "exp.yaml").write_text("workload: tiny.onnx\narch: tpu-v1\n")
    monkeypatch.chdir("/")
    assert load_experiment(tmp_path / "exp.yaml").workload.params["path"] == str(tmp_path / "tiny.onnx")
    assert main(["info", str(path), "--json"]) == 0
    assert '"params": 12' in capsys.readouterr().out


def _unmapped_model(tmp_path):
    onnx = pytest.importorskip("onnx")
    h = onnx.helper
    k = h.make_tensor("k", onnx.TensorProto.INT64, (1,), [2])
    # y (N, 4) → Shrink (unmapped) → e (N, 4); TopK(e, 2) → values v (N, 2), indices i (N, 2); Shrink again on v
    extra = [h.make_node("Shrink", ["y"], ["e"], name="shrink1"),
             h.make_node("Constant", [], ["k"], name="kconst", value=k),
             h.make_node("TopK", ["e", "k"], ["v", "i"], name="topk"),
             h.make_node("Shrink", ["v"], ["z"], name="shrink2")]
    return _tiny_onnx(tmp_path / "odd.onnx", extra, out="z", out_shape=(None, 2))


def test_unsupported_onnx_ops_listed_all_in_one_line(tmp_path, capsys):
    path = _unmapped_model(tmp_path)
    err = _one_line_error(capsys, "info", str(path))
    assert "op types accelsim does not map: Shrink (2: 'shrink1', ...);" in err  # TopK is mapped
    assert "workload.unsupported=elementwise" in err
    with pytest.raises(ConfigError, match="unsupported"):
        load_workload({"model": "onnx", "path": str(path), "unsupported": "ignore"})


def test_unsupported_onnx_ops_priced_as_elementwise_and_noted(tmp_path):
    pytest.importorskip("onnx")
    path = _unmapped_model(tmp_path)
    g = build_graph(load_workload(str(path), ["workload.unsupported=elementwise", "workload.batch=2"]))
    # shrink1 over (2, 4): 8 elements, 1 flop each; shrink2 over (2, 2); TopK (mapped) a compare per input
    # element (8) writing the values (2, 2), its indices (2, 2) a copy beside them, 0 flops
    assert [(op.name, op.fn, op.vector_elems, op.flops) for op in g.ops[-4:]] == [
        ("shrink1", "onnx_Shrink", 8, 8), ("topk", "topk", 8, 8), ("topk.1", "topk_indices", 4, 0),
        ("shrink2", "onnx_Shrink", 4, 4)]
    assert g["topk"].inputs == ("shrink1",)
    # the conv's weights; the Constant k is read as an initializer is, but TopK's K is a count (int64, and the spec's
    # count input): no parameter (it counted 1 before)
    assert g.params == 12
    notes = accelsim.simulate(g, "tpu-v1").to_dict()["notes"]
    (note,) = [n for n in notes if n.startswith("ONNX:")]  # one note for every unmapped node
    assert "2 node(s) of 1 op type(s)" in note and "Shrink ×2 (shrink1, shrink2)" in note
    assert "MACs they do are not counted" in note


# ---- with torch installed -------------------------------------------------------------------------------------
def test_torch_form_builds_the_factory_module(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    (tmp_path / "f2_factories.py").write_text(textwrap.dedent("""
        import torch

        def mlp():
            m = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
            return m, (torch.zeros(4, 16),)

        def broken():
            return "no module"
        """))
    monkeypatch.chdir(tmp_path)  # the factory's module is imported from the current folder
    g = build_graph(experiment_from_parts("torch:f2_factories:mlp", "tpu-v1").workload)
    # Linear(16, 32): 16·32 + 32 = 544; Linear(32, 10): 32·10 + 10 = 330; MACs 4 rows × (16·32 + 32·10)
    assert g.params == 544 + 330 and g.macs == 4 * (16 * 32 + 32 * 10)
    assert str(tmp_path) not in sys.path
    assert "expected it to return (module, example_inputs)" in _one_line_error(capsys, "info",
                                                                                "torch:f2_factories:broken")
    assert "cannot import it (AttributeError" in _one_line_error(capsys, "info", "torch:f2_factories:absent")
    assert "cannot import it (ModuleNotFoundError" in _one_line_error(capsys, "info", "torch:no_such_mod_f2:x")
    with pytest.raises(WorkloadError, match="cannot import"):
        build_graph(load_workload({"model": "torch", "factory": "no_such_mod_f2:x"}))


def test_torch_onnx_export_through_the_onnx_form_matches_from_torch(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from accelsim.builders.torch_fx import from_torch

    nn = torch.nn
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Linear(8, 10)).eval()
    x = torch.zeros(2, 3, 16, 16)
    path = tmp_path / "small.onnx"
    try:  # the TorchScript exporter (the dynamo one needs onnxscript)
        torch.onnx.export(m, (x,), str(path), dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "N"}})
    except Exception as e:  # an exporter missing from this torch build
        pytest.skip(f"torch.onnx.export unavailable: {type(e).__name__}")
    g = build_graph(experiment_from_parts(str(path), "tpu-v1", batch=2).workload)
    ref = from_torch(m, x)
    # conv 8·3·9 + 8 = 224, linear 8·10 + 10 = 90; MACs 2·16·16·8·27 + 2·8·10
    assert g.params == ref.params == 314 and g.macs == ref.macs == 2 * 256 * 8 * 27 + 2 * 80


def test_torch_form_module_failing_on_its_inputs_is_one_line(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    (tmp_path / "f3_factories.py").write_text(textwrap.dedent("""
        import torch

        def wrong_width():
            return torch.nn.Sequential(torch.nn.Linear(4, 4)), torch.zeros(2, 5)
        """))
    monkeypatch.chdir(tmp_path)
    err = _one_line_error(capsys, "info", "torch:f3_factories:wrong_width")  # before: a ShapeProp traceback
    assert "fails on the example inputs at node '_0' (RuntimeError: mat1 and mat2" in err


def test_an_import_builder_without_its_file_names_the_workload_key(capsys):
    # `accelsim info onnx` / `info torch`: the key to set, as --set takes it, not pydantic's "Field required"
    for model, key in (("onnx", "path"), ("torch", "factory")):
        assert main(["info", model]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and f"needs workload.{key} (--set workload.{key}=" in err


def test_an_onnx_file_under_another_extension_gets_a_hint(capsys, tmp_path):
    # the first bytes of a serialised ModelProto: tag 0x08 (ir_version 8), then 0x3a (field 7, the graph,
    # length-delimited) and a length byte that is not UTF-8 (0x87)
    f = tmp_path / "mlp.txt"
    f.write_bytes(b"\x08\x08\x3a\x87\xda\x31\x0a")
    assert main(["info", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "looks like an ONNX model: name it *.onnx" in err


def test_a_graph_from_onnx_in_another_dtype_than_the_arch_is_noted(tmp_path):
    # probe p47 #3: from_onnx builds fp16 whatever the arch, so on int8 tpu-v1 it ran 2.4x the path form's cycles
    # with nothing said. MLP x [N, 256] -> Gemm 1024 -> Relu -> MatMul 10 -> Add, batch 4:
    # MACs 4 x (256·1024 + 1024·10) = 1,089,536 in every form
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    h, T, nh = onnx.helper, onnx.TensorProto, onnx.numpy_helper

    def z(n, s):
        return nh.from_array(np.zeros(s, np.float32), n)

    g = h.make_graph([h.make_node("Gemm", ["x", "W1", "b1"], ["h1"], name="fc1", transB=1),
                      h.make_node("Relu", ["h1"], ["h2"], name="relu"),
                      h.make_node("MatMul", ["h2", "W2"], ["h3"], name="fc2"),
                      h.make_node("Add", ["h3", "b2"], ["y"], name="add2")], "mlp",
                     [h.make_tensor_value_info("x", T.FLOAT, ["N", 256])], [h.make_tensor_value_info("y", T.FLOAT, ["N", 10])],
                     [z("W1", (1024, 256)), z("b1", (1024,)), z("W2", (1024, 10)), z("b2", (10,))])
    path = tmp_path / "mlp.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), path)
    default = accelsim.simulate(accelsim.from_onnx(path, batch=4), "tpu-v1").to_dict()
    as_arch = accelsim.simulate(accelsim.from_onnx(path, batch=4, dtype="int8"), "tpu-v1").to_dict()
    by_path = accelsim.simulate(str(path), "tpu-v1", batch=4).to_dict()
    assert default["macs"] == as_arch["macs"] == by_path["macs"] == 4 * (256 * 1024 + 1024 * 10) == 1_089_536
    assert default["workload"]["dtype"] == "fp16" and by_path["workload"]["dtype"] == "int8"
    assert [n for n in default["notes"] if "computes in fp16, not the arch's dtype int8" in n]
    assert not [n for n in as_arch["notes"] + by_path["notes"] if "not the arch's dtype" in n]
    # built in the arch's dtype the Graph is the path form's workload: the same cycles
    assert as_arch["total_cycles"] == by_path["total_cycles"] < default["total_cycles"]
