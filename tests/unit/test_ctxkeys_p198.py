"""Probe p198: a bad ``rope_scaling`` given by ``--set`` is named at the ``--set`` (#3); a ``rope_scaling``
missing the keys transformers' ``rope_config_validation`` requires is refused (#4)."""

from __future__ import annotations

import pytest

from accelsim.cli import main


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


# ---- #3, #4: rope_scaling's errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "says"), [
    ("{rope_type: bogus, factor: 2.0}", "--set: workload.rope_scaling.rope_type: 'bogus' is not a known RoPE "
                                        "scaling"),
    # transformers' _validate_linear_scaling_rope_parameters: required_keys = {"rope_type", "factor"}
    ("{rope_type: linear}", "--set: workload.rope_scaling.factor: missing: rope_type 'linear' needs factor"),
    ("{type: dynamic}", "--set: workload.rope_scaling.factor: missing: rope_type 'dynamic' needs factor"),
    ("{rope_type: yarn, original_max_position_embeddings: 8192}",
     "--set: workload.rope_scaling.factor: missing: rope_type 'yarn' needs factor"),
    # _validate_longrope_parameters: {"rope_type", "short_factor", "long_factor"}
    ("{rope_type: longrope, short_factor: [1.0]}",
     "--set: workload.rope_scaling.long_factor: missing: rope_type 'longrope' needs short_factor, long_factor"),
    # _validate_llama3_parameters: {"rope_type", "factor", "original_max_position_embeddings", "low_freq_factor",
    # "high_freq_factor"}
    ("{rope_type: llama3, factor: 8.0}",
     "--set: workload.rope_scaling.original_max_position_embeddings: missing: rope_type 'llama3' needs factor, "
     "original_max_position_embeddings, low_freq_factor, high_freq_factor (transformers' rope_config_validation "
     "refuses it without original_max_position_embeddings, low_freq_factor, high_freq_factor)"),
])
def test_a_bad_rope_scaling_is_one_line_at_the_set(capsys, value, says):
    assert main(["info", "llama3_8b", "--set", f"workload.rope_scaling={value}"]) == 2
    assert _one_line(capsys).startswith(f"accelsim: error: {says}")


@pytest.mark.parametrize("value", [
    "{rope_type: linear, factor: 2.0}", "{rope_type: default}",
    "{rope_type: llama3, factor: 8.0, original_max_position_embeddings: 8192, low_freq_factor: 1.0, "
    "high_freq_factor: 4.0}",
])
def test_a_complete_rope_scaling_is_taken(capsys, value):
    assert main(["info", "llama3_8b", "--set", f"workload.rope_scaling={value}"]) == 0
