"""Probes p113 #2 and p117 #5: a training step's `memory.*.activations` and the main memory's reservation count
each tensor once. The largest op's working set leaves out what the stash holds (its stashed inputs) and what the
gradients hold (a parameter's gradient, a grad_weight / grad_bias output)."""

from __future__ import annotations

import accelsim
from accelsim.builders import build_workload


def test_lstm_lm_activations_by_hand():
    # lstm_lm (Zaremba medium: seq 35, batch 1, H 650, vocab 10,000, fp16) on tpu-v4. The stash is `accelsim info`'s
    # kept-for-backward bytes (stashed_activation_bytes). The largest working set is decoder.grad_input's:
    # dY = loss.grad 35 × 10,000 × 2 B = 700,000 read, dX 35 × 650 × 2 B = 45,500 written → 745,500 B.
    # decoder.grad_weight reads the same dY, but its input X (35 × 650 × 2 = 45,500 B) is stashed and its output dW
    # (10,000 × 650 × 2 = 13,000,000 B) is decoder.weight's gradient, counted under `gradients`: it was counted at
    # 45,500 + 700,000 + 13,000,000 = 13,745,500 B (probe p113 #2)
    r = accelsim.simulate({"base": "lstm_lm", "mode": "training"}, "tpu-v4").to_dict()
    stash = build_workload("lstm_lm", {"mode": "training"}).info.stashed_activation_bytes
    hbm = r["memory"]["hbm"]
    # gradients: one per parameter (test_rnn's 19,780,400 by hand), fp32 (4 B) as the run is in tpu-v4's bf16, whose
    # gradients Megatron-LM keeps in fp32 (units.GRAD_DTYPE)
    assert r["workload"]["dtype"] == "bf16"
    assert hbm["gradients"] == 19_780_400 * 4 == 79_121_600
    assert hbm["activations"] == stash + 35 * 10_000 * 2 + 35 * 650 * 2 == stash + 745_500
    assert hbm["used"] == hbm["weights"] + hbm["gradients"] + hbm["optimizer_states"] + hbm["activations"]


def test_gpt_head_working_set_counts_neither_the_stash_nor_the_gradient():
    # gpt hidden 1024, 1 layer, seq 1024, vocab 51,200, bf16 on a100 (probe p117 #5). The head's backward:
    # dlogits = loss.grad 1024 × 51,200 × 2 B = 104,857,600 B; output_layer.grad_input reads it and writes
    # dX 1024 × 1024 × 2 = 2,097,152 B → 106,954,752 B. output_layer.grad_weight reads the stashed final_layernorm
    # output and the same dlogits and writes the weight's gradient (a gradient): 104,857,600 B, smaller. It was
    # 211,812,352 = 2,097,152 + 104,857,600 + 104,857,600 (the stashed input and the gradient counted twice)
    cfg = {"model": "gpt", "mode": "training", "optimizer": "adam", "hidden": 1024, "heads": 16, "layers": 1,
           "seq_len": 1024}
    r = accelsim.simulate(cfg, "a100").to_dict()
    stash = build_workload("gpt", {k: v for k, v in cfg.items() if k != "model"}).info.stashed_activation_bytes
    assert r["memory"]["hbm"]["activations"] == stash + 1024 * 51_200 * 2 + 1024 * 1024 * 2 == stash + 106_954_752
