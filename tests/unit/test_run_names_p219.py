"""An hf workload's name where the config's ``_name_or_path`` ends in a part that names no model (probe p219 #2):
falcon-mamba-7b's published ``"./"`` and starcoder2-15b's ``"/aot/checkpoints/15b/config.json"`` named the model
``.`` (run folder ``runs/model_h100``, so two such models overwrote one report) and ``config.json``
(``runs/config.json_h100``). Such a part is passed over for the config file's folder or stem, as a config without
``_name_or_path`` is named (docs/configuration.md)."""

from __future__ import annotations

import json

import pytest

from accelsim.builders.hf import HfParams
from accelsim.cli import main
from accelsim.config import experiment_from_parts

from .test_run_names_p126 import TINY


@pytest.mark.parametrize(("name_or_path", "name"), [
    ("./", "fmamba"),  # falcon-mamba-7b's published value
    (".", "fmamba"),
    ("..", "fmamba"),
    ("../", "fmamba"),
    ("/aot/checkpoints/15b/config.json", "fmamba"),  # starcoder2-15b's published value
    ("config.json", "fmamba"),
    ("", "fmamba"),
    ("tiiuae/falcon-mamba-7b", "falcon-mamba-7b"),  # a hub id still names the model by its last part
    ("/raid/pablo/codestral-hf-good/", "codestral-hf-good"),  # a folder too (Mamba-Codestral-7B's)
])
def test_a_last_part_that_names_no_model_falls_back_to_the_files_stem(tmp_path, monkeypatch, name_or_path, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fmamba.json").write_text(json.dumps({**TINY, "_name_or_path": name_or_path}))
    assert HfParams.model_validate({"config": "fmamba.json"}).model_name() == name
    assert experiment_from_parts("hf", "h100", overrides=["workload.config=fmamba.json"]).name == f"{name}_h100"


def test_a_config_json_in_a_folder_is_named_by_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "falcon-7b").mkdir()
    (tmp_path / "falcon-7b" / "config.json").write_text(json.dumps({**TINY, "_name_or_path": "./"}))
    assert HfParams.model_validate({"config": "falcon-7b/config.json"}).model_name() == "falcon-7b"
    assert HfParams.model_validate({"config": "falcon-7b"}).model_name() == "falcon-7b"  # the folder itself


def test_a_mapping_with_no_model_name_is_hf():
    assert HfParams.model_validate({"config": {**TINY, "_name_or_path": "./"}}).model_name() == "hf"


def test_two_models_named_dot_write_two_folders(tmp_path, monkeypatch, capsys):
    # the probe's commands: before, both printed runs/model_h100 and the second report replaced the first
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fmamba.json").write_text(json.dumps({**TINY, "_name_or_path": "./"}))
    (tmp_path / "falcon7b_dot.json").write_text(json.dumps({**TINY, "hidden_size": 128, "_name_or_path": "./"}))
    folders = []
    for config in ("fmamba.json", "falcon7b_dot.json"):
        assert main(["run", "--workload", "hf", "--arch", "h100", "--no-plots", "-q", "--set",
                     f"workload.config={config}"]) == 0
        folders.append(capsys.readouterr().out.strip())
    assert folders == ["runs/fmamba_h100", "runs/falcon7b_dot_h100"]
    for folder, model in zip(folders, ("fmamba", "falcon7b_dot"), strict=True):
        report = json.loads((tmp_path / folder / "report.json").read_text())
        assert report["name"] == f"{model}_h100" and report["workload"]["name"] == model
