"""Probe p222 #1: a training max pool keeps its int64 argmax for the backward pass.

PyTorch's max_pool2d runs ``max_pool2d_with_indices`` when its input requires grad
(aten/src/ATen/native/MaxPooling.cpp), and tools/autograd/derivatives.yaml gives the backward as
``max_pool2d_with_indices_backward(grad, self, kernel_size, stride, padding, dilation, ceil_mode, result1)``:
autograd saves ``self`` and ``result1``, the indices, 8 B (int64) per output element. The stash left them out."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders.build import build_graph
from accelsim.ir import OpKind

INT64 = 8  # bytes of one torch.long index


def _train(model: str, **kw) -> accelsim.Graph:
    return build_graph(accelsim.load_workload({"model": model, "mode": "training", "batch": 1, **kw}))


@pytest.fixture(scope="module")
def resnet18():
    return _train("resnet18", dtype="bf16")


def test_resnet18_stash_by_hand(resnet18):
    """torchvision resnet18, batch 1, bf16 (2 B), every tensor autograd keeps, counted once:
    the image 3·224·224 (conv1's weight gradient), conv1's output (bn1's input) 64·112·112, the in-place ReLU's
    output 64·112·112, the max pool's output 64·56·56; layer1's two blocks 4 tensors each of 64·56·56 (conv1 out,
    relu out, conv2 out, block out; the block input is the previous output); layer2..4 nine tensors of the block
    output each (the first block's downsample conv output adds one): 128·28·28, 256·14·14, 512·7·7; fc's input
    512; the fp32 logits 1000 · 4 B (loss.cast). Plus the max pool's indices, 64·56·56 × 8 B."""
    bf16 = (3 * 224 * 224 + 2 * 64 * 112 * 112 + 64 * 56 * 56 + 2 * 4 * 64 * 56 * 56
            + 9 * (128 * 28 * 28 + 256 * 14 * 14 + 512 * 7 * 7) + 512)
    assert bf16 == 5_143_552
    before = bf16 * 2 + 1000 * 4
    assert before == 10_291_104  # what the probe read before the fix
    indices = 64 * 56 * 56 * INT64
    assert indices == 1_605_632
    assert resnet18.meta["stashed_activation_bytes"] == before + indices == 11_896_736
    assert "maxpool.indices" in resnet18.meta["stashed"]


def test_pool_backward_reads_the_indices(resnet18):
    idx = resnet18["maxpool.indices"]
    assert idx.attrs["phase"] == "forward" and idx.attrs["fn"] == "max_indices"
    # run in the pool's kernel, reading nothing (probe p225 #5: it read ("maxpool",), the pool's output, again)
    assert idx.inputs == () and idx.in_kernel_of == "maxpool" and idx.flops == 0
    assert idx.out_bytes == 64 * 56 * 56 * INT64
    bwd = resnet18["maxpool.grad_input"]
    assert bwd.fn == "max_grad" and bwd.inputs[1] == "maxpool.indices"
    # the forward op list: the indices right after their pool
    names = [op.name for op in resnet18.ops]
    assert names.index("maxpool.indices") == names.index("maxpool") + 1


def test_an_average_pool_saves_nothing(resnet18):
    """avg_pool2d's and adaptive_avg_pool2d's backward takes only grad and self's sizes (derivatives.yaml)."""
    assert "avgpool.indices" not in {op.name for op in resnet18.ops}
    assert len(resnet18["avgpool.grad_input"].inputs) == 1  # dY alone


def test_googlenet_thirteen_pools():
    """torchvision googlenet at 224²: maxpool1..4 (3×3 stride 2, ceil_mode) and each Inception block's branch4 3×3
    stride-1 max pool (9 blocks), the output elements of each:
    maxpool1 64·56·56, maxpool2 192·28·28, 3a 192·28·28, 3b 256·28·28, maxpool3 480·14·14, 4a 480·14·14,
    4b/4c/4d 512·14·14, 4e 528·14·14, maxpool4 832·7·7, 5a/5b 832·7·7."""
    outs = [64 * 56 * 56, 192 * 28 * 28, 192 * 28 * 28, 256 * 28 * 28, 480 * 14 * 14, 480 * 14 * 14,
            *3 * [512 * 14 * 14], 528 * 14 * 14, *3 * [832 * 7 * 7]]
    assert sum(outs) == 1_417_472
    g = _train("googlenet", dtype="bf16")
    idx = [op for op in g.ops if op.attrs.get("fn") == "max_indices"]
    assert len(idx) == 13
    assert sorted(op.out_bytes for op in idx) == sorted(o * INT64 for o in outs)
    assert sum(op.out_bytes for op in idx) == 11_339_776
    assert all(op.name in g.meta["stashed"] for op in idx)
    assert all(g[f"{op.attrs['forward']}.grad_input"].inputs[1] == op.name for op in idx)


def test_a_reduce_max_is_not_a_pool():
    """A reduction's max (attrs ``over``: a graph readout) keeps reading (dY, X): amax saves self and the result,
    no indices."""
    from accelsim.builders import GraphBuilder
    from accelsim.builders.training import training_graph
    b = GraphBuilder("net", (2, 3, 8, 8))
    x = b.conv2d("input", 4, 3, padding=1, name="conv")
    b._add("rmax", OpKind.POOL, [x], (2, 4), flops=2 * 4 * 64, vector_elems=2 * 4 * 64, fn="max", over="axes")
    g = training_graph(b.build(), "sgd")
    assert "rmax.indices" not in {op.name for op in g.ops}
    assert g["rmax.grad_input"].inputs[1] == "conv.bias_add"  # conv's output through its eager bias add (p235 #4)


def test_the_pool_kernel_writes_its_indices():
    """Probe p225 #5: PyTorch's CUDA MaxPoolForwardNCHW (aten/src/ATen/native/cuda/DilatedMaxPool2d.cu) writes
    ``top_data`` and the int64 ``top_mask`` in one kernel, so the indices are no kernel of their own and re-read
    nothing. resnet18 training, batch 32, bf16, on h100: the pool reads relu's 32·64·112·112 · 2 B = 51,380,224 B
    and writes 32·64·56·56 · 2 B = 12,845,056 B of values; its indices are 32·64·56·56 · 8 B = 51,380,224 B.
    One kernel moving 115,605,504 B in all (the separate kernel re-read the 12,845,056 B: 128,450,560)."""
    from accelsim import api
    from accelsim.config import load_arch

    relu, vals, idx = 32 * 64 * 112 * 112 * 2, 32 * 64 * 56 * 56 * 2, 32 * 64 * 56 * 56 * INT64
    assert (relu, vals, idx) == (51_380_224, 12_845_056, 51_380_224)
    g = _train("resnet18", dtype="bf16", batch=32)
    arch = load_arch("h100")
    ops = {o["name"]: o for o in api.run(g, arch, name="t").to_dict()["ops"]}
    pool, ind = ops["maxpool"]["bytes"]["hbm"], ops["maxpool.indices"]["bytes"]["hbm"]
    assert (pool, ind) == (relu + vals, idx)
    assert pool + ind == 115_605_504
    # the indices wait for the pool's kernel: they are ready when it ends
    assert ops["maxpool.indices"]["ready_cycle"] == ops["maxpool"]["end_cycle"]


def test_the_indices_open_no_kernel():
    """Without ``in_kernel_of`` the same graph moves the same bytes and dispatches one kernel more: h100.yaml's
    ``kernel_dispatch: 0.83us`` a kernel, and resnet18 has one max pool."""
    import dataclasses

    from accelsim import api
    from accelsim.config import load_arch
    from accelsim.ir import Graph

    g = _train("resnet18", dtype="bf16")
    plain = Graph(g.name, [dataclasses.replace(op, attrs={k: v for k, v in op.attrs.items() if k != "in_kernel_of"})
                           for op in g.ops], g.inputs, meta=g.meta)
    arch = load_arch("h100")
    inside, apart = (api.run(x, arch, name="t").to_dict() for x in (g, plain))
    assert inside["bytes"] == apart["bytes"]
    assert apart["kernel_dispatch_s"] - inside["kernel_dispatch_s"] == pytest.approx(0.83e-6, rel=1e-3)


# ---- probe p242 #4: a compiler (XLA on a TPU / NPU preset) keeps no indices ------------------------------------


def test_xla_pools_keep_no_indices_resnet50_tpu_v4():
    """resnet50 at batch 32 on tpu-v4 (bf16): the stash the probe read, 1,400,370,176 B, held maxpool.indices,
    32·64·56·56 int64 = 51,380,224 B, which XLA never makes: JAX's max pool is lax.reduce_window, whose gradient
    (_reduce_window_chooser_jvp_rule → _select_and_gather_add, transposed to select_and_scatter_add(t, operand))
    re-reads the pool's input. That input (relu's output) is stashed already, so the stash only loses the indices."""
    from accelsim.config import load_arch
    from accelsim.scenarios.fit import stash_as_run

    built = build_graph(accelsim.load_workload({"model": "resnet50", "mode": "training", "batch": 32}))
    indices = 32 * 64 * 56 * 56 * INT64
    assert indices == 51_380_224
    assert built.meta["stashed_activation_bytes"] == 1_400_370_176  # eager PyTorch's (and the probe's before)
    tpu = stash_as_run(built, load_arch("tpu-v4"))
    assert tpu.meta["stashed_activation_bytes"] == 1_400_370_176 - indices == 1_348_989_952
    assert set(built.meta["stashed"]) - set(tpu.meta["stashed"]) == {"maxpool.indices"}
    assert "maxpool.indices" not in tpu and "maxpool.indices" in built
    grad = tpu["maxpool.grad_input"]
    assert grad.inputs[1] == "relu"  # (dY, x): x the pool's input
    assert "saved" not in grad.attrs and grad.in_shapes[1] == (32, 64, 112, 112)
    # a GPU preset (eager PyTorch) keeps them
    assert "maxpool.indices" in stash_as_run(built, load_arch("h100")).meta["stashed"]


def test_xla_pools_move_no_index_bytes(monkeypatch):
    """resnet18 at batch 8 on tpu-v4: the step no longer writes the pool's 8·64·56·56 int64 indices (12,845,056 B)
    nor reads them back in the gradient, which reads the pool's input instead (8·64·112·112 bf16, as many bytes):
    the HBM bytes fall by at least the index write. builders.training.compiled_pools patched off gives the eager
    step (the probe's before)."""
    import accelsim.builders.training as training

    def hbm(report) -> int:
        return sum(int(o["bytes"].get("hbm", 0)) for o in report.to_dict()["ops"])

    after = accelsim.simulate("resnet18", "tpu-v4", mode="training", batch=8, plots=False)
    monkeypatch.setattr(training, "compiled_pools", lambda graph: graph)
    before = accelsim.simulate("resnet18", "tpu-v4", mode="training", batch=8, plots=False)
    indices = 8 * 64 * 56 * 56 * INT64
    assert indices == 12_845_056
    assert before.to_dict()["seconds"] > after.to_dict()["seconds"]
    assert "maxpool.indices" in {o["name"] for o in before.to_dict()["ops"]}
    assert "maxpool.indices" not in {o["name"] for o in after.to_dict()["ops"]}
    assert 8 * 64 * 112 * 112 * 2 == indices
    assert hbm(before) - hbm(after) >= indices
