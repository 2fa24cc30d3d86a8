"""report.json's memory notes: what options.offload put in host memory is said as such, what did not fit as
spilled; a composed run's notes are those of the footprint it reports (a serving run's last decode step too)."""

from __future__ import annotations

from types import SimpleNamespace

from accelsim.api import simulate
from accelsim.config import load_workload
from accelsim.report.summary import spill_notes
from accelsim.scenarios.serving import memory_notes
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


def _pass(memory, shown=None):
    timing = SimpleNamespace(memory=memory, held={}, offload="")
    return SimpleNamespace(timing=timing, shown=SimpleNamespace(timing=shown or timing))


def test_a_serving_runs_notes_cover_its_last_decode_step():
    # the prefill spills 300 B of weights; the last decode step holds the weights in HBM and spills 200 B of KV
    # cache: its note is added, prefixed with the step; a last step spilling as the prefill did adds nothing
    prefill = _pass({"hbm": _row(1000, weights=700, kv_cache=300), "host": _row(10**4, weights=300, kv_cache=0)})
    last = _pass({"hbm": _row(1000, weights=1000, kv_cache=0), "host": _row(10**4, weights=0, kv_cache=200)})
    spilled = ("{} of weights, KV cache, tables or training state do not fit hbm ({}) and live in host memory, "
               "reached over the host link")
    other = "attention runs unfused"
    assert memory_notes([spilled.format(_b(300), _b(1000)), other], prefill, last, 127) == [
        spilled.format(_b(300), _b(1000)), "decode step 127 (the last): " + spilled.format(_b(200), _b(1000)),
        other]
    assert memory_notes([spilled.format(_b(300), _b(1000))], prefill, prefill, 3) == [
        spilled.format(_b(300), _b(1000))]
    # a layer-sampled first pass: its shown (2-layer) pass's note is replaced by the whole model's footprint's
    sample = {"hbm": _row(1000, weights=950), "host": _row(10**4, weights=30)}
    sampled = _pass({"hbm": _row(1000, weights=700), "host": _row(10**4, weights=300)}, shown=SimpleNamespace(
        memory=sample, held={}, offload=""))
    assert memory_notes([spilled.format(_b(30), _b(1000)), other], sampled, None, 0) == [
        spilled.format(_b(300), _b(1000)), other]


def test_llama2_7b_decoding_past_hbm_notes_the_kv_it_spills():
    # LLaMA-2-7B bf16 on one H100, 64 sequences of 2,048 prompt tokens and 128 decode steps: the last step's KV
    # cache (64 × (2,048 + 128) tokens × 32 layers × 2 × 4,096 × 2 B = 73,014,444,032 B after its token) and the weights
    # (13,476,831,232 B) outgrow the 85,899,345,920 B of HBM: the step's KV beyond it lives in host memory, and
    # the notes say so beside the prefill's (top-level memory: the prefill; serving.memory: the last step)
    r = simulate({"model": "llama2_7b", "dtype": "bf16", "batch": 64, "seq_len": 2048, "decode_steps": 128,
                  "attention": "fused"}, "h100").to_dict()
    host = r["serving"]["memory"]["host"]
    assert host["kv_cache"] == host["used"] > 0 and host["weights"] == 0
    kv = 64 * 2176 * 32 * 2 * 4096 * 2
    assert r["serving"]["memory"]["hbm"]["kv_cache"] + host["kv_cache"] == kv
    # the last of 128 steps is "decode step 128", as serving.memory_pass names it (probe p172 #2: the note said
    # "decode step 127", counting from 0 where memory_pass counts from 1)
    assert r["serving"]["memory_pass"] == "decode step 128"
    assert (f"decode step 128 (the last): {_b(host['used'])} of weights, KV cache, tables or training state do not "
            f"fit hbm ({_b(85_899_345_920)}) and live in host memory, reached over the host link") in r["notes"]
