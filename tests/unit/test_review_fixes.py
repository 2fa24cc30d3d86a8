"""Fixes from a review of the torus interconnect and the sweep's relabelling of reused points. Every expected figure
is worked by hand in the comment above it."""

from __future__ import annotations

import csv
import json

import pytest

from accelsim.hardware import Interconnect
from accelsim.sweep import runner
from accelsim.sweep.runner import run_sweep

from ..integration.test_sweep import SMALL  # LeNet-5 on gemmini, 3 rows x 2 dataflows

W = 1e11  # one link's bytes/s each way
MiB = 2**20


def torus(shape, wrap=True, links=None, latency=0.0):
    return Interconnect(bandwidth=W * (links or 2 * len(shape)), topology="torus", shape=shape, wraparound=wrap,
                        links=links, latency=latency)


def test_an_all_to_all_is_a_quarter_of_gathering_the_groups_whole_array():
    # all_to_all's nbytes is nccl-tests' size, the buffer B each chip holds (the MoE dispatch's rows on this chip).
    # The book's rule: a quarter of an all-gather of the whole array V = X B; on a ring of X at 2 W (both
    # directions): X B / (4 x 2 W). Ring of 4, B = 64 MiB: 4 x 64 MiB / 8e11 = 0.3355 ms. First principles agree:
    # each chip sends B/4 to each of 3 others, distances 1, 2, 1 -> (1 + 2 + 1) B/4 = B link-bytes a chip over
    # 2 outgoing links: B / (2 W) = the same 0.3355 ms. (Was a quarter of the all-gather of B itself,
    # 3/4 B / (2 W) / 4 = 0.063 ms: below the 3/4 B / (2 W) = 0.25 ms a chip needs to push its own bytes out.)
    ic = torus([4, 4, 4], links=6)
    b = 64 * MiB
    assert ic.torus_seconds("all_to_all", b, 4) == pytest.approx(4 * b / (8 * W), rel=1e-12)
    # a line of 4 (no wraparound): the middle link carries 2 x 2 chips x B/4 = B each way: B / W
    line = torus([4, 4], wrap=False, links=4)
    assert line.torus_seconds("all_to_all", b, 4) == pytest.approx(b / W, rel=1e-12)
    # two chips: each sends B/2 over its one link to the other: B / (2 W) (the chip's own bytes bound it)
    assert line.torus_seconds("all_to_all", b, 2) == pytest.approx(b / (2 * W), rel=1e-12)
    # the whole 4x4x4 cube (64 chips): the cut across one axis (two cuts, the ring wraps) parts 32 | 32 chips,
    # each sending half its B across: 16 B one way over 2 x 16 links = B/2 a link: B / (2 W)
    assert ic.torus_seconds("all_to_all", b, 64) == pytest.approx(b / (2 * W), rel=1e-12)


def test_an_axis_of_one_chip_adds_no_link():
    # shape [1, 4]: the 4 chips are one ring of 4 (2 ports: bandwidth 2 W a chip each way, so one link is W);
    # a 4-chip all-gather of V: 3/4 V / (2 W), 2 hops; the axis of 1 has no link to add (was 3 W: 3/4 V / (3 W))
    ic = Interconnect(bandwidth=2 * W, topology="torus", shape=[1, 4])
    assert ic.link_bandwidth == W
    assert ic.torus_axes(4) == [(4, True, 1)]
    v = 64 * MiB
    assert ic.all_gather_seconds(v, 4) == pytest.approx(3 / 4 * v / (2 * W), rel=1e-12)


def test_a_ring_of_odd_length_reaches_its_farthest_chip_in_whole_hops():
    # a ring of 3: every chip is a neighbour of both others, 1 hop (was 3/2); a ring of 5: 2 hops (was 5/2).
    # 3-byte gather on a ring of 3 at 1 us a hop: max(2/3 x 3 B / (2 W), 1 hop x 1 us), latency-bound, so 1 us
    ic = torus([3, 5], latency=1e-6)
    assert ic.torus_axes(3) == [(3, True, 1)]
    assert ic.all_gather_seconds(3, 3) == pytest.approx(max(2 / 3 * 3 / (2 * W), 1e-6), rel=1e-12)
    assert ic.all_gather_seconds(5, 5, 15) == pytest.approx(max(4 / 5 * 5 / (2 * W), 2e-6), rel=1e-12)




def test_a_relabelling_cut_short_is_finished_by_the_next_run(tmp_path, monkeypatch):
    # 3 rows x 2 dataflows = 6 points; adding workload.batch: [1, 2] (the base's batch is 1) reuses those 6 as
    # batch 1. A run stopped at the first reused point (Ctrl-C) has relabelled none of them; the next run, with the
    # same (new) axes, must still record them with batch = 1, as an uninterrupted run does.
    sweep, grown = tmp_path / "a.yaml", tmp_path / "b.yaml"
    sweep.write_text(SMALL)
    grown.write_text(SMALL + "  workload.batch: [1, 2]\n")
    out = tmp_path / "out"
    run_sweep(sweep, out, workers=1, progress=False, plots=False)

    real = runner._Feed._relabel

    def stop(self, point, reader):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner._Feed, "_relabel", stop)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(grown, out, workers=1, progress=False, plots=False)
    assert json.loads((out / "sweep.json").read_text())["relabel_from"] == ["arch.core.systolic.rows",
                                                                            "arch.core.systolic.dataflow"]
    monkeypatch.setattr(runner._Feed, "_relabel", real)
    run_sweep(grown, out, workers=1, progress=False, plots=False)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    # 12 points: 6 at batch 1 (the reused ones) and 6 at batch 2
    assert sorted(r["workload.batch"] for r in rows) == ["1"] * 6 + ["2"] * 6
    assert "relabel_from" not in json.loads((out / "sweep.json").read_text())
    n = len((out / "results.jsonl").read_text().splitlines())
    run_sweep(grown, out, workers=1, progress=False, plots=False)  # nothing left to relabel: nothing appended
    assert len((out / "results.jsonl").read_text().splitlines()) == n
