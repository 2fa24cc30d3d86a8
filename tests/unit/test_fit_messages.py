"""The "does not fit" errors and training-only keys (probe 27 findings 3, 5, 6; probe 26 finding 1): every trained
model that does not fit HBM gets the training refusal (scenarios/fit.py) at the key set last with the remedies that
fit; an inference pass too big for the memories is blamed on the key set last (a --set of kv_len over a preset's
hbm.capacity, a --set of host.capacity) and says when kv_len runs past the model's context; workload.optimizer in
inference and recompute on a builder without it are one-line errors at their key."""

from __future__ import annotations

import re

from accelsim.cli import main
from accelsim.config import build_graph, experiment_from_parts, load_workload

SPILL = " (training state is not spilled to host memory unless options.offload asks)"


def _err(capsys, argv: list[str]) -> str:
    assert main([*argv, "-q", "--no-plots", "-o", "o"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


def _stash(model: str, batch: int, **params: str) -> int:
    spec = load_workload(model, ["mode=training", f"batch={batch}", *(f"{k}={v}" for k, v in params.items())])
    return int(build_graph(spec, "bf16").info.stashed_activation_bytes)


def test_a_cnn_batch_that_does_not_fit_is_the_training_refusal_at_batch(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "resnet50", "-a", "a100", "--mode", "training", "--batch", "2048"])
    # ResNet-50: 25,557,032 parameters (torchvision's resnet50), bf16 weights 2 B each = 51,114,064 B, their fp32
    # gradients 4 B each = 102,228,128 B (probe p117 #1);
    # Adam 12 B a parameter (fp32 master copy, m, v) = 306,684,384 B. Activations: the stash kept for the backward
    # pass plus the largest op's working set, a 256-channel 56 x 56 batch norm's backward (layer1.0.bn3.grad_input):
    # dY and x in, dX out, 2048 · 256 · 56 · 56 bf16 values each: 3 · 3,288,334,336 = 9,865,003,008 B (its
    # grad_weight pass's two per-channel sums are the parameters' gradients, counted under gradients, not again
    # here: mapping/placement.py's working-set rule, probe p117 #5). A100: 80 GiB = 85,899,345,920 B
    # On a GPU preset the batch norms' buffers are read by eager PyTorch's kernels and held with the weights (probe
    # p242 #1, builders.training.eager_batchnorm; before it the weights were the parameters alone, 51,114,064 B):
    # running_mean and running_var, bf16, of the 53 BatchNorm2d's channels, conv1's 64 + layer1 3·(64 + 64 + 256)
    # + 256 + layer2 4·(128 + 128 + 512) + 512 + layer3 6·(256 + 256 + 1024) + 1024 + layer4 3·(512 + 512 + 2048)
    # + 2048 = 26,560, and 53 int64 num_batches_tracked: 2 · 26,560 · 2 + 53 · 8 = 106,664 B
    channels = 64 + 3 * (64 + 64 + 256) + 256 + 4 * (128 + 128 + 512) + 512 + 6 * (256 + 256 + 1024) + 1024 \
        + 3 * (512 + 512 + 2048) + 2048
    assert channels == 26_560
    weights = 51_114_064 + 2 * channels * 2 + 53 * 8
    assert weights == 51_220_728
    act = _stash("resnet50", 2048) + 3 * 2048 * 256 * 56 * 56 * 2
    used = weights + 102_228_128 + 306_684_384 + act
    assert used > 85_899_345_920
    # offloading the 306 MB of optimizer states leaves the activations, still too big; offloading the stash to the
    # host (options.offload: activations, which the a100's host memory holds) leaves the parameters' bytes and the
    # working set, 460,133,240 + 9,865,003,008 B: it fits (probe p222 #3: the refusal offered only "use a smaller
    # batch", the remedy that scales, which resnet50 takes having no tensor or pipeline parallelism nor tokens)
    offloaded = weights + 102_228_128 + 306_684_384 + 3 * 2048 * 256 * 56 * 56 * 2
    assert offloaded == used - _stash("resnet50", 2048) == 10_325_136_248
    assert line == (f"accelsim: error: --batch: workload.batch: resnet50_a100: a chip needs {used:,} B of hbm "
                    f"(weights {weights:,}, gradients 102,228,128, optimizer states 306,684,384, activations {act:,}) "
                    f"but it holds 85,899,345,920 B{SPILL}: use options.offload: activations (needs {offloaded:,} B); "
                    f"or a smaller batch")


def test_bert_that_does_not_fit_offers_the_recompute_that_fits_with_its_footprint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "bert_base", "-a", "a100", "--mode", "training", "--batch", "4096", "--set",
                         "workload.head=pooler"])
    # BERT-base with the pooler head (head: pooler; training defaults to the pretraining heads, whose logits over
    # every position of 4,096 sequences no recompute brings under 80 GiB): 109,482,240 parameters
    # (bert-base-uncased's BertModel with its pooler): 218,964,480 B of bf16 weights, twice as many of fp32
    # gradients (probe p117 #1), 1,313,786,880 B of Adam states
    assert line.startswith("accelsim: error: --batch: workload.batch: bert_base_a100: a chip needs ")
    assert "(weights 218,964,480, gradients 437,928,960, optimizer states 1,313,786,880, activations " in line
    used = int(re.search(r"needs ([\d,]+) B of hbm", line).group(1).replace(",", ""))
    # recompute: full keeps each layer's input only; the footprint it leaves is this one less the stash it saves,
    # plus the growth of the largest op's working set, which now reads a tensor the stash no longer holds (the
    # FFN's 4h-wide intermediate, recomputed, as gpt's in tests/unit/test_pipeline.py): 4096 sequences · 128
    # tokens · 3072 (4h) · 2 B = 3,221,225,472 B (scenarios/fit.py works the working set out under the remedy: its
    # figure is the footprint of the run with recompute: full, 23,100,723,200 B)
    full = used - (_stash("bert_base", 4096, head="pooler") - _stash("bert_base", 4096, head="pooler", recompute="full")) \
        + 4096 * 128 * 3072 * 2
    assert full <= 85_899_345_920 < used
    # options.offload: activations moves the whole stash to the a100's 1 TiB host memory and leaves the rest, the
    # parameters' bytes and the working set (probe p222 #3: the refusal did not try it)
    offloaded = used - _stash("bert_base", 4096, head="pooler")
    assert offloaded <= 85_899_345_920
    assert line.endswith(f"but it holds 85,899,345,920 B{SPILL}: use recompute: full (needs {full:,} B), "
                         f"options.offload: activations (needs {offloaded:,} B); or more "
                         f"tensor parallelism, or fewer tokens a micro-batch (command line: --set workload.head=pooler)")
    assert "selective" not in line  # it keeps the 44·sbh-a-layer stash but the attention scores': too big still


def test_a_kv_len_set_past_the_context_is_blamed_and_said(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "llama2_7b", "-a", "tpu-v4", "--set", "workload.phase=decode",
                         "--set", "workload.kv_len=5000000"])
    # weights 6,738,415,616 bf16 parameters = 13,476,831,232 B; KV cache 2 · 32 layers · 4096 · 2 B = 524,288 B a
    # token · 5,000,000 = 2,621,440,000,000 B; tpu-v4: 32 GiB of HBM and 96 GiB of host memory = 137,438,953,472 B
    total = 13_476_831_232 + 524_288 * 5_000_000
    m = re.fullmatch(rf"accelsim: error: --set: workload\.kv_len: llama2_7b: weights and KV cache \({total} B\) "
                     r"and activations \((\d+) B\) need (\d+) B but hbm \(34359738368 B\) and host \(103079215104 B\) "
                     r"hold 137438953472 B; (\d+) B more than all of them hold; positions up to 5,000,001 exceed the "
                     r"model's 4,096-token context \(max_position_embeddings\) \(command line: --set workload\.phase=decode\) "
                     r"\(got 5000000\)", line)
    assert m, line
    act, need, more = map(int, m.groups())
    assert need == total + act and more == need - 137_438_953_472


NPU = """name: my-edge-npu
clock: 1GHz
dtype: int8
cores: 1
core:
  systolic: {rows: 64, cols: 64, dataflow: ws, count: 1}
  vector: {lanes: 64}
  sram: {unified: 8MiB, double_buffered: true}
hbm: {kind: LPDDR5, capacity: 4GiB, bandwidth: 68GB/s, latency: 100ns}
host: {capacity: 16GiB, bandwidth: 3.94GB/s, latency: 1us}
"""


def test_a_host_capacity_set_last_is_the_key_blamed(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "npu.yaml").write_text(NPU)
    line = _err(capsys, ["run", "-w", "llama2_7b", "-a", "npu.yaml", "--set", "workload.phase=decode",
                         "--set", "workload.kv_len=128", "--set", "arch.host.capacity=1GiB"])
    # int8, the arch's dtype, runs the whole model (every weight 1 B, as an NPU compiler's full-integer quantisation
    # does; probe p178 #1 restored this after 85d90498 had made it W8A8, 7,000,825,856 B): weights 6,738,415,616 B
    # (LLaMA-2-7B's params x 1 B), KV 2 · 32 · 4096 · 1 B · 128 = 33,554,432 B; 4 GiB + 1 GiB = 5,368,709,120 B.
    # The --set of host.capacity is as recent as kv_len's (a tie keeps the capacity), and more recent than the
    # user's file's hbm.capacity. The weights alone (6,738,415,616 B) are more than the 5,368,709,120 B, which the
    # line says
    m = re.fullmatch(r"accelsim: error: --set: arch\.host\.capacity: llama2_7b: weights and KV cache \(6771970048 B\) "
                     r"and activations \((\d+) B\) need (\d+) B but hbm \(4294967296 B\) and host \(1073741824 B\) "
                     r"hold 5368709120 B; (\d+) B more than all of them hold; the weights alone need 6,738,415,616 B, "
                     r"more than the 5,368,709,120 B that holds them \(got '1GiB'\)", line)
    assert m, line
    act, need, more = map(int, m.groups())
    assert need == 6_738_415_616 + 33_554_432 + act and more == need - 5_368_709_120


def test_optimizer_in_inference_and_recompute_without_the_key_are_refused_at_their_key(tmp_path, capsys,
                                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _err(capsys, ["run", "-w", "resnet50", "-a", "a100", "--set", "workload.optimizer=sgd"])
    assert line == ("accelsim: error: --set: workload.optimizer: training only: it picks the optimizer step that "
                    "follows a training step's backward pass, and an inference run has none (leave it out; or set "
                    "mode: training) (got 'sgd')")
    # accelsim info refuses it the same way (probe p28: it printed the inference graph, exit 0)
    assert main(["info", "resnet50", "--set", "workload.optimizer=sgd"]) == 2
    assert capsys.readouterr().err.strip() == line
    line = _err(capsys, ["run", "-w", "resnet50", "-a", "a100", "--mode", "training",
                         "--set", "workload.recompute=full"])
    assert line == ("accelsim: error: --set: workload.recompute: resnet50 takes no recompute: activation recompute "
                    "is modelled for these builders only (bert_base, bert_large, clip_vit_b32, clip_vit_l14, "
                    "gpt, gpt2, hf, llama2_13b, llama2_70b, llama2_7b, sam_vit_b, sam_vit_h, transformer_base, "
                    "vit_b_16, whisper_base, whisper_large_v3); leave it out (got 'full')")


def test_a_presets_optimizer_in_inference_is_not_the_users_and_passes():
    # workloads/gpt.yaml lists every key, optimizer: adam beside mode: inference: the preset's value, not a
    # choice the user made, so loading it is no error (a --set of it is)
    spec = experiment_from_parts("gpt", "a100")
    assert spec.workload.params["optimizer"] == "adam" and spec.workload.params["mode"] == "inference"
