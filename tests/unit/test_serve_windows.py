"""A serving replica's KV blocks for sliding-window models are sized on every layer's bytes a token, whatever
``engine.max_model_len`` (probe p68 finding 1: Mistral-7B's 131,072 B a token was averaged over max_model_len 32,768
with its 4,096-token window, 16,324 B, so 240,543 blocks held ~130 GB on an 80 GB H100); and a serve report names an
``hf`` model as ``accelsim run`` does (probe p68 finding 6)."""

from __future__ import annotations

import json
import math

import pytest

from accelsim.config import load_arch, load_workload
from accelsim.config.load import WorkloadSpec
from accelsim.config.serving import EngineConfig, load_serving
from accelsim.serving import _transfer, serve
from accelsim.serving.cost import footprint, kv_blocks
from accelsim.serving.metrics import model_title
from accelsim.serving.requests import Request

H100 = 80 * 2**30  # 85,899,345,920 B (arch/h100.yaml)

# Mistral-7B v0.1 (workloads/mistral_7b.yaml): 32 layers, 8 KV heads of 128, a 4,096-token sliding window on every
# layer, bf16 on h100: 32 x 2 (K and V) x 8 x 128 x 2 B = 131,072 B a token; 7,241,732,096 params x 2 B of weights
MISTRAL_TOKEN = 32 * 2 * 8 * 128 * 2
MISTRAL_WEIGHTS = 7_241_732_096 * 2


def _mistral() -> WorkloadSpec:
    w = load_workload("mistral_7b")
    return WorkloadSpec(model=w.model, params={**w.params, "attention": "fused"})


@pytest.mark.parametrize("max_model_len", [4096, 8192, 32768])
def test_a_windowed_models_blocks_hold_every_layers_bytes_whatever_max_model_len(max_model_len):
    arch = load_arch("h100")
    engine = EngineConfig(max_num_seqs=512, max_num_batched_tokens=16384, max_model_len=max_model_len, block_size=16)
    fp = footprint(_mistral(), arch, engine)
    assert fp.kv_bytes_per_token == MISTRAL_TOKEN == 131_072
    assert fp.weight_bytes == MISTRAL_WEIGHTS
    # 0.9 x 85,899,345,920 = 77,309,411,328 B; less 14,483,464,192 B of weights = 62,825,947,136 B; a block of
    # 16 tokens is 16 x 131,072 = 2,097,152 B: 29,957.6, so 29,957 blocks (was 240,543 at 32,768)
    room = H100 * 0.9 - MISTRAL_WEIGHTS
    assert kv_blocks(fp, arch, engine) == math.floor(room / (16 * MISTRAL_TOKEN)) == 29_957


def test_gemma2_counts_its_local_layers_in_full():
    # Gemma-2-9B (workloads/gemma2_9b.yaml): 42 layers (21 local with a 4,096-token window, 21 global), 8 KV heads
    # of 256: a sequence shorter than the window holds 42 x 2 x 8 x 256 x 2 B = 344,064 B a token (was 257,858.6 at
    # max_model_len 8,192, the windows averaged in)
    w = load_workload("gemma2_9b")
    spec = WorkloadSpec(model=w.model, params={**w.params, "attention": "fused"})
    fp = footprint(spec, load_arch("h100"), EngineConfig(max_model_len=8192, max_num_batched_tokens=8192))
    assert fp.kv_bytes_per_token == 42 * 2 * 8 * 256 * 2 == 344_064


SERVE = """\
name: mis
model: {base: mistral_7b}
arch: h100
engine: {max_num_seqs: 64, max_num_batched_tokens: 4096, max_model_len: 32768, block_size: 16}
workload:
  arrival: {process: constant, rate: 1}
  prompt_tokens: {dist: fixed, value: 3000}
  output_tokens: {dist: fixed, value: 8}
  requests: 2
"""


def test_a_disaggregated_handoff_moves_every_layers_kv(tmp_path, monkeypatch):
    # a request of 3,000 computed tokens (inside the 4,096 window) on one chip: 3,000 x 131,072 = 393,216,000 B
    # over a 50 GB/s link with 1 ms latency: 1 ms + 7.86432 ms (was 3,000 x 16,324 B at max_model_len 32,768)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.yaml").write_text(SERVE + "disaggregation: {prefill_replicas: 1, decode_replicas: 1, "
                                             "bandwidth: 50GB/s, latency: 1ms}\n")
    spec = load_serving("d.yaml")
    req = Request(0, 0.0, 3000, 8)
    req.computed = 3000
    seconds = _transfer(spec, footprint(spec.model, spec.arch, spec.serve.engine))
    assert seconds(req) == pytest.approx(1e-3 + 3000 * 131_072 / 50e9, rel=1e-12)
    assert seconds.bytes == 393_216_000


# Qwen2.5-7B's published config.json (no _name_or_path): its folder names it, as in accelsim run
QWEN = {"architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "hidden_size": 3584,
        "intermediate_size": 18944, "max_position_embeddings": 131072, "max_window_layers": 28, "model_type": "qwen2",
        "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": False,
        "use_sliding_window": False, "vocab_size": 152064}


@pytest.mark.parametrize(("extra", "name"), [({}, "qwen25"), ({"_name_or_path": "Qwen/Qwen2.5-7B"}, "Qwen2.5-7B")])
def test_a_serve_report_names_an_hf_model_and_its_architecture(tmp_path, monkeypatch, extra, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qwen25").mkdir()
    (tmp_path / "qwen25" / "config.json").write_text(json.dumps({**QWEN, **extra}))
    (tmp_path / "s.yaml").write_text(
        "name: qwen25_serve\nmodel: {model: hf, config: qwen25/config.json}\narch: h100\n"
        "engine: {max_num_seqs: 8, max_num_batched_tokens: 1024, max_model_len: 1024}\n"
        "workload: {arrival: {process: constant, rate: 1}, prompt_tokens: 64, output_tokens: 4, requests: 2}\n")
    report = serve(load_serving("s.yaml"), cost=lambda *a: 0.01).report
    model = report["model"]
    assert (model["name"], model["model"], model["architecture"]) == (name, "hf", "Qwen2ForCausalLM")
    assert model["params"]["config"] == str(tmp_path / "qwen25" / "config.json")  # resolved from the file
    assert model_title(report) == f"{name} (Qwen2ForCausalLM) on h100"


def test_a_builders_own_model_has_no_architecture_in_its_title():
    report = {"name": "x", "arch": "h100", "model": {"name": "llama2_7b", "model": "llama2_7b", "params": {}}}
    assert model_title(report) == "llama2_7b on h100"
