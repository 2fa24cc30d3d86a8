"""Probe p215: bad input that got an internal error (exit 1), several lines, a wrong location, or lost finished work.
Each case here is one line naming the file, line and key, with exit status 2, found before anything is simulated."""

from __future__ import annotations

import pytest

from ..conftest import cli_errors

EXPERIMENT = "name: x\nworkload: lenet5\narch: scalesim-32x32\n"
SERVING = """\
name: x
model: {model: llama2_7b, attention: fused}
arch: h100
workload: {arrival: {process: constant, rate: 2}, prompt_tokens: {dist: fixed, value: 100}, output_tokens: {dist: fixed, value: 10}, requests: 4}
"""
SWEEP = "base: {workload: lenet5, arch: scalesim-32x32}\ngrid: {workload.batch: [1, 2]}\n"
RUN = ["--no-plots", "-q"]


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one(capsys, argv: list[str]) -> str:
    (line,) = cli_errors(capsys, argv)
    return line


def _write(name: str, text: str) -> str:
    with open(name, "w") as f:
        f.write(text)
    return name


# ---- 5 and 6: a file's output: empty, blank or with a NUL byte --------------------------------------------------

EMPTY = "an empty folder name; give a folder, or leave output out for the default (runs/NAME)"
NUL = "folder not found: a name with a NUL byte is no path"


@pytest.mark.parametrize(("command", "text", "line"), [("run", EXPERIMENT, 4), ("serve", SERVING, 5),
                                                        ("sweep", SWEEP, 3)])
@pytest.mark.parametrize(("value", "why"), [('""', EMPTY), ('"   "', EMPTY), ('"a\\0b"', NUL)])
def test_a_files_output_is_refused_at_its_line(here, capsys, command, text, line, value, why):
    # `-o ""` is refused rather than taken for the default folder (README): the file's output: "" the same way
    # (it wrote runs/x); "   " named `outdir`, no line, with a PosixPath repr; "a\0b" was an internal error, exit 1
    _write("f.yaml", text + f"output: {value}\n")
    got = _one(capsys, [command, "f.yaml", *RUN])
    assert got.startswith(f"accelsim: error: f.yaml:{line}: output: {why} (got "), got
    assert not (here / "runs").exists()


# ---- 5: a NUL byte in an hf config: or an onnx path: -------------------------------------------------------------

@pytest.mark.parametrize(("workload", "key"), [('{model: hf, config: "a\\0b.json"}', "config"),
                                               ('{model: onnx, path: "a\\0b.onnx"}', "path")])
def test_a_nul_byte_in_a_workload_path_is_file_not_found(here, capsys, workload, key):
    # as `arch: "a\0b.yaml"` gives: "file not found" at the key (it was "internal error: ValueError: embedded null
    # byte", exit 1)
    _write("f.yaml", f"name: x\nworkload: {workload}\narch: tpu-v4\n")
    assert _one(capsys, ["run", "f.yaml", *RUN]) == (
        f"accelsim: error: f.yaml:2: workload.{key}: file not found (got 'a\\x00b.{'json' if key == 'config' else 'onnx'}')")


# ---- 4: values near float64's limit, refused at their key before the run ---------------------------------------

@pytest.mark.parametrize(("key", "bound"), [("hbm.energy_per_bit", "10000"), ("hbm.phy_area_per_bandwidth", "1000")])
def test_huge_level_energy_and_phy_area_are_refused(here, capsys, key, bound):
    # 1.2e12 B/s x 8 bit/B x 1e308 pJ/bit x 1e-12 J/pJ = 9.6e308 W > float64's 1.797e308: the peak power was inf and
    # the report's write failed after the run; 1e308 mm² per GB/s x 1200 GB/s = inf mm², its leakage nan
    assert _one(capsys, ["run", "-w", "gemm", "-a", "tpu-v4", "--set", f"arch.{key}=1e308", *RUN]) == (
        f"accelsim: error: --set: arch.{key}: Input should be less than or equal to {bound} (got '1e308')")


def test_the_largest_energy_per_bit_a_preset_uses_is_within_the_bound():
    # the bound (10 nJ/bit) stands ~100x above the largest figure a preset gives, 103 pJ/bit (an off-board link)
    from accelsim.config import load_arch

    arch = load_arch("tpu-v4", ["hbm.energy_per_bit=10nJ/bit"])
    assert arch.hbm.energy_per_bit == 10_000.0  # 10 nJ/bit = 10 x 1,000 pJ/bit


def test_a_huge_token_ratio_is_refused(here, capsys):
    # the prefill grid steps 16, 16r, ...: 16 x 1e308 = 1.6e309 overflowed to inf, and round(inf) raised
    # OverflowError (exit 1)
    _write("s.yaml", SERVING)
    assert _one(capsys, ["serve", "s.yaml", "--set", "cost.token_ratio=1e308", "-o", "o", *RUN]) == (
        "accelsim: error: --set: cost.token_ratio: Input should be less than or equal to 1000000 (got '1e308')")


# ---- 2: a tiny arrival rate: arrivals past the trace's 1e9 s cap -----------------------------------------------

@pytest.mark.parametrize(("rate", "span"), [("1e-308", "more than 1e308 s"), ("5e-324", "more than 1e308 s"),
                                            ("1e-9", "5e+09 s")])
def test_a_tiny_rate_is_refused_at_the_rate(here, capsys, rate, span):
    # constant arrivals t_i = i / rate: 2 / 1e-308 = 2e308 overflows to inf (the report's energy was inf: internal
    # error); 1 / 5e-324 is inf already (exit 0, 4 requests "unfinished" that never arrived); 5 requests at 1e-9/s
    # span 5 / 1e-9 = 5e9 s, above the 1e9 s a trace's arrival_s may give
    _write("s.yaml", SERVING.replace("rate: 2", f"rate: {rate}").replace("requests: 4", "requests: 5"))
    assert _one(capsys, ["serve", "s.yaml", "-o", "o", *RUN]) == (
        f"accelsim: error: s.yaml:4: workload.arrival.rate: {float(rate):g}/s with requests 5, s.yaml:4 spreads "
        f"arrivals over {span} (requests ÷ rate): at most 1e9 s (some 32 years), as a trace's arrival_s (raise the "
        "rate)")


def test_a_rate_and_requests_within_1e9_s_are_taken():
    # 5 requests at 5e-9/s: 5 / 5e-9 = 1e9 s, the cap itself
    from accelsim.config.serving import load_serving

    spec = load_serving("llama2_7b_h100", ["workload.duration=null", "workload.requests=5",
                                           "workload.arrival.rate=5e-9"])
    assert spec.serve.workload.arrival.rate == 5e-9


def test_a_duration_past_1e9_s_is_refused(here, capsys):
    # 1e-6/s x 2e9 s = 2,000 requests, within the 1,000,000 cap: the duration alone is past the 1e9 s arrivals may
    # reach (1e308 s at 1e-308/s, one request, made the makespan and its static energy inf)
    argv = ["--set", "workload.arrival.rate=1e-6", "--set", "workload.duration=2e9s"]
    assert _one(capsys, ["serve", "llama2_7b_h100", *argv, "-o", "o", *RUN]) == (
        "accelsim: error: --set: workload.duration: 2e+09 s is more than 1e9 s (some 32 years), the latest arrival a "
        "run may hold, as a trace's arrival_s")


# ---- 8: an ONNX input's fixed dim 0 or negative is no size, not a symbolic dim ---------------------------------

@pytest.mark.parametrize("dim", [0, -5])
def test_a_fixed_onnx_dim_below_1_is_not_a_valid_size(here, capsys, dim):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    w = helper.make_tensor("W", TensorProto.FLOAT, (4, 4), [0.0] * 16)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "mm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, dim])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "d.onnx")
    x = onnx.load("d.onnx").graph.input[0].type.tensor_type.shape.dim[1]
    assert x.WhichOneof("value") == "dim_value"  # a number written in the file: workload.dims cannot size it
    assert _one(capsys, ["run", "-w", "d.onnx", "-a", "tpu-v4", "-o", "o", *RUN]) == (
        f"accelsim: error: --workload: workload.path: d.onnx: graph input 'x' axis 1: dim {dim} is not a valid size "
        "(a fixed dim in the file, not a symbolic one); export the model with a positive size there")


# ---- 3: a YAML file of another kind in an arch or workload slot, or as a sweep's base: -----------------------

@pytest.mark.parametrize(("text", "says"), [
    (EXPERIMENT, "an experiment file (it names workload:/arch:), not an arch file; run it with 'accelsim run f.yaml'"),
    (SWEEP, "a sweep file (it has grid:/zip: axes), not an arch file; run it with 'accelsim sweep f.yaml'"),
    (SERVING, "a serving file (its workload has arrivals), not an arch file; run it with 'accelsim serve f.yaml'"),
    ("model: lenet5\n", "a workload file (it names a model:), not an arch file; name it as the workload (workload: "
                        "FILE in an experiment, --workload FILE on the command line)"),
])
def test_a_file_of_another_kind_as_the_arch_is_one_line(here, capsys, text, says):
    # an experiment as -a was 4 lines ("clock: Field required", "core: Field required", "workload: Extra inputs
    # ...", "arch: Extra inputs ..."), a workload file 6, a sweep 5
    _write("f.yaml", text)
    assert _one(capsys, ["run", "-w", "lenet5", "-a", "f.yaml", "-o", "o", *RUN]) == (
        f"accelsim: error: --arch: arch: f.yaml is {says} (got 'f.yaml')")


def test_an_experiment_as_an_arch_files_base_is_one_line_at_the_base(here, capsys):
    _write("f.yaml", EXPERIMENT)
    _write("a.yaml", "name: mine\nbase: f.yaml\n")
    assert _one(capsys, ["run", "-w", "lenet5", "-a", "a.yaml", "-o", "o", *RUN]) == (
        "accelsim: error: a.yaml:2: base: f.yaml is an experiment file (it names workload:/arch:), not an arch file; "
        "run it with 'accelsim run f.yaml' (got 'f.yaml')")


def test_an_arch_file_as_the_workload_or_a_sweeps_base_is_one_line(here, capsys):
    # -w tpu-v4.yaml said "tpu-v4.yaml:5: model: missing"; a sweep's base: an arch file, 9 lines (one of them a
    # repr of the whole core mapping)
    _write("arch.yaml", "clock: 1GHz\ncore: {systolic: {rows: 8, cols: 8}}\n")
    as_arch = ("arch.yaml is an arch file (it gives clock:/core:), not {} file; name it as the arch (arch: FILE in "
               "an experiment, --arch FILE on the command line) (got 'arch.yaml')")
    assert _one(capsys, ["run", "-w", "arch.yaml", "-a", "tpu-v4", "-o", "o", *RUN]) == (
        "accelsim: error: --workload: workload: " + as_arch.format("a workload"))
    _write("s.yaml", "base: arch.yaml\ngrid: {arch.core.systolic.rows: [16, 32]}\n")
    assert _one(capsys, ["sweep", "s.yaml", "-q"]) == "accelsim: error: s.yaml:1: base: " + as_arch.format(
        "an experiment")


def test_run_and_info_tell_the_kinds_apart_as_before(here, capsys):
    # the one test of a file's kind (config.docs.file_kind), which run and info use too: their lines unchanged
    _write("arch.yaml", "clock: 1GHz\ncore: {systolic: {rows: 8, cols: 8}}\n")
    assert _one(capsys, ["run", "arch.yaml", "-q"]) == (
        "accelsim: error: arch.yaml: this is an arch file (it gives clock:/core:); run it with 'accelsim run "
        "--workload WORKLOAD --arch arch.yaml'")
    _write("f.yaml", SWEEP)
    assert _one(capsys, ["run", "f.yaml", "-q"]) == (
        "accelsim: error: f.yaml: this is a sweep file (it has grid:/zip: axes); run it with 'accelsim sweep f.yaml'")
    assert _one(capsys, ["info", "f.yaml"]) == (
        "accelsim: error: f.yaml: a sweep, not a workload or arch ('accelsim sweep f.yaml' runs it)")


# ---- 1: cost.cache_dir checked when the file loads, not after the grid is simulated ---------------------------

@pytest.mark.parametrize(("folder", "why"), [
    ("a\\0b", "folder not found: a name with a NUL byte is no path"),
    ("f.yaml/grids", "f.yaml is a file, not a folder"),
    ("/proc/nope/x", "cannot make or write a folder there (/proc is the nearest folder that exists): No such file "
                     "or directory"),
])
def test_an_unusable_cache_dir_is_refused_when_the_file_loads(here, capsys, folder, why):
    # the grid is written to cache_dir after every shape is simulated: /proc/nope/x failed after 8.5 s of a 10 s
    # run and wrote nothing; "a\0b" was an internal error (exit 1). load_serving simulates nothing: the check is there
    from accelsim.config.serving import load_serving
    from accelsim.errors import ConfigError

    _write("f.yaml", SERVING + f'cost: {{cache_dir: "{folder}"}}\n')
    with pytest.raises(ConfigError) as e:
        load_serving("f.yaml")
    assert str(e.value).startswith(f"f.yaml:5: cost.cache_dir: {why} (got "), str(e.value)


def test_a_cache_dir_still_to_be_made_is_taken_and_nothing_is_left_behind(here):
    from accelsim.config.serving import load_serving

    _write("f.yaml", SERVING + 'cost: {cache_dir: "c/d"}\n')
    assert load_serving("f.yaml").serve.cost.cache_dir == "c/d"
    assert sorted(p.name for p in here.iterdir()) == ["f.yaml"]  # the probe folder made in . is removed


# ---- 7: a value set more recently is the one blamed -----------------------------------------------------------

def test_a_set_capacity_below_the_presets_access_bytes_is_blamed_on_the_set(here, capsys):
    # --set arch.hbm.capacity=32 (32 B) under tpu-v4's access_bytes 64 was blamed on the preset's access_bytes line
    got = _one(capsys, ["run", "-w", "lenet5", "-a", "tpu-v4", "--set", "arch.hbm.capacity=32", "-o", "o", *RUN])
    assert got.startswith("accelsim: error: --set: arch.hbm.capacity: 32B is less than the level's access_bytes "
                          "(64B), "), got
    _write("a.yaml", "name: mine\nbase: tpu-v4\nhbm: {capacity: 32}\n")  # the user's file over its base: line 3
    got = _one(capsys, ["run", "-w", "lenet5", "-a", "a.yaml", "-o", "o", *RUN])
    assert got.startswith("accelsim: error: a.yaml:3: hbm.capacity: 32B is less than"), got


def test_a_granule_and_capacity_on_one_line_keep_the_granules_message(here, capsys):
    _write("a.yaml", "base: tpu-v4\nhbm: {capacity: 32, access_bytes: 64}\n")
    got = _one(capsys, ["run", "-w", "lenet5", "-a", "a.yaml", "-o", "o", *RUN])
    assert got.startswith("accelsim: error: a.yaml:2: hbm.access_bytes: 64B is more than the level's capacity (32B)")


def test_a_list_item_set_blames_the_set_for_the_list(here, capsys):
    # tpu-v5e-8: chips 8, interconnect.shape [2, 4]; shape.0=4 makes [4, 4], 16 chips: blamed on the preset's
    # shape line before, as --set "arch.interconnect.shape=[4, 4]" is blamed on the --set
    for item in ("arch.interconnect.shape.0=4", "arch.interconnect.shape=[4, 4]"):
        got = _one(capsys, ["run", "-w", "lenet5", "-a", "tpu-v5e-8", "--set", item, "-o", "o", *RUN])
        assert got.startswith("accelsim: error: --set: arch.interconnect.shape: [4, 4] holds 16 chips, not the "
                              "chips (8, "), got
