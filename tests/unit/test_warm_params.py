"""options.warm_params (accelsim/mapping/l2resident.py): a measurement that replays N layers of one shape on the
same weights, run after run, finds every weight in the L2 when one run's footprint fits half of it.

Hand calculation on the a100 preset (L2 40 MiB, arch/a100.yaml; half of it, 20 MiB = 20,971,520 bytes, is what
l2resident.CACHE_SHARE lets a tensor count on): a bf16 GEMM m = 16, n = 1024, k = 1024 has a 2 MiB weight
(1024 × 1024 × 2 = 2,097,152 bytes), a 32 KiB input x (16 × 1024 × 2) and a 32 KiB output.
"""

from __future__ import annotations

import pytest

import accelsim

GEMM = {"model": "gemm", "m": 16, "n": 1024, "k": 1024, "dtype": "bf16"}
X = OUT = 16 * 1024 * 2
W = 1024 * 1024 * 2


def _op(**options) -> dict:
    return accelsim.simulate(GEMM, "a100", warm_inputs=True, plots=False, **options).to_dict()["ops"][0]


def test_the_weights_of_a_replay_that_fits_are_read_from_the_l2():
    # 6 copies (NVIDIA's GEMM collector): 6 × 2 MiB + 32 KiB + 32 KiB = 12.06 MiB ≤ 20 MiB. x is warm too, so HBM
    # moves only the output written back (32 KiB); without warm_params it also reads the 2 MiB weight
    cold, warm = _op(), _op(warm_params=6)
    assert cold["bytes"]["hbm"] == W + OUT
    assert warm["bytes"]["hbm"] == OUT
    assert warm["mapping"]["cache_inputs"] == ["input", "gemm.weight"]
    # the L2 moves the tiles' panels either way: the same bytes
    assert warm["bytes"]["l2"] == cold["bytes"]["l2"]


def test_a_replay_larger_than_half_the_l2_reads_its_weights_from_hbm():
    # 9 copies: 18 MiB + 64 KiB ≤ 20 MiB (warm); 10 copies: 20 MiB + 64 KiB > 20 MiB (evicted before the next run)
    assert _op(warm_params=9)["bytes"]["hbm"] == OUT
    assert _op(warm_params=10)["bytes"]["hbm"] == W + OUT


def test_warm_params_need_cache_residency_and_are_off_by_default():
    with pytest.raises(Exception, match=r"cache_residency \(false, from <input>\) to be true"):  # refused, not ignored
        _op(warm_params=6, cache_residency=False)
    assert accelsim.options.Options().warm_params == 0


def test_a_validation_job_sets_the_copies_it_names():
    from benchmarks.validation.jobs import experiment

    spec = experiment(("a100|execution=cuda_graph|warm=all|params=6", "gemm", (("m", 16), ("n", 1024), ("k", 1024))))
    assert spec.options.warm_params == 6 and spec.options.warm_inputs is True
