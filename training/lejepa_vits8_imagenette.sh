#!/usr/bin/env bash
# LeJEPA ViT-S/8 on ImageNette (10 ImageNet classes, 9,469 training images) with the official minimal script's
# settings (rbalestr-lab/lejepa MINIMAL.md, its recommended command: lamb 0.02, V 4, proj_dim 16, lr 2e-3, batch 256,
# 800 epochs): 4 views of 128 px per image, all global (crops 0.08-1, flip, colour jitter 0.8/0.8/0.8/0.2 p 0.8,
# grayscale 0.2, blur p 0.5, solarize p 0.2), projector 2048 -> 2048 -> 16 with BatchNorm, loss
# 0.98 * prediction + 0.02 * SIGReg (256 slices, 17 knots on [0, 3]), AdamW weight decay 0.05, one warm-up epoch,
# cosine decay; drop-path 0.1; one GPU, bf16.
# Differences from the official script: the learning rate decays to 0 (official: cosine to an absolute 1e-3), the
# warm-up starts at 0 (official: 1 % of the rate), no online linear probe is trained alongside, and the encoder has no
# timm head linear to 512 before the projector (see the model card).
#
# Usage: IMAGENETTE=/data/imagenette2-160 bash training/lejepa_vits8_imagenette.sh   (train/ and val/ class folders)
# Steps: 9,469 images / 256 = 36 per epoch (last partial batch dropped); 800 epochs = 28,800 steps.
set -euo pipefail
: "${IMAGENETTE:?set IMAGENETTE to a folder with train/ and val/ class sub-folders}"

python -m hf_jepa.cli pretrain \
  --method lejepa \
  --dataset "$IMAGENETTE" \
  --output_dir "${OUTPUT_DIR:-outputs/lejepa_vits8_imagenette}" \
  --config_overrides "image_size=128,patch_size=8,hidden_size=384,num_hidden_layers=12,num_attention_heads=6,\
drop_path_rate=0.1,projection_hidden_size=2048,projection_size=16,projection_num_layers=3,sigreg_weight=0.02,\
sigreg_num_slices=256,num_global_crops=4,num_local_crops=0" \
  --crop_scale 0.08 1.0 \
  --horizontal_flip true \
  --load_size 160 \
  --per_device_train_batch_size 256 \
  --max_steps 28800 \
  --learning_rate 2e-3 \
  --warmup_steps 36 \
  --lr_scheduler_type cosine \
  --weight_decay 0.05 \
  --bf16 \
  --dataloader_num_workers 8 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --save_strategy steps --save_steps 2000 --save_total_limit 3 \
  --eval_batch_size 256
