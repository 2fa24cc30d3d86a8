"""Hostile and broken input fails fast with one line per problem: YAML limits (alias bombs, size, control
characters, nesting, binary files, overflowing numbers), non-finite numbers and booleans where numbers are
expected, long messages cut short, and ``accelsim plot`` on a malformed sweep folder.

Every case goes through :func:`accelsim.cli.main` or the config API and checks the exit status, the file and line
named, and that nothing is a traceback or an internal error.
"""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from accelsim.cli import main
from accelsim.config import load_arch, yamlio
from accelsim.config.yamlio import MAX_ALIAS_NODES, MAX_DEPTH, MAX_YAML_BYTES, load_yaml, parse_yaml
from accelsim.errors import MAX_LINE_CHARS, ConfigError

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


def one_error(fn, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    (line,) = str(info.value).splitlines()
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
    t0 = time.perf_counter()
    try:
        code, lines = run_cli(capsys, "run", "bomb.yaml", "--no-plots", "-o", "out")
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2
    # level e holds 9 × (level d: 1 + 9 × 91) values: the first alias past 10,000 added values is on line 5
    assert lines == [f"accelsim: error: bomb.yaml:5: aliases expand to more than {MAX_ALIAS_NODES:,} values (an "
                     f"alias bomb?); write the values out instead"]
    assert seconds < 1.0
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


def test_a_file_over_the_size_limit_is_refused_before_reading(here, capsys):
    assert MAX_YAML_BYTES == 8 * 2**20
    with open("huge.yaml", "wb") as f:
        f.truncate(MAX_YAML_BYTES + 1)  # sparse: costs no disk
    t0 = time.perf_counter()
    code, lines = run_cli(capsys, "run", "--workload", "lenet5", "--arch", "huge.yaml", "--no-plots", "-o", "out")
    assert code == 2
    assert lines == [f"accelsim: error: huge.yaml: file too large: {MAX_YAML_BYTES + 1:,} bytes; YAML inputs are "
                     f"limited to {MAX_YAML_BYTES:,} bytes (8 MiB)"]
    assert time.perf_counter() - t0 < 1.0


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
    t0 = time.perf_counter()
    assert "deeper than 64 levels" in one_error(parse_yaml, text, "t.yaml")
    assert time.perf_counter() - t0 < 1.0


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


# ---- long messages -----------------------------------------------------------------------------------------------
def test_a_huge_key_or_value_gives_a_short_line(here, capsys):
    key = "k" * 1_000_000  # an explicit key ("? KEY"): YAML limits implicit keys to 1024 characters
    Path("e.yaml").write_text(f"name: x\nworkload: lenet5\narch: tpu-v1\n? {key}\n: 1\ndescription: {'d' * 1_000_000}\n")
    t0 = time.perf_counter()
    code, lines = run_cli(capsys, "run", "e.yaml", "--no-plots", "-o", "out")
    assert time.perf_counter() - t0 < 5.0
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
