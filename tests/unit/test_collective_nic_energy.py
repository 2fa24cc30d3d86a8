"""Probe p120 #1: a `collective` across nodes prices at the network's energy per bit only the bytes that leave the
node (`mapping.nic_bytes`), its ring hops inside the node at NVLink's, as the optimizer step's collectives do."""

from __future__ import annotations

import pytest

from accelsim import simulate


def test_a_16_chip_all_reduce_prices_one_edge_in_eight_at_the_nic():
    # int8: elements NVLS cannot reduce, so NCCL runs a ring (bf16 runs NVLS_TREE since probe p183 #1, below)
    r = simulate({"model": "collective", "op": "all_reduce", "bytes": 10**9, "dtype": "int8"},
                 {"base": "dgx-h100", "chips": 16}).to_dict()
    (op,) = r["ops"]
    assert op["mapping"]["algorithm"] == "ring"
    # ring all-reduce over 16 chips: each sends 2 · (16 − 1)/16 · 1e9 = 1.875e9 B; the ring over 2 nodes of 8 leaves the
    # node on 2 of its 16 edges, so 1/8 of each chip's bytes cross its NIC: 234,375,000 B
    assert op["mapping"]["nic_bytes"] == 234_375_000
    by = r["energy"]["by_level"]
    # dgx-h100: scale_out.energy_per_bit 103 pJ, NVLink's 1.3 pJ; by_level is one chip's
    assert by["nic"] == pytest.approx(234_375_000 * 8 * 103e-12)
    # the bytes inside the node cross 2 NVLinks each (probe p234 #1: through the NVSwitch a byte crosses 2 links, the sender's into the switch and the receiver's out; was 1)
    assert by["link"] == pytest.approx((1.875e9 - 234_375_000) * 2 * 8 * 1.3e-12)
