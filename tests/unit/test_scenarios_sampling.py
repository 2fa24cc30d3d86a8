"""Sampling in composed scenarios (accelsim.scenarios.sampling): decode-step interpolation weights and the affine
extrapolation of a pipeline stage's identical layers, on hand-made passes with hand-computed figures."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from accelsim.scenarios.passes import Pass, Timing, Work
from accelsim.scenarios.sampling import (
    affine,
    affine_table,
    affine_timing,
    decode_samples,
    extrapolate_layers,
    interpolate,
    interpolation_weights,
    pass_scales,
    placement_changes,
    with_changes,
)
from accelsim.tasks import Task, TaskKind

UNITS = ("core0.systolic0", "hbm")


def _timing(cycles: int, **kw) -> Timing:
    base = dict(seconds=cycles / 1e9, launch_s=0.0, params=0, model_params=0, phases={}, memory={}, placement={})
    return Timing(cycles=cycles, **{**base, **kw})


def _pass(ops: dict[str, tuple[int, int, list[float]]], cycles: int = 1000) -> Pass:
    """A pass with ops name → (macs, hbm stall cycles, busy cycles per unit)."""
    rows = [{"name": n, "macs": m, "flops": 2 * m, "bytes": {"hbm": m}, "stall_cycles": s,
             "stalls_by_level": {"hbm": s}, "start_cycle": 0, "end_cycle": 1, "mapping": {}}
            for n, (m, s, _) in ops.items()]
    # one task per op and unit it kept busy, of that many cycles
    tasks = [(i, j, c) for i, (_, _, busy) in enumerate(ops.values()) for j, c in enumerate(busy) if c]
    tg = SimpleNamespace(tasks=[Task(k, i, TaskKind.COMPUTE, j, c) for k, (i, j, c) in enumerate(tasks)], ops=rows)
    report = {"ops": rows, "total_cycles": cycles, "params": 0}
    return Pass(report, tuple(Work.of_row(r) for r in rows), UNITS, _timing(cycles), 1, 1, tg)


def test_pass_scales_add_up_to_the_steps():
    # 5 steps, 0, 2 and 4 simulated: step 1 = ½·s0 + ½·s2, step 3 = ½·s2 + ½·s4, so s0 stands for 1.5 steps,
    # s2 for 2, s4 for 1.5
    weights = interpolation_weights(5, [0, 2, 4])
    assert weights == [[(0, 1.0)], [(0, 0.5), (1, 0.5)], [(1, 1.0)], [(1, 0.5), (2, 0.5)], [(2, 1.0)]]
    assert pass_scales(weights, 3) == [1.5, 2.0, 1.5]
    # 128 steps, 8 simulated at 0, 18, …, 127: gaps of 18 steps hold 17 interpolated steps whose weights toward
    # each end sum to (1 + … + 17)/18 = 8.5; the 54 → 73 gap (19) holds 18 summing to 9 each way
    scales = pass_scales(interpolation_weights(128, decode_samples(128, 8)), 8)
    assert scales[0] == pytest.approx(1 + 8.5) and scales[3] == pytest.approx(1 + 8.5 + 9)
    assert sum(scales) == pytest.approx(128)


def test_interpolate_gives_the_weights_values_and_scales_to_the_bit():
    # interpolate computes the steps between two simulated ones together, without a row of weights per step: each
    # step's value round(Σ w · value) and each pass's scale must be exactly what interpolation_weights and
    # pass_scales give, for every way decode_samples spreads the samples (a single hand-made sample: all steps take its
    # value; a hand-made spread not from step 0 extrapolates the first gap backwards, as the weights do)
    import random

    rng = random.Random(7)
    cases = [(5, [0, 2, 4]), (128, decode_samples(128, 8)), (10, [9]), (7, list(range(7))), (9, [3, 5, 8])]
    cases += [(n, decode_samples(n, k)) for n, k in ((1, 8), (3, 2), (1000, 8), (999, 7), (12_345, 3))]
    for steps, sampled in cases:
        values = [rng.randrange(10_000, 10_000_000) for _ in sampled]
        weights = interpolation_weights(steps, sampled)
        cycles, scales = interpolate(steps, sampled, values)
        assert cycles == [round(sum(w * values[j] for j, w in row)) for row in weights]
        assert scales == pass_scales(weights, len(sampled))  # the same floats, not merely close
    # 5 steps, 0, 2 and 4 simulated at 100, 200 and 400 cycles: steps 1 and 3 are 150 and 300
    assert interpolate(5, [0, 2, 4], [100, 200, 400]) == ([100, 150, 200, 300, 400], [1.5, 2.0, 1.5])
    assert interpolate(0, [], []) == ([], [])


def test_placement_changes_finds_every_change_between_probes():
    # a made-up placement over 1000 steps: a KV tensor leaves HBM at 400, another at 401 and a third at 777; probes
    # at 0, 999/32 · i, …, 999 and a bisection between two that differ find each step whose placement differs from
    # the step before, with ~log2(1000/32) extra calls per change
    def placed(s: int) -> tuple[bool, bool, bool]:
        return s >= 400, s >= 401, s >= 777

    calls: list[int] = []
    assert placement_changes(1000, lambda s: calls.append(s) or placed(s)) == [400, 401, 777]
    assert len(calls) == len(set(calls)) < 33 + 3 * 6  # each step computed once
    assert placement_changes(1000, lambda s: (False,)) == []
    assert placement_changes(3, lambda s: s) == [1, 2]  # 3 steps, all probed
    # the samples gain both ends of every placement segment: interpolation never crosses a change
    assert with_changes([0, 333, 666, 999], [400, 401, 777]) == [0, 333, 399, 400, 401, 666, 776, 777, 999]


def test_two_decode_samples_match_every_step_across_a_kv_spill():
    # llama2_7b cut to 2 layers, batch 16, a 512-token prompt and 64 decode steps on an H100 whose HBM holds 1358 MB:
    # the KV caches (4 tensors of 16 · kv · 4096 · 2 B: 67.1 MB at kv 512, +131,072 B a step each) outgrow HBM
    # mid-run and layer 1's V cache moves to host memory, so a step's time jumps (its V read over PCIe, 63 GB/s,
    # not HBM's 3,350 GB/s). Two samples used to interpolate steps 0 … 63 on one straight line through that jump.
    from accelsim.api import simulate
    from accelsim.config import build_graph, load_arch, load_options, load_workload
    from accelsim.mapping import placement

    wl = {"model": "llama2_7b", "batch": 16, "seq_len": 512, "layers": 2, "decode_steps": 64}
    mb = 1358 * 10**6
    arch = load_arch({"base": "h100", "hbm": {"capacity": mb}})
    full = simulate(wl, arch, decode_samples=0, plots=False).to_dict()["serving"]
    two = simulate(wl, arch, decode_samples=2, plots=False).to_dict()["serving"]
    v = "model.layers.1.self_attn.v_cache"

    def level(kv: int, hbm: int = mb) -> str:
        a = load_arch({"base": "h100", "hbm": {"capacity": hbm}})
        spec = load_workload({**wl, "phase": "decode", "kv_len": kv, "decode_steps": 0})
        return placement(build_graph(spec, a.dtype), a, load_options(None, {}))[v]

    first, *spill, last = two["decode_steps_simulated"]
    assert (first, last) == (0, 63) and len(spill) == 2 and spill[1] == spill[0] + 1 and 0 < spill[0] < 62
    s = spill[1]  # the first step whose V cache no longer fits HBM, and the one before it, are both simulated
    assert (level(512 + s - 1), level(512 + s)) == ("hbm", "host")
    # raising HBM by 10 steps' KV growth (4 tensors · 16 · 4096 · 2 B = 524,288 B a step) moves the spill 10 later
    assert (level(512 + s + 9, mb + 10 * 524_288), level(512 + s + 10, mb + 10 * 524_288)) == ("hbm", "host")
    steps = full["step_cycles"]
    assert steps[s] > 2 * steps[s - 1]  # the jump a straight line from step 0 to 63 smeared over the run
    # Within a placement segment a step's time is affine in the KV length but for whole-cycle rounding of its tasks
    # (a cycle or so a task, ~10⁻⁴ of a ~1.2 M-cycle step) and the HBM efficiency table's steps at 10 MB and 100 MB,
    # which no KV read here crosses (a cache of 16 · 512 … 575 · 4096 · 2 B = 67 … 75 MB): 10⁻³ of each step bounds it
    assert all(abs(a - b) <= 1e-3 * b for a, b in zip(two["step_cycles"], steps, strict=True))
    assert two["decode_cycles"] == pytest.approx(full["decode_cycles"], rel=1e-3)
    assert [two["step_cycles"][i] for i in (0, s - 1, s, 63)] == [steps[i] for i in (0, s - 1, s, 63)]


def test_affine_extrapolates_from_one_and_two():
    # f(1) = 10, f(2) = 14: f(n) = 10 + 4·(n − 1), f(5) = 26; ints stay ints, floats stay floats
    assert affine(10, 14, 5) == 26 and isinstance(affine(10, 14, 5), int)
    assert affine(0.5, 0.75, 3) == pytest.approx(1.0)
    table = affine_table({"hbm": {"used": 100, "fraction": 0.1}, "name": "x"},
                         {"hbm": {"used": 150, "fraction": 0.15, "new": 7}, "name": "y"}, 4)
    assert table == {"hbm": {"used": 250, "fraction": pytest.approx(0.25), "new": 7}, "name": "y"}
    t = affine_timing(_timing(1000, params=10, model_params=100, phases={"backward": {"end_cycle": 800}}),
                      _timing(1600, params=16, model_params=160, phases={"backward": {"end_cycle": 1300}}), 3)
    assert (t.cycles, t.params, t.model_params, t.compute_end, t.optimizer_tail) == (2200, 22, 220, 1800, 400)


def test_layer_rows_add_up_to_the_affine_totals():
    # 1-layer run S: embed (stalls 10) + layer 0 (mlp: 100 MACs, stalls 30)
    # 2-layer run: embed (stalls 12) + first layer F (mlp: 100 MACs, stalls 40; add_mlp.grad, stalls 2, only in a
    # layer feeding another) + last layer L (mlp: 100 MACs, stalls 35)
    one = _pass({"embed": (0, 10, [0, 5]), "layers.0.mlp": (100, 30, [50, 20])})
    two = _pass({"embed": (0, 12, [0, 6]), "layers.0.mlp": (100, 40, [50, 22]), "layers.0.add_mlp.grad": (0, 2, [0, 1]),
                 "layers.1.mlp": (100, 35, [50, 21])})
    rows = extrapolate_layers(one, two, 5)
    # embed: 10 + 4·(12 − 10) = 18. A middle layer's op = F + L − S: mlp 40 + 35 − 30 = 45, add_mlp.grad 2 + 0 − 0;
    # F's row stands for F and 3 middle layers: 40 + 3·45 = 175 and 2 + 3·2 = 8; L's row is L: 35
    assert [w.stall_cycles for w in rows.work] == [18, 175, 8, 35]
    assert rows.counts == (1, 4, 4, 1)
    # the affine total: T₁ = 40, T₂ = 89, T₁ + 4·(T₂ − T₁) = 236 = 18 + 175 + 8 + 35
    assert sum(w.stall_cycles for w in rows.work) == 40 + 4 * (89 - 40)
    assert sum(w.macs for w in rows.work) == 5 * 100  # five layers' MLPs
    # busy cycles the same way: hbm T₁ = 25, T₂ = 50 → 25 + 4·25 = 125; the array 50 per layer → 250
    assert rows.busy.sum(axis=0).tolist() == [250.0, 125.0]


def test_extrapolated_stalls_are_never_negative():
    # an op outside the layers that stalled less with 2 layers: 50 + 4·(10 − 50) < 0 is clamped to 0
    one = _pass({"embed": (0, 50, [0, 0]), "layers.0.mlp": (100, 0, [50, 0])})
    two = _pass({"embed": (0, 10, [0, 0]), "layers.0.mlp": (100, 0, [50, 0]), "layers.1.mlp": (100, 0, [50, 0])})
    assert extrapolate_layers(one, two, 5).work[0].stalls == {"hbm": 0}
