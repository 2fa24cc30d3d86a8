"""The scratchpad bytes of a gather (accelsim/mapping/traffic.py ``_lane_weight_bytes``; probe p156 #3): the vector
lanes read the looked-up rows' own bytes from the scratchpad, plus the ids, offsets and output; the DRAM bursts the
rows arrived in count once, as the DMA's fills, not again as the lanes' reads.

Hand calculation on edge-npu (arch/edge-npu.yaml: int8, 64-B DRAM bursts) for the embedding_bag micro-workload
(workloads/embedding_bag.yaml: batch 2,048, pooling 20: 40,960 look-ups; int64 ids and batch + 1 int64 offsets).
"""

from __future__ import annotations

import pytest

import accelsim

LOOKUPS = 2048 * 20  # batch × pooling
IDS = LOOKUPS * 8  # int64 ids: 327,680 B
OFFSETS = (2048 + 1) * 8  # int64 offsets: 16,392 B


def _bytes(dim: int) -> dict:
    rep = accelsim.simulate({"model": "embedding_bag", "dim": dim}, "edge-npu", plots=False).to_dict()
    return rep["ops"][0]["bytes"]


def test_a_row_that_straddles_bursts_is_read_by_the_lanes_at_its_own_size():
    # dim 20 int8: a 20-B row starts at offset 20·i mod 64, a multiple of gcd(20, 64) = 4: 16 offsets equally often;
    # it crosses into a second burst when the offset is > 64 − 20 = 44 (48, 52, 56, 60): 4 of 16. DRAM moves
    # 1.25 bursts = 80 B a row: 40,960 × 80 = 3,276,800 B of rows; output 2,048 × 20 = 40,960 B
    out = 2048 * 20
    hbm = LOOKUPS * 80 + IDS + OFFSETS + out
    got = _bytes(20)
    assert got["hbm"] == hbm == 3_661_832
    # the lanes: 40,960 rows × 20 B = 819,200 B, the ids, the offsets and the output written: 1,204,232 B; plus the
    # fills and drain of those 3,661,832 B (it was 7,323,664 B: the bursts counted again as lane reads)
    assert got["sram"] == LOOKUPS * 20 + IDS + OFFSETS + out + hbm == 4_866_064


@pytest.mark.parametrize("dim", [64, 128])
def test_a_row_of_whole_bursts_counts_as_before(dim):
    # dim 64 or 128 int8: every row is 1 or 2 whole bursts, so the lanes read what DRAM moved: sram = 2 × hbm
    got = _bytes(dim)
    assert got["hbm"] == LOOKUPS * dim + IDS + OFFSETS + 2048 * dim
    assert got["sram"] == 2 * got["hbm"]
