"""What a data-parallel training step's report says (report/data_parallel.py): the gradient reduction as a phase of
its own beside the optimizer's math, the replicas and batches, and energy per chip and for all chips (probe p27,
finding 4: resnet50 on dgx-a100 had its all-reduces folded into phases.optimizer, 57.6 ms of an 86.7 ms step)."""

from __future__ import annotations

import csv
import math

import pytest

import accelsim
from accelsim import __version__
from accelsim.builders import build_workload
from accelsim.engine import simulate
from accelsim.hardware import Arch
from accelsim.mapping import lower
from accelsim.options import Options
from accelsim.report import build_report
from accelsim.report.compare import compare_rows
from accelsim.report.console import data_parallel_rows, energy_rows
from accelsim.report.html import render_html
from accelsim.report.schema import problems
from accelsim.sweep.store import metrics_from_report
from accelsim.tasks import TaskKind

from ..conftest import make_arch

LENET5_PARAMS = 61_706  # LeCun et al. 1998's LeNet-5 as torchvision-style layers: conv 156 + 2,416, fc 48,120 + 10,164 + 850


def _multi(chips: int) -> Arch:
    base = make_arch(bandwidth="inf").model_dump()
    base.update(chips=chips, interconnect={"bandwidth": "50GB/s", "latency": "2us", "topology": "ring"})
    return Arch.model_validate(base)


def test_grad_reduce_phase_is_the_link_task_and_the_optimizer_waits_for_it():
    # one 512×512 int8 weight over 4 chips (ring, 50 GB/s, 2 µs a step): the all-reduce sends 2·3/4·262,144 B and
    # takes 2·3/4·262,144 / 50e9 s + 6 steps × 2 µs, at the arch's 1 GHz
    g = build_workload("gemm", {"m": 64, "n": 512, "k": 512, "mode": "training", "optimizer": "sgd"},
                       default_dtype="int8")
    arch = _multi(4)
    tg = lower(g, arch, Options())
    trace = simulate(tg)
    rep = build_report(g, arch, tg, trace, name="t", workload={}, version=__version__)
    grad = 512 * 512
    red = rep["phases"]["grad_reduce"]
    assert red["link_bytes"] == 2 * 3 * grad // 4
    assert red["compute_cycles"] == math.ceil((2 * 3 / 4 * grad / 50e9 + 6 * 2e-6) * 1e9)
    link = next(t for t in tg.tasks if t.level == "link")
    assert (red["start_cycle"], red["end_cycle"]) == (trace.start[link.id], trace.end[link.id])
    assert red["cycles"] == red["end_cycle"] - red["start_cycle"] and red["ops"] == 1
    # the step's row (and phases.optimizer) spans its own math: from its first task after the reduction
    opt = next(i for i, m in enumerate(tg.ops) if m.kind == "optimizer")
    own = [t.id for t in tg.tasks if t.op == opt and t.kind is not TaskKind.LAUNCH and t.id != link.id
           and not tg.grad_reduce[0] <= t.id < tg.grad_reduce[1]]
    row = rep["ops"][opt]
    assert row["start_cycle"] == min(trace.start[i] for i in own)
    # (its parameter and state loads prefetch on this arch, which dispatches no kernel; its compute waits for it)
    compute = next(t.id for t in tg.tasks if t.op == opt and t.kind is TaskKind.COMPUTE)
    assert trace.start[compute] >= red["end_cycle"]
    assert rep["phases"]["optimizer"]["start_cycle"] == row["start_cycle"]
    # the reduction's bytes stay on the step's row (ops.csv's bytes_link), as before
    assert row["bytes"]["link"] == red["link_bytes"]


def test_one_chip_has_no_reduction_nor_data_parallel_record():
    g = build_workload("gemm", {"m": 64, "n": 512, "k": 512, "mode": "training", "optimizer": "sgd"},
                       default_dtype="int8")
    arch = make_arch(bandwidth="inf")
    tg = lower(g, arch, Options())
    rep = build_report(g, arch, tg, simulate(tg), name="t", workload={}, version=__version__)
    assert tg.grad_reduce == (0, 0) and tg.data_parallel == 1
    assert "grad_reduce" not in rep["phases"] and rep["data_parallel"]["replicas"] == 1
    assert not any(n.startswith("data parallel") for n in rep["notes"])


@pytest.fixture(scope="module")
def lenet_dgx(tmp_path_factory):
    """lenet5 training, batch 8, on dgx-a100 (8 A100s, one replica each), saved with ops.csv."""
    report = accelsim.simulate("lenet5", "dgx-a100", batch=8, mode="training", plots=False)
    out = tmp_path_factory.mktemp("dp")
    report.save(out)
    return report.to_dict(), out


def test_lenet5_dgx_records_replicas_batches_and_samples_per_s(lenet_dgx):
    rep, out = lenet_dgx
    assert rep["params"] == LENET5_PARAMS
    dp = rep["data_parallel"]
    assert dp["replicas"] == 8 and dp["chips_per_replica"] == 1
    assert dp["batch_per_replica"] == 8 and dp["global_batch"] == 8 * 8
    assert dp["samples_per_s"] == pytest.approx(64 / rep["seconds"])
    # every bf16 parameter's gradient, kept in fp32 (Megatron-LM's rule for bf16: probe p117 #1), all-reduced over 8
    # chips: each sends 2·7/8 of its 4 bytes
    red = rep["phases"]["grad_reduce"]
    assert red["link_bytes"] == 2 * 7 * LENET5_PARAMS * 4 // 8 == rep["bytes"]["link"]
    assert red["ops"] == rep["phases"]["optimizer"]["ops"]  # one reduction per parameter's step
    assert rep["phases"]["optimizer"]["start_cycle"] >= red["end_cycle"]
    note = next(n for n in rep["notes"] if n.startswith("data parallel"))
    assert "8 replicas" in note and "global batch 64" in note and "phases.grad_reduce" in note
    # energy: j_per_step is all 8 chips', j_per_step_per_chip and energy.total_j one chip's
    eff = rep["efficiency"]
    assert eff["j_per_step_per_chip"] == pytest.approx(rep["energy"]["total_j"])
    assert eff["j_per_step"] == pytest.approx(8 * eff["j_per_step_per_chip"])
    # ops.csv: a row per op, the steps' bytes_link summing to the reduction's
    with open(out / "ops.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(rep["ops"])
    assert sum(int(r["bytes_link"]) for r in rows) == red["link_bytes"]


def test_renderers_show_data_parallel(lenet_dgx):
    rep, _ = lenet_dgx
    (label, text), = data_parallel_rows(rep)
    assert label == "data parallel" and text.startswith("8 replicas × batch 8 = global batch 64")
    eff = dict(energy_rows(rep))["efficiency"]
    assert "/step (8 chips)" in eff and "/step per chip" in eff
    assert "one chip of 8" in dict(energy_rows(rep))["energy"]
    rows = dict(compare_rows([("a", rep), ("b", rep)]))
    assert rows["data_parallel.global_batch"] == [64, 64]
    assert rows["efficiency.j_per_step_per_chip"][0] == pytest.approx(rep["efficiency"]["j_per_step_per_chip"])
    metrics = metrics_from_report(rep)
    assert metrics["data_parallel"]["samples_per_s"] == pytest.approx(rep["data_parallel"]["samples_per_s"])
    assert metrics["j_per_step_per_chip"] == pytest.approx(rep["efficiency"]["j_per_step_per_chip"])
    assert "<!DOCTYPE html>" in render_html(rep, plots=False)
    assert problems(rep) == []  # data_parallel, phases.grad_reduce and j_per_step_per_chip are declared


def test_single_chip_energy_per_step_is_per_chip():
    rep = accelsim.simulate("lenet5", "a100", batch=8, mode="training", plots=False).to_dict()
    assert "grad_reduce" not in rep["phases"]
    # one replica: its throughput is recorded too (probe p28: compare showed no baseline beside 8 replicas), 8
    # samples over the step's seconds, with no data-parallel note or console row
    dp = rep["data_parallel"]
    assert (dp["replicas"], dp["global_batch"]) == (1, 8) and dp["samples_per_s"] == pytest.approx(8 / rep["seconds"])
    assert not any(n.startswith("data parallel") for n in rep["notes"])
    assert rep["efficiency"]["j_per_step"] == pytest.approx(rep["efficiency"]["j_per_step_per_chip"])


def test_a_pipelined_micro_batched_step_records_its_replicas():
    # probe p37 finding 2: PP2 × DP2 on 4 chips of a DGX A100, 4 micro-batches of 2 sequences: each replica (the 2
    # chips of one pipeline) runs 4 × 2 = 8 sequences a step, the global batch is 2 replicas × 8 = 16, and
    # samples/s is 16 over the iteration's seconds (the composed 1F1B step, not one micro-batch's pass)
    wl = {"model": "gpt", "hidden": 256, "heads": 4, "layers": 2, "seq_len": 128, "vocab": 512, "batch": 2,
          "mode": "training", "pipeline_parallel": 2, "micro_batches": 4}
    arch = Arch.model_validate({**accelsim.load_arch("dgx-a100").model_dump(), "chips": 4})
    rep = accelsim.simulate(wl, arch, plots=False).to_dict()
    assert rep["pipeline"]["micro_batches"] == 4
    dp = rep["data_parallel"]
    assert dp == {"replicas": 2, "chips_per_replica": 2, "batch_per_replica": 8, "global_batch": 16,
                  "samples_per_s": pytest.approx(16 / rep["seconds"])}
    note = next(n for n in rep["notes"] if n.startswith("data parallel"))
    assert "2 replicas of 2 chips" in note and "batch of 8 = 4 micro-batches of 2" in note
    assert "global batch 16" in note and "one pipeline's, its 2 stages' chips" in note
    assert sum(n.startswith("data parallel") for n in rep["notes"]) == 1
    # probe p70 #4: the note's reduction is the step's, pipeline.grad_reduce_s (the stage whose tail ends the
    # step), in ms to 4 figures; phases.grad_reduce is named as the bottleneck stage's
    assert f"pipeline.grad_reduce_s ({rep['pipeline']['grad_reduce_s'] * 1e3:.4g} ms" in note
    assert "is the bottleneck stage's" in note
    assert not problems(rep)


@pytest.fixture(scope="module")
def dlrm_ep():
    """dlrm_mlperf (batch 2048) on dgx-h100's 8 GPUs, its tables sharded over E = 8 and E = 4 chips, in training and
    inference: {(mode, E): report dict}."""
    return {(mode, e): accelsim.simulate({"model": "dlrm_mlperf", "batch": 2048, "mode": mode,
                                          "embedding_parallel": e}, "dgx-h100", plots=False).to_dict()
            for mode in ("training", "inference") for e in (8, 4)}


@pytest.mark.parametrize(("e", "groups"), [(8, 1), (4, 2)])
def test_dlrm_embedding_group_is_one_replica_of_the_batch(dlrm_ep, e, groups):
    # probe p71 #1: a group of E chips shares the workload's batch of 2048 (builders/recsys.py: each chip looks up
    # its tables for all 2048 samples and runs the MLPs on 2048 / E of them), so it is one replica of E chips.
    # 8 chips / E = 8 is one group: global batch 2048 (the report said 8 replicas, 16,384); E = 4: 2 groups, 4,096
    rep = dlrm_ep[("training", e)]
    assert rep["data_parallel"] == {"replicas": groups, "chips_per_replica": e, "batch_per_replica": 2048,
                                    "global_batch": 2048 * groups,
                                    "samples_per_s": pytest.approx(2048 * groups / rep["seconds"])}
    note = next(n for n in rep["notes"] if n.startswith("data parallel"))
    assert f"of {e} chips (an embedding_parallel group" in note
    assert f"runs the MLPs on {2048 // e} of its samples" in note and f"global batch {2048 * groups}," in note
    assert ("1 replica of 8 chips" if groups == 1 else "2 replicas of 4 chips") in note
    # j_per_step: the step of the global batch on all 8 chips, each simulated chip's energy.total_j
    eff = rep["efficiency"]
    assert eff["j_per_step"] == pytest.approx(8 * rep["energy"]["total_j"])
    assert eff["j_per_step_per_chip"] == pytest.approx(rep["energy"]["total_j"])
    rows = dict(data_parallel_rows(rep))
    if groups > 1:  # the console row, only for several replicas
        assert rows["data parallel"].startswith("2 replicas of 4 chips × batch 2048 = global batch 4096")
    else:  # one replica: a samples/s row (probe p134 #2: a one-replica step printed no samples/s), 2048 a step
        assert list(rows) == ["samples/s"] and rows["samples/s"].endswith("(batch 2,048 a step ÷ its time)")
        assert float(rows["samples/s"].split()[0].replace(",", "")) == pytest.approx(2048 / rep["seconds"], rel=1e-3)


@pytest.mark.parametrize("e", [8, 4])
def test_dlrm_embedding_group_inference_energy_per_sample(dlrm_ep, e):
    # inference has no data_parallel record; j_per_inference is one group's pass over its batch: the simulated
    # chip's energy × the E chips that share the 2048 samples, / 2048
    rep = dlrm_ep[("inference", e)]
    assert "data_parallel" not in rep
    assert rep["efficiency"]["j_per_inference"] == pytest.approx(rep["energy"]["total_j"] * e / 2048)


def test_in_node_gradient_all_reduce_bytes_are_the_chosen_algorithms_and_the_step_names_it():
    # probe p144 #2: gpt h = 2048, 8 layers, TP 2 x PP 2 on 16 chips of dgx-h100 (4 data-parallel ranks in one
    # node) reported 765,952,000 B per chip for stage 1's fp32 gradient of 153,174,016 parameters (612,696,064 B),
    # not the ring's 2(n-1)/n = 919,044,096 B. On an NVSwitch node whose switch reduces (Hopper), NCCL picks NVLS
    # for the large buffers: each GPU sends its whole buffer to the switch's ld_reduce (S) and its reduced 1/n share
    # to the switch's multicast store (S/n), (1 + 1/n) S a direction (cost/collective.py); the small ones (layer
    # norms and biases) go as a ring (LL): 2(n-1)/n S.
    # Stage 1 (test_cpu_adam.py's SMALL): 4 layers x 25,185,280 (TP 2's share) + LM head 52,428,800 + final LN 4,096;
    # its 1-D tensors per layer: two layer norms' weight and bias 4 x 2048, qkv bias 3 x 2048 / 2, proj bias 2048,
    # fc1 bias 4 x 2048 / 2, fc2 bias 2048 = 19,456 elements; x 4 + the final LN's 2 x 2048 = 81,920.
    small = {"model": "gpt", "mode": "training", "hidden": 2048, "heads": 16, "layers": 8, "seq_len": 2048,
             "batch": 1, "micro_batches": 8, "optimizer": "adam", "recompute": "selective", "tensor_parallel": 2,
             "pipeline_parallel": 2}
    r = accelsim.simulate(small, {"base": "dgx-h100", "chips": 16}, plots=False).to_dict()
    n, params, vectors = 4, 153_174_016, 4 * (4 * 2048 + 3 * 2048 // 2 + 2048 + 4 * 2048 // 2 + 2048) + 2 * 2048
    assert vectors == 81_920
    nvls, ring = (1 + 1 / n) * 4 * (params - vectors), 2 * (n - 1) / n * 4 * vectors  # 765,460,480 + 491,520
    assert r["phases"]["grad_reduce"]["link_bytes"] == nvls + ring == 765_952_000
    steps = [op for op in r["ops"] if op["kind"] == "optimizer" and op["bytes"].get("link")]
    assert {(op["mapping"]["all_reduce_algorithm"], op["mapping"]["all_reduce_protocol"]) for op in steps} == \
        {("nvls", "Simple"), ("ring", "LL")}
    by_name = {op["name"]: op for op in steps}
    emb = by_name["language_model.embedding.word_embeddings.weight.step"]  # the LM head's half: 52,428,800 fp32
    assert emb["mapping"]["all_reduce_algorithm"] == "nvls" and emb["bytes"]["link"] == 1.25 * 4 * 52_428_800
    ln = by_name["language_model.encoder.final_layernorm.weight.step"]  # 2048 fp32: 8 KiB
    assert ln["mapping"]["all_reduce_algorithm"] == "ring" and ln["bytes"]["link"] == 1.5 * 4 * 2048
