"""Training batch norm (probe p27 finding 7): the forward computes the batch's statistics in a pass of its own
before normalising; the backward reduces dγ and dβ in one pass over (x, dY), then writes dX in a second. On a GPU
preset a bf16 one runs eager PyTorch's native CUDA kernels (probe p242 #1: builders.training.eager_batchnorm): four
forward kernels and one fused backward."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.builders.layers import GraphBuilder
from accelsim.builders.tlayers import TransformerBuilder
from accelsim.builders.training import freeze, training_graph
from accelsim.errors import WorkloadError

N, C, H, W = 256, 64, 56, 56  # ResNet-50's layer1.0.bn1 at batch 256
X = N * C * H * W * 2  # bytes of x in bf16: 102,760,448, more than the A100's 40 MiB L2


def _step(shape: tuple[int, ...] = (N, 32, H, W), dtype: str = "bf16"):
    b = GraphBuilder("bn", shape, dtype=dtype)
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


# ---- probe p242 #1: on a GPU preset (eager PyTorch 2.x, bf16: the native CUDA kernels, not cuDNN) -------------


def _on(arch: str, graph=None):
    from accelsim.config import load_arch
    from accelsim.scenarios.fit import stash_as_run

    return stash_as_run(graph if graph is not None else _step(), load_arch(arch))


def test_eager_bf16_batch_norm_is_four_kernels_forward_and_one_backward():
    """aten/src/ATen/native/Normalization.cpp _batch_norm_impl_index: cuDNN only where input and weight are not
    bf16, so a bf16 BatchNorm2d runs batch_norm_cuda (cuda/Normalization.cu): after nn.BatchNorm2d.forward's
    num_batches_tracked.add_(1), batch_norm_cuda_out runs batch_norm_mean_var, batch_norm_update_stats_and_invert
    and batch_norm_elementwise; batch_norm_backward_cuda's fused branch (contiguous, < 2^31 elements) is one
    batch_norm_backward_kernel writing dX, dγ and dβ."""
    g = _on("h100")
    names = [op.name for op in g.ops]
    i = names.index("bn.num_batches_tracked")
    assert names[i:i + 4] == ["bn.num_batches_tracked", "bn.stats", "bn.update_stats", "bn"]
    assert g["bn.update_stats"].inputs == ("bn.stats",)
    assert g["bn"].inputs == ("conv", "bn.update_stats")  # mean and invstd
    # the counter: a 0-dim int64 buffer read and written, 8 B (4 bf16 elements declared)
    count = g["bn.num_batches_tracked"]
    assert count.inputs == () and count.out_bytes == 8 and [w.role for w in count.weights] == ["buffer"]
    assert count.weight_bytes == 8
    # the update: reads mean and variance (2·C fp32) and running_mean, running_var (C bf16 each); writes those two
    # back and invstd (C fp32): 4·C + 2·2·C = 8·C = 512 B written, 7 flops a channel
    update = g["bn.update_stats"]
    assert update.weight_bytes == 2 * C * 2 and update.out_bytes == C * 4 + 2 * C * 2 == 512
    assert update.flops == 7 * C
    # backward: one kernel, grad_input first (dY, x), the reduction in its kernel
    j = names.index("bn.grad_input")
    assert names[j + 1] == "bn.grad_weight"
    assert g["bn.grad_input"].inputs == ("relu.grad_input", "conv")
    assert g["bn.grad_weight"].in_kernel_of == "bn.grad_input"
    assert g["bn.grad_input"].in_kernel_of is None
    # the steps still read the packed dγ, dβ; the stash is unchanged
    assert g["bn.weight.step"].inputs == ("bn.grad_weight",)
    assert g.info.stashed == _step().info.stashed


def test_the_fused_backward_moves_both_passes_bytes_in_one_kernel_on_h100():
    """batch_norm_backward_kernel reads x and dY for its channel's sums, then again to write dX: 5·|x| as the two
    kernels moved (x is larger than the L2: 102,760,448 B), now one launch; the forward adds the update's few bytes."""
    ops = {o["name"]: o for o in simulate(_step(), "h100").to_dict()["ops"]}

    def hbm(name):
        return ops[name]["bytes"].get("hbm", 0)

    assert hbm("bn.grad_weight") + hbm("bn.grad_input") == pytest.approx(5 * X, abs=4096)
    assert hbm("bn.stats") + hbm("bn") == pytest.approx(3 * X, abs=4096)
    assert hbm("bn.update_stats") + hbm("bn.num_batches_tracked") <= 4096


def test_accelerators_keep_the_two_pass_form():
    """Off a GPU preset (a compiler) the step is as built. (An fp32 model on a GPU, cuDNN, was asserted here to be
    as built too, ``eager_batchnorm(fp32) is fp32``; probe p247 #4: the module's num_batches_tracked add and the
    running-stat buffers are not the backend's, see the fp32 tests below.)"""
    g = _step()
    for arch in ("tpu-v4", "edge-npu"):
        assert _on(arch, g) is g


def test_cudnn_fp32_batch_norm_keeps_its_kernels_and_adds_the_counter_and_buffers():
    """Probe p247 #4. torch/nn/modules/batchnorm.py _BatchNorm.forward runs ``if self.training and
    self.track_running_stats: ... self.num_batches_tracked.add_(1)`` before F.batch_norm, whatever the dtype, so an
    fp32 model (cuDNN: _batch_norm_impl_index) launches that kernel too; cuDNN's forward-training kernel reads and
    updates running_mean and running_var itself (no launch of its own). The cuDNN ops stay as built: stats, the
    element-wise pass, and the two backward passes."""
    from accelsim.builders.training import eager_batchnorm

    built = _step((8, 32, 8, 8), "fp32")
    g = eager_batchnorm(built)
    names = [op.name for op in g.ops]
    i = names.index("bn.num_batches_tracked")
    assert names[i:i + 3] == ["bn.num_batches_tracked", "bn.stats", "bn"]
    assert "bn.update_stats" not in g
    # the counter: a 0-dim int64 buffer read and written, 8 B (2 fp32 elements declared)
    count = g["bn.num_batches_tracked"]
    assert count.inputs == () and count.out_bytes == 8 and count.weight_bytes == 8
    assert [w.role for w in count.weights] == ["buffer"]
    # the statistics pass reads running_mean and running_var, C fp32 each: 2 · 64 · 4 = 512 B; nothing else changes
    stats = g["bn.stats"]
    assert [w.name for w in stats.weights] == ["bn.running_mean", "bn.running_var"]
    assert stats.weight_bytes == 2 * C * 4 == 512
    assert stats.out_shape == built["bn.stats"].out_shape == (2, C)
    assert g["bn"] == built["bn"]
    # the backward: still the two kernels (batch_norm_backward_reduce's cuDNN counterpart is not fused here)
    assert g["bn.grad_weight"].in_kernel_of is None
    assert g["bn.grad_input"] == built["bn.grad_input"]
    assert g.info.stashed == built.info.stashed
    assert eager_batchnorm(g) is g  # applied once: a step already run eagerly gets no second counter


def test_resnet50_fp32_on_h100_holds_the_buffers_with_its_weights():
    """resnet50 fp32 at batch 32 on h100: 53 counter kernels (conv1's bn, 16 blocks × 3, 4 downsamples), and the
    weights memory holds, besides the 25,557,032 fp32 parameters (torchvision's resnet50: 102,228,128 B), the 53
    BatchNorm2d's running_mean and running_var over their 26,560 channels (tests/unit/test_fit_messages.py adds
    them up) and the 53 int64 counters: 2 · 26,560 · 4 + 53 · 8 = 212,904 B."""
    from accelsim.builders.build import build_graph
    from accelsim.config import load_workload

    g = _on("h100", build_graph(load_workload({"model": "resnet50", "mode": "training", "batch": 32,
                                               "dtype": "fp32"})))
    counters = [op for op in g.ops if op.fn == "batchnorm_count"]
    assert len(counters) == 53 and all(op.in_kernel_of is None for op in counters)
    bn = [op for op in g.ops if op.fn and op.fn.startswith("batchnorm") and op.in_kernel_of is None]
    # per batch norm: counter, stats, element-wise forward; grad_weight and grad_input backward
    assert len(bn) == 53 * 5
    assert 2 * 26_560 * 4 + 53 * 8 == 212_904
    report = simulate(g, "h100").to_dict()
    assert report["memory"]["hbm"]["weights"] == 25_557_032 * 4 + 212_904 == 102_441_032


def test_over_two_to_the_31_elements_the_backward_stays_two_kernels():
    """canUse32BitIndexMath fails for 1024·64·256·256 = 4,294,967,296 elements > 2^31 − 1: batch_norm_backward_cuda
    falls through to batch_norm_backward_reduce + batch_norm_backward_elemt; the forward is still four kernels."""
    from accelsim.builders.training import eager_batchnorm

    b = GraphBuilder("big", (1024, 8, 256, 256), dtype="bf16")
    b.conv2d(b.input, 64, 1, bias=False, name="conv")
    b.batchnorm2d("conv", name="bn")
    b.relu("bn", name="relu")
    b.conv2d("relu", 8, 1, bias=False, name="conv2")
    g = eager_batchnorm(training_graph(b.build(), "sgd"))
    assert 1024 * 64 * 256 * 256 == 4_294_967_296 > 2**31 - 1
    assert "bn.num_batches_tracked" in g and "bn.update_stats" in g
    assert g["bn.grad_weight"].in_kernel_of is None
    assert g["bn.grad_input"].inputs == ("relu.grad_input", "conv", "bn.grad_weight")


def test_resnet50_on_h100_runs_five_kernels_a_batch_norm():
    """torchvision resnet50 has 53 BatchNorm2d (conv1's, 16 blocks × 3, 4 downsamples): 53 × 4 forward kernels and
    53 backward, where the probe read 53 × 2 + 53 × 2."""
    from accelsim.builders.build import build_graph
    from accelsim.config import load_workload

    assert 1 + 16 * 3 + 4 == 53
    g = _on("h100", build_graph(load_workload({"model": "resnet50", "mode": "training", "batch": 2})))
    bn = [op for op in g.ops if op.fn and op.fn.startswith("batchnorm") and op.in_kernel_of is None]
    fwd = [op for op in bn if op.attrs.get("phase") == "forward"]
    bwd = [op for op in bn if op.attrs.get("phase") == "backward"]
    assert len(fwd) == 4 * 53 and len(bwd) == 53


# ---- probe p277 #1: one value per channel is refused, as PyTorch's _verify_batch_size does ------------------------
def _bn_step(shape: tuple[int, ...], frozen: bool = False):
    # x → batch norm over dim 1 (BatchNorm1d of (N, C) / (N, C, L), 3d of (N, C, D, H, W)) → a linear head
    b = GraphBuilder("bn1", shape)
    bn = {2: b.batchnorm1d, 3: b.batchnorm1d, 5: b.batchnorm3d}[len(shape)](b.input, name="bn")
    b.linear(b.flatten(bn) if len(shape) > 2 else bn, 4, name="fc")
    g = b.build()
    return training_graph(freeze(g, norms=lambda op: True) if frozen else g, "sgd")


@pytest.mark.parametrize("shape", [(1, 512), (1, 64, 1), (1, 64, 1, 1, 1)])
def test_a_batch_norm_of_one_value_a_channel_cannot_train(shape):
    # torch.nn.functional._verify_batch_size: size[0] × ∏ size[2:] == 1 raises "Expected more than 1 value per
    # channel when training" (PointNet's fc_bn1 at batch 1: (1, 512); r3d_18's 1×1×1 maps at batch 1)
    with pytest.raises(WorkloadError, match=rf"training: batch norm 'bn' gets 1 value per channel \(input "
                                            rf"\{list(shape)}: batch 1\), which PyTorch refuses"):
        _bn_step(shape)


@pytest.mark.parametrize("shape", [(2, 512), (1, 64, 2), (1, 64, 1, 1, 2)])
def test_two_values_a_channel_train(shape):
    # 2 × 1 = 1 × 2 = 1 × 1 × 1 × 2 = 2 values a channel: torch trains it, and so does the step (its statistics pass)
    g = _bn_step(shape)
    assert g["bn.stats"].vector_elems == 2 * shape[1]


def test_a_frozen_batch_norm_and_inference_take_one_value_a_channel():
    # FrozenBatchNorm2d normalises by fixed statistics (no _verify_batch_size), and eval mode uses the running ones
    assert "bn.stats" not in _bn_step((1, 512), frozen=True)
    b = GraphBuilder("bn1", (1, 512))
    b.batchnorm1d(b.input, name="bn")
    assert b.build()["bn"].in_shapes == ((1, 512),)

