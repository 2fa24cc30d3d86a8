"""Reference counts for accelsim's Stable Diffusion builder (accelsim/builders/sd.py, tests/unit/test_sd.py): the
diffusers / transformers models built from their published configs, their parameter counts and the MACs of one
forward at batch 1 under torch.utils.flop_counter.FlopCounterMode (its FLOPs / 2).

diffusers and torch must never be imported by accelsim or its tests, so this runs in an environment of its own
(no weights are downloaded: the models are built on the meta device from the config dicts below)::

    python3 -m venv /tmp/tv_sd && /tmp/tv_sd/bin/pip install torch==2.13.0 diffusers transformers
    /tmp/tv_sd/bin/python benchmarks/sd_reference.py

Recorded with torch 2.13.0+cpu, diffusers 0.42.1, transformers 5.25.0 (the numbers in tests/unit/test_sd.py).
"""

from __future__ import annotations

import json

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch.utils.flop_counter import FlopCounterMode
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

SD15_UNET = {  # runwayml/stable-diffusion-v1-5 unet/config.json
    "act_fn": "silu", "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False, "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
SDXL_UNET = {  # stabilityai/stable-diffusion-xl-base-1.0 unet/config.json
    "act_fn": "silu", "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20], "block_out_channels": [320, 640, 1280],
    "center_input_sample": False, "class_embed_type": None, "class_embeddings_concat": False, "conv_in_kernel": 3,
    "conv_out_kernel": 3, "cross_attention_dim": 2048, "cross_attention_norm": None,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"], "downsample_padding": 1,
    "dual_cross_attention": False, "encoder_hid_dim": None, "encoder_hid_dim_type": None, "flip_sin_to_cos": True,
    "freq_shift": 0, "in_channels": 4, "layers_per_block": 2, "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05,
    "norm_num_groups": 32, "num_attention_heads": None, "num_class_embeds": None, "only_cross_attention": False,
    "out_channels": 4, "projection_class_embeddings_input_dim": 2816, "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False, "resnet_time_scale_shift": "default", "sample_size": 128,
    "time_cond_proj_dim": None, "time_embedding_act_fn": None, "time_embedding_dim": None,
    "time_embedding_type": "positional", "timestep_post_act": None, "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "upcast_attention": None,
    "use_linear_projection": True}
VAE = {  # runwayml/stable-diffusion-v1-5 vae/config.json (SDXL's and sd-vae-ft-*: the same layers)
    "act_fn": "silu", "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
    "sample_size": 512, "up_block_types": ["UpDecoderBlock2D"] * 4}
CLIP_L = {  # openai/clip-vit-large-patch14's text config (SD 1.5's text_encoder, SDXL's text_encoder)
    "vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
    "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
    "projection_dim": 768}
CLIP_BIGG = {  # stabilityai/stable-diffusion-xl-base-1.0 text_encoder_2/config.json
    "vocab_size": 49408, "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
    "num_attention_heads": 20, "max_position_embeddings": 77, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
    "projection_dim": 1280}


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _macs(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() // 2


def main() -> None:
    meta = torch.device("meta")
    with meta:
        unet15 = UNet2DConditionModel.from_config(SD15_UNET)
        unetxl = UNet2DConditionModel.from_config(SDXL_UNET)
        vae = AutoencoderKL.from_config(VAE)
        clip_l = CLIPTextModel(CLIPTextConfig(**CLIP_L))
        big_g = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_BIGG))
        ids = torch.zeros(1, 77, dtype=torch.long)
        t = torch.tensor([999])
        out = {
            "params": {"sd15_unet": _params(unet15), "sdxl_unet": _params(unetxl),
                       "vae_decoder": _params(vae.post_quant_conv) + _params(vae.decoder),
                       "clip_l_text": _params(clip_l), "bigg_text_with_projection": _params(big_g),
                       "bigg_text_projection": _params(big_g.text_projection)},
            "macs": {
                "sd15_unet_64": _macs(lambda: unet15(torch.zeros(1, 4, 64, 64), t, torch.zeros(1, 77, 768))),
                "sdxl_unet_128": _macs(lambda: unetxl(torch.zeros(1, 4, 128, 128), t, torch.zeros(1, 77, 2048),
                                                      added_cond_kwargs={"text_embeds": torch.zeros(1, 1280),
                                                                         "time_ids": torch.zeros(1, 6)})),
                # latents the downsamplings do not halve evenly (520 and 1000 pixels): forward_upsample_size
                "sd15_unet_65": _macs(lambda: unet15(torch.zeros(1, 4, 65, 65), t, torch.zeros(1, 77, 768))),
                "sdxl_unet_125": _macs(lambda: unetxl(torch.zeros(1, 4, 125, 125), t, torch.zeros(1, 77, 2048),
                                                      added_cond_kwargs={"text_embeds": torch.zeros(1, 1280),
                                                                         "time_ids": torch.zeros(1, 6)})),
                **{f"vae_decoder_{hw}": _macs(lambda hw=hw: vae.decode(torch.zeros(1, 4, hw, hw)))
                   for hw in (32, 64, 128)},
                "clip_l_text": _macs(lambda: clip_l(ids, output_hidden_states=True)),
                "bigg_text_with_projection": _macs(lambda: big_g(ids, output_hidden_states=True)),
            },
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
