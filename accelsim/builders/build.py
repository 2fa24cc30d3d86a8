"""Build a workload's graph: params validated, dtype defaulted, training step added.

:func:`build_workload` takes a builder name and raw params; :func:`build_graph` a validated workload spec (the
config layer's :class:`~accelsim.config.WorkloadSpec`, or anything with ``model`` and ``params``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from ..errors import WorkloadError, one_line
from ..ir import Graph
from ..units import DTYPE_BYTES, TORCH_DTYPES, TRAINED_DTYPES
from . import training
from .precision import floor_attention
from .registry import BuilderEntry, get_builder
from .sparsity import apply_sparsity


class WorkloadRef(Protocol):
    """What :func:`build_graph` needs of a workload: the builder's name and its parameters."""

    @property
    def model(self) -> str: ...

    @property
    def params(self) -> Mapping[str, object]: ...


def build_workload(name: str, params: Mapping[str, object], *, default_dtype: str = "fp16") -> Graph:
    """The graph of workload ``name`` with ``params`` (validated; ``pydantic.ValidationError`` propagates).

    ``dtype`` left unset becomes ``default_dtype`` (the arch's). ``mode: training`` returns the training step of
    the forward graph (:func:`accelsim.builders.training.training_graph` with ``optimizer``).
    """
    entry = get_builder(name)
    p = entry.params.model_validate(dict(params))
    defaulted = p.dtype is None
    if p.mode == "training":
        _trainable(p)
    if p.dtype is None:
        if default_dtype not in DTYPE_BYTES:
            raise WorkloadError(f"unknown default dtype {default_dtype!r}; expected one of {', '.join(DTYPE_BYTES)}")
        p = p.model_copy(update={"dtype": default_dtype})
        p._dtype_defaulted = True  # the arch's dtype: an 8-bit one runs the whole model (precision.whole_model)
    if p.mode == "training" and getattr(p, "phase", None) == "decode":  # it ran a step over one decode token
        raise WorkloadError("mode: training takes phase: prefill only (a training step runs the forward and "
                            "backward over the whole sequence; a decode step is inference)", key=("phase",))
    graph = entry.fn(p) if ":" not in entry.fn_ref else _users_graph(entry, p)
    graph = floor_attention(graph)  # an fp4 attention at the fp8 rate (probe p231 #2)
    if p.mode == "training":  # weights a checkpoint stores quantised (an HF quantization_config) train no better
        bad = next((w for op in graph for w in op.weights
                    if w.role == "param" and w.dtype is not None and w.dtype not in TRAINED_DTYPES), None)
        if bad is not None:
            key = ("quantization_config",) if getattr(p, "quantization_config", None) else ()
            raise WorkloadError(f"training weights stored in {bad.dtype} ({bad.name}) is not modelled: training is "
                                "modelled in fp32, tf32, bf16 or fp16 with fp32 master weights and optimizer states "
                                "(an HF checkpoint's quantization_config: set dequantize: true)", key=key)
    if p.sparsity is not None:
        if p.mode == "training":
            raise WorkloadError("training a model pruned N:M is not modelled (its weight gradients are dense); "
                                "sparsity is for inference", key=("sparsity",))
        graph = apply_sparsity(graph, p.sparsity)
    if p.mode != "training":
        return graph
    step = training.training_graph(graph, p.optimizer, getattr(p, "recompute", "none"))
    if defaulted and p.dtype not in TRAINED_DTYPES:  # the arch's own dtype (tpu-v1's int8): priced as given, said
        step = step.with_meta({**step.meta, "notes": [*step.meta.get("notes", ()), (
            f"this training step runs in {p.dtype}, the arch's dtype (workload.dtype unset): its weights, "
            f"activations and gradients are {p.dtype} at the arch's {p.dtype} rate, which no training recipe does "
            "(training is modelled in fp32, tf32, bf16 or fp16 with fp32 master weights and states)")]})
    return step


def config_dtype(name: str, params: Mapping[str, object]) -> str | None:
    """The dtype workload ``name``'s own model config names (a Hugging Face config's ``torch_dtype``, or
    transformers 5's ``dtype``, mapped by :data:`TORCH_DTYPES`), None where it names none or one accelsim does not
    price (``pydantic.ValidationError`` propagates, as from :func:`build_workload`)."""
    p = get_builder(name).params.model_validate(dict(params))
    fields = getattr(p, "fields", None)
    if not callable(fields):  # not a config-file builder
        return None
    values = fields()
    for key in ("torch_dtype", "dtype"):
        value = values.get(key)
        if isinstance(value, str) and value.removeprefix("torch.") in TORCH_DTYPES:
            return TORCH_DTYPES[value.removeprefix("torch.")]
    return None


def _trainable(p: object) -> None:
    """Refuse, at its key, a training step in a dtype it is not modelled in: an integer or 8/4-bit ``dtype``,
    ``weight_dtype``, ``activation_dtype`` or ``expert_weight_dtype`` set in the workload or its preset."""
    for key in ("dtype", "weight_dtype", "activation_dtype", "expert_weight_dtype"):
        value = getattr(p, key, None)
        if value is not None and value not in TRAINED_DTYPES:
            raise WorkloadError(f"training in {value} is not modelled (its gradients and GEMMs would be {value}: "
                                "quantised or integer training is not); training is modelled in fp32, tf32, bf16 "
                                f"or fp16 with fp32 master weights and optimizer states (--set workload.{key}=bf16)",
                                key=(key,))


def _users_graph(entry: BuilderEntry, p: object) -> Graph:
    """The graph of a builder ``accelsim.register_workload`` added (``fn_ref`` "module:qualname"): anything its
    function raises, or a result that is no :class:`Graph`, is a one-line :class:`WorkloadError` naming it (probe
    p28: "internal error", exit 1), as a plug-in unit's failures are."""
    try:
        graph = entry.fn(p)
    except WorkloadError as e:
        if e.key or e.arch_key:
            raise
        raise WorkloadError(e.detail, key=_param_named(p, e.detail)) from None
    except Exception as e:  # noqa: BLE001 - any failure of a user's module is reported, one line
        detail = f"{entry.fn_ref} fails for workload {entry.name!r} ({one_line(e)})"
        raise WorkloadError(detail, key=_param_named(p, one_line(e))) from None
    if not isinstance(graph, Graph):
        raise WorkloadError(f"{entry.fn_ref} gives {type(graph).__name__} for workload {entry.name!r}, not an "
                            f"accelsim.ir.Graph (GraphBuilder(...).build() makes one)")
    return graph


def _param_named(p: object, message: str) -> tuple[str, ...]:
    """The parameter of ``p`` a user's builder's error names (as a whole word; of several, the first the user set,
    else the first declared), as the key the config layer reports it at (its line in the workload's file); () for
    none: the error is then at the workload's ``model:`` line (:meth:`accelsim.config.WorkloadSpec.located`)."""
    fields = list(type(p).model_fields) if hasattr(type(p), "model_fields") else []
    named = [f for f in fields if re.search(rf"\b{re.escape(f)}\b", message)]
    given = [f for f in named if f in getattr(p, "model_fields_set", ())]
    return ((given or named)[0],) if named else ()


def build_graph(spec: WorkloadRef, default_dtype: str = "fp16") -> Graph:
    """The operator graph of the workload ``spec`` (``default_dtype`` applies when the workload names no dtype:
    pass the arch's)."""
    return build_workload(spec.model, spec.params, default_dtype=default_dtype)


__all__ = ["WorkloadRef", "build_graph", "build_workload"]
