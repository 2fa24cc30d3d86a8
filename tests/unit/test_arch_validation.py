"""An arch written by hand: values that would run as something else than what they say are one-line errors at their
key (the file's line, or ``--set``); values written in another accepted form give the same arch."""

from __future__ import annotations

import textwrap

import pytest

from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.units import parse_bandwidth

NPU = """\
name: npu
clock: 1GHz
dtype: int8
core:
  systolic: {rows: 128, cols: 128}
  vector: {lanes: 128}
  sram: {unified: 4MiB}
hbm:
  capacity: 8GiB
  bandwidth: 100GB/s
  latency: 100ns
"""


def arch_file(tmp_path, text: str = NPU, name: str = "npu.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors(ref, overrides=()) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_arch(ref, overrides)
    return [str(i) for i in e.value.issues]


# ---- bandwidth in scientific notation ------------------------------------------------------------------------
@pytest.mark.parametrize("written", ["1e11", "1.0e11", "1.0e+11", "100000000000"])
def test_a_bandwidth_as_a_bare_number_in_any_notation_is_bytes_per_second(tmp_path, written):
    # YAML 1.1 reads 1.0e+11 as a float and 1e11 / 1.0e11 (no dot, or no exponent sign) as strings: all are 1e11 B/s,
    # the 100GB/s the file writes (GB = 10^9 B)
    path = arch_file(tmp_path)
    assert load_arch(path, [f"arch.hbm.bandwidth={written}"]).hbm.bandwidth == 1e11 == load_arch(path).hbm.bandwidth
    assert parse_bandwidth(written) == 1e11


@pytest.mark.parametrize("written", ["0", "0e5", "1e400"])
def test_a_bare_bandwidth_string_is_still_checked(tmp_path, written):
    (line,) = errors(arch_file(tmp_path), [f"arch.hbm.bandwidth={written}"])
    assert line.startswith("--set: arch.hbm.bandwidth: ")
    assert ("> 0" in line) if written != "1e400" else ("too large" in line)


# ---- a time needs its unit ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["hbm.latency", "kernel_launch", "graph_launch", "kernel_dispatch"])
@pytest.mark.parametrize("written", ["100", "2.5", "1e-7", "1.0e-7"])
def test_a_time_without_its_unit_is_refused_at_its_key(tmp_path, key, written):
    # `latency: 100` meant as 100 ns would run as 100 s (a number alone is seconds): refused, whatever the notation
    (line,) = errors(arch_file(tmp_path), [f"arch.{key}={written}"])
    assert line.startswith(f"--set: arch.{key}: a time needs its unit, e.g. '100ns'"), line


def test_a_bare_time_in_the_file_names_its_line(tmp_path):
    path = arch_file(tmp_path, NPU.replace("latency: 100ns", "latency: 100"))
    (line,) = errors(path)
    assert line.endswith("npu.yaml:11: hbm.latency: a time needs its unit, e.g. '100ns' (s, ms, us (µs), ns, ps, min or h): only 0 "
                         "may be written without one (got 100)"), line  # line 11 of NPU: `  latency: 100`


def test_a_time_with_its_unit_or_zero_loads(tmp_path):
    path = arch_file(tmp_path)
    assert load_arch(path).hbm.latency == pytest.approx(100e-9, rel=1e-12)
    assert load_arch(path, ["arch.hbm.latency=0"]).hbm.latency == 0.0
    assert load_arch(path, ["arch.kernel_launch=0.0"]).kernel_launch == 0.0
    assert load_arch(path, ["arch.kernel_launch=21us"]).kernel_launch == pytest.approx(21e-6, rel=1e-12)


def test_python_gives_seconds_as_numbers():
    # a mapping from Python, and an Arch (dumped and validated again with an override), keep base units: seconds
    arch = load_arch("h100")
    assert arch.kernel_launch > 0  # the preset's 21 µs, a float in seconds once loaded
    assert load_arch(arch, ["arch.hbm.capacity=40GiB"]).kernel_launch == arch.kernel_launch
    mapping = arch.model_dump()
    mapping["hbm"]["latency"] = 5e-7
    assert load_arch(mapping).hbm.latency == 5e-7


def test_the_options_and_serving_times_need_their_unit_too():
    from accelsim.config import experiment_from_parts
    from accelsim.config.serving import load_serving

    with pytest.raises(ConfigError) as e:
        experiment_from_parts("gemm", "h100", overrides=["options.step_overhead=5"])
    assert [str(i) for i in e.value.issues] == ["--set: options.step_overhead: a time needs its unit, e.g. '100ns' "
                                                "(s, ms, us (µs), ns, ps, min or h): only 0 may be written without one (got 5)"]
    with pytest.raises(ConfigError) as e:
        load_serving("llama2_7b_h100", ["slo.ttft=0.2", "engine.step_overhead=1e-3"])
    assert sorted(str(i).split(": a time")[0] for i in e.value.issues) == ["--set: engine.step_overhead",
                                                                             "--set: slo.ttft"]
    assert load_serving("llama2_7b_h100", ["slo.ttft=200ms"]).serve.slo.ttft == pytest.approx(0.2, rel=1e-12)


# ---- rates: the arch's own dtype runs at the base rate ---------------------------------------------------------
@pytest.mark.parametrize("unit", ["systolic", "vector"])
@pytest.mark.parametrize("rate", [2, 0.5])
def test_a_rate_other_than_1_for_the_arch_dtype_is_refused_at_its_key(tmp_path, unit, rate):
    # docs: rates are multiples of the base rate (rows x cols, lanes), the rate of the arch's dtype (int8 here); an
    # int8 rate of 2 halved the int8 compute cycles while peak_macs_per_cycle stayed 128 x 128
    (line,) = errors(arch_file(tmp_path), [f"arch.core.{unit}.rates={{int8: {rate}, fp16: 0.5}}"])
    assert line.startswith(f"--set: arch.core.{unit}.rates.int8: {rate:g}, but the rates are multiples of the rate of "
                           "the arch's dtype (int8), so its own is 1"), line
    assert "set the workload's (--set workload.dtype=int8)" in line  # the advice for a user who set arch.dtype


def test_the_arch_dtype_at_rate_1_and_other_dtypes_at_any_rate_load(tmp_path):
    arch = load_arch(arch_file(tmp_path), ["arch.core.systolic.rates={int8: 1, int4: 2, fp16: 0.5}"])
    assert arch.core.systolic.rates == {"int8": 1, "int4": 2, "fp16": 0.5}
    assert arch.peak_macs_per_cycle == 128 * 128


def test_a_rate_in_the_file_is_blamed_at_its_line(tmp_path):
    text = NPU.replace("systolic: {rows: 128, cols: 128}", "systolic:\n    rows: 128\n    cols: 128\n    rates:\n"
                                                           "      fp16: 0.5\n      int8: 4")
    (line,) = errors(arch_file(tmp_path, text))
    assert ":10: core.systolic.rates.int8: 4, but" in line, line  # line 10: `      int8: 4`


# ---- a scratchpad holds one step of the array ---------------------------------------------------------------------
def test_a_unified_buffer_that_cannot_hold_one_array_step_is_refused_at_its_key(tmp_path):
    # 128x128 int8 WS array, int32 partial sums (the default accumulator for int8): one step is an int8 element per
    # row of the ifmap (128 B), one per column of the filter (128 B) and a 4-byte partial sum per column of the
    # ofmap (512 B) = 768 B, twice as double-buffered = 1,536 B. 16B (a typo for 16MiB) and 1,535 B are refused
    path = arch_file(tmp_path)
    for size in (16, 1535):
        (line,) = errors(path, [f"arch.core.sram.unified={size}B"])
        assert line.startswith(f"--set: arch.core.sram.unified: {size:,} B cannot hold one step of the 128x128 ws "
                               "systolic array"), line
        assert line.endswith("128 + 128 + 512 B, twice as double_buffered); it needs at least 1,536 B"), line
    assert load_arch(path, ["arch.core.sram.unified=1536B"]).core.sram.unified == 1536
    # single-buffered, the one step is enough: 768 B
    assert load_arch(path, ["arch.core.sram={unified: 768B, double_buffered: false}"]).core.sram.unified == 768
    assert len(errors(path, ["arch.core.sram={unified: 767B, double_buffered: false}"])) == 1


def test_a_split_buffer_is_checked_against_the_side_its_operand_enters_by(tmp_path):
    # 8 rows x 16 columns, int8, int32 partial sums, double-buffered. WS: the ifmap enters by the 8 rows (8 B, 16 B
    # doubled), the filter by the 16 columns (32 B doubled), 16 partial sums of 4 B leave (128 B doubled); input
    # stationary swaps the ifmap and filter: the filter streams in by the rows (16 B), the ifmap by the columns (32 B)
    text = NPU.replace("systolic: {rows: 128, cols: 128}", "systolic: {rows: 8, cols: 16}").replace(
        "sram: {unified: 4MiB}", "sram: {ifmap: 32B, filter: 32B, ofmap: 128B}")
    path = arch_file(tmp_path, text)
    assert load_arch(path).core.sram.ifmap == 32
    for dataflow, key, least in (("ws", "ifmap", 16), ("ws", "filter", 32), ("ws", "ofmap", 128),
                                 ("is", "ifmap", 32), ("is", "filter", 16)):
        (line,) = errors(path, [f"arch.core.systolic.dataflow={dataflow}", f"arch.core.sram.{key}={least - 1}B"])
        assert f"core.sram.{key}: {least - 1} B cannot hold" in line and line.endswith(f"at least {least} B"), line
        assert load_arch(path, [f"arch.core.systolic.dataflow={dataflow}", f"arch.core.sram.{key}={least}B"])


def test_an_output_stationary_ofmap_buffer_holds_outputs_not_partial_sums(tmp_path):
    # probe p78 #1: os keeps its partial sums in the PEs and writes each output once, in its dtype (docs: bytes.sram),
    # so one os step leaves 16 columns x 1 B (int8) = 16 B of ofmap, 32 B double-buffered, where ws and is leave 16
    # 4-byte partial sums (128 B); the 17x13 array of the probe: 13 x 1 B x 2 = 26 B, not 13 x 4 x 2 = 104 B
    text = NPU.replace("systolic: {rows: 128, cols: 128}", "systolic: {rows: 8, cols: 16, dataflow: os}").replace(
        "sram: {unified: 4MiB}", "sram: {ifmap: 32B, filter: 32B, ofmap: 32B}")
    path = arch_file(tmp_path, text)
    assert load_arch(path).core.sram.ofmap == 32
    (line,) = errors(path, ["arch.core.sram.ofmap=31B"])
    assert "one 1-byte output per column of the ofmap: 16 B of ofmap" in line and line.endswith("at least 32 B"), line
    for dataflow in ("ws", "is"):  # the same buffer under a dataflow that streams partial sums: 16 x 4 x 2 = 128 B
        (line,) = errors(path, [f"arch.core.systolic.dataflow={dataflow}"])
        assert "4-byte partial sum per column" in line and line.endswith("at least 128 B"), line
    # a wider accumulator does not widen os's outputs; a wider output (fp32 arch dtype: 4 B) does: 16 x 4 x 2 = 128 B
    assert load_arch(path, ["arch.core.systolic.accumulator_dtype=fp64"]).core.sram.ofmap == 32
    (line,) = errors(path, ["arch.dtype=fp32", "arch.core.sram={ifmap: 1KiB, filter: 1KiB, ofmap: 127B}"])
    assert line.endswith("at least 128 B"), line
    sixteen = load_arch(path).core
    assert (sixteen.ofmap_element_bytes("int8", "os"), sixteen.ofmap_element_bytes("int8", "ws")) == (1, 4)


# ---- what a scratchpad may hold -----------------------------------------------------------------------------------
def test_what_a_scratchpad_holds_is_checked_at_its_key(tmp_path):
    # core.sram.holds: all (the default) or activations (TPU v1's unified buffer); anything else is refused at its line
    # (line 9 of the file: name, clock, dtype, core, systolic, vector, sram, unified, holds)
    assert load_arch(arch_file(tmp_path)).core.sram.holds == "all"
    text = NPU.replace("sram: {unified: 4MiB}", "sram:\n    unified: 4MiB\n    holds: weights")
    (line,) = errors(arch_file(tmp_path, text))
    assert line.endswith(":9: core.sram.holds: Input should be 'all' or 'activations' (got 'weights')"), line
    assert load_arch("tpu-v1").core.sram.holds == "activations"


# ---- capacities and a full mesh's links --------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["hbm.capacity", "l2.capacity", "levels.cxl.capacity"])
def test_a_level_of_no_capacity_is_refused_at_its_key(tmp_path, key):
    text = NPU + "l2: {capacity: 1MiB, bandwidth: 1TB/s}\nlevels:\n  cxl: {capacity: 64GiB, bandwidth: 64GB/s}\n"
    path = arch_file(tmp_path, text)
    assert load_arch(path).memories == ("hbm", "cxl")
    assert errors(path, [f"arch.{key}=0"]) == [f"--set: arch.{key}: Input should be greater than 0 (got 0)"]


def test_a_full_mesh_has_a_link_to_each_other_chip(tmp_path):
    # 4 chips in a full mesh: each chip has a direct link to each of the 3 others (docs: links, "at least one to each
    # other chip of its node"); 2 links priced a 4-chip collective as if there were 3
    path = arch_file(tmp_path)
    mesh = "{bandwidth: 300GB/s, topology: full_mesh, links: 2}"
    # a rule between two keys, both from --set: put at chips (the --set of a whole interconnect mapping counts as
    # written, not set, for its keys), naming the other's value
    assert errors(path, ["arch.chips=4", f"arch.interconnect={mesh}"]) == [
        "--set: arch.chips: 4, but a full mesh joins each chip to the 3 others by a link each, and "
        "interconnect.links (2, --set) is fewer: links must be at least 3"]
    # links set last, over a file's chips: at links, naming the file's line of chips
    chips4 = arch_file(tmp_path, NPU + f"chips: 4\ninterconnect: {mesh.replace('2}', '3}')}\n",
                       name="chips4.yaml")
    assert errors(chips4, ["arch.interconnect.links=2"]) == [
        f"--set: arch.interconnect.links: 2, but a full mesh joins each of its 4 chips (chips, {chips4}:"
        f"{NPU.count(chr(10)) + 1}) to the 3 others by a link each: links must be at least 3"]
    # more links than chips - 1: a board run on fewer of its chips, a group of g using g - 1 of the links: mi300x-8
    # (7 links of 448 GB/s / 7 = 64 GB/s each) on 4 GPUs gives a 4-GPU collective 3 x 64 = 192 GB/s, and on 1 GPU loads
    four = load_arch("mi300x-8", ["arch.chips=4"])
    assert four.interconnect.links == 7 and four.interconnect.group_bandwidth(4) == pytest.approx(3 * 448e9 / 7)
    assert load_arch("mi300x-8", ["arch.chips=1"]).chips == 1


def test_a_full_mesh_of_the_right_links_loads_and_node_chips_sets_the_node(tmp_path):
    path = arch_file(tmp_path)
    arch = load_arch(path, ["arch.chips=4", "arch.interconnect={bandwidth: 300GB/s, topology: full_mesh, links: 3}"])
    # a group of all 4 chips uses its 3 links: the whole 300 GB/s (Interconnect.group_bandwidth)
    assert arch.interconnect.links == 3 and arch.interconnect.group_bandwidth(4) == 300e9
    node = ("arch.interconnect={bandwidth: 300GB/s, topology: full_mesh, links: 7, node_chips: 8, "
            "scale_out: {bandwidth: 50GB/s}}")
    assert load_arch(path, ["arch.chips=16", node]).interconnect.links == 7  # 8 chips a node: 7 links each
    assert load_arch("mi300x-8").interconnect.links == 7  # 8 GPUs (amd_cdna3_wp: 7 links per GPU)


# ---- an arch-wide check names the key it is about ---------------------------------------------------------------
FULL = NPU + """\
chips: 4
l2: {capacity: 32MiB, bandwidth: 4TB/s}
levels:
  cxl:
    after: hbm
    capacity: 64GiB
    bandwidth: 64GB/s
interconnect:
  bandwidth: 100GB/s
  topology: torus
  shape: [2, 2]
"""


def test_a_torus_shape_for_other_chips_is_reported_at_the_shape(tmp_path):
    path = arch_file(tmp_path, FULL)
    assert load_arch(path).interconnect.shape == [2, 2]
    (line,) = errors(arch_file(tmp_path, FULL.replace("shape: [2, 2]", "shape: [3, 2]")))
    # both keys in one file: at the first (shape), naming the line of the other (FULL's chips: 4 on line 12)
    assert line.endswith(f"npu.yaml:22: interconnect.shape: [3, 2] holds 6 chips, not the chips (4, {path}:12)"), line
    assert errors(path, ["arch.interconnect.shape=[3,2]"]) == [
        f"--set: arch.interconnect.shape: [3, 2] holds 6 chips, not the chips (4, {path}:12)"]  # was the file's line 1
    # chips set last, against the file's shape [2, 2] = 4 chips (a probing user's --set arch.chips=1 on a 6x6 torus
    # was put at the file's shape line): at chips, naming the shape's line
    full = arch_file(tmp_path, FULL, "full.yaml")
    assert errors(full, ["arch.chips=2"]) == [
        f"--set: arch.chips: 2, but interconnect.shape ([2, 2], {full}:22) holds 4 chips: make them agree"]


def test_a_cache_larger_than_the_main_memory_behind_it_is_refused_at_its_capacity(tmp_path):
    # a probing user's 64 GiB L2 in front of 16 GiB of HBM (GiB written for MiB) loaded silently, with a 34,008 mm²
    # L2 on the die: an inclusive cache holds copies of the memories' data, so it is never larger than the main memory
    text = NPU + "l2: {capacity: 8MiB, bandwidth: 1TB/s}\nlevels:\n  cxl: {capacity: 64GiB, bandwidth: 64GB/s}\n"
    path = arch_file(tmp_path, text)
    base = arch_file(tmp_path, "base: npu.yaml\nl2: {capacity: 64GiB}\n", "big.yaml")
    assert errors(base) == [
        f"{base}:2: l2.capacity: the cache 'l2' (64GiB) is larger than the main memory 'hbm' behind it (hbm.capacity: "
        f"8GiB, {path}:9); a cache holds copies of the memories' data (a level that holds tensors of its own is a "
        "memory)"]
    # the main memory shrunk last, by --set: at its capacity, naming the cache's line
    assert errors(path, ["arch.hbm.capacity=4MiB"]) == [
        f"--set: arch.hbm.capacity: the main memory 'hbm' (4MiB) is smaller than the cache 'l2' in front of it "
        f"(l2.capacity: 8MiB, {path}:12); a cache holds copies of the memories' data (a level that holds tensors of "
        "its own is a memory)"]
    # a cache written in levels, at its key; one as large as the main memory loads (the cxl tier behind does not
    # count: the main memory is the first memory behind the caches)
    llc = "arch.levels.llc={role: cache, capacity: %s, bandwidth: 2TB/s, after: l2}"
    (line,) = errors(path, [llc % "9GiB"])
    assert line.startswith("--set: arch.levels.llc.capacity: the cache 'llc' (9GiB) is larger than the main memory "
                           "'hbm' behind it (hbm.capacity: 8GiB")
    assert load_arch(path, [llc % "8GiB"]).caches == ("l2", "llc")


def test_a_memory_put_before_a_cache_is_blamed_at_its_after(tmp_path):
    # cxl after sram puts a memory in front of the l2 cache: the --set that did it is named, not l2 at the file's line 1
    assert errors(arch_file(tmp_path, FULL), ["arch.levels.cxl.after=sram"]) == [
        "--set: arch.levels.cxl.after: puts the memory 'cxl' before the cache 'l2': a cache must sit between the cores "
        "and the memories"]


def test_a_cache_after_the_memories_is_blamed_where_it_is_placed(tmp_path):
    path = arch_file(tmp_path, FULL)
    l3 = "{role: cache, capacity: 1MiB, bandwidth: 1TB/s%s}"
    assert errors(path, [f"arch.levels.l3={l3 % ', after: hbm'}"]) == [
        "--set: arch.levels.l3.after: puts the cache 'l3' after the memory 'hbm': a cache must sit between the cores "
        "and the memories"]
    # without after, levels follow in the order written: after l2, hbm and cxl
    assert errors(path, [f"arch.levels.l3={l3 % ''}"]) == [
        "--set: arch.levels.l3: a cache must sit between the cores and the memories: add 'after: l2' to put it "
        "before 'hbm' (a level without 'after' follows the levels written before it)"]
    assert load_arch(path, [f"arch.levels.l3={l3 % ', after: l2'}"]).caches == ("l2", "l3")


@pytest.mark.parametrize(("override", "key"), [
    ("arch.levels.cxl.resident_share=0.5", "arch.levels.cxl.resident_share: only a cache level keeps a share"),
    ("arch.interconnect={bandwidth: 1GB/s, topology: full_mesh, links: 2}", "arch.interconnect.links: 2, but a full "
                                                                             "mesh"),
    ("arch.interconnect.topology=full_mesh", "arch.interconnect.topology: 'full_mesh' needs links"),
    ("arch.interconnect.node_chips=2", "arch.interconnect.node_chips: node_chips and scale_out go together"),
    ("arch.interconnect.collective=nccl", "arch.interconnect.collective: 'nccl' needs 'nccl'"),
    ("arch.levels.cxl.name=other", "arch.levels.cxl.name: 'other' differs from its key"),
])
def test_a_cross_field_check_is_reported_at_the_key_set(tmp_path, override, key):
    lines = errors(arch_file(tmp_path, FULL), [override])
    assert lines[0].startswith(f"--set: {key}"), lines


# ---- the short forms' fixed name, role and place -----------------------------------------------------------------
@pytest.mark.parametrize(("override", "line"), [
    ("arch.hbm.role=cache", "--set: arch.hbm.role: 'hbm' is a memory; a level of another role goes in 'levels'"),
    ("arch.host.role=cache", "--set: arch.host.role: 'host' is a memory; a level of another role goes in 'levels'"),
    ("arch.hbm.after=host", "--set: arch.hbm.after: not used for 'hbm': l2, hbm and host come first, in that order "
                            "(a level placed with 'after' goes in 'levels')"),
    ("arch.l2.after=hbm", "--set: arch.l2.after: not used for 'l2': l2, hbm and host come first, in that order (a "
                          "level placed with 'after' goes in 'levels')"),
    ("arch.hbm.name=dram", "--set: arch.hbm.name: 'dram' differs from its key"),
])
def test_a_short_form_level_refuses_what_it_would_ignore(tmp_path, override, line):
    path = arch_file(tmp_path, NPU + "l2: {capacity: 1MiB, bandwidth: 1TB/s}\nhost: {capacity: 1TiB, bandwidth: "
                                     "32GB/s}\n")
    assert load_arch(path).memories == ("hbm", "host") and load_arch(path).caches == ("l2",)
    assert errors(path, [override]) == [line]


def test_a_short_form_level_may_repeat_its_fixed_values(tmp_path):
    path = arch_file(tmp_path, NPU + "l2: {capacity: 1MiB, bandwidth: 1TB/s}\n")
    arch = load_arch(path, ["arch.hbm.role=memory", "arch.hbm.name=hbm", "arch.l2.role=cache"])
    assert arch.memories == ("hbm",) and arch.caches == ("l2",)


# ---- a misspelt vector function ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("typo", "meant"), [("gleu", "gelu"), ("gelue", "gelu"), ("sotfmax", "softmax"),
                                             ("rleu", "relu")])
def test_a_misspelt_vector_key_gets_the_function_it_is_close_to(typo, meant):
    # gleu is gelu with e and l swapped: difflib scores it 0.75 (2 x 3 matching letters / 8), under the 0.8 cutoff
    from accelsim.ir import Graph
    from accelsim.report.summary import vector_key_notes

    arch = load_arch({"base": "tpu-v4", "core": {"vector": {"cycles_per_element": {typo: 3, "gelu": 8}}}})
    assert vector_key_notes(arch, Graph("g", [], {})) == [
        f"core.vector.cycles_per_element: {typo!r} is no function of this run or the simulator; did you mean "
        f"{meant!r}? (it prices nothing)"]


def test_a_vector_key_far_from_every_function_gets_no_note():
    from accelsim.ir import Graph
    from accelsim.report.summary import vector_key_notes

    arch = load_arch({"base": "tpu-v4", "core": {"vector": {"cycles_per_element": {"my_custom_kernel": 3}}}})
    assert vector_key_notes(arch, Graph("g", [], {})) == []


# ---- a short form's role; the levels' graph reported with the other keys' problems ------------------------------
def test_an_l2_written_as_a_memory_is_refused_as_hbm_and_host_are(tmp_path):
    # l2 is a cache by its key (docs/configuration.md, levels.role): an 8 MiB l2 with role memory became a cache,
    # silently; now it is refused as hbm.role and host.role are
    path = arch_file(tmp_path, NPU + "l2: {role: memory, capacity: 8MiB, bandwidth: 1TB/s}\n")
    assert errors(path) == [f"{path}:12: l2.role: 'l2' is a cache; a level of another role goes in 'levels'"]
    assert load_arch(path, ["arch.l2.role=cache"]).caches == ("l2",)


def test_an_l2_without_a_role_is_a_cache_and_its_dump_says_so(tmp_path):
    path = arch_file(tmp_path, NPU + "l2: {capacity: 8MiB, bandwidth: 1TB/s}\n")
    arch = load_arch(path)
    assert arch.caches == ("l2",) and arch.model_dump()["l2"]["role"] == "cache"
    assert load_arch(arch) == arch  # the dump loads back as the same arch


def test_the_levels_graph_is_reported_with_the_other_keys_problems_in_one_run(tmp_path):
    # a probing user needed three edit-run rounds for this file: a role typo, an 'after' naming no level, then a
    # circle of afters. All three come at once now
    text = NPU + """\
levels:
  a: {role: memory, after: b, capacity: 1GiB, bandwidth: 10GB/s}
  b: {role: memory, after: a, capacity: 1GiB, bandwidth: 10GB/s}
  c: {role: memroy, after: zzz, capacity: 1GiB, bandwidth: 10GB/s}
"""
    path = arch_file(tmp_path, text)
    assert sorted(errors(path)) == sorted([
        f"{path}:13: levels.a.after: circular 'after': a → b → a",
        f"{path}:15: levels.c.role: Input should be 'cache' or 'memory' (got 'memroy')",
        f"{path}:15: levels.c.after: no level 'zzz' (levels: sram, hbm, a, b)"])
    # a short form's role, a reserved name and a memory's resident_share, with a field's own problem elsewhere
    text = NPU.replace("  latency: 100ns\n", "  latency: 100ns\n  resident_share: 0.5\n") + """\
l2: {role: memory, capacity: 8MiB, bandwidth: 1TB/s}
levels:
  sram: {capacity: 1GiB, bandwidth: 10GB/s}
"""
    path = arch_file(tmp_path, text.replace("rows: 128", "rows: -1"), "all.yaml")
    assert sorted(errors(path)) == sorted([
        f"{path}:5: core.systolic.rows: Input should be greater than 0 (got -1)",
        f"{path}:12: hbm.resident_share: only a cache level keeps a share of its capacity for a tensor",
        f"{path}:13: l2.role: 'l2' is a cache; a level of another role goes in 'levels'",
        f"{path}:15: levels.sram: 'sram' is a reserved name (the cores' scratchpad is core.sram; the chips' links "
        "are interconnect): name the level otherwise"])


def test_a_die_of_fewer_cores_than_a_set_cores_is_reported_at_cores(tmp_path):
    path = arch_file(tmp_path, NPU + "cores: 4\nenergy: {node: 7nm, die_cores: 4}\n")
    assert load_arch(path).cores == 4
    assert errors(path, ["arch.cores=8"]) == [
        f"--set: arch.cores: 8, more than energy.die_cores (4, {path}:13): the die holds the cores the arch enables "
        "and may hold more"]


def test_accumulator_sram_names_a_core_sram_array_and_no_level():
    # core.systolic.accumulator_sram (probe p279 #1) names the energy.core_sram array the partial sums live in: a
    # name core_sram does not list, or a level's name (its bytes would be that level's in report.json), is refused
    # at its key in one line
    (missing,) = errors("tpu-v1", ["arch.core.systolic.accumulator_sram=acc"])
    assert "core.systolic.accumulator_sram: 'acc' is no array of energy.core_sram" in missing
    assert "(it lists accumulators)" in missing
    (level,) = errors("tpu-v1", ["arch.energy.core_sram={hbm: 4MiB}", "arch.core.systolic.accumulator_sram=hbm"])
    assert "core.systolic.accumulator_sram: 'hbm' is the name of a level" in level
    (dropped,) = errors("tpu-v1", ["arch.energy.core_sram={}"])
    assert "energy.core_sram: lists no 'accumulators'" in dropped
