"""Probe p142 #1: each form of ``accelsim serve`` (one run, ``--sweep``, ``--capacity``, both) writes by default into
a folder of its own, so the guide's commands run in the order docs/serving.md gives them. They shared the file's
``output`` (runs/llama2_7b_h100_8rps) and the output-folder rule (``claim_folder``) refused the second one."""

from __future__ import annotations

from pathlib import Path

from accelsim.cli import main

# llama2_7b_h100.yaml's `output: runs/llama2_7b_h100_8rps`; 5 requests of 8 output tokens keep each run small
BASE = "runs/llama2_7b_h100_8rps"
TINY = ["--set", "workload.requests=5", "--set", "workload.duration=null", "--set", "workload.output_tokens.value=8",
        "--no-plots", "-q"]


def test_serve_then_its_sweep_and_capacity_with_default_folders_all_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    forms = [  # (the command's extra arguments, the folder it prints, the file that says which form wrote it)
        ([], BASE, "requests.csv"),
        (["--sweep", "workload.arrival.rate=4,8"], f"{BASE}_sweep", "sweep.csv"),  # docs/serving.md:53-54's form
        (["--capacity"], f"{BASE}_capacity", "capacity.csv"),
        (["--capacity", "--sweep", "engine.max_num_seqs=32,64"], f"{BASE}_capacity_sweep", "capacity_sweep.csv"),
    ]
    for extra, folder, mark in forms:
        assert main(["serve", "llama2_7b_h100", *extra, *TINY]) == 0, capsys.readouterr().err
        assert capsys.readouterr().out == f"{folder}\n"  # -q prints the folder it wrote
        assert (tmp_path / folder / mark).is_file()
    # each folder holds one form's outputs only: one run's report.json is not beside a sweep's or a search's files
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(Path(f).name for _, f, _ in forms)
    assert not (tmp_path / f"{BASE}_sweep" / "report.json").exists()
    assert not (tmp_path / BASE / "sweep.csv").exists() and not (tmp_path / BASE / "capacity").exists()
    # and in the other order: the one run after the others still has its folder to itself
    assert main(["serve", "llama2_7b_h100", *TINY]) == 0, capsys.readouterr().err


def test_an_explicit_output_is_still_the_folder_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "llama2_7b_h100", "--sweep", "workload.arrival.rate=4,8", "-o", "mine", *TINY]) == 0
    assert capsys.readouterr().out == "mine\n" and (tmp_path / "mine" / "sweep.csv").is_file()
    assert not (tmp_path / "runs").exists()
