"""benchmarks/data/published_figures.yaml is well formed: every entry names a preset, a metric and kind the script
knows, a cited source and a positive published figure, and its workload is one accelsim's micro-workloads accept.
The accelsim results against these figures are a report (benchmarks/published_figures.py), not a test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from accelsim.builders.micro import AttentionParams, CollectiveParams, GemmParams
from accelsim.builders.registry import get_builder

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / "data" / "published_figures.yaml"
ARCHS = {"a100", "h100", "h200", "b200", "l40s", "dgx-a100", "dgx-h100", "dgx-h200", "dgx-b200"}
METRICS = {"tflops", "busbw", "seconds", "gbps", "wall_seconds", "iterations_per_s"}
KINDS = {"point", "up to", "range"}
FIELDS = {"label", "arch", "library", "workload", "metric", "kind", "value", "low", "high", "source", "note",
          "harness", "sm_clock"}
PARAMS = {"gemm": GemmParams, "attention": AttentionParams, "collective": CollectiveParams}
ENTRIES = yaml.safe_load(DATA.read_text())
sys.path.insert(0, str(ROOT / "benchmarks"))
from published_figures import HARNESSES, kernel_arch  # noqa: E402


def test_entries_exist_and_labels_are_unique():
    labels = [e["label"] for e in ENTRIES]
    assert len(labels) >= 6 and len(set(labels)) == len(labels)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["label"] for e in ENTRIES])
def test_entry_is_well_formed(entry):
    assert set(entry) <= FIELDS, set(entry) - FIELDS
    assert entry["arch"] in ARCHS and (ROOT / "arch" / f"{entry['arch']}.yaml").is_file()
    assert entry["metric"] in METRICS and entry["kind"] in KINDS
    assert isinstance(entry["source"], str) and 10 < len(entry["source"]) < 200
    assert entry.get("harness") in {None, *HARNESSES}, entry.get("harness")
    if entry["kind"] == "range":
        assert 0 < entry["low"] < entry["high"] and "value" not in entry
    else:
        assert entry["value"] > 0 and "low" not in entry and "high" not in entry


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["label"] for e in ENTRIES])
def test_workload_is_an_accelsim_micro_workload(entry):
    workload = dict(entry["workload"])
    model = workload.pop("model")
    if entry["metric"] in ("wall_seconds", "iterations_per_s"):  # a whole model timed end to end: any workload
        get_builder(model).params.model_validate(workload)
        assert not entry["arch"].startswith("dgx-")
        return
    PARAMS[model].model_validate(workload)  # extra="forbid": a misspelt key fails here
    # a bus bandwidth is a collective's figure, TFLOPS a kernel's; a multi-chip preset runs collectives only
    assert (entry["metric"] == "busbw") == (model == "collective") == entry["arch"].startswith("dgx-")
    assert entry["metric"] != "gbps" or model == "attention"  # an attention kernel's bytes (attention_bytes)


def test_an_attention_kernels_bytes_are_its_cache_queries_and_output_once():
    # FlashMLA's tests/test_flash_mla.py: (total_seqlens · h_kv · d + b · s_q · h_q · d + b · s_q · h_q · dv) · 2 B;
    # b 128, 8192 keys, h_q 16, s_q 1, d 576, dv 512 (one latent tensor): 128 · 8192 · 576 + 128 · 16 · (576 + 512)
    from published_figures import attention_bytes

    mla = {"model": "attention", "batch": 128, "heads": 16, "kv_heads": 1, "q_len": 1, "kv_len": 8192,
           "head_dim": 576, "v_head_dim": 512, "shared_kv": True, "dtype": "bf16"}
    assert attention_bytes(mla) == (128 * 8192 * 576 + 128 * 16 * (576 + 512)) * 2
    # separate K and V of 128 features, 8 KV heads, fp8: K and V each, q and the output, a byte an element
    gqa = {"model": "attention", "batch": 2, "heads": 32, "kv_heads": 8, "q_len": 1, "kv_len": 1000,
           "head_dim": 128, "dtype": "fp8"}
    assert attention_bytes(gqa) == 2 * 8 * 1000 * 256 + 2 * 32 * 256


def test_markdown_replaces_the_sections_table_without_the_source_lines(tmp_path):
    from published_figures import SECTION, write_markdown

    doc = tmp_path / "v.md"
    doc.write_text(f"# v\n```\nother block\n```\n{SECTION}\n\ntext\n\n```\nold table\n```\n\nafter\n")
    write_markdown(doc, "point  arch\nA  h100\n    github.com/x: the source\n\narch  kernel\n")
    assert doc.read_text() == (f"# v\n```\nother block\n```\n{SECTION}\n\ntext\n\n```\npoint  arch\nA  h100\n\n"
                               "arch  kernel\n```\n\nafter\n")


def test_a_no_flush_harness_starts_the_weight_in_the_l2():
    # triton's do_bench_cudagraph replays the same tensors without flushing the L2: a b200 GEMV (m = 1) over a
    # 4096 x 4096 fp8 weight (16 MiB, within the 63 MB half of b200's 126 MB L2 a tensor keeps) reads it from the
    # L2 (26 TB/s) rather than HBM (8 TB/s), so the warm figure is the higher one. On a100 the bf16 weight (32 MiB)
    # exceeds the 20 MiB half of its 40 MiB L2: only the 8 KiB input starts warm, the figure stays within 1 %
    from published_figures import figure


    w = {"model": "gemm", "m": 1, "n": 4096, "k": 4096, "dtype": "fp8", "output_dtype": "bf16"}
    assert figure("b200", w, "tflops", "do_bench_cudagraph") > 1.2 * figure("b200", w, "tflops")
    a100 = {"model": "gemm", "m": 1, "n": 4096, "k": 4096, "dtype": "bf16"}
    assert figure("a100", a100, "tflops", "do_bench_cudagraph") == pytest.approx(figure("a100", a100, "tflops"), rel=0.01)


def test_an_attention_entry_runs_on_the_kernel_its_library_names():
    # a source that timed FlashAttention-2 on an H100 is compared with the flash2 model, not h100's default flash3
    # (vLLM's kernel on Hopper); a library that is not one of accelsim's FlashAttention kernels keeps the preset's
    wl = {"model": "attention", "attention": "fused", "batch": 1, "heads": 8, "q_len": 1, "kv_len": 128}
    fa2 = kernel_arch({"arch": "h100", "library": "flash2", "workload": wl})
    assert fa2.core.attention_kernel == "flash2" and fa2.name == "h100"
    assert kernel_arch({"arch": "h100", "library": "flash3", "workload": wl}) == "h100"
    assert kernel_arch({"arch": "h200", "library": "flashinfer", "workload": wl}) == "h200"
    assert kernel_arch({"arch": "h100", "library": "cublas", "workload": {"model": "gemm"}}) == "h100"


def test_a_sustained_harness_runs_at_the_throttled_clock():
    # "sustained" (seconds of back-to-back calls, the Azure guide's cublaslt_gemm): the run takes the first-order TDP
    # throttle. An 8192^3 fp16 GEMM on the a100 preset averages more than its 400 W TDP at 1410 MHz (the run's own
    # note gives the clock factor), so it runs slower than unthrottled, but by no more than that factor: the SMs'
    # cycles stretch by 1 / factor, what waits on memory (its bandwidth and latencies are not the core clock's) does
    # not
    from published_figures import figure

    from accelsim import api

    big = {"model": "gemm", "m": 8192, "n": 8192, "k": 8192, "dtype": "fp16"}
    r = api.simulate(big, "a100", options={"execution": "cuda_graph", **HARNESSES["sustained"]}, plots=False)
    factor = r.to_dict()["power"]["tdp_clock_factor"]  # the factor the throttle applied
    assert r.to_dict()["clock_hz"] == pytest.approx(1410e6 * factor)
    assert 0.8 < factor < 1.0
    sustained, unthrottled = figure("a100", big, "tflops", "sustained"), figure("a100", big, "tflops", "torch_timer")
    assert factor * unthrottled <= sustained < unthrottled


def test_a_locked_sm_clock_stretches_the_cores_cycles_only():
    # "sm_clock" (a source that locked the SM clock, e.g. TileOPs' H200 at 1500 MHz): the preset runs at that clock.
    # A compute-bound GEMM's time is the SMs' cycles / clock, so 4096^3 bf16 on h100 (1830 MHz) takes at most
    # 1830 / 1500 = 1.22x longer at 1500 MHz, and more than 1.1x: what does not scale (the HBM's and L2's bytes per
    # second, latencies in ns, the dispatch in us) is a small part of a 0.14 ms GEMM. The entry without the field
    # runs on the preset itself.
    from published_figures import figure

    wl = {"model": "gemm", "m": 4096, "n": 4096, "k": 4096, "dtype": "bf16"}
    locked = kernel_arch({"arch": "h100", "library": "cublas", "workload": wl, "sm_clock": "1500MHz"})
    assert locked.clock == 1.5e9
    assert kernel_arch({"arch": "h100", "library": "cublas", "workload": wl}) == "h100"
    ratio = figure("h100", wl, "seconds") / figure(locked, wl, "seconds")
    assert 1 / 1.22 - 1e-3 <= ratio < 1 / 1.1


def test_the_table_in_docs_validation_is_what_the_script_prints_today(tmp_path, capsys):
    # docs/validation.md's "published figures" block is the script's output, regenerated with --markdown; a preset or
    # timing change that moves a figure must regenerate it in the same commit (it had drifted: B200 bf16 8192^3 read
    # 1932 TFLOPS while the prose beside it said 1925)
    from published_figures import main

    copy = tmp_path / "validation.md"
    copy.write_text((ROOT / "docs" / "validation.md").read_text())
    main(["--markdown", str(copy)])
    capsys.readouterr()
    assert copy.read_text() == (ROOT / "docs" / "validation.md").read_text(), \
        "run: python benchmarks/published_figures.py --markdown docs/validation.md"
