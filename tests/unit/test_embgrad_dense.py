"""A plain nn.Embedding's dense gradient in a training step (probe p255 #1), and a recurrent backward's pinned
weight (probe p255 #4)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from accelsim import simulate
from accelsim.config import load_workload


@pytest.fixture(scope="module")
def lstm_lm_tpu():
    report = simulate(load_workload("lstm_lm", ["mode=training"]), "tpu-v4").to_dict()
    return report, {op["name"]: op for op in report["ops"]}


def test_a_dense_embedding_gradient_is_written_and_stepped_whole(lstm_lm_tpu):
    # lstm_lm's encoder is a plain nn.Embedding(10,000, 650) (sparse=False): ATen's embedding_dense_backward
    # allocates at::zeros({num_weights, dim}) and scatter-adds the looked-up rows into it, and Adam reads the whole
    # p.grad. The fp32 gradient of a bf16 table: 10,000 · 650 · 4 B = 26,000,000 B written at least (probe p255 #1:
    # it wrote the 35 looked-up rows, 91,070 B)
    report, ops = lstm_lm_tpu
    assert ops["encoder.grad_weight"]["bytes"]["hbm"] >= 10_000 * 650 * 4
    # Adam on a bf16 parameter, per element: the fp32 gradient read 4 B, the bf16 parameter written 2 B, the fp32
    # master copy, m and v each read and written 8 B: 30 B · 6,500,000 = 195,000,000 B, as the decoder's step of the
    # same 650 × 10,000 elements (it was 169,091,000 B: the 35 rows' gradient read, not the table's)
    assert ops["encoder.weight.step"]["bytes"]["hbm"] == 30 * 10_000 * 650 == 195_000_000
    assert ops["decoder.weight.step"]["bytes"]["hbm"] == 195_000_000



def test_a_recurrent_step_on_the_core_that_ran_the_last_one_reloads_no_weight(lstm_lm_tpu):
    # docs/architecture.md (recurrent layers): later steps on the same core, or spanning the cores as the loader
    # did, list no parameter load. W_hh of a layer is 4·650 × 650 bf16 = 3,380,000 B; a step that holds it moves the
    # step's activations only (t30's 11,700 B). Probe p255 #4: layer 1's backward t34, t33 and t32 ran on core 1 and
    # each loaded it, 3,380,000 B, as layer 0's W_hh, held since the forward chain until layer 0's backward, left
    # no room in core 1's quarter of its 16 MiB (4,194,304 B < 3,380,000 + 1,690,000 of layer 0's half)
    report, ops = lstm_lm_tpu
    weight = 4 * 650 * 650 * 2
    assert weight == 3_380_000
    for layer in ("l0", "l1"):
        for suffix, count in (("hh", 35), ("hh.grad_input", 34)):  # (t0's: h0 needs no gradient)
            steps = [op for op in report["ops"] if op["name"].startswith(f"rnn.{layer}.t")
                     and op["name"].endswith(f".{suffix}")]
            assert len(steps) == count
            for before, step in pairwise(steps):
                if step["core"] == before["core"]:
                    assert step["bytes"].get("hbm", 0) < weight, step["name"]
