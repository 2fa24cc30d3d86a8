"""Energy and power against published chips (docs/energy.md gives the same figures and the command that made them).

Sources (../shared/reference/energy/README.md): Eyeriss, Chen et al., JSSC 2017 (AlexNet CONV layers, batch 4:
278 mW of chip power; per layer 332 / 288 / 266 / 235 / 236 mW; 0.0029 DRAM accesses per MAC); TPU v1, Jouppi et al., ISCA 2017
(28 W idle, 40 W busy, 75 W TDP per die); LLaMA-2-7B-chat on an A100 under HF/FastChat at batch 1, 4.35 J/token
(ML.ENERGY leaderboard v1, ml-energy/leaderboard @4717739 data/A100_chat_benchmark.csv).
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config import load_arch
from accelsim.energy.model import constants

# AlexNet's five CONV layers (Krizhevsky et al. 2012, two-group convs 2, 4, 5), 227×227 input, with their ReLUs
# (applied on Eyeriss's output path: the preset's core.vector.output_path fuses them) and pools, as Eyeriss ran them
ALEXNET_CONV = {"model": "layers", "name": "alexnet_conv", "batch": 4, "input": [1, 3, 227, 227], "layers": [
    {"type": "conv2d", "name": "conv1", "out_channels": 96, "kernel_size": 11, "stride": 4},
    {"type": "relu", "name": "relu1"},
    {"type": "maxpool2d", "name": "pool1", "kernel_size": 3, "stride": 2},
    {"type": "conv2d", "name": "conv2", "out_channels": 256, "kernel_size": 5, "padding": 2, "groups": 2},
    {"type": "relu", "name": "relu2"},
    {"type": "maxpool2d", "name": "pool2", "kernel_size": 3, "stride": 2},
    {"type": "conv2d", "name": "conv3", "out_channels": 384, "kernel_size": 3, "padding": 1},
    {"type": "relu", "name": "relu3"},
    {"type": "conv2d", "name": "conv4", "out_channels": 384, "kernel_size": 3, "padding": 1, "groups": 2},
    {"type": "relu", "name": "relu4"},
    {"type": "conv2d", "name": "conv5", "out_channels": 256, "kernel_size": 3, "padding": 1, "groups": 2},
]}
EYERISS_LAYER_MW = {"conv1": 332, "conv2": 288, "conv3": 266, "conv4": 235, "conv5": 236}


@pytest.fixture(scope="module")
def eyeriss():
    return accelsim.simulate(ALEXNET_CONV, "eyeriss-like").to_dict()


def _conv_layers(report: dict) -> dict[str, tuple[float, float, int]]:
    """Each CONV layer as the paper measures it: (J of the conv and the ReLU fused on its output path, seconds of
    the conv's span, bytes it moved at DRAM)."""
    fused: dict[str, float] = {}
    for op in report["ops"]:
        if "fused_into" in op["mapping"]:
            assert op["bytes"] == {}  # Eyeriss's ReLU module works on the ofmap before it is written
            fused[op["mapping"]["fused_into"]] = fused.get(op["mapping"]["fused_into"], 0.0) + op["energy_j"]
    clock = report["clock_hz"]
    return {op["name"]: (op["energy_j"] + fused.get(op["name"], 0.0), (op["end_cycle"] - op["start_cycle"]) / clock,
                         op["bytes"]["hbm"]) for op in report["ops"] if op["kind"] == "conv"}


# The published 278 mW (and each layer's power) is the chip's: Chen et al. report the DRAM, which is off the chip,
# as accesses (JSSC 2017 abstract: "0.0029 DRAM access/MAC ... at 278 mW"; Table V: each layer's power in mW beside
# its DRAM accesses in MB, 15.4 MB in all, as OCR'd in cucapra/fodlam @862a366 data/eyeriss-alexnet.csv), so the
# model's DRAM energy (200x a 16-bit ALU op per 16-bit word: chen_isca16 Table IV) is left out of the check. The ALU
# op is the model's, its int16 MAC over the preset's mac_overhead (ALU + 4 register-file accesses, the same table):
# 6.705 pJ / 5 = 1.341 pJ -> 268.2 pJ a 16-bit word, 134.1 pJ a byte, 16.76 pJ/bit (the preset rounds to 16.8). It is
# derived here from the model, not written down, so it follows the MAC's energy (probe p192 #2: a hard-coded 14 pJ/bit
# stayed 200x the op of before probe p152, 1.12 pJ, while the MAC became 6.705 pJ).
EYERISS = load_arch("eyeriss-like")
ALU_J = constants(EYERISS).mac_j / EYERISS.energy.mac_overhead
DRAM_J_PER_BYTE = 200 * ALU_J / 2  # a 16-bit word is 2 bytes


def _chip_watts(layers: dict[str, tuple[float, float, int]]) -> tuple[float, dict[str, float]]:
    """The CONV layers' on-chip power (their energy less their DRAM bytes' over their spans) and each layer's."""
    chip = {name: (j - b * DRAM_J_PER_BYTE, s) for name, (j, s, b) in layers.items()}
    return (sum(j for j, _ in chip.values()) / sum(s for _, s in chip.values()),
            {name: j / s for name, (j, s) in chip.items()})


def test_eyeriss_dram_energy_is_200_alu_ops_a_word():
    # chen_isca16 Table IV: a DRAM access 200x the ALU; the model's ALU op 6.705 / 5 = 1.341 pJ (docs/energy.md:
    # Horowitz's int16 multiply 0.8 pJ + int16 add 0.05 pJ = 0.85 pJ at 45 nm, x 1.578 to 65 nm at 1.0 V)
    assert ALU_J == pytest.approx(1.341e-12, rel=1e-3)
    # 200 x 1.341 pJ = 268.2 pJ a 16-bit word = 16.76 pJ/bit; the preset's 16.8 (3 figures) within 0.3 %
    assert constants(EYERISS).level_j_per_bit["hbm"] * 16 == pytest.approx(200 * ALU_J, rel=3e-3)


def test_eyeriss_global_buffer_is_6_alu_ops_a_word():
    # chen_isca16 Table IV (energy README: "global buffer 6x"), Eyeriss's own 108 KB buffer: 6 x 1.341 = 8.046 pJ a
    # 16-bit word. The preset's sram_pj 5.55 pJ (45 nm, 8 KiB, 64-bit) x sqrt(108 / 8) = 3.674 x 1.5776 (45 nm 0.9 V
    # -> 65 nm 1.0 V) = 32.17 pJ per 64-bit access = 8.043 pJ a word, 5.998x; 3 figures, within 0.1 % (probe p253 #2:
    # the built-in 10 pJ gave 14.49 pJ a word, 10.8x)
    assert constants(EYERISS).level_j_per_bit["sram"] * 16 == pytest.approx(6 * ALU_J, rel=1e-3)


def test_eyeriss_alexnet_power(eyeriss):
    # MACs per image: 55²·96·363 + 27²·256·1200 + 13²·384·2304 + 13²·384·1728 + 13²·256·1728 = 666 M (× 4 images)
    assert eyeriss["macs"] == 4 * (55 * 55 * 96 * 363 + 27 * 27 * 256 * 1200 + 13 * 13 * 384 * 2304
                                   + 13 * 13 * 384 * 1728 + 13 * 13 * 256 * 1728)
    layers = _conv_layers(eyeriss)
    assert set(layers) == set(EYERISS_LAYER_MW)
    # the CONV layers' on-chip energy over their time (the arch has no static power; the pools are not CONV
    # layers). 244.4 mW against 278 mW, -12 %; per layer 277 / 241 / 233 / 248 / 232 mW against 332 / 288 / 266 / 235 /
    # 236 (-17 / -16 / -12 / +6 / -2 %), since probe p253 #2 prices a global-buffer word at chen_isca16 Table IV's
    # 6x the ALU op, not the SRAM rule's 10.8x (289.2 mW, +4 %, before; per layer 328 / 286 / 275 / 294 / 275 mW,
    # -1 / -1 / +3 / +25 / +17 %; the NoC's inter-PE traffic, 2x in the same table, is not priced). Probe p229 #1
    # counts the partial sums' read-back from the global buffer
    # on every K fold after the first (255.5 mW, -8 %, before; per layer -13 / -12 / -9 / +10 / +3 %) and probe p152 #1 carries Horowitz's 0.9 V figures to Eyeriss's 1 V (they
    # were read as 0.8 V figures and carried to 0.8 V: 209.8 mW, -25 %, per layer -29 / -28 / -25 / -10 / -16 %;
    # 266.8 mW with #1 alone) and #3 prices its int16 accumulation with an int16 adder (0.05 pJ, not int32's 0.1).
    # The per-layer tolerance is the largest layer error before that fix
    watts, per_layer = _chip_watts(layers)
    assert watts == pytest.approx(0.278, rel=0.30)
    for name, w in per_layer.items():
        assert w == pytest.approx(EYERISS_LAYER_MW[name] / 1000, rel=0.30), name


def test_eyeriss_alexnet_chip_power_within_20_percent(eyeriss):
    # a strict xfail until probe p152 #1 (209.8 mW, -25 %: Horowitz's 0.9 V figures read at 0.8 V and Eyeriss's 1 V
    # not given); 244.4 mW now, -12 % (289.2 mW, +4 %, before probe p253 #2 priced the global buffer at chen_isca16
    # Table IV's 6x the ALU op instead of 10.8x; 255.5 mW, -8 %, before probe p229 #1 counted the partial sums'
    # read-back)
    watts, _ = _chip_watts(_conv_layers(eyeriss))
    assert watts == pytest.approx(0.278, rel=0.20)


def test_eyeriss_dram_accesses_per_mac(eyeriss):
    # 16-bit words from DRAM per MAC over the CONV layers (their ReLUs fused on the output path, as on the chip)
    layers = _conv_layers(eyeriss)
    per_mac = sum(b for _, _, b in layers.values()) / 2 / eyeriss["macs"]
    # the floor: each CONV layer reads its ifmaps (4 images) and filters once and writes its ofmaps once, in words:
    # conv1 4·3·227² + 96·3·11² + 4·96·55², conv2 4·96·27² + 256·48·5² + 4·256·27², conv3 4·256·13² + 384·256·3²
    # + 4·384·13², conv4 4·384·13² + 384·192·3² + 4·384·13², conv5 4·384·13² + 256·192·3² + 4·256·13²
    floor = (4 * 3 * 227**2 + 96 * 3 * 121 + 4 * 96 * 55**2) + (4 * 96 * 27**2 + 256 * 48 * 25 + 4 * 256 * 27**2) \
        + (4 * 256 * 169 + 384 * 256 * 9 + 4 * 384 * 169) + (4 * 384 * 169 + 384 * 192 * 9 + 4 * 384 * 169) \
        + (4 * 384 * 169 + 256 * 192 * 9 + 4 * 256 * 169)
    assert floor / eyeriss["macs"] == pytest.approx(0.00245, rel=0.01)  # Eyeriss's 0.0029 is 18 % above it
    # near the published 0.0029 (Chen et al., JSSC 2017): above the floor and below 2 × 0.0029 = 0.0058 (1.66×
    # today, 0.00481). The ifmap, filter and ofmap tiles share the 108 KB global buffer as one budget (half of it,
    # double-buffered: mapping.tiling.tile_gemm_shared); what is left is the ws tiling re-reading each ifmap once
    # per filter tile (conv1 2×, conv2 5×, conv3 6×: mapping.tiling.a_reads) and the filters once per ifmap tile
    # (conv2 4×, conv3 2×: b_reads), where Eyeriss's row-stationary
    # dataflow also keeps filter rows, ifmap rows and partial sums in its PEs' register files (docs/energy.md).
    # Before the shared budget (three 36 KB buffers, SCALE-Sim's split) it was 0.00822, 2.8×.
    assert floor / eyeriss["macs"] <= per_mac < 2 * 0.0029
    # every other DRAM word is the pools' (Eyeriss's figure counts the CONV layers only)
    pools = sum(op["bytes"]["hbm"] for op in eyeriss["ops"] if op["kind"] == "pool")
    assert sum(b for _, _, b in layers.values()) + pools == eyeriss["bytes"]["hbm"]


def test_tpu_v1_power_under_load_sits_between_idle_and_tdp():
    rep = accelsim.simulate({"model": "resnet50", "batch": 8}, "tpu-v1").to_dict()
    # the paper's figures are the die's; the DDR3 weight memory is off it (hbm.off_package): its 70 pJ/bit
    # (accelergy_cacti) × the run's DDR3 bytes over its seconds is apart (13.5 W of the 43.3 W today)
    ddr3_w = rep["bytes"]["hbm"] * 8 * 70e-12 / rep["seconds"]
    assert rep["power"]["off_package_w"] == pytest.approx(ddr3_w)
    watts = rep["power"]["package_w_per_chip"]
    assert watts == pytest.approx(rep["power"]["average_w"] - ddr3_w)
    assert 28 < watts <= 75  # above the paper's idle, at or below its TDP
    # the paper's busy power: 29.8 W today, -25.5 % (docs/energy.md: 29.6 W, -25.9 %, before probe p286 #2 counted every
    # K fold's write of the partial sums to the accumulators and the activation unit's read; 30.1 W, -24.7 %, before probe
    # p279 #1 moved them out of the unified buffer; 30.2 W, -24.5 %, before probe p253 #3 stopped
    # counting the weights at the unified buffer, which they bypass; 29.9 W, -25.3 %, before probe p229 #1 counted the
    # accumulators' read-back of each K fold's partial sums). The tolerance was 0.25 at 30.3 W (-24 %), when
    # Horowitz's 0.9 V figures were read as 0.8 V ones; carried from 0.9 V (probe p152 #1) the on-chip dynamic
    # power drops 18 % (2.28 -> 1.87 W over the 28 W idle), so the model's gap to the busy 40 W is that much wider:
    # the tolerance follows the honest error, as the Eyeriss check's did (TPU v1's supply voltage is not published;
    # the preset keeps the default 0.8 V)
    assert watts == pytest.approx(40, rel=0.26)
    assert rep["power"]["peak_w"] <= 75


def test_a100_llama2_7b_joules_per_token_bounds():
    rep = accelsim.simulate({"model": "llama2_7b", "batch": 1, "phase": "prefill", "seq_len": 512,
                             "decode_steps": 64, "attention": "fused"}, "a100").to_dict()
    j = rep["efficiency"]["j_per_token"]
    # lower bound: every decode step reads the 6.74 G bf16 weights from HBM at the preset's 6.0 pJ/bit (Micron's
    # HBM2E figure, arch/a100.yaml): 0.65 J/token (3.71 today over the 65 output tokens, the prefill's first included, the activity power too: docs/energy.md)
    assert j > 6.74e9 * 2 * 8 * 6.0e-12
    # an ideal stack (weights streamed at 90 % of HBM bandwidth, 12 ms/token) spends less than HF/FastChat's
    # measured 4.35 J/token (22 ms/token at ~194 W); docs/energy.md gives the gap
    assert j < 4.35
