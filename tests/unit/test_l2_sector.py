"""Probe p214 #5: an NVIDIA L2 moves data to and from the SMs in 32-byte sectors (CUPTI's ``l2_transactions``, "the
total number of 32 bytes transactions to L2 cache"; a 128-byte line is 4 sectors), so the GPU presets'
``l2.access_bytes`` is 32, not the 128-byte line: a gathered row narrower than a line moves whole sectors. The SRAM
rule's port width is its own field, ``l2.port_bits`` (the NVIDIA presets keep the 1024-bit line the rule priced
before), so the energy per L2 bit does not move with the transfer granule."""

from __future__ import annotations

import json
import math

import pytest

from accelsim import config
from accelsim.cli import main
from accelsim.errors import AccelsimError
from accelsim.hardware import Level

# Cora (PyG Planetoid): 2,708 nodes, 10,556 directed edges; GATConv adds a self-loop per node: E' = 13,264 gathers
EDGES = 10_556 + 2_708


def _rows(bytes_per_row: int, granule: int) -> int:
    """Bytes a row of a back-to-back table moves at naturally aligned ``granule``-byte accesses, on average:
    row + granule - gcd(row, granule) (cost/gather.py row_bytes' rule, written out here for the hand figures)."""
    return bytes_per_row + granule - math.gcd(bytes_per_row, granule)


def _gat_l2(tmp_path, *sets: str) -> dict[str, int]:
    out = tmp_path / ("run" + str(len(sets)))
    argv = ["run", "-w", "gat_cora", "-a", "a100", "--set", "options.execution=cuda_graph", "-q", "-o", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    return {op["name"]: op["bytes"].get("l2", 0) for op in report["ops"]} | {"_total": report["bytes"]["l2"],
                                                                              "_seconds": report["seconds"]}


def test_hand_figures_of_the_gathered_rows():
    # conv2 (1 head of 7 classes, bf16): alpha_edge gathers one 2-B logit per edge, propagate a 14-B row (7 x 2 B)
    assert (_rows(2, 128), _rows(2, 32)) == (128, 32)  # 2 + 128 - 2; 2 + 32 - 2
    assert (_rows(14, 128), _rows(14, 32)) == (140, 44)  # 14 + 128 - gcd 2; 14 + 32 - 2
    # conv1 (8 heads of 8, bf16): alpha_edge an 8 x 2 = 16-B row, propagate 64 x 2 = 128 B, a whole line either way
    assert (_rows(16, 128), _rows(16, 32)) == (128, 32)
    assert (_rows(128, 128), _rows(128, 32)) == (128, 128)


def test_gat_cora_gathers_move_32_byte_sectors_at_l2(tmp_path):
    sector = _gat_l2(tmp_path)  # the preset: access_bytes 32
    line = _gat_l2(tmp_path, "arch.l2.access_bytes=128")  # the 128-byte line the preset had before
    # each narrow gather moves E' x (line bytes - sector bytes) more at 128 B; the rest of the op's L2 bytes are the
    # same: 13,264 x (128 - 32) = 13,264 x (140 - 44) = 1,273,344 B
    saved = EDGES * (128 - 32)
    assert saved == 1_273_344
    for op, per_row in (("conv2.alpha_edge", (128, 32)), ("conv2.propagate", (140, 44)),
                        ("conv1.alpha_edge", (128, 32))):
        assert line[op] - sector[op] == EDGES * (per_row[0] - per_row[1]) == saved, op
    assert line["conv1.propagate"] == sector["conv1.propagate"]  # 128-B rows: whole lines, whole sectors
    # probe p214 #5's figures: conv2.alpha_edge 1,941,960 -> 668,616 B, conv2.propagate 2,133,624 -> 860,280 B
    assert sector["conv2.alpha_edge"] == 1_941_960 - saved == 668_616
    assert sector["conv2.propagate"] == 2_133_624 - saved == 860_280
    # the run's L2 total drops by the three narrow gathers only, 3 x 1,273,344 = 3,820,032 B (30.66 -> 26.84 MB)
    assert line["_total"] - sector["_total"] == 3 * saved
    assert sector["_seconds"] == line["_seconds"]  # the L2 bandwidth does not bound these gathers: time unchanged


def _info(capsys, *argv: str) -> dict:
    assert main(["info", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_l2_energy_per_bit_keeps_the_line_port(capsys):
    info = _info(capsys, "a100")
    pj = info["energy"]["level_pj_per_byte"]
    # the SRAM rule (docs/energy.md): an access of a w-bit port to C bytes costs sram_pj x sqrt(C / 8 KiB) x
    # sqrt(w / 64), so a byte costs 8 / w of that. a100's scratchpad (164 KiB shared memory, unified) and its L2
    # (40 MiB) are both read at 1024 bits (energy.sram_port_bits 1024; l2.port_bits 1024), so
    # L2 / scratchpad per byte = sqrt(40 MiB / 164 KiB) = sqrt(41,943,040 / 167,936) = 15.80
    assert pj["l2"] / pj["sram"] == pytest.approx(math.sqrt(41_943_040 / 167_936), rel=1e-12)
    # the price before access_bytes became 32 (port = 128 B x 8 = 1024 bits) is the price now: 1.731 pJ/B
    before = _info(capsys, "a100", "--set", "arch.l2.access_bytes=128", "--set", "arch.l2.port_bits=1024")
    assert before["energy"]["level_pj_per_byte"]["l2"] == pytest.approx(pj["l2"], rel=1e-12)
    # a port of the 32-byte sector (256 bits) would price a byte sqrt(1024 / 256) = 2x: per bit ~ 1 / sqrt(w)
    narrow = _info(capsys, "a100", "--set", "arch.l2.port_bits=256")
    assert narrow["energy"]["level_pj_per_byte"]["l2"] == pytest.approx(2 * pj["l2"], rel=1e-12)
    # the other NVIDIA presets: transfer granule 32 B, port 1024 bits; AMD's L2 takes whole 128-B lines (every
    # request is one line: rocprofiler-compute docs, l2-cache.rst), its port the default 128 x 8
    for name, granule, port in (("h100", 32, 1024), ("h200", 32, 1024), ("b200", 32, 1024), ("l40s", 32, 1024),
                                ("a100-pcie", 32, 1024), ("mi210", 128, 1024), ("mi300x", 128, 1024)):
        l2 = config.load_arch(name, []).memory("l2")
        assert (l2.access_bytes, l2.energy_port_bits) == (granule, port), name


def test_port_bits_defaults_to_the_granule():
    # a cache written without port_bits (user files, the non-GPU presets) is priced as before: access_bytes x 8
    cache = Level(role="cache", capacity="1MiB", bandwidth="1TB/s", access_bytes=64)
    assert (cache.port_bits, cache.energy_port_bits) == (None, 512)
    wide = Level(role="cache", capacity="1MiB", bandwidth="1TB/s", access_bytes=32, port_bits=1024)
    assert wide.energy_port_bits == 1024


@pytest.mark.parametrize(("setting", "message"), [
    ("arch.l2.port_bits=0", "arch.l2.port_bits: Input should be greater than 0"),
    ("arch.l2.port_bits=abc", "arch.l2.port_bits: Input should be a valid integer"),
    ("arch.l2.port_bits=true", "arch.l2.port_bits: expected a number, not a boolean"),
    # 40 MiB = 335,544,320 bits: a read wider than the cache is no read of it
    ("arch.l2.port_bits=335544328", "arch.l2.port_bits: 335544328 bits is more than the level's capacity"),
    ("arch.hbm.port_bits=512", "arch.hbm.port_bits: only a cache level's energy follows the SRAM rule"),
])
def test_bad_port_bits_is_one_line_exit_2(capsys, tmp_path, setting, message):
    assert main(["run", "-w", "gemm", "-a", "a100", "--set", setting, "-q", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert message in err


def test_port_bits_on_a_memory_in_a_file_names_its_line(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("base: a100\nname: sidecar\nlevels:\n  cxl: {role: memory, capacity: 1GiB, bandwidth: 1GB/s, "
                 "port_bits: 8, after: hbm}\n")
    with pytest.raises(AccelsimError, match=r"a\.yaml:4: levels\.cxl\.port_bits: only a cache level"):
        config.load_arch(str(f), [])
