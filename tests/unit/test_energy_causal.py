"""An op is charged the energy of the MACs and FLOPs its kernel computes, at the dtype it ran at (docs/energy.md,
"The model": actions): a causal fused attention not the whole score matrix its op row counts, an attention over an
fp8 KV cache in a bf16 model fp8 MACs.

FlashAttention-3 on an H100 (the h100 preset's kernel) tiles a causal head of 4096 queries and 4096 keys in
128 × 128 blocks (hopper/tile_size.h, head dim 128, causal: kBlockM = kBlockN = 128); with the mask the query tile
i (0-based) visits the key blocks 0..i only (bottom-right aligned, q_len = kv_len), so a head computes
1 + 2 + ... + 32 = 32 · 33 / 2 = 528 of its 32 × 32 = 1024 blocks. The op row's ``macs`` and ``flops`` count all
1024 (the mask is recorded, never discounted, in the IR); its energy counts 528 / 1024 of them.
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config import load_arch
from accelsim.energy import computed_share, constants, op_energy

SHAPE = {"batch": 1, "heads": 8, "kv_heads": 8, "head_dim": 128, "q_len": 4096, "kv_len": 4096,
         "attention": "fused", "dtype": "bf16"}
BLOCKS_COMPUTED = 32 * 33 // 2  # 528
BLOCKS_ALL = 32 * 32  # 1024


def _attention_row(rep: dict) -> dict:
    (row,) = [r for r in rep["ops"] if r["kind"] == "attention"]
    return row


def _run(causal: bool) -> dict:
    return accelsim.simulate({"model": "attention", **SHAPE, "causal": causal}, "h100").to_dict()


def test_causal_attention_is_charged_the_blocks_its_kernel_computes():
    c = constants(load_arch("h100"), "bf16")
    causal, full = _run(True), _run(False)
    row, full_row = _attention_row(causal), _attention_row(full)
    # the op counts the whole score matrix in both runs: 2 GEMMs of 8 heads x 4096 x 4096 x 128
    assert row["macs"] == full_row["macs"] == 2 * 8 * 4096 * 4096 * 128
    assert row["mapping"]["mac_fraction"] == pytest.approx(BLOCKS_COMPUTED / BLOCKS_ALL)
    assert computed_share(row) == pytest.approx(528 / 1024)
    assert computed_share(full_row) == 1.0
    compute, macs_j, _ = op_energy(row, c)
    full_compute, full_macs_j, _ = op_energy(full_row, c)
    assert macs_j == pytest.approx(row["macs"] * 528 / 1024 * c.mac_j)
    assert full_macs_j == pytest.approx(full_row["macs"] * c.mac_j)
    # the softmax's FLOPs beyond the MACs follow the same blocks
    vector_flops = row["flops"] - 2 * row["macs"]
    assert vector_flops > 0
    assert compute == pytest.approx((row["macs"] * c.mac_j + vector_flops * c.vector_j) * 528 / 1024)
    assert causal["energy"]["mac_j"] == pytest.approx(row["macs"] * 528 / 1024 * c.mac_j)
    assert compute / full_compute == pytest.approx(528 / 1024)


def test_tops_per_w_counts_the_flops_the_kernel_computes():
    # TOPS/W is the FLOPs computed per joule, as the energy is charged: the causal run's attention row computes
    # 528 / 1024 of the FLOPs its row (and report.json's flops) counts, the full run all of them
    causal, full = _run(True), _run(False)
    row = _attention_row(causal)
    computed = causal["flops"] - row["flops"] * (1 - 528 / 1024)
    assert computed < causal["flops"] == full["flops"]
    assert causal["efficiency"]["tops_per_w"] == pytest.approx(computed / causal["energy"]["total_j"] / 1e12)
    assert full["efficiency"]["tops_per_w"] == pytest.approx(full["flops"] / full["energy"]["total_j"] / 1e12)


def test_a_row_without_a_fraction_is_charged_in_full():
    assert computed_share({"mapping": {}}) == 1.0
    assert computed_share({}) == 1.0
    assert computed_share({"mapping": {"mac_fraction": True}}) == 1.0  # a flag is not a share
    assert computed_share({"mapping": {"mac_fraction": 1.5}}) == 1.0  # outside [0, 1]: not a share either
    assert computed_share({"mapping": {"mac_fraction": 0.25}}) == 0.25


def test_an_op_is_charged_the_mac_energy_of_the_dtype_it_ran_at():
    # a bf16 model over an fp8 KV cache: the scores and context GEMMs read the cache and run at fp8 (their
    # mapping.rate.dtype, builders/precision.py), the linears at bf16. Each row's MACs cost its own dtype's MAC: the
    # arithmetic, fp8 1.1·(4/11)² + 0.9 = 1.045 pJ, bf16 1.1·(8/11)² + 0.9 = 1.482 pJ at 45 nm (docs/energy.md), plus
    # the array's operand movement, h100's mac_overhead 8.54 for bf16 = (8.54 - 1) x 1.482 pJ per 16-bit MAC, half
    # of it for 8-bit operands; the same node scale for both, so an fp8 MAC costs (1.045 + 3.77 x 1.482) /
    # (8.54 x 1.482) = 0.524 of a bf16 one here (0.529 with mac_overhead 7 before probe p152 #1)
    from accelsim.energy import mac_pricer, row_dtype

    arch = load_arch("h100")
    rep = accelsim.simulate({"model": "llama2_7b", "layers": 1, "seq_len": 256, "dtype": "bf16",
                             "kv_cache_dtype": "fp8"}, arch).to_dict()
    bf16, fp8 = constants(arch, "bf16"), constants(arch, "fp8")
    fp8_pj, bf16_pj = 1.1 * (4 / 11) ** 2 + 0.9, 1.1 * (8 / 11) ** 2 + 0.9
    assert fp8.mac_j / bf16.mac_j == pytest.approx((fp8_pj + 7.54 * bf16_pj * 8 / 16) / (8.54 * bf16_pj))
    rows = {r["name"].rpartition(".")[2]: r for r in rep["ops"] if r["macs"]}
    assert row_dtype(rows["scores"]) == row_dtype(rows["context"]) == "fp8"
    assert row_dtype(rows["q_proj"]) == "bf16"
    price = mac_pricer(bf16, arch)
    assert price(rows["scores"]) == fp8.mac_j and price(rows["q_proj"]) == bf16.mac_j
    assert mac_pricer(bf16, None)(rows["scores"]) == bf16.mac_j  # without the arch: the run's dtype, as before
    for r in rep["ops"]:
        compute, _, levels = op_energy(r, bf16, arch)
        assert r["energy_j"] == pytest.approx(compute + sum(levels.values()), rel=1e-12, abs=0)
    expected = sum(r["macs"] * computed_share(r) * (fp8 if row_dtype(r) == "fp8" else bf16).mac_j
                   for r in rep["ops"] if r["unit"] != "none")
    assert rep["energy"]["mac_j"] == pytest.approx(expected)


def test_a_dtype_run_as_a_wider_one_is_charged_the_wider_ones_macs():
    # an A100 has no fp8 tensor rate: an fp8 GEMM runs on the bf16 MMAs (mapping.rate.runs_as, docs/configuration.md
    # "Per-dtype rates"), so its MACs cost bf16 MACs, not the cheaper fp8 ones: the same 512 x 512 x 4096 MACs in
    # fp8 and in bf16 give the same MAC energy, 512 · 512 · 4096 x constants(a100, bf16).mac_j (the row's
    # computed share is 1, a GEMM has no mask)
    from accelsim.energy import row_dtype

    arch = load_arch("a100")
    gemm = {"model": "gemm", "m": 512, "n": 512, "k": 4096}
    f8 = accelsim.simulate({**gemm, "dtype": "fp8"}, arch).to_dict()
    bf = accelsim.simulate({**gemm, "dtype": "bf16"}, arch).to_dict()
    assert row_dtype(f8["ops"][0]) == "bf16"
    macs = 512 * 512 * 4096
    assert f8["energy"]["mac_j"] == pytest.approx(macs * constants(arch, "bf16").mac_j)
    assert f8["energy"]["mac_j"] == pytest.approx(bf["energy"]["mac_j"])
    # a row whose rate gives only its compute dtype (no runs_as) is charged that dtype
    assert row_dtype({"mapping": {"rate": {"dtype": "fp8"}}}) == "fp8"
    assert row_dtype({"mapping": {"rate": {"dtype": "fp8", "runs_as": "bf16"}}}) == "bf16"
    assert row_dtype({"mapping": {}}) is None


def test_flash_attention_over_an_fp8_kv_cache_is_charged_fp8_macs():
    # docs/energy.md: the attention GEMMs over an fp8 KV cache in a bf16 model run at fp8 (FlashAttention-3's FP8
    # path on an H100), so their MACs cost fp8 MACs: the op's computed MACs (MACs x mapping.mac_fraction: a
    # non-causal attention computes every block, 1) x constants(h100, fp8).mac_j; cost.attention now says so in
    # mapping.rate, which it left out (the MACs were charged at the model's bf16)
    from accelsim.energy import row_dtype

    arch = load_arch("h100")
    rep = accelsim.simulate({"model": "attention", "dtype": "bf16", "attention": "fused", "kv_cache_dtype": "fp8",
                             "q_len": 2048, "kv_len": 2048}, arch).to_dict()
    (op,) = [o for o in rep["ops"] if o["kind"] == "attention"]
    assert op["mapping"]["rate"] == {"dtype": "fp8", "runs_as": "fp8", "multiplier": 2.0}
    assert row_dtype(op) == "fp8"
    assert op["mapping"]["mac_fraction"] == 1
    assert rep["energy"]["mac_j"] == pytest.approx(op["macs"] * constants(arch, "fp8").mac_j)
