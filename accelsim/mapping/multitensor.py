"""The kernels a GPU training step's optimizer launches: multi-tensor (foreach or fused) calls, not one per parameter.

A training graph has one OPTIMIZER op per parameter tensor (builders/training.py), which keeps each tensor's
bytes and FLOPs apart; but no framework launches a kernel per parameter on a GPU. PyTorch picks the foreach
implementation whenever every parameter is a CUDA tensor (``torch/optim/optimizer.py``
``_default_to_fused_or_foreach``), and ``_multi_tensor_adam`` (``torch/optim/adam.py``, default ``weight_decay``
0, ``capturable`` off, so the step counters stay on the CPU and cost no kernel) makes seven foreach calls a step
(:data:`FOREACH_CALLS`):
``_foreach_lerp_`` (m, g), ``_foreach_mul_`` (v), ``_foreach_addcmul_`` (v, g, g), ``_foreach_sqrt`` (v → d),
``_foreach_div_`` (d, a scalar list), ``_foreach_add_`` (d, ε) and ``_foreach_addcdiv_`` (p, m, d, a scalar list).
``_multi_tensor_sgd`` makes one (``_foreach_add_`` (p, g)); with momentum three (``_foreach_mul_`` (b),
``_foreach_add_`` (b, g), ``_foreach_add_`` (p, b)). Megatron-LM trains with a fused Adam (Apex's or
TransformerEngine's ``FusedAdam``: ``multi_tensor_adam`` over the lists g, p, m, v; PyTorch's ``fused=True``
``_fused_adam_`` is the same one call), so a ``gpt`` workload (the Megatron-LM GPT builder) and any run with
``options.distributed_optimizer`` (Megatron's distributed optimizer) take one fused call of depth 2 + its states
(a distributed optimizer's over the pieces of its rank's range of the gradient buffer: ``lower._rank_shards``).

A step captured in a CUDA graph (``options.execution: cuda_graph``, one graph a pass) must be ``capturable``:
``Optimizer._cuda_graph_capture_health_check`` refuses to capture a step whose ``capturable`` is False. Then the step
counters are one-element CUDA tensors and ``_multi_tensor_adam``'s capturable branch makes seventeen calls
(:data:`CAPTURABLE_CALLS`): ``_foreach_add_`` (steps, 1); lerp_, mul_ and addcmul_ as above; ``_foreach_pow``
(β1, steps) and (β2, steps) (out of place: depth 2); sub_, sub_, neg_, div_ (lr), reciprocal_ and sqrt_ on those
one-element bias corrections; ``_foreach_sqrt`` (v → d); ``_foreach_div_`` (d, √bc2); ``_foreach_add_`` (d, ε);
``_foreach_div_`` (d, step size) and ``_foreach_addcdiv_`` (p, m, d; no scalar list). The two list divisions pair
each parameter-shaped d with a 0-dim tensor, and ATen's fast route needs every pair to share sizes
(``ForeachUtils.h`` ``_check_tensors_share_sizes_and_strides``), so each takes the slow route
(``foreach_tensor_div_list_kernel_slow_``): one ``div_`` kernel per tensor. SGD keeps no step counter: its calls
do not change.

Each call is ATen's ``multi_tensor_apply`` (``ATen/native/cuda/MultiTensorApply.cuh``; Apex's
``multi_tensor_apply.cuh`` has the same loop, chunk 2048 × 32): tensors are cut into chunks of
:data:`CHUNK` elements, one thread block each, and a kernel is launched when it holds
:data:`MAX_BLOCKS` blocks, or when its tensor list is full (:data:`MAX_TENSORS` by the call's depth, the lists it
takes; :data:`MAX_TENSORS_SCALARLIST` with a list of scalars) at a tensor's last chunk, or at the last chunk of all.
These are the limits of a kernel argument of 4 KB (CUDA 12 builds; CUDA 13 builds of PyTorch allow 7 × as many).

:func:`step_kernels` gives each step the kernels whose first chunk is its tensor's, so the steps' launches add up
to the calls': EfficientNet-B0's 213 tensors take 4 + 2 + 5 + 4 + 3 + 2 + 5 = 25 by the tensor limits alone.
"""

from __future__ import annotations

from collections.abc import Sequence

CHUNK = 65536
"""Elements a thread block of a multi-tensor kernel takes (ATen's ``kChunkSize``; Apex's 2048 × 32)."""
MAX_BLOCKS = 320
"""Thread blocks one multi-tensor kernel holds (``depth_to_max_blocks``, every depth)."""
MAX_TENSORS = (110, 64, 48, 36, 30)
"""Tensors one multi-tensor kernel holds, by depth 1 … 5 (``depth_to_max_tensors``)."""
MAX_TENSORS_SCALARLIST = (96, 64, 48, 36, 30)
"""The same with a scalar per tensor (``depth_to_max_tensors_scalarlist``)."""

PARAMS, STEPS, EACH = "params", "steps", "each"
"""What a call runs over: the parameter-shaped lists, the one-element step counters (one per parameter), or each
tensor on its own (ATen's slow route: a kernel per tensor)."""

FOREACH_CALLS: dict[str, tuple[tuple[int, bool, str], ...]] = {
    "sgd": ((2, False, PARAMS),),
    "momentum": ((1, False, PARAMS), (2, False, PARAMS), (2, False, PARAMS)),
    "adam": ((2, False, PARAMS), (1, False, PARAMS), (3, False, PARAMS), (2, False, PARAMS), (1, True, PARAMS),
             (1, False, PARAMS), (3, True, PARAMS)),
}
"""PyTorch's foreach calls of one step (module docstring): each call's (depth, takes a scalar list, runs over)."""
CAPTURABLE_CALLS: dict[str, tuple[tuple[int, bool, str], ...]] = {
    "adam": ((1, False, STEPS), (2, False, PARAMS), (1, False, PARAMS), (3, False, PARAMS), (2, False, STEPS),
             (2, False, STEPS), *((1, False, STEPS),) * 6, (2, False, PARAMS), (2, False, EACH), (1, False, PARAMS),
             (2, False, EACH), (3, False, PARAMS)),
}
"""The calls of a ``capturable`` step (module docstring: a step captured in a CUDA graph) where they differ from
:data:`FOREACH_CALLS`: ``_multi_tensor_adam``'s seventeen."""
FUSED_DEPTH = {"sgd": 2, "momentum": 3, "adam": 4}
"""The depth of a fused optimizer's one call: the gradient and parameter lists and one per state."""


def call_kernels(numels: Sequence[int], depth: int, scalar_list: bool = False) -> list[int]:
    """The kernels one multi-tensor call of ``depth`` lists launches over tensors of ``numels`` elements, each
    counted at the tensor its first chunk belongs to (module docstring: ATen's loop, done a tensor at a time)."""
    limit = (MAX_TENSORS_SCALARLIST if scalar_list else MAX_TENSORS)[depth - 1]
    out = [0] * len(numels)
    live = [i for i, n in enumerate(numels) if n > 0]  # ATen skips empty tensors
    blocks = held = 0
    for j, t in enumerate(live):
        held += 1
        chunks = -(-numels[t] // CHUNK)
        while chunks:
            if not blocks:
                out[t] += 1  # a kernel opens on this tensor's chunk
            take = min(MAX_BLOCKS - blocks, chunks)
            blocks += take
            chunks -= take
            if blocks == MAX_BLOCKS or (not chunks and (held == limit or j == len(live) - 1)):
                blocks, held = 0, (1 if chunks else 0)  # launched; a tensor cut in two opens the next one
    return out


def step_kernels(numels: Sequence[int], optimizer: str, fused: bool, capturable: bool = False) -> list[int]:
    """The kernels of a GPU optimizer step over parameter tensors of ``numels`` elements (in step order), each
    counted at the tensor whose chunk opens it: the foreach calls of ``optimizer`` (:data:`FOREACH_CALLS`; with
    ``capturable``, a step captured in a CUDA graph, :data:`CAPTURABLE_CALLS`), or with ``fused`` its one fused
    call (:data:`FUSED_DEPTH`). A call over the step counters runs over one element per (non-empty) tensor."""
    if fused:
        calls: tuple[tuple[int, bool, str], ...] = ((FUSED_DEPTH[optimizer], False, PARAMS),)
    else:
        calls = (CAPTURABLE_CALLS if capturable else FOREACH_CALLS).get(optimizer, FOREACH_CALLS[optimizer])
    ones = [1 if n > 0 else 0 for n in numels]
    total = [0] * len(numels)
    for depth, scalar_list, over in calls:
        k = ones if over == EACH else call_kernels(numels if over == PARAMS else ones, depth, scalar_list)
        total = [a + b for a, b in zip(total, k, strict=True)]
    return total


__all__ = ["call_kernels", "step_kernels"]
