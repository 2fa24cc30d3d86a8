"""A user's own workload builder (accelsim.register_workload) and preset folders (ACCELSIM_PRESET_PATH)."""

import contextlib
import json
import sys

import pytest

import accelsim
from accelsim import config
from accelsim.builders.layers import GraphBuilder
from accelsim.builders.params import WorkloadParams
from accelsim.builders.registry import BUILDERS
from accelsim.cli import main
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


def test_register_workload_refuses_every_workload_presets_name(tmp_path, monkeypatch):
    # simulate("llama3_8b") runs the preset (model: hf, 8,030,261,248 params) while {"model": "llama3_8b"} ran the
    # registered builder: a preset's name is refused as a built-in builder's is (probe p47 #1); resnet50's preset
    # and builder share the name, so each check alone catches it
    names = config.list_presets("workloads")
    assert {"llama3_8b", "mixtral_8x7b", "lenet5_layers"} <= set(names)
    for name in names:
        with pytest.raises(WorkloadError, match=f"'{name}' is a (workload preset|built-in workload)"):
            accelsim.register_workload(name, WideParams, build_wide)
        assert BUILDERS.get(name) is None or BUILDERS[name].fn_ref.count(":") == 0  # never a registered builder
    # a preset of the user's own (ACCELSIM_PRESET_PATH) too: -w my_wl would run the file, not the builder
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "my_wl.yaml").write_text("model: gemm\n")
    monkeypatch.setenv("ACCELSIM_PRESET_PATH", str(tmp_path))
    with pytest.raises(WorkloadError, match="'my_wl' is a workload preset"):
        accelsim.register_workload("my_wl", WideParams, build_wide)
    assert "my_wl" not in BUILDERS


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
    # a name found nowhere names the ACCELSIM_PRESET_PATH folder that has no arch/ in it (here 'elsewhere', a typo'd
    # or missing folder), which was otherwise searched in silence
    with pytest.raises(AccelsimError, match=r"unknown arch preset \(no arch/ folder in ACCELSIM_PRESET_PATH's .*elsewhere\)"):
        config.load_arch("nope")
    # before the valid names, which for workloads (97) would cut a note after them at the message's length limit
    with pytest.raises(AccelsimError, match=r"unknown workload \(no workloads/ folder in ACCELSIM_PRESET_PATH's "):
        config.load_workload("nope")


# ---- a workload file's `plugins:` reach the command line and a sweep's worker processes ---------------------------
PLUGIN = '''
from accelsim.builders.layers import GraphBuilder
from accelsim.builders.params import WorkloadParams
import accelsim


class SquareParams(WorkloadParams):
    width: int = 256


def build_square(p):
    b = GraphBuilder("square", (p.batch, p.width), dtype=p.dtype or "int8")
    b.linear(b.input, p.width, name="fc")
    return b.build()


accelsim.register_workload("square_plugin", SquareParams, build_square)
'''


@pytest.fixture
def plugin_file(tmp_path):
    (tmp_path / "square_plugin_mod.py").write_text(PLUGIN)
    (tmp_path / "square.yaml").write_text("model: square_plugin\nplugins: [square_plugin_mod]\nwidth: 512\n")
    yield tmp_path
    BUILDERS.pop("square_plugin", None)
    sys.modules.pop("square_plugin_mod", None)
    with contextlib.suppress(ValueError):
        sys.path.remove(str(tmp_path))


def test_a_workload_files_plugins_register_its_builder_for_the_command_line(plugin_file, capsys):
    out = plugin_file / "r"
    assert main(["run", "-w", str(plugin_file / "square.yaml"), "-a", "tpu-v1", "-o", str(out), "--no-plots",
                 "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["macs"] == 512 * 512  # batch 1 × 512 in × 512 out: the module beside the file registered it


def test_a_workload_plugin_that_cannot_be_imported_is_one_line_at_its_line(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("model: square_plugin\nplugins: [no_such_plugin_mod]\n")
    assert main(["info", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{tmp_path / 'bad.yaml'}:2: plugins.0: cannot import 'no_such_plugin_mod'" in err


def test_a_sweeps_worker_processes_import_the_workload_plugins(plugin_file):
    (plugin_file / "exp.yaml").write_text("name: sq\nworkload: square.yaml\narch: tpu-v1\n")
    (plugin_file / "sw.yaml").write_text(f"name: sqs\nbase: exp.yaml\ngrid:\n  workload.width: [128, 256]\n"
                                         f"output: {plugin_file / 'out'}\n")
    # two local worker processes: each unpickles the point's WorkloadSpec, whose plugins register the builder
    assert main(["sweep", str(plugin_file / "sw.yaml"), "--workers", "2", "-q"]) == 0
    rows = [json.loads(line) for line in (plugin_file / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted((r["point"]["workload.width"], r["status"], r["metrics"]["macs"]) for r in rows) == [
        (128, "ok", 128 * 128), (256, "ok", 256 * 256)]


def build_raises(p):
    raise KeyError("nope")


def build_nothing(p):
    return None


@pytest.mark.parametrize("build, says", [
    (build_raises, "test_user_workloads:build_raises fails for workload 'broken_test' (KeyError: 'nope')"),
    (build_nothing, "test_user_workloads:build_nothing gives NoneType for workload 'broken_test', not an "
                    "accelsim.ir.Graph"),
])
def test_a_registered_builder_that_fails_is_one_line_naming_it(build, says):
    # probe p28: an exception inside a user's builder, or a result that is no Graph, was "internal error", exit 1
    accelsim.register_workload("broken_test", WideParams, build)
    try:
        with pytest.raises(WorkloadError) as e:
            accelsim.simulate({"model": "broken_test"}, "tpu-v1", plots=False)
        assert "\n" not in str(e.value) and says in str(e.value)
    finally:
        BUILDERS.pop("broken_test", None)


FUSSY = '''
from accelsim.builders.layers import GraphBuilder
from accelsim.builders.params import WorkloadParams
import accelsim


class FussyParams(WorkloadParams):
    width: int = 256
    depth: int = 1


def build_fussy(p):
    if p.width > 1000:
        raise ValueError(f"width {p.width} is wider than this toy takes")
    b = GraphBuilder("fussy", (p.batch, p.width), dtype=p.dtype or "int8")
    b.linear(b.input, p.width, name="fc")
    return b.build()


accelsim.register_workload("fussy_plugin", FussyParams, build_fussy)
'''


@pytest.mark.parametrize("width, at", [
    # the builder's ValueError names `width`: at width's line (3)
    (2000, "fussy.yaml:3: width: fussy_plugin_mod:build_fussy fails for workload 'fussy_plugin' (ValueError: width "
           "2000 is wider than this toy takes)"),
    # GraphBuilder's error names no parameter ("input shape"): at the file's model line (1)
    (0, "fussy.yaml:1: model: fussy: input shape must be positive sizes (got [1, 0])"),
])
def test_a_registered_builders_error_is_at_its_workload_files_line(tmp_path, capsys, width, at):
    # probe p47 #5: both were "accelsim: error: <message>" with no file, line or key
    (tmp_path / "fussy_plugin_mod.py").write_text(FUSSY)
    (tmp_path / "fussy.yaml").write_text(f"model: fussy_plugin\nplugins: [fussy_plugin_mod]\nwidth: {width}\n"
                                         "depth: 2\n")
    try:
        assert main(["run", "-w", str(tmp_path / "fussy.yaml"), "-a", "tpu-v1", "-q", "-o", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err == f"accelsim: error: {tmp_path / at}"
        # a mapping given in Python: at the key, as a built-in builder's error naming a parameter is
        with pytest.raises(AccelsimError, match=r"^<input>: workload\.width: fussy_plugin_mod:build_fussy fails"):
            accelsim.simulate({"model": "fussy_plugin", "width": 2000}, "tpu-v1")
    finally:
        BUILDERS.pop("fussy_plugin", None)
        sys.modules.pop("fussy_plugin_mod", None)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(tmp_path))
