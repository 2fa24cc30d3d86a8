"""Everyday CLI use (probe p59): an interrupted save, info's figures and names, compare's errors, the summary's
busy rows, the HTML utilization kinds and one way of writing micro."""

from __future__ import annotations

import json
import re

import pytest

import accelsim
from accelsim.cli import main
from accelsim.errors import AccelsimError
from accelsim.report import fmt, html, plots, result
from accelsim.report.console import unit_busy_rows
from accelsim.report.writers import INCOMPLETE_FILE, read_report

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


@pytest.fixture(scope="module")
def two_reports():
    """Two runs told apart by their name: an earlier one and the one saved over it."""
    return accelsim.simulate("lenet5", "gemmini"), accelsim.simulate("lenet5", "tpu-v1")


def _interrupt(*_args, **_kwargs):
    raise KeyboardInterrupt


def test_a_save_interrupted_part_way_leaves_no_file_of_the_earlier_run_and_a_marked_folder(two_reports, tmp_path,
                                                                                          monkeypatch):
    earlier, later = two_reports
    out = tmp_path / "out"
    first = {p.name for p in earlier.save(out, plots=True)}
    assert {"report.json", "ops.csv", "report.html", "utilization.png"} <= first and not (out / INCOMPLETE_FILE).exists()
    (out / "notes.txt").write_text("the user's")
    # the HTML page is the last file a save writes: a Ctrl-C there finds report.json and ops.csv already replaced
    monkeypatch.setattr(html, "write_html", _interrupt)
    with pytest.raises(result.SaveInterrupted) as e:
        later.save(out, plots=False)
    assert isinstance(e.value, KeyboardInterrupt)  # still a Ctrl-C to whoever catches that
    assert str(e.value) == (f"{out} is incomplete (marked by its {INCOMPLETE_FILE} file; it may lack files of this "
                            "run or the last): run the command again")
    # the earlier run's page and plots are gone, not left beside the new report.json; the user's file stays
    assert sorted(p.name for p in out.iterdir()) == sorted([INCOMPLETE_FILE, "notes.txt", "ops.csv", "report.json"])
    assert json.loads((out / "report.json").read_text())["name"] == later["name"] != earlier["name"]
    with pytest.raises(AccelsimError, match=f"^{re.escape(str(out))}: an incomplete report folder"):
        read_report(out)
    # a save that completes clears the mark
    monkeypatch.undo()
    later.save(out, plots=False)
    assert not (out / INCOMPLETE_FILE).exists() and read_report(out)["name"] == later["name"]


def test_a_save_interrupted_before_it_touches_the_folder_keeps_the_earlier_run_whole(two_reports, tmp_path,
                                                                                     monkeypatch):
    earlier, later = two_reports
    out = tmp_path / "out"
    earlier.save(out, plots=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(result, "atomic_write_text", _interrupt)  # the mark is the first thing a save writes
    with pytest.raises(KeyboardInterrupt):
        later.save(out, plots=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_run_interrupted_while_saving_says_the_folder_is_incomplete(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(result, "write_ops_csv", _interrupt)  # after report.json, before ops.csv
    code = main(["run", "-w", "lenet5", "-a", "tpu-v1", "-o", str(out), "--no-plots", "-q"])
    assert code == EXIT_INTERRUPTED
    assert _err_lines(capsys) == [f"accelsim: interrupted: {out} is incomplete (marked by its {INCOMPLETE_FILE} "
                                  "file; it may lack files of this run or the last): run the command again"]
    assert main(["compare", str(out), str(out)]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: {out}: an incomplete report folder (its save was interrupted: "
                                  f"see its {INCOMPLETE_FILE} file); run the command that wrote it again"]


def test_info_prints_a_multi_chip_peak_as_an_exact_count(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["info", "tpu-v5p-128"]) == 0
    text = capsys.readouterr().out
    # tpu-v5p: 2 cores x 4 arrays x 128 x 128 = 131,072 MACs/cycle a chip; 64 chips: 64 x 131,072 = 8,388,608
    # (",.6g" printed 8.38861e+06, wrong in its last digits)
    assert "131,072 per chip (2 cores); 64 chips: 8,388,608" in text
    assert "e+06" not in text


@pytest.mark.parametrize("name, says", [
    ("nosuch", "nosuch: neither a workload nor an arch ('accelsim list' shows them all)"),
    ("tpu-v44", "tpu-v44: neither a workload nor an arch; did you mean 'tpu-v4' (arch) or 'tpu-v1' (arch)? "
                "('accelsim list' shows them all)"),
    ("h10", "h10: neither a workload nor an arch; did you mean 'h100' (arch)? ('accelsim list' shows "
            "them all)"),
])
def test_info_of_an_unknown_name_names_both_kinds_and_close_names_of_each(name, says, capsys):
    assert main(["info", name]) == 2
    assert _err_lines(capsys) == [f"accelsim: error: {says}"]


def test_info_suggests_a_workload_for_a_near_workload_name(capsys):
    assert main(["info", "resnet5"]) == 2
    (line,) = _err_lines(capsys)
    assert line.startswith("accelsim: error: resnet5: neither a workload nor an arch; did you mean 'resnet50' "
                           "(workload)"), line


def test_compare_names_an_invalid_json_file_by_the_path_typed(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    for path in ("bad2.json", "sub/bad2.json"):
        (tmp_path / path).write_text("xx\n")
    # "xx": no JSON value starts with x, so the parser stops at the first character, line 1 column 1
    for path in ("bad2.json", "sub/bad2.json"):
        assert main(["compare", path, path]) == 2
        assert _err_lines(capsys) == [f"accelsim: error: {path}: not valid JSON: Expecting value (line 1 column 1)"]


def test_busy_rows_merge_identical_units_the_same_way_on_every_arch():
    # tpu-v4-like: 2 cores x 4 arrays, all at 50 %; vector units at 1 % and 3 % (mean 2 %)
    tpu = {**{f"core{c}.systolic{i}": 0.5 for c in range(2) for i in range(4)},
           "core0.vector": 0.01, "core1.vector": 0.03, "hbm": 0.9, "launch": 0.2}
    assert unit_busy_rows(tpu) == [("core*.systolic* (8)", "50.0 %"), ("core*.vector (2)", "2.0 % mean (1.0 %-3.0 %)"),
                                   ("hbm", "90.0 %"), ("launch", "20.0 %")]
    # utilization.png draws the same groups, a group's bar at its mean (2 %) with its range (1 %-3 %)
    assert [bar[0] for bar in plots._unit_bars(tpu)] == ["core*.systolic* (mean of 8)", "core*.vector (mean of 2)",
                                                         "hbm", "launch"]
    assert plots._unit_bars(tpu)[1][1:] == pytest.approx((0.02, 0.01, 0.03))
    # a GPU's lock-step SMs are one unit already; a one-core chip's single array keeps its name
    assert unit_busy_rows({"core*.systolic0": 0.059, "core*.vector": 0.0}) == [("core*.systolic0", "5.9 %"),
                                                                              ("core*.vector", "0.0 %")]
    assert unit_busy_rows({"core0.systolic0": 0.97}) == [("core0.systolic0", "97.0 %")]
    # a plug-in unit x2 of count 2 is x20 and x21: not numbered 0..n-1, so not taken for instances of a unit "x"
    assert [label for label, _ in unit_busy_rows({"core0.x20": 0.1, "core0.x21": 0.1, "core1.x20": 0.1,
                                                  "core1.x21": 0.1})] == ["core*.x20 (2)", "core*.x21 (2)"]


def test_run_summary_and_html_list_tpu_v4s_arrays_as_one_row(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["run", "-w", "lenet5", "-a", "tpu-v4", "-o", str(tmp_path), "--no-plots"]) == 0
    busy = [line for line in capsys.readouterr().out.splitlines() if re.match(r"^\W+busy ", line)]
    # tpu-v4: 2 cores x 4 arrays -> one systolic row of 8, one vector row of 2, then hbm and host
    assert [re.search(r"busy (\S+(?: \(\d+\))?)", line).group(1) for line in busy] == [
        "core*.systolic* (8)", "core*.vector (2)", "hbm", "host"]
    page = (tmp_path / "report.html").read_text()
    assert "<td>core*.systolic* (8)</td><td>compute</td>" in page and "core0.systolic1" not in page.split(
        "<h3>Utilization</h3>")[1].split("</table>")[0]
    assert len(json.loads((tmp_path / "report.json").read_text())["utilization"]) == 12  # 8 + 2 + hbm + host


def test_html_utilization_calls_the_kernel_launch_track_the_host_cpu(tmp_path):
    report = accelsim.simulate("lenet5", "h100")  # eager: a host launches each kernel (report utilization.launch)
    report.save(tmp_path, plots=False)
    page = (tmp_path / "report.html").read_text()
    assert "<td>launch</td><td>host CPU</td>" in page
    assert "<td>hbm</td><td>memory</td>" in page and "<td>core*.systolic0</td><td>compute</td>" in page


def test_micro_is_written_one_way_in_times_and_energies():
    # 8.67e-6 s and 279e-6 J: the same micro sign (U+00B5) before s and J
    assert fmt.seconds(8.67e-6) == "8.67\u00b5s" and fmt.joules(279e-6) == "279 \u00b5J"
    assert accelsim.units.parse_time(fmt.seconds(8.67e-6)) == pytest.approx(8.67e-6)
