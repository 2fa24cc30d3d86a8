"""Recurrent layers (builders/rnn.py): torch.nn's parameter counts and MACs worked by hand, the step chain through
time, the recurrent weights kept in SRAM, and the lstm_lm / seq2seq_lstm presets.

Formulas (https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html, GRU.html, RNN.html): per layer and
direction G·H·(H_in + H_out) weights + 2·G·H biases (+ P·H for the LSTM projection), G = 4 (LSTM), 3 (GRU), 1 (RNN);
H_in = input_size for layer 0, else D·H_out. MACs per sequence: L·N·G·H·(H_in + H_out) (+ L·N·P·H).
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.builders.rnn import CELL_FLOPS, recurrent_params
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind


def _rnn_graph(layer: dict, input_shape=(7, 3, 10), training: bool = False):
    return build_workload("layers", {"input": list(input_shape), "layers": [{"name": "rnn", **layer}],
                                     **({"mode": "training"} if training else {})})


def test_lstm_params_and_macs_by_hand():
    # LSTM(10, 20, num_layers=2, bidirectional=True, proj_size=5) on L=7, N=3:
    # layer 0, each direction: W_ih 4·20·10 = 800, W_hh 4·20·5 = 400, b_ih + b_hh 2·80 = 160, W_hr 5·20 = 100 → 1,460
    # layer 1 reads 2·5 = 10 features: the same 1,460 per direction; 4 × 1,460 = 5,840
    g = _rnn_graph({"type": "lstm", "input_size": 10, "hidden_size": 20, "num_layers": 2, "bidirectional": True,
                    "proj_size": 5})
    assert g.params == 5_840 == recurrent_params("lstm", 10, 20, 2, True, 5)
    # MACs per direction and layer: L·N·(4H·H_in + 4H·P + P·H) = 21·(800 + 400 + 100) = 27,300; × 4
    assert g.macs == 4 * 21 * (800 + 400 + 100)
    assert g.ops[-1].out_shape == (7, 3, 10)  # (L, N, D·P)
    # gates: 28 flops per hidden element per step (module docstring) on N·H = 60 elements, 7 steps, 4 chains
    cells = [op for op in g.ops if op.fn == "lstm_cell"]
    assert len(cells) == 4 * 7
    assert sum(op.flops for op in cells) == 28 * 60 * 7 * 4 and CELL_FLOPS["lstm"] == 28


def test_gru_and_rnn_params_by_hand():
    # GRU(10, 16): 3·16·(10 + 16) + 6·16 = 1,248 + 96 = 1,344
    assert _rnn_graph({"type": "gru", "hidden_size": 16}).params == 1_344
    # RNN(10, 16, relu, 2 layers): layer 0 16·26 + 32 = 448, layer 1 16·32 + 32 = 544
    g = _rnn_graph({"type": "rnn", "hidden_size": 16, "num_layers": 2, "nonlinearity": "relu"})
    assert g.params == 448 + 544
    # MACs: L·N·(16·10 + 16·16) + L·N·(16·16 + 16·16) = 21·416 + 21·512
    assert g.macs == 21 * 416 + 21 * 512
    assert {op.fn for op in g.ops if op.kind is OpKind.ELEMENTWISE} == {"rnn_relu_cell"}


def test_batch_first_and_bias_false():
    g = _rnn_graph({"type": "gru", "hidden_size": 8, "batch_first": True, "bias": False}, (3, 7, 10))
    assert g.ops[-1].out_shape == (3, 7, 8)  # (N, L, H)
    assert g.params == 3 * 8 * (10 + 8)  # no biases


def test_steps_form_a_chain():
    g = _rnn_graph({"type": "lstm", "hidden_size": 8})
    hh = [op for op in g.ops if op.name.endswith(".hh")]
    # the first recurrent GEMM reads h₀ (torch's optional initial state, zeros by default), a graph input
    assert len(hh) == 7 and hh[0].inputs == ("rnn.h0_l0",) and g.inputs["rnn.h0_l0"] == (3, 8)
    for t in range(1, 7):
        assert g[f"rnn.l0.t{t}.hh"].inputs == (f"rnn.l0.t{t - 1}.cell",)
        assert g[f"rnn.l0.t{t}.cell"].inputs == (f"rnn.l0.t{t}.hh", f"rnn.l0.t{t - 1}.cell")
    assert g["rnn.l0.t0.cell"].inputs == ("rnn.l0.t0.hh", "rnn.l0.x_proj")
    assert g["rnn.l0.x_proj"].gemm.m == 21  # every step's input projection in one GEMM (L·N rows)


def test_bad_recurrent_layers_are_one_line_errors():
    with pytest.raises(WorkloadError, match="input_size 11 does not match"):
        _rnn_graph({"type": "lstm", "input_size": 11, "hidden_size": 8})
    with pytest.raises(WorkloadError, match="proj_size 8 must be smaller"):
        _rnn_graph({"type": "lstm", "hidden_size": 8, "proj_size": 8})
    with pytest.raises(WorkloadError, match=r"needs an \(L, N, H_in\) input"):
        _rnn_graph({"type": "lstm", "hidden_size": 8}, (7, 10))


def _run(seq: int, hidden: int = 64, batch: int = 1, arch: str = "scalesim-32x32") -> dict:
    workload = {"model": "layers", "input": [seq, 1, 32], "batch": 1,
                "layers": [{"type": "lstm", "name": "rnn", "hidden_size": hidden}]}
    workload["input"] = [seq, batch, 32]
    return accelsim.simulate(workload, arch).to_dict()


def test_time_grows_linearly_and_respects_the_step_chain():
    short, long = _run(100), _run(200)
    ops = {o["name"]: o for o in long["ops"]}
    step = ops["rnn.l0.t5.hh"]["compute_cycles"] + ops["rnn.l0.t5.cell"]["compute_cycles"]
    # no step can start before the previous one ends: 200 steps take at least 200 × one step's compute
    assert long["total_cycles"] >= 200 * step
    # the input projection aside, each further step adds the same time: twice the steps, twice the time (± 5 %)
    assert long["total_cycles"] / short["total_cycles"] == pytest.approx(2.0, rel=0.05)


def test_latency_bound_at_batch_1_compute_bound_at_large_batch():
    # os dataflow, 32×32 array: a step GEMM of m = N rows costs N + 2·32 − 2 cycles per fold, so at N = 1..8 the
    # fill dominates (time nearly flat in N) and at N = 1024..2048 the rows do (time ∝ N)
    b1, b8 = _run(20, batch=1)["total_cycles"], _run(20, batch=8)["total_cycles"]
    assert b8 < 1.5 * b1
    b1k, b2k = _run(20, batch=1024)["total_cycles"], _run(20, batch=2048)["total_cycles"]
    assert b2k / b1k > 1.8


def test_recurrent_weights_stay_in_sram_when_they_fit():
    # scalesim-32x32: 3 × 64 KiB SRAM, a quarter is 48 KiB. H = 64: W_hh 4·64·64 = 16 KiB int8 + b_hh fits, so only
    # the first step loads it; H = 256: W_hh 256 KiB does not, so every step loads it from memory (its 1 KiB bias
    # still stays)
    small = {o["name"]: o for o in _run(10, hidden=64)["ops"]}
    assert small["rnn.l0.t0.hh"]["mapping"]["pinned_weights"] == ["rnn.weight_hh_l0", "rnn.bias_hh_l0"]
    assert small["rnn.l0.t0.hh"]["bytes"]["hbm"] >= 4 * 64 * 64 + 4 * 64
    assert "hbm" not in small["rnn.l0.t5.hh"]["bytes"]
    big = {o["name"]: o for o in _run(10, hidden=256)["ops"]}
    assert big["rnn.l0.t5.hh"]["bytes"]["hbm"] >= 4 * 256 * 256
    assert big["rnn.l0.t0.hh"]["mapping"]["pinned_weights"] == ["rnn.bias_hh_l0"]


def test_a_buffer_for_activations_only_pins_no_weights():
    # TPU v1's unified buffer holds activations only; its weights reach the matrix unit from the DDR3 weight memory
    # through the weight FIFO each time they are used (Jouppi et al., ISCA 2017, Fig. 1; arch/tpu-v1.yaml
    # core.sram.holds: activations), so an LSTM re-reads its recurrent weights at every step (probe p192 #1: lstm_lm
    # at batch 64 read them at t0 only and took 2.545 ms). lstm_lm (H = 650, int8): W_hh is 4·650·650 = 1,690,000 B,
    # which at the DDR3's 34 GB/s takes 1,690,000 / 34e9 = 49.7 µs = 34,794 cycles at 700 MHz, each step's floor
    steps = {o["name"]: o for o in accelsim.simulate({"model": "lstm_lm", "seq_len": 4, "batch": 64}, "tpu-v1")
             .to_dict()["ops"] if o["name"].endswith(".hh")}
    assert len(steps) == 2 * 4
    floor = 4 * 650 * 650 / 34e9 * 700e6
    assert floor == pytest.approx(34_794, abs=1)
    for name, o in steps.items():
        assert "pinned_weights" not in o["mapping"], name
        assert o["bytes"]["hbm"] >= 4 * 650 * 650, name
        assert o["end_cycle"] - o["start_cycle"] >= floor, name
    # a buffer that may hold weights (holds: all, the default) keeps W_hh (1.69 MB, under a quarter of 24 MiB) after
    # the first step: the later steps read nothing from the DDR3 and run at the array's speed, below that floor
    pinned = accelsim.simulate({"model": "lstm_lm", "seq_len": 4, "batch": 64},
                               {"base": "tpu-v1", "core": {"sram": {"holds": "all"}}}).to_dict()
    later = next(o for o in pinned["ops"] if o["name"] == "rnn.l0.t2.hh")
    assert "hbm" not in later["bytes"] and later["end_cycle"] - later["start_cycle"] < floor


def test_lstm_lm_trains():
    # the backward pass runs the chain in reverse: each step gets its input gradient (dh_{t-1} = dgates_t·W_hh),
    # after the next step's; the weight gradient is one op over all steps (below)
    g = build_workload("lstm_lm", {"seq_len": 4, "mode": "training"})
    grads = [op for op in g.ops if op.name.startswith("rnn.l0.t2.hh") and op.attrs.get("phase") == "backward"]
    assert [op.attrs.get("grad") for op in grads] == ["input"]
    names = [op.name for op in g.ops]
    assert names.index("rnn.l0.t3.hh.grad_input") < names.index("rnn.l0.t2.hh.grad_input")


def test_recurrent_weight_gradient_is_one_gemm_over_all_steps():
    # cuDNN's backward-weights pass: dW_hh = Σ_t dgates_tᵀ·h_{t-1} as ONE GEMM over the (L·N) stacked rows, after
    # the backward recurrence. LSTM(10, 20, proj_size=5, bidirectional) on L=7, N=3 (G·H = 80, H_out = P = 5):
    # per direction dW_hh Gemm(5, 80, 21) = 8,400 MACs = 7 steps × 3·80·5 (the per-step GEMMs' 1,200 each) and
    # dW_hr Gemm(20, 5, 21) = 2,100 = 7 × 3·5·20
    g = _rnn_graph({"type": "lstm", "input_size": 10, "hidden_size": 20, "bidirectional": True, "proj_size": 5},
                   training=True)
    wgrads = [op for op in g.ops if op.attrs.get("grad") == "weight" and op.kind is OpKind.LINEAR]
    for suffix in ("l0", "l0_reverse"):
        hh, hr = g[f"rnn.{suffix}.hh.grad_weight"], g[f"rnn.{suffix}.hr.grad_weight"]
        assert (hh.gemm.m, hh.gemm.n, hh.gemm.k) == (5, 80, 21) and hh.macs == 8_400 == 7 * 3 * 80 * 5
        assert (hr.gemm.m, hr.gemm.n, hr.gemm.k) == (20, 5, 21) and hr.macs == 2_100 == 7 * 3 * 5 * 20
        assert hh.out_shape == (80, 5) and hr.out_shape == (5, 20)  # W_hh, W_hr: each gradient written once
        # it reads every step's input (h₀, then the previous steps' outputs) and gate gradient, stacked as views
        x, dy = (g[name] for name in hh.inputs)
        assert x.kind is dy.kind is OpKind.CONCAT and x.out_shape == (21, 5) and dy.out_shape == (21, 80)
        assert len(x.inputs) == len(dy.inputs) == 7 and f"rnn.h0_{suffix}" in x.inputs
        # the optimizer steps read it directly: one gradient per weight, no per-step sum
        assert g[f"rnn.weight_hh_{suffix}.step"].inputs == (hh.name,)
        # the bias b_hh (a marked bias) gets its own gradient, the column sum of the stacked gate gradients: its
        # step reads a (G·H,) = (80,) tensor, not dW_hh (probe p113 #1); 21 rows × 80 = 1,680 adds
        db = g[f"rnn.{suffix}.hh.grad_bias"]
        assert db.inputs == (dy.name,) and db.out_shape == (80,) and db.flops == 21 * 80 == 1_680
        assert g[f"rnn.bias_hh_{suffix}.step"].inputs == (db.name,)
    # one weight gradient per weight: x_proj's, hh's, hr's, per direction
    assert len(wgrads) == 6
    # the backward MACs by hand, per direction: dW_ih 21·80·10 = 16,800 (no dX: the input needs no gradient),
    # dh 6 steps × 1,200 = 7,200 (none into h₀), dW_hh 8,400, dhr 7 × 300 = 2,100, dW_hr 2,100 → 36,600; forward
    # 27,300 (test_lstm_params_and_macs_by_hand)
    assert g.macs == 2 * (27_300 + 36_600)


def test_long_sequences_stay_coarse():
    # 1,000 steps of a 2-layer LSTM: each step is one recurrent GEMM and one cell op, a few tasks each, with the
    # recurrent weights held in SRAM (core.sram.holds: all)
    workload = {"model": "lstm_lm", "seq_len": 1000}
    report = accelsim.simulate(workload, {"base": "tpu-v1", "core": {"sram": {"holds": "all"}}}).to_dict()
    assert report["simulation"]["tasks"] <= 16 * 2 * 1000
    # tpu-v1 itself (holds: activations, probe p192 #1) streams W_hh from the DDR3 at every step, so each step's GEMM
    # is tiled as any GEMM from memory: at most max_tiles_per_op 16 + 2 x ramp_max 4 = 24 groups, each a parameter
    # load, a compute and a store at most (its input, the previous step's output, is on chip): 72 tasks, plus the
    # cell's few (4). Still bounded per step, not per tile of the 1.69 MB weights
    report = accelsim.simulate(workload, "tpu-v1").to_dict()
    assert report["simulation"]["tasks"] <= (3 * (16 + 2 * 4) + 4) * 2 * 1000


def test_lstm_lm_params_by_hand():
    # Zaremba et al. 2014 medium: embedding 10,000·650 = 6,500,000; per LSTM layer 4·650·(650 + 650) + 8·650 =
    # 3,385,200 (× 2); decoder 650·10,000 + 10,000 = 6,510,000
    g = build_workload("lstm_lm", {})
    assert g.params == 6_500_000 + 2 * 3_385_200 + 6_510_000 == 19_780_400
    # MACs: 35 steps × (2 layers × 4·650·1,300 + decoder 650·10,000) (the embedding is a look-up)
    assert g.macs == 35 * (2 * 4 * 650 * 1300 + 650 * 10_000)


def test_seq2seq_lstm_params_by_hand():
    h, v = 512, 32_000
    lstm = 4 * h * (h + h) + 8 * h  # H → H: 2,101,248
    lstm_2h = 4 * h * (2 * h + h) + 8 * h  # 2H → H: 3,149,824
    encoder = v * h + 2 * lstm + lstm_2h + 2 * lstm  # embedding, bidirectional layer, 2H → H, two residual layers
    decoder = v * h + lstm + h * h + 3 * lstm_2h + (h * v + v)  # embedding, layer 0, linear_k, 3 layers, classifier
    g = build_workload("seq2seq_lstm", {})
    assert g.params == encoder + decoder == 72_551_680
