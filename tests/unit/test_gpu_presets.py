"""The spec-sheet GPU presets (issue 12 item 7) reproduce their datasheets' peaks: dense tensor TFLOPS =
2 x (FMA/clk/SM x rate) x SMs x clock, memory capacity and bandwidth, GPU count and NVLink bandwidth. The
datasheet figures are written here (dense = the datasheet's sparse figure / 2), not read from the presets."""

from __future__ import annotations

import pytest

from accelsim.config import load_arch

# name: (SMs, {dtype: dense tensor TFLOPS}, memory bytes, memory B/s)
DATASHEETS = {
    # NVIDIA H200 datasheet, H200 SXM: FP8 3,958 / BF16 1,979 / TF32 989 TFLOPS sparse; 141 GB HBM3e, 4.8 TB/s
    "h200": (132, {"fp8": 1979, "bf16": 989.5, "fp16": 989.5, "tf32": 494.5}, 141e9, 4.8e12),
    # NVIDIA HGX/DGX B200 per GPU: FP4 18 / FP8 9 / BF16 4.5 / TF32 2.2 PFLOPS sparse; 180 GB HBM3e, 8 TB/s
    "b200": (148, {"fp4": 9000, "fp8": 4500, "bf16": 2250, "int8": 4500, "tf32": 1100}, 180e9, 8e12),
    # NVIDIA L40S datasheet: BF16 362.05 | FP8 733 | TF32 183 TFLOPS dense; 48 GB GDDR6, 864 GB/s
    "l40s": (142, {"bf16": 362.05, "fp8": 733, "tf32": 183}, 48e9, 864e9),
    # the existing presets, against nv_a100_datasheet / nv_h100_datasheet dense figures
    "a100": (108, {"bf16": 312, "tf32": 156, "int8": 624}, 80 * 2**30, 2039e9),
    "h100": (132, {"bf16": 989.4, "fp8": 1978.9, "int8": 1978.9, "tf32": 494.7}, 80 * 2**30, 3350e9),
}


@pytest.mark.parametrize("name", sorted(DATASHEETS))
def test_gpu_preset_reproduces_datasheet_peaks(name):
    sms, peaks, capacity, bandwidth = DATASHEETS[name]
    arch = load_arch(name)
    sa = arch.core.systolic
    assert arch.cores == sms
    for dtype, tflops in peaks.items():
        model = 2 * sa.rows * sa.cols * sa.count * sa.rates[dtype] * arch.cores * arch.clock_hz / 1e12
        assert model == pytest.approx(tflops, rel=0.025), dtype  # datasheets round (B200 TF32 "2.2" PF for 2.25)
    hbm = arch.memory("hbm")
    assert hbm.capacity == capacity and hbm.bandwidth == bandwidth


@pytest.mark.parametrize(("name", "gpu", "per_direction"), [
    ("dgx-h200", "h200", 450e9),  # DGX H200 datasheet: 900 GB/s GPU-to-GPU NVLink (bidirectional) / 2
    ("dgx-b200", "b200", 900e9),  # DGX B200 datasheet: 14.4 TB/s aggregate / 8 GPUs = 1.8 TB/s / 2
])
def test_dgx_nodes_are_eight_gpus_on_nvswitch(name, gpu, per_direction):
    node, one = load_arch(name), load_arch(gpu)
    assert node.chips == 8 and one.chips == 1
    assert node.interconnect.bandwidth == per_direction and node.interconnect.topology == "fully_connected"
    assert node.core == one.core and node.memory("hbm") == one.memory("hbm")


def test_fp8_gemm_on_h200_streams_k_at_twice_the_bf16_rate():
    from accelsim import simulate

    def compute(arch, dtype):
        return simulate({"model": "gemm", "m": 4096, "n": 4096, "k": 8192, "dtype": dtype}, arch).to_dict()["ops"][0]

    bf16, fp8 = compute("h200", "bf16"), compute("h200", "fp8")
    # 8192 K at 2x: each tile streams half the K (plus the same fixed prologue/epilogue), so fewer than 0.6x cycles
    assert fp8["compute_cycles"] < 0.6 * bf16["compute_cycles"]
    assert fp8["mapping"]["rate"] == {"dtype": "fp8", "runs_as": "fp8", "multiplier": 2.0}


def _clean_gpu():
    """a100's mapping rules on round numbers: 1 GHz, 4 SMs, L2 256 GB/s (64 B/clk per SM) 100 ns and 1 MiB,
    HBM 512 GB/s (128 B/clk per SM) 500 ns, every efficiency 1."""
    return load_arch({"base": "a100", "clock": "1GHz", "cores": 4,
                      "l2": {"bandwidth": "256GB/s", "latency": "100ns", "capacity": "1MiB", "efficiency": 1.0},
                      "hbm": {"bandwidth": "512GB/s", "latency": "500ns", "efficiency": 1.0,
                              "efficiency_by_size": []}})


def test_thread_block_fixed_cost_is_derived_from_latencies_and_l2_share():
    from accelsim.cost.gpu_tiles import fixed_cycles

    arch = _clean_gpu()
    l2, hbm = arch.latency_cycles("l2"), arch.latency_cycles("hbm")  # 100 and 500 ns at 1 GHz (rounded up)
    assert (l2, hbm) in ((100, 500), (101, 501))
    # prologue: L2 + HBM latency + the first K-stage, (128 + 128) x 32 x 2 B at 64 B/clk = 256;
    # epilogue: the 128x128 bf16 tile at 64 B/clk (512) + L2 latency
    base = (l2 + hbm + 256) + (512 + l2)
    assert fixed_cycles(arch, 128, 128, 2) == base
    # split-K: the fp32 partial tile written and read back, 2 x 128 x 128 x 4 B, at the share of L2 when all
    # partials fit its 1 MiB (64 B/clk: 2048 cycles), else of HBM (128 B/clk: 1024 cycles)
    assert fixed_cycles(arch, 128, 128, 2, partial_bytes=2**20) == base + 2048
    assert fixed_cycles(arch, 128, 128, 2, partial_bytes=2**20 + 1) == base + 1024


def test_largest_tile_that_fills_the_gpu_then_split_k():
    from accelsim.cost import gpu_tiles
    from accelsim.ir import Gemm

    a100 = load_arch("a100")  # 108 SMs; shapes 128x128, 256x128, 128x256, 256x64, 64x256, 128x64, 64x128, 64x64
    sa = a100.core.systolic
    # 2048 x 2048: 256x128 gives 8 x 16 = 128 tiles >= 108 SMs (the first listed of the two largest shapes)
    assert gpu_tiles.price(Gemm(2048, 2048, 4096), sa, a100)[1]["tile"] == [256, 128]
    # 1024 x 1024: 256-wide and 128x128 tiles give 32 or 64 tiles; 128x64 is the largest giving >= 108 (128)
    assert gpu_tiles.price(Gemm(1024, 1024, 4096), sa, a100)[1]["tile"] == [128, 64]
    # 8 x 128: no shape fills the GPU; K is split into slices of at least 256
    d = gpu_tiles.price(Gemm(8, 128, 1024), sa, a100)[1]
    assert d["split_k"] > 1 and d["k_slice"] >= 256 and d["output_tiles"] % d["split_k"] == 0
