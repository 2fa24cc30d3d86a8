"""Stable Diffusion (accelsim.builders.sd): params and MACs of each part and variant against diffusers' and
transformers' models, classifier-free guidance, the parts, the refusals, GraphBuilder's group norm and nearest
upsampling, and a simulated UNet step.

Every expected number is a reference count from the command named beside it or a hand calculation in a comment.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pydantic
import pytest
import yaml

from accelsim import simulate
from accelsim.builders.layers import GraphBuilder
from accelsim.builders.sd import SDParams, SDXLParams, sd, sd_parts, vae_decoder_graph
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind

ROOT = Path(__file__).resolve().parents[2]

# Reference counts: benchmarks/sd_reference.py (run in a scratch venv: `python3 -m venv /tmp/tv_sd &&
# /tmp/tv_sd/bin/pip install torch==2.13.0 diffusers transformers && /tmp/tv_sd/bin/python
# benchmarks/sd_reference.py`; torch 2.13.0+cpu, diffusers 0.42.1, transformers 5.25.0). It builds, on the meta
# device, UNet2DConditionModel.from_config of runwayml/stable-diffusion-v1-5's and
# stabilityai/stable-diffusion-xl-base-1.0's unet/config.json, AutoencoderKL.from_config of SD 1.5's vae/config.json,
# CLIPTextModel of openai/clip-vit-large-patch14's text config and CLIPTextModelWithProjection of SDXL's
# text_encoder_2/config.json. params = sum(p.numel() for p in module.parameters()) (the VAE decoder:
# post_quant_conv + decoder); MACs = FlopCounterMode(display=False).get_total_flops() // 2 around one forward at
# batch 1: unet(latents (1, 4, s, s), timestep (1,), encoder_hidden_states (1, 77, 768 | 2048)) [+ SDXL's
# added_cond_kwargs text_embeds (1, 1280), time_ids (1, 6)], vae.decode(latents (1, 4, s, s)), text_encoder(ids
# (1, 77), output_hidden_states=True).
CLIP_L_PARAMS = 123_060_480  # CLIPTextModel (no projection)
BIGG_PARAMS = 694_659_840  # CLIPTextModelWithProjection, its text_projection (1280 × 1280 = 1,638,400) included
PARAMS = {
    ("sd15", "text_encoder"): CLIP_L_PARAMS,
    ("sd15", "unet"): 859_520_964,
    ("sd15", "vae_decoder"): 49_490_199,
    ("sdxl", "text_encoder"): CLIP_L_PARAMS + BIGG_PARAMS,
    ("sdxl", "unet"): 2_567_463_684,
    ("sdxl", "vae_decoder"): 49_490_199,
    # diffusers' StableDiffusionSafetyChecker (probe p251 #1): CLIPVisionModel of CLIP ViT-L/14 (the vision_model of
    # clip_vit_l14's CLIPModel, 427,616,513 params in all: tests/unit/test_transformer_builders.py) 303,179,776, the
    # bias-free visual_projection 1024 × 768 = 786,432, nn.Parameters concept_embeds 17 × 768 = 13,056 and
    # special_care_embeds 3 × 768 = 2,304, and their thresholds, nn.Parameters concept_embeds_weights (17) and
    # special_care_embeds_weights (3) (diffusers' safety_checker.py __init__; probe p260 #3: counted as buffers before)
    ("sd15", "safety_checker"): 303_179_776 + 786_432 + 13_056 + 2_304 + 17 + 3,
}
MACS = {  # (variant, part, pixels): FlopCounterMode MACs at batch 1 (latent = pixels / 8 per side)
    ("sd15", "unet", 512): 401_636_720_640,
    ("sdxl", "unet", 1024): 3_380_618_199_040,
    # latents of 65 and 125: not multiples of 2 ** upsamplers (8, 4), diffusers' forward_upsample_size path
    ("sd15", "unet", 520): 434_240_311_040,
    ("sdxl", "unet", 1000): 3_335_906_362_880,
    ("sd15", "vae_decoder", 512): 1_257_259_466_752,
    ("sdxl", "vae_decoder", 1024): 5_235_196_297_216,
    ("sd15", "text_encoder", 512): 6_649_251_840,
    ("sdxl", "text_encoder", 1024): 6_649_251_840 + 48_931_553_280,
}
VAE_DECODER_MACS_32 = 311_093_641_216  # vae.decode at a 32×32 latent (DiT's 256×256 images)


def _sd(**params: object):
    return sd(SDParams.model_validate(params).model_copy(update={"dtype": "fp16"}))


@pytest.mark.parametrize(("variant", "part"), list(PARAMS))
def test_params_equal_diffusers(variant, part):
    assert _sd(variant=variant, part=part).params == PARAMS[(variant, part)]


@pytest.mark.parametrize(("variant", "part", "pixels"), list(MACS))
def test_macs_equal_flop_counter(variant, part, pixels):
    # tolerance 0: FlopCounterMode counts aten.convolution, addmm, mm and bmm (SDPA decomposed into two bmm), every
    # one a CONV, LINEAR or attention MATMUL of the graph; the norms, activations, softmax and element-wise ops it
    # does not count are FLOPs, not MACs, here too
    g = _sd(variant=variant, part=part, image_size=pixels, guidance=False)
    assert g.macs == MACS[(variant, part, pixels)]


def test_fused_and_unfused_attention_have_the_same_params_and_macs():
    fused, unfused = _sd(attention="fused"), _sd(attention="unfused")
    assert (fused.params, fused.macs) == (unfused.params, unfused.macs)
    # SD 1.5: 16 Transformer2DModels (down 3 blocks × 2, mid 1, up 3 × 3), each one block of attn1 + attn2
    assert sum(op.kind is OpKind.ATTENTION for op in fused) == 32
    assert sum(op.fn == "softmax" for op in unfused) == 32


def test_sdxl_unet_layout():
    g = _sd(variant="sdxl", part="unet")
    # transformer blocks: down_blocks.1 2 × 2, down_blocks.2 2 × 10, mid 10, up_blocks.0 3 × 10, up_blocks.1 3 × 2
    # = 70; two attentions each
    assert sum(op.kind is OpKind.ATTENTION for op in g) == 140
    # heads of 64 (attention_head_dim [5, 10, 20] heads at 320, 640, 1280 channels)
    assert {op.attrs["head_dim"] for op in g if op.kind is OpKind.ATTENTION} == {64}
    # cross-attention: 2048-wide text states (768 + 1280), 77 keys
    assert g["down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"].weights[0].shape == (640, 2048)
    # text_time: 1280 pooled + 6 × 256 sinusoids = 2816 → 1280
    assert g["add_embedding.linear_1"].weights[0].shape == (1280, 2816)
    # use_linear_projection: proj_in is a linear
    assert g["down_blocks.1.attentions.0.proj_in"].kind is OpKind.LINEAR


def test_sd15_unet_shapes():
    g = _sd(part="unet", guidance=False)
    # 512 px → 64×64 latent, halved three times to 8×8 in the mid block
    assert g.inputs["input"] == (1, 4, 64, 64)
    assert g["mid_block.resnets.0.conv1"].out_shape == (1, 1280, 8, 8)
    assert g["conv_out"].out_shape == (1, 4, 64, 64)
    assert g["down_blocks.0.attentions.0.proj_in"].kind is OpKind.CONV  # conv 1×1 proj_in in SD 1.5
    # 8 heads of 320/8 = 40 at the first level, 4096 tokens attending to 77 text tokens in attn2
    a2 = g["down_blocks.0.attentions.0.transformer_blocks.0.attn2.attention"]
    assert (a2.attrs["heads"], a2.attrs["head_dim"], a2.attrs["q_len"], a2.attrs["kv_len"]) == (8, 40, 4096, 77)
    # the up path's first resnet reads the 1280 running channels and a 1280 skip
    assert g["up_blocks.0.resnets.0.conv1"].in_shapes[0] == (1, 2560, 8, 8)


def test_a_latent_the_unet_does_not_halve_evenly():
    """520 px: a 65×65 latent, which SD 1.5's three downsamplings (3×3, stride 2, padding 1: ⌊(h + 2 − 3) / 2⌋ + 1 =
    ⌈h / 2⌉) take to 33, 17 and 9; diffusers' UNet2DConditionModel.forward sets forward_upsample_size (65 is no
    multiple of 2³) and each upsampler interpolates to the next skip's size, 9 → 17 → 33 → 65."""
    g = _sd(part="unet", guidance=False, image_size=520)
    sides = [g[f"down_blocks.{i}.downsamplers.0.conv"].out_shape[2:] for i in range(3)]
    assert sides == [(33, 33), (17, 17), (9, 9)] and g["mid_block.resnets.0.conv1"].out_shape == (1, 1280, 9, 9)
    ups = [g[f"up_blocks.{i}.upsamplers.0.interpolate"].out_shape for i in range(3)]
    assert ups == [(1, 1280, 17, 17), (1, 1280, 33, 33), (1, 640, 65, 65)]
    assert g["conv_out"].out_shape == (1, 4, 65, 65)
    # MACs by hand: the first downsampler, 320 → 320 3×3 onto 33×33: 33² · 320 · 320 · 9 = 1,003,622,400; the first
    # upsampler's conv, 1280 → 1280 3×3 at 17×17: 17² · 1280² · 9 = 4,261,478,400; the first level's self-attention,
    # 8 heads of 40 over 65² = 4225 tokens, QKᵀ and PV: 2 · 8 · 4225² · 40 = 11,424,400,000
    assert g["down_blocks.0.downsamplers.0.conv"].macs == 33 * 33 * 320 * 320 * 9 == 1_003_622_400
    assert g["up_blocks.0.upsamplers.0.conv"].macs == 17 * 17 * 1280 * 1280 * 9 == 4_261_478_400
    assert g["down_blocks.0.attentions.0.transformer_blocks.0.attn1.attention"].macs == 2 * 8 * 4225 ** 2 * 40
    # and the whole UNet's equals diffusers' FlopCounterMode count (MACS, test_macs_equal_flop_counter)
    assert g.macs == MACS[("sd15", "unet", 520)]


def test_guidance_doubles_the_unet_batch_and_the_text_encoder_calls_not_the_vae():
    with_cfg, without = _sd(part="unet", batch=3), _sd(part="unet", batch=3, guidance=False)
    assert with_cfg.inputs["input"][0] == 6 and without.inputs["input"][0] == 3
    assert with_cfg.macs == 2 * without.macs and with_cfg.params == without.params
    # the text encoder is called twice on batch (probe p251 #2; was one call on 2 × batch): the same MACs as 2 × batch
    with_cfg, without = _sd(part="text_encoder", batch=3), _sd(part="text_encoder", batch=3, guidance=False)
    assert with_cfg.inputs == {"input": (3, 77), "negative_input_ids": (3, 77)} and without.inputs == {"input": (3, 77)}
    assert with_cfg.macs == 2 * without.macs and with_cfg.params == without.params
    unet = _sd(part="unet", batch=3)
    # classifier-free guidance combines the two halves: (3, 4, 64, 64), 3 flops an element
    assert unet["cfg_combine"].out_shape == (3, 4, 64, 64) and unet["cfg_combine"].flops == 3 * 3 * 4 * 64 * 64
    assert "cfg_combine" not in {op.name for op in _sd(part="unet", guidance=False)}
    assert _sd(part="vae_decoder", batch=3).inputs["input"] == (3, 4, 64, 64)


def test_pipeline_part_is_the_unet_step_and_the_parts_run_counts():
    p = SDParams.model_validate({"steps": 30})
    # sd15's PNDMScheduler (skip_prk_steps) sets 30 - 1 + 1 + 1 = 31 timesteps: one UNet call each
    # (tests/unit/test_gen_p102.py); sdxl's EulerDiscreteScheduler sets 30
    # sd15 then runs its safety checker once (probe p251 #1); sdxl has none
    assert sd_parts(p) == [("text_encoder", 1), ("unet", 31), ("vae_decoder", 1), ("safety_checker", 1)]
    assert sd_parts(SDXLParams.model_validate({"steps": 30})) == [("text_encoder", 1), ("unet", 30), ("vae_decoder", 1)]
    assert _sd().macs == _sd(part="unet").macs


def test_sdxl_text_encoders_give_the_penultimate_states_and_the_pooled_projection():
    g = _sd(variant="sdxl", part="text_encoder", guidance=False)
    embeds = g["prompt_embeds"]
    # hidden_states[-2] of each: the outputs of layer 10 of 12 and layer 30 of 32, concatenated to 768 + 1280
    assert embeds.inputs == ("text_encoder.text_model.encoder.layers.10.add_mlp",
                             "text_encoder_2.text_model.encoder.layers.30.add_mlp")
    assert embeds.out_shape == (1, 77, 2048)
    assert g["text_encoder_2.text_projection"].out_shape == (1, 1280)
    assert g.inputs == {"input": (1, 77), "input_ids_2": (1, 77)}


def test_vae_decoder_graph_for_dit():
    # DiT's pipeline decodes 256×256 images: a 32×32 latent
    g = vae_decoder_graph(2, 32, "bf16", "unfused")
    assert g.params == 49_490_199
    assert g.macs == 2 * VAE_DECODER_MACS_32
    assert g["decoder.conv_out"].out_shape == (2, 3, 256, 256)
    assert {op.dtype for op in g} == {"bf16"}
    # the mid block's attention: one head of 512 over the 32·32 = 1024 pixels
    assert g["decoder.mid_block.attentions.0.scores"].gemm.m == 1024


def test_sdxl_vae_decodes_in_fp32_under_fp16():
    # stable-diffusion-xl-base-1.0 vae/config.json force_upcast: StableDiffusionXLPipeline upcasts the VAE to fp32,
    # an ordinary fp32 decoder: the same graph as dtype fp32, 4-byte tensors, its convolutions fp32 for
    # mapping.convs_as_run to run at the arch's default (TF32 on the NVIDIA presets, cuDNN's allow_tf32 True; fp32
    # on ROCm or with conv_precision ieee). Its linears go through cuBLAS, whose torch.backends.cuda.matmul.allow_tf32
    # is False by default since PyTorch 1.12: fp32. Its fused attention computes as 3xTF32 (test_p160). (This test
    # said every op but the linears was built as TF32 until probe p179 #1: conv_runs_as and conv_precision could not
    # apply, and mi300x ran ROCm's IEEE fp32 convs at its TF32 rate, 44.84 ms against 81.64 for dtype fp32.)
    from accelsim.units import FAST_FP32, TORCH_DTYPES

    fp32 = TORCH_DTYPES["float32"]
    g = _sd(variant="sdxl", part="vae_decoder")
    linears = {op.name for op in g if op.kind is OpKind.LINEAR}
    # the mid block's Attention: to_q, to_k, to_v, to_out.0 (diffusers Attention, the VAE's only nn.Linear)
    assert linears == {f"decoder.mid_block.attentions.0.{n}" for n in ("to_q", "to_k", "to_v", "to_out.0")}
    assert {op.dtype for op in g if op.kind is not OpKind.ATTENTION} == {fp32}
    assert {op.dtype for op in g if op.kind is OpKind.ATTENTION} == {FAST_FP32[0]}
    explicit = sd(SDParams.model_validate({"variant": "sdxl", "part": "vae_decoder", "dtype": fp32}))
    assert [(op.name, op.dtype, op.attrs) for op in g] == [(op.name, op.dtype, op.attrs) for op in explicit]
    # unfused, the attention's two batched matmuls (torch.baddbmm / bmm: cuBLAS) are fp32 too
    unfused = _sd(variant="sdxl", part="vae_decoder", attention="unfused")
    assert {op.dtype for op in unfused} == {fp32}
    assert {op.dtype for op in _sd(variant="sd15", part="vae_decoder")} == {"fp16"}


def test_sdxl_upcast_vae_linears_run_at_the_fp32_rate_on_h100():
    # at 256 pixels the latent is 32 x 32 = 1,024 tokens of 512 channels: to_q is a 1024 x 512 x 512 GEMM,
    # 268,435,456 MACs. H100 SXM5's FP32 peak is 67 TFLOPS (NVIDIA H100 datasheet, at its 1,980 MHz boost; the
    # preset's model clock gives less), so it takes at least 2 x 268,435,456 / 67e12 = 8.01 us; at TF32 (494.7
    # TFLOPS dense) it could take 1.09 us, which is how it was priced before (probe p151 #4: 251 TFLOPS at 128 x 128)
    tokens, channels = (256 // 8) ** 2, 512
    macs = tokens * channels * channels
    assert macs == 268_435_456
    run = simulate({"model": "sdxl", "dtype": "fp16", "part": "vae_decoder", "image_size": 256}, "h100").to_dict()
    to_q = next(op for op in run["ops"] if op["name"] == "decoder.mid_block.attentions.0.to_q")
    assert to_q["macs"] == macs
    seconds = (to_q["end_cycle"] - to_q["start_cycle"]) / run["clock_hz"]
    assert seconds >= 2 * macs / 67e12


def test_ops_match_the_module_calls_of_diffusers():
    # one SD 1.5 UNet forward under a TorchDispatchMode counter in the scratch venv of the reference counts:
    # aten.native_group_norm 61, aten.native_layer_norm 48, aten.silu 68, aten.gelu 16, aten.upsample_nearest2d 3,
    # aten.convolution 98, Linear modules 184; aten.div 55 = 54 divisions by output_scale_factor or
    # rescale_output_factor + 1 in the timestep sinusoid (folded into time_proj here)
    count = Counter(op.fn for op in _sd(part="unet"))
    assert (count["groupnorm"], count["layernorm"], count["silu"], count["gelu"]) == (61, 48, 68, 16)
    assert (count["upsample_nearest"], count["conv2d"], count["linear"], count["scale"]) == (3, 98, 184, 54)


def test_bad_params_are_refused():
    # diffusers' pipelines need a multiple of 8 (check_inputs: "divisible by 8"): the VAE's ×8
    with pytest.raises(WorkloadError, match="multiple of 8") as info:
        sd(SDParams.model_validate({"image_size": 516}))
    assert info.value.key == ("image_size",)  # reported at the parameter's own line
    sd(SDParams.model_validate({"variant": "sdxl", "image_size": 800, "part": "text_encoder"}))  # 100×100: fine
    # training takes the UNet alone without guidance: the first refusal names both settings when both are at fault,
    # the second says the guidance it refuses is the default (a preset writes it; the user need not have)
    with pytest.raises(WorkloadError, match=r"set part: unet and guidance: false \(--set workload.part=unet --set "
                                            r"workload.guidance=false\)") as info:
        sd(SDParams.model_validate({"mode": "training"}))
    assert info.value.key == ("part",)
    with pytest.raises(WorkloadError, match=r"training the unet takes guidance: false, and guidance is true \(the "
                                            r"default.*set guidance: false \(--set workload.guidance=false\)") as info:
        sd(SDParams.model_validate({"mode": "training", "part": "unet"}))
    assert info.value.key == ("guidance",)
    with pytest.raises(WorkloadError, match=r"set part: unet \(--set workload.part=unet\)"):
        sd(SDParams.model_validate({"mode": "training", "guidance": False}))
    with pytest.raises(pydantic.ValidationError, match="at most 77"):
        SDParams.model_validate({"prompt_tokens": 78})
    # probe p230 #5: diffusers' encode_prompt tokenizes with padding="max_length", max_length=77 (sdxl's two
    # tokenizers alike), so 1..76 would shrink the text encoder and cross-attention no diffusers run shrinks
    for short in (1, 76):
        with pytest.raises(pydantic.ValidationError, match="must be 77: diffusers pads every prompt"):
            SDParams.model_validate({"prompt_tokens": short})
    with pytest.raises(pydantic.ValidationError):
        SDParams.model_validate({"variant": "sd3"})


def test_presets_write_out_the_defaults():
    for stem, model in (("sd15", SDParams), ("sdxl", SDXLParams)):
        params = yaml.safe_load((ROOT / "workloads" / f"{stem}.yaml").read_text())
        assert params.pop("model") == stem
        assert model.model_validate(params) == model()
    assert SDXLParams().variant == "sdxl" and SDXLParams().pixels == 1024 and SDParams().pixels == 512


def test_simulated_unet_step_on_h100():
    """The simulated step carries the graph's work: the UNet on 2 latents (guidance) and diffusers' parameters."""
    report = simulate(_sd(part="unet"), "h100")
    assert report["macs"] == 2 * MACS[("sd15", "unet", 512)] and report["params"] == PARAMS[("sd15", "unet")]
    assert report["seconds"] > 0


# ---- GraphBuilder: group norm and nearest upsampling -------------------------------------------------------------
def test_groupnorm_by_hand():
    b = GraphBuilder("g", (2, 64, 8, 8))
    y = b.groupnorm("input", 32, eps=1e-6)
    op = b.build()[y]
    assert op.kind is OpKind.NORM and op.fn == "groupnorm" and op.params == 2 * 64  # weight + bias per channel
    assert op.flops == 5 * 2 * 64 * 8 * 8 and op.vector_elems == 2 * 64 * 8 * 8
    assert op.attrs["group_elems"] == 64 // 32 * 8 * 8  # each group: 2 channels × 8 × 8
    with pytest.raises(WorkloadError, match="dividing the 64 channels"):
        b.groupnorm("input", 24)


def test_upsample_nearest_is_a_copy():
    b = GraphBuilder("u", (1, 16, 5, 7), dtype="fp16")
    up = b.upsample_nearest("input", 2)
    op = b.build()[up]
    assert op.out_shape == (1, 16, 10, 14) and op.kind is OpKind.ELEMENTWISE and op.flops == 0
    # it reads the input once and writes the 4× larger output (2 bytes an element)
    assert (op.in_bytes, op.out_bytes) == (16 * 5 * 7 * 2, 16 * 10 * 14 * 2)
    with pytest.raises(WorkloadError, match="scale must be a positive int"):
        b.upsample_nearest("input", 0)


@pytest.mark.parametrize("workload, part", [("dit_xl_2", "transformer"), ("sd15", "unet")])
def test_training_a_whole_pipeline_names_part_and_guidance_in_one_run(tmp_path, capsys, workload, part):
    # the pipeline scenario built each part with part set to it, so the denoiser's build refused guidance first and
    # only the next run, with guidance false, refused the part (probe p34 finding 5): one line names both
    from accelsim.cli import main

    assert main(["run", "-w", workload, "-a", "h100", "--mode", "training", "-q", "-o", str(tmp_path / "o")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    # at --mode, the key of the two set last (probe p64 #4; test_dit.py)
    assert line.startswith("accelsim: error: --mode: workload.mode: training ") and \
        f"set part: {part} and guidance: false (--set workload.part={part} " \
        f"--set workload.guidance=false)" in line, line


def test_sdxl_without_a_negative_prompt_encodes_the_prompts_alone():
    """Probe p84 #4. StableDiffusionXLPipeline.encode_prompt (diffusers, pipeline_stable_diffusion_xl.py):
    ``zero_out_negative_prompt = negative_prompt is None and self.config.force_zeros_for_empty_prompt``, then
    ``negative_prompt_embeds = torch.zeros_like(prompt_embeds)``; force_zeros_for_empty_prompt is true in
    stabilityai/stable-diffusion-xl-base-1.0's model_index.json and the pipeline's default. So a guided SDXL call
    with no negative prompt runs both text encoders on the prompts only, batch; with one, on 2 × batch. sd15's
    pipeline has no such flag and encodes the empty string: 2 × batch either way."""
    per_prompt = MACS[("sdxl", "text_encoder", 1024)]  # CLIP-L + bigG on one prompt (the table above)
    zeros = _sd(variant="sdxl", part="text_encoder", batch=3)
    given = _sd(variant="sdxl", part="text_encoder", batch=3, negative_prompt=True)
    assert zeros.inputs["input"][0] == 3 and zeros.macs == 3 * per_prompt and "negative_input_ids" not in zeros.inputs
    # given: each encoder called again on the 3 negative prompts (probe p251 #2; was one call on 6)
    assert given.inputs["input"][0] == given.inputs["negative_input_ids_2"][0] == 3 and given.macs == 6 * per_prompt
    # the UNet still runs the guidance's 2 × batch: the zero states are its unconditional half
    assert _sd(variant="sdxl", part="unet", batch=3, image_size=256).inputs["input"][0] == 6
    for negative in (False, True):
        sd15 = _sd(part="text_encoder", batch=3, negative_prompt=negative)
        assert sd15.inputs["negative_input_ids"][0] == 3 and sd15.macs == 6 * MACS[("sd15", "text_encoder", 512)]


def test_guidance_calls_the_text_encoder_twice_reading_its_weights_twice():
    """Probe p251 #2: diffusers' encode_prompt calls ``self.text_encoder(text_input_ids ...)`` for the prompts and then,
    under classifier-free guidance, ``self.text_encoder(uncond_input.input_ids ...)`` for the negatives, and only
    then ``torch.cat``s them: two batch-1 passes, not one on batch 2. The weights are one tensor each (params and
    weight bytes once), read by both calls; every kernel runs twice."""
    one, two = _sd(part="text_encoder", guidance=False), _sd(part="text_encoder")
    assert len(two.ops) == 2 * len(one.ops)
    assert two.params == one.params == CLIP_L_PARAMS and two.weight_bytes == one.weight_bytes == 2 * CLIP_L_PARAMS
    twin = two["negative.text_encoder.text_model.encoder.layers.0.mlp.fc1"]
    assert twin.weights == two["text_encoder.text_model.encoder.layers.0.mlp.fc1"].weights
    assert twin.inputs != two["text_encoder.text_model.encoder.layers.0.mlp.fc1"].inputs
    # on h100 the second call reads the weights again: the non-embedding ones are 123,060,480 - 49,408·768 (token
    # table, gathered rows only) - 77·768 (positions) = 85,056,000 params, 170,112,000 B in fp16
    on = simulate({"model": "sd15", "part": "text_encoder"}, "h100").to_dict()
    off = simulate({"model": "sd15", "part": "text_encoder", "guidance": False}, "h100").to_dict()
    assert on["bytes"]["hbm"] - off["bytes"]["hbm"] >= 2 * (123_060_480 - 49_408 * 768 - 77 * 768) == 170_112_000
    assert sum(o["unit"] != "none" for o in on["ops"]) == 2 * sum(o["unit"] != "none" for o in off["ops"])
    # sdxl: each of its two encoders twice with a negative prompt (4 calls), once each without (force_zeros)
    given = _sd(variant="sdxl", part="text_encoder", negative_prompt=True, image_size=256)
    assert len(given.ops) == 2 * len(_sd(variant="sdxl", part="text_encoder", image_size=256).ops)
    assert {op.name for op in given if op.name.endswith("prompt_embeds")} == {"prompt_embeds", "negative.prompt_embeds"}


# ---- probe p251 #1: sd15's safety checker ----------------------------------------------------------------------
# CLIP ViT-L/14's vision tower at 224² by hand (config.json: 24 layers of 1024, 16 heads, patch 14, mlp 4096):
# patch conv 256 patches · 1024 · 3·14·14 = 154,140,672; each layer on 257 tokens: q, k, v, out 4·1024² and fc1, fc2
# 2·1024·4096, 257 · 12,582,912 = 3,233,808,384, plus QKᵀ and PV 2 · 257² · 1024 = 135,268,352
SAFETY_TOWER_MACS = 256 * 1024 * 3 * 14 * 14 + 24 * (257 * (4 * 1024 ** 2 + 2 * 1024 * 4096) + 2 * 257 ** 2 * 1024)


def test_sd15_runs_the_safety_checker_after_the_vae_decoder_by_default():
    """StableDiffusionPipeline.__call__ runs ``self.run_safety_checker(image, ...)`` after ``decode_latents``
    whenever ``safety_checker`` is not None, and runwayml/stable-diffusion-v1-5's model_index.json names
    StableDiffusionSafetyChecker with requires_safety_checker true: a default call runs it. ``safety_checker:
    false`` is diffusers' safety_checker=None; StableDiffusionXLPipeline has none."""
    assert SAFETY_TOWER_MACS == 81_011_982_336
    g = _sd(part="safety_checker")
    assert g.params == PARAMS[("sd15", "safety_checker")] == 303_981_588
    # the tower, visual_projection 1024 · 768 and cosine_distance's two mm to 3 + 17 rows of 768
    assert g.macs == SAFETY_TOWER_MACS + 1024 * 768 + (3 + 17) * 768 == 81_012_784_128
    assert g.inputs == {"input": (1, 3, 224, 224)}  # CLIPImageProcessor's crop_size 224 whatever the image size
    assert g["vision_model.vision_model.embeddings.patch_embedding"].weights[0].shape == (1024, 3, 14, 14)
    assert g["cos_dist"].weights[0].name == "concept_embeds" and g["cos_dist"].out_shape == (1, 17)
    assert g["special_cos_dist"].out_shape == (1, 3)
    # SDPA by default (transformers' attn_implementation "sdpa" for CLIP): one fused attention a layer
    assert sum(op.kind is OpKind.ATTENTION for op in g) == 24
    assert sum(op.fn == "softmax" for op in _sd(part="safety_checker", attention="unfused")) == 24
    assert _sd(part="safety_checker", batch=3).macs == 3 * g.macs
    # in the pipeline: sd15's by default, not with safety_checker false, never sdxl's
    parts = dict(sd_parts(SDParams.model_validate({})))
    assert parts["safety_checker"] == 1 and list(parts)[-1] == "safety_checker"
    assert "safety_checker" not in dict(sd_parts(SDParams.model_validate({"safety_checker": False})))
    assert "safety_checker" not in dict(sd_parts(SDXLParams.model_validate({})))


def test_the_safety_checker_refusals_name_their_key():
    with pytest.raises(WorkloadError, match="StableDiffusionXLPipeline has no safety checker") as info:
        sd_parts(SDXLParams.model_validate({"safety_checker": True}))
    assert info.value.key == ("safety_checker",)
    with pytest.raises(WorkloadError, match="sd15 runs no safety checker") as info:
        _sd(part="safety_checker", safety_checker=False)
    assert info.value.key == ("part",)


def test_the_pipeline_params_add_the_safety_checker(tmp_path):
    # probe p251 #1: 1,032,071,643 before; the four parts' diffusers counts (PARAMS)
    r = simulate({"model": "sd15", "image_size": 128, "steps": 1}, "h100").to_dict()
    assert r["params"] == 123_060_480 + 859_520_964 + 49_490_199 + 303_981_588 == 1_336_053_231
    off = simulate({"model": "sd15", "image_size": 128, "steps": 1, "safety_checker": False}, "h100").to_dict()
    assert off["params"] == 1_032_071_643 and off["seconds"] < r["seconds"]
