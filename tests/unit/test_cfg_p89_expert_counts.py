"""Probe p90 #6: the expert_counts error names its key once."""

from __future__ import annotations

import pytest

from accelsim.builders.moe import Routing, expert_loads
from accelsim.errors import WorkloadError


# ---- p90 #6: expert_counts named once -------------------------------------------------------------------------
def test_the_expert_counts_error_names_its_key_once():
    # 1 token × top-2 = 2 assignments over 8 experts: [1, 2] has 2 counts, not 8
    with pytest.raises(WorkloadError) as e:
        expert_loads(1, 2, 8, Routing("counts", 1.0, (1, 2), 0.0, 1))
    assert e.value.key == ("expert_counts",)
    assert not e.value.detail.startswith("expert_counts")
    assert str(e.value).count("expert_counts") == 1  # "... (got [1, 2]) (expert_counts)"
    # the counts are shares of each pass's assignments since probe p114 #2, so the message no longer quotes one
    # pass's tokens × top-k
    assert e.value.detail.startswith("expected 8 counts (one per expert")
