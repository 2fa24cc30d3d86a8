"""Probe p272 #1: a pipeline's sends between stages and its embedding-gradient all-reduce, which no op row holds,
are in ``bytes.link`` and in the link's (or, between nodes, the NIC's) busy time, as the energy already charged
them; before, ``bytes.link`` was 0 and ``utilization.link`` 0.0 while ``energy.by_level.link`` priced the bytes."""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload
from accelsim.hardware import Interconnect

SMALL = {"model": "gpt", "hidden": 256, "heads": 4, "layers": 4, "seq_len": 64, "vocab": 1024, "batch": 2,
         "dtype": "fp16", "pipeline_parallel": 2, "micro_batches": 4}


def _ring(chips: int):
    # a formula ring: 10 GB/s a direction, 2 us a step, efficiency 1 (every time below by hand from these)
    arch = load_arch("gemmini")
    return arch.model_copy(update={"chips": chips, "interconnect": Interconnect(bandwidth="10GB/s", latency="2us",
                                                                               topology="ring")})


def _rows_link(rep: dict) -> int:
    return sum(op["bytes"].get("link", 0) for op in rep["ops"])


def test_training_sends_and_embedding_all_reduce_count_in_link_bytes_and_busy_time():
    rep = simulate(load_workload({**SMALL, "mode": "training"}), _ring(2)).to_dict()
    # P = 2, no tensor or data parallelism (2 chips, 2 stages): no op row is a collective
    assert _rows_link(rep) == 0
    # every send: 2 (forward and back) x (P - 1) boundaries x m = 4 micro-batches = 8, each one micro-batch's
    # hidden states, 2 x 64 x 256 fp16 = 65,536 B
    send = 2 * 64 * 256 * 2
    assert send == 65_536
    assert rep["pipeline"]["p2p_bytes_total"] == 8 * send == 524_288
    # the embedding group's all-reduce of the 1024 x 256 fp16 gradient (an fp16 model's gradient is fp16) over a
    # ring of 2: each rank sends 2 (n - 1) / n x S = S = 524,288 B; both ranks
    grad = 1024 * 256 * 2
    assert rep["pipeline"]["embedding_sync_bytes"] == 2 * grad == 1_048_576
    assert rep["bytes"]["link"] == 8 * send + 2 * grad == 1_572_864  # was 0
    # busy: each send holds its sender's link 2 us + 65,536 B / 10 GB/s = 8.5536 us; the all-reduce 2 steps x 2 us
    # + 524,288 B / 10 GB/s = 56.4288 us on each of its two ranks: 68.4288 + 112.8576 = 181.2864 us, over
    # P x the iteration
    busy = 8 * (2e-6 + send / 10e9) + 2 * (2 * 2e-6 + grad / 10e9)
    assert busy == pytest.approx(181.2864e-6, rel=1e-12)
    assert rep["pipeline"]["embedding_sync_s"] == pytest.approx(2 * 2e-6 + grad / 10e9, rel=1e-12)
    assert rep["utilization"]["link"] == pytest.approx(busy / (2 * rep["seconds"]), rel=1e-9)  # was 0.0


def test_inference_sends_count_in_link_bytes_and_busy_time():
    rep = simulate(load_workload(SMALL), _ring(2)).to_dict()
    # forward only: (P - 1) x m = 4 sends of 65,536 B; no embedding all-reduce
    assert rep["pipeline"]["embedding_sync_bytes"] == 0
    assert rep["bytes"]["link"] == _rows_link(rep) + 4 * 65_536 == 262_144
    assert rep["utilization"]["link"] == pytest.approx(4 * (2e-6 + 65_536 / 10e9) / (2 * rep["seconds"]), rel=1e-9)


def test_link_energy_is_the_link_bytes_at_the_links_figure():
    # docs/configuration.md: interconnect.energy_per_bit is the pJ per bit a chip sends over its links (bytes.link);
    # dgx-a100: 1.3 pJ/bit on each of the 2 NVLinks a byte crosses through the NVSwitch
    rep = simulate(load_workload({**SMALL, "dtype": "bf16", "mode": "training"}),
                   load_arch("dgx-a100", ["chips=2"])).to_dict()
    # 8 sends of 2 x 64 x 256 bf16; the fp32 main_grad of the bf16 model's 1024 x 256 table, a ring of 2 (S a rank)
    moved = 8 * (2 * 64 * 256 * 2) + 2 * (1024 * 256 * 4)
    assert rep["bytes"]["link"] == _rows_link(rep) + moved == 2_621_440
    assert rep["energy"]["by_level"]["link"] == pytest.approx(rep["bytes"]["link"] * 8 * 2 * 1.3e-12, rel=1e-9)


def test_sends_between_nodes_keep_the_nic_busy():
    # TP 8 x PP 2 on two DGX H100 nodes: stage 0 on chips 0-7, stage 1 on 8-15, so every send and the embedding
    # all-reduce cross the scale-out network (dgx-h100 scale_out: 50 GB/s x 0.94 efficiency, 20 us latency)
    spec = {**SMALL, "heads": 8, "dtype": "bf16", "mode": "training", "tensor_parallel": 8}
    rep = simulate(load_workload(spec), load_arch("dgx-h100", ["chips=16"])).to_dict()
    pl = rep["pipeline"]
    send = 2 * 64 * 256 * 2 // 8  # each chip sends its 1/8 shard: 8,192 B
    # the rows (the tensor-parallel collectives, inside a node) plus 8 sends and both ranks' share of the
    # 1024/8 x 256 fp32 gradient's all-reduce (NCCL's tree between 2 nodes: S a chip, tests/unit/test_p119fixa_energy)
    assert pl["embedding_sync_bytes"] == 2 * (1024 // 8 * 256 * 4) == 262_144
    assert rep["bytes"]["link"] == _rows_link(rep) + 8 * send + 262_144
    # no data parallelism, the tensor-parallel collectives inside the node: the NIC carries only these; the
    # all-reduce's time is the one the pipeline booked (embedding_sync_s, priced by cost.collective), on both ranks
    nic = 8 * (20e-6 + send / (50e9 * 0.94)) + 2 * pl["embedding_sync_s"]
    assert rep["utilization"]["nic"] == pytest.approx(nic / (2 * rep["seconds"]), rel=1e-9)
