"""Whisper serving: a prefill (encoder, cross-attention K/V, decoder prompt) then cached decoder steps.

Shapes are those of Hugging Face openai/whisper-base (config.json: d_model 512, 6 encoder and 6 decoder layers, 8
heads, FFN 2048, vocab 51865, 448 decoder positions, 1500 encoder positions). Every MAC and byte count below is a
hand calculation written out here.
"""

from __future__ import annotations

import pydantic
import pytest

from accelsim import simulate
from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.errors import ConfigError
from accelsim.ir import OpKind

from .serving_checks import assert_steps_add_up

D, FFN, VOCAB, LAYERS, FP16 = 512, 2048, 51865, 6, 2


def _whisper(**params: object):
    return build_workload("whisper_base", params, default_dtype="fp16")


def test_prefill_runs_the_decoder_prompt_and_fills_both_caches():
    s, frames = 4, 1500  # <|startoftranscript|><|en|><|transcribe|><|notimestamps|>; 30 s of audio
    # attention unfused (attn_implementation "eager"): its scores matmuls show the keys each attention reads (the
    # default is SDPA since probe p284 #1, one ATTENTION op; same MACs)
    g = _whisper(seq_len=s, attention="unfused")
    # and the decoder self-attention's causal mask over the s prompt tokens (the encoder's attention is not causal)
    assert g.inputs == {"input": (1, 80, 3000), "decoder_input_ids": (1, s), "attention_mask": (1, 1, s, s)}
    assert g.params == 72_593_920  # HF openai/whisper-base num_parameters(): the prefill reads every weight
    # the cross-attention K/V are projected once, here, from the encoder's 1500 frames
    k_proj = g["model.decoder.layers.0.encoder_attn.k_proj"]
    assert (k_proj.gemm.m, k_proj.gemm.n, k_proj.gemm.k) == (frames, D, D)
    # the self-attention cache holds the 4 prompt tokens: causal scores over 4 keys (the mask is not discounted)
    assert g["model.decoder.layers.0.self_attn.scores"].gemm.n == s
    assert g["model.decoder.embed_positions"].attrs["gather_rows"] == s
    # caches after the prefill: 6 layers · (K + V) · 8 heads · 64 · (4 self + 1500 cross) tokens · 2 bytes
    assert g.meta["kv_cache_bytes"] == LAYERS * 2 * D * (s + frames) * FP16 == 18_481_152
    # MACs by hand. Encoder: conv1 (80 → 512, k3) over 3000 frames, conv2 (512 → 512, k3, stride 2) over 1500;
    # per layer q/k/v/o 4·D²·F, scores and context 2·D·F², fc1/fc2 2·D·FFN·F.
    enc = 80 * 3 * D * 3000 + D * 3 * D * frames + LAYERS * (4 * D * D * frames + 2 * D * frames * frames
                                                               + 2 * D * FFN * frames)
    # decoder per layer: self q/k/v/o 4·D²·s and scores + context 2·D·s²; cross q/o 2·D²·s, cross k/v 2·D²·F,
    # scores + context 2·D·s·F; fc1/fc2 2·D·FFN·s. The tied proj_out gives logits at every prompt position.
    dec = LAYERS * (4 * D * D * s + 2 * D * s * s + 2 * D * D * s + 2 * D * D * frames + 2 * D * s * frames
                    + 2 * D * FFN * s) + VOCAB * D * s
    assert g.macs == enc + dec


@pytest.mark.parametrize(("batch", "kv_len"), [(1, 64), (4, 20)])
def test_decode_step_reads_the_growing_self_cache_and_the_static_cross_cache(batch, kv_len):
    g = _whisper(phase="decode", kv_len=kv_len, batch=batch, attention="unfused")  # eager: scores as ops (p284 #1)
    frames = 1500
    assert g.inputs["input"] == (batch, 1)
    assert g.inputs["model.decoder.layers.5.self_attn.v_cache"] == (batch, 8, kv_len, 64)
    assert g.inputs["model.decoder.layers.5.encoder_attn.k_cache"] == (batch, 8, frames, 64)
    # self-attention reads kv_len cached keys plus the new one; cross-attention reads the 1500 cached frames
    assert g["model.decoder.layers.0.self_attn.scores"].gemm.n == kv_len + 1
    assert g["model.decoder.layers.0.encoder_attn.scores"].gemm.n == frames
    # only the self K/V are appended (6 layers × K and V); no encoder, no cross k/v projection
    assert len([op for op in g if op.kind is OpKind.KV_APPEND]) == LAYERS * 2
    assert "model.encoder.conv1" not in g and "model.decoder.layers.0.encoder_attn.k_proj" not in g
    # MACs per token by hand: per layer self q/k/v/o 4·D², cross q/o 2·D², fc1/fc2 2·D·FFN, attention
    # 2·D·(kv_len + 1 self keys + 1500 cross keys); the tied proj_out D·VOCAB; times the batch
    per_token = LAYERS * (6 * D * D + 2 * D * FFN + 2 * D * (kv_len + 1 + frames)) + D * VOCAB
    assert g.macs == batch * per_token
    assert g.meta["model_params"] == 72_593_920  # the whole model, as the prefill graph counts it


def test_serving_run_reports_ttft_and_tpot():
    # 30 s of audio (always): 3000 mel frames, (3000 + 2 − 3) // 2 + 1 = 1500 encoder frames; a 4-token prompt,
    # 3 steps
    s, steps, frames = 4, 3, 1500
    wl = load_workload("whisper_base", [f"seq_len={s}", f"decode_steps={steps}"])
    r = simulate(wl, "tpu-v4").to_dict()
    assert_steps_add_up(r, steps)
    sv = r["serving"]
    # the prefill runs the encoder, so the first token takes longer than a cached step
    assert sv["ttft_s"] > sv["tpot_s"]
    # after the last step (kv_len 4 + 2, one appended): 6 layers · (K + V) · 512 · (7 self + 1500 cross) · 2 B
    assert sv["kv_cache_bytes"] == LAYERS * 2 * D * (s + steps + frames) * FP16
    assert r["params"] == 72_593_920
    # the weights a server holds are the whole model's (the prefill's encoder included), not a decode step's
    assert sv["weight_bytes"] == 72_593_920 * FP16
    # the decode rows hold the work of the 3 steps: the decoder's q projection runs once per step
    q = [op for op in r["ops"] if op["name"] == "model.decoder.layers.0.self_attn.q_proj"]
    assert {op["phase"]: op["macs"] for op in q} == {"prefill": s * D * D, "decode": steps * D * D}


@pytest.mark.parametrize(("params", "ok"), [
    ({"seq_len": 448}, True),  # positions 0 … 447
    ({"seq_len": 440, "decode_steps": 8}, True),  # the last step's token sits at position 447
    ({"seq_len": 440, "decode_steps": 9}, False),
    ({"phase": "decode", "kv_len": 440, "decode_steps": 8}, True),
    ({"phase": "decode", "kv_len": 440, "decode_steps": 9}, False),
])
def test_decoder_positions_bound_a_serving_run(params, ok):
    if ok:
        load_workload({"model": "whisper_base", **params})
    else:
        with pytest.raises(ConfigError, match="exceed Whisper's 448 learned positions"):
            load_workload({"model": "whisper_base", **params})


def test_prompt_longer_than_the_position_table_names_the_key():
    with pytest.raises(pydantic.ValidationError) as info:
        _whisper(seq_len=449)
    assert [e["loc"] for e in info.value.errors()] == [("seq_len",)]


def test_the_encoder_always_runs_on_30_seconds():
    # Whisper pads or trims every input to 30 s: openai-whisper's pad_or_trim (N_FRAMES 3000), and transformers'
    # WhisperEncoder.forward raises a ValueError unless the mel input is 1500 positions x conv1 stride 1 x conv2
    # stride 2 = 3000 frames. A shorter clip is no smaller encoder: audio_s other than 30 is refused, naming the key
    assert _whisper().inputs["input"] == (1, 80, 3000)
    assert _whisper()["model.encoder.conv2"].out_shape == (1, D, 1500)
    with pytest.raises(pydantic.ValidationError) as e:
        _whisper(audio_s=10)
    assert e.value.errors()[0]["loc"] == ("audio_s",) and "always runs on 30 s" in str(e.value)
    with pytest.raises(ConfigError, match=r"workload\.audio_s: Whisper's encoder always runs on 30 s"):
        load_workload("whisper_base", ["audio_s=10"])
