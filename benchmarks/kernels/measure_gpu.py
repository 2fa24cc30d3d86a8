"""Measure one NVIDIA GPU's kernels with PyTorch, in the formats benchmarks/validate.py replays.

    python benchmarks/kernels/measure_gpu.py --out DIR [--sku h200_sxm] [--budget-s 330] [--dry]

Needs PyTorch with CUDA (an optional extra; accelsim itself never imports this). Writes, one row at a time so that a
run cut short keeps what it measured:

* ``DIR/gemm.csv`` (aiconfigurator's columns): ``F.linear`` of an m×k activation by a k×n weight over the shared
  A100 file's 588-shape grid (kernels/aic_shapes.json), bf16 and fp8 (per-tensor scales: a cast kernel quantizes the
  bf16 input, ``torch._scaled_mm`` writes bf16, as vLLM's fp8 linear), and fp16 / tf32 / fp32 on a smaller grid.
  As aiconfigurator's collector does it: 6 layers with their own weights on the SAME input, captured in one CUDA
  graph, replayed back to back; latency = one replay / 6.
* ``DIR/context_attention.csv`` / ``DIR/generation_attention.csv`` (aiconfigurator's columns): the shared file's
  shapes through ``F.scaled_dot_product_attention`` forced to the FLASH backend (PyTorch's FlashAttention-2),
  prefill causal (q_len = kv_len), decode one query over kv_len keys; GQA through ``enable_gqa``. One call in a
  CUDA graph, replayed back to back on the same tensors (contiguous K/V, not vLLM's paged blocks).
* ``DIR/attention_cudnn.csv``: the same shapes on the CUDNN_ATTENTION backend, with a ``phase`` column.
* ``DIR/kernels.csv`` (``op,dtype,shape,bytes,latency_us``): memory-bound kernels (add, RMSNorm, LayerNorm,
  softmax, GELU, SiLU·mul as PyTorch runs it, F.embedding, F.embedding_bag), a dependent-kernel chain (1,000 in-place
  scalings of a 64 KiB fp64 buffer in one graph: the per-kernel cost) and device copies of 1 MiB … 4 GiB.
* ``DIR/gemm_burst.csv``: large bf16 GEMMs timed as a burst after 2 s idle and sustained after 3 s of calls (a
  power-limited GPU runs them at different clocks; :func:`burst_section`).
* ``DIR/nccl_all_reduce.csv`` (aiconfigurator's columns), on a machine of several GPUs: NCCL all-reduce of fp16
  buffers of 1 KiB … 1 GiB per rank on the first 2, 4, 8 … GPUs, timed as nccl-tests times its iterations (20
  calls back to back after 5 warm-up calls, CUDA events on rank 0, mean per call).
* ``DIR/env.txt``: GPU, driver, PyTorch and cuDNN versions, clocks before and after.

Every CSV row ends with ``sm_clock_mhz`` and ``power_w``, read through NVML just after the row's timing.

Timing: CUDA events around batches of graph replays (warm-up 3 replays; 5 batches of n replays, n chosen so a
batch lasts >= 2 ms; the median batch mean). Inputs come from ``torch.randn`` (seeded). ``--dry`` runs a few shapes
on the CPU (no graphs, wall clock) to check the script without a GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Clock:
    """The run's deadline: sections stop starting rows once it has passed."""

    def __init__(self, budget_s: float):
        self.t0 = time.time()
        self.budget = budget_s

    def left(self) -> float:
        return self.budget - (time.time() - self.t0)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Timer:
    """Times a callable: captured in a CUDA graph on a GPU, wall clock on the CPU (--dry)."""

    def __init__(self, torch, dry: bool):
        self.torch = torch
        self.dry = dry

    def per_replay_s(self, fn, min_batch_s: float = 2e-3, batches: int = 5) -> float:
        torch = self.torch
        if self.dry:
            fn()
            t = time.perf_counter()
            fn()
            return time.perf_counter() - t
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                fn()
        torch.cuda.current_stream().wait_stream(s)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        for _ in range(3):
            g.replay()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        one = max(a.elapsed_time(b) * 1e-3, 1e-7)
        n = max(1, min(1000, math.ceil(min_batch_s / one)))
        means = []
        for _ in range(batches):
            a.record()
            for _ in range(n):
                g.replay()
            b.record()
            b.synchronize()
            means.append(a.elapsed_time(b) * 1e-3 / n)
        del g
        return statistics.median(means)


def gpu_state(torch) -> tuple[str, str]:
    """(SM clock in MHz, board power in W) now, through NVML (PyTorch's torch.cuda.clock_rate / power_draw);
    empty strings where they cannot be read (no NVML, the CPU of --dry)."""
    try:
        return str(torch.cuda.clock_rate()), f"{torch.cuda.power_draw() / 1000:.0f}"
    except Exception:  # no pynvml / no GPU: the columns stay empty
        return "", ""


class Csv:
    """A CSV written row by row; every row ends with the GPU's SM clock and board power read just after its
    timing (``sm_clock_mhz``, ``power_w``: a large kernel that runs at the power limit shows a lowered clock)."""

    def __init__(self, path: Path, header: list[str], torch=None):
        new = not path.exists()
        self.f = open(path, "a", buffering=1)
        self.torch = torch  # None: no GPU state to read (the all-reduce's rank 0 writes for several GPUs)
        if new:
            self.f.write(",".join(header + ["sm_clock_mhz", "power_w"]) + "\n")

    def row(self, *vals) -> None:
        state = gpu_state(self.torch) if self.torch else ("", "")
        self.f.write(",".join(str(v) for v in (*vals, *state)) + "\n")


def gemm_section(torch, timer: Timer, out: Path, clock: Clock, dtypes: list[str], shapes, dev: str, version: str,
                 stop_at: float) -> None:
    F = torch.nn.functional
    csv = Csv(out / "gemm.csv", ["framework", "version", "kernel_source", "dtype", "m", "n", "k", "latency_us"],
              torch)
    gen = torch.Generator(device=dev).manual_seed(0)
    for dtype in dtypes:
        if dtype == "fp8" and not _fp8_works(torch, dev):
            log("gemm fp8: torch._scaled_mm does not run on this GPU (fp8 needs compute capability 8.9 or later)")
            continue
        log(f"gemm {dtype}: {len(shapes)} shapes")
        done = 0
        for m, n, k in shapes:
            if clock.left() < stop_at:
                log(f"gemm {dtype}: out of time after {done} shapes")
                return
            try:
                if dtype in ("bf16", "fp16", "fp32", "tf32"):
                    td = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype, torch.float32)
                    if dev == "cuda":
                        torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
                    x = torch.randn(m, k, device=dev, dtype=td, generator=gen)
                    ws = [torch.randn(n, k, device=dev, dtype=td, generator=gen) * 0.05 for _ in range(6)]

                    def fn(x=x, ws=ws):
                        for w in ws:
                            F.linear(x, w)
                    src = "torch_linear"
                else:  # fp8: the bf16 input cast to e4m3 by a kernel of its own, then the scaled GEMM, bf16 out
                    x = torch.randn(m, k, device=dev, dtype=torch.bfloat16, generator=gen)
                    ws = [(torch.randn(n, k, device=dev, generator=gen) * 0.05).to(torch.float8_e4m3fn)
                          for _ in range(6)]
                    one = torch.ones((), device=dev, dtype=torch.float32)

                    def fn(x=x, ws=ws, one=one):
                        for w in ws:
                            torch._scaled_mm(x.to(torch.float8_e4m3fn), w.t(), scale_a=one, scale_b=one,
                                             out_dtype=torch.bfloat16)
                    src = "torch_scaled_mm"
                t = timer.per_replay_s(fn) / 6
                csv.row("torch", version, src, dtype, m, n, k, f"{t * 1e6:.4f}")
                done += 1
            except Exception as e:  # a shape the library refuses: logged, the run goes on
                log(f"gemm {dtype} {m}x{n}x{k}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
            finally:
                x = ws = fn = None
        log(f"gemm {dtype}: {done} shapes")


BURST_SHAPES = [(8192, 8192, 8192), (16384, 16384, 16384), (4096, 4096, 4096)]
"""Large square GEMMs timed both after an idle pause and sustained (:func:`burst_section`)."""


def burst_section(torch, out: Path, dev: str, dry: bool) -> None:
    """How long a large GEMM runs decides its clock on a power-limited GPU: each of :data:`BURST_SHAPES` in bf16
    is timed once as a burst (the GPU idle for 2 s first, then 10 back-to-back ``F.linear`` calls between CUDA
    events) and once sustained (3 s of calls first, then the same 10). Rows go to ``gemm_burst.csv``
    (``mode`` burst / sustained, the SM clock and board power read right after)."""
    F = torch.nn.functional
    csv = Csv(out / "gemm_burst.csv", ["dtype", "m", "n", "k", "mode", "calls", "latency_us"], torch)
    gen = torch.Generator(device=dev).manual_seed(3)
    td = torch.float32 if dry else torch.bfloat16
    for m, n, k in ([(64, 64, 64)] if dry else BURST_SHAPES):
        x = torch.randn(m, k, device=dev, dtype=td, generator=gen)
        w = torch.randn(n, k, device=dev, dtype=td, generator=gen)
        for mode in ("burst", "sustained"):
            if mode == "burst":
                time.sleep(0.05 if dry else 2.0)
            else:
                t_end = time.time() + (0.05 if dry else 3.0)
                while time.time() < t_end:
                    F.linear(x, w)
                    if dev == "cuda":
                        torch.cuda.synchronize()
            if dev == "cuda":
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                for _ in range(10):
                    F.linear(x, w)
                b.record()
                b.synchronize()
                per = a.elapsed_time(b) * 1e-3 / 10
            else:
                t0 = time.perf_counter()
                for _ in range(10):
                    F.linear(x, w)
                per = (time.perf_counter() - t0) / 10
            csv.row("bf16", m, n, k, mode, 10, f"{per * 1e6:.4f}")
        x = w = None


def _fp8_works(torch, dev: str) -> bool:
    """Whether one small fp8 GEMM runs (Ada, Hopper and later GPUs)."""
    try:
        a = torch.zeros(16, 32, device=dev).to(torch.float8_e4m3fn)
        b = torch.zeros(16, 32, device=dev).to(torch.float8_e4m3fn)
        one = torch.ones((), device=dev)
        torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        return True
    except Exception:  # no fp8 tensor cores or no kernel: the section is skipped
        return False


def attention_section(torch, timer: Timer, out: Path, clock: Clock, backend: str, shapes: dict, dev: str,
                      version: str, stop_at: float) -> None:
    F = torch.nn.functional
    from torch.nn.attention import SDPBackend, sdpa_kernel

    be = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
          "math": SDPBackend.MATH}[backend]
    cols = ["framework", "version", "kernel_source", "batch_size", "num_heads", "num_key_value_heads", "head_dim",
            "q_len", "kv_len", "latency_us"]
    if backend in ("flash", "math"):
        files = {"context_attention": Csv(out / "context_attention.csv", cols, torch),
                 "generation_attention": Csv(out / "generation_attention.csv", cols, torch)}
    else:
        one = Csv(out / f"attention_{backend}.csv", ["phase"] + cols, torch)
        files = {"context_attention": one, "generation_attention": one}
    gen = torch.Generator(device=dev).manual_seed(1)
    dt = torch.bfloat16 if dev == "cuda" else torch.float32
    try:  # one small call first: a backend this GPU or build lacks is skipped as a whole
        z = torch.zeros(1, 2, 128, 64, device=dev, dtype=dt)
        with sdpa_kernel([be]):
            F.scaled_dot_product_attention(z, z, z, is_causal=True)
    except Exception as e:
        log(f"attention {backend}: not available here ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
        return
    for phase in ("generation_attention", "context_attention"):
        done = 0
        for b, h, kvh, d, q, kv in shapes[phase]:
            if clock.left() < stop_at:
                log(f"attention {backend} {phase}: out of time after {done}")
                break
            causal = phase == "context_attention"
            try:
                qt = torch.randn(b, h, q, d, device=dev, dtype=dt, generator=gen)
                kt = torch.randn(b, kvh, kv, d, device=dev, dtype=dt, generator=gen)
                vt = torch.randn(b, kvh, kv, d, device=dev, dtype=dt, generator=gen)

                def fn(qt=qt, kt=kt, vt=vt, causal=causal, gqa=kvh != h):
                    with sdpa_kernel([be]):
                        F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal, enable_gqa=gqa)
                source = f"sdpa_{backend}"
                try:
                    t = timer.per_replay_s(fn)
                except Exception as e:
                    if backend != "flash" or kvh == h:
                        raise
                    # SDPA refused GQA on this backend: FlashAttention-2's own entry point takes h_k < h natively
                    log(f"sdpa flash b{b} h{h}/{kvh}: {type(e).__name__}; aten._flash_attention_forward instead")
                    q2, k2, v2 = (z.transpose(1, 2).contiguous() for z in (qt, kt, vt))

                    def fn(q2=q2, k2=k2, v2=v2, causal=causal, q=q, kv=kv):
                        torch.ops.aten._flash_attention_forward(q2, k2, v2, None, None, q, kv, 0.0, causal, False)
                    t = timer.per_replay_s(fn)
                    source = "aten_flash_fwd"
                row = ["torch", version, source, b, h, kvh, d, q, kv, f"{t * 1e6:.4f}"]
                files[phase].row(*(([phase] if backend == "cudnn" else []) + row))
                done += 1
            except Exception as e:
                log(f"attention {backend} {phase} b{b} h{h}/{kvh} q{q} kv{kv}: {type(e).__name__}: "
                    f"{str(e).splitlines()[0][:160]}")
            finally:
                qt = kt = vt = fn = None
        log(f"attention {backend} {phase}: {done} of {len(shapes[phase])}")


def kernels_section(torch, timer: Timer, out: Path, clock: Clock, dev: str, stop_at: float, dry: bool) -> None:
    F = torch.nn.functional
    csv = Csv(out / "kernels.csv", ["op", "dtype", "shape", "bytes", "latency_us"], torch)
    gen = torch.Generator(device=dev).manual_seed(2)
    h16 = torch.float16

    def rec(op, dtype, shape, nbytes, fn):
        if clock.left() < stop_at:
            return
        try:
            csv.row(op, dtype, shape, nbytes, f"{timer.per_replay_s(fn) * 1e6:.4f}")
        except Exception as e:
            log(f"{op} {shape}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")

    # the dependent-kernel chain (te42kyfo/gpu-benches gpu-small-kernels' form: a 64 KiB buffer, kernel after kernel)
    buf = torch.randn(8192, device=dev, dtype=torch.float64, generator=gen)
    chain = 10 if dry else 1000

    def chain_fn(buf=buf):
        for _ in range(chain):
            buf.mul_(1.0000001)
    try:
        csv.row("dependent_scale_chain", "fp64", f"{chain}x8192", 2 * 8 * 8192,
                f"{timer.per_replay_s(chain_fn) / chain * 1e6:.4f}")
    except Exception as e:
        log(f"chain: {type(e).__name__}: {e}")
    # device copies: L2-resident sizes, then HBM
    for mib in ([1] if dry else [1, 4, 16, 32, 64, 256, 1024, 4096]):
        n = mib * 2**20 // 2
        src = torch.empty(n, device=dev, dtype=h16).normal_(generator=gen)
        dst = torch.empty_like(src)
        rec("copy", "fp16", str(n), 2 * 2 * n, lambda src=src, dst=dst: dst.copy_(src))
        src = dst = None
    tokens = [1, 16] if dry else [1, 16, 128, 1024, 4096, 16384]
    for d in ([256] if dry else [4096, 8192]):
        for t in tokens:
            x = torch.randn(t, d, device=dev, dtype=h16, generator=gen)
            y = torch.randn(t, d, device=dev, dtype=h16, generator=gen)
            w = torch.randn(d, device=dev, dtype=h16, generator=gen)
            shape = f"{t}x{d}"
            rec("add", "fp16", shape, 3 * 2 * t * d, lambda x=x, y=y: torch.add(x, y))
            rec("rmsnorm", "fp16", shape, 2 * 2 * t * d, lambda x=x, w=w, d=d: F.rms_norm(x, (d,), w, 1e-6))
            rec("layernorm", "fp16", shape, 2 * 2 * t * d, lambda x=x, w=w, d=d: F.layer_norm(x, (d,), w, w))
            rec("softmax", "fp16", shape, 2 * 2 * t * d, lambda x=x: torch.softmax(x, -1))
            rec("gelu", "fp16", shape, 2 * 2 * t * d, lambda x=x: F.gelu(x))
            rec("silu_mul_eager", "fp16", shape, 3 * 2 * t * d, lambda x=x, y=y: F.silu(x) * y)
            x = y = w = None
    # F.embedding (index_select) over LLaMA-2's 32000 x 4096 table, and an embedding bag (DLRM-style, sum of 20)
    table = torch.randn(32000, 256 if dry else 4096, device=dev, dtype=h16, generator=gen)
    for t in tokens:
        idx = torch.randint(0, 32000, (t,), device=dev, generator=gen)
        rec("embedding", "fp16", f"{t}x{table.shape[1]}", 2 * 2 * t * table.shape[1] + 8 * t,
            lambda idx=idx: F.embedding(idx, table))
    table = None
    rows = 10_000 if dry else 1_000_000
    bag = torch.randn(rows, 128, device=dev, dtype=torch.float32, generator=gen)
    for batch, pooling in ([(16, 4)] if dry else [(256, 20), (2048, 20), (2048, 80), (16384, 20)]):
        idx = torch.randint(0, rows, (batch * pooling,), device=dev, generator=gen)
        offs = torch.arange(0, batch * pooling, pooling, device=dev)
        rec("embedding_bag_sum", "fp32", f"{batch}x{pooling}x{rows}x128", 4 * 128 * batch * (pooling + 1),
            lambda idx=idx, offs=offs: F.embedding_bag(idx, bag, offs, mode="sum"))


NCCL_SIZES = [2**k for k in range(10, 31, 2)]  # 1 KiB ... 1 GiB per rank, every 4x
"""All-reduce buffer sizes in bytes (nccl-tests' ``size``: the buffer each rank holds)."""


def _allreduce_worker(rank: int, world: int, out: str, port: int, dry: bool, sizes: list[int]) -> None:
    """One rank of the all-reduce section: for each group of the first n ranks (n = 2, 4, 8 ... up to ``world``)
    and each size, 5 warm-up calls, then 20 timed back to back (CUDA events on rank 0 around the loop, after a
    barrier, as nccl-tests' out-of-place all_reduce_perf times its iterations); rank 0 writes the mean per call."""
    import torch
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dev = "cpu" if dry else f"cuda:{rank}"
    if not dry:
        torch.cuda.set_device(rank)
    dist.init_process_group("gloo" if dry else "nccl", rank=rank, world_size=world)
    version = ".".join(str(v) for v in torch.cuda.nccl.version()) if not dry else "gloo"
    csv = Csv(Path(out) / "nccl_all_reduce.csv", ["version", "op_name", "num_gpus", "message_elements",
                                                  "message_bytes", "latency_us"]) if rank == 0 else None
    n = 2
    while n <= world:
        group = dist.new_group(list(range(n)))
        for nbytes in sizes:
            x = torch.ones(nbytes // 2, device=dev, dtype=torch.float16 if not dry else torch.float32)
            if rank < n:
                for _ in range(5):
                    dist.all_reduce(x, group=group)
                dist.barrier(group=group)
                t0 = time.perf_counter()
                if not dry:
                    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    a.record()
                for _ in range(20):
                    dist.all_reduce(x, group=group)
                if not dry:
                    b.record()
                    b.synchronize()
                    per = a.elapsed_time(b) * 1e-3 / 20
                else:
                    per = (time.perf_counter() - t0) / 20
                if csv is not None:
                    csv.row(version, "all_reduce", n, nbytes // 2, nbytes, f"{per * 1e6:.4f}")
            dist.barrier()
        n *= 2
    dist.destroy_process_group()


def allreduce_section(torch, out: Path, dry: bool) -> None:
    """NCCL all-reduce of fp16 buffers on 2, 4, 8 ... of this machine's GPUs (aiconfigurator's
    nccl_all_reduce.csv columns); skipped on one GPU. ``--dry``: two CPU processes over gloo, three small sizes."""
    world = 2 if dry else torch.cuda.device_count()
    if world < 2:
        log("all-reduce: one GPU, skipped")
        return
    import socket

    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sizes = NCCL_SIZES[:3] if dry else NCCL_SIZES
    torch.multiprocessing.spawn(_allreduce_worker, args=(world, str(out), port, dry, sizes), nprocs=world)
    log(f"all-reduce: {world} ranks")


def env_report(torch, out: Path, dev: str, when: str) -> None:
    with open(out / "env.txt", "a") as f:
        f.write(f"== {when} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        f.write(f"torch {torch.__version__} cuda {torch.version.cuda} python {sys.version.split()[0]}\n")
        if dev == "cuda":
            p = torch.cuda.get_device_properties(0)
            f.write(f"device {p.name} sms {p.multi_processor_count} mem {p.total_memory} "
                    f"l2 {getattr(p, 'L2_cache_size', '?')} cc {p.major}.{p.minor}\n")
            f.write(f"cudnn {torch.backends.cudnn.version()}\n")
            try:
                q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.sm,clocks.mem,"
                                    "clocks.max.sm,power.draw,power.limit,temperature.gpu", "--format=csv"],
                                   capture_output=True, text=True, timeout=20)
                f.write(q.stdout)
            except Exception as e:  # nvidia-smi missing: the rest of the report stands
                f.write(f"nvidia-smi: {e}\n")


def parse_cli(argv, doc: str, budget_s: float, sections: str):
    """(args, torch, device) of a measuring script's command line (``--out``, ``--budget-s``, ``--dry``,
    ``--sections``), its output folder made; None when there is no CUDA device and no ``--dry``."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget-s", type=float, default=budget_s, help="stop starting rows after this many seconds")
    ap.add_argument("--dry", action="store_true", help="small shapes on the CPU, to check the script")
    ap.add_argument("--sections", default=sections)
    args = ap.parse_args(argv)
    import torch

    dev = "cpu" if args.dry else "cuda"
    if dev == "cuda" and not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return None
    args.out.mkdir(parents=True, exist_ok=True)
    return args, torch, dev


def main(argv=None) -> int:
    cli = parse_cli(argv, __doc__, 330.0,
                    "gemm_bf16,attn_flash,kernels,gemm_fp8,attn_cudnn,gemm_other,gemm_burst,allreduce")
    if cli is None:
        return 2
    args, torch, dev = cli
    shapes = json.loads((HERE / "aic_shapes.json").read_text())
    gemm = [tuple(s) for s in shapes["gemm"]]
    if args.dry:
        gemm = [(1, 128, 128), (64, 256, 128)]
        shapes = {p: [[1, 4, 2, 16, 1 if "gen" in p else 32, 32]] for p in ("context_attention",
                                                                              "generation_attention")}
    small = [s for s in gemm if s[0] in (1, 16, 128, 1024, 8192) and s[1] in (1024, 4096, 8192)
             and s[2] in (1024, 4096, 8192)] or gemm
    clock = Clock(args.budget_s)
    timer = Timer(torch, args.dry)
    version = torch.__version__.split("+")[0]
    real = not args.dry  # fp8 GEMMs and cuDNN attention need the GPU
    sections = {
        "gemm_bf16": lambda: gemm_section(torch, timer, args.out, clock, ["bf16"], gemm, dev, version, 150),
        "gemm_fp8": real and (lambda: gemm_section(torch, timer, args.out, clock, ["fp8"], gemm, dev, version, 40)),
        "gemm_other": lambda: gemm_section(torch, timer, args.out, clock, ["fp16", "tf32", "fp32"], small, dev,
                                           version, 5),
        "attn_flash": lambda: attention_section(torch, timer, args.out, clock, "flash" if real else "math", shapes,
                                                dev, version, 100),
        "attn_cudnn": real and (lambda: attention_section(torch, timer, args.out, clock, "cudnn", shapes, dev,
                                                          version, 20)),
        "gemm_burst": lambda: burst_section(torch, args.out, dev, args.dry),
        "allreduce": lambda: allreduce_section(torch, args.out, args.dry),
        "kernels": lambda: kernels_section(torch, timer, args.out, clock, dev, 60, args.dry),
    }
    run_sections(torch, args.out, dev, clock, args.sections.split(","), sections)
    return 0


def run_sections(torch, out: Path, dev: str, clock: Clock, names: list[str], sections: dict) -> None:
    """Run the named ``sections`` (name → a callable, or a false value to skip it here) between two env reports;
    one section's failure is logged and does not lose the others."""
    env_report(torch, out, dev, "start")
    for sec in names:
        log(f"section {sec} ({clock.left():.0f} s left)")
        try:
            if sections.get(sec):
                sections[sec]()
        except Exception as e:  # one section's failure does not lose the others
            log(f"section {sec}: {type(e).__name__}: {e}")
        if dev == "cuda":
            torch.cuda.empty_cache()
    env_report(torch, out, dev, "end")
    log(f"done in {time.time() - clock.t0:.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
