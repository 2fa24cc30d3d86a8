"""Probe p91 #7: ``from_onnx`` took ``batch=True`` and a ``dims`` size of True as 1 (pydantic's lax int); a boolean
is no size, as the config schema says for a workload file."""

from __future__ import annotations

import pytest

from accelsim.builders.importers import _checked
from accelsim.errors import WorkloadError


@pytest.mark.parametrize("args, key", [({"batch": True}, "batch"), ({"dims": {"seq": True}}, "dims.seq"),
                                       ({"batch": False}, "batch")])
def test_a_boolean_size_is_refused_at_its_key(args, key):
    with pytest.raises(WorkloadError, match=rf"^{key}: expected a number, not a boolean \(got (True|False)\)"):
        _checked(**args)


def test_integer_sizes_still_pass():
    p = _checked(batch=3, dims={"seq": 10})
    assert p.batch == 3 and p.dims == {"seq": 10}
