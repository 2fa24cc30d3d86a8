"""Notes on multi-chip layouts (probe 18 finding 5): a tensor-parallel group that spans nodes, and an inference
that runs one replica on an arch of several."""

from __future__ import annotations

from accelsim import simulate

GPT = {"model": "gpt", "layers": 2, "hidden": 1024, "heads": 16, "seq_len": 128, "vocab": 32768}
H100_16 = {"base": "dgx-h100", "chips": 16}  # two 8-GPU nodes


def _notes(rep, prefix):
    return [n for n in rep["notes"] if n.startswith(prefix)]


def test_a_tensor_parallel_group_across_nodes_is_named():
    rep = simulate({**GPT, "tensor_parallel": 16}, H100_16).to_dict()
    # Megatron's tensor-parallel collectives: the embedding's all-reduce, 2 per layer x 2 layers, the logits'
    # all-gather = 6, each over all 16 chips, so each crosses the node boundary and runs on the NIC
    nic = [o for o in rep["ops"] if o["kind"] == "collective" and o["unit"] == "nic"]
    assert len(nic) == 6
    (note,) = _notes(rep, "tensor_parallel:")
    assert note.startswith("tensor_parallel: the group of 16 chips spans 2 nodes of 8, so its 6 collectives run on "
                           "the scale-out network (InfiniBand NDR, ")
    total_us = sum(o["mapping"][f"{o['fn']}_s"] for o in nic) * 1e6
    assert f"{total_us:.4g} \u00b5s in all" in note
    # inside a node (tensor_parallel 8 on 8 chips): no such note
    assert _notes(simulate({**GPT, "tensor_parallel": 8}, {"base": "dgx-h100"}).to_dict(), "tensor_parallel:") == []


def test_an_inference_replica_on_more_chips_names_the_idle_ones():
    # tensor_parallel 8 on 16 chips: one replica (chips 0-7) runs the pass, the second (8-15) does nothing in it
    (note,) = _notes(simulate({**GPT, "tensor_parallel": 8}, H100_16).to_dict(), "chips:")
    assert note.startswith("chips: 8 of the arch's 16 chips (chips 8-15) are idle: this inference runs one replica")
    # 24 chips: three replicas, 16 idle; 20 chips: chips 16-19 are no whole replica (idle_chip_notes) and 8-15
    # the second replica: two lines
    (three,) = _notes(simulate({**GPT, "tensor_parallel": 8}, {"base": "dgx-h100", "chips": 24}).to_dict(), "chips:")
    assert three.startswith("chips: 16 of the arch's 24 chips (chips 8-23) are idle")
    twenty = _notes(simulate({**GPT, "tensor_parallel": 8}, {"base": "dgx-h100", "chips": 20}).to_dict(), "chips:")
    assert [n[:48] for n in twenty] == ["chips: 4 of the arch's 20 chips (chips 16-19) ar",
                                        "chips: 8 of the arch's 20 chips (chips 8-15) are"]
    # training: the replicas are data parallel, so no line
    train = simulate({**GPT, "tensor_parallel": 8, "mode": "training"}, H100_16).to_dict()
    assert not any("this inference" in n or "this training" in n for n in train["notes"])


def test_gpt_vocabulary_tp_refusal_names_megatrons_padding_and_heads_come_first(capsys):
    # probe p70 #3: GPT-2's 50,257 rows at TP 2 were refused with no way forward. Megatron-LM pads the vocabulary to a
    # multiple of --make-vocab-size-divisible-by (128) x TP: ceil(50257 / 256) x 256 = 197 x 256 = 50,432
    from accelsim.cli import main

    assert -(-50257 // 256) * 256 == 197 * 256 == 50_432
    args = ["info", "gpt", "--set", "workload.vocab=50257", "--set", "workload.tensor_parallel=2"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--set workload.vocab=50432" in err, err
    assert main(["info", "gpt", "--set", "workload.vocab=50432", "--set", "workload.tensor_parallel=2"]) == 0
    capsys.readouterr()
    # 16 heads on TP 3 is the shape's fault, said before the vocabulary (51,200 is no multiple of 3 either)
    assert main(["info", "gpt", "--set", "workload.heads=16", "--set", "workload.hidden=1024",
                 "--set", "workload.tensor_parallel=3"]) == 2
    assert "tensor_parallel 3 must divide heads (16)" in capsys.readouterr().err
