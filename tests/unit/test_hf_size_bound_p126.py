"""Size fields of a Hugging Face config bounded at the reader (probe p126 #3): past 2^31 − 1 (cuBLAS's GEMM takes
m, n, k as 32-bit ints; :data:`accelsim.builders.hfspec.MAX_SIZE`) a one-line error at the config's file, line and
key, exit status 2 (before: ``hidden_size: 10**30`` was accepted by ``info``, and ``run`` blamed
``arch/h100.yaml: hbm.capacity``); up to it the counts are exact integers."""

from __future__ import annotations

import json

from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_workload

from .hf_checks import refused

TINY = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
        "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 256,
        "rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": False}


def _config_file(tmp_path, **fields) -> str:
    """TINY with ``fields``, one field a line, as a config.json."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**TINY, **fields}, indent=0))
    return str(path)


def test_a_huge_hidden_size_is_refused_at_its_key_by_info_and_run(tmp_path, capsys):
    path = _config_file(tmp_path, hidden_size=10**30)
    lines = open(path).read().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.startswith('"hidden_size"'))
    for argv in (["info", "hf"], ["run", "--workload", "hf", "--arch", "h100", "-o", str(tmp_path / "out")]):
        assert main([*argv, "--set", f"workload.config={path}"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"accelsim: error: {path}:{line}: hidden_size: expected at most 2,147,483,647"), err
        assert "\n" not in err and "hbm" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_the_bound_is_inclusive_and_applies_to_every_size_field():
    # 2^31 − 1 = 2,147,483,647 is taken, 2^31 is not; a width and a vocabulary as a hidden size
    assert 2**31 - 1 == 2_147_483_647
    for field in ("hidden_size", "intermediate_size", "vocab_size"):
        refused({**TINY, field: 2**31}, field)
    load_workload({"model": "hf", "config": {**TINY, "intermediate_size": 2**31 - 1}})
    # a --set of a field is read by the same reader
    refused(TINY, "num_hidden_layers", num_hidden_layers=2**40)


def test_counts_at_the_bound_are_exact_integers():
    # hidden H = 2^31 − 1 (prime, so 1 head of width H): the parameter count is ~2^64, past float's 2^53, so any
    # float on the way would round it. By hand: embeddings and untied head 2·V·H, q/k/v/o 4·H², gate/up/down
    # 3·H·I, two RMSNorms 2·H, the final norm H
    h, ffn, vocab = 2**31 - 1, 128, 256
    config = {**TINY, "hidden_size": h, "num_attention_heads": 1, "num_key_value_heads": 1}
    w = load_workload({"model": "hf", "config": config, "seq_len": 1})
    g = build_workload(w.model, w.params)
    expected = 2 * vocab * h + 4 * h * h + 3 * h * ffn + 2 * h + h
    assert type(g.params) is int and g.params == expected == 18_446_745_987_117_481_089
