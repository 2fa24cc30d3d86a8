"""Qwen2-MoE's sliding layers without ``layer_types`` follow Qwen2MoeConfig, not Qwen2Config (probe p178 #6).

transformers' src/transformers/models/qwen2_moe/configuration_qwen2_moe.py (``__post_init__``) fills ``layer_types``
"sliding_attention" where ``bool((i + 1) % 2) and i < max_window_layers and use_sliding_window``, else
"full_attention", and sets ``sliding_window`` to 0 without ``use_sliding_window`` (its default 4096); Qwen2Config
slides from ``max_window_layers`` on instead (tests/unit/test_hf_saved_keys_p167.py).
"""

from __future__ import annotations

from accelsim.builders.hfconfig import parse

MOE = {"architectures": ["Qwen2MoeForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
       "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 6, "vocab_size": 1000,
       "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 128,
       "shared_expert_intermediate_size": 256, "use_sliding_window": True, "sliding_window": 64,
       "max_window_layers": 4}


def test_qwen2_moe_slides_on_the_even_layers_below_max_window_layers():
    # i = 0..5: (i + 1) % 2 is 1 on 0, 2, 4; i < 4 keeps 0 and 2 -> sliding, sliding on layers 0 and 2 only
    assert parse(MOE).windows == (64, 0, 64, 0, 0, 0)
    # the list, where given, wins (as in transformers)
    listed = ["full_attention"] * 5 + ["sliding_attention"]
    assert parse({**MOE, "layer_types": listed}).windows == (0, 0, 0, 0, 0, 64)
    # without use_sliding_window every layer is global
    assert parse({**MOE, "use_sliding_window": False}).windows == (0,) * 6
    # the probe's case: 4 layers, max_window_layers 2 -> sliding, full, full, full (Qwen2's rule gave 0, 0, 64, 64)
    assert parse({**MOE, "num_hidden_layers": 4, "max_window_layers": 2}).windows == (64, 0, 0, 0)
    # sliding_window left out: Qwen2MoeConfig's default, 4096
    no_size = {k: v for k, v in MOE.items() if k != "sliding_window"}
    assert parse(no_size).windows == (4096, 0, 4096, 0, 0, 0)
