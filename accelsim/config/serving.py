"""The serving file of ``accelsim serve`` (docs/serving.md): an LLM, one replica's arch, the engine's limits and a
request workload, validated like an experiment (every problem one line ``FILE:LINE: dotted.key: message``).

:func:`load_serving` returns a :class:`ServingSpec`: the model as a :class:`WorkloadSpec` (any LLM workload whose
builder takes ``phase``, ``seq_len`` and ``kv_len``), the :class:`Arch`, run :class:`Options` and the serving
settings (:class:`ServeConfig`: replicas, router, :class:`EngineConfig`, :class:`RequestsConfig`, :class:`Slo`,
:class:`CostGrid`). ``--set`` items address any section: ``engine.max_num_seqs=64``,
``workload.arrival.rate=4``, ``model.tensor_parallel=2``, ``replicas=2``.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..builders import BUILDERS
from ..errors import MAX_VALUE_CHARS, ConfigError, ConfigIssue, IssuesError, KeyPairError, clip
from ..hardware import Arch, BytesPerSecond
from ..options import OFFLOAD_TRAINING_ONLY, Options
from ..units import parse_time
from . import presets
from .docs import Issues, file_doc, section_doc, top_level_issues
from .load import arch_from_doc, refuse_part_file, workload_from_doc
from .overrides import Override, apply_overrides, parse_overrides
from .schema import WorkloadSpec, set_rank, validate
from .yamlio import Doc, Where, display_path

Seconds = Annotated[float, BeforeValidator(parse_time), Field(gt=0)]
LLM_PARAMS = ("phase", "seq_len", "kv_len")  # what the iteration cost sets on the model's builder
SHAPE_PARAMS = (*LLM_PARAMS, "batch", "decode_steps")
"""A served model's pass shape: the engine sets it for each iteration, so a serving file or ``--set`` may not."""
SWEEP_LABEL = "--sweep"
MAX_TOKENS = 2**31
"""Most tokens a length distribution (or a trace row) may give one request: far above any model's context, so a
request this long is only ever refused by ``max_model_len``, and twice it still fits the int64 counts numpy keeps."""
_TOKENS_WHY = f"at most {MAX_TOKENS:,} (2^31): far above any max_model_len; sampled counts are clipped to it"
MAX_REPLICAS = 4096
"""Most replicas one run simulates (each keeps its own engine, queues and time series)."""
MAX_GRID_POINTS = 64
"""Most values a geometric grid axis (``cost.batch_ratio``, ``cost.token_ratio``) may step through."""


MAX_ARRIVAL_S = 1e9
"""Latest arrival a run may hold (s), some 32 years: a trace row's ``arrival_s``, a ``duration``, and the ``requests``
of a process at ``rate`` (requests / rate, the arrival window). Far beyond any recorded trace, and a float64 time
there still resolves 2^-23 s (0.12 µs), far below an iteration's time. A finite but huge time (1e308) overflowed
the makespan (the arrival window is n mean gaps) to inf, an internal error (probe p61 #1; a rate of 1e-308 with 5
requests, probe p215 #2)."""
MAX_REQUESTS = 1_000_000
"""Most requests one run may hold (some 1.3 KB each, 1.3 GB in all): more is a one-line error, never a MemoryError.
Measured with /usr/bin/time -v (maximum resident set size) on a 2-core shared Linux x86-64 machine: ``accelsim serve
llama2_7b_h100 -q --no-plots --set workload.requests=N --set workload.duration=null --set
workload.output_tokens.value=8 --set workload.arrival.rate=500``, N = 100,000 and 400,000: 1,336 B a request
between them, 1,309 B less their iterations' (serving.engine.ITERATION_BYTES), the Request and its requests.csv
row built at the end. The engine's iterations are bounded apart (by options.memory_budget)."""
MAX_SEQS = 65_536
"""Most sequences one replica may run at once (``engine.max_num_seqs``)."""

VLLM_BLOCK_SIZES = (1, 8, 16, 32, 64, 128, 256)
"""The KV-cache block sizes (tokens) vLLM accepts: its CacheConfig types ``block_size`` as ``BlockSize =
Literal[1, 8, 16, 32, 64, 128, 256]`` (vllm/config/cache.py), so ``--block-size 7`` is refused at startup."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built when a serving file is read


class EngineConfig(_Model):
    """One replica's scheduler limits (vLLM's engine arguments of the same names)."""

    policy: Literal["continuous", "static"] = Field(
        "continuous", description="continuous: vLLM V1 (decodes first, then prefills up to the token budget); "
                                  "static: a batch is admitted only when the last one has finished.")
    max_num_seqs: Annotated[int, Field(ge=1, le=MAX_SEQS)] = Field(
        256, description=f"Most requests running at once (at most {MAX_SEQS:,}: the decode grid simulates a batch "
                         "of that many sequences; vLLM's default is 256 to 1,024).")
    max_num_batched_tokens: PositiveInt = Field(2048, description="Token budget of one iteration.")
    max_model_len: PositiveInt = Field(4096, description="Longest prompt + output (longer requests are refused); at "
                                                         "least 2: a request is 1 prompt token and 1 output token "
                                                         "or more.")
    block_size: PositiveInt = Field(16, description="Tokens per KV-cache block: one of vLLM's block sizes, "
                                                    "1, 8, 16, 32, 64, 128 or 256.")
    gpu_memory_fraction: float = Field(0.9, gt=0, le=1, description="Fraction of the main memory the engine may "
                                                                     "fill with weights and KV cache.")
    kv_blocks: PositiveInt | None = Field(None, description="KV-cache blocks per replica (default: from memory).")
    chunked_prefill: bool = Field(True, description="Split long prefills across iterations.")
    prefix_caching: bool = Field(False, description="Reuse the cached KV blocks of a shared prompt prefix.")
    hybrid_kv_cache: bool = Field(
        True, description="vLLM V1's hybrid KV-cache manager (its default): a sliding-window layer's blocks that "
                          "fall out of its window are freed; false: kept, as --disable-hybrid-kv-cache-manager. "
                          "Not applied with prefix_caching.")
    cuda_graphs: bool = Field(
        True, description="Iterations run as captured CUDA graphs (vLLM's default): the grid is simulated on the "
                          "arch with kernel_launch 0 (no host launch per kernel).")
    custom_all_reduce: bool = Field(
        True, description="Tensor-parallel all-reduces inside one node run vLLM's custom all-reduce (vLLM's "
                          "default; --disable-custom-all-reduce turns it off): the grid is simulated with "
                          "options.all_reduce: custom. false keeps options.all_reduce (default nccl).")
    fused_projections: bool = Field(
        True, description="The model is built as vLLM's model code runs it: q/k/v as one GEMM (QKVParallelLinear) "
                          "and a gated MLP's gate and up as one (MergedColumnParallelLinear): the workload's "
                          "fused_projections, unless the model sets it. false: transformers' separate projections "
                          "(accelsim run's default).")
    step_overhead: Annotated[float, BeforeValidator(parse_time), Field(ge=0)] = Field(
        0.0, description="Host time added to every iteration (scheduling, sampling, detokenisation), e.g. 0.5ms; "
                         "0 by default: not modelled.")
    max_num_encoder_input_tokens: PositiveInt | None = Field(
        None, description="Image or audio tokens the encoder may take in one iteration (vLLM's scheduler argument "
                          "of this name; default max_num_batched_tokens, and never less than one image's tokens or "
                          "one request's audio tokens, Whisper's 1500, as vLLM's encoder budget); a prefill chunk "
                          "stops before an image it cannot take, and a Whisper request whose audio it cannot take "
                          "waits.")
    preemption: Literal["recompute", "swap"] = Field(
        "recompute", description="When blocks run out the newest running request is preempted: its KV is dropped "
                                 "and recomputed later, or swapped to host memory over the host link.")

    @field_validator("block_size")
    @classmethod
    def _vllm_block(cls, value: int) -> int:
        if value not in VLLM_BLOCK_SIZES:  # probe p263 #2: 7 and 100,000 ran, which vLLM refuses at startup
            raise ValueError(f"expected one of {', '.join(map(str, VLLM_BLOCK_SIZES))}: the block sizes vLLM "
                             "accepts (BlockSize in vllm/config/cache.py)")
        return value

    @field_validator("max_model_len")
    @classmethod
    def _one_request(cls, value: int) -> int:
        if value < 2:  # vLLM: the prompt (1 token at least) must leave room for an output token
            raise ValueError("must be at least 2: the shortest request is 1 prompt token and 1 output token")
        return value

    @model_validator(mode="after")
    def _fits(self, info: ValidationInfo) -> EngineConfig:
        """vLLM's rules between the limits (``SchedulerConfig._verify_args``), each at the key set last (a ``--set``
        over the file's line; probe p99 #7), citing each other value's own source where the config layer gives
        ``origins`` (:func:`_origins`): without chunked prefill a whole prompt is one iteration's tokens, so the
        budget holds max_model_len; and an iteration's budget holds one token of each of max_num_seqs sequences
        (probe p99 #8: a budget of 8 under 128 sequences ran at most 4 at once, TTFT 10 s, unrefused)."""
        origins = (info.context or {}).get("origins")
        budget, longest = self.max_num_batched_tokens, self.max_model_len
        if not self.chunked_prefill and budget < longest:
            keys = ("chunked_prefill", "max_num_batched_tokens", "max_model_len")
            if origins is None:
                raise ValueError(f"without chunked_prefill, max_num_batched_tokens ({budget}) must be at least "
                                 f"max_model_len ({longest}), as in vLLM")
            src = {k: origins(f"engine.{k}") for k in keys}
            key = max(keys, key=lambda k: src[k][0])  # a tie: the first
            why = "a prompt is prefilled in one iteration, as in vLLM"
            raise KeyPairError({key: {
                "chunked_prefill": f"false needs max_num_batched_tokens ({budget:,}, {src[keys[1]][1]}) of at least "
                                   f"max_model_len ({longest:,}, {src[keys[2]][1]}): {why}",
                "max_num_batched_tokens": f"{budget:,} is below max_model_len ({longest:,}, {src[keys[2]][1]}) "
                                          f"without chunked_prefill ({src[keys[0]][1]}): {why}",
                "max_model_len": f"{longest:,} is above max_num_batched_tokens ({budget:,}, {src[keys[1]][1]}) "
                                 f"without chunked_prefill ({src[keys[0]][1]}): {why}"}[key]})
        if budget < self.max_num_seqs:
            at = KeyPairError.OTHER_AT
            why = ("an iteration's budget holds a token of every running sequence; vLLM refuses it "
                   "(SchedulerConfig: max_num_batched_tokens must be greater than or equal to max_num_seqs)")
            raise KeyPairError({
                "max_num_batched_tokens": f"{budget:,} is below max_num_seqs ({self.max_num_seqs:,}{at}): {why}",
                "max_num_seqs": f"{self.max_num_seqs:,} is above max_num_batched_tokens ({budget:,}{at}): {why}"})
        return self


class Arrival(_Model):
    """When requests arrive: a process at ``rate`` requests/s, or the rows of a ``trace`` CSV file."""

    process: Literal["poisson", "gamma", "constant", "trace"] = "poisson"
    rate: float | None = Field(None, gt=0, description="Requests per second (not with a trace).")
    # the shape k = 1/cv² stays within [0.01, 10^6]: 1/cv² underflows for a tiny cv (1e-200 divided by zero), and
    # below k = 0.01 the gaps underflow: P(gap < 1e-300 of its mean) = 1e-300^k, so numpy draws 93 % of the gaps
    # as exactly 0 at k = 1e-4 (already at k = 0.01 some 80 % are below 1e-10 of the mean: a burst)
    cv: float | None = Field(None, ge=1e-3, le=10, description="gamma: coefficient of variation of the gaps "
                                                                "(1 = Poisson), from 0.001 to 10 (shape 10^6 to 0.01; "
                                                                "burstier, most gaps underflow to 0).")
    burstiness: float | None = Field(None, ge=0.01, le=1e6, description="gamma: shape k = 1/cv² (vLLM's benchmark; "
                                                                        "1 = Poisson, < 1 burstier), from 0.01 "
                                                                        "(below, most gaps underflow to 0) to 10^6.")
    trace: str | None = Field(None, description="CSV file: arrival_s, prompt_tokens, output_tokens[, prefix_group]"
                                               "[, images]; it gives the arrivals and lengths, replacing process, rate "
                                               "and the length distributions (a note says so)")

    @model_validator(mode="before")
    @classmethod
    def _trace_form(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("trace") is not None and "process" not in data:
            return {**data, "process": "trace"}
        return data

    @model_validator(mode="after")
    def _complete(self) -> Arrival:
        at = KeyPairError.OTHER_AT
        if self.trace is not None:
            # a serving file's trace replaces these with a note (config.serving._trace_replaces, probe p99 #2): only
            # an Arrival built in Python meets this
            given = [k for k in ("rate", "cv", "burstiness") if getattr(self, k) is not None]
            if self.process != "trace" or given:
                what = f"process {self.process}" if self.process != "trace" else given[0]
                raise ValueError(f"trace: not with {what}: the trace's rows give the arrival times")
        if self.process == "trace":
            if not self.trace:
                raise ValueError("process trace needs 'trace: FILE.csv'")
        elif self.rate is None:
            raise ValueError(f"process {self.process} needs 'rate' (requests per second)")
        if self.cv is not None and self.burstiness is not None:
            raise KeyPairError({"cv": f"give cv or burstiness, not both (burstiness {self.burstiness:g}{at})",
                                "burstiness": f"give cv or burstiness, not both (cv {self.cv:g}{at})"})
        for key in ("cv", "burstiness"):
            if getattr(self, key) is not None and self.process != "gamma":
                # at the one set last (probe p99 #7: --set workload.arrival.cv=2 was put at the preset's line)
                raise KeyPairError({key: f"goes with process gamma (process {self.process}{at})",
                                    "process": f"{self.process}: {key} ({getattr(self, key):g}{at}) goes with "
                                               "process gamma"})
        return self

    @property
    def shape(self) -> float:
        """The gamma distribution's shape k (1 for Poisson)."""
        if self.burstiness is not None:
            return self.burstiness
        return 1.0 / self.cv**2 if self.cv is not None else 1.0


class Lengths(_Model):
    """A token-count distribution (a bare count N: ``fixed`` N): ``fixed`` (value), ``uniform`` (low, high; inclusive), ``normal`` (mean, std),
    ``lognormal`` (mean, std of the counts themselves) or ``trace`` (the trace file's column); samples are rounded
    and clipped to [min, max]."""

    dist: Literal["fixed", "uniform", "normal", "lognormal", "trace"] = "fixed"
    value: PositiveInt | None = Field(None, le=MAX_TOKENS, description=_TOKENS_WHY)
    low: PositiveInt | None = Field(None, le=MAX_TOKENS, description=_TOKENS_WHY)
    high: PositiveInt | None = Field(None, le=MAX_TOKENS, description=_TOKENS_WHY)
    mean: float | None = Field(None, gt=0, le=MAX_TOKENS, description=_TOKENS_WHY)
    std: float | None = Field(None, ge=0, le=MAX_TOKENS, description=_TOKENS_WHY)
    min: PositiveInt = Field(1, le=MAX_TOKENS, description=_TOKENS_WHY)
    max: PositiveInt | None = Field(None, le=MAX_TOKENS, description=_TOKENS_WHY)

    @model_validator(mode="before")
    @classmethod
    def _bare_count(cls, data: object) -> object:
        """A bare count (``prompt_tokens: 5000``) is a fixed length (probe p50: it was refused as "a valid dictionary
        or instance of Lengths")."""
        if isinstance(data, int) and not isinstance(data, bool):
            return {"dist": "fixed", "value": data}
        if isinstance(data, float) and data.is_integer() and data > 0:  # 512.0, as a YAML writer may emit it
            return {"dist": "fixed", "value": int(data)}
        if isinstance(data, (dict, Lengths)):
            return data
        # not pydantic's "a valid dictionary or instance of Lengths" (probe p51 #4)
        raise ValueError("expected a positive whole token count (512) or a distribution ({dist: fixed, value: 512}, "
                         "{dist: uniform, low: 128, high: 1024}, ...)")

    @model_validator(mode="after")
    def _complete(self) -> Lengths:
        need = {"fixed": ("value",), "uniform": ("low", "high"), "normal": ("mean", "std"),
                "lognormal": ("mean", "std"), "trace": ()}[self.dist]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"dist {self.dist} needs {' and '.join(missing)}")
        if self.dist == "uniform" and self.low > self.high:  # type: ignore[operator]
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class ImageCounts(Lengths):
    """Images per request (vision-language models): a distribution as :class:`Lengths`, from 0 (``min`` 0 by
    default), or ``trace``: the trace file's ``images`` column."""

    value: NonNegativeInt | None = Field(None, le=MAX_TOKENS, description=_TOKENS_WHY)
    low: NonNegativeInt | None = Field(None, le=MAX_TOKENS, description=_TOKENS_WHY)
    high: NonNegativeInt | None = Field(None, le=MAX_TOKENS, description=_TOKENS_WHY)
    min: NonNegativeInt = Field(0, le=MAX_TOKENS, description=_TOKENS_WHY)


class SharedPrefix(_Model):
    """Requests fall into ``groups`` (at random; a trace's ``prefix_group`` column says which, and ``groups``, optional
    there, bounds it); those of a group share their first ``tokens`` prompt tokens."""

    groups: PositiveInt | None = None
    tokens: PositiveInt


class Conversation(_Model):
    """Multi-turn conversations (chat sessions): the arrival process starts conversations, each of ``turns`` turns.
    A turn's prompt is the conversation so far (every earlier prompt and answer) and ``prompt_tokens`` new tokens,
    its answer ``output_tokens``; the next turn arrives ``think_time`` after the answer's last token, at the same
    replica (session affinity)."""

    turns: Lengths = Field(description="Turns per conversation, a distribution as the lengths' (e.g. {dist: "
                                       "uniform, low: 2, high: 8}); not trace.")
    think_time: Annotated[float, BeforeValidator(parse_time), Field(ge=0, le=1e6)] = Field(
        0.0, description="Between an answer's last token and the next turn's arrival (e.g. 10s; 0: at once); at "
                         "most 10^6 s (beyond, later arrivals lose the microseconds a token takes to float rounding).")

    @field_validator("turns")
    @classmethod
    def _drawn(cls, value: Lengths) -> Lengths:
        if value.dist == "trace":
            raise ValueError("dist trace: a trace has no turns column; draw them (e.g. {dist: fixed, value: 4})")
        return value


class RequestsConfig(_Model):
    """The request workload: arrivals, lengths, an optional shared prefix, how many (a duration or a count)."""

    arrival: Arrival
    prompt_tokens: Lengths = Lengths(dist="trace")
    output_tokens: Lengths = Lengths(dist="trace")
    shared_prefix: SharedPrefix | None = None
    images: ImageCounts | None = Field(
        None, description="Images per request, for a model with an image encoder (e.g. {dist: fixed, value: 1}): "
                          "each adds its tokens to the prompt and runs the encoder in the request's first prefill "
                          "iteration.")
    conversation: Conversation | None = Field(
        None, description="Multi-turn conversations: arrivals, duration and requests then count conversations, "
                          "and each turn's prompt holds the conversation so far.")
    duration: Seconds | None = Field(None, description="Arrivals in [0, duration) (e.g. 600s); at most 1e9 s (some "
                                                       "32 years).")
    requests: Annotated[int, Field(ge=1, le=MAX_REQUESTS)] | None = Field(
        None, description=f"Number of requests (first N of a trace); at most {MAX_REQUESTS:,} (some 1.3 KB each).")
    seed: NonNegativeInt = 0

    @model_validator(mode="after")
    def _complete(self) -> RequestsConfig:
        trace = self.arrival.trace is not None
        for key in ("prompt_tokens", "output_tokens"):
            if not trace and key not in self.model_fields_set:
                raise ValueError(f"{key}: missing: give its distribution, e.g. {{dist: fixed, value: 512}}")
            dist = getattr(self, key).dist
            if trace and dist != "trace":  # a serving file's are replaced with a note (_trace_replaces)
                raise ValueError(f"{key}: with an arrival trace the lengths come from the trace: drop {key} (or "
                                 f"write dist: trace), not dist {dist}")
            if not trace and dist == "trace":  # probe p99 #8: it read as if dist trace were the fault
                raise ValueError(f"{key}: dist trace reads the lengths from workload.arrival.trace, which is not "
                                 "given: give a trace file or a distribution (e.g. {dist: fixed, value: 512})")
        if self.images is not None and self.images.dist == "trace" and not trace:
            raise ValueError("images: dist trace reads the images column of workload.arrival.trace, which is not "
                             "given: give a trace file or a distribution (e.g. {dist: fixed, value: 1})")
        if self.shared_prefix is not None and self.shared_prefix.groups is None and not trace:
            raise IssuesError([], [(("shared_prefix", "groups"), "missing: how many groups the requests fall into at "
                                    "random (a trace's prefix_group column gives them instead)")])
        if self.duration is not None and self.requests is not None:
            # at the one set last, naming where the other is and how to drop it (probe p56 #2: a preset's
            # duration under --set workload.requests=50)
            at = KeyPairError.OTHER_AT
            raise KeyPairError({
                "requests": f"give duration or requests, not both (duration {self.duration:g} s{at}); add "
                            "--set workload.duration=null",
                "duration": f"give duration or requests, not both (requests {self.requests}{at}); add "
                            "--set workload.requests=null"})
        if not trace and self.duration is None and self.requests is None:
            # one written as null (--set workload.duration=null over a preset's duration) is what removed it: the
            # error is that item's, naming the other as the way out (probe p61 #3); else the workload's line
            nulled = {"duration": "give duration or requests (one of them); with duration null, add --set "
                                  "workload.requests=N",
                      "requests": "give duration or requests (one of them); with requests null, add --set "
                                  "workload.duration=T (e.g. 60s)"}
            given = {k: v for k, v in nulled.items() if k in self.model_fields_set}
            if given:
                raise KeyPairError(given)
            raise ValueError("give duration or requests (one of them)")
        if self.conversation is not None:
            for key, given in (("arrival.trace", trace), ("shared_prefix", self.shared_prefix is not None),
                               ("images", self.images is not None)):
                if given:
                    raise ValueError(f"conversation: not with {key} (a conversation's turns share its own history, "
                                     "drawn from the distributions)")
        self._check_arrival_extent(trace)
        return self

    def _check_arrival_extent(self, trace: bool) -> None:
        """How many requests and how late: rate × duration arrivals at most MAX_REQUESTS, a duration and the
        window of ``requests`` at ``rate`` (requests ÷ rate) at most MAX_ARRIVAL_S; each at the key set last."""
        product = float(self.duration) * float(self.arrival.rate) \
            if self.duration is not None and self.arrival.rate is not None else 0.0
        if not product <= MAX_REQUESTS:  # rate × duration arrivals: at the one of them set last (serving/requests.py)
            count = f"{math.ceil(product):,}" if product < 1e15 else \
                f"{product:.3g}" if math.isfinite(product) else "over 1e308"
            why = f"{count} requests (duration × rate): at most {MAX_REQUESTS:,} in one run"
            raise KeyPairError({"arrival.rate": f"{self.arrival.rate:g}/s with duration {self.duration:g} s"
                                                f"{KeyPairError.OTHER_AT} gives {why} (lower the rate)",
                                "duration": f"{self.duration:g} s at rate {self.arrival.rate:g}/s"
                                            f"{KeyPairError.OTHER_AT} gives {why} (shorten the duration)"})
        if self.duration is not None and not self.duration <= MAX_ARRIVAL_S:  # after rate × duration's check; 1e308 s
            raise KeyPairError({"duration": f"{self.duration:g} s is more than 1e9 s (some 32 years), the latest "
                                            "arrival a run may hold, as a trace's arrival_s"})  # made makespans inf

        window = float(self.requests) / float(self.arrival.rate) \
            if self.requests is not None and self.arrival.rate is not None and not trace else 0.0
        if not window <= MAX_ARRIVAL_S:  # requests ÷ rate: the arrival window, within a trace's cap (probe p215 #2)
            span = f"{window:.3g} s" if math.isfinite(window) else "more than 1e308 s"
            why = f"arrivals over {span} (requests ÷ rate): at most 1e9 s (some 32 years), as a trace's arrival_s"
            raise KeyPairError({"arrival.rate": f"{self.arrival.rate:g}/s with requests {self.requests:,}"
                                                f"{KeyPairError.OTHER_AT} spreads {why} (raise the rate)",
                                "requests": f"{self.requests:,} at rate {self.arrival.rate:g}/s"
                                            f"{KeyPairError.OTHER_AT} spreads {why} (fewer requests)"})


class Slo(_Model):
    """Service-level objectives: a request is *good* when it meets every one given (seconds)."""

    ttft: Seconds | None = None
    tpot: Seconds | None = None
    e2e: Seconds | None = None


class CostGrid(_Model):
    """The shapes simulated with the accelerator model (docs/serving.md "Iteration cost")."""

    batch_ratio: float = Field(2.0, gt=1, description="Decode batches 1, r, r², … up to max_num_seqs (at most "
                                                      f"{MAX_GRID_POINTS} of them).")
    kv_points: int = Field(3, ge=2, le=64, description="Decode KV lengths, evenly from block_size to "
                                                        "max_model_len.")
    # at most 10^6: from 16 tokens that steps to 16 million in one point, above any engine's token budget (vLLM's
    # defaults are 2,048-16,384), so a larger ratio gives the same grid; 1e308 overflowed 16r to inf (probe p215 #4)
    token_ratio: float = Field(2.0, gt=1, le=1e6, description="Prefill tokens 16, 16r, … up to "
                                                               "max_num_batched_tokens (at most "
                                                               f"{MAX_GRID_POINTS} of them; r at most 10^6).")
    workers: int = Field(1, ge=1, le=1024, description="Processes simulating the grid (1: in this process).")
    cache_dir: str | None = Field(None, description="Folder keeping simulated grids for later runs (keyed by "
                                                    "the model, arch, options, limits and accelsim's source).")


class Disaggregation(_Model):
    """Separate prefill and decode replicas: a request is prefilled (and gets its first token) on a prefill replica,
    its KV cache goes over the link to a decode replica, which generates the rest."""

    prefill_replicas: PositiveInt = Field(le=MAX_REPLICAS, description=f"Prefill replicas (at most {MAX_REPLICAS}).")
    decode_replicas: PositiveInt = Field(le=MAX_REPLICAS, description=f"Decode replicas (at most {MAX_REPLICAS}).")
    bandwidth: BytesPerSecond | None = Field(None, description="KV transfer bandwidth per chip (default: the "
                                                               "arch's interconnect, at its efficiency)")
    latency: Annotated[float, BeforeValidator(parse_time), Field(ge=0)] | None = Field(
        None, description="Per transfer (default: the interconnect's latency)")


MAX_SPECULATIVE_TOKENS = 32
"""Most draft tokens a speculative step may propose (vLLM's num_speculative_tokens; published setups use 1 to 10)."""


class Speculative(_Model):
    """Speculative decoding (vLLM's ``speculative_config``): each decode step verifies the request's last token
    and ``num_tokens`` draft tokens in one forward pass of the model, and keeps the drafts up to the first one
    rejected, plus the model's own token after them."""

    method: Literal["ngram", "draft"] = Field(
        description="ngram: prompt-lookup drafts proposed on the host (no device time); draft: a smaller model "
                    "(draft_model) proposes them, priced on the same arch")
    num_tokens: Annotated[int, Field(ge=1, le=MAX_SPECULATIVE_TOKENS)] = Field(
        description=f"Draft tokens proposed per decode step (at most {MAX_SPECULATIVE_TOKENS}).")
    acceptance_rate: float = Field(
        ge=0, le=1, description="Probability that a draft token is accepted given that every one before it was "
                                "(Leviathan et al. 2023's alpha): a step keeps i drafts with probability "
                                "alpha^i (1 - alpha), all of them with alpha^num_tokens.")


class ServeConfig(_Model):
    """Everything of a serving file but the model, arch and options."""

    replicas: PositiveInt = Field(1, le=MAX_REPLICAS, description=f"Identical replicas (at most {MAX_REPLICAS}: each "
                                                                  "keeps its own engine, queues and time series).")
    router: Literal["round_robin", "least_tokens"] = "round_robin"
    engine: EngineConfig = EngineConfig()
    workload: RequestsConfig
    slo: Slo = Slo()
    cost: CostGrid = CostGrid()
    disaggregation: Disaggregation | None = None
    speculative: Speculative | None = None

    @property
    def replica_count(self) -> int:
        """The replicas that run: ``replicas``, or with disaggregation the prefill and decode replicas' sum."""
        d = self.disaggregation
        return d.prefill_replicas + d.decode_replicas if d is not None else self.replicas

    @model_validator(mode="after")
    def _replicas(self, info: ValidationInfo) -> ServeConfig:
        """Disaggregation's rules with the other keys, each at the key set last (a ``--set`` over the file's line;
        both in the file: the first named), never at the file's first line (probe p74 #3). Given the config
        layer's ``origins`` (:func:`_origins`), ``replicas`` against the disaggregated sum is put at whichever of
        the three keys was set last, citing each other value's own source (probe p81 #2)."""
        d = self.disaggregation
        if d is None:
            return self
        at, total = KeyPairError.OTHER_AT, d.prefill_replicas + d.decode_replicas
        if "replicas" in self.model_fields_set and self.replicas != total:
            origins = (info.context or {}).get("origins")
            if origins is not None:
                raise KeyPairError(dict([_replicas_clash(self.replicas, d.prefill_replicas, d.decode_replicas,
                                                         origins)]))
            raise KeyPairError({
                "replicas": f"{self.replicas}, but disaggregation's prefill_replicas + decode_replicas make "
                            f"{total} ({d.prefill_replicas} + {d.decode_replicas}{at}): leave replicas out (or "
                            f"give {total})",
                "disaggregation": f"prefill_replicas + decode_replicas ({total}) must equal replicas "
                                  f"({self.replicas}{at}) (or leave replicas out)"})
        if self.workload.conversation is not None:
            why = "a turn's history would be cached on its decode replica, not where its next prefill runs"
            raise KeyPairError({"disaggregation": f"not with workload.conversation{at} ({why})",
                                "workload.conversation": f"not with disaggregation{at} ({why})"})
        if total > MAX_REPLICAS:
            why = f"make {total:,} replicas: at most {MAX_REPLICAS}"
            raise KeyPairError({"disaggregation.prefill_replicas": f"{d.prefill_replicas:,} + decode_replicas "
                                                                   f"({d.decode_replicas:,}{at}) {why}",
                                "disaggregation.decode_replicas": f"{d.decode_replicas:,} + prefill_replicas "
                                                                  f"({d.prefill_replicas:,}{at}) {why}"})
        return self

    @model_validator(mode="after")
    def _grid(self) -> ServeConfig:
        """Each geometric grid axis steps through at most :data:`MAX_GRID_POINTS` values (a ratio just above 1
        would simulate, or merely count, without end)."""
        e, c = self.engine, self.cost
        for key, what, first, last in (("batch_ratio", "decode batch sizes", 1, ("max_num_seqs", e.max_num_seqs)),
                                       ("token_ratio", "prefill token counts", min(16, e.max_num_batched_tokens),
                                        ("max_num_batched_tokens", e.max_num_batched_tokens))):
            ratio = getattr(c, key)
            n = grid_points(first, last[1], ratio)
            if n > MAX_GRID_POINTS:
                least = math.ceil((last[1] / first) ** (1 / (MAX_GRID_POINTS - 1)) * 1000) / 1000
                count = f"{n:,}" if n < 10**15 else f"{n:.3g}"
                raise ValueError(f"cost.{key}: the grid would step through {count} {what} from {first} to "
                                 f"{last[0]} ({last[1]:,}): at most {MAX_GRID_POINTS}; use a ratio of at least "
                                 f"{least} (got {ratio!r})")
        return self


REPLICA_KEYS = ("replicas", "disaggregation.prefill_replicas", "disaggregation.decode_replicas")


def _replicas_clash(replicas: int, prefill: int, decode: int,
                    origins: Callable[[str], tuple[tuple[int, int], str]]) -> tuple[str, str]:
    """The key and message of ``replicas`` against disaggregation's ``prefill_replicas + decode_replicas``: at the
    key of :data:`REPLICA_KEYS` set last (``origins(key)``: its recency, compared, and where it came from, such as
    ``rp.yaml:5`` or ``--set``; a tie: the first), each other value quoted with its own source."""
    src = {k: origins(k) for k in REPLICA_KEYS}
    key = max(REPLICA_KEYS, key=lambda k: src[k][0])
    total = prefill + decode
    way = f"leave replicas out (or give {total})"
    if key == "replicas":
        p, q = src[REPLICA_KEYS[1]][1], src[REPLICA_KEYS[2]][1]
        parts = f"{prefill:,} + {decode:,}, {p}" if p == q else f"{prefill:,}, {p} + {decode:,}, {q}"
        return key, (f"{replicas:,}, but disaggregation's prefill_replicas + decode_replicas make {total:,} "
                     f"({parts}): {way}")
    other = "decode_replicas" if key.endswith("prefill_replicas") else "prefill_replicas"
    mine, theirs = (prefill, decode) if other == "decode_replicas" else (decode, prefill)
    return key, (f"{mine:,} + {other} ({theirs:,}, {src['disaggregation.' + other][1]}) make {total:,} "
                 f"replicas, but replicas is {replicas:,} ({src['replicas'][1]}): {way}")


def grid_points(first: int, last: int, ratio: float) -> float:
    """How many values the geometric grid axis ``first, first·r, first·r², …`` below ``last``, then ``last``,
    steps through (before rounding merges any): computed, not counted, so any ratio above 1 answers at once."""
    if last <= first:
        return 1
    return math.ceil(math.log(last / first) / math.log(ratio)) + 1


SERVING_KEYS = ("name", "description", "model", "draft_model", "arch", "options", "output", *ServeConfig.model_fields)


@dataclass(frozen=True)
class ServingSpec:
    """A validated serving file. ``trace_file`` is the trace CSV's path resolved against the file's folder."""

    name: str
    model: WorkloadSpec
    arch: Arch
    serve: ServeConfig
    options: Options = field(default_factory=Options)
    draft_model: WorkloadSpec | None = None  # speculative decoding's draft model (speculative.method: draft)
    output: str | None = None
    source: str = "<input>"
    trace_file: str | None = None
    lines: dict[str, int | None] = field(default_factory=dict)  # top-level key → line written (for later errors)
    # the serving settings as written, with where each key came from (the file's lines, --set and --sweep items)
    provenance: Doc = field(default_factory=lambda: Doc({}, {}))
    # the dotted keys of the --set items and then the --sweep point's, in the order they were applied
    overrides: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # report.json's notes on the file itself: the settings an arrival trace replaced
    replaced: tuple[str, ...] = ()  # the dotted workload keys an arrival trace replaced (config.serving.TRACE_REPLACES)

    def origin(self, key: str) -> Where:
        """Where ``key`` (dotted) came from. The model, the draft model and the arch are each one thing: a
        ``--set``/``--sweep`` item of a key inside one (``model.model=llama2_70b``) sets it, so the section's own
        origin is then the last such item, not the file's line that names the model it replaced; likewise a key
        below a section (``workload.output_tokens``) that such an item reached inside (``.value``)."""
        path = tuple(key.split("."))
        w, _ = self.provenance.locate(path)
        if (len(path) > 1 or path[0] in OWN_DOCUMENTS) and not _on_command_line(w):
            # a key inside a section's key (workload.output_tokens.value of workload.output_tokens) given on the
            # command line changed it there, not at the file's line (probe p46 #3)
            inside = [v for p, v in self.provenance.where.items() if len(p) > len(path) and p[:len(path)] == path
                      and _on_command_line(v)]
            return inside[-1] if inside else w
        return w

    def error(self, key: str, msg: str, **value: object) -> ConfigError:
        """A one-line error about ``key`` (dotted) found after loading: at the ``--set`` or ``--sweep`` item that
        gave it (or the section holding it; :meth:`origin`), else at the line of its top-level section in the
        file."""
        w = self.origin(key)
        if _on_command_line(w):
            return ConfigError.one(w.file, key, msg, **value)
        return ConfigError.one(self.source, key, msg, line=self.lines.get(key.split(".")[0]), **value)

    def at_line(self, key: str, msg: str, **value: object) -> ConfigError:
        """As :meth:`error`, but at the line that wrote ``key`` itself where a file did (a preset's or the user's:
        the key a user edits), not its section's."""
        w = self.origin(key)
        if _on_command_line(w) or w.line is None or self.set_rank(key) == 0:
            return self.error(key, msg, **value)
        return ConfigError.one(display_path(w.file) if w.file else self.source, key, msg, line=w.line, **value)

    def written(self, key: str) -> str:
        """Where ``key`` (dotted) was set, for a message naming a key it is not about: ``FILE:LINE``, the
        ``--set``/``--sweep`` item's label, or "the default" (no file, preset or item gave it)."""
        w = self.origin(key)
        if _on_command_line(w):
            return str(w.file)
        if self.set_rank(key) == 0 or w.line is None:
            return "the default"
        return f"{display_path(w.file) if w.file else self.source}:{w.line}"

    def set_rank(self, key: str) -> int:
        """How recently ``key`` (dotted) was set, as the rest of the config ranks it (:func:`set_rank`): 0 a
        default, 1 a shipped preset, 2 a user's file, 3 a ``--set`` or ``--sweep`` item (for the model, draft
        model or arch, one of a key inside it too: :meth:`origin`)."""
        return 3 if _on_command_line(self.origin(key)) else set_rank(self.provenance, tuple(key.split(".")))

    def set_after(self, key: str, other: str) -> bool:
        """Whether ``key`` (dotted) was set more recently than ``other``: a higher :meth:`set_rank`, or both on the
        command line and the last item giving ``key`` (itself, a key inside it or its section) after the last one
        giving ``other`` (--set items in their order, then the --sweep point's)."""
        mine, theirs = self.set_rank(key), self.set_rank(other)
        if mine != theirs or mine < 3:
            return mine > theirs
        return self._last_item(key) > self._last_item(other)

    def _last_item(self, key: str) -> int:
        """The position among :attr:`overrides` of the last item giving ``key``, a key inside it or its section
        (-1: none)."""
        path = tuple(key.split("."))
        hits = [i for i, item in enumerate(self.overrides)
                if (p := tuple(item.split(".")))[:len(path)] == path or path[:len(p)] == p]
        return hits[-1] if hits else -1


OWN_DOCUMENTS = ("model", "draft_model", "arch")
"""The serving file's sections that are documents of their own (a preset, a path or a mapping): a key inside one
given on the command line sets the whole (:meth:`ServingSpec.origin`)."""


def _on_command_line(w: Where) -> bool:
    """Whether ``w`` is a ``--set`` or ``--sweep`` item's (its label, no line)."""
    return w.line is None and w.file is not None and w.file.startswith("-")


def _sections(doc: Doc, overrides: list[Override]) -> Doc:
    """``doc`` with each override applied: a whole top-level key (``replicas=2``) or a key inside a section."""
    data = dict(doc.data) if isinstance(doc.data, dict) else {}
    where = dict(doc.where)
    for o in overrides:
        if not o.keys:
            data[o.section] = o.value
            where = {p: w for p, w in where.items() if p[:1] != (o.section,)}
            where[(o.section,)] = Where(o.label, None, ())
    return Doc(data, where)


def _section(doc: Doc, key: str, overrides: list[Override], issues: Issues) -> Doc:
    """The sub-document ``key`` (empty when absent) with its overrides applied."""
    value = doc.data.get(key) if isinstance(doc.data, dict) else None
    mine = [o for o in overrides if o.section == key and o.keys]
    # a section only --set writes is theirs: its missing keys are reported at --set, not at the file's first line
    root = Where(mine[0].label, None, (key,)) if value is None and mine else doc.locate((key,))[0]
    sub = doc.child(key) if isinstance(value, dict) else Doc(value if value is not None else {}, {(): root})
    if not isinstance(sub.data, dict):
        return sub
    sub, found = apply_overrides(sub, mine)
    issues.extend(found)
    return sub


def _resolved(doc: Doc, section: str, key: str, overrides: list[Override], issues: Issues,
              make: Callable[[Doc, str | None], tuple[object, list]]) -> object:
    """``make(document, its file)`` of the preset, path or mapping at ``key`` as the ``section`` document it
    names, with its overrides applied (None when it cannot be resolved)."""
    sub, file, found = section_doc(section, doc, key)
    issues.extend(found)
    if sub is None:
        return None
    sub, found = apply_overrides(sub, [o for o in overrides if o.section == key], base_merged=True)
    issues.extend(found)
    value, found = make(sub, file)
    issues.extend(found)
    return value


SERVING_ATTENTION = "fused"
"""The attention a served model runs unless the serving file's ``model`` mapping or ``--set``/``--sweep`` says
otherwise: vLLM V1, which the engine follows, runs FlashAttention kernels, so a preset's own ``attention: unfused``
(an eager transformers pass, what ``accelsim run`` models by default) is not what a server runs."""


def _users(doc: Doc, overrides: list[Override], key: str, param: str) -> bool:
    """Whether the serving file's ``key`` mapping or a command-line override gives ``param`` (not the preset or
    file it names: those are its defaults, as in :func:`_shape_issues`)."""
    value = doc.data.get(key) if isinstance(doc.data, dict) else None
    return (isinstance(value, dict) and param in value) or any(o.section == key and o.keys[:1] == (param,)
                                                               for o in overrides)


def _model(doc: Doc, overrides: list[Override], issues: Issues, key: str = "model") -> WorkloadSpec | None:
    def not_llm(name: str) -> ConfigIssue:
        why = "not an LLM workload (its builder needs phase, seq_len and kv_len parameters, as llama2_7b's)"
        # the item that named the model (--set model.model=resnet50), not the file's line it replaced (probe p56 #1)
        named = [o for o in overrides if o.section == key and o.keys == ("model",)]
        return ConfigIssue(named[-1].label, None, key, why, name, True) if named else doc.issue((key,), why, name)

    def make(sub: Doc, file: str | None) -> tuple[WorkloadSpec | None, list[ConfigIssue]]:
        # the model's kind before its parameters: a preset's `attention: fused` is no parameter of resnet50, but
        # the fault is the --set naming resnet50, not the preset's line (probe p61 #2)
        name = sub.data.get("model") if isinstance(sub.data, dict) else None
        if isinstance(name, str) and name in BUILDERS and not set(LLM_PARAMS) <= set(BUILDERS[name].params.model_fields):
            return None, [not_llm(name)]
        return workload_from_doc(sub, file)

    spec = _resolved(doc, "workload", key, overrides, issues, make)
    if not isinstance(spec, WorkloadSpec):
        return spec  # type: ignore[return-value]
    fields = BUILDERS[spec.model].params.model_fields
    if not set(LLM_PARAMS) <= set(fields):  # a builder a plugin registers while the model is read
        issues.append(not_llm(spec.model))
        return None
    if "attention" in fields and not _users(doc, overrides, key, "attention"):  # fused where the model has it
        spec = replace(spec, params={**spec.params, "attention": SERVING_ATTENTION})
    return spec


def _draft(doc: Doc, overrides: list[Override], issues: Issues, config: ServeConfig | None) -> WorkloadSpec | None:
    """The draft model of ``speculative.method: draft`` (given exactly then)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    given = data.get("draft_model") is not None
    if config is None:  # the serving settings are invalid (reported): whether a draft model belongs is unknown
        return None
    method = config.speculative.method if config.speculative is not None else None
    if given and method is None and any(o.section == "speculative" and not o.keys and o.value is None
                                        for o in overrides) and not any(o.section == "draft_model" for o in overrides):
        return None  # --set speculative=null turns off the file's speculation, its draft model with it
    if given and method != "draft":
        issues.append(doc.issue(("draft_model",), "only with speculative.method: draft (speculative decoding with a "
                                "draft model)", data["draft_model"] if isinstance(data["draft_model"], str) else
                                "a mapping"))
        return None
    if method == "draft" and not given:
        issues.append(doc.issue(("speculative", "method"), "draft needs draft_model: the smaller LLM that proposes "
                                "the tokens (a preset name, a path or a mapping, as model)", "draft"))
        return None
    return _model(doc, overrides, issues, "draft_model") if given else None


OPTIONAL_SECTIONS = ("disaggregation", "speculative")
"""The serving sections that are off unless given: null, in the file or from a ``--set``/``--sweep`` item, leaves
one off (replaces the file's section), where an empty mapping would be validated as one missing its keys."""


def _serve_config(doc: Doc, overrides: list[Override], issues: Issues
                  ) -> tuple[ServeConfig | None, Doc, list[tuple[str, object, str]]]:
    """The serving settings, the document they were validated from (the sections with their overrides) and the
    settings an arrival trace replaced (:func:`_trace_replaces`)."""
    data = {k: v for k, v in (doc.data or {}).items() if k in ServeConfig.model_fields}  # type: ignore[union-attr]
    sub = Doc(data, dict(doc.where))
    for key in ("engine", "workload", "slo", "cost", "disaggregation", "speculative"):
        inside = any(o.section == key and o.keys for o in overrides)
        if key in OPTIONAL_SECTIONS and key in data and data[key] is None and not inside:
            continue  # null (--set speculative=null) removes the section, as it does a key (probe p74 #2)
        if key in data or inside:
            part = _section(doc, key, overrides, issues)
            sub.data[key] = part.data  # type: ignore[index]
            sub.where = {p: w for p, w in sub.where.items() if p[:1] != (key,)}
            sub.where.update({(key, *p): Where(w.file, w.line, w.prefix[:-1] if w.prefix[-1:] == (key,) else w.prefix)
                              for p, w in part.where.items()})
    replaced = _trace_replaces(sub, overrides)
    config, found = validate(ServeConfig, sub, origins=_origins(sub, overrides))
    issues.extend(found)
    return config, sub, replaced


TRACE_REPLACES = ("arrival.process", "arrival.rate", "arrival.cv", "arrival.burstiness", "prompt_tokens",
                  "output_tokens")
"""The workload keys an arrival trace replaces (its rows give every request's arrival and lengths): given beside
one (a preset's rate under ``--set workload.arrival.trace=...``, or a file writing both), each is dropped before
validation, so that the run is a trace run whatever else is written, and named in a note (probe p99 #2: report.json
recorded the preset's rate and lengths for a run of the trace's)."""


def _trace_replaces(sub: Doc, overrides: list[Override]) -> list[tuple[str, object, str]]:
    """Drop from ``sub``'s workload (the serving settings, overrides applied) each key of :data:`TRACE_REPLACES` an
    arrival trace replaces; returns each as (dotted key, value written, where it was written)."""
    workload = sub.data.get("workload") if isinstance(sub.data, dict) else None
    arrival = workload.get("arrival") if isinstance(workload, dict) else None
    if not isinstance(arrival, dict) or not isinstance(arrival.get("trace"), str):
        return []
    origin = _origins(sub, overrides)
    arrival, workload = dict(arrival), dict(workload)  # type: ignore[arg-type]
    out = []
    for key in TRACE_REPLACES:
        holder = arrival if key.startswith("arrival.") else workload
        leaf = key.rsplit(".", 1)[-1]
        value = holder.get(leaf)
        if value is None or value == "trace" or (isinstance(value, dict) and value.get("dist") == "trace"):
            continue
        out.append((f"workload.{key}", value, origin(f"workload.{key}")[1]))
        del holder[leaf]
    if out:
        sub.data["workload"] = {**workload, "arrival": arrival}  # type: ignore[index]
    return out


def _trace_note(trace_at: str, replaced: list[tuple[str, object, str]]) -> str:
    """report.json's note on the settings an arrival trace replaced (:func:`_trace_replaces`)."""
    def shown(value: object) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
        return str(value)
    what = "; ".join(f"{key} {clip(shown(value), MAX_VALUE_CHARS)} ({at})" for key, value, at in replaced)
    gives = "arrival, lengths and images (its images column)" if any(k == "workload.images" for k, _, _ in replaced) \
        else "arrival and lengths"
    return (f"workload.arrival.trace ({trace_at}): the trace's rows give every request's {gives}, so "
            f"the run ignores {what}; report.json's config shows the run as it ran; to run those settings instead, "
            f"drop the trace (--set workload.arrival.trace=null)")


def _origins(doc: Doc, overrides: list[Override]) -> Callable[[str], tuple[tuple[int, int], str]]:
    """For a dotted serving key of ``doc`` (the settings, overrides applied): how recently it was set, as a
    comparable pair (:func:`set_rank`; among command-line items, the position of the last giving it, a key inside
    it or its section), and where, for a message: ``FILE:LINE``, the item's label (``--set``) or "the default"."""
    def origin(key: str) -> tuple[tuple[int, int], str]:
        path = tuple(key.split("."))
        rank = set_rank(doc, path)
        w = doc.where.get(path) or doc.locate(path)[0]
        if rank == 0:
            return (0, -1), "the default"
        if _on_command_line(w):
            hits = [i for i, o in enumerate(overrides)
                    if (p := (o.section, *map(str, o.keys)))[:len(path)] == path or path[:len(p)] == p]
            return (3, hits[-1] if hits else -1), str(w.file)
        return (rank, -1), f"{display_path(w.file) if w.file else '<input>'}:{w.line}" if w.line is not None \
            else display_path(w.file) if w.file else "<input>"
    return origin


def _trace_path(settings: Doc, config: ServeConfig | None, issues: Issues) -> str | None:
    """The arrival trace's path: one written in a file relative to that file (failing that, to the working
    directory), one a ``--set``/``--sweep`` item or a Python mapping gives relative to the working directory, as
    docs/configuration.md says of every path (probe p99 #6: a --set's was read from the preset's folder and its
    error put at the preset's line)."""
    if config is None or config.workload.arrival.trace is None:
        return None
    key = ("workload", "arrival", "trace")
    where, _ = settings.locate(key)
    path = Path(config.workload.arrival.trace).expanduser()
    if not path.is_absolute() and where.folder is not None:
        local = where.folder / path
        if local.is_file() or not path.is_file():  # not found anywhere: the error names the file's folder's
            path = local
    if not path.is_file():
        issues.append(settings.issue(key, "file not found", str(path)))
        return None
    return os.fspath(path)


def cache_dir_problem(folder: str) -> str | None:
    """Why ``cost.cache_dir`` cannot keep the grid, or None: a NUL byte, a file in its place, or a folder that cannot
    be made or written (a temporary folder is made and removed in it, or in the nearest folder above it that exists,
    so nothing is left behind). Checked when the file loads: the grid is written there after every shape is
    simulated, and a folder found unusable then lost the whole run (probe p215 #1: 8.5 s of a 10 s run)."""
    if "\0" in folder:
        return "folder not found: a name with a NUL byte is no path"
    path = Path(folder).expanduser()
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"{probe} is a file, not a folder"
    try:
        tempfile.TemporaryDirectory(dir=probe, prefix=".accelsim-probe-").cleanup()
    except OSError as e:
        at = "" if probe == path else f" ({probe} is the nearest folder that exists)"
        return f"cannot make or write a folder there{at}: {e.strerror or e}"
    return None


def _trace_header(path: str) -> list[str]:
    """The column names of the trace CSV at ``path`` (its first line; [] where it does not read: the run's
    read of the trace reports why)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            line = f.readline(1 << 20)
        return next(csv.reader([line]), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _trace_images(config: ServeConfig, settings: Doc, path: str, overrides: list[Override]
                  ) -> tuple[ServeConfig, list[tuple[str, object, str]]]:
    """A trace with an ``images`` column gives each request's images (probe p99 #3: the column was dropped unless
    ``workload.images: {dist: trace}`` was written, and image requests priced as text): ``workload.images`` becomes
    ``{dist: trace}``, replacing a distribution given (returned as :func:`_trace_replaces` does)."""
    w = config.workload
    if "images" not in _trace_header(path) or (w.images is not None and w.images.dist == "trace"):
        return config, []
    replaced = [] if w.images is None else \
        [("workload.images", {"dist": w.images.dist, **w.images.model_dump(exclude_defaults=True)},
          _origins(settings, overrides)("workload.images")[1])]
    images = ImageCounts(dist="trace")
    return config.model_copy(update={"workload": w.model_copy(update={"images": images})}), replaced


def _shape_issues(doc: Doc, overrides: list[Override], key: str) -> list[ConfigIssue]:
    """The pass-shape parameters (:data:`SHAPE_PARAMS`) the user gave ``key`` (the model or the draft model) in the
    serving file's mapping or with ``--set``/``--sweep``: the engine sets them for each iteration, so they would be
    ignored. Those of the preset or file the model names (``llama2_7b``'s ``seq_len: 512``) are its defaults, not
    the user's: they are not checked."""
    why = "set by the serving engine for each iteration (workload.* and engine.* shape the requests and batches)"
    value = doc.data.get(key) if isinstance(doc.data, dict) else None
    out = [doc.issue((key, p), why, value[p]) for p in SHAPE_PARAMS if isinstance(value, dict) and p in value]
    out += [ConfigIssue(o.label, None, o.dotted, why, o.value, True) for o in overrides
            if o.section == key and o.keys and o.keys[0] in SHAPE_PARAMS]
    return out


def serving_from_doc(doc: Doc, overrides: Iterable[str], *, source: str, default_name: str,
                     swept: Iterable[str] = ()) -> ServingSpec:
    """The serving run ``doc`` stands for with ``--set`` items ``overrides`` and then ``--sweep`` point items
    ``swept`` (``KEY=VALUE``, labelled ``--sweep`` in messages) applied (every problem at once)."""
    issues = Issues()
    sections = ("model", "arch", "options", *[k for k in SERVING_KEYS if k not in ("model", "arch", "options")])
    parsed, found = parse_overrides(overrides, sections=sections)
    issues.extend(found)
    point, found = parse_overrides(swept, sections=sections, label=SWEEP_LABEL)
    issues.extend(found)
    parsed += point
    doc = _sections(doc, parsed)
    data = doc.data if isinstance(doc.data, dict) else {}
    for issue in top_level_issues(doc, SERVING_KEYS):
        # a section's own key written at the top (duration:) is that key, before any top-level near miss
        # ('disaggregation'); a top-level near miss (replica:) before a section key's near miss
        hint = "" if not issue.msg.startswith("unknown key") else _nested_hint(str(issue.key), exact=True) or (
            _nested_hint(str(issue.key)) if issue.msg.startswith("unknown key; expected") else "")
        issues.append(replace(issue, msg=f"unknown key{hint}") if hint else issue)
    for key in ("model", "draft_model"):
        issues.extend(_shape_issues(doc, parsed, key))
    model = _model(doc, parsed, issues)
    arch = _resolved(doc, "arch", "arch", parsed, issues, lambda d, _: arch_from_doc(d))
    options_doc = _section(doc, "options", parsed, issues)
    options, found = validate(Options, options_doc)
    issues.extend(found)
    if options is not None and options.offload != "none":  # a training step's state; serving runs inference
        issues.append(options_doc.issue(("offload",), OFFLOAD_TRAINING_ONLY, options.offload))
    config, settings, replaced = _serve_config(doc, parsed, issues)
    draft = _draft(doc, parsed, issues, config)
    trace = _trace_path(settings, config, issues)
    if config is not None and config.cost.cache_dir is not None:  # before the grid is simulated (probe p215 #1)
        problem = cache_dir_problem(config.cost.cache_dir)
        if problem is not None:
            issues.append(settings.issue(("cost", "cache_dir"), problem, config.cost.cache_dir))
    if trace is not None and config is not None:
        config, more = _trace_images(config, settings, trace, parsed)
        replaced += more
    issues.raise_if_any()
    notes = (_trace_note(_origins(settings, parsed)("workload.arrival.trace")[1], replaced),) if replaced else ()
    return ServingSpec(name=data.get("name") or default_name, model=model, arch=arch,  # type: ignore[arg-type]
                       serve=config, options=options, output=data.get("output"), source=source,  # type: ignore[arg-type]
                       trace_file=trace, lines={k: doc.locate((k,))[0].line for k in data}, draft_model=draft,
                       provenance=_provenance(doc, settings, options_doc, parsed),
                       overrides=tuple(o.dotted for o in parsed), notes=notes,
                       replaced=tuple(key for key, _, _ in replaced))


def _provenance(doc: Doc, settings: Doc, options: Doc, overrides: list[Override]) -> Doc:
    """The serving file's top-level keys and serving sections (``settings``, overrides applied) and its options,
    each key where it was written; a key inside the model, the draft model or the arch where a ``--set`` or
    ``--sweep`` item gave it (their other keys are their own documents', at the section's line)."""
    data = {**(doc.data if isinstance(doc.data, dict) else {}), **settings.data,  # type: ignore[dict-item]
            "options": options.data}
    where = {p: w for p, w in doc.where.items() if len(p) == 1}
    where.update(settings.where)
    where.update({("options", *p): w for p, w in options.where.items()})
    for o in overrides:
        if o.keys and o.section in OWN_DOCUMENTS:
            where[(o.section, *o.keys)] = Where(o.label, None, (o.section,))
    return Doc(data, where)


SERVING_DIR = "serving"  # the serving presets: experiments/serving/NAME.yaml


def serving_presets() -> list[str]:
    """Names of the serving presets (``experiments/serving/*.yaml``)."""
    folder = presets.preset_dir("experiments") / SERVING_DIR
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _resolve(ref: str | os.PathLike) -> Path:
    """The serving file ``ref`` names: a path, or a serving preset's name."""
    text = os.fspath(ref)
    if Path(text).expanduser().is_file():
        return Path(text).expanduser()
    if not presets.looks_like_path(text):
        found = presets.preset_dir("experiments") / SERVING_DIR / f"{text}.yaml"
        if found.is_file():
            return found
        other = presets.find_preset("experiments", text)  # an experiment or sweep preset: the caller redirects
        if other is not None:
            return other
        names = serving_presets()
        raise ConfigError.one(None, "serve", f"unknown serving preset{presets.suggest(text, names) or ';'} "
                              f"valid names: {', '.join(names) or 'none'}", value=text)
    raise ConfigError.one(text, "", "file not found")


def _refuse_other_kind(data: object, shown: str, again: str) -> None:
    """A one-line error when ``data``, given to ``accelsim serve``, is a sweep file (``grid:``/``zip:`` axes) or an
    experiment (a ``workload:`` without arrivals and no ``model:``), the reverse of ``accelsim run``'s and
    ``accelsim sweep``'s "this is a serving file" (their schema errors would all be beside the point); an arch or
    workload file gets the one line ``accelsim run`` gives it (config.docs.file_kind; probe p223 #4: 15 and 9 lines
    of "model: missing", "chips: unknown key", ...)."""
    refuse_part_file(data, shown)
    if not isinstance(data, dict) or "model" in data:
        return
    if {"grid", "zip"} & set(data):
        raise ConfigError.one(shown, "", f"this is a sweep file (it has grid:/zip: axes); run it with "
                              f"'accelsim sweep {again}' (a serving file is swept with 'accelsim serve FILE "
                              f"--sweep KEY=V1,V2,...')")
    workload = data.get("workload")
    if workload is not None and not (isinstance(workload, dict) and "arrival" in workload):
        raise ConfigError.one(shown, "", f"this is an experiment, not a serving file (its workload has no "
                              f"arrivals); run it with 'accelsim run {again}'")


def _nested_hint(key: str, *, exact: bool = False) -> str:
    """"; did you mean 'workload.arrival'?" for an unknown top-level key of a serving file that is close to a key
    of one of its sections (``arrivals:`` written at the top; with ``exact`` only one that is such a key,
    ``duration:``), or ""."""
    sections = {name: info.annotation for name, info in ServeConfig.model_fields.items()}
    keys = []
    for name, model in sections.items():
        for candidate in (model, *getattr(model, "__args__", ())):  # X | None: X's fields
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys += [f"{name}.{field}" for field in candidate.model_fields]
    by_leaf: dict[str, str] = {}
    for full in keys:
        by_leaf.setdefault(full.rsplit(".", 1)[1], full)
    close = ([key] if key in by_leaf else []) if exact else \
        difflib.get_close_matches(key, sorted(by_leaf), n=1, cutoff=0.6)  # as presets.suggest
    return f"; did you mean {by_leaf[close[0]]!r}? (it goes under {by_leaf[close[0]].split('.')[0]}:)" if close else ""


def load_serving(ref: str | os.PathLike | dict, overrides: Iterable[str] = (), swept: Iterable[str] = ()
                 ) -> ServingSpec:
    """The serving run in the YAML file ``ref`` (or an experiments/ preset of that name, or a mapping), with the
    ``--set`` items ``overrides`` and a ``--sweep`` point's ``KEY=VALUE`` items ``swept`` applied."""
    if isinstance(ref, dict):
        doc = Doc(dict(ref), {(): Where("<input>", None, ())})
        return serving_from_doc(doc, overrides, source="<input>", default_name=str(ref.get("name") or "serve"),
                                swept=swept)
    file = _resolve(ref)
    doc, found = file_doc(file)
    if doc is None:
        raise ConfigError(found)
    _refuse_other_kind(doc.data, display_path(file), presets.as_typed(ref, display_path(file)))
    return serving_from_doc(doc, overrides, source=display_path(file), default_name=file.stem, swept=swept)


__all__ = ["MAX_GRID_POINTS", "MAX_REPLICAS", "MAX_TOKENS", "SHAPE_PARAMS", "VLLM_BLOCK_SIZES", "Arrival", "Conversation", "CostGrid", "Disaggregation",
           "EngineConfig",
           "ImageCounts", "Lengths", "RequestsConfig", "ServeConfig", "ServingSpec", "SharedPrefix", "Slo", "Speculative",
           "grid_points", "load_serving", "serving_from_doc"]
