"""Expert parallelism: the simulated chip is the group's busiest, its all-to-alls carry the larger of what it sends
and receives; a run's ``moe`` block names its pass, and a sweep keeps its numbers (probe p58)."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.builders.moe import busiest_shard
from accelsim.config import load_workload
from accelsim.ir import OpKind

H = 4096  # Mixtral-8x7B's hidden size (8 experts, top-2)


def _mixtral(**params):
    w = load_workload("mixtral_8x7b")
    return build_workload(w.model, {**w.params, "layers": 1, "dtype": "bf16", **params})


def _a2a(g) -> dict[str, int]:
    return {op.name.rsplit(".", 1)[1]: op.out_bytes for op in g.ops
            if op.kind is OpKind.COLLECTIVE and op.fn == "all_to_all"}


def test_the_busiest_chip_is_the_one_whose_experts_receive_the_most():
    kept = [0, 8, 8, 0, 0, 0, 0, 0]
    assert busiest_shard(kept, 8, strided=False) == [1]  # experts 1 and 2 tie at 8: the lower chip
    # 4 chips of 2 experts: contiguous [0, 1] and [2, 3] both receive 8: chip 0
    assert busiest_shard(kept, 4, strided=False) == [0, 1]
    # strided, chip j holds j and j + 4: [0, 4] 0, [1, 5] 8, [2, 6] 8, [3, 7] 0: chip 1
    assert busiest_shard(kept, 4, strided=True) == [1, 5]
    assert busiest_shard([1, 5, 9, 2], 2, strided=False) == [2, 3]  # 1 + 5 = 6 < 9 + 2 = 11


@pytest.mark.parametrize("counts, expert", [([8, 8, 0, 0, 0, 0, 0, 0], 0), ([0, 8, 8, 0, 0, 0, 0, 0], 1),
                                            ([0, 0, 0, 0, 0, 0, 8, 8], 6)])
def test_given_counts_simulate_the_busiest_chip_wherever_the_load_falls(counts, expert):
    # Mixtral EP 8, a decode step of 1 sequence a chip: 8 tokens × top-2 = 16 assignments, put on two experts.
    # The busiest chip holds the first of them (a tie: the lower one) and runs its 8 rows; before, the chip of
    # expert 0 was simulated, idle for the last two (no expert GEMM, a made-up 1-row dispatch)
    g = _mixtral(phase="decode", kv_len=64, expert_parallel=8, moe_routing="counts", expert_counts=counts)
    gemms = [op for op in g.ops if op.kind is OpKind.MATMUL and op.attrs.get("experts")]
    assert {op.attrs["experts"] for op in gemms} == {(expert,)}
    assert {op.gemm.m for op in gemms} == {8}
    # it receives 8 rows of h bf16 values and sends its one token's 2 rows: each all-to-all carries the 8
    assert _a2a(g) == {"all_to_all_dispatch": 8 * H * 2, "all_to_all_combine": 8 * H * 2}


def test_a_skewed_combine_returns_the_hot_chips_rows():
    # Mixtral EP 8, prefill 512 a chip: 4,096 tokens × top-2 = 8,192 assignments, Zipf skew 1: expert 0's share
    # 1 / H₈, H₈ = 1 + 1/2 + ... + 1/8 = 761/280, so 8,192 · 280/761 = 3,014.1 → 3,014 rows (below the cap of
    # 4,096 tokens). The hot chip receives 3,014 rows and sends its own 512 × 2 = 1,024: both all-to-alls carry
    # 3,014 (the combine returns the 3,014 expert outputs; it was priced on the 1,024)
    g = _mixtral(seq_len=512, expert_parallel=8, moe_routing="skewed", moe_skew=1.0)
    assert 8192 * 280 / 761 == pytest.approx(3014.1, abs=0.05)
    assert _a2a(g) == {"all_to_all_dispatch": 3014 * H * 2, "all_to_all_combine": 3014 * H * 2}
    # balanced: 1,024 each way, as before
    assert set(_a2a(_mixtral(seq_len=512, expert_parallel=8)).values()) == {1024 * H * 2}


def test_a_decode_steps_runs_moe_block_names_its_pass_and_gives_the_decode_steps_routing():
    from accelsim.api import simulate

    w = load_workload("mixtral_8x7b", ["workload.seq_len=256", "workload.decode_steps=2", "workload.layers=1",
                                       "workload.attention=fused"])
    m = simulate(w, "h200").to_dict()["moe"]
    # the prefill: 256 tokens × top-2 = 512 assignments, balanced over 8 experts, 64 each
    assert m["routing_pass"] == "prefill" and m["tokens_per_expert"] == [64] * 8 and m["experts_hit"] == 8
    # a decode step: 1 token × top-2, one each to experts 0 and 1 (ties to the lower index)
    assert m["decode_step"] == {"tokens": 1, "tokens_per_expert": [1, 1, 0, 0, 0, 0, 0, 0], "dropped_tokens": 0,
                                "capacity": 0, "experts_hit": 2}


def test_a_sweep_keeps_the_moe_blocks_routing_numbers():
    from accelsim.sweep.store import metrics_from_report

    report = {"seconds": 1.0, "moe": {"experts": 8, "routing": "uniform", "tokens": 4,
                                      "tokens_per_expert": [2, 2, 2, 1, 1, 0, 0, 0], "dropped_tokens": 0,
                                      "experts_hit": 5, "routing_pass": "prefill",
                                      "decode_step": {"tokens": 1, "tokens_per_expert": [1, 1, 0, 0, 0, 0, 0, 0],
                                                      "experts_hit": 2}}}
    # the numbers only (results.csv's moe.* columns), the decode steps' as decode_*: no lists, no text
    assert metrics_from_report(report)["moe"] == {"experts": 8, "tokens": 4, "dropped_tokens": 0, "experts_hit": 5,
                                                  "decode_tokens": 1, "decode_experts_hit": 2}
