"""Probe p117 #1, #2 and #6 end to end: the bf16 LLaMA-2-7B example's fp32 gradients and their reduce-scatter,
what ``offload: optimizer`` moves over the host link, and ``info``'s pipeline-stage row."""

from __future__ import annotations

import subprocess
import sys

import pytest

import accelsim

# one chip's LLaMA-2-7B parameters at tensor parallel 2 (tests/unit/test_trainfix2_precision.py writes it out)
PARAMS = 3_369_340_928


@pytest.fixture(scope="module")
def llama():
    return accelsim.run_experiment(accelsim.load_experiment("experiments/llama2_7b_training_dgx_h100.yaml")).to_dict()


def test_llama2_7b_example_keeps_fp32_gradients(llama):
    hbm = llama["memory"]["hbm"]
    assert hbm["gradients"] == 4 * PARAMS  # 13,477,363,712 B: bf16 → fp32 main grads (Megatron-LM)
    assert hbm["weights"] == 2 * PARAMS  # the bf16 parameters
    assert hbm["optimizer_states"] == 12 * PARAMS // 8  # ZeRO-1 over the 8 data-parallel replicas


def test_llama2_7b_example_reduce_scatters_fp32_gradients(llama):
    # a ring reduce-scatter over d = 8 replicas sends (d − 1)/d of the gradient: 7/8 × 4 × 3,369,340,928
    # = 11,792,693,248 B a GPU (bf16 gradients sent half: 5,896,346,624)
    assert llama["phases"]["grad_reduce"]["link_bytes"] == 7 * 4 * PARAMS // 8


def test_offloaded_optimizer_moves_the_adam_state_both_ways():
    """The modelled offload (a GPU step streaming its state, not ZeRO-Offload's CPU step): Adam's m, v and the fp32
    master copy, 12 B a parameter, read and written back over the host link: 24 B a parameter."""
    wl = {"model": "gpt", "mode": "training", "optimizer": "adam", "hidden": 256, "heads": 4, "layers": 2,
          "seq_len": 128}
    r = accelsim.simulate(wl, {"base": "dgx-h100", "chips": 1}, offload="optimizer").to_dict()
    assert r["memory"]["host"]["optimizer_states"] == 12 * r["params"]
    assert r["bytes"]["host"] == 24 * r["params"]


def _info(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "accelsim", "info", "gpt", "--mode", "training", *args],
                         capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


@pytest.mark.parametrize(("sets", "stage", "flight"), [
    # 1F1B: stage k keeps min(P − k, m) micro-batches in flight: min(4 − 0, 4) = 4, min(4 − 2, 8) = 2
    (("pipeline_parallel=4", "micro_batches=4"), "stage 0 of 4", "up to 4 micro-batches"),
    (("pipeline_parallel=4", "micro_batches=8", "pipeline_stage=2"), "stage 2 of 4", "up to 2 micro-batches"),
    # interleaved v = 2 on stage 0: (2(P − 1) + (v − 1)P + 1) / v = (6 + 4 + 1) / 2 = 5.5
    (("pipeline_parallel=4", "micro_batches=8", "pipeline_interleave=2"), "stage 0 of 4", "up to 5.5 micro-batches"),
])
def test_info_says_which_stage_and_micro_batch_it_shows(sets, stage, flight):
    text = _info("--set", "workload.layers=8", "--set", "workload.hidden=256", "--set", "workload.heads=4",
                 "--set", "workload.seq_len=128", *[a for s in sets for a in ("--set", f"workload.{s}")])
    assert f"{stage}, one micro-batch" in text
    assert flight in text


def test_info_without_pipeline_has_no_stage_row():
    assert "one micro-batch" not in _info("--set", "workload.layers=2", "--set", "workload.hidden=256",
                                          "--set", "workload.heads=4", "--set", "workload.seq_len=128")
