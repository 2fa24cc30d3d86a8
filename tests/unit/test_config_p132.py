"""Probe p132 #5, #6: a ``null:`` key is reported at its line; a mapping given whole by ``--set`` is not said to be
missing from the file."""

from __future__ import annotations

import os

from accelsim.cli import main


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_a_mapping_given_whole_by_set_is_not_said_to_be_missing_from_the_file(capsys):
    # gemmini.yaml has core.systolic; --set arch.core.systolic={} replaced it with an empty mapping
    assert main(["run", "-w", "lenet5", "-a", "gemmini", "-q", "--set", "arch.core.systolic={}", "-o", "unused"]) == 2
    lines = _err_lines(capsys)
    assert lines[0] == ("accelsim: error: --set: arch.core.systolic.rows: missing: the command line's core.systolic "
                        "has no rows (a mapping given whole replaces the file's; --set a key inside it to change that "
                        "key alone)")
    assert not os.path.exists("unused")
    # a key set inside a mapping the file lacks still says so (probe p83 #7)
    assert main(["run", "-w", "lenet5", "-a", "gemmini", "-q", "--set", "arch.l2.capacity=1MiB", "-o", "unused"]) == 2
    assert "the file has no l2, so the command line's key inside it adds a new one" in _err_lines(capsys)[0]


def test_a_null_key_is_reported_at_its_line(tmp_path, capsys):
    path = tmp_path / "nullkey.yaml"
    path.write_text("model: lenet5\nnull: 2\n")  # the null key is on line 2
    assert main(["info", str(path)]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: {path}:2: None: Keys should be strings (got None)"]
