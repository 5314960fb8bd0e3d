#!/usr/bin/env bash
# I-JEPA ViT-H/14 on ImageNet-1k at 224 px with the official hyper-parameters (configs/in1k_vith14_ep300.yaml of
# the official repository): 300 epochs, global batch 2048, lr 1e-3 after 40 warm-up epochs, final lr 1e-6,
# weight decay 0.04 -> 0.4 (cosine), EMA 0.996 -> 1.0 (linear), predictor 384 wide and 12 deep, 4 target blocks of
# scale 0.15-0.2 and aspect 0.75-1.5, context scale 0.85-1.0, min_keep 10, random resized crop 0.3-1.0, no flip,
# bf16. Differences from the official script: the warm-up starts from 0 instead of 2e-4, and images are resized to a
# square load size before the on-device random resized crop.
#
# Usage: IMAGENET=/data/imagenet bash training/ijepa_vith14_in1k.sh   (IMAGENET holds train/ and val/ folders)
# Steps: 1,281,167 images / 2048 = 625 per epoch; 300 epochs = 187,500 steps; 40 epochs warm-up = 25,000 steps.
set -euo pipefail
: "${IMAGENET:?set IMAGENET to a folder with train/ and val/ class sub-folders}"
NUM_GPUS=${NUM_GPUS:-8}
PER_DEVICE_BATCH=$((2048 / NUM_GPUS))

accelerate launch --config_file "$(dirname "$0")/accelerate_multi_gpu.yaml" --num_processes "$NUM_GPUS" \
  -m hf_jepa.cli pretrain \
  --method ijepa \
  --dataset "$IMAGENET" \
  --output_dir "${OUTPUT_DIR:-outputs/ijepa_vith14_in1k}" \
  --config_overrides "image_size=224,patch_size=14,hidden_size=1280,num_hidden_layers=32,num_attention_heads=16,\
predictor_hidden_size=384,predictor_num_hidden_layers=12,predictor_num_attention_heads=16,min_keep=10" \
  --crop_scale 0.3 1.0 \
  --horizontal_flip false \
  --load_size 256 \
  --per_device_train_batch_size "$PER_DEVICE_BATCH" \
  --max_steps 187500 \
  --learning_rate 1e-3 \
  --warmup_steps 25000 \
  --lr_scheduler_type cosine_with_min_lr \
  --lr_scheduler_kwargs '{"min_lr": 1e-6}' \
  --weight_decay 0.04 --weight_decay_end 0.4 \
  --ema_momentum 0.996 --ema_momentum_end 1.0 --ema_schedule linear \
  --adam_beta1 0.9 --adam_beta2 0.999 \
  --bf16 \
  --dataloader_num_workers 10 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2500 --save_total_limit 3 \
  --eval_batch_size 512
