"""Probe p119 #5: DeepSeek-V3's group-limited router scores each group by the sum of its two best experts
(transformers' DeepseekV3TopkRouter.get_topk_indices: ``scores_for_choice.view(-1, n_group, n_routed_experts //
n_group).topk(2, dim=-1)[0].sum(dim=-1)``), so a group of one expert cannot be scored: ``n_group`` equal to the
experts is refused at its key; DeepSeek-V2's greedy / group_limited_greedy routing (a group's ``max``) takes it."""

from __future__ import annotations

import pytest

from accelsim.builders.hfconfig import parse
from accelsim.cli import main
from accelsim.errors import KeyPairError

V3 = {"architectures": ["DeepseekV3ForCausalLM"], "num_hidden_layers": 4}  # 256 experts, top-8 by default
V2 = {"architectures": ["DeepseekV2ForCausalLM"], "num_hidden_layers": 4, "n_routed_experts": 64,  # V2-Lite's
      "num_experts_per_tok": 6, "hidden_size": 2048, "intermediate_size": 10944, "moe_intermediate_size": 1408,
      "num_attention_heads": 16, "vocab_size": 102400, "q_lora_rank": None, "kv_lora_rank": 512,
      "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "first_k_dense_replace": 1,
      "n_shared_experts": 2}


def test_groups_of_one_expert_are_refused_for_the_v3_router():
    # 256 experts in 256 groups: 256 / 256 = 1 expert a group, whose top-2 does not exist. (The probe's
    # topk_group 8 passed the other rules: 8 ≤ 256 groups, 8 groups × 1 expert ≥ top-8.)
    with pytest.raises(KeyPairError) as e:
        parse({**V3, "n_group": 256, "topk_group": 8})
    assert str(e.value).startswith("n_group: 256 leaves 1 expert a group of n_routed_experts (256")
    assert "top-2" in str(e.value)


def test_groups_of_two_experts_pass():
    # 128 groups of 256 / 128 = 2 experts, 4 picked: 4 × 2 = 8 ≥ top-8
    assert parse({**V3, "n_group": 128, "topk_group": 4}).moe.experts == 256


@pytest.mark.parametrize("method", [None, "greedy", "group_limited_greedy"])
def test_deepseek_v2_routing_takes_groups_of_one(method):
    # V2's routers take a group's max (group_limited_greedy) or ignore groups (greedy, the default): 64 groups of
    # 64 / 64 = 1 expert, 6 picked: 6 × 1 = 6 ≥ top-6
    fields = {**V2, "n_group": 64, "topk_group": 6, **({"topk_method": method} if method else {})}
    assert parse(fields).moe.experts == 64
    with pytest.raises(KeyPairError):  # V3's noaux_tc written into a V2 config is its router
        parse({**fields, "topk_method": "noaux_tc"})


def test_the_probe_command_is_one_line_with_exit_status_2(capsys):
    assert main(["info", "deepseek_v3", "--set", "workload.layers=4", "--set", "workload.n_group=256", "--set",
                 "workload.topk_group=8"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("accelsim: error: --set: workload.n_group: 256 leaves 1 expert a group")
