"""Probe p119 #1 and #2: the bytes a training step sends between nodes are priced at the scale-out network's
``energy_per_bit`` (the data-parallel collectives on the optimizer-step rows, a pipeline's sends and its
embedding-gradient all-reduce), and that all-reduce moves the fp32 gradient of a bf16 model."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.api import run_experiment, simulate
from accelsim.config import load_arch, load_experiment, load_workload
from accelsim.energy import constants, op_energy
from accelsim.energy.model import NIC

ROOT = Path(__file__).resolve().parents[2]
NDR_PJ = 103e-12  # dgx-h100 interconnect.scale_out.energy_per_bit (4 x 22.5 optics + 2 x 6.5 PCIe), J per bit
# dgx-h100 interconnect.energy_per_bit 1.3 pJ/bit on each of the 2 links a byte sent crosses through the NVSwitch
# (probe p234 #1: the sender's link into the switch, the receiver's out of it; was one link, 1.3 pJ per bit sent)
NVLINK_PJ = 2 * 1.3e-12
NOTE = "interconnect.scale_out gives no energy_per_bit"


def test_a_step_row_prices_its_bytes_off_the_node_at_the_network_and_the_rest_at_the_links():
    # an optimizer step's row on the vector lanes whose 1,000 link bytes include 250 sent to other nodes
    arch = load_arch("dgx-h100", ["chips=16"])
    c = constants(arch)
    row = {"unit": "core*.vector (132)", "kind": "optimizer", "macs": 0, "flops": 0, "bytes": {"link": 1000},
           "mapping": {"nic_bytes": 250}}
    _, _, levels = op_energy(row, c, arch)
    assert levels == {"link": pytest.approx(750 * 8 * NVLINK_PJ, rel=1e-6, abs=0), NIC: pytest.approx(250 * 8 * NDR_PJ, rel=1e-6, abs=0)}
    # a composed row standing for 3 executions: its bytes are summed, its mapping is one execution's
    _, _, levels = op_energy({**row, "bytes": {"link": 3000}, "count": 3}, c, arch)
    assert levels == {"link": pytest.approx(2250 * 8 * NVLINK_PJ, rel=1e-6, abs=0), NIC: pytest.approx(750 * 8 * NDR_PJ, rel=1e-6, abs=0)}
    # no mapping.nic_bytes: a row on the chip's links stays at NVLink's figure
    _, _, levels = op_energy({k: v for k, v in row.items() if k != "mapping"}, c, arch)
    assert levels == {"link": pytest.approx(1000 * 8 * NVLINK_PJ, rel=1e-6, abs=0)}


def test_llama2_7b_dgx_h100_data_parallel_bytes_between_nodes_by_hand():
    rep = run_experiment(load_experiment(ROOT / "experiments" / "llama2_7b_training_dgx_h100.yaml")).to_dict()
    # LLaMA-2-7B: 6,738,415,616 parameters, of which the 2 x 32 + 1 RMSNorm weights of 4096 (266,240) are on both
    # tensor-parallel ranks and the rest split over TP 2: 3,369,340,928 a chip
    per_rank = (6_738_415_616 - 266_240) // 2 + 266_240
    assert per_rank == 3_369_340_928
    # ZeRO-1 over the 8 data-parallel replicas: each chip sends 7/8 of the fp32 gradient (reduce-scatter,
    # units.GRAD_DTYPE) and 7/8 of the bf16 parameters (all-gather): 7/8 x 6 B a parameter
    sent = 7 * per_rank * 6 // 8
    assert sent == 17_689_039_872
    steps = [op for op in rep["ops"] if op["kind"] == "optimizer"]
    assert sum(op["bytes"].get("link", 0) for op in steps) == sent
    # the 8 replicas are 4 a node on 2 nodes (TP 2 innermost): a ring over them crosses the network on 2 of its 8
    # edges, so 1/4 of each chip's bytes leave its node, the other 3/4 are hops to chips of its node
    nic = sent // 4
    assert sum(op["mapping"].get("nic_bytes", 0) for op in steps) == nic == 4_422_259_968
    e = rep["energy"]
    assert e["by_level"][NIC] == pytest.approx(nic * 8 * NDR_PJ, rel=1e-9)  # 3.644 J a chip (was 0)
    # the rest of the link bytes (the tensor-parallel all-reduces and the hops inside the node) at NVLink's
    link = sum(op["bytes"].get("link", 0) for op in rep["ops"])
    assert e["by_level"]["link"] == pytest.approx((link - nic) * 8 * NVLINK_PJ, rel=1e-9)
    assert e["off_package_j"] == pytest.approx(nic * 8 * NDR_PJ, rel=1e-9)  # the NICs are off the package
    assert not any(NOTE in n for n in rep["notes"])


# a small bf16 gpt, tensor parallel 8 (one node's chips) x pipeline parallel 2, 4 micro-batches
PP = {"model": "gpt", "hidden": 256, "heads": 8, "layers": 4, "seq_len": 64, "vocab": 1024, "batch": 2,
      "mode": "training", "dtype": "bf16", "tensor_parallel": 8, "pipeline_parallel": 2, "micro_batches": 4}


def _pipeline(arch: str, chips: int, **extra) -> dict:
    return simulate(load_workload({**PP, **extra}), load_arch(arch, [f"chips={chips}"])).to_dict()


def test_pipeline_sends_and_embedding_sync_between_nodes_are_priced_at_the_network():
    rep = _pipeline("dgx-h100", 16)
    pl = rep["pipeline"]
    # one send: one micro-batch's 2 x 64 x 256 bf16 hidden states over TP 8 = 8,192 B; 2 x (2 - 1) sends a
    # micro-batch, 4 micro-batches: 65,536 B, all between stage 0 (chips 0-7) and stage 1 (chips 8-15): two nodes
    assert pl["p2p_bytes_total"] == 2 * 4 * (2 * 64 * 256 * 2 // 8) == 65_536
    # the embedding group's all-reduce of the 1024/8 x 256 fp32 gradient (131,072 B) between stage 0 and stage 1: the
    # bytes NCCL's call puts on each chip's wire, as the same pair's data-parallel all-reduce books them (probe p157
    # #2; it was one send, the gradient once a chip): at this size NCCL's tree between the two nodes, whose two trees
    # each carry half the buffer up and down their one edge: 2 S between the 2 chips, 2 (M - 1) S / M = S a chip
    # (probe p247 #2: this test said 2 x size a chip, the bus-bandwidth convention), for both chips
    sync = 2 * (1024 // 8 * 256 * 4)
    assert sync == 262_144
    # TP 8 stays in a node, no data parallelism: the sends are all the NICs carry
    assert rep["energy"]["by_level"][NIC] == pytest.approx((65_536 + sync) * 8 * NDR_PJ, rel=1e-9)
    assert rep["energy"]["off_package_j"] == pytest.approx((65_536 + sync) * 8 * NDR_PJ, rel=1e-9)


def test_pipeline_sends_inside_a_node_are_priced_at_the_links():
    rep = _pipeline("dgx-h100", 8, tensor_parallel=4)
    # one node: sends of 2 x 64 x 256 x 2 / 4 = 16,384 B, 8 of them; the embedding sync 2 x 1024/4 x 256 x 4 B
    sends = 8 * 16_384 + 2 * (1024 // 4 * 256 * 4)
    assert rep["pipeline"]["p2p_bytes_total"] == 8 * 16_384
    ops_link = sum(op["bytes"].get("link", 0) for op in rep["ops"])
    assert rep["energy"]["by_level"]["link"] == pytest.approx((ops_link + sends) * 8 * NVLINK_PJ, rel=1e-9)
    assert not rep["energy"]["by_level"].get(NIC)
    # by_op_kind still splits the dynamic energy
    e = rep["energy"]
    assert sum(e["by_op_kind"].values()) == pytest.approx(e["dynamic_j"], rel=1e-9)


def test_dgx_a100_says_its_nics_bytes_cost_nothing_in_training():
    # HDR gives no scale_out.energy_per_bit: a pipeline across nodes and a data-parallel step across nodes say so
    piped = _pipeline("dgx-a100", 16)
    assert piped["energy"]["by_level"][NIC] == 0.0
    assert any(NOTE in n for n in piped["notes"])
    replicated = _pipeline("dgx-a100", 16, pipeline_parallel=1, micro_batches=1)  # 2 replicas on 2 nodes
    assert any(NOTE in n for n in replicated["notes"])
    one_node = _pipeline("dgx-a100", 8, tensor_parallel=4)
    assert not any(NOTE in n for n in one_node["notes"])
