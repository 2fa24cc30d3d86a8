"""``hf``: a decoder-only language model built from its Hugging Face ``config.json``.

The config is a path (``config: path/to/config.json``, read, never downloaded), a mapping (``config: {...}``),
or its fields written directly in the workload (``hidden_size: 4096``, ``--set workload.num_key_value_heads=4``;
these override the file's). :mod:`.hfconfig` reads it into an :class:`~.hfconfig.LM` (an unknown architecture or
an unsupported field is an error naming it); this module builds the op graph with :class:`.tlayers.TransformerBuilder`
layer by layer as ``transformers`` does, so ``Graph.params`` is what ``model.num_parameters()`` gives:

* Llama / Mistral / Qwen2 / Mixtral / Qwen2-MoE: ``model.embed_tokens``, per layer ``input_layernorm`` (RMSNorm),
  ``self_attn`` (q/k/v/o_proj, GQA, RoPE, q/k/v bias for Qwen2), ``post_attention_layernorm``, ``mlp``
  (gate/up/down_proj, SwiGLU) or the MoE block (:mod:`.moe`), ``model.norm``, ``lm_head`` (tied when
  ``tie_word_embeddings``). Sliding windows bound the KV cache and a decode step's KV read.
* Qwen3: as Qwen2 without the q/k/v biases (``attention_bias`` biases q/k/v/o), an explicit ``head_dim`` (128 by
  default) and QK-norm: ``self_attn.q_norm`` / ``k_norm``, RMSNorms over head_dim on each q and k head before RoPE.
  Qwen3-MoE: that attention with Qwen2-MoE's experts (``mlp.gate``, ``mlp.experts.{i}``), no shared expert.
* Gemma-2: embeddings × √hidden, the four sandwich norms, GeGLU (tanh GELU), alternating local (even layers,
  ``sliding_window``) and global attention, attention and final logit soft-capping, tied head.
* Gemma 3 (text): Gemma-2's layer with QK-norm, no soft-capping, five local layers to each global one.
* Phi-3: fused ``qkv_proj`` and ``gate_up_proj``.
* OPT: learned positions with offset 2, pre-LN LayerNorms, ReLU MLP ``fc1``/``fc2`` with biases, tied head
  (``project_in``/``project_out`` when ``word_embed_proj_dim`` ≠ hidden).
* GPT-2: learned positions, fused ``c_attn``, GELU MLP, tied head.
* DeepSeek-V2 / V3: multi-head latent attention (:func:`_mla`; ``mla`` picks the cache form: the latent, as serving
  stacks keep it, or every head's keys and values, as transformers does), dense MLPs in the first
  ``first_k_dense_replace`` layers, then routed experts with ``mlp.shared_experts`` (one ungated SwiGLU MLP).
* GPT-OSS: biased attention with a sink logit per head, alternating sliding and full attention, biased experts
  with one ``gate_up_proj`` each (:class:`.moe.ExpertForm`) and a biased ``mlp.router``.
* Gemma 3 4B-27B and Llama 4 with their image encoders (:func:`.vision.vision_tower`): the workload's ``images`` run the
  encoder in a prefill and scatter its soft tokens into the prompt; other passes hold its weights.
* Llama 4: NoPE every fourth layer, the others chunked with a weightless QK norm, MoE with a shared expert beside
  dense layers (``feed_forward``).
* Qwen3-Next: Gated DeltaNet linear attention (:func:`.ssm.gated_delta_net`) with a fixed-size state cache on three
  layers of four, gated full attention on the fourth, Qwen2-MoE's block. MiniMax-Text-01: lightning attention
  (:func:`.ssm.lightning_attention`) on the ``linear_attention`` layers, GQA attention on the others, Mixtral-style
  experts in every layer.
* LLaVA, Qwen2.5-VL / Qwen3-VL, GLM-4.1V / GLM-4.5V, Mistral 3 and InternVL with their image encoders
  (:mod:`.vision`; Qwen3-VL's DeepStack features added after the first decoder layers, :func:`_deepstack`);
  DeepSeek-V3.2's indexer and sparse latent attention (:func:`_indexer`, :func:`_sparse_attention`).
* The families of :mod:`.hfllama` and :mod:`.hflayernorm` (GPT-NeoX, Phi, Falcon, Command R, StableLM, StarCoder2,
  OLMo 2 ...): their module names (:data:`STYLES`), attention and MLP side by side (``LM.parallel``), norms after
  the sublayers (``LM.post_norms``), partial rotary (``LM.rotary_dim``) and the QK-norm forms of
  :data:`.tlayers.QK_NORMS`.

Phases as LLaMA-2's (:mod:`.transformer`): ``prefill`` (the prompt, logits at every position, KV caches filled)
or ``decode`` (one token per sequence against ``kv_len`` cached tokens, logits for it); ``decode_steps`` makes a
serving run. ``tensor_parallel`` shards heads and MLP widths (Megatron); ``sequence_parallel`` (prefill and training)
also splits the tokens between the tensor-parallel blocks (:class:`.tlayers.TransformerBuilder`
``sp``: norms and residual adds on s/t tokens, an all-gather before each block and the LM head, a reduce-scatter
after each block); ``expert_parallel`` spreads the experts. An MoE layer all-reduces once: with a shared expert
(DeepSeek's ``mlp.shared_experts``, Qwen2-MoE's gated ``shared_expert``, Llama 4's) the routed experts' combine and
the shared expert's row-parallel partial sums are added first and the sum is reduced (:func:`_ffn`, as vLLM).
With ``tensor_parallel`` and ``expert_parallel`` both > 1 each chip dispatches its 1/TP of the tokens
(:func:`.moe.token_shards`; the routed output is complete, the shared expert reduced on its own), and training
needs ``sequence_parallel`` (Megatron-Core's rule).

The graph (and report.json's ``workload.name``) is named ``name`` (each preset sets its own, e.g. ``mixtral_8x7b``),
else after the config: its ``_name_or_path``'s last part (not ``.``, ``..`` or a ``*.json`` file, which name no
model), the folder of a ``config.json`` path or the file's stem, or ``hf``; the architecture stays in graph meta
``architecture``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import PurePath
from typing import Any, Literal, NamedTuple

from pydantic import ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

from ..errors import ConfigIssue, IssuesError, KeyPairError, WorkloadError
from ..ir import Gemm, Graph, OpKind, Weight
from ..units import EAGER_SOFTMAX_DTYPE, HALF_FLOATS, DType, default_kv_cache, dtype_bytes
from .hfconfig import DSA, LM, MLA, MoE, load_config, parse, parse_all
from .hfspec import (
    CONTEXT_DEFAULTS,
    QUANT_METHODS,
    UNSUPPORTED,
    Quant,
    close_match,
    config_file,
    config_lines,
    key_line,
)
from .moe import ExpertForm, ExpertNames, Loads, Routing, expert_loads, moe_layer, shared_expert, token_shards
from .params import invalid_at
from .precision import apply_precision, no_scales_why, scaled_weights, weight_only, with_precision
from .ssm import gated_delta_net, kimi_delta_attention, lightning_attention, mamba1, mamba2, short_conv
from .tlayers import ACT_FLOPS, SOFTCAP_FLOPS, KVCache, TransformerBuilder
from .transformer import (
    GPT_ONLY_KEYS,
    GPT_ONLY_WHY,
    GptParams,
    LlamaParams,
    _eager_gelu_new,
    _fused,
    context_notes,
    last_positions,
    phase_unread,
)
from .vision import vision_tower, vision_weights

GPT_ONLY = tuple(k for k in GPT_ONLY_KEYS if k in GptParams.model_fields)
"""Workload keys of ``model: gpt``'s pipeline-parallel training that the ``hf`` builder does not take (named
with :data:`GPT_ONLY_WHY`, as every other transformer builder names them)."""


class PairIssuesError(IssuesError):
    """Several problems of a Hugging Face config, some of them rules between two keys the workload wrote both of
    (``pairs``, each a :class:`KeyPairError`), which the config layer puts each at its key set last
    (``config.schema.issues_from_validation``), beside the ``keyed`` and located ``issues`` of :class:`IssuesError`.
    ``str()`` is every problem, one a line."""

    def __init__(self, issues: list[ConfigIssue], keyed: list[tuple[tuple[str, ...], str]],
                 pairs: list[KeyPairError]):
        super().__init__(issues, keyed)
        self.pairs = list(pairs)
        self.args = ("\n".join([*(str(p) for p in self.pairs), *filter(None, [super().__str__()])]),)


class HfParams(LlamaParams):
    """A decoder-only LM from a Hugging Face config (its fields may also be written here, overriding the file's)."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    name: str | None = Field(
        None, min_length=1, description="The model's name in reports (default: the config's _name_or_path, the "
                                        "folder of its config.json, or 'hf'); the workload presets set theirs.")
    config: str | dict[str, Any] = Field(
        default_factory=dict, description="Path to a Hugging Face config.json or to the model folder holding it, or "
                                          "a mapping of its fields. Fields written next to it (e.g. "
                                          "num_key_value_heads) override it.")
    moe_routing: Literal["balanced", "uniform", "skewed", "counts"] = Field(
        "balanced", description="MoE: how token-expert assignments spread over the experts: equal shares over all "
                                "of them (the most experts a batch can touch), equal shares over the expected "
                                "distinct experts of tokens picking top-k uniformly and independently "
                                "(E·(1-(1-k/E)^tokens)), a Zipf law of exponent moe_skew (expert i ∝ (i+1)^-skew), "
                                "or expert_counts.")
    moe_skew: float = Field(1.0, ge=0, le=16, description="MoE: the Zipf exponent of moe_routing 'skewed'.")
    expert_counts: list[NonNegativeInt] = Field(
        default_factory=list, description="MoE with moe_routing 'counts': each expert's share of each pass's "
                                          "tokens × top-k assignments (the expert-parallel group's; at least top-k "
                                          "of them above 0), one list for every pass (a prefill and its decode "
                                          "steps) and every MoE layer; counts that add up to a pass's tokens × top-k "
                                          "are its assignments exactly.")
    capacity_factor: float = Field(0.0, ge=0, le=1024, description="MoE: each expert takes at most ⌈factor · "
                                   "tokens · top-k / experts⌉ assignments, the rest are dropped (0: no limit).")
    expert_parallel: PositiveInt = Field(
        1, description="MoE: experts split over this many chips (each its own batch of tokens), with an all-to-all "
                       "dispatch and combine on the interconnect; at most the experts, and in training a divisor of "
                       "them (Megatron-Core), in inference ranks below experts mod expert_parallel holding one "
                       "expert more (vLLM's determine_expert_map), the simulated chip one of those. A prefill "
                       "dispatches each token once per destination rank (DeepEP's normal mode), a decode step and "
                       "training once per routed expert. With tensor_parallel T > 1 "
                       "each of the T chips dispatches its 1/T of the tokens (training: with sequence_parallel).")
    expert_tensor_parallel: PositiveInt | None = Field(
        None, description="MoE: the chips an expert's width is split over (Megatron's expert_tensor_parallel_size; "
                          "default tensor_parallel). 1 with tensor_parallel T spreads the experts whole over the T "
                          "tensor-parallel chips, E/T each, every chip routing the same tokens to its own and the "
                          "layer's one all-reduce summing them (vLLM's --enable-expert-parallel on one node); not "
                          "with expert_parallel.")
    expert_weight_dtype: DType | None = Field(
        None, description="MoE: the experts' weight dtype (default: weight_dtype), e.g. fp4 for gpt-oss, whose "
                          "experts are MXFP4 and the rest bf16.")
    mla: Literal["latent", "heads"] = Field(
        "latent", description="DeepSeek's latent attention: 'latent' caches each token's compressed KV (kv_lora_rank "
                              "+ qk_rope_head_dim features, one per token for all heads) and runs a decode step with "
                              "the key and value up-projections absorbed into the query and output (vLLM, SGLang, "
                              "DeepSeek's inference code); 'heads' caches every head's up-projected keys and values, "
                              "as transformers does. Other models: 'heads' is an error.")
    images: NonNegativeInt = Field(
        0, description="Images in each prompt (models with an image encoder: Gemma 3 4B-27B, LLaVA, Qwen2.5-VL, "
                       "Qwen3-VL, GLM-4.1V / 4.5V, Mistral Small 3.x; InternVL3, whose images are 448² tiles; Llama "
                       "4, whose images are 336² tiles unless image_size cuts each into the processor's tiles): a "
                       "prefill runs the "
                       "vision tower and projector on batch × images images and their soft tokens (the config's "
                       "mm_tokens_per_image each) take that many of the prompt's seq_len positions; a decode step "
                       "reads none (its cache holds them: they must fit in its kv_len). 0: a text prompt (the tower's weights are held, not "
                       "read).")

    image_size: PositiveInt | None = Field(
        None, description="Qwen2.5-VL / Qwen3-VL / GLM-4.1V / Mistral Small 3.x (Pixtral): each image's side in "
                          "pixels (square), resized as the processor does (Qwen, GLM: to a multiple of patch × "
                          "merge, 28 / 32, "
                          "its area within the published min / max pixels; Pixtral: at most 1540, rounded up to 28); "
                          "the encoder's patches and the soft tokens follow (448: 256 / 196 / 256 tokens). Llama 4: "
                          "each image cut into tiles as its processor does (Llama4ImageProcessorFast: k × k tiles of "
                          "336², k = min(⌈side / 336⌉, 4), and a global tile where k > 1; 448: 5 tiles, 720 tokens; "
                          "1024: 17 tiles, 2,448 tokens). Default (null) per model: 448 for Qwen2.5-VL, Qwen3-VL, "
                          "GLM-4.1V / 4.5V and Pixtral; for Llama 4 one 336² tile (144 tokens), as any side "
                          "up to 336 gives. Other encoders resize every image to their own size: refused.")

    tower_layers: Literal["all", "feature"] | None = Field(
        None, description="LLaVA's CLIP tower: 'all' its layers, as transformers runs them before taking "
                          "vision_feature_layer's states, or those up to that 'feature' layer, as vLLM builds it "
                          "(init_vision_tower_for_llava: LLaVA-1.5's -2 of 24 layers, 23, without post_layernorm). "
                          "Default (null): 'all', except in accelsim serve, which sets 'feature'. Other encoders: "
                          "unchanged.")

    @model_validator(mode="after")
    def _config(self) -> HfParams:
        if not self.fields():
            raise ValueError("config: missing: give a Hugging Face config.json (workload.config=PATH) or its fields")
        extra = self.model_extra or {}
        problems = [(k, GPT_ONLY_WHY) for k in extra if k in GPT_ONLY]
        lm, found = parse_all({k: v for k, v in self.fields().items() if k not in GPT_ONLY or k not in extra})
        problems += [(k, self._misspelt(k, msg)) for k, msg in found]
        if lm is not None and lm.quant is not None and not lm.quant.known and not self.sets_weights():
            problems.append(("quantization_config.quant_method",
                             f"{lm.quant.method!r} is not modelled (known: {', '.join(QUANT_METHODS)}); set "
                             f"weight_dtype (and quant_group_size) to what the checkpoint stores"))
        if problems:
            raise self._paired(problems) or self._problems(problems)
        assert lm is not None
        lm = self._resized(lm)
        try:
            self._check_params(lm)
        except KeyPairError:  # a rule between two keys: the config layer puts it at the one set last
            raise
        except ValueError as e:  # "key: why" about one of the workload's own keys: a validation error at that key
            key, _, why = str(e).partition(": ")
            if key in type(self).model_fields and why:
                raise invalid_at(key, getattr(self, key), why) from None
            raise
        return self

    def _misspelt(self, key: str, msg: str) -> str:
        """``msg`` about ``key``, or where the workload wrote ``key`` and the model's reader does not read it, a
        "did you mean" naming the closest of the builder's parameters (``seq_lenn``: 'seq_len') when it is closer
        than the config fields the message suggests."""
        if key not in (self.model_extra or {}) or not msg.startswith(UNSUPPORTED):
            return msg
        param, ratio = close_match(key, type(self).model_fields)
        field = re.search(r"did you mean '([^']+)'", msg)
        if param is None or (field is not None and close_match(key, [field.group(1)])[1] >= ratio):
            return msg
        # the model the config names (a VLM's, not the text reader's that found the key: probe p97 #5 named
        # Qwen2ForCausalLM for Qwen2.5-VL's misspelt 'imagez'), else the reader's from its message
        archs = self.fields().get("architectures")
        arch = (archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str)
                else msg[len(UNSUPPORTED):].split(" ")[0].rstrip(";"))
        return f"not a parameter of the hf builder nor a field {arch} reads; did you mean {param!r}?"

    def _paired(self, problems: list[tuple[str, str]]) -> ValueError | None:
        """The config's problems where some are rules between two of its keys (:class:`KeyPairError`: ``n_groups``
        must divide ``mamba_num_heads``), each put at its key set last: both written in the workload, the config
        layer ranks them (a user's file over the preset it names as ``base:``, a --set over both); one of them
        written there over a config.json that holds the other, at the workload's key, naming the file's line. One
        such problem alone is its :class:`KeyPairError`; several, or some beside other problems, one
        :class:`PairIssuesError`, every problem one line (probe p96 #3: ``--set num_attention_heads=20`` on
        llama3_8b breaks the KV heads' rule and hidden_size's, and the first was put at the preset's line). None
        where no problem is such a rule (:meth:`_problems` places them)."""
        pairs = self._pairs(problems)
        if not any(pairs):
            return None
        if len(problems) == 1 and isinstance(pairs[0], KeyPairError):
            return pairs[0]
        keyed: list[tuple[tuple[str, ...], str]] = []
        located: list[ConfigIssue] = []
        ranked: list[KeyPairError] = []
        for problem, pair in zip(problems, pairs, strict=True):
            if isinstance(pair, KeyPairError):
                ranked.append(pair)
            elif isinstance(pair, tuple):
                keyed.append(pair)
            else:
                rest = self._problems([problem])
                keyed += rest.keyed
                located += rest.issues
        return PairIssuesError(located, keyed, ranked)

    def _pairs(self, problems: list[tuple[str, str]]) -> list[KeyPairError | tuple[tuple[str, ...], str] | None]:
        """For each of ``problems`` (:func:`.hfconfig.parse_all`'s, in its order), the rule between two keys or
        more it breaks where it is one: its :class:`KeyPairError` when the workload wrote every key, (the workload's
        key, its message naming the config.json's lines of the others) when it wrote one over a config file holding
        the others, a :class:`KeyPairError` of the workload's keys alone, each message naming those lines, when it
        wrote several of them (a rule of three keys: ``mamba_d_head`` × ``mamba_n_heads`` = ``mamba_d_ssm``); a key
        neither writes is the class's default, named nowhere; else None. Read again as ``parse_all`` read the config: each problem's top-level field left out
        before the next is looked for."""
        extra = self.model_extra or {}
        data = {k: v for k, v in self.fields().items() if k not in GPT_ONLY or k not in extra}
        out: list[KeyPairError | tuple[tuple[str, ...], str] | None] = []
        lines = None
        for key, msg in problems:
            pair = None
            with contextlib.suppress(ValueError):
                try:
                    parse(data)
                except KeyPairError as e:
                    if str(e) == f"{key}: {msg}":
                        pair = e
            data.pop(key.split(".")[0], None)  # left out, as parse_all did, so the next problem shows
            if pair is None:
                out.append(None)
                continue
            mine = [k for k in pair.messages if k.split(".")[0] in extra]  # vision_config.patch_size: its mapping's
            if len(mine) == len(pair.messages):
                out.append(pair)
            elif mine and isinstance(self.config, str):  # the others from the config.json: named by their lines
                lines = config_lines(self.config) if lines is None else lines
                at = "".join(f", {config_file(self.config)}:{lines[path]}" for k in pair.messages if k not in mine
                             for path in (tuple(k.split(".")),) if path in lines)  # one the file lacks: a default
                if len(mine) == 1:
                    out.append(((mine[0],), pair.messages[mine[0]].replace(KeyPairError.OTHER_AT, at)))
                else:  # a rule of three keys or more, some of them the workload's: ranked by the config layer
                    out.append(KeyPairError({k: pair.messages[k].replace(KeyPairError.OTHER_AT,
                                                                          KeyPairError.OTHER_AT + at) for k in mine}))
            else:
                out.append(None)
        return out

    def _problems(self, problems: list[tuple[str, str]]) -> IssuesError:
        """The config's problems (dotted key, message) as one error, each at the place its value came from: a key
        written in the workload (a YAML line, a ``--set``) there, one of the config.json at its line in that file
        (the file alone for a missing one); a config given as a mapping at its key under ``config``."""
        extra = self.model_extra or {}
        keyed, located = [], []
        lines = None
        for key, msg in problems:
            top = key.split(".")[0]
            if top in extra or not key:  # a nested field at its path (probe p198 #3: a --set rope_scaling's rope_type
                keyed.append((tuple(key.split(".")) if key else (), msg))  # was put at the preset's first line)
            elif not isinstance(self.config, str):
                keyed.append((("config", *key.split(".")), msg))
            else:
                if lines is None:
                    lines = config_lines(self.config)
                located.append(ConfigIssue(config_file(self.config), key_line(lines, key), key, msg))
        return IssuesError(located, keyed)

    def _refuse_moe_params(self, lm: LM) -> None:
        """On a model without experts, the MoE params at other values than their defaults would change nothing:
        refused, not ignored (ValueError "key: why"). A default derived from another key counts as the default:
        expert_tensor_parallel = tensor_parallel, expert_weight_dtype = the weights' dtype (probe p71 #2)."""
        weights = self.weight_dtype or self.activation_dtype or self.dtype  # None: the arch's, not known here
        derived = {"expert_tensor_parallel": (self.tensor_parallel,),
                   "expert_weight_dtype": (weights,) if weights else HALF_FLOATS}
        for key in _MOE_PARAMS:
            value = getattr(self, key)
            if value != type(self).model_fields[key].get_default(call_default_factory=True) and \
                    value not in derived.get(key, ()):
                raise ValueError(f"{key}: needs a mixture-of-experts model ({lm.arch} has no experts)")

    def _check_params(self, lm: LM) -> None:
        """The workload's keys against the model its config describes (ValueError "key: why")."""
        moe = lm.moe
        if moe and self.expert_parallel > moe.experts:
            raise ValueError(f"expert_parallel: at most the experts ({moe.experts}): a chip holds at least one")
        if moe and moe.experts % self.expert_parallel and self.mode == "training":
            # Megatron-Core's MoELayer asserts num_moe_experts % expert_model_parallel_size == 0; inference spreads
            # a remainder (vLLM's determine_expert_map: base + 1 experts for rank < remainder; probe p250 #3)
            raise ValueError(f"expert_parallel: must divide the experts ({moe.experts}) in training (Megatron-Core "
                             f"gives every rank as many; inference gives the first experts mod expert_parallel ranks "
                             f"one more)")
        if not moe:
            self._refuse_moe_params(lm)
        if lm.mla is None and self.mla != "latent":
            raise ValueError(f"mla: needs a model with latent attention, as DeepSeek-V2 / V3 ({lm.arch} has none)")
        if self.expert_counts and self.moe_routing != "counts":
            raise ValueError(f"expert_counts: read only with moe_routing 'counts' (it is {self.moe_routing!r}); set "
                             f"moe_routing: counts, or leave expert_counts out")
        if self.moe_skew != 1.0 and self.moe_routing != "skewed":
            raise ValueError(f"moe_skew: read only with moe_routing 'skewed' (it is {self.moe_routing!r}); set "
                             f"moe_routing: skewed, or leave moe_skew out")
        etp = self.expert_tensor_parallel
        if etp is not None and etp not in (1, self.tensor_parallel):
            raise ValueError(f"expert_tensor_parallel: 1 (experts whole, spread over the tensor-parallel chips) or "
                             f"tensor_parallel ({self.tensor_parallel}, the default)")
        if self.spread() > 1:
            if not moe:
                raise ValueError(f"expert_tensor_parallel needs a mixture-of-experts model ({lm.arch} has no "
                                 f"experts)")
            # rules between two keys: at the one set last (probe p90 #5: a --set expert_tensor_parallel=1 was put
            # at the preset's model line)
            at, tp, ep = KeyPairError.OTHER_AT, self.tensor_parallel, self.expert_parallel
            if moe.experts % tp:
                whole = f"must divide the experts ({moe.experts})"
                raise KeyPairError({
                    "expert_tensor_parallel": f"1: tensor_parallel ({tp}{at}) {whole}, each chip holding whole experts",
                    "tensor_parallel": f"{tp} {whole} with expert_tensor_parallel (1{at}), each chip holding whole "
                                       f"experts"})
            if ep > 1:
                why = "is not modelled (experts spread over the tensor-parallel chips and over chips of their own)"
                raise KeyPairError({"expert_tensor_parallel": f"1 with expert_parallel ({ep}{at}) above 1 {why}",
                                    "expert_parallel": f"{ep} with expert_tensor_parallel (1{at}) {why}"})
        if self.image_size is not None and (lm.vision is None or not lm.vision.resizable):
            hint = (" (transformers' GotOcr2ImageProcessor; vLLM's cuts up to 12 448² tiles and a thumbnail: give "
                    "their count as images)") if lm.vision is not None and lm.vision.style == "internvit" else ""
            raise ValueError(f"image_size: {lm.arch}'s processor resizes every image to its encoder's own size{hint} "
                             f"(only Qwen-VL's, GLM-4.1V's and Pixtral's encoders take an image's size, and Llama "
                             f"4's processor cuts it into tiles)")
        if lm.vision is not None and lm.vision.deepstack and self.sequence_parallel:
            raise ValueError("sequence_parallel: not modelled with Qwen3-VL's DeepStack features (added to the "
                             "image positions of whole sequences)")
        if self.images:
            if lm.vision is None:
                raise ValueError(f"images: {lm.arch} has no image encoder")
            # the prompt that holds them: seq_len, or in a decode step the kv_len tokens the cache holds
            prompt, length = ("kv_len", self.kv_len) if self.phase == "decode" else ("seq_len", self.seq_len)
            if self.images * lm.vision.positions_taken > length:
                raise ValueError(f"images: {self.images} images of {lm.vision.positions_taken} tokens need {prompt} ≥ "
                                 f"{self.images * lm.vision.positions_taken}, and {prompt} is {length}")
        if lm.dsa is not None and self.mode == "training":
            raise ValueError(f"mode: training is not modelled for {lm.arch}'s sparse attention (the indexer's "
                             f"KL-divergence training); inference only")
        if (lm.linear is not None or lm.mamba is not None or lm.mamba1 is not None) and self.mode == "training":
            raise ValueError(f"mode: training is not modelled for {lm.arch}'s recurrent layers (the chunked "
                             f"kernels' backward); inference only")
        if lm.parallel and self.sequence_parallel:
            raise ValueError(f"sequence_parallel: not modelled for {lm.arch}'s parallel attention and MLP (both "
                             f"blocks would gather the same token shards)")
        if (moe and self.mode == "training" and self.tensor_parallel > 1 and self.expert_parallel > 1
                and not self.sequence_parallel):
            # Megatron-Core's TransformerConfig refuses it too ("When using expert parallelism and tensor
            # parallelism, sequence parallelism must be used"): each tensor-parallel chip routes its token shard
            raise ValueError(f"sequence_parallel: training with tensor_parallel {self.tensor_parallel} and "
                             f"expert_parallel {self.expert_parallel} needs sequence_parallel: true (as Megatron-Core, "
                             f"each tensor-parallel chip then dispatches its 1/{self.tensor_parallel} of the tokens)")

    def _context_parallel(self) -> None:
        """The model's own refusal of a context-parallel split first (a layer kind no attention setting makes
        splittable: latent attention, recurrent layers, short convolutions, or images), at the key
        ``context_parallel``; then the generic checks (attention: fused, seq_len's chunks)."""
        if self.context_parallel > 1 and self.fields():
            try:
                lm = self.lm()
            except ValueError:  # a config problem: :meth:`_config` reports it
                lm = None
            why = lm and ("latent attention" if lm.mla is not None or lm.dsa is not None else
                          "recurrent layers" if lm.linear is not None or lm.mamba is not None
                          or lm.mamba1 is not None else
                          "short convolutions (each chip's chunks would need their neighbours' last tokens)"
                          if lm.short_conv is not None else
                          "images" if self.images else "")
            if lm is not None and why:
                raise invalid_at("context_parallel", self.context_parallel, f"not modelled for {lm.arch}'s {why}")
        super()._context_parallel()

    def group_size_unread(self) -> str | None:
        """Why ``quant_group_size`` sizes no weight's scales here, None where it does or is not given: the config's
        ``quantization_config`` sets the stored weights and their groups, or no weight of the workload's dtypes is
        stored with scales (:func:`~.precision.no_scales_why`; the experts' on a MoE model). The compute dtype is
        ``dtype``'s, the arch's where neither is set (:func:`~.precision.no_scales_why`)."""
        if self.quant_group_size is None:
            return None
        lm = self.lm()
        q = self.quant(lm)
        if q is not None:
            return (f"the config's quantization_config (quant_method {q.method}) sets the stored weights and their "
                    f"groups; set weight_dtype (or expert_weight_dtype) to store them otherwise")
        return no_scales_why(self.weight_dtype, self.activation_dtype or self.dtype,
                             self.expert_weight_dtype if lm.moe is not None else None)

    def sets_weights(self) -> bool:
        """Whether the workload sets the weights' dtype itself (``weight_dtype`` or ``expert_weight_dtype``): it then
        stands for the config's ``quantization_config``."""
        return self.weight_dtype is not None or self.expert_weight_dtype is not None

    def quant(self, lm: LM) -> Quant | None:
        """The config's stored weights (:func:`.hfspec.quantization`) where they apply: a known method and no
        ``weight_dtype`` / ``expert_weight_dtype`` of the workload's own."""
        q = lm.quant
        return q if q is not None and q.known and not self.sets_weights() else None

    def fields(self) -> dict[str, Any]:
        """The config's fields, those written beside ``config`` overriding the file's."""
        return {**load_config(self.config), **(self.model_extra or {})}

    def lm(self) -> LM:
        return self._resized(parse(self.fields()))

    def _resized(self, lm: LM) -> LM:
        """``lm`` with its encoder's images resized to ``image_size`` where the processor keeps an image's size, and
        LLaVA's tower cut at its feature layer with ``tower_layers: feature``."""
        if self.image_size is not None and lm.vision is not None and lm.vision.resizable:
            lm = replace(lm, vision=lm.vision.resized(self.image_size))
        if self.tower_layers == "feature" and lm.vision is not None:
            lm = replace(lm, vision=lm.vision.to_feature_layer())
        return lm

    def run_name(self) -> str:
        """:meth:`model_name`: the model's name in reports, and the first part of the run's default name."""
        return self.model_name()

    def model_name(self) -> str:
        """``name``, else the config's ``_name_or_path`` (its last part, where that names a model: not ``.``,
        ``..`` or a file such as ``config.json``; probe p219 #2: falcon-mamba-7b's ``./`` and starcoder2-15b's
        ``/aot/checkpoints/15b/config.json`` named every such model ``.`` or ``config.json``, one run folder), a
        ``config.json``'s folder or file stem, else ``hf``."""
        if self.name:
            return self.name
        named = str(self.fields().get("_name_or_path") or "").rstrip("/").rsplit("/", 1)[-1]
        if named not in ("", ".", "..") and not named.lower().endswith(".json"):
            return named
        if isinstance(self.config, str):
            path = PurePath(config_file(self.config))
            return (path.parent.name or path.stem) if path.name == "config.json" else path.stem
        return "hf"

    def spread(self) -> int:
        """The tensor-parallel chips an MoE layer's experts are spread over whole (expert_tensor_parallel 1), else
        1 (each expert's width split over them)."""
        return self.tensor_parallel if self.expert_tensor_parallel == 1 else 1

    def routing(self) -> Routing:
        return Routing(self.moe_routing, self.moe_skew, tuple(self.expert_counts), self.capacity_factor,
                       self.expert_parallel, self.spread())


class Style(NamedTuple):
    """A model family's module names (transformers'), so op and weight names are ``model.named_parameters()``'s."""

    decoder: str = "model"  # the decoder's scope
    layers: str = "layers"  # the layers' scope within it
    embed: str = "embed_tokens"  # the token table (in the decoder's scope)
    norms: tuple[str, str] = ("input_layernorm", "post_attention_layernorm")  # before the mixer, before the MLP
    attn: str = "self_attn"
    proj: tuple[str, str, str, str] = ("q_proj", "k_proj", "v_proj", "o_proj")
    fused_qkv: str | None = None  # one q/k/v projection's name
    mlp: tuple[str, str] = ("fc1", "fc2")  # a plain (ungated) MLP's two linears
    gated: tuple[str, str, str] = ("gate_proj", "up_proj", "down_proj")  # a gated MLP's three
    final: str = "norm"
    head: str = "lm_head"
    sandwich: tuple[str, str, str] = ("post_attention_layernorm", "pre_feedforward_layernorm",
                                      "post_feedforward_layernorm")  # sandwich norms: after the mixer, around the MLP


_NEOX_MLP = ("dense_h_to_4h", "dense_4h_to_h")
STYLES: dict[str, Style] = {
    "llama": Style(),
    "phi3": Style(proj=("", "", "", "o_proj"), fused_qkv="qkv_proj"),
    "opt": Style(decoder="model.decoder", norms=("self_attn_layer_norm", "final_layer_norm"),
                 proj=("q_proj", "k_proj", "v_proj", "out_proj"), final="final_layer_norm"),
    "gpt2": Style(decoder="transformer", layers="h", embed="wte", norms=("ln_1", "ln_2"), attn="attn",
                  proj=("", "", "", "c_proj"), fused_qkv="c_attn", mlp=("c_fc", "c_proj"), final="ln_f"),
    "backbone": Style(decoder="backbone", embed="embeddings", final="norm_f"),
    "falcon_h1": Style(norms=("input_layernorm", "pre_ff_layernorm"), final="final_layernorm"),
    "jamba": Style(norms=("input_layernorm", "pre_ff_layernorm"), final="final_layernorm"),
    "neox": Style(decoder="gpt_neox", embed="embed_in", attn="attention", proj=("", "", "", "dense"),
                  fused_qkv="query_key_value", mlp=_NEOX_MLP, final="final_layer_norm", head="embed_out"),
    "phi": Style(proj=("q_proj", "k_proj", "v_proj", "dense"), final="final_layernorm"),
    "falcon": Style(decoder="transformer", layers="h", embed="word_embeddings", attn="self_attention",
                    proj=("", "", "", "dense"), fused_qkv="query_key_value", mlp=_NEOX_MLP, final="ln_f"),
    "falcon2": Style(decoder="transformer", layers="h", embed="word_embeddings", norms=("ln_attn", "ln_mlp"),
                     attn="self_attention", proj=("", "", "", "dense"), fused_qkv="query_key_value", mlp=_NEOX_MLP,
                     final="ln_f"),
    "starcoder2": Style(mlp=("c_fc", "c_proj")),
    "glm4": Style(sandwich=("post_self_attn_layernorm", "post_attention_layernorm", "post_mlp_layernorm")),
    "apertus": Style(norms=("attention_layernorm", "feedforward_layernorm"), mlp=("up_proj", "down_proj")),
    "up_down": Style(mlp=("up_proj", "down_proj")),
    "lfm2": Style(norms=("operator_norm", "ffn_norm"), proj=("q_proj", "k_proj", "v_proj", "out_proj"),
                  gated=("w1", "w3", "w2"), final="embedding_norm"),
}
"""Module names by :attr:`~.hfspec.LM.style`."""
SOFTMAX_IN_MODEL_DTYPE = frozenset({"gpt2", "falcon", "falcon2", "neox"})
"""Styles whose eager attention runs its softmax in the model's dtype, with no fp32 upcast: GPT-2's
``eager_attention_forward`` (``nn.functional.softmax(attn_weights, dim=-1)`` then ``attn_weights.type(value.dtype)``,
a no-op), Falcon's ``F.softmax(attention_scores + attention_mask, dim=-1, dtype=hidden_states.dtype)``, GPT-NeoX's
``GPTNeoXAttention._attn`` (``nn.functional.softmax(attn_scores, dim=-1)`` on the query-dtype scores). Every other
style's unfused attention writes :data:`~accelsim.units.EAGER_SOFTMAX_DTYPE` and casts back (transformers'
``softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)``: Llama and the families copying its
``eager_attention_forward``, OPT's included; probe p185 #2)."""


def _attention(b: TransformerBuilder, lm: LM, h: str, i: int, p: HfParams, cache: KVCache | None) -> str:
    mixer = lm.mixer(i)
    if mixer in ("linear_attn", "kda", "lightning"):
        assert lm.linear is not None
        mix = {"linear_attn": gated_delta_net, "kda": kimi_delta_attention, "lightning": lightning_attention}[mixer]
        return mix(b, lm.linear, lm.eps, h, cache)
    if mixer == "mamba":
        assert lm.mamba is not None
        return mamba2(b, lm.mamba, lm.eps, h, cache)
    if mixer == "mamba1":
        assert lm.mamba1 is not None
        return mamba1(b, lm.mamba1, h, cache)
    if mixer == "conv":
        assert lm.short_conv is not None
        return short_conv(b, lm.short_conv, h, cache)
    if lm.mla is not None:
        return _mla(b, lm, h, p, cache)
    style = STYLES[lm.style]
    rope = lm.rope and i not in lm.nope_layers
    window, chunk = (0, lm.window(i)) if lm.chunked else (lm.window(i), 0)
    fused_qkv = style.fused_qkv
    if fused_qkv is None and p.fused_projections and _fusable_qkv(lm):
        fused_qkv = "qkv_proj"  # vLLM's QKVParallelLinear
    return b.multihead_attention(h, heads=lm.heads, kv_heads=lm.kv_heads, head_dim=lm.head_dim, bias=lm.bias,
                                 fused_qkv=fused_qkv, names=style.proj, rope=rope, causal=True, fused=_fused(p),
                                 cache=cache, window=window, chunk=chunk, softcap=lm.attn_softcap is not None,
                                 qk_norm=lm.eps if lm.qk_norm else None, dropout=lm.attn_dropout,
                                 sinks=lm.attn_sinks, qk_l2norm=lm.eps if lm.qk_l2norm and rope else None,
                                 output_gate=lm.attn_gate, rotary_dim=lm.rotary_dim, qk_norm_style=lm.qk_norm_style,
                                 clip_qkv=lm.clip_qkv)


def _fusable_qkv(lm: LM) -> bool:
    """Whether ``fused_projections`` makes ``lm``'s separate q/k/v projections one ``qkv_proj``: not where a norm
    over a whole projection (OLMo 2), a q/k/v clamp (OLMo 1), Qwen3-Next's output gate or q, k and v biases that
    differ sit between them (those stay three GEMMs)."""
    whole_norm = lm.qk_norm and lm.qk_norm_style in ("projection", "projection_tp")
    return len(set(lm.bias[:3])) == 1 and not (whole_norm or lm.clip_qkv or lm.attn_gate)


def _mla(b: TransformerBuilder, lm: LM, h: str, p: HfParams, cache: KVCache | None) -> str:
    """DeepSeek's multi-head latent attention (:class:`~.hfconfig.MLA`; transformers' DeepseekV3Attention names).

    Queries: ``q_a_proj`` → ``q_a_layernorm`` → ``q_b_proj`` (or one ``q_proj``), each head's nope and rope parts
    (RoPE on the latter). Keys and values: ``kv_a_proj_with_mqa`` gives each token's latent (``kv_a_layernorm``)
    and one rotary key shared by the heads. ``mla: heads`` (and any pass over a prompt): ``kv_b_proj`` up-projects
    the latent to every head's nope key and value, the shared rotary key joins each head's key, and attention runs
    with (nope + rope)-wide keys and v-wide values; with ``heads`` those keys and values are the cache. ``mla:
    latent``: the cache holds the latent and the rotary key (kv_rank + rope_dim per token, one "head"); a prompt
    up-projects all of its positions' latents (cached ones too) as above; a decode step absorbs the up-projections
    (DeepSeek-V2, appendix C): each head's nope query times its key up-projection (``kv_b_proj`` k part, a batched
    MATMUL ``q_absorb``) joins the rotary query, attends over the cached latents as multi-query attention (keys
    kv_rank + rope_dim wide, values the kv_rank latent), and the result times each head's value up-projection
    (``v_absorb``) is the head's output. Under tensor parallelism the heads are split (``q_b_proj``, ``kv_b_proj``
    column-wise, ``o_proj`` row-wise with its all-reduce) and the two down-projections are replicated, as vLLM does.
    """
    m = lm.mla
    assert m is not None
    if lm.heads % b.tp:
        raise WorkloadError(f"{b.name}: tensor_parallel {b.tp} must divide the heads ({lm.heads})",
                            key=("tensor_parallel",))
    heads, qk = lm.heads // b.tp, m.nope_dim + m.rope_dim
    h = b._tp_in(h)
    bsz, length, hidden = b.shape(h)
    q_latent = None
    if m.q_rank:
        with b.replicated():  # the down-projection: whole on every tensor-parallel chip
            q_latent = b.rmsnorm(b.linear(h, m.q_rank, bias=False, name="q_a_proj"), lm.eps, name="q_a_layernorm")
        q = b.linear(q_latent, heads * qk, bias=False, name="q_b_proj")
    else:
        q = b.linear(h, heads * qk, bias=False, name="q_proj")
    q = b.split_heads(q, heads, qk, name="q")
    q_nope = b.view(q, (bsz, heads, length, m.nope_dim), "slice", name="q_nope", strict=False, dim=3, start=0)
    q_pe = b.view(q, (bsz, heads, length, m.rope_dim), "slice", name="q_pe", strict=False, dim=3, start=m.nope_dim)
    q_pe = b.rope(q_pe, name="q_rope") if m.rope else q_pe  # Kimi Linear's MLA rotates nothing (NoPE)
    with b.replicated():
        kv = b.linear(h, m.kv_rank + m.rope_dim, bias=False, name="kv_a_proj_with_mqa")
    latent = b.rmsnorm(b.view(kv, (bsz, length, m.kv_rank), "slice", name="compressed_kv", strict=False, dim=2,
                              start=0), lm.eps, name="kv_a_layernorm")
    k_pe = b.view(kv, (bsz, 1, length, m.rope_dim), "slice", name="k_pe", strict=False, dim=2, start=m.kv_rank)
    k_pe = b.rope(k_pe, name="k_rope") if m.rope else k_pe
    v_rows = None  # the value rows of kv_b_proj, when a decode step absorbs them (v_absorb)
    index = None  # DeepSeek-V3.2: the indexer's top-k token indices
    kv_bytes = dtype_bytes(p.kv_cache_dtype or default_kv_cache(p.activation_dtype or b.dtype))  # the cache's, as the precision pass
    if lm.dsa is not None:
        assert q_latent is not None
        with b.scope("indexer"), b.replicated():  # not split over the tensor-parallel chips
            index = _indexer(b, lm.dsa, m, h, q_latent, cache, kv_bytes)
    sparse = index is not None and p.mla == "latent" and cache is not None
    if p.mla == "heads" or cache is None:
        k, v = _up_projected(b, latent, k_pe, heads, m)
        if cache is not None:  # transformers: the up-projected keys and values are the cache
            k = b._cached_kv(k, "k", cache, (bsz, heads, 0, qk))
            v = b._cached_kv(v, "v", cache, (bsz, heads, 0, m.v_dim))
        query = b.concat([q_nope, q_pe], dim=3, name="query")
    else:
        parts = [b.view(latent, (bsz, 1, length, m.kv_rank), "reshape", name="latent"), k_pe]
        extra = _ds_mla_extra(m) if lm.dsa is not None and kv_bytes == 1 else 0
        if extra:  # vLLM's fp8_ds_mla entry: the latent's scales and the RoPE part's second bytes (a view)
            parts.append(b.view(kv, (bsz, 1, length, extra), "slice", name="latent_scales", strict=False, dim=2,
                                start=0))
        entry = b.concat(parts, dim=3, name="latent_entry")
        if sparse and cache.past >= lm.dsa.topk:  # a decode step reads its top-k latents, the cache holds them all
            cache = replace(cache, past=lm.dsa.topk - 1, held=cache.past - lm.dsa.topk + 1)
        k = b._cached_kv(entry, "kv", cache, (bsz, 1, 0, m.kv_rank + m.rope_dim + extra))
        total = b.shape(k)[2]
        # (with extra, attention reads whole entries: FlashMLA's sparse fp8 kernel loads each selected token's 656 B,
        # the scales to dequantize the latent and the RoPE part's 16-bit values; key_width below)
        latents = b.view(k, (bsz, 1, total, m.kv_rank), "slice", name="latents", strict=False, dim=3, start=0)
        if p.phase != "decode" and not sparse:  # a prompt: every position's latent up-projected (vLLM's MLA prefill)
            pe_all = b.view(k, (bsz, 1, total, m.rope_dim), "slice", name="k_pe_all", strict=False, dim=3,
                            start=m.kv_rank)
            k, v = _up_projected(b, b.view(latents, (bsz, total, m.kv_rank), "reshape", name="latent_rows"), pe_all,
                                 heads, m)
            query = b.concat([q_nope, q_pe], dim=3, name="query")
        else:  # a decode step (or DeepSeek-V3.2's sparse prompt): kv_b_proj absorbed, its key rows into the query
            # (q_absorb), its value rows into the output (v_absorb), each a per-head batched GEMM; multi-query
            # attention over the latents
            up = f"{b._prefix()}.kv_b_proj.weight"
            k_rows = Weight(f"{up}[keys]", (heads * m.nope_dim, m.kv_rank))
            v_rows = Weight(f"{up}[values]", (heads * m.v_dim, m.kv_rank))
            q_lat = b.matmul([q_nope], (bsz, heads, length, m.kv_rank),
                             Gemm(m=bsz * length, n=m.kv_rank, k=m.nope_dim, count=heads), [k_rows], name="q_absorb")
            query, v = b.concat([q_lat, q_pe], dim=3, name="query"), latents
    if sparse:
        assert index is not None and lm.dsa is not None
        ctx = _sparse_attention(b, query, k, v, index, lm.dsa.topk, b.shape(k)[3] if extra else 0)
    else:  # (DeepSeek-V3.2 with mla: heads: dense scores masked by the indexer's choice, as transformers)
        ctx = b.attention(query, k, v, fused=_fused(p), causal=True, dropout=lm.attn_dropout,
                          shared_kv=v_rows is not None, index=index)
    if v_rows is not None:
        ctx = b.matmul([ctx], (bsz, heads, length, m.v_dim),
                       Gemm(m=bsz * length, n=m.v_dim, k=m.kv_rank, count=heads), [v_rows], name="v_absorb")
    return b._tp_out(b.linear(b.merge_heads(ctx, name="merge"), hidden, bias=False, name="o_proj"))


INDEX_TOPK_FLOPS = 2
"""FLOPs per index score of the indexer's top-k selection (a radix select: one pass to build a histogram of the
scores, one to gather the winners). Not measured."""
CACHE_SCALE_BLOCK = 128
"""Values per fp32 scale (4 B) of DeepSeek-V3.2's fp8 caches: the indexer keys (vLLM's DeepseekV32IndexerCache,
``head_dim + head_dim // quant_block_size * 4`` B a token, quant_block_size 128; DeepSeek's inference/model.py
k_scale_cache) and the fp8_ds_mla latent (vLLM's flashmla_sparse backend: 512 fp8 values, 4 fp32 scales, 64 RoPE
values in 16 bits, 656 B a token)."""


def _index_key_bytes(d: DSA) -> int:
    """Bytes a token of DeepSeek-V3.2's indexer key cache: a byte a value and a 4-byte scale per
    :data:`CACHE_SCALE_BLOCK` values, 128 + 4 = 132, whatever the attention's KV-cache dtype (vLLM stores it as uint8
    always; probe p155 #1)."""
    return d.head_dim + d.head_dim // CACHE_SCALE_BLOCK * 4


def _ds_mla_extra(m: MLA) -> int:
    """Bytes a token of vLLM's fp8_ds_mla latent entry beyond its kv_rank + rope_dim one-byte values: the latent's
    4-byte scales (one per :data:`CACHE_SCALE_BLOCK`) and the RoPE part's second bytes (kept in 16 bits): 512 / 128 × 4
    + 64 = 80, so 576 + 80 = 656 B (vLLM turns an fp8 kv_cache_dtype into fp8_ds_mla for DeepSeek-V3.2)."""
    return m.kv_rank // CACHE_SCALE_BLOCK * 4 + m.rope_dim


def _indexer(b: TransformerBuilder, d: DSA, m: MLA, h: str, q_latent: str, cache: KVCache | None,
             kv_bytes: int) -> str:
    """DeepSeek-V3.2's lightning indexer (scope ``indexer``, transformers' DeepseekV32Indexer names): queries
    ``wq_b`` of MLA's query latent (``d.heads`` heads of ``d.head_dim``), one key a token (``wk``, LayerNorm
    ``k_norm``), RoPE on the first ``qk_rope_head_dim`` features of each, the keys cached (``indexer.k_cache``, one
    head), a weight per head (``weights_proj``); the logits, ReLU(q·k) weighted and summed over the heads (one
    kernel: DeepGEMM's fp8_mqa_logits, a MATMUL whose output is the (B, L, T) scores, 3 FLOPs a head's score for the
    ReLU, weight and sum), then the top-k (:data:`INDEX_TOPK_FLOPS`) of each query's scores over every cached token.
    Replicated on every tensor-parallel chip (vLLM's ReplicatedLinear, DeepSeek's reference code). The cache holds
    :func:`_index_key_bytes` a token (fp8 values and their scales, as vLLM and DeepSeek store it), a packed view
    (``k_packed``) of that many bytes in the KV-cache dtype's elements (``kv_bytes`` each), which the logits read.
    Returns the (B, L, min(top-k, T)) indices."""
    bsz, length, _ = b.shape(h)
    q = b.split_heads(b.linear(q_latent, d.heads * d.head_dim, bias=False, name="wq_b"), d.heads, d.head_dim, name="q")
    q = b.rope(q, name="q_rope", rotary_dim=m.rope_dim)
    k = b.layernorm(b.linear(h, d.head_dim, bias=False, name="wk"), 1e-6, name="k_norm")
    k = b.rope(b.view(k, (bsz, 1, length, d.head_dim), "reshape", name="k_head"), name="k_rope",
               rotary_dim=m.rope_dim)
    w = b.linear(h, d.heads, bias=False, name="weights_proj")
    if cache is not None:
        width = -(-_index_key_bytes(d) // kv_bytes)
        packed = b.view(k, (bsz, 1, length, width), "reshape", name="k_packed", strict=False)
        k = b._cached_kv(packed, "k", cache, (bsz, 1, 0, width))
    total = b.shape(k)[2]
    seen = total - length + (length + 1) // 2  # causal: the mean count of tokens a query scores (its earlier ones)
    g = Gemm(m=d.heads * length, n=seen, k=d.head_dim, count=bsz)  # the heads share the one key: rows of one GEMM
    logits = b._add(b._name("logits", ""), OpKind.MATMUL, [q, k, w], (bsz, length, total), gemm=g,
                    flops=2 * g.macs + 3 * g.count * g.m * seen, fn="matmul", transpose_b=True, causal=length > 1)
    elems = bsz * length * seen
    return b._add(b._name("topk", ""), OpKind.ELEMENTWISE, [logits], (bsz, length, min(d.topk, total)),
                  flops=INDEX_TOPK_FLOPS * elems, vector_elems=elems, fn="index_topk")


def _sparse_attention(b: TransformerBuilder, query: str, k: str, v: str, index: str, topk: int,
                      key_width: int = 0) -> str:
    """DeepSeek-V3.2's sparse latent attention (FlashMLA's sparse kernels, as vLLM serves it): each query attends to
    its ``topk`` selected latents, multi-query (one latent a token for every head), values a slice of the keys. A
    decode step's keys are its selected latents already (:class:`.tlayers.KVCache` ``held``); a prompt's first
    ``topk`` queries see all their earlier tokens (causal), the others ``topk`` selected ones each (one fused op over
    a ``topk``-token view of the latents). ``key_width``: the fp8_ds_mla entries the kernels load whole (656 B a token,
    vLLM's flashmla_sparse.py: 512 fp8 values, 4 fp32 scales, 64 bf16 RoPE values), of which the scores use 576."""
    bsz, heads, length, width = b.shape(query)
    total = b.shape(k)[2]
    if length == 1 or total <= topk:
        return b.attention(query, k, v, fused=True, causal=True, shared_kv=True, index=index, key_width=key_width)
    kv_w, v_w = b.shape(k)[3], b.shape(v)[3]

    def part(x: str, rows: int, start: int, name: str, dim: int = 2) -> str:
        shape = list(b.shape(x))
        shape[dim] = rows
        return b.view(x, tuple(shape), "slice", name=name, strict=False, dim=dim, start=start)

    head = b.attention(part(query, topk, 0, "query_dense"), part(k, topk, 0, "keys_dense"),
                       part(v, topk, 0, "values_dense"), fused=True, causal=True, shared_kv=True, index=index,
                       key_width=key_width)
    sel_k = b.view(k, (bsz, 1, topk, kv_w), "index_select", name="keys_selected", strict=False)
    sel_v = b.view(v, (bsz, 1, topk, v_w), "index_select", name="values_selected", strict=False)
    tail = b.attention(part(query, length - topk, topk, "query_sparse"), sel_k, sel_v, fused=True, causal=False,
                       shared_kv=True, index=index, name="attention_selected", key_width=key_width)
    return b.concat([head, tail], dim=2, name="attention_out")


def _up_projected(b: TransformerBuilder, latent: str, k_pe: str, heads: int, m: MLA) -> tuple[str, str]:
    """Each head's keys (its nope key and the shared rotary key, concatenated) and values: ``kv_b_proj`` of the
    latents (B, L, kv_rank), and the rotary keys (B, 1, L, rope)."""
    kv_up = b.linear(latent, heads * (m.nope_dim + m.v_dim), bias=False, name="kv_b_proj")
    both = b.split_heads(kv_up, heads, m.nope_dim + m.v_dim, name="kv")
    bsz, _, length, _ = b.shape(both)
    k_nope = b.view(both, (bsz, heads, length, m.nope_dim), "slice", name="k_nope", strict=False, dim=3, start=0)
    v = b.view(both, (bsz, heads, length, m.v_dim), "slice", name="value", strict=False, dim=3, start=m.nope_dim)
    k_rot = b.view(k_pe, (bsz, heads, length, m.rope_dim), "expand", name="k_pe_heads", strict=False)
    return b.concat([k_nope, k_rot], dim=3, name="key"), v


def _mlp(b: TransformerBuilder, lm: LM, h: str, fuse: bool = False) -> str:
    """A dense MLP; ``fuse`` (``fused_projections``, vLLM's model code): a gated one's gate and up as one GEMM.
    ``gelu_new`` (transformers' NewGELUActivation: GPT-2, Phi-1/1.5/2) is its eager chain of 8 kernels, built as
    the ``gpt2`` preset builds it (``transformer._eager_gelu_new``; eager-only steps off a GPU preset, probe p240
    #2); with ``fuse`` it is one fused GELU, as vLLM runs it (``_ACTIVATION_REGISTRY["gelu_new"]`` is
    ``NewGELU``, whose ``forward_cuda`` is one ``ops.gelu_new`` kernel; probe p247 #1)."""
    if lm.act == "xielu":  # Apertus: up → xIELU, whose two scalars are learned (act_fn.alpha_p, alpha_n) → down
        x = b._tp_in(h)
        up = b.linear(x, b._tp_hidden(lm.ffn), bias=lm.mlp_bias, name="up_proj")
        elems = math.prod(b.shape(up))
        prefix = b._prefix()
        act = b._add(b._name("act_fn", ""), OpKind.ACTIVATION, [up], b.shape(up), flops=ACT_FLOPS["xielu"] * elems,
                     vector_elems=elems, fn="xielu",
                     weights=[Weight(f"{prefix}.act_fn.{w}", (1,)) for w in ("alpha_p", "alpha_n")])
        return b._tp_out(b.linear(act, b.shape(x)[-1], bias=lm.mlp_bias, name="down_proj"))
    act_fn = "gelu" if fuse and lm.act == "gelu_new" else lm.act  # vLLM's one gelu_new kernel: a tanh GELU
    if not lm.gated and act_fn == "gelu_new":  # b.mlp with transformers' eager gelu_new between the linears
        fc, proj = STYLES[lm.style].mlp
        out, x = b.shape(h)[-1], b._tp_in(h)
        m = _eager_gelu_new(b, b.linear(x, b._tp_hidden(lm.ffn), bias=lm.mlp_bias, name=fc), "act")
        m = b.dropout(m, lm.act_dropout, name="activation_dropout")
        return b._tp_out(b.linear(m, out, bias=lm.mlp_bias, name=proj))
    if not lm.gated:
        return b.mlp(h, lm.ffn, act_fn, bias=lm.mlp_bias, names=STYLES[lm.style].mlp, act_dropout=lm.act_dropout)
    h = b._tp_in(h)  # sequence parallelism: the token shards gathered
    gate_name, up_name, down_name = STYLES[lm.style].gated
    # Phi-3 (and fused_projections: vLLM's MergedColumnParallelLinear): one gate_up_proj, split by views
    gate, up = b.gate_up(h, b._tp_hidden(lm.ffn), bias=lm.mlp_bias, names=(gate_name, up_name),
                         fused=lm.fused_gate_up or fuse)
    act = (_eager_gelu_new(b, gate, "act_fn") if act_fn == "gelu_new" else
           b.activation(gate, act_fn, name="act_fn"))
    m = b.mul(act, up, name="mul")
    return b._tp_out(b.linear(m, b.shape(h)[-1], bias=lm.mlp_bias, name=down_name))


def _norm(b: TransformerBuilder, lm: LM, x: str, name: str) -> str:
    if lm.norm == "rmsnorm":
        return b.rmsnorm(x, lm.eps, name=name)
    if not lm.norm_weights:  # OLMo 1: F.layer_norm without weight or bias
        return b._norm(x, "layernorm", 5, (), -1, lm.eps, name)
    return b.layernorm(x, lm.eps, name=name, bias=lm.norm_bias)


def _ffn(b: TransformerBuilder, lm: LM, h: str, i: int, prefix: str, p: HfParams) -> str:
    moe = lm.moe
    if moe is None or i not in moe.sparse_layers:
        with b.scope(lm.mlp_name):
            return _mlp(b, lm, h, bool(p.fused_projections))
    shards = token_shards(p.tensor_parallel, p.expert_parallel, p.spread())
    # the expert-parallel group's tokens: each chip's batch × prompt (its shard × TP under sequence parallelism)
    tokens = p.batch * b.shape(h)[1] * (b.tp if b.sp else 1) * p.expert_parallel
    loads = expert_loads(tokens, moe.top_k, moe.experts, p.routing())
    block, router = moe.router_names
    names = ExpertNames(block, router, *moe.expert_names)
    if shards > 1 and moe.shared_ffn:  # token shards: the routed experts' output is complete (reduced within the
        y = _routed(b, lm, h, prefix, p, loads, names)  # TP group); the shared expert is a tensor-parallel MLP
        with b.scope(block):  # of its own (Megatron-Core's SharedExpertMLP), its output reduced (or scattered)
            shared = _shared_expert(b, lm, h)
            return b.add(y, shared, name=f"add_{moe.shared_name}" if not moe.shared_gate else "add_shared_expert")
    if not moe.shared_ffn:
        return _routed(b, lm, h, prefix, p, loads, names)
    # with a shared expert the routed experts' and the shared expert's row-parallel partial sums are added first and
    # all-reduced once per MoE layer (vLLM: vllm-project/vllm, vllm/model_executor/models/deepseek_v2.py's
    # DeepseekV2MoE and qwen2_moe.py's Qwen2MoeSparseMoeBlock build the shared expert with reduce_results=False);
    # under sequence parallelism the token shards are gathered once for both, and the sum reduce-scattered
    h = b._tp_in(h)
    with b.gathered():
        y = _routed(b, lm, h, prefix, p, loads, names, reduce=False)
        with b.scope(block), b.partial_sums():
            y = b.add(y, _shared_expert(b, lm, h), name="add_shared_expert" if moe.shared_gate else
                      f"add_{moe.shared_name}")
    with b.scope(block):
        return b._tp_out(y) if b.sp else b._all_reduce(y)


def _routed(b: TransformerBuilder, lm: LM, h: str, prefix: str, p: HfParams, loads: Loads, names: ExpertNames,
            reduce: bool = True) -> str:
    """The routed experts of ``lm``'s MoE layer on ``h`` (:func:`.moe.moe_layer`)."""
    moe = lm.moe
    assert moe is not None
    return moe_layer(b, h, prefix=prefix, experts=moe.experts, top_k=moe.top_k, ffn=moe.ffn,
                     act=moe.expert_act or lm.act, names=names, loads=loads, ep=p.expert_parallel, form=_form(moe),
                     reduce=reduce, spread=p.spread(), strided=p.moe_routing in ("balanced", "uniform"),
                     per_rank=_per_rank(p, lm))


def _per_rank(p: HfParams, lm: LM) -> tuple[int, int] | None:
    """The routing's groups (``n_group``, ``topk_group``; (0, 0): none) where a token's expert-parallel dispatch goes
    once per destination rank (:func:`~accelsim.draws.dispatch_ranks` of them), else None (once per
    routed expert). An inference prefill: DeepEP's normal mode, the
    prefill kernels of DeepSeek's serving (arXiv:2412.19437 §3.4.1) and vLLM's ``deepep_high_throughput`` backend
    ("multi-node prefill"), dedups a token per rank (``is_token_in_rank``) under the config's group-limited routing
    (``n_group`` / ``topk_group``; ``num_expert_group``); a decode step (DeepEP's low-latency mode, sent per expert)
    and training (Megatron-Core's MoEAlltoAllTokenDispatcher, T·k rows) send a row per token-expert pair."""
    moe = lm.moe
    if moe is None or p.expert_parallel <= 1 or p.phase != "prefill" or p.mode == "training":
        return None
    fields = p.fields()
    return int(fields.get("n_group") or fields.get("num_expert_group") or 0), int(fields.get("topk_group") or 0)


def _shared_expert(b: TransformerBuilder, lm: LM, h: str) -> str:
    """The shared expert beside the routed ones: Qwen2-MoE's gated ``shared_expert``, else DeepSeek's
    ``mlp.shared_experts`` (Llama 4's ``feed_forward.shared_expert``), one MLP of the shared experts' summed width."""
    moe = lm.moe
    assert moe is not None
    if moe.shared_gate:
        return shared_expert(b, h, moe.shared_ffn, lm.act)
    with b.scope(moe.shared_name):
        return (b.swiglu_mlp(h, moe.shared_ffn) if moe.gated else
                b.mlp(h, moe.shared_ffn, moe.expert_act or lm.act, bias=False, names=("up_proj", "down_proj")))


def _layer(b: TransformerBuilder, lm: LM, x: str, i: int, prefix: str, p: HfParams,
           cache: KVCache | None) -> str:
    """Decoder layer ``i``: a norm, the token mixer, the MLP, as ``lm`` places them: pre-norm one after the other
    (Llama), with Gemma's sandwich norms, OLMo 2's norms after each sublayer (``post_norms``), or the mixer and the
    MLP side by side (``parallel``: GPT-NeoX, Phi, Falcon, Command R; ``residual + attn + mlp``)."""
    style = STYLES[lm.style]
    ln1, ln2 = style.norms
    h = x if lm.post_norms else _norm(b, lm, x, ln1)
    gpt2 = lm.style == "gpt2"
    mixer = lm.mixer(i)
    if lm.parallel_mamba:  # Falcon-H1: both mixers read one normed input; with sequence parallelism one all-gather
        h = b._tp_in(h)
    with b.partial_sums(lm.shared_reduce), (b.gathered() if lm.parallel_mamba else contextlib.nullcontext()):
        scopes = {"self_attn": style.attn, "kda": "self_attn", "lightning": "self_attn", "mamba1": "mamba"}
        with b.scope(scopes.get(mixer, mixer)):
            a = _attention(b, lm, h, i, p, cache)
            if gpt2:  # training dropout of the attention output: GPT-2's attn.resid_dropout
                a = b.dropout(a, lm.resid_dropout, name="resid_dropout")
        if lm.parallel_mamba:  # Falcon-H1: the Mamba-2 mixer beside the attention, on the same normed input
            assert lm.mamba is not None
            with b.scope("mamba"):
                mm = mamba2(b, lm.mamba, lm.eps, h, cache)
            a = b.add(a, mm, name="add_mamba")
        if not gpt2 and lm.attn_resid_dropout and not lm.shared_reduce:  # Phi-3's resid_attn_dropout, OPT's
            a = b.dropout(a, lm.resid_dropout, name="resid_attn_dropout")  # dropout after self_attn
        if lm.parallel:  # the MLP beside the attention: on the same normed input, or on its own norm of x
            m = _ffn(b, lm, h if lm.parallel == "shared" else _norm(b, lm, x, ln2), i, prefix, p)
            if not lm.shared_reduce:
                m = b.dropout(m, lm.resid_dropout, name="resid_mlp_dropout")
            m = b.add(a, m, name="add_attn_mlp")
    if lm.parallel:
        if lm.shared_reduce:  # Falcon: the summed branches reduced once, then one dropout (dropout_add)
            m = b.dropout(b._tp_out(m), lm.resid_dropout, name="hidden_dropout")
        return b.add(x, m, name="add_residual")
    if lm.sandwich_norms or lm.post_norms:  # Gemma-2: norm the attention output, then a pre-feed-forward norm
        post_attn, pre_ffn, post_ffn = style.sandwich
        a = _norm(b, lm, a, post_attn)
        x = b.add(x, a, name="add_attn")
        h = _norm(b, lm, x, pre_ffn) if lm.sandwich_norms else x
        m = _norm(b, lm, _ffn(b, lm, h, i, prefix, p), post_ffn)
    else:
        x = b.add(x, a, name="add_attn")
        m = _ffn(b, lm, _norm(b, lm, x, ln2), i, prefix, p)
    # training dropout of the MLP output: GPT-2's mlp.dropout, Phi-3's resid_mlp_dropout, OPT's after fc2
    m = b.dropout(m, lm.resid_dropout, name="mlp.dropout" if gpt2 else "resid_mlp_dropout")
    return b.add(x, m, name="add_mlp")



def _block(b: TransformerBuilder, lm: LM, x: str, i: int, prefix: str, p: HfParams, cache: KVCache | None) -> str:
    """Nemotron-H's layer ``i``: one block, x + mixer(norm(x)), the mixer a Mamba-2 mixer, attention, an MLP or
    the experts (``lm.blocks``)."""
    h = _norm(b, lm, x, "norm")
    if lm.blocks[i] == "moe":  # the experts' block is the mixer (moe.router_names: mixer.gate)
        return b.add(x, _ffn(b, lm, h, i, prefix, p), name="add")
    with b.scope("mixer"):
        if lm.blocks[i] == "mlp":
            m = b.mlp(h, lm.ffn, lm.act, bias=False, names=("up_proj", "down_proj"))
        else:  # a Mamba mixer (lm.mixer) or attention
            m = _attention(b, lm, h, i, p, cache)
    return b.add(x, m, name="add")


def _softcap(b: TransformerBuilder, x: str, name: str) -> str:
    """Gemma-2's final logit soft-capping c·tanh(x/c): ELEMENTWISE fn "softcap"."""
    return b.vector(OpKind.ELEMENTWISE, [x], b.shape(x), "softcap", SOFTCAP_FLOPS, name=name)


def _embed(b: TransformerBuilder, lm: LM, q_len: int, past: int) -> tuple[str, Weight]:
    """Token (and position) embeddings; the token table's Weight (for a tied head)."""
    rows = lm.proj_dim or lm.hidden
    style = STYLES[lm.style]
    # sequence parallelism: a look-up nothing is added to (no position table, projection or image tokens) is
    # reduce-scattered to this chip's tokens, as Megatron's; otherwise the whole is cut after (_graph)
    x, table = b.vocab_embedding("input", lm.vocab, rows, f"{style.decoder}.{style.embed}.weight", name=style.embed,
                                 scatter=_scatter_embed(lm))
    if lm.embed_scale:
        x = b.vector(OpKind.ELEMENTWISE, [x], b.shape(x), "mul", 1, name="embed_scale")
    if lm.proj_dim:
        x = b.linear(x, lm.hidden, bias=False, name="project_in")
    if lm.max_positions:
        name = "wpe" if lm.style == "gpt2" else "embed_positions"
        pos = b.positions(q_len, lm.max_positions + lm.position_offset, lm.hidden, offset=past + lm.position_offset,
                          name=name)
        x = b.add(x, pos, name="add_positions")
    return x, table


def _scatter_embed(lm: LM) -> bool:
    """Whether sequence parallelism reduce-scatters the token look-up itself (:meth:`TransformerBuilder.
    vocab_embedding`): when no position table, input projection or image tokens join it first."""
    return not (lm.max_positions or lm.proj_dim or lm.vision is not None)


def _images(b: TransformerBuilder, lm: LM, x: str, p: HfParams, decode: bool) -> tuple[str, tuple[str, ...]]:
    """An image encoder's tokens in the embeddings ``x`` (B, L, hidden): a prefill with ``images`` runs the tower on
    batch × images images (Llama 4: × their tiles, each a 336² image to the tower) and scatters their soft tokens
    into the image positions (transformers' ``masked_scatter``: the embeddings and the features read, the embeddings
    written); any other pass holds the tower's weights on an identity view. Also returns Qwen3-VL's DeepStack
    features, (B, images × tokens, hidden) each, for the first decoder layers (:func:`_deepstack`)."""
    v = lm.vision
    assert v is not None
    if decode or not p.images:
        return b.unused_params(x, vision_weights(v, lm.hidden, b.tp, b.dtype), name=v.scopes[0].split(".")[-1]), ()
    feats, deep = vision_tower(b, v, lm.hidden, p.batch * p.images * v.tiles, _fused(p))  # Llama 4: each tile
    rows = (p.batch, p.images * v.image_tokens, lm.hidden)
    feats = b.view(feats, rows, "reshape", name="image_features")
    deep = tuple(b.view(f, rows, "reshape", name=f"deepstack_features.{k}") for k, f in enumerate(deep))
    return b.vector(OpKind.ELEMENTWISE, [x, feats], b.shape(x), "masked_scatter", 0, name="masked_scatter"), deep


def _deepstack(b: TransformerBuilder, x: str, feats: str) -> str:
    """Qwen3-VL's DeepStack: after a decoder layer the image tokens' hidden states += one encoder layer's merged
    features (``hidden_states[visual_pos_masks] += ...``: an add on the image positions, priced as the
    masked_scatter, reading the hidden states and the features and writing the hidden states)."""
    elems = math.prod(b.shape(feats))  # one add per image-token element
    return b._add(b._name("deepstack_add", ""), OpKind.ELEMENTWISE, [x, feats], b.shape(x), flops=elems,
                  vector_elems=elems, fn="masked_add")


def _graph(p: HfParams, lm: LM, precision: bool = True) -> Graph:
    decode = p.phase == "decode"
    q_len = 1 if decode else p.seq_len
    past = p.kv_len if decode else 0
    if lm.max_positions and past + q_len > lm.max_positions:
        raise WorkloadError(f"hf: positions up to {past + q_len} exceed {lm.arch}'s {lm.max_positions} learned "
                            f"positions")
    q_len //= p.context_parallel  # context parallelism: this chip's tokens (the positions' offset aside)
    b = TransformerBuilder(p.model_name(), {"input": (p.batch, q_len)}, dtype=p.dtype or "fp16", tp=p.tensor_parallel)
    b.sp = p.sequence_parallel
    b.cp, b.cp_comm = p.context_parallel, p.context_parallel_comm
    b.rope_kernel = p.rope_kernel
    if lm.style not in SOFTMAX_IN_MODEL_DTYPE:  # transformers' eager attention: softmax in fp32, then a cast
        b.softmax_dtype = EAGER_SOFTMAX_DTYPE
    b.repeat_kv = True  # eager_attention_forward's repeat_kv of K and V under GQA (TransformerBuilder._repeat_kv)
    b.eager_attention = "scores"  # eager_attention_forward's ``* scaling`` and ``transpose(1, 2).contiguous()``
    b.training = p.mode == "training"  # the config's dropout rates then cost (hfconfig.LM)
    style = STYLES[lm.style]
    scope, layers = style.decoder, style.layers
    # a training pass over a prompt fills no KV cache (a decode step still reads its cache)
    cache = None if p.mode == "training" and not decode else KVCache(past=past)
    with b.scope(scope):
        x, table = _embed(b, lm, q_len, past)
        if lm.vision is not None:
            x, deep = _images(b, lm, x, p, decode)
        else:
            deep = ()
        if not _scatter_embed(lm):
            x = b.sequence_scatter(x, name="sequence_scatter")
        # training dropout of the embeddings: GPT-2's drop, Phi-3's embed_dropout (OPT has none)
        x = b.dropout(x, lm.embd_dropout, name="drop" if lm.style == "gpt2" else "embed_dropout")
        for i in range(lm.layers):
            with b.scope(f"{layers}.{i}"):
                x = (_block(b, lm, x, i, f"{scope}.{layers}.{i}", p, cache) if lm.blocks else
                     _layer(b, lm, x, i, f"{scope}.{layers}.{i}", p, cache))
                if i < len(deep):
                    x = _deepstack(b, x, deep[i])
        x = b._tp_in(_norm(b, lm, x, style.final))
        if lm.proj_dim:
            x = b.linear(x, lm.proj_dim, bias=False, name="project_out")
        x = last_positions(b, x, p)
    logits = b.lm_head(x, lm.vocab, bias=lm.head_bias, name=style.head, tied=table if lm.tied else None,
                       gather=p.mode != "training")
    if lm.final_softcap is not None:
        _softcap(b, logits, "final_logit_softcap")
    if lm.logits_scale:  # Granite: logits / logits_scaling
        b.vector(OpKind.ELEMENTWISE, [logits], b.shape(logits), "mul", 1, name="logits_scaling")
    meta = {"model": "hf", **p.model_dump(exclude={"config"}), "architecture": lm.arch, "phase": p.phase,
            "tokens": p.batch, **b.kv_meta()}
    if lm.moe is not None:
        meta["moe"] = _moe_meta(p, lm, q_len)
    phase_keys, notes = phase_unread(p.model_name(), p)
    meta["unread_params"] = [*phase_keys, *_unread(lm, p)]
    context, scaled = scaled_context(p.fields()) if not lm.max_positions else (None, "")
    notes += context_notes(p.model_name(), past + (1 if decode else p.seq_len), context, scaled)
    quant = p.quant(lm)
    if lm.quant is not None and quant is None:
        notes.append(_quant_note(p, lm.quant))
    if notes:
        meta["notes"] = notes
    # the weights left in the compute dtype: an image encoder's, the untied LM head's (a weight_dtype quantises the
    # decoder's linears: GPTQ / AWQ checkpoints and vLLM keep lm_head in 16 bits; so does a config's
    # quantization_config, whatever the head's name: vLLM's ParallelLMHead is never quantised) and the config's list
    head = (style.head,) if (weight_only(p) or quant is not None) and not lm.tied else ()
    keep = [*(lm.vision.scopes if lm.vision is not None else ()), *head, *(quant.keep if quant is not None else ())]
    if keep:
        meta["unquantised"] = keep
    if lm.vision is not None:
        meta.update(image_tokens=p.batch * p.images * lm.vision.image_tokens if not decode else 0,
                    image_positions=lm.vision.positions_taken)
    if not precision:
        return b.build(meta)
    if quant is None:
        return with_precision(b.build(meta), p)
    # the checkpoint's stored weights (quantization_config); the activations as its activation_scheme quantises them
    # (W8A8) unless the workload's activation_dtype says otherwise; the KV cache as the workload says, else in the
    # model's dtype (vLLM's kv_cache_dtype auto: the model's, not the GEMMs' fp8). A training step keeps the
    # compute dtype, so that its stored fp8 weights are refused (build.build_workload) as a weight_dtype's are
    model = p.dtype or "fp16"
    scheme = quant.activation if p.mode != "training" else None
    return apply_precision(b.build(meta), weight=quant.weight, activation=p.activation_dtype or scheme or model,
                           kv_cache=p.kv_cache_dtype or (None if p.activation_dtype else model), group_size=quant.group_size,
                           expert_weight=quant.expert, zero_points=quant.zero_points)


ROPE_PRESCALED = ("su", "longrope", "llama3")
"""RoPE types whose config's ``max_position_embeddings`` is already the scaled context (vLLM's
``_get_and_verify_max_len`` leaves it as is for them)."""


def scaled_context(fields: Mapping[str, Any]) -> tuple[int | None, str]:
    """The context a config's ``max_position_embeddings`` and RoPE scaling give, as vLLM derives ``max_model_len``
    (``_get_and_verify_max_len``, vllm-project/vllm vllm/config.py at 0004438: for a ``rope_scaling`` whose type is
    not su / longrope / llama3, whose ``max_position_embeddings`` is already the scaled one, the context × its
    ``factor`` (1.0 where absent, as "default"), a yarn's from its ``original_max_position_embeddings``; later
    vLLM, vllm/config/model.py, reads transformers 5's ``rope_parameters`` alike, one mapping per layer type with
    the last such factor, and skips Gemma 3, whose 128K is already scaled), and how, for the note (probe p198 #2:
    llama3_8b with yarn × 4 over 8,192 was noted past its context at 32,768). A vision-language config's from its
    ``text_config`` (vLLM passes ``hf_text_config``), the config's own fields where it has none; an absent
    ``max_position_embeddings`` is the config class's default where :data:`.hfspec.CONTEXT_DEFAULTS` has the
    architecture's (probe p205 #3). (None, "") without an integer ``max_position_embeddings``."""
    text = fields.get("text_config")
    if isinstance(text, Mapping):
        fields = {**fields, **text}
    archs = fields.get("architectures") or []
    context = fields.get("max_position_embeddings")
    if context is None:
        context = next((CONTEXT_DEFAULTS[a] for a in archs if isinstance(a, str) and a in CONTEXT_DEFAULTS), None)
    if isinstance(context, bool) or not isinstance(context, int):
        return None, ""
    rope = fields.get("rope_scaling") or fields.get("rope_parameters")
    model_type = fields.get("model_type") or ""
    gemma3 = "gemma3" in str(model_type) or any(str(a).startswith("Gemma3") for a in archs)
    if not isinstance(rope, Mapping) or gemma3:
        return context, ""
    each = list(rope.values()) if rope and all(isinstance(v, Mapping) for v in rope.values()) else [rope]
    derived, factor, kind, base = context, None, "", "max_position_embeddings"
    for r in each:
        rtype = r.get("rope_type", r.get("type", "default"))
        if rtype in ROPE_PRESCALED:
            continue
        factor, kind = r.get("factor", factor if factor is not None else 1.0), rtype
        original = r.get("original_max_position_embeddings")
        if rtype == "yarn" and isinstance(original, int) and not isinstance(original, bool):
            derived, base = original, "original_max_position_embeddings"
    if factor is None or isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor == 1:
        return context, ""
    scaled = int(derived * factor)  # the published yarn configs' own max_position_embeddings (gpt-oss: 4,096 × 32)
    return (context, "") if scaled == context else (scaled, f"{kind}, {base} {derived:,} × factor {factor}, as "
                                                            f"vLLM derives max_model_len")


def _quant_note(p: HfParams, q: Quant) -> str:
    """Why the config's ``quantization_config`` does not set the weights: the workload's own dtype stands for it."""
    own = ", ".join(f"{k} {getattr(p, k)}" for k in ("weight_dtype", "expert_weight_dtype") if getattr(p, k))
    return (f"{p.model_name()}: the config's quantization_config (quant_method {q.method}) is not applied: the "
            f"workload's {own} sets the stored weights")


_MOE_PARAMS = ("moe_routing", "moe_skew", "expert_counts", "capacity_factor", "expert_parallel", "expert_weight_dtype",
               "expert_tensor_parallel")


def _unread(lm: LM, p: HfParams) -> list[str]:
    """The workload params ``lm``'s graph does not read (graph meta ``unread_params``, report.json's
    ``workload.unread``; the summary line leaves them out): MoE routing without experts, ``mla`` without latent
    attention, ``images`` without an image encoder, ``image_size`` without a resizing one or without images (a
    text-only pass reads no image: probe p228 #3), ``tower_layers`` without LLaVA's CLIP tower (its "other encoders:
    unchanged"; ``accelsim serve`` sets it on every model: probe p228 #2), ``quant_group_size`` without a weight
    stored with scales (:func:`_reads_group_size`). Each holds its default or a value the graph ignores:
    :meth:`HfParams._check_params` refuses another value of the model's keys, naming the key, and the config layer a
    ``quant_group_size`` the user wrote (:meth:`HfParams.group_size_unread`)."""
    sized = lm.vision is not None and lm.vision.resizable and p.images > 0
    tower = lm.vision is not None and lm.vision.feature_layers > 0
    return [*(_MOE_PARAMS if lm.moe is None else ()), *(("mla",) if lm.mla is None else ()),
            *(("images",) if lm.vision is None else ()), *(() if sized else ("image_size",)),
            *(() if tower else ("tower_layers",)),
            *(() if _reads_group_size(p, lm) else ("quant_group_size",))]


def _reads_group_size(p: HfParams, lm: LM) -> bool:
    """Whether the workload's ``quant_group_size`` sizes any weight's scales: the workload's own dtypes set the
    stored weights (not the config's ``quantization_config``, whose group size is its own) and one of them is stored
    with scales (:func:`~.precision.scaled_weights`; the experts' ``expert_weight_dtype`` on a MoE model)."""
    return p.quant(lm) is None and bool(scaled_weights(p.weight_dtype, p.activation_dtype or p.dtype or "fp16",
                                                       p.expert_weight_dtype if lm.moe is not None else None))


def _moe_meta(p: HfParams, lm: LM, q_len: int) -> dict[str, Any]:
    """report.json's ``moe``: experts, top-k, routing, assignments per expert in each MoE layer, dropped ones."""
    moe = lm.moe
    assert moe is not None
    tokens = p.batch * q_len * p.expert_parallel
    loads = expert_loads(tokens, moe.top_k, moe.experts, p.routing())
    if not moe.sparse_layers:  # every layer dense (Qwen2-MoE's decoder_sparse_step past the last layer, or the first
        loads = replace(loads, kept=(0,) * moe.experts, dropped=0)  # layers of a model only): no token is routed
    return {"experts": moe.experts, "top_k": moe.top_k, "moe_layers": len(moe.sparse_layers),
            "expert_parallel": p.expert_parallel, "experts_spread": p.spread(),
            "token_shards": token_shards(p.tensor_parallel, p.expert_parallel, p.spread()), "routing": p.moe_routing,
            "tokens": tokens,
            "tokens_per_expert": list(loads.kept), "dropped_tokens": loads.dropped, "capacity": loads.capacity,
            "experts_hit": sum(1 for c in loads.kept if c)}


def _form(moe: MoE) -> ExpertForm:
    return ExpertForm(moe.router_bias, moe.expert_bias, moe.fused_gate_up, moe.gated)


def active_params(lm: LM, total: int) -> int:
    """Parameters one text token uses: all but the experts it is not routed to (total − (E − k) · one expert's
    parameters, in every MoE layer) and an image encoder's."""
    if lm.moe is None:
        return total
    per_expert = _form(lm.moe).expert_params(lm.moe.ffn, lm.hidden)
    vision = sum(w.numel for w in vision_weights(lm.vision, lm.hidden, 1, "fp16")) if lm.vision else 0
    return total - (lm.moe.experts - lm.moe.top_k) * per_expert * len(lm.moe.sparse_layers) - vision


def input_embedding_params(lm: LM) -> int:
    """The input token-embedding table's parameters (vocab × hidden) that :func:`active_params` counts but a token
    reads one row of; 0 with tied embeddings, whose table is the output head that every token reads whole. Model
    cards' "active parameters" that leave out the embedding (OpenAI's gpt-oss card: 5.13 B of gpt-oss-120b, 3.61 B
    of gpt-oss-20b) are ``active_params`` less this."""
    return 0 if lm.tied else lm.vocab * lm.hidden


_WHOLE = {"tensor_parallel": 1, "context_parallel": 1, "expert_parallel": 1, "expert_tensor_parallel": None,
          "phase": "prefill", "seq_len": 1, "moe_routing": "balanced", "moe_skew": 1.0, "expert_counts": [],
          "capacity_factor": 0.0, "batch": 1, "images": 0, "sequence_parallel": False}
"""The settings of the graph that holds the whole model (MoE: batch = experts, so every expert gets a token)."""


def _truncated(lm: LM, layers: int | None) -> LM:
    """``lm`` with its first ``layers`` layers only (``layers`` None: all of them). More layers than the config's
    is a WorkloadError at ``layers``: the config gives each layer's window, experts and mixer only for its own
    (gpt-oss-20b's 30 of 24 failed on its 24 windows; Mixtral's 40 of 32 added 8 dense layers)."""
    if layers is None or layers == lm.layers:
        return lm
    if layers > lm.layers:
        raise WorkloadError(f"hf: layers {layers} is more than the model's {lm.layers} (the config's "
                            "num_hidden_layers): layers builds the first ones only", key=("layers",))
    moe = lm.moe and replace(lm.moe, sparse_layers=frozenset(i for i in lm.moe.sparse_layers if i < layers))
    return replace(lm, layers=layers, windows=lm.windows[:layers], moe=moe, blocks=lm.blocks[:layers])


def identical_layers(p: HfParams) -> tuple[int, int, int] | None:
    """(k, n, p): ``p``'s model's decoder layers are k distinct ones then n made of n / p repeats of a unit of p
    layers (alike: the same window, MoE or dense, the same attention: with or without RoPE, linear or not, the same
    block). (0, all of them, 1) when every layer is alike; (3, 58, 1) for DeepSeek-V3's 3 dense layers before its 58
    MoE ones (first_k_dense_replace); (0, 42, 2) for Gemma-2's alternating local and global windows; (2, 60, 6) for
    Gemma-3-27B's 62 layers of 5 local to 1 global (the 2 layers before the last whole unit, layers 0 and 1, are the
    prefix: a remainder of fewer than p layers is always put there, exact as any prefix); (0, 48, 4) for Qwen3-Next's
    3 linear-attention layers to each full one. Of the periods that repeat at least 3 times, the one whose samples
    (k + p and k + 2p layers, :func:`accelsim.scenarios.sampling.layer_samples`) are smallest, the shorter period
    on a tie; None when none repeats 3 times after a distinct prefix, and for a prompt with images (the image
    encoder's layers are not the decoder's)."""
    lm = _truncated(p.lm(), p.layers)
    if lm.vision is not None and p.images and p.phase != "decode":  # a prompt's image encoder: its own layers (and
        return None  # Qwen3-VL's DeepStack adds after the first decoder layers) are not the decoder's

    kinds = [(lm.window(i), lm.moe is not None and i in lm.moe.sparse_layers, i in lm.nope_layers, lm.mixer(i),
              lm.blocks[i] if lm.blocks else "") for i in range(lm.layers)]
    if len(set(kinds)) == 1:
        return 0, lm.layers, 1
    best = None
    for period in range(1, lm.layers // 3 + 1):
        k = lm.layers - period  # the first layer from which every layer is the one a period later's
        while k > 0 and kinds[k - 1] == kinds[k - 1 + period]:
            k -= 1
        k += (lm.layers - k) % period  # the layers before the last whole unit join the prefix
        n = lm.layers - k
        if n // period > 2 and (best is None or 2 * k + 3 * period < 2 * best[0] + 3 * best[2]):
            best = (k, n, period)
    return best


_PER_PASS = frozenset({"kv_len", "decode_steps", "attention", "mla", "rope_kernel", "mode", "image_size"})
"""Settings that change a pass but not the model's parameters (left out of :func:`_whole_params`' key)."""


@functools.lru_cache(maxsize=32)
def _whole_params(params_json: str) -> int:
    """Parameters of the graph that holds the whole model (:data:`_WHOLE` settings), built once per model: a serving
    run builds a graph per pass, each needing the same count. Element counts need no precision pass. The key holds
    the config's fields, never its path (probe p271 #1: a config.json rewritten in one process, or the same relative
    name read from another folder, kept the first file's count; a MoE model's active parameters went negative)."""
    p = HfParams.model_validate_json(params_json)
    return _graph(p, _truncated(p.lm(), p.layers), precision=False).params


def hf(p: HfParams) -> Graph:
    """A decoder-only LM from its Hugging Face config (see the module docstring); with ``layers``, its first
    ``layers`` layers only."""
    lm = _truncated(p.lm(), p.layers)
    graph = _graph(p, lm)
    whole = {**_WHOLE, "batch": lm.moe.experts if lm.moe else 1}
    same = all(getattr(p, k) == v for k, v in whole.items())
    total = graph.params if same else _whole_params(
        p.model_copy(update={**whole, "config": load_config(p.config)}).model_dump_json(exclude=_PER_PASS))
    meta = {**graph.meta, "model_params": total}
    if lm.moe is not None:
        active = active_params(lm, total)
        meta["moe"] = {**meta["moe"], "total_params": total, "active_params": active,
                       "active_params_non_embedding": active - input_embedding_params(lm)}
    return graph.with_meta(meta)


__all__ = ["HfParams", "active_params", "hf", "identical_layers", "input_embedding_params"]
