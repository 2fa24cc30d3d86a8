"""Output-path fusion (accelsim/mapping/fusion.py, docs/architecture.md): an activation listed in
``core.vector.output_path`` folds into the conv/linear/matmul whose output is its only input; with ``add``, a
residual add (and an activation after it) folds into the conv whose epilogue reads the residual.

Every number is a hand calculation on a made-up chip: 45 nm (no node scaling), fp16 (2 bytes), one 4×4 ws array,
an 8 KiB scratchpad, HBM at 4 pJ/bit; activations are kept off chip (``activations_on_chip=False``) so that every
op's input and output cross HBM.
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.errors import ConfigError


def _arch(output_path: list[str], lanes: int = 16) -> dict:
    return {"name": "tiny-f", "clock": "1GHz", "dtype": "fp16", "cores": 1,
            "core": {"systolic": {"rows": 4, "cols": 4, "dataflow": "ws"},
                     "vector": {"lanes": lanes, "output_path": output_path}, "sram": {"unified": "8KiB"}},
            "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s", "energy_per_bit": 4.0},
            # 0.9 V: Horowitz's 45 nm figures as they are (probe p152 #1: at the default 0.8 V they are x0.821)
            "energy": {"node": "45nm", "voltage": 0.9}}


def _net(*layers: dict, shape=(1, 4, 8, 8)) -> dict:
    return {"model": "layers", "name": "f", "input": list(shape), "layers": list(layers)}


CONV_RELU_CONV = _net({"type": "conv2d", "name": "c1", "out_channels": 8, "kernel_size": 3, "padding": 1},
                      {"type": "relu", "name": "r1"},
                      {"type": "conv2d", "name": "c2", "out_channels": 8, "kernel_size": 1})


def _run(workload: dict, arch: dict) -> dict:
    return accelsim.simulate(workload, arch, activations_on_chip=False).to_dict()


def _rows(report: dict) -> dict[str, dict]:
    return {op["name"]: op for op in report["ops"]}


def test_a_relu_on_the_output_path_does_not_round_trip_memory():
    plain, fused = _run(CONV_RELU_CONV, _arch([])), _run(CONV_RELU_CONV, _arch(["relu"]))
    r_plain, r = _rows(plain)["r1"], _rows(fused)["r1"]
    # c1's output: 8 channels × 8 × 8 = 512 fp16 elements; the separate ReLU reads it and writes its own
    assert r_plain["bytes"]["hbm"] == 2 * 512 * 2
    # fused: no bytes, no tasks, no cycles of its own; its 512 FLOPs stay in the report, on the vector unit
    assert r["bytes"] == {} and r["compute_cycles"] == 0 and r["tiles"] == 0
    assert r["mapping"]["fused_into"] == "c1" and r["unit"] == "core0.vector" and r["flops"] == 512
    assert r["start_cycle"] == r["end_cycle"] == _rows(fused)["c1"]["end_cycle"]
    # the graph's totals are the graph's: unchanged
    assert (fused["macs"], fused["flops"]) == (plain["macs"], plain["flops"])
    # the two convolutions move the same bytes (c2 reads c1's activated output, the same 1024 B)
    for name in ("c1", "c2"):
        assert _rows(fused)[name]["bytes"]["hbm"] == _rows(plain)[name]["bytes"]["hbm"]
    assert fused["bytes"]["hbm"] == plain["bytes"]["hbm"] - 2 * 512 * 2
    # its energy is its FLOPs at vector_pj, by default half the dtype's MAC arithmetic (an FMA is 2 FLOPs, a
    # multiply and an add; probe p141 #3): fp16 (1.1 + 0.9) / 2 = 1.0 pJ (Horowitz, 45 nm)
    assert r["energy_j"] == pytest.approx(512 * 1.0e-12, rel=1e-6, abs=0)
    # output-path time: ⌈512 elements × 1 cycle (relu) / 16 lanes⌉ = 32 cycles, well under c1's compute
    assert r["mapping"]["output_path_cycles"] == 32


def test_the_output_path_bounds_a_short_producer():
    # a 1×1 conv from 1 channel to 4 on 8×8 pixels, one vector lane: ws folds (S_r, S_c, T) = (K, N, M) =
    # (1, 4, 64) on a 4×4 array: one fold of 2R + C + T − 2 = 8 + 4 + 64 − 2 = 74 cycles, minus 1: 73; the ReLU's
    # 4 × 64 = 256 elements through 1 lane take 256 cycles, so the conv's output leaves at the output path's pace
    net = _net({"type": "conv2d", "name": "c", "out_channels": 4, "kernel_size": 1}, {"type": "relu", "name": "r"},
               shape=(1, 1, 8, 8))
    assert _rows(_run(net, _arch([], lanes=1)))["c"]["compute_cycles"] == 73
    fused = _rows(_run(net, _arch(["relu"], lanes=1)))
    assert fused["r"]["mapping"]["output_path_cycles"] == 256
    assert fused["c"]["compute_cycles"] == 256


def test_through_a_folded_batch_norm():
    net = _net({"type": "conv2d", "name": "c1", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False},
               {"type": "batchnorm2d", "name": "bn"}, {"type": "relu", "name": "r1"},
               {"type": "conv2d", "name": "c2", "out_channels": 8, "kernel_size": 1})
    rows = _rows(_run(net, _arch(["relu"])))
    assert rows["bn"]["mapping"].get("folded") and rows["r1"]["mapping"]["fused_into"] == "c1"


@pytest.mark.parametrize("net, why", [
    # c1's output has a second reader (the add), so the ReLU's input must be written anyway
    (_net({"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 3, "padding": 1},
          {"type": "relu", "name": "r1"}, {"type": "add", "name": "a", "inputs": ["c1", "r1"]}), "two readers"),
    # the producer is an element-wise add, not a matmul
    (_net({"type": "add", "name": "a", "inputs": ["input", "input"]}, {"type": "relu", "name": "r1"}), "add"),
    # sigmoid is not on this core's output path
    (_net({"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 3, "padding": 1},
          {"type": "sigmoid", "name": "r1"}), "not listed"),
])
def test_what_is_not_fused(net, why):
    r = _rows(_run(net, _arch(["relu"])))["r1"]
    assert "fused_into" not in r["mapping"] and r["bytes"]["hbm"] > 0, why


# a 1×1 conv keeping 4 channels of 8×8 pixels, whose output plus the block's input goes through a ReLU: ResNet's
# basic block tail (conv, add the identity, relu)
CONV_ADD_RELU = _net({"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 1},
                     {"type": "add", "name": "a", "inputs": ["c1", "input"]}, {"type": "relu", "name": "r"})


def test_a_residual_add_and_its_relu_fold_into_the_conv_epilogue():
    # fp16, every tensor 4 × 8 × 8 = 256 elements = 512 B; c1's weight 4 × 4 and bias 4: 20 × 2 = 40 B (all of it
    # fits the 8 KiB scratchpad: read once)
    plain, fused = _run(CONV_ADD_RELU, _arch([])), _run(CONV_ADD_RELU, _arch(["relu", "add"]))
    p, f = _rows(plain), _rows(fused)
    # unfused: c1 reads the input and its weights and writes its output: 512 + 40 + 512 = 1064 B; the add reads
    # c1's output and the input and writes the sum: 3 × 512 = 1536 B; the ReLU reads and writes it: 1024 B
    assert (p["c1"]["bytes"]["hbm"], p["a"]["bytes"]["hbm"], p["r"]["bytes"]["hbm"]) == (1064, 1536, 1024)
    assert plain["bytes"]["hbm"] == 1064 + 1536 + 1024
    # fused (cuDNN's y = act(conv(x) + z + bias), TensorRT's Convolution + ElementWise + Activation): c1 also reads
    # the residual (the input, again: 512 B) in its epilogue and writes the activated sum: 1064 + 512 = 1576 B;
    # the add's write and the three reads and one write of the sum and c1's output, 4 × 512 = 2048 B, are gone
    assert f["c1"]["bytes"]["hbm"] == 1576 and fused["bytes"]["hbm"] == 1576 == 3624 - 2048
    assert f["c1"]["mapping"]["epilogue_reads"] == ["input"]
    for name in ("a", "r"):
        assert f[name]["bytes"] == {} and f[name]["compute_cycles"] == 0 and f[name]["mapping"]["fused_into"] == "c1"
        # 256 FLOPs each on the vector unit (1.0 pJ each: half the fp16 MAC's 1.1 + 0.9 pJ, Horowitz 45 nm, an FMA
        # being 2 FLOPs; probe p141 #3); ⌈256 × 1 / 16⌉ = 16 cycles each on its output path (add and relu: 1
        # lane-cycle an element)
        assert f[name]["flops"] == 256 and f[name]["energy_j"] == pytest.approx(256 * 1.0e-12, rel=1e-6, abs=0)
        assert f[name]["mapping"]["output_path_cycles"] == 16
    assert (fused["macs"], fused["flops"]) == (plain["macs"], plain["flops"])


def test_the_residual_add_and_relu_together_bound_a_short_conv():
    # one lane: the add's and the ReLU's 256 elements take 256 cycles each, 512 in all, against the 1×1 conv's one
    # ws fold on the 4×4 array (K, N, M) = (4, 4, 64): 2R + C + T − 2 − 1 = 8 + 4 + 64 − 2 − 1 = 73 cycles
    assert _rows(_run(CONV_ADD_RELU, _arch([], lanes=1)))["c1"]["compute_cycles"] == 73
    assert _rows(_run(CONV_ADD_RELU, _arch(["relu", "add"], lanes=1)))["c1"]["compute_cycles"] == 256 + 256


def test_add_alone_leaves_the_relu_after_it():
    f = _rows(_run(CONV_ADD_RELU, _arch(["add"])))
    # the ReLU reads c1's output (the sum) and writes its own: 2 × 512 B; c1 as fused above: 1576 B
    assert f["a"]["mapping"]["fused_into"] == "c1" and "fused_into" not in f["r"]["mapping"]
    assert (f["c1"]["bytes"]["hbm"], f["r"]["bytes"]["hbm"]) == (1576, 1024)


def test_a_downsampling_blocks_add_folds_into_the_later_conv():
    # both inputs of the add are convs' outputs (ResNet's conv3 and downsample): the later conv's epilogue reads
    # the earlier one's output, which is ready by then
    net = _net({"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 1},
               {"type": "conv2d", "name": "c2", "out_channels": 4, "kernel_size": 1, "inputs": ["input"]},
               {"type": "add", "name": "a", "inputs": ["c1", "c2"]}, {"type": "relu", "name": "r"})
    f = _rows(_run(net, _arch(["relu", "add"])))
    assert f["a"]["mapping"]["fused_into"] == "c2" and f["r"]["mapping"]["fused_into"] == "c2"
    assert f["c2"]["mapping"]["epilogue_reads"] == ["c1"] and "epilogue_reads" not in f["c1"]["mapping"]
    # c2 reads the input, its weights and c1's output and writes the sum: 512 + 40 + 512 + 512 B
    assert f["c2"]["bytes"]["hbm"] == 1576 and f["c1"]["bytes"]["hbm"] == 1064


@pytest.mark.parametrize("net, why", [
    # the add's other input is computed after the conv: the conv's epilogue could not read it
    (_net({"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 1},
          {"type": "sigmoid", "name": "s", "inputs": ["input"]},
          {"type": "add", "name": "a", "inputs": ["c1", "s"]}), "residual not ready"),
    # c1's output has a second reader, so it is written anyway
    (_net({"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 1},
          {"type": "add", "name": "a", "inputs": ["c1", "input"]},
          {"type": "add", "name": "a2", "inputs": ["a", "c1"]}), "two readers"),
    # a broadcast add (a per-channel tensor, computed before the conv, over its pixels) is no residual
    (_net({"type": "avgpool2d", "name": "p", "kernel_size": 8},
          {"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 1, "inputs": ["input"]},
          {"type": "add", "name": "a", "inputs": ["c1", "p"]}), "broadcast"),
])
def test_what_residual_add_is_not_fused(net, why):
    r = _rows(_run(net, _arch(["relu", "add"])))["a"]
    assert "fused_into" not in r["mapping"] and r["bytes"]["hbm"] > 0, why


def _fusion_notes(workload: dict, arch) -> list[str]:
    notes = accelsim.simulate(workload, arch, cache_residency=False).to_dict()["notes"]
    return [n for n in notes if "output_path" in n]


def test_an_int8_cnn_on_a_gpu_preset_gets_a_note_naming_the_key():
    int8 = {**CONV_ADD_RELU, "dtype": "int8"}
    # a100: a GPU-like core (core.tile) with nothing on its output path (PyTorch eager). int8: 256 B a tensor; the
    # add reads c1's output and the input and writes the sum, 3 × 256 B, the ReLU reads and writes it, 2 × 256 B:
    # 1280 B through HBM (cache_residency off: nothing read back from L2)
    line, = _fusion_notes(int8, "a100")
    assert line.startswith("2 activation and residual-add op(s)") and "1280 B" in line and " hbm" in line
    assert line.endswith("--set 'arch.core.vector.output_path=[add,relu]'")
    # with them fused, in fp16 (PyTorch eager's CNNs), or on a chip that is not GPU-like: no note
    assert _fusion_notes(int8, {"base": "a100", "core": {"vector": {"output_path": ["relu", "add"]}}}) == []
    assert _fusion_notes(CONV_ADD_RELU, "a100") == [] and _fusion_notes(int8, "tpu-v4") == []


def test_an_unknown_output_path_function_is_one_line_naming_the_key():
    with pytest.raises(ConfigError) as info:
        accelsim.simulate(CONV_RELU_CONV, _arch(["relu", "swish2"]))
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and "core.vector.output_path" in lines[0] and "swish2" in lines[0]


def test_presets_that_apply_activations_on_the_output_path():
    # Eyeriss's ReLU module (Chen et al., JSSC 2017) and TPU v1's activation unit (Jouppi et al., ISCA 2017);
    # GPU presets run PyTorch eager, which writes every activation
    from accelsim.config import load_arch
    assert load_arch("eyeriss-like").core.vector.output_path == ("relu",)
    assert "relu" in load_arch("tpu-v1").core.vector.output_path
    assert load_arch("a100").core.vector.output_path == ()


def test_a_fused_add_writes_an_offloaded_stash_where_it_is_placed():
    # training with offload: activations: the add's output (read again by the layer norm's backward) is stashed in
    # host memory. Fused into l1, l1 writes that sum, so it writes it to the host, as the add did, and the
    # backward reads it back from there: the host traffic and memory.host's footprint agree, fused or not
    net = {"model": "layers", "name": "m", "input": [64, 256], "mode": "training", "layers": [
        {"type": "linear", "name": "l1", "out_features": 256},
        {"type": "add", "name": "a", "inputs": ["l1", "input"]},
        {"type": "layernorm", "name": "ln"},
        {"type": "linear", "name": "l2", "out_features": 256}]}
    runs = []
    for path in ([], ["add"]):
        arch = {**_arch(path), "host": {"capacity": "16GiB", "bandwidth": "8GB/s"}}
        runs.append(accelsim.simulate(net, arch, activations_on_chip=False, offload="activations").to_dict())
    plain, fused = runs
    p, f = _rows(plain), _rows(fused)
    # the sum: 64 × 256 fp16 = 32,768 B, written to the host by the add (unfused) or by l1 (fused), and read back
    # from the host by the layer norm's two backward ops
    sum_bytes = 64 * 256 * 2
    assert f["a"]["mapping"]["fused_into"] == "l1"
    assert p["a"]["bytes"]["host"] == f["l1"]["bytes"]["host"] == sum_bytes
    for name in ("ln.grad_input", "ln.grad_weight"):
        assert p[name]["bytes"]["host"] == f[name]["bytes"]["host"] == sum_bytes
    assert fused["bytes"]["host"] == plain["bytes"]["host"]
    assert fused["memory"]["host"]["activations"] == plain["memory"]["host"]["activations"]
    # what fusion saves is main memory's: l1's write of its own output and the add's read of it, 2 × 32,768 B
    assert plain["bytes"]["hbm"] - fused["bytes"]["hbm"] == 2 * sum_bytes


def test_the_note_counts_only_ops_whose_function_output_path_lacks():
    # c1's output has two readers (a and a2), so neither add can fold into it whatever output_path lists; the ReLU
    # after them could if listed (int8: 4 × 8 × 8 = 256 B a tensor)
    net = _net({"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 1},
               {"type": "add", "name": "a", "inputs": ["c1", "input"]},
               {"type": "add", "name": "a2", "inputs": ["a", "c1"]}, {"type": "relu", "name": "r"})
    int8 = {**net, "dtype": "int8"}
    arch = {"base": "a100", "core": {"vector": {"output_path": ["add"]}}}
    # add listed: the two adds are left out of the key's note; the ReLU reads a2's sum and writes its own:
    # 2 × 256 = 512 B
    line, blocked = _fusion_notes(int8, arch)
    assert line.startswith("1 activation and residual-add op(s)") and "512 B" in line
    assert line.endswith("--set 'arch.core.vector.output_path=[add,relu]'")
    # ... and the adds, listed but unfused, get a line of their own (probe p259 #1: it was silent): each reads two
    # 256-B tensors and writes one, 2 × 3 × 256 = 1536 B; a reads c1, which a2 reads too; a2 reads a, unfused
    assert blocked.startswith("2 activation and residual-add op(s) after a conv or linear of a function "
                              "core.vector.output_path lists (add) still run as kernels of their own, moving 1536 B")
    assert "1 read one of these left unfused" in blocked and "1 read a conv output another op also reads" in blocked
    # both listed: nothing the key could add, so no such note (it said "output_path does not list them"); the
    # three stay unfused, said so: the adds' 1536 B and the ReLU's read and write of a2's sum, 512 B (it reads a2,
    # unfused): 2048 B. (Before probe p259 #1 this asserted no note at all.)
    blocked, = _fusion_notes(int8, {"base": "a100", "core": {"vector": {"output_path": ["relu", "add"]}}})
    assert blocked.startswith("3 activation and residual-add op(s)") and "(add, relu)" in blocked
    assert "moving 2048 B" in blocked and "2 read one of these left unfused" in blocked


def _mixed(conv_dtype: str, add_dtype: str, residual: str = "input", conv_out: str | None = None,
           residual_dtype: str | None = None):
    """A 1×1 conv c1 (4 → 4 channels on 8 × 8 pixels: 256 elements a tensor) in ``conv_dtype`` (writing
    ``conv_out``), an add of its output and ``residual`` in ``add_dtype``, a ReLU and a sigmoid n after it; with
    residual "s", a sigmoid of the input in ``residual_dtype`` computed before c1."""
    import dataclasses

    from accelsim.builders.layers import GraphBuilder
    from accelsim.ir import Graph, Op, OpKind
    shape = (1, 4, 8, 8)
    b = GraphBuilder("mixed", shape, dtype=conv_dtype)
    b.conv2d(b.input, 4, 1, name="c1")
    g = b.build()
    conv = g["c1"]  # (a float conv's eager bias add, layers._eager_bias, is left out: this graph is built by hand)
    if conv_out:
        conv = dataclasses.replace(conv, attrs={**conv.attrs, "out_dtype": conv_out})

    def vec(name, kind, fn, inputs, dtype):
        return Op(name, kind, inputs, tuple(shape for _ in inputs), shape, dtype=dtype, flops=256, vector_elems=256,
                  attrs={"fn": fn})

    before = [vec("s", OpKind.ACTIVATION, "sigmoid", ("input",), residual_dtype)] if residual == "s" else []
    return Graph("mixed", [*before, conv, vec("a", OpKind.ELEMENTWISE, "add", ("c1", residual), add_dtype),
                           vec("r", OpKind.ACTIVATION, "relu", ("a",), add_dtype),
                           vec("n", OpKind.ACTIVATION, "sigmoid", ("r",), add_dtype)], g.inputs)


def test_a_residual_add_in_another_dtype_than_the_conv_output_is_not_fused():
    # an int8 conv whose output is added in fp32: fused, the conv would write the fp32 sum at int8 width (n read
    # 256 B of it, not 1,024) and read the input residual at 1 B an element; unfused, the ReLU writes the fp32 sum,
    # 256 × 4 = 1,024 B, and n reads it and writes its own: 2,048 B
    for graph in (_mixed("int8", "fp32"),
                  # the residual an op's output stored in fp32, added in int8 to the int8 conv's output
                  _mixed("int8", "int8", residual="s", residual_dtype="fp32")):
        plain, fused = _run(graph, _arch([])), _run(graph, _arch(["relu", "add"]))
        assert "fused_into" not in _rows(fused)["a"]["mapping"] and "fused_into" not in _rows(fused)["r"]["mapping"]
        assert fused["bytes"] == plain["bytes"]
    assert _rows(_run(_mixed("int8", "fp32"), _arch(["relu", "add"])))["n"]["bytes"]["hbm"] == 2 * 256 * 4


def test_a_fused_epilogue_reads_a_graph_input_residual_at_the_outputs_width():
    # an fp8 conv writing bf16 (an fp8 GEMM's bf16 output) and a bf16 add of the block's input: fused, as the add
    # does, its epilogue reads the input at bf16's 2 B: 256 × 2 = 512 B. c1 reads the input at fp8 (256 B) and
    # its 4 × 4 weight and 4 biases (20 B) and writes the bf16 sum (512 B): 256 + 20 + 512 + 512 = 1,300 B
    f = _rows(_run(_mixed("fp8", "bf16", conv_out="bf16"), _arch(["relu", "add"])))
    assert f["a"]["mapping"]["fused_into"] == "c1" and f["r"]["mapping"]["fused_into"] == "c1"
    assert f["c1"]["bytes"]["hbm"] == 256 + 20 + 512 + 512
    # n reads the bf16 sum and writes its own
    assert f["n"]["bytes"]["hbm"] == 2 * 512


def test_the_residual_holds_up_only_the_epilogues_loads_and_the_stores():
    # the residual s, a sigmoid of the input on the vector unit, runs before the conv c1 (on the array): the add of
    # their outputs folds into c1. c1's own input and weights load without waiting for s; only the epilogue's read
    # of s does, and c1's stores wait for that read. (s runs on another unit than c1, so no double-buffer
    # dependency of c1's on the array's earlier tasks involves it)
    from accelsim.builders.build import build_graph
    from accelsim.config import load_arch, load_workload
    from accelsim.mapping import lower
    from accelsim.options import Options
    from accelsim.tasks import TaskKind
    net = _net({"type": "sigmoid", "name": "s"},
               {"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 1, "inputs": ["input"]},
               {"type": "add", "name": "a", "inputs": ["c1", "s"]}, {"type": "relu", "name": "r"})
    tg = lower(build_graph(load_workload(net)), load_arch(_arch(["relu", "add"])), Options(activations_on_chip=False))
    names = [m.name for m in tg.ops]
    assert tg.ops[names.index("a")].mapping["fused_into"] == "c1"
    of = {name: [t for t in tg.tasks if t.op == names.index(name)] for name in ("s", "c1")}
    s_ids = {t.id for t in of["s"]}
    waits = [t for t in of["c1"] if s_ids & set(t.deps)]
    # the tasks of c1 that wait for s are the loads of its residual: s's output, 4 × 8 × 8 fp16 = 512 B
    assert {t.kind for t in waits} == {TaskKind.LOAD} and sum(t.nbytes for t in waits) == 4 * 8 * 8 * 2
    epi = {t.id for t in waits}
    stores = [t for t in of["c1"] if t.kind is TaskKind.STORE]
    assert stores and all(epi & set(t.deps) for t in stores)
    # c1's other loads, its input (512 B) and its 4 × 4 weights and 4 biases (40 B), wait for no task of s
    assert sum(t.nbytes for t in of["c1"] if t.kind is TaskKind.LOAD and t.id not in epi) == 512 + 40


def test_a_downsampling_blocks_fused_add_is_no_slower_than_unfused():
    # the block's convs on one array, activations kept on chip: unfused, ds's input loads while c2 computes; fused
    # (its epilogue reading c2's output) they did not (waiting for c2 as the residual's producer): 6,352 cycles
    # against 6,304 unfused. They prefetch now, and the fused block saves the add's kernel
    net = _net({"type": "conv2d", "name": "c1", "out_channels": 16, "kernel_size": 3, "padding": 1, "stride": 2,
                "bias": False}, {"type": "batchnorm2d", "name": "b1"}, {"type": "relu", "name": "r1"},
               {"type": "conv2d", "name": "c2", "out_channels": 16, "kernel_size": 3, "padding": 1, "bias": False},
               {"type": "batchnorm2d", "name": "b2"},
               {"type": "conv2d", "name": "ds", "out_channels": 16, "kernel_size": 1, "stride": 2, "bias": False,
                "inputs": ["input"]},
               {"type": "batchnorm2d", "name": "bd"},
               {"type": "add", "name": "a", "inputs": ["b2", "bd"]}, {"type": "relu", "name": "r2"},
               {"type": "conv2d", "name": "c3", "out_channels": 8, "kernel_size": 1}, shape=(1, 8, 8, 8))
    plain, fused = (accelsim.simulate(net, _arch(path)).to_dict() for path in ([], ["add"]))
    assert _rows(fused)["a"]["mapping"]["fused_into"] == "ds"
    assert fused["total_cycles"] <= plain["total_cycles"]


def _priced(workload: dict, arch):
    """The priced plans of ``workload`` on ``arch`` by name, as lowering hands them to ``assign``."""
    from accelsim.builders.build import build_graph
    from accelsim.config import load_workload
    from accelsim.mapping.aliases import aliases
    from accelsim.mapping.fusion import fuse, pipeline
    from accelsim.mapping.pricing import price
    from accelsim.options import Options
    graph = build_graph(load_workload(workload), arch.dtype)
    return {p.op.name: p for p in pipeline(price(fuse(aliases(graph, Options()), graph, arch), arch), arch)}


def test_the_split_estimate_counts_the_residuals_bytes():
    # the estimate the choice of units goes by moves what traffic moves: c1 fused with the add reads its input
    # (512 B), its weights and biases (40 B) and the residual (512 B) and writes the sum (512 B): 1,576 B at
    # 16 GB/s / 1 GHz = 16 B a cycle (efficiency 1): 98.5 cycles; without the residual 1,064 B, 66.5 cycles
    from accelsim.config import load_arch
    from accelsim.mapping import traffic
    from accelsim.options import Options
    arch = load_arch(_arch(["relu", "add"]))
    p = _priced(CONV_ADD_RELU, arch)["c1"]
    assert p.epilogue == ("input",)
    assert traffic.split_estimate(p, arch, Options(), 1, 1)[2] == 1576 / 16
    assert traffic.split_estimate(p._replace(epilogue=()), arch, Options(), 1, 1)[2] == 1064 / 16


def test_the_split_estimate_ramps_what_the_emitter_ramps():
    # a GPU-like core (core.tile) on a one-core chip is a unit of its own, not lock-step cores: an op without output
    # tiles (a ReLU) is cut into ordinary groups, ramped at max_tiles_per_op 1 (traffic's mapping.ramp); the
    # estimate saw core.tile and never ramped it. Both go by traffic.gpu_groups
    from accelsim.config import load_arch
    from accelsim.mapping import traffic
    from accelsim.options import Options
    net = _net({"type": "relu", "name": "r"}, shape=(64, 64, 56, 56))
    one = {"base": "a100", "cores": 1}
    report = accelsim.simulate(net, one, max_tiles_per_op=1, cache_residency=False).to_dict()
    assert any(_rows(report)["r"]["mapping"].get("ramp", ()))
    arch = load_arch(one)
    p = _priced(net, arch)["r"]
    assert not traffic.gpu_groups(p, arch) and traffic.gpu_groups(p, load_arch("a100"))
    coarse = Options(max_tiles_per_op=1)
    ramped = traffic.split_estimate(p, arch, coarse, 1, 1)[0]
    assert ramped < traffic.split_estimate(p, arch, Options(max_tiles_per_op=1, ramp_max=0), 1, 1)[0]


def test_the_edge_npu_preset_clamps_relu6_on_its_output_path():
    # edge-npu (arch/edge-npu.yaml): an int8 conv's ReLU6 is the clamp of its requantized output, so MobileNet-V2's
    # stem activation folds into the stem conv: 112 × 112 × 32 int8 elements at 1 cycle each (relu6) over 32 lanes
    # = 401,408 / 32 = 12,544 output-path cycles, and no round trip of its own
    report = accelsim.simulate("mobilenet_v2", "edge-npu").to_dict()
    act = _rows(report)["features.0.act"]
    assert act["mapping"]["fused_into"] == "features.0.conv"
    assert act["mapping"]["output_path_cycles"] == 112 * 112 * 32 // 32
    assert act["bytes"] == {} and act["compute_cycles"] == 0


def test_an_activation_after_an_add_folds_into_the_add_with_after_add():
    # probe p182 #3: TFLite's ADD carries a fused_activation_function (schema.fbs AddOptions), so an int8 ResNet
    # block's add + ReLU is one op. With after_add (and add unlisted: the add stays a vector op of its own), the
    # ReLU folds into the add, which writes the activated sum. fp16, every tensor 4 × 8 × 8 = 256 elements = 512 B
    plain, fused = _run(CONV_ADD_RELU, _arch(["relu"])), _run(CONV_ADD_RELU, _arch(["relu", "after_add"]))
    p, f = _rows(plain), _rows(fused)
    # [relu] alone: the add is no producer of its output path; the ReLU reads the sum and writes its own: 2 × 512 B
    assert "fused_into" not in p["r"]["mapping"] and p["r"]["bytes"]["hbm"] == 2 * 512
    # fused: the ReLU has no bytes, tasks or cycles of its own; c1 (1,064 B) and the add (3 × 512 = 1,536 B) move
    # what they moved unfused
    assert f["r"]["mapping"]["fused_into"] == "a" and f["r"]["bytes"] == {} and f["r"]["compute_cycles"] == 0
    assert (f["c1"]["bytes"]["hbm"], f["a"]["bytes"]["hbm"]) == (1064, 1536)
    assert fused["bytes"]["hbm"] == 1064 + 1536 == plain["bytes"]["hbm"] - 2 * 512
    # its 256 FLOPs stay, on the vector unit: ⌈256 × 1 / 16⌉ = 16 output-path cycles, the add's own 16 cycles
    assert f["r"]["flops"] == 256 and f["r"]["unit"] == "core0.vector"
    assert f["r"]["mapping"]["output_path_cycles"] == 16 and f["a"]["compute_cycles"] == 16
    assert (fused["macs"], fused["flops"]) == (plain["macs"], plain["flops"])
    # with add listed too, the add folds into c1 first, and the ReLU after it into c1 as before (1,576 B)
    both = _rows(_run(CONV_ADD_RELU, _arch(["relu", "add", "after_add"])))
    assert both["a"]["mapping"]["fused_into"] == both["r"]["mapping"]["fused_into"] == "c1"
    assert both["c1"]["bytes"]["hbm"] == 1576


@pytest.mark.parametrize("net, why", [
    # the add's output has a second reader (a2), so the sum is written anyway
    (_net({"type": "add", "name": "a", "inputs": ["input", "input"]}, {"type": "relu", "name": "r1"},
          {"type": "add", "name": "a2", "inputs": ["a", "r1"]}), "two readers"),
    # sigmoid is not on this core's output path
    (_net({"type": "add", "name": "a", "inputs": ["input", "input"]}, {"type": "sigmoid", "name": "r1"}),
     "not listed"),
    # a multiply is no add
    (_net({"type": "mul", "name": "a", "inputs": ["input", "input"]}, {"type": "relu", "name": "r1"}), "mul"),
])
def test_what_after_add_does_not_fuse(net, why):
    r = _rows(_run(net, _arch(["relu", "after_add"])))["r1"]
    assert "fused_into" not in r["mapping"] and r["bytes"]["hbm"] > 0, why


def test_tpu_presets_fuse_activations_as_xla_does():
    # probe p182 #2: XLA fuses an element-wise consumer into the convolution that produces it (kOutput fusion;
    # libtpu's conv + bias + activation), and an add + activation chain into one loop fusion; GPU presets: none
    from accelsim.config import load_arch
    for name in ("tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu-v5e-8", "tpu-v5p-128", "tpu-v6e-8"):
        path = load_arch(name).core.vector.output_path
        assert {"relu", "gelu", "silu", "after_add"} <= set(path) and "add" not in path, name
    assert "after_add" in load_arch("edge-npu").core.vector.output_path
    # a 3-D conv + ReLU (unet3d's pattern) on tpu-v4, every tensor off chip: the ReLU's read and write of the conv
    # output, 2 × 8 channels × 4 × 8 × 8 voxels × 2 B (bf16) = 16,384 B, are gone against the same chip fusing none
    net = {"model": "layers", "name": "c3", "input": [1, 4, 4, 8, 8], "layers": [
        {"type": "conv3d", "name": "c", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"type": "relu", "name": "r"}]}
    plain = _run(net, {"base": "tpu-v4", "core": {"vector": {"output_path": []}}})
    fused = _run(net, "tpu-v4")
    assert _rows(fused)["r"]["mapping"]["fused_into"] == "c" and _rows(fused)["r"]["bytes"] == {}
    assert _rows(plain)["r"]["bytes"]["hbm"] == 2 * 8 * 4 * 8 * 8 * 2
    assert fused["bytes"]["hbm"] == plain["bytes"]["hbm"] - 2 * 8 * 4 * 8 * 8 * 2


def test_edge_npu_clamps_the_relu_after_a_residual_add():
    # probe p182 #3 on the preset: an int8 block tail conv + add + ReLU, every tensor off chip. The ReLU folds into
    # the add (edge-npu lists after_add, not add): its read and write of the int8 sum, 2 × 4 × 8 × 8 × 1 B = 512 B,
    # are gone against the preset without after_add
    net = {**CONV_ADD_RELU, "dtype": "int8"}
    plain = _run(net, {"base": "edge-npu", "core": {"vector": {"output_path": ["relu", "relu6"]}}})
    fused = _run(net, "edge-npu")
    assert _rows(fused)["r"]["mapping"]["fused_into"] == "a" and "fused_into" not in _rows(fused)["a"]["mapping"]
    assert _rows(plain)["r"]["bytes"]["hbm"] == 2 * 4 * 8 * 8
    assert fused["bytes"]["hbm"] == plain["bytes"]["hbm"] - 2 * 4 * 8 * 8
