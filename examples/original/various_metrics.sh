#!/bin/sh
# The original trainer's scripts/various_metrics.sh, translated by `serzoo translate` (one serzoo command per line).
# Run from a folder whose ../SER_FEAT_EXT/h5db/ holds the databases, as the original was.
# The test suite runs these lines on tiny databases in the same layout (tests/test_original_translate.py);
# examples/original/regenerate.py rewrites them from the "# original:" lines.
set -e

# Optimising by using accuracy (default)
# original: python ./src/trainer.py -d 0.7 -dnn_depth 2 -p_dnn_depth 1 --conv --u_lstm --u_dnn -r_valid 0.1 -b 256 -e 40 -p 10 -cs 128 -nn 128 -n_time 2,2 -n_row 80,400 -n_col 1,1 -n_filter 20,20 -pool_t 2,4 -pool_r 10,20 -pool_c 1,1 -l2 0.001 -t_max 5 -dt ../SER_FEAT_EXT/h5db/AMI.500.RAW.laugh.h5 -mt class:2:0::: -test_idx 0 -r_valid 0.2 -ot ./output/ami.500.raw.cnnlstmfcn.c128.f1.txt -sm ./model/ami.500.raw.cnnlstmfcn.c128.f1.0 -log ./output/ami.500.raw.cnnlstmfcn.c128.f1.0
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/AMI.500.RAW.laugh.h5 --tasks class:2:0::: --batch-size 256 --epochs 40 --patience 10 --dropout 0.7 --l2 0.001 --run-dir ./model/ami.500.raw.cnnlstmfcn.c128.f1.0 --protocol fixed --test-groups 0 --val-share 0.2 --blocks cnn2d,lstm,dense --opt cnn2d.filters=20,20 --opt cnn2d.kernel=80x1,400x1 --opt cnn2d.pool=10x1,20x1 --opt lstm.units=128,128 --opt dense.units=128 "$@"

# Optimising by using F1
# original: python ./src/trainer.py -d 0.7 -dnn_depth 2 -p_dnn_depth 1 --conv --u_lstm --u_dnn -r_valid 0.1 -b 256 -e 40 -p 10 -cs 128 -nn 128 -n_time 2,2 -n_row 80,400 -n_col 1,1 -n_filter 20,20 -pool_t 2,4 -pool_r 10,20 -pool_c 1,1 -l2 0.001 -t_max 5 -dt ../SER_FEAT_EXT/h5db/AMI.500.RAW.laugh.h5 -mt class:2:0:::f1 -test_idx 0 -r_valid 0.2 -ot ./output/ami.500.raw.cnnlstmfcn.c128.f1.txt -sm ./model/ami.500.raw.cnnlstmfcn.c128.f1.0 -log ./output/ami.500.raw.cnnlstmfcn.c128.f1.0
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/AMI.500.RAW.laugh.h5 --tasks class:2:0:::f1 --batch-size 256 --epochs 40 --patience 10 --dropout 0.7 --l2 0.001 --run-dir ./model/ami.500.raw.cnnlstmfcn.c128.f1.0-2 --protocol fixed --test-groups 0 --val-share 0.2 --blocks cnn2d,lstm,dense --opt cnn2d.filters=20,20 --opt cnn2d.kernel=80x1,400x1 --opt cnn2d.pool=10x1,20x1 --opt lstm.units=128,128 --opt dense.units=128 "$@"

# Optimising by using precision
# original: python ./src/trainer.py -d 0.7 -dnn_depth 2 -p_dnn_depth 1 --conv --u_lstm --u_dnn -r_valid 0.1 -b 256 -e 40 -p 10 -cs 128 -nn 128 -n_time 2,2 -n_row 80,400 -n_col 1,1 -n_filter 20,20 -pool_t 2,4 -pool_r 10,20 -pool_c 1,1 -l2 0.001 -t_max 5 -dt ../SER_FEAT_EXT/h5db/AMI.500.RAW.laugh.h5 -mt class:2:0:::precision -test_idx 0 -r_valid 0.2 -ot ./output/ami.500.raw.cnnlstmfcn.c128.f1.txt -sm ./model/ami.500.raw.cnnlstmfcn.c128.f1.0 -log ./output/ami.500.raw.cnnlstmfcn.c128.f1.0
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/AMI.500.RAW.laugh.h5 --tasks class:2:0:::precision --batch-size 256 --epochs 40 --patience 10 --dropout 0.7 --l2 0.001 --run-dir ./model/ami.500.raw.cnnlstmfcn.c128.f1.0-3 --protocol fixed --test-groups 0 --val-share 0.2 --blocks cnn2d,lstm,dense --opt cnn2d.filters=20,20 --opt cnn2d.kernel=80x1,400x1 --opt cnn2d.pool=10x1,20x1 --opt lstm.units=128,128 --opt dense.units=128 "$@"
