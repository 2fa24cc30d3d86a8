"""``accelsim run`` output: the Chrome trace of a GPU preset (launch tasks), a re-run into a used folder, and
stdout that is not a terminal (captured here, as a pipe or a file would be)."""

from __future__ import annotations

import json

import pytest

from accelsim import simulate
from accelsim.cli import main
from accelsim.report.result import known_output_files
from accelsim.tasks import UnitKind

A100_CLOCK_HZ = 1.41e9  # arch/a100.yaml: clock 1410 MHz
A100_LAUNCH_S = 21e-6  # arch/a100.yaml: kernel_launch 21 us (LLMCompass's matmul launch overhead)


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_trace_of_a_gpu_preset_puts_launches_on_the_host_track(tmp_path, capsys):
    code, _, err = _run(capsys, "run", "--workload", "gemm", "--arch", "a100", "--trace", "-o", str(tmp_path),
                        "--no-plots", "-q")
    assert code == 0 and err == "", err
    assert {"report.json", "ops.csv", "trace.json", "report.html"} <= {p.name for p in tmp_path.iterdir()}
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    tracks = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    launches = [e for e in events if e["ph"] == "X" and e["cat"] == "launch"]
    assert len(launches) == 1  # one op (the GEMM), one kernel launch
    # the track is the unit the mapper made for the host, the one that launches kernels
    tg = simulate("gemm", "a100").segments[0][0]
    host = [i for i, u in enumerate(tg.units) if u.kind is UnitKind.HOST]
    assert [e["tid"] for e in launches] == host and tracks[host[0]] == tg.units[host[0]].name
    assert launches[0]["name"] == "gemm launch" and launches[0]["args"]["kind"] == "launch"
    # 21 us at 1.41 GHz = 29,610 cycles, shown in microseconds
    assert launches[0]["args"]["cycles"] == round(A100_LAUNCH_S * A100_CLOCK_HZ) == 29_610
    assert launches[0]["dur"] == pytest.approx(21.0)
    report = json.loads((tmp_path / "report.json").read_text())
    # every task on a unit is a slice (a kernel's DISPATCH latency and JOINs take no unit: no track to draw on)
    assert report["simulation"]["tasks"] == len(tg.tasks)
    assert sum(e["ph"] == "X" for e in events) == sum(1 for t in tg.tasks if t.unit >= 0)


def test_a_rerun_removes_what_the_last_run_wrote_and_it_does_not(tmp_path, capsys):
    out = tmp_path / "out"
    # a folder an earlier run wrote (probe p132 #2: a run refuses a folder of other files no accelsim command wrote)
    code, _, err = _run(capsys, "run", "--workload", "lenet5", "--arch", "gemmini", "-o", str(out), "--no-plots", "-q")
    assert code == 0, err
    stale = ["trace.json", "op_cycles.png", "roofline.png", "utilization.png", "bytes_per_level.png"]
    assert set(stale) <= set(known_output_files())
    for name in stale:
        (out / name).write_text("from an earlier run")
    mine = ["notes.txt", "my_plot.png", "trace.json.bak"]  # not accelsim's output names: left alone
    for name in mine:
        (out / name).write_text("the user's")
    (out / "sub").mkdir()
    code, _, err = _run(capsys, "run", "--workload", "lenet5", "--arch", "gemmini", "-o", str(out), "--no-plots", "-q")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(["ops.csv", "report.html", "report.json", "sub", *mine])
    assert all((out / name).read_text() == "the user's" for name in mine)
    # and a run with a trace keeps its trace beside the new report
    code, _, err = _run(capsys, "run", "--workload", "lenet5", "--arch", "gemmini", "-o", str(out), "--no-plots", "-q",
                        "--trace")
    assert code == 0 and json.loads((out / "trace.json").read_text())["traceEvents"]


def test_an_output_folder_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    code, out, err = _run(capsys, "run", "--workload", "lenet5", "--arch", "gemmini", "-o", str(tmp_path / "taken"),
                          "--no-plots")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_output_that_is_not_a_terminal_is_not_cut(tmp_path, capsys):
    code, out, err = _run(capsys, "run", "--workload", "resnet18", "--arch", "tpu-v1", "--mode", "training",
                          "--batch", "4", "--set", "workload.optimizer=momentum", "-o", str(tmp_path), "--no-plots")
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    lines = out.splitlines()
    assert max(map(len, lines)) > 80  # rich's width for a pipe would have cut these
    assert "…" not in out  # nothing ellipsised
    total = next(line for line in lines if "total cycles" in line)
    assert f"{report['total_cycles']:,}" in total
    # every top op on one line with its full name and its busy cycles, however long the name
    top = sorted(report["ops"], key=lambda op: -op["compute_cycles"])[:10]
    assert max(len(op["name"]) for op in top) >= 20  # e.g. "layer1.1.conv2.grad_weight"
    for op in top:
        assert any(f" {op['name']} " in line and f" {op['compute_cycles']:,} " in line for line in lines), op["name"]


def test_plot_takes_a_report_json_and_refuses_another_file(tmp_path, capsys):
    # 'accelsim plot DIR/report.json' drew into DIR/report.json as a folder ("cannot write or read ...: File
    # exists"); 'compare DIR/ops.csv' told the user to run 'accelsim run ... -o DIR/ops.csv'
    out = tmp_path / "out"
    assert _run(capsys, "run", "-w", "lenet5", "-a", "gemmini", "-o", str(out), "--no-plots", "-q")[0] == 0
    code, printed, err = _run(capsys, "plot", str(out / "report.json"))
    assert code == 0 and err == ""
    assert (out / "roofline.png").read_bytes()[:4] == b"\x89PNG" and str(out / "roofline.png") in printed
    code, _, err = _run(capsys, "plot", str(out / "ops.csv"))
    assert code == 2 and err == f"accelsim: error: {out / 'ops.csv'}: a file; give the folder 'accelsim run', " \
                                f"'sweep' or 'serve' wrote ('accelsim plot {out}')\n"
    code, _, err = _run(capsys, "compare", str(out / "ops.csv"))
    assert code == 2 and err == f"accelsim: error: {out / 'ops.csv'}: not a report: give the report folder " \
                                f"({out}) or its report.json\n"


def test_a_mistyped_command_gets_a_did_you_mean(capsys):
    code, _, err = _run(capsys, "rn", "resnet50_tpu_v1")
    assert code == 2 and "unknown command 'rn'; did you mean 'run'?" in err
    with pytest.raises(SystemExit) as e:  # nothing close: argparse's own error
        main(["xyz"])
    assert e.value.code == 2 and "invalid choice: 'xyz'" in capsys.readouterr().err
    code, out, err = _run(capsys, "--debug", "serv", "x.yaml")
    assert code == 2 and out == ""
    assert err == ("accelsim: error: unknown command 'serv'; did you mean 'serve'? (commands: run, sweep, serve, info, "
                   "list, plot, compare)\n")


def test_sweep_of_an_experiment_or_a_serving_file_names_the_command_to_use(capsys):
    # the reverse of 'accelsim run' on a sweep file: one line, not three "unknown key" lines (workload, arch,
    # options) and two about a missing base: and axes
    code, _, err = _run(capsys, "sweep", "resnet50_tpu_v1")
    assert code == 2 and err == ("accelsim: error: experiments/resnet50_tpu_v1.yaml: this is an experiment, not a sweep "
                                 "(it has no grid:/zip: axes); run it with 'accelsim run resnet50_tpu_v1'\n")  # as named
    code, _, err = _run(capsys, "sweep", "experiments/serving/llama2_7b_h100.yaml")
    assert code == 2 and err == ("accelsim: error: experiments/serving/llama2_7b_h100.yaml: this is a serving file (its "
                                 "workload has arrivals); run it with 'accelsim serve experiments/serving/"
                                 "llama2_7b_h100.yaml'\n")
