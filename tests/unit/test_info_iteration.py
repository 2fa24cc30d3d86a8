"""Probe p157 #1: `accelsim info` of a `gpt` iteration of m micro-batches (and P pipeline stages) gives the totals its
run reports, the m micro-batches' forward and backward through every stage and the optimizer step once, where it gave
one micro-batch of one stage labelled `scope: run`."""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main

H, S, L, A, V = 256, 128, 2, 4, 51200  # hidden, seq_len, layers, heads; vocab: gpt's default
SHAPE = ("--set", f"workload.hidden={H}", "--set", f"workload.seq_len={S}", "--set", f"workload.heads={A}")
# one micro-batch's forward MACs by hand (batch 1): a layer's QKV 3sh², scores and context s²h each, projection
# sh², MLP 8sh² (ffn 4h), = 12sh² + 2s²h; the LM head sh·V; the embeddings none
LAYER = 12 * S * H * H + 2 * S * S * H  # 100,663,296 + 8,388,608 = 109,051,904
HEAD = S * H * V  # 1,677,721,600
# a layer's parameters: QKV 3h² + 3h, projection h² + h, MLP 8h² + 5h, two layernorms 4h = 12h² + 13h
LAYER_PARAMS = 12 * H * H + 13 * H  # 789,760
ADAM_FLOPS = 10  # an Adam step's FLOPs a parameter element (builders/training.py OPTIMIZER_ELEMS)


def _info(capsys, *sets: str, layers: int = L) -> dict:
    args = ["info", "gpt", "--mode", "training", "--arch", "dgx-h100", *SHAPE, "--set", f"workload.layers={layers}"]
    assert main([*args, *[a for s in sets for a in ("--set", f"workload.{s}")], "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_micro_batches_multiply_the_passes_not_the_optimizer_step(capsys):
    one = _info(capsys)
    four = _info(capsys, "micro_batches=4")
    # training MACs are 3 × the forward's (each matmul's backward: the input's gradient and the weight's)
    assert one["macs"] == 3 * (L * LAYER + HEAD) == 5_687_476_224
    assert four["macs"] == 4 * one["macs"] == 22_749_904_896
    # the forward and backward FLOPs four times, the Adam step (10 FLOPs a parameter) once
    assert four["flops"] == 4 * one["flops"] - 3 * ADAM_FLOPS * one["params"]
    assert four["scope"] == "run" and four["micro_batches"] == 4
    # the memory figures are the one chip's, held once: a single stage keeps one micro-batch's stash (min(P − k, m))
    for key in ("weight_bytes", "gradient_bytes", "optimizer_state_bytes", "stashed_activation_bytes", "ops"):
        assert four[key] == one[key], key
    # the operators table stays one micro-batch's
    assert sum(op["macs"] for op in four["op_table"]) == one["macs"]


def test_pipeline_stages_are_added(capsys):
    """P = 2, m = 4: the two stages' MACs together, as P = 1; stage 0 alone (what info gave) is 1/5.5 of them."""
    flat = _info(capsys, "micro_batches=4")
    pipe = _info(capsys, "micro_batches=4", "pipeline_parallel=2")
    first, last = pipe["stages"]
    # stage 0: the embeddings and layer 0; stage 1: layer 1 and the LM head
    assert (first["stage"], first["count"], last["stage"], last["count"]) == (0, 1, 1, 1)
    assert first["macs"] == 3 * LAYER == 327_155_712
    assert last["macs"] == 3 * (LAYER + HEAD) == 5_360_320_512
    assert pipe["macs"] == 4 * (first["macs"] + last["macs"]) == flat["macs"] == 22_749_904_896
    assert sum(op["macs"] for op in pipe["op_table"]) == first["macs"]  # the table: stage 0's one micro-batch
    # params: stage 0 the word (V·h) and position (s·h) embeddings and a layer; stage 1 a layer, the final norm (2h)
    # and the LM head's copy of the word embeddings (tied: Megatron-LM's embedding group)
    assert first["params"] == V * H + S * H + LAYER_PARAMS == 13_929_728
    assert last["params"] == LAYER_PARAMS + 2 * H + V * H == 13_897_472
    assert pipe["params_per_chip"] == 13_929_728  # the largest stage's, as run's
    assert pipe["params"] == flat["params"] == V * H + S * H + L * LAYER_PARAMS + 2 * H == 14_720_000
    # every stage's Adam step once: 10 FLOPs an element of each stage's parameters
    one_first = first["flops"] - ADAM_FLOPS * first["params"]
    one_last = last["flops"] - ADAM_FLOPS * last["params"]
    assert pipe["flops"] == 4 * (one_first + one_last) + ADAM_FLOPS * (first["params"] + last["params"])
    # weights, gradients and state once a stage; 1F1B keeps min(P − k, m) micro-batches' stash on stage k: 2 and 1
    for key in ("weight_bytes", "gradient_bytes", "optimizer_state_bytes", "ops"):
        assert pipe[key] == first[key] + last[key], key
    assert pipe["stashed_activation_bytes"] == 2 * first["stashed_activation_bytes"] + last["stashed_activation_bytes"]


def test_middle_stages_count_as_run_counts_them(capsys):
    """P = 4, one layer a stage, m = 8: stage 1 stands for stages 1 and 2, as scenarios/pipeline.py simulates it."""
    out = _info(capsys, "micro_batches=8", "pipeline_parallel=4", layers=4)
    assert [(s["stage"], s["count"]) for s in out["stages"]] == [(0, 1), (1, 2), (3, 1)]
    assert out["macs"] == 8 * 3 * (4 * LAYER + HEAD) == 50_734_301_184
    # stash: stage k keeps min(4 − k, 8) micro-batches: 4, 3, 2 and 1
    first, middle, last = (s["stashed_activation_bytes"] for s in out["stages"])
    assert out["stashed_activation_bytes"] == 4 * first + (3 + 2) * middle + 1 * last


def test_info_equals_the_run(tmp_path, capsys):
    out = _info(capsys, "micro_batches=4", "pipeline_parallel=2")
    assert main(["run", "-w", "gpt", "-a", "dgx-h100", "--mode", "training", *SHAPE, "--set", f"workload.layers={L}",
                 "--set", "workload.micro_batches=4", "--set", "workload.pipeline_parallel=2",
                 "-o", str(tmp_path / "r"), "-q", "--no-plots"]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert (report["macs"], report["flops"], report["params"], report["params_per_chip"]) == (
        out["macs"], out["flops"], out["params"], out["params_per_chip"])


@pytest.mark.parametrize(("sets", "row"), [
    (("micro_batches=4",), "the operators table is one micro-batch of 4 (5,687,476,224 MACs"),
    (("micro_batches=4", "pipeline_parallel=2"), "stage 0 of 2, one micro-batch, is the operators table "
                                                  "(327,155,712 MACs"),
])
def test_text_says_what_the_totals_and_the_table_cover(capsys, monkeypatch, sets, row):
    monkeypatch.setenv("COLUMNS", "400")  # rows unwrapped
    args = ["info", "gpt", "--mode", "training", *SHAPE, "--set", f"workload.layers={L}"]
    assert main([*args, *[a for s in sets for a in ("--set", f"workload.{s}")]]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "the iteration as run executes it: 4 micro-batches" in text
    assert row in text  # 5,687,476,224 = 3 × (2 × 109,051,904 + 1,677,721,600); 327,155,712 = 3 × 109,051,904
    assert "22,749,904,896" in text  # 4 × 5,687,476,224
