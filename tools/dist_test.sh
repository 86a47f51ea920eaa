#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args ...]
# e.g.   tools/dist_test.sh CFG CKPT 4 --dataset ade150 ade847 pc59
# Env: PYTHON (python), NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1).
# GPUS = processes on THIS node; multi-node as tools/dist_train.sh. The
# test set is split over the processes (DefaultSampler) and the results
# are gathered before the metric: mIoU equals a single-process run.
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch \
    "${@:4}"
