"""Probe p95 #1 and #3: a K split (partial sums added) only for a GEMM of one array fold of M (all its count GEMMs)
and of N, on the arrays of one core, its adds one array's after another on the core's one vector unit; and over
several cores the cut along the other of M and N pays the copies of the larger operand. Every figure is worked by
hand from the fold model (accelsim.cost.folds: ws with preload overlap on an R×C array, R + (F − 1)·max(T, R) + T +
R + C − 3 cycles for F folds streaming T rows, the last fold waiting for no next preload) and the tensors' shapes."""

from __future__ import annotations

import accelsim


def _ops(workload: dict | str, arch: str) -> dict[str, dict]:
    r = accelsim.simulate(workload, arch).to_dict()
    return {o["name"]: o for o in r["ops"]}


def test_partial_sums_are_added_one_array_after_another():
    # gemm [128, 128, 8192] on tpu-v5p (2 cores of four 128×128 arrays, a 4,096-lane vector unit a core: 8 x 128 x 4
    # ALUs, probe p267 #1; 1,024 lanes and 16 cycles an add before): one fold
    # of M and of N, so cut along K over one core's 4 arrays, each [128, 128, 2048]: 16 folds of 128 rows,
    # 128 + 16·128 + 128 + 128 − 3 = 2,429 cycles. The core's vector unit then adds the other 3 arrays'
    # 128 × 128 fp32 partial sums one after another, ⌈16,384 / 4,096⌉ = 4 cycles each: 12 more (it was 4,
    # each array's add counted as if it had a vector unit of its own)
    op = _ops({"model": "gemm", "m": 128, "n": 128, "k": 8192}, "tpu-v5p")["gemm"]
    assert (op["mapping"]["split"], op["mapping"]["units"]) == ("k", 4)
    assert op["unit"].startswith("core0.") or op["unit"].startswith("core1.")  # one core's arrays
    assert op["compute_cycles"] == 128 + 16 * 128 + 253 + 3 * 4 == 2_441
    # the operands once (A 128 × 8192, B 8192 × 128, C 128 × 128, bf16): no partial sums through HBM
    assert op["bytes"]["hbm"] == 128 * 8192 * 2 + 8192 * 128 * 2 + 128 * 128 * 2 == 4_227_072
    # 4 arrays' 128 × 128 fp32 partials, written and read at the scratchpad
    assert op["mapping"]["partial_sum_bytes"] == 2 * 4 * 128 * 128 * 4 == 524_288


def test_two_folds_of_m_leave_the_other_arrays_to_the_branches():
    # googlenet's inception4c.branch4.1.conv, a 1×1 conv on 14 × 14: GEMM [196, 64, 512]. 196 rows are 2 folds of
    # tpu-v4's 128-row arrays, so it is no GEMV: not cut along K (before: a core's 4 arrays each, the inception
    # branches one after another, 72,716 -> 77,869 cycles for the run)
    ops = _ops("googlenet", "tpu-v4")
    op = ops["inception4c.branch4.1.conv"]
    assert op["mapping"]["gemm"][:3] == [196, 64, 512]
    assert op["mapping"]["split"] != "k"


def test_bert_output_dense_is_no_gemv():
    # bert_base encoder output.dense [128, 768, 3072] on tpu-v5p: N = 768 is 6 folds of 128 columns, so no K
    # split (before: over both cores' 8 arrays, its partial sums and its neighbours' outputs through HBM,
    # +20 % HBM bytes for the run); no op of the run is cut along K
    ops = _ops("bert_base", "tpu-v5p")
    op = ops["encoder.layer.0.output.dense"]
    assert op["mapping"]["gemm"][:3] == [128, 768, 3072]
    assert op["mapping"]["split"] == "n"
    assert not any((o.get("mapping") or {}).get("split") == "k" for o in ops.values())


def test_a_cut_over_cores_pays_the_copies_of_the_larger_operand():
    # gpt2's lm_head [1024, 50257, 768] on multicore-4 (4 cores of one 64×64 array, 409.6 GB/s of HBM). Cut along
    # N each core reads all of A (1024 × 768 bf16, 1,572,864 B) and its columns of B; cut along M each would read
    # all of B (768 × 50257 bf16, 77,194,752 B): 3 × (77,194,752 − 1,572,864) = 226,865,664 B more, over half a
    # million cycles at 409.6 GB/s, against a compute difference of under one 64-row fold per K fold. So along N,
    # the weight read once
    op = _ops("gpt2", "multicore-4")["lm_head"]
    assert (op["mapping"]["split"], op["mapping"]["units"]) == ("n", 4)
    assert op["bytes"]["hbm"] == 768 * 50257 * 2 + 4 * 1024 * 768 * 2 + 1024 * 50257 * 2 == 186_412_544


def test_a_k_split_charges_its_partial_sums_adds_as_vector_work():
    # probe p95 #3: a GEMV 1 × 128 × 8192 on tpu-v5p cut along K over a core's 4 arrays adds 3 units' 1 × 128
    # partial sums to the first's: (4 - 1) × 1 × 128 = 384 adds, executed FLOPs beyond the model's 2 × 128 × 8192
    import accelsim

    r = accelsim.simulate({"model": "gemm", "m": 1, "n": 128, "k": 8192}, "tpu-v5p").to_dict()
    (op,) = r["ops"]
    assert op["mapping"]["split"] == "k" and op["mapping"]["k_split"] == 4
    assert op["mapping"]["reduce_flops"] == 3 * 1 * 128 == 384
    assert r["flops"] == 2 * 128 * 8192 and r["computed_flops"] == r["flops"] + 384
    assert r["energy"]["by_unit"]["vector"] > 0  # the adds' energy, on the vector unit
