"""Training batch norm as PyTorch's CUDA kernels run it (probe p27 finding 7): the forward computes the batch's
statistics in a pass of its own before normalising; the backward reduces dγ and dβ in one pass over (x, dY), then
writes dX in a second."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.builders.layers import GraphBuilder
from accelsim.builders.tlayers import TransformerBuilder
from accelsim.builders.training import training_graph

N, C, H, W = 256, 64, 56, 56  # ResNet-50's layer1.0.bn1 at batch 256
X = N * C * H * W * 2  # bytes of x in bf16: 102,760,448, more than the A100's 40 MiB L2


def _step():
    b = GraphBuilder("bn", (N, 32, H, W), dtype="bf16")
    b.conv2d(b.input, C, 1, bias=False, name="conv")
    b.batchnorm2d("conv", name="bn")
    b.relu("bn", name="relu")
    b.conv2d("relu", C, 1, bias=False, name="conv2")
    return training_graph(b.build(), "sgd")


def test_graph_shape_of_a_training_batch_norm():
    g = _step()
    stats = g["bn.stats"]  # batch_norm_collect_statistics: mean and invstd per channel, fp32
    assert stats.inputs == ("conv",) and stats.out_shape == (2, C) and stats.out_bytes == 2 * C * 4
    assert stats.attrs["phase"] == "forward" and stats.vector_elems == N * C * H * W
    assert g["bn"].inputs == ("conv", "bn.stats")
    # one reduction for both parameters' gradients (batch_norm_backward_reduce), no separate bias gradient
    reduce = g["bn.grad_weight"]
    assert reduce.out_shape == (2 * C,) and "bn.grad_bias" not in g
    assert g["bn.weight.step"].inputs == g["bn.bias.step"].inputs == ("bn.grad_weight",)
    assert g["bn.grad_input"].inputs == ("relu.grad_input", "conv", "bn.grad_weight")  # batch_norm_backward_elemt
    # the same column sums as before: Σ dY·x̂ (4 flops an element) and Σ dY (1)
    assert reduce.flops == 5 * N * C * H * W and reduce.vector_elems == 2 * N * C * H * W


def test_main_memory_bytes_by_hand_on_a100():
    # x (102.8 MB) is larger than the L2, and stashed for the backward: every pass reads it from HBM.
    # forward: statistics read x (1·|x|), normalise reads x and writes y (2·|x|): 3·|x|
    # backward: reduce reads (x, dY) (2·|x|), elemt reads (dY, x) and writes dX (3·|x|): 5·|x|
    ops = {o["name"]: o for o in simulate(_step(), "a100").to_dict()["ops"]}

    def hbm(name):
        return ops[name]["bytes"]["hbm"]

    fwd = hbm("bn.stats") + hbm("bn")
    bwd = hbm("bn.grad_weight") + hbm("bn.grad_input")
    # the statistics and the sums are a few hundred bytes (2·C fp32 and 2·C bf16 values, read where used)
    assert fwd == pytest.approx(3 * X, abs=4096) and fwd >= 3 * X
    assert bwd == pytest.approx(5 * X, abs=4096) and bwd >= 5 * X
    assert hbm("bn.stats") == pytest.approx(X, abs=1024)


def test_layer_norm_keeps_its_separate_gradients():
    # only batch norm is rewritten: a layer norm has no statistics op and its dγ, dβ are separate ops
    b = TransformerBuilder("ln", {"x": (2, 8, 16)})
    b.layernorm(b.linear("x", 16, name="fc"), name="ln")
    g = training_graph(b.build(), "sgd")
    assert "ln.stats" not in g and g["ln"].inputs == ("fc",)
    assert g["ln.grad_weight"].out_shape == g["ln.grad_bias"].out_shape == (16,)
