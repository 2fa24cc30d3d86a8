"""Count the instructions one iteration of a kernel's grid-stride loop executes, from its SASS.

    python benchmarks/kernels/count_sass.py [--arch sm_80 ...] [--nvcc nvcc] [--cuobjdump cuobjdump]

Compiles index_select.cu (-O3, one cubin per --arch) and prints, per kernel and architecture, the instructions
between the kernel's last backward branch (gather_rows' grid-stride loop, gather_rows_small's loop over the indices)
and its target, less the bounds check's __assert_fail call block that is branched over (it runs only on a bad
index); an inner loop inside counts once (one element per thread). Needs nvcc and cuobjdump (the CUDA toolkit, or
PyPI's nvidia-cuda-cuobjdump wheel beside nvcc); accelsim's tests do not. The figures are
accelsim.cost.gather.INDEX_SELECT_INSTRUCTIONS and SMALL_INDEX_INSTRUCTIONS.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("index_select.cu")
KERNELS = {"gather_rows": "INDEX_SELECT_INSTRUCTIONS", "gather_rows_small": "SMALL_INDEX_INSTRUCTIONS"}
LINE = re.compile(r"\s*/\*([0-9a-f]{4})\*/\s+(.*?)\s*;")
BRANCH = re.compile(r"BRA (0x[0-9a-f]+)")


def loop_body(sass: str) -> list[str]:
    """The loop's executed instructions: from the target of the last backward branch to that branch, without
    a forward-branched-over block that holds a CALL (the failed assertion)."""
    code = [(int(m.group(1), 16), m.group(2)) for m in map(LINE.match, sass.splitlines()) if m]
    back = [(a, int(BRANCH.search(t).group(1), 16)) for a, t in code
            if BRANCH.search(t) and int(BRANCH.search(t).group(1), 16) < a]
    end, start = back[-1]
    loop = [(a, t) for a, t in code if start <= a <= end]
    body, skip_to = [], -1
    for a, t in loop:
        if a < skip_to:
            continue
        body.append(t)
        m = BRANCH.search(t)
        if m and t.startswith("@") and int(m.group(1), 16) > a:
            target = int(m.group(1), 16)
            if any("CALL" in u for b, u in loop if a < b < target):
                skip_to = target
    return body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", action="append", default=None)
    ap.add_argument("--nvcc", default="nvcc")
    ap.add_argument("--cuobjdump", default="cuobjdump")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch or ["sm_80", "sm_89", "sm_90", "sm_100"]:
            cubin = Path(tmp) / f"{arch}.cubin"
            subprocess.run([args.nvcc, f"-arch={arch}", "-cubin", "-O3", "-o", str(cubin), str(SOURCE)], check=True)
            sass = subprocess.run([args.cuobjdump, "-sass", str(cubin)], check=True, capture_output=True,
                                  text=True).stdout
            for function in re.split(r"\n\s*Function : ", sass)[1:]:
                mangled = re.match(r"_Z(\d+)", function)  # _Z<length><name>...: the kernel's own name
                name = function[mangled.end():mangled.end() + int(mangled.group(1))] if mangled else ""
                if name not in KERNELS:
                    continue
                ops = [re.sub(r"^@!?U?P\w+\s+", "", t).split()[0] for t in loop_body(function)]
                xu = sum(o.split(".")[0] in ("MUFU", "I2F", "F2I") for o in ops)
                print(f"{name} ({KERNELS[name]}) {arch}: {len(ops)} instructions per iteration ({xu} MUFU/I2F/F2I)")


if __name__ == "__main__":
    main()
