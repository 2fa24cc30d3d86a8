"""An ``hf`` config naming ``gelu_new`` builds transformers' eager NewGELUActivation chain, as the ``gpt2`` preset
does (probe p240 #2: ``accelsim run -w hf`` with gpt2's published config.json on h100 took 4.524 ms against the
preset's 5.784 ms: hf priced one fused GELU, the preset the 8 kernels GPT2MLP runs, ``transformer._eager_gelu_new``).
``gelu_pytorch_tanh`` is one ATen kernel (``gelu(approximate='tanh')``) and stays one op."""

from __future__ import annotations

from accelsim.api import simulate
from accelsim.builders import build_workload
from accelsim.config import load_workload

# openai-community/gpt2 config.json (https://huggingface.co/openai-community/gpt2/blob/main/config.json), the fields
# that shape the model
GPT2 = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "layer_norm_epsilon": 1e-05,
        "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "vocab_size": 50257}
# NewGELUActivation, 0.5 * x * (1 + tanh(sqrt(2/π) * (x + 0.044715 * pow(x, 3)))): the 7 kernels before the last
# multiply, each its own in eager PyTorch (_eager_gelu_new's table), and the last named as the activation
STEPS = ("half", "pow", "coef", "add", "scale", "tanh", "one")


def _hf(config: dict, **params: object):
    w = load_workload({"model": "hf", "config": config, **params})
    return build_workload(w.model, w.params)


def _act_ops(graph, layer_prefix: str) -> list[str]:
    return [op.name[len(layer_prefix):] for op in graph.ops if op.name.startswith(layer_prefix) and ".act" in op.name]


def test_gpt2s_config_builds_the_presets_eager_chain():
    hf = _hf(GPT2, seq_len=128)
    preset = build_workload("gpt2", {"seq_len": 128})
    chain = [f"mlp.act.{s}" for s in STEPS] + ["mlp.act"]
    assert _act_ops(hf, "transformer.h.0.") == _act_ops(preset, "transformer.h.0.") == chain  # before: ["mlp.act"]
    # the same ops, kinds and functions, but the prefill's KV-cache writes, which hf builds (transformers'
    # use_cache=True) and the preset does not (docs/configuration.md, gpt2): k_append and v_append in each of the
    # 12 layers
    ops = {(op.name, op.kind, op.fn) for op in preset.ops}
    extra = [op for op in hf.ops if (op.name, op.kind, op.fn) not in ops]
    assert {op.fn for op in extra} == {"kv_append"} and len(extra) == 2 * 12
    assert len(hf.ops) == len(preset.ops) + 2 * 12


def test_gpt2s_config_runs_each_kernel_as_the_preset_on_h100():
    # every op both build takes the same cycles on the GPU preset (the eager steps are kernels there); before, hf's
    # one fused GELU replaced 8 kernels
    common = {}
    for key, workload in (("preset", {"model": "gpt2", "seq_len": 128}),
                          ("hf", {"model": "hf", "config": GPT2, "seq_len": 128})):
        ops = simulate(workload, "h100").to_dict()["ops"]
        common[key] = {op["name"]: op["end_cycle"] - op["start_cycle"] for op in ops}
    shared = common["preset"].keys() & common["hf"].keys()
    assert shared == common["preset"].keys()
    assert {n: common["hf"][n] for n in shared} == common["preset"]
    assert all(f"transformer.h.{i}.mlp.act.{s}" in shared for i in range(12) for s in STEPS)


def test_the_chain_adds_no_flops_to_one_gelu():
    # in inference the 7 eager-only steps carry no FLOPs and the last is the one GELU (_eager_gelu_new), so the
    # model's FLOPs are those of the fused "gelu" form: only the kernels and their bytes differ
    eager, fused = _hf(GPT2, seq_len=64), _hf({**GPT2, "activation_function": "gelu"}, seq_len=64)
    assert sum(op.flops for op in eager.ops) == sum(op.flops for op in fused.ops)
    assert len(eager.ops) == len(fused.ops) + 7 * 12


# microsoft/phi-1_5 config.json's shape, 2 layers: PhiMLP's fc1 → ACT2FN[hidden_act] → fc2
PHI = {"architectures": ["PhiForCausalLM"], "hidden_size": 2048, "intermediate_size": 8192,
       "num_attention_heads": 32, "num_hidden_layers": 2, "vocab_size": 51200, "partial_rotary_factor": 0.5}


def test_phi_gelu_new_is_the_chain_and_gelu_pytorch_tanh_one_kernel():
    chain = [f"mlp.act.{s}" for s in STEPS] + ["mlp.act"]
    assert _act_ops(_hf({**PHI, "hidden_act": "gelu_new"}, seq_len=16), "model.layers.0.") == chain
    assert _act_ops(_hf(PHI, seq_len=16), "model.layers.0.") == chain  # PhiConfig's default hidden_act: gelu_new
    tanh = _hf({**PHI, "hidden_act": "gelu_pytorch_tanh"}, seq_len=16)
    acts = [op for op in tanh.ops if op.name.startswith("model.layers.0.") and ".act" in op.name]
    assert [(op.name, op.fn) for op in acts] == [("model.layers.0.mlp.act", "gelu")]


def test_a_gated_mlps_gelu_new_is_the_chain_too():
    # GemmaMLP: down(ACT2FN[hidden_act](gate) · up); with gelu_new its gate's activation is the eager chain
    gemma = {"architectures": ["GemmaForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
             "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 64, "num_hidden_layers": 1,
             "vocab_size": 1000}
    names = _act_ops(_hf({**gemma, "hidden_act": "gelu_new"}, seq_len=16), "model.layers.0.")
    assert names == [f"mlp.act_fn.{s}" for s in STEPS] + ["mlp.act_fn"]
    assert _act_ops(_hf(gemma, seq_len=16), "model.layers.0.") == ["mlp.act_fn"]
