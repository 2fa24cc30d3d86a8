"""Probe p106's collective findings: a ring all-reduce across M nodes crosses the network 2M times (NCCL's tuner
since its NVLS-era model), a collective that leaves the node reports its busy cycles, a W8A8 model reduces its
GEMMs' 16-bit outputs (not fp8), and a collective that loses NVLS to its dtype says so."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.config import load_arch
from accelsim.cost import collective

MIB = 2**20


# ---- #2: the ring's crossings between nodes -------------------------------------------------------------------

def test_a_ring_all_reduce_crosses_the_network_twice_per_node():
    # NVIDIA/nccl src/graph/tuning.cc ncclTopoTuneModel (the NVLS-era model, 2.17 on): nInterSteps = 2*nNodes for an
    # all-reduce (nNodes > 1), nNodes-1 for an all-gather or reduce-scatter; 0 on one node
    assert collective.inter_node_steps("all_reduce", 2, 16) == 4
    assert collective.inter_node_steps("all_reduce", 3, 24) == 6
    assert collective.inter_node_steps("all_reduce", 8, 64) == 16
    assert collective.inter_node_steps("all_gather", 2, 16) == 1
    assert collective.inter_node_steps("reduce_scatter", 8, 64) == 7
    assert collective.inter_node_steps("all_reduce", 1, 8) == 0
    # one chip a node (a data-parallel pair of TP-8 ranks): 2 steps, both crossings; not tuning.cc's 4, which
    # would book -2 hops inside nodes that hold one chip
    assert collective.inter_node_steps("all_reduce", 2, 2) == 2
    assert collective.inter_node_steps("all_reduce", 4, 4) == 6


def test_a_small_all_reduce_over_two_dgx_h100_nodes_pays_four_crossings():
    # 1 KiB over 16 H100s, 8 a node (dgx-h100.yaml: 20 us a crossing, NVLink 8.92 us, NCCL channels 12 x 30 =
    # 360 GB/s, below the 8 NICs' 8 x 50 x 0.94 = 376). By hand, tuning.cc's ring, LL: nsteps 2 x 15 = 30,
    # nInterSteps 2 x 2 = 4: 6.6 + (30 - 4) x 0.6 x 1.8 + 4 x 20 = 114.68 us, + 8.92 us the node's link once;
    # bw min(360 x 1/2, 39 (llMaxBws, 2 nodes)) = 39 GB/s; wire 2 x 15/16 x 1024 = 1,920 B + fill min(1024 / 16,
    # channels x 32 KiB) = 64 B: 123.60 + 0.05 = 123.65 us (it was 85.8 us with 2(M - 1) = 2 crossings)
    arch = load_arch("dgx-h100", ["chips=16"])
    ic = arch.interconnect
    ring = collective.ring_across_nodes(ic, "all_reduce", 1024, 16, 8, 2)
    assert ring.protocol == "LL"
    assert ring.seconds == pytest.approx((114.68 + 8.92) * 1e-6 + (1920 + 64) / 39e9, rel=1e-9)
    # the formula branch (no tuner) counts the same crossings: the link's latency once + 26 NVLink steps + 4
    # crossings + the bytes at the node's 360 GB/s
    formula = ic.model_copy(update={"collective": "formula"})
    f = collective.ring_across_nodes(formula, "all_reduce", 1024, 16, 8, 2)
    assert f.seconds == pytest.approx(8.92e-6 + 26 * 8.92e-6 + 4 * 20e-6 + 1920 / 360e9, rel=1e-9)


def test_a_64_mib_all_reduce_over_three_nodes_now_runs_nccls_tree():
    # 24 H100s, 3 nodes: ring LL128 by hand 14 + (46 - 6) x 1.9 + 6 x 20 + 8.92 = 218.92 us + (2 x 23/24 x 64 MiB
    # + fill min(64 MiB / 24, 24 x 576,000)) / (360 x 120/128 = 337.5 GB/s) = 218.92 + 389.40 = 608.3 us; the tree
    # (unchanged, 591.8 us) is faster now (the ring was 572.1 us with 2(M - 1) = 4 crossings, and won)
    arch = load_arch("dgx-h100", ["chips=24"])
    ic, size = arch.interconnect, 64 * MIB
    ring = collective.ring_across_nodes(ic, "all_reduce", size, 24, 8, 3)
    assert ring.protocol == "LL128"
    assert ring.seconds == pytest.approx(218.92e-6 + (2 * 23 / 24 * size + size / 24) / 337.5e9, rel=1e-9)
    tree = collective.tree_across_nodes(ic, size, 8, 3)
    assert tree.seconds < ring.seconds
    # of the two, the tree: what NCCL runs for elements NVLS cannot reduce (int8); bf16 runs NVLS_TREE, faster
    # still (probe p183 #1; test_collective_nvls_tree.py: 25 + 2 x 2 x 20 + 8.92 us + 2 x 64 MiB / 8 / 47 GB/s =
    # 470.9 us), which this test, from before NCCL's NVLS_TREE was modelled, asserted was the tree
    assert collective.call(arch, "all_reduce", size, 24, dtype="int8").algorithm == "tree"
    assert collective.call(arch, "all_reduce", size, 24).algorithm == "nvls_tree"


# ---- #3: a collective across nodes reports its busy cycles ---------------------------------------------------

def test_a_collective_across_nodes_reports_the_nic_tasks_cycles_as_busy():
    # 64 MiB all-reduce over 16 H100s (2 nodes): the NIC task runs the priced call; the NVLink hops inside the nodes
    # run beside it on the link, (7/8 of 2 x 15/16 x 64 MiB) / (450 GB/s x 0.82) = 298 us, shorter than the call;
    # the op's busy cycles are the call's, as on one node (they were the 0-cycle JOIN's: 0)
    wl = {"model": "collective", "op": "all_reduce", "bytes": 64 * MIB}
    r = api.simulate(wl, {"base": "dgx-h100", "chips": 16}, plots=False).to_dict()
    op = next(o for o in r["ops"] if o["kind"] == "collective")
    assert op["unit"] == "nic"
    call = op["mapping"]["all_reduce_s"] * r["clock_hz"]
    assert op["compute_cycles"] == pytest.approx(call, abs=1)
    assert op["compute_cycles"] == op["end_cycle"] - op["start_cycle"]  # nccl-tests' loop: no launch before it
    hop = 7 / 8 * 2 * 15 / 16 * 64 * MIB / (450e9 * 0.82)
    assert hop * r["clock_hz"] < op["compute_cycles"]
    # a tensor-parallel-16 model's all-reduces and logits gather across the two nodes: busy as the NIC task
    r = api.simulate({"base": "llama3_8b", "layers": 1, "tensor_parallel": 16}, {"base": "dgx-h100", "chips": 16},
                     plots=False).to_dict()
    tp = [o for o in r["ops"] if o["kind"] == "collective"]
    assert tp and all(o["unit"] == "nic" for o in tp)
    for o in tp:
        seconds = o["mapping"][f"{o['fn']}_s"]
        assert o["compute_cycles"] == pytest.approx(seconds * r["clock_hz"], abs=1)


# ---- #1: a W8A8 model reduces its GEMMs' 16-bit outputs ------------------------------------------------------

def _collectives(workload: dict, arch: str = "dgx-h100") -> dict[str, dict]:
    r = api.simulate(workload, {"base": arch}, plots=False).to_dict()
    return {o["name"].rsplit(".", 1)[-1]: o for o in r["ops"] if o["kind"] == "collective"}


@pytest.mark.parametrize("dtypes", [{"weight_dtype": "fp8", "activation_dtype": "fp8"}, {"dtype": "fp8"}])
def test_a_w8a8_model_all_reduces_and_gathers_its_gemms_bf16_output(dtypes):
    # vLLM's Fp8LinearMethod returns the scaled-mm output in the input's dtype (bf16) and RowParallelLinear
    # all-reduces that; NCCL has no fp8 type. LLaMA-3-8B, 512 tokens, TP 8 on a DGX H100: each row-split linear's
    # all-reduce is 512 x 4,096 x 2 B = 4 MiB of bf16 (not 2 MiB of fp8), so NVLS runs it; the logits gathered are
    # 512 x 128,256 x 2 B = 131,334,144 B
    ops = _collectives({"base": "llama3_8b", "layers": 1, "seq_len": 512, "tensor_parallel": 8, **dtypes})
    for leaf in ("embed_tokens_all_reduce", "o_proj_all_reduce", "down_proj_all_reduce"):
        assert ops[leaf]["mapping"]["message_bytes"] == 512 * 4096 * 2
        assert ops[leaf]["mapping"]["algorithm"] == "nvls"
    assert ops["lm_head_all_gather"]["mapping"]["message_bytes"] == 512 * 128256 * 2


def test_a_16_bit_activation_dtype_is_what_the_collectives_move():
    # fp16 activations over bf16 weights: the GEMMs write fp16, the all-reduce moves it (2 B an element either way)
    ops = _collectives({"base": "llama3_8b", "layers": 1, "seq_len": 512, "tensor_parallel": 8,
                        "activation_dtype": "fp16"})
    assert ops["o_proj_all_reduce"]["mapping"]["message_bytes"] == 512 * 4096 * 2


def test_the_precision_rule_keeps_an_all_to_all_and_a_context_parallel_group_in_the_activation_dtype():
    from accelsim.builders.precision import gemm_output_dtype, moves_gemm_output

    assert moves_gemm_output("all_reduce", {"group": 8}) and moves_gemm_output("all_gather", {"group": 8})
    assert not moves_gemm_output("all_to_all", {"group": 8})  # a MoE's dispatch (DeepEP sends fp8)
    assert not moves_gemm_output("all_gather", {"group": 2, "extent": 16})  # context parallel K/V
    assert not moves_gemm_output("all_reduce", {"group": 8, "keep_dtype": True})  # fp32 variances
    assert [gemm_output_dtype(d) for d in ("fp8", "int8", "fp4", "int4", "fp16", "bf16", "fp32")] == [
        "bf16", "bf16", "bf16", "bf16", "fp16", "bf16", "fp32"]


def test_an_int8_collective_workload_keeps_its_dtype_and_runs_ring():
    # the collective micro-workload's dtype is the user's: 64 MiB of int8 over 8 H100s, which NVLS cannot reduce
    # (NCCL's ncclNvlsSupported), so NCCL's ring runs it; bf16 runs NVLS
    wl = {"model": "collective", "op": "all_reduce", "bytes": 64 * MIB}
    int8 = _collectives({**wl, "dtype": "int8"})["all_reduce"]["mapping"]
    bf16 = _collectives({**wl, "dtype": "bf16"})["all_reduce"]["mapping"]
    assert (int8["algorithm"], int8["message_bytes"]) == ("ring", 64 * MIB)
    assert (bf16["algorithm"], bf16["message_bytes"]) == ("nvls", 64 * MIB)


# ---- #5: a collective that loses NVLS to its dtype says so ---------------------------------------------------

def test_an_int8_all_reduce_that_loses_nvls_says_so_in_a_note():
    # 64 MiB over 8 H100s: NVLS reduces no int8 (NCCL's ncclNvlsSupported), so the ring runs it; a bf16 call of the
    # same bytes runs NVLS: (1 + 1/8) x 64 MiB / (360 GB/s x 0.85) + 25 us = 246.7 + 25 + the link's 8.92 us
    wl = {"model": "collective", "op": "all_reduce", "bytes": 64 * MIB}
    r = api.simulate({**wl, "dtype": "int8"}, {"base": "dgx-h100"}, plots=False).to_dict()
    notes = [n for n in r["notes"] if "NVLink SHARP" in n]
    nvls_us = ((1 + 1 / 8) * 64 * MIB / (360e9 * 0.85) + 25e-6 + 8.92e-6) * 1e6
    assert len(notes) == 1 and notes[0].startswith("1 all_reduce of int8 ran ring/")
    assert f"NVLS in {nvls_us:,.1f} µs" in notes[0]
    # a bf16 run (NVLS), a small int8 one (ring LL would win anyway) and a ring-only arch (dgx-a100) say nothing
    for workload, arch in (({**wl, "dtype": "bf16"}, "dgx-h100"), ({**wl, "dtype": "int8", "bytes": 4096}, "dgx-h100"),
                           ({**wl, "dtype": "int8"}, "dgx-a100")):
        r = api.simulate(workload, {"base": arch}, plots=False).to_dict()
        assert not [n for n in r["notes"] if "NVLink SHARP" in n]


def test_a_formula_interconnect_across_nodes_runs_its_own_ring_not_nccls_tree():
    # probe p107 #1: NCCL's tree (NVLink hops of 0.6 us, an LL protocol) priced a formula interconnect's cross-node
    # all-reduce; `collective: formula` is the interconnect's own ring (docs/architecture.md), no protocol
    formula = collective.call(load_arch("dgx-a100", ["chips=16", "interconnect.collective=formula"]), "all_reduce",
                              1024, 16)
    assert (formula.algorithm, formula.protocol) == ("ring", "")
    nccl = collective.call(load_arch("dgx-a100", ["chips=16"]), "all_reduce", 1024, 16)
    assert nccl.algorithm == "tree"  # NCCL's pick for a 1 KiB all-reduce over two nodes (latency-bound)
