"""``--set workload.<config field>=...`` on the ``hf`` presets, through ``accelsim info`` and ``accelsim run``.

Each preset's base count is its published one (tests/unit/test_hf.py, test_moe.py); the change an override makes is
a hand formula written out here.
"""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main

from .test_hf import PUBLISHED
from .test_moe import MIXTRAL_TOTAL, QWEN_TOTAL

# (preset, field=value, params removed). One override per preset, covering every architecture kind.
CASES = [
    # LlamaForCausalLM: 8 → 4 KV heads: k and v lose 4 heads of 128 in each of 32 layers (hidden 4096)
    ("llama3_8b", "num_key_value_heads=4", 32 * 2 * 4096 * 4 * 128),
    ("llama3_70b", "num_key_value_heads=4", 80 * 2 * 8192 * 4 * 128),
    # 126 → 2 layers: 124 layers of q (128 heads) + k, v (8 each) · 128, o 16384², SwiGLU 3·16384·53248, 2 norms
    ("llama3_1_405b", "num_hidden_layers=2",
     124 * (16384 * 144 * 128 + 16384 * 16384 + 3 * 16384 * 53248 + 2 * 16384)),
    # MistralForCausalLM: 8 → 4 KV heads
    ("mistral_7b", "num_key_value_heads=4", 32 * 2 * 4096 * 4 * 128),
    # Qwen2ForCausalLM: 4 → 2 KV heads, k and v with biases: 2 · (3584 + 1) · 2 · 128 per layer, 28 layers
    ("qwen2_7b", "num_key_value_heads=2", 28 * 2 * (3584 + 1) * 2 * 128),
    # Qwen3ForCausalLM: head_dim 128 → 64: q_proj and o_proj lose 5120·64·64 each, k_proj and v_proj 5120·8·64
    # each, q_norm and k_norm 64 each, in each of 64 layers
    ("qwen3_32b", "head_dim=64", 64 * (2 * 5120 * 64 * 64 + 2 * 5120 * 8 * 64 + 2 * 64)),
    # Gemma2ForCausalLM: 8 → 4 KV heads of 256, 42 layers
    ("gemma2_9b", "num_key_value_heads=4", 42 * 2 * 3584 * 4 * 256),
    # Phi3ForCausalLM: 32 → 16 KV heads of 96: the fused qkv_proj loses 2·16·96 output rows of 3072, 32 layers
    ("phi3_mini", "num_key_value_heads=16", 32 * 2 * 16 * 96 * 3072),
    # OPTForCausalLM: ffn_dim 8192 → 4096: fc1 and fc2 lose 2·2048·4096 weights and fc1 4096 biases, 24 layers
    ("opt_1_3b", "ffn_dim=4096", 24 * (2 * 2048 * 4096 + 4096)),
]
# the MoE presets' base counts are test_moe.py's (published totals)
MOE_CASES = [
    # MixtralForCausalLM: 8 → 4 experts: 4 experts of 3·4096·14336 and 4 router rows of 4096 in each of 32 layers
    ("mixtral_8x7b", "num_local_experts=4", MIXTRAL_TOTAL, 32 * 4 * (3 * 4096 * 14336 + 4096)),
    # Qwen2MoeForCausalLM: 60 → 30 experts of 3·2048·1408 and 30 router rows of 2048 in each of 24 layers
    ("qwen1_5_moe_a2_7b", "num_experts=30", QWEN_TOTAL, 24 * 30 * (3 * 2048 * 1408 + 2048)),
]


def _info_params(capsys, preset: str, *sets: str) -> int:
    args = ["info", preset, "--json"]
    for s in ("seq_len=1", *sets):  # one token: the params do not depend on it, and the graph builds fast
        args += ["--set", f"workload.{s}"]
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)["params"]


@pytest.mark.parametrize(("preset", "override", "base", "removed"),
                         [(p, o, PUBLISHED[p], r) for p, o, r in CASES] + MOE_CASES)
def test_info_override_changes_the_params_by_the_hand_formula(capsys, preset, override, base, removed):
    assert _info_params(capsys, preset, override) == base - removed


def test_run_override_builds_the_changed_model(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--workload", "llama3_8b", "--arch", "h100", "--set", "workload.num_key_value_heads=4",
                 "--set", "workload.num_hidden_layers=2", "--set", "workload.seq_len=16", "--no-plots", "-q",
                 "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    # Llama 3 8B cut to 2 layers with 4 KV heads: untied embeddings and head 2·128256·4096; per layer q 32 + k, v
    # 4 + 4 heads of 128, o 4096², SwiGLU 3·4096·14336, two RMSNorms; the final norm 4096
    layer = 4096 * (32 + 8) * 128 + 4096 * 4096 + 3 * 4096 * 14336 + 2 * 4096
    assert report["params"] == 2 * 128256 * 4096 + 2 * layer + 4096
    assert report["workload"]["params"]["num_key_value_heads"] == 4
    k_proj = next(op for op in report["ops"] if op["name"] == "model.layers.0.self_attn.k_proj")
    assert k_proj["macs"] == 16 * 4096 * 4 * 128  # 16 tokens · hidden · 4 KV heads · 128


@pytest.mark.parametrize(("command", "preset", "override", "message"), [
    ("info", "llama3_8b", "num_kv_heads=4", "workload.num_kv_heads: unsupported field for LlamaForCausalLM"),
    ("run", "llama3_8b", "num_kv_heads=4", "workload.num_kv_heads: unsupported field for LlamaForCausalLM"),
    # OPT's config has no num_key_value_heads: the field would change nothing, so it is refused
    ("info", "opt_1_3b", "num_key_value_heads=4",
     "workload.num_key_value_heads: unsupported field for OPTForCausalLM"),
    # Qwen2-MoE counts its experts in num_experts, not Mixtral's num_local_experts
    ("run", "qwen1_5_moe_a2_7b", "num_local_experts=8",
     "workload.num_local_experts: unsupported field for Qwen2MoeForCausalLM"),
    ("info", "mistral_7b", "num_key_value_heads=5", "workload.num_key_value_heads: 5 must divide "
                                                     "num_attention_heads (32)"),
    # layers builds the config's first layers: gpt-oss-20b has 24 (its config's num_hidden_layers), and a 30th's
    # window is not in its layer_types (an internal IndexError); Mixtral's 32 took 8 more, built dense
    ("info", "gpt_oss_20b", "layers=30", "workload.layers: hf: layers 30 is more than the model's 24"),
    ("run", "mixtral_8x7b", "layers=40", "workload.layers: hf: layers 40 is more than the model's 32"),
])
def test_bad_override_is_one_line_exit_2(tmp_path, capsys, command, preset, override, message):
    args = [command, preset] if command == "info" else [command, "--workload", preset, "--arch", "h100", "-q",
                                                        "--no-plots", "-o", str(tmp_path / "out")]
    code = main([*args, "--set", f"workload.{override}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "out").exists()
