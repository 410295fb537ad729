"""The built-in synthetic demo corpus: shape, labels, speakers, caching, and that its classes are learnable."""

from __future__ import annotations

import numpy as np
import pytest

from serzoo.data import demo
from serzoo.data.loading import open_database
from serzoo.data.splits import make_splits


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = demo.make_demo(tmp_path_factory.mktemp("demo") / "demo.h5", seed=0)
    with open_database(path) as db:
        db.load()
        yield db


def test_demo_layout_labels_and_speakers(demo_db):
    db = demo_db
    assert db.file_layout == "1d" and db.example_shape == (150, 40)
    assert db.label_names == ["emotion", "arousal", "valence"]
    assert db.class_names["emotion"] == list(demo.EMOTIONS)
    assert len(db.groups) == 6 and db.n_rows == 6 * 4 * 8
    np.testing.assert_array_equal(db.class_counts("emotion"), [48] * 4)
    for g in range(len(db.groups)):  # every speaker says every emotion
        np.testing.assert_array_equal(db.class_counts("emotion", np.flatnonzero(db.row_groups == g)), [8] * 4)
    assert db.attrs["features"]["feature"] == "logmel" and db.attrs["sample_rate"] == 16000
    # arousal and valence follow the emotion
    emotion = db.labels[:, 0].astype(int)
    assert {(e, a) for e, a in zip(emotion, db.labels[:, 1].astype(int))} == {(0, 0), (1, 1), (2, 1), (3, 0)}


def _logo_nearest_centroid_uar(db, label: int) -> float:
    """Leave-one-speaker-out UAR of a nearest-centroid classifier on pooled frame statistics."""
    x = db.features()
    stats = []
    for row, n in zip(x, db.lengths):
        stats.append(np.r_[row[:n].mean(0), row[:n].std(0)])
    stats = np.array(stats)
    y = db.labels[:, label].astype(int)
    predicted = np.empty_like(y)
    for split in make_splits(db, "logo", val_share=0):
        mean, std = stats[split.train].mean(0), stats[split.train].std(0) + 1e-6
        z = (stats - mean) / std
        centroids = np.array([z[split.train][y[split.train] == c].mean(0) for c in range(y.max() + 1)])
        predicted[split.test] = ((z[split.test, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    return float(np.mean([np.mean(predicted[y == c] == c) for c in range(y.max() + 1)]))


def test_demo_classes_are_learnable_across_speakers(demo_db):
    assert _logo_nearest_centroid_uar(demo_db, 0) > 0.5  # chance is 0.25
    assert _logo_nearest_centroid_uar(demo_db, 1) > 0.75  # chance is 0.5


def test_demo_is_reproducible_and_seeded():
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    speaker = {"f0": 120.0, "tract": 1.0, "gender": 0}
    np.testing.assert_array_equal(demo.synthesize("angry", speaker, rng_a), demo.synthesize("angry", speaker, rng_b))
    sad = demo.synthesize("sad", speaker, np.random.default_rng(2))
    angry = demo.synthesize("angry", speaker, np.random.default_rng(2))
    assert np.sqrt(np.mean(angry**2)) > 2 * np.sqrt(np.mean(sad**2))  # energy depends on the class


def test_default_demo_is_built_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SERZOO_CACHE", str(tmp_path))
    calls = []
    real = demo.make_demo

    def small_demo(path, **kwargs):
        calls.append(path)
        return real(path, speakers=2, per_class=1, **kwargs)

    monkeypatch.setattr(demo, "make_demo", small_demo)
    first = demo.default_demo_path()
    assert first.parent == tmp_path and first.exists()
    assert demo.default_demo_path() == first and len(calls) == 1


def test_cli_demo(tmp_path, invoke):
    out = tmp_path / "d.h5"
    result = invoke("data", "demo", "-o", out, "--speakers", "2", "--per-class", "1", "--n-mels", "16", "-q")
    assert result.exit_code == 0, result.output
    with open_database(out) as db:
        assert db.n_rows == 8 and db.example_shape == (150, 16) and db.group_names == ["0", "1"]
    result = invoke("data", "info", out)
    assert "neutral: 2, happy: 2, angry: 2, sad: 2" in result.output


def test_cli_demo_takes_any_registered_features(tmp_path, invoke):
    out = tmp_path / "d.h5"
    result = invoke("data", "demo", "-o", out, "--speakers", "2", "--per-class", "1", "-q",
                    "--features", "mfcc", "-F", "mfcc.deltas=1", "--max-steps", "50")
    assert result.exit_code == 0, result.output
    with open_database(out) as db:
        assert db.example_shape == (50, 26)
        assert db.attrs["features"]["extractors"][0]["name"] == "mfcc"
