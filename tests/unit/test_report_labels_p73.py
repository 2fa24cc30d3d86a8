"""Report rows a reader misread (probe p73), built through the real report builder: a pipeline report's
bandwidth_share the step's, not one micro-batch's (stale); the link's energy as a level and as a unit told apart; TOPS/W
shown twice only where the two differ as printed; "1 micro-batch" in the singular."""

from __future__ import annotations

import accelsim
from accelsim.report import fmt
from accelsim.report.console import _pipeline_rows, energy_rows

PP = {"model": "gpt", "hidden": 256, "heads": 4, "layers": 4, "seq_len": 128, "vocab": 1024, "batch": 1,
      "mode": "training", "pipeline_parallel": 2, "tensor_parallel": 2, "micro_batches": 2}


def test_a_pipeline_report_has_the_steps_bandwidth_share_and_labels_its_rows():
    rep = accelsim.simulate(PP, {"base": "dgx-h100", "chips": 4}, plots=False).to_dict()
    # the shown pass's share was one micro-batch's bytes over that pass's time (probe p73 #1); the step's is its
    # bytes over its P = 2 stage chips' bandwidth and time, a chip's average (probe p81 #5)
    for lv in rep["levels"]:
        if lv["bandwidth"]:
            share = rep["bytes"].get(lv["name"], 0) / (lv["bandwidth"] * 2 * rep["seconds"])
            assert abs(rep["bandwidth_share"][lv["name"]] - share) <= 1e-12 * max(share, 1)
    rows = dict(energy_rows(rep))
    by_level, by_unit = rep["energy"]["by_level"], rep["energy"]["by_unit"]
    # the chip link is a level only: the tensor-parallel all-reduces' adds run on the SMs and are filed under the
    # vector unit (probe p234 #5; before, a unit "link" too, which p73 #3 told apart as "(level)" / "(unit)")
    assert set(by_level) & set(by_unit) == set() and "link" in by_level
    assert rows["  energy link"] == fmt.joules(by_level["link"])
    assert "  energy link (unit)" not in rows
    eff = rep["efficiency"]
    same = fmt.general(eff["tops_per_w"]) == fmt.general(eff["useful_tops_per_w"])
    assert ("useful" in rows["efficiency"]) is not same
    # 1F1B on 2 stages: the last stage holds one micro-batch's activations
    stages = [v for k, v in _pipeline_rows(rep) if k.strip().startswith("stage")]
    assert stages[-1].endswith("with 1 micro-batch in flight") and stages[0].endswith("micro-batches in flight")
