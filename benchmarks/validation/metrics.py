"""Errors: each row's simulated value against its measurement, MAPE and bias per view, and the targets."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .model import TARGETS, FilePlan, FileResult, Job, RowResult, Sim, ViewStat


def mape(rows: Sequence[RowResult]) -> float:
    """Mean absolute percentage error of ``rows`` (nan if none)."""
    return 100.0 * sum(abs(r.error) for r in rows) / len(rows) if rows else math.nan


def bias(rows: Sequence[RowResult]) -> float:
    """Mean signed percentage error of ``rows`` (nan if none)."""
    return 100.0 * sum(r.error for r in rows) / len(rows) if rows else math.nan


def evaluate(plan: FilePlan, results: dict[Job, Sim]) -> FileResult:
    """The simulated value and error of every row of ``plan``, and its views' statistics."""
    rows = [RowResult(r.key, r.group, r.tags, r.measured_s, r.simulated(results)) for r in plan.rows]
    by_spec = dict(zip(map(id, plan.rows), rows, strict=True))
    views = []
    for v in plan.views:
        sel = [by_spec[id(r)] for r in plan.rows if v.select(r)]
        if sel:
            worst = max(sel, key=lambda r: abs(r.error))
            views.append(ViewStat(v.label, len(sel), mape(sel), bias(sel), worst.key, 100.0 * worst.error,
                                  v.target, v.note, sel))
        else:
            views.append(ViewStat(v.label, 0, math.nan, math.nan, "", math.nan, v.target, v.note))
    return FileResult(plan, rows, views)


def diagnose(res: FileResult, view: ViewStat) -> str:
    """What the numbers say about a view's error: for a layer total, the ops that make the gap; otherwise the
    mean signed error and the MAPE of kernels under / over 50 us (launch-dominated or not)."""
    if not view.selected:
        return ""
    if res.plan.kind == "gpt3_layer" and "total" in view.selected[0].tags:
        ops = sorted((r for r in res.rows if "total" not in r.tags), key=lambda r: -abs(r.simulated_s - r.measured_s))
        gap = view.selected[0].simulated_s - view.selected[0].measured_s
        top = ", ".join(f"{r.group} {1e3 * (r.simulated_s - r.measured_s):+.3g} ms ({100 * r.error:+.0f} %)"
                        for r in ops[:3])
        return f"gap {1e3 * gap:+.3g} ms; largest: {top}"
    small = [r for r in view.selected if r.measured_s < 50e-6]
    large = [r for r in view.selected if r.measured_s >= 50e-6]
    parts = [f"bias {view.bias:+.0f} % ({'accelsim faster' if view.bias < 0 else 'accelsim slower'})"]
    if small:
        parts.append(f"< 50 us: {mape(small):.0f} % MAPE ({len(small)} rows)")
    if large:
        parts.append(f">= 50 us: {mape(large):.0f} % MAPE ({len(large)} rows)")
    return "; ".join(parts)


def summarize(results: Sequence[FileResult]) -> list[dict]:
    """One entry per target: every (file, view) that counts towards it, and whether all meet it."""
    out = []
    for name, (desc, thr) in TARGETS.items():
        members = [{"file": r.label, "view": v.label, "rows": v.rows, "mape": v.mape, "met": v.met,
                    "why": "" if v.met else diagnose(r, v)}
                   for r in results for v in r.views if v.target == name]
        out.append({"target": name, "description": desc, "threshold": thr, "members": members,
                    "met": bool(members) and all(m["met"] for m in members)})
    return out
