"""Sampling: simulate a few of many similar passes and stand them in for the rest.

* Decode steps (serving): with more steps than ``options.decode_samples``, that many (evenly spread, first and
  last included) are simulated, and with them the two steps either side of every step where the placement of the
  tensors changes (:func:`placement_changes`, :func:`with_changes`: the KV cache outgrowing a memory); every other
  step is interpolated linearly in the KV length between its simulated neighbours (:func:`interpolation_weights`).
  A decode step's time and work are affine in the KV length while placement is unchanged (only attention grows),
  so each simulated step stands for itself and its shares of its neighbours (:func:`pass_scales`).
* Identical layers (pipeline stages, ``options.layer_samples``): a stage of n > 2 layers is simulated with 1 and
  with 2 layers. Its time-like figures (:class:`~accelsim.scenarios.passes.Timing`: cycles, seconds, launch time,
  the training phases' spans, parameters, footprint, placement counts) are affine in n, f₁ + (n − 1)·(f₂ − f₁)
  (:func:`affine_timing`), since the layers run back to back. Its ops are the 2-layer run's, the first layer's
  standing for every layer but the last, and their work and busy cycles add up to the affine totals
  (:func:`extrapolate_layers`).
* A distinct prefix (serving, :func:`layer_samples`): a model of k distinct layers then n > 2 alike (DeepSeek-V3's 3
  dense layers before its 58 MoE ones) is simulated with its first k + 1 and k + 2 layers, the prefix whole in both,
  and extrapolated in n as above: the prefix's ops are outside the alike layers, affine like the ops outside any
  layer (equal in both samples up to what the layer after them changes).
* A repeating pattern (serving): layers that repeat a unit of p (Gemma-2's local and global windows, p = 2;
  Qwen3-Next's 3 linear-attention layers to 1 full, p = 4) are simulated with k + p and k + 2p layers, one unit and
  two, and extrapolated affinely in the units n / p exactly as above with "unit" for "layer": the layer at position j
  of the first unit stands for position j of every unit but the last, a middle unit's op being F + L − S of the ops
  at the same position and name (a middle unit reads a unit's output as L does and feeds a unit as F does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..builders.training import layer_of
from ..hardware import usable_bytes
from ..report.schema import base_rate_macs, computed_work, model_counts, model_work
from ..report.summary import model_utilization, pass_notes, peak_report
from .passes import Pass, Rows, Timing, Work, compose_ops, composed_bandwidth_share, counted_busy


def decode_samples(steps: int, budget: int) -> list[int]:
    """The decode steps simulated exactly: all of them when ``budget`` is 0 or ≥ ``steps``, else ``budget``
    steps spread evenly from the first to the last (the others are interpolated). A budget of 1 cannot hold
    both ends (``options.decode_samples`` refuses it)."""
    if budget <= 0 or steps <= budget:
        return list(range(steps))
    if budget == 1:
        raise ValueError("decode_samples: a budget of 1 cannot include the first and the last step; use 0 or >= 2")
    return sorted({round(i * (steps - 1) / (budget - 1)) for i in range(budget)})


PROBES = 33  # steps (evenly spread, first and last included) whose placement placement_changes computes before it
# bisects between those that differ: a change undone between two probes (a tensor out and back in) goes unseen


def placement_changes(steps: int, placed: Callable[[int], object], probes: int = PROBES) -> list[int]:
    """The decode steps s (0 < s < ``steps``) whose placement ``placed(s)`` (any value compared with ==: each
    tensor's memory level) differs from step s − 1's: ``probes`` steps evenly spread, and a bisection between
    every two neighbouring probes whose placements differ (each call of ``placed`` is analytic: no simulation)."""
    seen: dict[int, object] = {}

    def at(s: int) -> object:
        if s not in seen:
            seen[s] = placed(s)
        return seen[s]

    out: list[int] = []

    def bisect(lo: int, hi: int) -> None:  # at(lo) != at(hi)
        if hi - lo == 1:
            out.append(hi)
            return
        mid = (lo + hi) // 2
        if at(mid) != at(lo):
            bisect(lo, mid)
        if at(mid) != at(hi):
            bisect(mid, hi)

    grid = decode_samples(steps, max(probes, 2))
    for lo, hi in zip(grid, grid[1:], strict=False):
        if at(lo) != at(hi):
            bisect(lo, hi)
    return sorted(out)


def with_changes(sampled: Sequence[int], changes: Sequence[int]) -> list[int]:
    """``sampled`` with, for every placement change at step s, steps s − 1 and s: the ends of the placement
    segments, so that interpolation between neighbouring samples never crosses a change (a step's time is affine in
    the KV length only while every tensor stays where it is)."""
    return sorted({*sampled, *(s - 1 for s in changes), *changes})


def interpolation_weights(steps: int, sampled: Sequence[int]) -> list[list[tuple[int, float]]]:
    """For every decode step, the simulated steps (indices into ``sampled``) and weights that give its value
    by linear interpolation between its simulated neighbours (a simulated step is its own value, weight 1)."""
    out: list[list[tuple[int, float]]] = []
    j = 0
    for s in range(steps):
        while j + 1 < len(sampled) and sampled[j + 1] <= s:
            j += 1
        lo = sampled[j]
        if lo == s or j + 1 == len(sampled):
            out.append([(j, 1.0)])
            continue
        hi = sampled[j + 1]
        w = (s - lo) / (hi - lo)
        out.append([(j, 1.0 - w), (j + 1, w)])
    return out


def pass_scales(weights: Sequence[Sequence[tuple[int, float]]], simulated: int) -> list[float]:
    """How many steps each of ``simulated`` passes stands for: the sum of its interpolation weights (itself 1,
    plus its shares of the steps interpolated from it). The scales add up to the number of steps."""
    scale = [0.0] * simulated
    for row in weights:
        for j, w in row:
            scale[j] += w
    return scale


def interpolate(steps: int, sampled: Sequence[int], values: Sequence[float]) -> tuple[list[int], list[float]]:
    """Every step's value (each simulated step's in ``values``) rounded to an integer, by the rule of
    :func:`interpolation_weights`, and each simulated step's scale (:func:`pass_scales`): the same numbers to the
    bit, without a row of weights per step (5,000,000 decode steps held ~1.3 GB of them). The steps between two
    simulated ones are computed together (numpy: the same float operations, a scale's terms added in step order by
    a sequential cumulative sum), so memory is the longest such run's."""
    n = len(sampled)
    scale = [0.0] * n
    out: list[int] = []
    if not steps or not n:
        return out, scale

    def add(j: int, terms: np.ndarray) -> None:  # scale[j] += each term in turn, as pass_scales adds them
        scale[j] = float(np.cumsum(np.concatenate(([scale[j]], terms)))[-1])

    for j in range(n):
        # the steps whose weights are on sampled[j] and the one after it: from it (the first from step 0) to the
        # next simulated step; after the last, every step takes the last's value alone
        first = 0 if j == 0 else sampled[j]
        last = sampled[j + 1] if j + 1 < n else steps
        s = np.arange(first, last, dtype=np.int64)
        if j + 1 == n:
            ones = np.ones(len(s))
            add(j, ones)
            out.extend(np.rint(ones * values[j]).astype(np.int64).tolist())
            continue
        lo, hi = sampled[j], sampled[j + 1]
        w = (s - lo) / (hi - lo)
        add(j, 1.0 - w)
        add(j + 1, w[s != lo])  # a simulated step is its own value alone (its row has no second weight)
        out.extend(np.rint((1.0 - w) * values[j] + w * values[j + 1]).astype(np.int64).tolist())
    return out, scale


def layer_samples(layers: tuple[int, int, int] | None) -> tuple[int, int] | None:
    """The layer counts of the two samples of a model of ``layers`` = (k distinct layers, then n made of n / p
    repeats of a unit of p layers): its first k + p and k + 2p layers, when n / p > 2 and the two samples together
    are no more layers than the model's k + n (so DeepSeek-V3's (3, 58, 1): (4, 5); Gemma-2-9B's (0, 42, 2): (2,
    4)); else None (every layer simulated)."""
    if layers is None:
        return None
    k, n, p = layers
    assert n % p == 0, "a remainder of the unit belongs to the prefix (identical_layers puts it there)"
    return (k + p, k + 2 * p) if n // p > 2 and 2 * k + 3 * p <= k + n else None


def affine(one: float, two: float, n: int) -> float:
    """The value at n of the affine function through (1, ``one``) and (2, ``two``); ints stay ints (rounded)."""
    value = one + (n - 1) * (two - one)
    return round(value) if isinstance(two, int) else value


def affine_table(one: Mapping, two: Mapping, n: int) -> dict:
    """:func:`affine` applied to every number of a (nested) table, over ``two``'s keys (a key only in ``two``
    keeps its value); anything else is ``two``'s."""
    out = {}
    for key, b in two.items():
        a = one.get(key, b)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out[key] = affine_table(a, b, n)
        elif _number(a) and _number(b):
            out[key] = affine(a, b, n)
        else:
            out[key] = b
    return out


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def affine_timing(one: Timing, two: Timing, n: int) -> Timing:
    """The timing of n identical layers from the runs with 1 and with 2 (see the module docstring)."""
    return Timing(cycles=affine(one.cycles, two.cycles, n), seconds=affine(one.seconds, two.seconds, n),
                  launch_s=affine(one.launch_s, two.launch_s, n), params=affine(one.params, two.params, n),
                  active_s=affine(one.active_s, two.active_s, n), stash_bytes=affine(one.stash_bytes, two.stash_bytes, n),
                  compute_active_s=None if one.compute_active_s is None and two.compute_active_s is None else
                  affine(one.micro_active_s, two.micro_active_s, n),
                  model_params=affine(one.model_params, two.model_params, n),
                  moe={k: affine(one.moe[k], v, n) for k, v in two.moe.items() if k in one.moe},
                  phases=affine_table(one.phases, two.phases, n),
                  memory=_fractions(affine_table(one.memory, two.memory, n)),
                  placement=_affine_placement(one.placement, two.placement, n),
                  stash_level=two.stash_level, held=affine_table(one.held, two.held, n), offload=two.offload,
                  **({} if one.last_backward_end is None and two.last_backward_end is None else
                     {"last_backward_end": affine(one.grads_ready, two.grads_ready, n)}),
                  **({} if one.tail_reduce is None and two.tail_reduce is None else
                     {"tail_reduce": affine(one.reduce_in_tail, two.reduce_in_tail, n)}))


def _affine_placement(one: Mapping[str, object], two: Mapping[str, object], n: int) -> dict:
    """report.json's ``placement`` of n identical layers from the 1- and 2-layer runs': each level's tensor count
    (``tensors_in_LEVEL``) affine in n where either run counts its tensors (over :data:`LISTED`) rather than naming
    them, a named run's tensors counted per level (probe p128 #1: a 1-layer sample naming its 64 tensors and a
    2-layer one counting 112 gave 112 for 24 layers, not 1,168); where both name theirs, the run of n = 1 or 2
    layers is that sample's and more layers are counted the same way (a 6-layer gpt prefill named the 2-layer
    sample's 28 tensors, the full run counts 76; found with probe p161 #2's fix): a caller that knows every
    tensor's level names them with :func:`layer_placement`."""
    if not any(k.startswith("tensors_in_") for k in (*one, *two)) and n <= 2:
        return dict(one if n == 1 else two)

    def counts(placement: Mapping[str, object]) -> dict[str, int]:
        if any(k.startswith("tensors_in_") for k in placement):
            return {k: int(v) for k, v in placement.items() if k.startswith("tensors_in_")}  # type: ignore[call-overload]
        out: dict[str, int] = {}
        for level in placement.values():
            out[f"tensors_in_{level}"] = out.get(f"tensors_in_{level}", 0) + 1
        return out

    a, b = counts(one), counts(two)
    return {k: affine(a.get(k, 0), b.get(k, 0), n) for k in dict.fromkeys((*b, *a))
            if affine(a.get(k, 0), b.get(k, 0), n)}


def _fractions(memory: Mapping[str, Mapping[str, float]]) -> dict:
    """``memory`` with each level's ``fraction`` its used bytes over its capacity (not the affine fraction, which
    differs in the last bits)."""
    return {lv: {**row, "fraction": row["used"] / usable_bytes(row)} if usable_bytes(row) and "fraction" in row
            else row for lv, row in memory.items()}


_INDEX = re.compile(r"(\d+)\.$")
LISTED = 64  # report.json's placement lists tensors by name up to this many, else counts them per level
# (accelsim/report/summary.py)


def _tensors(placement: Mapping[str, object]) -> int:
    counts = [v for k, v in placement.items() if k.startswith("tensors_in_")]
    return sum(counts) if counts else len(placement)  # type: ignore[arg-type]


def layer_placement(one: Pass, two: Pass, n: int, level: str, prefix: int = 0, period: int = 1) -> dict[str, object]:
    """report.json's ``placement`` of ``prefix`` distinct layers then n identical units of ``period`` layers whose
    every tensor is in ``level`` (as in both samples): its tensors counted (affine in n) or, up to :data:`LISTED` of
    them, named: the (k + 2p)-layer run's, the prefix's as they are, the first unit's layer at position j for layer
    k + u·p + j of each unit u but the last, and the last unit's for the last unit's."""
    count = affine(_tensors(one.timing.placement), _tensors(two.timing.placement), n)
    if count > LISTED:
        return {f"tensors_in_{level}": count}
    _, layers = _by_layer(two)
    position = {lay: j for j, lay in enumerate(layers[prefix:])}  # 0 … 2p − 1: the first unit's then the last's
    out: dict[str, object] = {}
    for name in two.timing.placement:
        lay = layer_of(name)
        if lay is None or lay not in position:
            out[name] = level
            continue
        j = position[lay]
        span = [prefix + u * period + j for u in range(n - 1)] if j < period else \
            [prefix + (n - 2) * period + j]
        for i in span:
            out[_INDEX.sub(f"{i}.", lay) + name[len(lay):]] = level
    return out


@dataclass(frozen=True)
class LayerRows:
    """The ops of a stage of n identical layers, shown as the 2-layer run's ops: each op's work and busy cycles per
    unit (one micro-batch) and the executions it stands for."""

    work: tuple[Work, ...]
    busy: np.ndarray  # (ops, units)
    counts: tuple[int, ...]


def _by_layer(p: Pass) -> tuple[dict[tuple[str | None, str], int], list[str]]:
    """Each op of ``p`` indexed by (layer prefix, name within the layer) (prefix None outside numbered layers),
    and its numbered layers, lowest first."""
    index, layers = {}, {}
    for i, row in enumerate(p.rows):
        name = row["name"]
        lay = layer_of(name)
        index[(lay, name[len(lay):] if lay else name)] = i
        if lay and (m := _INDEX.search(lay)):
            layers[lay] = int(m.group(1))
    return index, sorted(layers, key=layers.__getitem__)


def extrapolate_layers(one: Pass, two: Pass, n: int, prefix: int = 0, period: int = 1) -> LayerRows:
    """The ops of a stage of ``n`` identical layers from its runs with 1 layer (S) and with 2 (F then L); with a
    ``prefix`` of k distinct layers before them, from the runs with k + 1 and k + 2 layers, the prefix's ops
    counted with those outside the layers.

    Its totals are affine in n, T₁ + (n − 1)·(T₂ − T₁) = N₁ + (n − 1)·(N₂ − N₁) + (n − 1)·(F + L) − (n − 2)·S with N
    the ops outside the layers, and the rows add up to exactly that: an op outside the layers gets its affine
    value (matched by name, within its layer for a prefix layer's); an op of the first layer F stands for F and the n − 2 middle layers (count n − 1), a
    middle layer's op being F + L − S (the same op of each layer, matched by its name within the layer: a middle
    layer reads another layer's output as L does and feeds another layer as F does; S does both ends); an op of
    the last layer L stands for itself. Stall cycles of a row are clamped at 0 (a middle layer's op cannot stall
    less than not at all).

    With a ``period`` p > 1, n counts units of p layers (the runs have k + p and k + 2p layers) and "layer" above
    reads "unit": an op of the first unit's layer at position j is matched with the same op of the last unit's and
    of the single unit's layer at position j."""
    assert one.units == two.units, "the layer samples ran on different units"
    at_one, layers_one = _by_layer(one)
    at_two, layers_two = _by_layer(two)
    single = layers_one[prefix:] if len(layers_one) == prefix + period else [None] * period
    first, last = (layers_two[prefix:prefix + period], layers_two[prefix + period:]) \
        if len(layers_two) == prefix + 2 * period else ([], [])
    position = {lay: j for j, lay in enumerate(first)}
    none = Work()
    zeros = np.zeros(len(two.units))
    work, busy, counts = [], [], []
    for i, row in enumerate(two.rows):
        name = row["name"]
        lay = layer_of(name)
        if lay is not None and lay in position:
            key, j = name[len(lay):], position[lay]
            j_last, j_one = at_two.get((last[j], key)), at_one.get((single[j], key))
            mid_work = (two.work[i] + (two.work[j_last] if j_last is not None else none)
                        + (one.work[j_one] if j_one is not None else none).times(-1))
            mid_busy = (two.busy[i] + (two.busy[j_last] if j_last is not None else zeros)
                        - (one.busy[j_one] if j_one is not None else zeros))
            work.append(two.work[i] + mid_work.times(n - 2))
            busy.append(two.busy[i] + (n - 2) * mid_busy)
            counts.append(n - 1)
        elif lay is not None and lay in last:
            work.append(two.work[i])
            busy.append(two.busy[i])
            counts.append(1)
        else:
            j = at_one.get((None, name)) if lay is None else \
                at_one.get((lay, name[len(lay):])) if lay in layers_two[:prefix] else None
            w1, b1 = (one.work[j], one.busy[j]) if j is not None else (two.work[i], two.busy[i])
            work.append(w1.times(2 - n) + two.work[i].times(n - 1))
            busy.append((2 - n) * b1 + (n - 1) * two.busy[i])
            counts.append(1)
    return LayerRows(tuple(w.stalls_at_least_zero() for w in work), np.array(busy).reshape(len(work), len(two.units)),
                     tuple(counts))


LAUNCH_DRIFT = 1e-3
"""How much the host's exposed launch time may change from the 1- to the 2-layer sample, as a share of the layer's
time, for the samples to stand for more layers (:func:`launches_affine`)."""


def launches_affine(one: Pass, two: Pass) -> bool:
    """Whether the 1- and 2-layer runs ``one`` and ``two`` of a pass of identical layers extrapolate affinely in
    the layer count where the host launches kernels (eager execution).

    The host issues one launch per kernel in op order and runs ahead of the device; what the device waits for is
    the largest lag of a launch behind the device's own schedule, a maximum over the kernels of terms each affine in
    the layer count, so convex: it grows faster once the host's launches of the layers outrun the device's work on
    them. A kernel's term has the slope of the pass up to it (by phases: forward, backward, optimizer): the host's
    launch time per layer over that prefix less the device's time per layer over it. So the samples extrapolate
    when (1) the host's exposed launch time (``launch_overhead_s`` less the device-side ``kernel_dispatch_s``) is
    the same in both, within :data:`LAUNCH_DRIFT` of a layer's time (no term grows between them: the device was
    never waiting more for the host), and (2) up to the end of every phase, the host's launch cycles per layer are
    at most the cycles per layer to that phase's end (the device's, since by (1) the host did not hold it): no term
    grows later either, a lead the host gained on work outside the layers (the loss, the LM head) being used up
    after the samples. Or (3) the host bounds the pass in every phase (:func:`_host_ahead`): its cycles grow by
    exactly the host's launch cycles per layer, and no other term can grow faster. Else the pass is simulated with
    all its layers (a small model launched eagerly: TP 2,
    hidden 1024, 24 layers on dgx-a100 came out 7.2 % fast from the samples, its optimizer's launches outrunning its
    short kernels)."""
    hosts = [i for i, u in enumerate(two.units) if u in two.host_units]
    if not hosts:
        return True
    return _device_ahead(one, two, hosts) or _host_ahead(one, two, hosts)


def _device_ahead(one: Pass, two: Pass, hosts: Sequence[int]) -> bool:
    """Conditions (1) and (2) of :func:`launches_affine`: the device never waits more for the host in the 2-layer
    sample than in the 1-layer one, and the host's launches per layer never outrun the device's time per layer up to
    a phase's end."""

    def exposed(p: Pass) -> float:
        return float(p.report.get("launch_overhead_s", 0.0)) - float(p.report.get("kernel_dispatch_s", 0.0))

    layer_s = float(two.report["seconds"]) - float(one.report["seconds"])
    if abs(exposed(two) - exposed(one)) > LAUNCH_DRIFT * max(layer_s, 0.0):
        return False
    ends = {ph: (int(one.timing.phases[ph]["end_cycle"]), int(row["end_cycle"]))
            for ph, row in two.timing.phases.items() if ph in one.timing.phases}
    ends = ends or {None: (one.timing.cycles, two.timing.cycles)}
    for phase, (end_one, end_two) in ends.items():
        host = _host_busy_to(two, phase, hosts) - _host_busy_to(one, phase, hosts)
        if host > end_two - end_one:
            return False
    return True


def _host_ahead(one: Pass, two: Pass, hosts: Sequence[int]) -> bool:
    """Condition (3) of :func:`launches_affine`: the host bounds the pass, per layer, from every phase's start to
    its end. The pass's cycles grow from the 1- to the 2-layer sample by exactly the host's launch cycles of a layer
    (every phase's), and from the start of every phase (and of the pass) to the pass's end the device's own cycles
    per layer (:attr:`Pass.device_ends`: the schedule replayed with the launches taking no time) are at most the
    host's launch cycles per layer over the same phases. Then no term of the maximum grows faster than the host's
    launches, whose term the samples measured, so their slope holds for every n (the maximum is convex)."""
    if not one.device_ends or not two.device_ends or list(one.device_ends) != list(two.device_ends):
        return False
    phases = list(two.device_ends)
    host = _host_busy_to(two, None, hosts) - _host_busy_to(one, None, hosts)
    if abs((two.timing.cycles - one.timing.cycles) - host) > 0.5:  # (integer cycles)
        return False
    device = two.device_ends[phases[-1]] - one.device_ends[phases[-1]]
    for before in [None, *phases[:-1]]:  # the start of the pass, then the end of each phase but the last
        host_before = 0.0 if before is None else _host_busy_to(two, before, hosts) - _host_busy_to(one, before, hosts)
        device_before = 0 if before is None else two.device_ends[before] - one.device_ends[before]
        if device - device_before > host - host_before:
            return False
    return True


def _host_busy_to(p: Pass, phase: str | None, hosts: Sequence[int]) -> float:
    """The host's busy cycles of ``p``'s ops up to its last op of ``phase`` (every op for None)."""
    of = p.phase_of_op
    last = max((i for i, ph in enumerate(of) if ph == phase), default=len(of) - 1) if phase is not None else \
        len(of) - 1
    return float(p.busy[: last + 1, list(hosts)].sum())


@dataclass(frozen=True)
class Sampled:
    """A pass of n identical layers (a pipeline stage for one micro-batch, a serving pass): the simulated pass whose
    ops show it, each op's work and busy cycles per unit and the executions of it that row stands for (n − 1 for
    the first layer of a 2-layer run standing for n layers, else 1), its timing and every pass simulated for it.
    ``busy`` is None for a pass taken as is without its per-op busy cycles (its units' totals are its report's)."""

    shown: Pass
    work: tuple[Work, ...]
    busy: np.ndarray | None  # (ops, units)
    counts: tuple[int, ...]
    timing: Timing
    runs: tuple[Pass, ...]

    @property
    def sampled(self) -> bool:
        return len(self.runs) > 1

    @property
    def unit_busy(self) -> np.ndarray:
        """Busy cycles per unit over the whole pass, shape (1, units)."""
        return self.shown.unit_busy if self.busy is None else self.busy.sum(axis=0, keepdims=True)

    @classmethod
    def exact(cls, p: Pass, *, per_op: bool = True) -> Sampled:
        """``p`` as is (with its per-op busy cycles when ``per_op``: computed from its task graph)."""
        return cls(p, p.work, p.busy if per_op else None, (1,) * len(p.work), p.timing, (p,))

    @classmethod
    def extrapolated(cls, one: Pass, two: Pass, layers: int, prefix: int = 0, period: int = 1) -> Sampled:
        """A pass of ``layers`` identical layers from its runs with 1 and with 2 layers (after ``prefix`` distinct
        layers: with k + 1 and k + 2); with a ``period`` p, of ``layers`` identical units of p layers from its runs
        with k + p and k + 2p."""
        rows = extrapolate_layers(one, two, layers, prefix, period)
        return cls(two, rows.work, rows.busy, rows.counts, affine_timing(one.timing, two.timing, layers), (one, two))


def peak_note(peak_w: float, sample: int, layers: int, over_tdp: bool = False) -> str:
    """The note of a layer-sampled run's ``power.peak_w``: its busiest window is one of a ``sample``-layer pass,
    which need not be the whole ``layers``-layer model's (a serving pass, a pipeline stage; probe p49: gemma2_9b decode on h100 803 W sampled, 672 W
    with every layer; its TDP 700 W). ``over_tdp``: the report's notes say that window exceeds the TDP
    (:func:`~accelsim.energy.says_peak_over_tdp`; probe p141 #1: Llama-2-7B serving on h100, 869 W sampled, 770 W
    with every layer), which then holds of the sample's window, not necessarily of the model's."""
    lower = ("can be lower, and need not exceed the TDP as the note on the peak power says this window does"
             if over_tdp else "can be lower")
    return (f"power.peak_w ({peak_w:.0f} W) is the busiest window of a {sample}-layer sample pass, not of the "
            f"{layers}-layer model (its average power, energy and times are the model's): the whole model's peak "
            f"{lower}; set options.layer_samples=false for it")


def composed_report(weighted: Sequence[tuple[Sampled, float]], parts: Sequence[Rows], name: str,
                    extra: Sequence[tuple[dict, int, float, Mapping[str, float]]] = ()) -> dict:
    """The report dict of a run composed of passes (serving, a diffusion pipeline): ``weighted`` gives each pass
    and the times it runs (a float for an interpolated serving step), ``parts`` the op rows shown
    (:func:`~accelsim.scenarios.passes.compose_ops`). Time, launches and busy cycles are the passes' weighted sums;
    work, bytes and stalls the rows' sums; the descriptive fields (arch, levels, notes, placement, memory) are the
    first pass's (its notes that quote its figures as the run's name it instead: :func:`pass_name`); the scenario adds its own object (``serving``, ``diffusion``) and ``execution``.
    ``extra``: op rows no pass simulated (a serving run's placement moves between passes,
    :func:`accelsim.scenarios.serving.placement_moves`), each with the cycles and seconds it adds to the run (the
    chip active through them: they load and store) and the busy cycles of the units it occupies (a memory level's
    link streaming the moved bytes, in ``utilization`` as a pass's loads and stores are: probe p176 #2, busy host
    28.7 % beside bandwidth host 57.3 %); their bytes join the totals as any row's."""
    ops, totals = compose_ops(parts)
    for row, _, _, _ in extra:
        ops.append(row)
        for lv, v in row["bytes"].items():
            totals.bytes[lv] = totals.bytes.get(lv, 0) + v
    first = weighted[0][0]
    total = round(sum(s * p.timing.cycles for p, s in weighted)) + sum(c for _, c, _, _ in extra)
    busy = counted_busy((p.shown.units, p.unit_busy, [s]) for p, s in weighted)
    for _, _, _, occupied in extra:
        for u, c in occupied.items():
            if u in busy:
                busy[u] += c
    out = {k: v for k, v in first.shown.report.items() if k not in ("ops", "kernel_dispatch_s")}  # the latter: one pass's
    extra_s = sum(s for _, _, s, _ in extra)
    # from the whole cycles report.json shows, as a single pass's and a pipeline's (probe p216 #5: a serving run's
    # interpolated steps put the summed seconds up to half a cycle off total_cycles / clock_hz)
    seconds = total / float(first.shown.report["clock_hz"])
    launch_s = sum(s * p.timing.launch_s for p, s in weighted)
    runs = [(r, s) for p, s in weighted for r in p.runs]
    peaked = peak_report([p.shown.report for p, _ in weighted])  # (the first's, but where lanes ran MACs in another)
    out.update({
        "name": name,
        "total_cycles": total,
        "seconds": seconds,
        "launch_overhead_s": launch_s,
        "launch_bound_fraction": launch_s / seconds if seconds else 0.0,
        "active_fraction": (sum(s * p.timing.active_s for p, s in weighted) + extra_s) / seconds if seconds else 0.0,
        **dict(zip(("macs", "flops"), model_counts(ops), strict=True)),
        **computed_work(totals.macs, totals.flops, ops),
        "params": first.timing.model_params,
        **({"moe": {**out["moe"], **first.timing.moe}} if "moe" in out else {}),  # the whole model's, as params
        # where build_report gives one chip's share (tensor parallelism): the largest pass's
        **({"params_per_chip": max(p.timing.params for p, _ in weighted)} if "params_per_chip" in out else {}),
        "utilization": {u: (b / total if total else 0.0) for u, b in busy.items()},
        "arch": peaked["arch"],
        "roofline": peaked["roofline"],
        "mac_utilization": base_rate_macs(ops) / (peaked["arch"]["peak_macs_per_cycle"] * total)
        if total else 0.0,
        **(model_utilization(model_work(ops), peaked["roofline"]["peak_flops_per_s"], seconds)
           if "mfu" in out else {}),
        "stall_cycles": totals.stall_cycles,
        "stalls_by_level": totals.stalls_by_level,
        "bytes": totals.bytes,
        **({"bandwidth_share": composed_bandwidth_share(out.get("levels", []), totals.bytes, seconds)}
           if "bandwidth_share" in out else {}),
        **{k: dict(v) for k, v in (("placement", first.timing.placement), ("memory", first.timing.memory))
           if k in out},
        "simulation": {"tasks": sum(r.tasks for r, _ in runs), "events": sum(r.events for r, _ in runs),
                       "passes": len(runs)},
        "ops": ops,
    })
    if out.get("notes"):  # the first pass's: its notes that quote "the run's" figures say whose they are
        out["notes"] = pass_notes(out["notes"], pass_name(first, next(
            (str(r.tags.get("phase", "")) for r in parts if r.shown is first.shown), "")))
    return out


def pass_name(p: Sampled, phase: str) -> str:
    """How a composed run's notes name its pass ``p`` of ``phase`` (a serving phase, a pipeline's part): "the
    prefill pass", "the sampled prefill pass" where it ran as a layer sample (its figures are the sample's)."""
    return f"the {'sampled ' if p.sampled else ''}{phase + ' ' if phase else ''}pass"
