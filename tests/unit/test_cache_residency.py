"""Cache residency (accelsim/mapping/l2resident.py, docs/architecture.md step 5): an activation a producer wrote
is read by the next op from the shared cache, not from main memory, when it fits half the cache.

Every number is a hand calculation on a made-up chip: fp16 (2 bytes), one core, a 64 KiB scratchpad, a shared
``l2`` cache and HBM. Activations are kept off chip (``activations_on_chip=False``) so that the scratchpad
residency of mapping/choice.py keeps nothing. The workload is a chain of two ReLUs on a 1×4×8×8 input: every
tensor is 256 elements = 512 bytes.
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.errors import ConfigError

TENSOR = 4 * 8 * 8 * 2  # 512 bytes: the input, r1's output and r2's output alike
CHAIN = {"model": "layers", "name": "chain", "input": [1, 4, 8, 8],
         "layers": [{"type": "relu", "name": "r1"}, {"type": "relu", "name": "r2"}]}


def _arch(l2_capacity: str) -> dict:
    return {"name": "tiny-l2", "clock": "1GHz", "dtype": "fp16", "cores": 1,
            "core": {"systolic": {"rows": 4, "cols": 4, "dataflow": "ws"}, "vector": {"lanes": 16},
                     "sram": {"unified": "64KiB"}},
            "l2": {"capacity": l2_capacity, "bandwidth": "64GB/s", "latency": "10ns"},
            "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s", "latency": "100ns"}}


def _bytes(l2_capacity: str = "4KiB", **options) -> dict[str, dict[str, int]]:
    report = accelsim.simulate(CHAIN, _arch(l2_capacity), activations_on_chip=False, plots=False, **options)
    return {op["name"]: {lv: b for lv, b in op["bytes"].items() if lv != "sram"} for op in report.to_dict()["ops"]}


def test_the_consumer_reads_the_producers_output_from_the_cache():
    on = _bytes()
    # r1 reads the graph input from HBM (512) and writes its output to HBM (512: written back, counted); through
    # the L2 it moves the same 512 in and 512 out
    assert on["r1"] == {"hbm": 2 * TENSOR, "l2": 2 * TENSOR}
    # r2 finds r1's output in the L2: 512 + 0 bytes touched since ≤ half of 4 KiB = 2048; it reads 512 from the L2
    # and none from HBM; its own output still goes to HBM (512) through the L2 (512)
    assert on["r2"] == {"hbm": TENSOR, "l2": 2 * TENSOR}


def test_off_every_read_comes_from_main_memory():
    off = _bytes(cache_residency=False)
    assert off["r1"] == off["r2"] == {"hbm": 2 * TENSOR, "l2": 2 * TENSOR}


def test_a_tensor_larger_than_half_the_cache_is_read_from_main_memory():
    # a 1000-byte L2 keeps 500 bytes for such tensors: r1's 512-byte output does not fit
    small = _bytes("1000B")
    assert small["r2"] == {"hbm": 2 * TENSOR, "l2": 2 * TENSOR}


def test_warm_inputs_start_the_graph_inputs_in_the_cache():
    # the graph input "input" (512 bytes ≤ 2048) starts in the L2: r1 reads nothing from HBM, writes 512
    warm = _bytes(warm_inputs=True)
    assert warm["r1"] == {"hbm": TENSOR, "l2": 2 * TENSOR}
    named = _bytes(warm_inputs=["input"])
    assert named["r1"] == warm["r1"]
    # off: warm inputs need cache residency, so asking for both is refused rather than ignored
    with pytest.raises(Exception, match=r"cache_residency \(false, from <input>\) to be true"):
        _bytes(warm_inputs=True, cache_residency=False)


def test_the_options_are_validated():
    with pytest.raises(ConfigError):
        accelsim.simulate(CHAIN, _arch("4KiB"), cache_residency="sometimes")


def test_what_the_ops_in_between_touch_evicts_it():
    # r3 adds r1's output to r2's: between r1 and r3, r2 touched its input (512) and its output (512). Half of a
    # 3000-byte L2 is 1500: r2's output is read at distance 512 (fits), r1's at 512 + 1024 = 1536 (evicted)
    chain = {**CHAIN, "layers": [*CHAIN["layers"], {"type": "add", "name": "r3", "inputs": ["r1", "r2"]}]}
    report = accelsim.simulate(chain, _arch("3000B"), activations_on_chip=False, plots=False).to_dict()
    r3 = next(op for op in report["ops"] if op["name"] == "r3")
    assert r3["mapping"]["cache_inputs"] == ["r2"]
    # HBM: r1's output read (512) and r3's output written (512); L2: both inputs and the output (3 x 512)
    assert r3["bytes"]["hbm"] == 2 * TENSOR and r3["bytes"]["l2"] == 3 * TENSOR
    # a 4 KiB L2 (half: 2048) keeps both
    report = accelsim.simulate(chain, _arch("4KiB"), activations_on_chip=False, plots=False).to_dict()
    assert next(op for op in report["ops"] if op["name"] == "r3")["mapping"]["cache_inputs"] == ["r1", "r2"]


def test_an_unknown_warm_input_is_one_line_naming_it():
    with pytest.raises(accelsim.errors.AccelsimError, match="warm_inputs: 'x' is not an input"):
        accelsim.simulate(CHAIN, _arch("4KiB"), warm_inputs=["x"], plots=False)


def test_a_warm_residual_add_on_a100_reads_one_input_from_hbm():
    # Vidur's timed add (benchmarks/validation/vidur.py): b just written (warm), a cold. 512 x 4096 fp16 = 4 MiB
    # each (≤ half of a100's 40 MiB L2). HBM: a read and the output written, 2 x 4 MiB; L2: all three
    rows, cols = 512, 4096
    size = rows * cols * 2
    cold = accelsim.simulate({"model": "add", "rows": rows, "cols": cols, "dtype": "fp16"}, "a100", plots=False)
    warm = accelsim.simulate({"model": "add", "rows": rows, "cols": cols, "dtype": "fp16"}, "a100",
                             warm_inputs=["b"], plots=False)
    (c,), (w,) = cold.to_dict()["ops"], warm.to_dict()["ops"]
    assert c["bytes"]["hbm"] == 3 * size and w["bytes"]["hbm"] == 2 * size
    assert c["bytes"]["l2"] == w["bytes"]["l2"] == 3 * size and w["mapping"]["cache_inputs"] == ["b"]
    # the vectorised add is bandwidth-bound: a third fewer HBM bytes, faster, never above HBM's sustained rate
    # (2039 GB/s x 0.9, arch/a100.yaml)
    device = [r["seconds"] - r["launch_overhead_s"] for r in (cold.to_dict(), warm.to_dict())]
    assert device[1] < device[0] and device[1] >= 2 * size / (2039e9 * 0.9)


def test_a_gpu_ops_later_waves_push_its_first_output_tiles_down_the_lru_stack():
    """A GPU op writes its output tiles wave by wave while it streams its operands through the cache, so its first
    tiles sit under the traffic of its later waves when it ends (l2resident.later_traffic, the split-K partials'
    rule of cost/gpu_tiles.py): footprint x (waves - 1) / waves."""
    from accelsim.config import load_arch
    from accelsim.ir import Op, OpKind
    from accelsim.mapping.l2resident import footprint, later_traffic
    from accelsim.mapping.plan import Plan

    a100 = load_arch("a100")  # 108 SMs
    op = Op(name="g", kind=OpKind.MATMUL, inputs=("x",), out_shape=(1024, 1024), in_shapes=((1024, 512),),
            dtype="fp16")
    assert footprint(op) == 1024 * 512 * 2 + 1024 * 1024 * 2  # its input and output (no parameters)
    # 256 output tiles on 108 SMs: 3 waves; 2/3 of the footprint comes after the first wave's tiles
    three = Plan(op=op, index=0, details={"output_tiles": 256})
    assert later_traffic(three, a100) == footprint(op) * 2 // 3
    # one wave (108 tiles or fewer), or no output tiles (a vector op): nothing after
    assert later_traffic(Plan(op=op, index=0, details={"output_tiles": 108}), a100) == 0
    assert later_traffic(Plan(op=op, index=0, details={}), a100) == 0
    # a FlashAttention op counts waves of its CTAs over its CTA slots: 1024 CTAs, 2 per SM on 108 SMs: 5 waves
    attn = Plan(op=op, index=0, details={"ctas": 1024, "ctas_per_sm": 2, "output_tiles": 108})
    assert later_traffic(attn, a100) == footprint(op) * 4 // 5
