"""benchmarks/validation/llmcompass.py's GPT-3 layer rows: what each measured op is compared with, as LLMCompass's
measurement code defines it (quoted in the module), with made-up simulation results (no simulation runs here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from validation import plan_file  # noqa: E402  (benchmarks/validation/)
from validation.llmcompass import LN_HOST_TOTAL  # noqa: E402

# decode: batch 8 x 1 token; the layer norm's input is (8, 1, 12288) fp16 -> layernorm rows 8, cols 12288
LN_AT_SHAPE = ("a100", "layernorm", (("cols", 12288), ("dtype", "fp16"), ("rows", 8)))
# LayerNorm.gpu_kernel_launch_overhead's torch.randn(1, 1, 1): one element, torch's default fp32
LN_ONE = ("a100", "layernorm", (("cols", 1), ("dtype", "fp32"), ("rows", 1)))
# made-up (seconds, launch_overhead_s) of the two: device 8.4 us and 1.2 us under a 21.6 us launch
SIMS = {LN_AT_SHAPE: (30.0e-6, 21.6e-6), LN_ONE: (22.8e-6, 21.6e-6)}


def _decode_plan(tmp_path: Path, ops: dict[str, float]):
    path = tmp_path / "gpt3_layer_decode_A100.csv"
    path.write_text("op,latency_s\n" + "".join(f"{k},{v}\n" for k, v in ops.items()))
    return plan_file(path)


def test_layernorm_row_replays_the_measured_subtraction(tmp_path):
    plan = _decode_plan(tmp_path, {"LayerNorm_MHA": 48e-6})
    row = plan.rows[0]
    assert {(t[0], t[1]) for t in row.terms} == {(LN_AT_SHAPE, 1), (LN_ONE, -1)}
    # host(at shape) - host(1x1x1): both carry LLMCompass's 45 us layer-norm overhead, which cancels
    assert row.extra_s == pytest.approx(0.0)
    # (8.4 + 45) - (1.2 + 45) = 7.2 us: the device time minus the one-element kernel's
    assert row.simulated(SIMS) == pytest.approx(7.2e-6)


def test_other_reading_is_an_untargeted_total(tmp_path):
    plan = _decode_plan(tmp_path, {"LayerNorm_MHA": 48e-6, "LayerNorm_FFN": 48e-6})
    total, other = plan.rows[-2:]
    assert (total.group, other.group) == ("layer total", LN_HOST_TOTAL)
    assert total.measured_s == other.measured_s == pytest.approx(96e-6)
    # the measurement's reading: 2 x 7.2 us; LLMCompass's own layer simulation: 2 x (8.4 + 45) us
    assert total.simulated(SIMS) == pytest.approx(14.4e-6)
    assert other.simulated(SIMS) == pytest.approx(106.8e-6)
    targeted = [v for v in plan.views if v.target == "gpt3"]
    assert len(targeted) == 1 and [r.group for r in plan.rows if targeted[0].select(r)] == ["layer total"]
    assert [v.target for v in plan.views if v.label == LN_HOST_TOTAL] == [None]


def test_decode_attention_reads_the_cache_and_the_new_key(tmp_path):
    plan = _decode_plan(tmp_path, {"Q_mul_K": 1e-4, "Softmax": 2e-5, "A_mul_V": 1e-4})
    (att, mult, mode), = plan.rows[0].terms
    params = dict(att[2])
    # K_concat of the 2048 + 1024 cached keys with the new one; 96 heads / TP 4; batch 8; one query token
    assert (att[1], params["kv_len"], params["heads"], params["batch"], params["q_len"]) == \
        ("attention", 2048 + 1024 + 1, 24, 8, 1)
    assert (mult, mode) == (1, "device")
    # three host-timed eager kernels: two bmm (21 us each) and a softmax (12 us), LLMCompass's A100 overheads
    assert plan.rows[0].extra_s == pytest.approx(21e-6 + 12e-6 + 21e-6)
