"""accelsim: a discrete-event simulator of deep-learning accelerators."""

__version__ = "0.1.0"
