"""Mixture of experts (``hf`` Mixtral / Qwen2-MoE): params, routing, capacity, decode weights, expert parallelism."""

from __future__ import annotations

import math

import pytest

from accelsim.builders import build_workload
from accelsim.builders.moe import Routing, expert_loads
from accelsim.config import load_workload
from accelsim.errors import WorkloadError
from accelsim.ir import Gemm, OpKind

H, F, E = 4096, 14336, 8  # Mixtral-8x7B hidden, expert width, experts
# Mixtral-8x7B (mistralai/Mixtral-8x7B-v0.1; Mistral AI: 46.7 B total, 12.9 B active): embeddings + untied head
# 2·32000·h, per layer attention h·(32 + 16)·128 + h², router 8h, norms 2h, 8 experts of 3·h·f; final norm h.
MIXTRAL_DENSE = 2 * 32000 * H + 32 * (H * 48 * 128 + H * H + 8 * H + 2 * H) + H
MIXTRAL_TOTAL = MIXTRAL_DENSE + 32 * E * 3 * H * F
MIXTRAL_ACTIVE = MIXTRAL_DENSE + 32 * 2 * 3 * H * F
# Qwen1.5-MoE-A2.7B (Qwen: 14.3 B total, 2.7 B activated): q/k/v biased, router 60h, 60 experts of 3·h·1408,
# shared expert 3·h·5632 and its gate h.
QH = 2048
QWEN_DENSE = 2 * 151936 * QH + 24 * (4 * QH * QH + 3 * QH + 60 * QH + 3 * QH * 5632 + QH + 2 * QH) + QH
QWEN_TOTAL = QWEN_DENSE + 24 * 60 * 3 * QH * 1408
QWEN_ACTIVE = QWEN_DENSE + 24 * 4 * 3 * QH * 1408


def _graph(name: str, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, "seq_len": 1, **params})


def test_mixtral_total_and_active_params():
    assert (MIXTRAL_TOTAL, MIXTRAL_ACTIVE) == (46_702_792_704, 12_879_925_248)
    moe = _graph("mixtral_8x7b").meta["moe"]
    assert (moe["total_params"], moe["active_params"]) == (MIXTRAL_TOTAL, MIXTRAL_ACTIVE)


def test_qwen_moe_total_and_active_params():
    assert round(QWEN_TOTAL / 1e9, 1) == 14.3 and round(QWEN_ACTIVE / 1e9, 1) == 2.7
    g = _graph("qwen1_5_moe_a2_7b")
    assert (g.meta["moe"]["total_params"], g.meta["moe"]["active_params"]) == (QWEN_TOTAL, QWEN_ACTIVE)
    assert "model.layers.0.mlp.shared_expert.gate_proj" in g


def test_balanced_skewed_and_capacity():
    assert expert_loads(10, 2, 4, Routing()).kept == (5, 5, 5, 5)
    # Zipf 1: shares 1, 1/2, 1/3, 1/4 of 20 = 9.6, 4.8, 3.2, 2.4 → floors 9, 4, 3, 2 + the two largest remainders
    skewed = Routing("skewed", 1.0)
    assert expert_loads(10, 2, 4, skewed) == expert_loads(10, 2, 4, skewed)
    assert expert_loads(10, 2, 4, skewed).kept == (10, 5, 3, 2)
    # capacity ⌈1.0 · 20 / 4⌉ = 5: expert 0 keeps 5 of 10
    loads = expert_loads(10, 2, 4, Routing("skewed", 1.0, capacity_factor=1.0))
    assert (loads.kept, loads.dropped, loads.capacity) == ((5, 5, 3, 2), 5, 5)
    # a token picks distinct experts: no expert gets more than the tokens, the excess spreads over the others
    steep = expert_loads(10, 2, 4, Routing("skewed", 4.0)).kept
    assert steep[0] == 10 and sum(steep) == 20
    assert expert_loads(3, 2, 4, Routing("counts", counts=(3, 0, 2, 1))).kept == (3, 0, 2, 1)
    # counts are shares of each pass's assignments (probe p114 #2): (4, 0, 1, 1) of 3 × 2 = 6 gives expert 0 its 4,
    # above the 3 tokens (a token picks an expert once): capped at 3, the 1 left split 1 : 1 over experts 2 and 3
    # (0.5 each, a tie: the lower index), as skewed routing's cap does
    assert expert_loads(3, 2, 4, Routing("counts", counts=(4, 0, 1, 1))).kept == (3, 0, 2, 1)
    with pytest.raises(WorkloadError, match="expert_counts"):  # 3 experts' counts for 4 experts
        expert_loads(3, 2, 4, Routing("counts", counts=(4, 1, 1)))


def _expert_weight_bytes(g, layer: str) -> int:
    return sum(op.weight_bytes for op in g.ops if op.name.startswith(layer) and op.attrs.get("experts"))


def test_decode_reads_only_the_experts_hit():
    g = _graph("mixtral_8x7b", phase="decode", kv_len=64, dtype="bf16")
    # batch 1, top-2: two experts' three matrices are read, the other six only held
    assert _expert_weight_bytes(g, "model.layers.0.") == 2 * 3 * H * F * 2
    assert g.meta["moe"]["experts_hit"] == 2
    idle = g["model.layers.0.block_sparse_moe.idle_experts"]
    assert idle.kind is OpKind.RESHAPE and len(idle.weights) == 6 * 3
    assert g.params == MIXTRAL_TOTAL  # held weights still count
    g16 = _graph("mixtral_8x7b", phase="decode", kv_len=64, batch=16, dtype="bf16")
    assert _expert_weight_bytes(g16, "model.layers.0.") == E * 3 * H * F * 2  # 32 assignments hit all 8


def test_expert_parallel_all_to_all_bytes():
    g = _graph("mixtral_8x7b", seq_len=16, expert_parallel=8, dtype="bf16")
    a2a = [op for op in g.ops if op.kind is OpKind.COLLECTIVE and op.fn == "all_to_all"]
    assert len(a2a) == 2 * 32 and all(op.group == 8 for op in a2a)
    # 8 chips × 16 tokens × top-2 = 256 assignments, 32 per expert; this chip holds expert 0: it receives 32 rows
    # and sends back its share of 16 · 2 = 32 routed rows, each h bf16 values
    assert {op.out_bytes for op in a2a} == {32 * H * 2}
    assert g.params == MIXTRAL_DENSE + 32 * 3 * H * F  # one expert per chip
    assert g.meta["model_params"] == MIXTRAL_TOTAL
    # training keeps the refusal (Megatron-Core gives every rank as many experts); inference takes it since probe
    # p250 #3 (vLLM's determine_expert_map: ranks below 8 mod 3 = 2 hold 3 experts, the last 2)
    with pytest.raises(Exception, match=r"workload.expert_parallel: must divide the experts \(8\) in training"):
        load_workload("mixtral_8x7b", ["workload.expert_parallel=3", "workload.mode=training"])
    assert load_workload("mixtral_8x7b", ["workload.expert_parallel=3"]).params["expert_parallel"] == 3


def test_eight_gpu_expert_parallel_run_moves_the_hand_computed_all_to_all_bytes():
    from accelsim.api import simulate

    # Mixtral-8x7B over the 8 H100s of dgx-h100, one expert per GPU (EP 8, no tensor parallelism), bf16, balanced
    # routing, 16 prompt tokens per GPU. Convention (docs/architecture.md, builders/moe.py): each MoE layer has a
    # dispatch and a combine all-to-all whose size is the rows this GPU receives; the collective puts (EP − 1)/EP
    # of that size on each GPU's link per direction (the 1/EP share routed to its own expert stays local).
    tokens, top_k, ep, nbytes, layers = 16, 2, 8, 2, 32
    # dispatch: 16 tokens × top-2 = 32 token copies of h bf16 values leave each GPU, 1/8 of them to itself;
    # balanced, each GPU's expert receives as many (8 GPUs × 32 / 8 experts = 32 rows)
    dispatch = tokens * top_k * H * nbytes * (ep - 1) // ep
    assert dispatch == 229_376
    combine = dispatch  # the expert outputs go back to the tokens' GPUs: the same rows the other way
    r = simulate(load_workload("mixtral_8x7b", ["workload.seq_len=16", "workload.expert_parallel=8",
                                                "workload.dtype=bf16"]), "dgx-h100").to_dict()
    assert r["arch"]["chips"] == ep
    a2a = {op["name"]: op["bytes"]["link"] for op in r["ops"] if op.get("fn") == "all_to_all"}
    assert len(a2a) == 2 * layers
    assert a2a["model.layers.0.block_sparse_moe.all_to_all_dispatch"] == dispatch
    assert a2a["model.layers.31.block_sparse_moe.all_to_all_combine"] == combine
    # the run's link traffic is the all-to-alls alone (no tensor parallelism): 32 layers × (dispatch + combine)
    assert r["bytes"]["link"] == sum(a2a.values()) == layers * (dispatch + combine) == 14_680_064


def test_report_has_moe_and_passes_schema():
    from accelsim.api import simulate
    from accelsim.report import schema

    cfg = {"architectures": ["MixtralForCausalLM"], "hidden_size": 128, "intermediate_size": 256,
           "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256,
           "num_local_experts": 4, "num_experts_per_tok": 2}
    r = simulate({"model": "hf", "config": cfg, "seq_len": 8, "moe_routing": "skewed", "moe_skew": 1.0}, "h100")
    d = r.to_dict()
    # 8 tokens × top-2 = 16 over Zipf shares 12/25 · (1, 1/2, 1/3, 1/4) = 7.68, 3.84, 2.56, 1.92 → 8, 4, 2, 2
    assert d["moe"]["tokens_per_expert"] == [8, 4, 2, 2]
    assert schema.problems(d) == []


def test_idle_experts_are_stored_in_the_weight_dtype():
    # a decode step of one token reads 6 of DeepSeek-V2-Lite's 64 experts and holds the other 58 unread; with int4
    # weights every expert is stored in int4 (a serving run's weight footprint and placement count them), so the
    # decode graph holds exactly the weight bytes of a prompt that runs every expert (64 tokens × top-6, balanced)
    w = load_workload("deepseek_v2_lite")
    common = {**w.params, "layers": 2, "weight_dtype": "int4", "dtype": "bf16"}
    decode = build_workload(w.model, {**common, "phase": "decode", "kv_len": 16})
    prompt = build_workload(w.model, {**common, "seq_len": 64})
    assert any(op.name.endswith("idle_experts") for op in decode.ops)
    assert not any(op.name.endswith("idle_experts") for op in prompt.ops)
    assert decode.weight_bytes == prompt.weight_bytes
    idle = next(op for op in decode.ops if op.name.endswith("idle_experts"))
    assert {w.dtype for w in idle.weights} == {"int4"} and "dequant" not in idle.attrs  # held, not computed on


# A two-layer Mixtral of the same form (4 experts, top-2) for runs on several chips.
TINY = {"architectures": ["MixtralForCausalLM"], "hidden_size": 128, "intermediate_size": 256,
        "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256,
        "num_local_experts": 4, "num_experts_per_tok": 2}


def test_expert_parallel_chips_sit_tensor_parallel_apart():
    from accelsim.api import simulate
    from accelsim.errors import ConfigError

    # Megatron's rank order (tensor, context, expert, data): with TP 8 the two chips of an EP-2 group are 8 apart,
    # so the group spans 16 chips, two DGX nodes of 8: its all-to-alls cross InfiniBand, on the NIC
    g = _graph("mixtral_8x7b", seq_len=16, tensor_parallel=8, expert_parallel=2)
    a2a = [op for op in g.ops if op.kind is OpKind.COLLECTIVE and op.fn == "all_to_all"]
    assert a2a and {(op.group, op.attrs["extent"]) for op in a2a} == {(2, 16)}
    tiny = {"model": "hf", "config": {**TINY, "num_attention_heads": 8, "num_key_value_heads": 8}, "seq_len": 16,
            "tensor_parallel": 8, "expert_parallel": 2}
    r = simulate(tiny, {"base": "dgx-h100", "chips": 16}).to_dict()
    assert {op["unit"] for op in r["ops"] if op.get("fn") == "all_to_all"} == {"nic"}
    # EP 2 × TP 8 is 16 chips: one DGX node has 8
    with pytest.raises(ConfigError, match="workload.tensor_parallel: hf: tensor_parallel × expert_parallel = 8 × 2 = 16 "
                                          "chips"):
        simulate(tiny, "dgx-h100")


def _steps(ep: int):
    from accelsim.api import simulate

    r = simulate({"model": "hf", "config": TINY, "seq_len": 16, "mode": "training", "expert_parallel": ep,
                  "dtype": "bf16"}, "dgx-h100").to_dict()
    steps = [op for op in r["ops"] if op["kind"] == "optimizer"]
    return ([op for op in steps if ".experts." in op["name"]], [op for op in steps if ".experts." not in op["name"]])


def test_an_experts_gradient_is_reduced_over_the_chips_holding_it():
    # 8 GPUs, no tensor parallelism: 8 data-parallel chips. With EP 4 each expert sits on 8 / 4 = 2 of them
    # (Megatron's expert data-parallel group), so its gradient's ring all-reduce sends 2·(2−1)/2 = 1× its bytes;
    # a dense parameter's, over all 8, 2·7/8 of them. Experts are 2 × 128 × 256 (gate, up, down), bf16, their
    # gradients fp32 (probe p117 #1: Megatron-LM's rule for bf16), 4 B an element.
    experts, dense = _steps(4)
    expert_bytes = 128 * 256 * 4
    assert len(experts) == 2 * 1 * 3  # 2 layers × the chip's 4 / 4 = 1 expert × 3 projections
    assert {op["bytes"]["link"] for op in experts} == {expert_bytes}
    q = next(op for op in dense if op["name"].endswith("layers.0.self_attn.q_proj.weight.step"))
    assert q["bytes"]["link"] == 128 * 128 * 4 * 2 * 7 // 8


def test_an_expert_on_one_chip_is_not_reduced_and_its_state_not_sharded():
    from accelsim.api import simulate

    # 4 GPUs, EP 4: each of the 4 experts on one GPU; with the distributed optimizer a dense parameter's Adam
    # state is split 4 ways and reduce-scattered, an expert's kept whole and not reduced
    r = simulate({"model": "hf", "config": TINY, "seq_len": 16, "mode": "training", "expert_parallel": 4,
                  "dtype": "bf16"}, {"base": "dgx-h100", "chips": 4}, distributed_optimizer=True).to_dict()
    steps = {op["name"]: op for op in r["ops"] if op["kind"] == "optimizer"}
    gate = steps["model.layers.0.block_sparse_moe.experts.0.w1.weight.step"]
    assert "link" not in gate["bytes"] and "reduce_scatter_s" not in gate["mapping"]
    q = steps["model.layers.0.self_attn.q_proj.weight.step"]
    # reduce-scatter of the fp32 gradient (probe p117 #1), all-gather of the bf16 parameter
    assert q["bytes"]["link"] == 128 * 128 * 4 * 3 // 4 + 128 * 128 * 2 * 3 // 4


def test_training_expert_parallel_must_divide_the_data_parallel_chips():
    from accelsim.api import simulate
    from accelsim.errors import MappingError

    with pytest.raises(MappingError, match=r"expert_parallel \(4\) must divide the data-parallel chips \(6"):
        simulate({"model": "hf", "config": TINY, "seq_len": 16, "mode": "training", "expert_parallel": 4},
                 {"base": "dgx-h100", "chips": 6})


def test_context_parallel_runs_the_experts_on_the_chips_tokens():
    # CP 2 over a 64-token prompt: each chip routes its 32 tokens (× top-2 = 64 assignments, 16 per expert of 4);
    # with EP 2 and TP 2 the expert group's chips are TP × CP = 4 apart, spanning 8
    cfg = {"config": TINY, "seq_len": 64, "attention": "fused", "context_parallel": 2}
    g = build_workload("hf", cfg)
    assert g.meta["moe"]["tokens_per_expert"] == [16, 16, 16, 16]
    g = build_workload("hf", {**cfg, "tensor_parallel": 2, "expert_parallel": 2})
    a2a = [op for op in g.ops if op.kind is OpKind.COLLECTIVE and op.fn == "all_to_all"]
    assert a2a and {(op.group, op.attrs["extent"]) for op in a2a} == {(2, 8)}


@pytest.mark.parametrize(("name", "shared"), [("deepseek_v2_lite", "add_shared_experts"),
                                              ("qwen1_5_moe_a2_7b", "add_shared_expert")])
def test_a_moe_layer_with_a_shared_expert_all_reduces_once(name, shared):
    # vLLM (DeepseekV2MoE, Qwen2MoeSparseMoeBlock) builds the shared expert with reduce_results=False: the routed
    # experts' combine and the shared expert's row-parallel partial sums are added, then all-reduced once.
    # DeepSeek-V2-Lite cut to 2 layers: layer 0 dense (first_k_dense_replace 1), layer 1 MoE; Qwen1.5-MoE: both MoE.
    tokens, hidden, tp = 16, 2048, 2
    g = _graph(name, layers=2, seq_len=tokens, tensor_parallel=tp, dtype="bf16", attention="fused")
    reduces = [op for op in g.ops if op.kind is OpKind.COLLECTIVE and op.fn == "all_reduce"]
    for i in (0, 1):
        mine = [op for op in reduces if op.name.startswith(f"model.layers.{i}.")]
        # per layer: the attention's o_proj all-reduce 1 + the MLP's (dense or MoE) 1 = 2
        assert len(mine) == 2, [op.name for op in mine]
    moe = g[f"model.layers.1.mlp.{shared}_all_reduce"]
    assert moe.group == tp
    # it reduces the sum of the routed experts' combine and the shared expert's partial output: its input is the
    # add, which reads the combine directly (no collective in between)
    assert tuple(moe.inputs) == (f"model.layers.1.mlp.{shared}",)
    assert "model.layers.1.mlp.combine" in g[moe.inputs[0]].inputs
    # bytes: 16 tokens × 2048 hidden × 2 bytes (bf16) = 65,536
    assert moe.out_bytes == tokens * hidden * 2 == 65_536
    # no other collective in the MoE block (no all-to-all without expert parallelism)
    assert [op.name for op in g.ops if op.kind is OpKind.COLLECTIVE and ".mlp." in op.name
            and op.name.startswith("model.layers.1.")] == [moe.name]


def test_experts_spread_whole_over_the_tensor_parallel_chips():
    # expert_tensor_parallel 1 with TP 4 (vLLM's --enable-expert-parallel on one node): the 4 experts are whole,
    # one a chip, where the default splits each expert's 256-wide FFN into 4 slices of 64 on every chip. The
    # chip's parameters are the same count either way: 4 experts × 3 × 128 × 256 / 4 chips
    cfg = {**TINY, "num_attention_heads": 4, "num_key_value_heads": 4}
    base = {"config": cfg, "seq_len": 16, "tensor_parallel": 4}
    split = build_workload("hf", base)
    spread = build_workload("hf", {**base, "expert_tensor_parallel": 1})
    assert split.params == spread.params
    gemms = {op.name.rsplit(".", 1)[-1]: op.gemm for op in spread.ops if ".experts_" in op.name and op.gemm}
    # 16 tokens × top-2 = 32 assignments, 8 per expert (balanced); this chip's expert 0 gets its 8 rows
    assert gemms["w1"] == Gemm(m=8, n=256, k=128, count=1) and gemms["w2"] == Gemm(m=8, n=128, k=256, count=1)
    assert {op.gemm for op in split.ops if op.name.endswith(".w1")} == {Gemm(m=8, n=64, k=128, count=4)}
    dispatch = next(op for op in spread.ops if op.name.endswith("block_sparse_moe.dispatch"))
    assert dispatch.out_shape == (1, 8, 128)
    # one all-reduce a MoE layer (the experts' shares summed) and none of them an all-to-all
    layer0 = [op for op in spread.ops if op.kind is OpKind.COLLECTIVE and ".layers.0.block_sparse_moe" in op.name]
    assert [op.fn for op in layer0] == ["all_reduce"]


@pytest.mark.parametrize("params, why", [
    ({"tensor_parallel": 4, "expert_tensor_parallel": 2}, r"expert_tensor_parallel\n.*1 \(experts whole"),
    ({"tensor_parallel": 2, "expert_tensor_parallel": 1, "expert_parallel": 2}, "not modelled"),
    ({"tensor_parallel": 8, "expert_tensor_parallel": 1}, "must divide the experts"),
])
def test_expert_tensor_parallel_settings_it_does_not_model_are_refused(params, why):
    cfg = {**TINY, "num_attention_heads": 8, "num_key_value_heads": 8}
    with pytest.raises(Exception, match=why):
        build_workload("hf", {"config": cfg, "seq_len": 16, **params})


def test_balanced_routing_shares_a_small_batchs_experts_over_the_chips():
    # DeepSeek-V2-Lite (64 routed experts, top-6), a decode step of 4 sequences: 24 assignments, balanced, hit
    # experts 0-23 once each. Spread over 2 tensor-parallel chips, the simulated chip holds every 2nd expert (0, 2,
    # ..., 62), 12 of them hit, as a random routing would share them; all 24 on one chip would double its reads
    w = load_workload("deepseek_v2_lite")
    common = {**w.params, "layers": 2, "phase": "decode", "kv_len": 64, "batch": 4, "dtype": "bf16"}
    g = build_workload(w.model, {**common, "tensor_parallel": 2, "expert_tensor_parallel": 1})
    # the group's scope says it holds every 2nd expert (probe p114 #5: experts_0_22 read as 23 experts)
    hit = {op.gemm.count for op in g.ops if op.name.endswith("1.mlp.experts_0_22_step2.gate_proj")}
    assert hit == {12}
    # expert parallelism over 2 chips: the group's 8 sequences give 48 assignments, experts 0-47; the chip's
    # experts 0, 2, ..., 62 include 24 of them (contiguous 0-31 would be 32)
    g = build_workload(w.model, {**common, "expert_parallel": 2})
    assert sum(op.gemm.count for op in g.ops if ".layers.1.mlp.experts_" in op.name and op.name.endswith(
        "gate_proj")) == 24


def _moe_collectives(g, layer: int = 0) -> dict[str, object]:
    """name suffix → op of the collectives and the token shard of MoE layer ``layer`` (and its shared expert)."""
    return {op.name.split(f"layers.{layer}.", 1)[1]: op for op in g.ops
            if op.name.startswith(f"model.layers.{layer}.") and op.phase in (None, "forward")
            and (op.kind is OpKind.COLLECTIVE and "self_attn" not in op.name or op.name.endswith("token_shard"))}


def test_tensor_and_expert_parallel_dispatch_each_token_once():
    # TP 2 × EP 2, a 16-token prompt, bf16, TINY (hidden 128, 4 experts of width 256, top-2), balanced routing.
    # Every chip of a tensor-parallel group holds the same 16 tokens; it takes its 16 / 2 = 8 (Megatron-Core's
    # sequence-parallel shard, vLLM's sequence-parallel MoE) and dispatches them once, not once per TP rank.
    # The EP group's assignments: 2 TP groups × 16 tokens × top-2 = 64, 16 per expert; the chip holds 4 / 2 = 2
    # experts (0 and 2, strided), 32 assignments, half of them from its TP rank's shards (the other half reach
    # its TP partner, which holds the other half of the same experts' width).
    h, nbytes, tp = 128, 2, 2
    g = build_workload("hf", {"config": TINY, "seq_len": 16, "dtype": "bf16", "tensor_parallel": tp,
                              "expert_parallel": 2})
    ops = _moe_collectives(g)
    assert list(ops) == ["token_shard", "block_sparse_moe.all_to_all_dispatch", "block_sparse_moe.experts_all_gather",
                         "block_sparse_moe.experts_reduce_scatter", "block_sparse_moe.all_to_all_combine",
                         "block_sparse_moe.combine_all_gather"]
    assert ops["token_shard"].out_shape == (1, 16 // tp, h)
    # dispatch: 8 tokens × top-2 = 16 rows sent (before: all 16 tokens, 32 rows); 2 experts × 16 / TP 2 = 16 received
    a2a = ops["block_sparse_moe.all_to_all_dispatch"]
    assert a2a.in_bytes == 8 * 2 * h * nbytes == 4096 and a2a.out_bytes == 2 * 16 // tp * h * nbytes == 4096
    assert (a2a.group, a2a.attrs["extent"]) == (2, 4)
    # the width-split experts need all 32 rows of their experts: all-gathered over the TP group, 16 → 32 rows
    ag = ops["block_sparse_moe.experts_all_gather"]
    assert ag.group == tp and ag.in_bytes == 4096 and ag.out_bytes == 32 * h * nbytes == 8192
    assert {op.gemm for op in g.ops if op.name == "model.layers.0.block_sparse_moe.experts_0_2_step2.w1"} == {
        Gemm(m=16, n=256 // tp, k=h, count=2)}
    # their partial sums (32 rows) reduce-scattered back to the 16 rows of this rank's shards, then sent home
    rs = ops["block_sparse_moe.experts_reduce_scatter"]
    assert rs.in_bytes == 8192 and rs.out_bytes == 4096
    assert ops["block_sparse_moe.all_to_all_combine"].out_bytes == 16 * h * nbytes
    # the combine sums each of the 8 tokens' 2 outputs; the shards are gathered back: 8 → 16 tokens, and no
    # all-reduce (the reduce-scatter completed the sums)
    assert g["model.layers.0.block_sparse_moe.combine"].out_shape == (1, 8, h)
    assert ops["block_sparse_moe.combine_all_gather"].out_bytes == 16 * h * nbytes
    assert g.meta["moe"]["token_shards"] == tp and g.meta["moe"]["tokens"] == 2 * 16


def test_without_both_parallelisms_every_chip_routes_every_token():
    # EP 2 alone: the chip's 16 tokens × top-2 = 32 rows sent; TP 2 alone: no all-to-all, one all-reduce of the
    # 16 tokens' combine (each expert's width split); neither shards the tokens
    h, nbytes = 128, 2
    ep = _moe_collectives(build_workload("hf", {"config": TINY, "seq_len": 16, "dtype": "bf16",
                                                "expert_parallel": 2}))
    assert list(ep) == ["block_sparse_moe.all_to_all_dispatch", "block_sparse_moe.all_to_all_combine"]
    assert ep["block_sparse_moe.all_to_all_dispatch"].in_bytes == 16 * 2 * h * nbytes
    g = build_workload("hf", {"config": TINY, "seq_len": 16, "dtype": "bf16", "tensor_parallel": 2})
    tp = _moe_collectives(g)
    assert list(tp) == ["block_sparse_moe.combine_all_reduce"]
    assert tp["block_sparse_moe.combine_all_reduce"].out_bytes == 16 * h * nbytes
    assert g.meta["moe"]["token_shards"] == 1


def test_sequence_parallel_moe_keeps_the_token_shards():
    # sequence_parallel with TP 2: the MoE block's input is already the chip's 8 of 16 tokens (the norm ran on
    # the shard), so there is no token_shard view and no closing all-gather: the output stays a shard; the
    # all-to-alls carry the same 16 rows as without it
    h = 128
    cfg = {"config": TINY, "seq_len": 16, "dtype": "bf16", "tensor_parallel": 2, "sequence_parallel": True}
    g = build_workload("hf", {**cfg, "expert_parallel": 2})
    ops = _moe_collectives(g)
    assert list(ops) == ["block_sparse_moe.all_to_all_dispatch", "block_sparse_moe.experts_all_gather",
                         "block_sparse_moe.experts_reduce_scatter", "block_sparse_moe.all_to_all_combine"]
    assert ops["block_sparse_moe.all_to_all_dispatch"].in_shapes[0] == (1, 16, h)
    assert g["model.layers.0.block_sparse_moe.combine"].out_shape == (1, 8, h)
    assert g.meta["moe"]["tokens"] == 2 * 16  # the EP group's tokens, as without sequence parallelism
    # without expert parallelism the block is a tensor-parallel one: the 8-token shards all-gathered (16 tokens
    # routed on every chip) and the combine's partial sums reduce-scattered back, where plain TP all-reduces
    ops = _moe_collectives(build_workload("hf", cfg))
    assert list(ops) == ["post_attention_layernorm_all_gather", "block_sparse_moe.combine_reduce_scatter"]
    assert ops["post_attention_layernorm_all_gather"].out_shape == (1, 16, h)
    assert ops["block_sparse_moe.combine_reduce_scatter"].out_shape == (1, 8, h)


@pytest.mark.parametrize("sp", [False, True])
def test_a_shared_expert_beside_token_shards_is_a_tensor_parallel_mlp(sp):
    # DeepSeek-V2-Lite's layer 1 (MoE, hidden 2048) at TP 2 × EP 2, 16 tokens: the routed experts' output is
    # complete after their reduce-scatter, so the shared expert is reduced on its own (Megatron-Core's
    # SharedExpertMLP): an all-reduce of 16 × 2048, or with sequence parallelism an all-gather of the shard
    # before it and a reduce-scatter after; the two outputs are added
    g = _graph("deepseek_v2_lite", layers=2, seq_len=16, tensor_parallel=2, expert_parallel=2, dtype="bf16",
               sequence_parallel=sp, attention="fused")
    ops = _moe_collectives(g, 1)
    shared = [k for k in ops if ".shared_experts." in k]
    assert shared == (["mlp.shared_experts.post_attention_layernorm_all_gather",
                       "mlp.shared_experts.down_proj_reduce_scatter"] if sp else
                      ["mlp.shared_experts.down_proj_all_reduce"])
    add = g["model.layers.1.mlp.add_shared_experts"]
    assert add.out_shape == (1, 8 if sp else 16, 2048)
    assert not [k for k in ops if k.endswith("add_shared_experts_all_reduce")]


def test_training_with_tensor_and_expert_parallel_needs_sequence_parallel():
    # Megatron-Core's TransformerConfig: "When using expert parallelism and tensor parallelism, sequence
    # parallelism must be used"
    from accelsim.errors import ConfigError

    with pytest.raises(ConfigError, match="needs sequence_parallel: true"):
        load_workload("mixtral_8x7b", ["workload.mode=training", "workload.tensor_parallel=2",
                                       "workload.expert_parallel=2"])
    g = build_workload("hf", {"config": TINY, "seq_len": 16, "dtype": "bf16", "tensor_parallel": 2,
                              "expert_parallel": 2, "sequence_parallel": True, "mode": "training"})
    # the TP-group transitions' gradients mirror them: the all-gather's a reduce-scatter and back
    grads = {op.name.rsplit(".", 2)[-2]: op for op in g.ops if op.phase == "backward" and op.name.startswith(
        "model.layers.0.block_sparse_moe.") and op.kind is OpKind.COLLECTIVE}
    assert {k: o.fn for k, o in grads.items()} == {"all_to_all_combine": "all_to_all",
                                                   "experts_reduce_scatter": "all_gather",
                                                   "experts_all_gather": "reduce_scatter",
                                                   "all_to_all_dispatch": "all_to_all"}
    assert grads["experts_all_gather"].in_shapes[0] == (1, 32, 128)


def test_tensor_and_expert_parallel_run_moves_the_hand_computed_link_bytes():
    from accelsim.api import simulate

    # the TP 2 × EP 2 case above on 4 H100s of a DGX (TP pairs 0-1 and 2-3, EP pairs 0-2 and 1-3): each
    # all-to-all puts the (EP − 1)/EP = 1/2 of its 4096 B that leave the chip on its link (before: 8192 B, all 16
    # tokens' 32 rows); a ring all-gather or reduce-scatter of a tensor of S bytes over t chips sends (t − 1)/t · S:
    # the experts' 8192 B → 4096 B, the combined shards' 16 × 128 × 2 = 4096 B → 2048 B. Since probe p250 #1 a
    # prefill's all-to-alls send a token once per destination rank (DeepEP's normal mode), not once per expert:
    # 4 experts, 2 a rank, top-2: a token misses a rank with C(2, 2) / C(4, 2) = 1/6, so it goes to 2 · 5/6 = 5/3
    # ranks, and the 16 routed rows become ⌈16 · (5/3) / 2⌉ = 14 rows of 256 B, 3584 B, half on the link: 1792 B
    # (before: 2048 B)
    per_rank = math.ceil(16 * (2 * (1 - 1 / 6)) / 2) * 128 * 2 // 2
    assert per_rank == 1792
    r = simulate({"model": "hf", "config": TINY, "seq_len": 16, "dtype": "bf16", "tensor_parallel": 2,
                  "expert_parallel": 2}, {"base": "dgx-h100", "chips": 4}).to_dict()
    link = {op["name"].rsplit(".", 1)[1]: op["bytes"]["link"] for op in r["ops"]
            if op["name"].startswith("model.layers.0.block_sparse_moe.") and op["kind"] == "collective"}
    assert link == {"all_to_all_dispatch": per_rank, "experts_all_gather": 8192 // 2,
                    "experts_reduce_scatter": 8192 // 2, "all_to_all_combine": per_rank,
                    "combine_all_gather": 4096 // 2}
    assert r["moe"]["token_shards"] == 2 and r["moe"]["experts_spread"] == 1


def test_a_decode_steps_uneven_token_shards_dispatch_the_simulated_chips_tokens():
    # a decode step of 3 sequences at TP 2 × EP 2: the TP group's 3 tokens split 2 + 1, the simulated chip holds
    # ⌈3 / 2⌉ = 2 and dispatches their 2 × top-2 = 4 rows (the EP group's 6 tokens × 2 = 12 assignments, of which
    # this chip's 2 of 6 tokens route 12 · 2 / 6 = 4); the combined shards gather back to the 3 sequences
    g = build_workload("hf", {"config": TINY, "phase": "decode", "kv_len": 8, "batch": 3, "dtype": "bf16",
                              "tensor_parallel": 2, "expert_parallel": 2})
    ops = _moe_collectives(g)
    assert ops["token_shard"].out_shape == (1, 2, 128)
    assert ops["block_sparse_moe.all_to_all_dispatch"].in_shapes[0] == (1, 4, 128)
    assert ops["block_sparse_moe.combine_all_gather"].out_shape == (3, 1, 128)


def test_an_expert_tensor_parallel_it_cannot_take_says_its_value_once():
    # the key's own value is the error's one "(got 3)"; the message names the values it takes
    from accelsim.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        load_workload("mixtral_8x7b", ["workload.tensor_parallel=2", "workload.expert_tensor_parallel=3"])
    (issue,) = e.value.issues
    assert issue.key == "workload.expert_tensor_parallel" and issue.value == 3
    assert str(issue).endswith("or tensor_parallel (2, the default) (got 3)") and str(issue).count("got") == 1
