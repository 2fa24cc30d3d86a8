"""An Arch is frozen down to its dicts and lists (probe p47 #2): editing one in place raised nothing, and the
pricing memo then kept the prices of the arch's first contents, so a result depended on what ran before."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest
from pydantic import BaseModel

import accelsim
from accelsim.builders.layers import GraphBuilder
from accelsim.config.presets import list_presets
from accelsim.hardware import FrozenDict, FrozenList
from accelsim.ir import Graph, Op, OpKind

PLUGINS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "plugins"


def _mutable_containers(value, path="arch"):
    """Paths of the plain (editable) dicts and lists anywhere in ``value``."""
    out = []
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            out += _mutable_containers(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, dict):
        if type(value) is not FrozenDict:
            out.append(path)
        for k, v in value.items():
            out += _mutable_containers(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        if isinstance(value, list) and type(value) is not FrozenList:
            out.append(path)
        for i, v in enumerate(value):
            out += _mutable_containers(v, f"{path}.{i}")
    return out


def test_no_container_of_any_preset_or_plug_in_arch_can_be_edited(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))  # the CIM crossbar unit's module (core.units)
    archs = [accelsim.load_arch(name) for name in list_presets("arch")]
    archs.append(accelsim.load_arch(PLUGINS / "npu-cim.yaml"))
    assert len(archs) > 20
    for arch in archs:
        assert _mutable_containers(arch) == [], arch.name
        # the same for the level copies that look-ups by name return
        for name in arch.memories + arch.caches:
            assert _mutable_containers(arch.memory(name)) == []


def test_an_in_place_edit_raises_and_the_arch_still_dumps_pickles_and_copies():
    arch = accelsim.load_arch({"base": "tpu-v1", "core": {"vector": {"cycles_per_element": {"my_act": 20}}}})
    with pytest.raises(TypeError, match="read-only"):
        arch.core.vector.cycles_per_element["my_act"] = 80
    with pytest.raises(TypeError, match="read-only"):
        arch.core.vector.cycles_per_element.update(my_act=80)
    with pytest.raises(TypeError, match="read-only"):
        arch.core.systolic.rates.pop("int8")
    assert arch.core.vector.cycles_per_element["my_act"] == 20
    dumped = arch.model_dump(mode="json")
    assert json.loads(json.dumps(dumped)) == dumped
    again = accelsim.load_arch(arch.model_dump())  # a dump loads back into an equal arch
    assert again == arch
    assert pickle.loads(pickle.dumps(arch)) == arch  # a sweep worker gets it pickled
    assert copy.deepcopy(arch) == arch


def _mlp_with_custom_act() -> Graph:
    b = GraphBuilder("mlp_custom", (8, 1024), dtype="int8")
    fc = b.linear(b.input, 4096, name="fc1")
    built = b.build()
    act = Op("act", OpKind.ACTIVATION, (fc,), ((8, 4096),), (8, 4096), dtype="int8",
             flops=20 * 8 * 4096, vector_elems=8 * 4096, attrs={"fn": "my_act"})
    return Graph("mlp_custom", [*built.ops, act], built.inputs)


def test_the_price_of_a_changed_cost_comes_from_a_new_arch_whatever_ran_before():
    g = _mlp_with_custom_act()
    slow = accelsim.load_arch({"base": "tpu-v1", "core": {"vector": {"cycles_per_element": {"my_act": 20}}}})
    fast = accelsim.load_arch({"base": "tpu-v1", "core": {"vector": {"cycles_per_element": {"my_act": 80}}}})

    def act_cycles(arch):
        return {o["name"]: o["compute_cycles"] for o in accelsim.simulate(g, arch).to_dict()["ops"]}["act"]

    # tpu-v1's vector unit has 256 lanes: 8·4096 elements · 20 cycles / 256 = 2,560; at 80: 10,240
    assert act_cycles(slow) == 8 * 4096 * 20 // 256 == 2560
    assert act_cycles(fast) == 8 * 4096 * 80 // 256 == 10240
    assert act_cycles(slow) == 2560  # and back: no price leaks between runs
