"""Probe p247 #3: Megatron-LM's finalize_model_grads all-reduces the QK-norms' weight gradients over the
tensor-parallel group whenever it has more than one rank, with or without sequence parallelism.

megatron/core/distributed/finalize_model_grads.py, ``_allreduce_layernorm_grads`` (NVIDIA/Megatron-LM): ``if
get_tensor_model_parallel_world_size() > 1 and (config.sequence_parallel or config.qk_layernorm)``, every parameter
with ``getattr(param, 'sequence_parallel', False) or 'q_layernorm' in name or 'k_layernorm' in name`` has its
gradient flattened into one buffer, all-reduced over the tensor-parallel group. A QK-norm's weight is the same on
every chip and each chip's gradient of it covers only its own heads, so the chips' gradients are summed. Before the
fix a step emitted this all-reduce only under sequence parallelism.
"""

from __future__ import annotations

from accelsim import simulate
from accelsim.builders.build import build_graph
from accelsim.config import load_workload

FP32 = 4  # a bf16 model's gradients are fp32 (Megatron's main_grad; units.GRAD_DTYPE)


def _graph(model: str, *sets: str):
    return build_graph(load_workload(model, ["workload.mode=training", "workload.dtype=bf16", *sets]))


def _grads_all_reduce(g):
    return [o for o in g.ops if o.name == "sequence_parallel_grads_all_reduce"]


def test_qwen3_tp2_all_reduces_the_q_and_k_norm_gradients_without_sequence_parallelism():
    # qwen3_32b (workloads/qwen3_32b.yaml: head_dim 128): q_norm and k_norm are RMSNorms over head_dim, a (128,)
    # weight each, replicated on both chips. 2 layers x 2 norms x 128 x 4 B = 2,048 B
    g = _graph("qwen3_32b", "workload.layers=2", "workload.seq_len=256", "workload.tensor_parallel=2")
    norms = [w for o in g.ops if o.kind.value == "norm" and o.phase == "forward" for w in o.weights
             if w.name.endswith(("q_norm.weight", "k_norm.weight"))]
    assert len(norms) == 4 and {w.shape for w in norms} == {(128,)}
    (op,) = _grads_all_reduce(g)
    assert (op.fn, op.group, op.phase, op.dtype) == ("all_reduce", 2, "optimizer", "fp32")
    assert op.attrs["params"] == 2 * 2
    assert op.out_shape == (2 * 2 * 128,) and op.out_bytes == 2 * 2 * 128 * FP32 == 2_048
    # it reads the four norm-weight gradients and nothing else: the other norms (input / post-attention / final)
    # are not marked without sequence parallelism
    assert op.inputs == tuple(f"model.layers.{i}.self_attn.{n}_norm.grad_weight" for i in (0, 1) for n in "qk")


def test_the_whole_qwen3_32b_all_reduces_64_layers_of_q_and_k_norm_gradients():
    # 64 layers x 2 x 128 x 4 B = 65,536 B
    (op,) = _grads_all_reduce(_graph("qwen3_32b", "workload.seq_len=128", "workload.tensor_parallel=8"))
    assert op.out_bytes == 64 * 2 * 128 * FP32 == 65_536 and op.group == 8


def test_one_chip_has_no_qk_norm_all_reduce():
    assert _grads_all_reduce(_graph("qwen3_32b", "workload.layers=2", "workload.seq_len=256")) == []


def test_inference_marks_no_qk_norm():
    g = build_graph(load_workload("qwen3_32b", ["workload.layers=2", "workload.tensor_parallel=2"]))
    assert not [o for o in g.ops if o.attrs.get("sequence_parallel")]


def test_with_sequence_parallelism_the_qk_norms_join_the_one_all_reduce_as_before():
    # qwen3_32b, 2 layers, SP: each layer's input and post-attention RMSNorm (5120 each) and its q/k norms (128
    # each), + the final RMSNorm (5120), no biases: (2 (5120 + 5120 + 128 + 128) + 5120) x 4 B = 104,448 B, once
    (op,) = _grads_all_reduce(_graph("qwen3_32b", "workload.layers=2", "workload.seq_len=256",
                                     "workload.tensor_parallel=2", "workload.sequence_parallel=true"))
    assert op.out_bytes == (2 * (5120 + 5120 + 128 + 128) + 5120) * FP32 == 104_448


def test_olmo2_tp2_all_reduces_its_whole_projection_norms():
    # olmo2_7b (workloads/olmo2_7b.yaml: hidden 4096, 32 heads, 32 kv heads of 128): its QK-norm is an RMSNorm over
    # the whole q or k projection, a (4096,) weight each, which every chip holds whole (it all-gathers the shards
    # and norms the whole projection) while its gradient covers the chip's own heads' columns: 2 layers x 2 x 4096
    # x 4 B = 65,536 B
    (op,) = _grads_all_reduce(_graph("olmo2_7b", "workload.layers=2", "workload.seq_len=128",
                                     "workload.tensor_parallel=2"))
    assert op.out_bytes == 2 * 2 * 4096 * FP32 == 65_536


def test_probe_p247_qwen3_tp2_run_emits_the_all_reduce():
    # the probe's run: qwen3_32b, 2 layers, TP 2 on 2 dgx-h100 chips: the step's one all-reduce of 2,048 B
    r = simulate({"base": "qwen3_32b", "mode": "training", "layers": 2, "seq_len": 256, "tensor_parallel": 2,
                  "attention": "fused"}, {"base": "dgx-h100", "chips": 2},
                 options={"layer_samples": False}).to_dict()
    (op,) = [o for o in r["ops"] if o["name"] == "sequence_parallel_grads_all_reduce"]
    assert op["mapping"]["message_bytes"] == 2 * 2 * 128 * FP32
    assert op["mapping"]["phase"] == "optimizer"
