#!/usr/bin/env bash
# MAE ViT-B/16 on ImageNet-1k at 224 px with the official pretraining hyper-parameters (PRETRAIN.md of the official
# repository): 800 epochs, global batch 4096, base lr 1.5e-4 scaled by batch / 256 (= 2.4e-3) after 40 warm-up
# epochs, cosine to 0, AdamW betas (0.9, 0.95), weight decay 0.05, mask ratio 0.75, per-patch normalised targets
# (norm_pix_loss), decoder 512 wide and 8 deep with 16 heads, random resized crop 0.2-1.0 + horizontal flip.
# Differences from the official script: images are resized to a square load size before the on-device random
# resized crop, which resamples bilinearly (roi_align) instead of bicubic.
#
# Usage: IMAGENET=/data/imagenet bash training/mae_vitb16_in1k.sh   (IMAGENET holds train/ and val/ folders)
# Steps: 1,281,167 images / 4096 = 312 per epoch; 800 epochs = 249,600 steps; 40 epochs warm-up = 12,480 steps.
set -euo pipefail
: "${IMAGENET:?set IMAGENET to a folder with train/ and val/ class sub-folders}"
NUM_GPUS=${NUM_GPUS:-8}
PER_DEVICE_BATCH=$((4096 / NUM_GPUS))

accelerate launch --config_file "$(dirname "$0")/accelerate_multi_gpu.yaml" --num_processes "$NUM_GPUS" \
  -m hf_jepa.cli pretrain \
  --method mae \
  --dataset "$IMAGENET" \
  --output_dir "${OUTPUT_DIR:-outputs/mae_vitb16_in1k}" \
  --config_overrides "image_size=224,patch_size=16,hidden_size=768,num_hidden_layers=12,num_attention_heads=12,\
decoder_hidden_size=512,decoder_num_hidden_layers=8,decoder_num_attention_heads=16,mask_ratio=0.75,norm_pix_loss=true" \
  --crop_scale 0.2 1.0 \
  --horizontal_flip true \
  --load_size 256 \
  --per_device_train_batch_size "$PER_DEVICE_BATCH" \
  --max_steps 249600 \
  --learning_rate 2.4e-3 \
  --warmup_steps 12480 \
  --lr_scheduler_type cosine \
  --weight_decay 0.05 \
  --adam_beta1 0.9 --adam_beta2 0.95 \
  --bf16 \
  --dataloader_num_workers 10 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2500 --save_total_limit 3 \
  --eval_batch_size 512
