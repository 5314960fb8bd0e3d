#!/usr/bin/env bash
# The default main job, spelled out: I-JEPA on the embedded scikit-learn digits with a tiny ViT, a few minutes on a
# laptop CPU. Every flag below is the default; change any of them (or add TrainingArguments flags) to experiment.
set -euo pipefail
hf-jepa pretrain \
  --method ijepa \
  --dataset digits \
  --output_dir "${OUTPUT_DIR:-outputs/ijepa_digits}" \
  "$@"
