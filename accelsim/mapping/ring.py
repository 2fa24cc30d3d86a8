"""A context-parallel ring's identical middle steps, simulated as one (docs/architecture.md, Context parallelism).

A ``p2p`` ring of C chips is C − 1 sends (``kv_ring{j}``, on a side stream, each after the one before) and C − 1
attention steps (``step{j}``, j ≥ 1, each after its send and, in stream order, the step before), every send and
every step j ≥ 1 the same work. Steps 1 … C − 2 are emitted as step 1 with each of its tasks (the launch and dispatch
too) C − 2 times as long and moving C − 2 times the bytes, and sends 2 … C − 2 as send 2 with C − 3 times its
time; steps 2 … C − 2 and sends 3 … C − 2 get their mappings (report rows: MACs, bytes, cycles) but no tasks, and
their readers wait for the folded op. The step chain then ends when the unrolled one does: step j ends at
max(e_{j−1}, s_j) + A (A a step's time, s_j when send j arrives, s_j = s_1 + (j − 1)·S), so step C − 2 ends at
max(max(e_0, s_1) + (C − 2)·A, s_{C−2} + A) (a maximum of terms affine in j is at an end), and step C − 1, which
waits for send C − 1 (s_{C−2} + S), starts at max(e_{C−2}, s_{C−1}): the term s_{C−2} + A that the folded step
(after send 1 only) leaves out is under e_{C−2} when A ≥ S and under s_{C−1} when A ≤ S. Within an op whose every
task is r× as long the schedule is r× one copy's, which in stream order is r back-to-back copies'. Training keeps
the unrolled ring (its backward's sends and steps interleave with other ops)."""

from __future__ import annotations

from ..ir import OpKind
from .plan import Plan

Fold = tuple[str, object]  # ("repeat", r): emit r× as long; ("as", name): a mapping only, readers wait for name's


def ring_folds(plans: list[Plan]) -> dict[int, Fold]:
    """Each folded op's plan index → how it is emitted (the module docstring). A ring is a chain of side-stream
    ``send_recv`` collectives, each reading the one before (the builder's ``kv_ring{j}``), and its step j the one
    attention op reading send j's output; rings of fewer than 4 chips, and any ring not in that shape (a step
    fused away, or split into several ops), are left unrolled. (Found by the graph's data flow, not by attrs: an
    attr that told the steps apart would give each its own price, as pricing.signature keys prices by attrs.)"""
    ring_of: dict[str, list[Plan]] = {}  # a send's output → its ring's sends so far
    rings: list[list[Plan]] = []
    readers: dict[str, list[Plan]] = {}
    for p in plans:
        op = p.op
        if op.kind is OpKind.COLLECTIVE and op.fn == "send_recv" and op.attrs.get("side_stream"):
            before = ring_of.get(p.inputs[0]) if len(p.inputs) == 1 else None
            if before is None or before[-1].op.name != p.inputs[0]:
                before = []
                rings.append(before)
            before.append(p)
            ring_of[op.name] = before
        for t in set(p.inputs) if p.works else ():  # (views alias the send's output: their readers read it)
            if t in ring_of:
                readers.setdefault(t, []).append(p)
    folds: dict[int, Fold] = {}
    for sends in rings:
        n = len(sends)  # C − 1
        steps = [[r for r in readers.get(s.op.name, []) if r.op.kind is not OpKind.COLLECTIVE] for s in sends]
        if n < 3 or any(len(r) != 1 or r[0].op.kind is not OpKind.ATTENTION for r in steps) or any(
                not p.works or "fused_into" in p.details or p.op.phase is not None
                for p in (*sends, *(r[0] for r in steps))):
            continue
        send = dict(enumerate(sends, 1))
        step = {j: r[0] for j, r in enumerate(steps, 1)}
        if n - 2 > 1:
            folds[send[2].index] = ("repeat", n - 2)
        folds.update({send[j].index: ("as", send[2].op.name) for j in range(3, n)})
        folds[step[1].index] = ("repeat", n - 1)
        folds.update({step[j].index: ("as", step[1].op.name) for j in range(2, n)})
    return folds
