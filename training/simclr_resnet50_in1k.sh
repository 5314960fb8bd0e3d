#!/usr/bin/env bash
# SimCLR (v2) ResNet-50 on ImageNet-1k with the official hyper-parameters (google-research/simclr README, tf2/run.py):
# batch 4096 for 100 epochs, LARS (momentum 0.9, trust coefficient 1e-3; biases and BatchNorm spared decay and
# adaptation) at lr 0.075 x sqrt(batch) = 4.8 after 10 warm-up epochs, cosine to 0, weight decay 1e-4; NT-Xent at
# temperature 0.1 over the global batch (negatives gathered from every process with gradient); 3-layer projection
# head to 128 (BatchNorm synchronised across processes); colour distortion strength 1.0, Gaussian blur p 0.5, crops of
# scale 0.08-1 with flip. The ResNet's own BatchNorm becomes SyncBatchNorm on a distributed run (SSLTrainer).
# Differences from the official script: torchvision-style ResNet-50 (transformers' ResNetModel: stride in the 3x3
# convolution); crops resampled bilinearly on the device after a square load size; bf16 instead of TPU bfloat16.
# Keep the batch of 4096 by processes x per-device batch, not by gradient accumulation (it would split the negatives).
#
# Usage: IMAGENET=/data/imagenet bash training/simclr_resnet50_in1k.sh   (IMAGENET holds train/ and val/ folders)
# Steps: 1,281,167 images / 4096 = 312 per epoch; 100 epochs = 31,200 steps; 10 epochs warm-up = 3,120 steps.
set -euo pipefail
: "${IMAGENET:?set IMAGENET to a folder with train/ and val/ class sub-folders}"
NUM_GPUS=${NUM_GPUS:-8}
PER_DEVICE_BATCH=$((4096 / NUM_GPUS))

accelerate launch --config_file "$(dirname "$0")/accelerate_multi_gpu.yaml" --num_processes "$NUM_GPUS" \
  -m hf_jepa.cli pretrain \
  --method simclr \
  --backbone resnet50 \
  --dataset "$IMAGENET" \
  --output_dir "${OUTPUT_DIR:-outputs/simclr_resnet50_in1k}" \
  --config_overrides "image_size=224,projection_num_layers=3,projection_size=128,temperature=0.1,\
color_jitter_strength=1.0,blur_probability=0.5" \
  --crop_scale 0.08 1.0 \
  --horizontal_flip true \
  --load_size 256 \
  --per_device_train_batch_size "$PER_DEVICE_BATCH" \
  --max_steps 31200 \
  --optim lars --optim_args "momentum=0.9,eeta=0.001" \
  --learning_rate 4.8 \
  --warmup_steps 3120 \
  --lr_scheduler_type cosine \
  --weight_decay 1e-4 --weight_decay_end 1e-4 \
  --max_grad_norm 0 \
  --bf16 \
  --dataloader_num_workers 10 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2500 --save_total_limit 3 \
  --eval_batch_size 512
