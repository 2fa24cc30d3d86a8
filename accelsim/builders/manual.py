"""A workload listed layer by layer (``model: layers``), as already-parsed YAML mappings.

```yaml
model: layers
input: [1, 1, 32, 32]          # the graph input, N×C×H×W or N×features; batch multiplies N (dim 1 of an
                               # L×N×E input to an rnn / lstm / gru / multihead_attention without batch_first)
layers:
  - {type: conv2d, name: conv1, out_channels: 6, kernel_size: 5}
  - {type: relu}               # reads the previous layer
  - {type: add, inputs: [conv1, relu]}
```

Each layer is a mapping with ``type`` (a :class:`LayerListBuilder` method: conv1d, conv2d, conv3d,
conv_transpose1d/2d/3d, deform_conv2d, linear, batchnorm1d/2d/3d, layernorm, rmsnorm, relu, relu6,
sigmoid, tanh, gelu, silu, hardswish, hardsigmoid, softmax, maxpool1d/2d/3d, avgpool2d/3d, adaptive_avgpool2d/3d,
embedding, multihead_attention, lstm, gru, rnn, add, mul, concat, flatten, dropout, center_crop; torch's spellings
``max_pool3d``, ``batch_norm3d``, ``layer_norm`` ... too, :data:`METHOD`), an optional ``name``, optional ``inputs``
(names of earlier layers, or ``input`` for the graph input; default: the previous layer) and that method's
keyword arguments (torch.nn's names; docs/configuration.md lists them). Each type is a pydantic model with ``extra="forbid"``; :func:`untag_layer_errors` rewrites
pydantic's error locations to the YAML key path (``("layers", 3, "kernel_size")``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PlainValidator,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from ..errors import WorkloadError
from ..ir import Graph
from .layers import INPUT
from .params import WorkloadParams
from .rnn import RecurrentBuilder


def _int_or_pair(minimum: int, words: tuple[str, ...] = ()):
    """A validator accepting an int >= ``minimum``, a pair of them (returned as a tuple) or one of ``words``."""
    expected = f"an int >= {minimum} or a pair [h, w] of them" + "".join(f" or {w!r}" for w in words)

    def check(value: object) -> int | tuple[int, int] | str:
        if isinstance(value, str) and value in words:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return value
        if (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value)):
            return (value[0], value[1])
        raise ValueError(f"expected {expected}")

    return check


def _int_or_tuple(minimum: int, n: int, words: tuple[str, ...] = ()):
    """A validator accepting an int >= ``minimum``, ``n`` of them (returned as a tuple) or one of ``words``."""
    expected = f"an int >= {minimum} or a list of {n} of them" + "".join(f" or {w!r}" for w in words)

    def check(value: object) -> int | tuple[int, ...] | str:
        if isinstance(value, str) and value in words:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return value
        if (isinstance(value, (list, tuple)) and len(value) == n
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value)):
            return tuple(value)
        raise ValueError(f"expected {expected}")

    return check


def _sizes(minimum: int, n: int, words: tuple[str, ...] = ()) -> Any:
    """An int >= ``minimum`` or a list of ``n`` of them (``words`` also accepted): kernel, stride, padding of an
    ``n``-D layer."""
    json_type = int | tuple[int, ...] | (Literal[words] if words else int)  # type: ignore[valid-type]
    return Annotated[int | tuple[int, ...] | str, PlainValidator(_int_or_tuple(minimum, n, words),
                                                                 json_schema_input_type=json_type)]


# One error location per value (not one per union member), so config can point at the YAML line.
PosPair = Annotated[int | tuple[int, int], PlainValidator(_int_or_pair(1), json_schema_input_type=int | tuple[int, int])]
"""An int >= 1 or an [h, w] pair of them (kernel, stride, dilation)."""
NonNegPair = Annotated[int | tuple[int, int],
                       PlainValidator(_int_or_pair(0), json_schema_input_type=int | tuple[int, int])]
"""An int >= 0 or an [h, w] pair of them (padding)."""
Padding = Annotated[int | tuple[int, int] | str,
                    PlainValidator(_int_or_pair(0, ("same", "valid")),
                                   json_schema_input_type=int | tuple[int, int] | Literal["same", "valid"])]
"""Convolution padding: an int >= 0, an [h, w] pair, "same" or "valid"."""


class _Layer(BaseModel):
    """Fields every layer takes: its name and where it reads from."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built when a layer list is first read

    name: str | None = Field(None, description="Op name (default: made from the type, unique).")
    inputs: tuple[str] | None = Field(None, description="The layer it reads (default: the previous layer).")

    @field_validator("inputs", mode="before")
    @classmethod
    def _input_count(cls, value: object) -> object:
        """A list of layer names of a length the layer does not take, in one message (pydantic's own names a
        missing or extra element: "inputs.0: Field required" for an empty list)."""
        counts = _tuple_lengths(cls.model_fields["inputs"].annotation)
        if isinstance(value, (list, tuple)) and counts and len(value) not in counts:
            want = " or ".join(str(n) for n in sorted(counts))
            raise ValueError(f"expected {want} layer name{'' if counts == {1} else 's'}, not {len(value)}")
        return value


def _tuple_lengths(annotation: object) -> set[int]:
    """The lengths a fixed-length tuple annotation (or a union of them, None aside) takes; empty for a variadic
    ``tuple[str, ...]`` (its own min_length says what it needs)."""
    args = get_args(annotation)
    if get_origin(annotation) is tuple:
        return set() if Ellipsis in args else {len(args)}
    lengths = [_tuple_lengths(a) for a in args if a is not type(None)]
    return set() if any(not n for n in lengths) else set().union(*lengths)


class Conv2dLayer(_Layer):
    """torch.nn.Conv2d."""

    type: Literal["conv2d"]
    out_ch: PositiveInt = Field(validation_alias=AliasChoices("out_channels", "out_ch"),
                                description="Output channels (`out_channels`, as torch; `out_ch` also accepted).")
    kernel: PosPair = Field(validation_alias=AliasChoices("kernel_size", "kernel"),
                           description="Kernel size, int or [h, w] (`kernel_size`, as torch; `kernel` also accepted).")
    stride: PosPair = Field(1, description="Stride.")
    padding: Padding = Field(0, description="Padding per side, 'same' or 'valid'.")
    dilation: PosPair = Field(1, description="Dilation.")
    groups: PositiveInt = Field(1, description="Groups (in_channels for depthwise).")
    bias: bool = Field(True, description="Has a bias.")


class ConvTranspose2dLayer(_Layer):
    """torch.nn.ConvTranspose2d."""

    type: Literal["conv_transpose2d"]
    out_ch: PositiveInt = Field(validation_alias=AliasChoices("out_channels", "out_ch"),
                                description="Output channels (`out_channels`, as torch; `out_ch` also accepted).")
    kernel: PosPair = Field(validation_alias=AliasChoices("kernel_size", "kernel"),
                           description="Kernel size, int or [h, w] (`kernel_size`, as torch; `kernel` also accepted).")
    stride: PosPair = Field(1, description="Stride.")
    padding: NonNegPair = Field(0, description="Padding per side.")
    output_padding: NonNegPair = Field(0, description="Extra rows/columns on one side of the output.")
    dilation: PosPair = Field(1, description="Dilation.")
    groups: PositiveInt = Field(1, description="Groups.")
    bias: bool = Field(True, description="Has a bias.")


class LinearLayer(_Layer):
    """torch.nn.Linear over the last dimension."""

    type: Literal["linear"]
    out_features: PositiveInt = Field(description="Output features.")
    bias: bool = Field(True, description="Has a bias.")


class BatchNorm2dLayer(_Layer):
    """torch.nn.BatchNorm2d (affine)."""

    type: Literal["batchnorm2d"]
    eps: PositiveFloat = Field(1e-5, description="Added to the variance.")


class ReluLayer(_Layer):
    """torch.nn.ReLU."""

    type: Literal["relu"]


class Relu6Layer(_Layer):
    """torch.nn.ReLU6."""

    type: Literal["relu6"]


class SigmoidLayer(_Layer):
    """torch.nn.Sigmoid."""

    type: Literal["sigmoid"]


class HardswishLayer(_Layer):
    """torch.nn.Hardswish."""

    type: Literal["hardswish"]


class HardsigmoidLayer(_Layer):
    """torch.nn.Hardsigmoid."""

    type: Literal["hardsigmoid"]


class MaxPool2dLayer(_Layer):
    """torch.nn.MaxPool2d."""

    type: Literal["maxpool2d"]
    kernel: PosPair = Field(validation_alias=AliasChoices("kernel_size", "kernel"),
                           description="Window size (`kernel_size`, as torch; `kernel` also accepted).")
    stride: PosPair | None = Field(None, description="Stride (default: the window size).")
    padding: NonNegPair = Field(0, description="Padding per side (at most half the window).")
    dilation: PosPair = Field(1, description="Dilation.")
    ceil_mode: bool = Field(False, description="Round the output size up.")


class AvgPool2dLayer(_Layer):
    """torch.nn.AvgPool2d."""

    type: Literal["avgpool2d"]
    kernel: PosPair = Field(validation_alias=AliasChoices("kernel_size", "kernel"),
                           description="Window size (`kernel_size`, as torch; `kernel` also accepted).")
    stride: PosPair | None = Field(None, description="Stride (default: the window size).")
    padding: NonNegPair = Field(0, description="Padding per side (at most half the window).")
    ceil_mode: bool = Field(False, description="Round the output size up.")


class AdaptiveAvgPool2dLayer(_Layer):
    """torch.nn.AdaptiveAvgPool2d."""

    type: Literal["adaptive_avgpool2d"]
    output_size: PosPair = Field(1, description="Output height and width.")


class AddLayer(_Layer):
    """Element-wise sum of two earlier layers (broadcasting)."""

    type: Literal["add"]
    inputs: tuple[str, str] = Field(description="The two layers to add.")


class MulLayer(_Layer):
    """Element-wise product of two earlier layers (broadcasting)."""

    type: Literal["mul"]
    inputs: tuple[str, str] = Field(description="The two layers to multiply.")


class ConcatLayer(_Layer):
    """torch.cat of earlier layers."""

    type: Literal["concat"]
    inputs: tuple[str, ...] = Field(min_length=1, description="The layers to concatenate, in order.")
    dim: int = Field(1, description="Dimension to concatenate along.")


class FlattenLayer(_Layer):
    """torch.flatten."""

    type: Literal["flatten"]
    start_dim: int = Field(1, description="First dimension to merge.")
    end_dim: int = Field(-1, description="Last dimension to merge.")


class DropoutLayer(_Layer):
    """torch.nn.Dropout: the identity at inference."""

    type: Literal["dropout"]
    p: float = Field(0.5, ge=0.0, le=1.0, description="Drop probability (no effect at inference).")


class CenterCropLayer(_Layer):
    """The central height×width window (a view)."""

    type: Literal["center_crop"]
    height: PositiveInt = Field(description="Output height.")
    width: PositiveInt = Field(description="Output width.")


# ---- 1-D and 3-D convolutions and pools ----------------------------------------------------------------------
def _conv_fields(n: int, transposed: bool = False) -> dict[str, Any]:
    """The fields of an ``n``-D (transposed) convolution layer, torch.nn's names (``out_ch``/``kernel`` also)."""
    fields: dict[str, Any] = {
        "out_ch": (PositiveInt, Field(validation_alias=AliasChoices("out_channels", "out_ch"),
                                      description="Output channels (`out_channels`, as torch).")),
        "kernel": (_sizes(1, n), Field(validation_alias=AliasChoices("kernel_size", "kernel"),
                                       description=f"Kernel size, int or {n} ints (`kernel_size`, as torch).")),
        "stride": (_sizes(1, n), Field(1, description="Stride.")),
        "padding": (_sizes(0, n) if transposed else _sizes(0, n, ("same", "valid")),
                    Field(0, description="Padding per side" + ("." if transposed else ", 'same' or 'valid'."))),
        "dilation": (_sizes(1, n), Field(1, description="Dilation.")),
        "groups": (PositiveInt, Field(1, description="Groups.")),
        "bias": (bool, Field(True, description="Has a bias.")),
    }
    if transposed:
        fields["output_padding"] = (_sizes(0, n), Field(0, description="Extra size on one side of the output."))
    return fields


def _pool_fields(n: int, dilation: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "kernel": (_sizes(1, n), Field(validation_alias=AliasChoices("kernel_size", "kernel"),
                                       description="Window size (`kernel_size`, as torch).")),
        "stride": (_sizes(1, n) | None, Field(None, description="Stride (default: the window size).")),
        "padding": (_sizes(0, n), Field(0, description="Padding per side (at most half the window).")),
        "ceil_mode": (bool, Field(False, description="Round the output size up.")),
    }
    if dilation:
        fields["dilation"] = (_sizes(1, n), Field(1, description="Dilation."))
    return fields


def _layer(cls_name: str, tags: tuple[str, ...], doc: str, **fields: Any) -> type[_Layer]:
    """A layer model of ``type`` one of ``tags`` (the first is the builder method) with ``fields``."""
    model = create_model(cls_name, __base__=_Layer, __doc__=doc, type=(Literal[tags], ...),  # type: ignore[valid-type]
                         **fields)
    return model


Conv1dLayer = _layer("Conv1dLayer", ("conv1d",), "torch.nn.Conv1d on N×C×L.", **_conv_fields(1))
Conv3dLayer = _layer("Conv3dLayer", ("conv3d",), "torch.nn.Conv3d on N×C×D×H×W.", **_conv_fields(3))
ConvTranspose1dLayer = _layer("ConvTranspose1dLayer", ("conv_transpose1d",), "torch.nn.ConvTranspose1d on N×C×L.",
                              **_conv_fields(1, transposed=True))
ConvTranspose3dLayer = _layer("ConvTranspose3dLayer", ("conv_transpose3d",), "torch.nn.ConvTranspose3d.",
                              **_conv_fields(3, transposed=True))
MaxPool1dLayer = _layer("MaxPool1dLayer", ("maxpool1d", "max_pool1d"), "torch.nn.MaxPool1d.", **_pool_fields(1, True))
MaxPool3dLayer = _layer("MaxPool3dLayer", ("maxpool3d", "max_pool3d"), "torch.nn.MaxPool3d.", **_pool_fields(3, True))
AvgPool3dLayer = _layer("AvgPool3dLayer", ("avgpool3d", "avg_pool3d"), "torch.nn.AvgPool3d.",
                        **_pool_fields(3, False))
_OUTPUT_SIZE = {"output_size": (_sizes(1, 3), Field(1, description="Output size per spatial dim."))}
AdaptiveAvgPool3dLayer = _layer("AdaptiveAvgPool3dLayer", ("adaptive_avgpool3d", "adaptive_avg_pool3d"),
                                "torch.nn.AdaptiveAvgPool3d.", **_OUTPUT_SIZE)
_EPS = {"eps": (PositiveFloat, Field(1e-5, description="Added to the variance."))}
BatchNorm1dLayer = _layer("BatchNorm1dLayer", ("batchnorm1d", "batch_norm1d"), "torch.nn.BatchNorm1d (affine).", **_EPS)
BatchNorm3dLayer = _layer("BatchNorm3dLayer", ("batchnorm3d", "batch_norm3d"), "torch.nn.BatchNorm3d (affine).", **_EPS)
DeformConv2dLayer = _layer(
    "DeformConv2dLayer", ("deform_conv2d",),
    "torchvision.ops.DeformConv2d with its offset conv: offset conv, bilinear gather of the sampled inputs, GEMM.",
    **{k: v for k, v in _conv_fields(2).items() if k != "padding"},
    padding=(_sizes(0, 2), Field(0, description="Padding per side.")),
    offset_groups=(PositiveInt, Field(1, description="Offset groups (deformable groups; divide in_channels).")))


# ---- recurrent layers ----------------------------------------------------------------------------------------
def _rnn_fields(**more: Any) -> dict[str, Any]:
    return {
        "input_size": (PositiveInt | None, Field(None, description="Input features (checked against the input).")),
        "hidden_size": (PositiveInt, Field(description="Hidden state features H.")),
        "num_layers": (PositiveInt, Field(1, description="Stacked layers.")),
        "bias": (bool, Field(True, description="Has b_ih and b_hh.")),
        "batch_first": (bool, Field(False, description="Input and output are (N, L, H) rather than (L, N, H).")),
        "dropout": (float, Field(0.0, ge=0.0, le=1.0, description="Dropout between layers (none at inference).")),
        "bidirectional": (bool, Field(False, description="Also run the sequence backwards (2·H_out outputs).")),
        **more,
    }


LstmLayer = _layer("LstmLayer", ("lstm",), "torch.nn.LSTM, lowered step by step (builders/rnn.py).",
                   **_rnn_fields(proj_size=(NonNegativeInt, Field(0, description="Projected hidden size P (0: none)."))))
GruLayer = _layer("GruLayer", ("gru",), "torch.nn.GRU, lowered step by step.", **_rnn_fields())
RnnLayer = _layer("RnnLayer", ("rnn",), "torch.nn.RNN (Elman), lowered step by step.",
                  **_rnn_fields(nonlinearity=(Literal["tanh", "relu"], Field("tanh", description="tanh or relu."))))


# ---- transformer layers --------------------------------------------------------------------------------------
LayerNormLayer = _layer(
    "LayerNormLayer", ("layernorm", "layer_norm"), "torch.nn.LayerNorm over the last dim (affine).",
    normalized_shape=(PositiveInt | None, Field(None, description="Size of the last dim (checked).")),
    eps=(PositiveFloat, Field(1e-5, description="Added to the variance.")))
RmsNormLayer = _layer(
    "RmsNormLayer", ("rmsnorm", "rms_norm"), "torch.nn.RMSNorm over the last dim (weight only).",
    normalized_shape=(PositiveInt | None, Field(None, description="Size of the last dim (checked).")),
    eps=(PositiveFloat, Field(1e-6, description="Added to the mean square.")))
SoftmaxLayer = _layer("SoftmaxLayer", ("softmax",), "torch.nn.Softmax over the last dim.",
                      dim=(Literal[-1], Field(-1, description="Only the last dim.")))
GeluLayer = _layer("GeluLayer", ("gelu",), "torch.nn.GELU: 8 flops per element.")
SiluLayer = _layer("SiluLayer", ("silu",), "torch.nn.SiLU: 4 flops per element.")
TanhLayer = _layer("TanhLayer", ("tanh",), "torch.nn.Tanh: 4 flops per element.")
EmbeddingLayer = _layer(
    "EmbeddingLayer", ("embedding",), "torch.nn.Embedding: looks up each id of its input (the input is ids).",
    num=(PositiveInt, Field(validation_alias=AliasChoices("num_embeddings", "num"), description="Table rows.")),
    dim=(PositiveInt, Field(validation_alias=AliasChoices("embedding_dim", "dim"), description="Row width.")))
MultiheadAttentionLayer = _layer(
    "MultiheadAttentionLayer", ("multihead_attention",),
    "torch.nn.MultiheadAttention: packed in_proj (3E×E) + out_proj; self-attention on one input, or [query, key, "
    "value] inputs.",
    inputs=(tuple[str] | tuple[str, str, str] | None, Field(None, description="[x] or [query, key, value].")),
    embed_dim=(PositiveInt, Field(description="Model width E (the input's last dim).")),
    num_heads=(PositiveInt, Field(description="Heads (must divide embed_dim).")),
    bias=(bool, Field(True, description="in_proj_bias and out_proj.bias.")),
    batch_first=(bool, Field(False, description="Inputs are (N, L, E) rather than (L, N, E).")),
    dropout=(float, Field(0.0, ge=0.0, le=1.0, description="Attention dropout (none at inference).")),
    causal=(bool, Field(False, description="A causal mask (recorded; the full score matrix is computed).")),
    fused=(bool, Field(False, description="One fused attention op (FlashAttention-style) instead of three.")))


LAYER_TYPES: tuple[type[_Layer], ...] = (
    Conv2dLayer, ConvTranspose2dLayer, LinearLayer, BatchNorm2dLayer, ReluLayer, Relu6Layer, SigmoidLayer,
    HardswishLayer, HardsigmoidLayer, MaxPool2dLayer, AvgPool2dLayer, AdaptiveAvgPool2dLayer, AddLayer, MulLayer,
    ConcatLayer, FlattenLayer, DropoutLayer, CenterCropLayer, Conv1dLayer, Conv3dLayer, ConvTranspose1dLayer,
    ConvTranspose3dLayer, MaxPool1dLayer, MaxPool3dLayer, AvgPool3dLayer, AdaptiveAvgPool3dLayer, BatchNorm1dLayer,
    BatchNorm3dLayer,
    LstmLayer, GruLayer, RnnLayer, LayerNormLayer, RmsNormLayer, SoftmaxLayer, GeluLayer, SiluLayer, TanhLayer,
    EmbeddingLayer, MultiheadAttentionLayer, DeformConv2dLayer,
)
_TAGS = frozenset(tag for t in LAYER_TYPES for tag in t.model_fields["type"].annotation.__args__)
METHOD = {tag: t.model_fields["type"].annotation.__args__[0] for t in LAYER_TYPES
          for tag in t.model_fields["type"].annotation.__args__}
"""Each layer type (torch's spelling too: ``max_pool3d``) → the builder method that appends it."""

LayerSpec = Annotated[Union[LAYER_TYPES], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
"""One entry of ``layers:``, chosen by its ``type``."""


def untag_layer_errors(err: ValidationError) -> ValidationError:
    """``err`` with pydantic's union tag taken out of each layer's location, so ``loc`` is the YAML key path.

    ``("layers", 3, "conv2d", "kernel_size")`` becomes ``("layers", 3, "kernel_size")``; a missing or unknown
    ``type`` is reported at ``("layers", 3, "type")``. Apply it once (:meth:`LayersParams.__init__`): on its own
    output it would strip a key named as a layer type (``("layers", 3, "dropout")``) as if it were a tag.
    """
    details = []
    for e in err.errors():
        loc = tuple(e["loc"])
        if len(loc) >= 3 and loc[0] == "layers" and isinstance(loc[1], int) and loc[2] in _TAGS:
            loc = loc[:2] + loc[3:]
        elif (e["type"] in ("union_tag_invalid", "union_tag_not_found") and loc[:1] == ("layers",)
              and loc[-1] != "type"):
            loc = (*loc, "type")
        detail = {"type": e["type"], "loc": loc, "input": e["input"]}
        if "ctx" in e:
            detail["ctx"] = e["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(err.title, details)


class LayerListBuilder(RecurrentBuilder):
    """The builder of a layer list: every GraphBuilder, TransformerBuilder and RecurrentBuilder layer, with the
    layer-list spellings of the few whose torch.nn arguments differ."""

    def conv1d(self, x: str, out_ch: int, kernel: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
               groups: int = 1, bias: bool = True, name: str | None = None) -> str:
        """torch.nn.Conv1d (GraphBuilder's, with dilation and "same" padding)."""
        return self.conv_nd(x, 1, out_ch, kernel, stride, padding, dilation, groups, bias, name)

    def adaptive_avgpool3d(self, x: str, output_size: Any = 1, name: str | None = None) -> str:
        """torch.nn.AdaptiveAvgPool3d."""
        return self.adaptive_pool(x, "avg", output_size, name)

    def _checked_norm(self, x: str, normalized_shape: int | None, what: str) -> None:
        if normalized_shape is not None and normalized_shape != self.shape(x)[-1]:
            raise WorkloadError(f"{self.name}: {what}: normalized_shape {normalized_shape} does not match the "
                                f"last dim of {x!r} {list(self.shape(x))}")

    def layer_norm(self, x: str, normalized_shape: int | None = None, eps: float = 1e-5,
                   name: str | None = None) -> str:
        """torch.nn.LayerNorm over the last dim."""
        self._checked_norm(x, normalized_shape, "layernorm")
        return self.layernorm(x, eps, name=name)

    def rms_norm(self, x: str, normalized_shape: int | None = None, eps: float = 1e-6, name: str | None = None) -> str:
        """torch.nn.RMSNorm over the last dim."""
        self._checked_norm(x, normalized_shape, "rmsnorm")
        return self.rmsnorm(x, eps, name=name)

    def mha(self, xs: Sequence[str], embed_dim: int, num_heads: int, bias: bool = True, batch_first: bool = False,
            dropout: float = 0.0, causal: bool = False, fused: bool = False, name: str | None = None) -> str:
        """torch.nn.MultiheadAttention on [x] (self-attention: one packed ``in_proj``) or [query, key, value]
        (``q_proj``, ``k_proj``, ``v_proj``: the same 3·E·(E + 1) parameters), then ``out_proj``."""
        name = self.block_name(name, "multihead_attention")
        where = f"{self.name}: multihead_attention {name!r}"
        for x in xs:
            if len(self.shape(x)) != 3 or self.shape(x)[-1] != embed_dim:
                raise WorkloadError(f"{where}: input {x!r} is {list(self.shape(x))}; expected (L, N, {embed_dim}) "
                                    f"or (N, L, {embed_dim}) with batch_first")
        if embed_dim % num_heads:
            raise WorkloadError(f"{where}: num_heads {num_heads} does not divide embed_dim {embed_dim}")
        with self.scope(name):
            ins = list(xs) if batch_first else [self.view(x, self.shape(x)[1::-1] + self.shape(x)[2:],
                                                          "transpose", name=f"batch_first{i}")
                                                for i, x in enumerate(xs)]
            out = self.multihead_attention(*ins, heads=num_heads, head_dim=embed_dim // num_heads, bias=bias,
                                           fused_qkv="in_proj" if len(xs) == 1 else None, causal=causal,
                                           fused=fused, names=("q_proj", "k_proj", "v_proj", "out_proj"))
            if not batch_first:
                out = self.view(out, self.shape(out)[1::-1] + self.shape(out)[2:], "transpose", name="seq_first")
        return out


_SPECIAL = {  # layer method → how it is called with the layer's inputs ``xs``
    "add": lambda b, xs, kw: b.add(*xs, **kw),
    "mul": lambda b, xs, kw: b.mul(*xs, **kw),
    "concat": lambda b, xs, kw: b.concat(xs, **kw),
    "multihead_attention": lambda b, xs, kw: b.mha(xs, **kw),
    "layernorm": lambda b, xs, kw: b.layer_norm(xs[0], **kw),
    "rmsnorm": lambda b, xs, kw: b.rms_norm(xs[0], **kw),
    "softmax": lambda b, xs, kw: b.softmax(xs[0], name=kw["name"]),
}


_SEQ_FIRST = frozenset({"lstm", "gru", "rnn", "multihead_attention"})
"""Layer methods whose token tensors are (L, N, ...) unless ``batch_first``: torch's layout."""
_BATCH_FIRST = frozenset({
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "deform_conv2d",
    "maxpool1d", "maxpool2d", "maxpool3d", "avgpool2d", "avgpool3d", "adaptive_avgpool2d", "adaptive_avgpool3d",
    "batchnorm1d", "batchnorm2d", "batchnorm3d", "center_crop"})
"""Layer methods whose input is N×C×…: the batch at dim 0. The other layers (linear, norms, activations, embedding,
add, ...) work on any leading dims and say nothing about where the batch is."""


def _batch_dim(p: LayersParams) -> int:
    """The dim of ``p.input`` that ``batch`` multiplies: the batch dim of the first layer that has one (dim 1 for a
    recurrent or attention layer without ``batch_first``, as torch's (L, N, E); dim 0 otherwise), dim 0 when none
    has one. A later layer that puts the batch elsewhere is an error: the list has no transpose between them."""
    first: tuple[int, int, str] | None = None  # (dim, layer index, why)
    for i, spec in enumerate(p.layers):
        method = METHOD[spec.type]
        if method in _SEQ_FIRST:
            dim, why = (0, "batch_first") if spec.batch_first else (1, "(L, N, ...) without batch_first")
        elif method in _BATCH_FIRST:
            dim, why = 0, "N×C×..."
        else:
            continue
        if first is None:
            first = (dim, i, why)
        elif dim != first[0]:
            raise WorkloadError(
                f"{p.name}: {spec.type} takes its batch at dim {dim} ({why}) but layers[{first[1]}] "
                f"{p.layers[first[1]].type} at dim {first[0]} ({first[2]}); one layer list takes one layout",
                key=("layers", i))
    return 0 if first is None else first[0]


def build_layers(p: LayersParams) -> Graph:
    """The graph of a hand-written layer list: each layer one builder call (dropout adds no op). ``batch``
    multiplies the input's batch dim (:func:`_batch_dim`)."""
    dim = _batch_dim(p)
    shape = tuple(n * p.batch if d == dim else n for d, n in enumerate(p.input))
    b = LayerListBuilder(p.name, {INPUT: shape}, dtype=p.dtype or "fp16")
    outputs: dict[str, str] = {INPUT: INPUT}  # layer name → op that holds its output (dropout aliases its input)
    prev = INPUT
    for i, spec in enumerate(p.layers):
        refs = spec.inputs if spec.inputs is not None else (prev,)
        try:
            xs = [outputs[r] for r in refs]
        except KeyError as e:
            raise WorkloadError(f"{p.name}: {spec.type}: input {e.args[0]!r} is not an earlier layer or 'input'",
                                key=("layers", i)) from None
        kwargs = spec.model_dump(exclude={"type", "inputs"})
        method = METHOD[spec.type]
        try:
            if method in _SPECIAL:
                out = _SPECIAL[method](b, xs, kwargs)
            else:
                out = getattr(b, method)(xs[0], **kwargs)
        except WorkloadError as e:  # the input's shape as written, not times batch
            raise WorkloadError(str(e).replace(f"{INPUT!r} is {list(shape)}", f"{INPUT!r} is {list(p.input)}"),
                                key=("layers", i)) from None
        if spec.name is not None:
            outputs[spec.name] = out
        outputs[out] = out
        prev = out
    # the batch is the samples the graph runs: the input's batch dim times ``batch`` (report.json's workload.batch,
    # and what j_per_inference divides by)
    return b.build({"model": "layers", **p.model_dump(), "batch": shape[dim]})


class LayersParams(WorkloadParams):
    """A network listed layer by layer (see :mod:`accelsim.builders.manual`)."""

    name: str = Field("layers", description="Name of the graph.")
    input: tuple[PositiveInt, ...] = Field(
        description="Input shape [N, C, H, W] or [N, features] ([L, N, E] for torch's sequence-first recurrent "
                    "and attention layers); batch multiplies N.")
    layers: tuple[LayerSpec, ...] = Field(description="The layers, in order.")

    @field_validator("input", "layers", mode="before")
    @classmethod
    def _long_enough(cls, value: Any, info: ValidationInfo) -> Any:
        """At least 2 input dims and 1 layer."""
        # checked on the raw list: a length constraint on the tuple would also fire when an item is invalid
        least = 2 if info.field_name == "input" else 1
        if isinstance(value, (list, tuple)) and len(value) < least:
            raise ValueError(f"expected at least {least} item{'s' if least > 1 else ''}")
        return value

    def __init__(self, **data: Any):
        """Validate ``data``; error locations are YAML key paths such as ``("layers", 3, "kernel_size")``.

        Every way in (``model_validate``, ``model_validate_json``, a nested field) reaches this ``__init__`` (a
        model with its own ``__init__`` is validated through it), so the locations are rewritten here and only
        here: a second pass would take a field that shares its name with a layer type (an lstm's ``dropout``) for
        a tag and strip it too (probe p89 #3: ``layers.0: Input should be less than or equal to 1``)."""
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise untag_layer_errors(e) from None
