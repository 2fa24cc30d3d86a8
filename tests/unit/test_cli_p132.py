"""Probe p132 #1, #2, #6: an output folder is locked while written, only a new, empty or accelsim-written one is
taken, and ``-o`` naming what cannot be a folder is refused as ``-o``."""

from __future__ import annotations

import os
import socket

import pytest

from accelsim import api
from accelsim.cli import main
from accelsim.errors import AccelsimError
from accelsim.report.lock import LOCK_FILE, FolderLock
from accelsim.report.writers import claim_folder

RUN = ["run", "-w", "gemm", "-a", "tpu-v1", "-q", "--no-plots"]
REFUSE = "writes into a new folder, an empty one or one it wrote: give -o another folder"


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_a_run_into_a_folder_another_process_writes_is_refused_before_it_simulates(tmp_path, capsys, monkeypatch):
    out = tmp_path / "mx"

    def no_run(*args, **kwargs):
        raise AssertionError("simulated although the folder was taken")

    monkeypatch.setattr(api, "run_experiment", no_run)
    with FolderLock(out, "lenet5_gemmini", command="run") as held:  # the first `accelsim run` of the probe's pair
        assert main([*RUN, "-o", str(out)]) == 2
        assert os.listdir(out) == [LOCK_FILE] and held.held  # the holder's lock is left as it was
    lines = _err_lines(capsys)
    assert len(lines) == 1
    assert lines[0].startswith(f"accelsim: error: {out} is being written by another accelsim process "
                               f"(pid {os.getpid()}: 'accelsim run' of 'lenet5_gemmini' on {socket.gethostname()} since ")
    assert lines[0].endswith(f"wait for it to finish or give -o another folder (remove {out / LOCK_FILE} if that "
                             "process is gone)")


def test_a_serve_is_refused_while_a_sweep_holds_the_folder_and_a_sweep_while_a_run_does(tmp_path, capsys):
    out = tmp_path / "sv"
    with FolderLock(out, "s"):  # a sweep's lock (no command key: as sweeps wrote it before p132)
        assert main(["serve", "llama2_7b_h100", "-q", "--no-plots", "-o", str(out)]) == 2
    assert "is being written by another accelsim process" in _err_lines(capsys)[0]
    with FolderLock(out, "r", command="run"), pytest.raises(AccelsimError, match="'accelsim run' of 'r'"):
        with FolderLock(out, "s"):
            pass


def test_a_run_frees_its_folder_and_removes_one_it_made_when_it_fails(tmp_path, capsys, monkeypatch):
    out = tmp_path / "ok"
    assert main([*RUN, "-o", str(out)]) == 0
    assert (out / "report.json").is_file() and not (out / LOCK_FILE).exists()

    def fails(*args, **kwargs):
        raise AccelsimError("gemm: does not fit")

    monkeypatch.setattr(api, "run_experiment", fails)
    assert main([*RUN, "-o", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()  # made for the run, which wrote nothing: gone again (it was never made)
    assert main([*RUN, "-o", str(out)]) == 2
    assert (out / "report.json").is_file() and not (out / LOCK_FILE).exists()  # the earlier report stays


def test_a_run_refuses_a_folder_of_other_files_and_deletes_none_of_them(tmp_path, capsys):
    # probe p132 #2: a run into a user's folder deleted its trace.json and roofline.png
    out = tmp_path / "uf"
    out.mkdir()
    files = {"trace.json": "my notes\n", "roofline.png": "x\n", "mine.txt": "keep\n", "zz.txt": "z\n"}
    for name, text in files.items():
        (out / name).write_text(text)
    assert main([*RUN, "-o", str(out)]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: {out}: not empty and not written by accelsim (holds mine.txt, "
                                  f"roofline.png, trace.json, ...); 'accelsim run' {REFUSE}"]
    assert {p.name: p.read_text() for p in out.iterdir()} == files


@pytest.mark.parametrize("command", ["accelsim run", "accelsim serve", "accelsim sweep", "accelsim serve --sweep"])
def test_every_command_takes_a_new_or_empty_folder_and_refuses_one_of_other_files(tmp_path, command):
    claim_folder(tmp_path / "new", command)
    (tmp_path / "empty").mkdir()
    claim_folder(tmp_path / "empty", command)
    (tmp_path / "empty" / LOCK_FILE).write_text("{}")  # a writer's lock: not a file the folder holds
    claim_folder(tmp_path / "empty", command)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "notes.txt").write_text("")
    with pytest.raises(AccelsimError, match=rf"user: not empty and not written by accelsim \(holds notes.txt\); "
                                            rf"'{command}' {REFUSE}"):
        claim_folder(tmp_path / "user", command)


def test_a_run_takes_back_a_folder_its_interrupted_save_left_incomplete(tmp_path):
    # Report.save writes INCOMPLETE before removing the last run's files: interrupted then, the folder may hold the
    # mark alone, and its message says "run the command again"
    (tmp_path / "INCOMPLETE").write_text("")
    claim_folder(tmp_path, "accelsim run")
    # another command is refused, as the run's folder it is, not as a folder accelsim did not write (probe p138 #5:
    # "not written by accelsim (holds INCOMPLETE)", though INCOMPLETE is accelsim's own mark)
    for command in ("accelsim sweep", "accelsim serve"):
        with pytest.raises(AccelsimError) as e:
            claim_folder(tmp_path, command)
        assert str(e.value) == (f"{tmp_path}: holds an interrupted 'accelsim run' save (INCOMPLETE), which 'accelsim "
                                f"run' rewrites: run that run into it again, or give '{command}' -o another folder")


def test_o_naming_a_file_or_a_name_too_long_is_refused_as_o(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main([*RUN, "-o", str(afile)]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: run: -o: {afile} is a file, not a folder"]  # was <input>: outdir
    long = str(tmp_path / ("a" * 300))  # NAME_MAX is 255 bytes on Linux (and macOS)
    assert main([*RUN, "-o", long]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: run: -o: {long}: cannot use it as a folder: File name too "
                                  "long"]  # was "cannot write or read .../sweep.json"
    assert sorted(os.listdir(tmp_path)) == ["afile"]
