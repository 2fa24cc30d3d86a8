"""Probe p227 #2: with expert parallelism the simulated chip is the busiest, and ``uniform`` routing now gives it the
expected maximum of the chips' distinct hit experts (each chip's count Binomial(E / chips, p), p = 1 − (1 − k/E)^T,
the chips taken as independent), not the even share ⌈hit / chips⌉ every chip got before."""

from __future__ import annotations

import itertools
import math

from accelsim.builders import build_workload
from accelsim.builders.moe import Routing, busiest_chip_experts, busiest_shard, expected_experts, expert_loads
from accelsim.ir import OpKind

# 16 experts, top-2: a tiny Mixtral (hidden 128, expert width 256, 4 heads of 32, 2 KV heads, 2 layers)
TINY = {"architectures": ["MixtralForCausalLM"], "hidden_size": 128, "intermediate_size": 256,
        "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256,
        "num_local_experts": 16, "num_experts_per_tok": 2}


def _exact_max(tokens: int, top_k: int, experts: int, chips: int) -> float:
    """E[max over chips of a chip's distinct hit experts] by enumerating every routing (chip j holds experts j,
    j + chips, ...): each token's k distinct experts equally likely, tokens independent."""
    picks = list(itertools.combinations(range(experts), top_k))
    total = 0
    for routing in itertools.product(picks, repeat=tokens):
        hit = set().union(*routing)
        total += max(sum(1 for e in hit if e % chips == j) for j in range(chips))
    return total / len(picks) ** tokens


def test_two_chips_of_two_experts_by_hand_and_against_exact_enumeration():
    # E = 4, k = 1, T = 2 tokens, 2 chips of n = 2 experts ({0, 2} and {1, 3}). p = 1 − (3/4)^2 = 7/16; a chip's
    # count ~ Binomial(2, 7/16): F(0) = (9/16)^2 = 81/256, F(1) = 1 − (7/16)^2 = 207/256. E[max] = (1 − F(0)^2) +
    # (1 − F(1)^2) = 2 − (6,561 + 42,849) / 65,536 = 81,662 / 65,536 = 1.246063...
    assert math.isclose(busiest_chip_experts(2, 1, 4, 2), 81_662 / 65_536, rel_tol=1e-12)
    # exactly: of the 16 equally likely (token 1, token 2) picks, 4 pick one expert twice (max 1), 4 pick the two
    # experts of one chip (max 2), 8 pick one expert on each chip (max 1): (4 + 8 + 8) / 16 = 1.25. The chips'
    # counts are not independent (the two tokens' picks are shared between them): the approximation is 0.004 low
    assert _exact_max(2, 1, 4, 2) == 20 / 16
    # E = 4, k = 2, T = 1: p = 1 − (1/2)^1 = 1/2; Binomial(2, 1/2): F(0) = 1/4, F(1) = 3/4; E[max] = (1 − 1/16) +
    # (1 − 9/16) = 1.375. Exactly: of the 6 pairs, {0, 2} and {1, 3} fill one chip (max 2), the other 4 split
    # (max 1): 8 / 6 = 1.333; here the approximation is 0.042 high
    assert math.isclose(busiest_chip_experts(1, 2, 4, 2), 1.375, rel_tol=1e-12)
    assert math.isclose(_exact_max(1, 2, 4, 2), 8 / 6, rel_tol=1e-12)


def test_four_chips_of_sixteen_experts_by_hand():
    # E = 16, k = 2, T = 4, 4 chips of n = 4 experts: q = (14/16)^4 = 0.586182, p = 0.413818. Binomial(4, p):
    # P(0) = q^4 = 0.118067, P(1) = 4 p q^3 = 0.333401, P(2) = 6 p^2 q^2 = 0.353049, P(3) = 4 p^3 q = 0.166158;
    # F(0..3) = 0.118067, 0.451468, 0.804517, 0.970675; F^4 = 0.000194, 0.041544, 0.418929, 0.887759;
    # E[max] = (1 − 0.000194) + (1 − 0.041544) + (1 − 0.418929) + (1 − 0.887759) = 4 − 1.348426 = 2.651574
    assert math.isclose(busiest_chip_experts(4, 2, 16, 4), 2.651574, abs_tol=2e-5)
    # the independence approximation against the exact mean over all 120^4 routings is left to the 2-chip cases
    # above (this one has 207 million); a chip's mean n·p = 1.655 and the group's 16·p = 6.62 → 7 experts hit
    assert expected_experts(4, 2, 16) == 7
    # so the busiest chip holds 2.65 → 3 of the 7 (an even share: ⌈7 / 4⌉ = 2), the other 4 over chips 1..3
    kept = expert_loads(4, 2, 16, Routing("uniform", expert_parallel=4)).kept
    assert sum(1 for c in kept if c) == 7 and sum(kept) == 8
    mine = busiest_shard(kept, 4, True)
    assert mine == [0, 4, 8, 12] and sum(1 for i in mine if kept[i]) == 3


def test_one_chip_is_the_expected_distinct_experts_and_the_probes_monte_carlo():
    # one chip: E[max of one] = the mean E·p: gpt-oss-120b, E = 128, k = 4, T = 32: 81.66 (expected_experts: 82)
    assert math.isclose(busiest_chip_experts(32, 4, 128, 1), 128 * (1 - (124 / 128) ** 32), rel_tol=1e-9)
    assert expert_loads(32, 4, 128, Routing("uniform")).kept == (2,) * 46 + (1,) * 36 + (0,) * 46  # unchanged
    # probe p227 #2's Monte Carlo of 8 tokens at EP 8 (chip j holding j, j + 8, ...): DeepSeek-V3 (E = 256, k = 8)
    # 10.63 over 5,000 trials, gpt-oss-120b (E = 128, k = 4) 6.07 over 10,000: the approximation within 0.03
    assert abs(busiest_chip_experts(8, 8, 256, 8) - 10.63) < 0.03
    assert abs(busiest_chip_experts(8, 4, 128, 8) - 6.07) < 0.03
    # Mixtral, E = 8, k = 2 at EP 8: one expert a chip, the busiest has it hit (1 − (6/8)^8 = 0.90 each)
    assert math.isclose(busiest_chip_experts(8, 2, 8, 8), 1 - (0.75 ** 8) ** 8, rel_tol=1e-12)


def test_a_decode_step_at_expert_parallel_4_reads_the_busiest_chips_experts():
    # the tiny Mixtral decoding 1 token a chip at EP 4: T = 4, so the case above: 7 experts hit, the busiest chip's
    # 3 (0, 4, 8) under uniform, where balanced gives each chip ⌈8 / 4⌉ = 2 of its 8 hit (0, 4)
    def experts_read(routing: str) -> list[int]:
        g = build_workload("hf", {"config": TINY, "phase": "decode", "kv_len": 16, "expert_parallel": 4,
                                  "moe_routing": routing})
        return sorted({e for op in g.ops if op.kind == OpKind.MATMUL and op.name.startswith("model.layers.0.")
                       for e in op.attrs.get("experts", ())})

    assert experts_read("uniform") == [0, 4, 8]
    assert experts_read("balanced") == [0, 4]
