"""The plain-embedding option of the embedding_bag micro-workload (F.embedding's index_select kernel)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders.micro import EmbeddingBagParams, embedding_bag
from accelsim.config import load_arch
from accelsim.cost import vector


def test_plain_embedding_moves_every_element_with_one_thread():
    graph = embedding_bag(EmbeddingBagParams(batch=2048, rows=32000, dim=4096, pooling=1, kernel="embedding"))
    (op,) = graph.ops
    assert op.fn == "embedding" and op.flops == 0  # no pooled sum
    assert op.vector_elems == 2048 * 4096 and op.gather_rows == 2048
    a100 = load_arch("a100")
    # PyTorch's indexSelectLargeIndex (more than 16 indices): min(ceil(8,388,608 / 128), 8 x 108) = 864 blocks of
    # 128 threads = 1024 threads per SM, ceil(8,388,608 / 110,592) = 76 grid-stride iterations, each one dependent
    # round trip (L2 200 ns + HBM 600 ns = 800 ns = 1128 cycles at 1.41 GHz) plus the SM issuing the loop body's
    # 134 instructions (gather.INDEX_SELECT_INSTRUCTIONS, counted from SASS) for its 1024 threads at 4 warp
    # schedulers x 32 = 128 a clock: 1024 x 134 / 128 = 1072 cycles. 76 x 2200 = 167,200 cycles on every SM.
    priced = vector.price(op, a100.core.vector, a100)
    assert priced.details["iterations"] == 76 and priced.details["issue_cycles"] == 1072
    assert priced.cycles == 76 * (1128 + 1072) * 108 == 18_057_600


def test_a_preset_embedding_cost_overrides_the_kernel_model():
    op = embedding_bag(EmbeddingBagParams(batch=2048, rows=32000, dim=4096, pooling=1, kernel="embedding")).ops[0]
    a100 = load_arch("a100")
    own = a100.core.vector.model_copy(update={"cycles_per_element": {"embedding": 705.0}})
    priced = vector.price(op, own, a100)
    assert priced.details["cycles_per_element"] == 705.0
    assert priced.cycles == 2048 * 4096 * 705 // 512  # lane-cycles per element on the unit's 512 lanes


def test_plain_embedding_gathers_one_row_per_sample():
    with pytest.raises(ValidationError, match="pooling must be 1"):
        EmbeddingBagParams(pooling=2, kernel="embedding")


@pytest.mark.parametrize("name", ["h100", "h200", "b200", "l40s"])
def test_every_nvidia_preset_prices_the_gather_as_the_large_index_kernel(name):
    # the same kernel on every NVIDIA SM (4 warp schedulers x 32 = issue_width 128; 8 blocks of 128 threads per SM):
    # 2048 x 4096 elements, one round trip (L2 + HBM latency) plus 1024 x 134 / 128 = 1072 issue cycles per iteration
    arch = load_arch(name)
    op = embedding_bag(EmbeddingBagParams(batch=2048, rows=32000, dim=4096, pooling=1, kernel="embedding")).ops[0]
    d = vector.price(op, arch.core.vector, arch).details
    assert d["kernel"] == "index_select_large" and d["issue_cycles"] == 1072
    assert d["iterations"] == -(-2048 * 4096 // (arch.cores * 8 * 128))


def test_pytorch_2_8_gather_keeps_the_small_index_kernel_and_drops_the_large_one():
    # aten/src/ATen/native/cuda/Indexing.cu index_select_out_cuda_impl (since pytorch/pytorch#151715): numIndices
    # <= 16 -> indexSelectSmallIndex, else at::gather_out (a vectorized row copy, no per-element index arithmetic)
    h200 = load_arch("h200")
    small = embedding_bag(EmbeddingBagParams(batch=16, rows=32000, dim=4096, pooling=1, kernel="embedding_gather"))
    legacy = embedding_bag(EmbeddingBagParams(batch=16, rows=32000, dim=4096, pooling=1, kernel="embedding"))
    assert small.ops[0].attrs["index_select"] == "gather" and "index_select" not in legacy.ops[0].attrs
    got, old = (vector.price(g.ops[0], h200.core.vector, h200) for g in (small, legacy))
    assert got.details["kernel"] == old.details["kernel"] == "index_select_small" and got.cycles == old.cycles
    large = embedding_bag(EmbeddingBagParams(batch=17, rows=32000, dim=4096, pooling=1, kernel="embedding_gather"))
    priced = vector.price(large.ops[0], h200.core.vector, h200)
    # data movement only: the arch's "embedding" cost (0 lane-cycles per element), at least one cycle
    assert "kernel" not in priced.details and priced.details["cycles_per_element"] == 0.0 and priced.cycles == 1
    with pytest.raises(ValidationError, match="pooling must be 1"):
        EmbeddingBagParams(pooling=2, kernel="embedding_gather")


def test_gather_embedding_runs_at_the_memory_bandwidth():
    # 4096 tokens x 4096 fp16 from a 32000-row table: 33.5 MB of rows read and 33.5 MB written; with no index
    # arithmetic the op takes at least those 67.1 MB at the H200's 4.8 TB/s peak (14.0 us) and, with the preset's
    # HBM efficiency at this size (0.675 at 10 MB, 0.81 from 100 MB: efficiency_by_size) or better, at most
    # 67.1 MB / (4.8 TB/s x 0.675) = 20.7 us plus the kernel's dispatch and fixed costs (< 5 us); device time as a
    # graph replay measures it (seconds - the host part of the launch). The legacy large-index kernel model takes
    # far longer (a dependent round trip per grid-stride iteration)
    import accelsim

    wl = {"model": "embedding_bag", "batch": 4096, "rows": 32000, "dim": 4096, "pooling": 1, "dtype": "fp16"}
    bytes_moved = 2 * 4096 * 4096 * 2
    gather = accelsim.simulate({**wl, "kernel": "embedding_gather"}, "h200", execution="cuda_graph")
    legacy = accelsim.simulate({**wl, "kernel": "embedding"}, "h200", execution="cuda_graph")
    d = gather.to_dict()
    device = d["seconds"] - d["launch_overhead_s"] + d["kernel_dispatch_s"]
    assert bytes_moved / 4.8e12 <= device <= bytes_moved / (4.8e12 * 0.675) + 5e-6
    assert legacy.seconds > 3 * gather.seconds
