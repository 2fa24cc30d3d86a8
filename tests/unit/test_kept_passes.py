"""A composed run (LLM serving, a pipeline, a diffusion pipeline) keeps every simulated pass until its report is made
(scenarios.passes.Kept): what the passes keep together is counted against options.memory_budget, and a run that
would keep more is refused in one line, naming the option and how to keep less, before the passes that would not
fit are simulated."""

from __future__ import annotations

import importlib
import re
import types
from types import SimpleNamespace

import pytest

import accelsim.options as options_module
from accelsim.config import load_arch, load_workload
from accelsim.errors import MappingError
from accelsim.options import KEPT_PASS_BYTES, KEPT_ROW_BYTES, TRACE_TASK_BYTES, Options, share_memory
from accelsim.scenarios.passes import Kept
from accelsim.scenarios.serving import serve
from accelsim.sweep.store import share_refusal


def run(rows: int, tasks: int) -> SimpleNamespace:
    """What Kept reads of a simulated pass: its op rows and its tasks."""
    return SimpleNamespace(rows=[{}] * rows, tasks=tasks)


def test_kept_passes_are_counted_by_their_rows_and_traced_tasks():
    assert (KEPT_PASS_BYTES, KEPT_ROW_BYTES, TRACE_TASK_BYTES) == (40_960, 2560, 512)  # options.py's constants
    # traced, a pass of 100 rows and 200 tasks keeps 40,960 + 100 × 2,560 + 200 × 512 = 399,360 B, under 1 MiB
    # alone; with a second and 3 more like it to come, 5 × 399,360 = 1,996,800 B: refused before those 3
    kept = Kept(Options(memory_budget="1MiB", trace=True), "ADVICE")
    kept.keep([run(100, 200)], what="the prefill")
    with pytest.raises(MappingError) as e:
        kept.keep([run(100, 200)], alike=3, what="a decode step")
    assert str(e.value) == (
        "this run keeps every simulated pass until its report is made: its 5 passes would keep ~1,996,800 B (a decode "
        "step: ~399,360 B, 100 op rows and 200 tasks for the trace), more than options.memory_budget (1,048,576 B at "
        "~2560 B a kept op row, ~40960 B a pass, ~512 B a traced task) holds; ADVICE")
    # untraced, its task graph is dropped: 40,960 + 256,000 = 296,960 B a pass, 3 fit (890,880 B), 4 do not
    Kept(Options(memory_budget="1MiB"), "ADVICE").keep([run(100, 200)], alike=2)
    with pytest.raises(MappingError, match=r"its 4 passes would keep ~1,187,840 B \(a pass: ~296,960 B, 100 op "
                                           r"rows\), more than options.memory_budget \(1,048,576 B at ~2560 B a kept "
                                           r"op row, ~40960 B a pass\) holds; ADVICE$"):
        Kept(Options(memory_budget="1MiB"), "ADVICE").keep([run(100, 200)], alike=3)
    # a pipeline stage and its one-micro-batch run (traced=1: only the first's task graph goes to the trace):
    # 2 × 40,960 + 20 rows × 2,560 + 100 tasks × 512 = 184,320 B
    with pytest.raises(MappingError, match=r"~184,320 B \(stage 0: ~184,320 B, 20 op rows and 100 tasks for"):
        Kept(Options(memory_budget=184_319, trace=True), "ADVICE").keep([run(10, 100), run(10, 50)], traced=1,
                                                                        what="stage 0")
    # before any pass: 25 passes' 40,960 B each = 1,024,000 B fit 1 MiB, 26 (1,064,960 B) do not
    Kept(Options(memory_budget="1MiB"), "ADVICE").expect(25)
    with pytest.raises(MappingError, match=r"its 26 passes would keep ~1,064,960 B \(~40960 B a pass before its op "
                                           r"rows\)"):
        Kept(Options(memory_budget="1MiB"), "ADVICE").expect(26)


def test_a_refusal_for_a_workers_share_of_the_default_is_run_again_alone(monkeypatch):
    # a machine of 80 × 4 KiB pages: half of it, 163,840 B, for one process, 81,920 B for each of 2 workers; 3
    # passes' 122,880 B fit the first and not the second, which names the share as the sweep's rerun expects
    monkeypatch.setattr(options_module, "os", types.SimpleNamespace(
        sysconf={"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 80}.__getitem__))
    monkeypatch.setattr(options_module, "_SHARERS", 1)
    Kept(Options(), "ADVICE").expect(3)
    share_memory(2)
    with pytest.raises(MappingError) as e:
        Kept(Options(), "ADVICE").expect(3)
    assert share_refusal(str(e.value)) and "(81,920 B: half of this machine's memory over 2 workers at ~" in str(e.value)


def _serve(params: list[str], **options: object) -> tuple[list[str], object]:
    """A serving run of llama2_7b on tpu-v4 with ``params``, and the passes it began (its progress)."""
    began: list[str] = []
    wl = load_workload("llama2_7b", params)
    try:
        return began, serve(wl, load_arch("tpu-v4"), Options(plots=False, **options),
                            progress=lambda stage, done, total: began.append(stage))
    except MappingError as e:
        return began, e


def test_a_serving_run_keeping_every_decode_step_is_refused_after_the_first():
    # 300 decode steps all simulated (decode_samples 0), each as its 1- and 2-layer samples: 2 × 40,960 B and at
    # least a row a sample and layer (3 rows: 7,680 B) a step, ~26 MB for 300 steps, more than 16 MiB; their figures
    # alone, 301 × 40,960 + 300 × 64 (options.STEP_BYTES) = 12,348,160 B, fit it, so the run starts, and is refused
    # once the first step shows its size
    began, e = _serve(["seq_len=16", "decode_steps=300"], decode_samples=0, memory_budget="16MiB")
    assert isinstance(e, MappingError) and "\n" not in str(e)
    assert began == ["prefill", "decode step 0"]  # the other 299 steps were never simulated
    # 301 passes (the prefill and 300 steps, as the user counts them), each its 2 layer samples, whose rows are kept
    assert "its 301 passes, each simulated as a 1- and a 2-layer sample (options.layer_samples) would keep" in str(e)
    assert "op rows of its 1- and 2-layer samples)" in str(e)
    assert str(e).endswith("holds; set options.decode_samples (the decode steps simulated, the others "
                           "interpolated; 8 by default), run fewer workload.decode_steps, or raise options.memory_budget")
    # as it advises: 8 of the steps simulated, the prefill and those 8 each as their 2 layer samples
    began, report = _serve(["seq_len=16", "decode_steps=300"], memory_budget="16MiB")
    assert report["simulation"]["passes"] == 2 * (1 + 8)


def test_a_million_kept_decode_steps_are_refused_before_any_is_simulated():
    # 1,000,001 passes × 40,960 B = 40,960,040,960 B before any op row, and 64 B (options.STEP_BYTES) for each of
    # the 1,000,000 steps' step_cycles: 41,024,040,960 B, more than 8 GiB: refused before the plan of a million
    # passes is made (it took 1.9 GB and 8 s to make)
    began, e = _serve(["seq_len=16", "decode_steps=1000000"], decode_samples=0, memory_budget="8GiB")
    assert began == [] and isinstance(e, MappingError)
    assert "its 1,000,001 passes would keep ~41,024,040,960 B (~40960 B a pass before its op rows and ~64 B for " \
           "each of its 1,000,000 decode steps), more than options.memory_budget (8,589,934,592 B at" in str(e)
    # with 8 of 5,000,000 steps simulated, the report's value for each step alone: 9 × 40,960 + 5,000,000 × 64 =
    # 320,368,640 B, more than 64 MiB (the run held 1.6 GB before step_cycles was made without a row per step)
    began, e = _serve(["seq_len=16", "decode_steps=5000000"], memory_budget="64MiB")
    assert began == [] and "its 9 passes would keep ~320,368,640 B" in str(e)


def test_a_traced_serving_run_keeps_every_pass_task_graph():
    # with the trace every layer is simulated and each pass keeps its task graph for trace.json (512 B a task):
    # a 2-layer llama2_7b's passes each fit 32 MiB alone (a decode step: 40,960 + 59 rows × 2,560 + its T tasks ×
    # 512 B; 59 rows: each layer's eager softmax is followed by its cast back from fp32, probe p185 #2: 55 before,
    # and each layer's scores by eager_attention_forward's ``* scaling`` mul, probe p235 #3: 57 before; a one-token
    # step's head merge stays a view), 31 of them do not; refused after the first decode step, advising to leave
    # out the trace
    began, e = _serve(["seq_len=16", "decode_steps=30", "layers=2"], decode_samples=0, memory_budget="32MiB",
                      trace=True)
    assert isinstance(e, MappingError), e
    assert began == ["prefill", "decode step 0"] and "its 31 passes would keep" in str(e)
    step = re.search(r"\(a decode step: ~([\d,]+) B, 59 op rows and ([\d,]+) tasks for the trace\)", str(e))
    assert step, str(e)
    step_bytes, tasks = (int(g.replace(",", "")) for g in step.groups())
    assert step_bytes == 40_960 + 59 * 2_560 + tasks * 512 < 32 * 2**20 < 31 * step_bytes
    assert "tasks for the trace), more than options.memory_budget (33,554,432 B at ~2560 B a kept op row, ~40960 B " \
           "a pass, ~512 B a traced task) holds; " in str(e) and ", leave out options.trace, or raise" in str(e)


def _pipeline_arch():
    from accelsim.hardware import Interconnect

    arch = load_arch("gemmini")
    return arch.model_copy(update={"chips": 2, "interconnect": Interconnect(bandwidth="10GB/s", latency="2us",
                                                                              topology="ring")})


@pytest.mark.parametrize("workload, arch, passes", [
    # a 2-stage GPT (tests/unit/test_pipeline.py's SMALL): its 2 distinct stages, 2 layers each, simulated whole
    ({"model": "gpt", "hidden": 256, "heads": 4, "layers": 4, "seq_len": 64, "vocab": 1024, "batch": 2,
      "pipeline_parallel": 2}, _pipeline_arch, 2),
    # a diffusion pipeline (tests/integration/test_diffusion.py's SD): text encoder, UNet, VAE decoder and (since
    # probe p251 #1, as StableDiffusionPipeline runs it by default) the safety checker, one pass each
    ({"model": "sd15", "image_size": 128, "steps": 3}, lambda: "h100", 4),
])
def test_a_traced_run_of_a_few_passes_is_refused_when_together_they_exceed_the_budget(workload, arch, passes,
                                                                                     monkeypatch):
    # each pass keeps 40,960 B, its rows at 2,560 B and, traced, its tasks at 512 B: the run's passes keep
    # passes × 40,960 + rows × 2,560 + tasks × 512 (its report's rows are its passes' rows, its tasks their tasks): a
    # budget 1 B short is refused after the last pass, naming the trace; that budget runs. Lowering's own count of
    # a pass (8 KiB an op, 1 KiB a task) is more than these few passes keep together, so it is set to 1 B a task
    # and nothing an op here, for the kept count to be the one that binds
    from accelsim.api import simulate
    lower_module = importlib.import_module("accelsim.mapping.lower")  # the module, not mapping's lower()
    monkeypatch.setattr(lower_module, "OP_BYTES", 0)
    monkeypatch.setattr(lower_module, "TASK_BYTES", 1)

    whole = simulate(workload, arch(), trace=True).to_dict()
    assert whole["simulation"]["passes"] == passes
    need = passes * 40_960 + len(whole["ops"]) * 2560 + whole["simulation"]["tasks"] * 512
    with pytest.raises(MappingError, match=rf"its {passes} passes would keep ~{need:,} B \(.*more than options"
                                           rf"\.memory_budget \({need - 1:,} B at .*; leave out options\.trace \(each "
                                           rf"pass's task graph is kept for trace\.json\), or raise options"
                                           rf"\.memory_budget$"):
        simulate(workload, arch(), trace=True, memory_budget=need - 1)
    assert simulate(workload, arch(), trace=True, memory_budget=need)["total_cycles"] == whole["total_cycles"]
