"""Hostile and broken input fails fast with one line per problem: YAML limits (alias bombs, size, control
characters, nesting, binary files, overflowing numbers), non-finite numbers and booleans where numbers are
expected, long messages cut short, and ``accelsim plot`` on a malformed sweep folder.

Every case goes through :func:`accelsim.cli.main` or the config API and checks the exit status, the file and line
named, and that nothing is a traceback or an internal error.
"""

from __future__ import annotations

import math
import re
import tracemalloc
from pathlib import Path

import pytest
import yaml

import accelsim
from accelsim.cli import main
from accelsim.config import experiment_from_parts, load_arch, load_workload, yamlio
from accelsim.config.yamlio import MAX_ALIAS_NODES, MAX_DEPTH, MAX_NODES, MAX_YAML_BYTES, load_yaml, parse_yaml
from accelsim.errors import MAX_LINE_CHARS, ConfigError
from accelsim.units import MAX_INT, parse_bandwidth, parse_frequency, parse_size, parse_time

REPO = Path(__file__).resolve().parents[2]
ARCH = REPO / "arch"
LINE = re.compile(r"^accelsim: error: (?P<file>[^:]+)(:(?P<line>\d+))?: (?P<rest>.+)$")

# 9 levels of 9 references: 9**9 (387 million) strings when expanded, 1 KB on disk
BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + BOMB


def run_cli(capsys, *argv: str) -> tuple[int, list[str]]:
    """Exit status and stderr lines of ``accelsim ARGV``; a status-2 error must be one well-formed line each."""
    code = main(list(argv))
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        assert lines and all(LINE.match(line) for line in lines), err
    return code, lines


def errors_of(fn, *args, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    return str(info.value).splitlines()


def one_error(fn, *args, **kwargs) -> str:
    (line,) = errors_of(fn, *args, **kwargs)
    return line


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Run from a temporary folder so files print by their bare names."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- YAML limits -------------------------------------------------------------------------------------------------
def test_an_alias_bomb_is_refused_at_once_without_memory(here, capsys):
    assert len(BOMB) < 1100
    Path("bomb.yaml").write_text(BOMB)
    tracemalloc.start()
    try:
        code, lines = run_cli(capsys, "run", "bomb.yaml", "--no-plots", "-o", "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2
    # level e holds 9 × (level d: 1 + 9 × 91) values: the first alias past 10,000 added values is on line 5
    assert lines == [f"accelsim: error: bomb.yaml:5: aliases expand to more than {MAX_ALIAS_NODES:,} values (an "
                     f"alias bomb?); write the values out instead"]
    assert peak < 20 * 2**20


def test_aliases_and_merge_keys_within_the_limit_still_load():
    text = ("defaults: &d {rows: 8, cols: 8}\n"
            "small: *d\n"
            "big:\n  <<: *d\n  cols: 16\n"
            "many: [" + ", ".join(["*d"] * 100) + "]\n")
    data, lines = parse_yaml(text, "t.yaml")
    assert data["small"] == {"rows": 8, "cols": 8}
    assert data["big"] == {"rows": 8, "cols": 16}
    assert len(data["many"]) == 100 and data["many"][99] == {"rows": 8, "cols": 8}
    assert lines[("big", "cols")] == 5


def test_a_recursive_alias_is_refused():
    assert one_error(parse_yaml, "a: &x [1, *x]\n", "t.yaml") == \
        "t.yaml:1: recursive alias: *x refers to a collection that contains it"


ANCHOR = ("name: x\n"
          "workload: &w {model: gemm, m: 64, n: 64, k: 64}\n"
          "arch: tpu-v1\n"
          "options: *w\n")


def test_an_error_under_an_alias_names_the_line_of_the_alias(here, capsys):
    # probe p266 #1: the four keys of a workload given as options (line 4: `options: *w`) were blamed on line 2,
    # where the anchored mapping is written; the key at fault is on line 4, and the message says where its values are
    Path("anchor.yaml").write_text(ANCHOR)
    code, lines = run_cli(capsys, "run", "anchor.yaml", "-o", "bb2", "-q", "--no-plots")
    assert code == 2
    assert len(lines) == 4  # one line per problem: model, m, n and k are not options
    for key, line in zip(("model", "m", "n", "k"), lines, strict=True):
        assert line.startswith(f"accelsim: error: anchor.yaml:4: options.{key} (alias of line 2): Extra inputs are "
                               f"not permitted"), line


def test_the_line_map_places_aliased_keys_and_items_on_the_alias():
    text = ("a: &w {x: 1, y: [1, 2]}\n"  # line 1: the anchor
            "b: *w\n"                    # line 2: a mapping value
            "c:\n"
            "  - *w\n"                   # line 4: a list item
            "  - &s 5\n"                 # line 5: a scalar anchor
            "  - *s\n"                   # line 6: its alias
            "d:\n  <<: *w\n  z: 3\n"   # lines 7-9: a merge key's alias is met (and skipped) in order
            "e: *w\n")                   # line 10
    data, lines = parse_yaml(text, "t.yaml")
    assert data["b"] == data["c"][0] == data["e"] == {"x": 1, "y": [1, 2]}
    # the anchor's own keys keep their line and are no alias
    assert lines[("a", "x")] == lines[("a", "y", 1)] == 1 and ("a", "x") not in lines.aliases
    assert [lines[("b", *p)] for p in [(), ("x",), ("y",), ("y", 1)]] == [2, 2, 2, 2]
    assert [lines[("c", 0, *p)] for p in [(), ("x",), ("y", 0)]] == [4, 4, 4]
    assert (lines[("c", 1)], lines[("c", 2)]) == (5, 6) and lines.aliases[("c", 2)] == 5
    assert lines[("d", "z")] == 9 and lines[("e", "y", 0)] == 10
    assert lines.aliases[("b", "x")] == lines.aliases[("c", 0, "y", 1)] == lines.aliases[("e",)] == 1


def _tiny_mappings(n: int, head: str = "items:\n", indent: int = 0) -> str:
    return head + (" " * indent + "- {a: 1}\n") * n


def test_the_node_limit_counts_every_scalar_mapping_and_list(monkeypatch):
    monkeypatch.setattr(yamlio, "MAX_NODES", 30)
    # hand count: the top mapping, the key 'items', the list (3) and 3 per item (the mapping, 'a', 1): 3 + 3 · 9 = 30
    data, _ = parse_yaml(_tiny_mappings(9), "t.yaml")
    assert data == {"items": [{"a": 1}] * 9}
    # one more item: node 31 is the tenth item's mapping, written on line 11 (line 1 holds 'items:')
    assert one_error(parse_yaml, _tiny_mappings(10), "t.yaml") == (
        "t.yaml:11: more than 30 values (scalars, mappings and lists): inputs are limited to 30; is this a "
        "generated file?")


@pytest.mark.parametrize("head, indent", [("base: gemmini\nbogus:\n", 0),  # under an unknown key
                                          ("base: h100\ncore:\n  tile:\n    shapes:\n", 6)])  # a known list
def test_a_big_file_of_tiny_mappings_is_refused_quickly(here, capsys, head, indent):
    """An 8 MiB file of ``{a: 1}`` items took ~18 s (50 s on a loaded machine) to be refused; the node limit stops it
    after MAX_NODES values whatever the file's size, so a 2 MiB file (~230,000 items) costs what the limit does."""
    items = 2 * 2**20 // 9
    Path("big.yaml").write_text(_tiny_mappings(items, head, indent))
    code, lines = run_cli(capsys, "run", "--arch", "big.yaml", "--workload", "gemm", "--no-plots", "-o", "out")
    assert code == 2
    (line,) = lines
    # the header has 2 (+1 for 'bogus') or 5 nodes, then 3 per item: the limit is passed within item ~33,333
    m = LINE.match(line)
    assert m["file"] == "big.yaml" and f"inputs are limited to {MAX_NODES:,}" in m["rest"]
    assert MAX_NODES // 3 - 5 <= int(m["line"]) <= MAX_NODES // 3 + 5


def test_a_file_over_the_size_limit_is_refused_before_reading(here, capsys):
    assert MAX_YAML_BYTES == 8 * 2**20
    with open("huge.yaml", "wb") as f:
        f.truncate(MAX_YAML_BYTES + 1)  # sparse: costs no disk
    code, lines = run_cli(capsys, "run", "--workload", "lenet5", "--arch", "huge.yaml", "--no-plots", "-o", "out")
    assert code == 2
    assert lines == [f"accelsim: error: huge.yaml: file too large: {MAX_YAML_BYTES + 1:,} bytes; inputs are "
                     f"limited to {MAX_YAML_BYTES:,} bytes (8 MiB)"]


def test_the_size_limit_is_the_named_constant(here, monkeypatch):
    text = "name: x\n" + "# padding\n" * 20
    Path("a.yaml").write_text(text)
    assert load_yaml("a.yaml")[0] == {"name": "x"}
    monkeypatch.setattr(yamlio, "MAX_YAML_BYTES", len(text) - 1)
    assert "file too large" in one_error(load_yaml, "a.yaml")
    assert "file too large" in one_error(parse_yaml, text, "t.yaml")


@pytest.mark.parametrize("char, what", [("\0", "a NUL byte"), ("\x1b", "control character U+001B"),
                                        ("\x7f", "control character U+007F"), ("\ud800", "control character U+D800")])
def test_control_characters_are_refused_with_their_line(char, what):
    text = f"name: x\nclock: 1GHz\ndescription: ab{char}cd\n"
    assert one_error(parse_yaml, text, "t.yaml") == \
        f"t.yaml:3: {what} (column 16) is not allowed in YAML; is this a binary or corrupted file?"


def test_tab_carriage_return_and_bom_are_fine():
    data, lines = parse_yaml("\ufeffname: 'a\tb'\r\nclock: 1GHz\r\n", "t.yaml")
    assert data == {"name": "a\tb", "clock": "1GHz"}
    assert lines[("clock",)] == 2


def test_a_nul_byte_in_an_experiment_file_is_one_line(here, capsys):
    Path("e.yaml").write_bytes(b"name: x\nworkload: lenet5\x00\narch: tpu-v1\n")
    code, lines = run_cli(capsys, "run", "e.yaml", "--no-plots", "-o", "out")
    assert code == 2
    assert lines == ["accelsim: error: e.yaml:2: a NUL byte (column 17) is not allowed in YAML; is this a binary "
                     "or corrupted file?"]


def nested(depth: int) -> str:
    """A document of ``depth`` nested collections: flow lists inside a top-level mapping."""
    return "a: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n"


def test_nesting_up_to_the_limit_loads_and_one_more_is_refused():
    data, _ = parse_yaml(nested(MAX_DEPTH), "t.yaml")
    depth, node = 1, data["a"]
    while node:
        depth, node = depth + 1, node[0]
    assert depth == MAX_DEPTH - 1  # the innermost list is empty: MAX_DEPTH collections with the mapping
    assert one_error(parse_yaml, nested(MAX_DEPTH + 1), "t.yaml") == \
        f"t.yaml:1: nesting deeper than {MAX_DEPTH} levels of mappings and lists"


@pytest.mark.parametrize("text", ["[" * 100_000, "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 2000)),
                                  "a: &x " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*x" + "]" * 40 + "\n"])
def test_deep_nesting_is_refused_fast_without_recursion_errors(text):
    assert "deeper than 64 levels" in one_error(parse_yaml, text, "t.yaml")


def test_a_binary_file_is_refused_naming_the_file(here, capsys):
    Path("bin.yaml").write_bytes(b"name: x\nclock: \xd0\x00\xff\n")
    code, lines = run_cli(capsys, "run", "--workload", "lenet5", "--arch", "bin.yaml", "--no-plots", "-o", "out")
    assert code == 2
    assert lines == ["accelsim: error: bin.yaml:2: not UTF-8 text (byte 0xd0 at offset 15); is this a binary file?"]


def test_a_number_that_overflows_is_refused_with_its_key():
    assert one_error(parse_yaml, "hbm:\n  capacity: 1.0e+400\n", "t.yaml") == \
        "t.yaml:2: hbm.capacity: number too large: 1.0e+400 overflows to infinity (write '.inf' or a unit string " \
        "where an unbounded value is meant)"
    assert parse_yaml("a: .inf\nb: -.Inf\n", "t.yaml")[0] == {"a": float("inf"), "b": float("-inf")}


def test_set_values_get_the_same_limits(here, capsys):
    for value, expected in (("[" * 5000, "nesting deeper than 64 levels"),
                            ("&a [1, *a]", "recursive alias"),
                            ("a\x00b", "a NUL byte")):
        code, lines = run_cli(capsys, "run", "--workload", "lenet5", "--arch", "tpu-v1", "--no-plots", "-o", "out",
                              "--set", f"arch.name={value}")
        assert code == 2
        (line,) = lines
        assert line.startswith("accelsim: error: --set: arch.name: value is not valid YAML: " + expected), line


@pytest.mark.skipif(not yamlio.LIBYAML, reason="PyYAML without libyaml")
def test_libyaml_loads_with_the_same_data_and_lines_as_the_python_loader(monkeypatch):
    assert issubclass(yamlio._SafeLoader, yaml.CSafeLoader)
    presets = [*ARCH.glob("*.yaml"), *(REPO / "experiments").glob("*.yaml")]
    fast = {p.name: load_yaml(p) for p in presets}

    class PythonLoader(yaml.SafeLoader):
        pass

    monkeypatch.setattr(yamlio, "_SafeLoader", PythonLoader)
    for p in presets:
        data, lines = load_yaml(p)
        assert (data, dict(lines)) == (fast[p.name][0], dict(fast[p.name][1])), p.name
    # and the fallback keeps the limits
    assert "aliases expand" in one_error(parse_yaml, BOMB, "t.yaml")
    assert "deeper than" in one_error(parse_yaml, "[" * 100_000, "t.yaml")


# ---- SCALE-Sim inputs -----------------------------------------------------------------------------------------------
SCALESIM = REPO / "tests" / "data" / "scalesim"


@pytest.mark.parametrize("cfg_edit, csv_edit, expected", [
    (("ArrayHeight:    8", "ArrayHeight:    1" + "0" * 30), None,
     "a.cfg:5: architecture_presets.ArrayHeight: number too large (the limit is 9,223,372,036,854,775,807, "
     "2**63 - 1) (got '1000000000000000000000000000000')"),
    (("IfmapSramSzkB:   64", "IfmapSramSzkB:   9007199254740993"), None,
     "a.cfg:7: architecture_presets.IfmapSramSzkB: size too large (the limit is 9,007,199,254,740,991 KiB) "
     "(got 9007199254740993)"),
    (None, ("Conv2, 14, 14", "Conv2, 99999999999999999999, 14"),
     "t.csv:4: IFMAP Height: number too large (the limit is 9,223,372,036,854,775,807, 2**63 - 1) "
     "(got '99999999999999999999')"),
    (None, ("Conv2, 14, 14", "Conv2, 1" + "4" * 5000 + ", 14"), "t.csv:4: IFMAP Height: expected a positive integer"),
    (("[general]", "[general]\x00"), None, "a.cfg:1: not UTF-8"),
])
def test_scalesim_inputs_refuse_huge_numbers_and_binary_files(here, capsys, cfg_edit, csv_edit, expected):
    cfg, csv = (SCALESIM / "tiny_os.cfg").read_text(), (SCALESIM / "conv.csv").read_text()
    if cfg_edit:
        cfg = cfg.replace(*cfg_edit, 1)
    if csv_edit:
        csv = csv.replace(*csv_edit, 1)
    Path("a.cfg").write_bytes(cfg.encode().replace(b"\x00", b"\xff\x00"))
    Path("t.csv").write_text(csv)
    code, lines = run_cli(capsys, "run", "--scalesim-config", "a.cfg", "--topology", "t.csv", "--no-plots", "-o",
                          "out")
    assert code == 2
    (line,) = lines
    assert line.startswith(f"accelsim: error: {expected}"), line


# ---- long messages -----------------------------------------------------------------------------------------------
def test_a_huge_key_or_value_gives_a_short_line(here, capsys):
    key = "k" * 1_000_000  # an explicit key ("? KEY"): YAML limits implicit keys to 1024 characters
    Path("e.yaml").write_text(f"name: x\nworkload: lenet5\narch: tpu-v1\n? {key}\n: 1\ndescription: {'d' * 1_000_000}\n")
    code, lines = run_cli(capsys, "run", "e.yaml", "--no-plots", "-o", "out")
    assert code == 2
    (line,) = lines
    assert len(line) <= len("accelsim: error: ") + MAX_LINE_CHARS
    assert line.startswith("accelsim: error: e.yaml:4: kkkk") and "…" in line
    assert line.endswith("(got 1)")  # the value given stays at the end of a cut line


def test_a_long_value_is_cut_in_the_message():
    arch = load_yaml(ARCH / "tpu-v1.yaml")[0] | {"clock": "z" * 10_000}
    line = one_error(load_arch, arch)
    assert len(line) < 400
    assert re.search(r"clock: expected a clock such as '1\.4GHz' \(got 'z{70,}…\)", line), line


# ---- numbers -----------------------------------------------------------------------------------------------------
def preset_with(here: Path, name: str, old: str, new: str, *, kind: str = "arch") -> str:
    """The preset ``name`` of ``kind`` copied to the working folder with ``old`` replaced by ``new``; its file name."""
    text = (REPO / kind / f"{name}.yaml").read_text()
    assert old in text
    Path(f"{name}.yaml").write_text(text.replace(old, new, 1))
    return f"{name}.yaml"


@pytest.mark.parametrize("old, new, expected", [
    ("capacity: 8GiB ", "capacity: 1e400 ", "tpu-v1.yaml:30: hbm.capacity: number too large: 1e400 overflows "
                                            "(got '1e400')"),
    ("capacity: 8GiB ", "capacity: 1.0e+400 ", "tpu-v1.yaml:30: hbm.capacity: number too large: 1.0e+400 "
                                               "overflows to infinity"),
    ("capacity: 8GiB ", "capacity: 100000000000000000000 ", "tpu-v1.yaml:30: hbm.capacity: number too large (the "
                                                             "limit is 9,223,372,036,854,775,807, 2**63 - 1)"),
    ("capacity: 8GiB ", "capacity: 10EiB ", "tpu-v1.yaml:30: hbm.capacity: unknown size unit 'EiB'"),
    ("capacity: 8GiB ", "capacity: 10000000TiB ", "tpu-v1.yaml:30: hbm.capacity: size too large (the limit is "
                                                  "9,223,372,036,854,775,807 bytes, 2**63 - 1)"),
    ("bandwidth: 34GB/s", "bandwidth: 1e400GB/s", "tpu-v1.yaml:31: hbm.bandwidth: number too large: 1e400 "
                                                  "overflows (got '1e400GB/s')"),
    ("bandwidth: 34GB/s", "bandwidth: 1e300TB/s", "tpu-v1.yaml:31: hbm.bandwidth: bandwidth too large: it "
                                                  "overflows (write 'inf' for an unbounded bandwidth)"),
    ("bandwidth: 34GB/s", "bandwidth: .nan", "tpu-v1.yaml:31: hbm.bandwidth: expected a bandwidth such as "
                                             "'900GB/s', or 'inf' (not NaN) (got nan)"),
    ("clock: 700MHz", "clock: 1e400GHz", "tpu-v1.yaml:9: clock: number too large: 1e400 overflows"),
    ("latency: 100ns", "latency: .nan", "tpu-v1.yaml:32: hbm.latency: expected a finite time (got nan)"),
    ("rows: 256 ", "rows: true ", "tpu-v1.yaml:14: core.systolic.rows: expected a number, not a boolean "
                                  "(got True)"),
    ("rows: 256 ", "rows: 100000000000000000000 ", "tpu-v1.yaml:14: core.systolic.rows: number too large (the "
                                                   "limit is 9,223,372,036,854,775,807, 2**63 - 1)"),
    ("access_bytes: 64 ", "access_bytes: false ", "tpu-v1.yaml:33: hbm.access_bytes: expected a number, not a "
                                                  "boolean (got False)"),
    ("lanes: 256 ", "lanes: 256\n    cycles_per_element: {relu: .inf} ",
     "tpu-v1.yaml:23: core.vector.cycles_per_element.relu: expected a finite number (got inf)"),
    ("kind: DDR3 ", "efficiency: 'nan'\n  kind: DDR3 ", "tpu-v1.yaml:29: hbm.efficiency: expected a finite number "
                                                         "(got 'nan')"),
    ("kind: DDR3 ", "efficiency_by_size: [[true, 0.5]]\n  kind: DDR3 ",
     "tpu-v1.yaml:29: hbm.efficiency_by_size.0.0: expected a number, not a boolean (got True)"),
])
def test_numbers_in_an_arch_must_be_real_finite_numbers(here, capsys, old, new, expected):
    arch = preset_with(here, "tpu-v1", old, new)
    code, lines = run_cli(capsys, "run", "--workload", "lenet5", "--arch", arch, "--no-plots", "-o", "out")
    assert code == 2
    (line,) = lines
    assert line.startswith(f"accelsim: error: {expected}"), line


def test_inf_stays_a_valid_unbounded_bandwidth(here):
    arch = load_arch(preset_with(here, "tpu-v1", "bandwidth: 34GB/s", "bandwidth: inf"))
    assert arch.hbm.bandwidth == math.inf
    assert load_arch("tpu-v1", ["arch.hbm.bandwidth=.inf"]).hbm.bandwidth == math.inf
    assert load_arch("tpu-v1", ["arch.hbm.bandwidth=unbounded"]).hbm.bandwidth == math.inf


@pytest.mark.parametrize("overrides, expected", [
    (["workload.batch=true"], "--set: workload.batch: expected a number, not a boolean (got True)"),
    (["options.max_tiles_per_op=false"], "--set: options.max_tiles_per_op: expected a number, not a boolean"),
    (["options.decode_samples=.inf"], "--set: options.decode_samples: expected a finite number (got inf)"),
    (["arch.cores=true"], "--set: arch.cores: expected a number, not a boolean (got True)"),
    (["workload.image_size=1e400"], "--set: workload.image_size: expected a finite number (got '1e400')"),
    (["workload.batch=1.0e+30"], "--set: workload.batch: number too large (the limit is 9,223,372,036,854,775,807, "
                                 "2**63 - 1) (got 1e+30)"),
])
def test_numbers_in_workload_params_options_and_overrides(capsys, overrides, expected):
    argv = ["run", "--workload", "lenet5", "--arch", "tpu-v1", "--no-plots", "-o", "out"]
    code, lines = run_cli(capsys, *argv, *(a for o in overrides for a in ("--set", o)))
    assert code == 2
    (line,) = lines
    assert line.startswith(f"accelsim: error: {expected}"), line


def test_numbers_inside_a_layer_list_are_checked_by_layer_type(here):
    wl = preset_with(here, "lenet5_layers", "out_channels: 6,", "out_channels: true,", kind="workloads")
    assert one_error(load_workload, wl) == \
        "lenet5_layers.yaml:8: layers.0.out_channels: expected a number, not a boolean (got True)"
    text = Path(wl).read_text().replace("out_channels: true,", "out_channels: 6,")
    Path(wl).write_text(text.replace("{type: relu, name: relu1}", "{type: batchnorm2d, name: bn, eps: .inf}"))
    assert one_error(load_workload, wl) == "lenet5_layers.yaml:9: layers.1.eps: expected a finite number (got inf)"


def test_plain_numbers_and_booleans_where_booleans_go_still_load():
    spec = experiment_from_parts("lenet5", "tpu-v1", overrides=[
        "arch.core.systolic.rows=128", "arch.core.systolic.preload_overlap=false", "arch.hbm.efficiency=0.5",
        "workload.batch=4", "options.plots=false", "options.max_tiles_per_op=8", "arch.hbm.capacity=100000000"])
    assert spec.arch.core.systolic.rows == 128 and spec.arch.core.systolic.preload_overlap is False
    # a plain number of bytes: 100 MB (not less than tpu-v1's 24 MiB scratchpad, which a main memory may not be, p125 #2)
    assert spec.arch.hbm.efficiency == 0.5 and spec.arch.hbm.capacity == 100_000_000
    assert spec.workload.params["batch"] == 4
    assert spec.options.plots is False and spec.options.max_tiles_per_op == 8


def test_several_number_problems_are_reported_together_with_other_errors():
    lines = errors_of(experiment_from_parts, "lenet5", "tpu-v1", overrides=[
        "arch.core.systolic.rows=true", "arch.core.systolic.cols=-1", "workload.batch=.nan"])
    assert lines == ["--set: arch.core.systolic.rows: expected a number, not a boolean (got True)",
                     "--set: arch.core.systolic.cols: Input should be greater than 0 (got -1)",
                     "--set: workload.batch: expected a finite number (got nan)"]


def test_units_never_raise_anything_but_value_error():
    huge = 10**400
    for parse, value in ((parse_size, huge), (parse_size, "1e400"), (parse_size, "1e300TB"),
                         (parse_size, math.inf), (parse_size, math.nan),
                         (parse_bandwidth, huge), (parse_bandwidth, "1e400B/s"), (parse_bandwidth, math.nan),
                         (parse_frequency, huge), (parse_frequency, "1e400"), (parse_frequency, math.inf),
                         (parse_time, huge), (parse_time, "1e400s"), (parse_time, math.nan)):
        with pytest.raises(ValueError):
            parse(value)
    assert parse_bandwidth(math.inf) == math.inf and parse_bandwidth("inf") == math.inf
    assert parse_size(MAX_INT) == MAX_INT and parse_size("8TiB") == 8 * 2**40
    with pytest.raises(ValueError, match="size too large"):
        parse_size(MAX_INT + 1)


# ---- accelsim plot on a malformed sweep folder ---------------------------------------------------------------------
SWEEP = """\
name: two
base:
  workload: {model: lenet5, batch: 1}
  arch: gemmini
grid:
  arch.core.systolic.rows: [8, 16]
"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A finished two-point sweep folder (no plots)."""
    from accelsim.sweep.runner import run_sweep

    root = tmp_path_factory.mktemp("sweep")
    (root / "two.yaml").write_text(SWEEP)
    assert run_sweep(root / "two.yaml", root / "out", workers=1, progress=False, plots=False).ok == 2
    return root / "out"


@pytest.fixture
def broken(sweep_dir, here) -> Path:
    """A copy of the sweep folder, to break."""
    out = here / "s"
    out.mkdir()
    for f in sweep_dir.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    return out


@pytest.mark.parametrize("line, expected", [
    ("garbage", "not JSON: Expecting value (column 1)"),
    ("\udcff\udcfe", "not UTF-8 text"),  # the bytes ff fe (surrogateescape)
    ("[1, 2]", "not a result record: expected a JSON object, found list"),
    ('{"id": 5, "status": "ok"}', "not a result record: 'id' is missing or not a string"),
    ('{"id": "x", "status": "done"}', "not a result record: 'status' is missing or not 'ok' or 'error'"),
    ('{"id": "x", "status": "ok", "metrics": "fast"}', "metrics: expected a JSON object, found str"),
    ('{"id": "x", "status": "ok", "point": [1]}', "point: expected a JSON object, found list"),
    ('{"id": "x", "status": "error", "error": 7}', "error: expected a string, found int"),
    ('{"id": "x", "status": "ok", "metrics": {"total_cycles": 1' + "0" * 400 + "}}",
     "a number beyond 9,223,372,036,854,775,807 (2**63 - 1)"),
    ("[" * 100_000, "not JSON that can be read: nested too deeply"),
    ('{"id": "x", "status": "ok", "metrics": {"total_cycles": 1' + "0" * 5000 + "}}",
     "not JSON that can be read: a number with too many digits"),
])
def test_plot_ignores_and_names_the_bad_line_of_results_jsonl(broken, capsys, line, expected):
    # as a sweep into the folder ignores it (and runs its point again): one warning naming it
    with open(broken / "results.jsonl", "ab") as f:
        f.write(b"\n" + line.encode("utf-8", "surrogateescape") + b"\n")  # after a blank line: line 4
    code, lines = run_cli(capsys, "plot", "s")
    assert code == 0
    assert lines == [f"warning: 1 line of s/results.jsonl is not a result (line 4: {expected}); ignored"]


def test_a_torn_last_line_is_still_ignored_and_a_sweep_skips_bad_lines(broken):
    from accelsim.sweep.store import ResultStore, ordered_records

    with open(broken / "results.jsonl", "a") as f:
        f.write('{"id": "x", "status": "ok", "metrics": "fast"}\n{"id": "y", "sta')  # a bad line, a torn one
    store = ResultStore(broken)
    assert len(store.load()) == 2 and store.skipped_lines == 1  # a resumed sweep runs the bad line's point again
    with pytest.raises(Exception, match=r"results.jsonl:3: metrics: expected a JSON object"):
        ordered_records(broken, strict=True)
    (broken / "results.jsonl").write_text((broken / "results.jsonl").read_text().splitlines()[0] + "\n{\"id")
    assert len(ordered_records(broken, strict=True)) == 1  # only the torn tail after the last newline


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t[:-20], r"sweep.json:\d+: not valid JSON: "),
    (lambda t: "\ufffe" + t, r"sweep.json:1: not valid JSON: Expecting value \(column 1\)"),
    (lambda t: t.replace('"format": "accelsim-sweep/1"', '"format": "other"'),
     r"sweep.json: not an accelsim sweep description \(no \"format\": \"accelsim-sweep/1\"\)"),
    (lambda t: t.replace('"axes": [', '"axes": "rows", "was": ['), r"sweep.json:\d+: axes: expected a list of axis "
                                                                     r"names \(strings\)"),
    (lambda t: t.replace('"ids": [', '"ids": [7, '), r"sweep.json:\d+: ids: expected a list of point ids"),
    (lambda t: t.replace('"name": "two"', '"name": ["two"]'), r"sweep.json:3: name: expected a string"),
])
def test_plot_names_what_is_wrong_with_sweep_json(broken, capsys, edit, expected):
    text = (broken / "sweep.json").read_text()
    (broken / "sweep.json").write_text(edit(text))
    code, lines = run_cli(capsys, "plot", "s")
    assert code == 2
    (line,) = lines
    assert re.fullmatch(r"accelsim: error: s/" + expected + ".*", line), line
    if "axes" in expected:  # the line where "axes" is written
        axes_line = text[: text.index('"axes"')].count("\n") + 1
        assert line.startswith(f"accelsim: error: s/sweep.json:{axes_line}: axes:")


def test_plot_of_a_binary_sweep_json(broken, capsys):
    (broken / "sweep.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    code, lines = run_cli(capsys, "plot", "s")
    assert code == 2
    assert lines == ["accelsim: error: s/sweep.json: not UTF-8 text (byte 0); is this a binary file?"]


def test_the_documented_limits_are_the_ones_in_the_code():
    doc = " ".join((REPO / "docs" / "configuration.md").read_text().split())  # line breaks as spaces
    assert f"`MAX_YAML_BYTES` = {MAX_YAML_BYTES // 2**20} MiB" in doc
    assert f"`MAX_DEPTH` = {MAX_DEPTH} deep" in doc
    assert f"`MAX_ALIAS_NODES` = {MAX_ALIAS_NODES:,} values" in doc
    assert MAX_INT == 2**63 - 1 and "`MAX_INT` = 2⁶³ − 1" in doc
    assert f"A message line is at most {MAX_LINE_CHARS:,} characters" in doc


@pytest.mark.parametrize("value, expected", [
    ("2020-13-45", "cannot read '2020-13-45' as a YAML timestamp (month must be in 1..12)"),
    ("!!int abc", "cannot read 'abc' as a YAML int (invalid literal for int() with base 10: 'abc')"),
    ("!!float xyz", "cannot read 'xyz' as a YAML float (could not convert string to float: 'xyz')"),
    ("!!bool maybe", "cannot read 'maybe' as a YAML bool (maybe)"),
    ("1" + "0" * 5000, "number too large: an integer of 5,001 digits"),
])
def test_scalars_yaml_cannot_construct_are_one_line_errors(value, expected):
    assert one_error(parse_yaml, f"core:\n  rows: {value}\n", "t.yaml") == f"t.yaml:2: core.rows: {expected}"
    assert one_error(parse_yaml, f"{value}: 1\n", "t.yaml").startswith("t.yaml:1: ")  # as a key too


def test_a_huge_int_from_python_or_set_is_reported_not_printed(capsys):
    arch = load_yaml(ARCH / "tpu-v1.yaml")[0]
    arch["core"]["systolic"]["rows"] = 10**5000
    assert one_error(load_arch, arch) == ("<input>: arch.core.systolic.rows: number too large (the limit is "
                                         "9,223,372,036,854,775,807, 2**63 - 1) (got an integer of 16,610 bits)")
    code, lines = run_cli(capsys, "run", "--workload", "lenet5", "--arch", "tpu-v1", "--no-plots", "-o", "out",
                          "--set", "arch.core.systolic.rows=1" + "0" * 5000)
    assert code == 2
    assert lines == ["accelsim: error: --set: arch.core.systolic.rows: value is not valid YAML: number too large: an "
                     "integer of 5,001 digits (got '1" + "0" * 77 + "…)"]  # the value cut to 80 characters


@pytest.mark.parametrize("override, expected", [
    ("arch.hbm.latency=1.0e+308s", "--set: arch.hbm.latency: 1e+308 s is more than 9,223,372,036,854,775,807 "
                                   "(2**63 - 1) cycles at the clock of 7e+08 Hz"),
    ("arch.kernel_launch=1.0e+300s", "--set: arch.kernel_launch: 1e+300 s is more than 9,223,372,036,854,775,807"),
    ("arch.levels.cxl={capacity: 1GB, bandwidth: 1GB/s, after: l3}",
     "--set: arch.levels.cxl.after: no level 'l3' (levels: sram, hbm, host)"),
])
def test_an_arch_wide_check_points_at_the_key_it_names(capsys, override, expected):
    code, lines = run_cli(capsys, "run", "--workload", "lenet5", "--arch", "tpu-v1", "--no-plots", "-o", "out",
                          "--set", override)
    assert code == 2
    (line,) = lines
    assert line.startswith(f"accelsim: error: {expected}"), line


def test_a_latency_within_64_bits_of_cycles_still_loads():
    assert load_arch("tpu-v1", ["arch.hbm.latency=1000s"]).hbm.latency == 1000.0


def test_access_bytes_is_a_size_with_units(here, capsys):
    # docs/configuration.md: sizes take B, KB, KiB ...; an SSD's access is a 4 KiB page (4 x 1024 = 4,096 B)
    from accelsim.config import load_experiment

    exp = load_experiment("resnet18_scalesim", ["arch.hbm.access_bytes=4KiB"])
    assert exp.arch.memory("hbm").access_bytes == 4096
    assert main(["run", "resnet18_scalesim", "--set", "arch.hbm.access_bytes=-4KiB", "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "hbm.access_bytes" in line


def test_a_non_ascii_digit_in_a_set_key_is_a_key_not_an_index(capsys):
    # "²".isdigit() is True but int("²") raises: the key segment is a (wrong) name, reported as one line
    assert main(["run", "-w", "gemm", "-a", "tpu-v1", "--set", "workload.²=1", "-q"]) == 2
    # no key is close to it: the gemm builder's few keys are listed (probe p84 #6)
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: --set: workload.²: Extra inputs are not permitted; it takes batch, bias, dtype, input_dtype, "
        "k, m, mode, n, optimizer, output_dtype, sparsity (got 1)"]


def test_the_scalesim_form_refuses_settings_it_would_ignore(capsys):
    data = Path(__file__).resolve().parents[1] / "data" / "scalesim"
    files = ["--scalesim-config", str(data / "tiny_os.cfg"), "--topology", str(data / "conv.csv")]
    assert main(["run", *files, "--set", "arch.clock=2GHz", "--batch", "2", "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == ("accelsim: error: run: --set and --batch do not apply to --scalesim-config / --topology (edit "
                    "the .cfg and .csv files, as SCALE-Sim reads them)")


def test_a_level_may_not_take_the_scratchpads_or_the_links_name(capsys):
    # report.json's levels and bytes key the cores' scratchpad as "sram" and the interconnect as "link": a memory
    # level of the same name would be merged with them
    for name in ("sram", "link"):
        assert main(["run", "-w", "gemm", "-a", "tpu-v1", "--set",
                     f"arch.levels={{{name}: {{capacity: 1MiB, bandwidth: 1TB/s}}}}", "-q"]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert f"levels.{name}: '{name}' is a reserved name" in line


def test_broadcasting_follows_numpys_rule_at_any_size(capsys):
    from accelsim.builders.layers import broadcast_shapes

    # numpy's broadcasting rules (docs "Broadcasting"): aligned at the right, sizes equal or one of them 1
    assert broadcast_shapes((8, 1, 6, 1), (7, 1, 5)) == (8, 7, 6, 5)
    assert broadcast_shapes((5, 4), (4,)) == (5, 4) and broadcast_shapes((), (3,)) == (3,)
    assert broadcast_shapes((2, 1), (8, 4, 3)) is None
    # a batch of 2**63 - 1 images: identical shapes broadcast (numpy refused arrays that large, and the residual add
    # read "cannot broadcast [N, 256, 56, 56] with [N, 256, 56, 56]"); the run is then refused as too large
    assert main(["run", "-w", "resnet50", "-a", "tpu-v1", "--batch", str(2**63 - 1), "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "cannot broadcast" not in line and "need" in line


def test_a_conv2d_micro_workloads_shape_error_names_its_parameter(here, capsys):
    # 64 input channels (the micro-workload's default) cannot be split into 3 groups (torch.nn.Conv2d's rule)
    Path("c.yaml").write_text("workload:\n  model: conv2d\n  groups: 3\narch: tpu-v1\n")
    assert main(["run", "c.yaml", "-q"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: c.yaml:3: workload.groups: conv2d: conv2d 'conv': in_channels 64 is not divisible by "
        "groups 3"]


def test_a_conv2d_micro_workloads_geometry_error_is_at_the_key_set_last(here, capsys):
    # torch's output size floor((H + 2·p − d·(k − 1) − 1) / s) + 1: a 7×7 kernel, no padding, on a 3×3 input gives
    # floor((3 + 0 − 6 − 1) / 1) + 1 = −3; every key in the file: the check's own key, kernel_size (line 4)
    Path("e.yaml").write_text("workload:\n  model: conv2d\n  padding: 0\n  kernel_size: 7\n  height: 3\n"
                              "  width: 3\narch: gemmini\n")
    assert main(["run", "e.yaml", "-q"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: e.yaml:4: workload.kernel_size: leaves an output of -3×-3 on the height × width 3×3 input "
        "(stride 1×1, padding 0×0, dilation 1×1): it needs at least 1×1 (got 7)"]
    # all three from --set (a tie): kernel_size; padding 1 (the preset's): floor((4 + 2 − 8 − 1) / 1) + 1 = −2
    assert main(["run", "-w", "conv2d", "-a", "edge-npu", "--set", "workload.kernel_size=9", "--set",
                 "workload.height=4", "--set", "workload.width=4", "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("accelsim: error: --set: workload.kernel_size: leaves an output of -2×-2 on the "
                           "height × width 4×4 input (stride 1×1, padding 1×1"), line
    # the file sets the stride, --set the padding: the padding, set last, is named, the stride with its line
    Path("s.yaml").write_text("workload:\n  model: conv2d\n  stride: 2\narch: gemmini\n")
    assert main(["run", "s.yaml", "--set", "workload.padding=same", "-q"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: --set: workload.padding: workload.stride (2, from s.yaml:3) must be 1 with padding 'same' "
        "(torch's rule) (got 'same')"]
    # from Python: the same check, at <input>
    with pytest.raises(ConfigError, match=r"^<input>: workload.stride: must be 1 with padding 'same'"):
        accelsim.simulate({"model": "conv2d", "padding": "same", "stride": 2}, "edge-npu", plots=False)


def test_a_classifier_too_small_for_its_layers_is_at_image_size(here, capsys):
    # LeNet-5 at 8×8: conv1 (5×5, no padding) leaves 8 − 4 = 4, pool1 (2×2) 2, conv2 (5×5) 2 − 4 = −2
    Path("l.yaml").write_text("workload:\n  model: lenet5\n  image_size: 8\narch: gemmini\n")
    assert main(["run", "l.yaml", "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("accelsim: error: l.yaml:3: workload.image_size: 8 is too small: lenet5: conv2d 'conv2': "
                           "output size -2×-2 is not positive (input 2×2"), line
    assert main(["run", "-w", "lenet5", "-a", "edge-npu", "--set", "workload.image_size=8", "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("accelsim: error: --set: workload.image_size: 8 is too small"), line


def test_unknown_top_level_keys_are_capped_like_every_other_problem(here, capsys):
    from accelsim.config.schema import MAX_ISSUES

    # 100 unknown top-level keys: the first MAX_ISSUES (50) each on a line and one counting the 50 others
    keys = "".join(f"bogus{i}: 1\n" for i in range(100))
    Path("many.yaml").write_text("workload: resnet18\narch: tpu-v1\n" + keys)
    assert main(["run", "many.yaml", "-q"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == MAX_ISSUES + 1
    assert any(line.endswith(f"{100 - MAX_ISSUES} more problems not shown") for line in lines)


def test_a_name_given_on_the_command_line_labels_its_error(capsys):
    # no file stands behind a preset name that does not exist: the name given is the line's label, not "<input>"
    for argv, label in ((["info", "gemmm"], "gemmm: neither a workload nor an arch"),
                        (["serve", "llama2_7b_h10"], "llama2_7b_h10: serve: unknown serving preset"),
                        (["run", "resnet50_tpu_v2"], "resnet50_tpu_v2: experiment: unknown experiment preset")):
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"accelsim: error: {label}"), line
