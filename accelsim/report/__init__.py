"""Report: a finished simulation's totals, per-op table, roofline, files and plots."""

from .result import Report, live_dict
from .summary import build_report

__all__ = ["Report", "build_report", "live_dict"]
