"""The device's per-kernel cost in a CUDA graph (kernel_dispatch) and where a kernel's last store lands.

te42kyfo/gpu-benches (Ernst, NHR@FAU) gpu-small-kernels replays 10,000 dependent SCALE kernels (A = 0.25 B, fp64)
as one CUDA / HIP graph; its smallest size moves 4096 x 2 x 8 B = 64 KiB per kernel, at best (over block sizes)
49 GB/s on an A100-80 (a100_80_graph.txt @11f5daa), 52 GB/s on an H200 (h200_graph.txt @c35574e, the file's newest
version; 30 GB/s in its earlier @11f5daa), 70 GB/s on an L40 (l40_graph.txt @c35574e) and 32 GB/s on an MI210 under
ROCm 6.0 (mi210_rocm60_graph.txt @11f5daa): 65,536 B / bandwidth per kernel. The presets'
kernel_dispatch are derived from these (benchmarks/kernel_dispatch.py: the figure less the model's own cost of that
kernel), so a chain of such kernels must take those times, and a GPU kernel's stores must complete in its L2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from accelsim.config import load_arch, load_options
from accelsim.mapping.lower import lower
from accelsim.tasks import TaskKind

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from kernel_dispatch import KIB64, chain, per_kernel_s  # noqa: E402


@pytest.mark.parametrize(("arch", "best_gb_s"), [("a100", 49), ("h200", 52), ("l40s", 70), ("mi210", 32)])
def test_a_dependent_small_kernel_in_a_graph_costs_what_gpu_benches_measured(arch, best_gb_s):
    assert per_kernel_s(arch) == pytest.approx(KIB64 / (best_gb_s * 1e9), rel=0.01)


def test_the_h100_pays_the_dispatch_measured_on_its_die():
    # the H100 and the H200 are the same GH100 die: the H100's chain is the H200's 65,536 B / 52 GB/s = 1.260 us per
    # kernel (its own L2 and HBM figures move the kernel's load and store by < 0.01 us)
    assert load_arch("h100").kernel_dispatch == load_arch("h200").kernel_dispatch
    assert per_kernel_s("h100") == pytest.approx(KIB64 / 52e9, rel=0.01)


def test_a_gpu_kernels_last_store_waits_the_l2_not_hbm():
    a100 = load_arch("a100")
    graph = lower(chain(1), a100, load_options(None, {}))
    stores = [t for t in graph.tasks if t.kind is TaskKind.STORE]
    assert stores and all(t.level == a100.main_memory for t in stores)  # the bytes go to HBM ...
    # ... and each is done after the L2's latency: 200 ns x 1.41 GHz = 282 cycles (HBM's 600 ns would be 846)
    assert {t.latency for t in stores} == {282}


def test_a_measured_chain_derives_the_dispatch_without_changing_the_preset(capsys):
    # --measured h200=1.343 (benchmarks/data/measured/h200_sxm/kernels.csv dependent_scale_chain): the derived
    # dispatch is that time less the model's own kernel (the chain without dispatch); the preset keeps its value
    from kernel_dispatch import main

    assert main(["--measured", "h200=1.343"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    body = per_kernel_s(load_arch("h200").model_copy(update={"kernel_dispatch": 0.0}))
    assert row[0] == "h200" and float(row[1]) == pytest.approx(1.343)
    assert float(row[3]) == pytest.approx(1.343 - body * 1e6, abs=0.006)  # printed to 0.01 us
    assert float(row[4]) == pytest.approx(load_arch("h200").kernel_dispatch * 1e6, abs=0.006)
    assert main(["--measured", "h200=fast"]) == 2 and main(["--measured", "nogpu=1.0"]) == 2
