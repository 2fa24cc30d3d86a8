"""``options.all_reduce: custom``: vLLM's custom all-reduce (accelsim.cost.collective.custom), against hand
calculations.

vLLM (csrc/custom_all_reduce.cuh CustomAllreduce::allreduce; custom_all_reduce.py should_custom_ar): 2, 4, 6 or 8
fully connected GPUs, messages under 8 MiB; one-shot below 512 KiB on 2-4 GPUs and below 256 KiB on 8 (always on
2), two-shot above. One-shot: each GPU reads its n-1 peers' whole buffers, (n-1) x size; two-shot: 2(n-1)/n x size.
Either takes the link's latency once + those bytes / (bandwidth x efficiency).

DGX A100 preset: NVLink 300 GB/s per direction x efficiency 0.65 = 195 GB/s, latency 8.92 us.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim import api
from accelsim.config import WorkloadSpec, load_arch
from accelsim.config.serving import CostGrid, EngineConfig
from accelsim.cost import collective
from accelsim.options import Options
from accelsim.serving import cost

US = 1e-6


@pytest.fixture(scope="module")
def a100():
    return load_arch("dgx-a100")


def test_one_shot_and_two_shot_by_hand(a100):
    # TP 8 decode of one Llama-2-7B token: 4096 bf16 = 8192 B < 256 KiB: one-shot, 7 x 8192 = 57,344 B read,
    # 8.92 us + 57,344 / 195e9 = 8.92 + 0.294 = 9.214 us (NCCL's ring LL: 6.6 + 14 x 0.6 + 8.92 = 23.92 us + bytes)
    c = collective.call(a100, "all_reduce", 8192, 8, all_reduce="custom")
    assert (c.algorithm, c.protocol, c.sent) == ("one_shot", "", 57_344)
    assert c.seconds == pytest.approx(8.92 * US + 57_344 / 195e9, rel=1e-12)
    nccl = collective.call(a100, "all_reduce", 8192, 8)
    assert (nccl.algorithm, nccl.protocol) == ("ring", "LL") and nccl.seconds > 23.92 * US
    # 256 KiB on 8 GPUs is not below 256 KiB: two-shot, 2 x 7/8 x 262,144 = 458,752 B: 8.92 + 2.3526 = 11.2726 us
    c = collective.call(a100, "all_reduce", 262_144, 8, all_reduce="custom")
    assert c.algorithm == "two_shot" and c.seconds == pytest.approx(8.92 * US + 458_752 / 195e9, rel=1e-12)
    # the same 256 KiB on 4 GPUs is below 512 KiB: one-shot, 3 x 262,144 = 786,432 B: 8.92 + 4.0330 us
    c = collective.call(a100, "all_reduce", 262_144, 4, all_reduce="custom")
    assert c.algorithm == "one_shot" and c.seconds == pytest.approx(8.92 * US + 786_432 / 195e9, rel=1e-12)
    # 2 GPUs: one-shot at any size under 8 MiB (4 MiB: 1 x 4 MiB read)
    c = collective.call(a100, "all_reduce", 4 * 2**20, 2, all_reduce="custom")
    assert c.algorithm == "one_shot" and c.seconds == pytest.approx(8.92 * US + 4 * 2**20 / 195e9, rel=1e-12)


def test_where_vllm_runs_nccl_the_call_is_nccls(a100):
    # 8 MiB (not under vLLM's max_size), 3 GPUs (no kernel case), another collective: NCCL's choice unchanged
    for kind, nbytes, group in (("all_reduce", 8 * 2**20, 8), ("all_reduce", 8192, 3), ("all_gather", 8192, 8)):
        assert collective.call(a100, kind, nbytes, group, all_reduce="custom") == collective.call(a100, kind, nbytes,
                                                                                                  group)
    # a TPU slice's ICI (a torus, no peer-to-peer GPU loads) keeps its own collectives
    tpu = load_arch("tpu-v5e-8")
    assert collective.call(tpu, "all_reduce", 8192, 2, all_reduce="custom") == collective.call(tpu, "all_reduce",
                                                                                               8192, 2)
    # a group across two DGX A100 nodes (16 GPUs, a data-parallel pair of TP 8 ranks spread over 16) stays on the
    # scale-out network, NCCL's ring or tree across nodes (here its tree: tree/Simple's baseLat is 0, ring/LL's 6.6 µs)
    two = load_arch({"base": "dgx-a100", "chips": 16})
    across = collective.call(two, "all_reduce", 8192, 2, 16, all_reduce="custom")
    assert across == collective.call(two, "all_reduce", 8192, 2, 16) and across.algorithm == "tree"
    with pytest.raises(ValueError, match="unknown all_reduce"):
        collective.call(a100, "all_reduce", 8192, 8, all_reduce="ring")


def test_a_full_mesh_reads_over_the_groups_links():
    # MI300X: 7 Infinity Fabric links of 448 / 7 = 64 GB/s, efficiency 0.75 (AMD's ROCm blog on RCCL and xGMI,
    # 2025-03-02: usable "approximately 48 GB/s per link", 48 / 64; probe p218 #1, was NCCL-on-NVLink's 0.82). TP 2
    # reads its one peer over one link: 8.92 us + 8192 / (64e9 x 0.75) = 8.92 + 0.1707 us; TP 8 one-shot over all 7:
    # 7 x 8192 / (448e9 x 0.75)
    mi = load_arch("mi300x-8")
    assert collective.call(mi, "all_reduce", 8192, 2, all_reduce="custom").seconds == pytest.approx(
        8.92 * US + 8192 / 48e9, rel=1e-12)
    assert collective.call(mi, "all_reduce", 8192, 8, all_reduce="custom").seconds == pytest.approx(
        8.92 * US + 7 * 8192 / (7 * 48e9), rel=1e-12)


def test_the_option_reaches_a_tensor_parallel_run():
    # Llama-2-7B decode at TP 8 on a DGX A100: 2 all-reduces a layer of 1 x 4096 bf16 (8192 B) and the
    # vocabulary-parallel embedding's, 65 in all; with custom each is one-shot at 9.214 us instead of NCCL's ring LL
    w = {"model": "llama2_7b", "batch": 1, "phase": "decode", "kv_len": 105, "attention": "fused",
         "tensor_parallel": 8}
    runs = {ar: api.simulate(w, {"base": "dgx-a100", "chips": 8}, options={"execution": "cuda_graph",
                                                                           "all_reduce": ar}, plots=False).to_dict()
            for ar in ("nccl", "custom")}
    rows = {ar: [o for o in r["ops"] if o.get("fn") == "all_reduce"] for ar, r in runs.items()}
    assert len(rows["custom"]) == len(rows["nccl"]) == 2 * 32 + 1
    assert {o["mapping"]["algorithm"] for o in rows["custom"]} == {"one_shot"}
    assert {o["mapping"]["algorithm"] for o in rows["nccl"]} == {"ring"}
    one = collective.call(load_arch("dgx-a100"), "all_reduce", 8192, 8, all_reduce="custom").seconds
    assert all(o["mapping"]["all_reduce_s"] == pytest.approx(one, rel=1e-12) for o in rows["custom"])
    assert runs["custom"]["seconds"] < runs["nccl"]["seconds"]


def test_a_run_whose_small_nccl_all_reduces_take_a_large_share_names_the_option():
    # probe p135 #2: accelsim run keeps NCCL (a PyTorch program's), but says what the 8 KB all-reduces of a TP 8
    # decode cost and that vLLM's kernel (accelsim serve's) prices them with options.all_reduce=custom
    w = {"model": "llama2_7b", "batch": 1, "phase": "decode", "seq_len": 1, "kv_len": 128, "attention": "fused",
         "tensor_parallel": 8}
    arch = {"base": "dgx-a100", "chips": 8}
    r = api.simulate(w, arch, plots=False).to_dict()
    (note,) = [n for n in r["notes"] if n.startswith("options.all_reduce: nccl: ")]
    # every all-reduce is 1 x 4096 bf16 = 8,192 B over 8 GPUs of one node, which vLLM's kernel takes (2, 4, 6 or 8
    # fully connected GPUs, under 8 MiB)
    rows = [o for o in r["ops"] if o.get("fn") == "all_reduce"]
    assert {(o["mapping"]["message_bytes"], o["mapping"]["group"]) for o in rows} == {(8192, 8)}
    # their link time, each call as NCCL's tuner prices it (the console's "collective ops" row's measure; probe
    # p158 #2: the note summed the rows' spans, launch gaps included, 4.020 ms against the row's 3.906): ring/LL,
    # baseLat 6.6 us + 2(8-1) = 14 hops x 0.6 us + the link's 8.92 us, + (2 x 7/8 x 8,192 B + the ring's fill
    # min(8,192 / 8, 24 channels x 32 KiB) = 1,024 B) / LL's Ampere cap 87.7 GB/s (below 240 GB/s x 1/2)
    nccl = (6.6 + 14 * 0.6 + 8.92) * US + (2 * 7 / 8 * 8192 + 1024) / 87.7e9  # 24.10 us
    assert all(o["mapping"]["all_reduce_s"] == pytest.approx(nccl, rel=1e-12) for o in rows)
    link = 65 * nccl
    clock = r["clock_hz"]
    share = link * clock / r["total_cycles"]
    assert share > 0.10  # the note's threshold (probe p135: 1.60 of 4.71 ms, 34 %)
    own = 65 * (8.92 * US + 7 * 8192 / 195e9)  # 65 one-shot calls, the module docstring's figures (9.214 us each)
    # what custom saves is at most link - own: less where other work overlaps the calls (probe p157 #3)
    assert note == (f"options.all_reduce: nccl: 65 all-reduces inside the node (8KiB over 8 chips) take "
                    f"{link * 1e3:,.3f} ms of link time as NCCL's ({share:.1%} of the run, "
                    f"{r['total_cycles'] / clock * 1e3:,.3f} ms); vLLM's custom all-reduce, which accelsim serve "
                    f"runs, takes them in {own * 1e3:,.3f} ms, at most {(link - own) * 1e3:,.3f} ms less (less where "
                    f"other work or kernel launches overlap them): --set options.all_reduce=custom prices them so")
    # with the option set, they are vLLM's: no note, and the run is no more than the bound shorter (here the calls
    # are on the critical path: the bound, up to each link task's rounding to whole cycles, 65 of them)
    nccl_s = r["seconds"]
    r = api.simulate(w, arch, options={"all_reduce": "custom"}, plots=False).to_dict()
    assert not [n for n in r["notes"] if n.startswith("options.all_reduce")]
    assert 0 < nccl_s - r["seconds"] <= link - own + 65 / clock
    # a 2,048-token prefill's all-reduces are 2048 x 4096 x 2 B = 16 MiB, not under vLLM's 8 MiB: NCCL's in vLLM
    # too, so no note however long they take
    w = {**w, "phase": "prefill", "seq_len": 2048}
    w.pop("kv_len")
    r = api.simulate(w, arch, plots=False).to_dict()
    assert {o["mapping"]["message_bytes"] for o in r["ops"] if o.get("fn") == "all_reduce"} == {16 * 2**20}
    assert not [n for n in r["notes"] if n.startswith("options.all_reduce")]


def test_option_values_and_the_serving_default():
    assert Options().all_reduce == "nccl"  # accelsim run: NCCL, as the NCCL tables it is validated on
    with pytest.raises(ValidationError, match="all_reduce"):
        Options(all_reduce="ring")
    # accelsim serve: vLLM's default (custom all-reduce on unless --disable-custom-all-reduce)
    assert EngineConfig().custom_all_reduce is True


def test_the_serving_grid_runs_with_custom_all_reduce(monkeypatch):
    # the grid's passes are simulated with options.all_reduce custom unless engine.custom_all_reduce is false
    seen = []

    def fake(shapes, arch, opts, **kw):
        seen.append(opts.all_reduce)
        raise RuntimeError("stop")

    monkeypatch.setattr(cost, "simulate_all", fake)
    spec = WorkloadSpec("llama2_7b", {})
    for on in (True, False):
        with pytest.raises(RuntimeError, match="stop"):
            cost.build_grid(spec, load_arch("dgx-a100"), Options(), EngineConfig(custom_all_reduce=on),
                            CostGrid(), 1 << 16)
    assert seen == ["custom", "nccl"]


def test_a_training_step_gets_no_custom_all_reduce_note():
    # probe p157 #3: a training step's collectives are NCCL's (Megatron-LM, DDP); vLLM's custom all-reduce is a
    # serving kernel. gpt at TP 8 on dgx-h100: 10 all-reduces of 1 x 1024 x 1024 x 2 B = 2 MiB inside the node,
    # which vLLM's rule would take (8 GPUs, under 8 MiB); the step is launch-bound, so pricing them as the custom
    # kernel (two-shot) leaves the step's time as it was: the note promised a saving the step never sees
    w = {"model": "gpt", "mode": "training", "layers": 2, "hidden": 1024, "heads": 16, "seq_len": 1024,
         "tensor_parallel": 8}
    runs = {ar: api.simulate(w, {"base": "dgx-h100"}, options={"all_reduce": ar}, plots=False).to_dict()
            for ar in ("nccl", "custom")}
    rows = [o for o in runs["nccl"]["ops"] if o.get("fn") == "all_reduce" and o.get("unit") == "link"
            and not o["name"].startswith("loss.")]
    assert {o["mapping"]["message_bytes"] for o in rows} == {1024 * 1024 * 2} and len(rows) == 10
    # and the vocabulary-parallel loss's three (probe p238 #3: Megatron's logits_max, predicted_logits and
    # sum_exp_logits), one fp32 value for each of the 1024 tokens: 4 KiB, which vLLM's rule would take too
    loss = [o for o in runs["nccl"]["ops"] if o["name"].startswith("loss.") and o.get("fn") == "all_reduce"]
    assert [o["mapping"]["message_bytes"] for o in loss] == [1024 * 4] * 3
    assert collective.custom(load_arch("dgx-h100").interconnect, 2 * 2**20, 8) is not None  # vLLM's rule takes them
    assert not [n for n in runs["nccl"]["notes"] if n.startswith("options.all_reduce")]
    assert runs["custom"]["seconds"] == runs["nccl"]["seconds"]
    # a pipeline's training step (the composed notes) neither
    piped = api.simulate({**w, "tensor_parallel": 4, "pipeline_parallel": 2, "micro_batches": 2},
                         {"base": "dgx-h100"}, plots=False).to_dict()
    assert not [n for n in piped["notes"] if n.startswith("options.all_reduce")]
