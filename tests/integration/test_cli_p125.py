"""Probe p125 end to end, on its 4-core NPU (128 vector lanes and a unified scratchpad a core at 1 GHz, a 2 TB/s L2
of 20 ns, 32 GiB of 800 GB/s HBM): #1, a memory's latency is hidden only as far as the scratchpad can keep bytes in
flight (Little's law, ``mapping/emit.py``); #2, a scratchpad larger than the main memory is refused at its key."""

from __future__ import annotations

from accelsim.cli import main

NPU = """\
name: mynpu
clock: 1GHz
dtype: bf16
cores: 4
core:
  systolic: {rows: 128, cols: 128, dataflow: ws}
  vector: {lanes: 128}
  sram:
    unified: 8MiB
    double_buffered: true
l2: {capacity: 32MiB, bandwidth: 2TB/s, latency: 20ns, access_bytes: 64}
hbm:
  capacity: 32GiB
  bandwidth: 800GB/s
  latency: 200ns
  access_bytes: 64
"""

def test_a_scratchpad_larger_than_the_main_memory_is_refused_at_its_key(tmp_path, capsys):
    # probe p125 #2: 8 TiB a core in front of 32 GiB of HBM (TiB written for MiB) ran, exit 0; a cache that large is
    # refused, and one core's scratchpad holds tiles of main memory's data just as a cache holds copies of it
    path = tmp_path / "bad7.yaml"
    path.write_text(NPU.replace("unified: 8MiB", "unified: 8TiB"))
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"accelsim: error: {path}:9: core.sram.unified: the scratchpad 'core.sram' (8TiB a core) is larger "
                   f"than the main memory 'hbm' behind it (hbm.capacity: 32GiB, {path}:13); a scratchpad holds tiles "
                   "of the memories' data, so one core's cannot be larger than main memory"), err
    # split buffers: their sum a core (12 + 12 + 12 GiB = 36 GiB > 32 GiB), at the first split key
    split = tmp_path / "split.yaml"
    split.write_text(NPU.replace("unified: 8MiB", "ifmap: 12GiB\n    filter: 12GiB\n    ofmap: 12GiB"))
    assert main(["info", str(split)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"accelsim: error: {split}:9: core.sram.ifmap: the scratchpad 'core.sram' (36GiB a core) "
                          "is larger than the main memory 'hbm'"), err
    # per core, not cores x per core: 4 cores of 10 GiB (40 GiB in all) in front of 32 GiB load (a chip may hold
    # more SRAM in all than a small main memory; one core's tiles cannot outgrow it)
    fine = tmp_path / "fine.yaml"
    fine.write_text(NPU.replace("unified: 8MiB", "unified: 10GiB"))
    assert main(["info", str(fine)]) == 0
    capsys.readouterr()
    # the main memory shrunk last, by --set: at its capacity, naming the scratchpad's line
    assert main(["info", str(fine), "--set", "arch.hbm.capacity=8GiB"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"accelsim: error: --set: arch.hbm.capacity: the main memory 'hbm' (8GiB) is smaller than one "
                   f"core's scratchpad in front of it (core.sram: 10GiB, {fine}:9); a scratchpad holds tiles of the "
                   "memories' data, so one core's cannot be larger than main memory"), err
