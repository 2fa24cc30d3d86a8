"""Engine: replays a TaskGraph on a SimPy event loop and returns a Trace."""

from .sim import simulate

__all__ = ["simulate"]
