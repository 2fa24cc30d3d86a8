"""Probe p162 #5: ``mamba_ssm_cache_dtype`` takes the values vLLM's ``--mamba-ssm-cache-dtype`` takes, and no other.

vLLM's option is ``MambaDType`` (vllm/config/cache.py): ``Literal["auto", "float32"]`` in older releases,
``Literal["auto", "float32", "float16", "bfloat16"]`` in the newest (vllm-project/vllm, commit 002f10e0). No release
has an 8-bit state, so ``float8_e4m3fn`` (taken before, a 1-byte state of 5,160,960 B a Qwen3-Next sequence) is
refused, for Qwen3-Next and Nemotron-H alike (both read the key through hfhybrid's table).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_workload

# Qwen3-Next-80B-A3B (workloads/qwen3_next_80b.yaml): 36 Gated DeltaNet layers of 32 value heads × 128 × 128 state
# and a conv of 4 taps over 2·16·128 + 32·128 = 8192 channels (3 kept taps, bf16 whatever the option says)
GDN_LAYERS, STATE_ELEMS, CONV_BYTES = 36, 32 * 128 * 128, 8192 * 3 * 2


def _model(name: str, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


@pytest.mark.parametrize("name", ["qwen3_next_80b", "nemotron_nano_9b_v2"])
def test_an_fp8_state_is_refused_in_one_line(name):
    with pytest.raises(ValidationError) as info:
        _model(name, seq_len=8, mamba_ssm_cache_dtype="float8_e4m3fn")
    msg = str(info.value)
    assert "mamba_ssm_cache_dtype: 'float8_e4m3fn' is not supported" in msg
    assert "supported: auto, bfloat16, float16, float32" in msg


@pytest.mark.parametrize("name", ["qwen3_next_80b", "nemotron_nano_9b_v2"])
@pytest.mark.parametrize("dtype", ["auto", "float32", "float16", "bfloat16"])
def test_every_value_vllm_takes_is_accepted(name, dtype):
    assert _model(name, phase="decode", kv_len=16, layers=4, mamba_ssm_cache_dtype=dtype).meta["state_cache_bytes"] > 0


def test_the_qwen3_next_state_by_dtype():
    # 2 bytes an element for auto (the model's bf16), float16 and bfloat16; 4 for float32; the conv taps stay bf16
    for dtype, width in (("auto", 2), ("bfloat16", 2), ("float16", 2), ("float32", 4)):
        g = _model("qwen3_next_80b", phase="decode", kv_len=512, mamba_ssm_cache_dtype=dtype)
        assert g.meta["state_cache_bytes"] == GDN_LAYERS * (STATE_ELEMS * width + CONV_BYTES)
    assert GDN_LAYERS * (STATE_ELEMS * 2 + CONV_BYTES) == 39_518_208  # docs/configuration.md's figure


def test_the_command_line_refuses_it_with_status_2(capsys):
    assert main(["serve", "qwen3_next_dgx_h100", "--set", "model.mamba_ssm_cache_dtype=float8_e4m3fn",
                 "--set", "workload.requests=10", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["accelsim: error: --set: model.mamba_ssm_cache_dtype: 'float8_e4m3fn' is not supported for "
                   "Qwen3NextForCausalLM; supported: auto, bfloat16, float16, float32"]
