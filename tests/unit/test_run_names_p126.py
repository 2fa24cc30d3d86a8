"""The default name and folder of ``accelsim run --workload hf|onnx|torch --arch A`` (probe p126 #1): the model's
name and the arch's, ``<model>_<arch>``, so two models on one arch write two folders (before: ``hf_<arch>`` for
every config, the second run silently replacing the first's report)."""

from __future__ import annotations

import json

from accelsim.cli import main
from accelsim.config import experiment_from_parts

# a Llama-shaped config small enough to run in a moment; the fields a LlamaConfig reads
TINY = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 256,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "hidden_act": "silu", "torch_dtype": "bfloat16"}


def _run(capsys, *args: str) -> str:
    """The report folder ``accelsim run -q`` printed."""
    assert main(["run", "--workload", "hf", "--arch", "h100", "--no-plots", "-q", *args]) == 0
    return capsys.readouterr().out.strip()


def test_two_hf_configs_on_one_arch_write_two_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # named by _name_or_path's last part (as from_pretrained's hub id "org/name"), and by the folder of a config.json
    (tmp_path / "alpha.json").write_text(json.dumps({**TINY, "_name_or_path": "org/alpha-1b"}))
    (tmp_path / "beta").mkdir()
    (tmp_path / "beta" / "config.json").write_text(json.dumps(TINY))
    first = _run(capsys, "--set", "workload.config=alpha.json")
    second = _run(capsys, "--set", "workload.config=beta/config.json")
    assert (first, second) == ("runs/alpha-1b_h100", "runs/beta_h100")
    for folder, model in ((first, "alpha-1b"), (second, "beta")):
        report = json.loads((tmp_path / folder / "report.json").read_text())
        assert report["name"] == f"{model}_h100" and report["workload"]["name"] == model


def test_workload_name_wins(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alpha.json").write_text(json.dumps({**TINY, "_name_or_path": "org/alpha-1b"}))
    assert _run(capsys, "--set", "workload.config=alpha.json", "--set", "workload.name=mine") == "runs/mine_h100"
    # a name with a path separator still names one folder under runs/, not a folder inside another
    assert _run(capsys, "--set", "workload.config=alpha.json", "--set", "workload.name=org/x") == "runs/org_x_h100"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["mine_h100", "org_x_h100"]


def test_a_preset_keeps_its_name():
    # a workload preset is already one model: named after the preset, as before (llama3_8b is an hf preset)
    assert experiment_from_parts("llama3_8b", "h100").name == "llama3_8b_h100"
    assert experiment_from_parts("resnet18", "tpu-v1").name == "resnet18_tpu-v1"


def test_onnx_and_torch_builders_are_named_as_their_short_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.onnx").write_bytes(b"")  # only named here: the spec is not built
    # --workload tiny.onnx is named tiny_tpu-v1; so is --workload onnx --set workload.path=tiny.onnx
    assert experiment_from_parts("onnx", "tpu-v1", overrides=["workload.path=tiny.onnx"]).name == "tiny_tpu-v1"
    # --workload torch:pkg.nets:make_net is named make_net_tpu-v1; so is the factory given with --set
    spec = experiment_from_parts("torch", "tpu-v1", overrides=["workload.factory=pkg.nets:make_net"])
    assert spec.name == "make_net_tpu-v1"


def test_a_file_named_with_a_space_names_one_folder_either_way(tmp_path, monkeypatch):
    # probe p138 #4: the builder form went through the folder-name rule (space → _) and the path form did not, so
    # one model wrote runs/my_net_h100 and runs/my net_h100; both are my_net_h100 now (docs/configuration.md)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my net.onnx").write_bytes(b"")  # only named here: the spec is not built
    builder = experiment_from_parts("onnx", "h100", overrides=["workload.path=my net.onnx"]).name
    path = experiment_from_parts("my net.onnx", "h100").name
    assert builder == path == "my_net_h100"
    # an arch file's stem follows the same rule
    (tmp_path / "my arch.yaml").write_text("base: h100\n")
    assert experiment_from_parts("my net.onnx", "my arch.yaml").name == "my_net_my_arch"
