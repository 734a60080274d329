#!/usr/bin/env bash
# GPU check of the router's architectures (see benchmarks/gpu_check.py): in-process timings of the teacher and
# student shapes at fp32/fp16/bf16, batch 1 and 32, eager and CUDA graphs, and a standard-library HTTP check at
# 100 req/s. Needs only torch (CUDA) and transformers; no FastAPI, no weights, no internet. Under 8 minutes.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR] [extra gpu_check.py options, e.g. --compile or --dry-run]
#
# Writes OUT_DIR/gpu_check.json (default OUT_DIR: $OUT, else the current folder) and gpu_check.log beside it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out_dir="${1:-${OUT:-.}}"
[ "$#" -gt 0 ] && shift
mkdir -p "$out_dir"
{
    date -u +"start %Y-%m-%dT%H:%M:%SZ"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
    python -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), 'transformers', transformers.__version__)"
} 2>&1 | tee "$out_dir/gpu_check.log"
# 470 s hard stop: the in-process part stops starting rows at --budget-s (360 s), the HTTP check takes ~35 s.
timeout 470 python "$here/gpu_check.py" --out "$out_dir/gpu_check.json" "$@" 2>&1 | tee -a "$out_dir/gpu_check.log"
exit "${PIPESTATUS[0]}"
