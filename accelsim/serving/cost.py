"""The time of one engine iteration, from accelsim's own accelerator model, memoised on a grid of batch shapes.

An iteration runs ``p`` prefill tokens (chunks of prompts; a chunk of ``q`` tokens after ``c`` already computed
attends to ``q·(c + q)`` query-key pairs, the *scores*, ``S`` in all) and ``b`` decodes whose KV lengths sum to
``K``. Three kinds of pass are simulated, each once per grid point (:mod:`accelsim.scenarios.single`):

* ``P₁(n)``: a prefill of one sequence of ``n`` tokens (``phase: prefill, seq_len: n, batch: 1``), for ``n`` =
  16, 16r, 16r², … and ``max_num_batched_tokens`` (``cost.token_ratio`` r, default 2);
* ``P₂(n)``: the same ``n`` tokens as two sequences of ``n/2`` (``batch: 2``): the same weights and token-wise
  work, half the attention. So a prefill's attention is ``A(n) = 2(P₁ − P₂)`` (at least 0) and the rest
  ``L(n) = P₁ − A``, and a pass of ``n`` tokens, ``p`` of them the prefill chunks', with ``S`` scores costs
  ``P(n, S) = L(n) + A(n)·S₀/n² + C(p, S − S₀)``, ``S₀ = min(S, p²)`` the scores among the chunks' own tokens
  (exactly ``P₁`` for one whole prompt; several prompts scale ``A``), and ``C`` the scores with tokens already
  in the KV cache: the larger of a decode step's read of their KV and their compute at the largest prefill's
  rate per score its kernels computed (:meth:`Grid.context`);
* ``D(b, k)``: a decode step of ``b`` sequences each with ``k`` tokens in the KV cache (``phase: decode,
  batch: b, kv_len: k``), for ``b`` = 1, r, r², … and ``max_num_seqs`` (``cost.batch_ratio``), and ``k`` at
  ``cost.kv_points`` evenly spaced lengths from ``block_size`` to the longest a batch of ``b`` can reach:
  ``max_model_len``, or the replica's KV capacity (blocks × block size) shared by ``b`` sequences when that is
  less. (A decode beyond the KV capacity never runs, and its graph's cache would spill out of the main memory.)

Each is priced as ``accelsim run`` would (``seconds``); with ``engine.cuda_graphs`` (the default) under the
launch model's CUDA-graph mode (``options.execution: cuda_graph``: vLLM captures its iterations in CUDA graphs, so
the host launches one graph per iteration, not every kernel; each kernel still pays ``kernel_dispatch``), and with
``engine.custom_all_reduce`` (the default) with ``options.all_reduce: custom``: a tensor-parallel all-reduce inside
one node is vLLM's custom all-reduce kernel where vLLM runs it (:func:`accelsim.cost.collective.custom`).

Between grid points the time is interpolated linearly: piecewise linear in ``n``; in ``k`` along each batch's row
of KV lengths, then linearly in ``b`` between the two rows around it. Outside the grid it is clamped. An
iteration's time is

* decodes only: ``D(b, K/b)`` (a decode step's attention reads each sequence's KV, so its cost is linear in the
  KV lengths and the mean stands for them);
* prefill only: ``P(p, S)`` (all ``p`` tokens the chunks');
* both: ``max(P(p + b, S) + max(D(b, K/b) − L(b), 0), D(b, K/b))``: one forward pass over all ``p + b`` tokens
  (the weights are read once for the whole batch) with the prefill chunks' attention, plus the decodes' attention
  as their own step prices it: ``D(b, K/b)`` less a pass of their ``b`` tokens without attention (``L(b)``, the
  prefill's token-wise part below). vLLM V1 runs a mixed batch's attention as one varlen FlashAttention call in
  which every decode sequence keeps its own CTA(s) (a query tile per KV head), reading its KV as in a decode step
  alone, and the chunks' query tiles run beside them in the same waves: their costs add. Never below the decodes
  alone (docs/serving.md, "Iteration cost"). A per-request encoder's decodes add ``D(b, K/b) − D(1, k₀)`` (below).

With speculative decoding the decodes verify ``d`` draft tokens beside their own ``b``: they add the token-wise
work of ``d`` more tokens to the forward pass, ``L(p + b + d) − L(p + b)`` (``L`` the prefill's token-wise part,
``P(n, 0)``; at least 0), to either cost above (the prefill's attention stays its own): the weights and each
sequence's KV are read once, as a verification kernel reads them for all of its query tokens; the drafts' own
attention scores (a few queries against each sequence's KV) are not priced. Flat while the pass is bound by its weight reads (below the
grid's first prefill, ``L`` is clamped), linear in ``d`` once it is bound by compute, which is where speculation
stops paying. A draft model's proposals are priced on its own grid (:func:`draft_cost`).

With images in the requests (a vision-language model's ``workload.images``), the image encoder's pass over ``m``
images is ``E(m) = E₁ + (m − 1)·(E₂ − E₁)``, from ``E(m)`` = a one-layer prefill of ``m`` images' tokens with the
images less the same prefill without them (``layers: 1``, ``images: m`` vs 0, ``m`` = 1 and 2; the tower runs every
one of its layers, the decoder layer cancels). It is added to the iteration that encodes them
(:class:`.engine.Replica`); their tokens are ordinary prompt tokens of the prefill.

With a per-request encoder (an encoder-decoder, Whisper: its decode graph's KV cache holds cross-attention K/V
whatever its length, :attr:`Footprint.cross_bytes_per_seq`) each request runs an encoder pass of its own: ``W(m)``,
the prefill of ``m`` sequences of one decoder token (``m`` = 1, 2 and the largest decode batch), priced per
iteration by the requests whose prefill starts in it (:meth:`Grid.requests`, :class:`.engine.Replica`); the prefill
grid's ``P₁`` and ``P₂`` less ``W(1)`` and ``W(2)`` are the decoder's, and a mixed iteration's decodes add
``D(b, K/b) − D(1, k₀)``, not ``− L(b)``: ``W(1)`` holds a one-token decoder pass (the decoder's weights), so the
prefill's ``L`` is only the decoder's work beyond it, and each decode reads its own cross K/V (docs/serving.md,
"Encoder-decoder models").

``benchmarks/serve_interp.py`` prints the interpolation error against direct simulation.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from ..builders.registry import get_builder
from ..config import WorkloadSpec, build_graph
from ..config.digest import file_digests
from ..config.schema import jsonable
from ..config.serving import VLLM_BLOCK_SIZES, CostGrid, EngineConfig
from ..errors import MappingError
from ..hardware import Arch
from ..ir import Graph
from ..mapping.placement import UNFUSED_HINT
from ..options import Options, share_memory, sharing_memory
from ..report.writers import atomic_write_text
from ..scenarios.sampling import affine, layer_samples
from ..scenarios.serving import fits_first_memory, identical_layers, served
from ..scenarios.single import simulate_pass

Progress = Callable[[str, int, int], None]
FIRST_PREFILL = 16  # tokens of the smallest prefill simulated
GRID_ENGINE_KEYS = ("max_num_seqs", "max_num_batched_tokens", "max_model_len", "block_size", "cuda_graphs")
"""The engine keys the grid depends on (besides the KV capacity): a sweep over the others shares one grid."""


def geometric(first: int, last: int, ratio: float) -> list[int]:
    """first, first·r, first·r², … (rounded, distinct) below ``last``, then ``last``."""
    out: list[int] = []
    x = float(first)
    while round(x) < last:
        if not out or round(x) > out[-1]:
            out.append(round(x))
        x *= ratio
    return [*out, last]


def evenly(first: int, last: int, points: int) -> list[int]:
    """``points`` integers evenly from ``first`` to ``last`` (distinct; fewer when the range is short)."""
    if last <= first:
        return [last]
    return sorted({round(first + (last - first) * i / (points - 1)) for i in range(points)})


def interp(xs: list[int], ys: list[float], x: float) -> float:
    """Piecewise-linear ``y(x)`` through the points, clamped outside them."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect_right(xs, x) - 1
    f = (x - xs[i]) / (xs[i + 1] - xs[i])
    return ys[i] + f * (ys[i + 1] - ys[i])


def extend(xs: list[int], ys: list[float], x: float) -> float:
    """:func:`interp`, but beyond the last point along the last segment (clamped below the first point, and with
    a single point)."""
    if x <= xs[-1] or len(xs) < 2:
        return interp(xs, ys, x)
    return ys[-1] + (x - xs[-1]) * (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])


@dataclass(frozen=True)
class Grid:
    """The simulated shapes and their seconds."""

    prefill_tokens: list[int]
    prefill_s: list[float]
    prefill2_s: list[float]  # the same tokens as two sequences of half the length
    decode_batches: list[int]
    decode_kv: list[list[int]]  # [batch index][kv index]: each batch's KV lengths
    decode_s: list[list[float]]  # [batch index][kv index]
    # the same shapes' energy on one chip beyond its static power (report.json's dynamic_j + activity_j), when the
    # arch gives energy constants: an iteration's joules are interpolated as its seconds are (:meth:`joules`)
    prefill_j: list[float] | None = None
    prefill2_j: list[float] | None = None
    decode_j: list[list[float]] | None = None
    # the image encoder's pass over 1 and 2 images (seconds; joules as above), when the requests carry images
    encoder_s: list[float] | None = None
    encoder_j: list[float] | None = None
    # a model whose every request runs an encoder pass of its own (Whisper's audio): the prefill of m sequences
    # of one decoder token each, W(m), for m in :attr:`request_sequences` (1, 2 and max_num_seqs; seconds, joules
    # as above); the prefill grid's P₁ and P₂ hold one and two such passes, which :meth:`prefill` takes out
    # (:meth:`requests` prices them)
    request_s: list[float] | None = None
    request_j: list[float] | None = None
    request_sequences: list[int] | None = None
    # the share of the largest prefill's N² query-key pairs that its attention A(N) computed (:func:`pair_share`):
    # ½ for a causal fused kernel, which skips the blocks above the diagonal; 1 for unfused attention (all masked)
    pair_share: float = 1.0
    # the layer counts of the two samples the shapes were priced from (options.layer_samples: [1, 2]; [k + p, k + 2p]
    # after k distinct layers, in units of p), None when every shape simulated every layer; and how many of the
    # prefill and decode shapes were (a shape whose model overflows the first memory simulates every layer)
    layer_samples: list[int] | None = None
    layer_sampled_shapes: int = 0
    # the distinct dtype-rate fallbacks of the shapes' passes (:func:`rate_fallbacks`, in the order first met): an
    # fp8 model on an arch whose arrays list no fp8 rate runs its GEMMs at the bf16 rate, as accelsim run notes
    rate_notes: tuple[str, ...] = ()

    @property
    def simulations(self) -> int:
        images = 2 * len(self.encoder_s) if self.encoder_s is not None else 0  # with and without the images
        requests = len(self.request_s) if self.request_s is not None else 0
        return 2 * len(self.prefill_tokens) + sum(len(row) for row in self.decode_kv) + images + requests

    def encoder(self, images: int) -> float:
        """Seconds of the image encoder's pass over ``images`` images, ``E₁ + (images − 1)·(E₂ − E₁)`` (0 when the
        grid has no encoder points)."""
        if not images or self.encoder_s is None:
            return 0.0
        one, two = self.encoder_s
        return max(one + (images - 1) * (two - one), 0.0)

    def requests(self, sequences: int) -> float:
        """Seconds of the per-request encoder passes of ``sequences`` requests prefilled in one iteration (their
        first chunks): W(m) piecewise linear between the simulated m (0 when the model has none): each request's own
        encoder over its own input, the weights read once. (W(m) also holds m decoder tokens, which the prefill's
        own tokens count again: a 1-token decoder pass is about 0.1 % of Whisper base's encoder.)"""
        if not sequences or self.request_s is None:
            return 0.0
        return max(extend(self.request_sequences or [1, 2], self.request_s, sequences), 0.0)

    def _one(self, tokens: float) -> float:
        """P₁(tokens) less one request's encoder pass W(1) (none without :attr:`request_s`): the prefill's
        decoder; beyond the grid's last point along its last segment (a pass of more tokens than max_model_len is
        several sequences, whose token-wise work grows linearly)."""
        return extend(self.prefill_tokens, self.prefill_s, tokens) - (self.request_s[0] if self.request_s else 0.0)

    def _two(self, tokens: float) -> float:
        """P₂(tokens) less two requests' encoder passes W(2)."""
        return extend(self.prefill_tokens, self.prefill2_s, tokens) - (self.request_s[1] if self.request_s else 0.0)

    def prefill(self, tokens: float, scores: float | None = None, chunk_tokens: float | None = None) -> float:
        """A pass of ``tokens`` tokens whose ``chunk_tokens`` prefill tokens (default: all of them) attend to
        ``scores`` query-key pairs (default: one sequence, tokens²). The pairs among the chunks' own tokens, at
        most chunk_tokens², cost ``A(n)·S/n²`` (``L(n) + A(n)·S/n²``, from one sequence P₁ = L + A and two halves
        P₂ = L + A/2); the rest, pairs with earlier tokens in the KV cache, cost :meth:`context`."""
        one = self._one(tokens)
        if scores is None:
            return one
        attention = max(2 * (one - self._two(tokens)), 0.0)
        chunk = tokens if chunk_tokens is None else chunk_tokens
        own = min(scores, chunk * chunk)
        return one - attention + attention * own / (tokens * tokens) + self.context(chunk, scores - own)

    def context(self, chunk_tokens: float, pairs: float) -> float:
        """Seconds of ``chunk_tokens`` prefill tokens' attention to ``pairs`` query-key pairs with tokens already
        in the KV cache (``c = pairs / chunk_tokens`` of them, exactly for one chunk): the larger of reading those
        tokens' KV once, as a decode step reads its cache (``D(1, k₀ + c) − D(1, k₀)``, the batch-1 row, along its
        last segment beyond its end), and computing the pairs at the largest prefill's rate per pair it computed
        (``A(N)/(s·N²)``, N = ``max_num_batched_tokens``: the grid's most compute-bound pass, where the attention's
        fixed per-kernel time is least; ``s`` = :attr:`pair_share`, ½ for a causal fused kernel, whose A(N) computes
        only the pairs at or below the diagonal, while every context pair is computed, none masked). So a chunk of
        1 token after ``c`` costs about a decode step at KV ``c``, and no chunk's context computes faster than the
        largest prefill's attention."""
        if pairs <= 0 or chunk_tokens <= 0:
            return 0.0
        kvs, row = self.decode_kv[0], self.decode_s[0]
        read = max(extend(kvs, row, kvs[0] + pairs / chunk_tokens) - row[0], 0.0)
        n = self.prefill_tokens[-1]
        compute = max(2 * (self._one(n) - self._two(n)), 0.0) * pairs / (self.pair_share * n * n)
        return max(read, compute)

    def decode(self, batch: float, kv: float) -> float:
        """A decode step of ``batch`` sequences with ``kv`` cached tokens each: linear in ``kv`` along the rows of
        the two grid batches around ``batch``, then linear in the batch. The larger batch's row ends at the KV
        capacity it can hold, below the KV lengths a smaller batch reaches: beyond its end the row goes on along
        its last segment (a decode step's time is affine in its KV reads), not clamped (which priced b = 100 at
        KV 1,200 on llama2_7b_h100 12 % low)."""
        bs = self.decode_batches
        if batch <= bs[0] or len(bs) == 1:
            return interp(self.decode_kv[0], self.decode_s[0], kv)
        if batch >= bs[-1]:
            return interp(self.decode_kv[-1], self.decode_s[-1], kv)
        i = bisect_right(bs, batch) - 1
        lo = interp(self.decode_kv[i], self.decode_s[i], kv)
        hi = extend(self.decode_kv[i + 1], self.decode_s[i + 1], kv)
        return lo + (batch - bs[i]) / (bs[i + 1] - bs[i]) * (hi - lo)

    def iteration(self, prefill_tokens: int, decodes: int, kv_sum: int, scores: int | None = None,
                  drafts: int = 0) -> float:
        """Seconds of an iteration (see the module docstring); ``drafts``: the decodes' draft tokens verified
        (speculative decoding), token-wise work beside their own tokens."""
        if decodes == 0:
            return self.prefill(prefill_tokens, scores) if prefill_tokens else 0.0
        kv = kv_sum / decodes
        # the drafts' token-wise work beside the iteration's own tokens: L(n + drafts) − L(n), never negative
        extra = max(self.prefill(prefill_tokens + decodes + drafts, 0) - self.prefill(prefill_tokens + decodes, 0),
                    0.0) if drafts else 0.0
        if prefill_tokens == 0:
            return self.decode(decodes, kv) + extra
        n = prefill_tokens + decodes
        alone = self.decode(decodes, kv)
        if self.request_s:
            # a per-request encoder (Whisper): the prefill grid's pass is the decoder's beyond W(1), which holds a
            # one-token decoder pass (its weights, one cross K/V read), so the decodes add their step less one
            # sequence's at the shortest KV; each decode's own cross-K/V read stays
            return self.prefill(n, scores, prefill_tokens) + alone - self.decode(1, self.decode_kv[0][0]) + extra
        # one pass over all n tokens with the chunks' attention, plus the decodes' attention as their own step prices
        # it: D(b, K/b) less a pass of their b tokens without attention, L(b) (every decode keeps its own CTAs in the
        # one varlen attention call, reading its KV); never below the decodes alone (probe p184 #1: P(p + b) +
        # D(b, K/b) − D(b, k₀) priced 127 decodes and a 1-token prompt 8 % below the 127 decodes alone, as
        # subtracting D(b, k₀) took their attention at k₀ out)
        attention = max(alone - self.prefill(decodes, 0), 0.0)
        return max(self.prefill(n, scores, prefill_tokens) + attention, alone) + extra

    @property
    def has_energy(self) -> bool:
        return self.prefill_j is not None and self.prefill2_j is not None and self.decode_j is not None \
            and (self.request_s is None or self.request_j is not None)

    def joules(self) -> Grid:
        """The energy grid: these shapes with their joules in place of their seconds, so that its
        :meth:`iteration` gives an iteration's energy on one chip (beyond static power) by the same rule."""
        if not self.has_energy:
            raise ValueError("this grid has no energy (the arch gives no energy constants)")
        return Grid(self.prefill_tokens, self.prefill_j, self.prefill2_j, self.decode_batches,  # type: ignore[arg-type]
                    self.decode_kv, self.decode_j, encoder_s=self.encoder_j,  # type: ignore[arg-type]
                    request_s=self.request_j, request_sequences=self.request_sequences, pair_share=self.pair_share, layer_samples=self.layer_samples,
                    layer_sampled_shapes=self.layer_sampled_shapes, rate_notes=self.rate_notes)

    def to_dict(self) -> dict:
        out = {"simulations": self.simulations, "prefill_tokens": self.prefill_tokens, "prefill_s": self.prefill_s,
               "prefill2_s": self.prefill2_s, "decode_batches": self.decode_batches, "decode_kv": self.decode_kv,
               "decode_s": self.decode_s, "pair_share": self.pair_share, "layer_samples": self.layer_samples,
               "layer_sampled_shapes": self.layer_sampled_shapes}
        if self.has_energy:
            out.update({"prefill_j": self.prefill_j, "prefill2_j": self.prefill2_j, "decode_j": self.decode_j})
        if self.encoder_s is not None:
            out["encoder_images"] = [1, 2]
            out["encoder_s"] = self.encoder_s
            if self.encoder_j is not None:
                out["encoder_j"] = self.encoder_j
        if self.request_s is not None:
            out["request_sequences"] = self.request_sequences
            out["request_s"] = self.request_s
            if self.request_j is not None:
                out["request_j"] = self.request_j
        return out


_CACHE: dict[str, Grid] = {}


def shape(model: WorkloadSpec, **params: object) -> WorkloadSpec:
    """``model`` as one pass of the given shape (no decode steps of its own), as a server runs it (a prefill's
    logits at each sequence's last position: :func:`accelsim.scenarios.serving.served`)."""
    model = served(model)
    return replace(model, params={**model.params, "decode_steps": 0, **params})


def engine_model(model: WorkloadSpec, engine: EngineConfig) -> WorkloadSpec:
    """``model`` as the engine's model code builds it: ``fused_projections`` from ``engine.fused_projections``
    (vLLM's QKVParallelLinear and MergedColumnParallelLinear, and for ``hf`` a ``gelu_new`` MLP's one fused GELU,
    vLLM's NewGELU kernel, not transformers' 8 eager kernels) unless the model's params set it (not null), for the
    builders that take it; ``tower_layers: feature`` unless set (vLLM's LLaVA tower ends at the feature layer)."""
    fields = get_builder(model.model).params.model_fields
    if "tower_layers" in fields and model.params.get("tower_layers") is None:
        model = replace(model, params={**model.params, "tower_layers": "feature"})
    if model.params.get("fused_projections") is not None or "fused_projections" not in fields:
        return model
    return replace(model, params={**model.params, "fused_projections": engine.fused_projections})


def simulate_seconds(spec: WorkloadSpec, arch: Arch, options: Options, *, graphs: bool = False) -> float:
    """Seconds of one pass of ``spec`` on ``arch`` as ``accelsim run`` reports them; with ``graphs`` under
    ``options.execution = "cuda_graph"`` (vLLM's captured CUDA graphs: one graph launch per iteration, each
    kernel still pays the device's ``kernel_dispatch``)."""
    return simulate_shape(spec, arch, options, graphs=graphs)[0]


class Simulated(NamedTuple):
    """One grid shape's simulated pass."""

    seconds: float
    joules: float | None  # on one chip beyond its static power; None when the arch gives no energy constants
    computed: float  # :func:`computed_attention`
    layers: tuple[int, int] | None = None  # the layer counts of the two samples it was priced from; None: every layer
    rate_notes: tuple[str, ...] = ()  # :func:`rate_fallbacks` of its report's notes


RATE_NOTE = re.compile(r"\d+ op\(s\) of dtype (\S+): (.+)")
"""A pass's note that a dtype ran at another's rate (:func:`accelsim.report.summary.rate_notes` and
``base_rate_notes``): its op count, the dtype, and what ran it at which rate."""


def rate_fallbacks(notes: list[str]) -> tuple[str, ...]:
    """The :data:`RATE_NOTE` notes of one pass without their op counts, which are that pass's (a prefill of 16
    tokens and a decode of 64 sequences count other ops), as ``dtype: what ran it``: e.g. ``fp8: the systolic
    arrays have no fp8 rate and run them at their bf16 rate``."""
    return tuple(f"{m[1]}: {m[2]}" for n in notes if (m := RATE_NOTE.fullmatch(n)))


def _distinct(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for g in groups for n in g))


def computed_attention(report: dict) -> float:
    """The share of a pass's fused attention MACs (every query × key) its kernels computed: Σ macs ×
    ``mapping.mac_fraction`` / Σ macs over the op rows that give a ``mac_fraction`` (a causal FlashAttention skips
    the blocks above the diagonal); 1 when none does (unfused attention computes every score, masked or not)."""
    return _share(*attention_macs(report))


def attention_macs(report: dict) -> tuple[float, float]:
    """The fused attention MACs of a pass's op rows that give a ``mapping.mac_fraction`` and the MACs its kernels
    computed of them (:func:`computed_attention` is their ratio)."""
    macs = computed = 0.0
    for op in report.get("ops") or ():
        share = (op.get("mapping") or {}).get("mac_fraction")
        if share is not None and op.get("macs"):
            macs += op["macs"]
            computed += op["macs"] * share
    return macs, computed


def _share(macs: float, computed: float) -> float:
    return computed / macs if macs else 1.0


def pair_share(one: float, two: float) -> float:
    """The share of the N² query-key pairs of ``A(N) = 2(P₁ − P₂)`` that its kernels computed, from the computed
    shares ``one`` of P₁(N)'s attention (N² pairs) and ``two`` of P₂(N)'s (2·(N/2)² = N²/2): A computes
    2·(one·N² − two·N²/2) = (2·one − two)·N² of them. A causal kernel that computes the s²/2 + s·b/2 pairs of a
    sequence of s tokens with its diagonal blocks of b (e.g. llama2_7b on h100 at N = 2,048: 0.53125 and 0.5625)
    gives exactly ½ whatever b; unfused attention 1 (at most 1; 1 when the shares give none)."""
    share = 2 * one - two
    return min(share, 1.0) if share > 0 else 1.0


def simulate_shape(spec: WorkloadSpec, arch: Arch, options: Options, *, graphs: bool = False) -> Simulated:
    """:func:`simulate_seconds`, the pass's energy on one chip beyond its static power (``dynamic_j`` +
    ``activity_j`` of its report; None when the arch gives no energy constants) and its attention's computed share
    (:func:`computed_attention`).

    With ``options.layer_samples`` (the default), a model of n > 2 identical layers whose parameters and KV caches
    all fit the first memory is simulated with 1 and with 2 layers (after k distinct layers, DeepSeek-V3's 3 dense
    ones: with k + 1 and k + 2, :func:`~accelsim.scenarios.sampling.layer_samples`; layers repeating a unit of p,
    Gemma-2's or Qwen3-Next's: with k + p and k + 2p, n counting units) and both figures taken affine in n,
    f₁ + (n − 1)·(f₂ − f₁), as the serving scenario does (docs/architecture.md, "Layer samples in serving"): the
    layers run back to back, so a pass's time and energy grow by one unit's per unit."""
    opts = options.model_copy(update={"execution": "cuda_graph"}) if graphs else options
    layers = identical_layers(spec) if opts.layer_samples and not opts.trace else None
    samples = layer_samples(layers)
    if layers is not None and samples is not None:  # k distinct layers then n alike: the first k + 1 and k + 2
        g1, g2 = (build_graph(replace(spec, params={**spec.params, "layers": k}), arch.dtype) for k in samples)
        alike = layers[1] // layers[2]  # the units
        if fits_first_memory(g1, g2, alike, arch):
            (s1, j1, a1, n1), (s2, j2, a2, n2) = (_simulated(g, spec, arch, opts) for g in (g1, g2))
            joules = affine(j1, j2, alike) if j1 is not None and j2 is not None else None
            # the attention MACs and those computed are affine too (a local window's layers compute another share
            # than a global one's: Gemma-2's unit of both, Gemma-3's prefix of local layers)
            share = _share(*(affine(one, two, alike) for one, two in zip(a1, a2, strict=True)))
            return Simulated(affine(s1, s2, alike), joules, share, samples, _distinct(n1, n2))
    s, j, a, n = _simulated(build_graph(spec, arch.dtype), spec, arch, opts)
    return Simulated(s, j, _share(*a), rate_notes=n)


def _simulated(graph: Graph, spec: WorkloadSpec, arch: Arch, opts: Options) -> tuple[float, float | None,
                                                                                     tuple[float, float],
                                                                                     tuple[str, ...]]:
    """One simulated pass of ``graph``: its seconds, energy (as :class:`Simulated`'s), attention MACs
    (:func:`attention_macs`) and dtype-rate fallbacks (:func:`rate_fallbacks`)."""
    p, _ = simulate_pass(graph, arch, opts, name=None, workload=spec)
    energy = p.report.get("energy")
    busy = energy["dynamic_j"] + energy.get("activity_j", 0.0) if energy else None
    return p.timing.seconds, busy, attention_macs(p.report), rate_fallbacks(p.report.get("notes") or [])


@dataclass(frozen=True)
class Footprint:
    """What one chip of a replica holds: its share of the weights, KV-cache bytes per token of a sequence, and a
    sequence's fixed-size recurrent state (the graph's ``state_cache_bytes``: Gated DeltaNet, Mamba mixers, Kimi's KDA,
    MiniMax's lightning attention, LFM2's short-conv taps); and the model's
    name and Hugging Face architecture (None when it has none) as ``accelsim run`` reports them."""

    weight_bytes: int
    kv_bytes_per_token: float
    state_bytes_per_seq: int = 0
    image_positions: int = 0  # prompt tokens an image takes (0: the model has no image encoder)
    long: bool = False  # the decode graph at KV max_model_len has notes (its positions may pass the model's context)
    name: str | None = None  # the built graph's name (a Hugging Face config's _name_or_path or folder)
    architecture: str | None = None  # a Hugging Face model's (e.g. Qwen2ForCausalLM)
    # (window, bytes a token of the layers with that window) for each sliding window shorter than max_model_len
    windows: tuple[tuple[int, float], ...] = ()
    # the KV cache a sequence holds whatever its length beyond its recurrent state: an encoder-decoder's
    # cross-attention K/V over the encoder's output (Whisper base: 6 layers × 2 × 1500 frames × 512 × 2 B =
    # 18,432,000 B); a request with it also runs an encoder pass of its own when its prefill starts
    cross_bytes_per_seq: int = 0

    def cross_blocks(self, block_size: int) -> int:
        """KV blocks (of ``block_size`` × :attr:`kv_bytes_per_token`) a sequence's :attr:`cross_bytes_per_seq`
        fill, rounded up: vLLM's per-request cross-attention block table (⌈1500 / 16⌉ = 94 for Whisper, whose
        cross and self K/V take the same bytes a position)."""
        if not self.cross_bytes_per_seq or self.kv_bytes_per_token <= 0:
            return 0
        return -(-self.cross_bytes_per_seq // round(block_size * self.kv_bytes_per_token))

    def blocks(self, tokens: int, computed: int, block_size: int, hybrid: bool) -> int:
        """KV blocks (of ``block_size`` x :attr:`kv_bytes_per_token`) a sequence holds with slots for ``tokens``
        after ``computed`` were computed: ceil(tokens / block_size), or with ``hybrid`` (vLLM's hybrid KV-cache
        manager) each window's layers without the blocks wholly before token computed - window + 1
        (``SlidingWindowManager.remove_skipped_blocks``), the bytes rounded up to whole blocks."""
        full = -(-tokens // block_size)
        if not hybrid or not self.windows:
            return full
        freed = sum(b * max(0, computed - w + 1) // block_size for w, b in self.windows)
        if not freed:
            return full
        return -(-round(full * self.kv_bytes_per_token - freed) // round(self.kv_bytes_per_token))

    def scores(self, computed: int, new: int) -> float:
        """The query-key pairs a prefill chunk of ``new`` tokens after ``computed`` cached ones attends to, as
        :meth:`Grid.prefill` takes them: its own new² (the convention of the grid's A(n)) and its pairs with the
        cached tokens, new·computed, of which a sliding window's layers (:attr:`windows`, their share of the
        layers' KV bytes a token standing for their share of the attention) count only those in the band
        (:func:`band_pairs`), as a fused windowed kernel skips the rest (``cost.attention.tile_blocks(window=)``,
        ca960a7). Without windows new·(computed + new), every earlier token attended."""
        context = new * computed
        if self.windows and computed > 0 and self.kv_bytes_per_token > 0:
            context -= sum(b / self.kv_bytes_per_token * (new * computed - band_pairs(computed, new, w))
                           for w, b in self.windows)
        return new * new + max(context, 0.0)


def band_pairs(computed: int, new: int, window: int) -> int:
    """The pairs of ``new`` queries at positions computed, ..., computed + new − 1 with the ``computed`` cached keys
    that lie in a sliding window of ``window`` keys (its own included): the query at computed + j sees the keys from
    computed + j − (window − 1) (FlashAttention's band, ``window_size = (window − 1, 0)``, as ca960a7 prices the
    prefill), so min(computed, window − 1 − j) cached ones, none from j = window − 1 on. Summed: ``c`` for each
    of the first a = clamp(window − c, 0, new) queries, then window − 1 − j for j from a up to
    min(new, window − 1)."""
    if computed <= 0 or new <= 0 or window <= 1:
        return 0
    a = min(max(window - computed, 0), new)
    b = max(min(new, window - 1), a)
    return a * computed + (b - a) * (2 * window - 1 - a - b) // 2


def footprint(model: WorkloadSpec, arch: Arch, engine: EngineConfig) -> Footprint:
    """From decode graphs of batch 1 (built, not simulated): the weights, the KV cache's growth per token, the
    recurrent state (graph meta ``state_cache_bytes``, the same at any length) and an image's prompt tokens (graph
    meta ``image_positions``).

    The growth per token is every layer's: measured from one cached token to two, inside any sliding window or
    attention chunk (Mistral's 4,096, Gemma-2's local layers, GPT-OSS's 128), not averaged up to
    ``max_model_len``, which a window flattened (Mistral-7B's 131,072 B a token read as 16,324
    at 32,768, so eight times the sequences fitted). vLLM sizes a KV block so too: each layer's page of
    ``block_size`` tokens, times the layers (its ``get_num_blocks``: free memory // page size // layers), whether
    a layer's attention is windowed or not. ``windows`` (:func:`_windows`) lets :meth:`Footprint.blocks` free
    a window's blocks as vLLM's hybrid KV-cache manager does (``engine.hybrid_kv_cache``)."""
    lo, near, hi = 1, 2, longest_decode(model, engine)  # max_model_len is at least 2
    a, n = (_decode_facts(model, arch, k) for k in (lo, near))
    b = {lo: a, near: n}.get(hi) or _decode_facts(model, arch, hi)
    grow = float(n.kv_cache_bytes) - float(a.kv_cache_bytes)
    state = b.state_cache_bytes
    # a decode step at KV length k leaves k + 1 tokens' K/V (tlayers' kv_meta, as accelsim run's serving
    # kv_cache_bytes counts it): what the cache holds beyond them and the states, the same at every length, is the
    # cross-attention K/V over the encoder's output (0 for a decoder-only model)
    cross = max(round(float(a.kv_cache_bytes) - 2 * grow) - state, 0)
    return Footprint(b.weight_bytes, grow, state, b.image_positions, b.long, b.name, b.architecture,
                     _windows(model, arch, engine.max_model_len, {lo: float(a.kv_cache_bytes),
                                                                  near: float(n.kv_cache_bytes),
                                                                  hi: float(b.kv_cache_bytes)}),
                     cross)


class _DecodeFacts(NamedTuple):
    """What :func:`footprint` reads of the decode graph of batch 1 at one KV length."""

    weight_bytes: int
    kv_cache_bytes: int
    state_cache_bytes: int
    image_positions: int
    long: bool  # the graph has notes
    name: str
    architecture: str | None


def _facts(g: Graph) -> _DecodeFacts:
    architecture = g.meta.get("architecture")
    return _DecodeFacts(int(g.weight_bytes), g.meta.get("kv_cache_bytes", 0), int(g.meta.get("state_cache_bytes", 0)),
                        int(g.meta.get("image_positions", 0)), bool(g.meta.get("notes")), g.name,
                        str(architecture) if architecture else None)


def _decode_facts(model: WorkloadSpec, arch: Arch, kv_len: int) -> _DecodeFacts:
    """:func:`footprint`'s facts of the decode graph of batch 1 at ``kv_len``. A model of k distinct layers then n
    alike in units of p (:func:`identical_layers`, with :func:`layer_samples`) is built with its first k + p and
    k + 2p layers, as the grid's passes are, and its bytes (weights, KV cache, recurrent states: each layer's own
    tensors, the same in every unit) extrapolated to the n / p units by :func:`affine`, which is exact for integer
    bytes (probe p98 #3: DeepSeek-V3's three 61-layer graphs were about 20 % of its serve); the other facts (the
    notes on positions, the name and architecture) must agree between the two samples, else the whole model is
    built."""
    spec = shape(model, phase="decode", kv_len=kv_len, batch=1)
    layers = identical_layers(spec)
    samples = layer_samples(layers)
    if layers is not None and samples is not None:
        one, two = (_facts(build_graph(replace(spec, params={**spec.params, "layers": k}), arch.dtype))
                    for k in samples)
        alike = layers[1] // layers[2]  # the units
        counts = ("weight_bytes", "kv_cache_bytes", "state_cache_bytes")
        if one[3:] == two[3:] and all(type(getattr(f, c)) is int for f in (one, two) for c in counts):
            return two._replace(**{c: affine(getattr(one, c), getattr(two, c), alike) for c in counts})
    return _facts(build_graph(spec, arch.dtype))


def longest_decode(model: WorkloadSpec, engine: EngineConfig) -> int:
    """The KV length of the grid's and footprint's longest decode shape: ``max_model_len`` where the model takes
    it (one beyond the last decode a request of max_model_len tokens runs, at KV max_model_len − 1, kept so that
    the grids of models without a position limit stay as they were), else ``max_model_len − 1``: a model of
    ``max_model_len`` learned positions (GPT-2's 1,024, Whisper's 448) serves max_model_len tokens, its last
    token at position max_model_len − 1 (vLLM serves both with max_model_len = their positions)."""
    top = engine.max_model_len
    return top if _takes(model, phase="decode", kv_len=top, batch=1) else top - 1


def _takes(model: WorkloadSpec, **params: object) -> bool:
    """Whether ``model``'s builder accepts the pass ``params`` (:func:`shape`; its parameters validated, no graph
    built); true for a builder without those parameters."""
    fields = get_builder(model.model).params
    if not set(params) <= set(fields.model_fields):
        return True
    try:
        fields.model_validate({**shape(model, **params).params})
    except ValidationError:
        return False
    return True


def _windows(model: WorkloadSpec, arch: Arch, max_model_len: int,
             memo: dict[int, float]) -> tuple[tuple[int, float], ...]:
    """The sliding windows shorter than ``max_model_len`` and their layers' bytes a token, found from the cache's
    growth: a decode step at KV length k leaves min(k + 1, W) tokens in a layer of window W, so the growth from k to
    k + 1, d(k), is the bytes a token of the layers with W >= k + 2: it drops by a window's bytes at k = W - 1.
    Bisection finds each drop between 1 and max_model_len - 2 (windows of 3 to max_model_len - 1); ``memo``: the
    cache's bytes at KV lengths already built."""

    def cache(k: int) -> float:
        if k not in memo:
            memo[k] = float(_decode_facts(model, arch, k).kv_cache_bytes)
        return memo[k]

    def d(k: int) -> float:
        return cache(k + 1) - cache(k)

    found: list[tuple[int, float]] = []

    def split(lo: int, dlo: float, hi: int, dhi: float) -> None:
        if dlo == dhi:
            return
        if hi - lo == 1:  # d drops at hi: layers of window hi + 1 stop growing
            found.append((hi + 1, dlo - dhi))
            return
        mid = (lo + hi) // 2
        dmid = d(mid)
        split(lo, dlo, mid, dmid)
        split(mid, dmid, hi, dhi)

    top = max_model_len - 2  # d(top) holds the layers of windows >= max_model_len: never freed
    last = max(memo)
    if last >= top + 1 and memo[last] - cache(1) == (last - 1) * d(1):
        return ()  # the cache grows alike at every length up to max_model_len: no window below it (no graph built)
    if top > 1:
        split(1, d(1), top, d(top))
    return tuple(found)


def longest_notes(model: WorkloadSpec, arch: Arch, engine: EngineConfig, fp: Footprint | None = None) -> list[str]:
    """The model's notes on the longest request the engine admits: the last decode step of one of
    ``max_model_len`` tokens (KV ``max_model_len`` − 1, positions up to ``max_model_len``), such as a context
    beyond the model's (the builders' context_notes, which ``accelsim run`` prints). Built only when ``fp``'s graph
    one position longer had notes (or without ``fp``)."""
    if fp is not None and not fp.long:
        return []
    g = build_graph(shape(model, phase="decode", kv_len=engine.max_model_len - 1, batch=1), arch.dtype)
    return [str(n) for n in g.meta.get("notes", ())]


class GridShapeError(MappingError):
    """A shape of the iteration-cost grid that the arch's memories cannot hold, named with its pass; ``key`` is the
    serving file's key that sets that shape (the error's place), ``unfused`` whether its attention is unfused."""

    def __init__(self, message: str, key: str, unfused: bool):
        if unfused:  # the serving file's hint names its own key (model.attention), not the experiment's
            message = message.replace(UNFUSED_HINT, "")
        super().__init__(message)
        self.key, self.unfused = key, unfused


def describe_pass(spec: WorkloadSpec) -> str:
    """A grid shape's pass in words: "prefill of 65,536 tokens (1 sequence of 65,536, unfused attention)"."""
    p = spec.params
    batch = int(p.get("batch") or 1)
    seqs = f"{batch:,} sequence{'s' if batch > 1 else ''}"
    attention = f", {p['attention']} attention" if p.get("attention") else ""
    if p.get("phase") == "decode":
        return f"decode step of {seqs} at KV length {int(p['kv_len']):,}{attention}"
    n = int(p["seq_len"])
    images = f", {p['images']} image(s)" if p.get("images") else ""
    return f"prefill of {batch * n:,} tokens ({seqs} of {n:,}{images}{attention})"


def simulate_all(shapes: list[WorkloadSpec], arch: Arch, options: Options, *, graphs: bool, workers: int,
                 progress: Progress | None = None, keys: list[str] | None = None) -> list[Simulated]:
    """:func:`simulate_shape` of every shape, in order; on ``workers`` processes when more than one (each
    simulation is deterministic, so the results do not depend on it). A shape the memories cannot hold is a
    :class:`GridShapeError` naming its pass, at its key in ``keys`` when given (else "model")."""
    try:
        return _simulate_all(shapes, arch, options, graphs=graphs, workers=workers, progress=progress)
    except _ShapeFailed as e:
        spec = shapes[e.index]
        raise GridShapeError(f"the iteration-cost grid's {describe_pass(spec)} does not fit: {e.error}",
                             keys[e.index] if keys else "model", spec.params.get("attention") == "unfused") from None


class _ShapeFailed(Exception):
    def __init__(self, index: int, error: MappingError):
        super().__init__(index, error)
        self.index, self.error = index, error


def _simulate_all(shapes: list[WorkloadSpec], arch: Arch, options: Options, *, graphs: bool, workers: int,
                  progress: Progress | None) -> list[Simulated]:
    if workers <= 1 or len(shapes) < 2:
        out = []
        for done, spec in enumerate(shapes):
            if progress:
                p = spec.params
                what = f"prefill of {p['seq_len']} tokens" if p["phase"] == "prefill" else \
                    f"decode of {p['batch']} at KV {p['kv_len']}"
                what += f" with {p['images']} image(s)" if p.get("images") else ""
                progress(f"simulating {what}", done, len(shapes))
            try:
                out.append(simulate_shape(spec, arch, options, graphs=graphs))
            except MappingError as e:
                raise _ShapeFailed(done, e) from None
        return out
    import concurrent.futures as cf
    import multiprocessing as mp

    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    n = min(workers, len(shapes))
    # each process's default options.memory_budget is its share of the machine's (of this one's, in a sweep worker)
    with cf.ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context(method), initializer=share_memory,
                                initargs=(n * sharing_memory(),)) as pool:
        futures = [pool.submit(simulate_shape, spec, arch, options, graphs=graphs) for spec in shapes]
        for done, _ in enumerate(cf.as_completed(futures)):
            if progress:
                progress("simulating the iteration-cost grid", done + 1, len(shapes))
        out = []
        for i, f in enumerate(futures):
            try:
                out.append(f.result())
            except MappingError as e:
                raise _ShapeFailed(i, e) from None
        return out


def build_grid(model: WorkloadSpec, arch: Arch, options: Options, engine: EngineConfig, grid: CostGrid,
               kv_tokens: int, progress: Progress | None = None, image_positions: int = 0,
               seq_tokens: int = 0) -> Grid:
    """Simulate every grid shape once (memoised in this process by model, the contents of the files its parameters
    name (:func:`~accelsim.config.digest.file_digests`), arch, options, the engine's
    :data:`GRID_ENGINE_KEYS`, grid, the replica's KV capacity ``kv_tokens`` and ``image_positions``; with
    ``cost.cache_dir`` also in a file there, keyed by all that and accelsim's source, so another process or run
    reuses it). With ``image_positions`` (an image's prompt tokens; 0 for text-only requests) the image encoder's
    points too (the module docstring). With ``seq_tokens`` (a sequence's cross-attention K/V in KV-cache tokens,
    :meth:`Footprint.cross_blocks` × block size; 0 for a decoder-only model) the per-request encoder's points
    W(1), W(2), and a batch's decode shapes within the KV capacity its sequences' cross caches leave."""
    opts = options.model_copy(update={"trace": False, "plots": False,
                                      **({"all_reduce": "custom"} if engine.custom_all_reduce else {})})
    model = engine_model(model, engine)
    limits = engine.model_dump(include=set(GRID_ENGINE_KEYS))
    # the files the model's parameters name by their contents, not their paths alone (probe p271 #1: an hf
    # config.json rewritten in one process, or in cost.cache_dir's folder, kept the first file's grid)
    key = json.dumps(jsonable([model.model, model.params, file_digests(model.params), arch.model_dump(),
                               opts.model_dump(), limits, grid.model_dump(exclude={"workers", "cache_dir"}), kv_tokens,
                               image_positions, *([seq_tokens] if seq_tokens else [])]),
                     sort_keys=True)
    if key in _CACHE:
        return _CACHE[key]
    file = _cache_file(grid.cache_dir, key) if grid.cache_dir else None
    if file is not None and (cached := _read_cached(file)) is not None:
        _CACHE[key] = cached
        return cached
    # one sequence's prefill is at most max_model_len tokens: for a model that takes no more (learned positions), a
    # larger budget runs several (Grid.prefill goes on along the last segment beyond it); the others' grids as before
    last = engine.max_num_batched_tokens
    if last > engine.max_model_len and not _takes(model, phase="prefill", seq_len=last, batch=1):
        last = engine.max_model_len
    tokens = geometric(min(FIRST_PREFILL, last), last, grid.token_ratio)
    # with cross caches, a batch no larger than the KV capacity holds at the shortest KV length
    most = max(min(engine.max_num_seqs, kv_tokens // (seq_tokens + engine.block_size)), 1) if seq_tokens \
        else engine.max_num_seqs
    batches = geometric(1, most, grid.batch_ratio)
    first = min(engine.block_size, engine.max_model_len)
    top = longest_decode(model, engine)
    kvs = [evenly(first, max(min(top, kv_tokens // b - seq_tokens), first), grid.kv_points) for b in batches]
    shapes = [shape(model, phase="prefill", seq_len=n, batch=1) for n in tokens]
    shapes += [shape(model, phase="prefill", seq_len=max(n // 2, 1), batch=2) for n in tokens]
    shapes += [shape(model, phase="decode", kv_len=k, batch=b) for b, row in zip(batches, kvs, strict=True)
               for k in row]
    images = (1, 2) if image_positions else ()
    shapes += [shape(model, phase="prefill", seq_len=m * image_positions, batch=1, layers=1, images=i)
               for m in images for i in (m, 0)]
    # W(m): m requests' encoder passes, one decoder token each
    sequences = sorted({1, 2, max(batches)}) if seq_tokens else []
    shapes += [shape(model, phase="prefill", seq_len=1, batch=m) for m in sequences]
    # what sets each shape, for the error of one the memories cannot hold: the token budget the prefills, the
    # sequences the decodes, the model's image the encoder's passes
    keys = ["engine.max_num_batched_tokens"] * (2 * len(tokens)) + ["engine.max_num_seqs"] * sum(map(len, kvs))
    keys += ["model"] * (2 * len(images) + len(sequences))
    results = simulate_all(shapes, arch, opts, graphs=engine.cuda_graphs, workers=grid.workers, progress=progress,
                           keys=keys)
    fallbacks = _distinct(*(r.rate_notes for r in results))  # every pass's, the encoders' too
    results, per_request = results[:len(results) - len(sequences)], results[len(results) - len(sequences):]
    cut = len(results) - 2 * len(images)
    results, pairs = results[:cut], results[cut:]
    one, two, decode = _split([r.seconds for r in results], len(tokens), kvs)
    energy: dict[str, list | None] = {}
    if all(r.joules is not None for r in results):  # the arch gives energy constants
        energy = dict(zip(("prefill_j", "prefill2_j", "decode_j"),
                          _split([r.joules for r in results], len(tokens), kvs), strict=True))
    if images:  # each pair: with the images, without them
        energy["encoder_s"] = [max(pairs[k][0] - pairs[k + 1][0], 0.0) for k in (0, 2)]
        joules = [(pairs[k][1], pairs[k + 1][1]) for k in (0, 2)]
        energy["encoder_j"] = [max(a - b, 0.0) for a, b in joules] \
            if all(a is not None and b is not None for a, b in joules) else None  # type: ignore[operator]
    if sequences:
        energy["request_s"] = [r.seconds for r in per_request]
        energy["request_sequences"] = sequences
        energy["request_j"] = [r.joules for r in per_request] \
            if all(r.joules is not None for r in per_request) else None
    share = pair_share(results[len(tokens) - 1].computed, results[2 * len(tokens) - 1].computed)
    sampled = [r.layers for r in results if r.layers is not None]  # the encoder's passes (1 layer) left out
    out = Grid(tokens, one, two, batches, kvs, decode, **energy, pair_share=share,  # type: ignore[arg-type]
               layer_samples=list(sampled[0]) if sampled else None, layer_sampled_shapes=len(sampled),
               rate_notes=fallbacks)
    _CACHE[key] = out
    if file is not None:
        atomic_write_text(file, json.dumps({**out.to_dict(), "rate_notes": list(fallbacks)}, allow_nan=False))
    return out


def _split(values: list, n_tokens: int, kvs: list[list[int]]) -> tuple[list, list, list[list]]:
    """The simulated shapes' figures (in :func:`build_grid`'s order) as the one-sequence prefills, the
    two-sequence prefills and the decodes by batch row."""
    rest = iter(values[2 * n_tokens:])
    return values[:n_tokens], values[n_tokens:2 * n_tokens], [[next(rest) for _ in row] for row in kvs]


def _source_digest() -> str:
    """sha256 of accelsim's own source files: a cached grid is only reused by the code that computed it."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _cache_file(folder: str, key: str) -> Path:
    return Path(folder) / f"grid-{hashlib.sha256((_source_digest() + key).encode()).hexdigest()[:24]}.json"


def _read_cached(file: Path) -> Grid | None:
    """The grid stored in ``file``, or None when it is missing or unreadable (it is then simulated again)."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        return Grid(*(data[k] for k in ("prefill_tokens", "prefill_s", "prefill2_s", "decode_batches", "decode_kv",
                                        "decode_s")),
                    *(data.get(k) for k in ("prefill_j", "prefill2_j", "decode_j", "encoder_s", "encoder_j",
                                            "request_s", "request_j")),
                    request_sequences=data.get("request_sequences"),
                    pair_share=float(data["pair_share"]), layer_samples=data.get("layer_samples"),
                    layer_sampled_shapes=int(data.get("layer_sampled_shapes", 0)),
                    rate_notes=tuple(str(n) for n in data.get("rate_notes", ())))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def block_too_big(fp: Footprint, arch: Arch, engine: EngineConfig) -> str | None:
    """Why a replica holds no KV block where the memory left after the weights (and the recurrent states) holds one
    token's KV but not ``block_size`` tokens' of it, naming both numbers (probe p132 #3: a 100,000,000-token block
    was blamed on the model's weights); None where that is not so (:func:`kv_blocks` sizes the blocks)."""
    capacity = arch.memory(arch.main_memory).usable  # capacity × hbm.usable_fraction (what the driver reports)
    states = engine.max_num_seqs * fp.state_bytes_per_seq
    room = capacity * engine.gpu_memory_fraction - fp.weight_bytes - states
    per_block = engine.block_size * fp.kv_bytes_per_token
    if fp.kv_bytes_per_token <= 0 or room < fp.kv_bytes_per_token or per_block <= room:
        return None
    held = f" and {engine.max_num_seqs} sequences' recurrent states ({states:,} B)" if states else ""
    fits = math.floor(room / fp.kv_bytes_per_token)
    # the largest size the config accepts that fits (probe p263: "at most 181 tokens" named no size vLLM takes)
    largest = max(b for b in VLLM_BLOCK_SIZES if b <= fits)  # 1 always fits: room holds one token's KV
    return (f"one KV block of {engine.block_size:,} tokens × {fp.kv_bytes_per_token:,.0f} B = {per_block:,.0f} B is "
            f"more than the {room:,.0f} B that {engine.gpu_memory_fraction} of {capacity:,} B holds after the weights "
            f"({fp.weight_bytes:,} B per chip){held}: a block of at most {fits:,} tokens fits, so block_size "
            f"{largest} at most (the default: {type(engine).model_fields['block_size'].default})")


def kv_blocks(fp: Footprint, arch: Arch, engine: EngineConfig) -> int | str:
    """KV-cache blocks of one replica: what ``gpu_memory_fraction`` of a chip's main memory holds after its weights
    (one chip's shard) and the recurrent states of ``max_num_seqs`` sequences (reserved up front, as vLLM sizes its
    Mamba-style state cache by the batch), in blocks of ``block_size`` tokens (``engine.kv_blocks`` when given)."""
    if engine.kv_blocks is not None:
        return engine.kv_blocks
    capacity = arch.memory(arch.main_memory).usable  # capacity × hbm.usable_fraction (what the driver reports)
    states = engine.max_num_seqs * fp.state_bytes_per_seq
    room = capacity * engine.gpu_memory_fraction - fp.weight_bytes - states
    per_block = engine.block_size * fp.kv_bytes_per_token
    if per_block <= 0:  # no KV cache grows (every layer recurrent): blocks enough for every sequence at full length
        per_block = room / (engine.max_num_seqs * -(-engine.max_model_len // engine.block_size)) if room > 0 else 1
    blocks = math.floor(room / per_block) if room > 0 else 0
    if blocks < 1:
        budget = capacity * engine.gpu_memory_fraction
        # fewer sequences only where one sequence's state would leave room for a block (probe p258 #2: 64 states
        # were blamed when the weights alone outgrew the memory)
        fewer = "lower engine.max_num_seqs, " if states and budget - fp.weight_bytes - fp.state_bytes_per_seq \
            >= max(per_block, 0) else ""
        # a larger fraction only where the whole memory would hold a block (the fraction is at most 1)
        larger = engine.gpu_memory_fraction < 1 and capacity - fp.weight_bytes - states >= per_block > 0
        more = ("or a larger gpu_memory_fraction)" if larger else
                f"or a chip with more memory: the engine holds weights and KV cache in {arch.main_memory}, and "
                f"gpu_memory_fraction is at most 1)")
        if fp.weight_bytes >= budget:  # no sequence's state or KV is to blame (probe p258 #2)
            return (f"the weights alone ({fp.weight_bytes:,} B per chip) do not fit in {engine.gpu_memory_fraction} "
                    f"of {capacity:,} B = {budget:,.0f} B (use more tensor parallelism or, for a mixture of "
                    f"experts, expert parallelism (model.expert_parallel), {more}")
        held = f" and {engine.max_num_seqs} sequences' recurrent states ({states:,} B)" if states else ""
        return (f"the weights ({fp.weight_bytes:,} B per chip){held} leave no room for a KV block in "
                f"{engine.gpu_memory_fraction} of {capacity:,} B ({fewer}use more tensor parallelism {more}")
    return blocks
