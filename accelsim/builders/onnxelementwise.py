"""ONNX element-wise nodes (builders/importers.py): activations, arithmetic, comparisons and logical ops, Pow, Clip,
Where and the copies (Cast, Pad), each the builders' op with their FLOPs per element."""

from __future__ import annotations

import math
from typing import ClassVar

from ..errors import WorkloadError
from ..ir import OpKind, Weight
from ..units import ONNX_DTYPES
from .gnn import ELU_FLOPS, LEAKY_RELU_FLOPS
from .layers import broadcast_shapes
from .onnxcore import ImporterCore
from .tlayers import ERF_FLOPS, GELU_ERF_FLOPS

_UNARY_FLOPS: dict[str, tuple[str, int]] = {
    # op type → (fn, FLOPs per element), the builders' counts (builders/layers.py, tlayers.py ACT_FLOPS, gnn.py):
    # a transcendental (exp, erf, sqrt) is one FLOP, as the softmax's exp (tlayers.SOFTMAX_FLOPS) and the
    # sigmoid's (layers.sigmoid: 4 = negate, exp, add, divide) count it; softplus log(1 + exp(x)) an exp and a
    # log1p, 2, as builders/ssm.py counts it in Mamba-2's and Gated DeltaNet's gates
    "HardSigmoid": ("hardsigmoid", 2), "HardSwish": ("hardswish", 3), "LeakyRelu": ("leaky_relu", LEAKY_RELU_FLOPS),
    "Elu": ("elu", ELU_FLOPS), "Softplus": ("softplus", 2), "Erf": ("erf", ERF_FLOPS), "Exp": ("exp", 1),
    "Sqrt": ("sqrt", 1), "Neg": ("neg", 1), "Reciprocal": ("reciprocal", 1),
    # log, sin, cos a transcendental each (1, as exp); abs, floor, ceil, round, sign one pass each (1); softsign
    # x / (1 + |x|) an abs, an add and a divide (3); selu scale · elu(x) elu's 3 and the scale's multiply (4); mish
    # x · tanh(softplus(x)) softplus's 2, a tanh and a multiply (4)
    "Log": ("log", 1), "Sin": ("sin", 1), "Cos": ("cos", 1), "Abs": ("abs", 1), "Floor": ("floor", 1),
    "Ceil": ("ceil", 1), "Round": ("round", 1), "Sign": ("sign", 1), "Softsign": ("softsign", 3),
    "Selu": ("selu", ELU_FLOPS + 1), "Mish": ("mish", 4),
}
_BOOL_FNS: dict[str, str] = {
    # op type → fn of the comparisons and logical ops: 1 flop (a compare or a logical op) per output element,
    # the output a bool (ONNX BOOL, a byte as torch stores it: units.ONNX_DTYPES)
    "Equal": "equal", "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal",
    "GreaterOrEqual": "greater_equal", "And": "and", "Or": "or", "Xor": "xor", "Not": "not", "IsNaN": "isnan",
    "IsInf": "isinf",
}
_NARY_FLOPS: dict[str, tuple[str, int | None]] = {
    # op type → (fn, FLOPs per output element; None: one per operand after the first): Sum n − 1 adds, Mean
    # n − 1 adds and a divide (n), Mod x − trunc(x / y) · y a divide, a multiply and a subtract (3)
    "Sum": ("add", None), "Mean": ("mean", None), "Mod": ("mod", 3),
}
_BOOL_TYPE = 9  # ONNX TensorProto.BOOL


class ElementwiseOps(ImporterCore):
    """Element-wise nodes."""

    HANDLES: ClassVar[dict[str, str]] = {  # op type → the method that imports it
        "Add": "_binary", "Mul": "_binary", "Sub": "_binary", "Div": "_binary", "Max": "_binary", "Min": "_binary",
        "Relu": "_unary", "Sigmoid": "_unary", "Tanh": "_unary", "Gelu": "_unary", "Pow": "_pow", "Clip": "_clip",
        "Where": "_where", "Cast": "_copy", "Pad": "_copy", **dict.fromkeys(_UNARY_FLOPS, "_unary"),
        **dict.fromkeys(_BOOL_FNS, "_logical"), **dict.fromkeys(_NARY_FLOPS, "_nary"), "PRelu": "_prelu",
    }

    def _broadcast(self) -> tuple[int, ...]:
        """The output shape of the current broadcasting node (Add, Mul, Sub, Div, Max, Min, Sum, Mean, Mod, Where,
        the comparisons and logical ops): numpy's broadcast of its operands' shapes, each activation's as imported
        and each initializer's or Constant's as stored (one of one element broadcasts to the others': x · 0.5 has
        x's shape), whatever the file declares for the output, as the builders' add and add_param take theirs (a
        graph output declared 0-d leaves x · 0.5 of a (4, 16) x at (4, 16), 64 FLOPs); operands that do not
        broadcast are a one-line error naming the node."""
        out: tuple[int, ...] = ()
        shapes = []
        for i, name in enumerate(self.node.input):
            if not name:
                continue
            shapes.append(self.inits[name] if self._is_init(name) else self.b.shape(self._in(i)))
            joined = broadcast_shapes(out, shapes[-1])
            if joined is None:
                raise WorkloadError(f"{self._node()}: its operands' shapes {', '.join(str(list(s)) for s in shapes)} "
                                    f"do not broadcast")
            out = joined
        return out

    def _binary(self) -> str | None:
        """Add, Mul, Sub, Div (two operands, broadcast) and Max, Min (one or more): ELEMENTWISE fn "add", "mul",
        "sub", "div", "max", "min", 1 flop per output element and operand after the first (the builders' add and
        mul); an initializer operand is the op's parameter (the builders' add_param: a bias, a scale), except one
        of one element, a constant the op reads as no input (:meth:`_one_element`: eps, 1/√d, 0.5). A Max / Min
        of one operand is that operand; of constants only, a constant (:meth:`_constant_of`, one of one element
        among them a constant too)."""
        fn, names = self.node.op_type.lower(), [n for n in self.node.input if n]
        acts = [i for i, n in enumerate(self.node.input) if n and not self._is_init(n)]
        if not acts:
            return self._constant_of(scalars=True)
        consts = [n for n in names if self._is_init(n)]
        if len(names) == 1:
            return self._in(acts[0])
        if len(names) == 2 and consts:
            x = self._in(acts[0])
            if self._one_element(consts[0]):  # x + eps, x / √d, x · 0.5: a constant, no parameter
                return self.b.vector(OpKind.ELEMENTWISE, [x], self._broadcast(), fn, 1, name=self.op_name)
            return self.b.add_param(x, Weight(self._weight(consts[0]), self.inits[consts[0]]), fn=fn,
                                    name=self.op_name)
        if len(names) == 2:
            return self.b._binary(self._in(0), self._in(1), fn, self.op_name)
        weights = list({self._weight(n): Weight(self._weight(n), self.inits[n]) for n in consts
                        if not self._one_element(n)}.values())
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(i) for i in acts], self._broadcast(), fn, len(names) - 1,
                             name=self.op_name, weights=weights)

    def _pow(self) -> str:
        """Pow(x, y): y a constant 2 (torch's ``x.pow(2)`` or ``x ** 2``, as a spelled-out LayerNorm's variance)
        ELEMENTWISE fn "square", 1 flop per element (a multiply); a constant integer n from 3 to 64 (the tanh-GELU's
        x³) fn "ipow", its square-and-multiply count of multiplies per element (bit length + set bits − 2: x³ 2, x⁴
        2), vector_elems = those multiplies; any other y fn "pow", 3 flops (exp(y · log x):
        a log, a multiply, an exp, each one FLOP as :data:`_UNARY_FLOPS` counts a transcendental). A constant
        exponent is no parameter (:data:`_NOT_PARAMS`) and is not read; one that is an activation is read."""
        x, y = self._in(0), self.node.input[1]
        value = self._value(y) if self._is_init(y) else None
        n = float(value.reshape(-1)[0]) if value is not None and value.size == 1 else 0.0
        inputs = [x] if self._is_init(y) else [x, self._in(1)]
        if n == 2.0:
            return self.b.vector(OpKind.ELEMENTWISE, inputs, self._out_shape(), "square", 1, name=self.op_name)
        if n.is_integer() and 3 <= n <= 64:  # square-and-multiply: x³ = x²·x 2, x⁴ = (x²)² 2, x⁵ 3, ...
            muls, out = int(n).bit_length() + int(n).bit_count() - 2, self._out_shape()
            elems = muls * math.prod(out)
            return self.b._add(self.b._name(self.op_name, "ipow"), OpKind.ELEMENTWISE, inputs, out, flops=elems,
                               vector_elems=elems, fn="ipow", exponent=int(n))
        return self.b.vector(OpKind.ELEMENTWISE, inputs, self._out_shape(), "pow", 3, name=self.op_name)

    def _clip(self) -> str | None:
        """Clip(x, min, max) (bounds as inputs from opset 11, attributes before): min 0 and max 6 is the builders'
        relu6 (ACTIVATION fn "relu6", 1 flop per element: torch.onnx exports ReLU6 so), min 0 without max their
        relu, any other clamp ACTIVATION fn "clamp", 1 flop per element (a clamp, as relu6), no bound an alias of
        x. A bound that is an activation is one more input the clamp reads."""
        x = self._in(0)
        bounds: list[float | None] = [None, None]
        reads: list[str] = []
        for k, key in enumerate(("min", "max")):
            if 0 < self.opset < 11:
                bounds[k] = None if self._attr(key) is None else self._float(key, 0.0)
                continue
            name = self.node.input[k + 1] if len(self.node.input) > k + 1 else ""
            if name and self._is_init(name):
                bounds[k] = self._scalar(name)
            elif name:
                reads.append(self._in(k + 1))
        lo, hi = bounds
        if lo is None and hi is None and not reads:
            return x
        if not reads and lo == 0 and hi == 6:
            return self.b.relu6(x, name=self.op_name)
        if not reads and lo == 0 and (hi is None or hi == math.inf):
            return self.b.relu(x, name=self.op_name)
        return self.b.vector(OpKind.ACTIVATION, [x, *reads], self._out_shape(), "clamp", 1, name=self.op_name)

    def _unary(self) -> str | None:
        """A one-operand activation (:data:`_UNARY_FLOPS`: ACTIVATION fn and FLOPs per element; Relu, Sigmoid, Tanh,
        Gelu the builders' own, but Gelu's default ``approximate="none"``, the erf form, counts what its five-node
        erf spelling counts, :data:`~accelsim.builders.tlayers.GELU_ERF_FLOPS`); of a constant that holds no
        parameters, a constant (:meth:`_constant_of`)."""
        if self._is_init(self.node.input[0]):
            return self._constant_of()
        if self.node.op_type == "Gelu" and self._str("approximate", "none") != "tanh":
            return self.b._unary(self._in(0), "gelu", GELU_ERF_FLOPS, self.op_name)
        if self.node.op_type in _UNARY_FLOPS:
            fn, flops = _UNARY_FLOPS[self.node.op_type]
            return self.b._unary(self._in(0), fn, flops, self.op_name)
        fn = self.node.op_type.lower()
        x = self._in(0)
        if fn in ("relu", "sigmoid"):
            return getattr(self.b, fn)(x, name=self.op_name)
        return self.b.activation(x, fn, name=self.op_name)

    def _operands(self) -> tuple[list[str], list[Weight]] | None:
        """The current node's activation operands (their ops) and its initializer operands as weights (those that
        are no parameters :meth:`_drop_non_params` drops after; one of one element is a constant, no weight:
        :meth:`_one_element`); None where every operand is a constant."""
        names = list(self.node.input)
        acts = [self._in(i) for i, n in enumerate(names) if n and not self._is_init(n)]
        if not acts:
            return None
        weights = {self._weight(n): Weight(self._weight(n), self.inits[n]) for n in names
                   if n and self._is_init(n) and not self._one_element(n)}
        return acts, list(weights.values())

    def _logical(self) -> str | None:
        """A comparison (Equal, Less, Greater, LessOrEqual, GreaterOrEqual), a logical op (And, Or, Xor, Not) or
        IsNaN / IsInf: ELEMENTWISE fn :data:`_BOOL_FNS`, 1 flop per output element, its output a bool
        (``out_dtype`` the BOOL width: 1 byte, so its readers read a byte per element, as a Cast to bool's); an
        initializer operand is the op's parameter as an Add's is (an int64 or bool one is none). Of constants only,
        a constant."""
        operands = self._operands()
        if operands is None:
            return self._constant_of()
        acts, weights = operands
        return self.b.vector(OpKind.ELEMENTWISE, acts, self._broadcast(), _BOOL_FNS[self.node.op_type], 1,
                             name=self.op_name, weights=weights, out_dtype=ONNX_DTYPES[_BOOL_TYPE])

    def _nary(self) -> str | None:
        """Sum, Mean (one or more operands, broadcast) and Mod: ELEMENTWISE fn "add", "mean", "mod" with
        :data:`_NARY_FLOPS` FLOPs per output element (Sum n − 1, Mean n, Mod 3); an initializer operand is the op's
        parameter. A Sum or Mean of one operand is that operand; of constants only, a constant."""
        operands = self._operands()
        if operands is None:
            return self._constant_of()
        acts, weights = operands
        count = sum(1 for n in self.node.input if n)
        if count == 1:
            return acts[0]
        fn, per = _NARY_FLOPS[self.node.op_type]
        per = per if per is not None else count - 1 if fn == "add" else count
        return self.b.vector(OpKind.ELEMENTWISE, acts, self._broadcast(), fn, per, name=self.op_name,
                             weights=weights)

    def _prelu(self) -> str:
        """PRelu(x, slope): ACTIVATION fn "prelu", a compare and a multiply per element (2, as LeakyRelu's
        :data:`~.gnn.LEAKY_RELU_FLOPS`); a slope initializer (torch's nn.PReLU weight, one per channel or one in
        all) is the op's parameter, a slope that is an activation one more input it reads."""
        x, slope = self._in(0), self.node.input[1]
        inputs, weights = [x], []
        if self._is_init(slope):
            weights.append(Weight(self._weight(slope), self.inits[slope]))
        else:
            inputs.append(self._in(1))
        return self.b.vector(OpKind.ACTIVATION, inputs, self._out_shape(), "prelu", LEAKY_RELU_FLOPS,
                             name=self.op_name, weights=weights)

    def _where(self) -> str | None:
        """Where(condition, X, Y): ELEMENTWISE fn "where", 1 flop per output element (a select, as the builders'
        masking counts GPT-2's ``torch.where``: tlayers.MASK_FLOPS), reading its activation operands; a float
        X or Y initializer is its parameter (as an Add's), the condition never (:data:`_NOT_PARAMS`), nor one of one
        element (a mask's fill value: :meth:`_one_element`). All three constants: a constant."""
        names = list(self.node.input)
        acts = [i for i, n in enumerate(names) if not self._is_init(n)]
        if not acts:
            return self._constant_of()
        weights = list({self._weight(n): Weight(self._weight(n), self.inits[n]) for i, n in enumerate(names)
                        if i not in acts and self._is_param(i) and not self._one_element(n)}.values())
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(i) for i in acts], self._broadcast(), "where", 1,
                             name=self.op_name, weights=weights)

    def _copy(self) -> str | None:
        """Cast and Pad: a copy of the input into a new tensor, ELEMENTWISE fn "cast" or "pad", 0 flops,
        vector_elems = output elements, as the builders' upsample_nearest copy. A Cast writes its ``to`` type's
        width (``out_dtype``, :data:`ONNX_DTYPES`: fp16 2 bytes, int8 1, ...), so its readers read that many
        bytes, except a cast to the model's own float type (:func:`_model_float`), which writes the workload's
        dtype as every float tensor of an imported model, and to a type of no accelsim dtype (int64, string),
        likewise. Of an initializer, a constant (:meth:`_constant_of`: a Cast of a shape)."""
        if self._is_init(self.node.input[0]):
            return self._constant_of()
        fn = self.node.op_type.lower()
        to = self._int("to") if fn == "cast" else self.model_float
        extra = {"out_dtype": ONNX_DTYPES[to]} if to != self.model_float and to in ONNX_DTYPES else {}
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), fn, 0, name=self.op_name,
                             **extra)
