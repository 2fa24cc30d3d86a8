"""Composed reports (accelsim.scenarios.passes): op rows carry the work of their executions and the totals are the
rows' sums, on hand-made passes with hand-computed figures."""

from __future__ import annotations

from types import SimpleNamespace

from accelsim.scenarios.passes import Pass, Rows, Timing, Work, compose_ops, counted_busy
from accelsim.tasks import Task, TaskKind

UNITS = ("core0.systolic0", "core0.vector")


def _pass(rows: list[dict], busy: list[list[int]], levels=("sram", "hbm", "host")) -> Pass:
    """A pass of ``rows`` whose op i kept unit j busy for ``busy[i][j]`` cycles (one task each)."""
    report = {"ops": rows, "bytes": dict.fromkeys(levels, 0), "stalls_by_level": dict.fromkeys(levels[1:], 0),
              "total_cycles": 100, "params": 0}
    timing = Timing(100, 1e-7, 0.0, 0, 0, {}, {}, {})
    cells = [(i, j, c) for i, row in enumerate(busy) for j, c in enumerate(row) if c]
    tg = SimpleNamespace(tasks=[Task(k, i, TaskKind.COMPUTE, j, c) for k, (i, j, c) in enumerate(cells)], ops=rows)
    return Pass(report, tuple(Work.of_row(r) for r in rows), UNITS, timing, 1, 1, tg)


def _row(name: str, macs: int, hbm: int, stalls: dict[str, int], start: int = 0, end: int = 10) -> dict:
    return {"name": name, "macs": macs, "flops": 2 * macs, "bytes": {"hbm": hbm}, "stall_cycles": sum(stalls.values()),
            "stalls_by_level": stalls, "start_cycle": start, "end_cycle": end, "mapping": {}}


def test_rows_carry_their_executions_and_totals_are_their_sums():
    p = _pass([_row("a", 10, 100, {"hbm": 7}), _row("b", 0, 50, {"hbm": 1, "host": 2}, 10, 30)], [[5, 0], [0, 9]])
    # op a runs 4 times (say 4 micro-batches), op b once (an optimizer step)
    rows, totals = compose_ops([Rows(p, [p.work[0].times(4), p.work[1]], [4, 1], {"stage": 0}, offset=1000)])
    assert [(r["name"], r["count"], r["macs"], r["stall_cycles"], r["stage"]) for r in rows] == [
        ("a", 4, 40, 28, 0), ("b", 1, 0, 3, 0)]
    assert (rows[1]["start_cycle"], rows[1]["end_cycle"]) == (1010, 1030)  # one execution, placed on the timeline
    assert (totals.macs, totals.flops) == (40, 80)
    # every level of the pass's report is kept, the ones nothing moved at included
    assert totals.bytes == {"sram": 0, "hbm": 4 * 100 + 50, "host": 0}
    assert totals.stalls_by_level == {"hbm": 28 + 1, "host": 2} and totals.stall_cycles == 31
    assert counted_busy([(p.units, p.busy, [4, 1])]) == {"core0.systolic0": 20.0, "core0.vector": 9.0}


def test_fractional_weights_round_each_row_and_the_totals_stay_its_sums():
    # a decode op simulated at steps 0 and 2 of 3, each standing for 1.5 steps: stalls 1.5·3 + 1.5·4 = 10.5 → 10
    # (round half to even), MACs 1.5·10 + 1.5·12 = 33, on each of two levels
    s0 = _pass([_row("qk", 10, 1, {"hbm": 3, "host": 3})], [[1, 0]])
    s2 = _pass([_row("qk", 12, 1, {"hbm": 4, "host": 4})], [[1, 0]])
    work = s0.work[0].times(1.5) + s2.work[0].times(1.5)
    rows, totals = compose_ops([Rows(s0, [work], [3])])
    assert rows[0]["macs"] == 33 and rows[0]["stalls_by_level"] == {"hbm": 10, "host": 10}
    assert rows[0]["stall_cycles"] == 20 == totals.stall_cycles == sum(totals.stalls_by_level.values())
