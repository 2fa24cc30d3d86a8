"""Probe p153 #1: ``--set SECTION.base=X`` says that ``base`` is written only in a file or an inline mapping
(docs/configuration.md), not "did you mean 'phase'?" (a key serve refuses on the command line anyway)."""

from __future__ import annotations

import pytest

from accelsim.cli import main
from accelsim.config.load import load_arch
from accelsim.errors import ConfigError


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


BASE = ("base can be written only in a file or an inline mapping (it is merged under the {s} before {f} applies); "
        "{f} a key of the {s} itself, or {s}={{base: ..., ...}} to give the whole mapping (got {v!r})")


def test_set_model_base_in_serve_says_base_is_written_in_a_file(tmp_path, capsys):
    # before: "model.base: Extra inputs are not permitted; did you mean 'phase'? (got 'llama3_8b')"
    assert main(["serve", "llama2_7b_h100", "-o", str(tmp_path / "o"), "--set", "model.base=llama3_8b"]) == 2
    lines = _err_lines(capsys)
    assert lines == ["accelsim: error: --set: model.base: " + BASE.format(s="model", f="--set", v="llama3_8b")]
    assert "phase" not in lines[0]
    assert main(["serve", "llama2_7b_h100", "-o", str(tmp_path / "o"), "--sweep", "model.base=llama3_8b,qwen2_7b"]) \
        == 2
    assert _err_lines(capsys)[0] == ("accelsim: error: --sweep: model.base: "
                                     + BASE.format(s="model", f="--sweep", v="llama3_8b"))


@pytest.mark.parametrize(("key", "value"), [("workload.base", "qwen2_7b"), ("arch.base", "a100")])
def test_set_base_in_run_says_base_is_written_in_a_file(tmp_path, capsys, key, value):
    # before: workload.base on llama3_8b read "... did you mean 'phase'?"; arch.base "Extra inputs are not permitted"
    assert main(["run", "-w", "llama3_8b", "-a", "h100", "-q", "-o", str(tmp_path / "o"), "--set",
                 f"{key}={value}"]) == 2
    section = key.split(".")[0]
    assert _err_lines(capsys) == [f"accelsim: error: --set: {key}: " + BASE.format(s=section, f="--set", v=value)]


def test_base_in_an_inline_mapping_still_works():
    # the form the error points to: a100's preset clock is 1410 MHz (its spec sheet's boost), changed to 1.5 GHz
    assert load_arch({"base": "a100", "clock": "1.5GHz"}).clock == 1.5e9
    with pytest.raises(ConfigError, match="base can be written only in a file"):
        load_arch("h100", ["arch.base=a100"])
