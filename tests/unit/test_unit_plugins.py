"""Plug-in unit kinds end to end (docs/configuration.md, "Plug-in unit kinds"): the worked example of
docs/examples/plugins (an analog compute-in-memory crossbar unit, kind ``cim_crossbar``) loaded through an arch's
``plugins``, its kind kept with its spec, its fields in every dump, its MACs in the chip's peak, its own area and
MAC energy, the accepts() contract; and the arch checks met on the way (a granule larger than its level, a clock or
bandwidth without its unit), the report's level order and ``accelsim info ARCH``."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from accelsim import simulate
from accelsim.cli import main
from accelsim.config import experiment_from_parts, load_arch
from accelsim.cost import Priced
from accelsim.energy import constants
from accelsim.errors import ConfigError, MappingError
from accelsim.hardware import UNIT_KINDS, Arch, register_unit_kind
from accelsim.ir import OpKind
from accelsim.report.schema import problems
from accelsim.sweep.expand import point_id

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "plugins"
ARCH = EXAMPLE / "npu-cim.yaml"
GEMM = {"model": "gemm", "m": 64, "n": 1024, "k": 1024}
# the example's unit on edge-npu (arch/edge-npu.yaml: one core, a 32 x 32 array at 1 GHz) with its defaults:
# 256 x 256 crossbars, 16 of them, one MVM per 100 cycles
ARRAY_MACS = 32 * 32
XBAR_MACS = 256 * 256 * 16 / 100  # cim_crossbar.macs_per_cycle: every cell of every crossbar once per MVM
# the 64 x 1024 x 1024 linear on it: (1024 / 256) x (1024 / 256) = 16 tiles, one round of 16 crossbars, each of the
# 64 input rows one MVM of 100 cycles: 64 x 1 x 100
XBAR_CYCLES = 64 * 1 * 100



def _arch(**unit):
    return load_arch({"base": "edge-npu", "core": {"units": {"xbar": {"kind": "cim_crossbar", **unit}}}})


# ---- 1. a unit's fields and kind in every dump --------------------------------------------------------------------
def test_a_dump_writes_each_unit_with_its_kind_and_fields_and_loads_back(cim):
    arch = _arch(mvm_cycles=10)
    dumped = arch.model_dump()["core"]["units"]["xbar"]
    assert dumped["kind"] == "cim_crossbar" and dumped["mvm_cycles"] == 10 and dumped["crossbars"] == 16
    again = load_arch(arch)  # an Arch is loaded again through its dump (it was refused: "give the unit's 'kind'")
    assert again == arch and again.core.unit_specs()[2].kind == "cim_crossbar"


def test_a_sweep_over_a_units_field_makes_one_point_per_value(cim):
    # the point id hashes the resolved arch: with the unit dumped as {} all three were one point
    specs = [experiment_from_parts("gemm", str(ARCH), overrides=[f"arch.core.units.xbar.mvm_cycles={c}"])
             for c in (10, 100, 1000)]
    assert len({point_id(s) for s in specs}) == 3
    rep = simulate(GEMM, specs[0].arch).to_dict()
    assert rep["arch"]["units"]["xbar"] == {**specs[0].arch.model_dump(mode="json")["core"]["units"]["xbar"]}
    assert rep["arch"]["units"]["xbar"]["mvm_cycles"] == 10
    assert problems(rep) == []  # report.schema declares the key


# ---- 2. its MACs in the chip's peak ----------------------------------------------------------------------------
def test_mac_utilization_and_the_roofline_count_the_units_macs(cim):
    rep = simulate(GEMM, ARCH).to_dict()
    (op,) = rep["ops"]
    assert op["unit"] == "core0.xbar" and op["compute_cycles"] == XBAR_CYCLES
    peak = ARRAY_MACS + XBAR_MACS  # 1,024 + 10,485.76 MACs a cycle
    assert rep["arch"]["peak_macs_per_cycle"] == pytest.approx(peak)
    # 64 x 1024 x 1024 = 67,108,864 MACs over the run at that peak (it was 1.41: the array's 1,024 alone)
    assert rep["mac_utilization"] == pytest.approx(64 * 1024 * 1024 / (rep["total_cycles"] * peak))
    assert rep["mac_utilization"] <= 1
    assert rep["roofline"]["peak_flops_per_s"] == pytest.approx(2 * peak * 1e9)  # no rates: the base rate, 1 GHz


# ---- 3. the kind written is the kind used ---------------------------------------------------------------------------
def test_two_kinds_sharing_one_spec_model_keep_their_own_cost_models(cim):
    slow = types.ModuleType("cim_slow_for_test")
    slow.accepts = cim.accepts
    slow.macs_per_cycle = lambda s: cim.macs_per_cycle(s) / 10
    slow.price = lambda op, spec, arch: Priced(10 * cim.price(op, spec, arch).cycles, {"variant": "slow"})
    sys.modules[slow.__name__] = slow
    register_unit_kind("cim_slow", cim.Crossbars, slow.__name__)
    try:
        fast = simulate(GEMM, _arch()).to_dict()["ops"][0]
        slowed = simulate(GEMM, load_arch({"base": "edge-npu", "core": {"units": {"xbar": {"kind": "cim_slow"}}}}))
        assert fast["compute_cycles"] == XBAR_CYCLES and "variant" not in fast["mapping"]  # was cim_slow's 64,000
        assert slowed.to_dict()["ops"][0]["compute_cycles"] == 10 * XBAR_CYCLES
    finally:
        UNIT_KINDS.pop("cim_slow", None)
        sys.modules.pop(slow.__name__, None)


RELOADED = textwrap.dedent('''
    from pydantic import BaseModel
    from accelsim.cost import Priced
    from accelsim.hardware import register_unit_kind
    from accelsim.ir import OpKind

    class Spec(BaseModel):
        macs: int = 64

    def accepts(op):
        return 2 if op.kind is OpKind.LINEAR else None

    def macs_per_cycle(spec):
        return spec.macs

    def price(op, spec, arch):
        return Priced(FACTOR * op.macs // spec.macs, {})

    register_unit_kind("reloaded_unit", Spec, __name__)
''')


def test_an_arch_loaded_before_its_module_is_reloaded_is_priced_by_the_new_module(tmp_path, monkeypatch):
    path = tmp_path / "reloaded_unit_mod.py"
    path.write_text("FACTOR = 1\n" + RELOADED)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("reloaded_unit_mod")
    try:
        arch = load_arch({"base": "edge-npu", "core": {"units": {"u": {"kind": "reloaded_unit"}}}})
        # 64 x 1024 x 1024 MACs at 64 a cycle: 1,048,576 cycles, then three times that
        assert simulate(GEMM, arch).to_dict()["ops"][0]["compute_cycles"] == 64 * 1024 * 1024 // 64
        path.write_text("FACTOR = 3\n" + RELOADED)
        importlib.invalidate_caches()
        importlib.reload(module)  # a new Spec class: the arch's spec is of the old one (it was a raw KeyError)
        assert simulate(GEMM, arch).to_dict()["ops"][0]["compute_cycles"] == 3 * 64 * 1024 * 1024 // 64
    finally:
        UNIT_KINDS.pop("reloaded_unit", None)
        sys.modules.pop("reloaded_unit_mod", None)


# ---- 4. its own area and MAC energy -------------------------------------------------------------------------------
def test_without_hooks_its_area_is_its_macs_at_the_arrays_pe_area(cim):
    area = simulate(GEMM, _arch()).to_dict()["area"]["units"]
    # both derived from MACs per cycle at one PE area: per MAC the unit's area is the array's (it was 0 mm²)
    assert area["xbar"] > 0
    assert area["xbar"] / XBAR_MACS == pytest.approx(area["systolic"] / ARRAY_MACS)


def test_the_kinds_own_area_and_pj_per_mac_are_taken_as_written(cim):
    rep = simulate(GEMM, _arch(count=2, area_mm2=0.5, pj_per_mac=0.05)).to_dict()
    assert rep["area"]["units"]["xbar"] == pytest.approx(2 * 0.5)  # 2 units a core x 0.5 mm², one core
    # every MAC of the run is on the crossbars: 67,108,864 x 0.05 pJ
    assert rep["energy"]["mac_j"] == pytest.approx(64 * 1024 * 1024 * 0.05e-12)


def test_a_bad_hook_value_is_a_one_line_error_at_the_units_kind(cim, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base: {ARCH}\ncore:\n  units:\n    xbar:\n      kind: cim_crossbar\n      area_mm2: .nan\n")
    with pytest.raises(ConfigError) as e:
        load_arch(bad)
    assert "\n" not in str(e.value) and "core.units.xbar.area_mm2" in str(e.value)
    cim_hook = cim.pj_per_mac
    cim.pj_per_mac = lambda spec, dtype: -1.0
    try:
        with pytest.raises(ConfigError, match=r"core\.units\.xbar\.kind: .*pj_per_mac gives -1\.0") as e:
            _arch()
        assert "\n" not in str(e.value)
    finally:
        cim.pj_per_mac = cim_hook


def test_a_misspelt_field_of_a_units_spec_gets_a_did_you_mean_at_its_line(cim, tmp_path):
    # as a built-in key's does (arch.hbm.bandwith -> 'bandwidth'): the plug-in's spec model gives the names, the
    # kind coming from the file itself or from its base (probe p47 #6)
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base: {ARCH}\ncore:\n  units:\n    xbar:\n      mvm_cyclez: 5\n")
    with pytest.raises(ConfigError) as e:
        load_arch(bad)
    assert str(e.value) == (f"{bad}:5: core.units.xbar.mvm_cyclez: Extra inputs are not permitted; "
                            "did you mean 'mvm_cycles'? (got 5)")
    with pytest.raises(ConfigError, match=r"units\.xbar\.crosbars: .*; did you mean 'crossbars'\?"):
        _arch(crosbars=4)
    with pytest.raises(ConfigError, match=r"units\.xbar\.knid: .*; did you mean 'kind'\?"):
        load_arch({"base": str(ARCH), "core": {"units": {"xbar": {"knid": "cim_crossbar"}}}})


# ---- 5. the command line's route: plugins in the arch file --------------------------------------------------------
def _cli(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # accelsim from this tree, the plug-in from the arch's folder only
    return subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_worked_example_runs_from_the_command_line(tmp_path):
    out = tmp_path / "out"
    done = _cli(tmp_path, "run", "-w", "gemm", "-a", str(ARCH), "--set", "workload.m=64", "--set", "workload.n=1024",
                "--set", "workload.k=1024", "--no-plots", "-q", "-o", str(out))
    assert done.returncode == 0, done.stderr
    (op,) = json.loads((out / "report.json").read_text())["ops"]
    assert op["unit"] == "core0.xbar" and op["compute_cycles"] == XBAR_CYCLES


def test_a_plugin_that_cannot_be_imported_is_a_one_line_error_at_its_line(tmp_path):
    (tmp_path / "a.yaml").write_text("base: edge-npu\nplugins: [no_such_plugin_module_17]\n")
    done = _cli(tmp_path, "run", "-w", "gemm", "-a", "a.yaml", "-q")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("accelsim: error: a.yaml:2: plugins.0: cannot import 'no_such_plugin_module_17'")


def test_a_kind_nobody_registered_names_plugins(tmp_path):
    (tmp_path / "a.yaml").write_text("base: edge-npu\ncore:\n  units:\n    x: {kind: cim_crossbar}\n")
    with pytest.raises(ConfigError, match="unknown unit kind 'cim_crossbar'.*plugins: \\[module\\]"):
        load_arch(tmp_path / "a.yaml")


# ---- 8. accepts(): None / False, True, a number -------------------------------------------------------------------
def _kind(name, accepts):
    module = types.ModuleType(f"{name}_cost")
    module.accepts = accepts
    module.macs_per_cycle = lambda spec: 1024
    module.price = lambda op, spec, arch: Priced(op.macs // 1024, {})
    sys.modules[module.__name__] = module
    register_unit_kind(name, sys.modules["cim_crossbar"].Crossbars, module.__name__)


@pytest.fixture
def kinds(cim):
    yield _kind
    for name in ("says_true", "says_false", "says_what"):
        UNIT_KINDS.pop(name, None)
        sys.modules.pop(f"{name}_cost", None)


def _on(kind):
    return load_arch({"base": "edge-npu", "core": {"units": {"u": {"kind": kind}}}})


def test_a_unit_whose_accepts_returns_true_runs_the_op(kinds):
    kinds("says_true", lambda op: op.kind is OpKind.LINEAR)  # True ties the array's 1: the plug-in takes it
    kinds("says_false", lambda op: False if op.kind is OpKind.LINEAR else None)
    rep = simulate(GEMM, _on("says_true")).to_dict()
    assert rep["ops"][0]["unit"] == "core0.u" and rep["ops"][0]["compute_cycles"] == 64 * 1024 * 1024 // 1024
    assert not any("ran no op" in n for n in rep["notes"])
    rep = simulate(GEMM, _on("says_false")).to_dict()  # False: cannot run it (it was taken as preference 0)
    assert rep["ops"][0]["unit"] == "core0.systolic0"
    assert "unit u (core.units, kind says_false) ran no op" in " ".join(rep["notes"])


def test_an_accepts_that_returns_no_preference_is_a_mapping_error(kinds):
    kinds("says_what", lambda op: "yes")
    with pytest.raises(MappingError, match=r"unit kind 'says_what': accepts\(\) gave 'yes'"):
        simulate(GEMM, _on("says_what"))


# ---- 6, 7. what an arch file may not say ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, where, says", [
    # a 64 MiB granule on a 32 MiB cache: per-bit energy of a 64 MiB port
    ("levels:\n  edram: {role: cache, after: sram, capacity: 32MiB, bandwidth: 256GB/s, access_bytes: 64MiB}\n",
     ":3: levels.edram.access_bytes:", "64MiB is more than the level's capacity (32MiB)"),
    ("clock: 1.75\n", ":2: clock:", "1.75 Hz is below 1 MHz: write the clock with its unit, e.g. '1.75GHz'"),
    ("clock: 940\n", ":2: clock:", "e.g. '940MHz'"),
    ("hbm: {bandwidth: 819}\n", ":2: hbm.bandwidth:", "819 B/s is below 1 MB/s: write the bandwidth with its unit"),
])
def test_a_granule_larger_than_its_level_or_a_clock_or_bandwidth_without_unit_is_refused(tmp_path, text, where,
                                                                                          says):
    (tmp_path / "a.yaml").write_text("base: edge-npu\n" + text)
    with pytest.raises(ConfigError) as e:
        load_arch(tmp_path / "a.yaml")
    assert "\n" not in str(e.value) and f"a.yaml{where}" in str(e.value) and says in str(e.value)


def test_plain_numbers_of_hz_and_bytes_per_second_are_still_read():
    # configuration.md: a plain number is Hz / bytes per second (benchmarks/sweep.py writes clocks so)
    arch = load_arch({"base": "edge-npu", "clock": 2e9, "hbm": {"bandwidth": 1e11}})
    assert arch.clock == 2e9 and arch.memory("hbm").bandwidth == 1e11


# ---- 10. level order, info ARCH -------------------------------------------------------------------------------------
def test_bytes_and_stalls_list_a_cache_before_the_memories_behind_it():
    arch = {"base": "edge-npu", "levels": {"edram": {"role": "cache", "after": "sram", "capacity": "32MiB",
                                                     "bandwidth": "256GB/s"}}}
    rep = simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, arch).to_dict()
    order = [lv["name"] for lv in rep["levels"]]
    assert order == ["sram", "edram", "hbm", "host"]
    assert list(rep["bytes"]) == [lv for lv in order if lv in rep["bytes"]] and "edram" in rep["bytes"]
    assert list(rep["stalls_by_level"]) == [lv for lv in order if lv in rep["stalls_by_level"]]


def test_info_of_an_arch_prints_its_units_peaks_and_levels(capsys):
    assert main(["info", "edge-npu", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    # arch/edge-npu.yaml: 32 x 32 MACs at 1 GHz, 2 TOPS; sram 1 MiB, LPDDR4X 25.6 GB/s, PCIe Gen3 x4 3.94 GB/s
    assert info["peak_macs_per_cycle"] == 1024 and info["peak_flops_per_s"] == 2 * 1024 * 1e9
    assert [u["name"] for u in info["units"]] == ["systolic", "vector"]
    assert [(lv["name"], lv["capacity"], lv["bandwidth"]) for lv in info["levels"]] == [
        ("sram", 2**20, None), ("hbm", 2 * 2**30, 25.6e9), ("host", 8 * 2**30, 3.94e9)]


def test_info_of_the_example_arch_counts_its_units_macs(tmp_path):
    done = _cli(tmp_path, "info", str(ARCH), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["units"][2] == {"name": "xbar", "kind": "cim_crossbar", "count": 1, "macs_per_cycle": XBAR_MACS}
    assert math.isclose(info["peak_macs_per_cycle"], ARRAY_MACS + XBAR_MACS)


# ---- 11. a plug-in's module is the one beside its arch file ---------------------------------------------------------
def _plugin_file(folder: Path, module: str, kind: str, slower: int = 1) -> None:
    """The example's module written to ``folder/module.py``, registering ``kind``, its price ``slower`` times."""
    text = (EXAMPLE / "cim_crossbar.py").read_text()
    text = text.replace('register_unit_kind("cim_crossbar"', f'register_unit_kind("{kind}"')
    text = text.replace("return Priced(g.m * rounds", f"return Priced({slower} * g.m * rounds")
    folder.mkdir(exist_ok=True)
    (folder / f"{module}.py").write_text(text)
    (folder / "arch.yaml").write_text(f"base: edge-npu\nplugins: [{module}]\ncore:\n  units:\n    x: {{kind: {kind}}}\n")


@pytest.fixture
def forget():
    """Module names, kinds and sys.path folders a test adds, forgotten afterwards."""
    added: dict[str, list[str]] = {"modules": [], "kinds": []}
    path = list(sys.path)
    yield added
    sys.path[:] = path
    for name in added["modules"]:
        sys.modules.pop(name, None)
    for kind in added["kinds"]:
        UNIT_KINDS.pop(kind, None)


def test_two_plugins_of_one_name_in_two_folders_are_refused_naming_both_files(tmp_path, forget):
    forget["modules"].append("my_units_twice")
    forget["kinds"].append("cim_twice")
    _plugin_file(tmp_path / "vA", "my_units_twice", "cim_twice")
    _plugin_file(tmp_path / "vB", "my_units_twice", "cim_twice", slower=10)
    a = load_arch(tmp_path / "vA" / "arch.yaml")
    # vA's unit on the 64 x 1024 x 1024 GEMM: 6,400 cycles (XBAR_CYCLES); vB's module would give 64,000, but its
    # arch ran vA's module (the name already imported): both 46,400 in the reviewer's sweep
    assert simulate(GEMM, a).to_dict()["ops"][0]["compute_cycles"] == XBAR_CYCLES
    with pytest.raises(ConfigError) as e:
        load_arch(tmp_path / "vB" / "arch.yaml")
    text = str(e.value)
    assert "\n" not in text and "arch.yaml:2: plugins.0: 'my_units_twice' is already imported from" in text
    assert str((tmp_path / "vA" / "my_units_twice.py").resolve()) in text
    assert str((tmp_path / "vB" / "my_units_twice.py").resolve()) in text
    assert load_arch(tmp_path / "vA" / "arch.yaml") == a  # the same file again is the same module


def test_a_plugin_named_like_a_standard_module_is_refused(tmp_path, forget):
    # colorsys.py beside the arch: `import colorsys` finds the standard library's first (the folder is appended)
    forget["kinds"].append("cim_colorsys")
    _plugin_file(tmp_path, "colorsys", "cim_colorsys")
    with pytest.raises(ConfigError, match=r"plugins\.0: 'colorsys' (resolves to|is already imported from) .*colorsys"
                                          r"\.py, not .*colorsys\.py beside the arch file") as e:
        load_arch(tmp_path / "arch.yaml")
    assert "\n" not in str(e.value) and "cim_colorsys" not in UNIT_KINDS


def test_a_plugin_set_on_the_command_line_is_found_beside_the_arch_file(tmp_path, forget):
    forget["modules"].append("cim_set_beside")
    forget["kinds"].append("cim_set")
    _plugin_file(tmp_path, "cim_set_beside", "cim_set")
    (tmp_path / "plain.yaml").write_text("name: plain\nbase: edge-npu\n")
    arch = load_arch(tmp_path / "plain.yaml", ["arch.plugins=[cim_set_beside]", "arch.core.units={x: {kind: cim_set}}"])
    assert arch.plugins == ("cim_set_beside",) and arch.core.unit_specs()[2].kind == "cim_set"
    assert simulate(GEMM, arch).to_dict()["ops"][0]["compute_cycles"] == XBAR_CYCLES


def test_plugins_written_as_one_name_is_a_list_of_one(cim):
    arch = load_arch({"base": "edge-npu", "plugins": "cim_crossbar", "core": {"units": {"x": {"kind": "cim_crossbar"}}}})
    assert arch.plugins == ("cim_crossbar",) and load_arch(arch) == arch


# ---- 12. units are named as the mapper names them -----------------------------------------------------------------
def test_a_unit_whose_name_ends_in_a_digit_gets_its_own_mac_energy(cim):
    arch = load_arch({"base": "edge-npu", "core": {"units": {"x2": {"kind": "cim_crossbar", "count": 2,
                                                                     "pj_per_mac": 100.0}}}})
    rep = simulate(GEMM, arch).to_dict()
    assert rep["ops"][0]["unit"] == "core0.x20..core0.x21 (2)"
    # every MAC on the unit at its 100 pJ: 64 x 1024 x 1024 x 100e-12 J = 6.71 mJ (it was the arch's MAC energy,
    # filed under 'x', as the digits were stripped from 'x20')
    assert rep["energy"]["mac_j"] == pytest.approx(64 * 1024 * 1024 * 100e-12)
    assert "x" not in rep["energy"]["by_unit"] and rep["energy"]["by_unit"]["x2"] >= rep["energy"]["mac_j"]


@pytest.mark.parametrize("units, says", [
    ({"x": {"count": 2}, "x1": {}}, "units.x1: unit 'x1' and unit 'x' (x0, x1) are both named 'x1'"),
    ({"vector": {}}, "units.vector: unit 'vector' and the built-in unit 'vector' are both named 'vector' on each core"),
    ({"systolic0": {}}, "units.systolic0: unit 'systolic0' and the built-in unit 'systolic' (systolic0) are both"),
])
def test_two_units_of_one_name_are_refused(cim, tmp_path, units, says):
    lines = "".join(f"    {n}: {{kind: cim_crossbar{''.join(f', {k}: {v}' for k, v in u.items())}}}\n"
                    for n, u in units.items())
    (tmp_path / "a.yaml").write_text(f"base: edge-npu\ncore:\n  units:\n{lines}")
    with pytest.raises(ConfigError) as e:
        load_arch(tmp_path / "a.yaml")
    assert "\n" not in str(e.value) and says in str(e.value) and "a.yaml:" in str(e.value)


# ---- 13. clocks and bandwidths: a number alone is checked where it is written ----------------------------------------
def test_a_slow_clock_with_its_unit_loads_back_from_its_dump():
    arch = load_arch("edge-npu", ["arch.clock=500kHz", "arch.hbm.bandwidth=500kB/s"])
    assert arch.clock == 500 * 1e3 and arch.memory("hbm").bandwidth == 500 * 1e3
    assert load_arch(arch) == arch  # the dump's 500000.0 was refused as a clock without its unit
    assert Arch.model_validate(arch.model_dump()) == arch


@pytest.mark.parametrize("item, says", [
    ("arch.clock=500000", "500000 Hz is below 1 MHz: write the clock with its unit, e.g. '500kHz'"),  # 500e3 Hz
    ("arch.clock=1.75", "e.g. '1.75GHz'"),
    ("arch.hbm.bandwidth=500000", "500000 B/s is below 1 MB/s: write the bandwidth with its unit, e.g. '500KB/s'"),
    ("arch.hbm.bandwidth=819", "e.g. '819GB/s'"),
])
def test_the_unit_suggested_follows_the_number(item, says):
    with pytest.raises(ConfigError) as e:
        load_arch("edge-npu", [item])
    assert "\n" not in str(e.value) and str(e.value).startswith(f"--set: {item.split('=')[0]}:") and says in str(e.value)


# ---- 14. the plug-in's price and pj_per_mac: one line naming the kind ------------------------------------------------
PJ_INT8_ONLY = textwrap.dedent('''
    import numpy as np
    from pydantic import BaseModel
    from accelsim.cost import Priced
    from accelsim.hardware import register_unit_kind
    from accelsim.ir import OpKind

    class Spec(BaseModel):
        mode: str = "ok"

    def accepts(op):
        return np.int64(2) if op.kind is OpKind.LINEAR else None  # a NumPy number is a number

    def macs_per_cycle(spec):
        return 1024

    def price(op, spec, arch):
        if spec.mode == "raise":
            return 1 // 0
        if spec.mode == "float":
            return Priced(2.5, {})
        if spec.mode == "whole_float":  # m*n*k/macs, a float even where it divides exactly
            return Priced(op.macs / 1024, {})
        if spec.mode == "int":
            return 5
        return Priced(np.int64(op.macs // 1024), {})

    def pj_per_mac(spec, dtype):
        return {"int8": 0.1}[dtype]

    register_unit_kind("int8_only", Spec, __name__)
''')


@pytest.fixture
def int8_only(tmp_path, forget):
    (tmp_path / "int8_only_mod.py").write_text(PJ_INT8_ONLY)
    sys.path.insert(0, str(tmp_path))
    forget["modules"].append("int8_only_mod")
    forget["kinds"].append("int8_only")
    importlib.import_module("int8_only_mod")
    return lambda **spec: load_arch({"base": "edge-npu", "core": {"units": {"u": {"kind": "int8_only", **spec}}}})


def test_a_numpy_preference_and_cycles_are_numbers(int8_only):
    rep = simulate(GEMM, int8_only()).to_dict()  # edge-npu's dtype: int8
    # np.int64(2) beats the array's 1 (it was refused); 64 x 1024 x 1024 MACs at 1,024 a cycle: 65,536 cycles,
    # at the hook's 0.1 pJ a MAC
    assert rep["ops"][0]["unit"] == "core0.u" and rep["ops"][0]["compute_cycles"] == 64 * 1024 * 1024 // 1024
    assert rep["energy"]["mac_j"] == pytest.approx(64 * 1024 * 1024 * 0.1e-12)


def test_a_pj_per_mac_failing_for_the_ops_dtype_is_one_line_naming_kind_and_dtype(int8_only):
    with pytest.raises(MappingError) as e:  # was "internal error: KeyError" once the run was over
        simulate({**GEMM, "dtype": "fp16"}, int8_only())
    text = str(e.value)
    assert "\n" not in text and ("core.units.u.kind: unit kind 'int8_only': int8_only_mod.pj_per_mac fails for this "
                                 "spec and dtype fp16 (KeyError: 'fp16')") in text


@pytest.mark.parametrize("mode, says", [
    ("raise", "int8_only_mod.price fails for op 'gemm' (ZeroDivisionError: integer division or modulo by zero)"),
    ("float", "int8_only_mod.price gives Priced(cycles=2.5, details={}) for op 'gemm' (need Priced(cycles, details)"),
    ("int", "int8_only_mod.price gives 5 for op 'gemm' (need Priced(cycles, details): cycles a whole number from 0 "
            "to 9,223,372,036,854,775,807 (2**63 - 1), an int or a float such as 70.0, and details a dict)"),
])
def test_a_price_that_fails_or_gives_no_cycles_is_one_line_naming_the_kind(int8_only, mode, says):
    with pytest.raises(MappingError) as e:
        simulate(GEMM, int8_only(mode=mode))
    # the unit's kind key of the arch chose the module: the error is at it, not at the workload's model line
    assert "\n" not in str(e.value) and f"arch.core.units.u.kind: unit kind 'int8_only': {says}" in str(e.value)


def test_an_accepts_that_fails_is_one_line_at_the_units_kind(tmp_path, forget, capsys):
    # probe p23: a KeyError inside accepts() was "internal error: KeyError: 'x'", exit 1, where the same error in
    # price() is one line at the arch key that chose the module, exit 2
    (tmp_path / "bad_accepts_mod.py").write_text(textwrap.dedent('''
        from pydantic import BaseModel
        from accelsim.cost import Priced
        from accelsim.hardware import register_unit_kind

        class Spec(BaseModel):
            count: int = 1

        def accepts(op):
            raise KeyError("x")

        def macs_per_cycle(spec):
            return 1

        def price(op, spec, arch):
            return Priced(1, {})

        register_unit_kind("bad_accepts", Spec, __name__)
    '''))
    sys.path.insert(0, str(tmp_path))
    forget["modules"].append("bad_accepts_mod")
    forget["kinds"].append("bad_accepts")
    (tmp_path / "a.yaml").write_text("base: edge-npu\nplugins: [bad_accepts_mod]\ncore:\n  units:\n"
                                     "    smx: {kind: bad_accepts}\n")
    assert main(["run", "-w", "softmax", "-a", str(tmp_path / "a.yaml"), "-o", str(tmp_path / "r"), "--no-plots",
                 "-q"]) == 2
    err = capsys.readouterr().err.strip()
    # line 5 of a.yaml writes unit smx's kind
    assert "\n" not in err and "internal error" not in err
    assert (f"{tmp_path / 'a.yaml'}:5: core.units.smx.kind: unit kind 'bad_accepts': bad_accepts_mod.accepts fails "
            f"for op 'softmax' (KeyError: 'x')") in err


def test_a_price_of_a_float_with_no_fraction_is_whole_cycles(int8_only):
    # 64 x 1024 x 1024 MACs / 1,024 a cycle = 65,536.0: a whole number (docs/configuration.md), taken as 65,536
    rep = simulate(GEMM, int8_only(mode="whole_float")).to_dict()
    assert rep["ops"][0]["compute_cycles"] == 65_536 and isinstance(rep["ops"][0]["compute_cycles"], int)


def test_a_bad_price_from_the_command_line_is_at_the_arch_files_unit_line(int8_only, tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("base: edge-npu\ncore:\n  units:\n    u: {kind: int8_only, mode: float}\n")
    assert main(["run", "-w", "gemm", "-a", str(tmp_path / "a.yaml"), "-o", str(tmp_path / "r"), "--no-plots",
                 "-q"]) == 2
    err = capsys.readouterr().err.strip()
    # line 4 of a.yaml writes unit u's kind; the workload preset (gemm.yaml) is not blamed
    assert "\n" not in err and f"{tmp_path / 'a.yaml'}:4: core.units.u.kind: unit kind 'int8_only': " in err
    assert "gemm.yaml" not in err and "int8_only_mod.price gives Priced(cycles=2.5" in err


# ---- 15. accelsim info FILE whose base is an arch file -------------------------------------------------------------
def test_info_of_an_arch_file_based_on_another_arch_file(cim, tmp_path, capsys):
    (tmp_path / "derived.yaml").write_text(f"name: derived\nbase: {ARCH}\n")
    (tmp_path / "d2.yaml").write_text("name: d2\nbase: edge-npu\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d3.yaml").write_text("name: d3\nbase: ../d2.yaml\ndtype: fp16\n")  # from its own folder
    assert main(["info", str(tmp_path / "derived.yaml"), "--json"]) == 0  # was "unknown workload"
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "derived" and info["units"][2]["name"] == "xbar"
    assert math.isclose(info["peak_macs_per_cycle"], ARRAY_MACS + XBAR_MACS)
    assert main(["info", str(tmp_path / "sub" / "d3.yaml"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "d3" and info["dtype"] == "fp16" and info["peak_macs_per_cycle"] == ARRAY_MACS


# ---- 16. how a plug-in's work divides over its units: price's `pieces` (p23 finding 1) ------------------------------
ONE_MVM = {"model": "gemm", "m": 1, "n": 256, "k": 256}  # one input row on one 256 x 256 tile: a single MVM


def _xbars(count=1, cores=1, mvm_cycles=100_000):
    return load_arch({"base": "edge-npu", "cores": cores, "core": {"units": {"xbar": {
        "kind": "cim_crossbar", "crossbars": 16, "mvm_cycles": mvm_cycles, "count": count}}}})


@pytest.mark.parametrize("count, cores", [(1, 1), (2, 1), (4, 1), (1, 2)])
def test_one_mvm_takes_its_mvm_cycles_however_many_units_there_are(cim, count, cores):
    # cim_crossbar.price: m = 1 row x ceil(1 tile / 16 crossbars) = 1 round x 100,000 cycles, pieces = 1 x 1: one
    # indivisible MVM, so one unit runs it (it was 50,000 on 2 units and 25,000 on 4: cycles cut linearly)
    op = simulate(ONE_MVM, _xbars(count, cores)).to_dict()["ops"][0]
    assert op["compute_cycles"] == 100_000
    assert op["unit"] in ("core0.xbar", "core0.xbar0", "core1.xbar")  # one unit (a span is "a..b (n)")
    assert op["mapping"]["pieces"] == 1


@pytest.mark.parametrize("m, count, cores, busiest", [
    (3, 2, 1, 2 * 100_000),  # 3 MVMs dealt whole to 2 units: one runs 2 (it was 1.5 MVMs each, 150,000)
    (3, 1, 2, 2 * 100_000),  # the same over 2 cores of one unit each
    (4, 4, 1, 1 * 100_000),  # 4 MVMs on 4 units: one each
])
def test_an_ops_pieces_are_dealt_out_whole(cim, m, count, cores, busiest):
    op = simulate({**ONE_MVM, "m": m}, _xbars(count, cores)).to_dict()["ops"][0]
    assert op["mapping"]["pieces"] == m  # m rows x 1 round
    assert op["mapping"]["work_cycles"] == m * 100_000  # on one unit: every MVM one after another
    assert op["unit"].endswith(f"({min(m, count * cores)})")  # split over as many units as it has pieces, at most
    assert op["compute_cycles"] == busiest


def test_a_price_without_pieces_is_cut_evenly_over_the_units(kinds):
    # no `pieces`: the cycles are divisible work (docs/configuration.md): 64 x 1024 x 1024 MACs / 1,024 a cycle =
    # 65,536 cycles, 32,768 on each of 2 units
    kinds("says_true", lambda op: op.kind is OpKind.LINEAR)
    arch = load_arch({"base": "edge-npu", "core": {"units": {"u": {"kind": "says_true", "count": 2}}}})
    op = simulate(GEMM, arch).to_dict()["ops"][0]
    assert op["unit"].endswith("(2)") and op["compute_cycles"] == 64 * 1024 * 1024 // 1024 // 2


@pytest.mark.parametrize("pieces", [0, 2.5, True, "4"])
def test_pieces_that_are_no_whole_number_from_1_are_one_line_naming_the_kind(kinds, pieces):
    module = types.ModuleType("says_pieces_cost")
    module.accepts = lambda op: 2 if op.kind is OpKind.LINEAR else None
    module.macs_per_cycle = lambda spec: 1024
    module.price = lambda op, spec, arch: Priced(65_536, {"pieces": pieces})
    sys.modules[module.__name__] = module
    register_unit_kind("says_pieces", sys.modules["cim_crossbar"].Crossbars, module.__name__)
    try:
        with pytest.raises(MappingError) as e:
            simulate(GEMM, load_arch({"base": "edge-npu", "core": {"units": {"u": {"kind": "says_pieces"}}}}))
        assert "\n" not in str(e.value) and "unit kind 'says_pieces'" in str(e.value)
        assert f"pieces={pieces!r}" in str(e.value)
    finally:
        UNIT_KINDS.pop("says_pieces", None)
        sys.modules.pop("says_pieces_cost", None)


# ---- 17. a unit that does no MACs, and the energy of its work: pj_per_flop (p23 finding 8) ---------------------------
SOFTMAX_UNIT = textwrap.dedent('''
    import math
    from pydantic import BaseModel, ConfigDict, PositiveInt
    from accelsim.cost import Priced
    from accelsim.hardware import register_unit_kind
    from accelsim.ir import OpKind

    class Spec(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        lanes: PositiveInt = 64
        count: PositiveInt = 1
        pj: float | None = 1.0
        macs: float = 0

    def accepts(op):
        return 5 if op.kind is OpKind.SOFTMAX else None

    def macs_per_cycle(spec):
        return spec.macs  # 0: it does no MACs

    def price(op, spec, arch):
        return Priced(math.ceil(op.vector_elems / spec.lanes), {})

    def pj_per_flop(spec, dtype):
        return spec.pj
''')
SOFTMAX = {"model": "softmax", "rows": 1024, "cols": 1024}
SOFTMAX_FLOPS = 5 * 1024 * 1024  # micro.softmax: 5 flops per element (max, subtract, exp, sum, divide)


@pytest.fixture
def softmax_unit(tmp_path, forget):
    (tmp_path / "softmax_unit_mod.py").write_text(SOFTMAX_UNIT + 'register_unit_kind("softmax_acc", Spec, __name__)\n')
    sys.path.insert(0, str(tmp_path))
    forget["modules"].append("softmax_unit_mod")
    forget["kinds"].append("softmax_acc")
    importlib.import_module("softmax_unit_mod")
    return lambda core=None, energy=None, **spec: load_arch({"base": "edge-npu", **({"energy": energy} if energy else {}),
                                                            "core": {**(core or {}),
                                                                     "units": {"smx": {"kind": "softmax_acc", **spec}}}})


def test_a_unit_of_no_macs_runs_its_ops_and_leaves_the_peak_alone(softmax_unit):
    rep = simulate(SOFTMAX, softmax_unit()).to_dict()
    op = rep["ops"][0]
    # 1024 x 1024 elements / 64 lanes = 16,384 cycles (macs_per_cycle 0 was refused: "need a positive number")
    assert op["unit"] == "core0.smx" and op["compute_cycles"] == 1024 * 1024 // 64
    assert rep["arch"]["peak_macs_per_cycle"] == ARRAY_MACS  # edge-npu's 32 x 32 array alone


def test_a_units_pj_per_flop_prices_its_ops_flops(softmax_unit):
    # the op's 5,242,880 FLOPs (no MACs) at the module's pJ per FLOP, filed under the unit; without the hook (None)
    # they cost the arch's vector FLOP energy (it was always that)
    own = simulate(SOFTMAX, softmax_unit(pj=1.0)).to_dict()["energy"]
    arch = simulate(SOFTMAX, softmax_unit(pj=None)).to_dict()["energy"]
    assert own["by_unit"]["smx"] == pytest.approx(SOFTMAX_FLOPS * 1.0e-12)
    vector_j = constants(load_arch("edge-npu"), "int8").vector_j  # the arch's J per vector FLOP
    assert arch["by_unit"]["smx"] == pytest.approx(SOFTMAX_FLOPS * vector_j, rel=1e-6, abs=0)
    # the totals carry the difference, the rest of the run (bytes, static power over equal cycles) alike
    assert own["total_j"] - arch["total_j"] == pytest.approx(SOFTMAX_FLOPS * (1.0e-12 - vector_j))
    assert own["mac_j"] == arch["mac_j"] == 0


def test_a_core_without_an_array_whose_units_do_no_macs_counts_its_lanes_as_the_peak(softmax_unit):
    # edge-npu sizes its scratchpad port by the array's rows (sram_port_bits: rows, probe p211 #1): without the array
    # the port is given in bits, the preset's 32 x 8 = 256 (a rule with no array to read is a one-line error)
    arch = softmax_unit(core={"systolic": None}, energy={"sram_port_bits": 256})
    # no MAC unit: the 32 vector lanes run the matmuls (one MAC a lane a cycle) and are the peak (it would be 0)
    assert arch.peak_macs_per_cycle == 32
    rep = simulate({"model": "gemm", "m": 32, "n": 32, "k": 32}, arch).to_dict()
    assert rep["ops"][0]["unit"] == "core0.vector" and 0 < rep["mac_utilization"] <= 1


@pytest.mark.parametrize("spec, says", [({"macs": -1}, "macs_per_cycle gives -1.0"),
                                        ({"pj": -2.0}, "pj_per_flop gives -2.0")])
def test_negative_macs_or_pj_per_flop_are_one_line_at_the_units_kind(softmax_unit, spec, says):
    with pytest.raises(ConfigError) as e:
        softmax_unit(**spec)
    assert "\n" not in str(e.value) and "core.units.smx.kind" in str(e.value) and says in str(e.value)
