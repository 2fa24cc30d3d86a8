"""The training pass: a forward graph becomes one training step (forward, loss, backward, optimizer step).

:func:`training_graph` is a pure function of the forward :class:`~accelsim.ir.Graph` and the optimizer's name. Its
result lists, in one topological order: every forward op (copied), the loss, the backward ops in reverse forward
order (under sequence parallelism the step's all-reduce of the sequence-parallel gradients) and one optimizer step
per parameter tensor. Conventions (the mapper and the report rely on them):

Phases and names

* Every op has ``attrs["phase"]``: "forward" (the forward ops and ``loss``), "backward" or "optimizer". Forward ops
  keep their name, kind and numbers; their attrs lose ``follows`` (a batch norm in training normalises with the
  batch's statistics, so it cannot be folded into the convolution before it). A batch norm ``X`` (NORM fn
  "batchnorm") computes those statistics in an op of its own just before it (a statistics pass, then the
  element-wise one): ``X.stats`` (NORM fn "batchnorm_stats", phase "forward", reading X's input, out_shape (2, C)
  of ``out_dtype`` fp32: mean and invstd, vector_elems = X's, 2 flops each: a sum and a sum of squares), and ``X``
  reads (x, ``X.stats``): x is read twice. On a GPU preset a bf16 / fp16 batch norm runs eager PyTorch's native
  CUDA kernels instead, four forward and one fused backward (:func:`eager_batchnorm`, which the scenario applies);
  an fp32 one (cuDNN) keeps this form, after the module's num_batches_tracked add, its running stats read by
  ``X.stats``.
* ``loss``: SOFTMAX fn "cross_entropy" over the graph outputs (ops no op reads, KV_APPEND excluded; a view counts),
  out_shape (1,), vector_elems = their elements, 5 flops per element, in :data:`LOSS_DTYPE` (fp32) or wider: an
  output narrower than fp32 is first cast, ``loss.cast`` (``loss.cast{i}`` for output i when there are several;
  ELEMENTWISE fn "cast", phase "forward", 0 flops, dtype the output's, ``out_dtype`` fp32: Megatron's
  ``output.float()``, HF's ``logits.float()``), and the loss reads that copy. ``loss.grad`` (``loss.grad{i}``):
  SOFTMAX fn "cross_entropy_grad" reading the output (its fp32 copy where cast: dtype fp32, ``out_dtype`` the
  output's, the cast's backward folded in), out_shape = the output's shape, vector_elems = its elements, 5 flops
  each (the softmax recomputed from the logits, minus the one-hot target).
  Where every output already is a log_softmax over its last dim (through views: PyG's GraphSAGE ends
  ``SAGE.forward`` with ``x.log_softmax(dim=-1)`` and trains with ``F.nll_loss(out, y)``), the loss is the
  negative log-likelihood instead, so no second softmax is computed: ``loss`` fn "nll_loss" (one pick-and-add a
  row, :data:`NLL_FLOPS`; vector_elems = flops = rows; attrs ``gather_rows`` = rows and ``target_bytes`` = rows ×
  8: PyTorch's nll_loss forward gathers ``input[i][target[i]]`` and reads the int64 targets), ``loss.grad fn "nll_loss_grad" reading the loss (the
  scalar gradient; PyTorch's nll_loss_backward reads the targets, not the log-probabilities: it zero-fills dY and
  writes −1/N at each row's target), out_shape = the output's shape, vector_elems = flops = rows; the output is
  not stashed for it (log_softmax's own gradient keeps it).
  Where an output holds this chip's vocabulary rows of the logits (attrs :data:`~.tlayers.VOCAB_PARALLEL` on its LM
  head: tensor parallelism's split vocabulary), three COLLECTIVE all-reduces of one fp32 value a row come before
  the loss, which reads the last (Megatron's vocabulary-parallel cross entropy; :meth:`_Pass._vocab_parallel`).
  A pipeline stage before the last (the forward's ``meta["grad_outputs"]`` names the ops whose output the next
  stage reads) has no loss: each such output's gradient is a new graph input ``{op}.output_grad`` of its shape, the
  gradient the next stage sends back (Megatron's output_tensor_grad), read by the backward and not stashed; the
  forward tensor itself is then kept only if a backward op reads it (Megatron frees it after the send).
* Backward ops of forward op ``X`` are ``X.grad_input`` (the gradient of its single activation input),
  ``X.grad_input{i}`` (of input i, for ops with several activation inputs), ``X.grad_weight`` (of its weight) and
  ``X.grad_bias`` (of its bias); all have attrs ``forward`` = ``X`` and ``grad`` = "input" | "weight" | "bias".
* A tensor ``T`` read by several ops gets the sum of their gradients: ELEMENTWISE fn "add" ``T.grad`` (attrs
  ``accumulate`` = T), one n-ary add, vector_elems = flops = (n − 1)·elements; a tensor an eager chain reads (a
  forward op with attrs ``eager``: GPT-2's gelu_new, transformers/builders ``_eager_gelu_new``) gets autograd's own
  sum instead, n − 1 binary adds ``T.grad1`` .. ``T.grad`` in arrival order (torch/csrc/autograd/input_buffer.cpp:
  InputBuffer::add accumulates each incoming gradient into the one held, one kernel each; gelu_new's input has
  three readers, so 2 kernels of 3U, not one of 4U). Exception: gradients of disjoint
  slices of ``T`` (the q, k and v views of a fused q/k/v projection; token slices) are joined by a CONCAT view
  ``T.grad`` (fn "grad_concat") as torch's split/slice backward is a cat: no work. One reader: its gradient is
  used directly. A parameter used by several ops (tied embeddings) gets ``W.grad`` (fn "add", attrs
  ``accumulate`` = W) after the backward ops, vector_elems = Σ input elements − the largest input's. Row slices
  of one packed parameter (:attr:`~accelsim.ir.Weight.packed`: DETR's q/k/v rows of ``in_proj_weight``) are one
  parameter ``P`` here: their gradients joined, in slice order, by a CONCAT view ``P.grad`` (fn "grad_concat",
  attrs ``accumulate`` = P, as torch's chunk backward is a cat: no work), one step ``P.step``.
* Under sequence parallelism, or tensor parallelism with QK-norms, one COLLECTIVE all-reduce
  ``sequence_parallel_grads_all_reduce`` (phase "optimizer") of the gradients of the parameters whose ops carry
  attrs :data:`~.tlayers.SEQUENCE_PARALLEL`, after the backward ops and before the steps (Megatron's
  finalize_model_grads; :meth:`_Pass._sequence_parallel_grads`).
* Optimizer: ``W.step`` per unique trainable parameter W (not :attr:`~accelsim.ir.Weight.frozen`; kind OPTIMIZER,
  after every backward op, in order of the parameters' first use). Inputs: W's gradient tensor (none for a parameter the step never reads, e.g. SAM's
  unused prompt convs: the step then runs on a zero gradient); weights: W itself, then its fp32 state Weights
  (role "state"): sgd none, momentum ``W.momentum``, adam ``W.adam_m`` and ``W.adam_v``, and ``W.master`` (the fp32
  master copy, :data:`MASTER`) when W is narrower than fp32 (mixed precision); out_shape = W's shape
  (the updated parameter); dtype: the gradient's (:data:`GRAD_DTYPE`: fp32 for a bf16 parameter, whose Weight
  then carries its own dtype), so the step reads, and a data-parallel reduction sends, the gradient at that width;
  attrs ``fn`` (the optimizer), ``param`` (W), ``state_bytes`` (bytes of its states),
  ``expert`` (True for an MoE expert's parameter, read by an op with attrs ``experts`` or ``idle_experts``: its
  gradient is reduced over the data-parallel chips that hold the same experts, ``expert_parallel`` times fewer),
  ``table_shard`` (True for a table of a sharded DLRM, read by a look-up with attrs ``table_shard``: its gradient
  is reduced over the data-parallel chips that hold the same table, ``embedding_parallel`` times fewer);
  vector_elems = flops = numel × (sgd 2, momentum 4, adam 10).
  A table whose only gradient is a sparse one (its look-up has attrs ``sparse_grad``: torch's
  ``nn.EmbeddingBag(sparse=True)``, as facebookresearch/dlrm builds its tables) takes a lazy step on the distinct
  rows that gradient holds: the gradient has r = min(gather_rows, table rows) rows, one a look-up, and torch's
  sparse optimizers coalesce it first, updating each distinct row once, so the step updates the expected distinct
  rows of T = gather_rows look-ups, d = R(1 − (1 − 1/R)^T) for ``access: uniform``, Σ_i 1 − (1 − p_i)^T for zipf
  (``draws.expected_distinct``; a row block's Zipf look-ups counted as uniform ones, an upper bound; rounded,
  1 .. r; probe p214 #2: embedding_bag's 40,960 Zipf look-ups 14,689 rows, not 40,960): out_shape (d, row),
  vector_elems = flops = d·row × the factor above, attrs ``sparse_rows`` = d, ``grad_rows`` = r, ``lookups`` = T,
  ``distinct_access`` (the pattern d is counted by) and the look-up's ``access`` and ``zipf_alpha``; the step reads
  the r-row gradient and the mapper reads and writes the d rows of
  the parameter and of each state tensor, which stay whole-table Weights (the state exists for every row). Every
  optimizer is lazy there, as torch.optim.SparseAdam ("only moments that show up in the gradient get updated"):
  the touched rows' elements of each per-element state are read and written.
  With data parallelism the table's g holders (``ir.reduction_chips``: every data-parallel chip of an unsharded
  table, the group's holders of a sharded one) all-gather their sparse gradients, each replica's r rows and their
  int64 ids, as torch's DDP reduces a sparse gradient and TorchRec / FBGEMM a data-parallel table's, and each
  replica's lazy step updates the union of the group's rows: :func:`union_sparse_steps` (run by the scenario, which
  knows g) widens the step to u, the expected distinct rows of the group's g·T look-ups (at most g·r), and the
  mapper (``mapping/emit.py`` ``Emitter._reduce_gradients``) sends (g − 1)/g × g·r·(row × dtype + 8) B (probe p88 #3: the whole table's
  gradient was all-reduced, 2(g − 1)/g × rows × row × dtype, while the step updated only the replica's r rows;
  dlrm_mlperf on dgx-h100, table 0: 11,486,708,928 → 3,784,704 B on the link, a step on 2,048 → 16,384 rows, the
  training step 179.7 → 6.31 ms).

Which tensors get gradients

A tensor requires a gradient when it depends on a trainable parameter (torch's ``requires_grad``): graph inputs do
only when listed in the forward's ``meta["grad_inputs"]`` (a pipeline stage's hidden-state input: its gradient, summed over
its readers by one ``{input}.grad`` add when there are several, is what the stage sends back),
and an op whose activation inputs all lack one (the first layer reading the image) gets no input-gradient op, only
its weight gradients. A forward op no gradient reaches (a KV_APPEND, a branch that does not lead to the loss) has
no backward ops; its parameters' steps have no gradient input.

Frozen parameters (:func:`freeze`; the builders mark them as their reference freezes them)

A frozen parameter (:attr:`~accelsim.ir.Weight.frozen`: torch's ``requires_grad_(False)``, YOLOv8's DFL conv, DETR's
backbone conv1 and layer1) counts in ``params`` but gets no weight or bias gradient, no optimizer step, no gradient
or state bytes; an op whose parameters are all frozen and whose inputs need no gradient needs none itself, so the
ops after it up to the first trainable one get no input gradient (DETR's ``layer2.0.conv1`` and
``layer2.0.downsample.0``: autograd makes no gradient for a tensor that does not require one). A frozen norm (attrs
``frozen``: DETR's FrozenBatchNorm2d, an affine x·scale + shift from buffers) has no ``.stats`` op and no
``grad_weight``; its ``grad_input`` (NORM fn f"{fn}_grad", where x needs one) is dX = dY·scale, reading (dY,) with
the scale, 1 flop per element (:data:`FROZEN_NORM_GRAD_FLOPS`). The frozen parameters' own weights are still read
by the input gradients that need them (the DFL conv's dX = dY·Wᵀ).

Matmul kinds (gradients with the forward MACs each)

A forward ``Gemm(m, n, k, count)`` (see :class:`~accelsim.ir.Gemm`); flops = 2·macs.

* LINEAR, MATMUL with a weight, CONV_TRANSPOSE: ``grad_input`` (same kind) dX = dY·Wᵀ, ``Gemm(m, k, n, count)``
  (linear: m = rows, n = in, k = out), reading (dY,) with weights (W,) (the forward's Weight object: not a new
  parameter); ``grad_weight`` dW = Xᵀ·dY, ``Gemm(k, n, m, count)`` (linear: m = in, n = out, k = rows), reading (X,
  dY), out_shape = W's shape. For CONV_TRANSPOSE (forward m = N·Hin·Win, n = Cout/g·kh·kw, k = Cin/g) the first is
  the convolution of dY, m = N·Hin·Win, n = Cin/g, k = kh·kw·Cout/g.
* A recurrent layer's per-step GEMMs (attrs ``recurrent``: builders.rnn's ``t{i}.hh`` and ``t{i}.hr``) get their
  ``grad_input`` each, step by step in reverse (the backward recurrence), but no weight gradient of their own: after
  the last of them (the first step in forward order), ONE ``{base}.grad_weight`` per weight over every step, as
  cuDNN's backward-weights pass (cudnnRNNBackwardWeights) and torch.nn.LSTM's backward compute it: dW = Σ_t dYₜᵀ·Xₜ
  as ``Gemm(k, n, Σ m)`` (K = steps × batch; the per-step GEMMs' MACs summed), reading two CONCAT views of the
  steps stacked along the rows, ``{base}.steps_input`` (fn "stack": h₀ and the steps' hidden states) and
  ``{base}.steps_grad`` (fn "grad_stack": the gates' gradients), out_shape = W's shape, written once; attrs
  ``forward`` = the first step, ``steps``; the step's bias (``bias_hh``, a marked bias) gets one ``{base}.grad_bias``
  of its own over the stacked gradient (ELEMENTWISE fn "bias_grad", one FLOP per element of it), not the weight's
  op. ``{base}`` is the first step's name without its
  ``.t{i}`` segment (``rnn.l0.hh``).
* CONV (m = N·Ho·Wo, n = Cout/g, k = kh·kw·Cin/g, count = g): ``grad_input`` as an implicit-GEMM convolution of
  dY, ``Gemm(N·Hin·Win, Cin/g, kh·kw·Cout/g, g)``, when N·Hin·Win = N·Ho·Wo (stride 1, "same" padding: then its
  MACs N·Hin·Win·Cin·kh·kw·Cout/g equal the forward's N·Ho·Wo·Cout·kh·kw·Cin/g); otherwise (strided or unpadded)
  the col2im form dCols = Wᵀ·dY, ``Gemm(N·Ho·Wo, kh·kw·Cin/g, Cout/g, g)`` then a scatter-add, whose MACs equal
  the forward's for every stride and padding (the implicit form would count stride² zero taps). attrs ``dgrad``
  says which ("implicit" | "col2im"). ``grad_weight``: ``Gemm(Cout/g, kh·kw·Cin/g, N·Ho·Wo, g)``.
* MATMUL of two activations C = A·B: ``grad_input0`` dA = dC·Bᵀ ``Gemm(m, k, n, count)`` reading (dC, B) and
  ``grad_input1`` dB = Aᵀ·dC ``Gemm(k, n, m, count)`` reading (A, dC), each only if that operand needs one.
* ATTENTION (fused): ONE ATTENTION op ``grad_input`` as FlashAttention-2's backward: it recomputes S = QKᵀ and
  runs dV = PᵀdO, dP = dO·Vᵀ, dQ = dS·K and dK = dSᵀ·Q: three QKᵀ-sized and two PV-sized GEMMs, so macs =
  3·QKᵀ + 2·PV (2.5× the forward when d_qk = d_v). gemm = the QKᵀ Gemm with count × 3, attrs ``pv_gemm`` = the PV
  Gemm with count × 2 (the mapper prices gemm + pv_gemm; a causal one over the forward's blocks only, on a GPU and
  on an array alike), ``bwd_gemms`` = the five exact GEMMs (m, n, k, count).
  It reads (dO, q, k, v, O): the forward output stands in for O and its softmax statistics. vector_elems = 2× the
  forward's (softmax recomputed, dS = P∘(dP − rowsum(dO∘O))), flops = 2·macs + 2× the forward's vector flops.
  out_shape = (Σ elements of the gradients it makes,): dq, dk, dv (and the score terms') packed, each taken out by
  a RESHAPE view ``grad_input{i}`` (fn "attention_grad_split").
* A bias (a Weight marked ``bias``, as the importers mark a Conv's B or a Gemm's C by input position, or a 1-D
  Weight a builder named ``*.bias``, of any op) gets ``grad_bias``: ELEMENTWISE fn "bias_grad" reading (dY,),
  out_shape = the bias's shape, vector_elems = flops = dY's elements (a column sum); the biases of a grouped GEMM's
  experts share one ``grad_bias`` (out_shape their elements in all), each expert's column sum over its own rows.

Vector ops: a backward op of the same kind, fn ``f"{fn}_grad"``, vector_elems and flops = factor × the forward's

* ACTIVATION ``grad_input`` reading (dY, stashed): relu, sigmoid, tanh read their output; relu6, hardsigmoid,
  hardswish, elu, leaky_relu, gelu, silu, quick_gelu their input (as torch's derivatives.yaml). Factor 1 (relu,
  relu6, sigmoid, tanh, hardsigmoid, hardswish, elu, leaky_relu) or 2 (gelu, silu, quick_gelu, anything else).
  A "pow" (attrs ``exponent`` n: eager ``torch.pow(x, n)``, pow.Tensor_Scalar) is derivatives.yaml's
  ``pow_backward(grad, self, exponent)``, which FunctionsManual.cpp computes as ``grad * (exponent *
  self.pow(exponent - 1)).conj()``: three kernels, ``X.grad_pow`` (ACTIVATION fn "pow", exponent n − 1, reading X's
  input), ``X.grad_scale`` (ELEMENTWISE fn "mul" by the scalar n) and ``grad_input`` (ELEMENTWISE fn "mul" reading
  (dY, ``X.grad_scale``)): 2U + 2U + 3U of U bytes a tensor (the conj of a real tensor is a view). So GPT-2's eager
  gelu_new (builders/transformer.py ``_eager_gelu_new``: 8 forward kernels, 18U) trains with 11 backward kernels,
  28U (probe p225 #3): the final mul.Tensor's two (``grad * other``, ``grad * self``) 6U; 0.5·x's ×0.5 2U;
  1 + t's none (add.Scalar: ``grad``); tanh_backward(grad, result) 3U; ×sqrt(2/π) 2U; x + a's none (add.Tensor:
  ``grad`` and ``maybe_multiply(grad, alpha)``, alpha 1); ×0.044715 2U; pow_backward 7U; and the sum of x's three
  gradients, 2 binary adds of 3U (above). Autograd keeps x (pow), t (tanh), 0.5·x and 1 + t (the last mul), read by
  those backward ops, besides c_proj's input: 24sbh a layer more than a fused GELU (probe p222 #2: gpt2 at seq
  1024 keeps 1,514,215,424 B, not 1,287,723,008). A fused GELU (Megatron's bias-GELU, ``gelu_pytorch_tanh``'s one
  ATen kernel, whose derivatives.yaml entry reads ``self`` alone) keeps its input alone.
* NORM ``grad_input`` reading (dY, X) with the scale Weight (not the bias): factor 3. Its scale gets
  ``grad_weight`` (NORM fn f"{fn}_grad_weight": Σ dY·x̂, reading (X, dY), vector_elems = elements, 4 flops each:
  x̂ from the saved statistics, a multiply, a sum) and its bias ``grad_bias``: separate ops so that each parameter's
  gradient is a tensor of its own shape. Except a batch norm (fn "batchnorm"), whose backward is two passes
  (PyTorch's two-kernel CUDA path, Normalization.cuh, which a GPU preset's fused kernel replaces where it applies:
  :func:`eager_batchnorm`):
  ``grad_weight`` (batch_norm_backward_reduce: NORM fn "batchnorm_grad_weight" reading (X, dY), out_shape (2·C,):
  dγ and dβ packed, the gradient of both parameters, no ``grad_bias``; vector_elems = 2 × elements, 5 flops each,
  the two column sums the separate ops had), then ``grad_input`` (batch_norm_backward_elemt) reading (dY, X,
  ``grad_weight``), factor 3 as above.
* SOFTMAX ``grad_input`` reading (dY, Y): factor 2, written in the forward's ``dtype`` (its input's) even where the
  forward wrote a wider ``out_dtype`` (transformers' eager fp32 softmax: torch's ``_softmax_backward_data`` reads
  the fp32 Y and dY and returns the input's dtype); one over segments (attrs ``segments``: GAT's over each node's
  in-edges) reads its segment index too (the forward's inputs after the first: edge_index.dst).
* POOL ``grad_input`` (fn "max_grad" reading (dY, ``X.indices``), "avg_grad" reading (dY,)): vector_elems = flops =
  the input's elements (one scatter per input element). A windowed or adaptive max pool ``X`` (attrs ``kernel`` or
  ``adaptive``) whose input needs a gradient saves its argmax in training, as PyTorch's autograd does: max_pool2d
  runs ``max_pool2d_with_indices`` when its input requires grad (aten/src/ATen/native/MaxPooling.cpp), and
  tools/autograd/derivatives.yaml gives that op's backward as ``max_pool2d_with_indices_backward(grad, self, ...,
  result1)`` (likewise max_pool1d/3d and adaptive_max_pool2d's ``result1``): the int64 indices, 8 B
  (:data:`~.gnn.INDEX_BYTES`) per output element. So ``X.indices`` (ELEMENTWISE fn "max_indices", phase "forward",
  right after ``X``, 0 flops, reading nothing, run in X's kernel: attrs ``in_kernel_of`` = X, no launch or dispatch
  of its own, after X's tasks; PyTorch's CUDA MaxPoolForwardNCHW, aten/src/ATen/native/cuda/DilatedMaxPool2d.cu,
  writes ``top_data`` and the int64 ``top_mask`` in one kernel, so the pair moves X's input once and writes values
  and indices; probe p225 #5: the indices were a kernel of their own re-reading X's output) holds them, declared as the elements of X's dtype that hold their bytes (``gnn.index_elems`` along the
  last dim), and the backward's scatter reads dY and the indices, which the stash keeps; X itself, which autograd
  saves for its shape, stays in the stash through the op's attrs ``saved`` (probe p222 #1: resnet18's stash lacked
  64×56×56 × 8 = 1,605,632 B, googlenet's 13 pools' 1,417,472 × 8 B). Those are eager PyTorch's: off a GPU
  preset (a compiler, XLA) the scenario drops them again (:func:`compiled_pools`). An average pool saves nothing; a
  reduction's max (attrs ``over``: ONNX ReduceMax, a graph readout) is not a pool and reads (dY, X) as before.
* ELEMENTWISE: "add" and "add_rel_pos" pass dY through to each input of the output's shape (no op); an input that
  was broadcast gets ``grad_input{i}`` (fn f"{fn}_grad", reading (dY,), a reduction, vector_elems = flops = dY's
  elements); an add with a scale (a sinusoidal position add) gets a ``grad_input`` (1 flop per element); an added
  parameter gets ``grad_weight`` (fn "add_grad", the same reduction). "mul": ``grad_input{i}`` = dY times the other
  factor, reading (dY, other) (or with the multiplying Weight), vector_elems = dY's elements, flops = 1 per element
  (2 with a broadcast reduction); a multiplying parameter gets ``grad_weight`` reading (X, dY), 2 flops per element.
  "rope": ``grad_input`` reading (dY,), factor 1. "cast" (a dtype copy, the eager softmax's ``softmax_cast``):
  ``grad_input`` reading (dY,), factor 1, written in its input's dtype (``out_dtype``, torch's ToCopyBackward),
  stashing nothing. "repeat_kv" (eager GQA's copy of K or V out to every head, TransformerBuilder._repeat_kv):
  ``grad_input`` reading (dY,), the expand's gradient, a sum over each group of heads / kv_heads heads written at
  the kv_heads shape: vector_elems = dY's elements, flops = dY's elements − dX's (the adds). Any other fn: per input ``grad_input{i}`` reading (dY, the other
  inputs) and per parameter a ``grad_weight`` reading (inputs, dY), factor 1, each with the forward's MACs too, as
  the matmul kinds' gradients (a forward that multiply-adds, GAT's "att_dot" α = Σ_o x·att, a k = out GEMV: the
  input gradient dX = dα·attᵀ and the weight gradient d(att) = Σ_nodes dα·x are each a GEMM of its MACs, flops
  2·MACs; probe p112 #6: they had none, the step's MACs 2 × 2 × 192,268 short on gat_cora). So a training dropout (fn "dropout"
  reading (x, mask), GraphBuilder.dropout) gets ``grad_input0`` fn "dropout_grad" reading (dY, mask): the mask is
  what the step keeps, not x; the mask (no parameter behind it) gets no gradient.
* EMBEDDING: no input gradient (indices); ``grad_weight`` EMBEDDING fn "embedding_grad" reading (dY, indices)
  (just (dY,) for a table read at constant rows), the forward's attrs (``gather_rows``, ``pooling`` ...), no
  weights, vector_elems = flops = gathered elements (gather_rows × row; the output's elements where more): a
  scatter-add; a row block's look-up (gather_rows below batch × pooling: a row-wise sharded table's) its
  gather_rows × row alone. Its output is the gradient: a look-up with ``sparse_grad`` (above) writes the sparse
  gradient, (min(gather_rows, table rows), row) — the rows written, the whole table's shape when every row is;
  any other (torch's default dense ``nn.Embedding`` / ``F.embedding`` gradient, as LLM training runs) writes the
  whole table's shape (several tables looked up as one: (Σ rows, row)), as ATen's ``embedding_dense_backward``
  allocates ``at::zeros({num_weights, dim})`` and scatter-adds the looked-up rows into it (the output's bytes are
  that zero fill; probe p255 #1: lstm_lm's encoder wrote 35 of its 10,000 rows), and the step reads that whole
  gradient and updates every row.
* SPMM: ``grad_input{i}`` of the same kind (fn "spmm_grad", "gather_add_grad" ...) with the forward's attrs
  (``gather_rows``, ``row_elems``), factor 1: dX = Aᵀ·dY reads (dY, the other inputs); a coefficient input's
  gradient reads (dY, the features, the graph structure); "gather_add" reads (dY, the graph structure): the
  structure is the forward's last ``attrs["index"]`` inputs (builders.gnn: GCN's adj_t, GAT's edge_index rows).
* Views (RESHAPE, CONCAT): ``grad_input`` / ``grad_input{i}``, a RESHAPE view (fn f"{fn}_grad", "concat_grad") of dY
  in the input's shape: no work. Parameters riding on a view (``unused_params``) get no gradient. KV_APPEND: none.
  Exception: a ``sequence_scatter`` view (sequence parallelism's token shard) gets a COLLECTIVE fn "all_gather".
* COLLECTIVE: ``grad_input``, a COLLECTIVE of dY in the input's shape: an all-reduce's and an all-to-all's gradient
  is the same kind, an all-gather's a reduce-scatter and a reduce-scatter's an all-gather (``COLLECTIVE_GRAD``).
  An all-reduce marked ``identity_grad`` (a vocabulary-parallel embedding's: Megatron's reduce_from region) passes
  the gradient through with no op.
  An all-gather marked ``regather`` (sequence parallelism) is re-run before its layer's backward, as a recomputed
  copy (below), whatever ``recompute`` is: Megatron keeps the shard and gathers it again.

Activation recomputation (``recompute``, Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
Transformer Models")

* Ops belong to a numbered layer by name (:data:`LAYER_RE`: ``layers.N.``, ``layer.N.``, ``h.N.``, ``blocks.N.``,
  ``resblocks.N.``, ``encoder_layer_N.``); other ops (embeddings, final norm, head, loss) are never recomputed.
* "full" re-runs every forward op of a layer, "selective" only its attention core (SOFTMAX and MATMUL ops without a
  weight: QKᵀ and PV, ops marked ``attention_core``: the dropout of the attention probabilities, and unfused GQA's
  fn "repeat_kv" copies of K and V out to every head, which Megatron-core's checkpointed DotProductAttention.forward
  makes itself with ``key.repeat_interleave``: the kv_heads K and V are kept, not the copies; a fused ATTENTION op
  has none to recompute, its backward already recomputes the scores).
* Just before the first backward op of a layer, its recomputed ops are emitted again in forward order as
  ``{op}.recompute`` (phase "backward", attrs ``recompute`` True and ``forward`` = op, same kind, numbers and
  weights), each reading the recomputed copies of its inputs where there are any and the stashed forward tensor
  (the layer's checkpointed input) otherwise; every backward op reads the copy instead of the forward tensor. So
  ``stashed`` loses the recomputed tensors, and the MACs grow by the recomputed forward's (full: training MACs =
  4× forward for the layers instead of 3×).

Meta of the result: the forward's, plus ``mode`` "training", ``optimizer``, ``recompute``, ``gradient_bytes`` (Σ trainable parameter elements ×
the gradient's bytes, :data:`GRAD_DTYPE`: fp32 for bf16 parameters; one gradient per parameter, a sparse table's its
touched rows' bytes), ``optimizer_state_bytes`` (Σ state bytes: Adam 2 × trainable params × 4 B, 3 × with
16-bit params), ``stashed`` (sorted names of the forward tensors, op outputs or graph inputs, that backward ops read,
directly or through views: what the forward pass must keep for the backward pass; a view read is resolved to the
tensors it aliases, so every name is a physical tensor; the logits' fp32 copies ``loss.cast`` the loss's gradient
reads among them) and ``stashed_activation_bytes`` (Σ bytes of ``stashed``: those copies at :data:`LOSS_DTYPE`);
every concatenation resolves as a view here, and on a GPU preset the scenario resolves those a builder marks
``eager_copy`` as tensors of their own (:func:`eager_cat_stash`); off one it drops the max pools' indices
(:func:`compiled_pools`): :func:`step_as_run`.
``params`` equals the forward's, frozen ones included; ``Graph.trainable_params`` leaves them out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from ..draws import expected_distinct
from ..errors import WorkloadError
from ..ir import Gemm, Graph, Op, OpKind, Weight, reduction_chips
from ..units import GRAD_DTYPE, HALF_FLOATS, dtype_bytes
from .gnn import INDEX_BYTES, index_elems
from .layers import check_op_count
from .tlayers import SEQUENCE_PARALLEL, VOCAB_PARALLEL

Shape = tuple[int, ...]

OPTIMIZER_ELEMS = {"sgd": 2, "momentum": 4, "adam": 10}
"""Vector element operations (and FLOPs) per parameter element of one optimizer step: SGD p −= lr·g (2);
momentum v = μ·v + g, p −= lr·v (4); Adam m, v moving averages, bias corrections, p −= lr·m̂/(√v̂ + ε) (10)."""
OPTIMIZER_STATES = {"sgd": (), "momentum": ("momentum",), "adam": ("adam_m", "adam_v")}
"""Names (suffixes) of the fp32 state tensors each optimizer keeps per parameter."""
STATE_DTYPE = "fp32"
MASTER = "master"
"""The fp32 master copy of a parameter narrower than fp32, which the optimizer updates and casts back (mixed
precision: Micikevicius et al. 2018, "Mixed Precision Training"; Megatron-LM and DeepSpeed keep it in the
optimizer state: with Adam 4 + 4 + 4 bytes per parameter, ZeRO's K = 12, Rajbhandari et al. 2020)."""


def grad_dtype(dtype: str) -> str:
    """The dtype of the gradient of a parameter of ``dtype`` (:data:`GRAD_DTYPE`)."""
    return GRAD_DTYPE.get(dtype, dtype)


LOSS_FLOPS = 5
"""FLOPs per logit of the cross-entropy loss (softmax: max, subtract, exp, sum, divide) and of its gradient."""
NLL_FLOPS = 1
"""FLOPs per row of the negative log-likelihood loss (the row's target log-probability added to the sum) and of its
gradient (−1/N written at the row's target)."""
LOSS_DTYPE = "fp32"
"""The dtype the cross-entropy keeps its logits in for its gradient, whatever the model's: Megatron-LM's
``vocab_parallel_cross_entropy(output.float(), labels)`` (its ``_VocabParallelCrossEntropy`` saves the fp32
softmax), Hugging Face transformers' ``ForCausalLMLoss`` (``logits.float()``); Korthikanti et al. 2022 Sec. 4.3: "the
cross entropy loss requires storing the logits which are calculated in 32-bit floating point and as a result will
require 4sbv/t bytes". A narrower output is cast to it first (``loss.cast``), so the stash keeps the fp32 copy
(probe p117 #4) and the loss and its gradient read 4 bytes an element (probe p176 #1)."""
ACT_GRAD = {"relu": (1, "output"), "sigmoid": (1, "output"), "tanh": (1, "output"), "relu6": (1, "input"),
            "hardsigmoid": (1, "input"), "hardswish": (1, "input"), "elu": (1, "input"), "leaky_relu": (1, "input"),
            "gelu": (2, "input"), "silu": (2, "input"), "quick_gelu": (2, "input")}
"""Per activation fn: (factor on the forward's vector_elems and flops, the tensor its gradient reads)."""
ACT_GRAD_DEFAULT = (2, "input")
EAGER = "eager"
"""The attr of a forward op of an eager chain of element-wise kernels (transformers' NewGELUActivation, GPT-2's
gelu_new): the gradients of a tensor it reads are summed as autograd sums them, one binary add each."""
NORM_GRAD_FACTOR = 3
"""A norm's input gradient: the forward's statistics and two more reductions (mean of dY and of dY·x̂)."""
NORM_WEIGHT_GRAD_FLOPS = 4
"""FLOPs per element of a norm's scale gradient Σ dY·x̂: x̂ from the saved statistics (2), multiply, add."""
BATCHNORM = "batchnorm"
BN_STATS = "stats"
BN_STATS_FLOPS = 2
"""A training batch norm's statistics pass: per element a sum and a sum of squares (Welford's update in
PyTorch's batch_norm_collect_statistics_kernel)."""
BN_COUNT = "num_batches_tracked"
BN_UPDATE = "update_stats"
BN_UPDATE_FLOPS = 7
"""Per channel, PyTorch's BatchNormUpdateStatsAndInvertFunctor (aten/src/ATen/native/cuda/Normalization.cu): the
unbiased variance var·N/(N − 1) (1), two running averages x·m + (1 − m)·r (2 each: 4) and rsqrt(var + eps) (2)."""
EAGER_BN_DTYPES = HALF_FLOATS
"""The dtypes whose training batch norm eager PyTorch runs on its native CUDA kernels (:func:`eager_batchnorm`), not
on cuDNN: aten/src/ATen/native/Normalization.cpp ``_batch_norm_impl_index`` (``_select_batch_norm_backend`` in
later 2.x) takes cuDNN only where ``input.scalar_type() != at::kBFloat16 && weight.scalar_type() != at::kBFloat16
&& (input.scalar_type() != at::kHalf || weight.scalar_type() == at::kFloat)``: never for a model cast to bf16 or
fp16 (its weights in the same dtype); an fp32 model's goes to cuDNN."""
FUSED_BN_MAX_ELEMS = 2**31 - 1
"""The largest input whose batch-norm backward runs as one fused kernel: ``cuda::detail::canUse32BitIndexMath``
(offsets within INT32_MAX) in ``batch_norm_backward_cuda``'s fused branch."""
FROZEN = "frozen"
"""The attr of a frozen norm (:func:`freeze`): an affine x·scale + shift with fixed statistics."""
FROZEN_NORM_GRAD_FLOPS = 1
"""A frozen norm's input gradient dX = dY·scale: one multiply per element."""
SOFTMAX_GRAD_FACTOR = 2
"""softmax backward dX = Y∘(dY − Σ dY∘Y): twice the forward's element passes."""
ADDITIVE = frozenset({"add", "add_rel_pos"})
COLLECTIVE_GRAD = {"all_gather": "reduce_scatter", "reduce_scatter": "all_gather"}
"""The collective that carries a collective's gradient back (all-reduce and all-to-all: their own kind)."""
POOL_INDICES = "indices"
"""The suffix of a training max pool's saved argmax tensor ``X.indices`` (fn "max_indices")."""
RECOMPUTE = ("none", "selective", "full")
"""Activation recomputation: none; "selective" re-runs each layer's attention core (score matmuls, softmax and
unfused GQA's K/V copies);
"full" re-runs each layer's whole forward (Megatron-LM's uniform checkpointing, one layer per checkpoint)."""
LAYER_RE = re.compile(r"(?:^|\.)(?:layers?|h|blocks|resblocks)\.\d+\.|encoder_layer_\d+\.")
"""A numbered transformer layer in an op name: Hugging Face's ``layers.N.`` / ``layer.N.`` / ``h.N.``, SAM's
``blocks.N.``, CLIP's ``resblocks.N.``, torchvision ViT's ``encoder_layer_N.``."""


def _verify_batch_size(model: str, bn: Op) -> None:
    """Refuse a training batch norm ``bn`` of one value per channel (the batch times the positions of its (N, C,
    *spatial) input), as PyTorch does: ``F.batch_norm`` in training calls ``_verify_batch_size``, which raises
    "Expected more than 1 value per channel when training" where ∏ of the input's sizes but dim 1 is 1
    (pytorch/pytorch torch/nn/functional.py at 00012f4bc0cc: ``batch_norm`` calls it ``if training``). Such a
    step's batch variance is 0: the output is the shift β alone and the step trains nothing (probe p277 #1). A
    frozen batch norm (fixed statistics: FrozenBatchNorm2d) and inference take any batch."""
    shape = bn.in_shapes[0]
    if math.prod(shape) // shape[1] > 1:
        return
    raise WorkloadError(f"{model}: training: batch norm {bn.name!r} gets 1 value per channel (input "
                        f"{list(shape)}: batch {shape[0]}), which PyTorch refuses (\"Expected more than 1 value per "
                        f"channel when training\"); train at a batch above 1", key=("batch",))


def training_graph(forward: Graph, optimizer: str, recompute: str = "none") -> Graph:
    """The training step of ``forward`` with ``optimizer`` ("sgd" | "momentum" | "adam") and activation
    ``recompute`` ("none" | "selective" | "full"); see the module docstring."""
    if optimizer not in OPTIMIZER_ELEMS:
        raise WorkloadError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZER_ELEMS)}")
    if recompute not in RECOMPUTE:
        raise WorkloadError(f"unknown recompute {recompute!r}; expected one of {', '.join(RECOMPUTE)}")
    return _Pass(forward, optimizer, recompute).run()


def freeze(graph: Graph, params: Callable[[Weight], bool] = lambda w: False,
           norms: Callable[[Op], bool] = lambda op: False) -> Graph:
    """``graph`` with the parameters ``params`` picks marked :attr:`~accelsim.ir.Weight.frozen` (torch's
    ``requires_grad_(False)``) and the NORM ops ``norms`` picks made frozen norms (attrs ``frozen``: an affine
    x·scale + shift with fixed statistics, as DETR's FrozenBatchNorm2d, whose scale and shift are buffers: their
    weights frozen and of role "buffer", so not in ``params``, as ``model.parameters()`` does not hold them). A
    frozen parameter still counts in ``params``; the training step gives it no gradient and no optimizer step. The
    forward's MACs and bytes do not change."""
    ops = []
    for op in graph.ops:
        frozen_norm = op.kind is OpKind.NORM and norms(op)
        weights = tuple(replace(w, frozen=True, role="buffer") if frozen_norm and w.role == "param"
                        else replace(w, frozen=True) if w.role == "param" and params(w) else w for w in op.weights)
        if frozen_norm:
            op = replace(op, weights=weights, attrs={**op.attrs, FROZEN: True})
        elif weights != op.weights:
            op = replace(op, weights=weights)
        ops.append(op)
    return Graph(graph.name, ops, graph.inputs, meta=graph.meta)


def shard_optimizer(graph: Graph, shards: int) -> Graph:
    """``graph``'s training step with Megatron-LM's distributed optimizer (ZeRO stage 1) over ``shards``
    data-parallel ranks: each OPTIMIZER op keeps ⌈numel / shards⌉ elements of each state tensor (the state Weight
    becomes that 1-D shard), updates that share of its parameter (vector_elems and flops ÷ shards, rounded up) and
    carries attrs ``shards``; the mapper reads the share of the gradient and the parameter it updates, and the
    emitter reduce-scatters the gradient before the step and all-gathers the updated parameter after it. An MoE
    expert's step (attrs ``expert``) is sharded over the ``shards`` / expert_parallel ranks that hold its expert
    (Megatron's expert data-parallel group; not at all when that is one), a sharded table's (attrs ``table_shard``)
    over the ``shards`` / embedding_parallel that hold it. The parameters, gradients and activations
    stay whole. ``shards`` ≤ 1 or no optimizer op: ``graph`` itself."""
    if shards <= 1 or not any(op.kind is OpKind.OPTIMIZER for op in graph.ops):
        return graph
    ep, emb = graph.info.expert_parallel, graph.info.embedding_parallel
    ops, state_bytes = [], 0
    for op in graph.ops:
        if op.kind is OpKind.OPTIMIZER:
            n = reduction_chips(op, shards, ep, emb)
            if n > 1:
                weights = tuple(replace(w, shape=(-(-w.numel // n),)) if w.role == "state" else w
                                for w in op.weights)
                share = sum(w.nbytes(op.dtype) for w in weights if w.role == "state")
                op = replace(op, weights=weights, vector_elems=-(-op.vector_elems // n),
                             flops=-(-op.flops // n), attrs={**op.attrs, "shards": n, "state_bytes": share})
            state_bytes += int(op.attrs["state_bytes"])  # type: ignore[call-overload]
        ops.append(op)
    return Graph(graph.name, ops, graph.inputs, meta={**graph.meta, "optimizer_state_bytes": state_bytes,
                                                       "optimizer_shards": shards})


def _step_rows(lookups: int, rows: int, access: str, alpha: float, cap: int) -> int:
    """Rows a lazy step updates after ``lookups`` look-ups of pattern ``access`` into a table of ``rows`` rows: the
    expected distinct rows (:func:`accelsim.draws.expected_distinct`), rounded, 1 .. ``cap`` (the rows the
    gradient holds). torch's sparse optimizers coalesce the gradient first (torch/optim/_functional.py
    ``sparse_adam``: "grad = grad.coalesce()  # the update is non-linear so indices must be unique"), so a row
    looked up twice is updated once (probe p214 #2: 40,960 Zipf(1.05) look-ups of a 10^6-row table touch 14,689
    rows, uniform ones 40,132)."""
    return max(1, min(cap, rows, round(expected_distinct(lookups, rows, access, alpha))))


def union_sparse_steps(graph: Graph, data_parallel: int) -> Graph:
    """``graph``'s training step with each lazy step on a sparse table (attrs ``sparse_rows`` = r, the rows this
    replica's look-ups wrote) widened to the rows the table's data-parallel group wrote: the emitter all-gathers the
    g replicas' sparse gradients (their r = ``grad_rows`` rows each and the rows' int64 ids, as torch's DDP reduces a
    sparse gradient and TorchRec / FBGEMM a data-parallel table's), so every replica's step updates the union, u =
    the expected distinct rows of the group's g·T look-ups (:func:`_step_rows`, T = ``lookups``; at most g·r and
    the table's rows; probe p214 #2: dlrm_mlperf on dgx-h100 under Zipf, emb.0's 8 × 2,048 look-ups of 39,884,406
    rows touch 8,284 rows, not 16,384). g is
    :func:`~accelsim.ir.reduction_chips` of the step (the ``data_parallel`` chips; a sharded table's group, the
    ``data_parallel`` / embedding_parallel chips holding it). Such a step gets ``sparse_rows`` = u, attrs
    ``replica_rows`` = r (what each replica sends), out_shape (u, row), vector_elems and flops × u / d (d its own
    distinct rows); the graph's
    ``gradient_bytes`` counts the gathered gradient, g·r·(row × dtype bytes + 8) B, in place of the replica's r
    rows. g ≤ 1 or no such step: ``graph`` itself."""
    if data_parallel <= 1 or not any(op.kind is OpKind.OPTIMIZER and "sparse_rows" in op.attrs for op in graph.ops):
        return graph
    ep, emb = graph.info.expert_parallel, graph.info.embedding_parallel
    ops, grad_bytes = [], int(graph.info.gradient_bytes)
    for op in graph.ops:
        g = reduction_chips(op, data_parallel, ep, emb) if op.kind is OpKind.OPTIMIZER else 1
        if g > 1 and "sparse_rows" in op.attrs and "replica_rows" not in op.attrs:
            d = int(op.attrs["sparse_rows"])  # type: ignore[call-overload]
            r = int(op.attrs.get("grad_rows", d))  # type: ignore[call-overload]
            lookups = int(op.attrs.get("lookups", r))  # type: ignore[call-overload]
            param = op.weights[0]
            u = max(d, _step_rows(g * lookups, param.shape[0], str(op.attrs.get("distinct_access", "distinct")),
                                  float(op.attrs.get("zipf_alpha", 1.0)), g * r))  # type: ignore[arg-type]
            row_bytes = param.nbytes(op.dtype) // param.shape[0]
            grad_bytes += g * r * (row_bytes + INDEX_BYTES) - r * row_bytes
            op = replace(op, out_shape=(u, *op.out_shape[1:]), vector_elems=op.vector_elems // d * u,
                         flops=op.flops // d * u,
                         attrs={**op.attrs, "sparse_rows": u, "replica_rows": r, "index_bytes": INDEX_BYTES})
        ops.append(op)
    return Graph(graph.name, ops, graph.inputs, meta={**graph.meta, "gradient_bytes": grad_bytes})


def eager_cat_stash(graph: Graph) -> Graph:
    """``graph``'s training step with its stash as eager PyTorch keeps it where a concatenation a builder marks
    ``eager_copy`` runs as a copy kernel (a GPU preset: ``mapping.aliases.runs_eager_copies``, which the scenario that
    knows the arch asks, as it applies :func:`union_sparse_steps`): ATen's ``cat`` writes a tensor of its own, and
    an op reading it saves that tensor for its backward (a conv its input: the concatenation's output), not the
    tensors the concatenation read, which stay kept only where another backward op reads them. ``stashed`` and
    ``stashed_activation_bytes`` are resolved again with each such concatenation a physical tensor; every other view
    still resolves to the tensors it aliases (:meth:`_Pass._stashed`). Probe catfuse / catmore: unet on h100 kept its
    4 up-convolutions' outputs (38,658,048 B in fp16) in place of the 4 concatenations' (77,316,096 B), its stash
    363,751,584 → 402,409,632 B. Not a training step, or no such concatenation: ``graph`` itself."""
    if graph.info.mode != "training" or not any(_copied_cat(op) for op in graph.ops):
        return graph
    stashed = set(graph.info.stashed)
    kept = _kept(graph, copies=True)
    if kept == stashed:
        return graph
    elem = graph.ops[0].elem_bytes if graph.ops else 1

    def size(t: str) -> int:
        return graph[t].out_bytes if t in graph else _elems(graph.inputs[t]) * elem

    total = (int(graph.info.stashed_activation_bytes) - sum(size(t) for t in stashed - kept)
             + sum(size(t) for t in kept - stashed))
    return graph.with_meta({**graph.meta, "stashed": sorted(kept), "stashed_activation_bytes": total})


def step_as_run(graph: Graph, eager: bool) -> Graph:
    """``graph``'s training step as the arch runs it: with ``eager`` (a GPU preset, which models eager PyTorch:
    ``mapping.aliases.runs_eager_copies``, which the scenario that knows the arch asks) its copied concatenations'
    stash (:func:`eager_cat_stash`) and its batch norms' kernels (:func:`eager_batchnorm`); otherwise (a compiler,
    XLA) its max pools without PyTorch's saved indices (:func:`compiled_pools`). Not a training step: ``graph``."""
    return eager_batchnorm(eager_cat_stash(graph)) if eager else compiled_pools(graph)


def eager_batchnorm(graph: Graph) -> Graph:
    """``graph``'s training step with each trainable batch norm ``X`` of a dtype of :data:`EAGER_BN_DTYPES` run as
    eager PyTorch 2.x runs it on a GPU (the native CUDA kernels, not cuDNN: :data:`EAGER_BN_DTYPES`). Forward, four
    kernels: torch/nn/modules/batchnorm.py ``_BatchNorm.forward`` first runs ``self.num_batches_tracked.add_(1)``
    in training (an element-wise kernel on the 0-dim int64 buffer): ``X.num_batches_tracked`` (ELEMENTWISE fn
    "batchnorm_count", reading nothing but that buffer, a Weight of role "buffer" of 8 B, and writing it: 1 flop);
    then aten/src/ATen/native/cuda/Normalization.cu ``batch_norm_cuda_out`` runs ``batch_norm_mean_var`` (the
    statistics pass over x writing mean and variance, fp32: ``X.stats`` as built), ``batch_norm_update_stats_and_invert``
    (a TensorIterator kernel over the C channels reading save_mean, save_var, running_mean and running_var, writing
    running_mean, running_var and invstd into save_var): ``X.update_stats`` (ELEMENTWISE fn "batchnorm_update_stats"
    reading ``X.stats`` and the buffers ``X.running_mean`` and ``X.running_var`` of C elements in X's dtype, out
    the C fp32 invstd and the two C-element running stats written back, declared as fp32 elements,
    :data:`BN_UPDATE_FLOPS` a channel), and ``batch_norm_elementwise``: ``X``, now reading (x,
    ``X.update_stats``). Backward, one kernel: ``batch_norm_backward_cuda`` takes the branch commented "Fused
    reduction & elementwise kernel" when the input's gradient is wanted, the input is not channels last and it
    has at most :data:`FUSED_BN_MAX_ELEMS` elements; ``batch_norm_backward_cuda_template`` launches one
    ``batch_norm_backward_kernel`` (a block a channel) that reduces Σ dY and Σ dY·(x − mean) over its channel,
    reading x and dY, then reads them again to write dX, dγ and dβ. So ``X.grad_input`` comes first, reading
    (dY, x) alone, and ``X.grad_weight`` (its reduction, reading (x, dY), writing dγ and dβ) runs in its kernel
    (attrs ``in_kernel_of``: no launch or dispatch of its own): the bytes of the two passes, one launch. Elsewhere
    (channels last, a larger input, no input gradient) the two kernels stay (batch_norm_backward_reduce then
    batch_norm_backward_elemt). Off a GPU preset (a compiler) the step keeps the two-op forward and backward it was
    built with (the module docstring). An fp32 model (cuDNN) keeps them too, but ``_BatchNorm.forward``'s counter
    add runs before any backend, so ``X.num_batches_tracked`` comes first as above, and ``X.stats`` also reads the
    buffers ``X.running_mean`` and ``X.running_var`` (C fp32 each), which cuDNN's forward-training kernel updates
    itself (no launch of their own; the 2·C·4 B it writes back are not counted). Probe p242 #1: resnet50 on h100 at
    batch 32 ran 4 kernels a batch norm, not PyTorch's 5. Probe p247 #4: in fp32 it had no counter kernels (53) and
    no buffers in its weights (2 · 26,560 · 4 + 53 · 8 = 212,904 B)."""
    if graph.info.mode != "training":
        return graph
    trained = {op.name: op for op in graph.ops
               if op.kind is OpKind.NORM and op.fn == BATCHNORM and op.attrs.get("phase") == "forward"
               and f"{op.name}.{BN_STATS}" in graph and f"{op.name}.{BN_COUNT}" not in graph}  # not twice
    if not trained:
        return graph
    bns = {name: op for name, op in trained.items() if op.dtype in EAGER_BN_DTYPES}
    fused = {name for name, op in bns.items()
             if f"{name}.grad_input" in graph and f"{name}.grad_weight" in graph
             and op.attrs.get("channels_last") is not True and _elems(op.in_shapes[0]) <= FUSED_BN_MAX_ELEMS}
    ops: list[Op] = []
    held: dict[str, Op] = {}  # a fused batch norm's grad_weight, emitted after its grad_input
    for op in graph.ops:
        base, _, suffix = op.name.rpartition(".")
        bn = trained.get(base)
        if bn is not None and suffix == BN_STATS and op.attrs.get("phase") == "forward":
            ops += _bn_forward(bn, op) if base in bns else _cudnn_bn_forward(bn, op)
            continue
        if op.name in bns:
            update = f"{op.name}.{BN_UPDATE}"
            stats = f"{op.name}.{BN_STATS}"
            op = replace(op, inputs=tuple(update if x == stats else x for x in op.inputs),
                         in_shapes=tuple(ops[-1].out_shape if x == stats else s
                                         for x, s in zip(op.inputs, op.in_shapes, strict=True)))
        elif base in fused and suffix == "grad_weight":
            held[base] = op
            continue
        elif base in fused and suffix == "grad_input":
            reduce = held.pop(base)
            keep = [i for i, x in enumerate(op.inputs) if x != reduce.name]
            ops.append(replace(op, inputs=tuple(op.inputs[i] for i in keep),
                               in_shapes=tuple(op.in_shapes[i] for i in keep),
                               attrs={**op.attrs, "fused_reduction": reduce.name}))
            op = replace(reduce, attrs={**reduce.attrs, "in_kernel_of": op.name})
        ops.append(op)
    return Graph(graph.name, ops, graph.inputs, meta=graph.meta)


def _bn_count(bn: Op) -> Op:
    """``X.num_batches_tracked``: ``_BatchNorm.forward``'s ``self.num_batches_tracked.add_(1)``, one element-wise
    kernel on the 0-dim int64 buffer (8 B, declared in ``bn``'s dtype) whatever the backend after it."""
    attrs = {k: v for k, v in bn.attrs.items() if k not in ("fn", "follows", "bias")}
    count = Weight(f"{bn.name}.{BN_COUNT}", (index_elems(1, bn.dtype),), role="buffer")
    return Op(name=f"{bn.name}.{BN_COUNT}", kind=OpKind.ELEMENTWISE, inputs=(), in_shapes=(), out_shape=count.shape,
              dtype=bn.dtype, weights=(count,), flops=1, vector_elems=1,
              attrs={**attrs, "fn": "batchnorm_count", "forward": bn.name})


def _running_stats(bn: Op) -> tuple[Weight, Weight]:
    """Batch norm ``bn``'s running_mean and running_var buffers: C elements each in its dtype."""
    c = bn.in_shapes[0][1]
    mean, var = (Weight(f"{bn.name}.running_{s}", (c,), role="buffer") for s in ("mean", "var"))
    return mean, var


def _cudnn_bn_forward(bn: Op, stats: Op) -> list[Op]:
    """Batch norm ``bn``'s training forward before its element-wise kernel where cuDNN runs it (an fp32 model,
    :data:`EAGER_BN_DTYPES`): the num_batches_tracked add, then ``stats`` as built, now reading the running-stat
    buffers cuDNN updates in that kernel (no launch of their own)."""
    return [_bn_count(bn), replace(stats, weights=(*stats.weights, *_running_stats(bn)))]


def _bn_forward(bn: Op, stats: Op) -> list[Op]:
    """Batch norm ``bn``'s eager training forward before its element-wise kernel (:func:`eager_batchnorm`): the
    num_batches_tracked add, the statistics ``stats`` and the running-stat update that inverts the variance."""
    c = bn.in_shapes[0][1]
    attrs = {k: v for k, v in bn.attrs.items() if k not in ("fn", "follows", "bias")}
    running = _running_stats(bn)
    # written: invstd (C fp32) and the two running stats (C each in bn's dtype), as fp32 elements
    written = c + -(-2 * c * dtype_bytes(bn.dtype) // dtype_bytes(STATE_DTYPE))
    return [
        _bn_count(bn),
        stats,
        Op(name=f"{bn.name}.{BN_UPDATE}", kind=OpKind.ELEMENTWISE, inputs=(stats.name,),
           in_shapes=(stats.out_shape,), out_shape=(written,), dtype=bn.dtype, weights=running,
           flops=BN_UPDATE_FLOPS * c, vector_elems=c,
           attrs={**attrs, "fn": "batchnorm_update_stats", "forward": bn.name, "out_dtype": STATE_DTYPE}),
    ]


def compiled_pools(graph: Graph) -> Graph:
    """``graph``'s training step with its max pools' gradients as a compiler (XLA: a TPU or NPU preset) computes
    them: no saved indices. JAX's max pool is ``lax.reduce_window``, whose gradient (``_reduce_window_chooser_jvp_rule``
    → ``_select_and_gather_add``, transposed to ``select_and_scatter_add(t, operand, ...)``) re-reads the pool's
    input and keeps no index tensor; the int64 indices (``X.indices``, the module docstring's POOL) exist only
    because eager PyTorch calls ``max_pool2d_with_indices``. So ``X.indices`` goes, ``X.grad_input`` reads (dY, x)
    (x, which the eager step saved for its shape, already in the stash: nothing more is kept) and ``stashed``
    loses the indices. Probe p242 #4: resnet50 on tpu-v4 at batch 32 kept 1,400,370,176 B with the 51,380,224 B
    of maxpool.indices; 1,348,989,952 B without. Not a training step, or no saved indices: ``graph`` itself."""
    if graph.info.mode != "training":
        return graph
    indices = {op.name: op for op in graph.ops if op.fn == "max_indices" and op.attrs.get("phase") == "forward"}
    if not indices:
        return graph
    ops: list[Op] = []
    for op in graph.ops:
        if op.name in indices:
            continue
        if op.attrs.get("phase") == "backward" and any(x in indices for x in op.inputs):
            saved = op.attrs.get("saved", ())
            x = str(saved[0])  # type: ignore[index]
            shape = graph[x].out_shape if x in graph else graph.inputs[x]
            attrs = {k: v for k, v in op.attrs.items() if k != "saved"}
            op = replace(op, inputs=tuple(x if t in indices else t for t in op.inputs),
                         in_shapes=tuple(shape if t in indices else s
                                         for t, s in zip(op.inputs, op.in_shapes, strict=True)), attrs=attrs)
        ops.append(op)
    stashed = [t for t in graph.info.stashed if t not in indices]
    dropped = sum(indices[t].out_bytes for t in graph.info.stashed if t in indices)
    meta = {**graph.meta, "stashed": stashed,
            "stashed_activation_bytes": int(graph.info.stashed_activation_bytes) - dropped}
    return Graph(graph.name, ops, graph.inputs, meta=meta)


def _copied_cat(op: Op) -> bool:
    """A forward concatenation a builder marks ``eager_copy`` (torch.cat: a copy kernel on a GPU preset)."""
    return op.kind is OpKind.CONCAT and op.attrs.get("eager_copy") is True and op.attrs.get("phase") == "forward"


def _kept(graph: Graph, copies: bool) -> set[str]:
    """The physical forward tensors a training step's backward ops read (their inputs and attrs ``saved``), views
    resolved to the tensors they alias; with ``copies`` a concatenation marked ``eager_copy`` is a tensor of its own.
    Without, this is what :func:`training_graph` stashed (meta ``stashed``)."""
    phys: dict[str, frozenset[str]] = {x: frozenset((x,)) for x in graph.info.stashed if x in graph.inputs}
    none: frozenset[str] = frozenset()
    for op in graph.ops:
        if op.attrs.get("phase") == "forward":
            view = op.kind.is_view and not (copies and _copied_cat(op))
            phys[op.name] = frozenset().union(*(phys.get(x, none) for x in op.inputs)) if view else frozenset((op.name,))
    kept: set[str] = set()
    for op in graph.ops:
        if op.attrs.get("phase") == "backward":
            for x in (*op.inputs, *op.attrs.get("saved", ())):  # type: ignore[misc]
                kept |= phys.get(x, none)
    return kept


def layer_of(name: str) -> str | None:
    """The numbered layer an op belongs to, as the name prefix up to its layer index ("model.layers.3."), or
    None outside numbered layers. Encoder and decoder layers of one model are different layers."""
    m = LAYER_RE.search(name)
    return name[:m.end()] if m else None


def _recomputed(op: Op, recompute: str) -> bool:
    """Whether ``recompute`` re-runs forward op ``op`` (of a numbered layer) in the backward pass."""
    if recompute == "full":
        return True
    # selective (Korthikanti et al. 2022): the attention core, i.e. the score matmuls (activation × activation),
    # the softmax and the dropout of its probabilities, and eager GQA's copies of K and V out to every head (fn
    # "repeat_kv": Megatron-core's DotProductAttention, the checkpointed core, runs key.repeat_interleave itself,
    # so the core's saved inputs are the kv_heads K and V); a fused ATTENTION op keeps its output and already
    # recomputes its scores in its backward
    return (op.kind is OpKind.SOFTMAX or op.kind is OpKind.MATMUL and not op.weights
            or bool(op.attrs.get("attention_core")) or op.fn == "repeat_kv")


@dataclass(frozen=True, slots=True)
class _Grad:
    """One gradient contribution to a tensor: the tensor holding it and, for a slice view's gradient, the slice
    (axis, start, stop) of the target it covers (the rest is zero)."""

    name: str
    piece: tuple[int, int, int] | None = None


def _elems(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _rows(shape: Sequence[int]) -> int:
    """Rows of a tensor of ``shape`` over its last dim (the samples a loss sees)."""
    return math.prod(shape[:-1]) if len(shape) > 1 else 1


def _trainable(weights: Iterable[Weight]) -> list[Weight]:
    """The weights of ``weights`` training updates (not :attr:`~accelsim.ir.Weight.frozen`)."""
    return [w for w in weights if not w.frozen]


def _is_bias(w: Weight) -> bool:
    """Whether ``w`` is an additive bias (:attr:`accelsim.ir.Weight.is_bias`)."""
    return w.is_bias


class _Pass:
    """The state of one training pass over a forward graph."""

    def __init__(self, forward: Graph, optimizer: str, recompute: str = "none"):
        self.fwd = forward
        self.optimizer = optimizer
        self.recompute = recompute
        self.alias: dict[str, str] = {}  # forward tensor → its recomputed copy (backward ops read the copy)
        # layer prefix → its forward ops the backward re-runs (recompute, and sequence parallelism's all-gathers,
        # ``regather``; None: those outside numbered layers, re-run before the first backward op)
        self.layers: dict[str | None, list[Op]] = {}
        self.layer: dict[str, str] = {}  # forward op → its layer prefix
        regather = any(op.attrs.get("regather") for op in forward.ops)
        if recompute != "none" or regather:
            gathered: set[str] = set()  # regathered tensors and the views of them (context parallelism's K/V slices)
            for op in forward.ops:
                key = layer_of(op.name)
                if key is not None:
                    self.layer[op.name] = key
                again = op.attrs.get("regather") or op.kind.is_view and any(x in gathered for x in op.inputs)
                if again:
                    gathered.add(op.name)
                if again or key is not None and recompute != "none" and _recomputed(op, recompute):
                    self.layers.setdefault(key, []).append(op)
            if recompute != "none" and not self.layer:
                raise WorkloadError(f"{forward.name}: recompute {recompute!r} needs numbered transformer layers "
                                    f"(op names like 'layers.0.'); this model has none")
        self.ops: list[Op] = []
        self.shapes: dict[str, Shape] = dict(forward.inputs)
        self.grads: dict[str, list[_Grad]] = {}  # forward tensor → gradient contributions so far
        self.wgrads: dict[str, list[str]] = {}  # parameter name → tensors holding gradient contributions
        self.params: dict[str, tuple[Weight, str]] = {}  # parameter name → (Weight, dtype), in order of first use
        self.slices: dict[str, dict[str, Weight]] = {}  # packed parameter → its row slices (Weight.packed), in order
        self.slice_of: dict[str, int] = {}  # a packed slice's gradient tensor → the slice's index
        self.experts: set[str] = set()  # the parameters of MoE experts (their gradients reduced over fewer chips)
        self.table_shards: set[str] = set()  # a sharded DLRM's tables (attrs table_shard: held by one chip a group)
        # parameters Megatron marks sequence_parallel (attrs SEQUENCE_PARALLEL) → the tensor-parallel group's size
        self.sequence_parallel: dict[str, int] = {}
        # a table whose look-up has a sparse gradient (attrs ``sparse_grad``) → (rows its gradient holds, the look-up's
        # access pattern and Zipf exponent, its look-ups, the pattern its distinct rows are counted by: _step_rows)
        self.sparse: dict[str, tuple[int, str, float, int, str]] = {}
        grad_inputs = set(forward.meta.get("grad_inputs", ()))  # inputs a previous pipeline stage needs dX of
        self.requires: dict[str, bool] = {x: x in grad_inputs for x in forward.inputs}
        self.received: dict[str, Shape] = {}  # output gradients a later pipeline stage sends (graph inputs)
        self.loss_read: list[str] = []  # the logits (or their fp32 casts) the loss's gradient reads
        self.loss_dtypes: dict[str, str] = {}  # those tensors' dtypes
        self.casts: dict[str, Op] = {}  # ``loss.cast``: the fp32 copies of narrower logits
        # ``X.indices``: the argmax a training max pool saves (_pool_indices)
        self.saved: dict[str, Op] = {}
        self.eager_read = {x for op in forward.ops if op.attrs.get(EAGER) for x in op.inputs}  # (_accumulate)
        self.readers: dict[str, int] = {}
        # a recurrent layer's per-step GEMMs (attrs ``recurrent``): weight → the first step in forward order (the
        # last the backward reaches, after which its one weight gradient runs) and the steps reached so far
        self.steps_first: dict[str, str] = {}
        self.steps: dict[str, list[tuple[Op, str]]] = {}
        for op in forward.ops:
            if op.attrs.get("recurrent") and op.kind.is_matmul:
                for w in _trainable(self._main_weights(op)[:1]):
                    self.steps_first.setdefault(w.name, op.name)
            self._trained_weights(op)
            self.requires[op.name] = op.kind is not OpKind.KV_APPEND and (
                any(w.role == "param" and not w.frozen for w in op.weights) and not op.kind.is_view
                or any(self.requires.get(x, False) for x in op.inputs))
            for x in op.inputs:
                self.readers[x] = self.readers.get(x, 0) + 1
        for pname, parts in self.slices.items():  # a packed parameter: its slices' rows stacked
            first, dtype = self.params[pname]
            rows = sum(w.shape[0] for w in parts.values())
            self.params[pname] = (Weight(pname, (rows, *first.shape[1:]), dtype=first.dtype), dtype)

    def _trained_weights(self, op: Op) -> None:
        """Record ``op``'s trainable parameters (not frozen ones): in :attr:`params` (a packed tensor's slices under
        it, :attr:`slices`), MoE experts' and sharded tables' in :attr:`experts` and :attr:`table_shards`."""
        expert = "experts" in op.attrs or "idle_experts" in op.attrs
        for w in op.weights:
            if w.role == "param" and not w.frozen:
                if w.packed:
                    self.slices.setdefault(w.packed, {})[w.name] = w
                self.params.setdefault(w.packed or w.name, (w, op.dtype))
                if expert:
                    self.experts.add(w.name)
                if op.attrs.get("table_shard"):
                    self.table_shards.add(w.name)
                # a norm's weight and bias; of a row-split linear its bias alone
                if op.attrs.get(SEQUENCE_PARALLEL) and (op.kind is OpKind.NORM or _is_bias(w)):
                    self.sequence_parallel.setdefault(w.packed or w.name, int(op.attrs[SEQUENCE_PARALLEL]))

    # ---- plumbing ---------------------------------------------------------------------------------------
    def _emit(self, name: str, kind: OpKind, inputs: Sequence[str], out_shape: Sequence[int], attrs: dict[str, object],
              *, dtype: str, phase: str = "backward", weights: Iterable[Weight] = (), gemm: Gemm | None = None,
              macs: int | None = None, flops: int = 0, vector_elems: int = 0) -> str:
        check_op_count(len(self.ops), self.fwd.name, name, "training step")
        if phase == "backward" and self.alias:
            inputs = [self.alias.get(x, x) for x in inputs]
        op = Op(name=name, kind=kind, inputs=tuple(inputs), in_shapes=tuple(self.shapes[x] for x in inputs),
                out_shape=tuple(int(d) for d in out_shape), dtype=dtype, weights=tuple(weights),
                macs=(gemm.macs if gemm else 0) if macs is None else macs, flops=flops, gemm=gemm,
                vector_elems=vector_elems, attrs={**attrs, "phase": phase})
        self.ops.append(op)
        self.shapes[name] = op.out_shape
        return name

    def _bwd(self, fop: Op, suffix: str, kind: OpKind, inputs: Sequence[str], out_shape: Sequence[int], *,
             fn: str, grad: str, attrs: dict[str, object] | None = None, weights: Iterable[Weight] = (),
             gemm: Gemm | None = None, macs: int | None = None, flops: int = 0, vector_elems: int = 0) -> str:
        """A backward op ``{fop}.{suffix}`` of forward op ``fop``."""
        return self._emit(f"{fop.name}.{suffix}", kind, inputs, out_shape,
                          {**(attrs or {}), "fn": fn, "forward": fop.name, "grad": grad}, dtype=fop.dtype,
                          weights=weights, gemm=gemm, macs=macs, flops=flops, vector_elems=vector_elems)

    def _to(self, target: str, name: str, piece: tuple[int, int, int] | None = None) -> None:
        """Record that tensor ``name`` holds a gradient contribution to forward tensor ``target``."""
        self.grads.setdefault(target, []).append(_Grad(name, piece))

    def _wgrad(self, w: Weight, name: str) -> None:
        if w.role == "param" and not w.frozen:
            self.wgrads.setdefault(w.packed or w.name, []).append(name)
            if w.packed:
                self.slice_of[name] = list(self.slices[w.packed]).index(w.name)

    @staticmethod
    def _input_suffix(fop: Op, i: int) -> str:
        return "grad_input" if len(fop.inputs) == 1 else f"grad_input{i}"

    @staticmethod
    def _copied(fop: Op, *drop: str) -> dict[str, object]:
        """The forward op's attrs worth keeping on its backward ops."""
        skip = {"fn", "phase", "follows", "bias", "transpose_b", *drop}
        return {k: v for k, v in fop.attrs.items() if k not in skip}

    # ---- the pass ---------------------------------------------------------------------------------------
    def run(self) -> Graph:
        fwd = self.fwd
        extras = {op.name: x for op in fwd.ops if (x := self._pool_indices(op)) is not None}
        for key, ops in self.layers.items():  # a recomputed op's saved extras are recomputed with it
            self.layers[key] = [x for op in ops for x in (op, extras.get(op.name)) if x is not None]
        for op in fwd.ops:
            attrs = {k: v for k, v in op.attrs.items() if k != "follows"}
            if op.kind is OpKind.NORM and op.fn == BATCHNORM and op.inputs and not op.attrs.get(FROZEN):
                _verify_batch_size(fwd.name, op)
                # the batch's statistics first
                stats = self._emit(f"{op.name}.{BN_STATS}", OpKind.NORM, op.inputs[:1], (2, op.in_shapes[0][1]),
                                   {**self._copied(op), "fn": f"{BATCHNORM}_{BN_STATS}", "out_dtype": STATE_DTYPE},
                                   dtype=op.dtype, phase="forward", flops=BN_STATS_FLOPS * op.vector_elems,
                                   vector_elems=op.vector_elems)
                op = replace(op, inputs=(*op.inputs, stats), in_shapes=(*op.in_shapes, self.shapes[stats]))
            self.ops.append(replace(op, attrs={**attrs, "phase": "forward"}))
            self.shapes[op.name] = op.out_shape
            if (extra := extras.get(op.name)) is not None:
                self.ops.append(extra)
                self.shapes[extra.name] = extra.out_shape
                self.saved[extra.name] = extra
        self._loss()
        for op in reversed(fwd.ops):
            contribs = self.grads.pop(op.name, None)
            if contribs:
                self._recompute(self.layer.get(op.name))
                self._backward(op, self._accumulate(op.name, op.dtype, contribs))
        for pname in list(self.steps):  # a recurrent weight whose first step got no gradient (none today)
            self._steps_wgrad(pname)
        for x in fwd.inputs:  # the input gradients sent back to a previous pipeline stage
            contribs = self.grads.pop(x, None)
            if contribs:
                self._accumulate(x, fwd.ops[0].dtype if fwd.ops else "fp16", contribs)
        grad_of = self._weight_accumulation()
        self._gradient_dtypes(grad_of)
        self._sequence_parallel_grads(grad_of)
        state_bytes = self._optimizer(grad_of)
        phys = self._physical()
        stashed = self._stashed(phys)
        elem = fwd.ops[0].elem_bytes if fwd.ops else 1
        # the logits the loss's gradient reads are kept in fp32 (LOSS_DTYPE), whatever the model's dtype: their cast
        # copies (loss.cast, stashed as the forward tensors they are)
        stashed |= set(self.casts).intersection(self.loss_read)
        made = {**self.casts, **self.saved}  # tensors the training forward adds: loss.cast, max pools' indices
        stash_bytes = sum(made[t].out_bytes if t in made else fwd[t].out_bytes if t in fwd
                          else _elems(fwd.inputs[t]) * elem for t in stashed)
        meta = {**fwd.meta, "mode": "training", "optimizer": self.optimizer, "recompute": self.recompute,
                "gradient_bytes": sum(self._grad_bytes(pname) for pname in self.params),
                "optimizer_state_bytes": state_bytes, "stashed_activation_bytes": stash_bytes,
                "stashed": sorted(stashed)}
        return Graph(fwd.name, self.ops, {**fwd.inputs, **self.received}, meta=meta)

    def _recompute(self, layer: str | None) -> None:
        """Before the first backward op of ``layer``: re-run its recomputed forward ops (once), as copies
        ``{op}.recompute`` in forward order reading the layer's checkpointed input; backward ops then read them."""
        for fop in self.layers.pop(layer, ()):
            attrs = {k: v for k, v in fop.attrs.items() if k not in ("follows", "phase")}
            if fop.in_kernel_of is not None:  # (a pool's recomputed indices: in the recomputed pool's kernel)
                attrs["in_kernel_of"] = self.alias.get(fop.in_kernel_of, fop.in_kernel_of)
            self.alias[fop.name] = self._emit(
                f"{fop.name}.recompute", fop.kind, fop.inputs, fop.out_shape,
                {**attrs, "recompute": True, "forward": fop.name}, dtype=fop.dtype, weights=fop.weights,
                gemm=fop.gemm, macs=fop.macs, flops=fop.flops, vector_elems=fop.vector_elems)

    def _loss(self) -> None:
        """The loss (a cross-entropy, LOSS_FLOPS per element) over the model's outputs and its gradient into each:
        the ops the graph's meta ``loss_outputs`` names where it names any (an imported ONNX model's declared float
        outputs, so an unused LSTM Y_h or a TopK's int64 indices get none), else every op no op reads. A pipeline
        stage before the last (meta ``grad_outputs``: the ops whose output the next stage reads) has no loss: each
        such output's gradient is a graph input ``{op}.output_grad`` of the output's shape, received from the next
        stage (Megatron's output_tensor_grad), which the backward reads and the stash does not keep."""
        sent = [n for n in dict.fromkeys(self.fwd.meta.get("grad_outputs") or ()) if n in self.fwd]
        if sent:
            for o in sent:
                if self.requires[o]:
                    name = f"{o}.output_grad"
                    self.shapes[name] = self.received[name] = self.fwd[o].out_shape
                    self._to(o, name)
            return
        declared = [n for n in dict.fromkeys(self.fwd.meta.get("loss_outputs") or ()) if n in self.fwd]
        outputs = [self.fwd[n] for n in declared] or [
            op for op in self.fwd.ops if op.name not in self.readers and op.kind is not OpKind.KV_APPEND]
        if not outputs:
            raise WorkloadError(f"{self.fwd.name}: training needs an output to put a loss on (every op's output "
                                f"is read by another op or appended to a KV cache)")
        elems = sum(_elems(o.out_shape) for o in outputs)
        dtype = outputs[-1].dtype
        if all(self._log_probs(o) for o in outputs):  # the model's own log_softmax: F.nll_loss, no second softmax
            rows = sum(_rows(o.out_shape) for o in outputs)
            # it gathers one log-probability a row (the target's) and reads the rows' int64 targets
            self._emit("loss", OpKind.SOFTMAX, [o.name for o in outputs], (1,),
                       {"fn": "nll_loss", "gather_rows": rows, "target_bytes": rows * INDEX_BYTES}, dtype=dtype,
                       phase="forward", flops=NLL_FLOPS * rows, vector_elems=rows)
            for i, o in enumerate(outputs):
                if self.requires[o.name]:
                    name = "loss.grad" if len(outputs) == 1 else f"loss.grad{i}"
                    self._emit(name, OpKind.SOFTMAX, ["loss"], o.out_shape,
                               {"fn": "nll_loss_grad", "forward": "loss", "grad": "input"}, dtype=o.dtype,
                               flops=NLL_FLOPS * _rows(o.out_shape), vector_elems=_rows(o.out_shape))
                    self._to(o.name, name)
            return
        # the cross-entropy's logits in fp32 (LOSS_DTYPE): a narrower output is cast first, ``loss.cast`` (Megatron's
        # and Hugging Face's ``.float()``: reads it, writes the fp32 copy), which the loss and its gradient read
        wide = {o.name: self._loss_logits(o, i if len(outputs) > 1 else None) for i, o in enumerate(outputs)}
        reduced = [self._vocab_parallel(o, wide[o.name], i if len(outputs) > 1 else None)
                   for i, o in enumerate(outputs)]
        self._emit("loss", OpKind.SOFTMAX, [*wide.values(), *(r for r in reduced if r)], (1,), {"fn": "cross_entropy"},
                   dtype=self.loss_dtypes[wide[outputs[-1].name]], phase="forward", flops=LOSS_FLOPS * elems,
                   vector_elems=elems)
        for i, o in enumerate(outputs):
            if not self.requires[o.name]:
                continue
            name = "loss.grad" if len(outputs) == 1 else f"loss.grad{i}"
            n = _elems(o.out_shape)
            logits = self.loss_dtypes[wide[o.name]]
            # dX = softmax − one-hot from the fp32 logits, written in the output's own dtype (the cast's backward)
            out = {"out_dtype": o.out_dtype} if logits != o.out_dtype else {}
            self._emit(name, OpKind.SOFTMAX, [wide[o.name]], o.out_shape,
                       {"fn": "cross_entropy_grad", "forward": "loss", "grad": "input", **out}, dtype=logits,
                       flops=LOSS_FLOPS * n, vector_elems=n)
            self.loss_read.append(wide[o.name])
            self._to(o.name, name)

    def _vocab_parallel(self, o: Op, logits: str, i: int | None) -> str | None:
        """Megatron's vocabulary-parallel cross entropy (megatron/core/tensor_parallel/cross_entropy.py
        ``_VocabParallelCrossEntropy.forward``) where output ``o`` holds this chip's vocabulary rows of the logits
        (its LM head, or the op the element-wise chain after it starts from, has attrs :data:`~.tlayers.
        VOCAB_PARALLEL`, the tensor-parallel group's size t > 1): three all-reduces over the group a micro-batch,
        each of the logits' rows (tokens) in fp32: ``logits_max`` (ReduceOp.MAX, the row's maximum before the
        exponentials), ``predicted_logits`` (SUM: the target's logit, which one chip holds) and
        ``sum_exp_logits`` (SUM: the row's softmax denominator). COLLECTIVE fn "all_reduce" ``loss.{part}_all_reduce``
        (``loss.{part}_all_reduce{i}`` for output i of several), phase "forward", each reading the one before (the
        first the fp32 ``logits``), out_shape the rows (fp32), attrs ``group`` t and ``reduce_op``; the loss reads
        the last. The last all-reduced tensor's name, or None where the vocabulary is whole (Megatron-Core's fused
        cross entropy, ``cross_entropy_loss_fusion``, all-reduces the two sums as one; not modelled)."""
        op, group = o, 0
        while not (group := int(op.attrs.get(VOCAB_PARALLEL, 0))):  # type: ignore[call-overload]
            src = [x for x in op.inputs if x in self.fwd]
            if len(src) != 1 or not (op.kind.is_view or op.kind is OpKind.ELEMENTWISE):
                return None
            op = self.fwd[src[0]]
        if group <= 1:
            return None
        rows = o.out_shape[:-1] or (1,)
        last = logits
        for part, reduce_op in (("logits_max", "max"), ("predicted_logits", "sum"), ("sum_exp_logits", "sum")):
            last = self._emit(f"loss.{part}_all_reduce{'' if i is None else i}", OpKind.COLLECTIVE, [last], rows,
                              {"fn": "all_reduce", "group": group, "reduce_op": reduce_op}, dtype=LOSS_DTYPE,
                              phase="forward")
        return last

    def _loss_logits(self, o: Op, i: int | None) -> str:
        """The tensor the cross-entropy reads for output ``o`` (``i``: its index where there are several): ``o``
        where it is at least :data:`LOSS_DTYPE` wide, else its fp32 copy, a forward ELEMENTWISE fn "cast"
        ``loss.cast`` (``loss.cast{i}``) reading ``o`` (0 flops, a copy as ONNX's Cast)."""
        if dtype_bytes(o.out_dtype) >= dtype_bytes(LOSS_DTYPE):
            self.loss_dtypes[o.name] = o.out_dtype
            return o.name
        name = "loss.cast" if i is None else f"loss.cast{i}"
        self._emit(name, OpKind.ELEMENTWISE, [o.name], o.out_shape, {"fn": "cast", "out_dtype": LOSS_DTYPE},
                   dtype=o.out_dtype, phase="forward", vector_elems=_elems(o.out_shape))
        self.loss_dtypes[name] = LOSS_DTYPE
        self.casts[name] = self.ops[-1]
        return name

    def _log_probs(self, op: Op) -> bool:
        """Whether ``op``'s output is a log_softmax over its last dim, directly or through views of one input (the
        GraphSAGE example's ``out[:batch.batch_size]`` of ``x.log_softmax(dim=-1)``)."""
        while op.kind.is_view and len(op.inputs) == 1 and op.inputs[0] in self.fwd:
            op = self.fwd[op.inputs[0]]
        return op.kind is OpKind.SOFTMAX and op.fn == "log_softmax" and op.reduced_dim in (-1, len(op.out_shape) - 1)

    def _accumulate(self, target: str, dtype: str, contribs: list[_Grad]) -> str:
        """The name of the whole gradient of forward tensor ``target`` (see the module docstring)."""
        if len(contribs) == 1:
            return contribs[0].name
        name = f"{target}.grad"
        inputs = [c.name for c in contribs]
        pieces = [c.piece for c in contribs if c.piece is not None]
        if len(pieces) == len(contribs) and len({p[0] for p in pieces}) == 1:
            spans = sorted((p[1], p[2], c.name) for p, c in zip(pieces, contribs, strict=True))
            if all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)):  # disjoint: joined in order
                return self._emit(name, OpKind.CONCAT, [s[2] for s in spans], self.shapes[target],
                                  {"fn": "grad_concat", "accumulate": target, "dim": pieces[0][0]}, dtype=dtype)
        n = _elems(self.shapes[target])
        if target in self.eager_read and len(inputs) > 2:  # autograd's InputBuffer: one binary add an arrival
            total = inputs[0]
            for i, x in enumerate(inputs[1:], 1):
                added = sum(_elems(self.shapes[t]) for t in (total, x)) - n
                total = self._emit(name if i == len(inputs) - 1 else f"{name}{i}", OpKind.ELEMENTWISE, [total, x],
                                   self.shapes[target], {"fn": "add", "accumulate": target}, dtype=dtype,
                                   flops=added, vector_elems=added)
            return total
        extra = sum(_elems(self.shapes[x]) for x in inputs) - n
        return self._emit(name, OpKind.ELEMENTWISE, inputs, self.shapes[target], {"fn": "add", "accumulate": target},
                          dtype=dtype, flops=extra, vector_elems=extra)

    def _weight_accumulation(self) -> dict[str, str | None]:
        """Sum the gradients of parameters used by several ops; the gradient tensor of every parameter."""
        grad_of: dict[str, str | None] = {}
        for pname, (w, dtype) in self.params.items():
            contribs = self.wgrads.get(pname, [])
            if pname in self.slices and len(contribs) > 1:  # disjoint row slices: torch's chunk backward, a cat
                grad_of[pname] = self._emit(f"{pname}.grad", OpKind.CONCAT,
                                            sorted(contribs, key=self.slice_of.__getitem__), w.shape,
                                            {"fn": "grad_concat", "accumulate": pname, "dim": 0}, dtype=dtype)
            elif len(contribs) > 1:
                sizes = [_elems(self.shapes[c]) for c in contribs]
                extra = sum(sizes) - max(sizes)
                grad_of[pname] = self._emit(f"{pname}.grad", OpKind.ELEMENTWISE, contribs, w.shape,
                                            {"fn": "add", "accumulate": pname}, dtype=dtype, flops=extra,
                                            vector_elems=extra)
            else:
                grad_of[pname] = contribs[0] if contribs else None
        return grad_of

    def _gradient_dtypes(self, grad_of: dict[str, str | None]) -> None:
        """Write every parameter's gradient in its gradient dtype (:func:`grad_dtype`, the rule ``gradient_bytes``
        counts by): the ops making its contributions (``grad_weight``, ``grad_bias``, a table's ``embedding_grad``)
        and the sum or concat of several get ``out_dtype`` = it where it differs from theirs (a bf16 model's fp32
        gradient: Megatron's ``wgrad_gemm_accum_fp32`` writes ``main_grad`` in fp32). A sparse table's gradient
        keeps the table's dtype."""
        out: dict[str, str] = {}
        for pname, (w, dtype) in self.params.items():
            grad = grad_of.get(pname)
            if grad is None or self._sparse_rows(pname) is not None:
                continue
            gdt = grad_dtype(w.dtype or dtype)
            for name in (*self.wgrads.get(pname, ()), grad):
                out[name] = gdt
        self.ops = [replace(op, attrs={**op.attrs, "out_dtype": out[op.name]})
                    if op.name in out and op.out_dtype != out[op.name] else op for op in self.ops]

    def _sequence_parallel_grads(self, grad_of: dict[str, str | None]) -> None:
        """The gradients of the parameters whose ops carry :data:`~.tlayers.SEQUENCE_PARALLEL`: under sequence
        parallelism those Megatron marks ``sequence_parallel`` (the norms' weights and biases, the row-split
        linears' biases), each covering this chip's 1/t of the tokens; under tensor parallelism with or without it,
        the QK-norms' replicated weights (Megatron's ``q_layernorm`` / ``k_layernorm``), each covering this chip's
        heads (probe p247 #3). Megatron-LM's finalize_model_grads (megatron/core/distributed/finalize_model_grads.py
        ``_allreduce_layernorm_grads``: ``if tp_world_size > 1 and (config.sequence_parallel or
        config.qk_layernorm)``, the parameters ``getattr(param, 'sequence_parallel', False) or 'q_layernorm' in name
        or 'k_layernorm' in name``) flattens them into one buffer and all-reduces it over the group once a step,
        after the backward pass and before the optimizer. One COLLECTIVE fn "all_reduce"
        ``sequence_parallel_grads_all_reduce``, phase "optimizer" (once a step, whatever the micro-batches), reading
        those gradients, out_shape (their elements,) in their gradient dtype (fp32 for a bf16 model's: Megatron's
        main_grad), attrs ``group`` t. Nothing without such parameters."""
        names = [p for p in self.sequence_parallel if grad_of.get(p) is not None]
        if not names:
            return
        w, dtype = self.params[names[0]]
        self._emit("sequence_parallel_grads_all_reduce", OpKind.COLLECTIVE, [grad_of[p] for p in names],  # type: ignore[misc]
                   (sum(self.params[p][0].numel for p in names),),
                   {"fn": "all_reduce", "group": max(self.sequence_parallel[p] for p in names),
                    "params": len(names)}, dtype=grad_dtype(w.dtype or dtype), phase="optimizer")

    def _sparse_rows(self, pname: str) -> tuple[int, str, float, int, str] | None:
        """(gradient rows, access, Zipf exponent, look-ups, the pattern counting its distinct rows) of a table whose only gradient is its look-up's sparse one (a
        table also read by another op gets a dense sum, ``W.grad``); None for every other parameter."""
        return self.sparse.get(pname) if len(self.wgrads.get(pname, ())) == 1 else None

    def _grad_bytes(self, pname: str) -> int:
        """Bytes of a parameter's gradient: the touched rows of a sparse table's, else the parameter's."""
        w, dtype = self.params[pname]
        sparse = self._sparse_rows(pname)
        if sparse is not None:  # a sparse table's gradient rows, in the table's dtype (torch's sparse COO gradient)
            return w.nbytes(dtype) // w.shape[0] * sparse[0]
        return Weight(w.name, w.shape).nbytes(grad_dtype(w.dtype or dtype))  # (its own dtype: GRAD_DTYPE)

    def _optimizer(self, grad_of: dict[str, str | None]) -> int:
        """One step per parameter; returns the bytes of all optimizer state."""
        per_elem = OPTIMIZER_ELEMS[self.optimizer]
        total = 0
        for pname, (w, dtype) in self.params.items():
            names = OPTIMIZER_STATES[self.optimizer]
            if dtype_bytes(w.dtype or dtype) < dtype_bytes(STATE_DTYPE):
                names = (*names, MASTER)  # mixed precision: the step updates an fp32 copy of a narrower parameter
            states = tuple(Weight(f"{pname}.{s}", w.shape, role="state", dtype=STATE_DTYPE) for s in names)
            state_bytes = sum(s.nbytes(dtype) for s in states)
            total += state_bytes
            grad = grad_of[pname]
            attrs: dict[str, object] = {"fn": self.optimizer, "param": pname, "state_bytes": state_bytes,
                                        **({"expert": True} if pname in self.experts else {}),
                                        **({"table_shard": True} if pname in self.table_shards else {})}
            shape, numel = w.shape, w.numel
            sparse = self._sparse_rows(pname)
            if sparse is not None:  # a lazy step on the distinct touched rows (the state is still the whole table's)
                grad_rows, access, alpha, lookups, counted = sparse
                rows = _step_rows(lookups, w.shape[0], counted, alpha, grad_rows)
                shape, numel = (rows, *w.shape[1:]), w.numel // w.shape[0] * rows
                attrs.update(sparse_rows=rows, grad_rows=grad_rows, lookups=lookups, distinct_access=counted,
                             access=access, zipf_alpha=alpha)
            # the step runs in its gradient's dtype (it reads, and the data-parallel reduction sends, the gradient at
            # that width: GRAD_DTYPE), its parameter pinned to the parameter's own dtype
            gdt = dtype if sparse is not None else grad_dtype(w.dtype or dtype)  # (a sparse table's: its own)
            param = w if gdt == dtype or w.dtype else replace(w, dtype=dtype)
            self._emit(f"{pname}.step", OpKind.OPTIMIZER, [grad] if grad else [], shape, attrs, dtype=gdt,
                       phase="optimizer", weights=(param, *states), flops=per_elem * numel,
                       vector_elems=per_elem * numel)
        return total

    def _physical(self) -> dict[str, frozenset[str]]:
        """Each forward tensor → the physical tensors (op outputs, graph inputs) it is, or a view of."""
        fwd = self.fwd
        phys: dict[str, frozenset[str]] = {x: frozenset((x,)) for x in fwd.inputs}
        for op in fwd.ops:
            phys[op.name] = (frozenset().union(*(phys[x] for x in op.inputs)) if op.kind.is_view
                             else frozenset((op.name,)))
        phys.update((name, frozenset((name,))) for name in self.saved)
        return phys

    def _stashed(self, phys: dict[str, frozenset[str]]) -> set[str]:
        """Physical forward tensors (op outputs, graph inputs) that backward ops read, views resolved."""
        out: set[str] = set()
        for op in self.ops:
            if op.attrs.get("phase") == "backward":
                for x in (*op.inputs, *op.attrs.get("saved", ())):  # type: ignore[misc]
                    if x in phys:
                        out |= phys[x]
        return out

    # ---- backward of one forward op ---------------------------------------------------------------------
    def _backward(self, op: Op, dy: str) -> None:
        kind = op.kind
        if kind is OpKind.ATTENTION:
            self._attention(op, dy)
        elif kind.is_matmul:
            self._matmul(op, dy)
        elif kind is OpKind.ACTIVATION:
            self._activation(op, dy)
        elif kind is OpKind.NORM:
            self._norm(op, dy)
            if op.fn == BATCHNORM and self._main_weights(op):  # its bias's gradient came with the scale's
                return
        elif kind is OpKind.SOFTMAX:
            self._softmax(op, dy)
        elif kind is OpKind.POOL:
            self._pool(op, dy)
        elif kind is OpKind.ELEMENTWISE:
            self._elementwise(op, dy)
        elif kind is OpKind.EMBEDDING:
            self._embedding(op, dy)
        elif kind is OpKind.SPMM:
            self._spmm(op, dy)
        elif kind.is_view:
            self._view(op, dy)
        elif kind is OpKind.KV_APPEND:
            return
        elif kind is OpKind.COLLECTIVE:
            self._collective(op, dy)
            return
        else:
            raise WorkloadError(f"{self.fwd.name}: training: no backward for op {op.name!r} of kind {kind.value}")
        self._biases(op, dy)

    def _biases(self, op: Op, dy: str) -> None:
        if op.kind.is_view or self._stepped(op):  # a recurrent step's: with its weight's, over every step
            return
        n = _elems(self.shapes[dy])
        biases = [w for w in op.weights if w.role == "param" and _is_bias(w) and not w.frozen]
        if biases:  # a grouped GEMM's experts' biases: one column sum per expert's rows, in one op
            shape = biases[0].shape if len(biases) == 1 else (sum(w.numel for w in biases),)
            name = self._bwd(op, "grad_bias", OpKind.ELEMENTWISE, [dy], shape, fn="bias_grad", grad="bias",
                             flops=n, vector_elems=n)
            for w in biases:
                self._wgrad(w, name)

    def _main_weights(self, op: Op) -> list[Weight]:
        return [w for w in op.weights if w.role == "param" and not _is_bias(w)]

    def _matmul(self, op: Op, dy: str) -> None:
        g = op.gemm
        assert g is not None
        attrs = self._copied(op)
        weights = self._main_weights(op)
        if op.weights:  # activation × parameter: LINEAR, CONV, CONV_TRANSPOSE, MATMUL with a weight
            if len(op.inputs) != 1:
                raise WorkloadError(f"{self.fwd.name}: training: {op.kind.value} {op.name!r} has weights and "
                                    f"{len(op.inputs)} activation inputs; expected one")
            x = op.inputs[0]
            if self.requires[x]:
                dx, dgrad = self._dx_gemm(op)
                extra = {"dgrad": dgrad} if dgrad else {}
                name = self._bwd(op, "grad_input", op.kind, [dy], op.in_shapes[0], fn=f"{op.fn}_grad", grad="input",
                                 attrs={**attrs, **extra}, weights=weights[:1], gemm=dx, flops=2 * dx.macs)
                self._to(x, name)
            if self._stepped(op):  # a recurrent step: its weight gradient comes once, over every step
                self.steps.setdefault(weights[0].name, []).append((op, dy))
                if self.steps_first[weights[0].name] == op.name:
                    self._steps_wgrad(weights[0].name)
            elif trainable := _trainable(weights):  # (a frozen weight: none, as autograd makes none)
                dw = Gemm(g.n, g.k, g.m, g.count) if op.kind is OpKind.CONV else Gemm(g.k, g.n, g.m, g.count)
                name = self._bwd(op, "grad_weight", op.kind, [x, dy], trainable[0].shape, fn=f"{op.fn}_grad",
                                 grad="weight", attrs=attrs, gemm=dw, flops=2 * dw.macs)
                for w in trainable:  # a further non-bias weight (none today) is reduced by the same op
                    self._wgrad(w, name)
            return
        if op.kind is not OpKind.MATMUL or len(op.inputs) != 2:
            raise WorkloadError(f"{self.fwd.name}: training: {op.kind.value} {op.name!r} without weights needs two "
                                f"activation inputs (got {len(op.inputs)})")
        a, b = op.inputs
        if self.requires[a]:
            da = Gemm(g.m, g.k, g.n, g.count)
            name = self._bwd(op, "grad_input0", op.kind, [dy, b], op.in_shapes[0], fn="matmul_grad", grad="input",
                             attrs=attrs, gemm=da, flops=2 * da.macs)
            self._to(a, name)
        if self.requires[b]:
            db = Gemm(g.k, g.n, g.m, g.count)
            name = self._bwd(op, "grad_input1", op.kind, [a, dy], op.in_shapes[1], fn="matmul_grad", grad="input",
                             attrs=attrs, gemm=db, flops=2 * db.macs)
            self._to(b, name)

    def _stepped(self, op: Op) -> bool:
        """Whether ``op`` is a recurrent layer's per-step GEMM whose weight gradient :meth:`_steps_wgrad` makes."""
        weights = self._main_weights(op)
        return bool(op.attrs.get("recurrent") and weights and weights[0].name in self.steps_first)

    def _steps_wgrad(self, pname: str) -> None:
        """The weight (and bias) gradient of recurrent weight ``pname`` over all its steps at once, after the
        backward recurrence: cuDNN's backward-weights pass (cudnnRNNBackwardWeights; torch.nn.LSTM's backward),
        dW = Σ_t dYₜᵀ·Xₜ as ONE GEMM over the steps' inputs and output gradients stacked along the rows (CONCAT
        views ``{base}.steps_input`` fn "stack" and ``{base}.steps_grad`` fn "grad_stack", no work), ``Gemm(k, n,
        Σ m)``: the per-step GEMMs' MACs in one op writing the gradient once. ``{base}`` is the first step's name
        without its ``.t{i}`` segment (``rnn.l0.hh``)."""
        entries = self.steps.pop(pname)[::-1]  # forward order
        first = entries[0][0]
        base = re.sub(r"\.t\d+(?=\.)", "", first.name, count=1)
        if base == first.name:
            base = f"{first.name}.steps"
        xs, dys = [op.inputs[0] for op, _ in entries], [dy for _, dy in entries]
        rows = sum(op.gemm.m for op, _ in entries if op.gemm is not None)
        g = first.gemm
        assert g is not None
        k, n = _elems(self.shapes[xs[0]]) // g.m, _elems(self.shapes[dys[0]]) // g.m
        attrs = {**self._copied(first, "recurrent"), "forward": first.name, "steps": len(entries)}
        x = self._emit(f"{base}.steps_input", OpKind.CONCAT, xs, (rows, k),
                       {"fn": "stack", "dim": 0, "forward": first.name}, dtype=first.dtype)
        dy = self._emit(f"{base}.steps_grad", OpKind.CONCAT, dys, (rows, n),
                        {"fn": "grad_stack", "dim": 0, "forward": first.name}, dtype=first.dtype)
        weights = self._main_weights(first)
        dw = Gemm(g.k, g.n, rows, g.count)
        name = self._emit(f"{base}.grad_weight", first.kind, [x, dy], weights[0].shape,
                          {**attrs, "fn": f"{first.fn}_grad", "grad": "weight"}, dtype=first.dtype, gemm=dw,
                          flops=2 * dw.macs)
        for w in weights:
            self._wgrad(w, name)
        biases = [w for w in first.weights if w.role == "param" and _is_bias(w)]
        if biases:
            elems = rows * n
            name = self._emit(f"{base}.grad_bias", OpKind.ELEMENTWISE, [dy], biases[0].shape,
                              {**attrs, "fn": "bias_grad", "grad": "bias"}, dtype=first.dtype, flops=elems,
                              vector_elems=elems)
            for w in biases:
                self._wgrad(w, name)

    @staticmethod
    def _dx_gemm(op: Op) -> tuple[Gemm, str | None]:
        """The input-gradient GEMM of an activation × weight op (see the module docstring) and, for a CONV, its
        form."""
        g = op.gemm
        assert g is not None
        transposed = Gemm(g.m, g.k, g.n, g.count)
        if op.kind is not OpKind.CONV:
            return transposed, None
        in_shape = op.in_shapes[0]
        batch, in_pixels = in_shape[0], _elems(in_shape[2:])
        kvol = _elems(tuple(op.attrs.get("kernel", (1,))))
        if batch * in_pixels == g.m and g.k % kvol == 0:
            return Gemm(batch * in_pixels, g.k // kvol, kvol * g.n, g.count), "implicit"
        return transposed, "col2im"

    def _attention(self, op: Op, dy: str) -> None:
        needed = [i for i, x in enumerate(op.inputs) if self.requires[x]]
        if not needed:
            return
        qk = op.gemm
        assert qk is not None
        pv = Gemm(*op.attrs["pv_gemm"])
        gemm = Gemm(qk.m, qk.n, qk.k, 3 * qk.count)
        pv2 = (pv.m, pv.n, pv.k, 2 * pv.count)
        five = [(qk.m, qk.n, qk.k, qk.count),  # S = QKᵀ recomputed
                (pv.k, pv.n, pv.m, pv.count),  # dV = Pᵀ·dO
                (pv.m, pv.k, pv.n, pv.count),  # dP = dO·Vᵀ
                (qk.m, qk.k, qk.n, qk.count),  # dQ = dS·K
                (qk.n, qk.k, qk.m, qk.count)]  # dK = dSᵀ·Q
        macs = gemm.macs + Gemm(*pv2).macs
        vec_flops = op.flops - 2 * op.macs
        packed = sum(_elems(op.in_shapes[i]) for i in needed)
        q, k, v = op.inputs[:3]
        name = self._bwd(op, "grad_input", OpKind.ATTENTION, [dy, q, k, v, op.name], (packed,), fn="attention_grad",
                         grad="input", attrs={**self._copied(op, "pv_gemm"), "pv_gemm": pv2, "bwd_gemms": five,
                                              "recompute": True},
                         gemm=gemm, macs=macs, flops=2 * macs + 2 * vec_flops, vector_elems=2 * op.vector_elems)
        offset = 0
        for i in needed:
            view = self._bwd(op, f"grad_input{i}", OpKind.RESHAPE, [name], op.in_shapes[i],
                             fn="attention_grad_split", grad="input", attrs={"offset": offset})
            offset += _elems(op.in_shapes[i])
            self._to(op.inputs[i], view)

    def _activation(self, op: Op, dy: str) -> None:
        x = op.inputs[0]
        if not self.requires[x]:
            return
        if op.fn == "pow":  # pow_backward: grad * (n · x^(n − 1)), three eager kernels (the module docstring)
            self._pow(op, dy)
            return
        factor, reads = ACT_GRAD.get(op.fn, ACT_GRAD_DEFAULT)
        name = self._bwd(op, "grad_input", OpKind.ACTIVATION, [dy, op.name if reads == "output" else x],
                         op.in_shapes[0], fn=f"{op.fn}_grad", grad="input", attrs=self._copied(op),
                         flops=factor * op.flops, vector_elems=factor * op.vector_elems)
        self._to(x, name)

    def _pow(self, op: Op, dy: str) -> None:
        """``torch.pow(x, n)``'s backward as FunctionsManual.cpp's pow_backward runs it eagerly: x^(n − 1)
        (``X.grad_pow``, n − 2 multiplies an element, at least 1), times n (``X.grad_scale``), times dY
        (``X.grad_input``)."""
        x, shape = op.inputs[0], op.in_shapes[0]
        n, elems = int(op.attrs.get("exponent", 2)), _elems(shape)  # type: ignore[call-overload]
        attrs = self._copied(op, "exponent")
        lower = self._bwd(op, "grad_pow", OpKind.ACTIVATION, [x], shape, fn="pow", grad="input",
                          attrs={**attrs, "exponent": n - 1}, flops=max(n - 2, 1) * elems, vector_elems=elems)
        scaled = self._bwd(op, "grad_scale", OpKind.ELEMENTWISE, [lower], shape, fn="mul", grad="input",
                           attrs={**attrs, "scalar": n}, flops=elems, vector_elems=elems)
        name = self._bwd(op, "grad_input", OpKind.ELEMENTWISE, [dy, scaled], shape, fn="pow_grad", grad="input",
                         attrs=attrs, flops=elems, vector_elems=elems)
        self._to(x, name)

    def _norm(self, op: Op, dy: str) -> None:
        x = op.inputs[0]
        attrs = self._copied(op)
        if op.attrs.get(FROZEN):  # its scale a buffer (training.freeze), read all the same
            self._frozen_norm(op, dy, attrs, [w for w in op.weights if not _is_bias(w)])
            return
        scales = self._main_weights(op)
        if op.fn == BATCHNORM and scales:
            self._batchnorm(op, dy, attrs, scales)
            return
        if self.requires[x]:
            name = self._bwd(op, "grad_input", OpKind.NORM, [dy, x], op.in_shapes[0], fn=f"{op.fn}_grad",
                             grad="input", attrs=attrs, weights=scales, flops=NORM_GRAD_FACTOR * op.flops,
                             vector_elems=NORM_GRAD_FACTOR * op.vector_elems)
            self._to(x, name)
        if trainable := _trainable(scales):
            n = _elems(op.in_shapes[0])
            name = self._bwd(op, "grad_weight", OpKind.NORM, [x, dy], trainable[0].shape, fn=f"{op.fn}_grad_weight",
                             grad="weight", attrs=attrs, flops=NORM_WEIGHT_GRAD_FLOPS * n, vector_elems=n)
            for w in trainable:
                self._wgrad(w, name)

    def _frozen_norm(self, op: Op, dy: str, attrs: dict[str, object], scales: list[Weight]) -> None:
        """A frozen norm (attrs ``frozen``: DETR's FrozenBatchNorm2d, whose forward is ``x * scale + bias`` with
        scale and shift from buffers): dX = dY·scale, one multiply per element, reading (dY,) and the scale, and
        only where x needs a gradient; no parameter gradient, no batch statistics."""
        x = op.inputs[0]
        if self.requires[x]:
            n = _elems(op.in_shapes[0])
            name = self._bwd(op, "grad_input", OpKind.NORM, [dy], op.in_shapes[0], fn=f"{op.fn}_grad", grad="input",
                             attrs=attrs, weights=scales, flops=FROZEN_NORM_GRAD_FLOPS * n, vector_elems=n)
            self._to(x, name)

    def _batchnorm(self, op: Op, dy: str, attrs: dict[str, object], scales: list[Weight]) -> None:
        """A batch norm's backward in two passes (aten/src/ATen/native/cuda/Normalization.cuh's two-kernel path:
        batch_norm_backward_reduce, one pass over (x, dY) giving Σ dY and Σ dY·x̂, i.e. dβ and dγ; then
        batch_norm_backward_elemt, a second pass over (dY, x) with those sums writing dX): ``grad_weight`` holds dγ
        and dβ packed (2·C), the bias's gradient too (no ``grad_bias``), and ``grad_input`` reads it. On a GPU
        preset the fused one-kernel form replaces it where PyTorch takes that branch (:func:`eager_batchnorm`)."""
        x, n = op.inputs[0], _elems(op.in_shapes[0])
        biases = [w for w in op.weights if w.role == "param" and _is_bias(w)]
        c = sum(w.numel for w in (*scales, *biases))
        # two column sums per element, as the separate grad_weight (4 flops) and grad_bias (1) ops had
        reduce = self._bwd(op, "grad_weight", OpKind.NORM, [x, dy], (c,), fn=f"{op.fn}_grad_weight", grad="weight",
                           attrs={**attrs, "grad_bias": bool(biases)}, flops=(NORM_WEIGHT_GRAD_FLOPS + 1) * n,
                           vector_elems=2 * n)
        for w in (*scales, *biases):
            self._wgrad(w, reduce)
        if self.requires[x]:
            name = self._bwd(op, "grad_input", OpKind.NORM, [dy, x, reduce], op.in_shapes[0], fn=f"{op.fn}_grad",
                             grad="input", attrs=attrs, weights=scales, flops=NORM_GRAD_FACTOR * op.flops,
                             vector_elems=NORM_GRAD_FACTOR * op.vector_elems)
            self._to(x, name)

    def _softmax(self, op: Op, dy: str) -> None:
        x = op.inputs[0]
        if not self.requires[x]:
            return
        # (a softmax over segments, GAT's over each node's in-edges, reads its segment index as the forward did)
        segment = list(op.inputs[1:]) if op.attrs.get("segments") else []
        # the gradient in the input's dtype (op.dtype), whatever the forward wrote: an eager fp32 softmax (out_dtype,
        # tlayers.softmax_dtype) reads its fp32 output and dY and writes the scores' bf16 gradient, as torch's
        # _softmax_backward_data(grad, output, dim, input_dtype)
        name = self._bwd(op, "grad_input", OpKind.SOFTMAX, [dy, op.name, *segment], op.in_shapes[0], fn=f"{op.fn}_grad",
                         grad="input", attrs=self._copied(op, "out_dtype"), flops=SOFTMAX_GRAD_FACTOR * op.flops,
                         vector_elems=SOFTMAX_GRAD_FACTOR * op.vector_elems)
        self._to(x, name)

    def _pool(self, op: Op, dy: str) -> None:
        x = op.inputs[0]
        if not self.requires[x]:
            return
        n = _elems(op.in_shapes[0])
        attrs = self._copied(op)
        if self._saves_indices(op):  # the scatter reads the argmax; autograd keeps X too (its shape)
            reads, attrs = [dy, f"{op.name}.{POOL_INDICES}"], {**attrs, "saved": (self.alias.get(x, x),)}
        else:
            reads = [dy, x] if op.fn == "max" else [dy]
        name = self._bwd(op, "grad_input", OpKind.POOL, reads, op.in_shapes[0], fn=f"{op.fn}_grad", grad="input",
                         attrs=attrs, flops=n, vector_elems=n)
        self._to(x, name)

    def _saves_indices(self, op: Op) -> bool:
        """Whether forward op ``op`` is a windowed or adaptive max pool whose input needs a gradient, which saves
        its int64 argmax for the backward (the module docstring, POOL)."""
        return (op.kind is OpKind.POOL and op.fn == "max" and "over" not in op.attrs
                and ("kernel" in op.attrs or bool(op.attrs.get("adaptive")))
                and bool(op.inputs) and self.requires.get(op.inputs[0], False))

    def _pool_indices(self, op: Op) -> Op | None:
        """The training forward's ``{op}.indices`` for a max pool that saves them, else None: ELEMENTWISE fn
        "max_indices" run in the pool's kernel (attrs ``in_kernel_of``: no launch or dispatch of its own; it waits
        for the pool's tasks), reading nothing, 0 flops, its 8-byte ids declared as elements of the pool's dtype
        along the last dim (``gnn.index_elems``), so that the pool's kernel moves its input, its values and its
        indices once each, as PyTorch's MaxPoolForwardNCHW writes ``top_data`` and ``top_mask`` together."""
        if not self._saves_indices(op):
            return None
        shape = (*op.out_shape[:-1], index_elems(op.out_shape[-1], op.dtype))
        return Op(name=f"{op.name}.{POOL_INDICES}", kind=OpKind.ELEMENTWISE, inputs=(), in_shapes=(),
                  out_shape=shape, dtype=op.dtype,
                  attrs={"fn": "max_indices", "forward": op.name, "phase": "forward", "in_kernel_of": op.name})

    def _elementwise(self, op: Op, dy: str) -> None:
        out_n = _elems(op.out_shape)
        weights = self._main_weights(op)
        attrs = self._copied(op)
        for i, x in enumerate(op.inputs):
            if not self.requires[x]:
                continue
            shape = op.in_shapes[i]
            others = [y for j, y in enumerate(op.inputs) if j != i]
            reads, flops, elems, wts, macs = [dy, *others], op.flops, op.vector_elems, weights, op.macs
            if op.fn in ADDITIVE:
                if shape == op.out_shape and "scale" not in op.attrs:
                    self._to(x, dy)  # the gradient passes through unchanged
                    continue
                reads, flops, elems, wts, macs = [dy], out_n, out_n, [], 0
            elif op.fn == "mul":
                flops, elems, macs = (2 if shape != op.out_shape else 1) * out_n, out_n, 0
            elif op.fn == "rope":
                reads = [dy]
            elif op.fn == "repeat_kv":  # (torch's ExpandBackward: a sum over each group) one reduction kernel
                reads, flops, elems = [dy], out_n - _elems(shape), out_n
            extra = {}
            if op.fn == "cast" and x in self.fwd:  # (torch's ToCopyBackward) dY back in the input's dtype
                extra = {"out_dtype": self.fwd[x].out_dtype}
            name = self._bwd(op, self._input_suffix(op, i), OpKind.ELEMENTWISE, reads, shape, fn=f"{op.fn}_grad",
                             grad="input", attrs={**attrs, **extra}, weights=wts, macs=macs, flops=flops,
                             vector_elems=elems)
            self._to(x, name)
        for j, w in enumerate(weights):
            if w.frozen:
                continue
            suffix = "grad_weight" if j == 0 else f"grad_weight{j}"
            macs = 0
            if op.fn in ADDITIVE:
                inputs, flops, elems = [dy], out_n, out_n
            elif op.fn == "mul":
                inputs, flops, elems = [*op.inputs, dy], 2 * out_n, out_n
            else:  # the forward's multiply-adds again (att_dot: Σ_nodes dα·x), as a matmul's weight gradient
                inputs, flops, elems, macs = [*op.inputs, dy], op.flops, op.vector_elems, op.macs
            name = self._bwd(op, suffix, OpKind.ELEMENTWISE, inputs, w.shape, fn=f"{op.fn}_grad", grad="weight",
                             attrs=attrs, macs=macs, flops=flops, vector_elems=elems)
            self._wgrad(w, name)

    def _embedding(self, op: Op, dy: str) -> None:
        tables = _trainable(self._main_weights(op))
        if not tables:
            return
        width = op.out_shape[-1]
        total = sum(w.numel for w in tables)
        gathered = int(op.attrs.get("gather_rows", _elems(op.out_shape[:-1])))
        pooling = int(op.attrs.get("pooling", 1) or 1)
        if op.vector_elems and gathered < _elems(op.out_shape[:-1]) * pooling:
            # a row block's look-ups (a row-wise sharded table, RecsysBuilder.embedding_bag_block): its h hits
            # scattered, h·row, not the (batch, row) partial sums' elements (probe p112 #5: 2048·128, 8× chip 0's)
            elems = op.vector_elems
        else:
            elems = max(op.vector_elems, _elems(op.out_shape))
        sparse = bool(op.attrs.get("sparse_grad"))
        if len(tables) == 1 and (total % width or gathered * width >= total or not sparse):
            # a dense gradient (torch's default nn.Embedding / F.embedding, sparse=False) is the whole table: ATen's
            # embedding_dense_backward allocates at::zeros({num_weights, dim}) (the zero fill writes every row) and
            # scatter-adds the looked-up rows into it (probe p255 #1: lstm_lm's encoder wrote 35 rows, 91,070 B)
            shape: Shape = tables[0].shape
        elif total % width:
            shape = (total,)
        elif not sparse:  # several tables looked up as one (SAM's one-row point embeddings): each one's whole gradient
            shape = (total // width, width)
        else:
            shape = (min(gathered, total // width), width)
        name = self._bwd(op, "grad_weight", OpKind.EMBEDDING, [dy, *op.inputs], shape, fn=f"{op.fn}_grad",
                         grad="weight", attrs={**self._copied(op), "tables": tuple(w.name for w in tables)},
                         flops=elems, vector_elems=elems)
        if sparse and len(tables) == 1 and shape[0] < tables[0].shape[0]:
            access, alpha = op.access
            # a row block's look-ups (row-wise sharding) under Zipf: its ranks a .. b are flatter than a Zipf over the
            # block's own rows, so its distinct rows are counted as uniform ones, which bound any pattern's from above
            block = op.vector_elems and gathered < _elems(op.out_shape[:-1]) * pooling
            self.sparse[tables[0].name] = (shape[0], access, alpha, gathered,
                                           "uniform" if block and access == "zipf" else access)
        for w in tables:
            self._wgrad(w, name)

    def _spmm(self, op: Op, dy: str) -> None:
        # Aᵀ·dY (and a weight's gradient) gathers the same edges as the forward A·X: its multiply-adds, nnz x F; each
        # reads the graph's structure as the forward did (its last attrs["index"] inputs: PyG's backward of a
        # gather / scatter indexes by the same edge_index or adj_t)
        attrs = self._copied(op)
        nindex = op.attrs.get("index", 0)
        index = list(op.inputs[len(op.inputs) - nindex:]) if nindex else []
        for i, x in enumerate(op.inputs):
            if not self.requires[x]:
                continue
            if op.fn == "gather_add":
                reads = [dy, *index]
            elif i == 0:
                reads = [dy, *op.inputs[1:]]
            else:
                reads = [dy, op.inputs[0], *index]
            name = self._bwd(op, self._input_suffix(op, i), OpKind.SPMM, reads, op.in_shapes[i], fn=f"{op.fn}_grad",
                             grad="input", attrs=attrs, macs=op.macs, flops=op.flops, vector_elems=op.vector_elems)
            self._to(x, name)
        for j, w in enumerate(_trainable(self._main_weights(op))):
            name = self._bwd(op, "grad_weight" if j == 0 else f"grad_weight{j}", OpKind.SPMM, [*op.inputs, dy],
                             w.shape, fn=f"{op.fn}_grad", grad="weight", attrs=attrs, macs=op.macs, flops=op.flops,
                             vector_elems=op.vector_elems)
            self._wgrad(w, name)

    def _collective(self, op: Op, dy: str) -> None:
        """Tensor parallelism (Megatron): the forward all-reduce after a row-split linear passes its gradient
        through unchanged, and the matching column-split input needs one all-reduce of its gradient; both are
        of the block's activation size, so the backward is one all-reduce of the same bytes. With sequence
        parallelism the pair is an all-gather and a reduce-scatter, each the other's gradient (Korthikanti et al.
        2022, Sec. 4.2.2); an all-to-all's gradient is an all-to-all back."""
        x = op.inputs[0]
        if self.requires[x] and op.attrs.get("identity_grad"):  # a vocabulary-parallel embedding's all-reduce:
            self._to(x, dy)  # Megatron's reduce_from region passes the gradient through
        elif self.requires[x]:
            fn = COLLECTIVE_GRAD.get(op.fn, op.fn)
            # a context-parallel group's spread, and its ring's own stream
            spread = {k: op.attrs[k] for k in ("extent", "side_stream") if k in op.attrs}
            name = self._bwd(op, "grad_input", OpKind.COLLECTIVE, [dy], op.in_shapes[0], fn=fn,
                             grad="input", attrs={"group": op.attrs.get("group", 1), **spread})
            self._to(x, name)

    def _view(self, op: Op, dy: str) -> None:
        if op.fn == "tp_copy" and self.requires[op.inputs[0]]:
            # Megatron's copy_to_tensor_model_parallel_region: identity forward, its backward all-reduces the
            # gradient of the column-split linears' input over the group
            name = self._bwd(op, "grad_input", OpKind.COLLECTIVE, [dy], op.in_shapes[0], fn="all_reduce",
                             grad="input", attrs={"group": op.attrs.get("group", 1)})
            self._to(op.inputs[0], name)
            return
        if op.fn == "sequence_scatter" and self.requires[op.inputs[0]]:
            # Megatron's scatter_to_sequence_parallel_region: its backward all-gathers the token shards
            name = self._bwd(op, "grad_input", OpKind.COLLECTIVE, [dy], op.in_shapes[0], fn="all_gather",
                             grad="input", attrs={"group": op.attrs.get("group", 1)})
            self._to(op.inputs[0], name)
            return
        offset = 0
        dim = op.attrs.get("dim", 0)
        for i, x in enumerate(op.inputs):
            shape = op.in_shapes[i]
            if self.requires[x]:
                if op.kind is OpKind.CONCAT:
                    name = self._bwd(op, self._input_suffix(op, i), OpKind.RESHAPE, [dy], shape, fn="concat_grad",
                                     grad="input", attrs={"dim": dim, "offset": offset})
                    self._to(x, name)
                else:
                    name = self._bwd(op, self._input_suffix(op, i), OpKind.RESHAPE, [dy], shape, fn=f"{op.fn}_grad",
                                     grad="input", attrs=self._copied(op))
                    self._to(x, name, self._slice(op))
            if op.kind is OpKind.CONCAT:  # a stack (inputs one rank lower) advances by one
                offset += shape[dim] if len(shape) == len(op.out_shape) and isinstance(dim, int) else 1

    @staticmethod
    def _slice(op: Op) -> tuple[int, int, int] | None:
        """The (axis, start, stop) of its input that a slicing view selects, or None for other views."""
        src, out = op.in_shapes[0], op.out_shape
        if _elems(src) == _elems(out):
            return None
        if op.fn == "split_heads" and "offset" in op.attrs and len(out) == 4:
            start = int(op.attrs["offset"])
            return (len(src) - 1, start, start + out[1] * out[3])
        if op.fn == "slice" and "start" in op.attrs:
            axis, start = int(op.attrs.get("dim", 1)), int(op.attrs["start"])
            return (axis, start, start + out[axis])
        if op.fn == "select_token" and "index" in op.attrs:
            index = int(op.attrs["index"])
            return (1, index, index + 1)
        return None


__all__ = ["OPTIMIZER_ELEMS", "OPTIMIZER_STATES", "compiled_pools", "eager_batchnorm", "eager_cat_stash", "freeze",
           "step_as_run", "training_graph"]
