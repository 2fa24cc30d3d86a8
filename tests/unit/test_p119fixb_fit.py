"""Probe p119 #4: the refusal of an MoE training step whose weights, gradients and optimizer states alone overflow
a chip names more ``expert_parallel`` (the least divisor of the experts that fits, with the footprint it leaves),
beside the other remedies."""

from __future__ import annotations

import json
import re

from accelsim.cli import main
from accelsim.scenarios.fit import _more_experts

QWEN = ["-w", "qwen1_5_moe_a2_7b", "--mode", "training", "--set", "workload.seq_len=256", "--set", "workload.layers=2",
        "--set", "arch.hbm.capacity=24GiB", "-q", "--no-plots"]


def test_the_least_divisor_of_the_experts_that_fits():
    # 8 experts holding 0.8 of a fixed 90 B (72 B); 30 B of activations: used 120 B. At E-way expert parallelism
    # a chip holds 72 / E of them: E = 2 leaves 120 - 72 + 36 = 84 B, E = 4 leaves 120 - 72 + 18 = 66 B (3 does
    # not divide 8). On 1 chip (1 data-parallel chip) no E above 1 runs: it needs arch.chips a multiple of E x the
    # group (probe p227 #1: "2 chips or more" was wrong where 3 chips, whose 3 data-parallel chips 2 does not
    # divide, are refused)
    row = {"capacity": 100, "weights": 10, "gradients": 20, "optimizer_states": 60, "activations": 30, "used": 120}
    assert _more_experts((8, 0.8), row, 1, 1, 1, 1) == (
        "workload.expert_parallel 2, a divisor of the 8 experts, over arch.chips a multiple of 2 for it to divide "
        "the data-parallel chips (needs about 84 B at 2; now 1 on 1 data-parallel chips)")
    # on 4 chips (4 data-parallel chips) E = 2 divides both and runs there
    assert _more_experts((8, 0.8), row, 1, 1, 4, 4) == (
        "workload.expert_parallel 2, a divisor of the 8 experts and of the 4 data-parallel chips (needs about 84 B "
        "at 2; now 1)")
    # capacity 80: 84 B does not fit, 66 B does; tensor parallelism 2 makes each rank 2 chips: 8 chips
    assert _more_experts((8, 0.8), {**row, "capacity": 80}, 1, 2, 1, 2).startswith(
        "workload.expert_parallel 4, a divisor of the 8 experts, over arch.chips a multiple of 8 ")
    # already at 4, its experts 0.2 of the 90 B (18 B): at 8 ways 9 B, 120 - 18 + 9 = 111 B, still over 100
    assert _more_experts((8, 0.2), row, 4, 1, 8, 8) == ""


def test_only_an_expert_parallel_the_data_parallel_chips_take_is_offered_on_them():
    # probe p227 #1: 60 experts, 8 data-parallel chips, now 4; 0.5 of a fixed 160 B (80 B) is the experts', 20 B
    # of activations: used 180 B, capacity 170. E = 5 leaves 180 - 80 + 80·4/5 = 164 B and fits (larger E fit
    # too), but of the divisors of 60 above 4 (5, 6, 10, 12, ...) none divides 8, so none runs on these 8 chips;
    # the least that fits, 5, is said with the chips that take it (a multiple of 5)
    row = {"capacity": 170, "weights": 20, "gradients": 40, "optimizer_states": 100, "activations": 20, "used": 180}
    said = _more_experts((60, 0.5), row, 4, 1, 8, 8)
    assert said == ("workload.expert_parallel 5, a divisor of the 60 experts, over arch.chips a multiple of 5 for it "
                    "to divide the data-parallel chips (needs about 164 B at 5; now 4 on 8 data-parallel chips)")
    # on 16 chips at tensor parallelism 2 (8 data-parallel chips) the same, its chips a multiple of 5 x 2
    assert "over arch.chips a multiple of 10 " in _more_experts((60, 0.5), row, 4, 2, 8, 16)
    # from 1 on the same 8 chips: 2 leaves 180 - 80 + 40 = 140 B, fits and divides 60 and 8
    assert _more_experts((60, 0.5), row, 1, 1, 8, 8).startswith(
        "workload.expert_parallel 2, a divisor of the 60 experts and of the 8 data-parallel chips (needs about "
        "140 B at 2;")


def test_qwen_at_expert_parallel_4_on_8_chips_is_told_what_runs(tmp_path, capsys, monkeypatch):
    # probe p227 #1: the advice was "expert_parallel 5 or more ... 5 chips or more", which the 8-chip run then
    # refused (5 does not divide its 8 data-parallel chips); the advice now asks for chips a multiple of 5, and
    # the run on 10 chips at 5 fits with the footprint it said
    monkeypatch.chdir(tmp_path)
    run = ["run", "-w", "qwen1_5_moe_a2_7b", "-a", "dgx-h100", "--mode", "training", "--set", "workload.seq_len=256",
           "-q", "--no-plots"]
    assert main([*run, "--set", "workload.expert_parallel=4", "-o", "o1"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    said = re.search(r"workload\.expert_parallel 5, a divisor of the 60 experts, over arch\.chips a multiple of 5 "
                     r"for it to divide the data-parallel chips \(needs about ([\d,]+) B at 5; now 4 on 8 "
                     r"data-parallel chips\)", line)
    assert said, line
    assert main([*run, "--set", "workload.expert_parallel=5", "-o", "o5"]) == 2  # as the advice says: not on 8
    assert "must divide the data-parallel chips" in capsys.readouterr().err
    assert main([*run, "--set", "workload.expert_parallel=5", "--set", "arch.chips=10", "-o", "o2"]) == 0
    used = json.loads((tmp_path / "o2" / "report.json").read_text())["memory"]["hbm"]["used"]
    assert used == int(said[1].replace(",", ""))


def test_qwen_moe_that_does_not_fit_is_told_about_expert_parallel(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-a", "h100", *QWEN, "-o", "o1"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    used = int(re.search(r"a chip needs ([\d,]+) B", line)[1].replace(",", ""))
    # Qwen1.5-MoE-A2.7B (its config.json): 60 experts a layer, each a SwiGLU of hidden 2048 and width 1408:
    # 3 · 2048 · 1408 = 8,650,752 parameters, 519,045,120 a layer, 1,038,090,240 in the 2 layers; each holds 2 B
    # of bf16 weight, 4 B of fp32 gradient and 12 B of Adam state (fp32 m, v, master): 18 B, 18,685,624,320 B.
    # At expert_parallel 2 a chip holds half of them: 9,342,812,160 B less, under the 25,769,803,776 B of 24 GiB
    figure = used - 2 * 60 * 3 * 2048 * 1408 * 18 // 2
    assert figure <= 24 * 2**30
    # (h100 is one chip: 2 divides no data-parallel chips of it, so the advice asks for chips a multiple of 2;
    # probe p227 #1: it said "2 chips or more", though 3 chips do not take expert_parallel 2 in training)
    assert (f"workload.expert_parallel 2, a divisor of the 60 experts, over arch.chips a multiple of 2 for it to "
            f"divide the data-parallel chips (needs about {figure:,} B at 2; now 1 on 1 data-parallel chips)") in line
    # and the run at expert_parallel 2 on two chips fits with exactly that footprint
    assert main(["run", "-a", "dgx-h100", *QWEN, "--set", "arch.chips=2", "--set", "workload.expert_parallel=2",
                 "-o", "o2"]) == 0
    assert json.loads((tmp_path / "o2" / "report.json").read_text())["memory"]["hbm"]["used"] == figure
