"""Mapping: an op graph on an architecture becomes a TaskGraph (unit choice, tiling, placement, cycle models)."""

from .lower import activations_as_run, convs_as_run, data_parallel, dtypes_as_run, lower, placement, stored_as_run

__all__ = ["activations_as_run", "convs_as_run", "data_parallel", "dtypes_as_run", "lower", "placement", "stored_as_run"]
