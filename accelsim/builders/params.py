"""The parameters every workload takes: :class:`WorkloadParams`, the base of each builder's params model.

Each builder module defines the params models of the workloads it builds next to the builder functions;
:mod:`.registry` maps the names to them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from ..units import DType


class WorkloadParams(BaseModel):
    """Parameters every workload takes. Models are built on first use (``defer_build``): a run validates one
    workload's params, so the ~60 others need not be compiled at import (start-up time)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    batch: PositiveInt = Field(1, description="Samples per inference (the leading dimension of the input).")
    dtype: DType | None = Field(None, description="Data type of every tensor (default: the arch's dtype).")
    mode: Literal["inference", "training"] = Field("inference", description="Forward only, or training.")
    optimizer: Literal["sgd", "momentum", "adam"] = Field(
        "adam", description="Training only: the optimizer step after the backward pass, with fp32 state per "
                            "parameter: 'sgd' none, 'momentum' one tensor, 'adam' two (first and second moments).")


__all__ = ["WorkloadParams"]
