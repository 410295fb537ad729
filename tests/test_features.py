"""Feature extractors, the fifth plugin kind: the registry matrix, options, stacking and the database record.

Every registered extractor (built-ins, the openSMILE ones, those of installed
third-party plugins) goes through the same matrix, so a new one is tested on arrival.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from serzoo import Feature, Param
from serzoo.core import plugin_manager
from serzoo.core.errors import ConfigError, DataError, UnknownComponentError
from serzoo.data.build import build_database
from serzoo.data.loading import open_database
from serzoo.data.features import FeatureSpec, FeatureStack, plan_features, recorded_features, with_file_rate


def _registered():
    plugin_manager.reset()
    found = [(c.name, c.level) for c in plugin_manager.features().list()]
    plugin_manager.reset()
    return found


FEATURES = _registered()


def _signal(rate: int, seconds: float = 1.0) -> np.ndarray:
    """A voiced-like test signal: two partials with a slow loudness swing, identical at any rate."""
    t = np.arange(int(rate * seconds)) / rate
    loud = 0.3 + 0.25 * np.sin(2 * np.pi * 2.5 * t)
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    return (loud * (np.sin(phase) + 0.4 * np.sin(3 * phase))).astype(np.float32)


def _stack(name: str, **options) -> FeatureStack:
    return FeatureStack(plan_features(name, {name: options} if options else None))


def test_builtins_are_registered_through_their_entry_point():
    names = {c.name: c for c in plugin_manager.features().list()}
    assert {"logmel", "mfcc", "logspec", "raw"} <= set(names)
    assert names["logmel"].plugin == "features"  # the entry point in pyproject.toml, like a third party's


# --- the registry matrix ---------------------------------------------------------------------

@pytest.mark.parametrize("name, level", FEATURES, ids=[n for n, _ in FEATURES])
def test_every_extractor_shape_dim_finite_and_deterministic(name, level):
    component = plugin_manager.features().get(name)
    assert component.description and all(p.help for p in component.params)
    stack = _stack(name)
    x = _signal(16000)
    out = stack(x, 16000)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    if level == "frame":
        assert out.ndim == 2 and out.shape[1] == stack.dim > 0
        assert abs(len(out) - 1000 / stack.hop_ms) <= 10  # about one frame per hop over one second
    else:
        assert out.shape == (stack.dim,) and stack.hop_ms is None
    assert out.std() > 0  # not a constant
    np.testing.assert_array_equal(stack(x, 16000), out)  # deterministic
    np.testing.assert_array_equal(_stack(name)(x, 16000), out)  # and so is a fresh instance


@pytest.mark.parametrize("name, level", FEATURES, ids=[n for n, _ in FEATURES])
def test_every_extractor_survives_silence_and_short_input(name, level):
    stack = _stack(name)
    for x in (np.zeros(16000, np.float32), _signal(16000, 0.002)):  # silence; 32 samples, under one window
        out = stack(x, 16000)
        assert np.isfinite(out).all() and out.shape[-1] == stack.dim
        assert out.ndim == (2 if level == "frame" else 1) and (level != "frame" or len(out) >= 1)


@pytest.mark.parametrize("name, level", FEATURES, ids=[n for n, _ in FEATURES])
def test_every_extractor_resamples_its_input(name, level):
    """The same sound at 48 kHz and at 16 kHz gives (nearly) the same features, from the extractor itself."""
    extractor = _stack(name).extractors[0]  # the bare extractor: the contract says it resamples by itself
    low, high = extractor(_signal(16000), 16000), extractor(_signal(48000), 48000)
    np.testing.assert_array_equal(_stack(name)(_signal(48000), 48000), high)  # the stack resamples alike
    if level == "frame":
        assert abs(len(low) - len(high)) <= 1
        n = min(len(low), len(high))
        low, high = low[2:n - 2], high[2:n - 2]  # the resampler's edges
    assert low.shape == high.shape
    spread = np.abs(low - low.mean(axis=0)).mean(axis=0) + 1e-3  # per-dimension scale
    assert np.median(np.abs(low - high).mean(axis=0) / spread) < 0.2


# --- built-in behaviour ----------------------------------------------------------------------

def _numpy_delta(c: np.ndarray, n: int = 2) -> np.ndarray:
    padded = np.pad(c, ((n, n), (0, 0)), mode="edge")
    length = len(c)
    num = sum(k * (padded[n + k: n + k + length] - padded[n - k: n - k + length]) for k in range(1, n + 1))
    return num / (2 * sum(k * k for k in range(1, n + 1)))


def test_logmel_bands_and_deltas():
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(1600) / 16000)).astype(np.float32)
    plain = _stack("logmel", n_mels=24)(tone, 16000)
    assert plain.shape == (8, 24) and plain.mean(axis=0).argmax() < 8  # 440 Hz lights up a low band
    x = _signal(16000)
    base = _stack("logmel", n_mels=24)(x, 16000)
    full = _stack("logmel", n_mels=24, deltas=2)(x, 16000)
    assert full.shape == (len(base), 72)
    np.testing.assert_allclose(full[:, :24], base, rtol=1e-5, atol=1e-5)
    delta = _numpy_delta(base)
    np.testing.assert_allclose(full[:, 24:48], delta, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(full[:, 48:], _numpy_delta(delta), rtol=1e-4, atol=1e-4)


def test_mfcc_is_the_dct_of_the_log_mel_energies():
    x = _signal(16000)
    logmel = _stack("logmel", n_mels=32)(x, 16000)
    mfcc = _stack("mfcc", n_mels=32, n_mfcc=10)(x, 16000)
    n = np.arange(32)
    dct = np.cos(np.pi / 32 * (n[:, None] + 0.5) * np.arange(10)[None, :])  # DCT-II basis
    coefficients = logmel @ dct
    for k in range(10):  # up to tf's orthonormal scale, each coefficient is that DCT
        assert np.corrcoef(coefficients[:, k], mfcc[:, k])[0, 1] > 0.999


@pytest.mark.parametrize("name, options, message", [
    ("logmel", {"fmax": 9000.0}, "logmel: mel range 20..9000 Hz must lie within 0..8000 Hz"),
    ("logmel", {"n_fft": 256}, "logmel: n_fft 256 is shorter than the 400-sample window"),
    ("logmel", {"deltas": 3}, "logmel: deltas 3 must be 0, 1"),
    ("mfcc", {"n_mfcc": 50}, "mfcc: n_mfcc 50 must lie within 1..n_mels (40)"),
    ("raw", {"hop_ms": 0.0}, "raw: window 25.0 ms and hop 0.0 ms must be positive"),
    ("logspec", {"sample_rate": 0}, "logspec: sample_rate must be positive"),
    ("logmel", {"sample_rate": 16}, "logmel: sample_rate 16 Hz is below 4000 Hz"),
])
def test_bad_extractor_options_are_one_line(name, options, message):
    with pytest.raises(ConfigError) as info:
        _stack(name, **options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_mel_bands_without_an_fft_bin_are_reported():
    with pytest.warns(UserWarning, match=r"logmel: \d+ of 200 mel bands contain no FFT bin"):
        _stack("logmel", n_mels=200)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _stack("logmel", n_mels=40)  # the default has none


# --- choosing extractors and their options ---------------------------------------------------

def test_plan_types_options_applies_shared_ones_and_lets_own_ones_win():
    specs = plan_features("logmel,mfcc", ["logmel.n_mels=64", "mfcc.deltas=1"], {"hop_ms": "20", "n_mels": 30})
    logmel, mfcc = specs
    assert logmel.options["n_mels"] == 64 and mfcc.options["n_mels"] == 30  # own beats shared
    assert logmel.options["hop_ms"] == mfcc.options["hop_ms"] == 20.0 and mfcc.options["deltas"] == 1
    assert logmel.options["fmin"] == 20.0  # defaults come from the extractor's Params
    raw, = plan_features("raw", None, {"hop_ms": 5})
    assert raw.options["hop_ms"] == 5


@pytest.mark.parametrize("names, opts, shared, error, message", [
    ("logmle", None, None, UnknownComponentError, "unknown feature 'logmle'; did you mean logmel"),
    ("", None, None, ConfigError, "no features given"),
    ("logmel,logmel", None, None, ConfigError, "named twice"),
    ("logmel", ["mfcc.n_mfcc=10"], None, ConfigError, "--feature-opt mfcc.n_mfcc: mfcc is not in --features"),
    ("logmel", ["logmel.n_mel=10"], None, ConfigError, "logmel has no option 'n_mel'"),
    ("logmel", ["logmel.n_mels=ten"], None, ConfigError, "option logmel.n_mels='ten': expected an integer"),
    ("logmel", ["n_mels=10"], None, ConfigError, "expected NAME.OPTION=VALUE"),
    ("raw", None, {"n_mels": 10}, ConfigError, "--n-mels: none of the features raw has this option"),
])
def test_plan_errors(names, opts, shared, error, message):
    with pytest.raises(error) as info:
        plan_features(names, opts, shared)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_sample_rate_zero_takes_the_files_rate():
    spec, = plan_features("logmel", None, {"sample_rate": 0})
    assert with_file_rate([spec], {22050})[0].options["sample_rate"] == 22050
    with pytest.raises(ConfigError, match=r"several sample rates \(16000, 22050\); choose one for logmel"):
        with_file_rate([spec], {16000, 22050})


def test_frame_level_extractors_stack_frame_by_frame():
    x = _signal(16000)
    stack = FeatureStack(plan_features("logmel,mfcc", ["logmel.n_mels=20", "mfcc.win_ms=40"]))
    out = stack(x, 16000)
    logmel, mfcc = _stack("logmel", n_mels=20)(x, 16000), _stack("mfcc", win_ms=40.0)(x, 16000)
    assert stack.dim == 33 and out.shape == (min(len(logmel), len(mfcc)), 33)  # cut to the shortest
    np.testing.assert_array_equal(out[:, :20], logmel[: len(out)])
    np.testing.assert_array_equal(out[:, 20:], mfcc[: len(out)])
    with pytest.raises(ConfigError) as info:
        FeatureStack(plan_features("logmel,mfcc", ["mfcc.hop_ms=20"]))
    assert "equal hops; got logmel 10 ms, mfcc 20 ms" in str(info.value) and "\n" not in str(info.value)


def _mean_std(**options):
    """A third-party utterance-level extractor: mean and spread of the samples."""

    class MeanStd:
        dim, hop_ms = 2, None

        def __call__(self, samples, sample_rate):
            return np.array([samples.mean(), samples.std()], np.float32) * options.get("scale", 1.0)

    return MeanStd()


UTTERANCE = Feature(name="meanstd", description="mean and spread of the samples", factory=_mean_std,
                    level="utterance", params=(Param("scale", "float", 1.0, "multiply by this"),))


def test_levels_do_not_mix(register_fake):
    register_fake("meanstd_plugin", serzoo_register_features=lambda register: register(UTTERANCE))
    with pytest.raises(ConfigError, match="frame-level and utterance-level extractors do not stack"):
        plan_features("logmel,meanstd")


def test_an_extractor_that_lies_about_its_shape_is_named(register_fake):
    liar = Feature(name="liar", description="says 3, gives 2", level="utterance",
                   factory=lambda: type("L", (), {"dim": 3, "__call__": lambda s, x, r: np.zeros(2, np.float32)})())
    register_fake("liar_plugin", serzoo_register_features=lambda register: register(liar))
    with pytest.raises(DataError, match=r"a\.wav: feature 'liar' returned shape \(2,\); expected \(dim,\) with dim 3"):
        FeatureStack(plan_features("liar"))(np.zeros(100, np.float32), 16000, where="a.wav")


# --- building: the database records its extractors -----------------------------------------

@pytest.fixture
def corpus(tmp_path):
    import soundfile

    (tmp_path / "wav").mkdir()
    lines = ["file\temotion\tspeaker"]
    for i in range(4):
        rate = 22050 if i % 2 else 16000
        soundfile.write(tmp_path / f"wav/u{i}.wav", _signal(rate, 0.3 + 0.1 * i) * (1 + i / 4), rate)
        lines.append(f"wav/u{i}.wav\t{i % 2}\ts{i // 2}")
    (tmp_path / "meta.tsv").write_text("\n".join(lines) + "\n")
    return tmp_path / "meta.tsv"


def test_database_records_extractors_and_they_reproduce_its_rows(corpus, tmp_path):
    out = build_database(corpus, tmp_path / "db.h5", features="logmel,mfcc",
                         feature_opts=["logmel.n_mels=16", "logmel.deltas=1"], hop_ms=20)
    with open_database(out) as db:
        settings = db.attrs["features"]
        assert [(e["name"], e["dim"]) for e in settings["extractors"]] == [("logmel", 32), ("mfcc", 13)]
        assert settings["extractors"][0]["options"]["sample_rate"] == 16000 == db.attrs["sample_rate"]
        assert settings["feature"] == "logmel+mfcc" and settings["dim"] == 45 == db.example_shape[-1]
        assert settings["n_mels"] == 16 and settings["hop_ms"] == 20.0 and settings["context"] == 1  # old keys
        specs = recorded_features(db.attrs)
        row = db.utterances.index("wav/u3.wav")
        again = FeatureStack(specs).from_file(corpus.parent / "wav/u3.wav")
        np.testing.assert_allclose(db.features([row])[0, : len(again)], again, rtol=1e-5, atol=1e-5)


def test_legacy_feature_attributes_are_still_understood():
    attrs = {"features": {"feature": "logmel", "sample_rate": 16000, "win_ms": 25.0, "hop_ms": 10.0, "n_fft": 512,
                          "n_mels": 40, "fmin": 20.0, "fmax": 8000.0, "dim": 40, "log_floor": 1e-6, "max_steps": 198}}
    spec, = recorded_features(attrs)
    assert spec.name == "logmel" and spec.options["n_mels"] == 40 and "max_steps" not in spec.options
    assert FeatureStack([spec]).dim == 40
    raw, = recorded_features({"features": {**attrs["features"], "feature": "raw", "dim": 400}})
    assert raw.options == {"sample_rate": 16000, "win_ms": 25.0, "hop_ms": 10.0}  # n_mels, fmin... not raw's
    assert FeatureStack([raw]).dim == 400
    assert recorded_features({}) == [] and recorded_features({"features": "n/a"}) == []


def test_third_party_utterance_extractor_builds_a_flat_database(corpus, tmp_path, register_fake):
    register_fake("meanstd_plugin", serzoo_register_features=lambda register: register(UTTERANCE))
    out = build_database(corpus, tmp_path / "flat.h5", features="meanstd", feature_opts={"meanstd": {"scale": 2.0}})
    import soundfile

    with open_database(out) as db:
        assert db.file_layout == "flat" and db.file_shape == (4, 2) and db.lengths is None
        assert db.attrs["features"]["extractors"] == [
            {"name": "meanstd", "level": "utterance", "options": {"scale": 2.0}, "dim": 2}]
        samples, _ = soundfile.read(corpus.parent / "wav/u2.wav", dtype="float32")
        np.testing.assert_allclose(db.features([db.utterances.index("wav/u2.wav")])[0],
                                   [2 * samples.mean(), 2 * samples.std()], rtol=1e-5, atol=1e-7)
    with pytest.raises(ConfigError, match="utterance-level features are stored in the flat layout"):
        build_database(corpus, tmp_path / "x.h5", features="meanstd", layout="1d")
    with pytest.raises(ConfigError, match="frame-level features are stored in the 1d or 2d or 3d layout"):
        build_database(corpus, tmp_path / "x.h5", layout="flat")


def test_cli_build_with_stacked_features_and_options(corpus, tmp_path, invoke):
    out = tmp_path / "db.h5"
    result = invoke("data", "build", corpus, "-o", out, "--features", "logmel,mfcc", "-q",
                    "-F", "logmel.n_mels=8", "--feature-opt", "logmel.deltas=2", "--n-mels", "20")
    assert result.exit_code == 0, result.output
    with open_database(out) as db:
        assert db.example_shape[-1] == 24 + 13
        assert [e["options"]["n_mels"] for e in db.attrs["features"]["extractors"]] == [8, 20]
    info = invoke("data", "info", out)
    assert "logmel (dim 24)" in info.output and "mfcc (dim 13)" in info.output
    bad = invoke("data", "build", corpus, "-o", tmp_path / "x.h5", "-F", "logmel.n_mels=x")
    assert bad.exit_code == 2 and "logmel.n_mels='x'" in bad.output and "Traceback" not in bad.output


def test_cli_lists_and_shows_features(invoke):
    listing = invoke("list", "features")
    assert listing.exit_code == 0 and "level" in listing.output and "logmel" in listing.output
    rows = json.loads(invoke("list", "features", "--format", "json").output)
    assert {r["name"]: r["level"] for r in rows}["mfcc"] == "frame"
    shown = invoke("show", "feature", "logmel")
    assert shown.exit_code == 0 and "deltas" in shown.output and "n_mels" in shown.output
    assert FeatureSpec("x") == FeatureSpec("x", {})


# --- openSMILE (installed by the test extra) -------------------------------------------------

def test_opensmile_functionals_are_opensmiles_own_values():
    import opensmile

    x = _signal(16000)
    ours = _stack("egemaps_functionals")(x, 16000)
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    theirs = smile.process_signal(x, 16000).to_numpy(np.float32)[0]
    assert ours.shape == (88,)
    np.testing.assert_array_equal(ours, theirs)


def test_compare_lld_deltas_append_65_per_frame_and_stack_with_logmel():
    x = _signal(16000)
    plain = _stack("compare_lld")(x, 16000)
    both = _stack("compare_lld", deltas=True)(x, 16000)
    assert plain.shape[1] == 65 and both.shape[1] == 130
    np.testing.assert_array_equal(both[:, :65], plain[: len(both)])
    stacked = FeatureStack(plan_features("logmel,egemaps_lld"))(x, 16000)
    assert stacked.shape[1] == 40 + 25 and abs(len(stacked) - len(plain)) <= 3


def test_missing_opensmile_names_the_extra(monkeypatch, corpus, tmp_path, invoke):
    import sys

    monkeypatch.setitem(sys.modules, "opensmile", None)  # import opensmile now raises ImportError
    with pytest.raises(ConfigError) as info:
        _stack("egemaps_lld")
    assert str(info.value) == "feature 'egemaps_lld' needs the opensmile package: pip install 'serzoo[opensmile]'"
    result = invoke("data", "build", corpus, "-o", tmp_path / "x.h5", "--features", "compare_functionals")
    assert result.exit_code == 2 and "serzoo[opensmile]" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.h5").exists()


def test_opensmile_functionals_build_a_flat_database(corpus, tmp_path, invoke):
    out = tmp_path / "gemaps.h5"
    result = invoke("data", "build", corpus, "-o", out, "--features", "egemaps_functionals", "-q")
    assert result.exit_code == 0, result.output
    with open_database(out) as db:
        assert db.file_layout == "flat" and db.input_layout == "vector" and db.file_shape == (4, 88)
        assert np.isfinite(db.features()).all()
        assert db.attrs["features"]["extractors"][0]["options"] == {"sample_rate": 16000}


def test_pitch_follows_the_fundamental_and_marks_silence_unvoiced():
    rate = 16000
    t = np.arange(rate) / rate
    voiced = np.where(t < 0.5, 0.4 * np.sin(2 * np.pi * 120 * t) + 0.2 * np.sin(2 * np.pi * 240 * t), 0.0)
    out = _stack("pitch")(voiced.astype(np.float32), rate)
    assert out.shape[1] == 3
    f0, voicing, energy = out[:, 0], out[:, 1], out[:, 2]
    early, late = slice(10, 40), slice(60, 90)  # frames well inside the tone and the silence
    assert np.all(np.abs(f0[early] - 120) < 6) and np.all(f0[late] == 0)
    assert voicing[early].mean() > voicing[late].mean() and energy[early].min() > energy[late].max() + 5
    stacked = FeatureStack(plan_features("logmel,pitch"))(voiced.astype(np.float32), rate)
    assert stacked.shape[1] == 43


def test_opensmile_works_after_tensorflow_in_a_fresh_process(tmp_path):
    """openSMILE's library loaded after TensorFlow used to segfault; serzoo binds it to its own symbols."""
    import subprocess
    import sys

    code = ("import numpy as np, tensorflow as tf; tf.signal.stft(tf.zeros(1000), 400, 160); "
            "from serzoo.data.features import FeatureStack, plan_features; "
            "print(FeatureStack(plan_features('compare_functionals'))(np.ones(8000, np.float32) * 0.1, 16000).shape)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "(6373,)" in proc.stdout, proc.stderr[-500:]
