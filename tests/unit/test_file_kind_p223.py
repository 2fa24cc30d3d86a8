"""Probe p223 #4: ``accelsim serve`` and ``accelsim sweep`` given an arch or a workload file printed 9 to 15 schema
lines ("model: missing", "chips: unknown key", "nothing to sweep", ...); each now gives the one line ``accelsim run``
gives the same file (config.docs.file_kind, the one test of a file's kind), with exit status 2."""

from __future__ import annotations

import pytest

from ..conftest import cli_errors

ARCH = "clock: 1GHz\ncore: {systolic: {rows: 8, cols: 8}}\n"
WORKLOAD = "model: gemm\nbatch: 1\n"
AS_ARCH = ("accelsim: error: {f}: this is an arch file (it gives clock:/core:); run it with 'accelsim run "
           "--workload WORKLOAD --arch {f}'")
AS_WORKLOAD = ("accelsim: error: {f}: this is a workload file (it names a model:); run it with 'accelsim run "
               "--workload {f} --arch ARCH'")


@pytest.mark.parametrize(("name", "text", "line"), [("a.yaml", ARCH, AS_ARCH), ("w.yaml", WORKLOAD, AS_WORKLOAD)])
@pytest.mark.parametrize("command", [["serve", "-o", "x", "-q", "--no-plots"], ["sweep", "-q"], ["run", "-q"]])
def test_an_arch_or_workload_file_given_to_serve_or_sweep_is_run_s_one_line(tmp_path, monkeypatch, capsys, name, text,
                                                                             line, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(text)
    argv = [command[0], name, *command[1:]]
    assert cli_errors(capsys, argv) == [line.format(f=name)]


@pytest.mark.parametrize("preset", ["arch/h100.yaml", "workloads/gemm.yaml"])
@pytest.mark.parametrize("command", ["serve", "sweep"])
def test_the_shipped_files_the_probe_gave(capsys, preset, command):
    # the probe's four commands: one line each, the same as accelsim run's for that file
    from pathlib import Path

    path = str(Path(__file__).resolve().parents[2] / preset)
    (run_line,) = cli_errors(capsys, ["run", path, "-q"])
    assert cli_errors(capsys, [command, path, "-q"]) == [run_line]
