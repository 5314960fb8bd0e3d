#!/usr/bin/env bash
# BYOL on ImageNet-1k with a ViT-B/16 and the official objective (deepmind-research byol/configs/byol.py for 300
# epochs): projector and predictor 4096 -> 256 with BatchNorm (synchronised across processes), loss 2 - 2 cos
# symmetrised over the two views, target EMA 0.99 -> 1 on a cosine (the official preset for 300 epochs; 0.996 for
# 1000), batch 4096, BYOL's asymmetric augmentations (blur p 1.0 / 0.1, solarize p 0 / 0.2) with crops of scale 0.08-1.
# The official recipe is a ResNet-50 trained with LARS: training/byol_resnet50_in1k.sh. For the ViT the optimiser is
# the ViT recipe of MoCo v3 (AdamW, lr 1.5e-4 x batch / 256 = 2.4e-3 after 40 warm-up epochs, cosine to 0, weight
# decay 0.1), MoCo v3's official settings for a ViT, not BYOL's.
#
# Usage: IMAGENET=/data/imagenet bash training/byol_vitb16_in1k.sh   (IMAGENET holds train/ and val/ folders)
# Steps: 1,281,167 images / 4096 = 312 per epoch; 300 epochs = 93,600 steps; 40 epochs warm-up = 12,480 steps.
set -euo pipefail
: "${IMAGENET:?set IMAGENET to a folder with train/ and val/ class sub-folders}"
NUM_GPUS=${NUM_GPUS:-8}
PER_DEVICE_BATCH=$((4096 / NUM_GPUS))

accelerate launch --config_file "$(dirname "$0")/accelerate_multi_gpu.yaml" --num_processes "$NUM_GPUS" \
  -m hf_jepa.cli pretrain \
  --method byol \
  --dataset "$IMAGENET" \
  --output_dir "${OUTPUT_DIR:-outputs/byol_vitb16_in1k}" \
  --config_overrides "image_size=224,patch_size=16,hidden_size=768,num_hidden_layers=12,num_attention_heads=12,\
projection_hidden_size=4096,projection_size=256,prediction_hidden_size=4096" \
  --crop_scale 0.08 1.0 \
  --horizontal_flip true \
  --load_size 256 \
  --per_device_train_batch_size "$PER_DEVICE_BATCH" \
  --max_steps 93600 \
  --learning_rate 2.4e-3 \
  --warmup_steps 12480 \
  --lr_scheduler_type cosine \
  --weight_decay 0.1 --weight_decay_end 0.1 \
  --ema_momentum 0.99 --ema_momentum_end 1.0 --ema_schedule cosine \
  --max_grad_norm 0 \
  --bf16 \
  --dataloader_num_workers 10 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2500 --save_total_limit 3 \
  --eval_batch_size 512
