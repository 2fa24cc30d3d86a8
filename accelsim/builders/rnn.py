"""Recurrent layers (torch.nn.LSTM, GRU, RNN) lowered as the time recurrence executes, and two presets.

:class:`RecurrentBuilder` is a :class:`~accelsim.builders.tlayers.TransformerBuilder` with ``lstm``, ``gru`` and
``rnn`` methods taking torch.nn's arguments (``hidden_size``, ``num_layers``, ``bias``, ``batch_first``,
``dropout``, ``bidirectional``, ``proj_size`` for the LSTM, ``nonlinearity`` for the RNN). The input is
(L, N, H_in), or (N, L, H_in) with ``batch_first``; the output (L, N, D·H_out) or (N, L, D·H_out), D = 2 when
bidirectional, H_out = ``proj_size`` or ``hidden_size``. Per layer and direction (torch's equations,
https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html):

* ``x_proj``: the input projection of every step at once, one LINEAR ``Gemm(m = L·N, n = G·H, k = H_in)``
  (G = 4 gates for the LSTM, 3 for the GRU, 1 for the RNN) with ``weight_ih_l{k}`` (G·H, H_in) and
  ``bias_ih_l{k}`` (G·H).
* per time step ``t{i}.hh``: the recurrent GEMM, LINEAR ``Gemm(m = N, n = G·H, k = H_out)`` with
  ``weight_hh_l{k}`` (G·H, H_out) and ``bias_hh_l{k}``; it reads the previous step's hidden state (at the first
  step the graph input ``{layer}.h0_l{k}[_reverse]``, torch's h₀, zeros by default: the GEMM still runs, as in
  torch). ``attrs["recurrent"]`` marks it: the mapper keeps these
  weights in SRAM across the steps when they fit (:func:`accelsim.mapping.choice.residency`).
* ``t{i}.cell``: the gate element-wise work on the vector unit, ELEMENTWISE fn ``{lstm,gru,rnn}_cell``, reading
  this step's ``hh`` and the previous cell (which stands for the cell state c_{t−1} of the LSTM, the same size
  as h); the first step of a direction also reads the whole ``x_proj`` (so its bytes are read once in total, and
  every later step follows through the chain). Its FLOPs per hidden element are :data:`CELL_FLOPS`;
  ``vector_elems`` = those FLOPs (one vector lane-cycle per element operation, sigmoid and tanh 4 each, as
  ``hardware.DEFAULT_VECTOR_COSTS``).
* LSTM with ``proj_size``: ``t{i}.hr``, LINEAR ``Gemm(m = N, n = P, k = H)`` with ``weight_hr_l{k}`` (P, H), no
  bias, also ``recurrent``.
* the layer's output: a CONCAT view (fn "stack") of every step's hidden state along time (both directions:
  forward steps, then reverse steps, concatenated along the features).

Steps of one direction form a chain (step t needs step t−1), so they cannot overlap; the two directions of a
bidirectional layer are independent chains (in training the backward chain runs in reverse, and each recurrent
weight's gradient is one GEMM over every step after it, as cuDNN's: :mod:`accelsim.builders.training`). Layers run one after another (layer k's input projection reads all
of layer k−1's output): XLA's order (a scan per layer); on a GPU an upper bound, as cuDNN (since v5) overlaps stacked
layers as a wavefront, layer k+1's step t beside layer k's step t+1 (Appleyard, Kocisky & Blunsom 2016,
arXiv:1604.01946), which is not modelled (docs/architecture.md, "Recurrent, 3-D, point-cloud and imported workloads"). ``dropout`` p applies, as torch's, to every layer's output but the last, in a training graph
(``training``, as the builders that model their dropouts set it): :meth:`~accelsim.builders.layers.GraphBuilder.dropout`'s
keep-mask ``l{k}.dropout.mask`` and masked tensor ``l{k}.dropout`` on the stacked output; at inference, with p = 0 or
one layer, and in a builder that does not set ``training`` (a layer list's, whose ``dropout`` layer is the identity
too) it adds no op. Parameters equal torch.nn's:
per layer and direction G·H·(H_in + H_out) weights + 2·G·H biases (+ P·H with a projection).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, PositiveInt

from ..errors import WorkloadError
from ..ir import Gemm, Graph, OpKind, Weight
from .params import WorkloadParams
from .tlayers import TransformerBuilder

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
"""Gates per hidden unit: G."""
CELL_FLOPS = {
    # the two gate pre-activations added (G adds; the biases are in the GEMMs), then per torch's equations:
    "lstm": 4 + 3 * 4 + 4 + 3 + 4 + 1,  # σ(i, f, o) 12, tanh(g) 4, c' = f·c + i·g 3, tanh(c') 4, h' = o·tanh(c') 1
    "gru": 3 + 4 + 4 + 1 + 4 + 4,  # σ(r), σ(z) 8, r·(W_hn h + b_hn) 1, tanh(n) 4, h' = (1 − z)·n + z·h 4
    "rnn_tanh": 1 + 4,  # add, tanh
    "rnn_relu": 1 + 1,  # add, relu
}
"""FLOPs per hidden element per step of each cell's element-wise work: LSTM 28, GRU 20, RNN 5 (tanh) or 2."""


class RecurrentBuilder(TransformerBuilder):
    """A TransformerBuilder with torch.nn's recurrent layers (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._h0_inputs: set[str] = set()  # the h₀ graph inputs the recurrent layers added (not the caller's)
        self._first_batch: int | None = None  # N of the first recurrent layer's input

    def build(self, meta: Mapping[str, object] | None = None) -> Graph:
        """The finished graph; its ``meta`` records ``dtype`` and, where ``meta`` does not give it, ``batch`` as
        TransformerBuilder's does for one input, counting only the graph inputs the caller declared (not the h₀
        inputs the recurrent layers add) and, where the graph has a recurrent layer, taking N of the first one's
        (L, N, H_in) input (N, L, H_in with ``batch_first``) rather than dim 0, which is L in torch's time-major
        layout (probe p89 #4: ``RecurrentBuilder("g", {"x": (5, 8, 16)})`` with an lstm recorded no batch, so
        ``efficiency.j_per_inference`` was the whole batch's energy)."""
        declared = [shape for name, shape in self._inputs.items() if name not in self._h0_inputs]
        out = dict(meta or {})
        if "batch" not in out and len(declared) == 1:
            out["batch"] = self._first_batch if self._first_batch is not None else declared[0][0]
        return super().build(out)

    def lstm(self, x: str, hidden_size: int, num_layers: int = 1, bias: bool = True, batch_first: bool = False,
             dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0, name: str | None = None,
             input_size: int | None = None) -> str:
        """torch.nn.LSTM over ``x``; returns the output sequence."""
        return self._recurrent(x, "lstm", hidden_size, num_layers, bias, batch_first, bidirectional, proj_size,
                               name, input_size, dropout)

    def gru(self, x: str, hidden_size: int, num_layers: int = 1, bias: bool = True, batch_first: bool = False,
            dropout: float = 0.0, bidirectional: bool = False, name: str | None = None,
            input_size: int | None = None) -> str:
        """torch.nn.GRU over ``x``; returns the output sequence."""
        return self._recurrent(x, "gru", hidden_size, num_layers, bias, batch_first, bidirectional, 0, name,
                               input_size, dropout)

    def rnn(self, x: str, hidden_size: int, num_layers: int = 1, nonlinearity: Literal["tanh", "relu"] = "tanh",
            bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
            name: str | None = None, input_size: int | None = None) -> str:
        """torch.nn.RNN (Elman, tanh or relu) over ``x``; returns the output sequence."""
        if nonlinearity not in ("tanh", "relu"):
            raise WorkloadError(f"{self.name}: rnn nonlinearity must be 'tanh' or 'relu' (got {nonlinearity!r})")
        return self._recurrent(x, f"rnn_{nonlinearity}", hidden_size, num_layers, bias, batch_first,
                               bidirectional, 0, name, input_size, dropout)

    def _recurrent(self, x: str, cell: str, hidden: int, num_layers: int, bias: bool, batch_first: bool,
                   bidirectional: bool, proj: int, name: str | None, input_size: int | None = None,
                   dropout: float = 0.0) -> str:
        kind = cell.split("_")[0]
        name = self.block_name(name, kind)
        shape = self.shape(x)
        where = f"{self.name}: {kind} {name!r}"
        if len(shape) != 3:
            raise WorkloadError(f"{where} needs an (L, N, H_in) input (N, L, H_in with batch_first); "
                                f"{x!r} is {list(shape)}")
        if input_size is not None and input_size != shape[2]:
            raise WorkloadError(f"{where}: input_size {input_size} does not match the input's {shape[2]} features")
        for what, value, least in (("hidden_size", hidden, 1), ("num_layers", num_layers, 1), ("proj_size", proj, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise WorkloadError(f"{where}: {what} must be an int >= {least} (got {value!r})")
        if proj >= hidden and proj:
            raise WorkloadError(f"{where}: proj_size {proj} must be smaller than hidden_size {hidden}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise WorkloadError(f"{where}: dropout must be a number in [0, 1] (got {dropout!r})")
        time_dim = 1 if batch_first else 0
        with self.scope(name):
            for layer in range(num_layers):
                outs = [self._direction(x, cell, hidden, proj, layer, reverse, bias, time_dim)
                        for reverse in ((False, True) if bidirectional else (False,))]
                x = self._stack([s for steps in outs for s in steps], len(outs), time_dim, f"l{layer}.output")
                if layer < num_layers - 1:  # torch's dropout on every layer's output but the last (training only)
                    x = self.dropout(x, dropout, name=f"l{layer}.dropout")
        return x

    def _direction(self, x: str, cell: str, hidden: int, proj: int, layer: int, reverse: bool, bias: bool,
                   time_dim: int) -> list[str]:
        """One layer in one direction: the input projection, then the chain of steps; the hidden state of each
        step in time order."""
        shape = self.shape(x)
        steps, batch, h_out, g = shape[time_dim], shape[1 - time_dim], proj or hidden, GATES[cell.split("_")[0]]
        suffix = f"l{layer}{'_reverse' if reverse else ''}"
        prefix = self._prefix()
        w = {k: f"{prefix}.{k}_{suffix}" for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")}
        # the biases are marked so (ir.Weight.bias): their gradients are column sums of dY, not the weights' GEMM
        ih = [Weight(w["weight_ih"], (g * hidden, shape[2]))] + (
            [Weight(w["bias_ih"], (g * hidden,), bias=True)] if bias else [])
        hh = [Weight(w["weight_hh"], (g * hidden, h_out))] + (
            [Weight(w["bias_hh"], (g * hidden,), bias=True)] if bias else [])
        x_proj = self._gemm(f"{suffix}.x_proj", [x], (*shape[:2], g * hidden), ih, Gemm(steps * batch, g * hidden,
                                                                                         shape[2]), bias)
        # h₀: torch's optional initial state (zeros by default), a graph input the first recurrent GEMM reads; it
        # and the first recurrent layer's N are kept apart for build()'s batch
        h_prev = self.add_input(f"{prefix}.h0_{suffix}", (batch, h_out))
        self._h0_inputs.add(h_prev)
        if self._first_batch is None:
            self._first_batch = batch
        cell_prev: str | None = None
        outputs: dict[int, str] = {}
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            with self.scope(f"{suffix}.t{t}"):
                rec = self._gemm("hh", [h_prev], (batch, g * hidden), hh,
                                 Gemm(batch, g * hidden, h_out), bias, recurrent=True)
                reads = [rec, cell_prev] if cell_prev else [rec, x_proj]
                work = CELL_FLOPS[cell] * batch * hidden  # one vector lane-cycle per element operation
                cell_prev = self._add(self._name("cell", "cell"), OpKind.ELEMENTWISE, reads, (batch, hidden),
                                      flops=work, vector_elems=work, fn=f"{cell}_cell")
                h_prev = cell_prev
                if proj:
                    h_prev = self._gemm("hr", [cell_prev], (batch, proj), [Weight(w["weight_hr"], (proj, hidden))],
                                        Gemm(batch, proj, hidden), False, recurrent=True)
            outputs[t] = h_prev
        return [outputs[t] for t in range(steps)]

    def _gemm(self, name: str, inputs: Sequence[str], out: tuple[int, ...], weights: Sequence[Weight], gemm: Gemm,
              bias: bool, **attrs: object) -> str:
        """A LINEAR with explicit weights: flops = 2·macs (+ one add per output element with a bias)."""
        flops = 2 * gemm.macs + (gemm.m * gemm.n if bias else 0)
        return self._add(self._name(name, "linear"), OpKind.LINEAR, list(inputs), out, weights=list(weights),
                         gemm=gemm, flops=flops, fn="linear", bias=bias, **attrs)

    def _stack(self, steps: list[str], directions: int, time_dim: int, name: str) -> str:
        """The steps' hidden states (each (N, H_out); directions one after another) as one (L, N, D·H_out) or
        (N, L, D·H_out) sequence: a CONCAT view."""
        batch, h_out = self.shape(steps[0])
        length = len(steps) // directions
        out = (length, batch, directions * h_out) if time_dim == 0 else (batch, length, directions * h_out)
        return self._add(self._name(name, "stack"), OpKind.CONCAT, steps, out, fn="stack", dim=time_dim,
                         directions=directions)


def recurrent_params(kind: str, input_size: int, hidden: int, num_layers: int = 1, bidirectional: bool = False,
                     proj: int = 0, bias: bool = True) -> int:
    """torch.nn's parameter count of an LSTM/GRU/RNN: per layer and direction G·H·(H_in + H_out) + 2·G·H
    (+ P·H for an LSTM projection)."""
    g, dirs, h_out = GATES[kind], 2 if bidirectional else 1, proj or hidden
    total = 0
    for layer in range(num_layers):
        h_in = input_size if layer == 0 else dirs * h_out
        total += dirs * (g * hidden * (h_in + h_out) + (2 * g * hidden if bias else 0) + proj * hidden)
    return total


# ---- presets -------------------------------------------------------------------------------------------------
class LstmLmParams(WorkloadParams):
    """A word-level LSTM language model (Zaremba et al. 2014, "medium": 2 × 650 on PTB's 10,000 words)."""

    seq_len: PositiveInt = Field(35, description="Tokens per sequence (the paper unrolls 35 steps).")
    vocab: PositiveInt = Field(10_000, description="Vocabulary size (Penn Treebank: 10,000).")
    hidden: PositiveInt = Field(650, description="Embedding and LSTM width (medium: 650).")
    layers: PositiveInt = Field(2, description="LSTM layers.")


def lstm_lm(p: LstmLmParams) -> Graph:
    """Embedding → LSTM(hidden, layers) → linear decoder to the vocabulary (untied), time-major as PyTorch's
    word_language_model example: emb V·H, LSTM per layer 4·H·2H + 8·H, decoder H·V + V."""
    b = RecurrentBuilder("lstm_lm", {"input": (p.seq_len, p.batch)}, dtype=p.dtype or "fp16")
    x = b.embedding("input", p.vocab, p.hidden, name="encoder")
    x = b.lstm(x, p.hidden, num_layers=p.layers, name="rnn")
    b.linear(x, p.vocab, name="decoder")
    return b.build({"model": "lstm_lm", **p.model_dump()})


class Seq2SeqParams(WorkloadParams):
    """A GNMT-style LSTM translation model, smaller (Wu et al. 2016's layout at width 512, 4 + 4 layers)."""

    src_len: PositiveInt = Field(50, description="Source tokens.")
    tgt_len: PositiveInt = Field(50, description="Target tokens (teacher-forced, all decoded in one pass).")
    vocab: PositiveInt = Field(32_000, description="Shared source/target vocabulary (one table each).")
    hidden: PositiveInt = Field(512, description="Embedding and LSTM width.")
    layers: int = Field(4, ge=2, description="Encoder and decoder layers each (at least 2: the bidirectional first "
                                             "encoder layer and the 2H → H one).")


def seq2seq_lstm(p: Seq2SeqParams) -> Graph:
    """GNMT-style encoder–decoder (Wu et al. 2016, as MLPerf's GNMT v2 reference), at width ``hidden``.

    Encoder: embedding, a bidirectional LSTM (H per direction), an LSTM 2H → H, then LSTMs H → H with residual
    adds from the third layer. Decoder: embedding, LSTM H → H whose outputs query attention over the encoder
    outputs for all steps at once (Luong's general score q·W·kᵀ: a linear on the keys, a batched matmul, softmax,
    a matmul; GNMT's additive score is not modelled), then LSTMs over [output, context] (2H → H) with residual
    adds from the third layer, and a linear classifier to the vocabulary.
    """
    h, n = p.hidden, p.batch
    b = RecurrentBuilder("seq2seq_lstm", {"input": (n, p.src_len), "target": (n, p.tgt_len)},
                         dtype=p.dtype or "fp16")
    with b.scope("encoder"):
        x = b.embedding("input", p.vocab, h, name="embedder")
        x = b.lstm(x, h, batch_first=True, bidirectional=True, name="rnn0")
        x = b.lstm(x, h, batch_first=True, name="rnn1")
        for i in range(2, p.layers):
            x = b.add(b.lstm(x, h, batch_first=True, name=f"rnn{i}"), x, name=f"residual{i}")
        memory = x
    with b.scope("decoder"):
        y = b.embedding("target", p.vocab, h, name="embedder")
        y = b.lstm(y, h, batch_first=True, name="rnn0")
        with b.scope("attention"):
            keys = b.linear(memory, h, bias=False, name="linear_k")
            q, k = b.view(y, (n, 1, p.tgt_len, h), name="q"), b.view(keys, (n, 1, p.src_len, h), name="k")
            ctx = b.attention(q, k, b.view(memory, (n, 1, p.src_len, h), name="v"))
            ctx = b.view(ctx, (n, p.tgt_len, h), name="merge")
        for i in range(1, p.layers):
            # ResidualRecurrentDecoder.forward's torch.cat((x, attn), dim=2): a copy kernel on a GPU preset
            z = b.lstm(b.concat([y, ctx], dim=2, name=f"cat{i}", eager_copy=True), h, batch_first=True,
                       name=f"rnn{i}")
            y = b.add(z, y, name=f"residual{i}") if i >= 2 else z
        b.linear(y, p.vocab, name="classifier")
    return b.build({"model": "seq2seq_lstm", **p.model_dump()})
