"""DiT (accelsim.builders.dit): params and MACs against facebookresearch/DiT's models.py and the paper, diffusers'
layout explained, classifier-free guidance, the parts, the refusals, and a simulated step.

Every expected number is a published figure (cited), a reference count from the command named beside it, or a hand
calculation in a comment.
"""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from accelsim import simulate
from accelsim.builders.dit import DiTParams, dit, dit_parts
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind

ROOT = Path(__file__).resolve().parents[2]

SIZES = {  # models.py: DiT_S_2, DiT_B_2, DiT_L_2, DiT_XL_2 (depth, hidden_size, num_heads; patch_size 2)
    "S/2": {"depth": 12, "hidden": 384, "heads": 6},
    "B/2": {"depth": 12, "hidden": 768, "heads": 12},
    "L/2": {"depth": 24, "hidden": 1024, "heads": 16},
    "XL/2": {"depth": 28, "hidden": 1152, "heads": 16},
}

# Reference counts of facebookresearch/DiT models.py (its model classes; timm 1.0.31's PatchEmbed, Attention, Mlp)
# under torch 2.13.0 CPU in a scratch venv, each DiT_*_2(input_size=32) built inside `with torch.device("meta")`:
# trainable = sum(p.numel() for p in model.parameters() if p.requires_grad); all = the same without the condition (what
# DiT's train.py logs: the frozen sin-cos pos_embed, 256 × hidden, included); flops =
# torch.utils.flop_counter.FlopCounterMode(display=False) around one model(x, t, y) with x (1, 4, 32, 32), t (1,),
# y (1,): get_total_flops() (aten.convolution + aten.addmm + aten.bmm, 2 per multiply-add).
OFFICIAL = {  # (trainable, all, flops)
    "S/2": (32_865_056, 32_963_360, 12_111_347_712),
    "B/2": (130_315_808, 130_512_416, 46_010_204_160),
    "L/2": (457_840_672, 458_102_816, 161_395_245_056),
    "XL/2": (674_834_720, 675_129_632, 237_242_843_136),
}
# The same for diffusers 0.42.1's DiTTransformer2DModel(num_layers=28, attention_head_dim=72, num_attention_heads=16,
# in_channels=4, out_channels=8, patch_size=2, sample_size=32, num_embeds_ada_norm=1000, norm_type="ada_norm_zero")
# (the config of facebook/DiT-XL-2-256), forward(x, timestep=t, class_labels=y).
DIFFUSERS_XL = (749_826_464, 237_333_676_032)
# Peebles & Xie 2023 (arXiv:2212.09748), Table 4: params (M) and Gflops (multiply-adds) at 256×256
PAPER = {"S/2": (33, 6.06), "B/2": (130, 23.01), "L/2": (458, 80.71), "XL/2": (675, 118.64)}


def _dit(**params: object):
    return dit(DiTParams.model_validate(params).model_copy(update={"dtype": "bf16"}))


def _by_hand(depth: int, hidden: int, heads: int) -> int:
    """models.py's trainable parameters from its module shapes: x_embedder.proj (4·2·2·d + d), t_embedder.mlp
    (256·d + d, d·d + d), y_embedder (1001·d), per block qkv (3d² + 3d), proj (d² + d), fc1 / fc2 (4d² + 4d, 4d² + d),
    adaLN (6d² + 6d); final adaLN (2d² + 2d) and linear (d·2·2·8 + 32)."""
    d = hidden
    block = (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d) + (6 * d * d + 6 * d)
    embed = (16 * d + d) + (256 * d + d) + (d * d + d) + 1001 * d
    return depth * block + embed + (2 * d * d + 2 * d) + (d * 32 + 32)


@pytest.mark.parametrize("size", SIZES)
def test_params_and_macs_equal_the_official_models(size):
    g = _dit(**SIZES[size], guidance=False)
    trainable, everything, flops = OFFICIAL[size]
    assert g.params == trainable == _by_hand(**SIZES[size])
    assert everything - trainable == 256 * SIZES[size]["hidden"]  # the frozen pos_embed, a constant here
    assert g.macs == flops // 2  # FlopCounterMode counts 2 FLOPs per multiply-add
    # Table 4 rounds the trainable count (B/2: 130.32 M → 130M, where 130.51 M with pos_embed would give 131M)
    assert round(trainable / 1e6) == PAPER[size][0]
    assert g.macs / 1e9 == pytest.approx(PAPER[size][1], rel=1e-3)


def test_512_macs_match_the_paper():
    # DiT-XL/2 at 512×512: a 64×64 latent, 1024 tokens; the paper's 512×512 comparison (Table 3): 524.6 Gflops
    g = _dit(image_size=512, guidance=False)
    assert g.macs / 1e9 == pytest.approx(524.6, rel=1e-3)
    assert g.params == OFFICIAL["XL/2"][0]  # the same weights: only the (constant) position table grows


def test_diffusers_count_differs_by_its_per_block_embedders():
    # diffusers' DiTTransformer2DModel keeps pos_embed as a buffer (not a parameter) and gives each of the 28 blocks'
    # AdaLayerNormZero its own timestep MLP and label table (27 more than models.py's one), running them in every
    # block and once more for the final layer (28 more timestep MLPs than models.py)
    d = 1152
    embedders = (256 * d + d) + (d * d + d) + 1001 * d
    timestep_macs = 256 * d + d * d
    official_params, _, official_flops = OFFICIAL["XL/2"]
    assert DIFFUSERS_XL[0] == official_params + 27 * embedders
    assert DIFFUSERS_XL[1] == official_flops + 2 * 28 * timestep_macs
    assert _dit(guidance=False).params == official_params != DIFFUSERS_XL[0]


def test_structure_follows_models_py():
    g = _dit(guidance=False)
    assert g.inputs == {"input": (1, 4, 32, 32), "timestep": (1,), "class_labels": (1,)}
    assert g["x_embedder.proj"].attrs["stride"] == (2, 2) and g["x_embedder.proj"].out_shape == (1, 1152, 16, 16)
    assert g["y_embedder.embedding_table"].weights[0].shape == (1001, 1152)  # 1000 classes + the null class
    assert g["blocks.27.adaLN_modulation.1"].out_shape == (1, 6 * 1152)
    assert g["blocks.0.norm1"].weights == ()  # LayerNorm(elementwise_affine=False)
    assert g["add_pos_embed"].weights == () and g["add_pos_embed"].attrs["positions"] == "sinusoidal"
    assert g["blocks.0.attn.qkv"].out_shape == (1, 256, 3 * 1152)
    assert g["blocks.0.mlp.fc1"].out_shape == (1, 256, 4608)
    assert g["final_layer.linear"].out_shape == (1, 256, 2 * 2 * 8)  # learn_sigma: 8 output channels
    assert g.ops[-1].name == "unpatchify" and g.ops[-1].out_shape == (1, 8, 32, 32)
    assert all(op.dtype == "bf16" for op in g.ops)
    # learn_sigma off: 4 output channels, the final linear 1152·16 + 16 instead of 1152·32 + 32
    assert _dit(guidance=False).params - _dit(guidance=False, learn_sigma=False).params == 1152 * 16 + 16


def test_guidance_runs_the_dit_on_twice_the_batch():
    plain, guided = _dit(batch=3, guidance=False), _dit(batch=3)
    assert guided.inputs["input"] == (6, 4, 32, 32) and plain.inputs["input"] == (3, 4, 32, 32)
    assert guided.macs == 2 * plain.macs and guided.params == plain.params
    # ε_u + s·(ε_c − ε_u) on the (3, 4, 32, 32) noise halves: 3 flops an element, as forward_with_cfg's three
    # eager kernels (probe p230 #2: one op before) cond_eps - uncond_eps, cfg_scale * (...), uncond_eps + (...)
    combine = [guided[name] for name in ("cfg_sub", "cfg_scale", "cfg_combine")]
    assert [op.fn for op in combine] == ["sub", "mul", "add"]
    assert all(op.kind == OpKind.ELEMENTWISE and op.out_shape == (3, 4, 32, 32) for op in combine)
    assert sum(op.flops for op in combine) == 3 * 3 * 4 * 32 * 32
    # forward_with_cfg's three torch.cat copies: the latents' first half twice (its input), half_eps twice, and the
    # noise with the variance channels (learn_sigma) again
    assert guided["cfg_concat"].out_shape == (6, 4, 32, 32) and guided["x_embedder.proj"].inputs == ("cfg_concat",)
    assert guided["cfg_eps_cat"].out_shape == (6, 4, 32, 32)
    assert guided["cfg_out_cat"].out_shape == (6, 8, 32, 32) and guided.ops[-1].name == "cfg_out_cat"
    assert not {"cfg_concat", "cfg_sub", "cfg_combine", "cfg_out_cat"} & {op.name for op in plain}


def test_timestep_embedding_and_unpatchify_run_as_models_py_eager_kernels():
    """Probe p230 #2: models.py's TimestepEmbedder.timestep_embedding is, on the device, t[:, None].float(), the
    multiply by the host-built freqs, cos, sin and torch.cat (five kernels, one op before); unpatchify's
    reshape of einsum('nhwpqc->nchpwq', x) (a permuted view) copies (a view before)."""
    g = _dit(guidance=False)
    names = ["t_embedder.timestep_float", "t_embedder.args", "t_embedder.cos", "t_embedder.sin",
             "t_embedder.timestep_embedding"]
    assert [g[n].fn for n in names] == ["cast", "mul", "cos", "sin", "cat"]
    assert [g[n].out_shape for n in names] == [(1, 1), (1, 128), (1, 128), (1, 128), (1, 256)]  # dim 256, half 128
    assert [g[n].flops for n in names] == [0, 128, 4 * 128, 4 * 128, 0]  # a multiply, cos and sin as tanh (4)
    assert g["t_embedder.mlp.0"].inputs == ("t_embedder.timestep_embedding",)
    copy = g["unpatchify"]
    assert (copy.kind, copy.fn, copy.out_shape, copy.attrs["eager_copy"]) == (OpKind.ELEMENTWISE, "copy",
                                                                             (1, 8, 32, 32), True)


def test_modulate_runs_as_models_py_three_eager_kernels():
    """Probe p230 #2: models.py's ``modulate(x, shift, scale) = x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)``
    is three kernels in eager PyTorch (``1 + scale`` on the (N, C) chunk, the broadcast multiply, the broadcast add);
    the graph had one op per modulate, 114 launches a forward short of the reference."""
    g = _dit(guidance=False)
    one = g["blocks.0.modulate_msa.scale_plus_one"]  # 1 + scale: (1, 1, 1152), one flop an element
    assert (one.fn, one.inputs, one.out_shape, one.flops) == ("add", ("blocks.0.scale_msa",), (1, 1, 1152), 1152)
    mul = g["blocks.0.modulate_msa.mul"]  # x (1, 256, 1152) · (1 + scale), broadcast over the 256 tokens
    assert mul.inputs == ("blocks.0.norm1", one.name) and mul.out_shape == (1, 256, 1152)
    assert (mul.fn, mul.flops) == ("mul", 256 * 1152)
    out = g["blocks.0.modulate_msa"]  # + shift: the name the attention reads
    assert (out.fn, out.inputs, out.flops) == ("add", (mul.name, "blocks.0.shift_msa"), 256 * 1152)
    # 2 modulates a block × 28 + the final layer's = 57, each three ops
    assert sum(op.name.endswith(".scale_plus_one") for op in g) == 57
    fused = _dit(guidance=False, modulate_kernel="fused")
    assert fused["blocks.0.modulate_msa"].fn == "modulate"
    assert len(g.ops) - len(fused.ops) == 2 * 57
    assert sum(op.flops for op in g) == sum(op.flops for op in fused)  # the same arithmetic: 2·x + 1·scale
    assert (g.params, g.macs) == (fused.params, fused.macs)


def test_the_eager_modulates_cost_their_launches_on_h100():
    """DiT-XL/2's step on h100 is bound by the host's launches (475.7 GFLOP, 0.48 ms at peak, against ~460 launches
    of h100.yaml's kernel_launch 21 µs), so the 114 launches models.py's eager modulates add (57 × 2 more kernels)
    add 114 × 21 µs = 2.394 ms to the step."""
    eager = simulate(_dit(), "h100").to_dict()["seconds"]
    fused = simulate(_dit(modulate_kernel="fused"), "h100").to_dict()["seconds"]
    assert eager - fused == pytest.approx(114 * 21e-6, rel=1e-3)


def test_fused_attention_has_the_same_params_and_macs():
    unfused, fused = _dit(attention="unfused"), _dit()  # fused by default: timm's Attention calls SDPA
    assert (fused.params, fused.macs) == (unfused.params, unfused.macs)
    assert sum(op.kind == OpKind.ATTENTION for op in fused) == 28
    assert not any(op.kind == OpKind.ATTENTION for op in unfused)


def test_parts_and_the_vae_decoder():
    p = DiTParams()
    assert (p.part, p.steps, p.guidance) == ("pipeline", 250, True)  # the paper samples with 250 DDPM steps
    assert dit_parts(p) == [("transformer", 250), ("vae_decoder", 1)]
    assert dit_parts(DiTParams(steps=50)) == [("transformer", 50), ("vae_decoder", 1)]
    assert _dit(part="transformer").macs == _dit(part="pipeline").macs
    # Stable Diffusion's VAE decoder on one 32×32 latent (a 256×256 image): diffusers' AutoencoderKL
    # (post_quant_conv + decoder) 49,490,199 params and 311,093,641,216 MACs (FlopCounterMode / 2,
    # benchmarks/sd_reference.py; tests/unit/test_sd.py checks the same numbers)
    vae = _dit(part="vae_decoder")
    assert (vae.params, vae.macs) == (49_490_199, 311_093_641_216)


@pytest.mark.parametrize(("params", "message"), [
    ({"mlp_ratio": 0}, "mlp_ratio"),
    ({"part": "vae"}, "part"),
])
def test_bad_params_are_refused(params, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        DiTParams.model_validate(params)


def test_steps_stop_at_the_thousand_training_timesteps():
    """Probe p284 #2: steps 1001 was accepted. DiT's create_diffusion respaces diffusion_steps=1000 training
    timesteps (facebookresearch/DiT diffusion/__init__.py, 50142678) with space_timesteps(1000, str(steps)), which
    raises "cannot divide section of 1000 steps into 1001" where the one section's size 1000 < 1001
    (diffusion/respace.py, 29e4fa6c)."""
    with pytest.raises(pydantic.ValidationError, match="at most 1000") as info:
        DiTParams.model_validate({"steps": 1001})
    assert info.value.errors()[0]["loc"] == ("steps",)
    # 1000 runs: one denoiser call per step on 2 latents (guidance) plus the VAE decoder once, by dit_parts
    assert dit_parts(DiTParams(steps=1000)) == [("transformer", 1000), ("vae_decoder", 1)]


@pytest.mark.parametrize("size", [128, 248, 264, 272, 1024])
def test_image_sizes_other_than_the_checkpoints_are_refused(size):
    """Probe p284 #2: 128 and 272 were accepted. DiT's sample.py and train.py take --image-size with
    choices=[256, 512] and sample.py asserts args.image_size in [256, 512] (facebookresearch/DiT sample.py, 58fe9c28):
    the released DiT-XL-2-256x256.pt / -512x512.pt checkpoints, whose pos_embed has (256/8/2)² = 256 or
    (512/8/2)² = 1024 rows, so any other size fails load_state_dict."""
    with pytest.raises(pydantic.ValidationError, match="256 or 512") as info:
        DiTParams.model_validate({"image_size": size})
    assert info.value.errors()[0]["loc"] == ("image_size",)


def test_a_refused_step_count_is_one_line_at_its_key_with_status_2(tmp_path, capsys):
    from accelsim.cli import main

    exp = tmp_path / "e.yaml"
    exp.write_text("workload:\n  model: dit_xl_2\n  steps: 1001\narch: h100\n")
    assert main(["run", str(exp), "-q", "--no-plots", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{exp}:3: workload.steps: must be at most 1000" in err


@pytest.mark.parametrize(("params", "key", "message"), [
    ({"hidden": 1152, "heads": 10}, ("heads",), "heads"),
    ({"patch": 3}, ("patch",), "multiple of patch"),  # a 32×32 latent (256 / 8) does not split into 3×3 patches
    ({"mode": "training"}, ("part",), "part: transformer"),
    ({"mode": "training", "part": "transformer"}, ("guidance",), "guidance: false"),
])
def test_bad_shapes_name_their_parameter(params, key, message):
    """Raised building the graph, at the parameter's own line (WorkloadError.key)."""
    with pytest.raises(WorkloadError, match=message) as info:
        _dit(**params)
    assert info.value.key == key


def test_the_preset_writes_out_the_defaults():
    data = yaml.safe_load((ROOT / "workloads" / "dit_xl_2.yaml").read_text())
    assert data.pop("model") == "dit_xl_2"
    assert DiTParams.model_validate(data) == DiTParams()


def test_a_step_simulates_on_h100():
    report = simulate(_dit(), "h100")
    assert report.seconds > 0
    assert report.to_dict()["macs"] == 2 * OFFICIAL["XL/2"][2] // 2  # batch 1 with guidance: two latents


def test_training_a_preset_pipeline_is_blamed_on_the_mode_set_last(tmp_path, capsys):
    """Probe p64 #4: ``--mode training`` on dit_xl_2 named the installed preset's ``part:`` line. The refusal lies in
    part and mode both (WorkloadError.also); the one set last is named: the command line's --mode over a preset's
    line, a user's file's part over its mode on a tie (the check's own key)."""
    from accelsim.cli import main

    assert main(["run", "-w", "dit_xl_2", "-a", "h100", "--mode", "training", "-q", "--no-plots",
                 "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("accelsim: error: --mode: workload.mode: training a DiT"), err
    spec = tmp_path / "e.yaml"
    spec.write_text("name: e\nworkload:\n  model: dit_xl_2\n  mode: training\n  part: pipeline\narch: h100\n")
    assert main(["run", str(spec), "-q", "--no-plots", "-o", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "e.yaml:5: workload.part: training a DiT" in err, err
