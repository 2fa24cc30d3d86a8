"""The GPU presets against published kernel figures of GPUs and kernels no preset was built on (a carry-over check).

    python benchmarks/published_figures.py [--only GLOB]

Each point is a figure a paper, blog, maintainer or public benchmark table published, with its source
(benchmarks/data/published_figures.yaml); accelsim runs the same micro-workload on the preset and prints its figure
beside it. Nothing else here was used to set a preset: these are the checks the held-out measurements will make, on
the points that are public. "point" rows compare a measured value; "up to" rows give a published best case (the
kernel's peak over its benchmark sweep), which accelsim should approach from below, not exceed; "range" rows give a
measured spread (error 0 inside it, else the distance to the nearer end). Three constants WERE chosen on rows here
and are named so: the FlashAttention rows' published peak utilizations are the ``mma_utilization`` of the flash3 and
trtllm_gen kernels (accelsim/cost/attention.py), so those rows check only that the rest of the kernel model keeps the
result under the published best; and h100's ``core.systolic.warp_mma`` reproduces the row "H100 FA2 fwd b2 s8192
h16 d128 (FA3 paper)" exactly, so only the other FA2 points check it. Device figures: each workload runs as a CUDA
graph and its kernels' replay time is taken (``seconds`` - ``launch_overhead_s`` + ``kernel_dispatch_s``,
validate.py's "replay": a call of two kernels, a quantize then a GEMM, counts both, as the sources' CUDA-event
timings do); collectives give NCCL's bus bandwidth, 2 (n - 1) / n x bytes / time. An attention entry whose ``library`` is one of accelsim's FlashAttention kernels
(flash2, flash2_dense, flash3, trtllm_gen) runs on that kernel (:func:`kernel_arch`): FlashAttention-2 timed on an H100
is compared with the flash2 model (flash2_dense for flash_attn_func's dense entry, the FA3 paper's benchmark), not
the preset's default flash3.
The summary gives, per (arch, kernel), the count and mean absolute error of the "point" rows, how many "up to" rows
accelsim exceeds and how many "range" rows it misses.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import sys
from collections import defaultdict
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accelsim import api  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "published_figures.yaml"
UNITS = {"tflops": "TFLOPS", "busbw": "GB/s", "seconds": "s", "gbps": "GB/s", "wall_seconds": "s",
         "iterations_per_s": "it/s"}


def load(path: Path = DATA) -> list[dict]:
    """The published figures, one dict per entry (the YAML's fields)."""
    with open(path) as f:
        return yaml.safe_load(f)


# How a source's benchmark harness leaves the L2, by name (an entry's optional ``harness``; without one the inputs
# start in main memory, as after a harness's L2 flush or when the source does not say).
HARNESSES = {
    # triton.testing.do_bench_cudagraph (triton-lang/triton python/triton/testing.py): replays n_repeat unrolled
    # calls on the same tensors in one CUDA graph and, unlike do_bench, never flushes the L2 ("the same method
    # used in `do_bench` (minus the L2 cache flush)"); vLLM's benchmarks/kernels/bench_fp8_gemm.py times with it,
    # on one activation a and one weight b. So the inputs and the one weight start in the L2 where they fit.
    "do_bench_cudagraph": {"warm_inputs": True, "warm_params": 1},
    # torch.utils.benchmark Timer.blocked_autorange (vLLM's benchmarks/cutlass_benchmarks/w8a8_benchmarks.py): eager
    # calls on the same tensors back to back, no L2 flush; the host's launches overlap kernels of tens of us, so
    # the device time is compared
    "torch_timer": {"warm_inputs": True, "warm_params": 1},
    # a benchmark that runs the kernel back to back for seconds on the same buffers (the Azure AI Benchmarking
    # Guide's cublaslt_gemm: 10,000 warm-up and 1,000 timed iterations): the inputs stay in the L2 where they fit,
    # and the GPU runs at its power limit, so the run takes the first-order TDP throttle (options.throttle_to_tdp:
    # a run whose average power exceeds the arch's TDP runs again at the clock that meets it)
    "sustained": {"warm_inputs": True, "warm_params": 1, "throttle_to_tdp": True},
}


def kernel_arch(entry: dict):
    """The preset an entry runs on: its ``arch``, with the attention kernel its ``library`` names when that is one of
    accelsim's FlashAttention kernels (accelsim.cost.attention.FLASH) other than the preset's own: a source that
    timed FlashAttention-2 on an H100 (whose preset runs vLLM's FlashAttention-3) is compared with flash2; and at
    the entry's ``sm_clock`` when the source locked the SM clock (``nvidia-smi --lock-gpu-clocks``): the preset's
    ``clock`` is that one, so the cores' cycles take that long while what the preset gives in seconds or bytes per
    second (memory bandwidths and latencies, the kernel dispatch) stays as it is."""
    from validation.jobs import load_preset  # benchmarks/validation: the "|kernel=" override validate.py uses

    from accelsim.cost.attention import FLASH
    from accelsim.units import parse_frequency

    library = entry.get("library")
    ref = entry["arch"]
    if entry["workload"]["model"] == "attention" and library in FLASH \
            and load_preset(ref).core.attention_kernel != library:
        ref = f"{ref}|kernel={library}"
    if "sm_clock" not in entry:
        return ref if "|" not in ref else load_preset(ref)
    return load_preset(ref).model_copy(update={"clock": parse_frequency(entry["sm_clock"])})


def figure(arch, workload: dict, metric: str, harness: str | None = None) -> float:
    """accelsim's TFLOPS (2 x MACs / device seconds), NCCL bus bandwidth (GB/s) or kernel seconds for one point,
    timed as ``harness`` (a :data:`HARNESSES` name) leaves the L2, else from main memory; ``wall_seconds``: a whole
    eager PyTorch run's time, host launches included (a pipeline timed end to end, e.g. diffusers');
    ``iterations_per_s``: its inverse, for one denoising step (diffusers' it/s)."""
    if metric in ("wall_seconds", "iterations_per_s"):  # eager PyTorch timed end to end (or its inverse)
        options = {"execution": "eager", **(HARNESSES[harness] if harness else {})}
        seconds = float(api.simulate(workload, arch, options=options, plots=False).to_dict()["seconds"])
        return seconds if metric == "wall_seconds" else 1 / seconds
    # the kernels back to back on the device, as CUDA-event or profiler timings of a call see them: a CUDA graph's
    # replay less its host launch (validate.py's "replay"; a multi-kernel call, a quantize then a GEMM, counts both)
    options = {"execution": "cuda_graph", **(HARNESSES[harness] if harness else {})}
    r = api.simulate(workload, arch, options=options, plots=False).to_dict()
    seconds = r["seconds"] - r["launch_overhead_s"] + r["kernel_dispatch_s"]
    if metric == "seconds":
        return seconds
    if metric == "busbw":
        chips = int(r.get("chips") or 8)
        return 2 * (chips - 1) / chips * workload["bytes"] / seconds / 1e9
    if metric == "gbps":
        return attention_bytes(workload) / seconds / 1e9
    return r["flops"] / seconds / 1e12


def attention_bytes(w: dict) -> int:
    """The bytes an attention kernel's bandwidth figure counts (FlashMLA's tests/test_flash_mla.py: the K/V cache, the
    queries and the output, once each): K and V (one tensor with ``shared_kv``), q and the output, in the dtype."""
    from accelsim.units import dtype_bytes

    b, heads, kv_heads = w.get("batch", 1), w.get("heads", 32), w.get("kv_heads", 32)
    q_len, kv_len, d = w.get("q_len", 512), w.get("kv_len", 512), w.get("head_dim", 128)
    dv = w.get("v_head_dim") or d
    kv = b * kv_heads * kv_len * (d if w.get("shared_kv") else d + dv)
    return (kv + b * heads * q_len * (d + dv)) * dtype_bytes(w.get("dtype", "bf16"))


def error(entry: dict, value: float) -> float:
    """Relative error of accelsim's figure: against the value, or against the nearer end of a range (0 inside)."""
    if entry["kind"] == "range":
        low, high = entry["low"], entry["high"]
        return 0.0 if low <= value <= high else value / (low if value < low else high) - 1
    return value / entry["value"] - 1


def kernel(entry: dict) -> str:
    """The summary's kernel group: gemm and its dtype, prefill or decode attention and the attention kernel the
    entry names (``library``), or the collective's op."""
    workload = entry["workload"]
    if workload["model"] == "attention":
        phase = "attn-decode" if workload.get("q_len", 512) == 1 else "attn-prefill"
        if workload.get("shared_kv"):  # DeepSeek's latent attention (FlashMLA: one or two query tokens)
            phase = "attn-mla-decode"
        from accelsim.cost.attention import FLASH

        return f"{phase} {entry['library']}" if entry.get("library") in FLASH else phase
    if workload["model"] == "collective":
        return workload["op"]
    if workload["model"] != "gemm":  # a whole model timed end to end (wall_seconds)
        return workload["model"]
    return f"gemm {workload.get('dtype', 'bf16')}"  # the held-out goals differ by dtype (bf16 10 %, fp8 15 %)


def published(entry: dict) -> str:
    if entry["kind"] == "range":
        return f"{entry['low']:g}-{entry['high']:g}"
    return f"{entry['value']:.0f}" if entry["value"] >= 10 else f"{entry['value']:.3g}"


def summary(rows: list[tuple[dict, float, float]]) -> None:
    """Per (arch, kernel): point rows and their mean |error|, up-to rows exceeded, range rows missed."""
    groups: dict[tuple[str, str], list[tuple[dict, float]]] = defaultdict(list)
    for entry, _, err in rows:
        groups[(entry["arch"], kernel(entry))].append((entry, err))
    print(f"\n{'arch':9s} {'kernel':25s} {'points':>6s} {'MAE':>7s} {'up to':>6s} {'exceeded':>8s} {'range':>6s} "
          f"{'missed':>6s}")
    for (arch, kind), items in sorted(groups.items()):
        points = [abs(e) for entry, e in items if entry["kind"] == "point"]
        upto = [e for entry, e in items if entry["kind"] == "up to"]
        ranges = [e for entry, e in items if entry["kind"] == "range"]
        mae = f"{100 * sum(points) / len(points):6.1f}%" if points else f"{'-':>7s}"
        print(f"{arch:9s} {kind:25s} {len(points):6d} {mae} {len(upto):6d} {sum(e > 0 for e in upto):8d} "
              f"{len(ranges):6d} {sum(e != 0 for e in ranges):6d}")


SECTION = "## Published figures on unseen GPUs"


def write_markdown(path: Path, text: str) -> None:
    """Replace the first fenced block after :data:`SECTION` in ``path`` (docs/validation.md) with ``text``: the
    table as printed, without the source lines (the YAML keeps them)."""
    doc = path.read_text()
    start = doc.index("```\n", doc.index(SECTION)) + 4
    end = doc.index("```\n", start)
    table = "\n".join(line for line in text.splitlines() if not line.startswith("    ")).strip("\n")
    path.write_text(doc[:start] + table + "\n" + doc[end:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="GLOB", help="only the labels matching this glob (fnmatch, case-sensitive)")
    parser.add_argument("--markdown", metavar="FILE", type=Path,
                        help=f"also write the table into FILE's '{SECTION}' block (docs/validation.md)")
    args = parser.parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        report(args.only)
    print(out.getvalue(), end="")
    if args.markdown:
        write_markdown(args.markdown, out.getvalue())


def report(only: str | None) -> None:
    """Print every figure's row (and its source) and the summary."""
    entries = [e for e in load() if not only or fnmatch.fnmatchcase(e["label"], only)]
    print(f"{'point':52s} {'arch':9s} {'kind':6s} {'published':>10s} {'accelsim':>10s} {'error':>8s}")
    rows = []
    for entry in entries:
        value = figure(kernel_arch(entry), entry["workload"], entry["metric"], entry.get("harness"))
        err = error(entry, value)
        rows.append((entry, value, err))
        shown = f"{value:10.0f}" if value >= 10 else f"{value:10.3g}"
        print(f"{entry['label']:52s} {entry['arch']:9s} {entry['kind']:6s} {published(entry):>10s} {shown} "
              f"{100 * err:+7.1f}%  {UNITS[entry['metric']]}")
        print(f"    {entry['source']}")
    summary(rows)


if __name__ == "__main__":
    main()
