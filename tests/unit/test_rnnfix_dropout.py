"""Probe p113 #4: an LSTM / GRU / RNN's ``dropout`` applies, as torch.nn's does, to every layer's output but the last
in a training graph (a builder with ``training`` set, as the builders that model their dropouts set it): the
layers' GraphBuilder.dropout keep-mask (1 B an element) and masked tensor (2 flops an element). torch.nn.LSTM:
"introduces a Dropout layer on the outputs of each LSTM layer except the last layer"."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.builders.rnn import RecurrentBuilder
from accelsim.builders.training import training_graph
from accelsim.errors import WorkloadError


def _graph(kind="lstm", layers=2, p=0.5, training=True, **kw):
    b = RecurrentBuilder("g", {"x": (35, 1, 650)})
    b.training = training
    getattr(b, kind)("x", 650, num_layers=layers, dropout=p, name="rnn", **kw)
    return b.build()


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_dropout_between_layers_in_training(kind):
    # 3 layers: masks on l0's and l1's outputs (35 × 1 × 650 = 22,750 elements each), none on l2's
    g = _graph(kind, layers=3)
    drops = [op for op in g.ops if op.attrs.get("fn") in ("dropout", "dropout_mask")]
    assert sorted(op.name for op in drops) == ["rnn.l0.dropout", "rnn.l0.dropout.mask", "rnn.l1.dropout",
                                              "rnn.l1.dropout.mask"]
    mask, out = g["rnn.l0.dropout.mask"], g["rnn.l0.dropout"]
    assert mask.out_bytes == 22_750  # one byte an element (torch's bool mask)
    assert out.flops == 2 * 22_750 and out.inputs == ("rnn.l0.output", mask.name)
    # layer 1's input projection reads the masked output
    assert g["rnn.l1.x_proj"].inputs == ("rnn.l0.dropout",)


def test_the_backward_reads_the_mask_and_the_stash_keeps_it():
    t = training_graph(_graph(), "adam")
    assert "rnn.l0.dropout.mask" in t.info.stashed
    dx = t["rnn.l0.dropout.grad_input0"]
    assert "rnn.l0.dropout.mask" in dx.inputs


def test_bidirectional_masks_both_directions_features():
    g = _graph(bidirectional=True)
    assert g["rnn.l0.dropout.mask"].out_shape == (35, 1, 2 * 650)


@pytest.mark.parametrize("case", [{"training": False}, {"p": 0.0}, {"layers": 1}])
def test_no_dropout_op_at_inference_with_p_0_or_one_layer(case):
    g = _graph(**case)
    assert not [op for op in g.ops if "dropout" in op.name]


def test_a_layer_list_keeps_its_dropouts_the_identity():
    # a layer list's builder does not model dropouts (its `dropout` layer is the identity too, docs/configuration.md):
    # the same graph for p = 0 and 0.5 in training, as the probe saw it
    def ops(p):
        g = build_workload("layers", {"input": [35, 1, 650], "mode": "training",
                                      "layers": [{"type": "lstm", "hidden_size": 650, "num_layers": 2, "dropout": p}]})
        return len(g.ops), g.macs, g.flops
    assert ops(0.0) == ops(0.5)


@pytest.mark.parametrize("p", [-0.1, 1.5, True, "0.5"])
def test_bad_dropout_is_refused(p):
    with pytest.raises(WorkloadError, match="dropout must be a number in \\[0, 1\\]"):
        _graph(p=p)
