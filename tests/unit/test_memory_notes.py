"""report.json's memory notes: what options.offload put in host memory is said as such, what did not fit as
spilled."""

from __future__ import annotations

from accelsim.api import simulate
from accelsim.config import load_workload
from accelsim.report.summary import spill_notes
from accelsim.units import format_size


def _b(n: int) -> str:
    return f"{n} B ({format_size(n)})"


def _row(capacity, **held) -> dict:
    return {"capacity": capacity, **held, "used": sum(held.values())}


def test_offloaded_state_is_said_apart_from_what_spilled():
    # host holds 500 B of optimizer states (options.offload: optimizer) and 300 B of weights HBM's 1000 B did not
    # take: one line each; without offload all 800 B are spilled state
    memory = {"hbm": _row(1000, weights=700, optimizer_states=0, activations=200),
              "host": _row(10_000, weights=300, optimizer_states=500, activations=0)}
    spilled = (f"{_b(300)} of weights, KV cache, tables or training state do not fit hbm ({_b(1000)}) and live in "
               f"host memory, reached over the host link")
    assert spill_notes(memory, {}, "optimizer") == [
        f"{_b(500)} of optimizer states live in host memory as options.offload: optimizer asks, reached over the "
        f"host link", spilled]
    assert spill_notes(memory, {}) == [spilled.replace(_b(300), _b(800), 1)]
    # offload: activations names the stash in the second memory; a third memory's state did not fit either
    memory = {"hbm": _row(1000, weights=900), "host": _row(2000, weights=0, activations=2000),
              "ssd": _row(10**6, weights=50)}
    assert spill_notes(memory, {}, "activations") == [
        f"{_b(2000)} of activations stashed for the backward pass live in host memory as options.offload: "
        f"activations asks, reached over the host link",
        f"{_b(50)} of weights, KV cache, tables or training state do not fit hbm ({_b(1000)}) or host ({_b(2000)}) "
        f"and live in ssd memory, reached over the ssd link"]


def test_a_training_step_offloading_its_optimizer_says_so():
    # ResNet-18's 11,689,512 parameters (torchvision) with Adam's fp32 master weights and two moments: 12 B each in
    # host memory, put there by options.offload, though tpu-v1's 8 GiB of HBM would hold them
    r = simulate(load_workload("resnet18", ["mode=training", "optimizer=adam"]), "tpu-v1",
                 offload="optimizer").to_dict()
    states = 3 * 4 * 11_689_512
    assert r["memory"]["hbm"]["fraction"] < 1
    assert [n for n in r["notes"] if "host memory" in n] == [
        f"{_b(states)} of optimizer states live in host memory as options.offload: optimizer asks, reached over the "
        f"host link"]
