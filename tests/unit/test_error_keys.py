"""Each bad input is one line at the key the user wrote that caused it, exit status 2 (probe p30 findings 1, 2, 4,
5; probe p29 finding 1): a pass whose weights alone overflow the memories is at the capacity, not at a size key no
value of which would make it fit; one whose activations overflow at the user's size key (gemm's ``m``); a derived
limit (a latency in cycles, one step of the systolic array in the scratchpad, bytes a cycle) at the clock or array
edge the user set rather than at the preset's key it is compared with; and the error types are reachable from the
package."""

from __future__ import annotations

import re
from pathlib import Path

import accelsim
from accelsim import errors
from accelsim.cli import main

ARCH = Path(__file__).resolve().parents[2] / "arch"


def _err(capsys, argv: list[str]) -> str:
    assert main([*argv, "-q", "--no-plots", "-o", "o"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


def _at(preset: str, text: str) -> str:
    """``PATH:LINE`` of the line of arch/PRESET.yaml that starts with ``text`` (after its indent)."""
    path = ARCH / f"{preset}.yaml"
    (line,) = [i for i, t in enumerate(path.read_text().splitlines(), 1) if t.strip().startswith(text)]
    return f"{path}:{line}"


BASE = "name: base\nworkload: {model: gemm, m: 256, n: 256, k: 256}\narch: tpu-v1\n"


def test_weights_that_alone_overflow_are_at_the_capacity_not_a_kv_len_set(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "deepseek_v3", "-a", "h200", "--set", "workload.phase=decode",
                         "--set", "workload.kv_len=128"])
    # 671,026,404,352 params (workloads/deepseek_v3.yaml, the technical report) · 2 B (bf16) = 1,342,052,808,704 B of
    # weights; h200: the HBM a program can allocate, 141 GiB x usable_fraction = the lent H200's driver-reported
    # 150,109,880,320 B (arch/h200.yaml; probe p246 #1: fits count usable bytes), + 1 TiB of host memory
    # 1,099,511,627,776 = 1,249,621,508,096 B (was 1,250,909,224,960 with the nominal 141 GiB).
    # No kv_len makes that fit: the error is at the preset's capacity, saying so
    assert line.startswith(f"accelsim: error: {_at('h200', 'capacity: 141GiB')}: hbm.capacity: deepseek_v3: "), line
    assert line.endswith("; the weights alone need 1,342,052,808,704 B, more than the 1,249,621,508,096 B that holds "
                         "them (command line: --set workload.phase=decode, --set workload.kv_len=128) (got '141GiB')"), line


def test_training_state_that_alone_overflows_is_at_the_capacity_not_seq_len(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "qwen1_5_moe_a2_7b", "-a", "h100", "--mode", "training",
                         "--set", "workload.seq_len=128"])
    # 14,315,784,192 params: weights 2 B each (bf16) = 28,631,568,384 B; gradients fp32, 4 B each, as Megatron-LM keeps
    # a bf16 model's (arguments.py: "bfloat16 requires gradient accumulation and all-reduce to be done in fp32") =
    # 57,263,136,768 B; Adam's states 12 B each = 171,789,410,304 B: more than h100's 80 GiB = 85,899,345,920 B before
    # any activation: no seq_len fits
    assert line.startswith(f"accelsim: error: {_at('h100', 'capacity: 80GiB')}: hbm.capacity: qwen1_5_moe_a2_7b_h100: "
                           f"a chip needs "), line
    # the weights are 2 B a parameter too, the embedding table included (probe p29 finding 5)
    assert "(weights 28,631,568,384, gradients 57,263,136,768, optimizer states 171,789,410,304," in line
    fixed = 28_631_568_384 + 57_263_136_768 + 171_789_410_304
    # the weights and gradients alone, 85,894,705,152 B, leave 4,640,768 B of the 80 GiB: less than the activations,
    # so neither sharding the states over data parallelism nor offloading them fits; only more chips' parallelism
    act = int(re.search(r"activations ([\d,]+)\)", line).group(1).replace(",", ""))
    assert 28_631_568_384 + 57_263_136_768 + act > 85_899_345_920
    # or more expert parallelism (probe p119 #4): 24 MoE layers of 60 experts, each a SwiGLU of 3 · 2048 · 1408
    # parameters at 2 + 4 + 12 = 18 B: 224,227,491,840 B, of which E-way expert parallelism leaves 1/E a chip; at
    # 4 that is 90,135,136,512 B in all, over the 80 GiB; at 5 (the next divisor of 60) 78,923,761,920 B, on arch.chips
    # a multiple of 5 (h100 is 1 chip, and training's expert_parallel divides the data-parallel chips; probe p227 #1:
    # it said "5 chips or more", though 6 to 9 chips refuse 5)
    used = int(re.search(r"a chip needs ([\d,]+) B", line).group(1).replace(",", ""))
    experts = 24 * 60 * 3 * 2048 * 1408 * 18
    assert used - experts + experts // 4 > 85_899_345_920
    at5 = used - experts + experts // 5
    assert line.endswith(
        f": the weights, gradients and optimizer states alone need {fixed:,} B, more than the 85,899,345,920 B "
        f"of hbm.capacity 80GiB (arch h100), whatever the seq_len, batch or recompute; what can make them fit: more "
        f"tensor parallelism over more chips or workload.expert_parallel 5, a divisor of the 60 experts, over "
        f"arch.chips a multiple of 5 for it to divide the data-parallel chips (needs about {at5:,} B at 5; now 1 on "
        f"1 data-parallel chips) (command line: --set workload.seq_len=128)"), line


def test_activations_that_overflow_are_at_the_users_gemm_size_key(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m_big2.yaml").write_text("workload: {model: gemm, m: 10000000, n: 10000000, k: 256}\narch: tpu-v1\n")
    line = _err(capsys, ["run", "m_big2.yaml"])
    # int8 operands: weights k·n = 2,560,000,000 B (fit the 8 GiB); the output m·n = 1e14 B alone overflows: at the
    # user's m (m and n on one line: the first listed), not at the preset's hbm.capacity
    assert line.startswith("accelsim: error: m_big2.yaml:1: workload.m: gemm: weights (2560000000 B)"), line
    assert line.endswith("(got 10000000)") and "weights alone" not in line


def test_weights_a_set_size_key_makes_overflow_are_at_that_key_not_the_capacity(tmp_path, capsys, monkeypatch):
    # probe p132 #3: LeNet-5's fc1 takes the flattened pool2 output, so its weights follow image_size. At 100,000:
    # conv1 (5×5, no padding) 99,996², pool1 49,998², conv2 49,994², pool2 24,997²; fc1 has 16 · 24,997² · 120 =
    # 1,199,712,017,280 int8 weights (gemmini's dtype), against 16 · 5 · 5 · 120 = 48,000 at 32×32. The whole model at
    # 32×32 is 61,470 weights + 236 int32 biases (6 + 16 + 120 + 84 + 10) = 61,470 + 944 = 62,414 B, so at 100,000:
    # 62,414 − 48,000 + 1,199,712,017,280 = 1,199,712,031,694 B, more than gemmini's 16 GiB = 17,179,869,184 B of hbm.
    # The preset's 32 would fit: the --set image_size is what overflows, not the preset's hbm.capacity
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "lenet5", "-a", "gemmini", "--set", "workload.image_size=100000"])
    assert line.startswith("accelsim: error: --set: workload.image_size: lenet5: weights (1199712031694 B) and "), line
    assert line.endswith("; the weights alone need 1,199,712,031,694 B, more than the 17,179,869,184 B that holds "
                         "them (got 100000)"), line
    # the batch path, which sizes only the activations, keeps its message: pool1's input and output, 6 · 28² + 6 · 14²
    # = 5,880 B a sample, × 1e11 samples = 588,000,000,000,000 B; 62,414 B of weights beside them
    line = _err(capsys, ["run", "-w", "lenet5", "-a", "gemmini", "--set", "workload.batch=100000000000"])
    assert line == (
        "accelsim: error: --set: workload.batch: lenet5: weights (62414 B) and activations (588000000000000 B) need "
        "588000000062414 B but hbm (17179869184 B) holds 17179869184 B; the activations (the inputs and output of op "
        "'pool1', 588000000000000 B) alone need 588000000000000 B of hbm, 587982820130816 B more than it holds "
        "(got 100000000000)")


def test_a_size_key_outside_the_listed_ones_is_found_by_what_it_sizes(tmp_path, capsys, monkeypatch):
    # conv2d's out_channels is no FOOTPRINT_KEYS entry, but its weights and output follow it. The preset's 3×3 conv
    # of 64 input channels on 56×56 (workloads/conv2d.yaml), int8 on gemmini, with 10,000,000 output channels:
    # weights 64 · 9 · 1e7 = 5,760,000,000 B + 1e7 int32 biases = 5,800,000,000 B; activations: the input 64 · 56²
    # = 200,704 B and the output 1e7 · 56² = 31,360,000,000 B; together more than gemmini's 17,179,869,184 B of hbm
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "conv2d", "-a", "gemmini", "--set", "workload.out_channels=10000000"])
    assert line.startswith("accelsim: error: --set: workload.out_channels: conv2d: weights (5800000000 B) and "
                           "activations (31360200704 B) need 37160200704 B but hbm (17179869184 B) holds "), line
    assert line.endswith("(got 10000000)"), line


def test_a_latency_beyond_the_cycle_count_is_at_the_clock_the_user_set(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text(BASE)
    line = _err(capsys, ["run", "base.yaml", "--set", "arch.clock=1e30GHz"])
    # 100 ns · 1e39 Hz = 1e32 cycles > 2**63 - 1
    assert line == (f"accelsim: error: --set: arch.clock: 1e+39 Hz makes hbm.latency (1e-07 s, "
                    f"{_at('tpu-v1', 'latency: 100ns')}) more than 9,223,372,036,854,775,807 (2**63 - 1) cycles, "
                    f"which no run can count")


def test_an_array_too_big_for_the_scratchpad_is_at_the_rows_the_user_wrote(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rows_huge.yaml").write_text(
        "workload: gemm\narch: {base: tpu-v1, core: {systolic: {rows: 100000000}}}\n")
    line = _err(capsys, ["run", "rows_huge.yaml"])
    # ws, int8: 1e8 B of ifmap (a row each) + 256 B of filter + 256 · 4 B of partial sums, twice (double buffered) =
    # 200,002,560 B > tpu-v1's 24 MiB = 25,165,824 B
    assert line.startswith(f"accelsim: error: rows_huge.yaml:2: arch.core.systolic.rows: 100,000,000: "
                           f"core.sram.unified (25,165,824 B, {_at('tpu-v1', 'unified: 24MiB')}) cannot hold one step "
                           f"of the 100000000x256 ws systolic array"), line
    assert line.endswith("it needs at least 200,002,560 B")
    # the scratchpad set last is the one named (a tie keeps it: both in one file)
    line = _err(capsys, ["run", "rows_huge.yaml", "--set", "arch.core.sram.unified=1KiB"])
    assert line.startswith("accelsim: error: --set: arch.core.sram.unified: 1,024 B cannot hold one step"), line


def test_an_array_no_scratchpad_can_feed_is_at_its_key_not_the_engines_limit(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text(BASE)
    for rows in (4611686018427387000, 2**63 - 1):  # ≥ 2**62: 2 · (rows + 256 + 1,024) B > 2**63 - 1
        line = _err(capsys, ["run", "base.yaml", "--set", f"arch.core.systolic.rows={rows}"])
        assert line.startswith(f"accelsim: error: --set: arch.core.systolic.rows: one step of a {rows}x256 systolic "
                               f"array needs more than 9,223,372,036,854,775,807 (2**63 - 1) B of scratchpad"), line


def test_bytes_a_cycle_beyond_any_tensor_are_refused_at_the_key_set(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text(BASE)
    # 34 GB/s at 1e-30 Hz: 3.4e40 B a cycle > 2**63 - 1 (a 1,023-cycle gemm of 1e33 s before)
    line = _err(capsys, ["run", "base.yaml", "--set", "arch.clock=1e-30Hz"])
    assert line.startswith(f"accelsim: error: --set: arch.clock: 1e-30 Hz makes hbm.bandwidth (3.4e+10 B/s, "
                           f"{_at('tpu-v1', 'bandwidth: 34GB/s')}) 3.4e+40 B a cycle, more than "
                           f"9,223,372,036,854,775,807 (2**63 - 1)"), line
    # 1e30 GB/s = 1e39 B/s at 700 MHz: 1.43e30 B a cycle
    line = _err(capsys, ["run", "base.yaml", "--set", "arch.hbm.bandwidth=1e30GB/s"])
    assert line.startswith(f"accelsim: error: --set: arch.hbm.bandwidth: 1e+39 B/s at the clock of 7e+08 Hz (clock, "
                           f"{_at('tpu-v1', 'clock: 700MHz')}) is 1.43e+30 B a cycle"), line
    # a plain 1e30 (B/s) in the user's file: 1e30 / 7e8 = 1.43e21 B a cycle
    (tmp_path / "bw.yaml").write_text('workload: gemm\narch: {base: tpu-v1, hbm: {bandwidth: "1e30"}}\n')
    line = _err(capsys, ["run", "bw.yaml"])
    assert line.startswith("accelsim: error: bw.yaml:2: arch.hbm.bandwidth: 1e+30 B/s at the clock of 7e+08 Hz"), line
    # the bound: (2**63 - 1) · 7e8 = 6.45636e27 B/s is 2**63 - 1 B a cycle at 700 MHz; just below passes, above not
    assert main(["info", "tpu-v1", "--set", "arch.hbm.bandwidth=6.4563e27"]) == 0
    capsys.readouterr()
    assert main(["info", "tpu-v1", "--set", "arch.hbm.bandwidth=6.4564e27"]) == 2
    capsys.readouterr()


def test_the_error_types_are_public_names_of_the_package():
    assert accelsim.AccelsimError is errors.AccelsimError and accelsim.ConfigError is errors.ConfigError
    public = [n for n in dir(accelsim) if not n.startswith("_")]
    for name in ("AccelsimError", "ConfigError", "WorkloadError", "MappingError", "CapacityError", "simulate",
                 "Report"):
        assert name in public
    assert set(accelsim.__all__) <= set(dir(accelsim))
    try:
        accelsim.simulate({"model": "gemm", "m": 0}, "tpu-v1")
    except accelsim.AccelsimError as e:  # the documented way to catch a bad input
        assert isinstance(e, accelsim.ConfigError)
    else:
        raise AssertionError("m: 0 was accepted")


def test_a_set_key_inside_a_level_the_arch_lacks_says_it_adds_one(tmp_path, capsys, monkeypatch):
    # probe p83 #7: gemmini has no l2; --set arch.l2.capacity adds one, which needs its bandwidth too. The error read
    # "--set: arch.l2.bandwidth: Field required", a key the user never wrote, not saying why
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-w", "gemm", "-a", "gemmini", "--set", "arch.l2.capacity=1MiB", "-q", "--no-plots"]) == 2
    assert capsys.readouterr().err == ("accelsim: error: --set: arch.l2.bandwidth: missing: the file has no l2, so the "
                                       "command line's key inside it adds a new one, which needs bandwidth too\n")
    # with the bandwidth too, the level is added and the run goes
    assert main(["run", "-w", "gemm", "-a", "gemmini", "--set", "arch.l2.capacity=1MiB", "--set",
                 "arch.l2.bandwidth=1TB/s", "-q", "--no-plots"]) == 0


def test_an_unknown_key_with_no_close_name_lists_the_keys_it_takes(tmp_path, capsys, monkeypatch):
    # probe p84 #6: "steps" on vit_b_16 (a diffusion key) got a bare "Extra inputs are not permitted"; ViT-B/16's
    # builder takes these ten (accelsim info vit_b_16 --json lists the same)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-w", "vit_b_16", "-a", "h100", "--set", "workload.steps=3", "-q", "--no-plots"]) == 2
    assert capsys.readouterr().err == (
        "accelsim: error: --set: workload.steps: Extra inputs are not permitted; it takes attention, batch, dtype, "
        "image_size, mode, num_classes, optimizer, recompute, sparsity, tensor_parallel (got 3)\n")
    # a close name is still suggested instead
    assert main(["run", "-w", "vit_b_16", "-a", "h100", "--set", "workload.batchh=3", "-q", "--no-plots"]) == 2
    assert "did you mean 'batch'?" in capsys.readouterr().err
