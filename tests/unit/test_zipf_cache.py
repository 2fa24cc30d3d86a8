"""Zipf look-ups through an LRU cache (Che's approximation, accelsim.cost.gather) against a direct LRU simulation,
and the gather's bytes it moves from the main memory to the cache (mapping/traffic.py)."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import accelsim
from accelsim.cost import gather, resident_bytes
from accelsim.ir import harmonic
from accelsim.units import dtype_bytes


def _lru_hits(stream: np.ndarray, capacity: int, warm: int = 0) -> float:
    """The share of ``stream[warm:]``'s look-ups an LRU cache of ``capacity`` rows serves (the first ``warm``
    look-ups only fill it): a direct simulation, most recently used last."""
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for i, r in enumerate(stream.tolist()):
        if r in cache:
            cache.move_to_end(r)
            hits += i >= warm
        else:
            cache[r] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits / (len(stream) - warm)


def _zipf_stream(rows: int, alpha: float, n: int, seed: int) -> np.ndarray:
    p = np.arange(1, rows + 1, dtype=np.float64) ** -alpha
    return np.random.default_rng(seed).choice(rows, size=n, p=p / p.sum())


@pytest.mark.parametrize("alpha", [0.8, 1.05])
def test_che_steady_state_hit_ratio_is_within_two_percent_of_a_simulated_lru(alpha):
    # 10,000 rows, a cache of 500: 200,000 Zipf look-ups after 50,000 that warm the cache
    simulated = _lru_hits(_zipf_stream(10_000, alpha, 250_000, seed=1), 500, warm=50_000)
    che = gather.che_hit_ratio(*gather.zipf_groups(10_000, alpha), 500)
    assert che == pytest.approx(simulated, rel=0.02)


def test_che_cold_call_hit_ratio_is_within_three_percent_of_a_simulated_lru():
    # one call of 2,000 look-ups from an empty cache of 500 rows, averaged over 100 calls
    simulated = np.mean([_lru_hits(_zipf_stream(10_000, 1.05, 2_000, seed=s), 500) for s in range(100)])
    assert gather.zipf_cache_hits(10_000, 1.05, 2_000, 500) == pytest.approx(simulated, rel=0.03)


def test_equal_probabilities_hit_the_cache_share_of_the_rows():
    # α = 0: every row 1/N; Che's T solves N (1 − e^(−T/N)) = C, so the hit ratio Σ p (1 − e^(−pT)) = C / N
    assert gather.che_hit_ratio(*gather.zipf_groups(10_000, 0.0), 500) == pytest.approx(500 / 10_000, rel=1e-9)
    # a cache holding every row: every look-up hits in steady state
    assert gather.che_hit_ratio(*gather.zipf_groups(400, 1.05), 400) == 1.0


def test_a_cold_cache_holding_the_whole_table_serves_the_calls_repeats():
    # T = inf: a call of g look-ups misses once per row it touches, D = Σ_i (1 − e^(−p_i g)) rows
    p = np.arange(1, 301, dtype=np.float64) ** -1.05
    p /= p.sum()
    distinct = np.sum(-np.expm1(-p * 1_000))
    assert gather.zipf_cache_hits(300, 1.05, 1_000, 300) == pytest.approx(1 - distinct / 1_000, rel=1e-9)
    assert gather.zipf_cache_hits(300, 1.05, 1_000, 0) == 0.0


def test_zipf_groups_cover_every_row_and_stay_few_for_a_40m_row_table():
    counts, probs = gather.zipf_groups(40_000_000, 1.05)
    assert counts.sum() == 40_000_000
    assert float(np.dot(counts, probs)) == pytest.approx(1.0, abs=1e-12)
    # 4,096 ranks one by one, then ⌈ln(40M / 4,096) / ln 1.01⌉ = 924 buckets at most
    assert len(counts) <= 4096 + math.ceil(math.log(40_000_000 / 4096) / math.log(1.01))
    # the mass of ranks 1 .. 4,096 is H(4,096, α) / H(40M, α); the groups' midpoint-rule tail keeps it within 1e-6
    assert probs[:4096].sum() == pytest.approx(harmonic(4096, 1.05) / harmonic(40_000_000, 1.05), rel=1e-6)


def _gather_bytes(access: str, arch: str = "h100") -> dict[str, int]:
    r = accelsim.simulate({"model": "embedding_bag", "access": access}, arch)
    return r.to_dict()["bytes"]


def test_zipf_gather_reads_its_cache_hits_from_l2_not_hbm():
    uniform, zipf = _gather_bytes("uniform"), _gather_bytes("zipf")
    # the embedding_bag defaults (accelsim.builders.micro): look-ups g = batch · pooling of rows of dim fp16 values
    w = accelsim.simulate({"model": "embedding_bag"}, "h100").to_dict()["workload"]
    p, elem = w["params"], dtype_bytes(w["dtype"])
    rows, g = p["rows"], p["batch"] * p["pooling"]
    arch = accelsim.load_arch("h100")
    row = gather.row_bytes(p["dim"] * elem, arch.memory("l2").access_bytes)
    capacity = resident_bytes(arch, "l2") // row
    hits = round(g * gather.zipf_cache_hits(rows, 1.05, g, capacity))
    assert hits > g // 2  # most look-ups of a Zipf(1.05) call repeat hot rows that stay in L2
    # uniform look-ups serve their own repeats from L2 too (probe p209 #1): g draws from the table read
    # D = rows · (1 − (1 − 1/rows)^g) distinct rows (1M rows, g = 40,960: 40,132.5, 10.3 MB of 256-B rows, within
    # L2's 26,214,400-B resident share), so g − D ≈ 827.5 of them (rounded: 828) never reach HBM
    distinct = rows * (1 - (1 - 1 / rows) ** g)
    assert distinct * p["dim"] * elem <= resident_bytes(arch, "l2")
    repeats = round(g - distinct)
    assert repeats == 828
    assert uniform["hbm"] - zipf["hbm"] == (hits - repeats) * gather.row_bytes(p["dim"] * elem,
                                                                               arch.memory("hbm").access_bytes)
    assert zipf["l2"] == uniform["l2"]  # every look-up still passes L2


def _exact_zipf_distinct(rows: int, alpha: float, lookups: float) -> float:
    """Σ_i 1 − (1 − p_i)^T over every row, p_i ∝ i^−α, summed row by row (no grouping)."""
    p = np.arange(1, rows + 1, dtype=np.float64) ** -alpha
    p /= p.sum()
    return float(np.sum(-np.expm1(lookups * np.log1p(-p))))


def test_zipf_distinct_rows_match_the_row_by_row_sum_and_a_sampled_count():
    # 1,000 rows sit in the exact head of the groups: the same sum; 10^6 rows are bucketed above rank 4,096 (1 %
    # buckets): within 1e-4 of the row-by-row sum (probe p214: 974 and 14,689 rows)
    assert gather.zipf_distinct_rows(1_000, 1.05, 20_480) == pytest.approx(_exact_zipf_distinct(1_000, 1.05, 20_480),
                                                                           rel=1e-12)
    assert round(gather.zipf_distinct_rows(1_000, 1.05, 20_480)) == 974
    assert gather.zipf_distinct_rows(10**6, 1.05, 40_960) == pytest.approx(
        _exact_zipf_distinct(10**6, 1.05, 40_960), rel=1e-4)
    # against distinct values counted in 50 sampled streams of 2,000 draws from 10,000 rows
    sampled = np.mean([len(np.unique(_zipf_stream(10_000, 1.05, 2_000, seed=s))) for s in range(50)])
    assert gather.zipf_distinct_rows(10_000, 1.05, 2_000) == pytest.approx(sampled, rel=0.01)
    # rank ranges add up to the whole; a 3-row table looked up 1,024 times touches all 3; never above the look-ups
    whole = gather.zipf_distinct_rows(10**6, 1.05, 40_960)
    parts = gather.zipf_distinct_rows(10**6, 1.05, 40_960, 0, 5_000) + gather.zipf_distinct_rows(
        10**6, 1.05, 40_960, 5_000)
    assert parts == pytest.approx(whole, rel=1e-12)
    assert gather.zipf_distinct_rows(3, 1.05, 1_024) == pytest.approx(3.0)
    assert gather.zipf_distinct_rows(10**6, 1.05, 7) <= 7
    # skewed draws touch fewer rows than uniform ones
    assert gather.zipf_distinct_rows(10**6, 1.05, 40_960) < gather.distinct_rows(40_960, 10**6)


def test_an_arch_without_a_cache_dmas_each_cores_distinct_zipf_rows_once():
    # probe p214 #1: before, every Zipf look-up on a cacheless arch read its row from HBM (11,354,120 B, 8.2× the
    # uniform run's bytes); now each core's distinct rows are DMA'd once, as uniform look-ups' are. tpu-v4 (2 cores)
    # gathering 2,048 × 20 look-ups of a 1,000-row table of 128 fp16: each core's 20,480 look-ups touch
    # D = Σ 1 − (1 − p_i)^20,480 = 974.04 rows (row by row), 2 × D = 1,948 rows of 256 B (a multiple of the 64-B
    # access: row_bytes 256), plus the ids 40,960 × 8, the offsets 2,049 × 8 and the output 2,048 × 128 × 2
    rows, lookups, cores, row = 1_000, 2_048 * 20, 2, 128 * 2
    moved = round(cores * _exact_zipf_distinct(rows, 1.05, lookups / cores))
    assert moved == 1_948
    fixed = lookups * 8 + 2_049 * 8 + 2_048 * 128 * 2
    zipf = accelsim.simulate({"model": "embedding_bag", "rows": rows, "access": "zipf"}, "tpu-v4").to_dict()["bytes"]
    uniform = accelsim.simulate({"model": "embedding_bag", "rows": rows}, "tpu-v4").to_dict()["bytes"]
    assert zipf["hbm"] == fixed + moved * row == 1_367_048
    # uniform: D = 1,000 · (1 − (1 − 1/1,000)^20,480) = 1,000.0 rows a core, 2,000 rows
    assert uniform["hbm"] == fixed + 2 * round(rows * (1 - (1 - 1 / rows) ** (lookups / cores))) * row
    assert zipf["hbm"] < uniform["hbm"]
    # the default 10^6-row table: on tpu-v4 the uniform rows (20,272 a core, 5.2 MB) overflow the filter buffer,
    # every look-up from HBM, the Zipf ones (8,243 a core, 2.1 MB) fit; Zipf never reads more on a cacheless preset
    assert _gather_bytes("zipf", "tpu-v4")["hbm"] < _gather_bytes("uniform", "tpu-v4")["hbm"]
    for arch in ("edge-npu", "multicore-4"):
        assert _gather_bytes("zipf", arch)["hbm"] <= _gather_bytes("uniform", arch)["hbm"]
