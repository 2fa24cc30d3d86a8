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
