"""Probe p205 #3: a config that omits ``max_position_embeddings`` has its config class's default, as transformers'
``from_pretrained`` fills it and vLLM's ``_get_and_verify_max_len`` reads it; a vision-language model's context is
its ``text_config``'s (vLLM passes ``hf_text_config``). Gemma3TextConfig's default: ``max_position_embeddings=131_072``
(huggingface/transformers src/transformers/models/gemma3/configuration_gemma3.py); Gemma 3 27B's published
text_config (google/gemma-3-27b-it config.json, the preset's fields) has no such field."""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.builders.hf import scaled_context
from accelsim.config import load_workload


def _notes(model: str, *sets: str) -> list[str]:
    w = load_workload(model, ["phase=decode", "layers=1", "attention=fused", *sets])
    return list(build_workload(w.model, w.params).meta.get("notes") or ())


def test_gemma3_27b_past_its_default_131072_token_context_gets_the_note():
    # a decode step after 200,000 cached tokens reaches position 200,001 > 131,072
    notes = _notes("gemma3_27b", "kv_len=200000")
    assert any("positions up to 200,001 exceed the model's 131,072-token context (max_position_embeddings)" in n
               for n in notes), notes
    # position 131,072 (131,071 cached + 1) is inside it; Gemma 3's linear factor 8 is not applied (vLLM skips it)
    assert not any("context" in n for n in _notes("gemma3_27b", "kv_len=131071"))


def test_a_vision_language_models_context_is_its_text_configs():
    # llava_1_5_7b's text_config: max_position_embeddings 4096 (llava-hf/llava-1.5-7b-hf config.json), none at the top
    assert any("positions up to 5,001 exceed the model's 4,096-token context" in n
               for n in _notes("llava_1_5_7b", "kv_len=5000"))
    assert not any("context" in n for n in _notes("llava_1_5_7b", "kv_len=4095"))


def test_the_default_only_where_the_field_is_absent_and_the_class_is_known():
    gemma3 = {"architectures": ["Gemma3ForConditionalGeneration"], "text_config": {"hidden_size": 8}}
    assert scaled_context(gemma3) == (131_072, "")
    # the config's own value wins over the class default, in the text_config or at the top
    assert scaled_context({**gemma3, "text_config": {"max_position_embeddings": 32_768}})[0] == 32_768
    assert scaled_context({"architectures": ["Gemma3ForCausalLM"], "max_position_embeddings": 32_768})[0] == 32_768
    # an architecture whose class default was not read: no context, no note (as before)
    assert scaled_context({"architectures": ["Qwen3NextForCausalLM"]}) == (None, "")
