"""Shared by the hf config tests: a config the loader refuses, in one line naming its field."""

from __future__ import annotations

import pytest

from accelsim.config import load_workload
from accelsim.errors import ConfigError


def refused(config: dict, field: str, **params: object) -> str:
    """The one-line ConfigError ``load_workload`` raises for an hf ``config``, which must name ``field``."""
    with pytest.raises(ConfigError) as e:
        load_workload({"model": "hf", "config": config, **params})
    msg = str(e.value)
    assert f"{field}:" in msg and "\n" not in msg.strip(), msg
    return msg
