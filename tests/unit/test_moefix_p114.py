"""Probe p114 (mixture-of-experts LLMs): the fp8 combine's dtype, expert_counts over several passes, the capacity
note, DeepSeek's group-limited routing keys, and the strided expert groups' names."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.builders.hfconfig import parse, parse_all
from accelsim.builders.moe import Routing, _group_tag, expert_loads
from accelsim.builders.precision import moves_gemm_output
from accelsim.config import load_workload
from accelsim.errors import KeyPairError
from accelsim.ir import OpKind

H = 4096  # Mixtral-8x7B's hidden size (8 experts, top-2)


def _run(*sets: str, arch: str = "dgx-h100") -> dict:
    from accelsim.api import simulate

    return simulate(load_workload("mixtral_8x7b", ["workload.attention=fused", "workload.layers=1", *sets]),
                    arch).to_dict()


def _rows(report: dict) -> dict[str, dict]:
    return {op["name"].rsplit(".", 1)[1]: op for op in report["ops"]
            if op["name"].startswith("model.layers.0.") and op["kind"] == "collective"}


# ---- #1: the combine carries the experts' 16-bit output -------------------------------------------------------
def test_fp8_dispatch_and_bf16_combine_on_mixtral_ep8():
    # Mixtral EP 8 on dgx-h100, prefill 512 a chip, balanced: 512 tokens × top-2 = 1,024 rows leave each GPU, (8 − 1)
    # / 8 of them over the links. The dispatch moves the fp8 activations (1 B): 1,024 × 4,096 × 1 × 7/8 = 3,670,016 B.
    # The combine moves the experts' down_proj output, which an fp8 GEMM writes in bf16 (2 B), as DeepEP runs it
    # ("FP8 dispatching and BF16 combining"): 1,024 × 4,096 × 2 × 7/8 = 7,340,032 B (before: 3,670,016, fp8).
    # The fp8 rows carry their fp32 scales, one per 128 values (DeepEP's dispatch: "[num_tokens, hidden // 128]
    # torch.float"; probe p250 #2): 4,096 + 32 · 4 = 4,224 B a row, 1,024 × 4,224 × 7/8 = 3,784,704 B (before:
    # 3,670,016, no scales). Mixtral's 8 experts on 8 ranks: a token's 2 experts are on 2 ranks, so sending it once
    # per rank (the prefill's) is 2 rows a token as before
    dispatch, combine = 1024 * (H + H // 128 * 4) * 7 // 8, 1024 * H * 2 * 7 // 8
    assert (dispatch, combine) == (3_784_704, 7_340_032)
    rows = _rows(_run("workload.seq_len=512", "workload.expert_parallel=8", "workload.activation_dtype=fp8"))
    assert rows["all_to_all_dispatch"]["bytes"]["link"] == dispatch
    assert rows["all_to_all_combine"]["bytes"]["link"] == combine
    # at bf16 both move 2 B an element, 7,340,032 B each way (unchanged)
    rows = _rows(_run("workload.seq_len=512", "workload.expert_parallel=8", "workload.activation_dtype=bf16"))
    assert {r["bytes"]["link"] for r in rows.values()} == {combine}


@pytest.mark.parametrize("how", [{"dtype": "bf16", "activation_dtype": "fp8"}, {"dtype": "fp8"}])
def test_tp2_ep4_gathers_the_dispatched_rows_in_their_dtype(how):
    # TP 2 × EP 4, prefill 512, balanced. The EP group's 4 × 512 = 2,048 tokens × top-2 = 4,096 assignments, 512 per
    # expert; a chip holds 8 / 4 = 2 experts, 1,024 rows, half of them (512) from its TP rank's token shard. It sends
    # its shard's 256 tokens × top-2 = 512 rows. In fp8: dispatch 512 rows × 4,096 × 1 B; the all-gather of those
    # very rows to the experts' 1,024, 1 B each (before: 2 B, bf16, twice the dispatch's bytes a row); the
    # reduce-scatter of the partial sums the GEMM writes, bf16: 1,024 rows × 2 B in; the combine returns 512 rows of
    # bf16 (before: fp8). Built in fp8 (dtype) or converted to it from bf16 (activation_dtype): the same
    w = load_workload("mixtral_8x7b")
    g = build_workload(w.model, {**w.params, "layers": 1, "seq_len": 512, "tensor_parallel": 2,
                                 "expert_parallel": 4, "attention": "fused", **how})
    ops = {op.name.rsplit(".", 1)[1]: op for op in g.ops
           if op.kind is OpKind.COLLECTIVE and op.name.startswith("model.layers.0.block_sparse_moe.")}
    assert ops["all_to_all_dispatch"].dtype == "fp8" and ops["all_to_all_dispatch"].out_bytes == 512 * H * 1
    assert ops["experts_all_gather"].dtype == "fp8" and ops["experts_all_gather"].out_bytes == 1024 * H * 1
    assert ops["experts_reduce_scatter"].dtype == "bf16" and ops["experts_reduce_scatter"].in_bytes == 1024 * H * 2
    assert ops["all_to_all_combine"].dtype == "bf16" and ops["all_to_all_combine"].out_bytes == 512 * H * 2


def test_the_rule_reads_what_a_collective_carries():
    assert moves_gemm_output("all_to_all", {"group": 8, "extent": 8, "gemm_output": True})  # a MoE's combine
    assert not moves_gemm_output("all_gather", {"group": 2, "gemm_output": False})  # gathering dispatched rows
    assert not moves_gemm_output("all_to_all", {"group": 8, "extent": 8})  # the dispatch, a context-parallel a2a
    assert not moves_gemm_output("all_reduce", {"group": 8, "keep_dtype": True, "gemm_output": True})  # fp32 stays
    assert moves_gemm_output("all_reduce", {"group": 8})  # a row-split linear's, as before


# ---- #2: expert_counts are shares of each pass's assignments ---------------------------------------------------
def test_one_counts_list_serves_a_prefill_and_its_decode_steps():
    counts = Routing("counts", counts=(512, 512, 0, 0, 0, 0, 0, 0))
    # prefill 512 × top-2 = 1,024 assignments: the counts themselves
    assert expert_loads(512, 2, 8, counts).kept == (512, 512, 0, 0, 0, 0, 0, 0)
    # a decode step's 1 token × top-2 = 2: half each, 1 and 1 (before: an error quoting "= 2")
    assert expert_loads(1, 2, 8, counts).kept == (1, 1, 0, 0, 0, 0, 0, 0)
    # shares 3 : 1 of a serving shape's 16 tokens × 2 = 32: 24 and 8, but a token picks an expert once, so expert
    # 0 takes at most 16 and its 8 more go to expert 1, the one other with a share: 16, 16
    assert expert_loads(16, 2, 8, Routing("counts", counts=(3, 1, 0, 0, 0, 0, 0, 0))).kept == (16, 16, 0, 0, 0, 0, 0, 0)
    # 100 tokens × 2 = 200 over shares 5 : 3 : 2 (of 10): 100, 60, 40, each within the 100 tokens
    assert expert_loads(100, 2, 4, Routing("counts", counts=(5, 3, 2, 0))).kept == (100, 60, 40, 0)
    with pytest.raises(Exception, match="at least top-k = 2 of them above 0"):  # one expert cannot take top-2
        expert_loads(4, 2, 8, Routing("counts", counts=(8, 0, 0, 0, 0, 0, 0, 0)))


def test_counts_under_decode_steps_run():
    # Mixtral, prefill 512 then 2 decode steps with [512, 512, 0, ...]: the prefill routes its 1,024 as given, each
    # decode step its 1 token's 2 assignments 1 and 1 (before: exit 2 at the decode step)
    r = _run("workload.seq_len=512", "workload.decode_steps=2", "workload.moe_routing=counts",
             "workload.expert_counts=[512,512,0,0,0,0,0,0]", arch="h200")
    assert r["moe"]["tokens_per_expert"] == [512, 512, 0, 0, 0, 0, 0, 0]
    assert r["moe"]["decode_step"]["tokens_per_expert"] == [1, 1, 0, 0, 0, 0, 0, 0]


# ---- #3: dropped assignments said in the notes -----------------------------------------------------------------
def test_a_capacity_drop_is_noted_with_its_count_and_share():
    # Mixtral prefill 512, skewed (Zipf 1): 1,024 assignments split ∝ 1, 1/2, ..., 1/8 (H₈ = 761/280): 1,024 · 280 /
    # 761 = 376.8 → 377, 188, 126, 94, 75, 63, 54, 47. Capacity ⌈0.5 · 1,024 / 8⌉ = 64 keeps 64 × 5 + 63 + 54 + 47 =
    # 484 and drops 1,024 − 484 = 540, 540 / 1,024 = 52.7 % → "53%"
    assert 64 * 5 + 63 + 54 + 47 == 484
    r = _run("workload.seq_len=512", "workload.capacity_factor=0.5", "workload.moe_routing=skewed", arch="h200")
    assert r["moe"]["dropped_tokens"] == 540
    notes = [n for n in r["notes"] if n.startswith("moe: ")]
    assert len(notes) == 1
    assert "drops 540 of the 1,024 token-expert assignments (53%: 512 tokens × top-2, routing skewed, capacity 64 " \
           "per expert) in each of the 1 MoE layers" in notes[0]
    # no drop, no note
    assert not [n for n in _run("workload.seq_len=512", arch="h200")["notes"] if n.startswith("moe: ")]


# ---- #4: DeepSeek's n_group / topk_group -----------------------------------------------------------------------
V3 = {"architectures": ["DeepseekV3ForCausalLM"], "num_hidden_layers": 4}  # 256 experts, top-8 by default


@pytest.mark.parametrize("fields, key, text", [
    ({"n_group": 0}, "n_group", "expected an integer ≥ 1 (got 0)"),  # transformers divides by it
    ({"n_group": 3}, "n_group", "3 must divide n_routed_experts (256)"),  # 256 / 3 experts a group
    ({"n_group": 8, "topk_group": 9}, "topk_group", "9 exceeds n_group (8)"),  # topk of 9 among 8 groups
    ({"n_group": 8, "topk_group": 0}, "topk_group", "expected an integer ≥ 1 (got 0)"),
    # 1 group of 256 / 64 = 4 experts, fewer than the 8 a token picks
    ({"n_group": 64, "topk_group": 1}, "topk_group", "breaks topk_group × n_routed_experts / n_group ≥ "
                                                     "num_experts_per_tok"),
])
def test_group_limited_routing_keys_are_checked(fields, key, text):
    with pytest.raises(ValueError) as e:
        parse({**V3, **fields})
    assert str(e.value).startswith(f"{key}: ") and text in str(e.value)
    assert isinstance(e.value, KeyPairError) == ("≥ 1" not in text)  # a rule between keys: at the one set last


def test_group_limited_routing_as_deepseek_v3_writes_it_passes():
    # DeepSeek-V3: 8 groups of 32 experts, 4 picked: 4 × 32 = 128 ≥ top-8; Kimi-K2's 1 group of 384, 1 picked
    assert parse({**V3, "n_group": 8, "topk_group": 4}).moe.experts == 256
    assert parse({**V3, "n_routed_experts": 384, "n_group": 1, "topk_group": 1}).moe.experts == 384
    assert parse({**V3, "n_group": None, "topk_group": None}).moe.experts == 256  # null: greedy routing


# ---- #5: one error for a bad expert count; strided groups named as such ----------------------------------------
def test_a_bad_expert_count_gives_one_problem():
    # DeepSeek-V2 (no default count): n_routed_experts 0 is reported; the top-k rule then tested a stand-in 1
    # ("6 experts per token exceed the model's 1 experts"), which is not the user's value: left out
    v2 = {"architectures": ["DeepseekV2ForCausalLM"], "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128,
          "moe_intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "n_shared_experts": 1,
          "n_routed_experts": 0, "kv_lora_rank": 16, "q_lora_rank": None, "qk_rope_head_dim": 8, "v_head_dim": 16,
          "qk_nope_head_dim": 16, "num_experts_per_tok": 6, "first_k_dense_replace": 1}
    lm, problems = parse_all(v2)
    assert lm is None and problems == [("n_routed_experts", "expected an integer ≥ 1 (got 0)")]


def test_strided_expert_groups_say_their_step():
    # DeepSeek-V3 EP 16, balanced: the chip holds 0, 16, ..., 240, 16 experts (not 241)
    assert _group_tag(list(range(0, 256, 16))) == "experts_0_240_step16"
    assert _group_tag([0, 1, 2, 3]) == "experts_0_3" and _group_tag([5]) == "experts_5"
