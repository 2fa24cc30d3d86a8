"""The Pareto front compares the points that run the same work (probe p221 #1): an unfused and a fused run, or TP 1
and TP 8, are one workload; another batch or model is other work. Numbers are made up, chosen by hand."""

from accelsim.sweep import plots
from accelsim.sweep.store import table


def _rec(rid, point, seconds, area, energy, macs, params=100):
    return {"id": rid, "status": "ok", "point": point,
            "metrics": {"seconds": seconds, "system_area_mm2": area, "system_energy_j": energy, "macs": macs,
                        "params": params}}


def _pareto(records, axes):
    header, rows = table(records, axes)
    at = header.index("pareto")
    return {r[0]: r[at] for r in rows}


def test_fused_and_unfused_are_one_workload_and_the_dominated_one_is_off_the_front():
    # probe p221's sw4 (gpt2 on h100): unfused 3.516 ms, 256.1 mm², 1.003 J; fused 2.760 ms, 256.1 mm², 0.713 J,
    # the same macs (145,824,153,600): fused is no worse anywhere and better in time and energy (Deb 2001, Def. 2.5)
    recs = [_rec("u", {"workload.attention": "unfused"}, 3.516e-3, 256.1, 1.003, 145_824_153_600),
            _rec("f", {"workload.attention": "fused"}, 2.760e-3, 256.1, 0.713, 145_824_153_600)]
    assert _pareto(recs, ["workload.attention"]) == {"u": "false", "f": "true"}
    cols = plots.SweepColumns.of(recs, ["workload.attention"])
    assert [g.tolist() for g in plots.pareto_groups(cols, [0, 1])] == [[0, 1]]


def test_tensor_parallel_points_compare_by_the_models_macs_not_one_chips():
    # report.json's macs is one chip's 1/TP share: 1000 on TP1, 1000 / 2 = 500 on TP2, 1000 / 8 = 125 on TP8: the
    # model's 1000 each, the same work; TP1 is fastest and most frugal at equal area (the probe's sw2 shape)
    axes = ["workload.tensor_parallel"]
    recs = [_rec("tp1", {"workload.tensor_parallel": 1}, 12.28e-3, 2048.8, 12.00, 1000),
            _rec("tp2", {"workload.tensor_parallel": 2}, 13.64e-3, 2048.8, 15.30, 500),
            _rec("tp8", {"workload.tensor_parallel": 8}, 13.63e-3, 2048.8, 25.87, 125)]
    assert _pareto(recs, axes) == {"tp1": "true", "tp2": "false", "tp8": "false"}


def test_another_batch_or_shape_is_other_work():
    # batch 2 doubles the MACs (2000 against 1000): its own front, though the batch-1 point is faster and smaller
    axes = ["workload.batch"]
    recs = [_rec("b1", {"workload.batch": 1}, 1.0, 10.0, 1.0, 1000),
            _rec("b2", {"workload.batch": 2}, 2.0, 10.0, 2.0, 2000)]
    assert _pareto(recs, axes) == {"b1": "true", "b2": "true"}
    # a GEMM of m=128, k=64, n=256 and one of m=256, k=64, n=128 have 2,097,152 MACs each but 64 x 256 = 16,384
    # and 64 x 128 = 8,192 weights: other work
    axes = ["workload.m", "workload.n"]
    recs = [_rec("a", {"workload.m": 128, "workload.n": 256}, 1.0, 10.0, 1.0, 2_097_152, 16_384),
            _rec("b", {"workload.m": 256, "workload.n": 128}, 2.0, 10.0, 2.0, 2_097_152, 8_192)]
    assert _pareto(recs, axes) == {"a": "true", "b": "true"}
    assert plots.plot_pareto(recs, axes, None) is None  # no workload of two points: nothing to draw


def test_a_sweep_with_no_two_points_of_one_work_says_why_there_is_no_pareto_plot(tmp_path):
    recs = [_rec("b1", {"workload.batch": 1}, 1.0, 10.0, 1.0, 1000),
            _rec("b2", {"workload.batch": 2}, 2.0, 10.0, 2.0, 2000)]
    heard = []
    plots.plot_sweep_records(recs, ["workload.batch"], tmp_path, warn=heard.append)
    assert not (tmp_path / plots.PARETO_FILE).exists()
    assert heard == [f"{tmp_path / plots.PARETO_FILE} not drawn: no two of its 2 points run the same work "
                     "(model MACs and parameters), so none is compared"]


def test_recompute_points_compare_by_the_steps_model_flops():
    # probe p225 #1 (gpt2 training at batch 4 on a100): recompute none / selective / full run 1,749,889,843,200 /
    # (more) / 2,175,091,605,504 MACs, the recomputed forward included, but the same model FLOPs 3,499,779,686,400
    # (forward + backward, recomputation left out); none is fastest and most frugal at equal area, so it alone is on
    # the front
    axes = ["workload.recompute"]
    flops = 3_499_779_686_400
    recs = [_rec("none", {"workload.recompute": "none"}, 0.03879, 235.87, 14.12, 1_749_889_843_200),
            _rec("sel", {"workload.recompute": "selective"}, 0.04562, 235.87, 16.53, 1_760_000_000_000),
            _rec("full", {"workload.recompute": "full"}, 0.05081, 235.87, 18.39, 2_175_091_605_504)]
    for r in recs:
        r["metrics"]["model_flops"] = flops
    assert _pareto(recs, axes) == {"none": "true", "sel": "false", "full": "false"}
    # without model_flops (an inference record) the MACs decide: the three differ, so each is its own front
    for r in recs:
        del r["metrics"]["model_flops"]
    assert _pareto(recs, axes) == {"none": "true", "sel": "true", "full": "true"}


def _rec_flops(rid, point, seconds, area, energy, flops, params=0):
    rec = _rec(rid, point, seconds, area, energy, 0, params)
    rec["metrics"]["flops"] = flops
    return rec


def test_workloads_without_macs_are_other_work_by_their_flops_or_their_axes():
    # probe p232 #1, the shipped NCCL sweep: a collective has no MACs, no FLOPs, no params; a 64 KiB and a 1 GiB
    # all-reduce are other work (16,384 x the bytes), so each size is its own front. At 1 GiB the h100 box is faster
    # (3.982 < 8.104 ms) and more frugal (14.69 < 19.32 J) but larger (2048.8 > 1886.9 mm²): neither dominates
    # (Deb 2001, Def. 2.5), both on the front; the 64 KiB pair alike (25.32 / 24.79 µs, 0.053 / 0.088 J)
    axes = ["workload.bytes", "arch"]
    recs = [_rec_flops("sa", {"workload.bytes": "64KiB", "arch": "dgx-a100"}, 25.32e-6, 1886.9, 0.053, 0),
            _rec_flops("sh", {"workload.bytes": "64KiB", "arch": "dgx-h100"}, 24.79e-6, 2048.8, 0.088, 0),
            _rec_flops("ga", {"workload.bytes": "1GiB", "arch": "dgx-a100"}, 8.104e-3, 1886.9, 19.32, 0),
            _rec_flops("gh", {"workload.bytes": "1GiB", "arch": "dgx-h100"}, 3.982e-3, 2048.8, 14.69, 0)]
    assert _pareto(recs, axes) == {"sa": "true", "sh": "true", "ga": "true", "gh": "true"}
    # a softmax has FLOPs but no MACs: 65,536 rows are other work than 1,024; same rows on two archs is the same
    # work, and a point no better anywhere and worse in time is off the front
    axes = ["workload.rows", "arch"]
    recs = [_rec_flops("s1", {"workload.rows": 1024, "arch": "a"}, 1.0, 10.0, 1.0, 5 * 1024),
            _rec_flops("s2", {"workload.rows": 65536, "arch": "a"}, 60.0, 10.0, 60.0, 5 * 65536),
            _rec_flops("s3", {"workload.rows": 65536, "arch": "b"}, 70.0, 10.0, 60.0, 5 * 65536)]
    assert _pareto(recs, axes) == {"s1": "true", "s2": "true", "s3": "false"}
    # probe p233 #4: a 1024 x 4096 and a 4096 x 1024 softmax have the same FLOPs (4,194,304 elements each) but are
    # other shapes, other work (docs/sweeps.md): each shape's faster clock is its own front, 2 of 4 points
    axes = ["workload.rows", "workload.cols", "arch.clock"]
    n = 5 * 1024 * 4096
    recs = [_rec_flops("w15", {"workload.rows": 1024, "workload.cols": 4096, "arch.clock": 1.5e9}, 2.0, 10.0, 1.0, n),
            _rec_flops("w19", {"workload.rows": 1024, "workload.cols": 4096, "arch.clock": 1.98e9}, 1.5, 10.0, 1.0, n),
            _rec_flops("t15", {"workload.rows": 4096, "workload.cols": 1024, "arch.clock": 1.5e9}, 4.0, 10.0, 2.0, n),
            _rec_flops("t19", {"workload.rows": 4096, "workload.cols": 1024, "arch.clock": 1.98e9}, 3.0, 10.0, 2.0, n)]
    assert _pareto(recs, axes) == {"w15": "false", "w19": "true", "t15": "false", "t19": "true"}
