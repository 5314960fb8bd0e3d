#!/usr/bin/env bash
# The LeWorldModel numbers of the README (section "World models: LeWorldModel"): record Two-Room, train the default
# (64 px, CPU-sized) LeWorldModel for the command's default 300 steps, then the paper's planning evaluation (50
# episodes, CEM 300 / 30 / 30, horizon 5, receding horizon 5) next to random actions, and the position probe.
# Needs: pip install -e ".[world]". Writes $OUT/{data,model,planning}.
set -euo pipefail
OUT="${OUT:-outputs/lewm_tworoom_bench}"
python -m hf_jepa.cli collect --env swm/TwoRoom-v1 --episodes 300 --episode_length 60 --image_size 64 \
  --output_dir "$OUT/data"
python -m hf_jepa.cli pretrain --method lewm --dataset "$OUT/data" --output_dir "$OUT/model"
python -m hf_jepa.cli plan --model "$OUT/model" --env swm/TwoRoom-v1 --episodes 50 --output_dir "$OUT/planning" \
  --probe_dataset "$OUT/data"
