"""benchmarks/validation's job running: every distinct job simulated once, through accelsim.sweep's results store
(stable ids, finished jobs skipped on a re-run, started afresh for other accelsim source) and process pool."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from validation import SimStore, job, replay, simulate_jobs  # noqa: E402  (benchmarks/validation/)
from validation.jobs import experiment  # noqa: E402

from accelsim.sweep.expand import point_id  # noqa: E402
from accelsim.sweep.store import read_sweep_json  # noqa: E402

JOBS = [job("tpu-v1", "gemm", m=m, n=64, k=64, dtype="int8") for m in (128, 256, 384)]


def _lines(store: SimStore) -> list[dict]:
    return [json.loads(line) for line in store.results.path.read_text().splitlines()]


def _no_runs(*_args, **_kw):
    raise AssertionError("simulated although every job is in the store")


def test_store_keeps_each_distinct_job_once_and_skips_it_on_rerun(tmp_path, monkeypatch):
    store = SimStore(tmp_path)
    first = simulate_jobs([*JOBS, JOBS[0]], store=store)
    assert set(first) == set(JOBS) and all(s > 0 and launch >= dispatch >= 0 and back == 0 for s, launch, dispatch, back in first.values())
    recs = _lines(store)
    assert [r["id"] for r in recs] == [point_id(experiment(j)) for j in reversed(JOBS)]  # longest first
    assert all(r["status"] == "ok" and "utilization" not in r["metrics"] for r in recs)
    info = read_sweep_json(store.dir)
    assert info["accelsim_source"] == store.code and set(info["ids"]) == {r["id"] for r in recs}
    monkeypatch.setattr(replay, "_run", _no_runs)
    assert simulate_jobs(JOBS, store=SimStore(tmp_path)) == first
    assert len(_lines(store)) == len(JOBS)


def test_store_of_other_accelsim_source_is_started_afresh(tmp_path, monkeypatch):
    simulate_jobs(JOBS[:1], store=SimStore(tmp_path))
    monkeypatch.setattr(replay, "code_fingerprint", lambda: "another-source")
    store = SimStore(tmp_path)
    assert store.load() == {} and not store.results.path.exists()
    simulate_jobs(JOBS[1:], store=store)
    assert len(_lines(store)) == 2 and read_sweep_json(store.dir)["accelsim_source"] == "another-source"


def test_no_store_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(simulate_jobs(JOBS)) == len(JOBS)
    assert list(tmp_path.iterdir()) == []


def test_process_pool_gives_the_same_figures(tmp_path):
    assert simulate_jobs(JOBS, workers=2, store=SimStore(tmp_path)) == simulate_jobs(JOBS)
    assert len(_lines(SimStore(tmp_path))) == len(JOBS)


def test_failed_simulation_raises_and_is_recorded(tmp_path, monkeypatch):
    import accelsim.sweep.executors as executors

    def boom(spec):
        raise ValueError(f"no luck with {spec.workload.params['m']}")

    monkeypatch.setattr(executors, "run_experiment", boom)
    store = SimStore(tmp_path)
    failed = r"3 simulations failed \(kept in .*results\.jsonl.*\), e\.g\. gemm .* on tpu-v1: ValueError: no luck"
    with pytest.raises(RuntimeError, match=failed):
        simulate_jobs(JOBS, store=store)
    assert [r["status"] for r in _lines(store)] == ["error"] * 3
