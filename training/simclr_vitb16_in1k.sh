#!/usr/bin/env bash
# SimCLR on ImageNet-1k with a ViT-B/16 and the official objective (google-research/simclr tf2/run.py flags and the
# ImageNet command of its README): NT-Xent at temperature 0.1 over the global batch of 4096 (negatives gathered from
# every process with gradient), SimCLR v2's 3-layer projection head to 128 (BatchNorm synchronised across processes),
# colour distortion strength 1.0, Gaussian blur p 0.5 on both views, crops of scale 0.08-1 with flip.
# The official recipe is a ResNet-50 trained with LARS: training/simclr_resnet50_in1k.sh. For the ViT the optimiser
# is the ViT recipe of MoCo v3 (AdamW, lr 1.5e-4 x batch / 256 = 2.4e-3 after 40 warm-up epochs, cosine to 0, weight
# decay 0.1, 300 epochs), MoCo v3's official settings for a ViT trained with a contrastive loss, not SimCLR's.
# Keep the batch of 4096 by processes x per-device batch, not by gradient accumulation (it would split the negatives).
#
# Usage: IMAGENET=/data/imagenet bash training/simclr_vitb16_in1k.sh   (IMAGENET holds train/ and val/ folders)
# Steps: 1,281,167 images / 4096 = 312 per epoch; 300 epochs = 93,600 steps; 40 epochs warm-up = 12,480 steps.
set -euo pipefail
: "${IMAGENET:?set IMAGENET to a folder with train/ and val/ class sub-folders}"
NUM_GPUS=${NUM_GPUS:-8}
PER_DEVICE_BATCH=$((4096 / NUM_GPUS))

accelerate launch --config_file "$(dirname "$0")/accelerate_multi_gpu.yaml" --num_processes "$NUM_GPUS" \
  -m hf_jepa.cli pretrain \
  --method simclr \
  --dataset "$IMAGENET" \
  --output_dir "${OUTPUT_DIR:-outputs/simclr_vitb16_in1k}" \
  --config_overrides "image_size=224,patch_size=16,hidden_size=768,num_hidden_layers=12,num_attention_heads=12,\
projection_hidden_size=768,projection_size=128,projection_num_layers=3,temperature=0.1,color_jitter_strength=1.0,\
blur_probability=0.5" \
  --crop_scale 0.08 1.0 \
  --horizontal_flip true \
  --load_size 256 \
  --per_device_train_batch_size "$PER_DEVICE_BATCH" \
  --max_steps 93600 \
  --learning_rate 2.4e-3 \
  --warmup_steps 12480 \
  --lr_scheduler_type cosine \
  --weight_decay 0.1 --weight_decay_end 0.1 \
  --max_grad_norm 0 \
  --bf16 \
  --dataloader_num_workers 10 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2500 --save_total_limit 3 \
  --eval_batch_size 512
