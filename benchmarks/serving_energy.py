"""LLM serving energy under load against the ML.ENERGY Leaderboard v3.0's H100 measurements (docs/energy.md).

    python benchmarks/serving_energy.py                 # Llama 3.1 8B (1 GPU), 70B (4 GPUs), 405B FP8 (8 GPUs)
    python benchmarks/serving_energy.py --only 8b --batches 16 64

Runs ``accelsim serve`` on experiments/serving/llama3_8b_h100_mlenergy.yaml (the leaderboard's setup: vLLM's
OpenAI-server defaults on an H100, max_num_seqs = the batch, the Text Conversation task's published mean lengths)
with the model, tensor parallelism and arch of each series, and prints J per output token, average power (all GPUs)
and output tokens/s against the measured ones (tokens/s measured = W / (J/token)).

The measurements: "LLM Inference Energy: A Longitudinal Analysis" (ml-energy/blog @201bd12
docs/posts/llm-energy-over-time.md), its figures llama-energy-per-token-light.svg and llama-power-light.svg
(@b436eb5), the V3 series (vLLM 0.11.1). Each point is read from the SVG's coordinates through its own subplot's
tick marks (linear axes; subplot titles "Llama 3.1 8B (1 GPU)", "Llama 3.1 70B (4 GPUs)", "Llama 3.1 405B (8 GPUs)"
with "V3=FP8"; power is the total over the GPUs: the TDP line reads 700, 2,800 and 5,600 W). Tick mappings (y of
value 0 is 311.010937 in every subplot): energy 8B 49.481731 pt per 0.05 J, 70B 30.96331 pt per 0.25 J, 405B
34.278102 pt per 1 J; power 8B 35.015138 pt per 100 W, 70B 43.768922 pt per 500 W, 405B 43.768922 pt per 1000 W.
Nothing in any preset was chosen on the 70B and 405B points; the 8B batch-16 power chose the GPUs'
``energy.activity_power_share`` (arch/h100.yaml).

The B200 rows (a GPU no constant was chosen on; arch/b200.yaml is built from spec sheets and takes h100's share):
"Reading the ML.ENERGY Leaderboard v3.0" (ml-energy/blog @2bfa158 docs/posts/ml-energy-leaderboard-v3.0.md), its
case study of Qwen 3 32B on 1x B200: Text Conversation (mean 634 prompt, 627 output tokens) 0.209 J/token at batch
128 and 0.151 J at its maximum batch 512; Problem Solving (mean 224 prompt, 7,035 output tokens) 0.312 J at 128.
The post gives no power for them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accelsim import api  # noqa: E402
from accelsim.config.serving import load_serving  # noqa: E402

# series -> (serving-file overrides, {batch: (J per output token, average W over all GPUs)})
SERIES = {
    "8b": ([], {16: (0.2627, 513.3), 32: (0.1651, 559.7), 64: (0.1186, 610.3), 128: (0.0951, 669.2),
                256: (0.0766, 690.5)}),
    "70b": (["model={base: llama3_70b, attention: fused, tensor_parallel: 4}", "arch=dgx-h100"],
            {16: (2.0910, 1804), 32: (1.2069, 1794), 64: (0.7972, 2002), 128: (0.5634, 2184), 256: (0.4790, 2354)}),
    "405b": (["model={base: llama3_1_405b, attention: fused, tensor_parallel: 8, weight_dtype: fp8, "
              "activation_dtype: fp8, kv_cache_dtype: bf16}", "arch=dgx-h100"],
             {16: (7.5892, 3384), 32: (4.7653, 3744), 64: (3.0825, 4162), 128: (2.4295, 4606), 256: (2.0626, 4875)}),
}
QWEN = ["model={base: qwen3_32b, attention: fused}", "arch=b200"]
SERIES["qwen3_32b_b200_chat"] = ([*QWEN, "workload.output_tokens.value=627"], {128: (0.209, None), 512: (0.151, None)})
SERIES["qwen3_32b_b200_reasoning"] = ([*QWEN, "workload.prompt_tokens.value=224", "workload.output_tokens.value=7035",
                                       "engine.max_model_len=8192", "workload.requests=384"], {128: (0.312, None)})
FILE = "llama3_8b_h100_mlenergy"


def run(series: str, batches: list[int]) -> list[tuple]:
    """(batch, J/token simulated, measured, W simulated, measured, tokens/s simulated, measured) per batch."""
    overrides, measured = SERIES[series]
    rows = []
    for batch in batches:
        if batch not in measured:
            continue
        report = api.serve(load_serving(FILE, [*overrides, f"engine.max_num_seqs={batch}"])).report
        joules, watts = measured[batch]
        rows.append((batch, report["efficiency"]["j_per_output_token"], joules, report["power"]["average_w"], watts,
                     report["serving"]["output_tokens_per_s"], watts / joules if watts else None))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=sorted(SERIES), help="series to run (default: all)")
    ap.add_argument("--batches", nargs="*", type=int, default=[16, 32, 64, 128, 256, 512])
    args = ap.parse_args(argv)
    print("| model | batch | J/token accelsim / measured | W accelsim / measured | tokens/s accelsim / measured |")
    print("|---|---|---|---|---|")
    for series in args.only or list(SERIES):
        t0 = time.perf_counter()
        for b, j, jm, w, wm, tok, tokm in run(series, args.batches):
            print(f"| {series} | {b} | {j:.3f} / {jm:.3f} ({100 * (j / jm - 1):+.0f} %) | {_vs(w, wm, ',.0f')} | "
                  f"{_vs(tok, tokm, ',.0f')} |")
        print(f"({series}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


def _vs(sim: float, meas: float | None, fmt: str) -> str:
    """"simulated / measured (error)", or the simulated figure alone where nothing was measured."""
    if meas is None:
        return f"{sim:{fmt}} / -"
    return f"{sim:{fmt}} / {meas:{fmt}} ({100 * (sim / meas - 1):+.0f} %)"


if __name__ == "__main__":
    sys.exit(main())
