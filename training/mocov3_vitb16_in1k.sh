#!/usr/bin/env bash
# MoCo v3 ViT-B/16 on ImageNet-1k with the official hyper-parameters (CONFIG.md of facebookresearch/moco-v3, "ViT-Base"
# pretraining: -a vit_base --optimizer=adamw --lr=1.5e-4 --weight-decay=.1 --epochs=300 --warmup-epochs=40
# --stop-grad-conv1 --moco-m-cos --moco-t=.2, batch 4096): AdamW, base lr 1.5e-4 scaled by batch / 256 (= 2.4e-3)
# after 40 warm-up epochs, cosine to 0, constant weight decay 0.1, no gradient clipping; projector 3 layers 4096 -> 256,
# predictor 2 layers 4096 -> 256 (BatchNorm, synchronised across processes); temperature 0.2; momentum encoder EMA
# 0.99 -> 1 (cosine); frozen random patch projection; BYOL's asymmetric augmentations with crops of scale 0.08-1.
# Differences from the official script: AdamW leaves biases and norms undecayed (official: every parameter);
# fixed sin-cos positions in MAE's channel order; crops resampled bilinearly on the device (roi_align) after a
# square load size; bf16 instead of fp16 with a loss scaler.
# The global batch of 4096 is the contrastive batch (keys of every process are the negatives) and BatchNorm's batch:
# keep it by processes x per-device batch (the official run: 64 GPUs x 64), not by gradient accumulation, which would
# split it into smaller contrastive batches.
#
# Usage: IMAGENET=/data/imagenet bash training/mocov3_vitb16_in1k.sh   (IMAGENET holds train/ and val/ folders)
# Steps: 1,281,167 images / 4096 = 312 per epoch; 300 epochs = 93,600 steps; 40 epochs warm-up = 12,480 steps.
set -euo pipefail
: "${IMAGENET:?set IMAGENET to a folder with train/ and val/ class sub-folders}"
NUM_GPUS=${NUM_GPUS:-8}
PER_DEVICE_BATCH=$((4096 / NUM_GPUS))

accelerate launch --config_file "$(dirname "$0")/accelerate_multi_gpu.yaml" --num_processes "$NUM_GPUS" \
  -m hf_jepa.cli pretrain \
  --method mocov3 \
  --dataset "$IMAGENET" \
  --output_dir "${OUTPUT_DIR:-outputs/mocov3_vitb16_in1k}" \
  --config_overrides "image_size=224,patch_size=16,hidden_size=768,num_hidden_layers=12,num_attention_heads=12,\
projection_hidden_size=4096,projection_size=256,projection_num_layers=3,prediction_hidden_size=4096,\
prediction_num_layers=2,temperature=0.2,freeze_patch_projection=true" \
  --crop_scale 0.08 1.0 \
  --horizontal_flip true \
  --load_size 256 \
  --per_device_train_batch_size "$PER_DEVICE_BATCH" \
  --max_steps 93600 \
  --learning_rate 2.4e-3 \
  --warmup_steps 12480 \
  --lr_scheduler_type cosine \
  --weight_decay 0.1 \
  --ema_momentum 0.99 --ema_momentum_end 1.0 --ema_schedule cosine \
  --max_grad_norm 0 \
  --bf16 \
  --dataloader_num_workers 10 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2500 --save_total_limit 3 \
  --eval_batch_size 512
