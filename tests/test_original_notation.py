"""The original trainer's notation inside serzoo: per-layer convolution sizes, checkpoint metrics, loss names,
class weights, and its group semantics (fixed splits, SER_FEAT_EXT's padded groups)."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest

from serzoo.core import plugin_manager
from serzoo.core.errors import ConfigError
from serzoo.data.h5io import PaddedGroupsWarning
from serzoo.data.loading import open_database
from serzoo.data.splits import make_splits
from serzoo.model.assemble import Head, build_model, parse_opts, plan_chain
from serzoo.training import metrics
from serzoo.training.evaluate import selection_score
from serzoo.training.tasks import class_weights, parse_tasks


def _layers(model, cls_name):
    return [layer for layer in model.layers if type(layer).__name__ == cls_name]


def _build(chain, layout, shape, *opts):
    return build_model(plan_chain(chain, layout, parse_opts(list(opts))), shape, [Head("emotion", 3)])


def test_per_layer_2d_sizes_build_those_kernels_and_pools():
    model = _build("cnn2d", "frames", (6, 4, 6, 1), "cnn2d.filters=4,8", "cnn2d.kernel=2x2,3x1",
                   "cnn2d.pool=2x1,1x1", "cnn2d.strides=1x1,1x2")
    convs = _layers(model, "Conv3D")
    assert [c.kernel_size for c in convs] == [(1, 2, 2), (1, 3, 1)]
    assert [c.strides for c in convs] == [(1, 1, 1), (1, 1, 2)]
    assert [c.filters for c in convs] == [4, 8]
    assert [p.pool_size for p in _layers(model, "MaxPooling3D")] == [(1, 2, 1)]  # 1x1 adds no layer


def test_one_size_still_serves_every_layer_and_plain_lists_stay_per_axis():
    model = _build("cnn2d", "frames", (6, 4, 6, 1), "cnn2d.filters=4,4", "cnn2d.kernel=3,1")
    assert [c.kernel_size for c in _layers(model, "Conv3D")] == [(1, 3, 1), (1, 3, 1)]


def test_per_layer_1d_and_3d_and_residual_sizes():
    conv1d = _build("cnn1d", "sequence", (8, 6), "cnn1d.filters=4,4", "cnn1d.kernel=3,5", "cnn1d.pool=2,1")
    assert [c.kernel_size for c in _layers(conv1d, "Conv1D")] == [(3,), (5,)]
    conv3d = _build("cnn3d", "volume", (6, 4, 6, 1), "cnn3d.filters=2,2", "cnn3d.kernel=2x2x2,1x3x1")
    assert [c.kernel_size for c in _layers(conv3d, "Conv3D")] == [(2, 2, 2), (1, 3, 1)]
    resnet = _build("resnet2d", "frames", (6, 4, 6, 1), "resnet2d.filters=4,4", "resnet2d.units=1",
                    "resnet2d.kernel=3x3,1x3")
    kernels = [c.kernel_size for c in _layers(resnet, "Conv3D") if c.name.endswith(("conv1", "conv2"))]
    assert kernels == [(1, 3, 3)] * 2 + [(1, 1, 3)] * 2
    highway = _build("convhw2d", "frames", (6, 4, 6, 1), "convhw2d.filters=4", "convhw2d.layers=2",
                     "convhw2d.kernel=3x1,1x3")
    assert [c.kernel_size for c in _layers(highway, "Conv3D") if "_h" in c.name] == [(1, 3, 1), (1, 1, 3)]


@pytest.mark.parametrize("chain,opt,message", [
    ("cnn2d", "cnn2d.kernel=2x2,3x1,1x1", "cnn2d: kernel=2x2,3x1,1x1 gives 3 layers but the block has 2"),
    ("cnn2d", "cnn2d.pool=2x2x2,1x1", "cnn2d: pool=2x2x2,1x1 needs 1 or 2 sizes of at least 1 per layer"),
    ("cnn2d", "cnn2d.kernel=2xa", "option cnn2d.kernel='2xa': expected sizes per layer such as 2x2,3x1"),
    ("cnn1d", "cnn1d.kernel=3,5,7", "cnn1d: kernel=3,5,7 gives 3 layers but the block has 2"),
    ("resnet2d", "resnet2d.pool=2x2,2x2,2x2", "resnet2d: pool=2x2,2x2,2x2 gives 3 layers but the block has 2"),
    ("convhw2d", "convhw2d.pool=2x2,2x2", "convhw2d: pool=2x2,2x2 gives 2 layers but the block has 1"),
])
def test_per_layer_lists_that_disagree_with_the_depth_are_one_line_errors(chain, opt, message):
    layout = "sequence" if chain == "cnn1d" else "frames"
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        plan_chain(chain, layout, parse_opts([opt]))


# -- checkpoint metrics ---------------------------------------------------------------------------

#: validation confusion matrices of four epochs (90 negatives, 10 positives); each metric prefers another
HISTORY = [np.array(cm) for cm in ([[30, 60], [1, 9]], [[76, 14], [10, 0]], [[52, 38], [5, 5]], [[16, 74], [0, 10]])]


@pytest.mark.parametrize("metric,epoch", [("", 0), ("uar", 0), ("recall", 0), ("accuracy", 1), ("f1", 2),
                                          ("precision", 3)])
def test_the_original_metric_field_selects_its_epoch(metric, epoch):
    tasks = parse_tasks(f"class:2:0:::{metric}", ["class"])
    scores = [selection_score(tasks, {"class": metrics.confusion_report(cm)}) for cm in HISTORY]
    assert int(np.argmax(scores)) == epoch


# -- losses and class weights ----------------------------------------------------------------------

@pytest.mark.parametrize("original,serzoo", [("categorical_crossentropy", "cce"), ("mean_squared_error", "mse"),
                                             ("weighted_categorical_crossentropy", "weighted_cce"),
                                             ("categorical_focal_loss", "focal")])
def test_original_loss_names_are_serzoo_losses(original, serzoo):
    losses = plugin_manager.losses()
    assert losses.get(original) is losses.get(serzoo)
    built = [losses.get(n).factory(num_classes=3, class_priors=[0.5, 0.3, 0.2]) for n in (original, serzoo)]
    assert type(built[0]) is type(built[1]) and built[0].get_config() == built[1].get_config()


def test_original_class_weight_notation_gives_the_same_weights():
    tasks = parse_tasks("arousal:3:0,valence:2:1", ["a", "v"])
    labels = np.array([[0, 0], [1, 1], [2, 0]], dtype=float)
    ours = class_weights("arousal=0.5/1/0.25;valence=2/1", tasks, labels)
    theirs = class_weights("arousal:0.5:1:0.25,valence:2:1", tasks, labels)
    assert ours.keys() == theirs.keys() and all(np.array_equal(ours[k], theirs[k]) for k in ours)
    with pytest.raises(ConfigError, match="2 weights for 3 classes of task arousal"):
        class_weights("arousal:1:2", tasks, labels)


# -- groups -------------------------------------------------------------------------------------

def write_feat_ext(path, n_groups=4, padded=3, rows=3, shape=(5, 1, 2, 4), seed=0):
    """A database as SER_FEAT_EXT's h5db_builder writes it with -n_cc larger than the groups: padded ranges."""
    rng = np.random.default_rng(seed)
    n = n_groups * rows
    labels = np.zeros((n, 6))
    labels[:, 0] = np.arange(n) % 2
    labels[:, 4] = np.arange(n) % 3
    labels[:, 5] = (np.arange(n) // 2) % 3
    start = np.zeros(n_groups + padded)
    end = np.zeros(n_groups + padded)
    start[:n_groups] = np.arange(n_groups) * rows
    end[:n_groups] = start[:n_groups] + rows
    with h5py.File(path, "w") as hf:
        hf.create_dataset("feat", data=rng.normal(size=(n, *shape)))
        hf.create_dataset("label", data=labels)
        hf.create_dataset("start_indice", data=start)
        hf.create_dataset("end_indice", data=end)
    return path


def test_padded_groups_are_skipped_with_one_warning_and_selections_may_name_them(tmp_path):
    path = write_feat_ext(tmp_path / "padded.h5")
    with pytest.warns(PaddedGroupsWarning, match=r"groups 4\.\.6 are empty padding") as caught:
        db = open_database(path)
    assert len(caught) == 1 and db.grouping().n_groups == 4
    splits = make_splits(db, "fixed", test_groups="0,5", val_groups="1,6", seed=0)
    assert splits[0].test_groups == [0] and splits[0].val_groups == [1] and splits[0].train_groups == [2, 3]
    with pytest.raises(ConfigError, match="group 7 does not exist"):
        make_splits(db, "fixed", test_groups="7")


def test_an_empty_group_inside_the_file_is_still_refused(tmp_path):
    path = write_feat_ext(tmp_path / "hole.h5", padded=0)
    with h5py.File(path, "r+") as hf:
        hf["end_indice"][1] = hf["start_indice"][1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PaddedGroupsWarning)
        with pytest.raises(Exception, match="group 1 is empty"):
            from serzoo.data.validate import validate
            validate(open_database(path))


def test_test_groups_without_protocol_mean_one_fixed_split(invoke, tmp_path):
    path = write_feat_ext(tmp_path / "db.h5", padded=0)
    common = ["train", "--data", path, "--tasks", "arousal:3:4", "--blocks", "fcn,dense", "--dry-run"]
    alone = invoke(*common, "--test-groups", "0,1")
    assert alone.exit_code == 0, alone.output
    assert "without --protocol: one fixed split" in alone.output
    assert "protocol: fixed split" in alone.output and "fold0: test groups [0, 1]" in alone.output
    assert "fold1:" not in alone.output
    logo = invoke(*common, "--test-groups", "0,1", "--protocol", "logo")
    assert logo.exit_code == 0, logo.output
    assert "without --protocol" not in logo.output
    assert "fold0: test groups [0]" in logo.output and "fold1: test groups [1]" in logo.output


def test_training_on_a_padded_file_warns_once(invoke, tmp_path):
    path = write_feat_ext(tmp_path / "padded.h5", n_groups=4, padded=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # a second opening of the file would show a second warning
        result = invoke("train", "--data", path, "--tasks", "arousal:3:4", "--blocks", "fcn,dense",
                        "--test-groups", "0:8", "--protocol", "logo", "--dry-run")
    assert result.exit_code == 0, result.output
    padded = [w for w in caught if issubclass(w.category, PaddedGroupsWarning)]
    assert len(padded) == 1 and "groups 4..8 are empty padding" in str(padded[0].message)
    assert "fold3:" in result.output and "fold4:" not in result.output  # the padding groups test nothing
