"""Whisper's decode step holds the whole model: `info`'s params, weight bytes and operator rows agree, and a serving
run's HBM footprint holds the encoder's weights beside the decoder's."""

from __future__ import annotations

import json

from accelsim.cli import main

WHISPER_BASE_PARAMS = 72_593_920  # HF openai/whisper-base, sum(p.numel() for p in model.parameters())


def _info(capsys, *args: str) -> dict:
    assert main(["info", "whisper_base", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_rows_add_up_to_the_model(capsys):
    for phase in ("prefill", "decode"):
        out = _info(capsys, "--set", f"workload.phase={phase}", "--set", "workload.dtype=bf16")
        # the tied proj_out reads embed_tokens' table, counted once (on the embedding's row)
        assert out["params"] == sum(op["params"] for op in out["op_table"]) == WHISPER_BASE_PARAMS
        assert next(op for op in out["op_table"] if op["name"] == "proj_out")["params"] == 0
        assert out["weight_bytes"] == 2 * WHISPER_BASE_PARAMS  # bf16: 145,187,840
        assert "params_per_chip" not in out


def test_serving_footprint_holds_the_encoder(tmp_path, capsys):
    assert main(["run", "-w", "whisper_base", "-a", "a100", "--set", "workload.decode_steps=8", "--set",
                 "workload.seq_len=4", "--set", "workload.kv_len=4", "--no-plots", "-q", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    serving = json.loads((tmp_path / "report.json").read_text())["serving"]
    hbm = serving["memory"]["hbm"]
    assert hbm["weights"] == serving["weight_bytes"] == 2 * WHISPER_BASE_PARAMS
    # the caches after step 8: 6 layers, K and V, 512 wide, bf16, over 1500 cross and 4 + 8 self positions
    assert hbm["kv_cache"] == 6 * 2 * 512 * 2 * (1500 + 12)
