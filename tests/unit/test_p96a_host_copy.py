"""GraphSAGE's host-to-device copy ``sample.copy_features`` (``batch.to(device)``) is a DMA: its bytes cross the
host link and are written to HBM, with no scratchpad or L2 round trip (probe p96 #4: 4x its bytes at the
scratchpad, 2x at h100's L2). Sizes by hand: one graphsage_products mini-batch samples 1024 · 16 · 11 · 6 = 1,081,344
nodes (fanouts [15, 10, 5], PyG's NeighborSampler: each hop samples every node gathered so far, probe p136 #1) of
ogbn-products' 100 fp32 features (https://ogb.stanford.edu/docs/nodeprop/): 1,081,344 × 100 × 4 = 432,537,600 B."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config import load_arch

PACKED = 1024 * (1 + 15) * (1 + 10) * (1 + 5) * 100 * 4


def _copy(arch_name: str, **workload: object) -> tuple[dict, dict]:
    arch = load_arch(arch_name)
    # features_on: host (the host gathers x[n_id] and the packed rows cross the link; the default, device, does not)
    r = accelsim.simulate({"model": "graphsage_products", "features_on": "host", **workload}, arch).to_dict()
    return next(o for o in r["ops"] if o["name"] == "sample.copy_features"), r


@pytest.mark.parametrize("arch_name", ["tpu-v4", "h100"])
def test_the_copy_moves_its_bytes_over_the_link_into_hbm_only(arch_name):
    assert PACKED == 432_537_600
    copy, _ = _copy(arch_name)
    # before (NeighborLoader's 937,984 rows, 375,193,600 B): tpu-v4 {host, hbm, sram 1,500,774,400}; h100 also l2
    # 750,387,200
    assert copy["bytes"] == {"host": PACKED, "hbm": PACKED}
    assert copy["flops"] == 0 and copy["compute_cycles"] == 0
    # energy: the link's and HBM's bits only, both presets 6.5 pJ/bit (PCIe) + 3.9 pJ/bit (HBM):
    # 432,537,600 × 8 × 10.4 pJ = 35.987 mJ (before, at 375,193,600 B: 31.216 mJ, and tpu-v4 32.63 mJ with the
    # scratchpad's 1.5 GB × 0.943 pJ/B)
    arch = load_arch(arch_name)
    per_bit = arch.memory("host").energy_per_bit + arch.memory("hbm").energy_per_bit
    assert per_bit == pytest.approx(6.5 + 3.9)
    assert copy["energy_j"] == pytest.approx(PACKED * 8 * 10.4e-12, rel=1e-9)


def test_the_int8_copy_and_its_cast():
    # int8 features: 1,081,344 × 100 × 1 = 108,134,400 B copied; the cast on the device still reads and writes
    # through the scratchpad
    copy, r = _copy("tpu-v4", feature_dtype="int8")
    assert copy["bytes"] == {"host": PACKED // 4, "hbm": PACKED // 4}
    cast = next(o for o in r["ops"] if o["name"] == "sample.cast")
    assert cast["bytes"].get("sram", 0) > 0
