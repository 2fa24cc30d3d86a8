"""The workload table: each name maps to a builder function and the pydantic model of its parameters.

The config layer validates a workload's parameters with ``BUILDERS[name].params`` (``model_validate``) and calls
:func:`build_workload`; ``accelsim info`` and the docs list each model's fields and their descriptions.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, ValidationInfo, field_validator

from ..errors import WorkloadError
from ..ir import Graph
from ..units import DTYPE_BYTES
from . import cnn, manual, micro

DType = Literal["int4", "int8", "uint8", "fp8", "int16", "fp16", "bf16", "int32", "fp32", "tf32", "fp64"]
"""Names of units.DTYPE_BYTES (a test checks they agree)."""


class WorkloadParams(BaseModel):
    """Parameters every workload takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch: PositiveInt = Field(1, description="Samples per inference (the leading dimension of the input).")
    dtype: DType | None = Field(None, description="Data type of every tensor (default: the arch's dtype).")
    mode: Literal["inference", "training"] = Field("inference", description="Forward only, or training.")


class ImageNetParams(WorkloadParams):
    """An ImageNet classifier: square RGB input."""

    num_classes: PositiveInt = Field(1000, description="Outputs of the final linear layer.")
    image_size: PositiveInt = Field(224, description="Input height and width in pixels.")


class LeNetParams(WorkloadParams):
    """LeNet-5 on 32×32 grey images."""

    num_classes: PositiveInt = Field(10, description="Outputs of the final linear layer.")
    image_size: PositiveInt = Field(32, description="Input height and width in pixels (fc1's inputs follow it).")
    in_channels: PositiveInt = Field(1, description="Input channels.")


class UNetParams(WorkloadParams):
    """U-Net segmentation (Ronneberger et al. 2015)."""

    image_size: PositiveInt = Field(572, description="Input height and width in pixels.")
    padding: Literal["valid", "same"] = Field(
        "valid", description="'valid': unpadded 3×3 convs and center-cropped skips (the paper); 'same': padded.")
    in_channels: PositiveInt = Field(1, description="Input channels.")
    num_classes: PositiveInt = Field(2, description="Output channels of the final 1×1 conv.")


class GemmParams(WorkloadParams):
    """One matrix multiply: (m × k) · (k × n)."""

    m: PositiveInt = Field(1024, description="Rows of the input and output (per batch).")
    n: PositiveInt = Field(1024, description="Columns of the output (out features).")
    k: PositiveInt = Field(1024, description="Reduction length (in features).")
    bias: bool = Field(False, description="Add a bias vector of n elements.")


class Conv2dParams(WorkloadParams):
    """One torch.nn.Conv2d layer applied to a batch×in_channels×height×width input."""

    in_channels: PositiveInt = Field(64, description="Input channels.")
    out_channels: PositiveInt = Field(64, description="Output channels.")
    kernel_size: manual.PosPair = Field(3, description="Kernel size (int or [h, w]).")
    stride: manual.PosPair = Field(1, description="Stride (int or [h, w]).")
    padding: manual.Padding = Field(1, description="Padding per side (int or [h, w]), 'same' or 'valid'.")
    dilation: manual.PosPair = Field(1, description="Dilation (int or [h, w]).")
    groups: PositiveInt = Field(1, description="Groups (in_channels for a depthwise conv).")
    bias: bool = Field(True, description="Has a bias.")
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = Field(
        "zeros", description="Accepted for torch compatibility; does not change the work.")
    height: PositiveInt = Field(56, description="Input height in pixels.")
    width: PositiveInt = Field(56, description="Input width in pixels.")


class LayersParams(WorkloadParams):
    """A network listed layer by layer (see :mod:`accelsim.builders.manual`)."""

    name: str = Field("layers", description="Name of the graph.")
    input: tuple[PositiveInt, ...] = Field(
        description="Input shape [N, C, H, W] or [N, features]; batch multiplies N.")
    layers: tuple[manual.LayerSpec, ...] = Field(description="The layers, in order.")

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
            raise manual.untag_layer_errors(e) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> LayersParams:
        """Validate ``obj``; error locations are YAML key paths such as ``("layers", 3, "kernel_size")``."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as e:
            raise manual.untag_layer_errors(e) from None


@dataclass(frozen=True)
class BuilderEntry:
    """A workload: its name, its parameters' model, the function that builds it and a one-line description."""

    name: str
    params: type[WorkloadParams]
    fn: Callable[[Any], Graph]
    description: str


BUILDERS: dict[str, BuilderEntry] = {
    e.name: e
    for e in (
        BuilderEntry("lenet5", LeNetParams, cnn.lenet5,
                     "LeNet-5 (ReLU, max-pool), 1×32×32 input, 61,706 params"),
        BuilderEntry("resnet18", ImageNetParams, cnn.resnet18, "ResNet-18 (torchvision), 11.7 M params"),
        BuilderEntry("resnet50", ImageNetParams, cnn.resnet50, "ResNet-50 v1.5 (torchvision), 25.6 M params"),
        BuilderEntry("resnet152", ImageNetParams, cnn.resnet152, "ResNet-152 v1.5 (torchvision), 60.2 M params"),
        BuilderEntry("googlenet", ImageNetParams, cnn.googlenet,
                     "GoogLeNet / Inception-v1 (torchvision, no aux heads), 6.6 M params"),
        BuilderEntry("mobilenet_v1", ImageNetParams, cnn.mobilenet_v1, "MobileNet-V1 1.0/224 (paper), 4.2 M params"),
        BuilderEntry("mobilenet_v2", ImageNetParams, cnn.mobilenet_v2, "MobileNet-V2 (torchvision), 3.5 M params"),
        BuilderEntry("mobilenet_v3_large", ImageNetParams, cnn.mobilenet_v3_large,
                     "MobileNetV3-Large (torchvision), 5.5 M params"),
        BuilderEntry("unet", UNetParams, cnn.unet, "U-Net (Ronneberger et al. 2015), 572×572 → 388×388"),
        BuilderEntry("gemm", GemmParams, micro.gemm, "one m×n×k matrix multiply (a LINEAR op)"),
        BuilderEntry("conv2d", Conv2dParams, micro.conv2d, "one torch.nn.Conv2d layer"),
        BuilderEntry("layers", LayersParams, manual.build_layers, "a network listed layer by layer in YAML"),
    )
}
"""Every workload builder by name."""


def get_builder(name: str) -> BuilderEntry:
    """The entry of workload ``name``; :class:`WorkloadError` with a "did you mean" if there is none."""
    try:
        return BUILDERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, BUILDERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(BUILDERS))}"
        raise WorkloadError(f"unknown workload {name!r}{hint}") from None


def build_workload(name: str, params: Mapping[str, object], *, default_dtype: str = "fp16") -> Graph:
    """The graph of workload ``name`` with ``params`` (validated; ``pydantic.ValidationError`` propagates).

    ``dtype`` left unset becomes ``default_dtype`` (the arch's). Training mode raises :class:`WorkloadError`
    until the training pass exists.
    """
    entry = get_builder(name)
    p = entry.params.model_validate(dict(params))
    if p.mode == "training":
        raise WorkloadError(f"training mode is not supported yet: workload {name!r} can only run mode=inference")
    if p.dtype is None:
        if default_dtype not in DTYPE_BYTES:
            raise WorkloadError(f"unknown default dtype {default_dtype!r}; expected one of {', '.join(DTYPE_BYTES)}")
        p = p.model_copy(update={"dtype": default_dtype})
    return entry.fn(p)
