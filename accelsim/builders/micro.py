"""Micro-workloads: a single GEMM, convolution, attention or vector op, for cost-model checks and sweeps.

* ``gemm``: one LINEAR op computing (batch·m × k) · (k × n)ᵀ: input (batch·m, k), weight (n, k) [+ bias (n,)].
  ``batch`` stacks the rows of ``batch`` independent inputs against the same weight, so MACs = batch·m·n·k.
* ``conv2d``: one CONV op with every ``torch.nn.Conv2d`` argument; input (batch, in_channels, height, width).
  ``padding_mode`` is accepted and ignored (it changes the values padded in, not the work).
* ``attention``: softmax(q·kᵀ)·v on graph inputs q, k, v (no projections), unfused or fused, with GQA.
* ``softmax``, ``layernorm`` (a (batch, rows, cols) tensor, over cols) and ``gelu`` (batch × elements): one
  vector op each.
* ``rmsnorm`` (over cols, weight only), ``silu_mul`` (silu(gate) · up of two (batch, rows, cols) inputs, one fused
  ELEMENTWISE op: vLLM's / Sarathi-Serve's ``silu_and_mul`` kernel) and ``add`` (a + b, a residual add): one vector
  op each.
* ``collective``: one COLLECTIVE op (``op``: all_reduce, all_gather, reduce_scatter, all_to_all or send_recv) of ``bytes``
  per chip over every chip of the arch (NCCL-tests' ``size``: the buffer each rank holds, the gathered output of
  an all-gather, the unscattered input of a reduce-scatter); priced by :mod:`accelsim.cost.collective`.
* ``embedding_bag``: one EMBEDDING op (fn "embedding_bag") sum-pooling ``pooling`` rows of a (rows, dim) table per
  sample from batch · pooling int64 indices (graph input ``input``) and batch + 1 int64 offsets (``offsets``),
  each 1-D in elements of the model's dtype whose bytes are the int64s' (``recsys.index_elems``); the op convention
  is :mod:`.recsys`'s.
  ``kernel: embedding`` is a plain ``torch.nn.functional.embedding`` instead (pooling 1, fn "embedding", no sum,
  and no ``sparse_grad``: F.embedding's default dense gradient, as an LLM's token embedding trains):
  PyTorch's index_select kernel moves every gathered element with one thread (``vector_elems`` = batch·dim, priced
  by :func:`accelsim.cost.vector.price`: the small- or large-index kernel on a GPU preset, else the arch's
  ``cycles_per_element`` for "embedding"); ``kernel: embedding_gather`` is that call as PyTorch 2.8 and later run
  it (op attr ``index_select: gather``: the small-index kernel up to 16 indices, else a vectorized row copy).
  Both plain kernels keep their (batch, pooling) ids as one graph input in the model's dtype (their GPU validation
  was measured so), without offsets.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import WorkloadError
from ..ir import Graph, Op, OpKind
from ..units import DTYPE_BITS, DType, default_kv_cache, dtype_bytes, parse_size
from .layers import INPUT, GraphBuilder, conv_out_size
from .manual import Padding, PosPair
from .params import KVCacheDType, WorkloadParams, invalid_at
from .precision import computes_on_kv, on_kv_attrs, touches_kv
from .recsys import RecsysBuilder, TableAccessParams, index_elems
from .tlayers import ACT_FLOPS, TransformerBuilder


class GemmParams(WorkloadParams):
    """One matrix multiply: (m × k) · (k × n)."""

    m: PositiveInt = Field(1024, description="Rows of the input and output (per batch).")
    n: PositiveInt = Field(1024, description="Columns of the output (out features).")
    k: PositiveInt = Field(1024, description="Reduction length (in features).")
    bias: bool = Field(False, description="Add a bias vector of n elements.")
    input_dtype: DType | None = Field(
        None, description="Dtype the input arrives in (default: dtype). Where it differs from dtype, a quantize "
                          "kernel converts it first, as vLLM's fp8 linear runs scaled_fp8_quant before its GEMM.")
    output_dtype: DType | None = Field(
        None, description="Dtype the GEMM writes (default: dtype; vLLM's fp8 and fp4 linears write the model's "
                          "bf16).")


class Conv2dParams(WorkloadParams):
    """One torch.nn.Conv2d layer applied to a batch×in_channels×height×width input."""

    in_channels: PositiveInt = Field(64, description="Input channels.")
    out_channels: PositiveInt = Field(64, description="Output channels.")
    kernel_size: PosPair = Field(3, description="Kernel size (int or [h, w]).")
    stride: PosPair = Field(1, description="Stride (int or [h, w]).")
    padding: Padding = Field(1, description="Padding per side (int or [h, w]), 'same' or 'valid'.")
    dilation: PosPair = Field(1, description="Dilation (int or [h, w]).")
    groups: PositiveInt = Field(1, description="Groups (in_channels for a depthwise conv).")
    bias: bool = Field(True, description="Has a bias.")
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = Field(
        "zeros", description="Accepted for torch compatibility; does not change the work.")
    height: PositiveInt = Field(56, description="Input height in pixels.")
    width: PositiveInt = Field(56, description="Input width in pixels.")

    @model_validator(mode="after")
    def _geometry(self) -> Conv2dParams:
        """The layer's shape checks that involve several keys (torch's): 'same' padding with stride 1, and an output
        of at least 1×1. Raised at one key whose message names the others, so that the config layer reports them at
        the key set last (the key itself on a tie)."""
        def pair(v: int | tuple[int, int]) -> tuple[int, int]:
            return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))

        (kh, kw), (sh, sw), (dh, dw) = pair(self.kernel_size), pair(self.stride), pair(self.dilation)
        if self.padding == "same" and (sh, sw) != (1, 1):
            raise invalid_at("stride", self.stride, "must be 1 with padding 'same' (torch's rule)")
        if self.padding == "same":
            return self
        ph, pw = (0, 0) if self.padding == "valid" else pair(self.padding)  # type: ignore[arg-type]
        ho = conv_out_size(self.height, kh, sh, 2 * ph, dh)
        wo = conv_out_size(self.width, kw, sw, 2 * pw, dw)
        if ho < 1 or wo < 1:
            raise invalid_at("kernel_size", self.kernel_size,
                             f"leaves an output of {ho}×{wo} on the height × width {self.height}×{self.width} input "
                             f"(stride {sh}×{sw}, padding {ph}×{pw}, dilation {dh}×{dw}): it needs at least 1×1")
        return self


class AttentionParams(WorkloadParams):
    """softmax(q·kᵀ)·v on given q, k, v (no projections)."""

    heads: PositiveInt = Field(32, description="Query heads.")
    kv_heads: PositiveInt = Field(32, description="Key/value heads (divides heads; fewer is grouped-query).")
    q_len: PositiveInt = Field(512, description="Query tokens.")
    kv_len: PositiveInt = Field(512, description="Key/value tokens.")
    head_dim: PositiveInt = Field(128, description="Features per head (of the queries and keys).")
    v_head_dim: PositiveInt | None = Field(
        None, description="Features per head of the values (default: head_dim); DeepSeek's latent attention decodes "
                          "with 576-wide keys and 512-wide values.")
    shared_kv: bool = Field(
        False, description="The values are the first v_head_dim features of the keys' tensor (DeepSeek's latent "
                           "cache, as FlashMLA reads it): one K/V input, each block loaded once by the fused kernel.")
    causal: bool = Field(False, description="Causal mask: unfused, a causal_mask op masks every score before the "
                                            "softmax (q_len > 1); the fused kernel skips the K/V blocks above "
                                            "the diagonal (a GPU's FlashAttention, a systolic array's "
                                            "array-sized blocks).")
    attention: Literal["unfused", "fused"] = Field(
        "unfused", description="'unfused': QKᵀ, softmax and PV as separate ops; 'fused': one ATTENTION op.")
    kv_cache_write: bool = Field(
        False, description="First write the q_len new tokens' K and V into the KV cache (one KV_APPEND op), as a "
                           "serving engine's attention layer does before attending (vLLM's reshape_and_cache).")
    kv_cache_dtype: KVCacheDType = Field(
        None, description="Dtype of the K/V cache (default: dtype; fp8 for fp4, in which no attention kernel "
                          "computes; fp4 itself is refused). The ops that "
                          "write or read it run in it, as "
                          "in an LLM workload: an fp8 cache is read at a byte per element and the fused kernel "
                          "attends in fp8 (its fp8 tensor rate; vLLM's FlashAttention-3 and FlashInfer take the "
                          "query in fp8 with an fp8 cache); the attention output stays in dtype.")

    @field_validator("kv_heads")
    @classmethod
    def _divides(cls, value: int, info: ValidationInfo) -> int:
        """kv_heads divides heads."""
        heads = info.data.get("heads")
        if heads is not None and heads % value:
            raise ValueError(f"must divide heads ({heads})")
        return value

    @model_validator(mode="after")
    def _cache_holds_new_tokens(self) -> AttentionParams:
        """With kv_cache_write the cache's kv_len keys include the q_len new ones; shared values fit in the keys."""
        if self.shared_kv and (self.v_head_dim or self.head_dim) > self.head_dim:
            raise ValueError(f"shared_kv: v_head_dim ({self.v_head_dim}) must be ≤ head_dim ({self.head_dim}), the "
                             "values are a slice of the keys")
        if self.kv_cache_write and (self.shared_kv or (self.v_head_dim or self.head_dim) != self.head_dim):
            raise ValueError("kv_cache_write: not modelled with shared_kv or a v_head_dim other than head_dim (the "
                             "`hf` DeepSeek models write the latent cache)")
        if self.kv_cache_write and self.kv_len < self.q_len:
            raise ValueError(f"kv_cache_write: kv_len ({self.kv_len}) must be >= q_len ({self.q_len}), the cache "
                             "holds the new tokens")
        return self


class RowsColsParams(WorkloadParams):
    """One vector op over a (batch, rows, cols) tensor, along cols."""

    rows: PositiveInt = Field(4096, description="Rows (e.g. tokens).")
    cols: PositiveInt = Field(4096, description="Columns: the reduced dimension (e.g. features or keys).")


class RopeParams(RowsColsParams):
    """Rotary embedding of rows tokens whose cols features are the query heads' then the key heads'."""

    key_cols: NonNegativeInt = Field(
        0, description="Of the cols, the key heads' features: vLLM's kernel rotates a token's query heads in one loop, "
                       "then its key heads in a second (its block sized by the query heads); 0: one loop over all cols.")

    @model_validator(mode="after")
    def _keys_within_cols(self) -> RopeParams:
        """The key features are part of the cols, and some query features remain."""
        if self.key_cols >= self.cols:
            raise ValueError(f"key_cols ({self.key_cols}) must be less than cols ({self.cols})")
        return self


class GeluParams(WorkloadParams):
    """One GELU over batch × elements."""

    elements: PositiveInt = Field(16_777_216, description="Elements per sample.")


def _positive_size(value: object) -> int:
    """A size in bytes (:func:`accelsim.units.parse_size`) of at least one byte, with one message for 0 and -5."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
        raise ValueError("expected a whole, positive number of bytes")
    size = parse_size(value)
    if size <= 0:
        raise ValueError("expected a whole, positive number of bytes")
    return size


class CollectiveParams(WorkloadParams):
    """One collective over every chip of a multi-chip arch (as nccl-tests runs it)."""

    op: Literal["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv"] = Field(
        "all_reduce", description="The collective (NCCL's ncclAllReduce, ncclAllGather, ncclReduceScatter, "
                                  "all-to-all as ncclSend/ncclRecv pairs, and send_recv: each chip sends the buffer "
                                  "to the next and receives the previous one's, a ring step of context-parallel "
                                  "attention, priced as a pipeline stage's send).")
    bytes: Annotated[int, BeforeValidator(_positive_size)] = Field(
        64 * 2**20, description="Buffer per chip (nccl-tests' size: count x the dtype's element size, so a whole "
                                "number of elements): the gathered output of an all-gather, the unscattered input "
                                "of a reduce-scatter; for those and an all-to-all a whole number of elements a "
                                "chip (NCCL's call takes a count a rank).")

    @field_validator("mode")
    @classmethod
    def _inference_only(cls, v: str) -> str:
        """One collective has no loss, backward or replicas to train (nccl-tests times the call alone; probe p104 #5:
        a training run added a loss op and called the 8 chips the call spans 8 data-parallel replicas)."""
        if v == "training":
            raise ValueError("training is not a mode of one collective (no loss, backward or optimizer step: "
                             "nccl-tests times the call alone); a model's collectives train with it (e.g. -w gpt "
                             "--mode training)")
        return v

    @field_validator("batch")
    @classmethod
    def _one_call(cls, v: int) -> int:
        """One collective is one call of ``bytes`` (nccl-tests' size, the buffer each chip holds): a batch of them
        is not a bigger buffer (probe p183 #2: batch 4 ran one call of 4 x ``bytes`` and divided its energy by 4,
        while the report echoed ``bytes``)."""
        if v != 1:
            raise ValueError(f"batch {v}: a collective is one call of `bytes` (nccl-tests' size, the buffer each "
                             "chip holds); set bytes to the buffer you mean, or sweep it")
        return v

    @field_validator("sparsity")
    @classmethod
    def _no_weights(cls, v: str | None) -> str | None:
        """A collective has no weights to prune."""
        if v is not None:
            raise ValueError(f"{v!r}: a collective has no weights to prune (sparsity is for conv and linear layers)")
        return v

    def split_error(self, chips: int, default_dtype: str) -> WorkloadError | None:
        """Why ``bytes`` cannot be this collective over ``chips`` ranks (every chip of the arch; ``dtype`` unset:
        ``default_dtype``, the arch's, as the graph is built), or None: an
        all-gather, reduce-scatter or all-to-all cuts nccl-tests' size into one piece a rank, and an NCCL call takes
        a whole count a rank (ncclAllGather's sendcount, ncclReduceScatter's recvcount, each ncclSend's count:
        size = nranks x count x the element size), so a count the ranks do not divide is no call NCCL can run
        (probe p158 #1: 1000 B of 2-byte elements over 8 ranks, 62.5 a rank, was priced as given; nccl-tests' own
        sweep rounds the count a rank down, to a multiple of 16 B, ReduceScatterGetCollByteCount). Priced exactly,
        never rounded, as :func:`collective` refuses a size that is not a whole number of elements."""
        if self.op not in PER_RANK_OPS or chips < 2:
            return None
        dtype = self.dtype or default_dtype
        esize = dtype_bytes(dtype)
        elems = self.bytes // esize
        if elems % chips == 0:
            return None
        low = elems // chips * chips * esize
        return WorkloadError(f"bytes {self.bytes} is {elems:,} {dtype} elements, which {chips} chips cannot split: "
                             f"{self.op} gives each rank a whole count (NCCL's call takes a count a rank; "
                             f"{elems:,} / {chips} = {elems / chips:g}); use " + (f"{low} or " if low else "")
                             + f"{low + chips * esize} (a multiple of {chips} x {esize} B)", key=("bytes",),
                             arch_key=("chips",))


class EmbeddingBagParams(TableAccessParams):
    """One embedding-bag look-up: batch × pooling indices into a rows × dim table, sum-pooled."""

    batch: PositiveInt = Field(2048, description="Samples (bags) per look-up.")
    rows: PositiveInt = Field(1_000_000, description="Rows of the table.")
    dim: PositiveInt = Field(128, description="Elements per row.")
    pooling: PositiveInt = Field(20, description="Indices per sample, sum-pooled.")
    kernel: Literal["embedding_bag", "embedding", "embedding_gather"] = Field(
        "embedding_bag", description="'embedding': a plain torch.nn.functional.embedding row gather (pooling 1, no "
                                     "sum), PyTorch's index_select kernels up to 2.7 (one thread per element), as an "
                                     "LLM's token embedding runs; 'embedding_gather': the same call from PyTorch 2.8 "
                                     "on (more than 16 indices go to gather_out's vectorized row copy).")

    @model_validator(mode="after")
    def _plain_gathers_one_row(self) -> EmbeddingBagParams:
        """A plain embedding looks up one row per sample."""
        if self.kernel != "embedding_bag" and self.pooling != 1:  # at pooling, or at kernel where set later
            raise invalid_at("pooling", self.pooling, f"must be 1 with kernel {self.kernel}, which gathers one row "
                                                      "per sample")
        return self


def gemm(p: GemmParams) -> Graph:
    """One m×n×k matrix multiply as a LINEAR op (input (batch·m, k), weight (n, k)) in ``dtype``; an input of
    another ``input_dtype`` goes through a quantize op first, and ``output_dtype`` is the dtype the GEMM writes."""
    compute = p.dtype or "fp16"
    b = GraphBuilder("gemm", (p.batch * p.m, p.k), dtype=p.input_dtype or compute)
    x = INPUT if b.dtype == compute else b.quantize(INPUT, compute, name="quantize")
    b.dtype = compute
    b.linear(x, p.n, bias=p.bias, name="gemm")
    graph = b.build({"model": "gemm", **p.model_dump()})
    out, packed = p.output_dtype or compute, DTYPE_BITS[compute] < 8
    if out == compute and not packed:
        return graph
    ops = [_gemm_io(op, out, packed) if op.name == "gemm" else op for op in graph.ops]
    return Graph(graph.name, ops, graph.inputs, meta=graph.meta)


def _gemm_io(op: Op, out: str, packed: bool) -> Op:
    """The gemm op writing ``out``, its weights stored two per byte when ``packed`` (a 4-bit GEMM's weights; their
    block scales, NVFP4's fp8 per 16, are not counted)."""
    weights = tuple(dataclasses.replace(w, dtype=op.dtype) if packed else w for w in op.weights)
    return dataclasses.replace(op, weights=weights, attrs={**op.attrs, "out_dtype": out})


def conv2d(p: Conv2dParams) -> Graph:
    """One torch.nn.Conv2d layer as a CONV op."""
    b = GraphBuilder("conv2d", (p.batch, p.in_channels, p.height, p.width), dtype=p.dtype or "fp16")
    try:
        b.conv2d(INPUT, p.out_channels, p.kernel_size, stride=p.stride, padding=p.padding, dilation=p.dilation,
                 groups=p.groups, bias=p.bias, name="conv")
    except WorkloadError as e:  # the layer's own checks: name the parameter a channel check is about, for its
        if e.key or "divisible by groups" not in e.detail:  # file line (an output size depends on several)
            raise
        raise WorkloadError(e.detail, key=("groups",)) from None
    return b.build({"model": "conv2d", **p.model_dump()})


# ---- transformer micro-workloads (see accelsim.builders.tlayers for the op conventions) ------------------------
def attention(p: AttentionParams) -> Graph:
    """softmax(q·kᵀ)·v on given q (batch, heads, q_len, head_dim), k (batch, kv_heads, kv_len, head_dim) and v
    (batch, kv_heads, kv_len, v_head_dim), or with ``shared_kv`` v a slice view of k.

    Unfused: MATMUL scores, SOFTMAX, MATMUL context; fused: one ATTENTION op. MACs = batch·heads·q_len·kv_len·
    (head_dim + v_head_dim) either way; with kv_heads < heads (GQA) the K and V inputs shrink, the MACs do not.
    ``kv_cache_write``: one KV_APPEND op first writes the q_len new tokens' K and V into the cache, and attention
    reads them from there (the last q_len of its kv_len keys: vLLM's flash kernel reads the paged cache that
    ``reshape_and_cache_flash`` just wrote), so the two kernels run one after the other as in a stream.
    """
    kv = (p.batch, p.kv_heads, p.kv_len, p.head_dim)
    values = (p.batch, p.kv_heads, p.kv_len, p.v_head_dim or p.head_dim)
    inputs = {"q": (p.batch, p.heads, p.q_len, p.head_dim), "k": kv, **({} if p.shared_kv else {"v": values})}
    if p.kv_cache_write:
        new = (p.batch, p.kv_heads, p.q_len, p.head_dim)
        past = (p.batch, p.kv_heads, p.kv_len - p.q_len, p.head_dim)
        inputs = {"q": inputs["q"], **({"k": past, "v": past} if p.kv_len > p.q_len else {}),
                  "k_new": new, "v_new": new}
    b = TransformerBuilder("attention", inputs, dtype=p.dtype or "fp16")
    k, v = "k", "v"
    if p.shared_kv:  # the values: a slice of the keys' tensor
        v = b.view("k", values, "slice", name="v", strict=False, dim=3, start=0)
    if p.kv_cache_write:  # one kernel writes both (vLLM's reshape_and_cache_flash)
        kv_new = b._add("kv_append", OpKind.KV_APPEND, ["k_new", "v_new"], (2, *new), fn="kv_append",
                        cache="kv_cache")
        k, v = (b.view(kv_new, new, "slice", f"{x}_written", strict=False, dim=0, start=i) for i, x in
                enumerate("kv"))
        if p.kv_len > p.q_len:
            k, v = (b.concat([x, w], dim=2, name=f"{x}_all") for x, w in (("k", k), ("v", v)))
    b.attention("q", k, v, fused=p.attention == "fused", causal=p.causal, shared_kv=p.shared_kv)
    graph = b.build({"model": "attention", **p.model_dump()})
    # the cache's dtype: the workload's, else fp8 under fp4 (no kernel attends in fp4: probe p231 #2)
    cache = p.kv_cache_dtype or default_kv_cache(b.dtype)
    if p.kv_cache_dtype or cache == b.dtype:
        return _kv_cache_dtype(graph, cache) if p.kv_cache_dtype else graph
    graph = _kv_cache_dtype(graph, cache)
    return graph.with_meta({**graph.meta, "notes": [*graph.meta.get("notes", ()), (
        f"kv_cache_dtype unset: the K/V cache is {cache}, not {b.dtype}, and the attention runs at the {cache} "
        f"rate, as no serving stack attends in {b.dtype}")]})


def _kv_cache_dtype(graph: Graph, kv: str) -> Graph:
    """``graph`` with its K/V-cache ops in ``kv`` (those that compute on it writing the graph's dtype; the cache's
    writes and views are the cache) and ``meta["kv_cache_dtype"]``; the unfused softmax stays in the graph's
    dtype."""
    dtype = str(graph.meta.get("dtype") or graph.ops[0].dtype)
    ops = []
    for op in graph.ops:
        if touches_kv(op) or op.name in ("k_written", "v_written"):  # and the append's views of the written K/V
            attrs = on_kv_attrs(op, dtype) if computes_on_kv(op) else op.attrs
            op = dataclasses.replace(op, dtype=kv, attrs=attrs)
        ops.append(op)
    return Graph(graph.name, ops, graph.inputs, meta={**graph.meta, "kv_cache_dtype": kv})


def _one_op(model: str, p: WorkloadParams, shape: tuple[int, ...], method: str) -> Graph:
    """A graph of one op: ``TransformerBuilder.<method>`` on an input of ``shape``, named as the model."""
    b = TransformerBuilder(model, {"input": shape}, dtype=p.dtype or "fp16")
    getattr(b, method)("input", name=model)
    return b.build({"model": model, **p.model_dump()})


def softmax(p: RowsColsParams) -> Graph:
    """One softmax over the last dim of a (batch, rows, cols) tensor: 5 flops per element."""
    return _one_op("softmax", p, (p.batch, p.rows, p.cols), "softmax")


def layernorm(p: RowsColsParams) -> Graph:
    """One LayerNorm over the last dim (cols) of a (batch, rows, cols) tensor: weight + bias, 5 flops per element."""
    return _one_op("layernorm", p, (p.batch, p.rows, p.cols), "layernorm")


def gelu(p: GeluParams) -> Graph:
    """One GELU over a (batch, elements) tensor: 8 flops per element."""
    return _one_op("gelu", p, (p.batch, p.elements), "gelu")


def rmsnorm(p: RowsColsParams) -> Graph:
    """One RMSNorm over the last dim (cols) of a (batch, rows, cols) tensor: weight only, 4 flops per element."""
    return _one_op("rmsnorm", p, (p.batch, p.rows, p.cols), "rmsnorm")


def silu_mul(p: RowsColsParams) -> Graph:
    """silu(gate) · up of two (batch, rows, cols) inputs as ONE fused ELEMENTWISE op (fn "silu_mul"): reads both,
    writes one (batch, rows, cols) output; 5 flops per element (silu 4 + mul 1)."""
    shape = (p.batch, p.rows, p.cols)
    b = TransformerBuilder("silu_mul", {"gate": shape, "up": shape}, dtype=p.dtype or "fp16")
    b.vector(OpKind.ELEMENTWISE, ["gate", "up"], shape, "silu_mul", ACT_FLOPS["silu"] + 1, name="silu_mul")
    return b.build({"model": "silu_mul", **p.model_dump()})


def add(p: RowsColsParams) -> Graph:
    """a + b of two (batch, rows, cols) tensors (a residual add): one ELEMENTWISE op, 1 flop per element."""
    shape = (p.batch, p.rows, p.cols)
    b = TransformerBuilder("add", {"a": shape, "b": shape}, dtype=p.dtype or "fp16")
    b.add("a", "b", name="add")
    return b.build({"model": "add", **p.model_dump()})


def rope(p: RopeParams) -> Graph:
    """Rotary position embedding applied to a (batch, rows, cols) tensor: rows tokens, cols = the q and k heads'
    features side by side (as vLLM's / Sarathi-Serve's rotary_embedding kernel rotates q and k in place), the last
    ``key_cols`` of them the key heads' (op attr ``key_cols``, which :mod:`accelsim.cost.vector` walks as the
    kernel's second loop). One ELEMENTWISE op fn "rope" reading and writing every element once, 3 flops per
    element (x·cos + rotate(x)·sin); the per-token cos/sin row it also reads (head_dim values, 1/heads of the
    traffic) is left out."""
    b = TransformerBuilder("rope", {"input": (p.batch, p.rows, p.cols)}, dtype=p.dtype or "fp16")
    b.rope("input", name="rope")
    if p.key_cols:
        b._ops[-1] = dataclasses.replace(b._ops[-1], attrs={**b._ops[-1].attrs, "key_cols": p.key_cols})
    return b.build({"model": "rope", **p.model_dump()})


# ---- recommendation micro-workload (see accelsim.builders.recsys for the op convention) -----------------------
def embedding_bag(p: EmbeddingBagParams) -> Graph:
    """One embedding-bag look-up: (batch, pooling) indices into a (rows, dim) table, sum-pooled to (batch, dim).

    gather_rows = batch·pooling, vector_elems = batch·pooling·dim, flops = batch·(pooling − 1)·dim, params rows·dim.
    """
    if p.kernel == "embedding_bag":  # int64 ids and (batch + 1) offsets (RecsysBuilder.index_input)
        dtype = p.dtype or "fp16"
        b = RecsysBuilder("embedding_bag", {"input": (index_elems(p.batch * p.pooling, dtype),)}, dtype=dtype)
        b.embedding_bag("input", p.rows, p.dim, batch=p.batch,
                        pooling=p.pooling, offsets=b.index_input("offsets", p.batch + 1), access=p.access,
                        zipf_alpha=p.zipf_alpha, name="embedding_bag")
    else:  # the same gather without the pooled sum; its (batch, pooling) ids in the model dtype, as before
        b = RecsysBuilder("embedding_bag", {"input": (p.batch, p.pooling)}, dtype=p.dtype or "fp16")
        b.embedding_bag("input", p.rows, p.dim, batch=p.batch, pooling=p.pooling, access=p.access,
                        zipf_alpha=p.zipf_alpha, name="embedding_bag")
        # F.embedding's default sparse=False (an LLM's token table): a dense gradient, its step updates every row
        attrs = {k: v for k, v in b._ops[-1].attrs.items() if k != "sparse_grad"} | {"fn": "embedding"}
        if p.kernel == "embedding_gather":  # PyTorch >= 2.8's index_select (accelsim.cost.vector.price)
            attrs["index_select"] = "gather"
        b._ops[-1] = dataclasses.replace(b._ops[-1], flops=0, attrs=attrs)
    return b.build({"model": "embedding_bag", **p.model_dump()})


# ---- collective micro-workload (priced by accelsim.cost.collective) --------------------------------------------
# the collectives whose buffer is cut into one piece a rank (nccl-tests' size = nranks x count a rank)
PER_RANK_OPS = ("all_gather", "reduce_scatter", "all_to_all")


def collective(p: CollectiveParams) -> Graph:
    """One COLLECTIVE op (fn = ``op``) of a ``bytes``-byte buffer on each chip; ``group`` 0 spans every chip of
    the arch it runs on; ``batch`` is 1 (:class:`CollectiveParams` refuses others)."""
    esize = dtype_bytes(p.dtype or "fp16")
    if p.bytes % esize:  # nccl-tests' size is count x element size; priced exactly, never rounded
        low = p.bytes // esize * esize
        raise WorkloadError(f"bytes {p.bytes} is not a whole number of {p.dtype or 'fp16'} elements ({esize} B "
                            f"each): use " + (f"{low} or " if low else "") + f"{low + esize}", key=("bytes",))
    elems = p.bytes // esize
    b = TransformerBuilder("collective", {"input": (p.batch, elems)}, dtype=p.dtype or "fp16")
    # group 0 as TransformerBuilder's TP; back_to_back: one call of nccl-tests' timed loop (accelsim.mapping.emit)
    b._add(p.op, OpKind.COLLECTIVE, ["input"], (p.batch, elems), fn=p.op, group=0, back_to_back=True)
    return b.build({"model": "collective", **p.model_dump()})
