"""Pure Mamba language models (``hf``, MambaForCausalLM with the Mamba-1 mixer, Mamba2ForCausalLM with Mamba-2): the
parameter counts, the selective scan and its state.

Figures worked out below from the configs' sizes and transformers' MambaMixer / Mamba2Mixer: state-spaces/mamba-2.8b-hf
(2,560 wide, 64 layers, a 16-wide state, dt rank 160, tied head) and Mamba2Config's defaults, Mamba-Codestral-7B's
sizes (Mistral's model card: 7,285,403,648 parameters).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.errors import ConfigError

MAMBA_28 = {"architectures": ["MambaForCausalLM"], "hidden_size": 2560, "num_hidden_layers": 64, "vocab_size": 50280,
            "state_size": 16, "expand": 2, "conv_kernel": 4, "time_step_rank": 160, "layer_norm_epsilon": 1e-5,
            "tie_word_embeddings": True}


def _graph(config, **params):
    return build_workload("hf", {"config": config, "dtype": "bf16", **params})


def test_mamba1_parameter_count_and_scan():
    h, inner, n, rank = 2560, 5120, 16, 160
    layer = (h * 2 * inner + inner * 4 + inner + inner * (rank + 2 * n) + rank * inner + inner + inner * n + inner
             + inner * h + h)  # in_proj, conv, x_proj, dt_proj (biased), A_log, D, out_proj, the block's norm
    total = 64 * layer + 50280 * h + h  # tied head
    assert _graph(MAMBA_28, seq_len=8).params == total == 2_768_345_600 and round(total / 1e8) == 28
    g = _graph(MAMBA_28, seq_len=100, layers=1)
    scan = g["backbone.layers.0.mixer.selective_scan"]
    # One step of h' = exp(Δ·A) ⊙ h + B·(Δx), y = C·h + D·x, y · SiLU(z), per channel × state element: Δ·A (1), exp
    # (1), B·(Δx) (1), decay·h + input (2), C·h accumulated (2) = 7 (mamba_ssm's selective_scan_fwd_kernel: exp2f(delta
    # · A), B · delta_u, the scan's a·h + b, out += y · C). Per channel: softplus(dt) (exp, log1p: 2) and Δ·x (1),
    # the D·x skip (2), SiLU(z) (4) and the product (1) = 10. Probe p181 #1: was 6 per element and 7 per channel.
    per_token = inner * n * 7 + inner * 10
    assert per_token == 81_920 * 7 + 5_120 * 10 == 624_640
    assert scan.flops == 100 * per_token and scan.vector_elems == 100 * inner * n
    assert g["backbone.layers.0.mixer.x_proj"].out_shape == (1, 100, rank + 2 * n)
    assert g.meta["state_cache_bytes"] == (inner * n + inner * 3) * 2  # the state and the conv's last 3 taps
    step = _graph(MAMBA_28, phase="decode", kv_len=100, batch=2, layers=1)
    assert step.inputs["backbone.layers.0.mixer.ssm_state"] == (2, inner, n)
    # the same recurrence for one token, batch 2 (was 7 per element and no skip or gate: 573,440 a sequence; p181 #1)
    assert step["backbone.layers.0.mixer.selective_state_update"].flops == 2 * per_token


def test_mamba2_defaults_are_codestral_mambas_size():
    h, heads, p, n, g_, conv = 4096, 128, 64, 128, 8, 4
    inner = heads * p
    conv_c = inner + 2 * g_ * n
    layer = h * (inner + conv_c + heads) + conv_c * conv + conv_c + 3 * heads + inner + inner * h + h
    total = 64 * layer + 2 * 32768 * h + h  # untied
    g = _graph({"architectures": ["Mamba2ForCausalLM"]}, seq_len=8)
    assert g.params == total == 7_285_403_648
    with pytest.raises(ValidationError, match="num_heads: 100 heads of head_dim 64 must make expand × hidden_size"):
        _graph({"architectures": ["Mamba2ForCausalLM"], "num_heads": 100}, seq_len=8)
    with pytest.raises(ValidationError, match=r"n_groups: 3 must divide num_heads \(128\)"):
        _graph({"architectures": ["Mamba2ForCausalLM"], "n_groups": 3}, seq_len=8)


def test_a_groups_error_names_the_config_files_line_of_the_other_key(tmp_path):
    # n_groups 3 written in the workload over a config.json whose num_heads 128 is on its line 3 (3 ∤ 128): at the
    # workload's line, naming the file's; both in the config.json: at its n_groups line, as before (probe p85 #4)
    cfg = tmp_path / "config.json"
    cfg.write_text('{\n  "architectures": ["Mamba2ForCausalLM"],\n  "num_heads": 128\n}\n')
    mine = tmp_path / "w.yaml"
    mine.write_text(f"model: hf\nconfig: {cfg}\nn_groups: 3\n")
    with pytest.raises(ConfigError) as e:
        load_workload(mine)
    assert str(e.value).endswith(f"w.yaml:3: n_groups: 3 must divide num_heads (128, {cfg}:3)")
    cfg.write_text('{\n  "architectures": ["Mamba2ForCausalLM"],\n  "num_heads": 128,\n  "n_groups": 3\n}\n')
    mine.write_text(f"model: hf\nconfig: {cfg}\n")
    with pytest.raises(ConfigError) as e:
        load_workload(mine)
    assert str(e.value).endswith("config.json:4: n_groups: 3 must divide num_heads (128)")


FALCON_MAMBA_7B = {"architectures": ["FalconMambaForCausalLM"], "hidden_size": 4096, "num_hidden_layers": 64,
                   "state_size": 16, "conv_kernel": 4, "expand": 16, "intermediate_size": 8192, "time_step_rank": 256,
                   "vocab_size": 65024, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": False, "use_bias": False,
                   "use_conv_bias": True}  # tiiuae/falcon-mamba-7b's config.json (expand 16 beside intermediate 8192)


def test_falcon_mamba_count_and_its_weightless_norms():
    h, inner, n, rank = 4096, 8192, 16, 256  # transformers reads the JSON's intermediate_size, not expand × hidden
    layer = (h * 2 * inner + inner * 4 + inner + inner * (rank + 2 * n) + rank * inner + inner + inner * n + inner
             + inner * h + h)
    total = 64 * layer + 2 * 65024 * h + h  # untied head
    assert _graph(FALCON_MAMBA_7B, seq_len=8).params == total == 7_272_665_088  # TII's falcon-mamba-7b: 7.27 B
    g = _graph(FALCON_MAMBA_7B, seq_len=16, layers=1)
    norms = [g[f"backbone.layers.0.mixer.{x}_layernorm"] for x in ("dt", "b", "c")]
    assert [op.weights for op in norms] == [(), (), ()]  # weightless RMSNorms (mixer_rms_eps)
    assert [op.out_shape[-1] for op in norms] == [rank, n, n]


def test_a_one_tap_mamba1_conv_is_refused_at_conv_kernel():
    with pytest.raises(ValidationError, match=r"conv_kernel: expected an integer ≥ 2 \(got 1\): the causal_conv1d kernels \(causal-conv1d's, vLLM's\) take widths from 2"):
        _graph({"architectures": ["MambaForCausalLM"], "conv_kernel": 1}, seq_len=8)
