"""Context parallelism (Megatron-LM's --context-parallel-size, TransformerEngine's context-parallel attention).

C chips split a sequence's tokens: every chip holds every weight and s/C tokens, so each linear, norm and
element-wise op does 1/C of the work; only self-attention exchanges tokens.

* ``all_gather`` (TransformerEngine's ``cp_comm_type="all_gather"``; Llama 3's context parallelism, Dubey et al.
  2024, Sec. 3.3.2): K and V are all-gathered. A causal sequence is cut into 2C chunks and chip i holds chunks i and
  2C − 1 − i (TransformerEngine's load balancing), so chip i's two chunks attend to (i + 1)·n and (2C − i)·n keys:
  (2C + 1)·n on every chip, n = s / 2C.
* ``a2a`` (DeepSpeed-Ulysses, Jacobs et al. 2023): q, k and v are all-to-all'd from token shards to head shards,
  attention runs on H/C heads over all s tokens, and the output goes back.

The gradients of the replicated weights are reduced over C × the data-parallel replicas (Megatron's data-parallel
group with context parallelism).
"""

from __future__ import annotations

import importlib
from collections import Counter

import pytest

from accelsim import api
from accelsim.builders.build import build_workload
from accelsim.errors import ConfigError, MappingError, WorkloadError

H, A, S, C = 256, 4, 64, 4  # hidden, heads, tokens, context-parallel chips
D = H // A  # head dim 64
SMALL = {"hidden": H, "heads": A, "seq_len": S, "batch": 1, "dtype": "fp16", "attention": "fused"}


def _gpt(**kw):
    return build_workload("gpt", {"layers": 1, **SMALL, **kw})


def _layer(g, kind: str | None = None):
    return [o for o in g.ops if ".layers.0." in o.name and (kind is None or o.kind.value == kind)]


def test_each_chip_holds_a_cth_of_the_tokens_and_every_weight():
    whole, part = _gpt(), _gpt(context_parallel=C)
    assert part.inputs["input"] == (1, S // C)
    assert part.params == whole.params  # weights are replicated over the context-parallel chips
    # per layer (hand count): q/k/v 3·h², output h², MLP 8·h² multiply-adds a token, for s/C tokens
    linears = sum(o.macs for o in _layer(part, "linear"))
    assert linears == (S // C) * 12 * H * H
    assert linears * C == sum(o.macs for o in _layer(whole, "linear"))


def test_all_gather_gathers_k_and_v_and_balances_the_causal_chunks():
    g = _gpt(context_parallel=C, context_parallel_comm="all_gather")
    gathers = _layer(g, "collective")
    assert sorted(o.name.rsplit(".", 1)[-1] for o in gathers) == ["k_cp_all_gather", "v_cp_all_gather"]
    for o in gathers:
        assert o.fn == "all_gather" and o.group == C and o.attrs["extent"] == C
        assert o.in_shapes[0] == (1, A, S // C, D) and o.out_shape == (1, A, S, D)
    n = S // (2 * C)  # a chunk: chip 0 holds chunks 0 and 2C − 1
    attn = {o.name.rsplit(".", 2)[-2]: o for o in _layer(g, "attention")}
    assert {k: (o.attrs["q_len"], o.attrs["kv_len"], o.attrs["causal"]) for k, o in attn.items()} == {
        "chunk0": (n, n, True), "chunk1": (n, S, True)}
    # every chip attends (2C + 1)·n keys with its two chunks: chip i's are (i + 1)·n and (2C − i)·n
    assert all((i + 1) * n + (2 * C - i) * n == n + S for i in range(C))
    # fused ops count QKᵀ and PV multiply-adds of every (query, key) pair they hold: heads · q · kv · 2·d
    assert attn["chunk0"].macs == A * n * n * 2 * D == 32_768
    assert attn["chunk1"].macs == A * n * S * 2 * D == 262_144


def test_a2a_moves_heads_not_keys():
    g = _gpt(context_parallel=C, context_parallel_comm="a2a")
    coll = _layer(g, "collective")
    assert Counter(o.fn for o in coll) == {"all_to_all": 4}  # q, k, v out; the output back
    (attn,) = _layer(g, "attention")
    assert (attn.attrs["heads"], attn.attrs["q_len"], attn.attrs["kv_len"]) == (A // C, S, S)
    back = coll[-1]
    assert back.in_shapes[0] == (1, A // C, S, D) and back.out_shape == (1, A, S // C, D)


def test_a2a_needs_the_heads_to_split():
    with pytest.raises(WorkloadError, match="a2a needs heads"):
        _gpt(context_parallel=C, context_parallel_comm="a2a", tensor_parallel=2)  # 2 heads a chip over 4 chips


@pytest.mark.parametrize("bad, why", [({"seq_len": 60}, "divisible by 8"), ({"phase": "decode"}, "prefill"),
                                      ({"decode_steps": 4}, "prefill"), ({"attention": "unfused"}, "fused")])
def test_context_parallel_needs_a_splittable_prompt(bad, why):
    with pytest.raises(ValueError, match=why):
        _gpt(context_parallel=C, **bad)


def test_training_regathers_k_and_v_and_reduce_scatters_their_gradients():
    g = _gpt(context_parallel=C, context_parallel_comm="all_gather", mode="training")
    coll = Counter((o.fn, o.phase, bool(o.attrs.get("recompute"))) for o in _layer(g, "collective"))
    assert coll == {("all_gather", "forward", False): 2, ("all_gather", "backward", True): 2,
                    ("reduce_scatter", "backward", False): 2}
    assert all(o.attrs.get("extent") == C for o in _layer(g, "collective"))
    # only the local K and V are kept for the backward (TransformerEngine's save_for_backward): every chunk's
    # backward reads the re-gathered copy or its slices, none of the forward's gathered tensors
    stashed = set(g.info.stashed)
    assert not any(s.endswith(("_cp_all_gather", "k_chunk0", "v_chunk0")) for s in stashed)
    for o in _layer(g, "attention"):
        if o.phase == "backward":
            assert all(x.endswith(".recompute") for x in o.inputs[2:4]), o.inputs


def test_sequence_parallel_splits_the_chips_tokens_again():
    g = _gpt(context_parallel=2, tensor_parallel=2, sequence_parallel=True, heads=4,
             context_parallel_comm="all_gather")
    gathers = [o for o in _layer(g, "collective") if "_cp_" not in o.name and o.fn == "all_gather"]
    assert gathers and all(o.in_shapes[0] == (1, S // 4, H) and o.out_shape == (1, S // 2, H) for o in gathers)
    cp = [o for o in _layer(g, "collective") if "_cp_" in o.name]
    assert all(o.group == 2 and o.attrs["extent"] == 4 for o in cp)  # 2 chips, tensor_parallel (2) apart


def test_a_context_parallel_group_beyond_a_node_runs_on_the_scale_out_network():
    # 16 GPUs of two DGX H100 nodes; tensor parallel 8 inside a node puts a context-parallel pair 8 chips apart
    def cp_gather(tp: int) -> dict:
        r = api.simulate({"model": "gpt", "layers": 1, **SMALL, "heads": 8, "context_parallel": 2,
                          "tensor_parallel": tp, "context_parallel_comm": "all_gather"},
                         {"base": "dgx-h100", "chips": 16}, plots=False).to_dict()
        return next(o for o in r["ops"] if o["name"].endswith("layers.0.self_attention.k_cp_all_gather"))

    inside, across = cp_gather(1), cp_gather(8)
    assert inside["mapping"]["algorithm"] != "ring" or inside["mapping"].get("protocol")  # NCCL's tuner, NVLink
    # node after node: NCCL's ring across nodes on the NIC, paying at least its one crossing (20 µs) and the ring's
    # base latency (LL 6.6 µs, the least of NCCL's baseLat for a ring)
    assert across["mapping"]["algorithm"] == "ring" and (inside["unit"], across["unit"]) == ("link", "nic")
    assert across["mapping"]["all_gather_s"] >= (20 + 6.6) * 1e-6
    # a ring whose hops leave the node waits for the InfiniBand send (ScaleOut.send_seconds: latency + bytes /
    # (bandwidth · efficiency)); K and V of s/2 tokens, 8/8 = 1 head of 32 features each, 2 bytes an element
    from accelsim.config import load_arch

    r = api.simulate({"model": "gpt", "layers": 1, **SMALL, "heads": 8, "context_parallel": 2, "tensor_parallel": 8,
                      "context_parallel_comm": "p2p"}, {"base": "dgx-h100", "chips": 16}, plots=False).to_dict()
    (send,) = [o for o in r["ops"] if o["name"].endswith("layers.0.self_attention.kv_ring1")]
    so = load_arch("dgx-h100").interconnect.scale_out
    nbytes = 2 * (S // 2) * (H // 8) * 2
    assert send["mapping"]["send_recv_s"] == pytest.approx(so.latency + nbytes / (so.bandwidth * so.efficiency))


@pytest.mark.parametrize(("model", "count"), [("gpt", "context_parallel × pipeline_parallel = 1 × 4 × 1"),
                                               ("llama2_7b", "tensor_parallel × context_parallel = 1 × 4 = 4")])
def test_too_few_chips_is_refused(model, count):
    # at the parallel key set last (a ConfigError at workload.context_parallel); llama2_7b takes no
    # pipeline_parallel, so its count names none (probe p70 #2)
    with pytest.raises((MappingError, WorkloadError, ConfigError), match=count):
        api.simulate({"model": model, "layers": 1, "seq_len": S, "context_parallel": C, "attention": "fused"}, "h100",
                     plots=False)


def test_a_long_prompt_runs_nearly_c_times_faster():
    # GPT with h = 4096 over s = 32k tokens (batch 1, bf16) on a DGX H100, per layer (hand count):
    #   linears 24·s·h² = 1.32e13 FLOPs, causal attention 2·s²·h = 8.8e12: ~2.2e13, ~30 ms at ~700 TFLOP/s;
    #   on 8 chips ~3.8 ms each, plus the K/V all-gathers, 2 × 7/8 × s·h·2 B = 470 MB at ~360 GB/s NVLink bus
    #   bandwidth: ~1.3 ms. So the 8-way split runs ~5.8x faster: above 4, and never above 8 (each chip does at
    #   least 1/8 of the work).
    def seconds(cp: int) -> float:
        return api.simulate({"model": "gpt", "layers": 2, "hidden": 4096, "heads": 32, "seq_len": 32768, "batch": 1,
                             "dtype": "bf16", "attention": "fused", "context_parallel": cp}, "dgx-h100",
                            plots=False).to_dict()["seconds"]

    speedup = seconds(1) / seconds(8)
    assert 4 < speedup < 8


@pytest.mark.parametrize("model, seq_len, why", [("gemma2_9b", 8192, "sliding window shorter than the prompt"),
                                                 ("lfm2_1_2b", 64, "short convolutions")])
def test_models_it_does_not_model_are_refused(model, seq_len, why):
    from accelsim.builders.build import build_graph
    from accelsim.config import load_workload
    from accelsim.errors import ConfigError

    with pytest.raises((ConfigError, WorkloadError), match=why):
        build_graph(load_workload(model, [f"workload.seq_len={seq_len}", "workload.context_parallel=2",
                                          "workload.attention=fused"]))


def test_a_window_longer_than_the_prompt_is_full_attention():
    # Gemma 2's 4096-token window over a 256-token prompt masks nothing: every layer splits as a global one
    from accelsim.builders.build import build_graph
    from accelsim.config import load_workload

    g = build_graph(load_workload("gemma2_9b", ["workload.seq_len=256", "workload.context_parallel=2",
                                                "workload.attention=fused", "workload.num_hidden_layers=2"]))
    assert sum(1 for o in g.ops if o.fn == "send_recv") == 2  # one ring step a layer (C − 1 = 1)


def test_chips_left_over_by_whole_groups_idle():
    # 8 chips, context parallel 3: two whole groups of 3 (Megatron's rank grid), so gradients are reduced over the
    # 6 chips of the two groups and a distributed optimizer shards its state 6 ways, not 8
    from accelsim.config import load_arch
    from accelsim.mapping import data_parallel

    g = _gpt(context_parallel=3, seq_len=60, mode="training")
    assert data_parallel(g, load_arch("dgx-h100")) == 6


def test_p2p_passes_k_and_v_round_the_ring():
    g = _gpt(context_parallel=C, context_parallel_comm="p2p")
    sends = [o for o in _layer(g, "collective")]
    assert [o.fn for o in sends] == ["send_recv"] * (C - 1)  # C − 1 steps bring the other chips' K and V
    for o in sends:  # K and V packed: 2 × (b, kv_heads, s/C, d)
        assert o.out_shape == (2, A, S // C, D) and o.attrs["side_stream"] and o.attrs["extent"] == C
    n = S // (2 * C)
    steps = {o.name.rsplit(".", 2)[-2]: (o.attrs["q_len"], o.attrs["kv_len"], o.attrs["causal"])
             for o in _layer(g, "attention")}
    # step 0: the two local chunks against themselves (causal); later steps bring chunks that lie after chip 0's
    # first chunk and before its second: only the second's n queries attend, to all 2n keys
    assert steps == {"step0": (2 * n, 2 * n, True), **{f"step{j}": (n, 2 * n, False) for j in range(1, C)}}
    (merge,) = [o for o in _layer(g, "elementwise") if o.fn == "attention_out_correction"]
    assert len(merge.inputs) == C and merge.out_shape == (1, A, S // C, D)


def test_p2p_training_passes_k_v_and_their_gradients_round_again():
    g = _gpt(context_parallel=C, context_parallel_comm="p2p", mode="training")
    sends = Counter((o.phase, bool(o.attrs.get("recompute"))) for o in _layer(g, "collective"))
    assert sends == {("forward", False): C - 1, ("backward", True): C - 1, ("backward", False): C - 1}
    assert all(o.fn == "send_recv" and o.attrs.get("side_stream") for o in _layer(g, "collective"))


def test_a_ring_step_is_a_point_to_point_send():
    # each send: latency + bytes / (bandwidth · efficiency) of the preset's NVLink (Interconnect.send_seconds, the
    # pipeline stages' send); K and V of s/C tokens, kv_heads · d features each, 2 bytes an element
    from accelsim.config import load_arch

    ic = load_arch("dgx-h100").interconnect
    r = api.simulate({"model": "gpt", "layers": 1, **SMALL, "context_parallel": C, "context_parallel_comm": "p2p"},
                     "dgx-h100", plots=False).to_dict()
    sends = [o for o in r["ops"] if o["kind"] == "collective" and ".layers.0." in o["name"]]
    nbytes = 2 * (S // C) * H * 2
    assert len(sends) == C - 1
    for o in sends:
        assert o["mapping"]["send_recv_s"] == pytest.approx(ic.latency + nbytes / (ic.bandwidth * ic.efficiency))


def test_the_ring_hides_its_sends_behind_attention_the_gather_does_not():
    # 32k tokens over 8 H100s (h = 4096): a ring step's send (2 × 4k tokens × 4096 × 2 B = 134 MB at ~350 GB/s,
    # ~0.4 ms) is shorter than a step's attention (4k × 8k query-key pairs × 4096 × 4 FLOPs = 0.55 TFLOP, ~0.8 ms),
    # so the ring's layer takes its compute; the all-gather's 2 × 7/8 × 268 MB (~1.3 ms a layer) waits in front of
    # the attention
    def run(comm: str) -> dict:
        return api.simulate({"model": "gpt", "layers": 2, "hidden": 4096, "heads": 32, "seq_len": 32768, "batch": 1,
                             "dtype": "bf16", "attention": "fused", "context_parallel": 8,
                             "context_parallel_comm": comm}, "dgx-h100", plots=False).to_dict()

    ring, gather = run("p2p"), run("all_gather")
    gathering = sum(o["mapping"].get("all_gather_s", 0) * o.get("count", 1) for o in gather["ops"])
    assert gathering > 0.1 * gather["seconds"]
    # the ring saves more than half of what the gathers spend on the link
    assert ring["seconds"] < gather["seconds"] - gathering / 2


def test_the_collective_micro_workload_times_a_ring_step():
    # nccl-tests' busbw of a send to one peer is its algbw: the whole buffer, over the call's time
    from accelsim.config import load_arch

    ic = load_arch("dgx-h100").interconnect
    r = api.simulate({"model": "collective", "op": "send_recv", "bytes": 64 * 2**20}, "dgx-h100",
                     plots=False).to_dict()
    (op,) = r["ops"]
    seconds = ic.latency + 64 * 2**20 / (ic.bandwidth * ic.efficiency)
    assert op["mapping"]["algorithm"] == "p2p" and op["mapping"]["send_recv_s"] == pytest.approx(seconds)
    assert op["mapping"]["bus_bandwidth"] == pytest.approx(64 * 2**20 / seconds)


@pytest.mark.parametrize("model, why", [("nemotron_nano_9b_v2", "NemotronHForCausalLM's recurrent layers"),
                                        ("qwen3_next_80b", "Qwen3NextForCausalLM's recurrent layers"),
                                        ("lfm2_1_2b", "Lfm2ForCausalLM's short convolutions")])
def test_a_layer_kind_it_cannot_split_is_refused_before_the_attention_setting(model, why):
    # attention is not fused here, but switching it would not help: the model's own refusal comes first, at the key
    # context_parallel (with its value), so the user is not sent to change attention for a second refusal
    from accelsim.config import load_workload
    from accelsim.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        load_workload(model, ["workload.seq_len=1024", "workload.context_parallel=2"])
    (issue,) = e.value.issues
    assert issue.key == "workload.context_parallel" and issue.value == 2
    assert issue.msg.startswith(f"not modelled for {why}")


def test_macs_and_flops_count_every_query_key_pair_whichever_way_the_sequence_is_split():
    # probe p40 finding 1: report.json's macs and flops are the model's count (DESIGN.md: attention over the full
    # score matrix, no causal discount), one chip's 1/C of it, at any context_parallel_comm; computed_* what ran.
    # The unsplit layer's fused attention over S tokens: B·A·S² pairs, each 2·D MACs (QKᵀ and PV) and 2·2·D + 5
    # (softmax) FLOPs. The ring's chips hold S/C + (C − 1)·S/2C query rows (step 0 all, later steps the second
    # chunk) and its ELEMENTWISE correction reads each partial output, 4 FLOPs an element: run work the others lack.
    # (Inference: a training step's optimizer updates every replicated weight on every chip, not 1/C of them.)
    def run(**kw) -> dict:
        return api.simulate({"model": "gpt", "layers": 1, **SMALL, **kw}, "dgx-h100", plots=False).to_dict()

    def attention(r: dict, what: str) -> float:
        return sum(o[what] * o.get("model_scale", 1) for o in r["ops"] if o["kind"] == "attention")

    whole = run()
    assert attention(whole, "macs") == A * S * S * 2 * D
    assert attention(whole, "flops") == A * S * S * (4 * D + 5)
    correction = 4 * A * (S // C + (C - 1) * S // (2 * C)) * D
    for comm in ("p2p", "all_gather", "a2a"):
        part = run(context_parallel=C, context_parallel_comm=comm)
        assert attention(part, "macs") * C == pytest.approx(A * S * S * 2 * D, rel=1e-12), comm
        assert attention(part, "flops") * C == pytest.approx(A * S * S * (4 * D + 5), rel=1e-12), comm
        assert part["macs"] * C == whole["macs"], comm
        assert part["flops"] * C == whole["flops"] + (C * correction if comm == "p2p" else 0), comm
        # what ran: the split's own ops. Pairs a chip, per head (n = S/2C = 8): the ring's step 0 (S/C)² = 256 and
        # C − 1 steps of n·S/C = 128, 640 = (C + 1)/2C of S²/C = 1024; all_gather's chunks n·n + n·S = 576 =
        # (2C + 1)/4C of it; a2a's A/C heads over S², all of it
        held = {"p2p": 640, "all_gather": 576, "a2a": 1024}[comm]
        assert sum(o["macs"] for o in part["ops"] if o["kind"] == "attention") == A * held * 2 * D, comm
        assert part["computed_macs"] == sum(o["macs"] for o in part["ops"])  # S/C = 16 tokens: no block to skip
        # accelsim info counts as report.json does (DESIGN.md: "info and report.json"): the same macs and flops
        info = _gpt(context_parallel=C, context_parallel_comm=comm).summary()
        assert (info["macs"], info["flops"]) == (part["macs"], part["flops"]), comm


@pytest.mark.parametrize("hidden, heads, tokens", [(256, 4, 32), (2048, 16, 4096)])
def test_the_ring_simulates_its_identical_middle_steps_once(hidden, heads, tokens, monkeypatch):
    # mapping.ring: steps 1 … C − 2 run as step 1 with every task C − 2 times as long, sends 2 … C − 2 as send 2
    # (C − 3 times), so the tasks do not grow with C, and the step chain ends when the unrolled one does: exactly
    # in the emitter's schedule, whether the sends (32 tokens a chip: a send's ~µs latency against a tiny attention)
    # or the attention (4096 tokens a chip, 2048 wide: ~1 GFLOP a step against a 16 MiB send) is the longer
    def run(c: int, unrolled: bool = False) -> dict:
        g = build_workload("gpt", {"layers": 1, "hidden": hidden, "heads": heads, "seq_len": tokens * c, "batch": 1,
                                   "dtype": "fp16", "attention": "fused", "context_parallel": c})
        with monkeypatch.context() as m:
            if unrolled:  # no ring folded: every send and step simulated
                m.setattr(importlib.import_module("accelsim.mapping.lower"), "ring_folds", lambda plans: {})
            return api.simulate(g, {"base": "dgx-h100", "chips": c}, plots=False).to_dict()

    runs = {c: (run(c), run(c, unrolled=True)) for c in (4, 8, 16)}
    for c, (folded, whole) in runs.items():
        assert folded["seconds"] == whole["seconds"]
        for key in ("macs", "flops", "computed_macs", "computed_flops", "bytes"):
            assert folded[key] == whole[key]
        # every op keeps its row: C − 1 sends and C − 1 steps after step 0, step 1 standing for C − 2 of them
        rows = {o["name"].rsplit("self_attention.", 1)[-1]: o for o in folded["ops"] if ".layers.0." in o["name"]}
        assert rows["step1.attention"]["mapping"]["ring_repeat"] == c - 2
        assert [j for j in range(1, c) if f"kv_ring{j}" in rows and f"step{j}.attention" in rows] == list(range(1, c))
        assert {rows[f"step{j}.attention"]["mapping"]["ring_folded_into"] for j in range(2, c - 1)} == {
            next(o["name"] for o in folded["ops"] if o["name"].endswith("layers.0.self_attention.step1.attention"))}
    tasks = {c: (f["simulation"]["tasks"], w["simulation"]["tasks"]) for c, (f, w) in runs.items()}
    assert tasks[4][0] == tasks[8][0] == tasks[16][0]
    # unrolled, each further chip adds one send and one step: the same number of tasks each
    assert tasks[16][1] - tasks[8][1] == 2 * (tasks[8][1] - tasks[4][1]) > 0


def test_a_folded_rings_rows_say_one_steps_rate_and_the_fold(tmp_path):
    # probe p49. C = 8, 4096 tokens a chip, 2048 wide: ~69 GFLOP a step against a 16 MiB send, so the attention is
    # the longer and steps 1 ... 7 (each n·S/C query-key pairs) run back to back, each as long as step 7 (unfolded).
    # Step 1 stands for r = C − 2 = 6 of them: its span is 6 of step 7's, its rate one step's (6 x its FLOPs over that
    # span), step 7's; steps 2 ... 6 have no span and end with it. Send 2 stands for sends 2 ... 6 (r = 5).
    from accelsim.report.html import render_html
    from accelsim.report.writers import write_ops_csv

    c = 8
    g = build_workload("gpt", {"layers": 1, "hidden": 2048, "heads": 16, "seq_len": 4096 * c, "batch": 1,
                               "dtype": "fp16", "attention": "fused", "context_parallel": c})
    report = api.simulate(g, {"base": "dgx-h100", "chips": c}, plots=False).to_dict()
    rows = {o["name"].rsplit("self_attention.", 1)[-1]: o for o in report["ops"] if ".layers.0." in o["name"]}
    one, last = rows["step1.attention"], rows["step7.attention"]

    def span(o: dict) -> int:
        return o["end_cycle"] - o["start_cycle"]

    assert one["flops"] == last["flops"] and span(one) == 6 * span(last) > 0
    assert one["achieved_flops_per_s"] == pytest.approx(last["achieved_flops_per_s"], rel=1e-12)
    for j in range(2, c - 1):
        assert rows[f"step{j}.attention"]["start_cycle"] == rows[f"step{j}.attention"]["end_cycle"] == one["end_cycle"]
        assert rows[f"step{j}.attention"]["achieved_flops_per_s"] is None
    for j in range(3, c - 1):
        assert rows[f"kv_ring{j}"]["start_cycle"] == rows[f"kv_ring{j}"]["end_cycle"] == rows["kv_ring2"]["end_cycle"]
    assert span(rows["kv_ring2"]) == 5 * span(rows["kv_ring7"])
    # ops.csv and the HTML op table show the fold
    lines = write_ops_csv(report, tmp_path / "ops.csv").read_text().splitlines()
    head = lines[0].split(",")
    csv_rows = {r.split(",")[0].rsplit("self_attention.", 1)[-1]: r.split(",") for r in lines[1:]
                if ".layers.0." in r}
    at, into = head.index("ring_repeat"), head.index("ring_folded_into")
    assert csv_rows["step1.attention"][at] == "6" and csv_rows["kv_ring2"][at] == "5"
    assert csv_rows["step3.attention"][into] == one["name"] and csv_rows["step7.attention"][at:into + 1] == ["", ""]
    page = render_html(report, plots=False)
    assert "<th>ring</th>" in page and "<td>×6</td>" in page and f"<td>in {one['name']}</td>" in page
    # a run without a folded ring has neither column
    plain = api.simulate(_gpt(), {"base": "dgx-h100", "chips": 1}, plots=False).to_dict()
    assert "ring_repeat" not in write_ops_csv(plain, tmp_path / "plain.csv").read_text().splitlines()[0]
