#!/usr/bin/env bash
# The checks that need a CUDA machine, in about 10 minutes: the gpu-marked tests, then the benchmarks.
# Logs and an updated copy of RESULTS.md go to $OUT when it is set (the device machine's output folder), else to
# benchmarks/gpu_output/. Exits non-zero when CUDA is missing or any step fails.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/gpu_output}"

if ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check.sh: CUDA is not available (torch.cuda.is_available() is False): run this on a CUDA machine." >&2
  exit 2
fi
mkdir -p "$out"
nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || true
# The benchmarks update a copy, so the CPU numbers in benchmarks/RESULTS.md are never overwritten here.
cp benchmarks/RESULTS.md "$out/RESULTS.md" 2>/dev/null || true

failed=0
step() {  # step NAME TIME_LIMIT_S COMMAND...: runs COMMAND, logs to $out/NAME.log, records a failure
  local name=$1 limit=$2
  shift 2
  echo "== $name: $*"
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
  local rc=${PIPESTATUS[0]}
  if [[ $name == pytest_gpu && $rc == 5 ]]; then
    echo "(no gpu-marked tests yet)"
  elif [[ $rc != 0 ]]; then
    echo "gpu_check.sh: $name failed with exit code $rc" >&2
    failed=1
  fi
}

step pytest_gpu 240 python -m pytest -m gpu -q
step bench_masking 60 python benchmarks/bench_masking.py --results "$out/RESULTS.md"
step bench_ema 40 python benchmarks/bench_ema.py --results "$out/RESULTS.md"
step bench_ijepa_throughput 90 python benchmarks/bench_ijepa_throughput.py --models base --bf16 \
  --results "$out/RESULTS.md"
step bench_methods_throughput 150 python benchmarks/bench_methods_throughput.py --models base --bf16 --steps 5 \
  --results "$out/RESULTS.md"
step bench_masking_3d 60 python benchmarks/bench_masking_3d.py --results "$out/RESULTS.md"
step bench_vjepa_throughput 240 python benchmarks/bench_vjepa_throughput.py --models large --bf16 --steps 5 \
  --results "$out/RESULTS.md"
step input_pipeline 150 python benchmarks/input_pipeline.py --gpu-decode --workers 0 2 --batches 8 \
  --trainer-steps 10 --trainer-rounds 1 --results "$out/RESULTS.md"
# torch.compile against eager on the GPU; FSDP2 against DDP on 2 CPU processes (gloo) of the same machine.
step bench_distributed_step 300 python benchmarks/bench_distributed_step.py --reps 10 --results "$out/RESULTS.md"
exit $failed
