"""Distinct rows of random look-ups (L0: numpy and the standard library only, so the builders that size a sparse
optimizer step and the cost models that price a gather read the same formulas): uniform draws
R (1 - (1 - 1/R)^T), Zipf draws Σ_i 1 - (1 - p_i)^T over the ranks grouped as :func:`zipf_groups` gives them; and
the distinct ranks an MoE token's top-k expert picks reach (:func:`dispatch_ranks`: builders.moe sizes a per-rank
dispatch with it, cost.collective its hops across nodes)."""

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


def _miss(pool: int, mine: int, top_k: int) -> float:
    """The chance that a token's ``top_k`` distinct picks, uniform over ``pool`` experts, miss ``mine`` of them:
    C(pool − mine, k) / C(pool, k) (hypergeometric)."""
    return math.comb(pool - mine, top_k) / math.comb(pool, top_k) if pool >= top_k else 0.0


def dispatch_ranks(experts: int, top_k: int, ranks: int, groups: int = 0, picked: int = 0) -> float:
    """The expected distinct ranks, of ``ranks`` that each hold E / R of the ``experts`` (contiguous: vLLM's
    default ``linear`` placement), one token's ``top_k`` picks land on: the rows a per-rank dispatch sends per token
    (DeepEP's normal mode: ``is_token_in_rank`` [num_tokens, num_ranks], a token sent once to each rank that holds
    any of its experts). Picks uniform and independent of other tokens: by linearity Σ_r P(r hit), each rank missed
    with C(E − E/R, k) / C(E, k), so R · (1 − C(E − E/R, k) / C(E, k)) (DeepSeek-V3, E 256, k 8, R 8: 5.29 of 8).
    Group-limited routing (DeepSeek-V3's ``n_group`` G, ``topk_group`` g; 0: none): the token picks g of the G
    groups uniformly, then k of their g·E/G experts; a rank holding m of the picked groups' experts is missed with
    C(gE/G − m, k) / C(gE/G, k), m = j·E/G for its j picked groups of its G/R (hypergeometric over the G groups)
    where R divides G, m = E/R with chance g/G where G divides R (a group over G/R ranks); DeepSeek-V3 at R 8:
    4 · (1 − C(96, 8) / C(128, 8)) = 3.63. Other group and rank counts: the ungrouped value."""
    if ranks <= 1 or top_k <= 0:
        return 1.0 if ranks >= 1 and top_k > 0 else 0.0
    per = experts // ranks
    if experts % ranks:  # vLLM's determine_expert_map: ranks below E mod R hold one expert more
        return sum(1 - _miss(experts, per + (r < experts % ranks), top_k) for r in range(ranks))
    if groups > 1 and 0 < picked < groups and experts % groups == 0 and (groups % ranks == 0 or ranks % groups == 0):
        size = experts // groups
        pool = picked * size
        if groups % ranks == 0:  # each rank holds G/R whole groups: j of them picked (hypergeometric)
            held = groups // ranks
            hit = sum(math.comb(held, j) * math.comb(groups - held, picked - j) / math.comb(groups, picked)
                      * (1 - _miss(pool, j * size, top_k)) for j in range(1, min(held, picked) + 1))
        else:  # each group over R/G ranks: the rank's E/R experts in play when its group is picked
            hit = picked / groups * (1 - _miss(pool, per, top_k))
        return ranks * hit
    return ranks * (1 - _miss(experts, per, top_k))


def rank_reach(experts: int, top_k: int, ranks: int, held: int, groups: int = 0, picked: int = 0) -> float:
    """The chance one token's ``top_k`` picks reach a rank holding ``held`` of the ``experts`` (of ``ranks``): a
    rank's tokens received per token of the group, which a per-rank dispatch sends it once each. Where the ranks
    hold E / R each, :func:`dispatch_ranks` / R (group-limited routing included); else (E mod R ranks hold one
    more, vLLM's determine_expert_map) 1 − C(E − held, k) / C(E, k) for that rank's own count, as
    :func:`dispatch_ranks` sums them (probe p260 #4: Qwen1.5-MoE's 60 experts, top-4, EP 7: the 9-expert rank
    1 − C(51, 4) / C(60, 4) = 0.4875, not the average 3.2846 / 7 = 0.4692)."""
    if ranks <= 1 or top_k <= 0:
        return 1.0 if ranks >= 1 and top_k > 0 else 0.0
    if experts % ranks == 0 and held == experts // ranks:
        return dispatch_ranks(experts, top_k, ranks, groups, picked) / ranks
    return 1 - _miss(experts, held, top_k)
