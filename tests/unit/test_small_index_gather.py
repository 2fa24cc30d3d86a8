"""A plain embedding (torch.nn.functional.embedding = index_select) of at most 16 indices runs PyTorch's
indexSelectSmallIndex (aten/src/ATen/native/cuda/Indexing.cu): min(ceil(row / 128), 8 x SMs) blocks of
min(row, 128) threads, every thread walking the indices one after the other, one dependent index -> table round
trip each. Expected values from the a100 preset: 108 SMs at 1.41 GHz, L2 200 ns, HBM 600 ns."""

from __future__ import annotations

from accelsim.builders.micro import EmbeddingBagParams, embedding_bag
from accelsim.config import load_arch
from accelsim.cost import gather, vector

A100 = load_arch("a100")


def _op(batch, dim, kernel="embedding"):
    return embedding_bag(EmbeddingBagParams(batch=batch, rows=32000, dim=dim, pooling=1, kernel=kernel,
                                            dtype="fp16")).ops[0]


def test_sixteen_tokens_are_sixteen_round_trips():
    # 4096 elements per row: 32 blocks of 128 threads = 4096 threads, one element each per index; 16 indices =
    # 16 round trips of 200 + 600 ns = 1128 cycles at 1.41 GHz, each followed by the busiest SM (one block of 128
    # threads) issuing the pass's 113 instructions (gather.SMALL_INDEX_INSTRUCTIONS) at 128 a clock: 113 cycles
    priced = vector.price(_op(16, 4096), A100.core.vector, A100)
    assert priced.details["round_trips"] == 16 and priced.details["issue_cycles"] == 113
    assert priced.cycles == 16 * (1128 + 113) * 108


def test_wide_rows_take_several_elements_per_thread():
    # 200,000 elements per row: min(1563, 864) = 864 blocks of 128 = 110,592 threads, 2 elements each per index
    assert gather.small_index_chains(3, 200_000, 108) == 6


def test_seventeen_indices_run_the_large_index_kernel():
    assert gather.small_index_chains(17, 4096, 108) is None
    priced = vector.price(_op(17, 4096), A100.core.vector, A100)
    assert "round_trips" not in priced.details and priced.details["kernel"] == "index_select_large"
    # 69,632 elements: min(544, 864) = 544 blocks of 128 threads, ceil(544 / 108) = 6 blocks = 768 threads on the
    # busiest SM, one grid-stride iteration: one round trip (1128 cycles) + 768 x 134 / 128 = 804 issue cycles
    assert priced.details["threads_per_core"] == 768 and priced.details["iterations"] == 1
    assert priced.cycles == (1128 + 804) * 108


def test_embedding_bag_keeps_its_pooled_sum_price():
    assert "round_trips" not in vector.price(_op(8, 4096, kernel="embedding_bag"), A100.core.vector, A100).details
