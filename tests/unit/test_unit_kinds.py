"""Units as data: a new kind of compute unit is one cost module with its spec, registered by name; an arch lists
it in ``core.units`` and the mapper sends it the ops its cost model prefers. Nothing else changes."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import pytest

from accelsim import simulate
from accelsim.config import load_arch
from accelsim.errors import ConfigError

# The whole of a new unit kind: a 2:4-sparse tensor core that skips the zero half of the weights. It prices a
# linear layer at macs · (1 − sparsity) / (MACs per cycle) cycles and prefers linear layers over the array.
SPARSE_UNIT = textwrap.dedent('''
    import math

    from pydantic import BaseModel, ConfigDict, Field, PositiveInt

    from accelsim.cost import Priced
    from accelsim.hardware import register_unit_kind
    from accelsim.ir import OpKind


    class SparseTensorCore(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        macs: PositiveInt
        sparsity: float = Field(0.5, ge=0, lt=1)
        count: PositiveInt = 1


    def accepts(op):
        return 2 if op.kind is OpKind.LINEAR else None


    def macs_per_cycle(spec):
        return spec.macs


    def price(op, spec, arch):
        return Priced(math.ceil(op.macs * (1 - spec.sparsity) / spec.macs), {"sparsity": spec.sparsity})


    register_unit_kind("sparse_tensor_core", SparseTensorCore, __name__)
''')


@pytest.fixture(scope="module")
def sparse_unit(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "sparse_unit.py"
    path.write_text(SPARSE_UNIT)
    spec = importlib.util.spec_from_file_location("sparse_unit", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sparse_unit"] = module
    spec.loader.exec_module(module)
    yield module
    from accelsim.hardware import UNIT_KINDS

    UNIT_KINDS.pop("sparse_tensor_core", None)
    sys.modules.pop("sparse_unit", None)


def _arch():
    return load_arch({"base": "gemmini", "core": {"units": {"stc": {"kind": "sparse_tensor_core", "macs": 128}}}})


def test_a_registered_unit_kind_runs_the_ops_it_prefers(sparse_unit):
    rep = simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, _arch()).to_dict()
    (op,) = [o for o in rep["ops"] if o["kind"] == "linear"]
    assert op["unit"] == "core0.stc"
    # hand count: 256³ MACs, half of them skipped, at 128 MACs per cycle: 256³ / 2 / 128 = 65,536 cycles
    assert op["compute_cycles"] == 256 ** 3 // 2 // 128
    assert op["mapping"]["sparsity"] == 0.5
    assert "core0.stc" in rep["utilization"]


def test_without_the_unit_the_same_op_stays_on_the_array(sparse_unit):
    rep = simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, "gemmini").to_dict()
    (op,) = [o for o in rep["ops"] if o["kind"] == "linear"]
    assert op["unit"].startswith("core0.systolic")


def test_an_unknown_unit_kind_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="unknown unit kind 'warp_engine'") as e:
        load_arch({"base": "gemmini", "core": {"units": {"x": {"kind": "warp_engine"}}}})
    assert "\n" not in str(e.value)
