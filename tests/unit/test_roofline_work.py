"""A matmul's roofline position counts the work its arrays do: 2 FLOPs a MAC, not its bias adds."""

import accelsim

# a 1x2 input-stationary array at 2 GHz: peak 2 MACs x 2 FLOPs x 2e9 = 8e9 FLOP/s
TINY = {"base": "tpu-v1", "core": {"systolic": {"rows": 1, "cols": 2, "dataflow": "is"}}, "clock": "2GHz",
        "hbm": {"bandwidth": "10GB/s", "latency": "100ns"}}


def test_a_biased_conv_on_a_busy_array_stays_under_the_peak():
    rep = accelsim.simulate({"model": "lenet5"}, TINY, batch=2).to_dict()
    assert rep["roofline"]["peak_flops_per_s"] == 2 * 2 * 2e9
    conv1 = rep["ops"][0]
    # LeNet-5 conv1: 6 filters of 5x5 over 1 channel, 28x28 outputs, batch 2: 6*25*784*2 = 235,200 MACs; its
    # flops add one bias add an output, 6*784*2 = 9,408 (what made achieved_flops_per_s 8.14e9 > 8e9)
    assert conv1["macs"] == 235_200 and conv1["flops"] == 2 * 235_200 + 9_408
    seconds = (conv1["end_cycle"] - conv1["start_cycle"]) / 2e9
    assert seconds >= 235_200 / 2 / 2e9  # the array's 2 MACs a cycle bound the op
    assert conv1["achieved_flops_per_s"] == 2 * 235_200 / seconds <= rep["roofline"]["peak_flops_per_s"]
    hbm = conv1["bytes"]["hbm"]
    assert conv1["arithmetic_intensity"] == 2 * 235_200 / hbm


def test_a_causal_fused_attention_counts_the_blocks_it_computes():
    rep = accelsim.simulate({"model": "attention", "attention": "fused", "q_len": 4096, "kv_len": 4096,
                             "causal": True}, "h100").to_dict()
    (op,) = [o for o in rep["ops"] if o["kind"] == "attention"]
    share = op["mapping"]["mac_fraction"]
    # the diagonal blocks run whole: 128 x 128 blocks, 4096 / 128 = 32 a side, 32 x 33 / 2 = 528 of the 1,024
    assert op["mapping"]["block"] == [128, 128] and share == 528 / 1024
    seconds = (op["end_cycle"] - op["start_cycle"]) / rep["arch"]["clock_hz"]
    assert op["achieved_flops_per_s"] == 2 * op["macs"] * share / seconds <= rep["roofline"]["peak_flops_per_s"]
