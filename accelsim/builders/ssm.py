"""Recurrent mixers of hybrid language models: a fixed-size state per sequence instead of a growing KV cache.

* :func:`gated_delta_net`: Qwen3-Next's Gated DeltaNet (:class:`~.hfspec.LinearAttn`; Yang et al., "Gated Delta
  Networks", arXiv:2412.06464), FLA's kernels as vLLM runs them.
* :func:`lightning_attention`: MiniMax-Text-01's lightning attention (:class:`~.hfspec.LinearAttn` kind
  "lightning"; Qin et al., "Lightning Attention-2", arXiv:2401.04658; transformers' MiniMaxLightningAttention): linear
  attention with a fixed exponential decay per head, no conv, no delta rule; priced with the same chunked views
  (its blocks of ``block_size``) and the same recurrent decode update, with its own FLOPs.
* :func:`mamba2`: the Mamba-2 mixer of Nemotron-H and Granite 4.0-H (:class:`~.hfspec.Mamba2`; Dao and Gu,
  "Transformers are SSMs", arXiv:2405.21060), the state-spaces/mamba Triton SSD kernels.

Gated DeltaNet and Mamba-2: an input projection, a causal depthwise conv of K taps (+ SiLU) whose last K − 1 inputs
a decode step keeps, the recurrence (a prompt as chunked kernels priced as GEMM views whose MACs are the kernels'; a decode step as one
update of the cached state on the vector lanes, its contractions counted as MACs as the chunks' are), a gated RMSNorm (SiLU of the gate z) and an output projection. The
states are :meth:`~.tlayers.TransformerBuilder.state_cache` tensors (their bytes whatever the sequence's length);
tensor parallelism splits the heads (input projection column-wise, output projection row-wise with its
all-reduce). Training graphs are not built for them (refused by the ``hf`` params)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from ..errors import WorkloadError
from ..ir import Gemm, OpKind, Weight
from .hfspec import LinearAttn, Mamba1, Mamba2, ShortConv
from .tlayers import ACT_FLOPS, KVCache, TransformerBuilder

GDN_GATING_FLOPS = 8
"""FLOPs per value head and token of Gated DeltaNet's gating: β = sigmoid(b) (4) and g = −exp(A_log)·softplus(a +
dt_bias) (add, softplus as exp and log, multiply: 4)."""
RECURRENT_FLOPS = 7
"""FLOPs per state element and token of a delta-rule update (FLA's fused_recurrent_gated_delta_rule, KDA's: the
decay (1), Sᵀk, the rank-1 update and Sᵀq, a multiply-add each (2 + 2 + 2)). Mamba-1's is :data:`SCAN_FLOPS` (its
prompt's and decode step's alike), Mamba-2's :data:`SSM_UPDATE_FLOPS`."""
DELTA_RECURRENT_MACS = 3
"""MACs per state element and token of a delta-rule update (Gated DeltaNet's, KDA's): Sᵀk, the rank-1 update
k ⊗ β(v − Sᵀk) and Sᵀq. A prompt's chunk kernels count the same contractions as MACs (their GEMM views), so a
decode step's MACs and a prompt's per token are one definition."""
SSM_RECURRENT_MACS = 2
"""MACs per state element and token of a Mamba state update (selective_state_update, and Mamba-1's selective
scan): the B·(dt·x) update into the state and the C·h product out of it, the two contractions a prompt's SSD kernels
count as MACs (chunk_state's Xᵀ·B, chunk_scan's C·S); the decay is a multiply, not counted."""
SSM_UPDATE_FLOPS = 2 * SSM_RECURRENT_MACS + 1
"""FLOPs per state element and token of Mamba-2's selective_state_update (state-spaces/mamba and vLLM's
``_selective_scan_update_kernel``: Mamba-2 passes A, dt and D with stride 0 over the head dim (TIE_HDIM), so
exp(A·dt) is one per head and B·dt one per state column): state · dA (1), + dB · x (2) and the C · state row sum (2),
5 (probe p149 #2: was :data:`RECURRENT_FLOPS`' 7, Gated DeltaNet's)."""
SSD_SCAN_BLOCK_M = 64
"""Rows of a chunk one program of state-spaces/mamba's ``_chunk_scan_fwd_kernel`` (ssd_chunk_scan.py) computes,
``BLOCK_SIZE_M``: 64 in all its autotune configs but the first (128 × 256). ``_chunk_scan_fwd`` launches it with
``IS_CAUSAL=True``, so the block of rows [i·64, (i+1)·64) runs its C·Bᵀ ⊙ decay · X loop to ``K_MAX = min((i + 1) ·
BLOCK_SIZE_M, chunk_size_limit)`` only: with chunks of 128, (64 · 64 + 64 · 128) / 128² = 0.75 of the Q × Q block
(:func:`_causal_cols`; probe p149 #3)."""
GATED_NORM_FLOPS = 4 + 4 + 1
"""FLOPs per element of the gated RMSNorm: the RMSNorm's 4, SiLU of the gate's 4, the product."""
CUMSUM_FLOPS = 8
"""FLOPs per head and token of Mamba-2's chunk cumsum: softplus(dt + dt_bias) (add, exp, log1p: 3), the clamp (2),
dt·A (1), the running sum (1) and exp(A_log) once a head (amortised: 1)."""
SCAN_FLOPS = 7
"""FLOPs per state element and token of Mamba-1's recurrence h' = exp(Δ·A) ⊙ h + B·(Δ·x), y = C·h, in a prompt's
selective scan and a decode step's selective_state_update alike (one step of the same recurrence): Δ·A (1), its exp
(1), B·(Δx) (1; Δx formed once a channel, :data:`SCAN_DT_FLOPS`), the decayed state plus that input (2) and the C·h
sum (2). state-spaces/mamba's selective_scan_fwd_kernel.cuh does per element ``exp2f(delta_vals * A_val)`` and
``B_vals * delta_u_vals``, the scan's a·h + b, ``out_vals += thread_data.y * C_val``. (Probe p181 #1: was 6, the
Δ·A multiply left out, and the decode step counted 7 with no per-channel term.)"""
SCAN_DT_FLOPS = 2 + 1
"""FLOPs per channel and token of Mamba-1's Δ inside the scan kernel: softplus(dt) (an exp and a log1p, as
:mod:`.onnxelementwise` counts Softplus; mamba_ssm calls both kernels with ``delta_softplus`` / ``dt_softplus``; dt's
bias is ``dt_proj``'s add) and Δ·x (1)."""
SCAN_GATE_FLOPS = 2 + ACT_FLOPS["silu"] + 1
"""FLOPs per channel and token the scan kernel adds after its state: the D·x skip (2) and the gate y · SiLU(z)
(SiLU's 4 and the product), in both of mamba_ssm's kernels (``out_vals = D_val * u`` … ``out_vals *= z / (1 +
exp(−z))``; selective_state_update's ``out += x * D; out *= z * sigmoid(z)``)."""
SCAN_CHANNEL_FLOPS = SCAN_DT_FLOPS + SCAN_GATE_FLOPS
"""FLOPs per channel and token of Mamba-1's scan kernel beyond its state elements, prompt and decode alike: 3 + 7 =
10."""
STATE_PASSING_FLOPS = 2
"""FLOPs per state element and chunk of Mamba-2's state passing: the decayed state plus the chunk's own."""


def _tp_heads(b: TransformerBuilder, n: int, what: str) -> int:
    if n % b.tp:
        raise WorkloadError(f"{b.name}: tensor_parallel {b.tp} must divide {what} ({n})", key=("tensor_parallel",))
    return n // b.tp


def _chunk(size: int, length: int) -> int:
    """The chunk a prompt of ``length`` tokens runs in with the kernels' chunk ``size``: a prompt shorter than one
    chunk is a chunk of its own length. The kernels bound their loops by the tokens there are, in every chunk
    (state-spaces/mamba's SSD kernels, ssd_chunk_scan.py / ssd_chunk_state.py: ``chunk_size_limit = min(chunk_size,
    seqlen - pid_c * chunk_size)`` bounds the K loops and masks the loads; FLA's load each chunk with a boundary
    check), so the MACs are the work done on the tokens (:func:`_chunked_matmul`: the last chunk of a longer prompt
    counts its own tokens too); the padding of a short chunk to the GEMM's tiles is the mapper's, as for any
    GEMM."""
    return min(size, length)


def _causal_cols(c: int, block: int = SSD_SCAN_BLOCK_M) -> int:
    """The (row, column) pairs of a chunk of ``c`` tokens' c × c intra-chunk block a causal SSD kernel computes in
    row blocks of ``block`` (:data:`SSD_SCAN_BLOCK_M`): the block starting at row s has min(block, c − s) rows and
    runs its K loop to min(s + block, c), the upper-triangle blocks skipped. 128-token chunks in blocks of 64:
    64 · 64 + 64 · 128 = 12,288 (0.75 · 128²); a chunk of at most 64 tokens: c² (one block, whole)."""
    return sum(min(block, c - s) * min(s + block, c) for s in range(0, c, block))


def _chunked_matmul(b: TransformerBuilder, inputs: Sequence[str], out: tuple[int, ...],
                    gemm: Callable[[int, int], Gemm], c: int, length: int, name: str,
                    weights: Sequence[Weight] = (), macs_of: Callable[[int, int], int] | None = None) -> str:
    """A chunked kernel's MATMUL over N = ⌈L / c⌉ chunks of ``c`` tokens, ``gemm(c, chunks)`` its GEMM view for that many chunks
    of c tokens. The view the mapper prices runs N whole chunks (one GEMM shape; the last chunk, when c does not
    divide L, at most c − 1 tokens of padding, < 1/N of the time); ``macs`` (and flops = 2·macs) count the last
    chunk's r = L − (N − 1)·c tokens only, as the kernels' ``chunk_size_limit`` loops run, so a prompt one token
    longer costs about a decode step's work more, not a whole chunk's. ``macs_of(c, chunks)``: the kernel's MACs
    on that many chunks of c tokens where they are not the view's (a causal kernel's skipped blocks)."""
    count = macs_of or (lambda c, chunks: gemm(c, chunks).macs)
    n = -(-length // c)
    whole = gemm(c, n)
    r = length - (n - 1) * c
    macs = count(c, n) if r == c else count(c, n - 1) + count(r, 1)
    return b._add(b._name(name, "matmul"), OpKind.MATMUL, list(inputs), out, weights=list(weights), gemm=whole,
                  flops=2 * macs, fn="matmul", macs=macs)


def _decoding(cache: KVCache | None) -> bool:
    """A decode step: the pass reads the states an earlier pass left."""
    return cache is not None and cache.past > 0


def _causal_conv(b: TransformerBuilder, x: str, taps: int, bias: bool, cache: KVCache | None,
                 name: str = "conv1d", act: bool = True) -> str:
    """The causal depthwise conv of ``taps`` taps and SiLU (``act``) over ``x``'s (B, L, C) channels (ELEMENTWISE fn
    causal_conv1d, its (C, 1, K) weight [and (C,) bias]); with a cache its last K − 1 inputs per channel are a state
    (``conv_state``; Kimi's ``q_conv1d``: ``q_conv_state``) that a decode step reads and every pass writes: a
    decode step's in the conv's kernel (causal_conv1d_update shifts it in place), a prompt's from the last K − 1
    tokens of ``x`` (a slice view, ``conv_tail``: the write reads those, not the sequence)."""
    bsz, length, channels = b.shape(x)
    prefix = b._prefix()
    decode = _decoding(cache)
    inputs, state = [x], None
    leaf = f"{name.removesuffix('1d')}_state"
    if cache is not None:
        state = b.state_cache(leaf, (bsz, channels, taps - 1), b.dtype, read=decode)
        if decode:
            inputs.append(state)
    weights = [Weight(f"{prefix}.{name}.weight", (channels, 1, taps))]
    if bias:
        weights.append(Weight(f"{prefix}.{name}.bias", (channels,)))
    elems = bsz * length * channels
    out = b._add(b._name(name, name), OpKind.ELEMENTWISE, inputs, (bsz, length, channels), weights=weights,
                 flops=(2 * taps + (ACT_FLOPS["silu"] if act else 0)) * elems, vector_elems=elems, fn="causal_conv1d")
    if state is not None and decode:  # a decode step's causal_conv1d_update shifts the state in place
        b.state_write(out, state, (bsz, channels, taps - 1), b.dtype, f"{leaf}_write", in_place=True)
    elif state is not None:  # a prompt's last taps − 1 inputs (fewer in a shorter prompt: the rest zeros)
        tail = min(taps - 1, length)
        kept = b.view(x, (bsz, tail, channels), "slice", f"{name.removesuffix('1d')}_tail", strict=False, dim=1,
                      start=length - tail)
        b.state_write(kept, state, (bsz, channels, taps - 1), b.dtype, f"{leaf}_write")
    return out


def _gated_norm(b: TransformerBuilder, y: str, z: str, width: int, eps: float, name: str = "norm") -> str:
    """The gated RMSNorm w · RMSNorm(y) · act(z) over ``y``'s last dim (NORM fn rmsnorm_gated, a (width,) weight;
    SiLU or Kimi's sigmoid, the same FLOPs)."""
    shape = b.shape(y)
    elems = math.prod(shape)
    return b._add(b._name(name, name), OpKind.NORM, [y, z], shape,
                  weights=[Weight(f"{b._prefix()}.{name}.weight", (width,))], flops=GATED_NORM_FLOPS * elems,
                  vector_elems=elems, fn="rmsnorm_gated", eps=eps, dim=len(shape) - 1)


def _recurrent_update(b: TransformerBuilder, inputs: list[str], out: tuple[int, ...], leaf: str,
                      state_shape: tuple[int, ...], dtype: str, fn: str, name: str, macs: int,
                      weights: Sequence[Weight] = (), flops: int = RECURRENT_FLOPS, out_flops: int = 0) -> str:
    """A decode step's update of the cached state ``leaf`` (ELEMENTWISE ``fn`` in the state's ``dtype`` over its
    elements, ``flops`` each (:data:`RECURRENT_FLOPS` by default) of which ``macs`` multiply-adds (the state's
    contractions, MACs as a prompt's chunk kernels count them), and ``out_flops`` per element of ``out`` (Mamba-1's
    per-channel Δ, skip and gate), reading it) and its write back (in the update's kernel, as vLLM's update kernels
    write the state in place: no launch of its own); returns the step's output ``out``. The ``weights`` (Mamba's
    A_log, dt_bias, D) stay in the model's dtype, as a prompt's kernels read them: the state's dtype (vLLM's
    ``--mamba-ssm-cache-dtype``) says how the state is stored, not the parameters (probe p276 #1: an fp32 state
    stored them at 4 B in a decode step only)."""
    state = b.state_cache(leaf, state_shape, dtype, read=True)
    elems = math.prod(state_shape)
    weights = [w if w.dtype else dataclasses.replace(w, dtype=b.dtype) for w in weights]
    o = b._add(b._name(name, name), OpKind.ELEMENTWISE, [*inputs, state], out, weights=weights, dtype=dtype,
               macs=macs * elems, flops=flops * elems + out_flops * math.prod(out), vector_elems=elems, fn=fn,
               keep_dtype=True)
    b.state_write(o, state, state_shape, dtype, "state_write", in_place=True)  # the update kernel writes it back
    return o


def _keep_state(b: TransformerBuilder, src: str, cache: KVCache | None, leaf: str, state_shape: tuple[int, ...],
                dtype: str, **where: int) -> None:
    """A prompt's final state written to the state cache ``leaf`` when the pass keeps a cache: from ``final_state``,
    a slice view of ``src`` of the state's elements (``where``: its dim and start; the last chunk's of a chunked
    kernel's states, which the kernel emits as its final state), so the write reads the state it saves, not
    ``src`` whole (every chunk's states, a scan's every token)."""
    if cache is not None:
        final = b.view(src, state_shape, "slice", "final_state", strict=False, **where)
        b.state_write(final, b.state_cache(leaf, state_shape, dtype, read=False), state_shape, dtype, "state_write")


def short_conv(b: TransformerBuilder, sc: ShortConv, h: str, cache: KVCache | None) -> str:
    """LFM2's gated short convolution (:class:`~.hfspec.ShortConv`; scope ``conv``): ``in_proj`` to B, C and x (three
    slices), B · x (``Bx``), the causal depthwise ``conv`` without activation (its last taps − 1 inputs the state a
    decode step reads), C · the conv (``Cy``), ``out_proj``. Tensor parallelism splits the channels (the row-split
    out_proj's all-reduce); with sequence parallelism the block all-gathers the token shards before ``in_proj`` and
    reduce-scatters ``out_proj``'s partial sums, as the attention and Mamba mixers."""
    h = b._tp_in(h)  # under sequence parallelism the token shards gathered: ``length`` is every token
    bsz, length, width = b.shape(h)
    local = _tp_heads(b, width, "hidden_size")
    bcx = b.linear(h, 3 * local, bias=sc.bias, name="in_proj")
    gate, out_gate, x = (b.view(bcx, (bsz, length, local), "slice", n, strict=False, dim=2, start=i * local)
                         for i, n in enumerate(("B", "C", "x")))
    u = b.mul(gate, x, name="Bx")
    conv = _causal_conv(b, u, sc.taps, sc.bias, cache, name="conv", act=False)
    y = b.mul(out_gate, conv, name="Cy")
    return b._tp_out(b.linear(y, width, bias=sc.bias, name="out_proj"))


def gated_delta_net(b: TransformerBuilder, la: LinearAttn, eps: float, h: str, cache: KVCache | None) -> str:
    """Qwen3-Next's linear attention on ``h`` in the current scope (``linear_attn``).

    ``in_proj_qkvz`` and ``in_proj_ba``; the causal conv over q, k and v; ``gating`` (β and the decay, with
    ``A_log`` and ``dt_bias``). A prompt runs FLA's chunk_gated_delta_rule on N = ⌈L / C⌉ chunks of C tokens per
    value head (C = L below one chunk, :func:`_chunk`): ``chunk_kkt`` (each chunk's β-weighted KKᵀ, its triangular solve not counted), ``chunk_wu`` (the WY
    form's w and u, C × C by C × (d_k + d_v)), ``chunk_state`` (the inter-chunk pass: per chunk w·S and Kᵀ·v_new,
    d_k × d_v by 2C; one GEMM per head whose K loop walks the N chunks in turn, as the kernel does, writing every
    chunk's state) and ``chunk_o`` (the output Q·S + (QKᵀ ⊙ mask)·v_new: its MACs as one GEMM of k = d_k + C +
    C·d_k / d_v); the final state is written to the layer's state cache (``la.state_dtype``, default the model's
    dtype as vLLM's state cache keeps it, mamba_utils' gated_delta_net_state_dtype under mamba_ssm_cache_dtype auto;
    fp32, FLA's and transformers' final state, with ``mamba_ssm_cache_dtype: float32``). A decode step runs the fused
    recurrent update on the cached state (``recurrent``, fn fused_recurrent: S ← e^g·S + k ⊗ β(v − Sᵀk), o = Sᵀq,
    in the state's dtype on the vector lanes, as FLA's kernel runs without tensor cores) and writes it back. The q / k
    L2 norms are inside the kernels (not counted). Then the gated RMSNorm and ``out_proj``."""
    hk = _tp_heads(b, la.key_heads, "linear_num_key_heads")
    hv = la.value_heads // b.tp
    dk, dv = la.key_dim, la.value_dim
    h = b._tp_in(h)
    bsz, length, hidden = b.shape(h)
    prefix = b._prefix()
    conv_c = 2 * hk * dk + hv * dv
    qkvz = b.linear(h, conv_c + hv * dv, bias=False, name="in_proj_qkvz")
    ba = b.linear(h, 2 * hv, bias=False, name="in_proj_ba")
    mixed = b.view(qkvz, (bsz, length, conv_c), "slice", "mixed_qkv", strict=False, dim=2, start=0)
    z = b.view(qkvz, (bsz, length, hv * dv), "slice", "z", strict=False, dim=2, start=conv_c)
    mixed = _causal_conv(b, mixed, la.conv_kernel, False, cache)
    gating = b._add(b._name("gating", "gating"), OpKind.ELEMENTWISE, [ba], (bsz, length, 2 * hv),
                    weights=[Weight(f"{prefix}.A_log", (hv,)), Weight(f"{prefix}.dt_bias", (hv,))],
                    flops=GDN_GATING_FLOPS * bsz * length * hv, vector_elems=bsz * length * hv, fn="gdn_gating")
    q, k, v = (b.view(mixed, (bsz, length, n), "slice", x, strict=False, dim=2, start=s) for x, n, s in
               (("q", hk * dk, 0), ("k", hk * dk, hk * dk), ("v", hv * dv, 2 * hk * dk)))
    out = (bsz, length, hv, dv)
    state_shape = (bsz, hv, dk, dv)
    state_dtype = la.state_dtype or b.dtype
    if _decoding(cache):
        o = _recurrent_update(b, [q, k, v, gating], out, "recurrent_state", state_shape, state_dtype,
                              "fused_recurrent", "recurrent", DELTA_RECURRENT_MACS)
    else:
        c = _chunk(la.chunk, length)
        n = -(-length // c)
        heads = bsz * hv
        kkt = _chunked_matmul(b, [k, gating], (bsz, hv, n * c, c),
                              lambda c, chunks: Gemm(m=c, n=c, k=dk, count=heads * chunks), c, length, "chunk_kkt")
        wu = _chunked_matmul(b, [kkt, k, v], (bsz, hv, n * c, dk + dv),
                             lambda c, chunks: Gemm(m=c, n=dk + dv, k=c, count=heads * chunks), c, length, "chunk_wu")
        states = _chunked_matmul(b, [wu, k], (bsz, hv, n, dk, dv),
                                 lambda c, chunks: Gemm(m=dk, n=dv, k=2 * c * chunks, count=heads), c, length, "chunk_state")
        o = _chunked_matmul(b, [q, k, wu, states], out,
                            lambda c, chunks: Gemm(m=c, n=dv, k=dk + c + c * dk // dv, count=heads * chunks), c, length,
                            "chunk_o")
        _keep_state(b, states, cache, "recurrent_state", state_shape, state_dtype, dim=2, start=n - 1)
    merged = b.view(_gated_norm(b, o, z, dv, eps), (bsz, length, hv * dv), "reshape", "merge")
    return b._tp_out(b.linear(merged, hidden, bias=False, name="out_proj"))


def mamba2(b: TransformerBuilder, m: Mamba2, eps: float, h: str, cache: KVCache | None) -> str:
    """The Mamba-2 mixer on ``h`` in the current scope (transformers' Mamba2Mixer / NemotronHMamba2Mixer names).

    ``in_proj`` gives z (heads · head_dim), xBC (the conv's channels: x, and B and C of ``groups`` × ``state``) and
    dt (one per head); the causal conv over xBC. A prompt runs the SSD kernels on N = ⌈L / Q⌉ chunks of Q tokens
    (Q = L below one chunk, :func:`_chunk`):
    ``chunk_cumsum`` (softplus(dt + dt_bias), dt·A and its running sum; with ``A_log``, ``dt_bias``), ``chunk_state``
    (each chunk's state Xᵀ·B, P × N by Q, per head), ``state_passing`` (the states carried from chunk to chunk, in
    turn: elementwise), ``bmm_chunk`` (C·Bᵀ, Q × Q by N, per group: the kernel runs it whole, causal=False) and ``chunk_scan`` (the
    output C·S + (C·Bᵀ ⊙ decay)·X, Q × P by N + Q, per head, with the skip D·x; the kernel runs causally, skipping the
    row blocks' columns above the diagonal: :func:`_causal_cols`, 0.75 of the (C·Bᵀ ⊙ decay)·X part at Q = 128);
    the state after the prompt is the layer's state cache.
    A decode step's ``selective_state_update`` updates the cached heads × P × N state on the vector lanes
    (:data:`SSM_UPDATE_FLOPS` an element) and writes it back. Then the gated RMSNorm (over groups of heads · head_dim / ``norm_groups``: the same FLOPs) and
    ``out_proj``. Under tensor parallelism the heads and groups split (one group: each chip keeps it, as vLLM
    replicates B and C). A degree that does not divide the groups is refused when there are two or more, as vLLM's
    ``MambaMixer2.__init__`` asserts ``n_groups % tp_size == 0 or n_groups == 1`` (vllm-project/vllm
    vllm/model_executor/layers/mamba/mamba_mixer2.py, at bb435dbd5899; probe p276 #2)."""
    heads = _tp_heads(b, m.heads, "mamba_num_heads")
    if m.groups % b.tp and m.groups != 1:  # vLLM's MambaMixer2 asserts it (probe p276 #2: 2 groups at TP 4 passed)
        raise WorkloadError(f"{b.name}: tensor_parallel {b.tp} must divide the Mamba groups ({m.groups}) unless there "
                            f"is one group, as vLLM's MambaMixer2 asserts (\"If tensor parallel world size does not "
                            f"divide num_groups, then num_groups must equal 1.\")", key=("tensor_parallel",))
    groups = max(m.groups // b.tp, 1)
    p_dim, n_dim, q = m.head_dim, m.state, m.chunk
    inner = heads * p_dim
    conv_c = inner + 2 * groups * n_dim
    h = b._tp_in(h)
    bsz, length, hidden = b.shape(h)
    prefix = b._prefix()
    proj = b.linear(h, inner + conv_c + heads, bias=m.in_bias, name="in_proj")
    z = b.view(proj, (bsz, length, inner), "slice", "z", strict=False, dim=2, start=0)
    xbc = b.view(proj, (bsz, length, conv_c), "slice", "xBC", strict=False, dim=2, start=inner)
    dt = b.view(proj, (bsz, length, heads), "slice", "dt", strict=False, dim=2, start=inner + conv_c)
    xbc = _causal_conv(b, xbc, m.conv_kernel, m.conv_bias, cache)
    x = b.view(xbc, (bsz, length, heads, p_dim), "slice", "x", strict=False, dim=2, start=0)
    bc = [b.view(xbc, (bsz, length, groups, n_dim), "slice", name, strict=False, dim=2, start=inner + i * groups * n_dim)
          for i, name in enumerate(("B", "C"))]
    dt_a = [Weight(f"{prefix}.dt_bias", (heads,)), Weight(f"{prefix}.A_log", (heads,))]
    skip = Weight(f"{prefix}.D", (heads,))
    out = (bsz, length, heads, p_dim)
    state_shape = (bsz, heads, p_dim, n_dim)
    dtype = m.state_dtype or b.dtype
    if _decoding(cache):
        y = _recurrent_update(b, [x, *bc, dt], out, "ssm_state", state_shape, dtype, "selective_state_update",
                              "selective_state_update", SSM_RECURRENT_MACS, [*dt_a, skip], flops=SSM_UPDATE_FLOPS)
    else:
        q = _chunk(q, length)
        n = -(-length // q)
        elems = bsz * heads * length  # the tokens there are (chunk_size_limit), the last chunk's padding not
        cum = b._add(b._name("chunk_cumsum", "chunk_cumsum"), OpKind.ELEMENTWISE, [dt], (bsz, heads, n * q),
                     weights=dt_a, flops=CUMSUM_FLOPS * elems, vector_elems=elems, fn="ssd_chunk_cumsum")
        states = _chunked_matmul(b, [x, bc[0], cum], (bsz, heads, n, p_dim, n_dim),
                                 lambda c, chunks: Gemm(m=p_dim, n=n_dim, k=c, count=bsz * heads * chunks), q, length,
                                 "chunk_state")
        elems = bsz * heads * n * p_dim * n_dim
        passed = b._add(b._name("state_passing", "state_passing"), OpKind.ELEMENTWISE, [states, cum],
                        (bsz, heads, n, p_dim, n_dim), flops=STATE_PASSING_FLOPS * elems, vector_elems=elems,
                        fn="ssd_state_passing")
        cb = _chunked_matmul(b, [bc[1], bc[0]], (bsz, groups, n * q, q),
                             lambda c, chunks: Gemm(m=c, n=c, k=n_dim, count=bsz * groups * chunks), q, length, "bmm_chunk")
        # the causal kernel's intra-chunk part (_causal_cols of the c × c block): the view's k its mean per row
        y = _chunked_matmul(b, [bc[1], cb, x, passed, cum], out,
                            lambda c, chunks: Gemm(m=c, n=p_dim, k=n_dim + -(-_causal_cols(c) // c),
                                                   count=bsz * heads * chunks), q, length, "chunk_scan", [skip],
                            lambda c, chunks: bsz * heads * chunks * p_dim * (c * n_dim + _causal_cols(c)))
        _keep_state(b, passed, cache, "ssm_state", state_shape, dtype, dim=2, start=n - 1)
    flat = b.view(y, (bsz, length, inner), "reshape", "y")
    if m.norm:
        gated = _gated_norm(b, flat, z, inner, eps)
    else:  # Falcon-H1 without mamba_rms_norm: y · SiLU(z)
        gated = b.vector(OpKind.ELEMENTWISE, [flat, z], (bsz, length, inner), "silu_mul", ACT_FLOPS["silu"] + 1,
                         name="gate")
    return b._tp_out(b.linear(gated, hidden, bias=m.out_bias, name="out_proj"))


def mamba1(b: TransformerBuilder, m: Mamba1, h: str, cache: KVCache | None) -> str:
    """The Mamba-1 mixer on ``h`` in the current scope (transformers' MambaMixer names; mamba_ssm's kernels).

    ``in_proj`` gives x and the gate z (``inner`` each); the causal conv over x; ``x_proj`` gives dt's low-rank
    input and B and C (under tensor parallelism a row-split GEMM with its all-reduce, as vLLM's MambaMixer);
    ``dt_proj`` (biased) expands dt to every channel. A prompt's ``selective_scan`` (ELEMENTWISE over the channels ×
    state elements of every token, :data:`SCAN_FLOPS` each, :data:`SSM_RECURRENT_MACS` of them MACs, plus
    :data:`SCAN_CHANNEL_FLOPS` per channel and token (softplus(Δ), Δ·x, the skip and the SiLU gate); sequential over
    the tokens inside the kernel, parallel over batch and channels, as the vector lanes price it) with ``A_log`` and
    ``D``; a decode step's ``selective_state_update`` of the cached inner × state state, the same FLOPs for its one
    token (the skip and gate in its kernel, as mamba_ssm's). Then ``out_proj``."""
    inner = _tp_heads(b, m.inner, "the Mamba channels (expand × hidden_size)")
    h = b._tp_in(h)
    bsz, length, hidden = b.shape(h)
    prefix = b._prefix()
    xz = b.linear(h, 2 * inner, bias=m.bias, name="in_proj")
    x, z = (b.view(xz, (bsz, length, inner), "slice", n, strict=False, dim=2, start=i * inner)
            for i, n in enumerate(("x", "z")))
    x = _causal_conv(b, x, m.conv_kernel, m.conv_bias, cache)
    dbc = b._tp_out(b.linear(x, m.dt_rank + 2 * m.state, bias=False, name="x_proj"))
    dt_in = b.view(dbc, (bsz, length, m.dt_rank), "slice", "dt_in", strict=False, dim=2, start=0)
    bc = b.view(dbc, (bsz, length, 2 * m.state), "slice", "BC", strict=False, dim=2, start=m.dt_rank)
    if m.inner_norms:  # Jamba: RMSNorms on dt's input, B and C (FalconMamba: without weights)
        def norm(t: str, name: str) -> str:
            weights = ("weight",) if m.norm_weights else ()
            return b._norm(t, "rmsnorm", 4, weights, -1, m.norm_eps, name)

        dt_in = norm(dt_in, "dt_layernorm")
        b_, c_ = (norm(b.view(bc, (bsz, length, m.state), "slice", x, strict=False, dim=2, start=i * m.state),
                       f"{x.lower()}_layernorm") for i, x in enumerate(("B", "C")))
        bc = b.concat([b_, c_], dim=2, name="BC_normed")
    dt = b.linear(dt_in, inner, bias=True, name="dt_proj")
    weights = [Weight(f"{prefix}.A_log", (inner, m.state)), Weight(f"{prefix}.D", (inner,))]
    out = (bsz, length, inner)
    state_shape = (bsz, inner, m.state)
    dtype = m.state_dtype or b.dtype
    if _decoding(cache):
        y = _recurrent_update(b, [x, dt, bc, z], out, "ssm_state", state_shape, dtype, "selective_state_update",
                              "selective_state_update", SSM_RECURRENT_MACS, weights, flops=SCAN_FLOPS,
                              out_flops=SCAN_CHANNEL_FLOPS)
    else:
        elems = bsz * length * inner * m.state
        y = b._add(b._name("selective_scan", "selective_scan"), OpKind.ELEMENTWISE, [x, dt, bc, z], out,
                   weights=weights, macs=SSM_RECURRENT_MACS * elems,
                   flops=SCAN_FLOPS * elems + SCAN_CHANNEL_FLOPS * math.prod(out), vector_elems=elems,
                   fn="selective_scan")
        _keep_state(b, y, cache, "ssm_state", state_shape, dtype)  # the kernel's last state (return_last_state)
    return b._tp_out(b.linear(y, hidden, bias=m.bias, name="out_proj"))


KDA_GATE_FLOPS = 6
"""FLOPs per key channel and token of Kimi Delta Attention's decay gate: softplus(f + dt_bias) (add, exp, log1p: 3),
times −exp(A_log) (1, the exp once a head) and its chunk-local running sum (1), and β's share."""


def kimi_delta_attention(b: TransformerBuilder, la: LinearAttn, eps: float, h: str, cache: KVCache | None) -> str:
    """Kimi Linear's KDA on ``h`` in the current scope (``self_attn``; moonshotai's KimiDeltaAttention, FLA's
    chunk_kda / fused_recurrent_kda as vLLM runs them).

    ``q_proj``, ``k_proj``, ``v_proj`` (heads × head_dim each), each through its own causal short conv
    (``q_conv1d`` ...; SiLU); the per-channel decay from a rank-head_dim gate (``f_a_proj`` → ``f_b_proj``, then
    ``gate``: −exp(A_log)·softplus(· + dt_bias)); β = sigmoid(``b_proj``). A prompt runs chunk_kda on N = ⌈L / C⌉
    chunks per head (C = L below one chunk, :func:`_chunk`): ``chunk_intra`` (the chunk's K-K and Q-K products
    with the channel-wise decay folded into the operands, C × 2C by d_k, and the WY form's w and u, C × (d_k + d_v) by C: one GEMM of k = d_k and n = 2C +
    C·(d_k + d_v) / d_k, their MACs; the diagonal blocks' per-token exps not counted), ``chunk_state`` (the inter-chunk pass as Gated DeltaNet's: per head one
    GEMM whose K loop walks the chunks) and ``chunk_o`` (Q·S + Aqk·v_new, C × d_v by d_k + C); a decode step the
    fused recurrent update of the fp32 state. The output gate (``g_a_proj`` → ``g_b_proj``) gates the per-head
    RMSNorm (``o_norm``, sigmoid), then ``o_proj``."""
    heads = _tp_heads(b, la.key_heads, "linear_attn_config.num_heads")
    dk, dv = la.key_dim, la.value_dim
    h = b._tp_in(h)
    bsz, length, hidden = b.shape(h)
    prefix = b._prefix()
    q, k, v = (_causal_conv(b, b.linear(h, heads * d, bias=False, name=f"{x}_proj"), la.conv_kernel, False, cache,
                            f"{x}_conv1d") for x, d in (("q", dk), ("k", dk), ("v", dv)))
    f = b.linear(b.linear(h, dk, bias=False, name="f_a_proj"), heads * dk, bias=False, name="f_b_proj")
    elems = bsz * length * heads * dk
    gate = b._add(b._name("gate", "gate"), OpKind.ELEMENTWISE, [f], (bsz, length, heads * dk),
                  weights=[Weight(f"{prefix}.A_log", (heads,)), Weight(f"{prefix}.dt_bias", (heads * dk,))],
                  flops=KDA_GATE_FLOPS * elems, vector_elems=elems, fn="kda_gate")
    beta = b.sigmoid(b.linear(h, heads, bias=False, name="b_proj"), name="beta")
    out = (bsz, length, heads, dv)
    state_shape = (bsz, heads, dk, dv)
    if _decoding(cache):
        o = _recurrent_update(b, [q, k, v, gate, beta], out, "recurrent_state", state_shape, "fp32", "fused_recurrent_kda",
                              "recurrent", DELTA_RECURRENT_MACS)
    else:
        c = _chunk(la.chunk, length)
        n = -(-length // c)
        rows = bsz * heads
        # Akk and Aqk (C × C by d_k each) and w, u (C × (d_k + d_v) by C): their MACs as one GEMM of k = d_k
        intra = _chunked_matmul(b, [q, k, v, gate, beta], (bsz, heads, n * c, 2 * c + dk + dv),
                                lambda c, chunks: Gemm(m=c, n=2 * c + (dk + dv) * c // dk, k=dk, count=rows * chunks), c,
                                length, "chunk_intra")
        states = _chunked_matmul(b, [intra, k], (bsz, heads, n, dk, dv),
                                 lambda c, chunks: Gemm(m=dk, n=dv, k=2 * c * chunks, count=rows), c, length, "chunk_state")
        o = _chunked_matmul(b, [q, intra, states], out, lambda c, chunks: Gemm(m=c, n=dv, k=dk + c, count=rows * chunks), c,
                            length, "chunk_o")
        _keep_state(b, states, cache, "recurrent_state", state_shape, "fp32", dim=2, start=n - 1)
    g = b.linear(b.linear(h, dv, bias=False, name="g_a_proj"), heads * dv, bias=False, name="g_b_proj")
    g = b.view(g, out, "reshape", "g_heads")
    merged = b.view(_gated_norm(b, o, g, dv, eps, "o_norm"), (bsz, length, heads * dv), "reshape", "merge")
    return b._tp_out(b.linear(merged, hidden, bias=False, name="o_proj"))


LIGHTNING_RECURRENT_FLOPS = 5
"""FLOPs per state element and token of lightning attention's decode update S ← λ·S + kᵀv, o = q·S: the decay (1),
the rank-1 update and the q·S product (a multiply-add each); no delta rule (Sᵀk) as Gated DeltaNet's."""
LIGHTNING_RECURRENT_MACS = 2
"""MACs per state element and token of that update: the rank-1 kᵀv and q·S (block_state's and block_o's
contractions in a prompt)."""
LIGHTNING_NORM_EPS = 1e-6
"""MiniMaxLightningAttention's ``norm``: an RMSNorm of the class's default eps (not ``rms_norm_eps``)."""


def lightning_attention(b: TransformerBuilder, la: LinearAttn, eps: float, h: str, cache: KVCache | None) -> str:
    """MiniMax-Text-01's lightning attention on ``h`` in the current scope (``self_attn``; transformers'
    MiniMaxLightningAttention names).

    ``qkv_proj`` (3 × heads × head_dim) and SiLU (``act_fn``) give q, k and v; no conv, no gating projection: each
    head's decay λ = e^−s is a fixed slope (a buffer, no parameter). A prompt runs in N = ⌈L / C⌉ blocks of C =
    ``block_size`` tokens per head (C = L below one block, :func:`_chunk`), as the block-wise algorithm (and vLLM's
    lightning_attention kernels) does:
    ``block_qk`` (the block's QKᵀ, C × C by d), ``block_state`` (the inter-block pass: the decayed Kᵀ·V of each
    block, d × d by C, added to the decayed state; one GEMM per head whose K loop walks the N blocks in turn, as
    Gated DeltaNet's chunk_state) and ``block_o`` (the output (Q·decay)·S + (QKᵀ ⊙ decay)·V, C × d by d + C); the
    decay multiplies (query, key and diagonal decays, C² + 2·C·d per block) are not counted. The final state
    (heads × d × d, in the model's dtype, as transformers and vLLM keep it) is the layer's state cache. A decode step
    updates the cached state on the vector lanes (``recurrent``, :data:`LIGHTNING_RECURRENT_FLOPS` per element) and
    writes it back. Then ``norm`` (an RMSNorm over all heads' outputs), times sigmoid(``output_gate`` of the layer's
    input) (one gated-norm op, as Kimi's sigmoid-gated ``o_norm``), and ``out_proj``. Under tensor parallelism the
    heads split (``qkv_proj`` and ``output_gate`` column-wise, ``out_proj`` row-wise with its all-reduce); the norm's
    all-reduce of each token's sum of squares across the chips (vLLM's MiniMaxText01RMSNormTP) is not priced. ``eps``
    is not read (:data:`LIGHTNING_NORM_EPS`)."""
    heads = _tp_heads(b, la.key_heads, "num_attention_heads")
    d = la.key_dim
    h = b._tp_in(h)
    bsz, length, hidden = b.shape(h)
    width = heads * d
    qkv = b.activation(b.linear(h, 3 * width, bias=False, name="qkv_proj"), "silu", name="act_fn")
    q, k, v = (b.view(qkv, (bsz, length, width), "slice", x, strict=False, dim=2, start=i * width)
               for i, x in enumerate(("q", "k", "v")))
    out = (bsz, length, heads, d)
    state_shape = (bsz, heads, d, d)
    if _decoding(cache):
        o = _recurrent_update(b, [q, k, v], out, "recurrent_state", state_shape, b.dtype, "lightning_recurrent",
                              "recurrent", LIGHTNING_RECURRENT_MACS, flops=LIGHTNING_RECURRENT_FLOPS)
    else:
        c = _chunk(la.chunk, length)
        n = -(-length // c)
        rows = bsz * heads
        scores = _chunked_matmul(b, [q, k], (bsz, heads, n * c, c), lambda c, chunks: Gemm(m=c, n=c, k=d, count=rows * chunks),
                                 c, length, "block_qk")
        states = _chunked_matmul(b, [k, v], (bsz, heads, n, d, d), lambda c, chunks: Gemm(m=d, n=d, k=c * chunks, count=rows),
                                 c, length, "block_state")
        o = _chunked_matmul(b, [q, scores, v, states], out, lambda c, chunks: Gemm(m=c, n=d, k=d + c, count=rows * chunks), c,
                            length, "block_o")
        _keep_state(b, states, cache, "recurrent_state", state_shape, b.dtype, dim=2, start=n - 1)
    gate = b.linear(h, width, bias=False, name="output_gate")
    merged = b.view(o, (bsz, length, width), "reshape", "merge")
    gated = _gated_norm(b, merged, gate, width, LIGHTNING_NORM_EPS, "norm")
    return b._tp_out(b.linear(gated, hidden, bias=False, name="out_proj"))


__all__ = ["gated_delta_net", "kimi_delta_attention", "lightning_attention", "mamba1", "mamba2"]
