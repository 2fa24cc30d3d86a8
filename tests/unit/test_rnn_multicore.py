"""Small recurrent nets on several cores (mapping/choice.py, mapping/traffic.py; probe p67 findings 1 and 2).

The layer: GRU(128, 256) at batch 4, so each step's recurrent GEMM ``tN.hh`` is M = 4 (batch), N = 3·256 = 768
(the gates), K = 256 (hidden), bf16. multicore-4's cores each have one 64×64 weight-stationary array with preload
overlap, whose fold model (cost/folds.py) is R + (F − 1)·max(M, R) + M + R + C − 2 − 1 with F = F_r·F_c,
F_r = ⌈K/64⌉ and F_c = ⌈N/64⌉ (folds start max(M, R) apart; the last waits for no next preload, probe p169 #1):

* one core: F_r = 4, F_c = 12: 64 + 47·64 + 4 + 125 = 3,201 cycles;
* cut along N over 4 cores (192 columns each): F_c = 3: 64 + 11·64 + 4 + 125 = 897 cycles;
* cut along M over 4 cores (1 row each): still F_r·F_c = 48 folds of 64: 64 + 47·64 + 1 + 125 = 3,198 cycles,
  almost no gain.

From step 1 on, the step's weights (768 × 256 × 2 B = 393,216 B) stay in SRAM (choice._pin_recurrent_weights),
a quarter a core when the step is split: each core holds its own 192 columns, which is the cut along N. Before,
the split cut the step along M (its loaded B, the weights, was 0 B against A's 2,048 B), so every split step
computed 3,261 cycles on each core, moved more bytes, and more cores ran slower (150,755 / 188,880 / 183,665
cycles on 1 / 2 / 4 cores).
"""

from __future__ import annotations

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch


def _gru(bidirectional: bool = False, layers: int = 1, steps: int = 6):
    return build_workload("layers", {"input": [steps, 4, 128], "layers": [
        {"type": "gru", "name": "gru", "input_size": 128, "hidden_size": 256, "num_layers": layers,
         "bidirectional": bidirectional}]})


def _run(graph, cores: int, **options) -> dict:
    return accelsim.simulate(graph, load_arch("multicore-4", [f"arch.cores={cores}"]), **options).to_dict()


def test_a_split_recurrent_step_is_cut_along_its_columns():
    """Every step split over several cores is cut along N, 897 compute cycles (module docstring), never the
    3,201 of one core; a step after the first loads only h: 4 × 256 × 2 = 2,048 B read by each core (8,192 B),
    and writes its 4 × 768 × 2 = 6,144 B output: 14,336 B of HBM, its weights loading nothing."""
    report = _run(_gru(), 4, split_ops=True)
    steps = [o for o in report["ops"] if o["name"].endswith(".hh")]
    split = [o for o in steps if o["mapping"]["units"] == 4]
    assert split, "no step is split over the 4 cores"
    for o in split:
        assert o["mapping"]["split"] == "n" and o["compute_cycles"] == 897, o["name"]
        if o["name"] != "gru.l0.t0.hh":
            assert o["bytes"]["hbm"] == 4 * 2048 + 6144, o["name"]


def test_more_cores_never_slow_a_small_gru():
    """A chain of dependent M = 4 steps: more cores may help (the 897-cycle steps) but must never hurt."""
    graph = _gru(layers=2)
    times = [_run(graph, n)["total_cycles"] for n in (1, 2, 4)]
    assert times[1] <= times[0] and times[2] <= times[0], times


def test_the_two_directions_of_a_bidirectional_gru_run_side_by_side():
    """The forward and reverse chains read only the graph input: on 2 cores each runs on a core of its own (the plan
    that splits no op over cores, choice.assign_and_reside), so the pair takes well under twice one direction.
    Each chain is 6 dependent steps; split over both cores every step took both, so the reverse chain ran after the
    forward one (the two-core bigru of probe p67: 377,345 cycles; 260,708 once the steps were cut along N, against
    130,550 for one direction)."""
    one = _run(_gru(), 2)
    both = _run(_gru(bidirectional=True), 2)
    ops = {o["name"]: o for o in both["ops"]}
    fwd, rev = ops["gru.l0.t3.hh"], ops["gru.l0_reverse.t3.hh"]
    assert fwd["core"] is not None and rev["core"] is not None and fwd["core"] != rev["core"]
    # side by side: each chain's steps overlap the other's
    assert ops["gru.l0_reverse.t5.hh"]["start_cycle"] < ops["gru.l0.t5.hh"]["end_cycle"]
    assert both["total_cycles"] < 1.5 * one["total_cycles"]
