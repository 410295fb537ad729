"""Built-in losses against hand-computed values, and properties every registered loss must have."""

from __future__ import annotations

import math
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from serzoo.core import plugin_manager
from serzoo.training import metrics
from serzoo.core.errors import ConfigError

K = 3
PRIORS = np.array([0.5, 0.25, 0.25])
UNIFORM = np.full(K, 1 / K)
Y_ONEHOT = np.eye(K, dtype="float32")[[0, 1, 2, 1]]
P = np.array([
    [0.7, 0.2, 0.1],   # class 0, right
    [0.6, 0.3, 0.1],   # class 1, predicted 0
    [0.1, 0.1, 0.8],   # class 2, right
    [0.2, 0.5, 0.3],   # class 1, right
], dtype="float32")
P_TRUE = P[np.arange(4), [0, 1, 2, 1]]  # probability of the true class
CE = -np.log(P_TRUE)
Y_REG = np.array([[0.1], [0.5], [-0.3], [0.9], [0.2]], dtype="float32")


def _loss(name, task_type="classification", priors=PRIORS, **options):
    loss = plugin_manager.losses().get(name)
    opts = loss.resolve(options)
    return loss.factory(K if task_type == "classification" else 1,
                        priors if task_type == "classification" else None, **opts)


def _value(loss, y, p):
    return float(keras.ops.convert_to_numpy(loss(y, p)))


def _cases():
    return [(loss.name, t) for loss in plugin_manager.losses().list() for t in loss.task_types]


def _data(task_type):
    if task_type == "classification":
        return Y_ONEHOT, P
    return Y_REG, Y_REG * 0.5 + 0.1


# ---- hand-computed values ---------------------------------------------------------------


def test_cce_by_hand():
    assert _value(_loss("cce"), Y_ONEHOT, P) == pytest.approx(CE.mean(), rel=1e-5)


def test_weighted_cce_with_uniform_priors_is_cce():
    assert _value(_loss("weighted_cce", priors=UNIFORM), Y_ONEHOT, P) == pytest.approx(CE.mean(), rel=1e-5)


def test_weighted_cce_costs_come_from_the_priors():
    from serzoo.plugins.loss_functions import cost_matrix, misclassification_costs

    # K (1 - p_c) / sum(1 - p): 3 * (0.5, 0.75, 0.75) / 2
    costs = [0.75, 1.125, 1.125]
    np.testing.assert_allclose(misclassification_costs(PRIORS), costs)
    np.testing.assert_allclose(misclassification_costs([2, 1, 1]), costs)  # counts work too
    np.testing.assert_allclose(cost_matrix(PRIORS, "true_class"), [
        [1, 0.75, 0.75],
        [1.125, 1, 1.125],
        [1.125, 1.125, 1],
    ])
    np.testing.assert_allclose(cost_matrix(PRIORS, "first_class"), [
        [0.75, 1.125, 1.125],
        [1.125, 1, 1],
        [1.125, 1, 1],
    ])


@pytest.mark.parametrize("mode, weights", [
    # per example: cost[true, argmax]; only example 2 (class 1 predicted as 0) is wrong
    ("true_class", [1, 1.125, 1, 1]),
    ("first_class", [0.75, 1.125, 1, 1]),
])
def test_weighted_cce_by_hand(mode, weights):
    expected = float(np.mean(np.array(weights) * CE))
    assert _value(_loss("weighted_cce", mode=mode), Y_ONEHOT, P) == pytest.approx(expected, rel=1e-5)


def test_weighted_cce_alias_and_errors():
    assert plugin_manager.losses().get("cost_cce").name == "weighted_cce"
    with pytest.raises(ConfigError, match="needs the class priors of the training fold"):
        _loss("weighted_cce", priors=None)
    with pytest.raises(ConfigError, match="got 2 class priors for a task with 3 classes"):
        _loss("weighted_cce", priors=np.array([0.5, 0.5]))


def test_focal_by_hand():
    expected = np.mean(0.25 * (1 - P_TRUE) ** 2 * CE)
    assert _value(_loss("focal"), Y_ONEHOT, P) == pytest.approx(expected, rel=1e-5)


def test_focal_with_gamma_0_and_alpha_1_is_cce():
    assert _value(_loss("focal", gamma=0.0, alpha=(1.0,)), Y_ONEHOT, P) == pytest.approx(CE.mean(), rel=1e-5)


def test_focal_per_class_alpha():
    alpha = (1.0, 2.0, 3.0)
    expected = np.mean(np.array(alpha)[[0, 1, 2, 1]] * CE)
    assert _value(_loss("focal", gamma=0.0, alpha=alpha), Y_ONEHOT, P) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ConfigError, match="alpha has 2 values; give one for all classes or one per class"):
        _loss("focal", alpha=(1.0, 2.0))


def test_mse_by_hand():
    pred = Y_REG + 0.5
    assert _value(_loss("mse", "regression"), Y_REG, pred) == pytest.approx(0.25, rel=1e-5)


def test_ccc_loss_is_one_minus_ccc():
    loss = _loss("ccc", "regression")
    assert _value(loss, Y_REG, Y_REG) == pytest.approx(0.0, abs=1e-5)
    assert _value(loss, Y_REG, -Y_REG + 2 * Y_REG.mean()) == pytest.approx(2.0, abs=1e-5)
    pred = Y_REG * 0.5 + 0.1
    assert _value(loss, Y_REG, pred) == pytest.approx(1 - metrics.ccc(Y_REG, pred), abs=1e-5)


def test_ccc_loss_of_a_constant_batch_is_finite():
    constant = np.full((4, 1), 0.3, "float32")
    assert _value(_loss("ccc", "regression"), constant, constant) == pytest.approx(1.0)


# ---- properties of every registered loss ----------------------------------------------


@pytest.mark.parametrize("name, task_type", _cases())
def test_every_loss_gives_a_finite_scalar_and_gradients(name, task_type):
    loss = _loss(name, task_type)
    y, p = _data(task_type)
    if task_type == "classification":
        logits = tf.Variable(np.log(p))
        head = tf.nn.softmax
    else:
        logits = tf.Variable(p)
        head = tf.identity
    with tf.GradientTape() as tape:
        value = loss(y, head(logits))
    grad = tape.gradient(value, logits)
    assert value.shape == () and math.isfinite(float(value))
    assert grad is not None and np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).sum() > 0


@pytest.mark.parametrize("name", [n for n, t in _cases() if t == "classification"])
def test_every_classification_loss_survives_a_zero_probability(name):
    p = tf.Variable(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "float32"))
    with tf.GradientTape() as tape:
        value = _loss(name)(np.eye(K, dtype="float32")[[0, 1]], tf.identity(p))
    grad = tape.gradient(value, p)
    assert math.isfinite(float(value)) and float(value) > 1.0
    assert np.isfinite(grad.numpy()).all()


@pytest.mark.parametrize("name, task_type", _cases())
def test_every_loss_config_round_trips(name, task_type):
    loss = _loss(name, task_type)
    y, p = _data(task_type)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss)
    assert again.get_config() == loss.get_config()
    assert _value(again, y, p) == pytest.approx(_value(loss, y, p), rel=1e-6)


@pytest.mark.parametrize("name, task_type", _cases())
def test_every_loss_trains_under_jit_and_survives_save(name, task_type, tmp_path):
    keras.utils.set_random_seed(0)
    units, activation = (K, "softmax") if task_type == "classification" else (1, None)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation=activation)])
    model.compile(optimizer="sgd", loss=_loss(name, task_type), jit_compile=True)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = np.eye(K, dtype="float32")[np.arange(16) % K] if task_type == "classification" else x[:, :1] * 0.5
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][-1])

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert type(reloaded.loss) is type(model.loss)
    assert reloaded.loss.get_config() == model.loss.get_config()
    np.testing.assert_allclose(reloaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-5)


RELOAD = """
import sys
import keras
from serzoo.core import plugin_manager
import importlib
for loss in plugin_manager.losses():
    for module in loss.layer_modules:
        importlib.import_module(module)
for path in sys.argv[1:]:
    print(type(keras.models.load_model(path).loss).__name__)
"""


def test_every_loss_reloads_in_a_fresh_process_from_its_layer_modules(tmp_path):
    paths, names = [], []
    for name, task_type in _cases():
        units = K if task_type == "classification" else 1
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units)])
        model.compile(optimizer="sgd", loss=_loss(name, task_type))
        paths.append(str(tmp_path / f"{name}-{task_type}.keras"))
        names.append(type(model.loss).__name__)
        model.save(paths[-1])
    out = subprocess.run([sys.executable, "-c", RELOAD, *paths], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == names


def test_loss_plugin_imports_no_tensorflow():
    code = ("import sys, serzoo.plugins.losses; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
