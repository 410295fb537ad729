#!/bin/sh
# The original trainer's pretrained workflow (scripts/pretrained.sh) on EmoDB, with serzoo.
#   1. background model on speakers 0-4: cross-validate there to choose the epochs, then one final model;
#   2. on speakers 5-9 only, leave one speaker out (validation: one of the other four): fine-tune the
#      background model with its first block frozen (for good, or for 5 epochs), fine-tune it all, and
#      train from scratch, same folds.
# Usage: examples/pretrained-emodb.sh DATABASE.h5 OUT_DIR [SEED]
set -e
DB=$1; OUT=$2; SEED=${3:-0}
MODEL="--tasks emotion:7:0 --blocks dense,dense --opt dense.units=256 --opt dense.dropout=0.5
       --class-weights auto --batch-size 32 --lr 0.001 --seed $SEED"
serzoo train --data "$DB" $MODEL --ignore-groups 5:9 --val-share 0.25 --epochs 40 --patience 10 \
    --run-dir "$OUT/background-cv"
serzoo train --data "$DB" $MODEL --train-groups 0:4 --final --epochs-from "$OUT/background-cv" \
    --run-dir "$OUT/background"
TARGET="--ignore-groups 0:4 --val-share 0.25 --epochs 40 --patience 10"
serzoo train --data "$DB" $MODEL $TARGET --init-from "$OUT/background" --freeze b1_dense \
    --run-dir "$OUT/finetune-frozen"
serzoo train --data "$DB" $MODEL $TARGET --init-from "$OUT/background" --freeze b1_dense --unfreeze-after 5 \
    --run-dir "$OUT/finetune-unfreeze5"
serzoo train --data "$DB" $MODEL $TARGET --init-from "$OUT/background" --run-dir "$OUT/finetune-all"
serzoo train --data "$DB" $MODEL $TARGET --run-dir "$OUT/scratch"
