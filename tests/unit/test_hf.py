"""The ``hf`` workload: decoder LMs from Hugging Face configs (params, MACs, layer recipes, decode, errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelsim.builders import build_workload
from accelsim.builders.hf import HfParams
from accelsim.config import load_workload
from accelsim.errors import ConfigError

# Published parameter counts (model cards / transformers' num_parameters()) and the hand formula each equals:
# Llama-style: V·h·(1 or 2 untied) + L·(h·(nh + 2·nkv)·hd + nh·hd·h + 3·h·f + 2h) + h (+ q/k/v biases).
PUBLISHED = {
    # meta-llama/Meta-Llama-3-8B: 8.03 B
    "llama3_8b": 2 * 128256 * 4096 + 32 * (4096 * (32 + 16) * 128 + 4096 * 4096 + 3 * 4096 * 14336 + 2 * 4096)
    + 4096,
    # meta-llama/Meta-Llama-3-70B: 70.6 B
    "llama3_70b": 2 * 128256 * 8192 + 80 * (8192 * (64 + 16) * 128 + 8192 * 8192 + 3 * 8192 * 28672 + 2 * 8192)
    + 8192,
    # meta-llama/Llama-3.1-405B: 405.9 B
    "llama3_1_405b": 2 * 128256 * 16384
    + 126 * (16384 * (128 + 16) * 128 + 16384 * 16384 + 3 * 16384 * 53248 + 2 * 16384) + 16384,
    # mistralai/Mistral-7B-v0.1: 7.24 B
    "mistral_7b": 2 * 32000 * 4096 + 32 * (4096 * 48 * 128 + 4096 * 4096 + 3 * 4096 * 14336 + 2 * 4096) + 4096,
    # Qwen/Qwen2-7B: 7.62 B (q/k/v with biases: + (28 + 8)·128 per layer)
    "qwen2_7b": 2 * 152064 * 3584
    + 28 * (3584 * 36 * 128 + 36 * 128 + 3584 * 3584 + 3 * 3584 * 18944 + 2 * 3584) + 3584,
    # Qwen/Qwen3-32B: 32.8 B (https://huggingface.co/Qwen/Qwen3-32B; no q/k/v bias, head_dim 128, QK-norm):
    "qwen3_32b": 151936 * 5120  # model.embed_tokens
    + 64 * (5120 * 64 * 128  # q_proj (64 heads of 128: 8192 outputs)
            + 2 * 5120 * 8 * 128  # k_proj, v_proj (8 KV heads)
            + 64 * 128 * 5120  # o_proj
            + 2 * 128  # q_norm, k_norm (head_dim each)
            + 2 * 5120  # input_layernorm, post_attention_layernorm
            + 3 * 5120 * 25600)  # gate_proj, up_proj, down_proj
    + 5120  # model.norm
    + 151936 * 5120,  # lm_head (untied)
    # google/gemma-2-9b: 9.24 B (tied head; four norms per layer; head_dim 256)
    "gemma2_9b": 256000 * 3584 + 42 * (3584 * 32 * 256 + 4096 * 3584 + 3 * 3584 * 14336 + 4 * 3584) + 3584,
    # microsoft/Phi-3-mini-4k-instruct: 3,821,079,552 (keras-hub's phi3 preset metadata lists the same)
    "phi3_mini": 2 * 32064 * 3072 + 32 * (3072 * 96 * 96 + 3072 * 3072 + 3 * 3072 * 8192 + 2 * 3072) + 3072,
    # facebook/opt-1.3b: 1.32 B (positions 2048 + 2 rows; 4 biased projections, 2 LayerNorms, biased fc1/fc2)
    "opt_1_3b": 50272 * 2048 + 2050 * 2048 + 24 * (4 * (2048 * 2048 + 2048) + 4 * 2048 + 2 * 2048 * 8192 + 8192
                                                   + 2048) + 2 * 2048,
}


def _graph(name: str, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, "seq_len": 1, **params})


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_params_equal_published_counts(name):
    assert _graph(name).meta["model_params"] == PUBLISHED[name]


def test_published_totals():
    assert PUBLISHED["llama3_8b"] == 8_030_261_248
    assert PUBLISHED["llama3_1_405b"] == 405_853_388_800
    assert PUBLISHED["gemma2_9b"] == 9_241_705_984
    assert PUBLISHED["phi3_mini"] == 3_821_079_552
    assert PUBLISHED["opt_1_3b"] == 1_315_758_080
    assert PUBLISHED["qwen3_32b"] == 32_762_123_264


LLAMA32_1B = {  # meta-llama/Llama-3.2-1B config.json (1.24 B, tied embeddings)
    "architectures": ["LlamaForCausalLM"], "hidden_size": 2048, "intermediate_size": 8192,
    "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 16, "vocab_size": 128256,
    "head_dim": 64, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 131072,
    "rope_scaling": {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "tie_word_embeddings": True, "hidden_act": "silu", "model_type": "llama", "torch_dtype": "bfloat16",
    "bos_token_id": 128000, "eos_token_id": 128001, "attention_bias": False, "mlp_bias": False,
    "pretraining_tp": 1, "use_cache": True, "initializer_range": 0.02, "transformers_version": "4.45.0.dev0"}
# 128256·2048 + 16·(2048·(32 + 16)·64 + 2048·2048 + 3·2048·8192 + 2·2048) + 2048 = 1,235,814,400
LLAMA32_1B_PARAMS = 128256 * 2048 + 16 * (2048 * 48 * 64 + 2048 * 2048 + 3 * 2048 * 8192 + 2 * 2048) + 2048


def test_config_json_path(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA32_1B))
    w = load_workload({"model": "hf", "config": str(path), "seq_len": 4})
    g = build_workload(w.model, w.params)
    assert g.params == LLAMA32_1B_PARAMS == 1_235_814_400
    # tied head: the LM head reads the embedding table, counted once
    assert g["lm_head"].weights[0].name == "model.embed_tokens.weight"


def test_a_transformers_5_config_is_read_as_its_4_x_form():
    # transformers 5 saves the checkpoint dtype as "dtype" (was torch_dtype) and RoPE's θ and scaling together as
    # "rope_parameters" (was rope_theta and rope_scaling): the same model
    v5 = {k: v for k, v in LLAMA32_1B.items() if k not in ("torch_dtype", "rope_theta", "rope_scaling")}
    v5.update(dtype="bfloat16", rope_parameters={**LLAMA32_1B["rope_scaling"], "rope_theta": 500000.0})
    assert build_workload("hf", {"config": v5, "seq_len": 4}).params == LLAMA32_1B_PARAMS
    with pytest.raises(ConfigError, match=r"rope_parameters.rope_type: 'magic' is not a known RoPE scaling"):
        load_workload({"model": "hf", "config": {**v5, "rope_parameters": {"rope_type": "magic"}}})


def test_set_overrides_a_config_field(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA32_1B))
    w = load_workload({"model": "hf", "config": str(path), "seq_len": 4}, ["workload.num_key_value_heads=4"])
    # k and v lose 4 heads of 64 each: 2·2048·4·64 per layer
    assert build_workload(w.model, w.params).params == LLAMA32_1B_PARAMS - 16 * 2 * 2048 * 4 * 64


def test_prefill_macs_llama3_8b():
    s = 128
    g = _graph("llama3_8b", seq_len=s)
    h, layers, vocab, hd, heads = 4096, 32, 128256, 128, 32
    per_token = layers * (h * 48 * hd + h * h + 3 * h * 14336) + vocab * h  # every linear, LM head at each token
    attention = layers * heads * s * s * 2 * hd  # QKᵀ and PV over the full score matrix
    assert g.macs == s * per_token + attention


@pytest.mark.parametrize("cfg, field", [
    ({**LLAMA32_1B, "architectures": ["BloomForCausalLM"]}, "architectures"),
    ({**LLAMA32_1B, "num_experts": 8}, "num_experts"),
    ({**LLAMA32_1B, "hidden_act": "relu"}, "hidden_act"),
    ({**LLAMA32_1B, "rope_scaling": {"rope_type": "magic"}}, "rope_scaling.rope_type"),
    ({**LLAMA32_1B, "sliding_window": 128}, "sliding_window"),  # Llama has no sliding window
    ({k: v for k, v in LLAMA32_1B.items() if k != "hidden_size"}, "hidden_size"),
])
def test_unsupported_config_is_one_error_naming_the_field(cfg, field):
    with pytest.raises(ConfigError) as e:
        load_workload({"model": "hf", "config": cfg})
    msg = str(e.value)
    assert f"{field}:" in msg and "\n" not in msg.strip()


def test_sliding_window_bounds_decode_kv():
    g = _graph("mistral_7b", phase="decode", kv_len=6000)
    attn = g["model.layers.0.self_attn.scores"]
    assert attn.attrs["kv_len"] == 4096  # the window, not 6001
    assert g.inputs["model.layers.0.self_attn.k_cache"] == (1, 8, 4095, 128)  # rolling buffer of window − 1


def test_gemma2_local_global_and_softcap():
    g = _graph("gemma2_9b", phase="decode", kv_len=6000)
    assert g["model.layers.0.self_attn.scores"].attrs["kv_len"] == 4096  # even layers: local
    assert g["model.layers.1.self_attn.scores"].attrs["kv_len"] == 6001  # odd layers: global
    caps = [op for op in g.ops if op.fn == "softcap"]
    assert len(caps) == 42 + 1  # every layer's scores and the final logits
    assert "model.embed_scale" in g and "model.layers.0.post_feedforward_layernorm" in g


def test_gemma3_five_local_layers_to_each_global_and_qk_norm():
    # Gemma 3 1B (Gemma 3 report, table 1: 302 M embedding + 698 M non-embedding parameters): per layer q, k, v, o
    # 1152·(4 + 1 + 1)·256 + 4·256·1152, q_norm and k_norm 256 each, GeGLU 3·1152·6912, four norms 4·1152; the tied
    # embedding table 262144·1152 and the final norm
    h = 1152
    per_layer = h * 6 * 256 + 4 * 256 * h + 2 * 256 + 3 * h * 6912 + 4 * h
    g = _graph("gemma3_1b", phase="decode", kv_len=1000)
    assert g.meta["model_params"] == 262144 * h + 26 * per_layer + h == 999_885_952
    assert round(262144 * h / 1e6) == 302 and round(26 * per_layer / 1e6) == 698
    # layers 5, 11, 17 and 23 ((i + 1) a multiple of sliding_window_pattern 6) attend to all 1,001 keys, the others
    # to the 512-token window; no soft-capping, QK-norm on every layer
    kv = [g[f"model.layers.{i}.self_attn.scores"].attrs["kv_len"] for i in range(26)]
    assert [i for i, n in enumerate(kv) if n == 1001] == [5, 11, 17, 23] and set(kv) == {512, 1001}
    assert not any(op.fn == "softcap" for op in g.ops) and "model.layers.0.self_attn.q_norm" in g


@pytest.mark.parametrize(("name", "layers", "kv_bytes"), [("gemma3_1b", 26, 2 * 1 * 256 * 2),
                                                          ("gemma2_9b", 42, 2 * 8 * 256 * 2),
                                                          ("gpt_oss_20b", 24, 2 * 8 * 64 * 2)])
def test_a_null_sliding_window_makes_every_layer_global(name, layers, kv_bytes):
    # probe p85 #2: `--set workload.sliding_window=null` on gemma3_1b was "expected an integer ≥ 1 (got None)" though
    # docs/configuration.md offers it to any model whose config has the field (mistral_7b took it). Null is no
    # window, as a config without one: every layer attends to all kv_len + 1 keys and caches them. Gemma 3 1B at
    # 1,024 cached tokens: 26 layers × 1,025 × (K, V × 1 KV head × 256 × 2 B) = 27,289,600 B (with its window:
    # 4 global × 1,025 × 1,024 + 22 local × 512 × 1,024 = 15,732,736 B)
    g = _graph(name, phase="decode", kv_len=1024, sliding_window=None, layers=layers)
    assert [g[f"model.layers.{i}.self_attn.scores"].attrs["kv_len"] for i in range(layers)] == [1025] * layers
    assert g.meta["kv_cache_bytes"] == layers * 1025 * kv_bytes
    if name == "gemma3_1b":
        assert g.meta["kv_cache_bytes"] == 27_289_600
        assert _graph(name, phase="decode", kv_len=1024).meta["kv_cache_bytes"] == 15_732_736


def test_phi3_fused_projections():
    g = _graph("phi3_mini")
    assert g["model.layers.0.self_attn.qkv_proj"].gemm.n == 3 * 3072
    assert g["model.layers.0.mlp.gate_up_proj"].gemm.n == 2 * 8192


def test_gqa_fused_qkv_split():
    cfg = {"architectures": ["Phi3ForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
           "num_attention_heads": 8, "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 100}
    g = build_workload("hf", {"config": cfg, "seq_len": 4})
    assert g["model.layers.0.self_attn.qkv_proj"].gemm.n == (8 + 2 * 2) * 32
    assert g["model.layers.0.self_attn.k"].out_shape == (1, 2, 4, 32)


def test_opt_and_gpt2_decode_use_learned_positions():
    g = _graph("opt_1_3b", phase="decode", kv_len=10)
    assert g["model.decoder.embed_positions"].attrs["offset"] == 12  # OPT's offset of 2
    gpt2 = {"architectures": ["GPT2LMHeadModel"], "n_embd": 768, "n_head": 12, "n_layer": 12, "vocab_size": 50257,
            "n_positions": 1024}
    g = build_workload("hf", {"config": gpt2, "seq_len": 8})
    assert g.params == 124_439_808  # gpt2 on the Hugging Face hub, as the gpt2 builder
    with pytest.raises(Exception, match="1024 learned positions"):
        build_workload("hf", {"config": gpt2, "phase": "decode", "kv_len": 1024})


def test_decode_serving_run():
    from accelsim.api import simulate

    cfg = {**LLAMA32_1B, "num_hidden_layers": 2, "vocab_size": 512, "hidden_size": 256, "intermediate_size": 512,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64}
    r = simulate({"model": "hf", "config": cfg, "seq_len": 16, "decode_steps": 3}, "h100")
    assert r.to_dict()["serving"]["decode_steps"] == 3
    assert r.to_dict()["serving"]["tpot_s"] > 0


def test_cli_unknown_architecture_exits_2(tmp_path, capsys):
    from accelsim.cli import main

    path = tmp_path / "config.json"
    path.write_text(json.dumps({**LLAMA32_1B, "architectures": ["BloomForCausalLM"]}))
    code = main(["run", "-w", "hf", "-a", "h100", "--set", f"workload.config={path}", "--no-plots", "-q", "-o",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "architectures: 'BloomForCausalLM' is not supported" in err
    assert err.startswith(f"accelsim: error: {path}:1: architectures:")  # the file and line it was read from


def test_gpt2_builder_decodes():
    g = build_workload("gpt2", {"phase": "decode", "kv_len": 100})
    # 12 layers × K and V × 12 heads × 101 tokens × 64, fp16
    assert g.meta["kv_cache_bytes"] == 12 * 2 * 12 * 101 * 64 * 2
    assert g["transformer.wpe"].attrs["offset"] == 100 and g.params == 124_439_808
    assert not any(op.kind.value == "kv_append" for op in build_workload("gpt2", {"seq_len": 8}))


HF_PRESETS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "workloads").glob("*.yaml")
                    if "\nmodel: hf\n" in p.read_text())


def test_every_hf_preset_is_named_after_itself():
    assert len(HF_PRESETS) >= 10 and {"mixtral_8x7b", "llama3_8b", "qwen1_5_moe_a2_7b"} <= set(HF_PRESETS)
    for name in HF_PRESETS:
        w = load_workload(name)
        assert w.model == "hf" and HfParams.model_validate(w.params).model_name() == name


def test_default_names_come_from_the_config(tmp_path):
    folder = tmp_path / "Llama-3.2-1B"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA32_1B))
    assert _named({"config": str(folder / "config.json")}) == "Llama-3.2-1B"  # a checkout's folder
    assert _named({"config": {**LLAMA32_1B, "_name_or_path": "meta-llama/Llama-3.2-1B"}}) == "Llama-3.2-1B"
    assert _named({"config": LLAMA32_1B}) == "hf"
    assert _named({"config": LLAMA32_1B, "name": "mine"}) == "mine"


def _named(params):
    return build_workload("hf", {**params, "seq_len": 1, "num_hidden_layers": 1}).name


def test_report_names_the_model_and_its_architecture():
    from accelsim.api import simulate
    from accelsim.report.fmt import workload_text

    cfg = {**LLAMA32_1B, "num_hidden_layers": 2, "vocab_size": 512, "hidden_size": 256, "intermediate_size": 512,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64}
    for steps in (0, 2):  # one pass, and a serving run
        r = simulate({"model": "hf", "name": "tiny_llama", "config": cfg, "seq_len": 8, "decode_steps": steps},
                     "h100").to_dict()
        assert r["name"] == "tiny_llama_h100"
        assert {k: r["workload"][k] for k in ("name", "model", "architecture")} == {
            "name": "tiny_llama", "model": "hf", "architecture": "LlamaForCausalLM"}
        assert workload_text(r["workload"]).startswith("tiny_llama (LlamaForCausalLM; batch 1;")


GPT = {"layers": 2, "hidden": 256, "heads": 4, "vocab": 1000, "seq_len": 128}


def test_gpt_decode_step():
    h, layers, vocab, kv = 256, 2, 1000, 100
    g = build_workload("gpt", {**GPT, "phase": "decode", "kv_len": kv})
    # per layer q/k/v 3h², dense h², MLP 2·h·4h per token, scores and context 2·h·(kv + 1); LM head V·h
    assert g.macs == layers * (12 * h * h + 2 * h * (kv + 1)) + vocab * h
    # 2 layers × K and V × 4 heads × 64 × 101 tokens, fp16
    assert g.meta["kv_cache_bytes"] == 2 * 2 * 4 * 64 * (kv + 1) * 2
    # the whole model: per layer 12h² + 13h, embeddings (V + 128 positions)·h, final LayerNorm 2h
    assert g.params == layers * (12 * h * h + 13 * h) + (vocab + 128) * h + 2 * h
    assert g["language_model.embedding.position_embeddings"].attrs["offset"] == kv


def test_gpt_serving_run_and_its_positions():
    from accelsim.api import simulate

    # Megatron's max_position_embeddings bounds the decoded positions: 128 prompt tokens + 3 steps need 131
    with pytest.raises(ConfigError, match="positions up to 130 exceed the 128 learned positions"):
        simulate({"model": "gpt", **GPT, "decode_steps": 3}, "h100")
    r = simulate({"model": "gpt", **GPT, "max_positions": 256, "decode_steps": 3}, "h100").to_dict()
    assert r["serving"]["decode_steps"] == 3 and r["serving"]["tpot_s"] > 0
    assert r["params"] == 2 * (12 * 256 * 256 + 13 * 256) + (1000 + 256) * 256 + 2 * 256  # 256 position rows
    with pytest.raises(ConfigError, match="pipeline_parallel must be 1"):
        load_workload({"model": "gpt", **GPT, "decode_steps": 3, "max_positions": 256, "pipeline_parallel": 2})


@pytest.mark.parametrize(("torch_dtype", "ours"), [("half", "fp16"), ("float", "fp32"), ("float16", "fp16"),
                                                   ("bfloat16", "bf16"), ("torch.float32", "fp32")])
def test_a_configs_torch_dtype_is_read_under_each_of_torchs_names(torch_dtype, ours):
    # torch.half is torch.float16 and torch.float is torch.float32 (PyTorch's tensor attributes docs): a config
    # saved with either spelling names that dtype (a second TORCH_DTYPES in units.py had dropped half and float)
    from accelsim.builders.build import config_dtype

    assert config_dtype("hf", {"config": {**LLAMA32_1B, "torch_dtype": torch_dtype}, "seq_len": 4}) == ours
