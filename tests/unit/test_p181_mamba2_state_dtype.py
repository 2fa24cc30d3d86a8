"""Probe p181 #2: every Mamba-2 model reads ``mamba_ssm_cache_dtype``, as vLLM's engine option applies to each.

vLLM's MambaMixer2.get_state_dtype() and the get_mamba_state_dtype_from_config of the Granite-MoE-hybrid, Falcon-H1
and Mamba2 model classes return MambaStateDtypeCalculator.mamba2_state_dtype(model dtype, mamba_cache_dtype,
mamba_ssm_cache_dtype) (vllm/model_executor/layers/mamba/mamba_utils.py): the conv state in the model's dtype
(mamba_cache_dtype auto), the SSM state in ``mamba_ssm_cache_dtype`` unless it is auto. accelsim took the key for
Nemotron-H and Qwen3-Next only and refused it for the others. MiniMax's lightning state still refuses it (vLLM's
linear_attention_state_dtype raises "fp32 state for minimax is not yet supported").

Sizes from the workloads' published configs (workloads/falcon_h1_7b.yaml, workloads/granite_4_h_tiny.yaml) and
Mamba2Config's defaults (Mamba-Codestral-7B's).
"""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_workload


def _model(name: str, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


# Falcon-H1-7B: 44 layers, each with a Mamba-2 mixer of 24 heads × 128 × a 256-wide state, one group; the conv over
# x (3,072) and B, C (256 each) keeps 3 taps: (3,072 + 2·256) × 3 × 2 B = 3,584 × 6 = 21,504 B, bf16 whatever the option
FALCON_CONV = (3072 + 2 * 256) * 3 * 2
FALCON_SSM = 24 * 128 * 256


def test_falcon_h1_state_in_fp32():
    fp32 = _model("falcon_h1_7b", phase="decode", kv_len=512, mamba_ssm_cache_dtype="float32")
    assert fp32.meta["state_cache_bytes"] == 44 * (FALCON_CONV + FALCON_SSM * 4) == 139_358_208
    auto = _model("falcon_h1_7b", phase="decode", kv_len=512)  # the model's bf16, as before
    assert auto.meta["state_cache_bytes"] == 44 * (FALCON_CONV + FALCON_SSM * 2) == 70_152_192
    upd = _model("falcon_h1_7b", phase="decode", kv_len=512, layers=1, mamba_ssm_cache_dtype="float32")
    assert upd["model.layers.0.mamba.selective_state_update"].dtype == "fp32"


def test_granite_4_h_state_in_fp32():
    # Granite-4.0-H-Tiny: 36 Mamba-2 layers of 48 heads × 64 × 128; conv over 3,072 + 2·128 channels, 3 taps, bf16
    conv = (3072 + 2 * 128) * 3 * 2
    g = _model("granite_4_h_tiny", phase="decode", kv_len=512, mamba_ssm_cache_dtype="float32")
    assert conv == 19_968 and g.meta["state_cache_bytes"] == 36 * (conv + 48 * 64 * 128 * 4) == 57_341_952


def test_mamba2_lm_state_in_fp32():
    # Mamba2Config's defaults: 128 heads × 64 × 128; conv over 8,192 + 2·8·128 = 10,240 channels, 3 taps, bf16
    g = build_workload("hf", {"config": {"architectures": ["Mamba2ForCausalLM"]}, "dtype": "bf16", "phase": "decode",
                              "kv_len": 16, "layers": 1, "mamba_ssm_cache_dtype": "float32"})
    assert g.meta["state_cache_bytes"] == 128 * 64 * 128 * 4 + 10_240 * 3 * 2 == 4_255_744


@pytest.mark.parametrize("name", ["falcon_h1_7b", "granite_4_h_tiny"])
def test_the_command_line_takes_it_and_still_refuses_an_fp8_state(name, capsys):
    base = ["info", name, "--set", "workload.phase=decode", "--set"]
    assert main([*base, "workload.mamba_ssm_cache_dtype=float32"]) == 0
    capsys.readouterr()
    assert main([*base, "workload.mamba_ssm_cache_dtype=float8_e4m3fn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mamba_ssm_cache_dtype: 'float8_e4m3fn' is not supported" in err[0]


def test_minimax_still_refuses_it(capsys):
    assert main(["info", "minimax_text_01", "--set", "workload.phase=decode", "--set",
                 "workload.mamba_ssm_cache_dtype=float32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "workload.mamba_ssm_cache_dtype" in err[0]


# ---- probe p276 #1: the fp32 state leaves A_log, dt_bias and D in the model's dtype -------------------------------
@pytest.mark.parametrize("name, mamba_layers, heads", [("nemotron_nano_9b_v2", 27, 128), ("falcon_h1_7b", 44, 24),
                                                       ("granite_4_h_tiny", 36, 48)])
def test_an_fp32_state_stores_the_mixers_parameters_as_a_prompt_does(name, mamba_layers, heads):
    # every parameter of these bf16 / fp16 models is 2 B, in a prompt and a decode step alike, whatever the state's
    # dtype (vLLM's --mamba-ssm-cache-dtype says how the state is stored). The decode step's selective_state_update
    # runs in fp32 with the fp32 state and stored its per-head A_log, dt_bias and D at 4 B: 2·params + layers ·
    # heads · 3 · 2 B (Nemotron: 27 · 128 · 3 · 2 = 20,736 B more)
    prompt = _model(name, seq_len=8, mamba_ssm_cache_dtype="float32")
    step = _model(name, phase="decode", kv_len=8, mamba_ssm_cache_dtype="float32")
    assert step.params == prompt.params
    assert step.weight_bytes == prompt.weight_bytes == 2 * step.params
    upd = next(op for op in step.ops if op.name.endswith("selective_state_update"))
    assert upd.dtype == "fp32" and sum(w.nbytes(upd.dtype) for w in upd.weights) == 3 * heads * 2
    assert sum(op.name.endswith("selective_state_update") for op in step.ops) == mamba_layers


@pytest.mark.parametrize("activation, width", [("fp32", 4), ("fp16", 2)])
def test_the_update_stores_its_parameters_in_the_activation_dtype_as_any_vector_op(activation, width):
    # activation_dtype fp32 over the bf16 model: every weight of the graph in fp32, the prompt's chunk_cumsum's
    # and chunk_scan's A_log, dt_bias and D too, so the decode step's update reads them at 4 B as well (its own
    # dtype the state's: bf16 with the auto state, fp32 with the fp32 one)
    for state in ("auto", "float32"):
        prompt = _model("falcon_h1_7b", seq_len=8, layers=1, activation_dtype=activation, mamba_ssm_cache_dtype=state)
        step = _model("falcon_h1_7b", phase="decode", kv_len=8, layers=1, activation_dtype=activation,
                      mamba_ssm_cache_dtype=state)
        assert step.weight_bytes == prompt.weight_bytes == width * step.params
        upd = step["model.layers.0.mamba.selective_state_update"]
        assert sum(w.nbytes(upd.dtype) for w in upd.weights) == 3 * 24 * width  # 24 heads, 3 parameters each


# ---- brief ssmd (ssmfix's "Left undone"): a prompt's chunk_scan is no quantised linear --------------------------
# D, the per-head skip, is a 1-D parameter read by the SSD chunk_scan kernel, a MATMUL over activations. vLLM builds
# it as a plain nn.Parameter with no quant_config (mamba_mixer2.py, MambaMixer2.__init__: ``self.D =
# nn.Parameter(torch.ones(num_heads // self.tp_size))``; only in_proj and out_proj take quant_config), and the
# kernel dots its operands in their 16-bit dtype into fp32. So D stays in the model's 16 bits (2 B a head) under a
# weight-only int4 or a W8A8 fp8 run, in a prompt as in a decode step, and chunk_scan computes in bf16.
# Mamba layers × heads: Nemotron Nano 9B v2's hybrid_override_pattern has 27 "M"; Nemotron 3 Nano's
# "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME" 23; Falcon-H1-7B a mixer in each of its 44 layers;
# Granite-4.0-H-Tiny 36 of its 40 (test_an_fp32_state_stores_the_mixers_parameters_as_a_prompt_does).
MAMBA2_PRESETS = [("nemotron_nano_9b_v2", 27, 128), ("nemotron3_nano_30b", 23, 64), ("falcon_h1_7b", 44, 24),
                  ("granite_4_h_tiny", 36, 48)]
QUANTISED = [{"weight_dtype": "int4"}, {"activation_dtype": "fp8"}]


def _d_bytes(g) -> int:
    return sum(w.nbytes(op.dtype) for op in g.ops for w in op.weights if w.name.endswith(".D"))


@pytest.mark.parametrize("quant", QUANTISED, ids=lambda q: next(iter(q.values())))
@pytest.mark.parametrize("name, mamba_layers, heads", MAMBA2_PRESETS)
def test_d_stays_in_16_bits_and_both_phases_store_the_same_weights(name, mamba_layers, heads, quant):
    prompt = _model(name, seq_len=8, **quant)
    step = _model(name, phase="decode", kv_len=8, **quant)
    # D as built: one bf16 value a head and Mamba layer, in both phases (int4 stored it as 64 packed bytes and a
    # 2-B scale a layer: Nemotron Nano 27 · (128 / 2 + 2) = 1,782 B, not 27 · 128 · 2 = 6,912; fp8 at 1 B a head)
    assert _d_bytes(prompt) == _d_bytes(step) == mamba_layers * heads * 2
    assert prompt.params == step.params and prompt.weight_bytes == step.weight_bytes


@pytest.mark.parametrize("quant", QUANTISED, ids=lambda q: next(iter(q.values())))
def test_chunk_scan_computes_in_16_bits_while_the_projections_are_quantised(quant):
    g = _model("nemotron_nano_9b_v2", seq_len=256, layers=1, **quant)  # layer 0 is a Mamba block ("M-M-...")
    scan = g["backbone.layers.0.mixer.chunk_scan"]
    d = next(w for w in scan.weights if w.name.endswith(".D"))
    assert scan.dtype == "bf16" and "dequant" not in scan.attrs and "out_dtype" not in scan.attrs
    assert d.dtype in (None, "bf16") and d.group_size == 0 and d.nbytes(scan.dtype) == 128 * 2
    proj = g["backbone.layers.0.mixer.in_proj"]  # the linears around it are still quantised
    if quant.get("weight_dtype") == "int4":
        assert proj.dtype == "bf16" and proj.attrs["dequant"] == "int4" and proj.weights[0].dtype == "int4"
    else:  # W8A8: in_proj computes in fp8 on fp8 weights, 1 B each: (z 128·80 + xBC 128·80 + 2·8·128 + dt 128) × 4480
        assert proj.dtype == "fp8" and proj.weights[0].nbytes(proj.dtype) == (10_240 + 12_288 + 128) * 4480


def test_chunk_scan_under_w8a8_is_the_bf16_prompts_chunk_scan():
    # the op the cost model prices is the bf16 model's own: the same GEMM view, MACs and dtype (it was fp8 before,
    # priced at the fp8 tensor rate), reading D at 2 B a head
    bf16 = _model("nemotron_nano_9b_v2", seq_len=256, layers=1)
    fp8 = _model("nemotron_nano_9b_v2", seq_len=256, layers=1, activation_dtype="fp8")
    a, b = bf16["backbone.layers.0.mixer.chunk_scan"], fp8["backbone.layers.0.mixer.chunk_scan"]
    assert a.macs == b.macs and a.gemm == b.gemm and a.dtype == b.dtype == "bf16"
    assert [w.nbytes(b.dtype) for w in b.weights] == [w.nbytes(a.dtype) for w in a.weights] == [128 * 2]
