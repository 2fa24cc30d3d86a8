"""Replicas whose chips together exceed the arch's run on copies of it, and the report says so (probe p70 #5)."""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main


@pytest.mark.parametrize(("replicas", "copies"), [(8, 2), (4, None)])
def test_replicas_beyond_the_arch_are_noted_with_the_copies_they_span(tmp_path, capsys, replicas, copies):
    # llama2_7b at tensor_parallel 2 on dgx-h100 (8 GPUs): 8 replicas × 2 = 16 chips = 2 copies of the node (⌈16/8⌉);
    # 4 × 2 = 8 fit on one, no note
    out = tmp_path / "s"
    code = main(["serve", "llama2_7b_h100", "--set", "arch=dgx-h100", "--set", "model.tensor_parallel=2",
                 "--set", f"replicas={replicas}", "--set", "workload.duration=2s", "-o", str(out), "-q", "--no-plots"])
    assert code == 0
    r = json.loads((out / "report.json").read_text())
    assert r["energy"]["chips"] == replicas * 2
    span = [n for n in r["notes"] if n.startswith("replicas: ")]
    if copies is None:
        assert span == []
    else:
        assert span == [f"replicas: {replicas} × 2 chips a replica (tensor_parallel × expert_parallel) = "
                        f"{replicas * 2} chips, more than arch 'dgx-h100' has (arch.chips=8): the replicas span "
                        f"{copies} copies of it, each replica within one; energy and power count all "
                        f"{replicas * 2} chips"]
