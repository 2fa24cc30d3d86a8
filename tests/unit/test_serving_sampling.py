"""Layer samples in LLM serving runs: each pass of a model of n identical layers simulated with 1 and with 2 layers
and extrapolated affinely in n (options.layer_samples), against every layer simulated; a model of k distinct layers
then n alike (DeepSeek's dense layers before its MoE ones) with its first k + 1 and k + 2 layers; layers repeating a
unit of p (Gemma-2's local/global windows, Qwen3-Next's 3 linear-attention layers to 1 full) with k + p and k + 2p.

Why the totals agree: the layers of these models are identical (the same ops, shapes and bytes) and run back to
back, so a middle layer's work, traffic, stalls and busy cycles equal those of the first layer of the 2-layer run
plus the last layer minus the single layer (accelsim/scenarios/sampling.py). MACs and FLOPs are integers and must
agree exactly. Cycles, bytes, stalls and energy are affine combinations of floats (f1 + (n - 1)(f2 - f1)), rounded
per row: a relative tolerance of 1e-9 admits that rounding, while a boundary effect between layers (a layer
overlapping its neighbour's tail differently in a 12-layer run than in the 2-layer one) or a layer placed in
another memory would show as a relative difference of 1e-4 or more (one op of one layer of 12 is ~1 % of the run).
"""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.builders.hf import HfParams, identical_layers
from accelsim.config import build_graph, load_arch, load_workload
from accelsim.scenarios.sampling import layer_samples

# a LLaMA-style decoder of 12 layers small enough to simulate every layer in well under a second
TINY_LLAMA = {"model": "hf", "architectures": ["LlamaForCausalLM"], "hidden_size": 256, "intermediate_size": 688,
              "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 12, "vocab_size": 1024,
              "seq_len": 64, "decode_steps": 4}
TINY_GPT = {"model": "gpt", "hidden": 256, "heads": 4, "layers": 12, "seq_len": 64, "vocab": 1024, "batch": 2,
            "decode_steps": 4, "max_positions": 128}
# Mixtral's MoE block in every layer: 4 experts, top-2
TINY_MIXTRAL = {**TINY_LLAMA, "architectures": ["MixtralForCausalLM"], "num_local_experts": 4,
                "num_experts_per_tok": 2}
EXACT = 1e-9


def _both(spec: dict, arch) -> tuple[dict, dict]:
    workload = load_workload(spec)
    full = simulate(workload, arch, layer_samples=False).to_dict()
    fast = simulate(workload, arch).to_dict()
    return full, fast


def _assert_same_totals(full: dict, fast: dict) -> None:
    assert full["options"]["layer_samples"] is False and not any(n.startswith("power.peak_w") for n in full["notes"])
    assert fast["macs"] == full["macs"] and fast["flops"] == full["flops"]
    assert fast["total_cycles"] == pytest.approx(full["total_cycles"], rel=EXACT)
    assert fast["serving"]["step_cycles"] == pytest.approx(full["serving"]["step_cycles"], rel=EXACT)
    assert fast["serving"]["ttft_s"] == pytest.approx(full["serving"]["ttft_s"], rel=EXACT)
    assert set(fast["bytes"]) == set(full["bytes"])
    for level, nbytes in full["bytes"].items():
        assert fast["bytes"][level] == pytest.approx(nbytes, rel=EXACT), level
    assert fast["stall_cycles"] == pytest.approx(full["stall_cycles"], rel=EXACT)
    assert fast["energy"]["total_j"] == pytest.approx(full["energy"]["total_j"], rel=EXACT)
    for level, joules in full["energy"]["by_level"].items():
        assert fast["energy"]["by_level"][level] == pytest.approx(joules, rel=EXACT), level
    for unit, busy in full["utilization"].items():
        assert fast["utilization"][unit] == pytest.approx(busy, rel=EXACT, abs=1e-12), unit
    # the footprint of the whole model: weights and KV caches of all 12 layers
    for key in ("kv_cache_bytes", "weight_bytes"):
        assert fast["serving"][key] == full["serving"][key]
    assert fast["memory"] == full["memory"] and fast["placement"] == full["placement"]
    assert fast["params"] == full["params"]


def test_hf_llama_serving_from_one_and_two_layers_matches_every_layer():
    full, fast = _both(TINY_LLAMA, load_arch("gemmini"))
    assert fast["serving"]["layer_samples"] == [1, 2] and full["serving"]["layer_samples"] is None
    _assert_same_totals(full, fast)
    # each of the prefill and 4 decode steps ran as 2 small passes instead of 1 of 12 layers
    assert fast["simulation"]["passes"] == 2 * full["simulation"]["passes"] == 10
    assert fast["simulation"]["tasks"] < full["simulation"]["tasks"] / 2
    # shown ops: the 2-layer run's; its first layer stands for 11 of the 12 layers (count 11 in the prefill and
    # 11 × 4 over the decode steps), its last for the last one
    counts = {(op["phase"], op["name"].split(".")[2]) for op in fast["ops"] if op["name"].startswith("model.layers.")}
    assert counts == {("prefill", "0"), ("prefill", "1"), ("decode", "0"), ("decode", "1")}
    prefill_counts = {op["name"].split(".")[2]: op["count"] for op in fast["ops"]
                      if op["phase"] == "prefill" and op["name"].startswith("model.layers.")}
    assert prefill_counts == {"0": 11, "1": 1}
    assert {op["count"] for op in fast["ops"] if op["phase"] == "decode" and ".layers.0." in op["name"]} == {44}


@pytest.mark.parametrize("spec", [TINY_GPT, TINY_MIXTRAL], ids=["gpt", "mixtral"])
def test_gpt_and_moe_serving_from_one_and_two_layers_matches_every_layer(spec):
    full, fast = _both(spec, load_arch("gemmini"))
    assert fast["serving"]["layer_samples"] == [1, 2]
    _assert_same_totals(full, fast)


def test_a_layer_sampled_moe_run_reports_the_whole_models_moe_counts():
    # probe p49: the moe block was the 2-layer sample's (moe_layers 2). TINY_MIXTRAL by hand (untied embeddings):
    # per layer attention 256·(256 + 128 + 128 + 256) = 196,608 (k/v: 2 heads of 64), router 4·256, norms 2·256;
    # one expert 3·256·688 = 528,384; embeddings + head 2·1024·256, final norm 256
    dense = 2 * 1024 * 256 + 12 * (196_608 + 4 * 256 + 2 * 256) + 256
    total, active = dense + 12 * 4 * 528_384, dense + 12 * 2 * 528_384
    assert (total, active) == (28_264_704, 15_583_488)
    fast = simulate(load_workload(TINY_MIXTRAL), load_arch("gemmini")).to_dict()
    assert fast["serving"]["layer_samples"] == [1, 2] and fast["params"] == total
    moe = fast["moe"]
    assert (moe["moe_layers"], moe["total_params"], moe["active_params"]) == (12, total, active)
    assert moe["active_params_non_embedding"] == active - 1024 * 256
    assert (moe["experts"], moe["top_k"]) == (4, 2)
    # the option as the run took it (default: on), and a note that the peak power is the 2-layer sample's window
    assert fast["options"]["layer_samples"] is True
    peak = [n for n in fast["notes"] if n.startswith("power.peak_w")]
    assert len(peak) == 1 and "2-layer sample pass, not of the 12-layer model" in peak[0]
    assert "options.layer_samples=false" in peak[0]


@pytest.mark.parametrize("hbm", ["2GiB", "weights_and_cache"])
def test_a_model_spilling_out_of_hbm_simulates_every_layer(hbm):
    # LLaMA-2-7B layers of 202,383,360 params (4·4096² attention + 3·4096·11008 MLP + 2·4096 norms) hold
    # 404.8 MB each in fp16: 8 of them (3.2 GB) overflow a 2 GiB HBM into host memory, early layers first, while the
    # 1- and 2-layer samples fit. Placed differently, the layers are not alike: no sampling, the same report. With
    # an HBM one byte larger than the prefill's weights and KV caches, only the activations' reserve overflows it
    # (found from the samples' footprint, after simulating them)
    spec = {"model": "llama2_7b", "layers": 8, "seq_len": 16, "decode_steps": 1}
    if hbm == "weights_and_cache":
        graph = build_graph(load_workload({**spec, "decode_steps": 0}), "fp16")
        hbm = str(graph.weight_bytes + sum(graph.kv_cache_sizes().values()) + 1)
    arch = load_arch("h100", [f"arch.hbm.capacity={hbm}"])
    full, fast = _both(spec, arch)
    assert full["memory"]["host"]["used"] > 0
    assert fast["serving"]["layer_samples"] is None
    assert fast["total_cycles"] == full["total_cycles"] and fast["bytes"] == full["bytes"]


def test_hf_layers_alike_only_when_every_layer_is_built_the_same():
    gemma2 = {"architectures": ["Gemma2ForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "num_hidden_layers": 6,
              "vocab_size": 1024, "sliding_window": 128}
    # Gemma-2 alternates local (even) and global (odd) attention layers: 6 layers, 3 units of 2
    assert identical_layers(HfParams.model_validate(gemma2)) == (0, 6, 2)
    # 4 layers are 2 units, too few to extrapolate from 1 and 2 of them
    assert identical_layers(HfParams.model_validate({**gemma2, "num_hidden_layers": 4})) is None
    llama = {k: v for k, v in TINY_LLAMA.items() if k != "model"}
    assert identical_layers(HfParams.model_validate(llama)) == (0, 12, 1)
    assert identical_layers(HfParams.model_validate({**llama, "layers": 2})) == (0, 2, 1)


# DeepSeek-V3's layout in small: MLA, 3 dense layers (first_k_dense_replace) then 9 MoE layers of 8 routed experts,
# top-2, one shared expert
TINY_DEEPSEEK = {"model": "hf", "architectures": ["DeepseekV3ForCausalLM"], "hidden_size": 256,
                 "intermediate_size": 688, "moe_intermediate_size": 128, "num_attention_heads": 4,
                 "num_key_value_heads": 4, "num_hidden_layers": 12, "vocab_size": 1024, "q_lora_rank": 64,
                 "kv_lora_rank": 64, "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 32,
                 "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 3,
                 "moe_layer_freq": 1, "n_group": 1, "topk_group": 1, "mla": "latent", "seq_len": 64,
                 "decode_steps": 4}


def test_deepseek_v3_is_three_distinct_layers_then_58_alike():
    # the published config (workloads/deepseek_v3.yaml): num_hidden_layers 61, first_k_dense_replace 3, so layers
    # 0-2 dense and 61 - 3 = 58 MoE; sampled with its first 3 + 1 = 4 and 3 + 2 = 5 layers (9 of 61 simulated)
    assert identical_layers(HfParams(**load_workload("deepseek_v3").params)) == (3, 58, 1)
    # DeepSeek-V2-Lite: 27 layers, first_k_dense_replace 1
    assert identical_layers(HfParams(**load_workload("deepseek_v2_lite").params)) == (1, 26, 1)
    tiny = {k: v for k, v in TINY_DEEPSEEK.items() if k != "model"}
    assert identical_layers(HfParams.model_validate(tiny)) == (3, 9, 1)
    # 3 dense layers then 2 MoE ones: nothing to extrapolate from 1 and 2 MoE layers
    assert identical_layers(HfParams.model_validate({**tiny, "layers": 5})) is None
    assert identical_layers(HfParams.model_validate({**tiny, "layers": 3})) == (0, 3, 1)  # the dense layers alone


def test_published_patterned_models_repeat_a_unit():
    # Gemma-2-9B (workloads/gemma2_9b.yaml): 42 layers alternating local (sliding_window 4096) and global
    assert identical_layers(HfParams(**load_workload("gemma2_9b").params)) == (0, 42, 2)
    # Gemma-3-27B: 62 layers, every 6th global (layers 5, 11, ..., 59; sliding_window_pattern 6): 62 = 10·6 + 2, the
    # 2 layers before the last whole unit (0 and 1, local) the prefix, then 10 units local ×3, global, local ×2
    assert identical_layers(HfParams(**load_workload("gemma3_27b").params)) == (2, 60, 6)
    # Qwen3-Next-80B: 48 layers, full attention every 4th (full_attention_interval 4): 12 units of 3 linear + 1 full
    assert identical_layers(HfParams(**load_workload("qwen3_next_80b").params)) == (0, 48, 4)


def test_layer_samples_are_the_prefix_and_one_then_two_alike_layers_when_that_is_fewer_layers():
    assert layer_samples((3, 58, 1)) == (4, 5)
    assert layer_samples((0, 3, 1)) == (1, 2) and layer_samples((0, 2, 1)) is None and layer_samples(None) is None
    # 3 + 6 = 9 layers: the samples' 4 + 5 = 9 simulated layers are no more than the model's
    assert layer_samples((3, 6, 1)) == (4, 5)
    assert layer_samples((3, 5, 1)) is None  # 4 + 5 = 9 layers simulated for a model of 8
    # units of p layers: k + p and k + 2p; Gemma-2-9B 2 + 4 = 6 of 42 layers, Gemma-3-27B 8 + 14 = 22 of 62
    assert layer_samples((0, 42, 2)) == (2, 4) and layer_samples((2, 60, 6)) == (8, 14)
    assert layer_samples((0, 12, 4)) == (4, 8)  # 12 layers: 4 + 8 = 12 simulated, no more than the model's
    assert layer_samples((2, 18, 6)) is None  # 8 + 14 = 22 layers simulated for a model of 20
    assert layer_samples((0, 4, 2)) is None  # 2 units: nothing to extrapolate


def test_a_dense_prefix_then_moe_layers_from_four_and_five_layers_matches_every_layer():
    # the prefix runs whole in both samples, so the 5-layer run less the 4-layer one is one MoE layer in the same
    # place between its neighbours as every MoE layer but the first and last: the totals as exact as for alike layers
    for arch in ("gemmini", "h100"):
        full, fast = _both(TINY_DEEPSEEK, load_arch(arch))
        assert fast["serving"]["layer_samples"] == [4, 5] and full["serving"]["layer_samples"] is None
        _assert_same_totals(full, fast)
        assert fast["serving"]["tpot_s"] == pytest.approx(full["serving"]["tpot_s"], rel=EXACT)
    # shown ops: the 5-layer run's; dense layers 0-2 once each, MoE layer 3 for layers 3-10 (8 of them), layer 4 for
    # layer 11
    counts = {op["name"].split(".")[2]: op["count"] for op in fast["ops"]
              if op["phase"] == "prefill" and op["name"].startswith("model.layers.")}
    assert counts == {"0": 1, "1": 1, "2": 1, "3": 8, "4": 1}
    # each of the prefill and 4 decode steps: 2 passes of 4 and 5 layers instead of 1 of 12
    assert fast["simulation"]["passes"] == 2 * full["simulation"]["passes"] == 10


def _grid_sampled_and_whole(monkeypatch, model):
    """For a prefill and a decode shape of ``model`` on h100: the decoder layers each pass of the serving grid's
    sampled pricing simulated, its price, and the price with every layer simulated."""
    from accelsim.options import Options
    from accelsim.serving import cost

    arch, real = load_arch("h100"), cost.simulate_pass
    for spec in (cost.shape(model, phase="prefill", seq_len=64, batch=1),
                 cost.shape(model, phase="decode", kv_len=70, batch=4)):
        seen: list[int] = []

        def counting(graph, *a, seen=seen, **k):
            seen.append(len({op.name.split(".")[2] for op in graph.ops if op.name.startswith("model.layers.")}))
            return real(graph, *a, **k)

        monkeypatch.setattr(cost, "simulate_pass", counting)
        sampled = cost.simulate_shape(spec, arch, Options(), graphs=True)
        monkeypatch.setattr(cost, "simulate_pass", real)
        yield seen, sampled, cost.simulate_shape(spec, arch, Options(layer_samples=False), graphs=True)


def test_the_serving_grid_prices_a_dense_prefix_model_from_its_four_and_five_layer_passes(monkeypatch):
    for seen, sampled, whole in _grid_sampled_and_whole(monkeypatch, load_workload(TINY_DEEPSEEK)):
        assert seen == [4, 5]  # the passes of the first 4 and 5 layers only
        assert sampled[0] == pytest.approx(whole[0], rel=EXACT)  # seconds
        assert sampled[1] == pytest.approx(whole[1], rel=EXACT)  # joules


def test_a_layer_sample_too_big_for_the_memories_is_refused_with_the_whole_models_bytes(tmp_path, capsys,
                                                                                        monkeypatch):
    # probe p42 #2: with decode_steps the prefill ran as a 1-layer sample, whose placement error gave the sample's
    # weights (92,946,432 B: the embeddings, one layer and the final norm of gpt2) as the model's
    from accelsim.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-w", "gpt2", "-a", "h100", "--batch", "64", "--set", "workload.seq_len=1022",
                 "--set", "workload.decode_steps=2", "--set", "arch.hbm.capacity=1GiB",
                 # host memory too small as well, so the refusal gives the totals (weights and activations): where
                 # the memories together hold the footprint it names the activations' level alone (probe p283 #3)
                 "--set", "arch.host.capacity=1GiB", "-q", "--no-plots", "-o", "o"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    # gpt2 (Radford et al. 2019, HF GPT2Model): V = 50257, P = 1024 positions, h = 768, 12 layers of 12h^2 + 13h
    # (with biases and both norms), the final norm 2h, the LM head tied: 124,439,808 params, 2 B each in bf16
    v, p, h = 50257, 1024, 768
    params = v * h + p * h + 12 * (12 * h * h + 13 * h) + 2 * h
    assert params == 124_439_808
    assert f"weights ({2 * params} B)" in line, line  # the prefill's pass holds no KV cache (probe p84 #7)
    # the largest op's working set: the unfused attention's causal mask, reading the scores (64 x 12 x 1022 x 1022)
    # and the mask (64 x 1 x 1022 x 1022) and writing the masked scores (64 x 12 x 1022 x 1022), 2 B each (a 1,022-
    # token prompt: with 2 decode steps its positions reach GPT-2's 1,024, not past them). It was the LM head's
    # input and logits over every position, 64 x 1022 x (768 + 50257) x 2 B, until a served prefill (decode_steps)
    # of the gpt2 preset computed only each sequence's last logits, as vLLM and hf's (logits: last, probe p247 #1)
    act = (12 + 1 + 12) * 64 * 1022 * 1022 * 2
    assert f"and activations ({act} B) need {2 * params + act} B" in line


# Gemma-2's layout in small: local (even layers, a sliding window of 16 < the 64-token prompt) and global (odd)
# attention alternating, 12 layers = 6 units of 2; with 13 layers the last whole units start at layer 1, so layer 0
# (local) is the prefix and each unit is global then local
TINY_GEMMA2 = {"model": "hf", "architectures": ["Gemma2ForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
               "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "num_hidden_layers": 12,
               "vocab_size": 1024, "sliding_window": 16, "seq_len": 64, "decode_steps": 4}
# Qwen3-Next's layout in small: Gated DeltaNet linear attention in 3 of every 4 layers, full attention in the 4th
# (full_attention_interval), an MoE block of 4 experts (top 2) and a shared expert in each: 12 layers = 3 units of 4
TINY_QWEN3_NEXT = {"model": "hf", "architectures": ["Qwen3NextForCausalLM"], "hidden_size": 256,
                   "intermediate_size": 512, "num_hidden_layers": 12, "num_attention_heads": 4,
                   "num_key_value_heads": 2, "head_dim": 64, "full_attention_interval": 4,
                   "linear_conv_kernel_dim": 4, "linear_key_head_dim": 32, "linear_value_head_dim": 32,
                   "linear_num_key_heads": 2, "linear_num_value_heads": 4, "num_experts": 4,
                   "num_experts_per_tok": 2, "moe_intermediate_size": 128, "shared_expert_intermediate_size": 128,
                   "decoder_sparse_step": 1, "mlp_only_layers": [], "partial_rotary_factor": 0.25,
                   "vocab_size": 1024, "seq_len": 64, "decode_steps": 4}


@pytest.mark.parametrize(("spec", "layers", "samples"), [
    (TINY_GEMMA2, (0, 12, 2), [2, 4]), ({**TINY_GEMMA2, "num_hidden_layers": 13}, (1, 12, 2), [3, 5]),
    (TINY_QWEN3_NEXT, (0, 12, 4), [4, 8])], ids=["gemma2", "gemma2_prefix", "qwen3_next"])
def test_a_repeating_unit_of_layers_from_one_and_two_units_matches_every_layer(spec, layers, samples):
    # a middle unit is F + L - S of the ops at the same position of the 2-unit run's first unit (F), its last (L)
    # and the 1-unit run's (S), as a middle layer is of alike layers: the totals as exact
    assert identical_layers(HfParams.model_validate({k: v for k, v in spec.items() if k != "model"})) == layers
    k, n, p = layers
    for arch in ("gemmini", "h100"):
        full, fast = _both(spec, load_arch(arch))
        assert fast["serving"]["layer_samples"] == samples and full["serving"]["layer_samples"] is None
        _assert_same_totals(full, fast)
        assert fast["serving"]["tpot_s"] == pytest.approx(full["serving"]["tpot_s"], rel=EXACT)
        assert fast["simulation"]["passes"] == 2 * full["simulation"]["passes"] == 10
    # shown ops: the (k + 2p)-layer run's; the prefix's layers once, the first unit's p layers each for the
    # n / p - 1 units but the last, the last unit's once
    counts = {int(op["name"].split(".")[2]): op["count"] for op in fast["ops"]
              if op["phase"] == "prefill" and op["name"].startswith("model.layers.")}
    assert counts == {**{i: 1 for i in range(k)}, **{i: n // p - 1 for i in range(k, k + p)},
                      **{i: 1 for i in range(k + p, k + 2 * p)}}


@pytest.mark.parametrize(("spec", "seen_layers"), [(TINY_GEMMA2, [2, 4]), (TINY_QWEN3_NEXT, [4, 8])],
                         ids=["gemma2", "qwen3_next"])
def test_the_serving_grid_prices_a_repeating_unit_from_one_and_two_units(monkeypatch, spec, seen_layers):
    for seen, sampled, whole in _grid_sampled_and_whole(monkeypatch, load_workload(spec)):
        assert seen == seen_layers
        assert sampled.seconds == pytest.approx(whole.seconds, rel=EXACT)
        assert sampled.joules == pytest.approx(whole.joules, rel=EXACT)
        # the attention MACs computed, affine too: Gemma-2's local layers compute another share than its global
        assert sampled.computed == pytest.approx(whole.computed, rel=EXACT)


def test_accelsim_serve_reports_the_layer_samples_of_its_grid():
    # accelsim serve's report.json carries serving.layer_samples as accelsim run's does: the tiny Gemma-2's grid
    # shapes each ran with its first 2 and 4 layers (one unit of local + global, two units), every one of them
    # (iteration_cost.layer_sampled_shapes), and the run's figures are the whole model's
    from accelsim.config.serving import load_serving
    from accelsim.serving import serve

    params = {k: v for k, v in TINY_GEMMA2.items() if k not in ("model", "seq_len", "decode_steps")}

    def spec(options: dict):
        return load_serving({
            "name": "t", "model": {"base": "hf", **params}, "arch": "h100", "options": options,
            "engine": {"max_num_seqs": 4, "max_num_batched_tokens": 256, "max_model_len": 256, "block_size": 16},
            "workload": {"arrival": {"process": "constant", "rate": 100}, "requests": 4,
                         "prompt_tokens": {"dist": "fixed", "value": 100},
                         "output_tokens": {"dist": "fixed", "value": 8}}})

    fast, full = serve(spec({})).report, serve(spec({"layer_samples": False})).report
    assert fast["serving"]["layer_samples"] == [2, 4] and full["serving"]["layer_samples"] is None
    grid = fast["iteration_cost"]
    assert grid["layer_samples"] == [2, 4] and grid["layer_sampled_shapes"] == grid["simulations"]
    assert full["iteration_cost"]["layer_sampled_shapes"] == 0
    # options.layer_samples as the run took it, the default included, as accelsim run's serving report (probe p49 #5)
    assert fast["options"]["layer_samples"] is True and full["options"]["layer_samples"] is False
    for key in ("ttft_s", "tpot_s", "e2e_s"):
        assert fast["serving"][key]["mean"] == pytest.approx(full["serving"][key]["mean"], rel=EXACT), key
    assert fast["energy"]["total_j"] == pytest.approx(full["energy"]["total_j"], rel=EXACT)


def test_the_computed_work_note_is_the_runs_not_a_passs():
    # probe p52 #2: a composed run's "causal attention" note quoted its prefill pass's FLOPs and rate (a layer
    # sample's under layer_samples: 1.645e12 FLOPs against the report's 1.780e13); it is the run's, from its own
    # computed_flops, flops and seconds, so the sampled and the full runs say the same
    # 1,024 prompt tokens: the fused kernel skips the K/V blocks above the diagonal (at 64 there is one block)
    full, fast = _both({**TINY_LLAMA, "attention": "fused", "seq_len": 1024}, load_arch("h100"))
    for r in (full, fast):
        (note,) = [n for n in r["notes"] if n.startswith("causal attention")]
        assert f"compute {r['computed_flops']:,} FLOPs" in note and r["computed_flops"] < r["flops"]
        assert f"{r['computed_flops'] / r['seconds'] / 1e12:.4g} TFLOP/s" in note
