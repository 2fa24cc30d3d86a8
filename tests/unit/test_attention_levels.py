"""benchmarks/attention_levels.py: which host-side ops vLLM's FlashAttention-2 call makes for a row."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from accelsim.config import load_arch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from attention_levels import decode_class, main  # noqa: E402

# a100: 108 SMs, FlashAttention-2's split heuristic counts 2 CTA slots per SM (set_params_splitkv:
# multiProcessorCount * 2); head_dim 128 -> 128 keys per K/V block (run_mha_fwd_splitkv_dispatch kBlockN)
A100 = load_arch("a100")


@pytest.mark.parametrize("b, h, kvh, kv, expected", [
    # the query reshape (b, kvh, group) -> (b*group, kvh) is a view when batch or kv_heads is 1 ...
    (1, 32, 2, 128, "decode"),
    (8, 32, 1, 128, "decode"),
    # ... and a copy otherwise
    (8, 32, 2, 128, "decode + q copy"),
    # 1 KV block (128 keys): nothing to split, whatever the CTAs
    (1, 32, 1, 128, "decode"),
    # 1 CTA (b1 x 1 KV head) of 8 blocks on 216 slots: split (num_splits_heuristic picks > 1)
    (1, 32, 1, 1024, "decode + split"),
    # 8 x 2 = 16 CTAs < 0.8 x 216: split; and the copy
    (8, 32, 2, 1024, "decode + q copy + split"),
    # 256 CTAs >= 0.8 x 216 slots: one split
    (256, 32, 1, 4096, "decode"),
    # no GQA (heads == kv_heads): not swapped, so no copy and no split
    (8, 32, 32, 4096, "decode"),
])
def test_classes_follow_flash_api(b, h, kvh, kv, expected):
    assert decode_class(b, h, kvh, kv, 128, A100) == expected


def test_report_prints_each_class_and_its_step(tmp_path, capsys):
    p = tmp_path / "validation.csv"
    gen = "aiconfigurator/a100_sxm/generation_attention.csv"
    p.write_text("file,key,measured_s,simulated_s,error\n"
                 f"{gen},b1 h32/1 d128 q1 kv128,12e-06,10e-06,-0.17\n"
                 f"{gen},b8 h32/2 d128 q1 kv128,19e-06,12e-06,-0.37\n"
                 f"{gen},b1 h32/1 d128 q1 kv16384,47e-06,44e-06,-0.06\n"  # above --below-us 30: left out
                 "aiconfigurator/a100_sxm/context_attention.csv,b1 h8/1 d128 q128 kv128,12e-06,7.6e-06,-0.37\n")
    assert main(["--csv", str(p)]) == 0
    lines = {ln[:24].strip(): ln[24:].split() for ln in capsys.readouterr().out.splitlines()[2:]}
    assert set(lines) == {"prefill", "decode", "decode + q copy"}
    assert lines["decode"][0] == "1" and lines["prefill"][0] == "1"
    # rows, measured min, median, step (19 - 12 us), simulated min, median, step (12 - 10 us)
    assert lines["decode + q copy"] == ["1", "19.00", "19.00", "+7.0", "12.00", "12.00", "+2.0"]


def test_missing_csv_exits_2(tmp_path):
    assert main(["--csv", str(tmp_path / "none.csv")]) == 2
