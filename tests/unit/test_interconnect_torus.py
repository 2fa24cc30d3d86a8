"""Collectives on a torus of chips (TPU ICI), priced by the rules of How to Scale Your Model (J. Austin et al.,
Google DeepMind, jax-ml.github.io/scaling-book, part 3 "Sharded matrices"): T = V / W_ici over one axis with a
full bidirectional ring, one direction's worth on an axis without wraparound, the bandwidth times N_axes over
several axes, an all-reduce twice an all-gather and an all-to-all a quarter of an all-gather of the group's
whole array; with a per-hop latency T_min the larger of the hops' latency and the bytes' time (part 3's
T_total = max[T_min |X| / 2, V / W_ici]). Figures are worked by hand."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.config import load_arch
from accelsim.cost import collective
from accelsim.hardware import Interconnect

W = 4.5e10  # the book's TPU v5e unidirectional ICI bandwidth a link, bytes/s
MiB = 2**20


def v5e(shape, wrap, latency=0.0):
    # 4 ICI ports a chip (2 axes x 2 directions), W each way each: bandwidth per chip per direction 4 W
    return Interconnect(bandwidth=4 * W, topology="torus", shape=shape, wraparound=wrap, latency=latency)


def test_the_books_all_gather_over_an_axis_without_wraparound():
    # Pop Quiz 2: AllGather_Y of bf16[2048, 8192] (33,554,432 B) on a v5e mesh {X: 8, Y: 4}, no wraparound below 16:
    # 3 hops of one 8.4 MB shard at 4.5e10 B/s = 3 x 8,388,608 / 4.5e10 = 559.2 us. Y is the slower axis here: the
    # group of 4 is every 8th chip of 32.
    ic = v5e([8, 4], False)
    assert ic.torus_axes(4, 32) == [(4, False, 1)]
    assert ic.all_gather_seconds(33_554_432, 4, 32) == pytest.approx(3 * 8_388_608 / W, rel=1e-12)


def test_a_full_ring_uses_both_directions_and_several_axes_add_up():
    ic = v5e([16, 16], True)
    v = 64 * MiB
    # one axis of 16 with wraparound: (15/16) V / W_ici, W_ici the bidirectional 2 W; 8 hops of latency (none here)
    assert ic.all_gather_seconds(v, 16) == pytest.approx(15 / 16 * v / (2 * W), rel=1e-12)
    # both axes (256 chips): the book's V / (W_ici x N_axes), times (G - 1)/G = 255/256
    assert ic.all_gather_seconds(v, 256) == pytest.approx(255 / 256 * v / (2 * 2 * W), rel=1e-12)
    # an all-reduce is a reduce-scatter and an all-gather
    assert ic.all_reduce_seconds(v, 256) == pytest.approx(2 * ic.all_gather_seconds(v, 256), rel=1e-12)
    # an all-to-all of V per chip (nccl-tests' size): over one ring of 16, the book's quarter of an all-gather of
    # the whole 16 V array at the bidirectional 2 W: 16 V / (4 x 2 W) = 2 V / W. Over both axes (256 chips), the
    # cut across one axis (two cuts, the ring wraps) parts 128 | 128 chips, each sending half its V across:
    # 64 V one way over 2 x 16 links = 2 V a link, 2 V / W again
    assert ic.torus_seconds("all_to_all", v, 16) == pytest.approx(2 * v / W, rel=1e-12)
    assert ic.torus_seconds("all_to_all", v, 256) == pytest.approx(2 * v / W, rel=1e-12)


def test_latency_counts_the_longest_path():
    # "T_min * sum_i |X_i| / 2 ... the length of the longest path in the TPU mesh": rings 16 + 16 -> 16 hops of 1 us;
    # a line of 4 takes its 3 hops. 16 bytes move in well under a hop's 1 us, so the latency is the whole time:
    # the book's T_total = max[T_min * sum_i |X_i| / 2, V / (W_ici * n_axes)] (part 3, "A note on ICI latency")
    assert 255 / 256 * 16 / (4 * W) < 1e-9
    assert v5e([16, 16], True, 1e-6).all_gather_seconds(16, 256) == pytest.approx(16e-6, rel=1e-12)
    assert v5e([4, 2], False, 1e-6).all_gather_seconds(16, 4) == pytest.approx(3e-6, rel=1e-12)


def test_a_hop_takes_the_larger_of_its_latency_and_its_transfer():
    # How to Scale Your Model, part 3 ("Sharded matrices", Case 2, "A note on ICI latency"):
    #   T_hop = max[T_min, 2 V / (|X| W_ici)],  T_total = max[T_min |X| / 2, V / W_ici]
    # and part 7 ("Transformer inference", Appendix C "Latency bound communications") the same max: the two terms do
    # not add (probe p285 #1: they did). tpu-v5e-8 all-gathering 512 KiB over its 2x4 mesh of lines: hops 1 + 3 = 4
    # of 1 us; bandwidth two axes of one 0.95 x 4.5e10 B/s link a direction each, 85.5e9 B/s; bytes 7/8 x 524,288
    ic = load_arch("tpu-v5e-8").interconnect
    assert ic.latency == 1e-6
    sustained = 0.95 * W
    v = 512 * 1024
    wire = 7 / 8 * v / (2 * sustained)  # 5.365 us
    assert wire == pytest.approx(5.365e-6, rel=1e-3) and wire > 4 * 1e-6  # bandwidth-bound, just
    assert ic.all_gather_seconds(v, 8) == pytest.approx(max(4 * 1e-6, wire), rel=1e-12)  # was 4 us + 5.365 us
    # an all-reduce is twice an all-gather ("an AllReduce is twice as expensive as an AllGather"): 10.73 us
    assert ic.all_reduce_seconds(v, 8) == pytest.approx(2 * max(4 * 1e-6, wire), rel=1e-12)
    # 8 KiB: 7/8 x 8192 / 85.5e9 = 0.084 us of bytes against 4 us of hops: latency-bound, 4 us (was 4.084 us)
    small = 7 / 8 * 8192 / (2 * sustained)
    assert small < 4e-6
    assert ic.all_gather_seconds(8192, 8) == pytest.approx(4e-6, rel=1e-12)
    assert ic.reduce_scatter_seconds(8192, 8) == pytest.approx(4e-6, rel=1e-12)
    # tpu-v5p-128, all 64 chips of its 4x4x4 torus: three rings of 4, 2 hops each (|X| / 2), 6 us; bandwidth three
    # rings of two 0.95 x 9e10 B/s links, 513e9 B/s; 4 MiB: 63/64 x 4,194,304 / 513e9 = 8.05 us (was 6 + 8.05 us)
    v5p = load_arch("tpu-v5p-128").interconnect
    big = 63 / 64 * 4 * MiB / (6 * 0.95 * 9e10)
    assert big == pytest.approx(8.05e-6, rel=1e-3)
    assert v5p.all_gather_seconds(4 * MiB, 64) == pytest.approx(max(6 * 1e-6, big), rel=1e-12)
    # the book's latency threshold (part 7, Appendix C): 8-way comms turn latency-bound below about 360 kB. Here,
    # over the 2x4 mesh's 4 hops, the terms meet where 7/8 x V / 85.5e9 = 4 us, V = 4e-6 x 85.5e9 x 8 / 7 =
    # 390,857 B: below it the time is the hops' 4 us, above it the bytes'
    edge = 4e-6 * 2 * sustained * 8 / 7
    assert ic.all_gather_seconds(int(edge * 0.99), 8) == pytest.approx(4e-6, rel=1e-12)
    assert ic.all_gather_seconds(int(edge * 1.01), 8) > 4e-6


def test_an_all_to_all_and_a_strided_group_take_the_same_max():
    # an all-to-all's time is the larger of its cut (and the chip's own bound) and its hops' latency, as a hop of an
    # all-gather is. tpu-v5e-8, all 8 chips, 512 KiB a chip: the 2x4 mesh's slowest cut is the line of 4 (no
    # wraparound), X B / (4 link) = 4 x 524,288 / (4 x 42.75e9) = 12.26 us, above its 4 hops of 1 us
    ic = load_arch("tpu-v5e-8").interconnect
    link = 0.95 * W
    b = 512 * 1024
    cut = max(2 * b / (4 * link), 4 * b / (4 * link))
    assert ic.torus_seconds("all_to_all", b, 8) == pytest.approx(max(cut, 7 / 8 * b / (2 * link), 4e-6), rel=1e-12)
    # 1 KiB a chip: its cut 4 x 1024 / (4 x 42.75e9) = 0.024 us; the 4 hops bound it, 4 us (was 4.024 us)
    assert ic.torus_seconds("all_to_all", 1024, 8) == pytest.approx(4e-6, rel=1e-12)
    # a group strided inside an axis: every 2nd chip of one ring of 8 (4 W a chip a direction over its 2 ports, 2 W
    # a link). Its 4 chips stand 2 links apart: ring hops 4 / 2 = 2 positions of 2 links, 4 hops of 1 us; its bytes
    # 3/4 x V cross the ring's 2 directions at half their bandwidth (the other group shares them): 2 x 2 W / 2 = 2 W
    ring = v5e([8], True, 1e-6)
    assert ring.torus_axes(4, 8) == [(4, True, 2)]
    for v in (1024, 64 * MiB):  # 1 KiB: 0.0085 us of bytes, so 4 us; 64 MiB: 559 us of bytes
        assert ring.all_gather_seconds(v, 4, 8) == pytest.approx(max(4e-6, 3 / 4 * v / (2 * W)), rel=1e-12)
    assert ring.all_gather_seconds(1024, 4, 8) == pytest.approx(4e-6, rel=1e-12)


def test_groups_take_the_fast_axes_first_and_odd_ones_are_a_line():
    ic = v5e([2, 4], False)
    assert ic.torus_axes(8) == [(2, False, 1), (4, False, 1)]  # the 2x4 slice whole
    assert ic.torus_axes(2) == [(2, False, 1)]  # tensor parallel 2: the first axis
    assert ic.torus_axes(4, 8) == [(4, False, 1)]  # data parallel over it: every 2nd chip, the second axis
    assert ic.torus_axes(4) == [(2, False, 1), (2, False, 1)]  # 4 consecutive chips: 2 along each axis
    assert ic.torus_axes(3, 6) == [(3, False, 1)]  # no axis holds it: one line, a bound
    # a send crosses one link
    assert ic.send_seconds(MiB) == pytest.approx(MiB / W)


def test_a_torus_is_checked_against_its_chips():
    with pytest.raises(ValidationError, match="shape"):
        Interconnect(bandwidth=1e9, topology="torus")
    with pytest.raises(ValidationError, match="wraparound"):
        Interconnect(bandwidth=1e9, topology="torus", shape=[2, 4], wraparound=[True])
    with pytest.raises(ValidationError, match="links go with"):
        Interconnect(bandwidth=1e9, links=4)
    arch = load_arch("tpu-v4").model_dump()
    arch["chips"] = 8
    arch["interconnect"] = {"bandwidth": 1e11, "topology": "torus", "shape": [2, 2]}
    with pytest.raises(ValidationError, match="holds 4 chips"):
        type(load_arch("tpu-v4")).model_validate(arch)


def test_the_collective_module_reports_the_torus():
    arch = load_arch("tpu-v4").model_dump()
    arch["chips"] = 8
    arch["interconnect"] = {"bandwidth": 4 * W, "topology": "torus", "shape": [2, 4], "wraparound": False}
    arch = type(load_arch("tpu-v4")).model_validate(arch)
    c = collective.call(arch, "all_reduce", 64 * MiB, 8)
    # 2x4 mesh: axes of 2 and 4, lines, W each: 2 x 7/8 x 64 MiB / (2 W)
    assert c.algorithm == "torus" and c.seconds == pytest.approx(2 * 7 / 8 * 64 * MiB / (2 * W), rel=1e-12)
