"""ONNX matrix products (builders/importers.py): Gemm, MatMul (numpy's rules), Einsum of one or two operands, and
LSTM / GRU / RNN layers lowered as builders/rnn.py lowers torch's."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from ..errors import WorkloadError
from ..ir import Gemm, OpKind, Weight
from .layers import broadcast_shapes
from .onnxcore import ImporterCore, NotMapped
from .rnn import GATES


def einsum_terms(equation: str, operands: int) -> tuple[list[str], str] | None:
    """The operands' and the output's index letters of an ONNX Einsum ``equation`` (``"bij,bjk->bik"`` →
    (["bij", "bjk"], "bik"); without ``->`` the output is the letters that appear once, in alphabetical order, per
    the spec), or None where accelsim does not map it (:func:`einsum_refusal` says why)."""
    parsed = _einsum_parse(equation, operands)
    return None if isinstance(parsed, str) else parsed


def einsum_refusal(equation: str, operands: int) -> str | None:
    """Why accelsim does not map an Einsum ``equation`` of ``operands`` inputs, None where it does: other than one
    or two operands (or a term count other than the inputs'), an ellipsis, an empty term (a 0-d operand or
    output), a character other than a letter, a letter repeated within one term (a diagonal, ``"ii->i"``), an output letter no operand has, or a letter only
    one of two operands has that the output drops (a sum inside one operand before the product,
    ``"bij,bjk->bk"``)."""
    parsed = _einsum_parse(equation, operands)
    return parsed if isinstance(parsed, str) else None


def _einsum_parse(equation: str, operands: int) -> tuple[list[str], str] | str:
    """:func:`einsum_terms`'s terms, or :func:`einsum_refusal`'s reason."""
    eq = equation.replace(" ", "")
    if not eq:
        return "no equation"
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if not arrow:
        letters = "".join(terms)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    where = f"equation {equation!r}"
    if operands not in (1, 2):
        return f"{where}: {operands} operands (only one or two are mapped)"
    if len(terms) != operands:
        return f"{where}: {len(terms)} terms for {operands} inputs"
    if "." in eq:
        return f"{where}: an ellipsis is not mapped"
    for t in (*terms, out):
        if not t:
            return f"{where}: an empty term (a 0-d operand or output) is not mapped"
        if not t.isalpha():
            return f"{where}: term {t!r} holds a character other than a letter"
        if len(set(t)) != len(t):
            c = next(c for c in t if t.count(c) > 1)
            return f"{where}: index {c!r} repeats in term {t!r} (a diagonal or trace is not mapped)"
    every = "".join(terms)
    if extra := [c for c in out if c not in every]:
        return f"{where}: output index {extra[0]!r} is in no operand"
    if operands == 2:
        for i, t in enumerate(terms):
            if alone := [c for c in t if c not in out and c not in terms[1 - i]]:
                return (f"{where}: index {alone[0]!r} of operand {i} is summed before the product (in neither the "
                        f"other operand nor the output), which is not mapped")
    return terms, out


def matmul_gemm(sa: tuple[int, ...], sb: tuple[int, ...], where: str) -> tuple[Gemm, tuple[int, ...]]:
    """The GEMM view and output shape of ``a @ b`` by numpy's matmul rules: a 1-D ``a`` is a row (1, k) and a 1-D
    ``b`` a column (k, 1), that dim dropped from the output; the batch dims broadcast. MACs = ∏ batch · m · n · k
    (a vector · matrix of (k,) and (B, k, n): B·k·n). A 0-d result (vector · vector) is shaped (1,)."""
    a2 = (1, *sa) if len(sa) == 1 else tuple(sa)
    b2 = (*sb, 1) if len(sb) == 1 else tuple(sb)
    if not sa or not sb or a2[-1] != b2[-2]:
        raise WorkloadError(f"{where}: cannot multiply {list(sa)} by {list(sb)}")
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    if batch is None:
        raise WorkloadError(f"{where}: the batch dims of {list(sa)} and {list(sb)} do not broadcast")
    m, k, n = a2[-2], a2[-1], b2[-1]
    out = (*batch, *((m,) if len(sa) > 1 else ()), *((n,) if len(sb) > 1 else ()))
    return Gemm(m=m, n=n, k=k, count=math.prod(batch)), out or (1,)


class MatmulOps(ImporterCore):
    """Gemm, MatMul, Einsum and recurrent nodes."""

    HANDLES: ClassVar[dict[str, str]] = {  # op type → the method that imports it
        "Gemm": "_gemm", "MatMul": "_matmul", "Einsum": "_einsum", "LSTM": "_recurrent", "GRU": "_recurrent",
        "RNN": "_recurrent", "Attention": "_attention",
    }
    def _gemm(self) -> str:
        """ONNX Gemm, Y = alpha·A'·B' + beta·C (A' = Aᵀ with transA, B' = Bᵀ with transB): A' a free transposed read
        of A (a ``transpose`` view, as a Transpose node), B an initializer a linear layer (C its bias when an
        initializer: a parameter of the file's shape, marked a bias; when an activation, an add reading it),
        B an activation a MATMUL (:meth:`_matmul`) then C added. alpha and beta scale for free (folded into
        the product and the add); beta 0 drops C (it contributes beta·C = 0): no bias, no add, nothing of C read
        or counted (probe p278 #4: Gemm(A [4, 8], W [6, 8] transB, C [6], beta 0) had 54 params and 408 flops
        where 48 and 384 are right)."""
        x, wname = self._in(0), self.node.input[1]
        if self._int("transA", 0):
            a = self.b.shape(x)
            if len(a) != 2:
                raise WorkloadError(f"{self._node()}: A {self.node.input[0]!r} {list(a)} is not 2-D (ONNX Gemm)")
            x = self.b.view(x, (a[1], a[0]), "transpose", name=self._extra_name(f"{self.op_name}_transA"), perm=(1, 0))
        cname = self.node.input[2] if len(self.node.input) > 2 and self._float("beta", 1.0) != 0 else ""
        c_init = bool(cname) and self._is_init(cname)
        if wname not in self.inits:  # B an activation: a MATMUL, then C added (a parameter when an initializer)
            out = self._matmul(trans_b=bool(self._int("transB", 0)), a=x)
            if not cname:
                return out
            if c_init:
                return self.b.add_param(out, Weight(self._weight(cname), self.inits[cname], bias=True), fn="add",
                                        name=self._extra_name(f"{self.op_name}_bias"))
            return self.b.add(out, self._in(2), name=self._extra_name(f"{self.op_name}_bias"))
        w, trans_b = self.inits[wname], self._int("transB", 0)
        if len(w) != 2 or self.b.shape(x)[-1] != w[1 if trans_b else 0]:
            raise WorkloadError(f"{self._node()}: cannot multiply {list(self.b.shape(x))} by B {wname!r} {list(w)}"
                                f"{' transposed' if trans_b else ''} (ONNX Gemm: B is 2-D, (K, N), or (N, K) with "
                                f"transB)")
        out_features = w[0] if trans_b else w[1]
        out_shape = (*self.b.shape(x)[:-1], out_features)
        if cname and broadcast_shapes(self._operand_shape(2), out_shape) != out_shape:
            raise WorkloadError(f"{self._node()}: C {cname!r} {list(self._operand_shape(2))} does not "
                                f"broadcast to the output {list(out_shape)}")
        out = self.b.linear(x, out_features, bias=c_init, name=self.op_name)
        self._rename_weights([wname, *([cname] if c_init else [])])
        if not trans_b:  # B stored (K, N): the GEMM reduces over its first axis (sparsity prunes along it)
            self._k_axis(0)
        if cname and not c_init:  # C an activation (a graph input): read by an add, no parameter
            return self.b.add(out, self._in(2), name=self._extra_name(f"{self.op_name}_bias"))
        return out

    def _matmul(self, trans_b: bool = False, a: str | None = None) -> str:
        """numpy matmul (:func:`matmul_gemm`): activation × 2-D initializer a linear layer; with another initializer
        operand (1-D, batched, or on the left) a MATMUL holding it as its parameters; two activations a MATMUL;
        two initializers (a factorised weight W1 @ W2) W1 read by an op of its own (:meth:`_written`) and
        multiplied as an activation is, by W2, so both are parameters and the GEMM's MACs count once per run (the
        product depends on no input), or of two constants holding no parameters a constant. ``a``: the op holding
        the first operand where it is not input 0 as read (a Gemm's transposed A)."""
        aname, bname = self.node.input[0], self.node.input[1]
        a_init, b_init = aname in self.inits and aname not in self.tensor, bname in self.inits \
            and bname not in self.tensor
        x = None if a_init else a or self._in(0)
        if a_init and b_init:  # W1 @ W2: W1 written by an op of its own, then read as an activation
            if not (self._param(aname) or self._param(bname)):
                return self._constant_of()  # of shapes or indices
            x, a_init = self._written(aname), False
        if b_init and not a_init and len(self.inits[bname]) == 2:
            matmul_gemm(self.b.shape(x), self.inits[bname], f"{self._node()}")  # the shapes fit
            out = self.b.linear(x, self.inits[bname][-1], bias=False, name=self.op_name)
            self._rename_weights([bname])
            self._k_axis(0)  # B stored (K, N), not torch's (out, in)
            return out
        sa = self.inits[aname] if a_init else self.b.shape(x)
        sb = self.inits[bname] if b_init else self.b.shape(self._in(1))
        if trans_b:
            sb = (*sb[:-2], sb[-1], sb[-2])
        gemm, out_shape = matmul_gemm(tuple(sa), tuple(sb), f"{self.where}: node {self.op_name!r} (MatMul)")
        inputs = [x if i == 0 else self._in(i) for i, init in ((0, a_init), (1, b_init)) if not init]
        weights = [self._operand_weight(n, i, trans_b) for i, (n, init) in enumerate(((aname, a_init),
                                                                                      (bname, b_init))) if init]
        return self.b.matmul(inputs, out_shape, gemm, weights=weights, name=self.op_name)

    def _operand_weight(self, name: str, i: int, trans_b: bool) -> Weight:
        """Initializer ``name``, operand ``i`` of a MatMul, as a parameter marked with the axis its GEMM reduces
        over (``Weight.k_axis``): A (..., M, K) its last, B (..., K, N) its second last ((..., N, K) with transB
        its last); a 1-D operand none (not a matrix: never pruned)."""
        shape = self.inits[name]
        axis = len(shape) - (1 if i == 0 or trans_b else 2) if len(shape) >= 2 else None
        return Weight(self._weight(name), shape, k_axis=axis)

    def _k_axis(self, axis: int) -> None:
        """Mark the last op's first weight as reduced over ``axis`` (``Weight.k_axis``: an ONNX B stored (K, N))."""
        op = self.b._ops[-1]
        self.b._ops[-1] = dataclasses.replace(op, weights=(dataclasses.replace(op.weights[0], k_axis=axis),
                                                           *op.weights[1:]))

    def _attention(self) -> str:
        """ai.onnx Attention (opset 23): softmax(scale · Q·Kᵀ [+ attn_mask]) · V through the builders' attention
        (unfused, as the importer maps the Softmax-based form, its ops named under the node's :meth:`_block_prefix`:
        MATMUL ``scores`` of B·H GEMMs Lq × Lkv × d, SOFTMAX,
        MATMUL ``context`` of B·H GEMMs Lq × d_v × Lkv; ``scale`` folded into the product, as the builders fold it;
        ``is_causal`` recorded; ``softcap`` the builders' soft-capping op; an ``attn_mask`` activation added to the
        scores, one flop a score). Q, K, V are 4-D (B, heads, L, d), or 3-D (B, L, heads · d) with ``q_num_heads``
        and ``kv_num_heads``, viewed as 4-D (free: ``<node>.q_heads``, ``k_heads``, ``v_heads``) and the output
        viewed back (``<node>.merge_heads``), under the ops' prefix; GQA / MQA when kv heads < q heads.
        A KV cache (past_key / past_value, the present outputs), ``nonpad_kv_seqlen`` and the qk_matmul_output
        are not mapped."""
        node = self.node
        extra_in = [n for n in node.input[4:] if n]
        if extra_in or any(node.output[1:]):
            raise NotMapped("a KV cache (past_key / past_value, present_key / present_value), nonpad_kv_seqlen and "
                            "qk_matmul_output are not mapped")
        if len(node.input) > 3 and node.input[3] and self._is_init(node.input[3]):
            raise NotMapped("an attn_mask that is an initializer is not mapped (only one computed from the inputs)")
        q, k, v = (self._in(i) for i in range(3))
        shapes = [tuple(self.b.shape(t)) for t in (q, k, v)]
        prefix = self._block_prefix()  # one prefix for the views and the ops (probe p119 #6: they differed)
        ranks = {len(s) for s in shapes}
        if ranks == {3}:
            heads, kv_heads = self._int("q_num_heads", 0), self._int("kv_num_heads", 0)
            if heads < 1 or kv_heads < 1 or shapes[0][2] % heads or shapes[1][2] % kv_heads \
                    or shapes[2][2] % kv_heads:
                raise WorkloadError(f"{self._node()}: 3-D Q {list(shapes[0])}, K {list(shapes[1])}, V "
                                    f"{list(shapes[2])} need q_num_heads and kv_num_heads dividing their hidden sizes "
                                    f"(got {heads} and {kv_heads})")
            q, k, v = (self.b.view(t, (s[0], h, s[1], s[2] // h), "transpose", strict=True,
                                   name=self._extra_name(f"{prefix}.{what}_heads"), perm=(0, 2, 1, 3))
                       for t, s, h, what in zip((q, k, v), shapes, (heads, kv_heads, kv_heads), "qkv", strict=True))
        elif ranks != {4}:
            raise WorkloadError(f"{self._node()}: Q {list(shapes[0])}, K {list(shapes[1])} and V {list(shapes[2])} "
                                f"must all be 4-D (batch, heads, length, head size) or all 3-D")
        mask = [self._in(3)] if len(node.input) > 3 and node.input[3] else []
        self.b._scope.append(prefix)  # its ops <node>.scores, <node>.softmax, <node>.context
        try:
            out = self.b.attention(q, k, v, causal=bool(self._int("is_causal", 0)), extra=mask,
                                   softcap=bool(self._float("softcap", 0.0)))
        finally:
            self.b._scope.pop()
        if ranks == {3}:
            b, h, lq, dv = self.b.shape(out)
            out = self.b.view(out, (b, lq, h * dv), "transpose", name=self._extra_name(f"{prefix}.merge_heads"),
                              perm=(0, 2, 1, 3))
        return out

    def _einsum(self) -> str | None:
        """Einsum of one or two operands (:func:`einsum_terms`), each index's extent from the operands' shapes.
        Two operands: the indices in both and the output are the batch, those in both and not the output the
        contraction (k), those in one operand only its free side (m for the first, n for the second): a MATMUL of
        ``batch`` GEMMs m × n × k, MACs = the product of every index extent (``"bij,bjk->bik"``: b·i·j·k); an
        initializer operand is its parameter (as MatMul's). No contraction index (an outer or element-wise
        product): ELEMENTWISE fn "mul", 1 flop per output element. One operand: a permutation (every index kept)
        a view (fn "transpose", free as a Transpose node), one dropping indices a POOL fn "sum", one add per input
        element (as ReduceSum)."""
        parsed = _einsum_parse(self._str("equation", ""), len(self.node.input))
        if isinstance(parsed, str):  # probe p256 #2: a feature accelsim does not map, named with its reason
            raise NotMapped(parsed)
        terms, out = parsed
        shapes = [tuple(self._operand_shape(i)) for i in range(len(terms))]
        size: dict[str, int] = {}
        for term, shape in zip(terms, shapes, strict=True):
            if len(term) != len(shape):
                raise WorkloadError(f"{self._node()}: term {term!r} has {len(term)} indices, its operand "
                                    f"{list(shape)} {len(shape)} dims")
            for c, d in zip(term, shape, strict=True):
                if size.setdefault(c, d) != d:
                    raise WorkloadError(f"{self._node()}: index {c!r} is {size[c]} in one operand and {d} in "
                                        f"another")
        out_shape = tuple(size[c] for c in out) or (1,)
        consts = [i for i, n in enumerate(self.node.input) if self._is_init(n)]
        if len(consts) == len(terms):
            return self._constant_of()
        inputs = [self._in(i) for i in range(len(terms)) if i not in consts]
        weights = [Weight(self._weight(self.node.input[i]), self.inits[self.node.input[i]]) for i in consts]
        if len(terms) == 1:
            if set(out) == set(terms[0]):
                return self.b.view(inputs[0], out_shape, "transpose", name=self.op_name, equation=terms[0] + "->"
                                   + out)
            elems = math.prod(shapes[0])
            return self.b._add(self.b._name(self.op_name, "sum"), OpKind.POOL, inputs, out_shape, flops=elems,
                               vector_elems=elems, fn="sum", over="axes", keepdims=False)
        a, b = terms
        ext = lambda letters: math.prod(size[c] for c in letters)  # noqa: E731
        batch = [c for c in a if c in b and c in out]
        k = [c for c in a if c in b and c not in out]
        if not k:
            return self.b.vector(OpKind.ELEMENTWISE, inputs, out_shape, "mul", 1, name=self.op_name, weights=weights)
        gemm = Gemm(m=ext(c for c in a if c not in b), n=ext(c for c in b if c not in a), k=ext(k), count=ext(batch))
        return self.b.matmul(inputs, out_shape, gemm, weights=weights, name=self.op_name,
                             equation=",".join(terms) + "->" + out)

    def _recurrent(self) -> str:
        """An ONNX LSTM/GRU/RNN node (one layer, forward or bidirectional) as builders/rnn.py lowers torch's, its
        Y (L, D, N, H) a view of the (L, N, D·H) output. Parameters equal: W, R, B hold both directions' W_ih,
        W_hh, b_ih + b_hh (named as the builder names them).

        Y_h and Y_c (torch.onnx names them whether read or not) are the last step's hidden and cell state of each
        direction (the forward chain's step L−1, the reverse chain's step 0): a CONCAT view (fn "stack") of those
        steps' ops, no work (the builder's cell op stands for both h and c). An initial state initial_h /
        initial_c that is an activation or a graph input is read by each direction's first step (initial_h by its
        recurrent GEMM in place of the builder's zero h₀ input, initial_c by its cell), bidirectional each its
        direction's slice (:meth:`_state_slices`); one that is an initializer (torch's folded zeros) is the
        builder's h₀, not a parameter. sequence_lens and peepholes are not mapped. The node's ops are named under
        :meth:`_block_prefix`."""
        kind, x = self.node.op_type.lower(), self._in(0)
        direction = self._str("direction", "forward")
        acts = self._attr("activations", [])
        if not isinstance(acts, list) or not all(isinstance(a, bytes) for a in acts):
            raise WorkloadError(f"{self._node()}: attribute 'activations' must be a list of strings (got {acts!r:.60})")
        acts = [a.decode("utf-8", "replace") for a in acts]
        unmapped = [n for n in self.node.input[4:5] + self.node.input[7:] if n] + [n for n in self.node.output[3:] if n]
        if direction == "reverse" or unmapped or (self._attr("clip") is not None) \
                or (kind == "gru" and not self._int("linear_before_reset", 0)):
            raise NotMapped("only forward or bidirectional layers without clip, sequence_lens or peepholes (and "
                            "GRU with linear_before_reset=1, as torch exports) are mapped")
        # hidden_size is optional in ONNX: R (num_directions, G·hidden, hidden) gives it
        x_shape, r_shape = self.b.shape(x), self._operand_shape(2)
        hidden = self._int("hidden_size", r_shape[-1] if len(r_shape) == 3 else None)
        dirs, gates, layout = 2 if direction == "bidirectional" else 1, GATES[kind], self._int("layout", 0)
        expect = {1: (dirs, gates * hidden, x_shape[-1]), 2: (dirs, gates * hidden, hidden), 3: (dirs, 2 * gates * hidden)}
        for i, shape in expect.items():
            if len(self.node.input) > i and self.node.input[i] and tuple(self._operand_shape(i)) != shape:
                raise WorkloadError(f"{self._node()}: input {'WRB'[i - 1]} {self.node.input[i]!r} is "
                                    f"{list(self._operand_shape(i))}; {direction} with hidden_size {hidden} over "
                                    f"{x_shape[-1]} input features needs {list(shape)}")
        prefix = self._block_prefix()
        kw: dict = {"hidden_size": hidden, "bias": len(self.node.input) > 3 and bool(self.node.input[3]),
                    "batch_first": bool(layout), "bidirectional": direction == "bidirectional", "name": prefix}
        if kind == "rnn":
            kw["nonlinearity"] = "relu" if acts[:1] == ["Relu"] else "tanh"
        # Y per the ONNX spec: (seq, num_directions, batch, hidden); layout 1 (batch, seq, num_directions, hidden)
        t, n = (x_shape[1], x_shape[0]) if layout else (x_shape[0], x_shape[1])
        states = self._state_slices(prefix, layout, (n, dirs, hidden) if layout else (dirs, n, hidden))
        first_op, inputs_before = len(self.b._ops), set(self.b._inputs)
        out = getattr(self.b, kind)(x, **kw)
        h0s = [name for name in self.b._inputs if name not in inputs_before]  # each direction's zero h₀, in order
        self._initial_states(first_op, h0s, states)
        steps = self.b._ops[-1].inputs  # the stack of every step's hidden state: forward in time order, then reverse
        last = [steps[t - 1], *([steps[t]] if dirs == 2 else [])]
        for i, out_name in enumerate(self.node.output[1:3], start=1):
            if out_name:  # Y_h / Y_c: (num_directions, batch, hidden); layout 1 (batch, num_directions, hidden)
                self.tensor[out_name] = self.b._add(
                    self.b._name(f"{prefix}.{('Y_h', 'Y_c')[i - 1]}", "stack"), OpKind.CONCAT, last,
                    (n, dirs, hidden) if layout else (dirs, n, hidden), fn="stack", dim=1 if layout else 0)
        y = (n, t, dirs, hidden) if layout else (t, dirs, n, hidden)
        return self.b.view(out, y, "onnx_rnn_output", name=f"{prefix}.Y")

    def _block_prefix(self) -> str:
        """The scope a recurrent node's ops are named under (``<prefix>.l0.t0.hh`` by the builder, ``<prefix>.Y``,
        ``<prefix>.Y_h``, ``<prefix>.initial_h_l0`` here): the node's layer name, else the first free ``_1``,
        ``_2``, ... suffix where another node's layer name (reserved: :meth:`_layer_names`) or a name already
        taken is that or starts with it and a dot."""
        others = [r for r in self.reserved if r != self.op_name] + list(self.b._shapes) + list(self.b._blocks)
        prefix, k = self.op_name, 0
        while any(r == prefix or r.startswith(f"{prefix}.") for r in others):
            k += 1
            prefix = f"{self.op_name}_{k}"
        return prefix

    def _state_slices(self, prefix: str, layout: int, shape: tuple[int, ...]) -> dict[int, list[str]]:
        """initial_h / initial_c (inputs 5 and 6) that are activations or graph inputs, checked against the
        spec's ``shape`` ((num_directions, N, H); layout 1 (N, num_directions, H)), as the tensor each
        direction's first step reads: the state itself for one direction; bidirectional, a slice view of each
        direction's part ((1, N, H) at direction d; layout 1 (N, 1, H)), so that the two first steps read the
        state once between them, half each."""
        states: dict[int, list[str]] = {}
        for i in (5, 6):
            name = self.node.input[i] if len(self.node.input) > i else ""
            what = ("initial_h", "initial_c")[i - 5]
            if name and tuple(self._operand_shape(i)) != shape:
                raise WorkloadError(f"{self._node()}: {what} {name!r} is {list(self._operand_shape(i))}; the spec's "
                                    f"shape here is {list(shape)}")
            if not name or self._is_init(name):
                continue
            state, dirs = self._in(i), shape[1 if layout else 0]
            if dirs == 1:
                states[i] = [state]
                continue
            part = (shape[0], 1, shape[2]) if layout else (1, shape[1], shape[2])
            states[i] = [self.b.view(state, part, "slice", f"{prefix}.{what}_l0{suffix}", strict=False,
                                     dim=1 if layout else 0, start=d) for d, suffix in enumerate(("", "_reverse"))]
        return states

    def _initial_states(self, first_op: int, h0s: list[str], states: dict[int, list[str]]) -> None:
        """The initial states (:meth:`_state_slices`: input 5 or 6 → a tensor per direction) read by each
        direction's first step (see :meth:`_recurrent`): initial_h in place of the builder's h₀ input (then no
        longer a graph input), initial_c by the first cell op, which also reads that step's recurrent GEMM."""
        ops = self.b._ops
        firsts = [next(k for k in range(first_op, len(ops)) if h0 in ops[k].inputs) for h0 in h0s]  # recurrent GEMMs
        for i, parts in states.items():
            for h0, j, state in zip(h0s, firsts, parts, strict=True):
                if i == 6:  # initial_c: the direction's first cell, which reads that GEMM's output
                    j = next(k for k in range(j + 1, len(ops)) if ops[k].inputs[:1] == (ops[j].name,))
                op = ops[j]
                reads = tuple(state if r == h0 else r for r in op.inputs) + ((state,) if i == 6 else ())
                ops[j] = dataclasses.replace(op, inputs=reads, in_shapes=tuple(self.b.shape(r) for r in reads))
                if i == 5:
                    del self.b._inputs[h0]
