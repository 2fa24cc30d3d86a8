"""Probe p112 (recommenders and GNNs): the DLRM training refusal against every memory (#2), the size keys a
capacity error is at (#3), a row block's look-up backward (#5), GAT's att_dot gradients' MACs (#6) and one error
for a bad table size (#7).

Every expected number is a hand calculation written out here: the tpu-v4 preset's memories (arch/tpu-v4.yaml:
hbm 32 GiB = 34,359,738,368 B, host 96 GiB = 103,079,215,104 B), DLRM's 24,036,595,969 parameters (builders/recsys.py,
MLPerf DLRM v1's 40M-capped Criteo tables), Cora's 2,708 nodes (PyG's Planetoid docs) and PyG's GATConv.
"""

from __future__ import annotations

import math
import re

import pytest

from accelsim.builders import build_workload

DLRM_PARAMS = 24_036_595_969
HBM, HOST = 32 * 2**30, 96 * 2**30  # tpu-v4: 34,359,738,368 and 103,079,215,104 B


@pytest.fixture
def err(tmp_path, capsys, monkeypatch):
    from accelsim.cli import main

    monkeypatch.chdir(tmp_path)

    def run(argv: list[str]) -> str:
        assert main(["run", *argv, "-q", "--no-plots", "-o", "o"]) == 2
        (line,) = capsys.readouterr().err.splitlines()  # one line
        return line
    return run


def _num(text: str) -> int:
    return int(text.replace(",", ""))


def test_dlrm_training_that_fits_no_memory_is_refused_against_hbm_and_host_with_embedding_parallel(err):
    # probe p112 #2: "training state is not spilled to host memory" and hbm alone, where the tables a lazy step
    # updates by rows ARE placed by rows into host memory; the real shortfall is against hbm + host
    assert HBM + HOST == 137_438_953_472
    line = err(["-w", "dlrm_mlperf", "-a", "tpu-v4", "--mode", "training"])
    assert re.match(r"accelsim: error: \S+/tpu-v4\.yaml:\d+: hbm\.capacity: dlrm_mlperf_tpu-v4: a chip needs ", line)
    assert "not spilled to host memory" not in line and "(got" not in line
    m = re.search(r"needs ([\d,]+) B \(weights ([\d,]+), gradients ([\d,]+), optimizer states ([\d,]+), "
                  r"activations ([\d,]+)\) but hbm \(34,359,738,368 B\) and host \(103,079,215,104 B\) hold "
                  r"137,438,953,472 B, ([\d,]+) B short", line)
    assert m, line
    need, weights, grads, states, acts, short = (_num(x) for x in m.groups())
    assert weights == 2 * DLRM_PARAMS == 48_073_191_938  # bf16 (tpu-v4's dtype)
    assert states == 12 * DLRM_PARAMS == 288_439_151_628  # Adam's m and v and the fp32 master copy, 4 B each
    assert need == weights + grads + states + acts
    assert short == need - (HBM + HOST)
    # what is spilled, and the remedy: at least ⌈need / (hbm + host)⌉ chips' memories (≈ 336.6 / 137.4 GB → 3)
    assert "placed by rows (the rows hbm has no room for and their states in host)" in line
    assert math.ceil(need / (HBM + HOST)) == 3
    assert "workload.embedding_parallel (now 1; at least 3 chips' hbm and host" in line
    assert "over more chips than arch.chips=1" in line  # tpu-v4 is one chip


def test_under_offload_the_host_is_named_with_the_states_and_the_spilled_rows(err):
    # probe p112 #2: with options.offload=optimizer the refusal said "optimizer states alone need" a figure holding
    # none of them; the level that overflows is host: every state plus the rows hbm has no room for
    line = err(["-w", "dlrm_mlperf", "-a", "tpu-v4", "--mode", "training", "--set", "options.offload=optimizer"])
    assert re.match(r"accelsim: error: \S+/tpu-v4\.yaml:\d+: host\.capacity: ", line), line
    m = re.search(r"every optimizer state \(([\d,]+) B\) and the table rows hbm has no room for \(([\d,]+) B of "
                  r"weights beyond its 34,359,738,368 B with the gradients and activations\), ([\d,]+) B, but host "
                  r"\(103,079,215,104 B\) holds 103,079,215,104 B, ([\d,]+) B short", line)
    assert m, line
    states, beyond, host_need, short = (_num(x) for x in m.groups())
    assert states == 12 * DLRM_PARAMS
    assert host_need == states + beyond and short == host_need - HOST
    assert "workload.embedding_parallel" in line


def test_the_remedy_runs_sharded_over_the_chips(tmp_path, monkeypatch):
    # the same training on tpu-v5e-8 with the tables sharded over its 8 chips fits (each chip's tables, spilled)
    from accelsim.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["run", "-w", "dlrm_mlperf", "-a", "tpu-v5e-8", "--mode", "training", "--set",
                 "workload.embedding_parallel=8", "-q", "--no-plots", "-o", "o"]) == 0


@pytest.mark.parametrize("model, key, value", [
    ("dlrm_mlperf", "pooling", 10**9),  # ids alone: 2,048 × 10⁹ × 8 B = 16.4 TB
    ("embedding_bag", "pooling", 10**9),
    ("gcn_cora", "nodes", 500_000_000),
    ("gcn_cora", "features", 100_000_000),  # X: 2,708 × 10⁸ × 2 B = 541.6 GB; the weights 3.2 GB fit
])
def test_a_size_key_that_overflows_the_activations_is_blamed(err, model, key, value):
    # probe p112 #3: blamed on the preset's hbm.capacity "(got '32GiB')", not the key the user set
    line = err(["-w", model, "-a", "tpu-v4", "--set", f"workload.{key}={value}"])
    assert line.startswith(f"accelsim: error: --set: workload.{key}: {model}: ") and line.endswith(f"(got {value})")


def test_a_row_blocks_backward_scatters_its_hits_not_the_batch():
    # probe p112 #5: tables [100, 90, ...] over 4 chips row-wise, batch 8, dim 16. Chip 0's block of table 0 is
    # ⌈100 / 4⌉ = 25 rows, ⌈8 · 25 / 100⌉ = 2 look-ups; of table 1 ⌈90 / 4⌉ = 23 rows, ⌈8 · 23 / 90⌉ = ⌈2.04⌉ = 3.
    # The scatter-add adds those rows: 2 · 16 = 32 and 3 · 16 = 48 elements, not the (8, 16) partial sums' 128
    g = build_workload("dlrm_mlperf", {"tables": [100, 90, 50, 40, 10], "dim": 16, "batch": 8, "dtype": "bf16",
                                       "embedding_parallel": 4, "embedding_sharding": "row", "mode": "training"})
    for t, hits in ((0, 2), (1, 3)):
        fwd, bwd = g[f"emb.{t}"], g[f"emb.{t}.grad_weight"]
        assert fwd.attrs["gather_rows"] == hits and fwd.out_shape == (8, 16)
        assert bwd.flops == bwd.vector_elems == hits * 16
    # an unsharded look-up keeps batch · pooling · dim = 8 · 1 · 16
    g = build_workload("dlrm_mlperf", {"tables": [100, 90], "dim": 16, "batch": 8, "mode": "training"})
    assert g["emb.0.grad_weight"].flops == g["emb.0.grad_weight"].vector_elems == 128


def test_gat_att_dot_gradients_carry_the_forwards_macs():
    # probe p112 #6: α = Σ_o x·att is a GEMV of n·heads·out MACs; its input gradient dα·attᵀ and its weight
    # gradient Σ_nodes dα·x are each as many (the matmul rule: each gradient the forward's MACs, flops 2·MACs).
    # conv1: 2,708 · 8 heads · 8 = 173,312; conv2: 2,708 · 1 · 7 = 18,956
    g = build_workload("gat_cora", {"mode": "training"})
    for conv, macs in (("conv1", 2708 * 8 * 8), ("conv2", 2708 * 1 * 7)):
        for side in ("src", "dst"):
            base = f"{conv}.alpha_{side}"
            assert g[base].macs == macs
            for grad in ("grad_input", "grad_weight"):
                op = g[f"{base}.{grad}"]
                assert op.macs == macs and op.flops == 2 * macs, (op.name, op.macs, op.flops)
    total = sum(op.macs for op in g if op.attrs.get("fn") == "att_dot_grad")
    assert total == 2 * 2 * (173_312 + 18_956) == 769_072  # two sides, two gradients each


@pytest.mark.parametrize("tables, says", [
    ("[1.5]", "workload.tables.0: Input should be a valid integer, got a number with a fractional part"),
    ("[]", "workload.tables: needs at least one table's row count"),
])
def test_a_bad_table_size_gives_one_error(err, tables, says):
    # probe p112 #7: [1.5] also read as an empty list, a second error line
    line = err(["-w", "dlrm_mlperf", "-a", "tpu-v4", "--set", f"workload.tables={tables}"])
    assert line.startswith(f"accelsim: error: --set: {says}"), line
