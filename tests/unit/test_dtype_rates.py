"""Per-dtype rates (issue 12 item 2): a unit's ``rates`` selects an op's throughput by its compute dtype
(``Op.dtype``); a dtype without a rate runs at the nearest wider listed one and the report says so."""

from __future__ import annotations

import math

import pytest

from accelsim import simulate
from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.hardware import dtype_rate

A100 = {"bf16": 1, "fp16": 1, "tf32": 0.5, "fp32": 0.0625, "int8": 2, "int4": 4}


@pytest.mark.parametrize(("dtype", "runs_as", "mult"), [
    ("bf16", "bf16", 1), ("int8", "int8", 2), ("tf32", "tf32", 0.5),
    ("fp8", "bf16", 1),     # no fp8 on an A100: the nearest wider float it lists (bf16 listed before fp16)
    ("int16", "tf32", 0.5),  # no 16- or 32-bit integer rate: the narrowest strictly wider dtype of the other family
    ("fp64", "fp32", 0.0625),   # wider than anything listed: the widest
])
def test_nearest_wider_rate(dtype, runs_as, mult):
    assert dtype_rate(A100, dtype) == (runs_as, mult)


H100 = {"bf16": 1, "fp16": 1, "fp8": 2, "int8": 2, "tf32": 0.5, "fp32": 0.0625, "fp64": 0.0625}  # arch/h100.yaml


@pytest.mark.parametrize(("rates", "dtype", "runs_as", "mult"), [
    # probe p273 #1: an H100 has fp8 but no fp4 tensor cores, and vLLM runs NVFP4 there as FP4 Marlin (weight-only,
    # 16-bit activations) or its bf16 emulation: fp4 at the bf16 rate (1x), not fp8's 2x (units.RATE_FLOOR_BITS)
    (H100, "fp4", "bf16", 1),
    (H100, "int4", "int8", 2),    # int4 keeps the nearest wider integer rate (int4 exact in int8)
    (H100, "fp8", "fp8", 2),      # fp8 itself untouched
    ({"fp4": 4, "fp8": 2, "bf16": 1}, "fp4", "fp4", 4),  # b200: its own fp4 rate
    ({"int16": 0.25, "int8": 1}, "fp4", "int8", 1),  # tpu-v1 (no float rate at all): the narrowest strictly wider
    ({"fp8": 2, "int8": 2}, "fp4", "fp8", 2),  # no float of 16 bits or more listed: the nearest wider, as before
])
def test_fp4_without_an_fp4_rate_runs_at_the_16_bit_rate(rates, dtype, runs_as, mult):
    assert dtype_rate(rates, dtype) == (runs_as, mult)


def test_no_rates_runs_every_dtype_at_the_base_rate():
    assert dtype_rate({}, "fp8") == ("fp8", 1.0)


def _gemm(arch, dtype, **extra):
    rep = simulate({"model": "gemm", "m": 256, "n": 256, "k": 4096, "dtype": dtype, **extra}, arch).to_dict()
    return rep, rep["ops"][0]


def test_fp8_on_a100_runs_at_bf16_rate_with_a_note():
    rep8, op8 = _gemm("a100", "fp8")
    _, op16 = _gemm("a100", "bf16")
    assert op8["mapping"]["rate"] == {"dtype": "fp8", "runs_as": "bf16", "multiplier": 1.0}
    assert op8["mapping"]["k_slice"] == op16["mapping"]["k_slice"]
    assert any("fp8" in n and "bf16 rate" in n for n in rep8["notes"])


def test_the_fp8_example_of_configuration_md_shows_twice_the_bf16_rate():
    # docs/configuration.md's example (probe p142 #5: a 1024³ GEMM ran 84 % kernel launch, h100 fp8 only 1.09x its
    # bf16 time). An 8192³ GEMM in a CUDA graph is compute-bound: 8192³ = 5.50e11 MACs at the H100 SXM's dense
    # 989.4 TFLOP/s bf16 (494.7e12 MAC/s, datasheet) take 1.11 ms, at 1,979 TFLOP/s fp8 0.556 ms; the launch (a
    # few µs) is under 1 % of either. So the fp8 run takes about half the bf16 run's time, never less than half
    def run(arch, dtype):
        return simulate({"model": "gemm", "m": 8192, "n": 8192, "k": 8192, "dtype": dtype}, arch,
                        execution="cuda_graph").to_dict()

    fp8, bf16 = run("h100", "fp8"), run("h100", "bf16")
    assert fp8["ops"][0]["mapping"]["rate"]["multiplier"] == 2.0
    assert bf16["seconds"] >= 8192**3 / 494.7e12 and fp8["seconds"] >= 8192**3 / 989.4e12
    assert 1.8 <= bf16["seconds"] / fp8["seconds"] <= 2.0
    # the a100 has no fp8 rate: the same GEMM runs at its bf16 rate (a note says so), only its bytes halve
    a8, a16 = run("a100", "fp8"), run("a100", "bf16")
    assert any("fp8" in n and "bf16 rate" in n for n in a8["notes"])
    assert 1.0 <= a16["seconds"] / a8["seconds"] <= 1.1


@pytest.mark.parametrize(("arch", "bf16_macs_per_s"), [
    ("h100", 494.7e12),   # H100 SXM datasheet: dense BF16 989.4 TFLOPS = 494.7e12 MAC/s (FP8 1978.9; no FP4)
    ("mi300x", 653.7e12),  # AMD CDNA 3 white paper: dense BF16 1307.4 TFLOPS (FP8 2614.9; no FP4)
])
def test_a_w4a4_fp4_gemm_is_no_faster_than_bf16_without_fp4_tensor_cores(arch, bf16_macs_per_s):
    # probe p273 #1: an 8192^3 fp4 GEMM on h100 took 669.4 us at 1643 TFLOPS, the fp8 rate; the MMAs run in 16 bits
    # there (vLLM's FP4 Marlin / emulation), so the GEMM takes at least 8192^3 = 5.498e11 MACs / 494.7e12 = 1.111 ms
    def run(dtype):
        return simulate({"model": "gemm", "m": 8192, "n": 8192, "k": 8192, "dtype": dtype}, arch,
                        execution="cuda_graph").to_dict()

    fp4 = run("fp4")
    assert fp4["ops"][0]["mapping"]["rate"] == {"dtype": "fp4", "runs_as": "bf16", "multiplier": 1.0}
    assert fp4["seconds"] >= 8192**3 / bf16_macs_per_s
    assert any("dtype fp4" in n and "bf16 rate" in n and "fp4 by fp4" in n for n in fp4["notes"])  # the yaml's why


def _square(arch, dtype, m=8192):
    return simulate({"model": "gemm", "m": m, "n": 8192, "k": 8192, "dtype": dtype}, arch,
                    execution="cuda_graph").to_dict()


@pytest.mark.parametrize("arch", ["mi300x", "mi210"])
def test_an_emulated_fp4_gemm_tiles_as_the_bf16_gemm(arch):
    # probe p282 #1: mi300x 8192^3 fp4 "at the bf16 rate" took 0.951 ms against bf16's 1.556 ms, its tiles priced
    # at fp4's bytes and K depth. Below gfx950 vLLM dequantises MXFP4 weights and quantise-dequantises activations,
    # then a 16-bit matmul (quark_ocp_mx.py; core.systolic.emulated: [fp4]): both operands at bf16's 2 bytes on
    # chip, so the same tile, K-stages and MMA cycles as the bf16 GEMM
    fp4, bf16 = _square(arch, "fp4")["ops"][0], _square(arch, "bf16")["ops"][0]
    assert fp4["mapping"]["run_as_kernel"] == "emulation"
    assert fp4["mapping"]["a_bytes_per_element"] == 2 and "b_bytes_per_element" not in fp4["mapping"]
    for key in ("tile", "k_slice", "split_k", "tile_cycles"):
        assert fp4["mapping"][key] == bf16["mapping"][key], key
    assert fp4["compute_cycles"] == bf16["compute_cycles"]


@pytest.mark.parametrize("arch", ["h100", "h200", "h100-pcie"])
def test_fp4_marlin_on_hopper_is_slower_than_the_bf16_gemm(arch):
    # probe p282 #1: h200 8192^3 fp4 1.248 ms against bf16's 1.365 ms. Below sm100 vLLM runs FP4 Marlin: 16-bit
    # activations, the weights packed (0.5 B: the gemm workload gives them no group scales) and dequantised in
    # registers, its MMAs warp-level mma.sync, which Hopper runs at warp_mma = 0.67 of the wgmma peak
    # (arch/h100.yaml). So its MMAs alone take 8192^3 MACs / (cores x rows x cols x 0.67) cycles (h100: 132 SMs x
    # 64 x 32 MACs a clock: 2.03e6 cycles at the full rate, 3.04e6 at 0.67), and its time is above bf16's
    fp4, bf16 = _square(arch, "fp4"), _square(arch, "bf16")
    m = fp4["ops"][0]["mapping"]
    assert (m["run_as_kernel"], m["a_bytes_per_element"], m["b_bytes_per_element"]) == ("weight_only", 2, 0.5)
    assert m["dequant_cycles"] > 0
    a = load_arch(arch)
    sa = a.core.systolic
    assert sa.warp_mma == 0.67
    assert fp4["ops"][0]["compute_cycles"] >= 8192**3 / (a.cores * sa.rows * sa.cols * sa.count * sa.warp_mma)
    assert fp4["seconds"] > bf16["seconds"]


def test_fp8_marlin_on_an_a100_reads_16_bit_activations_and_8_bit_weights():
    # vLLM runs fp8 on Ampere as FP8 Marlin, W8A16 (docs/features/quantization/fp8.md: "Ampere GPUs are supported
    # for W8A16 (weight-only FP8) utilizing Marlin kernels"): A at bf16's 2 bytes on chip, B at fp8's 1. Its shared
    # memory reads per 256 x 128 tile and K element: 256 x 2 + 128 x 1 = 640 B, against bf16's 256 x 2 + 128 x 2
    fp8, bf16 = _square("a100", "fp8")["ops"][0], _square("a100", "bf16")["ops"][0]
    m = fp8["mapping"]
    assert (m["run_as_kernel"], m["a_bytes_per_element"], m["b_bytes_per_element"]) == ("weight_only", 2, 1)
    assert m["tile"] == bf16["mapping"]["tile"] == [256, 128] and m["split_k"] == 1
    tiles, k = m["output_tiles"], m["k_slice"]
    outputs = 8192 * 8192 * 2  # each tile's bf16 output staged through shared memory once
    assert m["sram_operand_bytes"] == tiles * k * (256 * 2 + 128 * 1) + outputs
    assert bf16["mapping"]["sram_operand_bytes"] == tiles * k * (256 * 2 + 128 * 2) + outputs


def _layer(arch, dtype):
    rep = simulate({"base": "llama3_8b", "layers": 1, "seq_len": 4096, "dtype": dtype}, arch).to_dict()
    return rep, {o["name"].removeprefix("model.layers.0."): o for o in rep["ops"]}


def test_the_activations_into_fp8_marlin_on_an_a100_stay_bf16_in_memory():
    # probe p286 #3: FP8 Marlin on Ampere is W8A16, so nothing quantises the RMSNorm or SiLU-mul outputs it reads:
    # they are written at bf16's 2 B (the norm was 50,339,840 B, its output at 1 B). Hand bytes, 4,096 tokens:
    # input_layernorm reads and writes 4096 x 4096 x 2 B and reads its 4096 x 2 B weight; mlp.mul reads gate and up
    # and writes one 4096 x 14336 x 2 B tensor; q_proj's weights stay fp8 (1 B) in the GEMM
    rep, ops = _layer("a100", "fp8")
    assert ops["input_layernorm"]["bytes"]["hbm"] == 2 * 4096 * 4096 * 2 + 4096 * 2
    assert ops["mlp.mul"]["bytes"]["hbm"] == 3 * 4096 * 14336 * 2
    m = ops["self_attn.q_proj"]["mapping"]
    assert (m["run_as_kernel"], m["a_bytes_per_element"], m["b_bytes_per_element"]) == ("weight_only", 2, 1)
    # the two norms, the SiLU-mul and the attention's merge (o_proj's input) feed only FP8 Marlin GEMMs
    assert any(n.startswith("4 op(s) write their output in their own 16-bit dtype, not fp8") for n in rep["notes"])


def test_the_activations_into_a_native_fp8_gemm_stay_fp8():
    # h100 has fp8 tensor cores: vLLM's W8A8 fp8 GEMM reads the 1-byte activations the fused RMSNorm + quant writes,
    # 4096 x 4096 x (2 read + 1 written) B plus its 4096 x 2 B weight
    rep, ops = _layer("h100", "fp8")
    assert ops["input_layernorm"]["bytes"]["hbm"] == 4096 * 4096 * 3 + 4096 * 2
    assert not any("own 16-bit dtype" in n for n in rep["notes"])


@pytest.mark.parametrize("arch", ["h100", "mi300x", "a100"])
def test_an_fp4_decode_gemv_still_reads_packed_weights_from_hbm(arch):
    # the MMAs' operand width is on chip only: main memory holds the weights packed, 8192 x 8192 x 0.5 B =
    # 33,554,432 B, plus the 8192-element input and output vectors (at most 2 B each: 32,768 B), a quarter of the
    # bf16 GEMV's 8192 x 8192 x 2 B
    fp4, bf16 = _square(arch, "fp4", m=1), _square(arch, "bf16", m=1)
    assert 8192 * 8192 // 2 <= fp4["bytes"]["hbm"] <= 8192 * 8192 // 2 + 2 * 8192 * 2
    assert 8192 * 8192 * 2 <= bf16["bytes"]["hbm"]
    assert fp4["seconds"] < bf16["seconds"]


def _q_proj(arch, **precision):
    """A 4,096-token LLaMA-2-7B prefill layer's report and its q_proj (a 4096 x 4096 x 4096 linear)."""
    rep = simulate({"model": "llama2_7b", "layers": 1, "seq_len": 4096, **precision}, arch,
                   execution="cuda_graph").to_dict()
    return rep, next(o for o in rep["ops"] if o["name"].endswith("q_proj"))


def _macs_per_cycle(arch):
    a = load_arch(arch)
    return a.cores * a.core.systolic.rows * a.core.systolic.cols * a.core.systolic.count


@pytest.mark.parametrize("arch", ["h100", "h200", "h100-pcie"])
def test_a_w4a16_fp4_linear_runs_the_fp4_marlin_kernel_of_w4a4(arch):
    # fp4asrun follow-up: h100 llama3_8b weight_dtype fp4 (W4A16) ran 92.87 ms against dtype fp4's (W4A4) 119.07 ms,
    # though below sm100 vLLM runs FP4 Marlin (warp-level mma.sync, warp_mma 0.67 on Hopper) for both. One kernel:
    # on chip both carry 16-bit activations and packed fp4 weights through the same tile, so the same MMA and
    # dequantisation cycles; in memory W4A16's activations are 2 B to W4A4's 0.5625, so it is no faster
    w4a16, wq = _q_proj(arch, weight_dtype="fp4")
    w4a4, aq = _q_proj(arch, dtype="fp4")
    assert wq["mapping"]["weight_only_kernel"] == aq["mapping"]["weight_only_kernel"] == "marlin"
    assert wq["mapping"]["tile"] == aq["mapping"]["tile"]
    assert wq["compute_cycles"] == aq["compute_cycles"]
    # its MMAs alone at 0.67 of the peak: 4096^3 MACs / (cores x rows x cols x 0.67) (h100: 132 x 64 x 32 a clock,
    # 379,403 cycles)
    assert wq["compute_cycles"] >= 4096**3 / (_macs_per_cycle(arch) * 0.67)
    assert w4a16["seconds"] >= w4a4["seconds"]


def test_int4_w4a16_on_hopper_runs_machete_at_the_peak():
    # vLLM's choose_mp_linear_kernel takes MacheteLinearKernel (wgmma, sm90 only) for GPTQ / AWQ int4 on Hopper
    # (arch/h100.yaml peak_weight_only): its MMAs at the full rate, 4096^3 / (132 x 64 x 32) = 254,200 cycles at
    # least, and under the 379,403 of mma.sync at 0.67 that fp4's Marlin takes
    _, q = _q_proj("h100", weight_dtype="int4")
    assert q["mapping"]["weight_only_kernel"] == "peak"
    full = 4096**3 / _macs_per_cycle("h100")
    assert full <= q["compute_cycles"] < full / 0.67


def test_int4_w4a16_on_b200_runs_marlin_and_fp4_its_own_kernel():
    # Machete requires compute capability 9.0 ("Machete requires compute capability of 90 (Hopper)"), so on sm100
    # GPTQ int4 runs MarlinLinearKernel, mma.sync at b200's warp_mma 0.67: 4096^3 / (148 x 64 x 64 x 0.67) =
    # 169,200 cycles at least; fp4 weights have sm100's own fp4 kernels (peak_weight_only: [fp4, fp8])
    _, q = _q_proj("b200", weight_dtype="int4")
    assert q["mapping"]["weight_only_kernel"] == "marlin"
    assert q["compute_cycles"] >= 4096**3 / (_macs_per_cycle("b200") * load_arch("b200").core.systolic.warp_mma)
    assert _q_proj("b200", weight_dtype="fp4")[1]["mapping"]["weight_only_kernel"] == "peak"


def test_mxfp4_experts_on_hopper_run_triton_not_marlin():
    # vLLM mxfp4.py get_mxfp4_backend: on sm90 (no FlashInfer MXFP4 flag) gpt-oss's MXFP4 experts run the
    # triton_kernels backend, not Marlin (arch/h100.yaml peak_expert_weight_only: [fp4, fp8]); its dense linears
    # (attention, 16-bit) are no weight-only GEMMs
    rep = simulate({"base": "gpt_oss_20b", "layers": 1, "seq_len": 512}, "h100").to_dict()
    kernels = {o["mapping"]["weight_only_kernel"] for o in rep["ops"] if "weight_only_kernel" in o["mapping"]}
    assert kernels == {"peak"}


def test_a_w4a16_decode_gemv_reads_packed_weights_whatever_its_kernel():
    # the kernel changes the MMAs' rate on chip, not the bytes: a 1-token decode step's q_proj reads 4096 x 4096
    # fp4 weights at 0.5 B plus one 1-byte scale per 32 (MXFP4's group): 4096^2 x (0.5 + 1/32) B from HBM, plus
    # its input and output vectors (4096 x 2 B each)
    rep = simulate({"model": "llama2_7b", "layers": 1, "phase": "decode", "kv_len": 4096, "weight_dtype": "fp4"},
                   "h100", execution="cuda_graph").to_dict()
    q = next(o for o in rep["ops"] if o["name"].endswith("q_proj"))
    assert q["mapping"]["weight_only_kernel"] == "marlin"
    packed = 4096 * 4096 * (0.5 + 1 / 32)
    assert packed <= q["bytes"]["hbm"] <= packed + 2 * 4096 * 2


@pytest.mark.parametrize(("arch", "m", "shape"), [
    ("h100", 1, (16, 128)),   # 64 x 32 = 2,048 MACs a clock: one 16-row m16n8k16 block, 2,048 / 16 = 128 columns
    ("h100", 17, (32, 64)),   # 17 rows take two 16-row blocks: 32 rows, 2,048 / 32 = 64 columns
    ("h100", 64, (64, 32)),   # four blocks (Marlin's max_m_blocks): the array itself
    ("a100", 8, (16, 64)),    # 32 x 32 = 1,024: 1,024 / 16 = 64 columns
    ("l40s", 1, (16, 32)),    # an array of 16 rows already pads no more
])
def test_marlin_pads_m_to_its_16_row_mma_blocks(arch, m, shape):
    # vLLM gptq_marlin.cu: mma.sync m16n8k16 and tot_m_blocks = div_ceil(tot_m, 16); the array's MACs a clock kept
    from accelsim.cost.systolic import marlin_array
    sa = load_arch(arch).core.systolic
    view = marlin_array(sa, m)
    assert (view.rows, view.cols) == shape
    assert view.rows * view.cols == sa.rows * sa.cols


def test_a_marlin_decode_gemv_takes_no_longer_on_its_mmas_than_its_weights_take_from_hbm():
    # fp4wo: the 1-token q_proj padded to h100's 64-row array ran 8,422 compute cycles at warp_mma 0.67 (llama3_8b
    # decode weight_dtype fp4 5.908 -> 6.206 ms). Marlin pads 16 rows: the MMAs take no longer than the packed
    # weights' HBM time, 4096^2 x (0.5 + 1/32) B / (3350e9 / 1830e6 B a cycle) = 4,871 cycles (arch/h100.yaml)
    rep = simulate({"model": "llama2_7b", "layers": 1, "phase": "decode", "kv_len": 4096, "weight_dtype": "fp4"},
                   "h100", execution="cuda_graph").to_dict()
    q = next(o for o in rep["ops"] if o["name"].endswith("q_proj"))
    assert q["mapping"]["mma_array"] == [16, 128]
    weights_s = 4096 * 4096 * (0.5 + 1 / 32) / 3350e9
    assert q["compute_cycles"] <= weights_s * 1830e6


def test_a_marlin_prefill_gemm_keeps_the_array():
    # 4,096 rows fill Marlin's four 16-row blocks (64 rows) of every thread block: the array's own 64 x 32 folds
    _, q = _q_proj("h100", weight_dtype="fp4")
    assert q["mapping"]["weight_only_kernel"] == "marlin" and "mma_array" not in q["mapping"]


@pytest.mark.parametrize("arch", ["h100", "mi300x"])
def test_int4_at_the_int8_rate_keeps_its_packed_weights_on_chip(arch):
    # W4A8 (QServe, Lin et al. 2024, arXiv:2405.04532) unpacks int4 weights to int8 in registers: the int8 rate,
    # activations at int4's byte an element (no wider than int8's) and weights at 0.5 B, as before
    m = _square(arch, "int4")["ops"][0]["mapping"]
    assert m["rate"]["runs_as"] == "int8"
    assert "run_as_kernel" not in m and "a_bytes_per_element" not in m and m["b_bytes_per_element"] == 0.5


def test_a_rate_note_names_the_unit_that_lacks_the_rate():
    # a100 lists no fp8 rate on its tensor cores (systolic rates: bf16, fp16, tf32, fp32, fp64, int8, int4) nor on
    # its CUDA cores (vector rates: fp16, bf16, fp32, fp64): an fp8 model's GEMMs run at the arrays' bf16 rate and
    # its element-wise ops at the vector units' fp16 rate, one note each naming the unit
    rep = simulate({"model": "llama2_7b", "layers": 1, "seq_len": 128, "dtype": "fp8"}, "a100").to_dict()
    notes = [n for n in rep["notes"] if "fp8 rate" in n]
    assert any("the systolic arrays have no fp8 rate and run them at their bf16 rate" in n for n in notes)
    assert any("the vector units have no fp8 rate and run them at their fp16 rate" in n for n in notes)
    assert len(notes) == 2


def test_systolic_preset_scales_fold_cycles_by_the_rate():
    # tpu-v1: int8 at full speed, int16 at quarter speed (Jouppi et al. 2017); no GPU tiles, so the op's
    # SCALE-Sim fold cycles are divided by the multiplier: 4x the int8 cycles (rounded up)
    _, op8 = _gemm("tpu-v1", "int8")
    _, op16 = _gemm("tpu-v1", "int16")
    assert op16["compute_cycles"] == math.ceil(op8["compute_cycles"] / 0.25)


def test_vector_rates_scale_vector_ops():
    # a100 vector: fp16 at 1, fp32 at 0.25 (78 vs 19.5 TFLOPS): an add over 2^20 fp32 elements costs 4x the fp16 one
    def cycles(dtype):
        rep = simulate({"model": "add", "rows": 1024, "cols": 1024, "dtype": dtype}, "a100").to_dict()
        return rep["ops"][0]["mapping"]["work_cycles"]
    assert cycles("fp32") == 4 * cycles("fp16")


def test_rates_must_be_positive_and_named():
    with pytest.raises(ConfigError, match="rates"):
        load_arch({"base": "a100", "core": {"systolic": {"rates": {"fp8": 0}}}})
    with pytest.raises(ConfigError, match="rates"):
        load_arch({"base": "a100", "core": {"systolic": {"rates": {"fp7": 1}}}})


def test_base_rate_macs_divides_each_row_by_its_rate():
    from accelsim.report.schema import base_rate_macs
    rows = [{"macs": 1000, "mapping": {"rate": {"multiplier": 2.0}}},    # int8 at twice the base rate: 500
            {"macs": 300, "mapping": {"rate": {"multiplier": 0.25}}},    # int16 on a TPU v1, a quarter: 1,200
            {"macs": 50, "mapping": {}}]                                  # no rate: the base rate, 50
    assert base_rate_macs(rows) == 500 + 1200 + 50


@pytest.mark.parametrize(("arch", "dtype", "mult"), [("a100", "int4", 4.0), ("h100", "int8", 2.0)])
def test_mac_utilization_is_against_the_peak_of_the_ops_dtype(arch, dtype, mult):
    # a100 int4 tensor cores run at 4x its bf16 rate (A100 = above), h100 int8 at 2x: MACs / (the bf16 peak
    # per cycle × cycles) was 2.6 and 1.22 on a 4096³ GEMM; against the dtype's own peak it is at most the array's
    # busy fraction
    rep = simulate({"model": "gemm", "m": 4096, "n": 4096, "k": 4096, "dtype": dtype}, arch).to_dict()
    assert rep["ops"][0]["mapping"]["rate"]["multiplier"] == mult
    peak = rep["arch"]["peak_macs_per_cycle"]
    assert rep["mac_utilization"] == pytest.approx(4096**3 / (mult * peak * rep["total_cycles"]))
    busy = max(v for u, v in rep["utilization"].items() if "systolic" in u)
    assert rep["mac_utilization"] <= busy <= 1


def test_serving_mac_utilization_is_against_the_peak_of_the_ops_dtype():
    # a serving run (prefill + decode steps, composed rows): int8 on an H100 runs at 2x the bf16 rate
    rep = simulate({"model": "gpt2", "seq_len": 64, "decode_steps": 2, "dtype": "int8"}, "h100").to_dict()
    rows = rep["ops"]
    base = sum(op["macs"] / op["mapping"].get("rate", {}).get("multiplier", 1.0) for op in rows)
    assert base < rep["macs"]  # the int8 GEMMs count at half their MACs
    assert rep["mac_utilization"] == pytest.approx(base / (rep["arch"]["peak_macs_per_cycle"] * rep["total_cycles"]))
    assert rep["mac_utilization"] <= max(v for u, v in rep["utilization"].items() if "systolic" in u)


@pytest.mark.parametrize(("dtype", "mult"), [("int8", 2.0), ("fp32", 0.0625), ("bf16", 1.0)])
def test_roofline_peak_is_that_of_the_runs_dtype(dtype, mult):
    # a100: 108 SMs × 1024 bf16 MACs per cycle at 1.41 GHz = 312 TFLOP/s dense bf16 (its datasheet); int8 runs at
    # 2× (624 TOPS), fp32 at 1/16 (19.5 TFLOP/s; A100 = above). The roof, its ridge and every op's bound use the
    # peak of the dtype the run computes in, so an int8 GEMM never sits above the roof (it did: over 312 TFLOP/s)
    rep = simulate({"model": "gemm", "m": 4096, "n": 4096, "k": 4096, "dtype": dtype}, "a100").to_dict()
    base = 2 * rep["arch"]["peak_macs_per_cycle"] * rep["arch"]["clock_hz"]
    assert base == pytest.approx(2 * 108 * 1024 * 1.41e9)
    roof = rep["roofline"]
    assert roof["peak_flops_per_s"] == pytest.approx(mult * base)
    assert roof["ridge_flops_per_byte"] == pytest.approx(mult * base / roof["bandwidth_bytes_per_s"])
    assert rep["arch"]["peak_flops_per_s"] == pytest.approx(base)  # the arch's own figure stays its base rate
    assert rep["ops"][0]["achieved_flops_per_s"] <= roof["peak_flops_per_s"]


def test_an_op_reading_weights_over_the_host_link_is_memory_bound():
    # 1024×8192×8192 bf16 GEMM: 2·1024·8192·8192 = 137.4 GFLOP, 0.44 ms at the A100's 312 TFLOP/s; its intensity
    # against HBM is above the 153 FLOP/B ridge (it is compute-bound on an 80 GB A100). With 64 MiB of HBM its
    # 128 MiB of weights (8192·8192·2 B) live in host memory and cross the 31.5 GB/s link (PCIe 4.0 x16): at least
    # 134,217,728 / 31.5e9 = 4.26 ms, so the host link's roofline bounds it, not the peak
    wl = {"model": "gemm", "m": 1024, "n": 8192, "k": 8192}
    assert simulate(wl, "a100").to_dict()["ops"][0]["bound"] == "compute"
    rep = simulate(wl, {"base": "a100", "hbm": {"capacity": "64MiB"}}).to_dict()
    op = rep["ops"][0]
    assert op["flops"] == 2 * 1024 * 8192 * 8192 and op["bytes"]["host"] >= 8192 * 8192 * 2
    assert rep["arch"]["memory_bytes_per_s"]["host"] == pytest.approx(31.5e9)
    # above HBM's ridge (a single roofline against HBM called it compute-bound), yet bound by the host link
    assert op["arithmetic_intensity"] > rep["roofline"]["ridge_flops_per_byte"] and op["bound"] == "memory"


def test_mi210_runs_fp32_gemms_at_its_fp32_matrix_rate_and_has_no_tf32_or_fp8():
    # AMD MI210 (AnandTech's launch table): FP32 matrix 45.3 TFLOPS = 181 / 4 of the bf16 matrix rate, so an fp32
    # GEMM takes 4x the bf16 one's compute cycles at the same tiling (an fp32 element is 4 bytes: the tile's K-slice
    # may differ, so the check is on the rate the op ran at); CDNA 2 has no TF32 or FP8 MFMA (AMD's ROCm Compute
    # Profiler data-type table): tf32 runs at the fp32 rate and fp8 at bf16's, each with a note
    _, op32 = _gemm("mi210", "fp32")
    assert op32["mapping"]["rate"] == {"dtype": "fp32", "runs_as": "fp32", "multiplier": 0.25}
    rep, tf = _gemm("mi210", "tf32")
    assert tf["mapping"]["rate"] == {"dtype": "tf32", "runs_as": "fp32", "multiplier": 0.25}
    assert any("tf32" in n and "fp32 rate" in n for n in rep["notes"])
    rep, f8 = _gemm("mi210", "fp8")
    assert f8["mapping"]["rate"] == {"dtype": "fp8", "runs_as": "bf16", "multiplier": 1.0}
    assert any("fp8" in n and "bf16 rate" in n for n in rep["notes"])
    # vector: FP32 22.6 TFLOPS = 128 FLOP/clk/CU x 104 CUs x 1.7 GHz, half the 256 packed-fp16 lanes
    vu = load_arch("mi210").core.vector
    assert vu.lanes * vu.rates["fp32"] * 104 * 1.7e9 == pytest.approx(22.6e12, rel=0.005)
    assert vu.lanes * vu.rates["fp64"] * 104 * 1.7e9 == pytest.approx(22.6e12, rel=0.005)


NVDLA = {"name": "nvdla-like", "clock": "1GHz", "dtype": "int8",
         "core": {"systolic": {"rows": 32, "cols": 64, "dataflow": "ws"}, "vector": {"lanes": 16},
                  "sram": {"unified": "512KiB"}},
         "hbm": {"capacity": "4GiB", "bandwidth": "25.6GB/s"}}


def _with_rates(unit, rates):
    return {**NVDLA, "core": {**NVDLA["core"], unit: {**NVDLA["core"][unit], "rates": rates}}}


def test_rates_that_leave_out_the_arch_dtype_keep_it_at_the_base_rate():
    # docs/configuration.md, "Per-dtype rates": the base rate (rows x cols, lanes) is the rate of the arch's dtype, so
    # rates: {fp16: 0.5} on an int8 arch says "fp16 at half rate" and int8 stays at 1 (it ran at fp16's 0.5: twice
    # the cycles, and mac_utilization divided by the int8 peak doubled)
    arch = load_arch(_with_rates("systolic", {"fp16": 0.5}))
    assert dtype_rate(arch.core.systolic.rates, "int8") == ("int8", 1.0)
    assert dtype_rate(arch.core.systolic.rates, "fp16") == ("fp16", 0.5)
    assert dtype_rate(arch.core.systolic.rates, "uint8") == ("int8", 1.0)  # same family, as wide: the arch's dtype
    gemm = {"model": "gemm", "m": 1024, "n": 1024, "k": 1024, "dtype": "int8"}
    plain = simulate(gemm, NVDLA).to_dict()
    rated = simulate(gemm, arch).to_dict()
    assert rated["total_cycles"] == plain["total_cycles"]
    assert not any("rate" in n for n in rated["notes"])
    # 32 x 64 MACs at 1 GHz: 2048 MACs a cycle, 4.096e12 FLOP/s at the int8 rate in the arch block and the roofline
    assert rated["arch"]["peak_macs_per_cycle"] == 2048
    assert rated["roofline"]["peak_flops_per_s"] == pytest.approx(2 * 2048 * 1e9)
    assert rated["mac_utilization"] == pytest.approx(1024**3 / (rated["total_cycles"] * 2048))
    # the compute alone bounds the cycles below: 1024^3 MACs / 2048 a cycle = 524,288
    assert rated["total_cycles"] >= 1024**3 // 2048


def test_vector_rates_that_leave_out_the_arch_dtype_keep_it_at_lanes():
    # as above for core.vector.rates: {fp32: 0.25} on an int8 arch leaves an int8 add at 16 lanes an element-cycle
    arch = load_arch(_with_rates("vector", {"fp32": 0.25}))
    assert dtype_rate(arch.core.vector.rates, "int8") == ("int8", 1.0)
    add = {"model": "add", "rows": 256, "cols": 256, "dtype": "int8"}
    work = [simulate(add, a).to_dict()["ops"][0]["compute_cycles"] for a in (NVDLA, arch)]
    assert work[0] == work[1] == 256 * 256 // 16  # 1 lane-cycle an element (DEFAULT_VECTOR_COSTS["add"])


@pytest.mark.parametrize(("arch", "rows", "overlap"), [("edge-npu", 32, False), ("gemmini", 16, True)])
def test_an_array_without_rates_runs_fp32_at_its_int8_rate_and_says_so(arch, rows, overlap):
    # arch/edge-npu.yaml and arch/gemmini.yaml: int8 arrays with no core.systolic.rates, which
    # docs/configuration.md defines as every dtype at rows x cols; kept, and made visible: mapping.rate on the op
    # (multiplier 1) and the note tpu-v1's int16 fallback gets
    def run(dtype):  # a 256 x 256 x 512 GEMM: a 512-deep weight column is 2 KiB even in fp32
        rep = simulate({"model": "gemm", "m": 256, "n": 256, "k": 512, "dtype": dtype}, arch).to_dict()
        return rep, rep["ops"][0]

    rep8, op8 = run("int8")
    rep32, op32 = run("fp32")
    # ws, F = ceil(K/R)·ceil(N/C) folds. edge-npu, no preload overlap: F folds of 2R + C + M − 2 cycles, less 1
    # (SCALE-Sim); 16·8 = 128 folds of 64 + 32 + 254 = 350: 44,799. gemmini, core.systolic.preload_overlap
    # (arch/gemmini.yaml: PE.scala's double-buffered weights): R + (F − 1)·max(M, R) + M + R + C − 3
    # (docs/architecture.md), F = 32·16 = 512, M = 256 ≥ R: 16 + 511·256 + 256 + 16 + 16 − 3 = 131,117
    folds = math.ceil(512 / rows) * math.ceil(256 / rows)
    want = (rows + folds * max(256, rows) + 2 * rows - 3 if overlap
            else folds * (2 * rows + rows + 256 - 2) - 1)
    assert want == {"edge-npu": 44_799, "gemmini": 131_117}[arch]
    assert op32["compute_cycles"] == op8["compute_cycles"] == want
    # it runs as the array's int8, as `accelsim info` says "(as int8)" (probe p66: runs_as was fp32)
    assert op32["mapping"]["rate"] == {"dtype": "fp32", "runs_as": "int8", "multiplier": 1.0}
    assert op8["mapping"]["rate"] == {"dtype": "int8", "runs_as": "int8", "multiplier": 1.0}
    assert not [n for n in rep8["notes"] if "rate" in n]
    (note,) = [n for n in rep32["notes"] if "rate" in n]
    assert note.startswith("1 op(s) of dtype fp32: the systolic arrays have no fp32 rate and run them at their int8 "
                           "rate (core.systolic.rates is empty")


def test_info_shows_an_array_without_rates_running_every_dtype_as_the_arch_dtype(capsys):
    from accelsim.cli import main

    assert main(["info", "edge-npu"]) == 0
    out = capsys.readouterr().out
    # 32 x 32 MACs x 2 FLOPs x 1 GHz = 2.048e12 FLOP/s for every dtype, fp32 at int8's
    fp32 = next(line for line in out.splitlines() if line.strip("│┃ ").startswith("fp32 "))
    assert "2.048e+12 (as int8)" in fp32
    int8 = next(line for line in out.splitlines() if line.strip("│┃ ").startswith("int8 "))
    assert "2.048e+12 (as" not in int8
    assert "lists no core.systolic.rates: every dtype at its int8 rate" in out


@pytest.mark.parametrize("dtype", ["fp32", "fp4"])
def test_info_json_says_an_array_without_rates_runs_every_dtype_as_the_arch_dtype(capsys, dtype):
    # probe p130 #4: --json said runs_as fp32 (any dtype echoed itself) where the table and the pricing
    # (cost.systolic.price: mapping.rate.runs_as int8, test above) run it as the arch's int8; arch/edge-npu.yaml:
    # int8, 32 x 32 MACs, 1 GHz, no core.systolic.rates -> 2 x 1024 x 1e9 = 2.048e12 FLOP/s for every dtype
    import json

    from accelsim.cli import main

    assert main(["info", "edge-npu", "--json"]) == 0
    cell = json.loads(capsys.readouterr().out)["peak_flops_per_s_by_dtype"]["systolic"][dtype]
    assert cell == {"runs_as": "int8", "flops_per_s": 2 * 32 * 32 * 1e9}


@pytest.mark.parametrize("arch", ["tpu-v4", "tpu-v5e-8"])
def test_a_tpu_says_its_fp32_gemm_is_one_bf16_pass_at_jax_default_precision(arch):
    # probe p130 #5: a TPU MXU has no fp32 datapath; XLA runs an f32 dot as one bf16 pass at jax.lax.Precision.DEFAULT
    # (JAX's default; HIGH 3 passes, HIGHEST 6: jax.lax.Precision's docstring). Kept as the price (the same cycles
    # as bf16), now said in the run's rate note (core.systolic.rate_notes; tpu-v5e-8 inherits tpu-v5e's)
    rep32, op32 = _gemm(arch, "fp32")
    _, op16 = _gemm(arch, "bf16")
    assert op32["mapping"]["rate"] == {"dtype": "fp32", "runs_as": "bf16", "multiplier": 1.0}
    assert op32["compute_cycles"] == op16["compute_cycles"]
    (note,) = [n for n in rep32["notes"] if "fp32 rate" in n]
    assert note.startswith("1 op(s) of dtype fp32: the systolic arrays have no fp32 rate and run them at their bf16 "
                           "rate: one bf16 MXU pass")
    assert "Precision.DEFAULT" in note and "HIGHEST 6" in note


def test_info_says_what_a_tpu_does_with_fp32_and_fp64_and_an_a100_says_nothing_more(capsys):
    # tpu-v4 (arch/tpu-v4.yaml): 2 TensorCores x 4 MXUs x 128 x 128 MACs x 2 FLOPs x 1.05 GHz = 2.753e14 FLOP/s,
    # fp32 and fp64 at bf16's with the preset's note; a100 lists fp32 and fp64 tensor rates: no note
    import json

    from accelsim.cli import main

    assert main(["info", "tpu-v4", "--json"]) == 0
    cells = json.loads(capsys.readouterr().out)["peak_flops_per_s_by_dtype"]["systolic"]
    for dtype in ("fp32", "fp64"):
        assert cells[dtype]["runs_as"] == "bf16"
        assert cells[dtype]["flops_per_s"] == pytest.approx(2 * 4 * 128 * 128 * 2 * 1.05e9)
    assert "Precision.DEFAULT" in cells["fp32"]["note"]
    assert "no fp64 hardware" in cells["fp64"]["note"]
    assert "note" not in cells["bf16"] and "note" not in cells["fp8"]
    assert main(["info", "tpu-v4"]) == 0
    assert "(fp32 on the systolic unit, as bf16: one bf16 MXU pass" in capsys.readouterr().out
    assert main(["info", "a100", "--json"]) == 0
    a100 = json.loads(capsys.readouterr().out)["peak_flops_per_s_by_dtype"]
    assert not [c for unit in a100.values() for c in unit.values() if "note" in c]
