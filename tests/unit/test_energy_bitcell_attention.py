"""A fused attention on a GPU-like array that lists no per-dtype ``rates`` runs, and is charged, as the arch's dtype,
as a GEMM on the same array is (cost.systolic's rule, ``mapping.rate.runs_as``): before, its FlashAttention row
(cost/attention.py) wrote no ``rate`` and its MACs were charged at the workload's dtype. Its time is unchanged: an
array without rates runs every dtype at its base rate, 1.0, with or without the row saying so."""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main
from accelsim.config.load import load_arch
from accelsim.energy import constants
from accelsim.energy.model import mac_pricer

NO_RATES = "arch.core.systolic.rates={}"  # a100's tensor cores with no per-dtype rates: every dtype as bf16
ATTENTION = ["-w", "attention", "--set", "workload.attention=fused", "--set", "workload.dtype=fp16",
             "--set", "workload.heads=4", "--set", "workload.kv_heads=4", "--set", "workload.q_len=256",
             "--set", "workload.kv_len=256"]
TINY_GPT = ["-w", "gpt", "--set", "workload.attention=fused", "--set", "workload.mode=training",
            "--set", "workload.seq_len=128", "--set", "workload.layers=1", "--set", "workload.hidden=256",
            "--set", "workload.heads=4", "--set", "workload.ffn=1024", "--set", "workload.vocab=1000"]


def _run(tmp_path, name: str, *args: str) -> dict:
    out = tmp_path / name
    assert main(["run", *args, "-o", str(out), "--no-plots", "-q"]) == 0
    return json.loads((out / "report.json").read_text())


def _row(report: dict, fn: str) -> dict:
    (row,) = [o for o in report["ops"] if o.get("fn") == fn and o["macs"]]
    return row


def test_fused_attention_without_rates_runs_and_is_charged_as_a_gemm_on_the_array(tmp_path):
    att = _row(_run(tmp_path, "att", *ATTENTION, "-a", "a100", "--set", NO_RATES), "attention")
    gemm_report = _run(tmp_path, "gemm", "-w", "gemm", "-a", "a100", "--set", NO_RATES, "--set", "workload.dtype=fp16",
                       "--set", "workload.m=256", "--set", "workload.n=256", "--set", "workload.k=256")
    gemm = gemm_report["ops"][0]
    assert att["mapping"]["kernel"] == "flash2"  # the FlashAttention path (cost/attention.py), not the systolic one
    assert att["mapping"]["rate"] == gemm["mapping"]["rate"] == {"dtype": "fp16", "runs_as": "bf16",
                                                                  "multiplier": 1.0}
    arch = load_arch("a100", [NO_RATES])
    price = mac_pricer(constants(arch, "fp16"), arch)
    bf16_j, fp16_j = constants(arch, "bf16").mac_j, constants(arch, "fp16").mac_j
    # docs/energy.md, "Actions": on a100 an fp16 MAC is 1.04x a bf16 one (its arithmetic, with the array's movement):
    # (2.0 + 7.54 x 1.482) / (8.54 x 1.482) = 1.0409 with mac_overhead 8.54 (1.05 with 7.0 before probe p152 #1)
    assert fp16_j / bf16_j == pytest.approx((2.0 + 7.54 * 1.4818) / (8.54 * 1.4818), rel=2e-3)
    assert price(gemm) == pytest.approx(bf16_j, rel=1e-12, abs=0)
    assert price(att) == pytest.approx(bf16_j, rel=1e-12, abs=0)  # before: fp16_j, 1.05x the GEMM's


def test_its_time_is_the_base_rates(tmp_path):
    # a100 lists fp16 at 1.0 x the bf16 tensor rate (312 TFLOPS both: nv_a100_datasheet), so the same op takes the
    # same cycles with and without rates: the row's new rate moves no time
    without = _row(_run(tmp_path, "no", *ATTENTION, "-a", "a100", "--set", NO_RATES), "attention")
    preset = _row(_run(tmp_path, "preset", *ATTENTION, "-a", "a100"), "attention")
    assert preset["mapping"]["rate"] == {"dtype": "fp16", "runs_as": "fp16", "multiplier": 1.0}
    assert without["compute_cycles"] == preset["compute_cycles"]
    assert without["mapping"]["block_tensor_cycles"] == preset["mapping"]["block_tensor_cycles"]


def test_the_backward_kernel_row_carries_the_forwards_rate(tmp_path):
    arch = load_arch("a100", [NO_RATES])
    report = _run(tmp_path, "train", *TINY_GPT, "-a", "a100", "--set", NO_RATES, "--set", "workload.dtype=fp16")
    fwd, bwd = _row(report, "attention"), _row(report, "attention_grad")
    assert bwd["mapping"]["kernel"] == "flash2_backward"
    assert bwd["mapping"]["rate"] == fwd["mapping"]["rate"] == {"dtype": "fp16", "runs_as": "bf16", "multiplier": 1.0}
    price = mac_pricer(constants(arch, "fp16"), arch)
    assert price(bwd) == pytest.approx(constants(arch, "bf16").mac_j, rel=1e-12, abs=0)  # before: fp16's
    # on a preset listing rates, the backward row now names the dtype it ran at too, which is the run's: bf16 on h100
    h100 = _run(tmp_path, "h100", *TINY_GPT, "-a", "h100")
    assert _row(h100, "attention_grad")["mapping"]["rate"] == {"dtype": "bf16", "runs_as": "bf16", "multiplier": 1.0}
