"""SCALE-Sim inputs run as they are: a .cfg → Arch, a topology .csv (conv or GEMM form) → ops in file order.

References (scalesim-project/scale-sim-v2):
* scalesim/topology_utils.py: conv rows ``name, H, W, Fh, Fw, C, N, S[, Sw]``; output ⌈(H − Fh + S)/S⌉ (no
  padding); a row whose name contains "DP" is loaded as C layers of 1 channel and N filters; a GEMM row
  ``name, M, N, K`` becomes the conv (ifmap M×K, filter 1×K, 1 channel, N filters, stride 1).
* scalesim/compute/systolic_compute_{os,ws,is}.py: S_r×S_c mapped on R×C in F_r = ⌈S_r/R⌉ × F_c = ⌈S_c/C⌉ folds of
  τ cycles each (os: R + C + T − 2; ws, is: 2R + C + T − 2), reported as F_r·F_c·τ − 1 cycles per layer, with
  (S_r, S_c, T) = os (M, N, K), ws (K, N, M), is (K, M, N).
Every expected number below is worked by hand from those definitions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from accelsim.cli import main
from accelsim.config import load_scalesim, read_scalesim_config, read_topology
from accelsim.cost import folds as systolic
from accelsim.errors import ConfigError
from accelsim.ir import Gemm, OpKind

DATA = Path(__file__).resolve().parents[1] / "data" / "scalesim"


@pytest.fixture
def in_data(monkeypatch):
    monkeypatch.chdir(DATA)


def test_calc_config():
    arch = read_scalesim_config(DATA / "tiny_os.cfg")
    assert arch.name == "tiny_8x8_os"
    assert (arch.core.systolic.rows, arch.core.systolic.cols, arch.core.systolic.dataflow) == (8, 8, "os")
    # IfmapSramSzkB 64, FilterSramSzkB 32, OfmapSramSzkB 16; SCALE-Sim multiplies kB by 1024
    assert (arch.core.sram.ifmap, arch.core.sram.filter, arch.core.sram.ofmap) == (65536, 32768, 16384)
    assert arch.clock_hz == 1e9 and arch.dtype == "int8" and arch.cores == 1
    assert arch.core.vector.lanes == 8  # as wide as the array
    assert math.isinf(arch.hbm.bandwidth)  # CALC: DRAM bandwidth is computed, not limiting
    assert arch.host is None


def test_user_bandwidth_config():
    arch = read_scalesim_config(DATA / "tiny_user_ws.cfg")
    assert arch.core.systolic.dataflow == "ws"
    assert (arch.core.sram.ifmap, arch.core.sram.filter, arch.core.sram.ofmap) == (6 * 1024, 6 * 1024, 2 * 1024)
    # USER, Bandwidth "10,20": SCALE-Sim uses the first value, 10 words/cycle × 1 B/word × 1e9 cycles/s
    assert arch.hbm.bandwidth == 10e9
    assert arch.bytes_per_cycle("hbm") == 10


def test_conv_topology_ops_in_file_order():
    g = read_topology(DATA / "conv.csv")
    dp = [f"Conv3_DPChannel_{i}" for i in range(4)]  # SCALE-Sim's names of a depthwise row's layers
    assert [op.name for op in g.ops] == ["Conv1", "Conv2", *dp, "Conv4"]
    assert all(op.kind is OpKind.CONV and op.dtype == "int8" for op in g.ops)
    # Conv1: 7×7, 2×2 filter, 3 channels, 20 filters, stride 2.
    #   E = ⌈(7 − 2 + 2)/2⌉ = ⌈3.5⌉ = 4 (SCALE-Sim's ceiling; floor((7−2)/2)+1 would be 3)
    #   m = 4·4 = 16, n = 20, k = 2·2·3 = 12
    assert g["Conv1"].gemm == Gemm(m=16, n=20, k=12, count=1)
    assert g["Conv1"].out_shape == (1, 20, 4, 4)
    # Conv2: 14×14, 3×3, 16 ch, 8 filters, stride 1: E = 14 − 3 + 1 = 12, m = 144, n = 8, k = 9·16 = 144
    assert g["Conv2"].gemm == Gemm(m=144, n=8, k=144, count=1)
    # Conv3_DP (depthwise by name): 10×10, 3×3, 4 channels, 1 filter, stride 1: E = 8
    #   SCALE-Sim runs 4 layers of 1 channel, Conv3_DPChannel_0..3: each m = 64, n = 1, k = 3·3 = 9
    for name in dp:
        assert g[name].gemm == Gemm(m=64, n=1, k=9, count=1)
        assert g[name].macs == 64 * 1 * 9 and g[name].in_shapes == ((1, 1, 10, 10),)
        assert g[name].out_shape == (1, 1, 8, 8)
    # Conv4: 5×9, 1×3 filter, 2 channels, 5 filters, stride height 1, width 2 (the optional 9th column):
    #   Eh = ⌈(5 − 1 + 1)/1⌉ = 5, Ew = ⌈(9 − 3 + 2)/2⌉ = 4; m = 20, n = 5, k = 1·3·2 = 6
    assert g["Conv4"].gemm == Gemm(m=20, n=5, k=6, count=1)
    assert g.macs == 16 * 20 * 12 + 144 * 8 * 144 + 64 * 9 * 4 + 20 * 5 * 6
    assert g.meta["form"] == "conv"


def test_gemm_topology():
    g = read_topology(DATA / "gemm.csv")
    assert g.meta["form"] == "gemm"
    assert [op.name for op in g.ops] == ["fc1", "proj"]
    # SCALE-Sim's conv view of "fc1, 10, 20, 30": ifmap 10×30, filter 1×30, 1 channel, 20 filters, stride 1:
    #   Eh = 10, Ew = ⌈(30 − 30 + 1)/1⌉ = 1, so m = 10·1, n = 20, k = 1·30·1 = 30
    assert g["fc1"].gemm == Gemm(m=10, n=20, k=30, count=1)
    assert g["proj"].gemm == Gemm(m=1, n=1, k=1, count=1)
    assert g.macs == 10 * 20 * 30 + 1


# Hand-worked SCALE-Sim compute cycles on an 8×8 array (R = C = 8), F_r·F_c·τ − 1 per layer:
HAND_CYCLES = {
    # Conv1 (m, n, k) = (16, 20, 12)
    #   os: S_r=m=16 → F_r=2, S_c=n=20 → F_c=⌈20/8⌉=3 (last fold 4 of 8 columns), T=k=12
    #       τ = 8 + 8 + 12 − 2 = 26;        2·3·26 − 1 = 155
    #   ws: S_r=k=12 → F_r=2 (4 of 8 rows), S_c=n=20 → F_c=3, T=m=16
    #       τ = 2·8 + 8 + 16 − 2 = 38;      2·3·38 − 1 = 227
    #   is: S_r=k=12 → 2, S_c=m=16 → 2, T=n=20
    #       τ = 2·8 + 8 + 20 − 2 = 42;      2·2·42 − 1 = 167
    "Conv1": {"os": 155, "ws": 227, "is": 167},
    # Conv2 (144, 8, 144)
    #   os: F_r=⌈144/8⌉=18, F_c=1, τ = 8+8+144−2 = 158;     18·1·158 − 1 = 2843
    #   ws: F_r=⌈144/8⌉=18, F_c=1, τ = 16+8+144−2 = 166;    18·1·166 − 1 = 2987
    #   is: F_r=18, F_c=⌈144/8⌉=18, τ = 16+8+8−2 = 30;      18·18·30 − 1 = 9719
    "Conv2": {"os": 2843, "ws": 2987, "is": 9719},
    # Conv3_DP: 4 one-channel layers of (64, 1, 9), each reported separately by SCALE-Sim:
    #   os: F_r=8, F_c=1, τ = 8+8+9−2 = 23;    (8·1·23 − 1)·4 = 183·4 = 732
    #   ws: F_r=⌈9/8⌉=2 (1 of 8 rows), F_c=1, τ = 16+8+64−2 = 86;  (2·86 − 1)·4 = 171·4 = 684
    #   is: F_r=2, F_c=⌈64/8⌉=8, τ = 16+8+1−2 = 23;  (2·8·23 − 1)·4 = 367·4 = 1468
    **{f"Conv3_DPChannel_{i}": {"os": 183, "ws": 171, "is": 367} for i in range(4)},
    # Conv4 (20, 5, 6)
    #   os: F_r=⌈20/8⌉=3, F_c=1 (5 of 8 columns), τ = 8+8+6−2 = 20;   3·1·20 − 1 = 59
    #   ws: F_r=1 (6 of 8 rows), F_c=1, τ = 16+8+20−2 = 42;           1·1·42 − 1 = 41
    #   is: F_r=1, F_c=⌈20/8⌉=3, τ = 16+8+5−2 = 27;                   1·3·27 − 1 = 80
    "Conv4": {"os": 59, "ws": 41, "is": 80},
    # fc1 (10, 20, 30)
    #   os: S_r=10 → 2, S_c=20 → 3, T=30: τ = 8+8+30−2 = 44;          2·3·44 − 1 = 263
    #   ws: S_r=30 → 4, S_c=20 → 3, T=10: τ = 16+8+10−2 = 32;         4·3·32 − 1 = 383
    #   is: S_r=30 → 4, S_c=10 → 2, T=20: τ = 16+8+20−2 = 42;         4·2·42 − 1 = 335
    "fc1": {"os": 263, "ws": 383, "is": 335},
}


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_compute_cycles_match_scalesim_formula(dataflow):
    graphs = [read_topology(DATA / "conv.csv"), read_topology(DATA / "gemm.csv")]
    arch = read_scalesim_config(DATA / "tiny_os.cfg")
    rows, cols = arch.core.systolic.rows, arch.core.systolic.cols
    for g in graphs:
        for op in g.ops:
            if op.name not in HAND_CYCLES:
                continue
            gm = op.gemm
            got = systolic.cycles(gm.m, gm.n, gm.k, rows, cols, dataflow, gm.count)
            assert got == HAND_CYCLES[op.name][dataflow], (op.name, dataflow)


def test_load_scalesim_pair():
    arch, graph = load_scalesim(DATA / "tiny_user_ws.cfg", DATA / "gemm.csv")
    assert arch.core.systolic.dataflow == "ws" and len(graph) == 2
    # the arch's own dataflow prices fc1 as hand-worked above
    gm = graph["fc1"].gemm
    assert systolic.cycles(gm.m, gm.n, gm.k, 8, 8, arch.core.systolic.dataflow, gm.count) == 383


def test_bad_config_lists_every_problem(in_data):
    with pytest.raises(ConfigError) as info:
        read_scalesim_config("bad.cfg")
    assert str(info.value).splitlines() == [
        "bad.cfg:5: architecture_presets.ArrayHeight: expected a positive integer (got '0')",
        "bad.cfg:6: architecture_presets.ArrayWidth: expected a positive integer (got 'eight')",
        "bad.cfg:4: architecture_presets.FilterSramSzkB: missing",
        "bad.cfg:9: architecture_presets.Dataflow: expected os, ws or is (got 'rs')",
        "bad.cfg:4: architecture_presets.Bandwidth: missing",
    ]


def test_bad_topology_lists_every_row(in_data):
    with pytest.raises(ConfigError) as info:
        read_topology("bad_conv.csv")
    assert str(info.value).splitlines() == [
        "bad_conv.csv:2: Filter Height: larger than IFMAP Height (7) (got 9)",
        "bad_conv.csv:3: IFMAP Width: expected a positive integer (got 'x')",
        "bad_conv.csv:4: Num Filter: missing: a row has 8 columns (Layer name, IFMAP Height, IFMAP Width, "
        "Filter Height, Filter Width, Channels, Num Filter, Strides)",
        "bad_conv.csv:5: Layer name: layer name used twice (first on line 3) (got 'Conv2')",
    ]


def test_missing_files_reported_together(in_data):
    with pytest.raises(ConfigError) as info:
        load_scalesim("nope.cfg", "nope.csv")
    assert str(info.value).splitlines() == ["nope.cfg: file not found", "nope.csv: file not found"]


def test_malformed_cfg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("x.cfg").write_text("ArrayHeight: 8\n")
    with pytest.raises(ConfigError, match=r"^x.cfg:1: expected a \[section\] header first$"):
        read_scalesim_config("x.cfg")


def test_sparsity_column_is_read_only_with_sparsity_support(tmp_path, monkeypatch):
    """SCALE-Sim v3 reads a row's N:M column and uses it only when the config's SparsitySupport is true
    (operand_matrix.create_filter_matrix): without it the layer is dense; with it the filter's K packs to its
    nonzeros. Row A: a 1x1 conv of 8 channels pruned 2:4: K = 8 → 4 kept per filter, 2 filters × 4×4 pixels."""
    monkeypatch.chdir(tmp_path)
    Path("s.csv").write_text("Layer name, H, W, Fh, Fw, C, N, S,\nA, 4, 4, 1, 1, 8, 2, 1, 2:4,\n"
                             "B, 4, 4, 1, 1, 2, 2, 1, 4:4,\n")
    dense = read_topology("s.csv")
    assert [op.macs for op in dense.ops] == [16 * 2 * 8, 16 * 2 * 2]
    assert "sparsity" not in dense.ops[0].attrs
    sparse = read_topology("s.csv", sparsity=True)
    a, b = sparse.ops
    assert a.attrs["sparsity"] == "2:4" and a.macs == 16 * 2 * 4 and a.gemm.k == 8  # the activations stay dense
    # 8 of 16 int8 filter weights kept, each with a 2-bit index (⌈log2 4⌉): 8 + 2 bytes
    assert a.weights[0].nbytes("int8") == 8 + 2
    assert "sparsity" not in b.attrs and b.macs == 16 * 2 * 2  # 4:4 is dense


def test_bad_sparsity_column(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("s.csv").write_text("Layer, M, N, K,\nA, 4, 4, 8, 5:4,\nB, 4, 4, 8, 0:4,\n")
    with pytest.raises(ConfigError) as info:
        read_topology("s.csv")
    assert str(info.value).splitlines() == [
        "s.csv:2: Sparsity: expected 1 <= N <= M in N:M (got '5:4')",
        "s.csv:3: Sparsity: expected 1 <= N <= M in N:M (got '0:4')",
    ]


def _cfg(sparsity: str) -> str:
    return ("[general]\nrun_name = s\n[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nIfmapSramSzkB: 64\n"
            "FilterSramSzkB: 64\nOfmapSramSzkB: 64\nDataflow: ws\n[sparsity]\n" + sparsity)


def test_sparsity_support_in_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("on.cfg").write_text(_cfg("SparsitySupport: true\nSparseRep: ellpack_block\nOptimizedMapping: false\n"))
    Path("off.cfg").write_text(_cfg("SparsitySupport: false\n"))
    assert read_scalesim_config("on.cfg").core.systolic.structured_sparsity == ["any"]
    assert read_scalesim_config("off.cfg").core.systolic.structured_sparsity == []
    Path("row.cfg").write_text(_cfg("SparsitySupport: true\nSparseRep: ellpack_block\nOptimizedMapping: true\n"
                                    "BlockSize: 4\n"))
    with pytest.raises(ConfigError) as info:
        read_scalesim_config("row.cfg")
    assert str(info.value) == ("row.cfg:13: sparsity.OptimizedMapping: row-wise sparsity is not modelled (SCALE-Sim "
                               "v3 draws each filter column's N at random); set it to false for layer-wise N:M "
                               "(got 'true')")


def test_another_csv_is_refused_once_at_its_header(tmp_path, monkeypatch):
    # tests/data/scalesim_reference/compute_cycles.csv (reference cycles, 9 columns) given as a topology: every
    # cell of its 200-odd rows was a problem of its own, 1,737 lines
    ref = Path(__file__).resolve().parents[1] / "data" / "scalesim_reference" / "compute_cycles.csv"
    with pytest.raises(ConfigError) as e:
        read_topology(ref)
    (line,) = str(e.value).splitlines()
    assert line.endswith(":1: not a SCALE-Sim topology: its header is 'case, config, dataflow, rows, cols, "
                         "topology, layer, scalesim_compute_cycles, s…' (expected Layer name, IFMAP Height, "
                         "IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides or Layer, M, N, K)")
    # a topology header over 30 bad rows: the first 20 problems and one line counting the other 10
    monkeypatch.chdir(tmp_path)
    rows = [f"l{i}, x, 3, 3, 3, 3, 3, 1," for i in range(30)]
    Path("bad.csv").write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                               "Num Filter, Strides,\n" + "\n".join(rows) + "\n")
    with pytest.raises(ConfigError) as e:
        read_topology("bad.csv")
    lines = str(e.value).splitlines()
    assert len(lines) == 21 and lines[0] == "bad.csv:2: IFMAP Height: expected a positive integer (got 'x')"
    assert lines[-1] == "bad.csv: 10 more problems not shown"
    # an unusual header over rows that parse is run, as SCALE-Sim (which skips the first line) runs it
    Path("odd.csv").write_text("name, h, w, fh, fw, c, n, s,\nc1, 8, 8, 3, 3, 1, 4, 1,\n")
    assert [op.name for op in read_topology("odd.csv").ops] == ["c1"]


def test_an_sram_too_small_for_the_array_is_at_its_cfg_line(tmp_path, monkeypatch):
    # probe p100 #4: the error named core.sram.ifmap (not a key of the file) with no line and pydantic's "Value error,"
    # prefix. A 1024x16 os array's step reads one int8 ifmap element per array row: 1,024 B, twice when double
    # buffered (as a SCALE-Sim config runs) = 2,048 B, more than IfmapSramSzkB: 1 (1,024 B) on line 6
    monkeypatch.chdir(tmp_path)
    Path("big.cfg").write_text("[general]\nrun_name = big\n[architecture_presets]\nArrayHeight: 1024\nArrayWidth: 16\n"
                               "IfmapSramSzkB: 1\nFilterSramSzkB: 64\nOfmapSramSzkB: 64\nDataflow: os\n")
    with pytest.raises(ConfigError) as info:
        read_scalesim_config("big.cfg")
    (line,) = str(info.value).splitlines()
    assert line.startswith("big.cfg:6: architecture_presets.IfmapSramSzkB: 1,024 B cannot hold one step of the "
                           "1024x16 os systolic array"), line
    assert line.endswith("it needs at least 2,048 B"), line


CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def test_a_dp_row_with_several_filters_counts_them_per_channel_with_a_note(tmp_path, monkeypatch, capsys):
    # probe p123 #1. scale-sim-v2 topology_utils.load_arrays_conv runs a row named *DP* as Channels layers, setting
    # channels to 1 and keeping Num Filter, so dw_DP (10x10, 3x3, 4 channels, Num Filter 4, stride 1) is
    # 4 layers of M = 8·8 = 64 (⌈(10 − 3 + 1)/1⌉ = 8 a side), K = 3·3 = 9, N = 4: 64·9·4 = 2,304 MACs each,
    # 9,216 in all (parity kept); a depthwise conv has one filter a channel: 64·9·1·4 = 2,304 MACs.
    # pw_DP has Num Filter 1: already a depthwise conv, no note
    monkeypatch.chdir(tmp_path)
    Path("t.csv").write_text(CONV_HEADER + "dw_DP, 10, 10, 3, 3, 4, 4, 1,\npw_DP, 10, 10, 3, 3, 2, 1, 1,\n")
    g = read_topology("t.csv")
    assert [op.macs for op in g.ops] == [2304] * 4 + [576] * 2  # pw_DP: 64·9·1 per channel
    assert g.meta["notes"] == [
        "t.csv:2: dw_DP: a DP (depthwise) row runs as SCALE-Sim runs it, each of its 4 channels with the row's "
        "Num Filter 4 filters (4 x 4 = 16 filters, 9,216 MACs); a depthwise conv has one filter a channel: write "
        "Num Filter 1 for it (2,304 MACs)"]
    # through the CLI: in report.json's notes
    Path("a.cfg").write_text(_cfg("SparsitySupport: false\n"))
    assert main(["run", "--scalesim-config", "a.cfg", "--topology", "t.csv", "-o", "out", "--no-plots", "-q"]) == 0
    notes = json.loads(Path("out/report.json").read_text())["notes"]
    assert sum("t.csv:2: dw_DP: a DP (depthwise) row" in n for n in notes) == 1
    assert not any("pw_DP" in n for n in notes)


def test_a_header_without_a_column_is_named_at_line_1(tmp_path, monkeypatch, capsys):
    # probe p123 #3: a header without Num Filter over a row without it blamed Strides (the row's 8th column)
    # at line 2; the header's missing column is named first, at line 1, exit status 2
    monkeypatch.chdir(tmp_path)
    Path("a.cfg").write_text(_cfg("SparsitySupport: false\n"))
    Path("miss.csv").write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                                "Strides,\nc1, 10, 10, 3, 3, 4, 1,\n")
    assert main(["run", "--scalesim-config", "a.cfg", "--topology", "miss.csv", "-o", "out", "-q"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == ("accelsim: error: miss.csv:1: Num Filter: missing from the header (a row's columns, by "
                        "position: Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                        "Num Filter, Strides)")
    assert "Traceback" not in "".join(lines)
    # a misnamed column over rows that parse: read by position, as SCALE-Sim (which never reads the header) does,
    # with a note; the row's 7th value is the filters whatever the header calls it: M = 8·8, N = 5, K = 3·3·4
    Path("odd.csv").write_text(CONV_HEADER.replace("Num Filter", "Num Filters") + "c1, 10, 10, 3, 3, 4, 5, 1,\n")
    g = read_topology("odd.csv")
    assert g.ops[0].gemm == Gemm(m=64, n=5, k=36, count=1)
    assert g.meta["notes"][0].startswith("odd.csv:1: the header is not SCALE-Sim's (its column 7 is 'Num Filters', "
                                         "not 'Num Filter'); its rows have every column and are read by position")
    # a header without a column over full rows: noted as lacking it
    Path("short.csv").write_text(CONV_HEADER.replace(" Num Filter,", "") + "c1, 10, 10, 3, 3, 4, 5, 1,\n")
    assert read_topology("short.csv").meta["notes"][0].startswith(
        "short.csv:1: the header is not SCALE-Sim's (it lacks 'Num Filter');")
    # SCALE-Sim's own headers: its files' (any case) and its write_topo_file's Stride height / Stride width: no
    # header note (the row's 9th column gets the stride-width note alone, probe p169 #2: SCALE-Sim 3.0's reader
    # takes that column as the sparsity ratio, so the file v3 writes is one v2 reads)
    Path("own.csv").write_text("Layer name, IFMAP height, IFMAP width, Filter height, Filter width, Channels, "
                               "Num filter, Stride height, Stride width,\nc1, 10, 10, 3, 3, 4, 5, 1, 1,\n")
    assert [n.split(":")[:2] for n in read_topology("own.csv").meta["notes"]] == [["own.csv", "2"]]
    assert "stride width" in read_topology("own.csv").meta["notes"][0]
    Path("own.csv").write_text(CONV_HEADER + "c1, 10, 10, 3, 3, 4, 5, 1,\n")
    assert "notes" not in read_topology("own.csv").meta


def test_a_stride_width_column_is_read_as_v2_reads_it_with_a_note(tmp_path, monkeypatch):
    # probe p169 #2: SCALE-Sim 3.0.0's topology_utils.load_arrays_conv copies Strides into the column stride
    # (elems[0:8] + [elems[7]] + elems[8:]) and pops the next column as the N:M ratio: "1".split(":") has no [1],
    # an IndexError. v2's append_topo_arrays reads it as the stride width, as accelsim does, with a note.
    monkeypatch.chdir(tmp_path)
    Path("sw.csv").write_text(CONV_HEADER + "c1, 9, 9, 3, 3, 3, 20, 2, 1,\nc2, 9, 9, 3, 3, 3, 20, 2,\n"
                              "c3, 9, 9, 3, 3, 3, 20, 1, 2,\n")
    g = read_topology("sw.csv")
    # c1: stride (2, 1): Eh = ⌈(9 − 3 + 2)/2⌉ = 4, Ew = ⌈(9 − 3 + 1)/1⌉ = 7, m = 28, n = 20, k = 3·3·3 = 27
    assert g["c1"].gemm == Gemm(m=28, n=20, k=27, count=1)
    # c2: stride 2 both ways (no 9th column): 4·4 = 16 rows; c3: (1, 2): 7·4 = 28
    assert (g["c2"].gemm.m, g["c3"].gemm.m) == (16, 28)
    assert g.meta["notes"] == [
        "sw.csv:2: a 9th column (also on line 4) is read as the stride width, as SCALE-Sim v2 reads it; SCALE-Sim "
        "3.0 has no stride-width column (it uses Strides for both axes and reads that column as the N:M sparsity "
        "ratio: a plain number stops it with an IndexError); a layer with one stride on both axes runs the same in "
        "both with the Strides column alone (a row that does not end with a comma loses its 9th column in both "
        "versions and here)"]
    # a sparsity column alone (SCALE-Sim 3.0's reading of column 9) gets no note
    Path("sp.csv").write_text(CONV_HEADER + "c1, 9, 9, 3, 3, 3, 20, 2, 2:4,\n")
    assert "notes" not in read_topology("sp.csv").meta


@pytest.mark.parametrize("written, note", [
    ("os", None),
    # scale_config.read_conf_file: `if self.df not in self.valid_df_list: print("WARNING: Invalid dataflow")`,
    # compared as written with ['os', 'ws', 'is']; single_layer_sim.set_params then matches none and keeps the
    # systolic_compute_os() its constructor made: OS runs as os there too, WS as os
    ("OS", "runs it as os, its default, too; write 'os' for the same run in both"),
    ("WS", "runs os, its default, not ws; write 'ws' for the same run in both"),
])
def test_an_upper_case_dataflow_is_read_with_a_note_as_scalesim_warns(tmp_path, monkeypatch, written, note):
    monkeypatch.chdir(tmp_path)
    Path("u.cfg").write_text(_cfg("SparsitySupport: false\n").replace("Dataflow: ws", f"Dataflow: {written}"))
    Path("t.csv").write_text(CONV_HEADER + "c1, 10, 10, 3, 3, 4, 5, 1,\n")
    arch, graph = load_scalesim("u.cfg", "t.csv")
    assert arch.core.systolic.dataflow == written.lower()
    if note is None:
        assert "notes" not in graph.meta
    else:
        # Dataflow is line 9 of _cfg's file
        assert graph.meta["notes"] == [
            f"u.cfg:9: architecture_presets.Dataflow {written!r}: read as {written.lower()}; SCALE-Sim takes only "
            f"lower case (os, ws, is): it prints \"WARNING: Invalid dataflow\" and {note}"]


REFERENCE = Path(__file__).resolve().parents[1] / "data" / "scalesim_reference"


def _total_cycles(cfg: Path, topology: str) -> tuple[int, list[str]]:
    assert main(["run", "--scalesim-config", str(cfg), "--topology", topology, "-o", "out", "--no-plots", "-q"]) == 0
    report = json.loads(Path("out/report.json").read_text())
    return report["total_cycles"], report["notes"]


def test_a_row_without_a_trailing_comma_loses_its_last_field_as_in_scalesim(tmp_path, monkeypatch):
    """Probe p217 #1: SCALE-Sim v2 and v3 read every row as ``row.split(',')[:-1]`` (topology_utils
    load_arrays_gemm / load_arrays_conv), so a row that does not end with a comma loses its last field. SCALE-Sim
    3.0 ran these files: 305 and 703 "Total Cycles" without the commas (the sparsity column dropped), 197 and 463
    with them, as worked out below on the 8x8 os array (SparsitySupport true, CALC: no memory stalls)."""
    monkeypatch.chdir(tmp_path)
    Path("nc.csv").write_text("Layer, M, N, K, Sparsity,\ngs_24, 20, 13, 37, 2:4\ngs_12, 30, 30, 30, 1:2\n")
    Path("c.csv").write_text("Layer, M, N, K, Sparsity,\ngs_24, 20, 13, 37, 2:4,\ngs_12, 30, 30, 30, 1:2,\n")
    cfg = REFERENCE / "sparse_os_8x8.cfg"
    # os folds: gs_24 Fr = ⌈20/8⌉ = 3, Fc = ⌈13/8⌉ = 2; gs_12 Fr = Fc = ⌈30/8⌉ = 4; τ = R + C + K − 2, F·τ − 1.
    # Dense: gs_24 τ = 8 + 8 + 37 − 2 = 51, 6·51 − 1 = 305; gs_12 τ = 8 + 8 + 30 − 2 = 44, 16·44 − 1 = 703.
    cycles, notes = _total_cycles(cfg, "nc.csv")
    assert cycles == 305 + 703
    dropped = [n for n in notes if "does not end with a comma" in n]
    assert dropped == [
        "nc.csv:2: gs_24: the row does not end with a comma (also on line 3), and SCALE-Sim reads a row as "
        "row.split(',')[:-1], dropping its last field: its Sparsity '2:4' is dropped here too, as SCALE-Sim drops "
        "it (the layer runs dense); end the row with a comma to have it read"]
    g = read_topology("nc.csv", sparsity=True)
    assert [op.macs for op in g.ops] == [20 * 13 * 37, 30 * 30 * 30] and "sparsity" not in g.ops[0].attrs
    # With the commas: kept K = N·⌊K/M⌋ + min(K mod M, N): gs_24 2·9 + 1 = 19, τ = 8 + 8 + 19 − 2 = 33,
    # 6·33 − 1 = 197; gs_12 1·15 + 0 = 15, τ = 29, 16·29 − 1 = 463
    cycles, notes = _total_cycles(cfg, "c.csv")
    assert cycles == 197 + 463
    assert not any("does not end with a comma" in n for n in notes)


def test_a_stride_width_without_a_trailing_comma_is_dropped_as_in_scalesim(tmp_path, monkeypatch):
    """Probe p217 #1: ``sw, 10, 10, 3, 3, 3, 4, 2, 1`` (no trailing comma) loses its "1" in SCALE-Sim v2 and 3.0,
    which ran it at stride 2x2, 88 cycles. Hand: Eh = Ew = ⌈(10 − 3 + 2)/2⌉ = 5, M = 25, N = 4, K = 3·3·3 = 27; on
    32x32 os F = 1, τ = 32 + 32 + 27 − 2 = 89, 89 − 1 = 88 cycles; MACs 25·4·27 = 2,700 (it was stride 2x1,
    M = 5·8 = 40, 177 cycles)."""
    monkeypatch.chdir(tmp_path)
    Path("nc.csv").write_text(CONV_HEADER + "sw, 10, 10, 3, 3, 3, 4, 2, 1\n")
    g = read_topology("nc.csv")
    assert g["sw"].gemm == Gemm(m=25, n=4, k=27, count=1) and g["sw"].macs == 2700
    assert g["sw"].attrs["stride"] == (2, 2)
    cycles, notes = _total_cycles(REFERENCE / "os_32x32.cfg", "nc.csv")
    assert cycles == 88
    assert [n for n in notes if "does not end with a comma" in n] == [
        "nc.csv:2: sw: the row does not end with a comma, and SCALE-Sim reads a row as row.split(',')[:-1], "
        "dropping its last field: its Stride width '1' is dropped here too, as SCALE-Sim drops it (Strides is the "
        "stride on both axes); end the row with a comma to have it read"]
    assert not any("is read as the stride width" in n for n in notes)


def test_a_row_scalesim_cannot_run_without_its_last_field_is_refused(tmp_path, monkeypatch, capsys):
    """Probe p217 #1: ``QKT,1024,1024,64`` (SCALE-Sim's own topologies/GEMM_mnk/gpt2.csv has such rows) stops
    SCALE-Sim 3.0 with "AssertionError: There should be at least 4 entries per row", and an 8-column conv row
    without a trailing comma indexes past the row's end (elems[7]): refused at the row, naming the column dropped.
    A row short of more than that one column is refused as before, naming the first column missing."""
    monkeypatch.chdir(tmp_path)
    Path("g.csv").write_text("Layer, M, N, K,\nQKT,1024,1024,64\nok, 4, 4, 4,\n")
    Path("c.csv").write_text(CONV_HEADER + "c1, 10, 10, 3, 3, 3, 4, 1\nc2, 10, 10, 3\n")
    with pytest.raises(ConfigError) as info:
        read_topology("g.csv")
    assert str(info.value) == ("g.csv:2: K: the row does not end with a comma, and SCALE-Sim reads a row as "
                               "row.split(',')[:-1], dropping its last field, so it cannot run the row; end the "
                               "row with a comma (got '64')")
    with pytest.raises(ConfigError) as info:
        read_topology("c.csv")
    assert str(info.value).splitlines() == [
        "c.csv:2: Strides: the row does not end with a comma, and SCALE-Sim reads a row as row.split(',')[:-1], "
        "dropping its last field, so it cannot run the row; end the row with a comma (got '1')",
        "c.csv:3: Filter Width: missing: a row has 8 columns (Layer name, IFMAP Height, IFMAP Width, Filter Height, "
        "Filter Width, Channels, Num Filter, Strides)"]
    assert main(["run", "--scalesim-config", str(REFERENCE / "os_32x32.cfg"), "--topology", "g.csv", "-o", "out",
                 "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("accelsim: error: g.csv:2: K: the row does not end with a comma")


def _user_cfg(bank: int) -> str:
    """probe p217's ss_os_32x8_user1(_bank10).cfg: 32x8 os, 64 KiB SRAMs, USER, Bandwidth 1, the ifmap and filter
    bank bandwidths ``bank``."""
    return ("[general]\nrun_name = u\n[architecture_presets]\nArrayHeight: 32\nArrayWidth: 8\nIfmapSramSzkB: 64\n"
            "FilterSramSzkB: 64\nOfmapSramSzkB: 64\nBandwidth : 1\nDataflow : os\n[layout]\n"
            f"IfmapSRAMBankBandwidth: {bank}\nFilterSRAMBankBandwidth: {bank}\n[run_presets]\n"
            "InterfaceBandwidth: USER\n")


@pytest.mark.parametrize("bank", [1, 10])
def test_user_bandwidth_is_one_shared_link_with_a_note(tmp_path, monkeypatch, bank):
    """Probe p217 #2, convA (14x14x16 -> 40, 3x3, stride 1) on a 32x8 os array in USER mode at Bandwidth 1.
    accelsim's DRAM is one link of Bandwidth bytes a cycle that every transfer shares; SCALE-Sim 3.0 gives the
    ifmap and filter their layout bank bandwidths and the ofmap Bandwidth, each its own channel (single_layer_sim),
    which accelsim does not model: a note says so, and the bank bandwidths change nothing here.

    Hand: M = 12·12 = 144 (⌈(14 − 3 + 1)/1⌉ = 12), N = 40, K = 3·3·16 = 144. Compute (os): Fr = ⌈144/32⌉ = 5,
    Fc = ⌈40/8⌉ = 5, τ = 32 + 8 + 144 − 2 = 182, 25·182 − 1 = 4,549 cycles (SCALE-Sim 3.0's Total Cycles).
    DRAM bytes (everything fits the 32 KiB halves: each operand once): ifmap 14·14·16 = 3,136, filter
    3·3·16·40 = 5,760, ofmap 144·40 = 5,760, 14,656 in all (SCALE-Sim 3.0's DRAM bytes for this layer in CALC
    mode; in USER mode it streams its im2col operand matrices' words instead). At 1 B/cycle on one link the run takes at least 14,656 cycles, more than the compute: the link never idles, so
    it takes exactly that, with either bank bandwidth. (With SCALE-Sim's three channels at 1 B/cycle each, the
    same bytes would need max(3,136, 5,760, 5,760) = 5,760 link cycles: the shared link is up to 3x slower.)"""
    monkeypatch.chdir(tmp_path)
    Path("u.cfg").write_text(_user_cfg(bank))
    Path("convA.csv").write_text(CONV_HEADER + "convA, 14, 14, 3, 3, 16, 40, 1,\n")
    arch, graph = load_scalesim("u.cfg", "convA.csv")
    assert arch.bytes_per_cycle("hbm") == 1
    op = graph["convA"]
    assert op.gemm == Gemm(m=144, n=40, k=144, count=1)
    assert systolic.cycles(144, 40, 144, 32, 8, "os", 1) == 4549
    assert main(["run", "--scalesim-config", "u.cfg", "--topology", "convA.csv", "-o", "out", "--no-plots",
                 "-q"]) == 0
    report = json.loads(Path("out/report.json").read_text())
    assert report["bytes"]["hbm"] == 3136 + 5760 + 5760
    assert report["total_cycles"] == 3136 + 5760 + 5760
    # InterfaceBandwidth is line 15 of _user_cfg's file
    assert [n for n in report["notes"] if "InterfaceBandwidth USER" in n] == [
        "u.cfg:15: run_presets.InterfaceBandwidth USER: DRAM here is one link of Bandwidth 1 byte(s) a cycle that "
        "the ifmap, filter and ofmap transfers of accelsim's tiling share; SCALE-Sim gives each its own channel, "
        f"running at once (3.0: ifmap at layout.IfmapSRAMBankBandwidth ({bank}), filter at "
        f"layout.FilterSRAMBankBandwidth ({bank}), ofmap at Bandwidth; v2: Bandwidth for all three), moves its "
        "operand matrices' words and counts their prefetch apart from its Total Cycles, so this run's memory-bound "
        "cycles and stalls are not SCALE-Sim's (its compute cycles are)"]
