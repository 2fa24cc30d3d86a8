"""Probe p216 (the Python API's contracts): an Options changed with model_copy and a WorkloadSpec changed with
dataclasses.replace are validated again (the one-line ConfigError a mapping gets), and an unknown experiment's
error lists the experiments only; a mapping given to load_experiment gets a type message."""

from __future__ import annotations

import dataclasses

import pytest

import accelsim
import accelsim.api as api
from accelsim.config import build_graph, load_arch, load_experiment, load_options
from accelsim.config.presets import experiment_names, find_preset, is_sweep_file, list_presets
from accelsim.errors import ConfigError
from accelsim.options import Options

GEMM = {"model": "gemm", "m": 64, "n": 64, "k": 64}
# 512³ on tpu-v4's two cores: split over both arrays or on one, so the two settings give different cycles
SPLIT_GEMM = {"model": "gemm", "m": 512, "n": 512, "k": 512}


def _one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text, text
    return text


# ---- 1. an Options changed with model_copy is validated again -----------------------------------------------------

def test_split_ops_no_from_model_copy_runs_with_splitting_off():
    # "no" is a non-empty string, so it read as True: the run was the split-on one, report options {'split_ops': 'no'}
    copied = accelsim.simulate(SPLIT_GEMM, "tpu-v4", Options().model_copy(update={"split_ops": "no"}))
    mapping = accelsim.simulate(SPLIT_GEMM, "tpu-v4", {"split_ops": "no"})
    split = accelsim.simulate(SPLIT_GEMM, "tpu-v4")
    assert copied["options"] == mapping["options"] == {"split_ops": False}
    assert copied.total_cycles == mapping.total_cycles != split.total_cycles


@pytest.mark.parametrize(("update", "expected"), [
    ({"max_tiles_per_op": 0}, "<input>: options.max_tiles_per_op: Input should be greater than 0 (got 0)"),
    ({"execution": "fast"},
     "<input>: options.execution: Input should be 'auto', 'eager' or 'cuda_graph' (got 'fast')"),
    ({"decode_samples": 1}, "<input>: options.decode_samples: must be 0 (every decode step) or at least 2"),
    ({"bogus": 1}, "<input>: options.bogus: Extra inputs are not permitted"),  # a key that is no field: was ignored
])
def test_a_bad_options_from_model_copy_is_the_mapping_forms_config_error(update, expected):
    with pytest.raises(ConfigError) as copied:
        accelsim.simulate(GEMM, "tpu-v1", Options().model_copy(update=update))
    with pytest.raises(ConfigError) as mapping:
        accelsim.simulate(GEMM, "tpu-v1", update)
    assert _one_line(copied).startswith(expected)
    assert _one_line(copied) == _one_line(mapping)
    with pytest.raises(ConfigError):
        load_options(Options().model_copy(update=update))


def test_api_run_and_pipeline_validate_their_options():
    arch = load_arch("tpu-v4")
    graph = build_graph(accelsim.load_workload(SPLIT_GEMM), arch.dtype)
    off = api.run(graph, arch, Options().model_copy(update={"split_ops": "no"}))
    assert off.total_cycles == api.run(graph, arch, Options(split_ops=False)).total_cycles
    assert off.total_cycles != api.run(graph, arch, Options()).total_cycles
    with pytest.raises(ConfigError) as e:
        api.run(graph, arch, options=Options().model_copy(update={"max_tiles_per_op": 0}))
    assert _one_line(e) == "<input>: options.max_tiles_per_op: Input should be greater than 0 (got 0)"
    spec = accelsim.load_workload({"model": "gpt", "layers": 2, "hidden": 64, "heads": 2, "seq_len": 16,
                                   "pipeline_parallel": 2, "micro_batches": 2})
    with pytest.raises(ConfigError) as e:
        api.pipeline(spec, load_arch("dgx-h100"), Options().model_copy(update={"execution": "fast"}))
    assert _one_line(e).startswith("<input>: options.execution:")


def test_a_valid_options_object_runs_as_before():
    opts = Options(split_ops=False, max_tiles_per_op=64)
    assert load_options(opts) == opts
    assert load_options(opts).model_fields_set == {"split_ops", "max_tiles_per_op"}  # report.json's options
    assert accelsim.simulate(SPLIT_GEMM, "tpu-v4", opts)["options"] == {"split_ops": False, "max_tiles_per_op": 64}


# ---- 2. a WorkloadSpec changed with dataclasses.replace is validated again -----------------------------------------

def test_a_replaced_workload_spec_gets_the_one_line_config_error():
    gpt2 = accelsim.load_workload("gpt2")
    with pytest.raises(ConfigError) as e:  # was a multi-line pydantic ValidationError, no AccelsimError
        accelsim.simulate(dataclasses.replace(gpt2, params={**gpt2.params, "seq_len": 2000}), "a100")
    assert _one_line(e) == ("<input>: workload.seq_len: must be at most 1024: GPT-2 has 1024 learned positions "
                            "(got 2000)")
    gemm = accelsim.load_workload(GEMM)
    for m, msg in ((-5, "Input should be greater than 0 (got -5)"),
                   ("x", "Input should be a valid integer, unable to parse string as an integer (got 'x')")):
        with pytest.raises(ConfigError) as e:
            accelsim.simulate(dataclasses.replace(gemm, params={**gemm.params, "m": m}), "tpu-v1")
        assert _one_line(e) == f"<input>: workload.m: {msg}"


def test_a_valid_replaced_workload_spec_keeps_its_source_and_runs_the_change():
    gemm = accelsim.load_workload(GEMM)
    bigger = dataclasses.replace(gemm, params={**gemm.params, "m": 128})
    report = accelsim.simulate(bigger, "tpu-v1")
    assert report["macs"] == 128 * 64 * 64  # m × n × k of the changed spec
    assert bigger.source is gemm.source  # not rebuilt: later errors name its file and line still


# ---- 3. an unknown experiment lists the experiments only; a mapping gets a type message ------------------------------

def test_unknown_experiment_lists_no_sweep():
    sweeps = [n for n in list_presets("experiments") if is_sweep_file(find_preset("experiments", n) or "")]
    assert sweeps  # the shipped *_sweep presets this test is about
    with pytest.raises(ConfigError) as e:
        load_experiment("nosuch")
    text = _one_line(e)
    listed = text.split("valid names: ", 1)[1].rsplit(" (got", 1)[0].split(", ")
    assert listed == experiment_names()  # what `accelsim list experiments` prints
    assert not set(sweeps) & set(listed)


def test_a_mapping_given_to_load_experiment_gets_a_type_message():
    with pytest.raises(ConfigError) as e:
        load_experiment({"workload": {"model": "gemm"}, "arch": "tpu-v1"})  # type: ignore[arg-type]
    text = _one_line(e)
    assert text.startswith("<input>: experiment: expected the path of an experiment YAML file or an experiment "
                           "preset name")
    assert "accelsim.simulate(workload, arch, options)" in text and "(got 'dict')" in text


# ---- 5. a composed pipeline report keeps seconds = total_cycles / clock_hz -----------------------------------------

def test_a_pipeline_reports_seconds_of_its_whole_cycles():
    # the probe's run: its sends over NVLink take fractional cycles, so the composed iteration was 0.46 cycle off the
    # total_cycles it showed (0.013072983313519037 s against 23,923,559 / clock_hz = 0.013072983060109289 s)
    rep = accelsim.simulate({"model": "gpt", "layers": 4, "hidden": 512, "heads": 8, "seq_len": 256,
                             "pipeline_parallel": 2, "micro_batches": 4, "tensor_parallel": 2}, "dgx-h100",
                            mode="training").to_dict()
    assert "pipeline" in rep
    assert rep["seconds"] == rep["total_cycles"] / rep["clock_hz"]  # the contract table, docs/architecture.md


def test_a_decode_run_of_sampled_steps_reports_seconds_of_its_whole_cycles():
    # 40 decode steps are simulated at a few kv lengths and interpolated between (scenarios/sampling.py): the summed
    # step seconds kept the half cycle that total_cycles rounds away (1,413,303.5 cycles' seconds beside 1,413,304)
    rep = accelsim.simulate({"model": "gpt", "layers": 2, "hidden": 256, "heads": 4, "phase": "decode",
                             "kv_len": 64, "decode_steps": 40}, "tpu-v4").to_dict()
    assert rep["seconds"] == rep["total_cycles"] / rep["clock_hz"]  # the contract table, docs/architecture.md
