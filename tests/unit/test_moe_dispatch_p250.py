"""Expert-parallel dispatch (probe p250 #2): an fp8 / fp4 dispatch carries its packed rows and their scales."""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.ir import OpKind
from accelsim.units import dispatch_bytes


def test_dispatch_bytes_pack_fp4_and_carry_scales():
    # a 7168-wide row (DeepSeek-V3): fp8 1 B an element and an fp32 scale per 128 (DeepEP): 7168 + 56 · 4 = 7392;
    # NVFP4 half a byte an element and an fp8 scale per 16: 3584 + 448 = 4032 = 7168 · 0.5625; bf16 2 B, no scale
    assert dispatch_bytes(1, 7168, "fp8") == 7392
    assert dispatch_bytes(1, 7168, "fp4") == 4032 == 7168 * 0.5625
    assert dispatch_bytes(3, 7168, "bf16") == 3 * 7168 * 2


def test_an_fp4_decode_dispatch_moves_packed_rows():
    from accelsim.api import simulate

    # gpt-oss-120b (hidden 2880, top-4), dtype fp4, EP 8, a decode step of 4 sequences: 16 routed rows a chip. The
    # dispatch sends them as NVFP4, 1440 + 180 = 1620 B a row (before: 2880, a byte an element), 7/8 of the 16 on
    # the link: 22,680 B; the combine the experts' bf16 output, 16 · 2880 · 2 · 7/8 = 80,640 B
    w = load_workload("gpt_oss_120b", ["workload.dtype=fp4", "workload.expert_parallel=8", "workload.phase=decode",
                                       "workload.kv_len=64", "workload.batch=4", "workload.layers=1"])
    g = build_workload(w.model, w.params)
    assert {int(op.attrs["wire_rows"]) for op in g.ops if op.fn == "all_to_all" and op.kind is OpKind.COLLECTIVE} \
        == {16}
    r = simulate(w, {"base": "dgx-b200"}).to_dict()
    link = {o["name"].rsplit(".", 1)[1]: o["bytes"]["link"] for o in r["ops"] if o["name"].endswith(
        ("all_to_all_dispatch", "all_to_all_combine"))}
    assert link == {"all_to_all_dispatch": 16 * (1440 + 180) * 7 // 8, "all_to_all_combine": 16 * 2880 * 2 * 7 // 8}
