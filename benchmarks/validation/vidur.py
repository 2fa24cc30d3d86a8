"""Vidur's files: per-operator GPU kernel (DEVICE) times of LLaMA-2 / CodeLlama layers, and NCCL all-reduces."""

from __future__ import annotations

import math

from .data import read_rows, skip_all
from .jobs import load_preset
from .model import FilePlan, Job, RowSpec, View, group_view, job

DEVICE = "device time (seconds - launch_overhead_s)"

# LLaMA-2-7B/70B and CodeLlama-34B all have a 32000-token vocabulary; the Vidur files do not carry it. Vidur's
# profiler (microsoft/vidur vidur/profiling/mlp: mlp_impl.py GPTModel builds VocabParallelEmbedding(vocab, d,
# world_size=tp, rank=0); mlp_wrapper.py MlpWrapper.profile draws input_ids = torch.randint(0, vocab // tp,
# (num_tokens,))) looks up uniform random ids in rank 0's shard of vocab / tp rows, all inside it (none masked):
# the replay's table is that shard, so a call repeats rows as often as those draws do (cost/gather.py
# repeated_hits).
VOCAB = 32000

VIDUR_GEMMS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj")
VIDUR_OPS = {
    "attn_pre_proj": "gemm fp16 (fused QKV)", "attn_post_proj": "gemm fp16", "mlp_up_proj": "gemm fp16",
    "mlp_down_proj": "gemm fp16", "input_layernorm": "rmsnorm micro", "post_attention_layernorm": "rmsnorm micro",
    "emb": "embedding_bag micro, kernel embedding (F.embedding's index_select row gather, one thread per element)",
    "mlp_act": "silu_mul micro (SiLU(gate)*up fused; gelu PROXY, not in target, when not gated)",
    "add": "add micro (residual: 2 reads, 1 write)",
    "attn_rope": "rope micro over tokens x (q + k heads) features, key_cols = the k heads' (in place: 1 read, 1 write)",
}
"""The ops of a Vidur file that are replayed, and as what."""
VIDUR_MEMORY_BOUND = ("input_layernorm", "post_attention_layernorm", "emb", "mlp_act", "add", "attn_rope")
"""The memory-bound kernels issue 12 targets one by one."""


# How Vidur measured (microsoft/vidur @ 7d47513 vidur/profiling/mlp/mlp_impl.py GPTModel.forward and GPTBlock):
# one block's kernels run in order, forward pass after forward pass on the same tensors, each op timed inside the
# pass. So every replayed op's activation input was written by the kernel just before it: the RMSNorms read the
# embedding's (input_layernorm) or the first residual add's (post_attention_layernorm) output, RoPE the QKV GEMM's,
# SiLU*mul the up projection's, the four GEMMs the RMSNorm's / randn_like(q)'s / RMSNorm's / SiLU*mul's output, the
# embedding the same input_ids every pass. The timed add sums the down projection's output (just written: "b")
# and the residual written before the post-attention RMSNorm and the whole MLP, whose weights (3 x n_embd x FFN/tp
# fp16, >= 34 MB) stream through the L2 in between: not warm. The replays start those inputs in the L2
# (options.warm_inputs; the L2 keeps what fits, mapping/l2resident.py); the add's b only where the down projection's
# own later waves leave it there, and so for RoPE's and SiLU*mul's inputs (gemm_leaves_output_warm).
WARM = "|warm=all"
WARM_ADD = "|warm=b"
PRODUCED_BY = {"attn_rope": "attn_pre_proj", "mlp_act": "mlp_up_proj"}  # the GEMM whose output the kernel reads


def gemm_leaves_output_warm(preset: str, r: dict[str, str], gemm: str) -> bool:
    """Whether the output of the row's GEMM ``gemm`` (``attn_pre_proj``, ``mlp_up_proj``, ``mlp_down_proj``) is
    still in the L2 when the next kernel reads it. The GEMM writes its output tiles wave by wave while it streams
    its operands through the L2, so its first wave's tiles are followed by (waves - 1) / waves of its operands and
    output (the split-K partials' rule, accelsim/cost/gpu_tiles.py ``later``, and the model's own
    mapping/l2resident.py ``later_traffic``); by the LRU rule the output is warm when its bytes plus that fit the
    bytes the L2 keeps for a tensor (accelsim.cost.resident_bytes). The GEMM's tiles are the preset's own choice
    for its shape (gpu_tiles.choose), fp16 as the file's GEMMs replay."""
    from accelsim.cost import gpu_tiles, resident_bytes
    from accelsim.ir import Gemm

    from .jobs import load_preset

    if any(not r.get(f"{gemm}_{x}") for x in "MNK"):  # a file without that GEMM's shape: just written, warm
        return True
    arch = load_preset(preset)
    m, n, k = (int(r[f"{gemm}_{x}"]) for x in "MNK")
    tiles = gpu_tiles.choose(Gemm(m, n, k), arch.core.systolic, arch, 2, 1.0).details["output_tiles"]
    out = m * n * 2
    return out + gpu_tiles.after_first_wave(m * k * 2 + k * n * 2 + out, tiles, arch.cores) <= resident_bytes(arch)


def vidur_job(preset: str, op: str, r: dict[str, str]) -> tuple[Job, str] | None:
    """The job that replays ``op`` of the Vidur row ``r`` and how it is described, or None (no micro-workload)."""
    tp, tokens, d = int(r["tp"]), int(r["num_tokens"]), int(r["n_embd"])
    if op == "add":  # a is not warm (see above); b only when the down projection left it in the L2
        preset = preset + (WARM_ADD if gemm_leaves_output_warm(preset, r, "mlp_down_proj") else "")
    elif op in PRODUCED_BY:  # a GEMM's output: warm only where the GEMM's later waves leave it in the L2
        preset = preset + (WARM if gemm_leaves_output_warm(preset, r, PRODUCED_BY[op]) else "")
    else:
        preset = preset + WARM
    ffn = int(r["n_expanded_embd"])
    gated = str(r.get("use_gated_mlp", "True")).strip().lower() in ("true", "1")
    if op in VIDUR_GEMMS:
        m, n, k = (int(r[f"{op}_{x}"]) for x in "MNK")
        return job(preset, "gemm", m=m, n=n, k=k, dtype="fp16"), f"{m}x{n}x{k}"
    if op in ("input_layernorm", "post_attention_layernorm"):
        return job(preset, "rmsnorm", rows=tokens, cols=d, dtype="fp16"), f"{tokens}x{d}"
    if op == "mlp_act" and gated:  # Sarathi-Serve's silu_and_mul: reads gate and up, writes one
        return job(preset, "silu_mul", rows=tokens, cols=ffn // tp, dtype="fp16"), f"{tokens}x{ffn // tp}"
    if op == "mlp_act":
        return job(preset, "gelu", elements=tokens * (ffn // tp), dtype="fp16"), f"{tokens * (ffn // tp)}"
    if op == "attn_rope":  # rotary embedding of this GPU's q heads (n_head/tp) then its k heads (n_kv_head/tp)
        hd = d // int(r["n_head"])
        q, k = int(r["n_head"]) * hd // tp, int(r["n_kv_head"]) * hd // tp
        return job(preset, "rope", rows=tokens, cols=q + k, key_cols=k, dtype="fp16"), f"{tokens}x({q}+{k})"
    if op == "add":  # the residual add: reads two (tokens, n_embd) tensors, writes one
        return job(preset, "add", rows=tokens, cols=d, dtype="fp16"), f"{tokens}x{d}"
    if op == "emb":
        return job(preset, "embedding_bag", batch=tokens, rows=VOCAB // tp, dim=d, pooling=1, kernel="embedding",
                   dtype="fp16"), f"{tokens}x{d}"
    return None


def plan_vidur_ops(plan: FilePlan, preset: str) -> FilePlan:
    plan.compared = DEVICE
    rows = read_rows(plan.path)
    ops_in_file = [c[: -len("_median_ms")] for c in (rows[0] if rows else {}) if c.endswith("_median_ms")]
    for r in rows:
        gated = str(r.get("use_gated_mlp", "True")).strip().lower() in ("true", "1")
        where = f"tp={int(r['tp'])} tokens={int(r['num_tokens'])}"
        for op in ops_in_file:
            meas = float(r[f"{op}_median_ms"]) * 1e-3
            replayed = vidur_job(preset, op, r)
            if replayed is None:
                plan.skipped.append((f"{where} {op}", "no micro-workload for this op"))
                continue
            if meas <= 0:
                plan.skipped.append((f"{where} {op}", "measured time is 0"))
                continue
            j, how = replayed
            tags = frozenset({"proxy"} if op == "mlp_act" and not gated else ())
            plan.rows.append(RowSpec(f"{where} {op} {how}", meas, ((j, 1, "device"),), group=op, tags=tags))
    plan.views = [group_view(op, VIDUR_OPS[op]) for op in ops_in_file if op in VIDUR_OPS]
    for v in plan.views:
        if v.label in VIDUR_MEMORY_BOUND:
            v.target = "vidur_kernel"
    plan.views.append(View("4 GEMMs", lambda r: r.group in VIDUR_GEMMS, None, ""))
    plan.views.append(View("4 GEMMs, rows >= 50 us", lambda r: r.group in VIDUR_GEMMS and r.measured_s >= 50e-6, None,
                           "the GEMM regime of the LLMCompass target"))
    # a non-gated MLP's mlp_act is a plain activation replayed by SiLU*mul (a proxy): left out, and the label says so
    # only where a file has such rows (the shared Llama-2 / CodeLlama files are all gated: it excludes nothing there)
    proxies = sum("proxy" in r.tags for r in plan.rows)
    plan.views.append(View("all replayed ops" + (f" except {proxies} non-gated mlp_act (proxy)" if proxies else ""),
                           lambda r: "proxy" not in r.tags, "vidur",
                           "GEMMs, RMSNorms, embedding, RoPE, SiLU*mul, residual add"))
    return plan


def plan_vidur_allreduce(plan: FilePlan, network: str | None) -> FilePlan:
    plan.compared = "device (NCCL kernel) vs accelsim.cost.collective (the collective micro-workload's model)"
    rows = read_rows(plan.path)
    if network is None:
        return skip_all(plan, f"no network preset for hardware {plan.hardware!r} (see --arch-map)")
    from accelsim.cost import collective

    arch = load_preset(network)
    pairwise = "pairwise" in plan.path.stem.lower()
    ic = arch.interconnect
    workers, spread = set(), set()
    for r in rows:
        nw, per_node, nbytes = int(r["num_workers"]), int(r["devices_per_node"]), int(r["bytes"])
        nodes = math.ceil(nw / per_node)
        key = f"{nw} GPUs on {nodes} node(s), {nbytes} B"
        big = {"ge1MiB"} if nbytes >= 2**20 else set()
        if per_node < nw:
            if pairwise or ic is None or ic.scale_out is None or ic.node_chips is None:
                plan.skipped.append((key, "multi-node: no inter-node network in the preset"))
                continue
            # per_node of the group's chips in each of `nodes` nodes: spread over that many whole nodes
            sim = collective.seconds(arch, "all_reduce", nbytes, nw, extent=ic.node_chips * nodes)
            group = f"{nw} GPUs on {nodes} nodes"
            spread.add((nw, nodes, group))
            plan.rows.append(RowSpec(key, float(r["median_ms"]) * 1e-3, (), sim, group=group,
                                     tags=frozenset({"multinode", *big})))
            continue
        workers.add(nw)
        plan.rows.append(RowSpec(key, float(r["median_ms"]) * 1e-3, (), collective.seconds(arch, "all_reduce", nbytes, nw),
                                 group=f"{nw} GPUs", tags=frozenset(big)))
    target = None if pairwise else "allreduce"
    for nw in sorted(workers):
        plan.views.append(group_view(f"{nw} GPUs"))
    plan.views.append(View("all single-node rows", lambda r: "multinode" not in r.tags, target,
                           "reference only: PCIe node with NVLink in pairs, not the NVSwitch topology of "
                           f"{network}" if pairwise else f"{network} interconnect, chips = num_workers"))
    plan.views.append(View(">= 1 MiB", lambda r: "ge1MiB" in r.tags and "multinode" not in r.tags,
                           None if pairwise else "nccl",
                           "bandwidth regime" + (" (reference only)" if pairwise else " (issue 12's NCCL target)")))
    for nw in sorted(workers):
        plan.views.append(View(f"{nw} GPUs >= 1 MiB", lambda r, g=f"{nw} GPUs": r.group == g and "ge1MiB" in r.tags))
    if spread:  # rows across nodes: the preset's scale_out network (no target in the issue)
        for _, _, group in sorted(spread):
            plan.views.append(group_view(group))
        plan.views.append(View("all multi-node rows", lambda r: "multinode" in r.tags, None,
                               f"reference only: {network}'s scale_out (a DGX SuperPOD's 8 HDR NICs a node); the "
                               "network of Vidur's 2-node runs is not documented, and its 1-GPU-a-node pair reaches "
                               "~5.8 GB/s, a quarter of one HDR NIC"))
        plan.views.append(View("multi-node >= 1 MiB", lambda r: "multinode" in r.tags and "ge1MiB" in r.tags))
    plan.preset = network
    return plan
