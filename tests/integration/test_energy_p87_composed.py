"""Probe p87 #1 and #2 through real composed reports: a row standing for ``count`` executions is charged the zero
MACs and the collective adds of every one of them, not of one."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config.load import load_arch
from accelsim.energy import constants, executed_macs


def test_a_pruned_diffusion_run_on_tpu_v4_executes_the_dense_runs_macs():
    # DiT-XL/2, 3 steps without guidance: the transformer's rows stand for 3 executions. tpu-v4 does not skip zeros
    # (skips_zeros false, executed_k == k), so the 2:4 run's array multiplies the dense K of every execution: its
    # computed MACs are the dense run's (before: 1.654 T of 2.684 T at 10 steps, the zeros of one execution per row)
    w = {"model": "dit_xl_2", "steps": 3, "guidance": 1}
    dense = accelsim.simulate(w, "tpu-v4").to_dict()
    sparse = accelsim.simulate({**w, "sparsity": "2:4"}, "tpu-v4").to_dict()
    assert sparse["macs"] < 0.6 * dense["macs"]  # the model's count: the kept weights
    assert sparse["computed_macs"] == dense["computed_macs"] == dense["macs"]
    assert sparse["computed_flops"] == dense["computed_flops"]
    assert sparse["energy"]["mac_j"] == pytest.approx(dense["energy"]["mac_j"], rel=1e-9)
    # one row by hand: the patch embedding, a 2 x 2 conv over 4 latent channels (K = 16) to 1152 channels at
    # 512 positions (batch 2 x 256 patches), run once a step: 3 x 512 x 1152 x 16 MACs executed, 8 of 16 kept
    (row,) = [r for r in sparse["ops"] if r["name"] == "x_embedder.proj"]
    assert row["count"] == 3 and row["mapping"]["gemm"] == [512, 1152, 16, 1]
    assert row["mapping"]["sparsity"]["executed_k"] == 16
    assert row["macs"] == 3 * 512 * 1152 * 8
    assert executed_macs(row) == 3 * 512 * 1152 * 16


def test_a_tensor_parallel_decode_run_counts_each_all_reduces_adds_every_time_it_runs():
    # LLaMA-2-7B (hidden 4096, 32 layers) over 4 A100s (NCCL ring), batch 2, a 64-token prompt and 8 decode steps.
    # Each pass all-reduces the embedding and each layer's o_proj and down_proj outputs: 1 + 2 x 32 = 65 times; a
    # ring all-reduce over 4 chips adds (4 - 1)/4 of the elements: the prefill's 2 x 64 x 4096 -> 393,216 adds,
    # each decode step's 2 x 4096 -> 6,144. Total 65 x 393,216 + 8 x 65 x 6,144 = 25,559,040 + 3,194,880
    # = 28,753,920 adds (before: 1,996,800, each row's adds once: 5 x 393,216 + 5 x 6,144)
    w = {"model": "llama2_7b", "tensor_parallel": 4, "seq_len": 64, "decode_steps": 8, "batch": 2}
    r = accelsim.simulate(w, "dgx-a100").to_dict()
    reduces = [o for o in r["ops"] if o["kind"] == "collective" and o["mapping"].get("reduce_flops")]
    assert {o["mapping"]["algorithm"] for o in reduces} == {"ring"}
    assert sum(o["count"] for o in reduces if o["phase"] == "prefill") == 65
    assert sum(o["count"] for o in reduces if o["phase"] == "decode") == 8 * 65
    assert {o["mapping"]["reduce_flops"] for o in reduces} == {3 * 2 * 64 * 4096 // 4, 3 * 2 * 4096 // 4}
    adds = 65 * 393_216 + 8 * 65 * 6_144
    assert adds == 28_753_920
    assert r["computed_flops"] - r["flops"] == adds
    # and they are charged: a decode row's energy is its bytes' plus its adds at the lanes' J per FLOP
    c = constants(load_arch("dgx-a100"), "bf16")
    assert c is not None
    row = max((o for o in reduces if o["phase"] == "decode"), key=lambda o: o["count"])
    moved = sum(b * 8 * c.level_j_per_bit.get(lv, 0.0) for lv, b in row["bytes"].items())
    assert row["energy_j"] == pytest.approx(moved + row["count"] * 6_144 * c.vector_j, rel=1e-9)
