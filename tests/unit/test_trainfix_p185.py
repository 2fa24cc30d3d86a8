"""Probe p185 #2 and #3: transformers' eager attention writes its softmax in fp32 and casts the probabilities back
(the HF builders' unfused attention), and the pipeline report's SC21 bubble ratio beside its bubble fraction.

transformers' ``LlamaAttention`` / ``eager_attention_forward`` (src/transformers/models/llama/modeling_llama.py):
``attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)``, then
``torch.matmul(attn_weights, value_states)``. Under autograd ``_softmax`` saves its fp32 result (4 B a score) for
``_softmax_backward_data``, ``ToCopyBackward`` saves nothing and the matmul saves the bf16 probabilities (2 B a
score): 6 B a score kept, where a softmax in the model's dtype keeps 2 B.
"""

from __future__ import annotations

import pytest

from accelsim.api import run, simulate
from accelsim.builders import build_workload
from accelsim.config import WorkloadSpec, build_graph, load_arch, load_workload
from accelsim.hardware import Interconnect
from accelsim.ir import OpKind
from accelsim.units import dtype_bytes

LLAMA = {"layers": 2, "seq_len": 128, "dtype": "bf16"}  # LLaMA-2-7B's 32 heads of 128, two layers
HEADS, S = 32, 128


def _llama(**params):
    return build_workload("llama2_7b", {**LLAMA, **params})


def test_eager_softmax_writes_fp32_and_a_cast_writes_the_model_dtype():
    g = _llama(phase="prefill", kv_len=LLAMA["seq_len"])  # inference: the traffic, not only the stash
    soft, cast = g["model.layers.0.self_attn.softmax"], g["model.layers.0.self_attn.softmax_cast"]
    scores = HEADS * S * S  # batch 1
    assert soft.out_bytes == scores * 4  # the fp32 probabilities
    assert cast.kind is OpKind.ELEMENTWISE and cast.fn == "cast" and cast.inputs == (soft.name,)
    assert cast.flops == 0 and cast.vector_elems == scores
    assert cast.out_bytes == scores * 2  # .to(query.dtype): bf16
    assert g["model.layers.0.self_attn.context"].inputs[0] == cast.name  # the PV matmul reads the bf16 copy


def test_no_cast_where_the_model_already_runs_in_fp32():
    # softmax(..., dtype=torch.float32).to(torch.float32): the .to is a no-op, no kernel
    g = _llama(dtype="fp32")
    assert "model.layers.0.self_attn.softmax_cast" not in g
    assert g["model.layers.0.self_attn.softmax"].out_bytes == HEADS * S * S * 4


def test_megatron_gpt_keeps_its_16_bit_fused_softmax():
    # Megatron-LM's FusedScaleMaskSoftmax writes the model's dtype: Korthikanti's 2·a·s²·b bytes of probabilities
    g = build_workload("gpt", {"hidden": 256, "heads": 4, "layers": 2, "seq_len": 64, "vocab": 1024,
                               "dtype": "bf16", "attention": "unfused"})
    assert not any(op.fn == "cast" for op in g.ops)
    soft = next(op for op in g.ops if op.kind is OpKind.SOFTMAX)
    assert soft.out_bytes == 4 * 64 * 64 * dtype_bytes("bf16")


def test_training_keeps_six_bytes_a_score_and_selective_recompute_drops_them():
    # recompute none − selective = the attention core's kept tensors: per layer heads · s² scores × (4 B fp32
    # softmax output + 2 B bf16 copy) = 2 layers × 32 × 128² × 6 B = 6,291,456 B (it was 2 B a score: 2,097,152 B)
    none = _llama(mode="training", recompute="none")
    sel = _llama(mode="training", recompute="selective")
    assert none.meta["stashed_activation_bytes"] - sel.meta["stashed_activation_bytes"] == 2 * HEADS * S * S * 6
    kept = set(none.meta["stashed"])
    assert {"model.layers.0.self_attn.softmax", "model.layers.0.self_attn.softmax_cast"} <= kept
    # selective recompute re-runs the cast with the softmax (attention_core), so neither is kept
    assert not {"model.layers.0.self_attn.softmax", "model.layers.0.self_attn.softmax_cast"} & set(sel.meta["stashed"])


def test_eager_softmax_backward_dtypes():
    g = _llama(mode="training")
    # ToCopyBackward: the bf16 gradient of the probabilities back to fp32, reading nothing the forward kept
    cast_grad = g["model.layers.0.self_attn.softmax_cast.grad_input"]
    assert cast_grad.out_bytes == HEADS * S * S * 4
    assert cast_grad.inputs == ("model.layers.0.self_attn.context.grad_input0",)
    # _softmax_backward_data(grad fp32, output fp32, dim, bf16): the scores' gradient in bf16
    soft_grad = g["model.layers.0.self_attn.softmax.grad_input"]
    assert soft_grad.inputs == (cast_grad.name, "model.layers.0.self_attn.softmax")
    assert soft_grad.out_bytes == HEADS * S * S * 2


def _hf(arch, **fields):
    return build_workload("hf", {"config": {"architectures": [arch], **fields}, "dtype": "bf16", "seq_len": 16})


@pytest.mark.parametrize(("arch", "cast"), [
    ("MistralForCausalLM", True),  # eager_attention_forward copied from Llama: fp32 softmax, .to(query.dtype)
    ("OPTForCausalLM", True),  # modeling_opt's eager_attention_forward: the same line
    ("GPT2LMHeadModel", False),  # softmax(attn_weights, dim=-1), then .type(value.dtype): the model's dtype
    ("GPTNeoXForCausalLM", False),  # GPTNeoXAttention._attn: softmax(attn_scores, dim=-1) on bf16 scores
])
def test_hf_families_upcast_as_their_eager_attention_does(arch, cast):
    small = {"vocab_size": 1024, "hidden_size": 256, "num_hidden_layers": 1, "num_attention_heads": 4}
    extra = {"MistralForCausalLM": {"intermediate_size": 512, "num_key_value_heads": 4},
             "OPTForCausalLM": {"ffn_dim": 512, "word_embed_proj_dim": 256},
             "GPTNeoXForCausalLM": {"intermediate_size": 512}}
    if arch == "GPT2LMHeadModel":
        small = {"vocab_size": 1024, "n_embd": 256, "n_layer": 1, "n_head": 4}
    else:
        small = {**small, **extra[arch]}
    g = _hf(arch, **small)
    soft = next(op for op in g.ops if op.kind is OpKind.SOFTMAX)
    assert any(op.fn == "cast" and op.inputs == (soft.name,) for op in g.ops) is cast
    assert soft.out_bytes == 4 * 16 * 16 * (4 if cast else 2)


SMALL = {"hidden": 256, "heads": 4, "layers": 4, "seq_len": 64, "vocab": 1024, "batch": 2}


def test_bubble_ratio_is_sc21_bubble_over_ideal_time():
    # Narayanan et al. 2021 Eq. 1: bubble fraction = t_pb / t_id, the bubble over the ideal m·t. With P = 2 stages
    # of micro-batch times t0, t1 and m = 4, 1F1B's fill is (m − 1)·max + Σ = 3·max + t0 + t1 and the ideal
    # 4·max, so the bubble is t0 + t1 − max = min(t0, t1) and the ratio min / (4·max) ((P − 1)/m = 1/4 for equal
    # stages); bubble_fraction divides the same bubble by the whole iteration (sends, sync, optimizer tail too)
    arch = load_arch("gemmini").model_copy(update={
        "chips": 2, "interconnect": Interconnect(bandwidth="10GB/s", latency="2us", topology="ring")})
    params = {**SMALL, "mode": "training", "pipeline_parallel": 2, "micro_batches": 4, "dtype": "fp16"}
    rep = simulate(load_workload({"model": "gpt", **params}), arch).to_dict()
    fb = [run(build_graph(WorkloadSpec("gpt", {**params, "pipeline_stage": k}), arch.dtype),
              arch).to_dict()["phases"]["backward"]["end_cycle"] for k in (0, 1)]
    pipe = rep["pipeline"]
    assert pipe["bubble_ratio"] == pytest.approx(min(fb) / (4 * max(fb)))
    assert pipe["bubble_s"] == pytest.approx(min(fb) / arch.clock_hz)
    assert pipe["bubble_fraction"] == pytest.approx(pipe["bubble_s"] / pipe["iteration_s"])
    assert pipe["bubble_fraction"] < pipe["bubble_ratio"]
