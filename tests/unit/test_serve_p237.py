"""Probe p237 #2: the H200's KV cache sized from the memory its driver reports (arch/h200.yaml's
``usable_fraction``), as vLLM budgets ``gpu_memory_utilization`` x ``cudaMemGetInfo``'s total (docs/serving.md)."""

from __future__ import annotations

import pytest

from accelsim.config import load_arch
from accelsim.config.serving import EngineConfig
from accelsim.serving.cost import Footprint, kv_blocks

# the lent H200's total: benchmarks/data/measured/h200_sxm/verbatim/run1/env.txt, "mem 150109880320"
# (torch.cuda.get_device_properties(0).total_memory, written by benchmarks/kernels/measure_gpu.py)
H200_TOTAL = 150_109_880_320


def test_h200_usable_memory_is_the_measured_total():
    for name in ("h200", "dgx-h200"):
        arch = load_arch(name)
        hbm = arch.memory(arch.main_memory)
        assert hbm.capacity == 141 * 2**30 == 151_397_597_184
        assert hbm.usable == pytest.approx(H200_TOTAL, abs=1)


@pytest.mark.parametrize(("footprint", "block_size", "blocks"), [
    # LLaMA-2-7B: 6,738,415,616 parameters x 2 B = 13,476,831,232 B; 32 layers x 2 x 32 heads x 128 x 2 B = 524,288 B
    # a token. (0.9 x 150,109,880,320 - 13,476,831,232) / (16 x 524,288) = 121,622,061,056 / 8,388,608 = 14,498.5
    # -> 14,498 (141 GiB gave (136,257,837,465.6 - 13,476,831,232) / 8,388,608 = 14,636.7 -> 14,636)
    (Footprint(weight_bytes=6_738_415_616 * 2, kv_bytes_per_token=32 * 2 * 32 * 128 * 2), 16, 14_498),
    # the deepseek_v3_dgx_h200 preset: 85,247,375,360 B of weights a GPU, the latent cache 70,272 B a token (probe
    # p237's figures, the preset file's comment): (135,098,892,288 - 85,247,375,360) / (64 x 70,272) = 49,851,516,928
    # / 4,497,408 = 11,084.5 -> 11,084 (141 GiB: 11,342)
    (Footprint(weight_bytes=85_247_375_360, kv_bytes_per_token=70_272), 64, 11_084),
])
def test_h200_kv_blocks_follow_vllms_rule(footprint, block_size, blocks):
    engine = EngineConfig(gpu_memory_fraction=0.9, block_size=block_size)
    assert kv_blocks(footprint, load_arch("h200"), engine) == blocks
