"""Pipeline parallelism: one report for a training (or inference) iteration through P pipeline stages.

Each distinct stage (the first, a middle one, the last) is simulated once for one micro-batch on one chip; the
iteration is composed with the 1F1B schedule of Megatron-LM (Narayanan et al. 2021), every stage's per-micro-batch
time measured, not assumed equal:

* a stage's per-micro-batch time ``t_k`` is its cycles up to the end of its backward phase (the whole run when
  inference); its optimizer tail ``o_k`` (steps, data-parallel all-reduces) runs once per iteration. With m > 1
  or ``overlap_grad_reduce`` off (``gpt``'s default: Megatron-LM's ``train_step`` all-reduces after the pipeline
  flush) and data parallelism the stage's graph reduces its gradients after the whole backward pass, so none is in
  ``t_k`` and ``o_k`` is the reductions and steps after it. With ``overlap_grad_reduce`` on and m > 1, ``o_k`` is
  what the last micro-batch, which reduces them as its backward makes them (DDP's ``no_sync`` before it,
  Megatron-core's ``--overlap-grad-reduce``), adds: the stage run as one micro-batch, less ``t_k``
  (:func:`_with_last_micro_batch`);
* iteration = (m − 1)·max_k t_k + Σ_k t_k / v + (1 − 1/v)·max_k t_k + max_k o_k + p2p + embedding_sync, with m
  micro-batches and v
  model chunks per stage (``pipeline_interleave``). For equal stages this is Megatron's (m + (P − 1)/v)·t: the
  pipeline fills and drains once (the bubble, (P − 1)/v stage times) and runs one micro-batch per stage time in
  between; unequal stages pay the slowest stage in the steady state and each stage once in the fill/drain. The
  first term is never below Σ_k t_k, one micro-batch's own forward and backward path through every stage
  (:func:`schedule_cycles`); with v > 1 the workload refuses m not a multiple of P, as Megatron-LM does;
* ``p2p``: the activation sends (and gradient sends back) that the fill and drain wait for, 2·(P·v − 1) of them in
  training (P·v − 1 in inference; ``pipeline.p2p_transfers``, ``p2p_s``), each ``interconnect.latency`` + bytes /
  (bandwidth · efficiency), bytes = one micro-batch's hidden states / tensor_parallel (Megatron's scatter/gather of
  the send across the tensor-parallel ranks); on a multi-node arch the boundaries between nodes send over the
  scale-out network instead (:func:`p2p_seconds`); the steady state's sends overlap compute. Every micro-batch
  crosses every boundary, so the step sends m times as many (``p2p_sends_total`` = 2·(P·v − 1)·m in training,
  ``p2p_bytes_total`` those × bytes: one tensor-parallel rank's pipeline, as the rest of the report);
* ``embedding_sync``: in training with P > 1, the first and the last stage each hold the word embeddings (the last
  stage's copy for the tied LM head) and all-reduce their gradients once per iteration before the optimizer
  steps (Megatron-LM's embedding group, ``_allreduce_word_embedding_grads`` in finalize_model_grads): two ranks,
  an NCCL all-reduce of its (vocab / T) × hidden gradient (its ``main_grad``: fp32 for a bf16 model,
  ``units.GRAD_DTYPE``) between the first and the last stage's chips, priced as any all-reduce of two ranks is
  (:func:`embedding_sync`, :func:`accelsim.cost.collective.call`).

The sends and the embedding all-reduce are in no op row; their bytes are in ``bytes.link`` all the same (each
send once, by its sender; the all-reduce's ``embedding_sync_bytes``, what each of its two ranks puts on its link),
their time in the link's busy time (:func:`transfer_busy`; probe p272 #1: both were 0 while the energy charged
them), and the energy prices their bytes as a collective's (``energy.account``'s ``transfers``): those between
nodes (the sends of the share of boundaries :func:`crossing_share` counts, the all-reduce of :func:`stages_apart`
stages) at ``scale_out.energy_per_bit`` and on the ``nic``'s busy time, the rest at the links' figure.

The report covers the pipeline (P chips of one tensor-parallel rank of one data-parallel replica) for the
iteration. ``ops`` holds the ops of every distinct simulated stage (tagged ``stage``; the middle stage stands for
stages 1 … P − 2), each row with the work of its ``count`` executions in the iteration: m per stage it stands for
(forward and backward ops), or one per stage (optimizer ops); timing fields are one micro-batch's. ``macs``,
``flops``, ``bytes``, ``stall_cycles`` and ``stalls_by_level`` are the sums of these rows (``bytes.link`` with the
sends and the embedding all-reduce beside them); ``utilization`` is each unit's busy cycles, counted the same way
and summed over the P chips (the link's and NIC's with those transfers'), over P × the iteration, and
``mac_utilization`` = macs / (peak MACs per cycle · P · iteration cycles), so both average the P chips.
``params`` is the whole model's, ``params_per_chip`` the largest stage's share. ``phases`` are the bottleneck
stage's (the largest t_k); ``memory`` the fullest stage's, with the activations of the micro-batches in flight on
it, in the memory that keeps the stash (a stage that does not fit a memory is a one-line error), and the memory
notes its footprint's; ``launch_overhead_s`` is its launch share of its
time applied to the iteration; ``active_fraction`` is the P chips' mean (:func:`active_fraction`: a chip idles
through its bubbles); ``pipeline`` gives the schedule, each stage's times and memory with the micro-batches whose
activations 1F1B keeps in flight (stage k: min(P − k, m); interleaved: :func:`in_flight`; in inference one, the
micro-batch the stage runs: no stash is kept for a backward pass).

With ``options.layer_samples`` (the default) a stage of n > 2 identical layers is simulated with 1 and with 2
layers (:mod:`accelsim.scenarios.sampling`; ``pipeline.layer_samples`` = [1, 2], the ops shown are the 2-layer
run's with the first layer's counted n − 1 times), unless its eager launches are not affine in the layers
(:func:`~accelsim.scenarios.sampling.launches_affine`): then it is simulated with all n.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..builders.training import grad_dtype
from ..config import WorkloadSpec, build_graph
from ..cost import collective
from ..energy import account, says_peak_over_tdp
from ..energy.model import LINK, NIC
from ..errors import WorkloadError
from ..hardware import Arch, usable_bytes
from ..mapping import data_parallel
from ..options import Options, recorded
from ..report import Report
from ..report.data_parallel import data_parallel_notes, replica_record
from ..report.schema import STEP_SCOPE, base_rate_macs, computed_work, model_counts, model_work
from ..report.summary import (
    active_cycles_before,
    device_phase_ends,
    model_utilization,
    peak_report,
    reattention_notes,
    recomputed_work_notes,
    recustom_notes,
    relaunch_notes,
    sampled_notes,
    spill_notes,
)
from ..units import dtype_bytes
from .fit import NoFit, explain, stage_stash
from .passes import Kept, Pass, Rows, Timing, compose_ops, composed_bandwidth_share, counted_busy, keep_less
from .sampling import Sampled, launches_affine, layer_placement, peak_note
from .single import Progress, simulate_pass


def _repeats(stage: Sampled, micro_batches: int, replicas: int) -> list[int]:
    """How many times an iteration of ``micro_batches`` over ``replicas`` stages like ``stage`` runs each op's
    one-micro-batch work: forward and backward ops once per micro-batch, optimizer ops once."""
    return [replicas * (1 if phase == "optimizer" else micro_batches) for phase in stage.shown.phase_of_op]


def p2p_seconds(arch: Arch, nbytes: float, tp: int, pp: int) -> float:
    """Seconds of one activation (or gradient) send between adjacent stages, on the average over the P − 1 stage
    boundaries. Stage k's chips start at k · tp · dp (Megatron's rank order: tensor parallel innermost, then data
    parallel, then the stages); a boundary whose two first chips are in different nodes (``interconnect.
    node_chips``) sends over the scale-out network, the others over the node's links. No interconnect (one chip,
    P = 1): 0."""
    ic = arch.interconnect
    if ic is None:
        return 0.0
    intra = ic.send_seconds(nbytes)
    if ic.scale_out is None or ic.node_chips is None or pp < 2:
        return intra
    share = crossing_share(arch, tp, pp)
    return share * ic.scale_out.send_seconds(nbytes) + (1 - share) * intra


def crossing_share(arch: Arch, tp: int, pp: int) -> float:
    """The share of the P − 1 stage boundaries whose two stages' first chips are in different nodes (stage k's
    chips start at k · tp · dp, Megatron's rank order), whose sends go over the scale-out network
    (:func:`p2p_seconds`); 0 on one node or without a scale-out network."""
    ic = arch.interconnect
    if ic is None or ic.scale_out is None or ic.node_chips is None or pp < 2:
        return 0.0
    stride = tp * max(arch.chips // (tp * pp), 1)
    crossing = sum(k * stride // ic.node_chips != (k + 1) * stride // ic.node_chips for k in range(pp - 1))
    return crossing / (pp - 1)


def stages_apart(arch: Arch, tp: int, pp: int) -> bool:
    """Whether the first and the last stage's first chips are in different nodes (the embedding group's two
    ranks: :func:`embedding_sync`)."""
    ic = arch.interconnect
    if ic is None or pp < 2:
        return False
    stride = tp * max(arch.chips // (tp * pp), 1)
    return ic.scale_out is not None and ic.node_chips is not None and (pp - 1) * stride // ic.node_chips != 0


def embedding_sync(arch: Arch, nbytes: int, tp: int, pp: int, dtype: str | None = None) -> collective.Choice:
    """The all-reduce of the word embeddings' gradient (``nbytes`` of ``dtype`` on one chip) between the first and
    the last stage (Megatron's embedding group, ``torch.distributed.all_reduce`` on NCCL): two ranks
    (P − 1) · T · D chips apart in Megatron's rank order, priced as every other all-reduce is
    (:func:`accelsim.cost.collective.call`: NCCL's tuner inside a node, a ring or tree across nodes when the two
    stages' first chips are in different nodes), as the data-parallel gradient all-reduce of a pair is (probe p157
    #2: it was one point-to-point send, 1.136 ms where the same pair's all-reduce is 1.722 ms). No interconnect or
    P < 2: nothing."""
    if arch.interconnect is None or pp < 2 or nbytes <= 0:
        return collective.Choice(0.0, "none", "", 0.0)
    stride = tp * max(arch.chips // (tp * pp), 1)
    # a pair spread evenly over 2·(P − 1)·stride consecutive chips: chip 0 and chip (P − 1)·stride
    return collective.call(arch, "all_reduce", nbytes, 2, 2 * (pp - 1) * stride, dtype=dtype)


def _with_last_micro_batch(p: Pass, last: WorkloadSpec, arch: Arch, options: Options,
                           name: str | None) -> tuple[Pass, Pass]:
    """A stage's pass ``p`` (its graph accumulating micro-batches: the gradient reductions after the backward pass,
    so its time to the end of the backward is one micro-batch's, free of them) with the tail of the iteration's
    last micro-batch: that micro-batch reduces the gradients as its backward pass makes them (DDP's under
    ``no_sync`` for the others, Megatron-core's ``overlap_grad_reduce``), so the stage ends when ``last`` (the stage
    run as one micro-batch) ends. ``cycles`` becomes that run's, so ``optimizer_tail`` is what the last micro-batch
    adds to a clean one, and each micro-batch more adds one clean micro-batch. Returns it and the run of ``last``
    (counted in the report's ``simulation``)."""
    one, _ = simulate_pass(build_graph(last, arch.dtype), arch, options, name=name, workload=last)
    cycles = max(one.timing.cycles, p.timing.compute_end)
    seconds = p.timing.seconds * cycles / p.timing.cycles
    # the pass's time is the one-micro-batch run's, and so are its launches and active time on it
    # its gradients are ready when the last micro-batch's backward ends (slowed by the reductions beside it); the
    # reductions' share of the tail is all it adds to a clean micro-batch but the steps after the last reduction
    ready = one.timing.grads_ready
    timing = replace(p.timing, cycles=cycles, seconds=seconds, launch_s=min(one.timing.launch_s, seconds),
                     active_s=min(one.timing.active_s, seconds), last_backward_end=ready,
                     tail_reduce=ready - p.timing.compute_end + one.timing.reduce_in_tail)
    return replace(p, timing=timing), one.without_tasks()


def schedule_cycles(per_micro: Sequence[float], micro_batches: int, interleave: int) -> float:
    """Cycles of m micro-batches through stages taking ``per_micro`` cycles each (see the module docstring), never
    less than one micro-batch's own path forward and backward through every stage, Σ_k t_k (the interleaved
    (P − 1)/v bubble holds for m ≥ P, which the workload's check of ``micro_batches`` ensures)."""
    slowest = max(per_micro)
    return max((micro_batches - 1) * slowest + sum(per_micro) / interleave + (1 - 1 / interleave) * slowest,
               sum(per_micro))


def pipeline(workload: WorkloadSpec, arch: Arch, options: Options | None = None, *, name: str | None = None,
             progress: Progress | None = None) -> Report:
    """A pipeline-parallel iteration: every distinct stage (first, one middle, last) simulated for one
    micro-batch on one chip, composed by the 1F1B schedule (see the module docstring)."""
    options = options or Options()
    params = dict(workload.params)
    pp = int(params.get("pipeline_parallel", 1))
    tp = int(params.get("tensor_parallel", 1))
    cp = int(params.get("context_parallel", 1))
    if arch.chips < tp * cp * pp:
        across = f"tensor_parallel × context_parallel × pipeline_parallel = {tp} × {cp} × {pp}" if cp > 1 else \
            f"tensor_parallel × pipeline_parallel = {tp} × {pp}"
        key, _ = workload.latest(["pipeline_parallel", "tensor_parallel", "context_parallel"][:3 if cp > 1 else 2])
        raise WorkloadError(f"{workload.model}: {across} = {tp * cp * pp} chips, but arch {arch.name!r} has "
                            f"arch.chips={arch.chips} (set arch.chips ≥ {tp * cp * pp}, or fewer parallel chips)",
                            (key,), arch_key=("chips",))
    accumulate = params.get("mode") == "training" and int(params.get("micro_batches", 1)) > 1
    distinct = sorted({0, min(1, pp - 1), pp - 1})
    per_stage = int(params["layers"]) // pp
    samples = [1, 2] if options.layer_samples and per_stage > 2 else [per_stage]
    simulated: dict[int, Sampled] = {}
    extra: list[Pass] = []  # the stages' one-micro-batch runs for the last micro-batch's tail
    segments, offset, graph = [], 0, None
    done = 0
    kept = Kept(options, keep_less(options))
    total = len(distinct) * len(samples)

    def simulate(k: int, n: int) -> Pass:
        """Stage ``k`` with ``n`` layers for one micro-batch (with the last micro-batch's tail)."""
        nonlocal graph, offset, done
        if progress:
            progress(f"pipeline stage {k}" + (f" ({n} of {per_stage} layers)" if n != per_stage else ""), done, total)
        # a stage of n layers: the same stage of a model with n layers per stage
        stage = {**params, "pipeline_stage": k, "layers": n * pp, "pipeline_interleave": 1}
        graph = build_graph(replace(workload, params=stage), arch.dtype)
        if n != per_stage:  # a layer sample: its notes' counts speak for the stage's layers
            graph.meta["sample_layer_scale"] = per_stage / n
        try:
            p, rep = simulate_pass(graph, arch, options, name=name, workload=workload)
        except NoFit as e:  # (a training step's placement) already too big with n of the stage's layers
            e.where = (f"pipeline stage {k}" if pp > 1 else "a chip") + (
                f" (only {n} of its {per_stage} layers)" if n != per_stage else "")
            e.stage = k
            raise explain(e, workload, arch, options, data_parallel(graph, arch),
                          stage_stash(workload, arch, stage) if e.training else None) from None
        if n != per_stage and p.host_units:  # a layer sample launched by a host: the device's own phase ends, for
            # sampling.launches_affine
            p = replace(p, device_ends=device_phase_ends(*rep.segments[0][:2], p.phase_of_op))
        traced = p.timing.cycles  # the traced pass's own length (the last micro-batch's tail changes p's below)
        if p.timing.compute_end < p.timing.cycles:  # an optimizer tail: the active time before it, per micro-batch
            before = active_cycles_before(*rep.segments[0][:2], p.timing.compute_end)
            p = replace(p, timing=replace(p.timing, compute_active_s=p.timing.seconds * before / p.timing.cycles))
        this = [p]
        if accumulate and graph.info.overlap_grad_reduce and data_parallel(graph, arch) > 1:
            p, one = _with_last_micro_batch(p, replace(workload, params={**stage, "micro_batches": 1}), arch,
                                            options, name)
            extra.append(one)
            this = [p, one]
        p.busy  # noqa: B018 (computed from the task graph before it is dropped)
        kept.keep(this, what=f"stage {k}" + (f" of {n} layers" if n != per_stage else ""), traced=1)
        if options.trace:  # task graphs and traces are kept only for a Chrome trace
            segments.append((*rep.segments[0][:2], offset,
                             f"stage {k}" + (f" ({n} of {per_stage} layers)" if n != per_stage else "")))
        del rep
        offset += traced  # the next pass traced after this one, back to back
        done += 1
        return p.without_tasks()

    for k in distinct:
        runs = [simulate(k, n) for n in samples]
        if len(runs) == 2 and not launches_affine(*runs):  # eager launches the samples cannot stand for
            total += 1
            extra.extend(runs)  # simulated all the same (the report's simulation counts)
            runs = [simulate(k, per_stage)]
        simulated[k] = Sampled.exact(runs[0]) if len(runs) == 1 else _named(
            Sampled.extrapolated(runs[0], runs[1], per_stage), arch, per_stage)
        if len(runs) == 2 and graph is not None:  # its notes that count the sample's op rows or MoE layers, said
            # of the stage's layers (graph: the 2-layer sample's, simulated last; probe p189)
            runs[1].report["notes"] = sampled_notes(runs[1].report.get("notes", []), arch, graph,
                                                    (runs[0].rows, runs[1].rows), per_stage,
                                                    simulated[k].timing.moe.get("moe_layers"))
    assert graph is not None
    training = params.get("mode") == "training"
    v = int(params.get("pipeline_interleave", 1))
    send = int(params.get("batch", 1)) * int(params["seq_len"]) * int(params["hidden"]) * dtype_bytes(
        graph.meta.get("dtype") or arch.dtype) / (tp * cp)  # each chip sends its shard of the hidden states
    p2p_s = p2p_seconds(arch, send, tp, pp)
    table = next((w for op in graph.ops for w in op.weights if w.name.endswith("word_embeddings.weight")), None)
    # the gradient all-reduced is the fp32 main_grad of a bf16 model (units.GRAD_DTYPE: Megatron's
    # _allreduce_word_embedding_grads reduces weight.main_grad; probe p119 #2: it was the model's dtype)
    sync_bytes = int(math.prod(table.shape) * dtype_bytes(grad_dtype(graph.meta.get("dtype") or arch.dtype))) \
        if training and pp > 1 and table is not None else 0
    sync = embedding_sync(arch, sync_bytes, tp, pp, grad_dtype(graph.meta.get("dtype") or arch.dtype))
    sync_s = sync.seconds
    p2p_count = (2 if training else 1) * (pp * v - 1)
    m = int(params.get("micro_batches", 1))
    synced = 2 * sync.sent  # what the embedding all-reduce's two ranks put on their links together
    try:
        data = combine(simulated, pp, micro_batches=m, interleave=v,
                       p2p_cycles=p2p_s * arch.clock_hz, p2p_count=p2p_count,
                       name=name or f"{workload.model}_{arch.name}", sync_cycles=sync_s * arch.clock_hz,
                       extra_runs=extra, p2p_bytes=send, training=training, sync_bytes=synced,
                       transfer_s=transfer_busy(arch, tp, pp, send, p2p_count * m, sync_s))
    except NoFit as e:  # at the key the user set last, with the remedies that fit (their stash rebuilt)
        stage = {**params, "pipeline_stage": e.stage, "layers": per_stage * pp, "pipeline_interleave": 1}
        raise explain(e, workload, arch, options, data_parallel(graph, arch),
                      stage_stash(workload, arch, stage) if training else None) from None
    if training:  # the step's replicas over the iteration's seconds (the shown pass's record is one micro-batch's)
        dp = replica_record(data_parallel(graph, arch) // cp, tp * cp * pp, int(params.get("batch", 1)), m,
                            float(data["seconds"]))
        data.update(dp)
        data["notes"] = [n for n in data.get("notes", []) if not n.startswith("data parallel:")] + data_parallel_notes(
            dp, data.get("phases", {}), float(data["clock_hz"]), arch.chips, micro_batches=m, stages=pp,
            step_reduce_s=data["pipeline"]["grad_reduce_s"] if data.get("phases_scope") != STEP_SCOPE else None)
    modes = [("", str(data["execution"]), float(data["launch_bound_fraction"]))]
    # the launch host's busy share of the step (its stages' average): a host-bound step gets the launch note at any
    # launch share (summary.launch_notes; probe p77 #3)
    host_busy = max((float(data["utilization"].get(u, 0.0)) for s in simulated.values() for u in s.shown.host_units),
                    default=0.0)
    # the rows count every stage's executions (the P chips'), so their attention is a share of P x the iteration
    data["notes"] = reattention_notes(
        relaunch_notes(data.get("notes", []), arch, float(data["launch_bound_fraction"]), modes, host_busy),
        data["ops"],
        {"": frozenset().union(*(s.shown.attention for s in simulated.values()))},
        pp * float(data["total_cycles"]), modes)
    data["notes"] = recustom_notes(data["notes"], arch, data["ops"], pp * float(data["total_cycles"]),
                                   training=training, chips=pp)
    # the step's computed FLOPs and their rate a chip (the rows are the P stage chips'), not the one-micro-batch
    # (layer-sample) stage pass's (probe p134 #3: the gpt 1.3B step quoted its 2-layer pass's 10.6 T FLOPs, 95.9 %,
    # 552.7 TFLOP/s)
    data["notes"] = recomputed_work_notes(data["notes"], data, pp)
    data["options"] = {**recorded(options), "layer_samples": options.layer_samples}  # as the run took it, default
    # or not (pipeline.layer_samples says whether a stage was sampled)
    # energy of the composed run (the passes' own were copied), with the sends no op row holds (probe p119 #1): every
    # send between stages (p2p_bytes_total; the share of boundaries between nodes over the scale-out network, as
    # p2p_seconds times them) and the embedding all-reduce's, the bytes each of its two ranks puts on its link as
    # the call prices it (a ring of two: the gradient once)
    # (bytes.link holds the same bytes: combine's sync_bytes)
    sends = float(data["pipeline"].get("p2p_bytes_total", 0))
    data.update(account(data, arch, transfers=[(sends, sends * crossing_share(arch, tp, pp)),
                                               (synced, synced if stages_apart(arch, tp, pp) else 0)]))
    if data["pipeline"]["layer_samples"] and (data.get("power") or {}).get("peak_w") is not None:
        # a sampled stage's busiest window is its 2-layer run's, as a sampled serving pass's
        data["notes"] = [*data["notes"], peak_note(data["power"]["peak_w"], 2, int(params["layers"]),
                                                   says_peak_over_tdp(data["notes"]))]
    return Report(data, segments=segments)


def transfer_busy(arch: Arch, tp: int, pp: int, nbytes: float, sends: int, sync_s: float) -> dict[str, float]:
    """Seconds the step's transfers that no op row holds keep a unit busy, summed over the pipeline's chips, by
    unit: each of the ``sends`` sends of ``nbytes`` holds its sender's ``link`` for ``interconnect.send_seconds``,
    or, at a boundary between nodes (the :func:`crossing_share` of them), its ``nic`` for the scale-out network's
    (:func:`p2p_seconds` averages the two); the embedding all-reduce (``sync_s``) holds both of its ranks' link, or
    their NIC when the two stages are in different nodes (:func:`stages_apart`). No interconnect or P < 2: none."""
    ic = arch.interconnect
    if ic is None or pp < 2:
        return {}
    share = crossing_share(arch, tp, pp)
    apart = stages_apart(arch, tp, pp)
    link = sends * (1 - share) * ic.send_seconds(nbytes) + (0.0 if apart else 2 * sync_s)
    nic = (sends * share * ic.scale_out.send_seconds(nbytes) if share and ic.scale_out is not None else 0.0) + (
        2 * sync_s if apart else 0.0)
    return {LINK: link, **({NIC: nic} if nic else {})}


def combine(simulated: dict[int, Sampled], pp: int, *, micro_batches: int, interleave: int, p2p_cycles: float,
            p2p_count: int, name: str, sync_cycles: float = 0.0, extra_runs: Sequence[Pass] = (),
            p2p_bytes: float = 0.0, training: bool = True, sync_bytes: int = 0,
            transfer_s: Mapping[str, float] | None = None) -> dict:
    """The iteration's report from the distinct simulated stages (0, 1 and P − 1; stage 1 stands for every middle
    stage); see the module docstring. A stage that does not fit a memory is a :class:`~.fit.NoFit`. ``p2p_count``
    are the sends on the critical path (the fill and drain's), ``p2p_bytes`` what one send moves, ``sync_bytes``
    what the embedding all-reduce's two ranks send together; ``bytes.link`` holds every send of the step and those
    beside the rows' (probe p272 #1: they were priced in the energy only), and ``transfer_s`` (seconds by unit,
    :func:`transfer_busy`) counts in ``utilization``. An inference pipeline (``training`` false) keeps no
    micro-batch's activations for a backward pass: each stage holds the one it runs (probe p93 #6: 1F1B's
    min(P − k, m) stashes were counted)."""
    m, v = micro_batches, interleave
    stages = [simulated[k if k in simulated else 1] for k in range(pp)]
    timing = [s.timing for s in stages]
    per_micro = [t.compute_end for t in timing]
    fill = schedule_cycles(per_micro, m, v)
    tail = max(t.optimizer_tail for t in timing)
    p2p = p2p_count * p2p_cycles
    # whole cycles, as a single pass's: every figure of the iteration (seconds, utilization, the bubble's share)
    # from the total_cycles report.json shows, so seconds = total_cycles / clock_hz holds (probe p216 #5: the
    # fractional send and sync cycles put it 0.46 cycle off)
    total = round(fill + tail + p2p + sync_cycles)
    k_slow = max(range(pp), key=lambda k: per_micro[k])
    slow = stages[k_slow]
    clock = float(slow.shown.report["clock_hz"])
    seconds = total / clock
    replicas = {k: sum(1 for j in range(pp) if (j if j in simulated else 1) == k) for k in simulated}
    repeats = {k: _repeats(s, m, replicas[k]) for k, s in simulated.items()}
    ops, totals = compose_ops([Rows(s.shown, [w.times(r) for w, r in zip(s.work, repeats[k], strict=True)],
                                    [r * c for r, c in zip(repeats[k], s.counts, strict=True)], {"stage": k})
                               for k, s in simulated.items()])
    busy = counted_busy((s.shown.units, s.busy, repeats[k]) for k, s in simulated.items())
    for unit, busy_s in (transfer_s or {}).items():  # the sends and the embedding all-reduce: no op row's
        busy[unit] = busy.get(unit, 0.0) + busy_s * clock
    chip_cycles = pp * total
    # the step's sends (each micro-batch crosses every boundary: m × p2p_count, probe p77 #2) and the embedding
    # all-reduce's bytes, which no op row holds, on the link as the rows' collectives' are (bytes each chip sends,
    # summed over the pipeline's chips; probe p272 #1: bytes.link was 0 on a pipeline of one tensor-parallel rank)
    sent = round(p2p_count * m * p2p_bytes)
    moved = dict(totals.bytes)
    if sent or sync_bytes:
        moved[LINK] = moved.get(LINK, 0) + sent + sync_bytes
    runs = [r for s in simulated.values() for r in s.runs] + list(extra_runs)
    # one pass's; its bandwidth_share is one micro-batch's over that pass's time, not the step's (probe p73 #1: the
    # console printed 20.7 % of HBM where the step's bytes and seconds give 9.7 % a chip): made again below
    out = {k: val for k, val in slow.shown.report.items() if k not in ("ops", "kernel_dispatch_s", "bandwidth_share")}
    # (the slowest stage's peak, but where lanes ran MACs in another stage: summary.peak_report)
    peaked = peak_report([slow.shown.report, *(s.shown.report for s in simulated.values())])
    out.update({
        "name": name,
        "total_cycles": total,
        "seconds": seconds,
        "launch_overhead_s": slow.timing.launch_s / slow.timing.seconds * seconds if slow.timing.seconds else 0.0,
        "launch_bound_fraction": slow.timing.launch_s / slow.timing.seconds if slow.timing.seconds else 0.0,
        "active_fraction": active_fraction(timing, m, seconds, p2p_count * p2p_cycles / clock,
                                           sync_cycles / clock),
        **dict(zip(("macs", "flops"), model_counts(ops), strict=True)),
        **computed_work(totals.macs, totals.flops, ops),
        "params": slow.timing.model_params,
        **({"moe": {**out["moe"], **slow.timing.moe}} if "moe" in out else {}),  # the whole model's, as params
        # where build_report gives one chip's share (tensor or pipeline parallelism): the largest stage's
        **({"params_per_chip": max(t.params for t in timing)} if "params_per_chip" in out else {}),
        "utilization": {u: min(1.0, b / chip_cycles) if total else 0.0 for u, b in busy.items()},
        "arch": peaked["arch"],
        "roofline": peaked["roofline"],
        "mac_utilization": base_rate_macs(ops) / (peaked["arch"]["peak_macs_per_cycle"] * chip_cycles)
        if total else 0.0,
        **(model_utilization(model_work(ops), peaked["roofline"]["peak_flops_per_s"], pp * seconds)
           if "mfu" in out else {}),
        "stall_cycles": totals.stall_cycles,
        "stalls_by_level": totals.stalls_by_level,
        "bytes": moved,
        # the step's bytes over its P stage chips' bandwidth and time, a chip's average as utilization is (probe
        # p81 #5: a one-stage gpt, every gpt run on one chip, had none)
        "bandwidth_share": composed_bandwidth_share(out.get("levels", []), moved, seconds, pp),
        "placement": dict(slow.timing.placement),
        **({"phases": dict(slow.timing.phases)} if slow.timing.phases else {}),
        "simulation": {"tasks": sum(r.tasks for r in runs), "events": sum(r.events for r in runs),
                       "passes": len(runs)},
        "ops": ops,
    })
    flights = [in_flight(k, pp, m, v) if training else 1 for k in range(pp)]
    memories = [_stage_memory(t, f) for t, f in zip(timing, flights, strict=True)]
    rows = _stage_rows(timing, memories, flights, clock)
    k_full = _fullest(memories, rows, name, [t.stash_level for t in timing])
    out["memory"] = memories[k_full]
    # the memory notes of that stage's footprint (the shown pass's are its own: one micro-batch, layer samples)
    shown = slow.shown.timing
    own = spill_notes(shown.memory, shown.held, shown.offload)
    out["notes"] = spill_notes(memories[k_full], timing[k_full].held, timing[k_full].offload) + [
        n for n in out.get("notes", []) if n not in own]
    ideal = m * max(per_micro)
    k_tail = max(range(pp), key=lambda k: timing[k].optimizer_tail)
    reduce = timing[k_tail].reduce_in_tail
    if slow.timing.phases:  # a training iteration: where it leaves one micro-batch's phases
        out["phases_scope"] = STEP_SCOPE if pp == 1 and m == 1 else (
            f"one micro-batch of stage {k_slow}" + (f" of {pp}" if pp > 1 else "") + " and the optimizer tail once, "
            "not on the step's timeline (pipeline.forward_end_s and backward_end_s are the step's)")
    out["pipeline"] = {
        "stages": pp, "micro_batches": m, "interleave": v, "bottleneck_stage": k_slow,
        "iteration_s": seconds, "bubble_s": (fill - ideal) / clock,
        # the bubble's share of the whole iteration (the optimizer tail, sends and embedding sync included), and
        # Narayanan et al. 2021's bubble fraction t_pb / t_id (Eq. 1: (P − 1)/m, interleaved (P − 1)/(m·v)): the
        # bubble over the ideal time, m micro-batches of the slowest stage (probe p185 #3)
        "bubble_fraction": (fill - ideal) / total if total else 0.0,
        "bubble_ratio": (fill - ideal) / ideal if ideal else 0.0,
        "optimizer_s": tail / clock, "grad_reduce_s": reduce / clock, "optimizer_step_s": (tail - reduce) / clock,
        "p2p_s": p2p / clock, "p2p_transfers": p2p_count,
        # every send of the step: each micro-batch crosses every one of the P·v − 1 chunk boundaries (forward, and
        # back in training), as the fill and drain's one micro-batch does: m × p2p_count (probe p77 #2)
        "p2p_sends_total": p2p_count * m, "p2p_bytes_total": sent,
        "embedding_sync_s": sync_cycles / clock,
        # what its two ranks send together, in bytes.link with the sends (probe p272 #1)
        "embedding_sync_bytes": sync_bytes,
        **(step_ends(timing, fill, p2p_count * p2p_cycles, v, clock) if slow.timing.phases else {}),
        "stage_times": rows,
        "layer_samples": [1, 2] if any(s.sampled for s in simulated.values()) else None,
    }
    return out


def step_ends(timing: Sequence[Timing], fill: float, p2p: float, interleave: int, clock: float) -> dict[str, float]:
    """When a training iteration's last forward ends and its gradients are ready (report.json's
    ``pipeline.forward_end_s``, ``backward_end_s``), on the iteration's timeline as the schedule composes it
    (:func:`schedule_cycles`'s ``fill`` of the stages' per-micro-batch ``timing`` and the ``p2p`` cycles of all the
    fill and drain's sends): the last micro-batch's backward ends on the first stage when the fill and the sends end,
    its own backward (:attr:`Timing.grads_ready`, with the reductions it overlaps) instead of a clean one's; its
    forward ended on the last stage (the last chunk, interleaved) before its backward drained back through every
    stage, Σ_k (t_k − f_k) of a clean micro-batch, and half the sends (P·v − 1 gradient sends). One stage: (m − 1)·t
    + f and (m − 1)·t + the last micro-batch's backward end."""
    ready = fill + p2p + max(t.grads_ready - t.compute_end for t in timing)
    drain = sum(t.compute_end - t.forward_end for t in timing)
    last_forward = fill + p2p / 2 - drain
    return {"forward_end_s": last_forward / clock, "backward_end_s": ready / clock}


def active_fraction(timing: Sequence[Timing], micro_batches: int, seconds: float, p2p_s: float = 0.0,
                    sync_s: float = 0.0) -> float:
    """The P chips' mean share of the iteration's ``seconds`` in which a chip does some op's work: stage k's chip
    works its one-micro-batch active time (``Timing.micro_active_s``) once per micro-batch and its optimizer tail's
    once, and is idle the rest of the iteration (the fill, drain and steady-state waits for a slower stage: the
    bubbles); each of the fill and drain's ``p2p_s`` of sends keeps one chip, its sender, working (a single pass
    counts its collectives' link tasks as work), the embedding all-reduce's ``sync_s`` both of its two stages."""
    pp = len(timing)
    if not seconds:
        return 0.0
    work = sum(micro_batches * t.micro_active_s + t.tail_active_s for t in timing)
    work += p2p_s + (2 * sync_s if pp > 1 else 0.0)
    return min(work / (pp * seconds), 1.0)


def _fullest(memories: Sequence[Mapping[str, Mapping[str, float]]], rows: Sequence[dict], name: str,
             stash_levels: Sequence[str] = ()) -> int:
    """The stage whose footprint is report.json's ``memory``: the fullest in the main memory, its activations
    those of the micro-batches 1F1B keeps in flight there (:func:`_stage_memory`). A stage that does not fit a
    memory (the main one, or the one ``options.offload: activations`` keeps the stashes in) is a
    :class:`~.fit.NoFit` naming the fullest such stage and memory: the layer samples' placement fitted, so nothing
    of the stage was spilled to an outer memory, and a run that does not fit has no time."""
    k = max(range(len(rows)), key=lambda i: (rows[i]["hbm_fraction"], -i))
    over = [(row["used"] / usable_bytes(row), -j, -i, j, lv) for j, memory in enumerate(memories)
            for i, (lv, row) in enumerate(memory.items()) if usable_bytes(row) and row["used"] > usable_bytes(row)]
    if not over:
        return k
    *_, j, lv = max(over)
    row, main = memories[j][lv], next(iter(memories[j]))
    raise NoFit(name, f"pipeline stage {j}" if len(rows) > 1 else "a chip", lv, row, main=lv == main,
                training="gradients" in memories[j][main], flight=rows[j]["activations_in_flight"],
                stash_level=stash_levels[j] if stash_levels else main, stage=j)


def _stage_memory(t: Timing, flight: float) -> dict[str, dict]:
    """A stage's footprint per memory with the ``flight`` micro-batches of activations 1F1B keeps on it
    (:func:`in_flight`): one micro-batch's footprint (its stash and the largest op's working set) and the stashes of
    the others, in the memory that keeps the stash (``Timing.stash_level``: the main one, or the next one out with
    ``options.offload: activations``); each stage's working set is only the running micro-batch's."""
    memory = {lv: dict(row) for lv, row in t.memory.items()}
    row = memory.get(t.stash_level) or next(iter(memory.values()), None)
    extra = round((flight - 1) * t.stash_bytes)
    if row is not None and extra:
        row["activations"] = row.get("activations", 0) + extra
        row["used"] = row.get("used", 0) + extra
        row["fraction"] = row["used"] / usable_bytes(row) if usable_bytes(row) else 0.0
    return memory


def in_flight(stage: int, stages: int, micro_batches: int, interleave: int = 1) -> float:
    """Micro-batches of activations 1F1B keeps in flight on ``stage`` at most: min(P − k, m) (Narayanan et al.
    2021); interleaved (v > 1 chunks a stage), Megatron-LM's warm-up of 2(P − k − 1) + (v − 1)·P chunks and the one
    in flight, at most m·v, each holding 1/v of the stage's activations: P + (P − 1)/v on the first stage
    (Korthikanti et al. 2022, Sec. 4.2.3: the first stage's activations × (1 + (P − 1)/(P·v)))."""
    if interleave <= 1:
        return min(stages - stage, micro_batches)
    chunks = min(2 * (stages - stage - 1) + (interleave - 1) * stages + 1, micro_batches * interleave)
    return chunks / interleave


def _stage_rows(timing: Sequence[Timing], memories: Sequence[Mapping[str, Mapping[str, float]]],
                flights: Sequence[float], clock: float) -> list[dict]:
    """Per stage: its times and its main-memory footprint with the ``flights`` micro-batches of activations it
    holds at once (1F1B's in training, :func:`in_flight`; one in inference), ``memories``: :func:`_stage_memory`."""
    rows = []
    for k, (t, memory, flight) in enumerate(zip(timing, memories, flights, strict=True)):
        main = next(iter(memory.values()), {})
        used = main.get("used", 0)
        in_flight_shown = flight if isinstance(flight, float) else int(flight)  # interleaved: chunks / v
        rows.append({"stage": k, "micro_batch_s": t.compute_end / clock, "optimizer_s": t.optimizer_tail / clock,
                     "activations_in_flight": in_flight_shown, "hbm_used_bytes": used,
                     "hbm_fraction": used / usable_bytes(main) if usable_bytes(main) else 0.0})
    return rows


def _named(stage: Sampled, arch: Arch, layers: int) -> Sampled:
    """A layer-sampled stage whose samples hold every tensor in the first memory, with report.json's placement
    of its ``layers`` layers as the run of every layer gives it (:func:`~.sampling.layer_placement`: named up to 64
    tensors, else counted), not the 2-layer sample's names."""
    one, two = stage.runs
    first = arch.memories[0] if arch.memories else None
    if first is None or any(v != first for r in stage.runs for v in r.timing.placement.values()):
        return stage
    return replace(stage, timing=replace(stage.timing, placement=layer_placement(one, two, layers, first)))
