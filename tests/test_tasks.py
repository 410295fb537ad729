"""Task notation, class weights and the label that drives a sampler."""

import numpy as np
import pytest

from serzoo.core.errors import ConfigError
from serzoo.training.tasks import class_weights, driving_labels, parse_tasks

NAMES = ["emotion", "arousal", "valence", "score"]


def test_original_notation_with_optional_fields():
    tasks = parse_tasks("arousal:3:1,valence:3:2:focal:0.5:macro_f1,score:1:3", NAMES)
    assert [(t.name, t.num_classes, t.column) for t in tasks] == [("arousal", 3, 1), ("valence", 3, 2), ("score", 1, 3)]
    assert tasks[1].loss == "focal" and tasks[1].weight == 0.5 and tasks[1].resolved_metric() == "macro_f1"
    assert tasks[2].regression and tasks[2].resolved_loss() == "mse" and tasks[2].resolved_metric() == "ccc"


def test_column_by_name_and_count_from_database():
    (task,) = parse_tasks("emotion", NAMES, {"emotion": 7})
    assert (task.num_classes, task.column) == (7, 0)
    assert parse_tasks(None, NAMES, {"emotion": 7})[0].name == "emotion"


@pytest.mark.parametrize("text,message", [
    ("a:3:9", "label column 9 does not exist"),
    ("a:3:mood", "no label column 'mood'"),
    ("a:x:0", "not an integer"),
    ("a:0:0", "must be 1"),
    ("a:3:0:cce:heavy", "not a number"),
    ("a:3:0:cce:1:ccc", "does not fit a classification task"),
    ("a:3:0,a:2:1", "must differ"),
])
def test_bad_tasks(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_tasks(text, NAMES)


def test_class_weights_auto_and_explicit():
    tasks = parse_tasks("emotion:3:0,score:1:3", NAMES)
    labels = np.array([[0, 0, 0, 0.1]] * 6 + [[1, 0, 0, 0.2]] * 3 + [[2, 0, 0, 0.3]] * 0, dtype=float)
    auto = class_weights("auto", tasks, labels)
    assert set(auto) == {"emotion"}
    np.testing.assert_allclose(auto["emotion"], [9 / (2 * 6), 9 / (2 * 3), 0.0])  # absent class: 0
    np.testing.assert_allclose(class_weights("emotion=1/2/3", tasks, labels)["emotion"], [1, 2, 3])
    with pytest.raises(ConfigError, match="not a classification task"):
        class_weights("score=1", tasks, labels)


def test_joint_driving_label_is_mixed_radix():
    tasks = parse_tasks("arousal:3:1,valence:2:2", NAMES)
    labels = np.array([[0, 2, 1, 0], [0, 0, 0, 0], [0, 1, 1, 0]], dtype=float)
    joint, description = driving_labels(tasks, labels, "joint")
    assert joint.tolist() == [5, 0, 3] and description == "joint arousal x valence"
    with pytest.raises(ConfigError, match="--sample-by"):
        driving_labels(tasks, labels, None)
