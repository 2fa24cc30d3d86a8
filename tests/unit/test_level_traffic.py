"""Bytes per level with a shared cache (accelsim/mapping/traffic.py): the scratchpad counts its fills from the level
just outside it, and an op split over cores reads its replicated operand from the cache, not from the memory.

Hand calculations on made-up fp16 chips (2 bytes an element).
"""

from __future__ import annotations

import accelsim

from .test_cache_residency import CHAIN, TENSOR, _arch


def _two_cores(l2: bool) -> dict:
    arch = {"name": "two-core", "clock": "1GHz", "dtype": "fp16", "cores": 2,
            "core": {"systolic": {"rows": 16, "cols": 16, "dataflow": "ws"}, "vector": {"lanes": 16},
                     "sram": {"unified": "1MiB"}},
            "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s", "latency": "100ns"}}
    if l2:
        arch["l2"] = {"capacity": "4MiB", "bandwidth": "64GB/s", "latency": "10ns"}
    return arch


def _op_bytes(workload: dict, arch: dict, **options) -> dict[str, dict[str, int]]:
    report = accelsim.simulate(workload, arch, plots=False, **options).to_dict()
    return {op["name"]: op["bytes"] for op in report["ops"]}


def test_the_scratchpad_counts_its_fills_from_the_cache_not_the_memories_again():
    relu = {**CHAIN, "layers": CHAIN["layers"][:1]}
    with_l2 = _op_bytes(relu, _arch("4KiB"), activations_on_chip=False)["r1"]
    no_l2 = _arch("4KiB")
    del no_l2["l2"]
    without = _op_bytes(relu, no_l2, activations_on_chip=False)["r1"]
    # the ReLU reads its 512-byte input and writes its 512-byte output: HBM 1024 bytes, through the L2 the same 1024
    assert with_l2["hbm"] == with_l2["l2"] == without["hbm"] == 2 * TENSOR
    # the scratchpad: the vector unit's operands (512 in + 512 out) plus the fill and the drain (1024) from the level
    # outside it, the L2 or the HBM; the HBM → L2 bytes never touch the scratchpad (they were counted: 3072)
    assert with_l2["sram"] == without["sram"] == 2 * TENSOR + 2 * TENSOR


def test_an_op_over_two_cores_reads_its_replicated_operand_from_the_cache():
    gemm = {"model": "gemm", "m": 64, "n": 256, "k": 64}
    a, b, c = 64 * 64 * 2, 64 * 256 * 2, 64 * 256 * 2  # 8 KiB of A, 32 KiB of B, 32 KiB of output
    with_l2 = _op_bytes(gemm, _two_cores(True))["gemm"]
    without = _op_bytes(gemm, _two_cores(False))["gemm"]
    # split over the two cores along N, each core streams all of A (the smaller operand) into its own scratchpad:
    # from the L2 where there is one (the HBM fills the L2 once), else from the HBM (docs/architecture.md step 6)
    assert with_l2["l2"] == without["hbm"] == 2 * a + b + c
    assert with_l2["hbm"] == a + b + c
    assert with_l2["sram"] == without["sram"]


def test_an_op_of_a_few_thousand_cycles_uses_every_core_it_is_split_over():
    # 100,000 GELUs at 8 cycles an element on 256 lanes: 100,000 · 8 / 256 = 3,125 cycles of vector work. Split over
    # the 4 cores' vector units that is ⌈3,125 / 4⌉ = 782 cycles on the busiest; with one tile group per 1,000
    # cycles of work it was 3 groups on 3 of the 4 units (1,042 cycles, core 3 idle) although the op was listed
    # on all four
    arch = {"name": "four-core", "clock": "1GHz", "dtype": "bf16", "cores": 4,
            "core": {"systolic": {"rows": 16, "cols": 16, "dataflow": "ws"},
                     "vector": {"lanes": 256, "cycles_per_element": {"gelu": 8, "default": 1}},
                     "sram": {"unified": "4MiB"}},
            "hbm": {"capacity": "1GiB", "bandwidth": "1000TB/s", "latency": "0ns"}}
    report = accelsim.simulate({"model": "gelu", "elements": 100_000}, arch, plots=False).to_dict()
    (op,) = report["ops"]
    assert op["unit"] == "core0.vector..core3.vector (4)"
    assert op["compute_cycles"] == -(-100_000 * 8 // 256 // 4) == 782
    assert all(report["utilization"][f"core{c}.vector"] > 0 for c in range(4))


def test_the_note_for_a_third_memory_names_every_memory_before_it():
    # a 1024 × 1024 fp16 weight is 2 MiB: it fits neither the 1 MiB HBM nor the 512 KiB CXL tier, so it lives in
    # host memory, and the note says it fits neither (it named only the HBM)
    arch = {**_two_cores(False), "cores": 1,
            "hbm": {"capacity": "1MiB", "bandwidth": "16GB/s", "latency": "100ns"},
            "host": {"capacity": "1GiB", "bandwidth": "8GB/s", "latency": "1us"},
            "levels": {"cxl": {"role": "memory", "after": "hbm", "capacity": "512KiB", "bandwidth": "12GB/s"}}}
    report = accelsim.simulate({"model": "gemm", "m": 1, "n": 1024, "k": 1024}, arch, plots=False).to_dict()
    (note,) = [n for n in report["notes"] if "live in host memory" in n]
    assert "do not fit hbm (1048576 B (1MiB)) or cxl (524288 B (512KiB)) and live in host memory" in note


def _npu(l2: str | None, **sram) -> dict:
    """The probing user's NPU (int8, 1 GHz) scaled down: 16×16 ws arrays, small scratchpads, a 16 GB/s HBM."""
    arch = {"name": "npu-small", "clock": "1GHz", "dtype": "int8", "cores": 1,
            "core": {"systolic": {"rows": 16, "cols": 16, "dataflow": "ws"}, "vector": {"lanes": 16},
                     "sram": sram},
            "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s", "latency": "100ns"}}
    if l2 is not None:
        arch["l2"] = {"capacity": l2, "bandwidth": "64GB/s", "latency": "20ns"}
    return arch


def test_a_cache_only_filters_the_traffic_its_cores_ask_of_it():
    # one core, split buffers: a 256³ int8 GEMM has A = B = C = 64 KiB (int8 output). The ofmap buffer (64 KiB)
    # holds its 65,536 int32 partial sums (256 KiB) in nm·nn ≥ 4 tiles, the 16 KiB ifmap and filter buffers A in
    # nm·nk ≥ 4 and B in nk·nn ≥ 4: unsplit k reads one operand nm or nn ≥ 4 times (5 operand-reads in all),
    # split k reads A nn and B nm times, least at nm = nn = 2 (4 in all). So the cores ask 2A + 2B + C = 320 KiB
    # of the level outside their SRAM, the L2 where there is one
    kib = 1024
    sram = {"ifmap": "16KiB", "filter": "16KiB", "ofmap": "64KiB", "double_buffered": False}
    gemm = {"model": "gemm", "m": 256, "n": 256, "k": 256}
    into = (2 * 64 + 2 * 64 + 64) * kib
    without = _op_bytes(gemm, _npu(None, **sram))["gemm"]
    assert without["hbm"] == into
    # a cache tiles in thirds of its capacity (docs/architecture.md step 6). 1 KiB: 341-byte tiles need nm·nn ≥
    # ⌈65,536 / 341⌉ = 193 for C, reading A and B 14 times each (nm = nn = 14); 64 KiB: 21,845-byte tiles need
    # nm·nn ≥ 4 (3 × 21,845 is a byte short of 65,536), A and B twice at best, as the SRAM does. A cache too small to
    # help sends on what it is asked, the same HBM bytes as no L2 (before: 1 KiB gave A·14 + B·14 + C = 1,900,544 B
    # of HBM, 5.8 times its 320 KiB, and 194,027 cycles for no L2's 98,595)
    for small in ("1KiB", "64KiB"):
        got = _op_bytes(gemm, _npu(small, **sram))["gemm"]
        assert got["l2"] == got["hbm"] == into, small
    # 96 KiB: 32 KiB tiles, C in nm·nn ≥ 2 (nm = 1, nn = 2 with k split: A twice, B once): 2A + B + C
    assert _op_bytes(gemm, _npu("96KiB", **sram))["gemm"]["hbm"] == (2 * 64 + 64 + 64) * kib
    # 192 KiB holds a whole operand in each third: HBM reads each operand once, A + B + C
    got = _op_bytes(gemm, _npu("192KiB", **sram))["gemm"]
    assert (got["l2"], got["hbm"]) == (into, 3 * 64 * kib)


def test_a_larger_cache_never_moves_more_main_memory_bytes_nor_more_than_no_cache():
    # the probing user's sweep of l2.capacity (a 1024³ int8 GEMM on 2 cores, 2 MiB unified SRAM each, L2 1 KiB
    # to 8 MiB) scaled down 4 times: 256³ on 2 cores with 32 KiB of double-buffered unified SRAM each. Before, a
    # 1 KiB L2 gave 2,686,976 B of HBM where no L2 gives 524,288 B, and 169,263 cycles for 41,831
    gemm = {"model": "gemm", "m": 256, "n": 256, "k": 256}
    sram = {"unified": "32KiB", "double_buffered": True}
    none = accelsim.simulate(gemm, {**_npu(None, **sram), "cores": 2}, plots=False).to_dict()
    last_hbm, last_cycles = none["bytes"]["hbm"], none["total_cycles"]
    for kib in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
        r = accelsim.simulate(gemm, {**_npu(f"{kib}KiB", **sram), "cores": 2}, plots=False).to_dict()
        assert r["bytes"]["hbm"] <= min(last_hbm, r["bytes"]["l2"]), kib
        assert r["total_cycles"] <= last_cycles, kib  # the time follows the bytes
        last_hbm, last_cycles = r["bytes"]["hbm"], r["total_cycles"]
    # a cache that holds every operand: each read once, A + B + C = 3 × 64 KiB
    assert last_hbm == 3 * 64 * 1024
