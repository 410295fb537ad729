#!/bin/sh
# The original trainer's scripts/basic.sh, translated by `serzoo translate` (one serzoo command per line).
# Run from a folder whose ../SER_FEAT_EXT/h5db/ holds the databases, as the original was.
# The test suite runs these lines on tiny databases in the same layout (tests/test_original_translate.py);
# examples/original/regenerate.py rewrites them from the "# original:" lines.
set -e

# A time series of fully-connected-neural networks(FCN) + Flatten + FCN
# original: python ./src/trainer.py -dnn_depth 3 --f_dnn --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -nn 128 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
# note: the original flattened the frame-level outputs over -t_max steps; serzoo averages them over time before the utterance-level layers
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks fcn,dense --opt fcn.units=128,128 --opt dense.units=128,128 "$@"

# LSTM + FCN
# original: python ./src/trainer.py -dnn_depth 2 --f_lstm --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -nn 128 -cs 64 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-2 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks lstm,dense --opt lstm.units=64,64 --opt dense.units=128,128 "$@"

# 2D-CNN + LSTM
# original: python ./src/trainer.py -dnn_depth 2 --conv --u_lstm -r_valid 0.1 -b 128 -e 5 -p 2 -cs 64 -nn 128 -n_time 2,2 -n_row 2,2 -n_col 2,2 -n_filter 2,4 -pool_t 2,4 -pool_r 2,4 -pool_c 2,4 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-3 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks cnn2d,lstm --opt cnn2d.filters=2,4 --opt cnn2d.kernel=2x2,2x2 --opt cnn2d.pool=2x2,4x4 --opt lstm.units=64,64 "$@"

# 2D-CNN + LSTM + FCN
# original: python ./src/trainer.py -dnn_depth 2 --conv --u_lstm --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -cs 64 -nn 128 -n_time 2,2 -n_row 2,2 -n_col 2,2 -n_filter 2,4 -pool_t 2,4 -pool_r 2,4 -pool_c 2,4 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-4 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks cnn2d,lstm,dense --opt cnn2d.filters=2,4 --opt cnn2d.kernel=2x2,2x2 --opt cnn2d.pool=2x2,4x4 --opt lstm.units=64,64 --opt dense.units=128,128 "$@"

# 2D-RESNET + LSTM + RESNET (pooling is not allowed.)
# original: python ./src/trainer.py -dnn_depth 2 --r_conv --u_lstm --u_residual -r_valid 0.1 -b 128 -e 5 -p 2 -cs 64 -nn 128 -n_time 2,2 -n_row 2,2 -n_col 2,2 -n_filter 2,2 -pool_t 1,1 -pool_r 1,1 -pool_c 1,1 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
# note: resnet2d: one residual unit (two convolutions) per stage stands in for the original's single convolutions added to the previous layer
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-5 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks resnet2d,lstm,dense,residual --opt resnet2d.filters=2,2 --opt resnet2d.units=1 --opt resnet2d.kernel=2x2,2x2 --opt resnet2d.pool=1x1,1x1 --opt lstm.units=64,64 --opt dense.units=128 --opt residual.units=128,128 "$@"

# 2D-HIGHWAY + LSTM + HIGHWAY (pooling is not allowed.)
# original: python ./src/trainer.py -dnn_depth 2 --f_conv_highway --u_lstm --u_hw -r_valid 0.1 -b 128 -e 5 -p 2 -cs 64 -nn 128 -n_time 2,2 -n_row 2,2 -n_col 2,2 -n_filter 2,2 -pool_t 1,1 -pool_r 1,1 -pool_c 1,1 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-6 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks convhw2d,lstm,dense,highway --opt convhw2d.filters=2 --opt convhw2d.layers=2 --opt convhw2d.kernel=2x2,2x2 --opt convhw2d.pool=1x1 --opt lstm.units=64,64 --opt dense.units=128 --opt highway.layers=2 "$@"

# 3D-CNN + FCN
# original: python ./src/trainer.py -dnn_depth 3 --conv_3d --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -cs 64 -nn 128 -n_time 2,2,2 -n_row 2,2,2 -n_col 2,2,2 -n_filter 2,2,2 -pool_t 1,2,2 -pool_r 1,2,2 -pool_c 1,2,2 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.3d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.3d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-7 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks cnn3d,dense --opt cnn3d.filters=2,2,2 --opt cnn3d.kernel=2x2x2,2x2x2,2x2x2 --opt cnn3d.pool=1x1x1,2x2x2,2x2x2 --opt dense.units=128,128 "$@"

# 3D-RESNET + RESNET
# original: python ./src/trainer.py -dnn_depth 3 --r_conv_3d --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -cs 64 -nn 128 -n_time 2,2,2 -n_row 2,2,2 -n_col 2,2,2 -n_filter 2,2,2 -pool_t 1,2,2 -pool_r 1,2,2 -pool_c 1,2,2 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.3d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
# note: resnet3d: one residual unit (two convolutions) per stage stands in for the original's single convolutions added to the previous layer
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.3d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-8 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks resnet3d,dense --opt resnet3d.filters=2,2,2 --opt resnet3d.units=1 --opt resnet3d.kernel=2x2x2,2x2x2,2x2x2 --opt resnet3d.pool=1x1x1,2x2x2,2x2x2 --opt dense.units=128,128 "$@"
