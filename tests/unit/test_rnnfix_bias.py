"""Probe p113 #1: the LSTM / GRU / RNN biases are marked biases (ir.Weight.bias), so a training step gives each its
own gradient, the column sum of dY, and its optimizer step reads a tensor of the bias's shape, not the weight
GEMM's (G·H, H_in) gradient."""

from __future__ import annotations

import math

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.ir import OpKind


def _param_shapes(g):
    return {w.name: w.shape for op in g.ops for w in op.weights if w.role == "param"}


@pytest.mark.parametrize("layer", [
    {"type": "lstm", "hidden_size": 20, "num_layers": 2, "bidirectional": True, "proj_size": 5},
    {"type": "gru", "hidden_size": 16},
    {"type": "rnn", "hidden_size": 16, "nonlinearity": "relu", "num_layers": 2},
])
def test_every_step_reads_its_own_parameters_shape(layer):
    g = build_workload("layers", {"input": [7, 3, 10], "layers": [{"name": "rnn", **layer}], "mode": "training"})
    shapes = _param_shapes(g)
    steps = [op for op in g.ops if op.kind is OpKind.OPTIMIZER]
    assert len(steps) == len(shapes)
    for op in steps:
        assert op.in_shapes == (shapes[op.attrs["param"]],), op.name


def test_lstm_lm_steps_read_their_own_shapes():
    g = build_workload("lstm_lm", {"seq_len": 4, "mode": "training"})
    shapes = _param_shapes(g)
    # the embedding's step too reads the whole (10,000, 650) table's gradient: a plain nn.Embedding's gradient is
    # dense (ATen's embedding_dense_backward: at::zeros({num_weights, dim})); probe p255 #1: it read the 4 rows the 4
    # tokens touched, (4, 650)
    assert g["encoder.weight.step"].in_shapes == ((10_000, 650),)
    for op in g.ops:
        if op.kind is OpKind.OPTIMIZER:
            assert op.in_shapes == (shapes[op.attrs["param"]],), op.name


def test_lstm_lm_bias_gradients_are_column_sums():
    # lstm_lm at seq_len 35, batch 1, G·H = 4·650 = 2,600: b_ih's gradient sums x_proj's dY (35, 1, 2600) over its
    # 35 rows, b_hh's the 35 stacked gate gradients (35, 2600): 35 × 2,600 = 91,000 adds each (an ELEMENTWISE op)
    g = build_workload("lstm_lm", {"mode": "training"})
    for layer in ("l0", "l1"):
        for part, param in (("x_proj", "bias_ih"), ("hh", "bias_hh")):
            db = g[f"rnn.{layer}.{part}.grad_bias"]
            assert db.kind is OpKind.ELEMENTWISE and db.out_shape == (2600,)
            assert math.prod(db.in_shapes[0]) == 35 * 2600 and db.flops == 91_000
            assert g[f"rnn.{param}_{layer}.step"].inputs == (db.name,)


def test_lstm_lm_bias_step_moves_bias_sized_bytes():
    # Adam on a 16-bit parameter with fp32 master weights, m and v (training.py's mixed precision): per parameter
    # read the 4 B fp32 gradient (bf16's, units.GRAD_DTYPE), read the master, m and v (12 B; not the bf16 copy) and
    # write them and the bf16 copy (14 B): 30 B (probe p207 #1: it was 2 B gradient + 2 × 2 B parameter + 24, the
    # same 30). 2,600 parameters → 78,000 B of HBM (it read 3,452,800 B with the (2600, 650) weight gradient, probe
    # p113 #1); the decoder's 10,000-element bias, already right, 300,000 B
    ops = {o["name"]: o for o in accelsim.simulate({"base": "lstm_lm", "mode": "training"}, "tpu-v4").to_dict()["ops"]}
    assert ops["decoder.bias.step"]["bytes"]["hbm"] == 10_000 * 30
    for name in ("rnn.bias_ih_l0", "rnn.bias_hh_l0", "rnn.bias_ih_l1", "rnn.bias_hh_l1"):
        assert ops[f"{name}.step"]["bytes"]["hbm"] == 4 * 2600 + 3 * 4 * 2600 + (3 * 4 + 2) * 2600 == 78_000
