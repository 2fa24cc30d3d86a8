"""Probe p90 #5: the hf builder's ``expert_tensor_parallel: 1`` refusals go to the key set last (a ``--set``), not
to the preset's ``model:`` line."""

from __future__ import annotations

from pathlib import Path

from ..conftest import cli_errors


# ---- p90 #5: expert_tensor_parallel 1 refusals at the key set last -------------------------------------------
def test_expert_tensor_parallel_with_expert_parallel_is_at_the_set_not_the_presets_model_line(capsys):
    (line,) = cli_errors(capsys, ["info", "mixtral_8x7b", "--set", "workload.tensor_parallel=2",
                               "--set", "workload.expert_parallel=2", "--set", "workload.expert_tensor_parallel=1"])
    # before: ".../workloads/mixtral_8x7b.yaml:4: expert_tensor_parallel 1 with expert_parallel > 1 ..." (model:)
    assert line.startswith("accelsim: error: --set: workload.expert_tensor_parallel: 1 with expert_parallel (2, "
                           "--set) above 1 is not modelled"), line


def test_expert_parallel_set_over_a_files_expert_tensor_parallel_is_at_the_set(here, capsys):
    Path("m.yaml").write_text("base: mixtral_8x7b\nexpert_tensor_parallel: 1\ntensor_parallel: 2\n")
    (line,) = cli_errors(capsys, ["info", "m.yaml", "--set", "workload.expert_parallel=2"])
    assert line.startswith("accelsim: error: --set: workload.expert_parallel: 2 with expert_tensor_parallel (1, "
                           "m.yaml:2) is not modelled"), line


def test_a_tensor_parallel_that_does_not_divide_the_experts_is_at_the_set(here, capsys):
    # Mixtral has 8 experts (num_local_experts); 8 % 3 = 2, so 3 chips cannot each hold whole experts
    Path("m.yaml").write_text("base: mixtral_8x7b\nexpert_tensor_parallel: 1\n")
    (line,) = cli_errors(capsys, ["info", "m.yaml", "--set", "workload.tensor_parallel=3"])
    assert line.startswith("accelsim: error: --set: workload.tensor_parallel: 3 must divide the experts (8) with "
                           "expert_tensor_parallel (1, m.yaml:2)"), line
