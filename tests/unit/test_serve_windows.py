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
from accelsim.serving import _held, _peak_blocks, _transfer, serve
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


# vLLM's hybrid KV-cache manager (engine.hybrid_kv_cache, default true): SlidingWindowManager.remove_skipped_blocks
# frees a window layer's blocks wholly before token computed - window + 1. A 10,000-token sequence decoding its next
# token (10,001 slots, 10,000 computed) spans blocks 0..625 (ceil(10,001 / 16) = 626); the first token a window of
# 4,096 still reads is 10,000 - 4,096 + 1 = 5,905, in block 5,905 // 16 = 369, so blocks 0..368 are freed.
def _fp(name: str, max_model_len: int = 32768):
    w = load_workload(name)
    spec = WorkloadSpec(model=w.model, params={**w.params, "attention": "fused"})
    return footprint(spec, load_arch("h100"), EngineConfig(max_model_len=max_model_len,
                                                          max_num_batched_tokens=max_model_len))


def test_mistral_keeps_the_window_and_the_partial_block():
    fp = _fp("mistral_7b")
    assert fp.windows == ((4096, MISTRAL_TOKEN),)  # every layer's bytes in the one window
    # 626 - 369 = 257 = 4,096 / 16 + 1: the window's 256 blocks and the block the newest token opened
    assert fp.blocks(10_001, 10_000, 16, hybrid=True) == 626 - 369 == 4096 // 16 + 1 == 257
    assert fp.blocks(10_001, 10_000, 16, hybrid=False) == 626  # --disable-hybrid-kv-cache-manager
    assert fp.blocks(4_096, 4_095, 16, hybrid=True) == 256  # nothing out of the window yet: (4,095-4,095)//16 = 0


def test_gemma2_frees_only_its_local_layers():
    # 21 global + 21 local layers of 8 x 256 x 2 (K, V) x 2 B = 8,192 B a token each: 172,032 B a token in each
    # group; the local layers free 369 of their 626 blocks: (626 x 344,064 - 369 x 172,032) / 344,064 = 441.5 -> 442
    fp = _fp("gemma2_9b")
    assert fp.windows == ((4096, 21 * 2 * 8 * 256 * 2),)
    assert fp.blocks(10_001, 10_000, 16, hybrid=True) == math.ceil(626 - 369 / 2) == 442


def test_gpt_oss_frees_its_128_token_layers():
    # gpt-oss-20b: 24 layers alternating a 128-token window and full attention, 8 KV heads of 64: 12 x 2 x 8 x 64
    # x 2 B = 24,576 B a token each half. At 10,000 computed the window reads from 10,000 - 128 + 1 = 9,873, block
    # 617: (626 x 49,152 - 617 x 24,576) / 49,152 = 317.5 -> 318
    fp = _fp("gpt_oss_20b")
    assert fp.kv_bytes_per_token == 2 * 12 * 2 * 8 * 64 * 2
    assert fp.windows == ((128, 12 * 2 * 8 * 64 * 2),)
    assert fp.blocks(10_001, 10_000, 16, hybrid=True) == math.ceil(626 - 617 / 2) == 318


def test_no_window_shorter_than_max_model_len_frees_nothing():
    assert _fp("llama2_7b", 4096).windows == ()
    assert _fp("mistral_7b", 4096).windows == ()  # its 4,096 window never slides within 4,096 tokens
    assert _fp("llama2_7b", 4096).blocks(4_096, 4_095, 16, hybrid=True) == 256


def test_a_requests_peak_blocks_with_and_without_the_hybrid_manager(tmp_path, monkeypatch):
    # 3,000 + 8,000 = 11,000 tokens, of which KV for 10,999 (the last sampled is never fed back; probe p212 #1):
    # ceil(10,999 / 16) = 688 blocks held to the end without freeing. With it the peak is a (recompute's) last
    # prefill chunk of max_num_batched_tokens 4,096 up to 10,999: computed 6,903, the window reads from
    # 6,903 - 4,095 = 2,808, block 175: 688 - 175 = 513 (its last decode holds 688 - (10,998 - 4,095) // 16 =
    # 688 - 431 = 257)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "l.yaml").write_text(SERVE)
    fp = _fp("mistral_7b")
    on, off = (load_serving("l.yaml", [f"engine.hybrid_kv_cache={v}"]) for v in ("true", "false"))
    assert _peak_blocks(on, fp, 11_000) == 688 - 175 == 513
    assert _peak_blocks(off, fp, 11_000) == 688
    assert _held(on, fp)(10_999, 10_998) == 688 - 431 == 257
    assert _held(load_serving("l.yaml", ["engine.prefix_caching=true"]), fp) is None  # not modelled with it
