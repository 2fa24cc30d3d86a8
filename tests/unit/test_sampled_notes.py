"""A layer-sampled run's notes count the model, not its sample (probe p189): a run with ``decode_steps`` simulates
each pass as a 1- and a 2-layer sample and shows the 2-layer sample's op rows, layers.0's standing for n - 1
layers (their ``count``), and the notes that counted those rows, or the sample's MoE layers, said the sample's
figures (:func:`accelsim.report.summary.sampled_notes`). Each figure below is checked against the same run with
``options.layer_samples`` false (every layer simulated) and against a hand count."""

from __future__ import annotations

import re

import pytest

from accelsim import load_arch, simulate
from accelsim.config import load_workload
from accelsim.report.summary import lanes_peak_notes, narrow_tile_notes, sampled_notes

TP_NOTE = re.compile(r"^tensor_parallel: the group of 16 chips spans 2 nodes of 8, so its ([\d,]+) collectives run "
                     r"on the scale-out network \([^,]+, ([\d.]+) µs in all\)")
MOE_NOTE = re.compile(r"^moe: capacity_factor drops .* in each of the ([\d,]+) MoE layers: ")
INFLIGHT_NOTE = re.compile(r"^memory latency: ([\d,]+) ops? \(")


def _run(model: str, arch: str, sets: list[str], sampled: bool, arch_sets: tuple[str, ...] = ()) -> dict:
    return simulate(load_workload(model, sets), load_arch(arch, list(arch_sets)),
                    {"layer_samples": sampled}).to_dict()


def _found(pattern: re.Pattern, rep: dict) -> re.Match:
    found = [m for m in map(pattern.match, rep["notes"]) if m]
    assert len(found) == 1, rep["notes"]
    return found[0]


def test_tp_across_nodes_note_counts_the_models_collectives():
    # Mixtral-8x7B (32 layers) at tensor_parallel 16 on two 8-GPU dgx-h100 nodes, prefill of 32 tokens and 2 decode
    # steps: the note is the prefill pass's. Its collectives, by hand: each of the 32 layers all-reduces the
    # attention's o_proj output and the MoE block's combined output (Megatron's row-parallel layers: 2 a layer),
    # plus the vocab-parallel embedding's all-reduce and the lm_head's all-gather: 32 x 2 + 1 + 1 = 66. The
    # 2-layer sample's rows are 2 x 2 + 2 = 6 (probe p189 #2a: "6 collectives ... 460.4 µs" at seq_len 256).
    sets = ["seq_len=32", "decode_steps=2", "tensor_parallel=16", "attention=fused"]
    sampled = _run("mixtral_8x7b", "dgx-h100", sets, True, ("chips=16",))
    full = _run("mixtral_8x7b", "dgx-h100", sets, False, ("chips=16",))
    assert sampled["serving"]["layer_samples"] == [1, 2] and full["serving"]["layer_samples"] is None
    prefill = [o for o in sampled["ops"] if o.get("phase") == "prefill" and o.get("unit") == "nic"]
    assert len(prefill) == 2 * 2 + 2 and sum(o["count"] for o in prefill) == 32 * 2 + 1 + 1
    for rep in (sampled, full):
        assert int(_found(TP_NOTE, rep).group(1)) == 32 * 2 + 1 + 1
    # the link time: each sampled row's call times its count, as the run of every layer sums its 66 calls
    assert _found(TP_NOTE, sampled).group(2) == _found(TP_NOTE, full).group(2)


def test_tp_across_nodes_note_of_a_sampled_pipeline_stage():
    # Megatron GPT, 8 layers at pipeline_parallel 2 (4 a stage) and tensor_parallel 16 on 32 dgx-h100 GPUs: the
    # note is stage 0's (the first pass's), simulated as a 1- and a 2-layer sample of its 4 layers. By hand: 4
    # layers x 2 all-reduces (attention dense, MLP dense_4h_to_h) + the embedding's all-reduce = 9 (its 2-layer
    # sample's rows: 2 x 2 + 1 = 5).
    sets = ["seq_len=128", "layers=8", "hidden=1024", "heads=16", "ffn=4096", "pipeline_parallel=2",
            "tensor_parallel=16"]
    sampled = _run("gpt", "dgx-h100", sets, True, ("chips=32",))
    full = _run("gpt", "dgx-h100", sets, False, ("chips=32",))
    assert sampled["pipeline"]["layer_samples"] == [1, 2]
    assert _found(TP_NOTE, sampled).groups() == _found(TP_NOTE, full).groups()
    assert int(_found(TP_NOTE, sampled).group(1)) == 4 * 2 + 1


@pytest.mark.parametrize(("model", "layers", "moe_layers"), [
    # Mixtral: every layer is sparse (MixtralConfig), so 4 layers are 4 MoE layers
    ("mixtral_8x7b", 4, 4),
    # DeepSeek-V2-Lite: first_k_dense_replace 1 (its config.json), so 5 layers are 1 dense + 4 MoE; sampled with
    # the dense prefix whole (2 and 3 layers)
    ("deepseek_v2_lite", 5, 4),
])
def test_moe_drop_note_names_the_models_moe_layers(model, layers, moe_layers):
    # probe p189 #1: Mixtral's sampled prefill said "in each of the 2 MoE layers" (the sample's) for its 32
    sets = ["seq_len=64", "decode_steps=2", "moe_routing=skewed", "capacity_factor=0.5", f"layers={layers}"]
    for sampled in (True, False):
        rep = _run(model, "mi300x", sets, sampled)
        assert bool(rep["serving"].get("layer_samples")) is sampled
        assert rep["moe"]["moe_layers"] == moe_layers
        assert int(_found(MOE_NOTE, rep).group(1)) == moe_layers


def test_inflight_note_counts_the_models_ops():
    # probe p189 #2b: Mixtral prefill 512 on mi300x said "4 ops" waited on Little's law (the 2-layer sample's) where
    # the run of every layer says 64. Here 4 layers: the ops that wait are per layer alike, so the model's count
    # is 4 x those of one layer (layers.0's rows of the run of every layer), the same sampled or not.
    sets = ["seq_len=128", "decode_steps=2", "layers=4"]
    full = _run("mixtral_8x7b", "mi300x", sets, False)
    per_layer = [o for o in full["ops"] if o.get("phase") == "prefill" and ".layers.0." in o["name"]
                 and isinstance((o.get("mapping") or {}).get("inflight_bound"), dict)]
    assert per_layer
    sampled = _run("mixtral_8x7b", "mi300x", sets, True)
    assert sampled["serving"]["layer_samples"] == [1, 2]
    for rep in (sampled, full):
        assert int(_found(INFLIGHT_NOTE, rep).group(1)) == 4 * len(per_layer)


def test_sampled_notes_replace_only_the_counting_notes_in_place():
    # a model of 32 alike layers from its 1-layer sample (layers.0 and the head) and its 2-layer sample (layers.0,
    # layers.1 and the head), each row an op narrower than the folds: (2 - 32) x 2 + (32 - 1) x 3 = 33 ops, one a
    # layer and the head, as the run of every layer counts them
    tiling = {"tiling": {"whole_folds": False}}
    one = [{"name": "layers.0.fc", "mapping": tiling}, {"name": "head", "mapping": tiling}]
    two = [{"name": "layers.0.fc", "mapping": tiling}, {"name": "layers.1.fc", "mapping": tiling},
           {"name": "head", "mapping": tiling}]
    sample = narrow_tile_notes(two)
    assert sample[0].startswith("scratchpad: 3 systolic ops (layers.0.fc, ...)")
    notes = ["first note", *sample, "last note"]
    # (arch and graph are read only by the notes the sample has: narrow_tile_notes needs neither)
    out = sampled_notes(notes, None, None, (one, two), 32)  # type: ignore[arg-type]
    assert out[0] == "first note" and out[2] == "last note" and len(out) == 3
    assert out[1].startswith("scratchpad: 33 systolic ops (layers.0.fc, ...)")
    assert out[1][len("scratchpad: 33"):] == sample[0][len("scratchpad: 3"):]
    assert sampled_notes(["first note"], None, None, (one, two), 32) == ["first note"]  # type: ignore[arg-type]


def test_lanes_note_counts_rows_and_their_macs():
    # 2 rows on the vector lanes standing for 3 and 1 ops of 10 and 4 MACs: 4 ops, 3 x 10 + 4 = 34 MACs
    arch = load_arch("h100")
    rows = [{"unit": "core0.vector", "macs": 10, "kind": "matmul", "count": 3},
            {"unit": "core0.vector", "macs": 4, "kind": "matmul"}]
    assert lanes_peak_notes(arch, rows, True)[0].startswith("4 op(s) (matmul) ran 34 MACs on the vector lanes, ")
    # a 4-layer model from its samples: layers.0 (10 MACs) + head (4), then layers.0 and layers.1 + head:
    # (2 - 4) x 14 + (4 - 1) x 24 = 44 MACs = 4 layers x 10 + 4, in (2 - 4) x 2 + 3 x 3 = 5 ops
    one = [{"unit": "core0.vector", "macs": 10, "kind": "matmul"}, {"unit": "core0.vector", "macs": 4, "kind": "add"}]
    two = [one[0], dict(one[0]), one[1]]
    notes = lanes_peak_notes(arch, two, True)
    assert notes[0].startswith("3 op(s) (matmul, add) ran 24 MACs")
    out = sampled_notes(notes, arch, None, (one, two), 4)  # type: ignore[arg-type]
    assert out[0].startswith("5 op(s) (matmul, add) ran 44 MACs on the vector lanes, ")
    assert out[0].split(", which", 1)[1] == notes[0].split(", which", 1)[1]

SPILL_NOTE = re.compile(r"^activations: ([\d,]+) op outputs \(([\d,]+) B \(")


def test_activation_spill_note_counts_the_models_outputs():
    # LLaMA-2-7B cut to 4 layers, prefill 2048 + 2 decode steps on tpu-v1: the prefill's outputs that do not fit the
    # scratchpad's activation region go to main memory. Its 2-layer sample said its own 2 layers' outputs (34 for
    # 66, 2.059 GiB for 4.102 GiB before the fix). The model's, from the run of every layer: layers.0's (the first
    # layer finds the scratchpad otherwise: 2 more spill there) + 3 x layers.1's (layers 1-3 alike) + those outside
    # the layers; counting layers.0's rows 3 times, as the composed rows' count does, would say 70.
    sets = ["seq_len=2048", "decode_steps=2", "layers=4"]
    full = _run("llama2_7b", "tpu-v1", sets, False)
    prefill = [o for o in full["ops"] if o.get("phase") == "prefill" and (o.get("mapping") or {}).get("output_spilled")]
    first, later = ([o for o in prefill if f".layers.{i}." in o["name"]] for i in (0, 1))
    outside = [o for o in prefill if ".layers." not in o["name"]]
    for i in (2, 3):
        assert sorted(o["name"].split(".layers.")[1][2:] for o in prefill if f".layers.{i}." in o["name"]) == sorted(
            o["name"].split(".layers.")[1][2:] for o in later)
    assert len(prefill) == len(first) + 3 * len(later) + len(outside)
    nbytes = sum(o["mapping"]["output_spilled"] for o in prefill)
    sampled = _run("llama2_7b", "tpu-v1", sets, True)
    assert sampled["serving"]["layer_samples"] == [1, 2]
    for rep in (sampled, full):
        n, b = _found(SPILL_NOTE, rep).groups()
        assert (int(n.replace(",", "")), int(b.replace(",", ""))) == (len(prefill), nbytes)


RATE_NOTE = re.compile(r"^([\d,]+) op\(s\) of dtype (\w+): the (systolic arrays|vector units) have no \2 rate")
FLASH_NOTE = re.compile(r"^([\d,]+) fused attention op\(s\) do not fit the modelled FlashAttention kernel")
KV_DEQUANT_NOTE = re.compile(r"^([\d,]+) fused attention op\(s\) of dtype int4 \(K and V stored in it\) run flash2 at the "
                             r"bf16 rate")
LLAMA3_8B_LAYERS = 32  # Meta-Llama-3-8B's config.json: num_hidden_layers 32


def _counts(pattern: re.Pattern, rep: dict) -> dict[tuple[str, ...], int]:
    return {m.groups()[1:]: int(m.group(1).replace(",", "")) for m in map(pattern.match, rep["notes"]) if m}


def test_serving_rate_notes_count_every_layers_ops():
    # probe p233 #1: llama3_8b served at fp4 on h100 (prefill 1,024 tokens, 8 decode steps) said "14 op(s) of dtype
    # fp4" and "8 op(s) of dtype fp8", its 2-layer sample's 2 x 7 and 2 x 4. A pass of the model: each layer's 7
    # linears (q, k, v, o, gate, up, down) quantised to fp4, which h100's arrays run at their fp8 rate, and its 4 KV
    # ops (k_append, v_append and the GQA repeat_kv copies k_repeat, v_repeat) on the fp8 cache, which its vector
    # units run at their fp16 rate: 32 x 7 = 224 and 32 x 4 = 128, as the one-pass run (no decode_steps) says
    sets = ["seq_len=1024", "dtype=fp4"]
    served = _counts(RATE_NOTE, simulate(load_workload("llama3_8b", [*sets, "decode_steps=8"]), "h100").to_dict())
    one_pass = _counts(RATE_NOTE, simulate(load_workload("llama3_8b", sets), "h100").to_dict())
    assert served == {("fp4", "systolic arrays"): LLAMA3_8B_LAYERS * 7, ("fp8", "vector units"): LLAMA3_8B_LAYERS * 4}
    assert served == one_pass


@pytest.mark.parametrize(("dtype", "note"), [("fp32", FLASH_NOTE), ("int4", KV_DEQUANT_NOTE)])
def test_serving_flash_fallback_note_counts_every_layers_attention(dtype, note):
    # probe p233 #1: llama3_8b served at int4 with fused attention on a100 (prefill 512, 2 decode steps) said "2 fused
    # attention op(s) do not fit" (its 2-layer sample's); a pass of the model has one fused attention a layer, none
    # of which A100's FlashAttention-2 kernel takes at this dtype (it takes fp16 and bf16): 32 x 1 = 32. Since probe
    # p252 #1 an int4 cache no longer falls back: flash2 runs it at bf16, dequantised on read, with a note of its own
    # that counts the same 32; fp32 (which no FlashAttention kernel takes, nor dequantises) keeps the fallback's note
    sets = ["seq_len=512", f"dtype={dtype}", "attention=fused"]
    served = simulate(load_workload("llama3_8b", [*sets, "decode_steps=2"]), "a100").to_dict()
    one_pass = simulate(load_workload("llama3_8b", sets), "a100").to_dict()
    assert _counts(note, served) == {(): LLAMA3_8B_LAYERS * 1} == _counts(note, one_pass)
    assert _counts(RATE_NOTE, served) == _counts(RATE_NOTE, one_pass)


def test_sampled_count_notes_are_affine_in_the_layers():
    # a prefix of 1 distinct layer holding 3 ops of the kind, then units of 2 layers of 5 each: the k + p = 3-layer
    # sample counts 3 + 5 = 8, the k + 2p = 5-layer one 3 + 2 x 5 = 13; a model of 10 units has 3 + 10 x 5 = 53
    # = (2 - 10) x 8 + (10 - 1) x 13. A kind the smaller sample lacks counts 0 there: (10 - 1) x 2 = 18. A note that
    # counts no ops of a dtype is kept as it is
    tail = "op(s) of dtype x: the vector units have no x rate and run them at their y rate"
    other = "fused attention op(s) do not fit the modelled FlashAttention kernel (why), so ..."
    out = sampled_notes(["first", f"13 {tail}", f"2 {other}", "3 layers"], None, None, ((), ()), 10,  # type: ignore[arg-type]
                        smaller=[f"8 {tail}"])
    assert out == ["first", f"53 {tail}", f"18 {other}", "3 layers"]
