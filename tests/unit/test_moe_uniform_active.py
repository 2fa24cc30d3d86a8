"""MoE routing ``uniform`` (the expected distinct experts of independent uniform top-k picks), the active-parameter
count without the input embedding (gpt-oss's model card), ``accelsim info`` on an MoE model (and ``-w``), and the
training memory check's weights: every parameter once, the token embedding included."""

from __future__ import annotations

import json
import re

from accelsim.builders import build_workload
from accelsim.builders.moe import Routing, expected_experts, expert_loads
from accelsim.cli import main
from accelsim.config import load_workload

# 16 experts, top-2: a tiny Mixtral (hidden 128, expert width 256, 4 heads of 32, 2 KV heads, 2 layers)
TINY = {"architectures": ["MixtralForCausalLM"], "hidden_size": 128, "intermediate_size": 256,
        "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256,
        "num_local_experts": 16, "num_experts_per_tok": 2}


def test_expected_experts_by_hand():
    # gpt-oss-120b, E = 128, k = 4: 1 − k/E = 124/128 = 0.96875; ln 0.96875 = −0.0317487
    # T = 1: 128 · (1 − 0.96875) = 4 (one token's picks)
    assert expected_experts(1, 4, 128) == 4
    # T = 8: 0.96875^8 = e^(−0.253990) = 0.775701; 128 · 0.224299 = 28.71 → 29
    assert expected_experts(8, 4, 128) == 29
    # T = 32: 0.96875^32 = e^(−1.015958) = 0.362054; 128 · 0.637946 = 81.66 → 82 (balanced: all 128)
    assert expected_experts(32, 4, 128) == 82
    # DeepSeek-V3, E = 256, k = 8, 64 tokens: 1 − 8/256 = 0.96875 again, ^64 = 0.362054² = 0.131083;
    # 256 · 0.868917 = 222.44 → 222
    assert expected_experts(64, 8, 256) == 222
    # many tokens touch every expert; none touch none
    assert expected_experts(10_000, 4, 128) == 128 and expected_experts(0, 4, 128) == 0


def test_uniform_loads_spread_evenly_over_the_expected_experts():
    # 32 tokens × 4 = 128 assignments over 82 experts: 128 = 82 + 46, so 46 experts take 2 and 36 take 1
    kept = expert_loads(32, 4, 128, Routing("uniform")).kept
    assert kept == (2,) * 46 + (1,) * 36 + (0,) * 46
    # balanced touches min(E, T·k) = 128: one assignment each
    assert expert_loads(32, 4, 128, Routing()).kept == (1,) * 128


def test_uniform_routing_in_a_graph():
    # 4 tokens, E = 16, k = 2: 16 · (1 − (14/16)^4) = 16 · (1 − 0.586182) = 6.62 → 7 experts; 8 assignments:
    # one expert takes 2, six take 1 (balanced: 8 experts, 1 each)
    g = build_workload("hf", {"config": TINY, "seq_len": 4, "moe_routing": "uniform"})
    moe = g.meta["moe"]
    assert (moe["routing"], moe["experts_hit"]) == ("uniform", 7)
    assert moe["tokens_per_expert"] == [2, 1, 1, 1, 1, 1, 1] + [0] * 9
    assert build_workload("hf", {"config": TINY, "seq_len": 4}).meta["moe"]["experts_hit"] == 8


def test_gpt_oss_active_params_without_the_embedding_match_the_model_card():
    # OpenAI's gpt-oss-120b & gpt-oss-20b model card (August 2025), table 1: 5.13 B and 3.61 B active, "the active
    # count leaving out the embedding table"; the input embedding is vocab 201,088 × hidden 2,880 = 579,133,440
    for name, card in (("gpt_oss_120b", 5.13e9), ("gpt_oss_20b", 3.61e9)):
        w = load_workload(name)
        moe = build_workload(w.model, {**w.params, "seq_len": 1}).meta["moe"]
        assert moe["active_params"] - moe["active_params_non_embedding"] == 201_088 * 2_880
        assert round(moe["active_params_non_embedding"] / 1e7) * 1e7 == card


def test_info_shows_moe_active_params_and_takes_w(capsys):
    assert main(["info", "-w", "mixtral_8x7b", "--json"]) == 0
    moe = json.loads(capsys.readouterr().out)["moe"]
    # Mixtral-8x7B: 12.9 B active with its embeddings (Mistral AI); less the 32,000 × 4,096 input embedding
    assert (moe["experts"], moe["top_k"], moe["moe_layers"]) == (8, 2, 32)
    assert moe["active_params"] - moe["active_params_non_embedding"] == 32_000 * 4_096
    assert round(moe["active_params"] / 1e8) == 129
    assert main(["info", "mixtral_8x7b"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"active params\s*│\s*12,879,925,248 a token \(12,748,853,248 without the input", out)
    assert main(["info", "mixtral_8x7b", "-w", "gpt2"]) == 2
    assert capsys.readouterr().err.strip() == ("accelsim: error: info: two workloads ('mixtral_8x7b' and -w 'gpt2'); "
                                               "give one")


def test_training_check_counts_every_weight_once(tmp_path, capsys, monkeypatch):
    # a small MoE whose untied 65,536 × 128 embedding and head dominate: params 2 · 65,536 · 128 = 16,777,216, per
    # layer q 128·128 + k, v 128·64 each + o 128·128 = 49,152, router 16·128 = 2,048, 16 experts · 3 · 128 · 256 =
    # 1,572,864, two norms 256: 1,624,320 a layer, 2 layers 3,248,640; final norm 128: 20,025,984 params, 2 B each
    # in bf16, their gradients 4 B each (fp32, as Megatron-LM keeps a bf16 model's: units.GRAD_DTYPE); 180 MB holds
    # the weights and gradients (120,155,904 B) but not Adam's 12 B a parameter beside them
    params = 2 * 65_536 * 128 + 2 * (49_152 + 2_048 + 16 * 3 * 128 * 256 + 256) + 128
    assert params == 20_025_984
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wl.yaml").write_text(json.dumps({"model": "hf", "config": {**TINY, "vocab_size": 65_536},
                                                  "seq_len": 16, "mode": "training"}))
    argv = ["run", "-w", "wl.yaml", "-a", "h100", "--set", "arch.hbm.capacity=180MB", "-o", "o", "--no-plots", "-q"]
    assert main(argv) == 2
    line = capsys.readouterr().err
    assert f"(weights {2 * params:,}, gradients {4 * params:,}, " in line
    # the offload the check advises fits at the capacity it names: no weight beyond the main memory
    need = int(re.search(r"options.offload: optimizer \(needs ([\d,]+) B\)", line).group(1).replace(",", ""))
    assert main([*argv[:6], f"arch.hbm.capacity={need}B", "--set", "options.offload=optimizer", *argv[7:]]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["memory"]["hbm"]["weights"] == 2 * params and report["memory"]["host"]["weights"] == 0
