"""A user's own workload builder (accelsim.register_workload) and preset folders (ACCELSIM_PRESET_PATH)."""

import pytest

import accelsim
from accelsim import config
from accelsim.builders.layers import GraphBuilder
from accelsim.builders.params import WorkloadParams
from accelsim.builders.registry import BUILDERS
from accelsim.errors import AccelsimError, WorkloadError


class WideParams(WorkloadParams):
    width: int = 256


def build_wide(p: WideParams):
    b = GraphBuilder("wide", (p.batch, p.width), dtype=p.dtype or "int8")
    b.linear(b.input, p.width, name="fc")
    return b.build()


@pytest.fixture
def registered():
    accelsim.register_workload("wide_test", WideParams, build_wide, "one square linear")
    yield
    BUILDERS.pop("wide_test", None)


def test_a_registered_workload_runs_with_its_params(registered):
    report = accelsim.simulate({"model": "wide_test", "width": 512, "batch": 4}, "tpu-v1", plots=False).to_dict()
    assert report["macs"] == 4 * 512 * 512  # one linear: batch 4 rows × 512 in × 512 out
    assert report["workload"]["model"] == "wide_test" and report["workload"]["params"]["width"] == 512


def test_a_registered_workload_checks_its_keys(registered):
    with pytest.raises(AccelsimError, match="did you mean 'width'"):
        config.load_workload({"model": "wide_test", "widht": 512})


@pytest.mark.parametrize("args, words", [
    (("resnet50", WideParams, build_wide), "built-in workload"),
    (("mine", dict, build_wide), "WorkloadParams subclass"),
    (("mine", WideParams, lambda p: None), "module-level name"),
    (("my model", WideParams, build_wide), "letters, digits"),
])
def test_register_workload_refuses_bad_input(args, words):
    with pytest.raises(WorkloadError, match=words):
        accelsim.register_workload(*args)
    assert "mine" not in BUILDERS


def test_preset_path_finds_a_users_arch(tmp_path, monkeypatch):
    (tmp_path / "mine" / "arch").mkdir(parents=True)
    (tmp_path / "mine" / "arch" / "my-npu.yaml").write_text("name: my-npu\nbase: edge-npu\nhbm: {bandwidth: 51.2GB/s}\n")
    (tmp_path / "derived.yaml").write_text("name: derived\nbase: my-npu\n")
    with pytest.raises(AccelsimError, match="unknown arch preset"):
        config.load_arch(str(tmp_path / "derived.yaml"))
    monkeypatch.setenv("ACCELSIM_PRESET_PATH", str(tmp_path / "elsewhere") + ":" + str(tmp_path / "mine"))
    arch = config.load_arch(str(tmp_path / "derived.yaml"))
    assert arch.hbm.bandwidth == 51.2e9 and "my-npu" in config.list_presets("arch")
    assert config.load_arch("my-npu").hbm.bandwidth == 51.2e9  # by name, as -a my-npu
