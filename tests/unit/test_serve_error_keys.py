"""Errors ``accelsim serve`` finds after loading (a replica's KV room, a disaggregation link) name the key at fault
where it was written: the ``--set`` item that gave it, else its section's line in the file (probe p35 findings 2, 3; the
requests too long for max_model_len at the key's own line, probe p41 finding 6)."""

from __future__ import annotations

import pytest

from accelsim.cli import main
from accelsim.config.serving import load_serving
from accelsim.serving import _transfer
from accelsim.serving.cost import footprint
from accelsim.serving.requests import Request

from .test_serve_bad_input import cli_error

# the probe's file: 512 + 128 = 640 tokens a request, ⌈640 / 16⌉ = 40 KV blocks
SINGLE = """\
name: single
model: {model: llama2_7b}
arch: h100
engine: {max_num_seqs: 128, max_num_batched_tokens: 2048, max_model_len: 4096, block_size: 16}
workload:
  arrival: {process: constant, rate: 0.5}
  prompt_tokens: {dist: fixed, value: 512}
  output_tokens: {dist: fixed, value: 128}
  requests: 3
slo: {ttft: 200ms, tpot: 50ms}
"""

# LLaMA-2-7B: 6,738,415,616 parameters x 2 B (fp16) = 13,476,831,232 B of weights on one chip. The H100's 80 GiB
# is 85,899,345,920 B; 0.1 of it, 8,589,934,592 B, holds less than the weights, the whole of it 72,422,514,688 B more,
# many KV blocks of 16 tokens x 524,288 B (2 x 32 layers x 4,096 x 2 B a token) = 8,388,608 B
# (the weights alone do not fit in that 0.1: the message says so, probe p258 #2)
NO_ROOM = ("the weights alone (13,476,831,232 B per chip) do not fit in 0.1 of 85,899,345,920 B = 8,589,934,592 B (use "
           "more tensor parallelism or, for a mixture of experts, expert parallelism (model.expert_parallel), or a "
           "larger gpu_memory_fraction)")


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_fraction_set_after_the_model_is_the_limit_reported(here, capsys):
    # the file gives the model, --set the fraction: the fraction was set last, and a larger one would make room
    assert cli_error(capsys, SINGLE, "--set", "engine.gpu_memory_fraction=0.1") == (
        f"accelsim: error: --set: engine.gpu_memory_fraction: {NO_ROOM}")


def test_a_fraction_in_the_same_file_as_the_model_keeps_the_model(here, capsys):
    # a tie (both in the user's file) stays at the model, as a rule between two keys does elsewhere
    text = SINGLE.replace("block_size: 16}", "block_size: 16, gpu_memory_fraction: 0.1}")
    assert cli_error(capsys, text) == f"accelsim: error: s.yaml:2: model: {NO_ROOM}"


def test_weights_larger_than_the_whole_memory_are_the_models_fault(here, capsys):
    # LLaMA-2-70B: 68,976,648,192 parameters x 2 B = 137,953,296,384 B, more than the H100's whole
    # 85,899,345,920 B: no fraction would hold a block, so the model is at fault though --set gave the fraction
    text = SINGLE.replace("model: llama2_7b", "model: llama2_70b")
    assert cli_error(capsys, text, "--set", "engine.gpu_memory_fraction=0.5") == (
        "accelsim: error: s.yaml:2: model: the weights alone (137,953,296,384 B per chip) do not fit in 0.5 of "
        "85,899,345,920 B = 42,949,672,960 B (use more tensor parallelism or, for a mixture of experts, expert "
        "parallelism (model.expert_parallel), or a chip with more memory: the engine holds weights "
        "and KV cache in hbm, and gpu_memory_fraction is at most 1)")


# probe p132 #3: a block the memory left after the weights cannot hold is the block size's fault, not the model's.
# It was shown with a block of 100,000,000 tokens, which vLLM refuses anyway (probe p263 #2: its block sizes are 1,
# 8, ..., 256, vllm/config/cache.py) and is now refused as such (below); the largest, 256, against a fraction that
# leaves little room: 0.158 of the H100's 85,899,345,920 B is 8,589,934,592 + 4,294,967,296 + 687,194,767.36 =
# 13,572,096,655.36 B, less the 13,476,831,232 B of weights leaves 95,265,423.36 B, room for
# ⌊95,265,423.36 / 524,288⌋ = 181 tokens (181 × 524,288 = 94,896,128; 182 × = 95,420,416 is over), less than one
# block of 256 × 524,288 = 134,217,728 B; the largest of vLLM's sizes within 181 is 128 (128 × 524,288 = 67,108,864)
BIG_BLOCK = ("engine.block_size: one KV block of 256 tokens × 524,288 B = 134,217,728 B is more than the "
             "95,265,423 B that 0.158 of 85,899,345,920 B holds after the weights (13,476,831,232 B per chip): a "
             "block of at most 181 tokens fits, so block_size 128 at most (the default: 16)")
TIGHT = SINGLE.replace("block_size: 16}", "block_size: 16, gpu_memory_fraction: 0.158}")


@pytest.mark.parametrize("args, text, where", [
    (["--set", "engine.block_size=256"], TIGHT, "--set"),  # over the file's model
    ([], TIGHT.replace("block_size: 16", "block_size: 256"), "s.yaml:4"),  # beside it (a tie)
])
def test_a_block_larger_than_the_room_after_the_weights_is_the_block_sizes_fault(here, capsys, args, text, where):
    assert cli_error(capsys, text, *args) == (
        f"accelsim: error: {where}: {BIG_BLOCK}")


def test_the_preset_serving_file_with_a_set_block_size_names_the_block(here, capsys):
    # the preset names the model (its fraction 0.9), --set the fraction and then the block size
    assert main(["serve", "llama2_7b_h100", "--no-plots", "-q", "--set", "workload.duration=5s", "-o", "sv1",
                 "--set", "engine.gpu_memory_fraction=0.158", "--set", "engine.block_size=256"]) == 2
    assert capsys.readouterr().err == f"accelsim: error: --set: {BIG_BLOCK}\n"


VLLM_SIZES = ("expected one of 1, 8, 16, 32, 64, 128, 256: the block sizes vLLM accepts (BlockSize in "
              "vllm/config/cache.py)")


@pytest.mark.parametrize("size", [7, 24, 100_000, 100_000_000])
def test_a_block_size_vllm_refuses_is_refused_at_its_key(here, capsys, size):
    # probe p263 #2: vLLM's CacheConfig types block_size as BlockSize = Literal[1, 8, 16, 32, 64, 128, 256]
    # (vllm/config/cache.py), so --block-size 7 or 100000 stops it at startup; accelsim ran them (100,000: 4 blocks
    # on an H100, at most 4 sequences)
    assert cli_error(capsys, SINGLE, "--set", f"engine.block_size={size}") == (
        f"accelsim: error: --set: engine.block_size: {VLLM_SIZES} (got {size})")
    text = SINGLE.replace("block_size: 16", f"block_size: {size}")
    assert cli_error(capsys, text) == f"accelsim: error: s.yaml:4: engine.block_size: {VLLM_SIZES} (got {size})"


@pytest.mark.parametrize("size", [1, 8, 16, 32, 64, 128, 256])
def test_every_block_size_vllm_accepts_loads(here, size):
    (here / "s.yaml").write_text(SINGLE)
    assert load_serving("s.yaml", [f"engine.block_size={size}"]).serve.engine.block_size == size


@pytest.mark.parametrize("where, args, text, point", [
    ("--set", ["--set", "engine.kv_blocks=1"], SINGLE, ""),  # the file has no kv_blocks: it was blamed at s.yaml:4
    ("s.yaml:4", [], SINGLE.replace("block_size: 16}", "block_size: 16, kv_blocks: 1}"), ""),
    ("--sweep", ["--sweep", "engine.kv_blocks=1,2"], SINGLE, ""),  # the label names the --sweep item: no suffix
])
def test_kv_blocks_too_few_for_a_request_are_reported_where_given(here, capsys, where, args, text, point):
    # 512 + 128 = 640 tokens hold KV for 639, the last token sampled never being fed back (probe p212 #1; the
    # message now says so): ⌈639 / 16⌉ = 40 blocks
    assert cli_error(capsys, text, *args) == (
        f"accelsim: error: {where}: engine.kv_blocks: no request can be served: every request has 512 prompt + 128 "
        f"output tokens = 640, KV for 639 (the last token sampled is never fed back): 40 blocks of 16, more than a "
        f"replica's 1{point} (got 1)")


NO_LINK = ("disaggregation.bandwidth: arch 'h100' has no interconnect to default to: give the KV transfer's "
           "bandwidth (e.g. 50GB/s between two servers, a DGX H100's 400 Gb/s ConnectX-7 NIC a GPU; 450GB/s within "
           "one HGX/DGX H100 node, NVLink 4 per direction) or use a multi-chip arch (dgx-h100)")


def test_disaggregation_without_a_link_on_one_chip_names_where_it_was_given(here, capsys):
    pair = "{prefill_replicas: 1, decode_replicas: 1}"
    assert cli_error(capsys, SINGLE, "--set", f"disaggregation={pair}") == f"accelsim: error: --set: {NO_LINK}"
    # written in the file: at its line (it had no line number at all under --set, and none is lost here)
    assert cli_error(capsys, SINGLE + f"disaggregation: {pair}\n") == f"accelsim: error: s.yaml:11: {NO_LINK}"
    # the bandwidths the message suggests are accepted
    for text, value in (("50GB/s", 50e9), ("450GB/s", 450e9)):
        with open("ok.yaml", "w") as f:
            f.write(SINGLE + f"disaggregation: {{prefill_replicas: 1, decode_replicas: 1, bandwidth: {text}}}\n")
        assert load_serving("ok.yaml").serve.disaggregation.bandwidth == value


def test_a_multi_chip_arch_gives_the_default_link(here):
    # dgx-h100's interconnect: 450 GB/s a direction between two GPUs x 0.82 efficiency = 369 GB/s, 8.92 us latency.
    # A 512-token prompt's KV: 512 x 524,288 B = 268,435,456 B; / 369e9 B/s = 727.467 us; + 8.92 us = 736.387 us
    seconds, req = _transfer_of(SINGLE.replace("arch: h100", "arch: dgx-h100"))
    assert seconds(req) == pytest.approx(8.92e-6 + 268_435_456 / 369e9, rel=1e-12)


def test_replicas_beyond_one_node_default_to_the_nic(here):
    # two replicas of tensor_parallel 8 on dgx-h100 (8 GPUs a node) need 16 chips: they sit on two servers, so the
    # KV crosses the scale-out network, a ConnectX-7 NIC a GPU: 400 Gb/s = 50 GB/s x 0.94 efficiency = 47 GB/s,
    # 20 us latency (arch/dgx-h100.yaml), not NVLink's 369 GB/s. Each chip sends its shard: 512 tokens x 524,288 B / 8
    # = 33,554,432 B; / 47e9 B/s = 713.924 us; + 20 us
    text = SINGLE.replace("arch: h100", "arch: dgx-h100").replace("{model: llama2_7b}",
                                                                  "{model: llama2_7b, tensor_parallel: 8}")
    seconds, req = _transfer_of(text)
    assert seconds(req) == pytest.approx(20e-6 + 33_554_432 / 47e9, rel=1e-12)
    assert seconds.link == "interconnect.scale_out (InfiniBand NDR)"
    # tensor_parallel 4: 2 x 4 = 8 chips fit the node, and the default stays NVLink (450 GB/s x 0.82, 8.92 us)
    seconds, req = _transfer_of(text, ["model.tensor_parallel=4"])
    assert seconds(req) == pytest.approx(8.92e-6 + 512 * 524_288 / 4 / 369e9, rel=1e-12)


def _transfer_of(text: str, overrides: list[str] | None = None):
    """The KV-transfer pricing of ``text`` with one prefill and one decode replica, and a request whose 512 prompt
    tokens are computed (the shard each chip sends)."""
    with open("d.yaml", "w") as f:
        f.write(text + "disaggregation: {prefill_replicas: 1, decode_replicas: 1}\n")
    spec = load_serving("d.yaml", overrides or [])
    req = Request(0, 0.0, 512, 128)
    req.computed = 512
    return _transfer(spec, footprint(spec.model, spec.arch, spec.serve.engine)), req


def test_the_report_totals_the_kv_transfers(here):
    # three requests of 512 prompt tokens, each prefilled on replica 0 and decoded on replica 1 over a 50 GB/s link
    # with 1 ms latency: 3 x 512 x 524,288 B = 805,306,368 B on the one chip; each 1 ms + 268,435,456 / 50e9 s
    from accelsim.serving import serve

    with open("d.yaml", "w") as f:
        f.write(SINGLE + "disaggregation: {prefill_replicas: 1, decode_replicas: 1, bandwidth: 50GB/s, "
                         "latency: 1ms}\n")
    kt = serve(load_serving("d.yaml"), cost=lambda *a: 0.01, blocks=1000).report["serving"]["kv_transfer"]
    each = 1e-3 + 268_435_456 / 50e9
    assert (kt["transfers"], kt["bytes_per_chip"], kt["mean_bytes_per_chip"]) == (3, 805_306_368, 268_435_456)
    assert (kt["seconds"], kt["mean_s"]) == pytest.approx((3 * each, each), rel=1e-12)
    assert (kt["bandwidth_bytes_per_s"], kt["latency_s"]) == (50e9, 1e-3)


# LLaMA-2-13B: 40 layers x (4 x 5,120^2 attention + 3 x 5,120 x 13,824 MLP + 2 x 5,120 norms) = 12,688,179,200, plus
# embedding and head 2 x 32,000 x 5,120 = 327,680,000 and the final norm's 5,120: 13,015,864,320 parameters x 2 B =
# 26,031,728,640 B, above 0.1 of the H100's 85,899,345,920 B
# (8,589,934,592 B) but below the whole of it: either the model or the fraction may be the one changed last
THIRTEEN = "the weights alone (26,031,728,640 B per chip) do not fit in 0.1 of 85,899,345,920 B = 8,589,934,592 B"


def test_a_model_set_inside_its_section_on_the_command_line_is_blamed_there(here, capsys):
    # the file's line 2 names llama2_7b: a 70B model from --set model.model is the --set item's doing
    assert cli_error(capsys, SINGLE, "--set", "model.model=llama2_70b") == (
        "accelsim: error: --set: model: the weights alone (137,953,296,384 B per chip) do not fit in 0.9 of "
        "85,899,345,920 B = 77,309,411,328 B (use more tensor parallelism or, for a mixture of experts, expert "
        "parallelism (model.expert_parallel), or a chip with more memory: the engine holds weights "
        "and KV cache in hbm, and gpu_memory_fraction is at most 1)")


@pytest.mark.parametrize("items, key", [
    (["engine.gpu_memory_fraction=0.1", "model.model=llama2_13b"], "model"),  # the model set last
    (["model.model=llama2_13b", "engine.gpu_memory_fraction=0.1"], "engine.gpu_memory_fraction"),
])
def test_the_later_of_two_set_items_is_blamed(here, capsys, items, key):
    args = [a for item in items for a in ("--set", item)]
    assert cli_error(capsys, SINGLE, *args).startswith(f"accelsim: error: --set: {key}: {THIRTEEN} (")


def test_a_swept_model_is_later_than_a_set_fraction(here):
    # a --sweep point's items apply after the --set items: the swept model is the more recent, the --sweep its label
    from accelsim.errors import ConfigError
    from accelsim.serving import check

    with open("s.yaml", "w") as f:
        f.write(SINGLE)
    with pytest.raises(ConfigError) as e:
        check(load_serving("s.yaml", ["engine.gpu_memory_fraction=0.1"], swept=["model.model=llama2_13b"]))
    assert str(e.value).startswith(f"--sweep: model: {THIRTEEN} (")


# probe p41 finding 6: no engine section, so max_model_len is the default 4,096; the prompts (line 5) are too long
TOO_LONG = """\
model: llama2_7b
arch: h100
workload:
  arrival: {rate: 2}
  prompt_tokens: {dist: fixed, value: 5000}
  output_tokens: {dist: fixed, value: 10}
  duration: 5s
"""


def test_requests_longer_than_a_default_max_model_len_are_blamed_at_their_own_line(here, capsys):
    # 5,000 + 10 = 5,010 tokens > 4,096: the file never set max_model_len, so the error is at the prompt's line 5,
    # not at the engine key the file lacks (which gave no line at all)
    assert cli_error(capsys, TOO_LONG) == (
        "accelsim: error: s.yaml:5: workload.prompt_tokens: no request can be served: every request has 5,000 prompt "
        "+ 10 output tokens = 5,010, more than engine.max_model_len 4,096 (the default) (shorten "
        "workload.prompt_tokens or output_tokens, or raise max_model_len)")
    # the output tokens set last (--set over the file) carry the blame, naming max_model_len's line where written
    text = TOO_LONG.replace("  duration: 5s\n", "  duration: 5s\nengine: {max_model_len: 6000}\n")
    assert cli_error(capsys, text, "--set", "workload.output_tokens={dist: fixed, value: 1001}") == (
        "accelsim: error: --set: workload.output_tokens: no request can be served: every request has 5,000 prompt "
        "+ 1,001 output tokens = 6,001, more than engine.max_model_len 6,000 (s.yaml:8) (shorten "
        "workload.prompt_tokens or output_tokens, or raise max_model_len)")


def test_a_max_model_len_set_last_is_blamed_naming_where_the_lengths_came_from(here, capsys):
    # 5,000 + 10 tokens against max_model_len 4,000 given by --set: the limit is at fault, the prompts' line named
    assert cli_error(capsys, TOO_LONG, "--set", "engine.max_model_len=4000") == (
        "accelsim: error: --set: engine.max_model_len: no request can be served: every request has 5,000 prompt + "
        "10 output tokens = 5,010 (workload.prompt_tokens, s.yaml:5), more than max_model_len (raise it, or shorten "
        "workload.prompt_tokens or output_tokens) (got 4000)")
    # both in the file (a tie): at max_model_len's own line, 8, as before
    text = TOO_LONG.replace("  duration: 5s\n", "  duration: 5s\nengine: {max_model_len: 4000}\n")
    assert cli_error(capsys, text).startswith("accelsim: error: s.yaml:8: engine.max_model_len: no request can be "
                                              "served: every request has 5,000 prompt + 10 output tokens = 5,010 "
                                              "(workload.prompt_tokens, s.yaml:5)")


def test_a_set_inside_a_files_key_is_blamed_on_the_set(tmp_path, capsys):
    # probe p46 #3: workload.output_tokens written in the file (value 300) and its .value raised by --set to 5,000:
    # the too-long requests are the --set's doing, not the file line's (1 + 5,000 = 5,001 > max_model_len 4,096)
    from accelsim.cli import main
    f = tmp_path / "ml.yaml"
    f.write_text("name: ml\nmodel: {base: llama2_7b}\narch: h100\nworkload:\n  arrival: {process: poisson, rate: 1}\n"
                 "  prompt_tokens: {dist: fixed, value: 1}\n  output_tokens: {dist: fixed, value: 300}\n"
                 "  requests: 3\n")
    assert main(["serve", str(f), "--set", "workload.output_tokens.value=5000", "--no-plots", "-q"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--set: workload.output_tokens: no request can be served" in line and "ml.yaml" not in line
