"""Tensor-parallel shards of GPTQ / AWQ-style weights (int4 / int8 with a scale per group of K) that cut a group or a
packed word are refused, as vLLM's GPTQ and AWQ linear methods refuse them in ``create_weights``
(vllm-project/vllm vllm/model_executor/layers/quantization/awq.py, gptq.py): ``input_size_per_partition %
group_size != 0`` -> "The input size is not aligned with the quantized weight shape. This can be caused by too
large tensor parallel size.", and ``output_size_per_partition % pack_factor != 0`` (pack_factor = 32 / bits: 8
int4 weights or 4 int8 ones a 32-bit word) -> "The output size is not aligned ..." (probe p196 #1).
"""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_workload
from accelsim.errors import WorkloadError


def _llama(model, *sets):
    w = load_workload(model, ["phase=decode", "layers=1", *sets])
    return build_workload(w.model, w.params)


@pytest.mark.parametrize("model, tp, k", [
    ("llama2_7b", 4, 2752),  # down_proj's K = intermediate 11008 / 4 = 2752 = 21.5 x 128
    ("llama2_7b", 8, 1376),  # 11008 / 8 = 1376 = 10.75 x 128
    ("llama2_13b", 8, 1728),  # 13824 / 8 = 1728 = 13.5 x 128
])
@pytest.mark.parametrize("dtype", ["int4", "int8"])
def test_a_row_split_that_cuts_a_group_is_refused(model, tp, k, dtype):
    with pytest.raises(WorkloadError) as e:
        _llama(model, f"weight_dtype={dtype}", f"tensor_parallel={tp}")
    msg = str(e.value)
    assert e.value.key == ("tensor_parallel",) and "quant_group_size" in e.value.also
    assert f"tensor_parallel {tp} splits model.layers.0.mlp.down_proj's {k * tp} input features into {k} per " \
           f"chip, {k / 128:g} groups of quant_group_size 128" in msg, msg
    assert "The input size is not aligned with the quantized weight shape" in msg


@pytest.mark.parametrize("model, sets, k", [
    ("llama2_7b", ("weight_dtype=int4", "tensor_parallel=2"), 5504),  # 11008 / 2 = 5504 = 43 x 128
    ("llama2_70b", ("weight_dtype=int4", "tensor_parallel=8"), 3584),  # 28672 / 8 = 3584 = 28 x 128
    ("llama2_7b", ("weight_dtype=int4", "tensor_parallel=4", "quant_group_size=64"), 2752),  # 2752 = 43 x 64
    ("llama2_7b", ("weight_dtype=int4", "tensor_parallel=8", "quant_group_size=-1"), 1376),  # a scale per row
    ("llama2_7b", ("weight_dtype=fp8", "tensor_parallel=4"), 2752),  # fp8: no groups of K
])
def test_whole_groups_per_chip_are_accepted(model, sets, k):
    g = _llama(model, *sets)
    assert g["model.layers.0.mlp.down_proj"].weights[0].shape[-1] == k


def test_groups_are_checked_only_on_a_split_k():
    # the column-split q/k/v/gate/up keep K = hidden 4096 whole on every chip (32 groups of 128) and split N; the
    # row-split o_proj and down_proj split K (4096 / 2 = 2048 = 16 groups, 11008 / 2 = 5504 = 43 groups)
    g = _llama("llama2_7b", "weight_dtype=int4", "tensor_parallel=2")
    assert g["model.layers.0.mlp.down_proj"].weights[0].shape == (4096, 5504)
    assert g["model.layers.0.mlp.gate_proj"].weights[0].shape == (5504, 4096)


_TINY = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 256,
         "num_attention_heads": 16, "num_key_value_heads": 16, "num_hidden_layers": 1, "vocab_size": 100}


def test_a_column_split_that_cuts_a_packed_word_is_refused():
    # 16 heads of 64 / 16 = 4: at TP 4, 4 heads of 4 = 16 q_proj outputs a chip (2 words of 8 int4 weights): accepted;
    # at TP 8, 2 heads of 4 = 8 (one word of 8 int4, two of 4 int8): accepted; int4 at TP 16 would be 4 outputs,
    # half a word. Per-row scales (-1) keep the input side out of it (a group = the chip's whole K)
    base = {"config": _TINY, "phase": "decode", "kv_len": 16, "dtype": "bf16", "quant_group_size": -1}
    build_workload("hf", {**base, "weight_dtype": "int4", "tensor_parallel": 8})
    with pytest.raises(WorkloadError) as e:
        build_workload("hf", {**base, "weight_dtype": "int4", "tensor_parallel": 16})
    assert e.value.key == ("tensor_parallel",)
    assert "q_proj 4 output features per chip, not a multiple of the 8 int4 weights packed in a 32-bit word" \
        in str(e.value), str(e.value)
    # int8: 4 a word, so TP 16's 4 q_proj outputs fill one
    build_workload("hf", {**base, "weight_dtype": "int8", "tensor_parallel": 16})


def test_the_probe_command_exits_2_with_one_line(tmp_path, capsys):
    code = main(["run", "-q", "-w", "llama2_7b", "-a", "dgx-h100", "--set", "workload.phase=decode", "--set",
                 "workload.weight_dtype=int4", "--set", "workload.tensor_parallel=4", "--set",
                 "workload.attention=fused", "-o", str(tmp_path / "tp4"), "--no-plots"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("accelsim: error: --set: workload.tensor_parallel: llama2_7b: tensor_parallel 4 splits "
                          "model.layers.0.mlp.down_proj's 11008 input features into 2752 per chip"), err
