"""Fused attention with an additive score bias (probe p133 #1): no FlashAttention kernel takes a bias tensor
(flash_attn_func takes causal, window_size, softcap and alibi_slopes; PyTorch's SDPA refuses its FLASH backend for any
attn_mask, sdp_utils_cpp.h check_for_attn_mask; transformers keeps T5 off flash, huggingface/transformers#47014), so
on a GPU ``attention: fused`` is refused for such an op, at the workload's ``attention`` key: the kernel a GPU would run
instead is not modelled, and the fused model of non-GPU cores priced it faster than flash2 could."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.cost import attention as fa
from accelsim.cost import systolic
from accelsim.errors import ConfigError, WorkloadError
from accelsim.ir import OpKind

A100 = load_arch("a100")


def _t5(arch: str, attention: str):
    return accelsim.simulate({"model": "t5_small", "attention": attention}, arch)


@pytest.mark.parametrize("model,arch", [("t5_small", "a100"), ("t5_small", "h100"), ("sam_vit_b", "a100"),
                                        ("swin_t", "h100")])
def test_fused_attention_with_a_score_bias_is_refused_on_a_gpu(model, arch, tmp_path, capsys):
    # T5's self-attention adds its relative position bias, SAM's its decomposed rel-pos terms, Swin's its bias table
    # (and shift mask): no FlashAttention kernel takes one, and the kernel a GPU runs instead (SDPA's memory-efficient
    # one) is not modelled; the fused model of non-GPU cores priced t5_small's encoder self-attention on a100 at 3,750
    # compute cycles against flash2's 17,245 (probe p133 #1), faster than any GPU kernel. Refused at its key, exit 2
    spec = tmp_path / "w.yaml"
    spec.write_text(f"model: {model}\nattention: fused\n")
    assert main(["run", "-w", str(spec), "-a", arch, "-o", str(tmp_path / "out"), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{spec}:2: attention:" in err  # file, line and key of the value at fault
    assert "additive score term(s)" in err and "set attention: unfused" in err


def test_fused_t5_on_a_gpu_is_refused_from_python_at_the_attention_key():
    with pytest.raises(ConfigError) as e:  # located by the config layer: a ConfigError at workload.attention
        _t5("a100", "fused")
    assert "workload.attention" in str(e.value) and "flash2: 1 additive score term(s)" in str(e.value)


def test_training_backward_with_a_score_bias_is_refused_too():
    # the backward op keeps the forward's attrs (score_terms): FlashAttention's backward takes no bias either
    train = build_workload("t5_small", {"attention": "fused", "mode": "training"}, default_dtype="bf16")
    grad = next(op for op in train.ops if op.fn == "attention_grad" and op.attrs.get("score_terms"))
    with pytest.raises(WorkloadError) as e:
        systolic.price(grad, A100.core.systolic, A100)
    assert e.value.key == ("attention",)


def test_flux_t5_encoder_runs_unfused_whatever_attention_says():
    # FluxPipeline's T5EncoderModel is transformers' T5, which runs eager attention (huggingface/transformers#46946:
    # no SDPA or Flash Attention support); CLIP's text tower keeps SDPA
    g = build_workload("flux1_schnell", {"part": "text_encoder", "attention": "fused"}, default_dtype="bf16")
    fused = [op.name for op in g.ops if op.kind is OpKind.ATTENTION]
    assert fused and all(name.startswith("text_encoder.") for name in fused)  # CLIP ViT-L/14's 12 layers
    assert len(fused) == 12
    assert sum(1 for op in g.ops if op.fn == "add_rel_pos") == 24  # T5-XXL's 24 self-attentions, unfused


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
    assert len(grads) == 12  # 6 encoder and 6 decoder self-attentions; the 6 cross-attentions take no bias


def test_tpu_fused_t5_has_no_fallback_note():
    # off a GPU-like core every fused attention is the array model, which reads the bias as an input (Pallas TPU
    # flash_attention takes it as its ``ab`` argument): nothing to refuse, no note
    data = _t5("tpu-v4", "fused").to_dict()
    assert not [n for n in data["notes"] if "additive score term" in n]
    enc = next(r for r in data["ops"] if r["name"] == "encoder.block.1.layer.0.SelfAttention.attention")
    assert "flash_unsupported" not in enc["mapping"]
