"""A prefill's LM head over every position (a forward pass, a training loss) or only each sequence's last (where a
server samples: vLLM's compute_logits, transformers' generate with logits_to_keep=1)."""

from __future__ import annotations

from accelsim import simulate
from accelsim.builders import build_workload
from accelsim.config import build_graph, load_workload


def _llama3(**params):
    return build_graph(load_workload({"base": "llama3_8b", **params}), "bf16")


def test_the_last_positions_head_has_one_row_a_sequence():
    # Llama 3 8B (vocab 128,256, hidden 4,096), 2 prompts of 1,024 tokens: the head's GEMM goes from 2 x 1,024 rows
    # to 2, so 2 x 1,023 x 4,096 x 128,256 fewer MACs; nothing else changes
    params = {"batch": 2, "seq_len": 1024}
    every, last = _llama3(**params, logits="all"), _llama3(**params, logits="last")
    assert every.macs - last.macs == 2 * 1023 * 4096 * 128_256
    assert last["lm_head"].gemm.m == 2 and every["lm_head"].gemm.m == 2 * 1024
    assert last.params == every.params
    # the same for the LLaMA-2 builder (vocab 32,000); a training step keeps every position (its loss reads them)
    l2 = [build_workload("llama2_7b", {**params, "logits": k}, default_dtype="bf16").macs for k in ("all", "last")]
    assert l2[0] - l2[1] == 2 * 1023 * 4096 * 32_000
    train = build_workload("llama2_7b", {**params, "logits": "last", "mode": "training", "layers": 1},
                           default_dtype="bf16")
    assert train["lm_head"].gemm.m == 2 * 1024


def test_a_serving_run_samples_from_the_last_positions_unless_told():
    run = {"model": "llama2_7b", "seq_len": 256, "decode_steps": 2, "layers": 2}
    default = simulate(run, "tpu-v4").to_dict()
    every = simulate({**run, "logits": "all"}, "tpu-v4").to_dict()
    last = simulate({**run, "logits": "last"}, "tpu-v4").to_dict()
    # the prefill's head: 255 rows of 4,096 x 32,000 fewer MACs (decode steps have one row either way)
    assert every["macs"] - last["macs"] == 255 * 4096 * 32_000
    assert default["macs"] == last["macs"] and default["workload"]["params"]["logits"] == "last"
    assert default["serving"]["ttft_s"] < every["serving"]["ttft_s"]
