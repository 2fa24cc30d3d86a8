"""An arch preset's description states its peak in the units the arch's own numbers give (probe p78 #2)."""

import re
from decimal import Decimal

import pytest

from accelsim.config import list_presets, load_arch

# "4.1 TMAC/s", "8.2 TFLOP/s", "311.9 TFLOPS", "2.25 PFLOPS": a number, a prefix and MAC/s or FLOP/s (FLOPS)
FIGURE = re.compile(r"([\d.]+) ([TP])(MAC/s|FLOP/s|FLOPS)\b")
PREFIX = {"T": Decimal(10) ** 12, "P": Decimal(10) ** 15}


def stated(description: str) -> list[tuple[Decimal, str, str]]:
    """(the number as written, its prefix, its unit) of every peak figure in ``description``."""
    return [(Decimal(v), p, u) for v, p, u in FIGURE.findall(" ".join(description.split()))]


def test_multicore_4_states_a_mac_rate_and_a_flop_rate_that_agree_with_its_array():
    # 64 x 64 MACs a cycle at 1 GHz = 4.096e12 MAC/s per core, 2 FLOPs a MAC = 8.192e12 FLOP/s ("8.2 TMAC/s" before)
    arch = load_arch("multicore-4")
    assert arch.peak_macs_per_cycle // arch.cores * arch.clock == 64 * 64 * 1e9
    assert stated(arch.description) == [(Decimal("4.1"), "T", "MAC/s"), (Decimal("8.2"), "T", "FLOP/s")]


@pytest.mark.parametrize("name", list_presets("arch"))
def test_every_peak_a_description_states_is_the_presets_own(name):
    # each figure, read to the digits written (half a unit of its last digit either way), is the arch's MACs a cycle
    # times its clock (MAC/s), or twice that (FLOP/s, 2 FLOPs a MAC), per chip or per core: a100's 108 SMs x 1,024
    # x 1.41 GHz x 2 = 311.9 TFLOPS
    arch = load_arch(name)
    chip = Decimal(arch.peak_macs_per_cycle) * Decimal(arch.clock)
    for value, prefix, unit in stated(arch.description or ""):
        per_mac = 1 if unit == "MAC/s" else 2
        half = Decimal(5) * Decimal(10) ** (value.as_tuple().exponent - 1)
        near = [abs(value * PREFIX[prefix] - per_mac * rate) <= half * PREFIX[prefix]
                for rate in (chip, chip / arch.cores)]
        assert any(near), f"{name}: {value} {prefix}{unit}; the arch gives {per_mac * chip / PREFIX[prefix]:.4g} " \
                          f"per chip, {per_mac * chip / arch.cores / PREFIX[prefix]:.4g} per core"


@pytest.mark.parametrize(("name", "said"), [
    # probe p130 #6: figures whose YAML comment calls them assumptions, borrowed from a peer simulator (NeuSim's
    # tpuv5e/v5p/v6e.json TDP_W 350) or another GPU (LLMCompass's A100 NVLink3 latency_s 8.92e-6; NCCL-on-NVLink's
    # ~20 % protocol overhead, 0.82), were printed by `info` as plain numbers; its description now says so, and
    # `info` prints the description. Each check reads the figure the description names from the loaded arch.
    # probe p218: mi300x-8's efficiency is now AMD's published 48 of 64 GB/s per xGMI link (0.75, no longer an
    # assumption), and the TPU slices' ICI efficiency 0.95 x the scaling book's link rate / the line rate (measured
    # on v5e: 0.95 x 4.5e10 / 5e10; v6e and v5p take that fraction of their 9e10 / 1e11, an assumption) = 0.855
    *[(n, lambda a: a.energy.tdp == 350) for n in ("tpu-v5e", "tpu-v5p", "tpu-v6e")],
    *[(n, lambda a: a.energy.tdp == 350 and a.interconnect.efficiency == pytest.approx(0.95 * 9e10 / 1e11))
      for n in ("tpu-v5e-8", "tpu-v5p-128", "tpu-v6e-8")],
    ("mi300x-8", lambda a: a.interconnect.latency == pytest.approx(8.92e-6) and a.interconnect.efficiency == 48 / 64),
])
def test_info_shows_the_assumptions_a_description_names(capsys, name, said):
    import json

    from accelsim.cli import main

    arch = load_arch(name)
    assert said(arch)
    text = " ".join(arch.description.split())
    assert "Assumption" in text and ("NeuSim" in text if name.startswith("tpu") else "LLMCompass" in text)
    assert main(["info", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["description"] == text
    assert main(["info", name]) == 0
    assert "Assumption" in capsys.readouterr().out
