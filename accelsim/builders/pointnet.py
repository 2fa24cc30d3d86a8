"""PointNet classification (Qi et al. 2017, "PointNet: Deep Learning on Point Sets for 3D Classification and
Segmentation", Fig. 2 and the authors' models/pointnet_cls.py), as torch modules over (N, C, points) tensors.

* Shared MLPs are 1-D convolutions with kernel 1 (CONV fn "conv1d", m = N·points), each with bias, then
  BatchNorm1d (folded into the conv) and ReLU.
* T-Net(K) (``input_transform`` K = 3 on the coordinates, ``feature_transform`` K = 64): shared MLP 64, 128,
  1024, a max pool over the points (POOL fn "max", adaptive, one compare per input element), fc 512 and 256 with
  batch norm and ReLU, and fc 256 → K² (its bias starts at the identity, so no add); the K×K matrix multiplies
  every point: MATMUL ``Gemm(m = points, n = K, k = K, count = N)``.
* The network: input transform, shared MLP (64, 64), feature transform, shared MLP (64, 128, 1024), max pool,
  fc 512, 256 with batch norm and ReLU (dropout at inference is the identity), fc to ``classes``.

Parameters at 40 classes: 3,480,049 (the paper's "3.5M"; worked out in tests/unit/test_pointnet.py).
"""

from __future__ import annotations

from pydantic import Field, PositiveInt

from ..ir import Gemm, Graph
from .params import WorkloadParams
from .tlayers import TransformerBuilder


class PointNetParams(WorkloadParams):
    """PointNet classification on a point cloud."""

    points: PositiveInt = Field(1024, description="Points per cloud (ModelNet40 in the paper: 1024).")
    classes: PositiveInt = Field(40, description="Outputs of the final linear layer (ModelNet40: 40).")


def _shared_mlp(b: TransformerBuilder, x: str, widths: tuple[int, ...], start: int = 1) -> str:
    for i, width in enumerate(widths, start=start):
        x = b.batchnorm1d(b.conv1d(x, width, 1, name=f"conv{i}"), name=f"bn{i}")
        x = b.relu(x, name=f"relu{i}")
    return x


def _fc_bn_relu(b: TransformerBuilder, x: str, widths: tuple[int, ...]) -> str:
    for i, width in enumerate(widths, start=1):
        x = b.relu(b.batchnorm1d(b.linear(x, width, name=f"fc{i}"), name=f"fc_bn{i}"), name=f"fc_relu{i}")
    return x


def _max_over_points(b: TransformerBuilder, x: str) -> str:
    return b.flatten(b.adaptive_pool(x, "max", 1, name="maxpool"), name="global_feature")


def _transform(b: TransformerBuilder, x: str, scope: str) -> str:
    """T-Net(K) on ``x`` (N, K, points), then ``x`` multiplied by the K×K matrix it predicts."""
    n, k, points = b.shape(x)
    with b.scope(scope):
        t = _max_over_points(b, _shared_mlp(b, x, (64, 128, 1024)))
        t = b.linear(_fc_bn_relu(b, t, (512, 256)), k * k, name="fc3")
        t = b.view(t, (n, k, k), name="matrix")
        return b.matmul([x, t], (n, k, points), Gemm(m=points, n=k, k=k, count=n), name="apply")


def pointnet_cls(p: PointNetParams) -> Graph:
    """PointNet classification (see the module docstring)."""
    b = TransformerBuilder("pointnet_cls", {"input": (p.batch, 3, p.points)}, dtype=p.dtype or "fp16")
    x = _transform(b, "input", "input_transform")
    with b.scope("mlp1"):
        x = _shared_mlp(b, x, (64, 64))
    x = _transform(b, x, "feature_transform")
    with b.scope("mlp2"):
        x = _max_over_points(b, _shared_mlp(b, x, (64, 128, 1024)))
    with b.scope("head"):
        x = b.linear(_fc_bn_relu(b, x, (512, 256)), p.classes, name="fc3")
    return b.build({"model": "pointnet_cls", **p.model_dump()})
