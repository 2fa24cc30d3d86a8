"""N:M structured weight sparsity (``workload.sparsity``, ``core.systolic.structured_sparsity``).

The counting is SCALE-Sim v3's layer-wise sparsity (each group of M weights along K packed to N;
``tests/integration/test_scalesim_reference.py`` checks the cycles against SCALE-Sim 3.0.0 itself), the storage its
blocked-ELLPACK metadata (⌈log2 M⌉ bits per kept weight, NVIDIA's 2-bit index for 2:4), and the GPU rate the
datasheets' "with sparsity" peaks: twice the dense tensor rate for 2:4.
"""

from __future__ import annotations

import json

import pytest

from accelsim import simulate
from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import build_graph, load_arch, load_workload
from accelsim.ir import Sparsity

SHAPE = {"m": 4096, "n": 4096, "k": 4096}
GEMM = {"model": "gemm", **SHAPE}


@pytest.mark.parametrize(("pattern", "k", "kept"), [
    ("2:4", 4096, 2048),  # whole groups: K · N / M
    ("2:4", 37, 19),  # 9 groups of 4 → 18, and the last 1 weight kept: min(1, 2)
    ("3:4", 45, 34),  # 11 groups → 33, 1 left → 1
    ("2:8", 200, 50),  # 25 groups → 50
    ("2:4", 3, 2),  # one partial group of 3: min(3, 2)
    ("4:4", 10, 10),  # dense
])
def test_kept_weights(pattern, k, kept):
    assert Sparsity.parse(pattern).kept(k) == kept


@pytest.mark.parametrize(("pattern", "bits"), [("2:4", 2), ("1:2", 1), ("2:8", 3), ("4:16", 4), ("3:5", 3)])
def test_index_bits(pattern, bits):
    """⌈log2 M⌉: the position of a kept weight in its group of M."""
    assert Sparsity.parse(pattern).index_bits == bits


@pytest.mark.parametrize("text", ["5:4", "0:4", "2", "a:b", "2:4:8", "-1:4"])
def test_bad_patterns(text):
    with pytest.raises(ValueError):
        Sparsity.parse(text)


def test_a_pruned_gemm_counts_its_kept_macs_and_stores_compressed_weights():
    dense = build_workload("gemm", {**SHAPE, "dtype": "bf16"}).ops[0]
    op = build_workload("gemm", {**SHAPE, "dtype": "bf16", "sparsity": "2:4"}).ops[0]
    assert op.attrs["sparsity"] == "2:4"
    assert op.gemm == dense.gemm  # the activations it reads stay dense
    assert op.macs == 4096 * 4096 * 2048 == dense.macs // 2
    assert op.flops == dense.flops - 2 * (dense.macs - op.macs)
    # 4096 x 2048 kept bf16 weights (2 B) and a 2-bit index each
    assert op.weights[0].nbytes("bf16") == 4096 * 2048 * 2 + 4096 * 2048 * 2 // 8
    assert op.params == dense.params == 4096 * 4096  # params count the dense tensor


def test_gpu_sparse_tensor_cores_at_most_double_the_dense_rate():
    """A100's 2:4 sparse tensor cores run at twice the dense rate (nv_ampere_whitepaper; 624 vs 312 TFLOPS bf16).
    A 4096³ bf16 GEMM is compute-bound at either rate (2·4096³ FLOPs over 3 · 4096² · 2 B = 1365 FLOP/B, far above
    the 312e12 / 2.04e12 = 153 FLOP/B ridge), so pruning it 2:4 gets close to, but never beyond, half the time: the
    tiles' fixed prologue and epilogue do not shrink."""
    dense = simulate(GEMM, "a100")
    sparse = simulate({**GEMM, "sparsity": "2:4"}, "a100")
    op = sparse["ops"][0]
    assert op["mapping"]["sparsity"] == {"pattern": "2:4", "k": 4096, "executed_k": 2048, "skips_zeros": True}
    assert 0.5 <= sparse.seconds / dense.seconds <= 0.6
    assert sparse["macs"] == dense["macs"] // 2


def test_an_array_without_sparse_support_multiplies_the_zeros():
    """TPU v4's MXUs have no N:M support: the pruned layer runs its dense K (the same compute cycles); its useful
    MACs (``macs``) are half, but the MACs it computes are the dense layer's."""
    dense = simulate(GEMM, "tpu-v4")
    sparse = simulate({**GEMM, "sparsity": "2:4"}, "tpu-v4")
    assert sparse["ops"][0]["compute_cycles"] == dense["ops"][0]["compute_cycles"]
    assert sparse["ops"][0]["mapping"]["sparsity"]["skips_zeros"] is False
    assert sparse["macs"] * 2 == dense["macs"]
    assert sparse["computed_macs"] == dense["computed_macs"] == 4096 ** 3


SMALL = {"model": "gemm", "m": 512, "n": 512, "k": 1024, "dtype": "bf16"}
# tpu-v4.yaml and a100.yaml: energy.mac_overhead 7.0 = NeuSim's 0.98 pJ bf16 MAC at 7 nm (with the array's data
# movement) / this model's 7 nm bf16 MAC 0.140 pJ, so a bf16 MAC costs about 0.98 pJ on either
PJ_PER_MAC = 0.98e-12


def test_an_array_that_multiplies_the_zeros_computes_and_is_charged_the_dense_macs():
    """TPU v4 runs a 2:4-pruned 512 x 512 x 1024 GEMM over its dense K (executed_k 1024): the model's useful MACs
    are 512 · 512 · 512 = 134,217,728 (``macs``), but the MXUs compute 512 · 512 · 1024 = 268,435,456
    (``computed_macs``, the dense run's), so the MAC energy, the MAC utilisation and TOPS/W are the dense run's
    work (probe p53: they counted the kept half)."""
    dense = simulate(SMALL, "tpu-v4")
    sparse = simulate({**SMALL, "sparsity": "2:4"}, "tpu-v4")
    assert sparse["ops"][0]["mapping"]["sparsity"]["executed_k"] == 1024
    assert sparse["macs"] == 512 * 512 * 512
    assert sparse["computed_macs"] == dense["computed_macs"] == 512 * 512 * 1024
    assert sparse["computed_flops"] == 2 * 512 * 512 * 1024
    assert sparse["energy"]["mac_j"] == pytest.approx(512 * 512 * 1024 * PJ_PER_MAC, rel=0.005)
    assert sparse["energy"]["mac_j"] == pytest.approx(dense["energy"]["mac_j"], rel=1e-12)
    # 8 MXUs (2 cores x 4) of 128 x 128: the executed MACs over the peak's in the run's cycles
    peak = 8 * 128 * 128
    assert sparse["mac_utilization"] == pytest.approx(512 * 512 * 1024 / (peak * sparse["total_cycles"]), rel=1e-12)
    assert sparse["efficiency"]["tops_per_w"] == pytest.approx(
        2 * 512 * 512 * 1024 / sparse["energy"]["total_j"] / 1e12, rel=1e-12)
    assert not any(n.startswith("causal attention") for n in sparse["notes"])  # nothing skipped


@pytest.mark.parametrize(("pattern", "macs"), [
    ("2:4", 512 * 512 * 512),  # K 1024 keeps 2 of every 4: 512
    ("1:4", 512 * 512 * 256),  # 1 of every 4: 256, run as 2:4 (512)
    ("2:8", 512 * 512 * 256),  # 2 of every 8: 256, run as 2:4 (512)
])
def test_sparse_tensor_cores_compute_the_2_4_macs(pattern, macs):
    """A100's sparse tensor cores skip the zeros of 2:4 weights only: a 1:4 or 2:8 layer runs as 2:4, so they
    compute 512 · 512 · 512 MACs whatever the pattern, and are charged those at about 0.98 pJ each."""
    r = simulate({**SMALL, "sparsity": pattern}, "a100")
    assert r["macs"] == macs
    assert r["computed_macs"] == 512 * 512 * 512
    assert r["computed_flops"] == 2 * 512 * 512 * 512
    assert r["energy"]["mac_j"] == pytest.approx(512 * 512 * 512 * PJ_PER_MAC, rel=0.005)


def test_scalesim_style_array_skips_any_pattern():
    """An array with ``structured_sparsity: [any]`` (SCALE-Sim v3's SparsitySupport) runs the kept K. On the
    32×32 output-stationary array a 32×32 output is one fold of τ = R + C + T − 2 cycles with T = K, and SCALE-Sim
    reports τ − 1 (cost/folds.py): dense T = 4096 gives 32 + 32 + 4094 − 1 = 4157; pruned 1:4, T = 1024, 1085."""
    arch = {"base": "scalesim-32x32", "core": {"systolic": {"structured_sparsity": ["any"]}}}
    gemm = {"model": "gemm", "m": 32, "n": 32, "k": 4096}
    dense = simulate(gemm, arch)["ops"][0]
    sparse = simulate({**gemm, "sparsity": "1:4"}, arch)["ops"][0]
    assert sparse["mapping"]["sparsity"]["executed_k"] == 1024
    assert (dense["compute_cycles"], sparse["compute_cycles"]) == (4157, 1085)


def test_resnet_convs_and_a_tied_head():
    """Every conv and linear layer of ResNet-18 is pruned; GPT-2's head, tied to the token embedding, is not (its
    table is gathered densely), while its other linear layers are."""
    g = build_workload("resnet18", {"sparsity": "2:4"})
    convs = [op for op in g.ops if op.kind.value in ("conv", "linear")]
    assert convs and all(op.attrs.get("sparsity") == "2:4" for op in convs)
    conv1 = next(op for op in convs if op.gemm.k == 3 * 7 * 7)
    assert conv1.macs == conv1.gemm.m * conv1.gemm.n * (2 * 36 + 2)  # K = 147: 36 groups and 3 left (2 kept)
    gpt = build_workload("gpt2", {"layers": 1, "seq_len": 8, "sparsity": "2:4"})
    heads = [op for op in gpt.ops if "tied" in op.attrs]
    assert heads and all("sparsity" not in op.attrs for op in heads)
    assert any(op.attrs.get("sparsity") == "2:4" for op in gpt.ops)


def test_sparsity_in_a_yaml_file_unquoted(tmp_path, capsys):
    """YAML 1.1 reads 2:4 unquoted as the base-60 number 124; accelsim's loader keeps it a string (YAML 1.2)."""
    f = tmp_path / "e.yaml"
    f.write_text("name: e\nworkload: {model: gemm, m: 64, n: 64, k: 64, sparsity: 2:4}\narch: a100\n")
    assert main(["run", str(f), "-o", str(tmp_path / "out"), "--no-plots", "-q"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["macs"] == 64 * 64 * 32


@pytest.mark.parametrize(("sets", "message"), [
    (["--set", "workload.sparsity=5:4"], "--set: workload.sparsity: expected 1 <= N <= M in N:M (got '5:4')"),
    (["--set", "workload.sparsity=2:4", "--mode", "training"], "training a model pruned N:M is not modelled"),
])
def test_bad_sparsity_is_one_line(sets, message, capsys):
    status = main(["run", "--workload", "gemm", "--arch", "a100", *sets, "-q", "--no-plots", "-o", "/tmp/x"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and message in err, err


def test_idle_experts_are_stored_pruned_too():
    """A decode step's idle experts (``unused_params``) hold the same pruned weights the routed ones read: the
    stored model is the same whatever a step routes, so a prefill and a decode step hold the same weight bytes."""
    common = ["layers=1", "sparsity=2:4", "dtype=bf16"]
    prefill = build_graph(load_workload("qwen1_5_moe_a2_7b", [*common, "seq_len=512"]))
    decode = build_graph(load_workload("qwen1_5_moe_a2_7b", [*common, "phase=decode", "kv_len=512"]))
    assert any(op.fn == "unused_params" for op in decode.ops)
    assert decode.weight_bytes == prefill.weight_bytes


def test_nothing_to_prune_when_k_is_at_most_n():
    """K = 2 under 2:4 keeps both weights: the layer stays dense (no index bits added)."""
    op = build_workload("gemm", {"m": 64, "n": 64, "k": 2, "sparsity": "2:4", "dtype": "bf16"}).ops[0]
    assert "sparsity" not in op.attrs and op.weights[0].nbytes("bf16") == 64 * 2 * 2


def test_sparse_tensor_cores_only_for_their_dtypes():
    """A100's sparse peaks are for FP16/BF16, INT8 and INT4 (nv_ampere_whitepaper); an fp32 GEMM runs on the CUDA
    cores and gets no 2:4 speed-up. It still reads the compressed weights, but a 4096³ fp32 GEMM is compute-bound
    (19.5 TFLOPS over 2.04 TB/s: a 9.6 FLOP/B ridge, the GEMM 683 FLOP/B), so its time stays the dense one's within
    a few per cent (the smaller weight panels can change the tile shape the library model picks)."""
    dense = simulate({**GEMM, "dtype": "fp32"}, "a100")["ops"][0]
    sparse = simulate({**GEMM, "dtype": "fp32", "sparsity": "2:4"}, "a100")["ops"][0]
    assert sparse["mapping"]["sparsity"]["skips_zeros"] is False
    assert sparse["mapping"]["sparsity"]["executed_k"] == 4096
    assert sparse["compute_cycles"] == pytest.approx(dense["compute_cycles"], rel=0.05)


def test_a_dtype_that_runs_as_a_sparse_one_skips_the_zeros():
    """A100 has no fp8 tensor rate: an fp8 GEMM runs as bf16 (the nearest wider float it lists, docs/configuration.md
    "Per-dtype rates"), and bf16 is one of its sparse dtypes, so its 2:4 weights run at K / 2 as bf16's do (the fp8
    dtype itself is not in a100's sparse_dtypes). h100's int4 runs as int8 (sparse); a100's tf32 runs as tf32 (not
    sparse: TF32's structured sparsity is 1:2)."""
    f8 = simulate({**GEMM, "dtype": "fp8", "sparsity": "2:4"}, "a100")["ops"][0]
    bf = simulate({**GEMM, "dtype": "bf16", "sparsity": "2:4"}, "a100")["ops"][0]
    assert f8["mapping"]["rate"]["runs_as"] == "bf16"
    assert f8["mapping"]["sparsity"]["executed_k"] == bf["mapping"]["sparsity"]["executed_k"] == 4096 // 2
    assert f8["compute_cycles"] <= bf["compute_cycles"]  # the same bf16 MMAs over K / 2, half the operand bytes
    h100, a100 = load_arch("h100").core.systolic, load_arch("a100").core.systolic
    assert h100.executed_k(Sparsity(2, 4), 4096, "int4") == 2048
    assert a100.executed_k(Sparsity(2, 4), 4096, "tf32") == 4096


def test_a_stricter_pattern_runs_on_2_4_tensor_cores():
    """1:4-pruned weights have at most 2 nonzeros in every 4, so 2:4 tensor cores run them (as 2:4: K / 2)."""
    assert Sparsity.parse("1:4").satisfies(Sparsity(2, 4)) and Sparsity.parse("1:2").satisfies(Sparsity(2, 4))
    assert Sparsity.parse("2:8").satisfies(Sparsity(2, 4)) and not Sparsity.parse("3:4").satisfies(Sparsity(2, 4))
    assert not Sparsity.parse("4:8").satisfies(Sparsity(2, 4))  # 4 nonzeros may sit in one group of 4
    one = simulate({**GEMM, "sparsity": "1:4"}, "a100")["ops"][0]
    two = simulate({**GEMM, "sparsity": "2:4"}, "a100")["ops"][0]
    assert one["mapping"]["sparsity"]["executed_k"] == two["mapping"]["sparsity"]["executed_k"] == 2048
    assert one["compute_cycles"] <= two["compute_cycles"]  # the same MMAs, fewer weight bytes to read


def test_a_pruned_int4_weight_keeps_its_dense_groups_scales():
    """4,096 × 4,096 int4 weights in groups of 128 along the dense K (one fp16 scale each), pruned 2:4: the kept
    8,388,608 weights at half a byte, 131,072 scales of 2 bytes, and 2 index bits per kept weight."""
    g = build_workload("llama2_7b", {"layers": 1, "seq_len": 16, "weight_dtype": "int4", "sparsity": "2:4",
                                     "dtype": "fp16"})
    w = next(w for op in g.ops for w in op.weights if w.name.endswith("q_proj.weight"))
    kept = 4096 * 2048
    assert w.nbytes("fp16") == kept // 2 + 4096 * 4096 // 128 * 2 + kept * 2 // 8


def test_an_absorbed_weight_read_along_its_other_axis_stays_dense():
    """DeepSeek's absorbed decode reads kv_b_proj's key rows transposed (q_absorb reduces over the nope dim, not
    the rows' kv_rank): a model pruned along kv_b_proj's rows cannot skip those zeros; v_absorb reduces over the rows
    and is pruned."""
    g = build_graph(load_workload("deepseek_v2_lite", ["layers=2", "phase=decode", "kv_len=64", "sparsity=2:4"]))
    ops = {op.name.rsplit(".", 1)[-1]: op for op in g.ops if op.name.startswith("model.layers.1.")}
    assert "sparsity" not in ops["q_absorb"].attrs and ops["v_absorb"].attrs.get("sparsity") == "2:4"


def test_arch_patterns_are_normalised():

    arch = load_arch({"base": "scalesim-32x32", "core": {"systolic": {"structured_sparsity": ["02:04"]}}})
    assert arch.core.systolic.structured_sparsity == ["2:4"]


def test_ops_csv_says_which_ops_are_pruned(tmp_path):
    """ops.csv, written by the real report writer, gains a sparsity column when some op is pruned: the pattern and
    whether the unit skipped the zeros (an A100 2:4 GEMM: skipped; on TPU v4's MXUs: run dense)."""
    import csv

    for arch, shown in (("a100", "2:4 skipped"), ("tpu-v4", "2:4 dense")):
        out = tmp_path / arch
        assert main(["run", "--workload", "gemm", "--arch", arch, "--set", "workload.sparsity=2:4", "-o", str(out),
                     "-q", "--no-plots"]) == 0
        rows = list(csv.DictReader((out / "ops.csv").open()))
        assert [r["sparsity"] for r in rows] == [shown]
    dense = tmp_path / "dense"
    assert main(["run", "--workload", "gemm", "--arch", "a100", "-o", str(dense), "-q", "--no-plots"]) == 0
    assert "sparsity" not in (dense / "ops.csv").read_text().splitlines()[0].split(",")


def test_info_says_how_many_ops_are_pruned(capsys):
    """torchvision's ResNet-18 has 20 convolutions (conv1, 16 in its 8 basic blocks, 3 downsample 1x1s) and one fc:
    21 pruned ops."""
    assert main(["info", "resnet18", "--set", "workload.sparsity=2:4", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sparsity"] == {"pattern": "2:4", "pruned_ops": 21}


def test_a_pruned_gemm_whose_tiles_are_latency_bound_says_so():
    # probe p69 #1: mi300x's 8192^3 bf16 GEMM gained 0.9 % from 2:4. arch/mi300x.yaml's core.tile gives m = n = 128
    # only (k 32, stages 2: hardware.OutputTile's defaults), so a tile's main loop waits ceil(8192 / 32) = 256
    # K-stages, 1 in flight, each a round trip of (200 ns L2 + 600 ns HBM) x 2.1 GHz = 1,680 cycles, 2 thread
    # blocks resident (64 KiB LDS / (2 stages x 32 x (128 x 2 B + 128 x 1.125 B)) = 2): 256 x 1,680 / 2 = 215,040
    # cycles a tile, beside its folds' 16 x (32 + 32 + 4,096 - 2) = 66,528 pruned or 16 x 8,254 = 132,064 dense:
    # the bound sets both, so the tile gains nothing
    shape = {"model": "gemm", "m": 8192, "n": 8192, "k": 8192, "sparsity": "2:4"}
    notes = [n for n in simulate(shape, "mi300x").to_dict()["notes"] if n.startswith("sparsity:")]
    assert len(notes) == 1
    assert "ran its tiles 0.0% faster" in notes[0] and "latency-bound (215,040 cycles" in notes[0]
    assert "66,528" in notes[0] and "core.tile.stages 2" in notes[0]
    # an h100 tile of the same GEMM is set by its folds (the GEMM runs 1.49x faster pruned): no note
    assert not [n for n in simulate(shape, "h100").to_dict()["notes"] if n.startswith("sparsity:")]
