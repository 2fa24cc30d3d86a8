"""FLUX.1 (accelsim.builders.flux): params and MACs of each part and variant against diffusers' and transformers'
models, the transformer's layout (double- and single-stream blocks, joint attention, RoPE), the text encoders (CLIP
ViT-L/14 + T5-XXL), the 16-channel VAE decoder, the parts, the refusals, the presets, and simulated runs.

Every expected number is a reference count from the command named beside it or a hand calculation in a comment.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pydantic
import pytest
import yaml

from accelsim import simulate
from accelsim.builders.flux import FluxParams, FluxSchnellParams, flux, flux_parts
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind

ROOT = Path(__file__).resolve().parents[2]

# Reference counts: benchmarks/flux_reference.py (run in a scratch venv: `python3 -m venv /tmp/tv_flux &&
# /tmp/tv_flux/bin/pip install torch==2.13.0 diffusers transformers sentencepiece && /tmp/tv_flux/bin/python
# benchmarks/flux_reference.py`; torch 2.13.0+cpu, diffusers 0.42.1, transformers 5.25.0). It builds, on the meta
# device, FluxTransformer2DModel.from_config of black-forest-labs/FLUX.1-dev's and FLUX.1-schnell's
# transformer/config.json, AutoencoderKL.from_config of their vae/config.json, CLIPTextModel of
# openai/clip-vit-large-patch14's text config and T5EncoderModel of google/t5-v1_1-xxl's config. params =
# sum(p.numel() for p in module.parameters()) (the VAE decoder: vae.decoder; its post_quant_conv is None); MACs =
# FlopCounterMode(display=False).get_total_flops() // 2 around one forward at batch 1: transformer(hidden_states
# (1, image_tokens, 64), encoder_hidden_states (1, text_tokens, 4096), pooled_projections (1, 768), timestep (1,),
# guidance (1,) (dev), txt_ids (text_tokens, 3), img_ids (image_tokens, 3)), vae.decode(latents (1, 16, 128, 128)),
# clip(ids (1, 77)), t5(ids (1, text_tokens)).
CLIP_L_PARAMS = 123_060_480  # CLIPTextModel (as tests/unit/test_sd.py's)
T5_XXL_PARAMS = 4_762_310_656  # T5EncoderModel of google/t5-v1_1-xxl
PARAMS = {
    ("dev", "transformer"): 11_901_408_320,
    ("schnell", "transformer"): 11_891_178_560,
    ("dev", "text_encoder"): CLIP_L_PARAMS + T5_XXL_PARAMS,
    ("schnell", "text_encoder"): CLIP_L_PARAMS + T5_XXL_PARAMS,
    ("dev", "vae_decoder"): 49_545_475,
    ("schnell", "vae_decoder"): 49_545_475,
}
GUIDANCE_EMBEDDER_PARAMS = 10_229_760  # dev.time_text_embed.guidance_embedder
DOUBLE_BLOCK_PARAMS = 339_831_296  # dev.transformer_blocks[0]
SINGLE_BLOCK_PARAMS = 141_591_808  # dev.single_transformer_blocks[0]
CLIP_L_MACS = 6_649_251_840
MACS = {  # (variant, part, image_size, prompt_tokens): FlopCounterMode MACs at batch 1
    ("dev", "transformer", 1024, 512): 37_192_326_709_248,
    ("schnell", "transformer", 1024, 256): 34_733_313_490_944,
    ("dev", "transformer", 512, 512): 10_751_300_075_520,
    ("dev", "vae_decoder", 1024, 512): 5_236_102_004_736,
    ("dev", "text_encoder", 1024, 512): CLIP_L_MACS + 2_422_361_554_944,
    ("schnell", "text_encoder", 1024, 256): CLIP_L_MACS + 1_198_295_875_584,
}
D = 3072  # 24 heads of 128


def _flux(**params: object):
    return flux(FluxParams.model_validate(params).model_copy(update={"dtype": "bf16"}))


@pytest.mark.parametrize(("variant", "part"), list(PARAMS))
def test_params_equal_diffusers(variant, part):
    assert _flux(variant=variant, part=part).params == PARAMS[(variant, part)]


@pytest.mark.parametrize(("variant", "part", "pixels", "tokens"), list(MACS))
def test_macs_equal_flop_counter(variant, part, pixels, tokens):
    # tolerance 0: FlopCounterMode counts aten.addmm / mm, aten.convolution and the attention's two bmm (or SDPA's
    # formula, the same), every one a LINEAR, CONV or attention op of the graph; the norms, activations, RoPE,
    # modulations and element-wise ops it does not count are FLOPs, not MACs, here too
    g = _flux(variant=variant, part=part, image_size=pixels, prompt_tokens=tokens)
    assert g.macs == MACS[(variant, part, pixels, tokens)]


def _transformer_macs(image_tokens: int, text_tokens: int, guidance: bool) -> int:
    """The transformer's MACs by hand, d = 3072: each double block 4 attention and 2 feed-forward (4d wide)
    projections per stream = 12·T·d² a stream, its two adaLN linears d → 6d (12d² a sample) and the joint attention
    2·L²·d (QKᵀ and PV over L = all tokens, 24 heads × 128); each single block q, k, v (3), proj_mlp (4) and
    proj_out (5d → d: 5) = 12·L·d², its adaLN d → 3d, the attention; x_embedder and proj_out (64 ↔ d per image
    token), context_embedder (4096 → d per text token), the timestep (and guidance) embedders 256d + d², the text
    embedder 768d + d², norm_out d → 2d."""
    d, t_img, t_txt = D, image_tokens, text_tokens
    length = t_img + t_txt
    double = 12 * t_img * d * d + 12 * t_txt * d * d + 12 * d * d + 2 * length * length * d
    single = 12 * length * d * d + 3 * d * d + 2 * length * length * d
    embed = 2 * t_img * 64 * d + t_txt * 4096 * d + (2 if guidance else 1) * (256 * d + d * d) + 768 * d + d * d
    return 19 * double + 38 * single + embed + 2 * d * d


def test_the_reference_macs_by_hand():
    assert _transformer_macs(4096, 512, True) == MACS[("dev", "transformer", 1024, 512)]
    assert _transformer_macs(4096, 256, False) == MACS[("schnell", "transformer", 1024, 256)]
    assert _transformer_macs(1024, 512, True) == MACS[("dev", "transformer", 512, 512)]
    # T5-XXL at 512 tokens, 24 layers: q, k, v, o (4·L·d²) and gated-GELU wi_0, wi_1, wo (3·L·d·d_ff) and the scores
    # and context matmuls (2 · 64 heads · L² · 64)
    layer = 4 * 512 * 4096**2 + 3 * 512 * 4096 * 10240 + 2 * 64 * 512 * 512 * 64
    assert 24 * layer == MACS[("dev", "text_encoder", 1024, 512)] - CLIP_L_MACS


def test_block_params_by_hand():
    g = _flux(part="transformer")
    linear = lambda i, o: i * o + o  # noqa: E731 (weight and bias)
    double = (2 * linear(D, 6 * D) + 8 * linear(D, D) + 4 * 128  # two adaLNs, 8 projections, 4 q/k RMSNorms
              + 2 * (linear(D, 4 * D) + linear(4 * D, D)))  # ff and ff_context
    single = linear(D, 3 * D) + 3 * linear(D, D) + 2 * 128 + linear(D, 4 * D) + linear(5 * D, D)
    assert double == DOUBLE_BLOCK_PARAMS and single == SINGLE_BLOCK_PARAMS
    blocks = {f"transformer_blocks.{i}." for i in range(19)} | {f"single_transformer_blocks.{i}." for i in range(38)}
    held = sum(w.numel for op in g for w in op.weights if any(w.name.startswith(s) for s in blocks))
    assert held == 19 * DOUBLE_BLOCK_PARAMS + 38 * SINGLE_BLOCK_PARAMS
    # the guidance embedder (256 → d → d) is all that schnell lacks
    assert linear(256, D) + linear(D, D) == GUIDANCE_EMBEDDER_PARAMS == PARAMS[("dev", "transformer")] - PARAMS[
        ("schnell", "transformer")]


def test_transformer_layout():
    g = _flux(part="transformer")
    assert g.inputs == {"input": (1, 4096, 64), "timestep": (1,), "guidance": (1,), "pooled_projections": (1, 768),
                        "encoder_hidden_states": (1, 512, 4096), "txt_ids": (512, 3), "img_ids": (4096, 3)}
    attns = [op for op in g if op.kind is OpKind.ATTENTION]
    assert len(attns) == 19 + 38
    # joint attention over the 512 text and 4096 image tokens, 24 heads of 128
    assert {(a.attrs["heads"], a.attrs["head_dim"], a.attrs["q_len"], a.attrs["kv_len"]) for a in attns} == {
        (24, 128, 4608, 4608)}
    # text tokens first, then the image tokens (FluxAttnProcessor's torch.cat([encoder_query, query]))
    assert g["transformer_blocks.0.attn.joint_q"].inputs == ("transformer_blocks.0.attn.norm_added_q",
                                                             "transformer_blocks.0.attn.norm_q")
    assert g["transformer_blocks.0.attn.norm_q"].weights[0].shape == (128,)  # RMSNorm over head_dim
    assert g["transformer_blocks.0.norm1.linear"].out_shape == (1, 6 * D)
    assert g["transformer_blocks.0.attn.to_out.0"].out_shape == (1, 4096, D)
    assert g["transformer_blocks.0.attn.to_add_out"].out_shape == (1, 512, D)
    assert g["single_transformer_blocks.0.norm.linear"].out_shape == (1, 3 * D)
    assert g["single_transformer_blocks.0.proj_out"].weights[0].shape == (D, 5 * D)  # attention + MLP, 15360
    assert g["proj_out"].out_shape == (1, 4096, 64)
    count = Counter(op.fn for op in g)
    # RoPE on q and k in each of the 57 attentions, one table; RMSNorms: 4 per double block, 2 per single block;
    # adaptive norms: 2 per double block, 1 per single block, norm_out; each with its modulate, plus the double
    # blocks' norm2 / norm2_context; a timestep, a guidance and a text embedder (one SiLU each), a SiLU per adaLN.
    # Each modulate x·(1 + scale) + shift is diffusers' three eager kernels (probe p230 #2: AdaLayerNormZero,
    # AdaLayerNormZeroSingle, AdaLayerNormContinuous and the blocks' norm2 modulations all write
    # ``norm(x) * (1 + scale[:, None]) + shift[:, None]``), one fn "modulate" op only with modulate_kernel: fused
    assert (count["rope"], count["rope_embedding"], count["rmsnorm"]) == (2 * 57, 1, 4 * 19 + 2 * 38)
    modulates = 4 * 19 + 38 + 1
    assert (count["layernorm"], count["modulate"]) == (modulates, 0)
    assert sum(op.name.endswith(".scale_plus_one") for op in g) == modulates
    assert g["norm_out.modulate.scale_plus_one"].out_shape == (1, 1, D)  # the (B, 1, C) 1 + scale
    assert g["norm_out.modulate.mul"].out_shape == (1, 4096, D)  # written and read back: the eager intermediate
    fused = _flux(part="transformer", modulate_kernel="fused")
    assert Counter(op.fn for op in fused)["modulate"] == modulates
    assert len(g.ops) - len(fused.ops) == 2 * modulates
    assert sum(op.flops for op in g) == sum(op.flops for op in fused)
    assert (count["silu"], count["timestep_embedding"], count["gelu"]) == (3 + 2 * 19 + 38 + 1, 2, 2 * 19 + 38)
    assert g["pos_embed"].out_shape == (2, 4608, 128)
    assert {op.dtype for op in g} == {"bf16"}


def test_schnell_has_no_guidance_input_and_fewer_text_tokens():
    g = flux(FluxSchnellParams(part="transformer"))
    assert "guidance" not in g.inputs and g.inputs["encoder_hidden_states"] == (1, 256, 4096)
    assert not any("guidance" in op.name for op in g)
    assert g.params == PARAMS[("schnell", "transformer")]
    assert g.macs == MACS[("schnell", "transformer", 1024, 256)]
    assert g.meta["checkpoint"] == "black-forest-labs/FLUX.1-schnell"


def test_batch_scales_the_work_and_no_guidance_doubling():
    one, three = _flux(part="transformer"), _flux(part="transformer", batch=3)
    assert three.inputs["input"] == (3, 4096, 64) and three.macs == 3 * one.macs and three.params == one.params
    assert not any(op.fn == "cfg_combine" for op in one)  # guidance-distilled: one pass a step
    for part in ("text_encoder", "vae_decoder"):
        assert _flux(part=part, batch=3).macs == 3 * _flux(part=part).macs


def test_fused_and_unfused_attention_have_the_same_params_and_macs():
    for part in ("transformer", "text_encoder", "vae_decoder"):
        fused, unfused = _flux(part=part), _flux(part=part, attention="unfused")
        assert (fused.params, fused.macs) == (unfused.params, unfused.macs)
        assert not any(op.kind is OpKind.ATTENTION for op in unfused)


def test_text_encoders():
    g = _flux(part="text_encoder")
    assert g.inputs == {"input": (1, 77), "input_ids_2": (1, 512)}
    assert g["text_encoder.text_model.pooled"].out_shape == (1, 768)  # CLIP's pooled EOS token
    assert g["text_encoder_2.encoder.final_layer_norm"].out_shape == (1, 512, 4096)
    ffn = "text_encoder_2.encoder.block.23.layer.1.DenseReluDense"
    assert g[f"{ffn}.wi_0"].weights[0].shape == g[f"{ffn}.wi_1"].weights[0].shape == (10240, 4096)  # gated-gelu
    assert g[f"{ffn}.act"].fn == "gelu" and g[f"{ffn}.mul"].inputs == (f"{ffn}.act", f"{ffn}.wi_1")
    bias = g["text_encoder_2.encoder.position_bias"]  # block 0's (32 buckets × 64 heads) table, looked up once
    assert bias.weights[0].name == ("text_encoder_2.encoder.block.0.layer.0.SelfAttention.relative_attention_bias"
                                    ".weight") and bias.weights[0].shape == (32, 64)
    assert g["text_encoder_2.encoder.embed_tokens"].weights[0].name == "text_encoder_2.shared.weight"
    assert _flux(part="text_encoder", variant="schnell").inputs["input_ids_2"] == (1, 256)


def test_vae_decoder_unpacks_unscales_and_shifts_16_channel_latents():
    g = _flux(part="vae_decoder")
    assert g.inputs == {"input": (1, 4096, 64)}
    assert g["unpack_latents"].kind is OpKind.RESHAPE and g["unpack_latents"].out_shape == (1, 16, 128, 128)
    assert (g["unscale_latents"].fn, g["shift_latents"].fn) == ("scale", "add")
    assert g["unscale_latents"].flops == g["shift_latents"].flops == 16 * 128 * 128
    assert "post_quant_conv" not in {op.name for op in g}  # vae/config.json use_post_quant_conv: false
    assert g["decoder.conv_in"].inputs == ("shift_latents",)
    assert g["decoder.conv_in"].weights[0].shape == (512, 16, 3, 3)
    assert g["decoder.conv_out"].out_shape == (1, 3, 1024, 1024)
    # Stable Diffusion's decoder (49,490,199 with its 4 → 4 post_quant_conv of 20, tests/unit/test_sd.py) with conv_in
    # reading 16 channels instead of 4: 12 · 512 · 3 · 3 more
    assert g.params == 49_490_199 - 20 + 12 * 512 * 9


def test_parts_and_defaults():
    dev, schnell = FluxParams(), FluxSchnellParams()
    assert (dev.variant, dev.part, dev.image_size, dev.text_tokens, dev.denoising_steps) == (
        "dev", "pipeline", 1024, 512, 28)
    assert (schnell.variant, schnell.text_tokens, schnell.denoising_steps) == ("schnell", 256, 4)
    assert flux_parts(dev) == [("text_encoder", 1), ("transformer", 28), ("vae_decoder", 1)]
    assert flux_parts(schnell) == [("text_encoder", 1), ("transformer", 4), ("vae_decoder", 1)]
    assert flux_parts(FluxParams(steps=50)) == [("text_encoder", 1), ("transformer", 50), ("vae_decoder", 1)]
    assert (dev.latent_size, dev.image_tokens) == (128, 4096)
    assert _flux().macs == _flux(part="transformer").macs
    assert flux(FluxParams(part="transformer")).ops[0].dtype == "bf16"  # no dtype: the checkpoints' bf16


@pytest.mark.parametrize(("params", "message"), [
    ({"image_size": 1000}, "multiple of 16"),  # a 125×125 latent does not pack 2×2
    ({"prompt_tokens": 513}, "at most 512"),
    ({"variant": "pro"}, "variant"),
    ({"part": "unet"}, "part"),
    ({"steps": 0}, "steps"),
])
def test_bad_params_are_refused(params, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        FluxParams.model_validate(params)


def test_training_takes_the_transformer_alone():
    with pytest.raises(WorkloadError, match="set part: transformer") as info:
        flux(FluxParams(mode="training"))
    assert info.value.key == ("part",)  # reported at the parameter's own line
    assert flux(FluxParams(mode="training", part="transformer", image_size=256)).params == PARAMS[
        ("dev", "transformer")]


def test_presets_write_out_the_defaults():
    for stem, model in (("flux1_dev", FluxParams), ("flux1_schnell", FluxSchnellParams)):
        params = yaml.safe_load((ROOT / "workloads" / f"{stem}.yaml").read_text())
        assert params.pop("model") == stem
        assert model.model_validate(params) == model()


def test_simulated_transformer_step_on_h100():
    report = simulate(_flux(part="transformer", image_size=256, prompt_tokens=64), "h100")
    assert report["params"] == PARAMS[("dev", "transformer")]  # the whole transformer, at any image size
    assert report["seconds"] > 0


def test_the_pipeline_runs_through_the_diffusion_scenario():
    run = {"model": "flux1_dev", "image_size": 256, "prompt_tokens": 64, "steps": 2}
    whole = simulate(run, "h100").to_dict()
    parts = whole["diffusion"]["parts"]
    assert [(p["part"], p["count"]) for p in parts] == [("text_encoder", 1), ("transformer", 2), ("vae_decoder", 1)]
    assert whole["params"] == sum(PARAMS[("dev", part)] for part in ("text_encoder", "transformer", "vae_decoder"))
    alone = simulate({**run, "part": "transformer", "steps": None}, "h100").to_dict()  # one step: steps unread
    assert "diffusion" not in alone
    assert parts[1]["seconds"] == pytest.approx(alone["seconds"], rel=1e-9)
