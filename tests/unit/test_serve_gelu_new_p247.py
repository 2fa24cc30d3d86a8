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
from accelsim.serving.cost import engine_model

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


def test_serving_gelu_new_and_gelu_give_the_same_ttft_and_tpot():
    # the probe's file, smaller: hf GPT-2 (2 layers) on h100, 4 requests of 128 prompt + 8 output tokens
    def served(act: str) -> dict:
        spec = {"name": f"g2_{act}", "arch": "h100",
                "model": {"model": "hf", "config": {**GPT2, "activation_function": act}},
                "engine": {"max_num_seqs": 8, "max_num_batched_tokens": 256, "max_model_len": 256},
                "cost": {"batch_ratio": 4, "kv_points": 2, "token_ratio": 4},
                "workload": {"arrival": {"process": "constant", "rate": 8}, "requests": 4,
                             "prompt_tokens": {"dist": "fixed", "value": 128},
                             "output_tokens": {"dist": "fixed", "value": 8}}}
        return api.serve(load_serving(spec)).report["serving"]

    new, gelu = served("gelu_new"), served("gelu")
    assert new["ttft_s"] == gelu["ttft_s"] and new["tpot_s"] == gelu["tpot_s"]  # before: gelu_new's were higher
