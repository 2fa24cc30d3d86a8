"""The parameters every workload takes: :class:`WorkloadParams`, the base of each builder's params model.

Each builder module defines the params models of the workloads it builds next to the builder functions;
:mod:`.registry` maps the names to them.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from ..units import DType, Sparsity, kv_cache_refusal


def _kv_cache_dtype(v: str | None) -> str | None:
    why = kv_cache_refusal(v)
    if why:
        raise ValueError(why)
    return v


KVCacheDType = Annotated[DType | None, AfterValidator(_kv_cache_dtype)]
"""A ``kv_cache_dtype``: a dtype, or None for the default, refused where no modelled stack keeps such a cache
(:func:`~accelsim.units.kv_cache_refusal`: fp4, probe p231 #2)."""

PER_ROW = -1
"""``quant_group_size`` for one scale per row (per-channel quantisation), as GPTQ / AWQ configs write it
(``"group_size": -1``): the same as any group at least as long as the row's K (probe p171 #7)."""


def invalid_at(key: str, value: object, message: str) -> ValidationError:
    """A check of the whole params model that is about one key's value (raised from a ``model_validator``), as a
    validation error at that key, so the config layer names its line or its ``--set`` rather than the model's."""
    return ValidationError.from_exception_data(
        "WorkloadParams", [{"type": "value_error", "loc": (key,), "input": value, "ctx": {"error": ValueError(message)}}])


class WorkloadParams(BaseModel):
    """Parameters every workload takes. Models are built on first use (``defer_build``): a run validates one
    workload's params, so the ~60 others need not be compiled at import (start-up time)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    prompt_key: ClassVar[str] = "seq_len"
    """The param that holds a prefill's prompt tokens (a decoder-only model's prompt, Whisper's decoder prompt; an
    encoder-decoder whose decoder input is ``tgt_len`` names that): a serving run's decode steps start at that
    ``kv_len``."""

    batch: PositiveInt = Field(1, description="Samples per inference (the leading dimension of the input).")
    dtype: DType | None = Field(None, description="Data type of every tensor (default: the arch's dtype).")
    mode: Literal["inference", "training"] = Field("inference", description="Forward only, or training.")
    optimizer: Literal["sgd", "momentum", "adam"] = Field(
        "adam", description="Training only: the optimizer step after the backward pass, with fp32 state per "
                            "parameter: 'sgd' none, 'momentum' one tensor, 'adam' two (first and second moments), "
                            "each plus an fp32 master copy of a parameter narrower than fp32 (mixed precision).")
    sparsity: str | None = Field(
        None, description="N:M structured sparsity of the conv and linear layers' weights along their reduction "
                          "('2:4': at most 2 nonzero in every 4), stored compressed with ceil(log2 M) index bits "
                          "per kept weight; MACs count the kept weights. An array that lists the pattern in "
                          "core.systolic.structured_sparsity skips the zeros, any other multiplies them. "
                          "Inference only.")
    _dtype_defaulted: bool = PrivateAttr(False)
    """``dtype`` is the default :func:`~.build.build_workload` gave (the arch's), not the workload's: an 8-bit one
    runs the whole model in it (:func:`~.precision.whole_model`), not W8A8."""

    @field_validator("sparsity")
    @classmethod
    def _sparsity(cls, v: str | None) -> str | None:
        return None if v is None else str(Sparsity.parse(v))

    def run_name(self) -> str | None:
        """The model's own name for a run's default name (``accelsim run --workload hf --arch h100`` writes
        ``runs/<run_name>_h100``), read from the parameters without building the graph: the importers' (``hf``,
        ``onnx``, ``torch``), whose one builder stands for any model; None for a builder that is its model."""
        return None


class PrecisionParams(BaseModel):
    """Separate bit widths for an LLM's weights, activations and KV cache (mixed into its params model)."""

    weight_dtype: DType | None = Field(
        None, description="Dtype of the linear layers' weights (default: the activation dtype, so "
                          "activation_dtype: fp8 alone is W8A8). int4/int8/fp4 are stored packed "
                          "with one scale per quant_group_size weights (fp16; fp4's a byte, as MXFP4 / NVFP4), "
                          "biases unquantised, dequantised inside each GEMM (fused, as "
                          "weight-only kernels do).")
    activation_dtype: DType | None = Field(
        None, description="Dtype of activations and compute (default: dtype): every op's at 16 bits or more; at 8 or 4 "
                          "bits (W8A8, W4A4) only the quantised GEMMs' inputs and compute, which write 16 bits, "
                          "every other op, lm_head, the embedding, the norms and the biases staying 16-bit.")
    kv_cache_dtype: KVCacheDType = Field(
        None, description="Dtype of the KV cache and of the attention ops that read or write it (default: the "
                          "activation dtype, but fp8 under fp4 activations (W4A4), as NVFP4 checkpoints keep an FP8 "
                          "cache; int4 takes a byte per element, as any int4 activation; fp4 is refused: no "
                          "modelled stack attends over an fp4 cache).")
    quant_group_size: int | None = Field(
        None, description="Weights per scale of int4/int8/fp4 weights, in groups along each row's K (a group longer "
                          "than K, or -1 as GPTQ / AWQ configs write per-channel quantisation: one scale per row; "
                          "default: 128 for int4/int8, GPTQ/AWQ's group size, 32 for fp4, MXFP4's; NVFP4's is 16).")

    @field_validator("quant_group_size")
    @classmethod
    def _group_size(cls, v: int | None) -> int | None:
        if v is not None and v <= 0 and v != PER_ROW:
            raise ValueError("expected a positive number of weights per scale, or -1 for one scale per row "
                             "(GPTQ / AWQ's per-channel group_size)")
        return v

    def group_size_unread(self) -> str | None:
        """Why ``quant_group_size`` sizes no weight's scales (no weight of these dtypes is stored with scales,
        :func:`~.precision.no_scales_why`), None where one is or it is not given: the config layer refuses a value
        the user wrote then (probe p79 #3 for hf, p83 #1 for the llama2 presets; hf's own adds its config's
        quantization_config and its experts' dtype)."""
        if self.quant_group_size is None:
            return None
        from .precision import no_scales_why  # not at import: the config layer loads params models, no builder

        return no_scales_why(self.weight_dtype, self.activation_dtype or getattr(self, "dtype", None))


__all__ = ["PER_ROW", "PrecisionParams", "WorkloadParams", "invalid_at"]
