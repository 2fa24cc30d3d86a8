"""Probe p235 #3: transformers' eager attention launches kernels the unfused graph folded away. On a GPU preset (which
models eager PyTorch, a launch a kernel) the builders that claim transformers eager now build them, marked
``eager_copy`` so that off a GPU preset (a compiler folds them) they are in place and every number stays:

* the 1/√d scale, a mul of its own: ``torch.matmul(query, key_states.transpose(2, 3)) * scaling`` in
  eager_attention_forward (models/llama/modeling_llama.py; bert's, clip's and the LLMs' copies), BERT's
  ``attention_scores / math.sqrt(self.attention_head_size)``; Whisper scales q (``q_proj(h) * self.scaling``) and
  passes ``scaling=1.0``, whose ``* scaling`` of the scores still runs;
* BERT's extended-mask add, ``attention_scores + attention_mask`` (BertModel builds the mask always, torch.ones
  when none is given);
* the head merge ``attn_output.transpose(1, 2).contiguous()`` (BERT: ``permute(0, 2, 1, 3).contiguous()``), a copy
  when H > 1 and L > 1; a decode step's (B, H, 1, d) transposed is contiguous already: no copy.

Every count and byte below is a hand calculation from the model's config (bert-base: 12 layers, 12 heads of 64,
768 wide; seq_len 128, batch 1, bf16 on h100)."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.mapping.aliases import aliases
from accelsim.options import Options

L, H, D, LAYERS, BF16 = 128, 12, 64, 12, 2
SCORES = H * L * L  # one layer's (1, 12, 128, 128) scores: 196,608 elements
MERGED = L * H * D  # (1, 128, 768): 98,304 elements


def _plans(graph, arch: str):
    return {p.op.name: p for p in aliases(graph, Options(), load_arch(arch))}


@pytest.fixture(scope="module")
def bert():
    return build_workload("bert_base", {"seq_len": L})


def test_bert_builds_the_scale_the_mask_add_and_the_merge_copy(bert):
    layer = "encoder.layer.0.attention"
    scale, mask, merge = (bert[f"{layer}.{leaf}"] for leaf in ("scale", "mask_add", "merge"))
    assert scale.inputs == (f"{layer}.scores",) and scale.vector_elems == SCORES and scale.flops == 0
    assert mask.inputs == (f"{layer}.scale", "extended_attention_mask")
    assert bert.inputs["extended_attention_mask"] == (1, 1, 1, L)  # get_extended_attention_mask's (B, 1, 1, L)
    assert bert[f"{layer}.softmax"].inputs == (f"{layer}.mask_add",)
    assert merge.fn == "copy" and merge.out_shape == (1, L, H * D) and merge.vector_elems == MERGED
    assert all(op.attrs.get("eager_copy") is True for op in (scale, mask, merge))


def test_kernels_on_a_gpu_preset_in_place_elsewhere(bert):
    added = [f"encoder.layer.{i}.attention.{leaf}" for i in range(LAYERS) for leaf in ("scale", "mask_add", "merge")]
    gpu, tpu = _plans(bert, "h100"), _plans(bert, "tpu-v4")
    assert all(gpu[n].works for n in added)  # 12 layers x 3 = 36 more kernels
    assert not any(tpu[n].works for n in added)
    assert all(tpu[n].details == {"in_place": True} for n in added)
    # off the GPU the softmax reads the scores' own tensor (the scale and the mask add alias it) and not the mask
    assert tpu["encoder.layer.0.attention.softmax"].inputs == ("encoder.layer.0.attention.scores",)
    assert tpu["encoder.layer.0.attention.output.dense"].inputs == ("encoder.layer.0.attention.context",)
    assert sum(p.works for p in gpu.values()) - sum(p.works for p in tpu.values()) == 36


def test_the_model_flops_are_the_same_on_every_arch(bert):
    """The eager kernels count no FLOPs: 2·MACs of the matmuls plus the vector ops as before (the softmax's 5 a
    score leave the scale out)."""
    assert sum(bert[f"encoder.layer.{i}.attention.{leaf}"].flops for i in range(LAYERS)
               for leaf in ("scale", "mask_add", "merge")) == 0


def test_bert_on_h100_moves_the_copies_bytes():
    import accelsim

    d = accelsim.simulate({"model": "bert_base", "seq_len": L}, "h100", plots=False).to_dict()
    rows = {o["name"]: o for o in d["ops"]}
    layer = "encoder.layer.0.attention"
    assert rows[f"{layer}.scale"]["bytes"]["l2"] == 2 * SCORES * BF16 == 786_432  # read and write the scores
    assert rows[f"{layer}.mask_add"]["bytes"]["l2"] == 2 * SCORES * BF16 + L * BF16 == 786_688  # + the mask
    assert rows[f"{layer}.merge"]["bytes"]["l2"] == 2 * MERGED * BF16 == 393_216
    kernels = sum(o["unit"] != "none" for o in d["ops"])
    # probe p235 #3: 176 kernels before (its measured run); 12 layers x (scale, mask add, merge copy) more
    assert kernels == 176 + 3 * LAYERS == 212


def test_a_decode_step_merges_heads_in_place():
    """(B, H, 1, d) transposed to (B, 1, H, d) is contiguous (a size-1 dim's stride does not count): no copy."""
    g = build_workload("llama2_7b", {"phase": "decode", "kv_len": 16, "layers": 1})
    merge = g["model.layers.0.self_attn.merge"]
    assert merge.fn == "merge_heads" and merge.kind.is_view
    assert g["model.layers.0.self_attn.scale"].vector_elems == 32 * 1 * 17  # 32 heads x 1 query x (16 + 1) keys


def test_llama_prefill_copies_the_merge_and_keeps_its_causal_mask():
    g = build_workload("llama2_7b", {"seq_len": 64, "layers": 1})
    s = "model.layers.0.self_attn"
    assert g[f"{s}.scale"].inputs == (f"{s}.scores",)
    assert g[f"{s}.causal_mask"].inputs[0] == f"{s}.scale"  # eager_attention_forward: * scaling, then + mask
    assert g[f"{s}.merge"].fn == "copy" and g[f"{s}.merge"].vector_elems == 64 * 4096


def test_whisper_scales_q_and_the_scores():
    """WhisperAttention: ``q_proj(h) * self.scaling``, then eager_attention_forward(scaling=1.0)'s ``* 1.0``."""
    # attention unfused: attn_implementation "eager" (the default is SDPA since probe p284 #1)
    g = build_workload("whisper_base", {"attention": "unfused"})
    s = "model.encoder.layers.0.self_attn"
    assert g[f"{s}.q_scale"].vector_elems == 8 * 1500 * 64  # whisper-base: 8 heads of 64, 1500 frames
    assert g[f"{s}.scores"].inputs[0] == f"{s}.q_scale"
    assert g[f"{s}.scale"].vector_elems == 8 * 1500 * 1500
    assert g[f"{s}.merge"].fn == "copy"


def test_fused_attention_and_t5_are_left_alone():
    g = build_workload("bert_base", {"seq_len": L, "attention": "fused"})
    assert "encoder.layer.0.attention.scale" not in g and g["encoder.layer.0.attention.merge"].kind.is_view
    t5 = build_workload("t5_small", {})
    assert not any(op.fn == "scale" for op in t5)


def test_training_on_a_tpu_keeps_the_eager_kernels_in_place():
    """A training graph's gradients of the eager kernels (fn scale_grad, copy_grad) carry ``eager_copy`` too."""
    g = build_workload("bert_base", {"seq_len": L, "mode": "training"})
    grads = [op for op in g if op.fn in ("scale_grad", "copy_grad")]
    assert len(grads) == 2 * LAYERS and all(op.attrs.get("eager_copy") is True for op in grads)
    tpu = _plans(g, "tpu-v4")
    assert not any(tpu[op.name].works for op in grads)
    assert all(_plans(g, "h100")[op.name].works for op in grads)


# ---- probe p235 #5: transformers' QuickGELUActivation, ``input * torch.sigmoid(1.702 * input)``: 3 eager kernels ----
CLIP_LAYERS = 12 + 12  # clip-vit-base-patch32: 12 vision and 12 text layers, each one CLIPMLP with QuickGELU
VISION_TOKENS, VISION_FFN = 50, 3072  # 7 x 7 patches + the class token; intermediate_size 3072


@pytest.fixture(scope="module")
def clip():
    # attention unfused: eager_attention_forward (the default is SDPA since probe p251 #3; QuickGELU is eager both ways)
    return build_workload("clip_vit_b32", {"attention": "unfused"})


def test_clip_quick_gelu_is_three_ops(clip):
    act = "vision_model.encoder.layers.0.mlp.act"
    scale, sig, out = clip[f"{act}.scale"], clip[f"{act}.sigmoid"], clip[act]
    assert scale.inputs == ("vision_model.encoder.layers.0.mlp.fc1",) and sig.inputs == (scale.name,)
    assert out.inputs == (scale.inputs[0], sig.name) and out.fn == "quick_gelu"
    elems = VISION_TOKENS * VISION_FFN
    assert scale.vector_elems == sig.vector_elems == out.vector_elems == elems
    # the activation's 4 FLOPs an element stay on the one op every arch runs; the eager-only two count none
    assert (scale.flops, sig.flops, out.flops) == (0, 0, 4 * elems)
    assert scale.attrs.get("eager_copy") is True and sig.attrs.get("eager_copy") is True
    assert sum(op.fn == "quick_gelu" for op in clip) == CLIP_LAYERS


def test_clip_on_h100_launches_the_chain_and_a_tpu_fuses_one_activation():
    import accelsim

    # attention unfused (transformers' attn_implementation "eager"; the default is SDPA since probe p251 #3)
    eager = {"model": "clip_vit_b32", "attention": "unfused"}
    gpu = accelsim.simulate(eager, "h100", plots=False).to_dict()
    # probe p235: 364 kernels before; 24 attentions x (scale + merge copy) and 24 QuickGELUs x 2 more kernels, and
    # CLIPVisionEmbeddings' torch.cat of the class token, a copy on a GPU preset (merge catmore)
    assert sum(o["unit"] != "none" for o in gpu["ops"]) == 364 + 2 * CLIP_LAYERS + 2 * CLIP_LAYERS + 1 == 461
    tpu = accelsim.simulate(eager, "tpu-v4", plots=False).to_dict()
    rows = {o["name"]: o for o in tpu["ops"]}
    act = "vision_model.encoder.layers.0.mlp.act"
    assert rows[f"{act}.scale"]["unit"] == rows[f"{act}.sigmoid"]["unit"] == "none"
    # tpu-v4's output path lists quick_gelu: the activation still folds into fc1, which writes the activated tensor
    assert rows[act]["mapping"]["fused_into"] == "vision_model.encoder.layers.0.mlp.fc1"
    assert sum(o["unit"] != "none" for o in tpu["ops"]) == 364
