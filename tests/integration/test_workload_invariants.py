"""Physical invariants on real workloads and presets (builders + config + mapping + engine together)."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import load_arch
from accelsim.errors import MappingError


def test_halving_bandwidth_never_lowers_total_cycles_resnet18():
    previous = None
    for gbps in (400, 200, 100, 50, 25, 12.5, 6.25):
        arch = load_arch("edge-npu", [f"hbm.bandwidth={gbps}GB/s"])
        cycles = simulate("resnet18", arch).total_cycles
        if previous is not None:
            assert cycles >= previous, gbps
        previous = cycles


@pytest.mark.parametrize("arch_name", ["tpu-v1", "gemmini", "scalesim-32x32", "edge-npu"])
@pytest.mark.parametrize("fold", [False, True])
def test_hbm_bytes_cover_compulsory_traffic(arch_name, fold):
    report = simulate("mobilenet_v2", arch_name, fold_batchnorm=fold).to_dict()
    arch = load_arch(arch_name)
    elem = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}[arch.dtype]
    # every weight read once (3,504,872 params, torchvision), the 1×3×224×224 image read once and the
    # 1×1000 logits written once. Folding a batch norm merges its scale (C values) into the conv's weights,
    # so C params per norm are not loaded. torchvision's MobileNetV2 has 52 norms over 17,056 channels: stem 32;
    # block t=1: 32 + 16; 16 blocks of expand/depthwise/project (in·6, in·6, out): 216 + 312 + 1152 + 2944 +
    # 3360 + 5472 + 2240 (by stage); head 1280.
    bn_scales = 17_056 if fold else 0
    compulsory = (3_504_872 - bn_scales + 3 * 224 * 224 + 1000) * elem
    offchip = report["bytes"]["hbm"] + report["bytes"].get("host", 0)
    assert offchip >= compulsory
    assert report["total_cycles"] >= report["macs"] / arch.peak_macs_per_cycle


def test_workload_that_cannot_fit_is_a_mapping_error():
    arch = load_arch("edge-npu", ["hbm.capacity=1MiB", "host.capacity=1MiB"])
    with pytest.raises(MappingError, match=r"need \d+ B but hbm"):
        simulate("resnet50", arch)


def test_more_cores_never_slow_independent_branches():
    # GoogLeNet's inception branches are independent; with unbounded bandwidth 2 cores cannot be slower
    one = simulate("googlenet", load_arch("tpu-v1", ["hbm.bandwidth=inf"])).total_cycles
    two = simulate("googlenet", load_arch("tpu-v1", ["hbm.bandwidth=inf", "cores=2"])).total_cycles
    assert two <= one


@pytest.mark.parametrize("workload", ["resnet18", "mobilenet_v2"])
def test_more_sram_never_lowers_performance(workload):
    # more on-chip memory can only keep more operands or activations on chip: cycles never go up
    previous = None
    for kib in (64, 256, 1024, 4096, 16384):
        cycles = simulate(workload, load_arch("edge-npu", [f"core.sram.unified={kib}KiB"])).total_cycles
        if previous is not None:
            assert cycles <= previous, kib
        previous = cycles


def test_multicore_scaling_efficiency_drops_when_hbm_is_the_limit():
    # ResNet-50 on multicore-4: 4 cores vs 1, with the preset's shared 409.6 GB/s HBM and with HBM unbounded.
    # The four cores share one HBM server, so the bandwidth-limited speed-up must fall below the unbounded one.
    def speedup(bandwidth):
        one = simulate("resnet50", load_arch("multicore-4", ["cores=1", f"hbm.bandwidth={bandwidth}"]))
        four = simulate("resnet50", load_arch("multicore-4", ["cores=4", f"hbm.bandwidth={bandwidth}"]))
        return one.total_cycles / four.total_cycles

    limited, unbounded = speedup("409.6GB/s"), speedup("inf")
    assert 1 < limited < unbounded <= 4
