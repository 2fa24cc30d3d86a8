"""LLM serving: a prefill pass and N decode steps in one report, with TTFT, TPOT, throughput and footprint.

Each pass (prefill, decode step 0, 1, ...) is simulated on its own, one after another (batch sequences in
lock-step, the KV cache one token longer each step), and only its figures are kept (its task graph and trace
too with ``options.trace``, for the Chrome trace), counted against ``options.memory_budget`` as they are
(:class:`~accelsim.scenarios.passes.Kept`); with more steps than ``options.decode_samples`` only some
are simulated and the others interpolated (:mod:`accelsim.scenarios.sampling`). The report:

* ``total_cycles``, ``seconds``, ``launch_overhead_s``: sums over the prefill and every decode step (a step's
  cycles with the moves before it of the tensors it places elsewhere than the pass before left them,
  :func:`placement_moves`: ``serving.move_s``, ``moved_bytes``, an op row of ``phase: move`` and a note);
  ``launch_bound_fraction`` their ratio; ``execution`` each phase's launch mode (with ``options.execution:
  auto`` the prefill runs eagerly and decode steps as CUDA graphs, :func:`pass_options`);
* ``ops``: the prefill's ops (``phase: prefill``, ``count`` 1) and the decode step's ops (``phase: decode``,
  ``count`` N), the latter with the work of all N steps (interpolated ones included) and the timing of the first
  decode step, on the run's timeline (it starts where the prefill ends). ``macs``, ``flops``, ``bytes``,
  ``stall_cycles`` and ``stalls_by_level`` are the sums of these rows (:mod:`accelsim.scenarios.passes`);
* ``utilization`` and ``mac_utilization``: over the whole run (busy cycles summed / total cycles);
  ``simulation`` counts the simulated passes; ``params`` is the model's and, under tensor parallelism,
  ``params_per_chip`` the parameters of the largest pass's graph (one chip's shard);
* ``serving``: ``ttft_s`` (the prefill, which yields each sequence's first token; null without a prefill, a
  ``phase: decode`` run whose first token came before it), ``tpot_s (mean seconds per decode step), ``tokens_per_s`` (the replica's: batch ·
  expert_parallel · decode steps / decode seconds, since each of an MoE's expert-parallel ranks decodes a
  ``batch`` of its own, as ``accelsim serve`` counts them; ``batch`` stays one rank's, as ``efficiency.j_per_token``
  counts it: probe p90 #3), ``step_cycles`` (every decode step), ``kv_cache_bytes`` (the attention layers' KV cache only),
  ``state_bytes`` (a model with recurrent layers: their states, :func:`cache_bytes`), ``images`` (a prefill that
  encodes images: :func:`encoded_images`), ``weight_bytes`` and ``memory`` (the
  footprint per level, of the last step); ``layer_samples``: the layer counts each pass was simulated with when
  layer-sampled ([1, 2]; [4, 5] for DeepSeek-V3's 3 dense layers then 58 MoE ones; [2, 4] for Gemma-2's
  alternating windows), else None;
* ``memory`` (top level) is the first pass's footprint (the prefill's; without a prefill, the first decode step's),
  ``serving.memory`` the last decode step's; ``notes`` say what each spills beyond the main memory
  (:func:`memory_notes`: the last step's prefixed with it), then every simulated pass's other notes, each once, a
  figure that grows from step to step at the last step's (:func:`run_notes`).

Layer samples (``options.layer_samples``): a model of n > 2 identical layers (:func:`identical_layers`) runs each
pass with 1 and with 2 layers (the builders' ``layers`` param) and extrapolates it affinely in n
(:class:`~accelsim.scenarios.sampling.Sampled`, as pipeline stages): its op rows are the 2-layer run's, the first
layer's counted n − 1 times. A model of k distinct layers then n alike (DeepSeek-V3: 3 dense, 58 MoE) runs each
pass with its first k + 1 and k + 2 layers, the prefix whole in both (:func:`~accelsim.scenarios.sampling.
layer_samples`: when those are fewer layers than the model's). A model whose layers repeat a unit of p (Gemma-2's
local and global windows, p = 2; Qwen3-Next's 3 linear-attention layers to 1 full, p = 4; (k, n, p) from
:func:`identical_layers`, a remainder of fewer than p layers put in the prefix) runs each pass with k + p and k + 2p
layers, extrapolated affinely in the n / p units. Exact only while every tensor of the whole model sits in the first memory (HBM), as in
the samples: placement fills it in graph order, so a model that spills places early and late layers differently.
That is checked before simulating (weights and KV caches, affine in n) and after (the samples' footprint with the
activations' reserve, :func:`placed_alike`); otherwise, and with ``options.trace``, every layer is simulated. A
sample the memories cannot hold (its activations alone too large) is not reported: the run of every layer is
refused in its place, so the error gives the whole model's weights and KV cache, not the sample's.
``power.peak_w`` is then the 2-layer sample's busiest window, not extrapolated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from ..builders.registry import get_builder
from ..config import WorkloadSpec, build_graph
from ..energy import account, says_peak_over_tdp
from ..errors import CapacityError
from ..hardware import Arch
from ..ir import Graph
from ..mapping import placement
from ..options import Options, recorded
from ..report import Report
from ..report.summary import (
    pass_notes,
    reattention_notes,
    recomputed_work_notes,
    recustom_notes,
    relaunch_notes,
    sampled_notes,
    spill_notes,
)
from ..units import format_size
from .diffusion import COUNT_NOTE, counted
from .passes import Kept, Pass, Rows, Work
from .sampling import (
    Sampled,
    affine,
    composed_report,
    decode_samples,
    interpolate,
    layer_placement,
    layer_samples,
    pass_name,
    peak_note,
    placement_changes,
    with_changes,
)
from .single import Progress, simulate_pass

# the footprint's kinds (report.json memory.<level>) a pass leaves in the memories for the next pass
PERSISTENT = ("weights", "kv_cache", "state")

# report.json moe's routing figures: what a pass's tokens do, which differ between a prefill and a decode step
MOE_ROUTING = ("tokens", "tokens_per_expert", "dropped_tokens", "capacity", "experts_hit")


def served(workload: WorkloadSpec) -> WorkloadSpec:
    """``workload`` as a server runs it: a prefill's logits only at each sequence's last position (``logits:
    last``: vLLM computes logits where it samples) unless the workload says ``logits``, for the builders that take
    it (the LLaMA-2 presets, ``gpt2`` and the ``hf`` models)."""
    params = dict(workload.params)
    if params.get("logits") is None and "logits" in get_builder(workload.model).params.model_fields:
        params["logits"] = "last"
    return replace(workload, params=params)


def serve(workload: WorkloadSpec, arch: Arch, options: Options | None = None, *, name: str | None = None,
          progress: Progress | None = None) -> Report:
    """An LLM serving run: the prefill (when ``phase`` is prefill) then ``decode_steps`` decode steps, the KV
    cache one token longer each step, batch sequences in lock-step (see the module docstring).

    With more decode steps than ``options.decode_samples``, that many steps (evenly spread, first and last
    included) are simulated, with the two steps either side of every placement change (:func:`spill_steps`), and
    the others interpolated linearly in the KV length between their simulated neighbours; the report says which
    steps were simulated. With ``options.layer_samples``, each pass of a model
    of n > 2 identical layers is simulated with 1 and with 2 layers and extrapolated, where that is exact.
    """
    options = options or Options()
    workload = served(workload)  # report.json's workload.params say the logits the prefill computed
    params = dict(workload.params)
    steps = int(params.get("decode_steps") or 0)
    plan: list[tuple[str, int, WorkloadSpec]] = []
    if params.get("phase", "prefill") == "prefill":
        plan.append(("prefill", 0, replace(workload, params={**params, "decode_steps": 0})))
        start_kv = int(params[get_builder(workload.model).params.prompt_key])  # the tokens the prefill cached
    else:
        start_kv = int(params["kv_len"])

    def step(i: int) -> WorkloadSpec:
        return replace(workload, params={**params, "phase": "decode", "kv_len": start_kv + i, "decode_steps": 0})

    sampled = decode_samples(steps, options.decode_samples)
    kept(options, steps).expect(len(plan) + len(sampled))  # every pass is kept: refused before the plan is made
    changes: list[int] = []
    base = len(sampled)
    if len(sampled) < steps:  # and the steps either side of each placement change
        changes = spill_steps(step, steps, arch, pass_options(options, "decode"))
        sampled = with_changes(sampled, changes)
        kept(options, steps).expect(len(plan) + len(sampled))
    plan.extend(("decode", i, step(i)) for i in sampled)
    # a Chrome trace shows the run's own timeline, every layer
    layers = identical_layers(workload) if options.layer_samples and not options.trace else None
    samples = layer_samples(layers)
    run = _Runner(arch, options, name, workload, progress, len(plan))
    done = run.plan(plan, layers) if samples is not None and layers is not None else None
    if done is None:  # every layer simulated: layer samples off, not applicable, or not exact for this model
        run = _Runner(arch, options, name, workload, progress, len(plan))
        done = run.plan(plan, None)
    prefill = [s for (phase, _, _), s in zip(plan, done, strict=True) if phase == "prefill"]
    decode = [s for (phase, _, _), s in zip(plan, done, strict=True) if phase == "decode"]
    footprint = {**run.footprint, "memory": (decode or prefill)[-1].timing.memory}
    data = _combine(prefill[0] if prefill else None, decode, sampled, steps=steps, batch=int(params.get("batch", 1)),
                    footprint=footprint, name=name or f"{run.graph_name}_{arch.name}", arch=arch,
                    ranks=int(params.get("expert_parallel") or 1))
    data["serving"]["layer_samples"] = list(samples) if samples and (decode and decode[0].sampled or
                                                                     prefill and prefill[0].sampled) else None
    images = encoded_images(workload, data["ops"], float(data["clock_hz"]), float(data["seconds"])) if prefill else None
    if images is not None:  # the images the prefill encoded (probe p228 #4: the key was missing, read as null)
        data["serving"]["images"] = images
    # the last step by the 1-based number serving.memory_pass gives it (probe p172 #2: "decode step 0 (the last)")
    data["notes"] = memory_notes(data.get("notes", []), (prefill or decode)[0], decode[-1] if decode else None,
                                 sampled[-1] + 1 if sampled else 0)
    # the run's (its decode passes ran with execution: cuda_graph under auto), with layer_samples as the run took
    # it, default or not (serving.layer_samples says whether the passes were sampled)
    data["options"] = {**recorded(options), "layer_samples": options.layer_samples}
    data.update(account(data, arch))  # energy of the composed run (the passes' own were copied)
    data["notes"] = recomputed_work_notes(data["notes"], data)  # the run's computed FLOPs and rate, not a pass's
    if data["serving"]["layer_samples"] and layers is not None:
        data["notes"] = [*data["notes"], peak_note(data["power"]["peak_w"], data["serving"]["layer_samples"][-1],
                                                   layers[0] + layers[1], says_peak_over_tdp(data["notes"]))]
    if len(sampled) > base:
        data["notes"] = [*data["notes"], changes_note(changes, len(sampled), steps, options.decode_samples, arch)]
    return Report(data, segments=run.segments)


def encoded_images(workload: WorkloadSpec, ops: Sequence[Mapping], clock: float, seconds: float) -> dict | None:
    """report.json's ``serving.images`` of a run whose prefill encodes images (a vision-language model's
    ``images``; None otherwise, and report.json has no ``serving.images``, as ``state_bytes``; probe p228 #4): ``requests`` the
    sequences (each carries ``images``), ``images`` and ``encoded_images`` their images (batch x images, one rank's
    as ``batch``), ``encoder_s`` the span of the image encoder's and projector's op rows in the prefill (the first
    one's start to the last one's end on the run's timeline: the tower runs before the decoder reads its tokens,
    its launches between its kernels included) and ``encoder_busy_fraction`` its share of the run's ``seconds``.
    ``accelsim serve`` prices an encoder pass as the prefill with the images less the same prefill without them
    (:mod:`accelsim.serving.cost`): the same tower, so the two agree up to the decoder's merging of the image
    tokens (llava_1_5_7b on h100: 7.752 ms here, TTFT 40.750 ms with one image less 32.991 ms without)."""
    from ..builders.hf import HfParams  # the LLM builders are imported by the runs that use them

    p = get_builder(workload.model).params.model_validate(dict(workload.params))
    if not isinstance(p, HfParams) or not p.images or p.phase != "prefill":
        return None
    vision = p.lm().vision
    if vision is None:
        return None
    scopes = vision.scopes
    rows = [r for r in ops if r.get("phase") == "prefill" and any(
        r["name"] == s or str(r["name"]).startswith(f"{s}.") for s in scopes)]
    if not rows:
        return None
    span = (max(int(r["end_cycle"]) for r in rows) - min(int(r["start_cycle"]) for r in rows)) / clock
    images = p.batch * p.images
    return {"requests": p.batch, "images": images, "encoded_images": images, "encoder_s": span,
            "encoder_busy_fraction": span / seconds if seconds else 0.0}


def changes_note(changes: Sequence[int], simulated: int, steps: int, budget: int, arch: Arch) -> str:
    """The note of a run whose placement changes while it decodes (:func:`spill_steps`): each change adds the steps
    either side of it to those simulated, every layer of them (a model that spills is not layer-sampled), which is
    what makes such a run slow (probe p98 #1: a bf16 DeepSeek-V3 on dgx-h200, 38 changes, 82 of 128 steps, 194 s
    of CPU against 4.9 s in fp8)."""
    first = arch.memories[0]
    return (f"{len(changes)} placement change{'s' if len(changes) != 1 else ''} while decoding (the growing KV "
            f"cache moves tensors out of {first}): {simulated} of {steps} decode steps simulated "
            f"(serving.decode_steps_simulated: options.decode_samples' {budget} and the steps either side of each "
            f"change), which is what makes this run slow; weights and KV cache that fit {first} (a narrower "
            "workload.weight_dtype such as fp8, more tensor parallelism, or more memory) avoid them")


def spill_steps(step: Callable[[int], WorkloadSpec], steps: int, arch: Arch, options: Options) -> list[int]:
    """The decode steps whose tensors are placed otherwise than the step before's (:func:`~accelsim.scenarios.
    sampling.placement_changes` over :func:`accelsim.mapping.placement`, the analytic placement the pass's
    lowering makes: its KV cache is one token longer each step, and a cache that outgrows a memory moves out tensor
    by tensor). None when the last step's (the longest KV cache) are all in the first memory, or are where the first
    step's are: a cache only grows, so a tensor moved out would not be back by the last step."""
    if not arch.memories or steps < 2:
        return []

    def placed(i: int) -> dict[str, str]:
        return placement(build_graph(step(i), arch.dtype), arch, options)

    last = placed(steps - 1)
    if all(lv == arch.memories[0] for lv in last.values()):
        return []
    first = placed(0)
    if first == last:
        return []
    return placement_changes(steps, lambda i: last if i == steps - 1 else first if i == 0 else placed(i))


def memory_notes(notes: list[str], first: Sampled, last: Sampled | None, step: int) -> list[str]:
    """The run's notes (the first pass's) with the memory notes of the first pass's footprint (report.json's
    ``memory``; the shown pass's own, a layer sample's, replaced) and those of the last decode step's (``serving.
    memory``: its KV cache is the longest, and what spills while decoding is not what spilled in the prefill),
    each of the latter not said of the first pass prefixed with the step (``step``: its 1-based number, as
    ``serving.memory_pass`` says "decode step N")."""
    shown = first.shown.timing
    own = spill_notes(shown.memory, shown.held, shown.offload)
    head = spill_notes(first.timing.memory, first.timing.held, first.timing.offload)
    tail = [] if last is None or last is first else [
        f"decode step {step} (the last): {n}" for n in spill_notes(last.timing.memory, last.timing.held,
                                                                      last.timing.offload) if n not in head]
    return head + tail + [n for n in notes if n not in own]


FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?")
"""A number in a note (``8,193``, ``4.5``): notes alike but for these are one note's figures in different passes."""


def own_notes(p: Sampled, phase: str) -> list[str]:
    """The notes of pass ``p`` of ``phase`` that a serving run carries: those quoting its figures as the run's
    naming it (:func:`~accelsim.report.summary.pass_notes`), less the spill notes of its shown footprint (the
    run's are :func:`memory_notes`')."""
    shown = p.shown.timing
    spills = set(spill_notes(shown.memory, shown.held, shown.offload))
    return [n for n in pass_notes(p.shown.report.get("notes", []), pass_name(p, phase)) if n not in spills]


def run_notes(prefill: Sampled | None, decode: Sequence[Sampled], steps: int) -> list[str]:
    """A serving run's notes from every pass it simulated (probe p231 #3: only the prefill's were kept, and a prompt
    of 8,192 tokens with 4 decode steps, reaching position 8,196 of llama3_8b's 8,192, had no context note), each
    once. A note alike in several passes but for its figures (:data:`FIGURE`; the k-th such note of each pass) is
    one note with the last pass's figures, where the first stood: the decode steps differ only in their cache, one
    token longer each, so a figure that changes from step to step grows with it and the last step's is the run's
    extreme ("positions up to 33,768" after a 32,768-token prompt and 1,000 steps, not 32,768 nor one line a step).
    Where the prefill's and the decode steps' counts of ops differ (:data:`~accelsim.scenarios.diffusion.COUNT_NOTE`),
    both are kept, each naming its pass (:func:`~accelsim.scenarios.diffusion.counted`). The notes that quote one
    pass's launch, attention, custom all-reduce, computed-work, energy or memory figures are then replaced by the
    run's (:func:`_combine`, :func:`serve`)."""

    def keyed(notes: list[str]) -> list[tuple[tuple[str, int], str]]:
        seen: dict[str, int] = {}
        out = []
        for n in notes:
            shape = FIGURE.sub("#", n)
            seen[shape] = seen.get(shape, -1) + 1
            out.append(((shape, seen[shape]), n))
        return out

    out: dict[tuple[str, int], list[str]] = {k: [n] for k, n in keyed(own_notes(prefill, "prefill"))} \
        if prefill else {}
    last: dict[tuple[str, int], str] = {}
    for p in decode:
        for key, n in keyed(own_notes(p, "decode")):
            last[key] = n  # (a later step's replaces an earlier one's in its place)
    for key, n in last.items():
        if prefill and key in out and out[key] != [n] and COUNT_NOTE.match(n):
            out[key] = [counted(out[key][0], prefill, "prefill", 1), counted(n, decode[-1], "decode", steps)]
        else:
            out[key] = [n]
    return list(dict.fromkeys(n for ns in out.values() for n in ns))


def identical_layers(workload: WorkloadSpec) -> tuple[int, int, int] | None:
    """(k, n, p): ``workload``'s model is k distinct layers then n / p repeats of a unit of p layers (n set by its
    ``layers`` param; p = 1: n identical layers) when
    its builder says so (:func:`accelsim.builders.transformer.identical_layers`, :func:`accelsim.builders.hf.
    identical_layers`), else None."""
    entry = get_builder(workload.model)
    if "layers" not in entry.params.model_fields:
        return None
    p = entry.params.model_validate(dict(workload.params))
    if p.mode == "training":
        return None
    from ..builders.hf import HfParams  # the LLM builders are imported by the runs that use them
    from ..builders.hf import identical_layers as hf_layers
    from ..builders.transformer import identical_layers as transformer_layers

    return hf_layers(p) if isinstance(p, HfParams) else transformer_layers(workload.model, p)


def kept(options: Options, steps: int) -> Kept:
    """What a serving run of ``steps`` decode steps keeps of its passes (:class:`~accelsim.scenarios.passes.Kept`),
    and how to keep less."""
    return Kept(options, "set options.decode_samples (the decode steps simulated, the others interpolated; 8 by "
                         "default), run fewer workload.decode_steps" + (", leave out options.trace" if options.trace
                                                                         else "") + ", or raise options.memory_budget",
                steps)


class _Runner:
    """Simulates the passes of a serving run one after another, keeping each as a :class:`Sampled` (and, with
    ``options.trace``, the task graphs and traces for the Chrome trace)."""

    def __init__(self, arch: Arch, options: Options, name: str | None, workload: WorkloadSpec,
                 progress: Progress | None, total: int) -> None:
        self.arch, self.options, self.name, self.workload = arch, options, name, workload
        self.progress, self.total = progress, total
        self.segments: list = []
        self.offset = 0
        self.footprint: dict = {}  # the last pass's KV bytes; the largest weight bytes of any pass (Whisper's
        # prefill holds the encoder, which its decode steps do not read)
        self.graph_name = ""
        self.kept = kept(options, int(workload.params.get("decode_steps") or 0))

    def plan(self, plan: list[tuple[str, int, WorkloadSpec]], layers: tuple[int, int, int] | None) -> \
            list[Sampled] | None:
        """Every pass of ``plan``: with ``layers`` = (k distinct, n alike in units of p), each from its runs with
        k + p and k + 2p layers; None as soon as one of them would not be exact (:func:`placed_alike`)."""
        out = []
        for n, (phase, step, spec) in enumerate(plan):
            if self.progress:
                self.progress(f"{phase} step {step}" if phase == "decode" else phase, n, self.total)
            opts = pass_options(self.options, phase)
            # every pass is kept to the end: refused as soon as this one and the decode steps after it would keep more
            # than the memory budget (they are alike), before they are simulated
            alike = sum(1 for later, _, _ in plan[n + 1:] if later == "decode") if phase == "decode" else 0
            what = "a decode step" if phase == "decode" else "the prefill"
            if layers is None:
                graph = build_graph(spec, self.arch.dtype)
                label = f"decode step {step + 1}" if phase == "decode" else phase
                out.append(Sampled.exact(self._simulate(graph, opts, label=label), per_op=False))
                self.footprint = {**cache_bytes(graph.meta),
                                  "weight_bytes": max(graph.weight_bytes, self.footprint.get("weight_bytes", 0))}
                self.kept.keep(out[-1].runs, alike=alike, what=what)
                continue
            prefix, alike_layers, period = layers
            units, total = alike_layers // period, prefix + alike_layers
            g1, g2 = (build_graph(replace(spec, params={**spec.params, "layers": k}), self.arch.dtype)
                      for k in (prefix + period, prefix + 2 * period))
            g2.meta["sample_layer_scale"] = total / (prefix + 2 * period)  # the shown pass's notes: the whole model's
            if not fits_first_memory(g1, g2, units, self.arch):
                return None  # the whole model overflows the first memory (checked before simulating the samples)
            what = f"decode step {step + 1}" if phase == "decode" else phase
            try:
                one, two = (self._simulate(g, opts, per_op=True, label=f"{what} ({k} of {total} layers)")
                            for k, g in ((prefix + period, g1), (prefix + 2 * period, g2)))
            except CapacityError:  # a sample's activations overflow the memories: the whole model's do too (the
                return None  # same ops, more weights), and the run of every layer says so with the model's bytes
            pass_ = Sampled.extrapolated(one, two, units, prefix, period)
            # its notes that count the sample's op rows or MoE layers, said of the model's (probe p189)
            two.report["notes"] = sampled_notes(two.report.get("notes", []), self.arch, g2, (one.rows, two.rows),
                                                units, pass_.timing.moe.get("moe_layers"),
                                                smaller=one.report.get("notes", []))
            if not placed_alike(pass_, self.arch):
                return None
            if self.arch.memories:
                placement = layer_placement(one, two, units, self.arch.memories[0], prefix, period)
                pass_ = replace(pass_, timing=replace(pass_.timing, placement=placement))
            out.append(pass_)
            self.kept.keep(pass_.runs, alike=alike, what=what, samples=True)
            one_b, two_b = cache_bytes(g1.meta), cache_bytes(g2.meta)
            self.footprint = {**{k: affine(one_b[k], two_b[k], units) for k in one_b},
                              "weight_bytes": max(affine(g1.weight_bytes, g2.weight_bytes, units),
                                                  self.footprint.get("weight_bytes", 0))}
        return out

    def _simulate(self, graph: Graph, opts: Options, *, per_op: bool = False, label: str = "") -> Pass:
        """Simulate one pass of ``graph`` (``label``: the pass trace.json names) after the ones before it."""
        self.graph_name = graph.name
        p, rep = simulate_pass(graph, self.arch, opts, name=self.name, workload=self.workload)
        if per_op:
            p.busy  # noqa: B018 (computed from the task graph before it is dropped)
        if self.options.trace:  # each pass's task graph and trace are kept only for a Chrome trace
            self.segments.append((*rep.segments[0][:2], self.offset, label))
        del rep
        self.offset += p.timing.cycles
        return p.without_tasks()


def cache_bytes(meta: dict) -> dict[str, int]:
    """A pass's ``serving`` cache figures from its graph's meta: ``kv_cache_bytes`` the attention layers' KV cache
    only, and for a model with recurrent layers ``state_bytes``, their fixed-size states (Mamba's, Gated DeltaNet's,
    the short convolutions' taps), which the builders' ``kv_cache_bytes`` also counts (``state_cache_bytes``)."""
    state = int(meta.get("state_cache_bytes", 0) or 0)
    kv = {"kv_cache_bytes": int(meta.get("kv_cache_bytes", 0)) - state}
    return {**kv, "state_bytes": state} if state else kv


def persistent_bytes(graph: Graph) -> int:
    """Bytes of ``graph``'s parameters and KV caches, which placement puts in the memories."""
    return graph.weight_bytes + sum(graph.kv_cache_sizes().values())


def fits_first_memory(one: Graph, two: Graph, layers: int, arch: Arch) -> bool:
    """Whether the model of ``layers`` identical layers or units (after any distinct prefix), known from its 1- and
    2-layer graphs (with the prefix: k + 1 and k + 2; with units of p layers: k + p and k + 2p), holds all its
    parameters and KV caches in the first memory (so layer samples stand for it; :func:`placed_alike`)."""
    return not arch.memories or affine(persistent_bytes(one), persistent_bytes(two), layers) <= arch.memory(
        arch.memories[0]).usable


def placed_alike(pass_: Sampled, arch: Arch) -> bool:
    """Whether the whole model's persistent tensors are placed as the layer samples' are: all of them (and the
    activations' reserve) fit the first memory (HBM), as in both samples. Placement fills that memory in graph order
    and spills the rest, so a model that overflows it places early and late layers differently (their weights and
    KV caches in different memories) and its layers are no longer alike."""
    if not arch.memories:
        return True
    first, *rest = arch.memories
    if any(r.timing.memory.get(lv, {}).get("used", 0) for r in pass_.runs for lv in rest):
        return False
    held = pass_.timing.memory.get(first, {})
    return not any(pass_.timing.memory.get(lv, {}).get("used", 0) for lv in rest) and \
        held.get("used", 0) <= arch.memory(first).usable


def pass_options(options: Options, phase: str) -> Options:
    """A pass's options: with ``execution: auto``, decode steps run as CUDA graphs (as serving engines replay
    captured decode graphs: vLLM, TensorRT-LLM, SGLang) and the prefill eagerly."""
    if options.execution == "auto":
        return options.model_copy(update={"execution": "cuda_graph" if phase == "decode" else "eager"})
    return options


Move = tuple[str, str, str, int]  # (footprint kind, from level, to level, bytes)


@dataclass(frozen=True)
class Moves:
    """The moves between two simulated passes of a serving run (:func:`placement_moves`), ``between`` them
    ("prefill -> decode step 1"): ``cycles`` those of each decode step they are shared by, from ``first_step``
    (0-based; the steps between two simulated ones share their moves evenly)."""

    between: str
    moved: list[Move]
    cycles: list[int]
    first_step: int


def placement_moves(before: Mapping[str, Mapping[str, float]], after: Mapping[str, Mapping[str, float]],
                    first: str, weights: bool = True) -> list[Move]:
    """What moves between two consecutive passes of a serving run, from the footprint ``before`` (report.json
    ``memory`` of the earlier pass: where it left its weights and KV cache, the cache it appended in ``first``, the
    main memory) to ``after`` (the later pass's: where it placed them, its own appended cache in ``first`` too).

    Each pass is placed on its own (a prefill's activations leave its decode steps room for more weights; a cache
    one token longer can push a tensor out), but a tensor stays where it is until moved. Kind by kind, across all
    the memories (in ``after``'s order, ``first`` first; probe p176 #3: comparing each outer memory with ``first``
    alone charged a CXL -> host move to HBM and invented a KV return to HBM): the bytes the two passes hold
    together grew by what the later pass writes where it lands (a KV cache's or state's new tokens, appended in
    ``first``; weights its graph adds) and that is not a move; what they hold less of (tensors the later pass's
    graph lacks, Whisper's encoder weights in a decode step) is dropped where it was, innermost first. The memories
    that then hold less of the kind send to those that hold more, each byte once, in memory order (the first
    sender's bytes to the first receiver until either is done, and so on). Weights reaching the last memory are
    not moved: a serving run never writes them, and it still holds the copy they were loaded from (an offloading
    runtime keeps the checkpoint's weights in host memory), so they are dropped; weights reaching any other memory,
    and KV cache and recurrent state (written by the passes) everywhere, cross the links. By the kinds' bytes
    (coarse, per pass, not per tensor): tensors of one kind swapping places are counted by their net bytes, a lower
    bound.

    ``weights`` false (between two decode steps, :func:`_combine`): weights do not move; they stay where the step
    before left them (probe p176 #4: 26 reloads of ~60 MB of the embedding table, 1.90 GB, where a step reads 32 KB
    of it). Every weight a step reads whole ranks ahead of every KV cache in placement (density 1, weights first in
    graph order), and a decode step's activations only grow with its cache, so the weights a later step places in a
    faster memory than the step before are only ones it reads a fraction of (density below 1: a gathered table's
    rows, batch out of vocab; experts no token routes to, none), filling room a spilled cache tensor freed. Copying
    them costs their whole bytes; leaving them costs the bytes the steps read of them over the slower link, density
    x bytes a step (llama2_7b at batch 4 reads 4 of the embedding's 32,000 rows a step, density 1/8,000: a chunk
    repays its copy after 8,000 steps, and the placement drops it again ~30 steps later). The step is still timed
    with its own placement, which undercounts those reads (at most the table's 32,768 B a step at 16 GB/s: 2 us)."""
    levels = list(dict.fromkeys([first, *after, *before]))
    last = levels[-1]
    moves: list[Move] = []
    for kind in PERSISTENT:
        if kind == "weights" and not weights:
            continue
        delta = {lv: round(after.get(lv, {}).get(kind, 0)) - round(before.get(lv, {}).get(kind, 0)) for lv in levels}
        net = sum(delta.values())
        if net > 0:  # written where it lands: a cache's (state's) new tokens in first, weights its graph adds
            order = [first] if kind != "weights" else [lv for lv in levels if delta[lv] > 0]
            for lv in order:
                take = net if kind != "weights" else min(net, delta[lv])
                delta[lv] -= take
                net -= take
        for lv in levels:  # held less of in all: dropped where it was, innermost first
            if net >= 0:
                break
            take = min(-net, max(-delta[lv], 0))
            delta[lv] += take
            net += take
        senders = [[lv, -d] for lv, d in delta.items() if d < 0]
        receivers = [[lv, d] for lv, d in delta.items() if d > 0]
        si = ri = 0
        while si < len(senders) and ri < len(receivers):
            b = min(senders[si][1], receivers[ri][1])
            if not (kind == "weights" and receivers[ri][0] == last):
                moves.append((kind, senders[si][0], receivers[ri][0], b))
            senders[si][1] -= b
            receivers[ri][1] -= b
            si += senders[si][1] == 0
            ri += receivers[ri][1] == 0
    return moves


def move_seconds(moves: Sequence[Move], arch: Arch) -> float:
    """Seconds to make ``moves`` at once: each memory they leave or reach streams its bytes (read or written) at
    its sustained bandwidth, one stream per level whichever the direction (a level's bandwidth is one figure, its
    loads and stores share it, as the engine's bandwidth server serves them; for host memory the link's), after its
    latency; the levels stream together, so the slowest sets the time."""
    nbytes: dict[str, int] = {}
    for _, src, dst, b in moves:
        for lv in (src, dst):
            nbytes[lv] = nbytes.get(lv, 0) + b
    return max((arch.memory(lv).latency + b / arch.memory(lv).sustained_bandwidth for lv, b in nbytes.items()
                if arch.memory(lv).sustained_bandwidth != float("inf")), default=0.0)


def move_note(moves: Sequence[tuple[str, list[Move]]], steps: int, seconds: float, run_s: float) -> str:
    """The note of a serving run whose passes move tensors between memories (:func:`placement_moves`) before
    ``steps`` of its decode steps: the bytes of each kind and direction over all the moves, and their time."""
    by: dict[tuple[str, str, str], int] = {}
    for _, ms in moves:
        for kind, src, dst, b in ms:
            by[kind, src, dst] = by.get((kind, src, dst), 0) + b
    what = ", ".join(f"{b} B ({format_size(b)}) of {kind.replace('_', ' ')} {src} -> {dst}"
                     for (kind, src, dst), b in by.items())
    first = moves[0][0]
    more = f", then before {steps - 1} more decode step{'s' if steps != 2 else ''}" if steps > 1 else ""
    return (f"placement moves between passes ({first}{more}): {what}, {seconds:.4g} s ({seconds / run_s:.1%} of the "
            "run, in serving.step_cycles and serving.move_s): each pass is placed on its own, and what the pass "
            "before left in another memory is moved first, over the link at its bandwidth (serving.moved_bytes)")


def _decode_work(decode: list[Sampled], scales: list[float]) -> list[Work]:
    """Per op of a decode step, the work of every step: each simulated step's work times its scale."""
    names = [r["name"] for r in decode[0].shown.rows]
    for p in decode[1:]:
        assert [r["name"] for r in p.shown.rows] == names, "decode steps differ in their ops"
    return [Work.combination(zip(works, scales, strict=True))
            for works in zip(*(p.work for p in decode), strict=True)]


def _move_row(moves: Sequence[Moves], prefill_cycles: int, step_cycles: Sequence[int],
              clock: float, arch: Arch) -> tuple[dict, int, float, dict[str, float]]:
    """The op row of a serving run's placement moves (phase ``move``, ``count`` the steps that move; its bytes every
    move's, at both levels each crosses; its timing the first move's, before the step it moves for), with the
    cycles and seconds they add to the run and each level's busy cycles, its bytes at its sustained bandwidth (as
    an engine memory task occupies its level; the latency is not occupancy)
    (:func:`~accelsim.scenarios.sampling.composed_report`'s ``extra``)."""
    nbytes: dict[str, int] = {}
    for m in moves:
        for _, src, dst, b in m.moved:
            for lv in (src, dst):
                nbytes[lv] = nbytes.get(lv, 0) + b
    first = moves[0]
    start = prefill_cycles + sum(step_cycles[:first.first_step])
    cycles = first.cycles[0]
    first_bytes: dict[str, int] = {}
    for _, src, dst, b in first.moved:
        for lv in (src, dst):
            first_bytes[lv] = first_bytes.get(lv, 0) + b // len(first.cycles)
    total = sum(sum(m.cycles) for m in moves)
    count = sum(len(m.cycles) for m in moves)
    row = {"name": "placement moves", "kind": "move", "fn": "move", "unit": "dma", "core": None, "macs": 0,
           "flops": 0, "start_cycle": start, "end_cycle": start + cycles, "compute_cycles": 0, "stall_cycles": 0,
           "stalls_by_level": {}, "bytes": nbytes, "tiles": count, "arithmetic_intensity": 0.0,
           "achieved_flops_per_s": 0.0,
           "achieved_bytes_per_s": {lv: b * clock / cycles for lv, b in first_bytes.items()} if cycles else {},
           "bound": "memory", "mapping": {"moves": [  # (the first 16)
               {"between": m.between, "kind": k, "from": src, "to": dst, "bytes": b} for m in moves
               for k, src, dst, b in m.moved][:16]}, "phase": "move", "count": count}
    busy = {lv: b / arch.memory(lv).sustained_bandwidth * clock for lv, b in nbytes.items()
            if arch.memory(lv).sustained_bandwidth != float("inf")}
    return row, total, total / clock, busy


def _combine(prefill: Sampled | None, decode: list[Sampled], sampled: list[int], *, steps: int, batch: int,
             footprint: dict, name: str, arch: Arch, ranks: int = 1) -> dict:
    """The serving report (see the module docstring). ``batch``: one rank's sequences; ``ranks``: the
    expert-parallel ranks, each decoding a batch of its own (``tokens_per_s`` counts them all)."""
    step_cycles, scales = interpolate(steps, sampled, [p.timing.cycles for p in decode])
    weighted = ([(prefill, 1.0)] if prefill else []) + list(zip(decode, scales, strict=True))
    clock = float(weighted[0][0].shown.report["clock_hz"])
    # the tensors each pass finds elsewhere than the pass before left them: moved before it runs, in its step's time
    moves: list[Moves] = []
    passes = [(-1, prefill)] if prefill else []
    passes += list(zip(sampled, decode, strict=True))
    for (i, a), (j, b) in pairwise(passes) if arch.memories else ():
        # between two decode steps weights stay where the step before left them (probe p176 #4; placement_moves)
        moved = placement_moves(a.timing.memory, b.timing.memory, arch.memories[0], weights=i < 0)
        if not moved:
            continue
        # between two simulated steps i and j, no placement change (sampling.with_changes brackets each): the
        # steps i + 1 ... j each move their share, the new tokens of the caches in an outer memory
        n = j - i if i >= 0 else 1
        each = [[(k, src, dst, b * (t + 1) // n - b * t // n) for k, src, dst, b in moved
                 if b * (t + 1) // n > b * t // n] for t in range(n)]
        cycles = [round(move_seconds(m, arch) * clock) for m in each]
        for t, c in enumerate(cycles):
            step_cycles[j - n + 1 + t] += c
        what = "prefill" if i < 0 else f"decode step {i + 1}"
        moves.append(Moves(f"{what} -> decode step {j + 1}", moved, cycles, j - n + 1))
    prefill_cycles = prefill.timing.cycles if prefill else 0
    parts = []
    if prefill:
        parts.append(Rows(prefill.shown, prefill.work, prefill.counts, {"phase": "prefill"}))
    if decode:
        into_first = moves[0].cycles[0] if moves and moves[0].first_step == sampled[0] else 0
        parts.append(Rows(decode[0].shown, _decode_work(decode, scales), [steps * c for c in decode[0].counts],
                          {"phase": "decode"}, offset=prefill_cycles + into_first))
    extra = [_move_row(moves, prefill_cycles, step_cycles, clock, arch)] if moves else []
    out = composed_report(weighted, parts, name, extra)
    out["notes"] = run_notes(prefill, decode, steps)  # every pass's, not only the first's (probe p231 #3)
    out["execution"] = ", ".join(dict.fromkeys(f"{phase} {p.shown.report['execution']}" for phase, p in
                                               (("prefill", prefill), ("decode", decode[0] if decode else None)) if p))
    seconds = float(out["seconds"])
    phases = ([("prefill", [(prefill, 1.0)])] if prefill else []) + (
        [("decode", list(zip(decode, scales, strict=True)))] if decode else [])
    modes = [(phase, ps[0][0].shown.report["execution"],
              sum(s * p.timing.launch_s for p, s in ps) / seconds if seconds else 0.0) for phase, ps in phases]
    out["notes"] = reattention_notes(
        relaunch_notes(out.get("notes", []), arch, float(out["launch_bound_fraction"]), modes), out["ops"],
        {phase: ps[0][0].shown.attention for phase, ps in phases}, float(out["total_cycles"]), modes)
    out["notes"] = recustom_notes(out["notes"], arch, out["ops"], float(out["total_cycles"]))
    decode_s = sum(step_cycles) / clock
    ttft = prefill.timing.seconds if prefill else None  # no prefill: the first token came before this run
    out["serving"] = {
        "batch": batch,
        "prefill_cycles": prefill.timing.cycles if prefill else 0,
        "decode_steps": steps,
        "decode_steps_simulated": list(sampled),
        "decode_cycles": sum(step_cycles),
        "step_cycles": step_cycles,
        "ttft_s": ttft,
        "tpot_s": decode_s / steps if steps else None,
        "tokens_per_s": batch * ranks * steps / decode_s if decode_s else None,
        **footprint,
    }
    if moves:  # the tensors moved between passes (placement_moves): their time is in step_cycles
        move_cycles = sum(sum(m.cycles) for m in moves)
        out["serving"]["move_s"] = move_cycles / clock
        out["serving"]["moved_bytes"] = dict(extra[0][0]["bytes"])
        out["notes"] = [*out["notes"], move_note([(m.between, m.moved) for m in moves],
                                                 sum(len(m.cycles) for m in moves), move_cycles / clock,
                                                 float(out["seconds"]))]
    # which pass each memory footprint describes: the top-level one the first pass's, the serving one the last's
    out["memory_pass"] = "prefill" if prefill else f"decode step {sampled[0] + 1}"
    if "moe" in out:  # the routing figures are the first pass's: said, and a prefill's joined by the decode steps'
        out["moe"]["routing_pass"] = out["memory_pass"]
        step = decode[0].shown.report.get("moe") if prefill and decode else None
        if step is not None:
            out["moe"]["decode_step"] = {k: step[k] for k in MOE_ROUTING if k in step}
    if decode:
        out["serving"]["memory_pass"] = f"decode step {sampled[-1] + 1}"
    elif prefill:
        out["serving"]["memory_pass"] = "prefill"
    return out
