"""Encoder-decoder generation (probe p133): T5 and transformer_base run as Whisper does, a prefill (the encoder over
the source, the decoder over its prompt, filling the self- and cross-attention caches) then cached decode steps
(``phase: decode``, ``kv_len``; ``decode_steps`` a serving run with TTFT and TPOT).

Shapes are those of the Hugging Face t5-small checkpoint's config.json (d_model 512, d_ff 2048, 8 heads x d_kv 64,
6 + 6 layers, vocab 32,128, tied head) and of Vaswani et al. 2017's base (Table 3: d_model 512, d_ff 2048, 8 heads,
6 + 6 layers; vocab 37,000, §5.1). Every MAC and byte count below is a hand calculation written out here.
"""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_workload
from accelsim.errors import ConfigError
from accelsim.ir import OpKind

from .serving_checks import assert_steps_add_up

D, FF, HEADS, D_KV, LAYERS, VOCAB, FP16 = 512, 2048, 8, 64, 6, 32_128, 2
T5_SMALL_PARAMS = 60_506_624  # the t5-small model card's 60.5 M (worked out in tests/unit/test_layer_list_t5.py)


def _t5(**params: object):
    return build_workload("t5_small", params, default_dtype="fp16")


@pytest.mark.parametrize(("batch", "kv_len", "src_len"), [(1, 7, 64), (3, 40, 512)])
def test_decode_step_macs_by_hand(batch, kv_len, src_len):
    g = _t5(phase="decode", kv_len=kv_len, src_len=src_len, batch=batch)
    keys = kv_len + 1  # the step's own key, appended, after the kv_len cached ones
    per_layer = (
        4 * D * HEADS * D_KV  # self-attention q, k, v, o of the one new token (no biases)
        + 2 * HEADS * D_KV * keys  # its scores and context over kv_len + 1 keys
        + 2 * D * HEADS * D_KV  # cross-attention q and o only: its K/V are cached from the encoder's output
        + 2 * HEADS * D_KV * src_len  # cross scores and context over the src_len encoder tokens
        + 2 * D * FF  # DenseReluDense wi, wo
    )
    head = D * VOCAB  # the tied lm_head on the one token
    assert g.macs == batch * (LAYERS * per_layer + head)
    # t5-small, batch 1, kv_len 7, src_len 64: 6 x (1,048,576 + 8,192 + 524,288 + 65,536 + 2,097,152) + 16,449,536
    if (batch, kv_len, src_len) == (1, 7, 64):
        assert g.macs == 6 * 3_743_744 + 16_449_536 == 38_912_000
    # neither the encoder nor a cross-attention k / v projection runs
    assert not [op for op in g.ops if op.name.startswith("encoder.")]
    assert "decoder.block.0.layer.1.EncDecAttention.k" not in g
    assert g["decoder.block.0.layer.0.SelfAttention.scores"].gemm.n == keys
    assert g["decoder.block.0.layer.1.EncDecAttention.scores"].gemm.n == src_len


@pytest.mark.parametrize("kv_len", [1, 130])
def test_decode_step_position_bias_is_one_query_against_every_key(kv_len):
    # modeling_t5's compute_bias for the step's query position kv_len (cache_position) against key positions
    # 0 .. kv_len: one (heads, 1, kv_len + 1) row per step, bucketed (32 buckets), added to every self-attention's
    # scores; beyond 128 positions the buckets saturate, so no length is refused
    g = _t5(phase="decode", kv_len=kv_len, src_len=32)
    rows = g["decoder.position_bias"]
    assert rows.kind is OpKind.EMBEDDING and rows.out_shape == (1, 1, kv_len + 1, HEADS)
    assert rows.attrs["gather_rows"] == kv_len + 1
    assert g["decoder.position_bias_heads"].out_shape == (1, HEADS, 1, kv_len + 1)
    adds = [op for op in g.ops if op.fn == "add_rel_pos"]
    # one per decoder self-attention, each reading the step's scores (batch 1, 8 heads, 1 query, kv_len + 1 keys):
    # 8 x (kv_len + 1) additions; the cross-attention has no position bias
    assert len(adds) == LAYERS and all(op.inputs[1] == "decoder.position_bias_heads" for op in adds)
    assert all(op.flops == HEADS * (kv_len + 1) for op in adds)


def test_decode_step_kv_cache_bytes_by_hand():
    kv_len, src_len = 20, 100
    g = _t5(phase="decode", kv_len=kv_len, src_len=src_len)
    assert g.inputs["input"] == (1, 1)
    assert g.inputs["decoder.block.5.layer.0.SelfAttention.k_cache"] == (1, HEADS, kv_len, D_KV)
    assert g.inputs["decoder.block.5.layer.1.EncDecAttention.v_cache"] == (1, HEADS, src_len, D_KV)
    # only the self-attention K and V are appended (6 layers x 2); the cross cache is read whole
    assert len([op for op in g.ops if op.kind is OpKind.KV_APPEND]) == LAYERS * 2
    # after the step: 2 (K, V) x 6 layers x 8 heads x 64 x (kv_len + 1) x 2 B of self-attention cache, plus the
    # cross-attention cache of the encoder's src_len tokens, 2 x 6 x 8 x 64 x src_len x 2 B:
    # 12,288 x 21 + 12,288 x 100 = 258,048 + 1,228,800
    self_cache = 2 * LAYERS * HEADS * D_KV * (kv_len + 1) * FP16
    cross_cache = 2 * LAYERS * HEADS * D_KV * src_len * FP16
    assert g.meta["kv_cache_bytes"] == self_cache + cross_cache == 258_048 + 1_228_800


def test_prefill_from_the_decoder_start_token_fills_both_caches():
    src_len = 64
    g = _t5(tgt_len=1, src_len=src_len)  # T5 generates from decoder_start_token_id (the pad token): one token
    assert g.inputs["decoder_input"] == (1, 1)
    # self K/V of the 1 prompt token and cross K/V of the 64 encoder tokens, in each of 6 layers
    assert len([op for op in g.ops if op.kind is OpKind.KV_APPEND]) == LAYERS * 4
    assert g.meta["kv_cache_bytes"] == 2 * LAYERS * HEADS * D_KV * (1 + src_len) * FP16
    # the cross-attention K/V projections run here, once, over the encoder's output
    k = g["decoder.block.0.layer.1.EncDecAttention.k"]
    assert (k.gemm.m, k.gemm.n, k.gemm.k) == (src_len, HEADS * D_KV, D)
    # training keeps no cache (a teacher-forced step)
    train = _t5(tgt_len=1, src_len=src_len, mode="training")
    assert not [op for op in train.ops if op.kind is OpKind.KV_APPEND] and "kv_cache_bytes" not in train.meta


def test_decode_step_holds_the_whole_model():
    # the encoder's weights and the cross k / v stay resident between steps (as Whisper's held_weights)
    g = _t5(phase="decode", kv_len=4, src_len=16)
    assert g.params == T5_SMALL_PARAMS
    # tensor parallel 2: one chip's shard, as the prefill's (worked out in test_layer_list_t5.py): encoder
    # 9,443,328 + decoder 12,592,128 + vocabulary-split shared table 8,224,768 + 2 bias tables and 2 final norms
    shard = _t5(phase="decode", kv_len=4, src_len=16, tensor_parallel=2)
    assert shard.params == 9_443_328 + 12_592_128 + 8_224_768 + 512 + 1_024
    assert shard.meta["model_params"] == T5_SMALL_PARAMS


def test_serving_run_reports_ttft_and_tpot():
    src_len, steps = 64, 3
    wl = load_workload("t5_small", [f"src_len={src_len}", "tgt_len=1", f"decode_steps={steps}"])
    r = simulate(wl, "tpu-v4").to_dict()
    assert_steps_add_up(r, steps)
    sv = r["serving"]
    assert sv["ttft_s"] > sv["tpot_s"]  # the prefill runs the encoder
    # the decode steps start after the prefill's 1 token (tgt_len): kv_len 1, 2, 3, the last leaving 4 cached, so
    # 2 x 6 x 8 x 64 x (4 + 64) x 2 B
    assert sv["kv_cache_bytes"] == 2 * LAYERS * HEADS * D_KV * (1 + steps + src_len) * FP16
    assert r["params"] == T5_SMALL_PARAMS and sv["weight_bytes"] == T5_SMALL_PARAMS * FP16
    # the decode rows hold the 3 steps' work: the decoder's self-attention q runs once per step
    q = [op for op in r["ops"] if op["name"] == "decoder.block.0.layer.0.SelfAttention.q"]
    assert {op["phase"]: op["macs"] for op in q} == {"prefill": D * D, "decode": steps * D * D}


def test_transformer_base_decode_step_by_hand():
    d, ff, vocab, kv_len, src_len = 512, 2048, 37_000, 9, 30
    g = build_workload("transformer_base", {"phase": "decode", "kv_len": kv_len, "src_len": src_len})
    # per layer: self q, k, v, out 4·d², its attention 2·d·(kv_len + 1), cross q and out 2·d² (K/V cached), cross
    # attention 2·d·src_len, linear1 / linear2 2·d·ff; the tied generator d·vocab
    per_layer = 4 * d * d + 2 * d * (kv_len + 1) + 2 * d * d + 2 * d * src_len + 2 * d * ff
    assert g.macs == 6 * per_layer + d * vocab
    assert g.params == 63_084_544  # the whole model, as test_transformer_builders works it out
    assert g.meta["kv_cache_bytes"] == 2 * 6 * d * (kv_len + 1 + src_len) * FP16


@pytest.mark.parametrize("model", ["t5_small", "transformer_base"])
def test_a_training_decode_step_is_refused_at_its_key(model, tmp_path, capsys):
    spec = tmp_path / "w.yaml"
    spec.write_text(f"model: {model}\nmode: training\nphase: decode\n")
    assert main(["info", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{spec}:3: workload.phase:" in err and "inference only" in err
    with pytest.raises(ConfigError, match="workload.kv_len"):
        load_workload(model, ["phase=decode", "kv_len=0"])


def test_fused_decode_on_a_gpu_is_still_refused():
    # a decode step's self-attention adds the position bias too, which no FlashAttention kernel takes (probe p133 #1)
    with pytest.raises(ConfigError, match="workload.attention"):
        simulate({"model": "t5_small", "phase": "decode", "kv_len": 8, "src_len": 32, "attention": "fused"}, "a100")
