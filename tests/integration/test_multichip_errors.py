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


@pytest.mark.parametrize("op", ["all_gather", "reduce_scatter", "all_to_all"])
def test_a_size_the_chips_cannot_split_is_refused_at_bytes(capsys, out, op):
    # probe p158 #1: 1000 B of dgx-h100's bf16 is 500 elements, 62.5 a rank over 8; NCCL's all-gather, reduce-scatter
    # and all-to-all take a whole count a rank (size = ranks x count x 2 B), so it was no call NCCL can run (priced
    # as given: 7/8 x 1000 = 875 B on the link). The sizes either side: 62 x 8 x 2 = 992 and 63 x 8 x 2 = 1008 B
    err = _err(capsys, out, "-w", "collective", "-a", "dgx-h100", "--set", f"workload.op={op}",
               "--set", "workload.bytes=1000")
    assert err == (f"accelsim: error: --set: workload.bytes: bytes 1000 is 500 bf16 elements, which 8 chips cannot "
                   f"split: {op} gives each rank a whole count (NCCL's call takes a count a rank; 500 / 8 = 62.5); "
                   f"use 992 or 1008 (a multiple of 8 x 2 B)")


def test_the_split_names_arch_chips_where_it_was_set_last_and_lets_a_whole_count_run(capsys, out, tmp_path):
    # 1000 B over 3 chips: 500 / 3 = 166.67 a rank; 166 x 3 x 2 = 996, 167 x 3 x 2 = 1002. The file's bytes, then
    # a --set of arch.chips: the chips are what changed last
    exp = tmp_path / "coll.yaml"
    exp.write_text("name: coll\nworkload:\n  model: collective\n  op: all_gather\n  bytes: 1000\narch: dgx-h100\n")
    err = _err(capsys, out, str(exp), "--set", "arch.chips=3")
    assert err.startswith("accelsim: error: --set: arch.chips: bytes 1000 is 500 bf16 elements, which 3 chips cannot "
                          "split") and "use 996 or 1002" in err
    err = _err(capsys, out, str(exp))  # 8 chips: at the file's line of bytes
    assert err.startswith(f"accelsim: error: {exp}:5: workload.bytes: bytes 1000 is 500 bf16 elements, which 8 chips")
    # 500 elements over 4 chips is 125 a rank: it runs, and an all-reduce of 1000 B over 8 (no count a rank) too
    for extra in (("--set", "workload.op=all_gather", "--set", "arch.chips=4"), ("--set", "workload.op=all_reduce")):
        assert main(["run", "-w", "collective", "-a", "dgx-h100", "--set", "workload.bytes=1000", *extra,
                     "--no-plots", "-q", "-o", str(tmp_path / "ok")]) == 0


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
