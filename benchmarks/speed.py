"""Simulator speed and memory: wall seconds, tasks, events per second and peak RSS per case.

    python benchmarks/speed.py            # every case, each in a fresh process (so RSS is its own)
    python benchmarks/speed.py --profile resnet50_tpu_v1   # cProfile top functions of one case

Targets (issue 3): ResNet-18 on SCALE-Sim's 128×128 WS config ≤ 0.5 s (SCALE-Sim 3.0 takes ~175 s for its 21
layers on this kind of machine), ResNet-50 on tpu-v1 with the full memory model ≤ 1 s, peak RSS ≤ 300 MB.
Wall time covers build → map → simulate → report dict (no files), after imports: "cold" is the first run in a
fresh process (preset files read, cost caches empty), "best" the fastest of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CASES = {
    "resnet18_scalesim128": ("resnet18", "scalesim-128x128"),
    "resnet50_tpu_v1": ("resnet50", "tpu-v1"),
    "mobilenet_v2_edge_npu": ("mobilenet_v2", "edge-npu"),
    "resnet152_tpu_v1": ("resnet152", "tpu-v1"),
}


def measure(case: str, repeat: int) -> dict:
    from accelsim import simulate

    workload, arch = CASES[case]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        report = simulate(workload, arch)
        times.append(time.perf_counter() - t0)
    cold, best = times[0], min(times)
    sim = report.to_dict()["simulation"]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": case, "cold_s": cold, "wall_s": best, "tasks": sim["tasks"], "events": sim["events"],
            "events_per_s": sim["events"] / best, "peak_rss_mb": rss_mb,
            "total_cycles": report.total_cycles}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), help="run one case in this process and print JSON")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", choices=sorted(CASES), help="profile one case and print the top functions")
    args = ap.parse_args()
    if args.profile:
        import cProfile
        import pstats

        from accelsim import simulate

        simulate(*CASES[args.profile])  # warm caches of imports
        prof = cProfile.Profile()
        prof.enable()
        simulate(*CASES[args.profile])
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return
    if args.case:
        print(json.dumps(measure(args.case, args.repeat)))
        return
    print(f"{'case':28} {'cold s':>8} {'best s':>8} {'tasks':>8} {'events':>8} {'events/s':>10} {'RSS MB':>8} {'cycles':>12}")
    for case in CASES:
        out = subprocess.run([sys.executable, __file__, "--case", case, "--repeat", str(args.repeat)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out)
        print(f"{case:28} {r['cold_s']:8.3f} {r['wall_s']:8.3f} {r['tasks']:8d} {r['events']:8d} {r['events_per_s']:10.0f} "
              f"{r['peak_rss_mb']:8.1f} {r['total_cycles']:12d}")


if __name__ == "__main__":
    main()
