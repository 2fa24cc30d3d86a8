"""Training steps end to end: phases in the report, footprint of training state, offload, and fit errors."""

from __future__ import annotations

import re

import pytest

from accelsim import simulate
from accelsim.config import load_arch, load_workload
from accelsim.errors import ConfigError


@pytest.fixture(scope="module")
def step():
    return simulate(load_workload("resnet18", ["mode=training", "optimizer=adam"]), "tpu-v1").to_dict()


def test_report_has_forward_backward_optimizer_phases_in_order(step):
    ph = step["phases"]
    assert set(ph) == {"forward", "backward", "optimizer"}
    assert ph["forward"]["start_cycle"] == 0
    assert ph["forward"]["start_cycle"] < ph["backward"]["start_cycle"] < ph["optimizer"]["start_cycle"]
    assert ph["optimizer"]["end_cycle"] == step["total_cycles"]
    # ResNet-18 training MACs: 3 × forward − conv1's forward (no input gradient for the image):
    # forward 1,814,073,344 (builders' test: torchvision 1.81 GMACs), conv1 112·112·64·7·7·3 = 118,013,952
    assert step["macs"] == 3 * 1_814_073_344 - 118_013_952


def test_footprint_counts_gradients_and_adam_state(step):
    hbm = step["memory"]["hbm"]
    params = 11_689_512  # torchvision resnet18
    # int8 on tpu-v1 (the arch's dtype, which the step's note calls out): 1 B a weight, but the 4,800 BN shifts
    # (64 + 4·64 + 5·128 + 5·256 + 5·512) and the fc's 1,000 biases int32, 4 B (units.INT_BIAS_DTYPE)
    assert hbm["weights"] == params + 3 * (4_800 + 1_000)
    assert hbm["gradients"] == params + 3 * (4_800 + 1_000)  # each gradient in its parameter's dtype
    assert hbm["optimizer_states"] == 3 * params * 4  # Adam: two fp32 moments and the int8 params' fp32 master copy
    assert hbm["activations"] > 0


def test_offloading_the_optimizer_state_moves_it_over_the_host_link(step):
    off = simulate(load_workload("resnet18", ["mode=training"]), "tpu-v1", offload="optimizer").to_dict()
    assert off["memory"]["host"]["optimizer_states"] == 3 * 11_689_512 * 4
    assert off["memory"]["hbm"]["optimizer_states"] == 0
    # each step reads the moments and writes them back over the link
    assert off["bytes"]["host"] >= 2 * (2 * 11_689_512 * 4)
    assert off["total_cycles"] > step["total_cycles"]  # PCIe Gen3 is slower than the DDR3 weight memory


def test_offloading_activations_puts_the_stash_in_host_memory():
    off = simulate(load_workload("resnet18", ["mode=training"]), "tpu-v1", offload="activations").to_dict()
    assert off["memory"]["host"]["activations"] > 0 and off["bytes"]["host"] > 0


def test_a_training_step_that_cannot_fit_fails_with_the_bytes():
    # LLaMA-2-7B: 32 · (4 · 4096² + 3 · 4096 · 11008 + 2 · 4096) + 2 · 32000 · 4096 + 4096 = 6,738,415,616 params;
    # bf16 weights 2 B each (13,476,831,232 B), their fp32 gradients 4 B each (26,953,662,464 B: Megatron-LM's for
    # bf16, probe p117 #1), Adam 12 B a param (an fp32 master copy and two fp32 moments: 80,860,987,392 B), over
    # tpu-v4's 32 GiB = 34,359,738,368 B. The training refusal (scenarios/fit.py), not a spill: offloading the
    # optimizer states would not fit the 1 GiB host, and without the activations the rest is still too big: no
    # recompute fits, and of the remedies that scale only more tensor parallelism is left (llama2_7b takes no
    # pipeline_parallel). The weights and gradients alone, 40,430,493,696 B, are over 32 GiB, so sharding the states
    # (the distributed optimizer) cannot make it fit either
    wl = load_workload("llama2_7b", ["mode=training", "seq_len=128"])
    with pytest.raises(ConfigError) as e:
        simulate(wl, load_arch("tpu-v4", ["host.capacity=1GiB"]))
    # the weights, gradients and states alone, 13,476,831,232 + 26,953,662,464 + 80,860,987,392 = 121,291,481,088 B,
    # are over: no seq_len fits, and with the arch given as an object (its file unknown) the error is at the model's
    # line
    m = re.fullmatch(r"\S+llama2_7b\.yaml:\d+: model: llama2_7b_tpu-v4: a chip needs ([\d,]+) B of hbm \(weights "
                     r"13,476,831,232, gradients 26,953,662,464, optimizer states 80,860,987,392, activations ([\d,]+)\)"
                     r" but it holds 34,359,738,368 B \(training state is not spilled to host memory unless "
                     r"options\.offload asks\): the weights, gradients and optimizer states "
                     r"alone need 121,291,481,088 B, more than the 34,359,738,368 B of hbm\.capacity 32GiB \(arch "
                     r"tpu-v4\), whatever the "
                     r"seq_len, batch or recompute; what can make them fit: more tensor parallelism over more chips "
                     r"\(command line: --set "
                     r"workload\.mode=training, --set workload\.seq_len=128\)", str(e.value))
    assert m, str(e.value)
    used, act = (int(g.replace(",", "")) for g in m.groups())
    assert used == 121_291_481_088 + act

def test_offloaded_stash_crosses_the_host_link_out_once_and_back_for_the_backward_only():
    # input (2048, 1024) → fc1 → relu1 → fc2, bf16 on a100. The stash (builders/training.py): the graph input (fc1's
    # weight gradient) and relu1 (fc2's weight gradient, relu's input gradient), each 2048·1024·2 = 4,194,304 B, and
    # the fp32 copy of the logits the loss and its gradient read (loss.cast, Megatron's output.float(): probe p176
    # #1), 2048·1024·4 = 2 × 4 MiB. Offload runtimes copy the stash out while the forward keeps the device's copy
    # (torch.autograd.graph.save_on_cpu): the host link carries relu1's and loss.cast's stores (1 + 2 × 4 MiB; the
    # graph input has no producer) and the backward's reads, one per reader: loss.grad (loss.cast, 2 × 4 MiB: its
    # 1,024-element rows fit one pass), fc2.grad_weight and relu1.grad_input (relu1), fc1.grad_weight (input),
    # 3 × 4 MiB: 8 × 4,194,304 B in all (the forward reading the stash from host too would add fc1's, fc2's and
    # loss's reads)
    mib4 = 2048 * 1024 * 2
    wl = {"model": "layers", "name": "mlp", "mode": "training", "dtype": "bf16", "input": [2048, 1024],
          "layers": [{"type": "linear", "name": "fc1", "out_features": 1024}, {"type": "relu", "name": "relu1"},
                     {"type": "linear", "name": "fc2", "out_features": 1024}]}
    off = simulate(wl, "a100", offload="activations", plots=False).to_dict()
    # the host keeps the stash: the input and relu1 at bf16, loss.cast's fp32 logits at 2 × 4 MiB
    assert off["memory"]["host"]["activations"] == mib4 + mib4 + 2 * mib4
    host = {o["name"]: o["bytes"].get("host", 0) for o in off["ops"]}
    assert host["fc1"] == host["fc2"] == host["loss"] == 0  # forward readers only: main memory
    assert host["relu1"] == mib4 and host["loss.cast"] == 2 * mib4  # the copies out, no read
    assert host["loss.grad"] == 2 * mib4 and host["fc1.grad_weight"] == mib4
    assert host["fc2.grad_weight"] == host["relu1.grad_input"] == mib4
    assert off["bytes"]["host"] == 8 * mib4
