"""Probe p89 #3: an out-of-range ``dropout`` of an lstm / gru / rnn / multihead_attention layer names the
``dropout`` key (a key that shares its name with a layer type was stripped as if it were the type's tag)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders.manual import LayersParams

from ..conftest import cli_errors, layer_file


# ---- p89 #3: dropout out of range on the layers that have a dropout key ----------------------------------------
@pytest.mark.parametrize("layer, bound", [
    ("{type: lstm, hidden_size: 64, dropout: 2}", "less than or equal to 1 (got 2)"),
    ("{type: gru, hidden_size: 64, dropout: -0.5}", "greater than or equal to 0 (got -0.5)"),
    ("{type: rnn, hidden_size: 64, dropout: 1.5}", "less than or equal to 1 (got 1.5)"),
])
def test_a_recurrent_layers_dropout_out_of_range_names_the_dropout_key(here, capsys, layer, bound):
    (line,) = cli_errors(capsys, ["info", layer_file(layer)])
    # before: "l.yaml:5: layers.0: Input should be ..." (the key stripped as if it were the dropout layer's tag)
    assert line == f"accelsim: error: l.yaml:5: layers.0.dropout: Input should be {bound}", line


def test_attention_dropout_out_of_range_names_the_key(here, capsys):
    layer = "{type: multihead_attention, embed_dim: 128, num_heads: 4, dropout: 3}"
    (line,) = cli_errors(capsys, ["info", layer_file(layer)])
    assert line == "accelsim: error: l.yaml:5: layers.0.dropout: Input should be less than or equal to 1 (got 3)"


def test_layer_error_locations_are_rewritten_once_on_every_way_in():
    data = {"input": [20, 1, 128], "layers": [{"type": "lstm", "hidden_size": 64, "dropout": 2},
                                              {"type": "dropout", "p": 1.5}]}
    for validate in (LayersParams.model_validate, lambda d: LayersParams(**d)):
        with pytest.raises(ValidationError) as e:
            validate(data)
        assert [err["loc"] for err in e.value.errors()] == [("layers", 0, "dropout"), ("layers", 1, "p")]
