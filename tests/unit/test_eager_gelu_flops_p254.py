"""Probe p254 #3: on a GPU preset transformers' gelu_new runs as the 8 kernels eager PyTorch launches
(builders/transformer.py ``_eager_gelu_new``): half = 0.5·x, pow = x³, coef = 0.044715·p, add = x + a,
scale = √(2/π)·b, tanh, one = 1 + t, and the last e · d. The model counts the GELU once, ACT_FLOPS["gelu"] = 8 an
element on the last row (`accelsim info`'s, probe p249 #1), but the 7 steps' kernels computed 0 FLOPs, so
``computed_flops`` and ``tops_per_w`` counted 1 an element of the 12 the kernels execute (pow 2 = x·x·x, tanh
ACT_FLOPS["tanh"] = 4, the rest 1 each: 1 + 2 + 1 + 1 + 1 + 4 + 1 + 1 = 12), and tops_per_w came out below
useful_tops_per_w on a dense run. Each step's row now keeps the model's 0 FLOPs and its mapping's ``eager_flops``
counts what its kernel computes. Every count below is a hand calculation."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders.build import build_graph
from accelsim.energy import executed_flops

S, F = 128, 4 * 768  # seq_len, gpt2's MLP width (n_inner = 4 × n_embd)
ACT = "transformer.h.0.mlp.act"
# each step's FLOPs an element (the builder's docstring table; the training path counts the same)
KERNEL = {"half": 1, "pow": 2, "coef": 1, "add": 1, "scale": 1, "tanh": 4, "one": 1}


def _gpt2(mode: str = "inference") -> accelsim.Graph:
    return build_graph(accelsim.load_workload({"model": "gpt2", "batch": 1, "seq_len": S, "layers": 1,
                                              "dtype": "bf16", "logits": "last", "mode": mode}))


@pytest.fixture(scope="module")
def gpu() -> tuple[accelsim.Graph, dict]:
    g = _gpt2()
    return g, accelsim.simulate(g, "h100", plots=False).to_dict()


def test_each_eager_kernel_computes_its_own_flops(gpu):
    g, r = gpu
    elems = S * F
    rows = {o["name"]: o for o in r["ops"]}
    for step, per in KERNEL.items():
        row = rows[f"{ACT}.{step}"]
        assert row["flops"] == 0 == g[f"{ACT}.{step}"].flops  # the model counts the GELU on the last row
        assert row["mapping"]["eager_flops"] == per * elems
        assert executed_flops(row) == per * elems
    last = rows[ACT]
    assert last["flops"] == 8 * elems and executed_flops(last) == elems  # e · d: 1 an element
    chain = sum(executed_flops(rows[f"{ACT}.{s}"]) for s in KERNEL) + executed_flops(last)
    assert chain == 12 * elems


def test_a_dense_gpu_run_executes_the_chains_12_and_counts_infos_8(gpu):
    g, r = gpu
    elems = S * F
    assert r["flops"] == g.flops  # the model's count, `accelsim info`'s
    # before: g.flops − 7 · elems (the e · d kernel's 1 of the 8); now the chain's 12 of the 8: + 4 an element
    assert r["computed_flops"] == g.flops + 4 * elems
    eff, total = r["efficiency"], r["energy"]["total_j"]
    assert eff["tops_per_w"] == pytest.approx(r["computed_flops"] / total / 1e12, rel=1e-12)
    assert eff["useful_tops_per_w"] == pytest.approx(r["flops"] / total / 1e12, rel=1e-12)
    assert eff["tops_per_w"] > eff["useful_tops_per_w"]  # a dense run executes at least the model's count
    assert not [n for n in r["notes"] if n.startswith("causal attention")]  # no attention kernel skipped any


def test_off_a_gpu_the_steps_compute_nothing_and_training_counts_each():
    g = _gpt2()
    tpu = accelsim.simulate(g, "tpu-v4", plots=False).to_dict()  # a compiler's one GELU: 8 counted and computed
    assert tpu["flops"] == tpu["computed_flops"] == g.flops
    assert all(not (o.get("mapping") or {}).get("eager_flops") for o in tpu["ops"])
    t = _gpt2("training")  # training differentiates the chain, each step counting its own FLOPs in the model
    elems = S * F
    for step, per in KERNEL.items():
        op = t[f"{ACT}.{step}"]
        assert op.flops == per * elems and "eager_flops" not in op.attrs
