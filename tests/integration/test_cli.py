"""The command line end to end: report folder contents, SCALE-Sim parity, determinism, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accelsim.cli import main

from .test_scalesim_inputs import HAND_CYCLES

DATA = Path(__file__).resolve().parents[1] / "data"
REPO = Path(__file__).resolve().parents[2]


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scalesim_run_reports_scalesim_compute_cycles(tmp_path, capsys):
    code, _, err = _run(capsys, "run", "--scalesim-config", str(DATA / "scalesim" / "tiny_os.cfg"),
                        "--topology", str(DATA / "scalesim" / "conv.csv"), "-o", str(tmp_path), "--no-plots", "-q")
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    # one op per CSV row, named and ordered as in the CSV; a depthwise row one per channel, as SCALE-Sim names them
    assert [op["name"] for op in report["ops"]] == ["Conv1", "Conv2", *(f"Conv3_DPChannel_{i}" for i in range(4)),
                                                    "Conv4"]
    for op in report["ops"]:
        assert op["compute_cycles"] == HAND_CYCLES[op["name"]]["os"]  # worked by hand in that module
    # SCALE-Sim runs the layers one after another, though none reads another's output: each starts when the one
    # before ends (they overlapped on the one array before), and the run is their sum, 155 + 2843 + 4·183 + 59
    ops = report["ops"]
    assert ops[0]["start_cycle"] == 0
    assert all(b["start_cycle"] == a["end_cycle"] for a, b in zip(ops, ops[1:], strict=False))
    assert report["total_cycles"] == ops[-1]["end_cycle"] == 155 + 2843 + 4 * 183 + 59
    assert not list(tmp_path.glob("*.png"))  # --no-plots


def test_experiment_run_writes_the_report_folder_and_is_deterministic(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        code, stdout, err = _run(capsys, "run", "--workload", "lenet5", "--arch", "gemmini", "-o", str(out),
                                 "--trace")
        assert code == 0, err
    assert "total cycles" in stdout
    assert (a / "report.json").read_bytes() == (b / "report.json").read_bytes()
    report = json.loads((a / "report.json").read_text())
    for key in ("total_cycles", "seconds", "clock_hz", "macs", "flops", "params", "utilization",
                "mac_utilization", "stall_cycles", "stalls_by_level", "bytes", "ops"):
        assert key in report
    # LeNet-5 (ReLU/max-pool variant) parameter count, hand-counted: 156 + 2,416 + 48,120 + 10,164 + 850
    assert report["params"] == 61_706
    assert report["seconds"] == pytest.approx(report["total_cycles"] / report["clock_hz"])
    for name in ("ops.csv", "op_cycles.png", "utilization.png", "bytes_per_level.png", "roofline.png"):
        assert (a / name).stat().st_size > 0
    # trace.json: one complete slice per task, and each op's span matches report.json
    events = json.loads((a / "trace.json").read_text())["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    assert len(slices) == report["simulation"]["tasks"]
    for op in report["ops"]:
        mine = [e["args"] for e in slices if e["args"]["op"] == op["name"]]
        if mine:
            assert min(s["start_cycle"] for s in mine) == op["start_cycle"]
            assert max(s["end_cycle"] for s in mine) == op["end_cycle"]


def test_plot_redraws_from_report_json(tmp_path, capsys):
    assert _run(capsys, "run", "--workload", "lenet5", "--arch", "gemmini", "-o", str(tmp_path), "--no-plots")[0] == 0
    code, out, _ = _run(capsys, "plot", str(tmp_path))
    assert code == 0
    assert {Path(p).name for p in out.split()} == {"op_cycles.png", "utilization.png", "bytes_per_level.png",
                                                  "roofline.png", "report.html"}


def test_set_override_changes_the_run(tmp_path, capsys):
    base = tmp_path / "base"
    wide = tmp_path / "wide"
    _run(capsys, "run", "--workload", "lenet5", "--arch", "gemmini", "-o", str(base), "--no-plots")
    _run(capsys, "run", "--workload", "lenet5", "--arch", "gemmini", "-o", str(wide), "--no-plots",
         "--set", "arch.core.systolic.rows=32", "--set", "arch.core.systolic.cols=32")
    b = json.loads((base / "report.json").read_text())
    w = json.loads((wide / "report.json").read_text())
    assert b["arch"]["peak_macs_per_cycle"] == 16 * 16 and w["arch"]["peak_macs_per_cycle"] == 32 * 32


def test_info_json_has_the_contract_keys(capsys):
    code, out, _ = _run(capsys, "info", "resnet50", "--json")
    info = json.loads(out)
    assert code == 0
    assert info["params"] == 25_557_032  # torchvision ResNet50_Weights.IMAGENET1K_V1
    for key in ("macs", "flops", "ops", "weight_bytes", "activation_bytes"):
        assert key in info
    assert info["weight_bytes"] == 2 * 25_557_032  # bf16 (2 B) when nothing names a dtype: run's on every GPU preset
    assert (info["dtype"], info["dtype_source"]) == ("bf16", "default")


def test_info_prices_the_weights_in_the_dtype_run_would_use(capsys):
    # Llama 3 8B: 8,030,261,248 params (workloads/llama3_8b.yaml, transformers' num_parameters()); its weight bytes
    # are params x the dtype's bytes: bf16 by default (every GPU preset's dtype), the arch's with --arch (tpu-v1:
    # int8, 1 B: the arch's own dtype runs the whole model, every weight int8, as an NPU compiler's full-integer
    # quantisation does; probe p178 #1 restored this after 85d90498 had made it W8A8, 9,081,200,640 B), the config's
    # torch_dtype (float32: 4 B), and workload.dtype over all of them. An explicit activation_dtype int8 on the same
    # arch is W8A8 (probe p171 #1): the decoder's linears 1 B a weight, lm_head, the embedding and the norms 2 B:
    # 32 x (4096·4096·2 + 4096·1024·2 + 3·4096·14336) = 6,979,321,856 linear weights, 2 x 128,256 x 4096 =
    # 1,050,673,152 for the head and the table, 65 x 4096 = 266,240 norm weights
    params = 8_030_261_248
    w8a8 = 6_979_321_856 * 1 + (1_050_673_152 + 266_240) * 2
    for argv, dtype, source, weight_bytes in (
            ((), "bf16", "default", 2 * params),
            (("--arch", "tpu-v1"), "int8", "arch", 1 * params),
            (("--arch", "tpu-v1", "--set", "workload.activation_dtype=int8"), "int8", "arch", w8a8),
            (("--set", "workload.torch_dtype=float32"), "fp32", "config", 4 * params),
            (("--arch", "h100", "--set", "workload.torch_dtype=float32", "--set", "workload.dtype=fp16"),
             "fp16", "workload", 2 * params)):
        code, out, _ = _run(capsys, "info", "llama3_8b", "--json", *argv)
        info = json.loads(out)
        assert code == 0 and info["params"] == params
        assert (info["dtype"], info["dtype_source"], info["weight_bytes"]) == (dtype, source, weight_bytes), argv
    code, out, _ = _run(capsys, "info", "llama3_8b", "--arch", "tpu-v1")
    assert code == 0 and "int8 (the arch's dtype, as run uses)" in out


def test_info_title_lists_the_params_the_pass_reads(capsys):
    # every workload carries optimizer=adam; only a training step reads it (as the run's summary line says)
    code, out, _ = _run(capsys, "info", "gpt2", "--set", "workload.layers=1")
    assert code == 0 and "gpt2 (batch 1; inference;" in out and "optimizer" not in out
    code, out, _ = _run(capsys, "info", "gpt2", "--mode", "training", "--set", "workload.layers=1")
    assert code == 0 and "training" in out and "optimizer=adam" in out


BAD_ARCH = """\
name: bad
clock: 700MHz
core:
  systolic: {rows: 8, cols: 8, dataflow: %s}
  vector: {lanes: 8}
  sram: {unified: %s}
hbm: {capacity: 8GiB, bandwidth: 34GB/s}
"""


@pytest.mark.parametrize(
    "case, files, argv, expect",
    [
        ("unknown key", {"a.yaml": BAD_ARCH.replace("lanes", "lane") % ("ws", "1MiB")},
         ["--workload", "lenet5", "--arch", "{d}/a.yaml"], ["a.yaml:5:", "core.vector.lane", "did you mean 'lanes'"]),
        ("negative size", {"a.yaml": BAD_ARCH % ("ws", "-4")},
         ["--workload", "lenet5", "--arch", "{d}/a.yaml"], ["a.yaml:6:", "core.sram.unified"]),
        ("bad dataflow", {"a.yaml": BAD_ARCH % ("rs", "1MiB")},
         ["--workload", "lenet5", "--arch", "{d}/a.yaml"], ["a.yaml:4:", "core.systolic.dataflow", "'rs'"]),
        ("missing file", {}, ["{d}/nope.yaml"], ["nope.yaml", "not found"]),
        ("malformed YAML", {"e.yaml": "workload: lenet5\narch: [tpu-v1\n"}, ["{d}/e.yaml"], ["e.yaml:", "YAML"]),
        ("unknown preset", {"e.yaml": "workload: lenet5\narch: tpu_v1\n"}, ["{d}/e.yaml"],
         ["e.yaml:2:", "arch", "did you mean 'tpu-v1'"]),
        ("bad --set", {}, ["--workload", "lenet5", "--arch", "gemmini", "--set", "arch.core.systolic.rows"],
         ["--set", "arch.core.systolic.rows"]),
        ("bad --set value", {}, ["--workload", "lenet5", "--arch", "gemmini", "--set", "arch.core.systolic.rows=-1"],
         ["--set", "arch.core.systolic.rows", "greater than 0"]),
        ("unknown workload key", {"e.yaml": "workload: {model: lenet5, bacth: 2}\narch: gemmini\n"}, ["{d}/e.yaml"],
         ["e.yaml:1:", "workload.bacth", "did you mean 'batch'"]),
    ],
)
def test_bad_input_exits_2_with_one_line_per_problem(tmp_path, capsys, case, files, argv, expect):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code, out, err = _run(capsys, "run", *[a.format(d=tmp_path) for a in argv], "-o", str(tmp_path / "out"))
    assert code == 2, case
    lines = err.strip().splitlines()
    # a misspelled required key is two problems (the unknown key, the missing one); the rest are one
    assert len(lines) == (2 if case == "unknown key" else 1), err
    assert "Traceback" not in err
    assert all(line.startswith("accelsim: error: ") for line in lines)
    assert any(all(fragment in line for fragment in expect) for line in lines), (case, lines)
    assert not (tmp_path / "out" / "report.json").exists()


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "accelsim", "list", "arch"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0
    assert {"tpu-v1", "gemmini", "scalesim-128x128"} <= set(done.stdout.split())


def test_sweep_command_runs_resumes_and_plots(tmp_path, capsys):
    # a 2×2 grid on a tiny workload: 4 points; a second run into the same folder runs none of them again
    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: " + str(Path(__file__).resolve().parents[2] / "experiments" / "resnet50_tpu_v1.yaml")
                     + "\nset: {workload: lenet5}\ngrid:\n  arch.core.systolic.rows: [16, 32]\n"
                     "  arch.core.systolic.dataflow: [ws, os]\n")
    out = tmp_path / "out"
    assert _run(capsys, "sweep", str(sweep), "-o", str(out), "--workers", "1", "-q")[0] == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["status"] == "ok" for line in lines)
    code, _, err = _run(capsys, "sweep", str(sweep), "-o", str(out), "--workers", "1", "-q")
    assert code == 0 and len((out / "results.jsonl").read_text().splitlines()) == 4
    code, printed, _ = _run(capsys, "plot", str(out))
    assert code == 0 and any(p.endswith(".png") for p in printed.split())
    assert _run(capsys, "sweep", str(sweep), "--workers", "0")[0] == 2


def test_unwritable_output_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = _run(capsys, "run", "--workload", "lenet5", "--arch", "gemmini", "-o", str(blocker / "out"))
    assert code == 2
    # refused as -o before the run (probe p132 #6: -o errors are labelled "-o:", as the empty name's), with the
    # system's reason: ENOTDIR, strerror "Not a directory" (a path component is a file)
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"run: -o: {blocker / 'out'}: cannot use it as a folder: Not a directory" in err


def test_a_workload_that_cannot_fit_is_one_line_at_the_capacity_set_last(tmp_path, capsys, monkeypatch):
    # LLaMA-2-70B: 68,976,648,192 bf16 weights = 137,953,296,384 B, more than an A100's 80 GiB HBM (85,899,345,920 B)
    # and a 1 GB host hold (86,899,345,920 B). Of the capacities at fault the --set of host.capacity was set last:
    # over the a100 preset's hbm.capacity and the file's batch: 4 (docs/configuration.md: the key set last); with
    # the preset's 1 TiB host the weights would spill there and run
    monkeypatch.chdir(REPO)
    exp = tmp_path / "big.yaml"
    exp.write_text("name: big\nworkload: {model: llama2_70b, batch: 4}\narch: a100\n")
    code, _, err = _run(capsys, "run", str(exp), "--set", "arch.host.capacity=1GB", "--no-plots",
                        "-o", str(tmp_path / "out"))
    (line,) = err.strip().splitlines()
    assert code == 2
    # a prefill holds no KV cache: "weights", not "weights and KV cache" (probe p84 #7)
    assert line.startswith("accelsim: error: --set: arch.host.capacity: llama2_70b: weights "
                           "(137953296384 B) and activations ("), line
    assert "but hbm (85899345920 B) and host (1000000000 B) hold 86899345920 B; " in line
    # the weights alone are more than the 86,899,345,920 B: said, at the capacity set last
    assert line.endswith(" B more than all of them hold; the weights alone need 137,953,296,384 B, more than the "
                         "86,899,345,920 B that holds them (got '1GB')"), line


@pytest.mark.parametrize("arch, line, key, tail", [
    # a 16-byte unified buffer cannot hold one step of tpu-v1's 256x256 int8 array (256 + 256 B of int8 operands and
    # 256 int32 partial sums, 1,024 B; twice as double-buffered: 3,072 B) → refused at its own key, line 7
    ("arch:\n  base: tpu-v1\n  core:\n    sram:\n      unified: 16B\n", 7, "arch.core.sram.unified",
     "it needs at least 3,072 B"),
    # 512x512 int8 activations (256 KiB in, 256 KiB out) cannot fit a 100 KiB hbm: the level the message is about
    # (the scratchpad shrunk to 64 KiB, so tpu-v1's 24 MiB one is not larger than that hbm, refused first since p125)
    ("arch:\n  base: tpu-v1\n  hbm:\n    capacity: 100KiB\n  host:\n    capacity: 100KiB\n"
     "  core:\n    sram:\n      unified: 64KiB\n", 6, "arch.hbm.capacity", "(got '100KiB')"),
    # ... and with tpu-v1's own 24 MiB scratchpad, that hbm is refused as smaller than one core's scratchpad
    ("arch:\n  base: tpu-v1\n  hbm:\n    capacity: 100KiB\n", 6, "arch.hbm.capacity",
     "so one core's cannot be larger than main memory"),
])
def test_an_arch_value_that_makes_the_run_impossible_is_named_at_its_line(tmp_path, capsys, arch, line, key, tail):
    exp = tmp_path / "c.yaml"
    exp.write_text(f"name: c\nworkload: {{model: gemm, m: 512, n: 512, k: 512}}\n{arch}")
    code, _, err = _run(capsys, "run", str(exp), "--no-plots", "-o", str(tmp_path / "out"))
    (msg,) = err.strip().splitlines()
    assert code == 2
    assert msg.startswith(f"accelsim: error: {exp}:{line}: {key}: ") and msg.endswith(tail), msg


def test_info_of_a_training_step_says_what_it_keeps(capsys):
    # GPT-2 small, 1 layer, 128 tokens, fp16 Adam: the gradients are the parameters' 2 bytes each, the optimizer
    # state Adam's two fp32 moments and the fp32 master copy, 12 bytes each. Kept for the backward pass: the layer's
    # Korthikanti et al. 2022 sbh·(34 + 5as/h) plus HF's eager gelu_new's three further [s, 4h] tensors, 24sbh
    # (probe p222 #2: tanh's output and the last mul's two operands; this test had 34), the embedding dropout's mask
    # (sbh, one byte), ln_f's input and
    # output (2sbh each, fp16), the logits the loss gradient reads (kept in fp32: 4·s·vocab, Korthikanti et al. 2022
    # Sec. 4.3; probe p117 #4), the token ids (2s) and the causal
    # mask the mask's gradient reads (s·s, fp16: 2s²)
    code, out, _ = _run(capsys, "info", "gpt2", "--mode", "training", "--json", "--set", "workload.layers=1",
                        "--set", "workload.seq_len=128", "--set", "workload.dtype=fp16")
    info = json.loads(out)
    assert code == 0
    assert info["gradient_bytes"] == 2 * info["params"] and info["optimizer_state_bytes"] == 12 * info["params"]
    s, h, a, vocab = 128, 768, 12, 50257
    assert info["stashed_activation_bytes"] == (s * h * (34 + 24 + 1 + 2 + 2) + 5 * a * s * s + 4 * s * vocab + 2 * s
                                                + 2 * s * s)
    code, out, _ = _run(capsys, "info", "gpt2", "--json", "--set", "workload.layers=1")
    assert "stashed_activation_bytes" not in json.loads(out)  # inference keeps nothing for a backward pass


def test_report_json_is_byte_identical_under_any_string_hash_seed(tmp_path):
    # the same inputs give the same bytes in every process: no dict or list order may follow Python's per-process
    # string hashing (DLRM on an A100 reads its activations from HBM and the L2, whose per-op byte keys used to come
    # out in set order)
    outs = []
    for seed in ("11", "12"):
        out = tmp_path / seed
        subprocess.run([sys.executable, "-m", "accelsim", "run", "--workload", "dlrm_mlperf", "--arch", "a100",
                        "--no-plots", "-q", "-o", str(out)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        outs.append((out / "report.json").read_bytes())
    assert outs[0] == outs[1]


def test_info_of_a_tensor_parallel_shard_gives_the_whole_models_params(capsys):
    # LLaMA-2-7B: 6,738,415,616 parameters (the Hugging Face checkpoint), as report.json's params; one of 8
    # tensor-parallel chips holds 1/8 of every projection and of the vocabulary-parallel embedding and head (vLLM's
    # VocabParallelEmbedding and ParallelLMHead: 32000 / 8 rows of 4096 each) and all of the 2 x 32 + 1 RMSNorm
    # weights of 4096
    code, out, _ = _run(capsys, "info", "llama2_7b", "--json", "--set", "workload.tensor_parallel=8")
    assert code == 0
    info = json.loads(out)
    assert info["params"] == 6_738_415_616
    replicated = 65 * 4096
    assert info["params_per_chip"] == (6_738_415_616 - replicated) // 8 + replicated == 842_534_912


def test_a_misfit_caused_by_a_set_value_names_the_command_line_values(tmp_path, capsys):
    # LLaMA-2-7B at a prompt of 10^8 tokens: the activations (one 4096-wide bf16 row per token and more) alone pass
    # 819 GB, more than an h100's 80 GiB HBM. The error is at the workload key set last of those that size it
    # (seq_len and batch, both --set: the first listed, seq_len), over the h100 preset's hbm.capacity, and names the
    # other command-line value as written.
    code, _, err = _run(capsys, "run", "--workload", "llama2_7b", "--arch", "h100", "--set",
                        "workload.seq_len=100000000", "--set", "workload.batch=2", "--no-plots",
                        "-o", str(tmp_path / "out"))
    (line,) = err.strip().splitlines()
    assert code == 2
    assert line.startswith("accelsim: error: --set: workload.seq_len: llama2_7b: "), line
    assert "alone need" in line and "B of hbm" in line
    assert line.endswith("(command line: --set workload.batch=2) (got 100000000)"), line


def test_info_of_a_multi_chip_arch_shows_its_links_and_labels_peaks_per_chip(tmp_path, capsys):
    # 2 cores x 64 x 64 MACs = 8,192 MACs/cycle per chip; 4 chips: 32,768; at 1 GHz 2 x 32,768e9 FLOP/s
    (tmp_path / "four.yaml").write_text(
        "name: four\nclock: 1GHz\ndtype: int8\ncores: 2\nchips: 4\n"
        "core: {systolic: {rows: 64, cols: 64}, vector: {lanes: 64}, sram: {unified: 2MiB}}\n"
        "hbm: {capacity: 16GiB, bandwidth: 256GB/s, latency: 100ns}\n"
        "interconnect: {bandwidth: 100GB/s, latency: 1us, topology: ring, efficiency: 0.8, energy_per_bit: 2.21}\n")
    assert main(["info", str(tmp_path / "four.yaml"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["peak_macs_per_cycle"] == 8192 and info["system_peak_macs_per_cycle"] == 4 * 8192
    assert info["system_peak_flops_per_s"] == pytest.approx(2 * 4 * 8192 * 1e9)
    assert info["interconnect"] == {"bytes_per_s": 100e9, "latency_s": 1e-6, "topology": "ring", "efficiency": 0.8,
                                    "collective": "formula", "energy_per_bit": 2.21}
    assert main(["info", str(tmp_path / "four.yaml")]) == 0
    text = capsys.readouterr().out
    assert "8,192 per chip (2 cores); 4 chips: 32,768" in text and "(all cores)" not in text
    assert "interconnect, 4 chips" in text and "100GB/s per chip, each direction" in text and "1\u00b5s per step" in text
    # one chip: no system figure, no interconnect
    assert main(["info", "edge-npu", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["interconnect"] is None and one["system_peak_macs_per_cycle"] == one["peak_macs_per_cycle"]


def test_info_of_a_preset_changed_by_set_says_its_description_predates_the_change(tmp_path, capsys):
    # a100's description reads "at 1410 MHz = 311.9 TFLOPS"; at --set arch.clock=1.5GHz the peak is
    # 108 SMs x 1,024 MACs/clk x 2 FLOP x 1.5e9 Hz = 3.318e14 FLOP/s, so the text above the table no longer
    # describes the figures in it: info says whose text it is (JSON: a note)
    assert main(["info", "a100", "--set", "arch.clock=1.5GHz", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["peak_flops_per_s"] == pytest.approx(108 * 1024 * 2 * 1.5e9)
    assert "1410 MHz" in info["description"]
    assert any(n.startswith("description: preset a100's own text") for n in info["notes"])
    assert main(["info", "a100", "--set", "arch.clock=1.5GHz"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("[preset a100's text, for its own figures]")
    # the same change made by a file over base: a100 (probe p162 #3)
    (tmp_path / "oc.yaml").write_text("base: a100\nname: a100-oc\nclock: 1.5GHz\n")
    assert main(["info", str(tmp_path / "oc.yaml")]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("[preset a100's text, for its own figures]")
    # a description the user writes is theirs, whatever else changes; an unchanged preset: no note
    assert main(["info", "a100", "--set", "description=hello", "--set", "arch.clock=1.5GHz"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "hello"
    assert main(["info", "a100", "--json"]) == 0
    assert "notes" not in json.loads(capsys.readouterr().out)
