"""Probe p238 #3: tensor-parallel collectives Megatron-LM runs that a training step left out.

(a) megatron/core/tensor_parallel/cross_entropy.py, ``_VocabParallelCrossEntropy.forward``: with the logits split by
vocabulary rows over the tensor-parallel group, the loss all-reduces ``logits_max`` (ReduceOp.MAX),
``predicted_logits`` and ``sum_exp_logits`` (SUM), one value a token each, in fp32 (the logits are ``.float()``).

(b) megatron/core/distributed/finalize_model_grads.py, ``_allreduce_layernorm_grads``: under sequence parallelism
(tensor parallel > 1) the gradients of every parameter marked ``sequence_parallel`` (LayerNorm / TENorm weight and
bias; RowParallelLinear's bias) are flattened into one buffer and all-reduced over the tensor-parallel group once a
step, before the optimizer.
"""

from __future__ import annotations

from collections import Counter

import pytest

from accelsim import simulate
from accelsim.builders.build import build_graph
from accelsim.config import load_workload

FP32 = 4


def _graph(model: str, *sets: str):
    # bf16, as the dgx presets run it: its gradients fp32 (Megatron's main_grad; units.GRAD_DTYPE)
    return build_graph(load_workload(model, ["workload.mode=training", "workload.dtype=bf16", *sets]))


def _loss_all_reduces(g):
    return [o for o in g.ops if o.kind.value == "collective" and o.name.startswith("loss.")]


def test_the_vocab_parallel_loss_all_reduces_max_and_two_sums_of_one_fp32_value_a_token():
    s, b, t = 2048, 2, 2  # gpt's seq_len 2048
    g = _graph("gpt", "workload.layers=2", f"workload.tensor_parallel={t}", f"workload.batch={b}")
    ars = _loss_all_reduces(g)
    assert [(o.name, o.attrs["reduce_op"]) for o in ars] == [
        ("loss.logits_max_all_reduce", "max"), ("loss.predicted_logits_all_reduce", "sum"),
        ("loss.sum_exp_logits_all_reduce", "sum")]
    for o in ars:
        assert (o.fn, o.group, o.phase) == ("all_reduce", t, "forward")
        assert o.out_bytes == s * b * FP32 == 16_384  # one fp32 value for each of the s·b tokens
    # each waits for the one before, the loss for the last (it reads the all-reduced sums)
    assert [o.inputs[0] for o in ars[1:]] == [o.name for o in ars[:2]]
    assert ars[-1].name in g["loss"].inputs


def test_a_whole_vocabulary_has_no_loss_all_reduce():
    assert _loss_all_reduces(_graph("gpt", "workload.layers=2")) == []


def test_the_sequence_parallel_gradients_are_all_reduced_once_a_step():
    # gpt, 24 layers, hidden 2048: each layer 2 LayerNorms (weight + bias: 4h) and the 2 row-split linears' biases
    # (attention output and MLP down projection: 2h), + the final LayerNorm (2h): (24·6 + 2)·2048 = 299,008 values,
    # fp32 gradients (a bf16 model's main_grad) = 1,196,032 B. The column-split linears' biases (q/k/v, MLP up) are
    # split with their columns: not in it.
    h, layers, t = 2048, 24, 2
    g = _graph("gpt", f"workload.tensor_parallel={t}", "workload.sequence_parallel=true")
    (op,) = [o for o in g.ops if o.name == "sequence_parallel_grads_all_reduce"]
    assert (op.fn, op.group, op.phase, op.dtype) == ("all_reduce", t, "optimizer", "fp32")
    assert op.out_shape == ((layers * 6 + 2) * h,) == (299_008,)
    assert op.out_bytes == 299_008 * FP32 == 1_196_032
    assert op.attrs["params"] == layers * 6 + 2
    # after every backward op, before every optimizer step
    phases = [o.phase for o in g.ops]
    i = g.ops.index(op)
    assert "backward" not in phases[i:] and all(o.kind.value == "optimizer" for o in g.ops[i + 1:])


def test_a_rmsnorm_models_sequence_parallel_gradients_are_its_norm_weights():
    # llama2_7b, 1 layer: 2 RMSNorm weights a layer + the final one, no biases: 3 x 4096 fp32 = 49,152 B
    g = _graph("llama2_7b", "workload.layers=1", "workload.seq_len=512", "workload.tensor_parallel=4",
               "workload.sequence_parallel=true")
    (op,) = [o for o in g.ops if o.name == "sequence_parallel_grads_all_reduce"]
    assert op.out_bytes == 3 * 4096 * FP32 == 49_152


def test_without_sequence_parallelism_no_norm_gradient_is_all_reduced():
    g = _graph("gpt", "workload.layers=2", "workload.tensor_parallel=2")
    assert not [o for o in g.ops if o.phase == "optimizer" and o.kind.value == "collective"]


@pytest.mark.parametrize("sp, before", [(False, {"all_reduce": 18}),
                                        (True, {"all_gather": 27, "reduce_scatter": 17, "all_reduce": 1})])
def test_probe_p238_gpt_tp2_collectives(sp, before):
    # the probe's run: gpt, 4 layers, TP 2 on dgx-a100. Without SP 18 all-reduces (9 forward: the embedding and 2 a
    # layer; 9 backward) + the loss's 3; with SP + the loss's 3 and the step's 1 of (4·6 + 2)·2048 fp32 gradients =
    # 212,992 B
    r = simulate({"model": "gpt", "mode": "training", "layers": 4, "tensor_parallel": 2, "attention": "fused",
                  "sequence_parallel": sp}, {"base": "dgx-a100", "chips": 2},
                 options={"layer_samples": False}).to_dict()
    ops = [o for o in r["ops"] if o["kind"] == "collective"]
    after = Counter(before)
    after["all_reduce"] += 3 + sp
    assert Counter(o["fn"] for o in ops) == after
    loss = [o for o in ops if o["name"].startswith("loss.")]
    assert [o["mapping"]["message_bytes"] for o in loss] == [2048 * FP32] * 3
    grads = [o for o in ops if o["name"] == "sequence_parallel_grads_all_reduce"]
    assert [o["mapping"]["message_bytes"] for o in grads] == ([(4 * 6 + 2) * 2048 * FP32] if sp else [])
