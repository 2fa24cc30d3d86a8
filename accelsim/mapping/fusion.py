"""Pass 1b, output-path fusion: an element-wise activation that the core applies to a matmul's output as it is
written (``core.vector.output_path``: Eyeriss's ReLU module, TPU v1's activation pipeline) is folded into the op
that produces its input; with ``add`` listed, so is a residual add (a conv's epilogue adding the block's input,
as cuDNN's fused convolution-bias-activation and TensorRT's Convolution + ElementWise fusion run ResNet's blocks:
the cuDNN API reference's ``cudnnConvolutionBiasActivationForward`` computes y = act(alpha1 · conv(x) + alpha2 · z
+ bias), z a tensor of y's shape; TensorRT's layer-fusion list (Developer Guide, "Types of Fusions"; Layer Fusion
Catalog) fuses a Convolution followed by an ElementWise sum into the convolution, the sum broadcasting at most
across the batch, and an ElementWise operation followed by an Activation).

An activation op of a listed function is fused when its only input (or the one tensor all its inputs are through
eager-only ops in place on it off a GPU preset, mapping.aliases: transformers' eager QuickGELU chain, gpt2's
gelu_new, whose own reads count as no reader's) is the output of a conv, transposed conv,
linear or matmul (possibly through a folded batch norm or ops already fused into it) and it is that tensor's
only reader (nor is the tensor stashed for a backward pass): the producer then writes the activated tensor, so
the activation's input never round-trips a memory. A residual add (two inputs of its output's shape, in the
producer's output dtype) is fused the same way when one input is such an output and the other, the residual, is
already computed when the producer runs (a graph input, or the output of an op before it; of two candidate producers the later, so a
ResNet downsampling block's add folds into its downsample conv, which runs after conv3): the producer reads the
residual once as it writes its output (``Plan.epilogue``, its bytes counted once, never re-read by the GEMM's
tiling) and writes the sum, so the add's own write and the re-read of both its inputs are saved; an activation
after it then folds in as after any producer. With ``after_add`` listed, a listed activation also folds into an
element-wise add (one not fused itself) that produces its input, under the same single-reader rule and when it
writes the add's output dtype: the add writes the activated sum, as TFLite's ADD applies its
``fused_activation_function`` (schema.fbs ``AddOptions``) and XLA fuses an element-wise chain into one loop
fusion; an add of a conv's output and a residual thus runs as one vector op on a core whose output path does not
take the add itself. A fused op does no separate work (no tasks, no bytes), later ops
read the producer's output, and its report row keeps its FLOPs on the producer core's vector unit (priced at
the vector energy per FLOP) with ``mapping.fused_into``. Its time is the output path's: ⌈elements · c(fn) /
lanes⌉ cycles, pipelined with the producer's compute, so the producer takes the longer of its own and its fused
ops' together (:func:`pipeline`).

An op marked ``epilogue_of`` (``ir.Op.epilogue_of``: a QDQ model's activation or residual add between an integer
kernel and the QuantizeLinear fused into it, which TensorRT runs in that kernel's epilogue, builders/onnxquant.py)
fuses by the same rules whatever ``output_path`` lists.
"""

from __future__ import annotations

from collections import Counter

from ..hardware import Arch
from ..ir import Graph, OpKind
from ..tasks import OpMapping, Unit
from .plan import NONE, Plan
from .pricing import price_op

PRODUCERS = frozenset({OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR, OpKind.MATMUL})
RESIDUAL = "add"  # the output_path entry of a residual add
AFTER_ADD = "after_add"  # the output_path entry of an activation applied to an element-wise add's output


def fuse(plans: tuple[Plan, ...], graph: Graph, arch: Arch) -> tuple[Plan, ...]:
    """The plans with each fusable activation and residual add folded into its producer (``details["fused_into"]``;
    a residual add's other operand added to the producer's ``inputs`` and ``epilogue``) and every later read of it
    rerouted to the producer's output; ``plans`` unchanged when the core lists nothing."""
    fns = frozenset(arch.core.vector.output_path)
    if not fns and not any(p.op.epilogue_of for p in plans):
        return plans
    # an eager-only op in place off a GPU preset (mapping.aliases, attr eager_copy) is its first input's alias: its
    # read is no reader's, and an activation whose other inputs are such aliases of its first reads that one alone
    # (transformers' eager QuickGELU chain, TransformerBuilder.quick_gelu); one with no input (Swin's mask fills)
    # aliases nothing; a conv's bias add in place stays its conv's reader, the way through to it (:func:`_producer`;
    # uncounted, the conv had no reader and no activation fused into it: unet on tpu-v4 1.54 -> 1.90 ms)
    alias = {p.op.name: p.op.inputs[0] for p in plans
             if p.details.get("in_place") and p.op.inputs and not p.op.attrs.get("bias_of")}
    # each reader counted once for each tensor it reads through such aliases (an eager chain's last step reading two
    # steps in place on one tensor reads that tensor: gpt2's gelu_new off a GPU preset, transformer._eager_gelu_new)
    readers = Counter(src for op in graph.ops if op.name not in alias
                      for src in dict.fromkeys(_root(t, alias) for t in op.inputs))
    stashed = frozenset(graph.info.stashed)
    index = {p.op.name: i for i, p in enumerate(plans)}
    out = list(plans)
    root_of: dict[str, str] = {}  # fused op → the op whose output it became
    for i, p in enumerate(plans):
        op = p.op
        if not p.works:
            continue
        listed = op.epilogue_of is not None  # the file runs it in an integer kernel's epilogue (a QDQ model's)
        if op.kind is OpKind.ACTIVATION and (listed or op.fn in fns) and _sole_input(op.inputs, alias):
            root = _producer(_root(op.inputs[0], alias), out, index, readers, stashed, root_of,
                             adds=op.out_dtype if AFTER_ADD in fns and op.fn in fns else None)
        elif op.kind is OpKind.ELEMENTWISE and op.fn == RESIDUAL and (listed or RESIDUAL in fns):
            root, other = _residual(p, out, index, readers, stashed, root_of)
            if root is not None:
                q = out[index[root]]
                out[index[root]] = q._replace(inputs=tuple(dict.fromkeys((*q.inputs, *other))),
                                              epilogue=tuple(dict.fromkeys((*q.epilogue, *other))))
        else:
            continue
        if root is not None:
            root_of[op.name] = root
            out[i] = p._replace(unit_kind=NONE, details={"fused_into": root})
    if not root_of:
        return plans
    return tuple(_reroute(p, root_of) for p in out)


def _root(src: str, alias: dict[str, str]) -> str:
    """The tensor ``src`` is, through in-place ops (``alias``: in-place op → the input it aliases)."""
    while src in alias:
        src = alias[src]
    return src


def _sole_input(inputs: tuple[str, ...], alias: dict[str, str]) -> bool:
    """Whether an op reading ``inputs`` reads one tensor: every input the same one through in-place aliases."""
    return len({_root(src, alias) for src in inputs}) == 1


def _residual(p: Plan, plans: list[Plan], index: dict[str, int], readers: Counter, stashed: frozenset[str],
              root_of: dict[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """For an element-wise add ``p``: (the working matmul whose output path can take it, the physical tensors of
    its other operand, the residual), or (None, ()). The add must have two inputs of its output's shape (no
    broadcast: TensorRT's Convolution + ElementWise fusion rules broadcasting out, but across the batch), read
    whole; one of them :func:`_producer`'s output, the other produced before that producer (a graph input, or an
    earlier op's output), so that it is ready when the producer's epilogue reads it. The add computes and writes in
    the producer's output dtype and the residual is stored in it (else the sum would be written, and the residual
    read, at another width than the add's: an int8 conv's output added in fp32 stays unfused). Of two such
    producers, the later one."""
    op = p.op
    if (len(op.inputs) != 2 or op.weights or p.shares or any(s != op.out_shape for s in op.in_shapes)
            or op.out_dtype != op.dtype):
        return None, ()
    best: tuple[str | None, tuple[str, ...]] = (None, ())
    for j in (0, 1):
        root = _producer(op.inputs[j], plans, index, readers, stashed, root_of)
        if root is None or plans[index[root]].op.out_dtype != op.dtype:
            continue
        other = tuple(dict.fromkeys(root_of.get(t, t) for t in p.operands[1 - j]))
        ready = all(index.get(t, -1) < index[root] for t in other)  # (a graph input has no index: ready)
        # the residual as stored in the add's dtype too (an op's output in its out_dtype; a graph input is read
        # at the reader's width: the epilogue's, the output's, traffic.epilogue_bytes)
        same = all(t not in index or plans[index[t]].op.out_dtype == op.dtype for t in other)
        if ready and same and (best[0] is None or index[root] > index[best[0]]):
            best = (root, other)
    return best


def _producer(src: str, plans: list[Plan], index: dict[str, int], readers: Counter, stashed: frozenset[str],
              root_of: dict[str, str], adds: str | None = None) -> str | None:
    """The working op whose output ``src`` is (through folded batch norms and fused ops), when every tensor on
    the way has one reader and none is stashed; else None. With ``adds`` (a dtype), a working element-wise add
    writing that dtype is such an op too (``after_add``)."""
    while src in index and readers[src] == 1 and src not in stashed:
        q = plans[index[src]]
        if q.works:
            if q.op.kind in PRODUCERS:
                return src
            add = q.op.kind is OpKind.ELEMENTWISE and q.op.fn == RESIDUAL and q.op.out_dtype == adds
            return src if add else None
        if src in root_of:
            return root_of[src]
        # a folded batch norm, or a conv's eager bias add as a view (off a GPU preset; builders.layers _eager_bias)
        through = q.details.get("folded") or q.details.get("in_place") and q.op.attrs.get("bias_of")
        if not (through and len(q.op.inputs) == 1):
            return None
        src = q.op.inputs[0]
    return None


def _reroute(p: Plan, root_of: dict[str, str]) -> Plan:
    """``p`` reading each fused op's producer where it read the fused op."""
    if not any(t in root_of for t in p.inputs):
        return p
    inputs = tuple(dict.fromkeys(root_of.get(t, t) for t in p.inputs))
    operands = tuple(tuple(dict.fromkeys(root_of.get(t, t) for t in g)) for g in p.operands)
    shares = tuple({root_of.get(t, t): f for t, f in part.items()} for part in p.shares)
    return p._replace(inputs=inputs, operands=operands, shares=shares)


def pipeline(plans: tuple[Plan, ...], arch: Arch) -> tuple[Plan, ...]:
    """After pricing: each fused op's output-path cycles (its unit's price, the vector unit's, ``output_path_cycles``), and
    each producer's cycles the longer of its own and its fused ops' together (the output path keeps pace with the
    array)."""
    extra: dict[str, int] = {}
    out = list(plans)
    for i, p in enumerate(plans):
        root = p.details.get("fused_into")
        if root is not None:
            cycles = price_op(p.op, arch)[1]
            extra[root] = extra.get(root, 0) + cycles
            out[i] = p._replace(details={**p.details, "output_path_cycles": cycles})
    if not extra:
        return plans
    for i, p in enumerate(out):
        if p.op.name in extra and extra[p.op.name] > p.cycles:
            out[i] = p._replace(cycles=extra[p.op.name], est=max(p.est, extra[p.op.name]))
    return tuple(out)


def fused_mapping(p: Plan, producer: OpMapping, units: tuple[Unit, ...]) -> OpMapping:
    """The report row of a fused op: its FLOPs on the vector unit of its producer's core(s), no cycles of its
    own, no bytes, ``mapping.fused_into`` and ``mapping.output_path_cycles``."""
    op = p.op
    vec = [u.name for u in units if u.group == "vector" and (producer.core is None or u.core == producer.core)]
    unit = vec[0] if len(vec) == 1 else f"{vec[0]}..{vec[-1]} ({len(vec)})"
    return OpMapping(op.name, op.kind.value, op.fn, unit, producer.core, op.macs, op.flops, 0, 0, {},
                     dict(p.details))


__all__ = ["fuse", "pipeline", "fused_mapping", "PRODUCERS", "RESIDUAL", "AFTER_ADD"]
