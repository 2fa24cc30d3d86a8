"""Cache residency (issue 12 item 5): an activation a producer just wrote is read back from the shared cache.

On an arch with a shared cache level (a GPU's L2), an op's output is written through the cache (write-back: the
bytes still reach main memory, as the producer's STORE tasks, which its readers wait for as before) and a later
op that reads it finds it there, unless what was touched since evicted it. With ``options.cache_residency``
(default on) a reader is served a tensor from the outermost cache (that level's bandwidth and latency, no
main-memory read) when its LRU stack distance fits the bytes the cache keeps for a tensor
(:func:`accelsim.cost.resident_bytes`: :data:`CACHE_SHARE` of it, or the level's ``resident_share``): the tensor's
bytes plus the footprint (activation inputs, parameters, output) of every working op run between its producer and the
reader, and the producer's own traffic after its first wave of output tiles (:func:`later_traffic`). Only activations: op outputs and, with ``options.warm_inputs``, graph inputs; parameters, KV caches and
stashed tensors are placed and keep their memory.

``options.warm_inputs`` (default off) describes how a measurement was taken, not the hardware: the graph's
inputs start in the cache (distance counted from the start of the pass), as when a profiler re-runs a kernel on
the same input tensors, or runs it right after the kernel that produced them (benchmarks/validation cites the
source for each replayed file that sets it). ``true`` warms every graph input; a list names those that are.
``options.warm_params`` (N, default 0: off) is the same kind of definition for parameters: the measurement re-runs
the graph back to back, with N copies of each parameter per run (NVIDIA's GEMM collector times 6 linear layers of
one shape, each its own weights, replay after replay), so a parameter read in one run is read again in the next
after that whole run's footprint was touched: when that fits, every parameter is read from the cache
(:func:`warm_params`).

A modelled GPU vector kernel (:data:`accelsim.cost.vector.KERNELS`) keeps the pace of its row walk
(:func:`paced_fraction`): its dependent round trips stay priced at the main memory's latency even when its reads hit
the cache, and reading from the cache only removes main-memory bytes, so a bandwidth-bound kernel (the vectorised
add) runs at the bytes main memory still moves. This is a known gap, not physics: pricing the walk at the preset's
unloaded 200 ns L2 latency made the warm RMSNorm / RoPE / SiLU*mul replays 18-51 % too fast (docs/validation.md,
wip-l2res), which says the loaded L2 round trip under every SM's traffic is longer than the unloaded figure; no
sourced loaded-latency figure was found, so none was fitted.
"""

from __future__ import annotations

import math

from ..cost import CACHE_SHARE, gpu_tiles, resident_bytes, vector
from ..errors import MappingError
from ..hardware import Arch
from ..ir import Graph, Op
from ..options import Options
from .plan import Plan

KEY = "cache_inputs"  # Plan.details: the tensors an op reads from the cache (report.json's mapping shows them)


def footprint(op: Op) -> int:
    """Bytes an op touches once through the cache: its activation inputs, its parameters and its output."""
    return op.in_bytes + op.weight_bytes + op.out_bytes


def warm_names(graph: Graph, options: Options) -> set[str]:
    """The graph inputs ``options.warm_inputs`` starts in the cache (none, all, or those named)."""
    w = options.warm_inputs
    if w is True:
        return set(graph.inputs)
    if not w:
        return set()
    unknown = [n for n in w if n not in graph.inputs]
    if unknown:
        raise MappingError(f"options.warm_inputs: {unknown[0]!r} is not an input of graph {graph.name!r} "
                           f"(its inputs: {', '.join(graph.inputs)})")
    return set(w)


def cache_residency(plans: tuple[Plan, ...], graph: Graph, arch: Arch, options: Options) -> tuple[Plan, ...]:
    """Plans whose ``details[KEY]`` lists the activations each reads from the outermost cache (see the module
    docstring); unchanged without a cache or with ``options.cache_residency`` off."""
    if not (options.cache_residency and arch.caches):
        return plans
    budget = resident_bytes(arch)
    placed = {*graph.info.kv_cache, *graph.info.stashed}
    written: dict[str, tuple[int, int]] = {}  # tensor → (its bytes, bytes touched before it was written)
    warm = {n: math.prod(graph.inputs[n]) for n in warm_names(graph, options) - placed}  # elements
    params = warm_params(plans, options, budget)
    cum = 0  # bytes the working ops so far touched
    out = []
    for p in plans:
        if not p.works:
            out.append(p)
            continue
        for t in p.inputs:  # a warm graph input: in the cache since the pass began, at its first reader's width
            if t in warm and t not in written:
                written[t] = (warm[t] * p.op.elem_bytes, 0)
        served = [t for t in dict.fromkeys(p.inputs) if t in written
                  and written[t][0] + cum - written[t][1] <= budget]
        served += [w.name for w in p.weights if w.name in params]
        if served:
            p = p._replace(details={**p.details, KEY: served})
        cum += footprint(p.op)
        if p.op.name not in placed and not p.resident_out and p.op.out_bytes <= budget:
            written[p.op.name] = (p.op.out_bytes, cum - later_traffic(p, arch))
        out.append(p)
    return tuple(out)


def later_traffic(p: Plan, arch: Arch) -> int:
    """Bytes a GPU op's tiles stream through the cache after its first wave wrote its first output tiles: its
    footprint x (waves - 1) / waves (the split-K partials' rule of :mod:`accelsim.cost.gpu_tiles`), so its output's
    earliest bytes sit that much deeper in the LRU stack when the op ends; waves of output tiles over the cores, or
    of a FlashAttention op's CTAs over its CTA slots; 0 for an op of one wave or without output tiles."""
    ctas = p.details.get("ctas")  # a FlashAttention op: its CTAs, ctas_per_sm of them on each SM at once
    if ctas:
        return gpu_tiles.after_first_wave(footprint(p.op), ctas, arch.cores * p.details.get("ctas_per_sm", 1))
    return gpu_tiles.after_first_wave(footprint(p.op), p.details.get("output_tiles", 0), arch.cores)


def warm_params(plans: tuple[Plan, ...], options: Options, budget: int) -> frozenset[str]:
    """The parameters ``options.warm_params`` (N > 0) keeps in the cache between runs: every working op's, when one
    run's footprint fits ``budget``: each op's activation inputs and output once, and N copies of its parameters
    (the collector's N layers of one shape, each its own weights; their outputs reuse one buffer). In the LRU
    stack, a parameter's distance from its read in the previous run to the next is that whole footprint."""
    n = options.warm_params
    works = [p for p in plans if p.works]
    if not n or sum(p.op.in_bytes + p.op.out_bytes + n * p.op.weight_bytes for p in works) > budget:
        return frozenset()
    return frozenset(w.name for p in works for w in p.weights)


def paced_fraction(op: Op, arch: Arch, main_bytes: int, served: int, cache_bytes: int, passes: int) -> float | None:
    """The fraction of main memory's sustained bandwidth at which the GPU kernel of ``op`` moves its
    ``main_bytes`` when ``served`` bytes of its reads come from the outermost cache instead (None: no modelled
    kernel). The kernel takes the longer of its row walk as :func:`accelsim.cost.vector.achieved_fraction` paces
    it over all its bytes from main memory, and ``main_bytes`` at the sustained rate. Its cache transfers
    (``cache_bytes`` at the cache's sustained rate) run before its main-memory stores, so those take the rest.
    An unbounded main memory gives 1, as in :func:`accelsim.cost.vector.achieved_fraction`."""
    every = main_bytes + served
    whole = vector.achieved_fraction(op, arch, every, passes)
    if whole is None or main_bytes <= 0:
        return None
    main_bw = arch.memory(arch.main_memory).sustained_bandwidth
    if math.isinf(main_bw):
        return 1.0
    walk = every / main_bw / whole if whole < 1 else 0.0  # seconds of the walk when it, not bandwidth, decides
    floor = main_bytes / main_bw
    rest = walk - cache_bytes / arch.memory(arch.caches[-1]).sustained_bandwidth
    return floor / max(rest, floor)


__all__ = ["CACHE_SHARE", "KEY", "cache_residency", "footprint", "paced_fraction", "warm_names", "warm_params"]
