"""Layer lists with the new layer types: a transformer encoder layer, 3-D convs, recurrent layers; torch.nn's
parameter counts worked by hand; bad layers are one-line errors naming the layer."""

from __future__ import annotations

import pydantic
import pytest

from accelsim.builders import build_workload
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind


def _layers(input_shape, *layers, **extra):
    return build_workload("layers", {"input": list(input_shape), "layers": list(layers), **extra})


def test_transformer_encoder_layer_as_a_list():
    # ids (N=2, L=16) → Embedding(1000, 64) → MHA(64, 4 heads) + residual → LayerNorm → Linear 256 → GELU →
    # Linear 64 + residual → RMSNorm → softmax over a linear to 10
    g = _layers(
        (2, 16),
        {"type": "embedding", "name": "emb", "num_embeddings": 1000, "embedding_dim": 64},
        {"type": "multihead_attention", "name": "attn", "embed_dim": 64, "num_heads": 4, "batch_first": True},
        {"type": "add", "name": "res1", "inputs": ["attn", "emb"]},
        {"type": "layer_norm", "name": "ln", "normalized_shape": 64},
        {"type": "linear", "out_features": 256},
        {"type": "gelu"},
        {"type": "linear", "name": "fc2", "out_features": 64},
        {"type": "add", "name": "res2", "inputs": ["fc2", "ln"]},
        {"type": "rmsnorm", "eps": 1e-6},
        {"type": "linear", "out_features": 10},
        {"type": "softmax"},
    )
    emb = 1000 * 64
    mha = 4 * 64 * 64 + 4 * 64  # torch.nn.MultiheadAttention: in_proj 3E×E + 3E, out_proj E×E + E
    ln, ffn, rms, head = 2 * 64, (64 * 256 + 256) + (256 * 64 + 64), 64, 64 * 10 + 10
    assert g.params == emb + mha + ln + ffn + rms + head
    # MACs: projections 4·L·N·E² and attention 2·N·heads·L²·(E/heads) = 2·N·L²·E, then the MLP and head (L·N = 32)
    assert g.macs == 32 * 4 * 64 * 64 + 2 * 2 * 16 * 16 * 64 + 32 * (64 * 256 * 2 + 64 * 10)
    assert g.ops[-1].kind is OpKind.SOFTMAX and g.ops[-1].out_shape == (2, 16, 10)


def test_sequence_first_attention_and_cross_attention():
    # torch's default layout (L, N, E); a cross-attention with [query, key, value] has the same 4E² + 4E params
    g = _layers(
        (16, 2, 32),
        {"type": "multihead_attention", "name": "self", "embed_dim": 32, "num_heads": 2},
        {"type": "multihead_attention", "name": "cross", "embed_dim": 32, "num_heads": 2, "fused": True,
         "inputs": ["self", "input", "input"]},
    )
    assert g.params == 2 * (4 * 32 * 32 + 4 * 32)
    assert g.ops[-1].out_shape == (16, 2, 32)
    assert any(op.kind is OpKind.ATTENTION for op in g.ops)


def test_three_d_and_recurrent_layers_in_a_list():
    g = _layers(
        (1, 2, 8, 16, 16),
        {"type": "conv3d", "out_channels": 4, "kernel_size": [3, 3, 3], "padding": 1, "bias": False},
        {"type": "batch_norm3d"},
        {"type": "relu"},
        {"type": "max_pool3d", "kernel_size": 2},
        {"type": "conv_transpose3d", "out_channels": 2, "kernel_size": 2, "stride": 2},
        {"type": "adaptive_avgpool3d", "output_size": 1},
        {"type": "flatten"},
    )
    # conv 4·2·27 = 216, bn 8, transpose 4·2·8 + 2 = 66
    assert g.params == 216 + 8 + 66
    assert g.ops[-1].out_shape == (1, 2)
    seq = _layers((5, 3, 8), {"type": "gru", "hidden_size": 6, "bidirectional": True},
                  {"type": "lstm", "input_size": 12, "hidden_size": 4})
    assert seq.ops[-1].out_shape == (5, 3, 4)
    assert seq.params == 2 * (3 * 6 * (8 + 6) + 6 * 6) + (4 * 4 * (12 + 4) + 8 * 4)


def test_bad_new_layers_are_errors_naming_the_layer():
    with pytest.raises(pydantic.ValidationError) as info:
        _layers((1, 2, 8, 8, 8), {"type": "conv3d", "out_channels": 4, "kernel_size": [3, 3]})
    assert info.value.errors()[0]["loc"] == ("layers", 0, "kernel_size")
    with pytest.raises(WorkloadError, match=r"normalized_shape 32 .*\(layers\[0\]\)"):
        _layers((2, 16, 64), {"type": "layernorm", "normalized_shape": 32})
    with pytest.raises(WorkloadError, match="num_heads 5 does not divide"):
        _layers((2, 16, 64), {"type": "multihead_attention", "embed_dim": 64, "num_heads": 5})
    with pytest.raises(WorkloadError, match="used twice"):
        _layers((5, 3, 8), {"type": "lstm", "name": "a", "hidden_size": 4}, {"type": "lstm", "name": "a",
                                                                              "hidden_size": 4})
    two = _layers((5, 3, 8), {"type": "lstm", "hidden_size": 8}, {"type": "lstm", "hidden_size": 8})
    assert two.params == 2 * (4 * 8 * 16 + 8 * 8)  # unnamed layers get unique names


def test_transformer_encoder_layers_preset():
    from pathlib import Path

    import yaml

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "workloads" / "transformer_encoder_layers.yaml")
                         .read_text())
    g = build_workload("layers", {k: v for k, v in doc.items() if k != "model"})
    # embedding 30,000·256, attention 4·256² + 4·256, two LayerNorms 2·(2·256), FFN 256·1024 + 1024 + 1024·256 + 256
    assert g.params == 30_000 * 256 + 4 * 256 * 256 + 4 * 256 + 2 * 2 * 256 + 2 * 256 * 1024 + 1024 + 256


def test_batch_scales_the_batch_dim_of_sequence_first_layers():
    # torch's recurrent and attention layers without batch_first take (L, N, E): batch multiplies N, dim 1
    rnn = {"type": "rnn", "name": "rnn", "input_size": 100, "hidden_size": 200}
    g = _layers((10, 2, 100), rnn, batch=2)
    hh = [op for op in g.ops if op.name.endswith(".hh")]
    assert len(hh) == 10 and hh[0].gemm.m == 4  # 10 steps of N = 2·2 rows, not 20 steps of 2
    assert g.ops[-1].out_shape == (10, 4, 200)
    # MHA(256, 4 heads) on L = 128, N = 1·2: in_proj 256 tokens·256·768 = 50,331,648, scores and context
    # 2·(N·heads·L²·64) = 2·(2·4·128²·64) = 16,777,216, out_proj 256·256·256 = 16,777,216: 83,886,080 = 2 × 41,943,040
    mha = {"type": "multihead_attention", "name": "attn", "embed_dim": 256, "num_heads": 4}
    assert _layers((128, 1, 256), mha, batch=2).macs == 83_886_080 == 2 * _layers((128, 1, 256), mha).macs
    # batch_first: dim 0, as before
    assert _layers((2, 10, 100), {**rnn, "batch_first": True}, batch=2).ops[-1].out_shape == (4, 10, 200)
    # ids (L, N) → embedding → a sequence-first LSTM: the first layer with a layout (the LSTM) decides, N is dim 1
    ids = _layers((6, 3), {"type": "embedding", "num_embeddings": 50, "embedding_dim": 8},
                  {"type": "lstm", "hidden_size": 4}, batch=2)
    assert ids.inputs["input"] == (6, 6) and ids.ops[-1].out_shape == (6, 6, 4)


def test_a_layer_list_of_two_layouts_is_an_error():
    with pytest.raises(WorkloadError, match=r"takes its batch at dim 0 \(batch_first\) but layers\[0\] lstm at dim 1 "
                                            r".*\(layers\[1\]\)$"):
        _layers((5, 3, 8), {"type": "lstm", "hidden_size": 8},
                {"type": "multihead_attention", "embed_dim": 8, "num_heads": 2, "batch_first": True})
    with pytest.raises(WorkloadError, match=r"takes its batch at dim 1 .* but layers\[0\] conv1d at dim 0"):
        _layers((2, 4, 8), {"type": "conv1d", "out_channels": 4, "kernel_size": 1}, {"type": "gru", "hidden_size": 8})


def test_a_bad_input_rank_quotes_the_input_as_written():
    # [10, 100] at batch 2 is [10, 200] inside (N at dim 1); the error names what the file says
    with pytest.raises(WorkloadError, match=r"'input' is \[10, 100\] \(layers\[0\]\)$"):
        _layers((10, 100), {"type": "rnn", "hidden_size": 8}, batch=2)
    with pytest.raises(WorkloadError, match=r"'input' is \[3, 100\] \(layers\[0\]\)$"):
        _layers((3, 100), {"type": "conv2d", "out_channels": 4, "kernel_size": 1}, batch=2)


def test_report_batch_is_the_samples_the_layer_list_runs():
    # input [2, 16, 64] with batch 4: the graph runs 2·4 = 8 samples (the linear's output 8x16x32), so report.json's
    # workload.batch is 8 and j_per_inference the run's energy over 8, not over batch's 4
    import accelsim

    net = {"model": "layers", "name": "lin", "input": [2, 16, 64], "batch": 4,
           "layers": [{"type": "linear", "name": "fc", "out_features": 32}]}
    r = accelsim.simulate(net, "tpu-v1").to_dict()
    assert r["workload"]["batch"] == 8
    assert r["efficiency"]["j_per_inference"] == pytest.approx(r["energy"]["total_j"] / 8, rel=1e-12)


def test_info_header_names_the_samples_the_layer_list_runs(tmp_path, capsys):
    # the same list: `accelsim info` says batch 8 in its title and in --json's workload.batch
    import json

    from accelsim.cli import main

    f = tmp_path / "lin.yaml"
    f.write_text("model: layers\nname: lin\ninput: [2, 16, 64]\nlayers:\n  - {type: linear, out_features: 32}\n")
    assert main(["info", str(f), "--batch", "4"]) == 0
    assert "(batch 8;" in capsys.readouterr().out
    assert main(["info", str(f), "--batch", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["workload"]["batch"] == 8
