"""``accelsim info ARCH``: the vector unit's lanes and each unit's peak per compute dtype (with the dtype it runs as
where the arch lists no rate), what a null bandwidth means, and an arch file whose ``base:`` is unknown."""

from __future__ import annotations

import json
import math

from accelsim.cli import main


def _info(capsys, *argv: str) -> dict:
    assert main(["info", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_h100_shows_the_vector_lanes_and_every_dtypes_peak(capsys):
    info = _info(capsys, "h100")
    # arch/h100.yaml: 132 SMs at 1830 MHz; a 64 x 32 array (2048 MACs/clock) with rates fp8 2, tf32 0.5;
    # 512 vector lanes with rates fp16 1, fp32 0.5, fp64 0.25
    vector = next(u for u in info["units"] if u["name"] == "vector")
    assert vector["lanes"] == 512 and vector["macs_per_cycle"] == 0
    peaks = info["peak_flops_per_s_by_dtype"]
    cores_hz = 132 * 1.83e9
    assert math.isclose(peaks["systolic"]["bf16"]["flops_per_s"], 2 * 2048 * cores_hz)  # 989.4 TFLOPS
    assert math.isclose(peaks["systolic"]["fp8"]["flops_per_s"], 2 * 2048 * 2 * cores_hz)  # 1978.9
    assert math.isclose(peaks["systolic"]["tf32"]["flops_per_s"], 2 * 2048 * 0.5 * cores_hz)  # 494.7
    # fp4 has no rate on h100: the nearest wider float it lists, fp8 (docs/configuration.md, per-dtype rates)
    assert peaks["systolic"]["fp4"] == {"runs_as": "fp8", "flops_per_s": peaks["systolic"]["fp8"]["flops_per_s"]}
    assert math.isclose(peaks["vector"]["fp16"]["flops_per_s"], 512 * cores_hz)  # 123.7 TFLOPS at 1830 MHz
    assert math.isclose(peaks["vector"]["fp32"]["flops_per_s"], 512 * 0.5 * cores_hz)
    assert peaks["vector"]["fp8"]["runs_as"] == "fp16"


def test_fp8_on_an_a100_shows_the_bf16_rate(capsys):
    peaks = _info(capsys, "a100")["peak_flops_per_s_by_dtype"]["systolic"]
    assert peaks["fp8"]["runs_as"] == "bf16" and peaks["fp8"]["flops_per_s"] == peaks["bf16"]["flops_per_s"]


def test_the_table_gives_lanes_not_zero_macs_and_a_row_per_dtype(capsys):
    assert main(["info", "h100"]) == 0
    out = capsys.readouterr().out
    assert "0 MACs/cycle" not in out and "512 lanes per core" in out
    fp4 = next(line for line in out.splitlines() if line.strip("│┃ ").startswith("fp4 "))
    assert "(as fp8)" in fp4 and "(as fp16)" in fp4  # the systolic and vector columns


def test_a_level_without_bandwidth_is_null_with_a_note_saying_unbounded(capsys):
    info = _info(capsys, "mi210")  # arch/mi210.yaml: core.sram gives no bytes_per_cycle
    assert [lv["bandwidth"] for lv in info["levels"] if lv["name"] == "sram"] == [None]
    assert len(info["notes"]) == 1 and info["notes"][0].startswith("sram: bandwidth null = unbounded")
    assert "notes" not in _info(capsys, "h100")  # every level bounded


def test_an_arch_file_with_an_unknown_base_lists_the_arch_presets(tmp_path, capsys):
    (tmp_path / "nb.yaml").write_text("base: nonexist-arch\n")
    assert main(["info", str(tmp_path / "nb.yaml")]) == 2
    err = capsys.readouterr().err
    assert "base: unknown arch preset; valid names: a100," in err and "resnet50" not in err
    (tmp_path / "typo.yaml").write_text("base: tpu-v5\n")
    assert main(["info", str(tmp_path / "typo.yaml")]) == 2
    assert "unknown arch preset; did you mean 'tpu-v5p'?" in capsys.readouterr().err


def test_a_workload_file_with_an_unknown_base_still_lists_the_workloads(tmp_path, capsys):
    (tmp_path / "w.yaml").write_text("base: resnt50\n")  # close to a workload, to no arch preset
    assert main(["info", str(tmp_path / "w.yaml")]) == 2
    assert "base: unknown workload; did you mean 'resnet50'?" in capsys.readouterr().err
    (tmp_path / "w2.yaml").write_text("base: nonexist\nbatch: 4\n")  # batch is no arch key
    assert main(["info", str(tmp_path / "w2.yaml")]) == 2
    assert "base: unknown workload" in capsys.readouterr().err
