"""Hand-built graphs (probe 23): Graph.lint's checks, the builders' meta and ``.input``, and Graph.nx's edges."""

import pytest

from accelsim.builders.layers import GraphBuilder
from accelsim.builders.registry import BUILDERS
from accelsim.builders.tlayers import TransformerBuilder
from accelsim.errors import WorkloadError
from accelsim.ir import Gemm, Graph, Op, OpKind, Weight

W = (Weight("fc.weight", (1024, 1024)),)
LIN = dict(kind=OpKind.LINEAR, inputs=("x",), in_shapes=((8, 1024),), out_shape=(8, 1024), dtype="int8", weights=W)
GEMM_MACS = 8 * 1024 * 1024  # m·n·k·count of Gemm(8, 1024, 1024, 1)


def graph(*ops):
    return Graph("t", ops, {"x": (8, 1024)})


def test_fewer_macs_than_the_gemm_are_skipped_work_and_pass():
    # a causal block or a pruned weight does less than m·n·k·count (minimax's lightning-attention blocks: 1,137,180,672
    # of a 256×256×128 ×192 GEMM's 1,610,612,736); half of 8×1024×1024 here
    assert graph(Op("fc", gemm=Gemm(8, 1024, 1024), macs=GEMM_MACS // 2, **LIN)).macs == 4_194_304


def test_a_consistent_linear_passes():
    assert graph(Op("fc", gemm=Gemm(8, 1024, 1024), macs=GEMM_MACS, **LIN)).macs == 8_388_608


@pytest.mark.parametrize("op, words", [
    (Op("fc", gemm=Gemm(8, 1024, 1024), macs=-5, **LIN), "macs -5, which is negative"),
    (Op("fc", gemm=Gemm(8, 1024, 1024), macs=0, **LIN), "macs 0 but its GEMM 8×1024×1024 (×1) does 8,388,608 (macs = m·n·k·count, or fewer"),
    (Op("fc", gemm=Gemm(8, 1024, 1024), macs=10 * GEMM_MACS, **LIN), "macs 83,886,080"),
    # 8000 rows × 1024 in-features is 8,192,000 input elements; the input holds 8 × 1024 = 8,192
    (Op("fc", gemm=Gemm(8000, 1024, 1024), macs=8000 * 1024 * 1024, **LIN), "does not fit its input [8, 1024]"),
    (Op("sm", OpKind.SOFTMAX, ("x",), ((8, 1000),), (8, 1024), vector_elems=8192), "reads 'x' as [8, 1000], but 'x' "
     "is [8, 1024]"),
    (Op("sm", OpKind.SOFTMAX, ("x",), ((8, 1024),), (8, 1024), flops=40960), "40,960 flops but no vector_elems"),
    (Op("sm", OpKind.SOFTMAX, ("x",), ((8, 1024),), (8, 1024), flops=-1, vector_elems=8192), "flops -1"),
])
def test_lint_names_the_op_and_the_fault(op, words):
    with pytest.raises(WorkloadError) as err:
        graph(op)
    text = str(err.value)
    assert f"op {op.name!r}" in text and words in text and "\n" not in text


def test_lint_checks_a_consumer_against_its_producer_op():
    fc = Op("fc", gemm=Gemm(8, 4096, 1024), macs=8 * 4096 * 1024, **{**LIN, "out_shape": (8, 4096)})
    act = Op("act", OpKind.ACTIVATION, ("fc",), ((8, 1024),), (8, 1024), vector_elems=8192)
    with pytest.raises(WorkloadError, match=r"'act' reads 'fc' as \[8, 1024\], but 'fc' is \[8, 4096\]"):
        graph(fc, act)


def test_fused_attention_macs_are_both_gemms():
    # q, k, v (1, 2, 16, 8): QKᵀ 16×16×8 and PV 16×8×16, count 2 heads each: 2·(2048 + 2048) = 8,192 MACs
    qkv = dict(inputs=("q", "k", "v"), in_shapes=((1, 2, 16, 8),) * 3, out_shape=(1, 2, 16, 8), vector_elems=512)
    attrs = {"pv_gemm": (16, 8, 16, 2), "fn": "attention"}
    ins = {"q": (1, 2, 16, 8), "k": (1, 2, 16, 8), "v": (1, 2, 16, 8)}
    ok = Op("a", OpKind.ATTENTION, gemm=Gemm(16, 16, 8, 2), macs=8192, attrs=attrs, **qkv)
    assert Graph("t", [ok], ins).macs == 8192
    # the QKᵀ GEMM's 4,096 alone would pass (fewer: skipped work); one MAC more than both GEMMs cannot be right
    with pytest.raises(WorkloadError, match="does 8,192"):
        Graph("t", [Op("a", OpKind.ATTENTION, gemm=Gemm(16, 16, 8, 2), macs=8193, attrs=attrs, **qkv)], ins)


def test_every_builder_graph_passes_lint():
    """The zoo's graphs (each builder at its defaults) are built through Graph, so lint ran on each."""
    built = 0
    for name, entry in BUILDERS.items():
        if name in ("layers", "onnx", "torch", "hf"):  # need a file, a factory or a config: tested elsewhere
            continue
        graph = entry.fn(entry.params.model_validate({}))
        graph.lint()
        built += 1
    assert built == len(BUILDERS) - 4


def test_graph_builder_records_dtype_and_batch():
    b = GraphBuilder("mlp", (8, 1024), dtype="int8")
    b.linear(b.input, 4096, name="fc1")
    assert {k: b.build().meta[k] for k in ("dtype", "batch")} == {"dtype": "int8", "batch": 8}
    assert b.build({"batch": 2}).meta["batch"] == 2  # a builder's own meta wins


def test_report_workload_of_a_python_graph():
    import accelsim

    b = GraphBuilder("mlp", (8, 1024), dtype="int8")
    b.linear(b.input, 4096, name="fc1")
    w = accelsim.simulate(b.build(), "tpu-v1", plots=False).to_dict()["workload"]
    assert (w["batch"], w["dtype"]) == (8, "int8")


def test_transformer_builder_input_is_the_graph_input():
    b = TransformerBuilder("blk", {"x": (1, 16, 64)}, dtype="bf16")
    assert b.input == "x" and b.last == "x"
    out = b.multihead_attention(b.input, heads=2, head_dim=32)
    g = b.build()
    assert g[out].out_shape == (1, 16, 64) and g.meta["batch"] == 1 and g.meta["dtype"] == "bf16"
    two = TransformerBuilder("t", {"ids": (1, 4), "input": (1, 4, 8)})
    # several inputs agreeing on dim 0 (1 here) give that batch (probe p115 #5; was no batch at all)
    assert two.input == "input" and two.build().meta["batch"] == 1 and "notes" not in two.build().meta
    three = TransformerBuilder("t", {"ids": (2, 4), "input": (1, 4, 8)})
    assert three.build().meta["batch"] == 1 and "do not share a dim 0" in three.build().meta["notes"][0]


def test_nx_edges_carry_the_tensor():
    b = GraphBuilder("mlp", (8, 1024), dtype="int8")
    fc = b.linear(b.input, 4096, name="fc1")
    b.relu(fc, name="act")
    g = b.build()
    assert list(g.nx.edges(data=True)) == [("fc1", "act", {"shape": (8, 4096), "dtype": "int8",
                                                            "bytes": 8 * 4096 * 1})]
    assert "input" not in g.nx  # graph inputs are not nodes
