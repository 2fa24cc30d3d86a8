"""Probe p230 #3: a torch.cat the reference code runs is a copy kernel on a GPU preset (eager PyTorch and the CUDA
graphs captured from it: ATen's ``cat`` on CUDA launches CatArrayBatchedCopy, aten/src/ATen/native/cuda/Shape.cu,
which reads every input and writes a new tensor), and stays a view elsewhere, where the accelerator's compiler has
the producers write into the concatenation's buffer. Builders mark such a concat ``eager_copy``
(``GraphBuilder.concat(..., eager_copy=True)``); the GPU test is the one that keeps batch norms and eager copies
(``arch.core.tile``: mapping.aliases). Before, every concat was a free view: unet on h100 had 4 concats with no unit,
no bytes and no time. Every byte below is a hand calculation from the workload's shapes."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.ir import OpKind
from accelsim.mapping.aliases import aliases
from accelsim.options import Options

FP16 = 2  # bytes an element (unet's default dtype, fp16)

# Ronneberger et al. 2015, Fig. 1 (valid convs, 572 input): the deepest skip, down3's 512×64×64 map, cropped to the
# 56×56 of the first up-convolution's 512×56×56 output; concatenated: 1024×56×56
UP0_SKIP = 512 * 56 * 56 * FP16  # the crop's share of the skip read: 3,211,264 B
UP0_UP = 512 * 56 * 56 * FP16  # 3,211,264 B
UP0_OUT = 1024 * 56 * 56 * FP16  # 6,422,528 B written
# the last one: down0's 64×568×568 skip cropped to 392×392, beside the 64×392×392 up-convolution: 128×392×392
UP3_SKIP_WHOLE = 64 * 568 * 568 * FP16  # 41,295,872 B held (the crop is a view of it)
UP3_UP = 64 * 392 * 392 * FP16  # 19,668,992 B
UP3_OUT = 128 * 392 * 392 * FP16  # 39,337,984 B


@pytest.fixture(scope="module")
def unet():
    return build_workload("unet", {})


def _concats(graph, arch: str, **options: object):
    plans = aliases(graph, Options(**options), load_arch(arch))
    return [p for p in plans if p.op.kind is OpKind.CONCAT]


def test_the_skip_concats_are_marked_eager_copies(unet):
    cats = [op for op in unet if op.kind is OpKind.CONCAT]
    assert [op.name for op in cats] == [f"up{i}.concat" for i in range(4)]
    assert all(op.attrs.get("eager_copy") is True for op in cats)


@pytest.mark.parametrize(("arch", "works"), [("h100", True), ("a100", True), ("tpu-v4", False),
                                             ("edge-npu", False)])
def test_a_copy_on_a_gpu_preset_a_view_elsewhere(unet, arch: str, works: bool):
    cats = _concats(unet, arch)
    assert len(cats) == 4
    assert all(p.works is works for p in cats)
    if works:  # one pass over the output's elements, no arithmetic
        assert [p.op.vector_elems for p in cats] == [1024 * 56 * 56, 512 * 104 * 104, 256 * 200 * 200,
                                                     128 * 392 * 392]
        assert all(p.op.flops == 0 for p in cats)


def test_a_cuda_graph_replays_the_copy(unet):
    """options.execution: cuda_graph captures the eager kernels, cat's among them: still a copy."""
    assert all(p.works for p in _concats(unet, "h100", execution="cuda_graph"))


def test_unmarked_concats_stay_views():
    """A concat a builder does not mark (a KV cache read beside the new tokens, a chunked attention's parts: the
    producers write in place) stays a view on a GPU preset too."""
    from accelsim.builders.layers import INPUT, GraphBuilder

    b = GraphBuilder("t", (1, 8, 4, 4))
    x = b.relu(INPUT, name="a")
    b.concat([x, b.relu(INPUT, name="b")], dim=1, name="cat")
    (plan,) = _concats(b.build({}), "h100")
    assert not plan.works


@pytest.fixture(scope="module")
def unet_h100():
    return accelsim.simulate("unet", "h100", plots=False).to_dict()


def test_the_first_skip_concat_reads_its_inputs_and_writes_its_output(unet_h100):
    op = next(o for o in unet_h100["ops"] if o["name"] == "up0.concat")
    assert op["unit"] != "none" and op["end_cycle"] > op["start_cycle"]
    # every byte passes through the L2: read both inputs, write the output
    assert op["bytes"]["l2"] == UP0_SKIP + UP0_UP + UP0_OUT == 12_845_056
    last = next(o for o in unet_h100["ops"] if o["name"] == "up3.concat")
    assert last["bytes"]["l2"] == 2 * UP3_OUT  # the crop's 392² share of the skip + the up-conv = the output


def test_the_concat_output_is_a_buffer_of_its_own(unet_h100):
    """The largest working set is now up3.concat's: the whole 64×568×568 skip (its crop is a view of it), the
    up-convolution's output and the new 128×392×392 tensor."""
    assert unet_h100["memory"]["hbm"]["activations"] == UP3_SKIP_WHOLE + UP3_UP + UP3_OUT == 100_302_848


def test_training_backward_of_a_concat_is_views():
    """The gradient of torch.cat is narrow views of dY (CatBackward0: ``grad.narrow`` per input): no kernel."""
    d = accelsim.simulate("unet", "h100", mode="training", plots=False).to_dict()
    grads = [o for o in d["ops"] if o["fn"] == "concat_grad"]
    assert len(grads) == 8 and all(o["unit"] == "none" for o in grads)
    assert sum(o["kind"] == "concat" and o["unit"] != "none" for o in d["ops"]) == 4
