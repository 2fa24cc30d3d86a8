"""``accelsim serve`` builds an ``hf`` model's ``gelu_new`` as vLLM runs it, one fused GELU kernel, not transformers'
eager chain of 8 (probe p247 #1: hf GPT-2 served on h100 with ``activation_function: gelu_new`` took TTFT 0.8539 ms
and TPOT 0.6504 ms against ``gelu``'s 0.6352 / 0.5321 ms).

vLLM (vllm/model_executor/layers/activation.py): ``_ACTIVATION_REGISTRY["gelu_new"] = NewGELU()`` and
``NewGELU.forward_cuda`` is ``out = torch.empty_like(x); ops.gelu_new(out, x)``: one custom kernel reading the
tensor U and writing U, as ``gelu`` (one ATen GELU kernel) does; vLLM's GPT-2 and Phi models take their activation
from ``get_act_fn(config.activation_function)``. So in serving the two configs are the same model: every op, its
bytes and FLOPs alike, and their TTFT and TPOT equal. The switch is ``fused_projections`` (vLLM's model code), which
``serving.cost.engine_model`` sets from ``engine.fused_projections`` (default true); ``accelsim run`` (eager
transformers, fused_projections unset) keeps the chain (tests/unit/test_hf_gelu_new_p240.py)."""

from __future__ import annotations

from accelsim import api
from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.config.serving import EngineConfig, load_serving
from accelsim.serving.cost import engine_model, shape

# openai-community/gpt2 config.json's shape, 2 layers to keep it quick
GPT2 = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "layer_norm_epsilon": 1e-05,
        "n_embd": 768, "n_head": 12, "n_layer": 2, "n_positions": 1024, "vocab_size": 50257}
STEPS = ("half", "pow", "coef", "add", "scale", "tanh", "one")  # _eager_gelu_new's 7 kernels before the last


def _ops(spec):
    graph = build_workload(spec.model, spec.params)
    return [(op.name, op.kind, op.fn, op.flops) for op in graph.ops]


def _spec(act: str, **params: object):
    return load_workload({"model": "hf", "config": {**GPT2, "activation_function": act}, "seq_len": 64, **params})


def test_the_served_gelu_new_is_the_one_gelu_kernel_of_gelu():
    served = engine_model(_spec("gelu_new"), EngineConfig())  # the grid's model (engine.fused_projections: true)
    acts = [op for op in _ops(served) if ".mlp.act" in op[0]]
    assert [(n, fn) for n, _, fn, _ in acts] == [(f"transformer.h.{i}.mlp.act", "gelu") for i in range(2)]
    # the same graph as activation_function gelu: one kernel in the place of 8 (before: 7 more ops a layer)
    assert _ops(served) == _ops(engine_model(_spec("gelu"), EngineConfig()))


def test_run_and_engine_fused_projections_false_keep_transformers_chain():
    chain = [f"transformer.h.0.mlp.act.{s}" for s in STEPS] + ["transformer.h.0.mlp.act"]
    for spec in (_spec("gelu_new"), engine_model(_spec("gelu_new"), EngineConfig(fused_projections=False)),
                 _spec("gelu_new", fused_projections=False)):
        assert [n for n, *_ in _ops(spec) if n.startswith("transformer.h.0.mlp.act")] == chain
    # the model's own setting wins over the engine's, as for the projections
    own = engine_model(_spec("gelu_new", fused_projections=False), EngineConfig())
    assert len(_ops(own)) == len(_ops(_spec("gelu"))) + 7 * 2


def test_a_gated_mlps_served_gelu_new_is_one_gelu():
    # GemmaMLP with hidden_act gelu_new: vLLM's activation of the gate is one kernel, as for gelu_pytorch_tanh
    gemma = {"architectures": ["GemmaForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
             "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 64, "num_hidden_layers": 1,
             "vocab_size": 1000}
    new = load_workload({"model": "hf", "config": {**gemma, "hidden_act": "gelu_new"}, "seq_len": 16})
    tanh = load_workload({"model": "hf", "config": gemma, "seq_len": 16})  # GemmaConfig's gelu_pytorch_tanh
    served = engine_model(new, EngineConfig())
    assert [(n, fn) for n, _, fn, _ in _ops(served) if ".act_fn" in n] == [("model.layers.0.mlp.act_fn", "gelu")]
    assert _ops(served) == _ops(engine_model(tanh, EngineConfig()))


def _serve_small(model: dict) -> dict:
    """The probe's file, smaller: on h100, 4 requests of 128 prompt + 8 output tokens; report.json's ``serving``."""
    spec = {"name": "g2", "arch": "h100", "model": model,
            "engine": {"max_num_seqs": 8, "max_num_batched_tokens": 256, "max_model_len": 256},
            "cost": {"batch_ratio": 4, "kv_points": 2, "token_ratio": 4},
            "workload": {"arrival": {"process": "constant", "rate": 8}, "requests": 4,
                         "prompt_tokens": {"dist": "fixed", "value": 128},
                         "output_tokens": {"dist": "fixed", "value": 8}}}
    return api.serve(load_serving(spec)).report["serving"]


def test_serving_gelu_new_and_gelu_give_the_same_ttft_and_tpot():
    new = _serve_small({"model": "hf", "config": GPT2})
    gelu = _serve_small({"model": "hf", "config": {**GPT2, "activation_function": "gelu"}})
    assert new["ttft_s"] == gelu["ttft_s"] and new["tpot_s"] == gelu["tpot_s"]  # before: gelu_new's were higher


# ---- the gpt2 preset served (the gap merge servegelu left) ---------------------------------------------------------
# ``accelsim serve`` builds the ``gpt2`` preset as vLLM's GPT-2 runs it, as it builds an ``hf`` GPT-2 config (probe
# p247 #1, the gap merge servegelu left: the preset kept transformers' 8-kernel eager ``gelu_new``).
#
# vLLM's GPT-2 (vllm/model_executor/models/gpt2.py): ``GPT2MLP.act = get_act_fn(config.activation_function)``, and
# for ``gelu_new`` that is ``NewGELU`` (vllm/model_executor/layers/activation.py), whose ``forward_cuda`` is one
# ``ops.gelu_new`` kernel reading the tensor once and writing it once: a fused GELU, not transformers' chain of 8
# (``transformer._eager_gelu_new``). ``c_attn`` is one GEMM in transformers and in vLLM (``QKVParallelLinear``) and
# the MLP is not gated, so the GELU is all that ``fused_projections`` changes in the preset. A served prefill computes
# logits at each sequence's last position only (vLLM's ``compute_logits``; ``served`` sets ``logits: last``) and
# writes the prompt's K and V to the cache (vLLM's attention ``reshape_and_cache``), as ``hf``'s prefill does. So the
# preset and an ``hf`` config of openai-community/gpt2's shape are one model when served: the same ops (name, kind,
# fn, FLOPs, MACs, dtype) and the same TTFT and TPOT. Before: TTFT 0.8241 ms against hf's 0.6352 ms, TPOT 0.6504 ms
# against 0.5321 ms (h100, 8 requests of 256 + 64 tokens).


def _op_table(spec):
    graph = build_workload(spec.model, spec.params)
    return {op.name: (op.kind, op.fn, op.flops, op.macs, op.dtype) for op in graph.ops}


def _served(workload: dict, engine: EngineConfig, **params: object):
    return shape(engine_model(load_workload(workload), engine), **params)


def test_the_served_preset_runs_one_gelu_a_layer():
    ops = _op_table(_served({"model": "gpt2", "layers": 2}, EngineConfig(), seq_len=64))
    assert [n for n in ops if ".mlp.act" in n] == ["transformer.h.0.mlp.act", "transformer.h.1.mlp.act"]
    # a tanh GELU of ACT_FLOPS' 8 flops an element over the 64 x 3072 c_fc output (before: the chain's 8 kernels)
    assert ops["transformer.h.0.mlp.act"][1:3] == ("gelu", 8 * 64 * 3072)


def test_the_preset_run_and_fused_projections_false_keep_transformers_chain():
    chain = [f"transformer.h.0.mlp.act.{s}" for s in STEPS] + ["transformer.h.0.mlp.act"]
    for spec in (load_workload({"model": "gpt2", "layers": 1, "seq_len": 64}),  # accelsim run: unset, eager
                 _served({"model": "gpt2", "layers": 1}, EngineConfig(fused_projections=False), seq_len=64),
                 _served({"model": "gpt2", "layers": 1, "fused_projections": False}, EngineConfig(), seq_len=64)):
        assert [n for n in _op_table(spec) if n.startswith("transformer.h.0.mlp.act")] == chain


def test_a_forward_pass_keeps_every_positions_logits_and_writes_no_cache():
    ops = _op_table(load_workload({"model": "gpt2", "layers": 1, "seq_len": 64}))
    assert "transformer.last_token" not in ops and not any(n.endswith("_append") for n in ops)
    assert ops["lm_head"][3] == 64 * 768 * 50257  # every position's logits: m 64, k 768, n 50257


def test_the_served_preset_is_the_served_hf_gpt2():
    for engine in (EngineConfig(), EngineConfig(fused_projections=False)):
        for params in ({"seq_len": 256}, {"phase": "decode", "kv_len": 300, "batch": 4}):
            preset = _op_table(_served({"model": "gpt2", "layers": 2}, engine, **params))
            hf = _op_table(_served({"model": "hf", "config": GPT2}, engine, **params))
            assert preset == hf
    prefill = _op_table(_served({"model": "gpt2", "layers": 2}, EngineConfig(), seq_len=256))
    assert prefill["lm_head"][3] == 768 * 50257  # one row: the last position's logits (before 256 rows)
    assert {f"transformer.h.{i}.attn.{kv}_append" for i in range(2) for kv in "kv"} <= set(prefill)


def test_serving_the_preset_and_hf_gpt2_give_the_same_ttft_and_tpot():
    preset, hf = _serve_small({"model": "gpt2", "layers": 2}), _serve_small({"model": "hf", "config": GPT2})
    assert preset["ttft_s"] == hf["ttft_s"] and preset["tpot_s"] == hf["tpot_s"]  # before: the preset's differed
