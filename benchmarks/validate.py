"""Hardware validation: replay published real-hardware measurements through accelsim and report the error.

    python benchmarks/validate.py [--data DIR ...] [--out DIR] [--arch-map FILE] [--jobs N] [--only GLOB]

Reads every measurement CSV it knows under the reference folder (``$ACCELSIM_REFERENCE_DIR``, else
``<repo>/../shared/reference/hardware``; its README.md describes each file) and under every ``--data DIR`` (more
files of the same formats, e.g. the held-back ``h100_*_ops.csv`` of Vidur; the reference folder does not come with
the repository: finding no file, it says on one line where it looked and exits 2), simulates each measured kernel with
accelsim's micro-workloads on the preset its file name names (``a100``/``h100``/``mi210``; ``--arch-map`` changes
the mapping) and compares like with like:

* LLMCompass kernels were timed on the HOST (``time.time()`` around op + synchronize): they are compared with
  the simulated device time plus LLMCompass's own host overhead of the kernel type (``LLMCOMPASS_HOST_OVERHEAD_S``;
  report.json ``seconds``, with the preset's kernel launch, for hardware it has none for). Its GPT-3 layer norm had
  the launch subtracted.
* Vidur's per-operator times are GPU kernel (DEVICE) times: compared with ``seconds - launch_overhead_s``.
* All-reduces are compared with :mod:`accelsim.cost.collective` on the node's multi-GPU preset (aiconfigurator's
  NCCL rows through the ``collective`` micro-workload, device time).
* aiconfigurator's A100 SXM tables (GEMMs, FlashAttention prefill / decode; device times) replay every row with
  the ``gemm`` and fused ``attention`` micro-workloads.

Nothing here is fitted: presets and accelsim are used as they are; an op accelsim has no micro-workload for is
listed as skipped with the reason. Prints one table per file and a summary against the targets, and writes
``validation.csv`` (file, key, measured_s, simulated_s, error = (simulated - measured) / measured),
``skipped.csv``, ``summary.json`` and ``validation.png`` into ``--out`` (default runs/validation). Simulations run
on accelsim.sweep's process pool and are kept in its append-only results store, ``--out``/simulations/results.jsonl
(ids hash each job's resolved experiment, preset included; the store is started afresh when accelsim's source
changes), so a re-run only simulates what changed (``--no-cache`` neither reads nor writes it).

The code is the package benchmarks/validation/ (see its __init__).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from validation.cli import main  # noqa: E402  (benchmarks/validation/)

if __name__ == "__main__":
    sys.exit(main(description=__doc__.split("\n\n")[0]))
