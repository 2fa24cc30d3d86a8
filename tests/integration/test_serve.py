"""Serving with the accelerator model's iteration cost (a small grid of LLaMA-2-7B passes on h100)."""

from __future__ import annotations

import csv
import json

import pytest

from accelsim import api
from accelsim.cli import main
from accelsim.config.serving import load_serving
from accelsim.energy import constants
from accelsim.serving.cost import engine_model, shape, simulate_seconds, simulate_shape

SMALL = {"name": "small", "model": "llama2_7b", "arch": "h100",
         "engine": {"max_num_seqs": 4, "max_num_batched_tokens": 512, "max_model_len": 1024},
         "cost": {"batch_ratio": 4, "kv_points": 2, "token_ratio": 4},
         "workload": {"arrival": {"process": "constant", "rate": 0.2}, "requests": 3,
                      "prompt_tokens": {"dist": "fixed", "value": 512}, "output_tokens": {"dist": "fixed", "value": 8}}}


@pytest.fixture(scope="module")
def low_load():
    return api.serve(load_serving(SMALL))


def test_low_load_ttft_is_one_prefill_and_tpot_one_decode_step(low_load):
    spec = load_serving(SMALL)
    model = engine_model(spec.model, spec.serve.engine)  # the grid's (engine.fused_projections)
    opts = spec.options.model_copy(update={"plots": False})
    # engine.cuda_graphs (default): simulated without the per-kernel host launches
    prefill = simulate_seconds(shape(model, phase="prefill", seq_len=512, batch=1), spec.arch, opts,
                               graphs=True)
    decode = simulate_seconds(shape(model, phase="decode", kv_len=516, batch=1), spec.arch, opts,
                              graphs=True)
    s = low_load.report["serving"]
    assert s["ttft_s"]["p50"] == pytest.approx(prefill, rel=1e-9)  # 512 tokens is a grid point: exact
    assert s["tpot_s"]["mean"] == pytest.approx(decode, rel=0.02)  # KV 513 … 519, interpolated
    assert s["e2e_s"]["mean"] == pytest.approx(prefill + 7 * s["tpot_s"]["mean"], rel=1e-9)
    assert s["finished"] == 3 and not s["saturated"]
    # 4 prefill token counts (16, 64, 256, 512) as one and as two sequences, and 2 batches (1, 4) × 2 KV lengths
    assert low_load.report["iteration_cost"]["simulations"] == 4 * 2 + 2 * 2


def test_low_load_energy_is_each_requests_passes_plus_the_idle_chip(low_load):
    # 3 requests 5 s apart, each alone on the replica: its prefill of 512 tokens (a grid point: exact) and 7 decode
    # steps at KV 513 … 519 (interpolated, as their seconds are), each pass's energy beyond static power
    # (dynamic + activity, one chip); the chip draws its static power (h100: idle_power 70 W + the HBM's own, if
    # any) over the whole makespan, busy or not
    spec = load_serving(SMALL)
    model = engine_model(spec.model, spec.serve.engine)  # the grid's (engine.fused_projections)
    opts = spec.options.model_copy(update={"plots": False})
    prefill_j = simulate_shape(shape(model, phase="prefill", seq_len=512, batch=1), spec.arch, opts,
                               graphs=True).joules
    decode_j = simulate_shape(shape(model, phase="decode", kv_len=516, batch=1), spec.arch, opts,
                              graphs=True).joules
    r = low_load.report
    makespan = r["serving"]["makespan_s"]
    static_w = constants(spec.arch).static_total
    assert r["energy"]["busy_j"] == pytest.approx(3 * (prefill_j + 7 * decode_j), rel=0.02)
    assert r["energy"]["static_j"] == pytest.approx(static_w * makespan, rel=1e-9)
    assert r["energy"]["total_j"] == pytest.approx(r["energy"]["busy_j"] + r["energy"]["static_j"], rel=1e-12)
    assert r["power"]["average_w"] == pytest.approx(r["energy"]["total_j"] / makespan, rel=1e-12)
    assert r["efficiency"]["j_per_output_token"] == pytest.approx(r["energy"]["total_j"] / (3 * 8), rel=1e-12)
    assert r["efficiency"]["j_per_request"] == pytest.approx(r["energy"]["total_j"] / 3, rel=1e-12)
    # mostly idle (3 × ~0.1 s of work in ~10 s): the average lies just above the static power
    assert static_w < r["power"]["average_w"] < 1.2 * static_w
    # the run report's names (docs/energy.md) beside the serving ones: j_per_token = total_j / output tokens (3
    # requests × 8), the chip's static power, h100's 700 W TDP (arch/h100.yaml), no over-TDP factor or note
    assert r["efficiency"]["j_per_token"] == pytest.approx(r["energy"]["total_j"] / (3 * 8), rel=1e-12)
    assert r["efficiency"]["j_per_token"] == r["efficiency"]["j_per_output_token"]
    assert r["power"]["static_w"] == pytest.approx(static_w, rel=1e-12) and r["power"]["tdp_w"] == 700
    assert r["power"]["chips"] == r["energy"]["chips"] == 1
    assert "tdp_clock_factor" not in r["power"] and not any(n.startswith("energy: ") for n in r["notes"])


def test_a_serving_run_above_its_tdp_says_so_as_a_run_report_does(low_load):
    # the same run with the TDP set below its average power: power.tdp_clock_factor = (TDP − static) / (average −
    # static), per chip, and a note (a lower TDP also lowers the activity power, share × (TDP − idle), so the
    # average is this run's own)
    r0 = low_load.report
    static_w = r0["power"]["static_w"]
    tdp = round(static_w + 0.1 * (r0["power"]["average_w"] - static_w), 3)  # well below the first run's average
    r = api.serve(load_serving(SMALL, [f"arch.energy.tdp={tdp}W"])).report
    avg = r["power"]["average_w_per_chip"]
    assert r["power"]["tdp_w"] == pytest.approx(tdp) and avg > tdp
    assert r["power"]["tdp_clock_factor"] == pytest.approx((tdp - static_w) / (avg - static_w), rel=1e-12)
    (note,) = [n for n in r["notes"] if n.startswith("energy: ")]
    assert note.startswith(f"energy: average power {avg:.4g} W per chip exceeds the TDP of {tdp:g} W; a first-order "
                           f"throttle would run the clock at {r['power']['tdp_clock_factor']:.3f}×"), note


def test_kv_blocks_from_the_memory_left_after_the_weights(low_load):
    # 80 GiB × 0.9 − 6,738,415,616 params × 2 B = 63,832,580,096 B; a token's K and V: 2 × 32 layers × 4096 × 2 B
    # = 524,288 B, a block of 16 tokens 8,388,608 B → ⌊7609.4⌋ blocks
    r = low_load.report
    assert r["weight_bytes_per_chip"] == 6_738_415_616 * 2
    assert r["kv_bytes_per_token"] == 524_288
    assert r["kv_blocks_per_replica"] == 7609


def test_cli_writes_the_report_folder(tmp_path, capsys):
    path = tmp_path / "s.json.yaml"
    path.write_text(json.dumps(SMALL))  # JSON is YAML
    out = tmp_path / "out"
    assert main(["serve", str(path), "-o", str(out), "--set", "workload.requests=2"]) == 0
    printed = capsys.readouterr().out
    assert "TTFT" in printed and "Report written to" in printed
    report = json.loads((out / "report.json").read_text())
    for key in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        assert set(report["serving"][key]) == {"mean", "p50", "p90", "p99"}
    assert report["serving"]["requests"] == 2 == report["serving"]["finished"]
    rows = (out / "requests.csv").read_text().splitlines()
    assert rows[0].startswith("id,replica,arrival_s") and len(rows) == 3
    assert (out / "timeseries.csv").is_file()
    for png in ("latency_cdf.png", "serving_timeseries.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["serve", str(path), "-o", str(out), "--no-plots", "-q"]) == 0
    assert not (out / "latency_cdf.png").exists()
    assert main(["plot", str(out)]) == 0  # redrawn from requests.csv and timeseries.csv
    assert (out / "latency_cdf.png").is_file() and (out / "serving_timeseries.png").is_file()


@pytest.mark.parametrize("dtype, noted", [("fp8", True), ("bf16", False)])
def test_serve_notes_a_dtype_the_arch_runs_at_another_rate_as_run_does(tmp_path, capsys, dtype, noted):
    # probe p121 #1. The A100 datasheet lists tensor-core peaks for TF32, BF16/FP16, INT8 and INT4 and none for FP8
    # (arch/a100.yaml core.systolic.rates has no fp8), so an fp8 model's GEMMs run at the bf16 rate, which accelsim
    # run notes (docs/configuration.md, "Per-dtype rates"); serve's grid runs the same passes and says it once.
    # bf16 is the A100's base rate: nothing to note.
    path = tmp_path / "s.json.yaml"
    path.write_text(json.dumps({**SMALL, "arch": "a100"}))
    out = tmp_path / "out"
    assert main(["serve", str(path), "-o", str(out), "--no-plots", "--set", "workload.requests=2",
                 "--set", f"model.dtype={dtype}"]) == 0
    printed = capsys.readouterr().out
    notes = json.loads((out / "report.json").read_text())["notes"]
    systolic = (f"model: op(s) of dtype {dtype} in the iteration-cost grid's passes: the systolic arrays have no "
                f"{dtype} rate and run them at their bf16 rate")
    assert (systolic in notes) is noted
    assert notes.count(systolic) == int(noted)  # once, not once per grid pass
    assert any("have no" in n for n in notes) is noted
    assert ("systolic arrays have no fp8 rate" in " ".join(printed.split())) is noted  # the console's note row


def test_grid_on_worker_processes_gives_the_same_seconds():
    from accelsim.serving.cost import simulate_all

    spec = load_serving(SMALL)
    model = engine_model(spec.model, spec.serve.engine)  # the grid's (engine.fused_projections)
    opts = spec.options.model_copy(update={"plots": False})
    shapes = [shape(model, phase="prefill", seq_len=64, batch=1),
              shape(model, phase="decode", kv_len=100, batch=2)]
    one = simulate_all(shapes, spec.arch, opts, graphs=True, workers=1)
    two = simulate_all(shapes, spec.arch, opts, graphs=True, workers=2)
    assert one == two and one[0] != one[1]


def test_cli_sweep_writes_points_and_the_curve(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(SMALL))
    out = tmp_path / "curve"
    assert main(["serve", str(path), "-o", str(out), "--sweep", "workload.arrival.rate=0.2,0.5",
                 "--set", "workload.requests=2"]) == 0
    assert "throughput_latency.png" in capsys.readouterr().out
    rows = (out / "sweep.csv").read_text().splitlines()
    assert rows[0].startswith("value,requests,finished") and [r.split(",")[0] for r in rows[1:]] == ["0.2", "0.5"]
    for i in (0, 1):
        assert json.loads((out / f"point_{i}" / "report.json").read_text())["serving"]["finished"] == 2
    assert (out / "throughput_latency.png").read_bytes()[:4] == b"\x89PNG"
    # 'accelsim plot' on the sweep folder redraws the curve from sweep.csv and each point's plots
    (out / "throughput_latency.png").unlink()
    (out / "point_1" / "latency_cdf.png").unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "throughput_latency.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "point_1" / "latency_cdf.png").read_bytes()[:4] == b"\x89PNG"
    for bad in ("workload.arrival.rate", "workload.arrival.rate=1,,2", "workload.arrival.rate=x"):
        assert main(["serve", str(path), "-o", str(out), "--sweep", bad]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("accelsim: error: --sweep: ") or "workload.arrival.rate" in line, line


def test_cli_sweep_of_two_keys_writes_their_product_in_order(tmp_path, capsys, monkeypatch):
    # 'accelsim sweep' cannot sweep a serving file: serve --sweep crosses keys itself, 2 rates × 2 batch limits =
    # 4 points, the first key's values outermost, a column a key in sweep.csv and the table
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(SMALL))
    out = tmp_path / "grid"
    assert main(["serve", str(path), "-o", str(out), "--sweep", "workload.arrival.rate=0.2,0.5",
                 "--sweep", "engine.max_num_seqs=2,4", "--set", "workload.requests=2"]) == 0
    printed = capsys.readouterr().out
    assert "workload.arrival.rate = 0.2, 0.5 × engine.max_num_seqs = 2, 4" in printed
    with open(out / "sweep.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header[:4] == ["value", "workload.arrival.rate", "engine.max_num_seqs", "requests"]
    assert [r[:3] for r in rows] == [["0.2,2", "0.2", "2"], ["0.2,4", "0.2", "4"], ["0.5,2", "0.5", "2"],
                                     ["0.5,4", "0.5", "4"]]
    for i, (rate, seqs) in enumerate([(0.2, 2), (0.2, 4), (0.5, 2), (0.5, 4)]):
        config = json.loads((out / f"point_{i}" / "report.json").read_text())["config"]
        assert (config["workload"]["arrival"]["rate"], config["engine"]["max_num_seqs"]) == (rate, seqs)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("point_")) == [f"point_{i}" for i in range(4)]
    # the curve runs along the rate, a line per batch limit (rows 0, 2 at 2 and 1, 3 at 4), not zigzagging through
    # the grid order; the redraw from sweep.csv reads the key columns as written and draws the same lines
    from accelsim.serving import curve

    drawn = []
    real = curve.plot_curve
    monkeypatch.setattr(curve, "plot_curve", lambda *a, **kw: drawn.append(kw["lines"]) or real(*a, **kw))
    assert main(["plot", str(out)]) == 0
    assert drawn == [[("max_num_seqs=2", [0, 2], "workload.arrival.rate"),
                      ("max_num_seqs=4", [1, 3], "workload.arrival.rate")]]


def test_cli_sweep_names_the_model_labels_ticks_and_shows_ms_and_yes_no(tmp_path, capsys, monkeypatch):
    # the table and the figure were titled by the file's name (which may carry one rate: "llama2_7b_h100_8rps"
    # swept over 2 to 16), the table printed seconds and True/False where the serve summary prints ms and yes/no,
    # and the log axes read "3×10¹" with points below the first labelled tick
    from accelsim.report import serving_plots

    figs = []
    real = serving_plots._save
    monkeypatch.setattr(serving_plots, "_save", lambda plt, fig, path: (figs.append(fig), real(plt, fig, path))[1])
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(SMALL))
    out = tmp_path / "curve"
    assert main(["serve", str(path), "-o", str(out), "--sweep", "workload.arrival.rate=0.2,0.5",
                 "--set", "workload.requests=2"]) == 0
    printed = capsys.readouterr().out
    assert "llama2_7b on h100: workload.arrival.rate = 0.2, 0.5" in printed
    assert "ttft_p50 ms" in printed and "True" not in printed and "False" not in printed
    rows = {r.split(",")[0]: r.split(",") for r in (out / "sweep.csv").read_text().splitlines()}
    header = rows["value"]
    ttft = float(rows["0.2"][header.index("ttft_p50_s")])  # sweep.csv keeps seconds
    # each point's offered load beside what it served: constant arrivals offer their rate itself (probe p56 #6)
    assert [float(rows[v][header.index("offered_requests_per_s")]) for v in ("0.2", "0.5")] == [0.2, 0.5]
    assert f" {ttft * 1e3:,.1f} " in printed  # the table shows them in ms
    (fig,) = [f for f in figs if f.texts and "throughput vs latency" in f.texts[0].get_text()]
    assert fig.texts[0].get_text() == "llama2_7b on h100: throughput vs latency, workload.arrival.rate = 0.2, 0.5"
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_yticklabels()]
        ticks = [float(t.replace(",", "")) for t in labels]  # plain numbers: no "10" with an exponent
        drawn = [y for line in ax.get_lines() for y in line.get_ydata() if y == y]
        assert min(ticks) <= min(drawn) and max(ticks) >= max(drawn)  # every point between labelled ticks


def test_cli_sweep_stopped_keeps_the_curve_of_its_finished_points(tmp_path, capsys, monkeypatch):
    # Ctrl-C during the third point: exit 130 had kept the finished point folders but no sweep.csv, so 'accelsim
    # plot' failed on the folder; a point stopped while it was saved was left half-written
    from accelsim.serving import ServeResult, curve

    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(SMALL))
    out = tmp_path / "curve"
    real = curve.serve

    def ctrl_c_at_third(spec, progress=None):
        if spec.serve.workload.arrival.rate == 1:
            raise KeyboardInterrupt
        return real(spec, progress=progress)

    monkeypatch.setattr(curve, "serve", ctrl_c_at_third)
    assert main(["serve", str(path), "-o", str(out), "--sweep", "workload.arrival.rate=0.2,0.5,1",
                 "--set", "workload.requests=2"]) == 130
    err = capsys.readouterr().err
    assert "kept workload.arrival.rate=0.2,0.5" in err and "not run: 1" in err
    rows = (out / "sweep.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0.2", "0.5"]  # the two points that finished
    assert sorted(p.name for p in out.iterdir()) == ["point_0", "point_1", "sweep.csv", "throughput_latency.png"]
    assert main(["plot", str(out)]) == 0

    # stopped while the second point's plots are drawn: that point is removed whole, the first kept
    drawn = []

    def ctrl_c_at_second_plot(self, outdir):
        drawn.append(outdir)
        if len(drawn) == 2:
            raise KeyboardInterrupt
        return []

    monkeypatch.setattr(curve, "serve", real)
    monkeypatch.setattr(ServeResult, "plot", ctrl_c_at_second_plot)
    out = tmp_path / "curve2"
    assert main(["serve", str(path), "-o", str(out), "--sweep", "workload.arrival.rate=0.2,0.5",
                 "--set", "workload.requests=2"]) == 130
    assert "kept workload.arrival.rate=0.2 in" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["point_0", "sweep.csv", "throughput_latency.png"]
    assert len((out / "sweep.csv").read_text().splitlines()) == 2  # the header and the first point


def test_cost_cache_dir_reuses_a_simulated_grid(tmp_path, monkeypatch, low_load):
    from accelsim.serving import cost

    spec = load_serving({**SMALL, "cost": {**SMALL["cost"], "cache_dir": str(tmp_path)}})
    s = spec.serve
    args = (spec.model, spec.arch, spec.options, s.engine, s.cost, low_load.report["kv_blocks_per_replica"] * 16)
    monkeypatch.setattr(cost, "_CACHE", {})
    first = cost.build_grid(*args)
    (file,) = tmp_path.glob("grid-*.json")
    assert first.to_dict() == low_load.report["iteration_cost"]  # the same grid as the run without a cache

    def boom(*a, **k):
        raise AssertionError("simulated again")

    monkeypatch.setattr(cost, "_CACHE", {})
    monkeypatch.setattr(cost, "simulate_all", boom)
    assert cost.build_grid(*args) == first  # read back from the file
    file.write_text("{not json")
    monkeypatch.setattr(cost, "_CACHE", {})
    with pytest.raises(AssertionError, match="simulated again"):  # a broken file is simulated again
        cost.build_grid(*args)


def test_grid_shapes_from_layer_samples_equal_the_whole_model(monkeypatch):
    # LLaMA-2-7B's 32 identical layers: a grid shape is simulated with 1 and 2 layers and taken affine in the layer
    # count (options.layer_samples, the default); the layers run back to back, so it equals the 32-layer simulation
    from accelsim.serving import cost

    spec = load_serving(SMALL)
    model = engine_model(spec.model, spec.serve.engine)  # the grid's (engine.fused_projections)
    opts = spec.options.model_copy(update={"plots": False})
    seen = []
    real = cost.simulate_pass

    def counting(graph, *a, **k):
        seen.append(graph.name)
        return real(graph, *a, **k)

    for shape_ in (shape(model, phase="prefill", seq_len=256, batch=1),
                   shape(model, phase="decode", kv_len=300, batch=4)):
        seen.clear()
        monkeypatch.setattr(cost, "simulate_pass", counting)
        sampled = simulate_shape(shape_, spec.arch, opts, graphs=True)
        assert len(seen) == 2  # the 1- and 2-layer passes only
        monkeypatch.setattr(cost, "simulate_pass", real)
        whole = simulate_shape(shape_, spec.arch, opts.model_copy(update={"layer_samples": False}), graphs=True)
        assert sampled[0] == pytest.approx(whole[0], rel=1e-9)
        assert sampled[1] == pytest.approx(whole[1], rel=1e-9)


def test_accelsim_serve_stays_the_function_after_the_engine_is_imported(low_load):
    # accelsim.serve is resolved lazily; the engine's package once had the same name, so importing it (as the first
    # call does) rebound accelsim.serve to the package and the second call raised "'module' object is not callable"
    import accelsim
    import accelsim.serving.engine  # noqa: F401

    first = accelsim.serve(load_serving(SMALL))
    second = accelsim.serve(load_serving(SMALL))
    assert callable(accelsim.serve)
    assert first.report["serving"] == second.report["serving"] == low_load.report["serving"]


def test_the_largest_running_batch_of_the_probes_example_is_its_kv_bound(tmp_path):
    # probe p56 #6, its example on the simulated h100: engine.kv_blocks 200 and 512-token prompts in 16-token blocks
    # (32 blocks each) admit 200 // 32 = 6 sequences at most, well below max_num_seqs 64, while 50 requests arriving
    # at 50/s queue; report.json says so without timeseries.csv
    doc = {"name": "base", "model": {"model": "llama2_7b"}, "arch": "h100",
           "engine": {"max_num_seqs": 64, "max_num_batched_tokens": 2048, "max_model_len": 4096, "block_size": 16,
                      "kv_blocks": 200},
           "workload": {"arrival": {"process": "poisson", "rate": 50}, "prompt_tokens": 512, "output_tokens": 128,
                        "requests": 50, "seed": 1}}
    s = api.serve(load_serving(doc)).report["serving"]
    assert s["running_sequences"]["max"] == 200 // (512 // 16) == 6
    assert s["waiting_requests"]["max"] > 0 and s["preemptions"] > 0  # 6 × 34 blocks at 529 tokens overflow 200


def test_a_prompt_between_grid_points_reaches_its_first_token_at_the_grids_interpolation():
    # probe p184 #2: a 700-token prompt alone lies between the prefill grid's 512 and 1,024 tokens (cost.token_ratio 2,
    # the default), so its TTFT is the line between the two simulated prefills, P(512) + 188/512 · (P(1024) − P(512)),
    # not the simulated prefill of 700 tokens: the GEMMs pad M to 128-row tiles, so the prefill's time is a staircase
    # (700 tokens run as 768) above that line. docs/serving.md's Checks claim TTFT = the simulated prefill at a grid
    # length only, and between grid points the interpolation error its "Interpolation error" states (one-sequence
    # prefills: max 12.5 %)
    s700 = {**SMALL, "engine": {"max_num_seqs": 4, "max_num_batched_tokens": 1024, "max_model_len": 2048},
            "cost": {"batch_ratio": 4, "kv_points": 2},
            "workload": {**SMALL["workload"], "requests": 1, "prompt_tokens": {"dist": "fixed", "value": 700},
                         "output_tokens": {"dist": "fixed", "value": 2}}}
    spec = load_serving(s700)
    res = api.serve(spec)
    grid = res.report["iteration_cost"]
    assert grid["prefill_tokens"][-3:] == [256, 512, 1024]
    p512, p1024 = grid["prefill_s"][-2:]
    ttft = res.report["serving"]["ttft_s"]["p50"]
    assert ttft == pytest.approx(p512 + 188 / 512 * (p1024 - p512), rel=1e-12)
    model = engine_model(spec.model, spec.serve.engine)
    opts = spec.options.model_copy(update={"plots": False})
    direct = {n: simulate_seconds(shape(model, phase="prefill", seq_len=n, batch=1), spec.arch, opts, graphs=True)
              for n in (512, 700, 768)}
    assert direct[512] == pytest.approx(p512, rel=1e-9)  # a grid point is the simulated prefill
    assert direct[700] > ttft  # the staircase: 700 tokens cost more than the line gives them
    assert direct[700] <= direct[768]  # 700 tokens pad to 768 (6 tiles of 128), and cost no more than 768
    assert abs(ttft / direct[700] - 1) < 0.125  # the documented bound between grid points


def test_a_mixed_iteration_on_the_real_grid_costs_at_least_its_decodes_alone():
    # probe p184 #1 on llama2_7b h100's own passes: 127 decodes at KV 700 with a 1-token prompt beside them cost at
    # least the 127 decodes alone, and at most 128 decodes at KV 700 (the prompt's one token attends to one key, a
    # decode's to 700): before, the mixed iteration was priced 25.08 ms, 2.29 ms (8.4 %) below the 27.36 ms of the decodes alone
    from accelsim.serving.cost import build_grid

    spec = load_serving({**SMALL, "engine": {"max_num_seqs": 128, "max_num_batched_tokens": 512,
                                             "max_model_len": 1024},
                         "cost": {"batch_ratio": 128, "kv_points": 2, "token_ratio": 8}})
    g = build_grid(spec.model, spec.arch, spec.options, spec.serve.engine, spec.serve.cost, 128 * 1024)
    assert g.decode_batches == [1, 128] and g.prefill_tokens == [16, 128, 512]
    alone, more = g.iteration(0, 127, 127 * 700), g.iteration(0, 128, 128 * 700)
    assert alone < g.iteration(1, 127, 127 * 700, 1) <= more
    # 15 decodes at KV 528 and a 22-token prompt (the probe's batch-16 run) against the 15 and the 16 decodes alone
    assert g.iteration(0, 15, 15 * 528) < g.iteration(22, 15, 15 * 528, 22 * 22)
    for b in (1, 4, 16, 64, 127):
        for kv in (16, 300, 1000):
            for p in (1, 22, 128, 500):
                if b + p <= 512 and b * kv <= 128 * 1024:
                    assert g.iteration(p, b, b * kv, p * p) >= g.iteration(0, b, b * kv), (p, b, kv)
