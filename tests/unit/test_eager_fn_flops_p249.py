"""Probe p249 #1: on a GPU preset the last step of an op eager code spells out in kernels (op attr ``eager_fn``,
mapping.aliases.EAGER_FN: transformers' gelu_new, builders/transformer.py ``_eager_gelu_new``) runs as eager
PyTorch's element-wise ``e * d`` kernel, one FLOP an element. Its row had its FLOPs set to that 1, so report.json's
``flops`` counted gelu_new at 1 an element, not the model's ACT_FLOPS["gelu"] = 8 (`accelsim info`'s, tpu-v4's),
and came out below ``computed_flops``. The row now keeps the 8, and its mapping's ``mac_fraction`` 1/8 (as a folded
batch norm's shift add, probe p245 #4) counts the 1 the kernel computes. Every count below is a hand calculation."""

from __future__ import annotations

import accelsim
from accelsim.builders.build import build_graph

S, F = 128, 4 * 768  # seq_len, gpt2's MLP width (n_inner = 4 × n_embd)
ACT = "transformer.h.0.mlp.act"


def _gpt2() -> accelsim.Graph:
    return build_graph(accelsim.load_workload({"model": "gpt2", "batch": 1, "seq_len": S, "layers": 1,
                                              "dtype": "bf16", "logits": "last"}))


def test_a_gpu_run_counts_gelu_new_as_info_does():
    g = _gpt2()
    elems = S * F
    assert g[ACT].flops == 8 * elems  # 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): ACT_FLOPS["gelu"] an element
    gpu = accelsim.simulate(g, "a100", plots=False).to_dict()
    act = next(o for o in gpu["ops"] if o["name"] == ACT)
    assert act["flops"] == 8 * elems and act["mapping"]["mac_fraction"] == 1 / 8 and act["mapping"]["folded"]
    # the 7 steps before it (half, pow, coef, add, scale, tanh, one) are kernels counting no FLOPs of the model's
    steps = [o for o in gpu["ops"] if o["name"].startswith(ACT + ".")]
    assert len(steps) == 7 and all(o["flops"] == 0 and o["unit"] != "none" for o in steps)
    assert gpu["flops"] == g.flops  # the model's count, `accelsim info`'s (before: g.flops − 7 · 128 · 3072)
    # the e * d kernel's 1 an element of the 8, and the steps' own kernels 1 + 2 + 1 + 1 + 1 + 4 + 1 = 11 (probe p254
    # #3: this test had g.flops − 7 · elems, the steps' kernels computing none; test_eager_gelu_flops_p254.py)
    assert gpu["computed_flops"] == g.flops - 7 * elems + 11 * elems
    assert not [n for n in gpu["notes"] if n.startswith("causal attention")]  # no attention kernel skipped any
    # tpu-v4 runs the one GELU as built: its 8 an element counted and computed
    tpu = accelsim.simulate(g, "tpu-v4", plots=False).to_dict()
    assert next(o for o in tpu["ops"] if o["name"] == ACT)["flops"] == 8 * elems
    assert tpu["flops"] == tpu["computed_flops"] == g.flops
