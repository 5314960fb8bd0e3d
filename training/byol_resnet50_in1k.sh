#!/usr/bin/env bash
# BYOL ResNet-50 on ImageNet-1k with the official hyper-parameters for 300 epochs (deepmind-research
# byol/configs/byol.py presets): batch 4096, LARS (momentum 0.9, trust coefficient 1e-3; biases and BatchNorm spared
# decay and adaptation) at lr 0.3 x batch / 256 = 4.8 after 10 warm-up epochs, cosine to 0, weight decay 1e-6;
# projector and predictor 4096 -> 256 (BatchNorm synchronised across processes); loss 2 - 2 cos symmetrised; target
# EMA 0.99 -> 1 on a cosine; BYOL's asymmetric augmentations (blur p 1.0 / 0.1, solarize p 0 / 0.2), crops 0.08-1.
# The ResNet's own BatchNorm becomes SyncBatchNorm on a distributed run (SSLTrainer).
# Differences from the official script: the LARS step is SimCLR's (the learning rate inside the momentum; BYOL's optax
# chain applies it after the momentum: the same with a constant lr, slightly different during warm-up and decay);
# torchvision-style ResNet-50 (transformers' ResNetModel); crops resampled bilinearly on the device; bf16.
#
# Usage: IMAGENET=/data/imagenet bash training/byol_resnet50_in1k.sh   (IMAGENET holds train/ and val/ folders)
# Steps: 1,281,167 images / 4096 = 312 per epoch; 300 epochs = 93,600 steps; 10 epochs warm-up = 3,120 steps.
set -euo pipefail
: "${IMAGENET:?set IMAGENET to a folder with train/ and val/ class sub-folders}"
NUM_GPUS=${NUM_GPUS:-8}
PER_DEVICE_BATCH=$((4096 / NUM_GPUS))

accelerate launch --config_file "$(dirname "$0")/accelerate_multi_gpu.yaml" --num_processes "$NUM_GPUS" \
  -m hf_jepa.cli pretrain \
  --method byol \
  --backbone resnet50 \
  --dataset "$IMAGENET" \
  --output_dir "${OUTPUT_DIR:-outputs/byol_resnet50_in1k}" \
  --config_overrides "image_size=224,projection_hidden_size=4096,projection_size=256,prediction_hidden_size=4096" \
  --crop_scale 0.08 1.0 \
  --horizontal_flip true \
  --load_size 256 \
  --per_device_train_batch_size "$PER_DEVICE_BATCH" \
  --max_steps 93600 \
  --optim lars --optim_args "momentum=0.9,eeta=0.001" \
  --learning_rate 4.8 \
  --warmup_steps 3120 \
  --lr_scheduler_type cosine \
  --weight_decay 1e-6 --weight_decay_end 1e-6 \
  --ema_momentum 0.99 --ema_momentum_end 1.0 --ema_schedule cosine \
  --max_grad_norm 0 \
  --bf16 \
  --dataloader_num_workers 10 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2500 --save_total_limit 3 \
  --eval_batch_size 512
