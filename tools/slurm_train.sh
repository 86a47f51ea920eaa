#!/usr/bin/env bash
# Train on a SLURM cluster with mmengine's slurm launcher (one task per GPU).
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args ...]
# e.g. 2 nodes x 4 GPUs, requeued on preemption and resumed from the last
# (atomically written) checkpoint in the work dir:
#   GPUS=8 GPUS_PER_NODE=4 SRUN_ARGS="--requeue" tools/slurm_train.sh \
#       gpu dcp configs/dcp/dcp_vitb16_cocostuff.py \
#       --work-dir work_dirs/dcp --resume
# train_dataloader.batch_size is per GPU: keep the global batch (4 in the
# paper) with --cfg-options train_dataloader.batch_size=N or scale the lr.
# mmengine reads SLURM_PROCID / SLURM_NTASKS / SLURM_NODELIST and uses
# MASTER_PORT (default 29500) on the first node.
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    python -u "$(dirname "$0")/train.py" "${CONFIG}" --launcher="slurm" \
    "${@:4}"
