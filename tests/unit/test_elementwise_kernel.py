"""Eager PyTorch's elementwise ops share one GPU kernel (CUDALoops.cuh vectorized_elementwise_kernel,
accelsim/cost/vector.py TENSOR_ITERATOR_FNS; probe p69 finding 3). Every expected value is computed below from the presets'
numbers: b200 HBM 8000 GB/s x 0.9 sustained, 737 ns, 148 SMs of 2048 threads."""

from __future__ import annotations

import dataclasses

import pytest

from accelsim.builders.micro import GeluParams, gelu
from accelsim.builders.tlayers import TransformerBuilder
from accelsim.config import load_arch
from accelsim.cost import vector

B200 = load_arch("b200")
BW, LAT = 8000e9 * 0.9, 737e-9


def _unary(fn: str, elements: int):
    op = gelu(GeluParams(elements=elements, dtype="fp16")).ops[0]
    return dataclasses.replace(op, attrs={**op.attrs, "fn": fn}) if fn != "gelu" else op


def test_b200_gelu_walks_memory_as_pytorchs_add_kernel_with_one_input():
    # 4096 x 4096 fp16 gelu: 128-thread blocks of 4 elements a thread, 16,777,216 / 512 = 32,768 blocks, 16 per SM
    # (2048 // 128), 148 x 16 = 2368 a wave: 13 full waves and one of 1984, each waiting 737 ns before draining
    # what it has in flight, 128 x 4 x 1 input x 2 B = 1024 B a block (the add's 2048 B: two inputs):
    # 13 x (737 + 2368 x 1024 / BW ns) + (737 + 1984 x 1024 / BW) = 14.98 us against its 2 x 32 MiB at the
    # sustained rate, 9.32 us: 0.622 of it (it was 1: the size curve alone)
    seconds = 13 * (LAT + 2368 * 1024 / BW) + (LAT + 1984 * 1024 / BW)
    hbm = 2 * 4096 * 4096 * 2
    frac = vector.achieved_fraction(_unary("gelu", 4096 * 4096), B200, hbm, passes=1)
    assert frac == pytest.approx(hbm / BW / seconds, rel=1e-9)
    assert 0.61 < frac < 0.63


@pytest.mark.parametrize("fn", ["silu", "relu", "sigmoid", "tanh"])
def test_unary_activations_share_the_kernel(fn):
    # one gpu_kernel each: the same walk as gelu's for the same elements and bytes
    hbm = 2 * 4096 * 4096 * 2
    assert (vector.achieved_fraction(_unary(fn, 4096 * 4096), B200, hbm, 1)
            == vector.achieved_fraction(_unary("gelu", 4096 * 4096), B200, hbm, 1))


def test_composite_activations_are_not_the_kernel():
    # quick_gelu is three eager kernels (a mul, a sigmoid, a mul), a backward gradient another kernel: not modelled
    for fn in ("quick_gelu", "gelu_grad"):
        assert vector.achieved_fraction(_unary(fn, 4096), B200, 4 * 4096, 1) is None


def test_broadcast_mul_has_a_thread_per_output_element():
    # a squeeze-excite scale: (8, 256, 1, 1) x (8, 256, 56, 56) fp16 -> 6,422,528 output elements, 12,544 blocks
    # (not the first input's 2048 elements: 4 blocks); 5 full waves of 2368 and one of 704, 2 x 1024 B a block
    b = TransformerBuilder("se", {"s": (8, 256, 1, 1), "x": (8, 256, 56, 56)}, dtype="fp16")
    b.mul("s", "x", name="scale")
    op = b.build({"model": "se"}).ops[0]
    assert list(op.inputs) == ["s", "x"]
    hbm = 2 * 8 * 256 * 56 * 56 * 2 + 8 * 256 * 2
    seconds = 5 * (LAT + 2368 * 2048 / BW) + (LAT + 704 * 2048 / BW)
    assert vector.achieved_fraction(op, B200, hbm, 1) == pytest.approx(hbm / BW / seconds, rel=1e-9)
