"""Qwen3-Next (``hf``, Qwen3NextForCausalLM): parameter counts, the Gated DeltaNet layers' ops in a prompt and a
decode step, their fixed-size state in the cache and in a serving replica's memory, the gated full attention, tensor
parallelism, and the refusals.

Every expected figure is worked out below from workloads/qwen3_next_80b.yaml (the published config's sizes) and the
structure of transformers' modeling_qwen3_next (Qwen3NextGatedDeltaNet, Qwen3NextAttention, Qwen3NextSparseMoeBlock)
and FLA's chunk_gated_delta_rule (chunks of 64 tokens) and fused_recurrent_gated_delta_rule; the state cache in the
model's dtype as vLLM keeps it (vllm/model_executor/layers/mamba/mamba_utils.py, MambaStateDtypeCalculator
.gated_delta_net_state_dtype: mamba_ssm_cache_dtype "auto" gives get_kv_cache_torch_dtype("auto", model_dtype), bf16
here), fp32 (FLA's and transformers' final state) with mamba_ssm_cache_dtype: float32.
"""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.builders.hf import HfParams, identical_layers
from accelsim.config import load_arch, load_workload
from accelsim.config.serving import EngineConfig
from accelsim.ir import OpKind

H, VOCAB, LAYERS = 2048, 151936, 48
HK, HV, DK, DV, TAPS = 16, 32, 128, 128, 4  # linear attention: key and value heads, their widths, conv taps
CONV = 2 * HK * DK + HV * DV  # 8192 channels: q, k, v
GDN = H * (CONV + HV * DV) + H * 2 * HV + CONV * TAPS + 2 * HV + DV + HV * DV * H  # in_proj_qkvz, _ba, conv, A, dt, norm, out
FULL = H * 16 * 256 * 2 + 2 * H * 2 * 256 + 16 * 256 * H + 2 * 256  # q_proj (with its gate), k, v, o, q/k norms
EXPERT = 3 * H * 512
MOE = H * 512 + 512 * EXPERT + EXPERT + H  # router, 512 experts, the shared expert and its gate
# a layer's recurrent state and conv taps, both bf16 (vLLM's gated_delta_net_state_dtype under mamba_ssm_cache_dtype
# auto; probe p149 #1: the state was fp32, HV·DK·DV·4, before)
STATE = HV * DK * DV * 2 + CONV * (TAPS - 1) * 2
STATE_FP32 = HV * DK * DV * 4 + CONV * (TAPS - 1) * 2  # with mamba_ssm_cache_dtype: float32


def _model(**params):
    w = load_workload("qwen3_next_80b")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_parameter_counts_by_hand():
    total = 36 * (GDN + MOE + 2 * H) + 12 * (FULL + MOE + 2 * H) + 2 * VOCAB * H + H
    g = _model(seq_len=8)
    assert g.params == g.meta["model_params"] == total == 79_674_391_296
    active = total - (512 - 10) * EXPERT * LAYERS
    assert g.meta["moe"]["active_params"] == active
    # the model card: 80 B total, "A3B": 3 B activated (3.25 B here without the embedding table and head)
    assert round(total / 1e9) == 80 and 3e9 < active - 2 * VOCAB * H < 3.5e9


def test_a_prompt_runs_the_chunked_delta_rule_on_three_layers_of_four():
    g = _model(seq_len=300, layers=4)
    n = math.ceil(300 / 64)  # 5 chunks of 64 tokens: 4 whole ones and the last of 300 - 4 · 64 = 44
    assert n == 5
    lin = "model.layers.0.linear_attn"
    assert g[f"{lin}.in_proj_qkvz"].out_shape == (1, 300, CONV + HV * DV)
    assert g[f"{lin}.conv1d"].weights[0].shape == (CONV, 1, TAPS)
    # per value head and chunk: KKᵀ 64·64·128, the WY form 64·64·(128 + 128); the state pass per head walks the
    # chunks (2 · 64 · 128 · 128 each); the output Q·S + (QKᵀ ⊙ mask)·v_new = 64·128·128 + 64·64·128 + 64·64·128;
    # the last chunk's 44 tokens in place of 64 (FLA's kernels load it with a boundary check, the MACs its own)
    assert g[f"{lin}.chunk_kkt"].macs == HV * (4 * 64 * 64 + 44 * 44) * DK
    assert g[f"{lin}.chunk_wu"].macs == HV * (4 * 64 * 64 + 44 * 44) * (DK + DV)
    assert g[f"{lin}.chunk_state"].macs == HV * 2 * 300 * DK * DV
    assert g[f"{lin}.chunk_state"].gemm.count == HV  # one tile per head: the chunks are its K loop
    assert g[f"{lin}.chunk_o"].macs == HV * sum(c * DK * DV + c * c * DK + c * c * DV for c in (64,) * 4 + (44,))
    assert g[f"{lin}.chunk_o"].gemm.count == HV * n  # the mapper's view: 5 equal chunks of 64
    assert g[f"{lin}.state_write"].dtype == "bf16" and g[f"{lin}.state_write"].out_shape == (1, HV, DK, DV)
    assert not any(op.name.startswith("model.layers.3.linear_attn") for op in g.ops)
    attn = "model.layers.3.self_attn"  # gated attention: q_proj gives each head its query and its gate
    assert g[f"{attn}.q_proj"].out_shape == (1, 300, 16 * 2 * 256)
    assert g[f"{attn}.gate_mul"].in_shapes == ((1, 300, 4096), (1, 300, 4096))
    # the cache after the prompt: three layers' states and one layer's K and V of 2 heads of 256 (bf16)
    assert g.meta["state_cache_bytes"] == 3 * STATE
    assert g.meta["kv_cache_bytes"] == 3 * STATE + 2 * 2 * 300 * 256 * 2


def test_a_prompt_shorter_than_a_chunk_runs_one_chunk_of_its_length():
    # L = 10 < 64: one chunk of 10 tokens; per value head KKᵀ 10·10·128, the WY form 10·10·(128 + 128), the state
    # pass 2·10·128·128, the output 10·128·128 + 10·10·128 + 10·10·128
    g = _model(seq_len=10, layers=1)
    lin = "model.layers.0.linear_attn"
    assert g[f"{lin}.chunk_kkt"].macs == HV * 10 * 10 * DK == 409_600
    assert g[f"{lin}.chunk_wu"].macs == HV * 10 * 10 * (DK + DV) == 819_200
    assert g[f"{lin}.chunk_state"].macs == HV * 2 * 10 * DK * DV == 10_485_760
    assert g[f"{lin}.chunk_o"].macs == HV * (10 * DK * DV + 10 * 10 * DK + 10 * 10 * DV) == 6_062_080


def test_a_decode_step_updates_the_cached_state_in_the_model_dtype_or_fp32():
    d = _model(phase="decode", kv_len=1000, batch=4, layers=4)
    assert d["model.layers.0.linear_attn.recurrent"].dtype == "bf16"  # vLLM's default: the model's dtype
    assert d["model.layers.0.linear_attn.state_write"].out_bytes == 4 * HV * DK * DV * 2
    assert d.meta["state_cache_bytes"] == 3 * 4 * STATE
    # mamba_ssm_cache_dtype: float32 (vLLM's --mamba-ssm-cache-dtype float32; FLA's / transformers' final state)
    g = _model(phase="decode", kv_len=1000, batch=4, layers=4, weight_dtype="int4", mamba_ssm_cache_dtype="float32")
    lin = "model.layers.0.linear_attn"
    assert g.inputs[f"{lin}.recurrent_state"] == (4, HV, DK, DV)
    assert g.inputs[f"{lin}.conv_state"] == (4, CONV, TAPS - 1)
    rec = g[f"{lin}.recurrent"]
    assert rec.kind is OpKind.ELEMENTWISE and rec.dtype == "fp32"  # kept by the int4 precision pass
    assert rec.flops == 7 * 4 * HV * DK * DV  # decay, Sᵀk, the rank-1 update and Sᵀq over the state
    assert g[f"{lin}.state_write"].out_bytes == 4 * HV * DK * DV * 4
    assert g.meta["state_cache_bytes"] == 3 * 4 * STATE_FP32  # the same at any length
    assert _model(phase="decode", kv_len=9000, batch=4, layers=4).meta["state_cache_bytes"] == 3 * 4 * STATE


def test_the_state_per_sequence_is_vllms():
    # probe p149 #1 / p155 #2: 36 GDN layers × (32 heads × 128 × 128 × 2 B + 8192 conv channels × 3 taps × 2 B) =
    # 36 × (1,048,576 + 49,152) = 39,518,208 B a sequence (was 77,266,944 with an fp32 state); at TP 4 each chip holds
    # 8 heads and 2048 channels: 36 × (8 × 128 × 128 × 2 + 2048 × 3 × 2) = 9,879,552 B
    assert _model(phase="decode", kv_len=512).meta["state_cache_bytes"] == 36 * (32 * 128 * 128 * 2 + 8192 * 3 * 2) \
        == 39_518_208
    assert _model(phase="decode", kv_len=512, tensor_parallel=4).meta["state_cache_bytes"] == 9_879_552
    assert _model(phase="decode", kv_len=512, mamba_ssm_cache_dtype="float32").meta["state_cache_bytes"] == \
        36 * (32 * 128 * 128 * 4 + 8192 * 3 * 2) == 77_266_944


def test_tensor_parallelism_splits_the_linear_heads_and_replicates_the_two_kv_heads():
    g = _model(seq_len=64, layers=4, tensor_parallel=4)
    assert g["model.layers.0.linear_attn.in_proj_qkvz"].out_shape == (1, 64, (CONV + HV * DV) // 4)
    assert g["model.layers.3.self_attn.k_proj"].out_shape == (1, 64, 256)  # one KV head a chip (2 on 4 chips)
    assert g["model.layers.3.self_attn.q_proj"].out_shape == (1, 64, 4 * 2 * 256)


def test_a_serving_replica_reserves_the_states_before_its_kv_blocks():
    from accelsim.config.load import WorkloadSpec
    from accelsim.serving.cost import footprint, kv_blocks

    w = load_workload("qwen3_next_80b")
    spec = WorkloadSpec(model=w.model, params={**w.params, "tensor_parallel": 8, "attention": "fused"})
    arch = load_arch("dgx-h100")
    engine = EngineConfig(max_num_seqs=32, max_model_len=4096, block_size=64)
    fp = footprint(spec, arch, engine)
    assert fp.state_bytes_per_seq == 36 * STATE // 8  # every head split 8 ways
    assert fp.kv_bytes_per_token == 12 * 2 * 1 * 256 * 2  # 12 full layers, K and V, one (replicated) head of 256
    room = 80 * 2**30 * engine.gpu_memory_fraction - fp.weight_bytes - 32 * fp.state_bytes_per_seq
    assert kv_blocks(fp, arch, engine) == math.floor(room / (64 * fp.kv_bytes_per_token))


def test_training_is_refused_and_the_layers_are_not_alike():
    with pytest.raises(ValidationError, match="training is not modelled for Qwen3NextForCausalLM's recurrent"):
        _model(mode="training")
    w = load_workload("qwen3_next_80b")
    # 8 layers are 2 units of 3 linear-attention layers and a full one: too few to extrapolate (the whole model's
    # 48 are 12 units, tests/unit/test_serving_sampling.py)
    assert identical_layers(HfParams(**{**w.params, "layers": 8})) is None


def test_prefix_caching_is_refused_for_a_model_with_recurrent_state(tmp_path, monkeypatch, capsys):
    # a cached prefix's KV blocks do not hold the Gated DeltaNet state after it: the serving file's engine line
    from accelsim.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(
        "name: t\nmodel: {base: qwen3_next_80b, tensor_parallel: 8, layers: 4}\narch: dgx-h100\n"
        "engine: {max_num_seqs: 4, prefix_caching: true}\n"
        "workload:\n  arrival: {process: poisson, rate: 2}\n  prompt_tokens: {dist: fixed, value: 10}\n"
        "  output_tokens: {dist: fixed, value: 2}\n  requests: 5\n")
    assert main(["serve", "s.yaml", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("accelsim: error: s.yaml:4: engine.prefix_caching: not modelled for "
                                               "qwen3_next_80b's recurrent layers")


def test_a_disaggregated_handoff_moves_the_state_with_the_kv():
    # the KV transfer of a prefilled request: its tokens' KV bytes and its recurrent state over the link
    from accelsim.serving import _transfer
    from accelsim.serving.cost import Footprint
    from accelsim.serving.requests import Request

    class Spec:  # the fields _transfer reads
        class serve:  # noqa: N801
            class disaggregation:  # noqa: N801
                bandwidth, latency = 100e9, 5e-6
                prefill_replicas = decode_replicas = 1
        class model:  # noqa: N801
            params: dict = {}
        arch = load_arch("dgx-h100")

    fp = Footprint(weight_bytes=1, kv_bytes_per_token=12288.0, state_bytes_per_seq=19_316_736)
    req = Request(id=0, arrival=0.0, prompt=2000, output=10)
    req.computed = 2000
    assert _transfer(Spec, fp)(req) == pytest.approx(5e-6 + (2000 * 12288 + 19_316_736) / 100e9)


def test_a_swap_preemption_moves_the_state_with_the_blocks():
    # a replica whose model keeps a recurrent state pays, beside each swapped KV block, the state's trip over the
    # host link, out when preempted and back when readmitted: 3 blocks of 1 ms and a 5 ms state
    from accelsim.config.serving import EngineConfig
    from accelsim.serving.engine import Replica
    from accelsim.serving.requests import Request

    engine = EngineConfig(max_num_seqs=4, block_size=16, preemption="swap")
    rep = Replica(0, engine, 10, lambda *a: 0.0, swap_s_per_block=1e-3, swap_s_per_state=5e-3)
    req = Request(id=0, arrival=0.0, prompt=40, output=4)
    rep.waiting.append(req)
    rep.schedule(0.0)  # admitted: ⌈40 / 16⌉ = 3 blocks
    assert req.blocks == 3
    assert rep._preempt(req) == pytest.approx(3 * 1e-3 + 5e-3)
    assert rep._admit(rep.waiting[0], 100)[1] == pytest.approx(3 * 1e-3 + 5e-3)


def test_a_one_tap_conv_is_refused_at_linear_conv_kernel_dim():
    with pytest.raises(ValidationError, match=r"linear_conv_kernel_dim: expected an integer ≥ 2 \(got 1\): the causal_conv1d kernels \(causal-conv1d's, vLLM's\) take widths from 2"):
        _model(seq_len=8, linear_conv_kernel_dim=1)
