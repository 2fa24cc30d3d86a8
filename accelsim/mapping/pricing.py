"""Pass 3, pricing: each working op goes to the unit kind of the core that prefers it (the cost modules'
``accepts``, the first listed on a tie) and gets that kind's price (:mod:`accelsim.cost`). Identical ops (equal
:func:`signature`: a model's repeated layers) are priced once per arch: the prices are kept while the lowerings
are on equal (frozen) Archs, so a pipeline's stages, a serving run's steps, the fused activations' output
paths and repeated runs on one preset reuse them."""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Iterable
from types import ModuleType

from .. import cost
from ..errors import MappingError, one_line
from ..hardware import BUILT_IN_UNITS, Arch, UnitSpec, dtype_rate
from ..ir import Op
from ..units import MAX_INT
from .plan import Plan

# (the Arch last priced on, its prices by signature, its core's unit specs, their cost models by kind, those
# models' functions): one tuple, replaced whole, so a reader never sees one arch's prices with another's specs
_PRICED: list[tuple] = [(None, {}, (), {}, ())]
_PRICED_MAX = 4096  # signatures kept for one arch (a few hundred for the largest model); then it starts afresh


def _functions(kinds: Iterable[str]) -> tuple:
    """The pricing functions of the unit ``kinds`` now: a kind registered anew, or its cost module reloaded
    (importlib.reload keeps the module object, not its functions), has its ops priced afresh (None for a kind
    no longer registered or whose module is gone: those prices are dropped too)."""
    out = []
    for kind in kinds:
        try:
            m = cost.model(kind)
        except (KeyError, ImportError):
            out.append(None)
        else:
            out.append((m.accepts, m.price))
    return tuple(out)


def _priced(arch: Arch) -> tuple[dict[tuple, tuple[str, int, dict]], tuple[UnitSpec, ...], dict]:
    """The prices already computed on ``arch`` (or an equal Arch: every field equal, ~10 µs to compare) by
    :func:`signature`, its core's unit specs and their cost models."""
    held = _PRICED[0]
    stale = len(held[1]) > _PRICED_MAX or _functions(held[3]) != held[4]
    if held[0] is not arch or stale:
        if stale or held[0] != arch:
            specs = arch.core.unit_specs()
            models = {s.kind: cost.model(s.kind) for s in specs}
            held = (arch, {}, specs, models, _functions(models))
        else:
            held = (arch, *held[1:])  # the equal arch takes the held one's place: later look-ups test identity
        _PRICED[0] = held
    return held[1], held[2], held[3]


def on_lanes(op: Op, arch: Arch, depthwise: str = "auto") -> bool:
    """Whether ``op`` is a depthwise convolution (:attr:`~accelsim.ir.Op.depthwise`) that ``options.depthwise``
    sends to the core's vector unit: 'vector', or 'auto' on a GPU (a core with ``core.tile``). PyTorch's convolution
    dispatch (aten/src/ATen/native/Convolution.cpp ``_select_conv_backend``) sends a depthwise conv to cuDNN's
    depthwise kernels (``use_cudnn_depthwise``) or to its own CUDA-core ``conv_depthwise2d`` / ``conv_depthwise3d``
    (aten/src/ATen/native/cuda/DepthwiseConv2d.cu: a thread per output element, FMAs over the kh·kw taps), not to
    the implicit-GEMM tensor-core path of other convolutions."""
    return op.depthwise and (depthwise == "vector" or (depthwise == "auto" and arch.core.tile is not None))


def price(plans: tuple[Plan, ...], arch: Arch, depthwise: str = "auto") -> tuple[Plan, ...]:
    """Plans with their unit kind, compute cycles, details (the cost model's, and any a working plan already had:
    :func:`~.aliases.aliases`') and estimated duration (``depthwise``: ``options.depthwise``, :func:`on_lanes`)."""
    main_bpc = arch.bytes_per_cycle(arch.main_memory)
    priced, specs, models = _priced(arch)
    out = []
    for p in plans:
        if not p.works:
            out.append(p)
            continue
        op = p.op
        unit, cycles, details = _lookup(priced, specs, models, op, arch, on_lanes(op, arch, depthwise))
        if p.details:  # what aliases noted of a working plan (a folded batch norm's shift add: its mac_fraction)
            details = {**details, **p.details}
        offchip = op.in_bytes + op.out_bytes + op.weight_bytes
        out.append(p._replace(unit_kind=unit, cycles=cycles, details=details, est=max(cycles, offchip / main_bpc)))
    return tuple(out)


def _lookup(priced: dict, specs: tuple[UnitSpec, ...], models: dict, op: Op, arch: Arch,
            lanes: bool = False) -> tuple[str, int, dict]:
    """``op``'s price from ``priced`` (the arch's prices by signature, and whether a depthwise conv goes to the
    vector unit: ``lanes``, :func:`on_lanes`), computed and kept there when missing."""
    try:
        key = (signature(op), lanes)
        return priced[key]
    except KeyError:
        priced[key] = found = _price(op, specs, models, arch, lanes)
        return found
    except TypeError:  # an unhashable attribute: price it on its own
        return _price(op, specs, models, arch, lanes)


def price_op(op: Op, arch: Arch, depthwise: str = "auto") -> tuple[str, int, dict]:
    """(unit name, cycles, details) of one op on the unit of ``arch``'s core that prefers it."""
    return _lookup(*_priced(arch), op, arch, on_lanes(op, arch, depthwise))


def _price(op: Op, specs: tuple[UnitSpec, ...], models: dict, arch: Arch, lanes: bool = False) \
        -> tuple[str, int, dict]:
    """(unit name, cycles, details) of ``op`` on the unit that prefers it, or, for a depthwise conv with ``lanes``
    (:func:`on_lanes`) where the built-in systolic array would take it, on the core's vector unit (if it has one):
    its MACs as multiply-adds, ⌈MACs / lanes⌉ cycles (:func:`accelsim.cost.vector.gemm_cycles`). A unit spec with
    ``rates`` runs the op at the rate of its compute dtype (:func:`accelsim.hardware.dtype_rate`): models that do
    not apply it themselves (no ``PRICES_DTYPE``) have their cycles divided by the multiplier here; a depthwise conv
    moved to the lanes at the rate of the dtype its kernel accumulates in (``core.vector.depthwise_runs_as``)."""
    choice = _choose(op, specs, models)
    vector = next((s for s in specs if s.kind == "vector"), None)
    lanes = lanes and choice.kind == "systolic" and vector is not None
    if lanes:
        choice = vector
    model = models[choice.kind]
    if choice.kind in BUILT_IN_UNITS:
        cycles, details = model.price(op, choice.spec, arch)
    else:
        cycles, details = _plugin_price(model, choice, op, arch)
    rates = getattr(choice.spec, "rates", None)
    if rates and not getattr(model, "PRICES_DTYPE", False):
        # a depthwise conv on the lanes computes at its kernel's accumulator dtype (VectorUnit.depthwise_runs_as)
        computes = choice.spec.depthwise_runs_as.get(op.dtype, op.dtype) if lanes else op.dtype
        runs_as, rate = dtype_rate(rates, computes)
        cycles = max(1, math.ceil(cycles / rate)) if cycles else 0
        details = {**details, "rate": {"dtype": computes, "runs_as": runs_as, "multiplier": rate}}
    if lanes:
        g = op.gemm
        details = {**details, "depthwise": "vector", **({"gemm": [g.m, g.n, g.k, g.count]} if g else {})}
    return choice.name, cycles, details


def _plugin_price(model: ModuleType, unit: UnitSpec, op: Op, arch: Arch) -> tuple[int, dict]:
    """(cycles, details) of ``op`` on plug-in ``unit`` as its kind's ``price(op, spec, arch)`` gives them, checked:
    a ``Priced(cycles, details)`` (or a pair) of whole cycles ≥ 0 and a dict, whose ``pieces``, if given, is a
    whole number ≥ 1 (the op's work as that many equal pieces: :func:`~.choice.most_units`); and, on an arch with
    energy constants, its ``pj_per_mac(spec, dtype)`` and ``pj_per_flop(spec, dtype)`` for the op's dtype a number
    ≥ 0 or None (the report prices the op's MACs and other FLOPs with them). A one-line :class:`MappingError`
    naming the kind otherwise."""
    kind, name = unit.kind, getattr(model, "__name__", unit.kind)
    at = ("core", "units", unit.name, "kind")  # the arch key that chose the module: its file and line name it
    try:
        out = model.price(op, unit.spec, arch)
    except Exception as e:  # noqa: BLE001 - any failure of a user's module is reported, one line
        raise MappingError(f"unit kind {kind!r}: {name}.price fails for op {op.name!r} ({one_line(e)})", at) \
            from None
    cycles, details = out if isinstance(out, tuple) and len(out) == 2 else (None, None)
    if not _whole(cycles) or not isinstance(details, dict):
        raise MappingError(f"unit kind {kind!r}: {name}.price gives {out!r} for op {op.name!r} (need "
                           f"Priced(cycles, details): cycles a whole number from 0 to {MAX_INT:,} (2**63 - 1), "
                           f"an int or a float such as 70.0, and details a dict)", at)
    if "pieces" in details:
        pieces = details["pieces"]
        if isinstance(pieces, bool) or not isinstance(pieces, numbers.Integral) or not 1 <= pieces <= MAX_INT:
            raise MappingError(f"unit kind {kind!r}: {name}.price gives pieces={pieces!r} for op {op.name!r} (need "
                               f"a whole number from 1 to {MAX_INT:,}: the op's work as that many equal pieces, "
                               f"dealt out whole to the units it is split over)", at)
        details = {**details, "pieces": int(pieces)}
    for key, value in details.items():
        why = _json_problem({key: value})
        if why is not None:
            raise MappingError(f"unit kind {kind!r}: {name}.price gives details[{key!r}] = {value!r} for op "
                               f"{op.name!r}, which report.json cannot hold ({why}; need str keys and JSON values: "
                               f"str, a finite int or float, bool, None, and lists, tuples and dicts of them; NumPy "
                               f"numbers and arrays are numbers and lists)", at)
    if arch.energy is not None:
        rates = getattr(unit.spec, "rates", None)
        dtype = dtype_rate(rates, op.dtype)[0] if rates else op.dtype  # as the report's row gives it
        try:
            unit.pj_per_mac(dtype)
            unit.pj_per_flop(dtype)
        except ValueError as e:
            raise MappingError(str(e), at) from None
    return int(cycles), details


def _json_value(value: object) -> object:
    """The JSON form report.json writes of a value ``json`` does not know, as :mod:`accelsim.report.writers` converts
    it (NumPy scalars and arrays, paths); TypeError for any other."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    import numpy as np  # (only for a value json does not know: mapping needs no NumPy otherwise)

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"a {type(value).__name__} is no JSON value")


def _json_problem(details: dict) -> str | None:
    """Why report.json cannot hold a plug-in's ``details`` (a Fraction, a set, a NaN, a key that is no string), as
    :func:`accelsim.report.writers.json_text` would fail on them at the end of the run; None when it can. A key that
    is no string (``3``, ``None``) is refused though ``json`` would write it as ``"3"`` / ``"null"`` (probe p107 #8:
    the details' keys are what report.json names, so they are the plug-in's strings)."""
    bad = _non_str_key(details)
    if bad is not None:
        return f"key {bad[0]!r} is no string"
    try:
        json.dumps(details, allow_nan=False, default=_json_value)
    except (TypeError, ValueError, RecursionError) as e:
        text = one_line(e)
        return "JSON has no NaN or Infinity" if "Out of range float" in text else text
    return None


def _non_str_key(value: object, depth: int = 0) -> tuple[object] | None:
    """``(key,)``, the first dict key in ``value`` (nested dicts, lists and tuples) that is not a string, else None
    (also past 100 levels of nesting, which json refuses anyway)."""
    if depth > 100:
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return (k,)
            bad = _non_str_key(v, depth + 1)
            if bad is not None:
                return bad
    elif isinstance(value, (list, tuple)):
        for v in value:
            bad = _non_str_key(v, depth + 1)
            if bad is not None:
                return bad
    return None


def _whole(cycles: object) -> bool:
    """Whether a plug-in's ``cycles`` is a whole number in 0..MAX_INT: an int (not a bool) or a float with no
    fraction (``m * n * k / macs`` is a float even where it divides exactly)."""
    if isinstance(cycles, bool) or not isinstance(cycles, numbers.Real):
        return False
    if not isinstance(cycles, numbers.Integral) and not (math.isfinite(cycles) and float(cycles).is_integer()):
        return False
    return 0 <= cycles <= MAX_INT


def signature(op: Op) -> tuple:
    """What a cost model may read of an op: equal signatures, equal prices (its name and inputs aside). A weight's
    stored form is part of it (its bytes set a GPU GEMM's price and a split's estimate): two runs that differ only
    in a quantisation group size shared cached prices, so a process's results depended on what ran before."""
    return (op.kind, op.dtype, op.gemm, op.vector_elems, op.macs, op.flops, op.in_shapes, op.out_shape,
            tuple((w.shape, w.role, w.dtype, w.group_size, w.zero_points, w.nnz, w.index_bits) for w in op.weights),
            tuple(op.attrs.items()))


def _plugin_accepts(model: ModuleType, unit: UnitSpec, op: Op) -> object:
    """``model.accepts(op)``; a failure of a plug-in's module is a one-line :class:`MappingError` at the arch key
    that chose it (as :func:`_plugin_price` reports one of its ``price``), never an internal error."""
    try:
        return model.accepts(op)
    except Exception as e:  # noqa: BLE001 - any failure of a user's module is reported, one line
        if unit.kind in BUILT_IN_UNITS:
            raise
        name = getattr(model, "__name__", unit.kind)
        raise MappingError(f"unit kind {unit.kind!r}: {name}.accepts fails for op {op.name!r} ({one_line(e)})",
                           ("core", "units", unit.name, "kind")) from None


def _choose(op: Op, specs: tuple[UnitSpec, ...], models: dict) -> UnitSpec:
    """The core's unit whose cost model prefers ``op`` most: ``accepts(op)`` is None or False (cannot run it), True
    (can, at preference 1, the built-ins') or a number; on a tie a unit of ``core.units`` wins over the built-in
    systolic and vector units (a plug-in written to run an op does), the first written among them."""
    best, choice = None, None
    for s in sorted(specs, key=lambda s: s.kind in BUILT_IN_UNITS):  # core.units first, in the order written
        pref = _plugin_accepts(models[s.kind], s, op)
        if pref is None or pref is False:
            continue
        if not isinstance(pref, numbers.Real) or pref != pref:  # True is 1; a NumPy number is a number
            raise MappingError(f"unit kind {s.kind!r}: accepts() gave {pref!r} for op {op.name!r}; it returns None "
                               f"or False (cannot run the op), True or a number (its preference: higher wins)",
                               ("core", "units", s.name, "kind") if s.kind not in BUILT_IN_UNITS else ())
        if best is None or pref > best:
            best, choice = pref, s
    if choice is None:
        raise MappingError(f"op {op.name!r} ({op.kind.value}): no unit of the core can run it "
                           f"(units: {', '.join(s.name for s in specs)})")
    return choice


__all__ = ["on_lanes", "price", "price_op", "signature"]
