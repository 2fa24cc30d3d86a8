"""Simulator speed and memory: wall seconds, tasks, events per second and peak RSS per case.

    python benchmarks/speed.py            # every case, each in a fresh process (so RSS is its own)
    python benchmarks/speed.py --profile resnet50_tpu_v1   # cProfile top functions of one case
    python benchmarks/speed.py --energy-overhead --repeat 10   # each case with and without energy accounting

Targets (issue 3): ResNet-18 on SCALE-Sim's 128×128 WS config ≤ 0.5 s (SCALE-Sim 3.0 takes ~175 s for its 21
layers on this kind of machine), ResNet-50 on tpu-v1 with the full memory model ≤ 1 s, peak RSS ≤ 300 MB.
Wall time covers build → map → simulate → report dict (no files), after imports: "cold" is the first run in a
fresh process (preset files read, cost caches empty), "best" the fastest of --repeat runs.

``--energy-overhead`` (issue 13: energy accounting adds under 10 %) times every case as is and with the arch's
``energy:`` block removed before validation (energy, power and area null, as for an arch without one), alternating
one run of each in turn (3 × --repeat of each), and prints both bests (wall and the process's CPU seconds) and
the difference in % of the CPU bests (CPU time is what the accounting adds; it is less disturbed than wall time
by other processes on a busy machine), and "in account": the share of the runs with energy spent inside
``accelsim.energy.account`` (with the peak-power window it computes), timed in the run, so it holds on a busy
machine too.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent
CASES = {
    # name: (workload, arch) for accelsim.simulate, or ("experiment", path), or ("scalesim", cfg, topology)
    "resnet18_scalesim128": ("resnet18", "scalesim-128x128"),
    "resnet50_tpu_v1": ("resnet50", "tpu-v1"),
    "mobilenet_v2_edge_npu": ("mobilenet_v2", "edge-npu"),
    "resnet152_tpu_v1": ("resnet152", "tpu-v1"),
    # issue 4: SCALE-Sim 3.0 needs 827 s and 8 GB for these 21 GEMVs on a 128x128 OS array; target ≤ 0.2 s
    "llama2_7b_decode_gemv_scalesim128_os": ("scalesim", DATA / "scalesim_128x128_os.cfg",
                                             DATA / "llama2_7b_decode_3layers_gemv.csv"),
    # issue 5: DLRM batch 2048 on tpu-v4, target ≤ 2 s; GCN on an ogbn-products-sized graph, target ≤ 5 s
    "dlrm_tpu_v4": ("experiment", ROOT / "experiments" / "dlrm_tpu_v4.yaml"),
    "gcn_ogbn_products_tpu_v4": ("workload", "gcn_cora",
                                 ["nodes=2449029", "edges=61859140", "features=100", "classes=47"], "tpu-v4"),
    # issue 5: a ResNet-50 training step (Adam) on tpu-v1; target ≤ 3 s
    "resnet50_training_tpu_v1": ("workload", "resnet50", ["mode=training"], "tpu-v1"),
    # issue 4: prefill 2048 + 128 decode steps on tpu-v4; target ≤ 5 s, ≤ 500 MB
    "llama2_7b_serving_tpu_v4": ("experiment", ROOT / "experiments" / "llama2_7b_serving_tpu_v4.yaml"),
    # issue 14: Mixtral-8x7B (hf, MoE) prefill 2048 + 128 decode steps on dgx-h100; target ≤ 10 s
    "mixtral_8x7b_serving_dgx_h100": ("workload", "mixtral_8x7b", ["seq_len=2048", "decode_steps=128"], "dgx-h100"),
    # pipeline parallelism: 3 distinct stages x 2 layer samples of GPT-3 175B, TP8 x PP8, on GPU presets
    "gpt3_175b_training_selene": ("experiment", ROOT / "experiments" / "gpt3_175b_training_selene.yaml"),
}


def _run_case(case: str):
    from accelsim import api, config

    spec = CASES[case]
    if spec[0] == "experiment":
        return api.run_experiment(config.load_experiment(spec[1]))
    if spec[0] == "workload":
        return api.simulate(config.load_workload(spec[1], spec[2]), spec[3])
    if spec[0] == "scalesim":
        from accelsim.config.scalesim import load_scalesim
        from accelsim.options import Options

        arch, graph = load_scalesim(spec[1], spec[2])
        return api.run(graph, arch, Options(activations_on_chip=False), name=case)
    return api.simulate(*spec)


class _EnergyTimer:
    """Times every call of ``accelsim.energy.account`` (the peak-power window it calls included) wherever a
    module imported it, and can remove an arch's ``energy:`` block before validation."""

    def __init__(self) -> None:
        from accelsim.config import load
        from accelsim.energy import model

        self.seconds = 0.0
        self._load, self._from_doc, self._account = load, load.arch_from_doc, model.account
        self._users = [m for m in list(sys.modules.values()) if getattr(m, "account", None) is model.account]

    def _timed_account(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self._account(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0

    def _without_energy(self, doc):
        from accelsim.config.yamlio import Doc

        if isinstance(doc.data, dict):
            doc = Doc({k: v for k, v in doc.data.items() if k != "energy"}, doc.where)
        return self._from_doc(doc)

    def run(self, case: str, *, energy: bool) -> tuple[float, float, object]:
        """(wall, CPU) seconds and the Report of one run of ``case``, as is or with the arch's ``energy:`` block
        removed before validation (its validation and the accounting both left out: energy, power and area null)."""
        for m in self._users:
            m.account = self._timed_account
        if not energy:
            self._load.arch_from_doc = self._without_energy
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            report = _run_case(case)
            return time.perf_counter() - t0, time.process_time() - c0, report
        finally:
            self._load.arch_from_doc = self._from_doc
            for m in self._users:
                m.account = self._account


def energy_overhead(case: str, repeat: int) -> dict:
    """Best seconds of ``case`` with and without energy accounting over ``3 * repeat`` runs of each, alternating
    one with and one without (so a busy spell of the machine falls on both), and the share of the runs with
    energy spent inside the accounting."""
    import accelsim.api  # noqa: F401  (imports are not part of the figure)
    import accelsim.config.scalesim  # noqa: F401

    _run_case(case)  # preset files read, cost caches warm for both
    timer = _EnergyTimer()
    on = off = (math.inf, math.inf)
    wall_on = 0.0
    for _ in range(3 * repeat):
        t = timer.run(case, energy=True)[:2]
        wall_on += t[0]
        on = tuple(map(min, on, t))
        off = tuple(map(min, off, timer.run(case, energy=False)[:2]))
    return {"case": case, "with_s": on[0], "without_s": off[0], "with_cpu_s": on[1], "without_cpu_s": off[1],
            "overhead_pct": 100 * (on[1] - off[1]) / off[1], "in_account_pct": 100 * timer.seconds / wall_on}


def measure(case: str, repeat: int) -> dict:
    import accelsim.api  # noqa: F401  (imports are not part of the figure)
    import accelsim.config.scalesim  # noqa: F401

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        report = _run_case(case)
        times.append(time.perf_counter() - t0)
    cold, best = times[0], min(times)
    sim = report.to_dict()["simulation"]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": case, "cold_s": cold, "wall_s": best, "tasks": sim["tasks"], "events": sim["events"],
            "events_per_s": sim["events"] / best, "peak_rss_mb": rss_mb,
            "total_cycles": report.total_cycles}


def _subprocess(case: str, repeat: int, *flags: str) -> dict:
    """One case's JSON line, measured in a fresh process (so its RSS and cold time are its own)."""
    out = subprocess.run([sys.executable, __file__, "--case", case, "--repeat", str(repeat), *flags],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), help="run one case in this process and print JSON")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--profile", choices=sorted(CASES), help="profile one case and print the top functions")
    ap.add_argument("--energy-overhead", action="store_true",
                    help="time each case with and without energy accounting (best of 3 × --repeat runs of each)")
    ap.add_argument("--only", nargs="+", choices=sorted(CASES), metavar="CASE", help="run only these cases")
    args = ap.parse_args()
    if args.profile:
        import cProfile
        import pstats

        _run_case(args.profile)  # warm caches of imports
        prof = cProfile.Profile()
        prof.enable()
        _run_case(args.profile)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return
    if args.case:
        print(json.dumps((energy_overhead if args.energy_overhead else measure)(args.case, args.repeat)))
        return
    cases = args.only or list(CASES)
    if args.energy_overhead:
        print(f"{'case':38} {'energy s':>9} {'none s':>9} {'energy cpu':>11} {'none cpu':>9} {'overhead':>9} "
              f"{'in account':>11}")
        for case in cases:
            r = _subprocess(case, args.repeat, "--energy-overhead")
            print(f"{case:38} {r['with_s']:9.4f} {r['without_s']:9.4f} {r['with_cpu_s']:11.4f} "
                  f"{r['without_cpu_s']:9.4f} {r['overhead_pct']:8.1f}% {r['in_account_pct']:10.1f}%")
        return
    print(f"{'case':38} {'cold s':>8} {'best s':>8} {'tasks':>8} {'events':>8} {'events/s':>10} {'RSS MB':>8} {'cycles':>12}")
    for case in cases:
        r = _subprocess(case, args.repeat)
        print(f"{case:38} {r['cold_s']:8.3f} {r['wall_s']:8.3f} {r['tasks']:8d} {r['events']:8d} {r['events_per_s']:10.0f} "
              f"{r['peak_rss_mb']:8.1f} {r['total_cycles']:12d}")


if __name__ == "__main__":
    main()
