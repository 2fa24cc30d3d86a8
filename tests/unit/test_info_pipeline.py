"""`accelsim info` on a diffusion pipeline: params, MACs and FLOPs are the whole pipeline's, as a run reports them (the
operator table stays one denoiser pass); `scope` says whether info's totals are a run's or one pass of a serving run."""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main

from .test_sd import PARAMS, VAE_DECODER_MACS_32


def test_info_gives_the_pipelines_params_and_each_parts(capsys):
    assert main(["info", "sd15", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # diffusers' counts of the four parts (tests/unit/test_sd.py: the text encoder, the UNet, the VAE decoder and,
    # since probe p251 #1 sd15's pipeline runs diffusers' safety checker after the VAE decoder, as StableDiffusionPipeline does by default (probe p251 #1), the safety checker)
    parts = {p: PARAMS[("sd15", p)] for p in ("text_encoder", "unet", "vae_decoder", "safety_checker")}
    assert out["params"] == sum(parts.values()) == 123_060_480 + 859_520_964 + 49_490_199 + 303_981_588
    assert {p["part"]: p["params"] for p in out["pipeline"]} == parts
    # (the parts' counts, 1 / 51 / 1: tests/integration/test_diffusion.py::test_info_names_the_pipeline)


def _info(capsys, *args: str) -> dict:
    assert main(["info", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_predicts_the_pipelines_macs_as_run_counts_them(tmp_path, capsys):
    """DiT-XL/2 with 3 steps: info's MACs and FLOPs are run's (the transformer 3 times, the VAE decoder once)."""
    out = _info(capsys, "dit_xl_2", "--set", "workload.steps=3")
    # by hand: Peebles & Xie 2023 Table 4, DiT-XL/2 at 256×256: 118.64 G multiply-adds a forward; guidance runs the
    # transformer on batch 2 (conditional + unconditional), 3 steps of it; then diffusers' vae.decode at a 32×32
    # latent, 311,093,641,216 MACs (tests/unit/test_sd.py VAE_DECODER_MACS_32)
    transformer, vae = out["pipeline"]
    assert (transformer["part"], transformer["count"], vae["part"], vae["count"]) == ("transformer", 3, "vae_decoder", 1)
    assert transformer["macs"] / 2 / 1e9 == pytest.approx(118.64, rel=1e-3)
    assert vae["macs"] == VAE_DECODER_MACS_32
    assert out["macs"] == 3 * transformer["macs"] + VAE_DECODER_MACS_32
    assert out["flops"] == 3 * transformer["flops"] + vae["flops"]
    assert out["scope"] == "run" and out["op_table_part"] == "transformer"
    assert sum(op["macs"] for op in out["op_table"]) == transformer["macs"]  # the table: one transformer pass
    # the real run: the same MACs, FLOPs and params
    assert main(["run", "--workload", "dit_xl_2", "--arch", "a100", "--set", "workload.steps=3", "-o",
                 str(tmp_path / "r"), "-q", "--no-plots"]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert (report["macs"], report["flops"], report["params"]) == (out["macs"], out["flops"], out["params"])
    # 7 more steps add 7 transformer passes
    assert _info(capsys, "dit_xl_2", "--set", "workload.steps=10")["macs"] == out["macs"] + 7 * transformer["macs"]


def test_info_names_its_scope(capsys):
    """A plain workload's and a diffusion pipeline's totals are what run reports ("run"); a serving workload's are one
    pass, the prefill or one decode step, of the several run executes ("pass")."""
    assert _info(capsys, "gpt2")["scope"] == "run"
    # (a 1,020-token prompt: with 4 steps its positions reach GPT-2's 1,024 learned ones, not past them)
    serving = _info(capsys, "gpt2", "--set", "workload.seq_len=1020", "--set", "workload.decode_steps=4")
    prefill = _info(capsys, "gpt2", "--set", "workload.seq_len=1020")
    assert serving["scope"] == "pass" and serving["macs"] == prefill["macs"]  # the prefill alone
    assert _info(capsys, "sd15")["scope"] == "run"


def test_info_names_the_workload_and_labels_the_tables_part(capsys):
    """The pipeline's totals carry the workload's name; the operator table is one part's graph, named apart, and its
    op count beside the pipeline's (the parts' op counts added, each part once)."""
    out = _info(capsys, "sd15")
    assert out["name"] == "sd15" and out["op_table_graph"] == "sd15_unet" and out["op_table_part"] == "unet"
    assert out["op_table_ops"] == len(out["op_table"])
    assert out["ops"] == sum(p["ops"] for p in out["pipeline"])
    unet = next(p for p in out["pipeline"] if p["part"] == "unet")
    assert out["op_table_ops"] == unet["ops"] < out["ops"]
    assert main(["info", "sd15"]) == 0
    text = capsys.readouterr().out
    assert f"the operators table lists the unet's {unet['ops']:,}, graph sd15_unet" in text
