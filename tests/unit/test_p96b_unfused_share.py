"""The unfused-attention note's share of the run counts each cycle once (probe p96 #2: a launch-bound attention read
"about 104% of the run", its ops' device spans plus the whole launch time, whose dispatch cycles lie in the spans)."""

from __future__ import annotations

from accelsim import simulate
from accelsim.config.load import load_arch
from accelsim.ir import Gemm, Graph, Op, OpKind
from accelsim.report.summary import reattention_notes, unfused_attention_notes

NOTE = "attention runs unfused"


def _graph() -> Graph:
    """One head of 128 x 128 attention, then an output projection: scores, softmax and context are the unfused
    attention's three ops (summary._unfused_attention_ops), out_proj is not."""
    q, d = (128, 64), 64
    return Graph("attn", [
        Op(name="scores", kind=OpKind.MATMUL, inputs=("q", "k"), in_shapes=(q, q), out_shape=(128, 128),
           macs=128 * 128 * d, flops=2 * 128 * 128 * d, gemm=Gemm(128, 128, d),
           attrs={"transpose_b": True, "kv_len": 128}),
        Op(name="softmax", kind=OpKind.SOFTMAX, inputs=("scores",), in_shapes=((128, 128),), out_shape=(128, 128),
           flops=5 * 128 * 128, vector_elems=5 * 128 * 128),
        Op(name="context", kind=OpKind.MATMUL, inputs=("softmax", "v"), in_shapes=((128, 128), q), out_shape=q,
           macs=128 * 128 * d, flops=2 * 128 * 128 * d, gemm=Gemm(128, d, 128)),
        Op(name="out_proj", kind=OpKind.MATMUL, inputs=("context", "w"), in_shapes=(q, (d, d)), out_shape=q,
           macs=128 * d * d, flops=2 * 128 * d * d, gemm=Gemm(128, d, d)),
    ], {"q": q, "k": q, "v": q, "w": (d, d)})


def _rows(spans: list[tuple[int, int]]) -> list[dict]:
    # op rows as report.json has them, the four ops each a kernel on a unit; the score bytes stay in the L2
    return [{"name": n, "unit": "core*.u", "start_cycle": a, "end_cycle": b, "bytes": {}, "mapping": {}}
            for n, (a, b) in zip(("scores", "softmax", "context", "out_proj"), spans, strict=True)]


def _share(note: str) -> str:
    return note.split(" take ", 1)[1].split(" of the run", 1)[0]


def test_the_dispatch_cycles_inside_the_spans_are_not_counted_again():
    # a 1,000-cycle run whose launches add 500 cycles, 100 of them the device's dispatches (inside the ops' spans)
    # and 400 the host's launches the device waited for (gaps between spans). Attention spans: 150 + 50 + 200 = 400
    # cycles; it is 3 of the 4 kernels, so 3/4 of the 400-cycle launch wait: (400 + 300) / 1,000 = 70 %.
    # Adding the whole 500 launch cycles (the old rule) gave (400 + 375) / 1,000 = 77.5 %, 75 of its dispatch
    # share's cycles counted twice
    arch = load_arch("h100")
    rows = _rows([(100, 250), (300, 350), (400, 600), (700, 1000)])
    (note,) = unfused_attention_notes(_graph(), arch, rows, 1000, 500, 100)
    assert _share(note) == "about 70%", note
    # two attention ops at once (softmax starting at 200, inside scores' 100-250): their union, [100, 350) and
    # [400, 600) = 250 + 200 = 450 cycles, not 150 + 150 + 200 = 500: (450 + 300) / 1,000 = 75 %
    rows = _rows([(100, 250), (200, 350), (400, 600), (700, 1000)])
    (note,) = unfused_attention_notes(_graph(), arch, rows, 1000, 500, 100)
    assert _share(note) == "about 75%", note


def test_the_share_never_exceeds_the_run():
    # a replay (launch_on_critical_path, a what-if on one schedule) can credit launch cycles that overlap the spans:
    # 600 cycles of attention spans and a 600-cycle host wait in a 1,000-cycle run, every kernel attention's, would
    # be 120 %; the note says at most the whole run
    arch = load_arch("h100")
    rows = _rows([(0, 200), (200, 400), (400, 600), (600, 600)])
    rows[3]["unit"] = "none"  # out_proj takes no kernel: attention is all 3 kernels
    (note,) = unfused_attention_notes(_graph(), arch, rows, 1000, 600, 0)
    assert _share(note) == "about 100%", note


def test_a_launch_bound_attention_takes_the_whole_run_not_more():
    # the probe's case: one attention layer, 4 heads x 128 x 128, on mi210 (eager). Its 3 kernels are all of the
    # run's, so its share is the whole run: each op's span (from its dispatch to its end) plus the host's launch
    # waits between them tile the timeline, spans + (launch - dispatch) = total_cycles, and the note says 100 %
    # (it said 104 %: the spans' dispatch cycles counted again in the launch time)
    rep = simulate({"model": "attention", "q_len": 128, "kv_len": 128, "heads": 4, "kv_heads": 4}, "mi210",
                   plots=False).to_dict()
    clock = rep["clock_hz"]
    ops = rep["ops"]
    assert len(ops) == 3 and all(o["unit"] != "none" for o in ops)
    spans = sum(o["end_cycle"] - o["start_cycle"] for o in ops)
    wait = round((rep["launch_overhead_s"] - rep["kernel_dispatch_s"]) * clock)
    assert spans + wait == rep["total_cycles"]
    (note,) = [n for n in rep["notes"] if NOTE in n]
    assert _share(note) == "about 100%", note


def test_a_composed_runs_share_never_exceeds_the_run():
    # a composed run (serving, pipeline, diffusion) sums its attention rows' spans over the run, 300 / 1,000 = 30 %,
    # and a pass's launch share times the attention's share of its kernels, 0.9 x 1/1 = 90 %: 120 %, the dispatch
    # cycles inside the spans counted in both. The note says at most the whole run
    rows = [{"name": "scores", "unit": "core*.u", "start_cycle": 0, "end_cycle": 300, "count": 1}]
    (note,) = reattention_notes([], rows, {"": frozenset({"scores"})}, 1000.0, [("", "eager", 0.9)])
    assert _share(note) == "about 100%", note
    # below the cap the rule is unchanged: 300 / 1,000 + 0.5 x 1 = 80 %
    (note,) = reattention_notes([], rows, {"": frozenset({"scores"})}, 1000.0, [("", "eager", 0.5)])
    assert _share(note) == "about 80%", note
