"""Probe p92 #1 (a GEMM split over a TPU core's arrays is cut where the array folds are, and a GEMV along K) and
probe p88 #2 (a matmul whose two operands are one tensor reads it once a pass). Every figure is worked by hand
from the fold model (accelsim.cost.folds: ws with preload overlap on an R×C array, R + (F − 1)·max(T, R) + T + R +
C − 3 cycles for F folds streaming T rows: the last fold waits for no next preload, probe p169 #1) and from the
tensors' shapes."""

from __future__ import annotations

import accelsim
from accelsim.config import build_graph, load_arch, load_workload
from accelsim.mapping.aliases import aliases
from accelsim.mapping.fusion import fuse
from accelsim.mapping.traffic import same_operands
from accelsim.options import Options


def _ops(workload: dict, arch: str) -> dict[str, dict]:
    r = accelsim.simulate(workload, arch).to_dict()
    return {o["name"]: o for o in r["ops"]}


def _ws(m: int, folds: int) -> int:
    """Cycles of ``folds`` 128×128 ws folds (preload overlap) streaming m rows each:
    128 + (F − 1)·max(m, 128) + m + 254 − 1."""
    return 128 + (folds - 1) * max(m, 128) + m + 128 + 128 - 2 - 1


def test_narrow_n_is_cut_along_m_on_tpu_v5e():
    # llama3_8b prefill, TP8, 2048 tokens: k_proj [2048, 128, 4096] (8 KV heads / 8 chips × 128) on tpu-v5e's four
    # 128×128 arrays. N = 128 is one fold: cut along N every array ran the whole [2048, 32, 4096] (32 K folds of
    # 2048 rows: 65,917 cycles). Cut along M each array runs [512, 128, 4096]: 32 folds of 512 rows.
    ops = _ops({"base": "llama3_8b", "phase": "prefill", "seq_len": 2048, "tensor_parallel": 8,
                "attention": "fused", "layers": 1}, "tpu-v5e-8")
    k = ops["model.layers.0.self_attn.k_proj"]
    assert (k["mapping"]["split"], k["mapping"]["units"]) == ("m", 4)
    assert k["compute_cycles"] == _ws(512, 32) == 128 + 31 * 512 + 512 + 253 == 16_765
    # q_proj [2048, 512, 4096]: 4 folds of N on 4 arrays, one each, as balanced as an M cut (4 × 32 folds of 512
    # rows = 32 folds of 2048): the cut that replicates the smaller operand stays
    q = ops["model.layers.0.self_attn.q_proj"]
    assert q["mapping"]["split"] == "n" and q["compute_cycles"] == _ws(2048, 32) == 65_917


def test_two_folds_of_n_are_cut_along_m_on_tpu_v6e():
    # tpu-v6e: four 256×256 arrays. q_proj [2048, 512, 4096] is 2 folds of N (two arrays idle when cut along N:
    # 16 K folds × 1 N fold × 2048 rows each, 33,533 cycles); cut along M each array streams 512 rows (more than
    # its 256 rows of preload) through 16 × 2 folds: 256 + 32·512 + 256 + 256 − 3
    ops = _ops({"base": "llama3_8b", "phase": "prefill", "seq_len": 2048, "tensor_parallel": 8,
                "attention": "fused", "layers": 1}, "tpu-v6e-8")
    q = ops["model.layers.0.self_attn.q_proj"]
    assert q["mapping"]["split"] == "m"
    assert q["compute_cycles"] == 256 + 16 * 2 * 512 + 256 + 256 - 3 == 17_149
    k = ops["model.layers.0.self_attn.k_proj"]  # [2048, 128, 4096]: 16 folds of 512 rows on each array
    assert k["compute_cycles"] == 256 + 16 * 512 + 256 + 256 - 3 == 8_957


def test_gemv_is_cut_along_k_with_its_partial_sums_added():
    # llama3_70b decode, TP8, on tpu-v5p-128: k_proj is a GEMV [1, 128, 8192] (one fold of N, one row of M).
    # Cut along K over one core's 4 arrays (probe p95 #3: never across cores, whose partial sums would pass through
    # HBM), each runs [1, 128, 2048]: 16 folds max(1, 128) cycles apart, the last streaming its 1 row,
    # 128 + 15·128 + 1 + 253 = 2,302 cycles, then the core's one vector unit adds the other 3 arrays' 1 × 128 fp32
    # partial sums one after another, each ⌈128 / 1024 lanes⌉ = 1 cycle: 3 more
    ops = _ops({"base": "llama3_70b", "phase": "decode", "tensor_parallel": 8, "layers": 1}, "tpu-v5p-128")
    k = ops["model.layers.0.self_attn.k_proj"]
    assert (k["mapping"]["split"], k["mapping"]["units"]) == ("k", 4)
    assert k["compute_cycles"] == _ws(1, 16) + 3 == 128 + 15 * 128 + 1 + 253 + 3 == 2_305
    # the weight 8192 × 128 × 2 B and the token 8192 × 2 B: no partial sums through HBM (one core), and the
    # 128 × 2 B output stays in that core's SRAM for its reader (it went to HBM with the cut over two cores)
    assert k["bytes"]["hbm"] == 8192 * 128 * 2 + 8192 * 2 == 2_113_536
    # at the scratchpad: 4 arrays' 1 × 128 fp32 partials, written and read by the adds
    assert k["mapping"]["partial_sum_bytes"] == 2 * 4 * 128 * 4 == 4096


def test_standalone_gemv_on_tpu_v5p_leaves_one_array():
    # the gemm workload m=1 n=128 k=8192 ran on one of tpu-v5p's 8 arrays (64 K folds: 128 + 63·128 + 1 + 253 =
    # 8,446 cycles); now cut along K over one core's arrays, each its slice of K, then units − 1 serial adds of 1 cycle
    op = _ops({"model": "gemm", "m": 1, "n": 128, "k": 8192}, "tpu-v5p")["gemm"]
    units = op["mapping"]["units"]
    assert op["mapping"]["split"] == "k" and units == 4  # tpu-v5p: 4 arrays a core
    assert op["compute_cycles"] == _ws(1, 64 // units) + (units - 1) == 2_305 < _ws(1, 64) == 8_446
    # one core's arrays: their partial sums stay in its SRAM, the HBM bytes are the operands' alone
    assert op["bytes"]["hbm"] == 8192 * 128 * 2 + 8192 * 2 + 128 * 2 == 2_113_792


def test_dlrm_interaction_reads_its_stack_once():
    # interact.bmm: Z = X·Xᵀ, Gemm(27, 27, 128, count=2048), inputs (stack, stack); each sample's X (27 × 128 bf16,
    # 6.9 KB) fits the SRAM, so it is read once: the stack 2048·27·128·2 B and the output 2048·27·27·2 B
    op = _ops({"model": "dlrm_mlperf", "batch": 2048}, "tpu-v4")["interact.bmm"]
    assert op["bytes"]["hbm"] == 2048 * 27 * 128 * 2 + 2048 * 27 * 27 * 2 == 17_141_760


def _plans(workload: dict, arch: str) -> dict:
    opts = Options()
    spec = load_workload(workload)
    a = load_arch(arch)
    graph = build_graph(spec, a.dtype)
    return {p.op.name: p for p in fuse(aliases(graph, opts), graph, a)}


def test_same_operands_only_for_one_whole_tensor():
    dlrm = _plans({"model": "dlrm_mlperf", "batch": 256}, "tpu-v4")["interact.bmm"]
    assert same_operands(dlrm) and set(same_operands(dlrm)) == set(dlrm.operands[0])
    # gpt2's scores read q and k as slices (shares) of one c_attn output: different data, read as before
    gpt2 = _plans({"model": "gpt2", "seq_len": 64}, "tpu-v4")
    scores = [p for name, p in gpt2.items() if p.op.kind.is_matmul and len(p.operands) > 1]
    assert scores and all(same_operands(p) == () for p in scores)
