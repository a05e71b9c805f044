#!/usr/bin/env bash
# The GPU check, run once on a machine with an NVIDIA GPU, nvcc 13, a CUDA build of PyTorch and the
# cuBLAS/cuDNN wheels (nvidia-cublas, nvidia-cudnn-cu13) installed for python3:
#   1. builds the CUDA wheel (pip wheel . -C cmake.define.RETICULUM_CUDA=ON, no network needed);
#   2. runs the whole test suite against it (tests/test_cuda.py's parity tests run only with a GPU);
#   3. runs bench/compare.py --device cuda (the models at batch 256) against PyTorch CUDA.
# Everything it writes (wheel build log, test log, benchmark JSON) goes to $OUT (default ./gpu-check).
# Eigen comes from the cmeel-eigen wheel: where it is not installed, put its wheels in .whl/ first
# (on a machine with PyPI: pip download --no-deps -d .whl cmeel cmeel-eigen).
# Exit status: that of the first stage that failed (the later stages still run).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check}"
mkdir -p "$OUT"
WORK="$(mktemp -d)"
status=0

nvidia-smi -L 2>&1 | tee "$OUT/device.txt"
nvcc --version | tail -1 | tee -a "$OUT/device.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" 2>&1 | tee -a "$OUT/device.txt"

if ! python3 -c "import cmeel" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --target "$WORK/site" .whl/*.whl || { echo "no cmeel-eigen: see the header of $0"; exit 1; }
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi

echo "== 1. building the CUDA wheel"
start=$SECONDS
if CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python3 -m pip wheel . --no-build-isolation --no-deps -w "$WORK/wheel" \
     -C cmake.define.RETICULUM_CUDA=ON -C build-dir="$WORK/build" -v >"$OUT/build.log" 2>&1; then
  python3 -m pip install -q --no-deps --target "$WORK/rt" "$WORK"/wheel/reticulum-*.whl
  echo "built in $((SECONDS - start)) s"
else
  tail -40 "$OUT/build.log"
  echo "wheel build FAILED after $((SECONDS - start)) s (full log: $OUT/build.log)"
  exit 1
fi
export PYTHONPATH="$WORK/rt${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import reticulum as rt; assert rt.cuda.is_available(), 'the CUDA build sees no GPU'; print('reticulum sees', rt.cuda.device_count(), 'GPU(s)')" \
  || exit 1

echo "== 2. the test suite"
start=$SECONDS
# Outside the checkout, so that python/reticulum (the source tree, no extension) is not imported instead.
# pipefail: the subshell fails when pytest does, whatever tee and tail return.
(cd "$WORK" && RETICULUM_FUZZ_EXAMPLES="${RETICULUM_FUZZ_EXAMPLES:-2000}" python3 -m pytest "$OLDPWD/tests" -q -p no:cacheprovider -rs \
   2>&1 | tee "$OUT/tests.log" | tail -40) || status=1
grep -c "SKIPPED.*needs reticulum's CUDA build" "$OUT/tests.log" | xargs -I{} echo "{} CUDA tests skipped (expected 0)"
echo "tests took $((SECONDS - start)) s"

echo "== 3. bench/compare.py --device cuda"
start=$SECONDS
python3 bench/compare.py --device cuda --pairs 8 --block 0.3 --json "$OUT/bench-cuda.json" 2>&1 | tee "$OUT/bench.log" || status=1
echo "benchmark took $((SECONDS - start)) s"
exit $status
