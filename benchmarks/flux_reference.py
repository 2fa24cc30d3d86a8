"""Reference counts for accelsim's FLUX.1 builder (accelsim/builders/flux.py, tests/unit/test_flux.py): the diffusers
/ transformers models of black-forest-labs/FLUX.1-dev and FLUX.1-schnell built from their published configs, their
parameter counts and the MACs of one forward at batch 1 under torch.utils.flop_counter.FlopCounterMode (its
FLOPs / 2).

diffusers and torch must never be imported by accelsim or its tests, so this runs in an environment of its own
(no weights are downloaded: the models are built on the meta device from the config dicts below)::

    python3 -m venv /tmp/tv_flux && /tmp/tv_flux/bin/pip install torch==2.13.0 diffusers transformers sentencepiece
    /tmp/tv_flux/bin/python benchmarks/flux_reference.py

Recorded with torch 2.13.0+cpu, diffusers 0.42.1, transformers 5.25.0 (the numbers in tests/unit/test_flux.py).

What runs, as FluxPipeline.__call__ runs it at 1024×1024 (a 128×128×16 latent, packed 2×2 into 4096 tokens of 64):
the transformer on hidden_states (1, 4096, 64), encoder_hidden_states (1, 512, 4096) (the T5 states), pooled
projections (1, 768) (CLIP's pooled output), timestep (1,), guidance (1,) (dev only), txt_ids (512, 3) and img_ids
(4096, 3); the T5 encoder on 512 token ids (dev's max_sequence_length; schnell's model card uses 256); CLIP's text
model on 77 ids; the VAE's decode of a (1, 16, 128, 128) latent. The "_256" counts are schnell's prompt length.
"""

from __future__ import annotations

import json

import torch
from diffusers import AutoencoderKL, FluxTransformer2DModel
from sd_reference import _macs, _params  # the same counting as the SD reference (this folder)
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

FLUX_DEV = {  # black-forest-labs/FLUX.1-dev transformer/config.json (axes_dims_rope: the default [16, 56, 56])
    "attention_head_dim": 128, "guidance_embeds": True, "in_channels": 64, "joint_attention_dim": 4096,
    "num_attention_heads": 24, "num_layers": 19, "num_single_layers": 38, "patch_size": 1,
    "pooled_projection_dim": 768}
FLUX_SCHNELL = {**FLUX_DEV, "guidance_embeds": False}  # black-forest-labs/FLUX.1-schnell transformer/config.json
VAE = {  # black-forest-labs/FLUX.1-dev vae/config.json (FLUX.1-schnell's is the same)
    "act_fn": "silu", "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
    "force_upcast": True, "in_channels": 3, "latent_channels": 16, "latents_mean": None, "latents_std": None,
    "layers_per_block": 2, "mid_block_add_attention": True, "norm_num_groups": 32, "out_channels": 3,
    "sample_size": 1024, "scaling_factor": 0.3611, "shift_factor": 0.1159,
    "up_block_types": ["UpDecoderBlock2D"] * 4, "use_post_quant_conv": False, "use_quant_conv": False}
CLIP_L = {  # black-forest-labs/FLUX.1-dev text_encoder/config.json: openai/clip-vit-large-patch14's text tower
    "vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
    "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
    "projection_dim": 768}
T5_XXL = {  # black-forest-labs/FLUX.1-dev text_encoder_2/config.json: google/t5-v1_1-xxl as T5EncoderModel
    "vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_decoder_layers": 24,
    "num_heads": 64, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
    "dropout_rate": 0.1, "layer_norm_epsilon": 1e-6, "feed_forward_proj": "gated-gelu", "is_encoder_decoder": True,
    "tie_word_embeddings": False, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}


def _transformer(model: FluxTransformer2DModel, guidance: bool, image_tokens: int = 4096,
                 text_tokens: int = 512) -> int:
    return _macs(lambda: model(
        hidden_states=torch.zeros(1, image_tokens, 64), encoder_hidden_states=torch.zeros(1, text_tokens, 4096),
        pooled_projections=torch.zeros(1, 768), timestep=torch.ones(1),
        guidance=torch.full((1,), 3.5) if guidance else None,
        txt_ids=torch.zeros(text_tokens, 3), img_ids=torch.zeros(image_tokens, 3), return_dict=False))


def main() -> None:
    with torch.device("meta"):
        dev = FluxTransformer2DModel.from_config(FLUX_DEV)
        schnell = FluxTransformer2DModel.from_config(FLUX_SCHNELL)
        vae = AutoencoderKL.from_config(VAE)
        clip_l = CLIPTextModel(CLIPTextConfig(**CLIP_L))
        t5 = T5EncoderModel(T5Config(**T5_XXL))
        out = {
            "params": {
                "transformer_dev": _params(dev), "transformer_schnell": _params(schnell),
                "guidance_embedder": _params(dev.time_text_embed.guidance_embedder),
                "transformer_blocks_0": _params(dev.transformer_blocks[0]),
                "single_transformer_blocks_0": _params(dev.single_transformer_blocks[0]),
                "vae_decoder": _params(vae.decoder), "vae_post_quant_conv": vae.post_quant_conv is not None,
                "clip_l_text": _params(clip_l), "t5_xxl_encoder": _params(t5),
            },
            "macs": {
                "transformer_dev_1024": _transformer(dev, True),
                "transformer_schnell_1024_256": _transformer(schnell, False, text_tokens=256),
                "transformer_dev_512": _transformer(dev, True, image_tokens=1024),
                "vae_decoder_128": _macs(lambda: vae.decode(torch.zeros(1, 16, 128, 128))),
                "clip_l_text": _macs(lambda: clip_l(torch.zeros(1, 77, dtype=torch.long))),
                "t5_xxl_encoder_512": _macs(lambda: t5(torch.zeros(1, 512, dtype=torch.long))),
                "t5_xxl_encoder_256": _macs(lambda: t5(torch.zeros(1, 256, dtype=torch.long))),
            },
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
