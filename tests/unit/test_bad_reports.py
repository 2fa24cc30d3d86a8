"""Input accelsim did not write, refused with one line naming the file (and line, key) and exit status 2: a
report.json without the keys every report has (``compare``, ``plot``), a sweep's results.jsonl line with a metric
that is not a number (``plot``), a ``--baseline`` index outside the reports, a Hugging Face config.json that is
not UTF-8 or not JSON, levels whose ``after:`` go round in a circle, and an experiment ``name`` that is a path.

The reports are the simulator's own (``accelsim run -w gemm -a tpu-v1``), corrupted afterwards.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from accelsim.cli import main
from accelsim.config.docs import name_problem

PRESETS = Path(__file__).resolve().parents[2]


def _err(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


@pytest.fixture(scope="module")
def good_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bad_reports") / "good"
    assert main(["run", "-w", "gemm", "-a", "tpu-v1", "--no-plots", "-q", "-o", str(out)]) == 0
    return out


def _corrupt(good: Path, dst: Path, edit) -> Path:
    shutil.copytree(good, dst)
    report = json.loads((dst / "report.json").read_text())
    (dst / "report.json").write_text(json.dumps(edit(report)))
    return dst


def _without(key: str):
    def edit(report: dict) -> dict:
        report.pop(key)
        return report
    return edit


@pytest.mark.parametrize("edit, says", [
    (lambda r: {}, "not an accelsim report (missing total_cycles, seconds, clock_hz, macs and 8 more)"),
    (lambda r: {"total_cycles": "abc"}, "not an accelsim report (total_cycles: not a number)"),
    (lambda r: {**r, "total_cycles": "abc"}, "not an accelsim report (total_cycles: not a number)"),
    (lambda r: {**r, "total_cycles": 1.5}, "not an accelsim report (total_cycles: not an integer)"),
    (_without("ops"), "not an accelsim report (missing ops)"),
    (_without("seconds"), "not an accelsim report (missing seconds)"),
    (lambda r: {**r, "ops": {}}, "not an accelsim report (ops: not a list)"),
    (lambda r: {**r, "ops": [*r["ops"], 7]}, "not an accelsim report (ops[1]: not an object)"),
    (lambda r: [], "not an accelsim report (expected a JSON object, got list)"),
])
@pytest.mark.parametrize("command", ["compare", "plot"])
def test_a_report_accelsim_did_not_write_is_refused(command, edit, says, good_report, tmp_path, capsys):
    bad = _corrupt(good_report, tmp_path / "bad", edit)
    capsys.readouterr()
    argv = ["compare", str(good_report), str(bad)] if command == "compare" else ["plot", str(bad)]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and err.splitlines() == [f"accelsim: error: {bad / 'report.json'}: {says}"], err
    assert out == "" and not list(bad.glob("*.png"))  # nothing printed, nothing drawn


def test_the_real_report_still_compares_and_plots(good_report, tmp_path, capsys):
    assert main(["compare", str(good_report), str(good_report)]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(good_report, copy)
    assert main(["plot", str(copy)]) == 0 and len(list(copy.glob("*.png"))) == 4


@pytest.mark.parametrize("baseline, says", [
    ("-1", "--baseline: -1 is out of range: the 2 reports are 0 to 1, counted from 0"),
    ("2", "--baseline: 2 is out of range: the 2 reports are 0 to 1, counted from 0"),
])
def test_compare_baseline_must_index_the_reports_from_0(baseline, says, good_report, capsys):
    code = main(["compare", str(good_report), str(good_report), "--baseline", baseline])
    out, err = capsys.readouterr()
    assert code == 2 and err.splitlines() == [f"accelsim: error: {says}"] and out == "", err
    assert main(["compare", str(good_report), str(good_report), "--baseline", "1", "--json"]) == 0


def test_plot_of_a_sweep_with_a_metric_that_is_not_a_number_ignores_the_line_and_names_it(tmp_path, capsys):
    # as a sweep into the folder does (it runs the line's point again): one warning naming the line, exit 0
    (tmp_path / "s.yaml").write_text("name: s\nbase:\n  workload: {model: gemm}\n  arch: tpu-v1\n"
                                     "grid:\n  workload.m: [8, 16]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.yaml"), "-o", str(out), "-q", "--workers", "1"]) == 0
    results = out / "results.jsonl"
    lines = results.read_text().splitlines()
    assert len(lines) == 2
    for key, value, says in [("total_cycles", "abc", "metrics.total_cycles: expected a number, found str"),
                             ("bytes", {"hbm": None}, "metrics.bytes.hbm: expected a number, found NoneType")]:
        record = json.loads(lines[1])
        record["metrics"][key] = value
        results.write_text("\n".join([lines[0], json.dumps(record)]) + "\n")
        capsys.readouterr()
        code = main(["plot", str(out)])
        assert code == 0 and _err(capsys) == [f"warning: 1 line of {results} is not a result (line 2: {says}); "
                                              f"ignored"]
        assert len((out / "results.csv").read_text().splitlines()) == 1 + 1  # the header and the good line


def test_a_hf_config_that_is_not_utf8_or_not_json_names_the_file(tmp_path, capsys):
    binary, broken = tmp_path / "bin.json", tmp_path / "broken.json"
    binary.write_bytes(b'{"a":\n 1}\xff\xfe garbage')
    broken.write_text('{"hidden_size": 64,\n "layers": }')
    for path, says in [(binary, f"{binary}:2: not UTF-8 text (byte 0xff at offset 9); is this a binary file?"),
                       (broken, f"{broken}:2: not JSON: Expecting value (column 12)")]:
        code = main(["run", "-w", "hf", "-a", "h100", "--no-plots", "-q", "-o", str(tmp_path / "o"),
                     "--set", f"workload.config={path}"])
        assert code == 2 and _err(capsys) == [f"accelsim: error: --set: workload.config: {says}"]
    exp = tmp_path / "e.yaml"
    exp.write_text(f"name: e\nworkload:\n  model: hf\n  config: {binary}\narch: h100\n")
    assert main(["run", str(exp), "--no-plots", "-q", "-o", str(tmp_path / "o")]) == 2
    (line,) = _err(capsys)
    assert line.startswith(f"accelsim: error: {exp}:4: workload.config: {binary}:2: not UTF-8 text (byte 0xff")


LEVELS = ("name: x\nworkload: {model: gemm}\narch:\n  base: tpu-v1\n  levels:\n"
          "    a: {role: memory, after: AFTER_A, capacity: 1GiB, bandwidth: 64GB/s}\n"
          "    b: {role: memory, after: AFTER_B, capacity: 1GiB, bandwidth: 64GB/s}\n")


@pytest.mark.parametrize("after_a, after_b, says", [
    ("b", "a", "6: arch.levels.a.after: circular 'after': a → b → a"),
    ("a", "hbm", "6: arch.levels.a.after: circular 'after': a → a"),
    ("b", "zz", "7: arch.levels.b.after: no level 'zz' (levels: sram, hbm, host, a)"),
])
def test_levels_after_in_a_circle_is_named_so(after_a, after_b, says, tmp_path, capsys):
    exp = tmp_path / "l.yaml"
    exp.write_text(LEVELS.replace("AFTER_A", after_a).replace("AFTER_B", after_b))
    assert main(["run", str(exp), "--no-plots", "-q", "-o", str(tmp_path / "o")]) == 2
    assert _err(capsys) == [f"accelsim: error: {exp}:{says}"]


def test_a_level_may_follow_one_written_after_it(tmp_path):
    exp = tmp_path / "l.yaml"
    exp.write_text(LEVELS.replace("AFTER_A", "b").replace("AFTER_B", "hbm"))
    assert main(["run", str(exp), "--no-plots", "-q", "-o", str(tmp_path / "o")]) == 0
    levels = json.loads((tmp_path / "o" / "report.json").read_text())["levels"]
    # tpu-v1 lists its accumulator SRAM as a level of its own since merge tpuaccum (core.systolic.accumulator_sram)
    assert [lv["name"] for lv in levels] == ["sram", "accumulators", "hbm", "b", "a", "host"]


@pytest.mark.parametrize("name", ["../../etc", "a/b", "..", "a\\\\b"])
@pytest.mark.parametrize("kind", ["run", "sweep"])
def test_a_name_that_is_a_path_is_refused(kind, name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    body = ("base:\n  workload: {model: gemm}\n  arch: tpu-v1\ngrid:\n  workload.m: [8]\n" if kind == "sweep"
            else "workload: {model: gemm}\narch: tpu-v1\n")
    Path("e.yaml").write_text(f'name: "{name}"\n{body}')
    code = main([kind, "e.yaml", "-q", *(["--no-plots"] if kind == "run" else [])])
    (line,) = _err(capsys)
    assert code == 2 and line.startswith("accelsim: error: e.yaml:1: name: expected a plain name"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.yaml"]  # no runs/, nothing beside it


def test_the_presets_names_are_plain():
    """Every experiment, sweep and serving preset keeps its name (and so its runs/NAME folder)."""
    files = sorted((PRESETS / "experiments").rglob("*.yaml"))
    assert len(files) > 20
    for path in files:
        name = yaml.safe_load(path.read_text()).get("name")
        assert name and name_problem(name) is None, path
