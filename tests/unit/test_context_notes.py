"""A pass beyond the model's context gets a note (RoPE models have no position table to refuse it)."""

from __future__ import annotations

from accelsim.builders import build_workload

# Llama 2's context is 4,096 tokens (Touvron et al. 2023; its config's max_position_embeddings); Llama 3 8B's is
# 8,192 (meta-llama/Meta-Llama-3-8B config.json max_position_embeddings)


def _notes(model: str, **params) -> list[str]:
    return list(build_workload(model, params).meta.get("notes", ()))


def test_llama2_prompts_and_decode_steps_past_4096_positions_get_a_note():
    assert _notes("llama2_7b", seq_len=4096, layers=1) == []
    assert any("4,096-token context" in n for n in _notes("llama2_7b", seq_len=4097, layers=1))
    # a decode step after 4,096 cached tokens reaches position 4,097
    assert any("positions up to 4,097" in n for n in _notes("llama2_7b", phase="decode", kv_len=4096, layers=1))


def test_hf_models_take_their_context_from_the_config():
    cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
           "num_attention_heads": 2, "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 128,
           "max_position_embeddings": 8192}
    assert _notes("hf", config=cfg, seq_len=8192) == []
    assert any("8,192-token context" in n for n in _notes("hf", config=cfg, seq_len=16384))
