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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), help="run one case in this process and print JSON")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--profile", choices=sorted(CASES), help="profile one case and print the top functions")
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
        print(json.dumps(measure(args.case, args.repeat)))
        return
    print(f"{'case':38} {'cold s':>8} {'best s':>8} {'tasks':>8} {'events':>8} {'events/s':>10} {'RSS MB':>8} {'cycles':>12}")
    for case in CASES:
        out = subprocess.run([sys.executable, __file__, "--case", case, "--repeat", str(args.repeat)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out)
        print(f"{case:38} {r['cold_s']:8.3f} {r['wall_s']:8.3f} {r['tasks']:8d} {r['events']:8d} {r['events_per_s']:10.0f} "
              f"{r['peak_rss_mb']:8.1f} {r['total_cycles']:12d}")


if __name__ == "__main__":
    main()
