"""A sweep folder records the code fingerprint of its results and a resume with other code says so (probe p124 #2:
reuse keyed on point ids and the version string only, so a model change without a version bump would reuse stale
records of unchanged ids silently)."""

from __future__ import annotations

import json
import textwrap

from rich.console import Console

from accelsim.config import digest as fingerprint
from accelsim.sweep import runner
from accelsim.sweep.runner import run_sweep

from .sweep_inputs import TWO_POINT_SWEEP

SWEEP = TWO_POINT_SWEEP  # LeNet-5 on gemmini, 2 rows: 2 points of a few milliseconds each


def _sweep(tmp_path, monkeypatch, code: str, sweep: str = SWEEP) -> tuple[runner.SweepSummary, str]:
    """Run ``sweep`` into tmp_path/out as accelsim code of fingerprint ``code``: the summary and the console text."""
    monkeypatch.setattr(runner, "code_fingerprint", lambda: code)
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(sweep))
    con = Console(record=True, width=400)
    summary = run_sweep(path, tmp_path / "out", workers=1, progress=False, plots=False, console=con)
    return summary, con.export_text()


def test_resuming_with_other_code_warns_and_says_so_in_the_summary(tmp_path, monkeypatch):
    summary, text = _sweep(tmp_path, monkeypatch, "aaaa000000000000")
    info = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert info["code_fingerprint"] == "aaaa000000000000" and "earlier_fingerprints" not in info
    assert (summary.ran, summary.stale) == (2, ()) and "other accelsim code" not in text
    # the same version, other code: the 2 finished points are reused, as an earlier version's are, not silently
    for _ in range(2):  # and on every later run, not only the first (sweep.json keeps earlier_fingerprints)
        summary, text = _sweep(tmp_path, monkeypatch, "bbbb000000000000")
        assert (summary.ran, summary.skipped) == (0, 2)
        warning = [line for line in text.splitlines() if line.startswith("warning:")]
        assert warning == [f"warning: {tmp_path / 'out'} holds results of other accelsim code (fingerprint "
                           f"aaaa000000000000; this is bbbb000000000000); they are kept (ids hash the config, not "
                           f"the code): use a new OUTDIR to re-run them with this code"]
        assert summary.stale == ("2 points reused from results of other accelsim code (fingerprint "
                                 "aaaa000000000000; this is bbbb000000000000): use a new OUTDIR to re-run them",)
        assert str(summary).splitlines()[-1] == summary.stale[0] and summary.stale[0] in text
        info = json.loads((tmp_path / "out" / "sweep.json").read_text())
        assert (info["code_fingerprint"], info["earlier_fingerprints"]) == ("bbbb000000000000", ["aaaa000000000000"])


def _records(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]


def test_only_reused_points_that_other_code_computed_are_called_stale(tmp_path, monkeypatch):
    # probe p283 #1: once a folder held any record of other code, every reused point was called stale, those this
    # code had computed too. Each record now carries the fingerprint of the code that computed it.
    _sweep(tmp_path, monkeypatch, "aaaa000000000000")  # rows 8 and 16, by code aaaa
    assert [r["code"] for r in _records(tmp_path)] == ["aaaa000000000000"] * 2
    # a sweep of row 32 alone by code bbbb: its one point runs now; the aaaa records are no points of it
    row32 = SWEEP.replace("[8, 16]", "[32]")
    summary, _ = _sweep(tmp_path, monkeypatch, "bbbb000000000000", row32)
    assert (summary.ran, summary.skipped, summary.stale) == (1, 0, ())
    assert _records(tmp_path)[-1]["code"] == "bbbb000000000000"
    summary, text = _sweep(tmp_path, monkeypatch, "bbbb000000000000", row32)  # again: its point reused, this code's
    assert (summary.ran, summary.skipped, summary.stale) == (0, 1, ())
    assert "holds results of other accelsim code (fingerprint aaaa000000000000;" in text  # still true: rows 8, 16
    # rows 8 and 32: of the 2 reused points only row 8's record is aaaa's
    summary, text = _sweep(tmp_path, monkeypatch, "bbbb000000000000", SWEEP.replace("[8, 16]", "[8, 32]"))
    assert (summary.ran, summary.skipped) == (0, 2)
    assert summary.stale == ("1 point reused from results of other accelsim code (fingerprint aaaa000000000000; "
                             "this is bbbb000000000000): use a new OUTDIR to re-run them",)
    assert str(summary).splitlines()[-1] == summary.stale[0] and summary.stale[0] in text


def test_a_record_without_a_fingerprint_is_of_unknown_code(tmp_path, monkeypatch):
    # records written before each carried its code (an older accelsim's): reused, and said to be of unknown code
    _sweep(tmp_path, monkeypatch, "aaaa000000000000")
    lines = [{k: v for k, v in r.items() if k != "code"} for r in _records(tmp_path)]
    (tmp_path / "out" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    summary, _ = _sweep(tmp_path, monkeypatch, "aaaa000000000000")  # even where the folder names only this code
    assert (summary.ran, summary.skipped) == (0, 2)
    assert summary.stale == ("2 points reused from results that carry no code fingerprint (written before each "
                             "result recorded one: which accelsim code computed them is unknown; this is "
                             "aaaa000000000000): use a new OUTDIR to re-run them",)


def test_the_same_code_resumes_without_a_word(tmp_path, monkeypatch):
    _sweep(tmp_path, monkeypatch, "aaaa000000000000")
    summary, text = _sweep(tmp_path, monkeypatch, "aaaa000000000000")
    assert (summary.skipped, summary.stale) == (2, ()) and "warning" not in text


def test_the_fingerprint_hashes_every_file_its_path_and_bytes(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 2\n")
    roots = [("accelsim", tmp_path / "pkg", "*.py")]
    first = fingerprint.tree_hash(roots)
    assert fingerprint.tree_hash(roots) == first and len(first) == 16
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 3\n")  # one byte of a model changed: another fingerprint
    changed = fingerprint.tree_hash(roots)
    assert changed != first
    (tmp_path / "pkg" / "sub" / "b.py").rename(tmp_path / "pkg" / "c.py")  # the same bytes under another name
    assert fingerprint.tree_hash(roots) not in (first, changed)
    (tmp_path / "pkg" / "notes.txt").write_text("not code")  # outside the glob: no change
    assert fingerprint.tree_hash(roots) == fingerprint.tree_hash([("accelsim", tmp_path / "pkg", "*.py")])
    # the installed package's: computed once a process
    assert fingerprint.code_fingerprint() is fingerprint.code_fingerprint()
