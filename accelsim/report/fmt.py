"""Number formatting for everything that shows a report to a person: the console tables, the HTML page, the plots,
``accelsim compare`` and the sweep figures. One function per kind of figure, so a count, a size or a percentage
reads the same everywhere.

Every function takes any JSON value: a null, a missing value, a boolean or a string where a number belongs shows
as :data:`DASH`; non-finite numbers show as Python prints them ("inf"). Sizes, bandwidths, frequencies and times
come from :mod:`accelsim.units` (binary prefixes for bytes, decimal for rates).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from accelsim.units import QUANTISED_WEIGHTS, format_bandwidth, format_frequency, format_size, format_time, pick_prefix

DASH = "\u2014"  # a missing or null value
STALL_LABEL = "stall cycles (summed over units)"  # report.json's stall_cycles: every unit's stalls added, so it
# can exceed total_cycles where units stall at once (docs/architecture.md); the key keeps its name (a contract)
_SI = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def number(value: object) -> int | float | None:
    """``value`` itself when it is a number (int or float, not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def num(value: object, default: float | None = 0.0) -> float | None:
    """``value`` as a float; ``default`` for null, missing, boolean or non-numeric values."""
    v = number(value)
    return default if v is None else float(v)


def _finite(value: object) -> float | None:
    """The float of ``value`` when it is a finite number, else None."""
    v = number(value)
    return float(v) if v is not None and math.isfinite(v) else None


def _finite_only(render: Callable[..., str]) -> Callable[..., str]:
    """``render`` (of a finite float) for any value: what is not a finite number shows as a dash (not a number)
    or as Python prints it ("inf", "nan")."""

    @functools.wraps(render)
    def show(value: object, *args: object, **kwargs: object) -> str:
        v = _finite(value)
        if v is None:
            n = number(value)
            return DASH if n is None else str(float(n))
        return render(v, *args, **kwargs)

    return show


@_finite_only
def count(v: float) -> str:
    """An integer with thousands separators ("123,456")."""
    return f"{round(v):,}"


@_finite_only
def si(v: float, digits: int = 3, sep: str = " ") -> str:
    """A large count with an SI prefix ("4.09 G"); ``sep=""`` gives the compact form ("4.09G"). The prefix is
    chosen after rounding to ``digits`` (:func:`accelsim.units.pick_prefix`: 999,700 is "1 M", not "1e+03 k")."""
    found = pick_prefix(v, _SI, digits)
    if found is not None:
        return f"{v / found[0]:.{digits}g}{sep}{found[1]}"
    return f"{v:.{digits}g}"


@_finite_only
def count_si(v: float, below: float = 1e4) -> str:
    """"4,089,184,256 (4.09 G)": the exact count and its SI form; just the count below ``below``."""
    return count(v) if abs(v) < below else f"{count(v)} ({si(v)})"


@_finite_only
def pct(fraction: float, digits: int = 1) -> str:
    """A fraction as a percentage ("42.1 %")."""
    return f"{100 * fraction:.{digits}f} %"


@_finite_only
def size(nbytes: float) -> str:
    """A byte count with binary prefixes ("1.5MiB")."""
    return format_size(nbytes)


def bandwidth(bytes_per_s: object) -> str:
    """Bytes per second with decimal prefixes ("900GB/s"); "inf" for an unbounded level."""
    v = number(bytes_per_s)
    return DASH if v is None else format_bandwidth(float(v))


@_finite_only
def frequency(hz: float) -> str:
    """A clock ("1.4GHz")."""
    return format_frequency(hz)


@_finite_only
def seconds(v: float) -> str:
    """A duration ("1.23ms"); a negative one as its plain number."""
    return format_time(v) if v >= 0 else str(v)


_ENGINEERING = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"),
                (1e-9, "n"), (1e-12, "p"))


@_finite_only
def quantity(v: float, unit: str, digits: int = 3) -> str:
    """A physical quantity with an engineering prefix: quantity(0.0123, "J") = "12.3 mJ", (405, "W") = "405 W"."""
    if v == 0:
        return f"0 {unit}"
    found = pick_prefix(v, _ENGINEERING, digits)  # after rounding: 999.6e-6 J is "1 mJ", not "1e+03 µJ"
    if found is not None:
        return f"{v / found[0]:.{digits}g} {found[1]}{unit}"
    return f"{v:.{digits}g} {unit}"


def joules(v: object) -> str:
    """Energy ("12.3 mJ")."""
    return quantity(v, "J")


def watts(v: object) -> str:
    """Power ("405 W")."""
    return quantity(v, "W")


@_finite_only
def mm2(v: float) -> str:
    """An area in mm² ("826 mm²")."""
    return f"{v:.4g} mm²"


@_finite_only
def flops_rate(v: float) -> str:
    """FLOP per second ("91.8 TFLOP/s")."""
    return f"{si(v)}FLOP/s" if abs(v) >= 1e3 else f"{v:.3g} FLOP/s"


def ratio(r: object) -> str:
    """A ratio: "0.25×", "1.00×", "12.5×", "1,234×"; three significant digits below 0.1 ("0.0224×")."""
    v = number(r)
    if v is None:
        return DASH
    a = abs(v)
    if a == 0:
        return "0\u00d7"
    # each form is chosen by the value rounded as that form shows it (probe p221 #3: 9.999 printed "10.00×" and
    # 999.96 "1000.0×"): 2 decimals below 10, 1 below 1,000, none below 10⁶, 3 significant digits outside
    if not math.isfinite(a) or float(f"{a:.3g}") < 0.1 or round(a) >= 1e6:
        return f"{v:.3g}\u00d7"
    if round(a, 1) >= 1000:
        return f"{v:,.0f}\u00d7"
    return f"{v:.2f}\u00d7" if round(a, 2) < 10 else f"{v:.1f}\u00d7"


def general(value: object) -> str:
    """Any JSON value as short text: integers with separators, floats to 4 significant digits, booleans as
    yes/no, lists and objects compactly."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={general(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(general(v) for v in value)
    return str(value)


def workload_text(workload: object) -> str:
    """"lenet5 (batch 1; int8; num_classes=10)": the workload's name, a Hugging Face model's architecture, batch,
    dtype, mode and other params."""
    if not isinstance(workload, dict):
        return DASH if workload is None else str(workload)
    name = workload.get("name") or workload.get("model") or "?"
    bits = [str(workload["architecture"])] if workload.get("architecture") else []  # a Hugging Face model's
    bits += [f"batch {workload['batch']}"] if workload.get("batch") is not None else []
    params = workload.get("params") if isinstance(workload.get("params"), dict) else {}
    for key in ("dtype", "mode"):
        value = workload.get(key, params.get(key))
        if value:
            bits.append(str(value))
    shown = {"batch", "dtype", "mode", "name", *(("architectures",) if workload.get("architecture") else ())}
    extra = params_text({k: v for k, v in params.items() if k not in shown | _inapplicable(workload, params)})
    if extra:
        bits.append(extra)
    return f"{name} ({'; '.join(bits)})" if bits else str(name)


def model_name(spec: dict) -> str | None:
    """A workload's name in a report: its ``name``, else its params' (a Hugging Face preset's own, e.g.
    ``deepseek_v3`` where the builder is ``hf``: an ``accelsim serve`` report's ``model``), else the builder's."""
    params = spec.get("params") if isinstance(spec.get("params"), dict) else {}
    name = spec.get("name") or params.get("name") or spec.get("model")
    return None if name is None else str(name)


def _inapplicable(workload: dict, params: dict) -> set[str]:
    """Params a run does not use, left out of its summary line (report.json keeps them): an optimizer outside a
    training step, the cached ``kv_len`` of a prefill (a serving run's decode steps start at its ``seq_len``),
    the scales' ``quant_group_size`` of weights that are not quantised (int4 / int8 / fp4; a MoE's experts' either),
    and those the model says it does not read (``unread``: a dense Hugging Face model's MoE routing, ``mla`` outside
    DeepSeek's latent attention, ``images`` without an image encoder)."""
    unused = set()
    if workload.get("mode", params.get("mode")) != "training":
        unused.add("optimizer")
    if params.get("phase") == "prefill":
        unused.add("kv_len")
    weights = params.get("weight_dtype") or params.get("activation_dtype") or workload.get("dtype", params.get("dtype"))
    if weights not in QUANTISED_WEIGHTS and params.get("expert_weight_dtype") not in QUANTISED_WEIGHTS:
        unused.add("quant_group_size")
    unused.update(workload.get("unread") or ())
    return unused


PARAMS_TEXT_CHARS = 160  # a summary line lists params up to this length; report.json has them all


def params_text(params: dict, limit: int = PARAMS_TEXT_CHARS) -> str:
    """"k=v, k=v, ... (+N more)": the params that are set (not None, nor an empty string or mapping: the `hf`
    builder's ``config`` of a preset is ``{}``), in order, cut after ``limit`` characters (a Hugging Face config
    has dozens of fields; the run's report.json lists every one)."""
    items = [f"{k}={v if isinstance(v, int) and not isinstance(v, bool) else general(v)}"
             for k, v in params.items() if v is not None and not (isinstance(v, (str, dict, list, tuple)) and not v)]
    shown: list[str] = []
    for i, item in enumerate(items):
        if shown and len(", ".join([*shown, item])) > limit:
            return ", ".join(shown) + f", … (+{len(items) - i} more in report.json)"
        shown.append(item)
    return ", ".join(shown)


def arch_text(arch: object, levels: list[dict] | tuple[dict, ...] = (), clock_hz: object = None) -> str:
    """"gemmini (1GHz, 1 core, 16×16 systolic ws, sram 256KiB, hbm 16GiB at 16GB/s)": the arch's clock, cores,
    arrays and each memory level (``levels``, innermost first) with its capacity and bandwidth when known (an
    unbounded bandwidth is not shown)."""
    if not isinstance(arch, dict):
        return DASH if arch is None else str(arch)
    bits = []
    clock = _finite(arch.get("clock_hz", clock_hz))
    if clock and clock > 0:
        bits.append(format_frequency(clock))
    cores = _finite(arch.get("cores"))
    if cores is not None:
        bits.append(f"{int(cores)} core{'s' if cores != 1 else ''}")
    sa = arch.get("systolic") if isinstance(arch.get("systolic"), dict) else {}
    if sa.get("rows") is not None and sa.get("cols") is not None:
        n = _finite(sa.get("count")) or 1
        bits.append(f"{f'{n:g}× ' if n > 1 else ''}{sa['rows']}×{sa['cols']} systolic"
                    + (f" {sa['dataflow']}" if sa.get("dataflow") else ""))
    for level in levels:
        cap, bw = _finite(level.get("capacity")), _finite(level.get("bandwidth"))
        per_core = "/core" if level.get("role") == "scratchpad" and cores and cores > 1 else ""
        text = " ".join([str(level.get("name", "?"))] + ([f"{format_size(cap)}{per_core}"] if cap else [])
                        + ([("at " if cap else "") + format_bandwidth(bw)] if bw else []))
        if cap or bw:
            bits.append(text)
    name = arch.get("name") or "?"
    return f"{name} ({', '.join(bits)})" if bits else str(name)


__all__ = ["DASH", "arch_text", "bandwidth", "count", "count_si", "flops_rate", "frequency", "general", "num",
           "number", "pct", "ratio", "seconds", "si", "size", "workload_text"]
