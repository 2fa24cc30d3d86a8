"""Tiling worked by hand: traffic = bytes · (reads per byte), reads = the counts of the enclosing loops an operand
does not depend on (k innermost; loops of count 1 drop out)."""

import pytest

from accelsim import __version__
from accelsim.builders import build_workload
from accelsim.engine import simulate
from accelsim.errors import MappingError
from accelsim.hardware import Arch, Sram
from accelsim.mapping import lower
from accelsim.mapping.tiling import tile_gemm, tile_gemm_shared
from accelsim.options import Options
from accelsim.report import build_report


def test_everything_fits_moves_compulsory_bytes():
    t = tile_gemm(64, 64, 64, 100, 100, 100, 1000, 1000, 1000)
    assert (t.nm, t.nn, t.nk, t.a_reads, t.b_reads) == (1, 1, 1, 1, 1)
    assert t.traffic(100, 100, 100) == 300


def test_filter_split_keeps_reads_at_one():
    # B = 4096 B into 1024 B buffers → 4 column tiles (nn = 4); A (4096 B) fits whole and stays for all four,
    # each B tile is read once: traffic = 4096 + 4096 + 4096 = 12288
    t = tile_gemm(64, 64, 64, 4096, 4096, 4096, 8192, 1024, 8192)
    assert (t.nm, t.nn, t.nk) == (1, 4, 1)
    assert (t.a_reads, t.b_reads) == (1, 1)
    assert t.traffic(4096, 4096, 4096) == 12288


def test_nothing_fits_picks_the_least_traffic_split():
    # 4096 B each, 1024 B buffers.
    # nk=1: nm=nn=4 (4096/4 = 1024 each): loops m(4), n(4): A read once, B 4× → 4096 + 16384 + 4096 = 24576
    # nk=2: nm=nn=2 (4096/(2·2) = 1024): loops m(2), n(2), k(2): A read 2× (n encloses k), B 2× (m)
    #       → 8192 + 8192 + 4096 = 20480 (the minimum)
    # nk≥4: the C tile forces nm·nn ≥ 4 again and one operand is read 4× → 24576
    t = tile_gemm(64, 64, 64, 4096, 4096, 4096, 1024, 1024, 1024)
    assert (t.nm, t.nn, t.nk) == (2, 2, 2)
    assert (t.a_reads, t.b_reads) == (2, 2)
    assert t.traffic(4096, 4096, 4096) == 20480


def test_resident_operand_needs_no_buffer():
    # A already on chip (0 bytes): only B (4096 B, 1024 B buffer → 4 tiles, read once) and C move
    t = tile_gemm(64, 64, 64, 0, 4096, 0, 0, 1024, 0)
    assert t.traffic(0, 4096, 0) == 4096


def test_tile_that_cannot_fit_names_the_op():
    with pytest.raises(MappingError, match="'conv9'"):
        tile_gemm(4, 4, 4, 64, 64, 64, 0, 0, 0, "conv9")


@pytest.mark.parametrize("budgets, buffer", [((3, 4, 4), "ifmap"), ((4, 3, 4), "filter"), ((4, 4, 3), "ofmap")])
def test_tile_that_cannot_fit_names_the_buffer_too_small(budgets, buffer):
    # 64 B over 4·4 elements = 4 B an element: a buffer of 3 B holds no element of its operand, 4 B holds one
    with pytest.raises(MappingError) as e:
        tile_gemm(4, 4, 4, 64, 64, 64, *budgets, "conv9")
    assert e.value.arch_key == ("core", "sram", buffer)


# --- one shared budget (a unified buffer): A/(nm·nk) + B/(nk·nn) + C/(nm·nn) ≤ budget (tile_gemm_shared) ---

def test_shared_budget_admits_a_tiling_thirds_do_not():
    # 4096 B each, one 3072 B budget (a 6 KiB unified buffer, double-buffered). In thirds (1024 B each) the best is
    # (2, 2, 2) above: 20480 B. Shared: the whole C (4096 B) does not fit, so m or n is split; a split m re-reads B
    # unless B stays whole with nn = nk = 1 (then A/2 + B + C/2 = 8192 > 3072), a split n re-reads A likewise, so
    # at least one operand is read twice: ≥ 4096·2 + 4096 + 4096 = 16384 B. (2, 6, 1), order mn (m outer: A once,
    # B once per m tile) reaches it in 12 tiles: 4096/2 + 4096/6 + 4096/12 = 2048 + 683 + 341 = 3072 ≤ 3072
    # (in integers: 4096·6 + 4096·2 + 4096·1 = 36864 = 3072·2·6·1). Thirds reject it: its A tile, 2048 B, is
    # twice the 1024 B ifmap third. (6, 2, 1) order nm ties; the search keeps the first it meets (m splits first).
    # But 64 columns in 6 tiles are tiles of 10 or 11 columns, and the largest must fit (probe p156 #1): 64·11 =
    # 704 B of B (4096 B over 64×64 elements: 1 B each), 32·11 = 352 B of C, 2048 + 704 + 352 = 3104 > 3072. The
    # largest n tile may be 1024 / (64 + 32) = 10.67 → 10 columns: ⌈64/10⌉ = 7 tiles (of 9 or 10 columns), 2048 +
    # 640 + 320 = 3008 ≤ 3072, the same 16384 B in 14 tiles.
    t = tile_gemm_shared(64, 64, 64, 4096, 4096, 4096, 3072)
    assert (t.nm, t.nn, t.nk, t.order) == (2, 7, 1, "mn")
    assert (t.a_reads, t.b_reads) == (1, 2)
    assert t.traffic(4096, 4096, 4096) == 16384
    thirds = tile_gemm(64, 64, 64, 4096, 4096, 4096, 1024, 1024, 1024)
    assert thirds.traffic(4096, 4096, 4096) == 20480


def test_shared_budget_fits_whole_at_the_bound():
    # 1000 + 1000 + 1000 = 3000 B: one tile in a 3000 B budget, every byte moved once; 2999 B needs a split
    t = tile_gemm_shared(64, 64, 64, 1000, 1000, 1000, 3000)
    assert (t.nm, t.nn, t.nk) == (1, 1, 1)
    assert t.traffic(1000, 1000, 1000) == 3000
    assert tile_gemm_shared(64, 64, 64, 1000, 1000, 1000, 2999).tiles > 1


def test_shared_budget_resident_operand_takes_no_room():
    # A on chip (0 B), no output to store: B (4096 B) alone in 1024 B → 4 column tiles (nn = 4), each read once
    t = tile_gemm_shared(64, 64, 64, 0, 4096, 0, 1024)
    assert (t.nm, t.nn, t.nk) == (1, 4, 1)
    assert t.traffic(0, 4096, 0) == 4096


def test_shared_budget_too_small_names_the_op():
    # 64 B over 4·4 elements = 4 B per element: one element each of A, B and C is 12 B > 8 B
    with pytest.raises(MappingError, match="'conv9'") as e:
        tile_gemm_shared(4, 4, 4, 64, 64, 64, 8, "conv9")
    assert e.value.arch_key == ("core", "sram", "unified")
    assert tile_gemm_shared(4, 4, 4, 64, 64, 64, 12).tiles == 64  # 12 B holds one element of each: 4·4·4 tiles


def test_unified_sram_gives_the_tiles_one_budget():
    # 6 KiB unified, double-buffered: the three tiles share 3072 B; 1 KiB of resident activations leaves
    # (6144 - 1024) / 2 = 2560 B. The same buffer in thirds gives 1024 B a tile; split buffers share nothing.
    sram = Sram(unified=6144)
    assert sram.shared_budget() == 3072
    assert sram.shared_budget(reserved=1024) == 2560
    assert sram.tile_budgets() == (1024, 1024, 1024)
    assert Sram(unified=6144, double_buffered=False).shared_budget() == 6144
    assert Sram(ifmap=2048, filter=2048, ofmap=2048).shared_budget() is None


def _gemm_hbm_bytes(sram: dict, accumulator: str | None = None) -> tuple[int, dict]:
    systolic = {"rows": 4, "cols": 4} | ({"accumulator_dtype": accumulator} if accumulator else {})
    arch = Arch.model_validate({
        "name": "tiny", "clock": "1GHz", "dtype": "fp16", "cores": 1,
        "core": {"systolic": systolic, "vector": {"lanes": 16}, "sram": sram},
        "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s"}})
    graph = build_workload("gemm", {"m": 64, "n": 64, "k": 64, "dtype": "fp16"})
    tg = lower(graph, arch, Options())
    rep = build_report(graph, arch, tg, simulate(tg), name="t", workload={}, version=__version__)
    return rep["bytes"]["hbm"], rep["ops"][0]["mapping"]["tiling"]


def test_mapper_tiles_a_unified_buffer_against_one_budget():
    # a 64×64×64 fp16 GEMM: A, B and C are 8192 B each, the partial sums held at fp16 too (accumulator_dtype fp16).
    # 12 KiB unified, double-buffered → one 6144 B budget: the case above at twice the bytes, 2 · 16384 = 32768 B
    # from HBM. But the 4×4 ws array lays n on its 4 columns, so n tiles are whole 4-column folds (16 of them):
    # (2, 7, 1)'s largest n tile is ⌈16/7⌉ = 3 folds, 12 columns: 32·64·2 + 64·12·2 + 32·12·2 = 4096 + 1536 + 768 =
    # 6400 B > 6144 B. Its twin (7, 2, 1), order nm (n outer: B once, A twice), cuts m, which ws streams (no fold
    # grain), into tiles of up to ⌈64/7⌉ = 10 rows: 10·64·2 + 64·32·2 + 10·32·2 = 1280 + 4096 + 640 = 6016 B ≤ 6144
    # (6 row tiles, 11 rows: 1408 + 4096 + 704 = 6,208 B, do not fit): the same 32768 B. Three split 4 KiB
    # buffers (2048 B a tile) give the thirds' (2, 2, 2): A and B read twice → 2·8192 + 2·8192 + 8192 = 40960 B.
    hbm, tiling = _gemm_hbm_bytes({"unified": "12KiB"}, "fp16")
    assert hbm == 32768 and (tiling["nm"], tiling["nn"], tiling["nk"], tiling["order"]) == (7, 2, 1, "nm")
    hbm, tiling = _gemm_hbm_bytes({"ifmap": "4KiB", "filter": "4KiB", "ofmap": "4KiB"}, "fp16")
    assert hbm == 40960 and (tiling["nm"], tiling["nn"], tiling["nk"]) == (2, 2, 2)


def test_the_output_tile_holds_fp32_partial_sums_by_default():
    # The same GEMM with the default accumulator: an fp16 output accumulates in fp32, so while K runs the output
    # tile takes 64·64·4 = 16384 B, not 8192; HBM still receives the 8192 B fp16 output once.
    # Unified 6144 B budget: a tiling fits when a·nn + b·nm + c·nk ≤ 6144·nm·nn·nk with a = b = 8192, c = 16384.
    # Unsplit k, nm = 2: 8192·nn + 16384 + 16384 ≤ 12288·nn → nn ≥ 8, and m outside n reads A once and B twice:
    # 8192 + 2·8192 + 8192 = 32768 B. Nothing moves less: all three once (24576 B) needs 32768 ≤ 6144 B; one
    # operand read once more is 32768 B, and nm = 1 (or nn = 1) fits for no nn (nm): 8192·nn + 8192 + 16384·nk >
    # 6144·nn·nk. Among the 32768 B tilings (2, 8, 1) has the fewest tiles (16) and comes first.
    hbm, tiling = _gemm_hbm_bytes({"unified": "12KiB"})
    assert hbm == 32768 and (tiling["nm"], tiling["nn"], tiling["nk"]) == (2, 8, 1)
    # Split 4 KiB buffers, 2048 B a tile: A needs nm·nk ≥ 4, B nn·nk ≥ 4, the partial sums nm·nn ≥ 16384 / 2048 = 8
    # (with fp16 ones, 4: the (2, 2, 2) above). Split k reads A nn and B nm times: (2, 4) → 8192·(4 + 2) + 8192 =
    # 57344 B. Unsplit k needs nm ≥ 4 and nn ≥ 4 (16 ≥ 8 tiles of C), m outside n reads A once and B 4 times:
    # 8192 + 4·8192 + 8192 = 49152 B, the least.
    hbm, tiling = _gemm_hbm_bytes({"ifmap": "4KiB", "filter": "4KiB", "ofmap": "4KiB"})
    assert hbm == 49152 and (tiling["nm"], tiling["nn"], tiling["nk"]) == (4, 4, 1)


def _gemmini_gemm(m: int, n: int, k: int, *overrides: str) -> tuple[int, dict]:
    from accelsim import api
    from accelsim.config import experiment_from_parts

    spec = experiment_from_parts("gemm", "gemmini", overrides=[f"workload.m={m}", f"workload.n={n}",
                                                               f"workload.k={k}", *overrides])
    rep = api.run_experiment(spec).to_dict()
    return rep["bytes"]["hbm"], rep["ops"][0]["mapping"]["tiling"]


def test_gemmini_accumulator_decides_the_output_tile():
    # Gemmini's defaultConfig: a 128 KiB accumulator of int32 (accType SInt(32), arch/gemmini.yaml), 32,768 partial
    # sums, double-buffered: an output tile of at most 16,384 of them (64 KiB), while the int8 output alone would
    # allow 65,536. A 512×512×4096 int8 GEMM: A = B = 2 MiB, the ifmap and filter tiles 32 KiB (half of 64 KiB
    # each) → nm·nk ≥ 64 and nn·nk ≥ 64; the partial sums 512·512·4 B = 1 MiB / 64 KiB → nm·nn ≥ 16. Split k
    # reads A nn and B nm times: 2 MiB·(nm + nn) + 256 KiB of output, least at nm = nn = 4 (128×128 tiles,
    # nk = 64 / 4 = 16): 16 MiB + 256 KiB = 17,039,360 B.
    hbm, tiling = _gemmini_gemm(512, 512, 4096)
    assert (tiling["nm"], tiling["nn"], tiling["nk"]) == (4, 4, 16) and hbm == 16 * 2**20 + 2**18
    # at the output's own int8 the tile could be 256×256 (nm·nn ≥ 256 KiB / 64 KiB = 4): (2, 2, 32), 8 MiB + 256 KiB
    hbm, tiling = _gemmini_gemm(512, 512, 4096, "arch.core.systolic.accumulator_dtype=int8")
    assert (tiling["nm"], tiling["nn"], tiling["nk"]) == (2, 2, 32) and hbm == 8 * 2**20 + 2**18


def test_gemmini_sram_bytes_count_partial_sums_at_the_accumulator_width():
    # The array's SRAM accesses of a 512×512×4096 int8 GEMM on Gemmini's 16×16 ws array (cost/systolic.py
    # sram_operand_bytes): ws holds B stationary, K down the rows (F_r = 4096 / 16 = 256 folds), N across the
    # columns (F_c = 512 / 16 = 32). A (512·4096) streams once per column fold: 67,108,864 B; B (4096·512) once:
    # 2,097,152 B; the output (512·512 = 262,144 elements) once per row fold, 255 times as an int32 partial sum
    # (4 B) and the last time as the finished int8 output (1 B), and read back as an int32 partial sum by every fold
    # but the first, 255 · 4 B (a read-modify-write, Gemmini's AccumulatorMem; probe p229 #1: these reads had been
    # left out, 267,649,024 B): 262,144 · (255·4 + 1 + 255·4) = 535,035,904 B.
    from accelsim import api
    from accelsim.config import experiment_from_parts

    def run(*overrides: str) -> dict:
        spec = experiment_from_parts("gemm", "gemmini", overrides=["workload.m=512", "workload.n=512",
                                                                   "workload.k=4096", *overrides])
        return api.run_experiment(spec).to_dict()

    wide, narrow = run(), run("arch.core.systolic.accumulator_dtype=int8")
    a, b = 512 * 4096 * 32, 4096 * 512
    assert wide["ops"][0]["mapping"]["sram_operand_bytes"] == a + b + 512 * 512 * (255 * 4 + 1 + 255 * 4) \
        == 604_241_920
    # 1-byte partial sums (SCALE-Sim's one word size): every output access at 1 B, 256 writes and 255 reads,
    # 262,144 · 511 = 133,955,584 B
    assert narrow["ops"][0]["mapping"]["sram_operand_bytes"] == a + b + 512 * 512 * (256 + 255) == 203_161_600
    # bytes.sram adds the fills from DRAM (its HBM bytes); its energy is per byte, so it follows
    for rep in (wide, narrow):
        assert rep["bytes"]["sram"] == rep["ops"][0]["mapping"]["sram_operand_bytes"] + rep["bytes"]["hbm"]
    per_byte = [rep["energy"]["by_level"]["sram"] / rep["bytes"]["sram"] for rep in (wide, narrow)]
    assert per_byte[0] == pytest.approx(per_byte[1])


def test_os_and_gpu_sram_bytes_write_each_output_once():
    # os keeps the partial sums in its PEs: the output is stationary and written once, at its own width. A 64×64×64
    # int8 GEMM on a 16×16 os array: M and N spatial (F_r = F_c = 4 folds), A (64·64) once per column fold, B once
    # per row fold: 4096 · 4 · 2 = 32,768 B, C 4096 · 1 B: 36,864 B whatever the accumulator.
    from accelsim.cost import folds
    from accelsim.cost.systolic import sram_operand_bytes
    from accelsim.ir import Gemm

    g = Gemm(64, 64, 64)
    f = folds.folds(64, 64, 64, 16, 16, "os", False)
    assert sram_operand_bytes(g, f, "os", 1, None, 4, 1) == sram_operand_bytes(g, f, "os", 1) == 36_864
    # ws: K folds F_r = 4, N folds F_c = 4: A 4096 · 4, B 4096, C 4096 · (3·4 + 1) written and 3·4 read back by
    # folds 2-4 to add to (probe p229 #1: the reads had been left out, 73,728 B): 4096 · 25 = 122,880 B
    f = folds.folds(64, 64, 64, 16, 16, "ws", False)
    assert sram_operand_bytes(g, f, "ws", 1, None, 4, 1) == 4096 * 4 + 4096 + 4096 * (13 + 12) == 122_880
    # a GPU (core.tile) accumulates in registers and counts per CTA tile, not per fold of its MMA array (probe p127
    # #1: the 32×32 array's F_r = F_c = 32 folds had read A and B 32 times each, 136,314,880 B): a100's 1024³ bf16
    # GEMM runs 128 × 64 tiles (8 · 16 = 128 of them), each reading its A and B panels from shared memory once,
    # (128 + 64) · 1024 · 2 B, and writing its output once, 1024² · 2 B
    from accelsim import api
    from accelsim.config import experiment_from_parts

    spec = experiment_from_parts("gemm", "a100", overrides=["workload.m=1024", "workload.n=1024", "workload.k=1024",
                                                            "workload.dtype=bf16"])
    mapping = api.run_experiment(spec).to_dict()["ops"][0]["mapping"]
    assert mapping["tile"] == [128, 64] and mapping["output_tiles"] == 8 * 16
    assert mapping["sram_operand_bytes"] == (128 + 64) * 1024 * 2 * 128 + 1024**2 * 2 == 52_428_800


def test_an_output_that_fits_as_partial_sums_tiles_as_before():
    # 64×64×4096 int8: the partial sums 64·64·4 = 16 KiB fit the 64 KiB half of the accumulator unsplit, so only A
    # and B (256 KiB each, 32 KiB tiles: nk = 8) decide, whatever the accumulator: each operand once, 256 KiB ·
    # 2 + 4 KiB of output = 528,384 B.
    for overrides in ((), ("arch.core.systolic.accumulator_dtype=int8",)):
        hbm, tiling = _gemmini_gemm(64, 64, 4096, *overrides)
        assert (tiling["nm"], tiling["nn"], tiling["nk"]) == (1, 1, 8) and hbm == 2 * 2**18 + 2**12


def test_an_output_stationary_ofmap_tile_holds_outputs_at_their_width():
    # probe p78 #1: a 100×50×40 int8 gemm (A 4,000 B, B 2,000 B, C 5,000 B) on a 17×13 array with 64 KiB ifmap and
    # filter buffers (A and B fit whole) and a 104 B ofmap buffer, 52 B a half. os keeps its partial sums in the PEs,
    # so C's tiles hold int8 outputs. Its largest tile must fit (probe p156 #1): one os fold of C, 17 × 13 = 221 B,
    # does not, so the tiles are narrower (element tiles). The least bytes, nn = 1 (50 columns, 50 B) with 1 row a
    # tile, nm = 100, reads A and B once, 4,000 + 2,000 + 5,000 = 11,000 B, but each 1 × 50 tile runs ⌈1/17⌉·⌈50/13⌉
    # = 4 folds of τ = R + C + T − 2 = 17 + 13 + 40 − 2 = 68 cycles: 100·(4·68 − 1) = 27,100 cycles. The narrow
    # search ranks by estimated time (probe p188 #1: before, by bytes alone, this test asked for (100, 1, 1)):
    # nm = 2, nn = 50, tiles of 50 rows × 1 column (50 B at the outputs' 1 B; as 4-byte partial sums 200 B would not
    # fit), ⌈50/17⌉·1 = 3 folds each, 100·(3·68 − 1) = 20,300 cycles; m outer reads B twice, 4,000 + 2·2,000 +
    # 5,000 = 13,000 B, the 2,000 B more costing 0.2 cycles at 10 TB/s and 1 GHz. ws streams 4-byte partial sums through the buffer: 52 / 4 = 13 elements a tile, the
    # 13 columns of one ws fold (n on the array's 13 columns: ⌈50/13⌉ = 4 folds, nn = 4) by one row: nm = 100,
    # 400 tiles (the average's 97·4 = 388 had tiles of 2 rows, 104 B), n outer reads A nn = 4 times: 16,000 +
    # 2,000 + 5,000 = 23,000 B
    from accelsim import api
    from accelsim.config import experiment_from_parts

    arch = ("arch={name: s, clock: 1GHz, dtype: int8, core: {systolic: {rows: 17, cols: 13}, vector: {lanes: 16}, "
            "sram: {ifmap: 64KiB, filter: 64KiB, ofmap: 104B}}, hbm: {capacity: 1GiB, bandwidth: 10TB/s}}")
    seen = {}
    for dataflow in ("os", "ws"):
        spec = experiment_from_parts("gemm", "gemmini", overrides=[
            "workload.m=100", "workload.n=50", "workload.k=40", arch, f"arch.core.systolic.dataflow={dataflow}"])
        rep = api.run_experiment(spec).to_dict()
        t = rep["ops"][0]["mapping"]["tiling"]
        seen[dataflow] = (rep["bytes"]["hbm"], t["nm"] * t["nn"], t["a_reads"], t["b_reads"])
        if dataflow == "os":
            os_cycles = rep["ops"][0]["compute_cycles"]
    assert seen == {"os": (13_000, 100, 1, 2), "ws": (23_000, 400, 4, 1)}
    assert os_cycles == 100 * (3 * (17 + 13 + 40 - 2) - 1) == 20_300


def test_partial_sum_bytes():
    # int32 / fp32 by default, never narrower than the output (fp64: 8 B); an arch's accumulator_dtype where it
    # names one (eyeriss-like's 16-bit psums, SCALE-Sim's 1-byte words); a GPU's output tiles accumulate in
    # registers, so its SRAM holds outputs at their own width
    from accelsim.config import load_arch

    gemmini, tpu, a100 = load_arch("gemmini"), load_arch("tpu-v4"), load_arch("a100")
    assert [gemmini.core.partial_sum_bytes(d) for d in ("int8", "bf16", "fp32", "fp64")] == [4, 4, 4, 8]
    assert tpu.core.partial_sum_bytes("bf16") == 4
    assert load_arch("eyeriss-like").core.partial_sum_bytes("int16") == 2
    assert load_arch("scalesim-32x32").core.partial_sum_bytes("int8") == 1
    assert a100.core.tile is not None and a100.core.partial_sum_bytes("bf16") == 2


def test_a_resident_output_tile_takes_only_the_widening():
    # sram_reads on a 512×512×4096 int8 GEMM with Gemmini's tile budgets (32 KiB ifmap and filter tiles, 64 KiB of
    # ofmap): A = B = 2 MiB, so nm·nk ≥ 64 and nn·nk ≥ 64, and split k reads A nn and B nm times.
    from accelsim.mapping.plan import Plan
    from accelsim.mapping.traffic import sram_reads

    op = build_workload("gemm", {"m": 512, "n": 512, "k": 4096, "dtype": "int8"}).ops[0]
    p, mib, out = Plan(op=op, index=0), 2**20, 512 * 512
    budgets = (32 * 1024, 32 * 1024, 64 * 1024)
    # written to memory (out_off = 262,144 B): 4-byte partial sums, 1 MiB / 64 KiB → nm·nn ≥ 16: (4, 4)
    fa, fb, _, tiling = sram_reads(p, 2 * mib, 2 * mib, out, budgets, None, 4)
    assert (fa, fb, tiling["nm"], tiling["nn"]) == (4, 4, 4, 4)
    # kept on chip (out_off = 0): its int8 bytes are held with the resident activations, the tile takes the other
    # 3 B of each partial sum: 768 KiB / 64 KiB → nm·nn ≥ 12 on average, but the largest tile must fit (probe p156
    # #1; this Plan names no array, so no fold grain: near-equal tiles): 3 × 4 has tiles of up to ⌈512/3⌉ = 171
    # rows × 128 columns, 171·128·3 = 65,664 B > 65,536 B (4 × 3 likewise). nm + nn = 8 fits: (4, 4) 128·128·3 =
    # 49,152 B, (3, 5) and (5, 3) 171·103·3 = 52,839 B, all reading A and B 8 times together; the fewest tiles
    # win: (4, 4) with k in 16 tiles of 256 (128 × 256 B = 32 KiB of A), 256 tiles, against (3, 5)'s k in
    # ⌈4096 / ⌊32,768/171⌋⌉ = ⌈4096/191⌉ = 22 tiles, 330
    fa, fb, _, tiling = sram_reads(p, 2 * mib, 2 * mib, 0, budgets, None, 4)
    assert (fa, fb, tiling["nm"], tiling["nn"], tiling["nk"]) == (4, 4, 4, 4, 16)
    # partial sums no wider than the output: a resident output takes no tile room, each operand is read once
    fa, fb, _, tiling = sram_reads(p, 2 * mib, 2 * mib, 0, budgets, None, 1)
    assert (fa, fb, tiling["nm"], tiling["nn"], tiling["nk"]) == (1, 1, 1, 1, 64)


def test_os_partial_sums_wait_in_the_buffer_only_where_k_is_split():
    # an output-stationary array's PEs hold a tile's partial sums while its k runs unbroken; with k split they wait in
    # the ofmap buffer between k steps, at the accumulator's width (c_split). A 64×64×4096 int8 GEMM: A and B 262,144 B
    # each, C 4,096 B of int8 outputs (16,384 B of int32 partial sums), every buffer 16,384 B (C's 4,096 B budget).
    # A alone needs nm·nk ≥ 262,144 / 16,384 = 16 and B nk·nn ≥ 16.
    a = b = 64 * 4096
    # outputs only: one C tile, k split 16 ways, A and B read once
    t = tile_gemm(64, 64, 4096, a, b, 64 * 64, 16_384, 16_384, 4096)
    assert (t.nm, t.nn, t.nk, t.a_reads, t.b_reads) == (1, 1, 16, 1, 1)
    # partial sums once k is split: nm·nn ≥ 16,384 / 4,096 = 4; the least nm·b + nn·a is nm = nn = 2 (A and B read
    # twice each, 1,048,576 B), k split ⌈262,144 / (16,384·2)⌉ = 8 ways; unsplit k would need nm ≥ 16 and nn ≥ 16
    t = tile_gemm(64, 64, 4096, a, b, 64 * 64, 16_384, 16_384, 4096, c_split=4 * 64 * 64)
    assert (t.nm, t.nn, t.nk, t.a_reads, t.b_reads) == (2, 2, 8, 2, 2)
