#!/usr/bin/env bash
# Several nodes under SLURM: one torchrun per node, which starts one process per GPU and meets the others at the
# first node. Every argument goes to `hf-jepa pretrain`, e.g.
#   sbatch --nodes 4 training/multinode_slurm.sh --method ijepa --dataset /data/imagenet \
#     --total_train_batch_size 2048 --learning_rate 1e-3 --bf16 --output_dir /shared/outputs/ijepa
# --total_train_batch_size keeps the effective batch whatever the number of nodes (it must be a multiple of the GPUs
# x --gradient_accumulation_steps); the learning rate is not rescaled. Masks and views are seeded per global rank.
# --output_dir must be on a file system every node sees (checkpoints are written by the main process).
#SBATCH --job-name=hf-jepa
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=72:00:00
set -euo pipefail
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MASTER_PORT=${MASTER_PORT:-29500}

srun torchrun --nnodes "$SLURM_NNODES" --nproc_per_node "$GPUS_PER_NODE" \
  --rdzv_id "$SLURM_JOB_ID" --rdzv_backend c10d --rdzv_endpoint "$MASTER_ADDR:$MASTER_PORT" \
  -m hf_jepa.cli pretrain "$@"
