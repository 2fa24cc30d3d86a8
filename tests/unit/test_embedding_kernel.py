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
    # a100.yaml: 512 lanes x 1410 cycles of dependent index -> table loads / 1024 resident threads = 705
    # lane-cycles per element: 2048 x 4096 x 705 / 512 = 11,550,720 cycles on one SM's vector unit
    priced = vector.price(op, a100.core.vector, a100)
    assert priced.cycles == 2048 * 4096 * 705 // 512 == 11_550_720


def test_plain_embedding_gathers_one_row_per_sample():
    with pytest.raises(ValidationError, match="pooling must be 1"):
        EmbeddingBagParams(pooling=2, kernel="embedding")
