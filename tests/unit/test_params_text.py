"""Summary lines list a workload's params up to a length, then say how many more report.json holds."""

from accelsim.report.fmt import params_text, workload_text


def test_short_params_are_listed_whole_and_unset_ones_left_out():
    assert params_text({"m": 64, "n": 32, "bias": None, "causal": True}) == "m=64, n=32, causal=yes"
    # a preset Hugging Face model carries config={} (no config.json of its own): nothing to show; nor for ""
    assert params_text({"config": {}, "path": "", "seq_len": 512}) == "seq_len=512"


def test_long_params_are_cut_after_the_limit_with_a_count():
    # 10 items of 5 characters ("kN=1"-style): "k0=10, k1=10" is 12 characters; with limit 14 a third item
    # ("k0=10, k1=10, k2=10" = 19) would not fit, so 2 are shown and 8 counted
    params = {f"k{i}": 10 for i in range(10)}
    assert params_text(params, limit=14) == "k0=10, k1=10, … (+8 more in report.json)"


def test_a_hugging_face_workload_line_stays_short():
    config = {f"field_{i}": i for i in range(40)}  # a config.json's dozens of fields
    line = workload_text({"name": "mixtral_8x7b", "architecture": "MixtralForCausalLM", "batch": 1,
                          "params": {"dtype": "bf16", **config}})
    assert line.startswith("mixtral_8x7b (MixtralForCausalLM; batch 1; bf16; field_0=0")
    assert "more in report.json" in line and len(line) < 260


def test_the_optimizer_is_named_only_for_a_training_run():
    # every workload carries an optimizer parameter (default adam); an inference run never steps one
    params = {"dtype": "bf16", "optimizer": "adam", "m": 64}
    assert workload_text({"name": "gemm", "batch": 1, "mode": "inference", "params": params}) == \
        "gemm (batch 1; bf16; inference; m=64)"
    assert workload_text({"name": "gpt", "batch": 8, "mode": "training", "params": params}) == \
        "gpt (batch 8; bf16; training; optimizer=adam, m=64)"


def test_a_prefill_line_leaves_out_the_cache_length_and_unquantised_weights_their_group_size():
    # an LLM's params carry kv_len (read only by a decode pass: builders/transformer.py, hf.py) and
    # quant_group_size (read only for int4 / int8 / fp4 weights: builders/precision.py) whatever the run
    params = {"dtype": "bf16", "quant_group_size": 128, "phase": "prefill", "seq_len": 2048, "kv_len": 512,
              "decode_steps": 128}
    line = workload_text({"name": "llama2_7b", "batch": 1, "mode": "inference", "params": params})
    assert line == "llama2_7b (batch 1; bf16; inference; phase=prefill, seq_len=2048, decode_steps=128)"
    decode = dict(params, phase="decode", weight_dtype="int4")
    assert workload_text({"name": "llama2_7b", "batch": 1, "mode": "inference", "params": decode}) == (
        "llama2_7b (batch 1; bf16; inference; quant_group_size=128, phase=decode, seq_len=2048, kv_len=512, "
        "decode_steps=128, weight_dtype=int4)")


def test_the_group_size_of_quantised_experts_is_named():
    # gpt-oss: bf16 weights but MXFP4 experts (expert_weight_dtype), whose scales come one per quant_group_size
    params = {"dtype": "bf16", "expert_weight_dtype": "fp4", "quant_group_size": 32, "phase": "prefill"}
    line = workload_text({"name": "gpt_oss_20b", "batch": 1, "mode": "inference", "params": params})
    assert "quant_group_size=32" in line and "expert_weight_dtype=fp4" in line


def test_params_the_model_does_not_read_are_left_out_of_its_line():
    # a dense Hugging Face model carries the hf builder's MoE routing, mla and images params with their defaults;
    # the graph says it reads none of them (graph meta unread_params → report.json workload.unread)
    from accelsim import simulate

    report = simulate({"base": "llama3_8b", "layers": 1, "seq_len": 16}, "h100", plots=False)
    workload = report.to_dict()["workload"]
    assert {"moe_routing", "expert_parallel", "mla", "images"} <= set(workload["unread"])
    assert workload["params"]["moe_routing"] == "balanced"  # report.json keeps every param
    line = workload_text({"name": "llama3_8b", "batch": 1, "unread": workload["unread"],
                          "params": {"moe_routing": "balanced", "images": 0, "mla": "latent", "seq_len": 16}})
    assert line == "llama3_8b (batch 1; seq_len=16)"
    moe = simulate({"base": "mixtral_8x7b", "layers": 1, "seq_len": 16}, "h100", plots=False)
    assert "moe_routing" not in moe.to_dict()["workload"]["unread"]
