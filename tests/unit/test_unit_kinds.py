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


# ---- bad input to a registered kind's spec, from YAML: one line naming file, line and key, never a Python error -----
LAX_COST = textwrap.dedent('''
    def accepts(op):
        return None


    def macs_per_cycle(spec):
        return spec.macs
''')


@pytest.fixture
def arch_file(sparse_unit, tmp_path, monkeypatch):
    """Writes an arch YAML whose unit ``u`` has the given lines (line 5 is ``kind:``, then one line per field)."""
    from pydantic import BaseModel

    from accelsim.hardware import register_unit_kind

    class Lax(BaseModel):  # no constraints at all: a spec that trusts its input
        macs: int
        rate: float = 1.0
        shapes: list[int] = []

    (tmp_path / "lax_cost.py").write_text(LAX_COST + "\n\ndef price(op, spec, arch):\n    return None\n")
    (tmp_path / "half_cost.py").write_text(LAX_COST)  # no price()
    monkeypatch.syspath_prepend(str(tmp_path))
    for kind, module in (("lax", "lax_cost"), ("half", "half_cost"), ("ghost", "no_such_cost_module_17")):
        register_unit_kind(kind, Lax, module)

    def write(*lines):
        path = tmp_path / "arch.yaml"
        path.write_text("\n".join(["base: gemmini", "core:", "  units:", "    u:", *lines]) + "\n")
        return path

    yield write
    from accelsim.hardware import UNIT_KINDS

    for kind in ("lax", "half", "ghost"):
        UNIT_KINDS.pop(kind)


@pytest.mark.parametrize("lines, where, message", [
    (["      kind: sparse_tensor_core", "      macs: 128", "      bogus: 1"], ":7: core.units.u.bogus:", "Extra"),
    (["      kind: sparse_tensor_core", "      macs: -5"], ":6: core.units.u.macs:", "greater than 0"),
    (["      kind: sparse_tensor_core", "      macs: .nan"], ":6: core.units.u.macs:", "finite"),
    (["      kind: lax", "      macs: 8", "      rate: 1e400"], ":7: core.units.u.rate:", "finite"),
    (["      kind: lax", "      macs: 8", "      rate: .inf"], ":7: core.units.u.rate:", "finite"),
    (["      kind: lax", "      macs: true"], ":6: core.units.u.macs:", "not a boolean"),
    (["      kind: lax", "      macs: 99999999999999999999"], ":6: core.units.u.macs:", "too large"),
    (["      kind: lax", "      macs: hello"], ":6: core.units.u.macs:", "valid integer"),
    (["      kind: sparse_tensor_core"], ":4: core.units.u.macs:", "Field required"),
    (["      kind: [1]"], ":5: core.units.u.kind:", "unknown unit kind"),
    # (0 is a unit that does no MACs, a softmax accelerator: allowed; a negative rate is not)
    (["      kind: lax", "      macs: -1"], ":5: core.units.u.kind:", "macs_per_cycle gives -1 for this spec (need a number ≥ 0"),
    (["      kind: half", "      macs: 8"], ":5: core.units.u.kind:", "does not define price"),
    (["      kind: ghost", "      macs: 8"], ":5: core.units.u.kind:", "cannot be imported (ModuleNotFoundError"),
])
def test_bad_unit_specs_are_one_line_errors_at_their_key(arch_file, lines, where, message):
    with pytest.raises(ConfigError) as e:
        load_arch(arch_file(*lines))
    text = str(e.value)
    assert "\n" not in text
    assert f"arch.yaml{where}" in text and message in text


def test_a_huge_list_of_bad_values_prints_a_bounded_number_of_lines(arch_file):
    from accelsim.config.schema import MAX_ISSUES

    shapes = ", ".join(["x"] * 5000)
    with pytest.raises(ConfigError) as e:
        load_arch(arch_file("      kind: lax", "      macs: 8", f"      shapes: [{shapes}]"))
    lines = str(e.value).splitlines()
    # 5,000 bad items: the first MAX_ISSUES (50) each on a line, and one line counting the 4,950 others
    assert len(lines) == MAX_ISSUES + 1
    assert sum("core.units.u.shapes." in line for line in lines) == MAX_ISSUES
    assert any(line.endswith(f"{5000 - MAX_ISSUES:,} more problems not shown") for line in lines)


def test_register_unit_kind_refuses_what_is_not_a_spec_model():
    from accelsim.hardware import register_unit_kind

    with pytest.raises(TypeError, match="pydantic model class"):
        register_unit_kind("k", dict, "m")
    with pytest.raises(ValueError, match="must be a name"):
        register_unit_kind("", dict, "m")
