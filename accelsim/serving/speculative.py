"""Speculative decoding in ``accelsim serve`` (``speculative:`` in a serving file; docs/serving.md): how many draft
tokens a verification keeps, and what a draft model's proposals cost.

Acceptance (Leviathan et al. 2023, "Fast Inference from Transformers via Speculative Decoding", Sec. 3.1, with
the acceptance of each draft token independent): a draft token is accepted with probability α given that every
one before it was, so of ``d`` drafts the first ``i`` are kept with probability α^i (1 − α) for i < d, all with
α^d. A step then samples E[kept] + 1 = (1 − α^(d+1)) / (1 − α) tokens on average. One uniform draw u per
verification gives the count, min(d, ⌊ln u / ln α⌋), since P(⌊ln u / ln α⌋ ≥ i) = P(u ≤ α^i) = α^i.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .cost import Grid
from .requests import Request

STREAM = 0x5EC  # the sampler's stream beside the request generator's (same seed, independent draws)
BUFFER = 4096  # uniforms drawn at a time


class Acceptor:
    """The drafts a verification keeps, drawn from one replica's own numpy stream (seeded by the workload's seed
    and the replica's index: the same seed gives the same counts on every run)."""

    def __init__(self, alpha: float, seed: int, replica: int):
        self.alpha = alpha
        self.log_alpha = math.log(alpha) if 0.0 < alpha < 1.0 else 0.0
        self.rng = np.random.default_rng([seed, STREAM, replica])
        self.buffer: list[float] = []

    def __call__(self, req: Request, drafts: int) -> int:
        if self.alpha >= 1.0:
            return drafts
        if self.alpha <= 0.0:
            return 0
        if not self.buffer:
            self.buffer = self.rng.random(BUFFER).tolist()[::-1]  # popped from the end: in draw order
        u = self.buffer.pop()
        if u <= 0.0:  # numpy's random() is in [0, 1): ln 0 would be -inf, every draft kept
            return drafts
        return min(drafts, int(math.log(u) / self.log_alpha))


def expected_tokens(alpha: float, drafts: int) -> float:
    """Tokens a verification of ``drafts`` drafts samples on average: the drafts kept and one more,
    (1 − α^(d+1)) / (1 − α) (d + 1 at α = 1)."""
    if alpha >= 1.0:
        return float(drafts + 1)
    return (1.0 - alpha ** (drafts + 1)) / (1.0 - alpha)


def draft_cost(grid: Grid) -> Callable[..., float]:
    """A draft model's seconds in an iteration, from its own grid, for the ``drafting`` decodes that propose
    ``drafts`` draft tokens in all (vLLM's draft-model proposer): one pass over the iteration's tokens (the prefill
    chunks, so that its KV cache follows the model's, and one token a decode: its pass over the tokens the model
    kept, taken as one), then the next drafts one decode step of the drafting sequences at a time, drafts /
    drafting − 1 steps on average. With no decode drafting (each at its last token, or a swapped-in step), only
    the prefill chunks' pass."""

    def cost(prefill: int, decodes: int, kv_sum: int, scores: int | None = None, drafts: int = 0,
             drafting: int = 0) -> float:
        if not drafting:
            return grid.prefill(prefill, scores) if prefill else 0.0
        steps = drafts / drafting - 1
        return grid.iteration(prefill, decodes, kv_sum, scores) + steps * grid.decode(drafting, kv_sum / decodes)

    return cost


def summary(method: str, drafts: int, alpha: float, replicas: list, requests: list[Request],
            draft_grid: Grid | None) -> dict:
    """report.json's ``serving.speculative``: the settings, the drafts verified and kept, the mean tokens a
    verification sampled (measured, and the formula's at the settings) and the draft model's seconds."""
    drafted = sum(r.drafted for r in requests)
    accepted = sum(r.accepted for r in requests)
    steps = sum(r.verify_steps for r in replicas)
    busy = sum(r.busy_s for r in replicas)
    draft_s = sum(r.draft_s for r in replicas)
    return {"method": method, "num_tokens": drafts, "acceptance_rate": alpha,
            "verifications": steps, "drafted_tokens": drafted, "accepted_tokens": accepted,
            "draft_acceptance": accepted / drafted if drafted else None,
            "tokens_per_verification": (accepted + steps) / steps if steps else None,
            "expected_tokens_per_verification": expected_tokens(alpha, drafts),
            "draft_s": draft_s, "draft_busy_fraction": draft_s / busy if busy > 0 else 0.0,
            "draft_simulations": draft_grid.simulations if draft_grid is not None else 0}

