"""accelsim.cost.collective (``collective: nccl``) and the ``collective`` micro-workload, against hand calculations.

Bus bandwidth (nccl-tests PERFORMANCE.md): busbw = algbw x 2(n-1)/n for an all-reduce (a ring moves 2(n-1)/n of
the buffer through each GPU's link), (n-1)/n for all-gather, reduce-scatter and all-to-all; algbw = size / time.

DGX A100 preset: collectives at NCCL's bus bandwidth, its search's 12 channels x 20 GB/s = 240 GB/s (24 channels at
run time), point-to-point at 300 GB/s per direction x efficiency 0.65 = 195 GB/s; link latency 8.92 us, NCCL 2.20.3's
latencies (tuning.cc): ring base LL 6.6 / LL128 14.0 / Simple 8.4 us, NVLink hop LL 0.6 / LL128 1.9 / Simple 3.4 us;
tree base LL 6.8 / LL128 14.0 / Simple 0, hop LL 0.6 / LL128 1.25 / Simple 28.0 us. A ring also pays one chunk per
channel of pipeline fill: min(size / n, 24 channels x NCCL's chunk) bytes (Simple 2 MiB, LL128 576,000 B, LL 32 KiB).
DGX H100 preset: 12 x 30 GB/s = 360 GB/s, NVLS 25 us and switch efficiency 0.85 (Hopper).
"""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.cost import collective

US = 1e-6
MIB = 2**20


@pytest.fixture(scope="module")
def a100():
    return load_arch("dgx-a100")


@pytest.fixture(scope="module")
def h100():
    return load_arch("dgx-h100")


def test_bus_bandwidth_factors_of_nccl_tests():
    assert collective.wire_fraction("all_reduce", 8) == pytest.approx(2 * 7 / 8)  # 1.75
    for kind in ("all_gather", "reduce_scatter", "all_to_all"):
        assert collective.wire_fraction(kind, 8) == pytest.approx(7 / 8)
    assert collective.wire_fraction("all_reduce", 1) == 0.0
    # 1 GB all-reduced on 8 GPUs in 1 s: algbw 1 GB/s, busbw 1.75 GB/s
    assert collective.bus_bandwidth("all_reduce", 1e9, 8, 1.0) == pytest.approx(1.75e9)
    assert collective.mean_ring_hops(8) == pytest.approx((1 + 2 + 3 + 4 + 3 + 2 + 1) / 7)


def test_large_all_reduce_is_a_simple_ring_by_hand(a100):
    # 512 MiB on 8 A100s: ring Simple 8.4 + 14 x 3.4 = 56.0 us, + 8.92 us link latency, + (1.75 x 536,870,912 B
    # + fill min(536,870,912 / 8, 24 x 2 MiB = 50,331,648) B) / 240e9 B/s = 4124.40 us -> 4189.32 us
    c = collective.choose(a100.interconnect, "all_reduce", 512 * MIB, 8)
    assert (c.algorithm, c.protocol) == ("ring", "Simple")
    assert c.seconds == pytest.approx((56.0 + 8.92) * US + (1.75 * 536_870_912 + 50_331_648) / 240e9, rel=1e-9)
    assert c.wire_bytes == pytest.approx(1.75 * 536_870_912)  # the fill is time, not bytes
    # LL128 pays 14.0 + 14 x 1.9 = 40.6 us, moves data at 120/128 of the bus, fill 24 x 576,000 B: 4236.6 us, slower
    ll128 = collective.choose(a100.interconnect, "all_reduce", 512 * MIB, 8, protocol="LL128")
    assert ll128.seconds == pytest.approx((40.6 + 8.92) * US + (1.75 * 536_870_912 + 24 * 576_000) / 225e9)
    # busbw 939,524,096 / 4189.32 us = 224.3 GB/s, climbing towards NCCL's 240 (nccl-tests on DGX A100: 230-235)
    assert collective.bus_bandwidth("all_reduce", 512 * MIB, 8, c.seconds) == pytest.approx(224.3e9, rel=1e-3)


def test_small_all_reduce_switches_to_low_latency_protocol(a100):
    # 4 KiB on 8 A100s: ring LL 6.6 + 14 x 0.6 = 15.0 us + 8.92 us + (1.75 x 4096 + fill 4096 / 8) B / min(240e9
    # / 2, NCCL's LL ceiling 87.7e9) = 24.008 us; tree LL 6.8 + 14 x 0.6 = 15.2 us + 8.92 + ... > 24.12 us;
    # ring Simple 56 + 8.92 + ... > 64 us
    c = collective.choose(a100.interconnect, "all_reduce", 4096, 8)
    assert (c.algorithm, c.protocol) == ("ring", "LL")
    assert c.seconds == pytest.approx((15.0 + 8.92) * US + (1.75 * 4096 + 512) / 87.7e9, rel=1e-9)
    chosen = {s: collective.choose(a100.interconnect, "all_reduce", s, 8).protocol for s in (4096, 64 * MIB)}
    assert chosen == {4096: "LL", 64 * MIB: "Simple"}
    # no NVLink SHARP on Ampere's NVSwitch
    assert not collective.has_nvls(a100.interconnect)
    with pytest.raises(ValueError, match="no nvls"):
        collective.choose(a100.interconnect, "all_reduce", 64 * MIB, 8, algorithm="nvls")


def test_nvls_on_hopper_nvswitch_by_hand(h100):
    # 256 MiB on 8 H100s, NVLS: 25 + 8.92 us + (1 + 1/8) x 268,435,456 B / (12 x 30e9 x 0.85 = 306e9 B/s)
    # = 33.92 + 986.90 = 1020.82 us; busbw = 1.75 x 268,435,456 / 1020.82 us = 460 GB/s (NCCL's maintainer: ~480)
    assert collective.has_nvls(h100.interconnect)
    c = collective.choose(h100.interconnect, "all_reduce", 256 * MIB, 8)
    assert (c.algorithm, c.protocol) == ("nvls", "Simple")
    assert c.seconds == pytest.approx((25 + 8.92) * US + 1.125 * 268_435_456 / (360e9 * 0.85), rel=1e-9)
    assert collective.bus_bandwidth("all_reduce", 256 * MIB, 8, c.seconds) == pytest.approx(460.2e9, rel=1e-3)
    # forced to a ring (NCCL_ALGO=Ring) it is bound by NCCL's ring bandwidth: busbw < 360 GB/s
    ring = collective.choose(h100.interconnect, "all_reduce", 256 * MIB, 8, algorithm="ring")
    assert collective.bus_bandwidth("all_reduce", 256 * MIB, 8, ring.seconds) < 360e9
    # small calls stay on a ring with LL (NVLS's 25 us is more than LL's whole call)
    assert collective.choose(h100.interconnect, "all_reduce", 64 * 1024, 8).algorithm == "ring"


def test_gather_scatter_and_all_to_all_by_hand(a100):
    # reduce-scatter / all-gather of 64 MiB on 8 A100s: ring Simple 8.4 + 7 x 3.4 = 32.2 us + 8.92 us + (7/8 x
    # 67,108,864 + fill min(67,108,864 / 8, 24 x 2 MiB) = 8,388,608) / 240e9 = 279.62 us -> 320.74 us
    expect = (32.2 + 8.92) * US + (7 / 8 * 67_108_864 + 8_388_608) / 240e9
    for kind in ("reduce_scatter", "all_gather"):
        assert collective.seconds(a100, kind, 64 * MIB, 8) == pytest.approx(expect, rel=1e-9)
    # all-to-all over the switch: one hop to each peer, Simple 8.4 + 3.4 us + 8.92 us + 7/8 of the buffer at the
    # point-to-point 300e9 x 0.65 = 195e9 (nccl-tests sendrecv on A100s)
    assert collective.seconds(a100, "all_to_all", 64 * MIB, 8) == pytest.approx(
        (8.4 + 3.4 + 8.92) * US + 7 / 8 * 67_108_864 / 195e9, rel=1e-9)
    assert collective.seconds(a100, "all_reduce", 64 * MIB, 1) == 0.0
    with pytest.raises(ValueError, match="unknown collective 'broadcast'"):
        collective.price(a100, "broadcast", MIB, 8)


def test_formula_mode_is_kept(a100):
    arch = a100.model_copy(update={"interconnect": a100.interconnect.model_copy(update={"collective": "formula"})})
    # 2 latency steps (fully connected) + 2 x 7/8 x bytes / 195e9
    assert collective.seconds(arch, "all_reduce", 64 * MIB, 8) == pytest.approx(
        2 * 8.92 * US + 1.75 * 67_108_864 / 195e9)
    # no tuner, so no protocol: the switch's direct exchange
    d = collective.describe(collective.call(arch, "all_reduce", 64 * MIB, 8), "all_reduce", 64 * MIB, 8)
    assert d["algorithm"] == "direct" and "protocol" not in d
    assert d["bus_bandwidth"] == pytest.approx(1.75 * 67_108_864 / (2 * 8.92 * US + 1.75 * 67_108_864 / 195e9))


def test_collective_workload_runs_on_every_chip(tmp_path, capsys):
    code = main(["run", "--workload", "collective", "--arch", "dgx-h100", "--set", "workload.op=all_reduce",
                 "--set", "workload.bytes=64MiB", "-o", str(tmp_path), "--no-plots", "-q"])
    assert code == 0, capsys.readouterr().err
    rep = json.loads((tmp_path / "report.json").read_text())
    (op,) = rep["ops"]
    arch = load_arch("dgx-h100")
    expect = collective.seconds(arch, "all_reduce", 64 * MIB, 8)  # all 8 chips of the preset
    # one call of nccl-tests' back-to-back loop: its launch and dispatch run ahead, reported apart (launch_s)
    assert rep["launch_overhead_s"] == 0.0
    assert op["mapping"]["launch_s"] == pytest.approx(arch.kernel_launch + arch.kernel_dispatch, abs=2 / arch.clock_hz)
    assert rep["seconds"] == pytest.approx(expect, abs=1 / arch.clock_hz)
    assert op["kind"] == "collective"


def test_bad_op_and_one_chip_are_one_line_errors(capsys):
    code = main(["run", "--workload", "collective", "--arch", "dgx-a100", "--set", "workload.op=broadcast",
                 "--no-plots", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "workload.op" in err and len(err.strip().splitlines()) == 1
    code = main(["run", "--workload", "collective", "--arch", "a100", "--no-plots", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "at least 2 chips" in err and len(err.strip().splitlines()) == 1
    # the arch's one chip is named once, by the "(got 1)" (probe p18: "(arch.chips=1) (got 1)")
    code = main(["run", "--workload", "collective", "--arch", "dgx-h100", "--set", "arch.chips=1", "--no-plots",
                 "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().endswith("an interconnect (got 1)") and "arch.chips=1" not in err


def test_the_report_names_the_algorithm_and_bus_bandwidth_of_each_call(tmp_path, capsys):
    # 256 MiB on the 8 H100s of dgx-h100: NVLS / Simple (test_nvls_on_hopper_nvswitch_by_hand: 1020.82 us, busbw
    # 1.75 x 268,435,456 B / 1020.82 us = 460.2 GB/s); the op is bound by the link, not by compute or memory
    code = main(["run", "--workload", "collective", "--arch", "dgx-h100", "--set", "workload.op=all_reduce",
                 "--set", "workload.bytes=256MiB", "-o", str(tmp_path), "--no-plots"])
    out = capsys.readouterr().out
    assert code == 0
    (op,) = json.loads((tmp_path / "report.json").read_text())["ops"]
    m = op["mapping"]
    assert (m["algorithm"], m["protocol"], m["message_bytes"], m["group"]) == ("nvls", "Simple", 256 * MIB, 8)
    assert m["bus_bandwidth"] == pytest.approx(460.2e9, rel=1e-3)
    assert m["all_reduce_s"] == pytest.approx((25 + 8.92) * US + 1.125 * 268_435_456 / (360e9 * 0.85), rel=1e-9)
    assert op["bound"] == "link"
    # the summary says it in one row (rich may wrap the table's long lines: compare without whitespace)
    flat = "".join(out.split())
    assert "all_reduceof256MiBover8chips:nvls/Simple,busbandwidth460" in flat


def test_an_all_gathers_time_is_named_for_it(tmp_path, capsys):
    # 64 MiB all-gather on 8 A100s: ring / Simple, 320.74 us (test_gather_scatter_and_all_to_all_by_hand), busbw
    # 7/8 x 67,108,864 B / 320.74 us = 183.1 GB/s
    code = main(["run", "--workload", "collective", "--arch", "dgx-a100", "--set", "workload.op=all_gather",
                 "--set", "workload.bytes=64MiB", "-o", str(tmp_path), "--no-plots", "-q"])
    assert code == 0, capsys.readouterr().err
    (op,) = json.loads((tmp_path / "report.json").read_text())["ops"]
    m = op["mapping"]
    assert "all_reduce_s" not in m and m["all_gather_s"] == pytest.approx(
        (32.2 + 8.92) * US + (7 / 8 * 67_108_864 + 8_388_608) / 240e9, rel=1e-9)
    assert (m["algorithm"], m["protocol"]) == ("ring", "Simple")
    assert m["bus_bandwidth"] == pytest.approx(7 / 8 * 67_108_864 / m["all_gather_s"], rel=1e-9)
    assert m["bus_bandwidth"] == pytest.approx(183.1e9, rel=1e-3)


def test_a_run_with_many_collectives_sums_them_in_one_summary_row():
    # GPT-2 training at tensor parallelism 2 on dgx-a100: every layer's tensor-parallel all-reduces are COLLECTIVE
    # ops; the summary gives one row with their count, their time on the link (the sum of each call's <fn>_s) and
    # the calls per collective and algorithm, all read back from the report's own op rows
    import io

    from rich.console import Console

    import accelsim
    from accelsim.report import fmt
    from accelsim.report.console import summary_table

    rep = accelsim.simulate({"model": "gpt2", "mode": "training", "seq_len": 128, "tensor_parallel": 2},
                            "dgx-a100").to_dict()
    calls = [op for op in rep["ops"] if op["kind"] == "collective"]
    assert len(calls) > 3 and all(op["bound"] == "link" and "algorithm" in op["mapping"] for op in calls)
    total = sum(op["mapping"][f"{op['fn']}_s"] for op in calls)
    assert total > 0
    out = io.StringIO()
    Console(file=out, width=400).print(summary_table(rep))
    row = next(line for line in out.getvalue().splitlines() if "collective ops" in line)
    assert f"{len(calls)} calls, " in row and f"{fmt.seconds(total)} of link time" in row
    kinds = {f"{op['fn']} {op['mapping']['algorithm']}/{op['mapping']['protocol']}" for op in calls}
    assert all(k in row for k in kinds)


def test_a_sweep_over_message_sizes_keeps_each_calls_bus_bandwidth():
    # a sweep's metrics of a collective micro-workload run: nccl-tests' busbw of its one call, 2(n-1)/n x size /
    # time for an all-reduce (8 chips: 1.75), so a sweep over workload.bytes draws the busbw curve
    import accelsim
    from accelsim.sweep.store import metrics_from_report

    for size in (64 * 1024, 256 * MIB):
        rep = accelsim.simulate({"model": "collective", "op": "all_reduce", "bytes": size}, "dgx-h100").to_dict()
        (op,) = rep["ops"]
        busbw = metrics_from_report(rep)["bus_bandwidth"]
        assert busbw == pytest.approx(1.75 * size / op["mapping"]["all_reduce_s"])
    assert busbw == pytest.approx(460.2e9, rel=1e-3)  # 256 MiB: NVLS (test_nvls_on_hopper_nvswitch_by_hand)
    # a run with many collectives (or none) has no single call to speak for it
    rep = accelsim.simulate({"model": "gemm", "m": 64, "n": 64, "k": 64}, "a100").to_dict()
    assert "bus_bandwidth" not in metrics_from_report(rep)
