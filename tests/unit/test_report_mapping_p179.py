"""Probe p179 #3: the Report is documented as a read-only mapping (docs/architecture.md, report.json), so it is a
collections.abc.Mapping: the Python docs' collections.abc table gives Mapping's mixin methods as __contains__, keys,
items, values, get, __eq__ and __ne__. Before, isinstance(r, Mapping) was False and r.get("mfu") raised
AttributeError (mfu is absent on an inference run)."""

from collections.abc import Mapping

import pytest

import accelsim


def test_report_is_a_collections_mapping():
    r = accelsim.simulate("lenet5", "multicore-4")
    data = r.to_dict()
    assert isinstance(r, Mapping)
    assert "mfu" not in data  # an inference run has no mfu: get gives the default
    assert r.get("mfu") is None and r.get("mfu", 0.5) == 0.5
    assert r.get("name") == data["name"]
    assert dict(r.items()) == data and list(r.values()) == list(data.values())
    assert r == data and not (r != data) and r != {**data, "name": "other"}
    assert r == accelsim.simulate("lenet5", "multicore-4")  # deterministic: the same run is an equal mapping
    assert r.keys() == list(data)  # keys() stays a list, as before
    # still read-only, and every value handed out is a copy
    with pytest.raises(TypeError):
        r["name"] = "x"
    ops = r.get("ops")
    ops.clear()
    assert r["ops"] == data["ops"] and len(data["ops"]) > 0
    with pytest.raises(TypeError):
        hash(r)  # equal by value, like a dict
