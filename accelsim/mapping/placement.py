"""Placement: which memory level holds each persistent tensor (parameters, KV caches, optimizer state, tables).

Every tensor is a list of *chunks* with an access density (bytes read per pass per byte held). The arch's memories
(``Arch.memories``: HBM, then any CXL or host memory, SSD, ... in order) are filled innermost first, each with the
densest chunks that still fit, after what must stay in a level (in the main memory the largest op's activations,
the training stash and the gradients, unless offloaded); the last memory takes the rest. More than the memories
hold together is a :class:`~accelsim.errors.CapacityError` (a MappingError) giving the bytes needed, available and
the level that overflows; in a training step whose main memory alone is too small it carries that memory's footprint
(the scenario's training refusal, ``scenarios/fit.py``).

* Dense tensors (weights, KV caches, optimizer state) are read whole every pass: one chunk of density 1. In graph
  order, so early layers win ties; KV caches come after the weights. Weights the model holds but this pass does not
  read (an ``unused_params`` view's: the experts no token is routed to, an image encoder a text pass skips) are
  one chunk of density 0: they take room after everything read, and spill first.
* Embedding tables read by a gather of g rows out of R (``Op.gather_rows``) are split by rows. Under
  ``access: uniform`` every row has access probability 1/R: one chunk of density g/R, cut where it straddles a
  level's end. Under ``access: zipf`` with exponent α, row r (hottest first) has probability r^−α / H(R, α) (H the
  generalised harmonic number: the first 64 terms summed, the rest by Euler–Maclaurin to the first-derivative term,
  relative error below 1e-8), so its density is g · r^−α / H(R, α): a level takes every Zipf table's rows whose
  density is at least a threshold d, the first n_t(d) = ⌊(g_t / (d · H(R_t, α_t)))^(1/α_t)⌋ rows of table t (the
  marginal rule: no row left out is hotter than a row taken). Before each other chunk the threshold falls to that
  chunk's density; where the rows down to it do not all fit, a bisection on log d (a fixed 64 steps) finds the
  lowest threshold whose rows fit, and the level is full. Each table so splits at one row count per level, its
  rows s .. s + n − 1 there serving (H(s + n − 1, α) − H(s − 1, α)) / H(R, α) of its look-ups (probe p172 #3:
  geometric row ranges [1], [2, 3], [4, 7], ... placed whole left rows 16.8M .. 26M of one 40M-row DLRM table on
  the host, up to 2.07x hotter than rows 26M .. 33.5M of two others kept in HBM).
* The state of a lazy optimizer step on a sparse table (``sparse_rows``, builders/training.py) is split as a table
  gathered ``sparse_rows`` rows per pass with the table's access pattern: the step reads and writes those rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import CapacityError
from ..hardware import Arch, usable_bytes
from ..ir import Graph, OpKind, harmonic, zipf_share
from ..options import OFFLOAD_OPTIMIZER
from ..tasks import TableSplit
from ..units import dtype_bytes

ZIPF_STEPS = 64
"""Bisection steps on the log of a level's Zipf density threshold where the rows down to the one sought overflow
the level: they narrow a span of at most a few hundred (in log) to below the spacing of adjacent doubles, so each
table ends within a row or so of its exact count, at a cost of 64 powers per Zipf table."""


def _zipf_rows(tables: dict[str, tuple[int, float, float]], log_d: float) -> dict[str, int]:
    """Each Zipf table's rows of density at least e^log_d (−inf: every row): ⌊(g / (d · H(R, α)))^(1/α)⌋, at most
    R; ``tables`` maps name → (rows R, log(g / H(R, α)), α). In logs, so no α over- or underflows a power."""
    out = {}
    for n, (rows, log_k, alpha) in tables.items():
        x = (log_k - log_d) / alpha  # the log of the last row's rank
        out[n] = rows if x >= math.log(rows) else min(rows, math.floor(math.exp(x)))
    return out


@dataclass(frozen=True, slots=True)
class Placement:
    """The level of every persistent tensor (the memory holding most of its bytes, the innermost on a tie) and
    the split of each gathered table."""

    level: dict[str, str]
    tables: dict[str, TableSplit]
    peak_activation_bytes: int = 0
    host_copy_bytes: int = 0  # the parameters' copy the host's CPU updates in its memory (:func:`host_param_copy`)


def place(graph: Graph, arch: Arch, sizes: dict[str, int], gathers: dict[str, tuple[int, int, str, float]],
          *, reserved: dict[str, int], skip_first: frozenset[str] = frozenset(), unread: frozenset[str] = frozenset(),
          what: str = "weights and KV cache", peak_activation_bytes: int = 0, reservation: str = "",
          hint: str = "") -> Placement:
    """Place ``sizes`` (tensor → bytes, in priority order) over the arch's memories, innermost first, given the
    gathered tables (name → (rows, gathers per pass, access, zipf alpha)); ``reserved`` bytes must stay free at
    each level, ``skip_first`` tensors start at the second memory (offload) and ``unread`` ones (held, not read
    this pass) come last; ``reservation`` says what the main memory's reservation holds (for the error when it alone
    overflows) and ``hint`` how to shrink it."""
    levels = arch.memories
    caps = {lv: arch.memory(lv).usable for lv in levels}  # what a program can allocate (hbm.usable_fraction)
    total = sum(sizes.values())
    need = total + sum(reserved.values())
    over = [lv for lv in levels if reserved.get(lv, 0) > caps[lv]]
    if need > sum(caps.values()) or over:
        _too_big(graph, arch, what, total, need, reserved, caps, over, reservation, hint)
    tensor, chunk_bytes, chunk_rows, share, density, zipf = _columns(sizes, gathers, unread)
    # densest first, ties in the order of ``sizes`` (the sort is stable)
    order = sorted(range(len(tensor)), key=density.__getitem__, reverse=True)
    held: dict[str, dict[str, int]] = {lv: {} for lv in levels}  # level → tensor → bytes
    rows_at: dict[str, dict[str, int]] = {n: {} for n in gathers}
    hits_at: dict[str, dict[str, float]] = {n: {} for n in gathers}
    done = dict.fromkeys(zipf, 0)  # a Zipf table's hottest rows placed so far (in this level and the inner ones)
    for i, lv in enumerate(levels[:-1]):
        room = caps[lv] - reserved.get(lv, 0)
        here = held[lv]
        skip = skip_first if i == 0 else frozenset()
        # the Zipf tables with rows left, filled down to ``floor`` (inf: none yet); ``full``: the level has no room
        # for their next rows
        active = {n: t for n, t in zipf.items() if n not in skip and done[n] < t[0]}
        floor, full = math.inf, not active  # (a log density)
        for c in order:
            nbytes = chunk_bytes[c]
            name = tensor[c]
            if nbytes == 0 or name in skip:
                continue
            if not full:  # the Zipf rows at least as dense as this chunk go first
                d = math.log(density[c]) if density[c] > 0.0 else -math.inf
                if d < floor:
                    floor = d
                    room, full = _fill_zipf(active, sizes, done, floor, room, lv, here, rows_at)
            if nbytes > room:
                if name in gathers and room > 0:  # a uniform table: as many of its rows as still fit
                    n_rows, mass = chunk_rows[c], share[c]
                    part = n_rows * room // nbytes
                    placed = nbytes * part // n_rows
                    took = mass * part / n_rows
                    rows_at[name][lv] = rows_at[name].get(lv, 0) + part
                    hits_at[name][lv] = hits_at[name].get(lv, 0.0) + took
                    here[name] = here.get(name, 0) + placed
                    room -= placed
                    chunk_rows[c], chunk_bytes[c], share[c] = n_rows - part, nbytes - placed, mass - took
                continue
            room -= nbytes
            here[name] = here.get(name, 0) + nbytes
            if name in gathers:
                rows_at[name][lv] = rows_at[name].get(lv, 0) + chunk_rows[c]
                hits_at[name][lv] = hits_at[name].get(lv, 0.0) + share[c]
            chunk_bytes[c] = 0  # placed
        if not full:  # the Zipf rows less dense than every chunk
            room, full = _fill_zipf(active, sizes, done, -math.inf, room, lv, here, rows_at)
    last = levels[-1]
    rest = dict(sizes)
    for lv in levels[:-1]:
        for n, b in held[lv].items():
            rest[n] -= b
    held[last] = rest
    if sum(rest.values()) + reserved.get(last, 0) > caps[last]:
        _too_big(graph, arch, what, total, need, reserved, caps, [last], reservation)
    # each tensor's level: the one holding most of its bytes, the innermost on a tie
    level = dict.fromkeys(sizes, levels[0])
    most = dict(held[levels[0]])
    for lv in levels[1:]:
        for n, b in held[lv].items():
            if b > most.get(n, 0):
                level[n] = lv
                most[n] = b
    splits = _splits(gathers, zipf, rows_at, hits_at, last)
    return Placement(level, splits, peak_activation_bytes)


def _columns(sizes: dict[str, int], gathers: dict[str, tuple[int, int, str, float]], unread: frozenset[str]
             ) -> tuple[list[str], list[int], list[int], list[float], list[float], dict[str, tuple[int, float, float]]]:
    """The chunks :func:`place` sorts, as columns (tensor, bytes, rows, share of the look-ups, density), and the
    Zipf tables it fills by a density threshold instead (name → (rows R, log(g / H(R, α)), α))."""
    # the chunks as columns (a list per chunk would be as many objects for the garbage collector to track): density,
    # tensor, rows, bytes and share of the tensor's look-ups; a dense tensor is one chunk of density 1, a uniform
    # table one of density g/R. Zipf tables are no chunks: each level takes their rows down to a density threshold
    zipf: dict[str, tuple[int, float, float]] = {}  # name → (rows R, log(g / H(R, α)), α)
    if not gathers:
        tensor: list[str] = list(sizes)
        chunk_bytes: list[int] = list(sizes.values())
        chunk_rows: list[int] = [0] * len(tensor)
        share: list[float] = [1.0] * len(tensor)
        density: list[float] = [0.0 if name in unread else 1.0 for name in tensor]
    else:
        density, tensor, chunk_rows, chunk_bytes, share = [], [], [], [], []
        for name, nbytes in sizes.items():
            if name in gathers:
                rows, g, access, alpha = gathers[name]
                if access == "zipf" and rows > 1 and g > 0:
                    zipf[name] = (rows, math.log(g / harmonic(rows, alpha)), alpha)
                    continue
                density.append(g / rows)
                chunk_rows.append(rows)
            else:
                density.append(0.0 if name in unread else 1.0)
                chunk_rows.append(0)
            tensor.append(name)
            chunk_bytes.append(nbytes)
            share.append(1.0)
    return tensor, chunk_bytes, chunk_rows, share, density, zipf


def _splits(gathers: dict[str, tuple[int, int, str, float]], zipf: dict[str, tuple[int, float, float]],
            rows_at: dict[str, dict[str, int]], hits_at: dict[str, dict[str, float]], last: str) -> dict[str, TableSplit]:
    """Each gathered table's :class:`TableSplit`: its rows and share of the look-ups at each inner level (a Zipf
    table's from the rows each level holds), the rest at ``last``."""
    for n, (rows, _, alpha) in zipf.items():  # a level's rows s .. s + n − 1 serve their Zipf share
        start = 1
        for lv, r in rows_at[n].items():
            hits_at[n][lv] = zipf_share(rows, alpha, start, r)
            start += r
    splits = {}
    for n, (rows, *_rest) in gathers.items():
        inner = {lv: min(r, rows) for lv, r in rows_at[n].items()}
        # a level holding every row serves every look-up: exactly 1.0
        hits = {lv: 1.0 if inner[lv] == rows else min(h, 1.0) for lv, h in hits_at[n].items()}
        splits[n] = TableSplit(rows, inner, hits, last)
    return splits


def _fill_zipf(active: dict[str, tuple[int, float, float]], sizes: dict[str, int], done: dict[str, int],
               log_d: float, room: int, lv: str, here: dict[str, int],
               rows_at: dict[str, dict[str, int]]) -> tuple[int, bool]:
    """Place at ``lv`` the ``active`` Zipf tables' rows of density at least e^log_d beyond the ``done`` ones, or,
    where they overflow ``room``, those above the lowest threshold whose rows fit (a bisection on log d); updates
    ``done``, ``here`` (bytes at the level) and ``rows_at``, and returns the room left and whether the level is full.
    A table's first n rows hold ⌊bytes · n / R⌋ bytes (as ``TableSplit.bytes_at`` counts them)."""

    def cost(want: dict[str, int]) -> int:
        return sum(sizes[n] * want[n] // t[0] - sizes[n] * done[n] // t[0] for n, t in active.items())

    want = {n: max(r, done[n]) for n, r in _zipf_rows(active, log_d).items()}
    full = cost(want) > room
    if full:
        # lo: a threshold whose rows overflow (at most the last row's density); hi: one above every table's next
        # row (no new row: they fit)
        lo = max(log_d, min(k - a * math.log(rows) for rows, k, a in active.values()) - 1.0)
        hi = max(k - a * math.log(done[n] + 1) for n, (_, k, a) in active.items()) + 1.0
        for _ in range(ZIPF_STEPS):
            mid = (lo + hi) / 2
            if cost({n: max(r, done[n]) for n, r in _zipf_rows(active, mid).items()}) <= room:
                hi = mid
            else:
                lo = mid
        want = {n: max(r, done[n]) for n, r in _zipf_rows(active, hi).items()}
    for n, (rows, _, _) in active.items():
        new = want[n] - done[n]
        if new > 0:
            nbytes = sizes[n]
            placed = nbytes * want[n] // rows - nbytes * done[n] // rows
            room -= placed
            here[n] = here.get(n, 0) + placed
            rows_at[n][lv] = rows_at[n].get(lv, 0) + new
            done[n] = want[n]
    return room, full


def _too_big(graph: Graph, arch: Arch, what: str, total: int, need: int, reserved: dict[str, int],
             caps: dict[str, int], over: list[str], parts: str = "", hint: str = "") -> None:
    """The :class:`CapacityError` of a workload the memories cannot hold, naming the level that overflows (and,
    when the activations alone overflow it, ``parts``: what they are; then, when all the memories together would
    hold the footprint, that alone, not the totals, which show no shortage: probe p283 #3); its ``arch_key`` is the capacity of that
    level, or of the main memory when all of them together are too small (the one a user enlarges first), and its
    ``arch_keys`` the capacities at fault (every level's in the second case: the scenario names the one set last).
    A pass that reaches positions beyond the model's context (its builder's note) says so too, unless the
    activations alone overflow (what a serving grid's prefill, which chooses its own lengths, reports)."""
    held = " and ".join(f"{lv} ({cap} B)" for lv, cap in caps.items())
    res = sum(reserved.values())
    key = arch.capacity_key(over[0] if over else arch.main_memory)
    keys: tuple[tuple[str, ...], ...] = (key,)
    if over and reserved.get(over[0], 0) > caps[over[0]]:
        lv = over[0]
        why = (f"; the activations{f' ({parts})' if parts else ''} alone need {reserved[lv]} B of {lv}, "
               f"{reserved[lv] - caps[lv]} B more than it holds{hint}")
    elif need > sum(caps.values()):
        why = f"; {need - sum(caps.values())} B more than all of them hold"
        key = arch.capacity_key(arch.main_memory)
        keys = tuple(arch.capacity_key(lv) for lv in caps)  # the main memory first
    else:
        why = f"; {over[0]} overflows" if over else ""
    if not why.startswith("; the activations"):  # (a serving grid's prefill that overflows says its own remedy)
        why += "".join(f"; {n[n.index(': ') + 2:n.index(CONTEXT) + len(CONTEXT)]}"
                       for n in graph.meta.get("notes", ()) if isinstance(n, str) and CONTEXT in n and ": " in n)
    elif need <= sum(caps.values()):  # the totals fit: the activations' level is the whole reason, said alone
        raise CapacityError(f"{graph.name}: {why[2:]}", key, keys)  # (probe p283 #3)
    raise CapacityError(f"{graph.name}: {what} ({total} B) and activations ({res} B) need {need} B but {held} "
                        f"{'hold' if len(caps) > 1 else 'holds'} {sum(caps.values())} B{why}", key, keys)


CONTEXT = "(max_position_embeddings)"
"""What ends the part of a builder's context note (``builders.transformer.context_notes``: "positions up to N
exceed the model's C-token context (max_position_embeddings): ...") that a capacity error quotes."""


def gathered_tables(graph: Graph) -> dict[str, tuple[int, int, str, float]]:
    """Tables read by a gather smaller than the table: name → (rows, rows moved per pass, access, zipf α); also
    the (unsharded) state tensors of a lazy optimizer step on a sparse table (attrs ``sparse_rows``). The rows
    moved weigh the placement (a chunk's density): a table's forward gather, plus, where a lazy step updates it,
    the step's ``sparse_rows`` read and written (2 · sparse_rows); each state the step's rows read and written too
    (2 · sparse_rows). A weight so counts more than its states, as it is moved more (probe p112 #4: its gather
    alone against its states' step union put a data-parallel step's states in HBM and its weights beyond)."""
    steps: dict[str, int] = {}  # a lazily updated table → the rows its step reads and writes
    for op in graph.ops:
        if op.kind is OpKind.OPTIMIZER and "sparse_rows" in op.attrs and op.weights:
            steps.setdefault(op.weights[0].name, int(op.attrs["sparse_rows"]))  # type: ignore[call-overload]
    out: dict[str, tuple[int, int, str, float]] = {}
    for op in graph.ops:
        if op.kind is OpKind.EMBEDDING and op.weights:
            w = op.weights[0]
            rows = w.shape[0]
            g = rows if op.gather_rows is None else op.gather_rows
            if g < rows and w.name not in out:
                out[w.name] = (rows, g + 2 * steps.get(w.name, 0), *op.access)
        elif op.kind is OpKind.OPTIMIZER and "sparse_rows" in op.attrs:
            rows = op.weights[0].shape[0]
            for w in op.weights[1:]:
                if w.role == "state" and w.shape == op.weights[0].shape and w.name not in out:
                    out[w.name] = (rows, 2 * int(op.attrs["sparse_rows"]), *op.access)  # type: ignore[call-overload]
    return out


def place_tensors(graph: Graph, arch: Arch, plans: tuple, options) -> Placement:
    """Pass 2: the placement of every parameter, optimizer state, KV cache and table of ``graph``, after the
    aliases pass (a folded batch norm's shift is placed with its producer's weights)."""
    sizes: dict[str, int] = {}
    states: set[str] = set()
    hosted: set[str] = set()  # tensors the host holds (a dataset's node features): never in the main memory
    for p in plans:
        if not p.works:
            continue
        for w in p.weights:
            if w.name not in sizes:
                sizes[w.name] = w.nbytes(p.op.dtype)
            if w.role == "state":
                states.add(w.name)
            elif w.role == "host":
                hosted.add(w.name)
    info = graph.info
    elem = graph.ops[0].elem_bytes if graph.ops else 1
    sizes.update(graph.kv_cache_sizes())  # in the KV-cache dtype
    held = graph.unread_weights()  # the model holds them, no op reads them this pass
    unread = [n for n in held if n not in sizes]  # in graph order (a set's would vary from run to run)
    sizes.update((n, held[n]) for n in unread)
    # the KV cache this pass appends (a prefill's whole cache, a decode step's new tokens) is written to the main
    # memory, so it is held there beside the placed tensors, room permitting; a cache that outgrows the main memory
    # with the activations is left to the report's note (a serving run's later passes place it and spill it)
    appended = max(int(info.kv_cache_bytes) - sum(graph.kv_cache_sizes().values()), 0)

    def tensor_bytes(t: str) -> int:
        return graph[t].out_bytes if t in graph else math.prod(graph.inputs[t]) * elem

    # activations: the largest op's working set, in main memory while it runs; in training also the stashed
    # activations (main memory, or the next one out with offload: activations) and the gradients. Each tensor is
    # counted once (probes p113 #2, p117 #5): the working set is an op's inputs and output that nothing else
    # reserves, i.e. not a placed tensor (``sizes``), not in the stash (``info.stashed``) and not a parameter's
    # gradient (reserved with the gradients): the output of a ``grad_weight`` / ``grad_bias`` op (attrs ``grad``
    # "weight" or "bias"), of a shared weight's gradient sum (attrs ``accumulate``) and whatever an optimizer step
    # reads, as the frameworks write a weight-gradient GEMM into (or accumulate it onto) ``param.grad`` (Megatron's
    # ``main_grad``), no second tensor. An optimizer step holds none of its own: it reads a gradient and updates its
    # parameter in place
    reserved_act = frozenset(info.stashed) | frozenset(
        t for op in graph.ops
        for t in (op.inputs if op.kind is OpKind.OPTIMIZER
                  else (op.name,) if op.attrs.get("grad") in ("weight", "bias") or "accumulate" in op.attrs
                  else ()))
    held = sizes.keys() | reserved_act

    def working_set(p) -> int:
        return (sum(tensor_bytes(t) for t in p.inputs if t not in held)
                + (p.op.out_bytes if p.op.name not in reserved_act else 0))

    peak_act, peak_op = max(((working_set(p), p.op.name)
                             for p in plans if p.works and p.op.kind is not OpKind.OPTIMIZER),
                            default=(0, ""), key=lambda x: x[0])
    offload_act = options.offload == "activations"
    stash = 0 if offload_act else info.stashed_activation_bytes
    main = peak_act + info.gradient_bytes + stash
    # what the main memory's reservation holds, as the error says it when that alone overflows (the KV cache the
    # pass appends is reserved only where it fits)
    parts = [f"the inputs and output of op {peak_op!r}, {peak_act} B"] if peak_op else []
    # an unfused attention's score matrix (batch · heads · q_len · kv_len scores) is what a fused kernel never holds
    hint = UNFUSED_HINT if peak_op and not stash and unfused_attention(graph[peak_op]) else ""
    parts += [f"the gradients, {info.gradient_bytes} B"] if info.gradient_bytes else []
    parts += [f"the training stash, {stash} B"] if stash else []
    if main + appended <= arch.memory(arch.main_memory).usable:
        main += appended
    reserved = {arch.main_memory: main}
    if offload_act and arch.spill_memory is not None:
        reserved[arch.spill_memory] = info.stashed_activation_bytes
    copy = _reserve_host_copy(reserved, arch, plans, options.offload, info.mode)
    try:
        placed = place(graph, arch, sizes, gathered_tables(graph), reserved=reserved,
                       skip_first=frozenset(hosted | (states if options.offload in OFFLOAD_OPTIMIZER else set())),
                       unread=frozenset(unread),
                       what=("weights, optimizer state" if states else "weights")  # the KV cache only where one
                       + (" and KV cache" if graph.kv_cache_sizes() else ""),  # is (probe p84 #7: an SD UNet's)
                       peak_activation_bytes=peak_act, reservation="; ".join(parts), hint=hint)
    except CapacityError as e:
        # the weights (and optimizer states): what no workload size key shrinks, against every memory's capacity
        kv = graph.kv_cache_sizes()
        fixed = sum(b for n, b in sizes.items() if n not in kv and n not in hosted)
        room = sum(arch.memory(lv).usable for lv in arch.memories)
        if info.mode != "training":
            raise CapacityError(str(e.args[0]), e.arch_key, e.arch_keys, fixed=fixed, room=room) from None
        # a training step: what its main memory would hold (training state is never spilled to an outer memory
        # unless options.offload asks), as report.json's memory row; the scenario refuses it with its remedies
        # (scenarios/fit.py) when that alone is too much
        row = {"weights": sum(b for n, b in sizes.items() if n not in states and n not in kv and n not in hosted),
               "kv_cache": sum(kv.values()) + appended, "gradients": info.gradient_bytes,
               "optimizer_states": 0 if options.offload in OFFLOAD_OPTIMIZER else sum(sizes[n] for n in states),
               "activations": peak_act + stash}
        row["used"] = sum(row.values())
        row |= arch.memory(arch.main_memory).capacity_fields()  # report.json's memory row: nominal and usable
        if row["used"] <= usable_bytes(row):
            raise CapacityError(str(e.args[0]), e.arch_key, e.arch_keys, fixed=fixed, room=room) from None
        raise CapacityError(str(e.args[0]), e.arch_key, e.arch_keys, row, fixed, room) from None
    if unread:
        representative_experts(graph, placed.level, sizes, arch.main_memory)
    return replace(placed, host_copy_bytes=copy) if copy else placed


def _reserve_host_copy(reserved: dict[str, int], arch: Arch, plans: tuple, offload: str, mode: str) -> int:
    """Bytes of the parameters' copy the host's CPU updates in its own memory (:func:`host_param_copy`), added to
    ``reserved`` at ``arch.spill_memory`` (the host memory): a training step's under ``options.offload:
    optimizer_cpu``; 0, and nothing reserved, for any other step or offload, or an arch with no memory outside
    its main one."""
    if offload != "optimizer_cpu" or mode != "training" or arch.spill_memory is None:
        return 0
    copy = host_param_copy(plans)
    if copy:
        reserved[arch.spill_memory] = reserved.get(arch.spill_memory, 0) + copy
    return copy


def host_param_copy(plans: tuple) -> int:
    """Bytes of the parameters' copy the host's CPU reads and writes in its memory under ``options.offload:
    optimizer_cpu`` where no optimizer state holds it: a step whose parameter is as wide as its states (fp32
    training, no fp32 master) updates the CPU's own copy of its share of the parameter, ⌈numel / shards⌉ elements
    at the parameter's width, which ZeRO-Offload keeps on the host beside m and v (Ren et al., USENIX ATC 2021:
    the fp32 parameters and the optimizer states live in CPU memory; DeepSpeed's CPU Adam steps its fp32
    parameter partition there). A mixed-precision step's copy is its fp32 master, an optimizer state already
    (probe p137 #2: fp32 gpt2's host held 8 B a parameter, m and v, while the CPU's step read and wrote 28)."""
    total = 0
    for p in plans:
        op = p.op
        if not p.works or op.kind is not OpKind.OPTIMIZER:
            continue
        param = next((w for w in op.weights if w.role != "state"), None)
        if param is None:
            continue
        width = dtype_bytes(param.dtype or op.dtype)
        if any(dtype_bytes(w.dtype or op.dtype) > width for w in op.weights if w.role == "state"):
            continue  # its fp32 master copy is a state
        total += -(-param.numel // int(op.attrs.get("shards", 1))) * width  # type: ignore[call-overload]
    return total


UNFUSED_HINT = ("; that op is an unfused attention's, whose score matrix is in memory: workload.attention: fused "
                "(--set workload.attention=fused, where the model takes it) runs a FlashAttention-style kernel that "
                "holds none")


def unfused_attention(op) -> bool:
    """Whether ``op`` reads or writes an unfused attention's score matrix (builders/tlayers.py): its QKᵀ matmul
    (attrs ``q_len`` and ``kv_len``), the ops on the scores (``attention_core``: the causal mask, dropout) or its
    softmax (attr ``causal``)."""
    attrs = op.attrs
    return (op.kind is OpKind.MATMUL and "q_len" in attrs and "kv_len" in attrs) or "attention_core" in attrs or \
        (op.kind is OpKind.SOFTMAX and "causal" in attrs)


def representative_experts(graph: Graph, level: dict[str, str], sizes: dict[str, int], main: str) -> None:
    """An MoE layer's routed experts as a representative draw: the experts a pass routes to are the simulated
    chip's first ones (``builders/moe.py``), but over many passes every expert is as likely, so when part of a
    layer's experts live beyond the main memory the routed ones do in the same proportion. Placement put the
    unread experts out first; here as many routed expert tensors as that proportion asks for swap their memory
    with unread ones of the same size (the footprint unchanged; whole tensors, the fractions carried from layer to
    layer). ``level`` is updated in place."""
    idle: dict[str, list[str]] = {}
    routed: dict[str, dict[str, None]] = {}  # block → its routed tensors (a dict: in order, each once)
    for op in graph.ops:
        if "idle_experts" in op.attrs:
            idle.setdefault(op.name.rsplit(".", 1)[0], []).extend(w.name for w in op.weights)
        elif "experts" in op.attrs and ".experts_" in op.name:
            block = op.name[:op.name.rindex(".experts_")]
            routed.setdefault(block, {}).update((w.name, None) for w in op.weights)
    expected = 0.0  # the routed tensors beyond the main memory so far, as a fraction; whole tensors are placed, the
    # remainder carried to the next layer, so the total stays within one tensor of it
    placed = 0
    for block, out in idle.items():
        read = list(routed.get(block, ()))
        names = read + out
        beyond = sum(1 for n in names if level.get(n, main) != main)
        expected += len(read) * beyond / len(names) if names else 0.0
        want = math.floor(expected + 0.5) - placed  # (half up)
        here = [n for n in reversed(read) if level.get(n, main) == main]
        there = [n for n in out if level.get(n, main) != main]
        for _ in range(want - (len(read) - len(here))):
            swap = next(((a, b) for a in here for b in there if sizes.get(a) == sizes.get(b)), None)
            if swap is None:
                break
            a, b = swap
            level[a], level[b] = level[b], level[a]
            here.remove(a)
            there.remove(b)
        placed += len(read) - len(here)
