"""ONNX convolutions and pooling windows (builders/importers.py): Conv, ConvTranspose, MaxPool, AveragePool and the
global pools, with ONNX's pads and auto_pad rules."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from ..errors import WorkloadError
from .onnxcore import ImporterCore, NotMapped


def _pads_same(size: list[int], kernel: list[int], stride: list[int], dil: list[int], upper: bool) -> list[int]:
    """ONNX auto_pad SAME_UPPER / SAME_LOWER: output ceil(in / stride) per axis, padded in total
    max((out − 1)·stride + (k − 1)·dilation + 1 − in, 0), the odd one at the end (UPPER) or the start (LOWER);
    [begin_0, begin_1, ..., end_0, end_1, ...] as ONNX's pads."""
    totals = [max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0) for n, k, s, d in zip(size, kernel, stride, dil,
                                                                                          strict=True)]
    small = [t // 2 for t in totals]
    big = [t - t // 2 for t in totals]
    return small + big if upper else big + small


class ConvOps(ImporterCore):
    """Conv, ConvTranspose and pooling nodes."""

    HANDLES: ClassVar[dict[str, str]] = {  # op type → the method that imports it
        "Conv": "_conv", "ConvTranspose": "_conv_transpose", "MaxPool": "_pool", "AveragePool": "_pool",
        "GlobalAveragePool": "_global_pool", "GlobalMaxPool": "_global_pool",
    }

    def _auto_pad(self) -> str:
        return self._str("auto_pad", "NOTSET")

    def _pads(self, dims: int) -> list[int] | str:
        auto = self._auto_pad()
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            return "same"
        if auto == "VALID":
            return [0] * dims
        pads = self._ints("pads", [0] * 2 * dims, 2 * dims)
        if any(p < 0 for p in pads):
            raise WorkloadError(f"{self._node()}: pads {pads} must be >= 0")
        return pads[:dims] if pads[:dims] == pads[dims:] else pads  # asymmetric: all 2·dims (:meth:`_asymmetric`)

    def _asymmetric(self, x: str, pads: list[int], kernel: list[int], stride: list[int], dil: list[int],
                    ceil: bool | None = None) -> tuple[str, list[int]]:
        """Explicit asymmetric ONNX ``pads`` (begins, ends; tf2onnx's "SAME" convs and pools): the input (perhaps
        viewed one element longer on an axis) and the symmetric padding per axis that give the builder the output
        size ONNX's formula gives, floor((in + begin + end − span) / stride) + 1 (ceil with a pool's ceil_mode),
        as shape inference sized it. Per axis the first of: half the total t rounded down, rounded up, or rounded
        down over an input viewed one longer (a free ``pad`` view standing for the odd zero row, as the kernel
        reads padding it never stores). The array cost is then the conv's over that output (m = N·∏ out)."""
        from .layers import conv_out_size, pool_out_size

        dims, shape = len(kernel), self.b.shape(x)
        target = self._out_shape()[2:]
        grow, sym = [], []
        for i in range(dims):
            t = pads[i] + pads[dims + i]
            for extra, p in ((0, t // 2), (0, -(-t // 2)), (1, t // 2)):
                n = shape[2 + i] + extra
                got = conv_out_size(n, kernel[i], stride[i], 2 * p, dil[i]) if ceil is None else \
                    pool_out_size(n, kernel[i], stride[i], p, dil[i], ceil)
                if got == target[i]:
                    break
            else:
                raise NotMapped(f"pads {pads} give output {list(target)}, which no symmetric padding of accelsim's "
                                f"{self.node.op_type.lower()} matches")
            grow.append(extra)
            sym.append(p)
        if any(grow):
            x = self.b.view(x, (*shape[:2], *(n + e for n, e in zip(shape[2:], grow, strict=True))), "pad",
                            name=self._extra_name(f"{self.op_name}_pad"), strict=False, pads=tuple(pads))
        return x, sym

    def _same(self, x: str, kernel: list[int], stride: list[int], dil: list[int]) -> tuple[list[int], list[int]]:
        """auto_pad SAME_*: the ONNX pads (:func:`_pads_same`) and a symmetric padding per axis that gives the
        builder the same output size, ceil(in / stride): the half of an even total, or the larger half of an odd
        one with stride > 1 (``floor((in + t + 1 − span) / s) + 1`` is then still ceil(in / s)). An odd total with
        stride 1 (an even kernel) only the conv's padding="same" maps, when every stride is 1."""
        size = list(self.b.shape(x)[2:])
        pads = _pads_same(size, kernel, stride, dil, self._auto_pad() == "SAME_UPPER")
        dims = len(kernel)
        totals = [pads[i] + pads[dims + i] for i in range(dims)]
        if any(t % 2 and s == 1 for t, s in zip(totals, stride, strict=True)):
            raise NotMapped(f"auto_pad {self._auto_pad()} pads {pads} unevenly on a stride-1 axis, which accelsim "
                            f"maps only for a Conv with every stride 1")
        return pads, [-(-t // 2) for t in totals]

    def _set_pads(self, pads: list[int]) -> None:
        """Record the ONNX pads (begins, ends) on the last op as the builders do: ``pads`` per axis (begin, end)
        and ``padding`` the begins."""
        op, dims = self.b._ops[-1], len(pads) // 2
        per_axis = tuple(v for i in range(dims) for v in (pads[i], pads[dims + i]))
        attrs = {**op.attrs, "padding": tuple(pads[:dims])}
        if "pads" in op.attrs:
            attrs["pads"] = per_axis
        self.b._ops[-1] = dataclasses.replace(op, attrs=attrs)

    def _conv(self) -> str:
        x, w = self._in(0), self._operand_shape(1)
        self._check_conv_rank(w)
        dims = len(w) - 2
        kernel = self._ints("kernel_shape", w[2:], dims)
        stride = self._ints("strides", [1] * dims, dims)
        dil = self._ints("dilations", [1] * dims, dims)
        bias = len(self.node.input) > 2 and bool(self.node.input[2])
        groups = self._int("group", 1)
        self._check_conv_weights(w, kernel, groups, w[1] * groups, w[0])
        pads = self._pads(dims)
        onnx_pads = None
        if isinstance(pads, list) and len(pads) == 2 * dims:
            onnx_pads = pads
            x, pads = self._asymmetric(x, pads, kernel, stride, dil)
        elif pads == "same" and any(s != 1 for s in stride):
            onnx_pads, pads = self._same(x, kernel, stride, dil)
        elif pads == "same":
            onnx_pads = _pads_same(list(self.b.shape(x)[2:]), kernel, stride, dil, self._auto_pad() == "SAME_UPPER")
        if dims == 2 and pads != "same":
            out = self.b.conv2d(x, w[0], tuple(kernel), tuple(stride), tuple(pads), tuple(dil), groups, bias,
                                name=self.op_name)
        else:
            out = self.b.conv_nd(x, dims, w[0], kernel, stride, pads, dil, groups, bias, name=self.op_name)
        if onnx_pads is not None:
            self._set_pads(onnx_pads)
        self._set_operands(list(self.node.input[1:]))
        return out

    def _check_conv_rank(self, w: tuple[int, ...]) -> None:
        """A conv weight has the input's rank, at least 3 (one kernel axis per spatial axis)."""
        x = self.b.shape(self._in(0))
        if len(w) != len(x) or len(w) < 3:
            raise WorkloadError(f"{self._node()}: weight {self.node.input[1]!r} {list(w)} does not fit input "
                                f"{list(x)} (one kernel axis per spatial axis)")

    def _check_conv_weights(self, w: tuple[int, ...], kernel: list[int], groups: int, cin: int, cout: int) -> None:
        """A (transposed) conv's weight fits its input and attributes (the ONNX spec: W (M, C/group, k…) for Conv,
        (C, M/group, k…) for ConvTranspose, B (M,)): the input's rank and channels ``cin``, kernel_shape, and the
        bias's ``cout`` elements (the rank: :meth:`_check_conv_rank`); else a one-line error naming the node."""
        x = self.b.shape(self._in(0))
        if groups < 1:
            raise WorkloadError(f"{self._node()}: group must be >= 1 (got {groups})")
        if x[1] != cin:
            raise WorkloadError(f"{self._node()}: input {list(x)} has {x[1]} channels; weight "
                                f"{self.node.input[1]!r} {list(w)} with group {groups} takes {cin}")
        if list(w[2:]) != kernel:
            raise WorkloadError(f"{self._node()}: kernel_shape {kernel} differs from weight {self.node.input[1]!r}'s "
                                f"{list(w[2:])}")
        if len(self.node.input) > 2 and self.node.input[2] and tuple(self._operand_shape(2)) != (cout,):
            raise WorkloadError(f"{self._node()}: bias {self.node.input[2]!r} is {list(self._operand_shape(2))}; "
                                f"the {cout} output channels need [{cout}]")

    def _conv_transpose(self) -> str:
        """ONNX ConvTranspose (2-D and 3-D; https://onnx.ai/onnx/operators/onnx__ConvTranspose.html): the output
        per axis is ``full − pads[begin] − pads[end]``, full = stride·(in − 1) + output_padding + (k − 1)·dilation + 1. With
        ``output_shape``, or auto_pad SAME_UPPER / SAME_LOWER (output in · stride), the total padding is full − that
        output, split in halves with the odd one at the end (SAME_UPPER) or else at the beginning. The builder's
        conv_transpose2d / conv_transpose3d take a symmetric padding p and an output padding q per axis:
        p = ceil(t / 2), q = 2p − t for t = total − output_padding ≥ 0 (p = 0, q = −t below 0) give the same output
        size; its MACs do not depend on the padding (every input position meets the whole kernel). The file's pads
        are recorded on the op. A 1-D ConvTranspose is not mapped."""
        x, w = self._in(0), self._operand_shape(1)
        if len(w) not in (4, 5):
            raise NotMapped("only 2-D and 3-D ConvTranspose are mapped")
        self._check_conv_rank(w)
        dims = len(w) - 2
        groups = self._int("group", 1)
        kernel, stride = self._ints("kernel_shape", w[2:], dims), self._ints("strides", [1] * dims, dims)
        self._check_conv_weights(w, kernel, groups, w[0], w[1] * groups)
        dil, out_pad = self._ints("dilations", [1] * dims, dims), self._ints("output_padding", [0] * dims, dims)
        size, auto = self.b.shape(x)[2:], self._auto_pad()
        full = [s * (n - 1) + op + (k - 1) * d + 1 for n, k, s, d, op in zip(size, kernel, stride, dil, out_pad,
                                                                           strict=True)]
        target = None
        if self._attr("output_shape") is not None:
            target = self._ints("output_shape", None, dims)
        elif auto in ("SAME_UPPER", "SAME_LOWER"):
            target = [n * s for n, s in zip(size, stride, strict=True)]
        if target is not None:
            totals = [f - t for f, t in zip(full, target, strict=True)]
            if any(t < 0 for t in totals):
                raise WorkloadError(f"{self._node()}: output {target} is larger than the full transposed "
                                    f"convolution's {full} (negative padding)")
            upper = auto == "SAME_UPPER"
            pads = [t // 2 if upper else t - t // 2 for t in totals] + [t - t // 2 if upper else t // 2
                                                                        for t in totals]
        else:
            pads = [0] * 2 * dims if auto == "VALID" else self._ints("pads", [0] * 2 * dims, 2 * dims)
            if any(p < 0 for p in pads):
                raise WorkloadError(f"{self._node()}: pads {pads} must be >= 0")
        sym, extra = [], []
        for i in range(dims):
            t = pads[i] + pads[dims + i] - out_pad[i]
            p = max(-(-t // 2), 0)
            sym.append(p)
            extra.append(2 * p - t)
            if extra[-1] >= max(stride[i], dil[i]):
                raise NotMapped(f"pads {pads} with output_padding {out_pad} on a stride-{stride[i]}, dilation-"
                                f"{dil[i]} axis give an output accelsim's symmetric transposed conv cannot match")
        bias = len(self.node.input) > 2 and bool(self.node.input[2])
        if dims == 2:
            out = self.b.conv_transpose2d(x, w[1] * groups, tuple(kernel), tuple(stride), tuple(sym), tuple(extra),
                                          tuple(dil), groups, bias, name=self.op_name)
        else:
            out = self.b.conv_transpose3d(x, w[1] * groups, kernel, stride, sym, extra, dil, groups, bias,
                                          name=self.op_name)
        self._set_pads(pads)
        op = self.b._ops[-1]
        self.b._ops[-1] = dataclasses.replace(op, attrs={**op.attrs, "output_padding": tuple(out_pad)})
        self._set_operands(list(self.node.input[1:]))
        return out

    def _pool(self) -> str:
        x = self._in(0)
        kernel = self._ints("kernel_shape")  # required by the ONNX spec
        dims = len(kernel)
        fn = "max" if self.node.op_type == "MaxPool" else "avg"
        stride = self._ints("strides", [1] * dims, dims)
        pads, ceil = self._pads(dims), bool(self._int("ceil_mode", 0))
        dil = self._ints("dilations", [1] * dims, dims)
        onnx_pads = None
        if isinstance(pads, list) and len(pads) == 2 * dims:
            onnx_pads = pads
            x, pads = self._asymmetric(x, pads, kernel, stride, dil, ceil)
        elif pads == "same":
            onnx_pads, pads = self._same(x, kernel, stride, dil)
            ceil = False  # the SAME output size is already ceil(in / stride)
        if dims == 2 and dil == [1, 1]:
            pool = self.b.maxpool2d if fn == "max" else self.b.avgpool2d
            out = pool(x, tuple(kernel), tuple(stride), tuple(pads), ceil_mode=ceil, name=self.op_name)
        else:
            out = self.b.pool_nd(x, dims, fn, kernel, stride, pads, dil, ceil, name=self.op_name)
        if onnx_pads is not None:
            self._set_pads(onnx_pads)
        return out

    def _global_pool(self) -> str:
        fn = "max" if self.node.op_type == "GlobalMaxPool" else "avg"
        return self.b.adaptive_pool(self._in(0), fn, 1, name=self.op_name)
