"""Workload builders: (name, params) → :class:`accelsim.ir.Graph`.

:mod:`.layers` holds :class:`GraphBuilder` (one method per layer kind, torch.nn shape inference);
:mod:`.cnn`, :mod:`.micro` and :mod:`.manual` build whole workloads; :mod:`.registry` maps names to them.
"""

from .layers import GraphBuilder
from .registry import BUILDERS, BuilderEntry, WorkloadParams, build_workload, get_builder

__all__ = ["BUILDERS", "BuilderEntry", "GraphBuilder", "WorkloadParams", "build_workload", "get_builder"]
