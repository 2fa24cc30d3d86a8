"""Probe p234's energy findings: the links a byte crosses through an NVSwitch, mi210's HBM2e price, no TOPS/W
rate for a run with no FLOPs, and a ring all-reduce's adds filed under the vector unit."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config.load import load_arch
from accelsim.energy import constants
from accelsim.energy.model import link_traversals

GB = {"model": "collective", "op": "all_reduce", "bytes": 10**9}


@pytest.mark.parametrize(("arch", "hops"), [("dgx-a100", 2), ("dgx-h100", 2), ("dgx-h200", 2), ("dgx-b200", 2),
                                            ("mi300x-8", 1), ("tpu-v5p-128", 1)])
def test_a_byte_sent_crosses_two_links_through_a_switch_and_one_over_a_direct_link(arch, hops):
    # the DGX presets' topology fully_connected is one NVSwitch hop: sender GPU -> switch -> receiver GPU, 2 links;
    # mi300x-8's xGMI full_mesh and a TPU torus join the chips directly, 1 link
    a = load_arch(arch)
    assert link_traversals(a) == hops
    assert constants(a).level_j_per_bit["link"] == pytest.approx(hops * a.interconnect.energy_per_bit * 1e-12,
                                                                 rel=1e-12)


def test_dgx_h100_nvls_all_reduce_charges_each_byte_on_both_links():
    # NVLS on 8 GPUs: each chip sends S + S/8 = 1.125 GB (its buffer to the switch's ld_reduce, its shard to the
    # multicast store) and receives as much; 1.125e9 B x 2 links x 8 bit x 1.3 pJ = 23.4 mJ (before: 11.7 mJ)
    r = accelsim.simulate(GB, "dgx-h100").to_dict()
    assert r["bytes"]["link"] == 1_125_000_000
    assert r["energy"]["by_level"]["link"] == pytest.approx(1.125e9 * 2 * 8 * 1.3e-12, rel=1e-9)


def test_mi300x_8_mesh_all_reduce_charges_each_byte_on_one_link():
    # ring all-reduce of 1 GiB on 8 chips: each sends 2 x 7/8 x 2^30 = 1,879,048,192 B over one direct xGMI link
    r = accelsim.simulate({**GB, "bytes": 2**30}, "mi300x-8").to_dict()
    assert r["bytes"]["link"] == 2 * 7 * 2**30 // 8
    assert r["energy"]["by_level"]["link"] == pytest.approx(2 * 7 / 8 * 2**30 * 8 * 1.3e-12, rel=1e-9)


def test_mi210_prices_its_hbm2e_as_a100_does():
    # both are HBM2e (Micron's 6.0 pJ/bit); mi210 had HBM2's 3.9
    mi210, a100 = load_arch("mi210"), load_arch("a100")
    assert mi210.memory("hbm").kind == a100.memory("hbm").kind == "HBM2e"
    assert mi210.memory("hbm").energy_per_bit == a100.memory("hbm").energy_per_bit == 6.0
    r = accelsim.simulate({"model": "gemm", "m": 4096, "n": 4096, "k": 4096}, "mi210").to_dict()
    e = r["energy"]
    dynamic = e["by_level"]["hbm"] - e["static_by_level"].get("hbm", 0.0)
    assert dynamic == pytest.approx(r["bytes"]["hbm"] * 8 * 6.0e-12, rel=1e-9)


def test_a_run_without_flops_has_no_tops_per_w_rate():
    # dgx-h100's NVLS all-reduce adds in the switch: no FLOPs on the chip, none in the model -> null, not 0.0
    eff = accelsim.simulate(GB, "dgx-h100").to_dict()["efficiency"]
    assert eff["tops_per_w"] is None and eff["useful_tops_per_w"] is None
    # an all-gather adds nothing anywhere
    eff = accelsim.simulate({**GB, "op": "all_gather"}, "dgx-a100").to_dict()["efficiency"]
    assert eff["tops_per_w"] is None and eff["useful_tops_per_w"] is None


def test_a_ring_all_reduce_files_its_adds_under_the_vector_unit():
    # dgx-a100's ring of 8: (8 - 1)/8 x 1e9 B / 2 B (bf16) = 437.5 M adds, on the SMs (NCCL's runRing reduces in its
    # kernel), at the lanes' J per FLOP; the model has no FLOPs, so useful TOPS/W has no rate, executed TOPS/W does
    c = constants(load_arch("dgx-a100"))
    r = accelsim.simulate(GB, "dgx-a100").to_dict()
    by_unit = r["energy"]["by_unit"]
    assert "link" not in by_unit
    assert r["computed_flops"] == 437_500_000
    # the vector unit: its share of the static power (static_by_unit) plus the adds, the run's only compute
    assert by_unit["vector"] - r["energy"]["static_by_unit"]["vector"] == pytest.approx(437_500_000 * c.vector_j,
                                                                                          rel=1e-9)
    eff = r["efficiency"]
    assert eff["tops_per_w"] == pytest.approx(437_500_000 / r["energy"]["total_j"] / 1e12, rel=1e-12)
    assert eff["useful_tops_per_w"] is None
