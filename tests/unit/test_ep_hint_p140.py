"""Probe p140: the refusal of tensor_parallel x expert_parallel beyond the arch's chips said vLLM's experts spread over
the tensor-parallel GPUs "are not modelled", although `expert_tensor_parallel: 1` models them (docs/configuration.md,
vLLM's --enable-expert-parallel): the hint now names that setting, and following it runs."""

from __future__ import annotations

from accelsim.cli import main

MIXTRAL = ["-w", "mixtral_8x7b", "-a", "dgx-h100", "--no-plots", "-q",
           "--set", "workload.num_hidden_layers=1", "--set", "workload.seq_len=64", "--set", "workload.tensor_parallel=8"]


def test_the_hint_names_expert_tensor_parallel_and_following_it_runs(tmp_path, capsys):
    # 8 x 8 = 64 chips on dgx-h100's 8: refused, with the setting that spreads Mixtral's 8 experts over the 8 GPUs
    assert main(["run", *MIXTRAL, "--set", "workload.expert_parallel=8", "-o", str(tmp_path / "a")]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert "set expert_tensor_parallel: 1 and leave expert_parallel at 1" in err and "not modelled" not in err
    assert main(["run", *MIXTRAL, "--set", "workload.expert_tensor_parallel=1", "-o", str(tmp_path / "b")]) == 0
