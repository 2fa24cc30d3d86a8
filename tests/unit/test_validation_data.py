"""benchmarks/validation's reading side: file discovery, formats, hardware tags, the arch map, and what each
planner makes of a file's rows (no simulation)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from validation import TARGETS, plan_file, read_rows  # noqa: E402  (benchmarks/validation/)
from validation.data import DEFAULT_ARCH_MAP, classify, discover, hardware_of, load_arch_map  # noqa: E402


def _csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_read_rows_skips_comments(tmp_path):
    p = _csv(tmp_path / "matmul_A100.csv", "# source: somewhere\nM,N,K,latency_ms\n# a note\n8,16,32,0.5\n")
    assert read_rows(p) == [{"M": "8", "N": "16", "K": "32", "latency_ms": "0.5"}]
    assert classify(p) == "matmul"


@pytest.mark.parametrize(("name", "header", "kind"), [
    ("softmax_A100.csv", "M,N,latency_us_derived", "softmax"),
    ("gelu_MI210.csv", "num_elements,latency_us_derived", "gelu"),
    ("gpt3_layer_decode_A100.csv", "op,latency_s", "gpt3_layer"),
    ("a100_x_ops.csv", "num_tokens,n_embd,tp,emb_median_ms", "vidur_ops"),
    ("allreduce_a100_dgx.csv", "num_workers,devices_per_node,bytes,median_ms", "vidur_allreduce"),
    ("allreduce_A100x4.csv", "size_bytes,latency_us", "allreduce_sizes"),
    ("megatron.csv", "model,measured_iteration_time_s", "training"),
    ("die_area.csv", "component,a100_mm2", "area"),
    ("gemm.csv", "framework,version,kernel_source,dtype,m,n,k,latency_us", "aic_gemm"),
    ("context_attention.csv", "batch_size,num_heads,num_key_value_heads,head_dim,q_len,kv_len,latency_us",
     "aic_attention"),
    ("nccl_all_reduce.csv", "version,op_name,num_gpus,message_elements,message_bytes,latency_us", "aic_nccl"),
    ("kernels.csv", "op,dtype,shape,bytes,latency_us", "measured_kernels"),
    ("gemm_burst.csv", "dtype,m,n,k,mode,calls,latency_us", "gemm_burst"),
    ("llama_inference.csv", "model,dtype,phase,batch,seq_len,kv_len,mode,latency_us", "model_inference"),
    ("llama_training.csv", "model,dtype,phase,batch,seq_len,params,mode,latency_us", "model_training"),
    ("power.csv", "what,dtype,m,n,k,seconds,calls,latency_us,tflops,power_w_mean,sm_clock_mhz_mean,samples",
     "power"),
    ("other.csv", "a,b", "unknown"),
])
def test_classify(tmp_path, name, header, kind):
    assert classify(_csv(tmp_path / name, header + "\n")) == kind


def test_hardware_tag_of_file_names():
    for name, tag in (("matmul_A100", "a100"), ("h100_Llama-2-7b-hf_ops", "h100"),
                      ("allreduce_A100x4_nvlink", "a100"), ("softmax_MI210", "mi210"), ("die_area", None)):
        assert hardware_of(Path(name + ".csv"), DEFAULT_ARCH_MAP) == tag
    # aiconfigurator names the system by its folder; measure_model.py's files lie one folder further down
    assert hardware_of(Path("aiconfigurator/a100_sxm/gemm.csv"), DEFAULT_ARCH_MAP) == "a100"
    assert hardware_of(Path("h200_sxm/models/llama_inference.csv"), DEFAULT_ARCH_MAP) == "h200"


def test_discover_labels_and_leaves_out_verbatim(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for p in (a / "x.csv", a / "sub" / "y.csv", a / "verbatim" / "z.csv", b / "sub" / "y.csv"):
        _csv(p, "h\n")
    assert [label for label, _ in discover([a, b, a])] == ["x.csv", "sub/y.csv", "b/sub/y.csv"]


def test_arch_map_from_yaml(tmp_path):
    _csv(tmp_path / "mine.yaml", "name: mine\n")
    amap = load_arch_map(_csv(tmp_path / "map.yaml", "a100: mine.yaml\nmi210: {network: dgx-a100}\n"))
    assert amap["a100"] == {"compute": str(tmp_path / "mine.yaml"), "network": "dgx-a100"}
    assert amap["mi210"] == {"compute": "mi210", "network": "dgx-a100"}
    with pytest.raises(SystemExit, match="expected 'compute' or 'network'"):
        load_arch_map(_csv(tmp_path / "bad.yaml", "a100: {memory: x}\n"))


def test_vidur_ops_plan(tmp_path):
    p = _csv(tmp_path / "a100_m_ops.csv",
             "tp,num_tokens,n_embd,n_expanded_embd,n_head,n_kv_head,use_gated_mlp,attn_pre_proj_M,attn_pre_proj_N,"
             "attn_pre_proj_K,attn_pre_proj_median_ms,mlp_act_median_ms,emb_median_ms,attn_kv_median_ms\n"
             "2,16,4096,11008,32,32,True,16,6144,4096,0.05,0.01,0,0.02\n")
    plan = plan_file(p)
    assert plan.kind == "vidur_ops" and plan.preset == "a100"
    assert [(r.key, r.terms[0][0][1]) for r in plan.rows] == [
        ("tp=2 tokens=16 attn_pre_proj 16x6144x4096", "gemm"), ("tp=2 tokens=16 mlp_act 16x5504", "silu_mul")]
    assert plan.skipped == [("tp=2 tokens=16 emb", "measured time is 0"),
                            ("tp=2 tokens=16 attn_kv", "no micro-workload for this op")]
    assert [v.label for v in plan.views][:2] == ["attn_pre_proj", "mlp_act"]
    # issue 12: each memory-bound kernel <= 15 % on its own (SiLU*mul here); "all replayed ops" has one target, the
    # earlier issue's 10 % (probe p80 #9: one view, one verdict); a GEMM view counts towards neither. The row is
    # gated, so no proxy is left out and the label claims no exclusion
    targets = {v.label: v.target for v in plan.views}
    assert (targets["mlp_act"], targets["attn_pre_proj"]) == ("vidur_kernel", None)
    assert [label for label, t in targets.items() if t == "vidur"] == ["all replayed ops"]
    assert TARGETS["vidur_kernel"][1] == 15.0 and TARGETS["vidur"][1] == 10.0 and "vidur_all" not in TARGETS
    # a non-gated MLP: its mlp_act (SiLU*mul standing in for a plain activation) is the one row the view leaves out
    ng = plan_file(_csv(tmp_path / "a100_ng_ops.csv",
                        "tp,num_tokens,n_embd,n_expanded_embd,n_head,n_kv_head,use_gated_mlp,attn_pre_proj_M,"
                        "attn_pre_proj_N,attn_pre_proj_K,attn_pre_proj_median_ms,mlp_act_median_ms\n"
                        "2,16,4096,11008,32,32,False,16,6144,4096,0.05,0.01\n"))
    [view] = [v for v in ng.views if v.target == "vidur"]
    assert view.label == "all replayed ops except 1 non-gated mlp_act (proxy)"
    assert [view.select(r) for r in ng.rows] == [True, False]


def test_gpt3_decode_plan_merges_attention(tmp_path):
    ops = {"Q_K_V": 1e-4, "Q_mul_K": 1e-5, "Softmax": 2e-5, "A_mul_V": 3e-5, "Dropout": 1e-6}
    p = _csv(tmp_path / "gpt3_layer_decode_A100.csv", "op,latency_s\n" + "".join(f"{k},{v}\n" for k, v in ops.items()))
    plan = plan_file(p)
    assert [r.group for r in plan.rows] == ["Q_K_V", "Q_mul_K+Softmax+A_mul_V", "layer total"]
    assert plan.rows[1].measured_s == pytest.approx(6e-5) and plan.rows[1].extra_s == pytest.approx(54e-6)
    assert plan.rows[-1].measured_s == pytest.approx(1.6e-4)
    assert plan.skipped == [("Dropout", "no mapping for this op")]
    assert plan.views[-1].target == "gpt3" and "some ops skipped" in plan.views[-1].note


def test_burst_pairs_are_listed_not_replayed(tmp_path):
    p = _csv(tmp_path / "h200_sxm" / "gemm_burst.csv", "dtype,m,n,k,mode,calls,latency_us\n"
             "bf16,8192,8192,8192,burst,10,1400\nbf16,8192,8192,8192,sustained,10,1760\n")
    plan = plan_file(p)
    assert plan.rows == [] and [k for k, _ in plan.skipped] == ["8192x8192x8192 burst", "8192x8192x8192 sustained"]


def test_files_not_replayed(tmp_path):
    area = plan_file(_csv(tmp_path / "die_area_A100.csv", "component,a100_mm2\ncore,1\nl2,2\n"))
    assert area.compared == "not replayed" and [k for k, _ in area.skipped] == ["core", "l2"]
    unknown = plan_file(_csv(tmp_path / "notes_A100.csv", "a\n1\n"))
    assert unknown.skipped == [("row 1", "unknown file format")]
    no_preset = plan_file(_csv(tmp_path / "matmul_TPU.csv", "M,N,K,latency_ms\n1,1,1,1\n"))
    assert no_preset.skipped == [("row 1", "no preset for hardware None (see --arch-map)")]


def test_aiconfigurator_plans(tmp_path):
    d = tmp_path / "aiconfigurator" / "a100_sxm"
    gemm = plan_file(_csv(d / "gemm.csv", "framework,version,kernel_source,dtype,m,n,k,latency_us\n"
                                          "VLLM,0.14.0,vllm_default,bf16,8,128,512,3.5\n"))
    assert gemm.preset == "a100" and gemm.rows[0].measured_s == pytest.approx(3.5e-6)
    # the collector times CUDA-graph replays: simulated as a graph, compared without the host launch ("replay"),
    # its 6 linear layers reading the same x: the input starts in the L2 ("warm=all"); their 6 weights are re-read
    # replay after replay ("params=6", collect_gemm.py outside_loop_count = 6); the timing window opens on an idle
    # GPU, so the host's launch of the first of its 6 timed replays is shared by their 6 x 6 layers
    j = ("a100|execution=cuda_graph|warm=all|params=6", "gemm", (("dtype", "bf16"), ("k", 512), ("m", 8), ("n", 128)))
    assert gemm.rows[0].terms == ((j, 1, "replay"), (j, pytest.approx(1 / 36), "host_launch"))
    head = "framework,version,kernel_source,batch_size,num_heads,num_key_value_heads,head_dim,q_len,kv_len,latency_us\n"
    pre = plan_file(_csv(d / "context_attention.csv", head + "VLLM,0.14.0,fa,4,32,8,128,512,512,20.0\n"))
    dec = plan_file(_csv(d / "generation_attention.csv", head + "VLLM,0.14.0,fa,8,32,4,128,1,1024,15.0\n"))
    assert dict(pre.rows[0].terms[0][0][2]) == {"batch": 4, "heads": 32, "kv_heads": 8, "head_dim": 128, "q_len": 512,
                                                "kv_len": 512, "attention": "fused", "causal": True, "dtype": "bf16",
                                                "kv_cache_write": True}  # vLLM's reshape_and_cache_flash first
    assert dict(dec.rows[0].terms[0][0][2])["causal"] is False  # one query sees the whole cache
    # one attention call per replay: the first launch is shared by the 6 timed replays (helper.py num_runs = 6)
    assert [(t[1], t[2]) for t in dec.rows[0].terms] == [(1, "replay"), (pytest.approx(1 / 6), "host_launch")]
    nccl = plan_file(_csv(d / "nccl_all_reduce.csv", "version,op_name,num_gpus,message_elements,message_bytes,"
                                                     "latency_us\n2.27.3,all_reduce,4,1048576,2097152,46.2\n"))
    assert nccl.preset == "dgx-a100" and nccl.rows[0].terms[0][0] == (
        "dgx-a100|chips=4", "collective", (("bytes", 2097152), ("dtype", "fp16"), ("op", "all_reduce")))
    assert [v.label for v in nccl.views][:1] == [">= 1 MiB"] and nccl.views[0].target == "nccl"


def test_first_launch_is_the_collectors_not_measure_gpus(tmp_path):
    # measure_gpu.py (framework torch) times batches of >= 2 ms: no first-launch term. A one-layer type (nvfp4:
    # outside_loop_count = 1) shares it over 6 replays; fp8_block runs eager (launch and replay overlap, "max")
    head = "framework,version,kernel_source,dtype,m,n,k,latency_us\n"
    ours = plan_file(_csv(tmp_path / "measured" / "h200_sxm" / "gemm.csv", head + "torch,2.11,lin,bf16,16,1024,1024,4\n"
                                                                           "torch,2.11,mm,fp8,16,1024,1024,4\n"))
    assert [t[2] for t in ours.rows[0].terms] == ["replay"]
    assert "gemm_library" not in ours.rows[1].terms[0][0][0]  # torch._scaled_mm (cuBLASLt), not vLLM's kernel
    aic = plan_file(_csv(tmp_path / "aiconfigurator" / "b200_sxm" / "gemm.csv",
                         head + "VLLM,0.14.0,x,nvfp4,16,1024,1024,4\nVLLM,0.14.0,x,fp8_block,16,1024,1024,4\n"))
    assert [(t[1], t[2]) for t in aic.rows[0].terms] == [(1, "replay"), (pytest.approx(1 / 6), "host_launch")]
    assert [t[2] for t in aic.rows[1].terms] == ["replay", "launch"] and aic.rows[1].combine == "max"


def test_float_gemm_rows_take_their_own_activations(tmp_path):
    # measure_gpu.py's fp16 / tf32 / fp32 rows run F.linear on x and weights of that dtype: no quantize kernel
    # before the GEMM and no bf16 output, unlike an fp8 row (a bf16 x cast to e4m3 by a kernel of its own)
    head = "framework,version,kernel_source,dtype,m,n,k,latency_us\n"
    gemm = plan_file(_csv(tmp_path / "measured" / "h200_sxm" / "gemm.csv",
                          head + "".join(f"torch,2.11,torch_linear,{t},16,1024,1024,4.0\n"
                                         for t in ("bf16", "fp16", "tf32", "fp32", "fp8"))))
    params = [dict(r.terms[0][0][2]) for r in gemm.rows]
    assert [p["dtype"] for p in params] == ["bf16", "fp16", "tf32", "fp32", "fp8"]
    assert [(p.get("input_dtype"), p.get("output_dtype")) for p in params] == [(None, None)] * 4 + [("bf16", "bf16")]


def test_held_out_aiconfigurator_systems_replay_on_their_presets(tmp_path):
    # the team's held-out tables come as aiconfigurator/<system>/*.csv of the other GPUs: each folder names its
    # preset, a GEMM row runs at its type's dtype (collect_gemm.py types: bfloat16, fp8, fp8_block, nvfp4, awq,
    # gptq), weight-only types are skipped with their reason, never replayed as bf16; an fp8 KV cache replays with
    # the attention micro's kv_cache_dtype
    gemm_head = "framework,version,kernel_source,dtype,m,n,k,latency_us\n"
    for system, compute, network in (("h100_sxm", "h100", "dgx-h100"), ("h200_sxm", "h200", "dgx-h200"),
                                     ("b200_sxm", "b200", "dgx-b200")):
        d = tmp_path / "aiconfigurator" / system
        gemm = plan_file(_csv(d / "gemm.csv", gemm_head + "VLLM,0.16.0,vllm,bfloat16,8,128,512,3.5\n"
                                                          "VLLM,0.16.0,vllm,fp8,8,128,512,3.0\n"
                                                          "VLLM,0.16.0,vllm,fp8_block,8,128,512,3.2\n"
                                                          "VLLM,0.16.0,vllm,awq,8,128,512,4.0\n"))
        assert gemm.preset == compute
        assert [dict(r.terms[0][0][2])["dtype"] for r in gemm.rows] == ["bf16", "fp8", "fp8"]
        assert [r.terms[0][0][0].split("|")[0] for r in gemm.rows] == [compute] * 3
        assert [reason.startswith("GEMM type 'awq'") for _, reason in gemm.skipped] == [True]
        labels = [v.label for v in gemm.views]
        assert {"type bfloat16", "type fp8", "type fp8_block"} <= set(labels)
        # collect_gemm.py: x is bf16 and vLLM's quantised linear returns bf16, so the fp8 rows quantize their bf16
        # input in a kernel of their own and write bf16; bf16 rows have neither
        params = [dict(r.terms[0][0][2]) for r in gemm.rows]
        assert [(p.get("input_dtype"), p.get("output_dtype")) for p in params] == [(None, None)] + [("bf16", "bf16")] * 2
        # 6 layers per graph for bfloat16 / fp8, one for fp8_block (outside_loop_count); fp8_block is timed eagerly
        # (use_cuda_graph=False): the larger of the eager run's host launches and the kernels' replay time
        settings = [r.terms[0][0][0] for r in gemm.rows]
        assert ["params=6" in a for a in settings] == [True, True, False] and "params=1" in settings[2]
        # vLLM's fp8 linear (Fp8LinearOp, per-tensor) runs vLLM's own CUTLASS dispatch: the fp8 row replays under
        # the preset's "vllm" table (h100 / h200: sm90's; b200: an empty one, FlashInfer's bmm_fp8); bf16 rows are
        # cuBLAS's and fp8_block rows DeepGEMM's / the blockwise kernel's: the generic choice
        assert ["gemm_library=vllm" in a for a in settings] == [False, True, False]
        eager = gemm.rows[2]
        assert eager.combine == "max" and [t[2] for t in eager.terms] == ["replay", "launch"]
        assert "execution=eager" in eager.terms[1][0][0] and "execution=cuda_graph" in eager.terms[0][0][0]
        nccl = plan_file(_csv(d / "nccl_all_reduce.csv", "version,op_name,num_gpus,message_elements,message_bytes,"
                                                         "latency_us\n2.27.3,all_reduce,8,1048576,2097152,30.0\n"))
        assert nccl.preset == network and nccl.rows[0].terms[0][0][0] == f"{network}|chips=8"
        # issue 12's goals for these GPUs, not the A100 targets: bf16 GEMM 10 %, fp8 GEMM 15 % (fp8_block rows
        # count as fp8), attention 15 %, all-reduce 15 %
        goals = {v.label: v.target for v in gemm.views if v.target}
        assert goals == {"bf16 rows": "held_out_gemm_bf16", "fp8 rows": "held_out_gemm_fp8"}
        fp8 = next(v for v in gemm.views if v.label == "fp8 rows")
        assert [fp8.select(r) for r in gemm.rows] == [False, True, True]
        assert [TARGETS[g][1] for g in ("held_out_gemm_bf16", "held_out_gemm_fp8")] == [10.0, 15.0]
        assert nccl.views[0].target == "held_out_nccl" and TARGETS["held_out_nccl"][1] == 15.0
        head = ("framework,version,kernel_source,batch_size,num_heads,num_key_value_heads,head_dim,q_len,kv_len,"
                "latency_us\n")
        dec = plan_file(_csv(d / "generation_attention.csv", head + "VLLM,0.14.0,fa,8,32,4,128,1,1024,15.0\n"))
        assert dec.views[0].target == "held_out_attention" and TARGETS["held_out_attention"][1] == 15.0
    # collect_nccl.py's other ops and dtypes: nccl-tests' alltoall_perf is the micro's all_to_all; an int8 buffer
    # (message_elements x 1 B when no message_bytes column) runs as int8; an unknown dtype is skipped with its reason
    other = plan_file(_csv(tmp_path / "aiconfigurator" / "h100_sxm" / "nccl_other.csv",
                           "version,op_name,num_gpus,message_elements,nccl_dtype,latency_us\n"
                           "2.27.3,alltoall,8,1048576,half,40.0\n2.27.3,all_gather,8,1048576,int8,20.0\n"
                           "2.27.3,all_reduce,8,1048576,fp64,90.0\n"))
    params = [dict(r.terms[0][0][2]) for r in other.rows]
    assert [(p["op"], p["bytes"], p["dtype"]) for p in params] == [("all_to_all", 2097152, "fp16"),
                                                                   ("all_gather", 1048576, "int8")]
    assert len(other.skipped) == 1 and "'fp64'" in other.skipped[0][1]
    head = ("framework,version,kernel_source,batch_size,num_heads,num_key_value_heads,head_dim,q_len,kv_len,"
            "kv_cache_dtype,latency_us\n")
    dec = plan_file(_csv(tmp_path / "aiconfigurator" / "h200_sxm" / "generation_attention.csv",
                         head + "VLLM,0.16.0,fa,8,32,4,128,1,1024,bfloat16,15.0\n"
                                "VLLM,0.16.0,fa,8,32,4,128,1,1024,fp8,11.0\n"))
    assert dec.preset == "h200" and not dec.skipped
    assert [dict(r.terms[0][0][2]).get("kv_cache_dtype") for r in dec.rows] == [None, "fp8"]


def test_measured_kernels_plan(tmp_path):
    # benchmarks/kernels/measure_gpu.py's kernels.csv (benchmarks/data/measured/README.md): each op replays as the
    # micro-workload of the same kernel under graph replay with warm inputs; ops with no such micro are skipped with
    # their reason, never replayed as something else
    p = _csv(tmp_path / "h200_sxm" / "kernels.csv", "op,dtype,shape,bytes,latency_us\n"
             "add,fp16,1024x4096,25165824,4.66\n"          # 3 x 2 B x 1024 x 4096
             "gelu,fp16,16x8192,262144,2.5\n"
             "embedding,fp16,128x4096,2098176,2.7\n"
             "embedding_bag_sum,fp32,2048x20x1000000x128,21495808,12.4\n"
             "silu_mul_eager,fp16,16x4096,393216,3.8\n"
             "copy,fp16,524288,2097152,2.6\n")
    plan = plan_file(p)
    assert plan.preset == "h200" and plan.compared.startswith("device time of one call replayed")
    jobs = [r.terms[0][0] for r in plan.rows]
    assert [j[0] for j in jobs] == ["h200|execution=cuda_graph|warm=all"] * 4
    assert [(j[1], dict(j[2])) for j in jobs] == [
        ("add", {"rows": 1024, "cols": 4096, "dtype": "fp16"}),
        ("gelu", {"elements": 16 * 8192, "dtype": "fp16"}),
        ("embedding_bag", {"batch": 128, "rows": 32000, "dim": 4096, "pooling": 1, "kernel": "embedding_gather",
                           "dtype": "fp16"}),
        ("embedding_bag", {"batch": 2048, "rows": 1000000, "dim": 128, "pooling": 20, "dtype": "fp32"})]
    assert [r.terms[0][2] for r in plan.rows] == ["replay"] * 4
    assert plan.rows[0].measured_s == pytest.approx(4.66e-6)
    assert [k.split()[0] for k, _ in plan.skipped] == ["silu_mul_eager", "copy"]


def test_tf32_and_fp32_gemm_rows_replay_at_their_dtype(tmp_path):
    # measure_gpu.py's fp32 / tf32 rows: fp32 tensors throughout, so no bf16 input / output conversion
    p = _csv(tmp_path / "h200_sxm" / "gemm.csv", "framework,version,kernel_source,dtype,m,n,k,latency_us\n"
             "torch,2.11.0,torch_linear,tf32,16,1024,1024,5.9\ntorch,2.11.0,torch_linear,fp32,16,1024,1024,12.2\n")
    plan = plan_file(p)
    assert [dict(r.terms[0][0][2]) for r in plan.rows] == [
        {"m": 16, "n": 1024, "k": 1024, "dtype": "tf32"}, {"m": 16, "n": 1024, "k": 1024, "dtype": "fp32"}]


def test_combine_runs_takes_each_rows_median(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks" / "kernels"))
    from combine_runs import combine

    head = "framework,version,kernel_source,dtype,m,n,k,latency_us\n"
    for i, t in enumerate(("3.0", "5.0", "4.0")):
        _csv(tmp_path / f"r{i}" / "gemm.csv", head + f"torch,2.11,lin,bf16,1,128,128,{t}\n"
             + ("torch,2.11,lin,bf16,8,128,128,9.0\n" if i == 0 else ""))
    header, rows = combine([tmp_path / f"r{i}" for i in range(3)], "gemm.csv")
    assert header[-4:] == ["latency_us", "min_us", "max_us", "runs"]
    # median of 3.0, 5.0, 4.0 is 4.0; a row only one run has keeps that run's value
    assert rows == [["torch", "2.11", "lin", "bf16", "1", "128", "128", "4.0000", "3.0000", "5.0000", "3"],
                    ["torch", "2.11", "lin", "bf16", "8", "128", "128", "9.0000", "9.0000", "9.0000", "1"]]
    # the clock and power read after each row differ run to run: values (their median), not part of the row's name
    head = "op,dtype,shape,bytes,latency_us,sm_clock_mhz,power_w\n"
    for i, (t, mhz, w) in enumerate((("2.0", "1980", "300"), ("2.2", "1400", "699"), ("2.1", "1755", "500"))):
        _csv(tmp_path / f"k{i}" / "kernels.csv", head + f"add,fp16,1x4096,24576,{t},{mhz},{w}\n")
    header, rows = combine([tmp_path / f"k{i}" for i in range(3)], "kernels.csv")
    assert rows == [["add", "fp16", "1x4096", "24576", "2.1000", "1755", "500", "2.0000", "2.2000", "3"]]


def test_pytorch_attention_rows_replay_the_kernel_they_timed(tmp_path):
    # measure_gpu.py times F.scaled_dot_product_attention on contiguous tensors: no KV-cache write before it (vLLM's
    # rows have reshape_and_cache_flash), and its FLASH backend is FlashAttention-2 on every GPU, so the h200
    # preset (vLLM's FlashAttention-3 by default) replays it with its flash2 kernel model; cuDNN's keeps the preset's
    from validation.jobs import load_preset

    head = "framework,version,kernel_source,batch_size,num_heads,num_key_value_heads,head_dim,q_len,kv_len,latency_us\n"
    plan = plan_file(_csv(tmp_path / "h200_sxm" / "context_attention.csv",
                          head + "torch,2.11.0,sdpa_flash,1,32,8,128,512,512,20.0\n"
                                 "torch,2.11.0,sdpa_cudnn,1,32,8,128,512,512,15.0\n"
                                 "VLLM,0.14.0,vllm_flash_attn,1,32,8,128,512,512,18.0\n"))
    arch = [r.terms[0][0][0] for r in plan.rows]
    writes = [dict(r.terms[0][0][2])["kv_cache_write"] for r in plan.rows]
    assert writes == [False, False, True]
    assert "|kernel=flash2_dense" in arch[0] and "|kernel=" not in arch[1] and "|kernel=" not in arch[2]
    assert load_preset("h200").core.attention_kernel == "flash3"
    assert load_preset(arch[0]).core.attention_kernel == "flash2_dense"


def test_measure_gpu_rows_replay_under_sustained_load_and_the_collectors_do_not(tmp_path):
    # measure_gpu.py's rows are seconds of back-to-back batches on torch.randn data (benchmarks/data/measured/
    # README.md): they replay with the first-order TDP throttle (options.throttle_to_tdp), GEMMs and attention alike;
    # the collector's GEMM weights are vLLM's uninitialised parameters (torch.empty), its rows keep the full clock
    from validation.jobs import experiment

    head = "framework,version,kernel_source,dtype,m,n,k,latency_us\n"
    ours = plan_file(_csv(tmp_path / "measured" / "h200_sxm" / "gemm.csv", head + "torch,2.11,lin,bf16,16,1024,1024,4\n"))
    aic = plan_file(_csv(tmp_path / "aiconfigurator" / "h200_sxm" / "gemm.csv",
                         head + "VLLM,0.14.0,x,bfloat16,16,1024,1024,4\n"))
    attn_head = "framework,version,kernel_source,batch_size,num_heads,num_key_value_heads,head_dim,q_len,kv_len,latency_us\n"
    attn = plan_file(_csv(tmp_path / "measured" / "h200_sxm" / "context_attention.csv",
                          attn_head + "torch,2.11.0,sdpa_cudnn,1,32,8,128,512,512,15.0\n"
                                      "VLLM,0.14.0,vllm_flash_attn,1,32,8,128,512,512,18.0\n"))
    jobs = [ours.rows[0].terms[0][0], aic.rows[0].terms[0][0], *(r.terms[0][0] for r in attn.rows)]
    assert ["|throttle=tdp" in j[0] for j in jobs] == [True, False, True, False]
    assert [experiment(j).options.throttle_to_tdp for j in jobs] == [True, False, True, False]


def test_whole_model_rows_replay_their_phase_shape_and_execution(tmp_path):
    """measure_model.py's rows: a graph row is device time under cuda_graph, an eager row the host-launched call;
    decode replays kv_len, prefill seq_len; training compares the end of the backward phase; the optimizer row and
    the power file are listed, not replayed."""
    inf = _csv(tmp_path / "h200_sxm" / "models" / "llama_inference.csv",
               "model,dtype,phase,batch,seq_len,kv_len,mode,latency_us\n"
               "llama2_7b,bf16,prefill,1,2048,0,graph,56000\nllama2_7b,bf16,decode,8,1,2048,eager,15000\n")
    plan = plan_file(inf)
    assert plan.preset == "h200" and [r.key for r in plan.rows] == ["prefill b1 s2048 graph",
                                                                     "decode b8 kv2048 eager"]
    (j1, _, m1), = plan.rows[0].terms
    (j2, _, m2), = plan.rows[1].terms
    assert (m1, m2) == ("replay", "host")
    assert j1[0] == "h200|kernel=flash2_dense|execution=cuda_graph|throttle=tdp"
    assert j2[0] == "h200|kernel=flash2_dense|execution=eager|throttle=tdp"
    assert dict(j1[2])["seq_len"] == 2048 and "kv_len" not in dict(j1[2])
    assert dict(j2[2])["kv_len"] == 2048 and dict(j2[2])["batch"] == 8 and dict(j2[2])["phase"] == "decode"
    assert plan.rows[0].measured_s == pytest.approx(0.056)

    tr = _csv(tmp_path / "h200_sxm" / "models" / "llama_training.csv",
              "model,dtype,phase,batch,seq_len,params,mode,latency_us\n"
              "tinyllama_1_1b,bf16,train_fwd_bwd,4,2048,1100048384,eager,130000\n"
              "tinyllama_1_1b,fp32,optimizer,0,0,1100048384,eager,9600\n")
    plan = plan_file(tr)
    (j, _, mode), = plan.rows[0].terms
    assert mode == "fwd_bwd" and j[1] == "hf" and dict(j[2])["mode"] == "training"
    assert dict(j[2])["num_key_value_heads"] == 4 and len(plan.skipped) == 1
    # the fwd_bwd term reads the 4th simulated field, the end of the backward phase
    assert plan.rows[0].simulated({j: (0.2, 0.001, 0.0, 0.15)}) == pytest.approx(0.15)

    pw = _csv(tmp_path / "h200_sxm" / "models" / "power.csv",
              "what,dtype,m,n,k,seconds,calls,latency_us,tflops,power_w_mean,sm_clock_mhz_mean,samples\n"
              "gemm,bf16,8192,8192,8192,4,2392,1672.6,657.4,691.5,1465,26\n")
    plan = plan_file(pw)
    assert plan.rows == [] and [k for k, _ in plan.skipped] == ["gemm bf16"]


def test_encoder_rows_replay_their_model_and_transformers_rows_are_listed(tmp_path):
    """encoders_inference.csv: BERT-base replays with fused attention on flash2, ResNet-50 with its batch norms
    unfolded (eager PyTorch runs each as a kernel) at its image side; hf_check.csv's rows (transformers itself) are
    listed, not replayed."""
    from validation.jobs import experiment

    enc = _csv(tmp_path / "h200_sxm" / "models" / "encoders_inference.csv",
               "model,dtype,phase,batch,seq_len,kv_len,mode,latency_us\n"
               "resnet50,bf16,forward,32,224,0,graph,9000\nbert_base,bf16,forward,8,512,0,eager,7000\n"
               "hf_bert_base,bf16,forward,32,128,0,eager,5000\n")
    plan = plan_file(enc)
    assert [r.key for r in plan.rows] == ["resnet50 forward b32 s224 graph", "bert_base forward b8 s512 eager"]
    (jr, _, mr), = plan.rows[0].terms
    (jb, _, mb), = plan.rows[1].terms
    assert (mr, mb) == ("replay", "host") and len(plan.skipped) == 1
    assert dict(jr[2]) == {"batch": 32, "image_size": 224, "dtype": "bf16"}
    assert experiment(jr).options.fold_batchnorm is False and experiment(jr).options.throttle_to_tdp
    assert dict(jb[2])["attention"] == "fused" and "kernel=flash2_dense" in jb[0]
    # the default where the row does not say: "auto" (probe p173 #1: it was true on every arch, and a GPU preset now
    # keeps batch norms as eager PyTorch runs them; bert_base has none, so the row replays the same either way)
    assert experiment(jb).options.fold_batchnorm == "auto"


def test_a_gemm_output_is_warm_only_when_its_later_waves_leave_it_in_the_l2():
    """Vidur's kernels that read a GEMM's output (the residual add's b, RoPE, SiLU*mul) start it in the L2 only where
    its bytes plus the GEMM's own traffic after its first wave fit the A100's 20 MiB share (40 MiB L2 x 0.5)."""
    from validation.vidur import gemm_leaves_output_warm

    def row(m: int) -> dict[str, str]:
        return {"mlp_down_proj_M": str(m), "mlp_down_proj_N": "4096", "mlp_down_proj_K": "11008"}

    # 1 token: a GEMV of one wave (nothing after its first tiles), 8 KiB of output: warm
    assert gemm_leaves_output_warm("a100", row(1), "mlp_down_proj")
    # 2048 tokens: 16 MiB of output alone would fit, but its 256 x 128 tiles (8 x 32 = 256 on 108 SMs) run in 3
    # waves, and the last two stream 2/3 of its 45 MB of activations, 90 MB of weights and the output first
    assert 2048 * 4096 * 2 < 40 * 2**20 // 2
    assert not gemm_leaves_output_warm("a100", row(2048), "mlp_down_proj")
    # a file without the GEMM's shape keeps the input warm (just written)
    assert gemm_leaves_output_warm("a100", {}, "mlp_down_proj")


@pytest.mark.parametrize("made", [False, True])  # the reference folder missing (a fresh clone), or holding no file
def test_validate_with_nothing_to_compare_says_where_it_looked_and_exits_2(made, tmp_path, monkeypatch, capsys):
    """Probe p142 #2: a run that compares no row is not a validation: exit 2 (not 0, which reads as "validated")
    and one line naming the folder it looked in and how to point it at data, before anything is simulated."""
    from validation.cli import main

    ref = tmp_path / "reference"
    if made:
        (ref / "notes").mkdir(parents=True)
        (ref / "notes" / "README.md").write_text("no measurement here\n")
    monkeypatch.setenv("ACCELSIM_REFERENCE_DIR", str(ref))
    assert main(["--out", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"validate.py: no measurement files found in {ref}{'' if made else ' (missing)'};")
    assert "ACCELSIM_REFERENCE_DIR=DIR" in err and "--data DIR" in err
    assert not (tmp_path / "out").exists()  # nothing simulated, nothing written
    # a --data folder of files the --only globs all leave out compares nothing either
    data = _csv(tmp_path / "data" / "matmul_A100.csv", "M,N,K,latency_ms\n8,16,32,0.5\n").parent
    assert main(["--no-default", "--data", str(data), "--only", "vidur/*", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith(f"validate.py: no measurement files matching --only vidur/* found in "
                                              f"{data};")
