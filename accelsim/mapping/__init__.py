"""Mapping: an op graph on an architecture becomes a TaskGraph (unit choice, tiling, placement, cycle models)."""

from .lower import data_parallel, lower, placement

__all__ = ["data_parallel", "lower", "placement"]
