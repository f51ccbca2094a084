#!/usr/bin/env bash
# The paper's full training recipe for one dataset on one GPU, and its analysis.
#
# Fashion-MNIST (the Debian package `dataset-fashion-mnist`, or --data-dir), all seven K
# (2 ... 128), 200 epochs, batch 256, Adam 1e-3, mixed precision (bfloat16 autocast), the
# paper's eleven checkpoints, then ID and information imbalance of every checkpoint on the
# first 5,000 test images with the Gram matrices on the GPU, and the figures. Sized for about
# ten minutes on one H100 / H200 (four runs share the GPU); not yet timed on one.
#
# Usage:  scripts/gpu_paper_recipe.sh [OUT] [extra conv-study study options]
#         scripts/gpu_paper_recipe.sh runs/gpu-paper --data-dir ~/data/fashion-mnist
# Rerunning the same command resumes an interrupted study.
set -euo pipefail

out="${1:-runs/gpu-paper}"
shift || true

if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
python - <<'PY'
import torch

print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"{torch.cuda.device_count()} GPU(s): "
      + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
PY

start=$(date +%s)
conv-study study --preset gpu-paper --out "$out" "$@"
echo "study wall time: $(( $(date +%s) - start )) s"

# Epoch times and throughput per run, from each run's metrics.jsonl.
python - "$out" <<'PY'
import json
import statistics
import sys
from pathlib import Path

for run in sorted(Path(sys.argv[1]).glob("*-K*")):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in records if r.get("train_seconds")]
    if not trained:
        continue
    print(
        f"{run.name:24s} epochs {len(trained):3d}  "
        f"train {statistics.median(r['train_seconds'] for r in trained):6.2f} s/epoch  "
        f"{statistics.median(r['images_per_second'] for r in trained):8.0f} img/s  "
        f"eval {statistics.median(r['eval_seconds'] for r in trained):5.2f} s  "
        f"final eval loss {trained[-1]['eval']['loss']:.1f}"
    )
PY
