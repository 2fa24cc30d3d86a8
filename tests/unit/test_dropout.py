"""Training dropout (GraphBuilder.dropout, the gpt builder's Megatron dropouts): the activations a training step
keeps match Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models", Sec. 4.1.

Their count for one transformer layer, 16-bit activations, s tokens, b sequences, h wide, a heads:
  attention: Q·Kᵀ input 2sbh (the LayerNorm output), Q and K 4sbh, softmax output 2as²b, its dropout mask as²b,
             the dropout output 2as²b and V 2sbh (attention over values), the output projection's input 2sbh and
             its dropout mask sbh                                                         = 11·sbh + 5·as²b
  MLP:       first linear's input 2sbh, GeLU input 8sbh, GeLU output 8sbh, dropout mask sbh = 19·sbh
  LayerNorms: two inputs                                                                  = 4·sbh
  total sbh·(34 + 5·as/h); with tensor parallelism t (no sequence parallelism) sbh·(10 + 24/t + 5·as/(h·t));
  selective recomputation (the attention core re-run, its dropout included): 34·sbh.
One layer's share is the difference between the 2-layer and the 1-layer model (the embeddings, the final norm and
the head are the same in both).
"""

from __future__ import annotations

import pytest

from accelsim.builders.build import build_workload

S, B, H, A = 512, 2, 1024, 16
SBH = S * B * H


def _gpt(layers: int, **kw):
    return build_workload("gpt", {"mode": "training", "layers": layers, "hidden": H, "heads": A, "seq_len": S,
                                  "batch": B, "dtype": "fp16", **kw})


def _layer_stash(**kw) -> int:
    return _gpt(2, **kw).meta["stashed_activation_bytes"] - _gpt(1, **kw).meta["stashed_activation_bytes"]


def test_a_layer_keeps_korthikantis_34sbh_plus_5as2b():
    assert _layer_stash() == SBH * 34 + 5 * A * S * S * B


def test_tensor_parallel_layer_keeps_korthikantis_shard():
    t = 2
    # sbh·(10 + 24/t + 5·as/(h·t)) = sbh·22 + 5·(a/t)·s²·b
    assert _layer_stash(tensor_parallel=t) == SBH * (10 + 24 // t) + 5 * (A // t) * S * S * B


def test_selective_recompute_keeps_34sbh_and_full_the_layer_input():
    assert _layer_stash(recompute="selective") == 34 * SBH
    assert _layer_stash(recompute="full") == 2 * SBH  # the checkpointed layer input, 16 bits


def test_without_dropout_the_masks_and_the_dropout_output_are_gone():
    # p = 0: 34sbh less the two hidden masks (sbh each), 5as²b less the mask (as²b) and the dropout output (2as²b)
    assert _layer_stash(attention_dropout=0, hidden_dropout=0) == 32 * SBH + 2 * A * S * S * B
    ops = _gpt(1, attention_dropout=0, hidden_dropout=0).ops
    assert not [o for o in ops if o.fn.startswith("dropout")]


def test_inference_has_no_dropout_ops():
    g = build_workload("gpt", {"layers": 1, "hidden": H, "heads": A, "seq_len": S, "batch": B})
    assert not [o for o in g.ops if "dropout" in o.name]


def test_the_mask_is_one_byte_per_element_and_the_backward_reads_it_not_x():
    g = _gpt(1)
    by_name = {o.name: o for o in g.ops}
    drop = "language_model.encoder.layers.0.self_attention.attention_dropout"
    mask, fwd, bwd = by_name[f"{drop}.mask"], by_name[drop], by_name[f"{drop}.grad_input0"]
    probs = A * S * S * B  # the attention probabilities' elements
    assert mask.inputs == () and mask.out_bytes == probs  # uint8
    assert fwd.inputs == ("language_model.encoder.layers.0.self_attention.softmax", mask.name)
    assert fwd.out_bytes == 2 * probs  # fp16
    assert bwd.inputs[1] == mask.name and fwd.inputs[0] not in bwd.inputs
    assert not [o for o in g.ops if o.name.startswith(f"{mask.name}.grad")]  # no gradient for the mask


@pytest.mark.parametrize("key", ["attention_dropout", "hidden_dropout"])
@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_a_dropout_outside_0_to_1_is_rejected(key, value):
    with pytest.raises(ValueError, match=key):
        _gpt(1, **{key: value})


def test_gpt2_layer_keeps_korthikantis_34sbh_plus_5as2b_and_gelu_news_24sbh():
    # GPT-2 small's layer (pre-LN, fused c_attn, GELU MLP, HF's attn_pdrop / resid_pdrop 0.1) has the same shape
    # of kept tensors as Megatron's, sbh·(34 + 5·as/h), h = 768, a = 12, but for its GELU: HF's gelu_new
    # (NewGELUActivation, plain Python in eager) keeps 4 tensors of [s, b, 4h] (pow's input, tanh's output, the last
    # mul's two operands; derivatives.yaml), 3 more than Korthikanti's fused GELU's input: 3 × 8sbh = 24sbh more
    # (probe p222 #2; this test read 34 before it)
    s, b, h, a = 128, 2, 768, 12

    def stash(layers: int) -> int:
        g = build_workload("gpt2", {"mode": "training", "layers": layers, "seq_len": s, "batch": b, "dtype": "fp16"})
        return g.meta["stashed_activation_bytes"]

    assert stash(2) - stash(1) == s * b * h * (34 + 24) + 5 * a * s * s * b


def test_bert_has_hfs_dropouts_in_training():
    # HF BertModel: embeddings.dropout, then per layer attention.self.dropout (the probabilities),
    # attention.output.dropout and output.dropout: 1 + 3 × 12 for BERT-base
    g = build_workload("bert_base", {"mode": "training", "seq_len": 128, "batch": 2})
    drops = [o for o in g.ops if o.fn == "dropout" and o.phase == "forward"]
    assert len(drops) == 1 + 3 * 12
    probs = [o for o in drops if o.name.endswith("attention.attention_dropout")]
    assert len(probs) == 12 and all(o.out_shape == (2, 12, 128, 128) for o in probs)
    assert not [o for o in build_workload("bert_base", {"seq_len": 128, "batch": 2}).ops if o.fn == "dropout"]


def _hf(config: dict, **kw):
    from accelsim.builders.build import build_graph
    from accelsim.config import load_workload

    return build_graph(load_workload({"model": "hf", "config": config, "mode": "training", "seq_len": 64,
                                      "dtype": "fp16", **kw}))


def test_hf_gpt2_trains_with_the_same_dropouts_as_the_gpt2_builder():
    # GPT2Config's defaults: embd_pdrop, attn_pdrop, resid_pdrop 0.1 each: the embeddings, and per layer the
    # probabilities, the attention output and the MLP output: 1 + 3 per layer, and the layer keeps sbh(34 + 5as/h)
    # plus gelu_new's 24sbh, as the gpt2 builder's layer above: since probe p240 #2 hf builds transformers' eager
    # NewGELUActivation chain too (this test read 34 before, a fused GELU keeping its input alone)
    def stash(layers: int) -> int:
        return _hf({"architectures": ["GPT2LMHeadModel"], "n_layer": layers}).meta["stashed_activation_bytes"]

    g = _hf({"architectures": ["GPT2LMHeadModel"], "n_layer": 2})
    assert len([o for o in g.ops if o.fn == "dropout" and o.phase == "forward"]) == 1 + 3 * 2
    s, b, h, a = 64, 1, 768, 12
    assert stash(2) - stash(1) == s * b * h * (34 + 24) + 5 * a * s * s * b


def test_hf_dropout_rates_follow_each_class_and_its_defaults():
    # OPTConfig: dropout 0.1 after self_attn and after fc2, attention_dropout and activation_dropout 0.0, no
    # embedding dropout; LlamaConfig: attention_dropout 0.0 (none), set it and the probabilities get one per layer
    opt = {"architectures": ["OPTForCausalLM"], "hidden_size": 256, "num_attention_heads": 4, "num_hidden_layers": 2,
           "ffn_dim": 1024, "vocab_size": 1000}
    llama = {"architectures": ["LlamaForCausalLM"], "hidden_size": 256, "num_attention_heads": 4,
             "num_hidden_layers": 2, "intermediate_size": 512, "vocab_size": 1000}

    def drops(config: dict, **kw) -> list[str]:
        return [o.name.rsplit(".", 1)[-1] for o in _hf(config, **kw).ops if o.fn == "dropout" and o.phase == "forward"]

    assert drops(opt) == ["resid_attn_dropout", "resid_mlp_dropout"] * 2
    assert drops({**opt, "activation_dropout": 0.1}).count("activation_dropout") == 2
    assert drops(llama) == []
    assert drops({**llama, "attention_dropout": 0.1}) == ["attention_dropout"] * 2
    assert drops(llama, mode="inference") == drops(opt, mode="inference") == []


def test_hf_refuses_a_dropout_rate_of_one():
    from accelsim.errors import ConfigError

    with pytest.raises(ConfigError, match=r"dropout: expected a dropout rate in \[0, 1\)"):
        _hf({"architectures": ["OPTForCausalLM"], "hidden_size": 256, "num_attention_heads": 4,
             "num_hidden_layers": 1, "ffn_dim": 1024, "vocab_size": 1000, "dropout": 1.0})


def test_t5_trains_with_modeling_t5s_dropouts():
    # T5Config dropout_rate 0.1, where modeling_t5 applies it: each stack's embeddings and final norm (2 + 2); per
    # encoder block the self-attention probabilities, its output, the feed-forward's activation and its output (4);
    # per decoder block those and the cross-attention's probabilities and output (6): t5-small 6 + 6 blocks
    g = build_workload("t5_small", {"mode": "training", "src_len": 64, "tgt_len": 32})
    drops = [o for o in g.ops if o.fn == "dropout" and o.phase == "forward"]
    assert len(drops) == 4 + 6 * 4 + 6 * 6
    assert not [o for o in build_workload("t5_small", {"src_len": 64, "tgt_len": 32}).ops if o.fn == "dropout"]
    assert not [o for o in build_workload("t5_small", {"mode": "training", "src_len": 64, "tgt_len": 32,
                                                       "dropout": 0}).ops if o.fn == "dropout"]
