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
    # not divide 8)
    row = {"capacity": 100, "weights": 10, "gradients": 20, "optimizer_states": 60, "activations": 30, "used": 120}
    assert _more_experts((8, 0.8), row, 1, 1) == ("workload.expert_parallel 2 or more, a divisor of the 8 experts "
                                                  "(needs about 84 B at 2; 2 chips or more; now 1)")
    # capacity 80: 84 B does not fit, 66 B does; tensor parallelism 2 makes each rank 2 chips
    assert _more_experts((8, 0.8), {**row, "capacity": 80}, 1, 2).startswith(
        "workload.expert_parallel 4 or more, a divisor of the 8 experts (needs about 66 B at 4; 8 chips or more")
    # already at 4, its experts 0.2 of the 90 B (18 B): at 8 ways 9 B, 120 - 18 + 9 = 111 B, still over 100
    assert _more_experts((8, 0.2), row, 4, 1) == ""


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
    assert (f"workload.expert_parallel 2 or more, a divisor of the 60 experts (needs about {figure:,} B at 2; "
            f"2 chips or more; now 1)") in line
    # and the run at expert_parallel 2 on two chips fits with exactly that footprint
    assert main(["run", "-a", "dgx-h100", *QWEN, "--set", "arch.chips=2", "--set", "workload.expert_parallel=2",
                 "-o", "o2"]) == 0
    assert json.loads((tmp_path / "o2" / "report.json").read_text())["memory"]["hbm"]["used"] == figure
