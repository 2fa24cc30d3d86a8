"""Probe p104's collective findings: a collective across nodes priced as NCCL's multi-node ring (never faster than
the same collective inside one node), a formula all-to-all on a ring by its bisection, NVLS only for the element
types NCCL's NVLS reduces, and a nulled interconnect blamed on the --set that nulled it."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config import load_arch
from accelsim.cost import collective
from accelsim.errors import ConfigError

MIB = 2**20


def test_two_dgx_h100_nodes_all_gather_4_mib_as_nccls_ring_across_nodes():
    # 16 H100s, 8 a node (dgx-h100.yaml: NDR 50 GB/s x 0.94 a NIC, 20 us a crossing; NVLink 8.92 us; NCCL's
    # channels 12 x 30 GB/s = 360 GB/s, below the 8 NICs' 376). By hand, tuning.cc's ring across nodes, nsteps 15,
    # nInterSteps 1, bus min(376, 360) = 360 GB/s; fill min(size / 16, 24 channels x chunk):
    #   LL:     6.6 + 14 x 0.6 x 1.8 + 20 = 41.72 us; bw min(360 x 1/2, 39 (llMaxBws, 2 nodes)) = 39 GB/s
    #   LL128: 14 + 14 x 1.9 + 20 = 60.6 us; bw 360 x 120/128 = 337.5 GB/s
    #   Simple: 8.4 + 14 x 3.4 + 20 = 76.0 us; bw 360 GB/s
    # each + 8.92 us; wire 15/16 x 4 MiB = 3,932,160 B: LL 100.8 us, LL128 11.65 us, Simple 10.92 us; booked LL128
    # 81.17 < Simple 95.84 < LL 151.5: LL128, + its fill min(262,144, 24 x 576,000) / 337.5e9 = 0.78 us
    arch = load_arch("dgx-h100", ["chips=16"])
    size = 4 * MIB
    c = collective.call(arch, "all_gather", size, 16)
    assert (c.algorithm, c.protocol) == ("ring", "LL128")
    wire = 15 / 16 * size
    assert c.seconds == pytest.approx((14 + 14 * 1.9 + 20 + 8.92) * 1e-6 + (wire + size / 16) / 337.5e9, rel=1e-9)
    # the same call inside one node (8 GPUs, ring LL, 49.47 us before and after: NCCL's one-node model) is faster
    assert c.seconds > collective.call(load_arch("dgx-h100"), "all_gather", size, 8).seconds


def test_a_collective_over_two_nodes_is_held_to_the_nodes_nvlink_channels():
    # 1 GiB all-gather on 16 H100s: the NICs' 8 x 47 = 376 GB/s is above NCCL's 360 GB/s of NVLink channels, so the
    # ring runs at 360: bus bandwidth (15/16 x S / t) below 360 GB/s (it was 373 GB/s, beating the node's 337)
    arch = load_arch("dgx-h100", ["chips=16"])
    c = collective.call(arch, "all_gather", 2**30, 16)
    assert collective.node_bus_bandwidth(arch.interconnect, 8) == pytest.approx(360e9)
    assert collective.bus_bandwidth("all_gather", 2**30, 16, c.seconds) < 360e9
    # one chip a node (a data-parallel pair): no hop inside a node, the NIC alone, 47 GB/s
    assert collective.node_bus_bandwidth(arch.interconnect, 1) == pytest.approx(47e9)
    # dgx-a100's HDR NICs, 8 x 25 x 0.9 = 180 GB/s, are below its channels' 240: the NICs bound it
    assert collective.node_bus_bandwidth(load_arch("dgx-a100", ["chips=16"]).interconnect, 8) == pytest.approx(180e9)


@pytest.mark.parametrize("base", ["dgx-a100", "dgx-h100"])
@pytest.mark.parametrize("kind", ["all_gather", "reduce_scatter", "all_reduce"])
def test_more_nodes_never_beat_fewer(base, kind):
    # the 16-chip ring holds every NVLink step of the 8-chip one, adds crossings of 20 us, moves 15/16 of S for
    # 7/8, at a bus no faster than the node's: so 8 <= 16 <= 32 chips for every size from 64 KiB to 1 GiB
    archs = {n: load_arch(base, [f"chips={n}"]) for n in (8, 16, 32)}
    for log in range(16, 31, 2):
        t = [collective.call(archs[n], kind, 2**log, n).seconds for n in (8, 16, 32)]
        assert t[0] <= t[1] <= t[2], (log, t)


def test_a_formula_ring_prices_an_all_to_all_by_its_cut():
    # 16 chips on a bidirectional ring of 100 GB/s links, 1 us a step (probe p104's ring16.yaml): cut the ring in
    # half, 2 links, each direction carrying 8 chips x 8 far destinations x S/16 = 4 S, 2 S a link:
    # 2 x 1 GiB / 100 GB/s = 21.47 ms, the mean-hops form: 15/16 x S x (64/15) / 2 / 100e9 (mean shortest distance
    # on a ring of 16: (2 x (1+...+7) + 8) / 15 = 64/15), + 15 steps of 1 us; the all-gather stays 15/16 x S / 100e9
    arch = load_arch({"base": "tpu-v4", "name": "ring16", "chips": 16,
                      "interconnect": {"bandwidth": "100GB/s", "latency": "1us", "topology": "ring"}})
    size = 2**30
    a2a = collective.call(arch, "all_to_all", size, 16)
    assert a2a.seconds == pytest.approx(2 * size / 100e9 + 15e-6, rel=1e-9)
    # each chip's link carries its pieces and those it relays: 15/16 x S x 64/15 / 2 = 2 S (nccl mode's figure)
    assert a2a.sent == 2 * size
    assert collective.call(arch, "all_gather", size, 16).seconds == pytest.approx(15 / 16 * size / 100e9 + 15e-6)
    # a fully connected node still sends each piece once: an all-to-all costs an all-gather
    full = load_arch({"base": "tpu-v4", "name": "switch16", "chips": 16,
                      "interconnect": {"bandwidth": "100GB/s", "latency": "1us", "topology": "fully_connected"}})
    assert collective.call(full, "all_to_all", size, 16).seconds == collective.call(full, "all_gather", size,
                                                                                    16).seconds


@pytest.mark.parametrize("dtype, algorithm", [("int8", "ring"), ("fp8", "ring"), ("uint8", "ring"),
                                              ("fp16", "nvls"), ("bf16", "nvls"), ("fp32", "nvls"), ("fp64", "nvls"),
                                              ("int32", "nvls")])
def test_nvls_only_for_the_types_nccl_reduces_on_the_switch(dtype, algorithm):
    # NCCL's ncclNvlsSupported (src/include/device.h): sums of int32/uint32/int64/uint64, fp16/bf16, fp32/fp64,
    # nothing of 8 bits. 64 MiB on 8 H100s: NVLS 25 us + 8.92 us (the link's latency) + (1 + 1/8) x S / (360e9 x
    # 0.85) = 33.92 + 246.7 = 280.6 us; an int8 or fp8 one is NCCL's best without it, the ring (414.4 us)
    arch = load_arch("dgx-h100")
    c = collective.call(arch, "all_reduce", 64 * MIB, 8, dtype=dtype)
    assert c.algorithm == algorithm
    if algorithm == "ring":
        assert c == collective.choose(arch.interconnect, "all_reduce", 64 * MIB, 8, algorithm="ring")
        assert not collective.has_nvls(arch.interconnect, dtype)
    else:
        assert c.seconds == pytest.approx(25e-6 + 8.92e-6 + 9 / 8 * 64 * MIB / (360e9 * 0.85), rel=1e-9)


def test_a_nulled_interconnect_is_blamed_on_the_set_that_nulled_it():
    with pytest.raises(ConfigError) as e:
        load_arch("dgx-h100", ["interconnect=null"])
    # the --set is the key set last; the preset's chips line is named as the other side, with its value
    text = str(e.value)
    assert text.startswith("--set: arch.interconnect: unset, but chips (8, "), text
    assert text.endswith("dgx-h100.yaml:16) needs an 'interconnect' (bandwidth, latency, topology)"), text
    # a chips set last on a one-chip preset is blamed on chips
    with pytest.raises(ConfigError) as e:
        load_arch("h100", ["chips=4"])
    assert "chips: 4 needs an 'interconnect'" in str(e.value)


@pytest.mark.parametrize("dtype, algorithm", [("bf16", "nvls"), ("int8", "ring"), ("fp8", "ring")])
def test_a_run_passes_its_dtype_to_the_nvls_choice(dtype, algorithm):
    # NCCL's ncclNvlsSupported (src/include/device.h): NVLS reduces 32/64-bit integers, fp16, bf16, fp32 and fp64 only,
    # so an int8 or fp8 all-reduce on dgx-h100's NVSwitch runs as a ring (probe p104 #3: accelsim run showed nvls)
    rep = accelsim.simulate({"model": "collective", "bytes": 64 * 2**20, "dtype": dtype}, "dgx-h100").to_dict()
    assert rep["ops"][0]["mapping"]["algorithm"] == algorithm
