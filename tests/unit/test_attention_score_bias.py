"""Fused attention with an additive score bias (probe p133 #1): no FlashAttention kernel takes a bias tensor
(flash_attn_func takes causal, window_size, softcap and alibi_slopes; PyTorch's SDPA refuses its FLASH backend for any
attn_mask, sdp_utils_cpp.h check_for_attn_mask; transformers keeps T5 off flash, huggingface/transformers#47014), so
on a GPU such an op is priced as the fused model of non-GPU cores with a note naming the bias, never as flash2."""

from __future__ import annotations

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.cost import attention as fa
from accelsim.ir import OpKind

A100 = load_arch("a100")


def _t5(arch: str, attention: str):
    return accelsim.simulate({"model": "t5_small", "attention": attention}, arch)


def test_t5_self_attention_is_not_priced_as_flash_and_reads_its_bias():
    data = _t5("a100", "fused").to_dict()
    rows = {r["name"]: r for r in data["ops"]}
    enc = rows["encoder.block.1.layer.0.SelfAttention.attention"]
    dec = rows["decoder.block.1.layer.0.SelfAttention.attention"]
    cross = rows["decoder.block.1.layer.1.EncDecAttention.attention"]
    for row in (enc, dec):  # the self-attentions add the stack's position bias: refused by flash2, with the reason
        assert row["mapping"].get("kernel") != "flash2"
        assert row["mapping"]["flash_unsupported"].startswith("flash2: 1 additive score term(s)")
    assert cross["mapping"]["kernel"] == "flash2"  # T5's cross-attention has no position bias: unchanged
    # the bias each encoder layer reads: T5 looks it up once per stack as (1, heads, q, k), broadcast over the batch:
    # 1 x 8 heads x 512 x 512 x 2 B (bf16) = 4,194,304 B. Layers 1-5 read it from HBM (layer 0 finds it in the L2,
    # just written by the look-up) and write their (1, 8, 512, 64) output there: 8 x 512 x 64 x 2 = 524,288 B; q, k
    # and v come from the L2 (cache_inputs)
    bias = 1 * 8 * 512 * 512 * 2
    assert enc["bytes"]["hbm"] == bias + 8 * 512 * 64 * 2
    assert "encoder.position_bias_heads" not in enc["mapping"]["cache_inputs"]
    # the decoder's causal self-attention: 1 x 8 x 128 x 128 x 2 = 262,144 B of bias, output 8 x 128 x 64 x 2
    assert dec["bytes"]["hbm"] == 1 * 8 * 128 * 128 * 2 + 8 * 128 * 64 * 2
    # one note, naming the bias as the reason: 6 encoder + 6 decoder self-attentions
    notes = [n for n in data["notes"] if "additive score term" in n]
    assert len(notes) == 1 and notes[0].startswith("12 fused attention op(s)")
    assert "T5's relative position bias" in notes[0] and "memory-efficient kernel" in notes[0]


def test_unfused_t5_note_does_not_send_users_to_flash():
    notes = [n for n in _t5("a100", "unfused").to_dict()["notes"] if n.startswith("attention runs unfused")]
    assert len(notes) == 1
    assert "transformers' default sdpa" not in notes[0] and "no FlashAttention kernel takes" in notes[0]
    # a model whose scores take no bias keeps the advice to run fused (FlashAttention)
    bert = accelsim.simulate({"model": "bert_base"}, "a100").to_dict()["notes"]
    assert any("as transformers' default sdpa does" in n for n in bert if n.startswith("attention runs unfused"))


def test_score_terms_recorded_and_refused_forward_and_backward():
    g = build_workload("t5_small", {"attention": "fused"}, default_dtype="bf16")
    ops = {op.name: op for op in g.ops if op.kind is OpKind.ATTENTION}
    self_att = ops["encoder.block.0.layer.0.SelfAttention.attention"]
    assert self_att.attrs["score_terms"] == 1 and self_att.inputs[3] == "encoder.position_bias_heads"
    assert "score_terms" not in ops["decoder.block.0.layer.1.EncDecAttention.attention"].attrs
    why = fa.unsupported(self_att, A100)
    assert why is not None and why.startswith("1 additive score term(s)")
    assert fa.unsupported(self_att, A100, backward=True) == why  # FlashAttention's backward takes no bias either
    assert fa.unsupported(ops["decoder.block.0.layer.1.EncDecAttention.attention"], A100) is None
    # training: the backward op keeps the forward's attrs, so its kernel is refused too
    train = build_workload("t5_small", {"attention": "fused", "mode": "training"}, default_dtype="bf16")
    grads = [op for op in train.ops if op.fn == "attention_grad" and op.attrs.get("score_terms")]
    assert len(grads) == 12


def test_tpu_fused_t5_has_no_fallback_note():
    # off a GPU-like core every fused attention is the array model, which reads the bias as an input (Pallas TPU
    # flash_attention takes it as its ``ab`` argument): nothing to refuse, no note
    data = _t5("tpu-v4", "fused").to_dict()
    assert not [n for n in data["notes"] if "additive score term" in n]
    enc = next(r for r in data["ops"] if r["name"] == "encoder.block.1.layer.0.SelfAttention.attention")
    assert "flash_unsupported" not in enc["mapping"]
