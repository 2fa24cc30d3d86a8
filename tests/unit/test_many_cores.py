"""Chips of thousands of cores: choosing an op's units (mapping/choice.py ``_split_units``) and pricing a split
(mapping/traffic.py ``split_estimate``) cost O(1) per count of units, not O(cores), so they stay the rule they were
when each candidate listed its units and each estimate every unit and core: the reference implementations below
are those rules written out, compared on small chips; and a pass over options.memory_budget on 4096 cores is
refused as its ops take their units, before any task is built."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from accelsim.config import build_graph, load_arch, load_workload
from accelsim.errors import MappingError
from accelsim.mapping import choice, traffic
from accelsim.mapping.aliases import aliases
from accelsim.mapping.fusion import fuse, pipeline
from accelsim.mapping.lower import build_units
from accelsim.mapping.pricing import price
from accelsim.options import Options
from accelsim.tasks import UnitKind


def _reference_split(p, cores, free, ready, arch, options):
    """The rule of ``_split_units`` as each candidate listed its units: (the units, their start, the estimate)."""
    per_core = len(cores[0])
    counts = [(n, 1) for n in range(1, per_core + 1)] + [(per_core * c, c) for c in range(2, len(cores) + 1)]
    ordered = [sorted(c, key=lambda u: (free[u], u)) for c in cores]
    core_free = sorted((free[c[-1]], i) for i, c in enumerate(ordered))
    cands = []
    for n, ncores in counts:
        if n > p.cycles:
            break
        if ncores == 1:  # the n units of one core that free first, on the core where they free first
            freed, chosen = min((free[o[n - 1]], tuple(sorted(o[:n]))) for o in ordered)
        else:  # the ncores cores that free first
            ends = core_free[:ncores]
            freed = ends[-1][0]
            chosen = tuple(sorted(u for _, i in ends for u in cores[i]))
        est, compute, memory = traffic.split_estimate(p, arch, options, n, ncores, produced=ready > 0)
        cands.append((chosen, max(ready, freed), est, compute, memory))
    best = cands[-1]
    for c in reversed(cands[:-1]):
        faster = c[1] + c[2] < best[1] + best[2] and c[1] + max(c[3], c[4]) < best[1] + max(best[3], best[4])
        if faster or (c[3] <= best[3] and c[4] <= best[4] and c[1] <= best[1]):
            best = c
    return best[0], best[1], best[2]


def _reference_core_reads(p, a_tot, b_tot, out_off, budgets, shared, psum_bytes, nunits, ncores, cut):
    """``core_reads`` of a matmul cut over cores as it priced each core in turn."""
    op = p.op
    dim = {"m": 0, "n": 1, "k": 2}.get(cut or "", 1 if a_tot <= b_tot else 0)
    size = (op.gemm.m, op.gemm.n, op.gemm.k)[dim]
    parts = traffic.split(size, nunits)
    each = nunits // ncores
    fa, fb, ntiles, first = 0, 0, 0, None
    for c in range(ncores):
        rows = sum(parts[c * each:(c + 1) * each])
        if not rows:
            continue
        # cut along M: the core's rows of A, all of B; along N: all of A, its columns of B; along K (a GEMV, probe
        # p92): its slice of K of both, and all of the output (each core holds every partial sum)
        a = -(-a_tot * rows // size) if dim in (0, 2) else a_tot
        b = -(-b_tot * rows // size) if dim in (1, 2) else b_tot
        out = out_off if dim == 2 else -(-out_off * rows // size)
        ra, rb, tiles, tiling = traffic.sram_reads(p, a, b, out, budgets, shared, psum_bytes, (dim, rows))
        share = Fraction(rows, size)
        fa += ra * share if dim in (0, 2) else ra
        fb += rb * share if dim in (1, 2) else rb
        ntiles += tiles
        first = first or tiling
    return fa, fb, ntiles, first


def _plans(workload: dict, arch):
    """The priced plans of ``workload`` on ``arch``, as lowering hands them to ``assign``."""
    graph = build_graph(load_workload(workload), arch.dtype)
    return pipeline(price(fuse(aliases(graph, Options()), graph, arch), arch), arch)


# small chips of 1 to 3 arrays a core; workloads with matmuls along M, N and the count (a grouped conv), and
# vector ops
ARCHS = [("multicore-4", ["arch.cores=5"]), ("multicore-4", ["arch.cores=16"]),
         ("multicore-4", ["arch.cores=6", "arch.core.systolic.count=3"]), ("gemmini", ["arch.cores=7"]),
         ("tpu-v4", ["arch.cores=3"])]
WORKLOADS = [{"model": "gemm", "m": 1024, "n": 64, "k": 512}, {"model": "gemm", "m": 48, "n": 3000, "k": 256},
             {"model": "mobilenet_v2", "batch": 1}]


@pytest.mark.parametrize("arch_name, sets", ARCHS)
def test_the_units_chosen_are_the_reference_rules(arch_name, sets):
    arch = load_arch(arch_name, sets)
    units = build_units(arch)
    rng = random.Random(7)
    sizes = set()
    for workload in WORKLOADS:
        for p in _plans(workload, arch):
            if not p.works or p.cycles <= 1 or "output_tiles" in p.details:
                continue
            pool = [i for i, u in enumerate(units) if u.kind is UnitKind.COMPUTE and u.group == p.unit_kind]
            cores = choice._by_core(pool, units)
            for _ in range(4):
                # free times from a few values, so that units and whole cores tie
                free = [rng.choice((0.0, 0.0, 500.0, 2e4, 3e5)) for _ in units]
                ready = rng.choice((0.0, 1e3))
                got = choice._split_units(p, cores, free, ready, arch, Options(), {})
                assert got == _reference_split(p, cores, free, ready, arch, Options()), p.op.name
                sizes.add(len(got[0]))
    assert len(sizes) >= 3  # (one unit, several of a core, or whole cores: the cases differ)


def test_a_split_is_priced_as_each_unit_and_core_in_turn():
    # split() cuts the rows into at most two sizes, so the busiest unit and the cores' rows are found in O(1): the
    # same as listing every unit (unit_cycles) and summing every core's units' rows
    for size in (1, 7, 64, 1000, 4097):
        for nunits in (1, 2, 3, 8, 63, 64, 65, 4096):
            for each in {1, 2, 3, 4} & {e for e in range(1, nunits + 1) if nunits % e == 0}:
                ncores = nunits // each
                parts = traffic.split(size, nunits)
                rows = [sum(parts[c * each:(c + 1) * each]) for c in range(ncores)]
                runs = traffic._core_rows(size, nunits, each, ncores)
                assert [r for r, n in runs for _ in range(n)] == rows, (size, nunits, each)
    arch = load_arch("multicore-4", ["arch.cores=64"])
    checked = 0
    for workload in WORKLOADS:
        for p in _plans(workload, arch):
            if not p.works or p.cycles <= 1:
                continue
            op = p.op
            a_tot = (op.in_bytes if not op.kind.is_matmul or len(p.operands) < 2 else
                     op.in_bytes // 2)
            b_tot = op.weight_bytes + op.in_bytes - a_tot
            for nunits in (2, 5, 16, 63, 64):
                one, two = {}, {}
                assert traffic.busiest_unit_cycles(p, arch, nunits, a_tot <= b_tot, one) == max(
                    traffic.unit_cycles(p, arch, nunits, a_tot <= b_tot, two))
                assert one == two
                if op.kind.is_matmul and op.gemm is not None and one.get("split") != "count":
                    sram = arch.core.sram
                    args = (p, a_tot, b_tot, op.out_bytes, sram.tile_budgets(reserved=0),
                            sram.shared_budget(reserved=0), 4, nunits, nunits, one.get("split"))
                    assert traffic.core_reads(*args) == _reference_core_reads(*args)
                    checked += 1
    assert checked >= 10


def test_a_4096_core_pass_over_the_memory_budget_is_refused_as_its_units_are_chosen():
    # 4 MiB less ~8 KiB for each op (options.OP_BYTES), at ~1 KiB a task (options.TASK_BYTES), holds
    # (4,194,304 - 8,192 ops) // 1,024 tasks: 2,696 for ResNet-50's 175 ops; on 4,096 cores it splits its first op
    # over more units than that, each of which builds at least one compute task: refused with the budget's one-line
    # error (it ran on for minutes, building every op's candidates over every core count)
    import re

    from accelsim.api import run_experiment
    from accelsim.config import experiment_from_parts

    spec = experiment_from_parts("resnet50", "multicore-4",
                                 overrides=["arch.cores=4096", "options.memory_budget=4MiB"])
    # named at the key that set the budget; the fewest tasks the units allow, so no coarser tiling is advised
    with pytest.raises(MappingError, match=r"^--set options\.memory_budget=4MiB: this pass needs more than [\d,]+ "
                                           r"tasks, the fewest its ops' units allow, \(at op .*options\.memory_budget "
                                           r"\(4,194,304 B at ~1024 B a task, after ~8192 B for each of its [\d,]+ ops\) "
                                           r"holds") as e:
        run_experiment(spec)
    assert "\n" not in str(e.value) and "coarsen" not in str(e.value)
    tasks, ops = (int(x.replace(",", "")) for x in re.search(r"more than ([\d,]+) tasks.* its ([\d,]+) ops",
                                                             str(e.value)).groups())
    assert tasks == (4_194_304 - 8192 * ops) // 1024 and ops == len(build_graph(spec.workload, spec.arch.dtype).ops)


def test_the_early_budget_check_never_refuses_a_pass_that_fits():
    # the check as ops take their units counts tasks a pass builds at least (one compute task per unit of a
    # split op), so a budget of exactly the pass's T tasks still lowers it, and T - 1 is refused (by either check)
    # (the budget holds the ops' OP_BYTES each beside the tasks)
    from accelsim.mapping.lower import lower
    from accelsim.options import OP_BYTES, TASK_BYTES

    from ..conftest import make_arch, mlp_graph

    g, arch = mlp_graph(layers=2), make_arch(cores=4)
    tg = lower(g, arch, Options())
    tasks, ops = len(tg), len(g.ops) * OP_BYTES
    assert tg.ops[0].mapping["units"] == 4  # (fc0 split over the 4 cores: the early check counts 4 for it)
    assert len(lower(g, arch, Options(memory_budget=ops + tasks * TASK_BYTES))) == tasks
    with pytest.raises(MappingError, match=f"more than {tasks - 1:,} tasks"):
        lower(g, arch, Options(memory_budget=ops + (tasks - 1) * TASK_BYTES))


def test_the_candidates_on_cores_holding_inputs_stay_o1_each(monkeypatch):
    # with activation residency weighed (choice._Residency), an op's candidates are 1 to all units of the core that
    # frees first, 1 to all units of each core holding some of its inputs, and 2 to all whole cores; each is one
    # estimate, and the chosen one-core count is priced twice more (with and without its store). bert_base on
    # tpu-v4 with 64 cores (4 MXUs or 1 vector unit a core): an op reading inputs from h cores makes at most
    # per_core · (1 + h) + 63 + 2 estimates (75 + 2 for a GEMM with h = 2), not a number per core and unit
    import collections

    arch = load_arch("tpu-v4", ["arch.cores=64"])
    plans = _plans({"model": "bert_base", "seq_len": 128}, arch)
    calls: collections.Counter = collections.Counter()
    bounds: dict[str, int] = {}
    estimate, split_units = choice.split_estimate, choice._split_units

    def counting(p, *args, **kwargs):
        calls[p.op.name] += 1
        return estimate(p, *args, **kwargs)

    def bounded(p, cores, free, ready, arch, options, estimates, on_chip=None, within_core=False, lead=math.inf):
        homes = len(on_chip.homes) if on_chip is not None else 0
        bounds[p.op.name] = len(cores[0]) * (1 + homes) + len(cores) - 1 + 2
        return split_units(p, cores, free, ready, arch, options, estimates, on_chip, within_core, lead)

    monkeypatch.setattr(choice, "split_estimate", counting)
    monkeypatch.setattr(choice, "_split_units", bounded)
    monkeypatch.setattr(choice, "_ESTIMATES", [(None, {})])  # (none kept from an earlier test)
    choice.assign(plans, build_units(arch), Options(), arch, None)
    assert len(bounds) > 100 and all(calls[name] <= bound for name, bound in bounds.items())
    assert max(calls.values()) > 63  # (the whole-core counts were estimated, not found in a cache)
    assert any(b > 4 + 63 + 2 for b in bounds.values())  # some op read inputs kept on a core
