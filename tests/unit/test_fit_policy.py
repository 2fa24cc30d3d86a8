"""One fit policy for training runs (probe 15, findings 4-7): a footprint that does not fit the main memory is a
one-line error at the key the user set last, listing only the remedies that fit (each with the footprint it leaves,
from the same footprint code); hf models do not spill training state to host memory unless options.offload asks;
training-only keys are refused in inference."""

from __future__ import annotations

import re

from accelsim.cli import main

GPT13B = ["--set", "workload.hidden=5120", "--set", "workload.heads=40", "--set", "workload.layers=40",
          "--set", "workload.seq_len=512"]
SMALL = ["--set", "workload.hidden=1024", "--set", "workload.heads=16", "--set", "workload.seq_len=512",
         "--set", "workload.vocab=32000", "--set", "workload.layers=8"]


def _err(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


def _needs(line: str) -> int:
    return int(re.search(r"needs ([\d,]+) B of hbm", line).group(1).replace(",", ""))


def test_gpt_that_does_not_fit_names_a_key_the_user_set_and_only_remedies_that_fit(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "gpt", "-a", "a100", "--mode", "training", *GPT13B, "-q", "--no-plots",
                         "-o", "o"])
    # the weights, gradients and Adam states alone (18 B a parameter, below) are more than 80 GiB: no seq_len or
    # batch fits, so at the a100 preset's hbm.capacity (probe p29), not at a --set size key
    assert re.match(r"accelsim: error: \S+/arch/a100\.yaml:\d+: hbm\.capacity: gpt_a100: a chip needs ", line), line
    # hand check: GPT params P = 12·n·h² + 13·n·h + (V + s)·h + 2h (Narayanan et al. 2021, with biases and norms)
    h, n, v, s = 5120, 40, 51200, 512
    params = 12 * n * h * h + 13 * n * h + (v + s) * h + 2 * h
    assert f"optimizer states {12 * params:,}" in line  # Adam: fp32 master copy, m and v, 12 B a parameter
    # offloading the optimizer state leaves the rest, which fits 80 GiB
    assert f"options.offload: optimizer (needs {_needs(line) - 12 * params:,} B)" in line
    # the capacity is named as the size the state does not fit, not as a wrong value (probe p61): 80 GiB =
    # 85,899,345,920 B, no "(got '80GiB')"
    # bf16 weights 2 B, their fp32 gradients 4 B (Megatron-LM's for bf16: probe p117 #1), Adam 12 B
    assert f"the weights, gradients and optimizer states alone need {18 * params:,} B, more than the 85,899,345,920 " \
        f"B of hbm.capacity 80GiB (arch a100)" in line
    assert "(got " not in line
    # no recompute setting frees the 154 GB of optimizer state, so none is advised; the error says that no size key
    # shrinks the fixed state, and what can: more chips (a100 is one) for tensor parallelism or for data parallelism
    # to shard the states over (the bf16 weights and fp32 gradients, 6 B a parameter, fit 80 GiB without them), or
    # the offload (probe p55)
    assert "use recompute" not in line and "recompute: " not in line
    assert "fewer tokens" not in line  # without any activations the rest is still over
    assert 6 * params <= 85_899_345_920 < 18 * params
    # the states split D ways beside the 6 B a parameter of weights and gradients and a replica's activations (as
    # the error gives them): D >= ceil(12·P / (80 GiB - 6·P - activations))
    act = int(re.search(r"activations ([\d,]+)\)", line).group(1).replace(",", ""))
    least = -(-12 * params // (85_899_345_920 - 6 * params - act))
    assert line.split(" (command line: --set")[0].endswith(
        ", whatever the seq_len, batch, micro_batches or recompute; what can make them fit: more tensor or pipeline "
        f"parallelism over more chips, options.distributed_optimizer over {least} or more data-parallel replicas "
        f"({least} chips or more; now 1) or "
        f"options.offload: optimizer (needs {_needs(line) - 12 * params:,} B)")
    # one list of remedies (probe p61: offload and tensor parallelism were each said twice)
    assert line.count("options.offload: optimizer") == 1 and line.count("parallelism") == 1 \
        and line.count("replicas") == 1


def test_gpt_whose_activations_alone_overflow_is_at_the_seq_len_set_last(tmp_path, capsys, monkeypatch):
    # the other branch (probe p55): h 1024, 4 layers, seq_len 32,768 on a100. A layer sample (1 layer) is already too
    # big. Its parameters, by the formula above with n = 1 and s = 32,768: 12·1024² + 13·1024 + (51,200 + 32,768)·1024
    # + 2·1024 = 98,581,504; the fixed state, 18 B a parameter (fp32 gradients, probe p117 #1) = 1,774,467,072 B,
    # fits 80 GiB, so a smaller seq_len
    # can make the step fit: the error is at the --set seq_len, not at the preset's capacity, and says nothing of
    # the fixed state
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "gpt", "-a", "a100", "--mode", "training", "--set", "workload.hidden=1024",
                         "--set", "workload.heads=16", "--set", "workload.layers=4", "--set", "workload.seq_len=32768",
                         "-q", "--no-plots", "-o", "o"])
    params = 12 * 1024**2 + 13 * 1024 + (51_200 + 32_768) * 1024 + 2 * 1024
    assert params == 98_581_504 and 18 * params <= 85_899_345_920
    assert line.startswith("accelsim: error: --set: workload.seq_len: gpt_a100: a chip (only 1 of its 4 layers) "
                           "needs "), line
    assert f"(weights {2 * params:,}, gradients {4 * params:,}, optimizer states {12 * params:,}, activations " in line
    # the sample's stash (s = 32,768, b = 1, h = 1024, a = 16, V = 51,200): the layer's sbh·(34 + 5as/h), the
    # embedding dropout's mask and the final norm's input and output, 5sbh, the fp32 logits 4sV, the token ids the
    # embedding's gradient reads (the graph input, s elements of 2 B); with it in the
    # a100's 1 TiB host memory (4 layers' worth fits too) the rest fits: options.offload: activations is offered
    # (probe p222 #3: the refusal did not try it; this line ended "; use more tensor or pipeline parallelism, ...")
    s, h, a = 32_768, 1024, 16
    stash = s * h * (34 + 5 * a * s // h) + 5 * s * h + 4 * s * 51_200 + 2 * s
    assert stash == 93_918_920_704 and 4 * stash <= 2**40
    offloaded = _needs(line) - stash
    assert offloaded <= 85_899_345_920
    assert line.endswith(f": use options.offload: activations (needs {offloaded:,} B); or more tensor or pipeline "
                         "parallelism, or fewer tokens a micro-batch"), line
    assert "alone need" not in line and "whatever" not in line


def test_a_distributed_optimizer_without_data_parallelism_gets_a_note(tmp_path, monkeypatch):
    import json
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-w", "gpt", "-a", "a100", "--mode", "training", *SMALL, "--set",
                 "options.distributed_optimizer=true", "-q", "--no-plots", "-o", "o"]) == 0
    notes = json.loads((tmp_path / "o" / "report.json").read_text())["notes"]
    assert any(n.startswith("options.distributed_optimizer changes nothing here") for n in notes)


def test_selective_is_not_advised_where_it_does_not_fit_and_the_advice_matches_the_run(tmp_path, capsys,
                                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = "experiments/gpt3_175b_training_selene.yaml"  # TP8 x PP8 on 64 chips: data parallelism 1
    from pathlib import Path

    import accelsim
    exp = str(Path(accelsim.__file__).parents[1] / exp)
    none = _err(capsys, ["run", exp, "--set", "workload.recompute=none", "-q", "--no-plots", "-o", "o"])
    assert ": --set: workload.recompute: " in none or none.startswith("accelsim: error: --set: workload.recompute:")
    assert "recompute: selective" not in none and "distributed_optimizer" not in none
    full_needs = int(re.search(r"recompute: full \(needs ([\d,]+) B\)", none).group(1).replace(",", ""))
    # the selective run itself does not fit: its footprint is over 80 GiB (so it was rightly left out)
    sel = _err(capsys, ["run", exp, "--set", "workload.recompute=selective", "-q", "--no-plots", "-o", "o"])
    assert _needs(sel) > 80 * 2**30
    # and it advises full with the same footprint as from none (the stash of full recompute, one way)
    assert f"recompute: full (needs {full_needs:,} B)" in sel


def test_hf_training_state_is_not_spilled_to_host_without_offload(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "llama2_13b", "-a", "a100", "--mode", "training", "--set",
                         "workload.seq_len=512", "-q", "--no-plots", "-o", "o"])
    # ~13e9 params · 18 B (bf16 weights, fp32 gradients, Adam's 12 B) ≈ 234 GB > 80 GiB: at the capacity
    assert re.match(r"accelsim: error: \S+/arch/a100\.yaml:\d+: hbm\.capacity: llama2_13b_a100: a chip needs ", line)
    assert ": the weights, gradients and optimizer states alone need " in line
    assert "not spilled to host memory unless options.offload asks" in line and "options.offload: optimizer" in line
    # probe p61: one list of remedies, each once; the preset's capacity named as the size, not "(got '80GiB')".
    # By hand: 13,015,864,320 params (26,031,728,640 B of bf16 weights / 2) · (2 + 4 + 12) = 234,285,557,760 B (the
    # gradients fp32: probe p117 #1); the offload leaves the weights and gradients (3 · 26,031,728,640 B) and the
    # activations: more than that, under 80 GiB
    assert line.count("options.offload: optimizer") == 1 and line.count("more tensor parallelism") == 1
    assert "alone need 234,285,557,760 B, more than the 85,899,345,920 B of hbm.capacity 80GiB (arch a100)" in line
    offload = int(re.search(r"options\.offload: optimizer \(needs ([\d,]+) B\)", line).group(1).replace(",", ""))
    assert 3 * 26_031_728_640 < offload < 80 * 2**30 and "(got " not in line
    assert _needs(line) > 80 * 2**30
    assert main(["run", "-w", "llama2_13b", "-a", "a100", "--mode", "training", "--set", "workload.seq_len=512",
                 "--set", "options.offload=optimizer", "-q", "--no-plots", "-o", "o"]) == 0


def test_a_sparse_tables_rows_and_lazy_state_may_live_in_host_memory_without_offload(tmp_path, monkeypatch):
    # the one exception to the rule above (docs/training.md, probe p42 #1): an embedding-bag table, whose gradient
    # is sparse and whose Adam step is lazy (only the rows looked up), is placed by its rows, the rest of it and
    # of its state in host memory, as TorchRec / HugeCTR host-memory embedding caches train; no refusal
    import json
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-w", "embedding_bag", "-a", "h100", "--mode", "training", "--set", "workload.rows=10000000",
                 "--set", "arch.hbm.capacity=1GiB", "-q", "--no-plots", "-o", "o"]) == 0
    memory = json.loads((tmp_path / "o" / "report.json").read_text())["memory"]
    table = 10_000_000 * 128 * 2  # rows x dim x 2 B (bf16): 2.56 GB, more than the 1 GiB of HBM
    assert memory["hbm"]["weights"] + memory["host"]["weights"] == table and memory["host"]["weights"] > 0
    # Adam's 12 B a parameter (fp32 master, m, v: ZeRO's K = 12), 15.36 GB, all in host memory: its rows are as
    # dense as the table's (the same look-ups) and placed after it on that tie, and the table's rows fill HBM
    assert memory["host"]["optimizer_states"] == 12 * 10_000_000 * 128
    assert memory["hbm"]["used"] <= 2**30


def test_training_only_keys_are_refused_in_inference_at_their_key(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["run", "-w", "gpt", "-a", "dgx-a100", *SMALL, "-q", "--no-plots", "-o", "o"]
    line = _err(capsys, [*base, "--set", "workload.recompute=full"])
    assert line.startswith("accelsim: error: --set: workload.recompute: training only") and line.endswith(
        "(got 'full')")
    line = _err(capsys, [*base, "--set", "options.distributed_optimizer=true"])
    assert line.startswith("accelsim: error: --set: options.distributed_optimizer: training only")
    # sequence parallelism splits over the tensor-parallel chips: at TP 1 it would change nothing
    line = _err(capsys, [*base, "--mode", "training", "--set", "workload.sequence_parallel=true"])
    assert line.startswith("accelsim: error: --set: workload.sequence_parallel: ") and "tensor_parallel > 1" in line


def test_parallel_grid_larger_than_the_arch_names_the_key_set_last(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "e.yaml").write_text("workload: {model: gpt, mode: training, hidden: 1024, heads: 16, seq_len: 512,\n"
                                     "           layers: 8, pipeline_parallel: 4}\narch: {base: dgx-a100}\n")
    line = _err(capsys, ["run", "e.yaml", "--set", "arch.chips=2", "-q", "--no-plots", "-o", "o"])
    # 1 x 4 = 4 chips on 2: arch.chips was set last (--set over the file)
    assert line.startswith("accelsim: error: --set: arch.chips: gpt: tensor_parallel × pipeline_parallel = 1 × 4 = 4")
    assert "set arch.chips ≥ 4" in line
    (tmp_path / "f.yaml").write_text("workload: {model: gpt, mode: training, hidden: 1024, heads: 16, seq_len: 512,\n"
                                     "           layers: 16, pipeline_parallel: 16}\narch: {base: dgx-a100}\n")
    line = _err(capsys, ["run", "f.yaml", "-q", "--no-plots", "-o", "o"])  # the file's key over the preset's chips
    assert line.startswith("accelsim: error: f.yaml:2: workload.pipeline_parallel: gpt: ")
    assert "1 × 16 = 16 chips, but arch 'dgx-a100' has arch.chips=8" in line


def test_spilled_state_whose_footprint_fits_names_what_was_placed_beyond_not_needs_less_than_holds():
    # a refusal must never read "needs X B but it holds Y B" with X <= Y: where placement put a trained tensor
    # beyond the main memory although the whole footprint fits, the error names that tensor and its bytes
    import dataclasses

    import pytest

    from accelsim.builders import build_workload
    from accelsim.config import load_arch
    from accelsim.errors import WorkloadError
    from accelsim.mapping import lower
    from accelsim.options import Options
    from accelsim.scenarios.single import refuse_spilled_state

    arch = load_arch("h100")
    g = build_workload("gcn_cora", {"mode": "training"})
    tg = lower(g, arch, Options())
    refuse_spilled_state(g, arch, tg, Options(), "gcn")  # all in HBM: no refusal
    w = next(w for op in g.ops for w in op.weights if w.role != "state")
    moved = dataclasses.replace(tg, placement={**tg.placement, w.name: "host"})
    with pytest.raises(WorkloadError) as e:
        refuse_spilled_state(g, arch, moved, Options(), "gcn")
    # gcn_cora's first weight: 1433 x 16 bf16 = 45,856 B, beyond an 80 GiB HBM that holds the rest many times over
    assert f"{w.name!r} ({1433 * 16 * 2:,} B)" in str(e.value) and "needs" not in str(e.value)
    assert "although a chip's hbm holds the whole footprint" in str(e.value)


def test_distributed_optimizer_already_on_is_advised_over_more_replicas(tmp_path, capsys, monkeypatch):
    # probe p77: with options.distributed_optimizer already on, the states' remedy is more data-parallel replicas
    # (the error had dropped it). GPT-13B-like (h 5120, 40 layers, seq 512, vocab 51,200) on 2 a100s, data parallel
    # 2: by the formula above 12·5120²·40 + 13·5120·40 + (51,200 + 512)·5120 + 2·5120 parameters; bf16 weights and
    # fp32 gradients (probe p117 #1) 6 B a parameter fit 80 GiB, Adam's 12 B a parameter split 2 ways do not. Split D
    # ways the states fit the room the weights, gradients and activations leave when
    # D >= ceil(12·params / (80 GiB - 6·params - act))
    # (probe p82: without the activations the count was one short).
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "gpt", "-a", "dgx-a100", "--mode", "training", *GPT13B, "--set", "arch.chips=2",
                         "--set", "options.distributed_optimizer=true", "-q", "--no-plots", "-o", "o"])
    params = 12 * 5120**2 * 40 + 13 * 5120 * 40 + (51_200 + 512) * 5120 + 2 * 5120
    cap = 80 * 2**30
    act = int(re.search(r"activations ([\d,]+)\)", line).group(1).replace(",", ""))
    assert 6 * params + 6 * params > cap > 6 * params + act
    least = -(-12 * params // (cap - 6 * params - act))
    assert least >= 5
    assert f"options.distributed_optimizer over {least} or more data-parallel replicas ({least} chips or more; now " \
           "2)" in line, line
