"""An op split over several cores keeps its output on them in bands of rows, each core its own, when every reader
is split over the same cores the same way (mapping/choice.py ``residency``, docs/architecture.md step 5; probe p45
finding 5: resnet50 on tpu-v4 sent every activation through HBM). The hand calculations are in each test."""

from __future__ import annotations

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload


def _chain(batch: int, k2: int) -> dict:
    """conv 3×3 64 → 64 (padding 1) then conv k2×k2 64 → 64 on a batch × 64 × 56 × 56 input, no biases."""
    return {"model": "layers", "input": [batch, 64, 56, 56], "layers": [
        {"type": "conv2d", "name": "c1", "out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False},
        {"type": "conv2d", "name": "c2", "out_channels": 64, "kernel_size": k2, "padding": k2 // 2, "bias": False}]}


def _ops(wl: dict) -> dict[str, dict]:
    rep = simulate(load_workload(wl), load_arch("tpu-v4")).to_dict()
    return {op["name"]: op for op in rep["ops"]}


# tpu-v4: 2 cores of 16 MiB SRAM (8 MiB of resident activations each), bf16. An activation of 64 × 56 × 56 is
# 200,704 elements = 401,408 B; c1's weights 64 · 64 · 9 · 2 = 73,728 B, a 1×1 conv's 64 · 64 · 2 = 8,192 B.
ACT, W3, W1 = 401_408, 73_728, 8_192


def test_a_split_conv_chain_keeps_its_intermediate_in_each_cores_band():
    """Both convs are split over both cores along M (their activations, 401,408 B, outweigh their weights), so each
    core streams all of a conv's weights: 2 copies. c1 reads its input (each core its half, once in all) and its
    weights twice and keeps its output, 200,704 B a core; c2 reads its half on each core in place, its weights
    twice, and writes the graph output: HBM c1 401,408 + 2 · 73,728 = 548,864 B, c2 2 · 8,192 + 401,408 =
    417,792 B (it was 950,272 + 819,200 B: c1's output stored and read back, 1,769,472 B in all)."""
    ops = _ops(_chain(1, 1))
    c1, c2 = ops["c1"], ops["c2"]
    assert c1["core"] is None and c2["core"] is None  # split over both cores
    assert c1["mapping"]["resident_output"] and c1["mapping"]["bands"] == 2
    assert (c1["mapping"]["split"], c2["mapping"]["split"]) == ("m", "m")
    assert c1["bytes"]["hbm"] == ACT + 2 * W3
    assert c2["bytes"]["hbm"] == 2 * W1 + ACT


def test_a_3x3_reader_takes_its_neighbours_edge_rows_through_hbm():
    """c2 3×3 on one image: each core's window needs kh − 1 = 2 rows of the other core's band at the one edge;
    a row is 64 channels × 56 × 2 B = 7,168 B, so c1 stores 2 · 7,168 = 14,336 B and c2 loads them: c1 548,864 +
    14,336 = 563,200 B, c2 14,336 + 2 · 73,728 + 401,408 = 563,200 B."""
    ops = _ops(_chain(1, 3))
    c1, c2 = ops["c1"], ops["c2"]
    assert c1["mapping"]["halo_out"] == c2["mapping"]["halo_in"] == 2 * 64 * 56 * 2
    assert c1["bytes"]["hbm"] == ACT + 2 * W3 + 14_336
    assert c2["bytes"]["hbm"] == 14_336 + 2 * W3 + ACT


def test_bands_of_whole_images_exchange_nothing():
    """Two images over two cores: each band is one whole image, so a 3×3 window needs no row of the other band:
    c1 reads 2 · 401,408 B and its weights twice, c2 its weights twice and writes 2 · 401,408 B."""
    ops = _ops(_chain(2, 3))
    c1, c2 = ops["c1"], ops["c2"]
    assert "halo_in" not in c2["mapping"] and c1["mapping"]["resident_output"]
    assert c1["bytes"]["hbm"] == 2 * ACT + 2 * W3
    assert c2["bytes"]["hbm"] == 2 * W3 + 2 * ACT


def _then(reader: dict, batch: int = 1) -> dict:
    """c1 (conv 3×3 64 → 64, padding 1) then ``reader`` on a batch × 64 × 56 × 56 input."""
    return {"model": "layers", "input": [batch, 64, 56, 56], "layers": [
        {"type": "conv2d", "name": "c1", "out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False},
        {**reader, "name": "c2"}]}


def test_a_strided_window_takes_its_extent_less_its_stride():
    """Probe p46 #4: a window of kh rows moving sh rows per output row reaches kh − sh rows across an edge. One
    image, 2 bands of 28 rows, one row 7,168 B. A 2×2 pool at stride 2 reads rows (26, 27) and (28, 29): nothing
    crosses (it was charged 7,168 B). A 3×3 pool or conv at stride 2, padding 1: output row i reads 2i − 1 .. 2i + 1,
    so core 1's first row (14) reads row 27 of core 0's band: 3 − 2 = 1 row, 7,168 B (it was 2 rows, 14,336 B)."""
    row = 64 * 56 * 2
    pool2 = _ops(_then({"type": "maxpool2d", "kernel_size": 2, "stride": 2}))["c2"]["mapping"]
    assert "halo_in" not in pool2
    pool3 = _ops(_then({"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1}))["c2"]["mapping"]
    conv3 = _ops(_then({"type": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1, "stride": 2,
                        "bias": False}))["c2"]["mapping"]
    assert pool3["halo_in"] == conv3["halo_in"] == 1 * row


def test_only_the_band_edges_inside_an_image_take_halo_rows():
    """Probe p46 #5: 4 cores cut the batch's rows in 4 equal bands; edge k (of 3) sits at k/4 of the rows, between
    images when k × batch is a multiple of 4. Batch 2: edge 2 lies between the images, edges 1 and 3 inside one, so
    2 edges × 2 rows (a 3×3 at stride 1) × 7,168 B = 28,672 B (all 3 edges were charged, 43,008 B); batch 6 the same
    (edges at 1.5, 3 and 4.5 images); batch 1: 3 edges, 43,008 B."""
    row = 64 * 56 * 2

    def halo(batch: int) -> int:
        rep = simulate(load_workload(_chain(batch, 3)), load_arch("multicore-4")).to_dict()
        return next(op for op in rep["ops"] if op["name"] == "c2")["mapping"].get("halo_in", 0)

    assert halo(2) == halo(6) == 2 * 2 * row
    assert halo(1) == 3 * 2 * row
