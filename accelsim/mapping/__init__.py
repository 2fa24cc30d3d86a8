"""Mapping: an op graph on an architecture becomes a TaskGraph (unit choice, tiling, placement, cycle models)."""

from .lower import lower

__all__ = ["lower"]
