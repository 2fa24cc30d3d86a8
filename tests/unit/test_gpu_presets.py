"""GPU presets (arch/a100, h100, mi210, dgx-a100, dgx-h100): each loads, and its derived peaks and capacities equal
the datasheet figures by hand (sources in the YAML comments and ../shared/reference/hardware/specs/).

The source-comment rule for every value line is checked for all presets in arch/ by
test_config.py::test_every_arch_preset_number_has_a_comment.
"""

from __future__ import annotations

import pytest

from accelsim.config import list_presets, load_arch

GPUS = ["a100", "h100", "mi210"]
DGX = {"dgx-a100": "a100", "dgx-h100": "h100"}
MiB, GiB = 2**20, 2**30


def tensor_flops(arch) -> float:
    """Dense tensor FLOP/s: 2 (multiply + add) x MACs per clock of every array x clock."""
    return 2 * arch.peak_macs_per_cycle * arch.clock_hz


def test_presets_are_listed():
    assert set(GPUS) | set(DGX) <= set(list_presets("arch"))


@pytest.mark.parametrize("name", [*GPUS, *DGX])
def test_gpu_preset_loads_as_a_gpu(name):
    arch = load_arch(name)
    assert arch.name == name and arch.dtype == "bf16"
    sa = arch.core.systolic
    assert sa.dataflow == "os" and sa.count == 1 and not sa.preload_overlap
    assert arch.core.tile is not None and (arch.core.tile.m, arch.core.tile.n) == (128, 128)
    assert arch.core.sram.unified is not None and arch.core.sram.double_buffered
    assert arch.l2 is not None and arch.l2.access_bytes == 128
    assert arch.hbm.efficiency == 0.9 and arch.host is not None
    assert arch.kernel_launch > 0


def test_a100_matches_the_datasheet():
    arch = load_arch("a100")
    # 2 x 108 SMs x 1024 FMA/clk x 1.41 GHz = 311.87 TFLOPS vs the datasheet's 312 (within 0.1 %)
    assert arch.cores == 108 and arch.core.systolic.macs_per_cycle == 1024
    assert tensor_flops(arch) == pytest.approx(2 * 108 * 1024 * 1.41e9)
    assert tensor_flops(arch) == pytest.approx(312e12, rel=1e-3)
    # 512 fp16 FLOP/clk/SM x 108 x 1.41 GHz = 78 TFLOPS non-tensor
    assert arch.core.vector.lanes * arch.cores * arch.clock_hz == pytest.approx(78e12, rel=1e-2)
    assert arch.core.sram.unified == 164 * 1024
    assert arch.l2.capacity == 40 * MiB
    assert arch.bytes_per_cycle("l2") == pytest.approx(5120)  # LLMCompass's l2_bytes_per_cycle
    assert arch.hbm.capacity == 80 * GiB and arch.hbm.bandwidth == 2039e9
    assert arch.host.bandwidth == pytest.approx(16e9 * 128 / 130 * 16 / 8, rel=1e-3)
    assert arch.kernel_launch == pytest.approx(21e-6)
    assert arch.chips == 1 and arch.interconnect is None


def test_h100_matches_the_datasheet():
    arch = load_arch("h100")
    # 2 x 132 SMs x 2048 FMA/clk x 1.83 GHz = 989.43 TFLOPS vs the datasheet's 989.4 (within 1 %)
    assert arch.cores == 132 and arch.core.systolic.macs_per_cycle == 2048
    assert tensor_flops(arch) == pytest.approx(2 * 132 * 2048 * 1.83e9)
    assert tensor_flops(arch) == pytest.approx(989.4e12, rel=1e-2)
    # the fp16 non-tensor peak is quoted at the 1980 MHz max boost: 512 x 132 x 1.98 GHz = 133.8 TFLOPS
    assert arch.core.vector.lanes * arch.cores * 1.98e9 == pytest.approx(133.8e12, rel=1e-3)
    assert arch.core.sram.unified == 228 * 1024
    assert arch.l2.capacity == 50 * MiB
    # the A100's per-SM L2 bytes per clock kept: 5120 / 108 x 132
    assert arch.bytes_per_cycle("l2") == pytest.approx(5120 / 108 * 132, rel=1e-4)
    assert arch.hbm.capacity == 80 * GiB and arch.hbm.bandwidth == 3350e9
    assert arch.host.bandwidth == pytest.approx(32e9 * 128 / 130 * 16 / 8, rel=1e-3)
    assert arch.chips == 1 and arch.interconnect is None


def test_mi210_matches_the_datasheet():
    arch = load_arch("mi210")
    # 2 x 104 CUs x 512 FMA/clk x 1.7 GHz = 181.04 TFLOPS vs the datasheet's 181 (within 1 %)
    assert arch.cores == 104 and arch.core.systolic.macs_per_cycle == 512
    assert tensor_flops(arch) == pytest.approx(2 * 104 * 512 * 1.7e9)
    assert tensor_flops(arch) == pytest.approx(181e12, rel=1e-2)
    assert arch.core.sram.unified == 64 * 1024
    assert arch.l2.capacity == 8 * MiB
    assert arch.hbm.capacity == 64 * GiB and arch.hbm.bandwidth == pytest.approx(4096 * 3.2e9 / 8)
    assert arch.kernel_launch == pytest.approx(34e-6)
    assert arch.chips == 1 and arch.interconnect is None


@pytest.mark.parametrize(("name", "base", "per_direction"), [("dgx-a100", "a100", 300e9), ("dgx-h100", "h100", 450e9)])
def test_dgx_is_eight_base_gpus_on_nvswitch(name, base, per_direction):
    dgx, gpu = load_arch(name), load_arch(base)
    assert dgx.chips == 8
    assert dgx.interconnect is not None and dgx.interconnect.topology == "fully_connected"
    assert dgx.interconnect.bandwidth == per_direction
    assert dgx.interconnect.latency == pytest.approx(8.92e-6)
    own = {"name", "description", "chips", "interconnect"}
    assert dgx.model_dump(exclude=own) == gpu.model_dump(exclude=own)  # everything else inherited from the base
