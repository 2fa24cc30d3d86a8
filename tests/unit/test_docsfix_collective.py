"""Probe p118 #1: a ``collective`` run's ``efficiency.j_per_inference`` counts every chip the call runs on (compare
labels it "J/inference (every chip)"), as results.csv's ``system_energy_j`` does; before, it was one chip's."""
import pytest

import accelsim
from accelsim.cli import main
from accelsim.errors import ConfigError
from accelsim.sweep.store import system_energy_j, working_chips


def test_a_collective_inference_is_priced_on_every_chip_of_the_arch():
    # mi300x-8 (arch/mi300x-8.yaml: chips 8) all-reduces 1 GiB; the report simulates one chip (power.chips 1) and
    # every chip does the same work, so one all-reduce costs 8 x energy.total_j (probe p118: 8 x 2.668 = 21.34 J;
    # before, j_per_inference was the one chip's 2.668 J)
    r = accelsim.simulate({"model": "collective", "op": "all_reduce", "bytes": "1GiB"}, "mi300x-8").to_dict()
    assert r["power"]["chips"] == 1
    one_chip = r["energy"]["total_j"]
    # the probe's 2.668 J, of which 1.694 J was the activity energy at mi300x's activity_power_share 0.55; the
    # share is h100's, re-derived by its rule as 0.589 (arch/h100.yaml), so that part is x 0.589 / 0.55:
    # 2.668 + 1.694 x (0.589 / 0.55 - 1) = 2.668 + 0.120 = 2.788 J (the rest, dynamic and static, unchanged)
    # probe p218 #1: the xGMI efficiency went 0.82 -> 0.75 (AMD's 48 of 64 GB/s a link), so the call takes
    # 2 x 7/8 x 2^30 B / (448e9 x eff) + 2 x 8.92 us: 5.1328 -> 5.6102 ms; the static and activity energies are
    # power x time and grow by that ratio, the dynamic part (bytes moved) does not
    t_old, t_new = (2 * 7 / 8 * 2**30 / (448e9 * eff) + 2 * 8.92e-6 for eff in (0.82, 0.75))
    assert r["seconds"] == pytest.approx(t_new, rel=1e-6)  # to the 2.1 GHz cycle
    dynamic = r["energy"]["dynamic_j"]
    assert one_chip - dynamic == pytest.approx((2.668 + 1.694 * (0.589 / 0.55 - 1) - dynamic) * t_new / t_old,
                                               abs=0.005)
    assert r["energy"]["activity_j"] == pytest.approx(1.694 * 0.589 / 0.55 * t_new / t_old, abs=0.002)
    assert r["efficiency"]["j_per_inference"] == pytest.approx(8 * one_chip, rel=1e-12)
    # results.csv's system figure agrees: 8 working chips of 8, none idle
    assert working_chips(r, 8) == 8
    assert system_energy_j(r, 8) == pytest.approx(r["efficiency"]["j_per_inference"], rel=1e-12)


def test_a_collective_batch_is_refused(capsys):
    # probe p183 #2: batch 2 ran one call of 2 x bytes and divided its every-chip energy by 2 (this test asserted
    # that split), while `bytes` is documented as nccl-tests' size, the one call's buffer; now batch != 1 is
    # refused, as sparsity is, naming the key
    with pytest.raises(ConfigError, match=r"workload\.batch: batch 2: a collective is one call of `bytes`"):
        accelsim.simulate({"model": "collective", "op": "all_gather", "bytes": "64MiB", "batch": 2}, "dgx-h100")
    # on the command line: one line, exit status 2
    code = main(["run", "--workload", "collective", "--arch", "dgx-h100", "--set", "workload.batch=4",
                 "--no-plots", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "workload.batch: batch 4: a collective is one call of `bytes`" in err


def test_a_gemm_on_a_multi_chip_arch_stays_one_chips_energy():
    # no parallel key: one chip works, j_per_inference is its energy per sample (the collective rule is not general)
    r = accelsim.simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, "mi300x-8").to_dict()
    assert r["efficiency"]["j_per_inference"] == pytest.approx(r["energy"]["total_j"], rel=1e-12)
    assert working_chips(r, 8) == 1


def _efficiency_row(report: dict) -> str:
    from accelsim.report.console import energy_rows
    return dict(energy_rows(report))["efficiency"]


def test_the_console_says_n_a_for_the_tops_per_w_of_no_flops():
    # probe p118 #6: dgx-h100's NVLS all-reduce adds on the switches, so the chip executes 0 FLOPs and the model
    # has none: the console printed "0 TOPS/W", a rate of no work; mi300x-8's ring adds on the chip (executed FLOPs
    # > 0) while the model's FLOPs are 0, so "useful" is n/a
    h = accelsim.simulate({"model": "collective", "op": "all_reduce", "bytes": "256MiB"}, "dgx-h100").to_dict()
    # report.json gives that no-rate as null, not 0.0 (probe p234 #4: it gave 0.0 while the console said n/a)
    assert h["flops"] == 0 and h["efficiency"]["tops_per_w"] is None
    assert h["efficiency"]["useful_tops_per_w"] is None
    row = _efficiency_row(h)
    assert row.startswith("TOPS/W n/a (no FLOPs)") and "0 TOPS/W" not in row
    m = accelsim.simulate({"model": "collective", "op": "all_reduce", "bytes": "256MiB"}, "mi300x-8").to_dict()
    assert m["flops"] == 0 and m["efficiency"]["tops_per_w"] > 0
    assert "TOPS/W executed (its reduction's adds), useful n/a (no model FLOPs)" in _efficiency_row(m)
    # a GEMM keeps its figure: 2 x 256^3 FLOPs > 0
    g = accelsim.simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, "a100").to_dict()
    assert "n/a" not in _efficiency_row(g) and " TOPS/W" in _efficiency_row(g)
