"""DiT (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers", arXiv:2212.09748) as an op graph, layer
for layer as facebookresearch/DiT's ``models.py`` (class-conditional latent diffusion on ImageNet).

Op conventions are those of :mod:`.tlayers`. Op and weight names are the reference's module names
(``x_embedder.proj``, ``t_embedder.mlp.0``, ``y_embedder.embedding_table``, ``blocks.{i}.attn.qkv``,
``blocks.{i}.adaLN_modulation.1``, ``final_layer.linear``, ...), so ``Graph.params`` equals models.py's trainable
count, ``sum(p.numel() for p in model.parameters() if p.requires_grad)``: DiT-XL/2 674,834,720. The fixed sin-cos
position table ``pos_embed`` (T × hidden) is an ``nn.Parameter`` with ``requires_grad=False`` in models.py (its
``model.parameters()``, which train.py logs, gives 675,129,632 at 256²); here it is a constant, as diffusers' buffer,
so it holds no params: the paper's Table 4 counts it out too (B/2: 130.32 M without it rounds to its 130M, 130.51 M
with it would not). Diffusers' ``DiTTransformer2DModel`` (facebook/DiT-XL-2-256) lays the same weights out
differently: each of its 28 blocks' ``AdaLayerNormZero`` carries its own copy of the timestep and label embedders
(the conversion copies models.py's one into each), which it also runs in every block and once more for the final
layer: 749,826,464 params and 28 more timestep MLPs a step. This graph is the official model.

``tensor_parallel`` T (Megatron-style, as the LLM builders): the step's graph is one chip's shard, ``attn.qkv`` and
``mlp.fc1`` column-split (heads and MLP width ÷ T), ``attn.proj`` and ``mlp.fc2`` row-split, each followed by a
COLLECTIVE all-reduce (``proj_all_reduce``, ``fc2_all_reduce``); the embedders, adaLN modulations and final layer are
replicated, the VAE decoder runs whole on every chip (its graph is not a shard: ``part: vae_decoder`` asked for alone
refuses a ``tensor_parallel`` other than 1, :func:`.sd.refuse_unread`); ``meta["model_params"]`` is the unsharded
count.

One denoising step (``part`` "transformer"; "pipeline" builds the same step, which a pipeline runs ``steps`` times
before the VAE decoder: :func:`dit_parts`), on ``batch`` latents of (latent_channels, image_size/8, image_size/8),
twice that many with classifier-free guidance (sample.py concatenates the latents with themselves and the labels
with the null class 1000; ``forward_with_cfg``):

* graph inputs ``input`` (B, 4, H/8, W/8) latents, ``timestep`` (B,) and ``class_labels`` (B,) (B = 2·batch with
  guidance);
* ``x_embedder.proj``: a patch conv (kernel = stride = patch) → (B, T, hidden) tokens, T = (image_size/8/patch)²;
  ``add_pos_embed`` adds the 2-D sin-cos table (ELEMENTWISE fn "add", attrs ``positions`` "sinusoidal": a constant,
  no params);
* with guidance, ``cfg_concat``: forward_with_cfg's ``torch.cat([half, half])`` of the first half of the latents
  (a copy, ELEMENTWISE fn "cat");
* ``t_embedder``: the sinusoidal frequency embedding of the timestep as models.py's eager code runs it, five
  kernels (``timestep_float`` cast, ``args`` t·freq (B, 128), ``cos``, ``sin``, their ``torch.cat``
  ``timestep_embedding`` (B, 256); :func:`_timestep_embedding`), then ``mlp.0`` linear 256 → hidden, ``mlp.1`` SiLU,
  ``mlp.2`` linear hidden → hidden; ``y_embedder.embedding_table``: a gather from the (num_classes + 1, hidden)
  table (the extra row is the guidance's null class); ``add_conditioning``: c = t + y;
* ``blocks.{i}`` (depth of them), adaLN-Zero: ``adaLN_modulation.0`` SiLU(c), ``adaLN_modulation.1`` linear
  hidden → 6·hidden, its six (B, 1, hidden) chunks (views ``shift_msa`` ... ``gate_mlp``); ``norm1`` LayerNorm
  without affine, ``modulate_msa`` x·(1 + scale) + shift, ``attn`` (timm's Attention: fused ``qkv`` with bias,
  ``proj``; unfused or fused per ``attention``), ``gate_msa_mul`` gate · attention and ``add_attn`` the residual;
  then ``norm2``, ``modulate_mlp``, ``mlp`` (``fc1`` → ``act`` GELU (tanh) → ``fc2``, hidden·mlp_ratio wide),
  ``gate_mlp_mul``, ``add_mlp``;
* each modulate as models.py runs it in eager PyTorch, three kernels (``modulate_kernel`` "eager", the default:
  ``{name}.scale_plus_one``, ``{name}.mul``, then the add named ``{name}``; :meth:`.TransformerBuilder.modulate`),
  or one fused op (``modulate_kernel`` "fused", as a compiler fuses it);
* ``final_layer``: ``adaLN_modulation`` SiLU + linear hidden → 2·hidden (shift, scale), ``norm_final``,
  ``modulate``, ``linear`` hidden → patch²·out_channels (out_channels 8 with ``learn_sigma``: the noise and the
  variance, else 4); ``unpatchify``: a reshape view and the copy eager PyTorch makes reshaping the einsum's
  permuted view to (B, out_channels, H/8, W/8) (ELEMENTWISE fn "copy", attr ``eager_copy``: a kernel on a GPU
  preset, in place elsewhere);
* with guidance, forward_with_cfg's combination as its eager code runs it (:func:`_cfg`): ε = ε_u + s·(ε_c − ε_u)
  on the noise channels of the conditional and unconditional halves, (batch, 4, H/8, W/8), as ``cfg_sub``,
  ``cfg_scale`` and ``cfg_combine`` (1 flop an element each), then the two concatenations that copy the result
  back to both halves (``cfg_eps_cat``) and re-attach the variance channels (``cfg_out_cat``).

MACs are those of torch.utils.flop_counter.FlopCounterMode on models.py's forward (its FLOPs / 2: the patch conv,
every linear, and the attention's two batched matmuls), which is what the paper's Table 4 calls Gflops (DiT-XL/2
118.6). The sampler's own arithmetic between steps (p_sample's mean and noise) is not part of the model and is left
out.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator

from ..errors import WorkloadError
from ..ir import Graph, OpKind
from .sd import DiffusionTPParams, refuse_pipeline_training, vae_decoder_graph
from .tlayers import TransformerBuilder

VAE_FACTOR = 8
"""Pixels per latent element along each side: Stable Diffusion's VAE (sd-vae-ft-ema / -mse), which DiT uses."""
FREQUENCY_DIM = 256
"""Width of the sinusoidal timestep embedding (TimestepEmbedder's frequency_embedding_size)."""
TRANSCENDENTAL_FLOPS = 4
"""FLOPs per element of a cos or sin (as tanh) in the timestep embedding."""
DIFFUSION_STEPS = 1000
"""DiT's training timesteps: ``create_diffusion(timestep_respacing, ..., diffusion_steps=1000)`` (facebookresearch/DiT
diffusion/__init__.py, 50142678). Sampling respaces them, ``space_timesteps(1000, str(steps))``, which raises "cannot
divide section of 1000 steps into {steps}" above 1000 (diffusion/respace.py's ``if size < section_count``, 29e4fa6c):
a sampling run takes at most this many steps."""
IMAGE_SIZES = (256, 512)
"""The image sides DiT runs at: sample.py and train.py take ``--image-size`` with ``choices=[256, 512]`` and sample.py
asserts ``args.image_size in [256, 512]`` (facebookresearch/DiT sample.py, 58fe9c28), the sizes of the released
checkpoints DiT-XL-2-256x256.pt / DiT-XL-2-512x512.pt, whose ``pos_embed`` holds (image_size/8/2)² = 256 or 1024
rows; models.py itself takes any ``input_size`` divisible by the patch, but no script of DiT's runs one."""


class DiTParams(DiffusionTPParams):
    """A DiT (facebookresearch/DiT models.py); defaults: DiT-XL/2 at 256×256 (674,834,720 params)."""

    depth: PositiveInt = Field(28, description="DiT blocks (S 12, B 12, L 24, XL 28).")
    hidden: PositiveInt = Field(1152, description="Model width (S 384, B 768, L 1024, XL 1152).")
    heads: PositiveInt = Field(16, description="Attention heads (must divide hidden; S 6, B 12, L 16, XL 16).")
    patch: PositiveInt = Field(2, description="Patch side in latent elements (the /2, /4, /8 of DiT-XL/2 etc.).")
    image_size: PositiveInt = Field(
        256, description="Image height and width in pixels: 256 or 512, the sizes DiT's sample.py and train.py "
                         "take (its released checkpoints'); the latent is image_size/8 per side, a multiple of "
                         "patch.")
    latent_channels: PositiveInt = Field(4, description="Channels of the VAE latent (Stable Diffusion's VAE: 4).")
    num_classes: PositiveInt = Field(
        1000, description="Class labels (ImageNet: 1000); the label table holds one more row, the null class of "
                          "classifier-free guidance.")
    learn_sigma: bool = Field(
        True, description="Predict the variance too (models.py's default): 2 × latent_channels output channels.")
    mlp_ratio: float = Field(4.0, gt=0, description="MLP width as a multiple of hidden (int(hidden · mlp_ratio)).")
    attention: Literal["unfused", "fused"] = Field(
        "fused", description="'fused' (timm's Attention calls scaled_dot_product_attention, fused_attn): one "
                             "ATTENTION op (FlashAttention-style, scores stay on chip); 'unfused': QKᵀ, softmax and "
                             "PV as separate ops. Same params and MACs.")
    part: Literal["pipeline", "transformer", "vae_decoder"] = Field(
        "pipeline", description="What the graph is: 'transformer' one denoising step of the DiT; 'pipeline' the same "
                                "step (the pipeline runs it steps times, then the VAE decoder once); 'vae_decoder' "
                                "Stable Diffusion's VAE decoder, on batch latents.")
    steps: PositiveInt = Field(250, description="Denoising steps of a pipeline (the paper samples with 250 DDPM "
                                                "steps); at most 1000, the training timesteps DiT respaces.")
    guidance: bool = Field(
        True, description="Classifier-free guidance: each step runs the DiT on 2 × batch latents (conditional and "
                          "unconditional, as DiT's sample.py concatenates them) and combines the two noise "
                          "predictions.")

    modulate_kernel: Literal["eager", "fused"] = Field(
        "eager", description="How adaLN's modulate x·(1 + scale) + shift runs: 'eager' (default: models.py's "
                             "PyTorch code) three kernels, the (B, 1, hidden) 1 + scale, the multiply and the add; "
                             "'fused': one kernel, as a compiler (torch.compile, TensorRT) fuses it. Same flops.")

    # probe p284 #2: steps 1001 and image_size 128 / 272 were accepted, which DiT's own code refuses
    @field_validator("steps")
    @classmethod
    def _steps(cls, v: int) -> int:
        if v > DIFFUSION_STEPS:
            raise ValueError(f"must be at most {DIFFUSION_STEPS}: DiT samples by respacing its {DIFFUSION_STEPS} "
                             f"training timesteps, and space_timesteps refuses more (\"cannot divide section of "
                             f"{DIFFUSION_STEPS} steps into {v}\", diffusion/respace.py)")
        return v

    @field_validator("image_size")
    @classmethod
    def _image_size(cls, v: int) -> int:
        if v not in IMAGE_SIZES:
            raise ValueError("must be 256 or 512: DiT's sample.py and train.py take --image-size 256 or 512 (the "
                             "released DiT-XL-2-256x256 / -512x512 checkpoints' position tables)")
        return v

    UNREAD_BY_PART: ClassVar[dict[str, tuple[str, ...]]] = {
        "transformer": ("steps",), "vae_decoder": ("steps", "guidance", "tensor_parallel", "modulate_kernel")}

    @property
    def latent_size(self) -> int:
        """Latent side in elements: image_size / 8."""
        return self.image_size // VAE_FACTOR

    @property
    def out_channels(self) -> int:
        """Output channels: the noise, and with learn_sigma the variance too."""
        return 2 * self.latent_channels if self.learn_sigma else self.latent_channels


def dit_parts(p: DiTParams) -> list[tuple[str, int]]:
    """The parts of a DiT sampling pipeline and how many times each runs: the transformer once per denoising step,
    then the VAE decoder once."""
    refuse_pipeline_training(p, "a DiT", "transformer")  # the whole pipeline's part and guidance: in one message
    return [("transformer", p.steps), ("vae_decoder", 1)]


def _check(p: DiTParams) -> None:
    """WorkloadErrors at the parameter at fault (a shape the model cannot take, a training run of the pipeline)."""
    if p.hidden % p.heads:
        raise WorkloadError(f"heads ({p.heads}) must divide hidden ({p.hidden})", key=("heads",))
    if (p.image_size // VAE_FACTOR) % p.patch:
        raise WorkloadError(f"the latent side image_size/{VAE_FACTOR} ({p.image_size // VAE_FACTOR}) must be a "
                            f"multiple of patch ({p.patch})", key=("patch",))
    refuse_pipeline_training(p, "a DiT", "transformer")
    tp = p.tensor_parallel
    if p.heads % tp or int(p.hidden * p.mlp_ratio) % tp:
        raise WorkloadError(f"dit: tensor_parallel {tp} must divide heads ({p.heads}) and the MLP width "
                            f"({int(p.hidden * p.mlp_ratio)})", key=("tensor_parallel",))


def dit(p: DiTParams) -> Graph:
    """The graph of ``p.part``: one denoising step of the DiT ("transformer", "pipeline"; see the module docstring)."""
    _check(p)
    if p.part == "vae_decoder":  # DiT decodes with Stable Diffusion's VAE (sd-vae-ft-ema / -mse), on batch latents
        return vae_decoder_graph(p.batch, p.latent_size, p.dtype or "fp16", p.attention)
    graph = _dit_step(p)
    if p.tensor_parallel == 1:
        return graph
    whole = _dit_step(p.model_copy(update={"tensor_parallel": 1})).params  # the unsharded model's count
    return graph.with_meta({**graph.meta, "model_params": whole})


def _chunks(b: TransformerBuilder, c: str, names: tuple[str, ...]) -> list[str]:
    """The ``len(names)`` (B, 1, hidden) chunks of an adaLN modulation (B, n·hidden) (``.chunk(n, dim=1)`` and
    ``.unsqueeze(1)``): views."""
    batch, width = b.shape(c)
    d = width // len(names)
    return [b.view(c, (batch, 1, d), "chunk", name, strict=False, dim=1, start=i * d) for i, name in enumerate(names)]


def _dit_step(p: DiTParams) -> Graph:
    d, side = p.hidden, p.latent_size
    n = p.batch * (2 if p.guidance else 1)
    grid = side // p.patch
    tokens = grid * grid
    b = TransformerBuilder("dit", {"input": (n, p.latent_channels, side, side), "timestep": (n,),
                                   "class_labels": (n,)}, dtype=p.dtype or "fp16", tp=p.tensor_parallel, sdpa=True)
    fused = p.attention == "fused"
    b.modulate_kernel = p.modulate_kernel
    x_in = "input"
    if p.guidance:  # forward_with_cfg: half = x[: len(x) // 2]; combined = torch.cat([half, half], dim=0)
        half = b.view("input", (p.batch, p.latent_channels, side, side), "slice", name="cfg_half", strict=False,
                      dim=0, start=0)
        x_in = b.vector(OpKind.ELEMENTWISE, [half, half], (n, p.latent_channels, side, side), "cat", 0,
                        name="cfg_concat")
    with b.scope("x_embedder"), b.replicated():  # embedders and adaLN linears: whole on every tp chip
        x = b.conv2d(x_in, d, p.patch, stride=p.patch, name="proj")
        x = b.view(x, (n, tokens, d), "flatten_transpose", name="flatten")
    x = b.add_sinusoidal(x, name="add_pos_embed")  # models.py's frozen pos_embed (requires_grad=False)
    with b.scope("t_embedder"), b.replicated():
        t = _timestep_embedding(b, n)
        t = b.linear(b.silu(b.linear(t, d, name="mlp.0"), name="mlp.1"), d, name="mlp.2")
    y = b.embedding("class_labels", p.num_classes + 1, d, name="y_embedder.embedding_table")
    c = b.add(t, y, name="add_conditioning")
    for i in range(p.depth):
        with b.scope(f"blocks.{i}"):
            with b.replicated():
                mod = b.linear(b.silu(c, name="adaLN_modulation.0"), 6 * d, name="adaLN_modulation.1")
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = _chunks(
                b, mod, ("shift_msa", "scale_msa", "gate_msa", "shift_mlp", "scale_mlp", "gate_mlp"))
            h = b.modulate(b.layernorm_no_affine(x, 1e-6, name="norm1"), shift_msa, scale_msa, name="modulate_msa")
            with b.scope("attn"):
                a = b.multihead_attention(h, heads=p.heads, head_dim=d // p.heads, fused_qkv="qkv",
                                          names=("", "", "", "proj"), fused=fused)
            x = b.add(x, b.mul(gate_msa, a, name="gate_msa_mul"), name="add_attn")
            h = b.modulate(b.layernorm_no_affine(x, 1e-6, name="norm2"), shift_mlp, scale_mlp, name="modulate_mlp")
            with b.scope("mlp"):
                m = b.mlp(h, int(d * p.mlp_ratio), "gelu", names=("fc1", "fc2"), act_name="act")
            x = b.add(x, b.mul(gate_mlp, m, name="gate_mlp_mul"), name="add_mlp")
    with b.scope("final_layer"), b.replicated():
        mod = b.linear(b.silu(c, name="adaLN_modulation.0"), 2 * d, name="adaLN_modulation.1")
        shift, scale = _chunks(b, mod, ("shift", "scale"))
        x = b.modulate(b.layernorm_no_affine(x, 1e-6, name="norm_final"), shift, scale, name="modulate")
        x = b.linear(x, p.patch * p.patch * p.out_channels, name="linear")
    # unpatchify: reshape (a view), einsum 'nhwpqc->nchpwq' (a permuted view), reshape to (N, c, H, W), which
    # copies the permuted tensor in eager PyTorch (a compiler reads it in place: eager_copy)
    out = b.view(x, (n, grid, grid, p.patch, p.patch, p.out_channels), "reshape", name="unpatchify.reshape")
    out = b.vector(OpKind.ELEMENTWISE, [out], (n, p.out_channels, side, side), "copy", 0, name="unpatchify",
                   eager_copy=True)
    if p.guidance:
        _cfg(b, p, out)
    return b.build({"model": "dit", **p.model_dump(), "tokens": n * tokens})


def _timestep_embedding(b: TransformerBuilder, n: int) -> str:
    """TimestepEmbedder.timestep_embedding of the (N,) timesteps as models.py runs it eagerly: ``freqs`` is built on
    the host (torch.arange, torch.exp) and copied in (left out), then ``t[:, None].float()`` (``timestep_float``, a
    cast), ``args = t · freqs`` (``args``, (N, 128), 1 flop an element), ``torch.cos(args)`` and ``torch.sin(args)``
    (4 flops an element each, as tanh) and ``torch.cat`` of the two (``timestep_embedding``, (N, 256)): five
    kernels."""
    half = FREQUENCY_DIM // 2
    t = b.vector(OpKind.ELEMENTWISE, ["timestep"], (n, 1), "cast", 0, name="timestep_float")
    args = b.vector(OpKind.ELEMENTWISE, [t], (n, half), "mul", 1, name="args", max_period=10000)
    cos = b.vector(OpKind.ELEMENTWISE, [args], (n, half), "cos", TRANSCENDENTAL_FLOPS, name="cos")
    sin = b.vector(OpKind.ELEMENTWISE, [args], (n, half), "sin", TRANSCENDENTAL_FLOPS, name="sin")
    return b.vector(OpKind.ELEMENTWISE, [cos, sin], (n, FREQUENCY_DIM), "cat", 0, name="timestep_embedding")


def _cfg(b: TransformerBuilder, p: DiTParams, out: str) -> str:
    """forward_with_cfg's combination of the (2·batch, out_channels, h, w) model output ``out`` as its eager code
    runs it: ``eps, rest = model_out[:, :4], model_out[:, 4:]`` and the conditional / unconditional halves (views),
    ``cond_eps - uncond_eps`` (``cfg_sub``), ``cfg_scale * (...)`` (``cfg_scale``), ``uncond_eps + ...``
    (``cfg_combine``), 1 flop an element each, then ``torch.cat([half_eps, half_eps], dim=0)`` (``cfg_eps_cat``)
    and ``torch.cat([eps, rest], dim=1)`` (``cfg_out_cat``), copies: five kernels."""
    n, c, side = 2 * p.batch, p.latent_channels, p.latent_size
    eps = b.view(out, (n, c, side, side), "slice", name="cfg_eps", strict=False, dim=1, start=0)
    cond = b.view(eps, (p.batch, c, side, side), "slice", name="cond_eps", strict=False, dim=0, start=0)
    uncond = b.view(eps, (p.batch, c, side, side), "slice", name="uncond_eps", strict=False, dim=0, start=p.batch)
    diff = b.vector(OpKind.ELEMENTWISE, [cond, uncond], b.shape(cond), "sub", 1, name="cfg_sub")
    scaled = b.vector(OpKind.ELEMENTWISE, [diff], b.shape(cond), "mul", 1, name="cfg_scale")
    half_eps = b.vector(OpKind.ELEMENTWISE, [uncond, scaled], b.shape(cond), "add", 1, name="cfg_combine")
    both = b.vector(OpKind.ELEMENTWISE, [half_eps, half_eps], (n, c, side, side), "cat", 0, name="cfg_eps_cat")
    parts = [both]
    if p.out_channels > c:  # learn_sigma: the variance channels ride along
        parts.append(b.view(out, (n, p.out_channels - c, side, side), "slice", name="cfg_rest", strict=False,
                            dim=1, start=c))
    return b.vector(OpKind.ELEMENTWISE, parts, b.shape(out), "cat", 0, name="cfg_out_cat")



__all__ = ["DiTParams", "dit", "dit_parts"]
