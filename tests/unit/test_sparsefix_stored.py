"""N:M weights are stored as the pattern the array runs (probe p120 #10).

A100's sparse tensor cores take only the 2:4 layout (cuSPARSELt / PTX ``mma.sp``: half of K stored, a 2-bit index
per kept weight; NVIDIA Ampere whitepaper, "Fine-Grained Structured Sparsity"). A 1:4 or 2:8 model runs there as
2:4 (``SystolicArray.executed_k``), so it must be stored as 2:4 with explicit zeros: its bytes, time and energy are
2:4's. TPU v4's MXUs have no N:M support: a pruned model multiplies its zeros but keeps reading its own compressed
bytes (docs/architecture.md, "N:M structured sparsity").

The GEMM below: A (512 x 1024) · Wᵀ with W (512 out x 1024 in), bf16 (2 B), K = 1024.
  A        = 512 · 1024 · 2 B                     = 1,048,576 B
  C        = 512 · 512 · 2 B                      =   524,288 B
  W as 2:4 = 512 rows · 512 kept · 2 B            =   524,288 B
             + 512 · 512 indices · 2 bits / 8     =    65,536 B  → 589,824 B
  W as 1:4 = 512 rows · 256 kept · 2 B            =   262,144 B
             + 512 · 256 indices · 2 bits / 8     =    32,768 B  → 294,912 B
  W as 2:8 = 512 rows · 256 kept · 2 B            =   262,144 B
             + 512 · 256 indices · 3 bits / 8     =    49,152 B  → 311,296 B
"""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.mapping import stored_as_run

SMALL = {"model": "gemm", "m": 512, "n": 512, "k": 1024, "dtype": "bf16"}
A_BYTES = 512 * 1024 * 2
C_BYTES = 512 * 512 * 2
W_2_4 = 512 * 512 * 2 + 512 * 512 * 2 // 8
W_1_4 = 512 * 256 * 2 + 512 * 256 * 2 // 8
W_2_8 = 512 * 256 * 2 + 512 * 256 * 3 // 8


@pytest.mark.parametrize(("pattern", "kept"), [("1:4", 256), ("2:8", 256), ("1:2", 512)])
def test_a100_stores_a_pattern_it_runs_as_2_4_as_2_4(pattern, kept):
    """1:4, 2:8 and 1:2 all meet 2:4 and run as it: the same HBM bytes, weights held, seconds and joules (1:2 keeps
    as many weights as 2:4 but was stored with 1-bit indices: 557,056 B of weights before, 2:4's 2 bits now)."""
    ref = simulate({**SMALL, "sparsity": "2:4"}, "a100")
    r = simulate({**SMALL, "sparsity": pattern}, "a100")
    assert ref["bytes"]["hbm"] == A_BYTES + W_2_4 + C_BYTES == 2_162_688
    assert r["bytes"]["hbm"] == A_BYTES + W_2_4 + C_BYTES
    assert r["memory"]["hbm"]["weights"] == W_2_4 == 589_824
    assert r["seconds"] == ref["seconds"]
    assert r["energy"]["total_j"] == ref["energy"]["total_j"]
    assert r["macs"] == 512 * 512 * kept  # the model's useful work stays its own kept MACs
    assert r["ops"][0]["mapping"]["sparsity"]["pattern"] == pattern


@pytest.mark.parametrize(("pattern", "weights"), [("2:4", W_2_4), ("1:4", W_1_4), ("2:8", W_2_8)])
def test_tpu_v4_reads_the_models_own_compressed_bytes(pattern, weights):
    """No N:M support: the dense K is multiplied, the weights are read at the model's own compression."""
    r = simulate({**SMALL, "sparsity": pattern}, "tpu-v4")
    assert r["ops"][0]["mapping"]["sparsity"]["skips_zeros"] is False
    assert r["bytes"]["hbm"] == A_BYTES + weights + C_BYTES
    assert r["memory"]["hbm"]["weights"] == weights


def test_a_dtype_the_sparse_cores_do_not_take_keeps_its_own_bytes():
    """fp32 on an A100 runs on the CUDA cores (sparse_dtypes: fp16, bf16, int8, int4): the zeros are multiplied,
    so nothing forces the 2:4 layout; the 1:4 weights stay 1:4 (fp32: 4 B each, 2-bit indices)."""
    r = simulate({**SMALL, "dtype": "fp32", "sparsity": "1:4"}, "a100")
    assert r["ops"][0]["mapping"]["sparsity"]["skips_zeros"] is False
    assert r["memory"]["hbm"]["weights"] == 512 * 256 * 4 + 512 * 256 * 2 // 8


def test_stored_as_run_rewrites_only_the_bytes_and_is_idempotent():
    graph = build_workload("gemm", {"m": 512, "n": 512, "k": 1024, "dtype": "bf16", "sparsity": "1:4"})
    a100 = load_arch("a100")
    held = stored_as_run(graph, a100)
    op, before = held.ops[0], graph.ops[0]
    w = op.weights[0]
    assert (w.nnz, w.index_bits) == (512 * 512, 2)  # 512 rows x 2:4's 512 kept of K 1024
    assert w.nbytes("bf16") == W_2_4
    assert op.macs == before.macs == 512 * 512 * 256  # 1:4's kept MACs
    assert op.attrs["sparsity"] == "1:4"
    assert stored_as_run(held, a100) is held  # already 2:4: nothing to change
    assert stored_as_run(graph, load_arch("tpu-v4")) is graph  # no N:M support: the model's own bytes


def test_idle_experts_are_held_as_2_4_too():
    """A decode step's idle experts (``unused_params``) hold the same weights the routed ones read: on an A100 a 1:4
    model's prefill and decode both hold the 2:4 layout, so their weight bytes equal the 2:4 model's."""
    from accelsim.config import build_graph, load_workload

    a100 = load_arch("a100")

    def held(pattern, *more):
        spec = load_workload("qwen1_5_moe_a2_7b", ["layers=1", f"sparsity={pattern}", "dtype=bf16", *more])
        return stored_as_run(build_graph(spec), a100)

    decode = held("1:4", "phase=decode", "kv_len=512")
    assert any(op.fn == "unused_params" for op in decode.ops)
    assert decode.weight_bytes == held("1:4", "seq_len=512").weight_bytes == held("2:4", "seq_len=512").weight_bytes
