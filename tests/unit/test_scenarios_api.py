"""accelsim.simulate takes names, paths, mappings or objects for the workload and the arch; every bad argument is a
one-line ConfigError naming the key, as the CLI reports it; one dispatch decides the scenario."""

from __future__ import annotations

import pytest

import accelsim
from accelsim import simulate
from accelsim.config import WorkloadSpec, build_graph, load_arch, load_workload
from accelsim.errors import AccelsimError, ConfigError
from accelsim.options import Options
from accelsim.scenarios import scenario_of

# LeNet-5 MACs per 32×32 image: conv1 6·28·28·25, conv2 16·10·10·150, linears 400·120 + 120·84 + 84·10
LENET5_MACS = 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10  # 416,520


def _one_line_error(excinfo, key: str) -> str:
    err = excinfo.value
    assert isinstance(err, AccelsimError)
    text = str(err)
    assert "\n" not in text and f"{key}:" in text, text
    return text


def test_arch_mapping_starting_from_a_preset():
    # "base: tpu-v1" with the clock overridden: the run is tpu-v1's but at 1 GHz instead of 700 MHz
    rep = simulate("lenet5", {"base": "tpu-v1", "clock": "1GHz"}).to_dict()
    assert rep["arch"]["name"] == "tpu-v1" and rep["clock_hz"] == 1e9
    assert rep["macs"] == LENET5_MACS


def test_workload_mapping_and_objects():
    by_mapping = simulate({"model": "lenet5", "batch": 2}, "tpu-v1").to_dict()
    assert by_mapping["macs"] == 2 * LENET5_MACS
    spec = load_workload("lenet5")
    assert simulate(spec, load_arch("tpu-v1")).to_dict()["macs"] == LENET5_MACS
    graph = build_graph(WorkloadSpec("lenet5", spec.params), "int8")
    assert simulate(graph, "tpu-v1").to_dict()["macs"] == LENET5_MACS


def test_batch_and_mode_override_the_workload_as_the_cli_does():
    rep = simulate("lenet5", "tpu-v1", batch=8).to_dict()
    assert rep["macs"] == 8 * LENET5_MACS and rep["workload"]["params"]["batch"] == 8
    # training: phases appear, and the backward pass adds an input-gradient and a weight-gradient GEMM per layer
    # with the forward's MACs each, except the first layer's input gradient (conv1's 117,600)
    train = simulate({"model": "lenet5", "batch": 2}, "tpu-v1", mode="training").to_dict()
    assert set(train["phases"]) == {"forward", "backward", "optimizer"}
    assert train["macs"] == 2 * (3 * LENET5_MACS - 6 * 28 * 28 * 25)


def test_options_as_object_mapping_and_keywords():
    # keywords win over the Options object; a bad option names options.KEY
    rep = simulate("lenet5", "tpu-v1", Options(decode_samples=3), fold_batchnorm=False).to_dict()
    assert rep["macs"] == LENET5_MACS
    with pytest.raises(ConfigError) as e:
        simulate("lenet5", "tpu-v1", {"fold_batchnorm": 3})
    assert _one_line_error(e, "options.fold_batchnorm").endswith("(got 3)")
    with pytest.raises(ConfigError) as e:
        simulate("lenet5", "tpu-v1", nosuch=1)
    _one_line_error(e, "options.nosuch")
    with pytest.raises(ConfigError) as e:
        simulate("lenet5", "tpu-v1", "fast")
    _one_line_error(e, "options")


@pytest.mark.parametrize("call, key", [
    (lambda: simulate("lenet5", "tpu-v1", batch="x"), "workload.batch"),
    (lambda: simulate("lenet5", "tpu-v1", batch=0), "workload.batch"),
    (lambda: simulate("lenet5", "tpu-v1", mode="sideways"), "workload.mode"),
    (lambda: simulate({"model": "lenet5", "batsh": 2}, "tpu-v1"), "workload.batsh"),
    (lambda: simulate({"model": "nosuch"}, "tpu-v1"), "workload.model"),
    (lambda: simulate("nosuch", "tpu-v1"), "workload"),
    (lambda: simulate("lenet5", {"base": "tpu-v1", "clock": "fast"}), "arch.clock"),
    (lambda: simulate("lenet5", "nosuch"), "arch"),
    (lambda: simulate("lenet5", 5), "arch"),
    (lambda: simulate(build_graph(load_workload("lenet5"), "int8"), "tpu-v1", batch=2), "workload.batch"),
])
def test_every_bad_argument_is_one_line_naming_the_key(call, key):
    with pytest.raises(ConfigError) as e:
        call()
    _one_line_error(e, key)


def test_one_dispatch_decides_the_scenario():
    assert scenario_of(load_workload("resnet18")) == "single"
    assert scenario_of(load_workload("llama2_7b", ["decode_steps=4"])) == "serving"
    assert scenario_of(load_workload("llama2_7b")) == "single"  # a prefill alone is one pass
    assert scenario_of(load_workload({"model": "gpt", "layers": 2})) == "pipeline"  # even with one stage


def test_public_names_still_work():
    from accelsim.api import decode_samples, pipeline, run, run_experiment, serve

    assert accelsim.simulate is simulate
    assert callable(run) and callable(run_experiment) and callable(serve) and callable(pipeline)
    assert decode_samples(5, 3) == [0, 2, 4]
