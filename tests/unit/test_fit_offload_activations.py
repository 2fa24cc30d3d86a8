"""Probe p222 #3: the training refusal tries ``options.offload: activations`` as it tries the other remedies.
resnet50 at batch 2048 on tpu-v4 was refused with "use a smaller batch" alone, though with the stash in host
memory the run fits (docs/configuration.md's ``offload`` row: ``activations`` keeps the stash in host memory)."""

from __future__ import annotations

from accelsim.cli import main
from accelsim.config import build_graph, load_workload


def _err(capsys, argv: list[str]) -> str:
    assert main([*argv, "-q", "--no-plots", "-o", "o"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


def _stash(batch: int) -> int:
    spec = load_workload("resnet50", ["mode=training", f"batch={batch}"])
    return int(build_graph(spec, "bf16").info.stashed_activation_bytes)


# resnet50 in bf16 with Adam: weights 2 B, fp32 gradients 4 B, states 12 B a parameter (25,557,032 parameters);
# the largest op's working set, layer1.0.bn3.grad_input's dY, x and dX of 2048 · 256 · 56 · 56 bf16 values
FIXED = 25_557_032 * (2 + 4 + 12)
WORKING = 3 * 2048 * 256 * 56 * 56 * 2


def test_tpu_v4_is_told_offload_activations_fits(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "resnet50", "-a", "tpu-v4", "--mode", "training", "--batch", "2048"])
    stash = _stash(2048)
    # the stash fits tpu-v4's 96 GiB host (arch/tpu-v4.yaml host.capacity), what stays fits its 32 GiB of HBM
    assert stash <= 96 * 2**30 and FIXED + WORKING <= 32 * 2**30
    assert FIXED + WORKING == 10_325_029_584  # the HBM the probe's offloaded run held
    assert line.endswith(f": use options.offload: activations (needs {FIXED + WORKING:,} B); or a smaller batch")


def test_not_offered_where_the_host_cannot_hold_the_stash(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "resnet50", "-a", "tpu-v4", "--mode", "training", "--batch", "2048",
                         "--set", "arch.host.capacity=64GiB"])
    assert _stash(2048) > 64 * 2**30
    assert "offload: activations" not in line and line.endswith("; use a smaller batch")


def test_not_offered_when_offload_is_already_set(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "resnet50", "-a", "tpu-v4", "--mode", "training", "--batch", "2048",
                         "--set", "options.offload=optimizer"])
    assert "offload: activations" not in line
