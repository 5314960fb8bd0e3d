#!/usr/bin/env bash
# DINO ViT-B/16 on ImageNet-1k with the official training hyper-parameters (main_dino.py's defaults, ViT-B/16
# architecture, teacher temperature 0.04 -> 0.07 over 30 epochs as recommended for ViT-B): 100 epochs, global batch
# 1024, lr 0.0005 scaled by batch / 256 (= 2e-3) after 10 warm-up epochs, cosine to 1e-6, weight decay 0.04 -> 0.4
# (cosine), teacher EMA 0.996 -> 1 (cosine), head 2048 -> 256 -> 65,536 prototypes with a normalised last layer
# frozen for the first epoch, gradient clipping 3.0, drop-path 0.1, 2 global crops at 224 (scale 0.4-1) + 8 local
# crops at 96 (scale 0.05-0.4) with flip, color jitter, grayscale, blur and solarization.
# Differences from the official script: fixed sin-cos position embeddings instead of learned ones; crops resampled
# bilinearly on the device (roi_align) instead of PIL bicubic; images resized to a square load size first.
#
# Usage: IMAGENET=/data/imagenet bash training/dino_vitb16_in1k.sh   (IMAGENET holds train/ and val/ folders)
# Steps: 1,281,167 images / 1024 = 1251 per epoch; 100 epochs = 125,100 steps; 10 epochs = 12,510 steps.
set -euo pipefail
: "${IMAGENET:?set IMAGENET to a folder with train/ and val/ class sub-folders}"
NUM_GPUS=${NUM_GPUS:-8}
PER_DEVICE_BATCH=$((1024 / NUM_GPUS))

accelerate launch --config_file "$(dirname "$0")/accelerate_multi_gpu.yaml" --num_processes "$NUM_GPUS" \
  -m hf_jepa.cli pretrain \
  --method dino \
  --dataset "$IMAGENET" \
  --output_dir "${OUTPUT_DIR:-outputs/dino_vitb16_in1k}" \
  --config_overrides "image_size=224,patch_size=16,hidden_size=768,num_hidden_layers=12,num_attention_heads=12,\
drop_path_rate=0.1,head_hidden_size=2048,head_bottleneck_size=256,head_output_size=65536,num_local_crops=8,\
local_crop_size=96,teacher_temperature=0.07,warmup_teacher_temperature=0.04,teacher_temperature_warmup_steps=37530,\
freeze_last_layer_steps=1251" \
  --crop_scale 0.4 1.0 \
  --horizontal_flip true \
  --load_size 256 \
  --per_device_train_batch_size "$PER_DEVICE_BATCH" \
  --max_steps 125100 \
  --learning_rate 2e-3 \
  --warmup_steps 12510 \
  --lr_scheduler_type cosine_with_min_lr \
  --lr_scheduler_kwargs '{"min_lr": 1e-6}' \
  --weight_decay 0.04 --weight_decay_end 0.4 \
  --ema_momentum 0.996 --ema_momentum_end 1.0 --ema_schedule cosine \
  --max_grad_norm 3.0 \
  --bf16 \
  --dataloader_num_workers 10 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2500 --save_total_limit 3 \
  --eval_batch_size 512
