"""``options.offload: optimizer_cpu``: the optimizer step on the host's CPU, as ZeRO-Offload runs it (Ren et al.,
USENIX ATC 2021; DeepSpeed's ``offload_optimizer: {device: cpu}``): gradients down the host link, Adam over the fp32
state in host DRAM at the host CPU's bandwidth, the updated parameters up; refused where the arch has no host.cpu."""

from __future__ import annotations

import re

import pytest

import accelsim
from accelsim.cli import main
from accelsim.errors import MappingError
from accelsim.hardware import HostCpu

GPT2_PARAMS = 124_439_808  # GPT-2 small with its tied LM head (Hugging Face gpt2 GPT2LMHeadModel.num_parameters())
# dgx-h100's host.cpu, one GPU's share of DGX H100's 2x Xeon Platinum 8480C (arch/dgx-h100.yaml): 8 channels of
# DDR5-4800 a socket, 8 x 4800e6 x 8 B = 307.2 GB/s, x 2 sockets / 8 GPUs; 56 cores x 2.0 GHz x 64 fp32 FLOPs a cycle
# (AVX-512, two FMA units) = 7.168 TFLOPS a socket, x 2 / 8
BANDWIDTH = 8 * 4800e6 * 8 * 2 / 8  # 76.8 GB/s
FLOPS = 56 * 2.0e9 * 64 * 2 / 8  # 1.792 TFLOPS
CLOCK = 1830e6  # h100.yaml's clock: the report's cycles
# Adam on a bf16 parameter, per parameter, in host DRAM: reads the fp32 gradient (4 B: units.GRAD_DTYPE keeps bf16's
# gradients fp32), reads and writes the fp32 master copy, m and v (3 x (4 + 4) = 24 B), writes the bf16 copy it
# uploads (2 B)
CPU_BYTES = 4 + 3 * (4 + 4) + 2  # 30 B
GRAD_BYTES, PARAM_BYTES = 4, 2  # down the link (fp32 gradient), up the link (bf16 parameter)
ADAM_FLOPS = 10  # builders.training.OPTIMIZER_ELEMS["adam"]: the op's FLOPs a parameter

GPT2 = {"model": "gpt2", "mode": "training", "seq_len": 128}


@pytest.fixture(scope="module")
def one_gpu():
    return accelsim.simulate(GPT2, {"base": "dgx-h100", "chips": 1}, offload="optimizer_cpu", plots=False).to_dict()


def test_gpt2_host_step_time_is_the_host_dram_bytes_over_its_bandwidth(one_gpu):
    assert one_gpu["params"] == GPT2_PARAMS
    # the CPU's time: 124,439,808 x 30 B = 3,733,194,240 B / 76.8 GB/s = 48.609 ms; its FLOPs, 124,439,808 x 10 /
    # 1.792 TFLOPS = 0.694 ms, do not bound it (Adam's ~0.33 FLOP a byte, the CPU's ridge 23 FLOP a byte)
    seconds = GPT2_PARAMS * CPU_BYTES / BANDWIDTH
    assert GPT2_PARAMS * ADAM_FLOPS / FLOPS < seconds / 50
    host = one_gpu["phases"]["host_optimizer"]
    assert host["ops"] == sum(1 for op in one_gpu["ops"] if op["kind"] == "optimizer")
    # each of the steps' times is rounded up to a whole cycle
    assert 0 <= host["compute_cycles"] - seconds * CLOCK <= host["ops"]
    steps = [op for op in one_gpu["ops"] if op["kind"] == "optimizer"]
    assert {op["unit"] for op in steps} == {"host_cpu"}
    assert sum(op["mapping"]["host_dram_bytes"] for op in steps) == CPU_BYTES * GPT2_PARAMS
    assert {op["mapping"]["host_bound"] for op in steps} == {"bandwidth"}


def test_link_carries_the_gradients_down_and_the_parameters_up(one_gpu):
    # (4 + 2) x 124,439,808 = 746,638,848 B: neither the fp32 master copy nor m and v cross the link
    assert one_gpu["bytes"]["host"] == (GRAD_BYTES + PARAM_BYTES) * GPT2_PARAMS
    assert one_gpu["phases"]["host_optimizer"]["link_bytes"] == (GRAD_BYTES + PARAM_BYTES) * GPT2_PARAMS
    assert one_gpu["memory"]["host"]["optimizer_states"] == 12 * GPT2_PARAMS  # master, m, v: 4 B each
    assert any("ZeRO-Offload" in n and "optimizer_cpu" in n for n in one_gpu["notes"])


def test_the_cpu_steps_after_the_backward_pass_and_the_pass_waits_for_the_last_upload(one_gpu):
    # no delayed parameter update (ZeRO-Offload's default): the CPU's first step starts when the backward ends
    phases = one_gpu["phases"]
    assert phases["host_optimizer"]["start_cycle"] >= phases["backward"]["end_cycle"]
    # the last parameter's upload follows the CPU's last step: the step ends after it, at the pass's end
    assert phases["optimizer"]["end_cycle"] > phases["host_optimizer"]["end_cycle"]
    assert one_gpu["total_cycles"] >= phases["optimizer"]["end_cycle"]


def test_sharded_over_data_parallel_ranks_each_host_updates_its_share():
    # ZeRO-2 under the offload (distributed_optimizer): each of 8 ranks sends and updates 1/8 of every parameter
    r = accelsim.simulate(GPT2, "dgx-h100", offload="optimizer_cpu", distributed_optimizer=True,
                          plots=False).to_dict()
    per_rank = sum(-(-op["flops"] // ADAM_FLOPS) for op in r["ops"] if op["kind"] == "optimizer")
    assert GPT2_PARAMS // 8 <= per_rank <= GPT2_PARAMS // 8 + 148  # each step's share rounded up
    assert r["bytes"]["host"] == (GRAD_BYTES + PARAM_BYTES) * per_rank


# probe p144's run (/tmp/probe/work/p144/small.yaml): gpt, h = 2048, 16 heads, 8 layers, seq 2048, TP 2 x PP 2 on
# 16 chips of dgx-h100, so 4 data-parallel replicas. One tensor-parallel rank's share of a layer: 6h^2 (qkv 3h^2/2,
# proj h^2/2, fc 2h^2, fc2 2h^2) + 9.5h (qkv bias 3h/2, proj bias h, fc bias 2h, fc2 bias h, two layer norms 4h)
# = 25,165,824 + 19,456 = 25,185,280. Stage 0: 4 layers + the word embedding's half (51,200 x 2048 / 2 =
# 52,428,800) + the position embedding (2048 x 2048 = 4,194,304) = 157,364,224; stage 1: 4 layers + the tied LM
# head's half (52,428,800) + the final layer norm (2h = 4,096) = 153,174,016.
SMALL = {"model": "gpt", "mode": "training", "hidden": 2048, "heads": 16, "layers": 8, "seq_len": 2048, "batch": 1,
         "micro_batches": 8, "optimizer": "adam", "recompute": "selective", "tensor_parallel": 2,
         "pipeline_parallel": 2}
LAYER_TP2 = 6 * 2048**2 + 9.5 * 2048
STAGE0, STAGE1 = int(4 * LAYER_TP2 + 51_200 * 2048 // 2 + 2048 * 2048), int(4 * LAYER_TP2 + 51_200 * 2048 // 2 + 2 * 2048)
DP = 16 // (2 * 2)


def test_offload_cpu_partitions_over_the_data_parallel_ranks_as_zero_offload():
    # probe p144 #1: ZeRO-Offload is built on ZeRO-2 (Ren et al. 2021, Sec. 4.2): each of the DP ranks' hosts keeps
    # and steps 1/DP of the optimizer state, without options.distributed_optimizer written. Before, every rank kept
    # the whole state: host 1,888,370,688 B, link 919,044,096 B, CPU 65.1 ms a step, 0.1439 s an iteration
    r = accelsim.simulate(SMALL, {"base": "dgx-h100", "chips": 16}, offload="optimizer_cpu", plots=False).to_dict()
    assert (STAGE0, STAGE1) == (157_364_224, 153_174_016)
    # the host's fp32 master, m and v (12 B a parameter) of stage 0's 1/4: 472,092,672 B
    assert r["memory"]["host"]["optimizer_states"] == 12 * STAGE0 // DP
    host = r["phases"]["host_optimizer"]  # the bottleneck stage's, stage 1
    # 1/4 of its fp32 gradient down (4 B) and its bf16 parameter up (2 B): 6 x 153,174,016 / 4 = 229,761,024 B
    assert host["link_bytes"] == (GRAD_BYTES + PARAM_BYTES) * STAGE1 // DP
    # the CPU's time: 153,174,016 / 4 x 30 B / 76.8 GB/s = 14.958 ms (27,373,872 cycles at 1.83 GHz)
    assert 0 <= host["compute_cycles"] - STAGE1 / DP * CPU_BYTES / BANDWIDTH * CLOCK <= host["ops"]
    # the gradient is reduce-scattered: each rank sends 3/4 of stage 1's fp32 gradient, 459,522,048 B
    assert r["phases"]["grad_reduce"]["link_bytes"] == 4 * STAGE1 * (DP - 1) // DP
    assert r["options"]["distributed_optimizer"] is True  # what ran, though not written
    assert not any("changes nothing here" in n for n in r["notes"])


def test_offload_cpu_on_one_rank_says_nothing_of_the_distributed_optimizer(one_gpu):
    # optimizer_cpu implies the sharding; over one rank it is the whole state, and the note about a
    # distributed_optimizer the user did not write would be noise
    assert not any("distributed_optimizer changes nothing" in n for n in one_gpu["notes"])


def test_distributed_optimizer_false_beside_offload_cpu_is_refused(tmp_path, capsys, monkeypatch):
    # ZeRO-Offload always partitions (DeepSpeed's offload_optimizer needs ZeRO stage >= 1): every rank stepping the
    # whole state is a setup no framework runs, so false is one line at its key, exit 2
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-w", "gpt2", "-a", "dgx-h100", "--mode", "training", "--set", "options.offload=optimizer_cpu",
                 "--set", "options.distributed_optimizer=false", "-q", "--no-plots", "-o", "o"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("accelsim: error: --set: options.distributed_optimizer: cannot be false with offload: "
                           "optimizer_cpu"), line


def test_a_preset_without_host_cpu_is_refused_at_the_key(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-w", "gpt2", "-a", "l40s", "--mode", "training", "--set", "workload.seq_len=64",
                 "--set", "options.offload=optimizer_cpu", "-q", "--no-plots", "-o", "o"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert re.match(r"accelsim: error: \S+/arch/l40s\.yaml:\d+: host\.cpu: options\.offload: optimizer_cpu ", line), line
    assert "has no host.cpu" in line
    with pytest.raises(MappingError, match="needs a second memory level"):  # no host at all
        accelsim.simulate({"model": "lenet5", "mode": "training"}, "gemmini", offload="optimizer_cpu")


def test_host_cpu_figures_read_units_and_sit_on_a_memory():
    assert HostCpu(bandwidth="307.2GB/s", flops="7.168TFLOPS").flops == pytest.approx(7.168e12)
    assert HostCpu(bandwidth="1GB/s", flops="2GFLOP/s").seconds(1e9, 4e9) == pytest.approx(2.0)  # FLOPs bound
    base = {"base": "h100", "l2": {"cpu": {"bandwidth": "1GB/s", "flops": "1TFLOPS"}}}
    with pytest.raises(Exception, match="a cache holds no tensors"):
        accelsim.simulate({"model": "gemm", "m": 64, "n": 64, "k": 64}, base)


def test_the_host_steps_flops_are_not_the_chips_energy(one_gpu):
    # the CPU's Adam FLOPs burn on the host, not the GPU: no chip unit is charged for them (by_unit has no host_cpu),
    # and each step's energy is its bytes' alone, at the levels' per-bit figures (the gradient and parameter crossing
    # the host link at host.energy_per_bit; no op here reads HBM or SRAM)
    assert "host_cpu" not in one_gpu["energy"]["by_unit"]
    from accelsim.config import load_arch

    arch = load_arch({"base": "dgx-h100", "chips": 1})
    per_bit = {"host": arch.memory("host").energy_per_bit * 1e-12}
    for op in (op for op in one_gpu["ops"] if op["unit"] == "host_cpu"):
        assert set(op["bytes"]) == {"host"}
        assert op["energy_j"] == pytest.approx(op["bytes"]["host"] * 8 * per_bit["host"], rel=1e-12)


def test_the_cpu_step_is_not_the_chips_activity(one_gpu):
    # probe p137 #1: the CPU's Adam (48.6 ms of the 61.5 ms run) was counted as GPU activity: active_fraction
    # 0.899, activity_j 19.16 J. While the CPU steps (phases.host_optimizer) the GPU's only work is the host link's
    # transfers (the gradients down, the parameters up), so the chip is active at most: the cycles before the CPU's
    # first step and after its last, plus every link transfer's cycles (bytes / (63 GB/s / 1.83 GHz), h100.yaml's
    # host bandwidth and clock; each task rounded up to a whole cycle, 2 tasks a step)
    total, host = one_gpu["total_cycles"], one_gpu["phases"]["host_optimizer"]
    link = (GRAD_BYTES + PARAM_BYTES) * GPT2_PARAMS / (63e9 / CLOCK)  # 746,638,848 B: 21.69e6 cycles (11.85 ms)
    outside = host["start_cycle"] + (total - host["end_cycle"])
    active = one_gpu["active_fraction"] * total
    assert active <= outside + link + 2 * host["ops"] + 1
    assert active >= link  # the link transfers are the chip's work (its DMA reads and writes of HBM)
    assert active < 0.5 * host["compute_cycles"]  # with the CPU's busy cycles in it, active exceeded them
    # energy.activity_j = activity_power_share x (TDP - idle power) x active seconds: h100.yaml's 0.589 x (700 - 70 W)
    # = 371.07 W (0.55 x 630 = 346.5 W before the share was re-derived by its rule, arch/h100.yaml)
    assert one_gpu["energy"]["activity_j"] == pytest.approx(0.589 * 630 * active / CLOCK, rel=1e-9)


def test_fp32_the_host_holds_the_cpus_parameter_copy_beside_m_and_v():
    # probe p137 #2: in fp32 there is no master state, but the CPU's step reads and writes its own fp32 copy of the
    # parameter in host DRAM (host_dram_bytes 28 B = 4 gradient + 2 x 4 parameter + 2 x 4 m + 2 x 4 v): ZeRO-Offload
    # keeps the fp32 parameters, m and v on the host (Ren et al. 2021), 4 + 4 + 4 = 12 B a parameter, as bf16's
    # master, m and v (test_link_carries_the_gradients_down_and_the_parameters_up); it held 8 B (m, v) before
    r = accelsim.simulate({**GPT2, "dtype": "fp32"}, {"base": "dgx-h100", "chips": 1}, offload="optimizer_cpu",
                          plots=False).to_dict()
    steps = [op for op in r["ops"] if op["kind"] == "optimizer"]
    assert sum(op["mapping"]["host_dram_bytes"] for op in steps) == (4 + 2 * 4 + 2 * 4 + 2 * 4) * GPT2_PARAMS
    host = r["memory"]["host"]
    assert host["optimizer_states"] == 12 * GPT2_PARAMS  # 1,493,277,696 B
    assert host["weights"] == 0 and host["used"] == 12 * GPT2_PARAMS
    # the GPU's fp32 weights stay in HBM (4 B a parameter), no state there
    assert r["memory"]["hbm"]["optimizer_states"] == 0
    assert r["memory"]["hbm"]["weights"] == 4 * GPT2_PARAMS


def test_fp32_sharded_each_hosts_copy_is_its_share():
    # ZeRO-2 under the offload over 8 ranks: each rank's host keeps ceil(numel / 8) elements of every parameter's
    # fp32 copy, m and v (12 B each); the rank's updated elements are its steps' FLOPs / 10, rounded up
    r = accelsim.simulate({**GPT2, "dtype": "fp32"}, "dgx-h100", offload="optimizer_cpu", distributed_optimizer=True,
                          plots=False).to_dict()
    per_rank = sum(-(-op["flops"] // ADAM_FLOPS) for op in r["ops"] if op["kind"] == "optimizer")
    assert r["memory"]["host"]["optimizer_states"] == 12 * per_rank
