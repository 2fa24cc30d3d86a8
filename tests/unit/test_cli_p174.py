"""Probe p174: a user's folder holding a file named as accelsim's mark (report.json, requests.csv, sweep.json, ...)
is not taken for accelsim's: the mark counts only when its content is what the command writes there, so ``run``,
``Report.save`` and ``ServeResult.save`` refuse the folder and touch nothing (before: exit 0, the user's trace.json
and roofline.png deleted, report.json replaced). And ``Report`` answers ``in``, ``list`` and ``dict`` as a mapping."""

from __future__ import annotations

import json

import pytest

import accelsim
from accelsim.cli import main
from accelsim.errors import AccelsimError
from accelsim.report.writers import claim_folder, folder_writers, read_report
from accelsim.serving import capacity, curve, metrics
from accelsim.sweep.store import FORMAT

RUN = ["run", "-w", "lenet5", "-a", "gemmini", "--no-plots", "-q"]


def _refuse(command: str) -> str:
    return f"'{command}' writes into a new folder, an empty one or one it wrote: give -o another folder"


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _user_folder(tmp_path, files: dict[str, str]):
    out = tmp_path / "u"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    return out


def test_run_refuses_a_users_folder_holding_its_own_report_json_and_touches_nothing(tmp_path, capsys):
    # the probe's commands: the user's report.json is {"my": "own"}, which plot refuses as not a report
    out = _user_folder(tmp_path, {"report.json": '{"my":"own"}\n', "trace.json": "{}\n", "roofline.png": "keep\n"})
    before = _files(out)
    assert main([*RUN, "-o", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"accelsim: error: {out}: not empty and not written by accelsim (holds report.json, roofline.png, "
                   f"trace.json); {_refuse('accelsim run')}"]
    assert _files(out) == before  # was: trace.json and roofline.png deleted, report.json replaced
    with pytest.raises(AccelsimError, match=r"report.json: not an accelsim report \(missing "):
        read_report(out)  # the same file plot refuses


def test_report_save_refuses_a_users_folder_holding_a_report_json(tmp_path):
    out = _user_folder(tmp_path, {"report.json": '{"my": "own"}', "a.txt": "mine"})
    before = _files(out)
    report = accelsim.simulate({"model": "gemm", "m": 8, "n": 64, "k": 64}, "tpu-v1", plots=False)
    with pytest.raises(AccelsimError) as e:
        report.save(out, plots=False)
    assert str(e.value) == (f"{out}: not empty and not written by accelsim (holds a.txt, report.json); "
                            f"{_refuse('accelsim run')}")
    assert _files(out) == before


def test_serve_save_refuses_a_users_folder_holding_a_requests_csv(tmp_path):
    out = _user_folder(tmp_path, {"requests.csv": "id,prompt\n1,hello\n", "mydata.txt": "data"})
    before = _files(out)
    result = accelsim.serve("llama2_7b_h100", overrides=["workload.requests=3", "workload.duration=null"])
    with pytest.raises(AccelsimError) as e:
        result.save(out)
    assert str(e.value) == (f"{out}: not empty and not written by accelsim (holds mydata.txt, requests.csv); "
                            f"{_refuse('accelsim serve')}")
    assert _files(out) == before


# a user's file of each mark's name, with content a foreign file has: none of them marks the folder
@pytest.mark.parametrize("name, text", [
    ("report.json", "{}"),
    ("report.json", '{"total_cycles": 5}'),
    ("report.json", "not json at all"),
    ("report.json", ""),
    ("requests.csv", "id,prompt,answer\n1,a,b\n"),
    ("sweep.json", '{"format": "my-sweep/2", "ids": []}'),
    ("sweep.json", "[]"),
    ("sweep.csv", "value,cost\n1,2\n"),
    ("capacity.csv", "rate,price\n1,2\n"),
    ("capacity_sweep.csv", "value,capacity_requests_per_s,runs,mine\n"),  # the header of accelsim's and one more
])
@pytest.mark.parametrize("command", ["accelsim run", "accelsim serve", "accelsim sweep", "accelsim serve --sweep"])
def test_a_users_file_named_as_a_mark_marks_nothing_for_any_command(tmp_path, name, text, command):
    out = tmp_path / "u"
    out.mkdir(exist_ok=True)
    (out / name).write_text(text)
    assert folder_writers(out) == []
    with pytest.raises(AccelsimError, match=rf"not empty and not written by accelsim \(holds {name}\); "):
        claim_folder(out, command)


# each command's mark as it writes it (the column tuples and format marker the writers use), taken as its own
@pytest.mark.parametrize("name, text, command", [
    ("requests.csv", ",".join(metrics.CSV_COLUMNS) + "\n1,0,0.5\n", "accelsim serve"),
    ("sweep.csv", ",".join(curve.curve_columns("rate")) + "\n", "accelsim serve --sweep"),
    ("sweep.csv", ",".join(curve.curve_columns(["rate", "replicas"])) + "\n", "accelsim serve --sweep"),  # 2 keys
    ("capacity.csv", ",".join(capacity.COLUMNS) + "\n", "accelsim serve --capacity"),
    ("capacity_sweep.csv", ",".join(capacity.SWEEP_COLUMNS) + "\n", "accelsim serve --capacity --sweep"),
    ("sweep.json", json.dumps({"format": FORMAT, "name": "s"}, indent=2), "accelsim sweep"),
])
def test_each_commands_own_mark_still_claims_its_folder(tmp_path, name, text, command):
    (tmp_path / name).write_text(text)
    assert folder_writers(tmp_path) == [command]
    claim_folder(tmp_path, command)


def test_a_folder_a_run_wrote_is_reused_and_a_report_with_keys_reordered_still_counts(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*RUN, "-o", str(out)]) == 0
    assert folder_writers(out) == ["accelsim run"]
    assert main([*RUN, "-o", str(out)]) == 0  # its own folder, again
    # the same report with its keys sorted (jq -S, a script's json.dump(sort_keys=True)) and written on one line:
    # accelsim_version is then not the first key ("accelsim_version" < "active_fraction" sorts it first, so put it
    # last), and the whole report is checked as plot checks it
    report = json.loads((out / "report.json").read_text())
    version = report.pop("accelsim_version")
    (out / "report.json").write_text(json.dumps({**dict(sorted(report.items())), "accelsim_version": version}))
    assert folder_writers(out) == ["accelsim run"]
    assert main([*RUN, "-o", str(out)]) == 0
    capsys.readouterr()


def test_report_is_a_read_only_mapping_for_in_list_and_dict():
    r = accelsim.simulate("lenet5", "multicore-4")
    data = r.to_dict()
    assert "energy" in data and data["energy"] is None  # multicore-4 has no energy model: the key is there, null
    assert "energy" in r  # was: KeyError: 0 (the sequence protocol's r[0])
    assert "no_such_key" not in r and 0 not in r
    assert list(r) == list(data) == r.keys()
    assert len(r) == len(data)
    assert dict(r) == data
    with pytest.raises(TypeError):
        r["name"] = "x"  # read-only
