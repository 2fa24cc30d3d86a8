"""Probe p257 #1: an all-to-all relayed between chips with no switch (a TPU torus, a ring) is charged the ICI energy
of every link its pieces cross, as its time counts them; a neighbour collective still one link a byte."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config.load import load_arch
from accelsim.energy.model import all_to_all_hops, link_traversals

GIB = 2**30
A2A = {"model": "collective", "op": "all_to_all", "bytes": GIB}

# The mean distance from a chip to each chip of an axis (itself at 0), by hand:
RING4 = (0 + 1 + 2 + 1) / 4            # a wrapped axis of 4: 1.0
LINE2 = (0 + 1 + 1 + 0) / 4            # an axis of 2 (either way): 0.5
LINE4 = (0 + 1 + 2 + 3 + 1 + 0 + 1 + 2 + 2 + 1 + 0 + 1 + 3 + 2 + 1 + 0) / 16  # a line of 4: 20 / 16 = 1.25


def test_hops_on_a_4x4x4_torus_and_a_2x4_mesh():
    # tpu-v5p-128 is 4x4x4 wrapped: 3 axes x 1.0 = 3 links to an average destination, 192 over the 63 peers
    assert all_to_all_hops(load_arch("tpu-v5p-128"), 64) == pytest.approx(3 * RING4 * 64 / 63, rel=1e-12)
    assert 3 * RING4 * 64 / 63 == pytest.approx(192 / 63)
    # tpu-v5e-8 and v6e-8 are 2x4 without wraparound: 0.5 + 1.25 = 1.75, over the 7 peers x 8/7 = 2.0
    for arch in ("tpu-v5e-8", "tpu-v6e-8"):
        assert all_to_all_hops(load_arch(arch), 8) == pytest.approx((LINE2 + LINE4) * 8 / 7, rel=1e-12)
    # a group of 16 every 4th chip of 64 (an expert-parallel group beside tensor parallel 4) skips axis 0 and spans
    # two whole wrapped axes of 4: 2 x 1.0 x 16/15
    assert all_to_all_hops(load_arch("tpu-v5p-128"), 16, 64) == pytest.approx(2 * RING4 * 16 / 15, rel=1e-12)


@pytest.mark.parametrize(("arch", "hops"), [("tpu-v5p-128", 192 / 63), ("tpu-v5e-8", 2.0)])
def test_all_to_all_link_energy_counts_the_hops(arch, hops):
    a = load_arch(arch)
    n = a.chips
    r = accelsim.simulate(A2A, a).to_dict()
    sent = (n - 1) * GIB // n  # bytes.link stays what a chip sends, (n - 1) / n x S
    assert r["bytes"]["link"] == sent
    e = a.interconnect.energy_per_bit * 1e-12
    # v5p-128: 1,056,964,608 B x 3.048 = 3 GiB of link traversals x 8 x 2.21 pJ = 56.95 mJ (was 18.69)
    assert r["energy"]["by_level"]["link"] == pytest.approx(sent * hops * 8 * e, rel=1e-9)
    assert link_traversals(a) == 1


def test_a_neighbour_collective_on_the_torus_stays_one_link():
    # a ring all-reduce sends each chunk to the next chip only: 2 x 7/8 x S over one link each (tpu-v5e-8)
    a = load_arch("tpu-v5e-8")
    r = accelsim.simulate({**A2A, "op": "all_reduce"}, a).to_dict()
    assert r["energy"]["by_level"]["link"] == pytest.approx(2 * 7 / 8 * GIB * 8 * a.interconnect.energy_per_bit
                                                            * 1e-12, rel=1e-9)


def test_all_to_all_on_a_ring_charges_the_mean_ring_hops():
    # mi300x-8 as a ring of 8 (links dropped): a piece goes the shorter way, mean (1+2+3+4+3+2+1) / 7 = 16/7 links;
    # a chip sends 7/8 x S, so 7/8 x 16/7 = 2 S of link traversals, x 8 bit x 1.3 pJ
    a = load_arch("mi300x-8")
    ring = a.model_copy(update={"interconnect": a.interconnect.model_copy(update={"topology": "ring", "links": None})})
    r = accelsim.simulate(A2A, ring).to_dict()
    assert r["energy"]["by_level"]["link"] == pytest.approx(7 / 8 * 16 / 7 * GIB * 8 * 1.3e-12, rel=1e-9)
