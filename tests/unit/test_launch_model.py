"""The launch and dispatch model: the host issues kernels ahead of the device (eager: one launch each; CUDA
graphs: one per pass), a kernel starts a dispatch latency after its launch and its inputs, and report.json says
how much of the run was launch-bound. Every expected figure is written out from the model's definition."""

from __future__ import annotations

import pytest
from rich.console import Console

from accelsim import __version__, simulate
from accelsim.config import load_workload
from accelsim.engine import simulate as run_engine
from accelsim.hardware import Arch
from accelsim.ir import Graph
from accelsim.mapping import lower
from accelsim.options import Options
from accelsim.report import build_report
from accelsim.report.console import summary_table
from accelsim.scenarios.serving import pass_options
from accelsim.tasks import Task, TaskGraph, TaskKind, Unit, UnitKind

from ..conftest import relu_op

US = 1000  # cycles per microsecond at the test arch's 1 GHz clock


def _gpu(**launch):
    return Arch.model_validate({
        "name": "gpu", "clock": "1GHz", "dtype": "fp16", "cores": 4,
        "core": {"systolic": {"rows": 16, "cols": 16, "dataflow": "os"}, "vector": {"lanes": 64},
                 "sram": {"unified": "192KiB"}, "tile": {"m": 64, "n": 64}},
        "hbm": {"capacity": "16GiB", "bandwidth": "inf"}, **launch,
    })


def _chain(n: int, elems: int = 1 << 20) -> Graph:
    """n element-wise ops, each reading the previous one's output."""
    ops, prev = [], "x"
    for i in range(n):
        ops.append(relu_op(f"r{i}", prev, (elems,), "fp16"))
        prev = f"r{i}"
    return Graph("chain", ops, {"x": (elems,)})


def _run(graph: Graph, arch: Arch, **options) -> dict:
    tg = lower(graph, arch, Options(**options))
    return build_report(graph, arch, tg, run_engine(tg), name="t", workload={}, version=__version__)


def _device_cycles() -> int:
    """One op's device time with no launch costs; a chain of them runs back to back."""
    one = _run(_chain(1), _gpu())["total_cycles"]
    assert _run(_chain(4), _gpu())["total_cycles"] == 4 * one
    return one


def test_eager_host_slower_than_the_device_bounds_the_run():
    d = _device_cycles()
    launch = 2 * d  # each kernel's launch takes longer than the kernel: the host is the bottleneck
    rep = _run(_chain(4), _gpu(kernel_launch=f"{launch}ns"))
    # the host issues launch i at (i+1)·L; kernel i runs from then for d: the last ends at 4·L + d
    assert rep["total_cycles"] == 4 * launch + d
    # with free launches the four kernels run back to back, 4·d: the launches add 4·L + d − 4·d (the critical
    # path holds all four launches, 4·L, but the device would not have finished sooner than 4·d without them)
    added = 4 * launch + d - 4 * d
    assert rep["launch_overhead_s"] == pytest.approx(added * 1e-9)
    assert rep["launch_bound_fraction"] == pytest.approx(added / (4 * launch + d))
    assert rep["execution"] == "eager"


def test_eager_host_faster_than_the_device_exposes_only_the_first_launch():
    d = _device_cycles()
    launch = d // 4  # the host runs ahead: only the first launch is on the critical path
    rep = _run(_chain(4), _gpu(kernel_launch=f"{launch}ns"))
    assert rep["total_cycles"] == launch + 4 * d
    assert rep["launch_overhead_s"] == pytest.approx(launch * 1e-9)


def test_cuda_graph_pays_one_graph_launch_and_a_dispatch_per_kernel():
    d = _device_cycles()
    arch = _gpu(kernel_launch="50us", graph_launch="3us", kernel_dispatch="1us")
    rep = _run(_chain(4), arch, execution="cuda_graph")
    # one 3 µs graph launch, then each kernel 1 µs after its producer (the eager 50 µs is not paid)
    assert rep["total_cycles"] == 3 * US + 4 * (1 * US + d)
    assert rep["launch_overhead_s"] == pytest.approx((3 + 4 * 1) * 1e-6)
    assert rep["execution"] == "cuda_graph"
    eager = _run(_chain(4), arch, execution="eager")  # 50 µs per kernel ≫ d: launch-bound, plus the last dispatch
    assert eager["total_cycles"] == 4 * 50 * US + 1 * US + d
    assert _run(_chain(4), arch)["total_cycles"] == eager["total_cycles"]  # auto is eager outside serving


def test_step_overhead_precedes_the_first_kernel():
    d = _device_cycles()
    rep = _run(_chain(2), _gpu(graph_launch="3us"), execution="cuda_graph", step_overhead="20us")
    assert rep["total_cycles"] == 20 * US + 3 * US + 2 * d
    assert rep["launch_bound_fraction"] == pytest.approx(23 * US / (23 * US + 2 * d))


def test_an_arch_without_launch_times_has_no_host_and_reports_none():
    rep = _run(_chain(2), _gpu())
    assert "launch" not in rep["utilization"] and rep["execution"] == "none"
    assert rep["launch_overhead_s"] == 0 and rep["launch_bound_fraction"] == 0


def test_dispatch_tasks_take_no_unit_so_they_overlap():
    # two independent 5-cycle dispatches after one 10-cycle compute, each followed by a 7-cycle compute on its
    # own unit: both computes start at 10 + 5 = 15 and end at 22 (no unit serialises the dispatches)
    units = (Unit("a", UnitKind.COMPUTE), Unit("b", UnitKind.COMPUTE))
    tasks = (Task(0, 0, TaskKind.COMPUTE, 0, 10), Task(1, 0, TaskKind.DISPATCH, -1, 5, (0,)),
             Task(2, 0, TaskKind.DISPATCH, -1, 5, (0,)), Task(3, 0, TaskKind.COMPUTE, 0, 7, (1,)),
             Task(4, 0, TaskKind.COMPUTE, 1, 7, (2,)))
    trace = run_engine(TaskGraph(tasks, units, ()))
    assert list(trace.start) == [0, 10, 10, 15, 15] and list(trace.end) == [10, 15, 15, 22, 22]


def test_negative_step_overhead_is_rejected():
    with pytest.raises(ValueError, match="step_overhead"):
        Options(step_overhead="-1us")


def test_serving_runs_decode_steps_as_cuda_graphs_by_default():
    assert pass_options(Options(), "decode").execution == "cuda_graph"
    assert pass_options(Options(), "prefill").execution == "eager"
    assert pass_options(Options(execution="eager"), "decode").execution == "eager"
    spec = load_workload("llama2_7b", ["seq_len=16", "decode_steps=2"])
    graph_mode = simulate(spec, "h100").to_dict()
    assert graph_mode["execution"] == "prefill eager, decode cuda_graph"
    eager = simulate(spec, "h100", execution="eager").to_dict()
    assert eager["execution"] == "prefill eager, decode eager"
    # eager decode: the host issues every kernel at 21 µs (h100.yaml), so a step takes at least kernels × 21 µs
    kernels = sum(1 for op in eager["ops"] if op.get("phase") == "decode" and op["unit"] != "none")
    assert eager["serving"]["tpot_s"] >= kernels * 21e-6
    # launch_overhead_s is the time the launches add: the run with free launches and dispatches is that much shorter
    # (a replay of the run's schedule, so within a few per cent of a re-simulation, which may reorder the device)
    free = simulate(spec, {"base": "h100", "kernel_launch": "0us", "kernel_dispatch": "0us", "graph_launch": "0us"},
                    execution="eager").to_dict()
    assert eager["launch_overhead_s"] == pytest.approx(eager["seconds"] - free["seconds"], rel=0.05)
    # under graphs the 3.5 µs graph launch replaces the launches: decode is no longer launch-bound
    assert graph_mode["serving"]["tpot_s"] < 0.6 * eager["serving"]["tpot_s"]
    assert graph_mode["launch_bound_fraction"] == pytest.approx(
        graph_mode["launch_overhead_s"] / graph_mode["seconds"])
    console = Console(width=200, record=True)
    console.print(summary_table(graph_mode))
    assert "launch-bound" in console.export_text()


def _fanout(n: int, elems: int = 1 << 20) -> Graph:
    """n element-wise ops that all read the graph input: independent kernels."""
    return Graph("fan", [relu_op(f"r{i}", "x", (elems,), "fp16") for i in range(n)], {"x": (elems,)})


def test_kernels_of_one_stream_run_one_after_another():
    """CUDA runs the kernels issued to one stream in issue order, each after the one before completes (PyTorch's
    default stream; a graph captured from it keeps that order). Four independent kernels on infinite bandwidth:
    in stream order the pass is four kernels back to back, each a dispatch latency after the one before, as a
    chain of four dependent kernels is; in dataflow order they overlap."""
    d = _device_cycles()
    disp = 2 * US
    arch = _gpu(kernel_dispatch=f"{disp}ns")
    stream = _run(_fanout(4), arch, execution="cuda_graph")
    flow = _run(_fanout(4), arch, execution="cuda_graph", kernel_order="dataflow")
    # as long as four dependent kernels (each the kernel and its dispatch), and as long in dataflow order
    chain = _run(_chain(4), arch, execution="cuda_graph")["total_cycles"]
    assert stream["total_cycles"] == chain >= 4 * (d + disp)
    assert _run(_chain(4), arch, execution="cuda_graph", kernel_order="dataflow")["total_cycles"] == chain
    ops = [o for o in stream["ops"] if o["unit"] != "none"]
    for a, b in zip(ops, ops[1:], strict=False):
        assert b["start_cycle"] >= a["end_cycle"]  # none starts before the one before it ends
    assert flow["total_cycles"] < stream["total_cycles"]  # they overlap (sharing the four cores)
    # an arch with no dispatch latency (not a GPU) keeps dataflow order whatever the option says
    assert _run(_fanout(4), _gpu())["total_cycles"] == _run(_fanout(4), _gpu(), kernel_order="dataflow")[
        "total_cycles"]


def test_a_data_parallel_gradient_all_reduce_overlaps_the_backward_pass_in_stream_order():
    """DDP and Megatron reduce a gradient on NCCL's own stream as soon as it is ready, so in stream order the
    reductions overlap the rest of the backward pass: the step takes less than its compute (the same step on one
    data-parallel rank) plus every reduction one after another."""
    wl = {"model": "gpt2", "mode": "training", "seq_len": 128}
    one = simulate(wl, {"base": "dgx-a100", "chips": 1}, options={"execution": "cuda_graph"},
                   plots=False).to_dict()
    dp = simulate(wl, "dgx-a100", options={"execution": "cuda_graph"}, plots=False).to_dict()
    reduce_s = sum(o["mapping"].get("all_reduce_s", 0.0) for o in dp["ops"])
    assert reduce_s > 0.1 * one["seconds"]  # the reductions are a sizeable share of the step
    assert dp["seconds"] < one["seconds"] + 0.9 * reduce_s


def test_report_says_the_kernel_order():
    d = 2 * US
    arch = _gpu(kernel_dispatch=f"{d}ns")
    assert _run(_fanout(2), arch)["kernel_order"] == "stream"
    assert _run(_fanout(2), arch, kernel_order="dataflow")["kernel_order"] == "dataflow"
    assert _run(_fanout(2), _gpu())["kernel_order"] == "none"  # no dispatch latency: no GPU kernels to order


def test_an_ops_span_is_its_time_on_the_device_not_its_launch():
    """The host issues eager launches ahead of a busy device; an op's start_cycle is when the device starts it,
    not when the host issued it. Host faster than the device (launch L = d/4): launch 1 ends at L and kernel i
    runs from L + i·d to L + (i+1)·d, while the host issued launch i at i·L."""
    d = _device_cycles()
    launch = d // 4
    rep = _run(_chain(4), _gpu(kernel_launch=f"{launch}ns"))
    spans = [(o["start_cycle"], o["end_cycle"]) for o in rep["ops"]]
    assert spans == [(launch + i * d, launch + (i + 1) * d) for i in range(4)]


def test_a_training_step_runs_its_kernels_and_phases_one_after_another():
    """PyTorch runs a training step's kernels on one stream: no kernel starts before the one before it ends
    (stream order), so the forward, backward and optimizer phases do not overlap, even where the host's eager
    launches run ahead of the device, and even after a reduction (the cross-entropy loss) whose last tile groups
    store nothing."""
    # 4,096 tokens: the loss reads 4,096 rows of logits in many tile groups, and only one stores its scalar output
    rep = simulate({"model": "gpt2", "mode": "training", "seq_len": 256, "batch": 16}, "h100", plots=False).to_dict()
    assert rep["execution"] == "eager" and rep["kernel_order"] == "stream"
    ops = [o for o in rep["ops"] if o["unit"] != "none"]
    assert "loss" in [o["name"] for o in ops]
    for a, b in zip(ops, ops[1:], strict=False):
        assert b["start_cycle"] >= a["end_cycle"], (a["name"], b["name"])
    ph = rep["phases"]
    assert ph["forward"]["end_cycle"] <= ph["backward"]["start_cycle"]
    assert ph["backward"]["end_cycle"] <= ph["optimizer"]["start_cycle"]



def test_a_collective_is_a_kernel_launched_and_dispatched_as_any_other():
    from accelsim.cost import collective

    arch = _gpu(kernel_launch="50us", graph_launch="3us", kernel_dispatch="1us", chips=2,
                interconnect={"bandwidth": "100GB/s", "latency": "2us"})
    import dataclasses

    from accelsim.builders import build_workload

    # the collective micro-workload stands for one call of nccl-tests' back-to-back loop (its launch overlapped,
    # reported apart as launch_s); without that attr its op is an ordinary collective kernel (a TP all-reduce's)
    built = build_workload("collective", {"op": "all_reduce", "bytes": 1 << 20})
    link = collective.call(arch, "all_reduce", 1 << 20, 2).cycles(arch.clock_hz)
    steady = simulate(built, arch).to_dict()
    assert steady["total_cycles"] == link and steady["launch_overhead_s"] == 0.0
    assert steady["ops"][0]["mapping"]["launch_s"] == pytest.approx(51e-6)
    work = Graph(built.name, [dataclasses.replace(op, attrs={k: v for k, v in op.attrs.items() if k != "back_to_back"})
                              for op in built.ops], built.inputs, meta=built.meta)
    # eager: NCCL's kernel is launched by the host (50 µs) and dispatched (1 µs) before it moves a byte
    eager = simulate(work, arch).to_dict()
    assert eager["total_cycles"] == 50 * US + 1 * US + link
    assert eager["launch_overhead_s"] == pytest.approx(51e-6)
    # CUDA graph: one graph launch (3 µs), then the dispatch
    graph = simulate(work, arch, execution="cuda_graph").to_dict()
    assert graph["total_cycles"] == 3 * US + 1 * US + link


def test_an_op_run_in_its_producers_kernel_is_neither_launched_nor_dispatched():
    import dataclasses

    d = _device_cycles()
    launch = 2 * d  # host-bound, as above
    chain = _chain(4)
    ops = list(chain.ops)
    ops[1] = dataclasses.replace(ops[1], attrs={**ops[1].attrs, "in_kernel_of": "r0"})  # r0's kernel writes r1
    rep = _run(Graph("chain", ops, chain.inputs), _gpu(kernel_launch=f"{launch}ns"))
    # three launches at L, 2L, 3L: r0 runs L..L + d, r1 right after it (no launch) to L + 2d = 2L, r2 from its
    # launch at 2L, r3 from 3L to 3L + d (four launches: 4L + d)
    assert rep["total_cycles"] == 3 * launch + d
    # with free launches the four kernels' work runs back to back (4·d): the three launches add 3L + d − 4d
    assert rep["launch_overhead_s"] == pytest.approx((3 * launch + d - 4 * d) * 1e-9)
    # under CUDA graphs the dispatch latency goes too: one graph launch, three dispatches, four kernels' work
    arch = _gpu(graph_launch="3us", kernel_dispatch="1us")
    assert _run(Graph("chain", ops, chain.inputs), arch, execution="cuda_graph")["total_cycles"] == \
        3 * US + 3 * (1 * US) + 4 * d
