"""benchmarks/kernels/measure_model.py's whole-model files: LLaMA-2-7B prefill and decode steps, a TinyLlama-1.1B
training step, ResNet-50 and BERT-base forwards (benchmarks/data/measured/README.md).

* ``llama_inference.csv`` and ``encoders_inference.csv``: each row -> the workload of its model (``llama2_7b`` of
  its phase, batch and prompt / cache length, with ``rope_kernel: eager``, the measured model's RoPE being
  transformers' five kernels; ``bert_base`` at its batch and tokens; ``resnet50`` at its batch and image side
  ``seq_len``, its batch norms unfolded as eager PyTorch runs them), fused attention, bf16. ``graph`` rows (one
  CUDA graph replayed back to back) -> ``execution: cuda_graph``, the device time (report ``seconds`` less the
  graph's host launch); ``eager`` rows (the forward called from Python and synchronized each time) ->
  ``execution: eager``, report ``seconds`` (the host's launches issued ahead of the device, the slower of the two
  deciding). ``hf_*`` rows (``hf_check.csv``: transformers itself) are listed, not replayed.
* ``llama_training.csv``: ``train_fwd_bwd`` -> the ``hf`` workload of TinyLlama's config in training mode (bf16,
  fused attention, no dropout: the config's rates are 0), eager, compared with the end of the backward phase on
  the timeline (report ``phases``; the measured step has no optimizer). ``optimizer`` rows are listed, not replayed:
  the measured step is fused AdamW over fp32 parameters with fp32 gradients (28 bytes per parameter), accelsim's
  step reads bf16 gradients into an fp32 master copy and writes the bf16 weights back.

Attention replays on the preset's ``flash2_dense`` kernel model: SDPA's FLASH backend is PyTorch's FlashAttention-2
through its dense entry (as measure_gpu.py's attention rows replay, aiconfigurator.TORCH_ATTENTION). Every row is
sustained load on random data (a row is seconds of back-to-back calls), so each replays with the first-order TDP
throttle, as measure_gpu.py's rows do (aiconfigurator.SUSTAINED and its sources).
"""

from __future__ import annotations

from .aiconfigurator import SUSTAINED, TORCH_ATTENTION
from .data import read_rows
from .model import FilePlan, RowSpec, View, group_view, job

# TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T config.json (measure_model.py's TINYLLAMA)
TINYLLAMA = dict(architectures=("LlamaForCausalLM",), model_type="llama", hidden_size=2048, intermediate_size=5632,
                 num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4, vocab_size=32000,
                 max_position_embeddings=2048, rms_norm_eps=1e-5, tie_word_embeddings=False, hidden_act="silu")
MODES = {"graph": ("cuda_graph", "replay"), "eager": ("eager", "host")}
# the measured model applies RoPE as transformers' apply_rotary_pos_emb (rotate_half: a negation and torch.cat, two
# multiplies, an add: five kernels per tensor), which is what rope_kernel "eager" builds
ROPE = "eager"
# SDPA's FLASH backend is PyTorch's FlashAttention-2 on every GPU: the rows replay on its kernel model (flash2_dense),
# as measure_gpu.py's attention rows do (aiconfigurator.TORCH_ATTENTION; a Hopper preset runs vLLM's FA3 by default)
ATTENTION_KERNEL = TORCH_ATTENTION["sdpa_flash"]


def _inference_job(preset: str, model: str, phase: str, b: int, s: int, kv: int, dtype: str, execution: str):
    """The job of one measure_model.py inference row, or None for a model it does not replay."""
    arch = f"{preset}|kernel={ATTENTION_KERNEL}|execution={execution}{SUSTAINED}"
    if model == "llama2_7b":
        params = dict(phase=phase, batch=b, attention="fused", dtype=dtype, rope_kernel=ROPE)
        params.update(seq_len=s) if phase == "prefill" else params.update(kv_len=kv)
        return job(arch, "llama2_7b", **params)
    if model == "bert_base":  # HF's BertModel with SDPA (FlashAttention-2), eval: no dropout
        return job(arch, "bert_base", batch=b, seq_len=s, attention="fused", dtype=dtype)
    if model == "resnet50":  # eager PyTorch runs each eval batch norm as its own kernel: not folded
        return job(f"{preset}|execution={execution}|fold_bn=false{SUSTAINED}", "resnet50", batch=b, image_size=s,
                   dtype=dtype)
    return None


def plan_model_inference(plan: FilePlan, preset: str) -> FilePlan:
    plan.compared = "one forward: graph replay (device time) / eager (host-launched, synchronized)"
    groups = []
    for r in read_rows(plan.path):
        model, phase, mode = r["model"].strip(), r["phase"].strip(), r["mode"].strip()
        b, s, kv = int(r["batch"]), int(r["seq_len"]), int(r["kv_len"])
        key = ("" if model == "llama2_7b" else f"{model} ") + f"{phase} b{b} " + (
            f"kv{kv}" if phase == "decode" else f"s{s}") + f" {mode}"
        if model.startswith("hf_"):
            plan.skipped.append((key, "transformers' own model: measured against the plain-PyTorch row of the same "
                                      "shape (measure_model.py's hf section), not replayed"))
            continue
        j = _inference_job(preset, model, phase, b, s, kv, r["dtype"].strip(), MODES[mode][0]) if mode in MODES \
            else None
        if j is None:
            plan.skipped.append((key, f"model {model!r} / mode {mode!r}: no replay"))
            continue
        group = (f"{phase} {mode}" if model == "llama2_7b" else f"{model} {mode}")
        groups += [group] if group not in groups else []
        plan.rows.append(RowSpec(key, float(r["latency_us"]) * 1e-6, ((j, 1, MODES[mode][1]),), group=group))
    plan.views = [View("all rows", lambda row: True)] + [group_view(g) for g in groups]
    plan.notes.append("measure_model.py's plain-PyTorch models (LLaMA-2-7B as transformers runs it, BERT-base as HF's "
                      "BertModel, ResNet-50 as torchvision's), random bf16 weights, FlashAttention-2 through SDPA; "
                      "replayed with the TDP throttle")
    return plan


def plan_model_training(plan: FilePlan, preset: str) -> FilePlan:
    plan.compared = "forward + loss + backward of one step (the end of the backward phase), eager"
    for r in read_rows(plan.path):
        phase, b, s = r["phase"].strip(), int(r["batch"]), int(r["seq_len"])
        key = f"{r['model'].strip()} {phase} b{b} s{s}"
        if phase != "train_fwd_bwd" or r["model"].strip() != "tinyllama_1_1b":
            plan.skipped.append((key, "fused AdamW over fp32 params and fp32 grads (28 B per parameter): not "
                                      "accelsim's mixed-precision step (bf16 grads, fp32 master), listed only"))
            continue
        j = job(f"{preset}|kernel={ATTENTION_KERNEL}|execution=eager{SUSTAINED}", "hf", name="tinyllama_1_1b",
                mode="training",
                batch=b, seq_len=s, attention="fused", dtype=r["dtype"].strip(), rope_kernel=ROPE, **TINYLLAMA)
        plan.rows.append(RowSpec(key, float(r["latency_us"]) * 1e-6, ((j, 1, "fwd_bwd"),), group=phase))
    plan.views = [View("forward + backward", lambda row: True)]
    plan.notes.append("TinyLlama-1.1B (22 layers, GQA 32/4) in plain PyTorch, bf16 weights, no dropout; replayed "
                      "as the hf workload of its config in training mode, the backward phase's end")
    return plan
