"""benchmarks/library_dispatch.py: a library table's replayed GEMMs against the generic choice."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import library_dispatch  # noqa: E402


def test_ratios_and_report(tmp_path, monkeypatch, capsys):
    # 256 x 128 x 16384 fp8 on h100 under vLLM's table: 2 tiles of 128 x 128 over all of K, so 2 SMs each run
    # 8 folds x 8192 K-steps (tests/unit/test_gemm_library_dispatch.py) >= 35.8 us, where the generic choice splits
    # K over the SMs: the table's replay is the slower. The bf16 table is empty: every ratio is 1
    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps({"gemm": [[256, 128, 16384], [1, 4096, 4096]]}))
    monkeypatch.setattr(library_dispatch, "SHAPES", shapes)
    rows = dict((s, r) for r, s in library_dispatch.ratios("h100", "vllm", "fp8", 1))
    assert rows[(256, 128, 16384)] > 1.5
    assert all(r == 1.0 for r, _ in library_dispatch.ratios("h100", "vllm", "bf16", 1))
    assert library_dispatch.main(["--preset", "h100", "--jobs", "1", "--worst", "1"]) == 0
    out = capsys.readouterr().out
    assert "h100: vllm fp8 table / generic choice, 2 shapes" in out and "256x128x16384" in out
