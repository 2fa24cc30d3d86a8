"""Probe p89 #2: a misspelt key of a ``model: layers`` layer is matched against that layer type's own keys, not
Conv2d's (the first member of the layer union)."""

from __future__ import annotations

import pytest

from ..conftest import cli_errors, layer_file


# ---- p89 #2: a layer's unknown key against its own type's keys -------------------------------------------------
@pytest.mark.parametrize("layer, shape, meant", [
    ("{type: lstm, hidden_size: 64, num_layer: 2}", "[20, 1, 128]", "num_layers"),
    ("{type: lstm, hiden_size: 64}", "[20, 1, 128]", "hidden_size"),
    ("{type: linear, out_feature: 8}", "[1, 128]", "out_features"),
    ("{type: gru, hidden_size: 64, bidirectionl: true}", "[20, 1, 128]", "bidirectional"),
])
def test_a_misspelt_layer_key_is_matched_against_that_layer_types_keys(here, capsys, layer, shape, meant):
    lines = cli_errors(capsys, ["info", layer_file(layer, shape)])
    typo = [line for line in lines if "Extra inputs are not permitted" in line]
    assert len(typo) == 1, lines
    # before: Conv2d's keys (the first member of the union): "did you mean 'kernel_size'?" or its key list
    assert f"did you mean {meant!r}?" in typo[0], typo[0]
    assert "kernel_size" not in typo[0] and typo[0].startswith("accelsim: error: l.yaml:5: layers.0."), typo[0]


def test_an_lstm_only_key_on_a_gru_says_whose_key_it_is_and_lists_the_grus(here, capsys):
    # torch.nn.GRU has no proj_size (torch.nn.LSTM has): the GRU's own keys, not Conv2d's, and whose key it is
    (line,) = cli_errors(capsys, ["info", layer_file("{type: gru, hidden_size: 64, proj_size: 16}")])
    assert line.startswith("accelsim: error: l.yaml:5: layers.0.proj_size: Extra inputs are not permitted; "
                           "proj_size is a key of lstm, not gru; it takes "), line
    taken = line.split("it takes ")[1].removesuffix(" (got 16)").split(", ")
    # torch.nn.GRU's arguments (https://pytorch.org/docs/stable/generated/torch.nn.GRU.html) and the layer list's
    assert {"hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional", "input_size",
            "type", "name", "inputs"} == set(taken)
