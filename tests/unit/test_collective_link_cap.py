"""NCCL's bus bandwidth is capped at the link's line rate: min(nccl.channels x nccl.channel_bandwidth, bandwidth).

NCCL's channels cannot carry more than the links do, so lowering a DGX preset's ``interconnect.bandwidth`` slows its
all-reduce / all-gather / reduce-scatter (before the fix a 1 GiB all-reduce on dgx-h100 at 50 GB/s ran at NCCL's
360 GB/s). Both paths read one helper (``Interconnect.nccl_bus_bandwidth``): ``accelsim.cost.collective`` (the
simulator's model, with NVLS) and ``Interconnect.nccl_estimate`` (NCCL 2.20's tuner table).

Hand figures used below:
* presets' NCCL channels (their nccl blocks, NCCL 2.20.3 search.cc after ncclTopoDupChannels): dgx-a100 12 x 20 GB/s
  = 240 GB/s, dgx-h100 / dgx-h200 12 x 30 = 360 GB/s, dgx-b200 16 x 45 = 720 GB/s;
* NVLink line rates per GPU per direction (datasheets): A100 NVLink 3, 12 links x 25 GB/s = 300 GB/s; H100 / H200
  NVLink 4, 900 GB/s bidirectional / 2 = 450 GB/s; B200 NVLink 5, 1.8 TB/s bidirectional / 2 = 900 GB/s;
* NCCL 2.20.3 tuning.cc ring Simple latency: base 8.4 us + NVLink hop 3.4 us x 2(n-1) steps; the presets' link
  latency 8.92 us (LLMCompass's NVLink 3 figure, kept for NVLink 4); a ring's pipeline fill is min(size / n,
  24 runtime channels x 2 MiB Simple chunk) = min(134,217,728, 50,331,648) = 50,331,648 B for 1 GiB on 8 GPUs;
* Hopper NVLS switch efficiency 0.85 (tuning.cc nvlsEfficiency); NVLS puts (1 + 1/n) x size on each GPU's link.
"""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.cost import collective
from accelsim.hardware import Interconnect

US = 1e-6
GIB = 2**30
LINK_50 = 50e9  # the user's override: 50 GB/s per direction


def _with_bandwidth(ic: Interconnect, bandwidth: float) -> Interconnect:
    return Interconnect.model_validate({**ic.model_dump(), "bandwidth": bandwidth})


def _run(tmp_path, capsys, arch: str, op: str, bandwidth: str, *extra: str) -> dict:
    code = main(["run", "--workload", "collective", "--arch", arch, "--set", f"workload.op={op}",
                 "--set", "workload.bytes=1GiB", "--set", f"arch.interconnect.bandwidth={bandwidth}",
                 *extra, "-o", str(tmp_path), "--no-plots", "-q"])
    assert code == 0, capsys.readouterr().err
    return json.loads((tmp_path / "report.json").read_text())


@pytest.mark.parametrize(("name", "channels", "channel_bw", "line_rate"), [
    ("dgx-a100", 12, 20e9, 300e9),  # 240 < 300 GB/s
    ("dgx-h100", 12, 30e9, 450e9),  # 360 < 450 GB/s
    ("dgx-h200", 12, 30e9, 450e9),  # 360 < 450 GB/s
    ("dgx-b200", 16, 45e9, 900e9),  # 720 < 900 GB/s
])
def test_the_cap_does_not_bind_on_any_dgx_preset(name, channels, channel_bw, line_rate):
    ic = load_arch(name).interconnect
    assert ic.bandwidth == line_rate
    uncapped = channels * channel_bw  # tuning.cc busBw = nChannels x bwIntra
    assert uncapped < line_rate
    assert ic.nccl_bus_bandwidth == collective.bus_bandwidth_of(ic) == uncapped
    assert not ic.nccl_channels_bound  # the link is not more than twice the channels


def test_the_cap_is_the_line_rate_not_bandwidth_times_efficiency():
    # dgx-a100: NCCL's 240 GB/s is above the point-to-point 300 x 0.65 = 195 GB/s, and stays 240
    ic = load_arch("dgx-a100").interconnect
    assert ic.bandwidth * ic.efficiency == pytest.approx(195e9)
    assert collective.bus_bandwidth_of(ic) == 240e9


def test_a_50_gbps_link_bounds_the_nccl_model_by_hand():
    ic = _with_bandwidth(load_arch("dgx-h100").interconnect, LINK_50)
    assert ic.nccl_bus_bandwidth == collective.bus_bandwidth_of(ic) == LINK_50  # min(360, 50) GB/s
    # 1 GiB ring Simple all-reduce on 8 GPUs: each GPU puts 2 x 7/8 x 2^30 B on its link, so at 50e9 B/s it takes
    # at least 2 x 7/8 x 2^30 / 50e9 = 37.58 ms; exactly (8.4 + 14 x 3.4 = 56.0 us) + 8.92 us
    # + (1.75 x 2^30 + fill 50,331,648 B) / 50e9
    floor = 2 * 7 / 8 * GIB / LINK_50
    ring = collective.choose(ic, "all_reduce", GIB, 8, algorithm="ring", protocol="Simple")
    assert ring.seconds >= floor
    assert ring.seconds == pytest.approx((56.0 + 8.92) * US + (1.75 * GIB + 50_331_648) / LINK_50, rel=1e-9)
    # NVLS: (1 + 1/8) x 2^30 B on each link at 50e9 x 0.85
    nvls = collective.choose(ic, "all_reduce", GIB, 8, algorithm="nvls")
    assert nvls.seconds == pytest.approx((25 + 8.92) * US + 1.125 * GIB / (LINK_50 * 0.85), rel=1e-9)
    # whatever the tuner picks, no GPU sends faster than its link
    best = collective.choose(ic, "all_reduce", GIB, 8)
    assert best.wire_bytes / best.seconds <= LINK_50
    # NCCL 2.20's tuner table (Interconnect.nccl_estimate): ring Simple at algbw 50e9 x 8/14, latency 56.0 us
    est = ic.nccl_estimate("all_reduce", GIB, 8, algorithm="ring", protocol="Simple")
    assert est.seconds >= floor
    assert est.seconds == pytest.approx(56.0 * US + GIB * 14 / 8 / LINK_50, rel=1e-9)
    # the tuner's own pick: that ring, or a tree moving 2 x 2^30 B at <= 50e9 x 0.92 B/s, slower still
    assert ic.all_reduce_seconds(GIB, 8) >= floor


def test_the_collective_workload_reports_at_most_the_link(tmp_path, capsys):
    # dgx-a100 (no NVLS on Ampere): ring or tree, both within the 50 GB/s link, so nccl-tests' busbw <= 50 GB/s
    (op,) = _run(tmp_path / "a", capsys, "dgx-a100", "all_reduce", "50GB/s")["ops"]
    assert op["mapping"]["bus_bandwidth"] <= LINK_50
    # dgx-h100 all-gather / reduce-scatter: a ring, (n-1)/n x size on each link, busbw <= 50 GB/s
    for kind in ("all_gather", "reduce_scatter"):
        (op,) = _run(tmp_path / kind, capsys, "dgx-h100", kind, "50GB/s")["ops"]
        assert op["mapping"]["bus_bandwidth"] <= LINK_50
    # dgx-h100 all-reduce (the user's command; 472 GB/s before the fix): NVLS puts only 1.125 x size on each link
    # while nccl-tests' busbw counts 1.75 x size (the switch reduces), so its busbw may pass the link, but at most by
    # 1.75 / 1.125: <= 77.8 GB/s, and the call takes at least 1.125 x 2^30 / 50e9 = 24.2 ms
    (op,) = _run(tmp_path / "ar", capsys, "dgx-h100", "all_reduce", "50GB/s")["ops"]
    m = op["mapping"]
    assert m["all_reduce_s"] >= 1.125 * GIB / LINK_50
    assert m["bus_bandwidth"] <= 1.75 / 1.125 * LINK_50


def test_a_link_far_faster_than_the_channels_gets_a_note(tmp_path, capsys):
    # dgx-h100 raised to NVLink 5's 900 GB/s: more than 2 x 360 GB/s, so the channels bound the collectives
    report = _run(tmp_path / "fast", capsys, "dgx-h100", "all_reduce", "900GB/s")
    (note,) = [n for n in report["notes"] if n.startswith("interconnect: NCCL's channels")]
    assert "12 x 30 = 360 GB/s" in note and "900 GB/s" in note and "nccl.channel_bandwidth" in note
    # two nodes (16 chips): the all-reduce is NCCL's NVLS_TREE, whose in-node stage runs on the same channels
    two = _run(tmp_path / "two", capsys, "dgx-h100", "all_reduce", "900GB/s", "--set", "arch.chips=16")
    assert any(o["mapping"].get("algorithm") == "nvls_tree" for o in two["ops"])
    assert any(n.startswith("interconnect: NCCL's channels") for n in two["notes"])
    # the preset's 450 GB/s is under 2 x 360: no note
    assert not any("NCCL's channels" in n for n in _run(tmp_path / "preset", capsys, "dgx-h100", "all_reduce",
                                                         "450GB/s")["notes"])
