"""More cores and a faster clock never make a run slower: the mapper splits an op over only as many units as pay
(mapping/choice.py ``assign``), and tile groups are sized by compute cycles and transfer time, not by the clock
(mapping/traffic.py ``tile_groups``); an op cut along its GEMM count copies no operand. The hand calculations are
in each test's comments."""

from __future__ import annotations

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload


def _run(workload: dict, arch: str, sets: list[str]) -> dict:
    """report.json of ``workload`` on the preset ``arch`` with ``sets`` (``--set`` overrides)."""
    return simulate(load_workload(workload), load_arch(arch, sets)).to_dict()


def test_a_grouped_conv_split_along_its_groups_copies_nothing():
    """conv2d 64 → 64 channels, 3×3, groups 4, 56×56, bf16 on multicore-4: Gemm(3136, 16, 144, count 4). Over 4
    cores each runs one group's GEMM and reads only its own input channels and filters, so HBM moves what one core
    does: input 64·56·56·2 = 401,408 B, weights 64·16·9·2 = 18,432 B and bias 128 B, output 401,408 B: 821,376 B
    (the weights and bias were counted once per core: + 3 · 18,560 = 877,056 B)."""
    wl = {"model": "conv2d", "groups": 4}
    for cores in (1, 4):
        rep = _run(wl, "multicore-4", [f"arch.cores={cores}"])
        assert rep["bytes"]["hbm"] == 401_408 + 18_432 + 128 + 401_408
    assert rep["ops"][0]["mapping"]["split"] == "count"
    assert rep["ops"][0]["mapping"]["units"] == 4
