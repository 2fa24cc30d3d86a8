"""A GPU training step's optimizer kernels: PyTorch's foreach calls (or Megatron's fused Adam) over the parameter
tensors, ATen's multi_tensor_apply limits (ATen/native/cuda/MultiTensorApply.cuh: chunks of 65,536 elements, 320
blocks a kernel, depth_to_max_tensors {110, 64, 48, 36, 30}, the scalar-list variant {96, 64, 48, 36, 30}), not
one launch a parameter (probe p161 #2). Every count is worked out by hand in its test."""

from __future__ import annotations

import accelsim
from accelsim import __version__
from accelsim.builders import GraphBuilder
from accelsim.builders.training import training_graph
from accelsim.engine import simulate as run_engine
from accelsim.hardware import Arch
from accelsim.ir import OpKind
from accelsim.mapping import lower
from accelsim.mapping.lower import _rank_shards
from accelsim.mapping.multitensor import call_kernels, step_kernels
from accelsim.options import Options
from accelsim.report import build_report
from accelsim.tasks import TaskKind

CHUNK = 65536


def test_tensor_limit_opens_a_kernel_every_limit_tensors():
    # 213 one-chunk tensors (EfficientNet-B0's count) through a depth-2 call (64 tensors a kernel): kernels open at
    # tensors 0, 64, 128 and 192, ⌈213 / 64⌉ = 4 in all
    k = call_kernels([1000] * 213, 2)
    assert [i for i, n in enumerate(k) if n] == [0, 64, 128, 192]
    assert sum(k) == 4


def test_foreach_adam_over_213_tensors_takes_25_kernels_not_213():
    # torch/optim/adam.py _multi_tensor_adam's seven calls (depth, scalar list): lerp_ (2) ⌈213/64⌉ = 4, mul_ (1)
    # ⌈213/110⌉ = 2, addcmul_ (3) ⌈213/48⌉ = 5, sqrt (2) 4, div_ (1, scalar list) ⌈213/96⌉ = 3, add_ (1) 2,
    # addcdiv_ (3, scalar list) ⌈213/48⌉ = 5: 4 + 2 + 5 + 4 + 3 + 2 + 5 = 25
    k = step_kernels([1000] * 213, "adam", fused=False)
    assert sum(k) == 25
    assert k[0] == 7  # every call's first kernel opens on the first tensor


def test_foreach_sgd_and_momentum():
    # sgd: one _foreach_add_ (p, g), depth 2: ⌈213/64⌉ = 4. momentum: mul_ (b) ⌈213/110⌉ = 2, add_ (b, g) 4,
    # add_ (p, b) 4: 10
    assert sum(step_kernels([1000] * 213, "sgd", fused=False)) == 4
    assert sum(step_kernels([1000] * 213, "momentum", fused=False)) == 10


def test_fused_adam_is_one_call_of_depth_four():
    # g, p, m, v: 36 tensors a kernel, ⌈213 / 36⌉ = 6 (213 = 5 × 36 + 33)
    assert sum(step_kernels([1000] * 213, "adam", fused=True)) == 6


def test_block_limit_cuts_a_large_tensor():
    # 320 × 65,536 + 1 elements = 321 chunks: the first kernel holds 320 blocks, the second the last chunk and
    # then the small tensor after it (its last chunk of all launches it): both open on tensor 0
    assert call_kernels([320 * CHUNK + 1, 5], 1) == [2, 0]
    # four tensors of 100 chunks: 100, 200, 300 blocks, then 20 of the fourth's fill the kernel (320); its other
    # 80 open a second kernel on the fourth tensor
    assert call_kernels([100 * CHUNK] * 4, 1) == [1, 0, 0, 1]


def test_empty_tensors_are_skipped():
    # ATen skips zero-element tensors: 64 live tensors at depth 2 fill one kernel, whatever empties lie between
    assert sum(call_kernels([1, 0, 0] + [1] * 63 + [0], 2)) == 1


def _gpu(**launch):
    return Arch.model_validate({
        "name": "gpu", "clock": "1GHz", "dtype": "fp16", "cores": 4,
        "core": {"systolic": {"rows": 16, "cols": 16, "dataflow": "os"}, "vector": {"lanes": 64},
                 "sram": {"unified": "192KiB"}, "tile": {"m": 64, "n": 64}},
        "hbm": {"capacity": "16GiB", "bandwidth": "1TB/s"}, **launch,
    })


def _mlp_training(layers: int = 70):
    """``layers`` linear 16→16 layers with bias: 2 × layers parameter tensors of 256 and 16 elements."""
    b = GraphBuilder("mlp", (4, 16))
    x = "input"
    for i in range(layers):
        x = b.linear(x, 16, name=f"fc{i}")
    return training_graph(b.build(), "adam")


def _step_tasks(graph, arch, kind, **options):
    tg = lower(graph, arch, Options(**options))
    steps = {i for i, op in enumerate(graph.ops) if op.kind is OpKind.OPTIMIZER}
    return tg, [t for t in tg.tasks if t.kind is kind and t.op in steps]


def test_eager_step_launches_follow_foreach_adam():
    g = _mlp_training()
    assert sum(op.kind is OpKind.OPTIMIZER for op in g.ops) == 140  # 70 weights + 70 biases
    # 140 tensors: lerp_ ⌈140/64⌉ = 3, mul_ ⌈140/110⌉ = 2, addcmul_ ⌈140/48⌉ = 3, sqrt 3, div_ ⌈140/96⌉ = 2,
    # add_ 2, addcdiv_ 3: 18 kernels of 10 µs (10,000 cycles at 1 GHz) each, not 140
    tg, launches = _step_tasks(g, _gpu(kernel_launch="10us", kernel_dispatch="1us"), TaskKind.LAUNCH)
    assert sum(t.cycles for t in launches) == 18 * 10_000
    # and 18 dispatches of 1 µs: the device starts 18 kernels
    _, dispatches = _step_tasks(g, _gpu(kernel_launch="10us", kernel_dispatch="1us"), TaskKind.DISPATCH)
    assert sum(t.cycles for t in dispatches) == 18 * 1_000
    # the steps' work is unchanged: each step still reads and writes its own tensor's bytes
    rep = build_report(g, _gpu(kernel_launch="10us", kernel_dispatch="1us"), tg, run_engine(tg), name="t",
                       workload={}, version=__version__)
    rows = [r for r in rep["ops"] if r["name"].endswith(".step")]
    assert sum(int(r["mapping"].get("kernels", 1)) for r in rows) == 18


def test_cuda_graph_dispatches_follow_capturable_foreach_adam():
    # under a CUDA graph the host launches the pass once; the device still starts each kernel. Changed with probe
    # p165 #3: this asserted the eager step's 18 kernels, but a step captured in the graph must be capturable
    # (torch/optim/optimizer.py _cuda_graph_capture_health_check), and _multi_tensor_adam's capturable branch makes
    # 17 calls over the 140 tensors (one chunk each). Over the 140 one-element step counters: add_ (1) ⌈140/110⌉ =
    # 2, pow × 2 (2) 3 + 3, sub_, sub_, neg_, div_, reciprocal_, sqrt_ (1) 6 × 2 = 12: 20. Over the parameters:
    # lerp_ (2) 3, mul_ (1) 2, addcmul_ (3) ⌈140/48⌉ = 3, sqrt (2) 3, add_ (1) 2, addcdiv_ (3) 3: 16. The two list
    # div_ (d by a 0-dim tensor: ATen's slow route) a kernel per tensor, 2 × 140 = 280. 20 + 16 + 280 = 316
    g = _mlp_training()
    _, dispatches = _step_tasks(g, _gpu(kernel_launch="10us", graph_launch="5us", kernel_dispatch="1us"),
                                TaskKind.DISPATCH, execution="cuda_graph")
    assert sum(t.cycles for t in dispatches) == 316 * 1_000


def test_capturable_foreach_adam_over_213_tensors():
    # torch/optim/adam.py _multi_tensor_adam, capturable=True: 17 calls. On the 213 one-element step counters:
    # _foreach_add_ (1) ⌈213/110⌉ = 2; _foreach_pow(β1), _foreach_pow(β2) (out of place: depth 2) ⌈213/64⌉ = 4
    # each; sub_, sub_, neg_, div_ (lr), reciprocal_, sqrt_ (1) 2 each = 12. On the parameters: lerp_ (2) 4, mul_
    # (1) 2, addcmul_ (3) ⌈213/48⌉ = 5, sqrt (2) 4, add_ (ε, 1) 2, addcdiv_ (3, no scalar list) 5. The two list
    # div_ pair a parameter-shaped d with a 0-dim tensor, which ATen's fast route refuses (ForeachUtils.h
    # _check_tensors_share_sizes_and_strides): foreach_tensor_div_list_kernel_slow_, one kernel per tensor,
    # 2 × 213. 2 + 8 + 12 + 4 + 2 + 5 + 4 + 2 + 5 + 426 = 470
    k = step_kernels([1000] * 213, "adam", fused=False, capturable=True)
    assert sum(k) == 470
    assert k[0] == 17  # every call's first kernel opens on the first tensor
    assert k[1] == 2  # the two per-tensor divisions only
    # SGD keeps no step counter: capturable changes nothing (4 and 10 as in test_foreach_sgd_and_momentum)
    assert sum(step_kernels([1000] * 213, "sgd", fused=False, capturable=True)) == 4
    assert sum(step_kernels([1000] * 213, "momentum", fused=False, capturable=True)) == 10


def test_resnet50_cuda_graph_step_is_capturable():
    # probe p165 #3: resnet50 h100 --batch 32 under execution: cuda_graph launched the eager 23 kernels. 161
    # tensors (53 convs + 53 BN × 2 + fc w/b). Step counters: add_ ⌈161/110⌉ = 2, pow × 2 ⌈161/64⌉ = 3 each,
    # six depth-1 calls 2 each: 20. Parameters: lerp_ 3, mul_ 3, addcmul_ 4, sqrt 3, add_ 3 (the probe's own
    # ATen loop over the same calls in the eager step, 3+3+4+3+3+3+4), addcdiv_ without a scalar list (depth 3:
    # 48 tensors a kernel, as with one) 4: 20. The two per-tensor list div_: 2 × 161 = 322. 20 + 20 + 322 = 362
    rep = accelsim.simulate("resnet50", "h100", mode="training", batch=32, execution="cuda_graph").to_dict()
    rows = [r for r in rep["ops"] if r["kind"] == "optimizer"]
    assert len(rows) == 161
    assert sum(int(r["mapping"].get("kernels", 1)) for r in rows) == 362


def test_distributed_optimizer_runs_megatrons_fused_adam():
    # options.distributed_optimizer: Megatron's FusedAdam, one depth-4 call, ⌈140 / 36⌉ = 4 kernels
    g = _mlp_training()
    _, launches = _step_tasks(g, _gpu(kernel_launch="10us", kernel_dispatch="1us"), TaskKind.LAUNCH,
                              distributed_optimizer=True)
    assert sum(t.cycles for t in launches) == 4 * 10_000


def test_an_arch_without_launches_is_unchanged():
    # no host launch time and no dispatch (a systolic NPU): no LAUNCH or DISPATCH task at all, as before
    g = _mlp_training(4)
    _, launches = _step_tasks(g, _gpu(), TaskKind.LAUNCH)
    assert launches == []


def test_distributed_optimizer_rank_steps_its_range_of_the_buffer():
    # Megatron's DistributedOptimizer (_build_model_gbuf_range): rank r owns the contiguous r-th 1/d of the flat
    # gradient buffer and steps only the parameters overlapping it (probe p165 #4), not 1/d of every parameter.
    # 72 tensors of 100 elements over d = 2: a buffer of 7,200, ranges of 3,600 = 36 whole tensors each, one fused
    # depth-4 call (36 tensors a kernel): 1 kernel. A 1/2 slice of all 72 would take ⌈72/36⌉ = 2
    assert sum(_rank_shards([100] * 72, 2, "adam", True, False)) == 1
    # the buffer holds the parameters in reverse (ParamAndGradBuffer: the last first): [1000, 10, 10] lies as
    # 10, 10, 1000; d = 2 gives ranges of 510, rank 0 the two small tensors and 490 of the large one, rank 1 the
    # large one's other 510. One kernel each; the first busiest (rank 0) is modelled, its kernel opened on the
    # buffer's first tensor, the last step
    assert _rank_shards([1000, 10, 10], 2, "adam", True, False) == [0, 0, 1]


def test_bert_base_distributed_optimizer_busiest_rank():
    # probe p165 #4: bert_base on dgx-h100 (d = 8) with options.distributed_optimizer counted 206 tensors of
    # ⌈n/8⌉ each, ⌈206/36⌉ = 6 fused kernels. Its 110,106,428 parameters (HF BertForPreTraining's count) in reverse
    # give ranges of 13,763,304. Rank 0 holds the buffer's head: cls and pooler, 9 tensors of 2 + 1,536 + 30,522 +
    # 768 × 3 + 589,824 + 768 + 589,824 = 1,214,780; layer 11's 16 tensors (4 × 589,824 + 2 × 2,359,296 + 3,072 +
    # 9 × 768 = 7,087,872), 8,302,652 in all; then layer 10 from its end: output LayerNorm b, w, output dense b, w,
    # intermediate b, w, attention LayerNorm b, w, attention output b, w, value b (5,316,864 elements) and 143,788
    # of value w: 12 tensors. 9 + 16 + 12 = 37 > 36: 2 kernels (under 320 chunks of 65,536 at depth 4). The other
    # ranks hold 1 to 33 tensors, 1 kernel each; rank 0, the busiest, is modelled: 6 -> 2
    rep = accelsim.simulate("bert_base", "dgx-h100", mode="training", batch=32, distributed_optimizer=True).to_dict()
    rows = [r for r in rep["ops"] if r["kind"] == "optimizer"]
    assert len(rows) == 206
    opened = {r["name"]: int(r["mapping"].get("kernels", 1)) for r in rows if r["mapping"].get("kernels", 1)}
    assert opened == {"cls.seq_relationship.bias.step": 1, "encoder.layer.10.attention.self.value.weight.step": 1}
