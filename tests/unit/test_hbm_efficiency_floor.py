"""A memory's size-dependent efficiency (``Level.efficiency_at``): bands as the table writes them, time never
shorter for more bytes (p39 finding 1: a 96 MiB GEMV ran faster than a 95 MiB one on h100)."""

from __future__ import annotations

from itertools import pairwise

import pytest

import accelsim
from accelsim.config import load_arch
from accelsim.hardware import Level

MB = 10**6
# h100's (the A100's, calculon_a100_80g) table: [[100MB, 0.9], [10MB, 0.75], [1MB, 0.6], [0, 0.3]]
STEPS = [(MB, 0.3, 0.6), (10 * MB, 0.6, 0.75), (100 * MB, 0.75, 0.9)]  # (size, fraction below, fraction from)


def _sweep(size: int) -> list[int]:
    """Sizes from 80 % to 150 % of ``size``, a step of 1 % and the bytes either side of it."""
    return sorted({size - 1, size, size + 1, *(size * p // 100 for p in range(80, 151))})


def test_time_never_falls_as_the_bytes_grow_around_every_step():
    hbm = load_arch("h100").memory("hbm")
    for size, _, _ in STEPS:
        times = [n / hbm.efficiency_at(n) for n in _sweep(size)]  # seconds x the peak bandwidth
        # (on a floored stretch n / (n / floor) is the floor to a float's last bit)
        assert all(b >= a * (1 - 1e-12) for a, b in pairwise(times)), size


@pytest.mark.parametrize(("size", "below", "band"), STEPS)
def test_a_band_holds_its_fraction_once_past_the_time_just_below_it(size, below, band):
    hbm = load_arch("h100").memory("hbm")
    # just below the step: the band below, as written
    assert hbm.efficiency_at(size - 1) == below
    # from the step the time stays that of the size just below it, size / below (a fraction n x below / size),
    # up to size x band / below (100 MB x 0.9 / 0.75 = 120 MB), where the band's own fraction takes over
    assert hbm.efficiency_at(size) == pytest.approx(below)
    assert hbm.efficiency_at(size * 11 // 10) == pytest.approx(below * 1.1)
    assert hbm.efficiency_at(round(size * band / below)) == pytest.approx(band)
    assert hbm.efficiency_at(2 * size) == band


def test_any_table_gives_a_time_that_never_falls():
    # a table whose fraction jumps tenfold at 2 MB, and one below its first entry: 1 MB at 0.1 takes as long as
    # 10 MB at 1.0, so from 2 MB the time stays that of 2 MB at 0.1 (20 MB at peak) until 20 MB
    lv = Level(capacity=2**34, bandwidth=1e12, efficiency=0.5, efficiency_by_size=[(2 * MB, 1.0), (MB, 0.1)])
    assert lv.efficiency_at(MB // 2) == 0.5  # below every entry: `efficiency`
    assert lv.efficiency_at(MB) == 0.1  # the band as written: slower than 1 MB - 1 B at 0.5, no floor needed
    assert lv.efficiency_at(2 * MB) == pytest.approx(0.1)  # 2 MB / (2 MB / 0.1)
    assert lv.efficiency_at(10 * MB) == pytest.approx(0.5)  # 10 MB / 20 MB
    assert lv.efficiency_at(20 * MB) == pytest.approx(1.0)
    sizes = [k * MB // 4 for k in range(1, 120)]
    times = [n / lv.efficiency_at(n) for n in sizes]
    assert all(b >= a * (1 - 1e-12) for a, b in pairwise(times))


def test_a_gemv_takes_no_less_time_for_more_weight_bytes():
    # 1 x 4096 x n fp16 GEMVs on h100 whose weight (4096 n x 2 B) crosses each step: device time (seconds less
    # the host's launch) never falls (it fell by 6.26 us, 11,000 cycles, from 95 to 96 MiB). The engine holds each
    # of the op's tiles for whole cycles (emit._occupancy), so on a floored stretch (one time by the table, other
    # levels' bytes still growing) the span may move by up to a cycle a tile
    clock = load_arch("h100").clock_hz
    for size, _, _ in STEPS:
        n0 = size // (4096 * 2)
        times = []
        for n in sorted({n0 * p // 100 for p in (90, 97, 99, 100, 101, 103, 110, 120, 130)} | {n0 + 1}):
            d = accelsim.simulate({"model": "gemm", "m": 1, "n": n, "k": 4096, "dtype": "fp16"}, "h100").to_dict()
            times.append((d["seconds"] - d["launch_overhead_s"], d["ops"][0]["tiles"]))
        assert all(b >= a - tiles / clock for (a, _), (b, tiles) in pairwise(times)), (size, times)


def test_llama3_8b_decodes_no_faster_than_llama2_7b_on_h100():
    # at batch 1 a decode step reads every weight once, memory-bound: Llama-3-8B's 8.0 B parameters (its MLP
    # 4096 x 14336, 112 MiB a weight; a 128,256-token vocabulary) against Llama-2-7B's 6.7 B (4096 x 11008, 86 MiB)
    # are ~12 % more HBM bytes, so its step cannot take less time (it did: 7.094 against 7.139 ms, its 112 MiB
    # weights at 0.9 and Llama-2's 86 MiB at 0.75)
    def step(base):
        d = accelsim.simulate({"base": base, "phase": "decode", "kv_len": 512, "dtype": "fp16", "batch": 1},
                              "h100").to_dict()
        return d["seconds"], d["bytes"]["hbm"]

    (t2, b2), (t3, b3) = step("llama2_7b"), step("llama3_8b")
    assert b3 > 1.1 * b2
    assert t3 >= t2
