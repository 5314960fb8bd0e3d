#!/usr/bin/env bash
# LeWorldModel on stable-worldmodel's Two-Room with the official recipe (lucas-maes/le-wm config/train/lewm.yaml,
# model/lewm.yaml, data/tworoom.yaml): ViT-Tiny/14 at 224 px (CLS token), projector 192 -> 2048 -> 192 with BatchNorm,
# predictor 6 AdaLN-zero blocks of 16 heads x 64, MLP 2048, dropout 0.1, history 3, one predicted step, frameskip 5;
# loss MSE + 0.09 * SIGReg (1024 slices, 17 knots); AdamW lr 5e-5, weight decay 1e-3, batch 128, gradient clipping 1.0,
# bf16, 100 epochs, warm-up then cosine; then the paper's planning evaluation (CEM 300 samples, 30 iterations,
# 30 elites, horizon 5, receding horizon 5, goals 25 expert steps away, budget 50 steps, 50 episodes).
# Differences from the official recipe: the data is recorded here by `hf-jepa collect` (expert policy + noise, 20 %
# random episodes) rather than downloaded; actions are not standardised; the schedule steps per optimizer step.
#
# Needs: pip install -e ".[world]"   Usage: bash training/lewm_vittiny14_tworoom.sh
set -euo pipefail
DATA="${DATA:-outputs/tworoom_data}"
OUT="${OUTPUT_DIR:-outputs/lewm_vittiny14_tworoom}"

[ -d "$DATA" ] || python -m hf_jepa.cli collect --env swm/TwoRoom-v1 --episodes "${EPISODES:-2000}" \
  --episode_length 100 --image_size 224 --output_dir "$DATA"

python -m hf_jepa.cli pretrain \
  --method lewm \
  --dataset "$DATA" \
  --output_dir "$OUT" \
  --config_overrides "image_size=224,patch_size=14,hidden_size=192,num_hidden_layers=12,num_attention_heads=3,\
embedding_size=192,projection_hidden_size=2048,predictor_num_hidden_layers=6,predictor_num_attention_heads=16,\
predictor_head_size=64,predictor_intermediate_size=2048,sigreg_num_slices=1024,history_size=3,num_preds=1,frameskip=5" \
  --per_device_train_batch_size 128 \
  --max_steps -1 --num_train_epochs 100 \
  --learning_rate 5e-5 \
  --warmup_steps 500 \
  --lr_scheduler_type cosine \
  --weight_decay 1e-3 \
  --max_grad_norm 1.0 \
  --bf16 \
  --dataloader_num_workers 6 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2000 --save_total_limit 3

python -m hf_jepa.cli plan --model "$OUT" --env swm/TwoRoom-v1 --episodes 50 --output_dir "$OUT/planning"
