"""Transformer models as op graphs, layer for layer as their reference implementations.

Op conventions are those of :mod:`.tlayers` (token tensors (batch, tokens, features), attention unfused or fused,
KV cache, embeddings). Op and weight names follow the reference module names, so ``Graph.params`` equals the
published parameter count. A graph that is a part of its model (a ``tensor_parallel`` shard, a ``gpt`` pipeline
stage) holds only its part's weights; its ``meta["model_params"]`` is the whole model's count (the same builder with
``tensor_parallel=1``; for ``gpt`` :func:`gpt_params`).

* ``bert_base``, ``bert_large``: Hugging Face ``BertModel`` with its pooler (post-LN, GELU, learned positions 512,
  token types 2, vocab 30522); inputs ``input`` (token ids) and ``token_type_ids``, both (batch, seq_len).
  ``head``: "pooler" (BertModel, inference's default), "pretraining" (``BertForPreTraining``, training's default:
  the MLM head ``cls.predictions`` (dense h×h, GELU, LayerNorm, a decoder tied to the word embeddings with its own
  vocab bias) on ``masked_positions`` tokens, default all seq_len as HF computes logits at every position, and the
  NSP head ``cls.seq_relationship`` (h×2) on the pooled output; the loss is over both logits) or "classification"
  (``BertForSequenceClassification``: dropout, then an h×``num_labels`` ``classifier`` on the pooled output). A
  training run with head "pooler" gets a note (its loss is over the 768 tanh features, no real objective).
  ``mode="training"``: HF's dropouts (``hidden_dropout`` after the embeddings' LayerNorm and on each block's output
  before its add, ``attention_dropout`` on the probabilities; 0.1 each, BertConfig's defaults) are ops.
* ``gpt2``: Hugging Face ``GPT2LMHeadModel`` (pre-LN, fused c_attn, tied LM head applied to every position, or
  with ``logits="last"``, a server's prefill, to each sequence's last, that prefill then writing the KV cache);
  ``phase="decode"``: one cached step as LLaMA-2's (a forward pass's prefill writes no cache; ``hf``'s does).
  ``fused_projections``: the MLP's gelu_new as vLLM's one kernel (``accelsim serve``), else transformers' eager 8.
  ``mode="training"``: HF's dropouts (``hidden_dropout``: embd_pdrop after the positions, resid_pdrop on each
  attention and MLP output; ``attention_dropout``: attn_pdrop; 0.1 each, GPT2Config's defaults) are ops, so a layer
  keeps Korthikanti et al. 2022's sbh·(34 + 5·a·s/h) bytes as ``gpt``'s does.
* ``vit_b_16``: torchvision ``vit_b_16`` (16×16 conv patches, class token (its torch.cat a CONCAT marked
  ``eager_copy``: a copy kernel on a GPU preset), (1, N+1, 768) position parameter).
* ``transformer_base``: Vaswani et al. 2017, base, as ``torch.nn.Transformer(512, 8, 6, 6, 2048)`` builds it
  (post-LN, ReLU, a final LayerNorm after the encoder and after the decoder), sinusoidal positions, one 37000×512
  embedding shared by source, target and the (bias-free) generator; inputs ``input`` (source ids) and ``target`` (target
  ids, teacher forced); the generator is applied to every target position. ``phase``, ``kv_len`` and ``decode_steps``
  as T5's (:class:`Seq2SeqParams`): an inference prefill fills the self- and cross-attention caches, a decode step
  reads them (input ``target`` (batch, 1)) and holds the encoder's weights on ``decoder.held_weights``.
* ``llama2_7b`` / ``13b`` / ``70b``: Hugging Face ``LlamaForCausalLM`` (RMSNorm, RoPE, SwiGLU, GQA for 70B, untied
  LM head). ``phase="prefill"``: ``seq_len`` prompt tokens, KV_APPEND fills every layer's cache, LM head on every
  position. ``phase="decode"``: one new token per sequence against ``kv_len`` cached tokens (cache inputs
  ``model.layers.N.self_attn.{k,v}_cache``), LM head on the new token.
* ``clip_vit_b32``, ``clip_vit_l14``: Hugging Face ``CLIPModel`` (openai/clip-vit-base-patch32, openai/clip-vit-large-
  patch14; one builder, each size's config.json values in :data:`CLIP`): the ViT vision tower with the extra
  pre-LayerNorm, causal text tower (quick-GELU both), bias-free projections, L2-normalised embeddings and
  ``logit_scale``·image·textᵀ logits; ``batch`` images and ``batch`` texts; inputs ``input`` (pixels) and
  ``input_ids``; the text pooled at its last token (the EOS token of a full-length prompt).
* ``sam_vit_b``, ``sam_vit_h``: segment-anything's ``Sam``: 1024×1024 image encoder (windowed / global attention
  with decomposed relative positions), prompt encoder with ``points`` clicks (plus the padding point SAM appends
  without a box; input ``points`` (batch, points+1, 2) and ``point_labels``), mask decoder (two-way transformer,
  upscaling, hypernetwork MLPs, IoU head; multimask output: 4 masks and their IoU). Mask post-processing
  (interpolation to the image size) has no params and is left out. Without ``mask_prompt`` the dense prompt is
  ``no_mask_embed`` and the mask-downscaling convs do not run; their weights (and, with a mask prompt,
  ``no_mask_embed``) ride on an identity view ``prompt_encoder.unused_params`` so ``params`` counts the model.
* ``gpt``: a Megatron-LM GPT of any shape (``hidden``, ``heads``, ``layers``, ``ffn``, ``vocab``, ``seq_len``):
  learned positions, pre-LN, fused query_key_value, GELU MLP with biases, final LayerNorm, LM head tied to the word
  embeddings; names as Megatron's ``language_model.*``. ``params`` = 12·l·h²·(1 + 13/(12h) + (V + s)/(12·l·h)) + 2h
  with ffn = 4h (Narayanan et al. 2021, plus the final LayerNorm). Under tensor parallelism the word embeddings and
  the LM head are split by vocabulary (VocabParallelEmbedding: an all-reduce after the look-up, whose gradient
  passes through; the head's logits stay split, the loss is the parallel cross-entropy over them, and its input's
  gradient is all-reduced). ``pipeline_parallel`` P > 1: the graph is the
  ``pipeline_stage``-th stage, layers ``stage·l/P`` to ``(stage + 1)·l/P − 1``; stage 0 holds the embeddings and
  reads token ids, the others read the previous stage's hidden states (input ``input`` (batch, seq_len, h), whose
  gradient training computes: ``meta["grad_inputs"]``); the last stage holds the final LayerNorm and the head with
  its own copy of the word embeddings (Megatron keeps one on the last stage when P > 1), and only it the loss: a
  non-last stage names its output hidden states in ``meta["grad_outputs"]``, whose gradient training receives from
  the next stage instead of putting a loss on them. ``max_positions`` rows of
  positions (default ``seq_len``: s above); ``phase="decode"``: one cached step as ``gpt2``'s (one stage only).
  ``mode="training"``: Megatron-LM's dropouts (``attention_dropout`` on the unfused attention probabilities,
  ``hidden_dropout`` after the embeddings and on each attention and MLP output before its residual add; both 0.1
  as Megatron's defaults) are ops (GraphBuilder.dropout), so a layer's kept activations are Korthikanti et al.
  2022's sbh·(34 + 5·a·s/h) bytes in 16 bits (Sec. 4.1), 34·sbh with selective recomputation.
  ``sequence_parallel`` (with ``tensor_parallel`` t > 1; Korthikanti et al. 2022, Sec. 4.2.2): the embeddings'
  output is cut to this chip's s/t tokens (a ``sequence_scatter`` view, whose gradient is all-gathered), the
  norms, dropouts and residual adds run on s/t tokens, each attention and MLP block opens with an all-gather
  (attrs ``regather``: the backward gathers the shard again instead of keeping the whole) and closes with a
  reduce-scatter, and the LM head's input is all-gathered; a later pipeline stage reads (batch, s/t, h). A layer
  then keeps sbh·(34/t + 5·a·s/(h·t)) bytes.
* ``whisper_base``, ``whisper_large_v3``: Hugging Face ``WhisperForConditionalGeneration`` (openai/whisper-base,
  openai/whisper-large-v3; one builder, each size's config.json values in :data:`WHISPER`). ``phase="prefill"``:
  the encoder over ``audio_s`` seconds (input ``input`` = (batch, num_mel_bins, 100·audio_s) mel frames: 80 bins
  for base, 128 for large-v3) and the
  ``seq_len`` decoder prompt tokens (input ``decoder_input_ids``, logits at every position), filling the self- and
  cross-attention caches. ``phase="decode"``: one decoder step (input ``input`` = (batch, 1) token ids) with
  ``kv_len`` cached tokens and the encoder's cached cross-attention K/V; ``decode_steps`` makes a serving run. The
  step reads neither the encoder nor the cross-attention K/V projections, but their weights stay resident: an
  ``unused_params`` view ``model.decoder.held_weights`` carries them, so the step's params, weight bytes and
  memory footprint are the whole model's. The encoder's sinusoidal position table is an ``nn.Embedding`` in the reference
  (frozen), so it counts as 1500·d_model params, as Hugging Face's published count does.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, ValidationError, field_validator, model_validator

from ..errors import WorkloadError
from ..ir import Gemm, Graph, OpKind, Weight
from ..units import EAGER_SOFTMAX_DTYPE
from .params import PrecisionParams, WorkloadParams, invalid_at
from .precision import weight_only, with_precision
from .tlayers import ACT_FLOPS, KVCache, TransformerBuilder


# ---- parameters ------------------------------------------------------------------------------------------------
def _at_most(limit: int, why: str) -> Callable[[Any, int], int]:
    """A field validator: the value must be at most ``limit`` (``why`` says whose table holds that many)."""

    def check(cls: Any, value: int) -> int:
        if value > limit:
            raise ValueError(f"must be at most {limit}: {why}")
        return value

    return check


def _multiple_of(step: int, why: str) -> Callable[[Any, int], int]:
    """A field validator: the value must be a multiple of ``step``."""

    def check(cls: Any, value: int) -> int:
        if value % step:
            raise ValueError(f"must be a multiple of {step}: {why}")
        return value

    return check


GPT_ONLY_KEYS = ("pipeline_parallel", "pipeline_interleave", "pipeline_stage", "micro_batches", "overlap_grad_reduce")
"""Workload keys of ``model: gpt``'s pipeline-parallel training (:class:`GptParams`) that no other transformer
builder takes."""
GPT_ONLY_WHY = ("pipeline parallelism is modelled for 'model: gpt' (Megatron GPT) only: this builder builds one "
                "stage of one batch (for pipeline stages and micro-batches use model: gpt with hidden, heads, layers "
                "and ffn)")


class TransformerParams(WorkloadParams):
    """A transformer: attention as separate ops or as one fused op."""

    @model_validator(mode="before")
    @classmethod
    def _gpt_only(cls, data: Any) -> Any:
        """Refuse ``pipeline_parallel`` and its keys on a builder other than ``gpt``, each at its key, saying where
        they are modelled (not an unknown key with a "did you mean 'sequence_parallel'": probe p70 #2). The hf
        builder, which takes unknown keys as config fields, names them itself with its other problems."""
        if not isinstance(data, dict) or cls.model_config.get("extra") == "allow":
            return data
        keys = [k for k in GPT_ONLY_KEYS if k in data and k not in cls.model_fields]
        if not keys:
            return data
        raise ValidationError.from_exception_data(cls.__name__, [
            {"type": "value_error", "loc": (k,), "input": data[k], "ctx": {"error": ValueError(GPT_ONLY_WHY)}}
            for k in keys])

    attention: Literal["unfused", "fused"] = Field(
        "unfused", description="'unfused': QKᵀ, softmax and PV as separate ops; 'fused': one ATTENTION op "
                               "(FlashAttention-style, scores stay on chip). Same params and MACs.")
    tensor_parallel: PositiveInt = Field(
        1, description="Tensor-parallel degree (Megatron-style): the graph is one chip's shard, with attention "
                       "heads and the MLP width split this many ways and an all-reduce after each row-split "
                       "linear (output projection, MLP down projection); needs an arch with at least this many "
                       "chips. Norms are replicated; the LLM decoders (LLaMA-2, gpt, hf) split the embedding "
                       "and LM head by vocabulary rows (vLLM's VocabParallelEmbedding / ParallelLMHead), the "
                       "others replicate them.")
    recompute: Literal["none", "selective", "full"] = Field(
        "none", description="Training only: activation recomputation (Korthikanti et al. 2022). 'full' re-runs "
                            "each layer's forward before its backward (only the layer inputs are kept); "
                            "'selective' re-runs only the attention core (QKᵀ, softmax, PV); 'none' keeps every "
                            "activation the backward pass reads.")


class DropoutParams(TransformerParams):
    """A transformer trained with dropout (the rates of the model's reference implementation)."""

    attention_dropout: float = Field(
        0.1, ge=0, lt=1, description="Training only: dropout of the attention probabilities (default 0.1: "
                                     "Megatron-LM's --attention-dropout, BERT's attention_probs_dropout_prob, "
                                     "GPT-2's attn_pdrop; unfused attention: a fused kernel draws it inside, "
                                     "unpriced). 0: none.")
    hidden_dropout: float = Field(
        0.1, ge=0, lt=1, description="Training only: dropout of the embeddings and of each attention and MLP output "
                                     "before its residual add (default 0.1: Megatron-LM's --hidden-dropout, BERT's "
                                     "hidden_dropout_prob, GPT-2's embd_pdrop and resid_pdrop). 0: none.")


class SequenceParallelParams(TransformerParams):
    """A decoder whose tensor-parallel shards may also split the tokens between their blocks."""

    sequence_parallel: bool = Field(
        False, description="Megatron's sequence parallelism (Korthikanti et al. 2022) with tensor_parallel > 1: the "
                           "norms, dropouts and residual adds hold seq_len / tensor_parallel tokens per chip; each "
                           "tensor-parallel block starts with an all-gather and ends with a reduce-scatter (instead "
                           "of an all-reduce). Prefill and training only; seq_len must divide by tensor_parallel.")

    context_parallel: PositiveInt = Field(
        1, description="Context parallelism C (Megatron-LM's --context-parallel-size, TransformerEngine's CP): the "
                       "prompt's tokens are split over C chips (each holds every weight and seq_len / C tokens; "
                       "chips = tensor_parallel × C × pipeline_parallel × data-parallel replicas, in Megatron's rank "
                       "order) and only attention exchanges them, as context_parallel_comm says. Causal "
                       "attention's chunks are load-balanced (each chip holds chunks i and 2C − 1 − i of 2C). "
                       "Prefill and training only; gradients are all-reduced over C × the data-parallel replicas.")
    context_parallel_comm: Literal["all_gather", "a2a", "p2p"] = Field(
        "p2p", description="How context-parallel attention gets the other chips' tokens "
                                  "(TransformerEngine's cp_comm_type): 'all_gather': K and V all-gathered before "
                                  "attention (Llama 3's context parallelism; the backward re-gathers them and "
                                  "reduce-scatters their gradients); 'a2a': DeepSpeed-Ulysses, q, k and v "
                                  "all-to-all'd from token shards to head shards (heads and kv_heads per chip "
                                  "divisible by C) and the output back; 'p2p': ring attention (Megatron-LM's "
                                  "default), K and V passed round the ring in C − 1 sends on a stream of their "
                                  "own, each overlapping a step of attention, the partial outputs merged (the "
                                  "default: TransformerEngine's when Megatron-LM names none).")

    @model_validator(mode="after")
    def _sequence_parallel(self) -> SequenceParallelParams:
        self._context_parallel()
        if not self.sequence_parallel:
            return self
        if getattr(self, "phase", "prefill") == "decode" or getattr(self, "decode_steps", 0):
            raise invalid_at("sequence_parallel", True, "splits the prompt's tokens: it needs phase prefill and "
                                                        "no decode_steps")
        if self.tensor_parallel == 1:  # the builders split nothing: a key that would change nothing
            raise invalid_at("sequence_parallel", True, "splits the norms' and dropouts' activations across the "
                             "tensor_parallel chips: it needs tensor_parallel > 1 (tensor_parallel is 1)")
        seq_len = int(getattr(self, "seq_len", 0))  # the subclasses declare it
        shards = self.tensor_parallel * self.context_parallel
        if seq_len % shards:
            raise invalid_at("sequence_parallel", True, f"needs seq_len ({seq_len}) divisible by tensor_parallel "
                             f"({self.tensor_parallel})" + (f" × context_parallel ({self.context_parallel})"
                                                             if self.context_parallel > 1 else ""))
        return self

    def _context_parallel(self) -> None:
        """Refuse a context-parallel split the model cannot take (the builder refuses the attention it cannot)."""
        c = self.context_parallel
        if c == 1:
            return
        if getattr(self, "phase", "prefill") == "decode" or getattr(self, "decode_steps", 0):
            raise invalid_at("context_parallel", c, "splits the prompt's tokens: it needs phase prefill and no "
                                                    "decode_steps")
        if self.attention != "fused":
            raise invalid_at("context_parallel", c, "needs attention: fused (TransformerEngine's context-parallel "
                                                    "attention runs the flash / fused kernels, which keep the scores "
                                                    "on chip)")
        seq_len = int(getattr(self, "seq_len", 0))
        # load-balanced causal chunks: 2C of them, two a chip (TransformerEngine's get_batch_on_this_cp_rank)
        chunks = c if self.context_parallel_comm == "a2a" else 2 * c
        if seq_len % chunks:
            raise invalid_at("context_parallel", c, f"with {self.context_parallel_comm} needs seq_len ({seq_len}) "
                             f"divisible by {chunks}" + (" (2 × context_parallel load-balanced chunks)"
                                                         if chunks > c else ""))


BERT_HEADS = ("pooler", "pretraining", "classification")


class BertParams(DropoutParams):
    """BERT (Hugging Face BertModel with pooler, and a head) over one sequence per sample."""

    seq_len: PositiveInt = Field(128, description="Tokens per sequence (at most 512, BERT's learned positions).")
    head: Literal["pooler", "pretraining", "classification"] | None = Field(
        None, description="What runs on the encoder: 'pooler' (BertModel: the tanh pooler alone), 'pretraining' "
                          "(BertForPreTraining: the MLM head on masked_positions tokens, decoder tied to the word "
                          "embeddings, and the NSP head on the pooled output), 'classification' "
                          "(BertForSequenceClassification: dropout and a num_labels classifier on the pooled "
                          "output). Default: 'pooler' in inference, 'pretraining' in training (the loss needs "
                          "logits; a training run with head 'pooler' gets a note).")
    masked_positions: PositiveInt | None = Field(
        None, description="Head 'pretraining': tokens per sequence the MLM head runs on (default: every one of "
                          "seq_len, as BertForPreTraining computes logits at every position; NVIDIA's BERT "
                          "gathers the ~15 % masked ones, 20 of 128).")
    num_labels: PositiveInt | None = Field(
        None, description="Head 'classification': classes (default 2, BertConfig's num_labels).")
    _seq_len = field_validator("seq_len")(_at_most(512, "BERT has 512 learned positions"))

    @property
    def resolved_head(self) -> str:
        """The head that runs: ``head``, else 'pretraining' in training and 'pooler' in inference."""
        return self.head or ("pretraining" if self.mode == "training" else "pooler")

    @model_validator(mode="after")
    def _head_keys(self) -> BertParams:
        head = self.resolved_head
        if self.masked_positions is not None:
            if head != "pretraining":
                raise invalid_at("masked_positions", self.masked_positions,
                                 f"is for head pretraining (the MLM head); head is {head}")
            if self.masked_positions > self.seq_len:
                raise invalid_at("masked_positions", self.masked_positions,
                                 f"must be at most seq_len ({self.seq_len}): the MLM head runs on tokens of the "
                                 f"sequence")
        if self.num_labels is not None and head != "classification":
            raise invalid_at("num_labels", self.num_labels, f"is for head classification; head is {head}")
        return self


class Gpt2Params(DropoutParams):
    """GPT-2 (Hugging Face GPT2LMHeadModel): a forward pass over the prompt (logits at every position) or one
    cached decode step."""

    seq_len: PositiveInt = Field(1024, description="Tokens per sequence (at most 1024, GPT-2's learned positions).")
    phase: Literal["prefill", "decode"] = Field(
        "prefill", description="'prefill': the prompt in one pass; 'decode': one new token per sequence against "
                               "the KV cache.")
    kv_len: PositiveInt = Field(1023, description="Tokens already in the KV cache (decode; kv_len + 1 ≤ 1024).")
    decode_steps: NonNegativeInt = Field(
        0, description="Tokens to generate after the prompt (for the serving driver; the graph is one pass).")
    layers: PositiveInt | None = Field(
        None, description="Transformer layers to build (default: GPT-2's 12); fewer builds the model truncated, as "
                          "the serving driver's layer samples do (options.layer_samples).")
    fused_projections: bool | None = Field(
        None, description="The model as vLLM's GPT-2 runs it (vllm/model_executor/models/gpt2.py): the MLP's gelu_new "
                          "one fused GELU kernel (NewGELU, ops.gelu_new), not transformers' 8 eager ones; c_attn is "
                          "one GEMM either way (QKVParallelLinear) and there is no gated MLP. Default (null): false, "
                          "transformers' eager chain, except in accelsim serve, which sets it from "
                          "engine.fused_projections (default true), as for the LLaMA-2 presets and hf.")
    logits: Literal["all", "last"] | None = Field(
        None, description="A prefill's logits: 'all' positions (a forward pass, transformers' model(input_ids)) or "
                          "each sequence's 'last' (what a server samples from: vLLM's compute_logits), a served "
                          "prefill that also writes the prompt's K and V to the KV cache (vLLM's attention, "
                          "reshape_and_cache, as hf's prefill does). Default: 'last' in a serving run "
                          "(decode_steps, accelsim serve), else 'all' (no cache written).")
    _seq_len = field_validator("seq_len")(_at_most(1024, "GPT-2 has 1024 learned positions"))
    _kv_len = field_validator("kv_len")(_at_most(1023, "the new token needs position kv_len < 1024"))

    @model_validator(mode="after")
    def _positions(self) -> Gpt2Params:
        # as Whisper's: seq_len and kv_len alone fit (their field validators), so only decode_steps can overrun the
        # 1024 positions; a serving run's last step is at kv_len seq_len + decode_steps - 1 (probe p97 #4)
        decode = self.phase == "decode"
        base, held = ("kv_len", self.kv_len) if decode else ("seq_len", self.seq_len)
        need = held + max(self.decode_steps, int(decode))  # positions used
        positions = 1024  # GPT-2's n_positions, as the field validators'
        if need > positions:
            raise invalid_at("decode_steps", self.decode_steps,
                             f"must be at most {positions - held} with {base} {held}: positions up to "
                             f"{need - 1} exceed GPT-2's {positions} learned positions")
        return self


class GptParams(DropoutParams, SequenceParallelParams):
    """A Megatron-LM GPT of any shape; with pipeline parallelism, one stage of it."""

    hidden: PositiveInt = Field(2048, description="Model width h (default: GPT-3 XL, 1.3 B).")
    heads: PositiveInt = Field(16, description="Attention heads (must divide hidden).")
    layers: PositiveInt = Field(24, description="Transformer layers.")
    ffn: NonNegativeInt = Field(0, description="MLP width (0: 4 × hidden).")
    vocab: PositiveInt = Field(51200, description="Vocabulary rows, padded (Megatron pads GPT-2's 50257 to a multiple "
                               "of 128 x TP: 51200 at TP 8); TP must divide it.")
    seq_len: PositiveInt = Field(2048, description="Tokens per sequence (prompt tokens in a serving run).")
    max_positions: NonNegativeInt = Field(
        0, description="Rows of the learned position table, Megatron's max_position_embeddings (0: seq_len); a "
                       "decode step's position kv_len must be below it.")
    phase: Literal["prefill", "decode"] = Field(
        "prefill", description="'prefill': the sequence in one pass; 'decode': one new token per sequence against "
                               "a KV cache of kv_len tokens (pipeline_parallel 1).")
    kv_len: PositiveInt = Field(512, description="Tokens already in the KV cache (decode).")
    decode_steps: NonNegativeInt = Field(
        0, description="Tokens to generate after the prompt (a serving run; pipeline_parallel 1).")
    pipeline_parallel: PositiveInt = Field(
        1, description="Pipeline stages P (must divide layers). Simulating a workload with P > 1 runs the whole "
                       "pipeline (every distinct stage, composed by the 1F1B schedule: see docs/architecture.md); "
                       "a graph built alone is stage ``pipeline_stage``.")
    pipeline_stage: NonNegativeInt = Field(0, description="Which stage the graph is (0 … P − 1; set by the pipeline "
                                                          "driver, or by hand to look at one stage).")
    micro_batches: PositiveInt = Field(
        1, description="Micro-batches per iteration through the pipeline (each of ``batch`` sequences): global "
                       "batch = batch × micro_batches × data-parallel replicas.")
    pipeline_interleave: PositiveInt = Field(
        1, description="Model chunks per pipeline stage (Megatron's interleaved 1F1B schedule, v): the bubble "
                       "shrinks v-fold; layers must divide by P × v.")
    overlap_grad_reduce: bool = Field(
        False, description="Training with data parallelism: all-reduce the gradients as the iteration's last "
                           "backward pass makes them (Megatron-LM's --overlap-grad-reduce, Megatron-core 2023 on). "
                           "Off (Megatron-LM's default, and all it did in 2021): after the whole backward pass, the "
                           "pipeline flushed, before the optimizer steps (train_step's allreduce_gradients).")

    @model_validator(mode="after")
    def _shape(self) -> GptParams:
        if self.hidden % self.heads:
            raise invalid_at("heads", self.heads, f"must divide hidden ({self.hidden})")
        if self.pipeline_interleave > 1 and self.pipeline_parallel == 1:
            # the interleaved schedule spreads a stage's chunks over the pipeline: without one there is no stage to
            # interleave with (Megatron-LM refuses --virtual-pipeline-model-parallel-size without pipeline
            # parallelism), and one chip has nothing to send its chunks to (probe p93 #3)
            raise invalid_at("pipeline_interleave", self.pipeline_interleave,
                             "interleaves model chunks over the pipeline's stages: it needs pipeline_parallel > 1 "
                             "(pipeline_parallel is 1; set pipeline_interleave 1, or pipeline_parallel ≥ 2)")
        if self.layers % (self.pipeline_parallel * self.pipeline_interleave):
            # pipeline_parallel alone not dividing the layers is its own fault, which no interleave fixes; only a
            # P that divides them blames pipeline_interleave (probe p93 #2)
            key = "pipeline_parallel" if self.layers % self.pipeline_parallel else "pipeline_interleave"
            # the product first, then the key's own value as "(got N)": beside "layers (N)" a bare "(got N)" read
            # as the layer count (probe p77)
            chunks = self.pipeline_parallel * self.pipeline_interleave
            alone = (f" (pipeline_parallel {self.pipeline_parallel} alone does not)"
                     if key == "pipeline_parallel" and self.pipeline_interleave > 1 else "")
            raise invalid_at(key, getattr(self, key), f"pipeline_parallel × pipeline_interleave "
                                                      f"({self.pipeline_parallel} × {self.pipeline_interleave} = "
                                                      f"{chunks}) does not divide layers ({self.layers}){alone}: "
                                                      f"choose another {key}")
        if self.overlap_grad_reduce and self.mode != "training":
            # as recompute, optimizer, distributed_optimizer and offload: an inference run reduces no gradient
            # (probe p93 #5)
            raise invalid_at("overlap_grad_reduce", True,
                             "training only: it overlaps the data-parallel gradient all-reduce with the backward "
                             "pass, and an inference run has none (leave it out, or set false; or set mode: "
                             "training)")
        if self.pipeline_interleave > 1 and self.micro_batches % self.pipeline_parallel:
            # Megatron-LM's interleaved 1F1B runs the micro-batches in groups of P through each chunk and refuses
            # any other count (megatron/schedules.py, 2021, and megatron/core/pipeline_parallel/schedules.py:
            # "number of microbatches is not divisible by pipeline-model-parallel-size when using interleaved
            # schedule"); its (m + (P - 1)/v) stage times hold only then (fewer than P would finish before one
            # micro-batch's own path through every layer)
            raise invalid_at("micro_batches", self.micro_batches,
                             f"must be a multiple of pipeline_parallel ({self.pipeline_parallel}) with "
                             f"pipeline_interleave ({self.pipeline_interleave}) > 1, as Megatron-LM's interleaved "
                             f"schedule requires")
        if self.pipeline_stage >= self.pipeline_parallel:
            raise invalid_at("pipeline_stage", self.pipeline_stage,
                             f"must be < pipeline_parallel ({self.pipeline_parallel})")
        decode = self.phase == "decode"
        if (decode or self.decode_steps) and self.pipeline_parallel > 1:
            raise invalid_at("pipeline_parallel", self.pipeline_parallel,
                             "decode is simulated without pipeline stages: pipeline_parallel must be 1")
        base, held = ("kv_len", self.kv_len) if decode else ("seq_len", self.seq_len)
        need = held + max(self.decode_steps, int(decode))  # positions used
        if need > self.positions:
            # the prompt (or cache) alone fits unless it is the one at fault; otherwise the steps overran
            key = "decode_steps" if self.decode_steps and held + int(decode) <= self.positions else base
            raise invalid_at(key, getattr(self, key),
                             f"positions up to {need - 1} exceed the {self.positions} learned positions (set "
                             f"max_positions, Megatron's max_position_embeddings)")
        return self

    @property
    def positions(self) -> int:
        """Rows of the learned position table."""
        return self.max_positions or self.seq_len


class ViTParams(TransformerParams):
    """A vision transformer with 16×16 patches (torchvision)."""

    attention: Literal["unfused", "fused"] = Field(
        "fused", description="'fused' (default: torchvision's EncoderBlock calls nn.MultiheadAttention with "
                             "need_weights=False, which calls scaled_dot_product_attention): one ATTENTION op, scores "
                             "on chip; 'unfused': QKᵀ, softmax and PV as separate ops. Same params and MACs.")
    num_classes: PositiveInt = Field(1000, description="Outputs of the classification head.")
    image_size: PositiveInt = Field(224, description="Input height and width in pixels (a multiple of 16; the "
                                                     "position embedding has (image_size/16)² + 1 rows).")
    _image_size = field_validator("image_size")(_multiple_of(16, "the patches are 16×16"))


def refuse_prefill_kv_len(p: Any) -> None:
    """An encoder-decoder's ``kv_len`` in ``phase: prefill`` other than its default or the prompt's tokens, refused
    at the key (probe p168 #3: Whisper's and T5's prefill dropped ``kv_len: 100`` silently): the prefill starts the
    decoder at position 0 (its prompt, ``prompt_key``, fills the self-attention cache from empty), and its serving
    run's decode steps start at kv_len = the prompt (so that value says what the run does); only a decode step reads
    ``kv_len`` cached tokens. As the hf builder and the diffusion parts refuse a key their pass does not read that
    holds another value than its default."""
    default, prompt = type(p).model_fields["kv_len"].default, getattr(p, p.prompt_key)
    if p.phase == "prefill" and p.kv_len not in (default, prompt):
        raise invalid_at("kv_len", p.kv_len,
                         f"not read by phase: prefill (its decoder prompt of {p.prompt_key} {prompt} tokens starts "
                         f"at position 0, and decode_steps start at kv_len = {p.prompt_key}): set phase: decode for "
                         f"one step after kv_len cached tokens, or leave kv_len at {default} (or {prompt})")


class Seq2SeqParams(WorkloadParams):
    """An encoder-decoder's passes (T5, transformer_base): ``phase`` prefill, the encoder over ``src_len`` tokens and
    the decoder over ``tgt_len`` (teacher-forced in training; in inference the decoder prompt, filling the self- and
    cross-attention caches), or decode, one cached decoder step; ``decode_steps`` makes a serving run, whose first
    step has ``kv_len`` = ``tgt_len``."""

    prompt_key: ClassVar[str] = "tgt_len"

    phase: Literal["prefill", "decode"] = Field(
        "prefill", description="'prefill': the encoder over src_len tokens and the decoder over tgt_len (inference: "
                               "filling the self- and cross-attention KV caches); 'decode': one decoder token "
                               "against a self-attention cache of kv_len tokens and the cached cross-attention K/V "
                               "of the src_len encoder tokens (inference only).")
    kv_len: PositiveInt = Field(1, description="Decoder tokens already in the self-attention cache (decode; phase "
                                               "prefill refuses a value other than 1 or tgt_len).")
    decode_steps: NonNegativeInt = Field(
        0, description="Tokens to generate after the prefill (or after kv_len with phase decode): a serving run "
                       "with TTFT and TPOT (generation from the decoder start token: tgt_len 1); the graph itself is "
                       "one pass.")

    @model_validator(mode="after")
    def _decode_is_inference(self) -> Seq2SeqParams:
        if self.phase == "decode" and self.mode == "training":
            raise invalid_at("phase", self.phase, "a decode step is one cached token of generation, inference only: "
                                                  "set mode: inference, or phase: prefill (training runs the "
                                                  "teacher-forced pass over tgt_len tokens)")
        refuse_prefill_kv_len(self)
        return self


class TransformerBaseParams(TransformerParams, Seq2SeqParams):
    """The base encoder-decoder Transformer (Vaswani et al. 2017): the teacher-forced pass (a prefill) or one cached
    decode step."""

    src_len: PositiveInt = Field(128, description="Source tokens per sample (encoder).")
    tgt_len: PositiveInt = Field(
        128, description="Target tokens per sample (decoder, teacher-forced; logits at every position): in inference "
                         "the decoder prompt whose K/V the prefill caches; 1 to generate from the start token.")


class LlamaParams(SequenceParallelParams, PrecisionParams):
    """A LLaMA-2 decoder: a prefill pass over a prompt or one decode step against a KV cache."""

    phase: Literal["prefill", "decode"] = Field(
        "prefill", description="'prefill': the prompt in one pass (fills the KV cache, logits at every position); "
                               "'decode': one new token per sequence against the KV cache.")
    seq_len: PositiveInt = Field(512, description="Prompt tokens per sequence (prefill).")
    kv_len: PositiveInt = Field(512, description="Tokens already in the KV cache (decode).")
    decode_steps: NonNegativeInt = Field(
        0, description="Tokens to generate after the prompt (for the serving driver; the graph is one pass).")
    rope_kernel: Literal["fused", "eager"] = Field(
        "fused", description="How the rotary embedding of q and k runs: 'fused': one kernel per tensor (vLLM's "
                             "rotary_embedding, TensorRT-LLM's); 'eager': the five PyTorch kernels of Hugging Face "
                             "transformers' apply_rotary_pos_emb (rotate_half's negation and torch.cat, two "
                             "multiplies, an add).")
    fused_projections: bool | None = Field(
        None, description="q, k and v as one GEMM qkv_proj ((heads + 2·kv_heads)·head_dim features a chip) and a "
                           "gated MLP's gate and up as one gate_up_proj (2·ffn a chip), each followed by slice views, "
                           "as vLLM runs them (QKVParallelLinear, MergedColumnParallelLinear): the same params, MACs "
                           "and weight bytes, fewer and wider GEMMs. Default (null): false, transformers' separate "
                           "q/k/v_proj and gate/up_proj, except in accelsim serve, which sets it from "
                           "engine.fused_projections (default true). "
                           "Models whose projections are already fused (Phi-3, GPT-2, NeoX) keep them; an hf model's "
                           "gelu_new (GPT-2, Phi) becomes vLLM's one fused GELU kernel, not transformers' 8 eager "
                           "ones.")
    layers: PositiveInt | None = Field(
        None, description="Decoder layers to build (default: the model's); fewer builds the model truncated, as the "
                          "serving driver's layer samples do (options.layer_samples).")
    logits: Literal["all", "last"] | None = Field(
        None, description="A prefill's logits: 'all' positions (a forward pass, transformers' model(input_ids); "
                          "training's loss) or each sequence's 'last' (what a server samples from: vLLM's "
                          "compute_logits on the sampled positions, transformers' generate with logits_to_keep=1). "
                          "Default: 'last' in a serving run (decode_steps, accelsim serve), else 'all'.")


class _ClipTextParams(TransformerParams):
    """CLIP's text side: the prompt's tokens."""

    seq_len: PositiveInt = Field(77, description="Text tokens per prompt (at most 77, CLIP's learned positions).")
    # probe p251 #3: 'unfused' (eager_attention_forward) was the default, 31 % slower on h100 than the SDPA that
    # transformers picks by default for CLIP (CLIPPreTrainedModel._supports_sdpa) and that sd15/sdxl/FLUX's CLIP
    # text encoders run here
    attention: Literal["unfused", "fused"] = Field(
        "fused", description="'fused' (default: transformers loads CLIPModel with attn_implementation 'sdpa', as "
                             "CLIPPreTrainedModel declares _supports_sdpa, and CLIPAttention then calls "
                             "scaled_dot_product_attention): one ATTENTION op, scores on chip; 'unfused': "
                             "attn_implementation 'eager', CLIPAttention's eager_attention_forward (QKᵀ, its "
                             "``* scaling``, softmax, PV and the merge's copy as separate ops). Same params and MACs.")
    _seq_len = field_validator("seq_len")(_at_most(77, "CLIP's text encoder has 77 learned positions"))


class ClipParams(_ClipTextParams):
    """CLIP ViT-B/32 (Hugging Face CLIPModel): batch images against batch texts."""

    image_size: PositiveInt = Field(224, description="Input height and width in pixels (a multiple of 32; "
                                                     "the position table holds (image_size/32)² + 1 rows).")
    _image_size = field_validator("image_size")(_multiple_of(32, "the patches are 32×32"))


class ClipL14Params(_ClipTextParams):
    """CLIP ViT-L/14 (Hugging Face CLIPModel): batch images against batch texts."""

    image_size: PositiveInt = Field(224, description="Input height and width in pixels (a multiple of 14; "
                                                     "the position table holds (image_size/14)² + 1 rows).")
    _image_size = field_validator("image_size")(_multiple_of(14, "the patches are 14×14"))


class SamParams(TransformerParams):
    """Segment Anything on one 1024×1024 image per sample with point prompts."""

    points: PositiveInt = Field(1, description="Point prompts (clicks) per image; SAM adds one padding point.")
    mask_prompt: bool = Field(False, description="Also give a 256×256 low-resolution mask prompt (runs the "
                                                 "prompt encoder's mask-downscaling convs).")


class WhisperParams(TransformerParams):
    """Whisper (Hugging Face WhisperForConditionalGeneration): the encoder plus a decoder prompt, or one
    cached decoder step; with ``decode_steps`` a serving run (the prefill, then that many cached steps)."""

    phase: Literal["prefill", "decode"] = Field(
        "prefill", description="'prefill': the encoder over the audio plus the decoder prompt (seq_len tokens), "
                               "filling the self- and cross-attention caches; 'decode': one cached decoder step.")
    audio_s: float = Field(30.0, description="Seconds of audio the encoder runs on: always 30. Whisper pads or trims "
                                             "every input to 30 s, 3000 mel frames (1500 encoder positions), so a "
                                             "shorter clip runs the same encoder; the transcript's length is seq_len "
                                             "and decode_steps.")
    seq_len: PositiveInt = Field(
        1, description="Decoder prompt tokens in the prefill (1: <|startoftranscript|> alone; 4 with the "
                       "language, task and no-timestamps tokens). A serving run's decode steps start at kv_len = "
                       "seq_len.")
    kv_len: PositiveInt = Field(1, description="Decoder tokens already in the self-attention cache (decode; phase "
                                               "prefill refuses a value other than 1 or seq_len); kv_len + 1 ≤ 448 "
                                               "learned positions.")
    decode_steps: NonNegativeInt = Field(
        0, description="Tokens to generate after the prefill (or after kv_len with phase decode): a serving run "
                       "with TTFT and TPOT; the graph itself is one pass.")
    # probe p284 #1: 'unfused' (WhisperAttention's eager path) was the default, 37 % slower on h100 (large-v3 prefill
    # 32.60 vs 23.86 ms) than the SDPA transformers loads Whisper with: WhisperPreTrainedModel declares
    # _supports_sdpa = True and each layer builds WHISPER_ATTENTION_CLASSES[config._attn_implementation]
    # (src/transformers/models/whisper/modeling_whisper.py, huggingface/transformers 5c48f71a), and from_pretrained
    # with no attn_implementation runs _check_and_enable_sdpa(hard_check_only=False), which sets "sdpa" for a class
    # that supports it (src/transformers/modeling_utils.py, 040ba146); as _ClipTextParams since probe p251 #3
    attention: Literal["unfused", "fused"] = Field(
        "fused", description="'fused' (default: transformers loads WhisperForConditionalGeneration with "
                             "attn_implementation 'sdpa', as WhisperPreTrainedModel declares _supports_sdpa, so "
                             "WhisperSdpaAttention calls scaled_dot_product_attention): one ATTENTION op, scores on "
                             "chip; 'unfused': attn_implementation 'eager', WhisperAttention's eager path (q_proj's "
                             "``* scaling``, QKᵀ, softmax, PV and the merge's copy as separate ops). Same params and "
                             "MACs.")
    _seq_len = field_validator("seq_len")(_at_most(448, "Whisper's decoder has 448 learned positions"))
    _kv_len = field_validator("kv_len")(_at_most(447, "the new token needs position kv_len < 448, Whisper's "
                                                      "decoder has 448 learned positions"))

    @field_validator("audio_s")
    @classmethod
    def _thirty_seconds(cls, value: float) -> float:
        # openai-whisper's transcribe pads every 30 s window (whisper/audio.py pad_or_trim, N_FRAMES 3000); transformers'
        # WhisperEncoder.forward raises a ValueError unless the mel input is max_source_positions x conv strides =
        # 1500 x 1 x 2 = 3000 frames long ("Whisper expects the mel input features to be of length 3000")
        if value != WHISPER_AUDIO_S:
            raise ValueError(f"Whisper's encoder always runs on {WHISPER_AUDIO_S} s of audio ({WHISPER_MEL_FRAMES} "
                             f"mel frames: openai-whisper pads a shorter clip, transformers' WhisperEncoder refuses "
                             f"any other length), so a shorter clip costs the same encoder; leave audio_s at 30 and "
                             f"give the transcript's tokens with seq_len / decode_steps")
        return value

    @model_validator(mode="after")
    def _positions(self) -> WhisperParams:
        refuse_prefill_kv_len(self)
        decode = self.phase == "decode"
        need = (self.kv_len if decode else self.seq_len) + max(self.decode_steps, int(decode))  # positions used
        if need > WHISPER_DECODER_POSITIONS:  # seq_len and kv_len alone fit (their field validators): decode_steps
            base, held = ("kv_len", self.kv_len) if decode else ("seq_len", self.seq_len)
            raise invalid_at("decode_steps", self.decode_steps,
                             f"must be at most {WHISPER_DECODER_POSITIONS - held} with {base} {held}: decoder "
                             f"positions up to {need - 1} exceed Whisper's {WHISPER_DECODER_POSITIONS} learned "
                             f"positions")
        return self


def _meta(model: str, p: object, **extra: object) -> dict[str, object]:
    return {"model": model, **p.model_dump(), **extra}  # type: ignore[attr-defined]


def _part_of_model(**whole: object) -> Callable[[Callable[[Any], Graph]], Callable[[Any], Graph]]:
    """Decorate a builder whose graph can be a part of its model: with params other than ``whole`` (the settings
    that build the complete, unsharded model, e.g. ``tensor_parallel=1``) the graph's ``meta["model_params"]`` is
    the params of the graph built with ``whole``: the whole model's count, from the same layer code."""

    def decorate(fn: Callable[[Any], Graph]) -> Callable[[Any], Graph]:
        @functools.wraps(fn)
        def build(p: TransformerParams) -> Graph:
            graph = fn(p)
            update = {k: v for k, v in whole.items() if getattr(p, k) != v}
            if not update:
                return graph
            model_params = fn(p.model_copy(update=update)).params
            return graph.with_meta({**graph.meta, "model_params": model_params})

        return build

    return decorate


def _fused(p: object) -> bool:
    return getattr(p, "attention", "unfused") == "fused"


# ---- BERT (Hugging Face BertModel with pooler) ---------------------------------------------------------------
@dataclass(frozen=True)
class _BertConfig:
    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int = 30522
    max_positions: int = 512
    type_vocab: int = 2
    eps: float = 1e-12


BERT_BASE = _BertConfig(12, 768, 12, 3072)
BERT_LARGE = _BertConfig(24, 1024, 16, 4096)


def _bert(model: str, c: _BertConfig, p: BertParams) -> Graph:
    s, d = p.seq_len, c.hidden
    b = TransformerBuilder(model, {"input": (p.batch, s), "token_type_ids": (p.batch, s)}, dtype=p.dtype or "fp16", tp=p.tensor_parallel)
    b.training = p.mode == "training"  # HF's dropouts (embeddings, attention probabilities, block outputs) then cost
    # BertSelfAttention.forward (eager): ``/ math.sqrt(head_size)``, ``+ attention_mask`` (BertModel builds one
    # always), ``permute(0, 2, 1, 3).contiguous()``: kernels on a GPU preset (TransformerBuilder._eager_scale)
    b.eager_attention, b.eager_padding_mask = "scores", True
    with b.scope("embeddings"):
        x = b.embedding("input", c.vocab, d, name="word_embeddings")
        x = b.add(x, b.positions(s, c.max_positions, d, name="position_embeddings"), name="add_positions")
        x = b.add(x, b.embedding("token_type_ids", c.type_vocab, d, name="token_type_embeddings"),
                  name="add_token_types")
        x = b.layernorm(x, c.eps, name="LayerNorm")
        x = b.dropout(x, p.hidden_dropout, name="dropout")
    for i in range(c.layers):
        with b.scope(f"encoder.layer.{i}"):
            with b.scope("attention"):
                a = b.multihead_attention(x, heads=c.heads, head_dim=d // c.heads, fused=_fused(p),
                                          names=("self.query", "self.key", "self.value", "output.dense"),
                                          dropout=p.attention_dropout)
                a = b.dropout(a, p.hidden_dropout, name="output.dropout")
                x = b.layernorm(b.add(a, x, name="output.add"), c.eps, name="output.LayerNorm")
            h = b.mlp(x, c.ffn, names=("intermediate.dense", "output.dense"), act_name="intermediate.act")
            h = b.dropout(h, p.hidden_dropout, name="output.dropout")
            x = b.layernorm(b.add(h, x, name="output.add"), c.eps, name="output.LayerNorm")
    with b.replicated():  # the pooler and heads run whole on every tensor-parallel chip
        with b.scope("pooler"):
            cls = b.select_token(x, 0, name="cls")
            pooled = b.tanh(b.linear(cls, d, name="dense"), name="activation")
        head, notes = p.resolved_head, []
        if head == "pretraining":  # BertForPreTraining's BertPreTrainingHeads
            with b.scope("cls"):
                m = p.masked_positions or s
                # the masked tokens (NVIDIA's BERT gathers them; a view here: its b·m·h copy is not priced)
                h = b.slice_tokens(x, 0, m, name="masked_tokens") if m < s else x
                with b.scope("predictions"):
                    with b.scope("transform"):
                        h = b.layernorm(b.gelu(b.linear(h, d, name="dense"), name="transform_act_fn"), c.eps,
                                        name="LayerNorm")
                    # decoder: its weight is the word embeddings' (tie_word_embeddings), its bias cls.predictions.bias
                    b.linear_tied(h, Weight("embeddings.word_embeddings.weight", (c.vocab, d)), bias=True,
                                  name="decoder")
                b.linear(pooled, 2, name="seq_relationship")
        elif head == "classification":  # BertForSequenceClassification: dropout (hidden_dropout_prob), classifier
            b.linear(b.dropout(pooled, p.hidden_dropout, name="dropout"), p.num_labels or 2, name="classifier")
        elif p.mode == "training":
            notes.append(f"{model} trains with head pooler: its loss is a cross-entropy over the pooler's {d} tanh "
                         "outputs, no objective BERT is trained with (set workload.head: pretraining, BERT's MLM + "
                         "NSP heads, the training default, or classification)")
    return b.build(_meta(model, p, tokens=p.batch * s, head=head, **({"notes": notes} if notes else {})))


@_part_of_model(tensor_parallel=1)
def bert_base(p: BertParams) -> Graph:
    """BERT-base uncased (HF BertModel + pooler): 12 layers, 768 wide, 12 heads; 109,482,240 params (head
    pretraining: 110,106,428, HF's BertForPreTraining)."""
    return _bert("bert_base", BERT_BASE, p)


@_part_of_model(tensor_parallel=1)
def bert_large(p: BertParams) -> Graph:
    """BERT-large uncased (HF BertModel + pooler): 24 layers, 1024 wide, 16 heads; 335,141,888 params (head
    pretraining: 336,226,108)."""
    return _bert("bert_large", BERT_LARGE, p)


# ---- GPT-2 (Hugging Face GPT2LMHeadModel, 124 M) ---------------------------------------------------------------
@_part_of_model(tensor_parallel=1, phase="prefill")
def gpt2(p: Gpt2Params) -> Graph:
    """GPT-2 small: 12 layers, 768 wide, 12 heads, vocab 50257, 1024 positions, tied LM head; 124,439,808 params."""
    layers, d, heads, vocab, n_pos = p.layers or 12, 768, 12, 50257, 1024
    decode = p.phase == "decode"
    s, past = (1, p.kv_len) if decode else (p.seq_len, 0)
    # the decode step reads and appends to the cache; a forward pass's prefill does not write it (a regression-pinned
    # graph: ``hf`` with a GPT2LMHeadModel config builds a prefill that does), a served one (logits: last) does, as
    # vLLM's attention writes the prompt's K and V (reshape_and_cache) and hf's prefill
    served = p.logits == "last" and p.mode != "training"
    cache = KVCache(past=past) if decode or served else None
    b = TransformerBuilder("gpt2", {"input": (p.batch, s)}, dtype=p.dtype or "fp16", tp=p.tensor_parallel)
    b.training = p.mode == "training"  # HF's dropouts (drop, attn_dropout, resid_dropout, mlp.dropout) then cost
    b.eager_attention = "scores"  # GPT2Attention's eager path: the scores divided by √d, the merged heads copied
    with b.scope("transformer"):
        x = b.embedding("input", vocab, d, name="wte")
        x = b.add(x, b.positions(s, n_pos, d, offset=past, name="wpe"), name="add_positions")
        x = b.dropout(x, p.hidden_dropout, name="drop")
        for i in range(layers):
            with b.scope(f"h.{i}"):
                h = b.layernorm(x, name="ln_1")
                with b.scope("attn"):
                    a = b.multihead_attention(h, heads=heads, head_dim=d // heads, fused_qkv="c_attn",
                                              names=("", "", "", "c_proj"), causal=True, fused=_fused(p),
                                              cache=cache, dropout=p.attention_dropout)
                    a = b.dropout(a, p.hidden_dropout, name="resid_dropout")
                x = b.add(x, a, name="add_attn")
                h = b.layernorm(x, name="ln_2")
                with b.scope("mlp"):  # (b.mlp's linears, with the eager gelu_new between them)
                    m = b.linear(b._tp_in(h), b._tp_hidden(4 * d), name="c_fc")
                    # vLLM's NewGELU is one kernel, a tanh GELU (hf._mlp's, with fused_projections)
                    m = b.activation(m, "gelu", name="act") if p.fused_projections else _eager_gelu_new(b, m, "act")
                    m = b._tp_out(b.linear(m, d, name="c_proj"))
                    m = b.dropout(m, p.hidden_dropout, name="dropout")
                x = b.add(x, m, name="add_mlp")
        x = b.layernorm(x, name="ln_f")
        x = last_positions(b, x, p)  # (hf's transformer.last_token)
    with b.replicated():  # GPT-2's tied head runs whole on every tensor-parallel chip
        b.linear_tied(x, Weight("transformer.wte.weight", (vocab, d)), name="lm_head")
    unread, notes = phase_unread("gpt2", p)
    return b.build(_meta("gpt2", p, tokens=p.batch * s, **(b.kv_meta() if cache else {}), unread_params=unread,
                         **({"notes": notes} if notes else {})))


def _eager_gelu_new(b: TransformerBuilder, x: str, name: str) -> str:
    """transformers' ``gelu_new`` (NewGELUActivation, src/transformers/activations.py) as eager PyTorch runs it:
    ``0.5 * input * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (input + 0.044715 * torch.pow(input, 3.0))))`` is
    plain Python, so each operator is a kernel of its own, launched in Python's evaluation order (left operand
    first). With U the bytes of one tensor of x's shape, each kernel reading its tensor operands and writing its
    output (a Python float is a scalar argument, read by no one):

    =====================  ===================================  =====  ======================================
    op ``{name}.…``        eager kernel                         bytes  autograd saves (derivatives.yaml)
    =====================  ===================================  =====  ======================================
    ``half``               e = 0.5 * x (mul.Tensor, a scalar)   2U     none (the other operand a wrapped scalar)
    ``pow``                p = torch.pow(x, 3.0)                2U     x (pow.Tensor_Scalar: ``self``)
    ``coef``               a = 0.044715 * p                     2U     none
    ``add``                b = x + a (add.Tensor)               3U     none (its backward passes dY to both)
    ``scale``              c = sqrt(2/π) * b                    2U     none
    ``tanh``               t = torch.tanh(c)                    2U     t (``tanh_backward(grad, result)``)
    ``one``                d = 1.0 + t (add, a scalar)          2U     none
    ``{name}``             y = e * d (mul.Tensor)               3U     e and d (``grad * other``, ``grad * self``)
    =====================  ===================================  =====  ======================================

    8 kernels, 18U forward (a fused GELU: one kernel, 2U). The pow and the tanh are ACTIVATIONs (fn "pow",
    attrs ``exponent`` 3; fn "tanh"), the rest ELEMENTWISE "mul" / "add" (one input: by a scalar), 1 flop an
    element but pow's 2 (x·x·x) and tanh's :data:`~.tlayers.ACT_FLOPS`: 12 an element the kernels execute (in
    inference the model counts the one GELU's ``ACT_FLOPS['gelu']`` on the last op and none on the steps, whose
    kernels' FLOPs are attr ``eager_flops``, mapping.aliases.EAGER_FLOPS). The ops carry attrs ``eager`` =
    "gelu_new"; the training pass derives the backward from them (builders/training.py: 11 kernels, 28U). The
    last op keeps the name ``name`` (``mlp.act``), which c_proj reads. Returns its name."""
    shape, mark = b.shape(x), {"eager": "gelu_new"}
    # inference: the steps are eager-only (mapping.aliases: kernels on a GPU preset, in place off one, FLOPs 0: the
    # model counts the GELU's 8 on the last) and the last is the one GELU a compiler runs, marked eager_fn "mul" (on a
    # GPU preset the e * d kernel): an accelerator keeps the fused GELU it ran before the chain (gpt2 on tpu-v4 3.83
    # -> 3.08 ms); on a GPU preset each step's kernel computes its own FLOPs an element (attr eager_flops,
    # mapping.aliases.EAGER_FLOPS: 1 + 2 + 1 + 1 + 1 + 4 + 1, with the last's 1 the chain's 12; probe p254 #3);
    # training differentiates the chain, each step counting its FLOPs
    inference = not b.training

    def step(flops: int) -> dict:
        """A step's FLOPs an element (0 in inference, its eager kernel's ``eager_flops``) and its eager attrs."""
        return {"flops_per_elem": 0, "eager_copy": True, "eager_flops": flops} if inference else {
            "flops_per_elem": flops}

    half = b.vector(OpKind.ELEMENTWISE, [x], shape, "mul", name=f"{name}.half", scalar=0.5, **mark, **step(1))
    cube = b.vector(OpKind.ACTIVATION, [x], shape, "pow", name=f"{name}.pow", exponent=3, **mark, **step(2))
    coef = b.vector(OpKind.ELEMENTWISE, [cube], shape, "mul", name=f"{name}.coef", scalar=0.044715, **mark, **step(1))
    inner = b.vector(OpKind.ELEMENTWISE, [x, coef], shape, "add", name=f"{name}.add", **mark, **step(1))
    scaled = b.vector(OpKind.ELEMENTWISE, [inner], shape, "mul", name=f"{name}.scale", scalar=math.sqrt(2 / math.pi),
                      **mark, **step(1))
    t = b.vector(OpKind.ACTIVATION, [scaled], shape, "tanh", name=f"{name}.tanh", **mark, **step(ACT_FLOPS["tanh"]))
    one = b.vector(OpKind.ELEMENTWISE, [t], shape, "add", name=f"{name}.one", scalar=1.0, **mark, **step(1))
    if not inference:
        return b.vector(OpKind.ELEMENTWISE, [half, one], shape, "mul", 1, name=name, **mark)
    return b.vector(OpKind.ACTIVATION, [half, one], shape, "gelu", ACT_FLOPS["gelu"], name=name, eager_fn="mul",
                    **mark)


# ---- Megatron-LM GPT (any shape, tensor and pipeline parallel) ------------------------------------------------
def gpt_params(p: GptParams) -> int:
    """Parameters of the whole GPT (every layer, unsharded): per layer the fused q/k/v and the output projection
    with biases 4h² + 4h, two LayerNorms 4h, the MLP 2·h·f + f + h; plus the word and position embeddings
    (V + s)·h and the final LayerNorm 2h. With f = 4h this is Narayanan et al. 2021's
    12·l·h²·(1 + 13/(12h) + (V + s)/(12·l·h)), plus 2h."""
    h, f = p.hidden, p.ffn or 4 * p.hidden
    return p.layers * (4 * h * h + 2 * h * f + f + 9 * h) + (p.vocab + p.positions) * h + 2 * h


def gpt(p: GptParams) -> Graph:
    """A Megatron-LM GPT of the given shape, or one pipeline stage of it (see the module docstring)."""
    h, tp, pp, stage = p.hidden, p.tensor_parallel, p.pipeline_parallel, p.pipeline_stage
    decode = p.phase == "decode"
    s, past = (1, p.kv_len) if decode else (p.seq_len, 0)
    cache = KVCache(past=past) if decode else None  # as gpt2: the decode step reads and appends to the cache
    ffn = p.ffn or 4 * h
    per_stage = p.layers // pp
    first, last = stage == 0, stage == pp - 1
    dtype = p.dtype or "fp16"
    sp = p.sequence_parallel and tp > 1
    local = s // p.context_parallel  # context parallelism: this chip's tokens
    inputs = {"input": (p.batch, local) if first else (p.batch, local // tp if sp else local, h)}  # a stage: the shard
    b = TransformerBuilder("gpt", inputs, dtype=dtype, tp=tp)
    # Megatron-LM's FusedScaleMaskSoftmax (--masked-softmax-fusion, on by default): the causal mask is applied inside
    # the softmax kernel (scaled_upper_triang_masked_softmax), no kernel of its own
    b.mask_in_softmax = True
    b.cp, b.cp_comm = p.context_parallel, p.context_parallel_comm
    b.training = p.mode == "training"  # Megatron's dropouts (attention probabilities, hidden states) then cost
    b.sp = sp
    if p.heads % tp:  # before the vocabulary: the shape's own fault first (probe p70 #3)
        raise WorkloadError(f"gpt: tensor_parallel {tp} must divide heads ({p.heads})", key=("tensor_parallel",))
    if p.vocab % tp:
        # Megatron-LM pads the tokenizer's vocabulary to a multiple of --make-vocab-size-divisible-by (128) x TP
        # (_vocab_size_with_padding: GPT-2's 50257 -> 51200 at TP 8); ``vocab`` is the padded rows
        pad = 128 * tp
        raise WorkloadError(f"gpt: tensor_parallel {tp} must divide the vocabulary ({p.vocab}); vocab is the padded "
                            f"rows, as Megatron-LM pads to a multiple of 128 x TP: set vocab {-(-p.vocab // pad) * pad} "
                            f"(--set workload.vocab={-(-p.vocab // pad) * pad})", key=("vocab",), also=("tensor_parallel",))
    word = Weight("language_model.embedding.word_embeddings.weight", (p.vocab // tp, h))
    with b.scope("language_model"):
        x = "input"
        if first:
            with b.scope("embedding"):
                x, _ = b.vocab_embedding(x, p.vocab, h, word.name, name="word_embeddings")
                x = b.add(x, b.positions(local, p.positions, h, offset=past, name="position_embeddings"),
                          name="add_positions")
                x = b.sequence_scatter(x, name="sequence_scatter")  # sequence parallelism: this chip's tokens
                x = b.dropout(x, p.hidden_dropout, name="embedding_dropout")
        with b.scope("encoder"):
            for i in range(stage * per_stage, (stage + 1) * per_stage):
                with b.scope(f"layers.{i}"):
                    y = b.layernorm(x, name="input_layernorm")
                    with b.scope("self_attention"):
                        a = b.multihead_attention(y, heads=p.heads, head_dim=h // p.heads,
                                                  fused_qkv="query_key_value", names=("", "", "", "dense"),
                                                  causal=True, fused=_fused(p), cache=cache,
                                                  dropout=p.attention_dropout)
                    # Megatron's bias-dropout-add: the output projection's bias rides on its GEMM, then dropout,
                    # then the residual add
                    a = b.dropout(a, p.hidden_dropout, name="attention_output_dropout")
                    x = b.add(x, a, name="add_attention")
                    y = b.layernorm(x, name="post_attention_layernorm")
                    with b.scope("mlp"):
                        m = b.mlp(y, ffn, "gelu", names=("dense_h_to_4h", "dense_4h_to_h"))
                    m = b.dropout(m, p.hidden_dropout, name="mlp_output_dropout")
                    x = b.add(x, m, name="add_mlp")
            if last:
                x = b.layernorm(x, name="final_layernorm")
    if last:
        # sequence parallelism: the head's tokens gathered; inference gathers the vocabulary shards' logits
        b.lm_head(b._tp_in(x), p.vocab, name="output_layer", tied=word, gather=p.mode != "training")
    unread, notes = phase_unread("gpt", p, reads_seq_len=True)  # a decode's position table: seq_len rows
    meta = _meta("gpt", p, ffn=ffn, tokens=p.batch * s, stage_layers=per_stage, **(b.kv_meta() if cache else {}),
                 unread_params=unread, **({"notes": notes} if notes else {}))
    if tp > 1 or pp > 1:  # a shard or a stage: the whole model's count beside the graph's own
        meta["model_params"] = gpt_params(p)
    if not first:
        meta["grad_inputs"] = ["input"]
    if not last:  # its output's gradient comes back from the next stage: no loss here (Megatron's
        # backward_step(input_tensor, output_tensor, output_tensor_grad) on a non-last stage)
        meta["grad_outputs"] = [x]
    return b.build(meta)


# ---- ViT-B/16 (torchvision) ----------------------------------------------------------------------------------
@_part_of_model(tensor_parallel=1)
def vit_b_16(p: ViTParams) -> Graph:
    """ViT-B/16 (torchvision): 12 pre-LN layers, 768 wide, 12 heads, MLP 3072; 86,567,656 params at 224."""
    layers, d, heads, patch = 12, 768, 12, 16
    g = p.image_size // patch
    n = g * g + 1
    b = TransformerBuilder("vit_b_16", {"input": (p.batch, 3, p.image_size, p.image_size)}, dtype=p.dtype or "fp16",
                           tp=p.tensor_parallel, sdpa=True)
    with b.replicated():  # the patch embedding and the head run whole on every tensor-parallel chip
        x = b.conv2d("input", d, patch, stride=patch, name="conv_proj")
    x = b.view(x, (p.batch, g * g, d), "flatten_transpose", name="patches")
    cls = b.table_rows((p.batch, 1, d), Weight("class_token", (1, 1, d)), name="class_token")
    # VisionTransformer.forward's torch.cat([batch_class_token, x], dim=1): a copy kernel on a GPU preset
    x = b.concat([cls, x], dim=1, name="cat_class_token", eager_copy=True)
    with b.scope("encoder"):
        x = b.add_param(x, Weight("encoder.pos_embedding", (1, n, d)), name="add_pos_embedding")
        for i in range(layers):
            with b.scope(f"layers.encoder_layer_{i}"):
                h = b.layernorm(x, 1e-6, name="ln_1")
                with b.scope("self_attention"):
                    a = b.multihead_attention(h, heads=heads, head_dim=d // heads, fused_qkv="in_proj",
                                              names=("", "", "", "out_proj"), fused=_fused(p))
                x = b.add(x, a, name="add_attn")
                h = b.layernorm(x, 1e-6, name="ln_2")
                with b.scope("mlp"):
                    m = b.mlp(h, 4 * d, "gelu", names=("0", "3"), act_name="1")
                x = b.add(x, m, name="add_mlp")
        x = b.layernorm(x, 1e-6, name="ln")
    x = b.select_token(x, 0, name="cls")
    with b.replicated():
        b.linear(x, p.num_classes, name="heads.head")
    return b.build(_meta("vit_b_16", p))


# ---- Transformer base (Vaswani et al. 2017) -------------------------------------------------------------------
@_part_of_model(tensor_parallel=1)
def transformer_base(p: TransformerBaseParams) -> Graph:
    """"Attention Is All You Need" base: 6+6 post-LN layers, d_model 512, 8 heads, d_ff 2048, shared 37000 vocab.
    ``phase: prefill`` is the teacher-forced pass (in inference filling the self- and cross-attention caches);
    ``phase: decode`` one cached decoder step (input ``target`` (batch, 1)), the encoder's and the cross-attention
    K/V projections' weights held on an ``unused_params`` view ``decoder.held_weights`` (as Whisper's)."""
    layers, d, heads, ffn, vocab = TRANSFORMER_BASE
    decode, infer = p.phase == "decode", p.mode != "training"
    s, past = (1, p.kv_len) if decode else (p.tgt_len, 0)  # decoder tokens of this pass, tokens cached before
    inputs = {"target": (p.batch, 1)} if decode else {"input": (p.batch, p.src_len), "target": (p.batch, s)}
    b = TransformerBuilder("transformer_base", inputs, dtype=p.dtype or "fp16", tp=p.tensor_parallel)
    shared = Weight("shared_embedding.weight", (vocab, d))
    hd, fused = d // heads, _fused(p)
    memory = None if decode else _transformer_base_encoder(b, "input", fused)
    with b.scope("decoder"):
        y = b.embedding("target", vocab, d, weight_name=shared.name, name="embed")
        if decode:  # the encoder's and the cross K/V projections' weights stay resident between steps: held, unread
            y = b.unused_params(y, _transformer_base_held_weights(p), name="held_weights")
        y = b.add_sinusoidal(y, scale=math.sqrt(d), name="add_positions")  # row kv_len in decode: the same work
        for i in range(layers):
            with b.scope(f"layers.{i}"):
                with b.scope("self_attn"):
                    a = b.multihead_attention(y, heads=heads, head_dim=hd, causal=True, fused=fused,
                                              cache=KVCache(past=past) if infer else None)
                y = b.layernorm(b.add(y, a, name="add_self_attn"), name="norm1")
                with b.scope("cross_attn"):
                    cross = KVCache(past=p.src_len, static=True) if decode else KVCache() if infer else None
                    a = b.multihead_attention(y, memory, heads=heads, head_dim=hd, fused=fused, cache=cross)
                y = b.layernorm(b.add(y, a, name="add_cross_attn"), name="norm2")
                with b.scope("ffn"):
                    f = b.mlp(y, ffn, "relu", names=("linear1", "linear2"))
                y = b.layernorm(b.add(y, f, name="add_ffn"), name="norm3")
        y = b.layernorm(y, name="norm")  # torch.nn.TransformerDecoder's final norm
    with b.replicated():  # the tied generator runs whole on every tensor-parallel chip
        b.linear_tied(y, shared, name="generator")
    return b.build(_meta("transformer_base", p, tokens=p.batch * s, **(b.kv_meta() if infer else {})))


TRANSFORMER_BASE = (6, 512, 8, 2048, 37000)  # layers, d_model, heads, d_ff, vocab (Vaswani et al. 2017, Table 3)


def _transformer_base_encoder(b: TransformerBuilder, ids: str, fused: bool) -> str:
    """transformer_base's encoder (``encoder``) over the (batch, src_len) token ids ``ids``: the shared embedding,
    sinusoidal positions, 6 post-LN layers and the final LayerNorm. Returns its (batch, src_len, 512) output."""
    layers, d, heads, ffn, vocab = TRANSFORMER_BASE
    with b.scope("encoder"):
        x = b.embedding(ids, vocab, d, weight_name="shared_embedding.weight", name="embed")
        x = b.add_sinusoidal(x, scale=math.sqrt(d), name="add_positions")
        for i in range(layers):
            with b.scope(f"layers.{i}"):
                with b.scope("self_attn"):
                    a = b.multihead_attention(x, heads=heads, head_dim=d // heads, fused=fused)
                x = b.layernorm(b.add(x, a, name="add_attn"), name="norm1")
                with b.scope("ffn"):
                    f = b.mlp(x, ffn, "relu", names=("linear1", "linear2"))
                x = b.layernorm(b.add(x, f, name="add_ffn"), name="norm2")
        return b.layernorm(x, name="norm")  # torch.nn.TransformerEncoder's final norm (nn.Transformer sets it)


def _transformer_base_held_weights(p: TransformerBaseParams) -> list[Weight]:
    """The parameter tensors a transformer_base decode step holds but does not read (this chip's shard under tensor
    parallelism), as the prefill names them: the encoder's (but the shared embedding, which the step reads) and each
    decoder layer's cross-attention K and V projections."""
    layers, d, heads, _, _ = TRANSFORMER_BASE
    b = TransformerBuilder("transformer_base", {"input": (1, 1)}, dtype=p.dtype or "fp16", tp=p.tensor_parallel)
    memory = _transformer_base_encoder(b, "input", False)
    for i in range(layers):
        with b.scope(f"decoder.layers.{i}.cross_attn"):
            b.linear(memory, heads // p.tensor_parallel * (d // heads), name="k_proj")
            b.linear(memory, heads // p.tensor_parallel * (d // heads), name="v_proj")
    return [w for op in b.build().ops for w in op.weights if w.role == "param" and w.name != "shared_embedding.weight"]


# ---- LLaMA-2 (Hugging Face LlamaForCausalLM) -------------------------------------------------------------------
@dataclass(frozen=True)
class _LlamaConfig:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int = 32000
    eps: float = 1e-5
    context: int = 4096  # Touvron et al. 2023 (Llama 2): a 4k context; HF config max_position_embeddings 4096


def phase_unread(model: str, p: Any, *, reads_seq_len: bool = False) -> tuple[list[str], list[str]]:
    """The length key a decoder-only LM's pass does not read, and a note where its value says the user expected it
    to be (probe p198 #1: ``kv_len: 28672`` in a prefill and ``seq_len: 32768`` in a decode ran as if unset): a
    prefill runs ``seq_len`` tokens from position 0 over an empty cache, so ``kv_len`` is unread (a serving run's
    decode steps start at kv_len = seq_len; a prefill over cached tokens, chunked prefill, is ``accelsim serve``'s);
    a decode step runs 1 token after ``kv_len`` cached ones, so ``seq_len`` is unread (``reads_seq_len``: the
    builder reads it anyway, Megatron GPT's position table of seq_len rows). Returns (report.json's
    ``workload.unread`` keys, notes). The note only where the value is neither the key's default nor one the pass
    agrees with: a prefill's kv_len equal to seq_len (where decode steps start), a decode's seq_len up to kv_len
    + 1 (the prompt a cache of kv_len tokens holds: a serving run's steps after its prefill)."""
    default = type(p).model_fields
    if p.phase == "decode":
        if reads_seq_len:
            return [], []
        unread = p.seq_len != default["seq_len"].default and p.seq_len > p.kv_len + 1
        return ["seq_len"], ([f"{model}: seq_len {p.seq_len:,} is not read by a decode step (workload.unread): it "
                              f"runs 1 new token per sequence after kv_len {p.kv_len:,} cached tokens; set kv_len "
                              f"for the cache's length"] if unread else [])
    unread = p.kv_len not in (default["kv_len"].default, p.seq_len)
    return ["kv_len"], ([f"{model}: kv_len {p.kv_len:,} is not read by a prefill (workload.unread): it runs seq_len "
                         f"{p.seq_len:,} tokens from position 0 over an empty cache (decode_steps start at kv_len = "
                         f"seq_len); set phase: decode for one step after kv_len cached tokens (a prefill chunk over "
                         f"a cache is modelled by accelsim serve's chunked prefill)"] if unread else [])


def context_notes(model: str, positions: int, context: int | None, scaled: str = "") -> list[str]:
    """A note when a pass reaches positions beyond the model's context: the config's max_position_embeddings, or
    where its RoPE scaling extends it the context that gives (``scaled`` says how: :func:`.hf.scaled_context`,
    as vLLM derives max_model_len). RoPE extrapolates, but the model was not trained there (RoPE scaling changes
    no op, so the costs are the same either way)."""
    if not context or positions <= context:
        return []
    how = f" scaled by its rope_scaling ({scaled})" if scaled else ""
    return [f"{model}: positions up to {positions:,} exceed the model's {context:,}-token context "
            f"(max_position_embeddings){how}: the costs are those of the longer sequence, but the model was not "
            f"trained on it"]


LLAMA2 = {
    "llama2_7b": _LlamaConfig(32, 4096, 32, 32, 11008),
    "llama2_13b": _LlamaConfig(40, 5120, 40, 40, 13824),
    "llama2_70b": _LlamaConfig(80, 8192, 64, 8, 28672),
}
"""Hugging Face configs of meta-llama/Llama-2-{7b,13b,70b}-hf."""


def _llama(model: str, p: LlamaParams) -> Graph:
    c = LLAMA2[model]
    decode = p.phase == "decode"
    q_len = 1 if decode else p.seq_len
    # a training pass over a prompt fills no KV cache (a decode step still reads its cache)
    cache = None if p.mode == "training" and not decode else KVCache(past=p.kv_len if decode else 0)
    b = TransformerBuilder(model, {"input": (p.batch, q_len // p.context_parallel)}, dtype=p.dtype or "fp16",
                           tp=p.tensor_parallel)
    b.sp = p.sequence_parallel
    b.cp, b.cp_comm = p.context_parallel, p.context_parallel_comm  # context parallelism: this chip's tokens
    b.rope_kernel = p.rope_kernel
    # transformers' LlamaAttention (eager): ``softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)``
    b.softmax_dtype = EAGER_SOFTMAX_DTYPE
    b.repeat_kv = True  # ``repeat_kv(key_states, num_key_value_groups)``: Llama-2-70B's 8 KV heads copied to 64
    b.eager_attention = "scores"  # eager_attention_forward's ``* scaling`` and ``transpose(1, 2).contiguous()``
    b.training = p.mode == "training"  # (LLaMA has no dropout) the head's input gradient is all-reduced (lm_head)
    hd = c.hidden // c.heads
    with b.scope("model"):
        # sequence parallelism: the look-ups reduce-scattered to this chip's tokens
        x, _ = b.vocab_embedding("input", c.vocab, c.hidden, "model.embed_tokens.weight", name="embed_tokens",
                                 scatter=True)
        for i in range(p.layers or c.layers):
            with b.scope(f"layers.{i}"):
                h = b.rmsnorm(x, c.eps, name="input_layernorm")
                with b.scope("self_attn"):
                    a = b.multihead_attention(h, heads=c.heads, kv_heads=c.kv_heads, head_dim=hd, bias=False,
                                              fused_qkv="qkv_proj" if p.fused_projections else None,
                                              rope=True, causal=True, fused=_fused(p), cache=cache)
                x = b.add(x, a, name="add_attn")
                h = b.rmsnorm(x, c.eps, name="post_attention_layernorm")
                with b.scope("mlp"):
                    m = b.swiglu_mlp(h, c.ffn, fused=p.fused_projections)
                x = b.add(x, m, name="add_mlp")
        x = b.rmsnorm(x, c.eps, name="norm")
    # sequence parallelism: the tokens gathered
    x = last_positions(b, b._tp_in(x), p)
    b.lm_head(x, c.vocab, name="lm_head", gather=p.mode != "training")
    unread, notes = phase_unread(model, p)
    notes += context_notes(model, (p.kv_len + 1) if decode else p.seq_len, c.context)
    # a weight-only dtype leaves the head in the compute dtype, as GPTQ / AWQ checkpoints keep lm_head (hf's too)
    keep = {"unquantised": ["lm_head"]} if weight_only(p) else {}
    return with_precision(b.build(_meta(model, p, phase=p.phase, tokens=p.batch, **b.kv_meta(), **keep,
                                        unread_params=unread, **({"notes": notes} if notes else {}))), p)


def last_positions(b: TransformerBuilder, x: str, p: LlamaParams | Gpt2Params) -> str:
    """The hidden states the LM head reads: every position, or with ``logits: last`` in inference each sequence's
    last (a slice view, ``last_token``: the head's GEMM has one row a sequence, as vLLM computes logits only where
    it samples)."""
    length = b.shape(x)[1]
    if p.logits != "last" or p.mode == "training" or length == 1:
        return x
    return b.slice_tokens(x, length - 1, 1, name="last_token")


def identical_layers(model: str, p: TransformerParams) -> tuple[int, int, int] | None:
    """(0, n, 1): workload ``model``'s graph is n identical layers (the same ops, shapes and names within the layer),
    all set by its ``layers`` param, after no distinct one, a unit of 1 layer (as :func:`accelsim.builders.hf.
    identical_layers`): ``gpt``, ``gpt2`` and the LLaMA-2 presets; None for the others."""
    if model == "gpt":
        return 0, int(p.layers), 1  # type: ignore[attr-defined]
    if model == "gpt2" or model in LLAMA2:
        return 0, getattr(p, "layers", None) or (12 if model == "gpt2" else LLAMA2[model].layers), 1
    return None


@_part_of_model(tensor_parallel=1)
def llama2_7b(p: LlamaParams) -> Graph:
    """LLaMA-2 7B: 32 layers, 4096 wide, 32 heads, SwiGLU 11008; 6,738,415,616 params."""
    return _llama("llama2_7b", p)


@_part_of_model(tensor_parallel=1)
def llama2_13b(p: LlamaParams) -> Graph:
    """LLaMA-2 13B: 40 layers, 5120 wide, 40 heads, SwiGLU 13824; 13,015,864,320 params."""
    return _llama("llama2_13b", p)


@_part_of_model(tensor_parallel=1)
def llama2_70b(p: LlamaParams) -> Graph:
    """LLaMA-2 70B: 80 layers, 8192 wide, 64 heads with 8 KV heads (GQA), SwiGLU 28672; 68,976,648,192 params."""
    return _llama("llama2_70b", p)


# ---- CLIP ViT-B/32 and ViT-L/14 (Hugging Face CLIPModel) ------------------------------------------------------
def clip_embeddings(b: TransformerBuilder, pixels: str, batch: int, d: int, patch: int, grid: int) -> str:
    """CLIP's vision embeddings (``embeddings``: a bias-free patch conv, the class token first, learned positions for
    the grid² + 1 tokens): (batch, grid² + 1, d)."""
    n = grid * grid + 1
    with b.scope("embeddings"):
        with b.replicated():  # every tensor-parallel chip embeds the whole image
            x = b.conv2d(pixels, d, patch, stride=patch, bias=False, name="patch_embedding")
        x = b.view(x, (batch, grid * grid, d), "flatten_transpose", name="patches")
        cls = b.table_rows((batch, 1, d), Weight(f"{b._prefix()}.class_embedding", (d,)), name="class_embedding")
        # CLIPVisionEmbeddings.forward's torch.cat([class_embeds, patch_embeds], dim=1): a copy kernel on a GPU preset
        x = b.concat([cls, x], dim=1, name="cat_class", eager_copy=True)
        return b.add(x, b.positions(n, n, d, name="position_embedding"), name="add_positions")


def clip_encoder(b: TransformerBuilder, x: str, layers: int, heads: int, causal: bool, fused: bool, *,
                 ffn: int = 0, act: str = "quick_gelu", eps: float = 1e-5) -> str:
    """The pre-LN encoder layers of Hugging Face's CLIP and SigLIP (``encoder.layers.{i}``: layer_norm1, self_attn
    with biased q/k/v/out_proj, layer_norm2, mlp fc1 → ``act`` → fc2 of width ``ffn``, default 4 × the width)."""
    d = b.shape(x)[-1]
    for i in range(layers):
        with b.scope(f"encoder.layers.{i}"):
            h = b.layernorm(x, eps, name="layer_norm1")
            with b.scope("self_attn"):
                a = b.multihead_attention(h, heads=heads, head_dim=d // heads,
                                          names=("q_proj", "k_proj", "v_proj", "out_proj"), causal=causal,
                                          fused=fused)
            x = b.add(x, a, name="add_attn")
            h = b.layernorm(x, eps, name="layer_norm2")
            with b.scope("mlp"):
                m = b.mlp(h, ffn or 4 * d, act, names=("fc1", "fc2"))
            x = b.add(x, m, name="add_mlp")
    return x


def clip_vision_tower(b: TransformerBuilder, pixels: str, batch: int, d: int, layers: int, heads: int, patch: int,
                      grid: int, fused: bool) -> str:
    """transformers' CLIPVisionTransformer on the (batch, 3, grid·patch, grid·patch) ``pixels``, in the scope it is
    called in: :func:`clip_embeddings`, ``pre_layrnorm``, ``layers`` encoder layers (:func:`clip_encoder`, not
    causal), the class token's ``post_layernorm``: the pooled output (batch, d). CLIPModel's vision tower and the
    safety checker's CLIPVisionModel (:mod:`.sd`) both run it."""
    x = clip_embeddings(b, pixels, batch, d, patch, grid)
    x = b.layernorm(x, name="pre_layrnorm")
    x = clip_encoder(b, x, layers, heads, causal=False, fused=fused)
    return b.layernorm(b.select_token(x, 0, name="cls"), name="post_layernorm")


@dataclass(frozen=True)
class _ClipConfig:
    """A CLIP size as its Hugging Face config.json gives it: the vision tower (``vision_config``: hidden_size,
    num_hidden_layers, num_attention_heads, patch_size), the text tower (``text_config``) and ``projection_dim``;
    the vocabulary (49408) and the 77 text positions are the same in every size."""

    d_v: int
    layers_v: int
    heads_v: int
    patch: int
    d_t: int
    layers_t: int
    heads_t: int
    embed: int


CLIP = {
    "clip_vit_b32": _ClipConfig(768, 12, 12, 32, 512, 12, 8, 512),  # openai/clip-vit-base-patch32 config.json
    "clip_vit_l14": _ClipConfig(1024, 24, 16, 14, 768, 12, 12, 768),  # openai/clip-vit-large-patch14 config.json
}


@_part_of_model(tensor_parallel=1)
def clip_vit_b32(p: ClipParams) -> Graph:
    """CLIP ViT-B/32 (openai/clip-vit-base-patch32): vision 12×768, text 12×512, embed 512; 151,277,313 params."""
    return _clip("clip_vit_b32", p)


@_part_of_model(tensor_parallel=1)
def clip_vit_l14(p: ClipL14Params) -> Graph:
    """CLIP ViT-L/14 (openai/clip-vit-large-patch14): vision 24×1024, text 12×768, embed 768; 427,616,513 params."""
    return _clip("clip_vit_l14", p)


def _clip(model: str, p: ClipParams | ClipL14Params) -> Graph:
    c, vocab, text_pos = CLIP[model], 49408, 77
    g = p.image_size // c.patch
    b = TransformerBuilder(model, {"input": (p.batch, 3, p.image_size, p.image_size),
                                   "input_ids": (p.batch, p.seq_len)}, dtype=p.dtype or "fp16",
                           tp=p.tensor_parallel, sdpa=True)
    b.eager_attention = "scores"  # unfused: attn_implementation "eager", eager_attention_forward: ``* scaling``, the merge copied
    b.eager_quick_gelu = True  # CLIPMLP's QuickGELUActivation: three eager kernels (TransformerBuilder.quick_gelu)
    fused = _fused(p)
    with b.scope("vision_model"):
        pooled = clip_vision_tower(b, "input", p.batch, c.d_v, c.layers_v, c.heads_v, c.patch, g, fused)
    with b.replicated():  # the projections and the logits run whole on every tensor-parallel chip
        image = b.linear(pooled, c.embed, bias=False, name="visual_projection")
    with b.scope("text_model"):
        with b.scope("embeddings"):
            t = b.embedding("input_ids", vocab, c.d_t, name="token_embedding")
            t = b.add(t, b.positions(p.seq_len, text_pos, c.d_t, name="position_embedding"), name="add_positions")
        t = clip_encoder(b, t, c.layers_t, c.heads_t, causal=True, fused=fused)
        t = b.layernorm(t, name="final_layer_norm")
        pooled = b.select_token(t, p.seq_len - 1, name="eos")
    with b.replicated():
        text = b.linear(pooled, c.embed, bias=False, name="text_projection")
        image, text = b.l2norm(image, name="image_norm"), b.l2norm(text, name="text_norm")
        logits = b.matmul([image, text], (p.batch, p.batch), Gemm(m=p.batch, n=p.batch, k=c.embed),
                          name="logits_per_image", transpose_b=True)
    b.add_param(logits, Weight("logit_scale", (1,)), fn="mul", name="scale_logits")
    return b.build(_meta(model, p))


# ---- Segment Anything (segment-anything's Sam) ----------------------------------------------------------------
@dataclass(frozen=True)
class _SamConfig:
    depth: int
    dim: int
    heads: int
    global_attn: tuple[int, ...]


SAM = {
    "sam_vit_b": _SamConfig(12, 768, 12, (2, 5, 8, 11)),
    "sam_vit_h": _SamConfig(32, 1280, 16, (7, 15, 23, 31)),
}
"""segment_anything.build_sam: build_sam_vit_b / build_sam_vit_h."""

_SAM_IMG, _SAM_PATCH, _SAM_WINDOW, _SAM_PROMPT = 1024, 16, 14, 256


def _sam_block(b: TransformerBuilder, prefix: str, x: str, dim: int, heads: int, window: int, fused: bool) -> str:
    """ImageEncoderViT's Block ``prefix`` on (B, 64, 64, C): [window partition] attention with rel-pos, MLP."""
    bsz, gh, gw, _ = b.shape(x)
    hd = dim // heads
    h = b.layernorm(x, 1e-6, name="norm1")
    if window:
        ph, pw = -gh % window, -gw % window
        nh, nw = (gh + ph) // window, (gw + pw) // window
        size, tokens_b = window, bsz * nh * nw
        h = b.view(h, (tokens_b, window * window, dim), "window_partition", name="window_partition", strict=False,
                   window=window, pad=(ph, pw))
    else:
        size, tokens_b = gh, bsz
        h = b.view(h, (bsz, gh * gw, dim), "flatten", name="flatten")
    with b.scope("attn"):
        qkv = b.linear(h, 3 * dim, name="qkv")
        q = b.split_heads(qkv, heads, hd, 0, name="q")
        k = b.split_heads(qkv, heads, hd, dim, name="k")
        v = b.split_heads(qkv, heads, hd, 2 * dim, name="v")
        rel = []
        for axis in ("h", "w"):
            # einsum("bhwc,{h|w}kc->bhw k"): per row (or column) of the window, a (B'·size, hd)·(hd, size) GEMM,
            # B' = windows·heads; the gathered Rh/Rw come from the (2·size − 1, hd) rel_pos parameter
            gemm = Gemm(m=tokens_b * heads * size, n=size, k=hd, count=size)
            table = Weight(f"{prefix}.attn.rel_pos_{axis}", (2 * size - 1, hd))
            rel.append(b.matmul([q], (tokens_b, heads, size, size, size), gemm, [table], name=f"rel_{axis}",
                                rel_pos=axis))
        ctx = b.attention(q, k, v, fused=fused, extra=rel)
        a = b.linear(b.merge_heads(ctx, name="merge"), dim, name="proj")
    if window:
        a = b.view(a, (bsz, gh, gw, dim), "window_unpartition", name="window_unpartition", strict=False,
                   window=window, pad=(ph, pw))
    else:
        a = b.view(a, (bsz, gh, gw, dim), "unflatten", name="unflatten")
    x = b.add(x, a, name="add_attn")
    h = b.layernorm(x, 1e-6, name="norm2")
    with b.scope("mlp"):
        m = b.mlp(h, 4 * dim, "gelu", names=("lin1", "lin2"))
    return b.add(x, m, name="add_mlp")


def _sam_attention(b: TransformerBuilder, scope: str, q: str, k: str, v: str, downsample: int,
                   fused: bool) -> str:
    """The mask decoder's Attention: q/k/v/out projections with bias, internal width 256 / downsample, 8 heads."""
    inner = _SAM_PROMPT // downsample
    with b.scope(scope):
        return b.multihead_attention(q, k, v, heads=8, head_dim=inner // 8, out_features=_SAM_PROMPT,
                                     names=("q_proj", "k_proj", "v_proj", "out_proj"), fused=fused)


def _sam_mlp(b: TransformerBuilder, x: str, hidden: int, out: int, layers: int = 3) -> str:
    """segment-anything's MLP: ``layers`` linears with ReLU between."""
    for i in range(layers):
        x = b.linear(x, hidden if i < layers - 1 else out, name=f"layers.{i}")
        if i < layers - 1:
            x = b.relu(x, name=f"relu{i}")
    return x


def _sam_image_encoder(b: TransformerBuilder, c: _SamConfig, p: SamParams, grid: int, fused: bool) -> str:
    """The ViT image encoder and its neck: the (batch, 256, 64, 64) image embedding."""
    with b.scope("image_encoder"):
        x = b.conv2d("input", c.dim, _SAM_PATCH, stride=_SAM_PATCH, name="patch_embed.proj")
        x = b.view(x, (p.batch, grid, grid, c.dim), "permute", name="patch_embed.permute")
        x = b.add_param(x, Weight("image_encoder.pos_embed", (1, grid, grid, c.dim)), name="add_pos_embed")
        for i in range(c.depth):
            with b.scope(f"blocks.{i}"):
                x = _sam_block(b, f"image_encoder.blocks.{i}", x, c.dim, c.heads,
                               0 if i in c.global_attn else _SAM_WINDOW, fused)
        x = b.view(x, (p.batch, c.dim, grid, grid), "permute", name="neck.permute")
        with b.scope("neck"):
            x = b.conv2d(x, _SAM_PROMPT, 1, bias=False, name="0")
            x = b.layernorm(x, 1e-6, dim=1, name="1")
            x = b.conv2d(x, _SAM_PROMPT, 3, padding=1, bias=False, name="2")
            return b.layernorm(x, 1e-6, dim=1, name="3")


def _sam_prompt_encoder(b: TransformerBuilder, p: SamParams, grid: int, npts: int) -> tuple[str, str, str]:
    """The prompt encoder: (sparse point embeddings, dense mask embedding, the image positional encoding)."""
    e = _SAM_PROMPT
    unused: list[Weight] = []
    with b.scope("prompt_encoder"):
        # PositionEmbeddingRandom: coords (normalised) @ a (2, 128) Gaussian buffer, ×2π, sin and cos → 256.
        # Per output element: 2 MACs (4 flops) + scale + sin/cos ≈ 9 flops; the buffer is not a parameter.
        pts = b.vector(OpKind.ELEMENTWISE, ["points"], (p.batch, npts, e), "fourier_pe", 9, name="pe_points")
        tables = [*(Weight(f"prompt_encoder.point_embeddings.{j}.weight", (1, e)) for j in range(4)),
                  Weight("prompt_encoder.not_a_point_embed.weight", (1, e))]
        labels = b.gather("point_labels", tables, e, name="point_embeddings")
        sparse = b.add(pts, labels, name="sparse_embeddings")
        image_pe = b.vector(OpKind.ELEMENTWISE, [], (1, e, grid, grid), "fourier_pe", 9, name="pe_dense")
        no_mask = Weight("prompt_encoder.no_mask_embed.weight", (1, e))
        # Conv2d(1, 4, 2, 2), LayerNorm2d(4), GELU, Conv2d(4, 16, 2, 2), LayerNorm2d(16), GELU, Conv2d(16, 256, 1)
        down = [("mask_downscaling.0", (4, 1, 2, 2)), ("mask_downscaling.1", (4,)),
                ("mask_downscaling.3", (16, 4, 2, 2)), ("mask_downscaling.4", (16,)),
                ("mask_downscaling.6", (e, 16, 1, 1))]
        if p.mask_prompt:
            with b.scope("mask_downscaling"):
                m = b.conv2d("mask_input", 4, 2, stride=2, name="0")
                m = b.gelu(b.layernorm(m, 1e-6, dim=1, name="1"), name="2")
                m = b.conv2d(m, 16, 2, stride=2, name="3")
                m = b.gelu(b.layernorm(m, 1e-6, dim=1, name="4"), name="5")
                dense = b.conv2d(m, e, 1, name="6")
            unused.append(no_mask)
        else:
            dense = b.table_rows((p.batch, e, 1, 1), no_mask, name="no_mask_embed")
            for n, shape in down:
                unused.append(Weight(f"prompt_encoder.{n}.weight", shape))
                unused.append(Weight(f"prompt_encoder.{n}.bias", (shape[0],)))
        # the branch this pass does not take: its params belong to the model but are not read (an identity view)
        dense = b.unused_params(dense, unused, name="unused_params")
    return sparse, dense, image_pe


def _sam_two_way(b: TransformerBuilder, tokens: str, keys: str, key_pe: str, fused: bool) -> tuple[str, str]:
    """The mask decoder's two-way transformer: 2 layers and the final token-to-image attention; (queries, keys)."""
    queries, query_pe = tokens, tokens
    with b.scope("transformer"):
        for i in range(2):
            with b.scope(f"layers.{i}"):
                if i == 0:  # skip_first_layer_pe: no PE and no residual
                    queries = _sam_attention(b, "self_attn", queries, queries, queries, 1, fused)
                else:
                    q = b.add(queries, query_pe, name="q_pe")
                    a = _sam_attention(b, "self_attn", q, q, queries, 1, fused)
                    queries = b.add(queries, a, name="add_self_attn")
                queries = b.layernorm(queries, name="norm1")
                q = b.add(queries, query_pe, name="q_pe_t2i")
                k = b.add(keys, key_pe, name="k_pe_t2i")
                a = _sam_attention(b, "cross_attn_token_to_image", q, k, keys, 2, fused)
                queries = b.layernorm(b.add(queries, a, name="add_t2i"), name="norm2")
                with b.scope("mlp"):
                    m = b.mlp(queries, 2048, "relu", names=("lin1", "lin2"))
                queries = b.layernorm(b.add(queries, m, name="add_mlp"), name="norm3")
                q = b.add(queries, query_pe, name="q_pe_i2t")
                k = b.add(keys, key_pe, name="k_pe_i2t")
                a = _sam_attention(b, "cross_attn_image_to_token", k, q, queries, 2, fused)
                keys = b.layernorm(b.add(keys, a, name="add_i2t"), name="norm4")
        q = b.add(queries, query_pe, name="q_pe_final")
        k = b.add(keys, key_pe, name="k_pe_final")
        a = _sam_attention(b, "final_attn_token_to_image", q, k, keys, 2, fused)
        queries = b.layernorm(b.add(queries, a, name="add_final"), name="norm_final_attn")
    return queries, keys


def _sam_mask_decoder(b: TransformerBuilder, p: SamParams, image_embedding: str, prompts: tuple[str, str, str],
                      grid: int, fused: bool) -> None:
    """The mask decoder: tokens through the two-way transformer, upscaled masks and IoU predictions."""
    e = _SAM_PROMPT
    sparse, dense, image_pe = prompts
    with b.scope("mask_decoder"):
        iou = b.table_rows((p.batch, 1, e), Weight("mask_decoder.iou_token.weight", (1, e)), name="iou_token")
        masks_t = b.table_rows((p.batch, 4, e), Weight("mask_decoder.mask_tokens.weight", (4, e)),
                               name="mask_tokens")
        # predict_masks' torch.cat((output_tokens, sparse_prompt_embeddings), dim=1) (its first cat, of the 5 × 256
        # token weights, is not counted)
        tokens = b.concat([iou, masks_t, sparse], dim=1, name="tokens", eager_copy=True)
        src = b.add(image_embedding, dense, name="add_dense")
        keys = b.view(src, (p.batch, grid * grid, e), "flatten_transpose", name="src_tokens")
        key_pe = b.view(image_pe, (1, grid * grid, e), "flatten_transpose", name="pos_tokens")
        queries, keys = _sam_two_way(b, tokens, keys, key_pe, fused)
        iou_out = b.select_token(queries, 0, name="iou_token_out")
        src = b.view(keys, (p.batch, e, grid, grid), "transpose_view", name="src_image")
        with b.scope("output_upscaling"):
            u = b.conv_transpose2d(src, e // 4, 2, stride=2, name="0")
            u = b.gelu(b.layernorm(u, 1e-6, dim=1, name="1"), name="2")
            u = b.gelu(b.conv_transpose2d(u, e // 8, 2, stride=2, name="3"), name="4")
        hyper = []
        for j in range(4):
            t = b.select_token(queries, 1 + j, name=f"mask_token_out_{j}")
            with b.scope(f"output_hypernetworks_mlps.{j}"):
                hyper.append(b.view(_sam_mlp(b, t, e, e // 8), (p.batch, 1, e // 8), "unsqueeze", name="unsqueeze"))
        hyper_in = b.concat(hyper, dim=1, name="hyper_in", eager_copy=True)  # torch.stack(hyper_in_list, dim=1)
        _, uc, uh, uw = b.shape(u)
        flat = b.view(u, (p.batch, uc, uh * uw), "flatten", name="upscaled_flat")
        gemm = Gemm(m=4, n=uh * uw, k=uc, count=p.batch)
        b.matmul([hyper_in, flat], (p.batch, 4, uh * uw), gemm, name="masks")
        with b.scope("iou_prediction_head"):
            _sam_mlp(b, iou_out, e, 4)


def _sam(model: str, p: SamParams) -> Graph:
    if p.tensor_parallel > 1:
        raise WorkloadError(f"{model}: not supported for SAM (its windowed attention with relative positions is "
                            f"not sharded); use 1", key=("tensor_parallel",))
    fused = _fused(p)
    grid = _SAM_IMG // _SAM_PATCH  # 64
    npts = p.points + 1  # SAM appends a padding point when no box is given
    inputs: dict[str, tuple[int, ...]] = {"input": (p.batch, 3, _SAM_IMG, _SAM_IMG), "points": (p.batch, npts, 2),
                                          "point_labels": (p.batch, npts)}
    if p.mask_prompt:
        inputs["mask_input"] = (p.batch, 1, 4 * grid, 4 * grid)
    b = TransformerBuilder(model, inputs, dtype=p.dtype or "fp16", tp=p.tensor_parallel, sdpa=True)
    image_embedding = _sam_image_encoder(b, SAM[model], p, grid, fused)
    prompts = _sam_prompt_encoder(b, p, grid, npts)
    _sam_mask_decoder(b, p, image_embedding, prompts, grid, fused)
    return b.build(_meta(model, p))


def sam_vit_b(p: SamParams) -> Graph:
    """SAM ViT-B: 12 blocks, 768 wide, 12 heads, global attention at 2, 5, 8, 11; 93,735,472 params."""
    return _sam("sam_vit_b", p)


def sam_vit_h(p: SamParams) -> Graph:
    """SAM ViT-H: 32 blocks, 1280 wide, 16 heads, global attention at 7, 15, 23, 31; 641,090,608 params."""
    return _sam("sam_vit_h", p)


# ---- Whisper (Hugging Face WhisperForConditionalGeneration) -----------------------------------------------------
WHISPER_AUDIO_S = 30  # every input padded or trimmed to 30 s (WhisperParams.audio_s)
WHISPER_MEL_FRAMES = 3000  # 100 mel frames a second
WHISPER_MAX_FRAMES = 1500
WHISPER_DECODER_POSITIONS = 448
_WHISPER_PROJ = ("q_proj", "k_proj", "v_proj", "out_proj")


@dataclass(frozen=True)
class _WhisperConfig:
    """A Whisper size as its Hugging Face config.json gives it (encoder and decoder alike: ``encoder_layers`` =
    ``decoder_layers``, ``*_attention_heads``, ``*_ffn_dim``); the positions (1500, 448) are the same in every size."""

    layers: int
    d: int
    heads: int
    ffn: int
    vocab: int
    mels: int  # num_mel_bins: conv1's input channels


WHISPER = {
    "whisper_base": _WhisperConfig(6, 512, 8, 2048, 51865, 80),  # openai/whisper-base config.json
    "whisper_large_v3": _WhisperConfig(32, 1280, 20, 5120, 51866, 128),  # openai/whisper-large-v3 config.json
}


@_part_of_model(tensor_parallel=1, phase="prefill")
def whisper_base(p: WhisperParams) -> Graph:
    """Whisper base: 6+6 pre-LN layers, 512 wide, 8 heads, FFN 2048, vocab 51865, 80 mel bins; 72,593,920 params."""
    return _whisper("whisper_base", p)


@_part_of_model(tensor_parallel=1, phase="prefill")
def whisper_large_v3(p: WhisperParams) -> Graph:
    """Whisper large-v3: 32+32 pre-LN layers, 1280 wide, 20 heads, FFN 5120, vocab 51866, 128 mel bins;
    1,543,490,560 params."""
    return _whisper("whisper_large_v3", p)


def _whisper(model: str, p: WhisperParams) -> Graph:
    c = WHISPER[model]
    hd, fused = c.d // c.heads, _fused(p)
    # 30 s at 100 mel frames a second; conv2 (kernel 3, stride 2, padding 1): (3000 + 2 - 3) // 2 + 1 = 1500
    mel, frames = WHISPER_MEL_FRAMES, WHISPER_MAX_FRAMES
    decode = p.phase == "decode"
    s, position = (1, p.kv_len) if decode else (p.seq_len, 0)  # decoder tokens of this pass, tokens cached before
    if decode:
        b = TransformerBuilder(model, {"input": (p.batch, 1)}, dtype=p.dtype or "fp16", tp=p.tensor_parallel,
                               sdpa=True)
        ids = "input"
    else:
        b = TransformerBuilder(model, {"input": (p.batch, c.mels, mel), "decoder_input_ids": (p.batch, s)},
                               dtype=p.dtype or "fp16", tp=p.tensor_parallel, sdpa=True)
        ids = "decoder_input_ids"
    # unfused: attn_implementation "eager", WhisperAttention.forward: ``q_proj(h) * self.scaling``, then
    # eager_attention_forward(scaling=1.0)'s mul of the scores and the merge copy (TransformerBuilder._eager_scale)
    b.eager_attention = "q"
    enc_out = None if decode else _whisper_encoder(b, c, p, "input")
    bias = (True, False, True, True)  # q, k, v, out: Whisper's key projection has no bias
    with b.scope("model.decoder"):
        tok = Weight("model.decoder.embed_tokens.weight", (c.vocab, c.d))
        y = b.embedding(ids, c.vocab, c.d, weight_name=tok.name, name="embed_tokens")
        if decode:  # the encoder's and the cross K/V projections' weights stay resident between steps: held, unread
            y = b.unused_params(y, _whisper_held_weights(model, p), name="held_weights")
        y = b.add(y, b.positions(s, WHISPER_DECODER_POSITIONS, c.d, offset=position, name="embed_positions"),
                  name="add_positions")
        for i in range(c.layers):
            with b.scope(f"layers.{i}"):
                h = b.layernorm(y, name="self_attn_layer_norm")
                with b.scope("self_attn"):
                    a = b.multihead_attention(h, heads=c.heads, head_dim=hd, bias=bias, names=_WHISPER_PROJ,
                                              causal=True, fused=fused, cache=KVCache(past=position))
                y = b.add(y, a, name="add_self_attn")
                h = b.layernorm(y, name="encoder_attn_layer_norm")
                with b.scope("encoder_attn"):
                    cross = KVCache(past=frames, static=True) if decode else KVCache()
                    a = b.multihead_attention(h, enc_out, heads=c.heads, head_dim=hd, bias=bias, names=_WHISPER_PROJ,
                                              fused=fused, cache=cross)
                y = b.add(y, a, name="add_cross_attn")
                h = b.layernorm(y, name="final_layer_norm")
                y = b.add(y, b.mlp(h, c.ffn, "gelu", names=("fc1", "fc2"), act_name="activation_fn"), name="add_mlp")
        y = b.layernorm(y, name="layer_norm")
    with b.replicated():  # the tied head runs whole on every tensor-parallel chip
        b.linear_tied(y, tok, name="proj_out")
    return b.build(_meta(model, p, phase=p.phase, tokens=p.batch, mel_frames=mel, encoder_frames=frames,
                         **b.kv_meta()))


def _whisper_encoder(b: TransformerBuilder, c: _WhisperConfig, p: WhisperParams, mels: str) -> str:
    """Whisper's encoder (``model.encoder``) over the (batch, num_mel_bins, 3000) mel frames ``mels``: two GELU convs
    (conv1 num_mel_bins → d), the position table, the pre-LN layers and the final LayerNorm. Returns its
    (batch, 1500, d) output."""
    d, frames = c.d, WHISPER_MAX_FRAMES
    bias = (True, False, True, True)  # q, k, v, out: Whisper's key projection has no bias
    batch = b.shape(mels)[0]
    with b.scope("model.encoder"):
        with b.replicated():  # the stem's convolutions run whole on every tensor-parallel chip
            x = b.gelu(b.conv1d(mels, d, 3, padding=1, name="conv1"), name="gelu1")
            x = b.gelu(b.conv1d(x, d, 3, stride=2, padding=1, name="conv2"), name="gelu2")
        x = b.view(x, (batch, frames, d), "transpose", name="permute")
        pos = b.table_rows((1, frames, d), Weight("model.encoder.embed_positions.weight", (WHISPER_MAX_FRAMES, d)),
                           name="embed_positions")
        x = b.add(x, pos, name="add_positions")
        for i in range(c.layers):
            with b.scope(f"layers.{i}"):
                h = b.layernorm(x, name="self_attn_layer_norm")
                with b.scope("self_attn"):
                    a = b.multihead_attention(h, heads=c.heads, head_dim=d // c.heads, bias=bias, names=_WHISPER_PROJ,
                                              fused=_fused(p))
                x = b.add(x, a, name="add_attn")
                h = b.layernorm(x, name="final_layer_norm")
                x = b.add(x, b.mlp(h, c.ffn, "gelu", names=("fc1", "fc2"), act_name="activation_fn"), name="add_mlp")
        return b.layernorm(x, name="layer_norm")


def _whisper_held_weights(model: str, p: WhisperParams) -> list[Weight]:
    """The parameter tensors a decode step holds but does not read (one chip's shard under tensor parallelism), as
    the prefill names them: the encoder's and each decoder layer's cross-attention K and V projections (the step
    reads the cached cross K/V instead)."""
    c = WHISPER[model]
    b = TransformerBuilder(model, {"input": (1, c.mels, WHISPER_MEL_FRAMES)}, dtype=p.dtype or "fp16",
                           tp=p.tensor_parallel)
    enc = _whisper_encoder(b, c, p, "input")
    width = c.heads // p.tensor_parallel * (c.d // c.heads)  # the K/V heads of one chip
    for i in range(c.layers):
        with b.scope(f"model.decoder.layers.{i}.encoder_attn"):
            b.linear(enc, width, bias=False, name="k_proj")  # Whisper's key projection has no bias
            b.linear(enc, width, bias=True, name="v_proj")
    return [w for op in b.build().ops for w in op.weights if w.role == "param"]
