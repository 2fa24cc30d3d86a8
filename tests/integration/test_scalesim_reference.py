"""accelsim's systolic compute cycles equal SCALE-Sim 3.0's, layer by layer.

The expected numbers in ``tests/data/scalesim_reference/compute_cycles.csv`` were recorded from SCALE-Sim 3.0.0 by
``benchmarks/scalesim_reference.py`` (the "Total Cycles" column of SCALE-Sim's COMPUTE_REPORT.csv, run in CALC mode
so that it has no stall cycles; a "DP" row's per-channel layers summed, which this test splits back into the
identical per-channel layers accelsim reports), with the configs and topologies stored
beside it. Each (config, topology) pair is run once through ``accelsim run --scalesim-config ... --topology ...``
and every op's ``compute_cycles`` must equal SCALE-Sim's exactly. SCALE-Sim itself is not needed here.

Two topologies carry SCALE-Sim v3's ``N:M`` sparsity column: with the config's ``SparsitySupport: true`` (the
``sparse_*.cfg`` files, layer-wise sparsity) SCALE-Sim packs each K group of the filter matrix to its nonzeros, and
with it false it ignores the column; accelsim must give the same cycles both ways.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from accelsim.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "scalesim_reference"


def _cases() -> dict[tuple[str, str], list[dict[str, str]]]:
    with (DATA / "compute_cycles.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    cases: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        cases[(row["config"], row["topology"])].append(row)
    return dict(cases)


CASES = _cases()


def test_reference_covers_the_grid():
    """The recorded data spans the three dataflows, square and non-square arrays, conv and GEMM topologies."""
    rows = [r for case in CASES.values() for r in case]
    assert {r["dataflow"] for r in rows} == {"os", "ws", "is"}
    assert {(int(r["rows"]), int(r["cols"])) for r in rows} >= {(8, 8), (32, 32), (16, 64)}
    assert {"conv_mix.csv", "gemm_mix.csv"} <= {r["topology"] for r in rows}
    assert {r["scalesim_version"] for r in rows} == {"3.0.0"}
    assert any("DP" in r["layer"] for r in rows)
    sparse = {(r["config"].startswith("sparse_"), r["dataflow"]) for r in rows if r["topology"] in
              ("conv_sparse.csv", "gemm_sparse.csv")}
    assert sparse == {(on, df) for on in (True, False) for df in ("os", "ws", "is")}


@pytest.mark.parametrize(("config", "topology"), sorted(CASES), ids=lambda v: Path(v).stem)
def test_compute_cycles_match_scalesim(config, topology, tmp_path, capsys):
    expected = CASES[(config, topology)]
    out = tmp_path / "out"
    status = main(["run", "--scalesim-config", str(DATA / config), "--topology", str(DATA / topology),
                   "-o", str(out), "--no-plots", "-q"])
    assert status == 0, capsys.readouterr().err
    ops = json.loads((out / "report.json").read_text())["ops"]
    channels = _channels(DATA / topology)
    # a depthwise row is one op per channel, named as SCALE-Sim names its layers (<name>Channel_<i>)
    assert [op["name"] for op in ops] == [n for r in expected for n in
                                          ([f"{r['layer']}Channel_{i}" for i in range(channels[r["layer"]])]
                                           if "DP" in r["layer"] else [r["layer"]])]
    got = {op["name"]: op["compute_cycles"] for op in ops}
    want = {}
    for r in expected:  # the recorded number of a depthwise row is the sum of its identical channels' layers
        cycles = int(r["scalesim_compute_cycles"])
        if "DP" in r["layer"]:
            c = channels[r["layer"]]
            assert cycles % c == 0
            want.update({f"{r['layer']}Channel_{i}": cycles // c for i in range(c)})
        else:
            want[r["layer"]] = cycles
    assert got == want, {name: (got[name], want[name]) for name in want if got[name] != want[name]}


def _channels(topology: Path) -> dict[str, int]:
    """Each conv row's Channels column (the sixth), by layer name."""
    rows = [line.split(",") for line in topology.read_text().splitlines()[1:] if line.strip()]
    return {r[0].strip(): int(r[5]) for r in rows if len(r) > 5 and r[5].strip()}
