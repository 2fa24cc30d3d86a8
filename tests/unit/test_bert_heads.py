"""BERT's heads (probe p27 finding 2): BertForPreTraining's MLM + NSP heads, the sequence classifier, and which
one a training step gets."""

from __future__ import annotations

import pydantic
import pytest

from accelsim.builders import build_workload

# bert-base-uncased's config.json (huggingface.co/bert-base-uncased): hidden_size 768, num_hidden_layers 12,
# intermediate_size 3072, vocab_size 30522, max_position_embeddings 512, type_vocab_size 2
H, L, F, V, P, T = 768, 12, 3072, 30522, 512, 2
EMBEDDINGS = V * H + P * H + T * H + 2 * H  # word, position, token type tables; their LayerNorm
LAYER = 4 * (H * H + H) + 2 * H + (H * F + F) + (F * H + H) + 2 * H  # q/k/v/o, LN, MLP, LN
POOLER = H * H + H
BERT_MODEL = EMBEDDINGS + L * LAYER + POOLER
# BertPreTrainingHeads: transform.dense h×h + bias, transform.LayerNorm, cls.predictions.bias (the decoder's weight
# is the word embeddings', counted once), seq_relationship h×2 + bias
PRETRAINING_HEADS = (H * H + H) + 2 * H + V + (2 * H + 2)


def test_hand_counts_are_hfs_published_ones():
    # HF BertModel bert-base-uncased: 109,482,240 params; BertForPreTraining: 110,106,428 (tied decoder)
    assert BERT_MODEL == 109_482_240
    assert BERT_MODEL + PRETRAINING_HEADS == 110_106_428


def test_pretraining_head_params_and_macs():
    pooler = build_workload("bert_base", {"seq_len": 128})
    pre = build_workload("bert_base", {"seq_len": 128, "head": "pretraining"})
    assert pooler.params == BERT_MODEL and pooler.meta["head"] == "pooler"
    assert pre.params == BERT_MODEL + PRETRAINING_HEADS == 110_106_428
    decoder = pre["cls.predictions.decoder"]
    assert [w.name for w in decoder.weights] == ["embeddings.word_embeddings.weight", "cls.predictions.decoder.bias"]
    assert decoder.out_shape == (1, 128, V)
    # every one of the 128 positions: transform 128·768·768, decoder 128·768·30522 (3.0 G), NSP 768·2
    assert pre.macs - pooler.macs == 128 * H * H + 128 * H * V + H * 2 == 3_075_933_696
    assert pre["cls.seq_relationship"].inputs == ("pooler.activation",)


def test_masked_positions_shrink_the_mlm_head():
    # NVIDIA's BERT runs the MLM head on the ~15 % masked tokens: 20 of 128
    all_ = build_workload("bert_base", {"seq_len": 128, "head": "pretraining"})
    masked = build_workload("bert_base", {"seq_len": 128, "head": "pretraining", "masked_positions": 20})
    assert all_.macs - masked.macs == (128 - 20) * (H * H + H * V)
    assert masked["cls.predictions.decoder"].out_shape == (1, 20, V) and masked.params == all_.params


def test_classification_head():
    g = build_workload("bert_base", {"seq_len": 128, "head": "classification", "num_labels": 3})
    assert g.params == BERT_MODEL + H * 3 + 3
    assert g["classifier"].out_shape == (1, 3) and g["classifier"].inputs == ("pooler.activation",)


def test_training_defaults_to_the_pretraining_loss():
    g = build_workload("bert_base", {"seq_len": 128, "mode": "training", "optimizer": "sgd"})
    assert g.meta["head"] == "pretraining" and not g.meta.get("notes")
    loss = g["loss"]
    # the loss reads its logits in fp32, each through its cast (loss.cast0 / loss.cast1: Megatron's output.float(),
    # probe p176 #1)
    assert loss.inputs == ("loss.cast0", "loss.cast1")
    assert g["loss.cast0"].inputs == ("cls.predictions.decoder",)
    assert g["loss.cast1"].inputs == ("cls.seq_relationship",)
    assert loss.vector_elems == 128 * V + 2  # MLM logits at every position, plus NSP's two
    # the tied word embeddings get the look-up's scatter-add and the decoder's weight gradient, summed once
    assert sorted(g["embeddings.word_embeddings.weight.grad"].inputs) == ["cls.predictions.decoder.grad_weight",
                                                                          "embeddings.word_embeddings.grad_weight"]
    # training MACs: 3 × the forward's (the embeddings are parameters, so every matmul needs dX)
    assert g.macs == 3 * build_workload("bert_base", {"seq_len": 128, "head": "pretraining"}).macs


def test_training_with_pooler_says_it_has_no_objective():
    g = build_workload("bert_base", {"seq_len": 128, "mode": "training", "head": "pooler"})
    assert g["loss"].inputs == ("loss.cast",) and g["loss.cast"].inputs == ("pooler.activation",)
    (note,) = g.meta["notes"]
    assert "head pooler" in note and "tanh" in note


@pytest.mark.parametrize(("params", "key"), [
    ({"num_labels": 3}, "num_labels"),  # inference's head is pooler
    ({"mode": "training", "num_labels": 3}, "num_labels"),  # training's is pretraining
    ({"masked_positions": 20}, "masked_positions"),
    ({"head": "pretraining", "masked_positions": 129}, "masked_positions"),  # more than seq_len 128
])
def test_head_keys_of_another_head_are_refused(params, key):
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("bert_base", {"seq_len": 128, **params})
    assert info.value.errors()[0]["loc"] == (key,)
