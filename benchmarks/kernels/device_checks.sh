#!/usr/bin/env bash
# The device checks still open, as one prepared command for a session lent a GPU (about 5 minutes on an H200):
#   bash benchmarks/kernels/device_checks.sh OUTDIR
# Runs measure_model.py's encoders section three times (ResNet-50 and BERT-base; combine with combine_runs.py), its hf
# section once (transformers itself against the plain-PyTorch models), then kernel_names.py once (the kernels cuBLAS,
# SDPA's FLASH backend and the norms launch, with grid, block, registers and shared memory: the tile / split / warp
# facts the cost models assume), and packs OUTDIR/checks.tgz.
set -u
out=${1:?usage: device_checks.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
export PYTHONUNBUFFERED=1
for i in 1 2 3; do
  mkdir -p "$out/work/enc$i"
  timeout 150 ${PYTHON:-python3} "$here/measure_model.py" --out "$out/work/enc$i" --budget-s 120 --sections encoders \
    2>&1 | tee "$out/work/enc$i/log.txt"
done
mkdir -p "$out/work/hf"
timeout 150 ${PYTHON:-python3} "$here/measure_model.py" --out "$out/work/hf" --budget-s 120 --sections hf \
  2>&1 | tee "$out/work/hf/log.txt"
# last, so that a run cut short at the device tool's limit keeps the measurements above (OUTDIR/work comes back)
mkdir -p "$out/work/names"
timeout 100 ${PYTHON:-python3} "$here/kernel_names.py" --out "$out/work/names" --budget-s 70 \
  2>&1 | tee "$out/work/names/log.txt"
tar czf "$out/checks.tgz" -C "$out/work" . && rm -rf "$out/work"
