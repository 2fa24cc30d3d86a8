"""accelsim.config: YAML with line numbers, presets, base merging, --set overrides and one-line errors.

Every bad input must give a ConfigError whose str() has one line per problem, ``FILE:LINE: dotted.key: message
(got VALUE)``; the expected lines below are counted in the fixture files under tests/data/config.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

import accelsim
from accelsim.config import (
    ExperimentSpec,
    WorkloadSpec,
    build_graph,
    experiment_from_parts,
    list_presets,
    load_arch,
    load_experiment,
    load_workload,
    preset_dir,
    resolve,
)
from accelsim.config import presets as presets_mod
from accelsim.config.overrides import parse_override
from accelsim.config.yamlio import load_yaml, parse_yaml
from accelsim.errors import ConfigError
from accelsim.hardware import Arch

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "config"
ISSUE_LINE = re.compile(r"^(?P<file>[^:]+)(:(?P<line>\d+))?: ((?P<key>[\w.\-]+): )?(?P<msg>.+)$")


def errors_of(fn, *args, **kwargs) -> list[str]:
    """The lines of the ConfigError that ``fn(*args, **kwargs)`` raises (each must be a well-formed issue)."""
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.issues)
    for line in lines:
        assert ISSUE_LINE.match(line), line
    return lines


@pytest.fixture
def in_data(monkeypatch):
    """Run from tests/data/config so file names print as written there."""
    monkeypatch.chdir(DATA)
    return DATA


# ---- yamlio ------------------------------------------------------------------------------------------------------
def test_line_map_of_keys_and_list_items():
    text = "name: x\ncore:\n  systolic:\n    rows: 4\nlayers:\n  - a: 1\n  - b: 2\n"
    data, lines = parse_yaml(text, "t.yaml")
    assert data == {"name": "x", "core": {"systolic": {"rows": 4}}, "layers": [{"a": 1}, {"b": 2}]}
    assert lines[("name",)] == 1
    assert lines[("core", "systolic", "rows")] == 4
    assert lines[("layers", 0)] == 6 and lines[("layers", 1, "b")] == 7
    assert lines.nearest(("core", "systolic", "cols")) == 3  # nearest written parent


def test_yaml_is_loaded_safely():
    with pytest.raises(ConfigError, match=r"t.yaml:1: malformed YAML: .*python/object"):
        parse_yaml("x: !!python/object/apply:os.system ['true']\n", "t.yaml")


def test_duplicate_key(in_data):
    assert errors_of(load_yaml, "duplicate.yaml") == [
        "duplicate.yaml:4: core.systolic: duplicate key (first written on line 3)"]


def test_malformed_yaml(in_data):
    (line,) = errors_of(load_yaml, "malformed.yaml")
    # line 3 opens "{rows: 8, cols: 8" and never closes it; the parser notices on line 4 (hbm:), but the fix goes on
    # line 3: the error names it. libyaml's words ("did not find expected ...") or the pure-Python parser's
    assert re.match(r"malformed\.yaml:3: malformed YAML: a flow mapping opened on this line is not closed "
                    r"\((did not find )?expected ',' or '}'.* at line 4\)$", line), line


def test_an_unclosed_quote_is_blamed_where_it_opens(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text('name: "abc\nclock: 1GHz\n')  # the quote on line 1 runs to the end of the file (line 3)
    (line,) = errors_of(load_yaml, str(path))
    assert line.startswith(f"{path}:1: malformed YAML: a quoted scalar opened on this line is not closed"), line


def test_missing_file(in_data):
    assert errors_of(load_yaml, "nowhere.yaml") == ["nowhere.yaml: file not found"]
    assert errors_of(load_arch, "nowhere.yaml") == ["<input>: arch: file not found (got 'nowhere.yaml')"]


def test_a_folder_given_as_a_workload_or_arch_is_not_a_missing_file(tmp_path, monkeypatch, capsys):
    from accelsim.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.yaml").mkdir()  # a folder, even with a YAML file's name
    assert errors_of(load_arch, tmp_path) == [f"<input>: arch: is a directory, not a YAML file (got '{tmp_path}')"]
    assert errors_of(accelsim.simulate, "w.yaml", "gemmini") == [
        "<input>: workload: is a directory, not a YAML file (got 'w.yaml')"]
    # an experiment file naming one: at its line
    (tmp_path / "exp.yaml").write_text("workload: lenet5\narch: w.yaml\n")
    assert errors_of(load_experiment, "exp.yaml") == ["exp.yaml:2: arch: is a directory, not a YAML file (got 'w.yaml')"]
    # the CLI: one line, exit status 2
    assert main(["run", "--workload", "w.yaml", "--arch", "gemmini", "--no-plots", "-o", "out"]) == 2
    err = capsys.readouterr().err
    assert err == "accelsim: error: --workload: workload: is a directory, not a YAML file (got 'w.yaml')\n"


# ---- validation errors -------------------------------------------------------------------------------------------
def test_bad_arch_file_one_line_per_issue(in_data):
    # bad_arch.yaml: rows: -4 on line 5, the misspelt "dataflw" on line 7
    assert errors_of(load_arch, "bad_arch.yaml") == [
        "bad_arch.yaml:5: core.systolic.rows: Input should be greater than 0 (got -4)",
        "bad_arch.yaml:7: core.systolic.dataflw: Extra inputs are not permitted; did you mean 'dataflow'? (got 'ws')",
    ]


def test_all_problems_in_one_file_are_reported(in_data):
    assert errors_of(load_arch, "many_errors.yaml") == [
        "many_errors.yaml:1: clock: expected a clock such as '1.4GHz' (got 'fast')",
        "many_errors.yaml:3: core.systolic.rows: Input should be greater than 0 (got 0)",
        "many_errors.yaml:3: core.systolic.dataflow: Input should be 'ws', 'os' or 'is' (got 'rs')",
        "many_errors.yaml:5: core.sram.ifmap: expected a size such as '64KiB' (got '-64KiB')",
        "many_errors.yaml:7: hots: Extra inputs are not permitted; did you mean 'host'?",
    ]


def test_missing_required_key_points_at_parent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a.yaml").write_text("# no clock\ncore:\n  systolic: {rows: 8, cols: 8}\n  vector: {lanes: 8}\n"
                              "  sram: {unified: 1MiB}\nhbm: {capacity: 1GiB, bandwidth: 1GB/s}\n")
    assert errors_of(load_arch, "a.yaml") == ["a.yaml:2: clock: Field required"]


def test_cross_field_rule_strips_pydantic_prefix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a.yaml").write_text("base: gemmini\ncore:\n  sram:\n    unified: 1MiB\n")
    # the merged sram has the base's split sizes and this file's unified size: the rule on Sram fires at the key set
    # last, this file's unified (line 4), naming the base's split sizes' lines
    (line,) = errors_of(load_arch, "a.yaml")
    assert line.startswith("a.yaml:4: core.sram.unified: give either 'unified' or the split 'ifmap'/'filter'/'ofmap' "
                           "sizes, not both (split ifmap, filter, ofmap given, "), line
    assert "Value error" not in line


def test_unknown_arch_preset_did_you_mean():
    (line,) = errors_of(load_arch, "tpu_v1")
    assert line.startswith("<input>: arch: unknown arch preset; did you mean 'tpu-v1'? (valid names: ")
    assert "gemmini" in line and line.endswith("(got 'tpu_v1')")


def test_experiment_reports_every_section_with_full_keys(in_data):
    lines = errors_of(load_experiment, "experiment_bad.yaml")
    assert lines[:6] == [
        "experiment_bad.yaml:1: name: expected a string (got 5)",
        "experiment_bad.yaml:3: workload.model: unknown workload model; did you mean 'resnet18'? "
        + lines[1].split("did you mean 'resnet18'? ", 1)[1],
        "experiment_bad.yaml:8: arch.core.systolic.rows: Input should be greater than 0 (got -4)",
        "experiment_bad.yaml:8: arch.core.systolic.dataflw: Extra inputs are not permitted; "
        "did you mean 'dataflow'? (got 'ws')",
        "experiment_bad.yaml:10: options.plot: Extra inputs are not permitted; did you mean 'plots'? (got False)",
        "experiment_bad.yaml:11: outptu: unknown key; did you mean 'output'? (got 'runs/x')",
    ]
    assert len(lines) == 6
    assert lines[1].endswith("(got 'resnt18')")


def test_error_in_base_file_points_at_base(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("base.yaml").write_text("base: edge-npu\ncore:\n  vector:\n    lanes: 0\n")
    Path("top.yaml").write_text("base: base.yaml\nname: top\n")
    Path("exp.yaml").write_text("workload: gemm\narch:\n  base: top.yaml\n  hbm: {bandwidth: -1}\n")
    assert sorted(errors_of(load_experiment, "exp.yaml")) == [
        "base.yaml:4: core.vector.lanes: Input should be greater than 0 (got 0)",
        "exp.yaml:4: arch.hbm.bandwidth: expected a bandwidth > 0 (got -1)",
    ]


def test_circular_base(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a.yaml").write_text("base: b.yaml\n")
    Path("b.yaml").write_text("clock: 1GHz\nbase: a.yaml\n")
    assert errors_of(load_arch, "a.yaml") == [
        "b.yaml:2: base: circular base: a preset names itself through 'base:' (got 'a.yaml')"]


# ---- base merging and overrides ----------------------------------------------------------------------------------
def test_base_merges_under_the_file():
    arch = load_arch("tpu-v1")
    with pytest.raises(ConfigError) as info:  # derived_arch.yaml also sets rows: -1 on line 8
        load_arch(DATA / "derived_arch.yaml")
    assert [(i.line, i.key) for i in info.value.issues] == [(8, "core.systolic.rows")]
    derived = load_arch(DATA / "derived_arch.yaml", ["core.systolic.rows=256"])
    assert derived.name == "tpu-v1-fast-ddr"
    assert derived.hbm.bandwidth == 68e9  # from the file
    assert derived.hbm.capacity == 8 * 2**30 and derived.hbm.kind == "DDR3"  # from the base, beside it
    assert derived.clock == 700e6 and derived.core.sram.unified == 24 * 2**20
    assert derived.host == arch.host


def test_inline_arch_with_base(in_data):
    spec = load_experiment("experiment_inline.yaml")
    assert isinstance(spec, ExperimentSpec)
    assert spec.name == "experiment_inline" and spec.description == "inline experiment"
    assert spec.arch.hbm.bandwidth == 68e9 and spec.arch.core.systolic.rows == 256
    assert spec.workload == WorkloadSpec("gemm", spec.workload.params, None, "")
    assert (spec.workload.params["m"], spec.workload.params["n"], spec.workload.params["k"]) == (64, 32, 16)
    assert spec.workload.params["batch"] == 1  # the builder's default, filled in
    assert spec.options.plots is False and spec.output is None
    assert spec.source.endswith("experiment_inline.yaml")


def test_set_changes_values(in_data):
    arch = load_arch("tpu-v1", ["arch.core.systolic.rows=128", "arch.hbm.bandwidth=68GB/s"])
    assert arch.core.systolic.rows == 128 and arch.hbm.bandwidth == 68e9
    spec = load_experiment("experiment_inline.yaml", ["workload.batch=8", "arch.core.systolic.dataflow=os",
                                                      "options.trace=true", "workload.m=128"])
    assert spec.workload.params["batch"] == 8 and spec.workload.params["m"] == 128
    assert spec.arch.core.systolic.dataflow == "os" and spec.arch.hbm.bandwidth == 68e9
    assert spec.options.trace is True


def test_set_replaces_a_whole_section(in_data):
    spec = load_experiment("experiment_inline.yaml", ["arch=gemmini"])
    assert spec.arch.name == "gemmini"


def test_set_values_are_parsed_as_yaml():
    assert parse_override("arch.core.systolic.rows=128").value == 128
    assert parse_override("options.plots=true").value is True
    assert parse_override("arch.hbm.bandwidth=68GB/s").value == "68GB/s"
    o = parse_override("workload.layers.0.out_ch=8")
    assert (o.section, o.keys) == ("workload", ("layers", 0, "out_ch"))


def test_bad_set_items(in_data):
    lines = errors_of(load_experiment, "experiment_inline.yaml",
                      ["arch.core.systolic.rows128", "=4", "arhc.cores=2", "arch.clock.x=1",
                       "arch.core.systolic.rows=abc"])
    assert lines == [
        "--set: expected KEY=VALUE such as arch.core.systolic.rows=128 (got 'arch.core.systolic.rows128')",
        "--set: expected KEY=VALUE with a non-empty KEY (got '=4')",
        "--set: arhc.cores: unknown section 'arhc'; did you mean 'arch'? keys start with workload., arch., "
        "options. (got 'arhc.cores=2')",
        "--set: arch.clock.x: cannot set a key inside 'arch.clock', which is not a mapping (got 'arch.clock.x=1')",
        "--set: arch.core.systolic.rows: Input should be a valid integer, unable to parse string as an integer "
        "(got 'abc')",
    ]


def test_set_on_a_single_section():
    lines = errors_of(load_arch, "tpu-v1", ["workload.batch=2", "cores=0"])
    assert lines == [
        "--set: workload.batch: section 'workload' does not apply here; keys start with arch. "
        "(got 'workload.batch=2')",
        "--set: arch.cores: Input should be greater than 0 (got 0)",
    ]


# ---- experiments from the command line ---------------------------------------------------------------------------
def test_experiment_from_parts():
    spec = experiment_from_parts("gemm", "gemmini", batch=4, overrides=["workload.m=8"])
    assert spec.name == "gemm_gemmini" and spec.source == "<cli>"
    assert spec.workload.params["batch"] == 4 and spec.workload.params["m"] == 8
    assert spec.arch.core.systolic.rows == 16
    lines = errors_of(experiment_from_parts, "gemm", "gemini", batch=0)
    assert lines[0].startswith("--arch: arch: unknown arch preset; did you mean 'gemmini'?")
    assert lines[1] == "--batch: workload.batch: Input should be greater than 0 (got 0)"


def test_unknown_workload_did_you_mean():
    (line,) = errors_of(load_workload, "resnet5")
    assert line.startswith("<input>: workload: unknown workload; did you mean 'resnet50'? (valid names: ")


def test_builder_name_without_preset_file():
    # "layers" has no workloads/layers.yaml: the name selects the builder, whose params need input and layers
    assert "layers" not in list_presets("workloads")
    lines = errors_of(load_workload, "layers")
    assert [line.split(": ", 2)[1] for line in lines] == ["input", "layers"]


def test_workload_preset_and_override():
    spec = load_workload("resnet18", ["workload.batch=8"])
    assert spec.model == "resnet18" and spec.params["batch"] == 8
    assert spec.file is not None and Path(spec.file).name == "resnet18.yaml"


def test_resolved_is_json_and_stable(in_data):
    a = load_experiment("experiment_inline.yaml").resolved()
    b = load_experiment("experiment_inline.yaml").resolved()
    text = json.dumps(a, sort_keys=True, allow_nan=False)
    assert a == b and json.loads(text) == a
    assert a["arch"]["hbm"]["bandwidth"] == 68e9 and a["workload"]["params"]["m"] == 64
    c = load_experiment("experiment_inline.yaml", ["workload.m=65"]).resolved()
    assert c != a
    scalesim = experiment_from_parts("gemm", "scalesim-32x32").resolved()
    assert json.dumps(scalesim, allow_nan=False)
    unbounded = load_experiment("experiment_inline.yaml", ["arch.hbm.bandwidth=inf"])
    assert math.isinf(unbounded.arch.hbm.bandwidth) and unbounded.resolved()["arch"]["hbm"]["bandwidth"] == "inf"


# ---- presets -------------------------------------------------------------------------------------------------------
def test_presets_from_source_checkout():
    assert preset_dir("arch") == REPO / "arch"
    assert {"tpu-v1", "eyeriss-like", "gemmini", "scalesim-32x32", "scalesim-128x128", "edge-npu"} <= set(
        list_presets("arch"))
    assert resolve("arch", "tpu-v1") == REPO / "arch" / "tpu-v1.yaml"
    assert list_presets("arch") == sorted(list_presets("arch"))


def test_presets_from_installed_wheel(tmp_path, monkeypatch):
    shipped = tmp_path / "_presets" / "arch"
    shipped.mkdir(parents=True)
    (shipped / "tiny.yaml").write_text((REPO / "arch" / "edge-npu.yaml").read_text())
    monkeypatch.setattr(presets_mod, "files", lambda package: tmp_path)
    assert preset_dir("arch") == shipped
    assert list_presets("arch") == ["tiny"]
    assert load_arch("tiny").core.systolic.rows == 32


def test_existing_path_wins_over_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("tpu-v1").write_text((REPO / "arch" / "gemmini.yaml").read_text())
    assert resolve("arch", "tpu-v1") == Path("tpu-v1")
    assert load_arch("tpu-v1").name == "gemmini"


def test_preset_dir_rejects_unknown_kind():
    with pytest.raises(ValueError):
        preset_dir("plugins")


ARCH_PRESETS = list_presets("arch")
SWEEPS = [n for n in list_presets("experiments") if n.endswith("_sweep")]
EXPERIMENTS = [n for n in list_presets("experiments") if n not in SWEEPS]


@pytest.mark.parametrize("name", ARCH_PRESETS)
def test_every_arch_preset_validates(name):
    arch = load_arch(name)
    assert isinstance(arch, Arch) and arch.name == name
    assert arch.peak_macs_per_cycle > 0 and arch.core.sram.total_bytes > 0


@pytest.mark.parametrize("name", ARCH_PRESETS)
def test_every_arch_preset_number_has_a_comment(name):
    path = preset_dir("arch") / f"{name}.yaml"
    data, lines = load_yaml(path)
    text = path.read_text().splitlines()

    def leaves(node, prefix=()):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from leaves(v, (*prefix, k))
        else:
            yield prefix, node

    for key, _value in leaves(data):
        if key[-1] in ("name", "description"):
            continue
        assert "#" in text[lines[key] - 1], f"{path.name}:{lines[key]}: {'.'.join(key)} has no source comment"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_loads(name):
    spec = load_experiment(name)
    assert spec.name == name
    assert spec.output == f"runs/{name}"
    graph = build_graph(spec.workload, spec.arch.dtype)
    assert len(graph) > 0 and graph.macs > 0


@pytest.mark.parametrize("name", SWEEPS)
def test_every_ready_sweep_plans_and_is_refused_by_run(name):
    from accelsim.config.sweep import load_sweep
    from accelsim.sweep.expand import plan_sweep

    plan = plan_sweep(load_sweep(name))
    assert len(plan.points) > 1
    with pytest.raises(ConfigError, match="this is a sweep file .*'accelsim sweep "):
        load_experiment(name)


def test_a_workload_or_arch_file_run_as_an_experiment_says_so(tmp_path):
    # a workload file names a model: and an arch file a clock:/core:; neither has workload:/arch:, so as an
    # experiment each got one line per top-level key ("model: unknown key", "arch: missing", ...); now one line
    # naming the file and the command that runs it
    for name, text, hint in (("w.yaml", "model: lenet5\nbatch: 1\n", "--workload {} --arch ARCH"),
                             ("a.yaml", "base: tpu-v1\ncore: {systolic: {rows: 8}}\n", "--workload WORKLOAD --arch {}"),
                             ("c.yaml", "clock: 1GHz\n", "--workload WORKLOAD --arch {}")):
        path = tmp_path / name
        path.write_text(text)
        lines = errors_of(load_experiment, path)
        assert len(lines) == 1 and "this is a" in lines[0] and hint.format(path) in lines[0], lines
    # an experiment with an inline workload mapping is still an experiment
    good = tmp_path / "e.yaml"
    good.write_text("workload: {model: lenet5}\narch: gemmini\n")
    assert load_experiment(good).workload.model == "lenet5"


def test_min_tiles_above_max_tiles_is_an_error(tmp_path):
    # "at least 8 tile groups per op" and "at most 2" cannot both hold; the maximum used to win without a word
    path = tmp_path / "e.yaml"
    path.write_text("workload: lenet5\narch: gemmini\noptions:\n  max_tiles_per_op: 2\n  min_tiles_per_op: 8\n")
    assert errors_of(load_experiment, path) == [
        f"{path}:5: options.min_tiles_per_op: must be at most options.max_tiles_per_op (2, from {path}:4) (got 8)"]
    path.write_text("workload: lenet5\narch: gemmini\noptions: {max_tiles_per_op: 8, min_tiles_per_op: 8}\n")
    assert load_experiment(path).options.min_tiles_per_op == 8  # equal bounds are fine


def test_min_tiles_per_op_yields_to_one_group_per_1000_cycles_or_1_us_of_work():
    # docs/configuration.md: at least min(min_tiles_per_op, work, compute cycles) groups, the work one group per
    # 1,000 cycles of compute or per 1 µs of transfer at main-memory bandwidth, whichever gives more. A 256³ int8
    # gemm on tpu-v1 moves A, B and C once, 3 x 256 x 256 x 1 B = 196,608 B, over 34 GB/s: 5.78 µs (4,048 cycles
    # at 700 MHz, more than its compute), so 5 groups, whether 5 or 16 are asked for
    for ask in (5, 16):
        op = accelsim.simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, "tpu-v1",
                               min_tiles_per_op=ask).to_dict()["ops"][0]
        assert op["bytes"]["hbm"] == 196_608 and op["compute_cycles"] < 4048
        assert op["tiles"] == int(196_608 / 34e9 / 1e-6) == 5


def test_layer_list_shape_errors_name_the_layers_line(tmp_path):
    # a 16×16 kernel on an 8×8 input: output 8 − 16 + 1 = −7. The builder finds it and names the layer
    # ("(layers[1])"); a run of the file reports it at that layer's line (it named neither file nor line)
    path = tmp_path / "w.yaml"
    path.write_text("model: layers\ninput: [1, 3, 8, 8]\nlayers:\n  - {type: relu}\n"
                    "  - {type: conv2d, out_channels: 4, kernel_size: 16}\n")
    assert errors_of(accelsim.simulate, path, "tpu-v1") == [
        f"{path}:5: layers.1: layers: conv2d 'conv': output size -7×-7 is not positive (input 8×8, kernel 16×16, "
        "stride 1×1, padding (0, 0, 0, 0), dilation 1×1)"]
    path.write_text("model: layers\ninput: [1, 3, 8, 8]\nlayers:\n  - {type: relu}\n  - {type: add, inputs: [a, b]}\n")
    assert errors_of(accelsim.simulate, path, "tpu-v1") == [
        f"{path}:5: layers.1: layers: add: input 'a' is not an earlier layer or 'input'"]
    # inline in an experiment: the experiment's line and the full key
    exp = tmp_path / "e.yaml"
    exp.write_text("workload:\n  model: layers\n  input: [1, 3, 8, 8]\n  layers:\n    - {type: relu}\n"
                   "    - {type: add, inputs: [a, b]}\narch: tpu-v1\n")
    assert errors_of(lambda: accelsim.run_experiment(load_experiment(exp))) == [
        f"{exp}:6: workload.layers.1: layers: add: input 'a' is not an earlier layer or 'input'"]


def test_a_tensor_parallel_the_heads_refuse_is_named_at_its_line(tmp_path):
    # LLaMA-2-13B has 40 heads: 3 chips cannot split them; the builder names tensor_parallel, the run reports it
    # at the experiment's line 2 (a prefill and a serving run alike)
    exp = tmp_path / "e.yaml"
    for extra in ("", ", decode_steps: 2"):
        exp.write_text(f"name: tp\nworkload: {{model: llama2_13b, tensor_parallel: 3{extra}}}\narch: dgx-h100\n")
        assert errors_of(lambda: accelsim.run_experiment(load_experiment(exp))) == [
            f"{exp}:2: workload.tensor_parallel: llama2_13b: tensor_parallel 3 must divide heads (40) and "
            "divide or be a multiple of kv_heads (40)"]


def test_readme_experiment():
    spec = load_experiment(REPO / "experiments" / "resnet50_tpu_v1.yaml")
    assert spec.workload.model == "resnet50" and spec.workload.params["batch"] == 1
    assert spec.arch.name == "tpu-v1" and spec.output == "runs/resnet50_tpu_v1"


def test_tpu_v1_matches_the_paper():
    # jouppi_isca17: 256x256 MXU at 700 MHz = 65,536 MACs/cycle, 92 TOPS = 2 x 65,536 x 700e6 = 91.75e12
    arch = load_arch("tpu-v1")
    assert arch.peak_macs_per_cycle == 65536
    assert 2 * arch.peak_macs_per_cycle * arch.clock_hz == pytest.approx(91.75e12, rel=1e-3)
    assert arch.core.sram.unified == 24 * 2**20 and arch.hbm.bandwidth == 34e9
    assert arch.host is not None and arch.host.bandwidth == pytest.approx(8e9 * 128 / 130 * 16 / 8, rel=1e-3)


def test_package_exports():
    assert accelsim.config.load_experiment is load_experiment


def test_build_graph_is_the_builders_and_config_builds_no_model():
    # graph building (dtype default, training step) lives in accelsim.builders; config re-exports it
    import ast

    import accelsim.builders
    from accelsim import api

    assert build_graph is accelsim.builders.build_graph is api.build_graph
    spec = load_workload("lenet5", ["mode=training", "optimizer=sgd"])
    g = build_graph(spec, "int8")
    # LeNet-5 trained with SGD: one optimizer step per parameter tensor (5 layers · weight and bias), in int8
    # (but the loss, which reads the logits' fp32 copy, loss.cast, and the gradient from it: probe p176 #1)
    assert sum(op.fn == "sgd" for op in g) == 10
    assert {op.dtype for op in g if op.name not in ("loss", "loss.grad")} == {"int8"}
    # config reads the builders' table only: it imports no builder, layer or training module
    used = set()
    for path in (REPO / "accelsim" / "config").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2 and (node.module or "").startswith("builders"):
                used |= {f"{node.module}.{a.name}" for a in node.names}
    assert used == {"builders.BUILDERS", "builders.build_graph"}


def test_one_decode_sample_is_refused(tmp_path, capsys):
    # decode samples are evenly spread with the first and the last step included, so the smallest budget that holds
    # both is 2; one sample used to price every step as the last (longest-KV) one, +5 % on llama3_70b dgx-h100
    path = tmp_path / "e.yaml"
    path.write_text("workload: lenet5\narch: gemmini\noptions:\n  decode_samples: 1\n")
    assert errors_of(load_experiment, path) == [
        f"{path}:4: options.decode_samples: must be 0 (every decode step) or at least 2 (the first and the last "
        f"decode step are always among the samples) (got 1)"]
    for ok in (0, 2):
        path.write_text(f"workload: lenet5\narch: gemmini\noptions:\n  decode_samples: {ok}\n")
        assert load_experiment(path).options.decode_samples == ok
    from accelsim.cli import main

    assert main(["run", "-w", "llama3_8b", "-a", "h100", "--set", "options.decode_samples=1", "--no-plots",
                 "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "options.decode_samples: must be 0" in err[0], err


# ---- a cross-field error is reported at the key the user changed last ---------------------------------------------
def test_a_cross_field_error_names_the_key_the_user_changed(tmp_path, monkeypatch, capsys):
    from accelsim.cli import main

    monkeypatch.chdir(tmp_path)
    # attention's kv_heads must divide heads; its preset writes heads: 32 and kv_heads: 32
    preset = preset_dir("workloads") / "attention.yaml"
    kv_line = next(i for i, t in enumerate(preset.read_text().splitlines(), 1) if t.startswith("kv_heads: 32"))
    # --set workload.heads=8: the --set is blamed (not the preset's line), naming kv_heads' value and its origin
    assert main(["run", "--workload", "attention", "--arch", "h100", "--set", "workload.heads=8", "--no-plots"]) == 2
    assert capsys.readouterr().err == (
        f"accelsim: error: --set: workload.heads: workload.kv_heads (32, from {preset}:{kv_line}) must divide heads "
        "(8) (got 8)\n")
    # the API alike, in the same dotted form: kv_heads is the default (32), heads the value given
    assert errors_of(load_workload, {"model": "attention", "heads": 8}) == [
        "<input>: workload.heads: workload.kv_heads (32, the default) must divide heads (8) (got 8)"]
    # both given in one mapping: a tie, the check's own key is named
    assert errors_of(load_workload, {"model": "attention", "heads": 8, "kv_heads": 32}) == [
        "<input>: workload.kv_heads: must divide heads (8) (got 32)"]
    # the key the --set changed is the check's own: unchanged
    assert errors_of(experiment_from_parts, "attention", "h100", overrides=["workload.kv_heads=5"]) == [
        "--set: workload.kv_heads: must divide heads (32) (got 5)"]
    # probe p42 #9: an option's check at its own key names the other option in its --set form with its origin,
    # at its default too, not bare ("max_tiles_per_op (16)")
    assert errors_of(experiment_from_parts, "gemm", "tpu-v1", overrides=["options.min_tiles_per_op=32"]) == [
        "--set: options.min_tiles_per_op: must be at most options.max_tiles_per_op (16, the default) (got 32)"]
    # both from --set: a tie, at the check's own key, the other "from --set"
    assert errors_of(experiment_from_parts, "gemm", "tpu-v1",
                     overrides=["options.min_tiles_per_op=32", "options.max_tiles_per_op=8"]) == [
        "--set: options.min_tiles_per_op: must be at most options.max_tiles_per_op (8, from --set) (got 32)"]
    # the other cross-key option check: a warm start needs cache_residency
    assert errors_of(experiment_from_parts, "gemm", "h100",
                     overrides=["options.warm_params=2", "options.cache_residency=false"]) == [
        "--set: options.warm_params: needs options.cache_residency (false, from --set) to be true: a warm start is "
        "what the shared cache holds (got 2)"]
    # options too: min_tiles_per_op (8, in the experiment file, line 3) above a --set max_tiles_per_op of 4
    (tmp_path / "exp.yaml").write_text("workload: lenet5\narch: gemmini\noptions: {min_tiles_per_op: 8}\n")
    assert errors_of(load_experiment, "exp.yaml", ["options.max_tiles_per_op=4"]) == [
        "--set: options.max_tiles_per_op: options.min_tiles_per_op (8, from exp.yaml:3) must be at most "
        "max_tiles_per_op (4) (got 4)"]
