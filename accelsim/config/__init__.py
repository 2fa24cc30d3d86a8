"""Configuration: YAML files, presets and ``--set`` overrides → validated, typed values.

The only package that reads YAML. Load an experiment with :func:`load_experiment` (or build one from a
workload and an arch with :func:`experiment_from_parts`); load one part with :func:`load_arch`,
:func:`load_workload` or :func:`load_options`; read SCALE-Sim inputs with :func:`load_scalesim`. Every problem in the input is reported
at once in one :class:`~accelsim.errors.ConfigError`, one line per problem, naming the file, line and key.
"""

from ..builders import build_graph
from .load import experiment_from_parts, load_arch, load_experiment, load_options, load_workload
from .presets import list_presets, preset_dir, resolve
from .scalesim import load_scalesim, read_scalesim_config, read_topology
from .schema import ExperimentSpec, WorkloadSpec

__all__ = [
    "ExperimentSpec",
    "WorkloadSpec",
    "build_graph",
    "experiment_from_parts",
    "list_presets",
    "load_arch",
    "load_experiment",
    "load_options",
    "load_scalesim",
    "load_workload",
    "preset_dir",
    "read_scalesim_config",
    "read_topology",
    "resolve",
]
