#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py args ...]
# Env: PYTHON (python), NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1).
# GPUS = processes on THIS node (torchrun --nproc_per_node). Multi-node:
# run the same command on every node, e.g. 2 nodes x 8 GPUs:
#   node 0: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 tools/dist_train.sh CFG 8
#   node 1: NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 tools/dist_train.sh CFG 8
# On a CPU-only machine the processes use gloo (tools/train.py sets it up).
# Add --resume to continue from work_dir/last_checkpoint after a crash.
CONFIG=$1
GPUS=$2
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
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
