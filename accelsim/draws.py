"""Distinct rows of random look-ups (L0: numpy and the standard library only, so the builders that size a sparse
optimizer step and the cost models that price a gather read the same formulas): uniform draws
R (1 - (1 - 1/R)^T), Zipf draws Σ_i 1 - (1 - p_i)^T over the ranks grouped as :func:`zipf_groups` gives them."""

from __future__ import annotations

import functools
import math

import numpy as np


def distinct_rows(gathers: float, rows: int) -> float:
    """Expected distinct rows of ``gathers`` uniform look-ups into a table of ``rows`` rows:
    rows x (1 - (1 - 1/rows)^gathers) (32 rows looked up 262,144 times: 32.0; 10^6 rows 40,960 times: 40,132.5)."""
    if gathers <= 0 or rows <= 0:
        return 0.0
    return rows * -math.expm1(gathers * math.log1p(-1 / rows)) if rows > 1 else 1.0


# Zipf look-ups through an LRU cache (Che's approximation): the first ZIPF_EXACT ranks one by one, the rest in
# geometric buckets of ranks [a, ⌊a · ZIPF_BUCKET⌋], each a group of equally likely rows at the bucket's mean
# probability (its mass by the midpoint rule, ∫ x^−α over [a − ½, b + ½]); within a bucket the probabilities differ
# by at most 1 %, so 1 − exp(−p T) does too. A 40M-row table is 4,096 + ~920 groups.
ZIPF_EXACT = 4096
ZIPF_BUCKET = 1.01


@functools.lru_cache(maxsize=256)
def zipf_groups(rows: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows in each group, probability of each of its rows) of a Zipf(``alpha``) table of ``rows`` rows, hottest
    first; the probabilities of all rows add up to 1."""
    head = np.arange(1, min(rows, ZIPF_EXACT) + 1, dtype=np.float64)
    counts, mass = [np.ones_like(head)], [head ** -alpha]
    if rows > ZIPF_EXACT:
        k = math.ceil(math.log(rows / ZIPF_EXACT) / math.log(ZIPF_BUCKET))
        edges = np.unique(np.minimum(np.floor(ZIPF_EXACT * ZIPF_BUCKET ** np.arange(k + 1)), rows))
        a, b = edges[:-1] + 1, edges[1:]  # ranks a .. b
        lo, hi = a - 0.5, b + 0.5
        integral = np.log(hi / lo) if alpha == 1 else (hi ** (1 - alpha) - lo ** (1 - alpha)) / (1 - alpha)
        counts.append(b - a + 1)
        mass.append(integral)
    n, m = np.concatenate(counts), np.concatenate(mass)
    m /= m.sum()
    return n, m / n


def zipf_distinct_rows(rows: int, alpha: float, lookups: float, first: int = 0, last: int | None = None) -> float:
    """Expected distinct rows of ranks ``first`` .. ``last`` − 1 (0-based, hottest first; all of them by default)
    that ``lookups`` independent Zipf(``alpha``) look-ups into a table of ``rows`` rows touch: Σ_i 1 − (1 − p_i)^T
    over those ranks, the rows grouped as :func:`zipf_groups` gives them (probe p214 #1: 1,000 rows, α 1.05, 20,480
    look-ups: 974 rows; 10^6 rows, 40,960 look-ups: 14,689). At most ``lookups`` and the ranks' rows, as uniform
    look-ups' (:func:`distinct_rows`)."""
    last = rows if last is None else min(last, rows)
    if lookups <= 0 or rows <= 0 or last <= first:
        return 0.0
    counts, probs = zipf_groups(rows, alpha)
    ends = np.cumsum(counts)
    overlap = np.clip(np.minimum(ends, last) - np.maximum(ends - counts, first), 0, None)
    return float(np.dot(overlap, -np.expm1(lookups * np.log1p(-np.minimum(probs, 1.0 - 1e-16)))))


def expected_distinct(lookups: float, rows: int, access: str, alpha: float) -> float:
    """Expected distinct rows ``lookups`` look-ups of pattern ``access`` (``Op.access``) touch in a table of ``rows``
    rows: "uniform" :func:`distinct_rows`, "zipf" :func:`zipf_distinct_rows`, "distinct" (no look-up repeats a row)
    min(lookups, rows)."""
    if access == "zipf":
        return zipf_distinct_rows(rows, alpha, lookups)
    if access == "uniform":
        return distinct_rows(lookups, rows)
    return float(min(lookups, rows))
