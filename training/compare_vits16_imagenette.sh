#!/usr/bin/env bash
# Every image method on Imagenette (10 ImageNet classes, 9,469 training images) on equal terms: ViT-S/16 at 224 px,
# 200 epochs each (batch 256: 7,400 steps), one GPU, bf16, 3 seeds, then the compare report (kNN, linear, few-shot and
# attentive probes, CKA, curves). The report prints the published equal-budget numbers of stable-pretraining's
# Imagenette benchmark (same backbone, resolution and epochs) next to ours.
# The heads are sized for this scale on top of each method's defaults (fields a method lacks are skipped for it):
# predictors 384 wide and 6 deep (I-JEPA), MAE's decoder 256 x 4, DINO's 65,536 prototypes, 2,048-wide projectors.
#
# Usage: IMAGENETTE=/data/imagenette2-320 bash training/compare_vits16_imagenette.sh   (train/ and val/ class folders)
#        or IMAGENETTE=frgfm/imagenette (the Hub dataset; --image_column image --label_column label)
# Interrupted? Run the same command again: finished methods are kept, the interrupted one resumes.
set -euo pipefail
: "${IMAGENETTE:?set IMAGENETTE to a folder with train/ and val/ class sub-folders or a Hub dataset name}"

python -m hf_jepa.cli compare \
  --dataset "$IMAGENETTE" \
  --output_dir "${OUTPUT_DIR:-outputs/compare_vits16_imagenette}" \
  --max_steps 7400 \
  --seeds 3 \
  --config_overrides "image_size=224,patch_size=16,hidden_size=384,num_hidden_layers=12,num_attention_heads=6,\
predictor_hidden_size=384,predictor_num_hidden_layers=6,predictor_num_attention_heads=6,min_keep=10,\
decoder_hidden_size=256,decoder_num_hidden_layers=4,decoder_num_attention_heads=8,\
head_hidden_size=2048,head_bottleneck_size=256,head_output_size=65536,local_crop_size=96,num_local_crops=6,\
projection_hidden_size=2048,prediction_hidden_size=2048,teacher_temperature_warmup_steps=1110,\
freeze_last_layer_steps=37" \
  --eval_points 10 \
  --per_device_train_batch_size 256 \
  --learning_rate 5e-4 \
  --warmup_steps 370 \
  --load_size 256 \
  --bf16 \
  --dataloader_num_workers 8 \
  --dataloader_drop_last \
  --logging_steps 50 \
  --eval_batch_size 256
