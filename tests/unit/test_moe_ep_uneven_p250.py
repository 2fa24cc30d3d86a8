"""Expert parallelism where expert_parallel does not divide the experts (probe p250 #3): inference spreads them as
vLLM's determine_expert_map does."""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.builders.moe import busiest_shard
from accelsim.config import load_workload
from accelsim.ir import OpKind


def test_inference_spreads_experts_expert_parallel_does_not_divide():
    # vLLM's determine_expert_map: 60 experts over 8 ranks, base 7 and remainder 4: ranks 0-3 hold 8, ranks 4-7 hold
    # 7; the simulated chip is a busiest one
    kept = [1] * 60
    shards = [busiest_shard(kept[:j] + [5] + kept[j + 1:], 8, strided=False) for j in (0, 59)]
    assert shards == [list(range(0, 8)), list(range(53, 60))]
    assert len(busiest_shard(kept, 8, strided=True)) == 8  # chip 0: experts 0, 8, ..., 56
    w = load_workload("qwen1_5_moe_a2_7b", ["workload.expert_parallel=8", "workload.layers=2"])
    g = build_workload(w.model, w.params)
    held = {e for op in g.ops if op.kind is OpKind.MATMUL and ".layers.1." in op.name
            for e in op.attrs.get("experts", ())}
    assert held == set(range(0, 60, 8)) and len(held) == 8
