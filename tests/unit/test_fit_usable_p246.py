"""What fits a memory is its usable bytes, ``capacity`` x ``usable_fraction`` (``Level.usable``), not the nominal
capacity: placement spills the rest to host memory, a training step that does not fit them is refused, and
``accelsim info`` shows them (probe p246 #1: llama3_8b decode at batch 64 on l40s used 50,445,590,528 B of the
48 GiB and spilled nothing, though the card's driver-reported total is 45,589 MiB)."""

from __future__ import annotations

import json

import pytest

from accelsim.api import simulate
from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.errors import AccelsimError

GIB, MIB = 2**30, 2**20
# arch/l40s.yaml: capacity 48 GiB, usable_fraction 45,589 / 49,152 (the cudaMemGetInfo total the preset cites)
L40S_CAPACITY = 48 * GIB  # 51,539,607,552 B
L40S_USABLE = 45_589 * MIB  # 47,803,531,264 B

# llama3_8b (8,030,261,248 parameters, HF's count) in bf16, decode at batch 64 over a 4,096-token cache: the step
# appends a 4,097th position, and each position of a sequence holds K and V of 32 layers x 8 KV heads x 128 x 2 B
WEIGHTS = 8_030_261_248 * 2  # 16,060,522,496 B
KV = 64 * 4097 * 32 * 2 * 8 * 128 * 2  # 34,368,126,976 B
DECODE = {"base": "llama3_8b", "batch": 64, "phase": "decode", "kv_len": 4096, "attention": "fused"}


@pytest.fixture(scope="module")
def l40s_decode():
    return simulate(DECODE, load_arch("l40s"), plots=False).to_dict()


def test_l40s_fills_its_usable_bytes_and_spills_the_rest_to_host(l40s_decode):
    hbm, host = l40s_decode["memory"]["hbm"], l40s_decode["memory"]["host"]
    act = hbm["activations"]  # the pass's working set, held in hbm whatever spills
    # the report keeps the nominal capacity, adds the usable bytes, and the fraction is of those
    assert hbm["capacity"] == L40S_CAPACITY and hbm["usable"] == L40S_USABLE
    assert hbm["used"] == L40S_USABLE and hbm["fraction"] == 1.0
    # everything is still held: what hbm's 45,589 MiB do not take lives in host memory
    # (16,060,522,496 + 34,368,126,976 + act - 47,803,531,264 = 2,625,118,208 + act B)
    assert hbm["weights"] + host["weights"] == WEIGHTS and hbm["kv_cache"] + host["kv_cache"] == KV
    assert host["used"] == WEIGHTS + KV + act - L40S_USABLE
    assert "usable" not in host  # host.usable_fraction is 1
    assert l40s_decode["bytes"]["host"] > 0  # and the step reads it over the PCIe link
    assert any("do not fit hbm (47803531264 B" in n and "live in host memory" in n for n in l40s_decode["notes"])


def test_without_usable_fraction_the_same_step_fits_the_nominal_48_gib(l40s_decode):
    # the same card with usable_fraction 1 (a preset without it): 50.4 GB < 48 GiB = 51.5 GB, nothing spills, and
    # the row has no usable (report.json of such presets is unchanged: benchmarks/regression.py)
    arch = load_arch({"base": "l40s", "hbm": {"usable_fraction": 1.0}})
    report = simulate(DECODE, arch, plots=False).to_dict()
    hbm, host = report["memory"]["hbm"], report["memory"]["host"]
    assert "usable" not in hbm and hbm["capacity"] == L40S_CAPACITY
    assert hbm["used"] == WEIGHTS + KV + hbm["activations"] and host["used"] == 0
    assert hbm["fraction"] == hbm["used"] / L40S_CAPACITY
    assert report["bytes"]["host"] == 0
    assert report["seconds"] < l40s_decode["seconds"]  # the spilled run reads 1.6 GB more over a 31.5 GB/s link


# gpt2 training (124,439,808 parameters): bf16 weights 2 B, fp32 gradients 4 B and Adam's fp32 master, m and v
# 12 B a parameter, 18 B in all = 2,239,916,544 B that are never spilled (options.offload: none)
GPT2 = 124_439_808
FIXED = GPT2 * (2 + 4 + 12)
STEP = {"model": "gpt2", "mode": "training", "seq_len": 128, "batch": 1}


def test_a_training_step_is_held_to_the_usable_bytes():
    # a 4 GiB hbm holds the step (2.24 GB of state and the activations)...
    fits = simulate(STEP, load_arch({"base": "h100", "hbm": {"capacity": "4GiB"}}), plots=False).to_dict()
    assert fits["memory"]["hbm"]["used"] - fits["memory"]["hbm"]["activations"] == FIXED
    # ...but half of it usable (2 GiB = 2,147,483,648 B) is less than the 2,239,916,544 B of state: refused, at the
    # capacity, saying both sizes
    arch = load_arch({"base": "h100", "hbm": {"capacity": "4GiB", "usable_fraction": 0.5}})
    with pytest.raises(AccelsimError) as err:
        simulate(STEP, arch, plots=False)
    msg = str(err.value)
    assert "but it holds 2,147,483,648 B usable of its 4,294,967,296 B" in msg
    assert "alone need 2,239,916,544 B, more than the 2,147,483,648 B of hbm.capacity 4GiB, 2GiB usable" in msg
    # the advice's room is the usable bytes too: offloading the optimizer leaves weights + gradients + activations
    # in hbm, 2 B + 4 B a parameter and the activations
    act = fits["memory"]["hbm"]["activations"]
    assert f"options.offload: optimizer (needs {GPT2 * 6 + act:,} B)" in msg


def test_info_shows_the_usable_bytes(capsys):
    assert main(["info", "l40s", "--json"]) == 0
    hbm = next(lv for lv in json.loads(capsys.readouterr().out)["levels"] if lv["name"] == "hbm")
    assert hbm["capacity"] == L40S_CAPACITY and hbm["usable"] == L40S_USABLE
    assert main(["info", "h100", "--json"]) == 0  # no usable_fraction: no usable key
    assert all("usable" not in lv for lv in json.loads(capsys.readouterr().out)["levels"])
    assert main(["info", "l40s"]) == 0
    assert "48GiB (44.52GiB usable)" in capsys.readouterr().out
