"""Comparing reports: loading and labelling folders, the metrics and their ratios to the baseline, table and JSON.

Three real reports from the report builder: LeNet-5 on gemmini at batch 1 and batch 2 (same chip, twice the work:
MACs and FLOPs double exactly, the parameters stay), and a 1024³ GEMM on the a100 preset (an L2 and a host level
LeNet's chip lacks). Every expected ratio is worked out in the test from those facts or from the reports' values.
"""

from __future__ import annotations

import copy
import json

import pytest
from rich.console import Console

import accelsim
from accelsim import simulate
from accelsim.config import load_workload
from accelsim.errors import AccelsimError
from accelsim.report.compare import (
    compare_json,
    compare_rows,
    compare_table,
    differing_settings,
    format_ratio,
    format_setting,
    format_value,
    load_reports,
    settable_key,
)
from accelsim.report.writers import write_json

LENET_MACS = 117_600 + 240_000 + 48_000 + 10_080 + 840  # tests/unit/test_report_output.py counts them


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    return {"b1": simulate("lenet5", "gemmini").to_dict(),
            "b2": simulate(load_workload("lenet5", ["batch=2"]), "gemmini").to_dict(),
            "gemm": simulate("gemm", "a100").to_dict()}


@pytest.fixture
def reports(runs):
    return [("b1", runs["b1"]), ("b2", runs["b2"]), ("gemm", runs["gemm"])]


def _stall_share(rep: dict) -> float:
    """Stall over stall + compute cycles, both summed over an op's units (``stall_cycles`` are, and
    ``mapping.work_cycles`` where an op ran on several units, e.g. the a100's 108 SMs)."""
    stall = sum(op["stall_cycles"] for op in rep["ops"])
    return stall / (stall + sum(op["mapping"].get("work_cycles", op["compute_cycles"]) for op in rep["ops"]))


# Two op rows written out by hand, for the stall share. ``gpu``: a GEMM on 132 lock-step SMs, 100 cycles on the
# busiest SM, 13,200 SM-cycles of work and 1,320 SM-cycles of stall (10 per SM). ``composed``: a row of a serving
# report standing for 4 executions on one unit, 50 compute cycles each (per execution) and 200 stall cycles in all.
_GPU_OP = {"name": "gpu", "compute_cycles": 100, "stall_cycles": 1_320, "mapping": {"work_cycles": 13_200}}
_COMPOSED_OP = {"name": "composed", "count": 4, "compute_cycles": 50, "stall_cycles": 200, "mapping": {}}


def test_stall_share_counts_every_unit_and_execution():
    from accelsim.report.schema import stall_share
    # 1,320 / (1,320 + 13,200) = 1/11, not 1,320 / (1,320 + 100) (stalls of 132 SMs over one SM's compute)
    assert stall_share([_GPU_OP]) == pytest.approx(1 / 11)
    # 200 / (200 + 4 × 50) = 1/2, not 200 / (200 + 50) (the stalls of 4 executions over one's compute)
    assert stall_share([_COMPOSED_OP]) == pytest.approx(0.5)
    assert stall_share([_GPU_OP, _COMPOSED_OP]) == pytest.approx((1_320 + 200) / (1_320 + 13_200 + 200 + 200))
    assert stall_share([{"compute_cycles": 0, "stall_cycles": 0}]) is None
    rows = dict(compare_rows([("r", {"ops": [_GPU_OP, _COMPOSED_OP]})]))
    assert rows["stall_share"] == [pytest.approx(1_520 / 14_920)]


def test_rows_and_ratios_by_hand(reports, runs):
    rows = dict(compare_rows(reports))
    assert list(rows)[:11] == ["workload", "arch", "total_cycles", "seconds", "macs", "flops", "params",
                               "mac_utilization", "max_compute_utilization", "stall_cycles", "stall_share"]
    per_level = list(rows)[11:]
    # a row per memory level of any report: busy fractions of the levels with a bandwidth server (gemmini's DRAM;
    # the a100's L2, HBM and host link), then bytes of every level, gemmini's (innermost first) before the a100's
    assert {m for m in per_level if m.startswith("utilization.")} == {"utilization.hbm", "utilization.host",
                                                                      "utilization.l2"}
    assert {m for m in per_level if m.startswith("bytes.")} == {"bytes.sram", "bytes.hbm", "bytes.host", "bytes.l2"}
    assert per_level.index("bytes.sram") < per_level.index("bytes.hbm")
    assert "hbm_utilization" not in rows  # no level is named by the code
    b1, b2, gemm = runs["b1"], runs["b2"], runs["gemm"]
    assert rows["macs"] == [LENET_MACS, 2 * LENET_MACS, 1024**3]
    assert rows["arch"] == ["gemmini", "gemmini", "a100"]
    assert rows["utilization.hbm"] == [b1["utilization"]["hbm"], b2["utilization"]["hbm"], gemm["utilization"]["hbm"]]
    assert rows["utilization.l2"][:2] == [None, None] and rows["bytes.l2"][:2] == [None, None]  # no L2 on gemmini
    assert rows["stall_share"] == [pytest.approx(_stall_share(r)) for r in (b1, b2, gemm)]
    # the busiest core unit: the a100's launch unit (the host, 21 µs per kernel) is not a compute unit
    assert rows["max_compute_utilization"][2] == max(v for u, v in gemm["utilization"].items() if u.startswith("core"))

    data = compare_json(reports)
    assert data["labels"] == ["b1", "b2", "gemm"] and data["baseline"] == "b1"
    assert data["metrics"]["macs"] == {"b1": LENET_MACS, "b2": 2 * LENET_MACS, "gemm": 1024**3}
    r = data["ratios"]
    assert r["macs"]["b2"] == 2.0 and r["params"]["b2"] == 1.0  # twice the batch: twice the MACs, same weights
    assert r["flops"]["b2"] == 2.0
    assert r["total_cycles"] == {"b1": 1.0, "b2": pytest.approx(b2["total_cycles"] / b1["total_cycles"]),
                                 "gemm": pytest.approx(gemm["total_cycles"] / b1["total_cycles"])}
    assert r["bytes.hbm"]["gemm"] == pytest.approx(gemm["bytes"]["hbm"] / b1["bytes"]["hbm"])
    assert r["bytes.l2"] == {"b1": None, "b2": None, "gemm": None}  # no baseline value
    assert "workload" not in r and "arch" not in r  # text metrics have no ratio
    json.dumps(data)  # JSON-ready

    other = compare_json(reports, baseline=1)
    assert other["baseline"] == "b2" and other["ratios"]["macs"]["b1"] == 0.5


def test_format_ratio():
    assert [format_ratio(x) for x in (0.25, 0.52, 1.0, 12.34, 0.0224, 1234.5, None)] == [
        "0.25×", "0.52×", "1.00×", "12.3×", "0.0224×", "1,234×", "\u2014"]


def test_table_renders_labels_values_and_ratios(reports, runs):
    console = Console(record=True, width=200)
    console.print(compare_table(reports))
    text = console.export_text()
    header = next(line for line in text.splitlines() if "metric" in line)
    assert "b1" in header and "b2" in header and "gemm" in header and "ratio" in header
    line = next(line for line in text.splitlines() if "total cycles" in line)
    assert f"{runs['b1']['total_cycles']:,}" in line and f"{runs['b2']['total_cycles']:,}" in line
    macs = next(line for line in text.splitlines() if "MACs" in line)
    # counts below a million in full, above in SI form with 4 digits: 1024³ = 1,073,741,824 → 1.074 G
    assert "416,520" in macs and "833,040" in macs and "2.00×" in macs and "1.074 G" in macs
    host = next(line for line in text.splitlines() if "bytes host" in line)
    assert host.count("\u2014") == 4  # b1 and b2 have no host level: no value, no ratio
    zero_base = copy.deepcopy(runs["b1"])
    zero_base["stall_cycles"] = 0  # edited: a baseline with no stalls
    console = Console(record=True, width=200)
    console.print(compare_table([("a", zero_base), ("b", runs["b2"])]))
    stall = next(line for line in console.export_text().splitlines() if "stall cycles" in line)
    assert "\u2014" in stall  # a baseline of 0 has no ratio
    single = Console(record=True, width=200)
    single.print(compare_table([("only", runs["b1"])]))
    assert "only" in single.export_text() and "ratio" not in single.export_text()


def test_load_reports_labels_and_paths(tmp_path, runs):
    for folder, rep in (("x/run", runs["b1"]), ("y/run", runs["b2"]), ("solo", runs["gemm"])):
        write_json(rep, tmp_path / folder / "report.json")
    loaded = load_reports([tmp_path / "x" / "run", tmp_path / "y" / "run" / "report.json", tmp_path / "solo",
                           tmp_path / "solo"])
    assert [label for label, _ in loaded] == ["x/run", "y/run", "solo", "solo (2)"]
    assert loaded[1][1]["macs"] == 2 * LENET_MACS
    assert [label for label, _ in load_reports([tmp_path / "solo"])] == ["solo"]


def test_load_reports_errors_are_one_line(tmp_path, runs):
    write_json(runs["b1"], tmp_path / "ok" / "report.json")
    missing = tmp_path / "missing"
    with pytest.raises(AccelsimError) as e:
        load_reports([tmp_path / "ok", missing])
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{missing}: no report.json")
    (tmp_path / "sweep").mkdir()  # what `accelsim sweep -o sweep` writes: no report.json of its own
    (tmp_path / "sweep" / "sweep.json").write_text("{}")
    with pytest.raises(AccelsimError) as e:
        load_reports([tmp_path / "sweep"])
    assert str(e.value) == (f"{tmp_path / 'sweep'}: a sweep folder, not a report: its points are in results.csv "
                            f"('accelsim plot {tmp_path / 'sweep'}' draws them)")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text("{not json")
    with pytest.raises(AccelsimError, match="not valid JSON"):
        load_reports([tmp_path / "bad"])
    with pytest.raises(AccelsimError, match="no reports"):
        load_reports([])
    with pytest.raises(AccelsimError, match="out of range"):
        compare_table([("a", runs["b1"])], baseline=3)


def _serving(rate: float, ttft_p50: float, preemptions: int) -> dict:
    """A hand-written report of `accelsim serve` (kind: serving, its figures under ``serving``)."""
    return {"kind": "serving", "name": "s", "model": {"model": "llama2_7b", "params": {}}, "arch": "h100",
            "serving": {"requests_per_s": rate, "output_tokens_per_s": 248 * rate,
                        "ttft_s": {"mean": ttft_p50, "p50": ttft_p50, "p90": 2 * ttft_p50, "p99": 3 * ttft_p50},
                        "tpot_s": {"p50": 0.01, "p99": 0.02}, "e2e_s": {"p50": 2.5},
                        "goodput": {"fraction": 0.5}, "kv_cache_utilization": {"mean": 0.1, "max": 0.25},
                        "preemptions": preemptions}}


def test_serving_reports_compare_their_serving_metrics(runs):
    # two servers: the second serves 4 requests/s at twice the TTFT of the first's 8 requests/s
    fast, slow = _serving(8.0, 0.02, 0), _serving(4.0, 0.04, 3)
    rows = dict(compare_rows([("fast", fast), ("slow", slow)]))
    assert rows["workload"] == ["llama2_7b", "llama2_7b"] and rows["arch"] == ["h100", "h100"]
    assert rows["serving.requests_per_s"] == [8.0, 4.0]
    assert rows["serving.output_tokens_per_s"] == [248 * 8.0, 248 * 4.0]
    assert rows["serving.ttft_s.p99"] == [pytest.approx(0.06), pytest.approx(0.12)]  # 3 × p50
    assert rows["serving.kv_cache_utilization.max"] == [0.25, 0.25]
    assert rows["serving.preemptions"] == [0, 3]
    assert "total_cycles" not in rows and "bytes.hbm" not in rows  # no accelerator figure in a serving report
    data = compare_json([("fast", fast), ("slow", slow)])
    assert data["ratios"]["serving.requests_per_s"]["slow"] == 0.5
    assert data["ratios"]["serving.ttft_s.p50"]["slow"] == pytest.approx(2.0)
    console = Console(record=True, width=200)
    console.print(compare_table([("fast", fast), ("slow", slow)]))
    ttft = next(line for line in console.export_text().splitlines() if "TTFT p50" in line)
    assert "20ms" in ttft and "40ms" in ttft and "2.00×" in ttft
    # a run report beside a serving one keeps its accelerator rows; each lacks the other's (None)
    mixed = dict(compare_rows([("run", runs["b1"]), ("fast", fast)]))
    assert mixed["macs"] == [LENET_MACS, None] and mixed["serving.requests_per_s"] == [None, 8.0]
    # energy and average power are rows of both kinds of report: listed once (they were printed twice)
    keys = [k for k, _ in compare_rows([("run", runs["b1"]), ("fast", fast)])]
    assert len(keys) == len(set(keys))
    assert keys.count("energy.total_j") == 1 and keys.count("power.average_w") == 1


def test_serving_reports_compare_their_energy():
    # the energy rows of an `accelsim serve` report (docs/serving.md, "Energy"); null without energy constants
    one, two = _serving(8.0, 0.02, 0), _serving(4.0, 0.04, 0)
    one.update(energy={"total_j": 1000.0}, power={"average_w": 500.0}, efficiency={"j_per_output_token": 0.25})
    two.update(energy=None, power=None, efficiency=None)
    rows = dict(compare_rows([("one", one), ("two", two)]))
    assert rows["energy.total_j"] == [1000.0, None]
    assert rows["power.average_w"] == [500.0, None]
    assert rows["efficiency.j_per_output_token"] == [0.25, None]


def test_runs_with_decode_steps_compare_their_ttft_tpot_and_tokens_per_s(runs):
    # GPT-2 serving on two presets: a 64-token prompt, then 3 decode steps; TPOT is the run's mean decode step
    # (tests/integration/test_serving.py checks it against the step cycles), so the rows are those figures
    a100, h100 = (simulate(load_workload("gpt2", ["seq_len=64", "decode_steps=3"]), arch).to_dict()
                  for arch in ("a100", "h100"))
    rows = compare_rows([("a100", a100), ("h100", h100), ("lenet", runs["b1"])])
    keys = [k for k, _ in rows]
    assert keys[keys.index("seconds") + 1: keys.index("seconds") + 4] == [
        "serving.ttft_s", "serving.tpot_s", "serving.tokens_per_s"]
    got = dict(rows)
    for key in ("ttft_s", "tpot_s", "tokens_per_s"):
        assert got[f"serving.{key}"] == [a100["serving"][key], h100["serving"][key], None]  # LeNet has no decode
    assert compare_json([("a100", a100), ("h100", h100)])["ratios"]["serving.tpot_s"]["h100"] == \
        pytest.approx(h100["serving"]["tpot_s"] / a100["serving"]["tpot_s"])
    assert "serving.tpot_s" not in dict(compare_rows([("b1", runs["b1"]), ("b2", runs["b2"])]))


def test_the_settings_two_runs_differ_in_are_listed_below_the_arch(runs):
    # b1 and b2 are LeNet-5 on gemmini at batch 1 and 2 (the fixture): the batch is all they differ in
    assert differing_settings([("b1", runs["b1"]), ("b2", runs["b2"])]) == [("workload.batch", [1, 2])]
    # the same GEMM with the a100's HBM bandwidth changed by --set: that one arch field, in its unit
    wide = simulate("gemm", {"base": "a100", "hbm": {"bandwidth": "4TB/s"}}).to_dict()
    pair = [("gemm", runs["gemm"]), ("wide", wide)]
    assert differing_settings(pair) == [("arch.hbm.bandwidth", [2.039e12, 4e12])]  # a100: 2,039 GB/s; --set's key
    console = Console(record=True, width=200)
    console.print(compare_table(pair))
    lines = console.export_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "arch.hbm.bandwidth" in line)
    assert "arch" in lines[at - 1] and "2.039TB/s" in lines[at] and "4TB/s" in lines[at]
    # different workloads and arches: the arch fields that differ are listed whatever the names (gemmini: 16x16 WS
    # at 1 GHz, one core; a100: 108 SMs at 1,410 MHz), of the workloads only the keys both have (dtype: gemmini's
    # int8, a100's bf16), not a builder's own parameters (lenet5's image_size, gemm's m); and the launch mode
    other = dict(differing_settings([("b1", runs["b1"]), ("gemm", runs["gemm"])]))
    assert other["arch.clock"] == [1e9, 1.41e9] and other["arch.cores"] == [1, 108]
    assert other["arch.core.systolic.rows"] == [16, 32] and other["workload.dtype"] == ["int8", "bf16"]
    assert other["execution"] == ["none", "eager"] and other["kernel_order"] == ["none", "stream"]
    assert not [k for k in other if k.startswith("workload.") and k != "workload.dtype"]
    assert compare_json(pair)["settings"] == {"arch.hbm.bandwidth": {"gemm": 2.039e12, "wide": 4e12}}


def test_a_workload_parameter_left_at_its_default_reads_default_not_a_dash(runs):
    # probe p151 #5: sdxl's image_size left null (its default, 1024) read "—" beside FLUX's 1,024, as if the run had
    # none. Here b1's lenet5 params given image_size null (left at the default) beside b2's 32: the table says
    # "default" in b1's column, 32 in b2's; --json keeps the null report.json records
    left = copy.deepcopy(runs["b1"])
    left["workload"]["params"]["image_size"] = None
    given = copy.deepcopy(runs["b2"])
    given["workload"]["params"]["image_size"] = 32
    pair = [("left", left), ("given", given)]
    assert dict(differing_settings(pair))["workload.image_size"] == [None, 32]
    console = Console(record=True, width=200)
    console.print(compare_table(pair))
    row = next(line for line in console.export_text().splitlines() if "workload.image_size" in line)
    assert row.split("│")[2].strip() == "default" and row.split("│")[3].strip() == "32"
    assert compare_json(pair)["settings"]["workload.image_size"] == {"left": None, "given": 32}


def test_a_differing_arch_setting_is_named_by_the_key_set_takes(runs):
    # probe p75 #8: compare named a sweep's dataflow axis arch.systolic.dataflow (the report's arch summary), which
    # --set refuses ("arch.systolic: Extra inputs are not permitted"); the axis and --set key is
    # arch.core.systolic.dataflow. Every key shown must load when fed back to --set.
    os_ = simulate("gemm", {"base": "a100", "core": {"systolic": {"dataflow": "ws"}}, "clock": "1GHz",
                            "l2": {"latency": "300ns"}}).to_dict()
    diff = dict(differing_settings([("gemm", runs["gemm"]), ("ws", os_)]))
    assert diff["arch.core.systolic.dataflow"] == ["os", "ws"] and "arch.systolic.dataflow" not in diff
    assert diff["arch.clock"] == [1.41e9, 1e9] and diff["arch.l2.latency"][1] == pytest.approx(300e-9)
    arch = accelsim.load_arch("a100", ["core.systolic.dataflow=ws", "clock=1GHz", "l2.latency=300ns"])
    assert (arch.core.systolic.dataflow, arch.clock_hz) == ("ws", 1e9) and arch.memory("l2").latency == pytest.approx(300e-9)
    # a level written under levels: (not a preset's short form l2 / hbm / host) keeps its levels. prefix
    assert settable_key("arch.levels.infinity_cache.bytes_per_s") == "arch.levels.infinity_cache.bandwidth"
    assert accelsim.load_arch("mi300x", ["levels.infinity_cache.bandwidth=1TB/s"]).memory(
        "infinity_cache").bandwidth == 1e12
    # a core's vector lanes are in the summary, so a run that changes only them shows that setting (probe p82 #2:
    # a softmax 3.95x slower at a quarter of the lanes showed no differing setting)
    narrow = simulate("gemm", {"base": "a100", "core": {"vector": {"lanes": 1024}}}).to_dict()
    lanes = accelsim.load_arch("a100").core.vector.lanes
    assert dict(differing_settings([("gemm", runs["gemm"]), ("narrow", narrow)])) == {
        "arch.core.vector.lanes": [lanes, 1024]}
    assert accelsim.load_arch("a100", ["core.vector.lanes=1024"]).core.vector.lanes == 1024
    # figures the arch derives are no --set key; they keep the report's name
    assert settable_key("arch.on_chip_bytes") == "arch.on_chip_bytes"
    assert format_setting("arch.clock", 1e9) == "1GHz" and format_setting("arch.l2.capacity", 8 << 20) == "8MiB"


_ONE_CHIP = {"name": "one", "clock": "1GHz", "dtype": "int8", "cores": 2,
             "core": {"systolic": {"rows": 64, "cols": 64}, "vector": {"lanes": 64}, "sram": {"unified": "2MiB"}},
             "l2": {"capacity": "8MiB", "bandwidth": "512GB/s", "latency": "20ns"},
             "hbm": {"capacity": "16GiB", "bandwidth": "256GB/s", "latency": "100ns"}}


def test_an_arch_derived_with_other_chips_links_or_cache_names_those_keys(tmp_path):
    # a probing user's case: four chips on a ring (another arch name) and a bigger L2 gave settings {} and only
    # arch.on_chip_bytes; report.json's arch now carries each level and the interconnect, and compare lists them
    one = simulate("gemm", _ONE_CHIP).to_dict()
    four = simulate("gemm", {**_ONE_CHIP, "name": "four", "chips": 4, "interconnect": {
        "bandwidth": "100GB/s", "latency": "1us", "topology": "ring", "efficiency": 0.8}}).to_dict()
    big = simulate("gemm", {**_ONE_CHIP, "l2": {**_ONE_CHIP["l2"], "capacity": "64MiB"}}).to_dict()
    diff = dict(differing_settings([("one", one), ("four", four)]))
    assert diff["arch.chips"] == [1, 4]
    assert diff["arch.interconnect.bandwidth"] == [None, 100e9] and diff["arch.interconnect.latency"] == [None, 1e-6]
    assert diff["arch.interconnect.topology"] == [None, "ring"] and diff["arch.interconnect.efficiency"] == [None, 0.8]
    diff = dict(differing_settings([("one", one), ("big", big)]))
    # 8 MiB -> 64 MiB of L2 (the probe's 64 GiB, larger than the HBM behind it, is refused now); on-chip bytes:
    # 2 cores x 2 MiB + the L2
    assert diff["arch.l2.capacity"] == [8 << 20, 64 << 20]
    assert diff["arch.on_chip_bytes"] == [(4 << 20) + (8 << 20), (4 << 20) + (64 << 20)]
    assert compare_json([("one", one), ("four", four)])["settings"]["arch.chips"] == {"one": 1, "four": 4}
    console = Console(record=True, width=200)
    console.print(compare_table([("one", one), ("big", big)]))
    row = next(line for line in console.export_text().splitlines() if "arch.l2.capacity" in line)
    assert "8MiB" in row and "64MiB" in row


def test_a_served_hugging_face_preset_is_named_by_its_own_name():
    # an `accelsim serve` report's model is the builder ("hf") with the preset's name in its params
    ds = _serving(8.0, 0.02, 0)
    ds["model"] = {"model": "hf", "params": {"name": "deepseek_v3"}}
    assert dict(compare_rows([("ds", ds), ("llama", _serving(4.0, 0.04, 0))]))["workload"] == [
        "deepseek_v3", "llama2_7b"]
    # and the workload settings of two such runs compare (the same name): what --set changed
    other = copy.deepcopy(ds)
    other["model"]["params"]["mla"] = "heads"
    ds["model"]["params"]["mla"] = "latent"
    assert differing_settings([("a", ds), ("b", other)]) == [("workload.mla", ["latent", "heads"])]


def test_runs_that_differ_only_in_an_option_say_which(runs, tmp_path):
    # LeNet-5 on gemmini with activations_on_chip off: report.json records the options not at their default
    # (accelsim.options.recorded), the default run none, and compare lists the option below the arch row; plots and
    # trace are what a run writes, not what it simulates, so they are left out
    off = simulate("lenet5", "gemmini", activations_on_chip=False, plots=False, trace=True).to_dict()
    assert runs["b1"]["options"] == {} and off["options"] == {"activations_on_chip": False}
    # the activations now round-trip through main memory, so the runs differ in more than the option
    assert off["bytes"] != runs["b1"]["bytes"]
    write_json(runs["b1"], tmp_path / "default" / "report.json")
    write_json(off, tmp_path / "off_chip" / "report.json")
    pair = load_reports([tmp_path / "default", tmp_path / "off_chip"])
    # the default run leaves the option out: it stands at its default, true (accelsim/options.py)
    assert differing_settings(pair) == [("options.activations_on_chip", [True, False])]
    assert compare_json(pair)["settings"] == {"options.activations_on_chip": {"default": True, "off_chip": False}}
    console = Console(record=True, width=200)
    console.print(compare_table(pair))
    lines = console.export_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "options.activations_on_chip" in line)
    assert "arch" in lines[at - 1] and [c.strip() for c in lines[at].split("│")[2:4]] == ["yes", "no"]
    # a report written before options were recorded lacks the key: its value is unknown (a dash), not the default
    older = {k: v for k, v in runs["b1"].items() if k != "options"}
    assert differing_settings([("older", older), ("off_chip", off)]) == [("options.activations_on_chip",
                                                                          [None, False])]


def test_a_composed_run_records_its_own_options_not_its_passes():
    # GPT-2 with decode steps on h100 under execution: auto runs its decode passes as CUDA graphs (an option the
    # scenario sets on each pass): the run's options are still the defaults, and a run setting one records it
    wl = load_workload("gpt2", ["seq_len=64", "decode_steps=2"])
    auto = simulate(wl, "h100").to_dict()
    # (a serving run records options.layer_samples, default or not: probe p49)
    assert auto["execution"] == "prefill eager, decode cuda_graph" and auto["options"] == {"layer_samples": True}
    eager = simulate(wl, "h100", execution="eager").to_dict()
    assert eager["options"] == {"execution": "eager", "layer_samples": True}


def test_collective_runs_compare_bus_bandwidth_algorithm_and_protocol():
    # probe p104 #7: compare of collective runs listed time and link bytes but not nccl-tests' figures. A 64 MiB
    # all-reduce: NVLS on dgx-h100 (NVSwitch with SHARP, Hopper), a ring on dgx-a100 (NVLS needs Hopper's NVSwitch)
    runs = [(name, simulate("collective", name).to_dict()) for name in ("dgx-h100", "dgx-a100")]
    rows = dict(compare_rows(runs))
    assert rows["collective.algorithm"] == ["nvls", "ring"]
    assert rows["collective.bus_bandwidth"] == [rep["ops"][0]["mapping"]["bus_bandwidth"] for _, rep in runs]
    # nccl-tests' busbw of an all-reduce is algbw × 2(n-1)/n: 64 MiB / time × 14/8 on 8 GPUs
    h100 = runs[0][1]
    assert rows["collective.bus_bandwidth"][0] == pytest.approx(
        2**26 / h100["ops"][0]["mapping"]["all_reduce_s"] * 2 * 7 / 8, rel=1e-9)
    assert format_value("collective.bus_bandwidth", 418.5e9).endswith("GB/s")
    # a run of another workload has no such rows
    assert "collective.algorithm" not in dict(compare_rows([("gemm", simulate("gemm", "a100").to_dict())]))


def test_training_runs_compare_their_mfu_and_model_flops(runs):
    # probe p129 #1: compare listed MAC utilization (recomputed FLOPs included) but not MFU, which each training
    # report carries. LeNet-5 training steps on gemmini at batch 1 and 2: the step's model MACs are forward (LENET_MACS)
    # + weight gradients (the same again) + input gradients (all but conv1's 117,600: its input needs none), so
    # model FLOPs = 2 x (3 x LENET_MACS - 117,600) a sample, twice that at batch 2
    steps = [(f"t{b}", simulate(load_workload("lenet5", ["mode=training", f"batch={b}"]), "gemmini").to_dict())
             for b in (1, 2)]
    rows = dict(compare_rows(steps))
    per_sample = 2 * (3 * LENET_MACS - 117_600)
    assert rows["model_flops"] == [per_sample, 2 * per_sample]
    assert rows["mfu"] == [rep["mfu"] for _, rep in steps]
    assert all(0 < v < 1 for v in rows["mfu"])
    assert format_value("mfu", 0.4155) == format_value("mac_utilization", 0.4155)  # both shown as a percentage
    # an inference run has no MFU: no such rows beside inference reports only
    assert "mfu" not in dict(compare_rows([("b1", runs["b1"]), ("b2", runs["b2"])]))
