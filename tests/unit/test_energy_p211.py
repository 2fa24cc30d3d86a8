"""Probe p211 (energy and area on the accelerator presets): the unit ``mm2`` (#2), Stillmaker & Baas's 180 nm
area row (#3), ``info`` on an arch without energy constants (#5) and a scratchpad port that follows the array (#1)."""

from __future__ import annotations

import json

import pytest

from accelsim import config
from accelsim.cli import main
from accelsim.errors import AccelsimError


def _info(capsys, *argv: str) -> dict:
    assert main(["info", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# p211 #2: "mm2" is the unit SquareMm's message suggests ("expected a number of mm2 such as '1.5mm2'"), but the unit
# part of the quantity took no digits, so only "mm²" parsed
@pytest.mark.parametrize("text", ["1.5mm2", "1.5 mm2", "1.5mm²", "1.5MM2", "1.5", "0.15e1mm2"])
def test_mm2_reads_as_square_millimetres(capsys, text):
    info = _info(capsys, "tpu-v1", "--set", f"arch.host.area={text}")
    assert info["area"]["levels"]["host"] == pytest.approx(1.5, rel=1e-12)


def test_other_quantities_keep_their_units(tmp_path, capsys):
    # units with no digit still parse as before, and a unit that is not the key's is refused in one line
    assert config.load_arch("tpu-v1", ["energy.tdp=0.4kW"]).energy.tdp == pytest.approx(400.0)
    assert config.load_arch("tpu-v1", ["energy.node=28nm"]).energy.node == 28.0
    for bad in ("arch.host.area=0.5W", "arch.host.area=1.5mm3", "arch.energy.tdp=75W2"):
        with pytest.raises(AccelsimError, match="expected a number of"):
            config.load_arch("tpu-v1", [bad.removeprefix("arch.")])
    f = tmp_path / "a.yaml"
    f.write_text("base: tpu-v1\nenergy:\n  other_area: 150mm2\n")
    # tpu-v1's own other_area is replaced: the file's 150 mm² is what the area total adds beyond the units and levels
    info = _info(capsys, str(f))
    assert info["area"]["other_mm2"] == pytest.approx(150.0, rel=1e-12)
