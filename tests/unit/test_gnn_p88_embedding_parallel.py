"""Probe p88 #7: an embedding_parallel larger than the arch's chips (or, in training, not dividing them) is refused
at workload.embedding_parallel, not at the workload's model: line."""

from __future__ import annotations


def test_too_large_embedding_parallel_is_refused_at_its_key(tmp_path, capsys, monkeypatch):
    # probe p88 #7: embedding_parallel above arch.chips was blamed on the workload's model: line (a MappingError from
    # lowering); it is refused at the key, one line, exit status 2, as tensor_parallel is. tpu-v4 is one chip,
    # dgx-h100 eight
    from accelsim.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["run", "-w", "dlrm_mlperf", "-a", "tpu-v4", "--set", "workload.embedding_parallel=4", "-q",
                 "--no-plots", "-o", "o"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("accelsim: error: --set: workload.embedding_parallel: ") and \
        "embedding_parallel = 4 chips, but arch 'tpu-v4' has arch.chips=1" in err, err
    # line 5 of the file is the key's (name, workload, model, batch, embedding_parallel)
    spec = tmp_path / "ep.yaml"
    spec.write_text("name: ep\nworkload:\n  model: dlrm_mlperf\n  batch: 2048\n  embedding_parallel: 16\n"
                    "arch: dgx-h100\n")
    assert main(["run", str(spec), "-q", "--no-plots", "-o", "o"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "ep.yaml:5: workload.embedding_parallel: " in err and \
        "embedding_parallel = 16 chips, but arch 'dgx-h100' has arch.chips=8" in err, err
    # training: 4 does not divide 6 data-parallel chips (each group of 4 holds every table once)
    assert main(["run", str(spec), "--set", "workload.mode=training", "--set", "workload.embedding_parallel=4", "--set",
                 "arch.chips=6", "-q", "--no-plots", "-o", "o"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "embedding_parallel (4) must divide the data-parallel chips in training" in err, err
