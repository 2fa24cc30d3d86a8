"""Weights that spill past HBM into host memory cross the link once and are re-read from HBM (staged), as offload
runtimes do, not fetched over the link once per tile that reads them."""

import accelsim

HIDDEN = 4096  # LLaMA-2-7B (its HF config: hidden_size 4096)


def test_a_spilled_weight_crosses_the_host_link_once():
    # 4 layers of LLaMA-2-7B in bf16 on an h100 cut to 2 GB of HBM: later layers' weights live in host memory.
    # A q_proj there is a 4096 x 4096 bf16 weight, 33,554,432 B, that the GEMM over 8 x 2048 tokens tiles into
    # several passes over it (mapping.tiling b_reads > 1): it crosses the link once, and its HBM bytes are the
    # staged copy written once and read once per pass, so a whole multiple of the weight, at least two of it
    rep = accelsim.simulate({"model": "llama2_7b", "dtype": "bf16", "batch": 8, "seq_len": 2048,
                             "attention": "fused", "layers": 4}, {"base": "h100", "hbm": {"capacity": "2GB"}}).to_dict()
    staged = [o for o in rep["ops"] if o["mapping"].get("staged_weight_bytes")]
    assert staged
    q = next(o for o in staged if o["name"].endswith("q_proj"))
    weight = HIDDEN * HIDDEN * 2
    assert q["mapping"]["staged_weight_bytes"] == q["bytes"]["host"] == weight
    assert q["mapping"]["tiling"]["b_reads"] > 1
    assert q["bytes"]["hbm"] % weight == 0 and q["bytes"]["hbm"] >= 2 * weight
    # over the run, the link moves at most the weights host memory holds (the embedding gathers only its rows)
    assert rep["bytes"]["host"] <= rep["memory"]["host"]["weights"]
