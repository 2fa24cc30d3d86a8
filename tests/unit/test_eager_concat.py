"""Probe p230 #3: a torch.cat the reference code runs is a copy kernel on a GPU preset (eager PyTorch and the CUDA
graphs captured from it: ATen's ``cat`` on CUDA launches CatArrayBatchedCopy, aten/src/ATen/native/cuda/Shape.cu,
which reads every input and writes a new tensor), and stays a view elsewhere, where the accelerator's compiler has
the producers write into the concatenation's buffer. Builders mark such a concat ``eager_copy``
(``GraphBuilder.concat(..., eager_copy=True)``); the GPU test is the one that keeps batch norms and eager copies
(``arch.core.tile``: mapping.aliases). Before, every concat was a free view: unet on h100 had 4 concats with no unit,
no bytes and no time. Every byte below is a hand calculation from the workload's shapes."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.ir import OpKind
from accelsim.mapping.aliases import aliases
from accelsim.options import Options

FP16 = 2  # bytes an element (unet's default dtype, fp16)

# Ronneberger et al. 2015, Fig. 1 (valid convs, 572 input): the deepest skip, down3's 512×64×64 map, cropped to the
# 56×56 of the first up-convolution's 512×56×56 output; concatenated: 1024×56×56
UP0_SKIP = 512 * 56 * 56 * FP16  # the crop's share of the skip read: 3,211,264 B
UP0_UP = 512 * 56 * 56 * FP16  # 3,211,264 B
UP0_OUT = 1024 * 56 * 56 * FP16  # 6,422,528 B written
# the last one: down0's 64×568×568 skip cropped to 392×392, beside the 64×392×392 up-convolution: 128×392×392
UP3_SKIP_WHOLE = 64 * 568 * 568 * FP16  # 41,295,872 B held (the crop is a view of it)
UP3_UP = 64 * 392 * 392 * FP16  # 19,668,992 B
UP3_OUT = 128 * 392 * 392 * FP16  # 39,337,984 B


@pytest.fixture(scope="module")
def unet():
    return build_workload("unet", {})


def _concats(graph, arch: str, **options: object):
    plans = aliases(graph, Options(**options), load_arch(arch))
    return [p for p in plans if p.op.kind is OpKind.CONCAT]


def test_the_skip_concats_are_marked_eager_copies(unet):
    cats = [op for op in unet if op.kind is OpKind.CONCAT]
    assert [op.name for op in cats] == [f"up{i}.concat" for i in range(4)]
    assert all(op.attrs.get("eager_copy") is True for op in cats)


@pytest.mark.parametrize(("arch", "works"), [("h100", True), ("a100", True), ("tpu-v4", False),
                                             ("edge-npu", False)])
def test_a_copy_on_a_gpu_preset_a_view_elsewhere(unet, arch: str, works: bool):
    cats = _concats(unet, arch)
    assert len(cats) == 4
    assert all(p.works is works for p in cats)
    if works:  # one pass over the output's elements, no arithmetic
        assert [p.op.vector_elems for p in cats] == [1024 * 56 * 56, 512 * 104 * 104, 256 * 200 * 200,
                                                     128 * 392 * 392]
        assert all(p.op.flops == 0 for p in cats)


def test_a_cuda_graph_replays_the_copy(unet):
    """options.execution: cuda_graph captures the eager kernels, cat's among them: still a copy."""
    assert all(p.works for p in _concats(unet, "h100", execution="cuda_graph"))


def test_unmarked_concats_stay_views():
    """A concat a builder does not mark (a KV cache read beside the new tokens, a chunked attention's parts: the
    producers write in place) stays a view on a GPU preset too."""
    from accelsim.builders.layers import INPUT, GraphBuilder

    b = GraphBuilder("t", (1, 8, 4, 4))
    x = b.relu(INPUT, name="a")
    b.concat([x, b.relu(INPUT, name="b")], dim=1, name="cat")
    (plan,) = _concats(b.build({}), "h100")
    assert not plan.works


@pytest.fixture(scope="module")
def unet_h100():
    return accelsim.simulate("unet", "h100", plots=False).to_dict()


def test_the_first_skip_concat_reads_its_inputs_and_writes_its_output(unet_h100):
    op = next(o for o in unet_h100["ops"] if o["name"] == "up0.concat")
    assert op["unit"] != "none" and op["end_cycle"] > op["start_cycle"]
    # every byte passes through the L2: read both inputs, write the output
    assert op["bytes"]["l2"] == UP0_SKIP + UP0_UP + UP0_OUT == 12_845_056
    last = next(o for o in unet_h100["ops"] if o["name"] == "up3.concat")
    assert last["bytes"]["l2"] == 2 * UP3_OUT  # the crop's 392² share of the skip + the up-conv = the output


def test_the_concat_output_is_a_buffer_of_its_own(unet_h100):
    """The largest working set is now up3.concat's: the whole 64×568×568 skip (its crop is a view of it), the
    up-convolution's output and the new 128×392×392 tensor."""
    assert unet_h100["memory"]["hbm"]["activations"] == UP3_SKIP_WHOLE + UP3_UP + UP3_OUT == 100_302_848


def test_training_backward_of_a_concat_is_views():
    """The gradient of torch.cat is narrow views of dY (CatBackward0: ``grad.narrow`` per input): no kernel."""
    d = accelsim.simulate("unet", "h100", mode="training", plots=False).to_dict()
    grads = [o for o in d["ops"] if o["fn"] == "concat_grad"]
    assert len(grads) == 8 and all(o["unit"] == "none" for o in grads)
    assert sum(o["kind"] == "concat" and o["unit"] != "none" for o in d["ops"]) == 4


# ---- more reference torch.cat / torch.stack calls (catmore): each cited where the builder marks it -------------------
# name → the concat's output elements, from the workload's default shapes (batch 1 unless said):
# * vit_b_16 (torchvision VisionTransformer.forward: torch.cat([batch_class_token, x], dim=1)): 224 / 16 = 14, 14² + 1
#   = 197 tokens of 768
# * clip_vit_b32 (transformers CLIPVisionEmbeddings.forward: torch.cat([class_embeds, patch_embeds], dim=1)): 224 / 32
#   = 7, 7² + 1 = 50 tokens of 768
# * sam_vit_b (segment-anything MaskDecoder.predict_masks: torch.cat((output_tokens, sparse_prompt_embeddings), dim=1),
#   torch.stack(hyper_in_list, dim=1)): 1 IoU token + 4 mask tokens + 2 point-prompt tokens (the point and its
#   padding point) of 256; 4 hypernetwork outputs of 256 / 8 = 32
# * detr_resnet50 (facebookresearch/detr TransformerDecoder.forward: torch.stack(intermediate)): 6 decoder layers ×
#   100 queries × 256
# * dlrm_mlperf (facebookresearch/dlrm interact_features: T = torch.cat([x] + ly, dim=1), R = torch.cat([x] + [Zflat],
#   dim=1)), batch 2048: the bottom MLP's vector and 26 pooled ones, 27 × 128; then 128 + 27·26/2 = 479
# * seq2seq_lstm (MLPerf GNMT's ResidualRecurrentDecoder.forward: torch.cat((x, attn), dim=2) before each decoder LSTM
#   after the first): 3 of (50 target tokens × (512 + 512))
MORE = {
    "vit_b_16": {"cat_class_token": 197 * 768},
    "clip_vit_b32": {"vision_model.embeddings.cat_class": 50 * 768},
    "sam_vit_b": {"mask_decoder.tokens": (1 + 4 + 2) * 256, "mask_decoder.hyper_in": 4 * 32},
    "detr_resnet50": {"transformer.decoder.stack": 6 * 100 * 256},
    "dlrm_mlperf": {"interact.stack": 2048 * 27 * 128, "interact.cat": 2048 * 479},
    "seq2seq_lstm": {f"decoder.cat{i}": 50 * 1024 for i in (1, 2, 3)},
}


@pytest.mark.parametrize("workload", sorted(MORE))
def test_more_reference_cats_copy_on_a_gpu_and_stay_views_elsewhere(workload: str):
    graph = build_workload(workload, {})
    want = MORE[workload]
    on_gpu = {p.op.name: p for p in _concats(graph, "h100")}
    assert {n: on_gpu[n].op.vector_elems for n in want if on_gpu[n].works} == want
    assert all(on_gpu[n].op.flops == 0 for n in want)
    assert not any(p.works for p in _concats(graph, "tpu-v4") if p.op.name in want)


def test_an_lstm_layers_output_stays_a_view():
    """cuDNN's RNN forward (torch.nn.LSTM on CUDA) writes every step's hidden state into the layer's output y
    itself: the builder's stack of the steps (fn "stack") is no torch.cat, and stays a view on a GPU preset."""
    stacks = [p for p in _concats(build_workload("seq2seq_lstm", {}), "h100") if p.op.fn == "stack"]
    assert len(stacks) == 8 and not any(p.works for p in stacks)  # 4 encoder + 4 decoder LSTM layers


# ---- a training step keeps a copied concatenation's output (catmore, catfuse's item left undone) ------------------
# On a GPU preset eager PyTorch's cat writes a tensor of its own and the conv after it saves that tensor, its input,
# for its weight gradient; the up-convolution's output, read by the cat alone (ConvTranspose2d's backward reads its
# input, cat's backward nothing), is no longer kept. unet's 4 up blocks (Ronneberger et al. Fig. 1, fp16):
UP_OUTS = [64 * 392 * 392, 128 * 200 * 200, 256 * 104 * 104, 512 * 56 * 56]  # the up-convolutions' elements
CAT_OUTS = [2 * e for e in UP_OUTS]  # each concat: the cropped skip (as many channels) beside the up-convolution
ADDED = sum(CAT_OUTS) * FP16  # 77,316,096 B
DROPPED = sum(UP_OUTS) * FP16  # 38,658,048 B


@pytest.fixture(scope="module")
def unet_training():
    return build_workload("unet", {"mode": "training"})


def test_a_gpu_keeps_the_concat_outputs_in_place_of_the_up_convolutions(unet_training):
    from accelsim.builders.training import eager_cat_stash

    g = eager_cat_stash(unet_training)
    before, after = set(unet_training.info.stashed), set(g.info.stashed)
    assert after - before == {f"up{i}.concat" for i in range(4)}
    # the concat reads each up-convolution's output through its bias add (probe p235 #4: a view of the conv's output
    # off a GPU, where the training builder resolves the stash; so the add's name is the one the stash drops)
    assert before - after == {f"up{i}.upconv.bias_add" for i in range(4)}
    assert ADDED == 77_316_096 and DROPPED == 38_658_048
    assert g.info.stashed_activation_bytes - unet_training.info.stashed_activation_bytes == ADDED - DROPPED
    assert eager_cat_stash(g).info.stashed == g.info.stashed  # applied twice (run_graph after simulate_pass): the same


# the 4 max pools' int64 indices eager PyTorch keeps and XLA does not (probe p242 #4: builders.training
# compiled_pools), 8 B an output element of each 2×2 pool of down0 .. down3's 568², 280², 136², 64² maps
POOL_INDICES = 8 * (64 * 284 * 284 + 128 * 140 * 140 + 256 * 68 * 68 + 512 * 32 * 32)  # 75,030,528 B


@pytest.mark.parametrize("arch", ["tpu-v4", "edge-npu"])
def test_off_a_gpu_the_concats_stay_views(unet_training, arch: str):
    """Off a GPU the stash is the one built with every concatenation a view; only the max pools' indices go (before
    probe p242 #4 this test asked for the built stash itself, indices included)."""
    from accelsim.scenarios.fit import stash_as_run

    g = stash_as_run(unet_training, load_arch(arch))
    assert set(unet_training.info.stashed) - set(g.info.stashed) == {f"down{i}.pool.indices" for i in range(4)}
    assert set(g.info.stashed) <= set(unet_training.info.stashed)
    assert POOL_INDICES == 75_030_528
    assert unet_training.info.stashed_activation_bytes - g.info.stashed_activation_bytes == POOL_INDICES


@pytest.mark.parametrize("workload", ["unet", "googlenet", "yolov8n", "detr_resnet50", "dlrm_mlperf", "seq2seq_lstm"])
def test_the_view_resolution_is_the_built_stash(workload: str):
    """Resolving every concat as a view gives back exactly what training_graph stashed, so the copy resolution
    differs from it only by the marked concatenations."""
    from accelsim.builders.training import _kept

    g = build_workload(workload, {"mode": "training"})
    assert _kept(g, copies=False) == set(g.info.stashed)


def test_the_run_places_the_copied_stash(monkeypatch):
    """accelsim run's memory.hbm.activations (placement) counts the stash as the GPU keeps it: ADDED − DROPPED
    more than the stash resolved through views (builders.training.eager_cat_stash patched off for the second run;
    patching scenarios.fit.runs_eager_copies, as before, now also drops the max pools' indices, probe p242 #4)."""
    import accelsim.builders.training as training

    copied = accelsim.simulate("unet", "h100", mode="training", plots=False).to_dict()["memory"]["hbm"]
    monkeypatch.setattr(training, "eager_cat_stash", lambda graph: graph)
    viewed = accelsim.simulate("unet", "h100", mode="training", plots=False).to_dict()["memory"]["hbm"]
    assert copied["activations"] - viewed["activations"] == ADDED - DROPPED == 38_658_048
