"""Errors of impossible multi-chip layouts name the key at fault (probe 18 finding 6), one line, exit status 2."""

from __future__ import annotations

import pytest

from accelsim.cli import main
from accelsim.config.presets import find_preset


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"


def _err(capsys, out, *args):
    # a folder that is never made: each layout is refused before anything is written (an -o that cannot be a folder
    # is refused first since probe p132 #6, so it cannot stand in for one)
    code = main(["run", *args, "--no-plots", "-q", "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert not out.exists()
    return err


def test_tensor_parallel_beyond_the_node_names_the_key_not_the_workload_file(capsys, out):
    err = _err(capsys, out, "-w", "llama2_7b", "-a", "dgx-h100", "--set", "workload.tensor_parallel=16")
    # 16 chips against dgx-h100's 8, at the --set that asked for them (before: llama2_7b.yaml:2: model:); llama2_7b
    # takes no pipeline_parallel, so the count names none (before: "tensor_parallel × pipeline_parallel = 16 × 1")
    assert err == ("accelsim: error: --set: workload.tensor_parallel: llama2_7b: tensor_parallel = 16 chips, but "
                   "arch 'dgx-h100' has arch.chips=8 (set arch.chips ≥ 16, or fewer parallel chips)")


@pytest.mark.parametrize(("first", "last"), [(("expert_parallel", 4), ("tensor_parallel", 4)),
                                             (("tensor_parallel", 2), ("expert_parallel", 8))])
def test_moe_tensor_times_expert_parallel_beyond_the_node_names_the_key_set_last(capsys, out, first, last):
    # probe p70 #1: mixtral_8x7b's TP × EP over dgx-h100's 8 chips was blamed on mixtral_8x7b.yaml:4: model: with
    # "has chips=8" and a "× pipeline_parallel" the model does not take. Expert-parallel chips sit beside the
    # tensor-parallel ones (Megatron's rank order), so 4 × 4 and 2 × 8 both take 16 chips.
    (k1, v1), (k2, v2) = first, last
    err = _err(capsys, out, "-w", "mixtral_8x7b", "-a", "dgx-h100", "--set", "workload.seq_len=256",
               "--set", f"workload.{k1}={v1}", "--set", f"workload.{k2}={v2}")
    tp, ep = (v1, v2) if k1 == "tensor_parallel" else (v2, v1)
    assert err.startswith(f"accelsim: error: --set: workload.{k2}: mixtral_8x7b: tensor_parallel × expert_parallel "
                          f"= {tp} × {ep} = {tp * ep} chips (")
    assert err.endswith("but arch 'dgx-h100' has arch.chips=8 (set arch.chips ≥ 16, or fewer parallel chips)")
    assert "pipeline_parallel" not in err and "model:" not in err


def test_moe_expert_parallel_alone_beyond_the_arch_names_it(capsys, out):
    # EP 8 on 4 chips: tensor_parallel 1 × expert_parallel 8 = 8 chips; no tensor-parallel chips to sit beside
    err = _err(capsys, out, "-w", "mixtral_8x7b", "-a", "dgx-h100", "--set", "arch.chips=4",
               "--set", "workload.seq_len=256", "--set", "workload.expert_parallel=8")
    assert err == ("accelsim: error: --set: workload.expert_parallel: mixtral_8x7b: tensor_parallel × expert_parallel "
                   "= 1 × 8 = 8 chips, but arch 'dgx-h100' has arch.chips=4 (set arch.chips ≥ 8, or fewer parallel "
                   "chips)")


def test_a_scale_out_removed_on_the_command_line_is_blamed_there(capsys, out):
    err = _err(capsys, out, "-w", "llama2_7b", "-a", "dgx-h100", "--set", "arch.interconnect.scale_out=null")
    # the preset's node_chips (at its own line of dgx-h100.yaml) stays; the key set last is the --set's
    line = next(i for i, text in enumerate(find_preset("arch", "dgx-h100").read_text().splitlines(), 1)
                if text.strip().startswith("node_chips:"))
    assert err.startswith("accelsim: error: --set: arch.interconnect.scale_out: node_chips and scale_out go together")
    assert "node_chips 8, " in err and f"dgx-h100.yaml:{line})" in err


def test_a_collective_on_one_chip_names_arch_chips_in_the_singular(capsys, out):
    err = _err(capsys, out, "-w", "collective", "-a", "dgx-h100", "--set", "arch.chips=1")
    assert err.startswith("accelsim: error: --set: arch.chips: op 'all_reduce': an all_reduce over 1 chip needs")


def test_a_collective_on_a_preset_without_chips_names_no_line_of_it(capsys, out):
    # multicore-4.yaml writes no chips: key (one chip, the default), so no line holds it; it named line 5, name:
    # (probe p40 finding 2), and said "an reduce_scatter"
    err = _err(capsys, out, "-w", "collective", "-a", "multicore-4", "--set", "workload.op=reduce_scatter")
    assert err.startswith("accelsim: error: ") and "multicore-4.yaml: chips: op 'reduce_scatter': a reduce_scatter "\
        "over 1 chip needs an arch with at least 2 chips" in err, err


@pytest.mark.parametrize("value", ["0", "-5"])
def test_zero_and_negative_bytes_get_one_message(capsys, out, value):
    err = _err(capsys, out, "-w", "collective", "-a", "dgx-h100", "--set", f"workload.bytes={value}")
    assert err == f"accelsim: error: --set: workload.bytes: expected a whole, positive number of bytes (got {value})"


@pytest.mark.parametrize(("workload", "arch", "extra"), [
    ("llama2_7b", "dgx-a100", ()),
    ("llama2_7b", "tpu-v5p-128", ("--set", "workload.tensor_parallel=4")),
    ("mixtral_8x7b", "dgx-h100", ())])
def test_pipeline_parallel_on_a_builder_other_than_gpt_says_gpt_models_it(capsys, out, workload, arch, extra):
    # probe p70 #2: "Extra inputs are not permitted; did you mean 'sequence_parallel'?" sent the user the wrong way
    err = _err(capsys, out, "-w", workload, "-a", arch, "--mode", "training", "--set", "workload.seq_len=2048", *extra,
               "--set", "workload.pipeline_parallel=2")
    assert err.startswith("accelsim: error: --set: workload.pipeline_parallel: pipeline parallelism is modelled for "
                          "'model: gpt' (Megatron GPT) only")
    assert "did you mean" not in err
