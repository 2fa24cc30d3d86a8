"""A row reduction whose row does not fit on chip reads its input at least twice (accelsim/cost/vector.py
``input_passes``, ``ROW_REDUCTIONS``, ``row_budget``; probe p156 #2).

A softmax cannot write an output element before it knows its row's max and sum, nor a layernorm / rmsnorm before its
row's mean and variance / mean square. A kernel that cannot hold the row reads it at least twice: the online
normaliser's max-and-sum pass and then the output pass (Milakov & Gimelshein 2018, "Online normalizer calculation
for softmax", arXiv:1805.02867), Welford's statistics pass and then the output pass for a norm. The row the core
can hold is its scratchpad's vector input tile: ifmap's double-buffered half, or a third of a unified buffer's half.
"""

from __future__ import annotations

import dataclasses

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.cost.vector import ROW_REDUCTIONS, input_passes, row_budget
from accelsim.hardware import VectorUnit

MiB = 1 << 20


def _tiny(rule: dict | None = None) -> dict:
    # a 6 KiB unified double-buffered scratchpad: a vector tile is 6,144 / 3 / 2 = 1,024 B; 16 GB/s HBM, fp16
    return {"name": "tiny", "clock": "1GHz", "dtype": "fp16", "cores": 1,
            "core": {"systolic": {"rows": 4, "cols": 4},
                     "vector": {"lanes": 16, **({"input_passes": rule} if rule else {})},
                     "sram": {"unified": "6KiB"}},
            "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s"}}


def _run(model: str, rows: int, cols: int, arch: str | dict) -> dict:
    return accelsim.simulate({"model": model, "rows": rows, "cols": cols}, arch, plots=False).to_dict()


def test_row_budget_is_the_vector_input_tile():
    # tpu-v1: 24 MiB unified buffer (Jouppi et al., ISCA 2017), double-buffered: 12 MiB a half, a third of it a tile
    assert row_budget(load_arch("tpu-v1")) == 24 * MiB // 3 // 2 == 4 * MiB
    # gemmini: a 64 KiB ifmap buffer (arch/gemmini.yaml), double-buffered: 32 KiB
    assert row_budget(load_arch("gemmini")) == 32 * 1024
    assert row_budget(accelsim.load_arch(_tiny())) == 1024


@pytest.mark.parametrize("fn", sorted(ROW_REDUCTIONS))
def test_a_row_reduction_longer_than_the_tile_takes_two_passes(fn):
    softmax = build_workload("softmax", {"rows": 8, "cols": 96, "dtype": "fp16"}).ops[0]
    op = dataclasses.replace(softmax, attrs={**softmax.attrs, "fn": fn})
    vu = VectorUnit(lanes=8)
    # a row of 96 fp16 = 192 B
    assert input_passes(op, vu, 192) == 1  # exactly the tile: held on chip, read once
    assert input_passes(op, vu, 191) == 2  # one byte short: a statistics pass, then the output pass
    assert input_passes(op, vu) == 1  # no limit given (the unit-only call): once
    # the unit's own rule wins over the default, both ways
    assert input_passes(op, VectorUnit(lanes=8, input_passes={fn: 1}), 191) == 1
    assert input_passes(op, VectorUnit(lanes=8, input_passes={fn: {"passes": 3}}), 10**9) == 3
    # a unit that lists rules for other functions states its kernels itself: this one reads once (the GPU presets'
    # "functions not listed read it once")
    other = "relu"
    assert input_passes(op, VectorUnit(lanes=8, input_passes={other: 2}), 191) == 1


def test_an_element_wise_op_is_read_once_however_long_its_rows():
    add = build_workload("add", {"rows": 4, "cols": 4096, "dtype": "fp16"}).ops[0]
    assert add.fn == "add"
    assert input_passes(add, VectorUnit(lanes=8), 16) == 1  # 8,192 B rows against a 16 B tile: streamed once


def test_tpu_v1_softmax_of_16_mib_rows_reads_its_input_twice():
    # probe p156 #2: 2 rows × 16,777,216 int8 = 16 MiB a row > the 4 MiB tile. Input 32 MiB read twice, output
    # 32 MiB written once: 2·32 MiB + 32 MiB = 100,663,296 B (it was charged 67,108,864 B, one read)
    rep = _run("softmax", 2, 16_777_216, "tpu-v1")
    assert rep["bytes"]["hbm"] == 2 * 32 * MiB + 32 * MiB == 100_663_296
    assert rep["ops"][0]["mapping"]["input_passes"] == 2
    # at 34 GB/s (jouppi_isca17) those bytes take 100,663,296 / 34e9 = 2.9607 ms at least (it was 2.029 ms)
    assert rep["seconds"] >= 100_663_296 / 34e9
    assert any(n.startswith("softmax: 1 op with rows of up to 16MiB") and "4MiB vector tile" in n
               for n in rep["notes"])


def test_gemmini_softmax_of_1_mib_rows_reads_its_input_twice():
    # probe p156 #2: 4 rows × 1,048,576 int8 = 1 MiB rows > the 32 KiB tile: 2·4 MiB + 4 MiB = 12,582,912 B
    rep = _run("softmax", 4, 1_048_576, "gemmini")
    assert rep["bytes"]["hbm"] == 2 * 4 * MiB + 4 * MiB == 12_582_912


def test_the_boundary_on_a_tiny_arch_and_no_note_when_rows_fit():
    # 8 rows × 512 fp16 = 1,024 B rows: exactly the tile, one read: 8,192 B in + 8,192 B out
    fits = _run("softmax", 8, 512, _tiny())
    assert fits["bytes"]["hbm"] == 2 * 8 * 512 * 2
    assert "input_passes" not in fits["ops"][0]["mapping"]
    assert not any(n.startswith("softmax:") for n in fits["notes"])
    # 8 × 513 fp16 = 1,026 B rows: input 8,208 B read twice + output 8,208 B = 24,624 B
    over = _run("softmax", 8, 513, _tiny())
    assert over["bytes"]["hbm"] == 3 * 8 * 513 * 2
    # an arch's rule overrides the default: read once, as it says
    assert _run("softmax", 8, 513, _tiny({"softmax": 1}))["bytes"]["hbm"] == 2 * 8 * 513 * 2


def test_rmsnorm_and_layernorm_follow_the_same_rule():
    # 8 × 513 fp16 rows (1,026 B > 1,024 B): the activation read twice, the output written once; the norm's
    # parameters (513 fp16 scale for rmsnorm; scale and shift for layernorm) once each. Compare with a rule of 1 pass:
    # the difference is exactly one more read of the 8,208 B input
    for model in ("rmsnorm", "layernorm"):
        two = _run(model, 8, 513, _tiny())["bytes"]["hbm"]
        one = _run(model, 8, 513, _tiny({model: 1}))["bytes"]["hbm"]
        assert two - one == 8 * 513 * 2, model


def test_a_gpu_preset_keeps_its_stated_kernels():
    # a100 lists softmax and rmsnorm rules (PyTorch's softmax, vLLM's rmsnorm) and says functions not listed read
    # their input once: its layernorm of 32,768 fp16 = 64 KiB rows (more than the 164 KiB / 2 / 3 = 27,989 B tile)
    # stays one read, with no note
    rep = _run("layernorm", 8, 32_768, "a100")
    assert "input_passes" not in rep["ops"][0]["mapping"]
    assert not any(n.startswith("layernorm:") for n in rep["notes"])


def _encoder_step(ifmap: str) -> dict:
    # transformer_encoder_layers (workloads/*.yaml): 128 tokens, d_model 256, 4 heads, int8 on gemmini
    arch = accelsim.load_arch("gemmini", [f"core.sram.ifmap={ifmap}"])
    rep = accelsim.simulate("transformer_encoder_layers", arch, mode="training", plots=False).to_dict()
    return {op["name"]: op for op in rep["ops"]} | {"notes": rep["notes"]}


def test_a_row_reductions_backward_rereads_dy_and_its_saved_input():
    # probe p166 #1: the input gradients of the row reductions need a whole-row statistic before any dX element
    # (softmax dX = Y∘(dY − Σ dY∘Y); layernorm's two row means of γ·dY and γ·dY·x̂, karpathy/llm.c
    # dev/cuda/layernorm_backward.cu's "first: two reduce operations" then "now iterate again" over inp and dout),
    # so a row longer than the tile reads both activation inputs twice; the scale γ (a parameter) once.
    for fn in ("softmax", "log_softmax", "layernorm", "rmsnorm"):
        assert f"{fn}_grad" in ROW_REDUCTIONS
    # ifmap 256 B, double-buffered: a 128 B tile. A layernorm row is 256 int8 = 256 B: two passes.
    # 128 rows: dY 32,768 B and X 32,768 B read twice, dX 32,768 B written, γ 256 B once:
    # 2·(32,768 + 32,768) + 32,768 + 256 = 164,096 B (it was 98,560 B, one read)
    ops = _encoder_step("256B")
    ln = ops["norm2.grad_input"]
    assert ln["fn"] == "layernorm_grad"
    assert ln["bytes"]["hbm"] == 2 * (32_768 + 32_768) + 32_768 + 256 == 164_096
    assert ln["mapping"]["input_passes"] == 2
    # the softmax's 128-key rows (128 B) still fit the 128 B tile: dY, Y, dX 65,536 B each (4 heads·128·128), once
    assert ops["self_attn.softmax.grad_input"]["bytes"]["hbm"] == 3 * 65_536
    assert any(n.startswith("layernorm_grad: 2 ops with rows of up to 256B") for n in ops["notes"])
    # ifmap 128 B: a 64 B tile, less than the 128 B softmax rows: dY and Y read twice, dX written once:
    # 2·(65,536 + 65,536) + 65,536 = 327,680 B (it was 196,608 B)
    sm = _encoder_step("128B")["self_attn.softmax.grad_input"]
    assert sm["fn"] == "softmax_grad"
    assert sm["bytes"]["hbm"] == 2 * (65_536 + 65_536) + 65_536 == 327_680


def test_the_lanes_read_a_two_pass_input_twice_from_the_scratchpad():
    # probe p166 #2: eyeriss-like, int16, a 108 KiB unified buffer: a tile of 110,592 / 3 / 2 = 18,432 B. An rmsnorm
    # row of 9,217 int16 = 18,434 B does not fit: 2 passes. Two rows: in = out = 2·9,217·2 = 36,868 B, γ 18,434 B.
    # Fills and drains (the HBM bytes): 2·36,868 + 36,868 + 18,434 = 129,038. Lane accesses: the statistics pass
    # reads the input, the output pass reads it again, reads γ and writes the output: 2·36,868 + 36,868 + 18,434 =
    # 129,038. Scratchpad 258,076 B (it was 221,208 B: the lanes read the input once)
    over = _run("rmsnorm", 2, 9217, "eyeriss-like")["ops"][0]
    assert over["mapping"]["input_passes"] == 2
    assert over["bytes"]["hbm"] == 2 * 36_868 + 36_868 + 18_434 == 129_038
    assert over["bytes"]["sram"] == 2 * 129_038 == 258_076
    # control, 9,216 columns (18,432 B: fits, one pass): in = out = 36,864 B, γ 18,432 B: 2·(36,864·2 + 18,432)
    fits = _run("rmsnorm", 2, 9216, "eyeriss-like")["ops"][0]
    assert fits["bytes"]["sram"] == 2 * (2 * 36_864 + 18_432) == 184_320


def test_the_note_gives_exact_bytes_where_the_rounded_sizes_read_alike():
    # probe p166 #4: gemmini's tile is 32,768 B (64 KiB ifmap, double-buffered); 4 rows of 32,769 int8 = 32,769 B rows
    # were "rows of up to 32KiB (more than the 32KiB vector tile)". The traffic: 4·32,769 B in read twice + out once
    rep = _run("softmax", 4, 32_769, "gemmini")
    assert rep["bytes"]["hbm"] == 3 * 4 * 32_769
    assert any(n.startswith("softmax: 1 op with rows of up to 32,769 B (more than the 32,768 B vector tile")
               for n in rep["notes"]), rep["notes"]
    # sizes that differ once rounded stay rounded (gemmini, 1 MiB rows: test above)
    rep = _run("softmax", 4, 1_048_576, "gemmini")
    assert any(n.startswith("softmax: 1 op with rows of up to 1MiB (more than the 32KiB vector tile")
               for n in rep["notes"]), rep["notes"]


def _loss_ops(n: int, arch: str | dict) -> dict:
    rep = accelsim.simulate({"model": "gemm", "m": 8, "n": n, "k": 16, "dtype": "fp16"}, arch, mode="training",
                            plots=False).to_dict()
    return {op["name"]: op for op in rep["ops"]} | {"notes": rep["notes"]}


def test_the_loss_gradient_rereads_a_logit_row_longer_than_the_tile():
    # leftover #1: cross_entropy_grad recomputes softmax(logits) − one-hot from the logits alone, so it needs the
    # row's max and sum of exponentials before its first dX element: a row longer than the tile is read twice.
    # The loss itself writes one number per row (m + ln d − x_target), which the online normaliser's one
    # max-and-sum pass gives (Liger-Kernel's cross_entropy: the loss after its first pass): read once.
    assert "cross_entropy_grad" in ROW_REDUCTIONS
    assert "cross_entropy" not in ROW_REDUCTIONS
    # a gemm of 8 rows × n fp16 logits on the 1,024 B tile of _tiny(). The loss keeps the logits in fp32
    # (builders/training.py LOSS_DTYPE: Megatron's output.float(), HF's logits.float()), so loss.cast reads the
    # fp16 logits and writes their fp32 copy, which the loss and its gradient read (probe p176 #1: the gradient read
    # them at 2 B, n = 513 then gave a 1,026 B row and 3·8·513·2 = 24,624 B, and the 2,052 B fp32 row of n = 512
    # fitted the tile). n = 257: 1,028 B fp32 rows. fp32 logits 8·257·4 = 8,224 B, fp16 dX 8·257·2 = 4,112 B.
    # loss.grad: the fp32 logits read twice, dX written once: 2·8,224 + 4,112 = 20,560 B
    over = _loss_ops(257, _tiny())
    assert over["loss.grad"]["fn"] == "cross_entropy_grad"
    assert over["loss.grad"]["mapping"]["input_passes"] == 2
    assert over["loss.grad"]["bytes"]["hbm"] == 2 * 8 * 257 * 4 + 8 * 257 * 2 == 20_560
    # the cast, once: the fp16 logits in, the fp32 copy out: 4,112 + 8,224 = 12,336 B
    assert over["loss.cast"]["fn"] == "cast"
    assert over["loss.cast"]["bytes"]["hbm"] == 8 * 257 * 2 + 8 * 257 * 4 == 12_336
    # the loss: the fp32 logits once and its one fp32 number: 8,224 + 4 = 8,228 B
    assert over["loss"]["bytes"]["hbm"] == 8 * 257 * 4 + 4 == 8_228
    assert "input_passes" not in over["loss"]["mapping"]
    assert any(n.startswith("cross_entropy_grad: 1 op with rows of up to 1.004KiB (more than the 1KiB vector tile")
               for n in over["notes"]), over["notes"]
    # n = 256: 1,024 B fp32 rows fit the tile: logits once + dX, 8·256·4 + 8·256·2 = 12,288 B
    fits = _loss_ops(256, _tiny())
    assert fits["loss.grad"]["bytes"]["hbm"] == 8 * 256 * 4 + 8 * 256 * 2 == 12_288
    # a rule the unit states wins: read once
    assert _loss_ops(257, _tiny({"cross_entropy_grad": 1}))["loss.grad"]["bytes"]["hbm"] == 8 * 257 * 6 == 12_336


def test_an_lm_head_vocab_row_on_edge_npu_in_bf16():
    # A 128,256-wide vocab row (Llama 3's) in bf16 (training is modelled in fp32 / tf32 / bf16 / fp16, never int8),
    # which the loss reads in fp32 (LOSS_DTYPE, its loss.cast copy): 128,256·4 = 513,024 B, more than edge-npu's
    # 174,762 B tile (row_budget, docs/configuration.md), less than tpu-v1's 4 MiB. One token; the copy stays in
    # the scratchpad on tpu-v1, so the lanes' accesses show the passes (probe p166 #2: once per pass). On edge-npu
    # the fp32 copy is written to HBM (loss.cast), and loss.grad reads it from there twice, 2·513,024 = 1,026,048 B;
    # its lanes read 2·513,024 and write the bf16 dX, 256,512: 1,282,560 B, and the HBM fills pass the scratchpad
    # too (probe p176 #1: it was 3·256,512 = 769,536 B on the lanes, the logits read at 2 B from the scratchpad)
    def loss_grad(preset: str) -> dict:
        arch = accelsim.load_arch(preset, ["dtype=bf16"])
        rep = accelsim.simulate({"model": "gemm", "m": 1, "n": 128_256, "k": 16, "dtype": "bf16"}, arch,
                                mode="training", plots=False).to_dict()
        return {op["name"]: op for op in rep["ops"]}["loss.grad"]
    edge = loss_grad("edge-npu")
    assert edge["mapping"]["input_passes"] == 2
    assert edge["bytes"]["hbm"] == 2 * 513_024 == 1_026_048
    assert edge["bytes"]["sram"] == 2 * 513_024 + 256_512 + 1_026_048
    tpu = loss_grad("tpu-v1")  # the row fits the 4 MiB tile: read once, written once
    assert "input_passes" not in tpu["mapping"]
    assert tpu["bytes"]["sram"] == 513_024 + 256_512


def test_gpt2_vocab_loss_reads_the_fp32_logits_the_cast_wrote_once():
    # probe p176 #1: GPT-2's 50,257-entry vocab row, one bf16 token on edge-npu. fp32 row 50,257·4 = 201,028 B >
    # the 174,762 B tile: loss.grad reads it twice and writes the bf16 dX (50,257·2 = 100,514 B):
    # 2·201,028 + 100,514 = 502,570 B (it was 201,028: the row read once at 2 B). The cast from bf16 is counted
    # once, in loss.cast (100,514 in + 201,028 out = 301,542 B); the loss reads the fp32 row once and writes its
    # fp32 number: 201,028 + 4 on the lanes, + the 4 B written back from the scratchpad
    arch = accelsim.load_arch("edge-npu", ["dtype=bf16"])
    rep = accelsim.simulate({"model": "gemm", "m": 1, "n": 50_257, "k": 16, "dtype": "bf16"}, arch,
                            mode="training", plots=False).to_dict()
    ops = {op["name"]: op for op in rep["ops"]}
    assert ops["loss.grad"]["mapping"]["input_passes"] == 2
    assert ops["loss.grad"]["bytes"]["sram"] == 2 * 201_028 + 100_514 == 502_570
    assert ops["loss.cast"]["bytes"]["sram"] == 100_514 + 201_028 == 301_542
    assert ops["loss"]["bytes"]["sram"] == 201_028 + 4 + 4
    assert "input_passes" not in ops["loss"]["mapping"]
