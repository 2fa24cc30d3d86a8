"""Probe p188 #3: every Mamba-1 model (MambaForCausalLM, FalconMambaForCausalLM, Jamba) reads
``mamba_ssm_cache_dtype``, as vLLM's engine option applies to each.

vLLM's MambaMixer.get_state_dtype() (vllm/model_executor/layers/mamba/mamba_mixer.py, the mixer of its Mamba,
FalconMamba and Jamba models) and JambaForCausalLM.get_mamba_state_dtype_from_config
(vllm/model_executor/models/jamba.py) return MambaStateDtypeCalculator.mamba1_state_dtype(model dtype,
mamba_cache_dtype, mamba_ssm_cache_dtype), which returns cls._mamba_state_dtype(...) as mamba2_state_dtype does
(vllm/model_executor/layers/mamba/mamba_utils.py): the conv state in the model's dtype (mamba_cache_dtype auto), the
SSM (temporal) state in ``mamba_ssm_cache_dtype`` unless it is auto. Its shapes, mamba1_state_shape: conv
(conv_kernel − 1, intermediate_size), temporal (intermediate_size, state_size). accelsim refused the key for these
models with "not a parameter of the hf builder nor a field MambaForCausalLM reads".

Sizes: state-spaces/mamba-2.8b-hf's config.json (hidden 2,560, 64 layers, state 16, expand 2, conv 4) and
JambaConfig's defaults (Jamba-v0.1's: hidden 4,096, 32 layers, attention on i % 8 == 4, mamba_expand 2,
mamba_d_state 16, mamba_d_conv 4).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelsim.builders import build_workload
from accelsim.cli import main

MAMBA_28 = {"architectures": ["MambaForCausalLM"], "hidden_size": 2560, "num_hidden_layers": 64, "vocab_size": 50280,
            "state_size": 16, "expand": 2, "conv_kernel": 4, "time_step_rank": 160, "layer_norm_epsilon": 1e-5,
            "tie_word_embeddings": True}

# mamba-2.8b, one layer: 5,120 channels (expand 2 × 2,560); the conv keeps 3 taps (conv_kernel − 1) of each in bf16
# (2 B) whatever the option; the SSM state is 5,120 × 16 elements
M28_CONV = 5120 * 3 * 2  # 30,720 B
M28_SSM = 5120 * 16  # 81,920 elements


def _graph(config, **params):
    return build_workload("hf", {"config": config, "dtype": "bf16", **params})


def test_mamba_2_8b_state_in_fp32():
    fp32 = _graph(MAMBA_28, phase="decode", kv_len=16, mamba_ssm_cache_dtype="float32")
    assert fp32.meta["state_cache_bytes"] == 64 * (M28_CONV + M28_SSM * 4) == 64 * 358_400 == 22_937_600
    auto = _graph(MAMBA_28, phase="decode", kv_len=16)  # the model's bf16, as before
    assert auto.meta["state_cache_bytes"] == 64 * (M28_CONV + M28_SSM * 2) == 64 * 194_560 == 12_451_840
    # "auto" is the model's dtype; float16 and bfloat16 are 2 B as bf16 is
    for name in ("auto", "float16", "bfloat16"):
        assert _graph(MAMBA_28, phase="decode", kv_len=16, mamba_ssm_cache_dtype=name).meta["state_cache_bytes"] == \
            12_451_840


def test_the_update_and_the_prompts_final_state_use_it_and_the_conv_taps_do_not():
    step = _graph(MAMBA_28, phase="decode", kv_len=16, layers=1, mamba_ssm_cache_dtype="float32")
    upd = step["backbone.layers.0.mixer.selective_state_update"]
    assert upd.dtype == "fp32"
    assert step.inputs["backbone.layers.0.mixer.ssm_state"] == (1, 5120, 16)
    prompt = _graph(MAMBA_28, seq_len=16, layers=1, mamba_ssm_cache_dtype="float32")
    assert prompt["backbone.layers.0.mixer.state_write"].dtype == "fp32"
    assert prompt["backbone.layers.0.mixer.conv_state_write"].dtype == "bf16"


def test_falcon_mamba_reads_it():
    # a small FalconMamba (2 layers, 1,024 wide, expand 2: 2,048 channels, no intermediate_size), 3 conv taps in bf16
    cfg = {"architectures": ["FalconMambaForCausalLM"], "hidden_size": 1024, "num_hidden_layers": 2, "expand": 2,
           "state_size": 16, "conv_kernel": 4}
    fp32 = _graph(cfg, phase="decode", kv_len=16, mamba_ssm_cache_dtype="float32").meta["state_cache_bytes"]
    auto = _graph(cfg, phase="decode", kv_len=16).meta["state_cache_bytes"]
    assert auto == 2 * (2048 * 3 * 2 + 2048 * 16 * 2) == 155_648
    assert fp32 == 2 * (2048 * 3 * 2 + 2048 * 16 * 4) == 286_720


def test_jamba_state_in_fp32():
    # JambaConfig's defaults: Mamba-1 on the 28 layers i % 8 != 4, 8,192 channels, state 16, 3 conv taps
    conv, ssm = 8192 * 3 * 2, 8192 * 16
    jamba = {"architectures": ["JambaForCausalLM"]}
    fp32 = _graph(jamba, phase="decode", kv_len=16, mamba_ssm_cache_dtype="float32")
    assert fp32.meta["state_cache_bytes"] == 28 * (conv + ssm * 4) == 16_056_320
    assert _graph(jamba, phase="decode", kv_len=16).meta["state_cache_bytes"] == 28 * (conv + ssm * 2) == 8_716_288


@pytest.fixture
def m1(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("config.json").write_text(json.dumps(MAMBA_28, indent=1))
    Path("m1.yaml").write_text("model: hf\nconfig: config.json\nphase: decode\nkv_len: 16\n")
    return ["info", "m1.yaml", "--set"]


def test_the_command_line_takes_it(m1, capsys):
    assert main([*m1, "workload.mamba_ssm_cache_dtype=float32"]) == 0


@pytest.mark.parametrize("value", ["float8_e4m3fn", "fp64"])
def test_a_bad_value_is_one_line_and_exit_2(m1, capsys, value):
    assert main([*m1, f"workload.mamba_ssm_cache_dtype={value}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"mamba_ssm_cache_dtype: '{value}' is not supported" in err[0], err
    assert "Traceback" not in err[0]


def test_an_fp32_state_leaves_a_log_and_d_in_the_models_dtype():
    # probe p276 #1: the fp32 update stored A_log (5,120 × 16) and D (5,120) at 4 B in a decode step only:
    # 64 · (81,920 + 5,120) · 2 = 11,141,120 B more than 2 B × 2,768,345,600 params (mamba-2.8b's published count)
    step = _graph(MAMBA_28, phase="decode", kv_len=16, mamba_ssm_cache_dtype="float32")
    prompt = _graph(MAMBA_28, seq_len=16, mamba_ssm_cache_dtype="float32")
    assert step.params == prompt.params == 2_768_345_600
    assert step.weight_bytes == prompt.weight_bytes == 2 * 2_768_345_600
    upd = step["backbone.layers.0.mixer.selective_state_update"]
    assert upd.dtype == "fp32" and sum(w.nbytes(upd.dtype) for w in upd.weights) == (5120 * 16 + 5120) * 2
