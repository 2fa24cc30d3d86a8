"""FLUX.1 (Black Forest Labs) as op graphs, part by part, layer for layer as diffusers runs it (FluxPipeline with
FluxTransformer2DModel, FluxAttnProcessor, T5EncoderModel, CLIPTextModel and AutoencoderKL).

Op conventions are those of :mod:`.tlayers` (token tensors (batch, tokens, features); attention unfused or fused;
head splits, slices and concatenations are views) and :mod:`.layers`. Op and weight names are diffusers' /
transformers' module names (``transformer_blocks.3.attn.add_q_proj``, ``single_transformer_blocks.0.proj_mlp``,
``text_encoder_2.encoder.block.0.layer.1.DenseReluDense.wi_0``, ``decoder.up_blocks.0.resnets.2.conv1``, ...), so
``Graph.params`` equals each model's ``sum(p.numel() for p in model.parameters())`` (benchmarks/flux_reference.py):

======================  ===============  ================
part                    dev              schnell
======================  ===============  ================
text_encoder            4,885,371,136    4,885,371,136
transformer             11,901,408,320   11,891,178,560
vae_decoder             49,545,475       49,545,475
======================  ===============  ================

(the text encoders: CLIP ViT-L/14's ``CLIPTextModel`` 123,060,480 and google/t5-v1_1-xxl's ``T5EncoderModel``
4,762,310,656; schnell's transformer lacks dev's guidance embedder, 10,229,760.)

Variants (``variant``): "dev" is black-forest-labs/FLUX.1-dev (guidance-distilled: the transformer takes the
guidance scale as an input and embeds it like the timestep, and runs once per step, with no classifier-free
guidance batch; FluxPipeline's defaults: 28 steps, T5 max_sequence_length 512); "schnell" is
black-forest-labs/FLUX.1-schnell (timestep-distilled, no guidance embedder; its model card: 4 steps,
max_sequence_length 256). Both take the same config otherwise (transformer/config.json: in_channels 64, 19
double-stream and 38 single-stream blocks, 24 heads of 128 (width 3072), joint_attention_dim 4096,
pooled_projection_dim 768, axes_dims_rope [16, 56, 56]) and the same text encoders and VAE.

``tensor_parallel`` T (Megatron-style, as xDiT shards FLUX): the transformer's graph is one chip's shard, every
q/k/v projection, ``ff``'s ``net.0.proj`` and the single blocks' ``proj_mlp`` column-split (24 / T heads, MLP width
÷ T), ``to_out.0``, ``to_add_out``, ``net.2`` and the single blocks' ``proj_out`` (over the chip's attention heads
and MLP columns together) row-split, each followed by a COLLECTIVE all-reduce; embedders, adaLN linears and norms
replicated; the text encoders and VAE decoder run whole on every chip (their graphs' meta ``tensor_parallel`` 1: not
a shard; ``part: text_encoder`` or ``vae_decoder`` asked for alone refuses a ``tensor_parallel`` other than 1,
:func:`.sd.refuse_unread`); ``meta["model_params"]`` is the unsharded count.

Parts (``part``; a pipeline runs :func:`flux_parts`: the text encoders once, the transformer ``steps`` times, the
VAE decoder once), each on ``batch`` (no classifier-free guidance: FluxPipeline's true_cfg_scale 1 runs no negative
prompt). ``mode: training`` takes the transformer alone (``part: transformer``; fine-tuning runs it on noised
latents and precomputed text states), any other part is refused:

* ``text_encoder``: inputs ``input`` (CLIP's token ids (B, 77): the tokenizer pads to 77) and ``input_ids_2``
  (T5's (B, prompt_tokens)). ``text_encoder`` is CLIP ViT-L/14's text tower (:func:`.sd.clip_text_encoder`; the
  pipeline keeps its pooled EOS token, the transformer's ``pooled_projections``); ``text_encoder_2`` is the T5-XXL
  encoder (:func:`.t5.t5_encoder`: d_model 4096, 24 blocks of 64 heads of 64 with block 0's relative position bias,
  gated-GELU feed-forward wi_0 / wi_1 of 10240 and wo, RMS norms), whose final states are the
  ``encoder_hidden_states``; its attention is unfused whatever ``attention`` says (transformers runs T5 eager: its
  relative position bias is a score term no FlashAttention kernel takes).
* ``transformer`` (= ``pipeline``): one denoising step of FluxTransformer2DModel on inputs ``input`` (the packed
  latents (B, (image_size/16)², 64): the (16, image_size/8, image_size/8) latent in 2×2 patches), ``timestep``
  (B,), ``guidance`` (B,) (dev), ``pooled_projections`` (B, 768), ``encoder_hidden_states`` (B, prompt_tokens,
  4096), ``txt_ids`` (prompt_tokens, 3) and ``img_ids`` (image tokens, 3):

  - ``x_embedder`` (64 → 3072) and ``context_embedder`` (4096 → 3072) linears;
  - ``time_text_embed``: ``time_proj`` of the timestep (the 256-wide sinusoid: ELEMENTWISE fn
    "timestep_embedding", 5 flops an element, as sd's and DiT's) → ``timestep_embedder`` (linear_1, act SiLU,
    linear_2); dev also ``guidance_proj`` → ``guidance_embedder``, added; ``text_embedder`` (linear_1, act_1 SiLU,
    linear_2) of the pooled CLIP output, added: the conditioning ``temb`` (B, 3072);
  - ``pos_embed``: the RoPE tables of the concatenated (txt_ids, img_ids) (a view ``ids``): cos and sin, each
    (tokens, 128) (axes 16 + 56 + 56), ELEMENTWISE fn "rope_embedding" of shape (2, tokens, 128), 5 flops an
    element (position · frequency and a cos or sin, as "timestep_embedding");
  - ``transformer_blocks.{i}`` (19, MMDiT double-stream): ``norm1`` and ``norm1_context`` (AdaLayerNormZero each:
    ``silu`` of temb, ``linear`` 3072 → 6·3072, its six (B, 1, 3072) chunks (views), ``norm`` LayerNorm without
    affine, ``modulate`` x·(1 + scale) + shift); ``attn``: the image stream's to_q / to_k / to_v and the text
    stream's add_q_proj / add_k_proj / add_v_proj (with biases), heads split (views), RMSNorm q/k norms over
    head_dim (norm_q, norm_k, norm_added_q, norm_added_k), the text and image q, k, v concatenated along the
    tokens (text first, CONCAT views), RoPE on q and k (ELEMENTWISE fn "rope" reading the table, 3 flops an
    element), joint attention over all tokens, heads merged, split back into the two streams (views), ``to_out.0``
    (image) and ``to_add_out`` (text); per stream the gated residual (``gate_msa_mul``, ``add_attn``), ``norm2``
    (LayerNorm without affine), ``modulate_mlp``, the feed-forward ``ff.net.0.proj`` (3072 → 12288) →
    ``ff.net.0.gelu`` (tanh) → ``ff.net.2``, its gated residual (the text stream's names carry ``context``);
  - ``single_transformer_blocks.{i}`` (38, single-stream over the concatenated text and image tokens, a view
    ``cat``): ``norm`` (AdaLayerNormZeroSingle: silu, linear 3072 → 3·3072, shift / scale / gate), ``proj_mlp``
    (3072 → 12288) → ``act_mlp`` GELU (tanh) in parallel with ``attn`` (to_q / to_k / to_v, q/k RMSNorms, RoPE,
    attention; no output projection), both concatenated (a view) into ``proj_out`` (15360 → 3072), the gated
    residual; the text and image tokens sliced apart again (views);
  - ``norm_out`` (AdaLayerNormContinuous: silu, linear 3072 → 2·3072 (scale, shift), LayerNorm without affine,
    modulate) of the image tokens, ``proj_out`` (3072 → 64): the velocity, (B, image tokens, 64);
  - each modulate, diffusers' ``norm(x) * (1 + scale[:, None]) + shift[:, None]``, as its three eager PyTorch
    kernels (``modulate_kernel`` "eager", the default: :meth:`.TransformerBuilder.modulate`), or one fused op
    (``modulate_kernel`` "fused").

  diffusers runs the single blocks' q, k, v and MLP input projections as four linears (to_q, to_k, to_v,
  proj_mlp), as here; Black Forest Labs' own code (flux/modules/layers.py, SingleStreamBlock.linear1) fuses them
  into one 3072 → 21504 linear: the same params and MACs. The fp16 ``clip`` of each block's output (bf16 is the
  checkpoints' dtype, and the default here) and the scheduler's own arithmetic (FlowMatchEulerDiscreteScheduler's
  step) are left out.
* ``vae_decoder``: FluxPipeline's ``_unpack_latents`` of the packed (B, tokens, 64) latents to (B, 16,
  image_size/8, image_size/8) (a view), ``latents / scaling_factor`` (``unscale_latents``, ELEMENTWISE fn "scale",
  1 flop an element; scaling_factor 0.3611) ``+ shift_factor`` (``shift_latents``, ELEMENTWISE fn "add", 1 flop an
  element; shift_factor 0.1159), then AutoencoderKL.decode: Stable Diffusion's decoder layers
  (:func:`.sd.vae_decoder`) on 16 latent channels, without post_quant_conv (vae/config.json
  ``use_post_quant_conv: false``). FluxPipeline decodes in the pipeline's dtype (the VAE's force_upcast is read only
  by the SDXL pipelines).

MACs are those of torch.utils.flop_counter.FlopCounterMode on the diffusers / transformers modules (FLOPs / 2: every
linear and conv and the attention's two batched matmuls; the per-sample adaLN and embedding linears included); the
norms, activations, softmax, RoPE, modulations and element-wise ops are FLOPs only here and uncounted there.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator

from ..errors import WorkloadError
from ..ir import Graph, OpKind
from ..units import TORCH_DTYPES
from .dit import _chunks
from .sd import TIMESTEP_EMBEDDING_FLOPS, DiffusionTPParams, clip_text_encoder, refuse_pipeline_training, vae_decoder
from .t5 import t5_encoder
from .tlayers import TransformerBuilder

VAE_FACTOR = 8
"""Pixels per latent element along each side (AutoencoderKL's three ×2 upsamplings)."""
LATENT_CHANNELS = 16
"""Channels of FLUX.1's VAE latent (vae/config.json latent_channels)."""
PACK = 2
"""Latent elements per side of each packed token (FluxPipeline's _pack_latents: 2×2 × 16 channels = 64 features)."""
IN_CHANNELS = LATENT_CHANNELS * PACK * PACK
"""Features of a packed latent token (transformer/config.json in_channels 64)."""
HEADS = 24
"""Attention heads (num_attention_heads)."""
HEAD_DIM = 128
"""Features per head (attention_head_dim); the width is HEADS · HEAD_DIM = 3072."""
DOUBLE_BLOCKS = 19
"""Double-stream (MMDiT) blocks (num_layers)."""
SINGLE_BLOCKS = 38
"""Single-stream blocks (num_single_layers)."""
MLP_RATIO = 4
"""Feed-forward width as a multiple of the model width (FeedForward's mult, the single blocks' mlp_ratio)."""
JOINT_ATTENTION_DIM = 4096
"""Width of the T5 states the transformer reads (joint_attention_dim = T5-XXL's d_model)."""
POOLED_DIM = 768
"""Width of CLIP ViT-L/14's pooled output (pooled_projection_dim)."""
FREQUENCY_DIM = 256
"""Width of the sinusoidal timestep and guidance embeddings (Timesteps(num_channels=256))."""
AXES_DIMS_ROPE = (16, 56, 56)
"""Head features rotated by each of the three position ids (axes_dims_rope; they sum to HEAD_DIM)."""
ROPE_TABLE_FLOPS = 5
"""FLOPs per element of the RoPE cos / sin tables: position · frequency (1) and a cos or sin (4, as tanh)."""
ROPE_FLOPS = 3
"""FLOPs per element of applying RoPE: x·cos + rotate(x)·sin (as :meth:`.tlayers.TransformerBuilder.rope`)."""
CLIP_TOKENS = 77
"""Tokens of CLIP's text encoder (FluxPipeline pads the prompt to the tokenizer's 77)."""
MAX_PROMPT_TOKENS = 512
"""FluxPipeline refuses a T5 max_sequence_length over 512."""
T5_XXL = (4096, 10240, 64, 64, 24)
"""google/t5-v1_1-xxl's encoder: d_model, d_ff, heads, d_kv, layers (config.json; feed_forward_proj gated-gelu)."""
SCALING_FACTOR = 0.3611
SHIFT_FACTOR = 0.1159
"""FLUX.1's vae/config.json: the pipeline decodes latents / scaling_factor + shift_factor."""
EPS = 1e-6
"""eps of every LayerNorm and RMSNorm of the transformer."""

_DEFAULT_STEPS = {"dev": 28, "schnell": 4}
_DEFAULT_PROMPT_TOKENS = {"dev": 512, "schnell": 256}
_CHECKPOINT = {"dev": "black-forest-labs/FLUX.1-dev", "schnell": "black-forest-labs/FLUX.1-schnell"}


# ---- parameters ----------------------------------------------------------------------------------------------
class FluxParams(DiffusionTPParams):
    """FLUX.1 (diffusers FluxPipeline): one part of the text-to-image pipeline, or the pipeline (its transformer
    step)."""

    variant: Literal["dev", "schnell"] = Field(
        "dev", description="'dev': black-forest-labs/FLUX.1-dev (guidance-distilled: a guidance embedding, one "
                           "transformer pass a step; transformer 11,901,408,320 params); 'schnell': "
                           "black-forest-labs/FLUX.1-schnell (no guidance embedding; 11,891,178,560).")
    image_size: PositiveInt = Field(
        1024, description="Image height and width in pixels, a multiple of 16: the latent is image_size/8 per side "
                          "with 16 channels, packed 2×2 into (image_size/16)² tokens of 64 features.")
    prompt_tokens: PositiveInt | None = Field(
        None, description="T5 tokens per prompt (FluxPipeline's max_sequence_length; at most 512; default: 512 for "
                          "dev, 256 for schnell, as its model card runs it). CLIP always reads 77.")
    part: Literal["pipeline", "text_encoder", "transformer", "vae_decoder"] = Field(
        "pipeline", description="What the graph is: 'text_encoder' (CLIP ViT-L/14 + T5-XXL encoder), 'transformer' "
                                "(one denoising step), 'vae_decoder'; 'pipeline' builds the transformer step, and a "
                                "run composes the text encoders once, the transformer steps times and the VAE "
                                "decoder once.")
    steps: PositiveInt | None = Field(
        None, description="Denoising steps (default: 28 for dev, FluxPipeline's num_inference_steps default; 4 for "
                          "schnell, as its model card runs it).")
    attention: Literal["unfused", "fused"] = Field(
        "fused", description="'fused' (default: diffusers' FluxAttnProcessor calls scaled_dot_product_attention): "
                             "one ATTENTION op, scores on chip; 'unfused': QKᵀ, softmax and PV as separate ops. "
                             "Same params and MACs. The T5 encoder runs unfused either way (transformers' eager T5).")

    @field_validator("image_size")
    @classmethod
    def _image(cls, v: int) -> int:
        if v % (VAE_FACTOR * PACK):
            raise ValueError(f"must be a multiple of {VAE_FACTOR * PACK} (the VAE's ×{VAE_FACTOR} and the "
                             f"{PACK}×{PACK} packing of the latent)")
        return v

    @field_validator("prompt_tokens")
    @classmethod
    def _tokens(cls, v: int | None) -> int | None:
        if v is not None and v > MAX_PROMPT_TOKENS:
            raise ValueError(f"must be at most {MAX_PROMPT_TOKENS} (FluxPipeline's limit on max_sequence_length)")
        return v

    modulate_kernel: Literal["eager", "fused"] = Field(
        "eager", description="How each adaptive LayerNorm's modulate x·(1 + scale) + shift runs: 'eager' (default: "
                             "diffusers' PyTorch code) three kernels, the (B, 1, 3072) 1 + scale, the multiply and "
                             "the add; 'fused': one kernel, as a compiler (torch.compile, TensorRT) fuses it. Same "
                             "flops.")

    UNREAD_BY_PART: ClassVar[dict[str, tuple[str, ...]]] = {
        "text_encoder": ("steps", "tensor_parallel", "modulate_kernel"), "transformer": ("steps",),
        "vae_decoder": ("steps", "prompt_tokens", "tensor_parallel", "modulate_kernel")}

    @property
    def text_tokens(self) -> int:
        """T5 tokens per prompt (``prompt_tokens`` or the variant's default)."""
        return self.prompt_tokens or _DEFAULT_PROMPT_TOKENS[self.variant]

    @property
    def denoising_steps(self) -> int:
        """Denoising steps (``steps`` or the variant's default)."""
        return self.steps or _DEFAULT_STEPS[self.variant]

    @property
    def latent_size(self) -> int:
        """Latent side in elements: image_size / 8."""
        return self.image_size // VAE_FACTOR

    @property
    def image_tokens(self) -> int:
        """Packed latent tokens: (image_size / 16)²."""
        return (self.latent_size // PACK) ** 2


class FluxSchnellParams(FluxParams):
    """FLUX.1 [schnell] (diffusers FluxPipeline): FluxParams with variant "schnell" by default."""

    variant: Literal["dev", "schnell"] = Field(
        "schnell", description="'schnell': black-forest-labs/FLUX.1-schnell (no guidance embedding; transformer "
                               "11,891,178,560 params); 'dev': black-forest-labs/FLUX.1-dev (guidance-distilled; "
                               "11,901,408,320).")


def flux_parts(p: FluxParams) -> list[tuple[str, int]]:
    """The parts of a FLUX.1 pipeline and how many times each runs: the text encoders once, the transformer once per
    denoising step, the VAE decoder once."""
    refuse_pipeline_training(p, "FLUX.1", "transformer")  # the whole pipeline's part and guidance: in one message
    return [("text_encoder", 1), ("transformer", p.denoising_steps), ("vae_decoder", 1)]


def flux(p: FluxParams) -> Graph:
    """The graph of ``p.part`` (module docstring); "pipeline" builds the transformer's denoising step."""
    refuse_pipeline_training(p, "FLUX.1", "transformer")  # guidance-distilled: no guidance field to refuse
    if p.part == "text_encoder":
        return _text_encoders(p)
    if p.part == "vae_decoder":
        return _vae_decoder(p)
    graph = _transformer(p)
    if p.tensor_parallel == 1:
        return graph
    whole = _transformer(p.model_copy(update={"tensor_parallel": 1})).params  # the unsharded model's count
    return graph.with_meta({**graph.meta, "model_params": whole})


def _meta(p: FluxParams, **extra: object) -> dict[str, object]:
    """The graph's meta: the workload's params and the resolved defaults, then ``extra`` (the text encoders' and VAE
    decoder's ``tensor_parallel: 1``: only the transformer is sharded, the others run whole on every chip, so their
    graphs are not one chip's shard of a tensor-parallel group; probe p102 #3: the run's note had put them over
    chips 0-7 at tensor_parallel 8)."""
    return {"model": f"flux1_{p.variant}", "checkpoint": _CHECKPOINT[p.variant], **p.model_dump(),
            "prompt_tokens": p.text_tokens, "steps": p.denoising_steps, "latent_size": p.latent_size,
            "image_tokens": p.image_tokens, **extra}


def _dtype(p: FluxParams) -> str:
    # default: the checkpoints' dtype (the model cards load them with torch_dtype=torch.bfloat16)
    return p.dtype or TORCH_DTYPES["bfloat16"]


# ---- text encoders -------------------------------------------------------------------------------------------
def _text_encoders(p: FluxParams) -> Graph:
    """CLIP ViT-L/14's text tower (its pooled output) and the T5-XXL encoder (its final states), module docstring."""
    n, fused = p.batch, p.attention == "fused"
    b = TransformerBuilder(f"flux1_{p.variant}_text_encoder",
                           {"input": (n, CLIP_TOKENS), "input_ids_2": (n, p.text_tokens)}, dtype=_dtype(p), sdpa=True)
    clip_text_encoder(b, "input", fused=fused)
    with b.scope("text_encoder_2"):
        # unfused whatever ``attention`` says: transformers' T5EncoderModel runs eager attention, T5 having had "no
        # SDPA or Flash Attention support" (huggingface/transformers#46946), its relative position bias being an
        # additive score term no FlashAttention kernel takes (#47014 keeps _supports_flash_attn = False; probe p133 #1)
        t5_encoder(b, "input_ids_2", *T5_XXL, gated=True, fused=False)
    return b.build(_meta(p, part="text_encoder", tensor_parallel=1))  # not sharded: whole on every chip


# ---- VAE decoder ---------------------------------------------------------------------------------------------
def _vae_decoder(p: FluxParams) -> Graph:
    """Unpack, unscale and shift the latents, then AutoencoderKL.decode (module docstring)."""
    n, side = p.batch, p.latent_size
    b = TransformerBuilder(f"flux1_{p.variant}_vae_decoder", {"input": (n, p.image_tokens, IN_CHANNELS)},
                           dtype=_dtype(p), sdpa=True)
    shape = (n, LATENT_CHANNELS, side, side)
    z = b.view("input", shape, "unpack", name="unpack_latents")
    z = b.vector(OpKind.ELEMENTWISE, [z], shape, "scale", 1, name="unscale_latents", factor=SCALING_FACTOR)
    z = b.vector(OpKind.ELEMENTWISE, [z], shape, "add", 1, name="shift_latents", shift=SHIFT_FACTOR)
    vae_decoder(b, z, fused=p.attention == "fused", post_quant_conv=False)
    return b.build(_meta(p, part="vae_decoder", tensor_parallel=1))  # not sharded: whole on every chip


# ---- transformer (FluxTransformer2DModel) --------------------------------------------------------------------
def _embedder(b: TransformerBuilder, x: str, width: int, name: str, act: str = "act") -> str:
    """diffusers' TimestepEmbedding / PixArtAlphaTextProjection (``name``): linear_1 → SiLU → linear_2."""
    with b.scope(name), b.replicated():  # whole on every tensor-parallel chip
        return b.linear(b.silu(b.linear(x, width, name="linear_1"), name=act), width, name="linear_2")


def _sinusoid(b: TransformerBuilder, x: str, name: str) -> str:
    """diffusers' Timesteps(256, flip_sin_to_cos) of a (B,) input: the (B, 256) sinusoid."""
    return b.vector(OpKind.ELEMENTWISE, [x], (b.shape(x)[0], FREQUENCY_DIM), "timestep_embedding",
                    TIMESTEP_EMBEDDING_FLOPS, name=name, max_period=10000)


def _ada_norm(b: TransformerBuilder, x: str, temb: str, chunks: tuple[str, ...], name: str,
              shift: str = "shift_msa", scale: str = "scale_msa") -> dict[str, str]:
    """An adaptive LayerNorm (``name``: diffusers' AdaLayerNormZero, AdaLayerNormZeroSingle or
    AdaLayerNormContinuous): ``silu`` of temb, ``linear`` to len(chunks)·width, its (B, 1, width) ``chunks`` in
    diffusers' order (views), ``norm`` (LayerNorm without affine, eps 1e-6) of x and ``modulate`` with the chunks
    named ``shift`` and ``scale``. Returns the chunks by name and the modulated x as "x"."""
    d = b.shape(x)[-1]
    with b.scope(name), b.replicated():  # whole on every tensor-parallel chip
        mod = b.linear(b.silu(temb, name="silu"), len(chunks) * d, name="linear")
        out = dict(zip(chunks, _chunks(b, mod, chunks), strict=True))
        out["x"] = b.modulate(b.layernorm_no_affine(x, EPS, name="norm"), out[shift], out[scale], name="modulate")
    return out


def _heads(b: TransformerBuilder, x: str, proj: str, norm: str | None, which: str) -> str:
    """A q, k or v projection ``proj`` (with bias) of x, split into heads (a view), with its RMSNorm ``norm``; under
    tensor parallelism column-split, this chip's HEADS / tp heads (the (head_dim,) norm weight replicated)."""
    heads = HEADS // b.tp
    h = b.split_heads(b.linear(x, heads * HEAD_DIM, name=proj), heads, HEAD_DIM, name=which)
    return b.rmsnorm(h, EPS, name=norm) if norm else h


def _rope(b: TransformerBuilder, x: str, table: str, name: str) -> str:
    """RoPE of the (B, H, L, d) q or k with the (2, L, d) cos / sin table: ELEMENTWISE fn "rope"."""
    return b.vector(OpKind.ELEMENTWISE, [x, table], b.shape(x), "rope", ROPE_FLOPS, name=name)


def _attend(b: TransformerBuilder, q: str, k: str, v: str, table: str, fused: bool) -> str:
    """RoPE on q and k, attention, heads merged: (B, L, heads · head_dim)."""
    q, k = _rope(b, q, table, "q_rope"), _rope(b, k, table, "k_rope")
    return b.merge_heads(b.attention(q, k, v, fused=fused), name="merge")


def _feed_forward(b: TransformerBuilder, x: str, name: str) -> str:
    """diffusers' FeedForward with activation_fn "gelu-approximate" (``name``): net.0.proj → GELU (tanh) → net.2."""
    d = b.shape(x)[-1]
    with b.scope(name):  # under tensor parallelism net.0.proj column-split, net.2 row-split and all-reduced
        h = b.gelu(b.linear(x, MLP_RATIO * d // b.tp, name="net.0.proj"), name="net.0.gelu")
        return _reduced(b, b.linear(h, d, name="net.2"), "all_reduce")


def _reduced(b: TransformerBuilder, x: str, leaf: str) -> str:
    """A row-split linear's partial sums ``x`` all-reduced over the tensor-parallel chips (COLLECTIVE ``leaf``);
    ``x`` itself without tensor parallelism."""
    return x if b.tp == 1 else b._collective(x, "all_reduce", b.shape(x), leaf, group=b.tp)


_ZERO = ("shift_msa", "scale_msa", "gate_msa", "shift_mlp", "scale_mlp", "gate_mlp")


def _double_block(b: TransformerBuilder, x: str, c: str, temb: str, table: str, fused: bool) -> tuple[str, str]:
    """FluxTransformerBlock (module docstring) on the image tokens ``x`` and text tokens ``c``."""
    t_txt, t_img = b.shape(c)[1], b.shape(x)[1]
    img = _ada_norm(b, x, temb, _ZERO, "norm1")
    txt = _ada_norm(b, c, temb, _ZERO, "norm1_context")
    with b.scope("attn"):
        q = _heads(b, img["x"], "to_q", "norm_q", "q")
        k = _heads(b, img["x"], "to_k", "norm_k", "k")
        v = _heads(b, img["x"], "to_v", None, "v")
        cq = _heads(b, txt["x"], "add_q_proj", "norm_added_q", "context_q")
        ck = _heads(b, txt["x"], "add_k_proj", "norm_added_k", "context_k")
        cv = _heads(b, txt["x"], "add_v_proj", None, "context_v")
        q, k, v = (b.concat([t, i], dim=2, name=f"joint_{w}") for t, i, w in ((cq, q, "q"), (ck, k, "k"),
                                                                                (cv, v, "v")))
        o = _attend(b, q, k, v, table, fused)
        # the output projections row-split under tensor parallelism, each all-reduced
        a = _reduced(b, b.linear(b.slice_tokens(o, t_txt, t_img, name="image_out"), HEADS * HEAD_DIM,
                                 name="to_out.0"), "to_out_all_reduce")
        ca = _reduced(b, b.linear(b.slice_tokens(o, 0, t_txt, name="context_out"), HEADS * HEAD_DIM,
                                  name="to_add_out"), "to_add_out_all_reduce")
    x = b.add(x, b.mul(img["gate_msa"], a, name="gate_msa_mul"), name="add_attn")
    h = b.modulate(b.layernorm_no_affine(x, EPS, name="norm2"), img["shift_mlp"], img["scale_mlp"],
                   name="modulate_mlp")
    x = b.add(x, b.mul(img["gate_mlp"], _feed_forward(b, h, "ff"), name="gate_mlp_mul"), name="add_ff")
    c = b.add(c, b.mul(txt["gate_msa"], ca, name="context_gate_msa_mul"), name="add_context_attn")
    h = b.modulate(b.layernorm_no_affine(c, EPS, name="norm2_context"), txt["shift_mlp"], txt["scale_mlp"],
                   name="modulate_context_mlp")
    c = b.add(c, b.mul(txt["gate_mlp"], _feed_forward(b, h, "ff_context"), name="context_gate_mlp_mul"),
              name="add_context_ff")
    return x, c


def _single_block(b: TransformerBuilder, x: str, c: str, temb: str, table: str, fused: bool) -> tuple[str, str]:
    """FluxSingleTransformerBlock (module docstring) on the image tokens ``x`` and text tokens ``c``."""
    t_txt, t_img = b.shape(c)[1], b.shape(x)[1]
    d = HEADS * HEAD_DIM
    h = b.concat([c, x], dim=1, name="cat")
    mod = _ada_norm(b, h, temb, ("shift_msa", "scale_msa", "gate_msa"), "norm")
    m = b.gelu(b.linear(mod["x"], MLP_RATIO * d // b.tp, name="proj_mlp"), name="act_mlp")  # column-split
    with b.scope("attn"):
        q = _heads(b, mod["x"], "to_q", "norm_q", "q")
        k = _heads(b, mod["x"], "to_k", "norm_k", "k")
        v = _heads(b, mod["x"], "to_v", None, "v")
        a = _attend(b, q, k, v, table, fused)
    # row-split over this chip's attention heads and MLP columns: one all-reduce for both (xDiT's parallel block)
    out = _reduced(b, b.linear(b.concat([a, m], dim=2, name="cat_attn_mlp"), d, name="proj_out"),
                   "proj_out_all_reduce")
    h = b.add(h, b.mul(mod["gate_msa"], out, name="gate_mul"), name="add_residual")
    return b.slice_tokens(h, t_txt, t_img, name="hidden"), b.slice_tokens(h, 0, t_txt, name="context")


def _transformer(p: FluxParams) -> Graph:
    """One denoising step of FluxTransformer2DModel on batch latents (module docstring)."""
    n, fused, d = p.batch, p.attention == "fused", HEADS * HEAD_DIM
    t_img, t_txt = p.image_tokens, p.text_tokens
    dev = p.variant == "dev"
    inputs: dict[str, tuple[int, ...]] = {
        "input": (n, t_img, IN_CHANNELS), "timestep": (n,), **({"guidance": (n,)} if dev else {}),
        "pooled_projections": (n, POOLED_DIM), "encoder_hidden_states": (n, t_txt, JOINT_ATTENTION_DIM),
        "txt_ids": (t_txt, len(AXES_DIMS_ROPE)), "img_ids": (t_img, len(AXES_DIMS_ROPE))}
    if HEADS % p.tensor_parallel:  # MLP_RATIO · width = 4 · HEADS · HEAD_DIM: divided too
        raise WorkloadError(f"flux1_{p.variant}: tensor_parallel {p.tensor_parallel} must divide the {HEADS} heads",
                            key=("tensor_parallel",))
    b = TransformerBuilder(f"flux1_{p.variant}_transformer", inputs, dtype=_dtype(p), tp=p.tensor_parallel,
                           sdpa=True)
    b.modulate_kernel = p.modulate_kernel
    with b.replicated():  # the embedders: whole on every tensor-parallel chip
        x = b.linear("input", d, name="x_embedder")
    with b.scope("time_text_embed"):  # CombinedTimestep(Guidance)TextProjEmbeddings
        temb = _embedder(b, _sinusoid(b, "timestep", "time_proj"), d, "timestep_embedder")
        if dev:
            g = _embedder(b, _sinusoid(b, "guidance", "guidance_proj"), d, "guidance_embedder")
            temb = b.add(temb, g, name="add_guidance")
        pooled = _embedder(b, "pooled_projections", d, "text_embedder", act="act_1")
        temb = b.add(temb, pooled, name="add_pooled")
    with b.replicated():
        c = b.linear("encoder_hidden_states", d, name="context_embedder")
    ids = b.concat(["txt_ids", "img_ids"], dim=0, name="ids")
    table = b.vector(OpKind.ELEMENTWISE, [ids], (2, t_txt + t_img, HEAD_DIM), "rope_embedding", ROPE_TABLE_FLOPS,
                     name="pos_embed", theta=10000, axes_dim=AXES_DIMS_ROPE)
    for i in range(DOUBLE_BLOCKS):
        with b.scope(f"transformer_blocks.{i}"):
            x, c = _double_block(b, x, c, temb, table, fused)
    for i in range(SINGLE_BLOCKS):
        with b.scope(f"single_transformer_blocks.{i}"):
            x, c = _single_block(b, x, c, temb, table, fused)
    out = _ada_norm(b, x, temb, ("scale", "shift"), "norm_out", shift="shift", scale="scale")
    with b.replicated():
        b.linear(out["x"], IN_CHANNELS, name="proj_out")
    return b.build(_meta(p, part="transformer", tokens=n * (t_img + t_txt)))


__all__ = ["FluxParams", "FluxSchnellParams", "flux", "flux_parts"]
