"""ops.csv rows of a composed run (a diffusion pipeline): every quantity column is the total over the row's
``count`` executions, its duration too, so no row runs faster than the chip can."""

from __future__ import annotations

import csv

from accelsim import simulate
from accelsim.report.writers import write_ops_csv

# arch/a100.yaml: 108 SMs, each a 32 x 32 array (fp16 at the bf16 rate, 1) -> 108 x 1024 = 110,592 MACs a cycle;
# HBM 2039 GB/s at 1.41 GHz -> 2039e9 / 1.41e9 = 1446.1 B a cycle
A100_MACS_PER_CYCLE = 108 * 32 * 32
A100_HBM_BYTES_PER_CYCLE = 2039e9 / 1.41e9


def test_sd15_rows_on_an_a100_stay_under_its_peak_and_hbm_bandwidth(tmp_path):
    # probe p39 #5: a UNet row held 50 steps' MACs and bytes beside one step's duration, 18.2 x the A100's peak
    rep = simulate({"base": "sd15", "dtype": "fp16", "steps": 50}, "a100", plots=False).to_dict()
    write_ops_csv(rep, tmp_path / "ops.csv")
    with open(tmp_path / "ops.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(rep["ops"])
    # down_blocks.0.resnets.0.conv1: 320 -> 320 channels, 3 x 3, on the 64 x 64 latent, batch 2 (guidance):
    # 2 x 64 x 64 x 320 x 320 x 9 = 7,549,747,200 MACs a UNet call, 51 calls for 50 steps (sd15's PNDMScheduler
    # with skip_prk_steps sets steps + 1 timesteps)
    (conv,) = [(r, op) for r, op in zip(rows, rep["ops"], strict=True)
               if op["name"] == "down_blocks.0.resnets.0.conv1"]
    r, op = conv
    assert int(r["count"]) == op["count"] == 51
    assert int(r["macs"]) == 51 * 2 * 64 * 64 * 320 * 320 * 9
    assert int(r["duration_cycles"]) == 51 * (op["end_cycle"] - op["start_cycle"])
    assert int(r["compute_cycles"]) == 51 * op["compute_cycles"]
    timed = 0
    for r in rows:
        duration = int(r["duration_cycles"] or 0)
        if not duration:
            assert int(r["macs"]) == 0 or r["unit"] == "none", r["name"]
            continue
        timed += 1
        assert int(r["macs"]) <= A100_MACS_PER_CYCLE * duration, r["name"]
        assert int(r["bytes_hbm"]) <= A100_HBM_BYTES_PER_CYCLE * duration, r["name"]
    assert timed > 600  # 650 rows were over the HBM bandwidth and 288 over the peak before
    # the totals are still the rows' sums, and each part's rows add up to its executions' time or less
    assert sum(int(r["macs"]) for r in rows) == rep["macs"]
    for part in rep["diffusion"]["parts"]:
        spans = sum(int(r["duration_cycles"] or 0) for r in rows if r["phase"] == part["part"])
        assert spans <= part["count"] * part["cycles"]
