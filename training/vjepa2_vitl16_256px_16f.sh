#!/usr/bin/env bash
# V-JEPA 2 ViT-L/16 on a video folder at 256 px, 16 frames, with the official pretraining hyper-parameters (the
# official vitl16 256px-16f config): encoder ViT-L (1024 wide, 24 deep, 16 heads), tubelets 2x16x16, 3-D rotary
# positions; predictor 384 wide, 12 deep, 12 heads, zero-initialised mask tokens; two mask sets (8 blocks of 15% and
# 2 blocks of 70% of the frame, full duration, aspect 0.75-1.5); L1 loss to the layer-normed EMA targets; EMA momentum
# constant 0.99925; AdamW, lr 5.25e-4 constant after a 12,000-step warm-up (40 "epochs" of 300 iterations), weight
# decay 0.04 constant; batch 24 clips per GPU; random resized crop 0.3-1.0 (aspect 0.75-1.35) + flip per clip; bf16
# and activation checkpointing.
# Differences from the official script: the warm-up starts from 0 instead of 1e-4; clips are `--frame_stride` frames
# apart (the official loader samples at 4 fps: for 30 fps videos about every 8th frame); training stops at
# --max_steps (set it to your budget: the default here is 40 "epochs" of 300 steps after the warm-up).
#
# Usage: VIDEOS=/data/videos bash training/vjepa2_vitl16_256px_16f.sh  (VIDEOS: video files, or train/ and eval/ folders)
set -euo pipefail
: "${VIDEOS:?set VIDEOS to a folder of video files (sub-folders = classes, or train/ and eval/)}"
NUM_GPUS=${NUM_GPUS:-8}

accelerate launch --config_file "$(dirname "$0")/accelerate_multi_gpu.yaml" --num_processes "$NUM_GPUS" \
  -m hf_jepa.cli pretrain \
  --method vjepa \
  --dataset "$VIDEOS" \
  --output_dir "${OUTPUT_DIR:-outputs/vjepa2_vitl16_256px_16f}" \
  --config_overrides "image_size=256,patch_size=16,hidden_size=1024,num_hidden_layers=24,num_attention_heads=16,\
num_frames=16,tubelet_size=2,position_embedding_type=rope,predictor_hidden_size=384,predictor_num_hidden_layers=12,\
predictor_num_attention_heads=12,loss_exponent=1.0" \
  --frames_per_clip 16 \
  --frame_stride 8 \
  --crop_scale 0.3 1.0 \
  --horizontal_flip true \
  --per_device_train_batch_size 24 \
  --max_steps 24000 \
  --learning_rate 5.25e-4 \
  --warmup_steps 12000 \
  --lr_scheduler_type constant_with_warmup \
  --weight_decay 0.04 \
  --weight_decay_end 0.04 \
  --ema_momentum 0.99925 --ema_momentum_end 0.99925 --ema_schedule constant \
  --bf16 \
  --gradient_checkpointing \
  --dataloader_num_workers 8 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2500 --save_total_limit 3 \
  --eval_batch_size 64
