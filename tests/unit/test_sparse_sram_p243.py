"""Probe p243 #1: the SRAM activation reads of an N:M-pruned GEMM on an array that skips the zeros (SCALE-Sim v3's
layer-wise ``SparsitySupport``, accelsim's ``structured_sparsity: [any]``).

SCALE-Sim v3 prunes the same weights of every filter, so ``operand_matrix.create_ifmap_matrix`` multiplies the
ifmap address matrix by the pattern and keeps only its non-zero columns: the ifmap operand matrix has kept(K)
columns. ``systolic_compute_os`` adds each fold's ``shape[0] * shape[1]`` of that matrix (kept(K) · R a row fold,
once per column fold) and ``systolic_compute_is`` reads it once; only ``systolic_compute_ws`` multiplies by M/N
("a row needs to be read M/N times"). accelsim had counted m · K (the dense K) for every dataflow.

kept(K) = N·⌊K/M⌋ + min(K mod M, N) (``Sparsity.kept``): K = 37 at 2:4 keeps 2·9 + min(1, 2) = 19.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelsim import api
from accelsim.cli import main
from accelsim.config import experiment_from_parts
from accelsim.cost import folds
from accelsim.cost.systolic import sram_operand_bytes
from accelsim.ir import Gemm

DATA = Path(__file__).resolve().parents[1] / "data" / "scalesim_reference"
M, N, K, KEPT = 20, 13, 37, 19  # the probe's gs_24 row: 2:4 on K = 37 keeps 19


def _bytes(dataflow: str, k_run: int | None) -> int:
    g = Gemm(M, N, K)
    f = folds.folds(M, N, k_run or K, 8, 8, dataflow, False)
    return sram_operand_bytes(g, f, dataflow, 1, k_run)


def test_os_reads_the_kept_ifmap_columns():
    # os on 8x8: M down the rows, F_r = ⌈20/8⌉ = 3; N across the columns, F_c = ⌈13/8⌉ = 2; T = kept(K) = 19.
    # ifmap (m · kept) streams once per column fold: 2 · 20 · 19 = 760 (was 2 · 20 · 37 = 1,480)
    # filter (kept · n) once per row fold: 3 · 19 · 13 = 741; ofmap held in the PEs, written once: 20 · 13 = 260
    assert _bytes("os", KEPT) == 2 * 20 * 19 + 3 * 19 * 13 + 20 * 13 == 1_761
    # the os array has F_r · F_c · R · T = 3 · 2 · 8 · 19 = 912 ifmap input slots; 1,480 reads could not all enter
    assert 2 * 20 * 19 <= 3 * 2 * 8 * 19


def test_is_reads_the_kept_ifmap_once():
    # is on 8x8: kept(K) down the rows, F_r = ⌈19/8⌉ = 3; M across the columns, F_c = ⌈20/8⌉ = 3; T = n = 13.
    # ifmap stationary, read once: 19 · 20 = 380 (was 37 · 20 = 740); filter (kept · n) once per column fold:
    # 3 · 19 · 13 = 741; ofmap once per K fold: written twice as a partial sum and once finished, read back twice,
    # 260 · (2 · 2 + 1) = 1,300 (every width 1 B)
    assert _bytes("is", KEPT) == 19 * 20 + 3 * 19 * 13 + 260 * 5 == 2_421
    # stationary: at most F_r · F_c · R · C = 3 · 3 · 64 = 576 ifmap values can be held; 740 could not
    assert 19 * 20 <= 3 * 3 * 64


def test_ws_keeps_reading_the_dense_activations():
    """ws holds each group's N kept weights in its rows, which share the group's M inputs: the dense activations,
    m · K a column fold. SCALE-Sim v3's systolic_compute_ws counts kept(K) · M/N a row of T, equal to K where M
    divides K; on K = 37 its partial last group (1 input, 1 kept weight) counts M/N = 2 reads of that one input,
    2 · 20 · 19 · 2 = 1,520 against the 2 · 20 · 37 = 1,480 there are: a deliberate difference (the docstring)."""
    # ws on 8x8: kept(K) down the rows, F_r = ⌈19/8⌉ = 3; N across the columns, F_c = 2; T = m = 20.
    # ifmap once per column fold: 2 · 20 · 37 = 1,480; filter stationary: 19 · 13 = 247; ofmap 260 · 5 = 1,300
    assert _bytes("ws", KEPT) == 2 * 20 * 37 + 19 * 13 + 260 * 5 == 3_027
    # where M divides K (K = 36: 2:4 keeps 18) SCALE-Sim's kept · M/N = 18 · 2 = 36 is the dense K
    g = Gemm(M, N, 36)
    f = folds.folds(M, N, 18, 8, 8, "ws", False)
    ifmap = sram_operand_bytes(g, f, "ws", 1, 18) - 18 * 13 - 260 * (2 * (f.rows - 1) + 1)
    assert ifmap == f.cols * 20 * (18 * 4 // 2) == 2 * 20 * 36


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_a_dense_gemm_does_not_move(dataflow):
    # k_run = K (an array that multiplies the zeros) counts as no k_run: os m · K per column fold, 2 · 20 · 37
    assert _bytes(dataflow, K) == _bytes(dataflow, None)
    if dataflow == "os":
        assert _bytes("os", None) == 2 * 20 * 37 + 3 * 37 * 13 + 20 * 13 == 3_183


@pytest.mark.parametrize(("dataflow", "expected"), [("os", 1_761), ("is", 2_421), ("ws", 3_027)])
def test_the_probes_scalesim_row(dataflow, expected, tmp_path, capsys):
    """The probe's gs_24 row through ``accelsim run --scalesim-config``: the values of the tests above, with the
    fold counts SCALE-Sim's (os [3, 2], is [3, 3], ws [3, 2]) and the executed K the kept 19."""
    topo = tmp_path / "gs.csv"
    topo.write_text("Layer, M, N, K, Sparsity,\ngs_24, 20, 13, 37, 2:4,\n")
    out = tmp_path / "out"
    assert main(["run", "--scalesim-config", str(DATA / f"sparse_{dataflow}_8x8.cfg"), "--topology", str(topo),
                 "-o", str(out), "--no-plots", "-q"]) == 0
    capsys.readouterr()
    mp = json.loads((out / "report.json").read_text())["ops"][0]["mapping"]
    assert mp["sparsity"]["executed_k"] == KEPT
    assert mp["folds"] == {"os": [3, 2], "is": [3, 3], "ws": [3, 2]}[dataflow]
    assert mp["sram_operand_bytes"] == expected


def test_a_2_4_gemm_on_scalesim_32x32():
    # 256³ int8 (1 B) at 2:4 on the os 32x32 array: kept K = 128, F_r = F_c = 256 / 32 = 8.
    # ifmap 8 · 256 · 128 = 262,144 (was 8 · 256 · 256 = 524,288); filter 8 · 128 · 256 = 262,144; ofmap 65,536
    rep = api.run_experiment(experiment_from_parts("gemm", "scalesim-32x32", overrides=[
        "workload.m=256", "workload.n=256", "workload.k=256", "workload.sparsity=2:4",
        "arch.core.systolic.structured_sparsity=[any]"])).to_dict()
    mp = rep["ops"][0]["mapping"]
    assert mp["folds"] == [8, 8] and mp["sparsity"]["executed_k"] == 128
    assert mp["sram_operand_bytes"] == 8 * 256 * 128 + 8 * 128 * 256 + 256 * 256 == 589_824
    # bytes.sram is these plus the fills and drains from hbm (docs/architecture.md, bytes.sram)
    assert rep["bytes"]["sram"] == 589_824 + rep["bytes"]["hbm"]
