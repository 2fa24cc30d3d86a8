"""Stable Diffusion as op graphs, part by part, layer for layer as diffusers runs it (StableDiffusionPipeline and
StableDiffusionXLPipeline, default attention processor ``AttnProcessor2_0``).

Op conventions are those of :mod:`.tlayers` (token tensors (batch, tokens, features), attention unfused or fused)
and :mod:`.layers` (NCHW convolutions, :meth:`~.layers.GraphBuilder.groupnorm`,
:meth:`~.layers.GraphBuilder.upsample_nearest`). Op and weight names are diffusers' / transformers' module names
(``down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k``, ``decoder.up_blocks.0.resnets.2.conv1``,
``text_encoder.text_model.encoder.layers.11.mlp.fc1``, ...), so ``Graph.params`` equals each model's
``sum(p.numel() for p in model.parameters())``:

======================  ===============  ================
part                    sd15             sdxl
======================  ===============  ================
text_encoder            123,060,480      817,720,320
unet                    859,520,964      2,567,463,684
vae_decoder             49,490,199       49,490,199
safety_checker          303,981,588      (none)
======================  ===============  ================

(the text encoders: CLIP ViT-L/14's ``CLIPTextModel`` 123,060,480; SDXL adds OpenCLIP ViT-bigG/14's text tower as
``CLIPTextModelWithProjection``, 694,659,840, of which 1,638,400 are its bias-free 1280×1280 ``text_projection``;
the VAE decoder is AutoencoderKL's ``post_quant_conv`` (20) and ``decoder``, the same layers in both variants; the
safety checker is diffusers' StableDiffusionSafetyChecker: CLIP ViT-L/14's ``CLIPVisionModel`` 303,179,776, its
bias-free 1024 → 768 ``visual_projection`` 786,432 and the ``concept_embeds`` (17 × 768) and
``special_care_embeds`` (3 × 768) parameters, 15,360, and their thresholds ``concept_embeds_weights`` (17) and
``special_care_embeds_weights`` (3), 20, which forward compares on the host.)

Variants (``variant``): "sd15" is runwayml/stable-diffusion-v1-5 (UNet block_out_channels 320, 640, 1280, 1280;
CrossAttnDownBlock2D ×3 + DownBlock2D; 8 heads everywhere; one transformer layer per block; cross-attention to
768-wide CLIP ViT-L/14 states; conv 1×1 proj_in / proj_out); "sdxl" is stabilityai/stable-diffusion-xl-base-1.0
(320, 640, 1280; DownBlock2D + CrossAttnDownBlock2D ×2; heads of 64; transformer_layers_per_block 1, 2, 10, the mid
block 10; cross-attention to the 2048-wide concatenation of both text encoders' penultimate states; linear
proj_in / proj_out (use_linear_projection); ``add_embedding`` of the pooled text embedding and the six size/crop
conditioning values: text_time, 2816 → 1280).

Parts (``part``; a pipeline runs :func:`sd_parts`: the text encoder once, the UNet once per scheduler timestep
(:func:`unet_calls`: ``steps + 1`` times for sd15, whose default PNDMScheduler with ``skip_prk_steps`` repeats one
timestep; ``steps`` times for sdxl's EulerDiscreteScheduler), the VAE decoder once, then sd15's safety checker once
(StableDiffusionPipeline.__call__'s ``run_safety_checker`` after ``decode_latents``: runwayml/stable-diffusion-v1-5's
model_index.json names ``safety_checker`` StableDiffusionSafetyChecker with ``requires_safety_checker: true``, so a
default ``from_pretrained`` loads it and every call runs it; ``safety_checker: false`` is diffusers'
``safety_checker=None``; StableDiffusionXLPipeline has none; probe p251 #1: left out before, 1,032,071,643 params). With classifier-free guidance (``guidance``) the UNet runs on 2 × batch (the negative / unconditional and the
conditional latents, concatenated as diffusers' pipelines do), the VAE decoder on batch. The text encoder of sd15
runs twice with guidance (StableDiffusionPipeline.encode_prompt encodes the empty string when no negative prompt is
given: ``self.text_encoder(...)`` once for the prompts and once more for the negatives, batch each, the same MACs as
one pass on 2 × batch but its weights read twice and its kernels launched twice; :func:`text_encoder_calls`, probe
p251 #2: one pass on 2 × batch before); SDXL base's ``force_zeros_for_empty_prompt`` (true in its model_index.json
and the StableDiffusionXLPipeline default) makes the unconditional states ``torch.zeros_like`` the prompt's when no
negative prompt is given (``zero_out_negative_prompt`` in encode_prompt), so its text encoders run once each on
batch, and twice each (prompts, then negatives) only with ``negative_prompt: true`` (probe p84 #4: 111.16 G MACs at
1024², now 55.58 G). The pipeline's ``torch.cat`` of the negative and the prompt states is left out.

* ``text_encoder``: input ``input`` (token ids (B, prompt_tokens)); ``text_encoder.text_model``: token and learned
  position embeddings, pre-LN causal encoder layers (quick-GELU), ``final_layer_norm``; the pooled output is the
  EOS token (a view). A second call (:func:`text_encoder_calls`) repeats every op under ``negative.`` on input
  ``negative_input_ids`` (and ``negative_input_ids_2``), reading the same weights (their names without the
  ``negative.`` prefix: one tensor each, counted once in params and weight bytes, read by both calls). SDXL adds
  input ``input_ids_2`` and ``text_encoder_2`` (bigG: 32 layers, 1280 wide, 20 heads,
  GELU) with its bias-free ``text_projection`` of the pooled token, and ``prompt_embeds``: the concatenation of both
  encoders' ``hidden_states[-2]`` (the output of the second-to-last layer; diffusers' ``output_hidden_states=True``).
  Every layer runs (as transformers runs them: the last layer's output and ``final_layer_norm`` feed only the
  pooled output, which SDXL uses of the second encoder alone).
* ``unet`` (= ``pipeline``): one denoising step of ``UNet2DConditionModel``: inputs ``input`` (latents (B, 4,
  image_size/8, image_size/8)), ``timestep`` (B,), ``encoder_hidden_states`` (B, prompt_tokens, 768 or 2048);
  SDXL also ``text_embeds`` (B, 1280) and ``time_ids`` (B, 6). ``time_proj`` (the sinusoidal embedding: ELEMENTWISE
  fn "timestep_embedding", 5 flops an element, as DiT's) → ``time_embedding`` (linear_1, act, linear_2);
  ``conv_in``; down blocks of ``resnets.{j}`` (ResnetBlock2D: norm1 GroupNorm(32) → SiLU → conv1 3×3; SiLU(temb) →
  ``time_emb_proj`` added per channel; norm2 → SiLU → conv2; 1×1 ``conv_shortcut`` when the width changes; residual
  add, then ``rescale``: the division by output_scale_factor 1.0 that diffusers runs, ELEMENTWISE fn "scale", 1 flop
  an element) and ``attentions.{j}`` (Transformer2DModel: GroupNorm(32, eps 1e-6) ``norm``, ``proj_in``,
  BasicTransformerBlocks of LayerNorm → self-attention ``attn1`` → LayerNorm → cross-attention ``attn2`` to the text
  tokens → LayerNorm → GEGLU feed-forward ``ff.net`` (``0.proj`` to 2 × 4·C, GELU of the gate half, multiply, ``2``
  back to C), each with its residual add, and each attention's ``rescale`` (rescale_output_factor 1.0), then
  ``proj_out`` and the residual); ``downsamplers.0.conv`` (3×3, stride 2); the mid block (resnet, transformer,
  resnet); up blocks of three resnets each reading the concatenation of the running tensor and the
  matching skip (diffusers' torch.cat: a CONCAT marked ``eager_copy``, a copy kernel on a GPU preset), ``upsamplers.0`` (nearest ×2, then a 3×3 conv; to the next skip's size when the latent side is not
  a multiple of 2 ** upsamplers: a downsampling gives ⌈h / 2⌉, and diffusers' forward_upsample_size passes the skip's
  size as the upsampler's output_size); ``conv_norm_out`` → ``conv_act`` → ``conv_out``.
  With guidance, ``cfg_combine``: ε = ε_u + s·(ε_c − ε_u) on (batch, 4, h, w), 3 flops an element (as DiT's).
  The scheduler's own arithmetic (``scale_model_input``, ``step``) and the latents' ``torch.cat`` are left out.
* ``safety_checker`` (sd15): StableDiffusionSafetyChecker.forward on input ``input``, the (batch, 3, 224, 224)
  ``clip_input`` its CLIPImageProcessor makes of the decoded images (on the host: resized and centre-cropped to
  224 whatever the image size; not modelled, nor the images' copy to the host): ``vision_model.vision_model``
  (transformers' CLIPVisionTransformer, :func:`~.transformer.clip_vision_tower`, CLIP ViT-L/14: 24 layers of 1024,
  16 heads, patch 14; SDPA with ``attention: fused``, transformers' default, else eager as ``clip_vit_l14``'s),
  ``visual_projection`` of the pooled token, then ``cosine_distance`` to ``special_care_embeds`` and to
  ``concept_embeds``: each an L2 normalisation of the image embeddings and a (batch, 768) × (768, 3 or 17) matmul
  (the parameters' own ``normalize``, 20 × 768 elements, is left out, as are the host's threshold comparisons on
  the ``.cpu().numpy()`` scores). 81,012,784,128 MACs a image: the tower's 81,011,982,336 (``clip_vit_l14``'s
  vision MACs), the projection's 786,432 and the two matmuls' 20 · 768.
* ``vae_decoder``: AutoencoderKL.decode of (batch, 4, h, w) latents (:func:`vae_decoder`), after the pipeline's
  ``latents / scaling_factor`` (``unscale_latents``, ELEMENTWISE fn "scale"). SDXL's VAE has ``force_upcast``, so
  with fp16 its decoder runs in fp32, as StableDiffusionXLPipeline upcasts it: the same graph as ``dtype: fp32``,
  every op fp32. Its convolutions run as the arch's software runs an fp32 convolution
  (:func:`accelsim.mapping.convs_as_run`: TF32 on the NVIDIA presets, as cuDNN's default
  ``torch.backends.cudnn.allow_tf32`` True; IEEE fp32 on ROCm or with ``options.conv_precision: ieee``), the mid
  block's linears (and, unfused, its attention's batched matmuls) at the fp32 rate (cuBLAS, whose
  ``torch.backends.cuda.matmul.allow_tf32`` is False by default since PyTorch 1.12, PyTorch's CUDA semantics notes,
  "TensorFloat-32 (TF32) on Ampere (and later) devices"); an fp32 decoder's fused attention (PyTorch's
  memory-efficient SDPA kernel: FlashAttention takes 16-bit inputs only) at a third of the TF32 rate, as that
  kernel emulates fp32 with three TF32 MMAs a MAC (CUTLASS's 3xTF32, :data:`accelsim.units.FAST_FP32`;
  ``attrs["fast_fp32"]``), whichever way the fp32 decode is asked for.

MACs are those of torch.utils.flop_counter.FlopCounterMode on the diffusers / transformers modules (FLOPs / 2: every
conv, linear and the attention's two batched matmuls); norms, activations, softmax and the element-wise ops are
FLOPs only. Permutes and head splits are views (:mod:`.tlayers`); in eager PyTorch the Transformer2DModel's
``permute(...).reshape`` and ``torch.cat`` of the skips copy.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator

from ..errors import WorkloadError
from ..ir import Gemm, Graph, OpKind, Weight
from ..units import FAST_FP32, TORCH_DTYPES
from .params import WorkloadParams
from .tlayers import TransformerBuilder
from .transformer import CLIP, clip_encoder, clip_vision_tower

VAE_FACTOR = 8
"""Pixels per latent element along each side (AutoencoderKL's three ×2 upsamplings)."""
LATENT_CHANNELS = 4
"""Channels of Stable Diffusion's VAE latent."""
GROUPS = 32
"""GroupNorm groups everywhere in the UNet and the VAE (norm_num_groups)."""
TIMESTEP_EMBEDDING_FLOPS = 5
"""FLOPs per element of the sinusoidal timestep embedding: t · freq (1) and a cos or sin (4, as tanh)."""
CFG_FLOPS = 3
"""FLOPs per element of the guidance combination ε_u + s·(ε_c − ε_u): subtract, multiply, add."""
SCALE_FLOPS = 1
"""FLOPs per element of a division by a constant (PyTorch multiplies by its reciprocal)."""
TEXT_POSITIONS = 77
"""Learned positions of CLIP's text encoders (the tokenizer pads every prompt to 77 tokens)."""
ADD_TIME_IDS = 6
"""SDXL's size and crop conditioning: original (h, w), crop top-left (y, x), target (h, w)."""
ADD_TIME_DIM = 256
"""Width of the sinusoidal embedding of each of SDXL's time ids (addition_time_embed_dim)."""
_ATTN_NAMES = ("to_q", "to_k", "to_v", "to_out.0")


# ---- configurations ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _UNetConfig:
    """UNet2DConditionModel's config (diffusers ``unet/config.json``), per down block (the up blocks mirror it)."""

    channels: tuple[int, ...]  # block_out_channels
    cross: tuple[bool, ...]  # CrossAttnDownBlock2D (else DownBlock2D)
    depth: tuple[int, ...]  # transformer_layers_per_block
    heads: tuple[int, ...]  # attention heads (diffusers' attention_head_dim is the head count)
    cross_dim: int  # cross_attention_dim
    linear_proj: bool  # use_linear_projection
    add_embed: bool  # addition_embed_type "text_time" (SDXL)


@dataclass(frozen=True)
class _TextConfig:
    """A CLIP text tower (transformers' CLIPTextConfig) and how the pipeline reads it."""

    scope: str  # the pipeline's component: text_encoder, text_encoder_2
    width: int
    layers: int
    heads: int
    act: str
    projection: bool  # CLIPTextModelWithProjection: a bias-free text_projection of the pooled token


_UNETS = {
    # runwayml/stable-diffusion-v1-5 unet/config.json: attention_head_dim 8 (= heads), layers_per_block 2
    "sd15": _UNetConfig((320, 640, 1280, 1280), (True, True, True, False), (1, 1, 1, 1), (8, 8, 8, 8), 768,
                        linear_proj=False, add_embed=False),
    # stabilityai/stable-diffusion-xl-base-1.0 unet/config.json: attention_head_dim [5, 10, 20] (= heads: 64 wide),
    # transformer_layers_per_block [1, 2, 10], use_linear_projection, addition_embed_type text_time
    "sdxl": _UNetConfig((320, 640, 1280), (False, True, True), (1, 2, 10), (5, 10, 20), 2048,
                        linear_proj=True, add_embed=True),
}
_CLIP_L = _TextConfig("text_encoder", 768, 12, 12, "quick_gelu", projection=False)  # openai/clip-vit-large-patch14
_TEXT = {
    "sd15": (_CLIP_L,),
    # stabilityai/stable-diffusion-xl-base-1.0 text_encoder_2/config.json: OpenCLIP ViT-bigG/14's text tower
    "sdxl": (_CLIP_L, _TextConfig("text_encoder_2", 1280, 32, 20, "gelu", projection=True)),
}
_DEFAULT_IMAGE = {"sd15": 512, "sdxl": 1024}


# ---- parameters ----------------------------------------------------------------------------------------------
class DiffusionTPParams(WorkloadParams):
    """A diffusion model's ``tensor_parallel`` key (DiT and FLUX shard their transformer; Stable Diffusion refuses)."""

    tensor_parallel: PositiveInt = Field(
        1, description="Tensor-parallel degree (Megatron-style, as the LLM builders): the denoising transformer's "
                       "graph is one chip's shard, attention heads and the MLP width split this many ways, q/k/v "
                       "and the MLP's first linear column-split, the attention output and the MLP's last linear "
                       "row-split, each followed by an all-reduce; the adaLN modulation linears, norms and "
                       "embedders are replicated, and the text encoders and VAE decoder run whole on chip 0 alone, "
                       "the group's other chips idle meanwhile. "
                       "DiT and FLUX.1 only: Stable Diffusion's UNet refuses any value but 1.")

    # the pipeline's keys each part, run alone, does not read (steps counts the denoiser's runs in a pipeline; the
    # VAE decoder decodes batch latents whatever the prompt or the guidance): refuse_unread
    UNREAD_BY_PART: ClassVar[dict[str, tuple[str, ...]]] = {}


class SDParams(DiffusionTPParams):
    """Stable Diffusion (diffusers): one part of the text-to-image pipeline, or the pipeline (its UNet step)."""

    variant: Literal["sd15", "sdxl"] = Field(
        "sd15", description="'sd15': runwayml/stable-diffusion-v1-5 (UNet 859,520,964 params, CLIP ViT-L/14 text "
                            "encoder); 'sdxl': stabilityai/stable-diffusion-xl-base-1.0 (UNet 2,567,463,684, CLIP "
                            "ViT-L/14 + OpenCLIP ViT-bigG/14 text encoders).")
    image_size: PositiveInt | None = Field(
        None, description="Image height and width in pixels (default: 512 for sd15, 1024 for sdxl); the latent is "
                          "image_size/8 per side with 4 channels. A multiple of 8 (diffusers' pipelines'); a latent "
                          "the UNet's downsamplings do not halve evenly is rounded up by each (⌈h/2⌉) and "
                          "upsampled back to each skip's size, as UNet2DConditionModel does.")
    prompt_tokens: PositiveInt = Field(
        TEXT_POSITIONS, description="Text tokens per prompt: 77 only. diffusers' encode_prompt tokenizes every "
                                    "prompt (and the negative one) with padding='max_length' to the tokenizer's "
                                    "model_max_length, 77, for each of sdxl's two encoders too, so the text "
                                    "encoders always run 77 tokens and the UNet cross-attends to 77 whatever the "
                                    "prompt's length; other values are refused.")
    part: Literal["pipeline", "text_encoder", "unet", "vae_decoder", "safety_checker"] = Field(
        "pipeline", description="What the graph is: 'text_encoder', 'unet' (one denoising step), 'vae_decoder', "
                                "'safety_checker' (sd15); 'pipeline' builds the UNet step, and a run composes the "
                                "text encoder once, the UNet once per scheduler timestep (steps + 1 for sd15, steps "
                                "for sdxl), the VAE decoder once and sd15's safety checker once.")
    safety_checker: bool | None = Field(
        None, description="Whether the pipeline runs the safety checker after the VAE decoder. Default (null): true "
                          "for sd15 (runwayml/stable-diffusion-v1-5's model_index.json names safety_checker "
                          "StableDiffusionSafetyChecker, requires_safety_checker true, so StableDiffusionPipeline "
                          "runs it on every call: CLIP ViT-L/14's vision tower at 224², 303,981,588 params and "
                          "81.01 GMACs a image), none for sdxl (StableDiffusionXLPipeline has no safety checker; "
                          "true is refused). false: diffusers' from_pretrained(..., safety_checker=None).")
    steps: PositiveInt = Field(
        50, description="Denoising steps of the pipeline (diffusers' num_inference_steps, default 50). The UNet runs "
                        "once per scheduler timestep: steps + 1 times for sd15 (its default PNDMScheduler with "
                        "skip_prk_steps repeats one timestep; once at steps 1), steps times for sdxl (its "
                        "EulerDiscreteScheduler).")
    guidance: bool = Field(
        True, description="Classifier-free guidance: the UNet runs on 2 × batch (unconditional and conditional, "
                          "concatenated as diffusers' pipelines do) and each step combines the two noise "
                          "predictions; sd15's text encoder runs a second call on batch for the negative (empty) "
                          "prompts, as encode_prompt calls it twice; the VAE decoder runs on batch.")
    negative_prompt: bool = Field(
        False, description="Whether the call gives a negative prompt (with guidance; true with guidance: false is refused, "
                           "as diffusers encodes none then). false (diffusers' default "
                           "call, negative_prompt=None): sd15's StableDiffusionPipeline encodes the empty string as "
                           "the unconditional prompt, so its text encoder is called twice on batch either way; sdxl "
                           "base's force_zeros_for_empty_prompt (its model_index.json, the pipeline's default) makes "
                           "the unconditional states zeros, so its text encoders run once each, on the prompts. "
                           "true: the negative prompts are encoded too, a second call of each encoder on batch.")
    attention: Literal["unfused", "fused"] = Field(
        "fused", description="'fused' (default: diffusers' AttnProcessor2_0 calls scaled_dot_product_attention): one "
                             "ATTENTION op, scores on chip; 'unfused': QKᵀ, softmax and PV as separate ops "
                             "(diffusers' classic AttnProcessor). Same params and MACs.")

    UNREAD_BY_PART: ClassVar[dict[str, tuple[str, ...]]] = {
        "text_encoder": ("steps", "safety_checker"), "unet": ("steps", "negative_prompt", "safety_checker"),
        "vae_decoder": ("steps", "prompt_tokens", "guidance", "negative_prompt", "safety_checker"),
        "safety_checker": ("steps", "image_size", "prompt_tokens", "guidance", "negative_prompt")}

    @field_validator("prompt_tokens")
    @classmethod
    def _tokens(cls, v: int) -> int:
        if v > TEXT_POSITIONS:
            raise ValueError(f"must be at most {TEXT_POSITIONS}: CLIP's text encoders have {TEXT_POSITIONS} learned "
                             f"positions")
        if v != TEXT_POSITIONS:  # probe p230 #5: 1..76 shrank the text encoder and cross-attention silently
            raise ValueError(f"must be {TEXT_POSITIONS}: diffusers pads every prompt to the tokenizer's "
                             f"model_max_length ({TEXT_POSITIONS}, padding='max_length'), so a shorter prompt still "
                             f"runs {TEXT_POSITIONS} tokens through the text encoder and the UNet's cross-attention")
        return v

    @property
    def pixels(self) -> int:
        """Image height and width in pixels (``image_size`` or the variant's default)."""
        return self.image_size or _DEFAULT_IMAGE[self.variant]

    @property
    def latent_size(self) -> int:
        """Latent side in elements: pixels / 8."""
        return self.pixels // VAE_FACTOR

    @property
    def cfg_batch(self) -> int:
        """Samples the UNet runs on: 2 × batch with guidance, else batch."""
        return 2 * self.batch if self.guidance else self.batch

    @property
    def runs_safety_checker(self) -> bool:
        """Whether the pipeline runs the safety checker: ``safety_checker``, by default sd15's and not sdxl's."""
        return self.variant == "sd15" if self.safety_checker is None else self.safety_checker

    @property
    def text_encoder_calls(self) -> int:
        """Calls of the text encoder(s) on batch prompts each (:func:`text_encoder_calls`)."""
        return text_encoder_calls(self)


class SDXLParams(SDParams):
    """Stable Diffusion XL base 1.0 (diffusers): SDParams with variant "sdxl" by default."""

    variant: Literal["sd15", "sdxl"] = Field(
        "sdxl", description="'sdxl': stabilityai/stable-diffusion-xl-base-1.0 (UNet 2,567,463,684 params, CLIP "
                            "ViT-L/14 + OpenCLIP ViT-bigG/14 text encoders); 'sd15': runwayml/stable-diffusion-v1-5.")


def text_encoder_calls(p: SDParams) -> int:
    """How many times encode_prompt (diffusers) calls each text encoder, on batch prompts each: once for the prompts,
    and with guidance once more for the negative prompts, which StableDiffusionPipeline encodes whether given or not
    (the empty string), StableDiffusionXLPipeline only when given (``negative_prompt: true``; else SDXL base's
    force_zeros_for_empty_prompt makes them ``torch.zeros_like`` the prompt's). Probe p251 #2: one call on 2 × batch
    before, the weights read and the kernels launched once."""
    return 2 if p.guidance and (p.variant == "sd15" or p.negative_prompt) else 1


def unet_calls(p: SDParams) -> int:
    """The UNet's executions in a pipeline of ``p.steps`` (num_inference_steps): once per scheduler timestep, as
    diffusers' pipelines loop ``for t in timesteps``. SDXL base's EulerDiscreteScheduler (its
    scheduler/scheduler_config.json) sets ``steps`` timesteps. runwayml/stable-diffusion-v1-5's
    scheduler/scheduler_config.json is PNDMScheduler with ``skip_prk_steps: true``, whose ``set_timesteps``
    (diffusers src/diffusers/schedulers/scheduling_pndm.py) builds ``plms_timesteps = concatenate([_timesteps[:-1],
    _timesteps[-2:-1], _timesteps[-1:]])`` from ``steps`` timesteps: steps - 1 + 1 + 1 = steps + 1 of them (the
    second-order start repeats one timestep: SD 1.x's "51/51" progress bar), but 1 at steps 1 (``_timesteps[-2:-1]``
    is then empty)."""
    if p.variant == "sd15" and p.steps > 1:
        return p.steps + 1
    return p.steps


def sd_parts(p: SDParams) -> list[tuple[str, int]]:
    """The parts of a Stable Diffusion pipeline and how many times each runs: the text encoder once, the UNet once
    per scheduler timestep (:func:`unet_calls`: sd15's PNDM ``steps + 1``, sdxl's Euler ``steps``), the VAE decoder
    once."""
    refuse_pipeline_training(p, "Stable Diffusion", "unet")  # the whole pipeline's part and guidance: in one message
    _check(p)  # before the parts are listed: sdxl's refusal of a safety checker it does not have
    checker = [("safety_checker", 1)] if p.runs_safety_checker else []
    return [("text_encoder", 1), ("unet", unet_calls(p)), ("vae_decoder", 1), *checker]


def _check(p: SDParams) -> None:
    """WorkloadErrors at the parameter at fault: an image size the VAE cannot decode to, a training run of
    anything but the UNet alone without guidance."""
    if p.image_size is not None and p.image_size % VAE_FACTOR:
        # diffusers' pipelines' check_inputs: "`height` and `width` have to be divisible by 8" (the VAE's ×8)
        raise WorkloadError(f"image_size ({p.image_size}) must be a multiple of {VAE_FACTOR} (the VAE's ×8, as "
                            f"diffusers' pipelines require)", key=("image_size",))
    refuse_pipeline_training(p, "Stable Diffusion", "unet")
    if p.variant == "sdxl" and p.safety_checker:
        raise WorkloadError("sdxl: StableDiffusionXLPipeline has no safety checker (stable-diffusion-xl-base-1.0's "
                            "model_index.json names none): leave it null or false (got true)",
                            key=("safety_checker",), also=("variant",))
    if p.part == "safety_checker" and not p.runs_safety_checker:
        raise WorkloadError(f"safety_checker: {p.variant} runs no safety checker "
                            f"({'safety_checker: false' if p.variant == 'sd15' else 'StableDiffusionXLPipeline has none'}"
                            f"): choose text_encoder, unet or vae_decoder", key=("part",),
                            also=("safety_checker",) if p.safety_checker is False else ())
    if p.negative_prompt and not p.guidance and p.part in ("pipeline", "text_encoder"):
        # diffusers' encode_prompt encodes negative_prompt only under do_classifier_free_guidance (probe p191 #3:
        # accepted and shown as "negative_prompt=yes", nothing reading it); the UNet and VAE decoder alone refuse it
        # as a key they do not read (refuse_unread)
        raise WorkloadError("not read without guidance (diffusers encodes a negative prompt only with classifier-"
                            "free guidance): leave it false, or set guidance: true (got true)",
                            key=("negative_prompt",), also=("guidance",))
    if p.tensor_parallel > 1:
        raise WorkloadError(f"{p.variant}: not supported for Stable Diffusion (its UNet's convolutions, most of its "
                            f"MACs, are not sharded); use 1", key=("tensor_parallel",))


_UNREAD_WHY = {
    "steps": "a part alone is one execution of its graph; steps counts the denoiser's runs in part: pipeline",
    "prompt_tokens": "the VAE decoder reads the latents alone",
    "guidance": "the VAE decoder decodes batch latents whatever the guidance",
    "negative_prompt": "the text encoders alone encode it",
    "tensor_parallel": "this part is not sharded: only the denoising transformer is, the other parts run whole on "
                       "chip 0",
    "modulate_kernel": "only the denoising transformer has adaLN modulations",
    "safety_checker": "part: pipeline alone runs it, after the VAE decoder (or part: safety_checker alone)",
    "image_size": "the safety checker's feature extractor makes every image 224×224",
}
_UNREAD_WHY_PART = {  # where a key's reason differs for one part (the safety checker reads the decoded images)
    ("safety_checker", "prompt_tokens"): "the safety checker reads the decoded images alone",
    ("safety_checker", "guidance"): "the safety checker checks batch images whatever the guidance",
    ("safety_checker", "negative_prompt"): "the safety checker reads the decoded images alone",
}


def refuse_unread(p: DiffusionTPParams) -> None:
    """A WorkloadError at the first of the pipeline's keys that ``p.part``, run alone, does not read
    (``UNREAD_BY_PART``) and that holds a value other than its default, naming the part and every such key (probe
    p84 #3: ``part: unet`` with ``steps: 7`` gave one step's time, exit 0), as the hf builder refuses a key its model
    does not read. Called where a workload's part is told from its pipeline
    (:func:`accelsim.scenarios.diffusion.is_pipeline`), not by the builder: a pipeline builds its parts from its
    whole workload, steps and all."""
    part = str(getattr(p, "part", "pipeline"))
    fields = type(p).model_fields
    keys = [k for k in type(p).UNREAD_BY_PART.get(part, ()) if getattr(p, k) != fields[k].default]
    if not keys:
        return
    def shown(v: object) -> str:
        return "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v)

    why = "; ".join(dict.fromkeys(_UNREAD_WHY_PART.get((part, k)) or _UNREAD_WHY[k] for k in keys))
    also = "".join(f"; nor {k} ({shown(getattr(p, k))}, default {shown(fields[k].default)})" for k in keys[1:])
    raise WorkloadError(f"not read by part: {part} ({why}){also}: leave {'it' if len(keys) == 1 else 'them'} at the "
                        f"default ({shown(fields[keys[0]].default)}{', ...' if also else ''}), or set part: pipeline "
                        f"to run the whole pipeline (got {shown(getattr(p, keys[0]))})", key=(keys[0],))


def refuse_pipeline_training(p: object, model: str, denoiser: str) -> None:
    """A diffusion model trains its denoiser alone, once a step on noised latents (the text encoder and VAE stay
    frozen, their outputs precomputed), and without classifier-free guidance's doubled batch (training drops the
    condition instead): WorkloadErrors at ``part`` or ``guidance`` for a training run of anything else."""
    if getattr(p, "mode", None) != "training":
        return
    guided = bool(getattr(p, "guidance", False))  # a preset's default true: say so, whoever wrote it
    if getattr(p, "part", None) != denoiser:
        also = (" and guidance: false" if guided else "", " --set workload.guidance=false" if guided else "")
        raise WorkloadError(f"training {model} trains its {denoiser} alone (on noised latents, once a step"
                            f"{', without classifier-free guidance' if guided else ''}): set part: {denoiser}{also[0]} "
                            f"(--set workload.part={denoiser}{also[1]})", key=("part",), also=("mode",))
    if guided:
        raise WorkloadError(f"training the {denoiser} takes guidance: false, and guidance is true (the default: "
                            f"classifier-free guidance, which doubles the batch to sample; training drops the "
                            f"condition instead): set guidance: false (--set workload.guidance=false)",
                            key=("guidance",), also=("mode",))


def sd(p: SDParams) -> Graph:
    """The graph of ``p.part`` (module docstring); "pipeline" builds the UNet's denoising step."""
    _check(p)
    if p.part == "text_encoder":
        return _text_encoders(p)
    if p.part == "safety_checker":
        return _safety_checker(p)
    if p.part == "vae_decoder":
        dtype = p.dtype or TORCH_DTYPES["float16"]
        if p.variant == "sdxl" and dtype == TORCH_DTYPES["float16"]:
            # the SDXL VAE's force_upcast: StableDiffusionXLPipeline decodes in fp32, the same decoder as dtype fp32
            # (probe p179 #1: its convs were built as tf32 here, so core.systolic.conv_runs_as and
            # options.conv_precision could not apply: mi300x ran ROCm's IEEE fp32 convs at the TF32 rate)
            dtype = TORCH_DTYPES["float32"]
        return vae_decoder_graph(p.batch, p.latent_size, dtype, p.attention,
                                 meta=_meta(p, part="vae_decoder", vae_dtype=dtype))
    return _unet(p)


def _meta(p: SDParams, **extra: object) -> dict[str, object]:
    return {"model": p.variant, **p.model_dump(), "image_size": p.pixels, "latent_size": p.latent_size, **extra}


# ---- shared layers -------------------------------------------------------------------------------------------
def _scale(b: TransformerBuilder, x: str, name: str) -> str:
    """x divided by a constant (diffusers' output_scale_factor / rescale_output_factor of 1.0, or the VAE's
    scaling_factor): ELEMENTWISE fn "scale", 1 flop an element (a multiply by the reciprocal)."""
    return b.vector(OpKind.ELEMENTWISE, [x], b.shape(x), "scale", SCALE_FLOPS, name=name)


def resnet_block(b: TransformerBuilder, x: str, out_ch: int, temb: str | None, eps: float, name: str) -> str:
    """diffusers' ResnetBlock2D (``name``): norm1 → SiLU → conv1 [+ time_emb_proj(SiLU(temb)) per channel] → norm2
    → SiLU → conv2 (dropout 0), plus the input (through a 1×1 conv_shortcut when the width changes), divided by
    output_scale_factor (1.0)."""
    n, cin, _, _ = b.shape(x)
    with b.scope(name):
        h = b.conv2d(b.silu(b.groupnorm(x, GROUPS, eps, name="norm1"), name="act1"), out_ch, 3, padding=1,
                     name="conv1")
        if temb is not None:
            t = b.linear(b.silu(temb, name="time_act"), out_ch, name="time_emb_proj")
            h = b.add(h, b.view(t, (n, out_ch, 1, 1), "unsqueeze", name="temb"), name="add_temb")
        h = b.conv2d(b.silu(b.groupnorm(h, GROUPS, eps, name="norm2"), name="act2"), out_ch, 3, padding=1,
                     name="conv2")
        skip = b.conv2d(x, out_ch, 1, name="conv_shortcut") if cin != out_ch else x
        return _scale(b, b.add(skip, h, name="add"), "rescale")


def _attention(b: TransformerBuilder, x: str, ctx: str | None, heads: int, bias: bool, fused: bool,
               name: str) -> str:
    """diffusers' Attention (``name``) on (B, L, C) tokens, to ``ctx`` (cross-attention) or itself: to_q/to_k/to_v
    (bias-free unless ``bias``), scaled_dot_product_attention, to_out.0 (with bias), then the division by
    rescale_output_factor (1.0)."""
    c = b.shape(x)[-1]
    with b.scope(name):
        a = b.multihead_attention(x, ctx, heads=heads, head_dim=c // heads, bias=(bias, bias, bias, True),
                                  names=_ATTN_NAMES, fused=fused)
        return _scale(b, a, "rescale")


def _transformer_2d(b: TransformerBuilder, x: str, ctx: str, cfg: _UNetConfig, heads: int, depth: int,
                    fused: bool, name: str) -> str:
    """diffusers' Transformer2DModel (``name``) over an N×C×H×W map: GroupNorm (eps 1e-6), proj_in (1×1 conv, or
    linear after the permute with use_linear_projection), ``depth`` BasicTransformerBlocks, proj_out, residual."""
    n, c, hgt, wid = b.shape(x)
    tokens = (n, hgt * wid, c)
    with b.scope(name):
        h = b.groupnorm(x, GROUPS, 1e-6, name="norm")
        if cfg.linear_proj:
            h = b.linear(b.view(h, tokens, "permute", name="to_tokens"), c, name="proj_in")
        else:
            h = b.view(b.conv2d(h, c, 1, name="proj_in"), tokens, "permute", name="to_tokens")
        for i in range(depth):
            with b.scope(f"transformer_blocks.{i}"):
                a = _attention(b, b.layernorm(h, name="norm1"), None, heads, False, fused, "attn1")
                h = b.add(a, h, name="add_attn1")
                a = _attention(b, b.layernorm(h, name="norm2"), ctx, heads, False, fused, "attn2")
                h = b.add(a, h, name="add_attn2")
                f = b.layernorm(h, name="norm3")
                with b.scope("ff.net"):  # FeedForward with GEGLU: proj to 2·4C, hidden · gelu(gate), back to C
                    proj = b.linear(f, 8 * c, name="0.proj")
                    half = (n, hgt * wid, 4 * c)
                    hid = b.view(proj, half, "slice", name="0.hidden", strict=False, dim=2, start=0)
                    gate = b.view(proj, half, "slice", name="0.gate", strict=False, dim=2, start=4 * c)
                    f = b.linear(b.mul(hid, b.gelu(gate, name="0.gelu"), name="0.mul"), c, name="2")
                h = b.add(f, h, name="add_ff")
        if cfg.linear_proj:
            h = b.view(b.linear(h, c, name="proj_out"), (n, c, hgt, wid), "permute", name="to_map")
        else:
            h = b.conv2d(b.view(h, (n, c, hgt, wid), "permute", name="to_map"), c, 1, name="proj_out")
        return b.add(h, x, name="add_residual")


def _upsample(b: TransformerBuilder, x: str, name: str, size: tuple[int, ...] | None = None) -> str:
    """diffusers' Upsample2D with a conv (``name``): nearest ×2 (or to ``size``, its ``output_size``), then a 3×3
    conv of the same width."""
    with b.scope(name):
        return b.conv2d(b.upsample_nearest(x, 2, name="interpolate", size=size), b.shape(x)[1], 3, padding=1,
                        name="conv")


# ---- VAE decoder (AutoencoderKL.decode) ----------------------------------------------------------------------
VAE_CHANNELS = (512, 512, 256, 128)
"""Widths of the VAE decoder's up blocks (block_out_channels 128, 256, 512, 512 reversed)."""
VAE_EPS = 1e-6
"""GroupNorm eps of the VAE (diffusers' Encoder/Decoder)."""


def vae_decoder(b: TransformerBuilder, z: str, *, fused: bool, post_quant_conv: bool = True) -> str:
    """Stable Diffusion's VAE decoder (diffusers AutoencoderKL.decode of the sd-vae-ft-* / SD 1.5 / SDXL VAEs) on
    the (N, 4, h, w) latents ``z``: ``post_quant_conv`` (1×1, 4 → 4), ``decoder.conv_in`` (3×3, 4 → 512),
    ``decoder.mid_block`` (resnet, single-head self-attention over the h·w pixels with its GroupNorm and residual,
    resnet), four ``decoder.up_blocks`` of three resnets each (512, 512, 256, 128 wide), the first three followed by
    a nearest ×2 upsample and a 3×3 conv, then ``conv_norm_out`` (GroupNorm(32)) → ``conv_act`` (SiLU) →
    ``conv_out`` (3×3, 128 → 3): the (N, 3, 8h, 8w) image. 49,490,199 params. Returns the output's name.

    Other latent widths take the same layers: ``z``'s channels C set post_quant_conv's (C → C) and conv_in's
    input (FLUX.1's VAE: C = 16); ``post_quant_conv=False`` leaves that conv out (FLUX.1's vae/config.json
    ``use_post_quant_conv: false``; 49,545,475 params at C = 16)."""
    x = b.conv2d(z, b.shape(z)[1], 1, name="post_quant_conv") if post_quant_conv else z
    with b.scope("decoder"):
        x = b.conv2d(x, VAE_CHANNELS[0], 3, padding=1, name="conv_in")
        with b.scope("mid_block"):
            x = resnet_block(b, x, VAE_CHANNELS[0], None, VAE_EPS, "resnets.0")
            n, c, hgt, wid = b.shape(x)
            with b.scope("attentions.0"):  # Attention(heads=1, group_norm, residual_connection, bias)
                h = b.groupnorm(x, GROUPS, VAE_EPS, name="group_norm")
                h = b.view(h, (n, hgt * wid, c), "permute", name="to_tokens")
                a = b.multihead_attention(h, heads=1, head_dim=c, names=_ATTN_NAMES, fused=fused)
                a = b.add(b.view(a, (n, c, hgt, wid), "permute", name="to_map"), x, name="add_residual")
                x = _scale(b, a, "rescale")
            x = resnet_block(b, x, VAE_CHANNELS[0], None, VAE_EPS, "resnets.1")
        for i, ch in enumerate(VAE_CHANNELS):
            with b.scope(f"up_blocks.{i}"):
                for j in range(3):
                    x = resnet_block(b, x, ch, None, VAE_EPS, f"resnets.{j}")
                if i < len(VAE_CHANNELS) - 1:
                    x = _upsample(b, x, "upsamplers.0")
        x = b.silu(b.groupnorm(x, GROUPS, VAE_EPS, name="conv_norm_out"), name="conv_act")
        return b.conv2d(x, 3, 3, padding=1, name="conv_out")


def vae_decoder_graph(batch: int, latent_hw: int, dtype: str = "fp16", attention: str = "fused",
                      meta: dict[str, object] | None = None) -> Graph:
    """The graph of a diffusion pipeline's VAE decoding: input ``input`` (batch, 4, latent_hw, latent_hw) latents,
    ``unscale_latents`` (the pipeline's ``latents / vae.config.scaling_factor``, ELEMENTWISE fn "scale"), then
    :func:`vae_decoder` (``attention`` "fused" or "unfused"); every op in ``dtype``. An fp32 decoder's fused
    ATTENTION (PyTorch's fp32 memory-efficient SDPA: FlashAttention takes 16-bit inputs only) computes as
    :data:`accelsim.units.FAST_FP32` and is marked ``fast_fp32``: three TF32 MMAs a MAC, its tensors fp32
    (``attrs["out_dtype"]``); its convolutions stay fp32 for :func:`accelsim.mapping.convs_as_run` to run at the
    arch's default (TF32 on NVIDIA presets). DiT's and Stable Diffusion's pipelines both decode this way."""
    b = TransformerBuilder("vae_decoder", {"input": (batch, LATENT_CHANNELS, latent_hw, latent_hw)}, dtype=dtype,
                           sdpa=True)
    vae_decoder(b, _scale(b, "input", "unscale_latents"), fused=attention == "fused")
    graph = b.build(meta or {"model": "vae_decoder", "batch": batch, "dtype": dtype, "latent_size": latent_hw})
    if dtype != TORCH_DTYPES["float32"]:
        return graph
    # probe p179 #2: dtype fp32 priced this attention at plain fp32 (31.36 ms on a100), the upcast at 3xTF32
    ops = [replace(op, dtype=FAST_FP32[0], attrs={**op.attrs, "fast_fp32": True, "out_dtype": op.out_dtype})
           if op.kind is OpKind.ATTENTION else op for op in graph.ops]
    return Graph(graph.name, ops, graph.inputs, meta=graph.meta)


# ---- text encoders -------------------------------------------------------------------------------------------
def clip_text_encoder(b: TransformerBuilder, ids: str, *, fused: bool, cfg: _TextConfig = _CLIP_L) -> str:
    """A CLIP text tower (transformers' CLIPTextModel; CLIPTextModelWithProjection with ``cfg.projection``) on the
    (B, s) token ids ``ids``, its ops under ``cfg.scope`` (default: CLIP ViT-L/14's as ``text_encoder``, 123,060,480
    params): ``text_model.embeddings`` (token and learned position embeddings), the causal pre-LN encoder layers,
    ``final_layer_norm``, the pooled EOS token (a view) and, with a projection, ``text_projection``. Every layer
    runs. Returns the pooled output (projected when ``cfg.projection``)."""
    s = b.shape(ids)[1]
    with b.scope(cfg.scope):
        with b.scope("text_model"):
            with b.scope("embeddings"):
                t = b.embedding(ids, 49408, cfg.width, name="token_embedding")
                t = b.add(t, b.positions(s, TEXT_POSITIONS, cfg.width, name="position_embedding"),
                          name="add_positions")
            t = clip_encoder(b, t, cfg.layers, cfg.heads, causal=True, fused=fused, act=cfg.act)
            t = b.layernorm(t, name="final_layer_norm")
            pooled = b.select_token(t, s - 1, name="pooled")  # the EOS token (argmax of the ids)
        if cfg.projection:
            pooled = b.linear(pooled, cfg.width, bias=False, name="text_projection")
    return pooled


NEGATIVE = "negative"
"""Scope of the text encoders' second call (the negative prompts), whose ops read the first call's weights."""


def _text_encoders(p: SDParams) -> Graph:
    """The pipeline's prompt encoding (module docstring): CLIP ViT-L/14's text tower, and for SDXL bigG's too,
    called :func:`text_encoder_calls` times on batch prompts each, the second call's ops under ``negative.``
    reading the first's weights."""
    n, s, calls = p.batch, p.prompt_tokens, text_encoder_calls(p)
    configs = _TEXT[p.variant]
    ids = ["input", *(f"input_ids_{i + 1}" for i in range(1, len(configs)))]
    negative_ids = [f"{NEGATIVE}_input_ids" if i == 0 else f"{NEGATIVE}_{name}" for i, name in enumerate(ids)]
    names = [*ids, *(negative_ids if calls > 1 else ())]
    b = TransformerBuilder(f"{p.variant}_text_encoder", {name: (n, s) for name in names}, dtype=p.dtype or "fp16",
                           sdpa=True)
    for call, tokens in enumerate((ids, negative_ids)[:calls]):
        scope = f"{NEGATIVE}." if call else ""
        penultimate = []
        with b.scope(NEGATIVE) if call else nullcontext():
            for cfg, token_ids in zip(configs, tokens, strict=True):
                clip_text_encoder(b, token_ids, fused=p.attention == "fused", cfg=cfg)
                # hidden_states[-2]: the output of the second-to-last layer (clip_encoder's residual add)
                penultimate.append(f"{scope}{cfg.scope}.text_model.encoder.layers.{cfg.layers - 2}.add_mlp")
            if len(configs) > 1:
                b.concat(penultimate, dim=2, name="prompt_embeds")
    graph = b.build(_meta(p, part="text_encoder", text_encoder_calls=calls))
    if calls == 1:
        return graph
    # the second call runs the same modules: its ops read the first call's tensors (one name each, counted once)
    prefix = f"{NEGATIVE}."
    ops = [replace(op, weights=tuple(replace(w, name=w.name.removeprefix(prefix)) for w in op.weights))
           if op.name.startswith(prefix) else op for op in graph.ops]
    return Graph(graph.name, ops, graph.inputs, meta=graph.meta)


# ---- safety checker (StableDiffusionSafetyChecker) ------------------------------------------------------------
SAFETY_IMAGE = 224
"""Side of the safety checker's input: its CLIPImageProcessor resizes and centre-crops every image to 224."""
SAFETY_CONCEPTS = (("special_care_embeds", 3, "special_cos_dist"), ("concept_embeds", 17, "cos_dist"))
"""StableDiffusionSafetyChecker's concept parameters (name, rows), in the order forward compares the image to them,
and the cosine_distance output of each."""


def _safety_checker(p: SDParams) -> Graph:
    """sd15's StableDiffusionSafetyChecker.forward on batch 224² images (module docstring): CLIPVisionModel (CLIP
    ViT-L/14), ``visual_projection``, two ``cosine_distance`` calls."""
    c, n = CLIP["clip_vit_l14"], p.batch
    b = TransformerBuilder(f"{p.variant}_safety_checker", {"input": (n, 3, SAFETY_IMAGE, SAFETY_IMAGE)},
                           dtype=p.dtype or "fp16", sdpa=True)
    b.eager_attention = "scores"  # unfused: transformers' eager_attention_forward, as clip_vit_l14's
    b.eager_quick_gelu = True  # CLIPMLP's QuickGELUActivation, as clip_vit_l14's
    with b.scope("vision_model.vision_model"):  # CLIPVisionModel.vision_model: CLIPVisionTransformer
        pooled = clip_vision_tower(b, "input", n, c.d_v, c.layers_v, c.heads_v, c.patch, SAFETY_IMAGE // c.patch,
                                   p.attention == "fused")
    image = b.linear(pooled, c.embed, bias=False, name="visual_projection")
    for weight, rows, name in SAFETY_CONCEPTS:  # mm(normalize(image_embeds), normalize(embeds).T)
        normed = b.l2norm(image, name=f"{name}.normalize")
        dist = b.matmul([normed], (n, rows), Gemm(m=n, n=rows, k=c.embed), weights=[Weight(weight, (rows, c.embed))],
                        name=name)
    # the thresholds, nn.Parameters concept_embeds_weights (17) and special_care_embeds_weights (3): forward moves
    # the distances to the host (`.cpu().float().numpy()`) and compares them there, so no device op reads them
    b.unused_params(dist, [Weight(f"{weight}_weights", (rows,)) for weight, rows, _ in SAFETY_CONCEPTS],
                    name="concept_thresholds")
    return b.build(_meta(p, part="safety_checker", safety_image_size=SAFETY_IMAGE))


# ---- UNet (UNet2DConditionModel) -------------------------------------------------------------------------------
def _unet(p: SDParams) -> Graph:
    """One denoising step of the UNet on cfg_batch latents (module docstring)."""
    cfg = _UNETS[p.variant]
    n, side, fused = p.cfg_batch, p.latent_size, p.attention == "fused"
    c0, temb_dim = cfg.channels[0], 4 * cfg.channels[0]
    inputs: dict[str, tuple[int, ...]] = {"input": (n, LATENT_CHANNELS, side, side), "timestep": (n,),
                                          "encoder_hidden_states": (n, p.prompt_tokens, cfg.cross_dim)}
    if cfg.add_embed:
        inputs.update(text_embeds=(n, _TEXT[p.variant][-1].width), time_ids=(n, ADD_TIME_IDS))
    b = TransformerBuilder(f"{p.variant}_unet", inputs, dtype=p.dtype or "fp16", sdpa=True)
    ctx = "encoder_hidden_states"
    t = b.vector(OpKind.ELEMENTWISE, ["timestep"], (n, c0), "timestep_embedding", TIMESTEP_EMBEDDING_FLOPS,
                 name="time_proj", max_period=10000)
    with b.scope("time_embedding"):
        emb = b.linear(b.silu(b.linear(t, temb_dim, name="linear_1"), name="act"), temb_dim, name="linear_2")
    if cfg.add_embed:  # text_time: the six time ids' sinusoids (B, 6·256) after the pooled text embedding
        ids = b.vector(OpKind.ELEMENTWISE, ["time_ids"], (n * ADD_TIME_IDS, ADD_TIME_DIM), "timestep_embedding",
                       TIMESTEP_EMBEDDING_FLOPS, name="add_time_proj", max_period=10000)
        ids = b.view(ids, (n, ADD_TIME_IDS * ADD_TIME_DIM), "reshape", name="time_embeds")
        add = b.concat(["text_embeds", ids], dim=1, name="add_embeds")
        with b.scope("add_embedding"):
            aug = b.linear(b.silu(b.linear(add, temb_dim, name="linear_1"), name="act"), temb_dim, name="linear_2")
        emb = b.add(emb, aug, name="add_aug_emb")
    x = b.conv2d("input", c0, 3, padding=1, name="conv_in")
    skips = [x]
    last = len(cfg.channels) - 1
    for i, ch in enumerate(cfg.channels):
        with b.scope(f"down_blocks.{i}"):
            for j in range(2):  # layers_per_block
                x = resnet_block(b, x, ch, emb, 1e-5, f"resnets.{j}")
                if cfg.cross[i]:
                    x = _transformer_2d(b, x, ctx, cfg, cfg.heads[i], cfg.depth[i], fused, f"attentions.{j}")
                skips.append(x)
            if i < last:
                x = b.conv2d(x, ch, 3, stride=2, padding=1, name="downsamplers.0.conv")
                skips.append(x)
    with b.scope("mid_block"):  # UNetMidBlock2DCrossAttn
        x = resnet_block(b, x, cfg.channels[-1], emb, 1e-5, "resnets.0")
        x = _transformer_2d(b, x, ctx, cfg, cfg.heads[-1], cfg.depth[-1], fused, "attentions.0")
        x = resnet_block(b, x, cfg.channels[-1], emb, 1e-5, "resnets.1")
    # a latent side the downsamplings do not halve evenly (each a 3×3 conv of stride 2 and padding 1: ⌈h / 2⌉)
    # comes back up to each skip's size: UNet2DConditionModel.forward sets forward_upsample_size when the latent is
    # not a multiple of 2 ** num_upsamplers, and each upsampler then interpolates to the next skip's size
    odd = side % 2 ** last != 0
    for i, ch in enumerate(reversed(cfg.channels)):
        k = last - i  # the mirrored down block
        with b.scope(f"up_blocks.{i}"):
            for j in range(3):  # layers_per_block + 1, each after the concatenation with a skip
                x = b.concat([x, skips.pop()], dim=1, name=f"cat_{j}", eager_copy=True)  # torch.cat, a kernel
                x = resnet_block(b, x, ch, emb, 1e-5, f"resnets.{j}")
                if cfg.cross[k]:
                    x = _transformer_2d(b, x, ctx, cfg, cfg.heads[k], cfg.depth[k], fused, f"attentions.{j}")
            if i < last:
                x = _upsample(b, x, "upsamplers.0", size=b.shape(skips[-1])[2:] if odd else None)
    x = b.silu(b.groupnorm(x, GROUPS, 1e-5, name="conv_norm_out"), name="conv_act")
    out = b.conv2d(x, LATENT_CHANNELS, 3, padding=1, name="conv_out")
    if p.guidance:  # noise_pred_uncond + guidance_scale · (noise_pred_text − noise_pred_uncond)
        b.vector(OpKind.ELEMENTWISE, [out], (p.batch, LATENT_CHANNELS, side, side), "cfg_combine", CFG_FLOPS,
                 name="cfg_combine")
    return b.build(_meta(p, part="unet", unet_batch=n))


__all__ = ["SDParams", "SDXLParams", "clip_text_encoder", "refuse_unread", "resnet_block", "sd", "sd_parts",
           "text_encoder_calls", "unet_calls", "vae_decoder",
           "vae_decoder_graph"]
