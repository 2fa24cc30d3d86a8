"""Weights that spill past HBM into host memory cross the link once and are re-read from HBM (staged), as offload
runtimes do, not fetched over the link once per tile that reads them."""

import accelsim

HIDDEN = 4096  # LLaMA-2-7B (its HF config: hidden_size 4096)


def test_a_spilled_weight_crosses_the_host_link_once():
    # 4 layers of LLaMA-2-7B in bf16 on an h100 cut to 2 GB of HBM: later layers' weights live in host memory.
    # A q_proj there is a 4096 x 4096 bf16 weight, 33,554,432 B, that the GEMM over 8 x 2048 tokens tiles into
    # several passes over it (mapping.tiling b_reads > 1): it crosses the link once, and HBM moves what it moves
    # with the weight resident there (the re-reads, through the L2) plus the staged copy written once
    workload = {"model": "llama2_7b", "dtype": "bf16", "batch": 8, "seq_len": 2048, "attention": "fused", "layers": 4}
    rep = accelsim.simulate(workload, {"base": "h100", "hbm": {"capacity": "2GB"}}).to_dict()
    resident = {o["name"]: o for o in accelsim.simulate(workload, "h100").to_dict()["ops"]}
    staged = [o for o in rep["ops"] if o["mapping"].get("staged_weight_bytes")]
    assert staged
    q = next(o for o in staged if o["name"].endswith("q_proj"))
    weight = HIDDEN * HIDDEN * 2
    assert q["mapping"]["staged_weight_bytes"] == q["bytes"]["host"] == weight
    assert q["mapping"]["tiling"]["b_reads"] > 1
    assert "host" not in resident[q["name"]]["bytes"]
    assert q["bytes"]["hbm"] == resident[q["name"]]["bytes"]["hbm"] + weight
    # over the run, the link moves at most the weights host memory holds (the embedding gathers only its rows)
    assert rep["bytes"]["host"] <= rep["memory"]["host"]["weights"]


def test_a_spilled_weight_every_core_reads_crosses_the_link_once():
    # an 8192 x 1024 x 1024 bf16 GEMM on multicore-4 with 34 MB of HBM: its 1024 x 1024 weight (2,097,152 B) lives
    # in host memory. Split along M over 4 cores without a shared cache, every core reads all of it: it crosses the
    # link once (it crossed 4 times, 8,388,608 B), and HBM takes the staged copy written once and read 4 times
    weight = 1024 * 1024 * 2
    reps = {cores: accelsim.simulate({"model": "gemm", "m": 8192, "n": 1024, "k": 1024, "dtype": "bf16"},
                                     {"base": "multicore-4", "cores": cores, "hbm": {"capacity": "34MB"}}).to_dict()
            for cores in (1, 4)}
    one, four = reps[1]["ops"][0], reps[4]["ops"][0]
    assert one["bytes"]["host"] == four["bytes"]["host"] == weight
    assert four["mapping"]["units"] == 4 and four["mapping"]["split"] == "m"
    assert four["mapping"]["staged_weight_bytes"] == weight
    # A and C as on one core (a split along M copies neither), plus the weight written once and read 4 times
    assert four["bytes"]["hbm"] == one["bytes"]["hbm"] + weight + 4 * weight
