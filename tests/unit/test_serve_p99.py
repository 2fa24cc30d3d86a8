"""Probe p99 (serving under load): an arrival trace beside the settings it replaces (#1, #2), a trace's images column
(#3), a shared prefix's cache growing past its first request's (#4), ``accelsim.serve`` overrides (#5), a ``--set``
trace path (#6), cross-key errors at the key set last (#7) and messages (#8). Every time and count is computed by
hand from a stub iteration cost (the test hook of ``accelsim.serving.serve``) and given KV blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

import accelsim
from accelsim.cli import main
from accelsim.config.presets import preset_dir
from accelsim.config.serving import load_serving
from accelsim.errors import ConfigError
from accelsim.serving import serve
from accelsim.serving.curve import checked_points

TRACE = "arrival_s,prompt_tokens,output_tokens\n0,512,64\n0.5,512,64\n1.0,100,10\n"
TRACE_FILE = """\
name: tr
model: {model: llama2_7b}
arch: h100
workload:
  arrival: {trace: t.csv}
"""
# the same trace with a process, a rate and length distributions written beside it (the probe's tr_mix.yaml)
MIXED_FILE = """\
name: trmix
model: {model: llama2_7b}
arch: h100
workload:
  arrival: {process: constant, rate: 8, trace: t.csv}
  prompt_tokens: {dist: normal, mean: 575, std: 8}
  output_tokens: {dist: fixed, value: 248}
"""
ENGINE = {"max_num_seqs": 8, "max_num_batched_tokens": 256, "max_model_len": 1024, "block_size": 16}


def one_ms(p, d, kv, scores=0):
    return 0.001


def run_cli(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["serve", *args])
    return code, capsys.readouterr().err.strip().splitlines()


def preset_line(text: str) -> int:
    """The line of the llama2_7b_h100 preset that holds ``text`` (read from the file, not written down)."""
    lines = (preset_dir("experiments") / "serving" / "llama2_7b_h100.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


# ---- #1: --capacity on a trace is the trace's error, whatever rate is written beside it ------------------------

def test_capacity_on_a_trace_is_the_same_error_with_or_without_a_rate(here, capsys):
    (here / "t.csv").write_text(TRACE)
    (here / "tr.yaml").write_text(TRACE_FILE)
    (here / "mix.yaml").write_text(MIXED_FILE)
    base = ["-o", "out", "-q", "--no-plots", "--capacity", "--set", "slo.ttft=200ms"]
    code, plain = run_cli(capsys, "tr.yaml", *base)
    assert code == 2
    # the trace is written at line 5 of tr.yaml
    assert plain == ["accelsim: error: tr.yaml:5: workload.arrival.trace: a capacity search varies "
                     "workload.arrival.rate: not with a trace, whose rows fix the arrival times (drop it: --set "
                     "workload.arrival.trace=null, and give a rate) (got 't.csv')"]
    # before: 13 probes, "capacity: at least 3.277e+04 requests/s" for a trace completing 2 requests/s
    assert run_cli(capsys, "tr.yaml", *base, "--set", "workload.arrival.rate=8") == (2, plain)
    code, mixed = run_cli(capsys, "mix.yaml", *base, "--set", "workload.requests=3")
    assert code == 2 and mixed == [plain[0].replace("tr.yaml", "mix.yaml")]
    assert not (here / "out").exists()


# ---- #2: a trace run is a trace run; what it replaced is noted; a sweep of it refused --------------------------

def test_a_trace_replaces_the_process_rate_and_lengths_beside_it_with_a_note(here):
    (here / "t.csv").write_text(TRACE)
    (here / "mix.yaml").write_text(MIXED_FILE)
    spec = load_serving("mix.yaml", [f"engine.{k}={v}" for k, v in ENGINE.items()])
    w = spec.serve.workload
    assert (w.arrival.process, w.arrival.rate, w.prompt_tokens.dist, w.output_tokens.dist) == \
        ("trace", None, "trace", "trace")
    assert spec.replaced == ("workload.arrival.process", "workload.arrival.rate", "workload.prompt_tokens",
                             "workload.output_tokens")
    res = serve(spec, cost=one_ms, blocks=1000)
    # the trace's rows ran: arrivals 0, 0.5, 1.0 s; lengths 512/64, 512/64, 100/10
    assert [(r.arrival, r.prompt, r.output) for r in res.requests] == [(0, 512, 64), (0.5, 512, 64), (1.0, 100, 10)]
    shown = res.report["config"]["workload"]
    assert shown["arrival"]["process"] == "trace" and shown["arrival"]["rate"] is None
    assert shown["prompt_tokens"]["dist"] == shown["output_tokens"]["dist"] == "trace"
    (note,) = [n for n in res.report["notes"] if n.startswith("workload.arrival.trace")]
    # mix.yaml: the arrival at line 5, the lengths at lines 6 and 7
    for text in ("workload.arrival.process constant (mix.yaml:5)", "workload.arrival.rate 8 (mix.yaml:5)",
                 "workload.prompt_tokens {dist: normal, mean: 575, std: 8} (mix.yaml:6)",
                 "workload.output_tokens {dist: fixed, value: 248} (mix.yaml:7)"):
        assert text in note


def test_a_set_trace_over_the_preset_notes_the_preset_lines_it_replaced(here):
    (here / "t.csv").write_text(TRACE)
    spec = load_serving("llama2_7b_h100", ["workload.arrival.trace=t.csv"])
    (note,) = spec.notes
    assert note.startswith("workload.arrival.trace (--set): ")
    arrival, prompt = preset_line("arrival:"), preset_line("prompt_tokens:")
    assert "workload.arrival.rate 8 (" in note and f"llama2_7b_h100.yaml:{arrival})" in note
    assert f"llama2_7b_h100.yaml:{prompt})" in note
    assert spec.serve.workload.arrival.rate is None


def test_a_sweep_of_a_key_the_trace_replaces_is_refused_before_any_point(here, capsys):
    (here / "t.csv").write_text(TRACE)
    (here / "tr.yaml").write_text(TRACE_FILE)
    code, err = run_cli(capsys, "tr.yaml", "-o", "out", "-q", "--no-plots", "--sweep", "workload.arrival.rate=1,100")
    assert code == 2
    # before: two identical sweep.csv rows, exit 0
    assert err == ["accelsim: error: --sweep: workload.arrival.rate: replaced by workload.arrival.trace (tr.yaml:5), "
                   "whose rows give the requests: every point would run the trace alike; sweep another key, or drop "
                   "the trace (--set workload.arrival.trace=null)"]
    with pytest.raises(ConfigError, match=r"--sweep: workload\.prompt_tokens\.mean: replaced by"):
        checked_points("tr.yaml", "workload.prompt_tokens.mean", ["1", "2"], [], lambda s: None)


def test_an_arrival_built_in_python_with_a_trace_and_a_rate_is_refused():
    from accelsim.config.serving import Arrival

    with pytest.raises(ValueError, match="trace: not with rate"):
        Arrival(trace="t.csv", rate=3)
    with pytest.raises(ValueError, match="trace: not with process poisson"):
        Arrival(trace="t.csv", process="poisson")


# ---- #3: a trace's images column is read ------------------------------------------------------------------------

# Qwen2.5-VL at 448 x 448 pixels: 448 / 14 = 32 patches a side, merged 2 x 2: 32² / 4 = 256 tokens an image
QWEN_448_TOKENS = (448 // 14) ** 2 // 2**2


def test_a_trace_images_column_gives_the_images_without_workload_images(here):
    (here / "tvl.csv").write_text("arrival_s,prompt_tokens,output_tokens,images\n0,100,16,2\n1,100,16,0\n")
    doc = {"name": "t", "model": {"base": "qwen2_5_vl_7b"}, "arch": "h100",
           "engine": {"max_num_seqs": 8, "max_num_batched_tokens": 4096, "max_model_len": 1024, "block_size": 16},
           "workload": {"arrival": {"trace": "tvl.csv"}}}
    spec = load_serving(doc)
    assert spec.serve.workload.images.dist == "trace" and spec.notes == ()
    res = serve(spec, cost=one_ms, blocks=1000, encode=lambda images: 0.010 * images)
    # before: images 0 and 100 prompt tokens for both (the column dropped)
    assert [(r.images, r.prompt) for r in res.requests] == [(2, 100 + 2 * QWEN_448_TOKENS), (0, 100)]
    # a distribution given beside the column is replaced by it, with a note
    spec = load_serving({**doc, "workload": {**doc["workload"], "images": {"dist": "fixed", "value": 1}}})
    assert spec.serve.workload.images.dist == "trace" and spec.replaced == ("workload.images",)
    assert "workload.images {dist: fixed, value: 1} (<input>)" in spec.notes[0]


def test_a_trace_with_images_on_a_text_model_is_an_error_at_the_trace(here):
    (here / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens,images\n0,512,64,3\n")
    (here / "tr.yaml").write_text(TRACE_FILE)
    with pytest.raises(ConfigError) as e:
        serve(load_serving("tr.yaml"), cost=one_ms, blocks=1000)
    assert str(e.value).startswith("tr.yaml:5: workload.arrival.trace: its images column gives 1 request images, "
                                   "but llama2_7b has no image encoder")
    # a column of zeros on a text model: nothing to encode, the run goes on
    (here / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens,images\n0,512,64,0\n")
    res = serve(load_serving("tr.yaml"), cost=one_ms, blocks=1000)
    assert [(r.prompt, r.images) for r in res.requests] == [(512, 0)]


# ---- #4: a group's cached prefix grows when a request computes more of it -------------------------------------

def test_a_short_first_prompt_does_not_cap_the_group_cache(here):
    # prompts of 50, 500, 500, 500 tokens in group 0, 1 s apart (each done long before the next: 1 ms iterations);
    # a shared prefix of 100 tokens, blocks of 16. Request 0's prefix is cut to all but its last token, 49: 3 full
    # blocks = 48 tokens cached. Request 1 hits them (48), computes the rest of the prefix: ⌊100 / 16⌋ = 6 blocks,
    # which vLLM caches by hash; requests 2 and 3 hit 6 blocks = 96 tokens (before: 48, 48).
    (here / "p.csv").write_text("arrival_s,prompt_tokens,output_tokens,prefix_group\n"
                                "0,50,10,0\n1,500,10,0\n2,500,10,0\n3,500,10,0\n")
    spec = load_serving({"name": "p", "model": "llama2_7b", "arch": "h100", "engine": {**ENGINE,
                         "prefix_caching": True}, "workload": {"arrival": {"trace": "p.csv"},
                         "shared_prefix": {"groups": 1, "tokens": 100}}})
    res = serve(spec, cost=one_ms, blocks=1000)
    assert [r.cached_tokens for r in res.requests] == [0, 3 * 16, 6 * 16, 6 * 16]
    # the first prompt at 500: 6 blocks from request 1 on
    (here / "p.csv").write_text((here / "p.csv").read_text().replace("0,50,10,0", "0,500,10,0"))
    res = serve(load_serving({**spec_doc(), "workload": {"arrival": {"trace": "p.csv"},
                                                         "shared_prefix": {"groups": 1, "tokens": 100}}}),
                cost=one_ms, blocks=1000)
    assert [r.cached_tokens for r in res.requests] == [0, 96, 96, 96]


def spec_doc() -> dict:
    return {"name": "p", "model": "llama2_7b", "arch": "h100", "engine": {**ENGINE, "prefix_caching": True}}


def test_two_requests_admitted_together_keep_the_cache_consistent(here):
    # both longer requests arrive at 1 s and are admitted in one iteration (452 + 452 new tokens within a budget of
    # 2,048), each hitting request 0's 3 blocks: the first in the batch grows the group to 6; the other holds
    # private copies of blocks 4-6 and leaves the cache at 6. Request 3 (at 3 s) hits all 6: 96 tokens; every block
    # comes back when the run ends (the pool's used count is 0).
    (here / "p.csv").write_text("arrival_s,prompt_tokens,output_tokens,prefix_group\n"
                                "0,50,10,0\n1,500,10,0\n1,500,10,0\n3,500,10,0\n")
    doc = spec_doc()
    doc["engine"] = {**doc["engine"], "max_num_batched_tokens": 2048}
    res = serve(load_serving({**doc, "workload": {"arrival": {"trace": "p.csv"},
                                                         "shared_prefix": {"groups": 1, "tokens": 100}}}),
                cost=one_ms, blocks=1000)
    assert [r.cached_tokens for r in res.requests] == [0, 48, 48, 96]
    (rep,) = res.replicas
    assert rep.pool.used == 0 and rep.pool.cached == {0: 6}


# ---- #5: accelsim.serve's overrides -----------------------------------------------------------------------------

def test_serve_refuses_overrides_beside_a_loaded_spec_and_a_mapping_of_them():
    doc = {"name": "t", "model": "llama2_7b", "arch": "h100", "engine": ENGINE,
           "workload": {"arrival": {"process": "constant", "rate": 1}, "prompt_tokens": 10, "output_tokens": 2,
                        "requests": 2}}
    spec = load_serving(doc)
    with pytest.raises(ConfigError, match=r"^<input>: overrides: not with a loaded ServingSpec"):
        accelsim.serve(spec, overrides=["engine.max_num_seqs=1"])  # before: ignored, max_num_seqs stayed 8
    with pytest.raises(ConfigError, match=r"^<input>: overrides: expected a list of 'KEY=VALUE' strings.* not a dict$"):
        accelsim.serve(doc, overrides={"workload.arrival.rate": 3})
    with pytest.raises(ConfigError, match=r"not a str$"):
        accelsim.serve(doc, overrides="workload.arrival.rate=3")
    # accelsim.api.load_serving the same (probe p107 #9: it read a string letter by letter, a dict as its keys)
    from accelsim.api import load_serving as api_load
    for bad, kind in (({"workload.arrival.rate": 3}, "dict"), ("workload.arrival.rate=3", "str")):
        with pytest.raises(ConfigError, match=rf"^<input>: overrides: expected a list .* not a {kind}$"):
            api_load(doc, bad)


# ---- #6: a --set trace path is the working directory's ---------------------------------------------------------

def test_a_set_trace_path_is_read_from_the_working_directory(here):
    (here / "t.csv").write_text(TRACE)
    (here / "sub").mkdir()
    (here / "sub" / "s.yaml").write_text(TRACE_FILE.replace("t.csv", "other.csv"))
    spec = load_serving("sub/s.yaml", ["workload.arrival.trace=t.csv"])
    assert Path(spec.trace_file).resolve() == here / "t.csv"
    spec = load_serving("llama2_7b_h100", ["workload.arrival.trace=t.csv"])  # before: the preset's folder
    assert Path(spec.trace_file).resolve() == here / "t.csv"
    with pytest.raises(ConfigError) as e:
        load_serving("llama2_7b_h100", ["workload.arrival.trace=none.csv"])
    assert str(e.value) == "--set: workload.arrival.trace: file not found (got 'none.csv')"
    # written in a file: that file's folder first, then the working directory (docs/configuration.md)
    (here / "sub" / "s.yaml").write_text(TRACE_FILE)
    assert Path(load_serving("sub/s.yaml").trace_file).resolve() == here / "t.csv"
    (here / "sub" / "t.csv").write_text(TRACE)
    assert Path(load_serving("sub/s.yaml").trace_file).resolve() == here / "sub" / "t.csv"


# ---- #7: rules between keys at the key set last ----------------------------------------------------------------

GOOD = """\
name: g
model: {model: llama2_7b}
arch: h100
engine: {max_num_seqs: 8, max_num_batched_tokens: 256, max_model_len: 1024}
workload:
  arrival: {process: constant, rate: 1}
  prompt_tokens: 10
  output_tokens: 2
  requests: 2
"""


@pytest.mark.parametrize("items, line", [
    (["workload.arrival.cv=2"],
     "--set: workload.arrival.cv: goes with process gamma (process constant, s.yaml:6)"),
    (["workload.arrival.burstiness=0.5"],
     "--set: workload.arrival.burstiness: goes with process gamma (process constant, s.yaml:6)"),
    (["workload.arrival.process=gamma", "workload.arrival.cv=2", "workload.arrival.burstiness=0.25"],
     "--set: workload.arrival.cv: give cv or burstiness, not both (burstiness 0.25, --set)"),
    (["engine.chunked_prefill=false"],
     "--set: engine.chunked_prefill: false needs max_num_batched_tokens (256, s.yaml:4) of at least max_model_len "
     "(1,024, s.yaml:4): a prompt is prefilled in one iteration, as in vLLM"),
    (["engine.chunked_prefill=false", "engine.max_model_len=2048"],
     "--set: engine.max_model_len: 2,048 is above max_num_batched_tokens (256, s.yaml:4) without chunked_prefill "
     "(--set): a prompt is prefilled in one iteration, as in vLLM"),
])
def test_a_set_breaking_a_rule_between_keys_is_named(here, items, line):
    (here / "s.yaml").write_text(GOOD)
    with pytest.raises(ConfigError) as e:
        load_serving("s.yaml", items)
    assert str(e.value) == line


def test_a_rule_broken_inside_one_file_stays_at_its_first_key(here):
    (here / "s.yaml").write_text(GOOD.replace("max_model_len: 1024}", "max_model_len: 1024, chunked_prefill: false}"))
    with pytest.raises(ConfigError, match=r"^s\.yaml:4: engine\.chunked_prefill: false needs max_num_batched_tokens "
                                          r"\(256, s\.yaml:4\)"):
        load_serving("s.yaml")


# ---- #8: messages -----------------------------------------------------------------------------------------------

def test_a_token_budget_below_max_num_seqs_is_refused_as_vllm_does(here):
    (here / "s.yaml").write_text(GOOD)
    with pytest.raises(ConfigError) as e:
        load_serving("s.yaml", ["engine.max_num_batched_tokens=4"])
    # vLLM SchedulerConfig._verify_args: max_num_batched_tokens must be >= max_num_seqs (8 here)
    assert str(e.value).startswith("--set: engine.max_num_batched_tokens: 4 is below max_num_seqs (8, s.yaml:4)")
    assert "vLLM refuses it" in str(e.value)
    assert load_serving("s.yaml", ["engine.max_num_batched_tokens=8"]).serve.engine.max_num_batched_tokens == 8


def test_dist_trace_without_a_trace_says_what_is_missing(here):
    (here / "s.yaml").write_text(GOOD.replace("prompt_tokens: 10", "prompt_tokens: {dist: trace}"))  # line 7
    with pytest.raises(ConfigError, match=r"s\.yaml:7: workload\.prompt_tokens: dist trace reads the lengths from "
                                          r"workload\.arrival\.trace, which is not given"):
        load_serving("s.yaml")


def test_a_header_column_with_spaces_is_named(here):
    (here / "t.csv").write_text("arrival_s, prompt_tokens,output_tokens\n0,512,64\n")
    (here / "tr.yaml").write_text(TRACE_FILE)
    with pytest.raises(ConfigError) as e:
        serve(load_serving("tr.yaml"), cost=one_ms, blocks=1000)
    assert str(e.value).startswith("t.csv:1: prompt_tokens: missing column(s) (the header has ' prompt_tokens' for "
                                   "'prompt_tokens': spaces around it?)")
