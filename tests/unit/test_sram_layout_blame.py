"""A scratchpad given both a unified size and split ifmap/filter/ofmap sizes is refused at the key set last: a --set
of ``unified`` over a preset's split sizes (gemmini) names the --set and the preset's lines, not the preset's
``sram:`` line (probe p101 #7's left-over: ``accelsim run ... --set arch.core.sram.unified=1MiB`` on gemmini)."""

from __future__ import annotations

import re
from pathlib import Path

from accelsim.cli import main

ARCH = Path(__file__).resolve().parents[2] / "arch"


def _line(preset: str, key: str) -> int:
    text = (ARCH / f"{preset}.yaml").read_text().splitlines()
    return 1 + next(i for i, t in enumerate(text) if t.strip().startswith(f"{key}:"))


def test_a_set_unified_over_split_sizes_is_at_the_set(capsys, tmp_path):
    assert main(["run", "-w", "gemm", "-a", "gemmini", "--set", "arch.core.sram.unified=1MiB", "-q",
                 "-o", str(tmp_path / "o")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("accelsim: error: --set: arch.core.sram.unified: give either 'unified' or the split "
                           "'ifmap'/'filter'/'ofmap' sizes, not both (split ifmap, filter, ofmap given, "), line
    assert re.search(", ".join(rf"(?:\S*/)?arch/gemmini\.yaml:{_line('gemmini', k)}" for k in ("ifmap", "filter", "ofmap"))
                     + r"\)$", line), line
