"""ONNX import after probe p57: a view or Cast of a weight is a read of that weight (a tied LM head's
``x @ emb.weight.T``), an op on a weight alone says how to proceed, training puts its loss on the graph's declared
float outputs, integer graph inputs are stored at their own width, and a graph without a symbolic batch axis has
batch 1. Small models built with onnx.helper, numbers by hand. Skipped where onnx is not installed."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders.build import build_workload
from accelsim.builders.importers import from_onnx
from accelsim.builders.training import training_graph
from accelsim.errors import WorkloadError

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
helper, TensorProto, numpy_helper = onnx.helper, onnx.TensorProto, onnx.numpy_helper
F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(nodes, inputs, inits=(), outputs=None):
    """A model of ``nodes``, graph ``inputs`` {name: shape or (elem type, shape)}, outputs {name: elem type}."""
    ins = [helper.make_tensor_value_info(n, *(s if isinstance(s, tuple) else (F, s))) for n, s in inputs.items()]
    outs = [helper.make_tensor_value_info(n, t, None) for n, t in (outputs or {"y": F}).items()]
    return helper.make_model(helper.make_graph(nodes, "g", ins, outs, list(inits)),
                             opset_imports=[helper.make_opsetid("", 17)])


def _zeros(name, shape, dtype=np.float32):
    return numpy_helper.from_array(np.zeros(shape, dtype), name)


def _tied_head(tie: bool):
    # ids (1, 16) → Gather(emb.weight (1000, 64)) → MatMul by emb.weightᵀ (a Transpose of it, through an Identity
    # named lm_head.weight where ``tie``, as torch.onnx exports a tied weight)
    nodes = [helper.make_node("Gather", ["emb.weight", "ids"], ["e"], name="emb")]
    src = "emb.weight"
    if tie:
        nodes.append(helper.make_node("Identity", ["emb.weight"], ["lm_head.weight"], name="tie"))
        src = "lm_head.weight"
    nodes += [helper.make_node("Transpose", [src], ["wt"], name="tT", perm=[1, 0]),
              helper.make_node("MatMul", ["e", "wt"], ["y"], name="lm_head")]
    return _model(nodes, {"ids": (I64, [1, 16])}, [_zeros("emb.weight", (1000, 64))])


@pytest.mark.parametrize("tie", [False, True])
def test_a_transposed_weight_feeding_a_matmul_is_a_read_of_that_weight(tie):
    # the LM head: 16 tokens × 64 → 1000, MACs 16 · 64 · 1000 = 1,024,000; emb.weight counted once: 1000 · 64
    # = 64,000 params (before: "reads 'emb.weight', which is an initializer ... where an activation is expected")
    g = from_onnx(_tied_head(tie))
    assert (g.macs, g.params) == (1_024_000, 64_000)
    assert [w.name for w in g["lm_head"].weights] == ["emb.weight"] and g["lm_head"].weights[0].numel == 64_000
    assert not [op for op in g.ops if op.name == "tT"]  # a view of a weight is no op


def test_reshape_unsqueeze_and_cast_of_a_weight_are_reads_of_it():
    # x (2, 3, 8) · Unsqueeze(w (8, 4), axis 0) = (1, 8, 4): 2 · 3 rows × 8 × 4 = 192 MACs, 32 params; then
    # Cast(v (4, 5) fp32 → fp32) · → 2 · 3 · 4 · 5 = 120 MACs more, 20 params; then Reshape(u (20,) → (5, 4)):
    # 2 · 3 · 5 · 4 = 120 MACs, 20 params
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    shape = numpy_helper.from_array(np.array([5, 4], np.int64), "shape")
    nodes = [helper.make_node("Unsqueeze", ["w", "axes"], ["w1"], name="unsq"),
             helper.make_node("MatMul", ["x", "w1"], ["a"], name="m1"),
             helper.make_node("Cast", ["v"], ["v1"], name="cast", to=F),
             helper.make_node("MatMul", ["a", "v1"], ["b"], name="m2"),
             helper.make_node("Reshape", ["u", "shape"], ["u1"], name="resh"),
             helper.make_node("MatMul", ["b", "u1"], ["y"], name="m3")]
    g = from_onnx(_model(nodes, {"x": [2, 3, 8]}, [_zeros("w", (8, 4)), axes, _zeros("v", (4, 5)), shape,
                                                   _zeros("u", (20,))]))
    assert (g.macs, g.params) == (192 + 120 + 120, 32 + 20 + 20)
    assert [op.name for op in g.ops] == ["m1", "m2", "m3"]


def test_an_op_on_a_weight_alone_says_how_to_proceed():
    # Relu(p (8, 16)) + x: refused with the way out (fold it, or unsupported=elementwise), never "activation
    # expected"; with elementwise the Relu is one generic op of 8 · 16 = 128 flops holding p (128 params)
    nodes = [helper.make_node("Relu", ["p"], ["r"], name="reluinit"), helper.make_node("Add", ["r", "x"], ["y"],
                                                                                        name="a")]
    model = _model(nodes, {"x": [8, 16]}, [_zeros("p", (8, 16))])
    with pytest.raises(WorkloadError) as e:
        from_onnx(model)
    text = str(e.value)
    assert "node 'reluinit' (Relu): computes on parameter 'p' alone" in text and "do_constant_folding" in text
    assert "workload.unsupported=elementwise" in text and "\n" not in text
    g = from_onnx(model, unsupported="elementwise")
    assert (g["reluinit"].fn, g["reluinit"].flops, g.params) == ("onnx_Relu", 128, 128)
    # a pool of an initializer: its reason names the initializer read as an activation, with the same way out
    pool = [helper.make_node("MaxPool", ["p"], ["y"], name="mp", kernel_shape=[2, 2])]
    with pytest.raises(WorkloadError, match=r"node 'mp' \(MaxPool\): reads initializer 'p' as input 0.*"
                                            r"unsupported=elementwise") as e:
        from_onnx(_model(pool, {"x": [1, 2, 4, 4]}, [_zeros("p", (1, 2, 4, 4))]))
    assert "activation is expected" not in str(e.value)


def test_elementwise_fallback_reads_scalars_and_broadcast_scales_as_constants():
    # probe p61: z = x @ (W * two), W (64, 64), two a 0-d scalar. Mul on weights alone is refused, then priced as
    # element-wise work with unsupported=elementwise; the scalar became a parameter (4,097 params, its own gradient
    # and optimizer step two.step). By hand: params = 64 · 64 = 4,096 (W alone); the training step has one
    # gradient op for the Mul (into W) and one optimizer step, W.step.
    nodes = [helper.make_node("Mul", ["W", "two"], ["W2"], name="mul"),
             helper.make_node("MatMul", ["x", "W2"], ["y"], name="mm")]
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    g = from_onnx(_model(nodes, {"x": [4, 64]}, [_zeros("W", (64, 64)), two]), unsupported="elementwise")
    assert g.params == 4096 and [w.name for w in g["mul"].weights] == ["W"]
    step = training_graph(g, "adam")
    assert [op.name for op in step.ops if op.name.endswith(".step")] == ["W.step"]
    assert [op.name for op in step.ops if op.name.startswith("mul.grad")] == ["mul.grad_weight"]
    # a per-column scale s (64,) broadcast onto W is a constant too (4,096, not 4,160); W1 + W2 of one shape keeps
    # both as parameters: 2 · 64 · 64 = 8,192
    scale = [helper.make_node("Mul", ["W", "s"], ["W2"], name="mul"), nodes[1]]
    g = from_onnx(_model(scale, {"x": [4, 64]}, [_zeros("W", (64, 64)), _zeros("s", (64,))]),
                  unsupported="elementwise")
    assert g.params == 4096
    add = [helper.make_node("Add", ["W", "V"], ["W2"], name="add"), nodes[1]]
    g = from_onnx(_model(add, {"x": [4, 64]}, [_zeros("W", (64, 64)), _zeros("V", (64, 64))]),
                  unsupported="elementwise")
    assert g.params == 8192 and [w.name for w in g["add"].weights] == ["W", "V"]


def test_training_puts_the_loss_on_the_declared_float_outputs():
    # an LSTM (T 3, N 2, I 8, H 16) whose Y_h and Y_c no node reads and only Y is a graph output: the loss reads Y
    # alone, 5 flops per element over (3, 1, 2, 16) = 96 → 480, and the step's flops equal the layer list's
    # LSTM of the same shape (before: + a cross-entropy and its gradient over Y_h and Y_c, 2 · 2 · 32 · 5 more)
    h, i = 16, 8
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "B"], ["y", "yh", "yc"], name="lstm", hidden_size=h)]
    model = _model(nodes, {"x": [3, 2, i]}, [_zeros("W", (1, 4 * h, i)), _zeros("R", (1, 4 * h, h)),
                                             _zeros("B", (1, 8 * h))])
    onnx_step = training_graph(from_onnx(model), "sgd")
    layers = build_workload("layers", {"input": [3, 2, i], "layers": [
        {"type": "lstm", "name": "lstm", "input_size": i, "hidden_size": h}]})
    layer_step = training_graph(layers, "sgd")
    assert onnx_step["loss"].flops == 5 * 96 and len(onnx_step["loss"].inputs) == 1
    assert onnx_step.flops == layer_step.flops
    # a router's TopK: its values (float) feed y, its int64 indices are a graph output too: no loss on them
    k = numpy_helper.from_array(np.array([2], np.int64), "k")
    nodes = [helper.make_node("MatMul", ["x", "Wr"], ["logits"], name="router"),
             helper.make_node("TopK", ["logits", "k"], ["vals", "idx"], name="topk", axis=-1),
             helper.make_node("Softmax", ["vals"], ["y"], name="gate", axis=-1)]
    g = from_onnx(_model(nodes, {"x": [4, 8]}, [_zeros("Wr", (8, 6)), k], {"y": F, "idx": I64}))
    step = training_graph(g, "sgd")
    # (on the fp32 copy of y, loss.cast: probe p176 #1)
    assert step["loss"].inputs == ("loss.cast",) and step["loss"].flops == 5 * 4 * 2
    assert step["loss.cast"].inputs == ("gate",)
    assert not [op for op in step.ops if op.name.startswith("topk.1") and op.attrs.get("phase") != "forward"]


def test_integer_graph_inputs_cost_their_own_width():
    # Gather(table (1000, 64), ids int64 (32, 20)) → ReduceSum over axis 1 (an nn.EmbeddingBag export), fp16:
    # activation bytes = ids 640 · 8 + gathered rows 640 · 64 · 2 + pooled 32 · 64 · 2 = 5,120 + 81,920 + 4,096
    # = 91,136 (before: the ids at 2 B, 87,296), as the built-in embedding_bag reads its int64 indices
    ax = numpy_helper.from_array(np.array([1], np.int64), "ax")
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], name="bag"),
             helper.make_node("ReduceSum", ["e", "ax"], ["y"], name="pool", keepdims=0)]
    for elem, width in ((I64, 8), (TensorProto.INT32, 4)):
        g = from_onnx(_model(nodes, {"ids": (elem, [32, 20])}, [_zeros("table", (1000, 64)), ax]), dtype="fp16")
        assert g.activation_bytes == 640 * width + 640 * 64 * 2 + 32 * 64 * 2
        assert g["bag"].gather_rows == 640  # the look-up still sees 32 × 20 ids
    # at fp32 the int64 ids are 640 · 8 / 4 = 1,280 elements of 4 B; on tpu-v4 the look-up reads them: 5,120 B
    g = from_onnx(_model(nodes, {"ids": (I64, [32, 20])}, [_zeros("table", (1000, 64)), ax]), dtype="fp32")
    assert g.inputs["ids"] == (1280,)
    # a bool mask is 1 byte an element: Where(m bool (4, 8), x, z) at fp16 reads 32 · 1 + 2 · 32 · 2 = 160 B
    where = [helper.make_node("Where", ["m", "x", "z"], ["y"], name="w")]
    g = from_onnx(_model(where, {"m": (TensorProto.BOOL, [4, 8]), "x": [4, 8], "z": [4, 8]}), dtype="fp16")
    assert g.activation_bytes == 32 * 1 + 2 * 32 * 2 + 32 * 2


def test_a_fixed_shape_graph_has_batch_1_not_its_axis_0():
    # MatMul(W (16, 32), x (32, 8)): x's axis 0 is the contraction K = 32, no batch; batch 1 with a note, so
    # efficiency.j_per_inference is the run's energy (before: divided by 32)
    model = _model([helper.make_node("MatMul", ["W", "x"], ["y"], name="wx")], {"x": [32, 8]}, [_zeros("W", (16, 32))])
    g = from_onnx(model)
    assert g.meta["batch"] == 1 and any("no graph input has a symbolic batch axis" in n for n in g.meta["notes"])
    d = accelsim.simulate(g, "h100").to_dict()
    assert d["workload"]["batch"] == 1 and d["efficiency"]["j_per_inference"] == d["energy"]["total_j"]
    # a symbolic first axis stays the batch: x ["N", 8] with batch 4
    sym = _model([helper.make_node("Relu", ["x"], ["y"], name="r")], {"x": ["N", 8]})
    assert from_onnx(sym, batch=4).meta["batch"] == 4
    # a Conv's X has its batch on axis 0 by the op's spec (N of N, C, H, W): fixed (2, 3, 8, 8) is batch 2, no note
    conv = _model([helper.make_node("Conv", ["x", "cw"], ["y"], name="c", kernel_shape=[3, 3])], {"x": [2, 3, 8, 8]},
                  [_zeros("cw", (4, 3, 3, 3))])
    g = from_onnx(conv)
    assert g.meta["batch"] == 2 and "notes" not in g.meta


def test_run_of_a_model_as_the_experiment_says_how_to_run_it(tmp_path, capsys, monkeypatch):
    # `accelsim run X.onnx` (positional): X is a model, not an experiment; the hint names -w and -a (the arch given,
    # else ARCH), exit 2, before the file is read as YAML (a 9 MiB model said "file too large" before; a small one
    # "name it *.onnx", of a file so named)
    from accelsim.cli import main

    monkeypatch.chdir(tmp_path)
    onnx.save(_model([helper.make_node("Relu", ["x"], ["y"], name="r")], {"x": ["N", 8]}), "m.onnx")
    (tmp_path / "big.onnx").write_bytes(b"\x08\x08\x3a\x87" + b"\0" * (9 * 2**20))
    for argv, arch in ((["run", "m.onnx"], "ARCH"), (["run", "big.onnx"], "ARCH"),
                       (["run", "big.onnx", "-a", "tpu-v1"], "tpu-v1")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        name = argv[1]
        assert err.endswith(f"{name} is a model, not an experiment: use accelsim run -w {name} -a {arch}"), err
        assert "\n" not in err and "name it" not in err
    # read as YAML elsewhere (an arch), a big .onnx says what it is, after the size limit, and where it goes
    assert main(["run", "-w", "m.onnx", "-a", "big.onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert "file too large" in err and "big.onnx is an ONNX model, not a YAML file" in err and "name it *" not in err
    assert "accelsim run -w big.onnx -a ARCH" in err and "--workload big.onnx" not in err


def test_serve_and_sweep_of_a_model_say_what_they_take(tmp_path, capsys, monkeypatch):
    # probe p61: `accelsim serve m.onnx` and `accelsim sweep m.onnx` said "give it as a workload (--workload
    # m.onnx)", a flag neither has, after "line 1 ... offset 3"; a missing .onnx said "is a model, not an
    # experiment"; `run m.onnx --batch 2` dropped the --batch from the command it suggested
    from accelsim.cli import main

    monkeypatch.chdir(tmp_path)
    onnx.save(_model([helper.make_node("Relu", ["x"], ["y"], name="r")], {"x": ["N", 8]}), "m.onnx")
    assert main(["serve", "m.onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert "serve: m.onnx is an ONNX model, which serve cannot take: serve takes a serving YAML" in err, err
    assert "--workload" not in err and "offset" not in err and "\n" not in err
    assert main(["sweep", "m.onnx", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "sweep: m.onnx is an ONNX model, not a sweep file" in err and "base: {workload: m.onnx, arch: ARCH}" in err
    assert "--workload" not in err and "offset" not in err
    for argv in (["run", "gone.onnx"], ["serve", "gone.onnx"], ["sweep", "gone.onnx"]):
        assert main(argv) == 2
        assert capsys.readouterr().err.strip() == "accelsim: error: gone.onnx: no such file", argv
    assert main(["run", "m.onnx", "--batch", "2", "--set", "workload.dtype=fp32", "-o", "out dir"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("use accelsim run -w m.onnx -a ARCH --batch 2 --set workload.dtype=fp32 -o 'out dir'"), err
    # the form the sweep message gives runs: a sweep file whose base names the model by path
    (tmp_path / "sw.yaml").write_text("base: {workload: m.onnx, arch: tpu-v1}\ngrid: {workload.batch: [1, 2]}\n")
    assert main(["sweep", "sw.yaml", "-q", "--workers", "1", "-o", "sw_out"]) == 0, capsys.readouterr().err
