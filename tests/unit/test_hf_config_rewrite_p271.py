"""Probe p271 #1: an ``hf`` config.json rewritten in one process (a design loop writing each point's config to one
file), or the same relative name read from another folder, must give the new file's parameter count. The whole
model's count was memoised on the parameters as JSON, whose ``config`` was the path string, so the second run kept
the first file's ``params`` (7,350,784 where 17,805,824 is right) while its MACs followed the new file, and a MoE
model's ``active_params`` came out negative (-2,300,672 where 3,990,784 is right).

Expected counts are worked out by hand from transformers' LlamaForCausalLM / MixtralForCausalLM layouts (untied
embeddings, no biases):

* LLaMA, per layer: q, k, v, o 4·h² (kv_heads = heads), gate, up, down 3·h·f, two RMSNorms 2·h; plus the embedding
  and the LM head V·h each and the final norm h: V·h·2 + L·(4h² + 3h·f + 2h) + h.
* Mixtral (h 256, 8 heads → head_dim 32, 2 KV heads → k, v 256·64 each, E 8, top-2, V 1000, L 2), per layer:
  attention 2·256² + 2·256·64 = 163,840, router 256·8 = 2,048, experts E·3·h·f, norms 2·256 = 512; active: the
  top-2 experts' 2·3·h·f instead of all 8.
"""

from __future__ import annotations

import json

import accelsim

_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 512,
          "intermediate_size": 1376, "num_attention_heads": 8, "num_key_value_heads": 8, "num_hidden_layers": 2,
          "vocab_size": 1000, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
          "rope_theta": 10000.0, "hidden_act": "silu"}

_MIXTRAL = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 256,
            "intermediate_size": 512, "num_attention_heads": 8, "num_key_value_heads": 2, "num_hidden_layers": 2,
            "vocab_size": 1000, "num_local_experts": 8, "num_experts_per_tok": 2, "max_position_embeddings": 2048,
            "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "rope_theta": 1e6, "hidden_act": "silu"}

# LLaMA, 2 layers, f 1376: 1000·512·2 + 2·(4·512² + 3·512·1376 + 2·512) + 512
#   = 1,024,000 + 2·(1,048,576 + 2,113,536 + 1,024) + 512 = 7,350,784
LLAMA_2L = 7_350_784
# LLaMA, 4 layers, f 2048: 1,024,000 + 4·(1,048,576 + 3·512·2048 + 1,024) + 512
#   = 1,024,000 + 4·(1,048,576 + 3,145,728 + 1,024) + 512 = 17,805,824
LLAMA_4L = 17_805_824
# Mixtral f 512: layer 163,840 + 2,048 + 8·3·256·512 (3,145,728) + 512 = 3,312,128;
#   total 2·3,312,128 + 2·256,000 (embedding, head) + 256 (final norm) = 7,136,512
#   active 2·(163,840 + 2,048 + 2·3·256·512 (786,432) + 512) + 512,256 = 2·952,832 + 512,256 = 2,417,920
MIXTRAL_512 = (7_136_512, 2_417_920)
# Mixtral f 1024: layer 163,840 + 2,048 + 8·3·256·1024 (6,291,456) + 512 = 6,457,856;
#   total 2·6,457,856 + 512,256 = 13,427,968
#   active 2·(163,840 + 2,048 + 2·786,432 + 512) + 512,256 = 2·1,739,264 + 512,256 = 3,990,784
MIXTRAL_1024 = (13_427_968, 3_990_784)


def _run(config: str, seq_len: int = 64) -> dict:
    # seq_len 64 is not the whole-model graph's (seq_len 1), so the count comes from the memoised whole graph
    return accelsim.simulate({"model": "hf", "config": config, "seq_len": seq_len}, "h100").to_dict()


def test_the_hand_formula_matches_a_fresh_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(_LLAMA))
    (tmp_path / "b.json").write_text(json.dumps({**_LLAMA, "num_hidden_layers": 4, "intermediate_size": 2048}))
    assert _run(str(tmp_path / "a.json"))["params"] == LLAMA_2L
    assert _run(str(tmp_path / "b.json"))["params"] == LLAMA_4L


def test_a_rewritten_config_gives_its_own_params(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(_LLAMA))
    first = _run(str(path))
    path.write_text(json.dumps({**_LLAMA, "num_hidden_layers": 4, "intermediate_size": 2048}))
    second = _run(str(path))
    assert first["params"] == LLAMA_2L
    assert second["params"] == LLAMA_4L  # was 7,350,784, the first file's
    assert second["macs"] > first["macs"]  # the graph always followed the file
    path.write_text(json.dumps(_LLAMA))  # and back again: the first count, not the second's
    assert _run(str(path))["params"] == LLAMA_2L


def test_a_rewritten_moe_config_gives_its_own_active_params(tmp_path):
    path = tmp_path / "moe.json"
    path.write_text(json.dumps(_MIXTRAL))
    a = _run(str(path), 16)
    path.write_text(json.dumps({**_MIXTRAL, "intermediate_size": 1024}))
    b = _run(str(path), 16)
    assert (a["params"], a["moe"]["active_params"]) == MIXTRAL_512
    assert (b["params"], b["moe"]["total_params"]) == (MIXTRAL_1024[0], MIXTRAL_1024[0])
    assert b["moe"]["active_params"] == MIXTRAL_1024[1]  # was -2,300,672: the new inactive experts off the old total


def test_the_same_relative_name_in_two_folders(tmp_path, monkeypatch):
    for name, cfg in (("small", _LLAMA), ("large", {**_LLAMA, "num_hidden_layers": 4, "intermediate_size": 2048})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(cfg))
    monkeypatch.chdir(tmp_path / "small")
    assert _run("config.json")["params"] == LLAMA_2L
    assert _run(".")["params"] == LLAMA_2L  # the model folder's config.json
    monkeypatch.chdir(tmp_path / "large")
    assert _run("config.json")["params"] == LLAMA_4L
    assert _run(".")["params"] == LLAMA_4L
