"""Tensor-parallel shards of GPTQ / AWQ-style weights (int4 / int8 with a scale per group of K) that cut a group or a
packed word are refused, as vLLM's GPTQ and AWQ linear methods refuse them in ``create_weights``
(vllm-project/vllm vllm/model_executor/layers/quantization/awq.py, gptq.py): ``input_size_per_partition %
group_size != 0`` -> "The input size is not aligned with the quantized weight shape. This can be caused by too
large tensor parallel size.", and ``output_size_per_partition % pack_factor != 0`` (pack_factor = 32 / bits: 8
int4 weights or 4 int8 ones a 32-bit word) -> "The output size is not aligned ..." (probe p196 #1).
"""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_workload
from accelsim.errors import WorkloadError


def _llama(model, *sets):
    w = load_workload(model, ["phase=decode", "layers=1", *sets])
    return build_workload(w.model, w.params)


@pytest.mark.parametrize("model, tp, k", [
    ("llama2_7b", 4, 2752),  # down_proj's K = intermediate 11008 / 4 = 2752 = 21.5 x 128
    ("llama2_7b", 8, 1376),  # 11008 / 8 = 1376 = 10.75 x 128
    ("llama2_13b", 8, 1728),  # 13824 / 8 = 1728 = 13.5 x 128
])
@pytest.mark.parametrize("dtype", ["int4", "int8"])
def test_a_row_split_that_cuts_a_group_is_refused(model, tp, k, dtype):
    with pytest.raises(WorkloadError) as e:
        _llama(model, f"weight_dtype={dtype}", f"tensor_parallel={tp}")
    msg = str(e.value)
    assert e.value.key == ("tensor_parallel",) and "quant_group_size" in e.value.also
    assert f"tensor_parallel {tp} splits model.layers.0.mlp.down_proj's {k * tp} input features into {k} per " \
           f"chip, {k / 128:g} groups of quant_group_size 128" in msg, msg
    assert "The input size is not aligned with the quantized weight shape" in msg


@pytest.mark.parametrize("model, sets, k", [
    ("llama2_7b", ("weight_dtype=int4", "tensor_parallel=2"), 5504),  # 11008 / 2 = 5504 = 43 x 128
    ("llama2_70b", ("weight_dtype=int4", "tensor_parallel=8"), 3584),  # 28672 / 8 = 3584 = 28 x 128
    ("llama2_7b", ("weight_dtype=int4", "tensor_parallel=4", "quant_group_size=64"), 2752),  # 2752 = 43 x 64
    ("llama2_7b", ("weight_dtype=int4", "tensor_parallel=8", "quant_group_size=-1"), 1376),  # a scale per row
    ("llama2_7b", ("weight_dtype=fp8", "tensor_parallel=4"), 2752),  # fp8: no groups of K
])
def test_whole_groups_per_chip_are_accepted(model, sets, k):
    g = _llama(model, *sets)
    assert g["model.layers.0.mlp.down_proj"].weights[0].shape[-1] == k


def test_groups_are_checked_only_on_a_split_k():
    # the column-split q/k/v/gate/up keep K = hidden 4096 whole on every chip (32 groups of 128) and split N; the
    # row-split o_proj and down_proj split K (4096 / 2 = 2048 = 16 groups, 11008 / 2 = 5504 = 43 groups)
    g = _llama("llama2_7b", "weight_dtype=int4", "tensor_parallel=2")
    assert g["model.layers.0.mlp.down_proj"].weights[0].shape == (4096, 5504)
    assert g["model.layers.0.mlp.gate_proj"].weights[0].shape == (5504, 4096)


_TINY = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 256,
         "num_attention_heads": 16, "num_key_value_heads": 16, "num_hidden_layers": 1, "vocab_size": 100}


def test_a_column_split_that_cuts_a_packed_word_is_refused():
    # 16 heads of 64 / 16 = 4: at TP 4, 4 heads of 4 = 16 q_proj outputs a chip (2 words of 8 int4 weights): accepted;
    # at TP 8, 2 heads of 4 = 8 (one word of 8 int4, two of 4 int8): accepted; int4 at TP 16 would be 4 outputs,
    # half a word. Per-row scales (-1) keep the input side out of it (a group = the chip's whole K)
    base = {"config": _TINY, "phase": "decode", "kv_len": 16, "dtype": "bf16", "quant_group_size": -1}
    build_workload("hf", {**base, "weight_dtype": "int4", "tensor_parallel": 8})
    with pytest.raises(WorkloadError) as e:
        build_workload("hf", {**base, "weight_dtype": "int4", "tensor_parallel": 16})
    assert e.value.key == ("tensor_parallel",)
    assert "q_proj 4 output features per chip, not a multiple of the 8 int4 weights packed in a 32-bit word" \
        in str(e.value), str(e.value)
    # int8: 4 a word, so TP 16's 4 q_proj outputs fill one
    build_workload("hf", {**base, "weight_dtype": "int8", "tensor_parallel": 16})


def test_the_probe_command_exits_2_with_one_line(tmp_path, capsys):
    code = main(["run", "-q", "-w", "llama2_7b", "-a", "dgx-h100", "--set", "workload.phase=decode", "--set",
                 "workload.weight_dtype=int4", "--set", "workload.tensor_parallel=4", "--set",
                 "workload.attention=fused", "-o", str(tmp_path / "tp4"), "--no-plots"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("accelsim: error: --set: workload.tensor_parallel: llama2_7b: tensor_parallel 4 splits "
                          "model.layers.0.mlp.down_proj's 11008 input features into 2752 per chip"), err


# probe p205 #1: Qwen2-MoE / Qwen3-Next scale the shared expert by sigmoid(shared_expert_gate) before adding it to the
# routed experts' sum and all-reducing; vLLM's Qwen2MoeMLP builds its down_proj as a RowParallelLinear, so its K is
# split. Qwen1.5-MoE-A2.7B: shared_expert_intermediate_size 5632 / 8 = 704 = 5.5 x 128; Qwen3-Next-80B-A3B:
# 512 / 8 = 64 = 0.5 x 128 (both configs as published on the Hugging Face hub)
@pytest.mark.parametrize("model, k", [("qwen1_5_moe_a2_7b", 704), ("qwen3_next_80b", 64)])
def test_a_gated_shared_experts_down_proj_is_row_split(model, k):
    with pytest.raises(WorkloadError) as e:
        _llama(model, "weight_dtype=int4", "tensor_parallel=8")
    assert f"tensor_parallel 8 splits model.layers.0.mlp.shared_expert.down_proj's {k * 8} input features into {k} " \
           f"per chip, {k / 128:g} groups of quant_group_size 128" in str(e.value), str(e.value)


def test_the_walk_through_a_scaling_reaches_no_column_split_linear():
    # the shared expert's gate_proj / up_proj (K = hidden 2048 whole, N = 5632 / 2 = 2816 a chip) and the replicated
    # shared_expert_gate (2048 -> 1) sit behind the SwiGLU mul and the sigmoid: none of them is row-split; the
    # down_proj (5632 / 2 = 2816 = 22 groups of 128) and o_proj are
    from accelsim.builders.precision import _row_split

    g = _llama("qwen1_5_moe_a2_7b", "weight_dtype=int4", "tensor_parallel=2")
    rows = _row_split(g)
    mlp = "model.layers.0.mlp."
    assert {f"{mlp}shared_expert.down_proj", "model.layers.0.self_attn.o_proj"} <= rows
    assert not rows & {f"{mlp}shared_expert.gate_proj", f"{mlp}shared_expert.up_proj", f"{mlp}shared_expert_gate"}
    assert g[f"{mlp}shared_expert.down_proj"].weights[0].shape == (2048, 2816)
    assert g[f"{mlp}shared_expert.up_proj"].weights[0].shape == (2816, 2048)


# Routed experts are a fused-MoE layer in vLLM: Marlin MoE (marlin_utils.check_moe_marlin_supports_layer) needs
# intermediate_size_per_partition % max(64, group_size) == 0, else MoeWNA16Method.create_weights halves the group
# while it does not divide the intermediate per chip and the hidden size, asserting group_size >= 32.
# Qwen1.5-MoE's moe_intermediate_size 1408: TP 8 -> 176: 176 % 128 = 48, % 64 = 48, % 32 = 16 -> refused;
# TP 4 -> 352 = 11 x 32 (group 32), TP 2 -> 704 = 11 x 64 (group 64): accepted; hidden 2048 = 16 x 128
def test_routed_experts_refused_where_no_halved_group_of_32_or_more_divides_them():
    with pytest.raises(WorkloadError) as e:
        _llama("qwen1_5_moe_a2_7b", "expert_weight_dtype=int4", "tensor_parallel=8")
    msg = str(e.value)
    assert e.value.key == ("tensor_parallel",) and "expert_tensor_parallel" in e.value.also
    assert "a 176 x 2048 int4 weight an expert per chip: no quant_group_size halved from 128 down to 32 divides both " \
           "(176 % 32 = 16)" in msg, msg
    for tp, k in ((4, 352), (2, 704)):
        g = _llama("qwen1_5_moe_a2_7b", "expert_weight_dtype=int4", f"tensor_parallel={tp}")
        assert g["model.layers.0.mlp.experts_0_3.down_proj"].weights[0].shape == (2048, k)


def test_routed_experts_whole_on_each_chip_or_per_row_scales_are_accepted():
    # DeepSeek-V2-Lite (moe_intermediate_size 1408, 64 experts) at TP 8 splits an expert to 176 a chip (refused as
    # above) but with expert_tensor_parallel 1 each chip holds 64 / 8 = 8 whole experts, K 1408 = 11 x 128; a per-row scale
    # (-1) is never halved (vLLM: 176 % -1 == 0). Its layer 0 is dense (first_k_dense_replace 1): two layers
    with pytest.raises(WorkloadError):
        _llama("deepseek_v2_lite", "layers=2", "expert_weight_dtype=int4", "tensor_parallel=8")
    g = _llama("deepseek_v2_lite", "layers=2", "expert_weight_dtype=int4", "tensor_parallel=8", "expert_tensor_parallel=1")
    assert g["model.layers.1.mlp.experts_0.down_proj"].weights[0].shape == (2048, 1408)
    _llama("deepseek_v2_lite", "layers=2", "expert_weight_dtype=int4", "tensor_parallel=8", "quant_group_size=-1")


def test_a_fused_gate_up_is_not_the_weight_named():
    # gpt-oss-20b: intermediate 2880, hidden 2880 (2880 = 22.5 x 128 = 45 x 64). TP 8: 360 a chip, the fused gate_up
    # (2 x 360 = 720, 2880): 720 % 32 = 16 and 360 % 32 = 8 -> refused, naming down_proj's 360, the size WNA16 checks
    with pytest.raises(WorkloadError) as e:
        _llama("gpt_oss_20b", "expert_weight_dtype=int4", "tensor_parallel=8")
    assert "experts_0_3.down_proj a 2880 x 360 int4 weight" in str(e.value) and "(360 % 32 = 8)" in str(e.value), \
        str(e.value)
