"""The workload table: each name maps to the function that builds it and the pydantic model of its parameters.

Each builder module defines its params models next to its builders; this module only maps names to them and
imports nothing that imports it back. The config layer validates a workload's parameters with
``BUILDERS[name].params`` (``model_validate``); :func:`accelsim.builders.build.build_workload` builds it;
``accelsim info`` and the docs list each model's fields and their descriptions.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import WorkloadError
from ..ir import Graph
from .params import WorkloadParams


@dataclass(frozen=True)
class BuilderEntry:
    """A workload: its name, where its parameters' model and the function that builds it live
    (``"module.attribute"`` within :mod:`accelsim.builders`) and a one-line description. The builder module is
    imported when :attr:`params` or :attr:`fn` is first read, so a run imports only the builders it uses."""

    name: str
    params_ref: str
    fn_ref: str
    description: str
    # a model run as several graphs (a diffusion pipeline: text encoder, denoiser steps, VAE decoder): the function
    # giving its parts and how many times each runs, [(part, count), ...], for params whose ``part`` is "pipeline"
    parts_ref: str = ""

    @property
    def params(self) -> type[WorkloadParams]:
        """The pydantic model of the workload's parameters."""
        return _resolve(self.params_ref)

    @property
    def fn(self) -> Callable[[Any], Graph]:
        """The function that builds the workload's graph from its validated parameters."""
        return _resolve(self.fn_ref)

    @property
    def parts(self) -> Callable[[Any], list[tuple[str, int]]] | None:
        """For a model run as several graphs: the function giving its ``(part, count)`` list, else None."""
        return _resolve(self.parts_ref) if self.parts_ref else None


def _resolve(ref: str) -> Any:
    """The object ``ref`` names: ``"module.attribute"`` within :mod:`accelsim.builders`, or ``"package.module:attr"``
    (a registered workload's, :func:`register_workload`)."""
    if ":" in ref:
        module, attr = ref.split(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj
    module, attr = ref.split(".")
    return getattr(importlib.import_module(f"{__package__}.{module}"), attr)


BUILDERS: dict[str, BuilderEntry] = {
    e.name: e
    for e in (
        BuilderEntry("lenet5", "cnn.LeNetParams", "cnn.lenet5",
                     "LeNet-5 (ReLU, max-pool), 1×32×32 input, 61,706 params"),
        BuilderEntry("resnet18", "cnn.ImageNetParams", "cnn.resnet18", "ResNet-18 (torchvision), 11.7 M params"),
        BuilderEntry("resnet50", "cnn.ImageNetParams", "cnn.resnet50", "ResNet-50 v1.5 (torchvision), 25.6 M params"),
        BuilderEntry("resnet34", "cnn.ImageNetParams", "cnn.resnet34", "ResNet-34 (torchvision), 21,797,672 params"),
        BuilderEntry("resnet101", "cnn.ImageNetParams", "cnn.resnet101",
                     "ResNet-101 v1.5 (torchvision), 44,549,160 params"),
        BuilderEntry("resnet152", "cnn.ImageNetParams", "cnn.resnet152", "ResNet-152 v1.5 (torchvision), 60.2 M params"),
        BuilderEntry("googlenet", "cnn.ImageNetParams", "cnn.googlenet",
                     "GoogLeNet / Inception-v1 (torchvision, no aux heads), 6.6 M params"),
        BuilderEntry("mobilenet_v1", "cnn.ImageNetParams", "cnn.mobilenet_v1", "MobileNet-V1 1.0/224 (paper), 4.2 M params"),
        BuilderEntry("mobilenet_v2", "cnn.ImageNetParams", "cnn.mobilenet_v2", "MobileNet-V2 (torchvision), 3.5 M params"),
        BuilderEntry("mobilenet_v3_large", "cnn.ImageNetParams", "cnn.mobilenet_v3_large",
                     "MobileNetV3-Large (torchvision), 5.5 M params"),
        BuilderEntry("efficientnet_b0", "cnn.ImageNetParams", "cnn.efficientnet_b0",
                     "EfficientNet-B0 (torchvision): MBConv, squeeze-excitation, SiLU; 5,288,548 params"),
        BuilderEntry("convnext_tiny", "backbones.ConvNeXtParams", "backbones.convnext_tiny",
                     "ConvNeXt-Tiny (torchvision): 7×7 depthwise convs, LayerNorm, GELU MLPs; 28,589,128 params"),
        BuilderEntry("swin_t", "backbones.SwinParams", "backbones.swin_t",
                     "Swin-T (torchvision): shifted 7×7-window attention, patch merging; 28,288,354 params"),
        BuilderEntry("detr_resnet50", "detection.DetrParams", "detection.detr_resnet50",
                     "DETR R50 (facebookresearch/detr): ResNet-50, 6+6 transformer layers of 256, 100 object queries; "
                     "41,302,368 trainable params, 41,524,768 with the frozen stem and layer1"),
        BuilderEntry("yolov8n", "detection.YoloParams", "detection.yolov8n",
                     "YOLOv8n (Ultralytics): C2f backbone, SPPF, PAN-FPN neck, anchor-free Detect head with DFL at "
                     "strides 8/16/32, 640×640; 3,157,200 params"),
        BuilderEntry("unet", "cnn.UNetParams", "cnn.unet", "U-Net (Ronneberger et al. 2015), 572×572 → 388×388"),
        BuilderEntry("r3d_18", "cnn.VideoParams", "cnn.r3d_18",
                     "R3D-18 video ResNet (torchvision), 16×112×112 clips, Kinetics-400, 33,371,472 params"),
        BuilderEntry("unet3d", "cnn.UNet3dParams", "cnn.unet3d",
                     "3D U-Net (Çiçek et al. 2016), 132×132×116 → 44×44×28, 19,074,627 params"),
        BuilderEntry("gemm", "micro.GemmParams", "micro.gemm", "one m×n×k matrix multiply (a LINEAR op)"),
        BuilderEntry("conv2d", "micro.Conv2dParams", "micro.conv2d", "one torch.nn.Conv2d layer"),
        BuilderEntry("layers", "manual.LayersParams", "manual.build_layers", "a network listed layer by layer in YAML"),
        BuilderEntry("onnx", "importers.OnnxParams", "importers.onnx_workload",
                     "a model imported from an ONNX file (path; optional extra accelsim[onnx])"),
        BuilderEntry("torch", "torch_fx.TorchParams", "torch_fx.torch_workload",
                     "a PyTorch module traced with torch.fx (factory; optional extra accelsim[torch])"),
        BuilderEntry("bert_base", "transformer.BertParams", "transformer.bert_base",
                     "BERT-base uncased with pooler (Hugging Face), 109,482,240 params; head pretraining / classification"),
        BuilderEntry("bert_large", "transformer.BertParams", "transformer.bert_large",
                     "BERT-large uncased with pooler (Hugging Face), 335,141,888 params; head pretraining / classification"),
        BuilderEntry("gpt2", "transformer.Gpt2Params", "transformer.gpt2", "GPT-2 small, tied LM head (Hugging Face), 124,439,808 params"),
        BuilderEntry("gpt", "transformer.GptParams", "transformer.gpt",
                     "Megatron-LM GPT of any shape (hidden, heads, layers, ffn, vocab), tensor and pipeline parallel"),
        BuilderEntry("vit_b_16", "transformer.ViTParams", "transformer.vit_b_16", "ViT-B/16 (torchvision), 86,567,656 params"),
        BuilderEntry("transformer_base", "transformer.TransformerBaseParams", "transformer.transformer_base",
                     "Transformer base (Vaswani et al. 2017), shared 37000 vocab, 63,084,544 params"),
        BuilderEntry("llama2_7b", "transformer.LlamaParams", "transformer.llama2_7b",
                     "LLaMA-2 7B (Hugging Face), prefill or decode with KV cache, 6,738,415,616 params"),
        BuilderEntry("llama2_13b", "transformer.LlamaParams", "transformer.llama2_13b",
                     "LLaMA-2 13B (Hugging Face), prefill or decode with KV cache, 13,015,864,320 params"),
        BuilderEntry("llama2_70b", "transformer.LlamaParams", "transformer.llama2_70b",
                     "LLaMA-2 70B, GQA 8 KV heads (Hugging Face), prefill or decode, 68,976,648,192 params"),
        BuilderEntry("hf", "hf.HfParams", "hf.hf",
                     "a language model from its Hugging Face config.json: decoder-only, MoE, hybrid and state-space "
                     "models and vision-language models ('accelsim list hf' gives the architectures), prefill or "
                     "decode, tensor/expert parallel"),
        BuilderEntry("flux1_dev", "flux.FluxParams", "flux.flux",
                     "FLUX.1 [dev] (diffusers FluxPipeline): CLIP ViT-L/14 + T5-XXL text encoders once (4,885,371,136 "
                     "params), the guidance-distilled MMDiT transformer 28 steps with no CFG batch (11,901,408,320), "
                     "the 16-channel VAE decoder (49,545,475)", parts_ref="flux.flux_parts"),
        BuilderEntry("flux1_schnell", "flux.FluxSchnellParams", "flux.flux",
                     "FLUX.1 [schnell] (diffusers FluxPipeline): CLIP ViT-L/14 + T5-XXL text encoders once "
                     "(4,885,371,136 params), the transformer 4 steps (11,891,178,560), the 16-channel VAE decoder "
                     "(49,545,475)", parts_ref="flux.flux_parts"),
        BuilderEntry("dit_xl_2", "dit.DiTParams", "dit.dit",
                     "DiT-XL/2 at 256×256 (facebookresearch/DiT): steps × one denoising step (classifier-free "
                     "guidance) of the DiT 674,834,720, then the VAE decoder 49,490,199 params (724,324,919 in all, "
                     "as info and run count them)",
                     parts_ref="dit.dit_parts"),
        BuilderEntry("sd15", "sd.SDParams", "sd.sd",
                     "Stable Diffusion 1.5 (diffusers, runwayml/stable-diffusion-v1-5): CLIP ViT-L/14 text encoder "
                     "123,060,480, (steps + 1) × UNet 859,520,964 (PNDM's timesteps, 1 at 1 step; classifier-free guidance), VAE "
                     "decoder 49,490,199, safety checker 303,981,588 params",
                     parts_ref="sd.sd_parts"),
        BuilderEntry("sdxl", "sd.SDXLParams", "sd.sd",
                     "Stable Diffusion XL base 1.0 (diffusers): CLIP ViT-L/14 + OpenCLIP ViT-bigG/14 text encoders "
                     "817,720,320, steps × UNet 2,567,463,684, VAE decoder 49,490,199 params",
                     parts_ref="sd.sd_parts"),
        BuilderEntry("clip_vit_b32", "transformer.ClipParams", "transformer.clip_vit_b32",
                     "CLIP ViT-B/32 image and text towers (openai/clip-vit-base-patch32), 151,277,313 params"),
        BuilderEntry("clip_vit_l14", "transformer.ClipL14Params", "transformer.clip_vit_l14",
                     "CLIP ViT-L/14 image and text towers (openai/clip-vit-large-patch14), 427,616,513 params"),
        BuilderEntry("sam_vit_b", "transformer.SamParams", "transformer.sam_vit_b",
                     "Segment Anything ViT-B with point prompts (segment-anything), 93,735,472 params"),
        BuilderEntry("sam_vit_h", "transformer.SamParams", "transformer.sam_vit_h",
                     "Segment Anything ViT-H with point prompts (segment-anything), 641,090,608 params"),
        BuilderEntry("whisper_base", "transformer.WhisperParams", "transformer.whisper_base",
                     "Whisper base (openai/whisper-base), prefill or cached decode step, 72,593,920 params"),
        BuilderEntry("whisper_large_v3", "transformer.WhisperParams", "transformer.whisper_large_v3",
                     "Whisper large-v3 (openai/whisper-large-v3, 128 mel bins), prefill or cached decode step, "
                     "1,543,490,560 params"),
        BuilderEntry("attention", "micro.AttentionParams", "micro.attention",
                     "softmax(q·kᵀ)·v on given q, k, v (MHA or GQA), unfused or fused"),
        BuilderEntry("softmax", "micro.RowsColsParams", "micro.softmax", "one softmax over the last dim of rows × cols"),
        BuilderEntry("layernorm", "micro.RowsColsParams", "micro.layernorm", "one LayerNorm over the last dim of rows × cols"),
        BuilderEntry("gelu", "micro.GeluParams", "micro.gelu", "one GELU over a number of elements"),
        BuilderEntry("rmsnorm", "micro.RowsColsParams", "micro.rmsnorm", "one RMSNorm over the last dim of rows × cols"),
        BuilderEntry("silu_mul", "micro.RowsColsParams", "micro.silu_mul",
                     "silu(gate) · up of two rows × cols tensors, one fused element-wise op (SwiGLU's activation)"),
        BuilderEntry("add", "micro.RowsColsParams", "micro.add", "element-wise a + b of two rows × cols tensors (a residual add)"),
        BuilderEntry("rope", "micro.RopeParams", "micro.rope",
                     "rotary position embedding over rows × cols (tokens × q and k features), in place"),
        BuilderEntry("collective", "micro.CollectiveParams", "micro.collective",
                     "one all-reduce / all-gather / reduce-scatter / all-to-all over every chip of the arch"),
        BuilderEntry("dlrm_mlperf", "recsys.DlrmParams", "recsys.dlrm_mlperf",
                     "MLPerf DLRM v1, Criteo Terabyte (26 tables ≤ 40M rows × 128), 24,036,595,969 params"),
        BuilderEntry("embedding_bag", "micro.EmbeddingBagParams", "micro.embedding_bag",
                     "one sum-pooled embedding-bag look-up (an EMBEDDING op)"),
        BuilderEntry("gcn_cora", "gnn.GcnParams", "gnn.gcn_cora", "two-layer GCN (PyG GCNConv) on Cora, 23,063 params"),
        BuilderEntry("gat_cora", "gnn.GatParams", "gnn.gat_cora",
                     "two-layer GAT (PyG GATConv, 8 heads of 8) on Cora, 92,373 params"),
        BuilderEntry("graphsage_products", "gnn.SageParams", "gnn.graphsage_products",
                     "GraphSAGE (PyG SAGEConv, 3 layers of 256) on ogbn-products, neighbour-sampled mini-batches "
                     "whose features the host gathers, 206,895 params"),
        BuilderEntry("mpnn_qm9", "gnn.MpnnParams", "gnn.mpnn_qm9",
                     "MPNN with edge features (PyG NNConv edge MLPs) and a graph readout, batches of QM9-sized "
                     "molecules, 1,604,545 params"),
        BuilderEntry("t5_small", "t5.T5Params", "t5.t5_small",
                     "T5-small encoder-decoder, relative position bias, tied head (Hugging Face), 60,506,624 params"),
        BuilderEntry("t5_base", "t5.T5Params", "t5.t5_base",
                     "T5-base encoder-decoder, relative position bias, tied head (Hugging Face), 222,903,552 params"),
        BuilderEntry("pointnet_cls", "pointnet.PointNetParams", "pointnet.pointnet_cls",
                     "PointNet classification with input and feature T-Nets (Qi et al. 2017), 3,480,049 params"),
        BuilderEntry("lstm_lm", "rnn.LstmLmParams", "rnn.lstm_lm",
                     "2-layer LSTM language model (Zaremba et al. 2014 medium, 650 wide, PTB), 19,780,400 params"),
        BuilderEntry("seq2seq_lstm", "rnn.Seq2SeqParams", "rnn.seq2seq_lstm",
                     "GNMT-style LSTM encoder-decoder with attention, 4+4 layers of 512, 72,551,680 params"),
    )
}
"""Every workload builder by name."""


def get_builder(name: str) -> BuilderEntry:
    """The entry of workload ``name``; :class:`WorkloadError` with a "did you mean" if there is none."""
    try:
        return BUILDERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, BUILDERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(BUILDERS))}"
        raise WorkloadError(f"unknown workload {name!r}{hint}") from None


def register_workload(name: str, params: type[WorkloadParams], build: Callable[[Any], Graph],
                      description: str = "") -> BuilderEntry:
    """Make ``name`` a workload (``model: name`` in YAML, ``-w name``, ``accelsim.simulate({"model": name, ...})``):
    ``params`` is its parameters' model (a :class:`~accelsim.builders.params.WorkloadParams` subclass, which the
    config layer validates a workload's keys with) and ``build(params)`` returns its :class:`~accelsim.ir.Graph`.
    Both must be module-level names of an importable module (a sweep worker imports them by name). Registering a
    name again replaces that registration; a built-in workload's name is a :class:`WorkloadError` (and through
    ``accelsim.register_workload``, :func:`accelsim.api.register_workload`, a workload preset's name too)."""
    if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
        raise WorkloadError(f"register_workload: name must be letters, digits, '_' or '-' (got {name!r})")
    if name in BUILT_IN:
        raise WorkloadError(f"register_workload: {name!r} is a built-in workload; choose another name")
    if not (isinstance(params, type) and issubclass(params, WorkloadParams)):
        raise WorkloadError(f"register_workload: {name!r}: params must be a WorkloadParams subclass (got {params!r})")
    if not callable(build):
        raise WorkloadError(f"register_workload: {name!r}: build must be a function (got {build!r})")
    refs = []
    for what, obj in (("params", params), ("build", build)):
        module, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
        if not module or "<" in qual:
            raise WorkloadError(f"register_workload: {name!r}: {what} must be a module-level name (got {qual!r})")
        refs.append(f"{module}:{qual}")
    entry = BuilderEntry(name, refs[0], refs[1], description or f"{name} (registered from {refs[1]})")
    BUILDERS[name] = entry
    return entry


BUILT_IN = frozenset(BUILDERS)
"""The names of the workloads accelsim ships (a registration cannot replace one)."""

__all__ = ["BUILDERS", "BUILT_IN", "BuilderEntry", "get_builder", "register_workload"]
