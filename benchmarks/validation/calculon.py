"""Calculon's file: Megatron-LM training iterations on Selene (Korthikanti et al. 2022, Table 5)."""

from __future__ import annotations

from .data import read_rows
from .model import FilePlan, RowSpec, View, job

MEGATRON_RECOMPUTE = {"full-recompute": ("full", False), "seq+sel": ("selective", True)}
"""The paper's modes as accelsim's (``recompute``, ``sequence_parallel``): full recomputation without sequence
parallelism; seq+sel = sequence parallelism with selective recomputation (Korthikanti et al. 2022, Table 5)."""


def plan_megatron(plan: FilePlan, network: str) -> FilePlan:
    """Megatron-LM training iterations on Selene: the ``gpt`` workload of each row's shape in training mode with
    Adam, tensor x pipeline parallel (interleaved 1F1B), micro-batches = global / (micro x dp), on the node preset
    with chips = the row's GPUs; compared with report ``seconds`` (one iteration)."""
    plan.compared = "iteration time (report seconds of the pipeline-parallel training run)"
    plan.notes.append("Pipeline sends between nodes go over dgx-a100's InfiniBand (scale_out, Calculon's 25 GB/s a "
                      "GPU); they are ~0.1 % of an iteration here. seq+sel is replayed as selective recomputation "
                      "with sequence parallelism.")
    for r in read_rows(plan.path):
        key = f"{r['model']} {r['gpus']} GPUs TP{r['tp']} PP{r['pp']} {r['paper_mode']}"
        gpus, tp, pp, dp = (int(r[c]) for c in ("gpus", "tp", "pp", "dp"))
        mode = MEGATRON_RECOMPUTE.get(r["paper_mode"])
        if mode is None or tp * pp * dp != gpus:
            plan.skipped.append((key, f"mode {r['paper_mode']!r} or tp x pp x dp != gpus"))
            continue
        micro = int(r["micro_batch"])
        recompute, sequence_parallel = mode
        j = job(f"{network}|chips={gpus}", "gpt", hidden=int(r["hidden"]), heads=int(r["heads"]),
                layers=int(r["layers"]), ffn=int(r["ffn"]), seq_len=int(r["seq_len"]), batch=micro, mode="training",
                optimizer="adam", recompute=recompute, sequence_parallel=sequence_parallel, tensor_parallel=tp,
                pipeline_parallel=pp,
                pipeline_interleave=int(r["pp_interleave"]), micro_batches=int(r["global_batch"]) // (micro * dp))
        plan.rows.append(RowSpec(key, float(r["measured_iteration_time_s"]), ((j, 1, "host"),),
                                 group=r["paper_mode"]))
    plan.views = [View("all rows", lambda row: True),
                  View("full recompute", lambda row: row.group == "full-recompute"),
                  View("seq+sel", lambda row: row.group == "seq+sel")]
    return plan
