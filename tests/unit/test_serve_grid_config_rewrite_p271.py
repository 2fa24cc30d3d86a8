"""Probe p271 #1, the serving side: the iteration-cost grid was memoised (in the process, and in ``cost.cache_dir``
for other processes) by the model's parameters, in which an ``hf`` model's ``config`` is a path; a config.json
rewritten under the same name then reused the first file's grid. The rewrite here keeps the weights and the KV
bytes per token (and so the KV capacity, also in the key) and changes only the attention heads: 8 heads of 64 → 2
heads of 256, K/V 2·256 = 512 features a token as before, the same 512×512 projections. A grid must equal the one
simulated for the same contents under a name never used before."""

from __future__ import annotations

import json

import accelsim
from accelsim.serving import cost

_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 512,
          "intermediate_size": 1376, "num_attention_heads": 8, "num_key_value_heads": 8, "num_hidden_layers": 2,
          "vocab_size": 1000, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
          "rope_theta": 10000.0, "hidden_act": "silu"}
_FEWER_HEADS = {**_LLAMA, "num_attention_heads": 2, "num_key_value_heads": 2}


def _grid(config: str, cache_dir: str | None = None) -> dict:
    doc = {"name": "s", "model": {"model": "hf", "config": config}, "arch": "h100",
           "engine": {"max_num_seqs": 8, "max_num_batched_tokens": 256, "max_model_len": 1024, "block_size": 16},
           "workload": {"requests": 4, "arrival": {"rate": 50}, "prompt_tokens": {"dist": "fixed", "value": 200},
                        "output_tokens": {"dist": "fixed", "value": 4}},
           **({"cost": {"cache_dir": cache_dir}} if cache_dir else {})}
    report = accelsim.serve(doc).report
    return {k: v for k, v in report["iteration_cost"].items() if k != "simulations"}


def test_a_rewritten_config_gets_its_own_grid_in_one_process(tmp_path):
    (tmp_path / "fresh.json").write_text(json.dumps(_FEWER_HEADS))
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(_LLAMA))
    first = _grid(str(path))
    path.write_text(json.dumps(_FEWER_HEADS))
    second = _grid(str(path))
    want = _grid(str(tmp_path / "fresh.json"))
    assert second == want  # was the first file's grid
    assert first != want  # the rewrite changes the grid (else this test proves nothing)


def test_a_rewritten_config_is_not_served_from_the_cache_dir(tmp_path, monkeypatch):
    (tmp_path / "fresh.json").write_text(json.dumps(_FEWER_HEADS))
    want = _grid(str(tmp_path / "fresh.json"))
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(_LLAMA))
    _grid(str(path), str(tmp_path / "grids"))
    monkeypatch.setattr(cost, "_CACHE", {})  # another process: only the folder's files are left
    path.write_text(json.dumps(_FEWER_HEADS))
    assert _grid(str(path), str(tmp_path / "grids")) == want
    assert len(list((tmp_path / "grids").glob("grid-*.json"))) == 2  # one file for each contents


def test_the_same_relative_model_folder_in_two_folders(tmp_path, monkeypatch):
    # hf's config may be a model folder ("." here); its config.json's contents are in the key, not the folder's name
    (tmp_path / "fresh.json").write_text(json.dumps(_FEWER_HEADS))
    want = _grid(str(tmp_path / "fresh.json"))
    for name, cfg in (("a", _LLAMA), ("b", _FEWER_HEADS)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(cfg))
    monkeypatch.chdir(tmp_path / "a")
    first = _grid(".")
    monkeypatch.chdir(tmp_path / "b")
    assert _grid(".") == want != first


def test_file_digests_of_a_model_folder_are_its_config_json(tmp_path):
    import hashlib

    from accelsim.config.digest import file_digests

    (tmp_path / "config.json").write_text(json.dumps(_LLAMA))
    sha = hashlib.sha256((tmp_path / "config.json").read_bytes()).hexdigest()
    assert file_digests({"config": str(tmp_path)}) == file_digests({"config": str(tmp_path / "config.json")}) \
        == {"config": sha}
    (tmp_path / "config.json").write_text(json.dumps(_FEWER_HEADS))
    assert file_digests({"config": str(tmp_path)})["config"] != sha
    (tmp_path / "config.json").unlink()
    assert file_digests({"config": str(tmp_path)}) == {}  # a folder without one names no file
