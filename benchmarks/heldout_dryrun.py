"""A dry run of the held-out replay: the aiconfigurator collector's own case grids on the presets the team judges
against held-out measurements, with no measurement. Every row must replay, no simulated time may beat the
hardware's physical bound, and an all-reduce may not get faster as its message grows.

    python benchmarks/heldout_dryrun.py                                  # h100 h200 b200 l40s, the shared grid
    python benchmarks/heldout_dryrun.py --preset b200 --grid collector --worst 5

The rows are written as the collector's tables are (aiconfigurator form, ``latency_us`` a placeholder) and go
through validate.py's own planners (benchmarks/validation/aiconfigurator.py), so what is checked is what a
held-out folder ``<gpu>_sxm/`` replays:

* ``--grid shared`` (default): the shapes of the shared A100 tables (benchmarks/kernels/aic_shapes.json: 588
  GEMMs, 165 prefill and 92 decode shapes; the NCCL sizes of nccl_all_reduce.csv, 256 to 2^28 fp16 elements on
  2, 4 and 8 GPUs) in every type the collector runs on the GPU (below).
* ``--grid collector``: the collector's whole attention grids (ai-dynamo/aiconfigurator collector/vllm/
  collect_attn.py @15cb360 get_context_attention_test_cases / get_generation_attention_test_cases: head_dim 128
  and 256, batches to 256 (prefill) and 2048 (decode), decode caches to 131071 tokens), the same GEMMs and sizes.

The types per GPU are the collector's (collect_gemm.py @00e9bde get_gemm_test_cases: bf16; fp8 above compute
capability 8.6; fp8_block from 9.0, n and k multiples of 128, m a multiple of 4 on 10.0; nvfp4 from 10.0; the
attention files' fp8 KV cache above 8.6; decode groups of at most 16 query heads per KV head on 10.0).

The physical bound of a row (:func:`gemm_bound`, :func:`attention_bound`) is the larger of its FLOPs at the
preset's peak for the row's dtype and the bytes it must move beyond what the whole L2 can hold at the main
memory's peak bandwidth: a simulated time below it is a cost-model bug, whatever the measurement. Prints, per
preset and kind, the rows, those below the bound, and the median and largest simulated / bound ratio of the rows
whose bound is at least 50 us (how far from the roof the model runs them; ``--worst N`` lists N). Exit status 1
when a row does not replay, beats its bound, or an all-reduce is faster than a smaller one.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from validation.plan import plan_file
from validation.replay import simulate_jobs

HERE = Path(__file__).resolve().parent
SHAPES = HERE / "kernels" / "aic_shapes.json"
# compute capability of each preset's GPU (NVIDIA's CUDA GPUs list): what decides the collector's types
SM = {"a100": 80, "l40s": 89, "h100": 90, "h200": 90, "b200": 100}
PRESETS = ("h100", "h200", "b200", "l40s")
NCCL_ELEMENTS = [256 << i for i in range(21)]  # nccl_all_reduce.csv: 256 ... 268435456 fp16 elements
NCCL_GPUS = (2, 4, 8)
# bytes per element of a GEMM type's activation and weight as its kernel reads them; every type writes bf16
GEMM_ELEM = {"bf16": 2.0, "fp8": 1.0, "fp8_block": 1.0, "nvfp4": 0.5}
GEMM_DTYPE = {"bf16": "bf16", "fp8": "fp8", "fp8_block": "fp8", "nvfp4": "fp4"}
ATTN_HEAD = ("framework,version,kernel_source,batch_size,num_heads,num_key_value_heads,head_dim,q_len,kv_len,"
             "kv_cache_dtype,latency_us")


@cache
def shared_shapes() -> dict[str, list[list[int]]]:
    """The shapes of the shared A100 tables (:data:`SHAPES`), read once."""
    return json.loads(SHAPES.read_text())


def gemm_types(sm: int) -> list[str]:
    """collect_gemm.py get_gemm_test_cases: the GEMM types the collector times on compute capability ``sm``."""
    return ["bf16"] + (["fp8"] if sm > 86 else []) + (["fp8_block"] if sm >= 90 else []) + (
        ["nvfp4"] if sm >= 100 else [])


def gemm_cases(sm: int) -> Iterator[tuple[str, int, int, int]]:
    """(type, m, n, k) of the shared grid in every type, with the collector's per-type filters."""
    for m, n, k in shared_shapes()["gemm"]:
        for t in gemm_types(sm):
            if t in ("fp8_block", "nvfp4") and (n < 128 or k < 128):
                continue
            if t == "fp8_block" and (n % 128 or k % 128 or (sm >= 100 and m % 4)):
                continue
            yield t, m, n, k


def kv_dtypes(sm: int) -> list[str]:
    """collect_attn.py: a bf16 KV cache everywhere, and fp8 above compute capability 8.6."""
    return ["bfloat16"] + (["fp8"] if sm > 86 else [])


def context_cases(sm: int, grid: str) -> Iterator[tuple[int, int, int, int, int]]:
    """(batch, heads, kv_heads, head_dim, seq) of the prefill rows (q_len = kv_len = seq)."""
    if grid == "shared":
        for b, h, kvh, d, q, _ in shared_shapes()["context_attention"]:
            yield b, h, kvh, d, q
        return
    s_list = [1, 16, 32, 64, 128, 256, 512, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 10240, 12288, 16384, 262144]
    for d in (128, 256):
        for n in (1, 2, 4, 8, 12, 16, 24, 32, 40, 48, 64):
            for s in s_list:
                for b in (1, 2, 4, 8, 16, 32, 64, 128, 256):
                    for nkv in (0, 1, 2, 4, 8):
                        if nkv and (nkv > n or n % nkv):
                            continue
                        kvh = nkv or n
                        if (kvh == n and (b * s > 65536 or b > 128)) or (kvh != n and b * s > 131072):
                            continue
                        if b * s * kvh * d * 2 < 2147483647:
                            yield b, n, kvh, d, s


def generation_cases(sm: int, grid: str) -> Iterator[tuple[int, int, int, int, int]]:
    """(batch, heads, kv_heads, head_dim, kv_len) of the decode rows (q_len 1)."""
    if grid == "shared":
        for b, h, kvh, d, _, kv in shared_shapes()["generation_attention"]:
            yield b, h, kvh, d, kv
        return
    b_list = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
    s_list = [2 << i for i in range(17)]  # 2 ... 131072
    for d in (128, 256):
        for n in (64, 48, 40, 32, 24, 16, 12, 8, 4, 2, 1):
            by_s: dict[int, set[int]] = {}
            for s in s_list:
                top = 8192 * 1024 * 128 // d // s // n  # max_bsn
                by_s[s] = {b for b in b_list if b <= top}
            by_b: dict[int, set[int]] = {}
            for s, bs in by_s.items():
                if len(bs) >= 4:
                    for b in bs:
                        by_b.setdefault(b, set()).add(s - 1)
            for b, ss in by_b.items():
                ss_sorted = sorted(ss)[:-1] if b >= 256 else sorted(ss)
                for kvh in (1, 2, 4, 8):
                    if kvh > n or n % kvh or (sm >= 100 and n // kvh > 16):
                        continue
                    for s in ss_sorted:
                        yield b, n, kvh, d, s


def write_folder(folder: Path, sm: int, grid: str) -> dict[str, dict]:
    """The four files of one GPU's folder; returns {row key (as the planners write it): case}."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, dict] = {}
    with open(folder / "gemm.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["framework", "version", "kernel_source", "dtype", "m", "n", "k", "latency_us"])
        for t, m, n, k in gemm_cases(sm):
            w.writerow(["VLLM", "0.14.0", "vllm_default", t, m, n, k, 1])
            cases[f"{m}x{n}x{k} {t}"] = {"kind": f"gemm {t}", "type": t, "m": m, "n": n, "k": k}
    for name, rows, decode in (("context_attention", context_cases(sm, grid), False),
                               ("generation_attention", generation_cases(sm, grid), True)):
        with open(folder / f"{name}.csv", "w") as f:
            print(ATTN_HEAD, file=f)
            for b, h, kvh, d, s in rows:
                q = 1 if decode else s
                for kd in kv_dtypes(sm):
                    print(f"VLLM,0.14.0,vllm_flash_attn,{b},{h},{kvh},{d},{q},{s},{kd},1", file=f)
                    key = f"b{b} h{h}/{kvh} d{d} q{q} kv{s}" + ("" if kd == "bfloat16" else " kv fp8")
                    cases[key] = {"kind": "decode" if decode else "prefill", "b": b, "h": h, "kvh": kvh, "d": d,
                                  "q": q, "kv": s, "elem": 2 if kd == "bfloat16" else 1}
    with open(folder / "nccl_all_reduce.csv", "w") as f:
        print("version,op_name,num_gpus,message_elements,message_bytes,latency_us", file=f)
        for g in NCCL_GPUS:
            for e in NCCL_ELEMENTS:
                print(f"2.27.3,all_reduce,{g},{e},{2 * e},1", file=f)
                cases[f"all_reduce {g} GPUs {2 * e} B"] = {"kind": "all_reduce", "gpus": g, "bytes": 2 * e}
    return cases


def peak_flops(arch, dtype: str) -> float:
    """FLOP/s of the preset's tensor units at ``dtype``'s rate (2 per MAC)."""
    from accelsim.hardware import dtype_rate

    return 2.0 * arch.peak_macs_per_cycle * arch.clock_hz * dtype_rate(arch.core.systolic.rates, dtype)[1]


def _memory_bound(arch, nbytes: float) -> float:
    """Seconds to move the bytes that cannot stay in the caches (``nbytes`` less their whole capacity) at the
    main memory's peak bandwidth."""
    on_chip = sum(arch.memory(c).capacity for c in arch.caches)
    return max(0.0, nbytes - on_chip) / arch.memory(arch.main_memory).bandwidth


def gemm_bound(arch, t: str, m: int, n: int, k: int) -> float:
    """The fewest seconds a GEMM of type ``t`` can take on ``arch``: 2mnk FLOPs at the type's peak, or its
    activation, weight (at the type's bytes) and bf16 output beyond the caches at main-memory peak."""
    e = GEMM_ELEM[t]
    return max(2.0 * m * n * k / peak_flops(arch, GEMM_DTYPE[t]), _memory_bound(arch, (m + n) * k * e + 2 * m * n))


def attention_bound(arch, c: dict) -> float:
    """The fewest seconds an attention call can take: its score and value FLOPs (4·d per query-key pair, a causal
    prefill's q(q+1)/2 pairs per head) at the KV dtype's peak, or its K/V, query and bf16 output bytes beyond the
    caches at main-memory peak."""
    pairs = c["kv"] if c["q"] == 1 else c["q"] * (c["q"] + 1) / 2
    flops = 4.0 * c["b"] * c["h"] * c["d"] * pairs
    nbytes = (2 * c["b"] * c["kvh"] * c["kv"] * c["d"] * c["elem"]
              + c["b"] * c["h"] * c["q"] * c["d"] * (c["elem"] + 2))
    return max(flops / peak_flops(arch, "fp8" if c["elem"] == 1 else "bf16"), _memory_bound(arch, nbytes))


def check(preset: str, cases: dict[str, dict], simulated: dict[str, float]) -> dict:
    """Per kind: rows, rows below their bound, (ratio, key) of the rows whose bound is >= 50 us; and the all-reduces
    faster than a smaller one."""
    from accelsim.config import load_arch

    arch = load_arch(preset)
    kinds: dict[str, dict] = {}
    for key, c in cases.items():
        if c["kind"] == "all_reduce" or key not in simulated:
            continue
        bound = gemm_bound(arch, c["type"], c["m"], c["n"], c["k"]) if c["kind"].startswith("gemm") \
            else attention_bound(arch, c)
        k = kinds.setdefault(c["kind"], {"rows": 0, "below": [], "slack": []})
        k["rows"] += 1
        sim = simulated[key]
        if sim < bound * (1 - 1e-9):
            k["below"].append((sim / bound, key, sim, bound))
        if bound >= 50e-6:
            k["slack"].append((sim / bound, key, sim, bound))
    shrinking = []
    for g in NCCL_GPUS:
        times = [(2 * e, simulated[f"all_reduce {g} GPUs {2 * e} B"]) for e in NCCL_ELEMENTS
                 if f"all_reduce {g} GPUs {2 * e} B" in simulated]
        shrinking += [(g, b1, s0, s1) for (_, s0), (b1, s1) in zip(times, times[1:], strict=False) if s1 < s0]
    return {"kinds": kinds, "shrinking": shrinking}


def replay(presets: list[str], grid: str, workers: int, stride: int = 1) -> tuple[dict, dict, dict]:
    """Write every preset's folder, plan and simulate its rows as validate.py does; (cases, simulated seconds,
    unreplayed (key, reason)) per preset. ``stride`` keeps every stride-th row of each file (for a quick check)."""
    cases, sims, missing = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        plans = {}
        for p in presets:
            folder = Path(tmp) / (p if p == "l40s" else f"{p}_sxm")
            cases[p] = write_folder(folder, SM[p], grid)
            plans[p] = []
            for path in sorted(folder.glob("*.csv")):
                plan = plan_file(path, f"{folder.name}/{path.name}")
                plan.rows = plan.rows[::stride]
                plans[p].append(plan)
        jobs = [j for ps in plans.values() for plan in ps for j in plan.jobs()]
        results = simulate_jobs(jobs, workers=workers)
    for p, ps in plans.items():
        sims[p] = {r.key: r.simulated(results) for plan in ps for r in plan.rows}
        missing[p] = [(k, why) for plan in ps for k, why in plan.skipped]
    return cases, sims, missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", action="append", choices=sorted(SM), help=f"preset(s) (default: {' '.join(PRESETS)})")
    ap.add_argument("--grid", choices=("shared", "collector"), default="shared")
    ap.add_argument("--jobs", type=int, default=2, help="simulation processes")
    ap.add_argument("--worst", type=int, default=0, help="list the N rows furthest from their bound (bound >= 50 us)")
    ap.add_argument("--stride", type=int, default=1, help="replay every N-th row of each file (a quick check)")
    args = ap.parse_args(argv)
    presets = args.preset or list(PRESETS)
    t0 = time.time()
    cases, sims, missing = replay(presets, args.grid, args.jobs, args.stride)
    bad = 0
    for p in presets:
        res = check(p, cases[p], sims[p])
        # a preset without a network preset (l40s: no NVLink) does not replay all-reduces: that is not a failure
        unreplayed = [(k, why) for k, why in missing[p] if not why.startswith("no network preset")]
        print(f"{p}: {len(sims[p])} rows replayed, {len(missing[p])} not ({len(unreplayed)} unexpected)")
        for k, why in unreplayed[:5]:
            print(f"    not replayed: {k}: {why}")
        for kind, k in sorted(res["kinds"].items()):
            slack = sorted(k["slack"])
            med = f"{statistics.median(r for r, *_ in slack):.2f}" if slack else "-"
            top = f"{slack[-1][0]:.2f}" if slack else "-"
            print(f"  {kind:14s} {k['rows']:6d} rows  below the bound {len(k['below']):4d}  "
                  f"simulated / bound (bound >= 50 us, {len(slack)} rows): median {med}, largest {top}")
            for r, key, sim, bound in sorted(k["below"])[:5]:
                print(f"    BELOW {key}: {1e6 * sim:.2f} us < bound {1e6 * bound:.2f} us ({r:.3f})")
            for r, key, sim, bound in slack[::-1][:args.worst]:
                print(f"    {key}: {1e6 * sim:.1f} us, bound {1e6 * bound:.1f} us ({r:.2f}x)")
            bad += len(k["below"])
        for g, nbytes, s0, s1 in res["shrinking"]:
            print(f"    all_reduce on {g} GPUs: {nbytes} B takes {1e6 * s1:.2f} us "
                  f"< {1e6 * s0:.2f} us for half as many")
        bad += len(res["shrinking"]) + len(unreplayed)
    print(f"{sum(len(s) for s in sims.values())} rows in {time.time() - t0:.0f} s; "
          + ("every row replays within its bound" if not bad else f"{bad} problem(s)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
