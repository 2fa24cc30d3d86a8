"""Multi-core scaling: ResNet-50 and BERT-base on the multicore-4 preset with 1, 2 and 4 cores.

    python benchmarks/scaling.py

Prints total cycles, speed-up and parallel efficiency (speed-up / cores) at the preset's HBM bandwidth and with
HBM bandwidth unbounded: with bandwidth unbounded the cores scale with the work split; at the real bandwidth the
shared HBM caps the speed-up, so efficiency falls (tests/integration/test_workload_invariants.py checks that it
does).
"""

from __future__ import annotations

from accelsim import simulate
from accelsim.config import load_arch, load_workload

WORKLOADS = {"resnet50": [], "bert_base": ["seq_len=128", "batch=8"]}


def main() -> None:
    print(f"{'workload':10} {'hbm':>10} {'cores':>5} {'cycles':>12} {'speed-up':>9} {'efficiency':>10}")
    for name, params in WORKLOADS.items():
        wl = load_workload(name, params)
        for bandwidth in ("409.6GB/s", "inf"):
            base = None
            for cores in (1, 2, 4):
                arch = load_arch("multicore-4", [f"cores={cores}", f"hbm.bandwidth={bandwidth}"])
                cycles = simulate(wl, arch).total_cycles
                base = base or cycles
                print(f"{name:10} {bandwidth:>10} {cores:5d} {cycles:12d} {base / cycles:9.2f} "
                      f"{base / cycles / cores:10.2f}")


if __name__ == "__main__":
    main()
