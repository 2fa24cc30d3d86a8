"""Import a PyTorch module (optional extra ``accelsim[torch]``): ``torch.fx`` traces it, each node becomes the
builder layer it is.

:func:`from_torch` traces ``module`` with ``torch.fx.symbolic_trace`` (``torch`` is imported inside the
function), propagates the example inputs' shapes (``ShapeProp``; pass meta tensors and a module on the meta
device to allocate nothing) and appends one op per node with the builders' counting conventions, so an imported
torchvision-style ResNet-18 has the params, MACs and simulated cycles of the built-in ``resnet18``. Module calls
are named by their module path (``layer1.0.conv1``; a module called again gets the node's name) and their
parameters as ``named_parameters`` lists them, with their own shapes: a parameter shared by several modules (tied
embedding and LM head) has its first name everywhere, so it is counted once (as torch's ``parameters()``) and its
MACs at each use; a norm without an affine weight or bias has none. Parameters and buffers read directly in
``forward`` (``get_attr`` nodes: ``x @ self.w``, ``x + self.bias``) are mapped where an add, mul or matmul reads
them: a parameter is that op's weight (counted), a buffer a constant operand (not a parameter). A module that fails
to trace or to run on the example inputs is a one-line error. Mapped:

* modules: Conv1d/2d/3d, ConvTranspose2d/3d, Linear, BatchNorm1d/2d/3d, LayerNorm, RMSNorm, ReLU, ReLU6, Sigmoid,
  Tanh, GELU, SiLU, Hardswish, Hardsigmoid, MaxPool1d/2d/3d, AvgPool2d/3d, AdaptiveAvgPool1d/2d/3d,
  AdaptiveMaxPool1d, Softmax (last dim), Embedding, LSTM, GRU, RNN (their output sequence: ``[0]`` of the
  tuple), MultiheadAttention (its ``[0]``), Flatten, Dropout, Identity;
* functions and methods: ``+``/``torch.add``, ``*``/``torch.mul``, ``torch.cat``, ``torch.flatten``,
  ``torch.matmul``/``@``/``torch.bmm`` (numpy's rules, 1-D operands included), ``F.relu``/``gelu``/``silu``/``sigmoid``/``tanh``/``softmax`` (last dim),
  and the views ``view``, ``reshape``, ``flatten``, ``permute``, ``transpose``, ``contiguous``, ``squeeze``,
  ``unsqueeze``, ``size`` (no op).

Anything else is a one-line :class:`~accelsim.errors.WorkloadError` listing every unmapped kind of node (the module
type, function, method or unmapped variant such as a softmax over another dim) with its count and first node; with
``unsupported="elementwise"`` each such node is priced as generic element-wise work over its output (1 flop per
element, one ELEMENTWISE op ``torch_<target>``) and the graph's ``notes`` list them, as the ONNX importer does. The
``torch``
workload (``--workload torch --set workload.factory=package.module:function``, the function returning
``(module, example_inputs)``) builds it; its ``batch`` multiplies each example input's batch axis, the one a module
reading it fixes or ``batch_dim`` names, never guessed (:func:`_input_axes`, :func:`_batched`), and its
``workload.batch`` is that axis's size (:func:`_batch_meta`).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import operator
import os
import re
import sys
from collections.abc import Callable
from typing import Literal

from pydantic import Field, StrictInt, field_validator

from ..errors import WorkloadError
from ..ir import Graph, OpKind, Weight
from .importers import matmul_gemm, set_weights
from .layers import broadcast_shapes
from .manual import LayerListBuilder
from .params import WorkloadParams

FACTORY_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$"
"""A torch factory spec: a dotted module path, a colon, a function name."""
_VIEW_METHODS = ("view", "reshape", "flatten", "permute", "transpose", "contiguous", "squeeze", "unsqueeze")
_ACTS = {"relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "tanh": "tanh", "gelu": "gelu", "silu": "silu",
         "hardswish": "hardswish", "hardsigmoid": "hardsigmoid"}


class TorchParams(WorkloadParams):
    """A PyTorch module from a factory function."""

    factory: str = Field(description="'package.module:function' returning (module, example_inputs), imported with "
                                     "the current folder on the module path (the CLI's --workload "
                                     "torch:package.module:function); needs the optional extra: pip install "
                                     "accelsim[torch].")
    batch_dim: StrictInt | list[StrictInt | None] | None = Field(
        None, description="The example inputs' batch axis, where no module reading an input directly fixes it (a "
                          "conv, pool or batch norm: dim 0; an LSTM, GRU, RNN or MultiheadAttention: dim 1, or 0 "
                          "with batch_first): an int for every input, or a list with one entry per example input "
                          "(null: that input has no batch axis). Unset, such an input's batch axis is not guessed: "
                          "batch other than 1 is an error, and workload.batch is 1.")
    unsupported: Literal["error", "elementwise"] = Field(
        "error", description="Nodes accelsim does not map: 'error' refuses the module, listing every such kind of "
                             "node; 'elementwise' prices each as element-wise work over its output (1 flop per "
                             "output element) and lists them in the report's notes.")

    @field_validator("factory")
    @classmethod
    def _spec(cls, v: str) -> str:
        if not re.match(FACTORY_PATTERN, v):
            raise ValueError("expected a factory 'package.module:function' (a dotted module path, a colon, the name "
                             "of a function returning (module, example_inputs))")
        return v

    @field_validator("batch_dim")
    @classmethod
    def _axes(cls, v: int | list[int | None] | None) -> int | list[int | None] | None:
        if any(isinstance(d, int) and d < 0 for d in (v if isinstance(v, list) else [v])):
            raise ValueError("expected a dim of the example inputs, 0 or more")
        return v

    def run_name(self) -> str:
        """The factory function's name, as ``--workload torch:package.module:function`` names a run (the module's
        class, the graph's name, is known only once the factory has run)."""
        return self.factory.rpartition(":")[2]


def _load_factory(spec: str) -> Callable:
    """The function ``spec`` ('package.module:function') names, imported with the current folder on sys.path."""
    mod_name, _, fn_name = spec.partition(":")
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        factory = getattr(importlib.import_module(mod_name), fn_name)
    except Exception as e:  # ImportError, AttributeError, or whatever the module raises at import
        raise WorkloadError(f"torch factory {spec!r}: cannot import it ({type(e).__name__}: {e})") from None
    finally:
        if added:
            sys.path.remove(os.getcwd())
    if not callable(factory):
        raise WorkloadError(f"torch factory {spec!r}: {fn_name} is a {type(factory).__name__}, not a function")
    return factory


def torch_workload(p: TorchParams) -> Graph:
    """The ``torch`` workload: :func:`from_torch` of what ``p.factory`` returns."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise WorkloadError(f"torch factory {p.factory!r}: importing PyTorch modules needs the optional extra: "
                            f"pip install 'accelsim[torch]'") from None
    factory = _load_factory(p.factory)
    try:
        made = factory()
    except Exception as e:
        raise WorkloadError(f"torch factory {p.factory!r} raised {type(e).__name__}: {e}") from None
    if not (isinstance(made, (tuple, list)) and len(made) == 2):
        raise WorkloadError(f"torch factory {p.factory!r}: expected it to return (module, example_inputs), got "
                            f"a {type(made).__name__}")
    module, example_inputs = made
    try:
        return from_torch(module, example_inputs, dtype=p.dtype or "fp16", unsupported=p.unsupported, batch=p.batch,
                          batch_dim=p.batch_dim)
    except WorkloadError as e:
        if e.key in (("batch",), ("batch_dim",)):  # name the factory, as its other errors do
            raise WorkloadError(f"torch factory {p.factory!r}: {e.args[0]}", key=e.key) from None
        raise


def from_torch(module: object, example_inputs: object, *, dtype: str = "fp16", name: str | None = None,
               unsupported: str = "error", batch: int = 1, batch_dim: int | list[int | None] | None = None) -> Graph:
    """The op graph of ``module`` called on ``example_inputs`` (a tensor or a tuple of them); ``unsupported`` is
    "error" or "elementwise" (:class:`TorchParams`); ``batch`` multiplies each example input's batch axis, the one
    a module reading it fixes or ``batch_dim`` names (:func:`_input_axes`; the builders' ``batch``, as a layer
    list's multiplies its input's N), and the graph's ``meta["batch"]`` is that axis's size (:func:`_batch_meta`);
    see the module docstring."""
    if unsupported not in ("error", "elementwise"):
        raise WorkloadError(f"unsupported: expected 'error' or 'elementwise' (got {unsupported!r})")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise WorkloadError(f"batch: expected a positive int (got {batch!r})", key=("batch",))
    try:
        import torch
        from torch.fx.passes.shape_prop import ShapeProp
    except ImportError:
        raise WorkloadError("importing PyTorch modules needs the optional extra: pip install 'accelsim[torch]'") \
            from None
    inputs = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    what = type(module).__name__
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as e:  # fx raises TraceError and others on data-dependent control flow
        raise WorkloadError(f"torch.fx cannot trace {what} ({_one_line(e)})") from None
    axes = _input_axes(gm, inputs, batch_dim)
    if batch != 1:
        inputs = _batched(gm, inputs, batch, axes)
    try:  # ShapeProp prints the traceback of a failing node to stderr before raising: kept out of the CLI's
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(*inputs)
    except Exception as e:  # the forward fails on the example inputs: ShapeProp wraps the error in a RuntimeError
        node = re.search(r"node=%(\S+)", str(e))
        at = f" at node {node.group(1)!r}" if node else ""
        scaled = f" (their batch axis × batch {batch}: a size written into the forward?)" if batch != 1 else ""
        raise WorkloadError(f"{what} fails on the example inputs{scaled}{at} ({_one_line(e.__cause__ or e)})",
                            key=("batch",) if batch != 1 else ()) from None
    return _FxImporter(gm, module, name or what, dtype).run(
        unsupported, lambda recurrent_n: _batch_meta(gm, inputs, axes, recurrent_n))


_NO_AXIS = "none"
"""An input's batch axis as :func:`_input_axes` gives it where ``batch_dim`` says the input has none (null)."""


def _reader_axes(gm, node) -> dict[int, str]:
    """The batch axes the modules that read placeholder ``node`` directly give its tensor by their spec, each with
    the module that gives it: an LSTM, GRU, RNN or MultiheadAttention dim 0 with ``batch_first``, else dim 1
    ((L, N, ...)); a conv, pool or batch norm dim 0 (N×C×...), as the layer list's ``_batch_dim`` reads its
    layers. Any other reader (a Linear, an add, a norm over the last dim, a view) works on any leading dims and
    says nothing about where the batch is."""
    import torch.nn as nn

    first = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.BatchNorm1d,
             nn.BatchNorm2d, nn.BatchNorm3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d)
    modules, axes = dict(gm.named_modules()), {}
    for user in node.users:
        m = modules.get(user.target) if user.op == "call_module" else None
        if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN, nn.MultiheadAttention)):
            axes.setdefault(0 if m.batch_first else 1, f"{type(m).__name__} {user.target!r}")
        elif isinstance(m, first):
            axes.setdefault(0, f"{type(m).__name__} {user.target!r}")
    return axes


def _said_axes(batch_dim: int | list[int | None] | None, n: int) -> list[int | str | None]:
    """``batch_dim`` as one entry per example input: its dim, :data:`_NO_AXIS` (null in a list) or None (unsaid);
    anything but a dim of 0 or more (``from_torch``'s caller, which :class:`TorchParams` does not check) is a
    one-line error at ``batch_dim``."""
    entries = batch_dim if isinstance(batch_dim, list) else [batch_dim]
    if any(d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 0) for d in entries):
        raise WorkloadError(f"batch_dim: expected a dim of the example inputs, 0 or more, or a list of them and "
                            f"nulls (got {batch_dim!r})", key=("batch_dim",))
    if not isinstance(batch_dim, list):
        return [batch_dim] * n
    if len(batch_dim) != n:
        raise WorkloadError(f"batch_dim: a list needs one entry per example input, {n} here (got {batch_dim!r})",
                            key=("batch_dim",))
    return [_NO_AXIS if d is None else d for d in batch_dim]


def _input_axes(gm, inputs: tuple | list, batch_dim: int | list[int | None] | None) -> list[int | str | None]:
    """Each example input's batch axis, in the traced forward's order: the dim ``batch_dim`` names for it (or
    :data:`_NO_AXIS`), else the one its direct readers fix (:func:`_reader_axes`), else None: not known, and
    never guessed (dim 0 of a sequence-first (S, N, E) input a Linear reads is its sequence; probe p286 #1), as
    the ONNX importer guesses no axis 0 but takes one named ``batch`` or sized by ``dims``. A said dim outside a
    tensor's dims or other than the one a reader fixes is a one-line error at ``batch_dim``; readers that fix
    two different dims leave the axis unknown (:func:`_batched` says why)."""
    import torch

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    out: list[int | str | None] = []
    for node, x, said in zip(placeholders, inputs, _said_axes(batch_dim, len(placeholders)), strict=False):
        fixed = _reader_axes(gm, node)
        what = f"batch_dim: example input {node.name!r}"
        if isinstance(said, int) and isinstance(x, torch.Tensor) and not said < x.dim():
            raise WorkloadError(f"{what} {list(x.shape)} has no dim {said}", key=("batch_dim",))
        if isinstance(said, int) and fixed and said not in fixed:
            dim, reader = next(iter(fixed.items()))
            raise WorkloadError(f"{what} is read by {reader} with its batch at dim {dim}, not {said}",
                                key=("batch_dim",))
        out.append(said if said is not None else next(iter(fixed)) if len(fixed) == 1 else None)
    return out


def _batched(gm, inputs: tuple | list, batch: int, axes: list[int | str | None]) -> list:
    """``inputs`` (the example inputs, in the traced forward's order) each repeated ``batch`` times along its batch
    axis (``axes``, :func:`_input_axes`; ``torch.cat``: shapes only matter), so the graph runs ``batch`` times the
    example's samples (probe p278 #2: ``--batch 4`` was ignored, resnet18's MACs stayed batch 1's); an input
    ``batch_dim`` says has no batch axis is kept. An input that is no tensor, or whose batch axis is not known (no
    module reading it fixes it, or two fix different dims, and ``batch_dim`` does not name it), is a one-line error
    at ``batch`` naming it and ``batch_dim``."""
    import torch

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    out = []
    for node, x, axis in zip(placeholders, inputs, axes, strict=False):
        what = f"batch {batch}: example input {node.name!r}"
        if axis == _NO_AXIS:
            out.append(x)
            continue
        if not isinstance(x, torch.Tensor):
            raise WorkloadError(f"{what} is a {type(x).__name__}, not a tensor with a batch axis; set its "
                                f"workload.batch_dim entry to null, or return example inputs of the batch you want "
                                f"from the factory and leave batch at 1", key=("batch",))
        if axis is None:
            fixed = _reader_axes(gm, node)
            why = (f"is read with its batch at dims {sorted(fixed)} ({', '.join(fixed.values())})" if fixed else
                   "is read by no conv, pool, batch norm, LSTM, GRU, RNN or MultiheadAttention, which fix a batch "
                   "axis, so none is guessed (dim 0 of a sequence-first input is its sequence)")
            raise WorkloadError(f"{what} {list(x.shape)} {why}; set workload.batch_dim to its batch axis (an int "
                                f"for every input, or a list with one entry per input, null for one without), or "
                                f"return example inputs of the batch you want from the factory and leave batch at 1",
                                key=("batch",))
        out.append(torch.cat([x] * batch, dim=axis))
    if all(a == _NO_AXIS for a in axes):
        raise WorkloadError(f"batch {batch}: workload.batch_dim says no example input has a batch axis, so batch "
                            f"would scale nothing; name one, or leave batch at 1", key=("batch",))
    return out


def _batch_meta(gm, inputs: tuple | list, axes: list[int | str | None], recurrent_n: int | None) -> dict[str, object]:
    """The graph's ``batch`` (report.json's ``workload.batch``, what ``efficiency.j_per_inference`` divides by):
    the size the inputs' known batch axes (``axes``, :func:`_input_axes`) share; where no input's is known,
    ``recurrent_n``, N of the first LSTM / GRU / RNN's input (the recurrent builder's rule: the recurrence runs
    over L, its N sequences are the samples); where that is not known either, 1, with a note where an input's
    dim 0 is over 1 (one run of the graph is one inference, not dim 0's count: probe p286 #1 took a sequence of
    128 as the batch), as the ONNX importer does."""
    import torch

    placeholders = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
    known = {n: int(x.shape[a]) for n, x, a in zip(placeholders, inputs, axes, strict=False)
             if isinstance(a, int) and isinstance(x, torch.Tensor)}
    if len(set(known.values())) == 1:
        return {"batch": next(iter(known.values()))}
    if not known and recurrent_n is not None:
        return {"batch": recurrent_n}
    tensors = {n: list(x.shape) for n, x in zip(placeholders, inputs, strict=False) if isinstance(x, torch.Tensor)}
    if known:
        why = f"the inputs' batch axes differ in size ({', '.join(f'{n!r} {s}' for n, s in known.items())})"
    elif any(s and s[0] > 1 for s in tensors.values()):
        why = ("no module reading an example input directly fixes its batch axis (a conv, pool or batch norm: "
               "dim 0; an LSTM, GRU, RNN or MultiheadAttention: dim 1, or 0 with batch_first) and workload.batch_dim "
               f"names none ({', '.join(f'{n!r} {s}' for n, s in tensors.items())}), so dim 0 is not guessed")
    else:
        return {"batch": 1}
    return {"batch": 1, "notes": [f"torch: {why}: the batch is 1, one run of the graph one inference "
                                  f"(efficiency.j_per_inference is per run); set workload.batch_dim to name it"]}


def _one_line(e: BaseException) -> str:
    """``Type: message`` of an exception, its message's first non-empty line only."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


class _Attr:
    """The value of a ``get_attr`` node: a parameter (``param``: counted where an op reads it) or a buffer."""

    def __init__(self, name: str, shape: tuple[int, ...], param: bool):
        self.name, self.shape, self.param = name, shape, param

    def weight(self) -> Weight:
        return Weight(self.name, self.shape or (1,))  # a 0-d parameter: 1 element


class _NoMapping(Exception):
    """A node accelsim does not map: ``what`` describes its kind (None: it reads an unmapped node's output)."""

    def __init__(self, what: str | None):
        super().__init__(what)
        self.what = what


_UNMAPPED = object()  # the value of an unmapped node while every unmapped node is being listed


def _shape(node) -> tuple[int, ...]:
    meta = node.meta.get("tensor_meta")
    if not hasattr(meta, "shape") and isinstance(meta, (tuple, list)):  # a tuple output: its first tensor
        meta = meta[0]
    return tuple(int(d) for d in meta.shape)


class _FxImporter:
    """Walks the nodes of one traced GraphModule in order, appending builder layers."""

    def __init__(self, gm, module, name: str, dtype: str):
        self.gm = gm
        self.modules = dict(gm.named_modules())
        first: dict[int, str] = {}  # id of a parameter → its first name, as torch's named_parameters() lists it
        for pname, p in module.named_parameters(remove_duplicate=False):
            first.setdefault(id(p), pname)
        self.canonical = first
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        self.b = LayerListBuilder(name, {n.name: _shape(n) for n in placeholders}, dtype=dtype)
        self.value: dict[str, object] = {n.name: n.name for n in placeholders}  # fx node → op name or tuple
        self.used: set[str] = set()

    def run(self, unsupported: str = "error",
            batch_meta: Callable[[int | None], dict[str, object]] | None = None) -> Graph:
        """The graph of the traced module; its ``meta`` has what ``batch_meta`` gives (:func:`_batch_meta`) of N of
        the first recurrent layer's input (None: no such layer), else the builder's ``batch``."""
        unmapped: dict[str, list[str]] = {}  # kind of node -> names of its nodes, in graph order
        for node in self.gm.graph.nodes:
            if node.op in ("placeholder", "output"):
                continue
            self.node = node
            handler = {"call_module": self._module, "call_function": self._function,
                       "call_method": self._method, "get_attr": self._get_attr}.get(node.op)
            try:
                if handler is None:
                    self._fail(node.op)
                self.value[node.name] = handler()  # type: ignore[misc]
            except _NoMapping as e:
                if e.what is not None:
                    unmapped.setdefault(e.what, []).append(node.name)
                self.value[node.name] = self._generic() if unsupported == "elementwise" else _UNMAPPED
        if unmapped and unsupported == "error":
            listed = ", ".join(f"{w} ({len(n)}: {n[0]!r}{', ...' if len(n) > 1 else ''})" for w, n in unmapped.items())
            raise WorkloadError(f"{self.b.name}: nodes accelsim does not map: {listed}; set "
                                f"workload.unsupported=elementwise to price them as element-wise work")
        meta = batch_meta(self.b._first_batch) if batch_meta else {}
        notes = [*meta.pop("notes", []),  # type: ignore[misc]
                 *(f"torch {w} has no accelsim mapping: its {len(n)} node(s) ({', '.join(n[:3])}"
                   f"{', ...' if len(n) > 3 else ''}) are priced as element-wise work over their outputs"
                   for w, n in unmapped.items())]
        return self.b.build({"model": "torch", "source": self.b.name, **meta, **({"notes": notes} if notes else {})})

    # ---- helpers ----------------------------------------------------------------------------------------
    def _fail(self, what: str) -> None:
        raise _NoMapping(what)

    def _arg(self, i: int = 0) -> str:
        v = self._value(i)
        if not isinstance(v, str):
            self._fail("reading a value that is not a tensor accelsim produced")
        return v  # type: ignore[return-value]

    def _value(self, i: int) -> object:
        """The value of argument ``i``: an op name, an :class:`_Attr`, a tuple, None."""
        v = self.value.get(getattr(self.node.args[i], "name", None))
        if v is _UNMAPPED:
            raise _NoMapping(None)  # listed where it was produced
        return v

    def _param_name(self, name: str) -> str:
        """The first name of the module's parameter ``name`` (the one named_parameters() lists)."""
        try:
            return self.canonical.get(id(self.gm.get_parameter(name)), name)
        except AttributeError:
            return name

    def _generic(self) -> str | None:
        """An unmapped node (``unsupported: elementwise``): one ELEMENTWISE op over its (first) tensor output, 1 flop
        per element, reading the tensors accelsim produced among its inputs; None if it outputs no tensor."""
        try:
            shape = _shape(self.node)
        except (AttributeError, TypeError, IndexError):
            return None
        inputs = [self.value[n.name] for n in self.node.all_input_nodes if isinstance(self.value.get(n.name), str)]
        weights = list({v.name: v.weight() for n in self.node.all_input_nodes
                        if isinstance(v := self.value.get(n.name), _Attr) and v.param}.values())
        target = self.node.target
        tag = (type(self.modules[target]).__name__ if self.node.op == "call_module"
               else getattr(target, "__name__", str(target)))
        return self.b.vector(OpKind.ELEMENTWISE, list(dict.fromkeys(inputs)), shape, f"torch_{tag}", 1,
                             name=self.node.name, **({"weights": weights} if weights else {}))

    def _name(self) -> str:
        target = str(self.node.target)
        if self.node.op == "call_module" and target not in self.used:
            self.used.add(target)
            return target
        return self.node.name

    def _named(self, module) -> None:
        """The last op's weights: exactly ``module``'s own parameters, first-named and shaped as torch holds them."""
        set_weights(self.b, [(self.canonical.get(id(p), f"{self.node.target}.{n}"), tuple(p.shape) or (1,))
                             for n, p in module.named_parameters(recurse=False)])

    # ---- node kinds -------------------------------------------------------------------------------------
    def _module(self) -> object:
        import torch.nn as nn

        m, x, name = self.modules[self.node.target], None, self._name()
        table: list[tuple[type | tuple[type, ...], Callable]] = [
            ((nn.Conv1d, nn.Conv2d, nn.Conv3d), self._conv), ((nn.ConvTranspose2d, nn.ConvTranspose3d), self._deconv),
            (nn.Linear, lambda m, x, n: self.b.linear(x, m.out_features, m.bias is not None, name=n)),
            ((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d), lambda m, x, n: self.b.batchnorm(x, m.eps, name=n)),
            (nn.LayerNorm, lambda m, x, n: self.b.layernorm(x, m.eps, name=n)),
            ((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d), self._pool),
            ((nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d),
             lambda m, x, n: self.b.adaptive_pool(x, "max" if "Max" in type(m).__name__ else "avg", m.output_size,
                                                  name=n)),
            (nn.Embedding, lambda m, x, n: self.b.embedding(x, m.num_embeddings, m.embedding_dim, name=n)),
            ((nn.LSTM, nn.GRU, nn.RNN), self._recurrent),
            (nn.MultiheadAttention, self._attention),
            (nn.Flatten, lambda m, x, n: self.b.flatten(x, m.start_dim, m.end_dim, name=n)),
            (nn.Softmax, lambda m, x, n: self._softmax(x, m.dim, n)),
        ]
        if hasattr(nn, "RMSNorm"):
            table.append((nn.RMSNorm, lambda m, x, n: self.b.rmsnorm(x, m.eps or 1e-6, name=n)))
        if isinstance(m, (nn.Dropout, nn.Identity)):
            return self._arg()
        act = _ACTS.get(type(m).__name__.lower())
        if act is not None:
            return getattr(self.b, act)(self._arg(), name=name)
        for types, fn in table:
            if isinstance(m, types):
                x = self._arg() if not isinstance(m, nn.MultiheadAttention) else None
                out = fn(m, x, name)
                if isinstance(out, str) and not isinstance(m, (nn.LSTM, nn.GRU, nn.RNN, nn.MultiheadAttention)):
                    self._named(m)
                return out
        self._fail(f"module {type(m).__name__}")
        return None

    def _conv(self, m, x: str, name: str) -> str:
        dims = len(m.kernel_size)
        padding = m.padding if isinstance(m.padding, str) else tuple(m.padding)
        if dims == 2 and not isinstance(padding, str):
            return self.b.conv2d(x, m.out_channels, m.kernel_size, m.stride, padding, m.dilation, m.groups,
                                 m.bias is not None, name=name)
        return self.b.conv_nd(x, dims, m.out_channels, m.kernel_size, m.stride, padding, m.dilation, m.groups,
                              m.bias is not None, name=name)

    def _deconv(self, m, x: str, name: str) -> str:
        method = self.b.conv_transpose2d if len(m.kernel_size) == 2 else self.b.conv_transpose3d
        return method(x, m.out_channels, tuple(m.kernel_size), tuple(m.stride), tuple(m.padding),
                      tuple(m.output_padding), dilation=tuple(m.dilation), groups=m.groups, bias=m.bias is not None,
                      name=name)

    def _pool(self, m, x: str, name: str) -> str:
        dims = len(self.b.shape(x)) - 2
        fn = "max" if "Max" in type(m).__name__ else "avg"
        dilation = getattr(m, "dilation", 1)
        if dims == 2:
            args = (m.kernel_size, m.stride, m.padding)
            if fn == "max":
                return self.b.maxpool2d(x, *args, dilation, m.ceil_mode, name=name)
            return self.b.avgpool2d(x, *args, m.ceil_mode, name=name)
        return self.b.pool_nd(x, dims, fn, m.kernel_size, m.stride, m.padding, dilation, m.ceil_mode, name=name)

    def _recurrent(self, m, x: str, name: str) -> tuple[str, None]:
        kind = type(m).__name__.lower()
        kw = {"hidden_size": m.hidden_size, "num_layers": m.num_layers, "bias": m.bias,
              "batch_first": m.batch_first, "bidirectional": m.bidirectional, "name": name}
        if kind == "lstm":
            kw["proj_size"] = m.proj_size
        if kind == "rnn":
            kw["nonlinearity"] = m.nonlinearity
        return getattr(self.b, kind)(x, **kw), None  # (output, states): the states are not mapped

    def _attention(self, m, _x: None, name: str) -> tuple[str, None]:
        if not m._qkv_same_embed_dim or m.bias_k is not None:
            self._fail("MultiheadAttention with kdim/vdim or add_bias_kv")
        xs = [self._arg(i) for i in range(3)]
        xs = xs[:1] if xs[0] == xs[1] == xs[2] else xs
        return self.b.mha(xs, m.embed_dim, m.num_heads, m.in_proj_bias is not None, m.batch_first,
                          name=name), None

    def _dim(self) -> object:
        """The ``dim`` argument of a softmax call (keyword or second positional)."""
        return self.node.kwargs.get("dim", self.node.args[1] if len(self.node.args) > 1 else None)

    def _softmax(self, x: str, dim: int | None, name: str) -> str:
        if dim not in (-1, len(self.b.shape(x)) - 1):
            self._fail(f"softmax over dim {dim} (only the last is mapped)")
        return self.b.softmax(x, name=name)

    def _function(self) -> object:
        import torch
        import torch.nn.functional as F  # noqa: N812

        t, name = self.node.target, self.node.name
        if t is operator.getitem:
            src = self.value.get(self.node.args[0].name)
            if src is _UNMAPPED:
                raise _NoMapping(None)
            if isinstance(src, tuple):
                return src[self.node.args[1]]
            self._fail("indexing a tensor")
        if t in (operator.add, operator.iadd, torch.add, operator.mul, operator.imul, torch.mul):
            fn = "add" if t in (operator.add, operator.iadd, torch.add) else "mul"
            attrs = [i for i in (0, 1) if isinstance(self._value(i), _Attr)]
            if len(attrs) == 1:
                return self._with_attr(self._arg(1 - attrs[0]), self._value(attrs[0]), fn, name)  # type: ignore[arg-type]
            return getattr(self.b, fn)(self._arg(0), self._arg(1), name=name)
        if t is torch.cat:
            xs = [self.value.get(getattr(a, "name", None)) for a in self.node.args[0]]
            if not all(isinstance(x, str) for x in xs):
                raise _NoMapping(None) if _UNMAPPED in xs else _NoMapping("torch.cat of a value that is not a tensor")
            return self.b.concat(xs, dim=self.node.kwargs.get("dim", self.node.args[1] if len(self.node.args) > 1
                                                                else 0), name=name)
        if t is torch.flatten:
            return self.b.view(self._arg(), _shape(self.node), "flatten", name=name)
        if t in (torch.matmul, operator.matmul, torch.bmm):
            return self._matmul(name)
        fn = getattr(t, "__name__", "")
        if fn == "softmax" and t in (F.softmax, torch.softmax):
            return self._softmax(self._arg(), self._dim(), name)
        if fn in _ACTS and t in (getattr(F, fn, None), getattr(torch, fn, None)):
            return getattr(self.b, _ACTS[fn])(self._arg(), name=name)
        self._fail(f"function {getattr(t, '__module__', '')}.{fn or t}")
        return None

    def _matmul(self, name: str) -> str:
        """numpy's matmul (:func:`~accelsim.builders.importers.matmul_gemm`) of two tensors, or of a tensor and a
        parameter read directly (its weight) or a buffer."""
        vals = [self._value(0), self._value(1)]
        if not all(isinstance(v, (str, _Attr)) for v in vals) or all(isinstance(v, _Attr) for v in vals):
            self._fail("matmul of a value that is not a tensor accelsim produced")
        shapes = [v.shape if isinstance(v, _Attr) else self.b.shape(v) for v in vals]  # type: ignore[union-attr]
        gemm, out = matmul_gemm(tuple(shapes[0]), tuple(shapes[1]), f"{self.b.name}: matmul {name!r}")
        weights = [v.weight() for v in vals if isinstance(v, _Attr) and v.param]
        return self.b.matmul([v for v in vals if isinstance(v, str)], out, gemm, weights=weights, name=name)

    def _get_attr(self) -> _Attr:
        """A parameter or buffer read in ``forward``: no op here; the add, mul or matmul reading it maps it."""
        target = str(self.node.target)
        try:
            return _Attr(self._param_name(target), tuple(self.gm.get_parameter(target).shape), True)
        except AttributeError:
            pass
        try:
            return _Attr(target, tuple(self.gm.get_buffer(target).shape), False)
        except AttributeError:
            self._fail("get_attr of an attribute that is neither a parameter nor a buffer")
            raise

    def _with_attr(self, x: str, attr: _Attr, fn: str, name: str) -> str:
        """x + / · a parameter (the op's weight, counted) or a buffer (a constant operand: no parameter), broadcast;
        1 flop per output element."""
        if attr.param:
            return self.b.add_param(x, attr.weight(), fn=fn, name=name)
        out = broadcast_shapes(self.b.shape(x), attr.shape)
        if out is None:
            self._fail(f"{fn} of shapes that do not broadcast")
        return self.b.vector(OpKind.ELEMENTWISE, [x], out, fn, 1, name=name, buffer=attr.name)  # type: ignore[arg-type]

    def _method(self) -> object:
        t = self.node.target
        if t == "size":
            return None  # a Python int, no tensor
        if t in _VIEW_METHODS:
            return self.b.view(self._arg(), _shape(self.node), str(t), name=self.node.name)
        if t in _ACTS:
            return getattr(self.b, _ACTS[t])(self._arg(), name=self.node.name)
        if t == "softmax":
            return self._softmax(self._arg(), self._dim(), self.node.name)
        self._fail(f"method .{t}()")
        return None


__all__ = ["TorchParams", "from_torch", "torch_workload"]
