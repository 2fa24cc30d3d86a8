"""aiconfigurator's files: kernels NVIDIA's collector measured under vLLM and NCCL, one folder per system (the shared
``a100_sxm``: vLLM 0.14 and NCCL 2.27, the ``aiconfigurator-core`` 0.12.0 tables; the reference README describes
every column; a held-out ``h100_sxm`` / ``h200_sxm`` / ``b200_sxm`` folder in the same form replays on its preset).
All are DEVICE times.

* ``gemm.csv``: linear (an m×k activation by a k×n weight) -> ``gemm`` m n k at the row's dtype (:data:`GEMM_DTYPES`;
  weight-only types are skipped with the reason).
* ``context_attention.csv``: causal FlashAttention prefill (q_len = kv_len) -> ``attention`` fused, causal.
* ``generation_attention.csv``: one decode step (q_len 1) over a KV cache of kv_len tokens -> ``attention``
  fused, not causal (the one query sees every cached key; a causal flag on a 1 × kv_len block would mask nothing
  with the bottom-right alignment FlashAttention uses).
* ``nccl_all_reduce.csv``: fp16 all-reduce on 2/4/8 GPUs of one NVSwitch node -> ``collective`` op all_reduce on
  the node preset with chips = num_gpus.

The attention rows carry no dtype column: the README says bf16. A ``kv_cache_dtype`` column (the collector's fp8-KV
rows on compute capability > 8.6) replays as the micro's ``kv_cache_dtype``. No attention parameter is missing
(batch, heads, kv_heads, head_dim, q_len, kv_len, causal, the KV dtype all exist); what the micro-workload does not
model (e.g. vLLM's paged KV blocks and its split-KV heuristics) shows up as error, not as a skipped row.
"""

from __future__ import annotations

from .data import read_rows, skip_all
from .model import FilePlan, RowSpec, View, group_view, job

# NVIDIA's collector (ai-dynamo/aiconfigurator collector/helper.py benchmark_with_power) captures the call in a CUDA
# graph and times graph replays with CUDA events: the kernels run back to back on the device, so each one pays its
# device-side dispatch gap, and no host launch. Replayed under execution cuda_graph, compared as "replay".
REPLAY = "device time of kernels replayed back to back in a CUDA graph (seconds - host launch)"
GRAPH = "|execution=cuda_graph"
# The GEMM collector (ai-dynamo/aiconfigurator collector/vllm/collect_gemm.py run_gemm) runs 6 linear layers of the
# same shape on the SAME input x, graph replay after replay: every kernel's activation finds x in the L2 where it
# fits (options.warm_inputs; the weights are 6 distinct tensors). The attention collector (collector/vllm/
# collect_attn.py run_attention_torch) calls impl.forward on the same query / key / value tensors and KV cache, 3
# warm-up and 6 timed runs: the attention micro's graph inputs (q, the new tokens' k / v and the cache it reads,
# a graph input there) start in the L2 likewise where they fit.
WARM = "|warm=all"
# The same collector builds its 6 layers once (op_list = 6 × create_gemm() for bf16: outside_loop_count = 6) and
# replays them (3 warm-up, 6 timed runs): each weight is read again one replay later, after the other 5 weights, x
# and the output buffer, so all 6 weights stay in the L2 when that footprint fits (options.warm_params).
GEMM_PARAMS = "|params=6"
LAYERS = 6  # collect_gemm.py run_gemm: outside_loop_count = 6 layers per replay, latency = replay / 6
# ... except fp8_block and nvfp4, which it builds once (outside_loop_count = 1): the one weight is re-read every
# replay. fp8_block it also times without a CUDA graph (use_cuda_graph=False): CUDA events around 6 eager calls
# back to back, so a call takes the larger of the host's launches (the eager run's launch_overhead_s: the preset's
# kernel_launch per kernel) and the device's kernels (their replay time).
ONE_LAYER = {"fp8_block", "nvfp4"}
EAGER = {"fp8_block"}
# The collector's timing window opens on an idle GPU (collector/helper.py benchmark_with_power: warm-up replays,
# torch.cuda.synchronize(), start_event.record(), then num_runs g.replay() calls, end_event.record(); num_runs = 6,
# its default, which collect_attn.py (test_ite) and collect_gemm.py pass too), so the window holds the host's launch
# of the first replay once: the device waits for it, while every later launch overlaps the replay before it. Per
# row (latency = window / num_runs, and a GEMM row / its layers per replay) that is the graph launch's host time
# (the preset's graph_launch; the "host_launch" term) / (TIMED_REPLAYS x layers per replay).
# benchmarks/kernels/measure_gpu.py's rows (``framework`` torch) time batches of >= 2 ms, where one launch is under
# 0.2 %: no term.
TIMED_REPLAYS = 6
MEASURE_GPU_FRAMEWORK = "torch"
# measure_gpu.py's rows are also sustained load on data that draws full power: torch.randn inputs and weights, each
# row seconds of back-to-back batches (benchmarks/data/measured/README.md), the conditions under which a GPU holds
# its power limit by lowering its clock (Horace He, "Strangely, matrix multiplications on GPUs run faster when given
# 'predictable' data", thonking.ai 2024: an A100's 8192^3 bf16 GEMM at 257 TFLOPS on randn inputs, 295 on zeros),
# so they replay with the first-order TDP throttle (options.throttle_to_tdp; published_figures.py's "sustained"
# harness). The collector's rows do not: its GEMM weights are vLLM's uninitialised parameters (collect_gemm.py
# builds RowParallelLinear and never fills them, "TODO, to evaluate random weights impact"; vLLM's
# UnquantizedLinearMethod.create_weights allocates them with torch.empty), and the A100 file's 8192^3 row (3.74 ms,
# 293 TFLOPS) sits at the zeros figure, not the randn one.
SUSTAINED = "|throttle=tdp"


def measure_gpu_row(row: dict) -> bool:
    """Whether ``row`` is benchmarks/kernels/measure_gpu.py's (``framework`` torch), not the collector's."""
    return (row.get("framework") or "").strip().lower() == MEASURE_GPU_FRAMEWORK


def sustained(row: dict) -> str:
    """The arch-ref setting of a row timed under sustained full-power load (measure_gpu.py's), else ""."""
    return SUSTAINED if measure_gpu_row(row) else ""


# The collector's fp8 rows are vLLM's fp8 linear (Fp8Config, static per-tensor scales: Fp8LinearOp), which runs
# vLLM's own CUTLASS dispatch where the preset lists it (core.tile.libraries "vllm": h100 / h200's sm90 table;
# b200's is empty, as vLLM runs FlashInfer's bmm_fp8 there): a VLLM row of these types replays with it.
VLLM_LIBRARY = "vllm"
VLLM_LIBRARY_TYPES = {"fp8"}


def gemm_library(preset: str, row: dict, kind: str) -> str:
    """The arch-ref setting that runs a GEMM row under vLLM's own kernel dispatch ("" where the row is not vLLM's
    or the preset has no such table)."""
    from .jobs import load_preset

    if kind not in VLLM_LIBRARY_TYPES or (row.get("framework") or "").strip().upper() != "VLLM":
        return ""
    tile = load_preset(preset).core.tile
    return f"|gemm_library={VLLM_LIBRARY}" if tile is not None and VLLM_LIBRARY in tile.libraries else ""


def first_launch(j: tuple, row: dict, per_replay: int) -> tuple:
    """The term of the host's first graph launch inside the collector's timing window, shared by the
    TIMED_REPLAYS x ``per_replay`` calls the row's latency averages (none for measure_gpu.py's rows)."""
    if measure_gpu_row(row):
        return ()
    return ((j, 1 / (TIMED_REPLAYS * per_replay), "host_launch"),)


def held_out(plan: FilePlan) -> bool:
    """Whether ``plan``'s file is of a GPU other than the A100 (whose shared files the presets were built on):
    its views count towards issue 12's held-out goals instead of the A100 targets."""
    return plan.hardware not in (None, "a100")


def _sizes(meas: float) -> frozenset[str]:
    return frozenset({"ge50us"} if meas >= 50e-6 else {"lt50us"})


# aiconfigurator's GEMM types (ai-dynamo/aiconfigurator collector/vllm/collect_gemm.py gemm_list: "bfloat16", "fp8",
# "fp8_block", "nvfp4", "awq", "gptq"; the shared A100 CSV writes bf16) -> the gemm micro-workload's dtype. fp8_block
# (128 x 128 block scales) and nvfp4 (an fp8 scale per 16 weights) run at their dtype's tensor rate; their scales
# are not counted (fp8_block: < 0.01 % of the weight bytes; nvfp4: 1/16 B per 4-bit weight, whose weights the gemm
# micro stores two per byte). tf32 / fp32 (measure_gpu.py's rows: fp32 tensors, F.linear with TF32 math allowed or
# not) replay at that dtype, whose activations are fp32 too. awq / gptq are weight-only (4-bit weights, 16-bit
# activations and math): the gemm micro has one dtype, so they are skipped with that reason.
# The collector's input x and the layer's output are bf16 (torch.set_default_dtype(torch.bfloat16); vLLM's
# quantised linears return the input's dtype), so a quantised row is vLLM's linear as it runs: a quantize kernel
# of its own converts x first (fp8: Fp8LinearOp.apply -> ops.scaled_fp8_quant, then cutlass_scaled_mm; fp8_block:
# per_token_group_quant_fp8; nvfp4: scaled_fp4_quant), then the GEMM writes bf16: input_dtype / output_dtype bf16.
# A float type of 16 or 32 bits is its own activation dtype (measure_gpu.py's fp16 rows: F.linear on fp16 x and
# weights), so it has no quantize kernel: NATIVE_DTYPES.
ACTIVATION_DTYPE = "bf16"
NATIVE_DTYPES = {"bf16", "fp16", "tf32", "fp32"}
GEMM_DTYPES = {"bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "float16": "fp16", "fp8": "fp8",
               "fp8_block": "fp8", "nvfp4": "fp4", "fp4": "fp4", "int8": "int8", "tf32": "tf32", "fp32": "fp32"}


def plan_aic_gemm(plan: FilePlan, preset: str) -> FilePlan:
    """Every GEMM of the file (the shared A100 file: 588 bf16 rows, the full grid, no sampling), one view per
    GEMM type the file holds."""
    plan.compared = REPLAY
    kinds: dict[str, str] = {}
    for r in read_rows(plan.path):
        m, n, k = int(r["m"]), int(r["n"]), int(r["k"])
        meas = float(r["latency_us"]) * 1e-6
        kind = (r.get("dtype") or "bf16").strip().lower()
        key = f"{m}x{n}x{k} {kind}"
        dtype = GEMM_DTYPES.get(kind)
        if dtype is None:
            plan.skipped.append((key, f"GEMM type {kind!r}: weight-only or not a dtype of the gemm micro-workload"))
            continue
        kinds[kind] = dtype
        io = {} if dtype in NATIVE_DTYPES else {"input_dtype": ACTIVATION_DTYPE, "output_dtype": ACTIVATION_DTYPE}
        params = "|params=1" if kind in ONE_LAYER else GEMM_PARAMS
        j = job(preset + gemm_library(preset, r, kind) + GRAPH + WARM + params + sustained(r), "gemm", m=m, n=n, k=k, dtype=dtype,
                **io)
        terms: tuple = ((j, 1, "replay"),)
        if kind in EAGER:
            terms += ((job(preset + "|execution=eager" + WARM + params, "gemm", m=m, n=n, k=k, dtype=dtype, **io),
                       1, "launch"),)
        else:
            terms += first_launch(j, r, 1 if kind in ONE_LAYER else LAYERS)
        plan.rows.append(RowSpec(key, meas, terms, group="m <= 64" if m <= 64 else "m > 64",
                                 tags=_sizes(meas) | {f"type {kind}"}, combine="max" if kind in EAGER else "sum"))
    plan.views = [View("all rows", lambda r: True, "aic_gemm", "every size, device time"),
                  View("rows >= 50 us", lambda r: "ge50us" in r.tags),
                  View("rows < 50 us", lambda r: "lt50us" in r.tags, None, "small kernels: fixed device cost"),
                  group_view("m <= 64", "decode-like (weight-streaming) GEMMs"), group_view("m > 64")]
    if len(kinds) > 1:
        plan.views += [View(f"type {t}", lambda r, t=f"type {t}": t in r.tags) for t in sorted(kinds)]
    if held_out(plan):
        plan.views[0].target = None
        for goal, dtype in (("held_out_gemm_bf16", "bf16"), ("held_out_gemm_fp8", "fp8")):
            tags = {f"type {t}" for t, d in kinds.items() if d == dtype}
            if tags:
                plan.views.append(View(f"{dtype} rows", lambda r, tags=tags: bool(tags & r.tags), goal,
                                       "issue 12's goal on a GPU the presets were not built on"))
    plan.notes.append("vLLM linear (m x k activation, k x n weight) -> gemm m n k, dtype "
                      + ", ".join(f"{t} -> {d}" for t, d in sorted(kinds.items()))
                      + "; a quantised type's bf16 input is quantized by a kernel of its own, its output is bf16")
    return plan


# The attention collector's KV cache (collector/vllm/utils.py create_and_prepopulate_kv_cache) is a pool of
# max(8192, needed) blocks of BLOCK tokens, laid out (2, blocks, BLOCK, kv_heads, head_dim); the row's sequences
# take ceil(seq_len / BLOCK) blocks each, shuffled among the pool's first blocks (randomize_blocks), and a replay
# reads only those (the block table names no other). Replayed back to back on the same tensors, every tensor is
# re-read one whole replay after its last use: under the L2's LRU rule (mapping/l2resident.py) it is still there
# only when everything one replay touches fits the L2's share; else the cyclic sweep evicts it first (LRU's
# worst case: no tensor hits).
BLOCK = 64  # collector/vllm/collect_attn.py run_attention_torch: block_size = 64


# The collector's KV cache dtypes (collect_attn.py: bf16, and fp8 on compute capability > 8.6, its query cast to fp8
# too) -> the attention micro's kv_cache_dtype.
KV_DTYPES = {"bf16": "bf16", "bfloat16": "bf16", "fp8": "fp8", "fp8_e4m3": "fp8"}


def replay_footprint(b: int, h: int, kvh: int, dh: int, q: int, kv: int, elem: int = 2) -> int:
    """Bytes one replay of an attention row touches: the K and V cache blocks its sequences own (whole blocks of
    BLOCK tokens, ``elem`` bytes per element), the query and output, and the new tokens' K and V (bf16)."""
    cache = 2 * b * -(-kv // BLOCK) * BLOCK * kvh * dh * elem
    return cache + 2 * b * h * q * dh * 2 + 2 * b * kvh * q * dh * 2


def l2_share(preset: str) -> int:
    """The bytes of the preset's outermost cache a tensor can count on (accelsim.cost.resident_bytes)."""
    from accelsim.cost import resident_bytes

    from .jobs import load_preset

    return resident_bytes(load_preset(preset))


# benchmarks/kernels/measure_gpu.py's rows (benchmarks/data/measured/README.md): PyTorch's
# scaled_dot_product_attention on contiguous q / k / v, no KV-cache write before it. ``sdpa_flash`` (and its
# fallback ``aten_flash_fwd``) is PyTorch's FlashAttention-2 on every GPU through its dense entry mha_fwd, so it
# replays with the preset's ``flash2_dense`` kernel model (a Hopper preset runs vLLM's FlashAttention-3 by default);
# ``sdpa_cudnn`` (cuDNN's fused attention) with the preset's own kernel ("").
TORCH_ATTENTION = {"sdpa_flash": "flash2_dense", "aten_flash_fwd": "flash2_dense", "sdpa_cudnn": ""}


def plan_aic_attention(plan: FilePlan, preset: str) -> FilePlan:
    """FlashAttention prefill (causal) or decode rows as the fused ``attention`` micro-workload."""
    plan.compared = REPLAY
    decode = "generation" in plan.path.stem.lower()
    for r in read_rows(plan.path):
        b, h, kvh, dh = (int(r[c]) for c in ("batch_size", "num_heads", "num_key_value_heads", "head_dim"))
        q, kv = int(r["q_len"]), int(r["kv_len"])
        meas = float(r["latency_us"]) * 1e-6
        key = f"b{b} h{h}/{kvh} d{dh} q{q} kv{kv}"
        if h % kvh:
            plan.skipped.append((key, "num_key_value_heads does not divide num_heads"))
            continue
        kv_dtype = KV_DTYPES.get((r.get("kv_cache_dtype") or "bfloat16").strip().lower())
        if kv_dtype is None:
            plan.skipped.append((f"{key} kv {r['kv_cache_dtype']}", "KV cache dtype not one of "
                                                                   + ", ".join(sorted(KV_DTYPES))))
            continue
        key += "" if kv_dtype == "bf16" else f" kv {kv_dtype}"
        elem = 1 if kv_dtype == "fp8" else 2
        warm = WARM if replay_footprint(b, h, kvh, dh, q, kv, elem) <= l2_share(preset) else ""
        source = (r.get("kernel_source") or "").strip()
        kernel = TORCH_ATTENTION.get(source)
        arch = preset + (f"|kernel={kernel}" if kernel else "") + GRAPH + warm + sustained(r)
        j = job(arch, "attention", batch=b, heads=h, kv_heads=kvh, head_dim=dh, q_len=q, kv_len=kv,
                attention="fused", causal=not decode, dtype="bf16", kv_cache_write=kernel is None,
                **({} if kv_dtype == "bf16" else {"kv_cache_dtype": kv_dtype}))
        group = "GQA" if kvh < h else "MHA"
        plan.rows.append(RowSpec(key, meas, ((j, 1, "replay"), *first_launch(j, r, 1)), group=group,
                                 tags=_sizes(meas) | {f"kv {kv_dtype}"}))
    what = "decode (q_len 1)" if decode else "prefill (causal)"
    goal = "held_out_attention" if held_out(plan) else "flash_attention"
    plan.views = [View("all rows", lambda r: True, goal, f"FlashAttention {what}, device time"),
                  View("rows >= 50 us", lambda r: "ge50us" in r.tags),
                  View("rows < 50 us", lambda r: "lt50us" in r.tags),
                  *(group_view(g) for g in ("MHA", "GQA") if any(r.group == g for r in plan.rows))]
    kinds = sorted({t for r in plan.rows for t in r.tags if t.startswith("kv ")})
    if len(kinds) > 1:
        plan.views += [View(f"{t} cache", lambda r, t=t: t in r.tags) for t in kinds]
    plan.notes.append(f"vllm_flash_attn bf16 {what} -> attention fused, causal={not decode}, batch/heads/"
                      "kv_heads/head_dim/q_len/kv_len as the row")
    return plan


# The NCCL collector (ai-dynamo/aiconfigurator collector/collect_nccl.py) runs nccl-tests' all_reduce_perf,
# all_gather_perf, reduce_scatter_perf and alltoall_perf on "half" or "int8" buffers; its op names -> the collective
# micro's, its dtypes -> accelsim's.
NCCL_OPS = {"alltoall": "all_to_all"}
NCCL_DTYPES = {"half": "fp16", "fp16": "fp16", "bfloat16": "bf16", "bf16": "bf16", "int8": "int8"}


def plan_aic_nccl(plan: FilePlan, network: str | None) -> FilePlan:
    """NCCL all-reduces on one node: the ``collective`` micro-workload on the node preset with num_gpus chips."""
    plan.compared = "device (NCCL kernel) vs the collective micro-workload (seconds - launch_overhead_s)"
    if network is None:
        return skip_all(plan, f"no network preset for hardware {plan.hardware!r} (see --arch-map)")
    gpus = set()
    for r in read_rows(plan.path):
        kind = (r.get("nccl_dtype") or r.get("dtype") or "half").strip().lower()
        op, n = NCCL_OPS.get(r["op_name"], r["op_name"]), int(r["num_gpus"])
        nbytes = int(r.get("message_bytes") or int(r["message_elements"]) * (1 if kind == "int8" else 2))
        key = f"{op} {n} GPUs {nbytes} B" + ("" if kind == "half" else f" {kind}")
        if op not in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all") or kind not in NCCL_DTYPES:
            plan.skipped.append((key, f"collective {r['op_name']!r} of {kind!r} not modelled"))
            continue
        gpus.add(n)
        j = job(f"{network}|chips={n}", "collective", op=op, bytes=nbytes, dtype=NCCL_DTYPES[kind])
        tags = frozenset({"ge1MiB"} if nbytes >= 2**20 else {"lt1MiB"})
        plan.rows.append(RowSpec(key, float(r["latency_us"]) * 1e-6, ((j, 1, "device"),), group=f"{n} GPUs",
                                 tags=tags))
    goal = "held_out_nccl" if held_out(plan) else "nccl"
    plan.views = [View(">= 1 MiB", lambda r: "ge1MiB" in r.tags, goal, f"{network}, chips = num_gpus"),
                  View("< 1 MiB", lambda r: "lt1MiB" in r.tags, None, "latency regime"),
                  View("all rows", lambda r: True)]
    for n in sorted(gpus):
        plan.views.append(View(f"{n} GPUs >= 1 MiB", lambda r, g=f"{n} GPUs": r.group == g and "ge1MiB" in r.tags))
    plan.preset = network
    return plan
