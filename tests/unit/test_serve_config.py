"""Serving files: every bad input is one line naming the file, line and key, exit status 2 from the CLI."""

from __future__ import annotations

import pytest

from accelsim.cli import main
from accelsim.config.serving import load_serving, serving_presets
from accelsim.errors import ConfigError
from accelsim.serving.requests import make_requests

GOOD = """\
name: t
model: {model: llama2_7b, tensor_parallel: 1}
arch: h100
engine: {max_num_seqs: 4}
workload:
  arrival: {process: poisson, rate: 2}
  prompt_tokens: {dist: fixed, value: 10}
  output_tokens: {dist: fixed, value: 2}
  requests: 5
"""


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def errors(text: str, *overrides: str) -> list[str]:
    with open("s.yaml", "w") as f:
        f.write(text)
    with pytest.raises(ConfigError) as info:
        load_serving("s.yaml", overrides)
    return str(info.value).splitlines()


def test_a_good_file_loads_with_defaults(here):
    with open("s.yaml", "w") as f:
        f.write(GOOD)
    spec = load_serving("s.yaml", ["engine.block_size=32", "replicas=3", "workload.arrival.rate=4"])
    e = spec.serve.engine
    assert (e.max_num_seqs, e.block_size, e.max_num_batched_tokens, e.chunked_prefill) == (4, 32, 2048, True)
    assert spec.serve.replicas == 3 and spec.serve.workload.arrival.rate == 4
    assert spec.model.model == "llama2_7b" and spec.arch.name == "h100" and spec.name == "t"


@pytest.mark.parametrize("edit, where", [
    (("engine: {max_num_seqs: 4}", "engine: {max_num_seqs: 0}"), "s.yaml:4: engine.max_num_seqs:"),
    (("engine: {max_num_seqs: 4}", "engine: {max_num_seq: 4}"), "s.yaml:4: engine.max_num_seq:"),
    (("rate: 2", "rate: -2"), "s.yaml:6: workload.arrival.rate:"),
    (("process: poisson, rate: 2", "process: gamma"), "s.yaml:6: workload.arrival:"),
    (("dist: fixed, value: 10", "dist: normal, mean: 10"), "s.yaml:7: workload.prompt_tokens: dist normal needs std"),
    (("  requests: 5", "  requests: 5\n  duration: 10s"), "s.yaml:9: workload.requests: give duration or requests, not both (duration 10 s, s.yaml:10)"),
    (("  output_tokens: {dist: fixed, value: 2}\n", ""), "s.yaml:5: workload: output_tokens: missing"),
    (("model: {model: llama2_7b, tensor_parallel: 1}", "model: resnet50"), "s.yaml:2: model: not an LLM"),
    (("arch: h100", "arch: h10"), "s.yaml:3: arch:"),
    (("name: t", "name: t\nreplica: 2"), "s.yaml:2: replica: unknown key; did you mean 'replicas'?"),
])
def test_bad_input_is_one_line_naming_file_line_and_key(here, edit, where):
    (line,) = errors(GOOD.replace(*edit))
    assert line.startswith(where), line


def test_several_problems_are_all_reported(here):
    lines = errors(GOOD.replace("rate: 2", "rate: x").replace("max_num_seqs: 4", "max_num_seqs: -1"))
    assert [line.split(": ")[0] for line in lines] == ["s.yaml:4", "s.yaml:6"]


def with_trace(rows: str):
    """s.yaml driven by t.csv holding ``rows``, loaded."""
    text = GOOD.replace("process: poisson, rate: 2", "trace: t.csv").replace(
        "  prompt_tokens: {dist: fixed, value: 10}\n  output_tokens: {dist: fixed, value: 2}\n", "")
    with open("t.csv", "w") as f:
        f.write(rows)
    with open("s.yaml", "w") as f:
        f.write(text)
    return load_serving("s.yaml")


def test_bad_trace_rows_name_the_file_line_and_column(here):
    spec = with_trace("arrival_s,prompt_tokens,output_tokens\n0,10,2\n0.5,10,-1\n")
    with pytest.raises(ConfigError, match=r"^t\.csv:3: output_tokens: expected a value >= 1"):
        make_requests(spec.serve.workload, spec.trace_file)
    with open("t.csv", "w") as f:
        f.write("arrival_s,prompt_tokens\n0,10\n")
    with pytest.raises(ConfigError, match=r"^t\.csv:1: output_tokens: missing column"):
        make_requests(spec.serve.workload, spec.trace_file)


def test_a_trace_drives_arrivals_lengths_and_prefix_groups(here):
    # rows in order of arrival (an unsorted trace is refused: tests/unit/test_serve_bad_input.py); request i is row i
    spec = with_trace("arrival_s,prompt_tokens,output_tokens,prefix_group\n0.25,20,4,\n1.5,30,3,2\n")
    reqs = make_requests(spec.serve.workload, spec.trace_file)
    assert [(r.id, r.arrival, r.prompt, r.output, r.group) for r in reqs] == [(0, 0.25, 20, 4, -1),
                                                                             (1, 1.5, 30, 3, 2)]


def test_cli_exit_status_2_and_one_line(here, capsys):
    with open("s.yaml", "w") as f:
        f.write(GOOD.replace("rate: 2", "rate: 0"))
    assert main(["serve", "s.yaml", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["accelsim: error: s.yaml:6: workload.arrival.rate: Input should be greater than 0 (got 0)"]
    assert main(["serve", "no_such_preset"]) == 2
    assert "unknown serving preset" in capsys.readouterr().err
    assert main(["serve", "s.yaml", "--set", "engine.max_num_seqs=x"]) == 2


def test_a_model_whose_weights_fill_the_memory_is_refused_before_simulating(here, capsys):
    with open("s.yaml", "w") as f:
        f.write(GOOD.replace("model: {model: llama2_7b, tensor_parallel: 1}", "model: llama2_70b"))
    assert main(["serve", "s.yaml", "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    # LLaMA-2-70B: 68,976,648,192 parameters (Hugging Face config) × 2 B (fp16) = 137,953,296,384 B > 80 GiB: the
    # weights alone do not fit (probe p258 #2's wording)
    assert line.startswith("accelsim: error: s.yaml:2: model: the weights alone (137,953,296,384 B per chip) do not "
                           "fit"), line


def test_a_tensor_parallel_the_heads_refuse_is_named_at_its_line(here, capsys):
    # LLaMA-2-7B has 32 heads: 3 chips cannot split them. The builder names tensor_parallel; the error is at the
    # serving file's line 2 (it named neither file nor line)
    with open("s.yaml", "w") as f:
        f.write(GOOD.replace("tensor_parallel: 1}", "tensor_parallel: 3}").replace("arch: h100", "arch: dgx-h100"))
    assert main(["serve", "s.yaml", "-q"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: s.yaml:2: model.tensor_parallel: llama2_7b: tensor_parallel 3 must divide heads (32) "
        "and divide or be a multiple of kv_heads (32)"]


def test_every_serving_preset_loads(capsys):
    names = serving_presets()
    assert names
    assert main(["list", "serving"]) == 0 and capsys.readouterr().out.split() == names
    for name in names:
        spec = load_serving(name)
        assert spec.output == f"runs/{spec.name}"


def test_docs_serving_md_documents_every_key():
    from pathlib import Path

    from accelsim.config.serving import (
        Arrival,
        Conversation,
        CostGrid,
        Disaggregation,
        EngineConfig,
        Lengths,
        ServeConfig,
        SharedPrefix,
        Slo,
        Speculative,
    )

    doc = (Path(__file__).resolve().parents[2] / "docs" / "serving.md").read_text()
    sections = ("engine", "workload", "slo", "cost", "disaggregation", "speculative")
    keys = [*(k for k in ServeConfig.model_fields if k not in sections), "draft_model", "workload.conversation",
            *(f"speculative.{k}" for k in Speculative.model_fields),
            *(f"engine.{k}" for k in EngineConfig.model_fields),
            *(f"slo.{k}" for k in Slo.model_fields), *(f"cost.{k}" for k in CostGrid.model_fields),
            f"disaggregation.{next(iter(Disaggregation.model_fields))}"]
    missing = [k for k in keys if f"`{k}`" not in doc]
    missing += [k for model in (Arrival, Lengths, SharedPrefix, Disaggregation, Conversation) for k in model.model_fields
                if f"`{k}`" not in doc
                and f"{k}`" not in doc and f"`{k}" not in doc]
    assert not missing, f"undocumented serving keys: {missing}"


def test_too_many_requests_is_a_one_line_error_before_any_simulation(here, capsys):
    with open("s.yaml", "w") as f:
        f.write(GOOD.replace("  requests: 5", "  duration: 100000s").replace("rate: 2", "rate: 100"))
    # 100,000 s × 100 requests/s = 10,000,000 expected requests > the 1,000,000 cap
    assert main(["serve", "s.yaml", "-q", "--set", "engine.kv_blocks=100", "--set", "cost.kv_points=2"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("accelsim: error: s.yaml:6: workload.arrival.rate: 100/s with duration 100000 s, "
                           "s.yaml:9 gives 10,000,000 requests (duration × rate): at most 1,000,000"), line


def test_accelsim_run_on_a_serving_file_points_to_serve(capsys):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "experiments" / "serving" / "llama2_7b_h100.yaml"
    assert main(["run", str(path), "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "this is a serving file" in line and "'accelsim serve " in line and "llama2_7b_h100.yaml'" in line


def test_a_preset_name_in_a_models_mapping_points_to_base():
    # `model: {model: llama3_8b}` names a workload preset where a builder is expected; `base:` starts from the preset
    doc = {"name": "t", "arch": "h100", "workload": {"arrival": {"process": "constant", "rate": 1}, "requests": 1,
                                                     "prompt_tokens": {"dist": "fixed", "value": 16},
                                                     "output_tokens": {"dist": "fixed", "value": 2}}}
    with pytest.raises(ConfigError, match=r"model\.model: 'llama3_8b' is a workload preset.*base: llama3_8b"):
        load_serving({**doc, "model": {"model": "llama3_8b"}})
    spec = load_serving({**doc, "model": {"base": "llama3_8b", "attention": "fused"}})
    assert spec.model.params["attention"] == "fused" and spec.model.params["num_key_value_heads"] == 8


@pytest.mark.parametrize("model", ["mixtral_8x7b", {"base": "mixtral_8x7b", "tensor_parallel": 2}])
def test_the_serving_docs_forms_of_a_preset_model_load(model):
    # docs/serving.md's `model` row: a preset name alone or `{base: PRESET, ...}`; Mixtral is an hf config
    # (workloads/mixtral_8x7b.yaml: 8 local experts, 2 per token), so its builder is hf, not a builder named so
    doc = {"name": "t", "arch": "h200", "workload": {"arrival": {"process": "poisson", "rate": 2}, "requests": 20,
                                                     "prompt_tokens": {"dist": "fixed", "value": 512},
                                                     "output_tokens": {"dist": "fixed", "value": 64}}}
    spec = load_serving({**doc, "model": model})
    assert spec.model.model == "hf" and spec.model.params["num_local_experts"] == 8
    assert spec.model.params["tensor_parallel"] == (2 if isinstance(model, dict) else 1)
    with pytest.raises(ConfigError, match=r"model\.model: 'mixtral_8x7b' is a workload preset.*base: mixtral_8x7b"):
        load_serving({**doc, "model": {"model": "mixtral_8x7b"}})


@pytest.mark.parametrize(("model", "overrides", "attention"), [
    ("{model: llama2_7b}", (), "fused"),  # vLLM V1 runs FlashAttention: the serving default
    ("llama2_13b", (), "fused"),  # the preset's own `attention: unfused` is accelsim run's default, not the user's
    ("{base: llama2_13b}", (), "fused"),
    ("{model: llama2_7b, attention: unfused}", (), "unfused"),  # the user's, in the serving file
    ("{model: llama2_7b}", ("model.attention=unfused",), "unfused"),  # the user's, on the command line
])
def test_a_served_model_runs_fused_attention_unless_the_user_says_otherwise(here, model, overrides, attention):
    with open("s.yaml", "w") as f:
        f.write(GOOD.replace("model: {model: llama2_7b, tensor_parallel: 1}", f"model: {model}"))
    assert load_serving("s.yaml", overrides).model.params["attention"] == attention


def test_a_bare_token_count_is_a_fixed_length():
    # probe p50 #6: `prompt_tokens: 5000` was refused as "a valid dictionary or instance of Lengths"; a count N is the
    # fixed distribution of N, so every request draws 5,000 prompt and 20 output tokens
    from accelsim.config.serving import Lengths
    assert Lengths.model_validate(5000) == Lengths.model_validate({"dist": "fixed", "value": 5000})
    with pytest.raises(ValueError):
        Lengths.model_validate(0)  # a count is positive, as `value` is
    with pytest.raises(ValueError):
        Lengths.model_validate(True)  # a YAML true is not a count


def test_a_bad_bare_token_count_says_what_to_write():
    # probe p51 #4: 5.5, "512" or true got pydantic's "a valid dictionary or instance of Lengths"; 512.0 is 512
    from accelsim.config.serving import Lengths
    assert Lengths.model_validate(512.0) == Lengths.model_validate(512)
    for bad in (5.5, "512", True, None, [512]):
        with pytest.raises(ValueError, match=r"expected a positive whole token count \(512\) or a distribution"):
            Lengths.model_validate(bad)


def test_a_null_set_removes_the_files_speculative_or_disaggregation_section(here):
    # probe p74 #2: null replaces a section (as --set workload.shared_prefix=null does a key), it does not merge an
    # empty mapping into it ("speculative.method: Field required" before)
    with open("s.yaml", "w") as f:
        f.write(GOOD + "disaggregation: {prefill_replicas: 1, decode_replicas: 2, bandwidth: 50GB/s}\n"
                "speculative: {method: draft, num_tokens: 4, acceptance_rate: 0.5}\n"
                "draft_model: {model: llama2_7b, layers: 2}\n")
    spec = load_serving("s.yaml")
    assert spec.serve.replica_count == 1 + 2 and spec.serve.speculative.num_tokens == 4
    assert spec.draft_model is not None
    off = load_serving("s.yaml", ["disaggregation=null"])
    assert off.serve.disaggregation is None and off.serve.replica_count == 1  # the default replicas: 1
    off = load_serving("s.yaml", ["speculative=null"])
    assert off.serve.speculative is None and off.draft_model is None  # the draft model goes with its section
    assert off.serve.replica_count == 3
    # a --set after the null writes a new section, which is validated as any other
    on = load_serving("s.yaml", ["speculative=null", "speculative={method: ngram, num_tokens: 2, acceptance_rate: 0.7}",
                                 "draft_model=null"])
    assert (on.serve.speculative.method, on.serve.speculative.num_tokens) == ("ngram", 2)


def test_a_traces_prefix_groups_need_no_groups_and_stay_below_those_given(here):
    # probe p74 #7: with a trace giving prefix_group, shared_prefix.groups was required and then not checked
    rows = "arrival_s,prompt_tokens,output_tokens,prefix_group\n0,300,10,0\n0.5,300,20,0\n0.7,300,20,1\n"
    text = GOOD.replace("process: poisson, rate: 2", "trace: t.csv").replace(
        "  prompt_tokens: {dist: fixed, value: 10}\n  output_tokens: {dist: fixed, value: 2}\n",
        "  shared_prefix: {tokens: 200}\n")
    with open("t.csv", "w") as f:
        f.write(rows)
    with open("s.yaml", "w") as f:
        f.write(text)
    spec = load_serving("s.yaml")  # no groups: the trace's rows say, 0, 0 and 1
    assert spec.serve.workload.shared_prefix.groups is None
    assert [r.group for r in make_requests(spec.serve.workload, spec.trace_file)] == [0, 0, 1]
    assert [r.group for r in make_requests(load_serving("s.yaml", ["workload.shared_prefix.groups=2"]).serve.workload,
                                           spec.trace_file)] == [0, 0, 1]
    # groups 1 allows group 0 only: the trace's line 4 (header, then rows 2-4) gives group 1
    one = load_serving("s.yaml", ["workload.shared_prefix.groups=1"])
    with pytest.raises(ConfigError, match=r"^t\.csv:4: prefix_group: expected a value < 1 \(workload\.shared_prefix"
                                          r"\.groups is 1; leave it out to take the trace's groups\) \(got '1'\)$"):
        make_requests(one.serve.workload, one.trace_file)
    # drawn at random (no trace), groups is still needed: at the shared_prefix line, 9
    (line,) = errors(GOOD.replace("  requests: 5\n", "  shared_prefix: {tokens: 5}\n  requests: 5\n"))
    assert line.startswith("s.yaml:9: workload.shared_prefix.groups: missing: how many groups"), line


def test_a_prefix_setting_the_run_does_not_use_gets_a_note(here):
    # probe p81 #4: a trace's prefix_group column without workload.shared_prefix, and shared_prefix while
    # engine.prefix_caching is false, were accepted and silently inert. Request 2 shares group 0 with request 0 and
    # arrives after it finishes: with both set it reuses floor(100 / 16) = 6 full 16-token blocks = 96 tokens
    import csv
    import json
    with open("t.csv", "w") as f:
        f.write("arrival_s,prompt_tokens,output_tokens,prefix_group\n0,200,10,0\n0.1,200,10,1\n0.2,200,10,0\n"
                "0.3,200,10,5\n")
    with open("s.yaml", "w") as f:
        f.write("name: tr3\nmodel: {model: llama2_7b}\narch: h100\nworkload:\n  arrival: {trace: t.csv}\n")

    def run(out: str, *sets: str) -> tuple[list[str], list[int]]:
        assert main(["serve", "s.yaml", "-q", "--no-plots", "-o", out, *[a for s in sets for a in ("--set", s)]]) == 0
        with open(f"{out}/requests.csv") as f:
            cached = [int(r["cached_tokens"]) for r in csv.DictReader(f)]
        with open(f"{out}/report.json") as f:
            return json.load(f)["notes"], cached

    notes, cached = run("a", "engine.prefix_caching=true")  # groups 0, 1, 0, 5: four requests grouped
    assert cached == [0, 0, 0, 0]
    assert notes == ["workload.arrival.trace: its prefix_group column (4 requests grouped) is ignored without "
                     "workload.shared_prefix: no prompt tokens are shared; set workload.shared_prefix.tokens (the "
                     "prompt tokens a group shares)"]
    notes, _ = run("b")  # prefix_caching off as well: the note names both keys to set
    assert notes[0].endswith("(the prompt tokens a group shares) and engine.prefix_caching: true")
    notes, cached = run("c", "workload.shared_prefix={tokens: 100}")
    assert cached == [0, 0, 0, 0]
    assert notes == ["workload.shared_prefix: inert while engine.prefix_caching is false: every request computes its "
                     "group's 100 prefix tokens again; set engine.prefix_caching: true to reuse them"]
    notes, cached = run("d", "workload.shared_prefix={tokens: 100}", "engine.prefix_caching=true")
    assert (notes, cached) == ([], [0, 0, 96, 0])
