"""A workload listed layer by layer (``model: layers``), as already-parsed YAML mappings.

```yaml
model: layers
input: [1, 1, 32, 32]          # the graph input, N×C×H×W or N×features; batch multiplies N
layers:
  - {type: conv2d, name: conv1, out_channels: 6, kernel_size: 5}
  - {type: relu}               # reads the previous layer
  - {type: add, inputs: [conv1, relu]}
```

Each layer is a mapping with ``type`` (a :class:`~accelsim.builders.layers.GraphBuilder` method: conv2d,
conv_transpose2d, linear, batchnorm2d, relu, relu6, sigmoid, hardswish, hardsigmoid, maxpool2d, avgpool2d,
adaptive_avgpool2d, add, mul, concat, flatten, dropout, center_crop), an optional ``name``, optional ``inputs``
(names of earlier layers, or ``input`` for the graph input; default: the previous layer) and that method's
keyword arguments. Each type is a pydantic model with ``extra="forbid"``; :func:`untag_layer_errors` rewrites
pydantic's error locations to the YAML key path (``("layers", 3, "kernel_size")``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ..errors import WorkloadError
from ..ir import Graph
from .layers import INPUT, GraphBuilder
from .params import WorkloadParams


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

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="Op name (default: made from the type, unique).")
    inputs: tuple[str] | None = Field(None, description="The layer it reads (default: the previous layer).")


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


LAYER_TYPES: tuple[type[_Layer], ...] = (
    Conv2dLayer, ConvTranspose2dLayer, LinearLayer, BatchNorm2dLayer, ReluLayer, Relu6Layer, SigmoidLayer,
    HardswishLayer, HardsigmoidLayer, MaxPool2dLayer, AvgPool2dLayer, AdaptiveAvgPool2dLayer, AddLayer, MulLayer,
    ConcatLayer, FlattenLayer, DropoutLayer, CenterCropLayer,
)
_TAGS = frozenset(t.model_fields["type"].annotation.__args__[0] for t in LAYER_TYPES)

LayerSpec = Annotated[
    Conv2dLayer | ConvTranspose2dLayer | LinearLayer | BatchNorm2dLayer | ReluLayer | Relu6Layer | SigmoidLayer
    | HardswishLayer | HardsigmoidLayer | MaxPool2dLayer | AvgPool2dLayer | AdaptiveAvgPool2dLayer | AddLayer
    | MulLayer | ConcatLayer | FlattenLayer | DropoutLayer | CenterCropLayer,
    Field(discriminator="type"),
]
"""One entry of ``layers:``, chosen by its ``type``."""


def untag_layer_errors(err: ValidationError) -> ValidationError:
    """``err`` with pydantic's union tag taken out of each layer's location, so ``loc`` is the YAML key path.

    ``("layers", 3, "conv2d", "kernel_size")`` becomes ``("layers", 3, "kernel_size")``; a missing or unknown
    ``type`` is reported at ``("layers", 3, "type")``.
    """
    details = []
    for e in err.errors():
        loc = tuple(e["loc"])
        if len(loc) >= 3 and loc[0] == "layers" and isinstance(loc[1], int) and loc[2] in _TAGS:
            loc = loc[:2] + loc[3:]
        elif (e["type"] in ("union_tag_invalid", "union_tag_not_found") and loc[:1] == ("layers",)
              and loc[-1] != "type"):  # idempotent: pydantic may route model_validate through __init__
            loc = (*loc, "type")
        detail = {"type": e["type"], "loc": loc, "input": e["input"]}
        if "ctx" in e:
            detail["ctx"] = e["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(err.title, details)


def build_layers(p: LayersParams) -> Graph:
    """The graph of a hand-written layer list: each layer one GraphBuilder call (dropout adds no op)."""
    shape = (p.input[0] * p.batch, *p.input[1:])
    b = GraphBuilder(p.name, shape, dtype=p.dtype or "fp16")
    outputs: dict[str, str] = {INPUT: INPUT}  # layer name → op that holds its output (dropout aliases its input)
    prev = INPUT
    for i, spec in enumerate(p.layers):
        refs = spec.inputs if spec.inputs is not None else (prev,)
        try:
            xs = [outputs[r] for r in refs]
        except KeyError as e:
            raise WorkloadError(f"{p.name}: layers[{i}] ({spec.type}): input {e.args[0]!r} is not an earlier "
                                f"layer or 'input'") from None
        kwargs = spec.model_dump(exclude={"type", "inputs"})
        method = getattr(b, spec.type)
        try:
            if spec.type in ("add", "mul"):
                out = method(*xs, **kwargs)
            elif spec.type == "concat":
                out = method(xs, **kwargs)
            else:
                out = method(xs[0], **kwargs)
        except WorkloadError as e:
            raise WorkloadError(f"{e} (layers[{i}])") from None
        if spec.name is not None:
            outputs[spec.name] = out
        outputs[out] = out
        prev = out
    return b.build({"model": "layers", **p.model_dump()})


class LayersParams(WorkloadParams):
    """A network listed layer by layer (see :mod:`accelsim.builders.manual`)."""

    name: str = Field("layers", description="Name of the graph.")
    input: tuple[PositiveInt, ...] = Field(
        description="Input shape [N, C, H, W] or [N, features]; batch multiplies N.")
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
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise untag_layer_errors(e) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> LayersParams:
        """Validate ``obj``; error locations are YAML key paths such as ``("layers", 3, "kernel_size")``."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as e:
            raise untag_layer_errors(e) from None
