"""The architecture: a frozen, validated description of a chip (pydantic v2 models are the one definition).

A chip (:class:`Arch`) has ``cores`` identical :class:`Core` s, each with one or more systolic arrays
(:class:`SystolicArray`), a vector unit (:class:`VectorUnit`) and an SRAM scratchpad (:class:`Sram`); the cores
share the chip's HBM/DRAM (:class:`Memory`) and reach host memory over a link (``host``). Sizes, bandwidths,
clocks and latencies accept unit strings ("24MiB", "34GB/s", "700MHz", "100ns"); values are stored in base
units (bytes, bytes/s, Hz, s) and the derived per-cycle figures are properties.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import importlib.util
import math
import numbers
import os
import re
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Annotated, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PositiveInt,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from .errors import KeyPairError, one_line
from .units import (
    DTYPE_BYTES,
    MAX_INT,
    RATE_BITS,
    RATE_FLOOR_BITS,
    DType,
    Sparsity,
    format_size,
    operand_bits,
    parse_bandwidth,
    parse_frequency,
    parse_size,
    parse_time,
    time_cycles,
)

Bytes = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]
BytesPerSecond = Annotated[float, BeforeValidator(parse_bandwidth), Field(ge=1)]  # at least 1 B/s (a subnormal
# bandwidth would make bytes per cycle 0.0)
Hertz = Annotated[float, BeforeValidator(parse_frequency), Field(gt=0)]
Seconds = Annotated[float, BeforeValidator(parse_time), Field(ge=0)]
Dtype = DType  # the one list of dtype names (units.DTYPE_BYTES)
ACCUMULATOR_BYTES = 4
"""Bytes of a partial sum where an arch names no ``core.systolic.accumulator_dtype``: int32 for integer inputs
(Gemmini's defaultConfig accType SInt(32), gemmini_configs_scala; TPU v1's 32-bit accumulators, jouppi_isca17) and
fp32 for floating-point ones (the TPUs' MXUs multiply bf16 and accumulate in fp32: gcloud_tpu_v4, gcloud_tpu_arch,
as the TPU presets cite them)."""
Dataflow = Literal["ws", "os", "is"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _read_only(self, *args, **kwargs):
    what = "mapping" if isinstance(self, dict) else "list"
    raise TypeError(f"this {what} of an Arch is read-only, as the Arch is frozen: load a new arch with the value "
                    f"changed (accelsim.load_arch({{'base': ..., ...}}) or --set) instead of editing one in place")


class _Frozen:
    """What a read-only container shares: it pickles as its class around a plain copy of its items (``_plain``:
    dict or list), and a copy or deep copy is itself (nothing can change it)."""

    __slots__ = ()
    _plain: type

    def __reduce__(self):
        return type(self), (self._plain(self),)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class FrozenDict(_Frozen, dict):
    """A dict that refuses edits: an :class:`Arch`'s mappings (``core.vector.cycles_per_element``, ``levels``, ...)
    once it is validated, so an arch means what it meant when the pricing memo (:mod:`accelsim.mapping.pricing`)
    saw it. A dict still for json, ``model_dump``, ``==`` and reading."""

    __slots__ = ()
    _plain = dict
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only


class FrozenList(_Frozen, list):
    """A list that refuses edits (an :class:`Arch`'s lists once it is validated; see :class:`FrozenDict`)."""

    __slots__ = ()
    _plain = list
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only


def _frozen(value: object) -> object:
    """``value`` with its dicts and lists made read-only, and the containers of the models inside it too."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            held = value.__dict__.get(name)
            done = _frozen(held)
            if done is not held:
                value.__dict__[name] = done  # a frozen model: set as its __init__ does
        return value
    if isinstance(value, dict):
        items = {k: _frozen(v) for k, v in value.items()}
        return value if type(value) is FrozenDict and all(items[k] is v for k, v in value.items()) else (
            FrozenDict(items))
    if isinstance(value, list):
        items = [_frozen(v) for v in value]
        return value if type(value) is FrozenList and all(a is b for a, b in zip(items, value, strict=True)) else (
            FrozenList(items))
    return value


# Per-dtype throughput (issue 12). A unit's ``rates`` maps a compute dtype to a multiplier of its base rate (the
# systolic array's rows x cols MACs per clock, the vector unit's lanes), which is the rate of the arch's ``dtype``.
# An op runs at the rate of its compute dtype (``Op.dtype``); a dtype the unit lists no rate for runs at the rate
# of the nearest wider dtype it lists (same family first: float or integer), noted in the report.
RateDtype = Literal[tuple(RATE_BITS)]  # type: ignore[valid-type]
Rates = dict[RateDtype, Annotated[float, Field(gt=0, le=1024)]]


def _is_int(dtype: str) -> bool:
    return dtype.startswith(("int", "uint"))


@functools.lru_cache(maxsize=4096)
def _rate_of(items: tuple[tuple[str, float], ...], dtype: str) -> tuple[str, float]:
    rates = dict(items)
    if dtype in rates:
        return dtype, rates[dtype]
    bits = RATE_BITS.get(dtype, 16)
    floor = max(bits, RATE_FLOOR_BITS.get(dtype, 0))  # fp4 without an fp4 rate: the 16-bit one, not fp8's (p273 #1)
    wider = [d for d in rates if RATE_BITS[d] >= floor and _is_int(d) == _is_int(dtype)]
    wider = wider or [d for d in rates if RATE_BITS[d] > bits]
    if not wider:  # nothing as wide: the widest the unit has
        wider = [max(rates, key=lambda d: RATE_BITS[d])]
    best = min(wider, key=lambda d: RATE_BITS[d])  # first listed among equal widths
    return best, rates[best]


def dtype_rate(rates: dict[str, float], dtype: str) -> tuple[str, float]:
    """(dtype whose rate applies, multiplier of the base rate) for an op of compute dtype ``dtype`` on a unit
    with ``rates``; (dtype, 1.0) when the unit lists none (every dtype at the base rate)."""
    if not rates:
        return dtype, 1.0
    return _rate_of(tuple(rates.items()), dtype)
# a number, then a unit that starts with a letter and may hold digits after it ("mm2"; probe p211 #2: the unit took
# no digits, so "1.5mm2", the form SquareMm's own message suggests, was refused)
_QUANTITY = re.compile(r"^\s*([0-9.eE+-]+)\s*((?:[A-Za-z²/][A-Za-z0-9²/]*)?)\s*$")


def _quantity(unit: str, scale: dict[str, float]):
    """A validator reading a number, or a string such as "7nm" / "400W" in one of ``scale``'s units, spelled as SI
    writes them ("mW" 1e-3, "MW" 1e6). Another case is read as the one unit it folds to ("400w", "1.5PJ"), and
    refused where it folds to several ("1mw": mW or MW; probe p87 #6: "1MW" was read as 1 mW)."""
    folded: dict[str, list[str]] = {}
    for name in scale:
        folded.setdefault(name.lower(), []).append(name)

    def parse(value: object) -> object:
        if not isinstance(value, str):
            return value
        expected = f"expected a number of {unit} such as '1.5{unit}'"
        m = _QUANTITY.match(value)
        if not m:
            raise ValueError(expected)
        name = m.group(2)
        if name not in scale:
            names = folded.get(name.lower(), [])
            if len(names) > 1:
                raise ValueError(f"{expected}: {name!r} could be {' or '.join(repr(n) for n in names)}, so write "
                                 f"its prefix's case")
            if not names:
                raise ValueError(f"{expected} (units: {', '.join(repr(n) for n in scale if n)})")
            name = names[0]
        try:
            return float(m.group(1)) * scale[name]
        except ValueError:
            raise ValueError(expected) from None
    return BeforeValidator(parse)


_FINITE = {"ge": 0, "allow_inf_nan": False}
Watts = Annotated[float, _quantity("W", {"": 1.0, "W": 1.0, "mW": 1e-3, "kW": 1e3, "MW": 1e6}), Field(**_FINITE)]
# A technology node the energy model's scaling covers (accelsim.energy.tech): Stillmaker & Baas's paper covers 180
# to 7 nm (its area row to 180 nm; the energy fits as Accelergy copies them, 130 to 7 nm: probe p211 #3); below 7 nm
# energy goes as √node (Accelergy's rule, which the 5 and 6 nm presets use) down to 3 nm (TSMC N3, the smallest
# node in production), above 130 nm as node
NODE_NM = (3.0, 180.0)


def _node_in_range(nm: float) -> float:
    if not NODE_NM[0] <= nm <= NODE_NM[1]:
        raise ValueError(f"{nm:g} nm is outside the {NODE_NM[0]:g}-{NODE_NM[1]:g} nm the energy model's node scaling "
                         f"covers (Stillmaker & Baas's paper covers 180-7 nm; docs/energy.md, 'Node scaling')")
    return nm


Nanometres = Annotated[float, _quantity("nm", {"": 1.0, "nm": 1.0}), Field(allow_inf_nan=False),
                       AfterValidator(_node_in_range)]
# at most 10 nJ/bit: about 100x the largest figure a preset uses (103 pJ/bit, a node's off-board link) and 250x a DRAM
# access (Horowitz, ISSCC 2014: 1.3-2.6 nJ per 64-bit word, 20-40 pJ/bit); a value near float64's limit made the peak
# power inf (1.2e12 B/s x 8 bit/B x 1e308 pJ/bit) and failed the report's write after the run (probe p215 #4)
MAX_PJ_PER_BIT = 1e4
PicojoulesPerBit = Annotated[float, _quantity("pJ/bit", {"": 1.0, "pJ/bit": 1.0, "fJ/bit": 1e-3, "nJ/bit": 1e3}),
                             Field(**_FINITE, le=MAX_PJ_PER_BIT)]
# at most 1,000 mm² of PHY per GB/s: more than a reticle-limited die (~858 mm²) for each GB/s, where HBM3's PHY takes
# some 0.03 mm² per GB/s (the presets' 0.0255-0.0755); 1e308 made the area inf and its leakage nan (probe p215 #4)
MAX_PHY_MM2_PER_GBPS = 1e3
Picojoules = Annotated[float, _quantity("pJ", {"": 1.0, "pJ": 1.0, "fJ": 1e-3, "nJ": 1e3}), Field(**_FINITE)]
SquareMm = Annotated[float, _quantity("mm2", {"": 1.0, "mm2": 1.0, "mm²": 1.0}), Field(**_FINITE)]
# a supply voltage of the node scaling: 0.6 to 1.5 V, where every node's fitted E(V) rises with V (probe p159 #5:
# "1V" was refused where "65nm" and "75W" are taken)
Volts = Annotated[float, _quantity("V", {"": 1.0, "V": 1.0, "mV": 1e-3}), Field(ge=0.6, le=1.5, allow_inf_nan=False)]


class SystolicArray(_Model):
    """A rows×cols grid of MAC units running one dataflow (SCALE-Sim's compute model); ``count`` per core."""

    rows: PositiveInt
    cols: PositiveInt
    dataflow: Dataflow = "ws"
    count: Annotated[PositiveInt, Field(le=4096)] = 1  # arrays per core (each a unit)
    preload_overlap: bool = False  # double-buffered stationary operand: next fold's preload overlaps this fold
    rates: Rates = Field(default_factory=dict)  # dtype -> multiplier of rows x cols MACs/clock (see dtype_rate)
    # the fraction of that peak a kernel built on warp-level MMAs (mma.sync: FlashAttention-2) sustains in its main
    # loop, where the peak needs another instruction (Hopper's warpgroup wgmma); 1: warp MMAs are the peak's path
    warp_mma: Annotated[float, Field(gt=0, le=1)] = 1.0
    # N:M weight-sparsity patterns the array skips the zeros of ("2:4": sparse tensor cores), or "any" (SCALE-Sim
    # v3's SparsitySupport: every N:M, each K group packed to its nonzeros); a pattern not listed runs dense
    structured_sparsity: list[str] = Field(default_factory=list)
    # the dtypes whose MMAs skip them, matched against the dtype an op runs as (dtype_rate; empty: every dtype); a
    # GPU's sparse tensor cores take 16-, 8- and 4-bit operands, not fp32 / fp64 (no sparse peak) nor TF32
    # (cuSPARSELt: 1:2 for TF32, not 2:4)
    sparse_dtypes: list[DType] = Field(default_factory=list)
    # the dtype the array's partial sums are held in while a GEMM's K accumulates (the output tile in the ofmap
    # buffer); None: 4 bytes, int32 for integer inputs and fp32 for floating-point ones (Core.partial_sum_bytes)
    accumulator_dtype: DType | None = None
    # the energy.core_sram array the array's partial sums live in while a GEMM's K accumulates (TPU v1's 4 MiB of
    # accumulators, Jouppi et al. ISCA 2017 Fig. 1: beside the unified buffer, not in it): their reads and writes are
    # that array's bytes (report.json bytes[name], priced by the SRAM rule at its size), not the scratchpad's.
    # None: the scratchpad holds them (Gemmini's accumulator, one of its buffers)
    accumulator_sram: str | None = None
    # compute dtype -> what the arch's software does with it, said where an op of that dtype runs at another's
    # rate (the run's rate note, ``info``'s rates table): a TPU's fp32 GEMM at one bf16 MXU pass is XLA's
    # Precision.DEFAULT, not a hardware fp32 rate (probe p130 #5)
    rate_notes: dict[DType, str] = Field(default_factory=dict)
    # compute dtype -> the dtype the arch's software runs a convolution of it as by default (options.conv_precision
    # 'auto'; mapping.lower.convs_as_run): an NVIDIA GPU's fp32 convolutions on its TF32 tensor cores, as cuDNN under
    # PyTorch's default torch.backends.cudnn.allow_tf32 = True; matmuls and linears keep their own dtype (cuBLAS's
    # allow_tf32 is False by default). Empty: every convolution at its own dtype's rate
    conv_runs_as: dict[DType, DType] = Field(default_factory=dict)
    # compute dtypes the arch's software runs at a wider dtype's rate (``rate``'s runs_as) by dequantising both
    # operands to that dtype before a plain matmul (vLLM's emulation: MXFP4 below gfx950); any other dtype run at a
    # wider rate is a weight-only kernel (FP4 / FP8 Marlin: activations at the run-as width, weights packed and
    # dequantised in registers). Read on a GPU-like core only (cost.systolic.run_as_operands); empty: weight-only
    emulated: list[DType] = Field(default_factory=list)
    # weight dtypes whose weight-only GEMM (packed weights dequantised in registers beside the MMAs: a linear's
    # ``attrs["dequant"]``, or a dtype run at a wider one's rate) the arch's serving software runs on a kernel at the
    # array's peak MMAs (vLLM's Machete, wgmma, for int4 / int8 on sm90); any other runs Marlin's warp-level mma.sync
    # at ``warp_mma`` (cost.systolic.weight_only_kernel). ``peak_expert_weight_only``: the same for a MoE's experts,
    # whose kernels are chosen apart (vLLM's fused-MoE backends). Read on a GPU-like core only; empty: Marlin for all
    peak_weight_only: list[DType] = Field(default_factory=list)
    peak_expert_weight_only: list[DType] = Field(default_factory=list)

    @field_validator("conv_runs_as")
    @classmethod
    def _same_width(cls, v: dict[str, str]) -> dict[str, str]:
        """A convolution runs as another dtype on the tensors it has: the two of one width (fp32 as TF32, 4 bytes)."""
        for src, run in v.items():
            if DTYPE_BYTES[src] != DTYPE_BYTES[run]:
                raise ValueError(f"{src}: {run} is {DTYPE_BYTES[run]} bytes an element, {src} {DTYPE_BYTES[src]}: a "
                                 f"convolution runs as a dtype of its tensors' width")
        return v

    @field_validator("structured_sparsity")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        return [p if p == "any" else str(Sparsity.parse(p)) for p in v]  # ValueError naming the entry

    @property
    def macs_per_cycle(self) -> int:
        """Peak MACs per cycle of all ``count`` arrays."""
        return self.rows * self.cols * self.count

    def rate(self, dtype: str, arch_dtype: str) -> tuple[str, float]:
        """(dtype the array runs compute dtype ``dtype`` as, multiplier of rows x cols MACs a clock): that of
        :func:`dtype_rate` over ``rates``; an array listing none runs every dtype at rows x cols as the arch's dtype
        ``arch_dtype``, whose MAC energy it pays (probe p66). The one rule the pricing (:mod:`accelsim.cost.systolic`,
        :mod:`accelsim.cost.attention`) and ``accelsim info`` (text and --json, probe p130 #4) read."""
        return dtype_rate(self.rates, dtype) if self.rates else (arch_dtype, 1.0)

    def executed_k(self, sparsity: Sparsity | None, k: int, dtype: str) -> int:
        """The reduction the array runs for a K-long GEMM whose weights are pruned ``sparsity``: with ``any``, the
        kept weights (``sparsity.kept(k)``); else the fewest of a listed pattern the weights also meet (a 1:4
        model on 2:4 tensor cores runs as 2:4, ``Sparsity.satisfies``); K when none applies or the dtype the op
        runs as (:func:`dtype_rate` of compute dtype ``dtype``: fp8 on an A100 runs as bf16) is not one of
        ``sparse_dtypes``."""
        if sparsity is None or sparsity.dense:
            return k
        if self.sparse_dtypes and dtype_rate(self.rates, dtype)[0] not in self.sparse_dtypes:
            return k
        if "any" in self.structured_sparsity:
            return sparsity.kept(k)
        met = [p.kept(k) for p in map(Sparsity.parse, self.structured_sparsity) if sparsity.satisfies(p)]
        return min(met, default=k)


DEFAULT_VECTOR_COSTS: dict[str, float] = {
    # cycles per element per lane for each vector function; "default" prices anything not listed.
    # One pass per simple arithmetic op; transcendental functions as a few passes (a multi-cycle unit).
    "default": 1.0,
    "relu": 1.0,
    "relu6": 1.0,
    "add": 1.0,
    "mul": 1.0,
    "fma": 1.0,  # a multiply-add, one instruction a lane (a MAC on the lanes: cost.vector.gemm_cycles); a GPU preset
    # whose lanes count FLOPs (an FMA as 2, as the non-tensor peaks do) lists fma: 2
    "max": 1.0,
    "avg": 1.0,
    "batchnorm": 2.0,  # scale and shift
    "modulate": 2.0,  # DiT's adaLN x·(1 + scale) + shift: a multiply and an add, as batchnorm's scale and shift
    "timestep_embedding": 5.0,  # t·freq and a sin or cos (a transcendental: 4, as tanh)
    "cfg_combine": 3.0,  # classifier-free guidance ε_u + s·(ε_c − ε_u): subtract, multiply, add
    "groupnorm": 6.0,  # as layernorm: mean, variance (2), normalise, scale, shift (a group's rsqrt amortised)
    "upsample_nearest": 0.0,  # nearest-neighbour upsampling: a copy, data movement only (as embedding)
    "scale": 1.0,  # x times a constant (diffusers' output_scale_factor, the VAE's 1 / scaling_factor)
    "rope_embedding": 5.0,  # RoPE cos/sin tables (FLUX's pos_embed): position·freq and a cos or sin, as timestep_embedding
    "hardsigmoid": 2.0,
    "hardswish": 3.0,
    "sigmoid": 4.0,
    "silu": 4.0,
    "silu_mul": 5.0,  # silu(gate) · up fused: silu (4) and a multiply
    "gelu": 8.0,
    "exp": 4.0,
    "div": 4.0,
    "tanh": 4.0,
    "quick_gelu": 4.0,
    "softmax": 10.0,  # max, subtract, exp (4), sum, divide (4 → ×1 with a reciprocal: kept at 4 to be safe)
    "layernorm": 6.0,  # mean, variance (2), normalise, scale, shift; per-row rsqrt amortised
    "rmsnorm": 4.0,  # mean square (2), normalise, scale
    "rope": 3.0,  # x·cos + rotate(x)·sin
    "embedding": 0.0,  # a gather: data movement only
    "embedding_bag": 1.0,  # the pooled sum: one add per gathered element
    "spmm": 2.0,  # per gathered element: scale by the edge weight (GCN) or α (GAT) and accumulate
    "spmm_grad": 2.0,  # dX = Aᵀ·dY (and GAT's dα): the forward's scale and accumulate over the same nonzeros, per
    # gathered element (builders/training.py gives it the forward's vector_elems; probe p88 #6: unlisted, it took
    # "default", half the forward's lane-cycles)
    "gather_add": 1.0,
    "att_dot": 2.0,  # multiply-add per element of a per-node attention logit
    "att_dot_grad": 2.0,  # its backward, per element of x (builders/training.py: the forward's vector_elems and flops,
    # 2 an element, for each): the weight gradient Σ_nodes dY·x is the forward's multiply-add; the input gradient dY·att
    # is a multiply (1), which shares the fn and is priced at 2 with it (unlisted, both took "default" 1)
    "leaky_relu": 1.0,
    "elu": 4.0,  # an exp on the negative side
    "kv_append": 0.0,  # data movement only
    # ONNX ops the importer maps (builders/importers.py, onnx*.py): a transcendental as a few passes, as exp and tanh
    "erf": 4.0,
    "sqrt": 4.0,
    "softplus": 8.0,  # log(1 + exp(x)): an exp and a log (4 each)
    "pow": 9.0,  # x^y = exp(y · log x): a log, a multiply, an exp
    "ipow": 1.0,  # x^n, n a constant integer ≥ 3: one pass per multiply (vector_elems counts the multiplies)
    "reciprocal": 4.0,  # 1 / x: a divide, as div
    "expand": 0.0,  # a broadcast copy: data movement only (as pad)
    "pad": 0.0,  # a copy into the padded tensor: data movement only (as upsample_nearest)
    "log": 4.0,  # a transcendental, as exp
    "sin": 4.0,  # a transcendental, as exp (and timestep_embedding's sin or cos)
    "cos": 4.0,
    "softsign": 6.0,  # x / (1 + |x|): an abs, an add and a divide (4, as div)
    "selu": 5.0,  # scale · elu(x): elu's 4 and the multiply
    "mish": 13.0,  # x · tanh(softplus(x)): softplus's 8, tanh's 4 and the multiply
    "log_softmax": 8.0,  # max, subtract, exp (4), sum, subtract the row's log-sum (no divide: softmax's 10 less 2)
    "mod": 6.0,  # x − trunc(x / y) · y: a divide (4, as div), a multiply and a subtract
    "l1": 2.0,  # ReduceL1, per input element: an abs and an add
    "l2": 2.0,  # ReduceL2, per input element: a multiply and an add (the sqrt per output amortised)
    "sum_square": 2.0,  # ReduceSumSquare: a multiply and an add per input element
    "logsumexp": 5.0,  # ReduceLogSumExp, per input element: an exp (4) and an add (the log per output amortised)
    # copies: data movement only (as pad and expand)
    "tile": 0.0,
    "trilu": 0.0,
    "depth_to_space": 0.0,
    "space_to_depth": 0.0,
    "range": 0.0,  # a generated index sequence: written, not computed on the vector lanes' scale
    "scatter_nd": 0.0,  # the data copied and the updates written (a reduction's add per update is in its FLOPs)
    "scatter_elements": 0.0,
    "topk_indices": 0.0,  # TopK's index output, written beside its values
}


class InputPasses(_Model):
    """How many times the kernel of one vector function streams its activation input(s) from memory.

    A row-wise kernel (softmax, a norm) may read each row once (it keeps the row on chip) or several times (a max
    pass, a sum pass and a write pass each re-reading the row). ``passes`` is the count for long rows; a row of at
    most ``single_pass_max_cols`` elements AND at most ``single_pass_max_row_bytes`` bytes is read once (a limit
    left out does not apply; with neither, every row takes ``passes``). The row is the op's reduced dimension
    (a norm's ``dim``, else the last). A bare number in YAML means ``{passes: N}``."""

    passes: PositiveInt = 1
    single_pass_max_cols: PositiveInt | None = None
    single_pass_max_row_bytes: Bytes | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_number(cls, data: object) -> object:
        return {"passes": data} if isinstance(data, (int, float)) and not isinstance(data, bool) else data

    def at(self, cols: int, elem_bytes: int) -> int:
        """Passes over a row of ``cols`` elements of ``elem_bytes`` bytes each."""
        limits = (self.single_pass_max_cols, self.single_pass_max_row_bytes)
        if limits == (None, None):
            return self.passes
        fits = ((self.single_pass_max_cols is None or cols <= self.single_pass_max_cols)
                and (self.single_pass_max_row_bytes is None or cols * elem_bytes <= self.single_pass_max_row_bytes))
        return 1 if fits else self.passes


# what a core may apply on a matmul's output path (VectorUnit.output_path): element-wise activations, "add", a
# residual add of a tensor the output path reads, and "after_add", the listed activations applied to an element-wise
# add's output as the vector unit writes it (TFLite's ADD with a fused activation) (accelsim.mapping.fusion)
OutputPathFn = Literal["relu", "relu6", "leaky_relu", "elu", "sigmoid", "tanh", "hardsigmoid", "hardswish", "gelu",
                       "quick_gelu", "silu", "add", "after_add"]


class VectorUnit(_Model):
    """A SIMD unit with ``lanes`` lanes; an element op costs ``cycles_per_element[fn]`` lane-cycles.

    ``input_passes[fn]`` says how many times the kernel of function ``fn`` reads its activation input(s) from
    memory (:class:`InputPasses`); a function not listed reads them once. ``output_path`` lists the element-wise
    activations the unit applies to a conv/linear/matmul output as it is written (Eyeriss's ReLU module, TPU v1's
    activation pipeline), ``add`` when it also adds a residual tensor it reads there (cuDNN's and TensorRT's
    fused conv + add + activation), and ``after_add`` when the listed activations also fold into an element-wise
    add that produces their input (TFLite's ADD with its fused activation): the mapper folds such an op into its
    producer (:mod:`accelsim.mapping.fusion`)."""

    lanes: PositiveInt
    output_path: tuple[OutputPathFn, ...] = ()
    cycles_per_element: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    input_passes: dict[str, InputPasses] = Field(default_factory=dict)
    rates: Rates = Field(default_factory=dict)  # dtype -> multiplier of ``lanes`` (see dtype_rate)
    # compute dtype -> the dtype whose rate a depthwise conv on these lanes (options.depthwise) computes at: its
    # kernel's accumulator, an NVIDIA GPU's bf16/fp16 depthwise conv in PyTorch's conv_depthwise2d with fp32 acc_t
    # (one scalar fp32 FMA a MAC); its tensors keep their dtype. Empty: at the op's own dtype's rate
    depthwise_runs_as: dict[DType, DType] = Field(default_factory=dict)
    # GPU occupancy limits (threads and thread blocks resident on one core): with them, the row-wise kernels of
    # accelsim.cost.vector.KERNELS get a latency-bound achieved bandwidth (Little's law); without, size-based
    resident_threads: PositiveInt | None = None
    resident_blocks: PositiveInt | None = None
    # threads' instructions the core issues per clock (a GPU SM: warp schedulers x 32); with resident_threads, an
    # instruction-heavy kernel's issue time is priced (accelsim.cost.vector.large_gather_cycles)
    issue_width: PositiveInt | None = None

    def cost(self, fn: str) -> float:
        """Lane-cycles per element of function ``fn`` (the arch's value, else the built-in table). A backward
        ``f"{f}_grad"`` the arch does not list, which the built-in table prices as its forward ``f`` (spmm_grad as
        spmm: the same scale and accumulate over the same nonzeros), takes the arch's value of ``f`` where it lists
        one."""
        table = self.cycles_per_element
        if fn in table:
            return table[fn]
        forward = fn.removesuffix("_grad")
        if forward != fn and forward in table and fn in DEFAULT_VECTOR_COSTS \
                and DEFAULT_VECTOR_COSTS[fn] == DEFAULT_VECTOR_COSTS.get(forward):
            return table[forward]
        if fn in DEFAULT_VECTOR_COSTS:
            return DEFAULT_VECTOR_COSTS[fn]
        return table.get("default", DEFAULT_VECTOR_COSTS["default"])

    def passes(self, fn: str, cols: int, elem_bytes: int) -> int:
        """Times function ``fn``'s kernel reads its input over rows of ``cols`` elements (1 when not listed)."""
        rule = self.input_passes.get(fn)
        return 1 if rule is None else rule.at(cols, elem_bytes)


class Sram(_Model):
    """On-chip scratchpad of one core: split ifmap/filter/ofmap buffers (as SCALE-Sim) or one unified buffer.

    With ``double_buffered`` each buffer holds two tiles (one computing, one filling), so a tile may use half.
    """

    ifmap: Bytes | None = None
    filter: Bytes | None = None
    ofmap: Bytes | None = None
    unified: Bytes | None = None
    double_buffered: bool = True
    # what the scratchpad may keep across ops: "all" (weights and activations), or "activations" only, as TPU v1's
    # unified buffer (Jouppi et al., ISCA 2017, Fig. 1: its weights reach the array from the weight memory through the
    # weight FIFO, never through the buffer), so no weights are pinned in it (mapping.choice._pin_recurrent_weights)
    holds: Literal["all", "activations"] = "all"
    # bytes per clock the scratchpad delivers to its core's units (a GPU SM's shared memory: 32 banks of 4 bytes);
    # None: unbounded. Prices the operand reads of FlashAttention-2's warp-level MMAs (accelsim.cost.attention)
    bytes_per_cycle: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one_layout(self) -> Sram:
        split = (self.ifmap, self.filter, self.ofmap)
        if self.unified is None and any(s is None for s in split):
            raise ValueError("give either 'unified' or all of 'ifmap', 'filter' and 'ofmap'")
        if self.unified is not None and any(s is not None for s in split):
            # at the key set last (a --set of unified over a preset's split sizes: sweepfix's left-over of p101 #7)
            why, at = "give either 'unified' or the split 'ifmap'/'filter'/'ofmap' sizes, not both", KeyPairError.OTHER_AT
            given = [n for n in ("ifmap", "filter", "ofmap") if getattr(self, n) is not None]
            raise KeyPairError({
                "unified": f"{why} (split {', '.join(given)} given{at})",
                **{n: f"{why} (unified given{at})" for n in given}})
        for name in ("ifmap", "filter", "ofmap", "unified"):
            if getattr(self, name) == 0:
                raise ValueError(f"{name}: must be > 0 bytes")
        return self

    @property
    def total_bytes(self) -> int:
        """Capacity of all buffers together."""
        if self.unified is not None:
            return self.unified
        return self.ifmap + self.filter + self.ofmap  # type: ignore[operator]

    def tile_budgets(self, reserved: int = 0) -> tuple[int, int, int]:
        """Bytes one tile may use for (ifmap, filter, ofmap) when ``reserved`` bytes hold other data (resident
        activations, taken from every buffer in proportion); a unified buffer is shared in thirds (a GEMM's tiles share
        it whole instead: :meth:`shared_budget`)."""
        div = 2 if self.double_buffered else 1
        free = max(self.total_bytes - reserved, 0) / self.total_bytes
        if self.unified is not None:
            third = int(self.unified * free) // 3
            return third // div, third // div, third // div
        return tuple(int(b * free) // div for b in (self.ifmap, self.filter, self.ofmap))  # type: ignore[return-value]

    def shared_budget(self, reserved: int = 0) -> int | None:
        """Bytes one GEMM step's ifmap, filter and ofmap tiles share in a unified buffer beside ``reserved`` bytes of
        other data (half the rest when double-buffered: each tile has a twin filling), for the joint-budget tiler
        (:func:`accelsim.mapping.tiling.tile_gemm_shared`); None for split buffers, whose tiles each have their own
        (:meth:`tile_budgets`)."""
        if self.unified is None:
            return None
        return max(self.unified - reserved, 0) // (2 if self.double_buffered else 1)


class GemmDispatch(_Model):
    """One line of a GEMM library's own shape -> kernel table (``core.tile.libraries``): a GEMM whose m, n and k
    lie within the given bounds (inclusive; an omitted bound does not limit) runs ``tile`` = [rows, columns] of its
    output per thread block, over all of K (no split-K), as the library's persistent kernel of that configuration.
    ``swap_ab``: the kernel computes the transposed product (W · xᵀ)ᵀ, so ``tile``'s rows run over n and its
    columns over m (CUTLASS kernels that swap A and B for a small m)."""

    tile: tuple[PositiveInt, PositiveInt]
    swap_ab: bool = False
    m_min: PositiveInt | None = None
    m_max: PositiveInt | None = None
    n_max: PositiveInt | None = None
    k_min: PositiveInt | None = None

    def matches(self, m: int, n: int, k: int) -> bool:
        """Whether a GEMM of m × n × k falls in this line's bounds."""
        return ((self.m_min is None or m >= self.m_min) and (self.m_max is None or m <= self.m_max)
                and (self.n_max is None or n <= self.n_max) and (self.k_min is None or k >= self.k_min))


class OutputTile(_Model):
    """GPU-style work split: a GEMM's output is cut into ``m``×``n`` tiles (thread-block tiles), each computed
    whole (over all of K) by one core, and the tiles run on the cores in waves. ``shapes`` lists the other tile
    shapes the GEMM library offers (the cost model takes the fastest, :mod:`accelsim.cost.gpu_tiles`); ``k`` and
    ``stages`` are the K-stage and pipeline depth of the main loop (``stage_carveout``: each shape's depth is what
    the shared memory less the carveout holds, :func:`accelsim.cost.gpu_tiles.stages`). ``libraries`` holds
    libraries' own dispatch tables, per compute dtype (:class:`GemmDispatch`, first matching line wins; an empty
    list or no matching line: the generic choice), and ``library`` names the one the GEMMs run (none: every GEMM
    takes the generic choice)."""

    m: PositiveInt
    n: PositiveInt
    k: PositiveInt = 32  # K per pipeline stage (a stage holds (m + n) x k operands in shared memory)
    stages: PositiveInt = 2  # pipeline depth: K-stages in flight in shared memory (a shape must fit `stages` of them)
    # CUTLASS 3.x's StageCountAutoCarveout: every shape takes as many K-stages as the core's shared memory holds
    # after this many bytes are set aside (its epilogue's); None: every shape takes `stages`
    stage_carveout: Bytes | None = None
    # other tiles on offer: (m, n), or (m, n, cores) for a tile the MMA of a cluster of that many cores computes
    # together (Blackwell's 2-SM UMMA, tcgen05 cta_group::2: each core holds m / cores rows of A and n / cores
    # columns of B, and the pair's tensor cores read each other's halves)
    shapes: list[tuple[PositiveInt, PositiveInt] | tuple[PositiveInt, PositiveInt, PositiveInt]] = Field(
        default_factory=list, description="m, n[, cores] (a tile shape the GEMM library offers)")
    libraries: dict[str, dict[Dtype, list[GemmDispatch]]] = Field(default_factory=dict)
    library: str | None = None

    @model_validator(mode="after")
    def _cluster_rows(self) -> OutputTile:
        for i, s in enumerate(self.shapes):
            if len(s) == 3 and (s[0] % s[2] or s[1] % s[2]):
                raise ValueError(f"shapes.{i}: {list(s)}: a tile's m and n must divide by its cores ({s[2]})")
        return self

    @field_validator("library")
    @classmethod
    def _listed(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The chosen library is one of ``libraries``."""
        libraries = info.data.get("libraries") or {}
        if value is not None and value not in libraries:
            raise ValueError(f"not one of core.tile.libraries ({', '.join(sorted(libraries)) or 'none'})")
        return value

    def dispatch(self, dtype: str | None, m: int, n: int, k: int) -> GemmDispatch | None:
        """The line of the chosen ``library``'s table for ``dtype`` that a GEMM of m × n × k runs (None: the
        generic choice)."""
        if self.library is None or dtype is None:
            return None
        return next((d for d in self.libraries[self.library].get(dtype, ()) if d.matches(m, n, k)), None)


class UnitKindInfo(NamedTuple):
    """A kind of compute unit: the pydantic model of its spec and the module of its cost model, which defines
    ``accepts(op)`` (its preference for an op; None or False: cannot run it), ``price(op, spec, arch)`` and
    ``macs_per_cycle(spec)``, and may define ``pj_per_mac(spec, dtype)``, ``pj_per_flop(spec, dtype)`` and
    ``area_mm2(spec)`` (see
    :mod:`accelsim.cost`)."""

    spec: type[BaseModel]
    cost: str


UNIT_KINDS: dict[str, UnitKindInfo] = {}


BUILT_IN_UNITS = ("systolic", "vector")
COST_FUNCTIONS = ("accepts", "price", "macs_per_cycle")  # what a unit kind's cost module must define


def register_unit_kind(kind: str, spec: type[BaseModel], cost: str) -> None:
    """Make unit kind ``kind`` usable in a core's ``units`` (its spec model and the module that prices it).
    The module is imported, and checked for :data:`COST_FUNCTIONS`, when an arch first uses the kind."""
    if not isinstance(kind, str) or not re.fullmatch(r"[A-Za-z_][\w\-]*", kind):
        raise ValueError(f"register_unit_kind: the kind must be a name (letters, digits, _ and -), got {kind!r}")
    if not (isinstance(spec, type) and issubclass(spec, BaseModel)) or spec is BaseModel:
        raise TypeError(f"register_unit_kind({kind!r}): the spec must be a pydantic model class, got {spec!r}")
    if not isinstance(cost, str) or not cost:
        raise TypeError(f"register_unit_kind({kind!r}): the cost model must be a module name, got {cost!r}")
    UNIT_KINDS[kind] = UnitKindInfo(spec, cost)


_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def import_plugins(names: object, folder: str | None = None, beside: str = "the arch file") -> str | None:
    """Import each module of an arch's ``plugins`` (the modules that register its unit kinds) or a workload's (those
    that register its builder), in order; with ``folder`` (that of the file naming them, ``beside``) on ``sys.path``
    after the rest, so a module beside that file is found. A module of that name beside it must be the one imported
    (:func:`_plugin_elsewhere`). The
    problem as one line (``plugins.I: ...``), else None; a value that is no list of names is left to the field's
    validation (a single name is a list of one)."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        return None
    if folder is not None and names and folder not in sys.path:
        sys.path.append(folder)
    for i, name in enumerate(names):
        if not _MODULE_NAME.fullmatch(name):
            return f"plugins.{i}: expected a Python module name such as 'my_units' or 'pkg.cim' (got {name!r})"
        elsewhere = _plugin_elsewhere(name, folder, beside) if folder is not None else None
        if elsewhere is not None:
            return f"plugins.{i}: {elsewhere}"
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - any failure of a user's module is reported, one line
            where = f"on PYTHONPATH or beside {beside}" if folder is not None else "on PYTHONPATH"
            return f"plugins.{i}: cannot import {name!r} ({one_line(e)}); it must be {where}"
    return None


def _module_file(spec: importlib.machinery.ModuleSpec | None) -> str | None:
    """The file a module spec loads (a package's ``__init__.py``), resolved; None for none or a namespace package."""
    origin = spec.origin if spec is not None and spec.has_location else None
    return os.path.realpath(origin) if origin else None


def _plugin_elsewhere(name: str, folder: str, named_in: str = "the arch file") -> str | None:
    """Why plug-in ``name`` of an arch file in ``folder`` would not be the module beside that file: a module (or
    package) of its top-level name sits in ``folder`` but another file of that name is already imported (an arch
    in another folder whose plug-in has the same name: it would run that one's code) or comes first on
    ``sys.path`` (a standard-library module of the name); None when the file beside it is the one, or there is none
    (the module is looked for on PYTHONPATH)."""
    top = name.split(".", 1)[0]
    try:
        beside = _module_file(importlib.machinery.PathFinder.find_spec(top, [folder]))
    except (ImportError, ValueError, OSError):
        beside = None
    if beside is None:
        return None
    loaded = sys.modules.get(top)
    if loaded is not None:
        file = getattr(loaded, "__file__", None)
        found = os.path.realpath(file) if isinstance(file, str) else None
        how = "is already imported from"
    else:
        try:
            found = _module_file(importlib.util.find_spec(top))
        except (ImportError, ValueError, OSError):
            found = None
        how = "resolves to"
    if found == beside:
        return None
    other = found or ("a module without a file" if loaded is not None else "no file")
    return (f"{top!r} {how} {other}, not {beside} beside {named_in} (one name is one module per process: give "
            f"the plug-in a name of its own)")


def unit_spec_model(raw: object) -> type[BaseModel] | None:
    """The spec model of a registered unit kind that mapping ``raw`` (``{kind: K, ...}``) names, or None."""
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if not isinstance(kind, str) or kind in BUILT_IN_UNITS or kind not in UNIT_KINDS:
        return None
    return UNIT_KINDS[kind].spec


def units_label(names: Sequence[str], contiguous: bool) -> str:
    """An op row's ``unit`` for the several units it ran on: a span "core0.systolic0..core0.systolic3 (4)" where they
    are consecutive, else each named "core0.systolic0,core0.systolic1,core0.systolic3 (3)" (a span of three there
    read as four arrays: probe p23). :func:`first_unit` reads either back."""
    shown = f"{names[0]}..{names[-1]}" if contiguous else ",".join(names)
    return f"{shown} ({len(names)})"


def first_unit(label: str) -> str:
    """The first unit an op row's ``unit`` names: "core0.xbar", "core*.vector (108)" → "core*.vector",
    "core0.x20..core0.x21 (2)" → "core0.x20", "core0.systolic0,core0.systolic3 (2)" → "core0.systolic0"."""
    return re.split(r"\.\.|,", label.split(" (", 1)[0], maxsplit=1)[0]


def _cost_module_problem(kind: str, spec: BaseModel) -> str | None:
    """What keeps unit kind ``kind``'s cost module from pricing ``spec``: it cannot be imported, lacks one of
    :data:`COST_FUNCTIONS`, or its ``macs_per_cycle(spec)`` fails or is not a finite number ≥ 0 (0: a unit that does
    no MACs, a softmax accelerator); else None."""
    module = UNIT_KINDS[kind].cost
    try:
        cost = importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - any failure of a user's module is reported, one line
        return f"unit kind {kind!r}: its cost module {module!r} cannot be imported ({one_line(e)})"
    missing = [f for f in COST_FUNCTIONS if not callable(getattr(cost, f, None))]
    if missing:
        return f"unit kind {kind!r}: its cost module {module!r} does not define {', '.join(missing)}"
    try:
        rate = cost.macs_per_cycle(spec)
    except Exception as e:  # noqa: BLE001
        return f"unit kind {kind!r}: {module}.macs_per_cycle fails for this spec ({one_line(e)})"
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not math.isfinite(rate) or rate < 0:
        return (f"unit kind {kind!r}: {module}.macs_per_cycle gives {rate!r} for this spec (need a number ≥ 0; 0 "
                f"for a unit that does no MACs)")
    try:
        _hook_number(kind, cost, "area_mm2", spec)
    except ValueError as e:
        return str(e)
    return None


def _unit_spec(name: str, raw: object) -> BaseModel:
    """Unit ``name`` of a core's ``units`` built from its mapping ``{kind: K, ...}``: K's spec model, validated, whose
    cost module prices it (ValueError naming ``name.kind`` otherwise; the spec's own errors as a ValidationError)."""
    extra = [k for k in sorted(UNIT_KINDS) if k not in BUILT_IN_UNITS]  # the kinds core.units takes
    if not isinstance(raw, dict) or "kind" not in raw:
        kinds = (f"one of {', '.join(extra)}" if extra else
                 "none is registered: a plug-in module registers one, which the arch's 'plugins: [module]' imports")
        raise ValueError(f"{name}: give the unit's 'kind' ({kinds}; systolic and vector are the core's 'systolic' "
                         f"and 'vector' keys)")
    kind = raw["kind"]
    if not isinstance(kind, str) or kind not in UNIT_KINDS or kind in BUILT_IN_UNITS:
        raise ValueError(f"{name}.kind: unknown unit kind {kind!r} (registered: {', '.join(extra) or 'none'}"
                         f"; systolic and vector are the core's 'systolic' and 'vector' keys; a plug-in kind is "
                         f"registered by its module, which the arch's 'plugins: [module]' imports)")
    spec = UNIT_KINDS[kind].spec.model_validate({k: v for k, v in raw.items() if k != "kind"})
    problem = _cost_module_problem(kind, spec)
    if problem is not None:
        raise ValueError(f"{name}.kind: {problem}")
    return spec


def _spec_kind(name: str, spec: BaseModel) -> str:
    """The kind of unit ``name`` given as a spec object rather than as ``{kind: K, ...}``: the one kind registered
    with the spec's class (ValueError when none is, or several share it)."""
    kinds = [k for k, info in UNIT_KINDS.items() if info.spec is type(spec) and k not in BUILT_IN_UNITS]
    if len(kinds) != 1:
        why = "no unit kind is" if not kinds else f"the kinds {', '.join(kinds)} are"
        raise ValueError(f"{name}: {why} registered with spec {type(spec).__name__}: give the unit as "
                         f"{{kind: K, ...its fields}}")
    return kinds[0]


class UnitSpec(NamedTuple):
    """One unit of a core as the mapper sees it: its name, kind, spec and how many of it the core has."""

    name: str
    kind: str
    spec: BaseModel
    count: int
    # the vector unit of a core with no systolic array and no ``core.units``: it runs the core's matmul-family ops
    # too, one MAC per lane a cycle (accelsim.cost.vector.accepts), so its lanes are the core's MAC peak
    runs_gemms: bool = False

    def instance_names(self) -> tuple[str, ...]:
        """The names the mapper gives each of the ``count`` such units of a core, after its ``coreN.`` prefix
        (:func:`accelsim.mapping.lower.build_units`): the name with its index (``systolic0``, ``xbar0`` ...) for the
        systolic arrays and for a unit of count > 1, else the name alone (``vector``, ``xbar``)."""
        return _instance_names(self.name, self.kind, self.count)

    def cost_module(self) -> ModuleType:
        """The module that prices this unit's kind (:data:`UNIT_KINDS`)."""
        return importlib.import_module(UNIT_KINDS[self.kind].cost)

    @property
    def macs_per_unit(self) -> float:
        """Peak MACs per cycle of one such unit: the kind's ``macs_per_cycle(spec)`` (0 for the vector unit), or
        the lanes of a vector unit that ``runs_gemms``."""
        if self.runs_gemms:
            return self.spec.lanes  # type: ignore[attr-defined]
        return self.cost_module().macs_per_cycle(self.spec)

    @property
    def macs_per_cycle(self) -> float:
        """Peak MACs per cycle of all ``count`` such units of one core: :attr:`macs_per_unit` × ``count``."""
        return self.macs_per_unit * self.count

    def pj_per_mac(self, dtype: str) -> float | None:
        """pJ per MAC of ``dtype`` that the kind's cost module gives (its optional ``pj_per_mac(spec, dtype)``), or
        None where it gives none (the arch's ``energy`` constants price its MACs: docs/energy.md)."""
        return _hook_number(self.kind, self.cost_module(), "pj_per_mac", self.spec, dtype)

    def pj_per_flop(self, dtype: str) -> float | None:
        """pJ per FLOP of ``dtype`` of the unit's non-MAC work (an op's FLOPs beyond 2 × its MACs) that the kind's
        cost module gives (its optional ``pj_per_flop(spec, dtype)``), or None where it gives none (the arch's
        vector FLOP energy: docs/energy.md)."""
        return _hook_number(self.kind, self.cost_module(), "pj_per_flop", self.spec, dtype)

    def area_mm2(self) -> float | None:
        """mm² of one such unit that the kind's cost module gives (its optional ``area_mm2(spec)``), or None where
        it gives none (its MACs and lanes are priced by the arch's ``energy`` constants: docs/energy.md)."""
        return _hook_number(self.kind, self.cost_module(), "area_mm2", self.spec)


def _instance_names(name: str, kind: str, count: int) -> tuple[str, ...]:
    """:meth:`UnitSpec.instance_names` of unit ``name`` of ``kind``, ``count`` of it."""
    if kind == "systolic" or count > 1:
        return tuple(f"{name}{i}" for i in range(count))
    return (name,)


def _unit_named(name: str, kind: str, count: int) -> str:
    """Unit ``name`` of ``kind`` and, where they carry an index, the names of its ``count`` units ("unit 'x' (x0,
    x1)", "the built-in unit 'vector'")."""
    names = _instance_names(name, kind, count)
    shown = ", ".join(names) if len(names) <= 3 else f"{names[0]} .. {names[-1]}"
    which = "the built-in unit" if kind in BUILT_IN_UNITS else "unit"
    return f"{which} {name!r}" + (f" ({shown})" if names != (name,) else "")


def _hook_number(kind: str, cost: ModuleType, hook: str, *args: object) -> float | None:
    """What optional function ``hook`` of unit kind ``kind``'s cost module gives for ``args``: None when the module
    does not define it or it returns None, else a finite number ≥ 0 (ValueError, one line, otherwise)."""
    own = getattr(cost, hook, None)
    if own is None:
        return None
    what = "this spec" + (f" and dtype {args[1]}" if len(args) > 1 else "")  # pj_per_mac/pj_per_flop(spec, dtype)
    try:
        value = own(*args)
    except Exception as e:  # noqa: BLE001 - any failure of a user's module is reported, one line
        raise ValueError(f"unit kind {kind!r}: {cost.__name__}.{hook} fails for {what} ({one_line(e)})") from None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"unit kind {kind!r}: {cost.__name__}.{hook} gives {value!r} for {what} (need a number "
                         f"≥ 0, or None)")
    return float(value)


class Core(_Model):
    """One core: systolic array(s), a vector unit and an SRAM scratchpad; ``tile`` sets GPU-style output tiles.

    ``units`` adds units of any registered kind (:func:`register_unit_kind`): name → ``{kind: K, ...}`` with the
    fields of that kind's spec; ``systolic`` and ``vector`` are the two built-in units written as keys. A core
    without ``systolic`` (a vector DSP) runs its matmul-family ops on a unit of ``units`` that takes them, else on
    its vector lanes (:attr:`UnitSpec.runs_gemms`)."""

    systolic: SystolicArray | None = None
    vector: VectorUnit
    sram: Sram
    tile: OutputTile | None = None
    # a GPU-like core's attention kernels (accelsim.cost.attention.FLASH)
    attention_kernel: Literal["flash2", "flash2_dense", "flash3", "trtllm_gen"] = "flash2"
    # the kernel PyTorch's scaled_dot_product_attention runs there (ops with attr ``sdpa``); None: attention_kernel
    sdpa_kernel: Literal["flash2", "flash2_dense", "flash3", "trtllm_gen"] | None = None
    units: dict[str, BaseModel] = Field(default_factory=dict)
    # the kind each unit of ``units`` was written with (two kinds may share one spec model; a spec's class may be
    # reloaded): set by _keep_unit_kinds, read by unit_specs, written back by _dump_units
    _unit_kinds: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_unit_kinds(cls, data: object, handler: ModelWrapValidatorHandler[Core]) -> Core:
        core = handler(data)
        raw = data.get("units") if isinstance(data, dict) else None
        if isinstance(raw, dict) and core.units:
            kinds = {}
            for name, unit in raw.items():
                kind = unit.get("kind") if isinstance(unit, dict) else None
                kinds[name] = kind if isinstance(kind, str) else _spec_kind(name, core.units[name])
            core._unit_kinds = kinds
        elif isinstance(data, Core):
            core._unit_kinds = dict(data._unit_kinds)
        return core

    @field_serializer("units")
    def _dump_units(self, units: dict[str, BaseModel], info: SerializationInfo) -> dict[str, dict]:
        """Each unit as it is written: ``{kind: K, ...}`` with every field of its spec (not the empty mapping of a
        field typed BaseModel), so that a dumped arch loads back, and sweep points and caches keyed by the dump
        tell units apart."""
        return {name: {"kind": self._unit_kinds[name], **spec.model_dump(mode=info.mode)}
                for name, spec in units.items()}

    @field_validator("units", mode="before")
    @classmethod
    def _unit_specs(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        out, errors = {}, []
        for name, raw in value.items():
            if isinstance(raw, BaseModel):
                out[name] = raw
                continue
            try:
                out[name] = _unit_spec(name, raw)
            except ValidationError as e:
                errors += [{"type": err["type"], "loc": (name, *err["loc"]), "input": err["input"],
                            **({"ctx": err["ctx"]} if "ctx" in err else {})} for err in e.errors(include_url=False)]
        if errors:
            raise ValidationError.from_exception_data("units", errors)
        return out

    @model_validator(mode="after")
    def _unit_names_differ(self) -> Core:
        # each unit is named by its name and, with a count, its index (UnitSpec.instance_names): a unit x of count
        # 2 and a unit x1 would both be core0.x1, one unit's ops and energy filed as the other's
        units = [("systolic", "systolic", self.systolic.count)] if self.systolic is not None else []
        units += [("vector", "vector", 1)]
        units += [(name, "", int(getattr(spec, "count", 1))) for name, spec in self.units.items()]
        named: dict[str, tuple[str, str, int]] = {}
        for unit in units:
            for local in _instance_names(*unit):
                other = named.setdefault(local, unit)
                if other != unit:
                    raise ValueError(f"units.{unit[0]}: {_unit_named(*unit)} and {_unit_named(*other)} are both "
                                     f"named {local!r} on each core: rename one")
        return self

    @model_validator(mode="after")
    def _carveout_leaves_stages(self) -> Core:
        t = self.tile
        if t is not None and t.stage_carveout is not None:
            two = 2 * (t.m + t.n) * t.k * 2  # two 16-bit K-stages of the default tile
            if t.stage_carveout + two > self.sram.total_bytes:
                raise ValueError(f"tile.stage_carveout: {t.stage_carveout} B leaves no room for two K-stages of the "
                                 f"{t.m}x{t.n}x{t.k} tile ({two} B) in the core's {self.sram.total_bytes} B of sram")
        return self

    def partial_sum_bytes(self, out_dtype: str) -> int:
        """Bytes one output element of a GEMM takes in the SRAM's ofmap tile while its K accumulates: the array's
        ``accumulator_dtype``, by default :data:`ACCUMULATOR_BYTES` (int32 for integer inputs, fp32 for floating
        point), never fewer than the output dtype's; the output dtype's on a core with GPU-style output tiles
        (``tile``), whose thread blocks accumulate in registers (:mod:`accelsim.cost.gpu_tiles`)."""
        out = DTYPE_BYTES[out_dtype]
        if self.tile is not None:
            return out
        acc = self.systolic.accumulator_dtype if self.systolic is not None else None
        return max(out, ACCUMULATOR_BYTES if acc is None else DTYPE_BYTES[acc])

    def ofmap_element_bytes(self, out_dtype: str, dataflow: str | None = None) -> int:
        """Bytes one output element of a GEMM takes in the SRAM's ofmap tile while its K accumulates, on an array of
        ``dataflow``: an output-stationary array's (``"os"``) PEs hold its partial sums until its K is done and write
        it once, in the output dtype (SCALE-Sim's os writes each ofmap element to its ofmap SRAM once); ws and is
        stream partial sums through the buffer, :meth:`partial_sum_bytes` wide."""
        if dataflow == "os":
            return DTYPE_BYTES[out_dtype]
        return self.partial_sum_bytes(out_dtype)

    def unit_specs(self, lanes_ran_macs: bool = False) -> tuple[UnitSpec, ...]:
        """Every unit of the core, built-ins first, in the order written. On a core with no systolic array the vector
        unit ``runs_gemms`` (its lanes count in the MAC peak) when no unit of ``units`` does MACs, or when
        ``lanes_ran_macs``: a run's ops with MACs ran on the lanes beside such units (their ``accepts`` took not
        every matmul-family op: :func:`accelsim.report.summary.lanes_ran_macs`), so ``mac_utilization`` counts
        their MACs against a peak that holds the lanes too."""
        out = [UnitSpec("systolic", "systolic", self.systolic, self.systolic.count)] if self.systolic else []
        plugins = self.plugin_specs()
        # (units of core.units that do no MACs, a softmax accelerator's, leave the matmuls' peak to the lanes)
        gemms = self.systolic is None and (lanes_ran_macs or not any(u.macs_per_unit for u in plugins))
        out.append(UnitSpec("vector", "vector", self.vector, 1, runs_gemms=gemms))
        return (*out, *plugins)

    def plugin_specs(self) -> tuple[UnitSpec, ...]:
        """The units of ``units`` (plug-in kinds), in the order written."""
        return tuple(UnitSpec(name, self._unit_kinds[name], spec, int(getattr(spec, "count", 1)))
                     for name, spec in self.units.items())


LevelRole = Literal["cache", "memory"]
FlopsPerSecond = Annotated[float, _quantity("FLOP/s", {"": 1.0, "FLOP/s": 1.0, "FLOPS": 1.0, "GFLOP/s": 1e9,
                                                        "GFLOPS": 1e9, "TFLOP/s": 1e12, "TFLOPS": 1e12}),
                           Field(gt=0, allow_inf_nan=False)]


class HostCpu(_Model):
    """The processor beside a memory level (a host's CPUs beside its DRAM): what runs an optimizer step that
    ``options.offload: optimizer_cpu`` puts on the host (ZeRO-Offload's CPU Adam). ``bandwidth``: the peak DRAM
    bandwidth its cores reach (channels × transfer rate × 8 B); ``flops``: its peak fp32 FLOP/s (cores × clock × SIMD
    FLOPs a cycle). A share of a server's figures where several chips share the host, as its capacity is."""

    bandwidth: BytesPerSecond
    flops: FlopsPerSecond

    def seconds(self, nbytes: float, flops: float) -> float:
        """Seconds to move ``nbytes`` through its DRAM and run ``flops``: the slower of the two (a roofline)."""
        return max(nbytes / self.bandwidth, flops / self.flops)


def usable_bytes(row: Mapping[str, float]) -> float:
    """The bytes a report's memory row (report.json ``memory.LEVEL``) can hold: its ``usable``
    (:attr:`Level.usable`, written where ``usable_fraction`` < 1), else its ``capacity``; what ``used`` is
    compared with and ``fraction`` is of."""
    return row.get("usable", row.get("capacity", 0))


class Level(_Model):
    """One level of the memory hierarchy outside the cores: ``capacity``, ``bandwidth`` and access ``latency``.

    ``role`` says what the level does: a ``memory`` holds tensors (HBM, CXL memory, host DRAM behind a link, an
    SSD), filled densest first from the innermost memory outward; a ``cache`` (a GPU's L2) sits between the
    cores' scratchpads and the memories and holds no tensors of its own. For a level behind a link (host memory)
    the bandwidth and latency are those of the link. ``access_bytes`` is the smallest transfer the level serves
    (a burst, a cache line, a flash page, a GPU L2's 32-byte sector): a transfer occupies the level for whole
    granules. ``port_bits`` is a cache's read-port width, what the SRAM rule prices its energy per bit at where
    ``energy_per_bit`` is not given (default ``access_bytes`` x 8): the granule a transfer is rounded to need not
    be the width its arrays are read at (an NVIDIA L2 moves 32-byte sectors of a 128-byte line). ``kind`` is a free
    description ("HBM2e", "PCIe Gen4 x16"). In ``Arch.levels`` the key is the level's name; ``after`` places a
    level right after the one it names ("sram" = innermost), else levels follow in the order written.
    """

    name: str = ""
    role: LevelRole = "memory"
    capacity: Annotated[int, BeforeValidator(parse_size), Field(gt=0)]  # a level holds something: 0 is no level
    # the share of capacity the driver reports and a program can allocate (CUDA's cudaMemGetInfo total, which vLLM
    # budgets from), less than 1 where ECC or the driver keeps some; a share, not bytes, so a base: file or --set that
    # changes capacity scales it (probe p223 #1: an absolute 46,068 MiB stayed on a 96 GiB l40s variant). What fits
    # the level is Level.usable: placement and its spill to the next memory, the fit checks and their advice, a
    # training step's fit, serving's KV-cache sizing (gpu_memory_fraction of it, as vLLM budgets
    # gpu_memory_utilization of the device's total); report.json's memory rows keep capacity and add usable
    # (probe p246 #1: an l40s run used 50.4 GB of the 48 GiB and did not spill, though 45,589 MiB is allocatable)
    usable_fraction: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 1.0
    bandwidth: BytesPerSecond
    latency: Seconds = 0.0
    access_bytes: Annotated[int, BeforeValidator(parse_size), Field(gt=0)] = 64  # a size: 64, 4KiB
    # a cache's read-port width in bits for the SRAM rule's energy (None: access_bytes x 8)
    port_bits: PositiveInt | None = None
    efficiency: Annotated[float, Field(gt=0, le=1)] = 1.0  # sustained fraction of the peak bandwidth
    efficiency_by_size: list[tuple[Bytes, Annotated[float, Field(gt=0, le=1)]]] = Field(
        default_factory=list, description="size, efficiency (an op moving at least size bytes: that fraction of peak)")
    # a cache: the fraction of its capacity one tensor can count on staying in (None: accelsim.cost.CACHE_SHARE)
    resident_share: Annotated[float, Field(gt=0, le=1)] | None = None
    kind: str = ""
    after: str | None = None
    energy_per_bit: PicojoulesPerBit | None = None  # pJ per bit moved at this level (a memory: its array + I/O)
    static_power: Watts | None = None  # W the level draws whether or not it moves data (refresh, PHY idle)
    area: SquareMm | None = None  # mm² on the chip's die (a memory: its PHY and controller); a cache: its SRAM
    phy_area_per_bandwidth: Annotated[float, Field(ge=0, le=MAX_PHY_MM2_PER_GBPS, allow_inf_nan=False)] | None = None
    # (mm² per GB/s)
    # the level's memory devices sit outside the chip's package (DIMMs on a board): their energy and own
    # static_power are the report's power.off_package_w, apart from the chip's power that idle_power and tdp rate
    off_package: bool = False
    cpu: HostCpu | None = None  # the processor beside a memory (a host's CPUs): options.offload: optimizer_cpu

    @model_validator(mode="after")
    def _granule_fits(self) -> Level:
        if self.cpu is not None and self.role == "cache":
            raise ValueError("cpu: a cache holds no tensors, so no processor beside it runs a step on them (give it "
                             "to a memory: host.cpu)")
        if self.usable_fraction != 1 and self.role == "cache":
            raise ValueError("usable_fraction: a cache holds no tensors, so no program allocates it (give it to a "
                             "memory: hbm.usable_fraction)")
        # a transfer takes whole granules, and a cache's energy per bit is that of a port_bits-wide read of its
        # arrays (energy.tech.sram_pj_per_bit): a granule or a port wider than the level is neither
        if self.access_bytes > self.capacity:  # at the one of the two set last (probe p215 #7: a --set capacity
            granule, size, at = format_size(self.access_bytes), format_size(self.capacity), KeyPairError.OTHER_AT
            why = "the smallest transfer the level serves (a burst, a cache line, a flash page)"
            raise KeyPairError({  # was blamed on the preset's access_bytes line)
                "access_bytes": f"{granule} is more than the level's capacity ({size}){at}; it is {why}",
                "capacity": f"{size} is less than the level's access_bytes ({granule}){at}: {why}"})
        if self.port_bits is not None and self.port_bits > self.capacity * 8:
            raise ValueError(f"port_bits: {self.port_bits} bits is more than the level's capacity "
                             f"({format_size(self.capacity)} = {self.capacity * 8} bits); it is the width of one "
                             f"read of the cache's arrays")
        return self

    @property
    def usable(self) -> int:
        """Bytes a program can allocate in the level: ``capacity`` × ``usable_fraction``, to the nearest byte."""
        return self.capacity if self.usable_fraction == 1 else round(self.capacity * self.usable_fraction)

    def capacity_fields(self) -> dict[str, int]:
        """A report row's ``capacity`` and, where ``usable_fraction`` < 1, its ``usable`` (what runs fit and spill
        by, and what :func:`usable_bytes` reads back)."""
        return {"capacity": self.capacity} | ({"usable": self.usable} if self.usable != self.capacity else {})

    @property
    def energy_port_bits(self) -> int:
        """The read-port width the SRAM rule prices a cache's bits at: ``port_bits``, else ``access_bytes`` x 8."""
        return self.port_bits if self.port_bits is not None else self.access_bytes * 8

    @property
    def sustained_bandwidth(self) -> float:
        """Bytes/s a stream of transfers achieves: ``bandwidth`` × ``efficiency``."""
        return self.bandwidth * self.efficiency

    def efficiency_at(self, nbytes: int) -> float:
        """Sustained fraction of peak for an op moving ``nbytes`` at this level: the ``efficiency_by_size`` entry
        of the largest size ≤ ``nbytes`` (small kernels do not reach full bandwidth), else ``efficiency``, but never
        so high that the op finishes sooner than a smaller one.

        The GPU presets' tables are Calculon's (``calculon_a100_80g`` hbm ``efficiency_vs_MB``), which Calculon
        reads as bands: an op of at least the entry's size streams at its fraction. The entries are the fractions
        such ops reach, not samples of a curve between them, so a ramp between sizes would give every op between
        two entries a fraction the source does not state (all of them faster). Read as bands, though, the table
        makes an op just above an entry's size finish sooner than one just below it (96 MiB at 0.9 in less time
        than 95 MiB at 0.75 on h100), and a transfer of more bytes moves all of a smaller one's. So the bands are
        kept and the time is floored: ``nbytes`` / (bandwidth × fraction) is at least the time of a transfer just
        under each entry's size ≤ ``nbytes`` at the fraction below it (size / that fraction). From an entry's size
        up to size × (its fraction / the one below: 100 MB to 120 MB on h100) the time stays that of the size just
        below; beyond, the entry's fraction holds as written. The time is then non-decreasing in ``nbytes`` for any
        table."""
        bands: dict[int, float] = {}
        for size, eff in self.efficiency_by_size:
            bands.setdefault(size, eff)  # a repeated size: its first entry, as before
        eff = self.efficiency  # below every entry
        floor = 0.0  # the longest a smaller transfer takes, in bytes at the level's peak bandwidth
        for size, band in sorted(bands.items()):
            if size > nbytes:
                break
            if size > 0:
                floor = max(floor, size / eff)  # a transfer just under `size`, at the band below it
            eff = band
        return min(eff, nbytes / floor) if floor and nbytes > 0 else eff


Memory = Level  # the name of this class before levels were a list; kept for scripts that import it


# ---- NCCL's own cost model (Interconnect.collective = "nccl") -------------------------------------------------------
# Every constant below is carried over from NVIDIA/nccl v2.20.3 (commit b6475625fbcaa2c3c0e50eed2fa1255d7514d4a2, the
# 2.20 series that PyTorch 2.3 ships), with the file it is read from; the code around them is ours. Latencies in µs,
# bandwidths in GB/s (1e9 B/s), as NCCL keeps them.
NCCL_PROTOCOLS: tuple[str, ...] = ("LL", "LL128", "Simple")
# src/graph/tuning.cc baseLat: the fixed cost of one call per algorithm and protocol
NCCL_BASE_LATENCY_US: dict[tuple[str, str], float] = {
    ("tree", "LL"): 6.8, ("tree", "LL128"): 14.0, ("tree", "Simple"): 0.0,
    ("ring", "LL"): 6.6, ("ring", "LL128"): 14.0, ("ring", "Simple"): 8.4,
}
# src/graph/tuning.cc hwLat[NVLINK | PCI]: the cost of one hop (one ring step, one tree level), by link type
NCCL_HOP_LATENCY_US: dict[str, dict[tuple[str, str], float]] = {
    "nvlink": {("tree", "LL"): 0.6, ("tree", "LL128"): 1.25, ("tree", "Simple"): 28.0,
               ("ring", "LL"): 0.6, ("ring", "LL128"): 1.9, ("ring", "Simple"): 3.4},
    "pci": {("tree", "LL"): 1.0, ("tree", "LL128"): 1.9, ("tree", "Simple"): 28.0,
            ("ring", "LL"): 1.0, ("ring", "LL128"): 2.5, ("ring", "Simple"): 5.7},
}
# src/graph/tuning.cc, single-node (N1) columns by GPU generation: llMaxBws (cap on LL's bus bandwidth),
# perChMaxRingLL128Bws, perChMaxTreeLL128Bws, perChMaxTreeBws (caps per channel)
NCCL_GENERATION_CAPS_GBPS: dict[str, tuple[float, float, float, float]] = {
    "volta": (39.0, 20.0, 20.0, 26.5),
    "ampere": (87.7, 20.0, 20.0, 24.0),
    "hopper": (87.7, 36.7, 36.7, 38.7),
    # Blackwell is not in 2.20.3: the later tuning.cc that adds BLACKWELL_COMPCAP_IDX (compute capability >= 10.0)
    # gives it twice that release's Hopper row (llMaxBws 2 x 141.0; per-channel 2 x 36.7, 2 x 36.7, 2 x 38.7)
    "blackwell": (282.0, 73.4, 73.4, 77.4),
}
# src/graph/tuning.cc treeCorrectionFactor[protocol][log2(bytes / 64)], powers of two from 64 B to 256 MiB
NCCL_TREE_CORRECTION: dict[str, tuple[float, ...]] = {
    "LL": (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0),
    "LL128": (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0),
    "Simple": (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9),
}
# Threads per channel (src/include/device.h NCCL_{LL,LL128,SIMPLE}_MAX_NTHREADS) and bytes per thread below which a
# call gives up a channel (src/include/comm.h NCCL_*_THREAD_THRESHOLD; ring LL's is multiplied by the ranks in
# tuning.cc); src/enqueue.cc then drops channels while bytes < channels × threads × threshold.
NCCL_THREADS_AND_THRESHOLD: dict[str, tuple[int, int]] = {"LL": (512, 8), "LL128": (640, 8), "Simple": (512, 64)}
NCCL_MAX_CHANNELS = 32  # src/include/device.h MAXCHANNELS; connect.cc runs min(32, 2 × the search's channels)


class NcclEstimate(NamedTuple):
    """One collective as the NCCL model prices it: ``seconds``, the ``algorithm`` and ``protocol`` chosen, and the
    channels it runs on (fractional: see :meth:`Interconnect.nccl_estimate`)."""

    seconds: float
    algorithm: str
    protocol: str
    channels: float


@functools.lru_cache(maxsize=512)
def _nccl_candidates(collective: str, chips: int, generation: str, link: str, channels: int,
                     bus: float) -> tuple[tuple[str, str, float, float, int], ...]:
    """NCCL's tuning table for one communicator (tuning.cc ncclTopoTuneModel, one node): per enabled (algorithm,
    protocol), its latency (s), its algorithm bandwidth over all channels (B/s) and the bytes per channel below
    which a call drops channels. ``bus`` is the bus bandwidth (:attr:`Interconnect.nccl_bus_bandwidth`: the
    search's channels × bandwidth per channel, at most the link's). Cached: it depends on the communicator only."""
    ll_max, ring_ll128_ch, tree_ll128_ch, tree_ch = (g * 1e9 for g in NCCL_GENERATION_CAPS_GBPS[generation])
    steps = 2 * (chips - 1) if collective == "all_reduce" else chips - 1
    out = []
    for algo in ("tree", "ring") if collective == "all_reduce" else ("ring",):
        for proto in NCCL_PROTOCOLS:
            if proto == "LL128" and link != "nvlink":
                continue  # LL128 is enabled by default only over NVLink (tuning.cc protoEnable)
            if algo == "ring":
                if proto == "LL":  # 8-byte lines carry 4 data bytes + a flag; NCCL books 1/4 (all-reduce), else 1/3
                    bw = min(ll_max, bus / (4 if collective == "all_reduce" else 3))
                elif proto == "LL128":  # 120 of every 128 bytes are data; NCCL books 0.92, capped per channel
                    bw = min(bus * 0.92, channels * ring_ll128_ch)
                else:
                    bw = bus
                bw *= chips / steps  # bus bandwidth -> algorithm bandwidth
                latency = NCCL_BASE_LATENCY_US[algo, proto] + steps * NCCL_HOP_LATENCY_US[link][algo, proto]
            else:
                bw = min(bus * 0.92, channels * tree_ch)
                if proto == "LL":
                    bw = min(bw / 3.8, ll_max)
                elif proto == "LL128":
                    bw = min(bw * 7 / 9, channels * tree_ll128_ch)
                bw *= 0.5  # a tree all-reduce moves the data up and down
                latency = NCCL_BASE_LATENCY_US[algo, proto] + 2 * (chips - 1) * NCCL_HOP_LATENCY_US[link][algo, proto]
            threads, threshold = NCCL_THREADS_AND_THRESHOLD[proto]
            per_channel = threads * threshold * (chips if (algo, proto) == ("ring", "LL") else 1)
            out.append((algo, proto, latency * 1e-6, bw, per_channel))
    return tuple(out)


class NcclTuning(_Model):
    """What NCCL's cost model needs to know of a node: the GPU generation (its per-channel caps), the link type
    (its hop latencies) and what NCCL's topology search finds: ``channels`` rings of ``channel_bandwidth`` each."""

    generation: Literal["volta", "ampere", "hopper", "blackwell"]
    link: Literal["nvlink", "pci"] = "nvlink"
    channels: PositiveInt
    channel_bandwidth: BytesPerSecond

    @property
    def bus_bandwidth(self) -> float:
        """What the topology search finds: ``channels`` × ``channel_bandwidth`` (tuning.cc busBw = nChannels ×
        bwIntra), before the link's cap (:attr:`Interconnect.nccl_bus_bandwidth`)."""
        return self.channels * self.channel_bandwidth

    @property
    def runtime_channels(self) -> int:
        """Channels a call may run on: the search's, duplicated once (connect.cc ncclTopoPostset), at most 32."""
        return min(NCCL_MAX_CHANNELS, 2 * self.channels)


class ScaleOut(_Model):
    """The network between nodes (InfiniBand, Ethernet), for collectives and sends whose chips are in different
    nodes: each chip sends through its own NIC ``bandwidth`` bytes/s per direction at ``efficiency`` (a DGX has one
    NIC per GPU), and each crossing between nodes (or a send) costs ``latency``. An all-reduce, all-gather or
    reduce-scatter across nodes is a ring over its chips, node after node: in every step each node sends one ring's
    share out of the node, so all of a chip's 2(N−1)/N · bytes (all-reduce) leave each node once, spread over the
    NICs of the group's chips in that node (NCCL's rings, one per NIC); here a chunk crosses the M − 1 node boundaries
    once per half, a lower bound of the NIC side. :meth:`collective_seconds` is that NIC-side ring alone (NCCL's
    tuner counts 2·M crossings for an all-reduce, the ring's wrap-around edge included, as
    :func:`accelsim.cost.collective.inter_node_steps` does); a collective is priced by
    :func:`accelsim.cost.collective.ring_across_nodes`, which adds NCCL's base latency, the hops inside the nodes
    and the protocols' caps, and holds the bandwidth to the node's own NCCL rate. An all-to-all cannot
    relay through a ring: NCCL runs it as point-to-point sends from every rank to every other (NCCL's user guide,
    "Point-to-point communication": all-to-all is a ncclSend/ncclRecv to each peer in one group call), so each chip
    pushes its own off-node share, (N − k)/N · bytes with k of the group's chips in its node, through its own NIC,
    and the sends overlap: one ``latency``."""

    kind: str = ""
    bandwidth: BytesPerSecond
    latency: Seconds = 0.0
    efficiency: Annotated[float, Field(gt=0, le=1)] = 1.0
    # pJ per bit a chip sends off its node (its NIC's bytes: PCIe to the NIC, the NIC, optics, switches), priced
    # apart from the links' interconnect.energy_per_bit (probe p111 #5); None: those bytes cost 0 J, with a note
    energy_per_bit: PicojoulesPerBit | None = None

    def collective_seconds(self, collective: str, nbytes: int, chips: int, per_node: int = 1,
                           nodes: int | None = None) -> float:
        """A ``collective`` of ``nbytes`` (nccl-tests' size) over ``chips`` in M = ``nodes`` nodes (default
        chips / per_node), ``per_node`` of them (k; the fewest any node holds) in a node: all-reduce 2 · ((N−1)/N
        · bytes / (k · bandwidth · efficiency) + (M−1) · latency), all-gather and reduce-scatter half of it (a
        ring's NIC side alone, a lower bound: :func:`accelsim.cost.collective.ring_across_nodes` prices the call);
        all-to-all (N−k)/N · bytes / (bandwidth · efficiency) + latency (each chip's sends off its node, through
        its own NIC)."""
        if chips <= 1 or nbytes <= 0:
            return 0.0
        per_node = min(max(per_node, 1), chips)
        if collective == "all_to_all":
            return (chips - per_node) / chips * nbytes / (self.bandwidth * self.efficiency) + self.latency
        halves = 2 if collective == "all_reduce" else 1
        nodes = max(nodes or -(-chips // per_node), 2)
        nics = per_node * self.bandwidth * self.efficiency
        return halves * ((chips - 1) / chips * nbytes / nics + (nodes - 1) * self.latency)

    def send_seconds(self, nbytes: float) -> float:
        """One point-to-point send across nodes: ``latency`` + bytes / (bandwidth · efficiency)."""
        return self.latency + nbytes / (self.bandwidth * self.efficiency)


def mean_ring_hops(group: int) -> float:
    """Mean shortest distance between two of ``group`` chips on a bidirectional ring."""
    return sum(min(d, group - d) for d in range(1, group)) / (group - 1) if group > 1 else 0.0


@functools.lru_cache(maxsize=1024)
def _node_shares(node_chips: int, group: int, extent: int) -> tuple[int, ...]:
    """The chips of a ``group`` spread evenly over ``extent`` consecutive chips (every extent / group-th from chip
    0) that each ``node_chips``-chip node holding some of them holds: a collective asks for it several times."""
    stride = max(extent // max(group, 1), 1)
    held = [0] * -(-extent // node_chips)
    for i in range(group):
        if i * stride < extent:
            held[i * stride // node_chips] += 1
    return tuple(h for h in held if h)


class Interconnect(_Model):
    """The links between chips. ``collective`` prices a collective: ``formula`` (the default): each chip sends
    ``bandwidth`` bytes/s per direction at ``efficiency``, each step costs ``latency``, ``topology`` ring (2(N−1)
    steps per all-reduce), fully_connected (2 steps; a switch gives any group the whole bandwidth) or full_mesh
    (2 steps over direct links, ``links`` of bandwidth / links each: :meth:`group_bandwidth`); ``nccl``: NCCL
    2.20's own cost model with the node described
    by ``nccl`` (see :meth:`nccl_estimate`; all chips on one NVLink/PCIe node), the formula's fields then unused by
    collectives."""

    bandwidth: BytesPerSecond
    latency: Seconds = 0.0
    topology: Literal["ring", "fully_connected", "full_mesh", "torus"] = "ring"
    # full_mesh: one chip's direct links, one to each other chip of its node; torus: its ports (default 2 an axis)
    links: PositiveInt | None = None
    # torus: chips along each axis, axis 0 fastest (chip i's coordinates are i's mixed-radix digits), and whether
    # each axis closes into a ring (one bool for all; an axis of 2 or fewer chips is a line either way)
    shape: list[PositiveInt] | None = None
    wraparound: bool | list[bool] = True
    efficiency: Annotated[float, Field(gt=0, le=1)] = 1.0  # sustained fraction of the link bandwidth
    kind: str = ""
    collective: Literal["formula", "nccl"] = "formula"
    nccl: NcclTuning | None = None
    energy_per_bit: PicojoulesPerBit | None = None  # pJ per bit a chip sends over the links
    area: SquareMm | None = None  # mm² of the links' PHYs on one chip
    # the chips these links join into one node (None: all of the arch's), and the network between nodes
    node_chips: PositiveInt | None = None
    scale_out: ScaleOut | None = None

    @model_validator(mode="after")
    def _nccl_needs_its_node(self) -> Interconnect:
        # each message starts with the key it is about, so that it is reported at that key's line (or --set)
        if self.collective == "nccl" and self.nccl is None:
            raise ValueError("collective: 'nccl' needs 'nccl' (generation, channels, channel_bandwidth)")
        if self.topology == "full_mesh" and self.links is None:
            raise ValueError("topology: 'full_mesh' needs links: a chip's bandwidth is spread over its links, one to "
                             "each other chip of its node")
        if self.links is not None and self.topology not in ("full_mesh", "torus"):
            raise ValueError(f"links: links go with topology 'full_mesh' or 'torus', not {self.topology!r}")
        if self.topology == "torus" and self.shape is None:
            raise ValueError("topology: 'torus' needs shape: the chips along each axis")
        if self.topology != "torus" and self.shape is not None:
            raise ValueError(f"shape: goes with topology 'torus' (the chips along each axis), not {self.topology!r}")
        if isinstance(self.wraparound, list) and len(self.wraparound) != len(self.shape or []):
            raise ValueError(f"wraparound: one bool per axis of shape ({len(self.shape or [])}), or one for all")
        if (self.node_chips is None) != (self.scale_out is None):
            # at whichever of the two was set last (a --set of scale_out=null, not the preset's node_chips line)
            why = "node_chips and scale_out go together: the chips of one node, and the network between nodes"
            if self.node_chips is not None:
                raise KeyPairError({"node_chips": f"{why} (scale_out is unset)",
                                    "scale_out": f"{why} (node_chips {self.node_chips}{KeyPairError.OTHER_AT})"})
            raise KeyPairError({"scale_out": f"{why} (node_chips is unset)",
                                "node_chips": f"{why} (scale_out is set{KeyPairError.OTHER_AT})"})
        return self

    def crosses_nodes(self, extent: int, group: int | None = None) -> bool:
        """Whether a group of chips spread over ``extent`` consecutive chips (Megatron's rank order) spans more
        than one node and so runs over ``scale_out``: with ``group``, whether its chips (every extent / group-th)
        sit in more than one node (2 chips 6 apart in 12 sit in one 8-chip node)."""
        if self.node_chips is None or extent <= self.node_chips:
            return False
        return group is None or self.group_nodes(group, extent) > 1

    def nodes(self, extent: int) -> int:
        """Nodes that ``extent`` consecutive chips from chip 0 span (1 without ``node_chips``)."""
        return -(-extent // self.node_chips) if self.node_chips else 1

    def _held(self, group: int, extent: int) -> tuple[int, ...]:
        """The chips of a ``group`` spread evenly over ``extent`` consecutive chips (every extent / group-th from
        chip 0) that each node holding some of them holds (:func:`_node_shares`, computed once per layout)."""
        return _node_shares(self.node_chips, group, extent)  # type: ignore[arg-type]

    def per_node(self, group: int, extent: int) -> int:
        """The fewest chips of a ``group`` spread evenly over ``extent`` consecutive chips that any node holding
        some of them holds: the node whose NICs bound a collective across nodes (12 chips of 8-chip nodes: 8 and 4,
        so 4)."""
        if not self.node_chips:
            return max(group, 1)
        return max(min(self._held(group, extent), default=1), 1)

    def group_nodes(self, group: int, extent: int) -> int:
        """The nodes holding a chip of the ``group`` (a ring across nodes pays a latency per node it crosses): a pair
        16 chips apart on 8-chip nodes spans 2 nodes, not the 3 or 4 its extent covers (1 without ``node_chips``)."""
        return len(self._held(group, extent)) if self.node_chips else 1

    def group_bandwidth(self, group: int) -> float:
        """Bytes/s per direction one chip drives toward the other ``group`` − 1 chips of a collective (2: one
        peer, a point-to-point send): ``bandwidth``, except on a ``full_mesh``, where each peer has its own link of
        bandwidth / links, so a group uses min(group − 1, links) of them (an 8-GPU Infinity Fabric mesh at
        tensor parallel 2 sends over one link of seven)."""
        if self.topology == "torus":  # a send, or a group's share along one axis: one link's (see torus_seconds)
            return self.link_bandwidth
        if self.topology != "full_mesh" or self.links is None:
            return self.bandwidth
        return self.bandwidth * min(max(group - 1, 1), self.links) / self.links

    @property
    def link_bandwidth(self) -> float:
        """One link's bytes/s per direction on a full mesh or torus (``bandwidth`` / ``links``; a torus without
        ``links`` has two ports an axis of more than one chip); ``bandwidth`` otherwise."""
        if self.topology == "torus" and self.shape is not None:
            return self.bandwidth / (self.links or 2 * max(sum(n > 1 for n in self.shape), 1))
        if self.topology == "full_mesh" and self.links:
            return self.bandwidth / self.links
        return self.bandwidth

    @property
    def nccl_bus_bandwidth(self) -> float:
        """The bus bandwidth NCCL's algorithms run at (``collective: nccl``; both :meth:`nccl_estimate` and
        :mod:`accelsim.cost.collective` read it): what NCCL's topology search finds, ``nccl.channels`` ×
        ``nccl.channel_bandwidth`` (tuning.cc busBw = nChannels × bwIntra), but never more than the link's line
        rate ``bandwidth``, since NCCL's channels cannot carry more than the links do (a user who lowers the
        bandwidth of a DGX preset slows its collectives). Not ``bandwidth`` × ``efficiency``: NCCL's 240 GB/s on
        a DGX A100 is above its 300 × 0.65 GB/s point-to-point rate. On every DGX preset the line rate is above
        the channels' (dgx-a100 240 < 300 GB/s, dgx-h100 / dgx-h200 360 < 450, dgx-b200 720 < 900), so the cap
        does not bind there; a link raised far above the channels leaves them the bound (:attr:`nccl_channels_bound`)."""
        if self.nccl is None:
            raise ValueError("nccl_bus_bandwidth needs interconnect.nccl")
        return min(self.nccl.bus_bandwidth, self.bandwidth)

    @property
    def nccl_channels_bound(self) -> bool:
        """NCCL's channels carry less than half the link's ``bandwidth`` (channels × channel_bandwidth · 2 <
        bandwidth): the channels, not the link, bound NCCL's collectives, as when a user raises a preset's
        bandwidth without its ``nccl.channel_bandwidth`` (the report says so in a note)."""
        return self.nccl is not None and self.bandwidth > 2 * self.nccl.bus_bandwidth

    def torus_axes(self, group: int, extent: int | None = None) -> list[tuple[int, bool, int]]:
        """The axis segments a collective's ``group`` of chips spans on the torus, as ``(chips, ring, spacing)``:
        the group is every (extent / group)-th chip of ``extent`` consecutive ones (Megatron's rank order; default
        extent = group), laid on the axes fastest first; a segment is ``chips`` positions ``spacing`` links apart
        along one axis, a ring when it covers the whole axis (chips × spacing = the axis), which wraps around and
        holds more than 2 chips, else a line. A stride that a whole number of axes makes skips them; a stride s
        that divides an axis of n takes every s-th position of it, n / s of them s links apart (probe p260 #2:
        expert parallel 8 beside tensor parallel 2 on a 4×4×4 torus, chips 0, 2, …, 14: x ∈ {0, 2} and y ∈ 0..3,
        ``[(2, True, 2), (4, True, 1)]``), and the next axis is then taken from its first chip on. A group the
        axes do not hold so (another stride, a count no axis divides) is one line of ``group`` chips a link
        apart: the slowest exchange, a bound."""
        assert self.shape is not None
        wraps = self.wraparound if isinstance(self.wraparound, list) else [self.wraparound] * len(self.shape)
        stride = (extent or group) // group if (extent or group) % group == 0 else 0
        segments: list[tuple[int, bool, int]] = []
        need = group
        for n, wrap in zip(self.shape, wraps, strict=True):
            if need == 1 or stride == 0:
                break
            if n == 1:  # an axis of one chip has no links: no segment (it would add a link's bandwidth)
                continue
            if stride > 1 and stride % n == 0:  # the group skips this axis whole
                stride //= n
                continue
            if n % stride:  # its chips stand apart inside the axis at a step the axis does not hold evenly
                stride = 0
                break
            places = n // stride  # the axis's positions the group takes, every stride-th
            take = min(places, need)
            if need % take or places % take:
                stride = 0
                break
            whole = take == places
            segments.append((take, wrap and whole and n > 2, stride))
            need //= take
            stride = 1  # the group's next chip lies on the next axis, from its first position
        return segments if stride and need == 1 else [(group, False, 1)]

    def torus_seconds(self, collective: str, nbytes: int, group: int, extent: int | None = None) -> float:
        """A collective on the torus as How to Scale Your Model (J. Austin et al., Google DeepMind; part 3,
        "Sharded matrices") prices it on TPU ICI: an all-gather or reduce-scatter over one axis of X chips moves
        (X − 1)/X of the array into each chip, over both directions of the axis's links when it wraps (a
        bidirectional ring) and one direction's worth when it does not (a line: their v5e example, 3 hops of V/4
        at the unidirectional rate); over several axes at once the axes' links add up ("increases the available
        bandwidth by a factor of N_axes"), so with G = the group's chips
        t = max(hops · latency, (G − 1)/G · bytes / (Σ axes' bandwidth · efficiency)), hops = Σ ⌊X/2⌋ (ring: the
        farthest chip) or X − 1 (line); an all-reduce is twice an all-gather. The larger of the two terms, not
        their sum: a hop takes max(T_min, its transfer) (part 3, "A note on ICI latency": T_hop = max[T_min,
        2V/(|X| W_ICI)], so T_total = max[T_min · |X|/2, V/W_ICI], over several axes max[T_min · Σ|X_i|/2,
        V/(W_ICI · n_axes)]; part 7, Appendix C "Latency bound communications", the same max), which summed over
        equal hops is the max of the totals (probe p285 #1: the sum priced a 512 KiB all-gather on tpu-v5e-8 at
        9.37 µs, 4 µs + 5.37 µs, against the book's 5.37 µs). ``nbytes``: the whole tensor, as
        elsewhere; for an all-to-all, nccl-tests' size: the buffer each chip holds, B. The book's all-to-all is a
        quarter of an all-gather of the whole array ("AllGather / 4 for a bidirectional ring"), the array being the
        group's buffers, V = X · B: X · B / (8 · link) on a ring of X, X · B / (4 · link) on a line (the middle
        link carries a quarter of V each way); over several axes, the slowest axis's cut (the axes' links
        working at once, as for an all-gather), and never less than the chip's own (G − 1)/G · B through all its
        links, nor than its hops' latency, the same max. A segment of X positions s links apart (:meth:`torus_axes`, a stride inside an axis) shares its
        axis's links with the s − 1 groups beside it, running the same collective: 1/s of its links' bandwidth,
        s links a hop, and a cut of X · s · B / (8 · link) (probe p260 #2); its time is again the larger of its
        hops' latency and its transfer."""
        axes = self.torus_axes(group, extent)
        per_link = self.link_bandwidth * self.efficiency
        # a segment s links apart shares its axis's links with the s − 1 groups beside it (the other tensor-
        # parallel ranks' groups, which run the same collective at once): 1/s of them its own, each hop s links
        bandwidth = sum(per_link * (2 if ring else 1) / step for _, ring, step in axes)
        hops = sum((n // 2 if ring else n - 1) * step for n, ring, step in axes)
        gather = (group - 1) / group * nbytes / bandwidth
        # each hop takes the larger of the per-hop latency and its transfer (the book's T_hop = max[T_min, ...]), so
        # the collective takes the larger of its hops' latency and its bytes' time, not their sum (probe p285 #1)
        if collective == "all_reduce":  # a reduce-scatter and an all-gather, each so
            return 2 * max(gather, hops * self.latency)
        if collective == "all_to_all":
            cut = max(n * step * nbytes / ((8 if ring else 4) * per_link) for n, ring, step in axes)
            return max(cut, gather, hops * self.latency)
        return max(gather, hops * self.latency)

    def all_reduce_seconds(self, nbytes: int, chips: int, extent: int | None = None) -> float:
        """Time of an all-reduce of ``nbytes`` over ``chips`` on an idle network. Formula: reduce-scatter +
        all-gather, 2(N−1)/N · bytes / (bandwidth · efficiency) plus the latency of each step (a torus:
        :meth:`torus_seconds`, the group's axes out of ``extent``); nccl: the model."""
        return self.collective_seconds("all_reduce", nbytes, chips, extent)

    def reduce_scatter_seconds(self, nbytes: int, chips: int, extent: int | None = None) -> float:
        """Time of a reduce-scatter of a ``nbytes`` tensor (the whole, unscattered one) over ``chips``: formula
        (N−1)/N · bytes / (bandwidth · efficiency) plus N−1 steps (ring) or 1 (fully_connected); nccl: the model."""
        return self.collective_seconds("reduce_scatter", nbytes, chips, extent)

    def all_gather_seconds(self, nbytes: int, chips: int, extent: int | None = None) -> float:
        """Time of an all-gather producing a ``nbytes`` tensor (the whole, gathered one) on each of ``chips``;
        priced as :meth:`reduce_scatter_seconds` (NCCL prices the two alike on one node)."""
        return self.collective_seconds("all_gather", nbytes, chips, extent)

    def send_seconds(self, nbytes: float) -> float:
        """Time of one point-to-point send of ``nbytes`` over a link (a pipeline stage's activations):
        ``latency`` + bytes / (bandwidth · efficiency), one link's bandwidth on a full mesh."""
        return self.latency + nbytes / (self.group_bandwidth(2) * self.efficiency)

    def collective_seconds(self, collective: str, nbytes: int, chips: int, extent: int | None = None) -> float:
        """Time of one ``collective`` (all_reduce, reduce_scatter, all_gather, all_to_all) of ``nbytes`` over
        ``chips`` spread over ``extent`` consecutive chips, on one node: NCCL's model, the torus's rules, or the
        formula (an all-to-all sends what an all-gather does, a piece to each peer, on a fully connected node or
        a full mesh; on a ring each piece rides :func:`mean_ring_hops` / 2 links, both directions carrying:
        16 chips, 64/15 / 2 = 2.13 x an all-gather's bytes, the ring's bisection bound)."""
        if chips <= 1 or nbytes <= 0:
            return 0.0
        if self.collective == "nccl":
            return self.nccl_estimate(collective, nbytes, chips).seconds  # type: ignore[arg-type]
        if self.topology == "torus":
            return self.torus_seconds(collective, nbytes, chips, extent)
        halves = 2 if collective == "all_reduce" else 1  # an all-reduce is a reduce-scatter + an all-gather
        steps = halves * (chips - 1 if self.topology == "ring" else 1)
        # an all-to-all's pieces go straight to their peers through a switch or a mesh's own links; on a ring each
        # travels the shortest way round, its mean hops over the two directions (the cut of the ring's links)
        hops = mean_ring_hops(chips) / 2 if collective == "all_to_all" and self.topology == "ring" else 1.0
        return (halves * (chips - 1) / chips * nbytes * hops / (self.group_bandwidth(chips) * self.efficiency)
                + steps * self.latency)

    def nccl_estimate(self, collective: Literal["all_reduce", "reduce_scatter", "all_gather"], nbytes: int,
                      chips: int, *, algorithm: str | None = None, protocol: str | None = None) -> NcclEstimate:
        """NCCL's cost model on one node of ``chips`` GPUs (``nbytes``: the whole tensor). Per algorithm (ring;
        tree for all-reduce) and protocol (LL, LL128, Simple): time = latency + bytes / bandwidth, with
        latency = base + hops · hop latency and bandwidth = :attr:`nccl_bus_bandwidth` (channels ×
        channel_bandwidth, at most the link's ``bandwidth``) cut by the protocol
        (LL 1/4, LL128 0.92, per-channel caps of the generation) and turned into algorithm bandwidth (ring
        N / steps, tree 1/2 and its size correction). NCCL's tuner picks the least time with all channels; the
        call then runs on fewer channels when it cannot give each threads × threshold bytes (enqueue.cc), its
        bandwidth scaled by used / runtime channels as tuning.cc scales it. The channel count is not rounded
        down, so within one protocol the time never falls as bytes grow. ``algorithm``/``protocol`` force a
        choice, as NCCL_ALGO / NCCL_PROTO do."""
        tune = self.nccl
        if tune is None:
            raise ValueError("nccl_estimate needs interconnect.nccl")
        if chips <= 1 or nbytes <= 0:
            return NcclEstimate(0.0, "ring", "Simple", 0.0)
        log_size = max((nbytes >> 6).bit_length() - 1, 0)
        best: tuple[float, str, str, float, float, int] | None = None
        for algo, proto, latency, bw, per_channel in _nccl_candidates(
                collective, chips, tune.generation, tune.link, tune.channels, self.nccl_bus_bandwidth):
            if algo != (algorithm or algo) or proto != (protocol or proto):
                continue
            if algo == "tree" and log_size < len(NCCL_TREE_CORRECTION[proto]):
                bw *= NCCL_TREE_CORRECTION[proto][log_size]
            seconds = latency + nbytes / bw
            if best is None or seconds < best[0]:
                best = (seconds, algo, proto, latency, bw, per_channel)
        if best is None:
            raise ValueError(f"NCCL has no {algorithm or 'ring/tree'}/{protocol or 'any protocol'} {collective} "
                             f"on {tune.link}")
        _, algo, proto, latency, bw, per_channel = best
        runtime = tune.runtime_channels
        if nbytes >= per_channel * runtime:  # every channel busy
            return NcclEstimate(latency + nbytes / bw, algo, proto, float(runtime))
        if nbytes <= per_channel:  # one channel
            return NcclEstimate(latency + nbytes * runtime / bw, algo, proto, 1.0)
        # nbytes / per_channel channels, each moving per_channel bytes: a constant time (written so, exactly)
        return NcclEstimate(latency + per_channel * runtime / bw, algo, proto, nbytes / per_channel)


def _port_bits(value: object) -> object:
    """``energy.sram_port_bits`` as given: 8 to 65536 bits, or ``rows`` / ``cols``; anything else one message
    (not the union's two)."""
    if value in ("rows", "cols"):
        return value
    bits = value
    if isinstance(value, str) and value.strip().isdigit():  # (as pydantic's int read "128")
        bits = int(value)
    elif isinstance(value, float) and value.is_integer():  # 128.0
        bits = int(value)
    if isinstance(bits, int) and not isinstance(bits, bool) and 8 <= bits <= 65536:
        return bits
    raise ValueError("expected the port's width in bits (8 to 65536), or 'rows' / 'cols': the systolic array's rows "
                     "(columns) x the operand bits of the arch's dtype")


# what a core_sram size may be given per (its one and many names): core.systolic's PEs (rows x cols), rows or
# columns, each x its count of arrays (Arch.core_sram_bytes)
_SRAM_PER = {"pe": ("PE", "PEs"), "row": ("row", "rows"), "col": ("column", "columns")}


def _core_sram_size(value: object) -> object:
    """An ``energy.core_sram`` array's size as given: bytes (a size, as everywhere), or a size per PE, row or column
    of the systolic array, ``"520B/pe"``, ``"16KiB/col"``, held as ``"<bytes>B/<per>"`` (probe p229 #2)."""
    if isinstance(value, str) and "/" in value:
        size, _, per = value.rpartition("/")
        if per.strip() not in _SRAM_PER:
            raise ValueError(f"expected a size such as '64KiB', or one per PE, row or column of the systolic array "
                             f"('520B/pe', '1KiB/row', '16KiB/col'), not per {per.strip()!r}")
        try:
            each = parse_size(size.strip())
        except ValueError as e:
            raise ValueError(f"the size per {_SRAM_PER[per.strip()][0]} in {value!r}: {e}") from None
        return f"{each}B/{per.strip()}"
    return parse_size(value)


class EnergySpec(_Model):
    """A chip's energy, power and area constants (docs/energy.md; computed by :mod:`accelsim.energy`).

    On-chip figures (``mac_pj``, ``vector_pj``, ``sram_pj`` and the areas in µm²) are given at
    ``reference_node`` (default 45 nm, Horowitz ISSCC 2014's node) and carried to the chip's ``node`` by the
    node-scaling rule of :mod:`accelsim.energy.tech` (from ``reference_voltage`` to ``voltage``); per-level and per-link figures (pJ/bit, W, mm² on the
    levels and the interconnect) are taken as written. A dtype missing from ``mac_pj``/``mac_area_um2`` takes
    Horowitz's figures (:func:`accelsim.energy.tech.mac_45nm`), and ``sram_pj``, ``sram_bitcell_um2`` and
    ``register_bit_um2`` left None the built-in 45 nm figures (``energy.tech``), carried from 45 nm whatever
    ``reference_node`` says (a figure written is the arch's own, even one equal to the default). The chip's
    static power is ``idle_power`` (W), else ``leakage_w_per_mm2`` × its area, shared over units and levels by
    area; while it does work it also draws ``activity_power_share`` × (``tdp`` − ``idle_power``)."""

    node: Nanometres
    reference_node: Nanometres = 45.0
    # supply voltages (V) of the node scaling (Stillmaker & Baas's E(V), docs/energy.md "Supply voltage"): the chip's
    # (None: 0.8 V, energy.tech.DEFAULT_VOLTAGE) and that of the figures the arch gives at reference_node (None:
    # the chip's voltage where reference_node is the chip's node or any node but 45 nm, Horowitz's 0.9 V at 45 nm,
    # his table's node; energy.model.reference_volts; probe p159 #1: a fixed 0.9 V took 18-24 % off figures
    # stated at the chip's own node); the built-in figures are 0.9 V ones whatever it says
    voltage: Volts | None = None
    reference_voltage: Volts | None = None
    mac_pj: dict[Dtype, Picojoules] = Field(default_factory=dict)  # per MAC (multiply + accumulate) by dtype
    mac_overhead: Annotated[float, Field(ge=1, le=1000)] = 1.0  # array energy per MAC ÷ the arithmetic's
    vector_pj: Picojoules | None = None  # per vector FLOP (default: half the dtype's MAC arithmetic: an FMA is 2)
    # per 64-bit access of an 8 KiB SRAM (scaled by √capacity and √port width); None: Horowitz's 10 pJ at 45 nm
    sram_pj: Picojoules | None = None
    # the scratchpad's port width: bits, or "rows" / "cols", the array edge the scratchpad serves one operand per
    # row (column) of each cycle: core.systolic's rows (cols) x the operand bits of the arch's dtype
    # (energy.model.scratchpad_port_bits), so an array-size sweep carries the port with it (probe p211 #1)
    sram_port_bits: Annotated[int | Literal["rows", "cols"], BeforeValidator(_port_bits)] = 64
    mac_area_um2: dict[Dtype, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(default_factory=dict)
    mac_area_overhead: Annotated[float, Field(ge=1, le=1000)] = 1.0  # PE area (registers, wires) ÷ arithmetic's
    vector_area_um2: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None  # per lane
    # one SRAM bit cell; None: the built-in 0.346 µm² 45 nm cell
    sram_bitcell_um2: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    # bit cells ÷ macro area: 0.33, measured on NVDLA's published 28 nm areas (nvdla/doc @04a0133 doc/primer.rst,
    # "Example Area and Performance": a least-squares fit of its 7 rows gives 0.388 µm² per convolution-buffer bit,
    # memories and periphery included, against the 0.127 µm² 28 nm cell of this rule; docs/energy.md)
    sram_array_efficiency: Annotated[float, Field(gt=0, le=1)] = 0.33
    idle_power: Watts | None = None  # the chip's static power (W), off-chip memories excluded
    leakage_w_per_mm2: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    other_area: SquareMm = 0.0  # mm² of the die this model does not build (I/O, NoC, control, ...)
    tdp: Watts | None = None  # thermal design power (W): a run above it says so in notes
    # the share of the board's headroom (tdp - idle_power) a chip draws while it does work, beyond the actions this
    # model prices (a GPU's clock tree, instruction issue and operand delivery of busy SMs, leakage under load)
    activity_power_share: Annotated[float, Field(ge=0, le=1)] = 0.0
    # area of what an arithmetic unit does not hold (docs/energy.md, "Registers, register files, the whole die")
    # one flip-flop bit; None: FreePDK45's DFF_X1, 4.522 µm² at 45 nm
    register_bit_um2: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    pe_register_bits: Annotated[int, Field(ge=0, le=4096)] = 0  # flip-flop bits per MAC of an array (its PE)
    # per core, SRAM arrays besides the scratchpad: bytes, or bytes per PE / row / column of core.systolic
    # ("520B/pe", "16KiB/col": Arch.core_sram_bytes), so an array-size sweep carries them (probe p229 #2)
    core_sram: dict[str, Annotated[int | str, BeforeValidator(_core_sram_size)]] = Field(default_factory=dict)
    die_cores: Annotated[int, Field(ge=1, le=65_536)] | None = None  # cores on the die, enabled or not
    die_capacity: dict[str, Bytes] = Field(default_factory=dict)  # a cache level's capacity on the die
    sram_bitcell_at_node_um2: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None  # a foundry's cell
    # the node that cell was published at (None: ``node``); a ``node`` set elsewhere carries the cell by the ratio
    # of the published cells at the two nodes, energy.tech.sram_cell_scale(sram_bitcell_node, node) (probe p96
    # #1: not the logic area rule); without a pinned cell it is not used (probe p87 #3)
    sram_bitcell_node: Nanometres | None = None
    core_alus: dict[Dtype, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(default_factory=dict)  # per core

    @model_validator(mode="after")
    def _power_below_the_tdp(self) -> EnergySpec:
        if self.tdp is not None and self.tdp <= 0:
            raise ValueError(f"tdp: {self.tdp:g} W, but a chip's thermal design power is above 0 W (leave tdp out "
                             f"when the chip gives none)")
        at = KeyPairError.OTHER_AT
        if self.tdp is not None and self.idle_power is not None and self.idle_power > self.tdp:
            why = "a chip's static power is part of its thermal design power, so lower idle_power or raise tdp"
            raise KeyPairError({"idle_power": f"{self.idle_power:g} W, above energy.tdp ({self.tdp:g} W{at}): {why}",
                                "tdp": f"{self.tdp:g} W, below energy.idle_power ({self.idle_power:g} W{at}): {why}"})
        if self.tdp is None and self.activity_power_share > 0:
            # the share is of the headroom tdp - idle_power: without a tdp it would draw nothing, unsaid
            fix = "give the chip's tdp or set activity_power_share to 0"
            share = f"{self.activity_power_share:g}"
            raise KeyPairError({
                "activity_power_share": f"{share}, a share of the headroom tdp − idle_power, but energy.tdp is not "
                                        f"given (null{at}): {fix}",
                "tdp": f"null, but energy.activity_power_share ({share}{at}) is a share of the headroom tdp − "
                       f"idle_power: {fix}"})
        return self


MAX_CORES = 65_536  # a unit per core (but a GPU's lock-step SMs): more would need minutes and gigabytes to map
SCRATCHPAD = "sram"  # the name of the cores' own scratchpad level (``core.sram``) in the hierarchy
# The short forms of a preset: these keys are read as levels of that name, innermost first, before ``levels``.
LEGACY_LEVELS: tuple[tuple[str, LevelRole], ...] = (("l2", "cache"), ("hbm", "memory"), ("host", "memory"))


def _given_field(level: object, key: str) -> object:
    """``level``'s ``key`` as written: a raw mapping's entry, or a :class:`Level`'s field where it was set (None
    otherwise: a default, or a level that is neither)."""
    if isinstance(level, Level):
        return getattr(level, key) if key in level.model_fields_set else None
    return level.get(key) if isinstance(level, dict) else None


CACHE_ONLY_FIELDS = {
    "resident_share": "only a cache level keeps a share of its capacity for a tensor",
    "port_bits": "only a cache level's energy follows the SRAM rule at a port width (a memory's is its energy_per_bit)",
}
"""The level fields only a cache takes, each with the message a memory that gives it gets."""


def _cache_only_problems(level: object, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], str]]:
    """The :data:`CACHE_ONLY_FIELDS` a level that is not a cache gives, each ``(path + (field,), message)``."""
    return [((*path, f), why) for f, why in CACHE_ONLY_FIELDS.items() if _given_field(level, f) is not None]


def level_graph_problems(data: object) -> list[tuple[tuple[str, ...], str]]:
    """The problems of an arch's levels as a whole, each ``(key path, message)``: a short form (``l2``, ``hbm``,
    ``host``) given twice or with another name, role or an ``after``; a reserved level name; an ``after`` naming no
    level; ``after`` s that go round in a circle; a ``resident_share`` or ``port_bits`` on a level that is not a cache. ``data`` is
    the arch as a mapping, its levels raw mappings (a file's, before validation: the config layer reports these
    beside the other keys' problems) or :class:`Level` s (:meth:`Arch._order_levels`); a value of the wrong type is
    skipped, its own check reports it."""
    if not isinstance(data, dict):
        return []
    out: list[tuple[tuple[str, ...], str]] = []
    levels = data.get("levels")
    levels = levels if isinstance(levels, dict) else {}
    shorts = [(key, role) for key, role in LEGACY_LEVELS if isinstance(data.get(key), (dict, Level))]
    for key, role in shorts:
        level = data[key]
        if key in levels:
            out.append((("levels", key), f"level {key!r} is given twice: as '{key}' and in 'levels'"))
        name = _given_field(level, "name")
        if isinstance(name, str) and name not in ("", key):
            out.append(((key, "name"), f"{name!r} differs from its key"))
        given = _given_field(level, "role")
        if given in ("cache", "memory") and given != role:  # the short forms' role and place are fixed
            out.append(((key, "role"), f"{key!r} is a {role}; a level of another role goes in 'levels'"))
        if _given_field(level, "after") is not None:
            out.append(((key, "after"), f"not used for {key!r}: l2, hbm and host come first, in that order (a level "
                                        f"placed with 'after' goes in 'levels')"))
        if role != "cache":
            out += _cache_only_problems(level, (key,))
    known = [SCRATCHPAD] + [key for key, _ in shorts] + [str(k) for k in levels]
    afters: dict[str, str] = {}
    for key, level in levels.items():
        if not isinstance(level, (dict, Level)):
            continue
        name = _given_field(level, "name")
        if isinstance(name, str) and name not in ("", key):
            out.append((("levels", key, "name"), f"{name!r} differs from its key"))
        if key in (SCRATCHPAD, "link"):  # names the scratchpad and the interconnect already take in reports
            out.append((("levels", key), f"{key!r} is a reserved name (the cores' scratchpad is core.sram; the chips' "
                                         f"links are interconnect): name the level otherwise"))
        role = _given_field(level, "role")
        if role in ("memory", None):
            out += _cache_only_problems(level, ("levels", key))
        after = _given_field(level, "after")
        if not isinstance(after, str):
            continue
        if after not in known:
            others = ", ".join(n for n in known if n != key)
            out.append((("levels", key, "after"), f"no level {after!r} (levels: {others})"))
        else:
            afters[key] = after
    circles: set[frozenset[str]] = set()
    for start in afters:  # each chain of afters ends at a level placed otherwise, or goes round
        chain = [start]
        while chain[-1] in afters and afters[chain[-1]] not in chain:
            chain.append(afters[chain[-1]])
        if chain[-1] in afters:
            loop = chain[chain.index(afters[chain[-1]]):]
            if frozenset(loop) not in circles:
                circles.add(frozenset(loop))
                out.append((("levels", loop[0], "after"), f"circular 'after': {' → '.join([*loop, loop[0]])}"))
    return out


class LevelInfo(NamedTuple):
    """One level of the whole hierarchy as the mapper and the report see it (the scratchpad included)."""

    name: str
    role: str  # "scratchpad" | "cache" | "memory"
    capacity: int  # bytes (a scratchpad: per core)
    bandwidth: float  # bytes/s of the whole chip (a scratchpad: all cores' together; inf: unbounded)


class Arch(_Model):
    """A chip: ``cores`` identical cores, each with its scratchpad, sharing the levels of the memory hierarchy
    (caches, then memories), at one clock; ``chips`` of them joined by an ``interconnect``.

    The hierarchy is data: ``levels`` maps level names to :class:`Level` s, innermost first; the preset short
    forms ``l2`` (a cache), ``hbm`` and ``host`` (memories) are the same thing written as keys, and come first
    in that order. :meth:`hierarchy` gives them all in order; no code outside the presets names a level."""

    name: str = "custom"
    description: str = ""
    clock: Hertz
    dtype: Dtype = "int8"
    # dtype -> the dtype the arch's software makes a tensor of it by default (a TPU's 64-bit floats 32-bit ones:
    # JAX's jax_enable_x64 is off by default); every op, output and weight of it runs as the other, its bytes and
    # rate (mapping.lower.dtypes_as_run, probe p267 #4). Empty: each dtype its own
    dtype_as: dict[DType, DType] = Field(default_factory=dict)
    cores: Annotated[PositiveInt, Field(le=MAX_CORES)] = 1
    core: Core
    hbm: Level | None = None
    host: Level | None = None
    l2: Level | None = None
    levels: dict[str, Level] = Field(default_factory=dict)
    kernel_launch: Seconds = 0.0  # host time to launch each op (a GPU kernel) in eager mode, serial, ahead of execution
    graph_launch: Seconds = 0.0  # host time to launch one CUDA graph holding a pass's kernels (options.execution)
    kernel_dispatch: Seconds = 0.0  # device time from a kernel's launch issued and inputs ready to its start
    chips: PositiveInt = 1
    interconnect: Interconnect | None = None
    energy: EnergySpec | None = None  # energy, power and area constants (None: the report's energy is null)
    # modules imported before the rest is validated: those that register the kinds of core.units (plug-ins)
    # (a single name is a list of one)
    plugins: Annotated[tuple[Annotated[str, Field(pattern=_MODULE_NAME.pattern)], ...],
                       BeforeValidator(lambda v: [v] if isinstance(v, str) else v)] = ()
    _order: tuple[Level, ...] = PrivateAttr(default=())
    # derived once from _order (cost models ask for them per tile shape and split: tens of thousands of times)
    _memories: tuple[str, ...] = PrivateAttr(default=())
    _caches: tuple[str, ...] = PrivateAttr(default=())
    _by_name: dict[str, Level] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _import_plugins(cls, data: object) -> object:
        problem = import_plugins(data.get("plugins")) if isinstance(data, dict) else None
        if problem is not None:
            raise ValueError(problem)
        return data

    @model_validator(mode="before")
    @classmethod
    def _l2_is_a_cache(cls, data: object) -> object:
        """``l2`` without a ``role`` gets the role its key gives it, so that one it was written with (``memory``)
        can be refused (:func:`level_graph_problems`) and the dump says what the level is."""
        if isinstance(data, dict):
            l2 = data.get("l2")
            if isinstance(l2, dict) and "role" not in l2:
                data = {**data, "l2": {**l2, "role": "cache"}}
            elif isinstance(l2, Level) and "role" not in l2.model_fields_set:
                data = {**data, "l2": l2.model_copy(update={"role": "cache"})}
        return data

    @model_serializer(mode="wrap")
    def _dump_plugins_if_any(self, handler: SerializerFunctionWrapHandler) -> dict:
        """The dump without ``plugins`` when there are none, as before the key existed (a sweep point's id hashes
        the dump)."""
        out = handler(self)
        if not self.plugins:
            out.pop("plugins", None)
        return out

    @model_validator(mode="after")
    def _links_for_chips(self) -> Arch:
        if self.chips > 1 and self.interconnect is None:
            # at whichever of the two was set last (a --set of interconnect=null, not the preset's chips line)
            why = "needs an 'interconnect' (bandwidth, latency, topology)"
            raise KeyPairError({"chips": f"{self.chips} {why}",
                                "interconnect": f"unset, but chips ({self.chips}{KeyPairError.OTHER_AT}) {why}"})
        ic = self.interconnect
        node = (ic.node_chips or self.chips) if ic is not None else self.chips
        # the chips' key: the checks below compare it with another key, and are reported at the one set last
        count = "interconnect.node_chips" if ic is not None and ic.node_chips else "chips"
        at = KeyPairError.OTHER_AT
        if ic is not None and ic.topology == "full_mesh" and ic.links is not None and ic.links < node - 1:
            # at least one direct link to each other chip of the node (Interconnect.group_bandwidth spreads the
            # bandwidth over the links, min(g - 1, links) of them for a group of g): 2 links on 4 chips would price a
            # collective of 4 as if each chip had 3. More links than chips - 1 is a board run on fewer of its chips
            # (mi300x-8 with chips: 4 uses 3 of its 7 links)
            raise KeyPairError({
                "interconnect.links": f"{ic.links}, but a full mesh joins each of its {node} chips ({count}{at}) to "
                                      f"the {node - 1} others by a link each: links must be at least {node - 1}",
                count: f"{node}, but a full mesh joins each chip to the {node - 1} others by a link each, and "
                       f"interconnect.links ({ic.links}{at}) is fewer: links must be at least {node - 1}"})
        if ic is not None and ic.shape is not None and math.prod(ic.shape) != node:
            held = math.prod(ic.shape)
            raise KeyPairError({
                "interconnect.shape": f"{ic.shape} holds {held} chips, not the {count} ({node}{at})",
                count: f"{node}, but interconnect.shape ({ic.shape}{at}) holds {held} chips: make them agree"})
        return self

    @model_validator(mode="after")
    def _own_rate_is_the_base(self) -> Arch:
        # a unit's rates are multiples of its base rate (rows x cols MACs, lanes), which is the rate of the arch's
        # dtype: another figure for that dtype would speed its ops up while the peak (peak_macs_per_cycle) kept
        # rows x cols, and every utilisation would be normalised by the wrong peak
        # rates that leave that dtype out list it at 1: else dtype_rate would run the arch's own ops at the nearest
        # wider listed dtype's rate ({fp16: 0.5} on an int8 arch: int8 at half rate, mac_utilization doubled)
        filled: dict[str, BaseModel] = {}
        for unit, base in (("systolic", "rows × cols"), ("vector", "lanes")):
            spec = getattr(self.core, unit)
            if spec is None:
                continue
            rate = spec.rates.get(self.dtype)
            if rate is not None and rate != 1:
                raise ValueError(f"core.{unit}.rates.{self.dtype}: {rate:g}, but the rates are multiples of the rate "
                                 f"of the arch's dtype ({self.dtype}), so its own is 1: to compute in {self.dtype} at "
                                 f"that rate keep the arch's dtype and set the workload's (--set workload.dtype="
                                 f"{self.dtype}); for a faster arch dtype, change {base}")
            if rate is None and spec.rates and self.dtype in RATE_BITS:
                filled[unit] = spec.model_copy(update={"rates": {**spec.rates, self.dtype: 1.0}})
        if filled:  # a new Core (the one given may be another Arch's, of another dtype); frozen: set as __init__ does
            object.__setattr__(self, "core", self.core.model_copy(update=filled))
        return self

    @model_validator(mode="after")
    def _sram_holds_one_array_step(self) -> Arch:
        # the mapper tiles a GEMM down to whatever fits, even one element an operand, but the systolic cost model
        # prices folds that feed the array a full edge per cycle: a scratchpad that cannot hold one element of each
        # operand per row or column it enters or leaves by gives cycles that describe no machine (a 16 B unified
        # buffer on a 256x256 array ran 4.7 M cycles of one-element tiles)
        sram, array = self.core.sram, self.core.systolic
        if array is None:  # vector lanes (or plug-in units) only: no array edge to feed
            return self
        share = self.core.ofmap_element_bytes(self.dtype, array.dataflow)  # os: the output, its psums in the PEs
        elem = DTYPE_BYTES[self.dtype]
        side = {"ifmap": array.rows, "filter": array.cols} if array.dataflow != "is" else {
            "ifmap": array.cols, "filter": array.rows}  # input stationary: the filter streams in by rows
        need = {"ifmap": side["ifmap"] * elem, "filter": side["filter"] * elem, "ofmap": array.cols * share}
        times = 2 if sram.double_buffered else 1
        dims = {"core.systolic.rows": array.rows, "core.systolic.cols": array.cols}
        # the array edge each buffer's need grows with: the ifmap's by rows, the filter's by cols ("is": the other way)
        by = {"ifmap": "core.systolic.rows", "filter": "core.systolic.cols", "ofmap": "core.systolic.cols"}
        if array.dataflow == "is":
            by["ifmap"], by["filter"] = by["filter"], by["ifmap"]
        if times * sum(need.values()) > MAX_INT:  # an absurd array (2**62 rows), which no scratchpad can feed: at
            # its longer edge (a tie: rows), which is what makes it so (an edge beyond MAX_INT: the number check's)
            key = max(dims, key=dims.__getitem__)
            if dims[key] > MAX_INT:
                return self
            raise ValueError(f"{key}: one step of a {array.rows}x{array.cols} systolic array needs more than "
                             f"{MAX_INT:,} (2**63 - 1) B of scratchpad ({times} x ({need['ifmap']:,} + "
                             f"{need['filter']:,} + {need['ofmap']:,} B)), more than any core.sram can hold")
        at = KeyPairError.OTHER_AT
        twice = ", twice as double_buffered" if times == 2 else ""
        what = (f"one {self.dtype} element per array {'row' if side['ifmap'] == array.rows else 'column'} of the "
                f"ifmap, one per {'column' if side['filter'] == array.cols else 'row'} of the filter and one "
                f"{share}-byte {'output' if array.dataflow == 'os' else 'partial sum'} per column of the ofmap")
        shape = f"{array.rows}x{array.cols} {array.dataflow} systolic array"
        if sram.unified is not None:
            least = times * sum(need.values())
            if sram.unified < least:
                msg = (f"{sram.unified:,} B cannot hold one step of the {shape} ({what}: {need['ifmap']:,} + "
                       f"{need['filter']:,} + {need['ofmap']:,} B{twice}); it needs at least {least:,} B")
                # or at the array edge that needs most of it (a tie: rows)
                edge = max(dims, key=lambda k: sum(b for n, b in need.items() if by[n] == k))
                raise KeyPairError({"core.sram.unified": msg, edge: f"{dims[edge]:,}: core.sram.unified "
                                                                    f"({sram.unified:,} B{at}) {msg[msg.index('cannot'):]}"})
            return self
        for name in ("ifmap", "filter", "ofmap"):
            size, least = getattr(sram, name), times * need[name]
            if size < least:
                msg = (f"{size:,} B cannot hold one step of the {shape} ({what}: {need[name]:,} B of {name}{twice}); "
                       f"it needs at least {least:,} B")
                edge = by[name]
                raise KeyPairError({f"core.sram.{name}": msg,
                                    edge: f"{dims[edge]:,}: core.sram.{name} ({size:,} B{at}) {msg[msg.index('cannot'):]}"})
        return self

    @model_validator(mode="after")
    def _times_fit_in_cycles(self) -> Arch:
        # the engine counts whole cycles in 64 bits: a latency (or launch time) of more cycles than that at this
        # clock is no finite number of cycles
        times = [(key, getattr(self, key)) for key in ("kernel_launch", "graph_launch", "kernel_dispatch")]
        times += [(f"{key}.latency", lv.latency) for key in ("l2", "hbm", "host") if (lv := getattr(self, key))]
        times += [(f"levels.{key}.latency", lv.latency) for key, lv in self.levels.items()]
        if self.interconnect is not None:
            times.append(("interconnect.latency", self.interconnect.latency))
        at = KeyPairError.OTHER_AT
        for key, seconds in times:  # at the key set last of the time and the clock (--set arch.clock=1e30GHz)
            if not seconds * self.clock < MAX_INT:
                raise KeyPairError({
                    key: f"{seconds:g} s is more than {MAX_INT:,} (2**63 - 1) cycles at the clock of {self.clock:g} Hz"
                         f" (clock{at})",
                    "clock": f"{self.clock:g} Hz makes {key} ({seconds:g} s{at}) more than {MAX_INT:,} (2**63 - 1) "
                             f"cycles, which no run can count"})
        return self

    @model_validator(mode="after")
    def _bytes_per_cycle_fit(self) -> Arch:
        # a level's bandwidth over the clock is the bytes it moves a cycle; beyond MAX_INT (2**63 - 1), more than any
        # tensor holds (sizes are at most that), every transfer takes under a cycle and the run's cycles and seconds
        # describe no machine (--set arch.clock=1e-30Hz: a 1,023-cycle gemm of 1e33 s; hbm.bandwidth=1e30GB/s)
        bandwidths = [(f"{key}.bandwidth", lv.bandwidth) for key in ("l2", "hbm", "host") if (lv := getattr(self, key))]
        bandwidths += [(f"levels.{key}.bandwidth", lv.bandwidth) for key, lv in self.levels.items()]
        if self.interconnect is not None:
            bandwidths.append(("interconnect.bandwidth", self.interconnect.bandwidth))
        at = KeyPairError.OTHER_AT
        for key, bandwidth in bandwidths:  # at the key set last of the bandwidth and the clock
            if not math.isinf(bandwidth) and bandwidth / self.clock > MAX_INT:
                per = f"{bandwidth / self.clock:.3g} B a cycle, more than {MAX_INT:,} (2**63 - 1), the most any " \
                      f"tensor holds"
                raise KeyPairError({
                    key: f"{bandwidth:g} B/s at the clock of {self.clock:g} Hz (clock{at}) is {per}",
                    "clock": f"{self.clock:g} Hz makes {key} ({bandwidth:g} B/s{at}) {per}"})
        return self

    @model_validator(mode="after")
    def _unit_energy_hooks(self) -> Arch:
        """A unit kind's own pJ per MAC and per FLOP (its cost module's ``pj_per_mac``, ``pj_per_flop``) for the
        arch's dtype are numbers ≥ 0 (or None)."""
        if self.energy is not None:
            for u in self.core.plugin_specs():
                try:
                    u.pj_per_mac(self.dtype)
                    u.pj_per_flop(self.dtype)
                except ValueError as e:
                    raise ValueError(f"core.units.{u.name}.kind: {e}") from None
        return self

    @model_validator(mode="after")
    def _energy_die_holds_the_arch(self) -> Arch:
        spec = self.energy
        if spec is None:
            return self
        at = KeyPairError.OTHER_AT
        if spec.die_cores is not None and spec.die_cores < self.cores:
            why = "the die holds the cores the arch enables and may hold more"
            raise KeyPairError({"energy.die_cores": f"{spec.die_cores} is fewer than the arch's cores ({self.cores}"
                                                    f"{at}): {why}",
                                "cores": f"{self.cores}, more than energy.die_cores ({spec.die_cores}{at}): {why}"})
        caches = {key: lv for key in ("l2",) if (lv := getattr(self, key))} | dict(self.levels)
        for name, size in spec.die_capacity.items():
            level = caches.get(name)
            if level is None or (level.role != "cache" and name != "l2"):
                raise ValueError(f"energy.die_capacity.{name}: {name!r} is not a cache level of the arch")
            if size < level.capacity:
                key = f"{self._level_key(name)}.capacity"
                why = "the die's capacity holds the level's and may hold more"
                raise KeyPairError({f"energy.die_capacity.{name}": f"{size} B is less than {key} ({level.capacity} B"
                                                                   f"{at}): {why}",
                                    key: f"{level.capacity} B, more than energy.die_capacity.{name} ({size} B{at}): "
                                         f"{why}"})
        edge = spec.sram_port_bits
        if isinstance(edge, str) and self.core.systolic is None:
            fix = "give energy.sram_port_bits the port's width in bits"
            raise KeyPairError({"energy.sram_port_bits": f"{edge!r} sizes the scratchpad port by the systolic array's "
                                                         f"{edge}, but the arch has no core.systolic{at}: {fix}",
                                "core.systolic": f"null, but energy.sram_port_bits ({edge!r}{at}) sizes the scratchpad "
                                                 f"port by the array's {edge}: {fix}"})
        n = getattr(self.core.systolic, edge) if isinstance(edge, str) else None
        if n is not None and n <= MAX_INT:  # the rule's width within a written port's range (probe p224 #3); an edge
            bits = n * operand_bits(self.dtype)  # past MAX_INT is its own key's error
            if not 8 <= bits <= 65536:
                why = (f"energy.sram_port_bits {edge!r} gives {n} x {operand_bits(self.dtype)} bits of {self.dtype} = "
                       f"{bits} bits, outside 8 to 65536: give the port's width in bits")
                raise KeyPairError({"energy.sram_port_bits": why, f"core.systolic.{edge}": f"{n}{at}: {why}"})
        for name, size in spec.core_sram.items():
            self._core_sram_fits(name, size)
        self._accumulator_sram_listed()
        clash = set(spec.core_sram) & ({u.name for u in self.core.unit_specs()} | {"alus"})
        if clash:
            raise ValueError(f"energy.core_sram.{sorted(clash)[0]}: {sorted(clash)[0]!r} is also a unit of the core")
        return self

    def _accumulator_sram_listed(self) -> None:
        """``core.systolic.accumulator_sram`` names one of ``energy.core_sram``'s arrays."""
        array, spec = self.core.systolic, self.energy
        name = array.accumulator_sram if array is not None else None
        if name in {SCRATCHPAD, "link", "nic", *(key for key, _ in LEGACY_LEVELS), *self.levels}:
            raise ValueError(f"core.systolic.accumulator_sram: {name!r} is the name of a level of the hierarchy (or of "
                             f"the chips' link) in report.json's bytes: name the energy.core_sram array otherwise")
        if name is None or spec is None or name in spec.core_sram:
            return
        listed = ", ".join(sorted(spec.core_sram)) or "none"
        at = KeyPairError.OTHER_AT
        raise KeyPairError({"core.systolic.accumulator_sram": f"{name!r} is no array of energy.core_sram{at} "
                                                              f"(it lists {listed})",
                            "energy.core_sram": f"lists no {name!r}, which core.systolic.accumulator_sram{at} "
                                                f"names (it lists {listed})"})

    def partial_sum_sram(self) -> str | None:
        """The ``energy.core_sram`` array the systolic array's partial sums live in (``core.systolic
        .accumulator_sram``: report.json's bytes key for their reads and writes), or None: the scratchpad holds
        them (Gemmini's accumulator is one of its scratchpad's buffers). Without ``energy`` the bytes are still
        counted there, unpriced."""
        array = self.core.systolic
        return array.accumulator_sram if array is not None else None

    def partial_sum_sram_bytes(self) -> int:
        """The bytes of :meth:`partial_sum_sram` in one core (:meth:`core_sram_bytes`); 0 where there is none or
        the arch gives no ``energy`` (whose ``core_sram`` sizes it)."""
        name = self.partial_sum_sram()
        return self.core_sram_bytes(name) if name is not None and self.energy is not None else 0

    def _core_sram_fits(self, name: str, size: int | str) -> None:
        """A per-PE / row / column ``energy.core_sram`` size needs a systolic array, and the bytes it gives stay
        within MAX_INT (an edge past MAX_INT is its own key's error)."""
        if isinstance(size, int):
            return
        at = KeyPairError.OTHER_AT
        key = f"energy.core_sram.{name}"
        per = size.rpartition("/")[2]
        one, many = _SRAM_PER[per]
        array = self.core.systolic
        if array is None:
            fix = f"give {key} its size in bytes"
            raise KeyPairError({key: f"{size!r} is a size per {one} of the systolic array, but the arch has no "
                                     f"core.systolic{at}: {fix}",
                                "core.systolic": f"null, but {key} ({size!r}{at}) is a size per {one} of the "
                                                 f"array: {fix}"})
        edges = {"core.systolic.rows": array.rows, "core.systolic.cols": array.cols}
        if max(edges.values()) > MAX_INT:
            return
        each, n = self._core_sram_per(name)
        if each * n > MAX_INT:
            why = (f"{each:,} B per {one} x {n:,} {many} ({array.rows}x{array.cols} x {array.count} arrays) is "
                   f"{each * n:,} B, more than {MAX_INT:,} (2**63 - 1)")
            edge = {"row": "core.systolic.rows", "col": "core.systolic.cols"}.get(per, max(edges, key=edges.get))
            raise KeyPairError({key: why, edge: f"{edges[edge]}{at}: {key} {why}"})

    def core_sram_bytes(self, name: str) -> int:
        """The bytes of ``energy.core_sram[name]`` in one core: as written, or its size per PE (rows x cols), row or
        column of ``core.systolic`` x that count x ``core.systolic.count`` arrays (probe p229 #2: eyeriss-like's
        520 B a PE, tpu-v1's 4096 x 4 B accumulators a column, carried by an array-size sweep)."""
        each, n = self._core_sram_per(name)
        return each * n

    def _core_sram_per(self, name: str) -> tuple[int, int]:
        """``energy.core_sram[name]``'s bytes per PE / row / column and how many of them a core has (1: bytes)."""
        assert self.energy is not None
        size = self.energy.core_sram[name]
        if isinstance(size, int):
            return size, 1
        each, _, per = size.rpartition("/")
        array = self.core.systolic
        assert array is not None  # (Arch._core_sram_fits)
        n = {"pe": array.rows * array.cols, "row": array.rows, "col": array.cols}[per]
        return int(each[:-1]), n * array.count

    @model_validator(mode="after")
    def _order_levels(self) -> Arch:
        problems = level_graph_problems({"l2": self.l2, "hbm": self.hbm, "host": self.host, "levels": self.levels})
        if problems:
            path, msg = problems[0]
            raise ValueError(f"{'.'.join(path)}: {msg}")
        order = [getattr(self, key).model_copy(update={"name": key, "role": role})
                 for key, role in LEGACY_LEVELS if getattr(self, key) is not None]
        pending = [level.model_copy(update={"name": key}) for key, level in self.levels.items()]
        while pending:  # in the order written; a level placed after one written later waits for it (no circles)
            waiting: list[Level] = []
            for level in pending:
                names = [SCRATCHPAD] + [lv.name for lv in order]
                if level.after is None:
                    order.append(level)
                elif level.after in names:
                    order.insert(names.index(level.after), level)
                else:
                    waiting.append(level)
            pending = waiting
        roles = [lv.role for lv in order]
        if "memory" not in roles:
            raise ValueError("no memory level: give 'hbm' or a 'levels' entry with role memory")
        first = roles.index("memory")
        if "cache" in roles[first:]:
            raise ValueError(self._late_cache(order, first))
        main = order[first]
        big = next((lv for lv in order[:first] if lv.capacity > main.capacity), None)
        if big is not None:  # (a GiB written for a MiB): its copies of main memory's data never fill the rest
            cache, memory = f"{self._level_key(big.name)}.capacity", f"{self._level_key(main.name)}.capacity"
            why = "a cache holds copies of the memories' data (a level that holds tensors of its own is a memory)"
            at = KeyPairError.OTHER_AT
            raise KeyPairError({
                cache: f"the cache {big.name!r} ({format_size(big.capacity)}) is larger than the main memory "
                       f"{main.name!r} behind it ({memory}: {format_size(main.capacity)}{at}); {why}",
                memory: f"the main memory {main.name!r} ({format_size(main.capacity)}) is smaller than the cache "
                        f"{big.name!r} in front of it ({cache}: {format_size(big.capacity)}{at}); {why}"})
        sram = self.core.sram
        if sram.total_bytes > main.capacity:  # (a TiB written for a MiB): one core's tiles are copies of main
            # memory's data, so even one core's scratchpad larger than it can never fill (per core, not cores x per
            # core: a chip of many cores may hold more SRAM in all than a small main memory, one core cannot)
            memory = f"{self._level_key(main.name)}.capacity"
            names = ("unified",) if sram.unified is not None else ("ifmap", "filter", "ofmap")
            size = format_size(sram.total_bytes)
            why = "a scratchpad holds tiles of the memories' data, so one core's cannot be larger than main memory"
            at = KeyPairError.OTHER_AT
            raise KeyPairError({
                **{f"core.sram.{n}": f"the scratchpad 'core.sram' ({size} a core) is larger than the main memory "
                                     f"{main.name!r} behind it ({memory}: {format_size(main.capacity)}{at}); {why}"
                   for n in names},
                memory: f"the main memory {main.name!r} ({format_size(main.capacity)}) is smaller than one core's "
                        f"scratchpad in front of it (core.sram: {size}{at}); {why}"})
        self._order = tuple(order)
        self._memories = tuple(lv.name for lv in order if lv.role == "memory")
        self._caches = tuple(lv.name for lv in order if lv.role == "cache")
        self._by_name = {lv.name: lv for lv in order}
        return self

    @model_validator(mode="after")
    def _read_only_containers(self) -> Arch:
        # (last, once the validators above have filled their copies in) an Arch is frozen and its dicts and lists
        # are made read-only too: editing one in place (arch.core.vector.cycles_per_element[fn] = ...) changed the
        # arch's meaning under the pricing memo, which kept the prices of its first contents (probe p47 #2)
        _frozen(self)
        for level in self._order:  # the named copies the look-ups by level name return
            _frozen(level)
        return self

    def _level_key(self, name: str) -> str:
        """The key level ``name`` is written at: ``levels.NAME``, or a preset's short form (``l2``, ``hbm``)."""
        return f"levels.{name}" if name in self.levels else name

    def capacity_key(self, name: str) -> tuple[str, ...]:
        """The path in the arch document of level ``name``'s capacity: ``("levels", NAME, "capacity")``, or under a
        preset's short form (``("hbm", "capacity")``); what an error about that capacity names."""
        return (*self._level_key(name).split(".", 1), "capacity")

    def _late_cache(self, order: list[Level], first: int) -> str:
        """The message for a cache placed after the memory ``order[first]``, at the key that placed it there: the
        cache's own ``after``; else the ``after`` of a memory put in front of it (a preset's ``l2`` and a level
        written after every memory come last only so); else the cache's entry, written after the memories."""
        i = first + [lv.role for lv in order[first:]].index("cache")
        cache, front = order[i], order[first:i]
        why = "a cache must sit between the cores and the memories"
        if cache.after is not None:
            return f"levels.{cache.name}.after: puts the cache {cache.name!r} after the memory {front[-1].name!r}: {why}"
        placed = next((lv for lv in front if lv.after is not None), None)
        if placed is not None and (cache.name not in self.levels or all(lv.after is not None for lv in front)):
            return (f"levels.{placed.name}.after: puts the memory {placed.name!r} before the cache {cache.name!r}: "
                    f"{why}")
        inner = ([SCRATCHPAD] + [lv.name for lv in order])[first]  # the level right before the first memory
        return (f"levels.{cache.name}: {why}: add 'after: {inner}' to put it before {order[first].name!r} (a level "
                f"without 'after' follows the levels written before it)")

    # ---- the hierarchy ------------------------------------------------------------------------------------
    def hierarchy(self) -> tuple[LevelInfo, ...]:
        """Every level from the cores outward: the scratchpad (``core.sram``: capacity per core, bandwidth that of
        all cores together, ``bytes_per_cycle`` × clock × cores, as a cache's or memory's is the chip's; unbounded
        without ``bytes_per_cycle``), the caches, the memories."""
        per_cycle = self.core.sram.bytes_per_cycle
        pad_bw = per_cycle * self.clock * self.cores if per_cycle is not None else math.inf
        pad = LevelInfo(SCRATCHPAD, "scratchpad", self.core.sram.total_bytes, pad_bw)
        return (pad, *(LevelInfo(lv.name, lv.role, lv.capacity, lv.bandwidth) for lv in self._order))

    @property
    def memories(self) -> tuple[str, ...]:
        """Names of the levels that hold tensors, innermost first (the first is the main memory)."""
        return self._memories

    @property
    def caches(self) -> tuple[str, ...]:
        """Names of the shared caches between the cores and the memories, innermost first."""
        return self._caches

    @property
    def main_memory(self) -> str:
        """The innermost memory: where activations live and what the roofline's bandwidth is."""
        return self.memories[0]

    @property
    def spill_memory(self) -> str | None:
        """The memory after the main one (host memory on the presets): where offloaded state goes."""
        return self.memories[1] if len(self.memories) > 1 else None

    def memory(self, level: str) -> Level:
        """The :class:`Level` named ``level``; ``KeyError`` if the chip has none."""
        return self._by_name[level]

    # ---- derived figures ----------------------------------------------------------------------------------
    @property
    def clock_hz(self) -> float:
        """Clock in Hz."""
        return self.clock

    @property
    def peak_macs_per_cycle(self) -> float:
        """MACs per cycle of every unit on the chip: each core's systolic arrays and the units of ``core.units``
        (their kind's ``macs_per_cycle(spec)`` × ``count``), an int where every unit's figure is one."""
        return self.peak_macs(False)

    def peak_macs(self, lanes_ran_macs: bool) -> float:
        """:attr:`peak_macs_per_cycle`, with the vector lanes of a core with no systolic array counted too where a
        run's ops with MACs ran on them beside units of ``core.units`` with MACs (``lanes_ran_macs``:
        :meth:`Core.unit_specs`)."""
        return sum(u.macs_per_cycle for u in self.core.unit_specs(lanes_ran_macs)) * self.cores

    def bytes_per_cycle(self, level: str) -> float:
        """Sustained bandwidth of level ``level`` in bytes per cycle (inf if unbounded)."""
        mem = self.memory(level)
        return mem.sustained_bandwidth / self.clock if not math.isinf(mem.bandwidth) else math.inf

    def latency_cycles(self, level: str) -> int:
        """Access latency of ``level`` in whole cycles (rounded up, :func:`~accelsim.units.time_cycles`)."""
        return time_cycles(self.memory(level).latency, self.clock)


register_unit_kind("systolic", SystolicArray, "accelsim.cost.systolic")
register_unit_kind("vector", VectorUnit, "accelsim.cost.vector")
