"""Workload builders: (name, params) → :class:`accelsim.ir.Graph`.

:mod:`.layers` holds :class:`GraphBuilder` (one method per layer kind, torch.nn shape inference) and
:mod:`.tlayers` its transformer extension; :mod:`.cnn`, :mod:`.transformer`, :mod:`.recsys`, :mod:`.gnn`,
:mod:`.micro` and :mod:`.manual` build whole workloads, each with the pydantic params models of its workloads
(based on :class:`~.params.WorkloadParams`); :mod:`.registry` maps names to (builder, params model);
:mod:`.build` validates params, defaults the dtype and adds the training step (:mod:`.training`).
"""

from .build import build_graph, build_workload, config_dtype
from .layers import GraphBuilder
from .params import WorkloadParams
from .registry import BUILDERS, BuilderEntry, get_builder

__all__ = ["BUILDERS", "BuilderEntry", "GraphBuilder", "WorkloadParams", "build_graph", "build_workload", "config_dtype",
           "get_builder"]
