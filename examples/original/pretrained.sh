#!/bin/sh
# The original trainer's scripts/pretrained.sh, translated by `serzoo translate` (one serzoo command per line).
# Run from a folder whose ../SER_FEAT_EXT/h5db/ holds the databases, as the original was.
# The test suite runs these lines on tiny databases in the same layout (tests/test_original_translate.py);
# examples/original/regenerate.py rewrites them from the "# original:" lines.
set -e

# pretrain a model
# original: python ./src/trainer.py -dnn_depth 2 --conv --u_lstm -r_valid 0.1 -b 128 -e 5 -p 2 -cs 64 -nn 128 -n_time 2,2 -n_row 2,2 -n_col 2,2 -n_filter 2,4 -pool_t 2,4 -pool_r 2,4 -pool_c 2,4 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/pretrained -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/pretrained --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29 --blocks cnn2d,lstm --opt cnn2d.filters=2,4 --opt cnn2d.kernel=2x2,2x2 --opt cnn2d.pool=2x2,4x4 --opt lstm.units=64,64 "$@"

# load the pretrained model and partially update layers
# original: python ./src/trainer.py -frozen 0:7 -dnn_depth 2 --conv --u_lstm -r_valid 0.1 -b 128 -e 5 -p 2 -cs 64 -nn 128 -n_time 2,2 -n_row 2,2 -n_col 2,2 -n_filter 2,4 -pool_t 2,4 -pool_r 2,4 -pool_c 2,4 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -lm ./model/pretrained.h5 -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19 -train_idx 20,21,22,23,24,25,26,27,28,29
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --init-from ./model/pretrained/fold00/model.keras --freeze 0:7 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --train-groups 20,21,22,23,24,25,26,27,28,29 --blocks cnn2d,lstm --opt cnn2d.filters=2,4 --opt cnn2d.kernel=2x2,2x2 --opt cnn2d.pool=2x2,4x4 --opt lstm.units=64,64 "$@"

# load the pretrained model and partially update layers and add a new layer
# original: python ./src/trainer.py -frozen 0:7 -dnn_depth 2 --conv --u_lstm --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -cs 64 -nn 64 -n_time 2,2 -n_row 2,2 -n_col 2,2 -n_filter 2,4 -pool_t 2,4 -pool_r 2,4 -pool_c 2,4 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -lm ./model/pretrained.h5 -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19 --train_idx 20,21,22,23,24,25,26,27,28,29
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --init-from ./model/pretrained/fold00/model.keras --freeze 0:7 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --train-groups 20,21,22,23,24,25,26,27,28,29 --blocks cnn2d,lstm,dense --opt cnn2d.filters=2,4 --opt cnn2d.kernel=2x2,2x2 --opt cnn2d.pool=2x2,4x4 --opt lstm.units=64,64 --opt dense.units=64,64 "$@"
