"""The workload table: each name maps to a builder function and the pydantic model of its parameters.

The config layer validates a workload's parameters with ``BUILDERS[name].params`` (``model_validate``) and calls
:func:`build_workload`; ``accelsim info`` and the docs list each model's fields and their descriptions.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import WorkloadError
from ..ir import Graph
from ..units import DTYPE_BYTES
from . import cnn, gnn, manual, micro, recsys, training, transformer

DType = Literal["int4", "int8", "uint8", "fp8", "int16", "fp16", "bf16", "int32", "fp32", "tf32", "fp64"]
"""Names of units.DTYPE_BYTES (a test checks they agree)."""


class WorkloadParams(BaseModel):
    """Parameters every workload takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch: PositiveInt = Field(1, description="Samples per inference (the leading dimension of the input).")
    dtype: DType | None = Field(None, description="Data type of every tensor (default: the arch's dtype).")
    mode: Literal["inference", "training"] = Field("inference", description="Forward only, or training.")
    optimizer: Literal["sgd", "momentum", "adam"] = Field(
        "adam", description="Training only: the optimizer step after the backward pass, with fp32 state per "
                            "parameter: 'sgd' none, 'momentum' one tensor, 'adam' two (first and second moments).")


class ImageNetParams(WorkloadParams):
    """An ImageNet classifier: square RGB input."""

    num_classes: PositiveInt = Field(1000, description="Outputs of the final linear layer.")
    image_size: PositiveInt = Field(224, description="Input height and width in pixels.")


class LeNetParams(WorkloadParams):
    """LeNet-5 on 32×32 grey images."""

    num_classes: PositiveInt = Field(10, description="Outputs of the final linear layer.")
    image_size: PositiveInt = Field(32, description="Input height and width in pixels (fc1's inputs follow it).")
    in_channels: PositiveInt = Field(1, description="Input channels.")


class UNetParams(WorkloadParams):
    """U-Net segmentation (Ronneberger et al. 2015)."""

    image_size: PositiveInt = Field(572, description="Input height and width in pixels.")
    padding: Literal["valid", "same"] = Field(
        "valid", description="'valid': unpadded 3×3 convs and center-cropped skips (the paper); 'same': padded.")
    in_channels: PositiveInt = Field(1, description="Input channels.")
    num_classes: PositiveInt = Field(2, description="Output channels of the final 1×1 conv.")


class GemmParams(WorkloadParams):
    """One matrix multiply: (m × k) · (k × n)."""

    m: PositiveInt = Field(1024, description="Rows of the input and output (per batch).")
    n: PositiveInt = Field(1024, description="Columns of the output (out features).")
    k: PositiveInt = Field(1024, description="Reduction length (in features).")
    bias: bool = Field(False, description="Add a bias vector of n elements.")


class Conv2dParams(WorkloadParams):
    """One torch.nn.Conv2d layer applied to a batch×in_channels×height×width input."""

    in_channels: PositiveInt = Field(64, description="Input channels.")
    out_channels: PositiveInt = Field(64, description="Output channels.")
    kernel_size: manual.PosPair = Field(3, description="Kernel size (int or [h, w]).")
    stride: manual.PosPair = Field(1, description="Stride (int or [h, w]).")
    padding: manual.Padding = Field(1, description="Padding per side (int or [h, w]), 'same' or 'valid'.")
    dilation: manual.PosPair = Field(1, description="Dilation (int or [h, w]).")
    groups: PositiveInt = Field(1, description="Groups (in_channels for a depthwise conv).")
    bias: bool = Field(True, description="Has a bias.")
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = Field(
        "zeros", description="Accepted for torch compatibility; does not change the work.")
    height: PositiveInt = Field(56, description="Input height in pixels.")
    width: PositiveInt = Field(56, description="Input width in pixels.")


def _at_most(limit: int, why: str) -> Callable[[Any, int], int]:
    """A field validator: the value must be at most ``limit`` (``why`` says whose table holds that many)."""

    def check(cls: Any, value: int) -> int:
        if value > limit:
            raise ValueError(f"must be at most {limit}: {why}")
        return value

    return check


def _multiple_of(step: int, why: str) -> Callable[[Any, int], int]:
    """A field validator: the value must be a multiple of ``step``."""

    def check(cls: Any, value: int) -> int:
        if value % step:
            raise ValueError(f"must be a multiple of {step}: {why}")
        return value

    return check


class TransformerParams(WorkloadParams):
    """A transformer: attention as separate ops or as one fused op."""

    attention: Literal["unfused", "fused"] = Field(
        "unfused", description="'unfused': QKᵀ, softmax and PV as separate ops; 'fused': one ATTENTION op "
                               "(FlashAttention-style, scores stay on chip). Same params and MACs.")
    tensor_parallel: PositiveInt = Field(
        1, description="Tensor-parallel degree (Megatron-style): the graph is one chip's shard, with attention "
                       "heads and the MLP width split this many ways and an all-reduce after each row-split "
                       "linear (output projection, MLP down projection); needs an arch with at least this many "
                       "chips. Embeddings, norms and the LM head are replicated.")
    recompute: Literal["none", "selective", "full"] = Field(
        "none", description="Training only: activation recomputation (Korthikanti et al. 2022). 'full' re-runs "
                            "each layer's forward before its backward (only the layer inputs are kept); "
                            "'selective' re-runs only the attention core (QKᵀ, softmax, PV); 'none' keeps every "
                            "activation the backward pass reads.")


class BertParams(TransformerParams):
    """BERT (Hugging Face BertModel with pooler) over one sequence per sample."""

    seq_len: PositiveInt = Field(128, description="Tokens per sequence (at most 512, BERT's learned positions).")
    _seq_len = field_validator("seq_len")(_at_most(512, "BERT has 512 learned positions"))


class Gpt2Params(TransformerParams):
    """GPT-2 (Hugging Face GPT2LMHeadModel): one forward pass over the prompt, logits at every position."""

    seq_len: PositiveInt = Field(1024, description="Tokens per sequence (at most 1024, GPT-2's learned positions).")
    _seq_len = field_validator("seq_len")(_at_most(1024, "GPT-2 has 1024 learned positions"))


class GptParams(TransformerParams):
    """A Megatron-LM GPT of any shape; with pipeline parallelism, one stage of it."""

    hidden: PositiveInt = Field(2048, description="Model width h (default: GPT-3 XL, 1.3 B).")
    heads: PositiveInt = Field(16, description="Attention heads (must divide hidden).")
    layers: PositiveInt = Field(24, description="Transformer layers.")
    ffn: NonNegativeInt = Field(0, description="MLP width (0: 4 × hidden).")
    vocab: PositiveInt = Field(51200, description="Vocabulary rows (Megatron pads GPT-2's 50257 to 51200).")
    seq_len: PositiveInt = Field(2048, description="Tokens per sequence (also the learned position table's rows).")
    pipeline_parallel: PositiveInt = Field(
        1, description="Pipeline stages P (must divide layers). Simulating a workload with P > 1 runs the whole "
                       "pipeline (every distinct stage, composed by the 1F1B schedule: see docs/architecture.md); "
                       "a graph built alone is stage ``pipeline_stage``.")
    pipeline_stage: NonNegativeInt = Field(0, description="Which stage the graph is (0 … P − 1; set by the pipeline "
                                                          "driver, or by hand to look at one stage).")
    micro_batches: PositiveInt = Field(
        1, description="Micro-batches per iteration through the pipeline (each of ``batch`` sequences): global "
                       "batch = batch × micro_batches × data-parallel replicas.")
    pipeline_interleave: PositiveInt = Field(
        1, description="Model chunks per pipeline stage (Megatron's interleaved 1F1B schedule, v): the bubble "
                       "shrinks v-fold; layers must divide by P × v.")

    @model_validator(mode="after")
    def _shape(self) -> GptParams:
        if self.hidden % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide hidden ({self.hidden})")
        if self.layers % (self.pipeline_parallel * self.pipeline_interleave):
            raise ValueError(f"pipeline_parallel × pipeline_interleave ({self.pipeline_parallel} × "
                             f"{self.pipeline_interleave}) must divide layers ({self.layers})")
        if self.pipeline_stage >= self.pipeline_parallel:
            raise ValueError(f"pipeline_stage {self.pipeline_stage} must be < pipeline_parallel "
                             f"{self.pipeline_parallel}")
        return self


class ViTParams(TransformerParams):
    """A vision transformer with 16×16 patches (torchvision)."""

    num_classes: PositiveInt = Field(1000, description="Outputs of the classification head.")
    image_size: PositiveInt = Field(224, description="Input height and width in pixels (a multiple of 16; the "
                                                     "position embedding has (image_size/16)² + 1 rows).")
    _image_size = field_validator("image_size")(_multiple_of(16, "the patches are 16×16"))


class TransformerBaseParams(TransformerParams):
    """The base encoder-decoder Transformer (Vaswani et al. 2017), target teacher-forced."""

    src_len: PositiveInt = Field(128, description="Source tokens per sample (encoder).")
    tgt_len: PositiveInt = Field(128, description="Target tokens per sample (decoder; logits at every position).")


class LlamaParams(TransformerParams):
    """A LLaMA-2 decoder: a prefill pass over a prompt or one decode step against a KV cache."""

    phase: Literal["prefill", "decode"] = Field(
        "prefill", description="'prefill': the prompt in one pass (fills the KV cache, logits at every position); "
                               "'decode': one new token per sequence against the KV cache.")
    seq_len: PositiveInt = Field(512, description="Prompt tokens per sequence (prefill).")
    kv_len: PositiveInt = Field(512, description="Tokens already in the KV cache (decode).")
    decode_steps: NonNegativeInt = Field(
        0, description="Tokens to generate after the prompt (for the serving driver; the graph is one pass).")


class ClipParams(TransformerParams):
    """CLIP ViT-B/32 (Hugging Face CLIPModel): batch images against batch texts."""

    image_size: PositiveInt = Field(224, description="Input height and width in pixels (a multiple of 32; "
                                                     "the position table holds (image_size/32)² + 1 rows).")
    seq_len: PositiveInt = Field(77, description="Text tokens per prompt (at most 77, CLIP's learned positions).")
    _image_size = field_validator("image_size")(_multiple_of(32, "the patches are 32×32"))
    _seq_len = field_validator("seq_len")(_at_most(77, "CLIP's text encoder has 77 learned positions"))


class SamParams(TransformerParams):
    """Segment Anything on one 1024×1024 image per sample with point prompts."""

    points: PositiveInt = Field(1, description="Point prompts (clicks) per image; SAM adds one padding point.")
    mask_prompt: bool = Field(False, description="Also give a 256×256 low-resolution mask prompt (runs the "
                                                 "prompt encoder's mask-downscaling convs).")


class WhisperParams(TransformerParams):
    """Whisper base (Hugging Face WhisperForConditionalGeneration)."""

    phase: Literal["prefill", "decode"] = Field(
        "prefill", description="'prefill': the encoder over the audio plus the first decoder token; 'decode': one "
                               "cached decoder step.")
    audio_s: float = Field(30.0, gt=0, le=30, description="Seconds of audio (100 mel frames per second; at most "
                                                           "30: 1500 encoder frames).")
    kv_len: PositiveInt = Field(1, description="Decoder tokens already in the self-attention cache (decode); "
                                               "kv_len + 1 ≤ 448 learned positions.")
    _kv_len = field_validator("kv_len")(_at_most(447, "the new token needs position kv_len < 448, Whisper's "
                                                      "decoder has 448 learned positions"))


class AttentionParams(WorkloadParams):
    """softmax(q·kᵀ)·v on given q, k, v (no projections)."""

    heads: PositiveInt = Field(32, description="Query heads.")
    kv_heads: PositiveInt = Field(32, description="Key/value heads (divides heads; fewer is grouped-query).")
    q_len: PositiveInt = Field(512, description="Query tokens.")
    kv_len: PositiveInt = Field(512, description="Key/value tokens.")
    head_dim: PositiveInt = Field(128, description="Features per head.")
    causal: bool = Field(False, description="Causal mask (recorded; masked scores are still computed).")
    attention: Literal["unfused", "fused"] = Field(
        "unfused", description="'unfused': QKᵀ, softmax and PV as separate ops; 'fused': one ATTENTION op.")

    @field_validator("kv_heads")
    @classmethod
    def _divides(cls, value: int, info: ValidationInfo) -> int:
        """kv_heads divides heads."""
        heads = info.data.get("heads")
        if heads is not None and heads % value:
            raise ValueError(f"must divide heads ({heads})")
        return value


class RowsColsParams(WorkloadParams):
    """One vector op over a (batch, rows, cols) tensor, along cols."""

    rows: PositiveInt = Field(4096, description="Rows (e.g. tokens).")
    cols: PositiveInt = Field(4096, description="Columns: the reduced dimension (e.g. features or keys).")


class GeluParams(WorkloadParams):
    """One GELU over batch × elements."""

    elements: PositiveInt = Field(16_777_216, description="Elements per sample.")


class _TableAccessParams(WorkloadParams):
    """How embedding look-ups spread over a table's rows."""

    access: Literal["uniform", "zipf"] = Field(
        "uniform", description="'uniform': every row equally likely; 'zipf': row r (hottest first) with probability "
                               "∝ r^−zipf_alpha, so the hottest rows can sit in HBM and serve most look-ups.")
    zipf_alpha: float = Field(1.05, gt=0, description="Exponent of the Zipf access distribution (> 0; with "
                                                      "access: zipf).")


class DlrmParams(_TableAccessParams):
    """MLPerf DLRM v1 on Criteo Terabyte (facebookresearch/dlrm, --max-ind-range=40000000)."""

    batch: PositiveInt = Field(2048, description="Samples per inference (MLPerf's training mini-batch is 2048).")
    pooling: PositiveInt = Field(1, description="Indices per table per sample (1: one-hot as Criteo; > 1: "
                                                "multi-hot, sum-pooled).")
    tables: tuple[PositiveInt, ...] | None = Field(
        None, min_length=1, description="Rows of each embedding table, overriding the 26 Criteo Terabyte tables "
                                        "(capped at 40M rows); the number of tables follows the list.")
    dim: PositiveInt = Field(128, description="Embedding dimension (also the bottom MLP's output width).")


class EmbeddingBagParams(_TableAccessParams):
    """One embedding-bag look-up: batch × pooling indices into a rows × dim table, sum-pooled."""

    batch: PositiveInt = Field(2048, description="Samples (bags) per look-up.")
    rows: PositiveInt = Field(1_000_000, description="Rows of the table.")
    dim: PositiveInt = Field(128, description="Elements per row.")
    pooling: PositiveInt = Field(20, description="Indices per sample, sum-pooled.")


class _GraphParams(WorkloadParams):
    """A GNN over one whole graph (full-batch inference), Cora by default."""

    batch: PositiveInt = Field(1, description="Not used: the whole graph is one pass (keep it 1).")
    nodes: PositiveInt = Field(2708, description="Nodes of the graph (Cora: 2,708).")
    edges: NonNegativeInt = Field(10556, description="Directed edges without self-loops (Cora: 10,556); each conv "
                                                     "adds a self-loop per node.")
    features: PositiveInt = Field(1433, description="Input features per node (Cora: 1,433).")
    classes: PositiveInt = Field(7, description="Output classes (Cora: 7).")


class GcnParams(_GraphParams):
    """Two-layer GCN (PyG GCNConv)."""

    hidden: PositiveInt = Field(16, description="Width of the hidden layer.")


class GatParams(_GraphParams):
    """Two-layer GAT (PyG GATConv): heads × hidden concatenated, then one averaged head of classes."""

    hidden: PositiveInt = Field(8, description="Features per attention head of the first layer.")
    heads: PositiveInt = Field(8, description="Attention heads of the first layer (the output layer has one).")


class LayersParams(WorkloadParams):
    """A network listed layer by layer (see :mod:`accelsim.builders.manual`)."""

    name: str = Field("layers", description="Name of the graph.")
    input: tuple[PositiveInt, ...] = Field(
        description="Input shape [N, C, H, W] or [N, features]; batch multiplies N.")
    layers: tuple[manual.LayerSpec, ...] = Field(description="The layers, in order.")

    @field_validator("input", "layers", mode="before")
    @classmethod
    def _long_enough(cls, value: Any, info: ValidationInfo) -> Any:
        """At least 2 input dims and 1 layer."""
        # checked on the raw list: a length constraint on the tuple would also fire when an item is invalid
        least = 2 if info.field_name == "input" else 1
        if isinstance(value, (list, tuple)) and len(value) < least:
            raise ValueError(f"expected at least {least} item{'s' if least > 1 else ''}")
        return value

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise manual.untag_layer_errors(e) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> LayersParams:
        """Validate ``obj``; error locations are YAML key paths such as ``("layers", 3, "kernel_size")``."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as e:
            raise manual.untag_layer_errors(e) from None


@dataclass(frozen=True)
class BuilderEntry:
    """A workload: its name, its parameters' model, the function that builds it and a one-line description."""

    name: str
    params: type[WorkloadParams]
    fn: Callable[[Any], Graph]
    description: str


BUILDERS: dict[str, BuilderEntry] = {
    e.name: e
    for e in (
        BuilderEntry("lenet5", LeNetParams, cnn.lenet5,
                     "LeNet-5 (ReLU, max-pool), 1×32×32 input, 61,706 params"),
        BuilderEntry("resnet18", ImageNetParams, cnn.resnet18, "ResNet-18 (torchvision), 11.7 M params"),
        BuilderEntry("resnet50", ImageNetParams, cnn.resnet50, "ResNet-50 v1.5 (torchvision), 25.6 M params"),
        BuilderEntry("resnet152", ImageNetParams, cnn.resnet152, "ResNet-152 v1.5 (torchvision), 60.2 M params"),
        BuilderEntry("googlenet", ImageNetParams, cnn.googlenet,
                     "GoogLeNet / Inception-v1 (torchvision, no aux heads), 6.6 M params"),
        BuilderEntry("mobilenet_v1", ImageNetParams, cnn.mobilenet_v1, "MobileNet-V1 1.0/224 (paper), 4.2 M params"),
        BuilderEntry("mobilenet_v2", ImageNetParams, cnn.mobilenet_v2, "MobileNet-V2 (torchvision), 3.5 M params"),
        BuilderEntry("mobilenet_v3_large", ImageNetParams, cnn.mobilenet_v3_large,
                     "MobileNetV3-Large (torchvision), 5.5 M params"),
        BuilderEntry("unet", UNetParams, cnn.unet, "U-Net (Ronneberger et al. 2015), 572×572 → 388×388"),
        BuilderEntry("gemm", GemmParams, micro.gemm, "one m×n×k matrix multiply (a LINEAR op)"),
        BuilderEntry("conv2d", Conv2dParams, micro.conv2d, "one torch.nn.Conv2d layer"),
        BuilderEntry("layers", LayersParams, manual.build_layers, "a network listed layer by layer in YAML"),
        BuilderEntry("bert_base", BertParams, transformer.bert_base,
                     "BERT-base uncased with pooler (Hugging Face), 109,482,240 params"),
        BuilderEntry("bert_large", BertParams, transformer.bert_large,
                     "BERT-large uncased with pooler (Hugging Face), 335,141,888 params"),
        BuilderEntry("gpt2", Gpt2Params, transformer.gpt2, "GPT-2 small, tied LM head (Hugging Face), 124,439,808 params"),
        BuilderEntry("gpt", GptParams, transformer.gpt,
                     "Megatron-LM GPT of any shape (hidden, heads, layers, ffn, vocab), tensor and pipeline parallel"),
        BuilderEntry("vit_b_16", ViTParams, transformer.vit_b_16, "ViT-B/16 (torchvision), 86,567,656 params"),
        BuilderEntry("transformer_base", TransformerBaseParams, transformer.transformer_base,
                     "Transformer base (Vaswani et al. 2017), shared 37000 vocab, 63,082,496 params"),
        BuilderEntry("llama2_7b", LlamaParams, transformer.llama2_7b,
                     "LLaMA-2 7B (Hugging Face), prefill or decode with KV cache, 6,738,415,616 params"),
        BuilderEntry("llama2_13b", LlamaParams, transformer.llama2_13b,
                     "LLaMA-2 13B (Hugging Face), prefill or decode with KV cache, 13,015,864,320 params"),
        BuilderEntry("llama2_70b", LlamaParams, transformer.llama2_70b,
                     "LLaMA-2 70B, GQA 8 KV heads (Hugging Face), prefill or decode, 68,976,648,192 params"),
        BuilderEntry("clip_vit_b32", ClipParams, transformer.clip_vit_b32,
                     "CLIP ViT-B/32 image and text towers (openai/clip-vit-base-patch32), 151,277,313 params"),
        BuilderEntry("sam_vit_b", SamParams, transformer.sam_vit_b,
                     "Segment Anything ViT-B with point prompts (segment-anything), 93,735,472 params"),
        BuilderEntry("sam_vit_h", SamParams, transformer.sam_vit_h,
                     "Segment Anything ViT-H with point prompts (segment-anything), 641,090,608 params"),
        BuilderEntry("whisper_base", WhisperParams, transformer.whisper_base,
                     "Whisper base (openai/whisper-base), prefill or cached decode step, 72,593,920 params"),
        BuilderEntry("attention", AttentionParams, micro.attention,
                     "softmax(q·kᵀ)·v on given q, k, v (MHA or GQA), unfused or fused"),
        BuilderEntry("softmax", RowsColsParams, micro.softmax, "one softmax over the last dim of rows × cols"),
        BuilderEntry("layernorm", RowsColsParams, micro.layernorm, "one LayerNorm over the last dim of rows × cols"),
        BuilderEntry("gelu", GeluParams, micro.gelu, "one GELU over a number of elements"),
        BuilderEntry("rmsnorm", RowsColsParams, micro.rmsnorm, "one RMSNorm over the last dim of rows × cols"),
        BuilderEntry("silu_mul", RowsColsParams, micro.silu_mul,
                     "silu(gate) · up of two rows × cols tensors, one fused element-wise op (SwiGLU's activation)"),
        BuilderEntry("add", RowsColsParams, micro.add, "element-wise a + b of two rows × cols tensors (a residual add)"),
        BuilderEntry("rope", RowsColsParams, micro.rope,
                     "rotary position embedding over rows × cols (tokens × q and k features), in place"),
        BuilderEntry("dlrm_mlperf", DlrmParams, recsys.dlrm_mlperf,
                     "MLPerf DLRM v1, Criteo Terabyte (26 tables ≤ 40M rows × 128), 24,036,595,969 params"),
        BuilderEntry("embedding_bag", EmbeddingBagParams, micro.embedding_bag,
                     "one sum-pooled embedding-bag look-up (an EMBEDDING op)"),
        BuilderEntry("gcn_cora", GcnParams, gnn.gcn_cora, "two-layer GCN (PyG GCNConv) on Cora, 23,063 params"),
        BuilderEntry("gat_cora", GatParams, gnn.gat_cora,
                     "two-layer GAT (PyG GATConv, 8 heads of 8) on Cora, 92,373 params"),
    )
}
"""Every workload builder by name."""


def get_builder(name: str) -> BuilderEntry:
    """The entry of workload ``name``; :class:`WorkloadError` with a "did you mean" if there is none."""
    try:
        return BUILDERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, BUILDERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(BUILDERS))}"
        raise WorkloadError(f"unknown workload {name!r}{hint}") from None


def build_workload(name: str, params: Mapping[str, object], *, default_dtype: str = "fp16") -> Graph:
    """The graph of workload ``name`` with ``params`` (validated; ``pydantic.ValidationError`` propagates).

    ``dtype`` left unset becomes ``default_dtype`` (the arch's). ``mode: training`` returns the training step of
    the forward graph (:func:`accelsim.builders.training.training_graph` with ``optimizer``).
    """
    entry = get_builder(name)
    p = entry.params.model_validate(dict(params))
    if p.dtype is None:
        if default_dtype not in DTYPE_BYTES:
            raise WorkloadError(f"unknown default dtype {default_dtype!r}; expected one of {', '.join(DTYPE_BYTES)}")
        p = p.model_copy(update={"dtype": default_dtype})
    graph = entry.fn(p)
    if p.mode != "training":
        return graph
    return training.training_graph(graph, p.optimizer, getattr(p, "recompute", "none"))
