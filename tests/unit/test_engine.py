"""Engine and mapper invariants on hand-built graphs (no preset files): each check is a physical bound."""

from __future__ import annotations

import math

import pytest

from accelsim import __version__
from accelsim.engine import simulate
from accelsim.errors import MappingError
from accelsim.mapping import lower
from accelsim.options import Options
from accelsim.report import build_report
from accelsim.tasks import TaskKind, UnitKind

from ..conftest import branches_graph, make_arch, mlp_graph


def run(graph, arch, **opts):
    tg = lower(graph, arch, Options(**opts))
    trace = simulate(tg)
    return tg, trace, build_report(graph, arch, tg, trace, name="t", workload={}, version=__version__)


def test_unbounded_bandwidth_has_no_stalls_and_runs_the_compute_critical_path():
    g = mlp_graph(layers=4)
    arch = make_arch(bandwidth="inf", latency="0ns", host=False)
    tg, trace, rep = run(g, arch)
    assert rep["stall_cycles"] == 0
    # a chain: every op waits for the previous one, so the critical path is the sum of all compute cycles
    assert rep["total_cycles"] == sum(m.compute_cycles for m in tg.ops)


def test_total_cycles_at_least_compute_and_bandwidth_bounds():
    g = mlp_graph(layers=3, rows=512, width=1024)
    for bw in ("1GB/s", "16GB/s", "256GB/s"):
        arch = make_arch(bandwidth=bw)
        tg, trace, rep = run(g, arch)
        busiest = max(sum(t.cycles for t in tg.tasks if t.unit == u) for u in range(len(tg.units)))
        bw_bound = rep["bytes"]["hbm"] / arch.bytes_per_cycle("hbm")
        assert rep["total_cycles"] >= busiest
        assert rep["total_cycles"] >= math.floor(bw_bound)


@pytest.mark.parametrize("activations_on_chip", [True, False])
def test_halving_bandwidth_never_lowers_total_cycles(activations_on_chip):
    g = mlp_graph(layers=3, rows=256, width=768)
    previous = None
    for bw in (512, 256, 128, 64, 32, 16, 8, 4, 2, 1):  # GB/s, halving each step
        _, _, rep = run(g, make_arch(bandwidth=f"{bw}GB/s"), activations_on_chip=activations_on_chip)
        if previous is not None:
            assert rep["total_cycles"] >= previous
        previous = rep["total_cycles"]


def test_hbm_bytes_at_least_compulsory_traffic():
    # compulsory: every weight read once, the graph input read once, the final output written once
    rows, width, layers = 256, 512, 3
    g = mlp_graph(layers=layers, rows=rows, width=width)
    compulsory = layers * width * width + rows * width + rows * width  # int8: 1 byte per element
    for sram in ({"ifmap": "4KiB", "filter": "4KiB", "ofmap": "4KiB"}, {"unified": "16MiB"}):
        for on_chip in (True, False):
            _, _, rep = run(g, make_arch(sram=sram), activations_on_chip=on_chip)
            assert rep["bytes"]["hbm"] >= compulsory


def test_small_sram_re_reads_operands():
    # with 4 KiB tile buffers a 512×512 weight (256 KiB) cannot stay resident, so some operand is re-read
    g = mlp_graph(layers=1, rows=1024, width=512)
    _, _, big = run(g, make_arch(sram={"unified": "64MiB"}), activations_on_chip=False)
    _, _, small = run(g, make_arch(sram={"ifmap": "4KiB", "filter": "4KiB", "ofmap": "4KiB"}),
                      activations_on_chip=False)
    # with big SRAM, fc0 moves the compulsory input 1024·512 + weight 512·512 + output 1024·512 bytes
    assert big["ops"][0]["bytes"]["hbm"] == 1024 * 512 + 512 * 512 + 1024 * 512
    assert small["ops"][0]["bytes"]["hbm"] > big["ops"][0]["bytes"]["hbm"]


def test_stalls_are_attributed_to_the_late_level():
    g = mlp_graph(layers=2)
    _, _, slow = run(g, make_arch(bandwidth="100MB/s"))
    assert slow["stall_cycles"] > 0
    assert slow["stalls_by_level"]["hbm"] == slow["stall_cycles"]


def test_weights_beyond_hbm_stream_from_host_and_too_big_fails():
    g = mlp_graph(layers=4, rows=64, width=1024)  # 4 weights of 1 MiB each
    tg, _, rep = run(g, make_arch(hbm_capacity="2MiB"))
    assert set(tg.placement.values()) == {"hbm", "host"}
    assert rep["bytes"]["host"] > 0
    host_tasks = [t for t in tg.tasks if t.level == "host"]
    assert host_tasks and all(tg.units[t.unit].name == "host" for t in host_tasks)
    with pytest.raises(MappingError, match="need .* B but hbm"):
        lower(g, make_arch(hbm_capacity="1MiB", host_capacity="1MiB"), Options())


def test_activations_alone_over_hbm_name_their_op_and_only_what_the_pass_holds():
    # fc0 of a 1-layer MLP reads 256 × 512 int8 = 131,072 B and writes as much: 262,144 B, 57,344 B over a
    # 200 KiB = 204,800 B hbm. An inference pass has no gradients or training stash: the message names neither.
    # With fc0's 512 × 512 int8 weights (262,144 B) the pass needs 524,288 B, which hbm and the 64 GiB host hold
    # together: the totals show no shortage, so the message is the activations' level alone (probe p283 #3: it led
    # with "need 524288 B but hbm (204800 B) and host (68719476736 B) hold 68719681536 B")
    act, weights, hbm = 2 * 256 * 512, 512 * 512, 200 * 1024
    with pytest.raises(MappingError) as e:
        lower(mlp_graph(layers=1), make_arch(hbm_capacity="200KiB"), Options())
    assert str(e.value) == (f"mlp: the activations (the inputs and output of op 'fc0', {act} B) alone need {act} B "
                            f"of hbm, {act - hbm} B more than it holds")
    # without the host the totals overflow too (524,288 B > 204,800 B): that shortage is said first, as before
    with pytest.raises(MappingError) as e:
        lower(mlp_graph(layers=1), make_arch(hbm_capacity="200KiB", host=False), Options())
    assert str(e.value) == (f"mlp: weights ({weights} B) and activations ({act} B) need {weights + act} B but hbm "
                            f"({hbm} B) holds {hbm} B; the activations (the inputs and output of op 'fc0', {act} B) "
                            f"alone need {act} B of hbm, {act - hbm} B more than it holds")


def test_independent_ops_run_on_different_cores_at_once():
    g = branches_graph(branches=2)
    _, _, one = run(g, make_arch(cores=1, bandwidth="inf"), split_ops=False)
    tg, trace, two = run(g, make_arch(cores=2, bandwidth="inf"), split_ops=False)
    assert {op["core"] for op in two["ops"]} == {0, 1}
    # with unbounded bandwidth two independent equal ops on two cores take the time of one
    assert two["total_cycles"] == one["total_cycles"] // 2 + (one["total_cycles"] % 2)
    assert set(two["utilization"]) >= {"core0.systolic0", "core1.systolic0", "hbm"}


def test_report_is_deterministic():
    g = mlp_graph(layers=3)
    arch = make_arch(cores=2, bandwidth="4GB/s", latency="200ns")
    assert run(g, arch)[2] == run(g, arch)[2]


def _joins(m) -> list[bool]:
    """Whether each of an op's groups (emission order) is a ramp piece sharing its unit's next group's buffer
    (emit.ramp_shares): a unit's groups are ``each`` + f + l for f and l halvings, or f + l for one group cut up
    and down."""
    from accelsim.mapping.emit import ramp_shares

    units, (first, last) = m.mapping.get("units", 1), m.mapping.get("ramp", (0, 0))
    per_unit = m.tiles // units
    each = 1 if first and last and per_unit == first + last else per_unit - first - last
    return [j for j in ramp_shares(each, (first, last))[1] for _ in range(units)]


@pytest.mark.parametrize("ramp", [0, 4])
def test_task_graph_respects_double_buffering(ramp):
    # the loads of a unit's p-th tile group wait for the compute of its (p−2)-th; a ramp's pieces (max_tiles_per_op
    # 16 cuts this 1 GMAC op coarser than its finest groups; options.ramp_max 0 turns the ramp off) fill one group's
    # buffer: each waits as that group does, and only the buffer's last piece is a place in the stream
    g = mlp_graph(layers=1, rows=4096, width=512)
    tg, trace, _ = run(g, make_arch(sram={"ifmap": "8KiB", "filter": "8KiB", "ofmap": "8KiB"}), ramp_max=ramp)
    joins = {i: _joins(m) for i, m in enumerate(tg.ops) if m.tiles}
    assert any(any(j) for j in joins.values()) == bool(ramp)
    per_unit: dict[int, list[int]] = {}
    nth: dict[int, int] = {}
    checked = 0
    for t in tg.tasks:
        if t.kind is not TaskKind.COMPUTE:
            continue
        gi = nth[t.op] = nth.get(t.op, -1) + 1
        stream = per_unit.setdefault(t.unit, [])
        loads = [d for d in t.deps if tg.tasks[d].kind is TaskKind.LOAD]
        if len(stream) >= 2:
            for d in loads:
                assert stream[-2] in tg.tasks[d].deps
                checked += 1
        if not joins[t.op][gi]:
            stream.append(t.id)
    assert checked > 10
    # and the engine honoured every dependency
    for t in tg.tasks:
        for d in t.deps:
            assert trace.end[d] <= trace.start[t.id]


def test_utilization_and_mac_utilization_are_fractions():
    g = mlp_graph(layers=2)
    tg, _, rep = run(g, make_arch())
    compute_units = [u.name for u in tg.units if u.kind is UnitKind.COMPUTE]
    assert all(0 <= rep["utilization"][u] <= 1 for u in rep["utilization"])
    assert 0 < rep["mac_utilization"] <= rep["utilization"][compute_units[0]] + 1e-12
    # MAC utilisation = MACs / (16·16 MACs per cycle · total cycles)
    assert rep["mac_utilization"] == pytest.approx(g.macs / (256 * rep["total_cycles"]))


def test_cores_share_hbm_bandwidth():
    # two independent memory-bound ops: with unbounded bandwidth two cores halve the time; at 1 GB/s the shared
    # HBM server moves both ops' bytes one after another, so the second core buys (almost) nothing
    g = branches_graph(branches=2, rows=64, width=2048)  # weights 4 MiB each, 64 rows: few MACs per byte
    slow = make_arch(bandwidth="1GB/s")
    one = run(g, make_arch(cores=1, bandwidth="1GB/s"))[2]
    two = run(g, make_arch(cores=2, bandwidth="1GB/s"))[2]
    assert two["total_cycles"] >= two["bytes"]["hbm"] / slow.bytes_per_cycle("hbm") - 1
    assert two["total_cycles"] > 0.9 * one["total_cycles"]


def test_splitting_a_gemm_over_four_cores_quarters_its_compute():
    # one 512×512×512 linear on 16×16 ws arrays: 1 core runs all F = 32·32 = 1024 folds; split over 4 cores each
    # runs its share of the tile groups, so with unbounded bandwidth the op takes ≤ 1/4 of the 1-core cycles
    # plus one tile group of quantization
    g = branches_graph(branches=1, rows=512, width=512)
    tg1, _, one = run(g, make_arch(cores=1, bandwidth="inf"))
    tg4, _, four = run(g, make_arch(cores=4, bandwidth="inf"))
    work = one["ops"][0]["compute_cycles"]
    groups = four["ops"][0]["tiles"]
    assert four["total_cycles"] <= work / 4 + work / groups + 1
    # the same folds, spread out: 4 sub-GEMMs of 32·8 = 256 folds each, every unit's cycles the op's scaled by its
    # share's fold cycles and rounded to a whole cycle (work_cycles sums the units': within a cycle each)
    assert abs(four["ops"][0]["mapping"]["work_cycles"] - work) <= 4
    assert {tg4.units[t.unit].core for t in tg4.tasks if t.kind is TaskKind.COMPUTE} == {0, 1, 2, 3}


def test_no_compute_starts_before_its_producers_finished_on_any_unit():
    # split over 4 cores × 1 array: every unit's first tile group must wait for the whole producer
    g = mlp_graph(layers=3, rows=512, width=1024)
    tg, trace, _ = run(g, make_arch(cores=4, bandwidth="8GB/s"))
    by_op: dict[int, list] = {}
    for t in tg.tasks:
        by_op.setdefault(t.op, []).append(t)
    names = [m.name for m in tg.ops]
    for i, op in enumerate(g.ops):
        for src in op.inputs:
            if src not in names:
                continue
            j = names.index(src)
            producer_end = max(trace.end[t.id] for t in by_op.get(j, []) if t.kind is not TaskKind.LOAD)
            starts = [trace.start[t.id] for t in by_op.get(i, []) if t.kind is TaskKind.COMPUTE]
            assert min(starts) >= producer_end, (op.name, src)


def test_a_join_takes_no_unit_and_no_time():
    # two loads of 100 and 300 cycles on separate units, a JOIN of both, a compute after the JOIN: the JOIN ends
    # at 300 (its last dependency), the compute runs 300..350, and no unit is charged for the JOIN
    from accelsim.tasks import Task, TaskGraph, Unit

    units = (Unit("a", UnitKind.MEMORY, None, "hbm"), Unit("b", UnitKind.MEMORY, None, "host"),
             Unit("c", UnitKind.COMPUTE, 0))
    tasks = (Task(0, 0, TaskKind.LOAD, 0, 100, (), 0, 64, "hbm"), Task(1, 0, TaskKind.LOAD, 1, 300, (), 0, 64, "host"),
             Task(2, 0, TaskKind.JOIN, -1, 0, (0, 1)), Task(3, 0, TaskKind.COMPUTE, 2, 50, (2,)))
    trace = simulate(TaskGraph(tasks, units, ()))
    assert (int(trace.start[2]), int(trace.end[2])) == (300, 300)
    assert (int(trace.start[3]), int(trace.end[3])) == (300, 350)
    assert trace.events == 3  # one timeout per task on a unit; the JOIN adds none


def test_a_task_with_negative_cycles_is_refused_naming_it():
    # time never runs backwards: a (mapper-bug) task of -5 cycles is an error naming task 1 and its op, not a
    # trace whose ends precede its starts
    from accelsim.errors import SimulationError
    from accelsim.tasks import Task, TaskGraph, Unit

    units = (Unit("c", UnitKind.COMPUTE, 0),)
    tasks = (Task(0, 0, TaskKind.COMPUTE, 0, 10), Task(1, 3, TaskKind.COMPUTE, 0, -5, (0,)))
    with pytest.raises(SimulationError, match=r"task 1 \(op #3\).*-5"):
        simulate(TaskGraph(tasks, units, ()))


def test_an_op_split_over_many_cores_is_joined_once_for_its_consumers():
    # 64 cores: a linear layer split over all of them, then a ReLU split over all of them. Each ReLU core's first
    # groups depend on one JOIN of the linear's 64 ends (not on 64 tasks each), and the numbers are those of
    # direct dependencies (the JOIN completes when the last end does)
    arch = make_arch(cores=64, rows=8, cols=8, bandwidth="inf")
    tg = lower(mlp_graph(layers=1, rows=256, width=512), arch, Options())
    joins = [t for t in tg.tasks if t.kind is TaskKind.JOIN]
    assert joins and all(t.unit == -1 and t.cycles == 0 and len(t.deps) > 16 for t in joins)
    relu = next(i for i, m in enumerate(tg.ops) if m.fn == "relu")
    (join,) = [t.id for t in joins if t.op == relu - 1]  # the linear's
    cross = [d for t in tg.tasks if t.op == relu for d in t.deps if tg.tasks[d].op != relu]
    # each ReLU group's load and compute wait for the JOIN: 2 per group (without it, 2 × 64 per group)
    assert set(cross) == {join} and len(cross) == 2 * tg.ops[relu].tiles


def test_a_pass_over_the_memory_budget_stops_before_it_runs_out():
    # 1 KiB a task (options.TASK_BYTES) beside 8 KiB an op (options.OP_BYTES): a budget of the 4-layer MLP's 8 ops
    # (a linear and a ReLU a layer) and 64 KiB holds 64 tasks; the MLP needs more, so lowering stops with a one-line
    # error naming the option, before the engine allocates anything
    from accelsim.options import OP_BYTES, TASK_BYTES

    g = mlp_graph(layers=4)
    arch = make_arch()
    assert len(g.ops) == 8 and len(lower(g, arch, Options())) > 64
    with pytest.raises(MappingError, match=r"more than 64 tasks .* raise options.memory_budget") as e:
        lower(g, arch, Options(memory_budget=8 * OP_BYTES + 64 * TASK_BYTES))
    assert "\n" not in str(e.value)
    assert len(lower(g, arch, Options(memory_budget="1GiB"))) == len(lower(g, arch, Options()))  # no other effect


def test_a_graph_whose_ops_alone_exceed_the_memory_budget_is_refused_before_any_task():
    # each op costs ~8 KiB beside its tasks (options.OP_BYTES: its graph, plans and report rows; lstm_lm's 32,006
    # ops took 6.8 KB each): the 4-layer MLP's 8 ops need 65,536 B, so a budget of 65,535 B is refused, naming the
    # option, before a unit is chosen; 65,536 + the tasks at 1 KiB each lowers it
    from accelsim.options import OP_BYTES, TASK_BYTES

    g, arch = mlp_graph(layers=4), make_arch()
    assert OP_BYTES == 8192 and len(g.ops) == 8
    with pytest.raises(MappingError, match=r"^mlp: its 8 ops need ~65,536 B before any task is built .* more than "
                                           r"options\.memory_budget \(65,535 B at ~1024 B a task\) holds; raise "
                                           r"options\.memory_budget") as e:
        lower(g, arch, Options(memory_budget=65_535))
    assert "\n" not in str(e.value)
    tasks = len(lower(g, arch, Options()))
    assert len(lower(g, arch, Options(memory_budget=65_536 + tasks * TASK_BYTES))) == tasks


def test_the_task_budget_error_names_every_command_line_override():
    # LeNet-5's 12 ops (2 × conv, relu, pool; flatten; 3 linears with 2 relus) take 12 × 8 KiB (options.OP_BYTES)
    # of a 97 KiB budget, whose last 1 KiB holds one task: any pass stops at its first op. The arch and options
    # overrides may be why a pass is too big (more cores, a smaller budget) as much as the workload's: all of them
    # are named, as written
    from accelsim.api import run_experiment
    from accelsim.config import experiment_from_parts

    spec = experiment_from_parts("lenet5", "gemmini", overrides=[
        "workload.batch=2", "arch.core.systolic.rows=8", "options.memory_budget=97KiB"])
    with pytest.raises(MappingError) as e:
        run_experiment(spec)
    assert "more than 1 tasks" in str(e.value)
    assert str(e.value).endswith("(command line: --set workload.batch=2, --set arch.core.systolic.rows=8, --set "
                                 "options.memory_budget=97KiB)")


def test_a_traced_pass_holds_as_many_tasks_in_the_same_memory_budget():
    # trace.json is streamed (report.chrome_trace.trace_chunks): no task's event is held, so a traced task costs
    # TASK_BYTES = 1 KiB as an untraced one does: a budget of 8 KiB for each of a 1-layer MLP's 2 ops
    # (options.OP_BYTES) and 1 KiB for each of its T tasks holds the MLP traced or not; 1 B less holds T - 1 tasks,
    # one too few
    from accelsim.options import OP_BYTES, TASK_BYTES

    g, arch = mlp_graph(layers=1), make_arch()
    tasks = len(lower(g, arch, Options()))
    budget = 2 * OP_BYTES + tasks * TASK_BYTES
    assert OP_BYTES == 8192 and TASK_BYTES == 1024 and tasks > 1
    for trace in (False, True):
        assert len(lower(g, arch, Options(memory_budget=budget, trace=trace))) == tasks
        with pytest.raises(MappingError, match=rf"more than {tasks - 1} tasks .*\({budget - 1:,} B at ~1024 B a "
                                               r"task, after ~8192 B for each of its 2 ops\)"):
            lower(g, arch, Options(memory_budget=budget - 1, trace=trace))


def test_the_task_budget_error_is_at_the_budget_key_and_says_what_would_hold_the_pass(tmp_path, monkeypatch):
    # the budget the user set is what to change: its file and line (not the workload preset's model: line), and the
    # bytes that would hold the pass at the rate of tasks its first ops built: ⌈(T + 1) · ops / done⌉ tasks at
    # 1,024 B (options.TASK_BYTES) beside 8,192 B an op (options.OP_BYTES)
    import re

    from accelsim.api import run_experiment
    from accelsim.config import load_experiment

    path = tmp_path / "e.yaml"
    path.write_text("workload: lenet5\narch: gemmini\noptions:\n  memory_budget: 100KiB\n")
    with pytest.raises(MappingError) as e:
        run_experiment(load_experiment(path))
    msg = str(e.value)
    assert msg.startswith(f"{path}:4: options.memory_budget: this pass needs more than ") and "\n" not in msg
    m = re.search(r"more than ([\d,]+) tasks.*~([\d,]+) in all at the rate of its first ([\d,]+) of ([\d,]+) ops: "
                  r"~([\d,]+) B of budget", msg)
    assert m is not None, msg
    t, est, done, ops, need = (int(x.replace(",", "")) for x in m.groups())
    assert est == -(-(t + 1) * ops // done) and need == est * 1024 + ops * 8192 > 100 * 1024
    if "the fewest its ops' units allow" not in msg:  # stopped while building tasks: coarser tiling builds fewer
        assert msg.endswith("raise options.memory_budget, or coarsen the run (options.max_tiles_per_op, "
                            "options.ramp_max)")
    else:  # stopped as the units were chosen (the fewest tasks they allow): no coarsening helps
        assert msg.endswith("raise options.memory_budget")
    # the default budget is named as such
    monkeypatch.setattr("accelsim.options.default_memory_budget", lambda: 100 * 1024)
    path.write_text("workload: lenet5\narch: gemmini\n")
    with pytest.raises(MappingError) as e:
        run_experiment(load_experiment(path))
    assert str(e.value).startswith("options.memory_budget (not set: the default): this pass needs more than ")


def test_a_one_op_span_is_its_stall_its_compute_and_its_output_drain():
    # probe p78 #4: a one-op run's span was 1 cycle longer than compute + stall, unnamed. The 100×50×40 int8 gemm on
    # a 17×13 ws array, HBM at 10 TB/s (10,000 B a cycle) and 100 ns (100 cycles at 1 GHz), one tile group:
    # A (100·40 = 4,000 B) loads in ⌈0.4⌉ = 1 cycle and arrives at 1 + 100 = 101, B (40·50 = 2,000 B) after it on
    # the one server, arriving at 102: the array, free from 0, stalls 102. SCALE-Sim's ws: F_r = ⌈40/17⌉ = 3,
    # F_c = ⌈50/13⌉ = 4, τ = 2·17 + 13 + 100 − 2 = 145, 3·4·145 − 1 = 1,739 cycles, to 1,841. C (5,000 B) is stored
    # after that compute, 1 cycle and 100 of latency: the op ends at 1,942 = 102 + 1,739 + 101, the 101 its drain
    from accelsim import api
    from accelsim.config import experiment_from_parts

    arch = ("arch={name: s, clock: 1GHz, dtype: int8, core: {systolic: {rows: 17, cols: 13, dataflow: ws}, "
            "vector: {lanes: 16}, sram: {ifmap: 64KiB, filter: 64KiB, ofmap: 64KiB}}, "
            "hbm: {capacity: 1GiB, bandwidth: 10TB/s, latency: 100ns}}")
    spec = experiment_from_parts("gemm", "gemmini", overrides=["workload.m=100", "workload.n=50", "workload.k=40",
                                                               arch])
    (op,) = api.run_experiment(spec).to_dict()["ops"]
    assert (op["start_cycle"], op["end_cycle"], op["compute_cycles"], op["stall_cycles"]) == (0, 1942, 1739, 102)
    drain = op["end_cycle"] - op["start_cycle"] - op["compute_cycles"] - op["stall_cycles"]
    assert drain == 1 + 100  # the store's ⌈5,000 / 10,000⌉ cycle and HBM's latency


def test_a_finished_simulation_leaves_no_cycle_holding_its_task_lists():
    # The engine's callbacks call each other through closure cells; left filled, that cycle kept the successor
    # list of every task (one list per task) alive until a full collection, which API calls hold off
    # (accelsim.api.collector_paused). What may stay for the collector is SimPy's Environment, which binds a few of
    # its own methods to itself: a count that does not grow with the tasks.
    import gc

    tg = lower(mlp_graph(layers=4, rows=512, width=1024), make_arch(sram={"unified": "64KiB"}), Options())
    assert len(tg) > 100
    gc.collect()
    gc.disable()
    try:
        simulate(tg)
        found = gc.collect()
    finally:
        gc.enable()
    assert found < 20 < len(tg)
