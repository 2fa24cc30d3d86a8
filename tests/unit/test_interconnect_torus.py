"""Collectives on a torus of chips (TPU ICI), priced by the rules of How to Scale Your Model (J. Austin et al.,
Google DeepMind, jax-ml.github.io/scaling-book, part 3 "Sharded matrices"): T = V / W_ici over one axis with a
full bidirectional ring, one direction's worth on an axis without wraparound, the bandwidth times N_axes over
several axes, an all-reduce twice an all-gather and an all-to-all a quarter of an all-gather of the group's
whole array. Figures are worked by hand."""

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
    # a line of 4 takes its 3 hops
    assert v5e([16, 16], True, 1e-6).all_gather_seconds(16, 256) == pytest.approx(16e-6 + 255 / 256 * 16 / (4 * W))
    assert v5e([4, 2], False, 1e-6).all_gather_seconds(16, 4) == pytest.approx(3e-6 + 3 / 4 * 16 / W)


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
