#!/bin/sh
# The original trainer's scripts/balanced_learning.sh, translated by `serzoo translate` (one serzoo command per line).
# Run from a folder whose ../SER_FEAT_EXT/h5db/ holds the databases, as the original was.
# The test suite runs these lines on tiny databases in the same layout (tests/test_original_translate.py);
# examples/original/regenerate.py rewrites them from the "# original:" lines.
set -e

# without balanced learning
# original: python ./src/trainer.py -dnn_depth 3 --f_dnn --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -nn 128 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
# note: the original flattened the frame-level outputs over -t_max steps; serzoo averages them over time before the utterance-level layers
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks fcn,dense --opt fcn.units=128,128 --opt dense.units=128,128 "$@"

# cost weighted prediction
# original: python ./src/trainer.py -cw auto -dnn_depth 3 --f_dnn --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -nn 128 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4::,valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
# note: the original flattened the frame-level outputs over -t_max steps; serzoo averages them over time before the utterance-level layers
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4::,valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --class-weights auto --run-dir ./model/sanity-2 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks fcn,dense --opt fcn.units=128,128 --opt dense.units=128,128 "$@"

# cost weighted learning
# original: python ./src/trainer.py -dnn_depth 3 --f_dnn --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -nn 128 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4:weighted_categorical_crossentropy:,valence:3:5:weighted_categorical_crossentropy: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
# note: the original flattened the frame-level outputs over -t_max steps; serzoo averages them over time before the utterance-level layers
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4:weighted_categorical_crossentropy:,valence:3:5:weighted_categorical_crossentropy: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-3 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks fcn,dense --opt fcn.units=128,128 --opt dense.units=128,128 "$@"

#
# original: python ./src/trainer.py -dnn_depth 3 --f_dnn --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -nn 128 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4:categorical_focal_loss:,valence:3:5:categorical_focal_loss: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
# note: the original flattened the frame-level outputs over -t_max steps; serzoo averages them over time before the utterance-level layers
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4:categorical_focal_loss:,valence:3:5:categorical_focal_loss: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-4 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks fcn,dense --opt fcn.units=128,128 --opt dense.units=128,128 "$@"

# sampling based (smote), multi-task learning is not supported.
# original: python ./src/trainer.py --smote_enn -dnn_depth 3 --f_dnn --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -nn 128 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt arousal:3:4:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
# note: the original flattened the frame-level outputs over -t_max steps; serzoo averages them over time before the utterance-level layers
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks arousal:3:4:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-5 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks fcn,dense --opt fcn.units=128,128 --opt dense.units=128,128 --sampler smoteenn "$@"

#
# original: python ./src/trainer.py --smote_enn -dnn_depth 3 --f_dnn --u_dnn -r_valid 0.1 -b 128 -e 5 -p 2 -nn 128 -l2 0.001 -t_max 10 -dt ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 -mt valence:3:5:: -ot ./output/sanity.txt -sm ./model/sanity -log ./output/sanity --unweighted -test_idx 0,1,2,3,4,5,6,7,8,9 -valid_idx 10,11,12,13,14,15,16,17,18,19
# not translated: -ot: results go to results.txt/results.json in the run directory
# not translated: -log: each fold's log.csv is in the run directory
# note: the original flattened the frame-level outputs over -t_max steps; serzoo averages them over time before the utterance-level layers
serzoo train --data ../SER_FEAT_EXT/h5db/ENT.MSPEC.2d.3cls.av.h5 --tasks valence:3:5:: --batch-size 128 --epochs 5 --patience 2 --l2 0.001 --run-dir ./model/sanity-6 --protocol fixed --test-groups 0,1,2,3,4,5,6,7,8,9 --val-groups 10,11,12,13,14,15,16,17,18,19 --blocks fcn,dense --opt fcn.units=128,128 --opt dense.units=128,128 --sampler smoteenn "$@"
