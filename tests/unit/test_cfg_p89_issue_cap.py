"""Probe p94 #5: with more than MAX_ISSUES problems in a document, the line counting those not shown comes after
the ones shown (configuration.md: "At most 50 problems are printed per document, then a line counting the rest")."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.config.schema import MAX_ISSUES

from ..conftest import cli_errors


# ---- p94 #5: the count of the problems not shown comes last ---------------------------------------------------
@pytest.mark.parametrize("top, argv", [("name: many\nbase: tpu-v1\n", ["info"]),  # an arch (schema's cap)
                                       ("workload: resnet18\narch: tpu-v1\n", ["run", "-q"])])  # a top level
def test_the_count_of_problems_not_shown_follows_the_problems(here, capsys, top, argv):
    bad = 60
    Path("many.yaml").write_text(top + "".join(f"bogus{i}: 1\n" for i in range(bad)))
    lines = cli_errors(capsys, [argv[0], "many.yaml", *argv[1:]])
    assert len(lines) == MAX_ISSUES + 1
    # the keys start on line 3; the first shown is bogus0's, the count (60 - 50 = 10) is the last line (before: the
    # first, at the document's line 1)
    assert lines[0].startswith("accelsim: error: many.yaml:3: bogus0: "), lines[0]
    assert lines[-1] == f"accelsim: error: many.yaml: {bad - MAX_ISSUES} more problems not shown", lines[-1]
