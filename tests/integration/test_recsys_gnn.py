"""DLRM and GNNs end to end: table placement, host-link traffic, Zipf skew, aggregation cost."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import load_arch, load_workload

# four 1M-row tables of dim 128 in bf16 (256 MB each, 1 GB in all) and a small dense part
TABLES = "[1000000, 1000000, 1000000, 1000000]"


def _distinct(lookups: float, rows: int) -> float:
    """Expected distinct rows of ``lookups`` uniform draws from ``rows`` rows: rows · (1 − (1 − 1/rows)^lookups)."""
    return rows * (1 - (1 - 1 / rows) ** lookups)


def _on_chip(lookups: int, rows: int, cores: int = 2) -> int:
    """Look-ups of a uniform gather that repeat a row its core already DMA'd into its scratchpad (probe p209 #1):
    each of tpu-v4's 2 cores gathers lookups / 2 and reads its distinct rows once (they fit its 2,796,202-B
    filter buffer: 16 MiB VMEM / 3 / 2 double-buffered, whenever distinct × row ≤ that)."""
    return round(lookups * (1 - cores * _distinct(lookups / cores, rows) / lookups))


def _dlrm(access="uniform", batch=2048, **arch_overrides):
    wl = load_workload("dlrm_mlperf", [f"tables={TABLES}", f"batch={batch}", f"access={access}"])
    arch = load_arch("tpu-v4", [f"{k}={v}" for k, v in arch_overrides.items()])
    return simulate(wl, arch).to_dict()


def test_host_link_bytes_are_the_host_lookups_at_access_granularity():
    # 600 MB of HBM: after the dense part and the activations about two of the four tables fit; each table is
    # looked up 2048 times per batch; a look-up of a row of 128 bf16 (256 B) costs four of the host's 64 B granules
    # (a PCIe read completes in 64-B blocks: arch/tpu-v4.yaml host.access_bytes), 256 B. Of a core's 1,024 look-ups
    # into 1M rows, 1,024 − D(1,024, 10^6) ≈ 0.52 repeat a row it read (262 KB of rows fit its scratchpad): of the
    # 2,048, 2,048 · (1 − 2 · 1,023.48 / 2,048) ≈ 1.05, each memory's share of them served on chip (probe p209 #1)
    rep = _dlrm(**{"hbm.capacity": "600MB"})
    emb = [op for op in rep["ops"] if op["fn"] == "embedding_bag"]
    share = _on_chip(2048, 1_000_000) / 2048
    expected = 0
    for op in emb:
        split = rep["tables"][f"{op['name']}.weight"]
        host_lookups = 2048 - round(2048 * split["hbm_hit_fraction"])
        host_lookups -= round(host_lookups * share)
        expected += host_lookups * 256
        assert op["bytes"].get("host", 0) == host_lookups * 256
    assert expected > 0
    assert rep["bytes"]["host"] == expected  # nothing else of DLRM lives in host memory here
    assert rep["utilization"]["host"] > 0


def test_enough_hbm_removes_host_traffic_and_is_never_slower():
    small = _dlrm(**{"hbm.capacity": "600MB"})
    big = _dlrm(**{"hbm.capacity": "32GiB"})
    assert big["bytes"]["host"] == 0
    assert all(t["hbm_hit_fraction"] == 1.0 for t in big.get("tables", {}).values())
    assert big["total_cycles"] <= small["total_cycles"]


def test_zipf_skew_with_hot_rows_in_hbm_cuts_host_traffic():
    # the same HBM room holds the hottest rows; under Zipf(1.05) they serve far more of the look-ups
    uniform = _dlrm(access="uniform", **{"hbm.capacity": "600MB"})
    zipf = _dlrm(access="zipf", **{"hbm.capacity": "600MB"})
    assert zipf["bytes"]["host"] < uniform["bytes"]["host"] / 2


def test_whole_model_beyond_hbm_and_host_is_a_one_line_error():
    from accelsim.errors import MappingError

    with pytest.raises(MappingError, match=r"need \d+ B but hbm \(\d+ B\) and host \(\d+ B\)"):
        _dlrm(**{"hbm.capacity": "100MB", "host.capacity": "100MB"})


def test_gnn_aggregation_bytes_scale_with_edges_not_nodes_squared():
    base = simulate(load_workload("gcn_cora"), "tpu-v4", activations_on_chip=False).to_dict()
    double = simulate(load_workload("gcn_cora", ["edges=21112"]), "tpu-v4", activations_on_chip=False).to_dict()
    agg = [op for op in base["ops"] if op["kind"] == "spmm"]
    agg2 = {op["name"]: op for op in double["ops"] if op["kind"] == "spmm"}
    assert len(agg) == 2  # one aggregation per GCNConv
    for op in agg:
        # Cora: 10,556 edges + 2,708 self-loops gather 16-wide bf16 rows in layer 1 (32 B, packed at 32·r: always
        # within one 64 B HBM granule) and 7-wide in layer 2 (14 B at 14·r: on average 14 + 64 − gcd(14, 64) = 76 B
        # of granules, as a row crosses a boundary at 14 of every 32 even offsets); doubling the edges adds 10,556
        # gathered rows and 10,556 nonzeros of the CSR adjacency (an 8 B int64 column and a 2 B bf16 value each);
        # the in-order output store does not change
        width = 16 if op["name"].startswith("conv1") else 7
        rows = op["mapping"]["elements"] // width
        assert rows == 10_556 + 2_708
        row = {16: 64, 7: 14 + 64 - 2}[width]
        assert agg2[op["name"]]["bytes"]["hbm"] - op["bytes"]["hbm"] == 10_556 * row + 10_556 * (8 + 2)
    # a dense N×N aggregation would read 2,708² rows; the gather reads 13,264
    assert all(op["bytes"]["hbm"] < 2_708 ** 2 for op in agg)


def test_a_gcn_spmm_reads_its_csr_adjacency_gathered_rows_and_output_by_hand():
    # 6 nodes, 14 edges + 6 self-loops = 20 nonzeros; bf16 on tpu-v4, activations in HBM (64 B access granules).
    # conv1.propagate: 20 gathered rows of 16 bf16 (32 B, one 64 B granule each) = 1,280 B; the CSR adjacency
    # (torch_sparse SparseTensor: int64 rowptr and col, a bf16 value per nonzero) 7 × 8 + 20 × (8 + 2) = 256 B;
    # the (6, 16) bf16 output 192 B: 1,728 B. conv2.propagate: 20 rows of 4 bf16 (8 B → 64 B) = 1,280 B, the same
    # 256 B of adjacency, the (6, 4) output 48 B: 1,584 B
    wl = load_workload("gcn_cora", ["nodes=6", "edges=14", "features=8", "hidden=16", "classes=4"])
    ops = {op["name"]: op for op in simulate(wl, "tpu-v4", activations_on_chip=False).to_dict()["ops"]}
    assert ops["conv1.propagate"]["bytes"]["hbm"] == 20 * 64 + (7 * 8 + 20 * (8 + 2)) + 6 * 16 * 2 == 1_728
    assert ops["conv2.propagate"]["bytes"]["hbm"] == 20 * 64 + (7 * 8 + 20 * (8 + 2)) + 6 * 4 * 2 == 1_584


# ---- training: sparse tables (facebookresearch/dlrm's nn.EmbeddingBag(..., sparse=True)) --------------------------
@pytest.mark.parametrize("cores", [1, 2])
@pytest.mark.parametrize(("dtype", "per_elem", "dense_per_elem"), [
    # bytes per touched element: the gradient read (fp32: 4), the parameter read and written (2 × 4), Adam's m and
    # v read and written (2 × 2 × 4): 4 + 8 + 16 = 28
    # A table no larger than the batch's look-ups (emb.1) has a dense gradient, the same 28 in fp32
    ("fp32", 28, 28),
    # bf16: gradient 2 (a sparse table's keeps the table's dtype), the bf16 parameter written only (2: the step
    # updates its fp32 master copy and writes the narrow copy, as a master-weight Adam does; probe p207 #1: it was
    # read too, 30), and three fp32 states (m, v, the master copy) read and written, 3 × 2 × 4: 2 + 2 + 24 = 28
    # A dense gradient of a bf16 table (emb.1's, all its rows) is fp32 as every dense one (units.GRAD_DTYPE, the
    # step's dtype): 4 + 2 + 24 = 30 (before probe p207 #1 the same 30 as 2 + 4 + 24, the gradient at 2 B)
    ("bf16", 28, 30),
])
def test_a_sparse_tables_adam_step_moves_only_its_touched_rows(dtype, per_elem, dense_per_elem, cores):
    # a 10M-row table and a 1,000-row one, × 128, batch 2048, one look-up per sample: the big table's step
    # touches 2048 rows (its gradient's), the small one's all 1,000 (2048 look-ups can reach every row).
    # Activations in HBM (the gradient is read from there too). Before: the 10M-row step moved the whole table,
    # 10M × 128 × 28 B = 35.8 GB in fp32. On tpu-v4's 2 cores the step is cut by elements over both vector units:
    # each reads its share of the gradient, so the bytes are one core's (it read the gradient once per core:
    # + 2048 × 128 × 4 B in fp32)
    wl = load_workload("dlrm_mlperf", ["tables=[10000000, 1000]", "mode=training", "optimizer=adam",
                                       f"dtype={dtype}"])
    # (at 1,024 lanes a core, tpu-v4's before probe p267 #1 gave it 2,048: there the step's lane time makes the
    # mapper split it over both cores, the split whose bytes this checks; at 2,048 one core's lanes keep up with HBM)
    rep = simulate(wl, load_arch("tpu-v4", [f"cores={cores}", "core.vector.lanes=1024"]),
                   activations_on_chip=False).to_dict()
    ops = {op["name"]: op for op in rep["ops"]}
    assert ops["emb.0.weight.step"]["mapping"].get("units", 1) == cores
    assert ops["emb.0.weight.step"]["bytes"]["hbm"] == 2048 * 128 * per_elem
    assert ops["emb.0.weight.step"]["flops"] == 10 * 2048 * 128  # Adam's 10 per element
    assert ops["emb.1.weight.step"]["bytes"]["hbm"] == 1000 * 128 * dense_per_elem
    # the state is held for every row: m and v (and the bf16 table's master copy) of 10,001,000 rows × 128 fp32,
    # besides the MLPs' state
    states = (2 if dtype == "fp32" else 3) * 10_001_000 * 128 * 4
    assert states < rep["memory"]["hbm"]["optimizer_states"] < states * 1.01


def test_dlrm_fp32_sgd_training_fits_an_h100_with_sparse_gradients():
    # MLPerf DLRM (26 Criteo Terabyte tables, 96.1 GB in fp32), batch 2048, fp32 SGD on one H100 (80 GiB + host):
    # was refused, its activations alone counted as 116.7 GB of HBM (the whole largest table as the output of its
    # step, 20.5 GB, and every table's gradient, 96.1 GB). The gradients are the touched rows: min(2048, rows) of
    # each table × 128 × 4 B, with ten tables under 2048 rows (3, 1543, 63, 10, 155, 4, 976, 14, 108, 36: 2,912
    # rows) and sixteen at 2048 (32,768 rows): 35,680 rows × 512 B = 18,268,160 B; plus the MLPs' 2,368,897
    # parameters × 4 B = 9,475,588 B (bottom 13-512-256-128: 171,392; top 479-1024-1024-512-256-1: 2,197,505)
    rep = simulate(load_workload("dlrm_mlperf", ["mode=training", "optimizer=sgd", "dtype=fp32"]), "h100").to_dict()
    assert rep["memory"]["hbm"]["gradients"] == 35_680 * 512 + 2_368_897 * 4 == 27_743_748
    # a step updates its table in place: no activation of 39,979,771 rows × 512 B (emb.19's) is reserved for it
    assert rep["memory"]["hbm"]["activations"] < 39_979_771 * 512 // 100
    # a table split over HBM and host: its step reads its gradient (2048 rows of 512 B) from HBM and reads and
    # writes each touched row where its look-ups find it
    split = rep["tables"]["emb.19.weight"]
    assert 0 < split["hbm_hit_fraction"] < 1
    step = next(op for op in rep["ops"] if op["name"] == "emb.19.weight.step")
    host_rows = 2048 - round(2048 * split["hbm_hit_fraction"])
    assert step["bytes"]["host"] == 2 * host_rows * 512
    assert step["bytes"]["hbm"] == 2048 * 512 + 2 * (2048 - host_rows) * 512


def _hurwitz_zeta(s: float, a: int) -> float:
    """ζ(s, a) for a large integer a by its asymptotic expansion (DLMF 25.11.43) to the B₄ term:
    a^(1−s)/(s−1) + a^−s/2 + s·a^(−s−1)/12 − s(s+1)(s+2)·a^(−s−3)/720."""
    return a ** (1 - s) / (s - 1) + a ** -s / 2 + s * a ** (-s - 1) / 12 - s * (s + 1) * (s + 2) * a ** (-s - 3) / 720


def test_zipf_table_split_hits_the_harmonic_share_of_its_hbm_rows():
    # 500M rows of Zipf(1.05) on an H100: the rows in HBM, 1..n, serve H(n, α) / H(500M, α) of the look-ups, with
    # the generalised harmonic number H(n, s) = ζ(s) − ζ(s, n + 1) (DLMF 25.11.1 with 25.2.1); ζ(s) = Σ_{r<1000}
    # r^−s + ζ(s, 1000). The probing user's exact ratio for n = 335,541,952: 0.988818 (the row-count cut of the
    # chunk crossing HBM's end gave 0.987546)
    rep = simulate(load_workload("embedding_bag", ["rows=500000000", "access=zipf"]), "h100").to_dict()
    split = rep["tables"]["embedding_bag.weight"]
    n, alpha = split["rows_in_hbm"], 1.05
    zeta = sum(r ** -alpha for r in range(1, 1000)) + _hurwitz_zeta(alpha, 1000)
    expected = (zeta - _hurwitz_zeta(alpha, n + 1)) / (zeta - _hurwitz_zeta(alpha, 500_000_001))
    assert split["hbm_hit_fraction"] == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("rows", [1_000_000, 1_000, 3])
def test_a_table_smaller_than_its_lookups_is_gathered_once_over_the_cores(rows):
    # embedding_bag on tpu-v4 (two cores): 2,048 one-hot look-ups of 128-wide bf16 rows (256 B, 4 HBM granules of
    # 64 B each) whatever the table's size: 2,048 × 256 = 524,288 B of rows (1,024 on each core, not 2,048 on
    # each as it charged a table of fewer rows than look-ups: 1,576,960 B), the (2,048, 128) bf16 output
    # 524,288 B, 2,048 int64 indices (8 B each) and 2,049 int64 offsets. Of the rows, each core DMAs its 1,024
    # look-ups' distinct rows once (probe p209 #1: a repeat is served from its scratchpad): 3 rows: 3 a core, 6 in
    # all; 1,000 rows: 1,000 · (1 − 0.999^1,024) = 641.0 a core, 1,282; 10^6 rows: 1,023.48 a core, 2,047 of 2,048
    rep = simulate(load_workload("embedding_bag", [f"rows={rows}", "pooling=1"]), "tpu-v4").to_dict()
    (op,) = rep["ops"]
    read = 2_048 - _on_chip(2_048, rows)
    assert read == {3: 6, 1_000: 1_282, 1_000_000: 2_047}[rows]
    assert op["bytes"]["hbm"] == read * 256 + 2_048 * 128 * 2 + 2_048 * 8 + 2_049 * 8


@pytest.mark.parametrize("dtype, elem", [("int8", 1), ("bf16", 2), ("fp32", 4)])
def test_embedding_bag_indices_and_offsets_are_int64_whatever_the_model_dtype(dtype, elem):
    # torch.nn.EmbeddingBag and facebookresearch/dlrm index with torch.long: 2,048 · 20 = 40,960 ids × 8 B =
    # 327,680 B and 2,049 offsets × 8 B = 16,392 B, in int8 as in fp32 (a 1 B index cannot address 100,000 rows;
    # it charged 1 / 2 / 4 B an index and no offsets). The rest: 40,960 gathered rows of 128 elements (128 / 256 /
    # 512 B, whole 64 B granules) and the (2,048, 128) output
    # (in int8 each core's 20,480 look-ups read D = 10^5 · (1 − (1 − 10^-5)^20,480) ≈ 18,519 distinct rows, 2.37 MB
    # that fit its 2,796,202-B scratchpad buffer, the rest served from it, probe p209 #1; 4.74 MB in bf16 do not)
    rep = simulate(load_workload("embedding_bag", [f"dtype={dtype}", "rows=100000"]), "tpu-v4").to_dict()
    (op,) = rep["ops"]
    fits = _distinct(20_480, 100_000) * 128 * elem <= 2_796_202
    assert fits == (elem == 1)
    rows = (40_960 - (_on_chip(40_960, 100_000) if fits else 0)) * 128 * elem
    out = 2_048 * 128 * elem
    assert op["bytes"]["hbm"] - rows - out == 327_680 + 16_392
