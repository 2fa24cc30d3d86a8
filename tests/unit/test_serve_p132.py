"""Probe p132 #4: ``workload.shared_prefix.tokens`` of ``engine.max_model_len`` or more is refused at its key, and one
longer than some prompts is cut to all but their last token with a note."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.errors import ConfigError


def test_a_shared_prefix_as_long_as_max_model_len_is_refused_at_its_key(capsys):
    with pytest.raises(ConfigError, match=r"workload.shared_prefix.tokens: 4,096 shared tokens: every prompt is "
                                          r"shorter than engine.max_model_len \(4,096\)"):
        api.serve("llama2_7b_h100", overrides=["workload.duration=1s", "workload.shared_prefix.tokens=4096"])


def test_a_shared_prefix_longer_than_some_prompts_is_noted_with_how_many_were_cut():
    # prompts are normal(575, 8) (llama2_7b_h100.yaml): 575 tokens is longer than about half of them, which share
    # all but their last token instead (docs/serving.md: "at most all but the last")
    result = api.serve("llama2_7b_h100", overrides=["workload.duration=5s", "workload.shared_prefix.tokens=575"])
    grouped = [r for r in result.requests if r.group >= 0]
    assert all(r.prefix == min(575, r.prompt - 1) for r in grouped)
    cut = [r for r in grouped if r.prompt <= 575]
    assert 0 < len(cut) < len(grouped)
    notes = [n for n in result.report["notes"] if n.startswith("workload.shared_prefix.tokens:")]
    assert notes == [f"workload.shared_prefix.tokens: {len(cut):,} of {len(grouped):,} grouped requests have prompts "
                     f"of 575 tokens or fewer and share all but their last token instead "
                     f"({min(r.prompt for r in cut) - 1:,} to {max(r.prompt for r in cut) - 1:,} tokens)"]
    preset = api.serve("llama2_7b_h100", overrides=["workload.duration=5s"])  # 100 tokens: shorter than every prompt
    assert not [n for n in preset.report["notes"] if "shared_prefix" in n]
