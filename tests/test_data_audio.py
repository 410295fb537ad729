"""Audio decoding and resampling (through soundfile and soxr), and building a database from a meta table."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import wave

import numpy as np
import pytest

from serzoo.data.audio import audio_info, read_audio, resample
from serzoo.data.features import FeatureStack, plan_features
from serzoo.data.build import build_database
from serzoo.data.loading import open_database
from serzoo.core.errors import ConfigError, DataError


def write_pcm(path, samples, rate=16000, width=2, channels=1):
    """Write integer PCM with the standard library's wave module (full scale = 1.0): an independent writer."""
    samples = np.asarray(samples, np.float64)
    data = np.repeat(samples[:, None], channels, axis=1).reshape(-1)
    if width == 1:
        raw = np.round(data * 127 + 128).astype(np.uint8).tobytes()
    elif width == 2:
        raw = np.round(data * 32767).astype("<i2").tobytes()
    elif width == 3:
        v = np.round(data * (2**23 - 1)).astype(np.int32)
        raw = np.stack([v & 255, (v >> 8) & 255, (v >> 16) & 255], axis=1).astype(np.uint8).tobytes()
    else:
        raw = np.round(data * (2**31 - 1)).astype("<i4").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    return path


def write_riff(path, fmt_tag, bits, payload, rate=16000, channels=1, extensible_sub=None):
    """Write a RIFF/WAVE file by hand (float or extensible headers the wave module cannot write)."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    if extensible_sub is not None:
        # cbSize, valid bits, channel mask, then the sub-format GUID (KSDATAFORMAT_SUBTYPE_* ends in this tail)
        fmt += struct.pack("<HHIH", 22, bits, 0, extensible_sub) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


TONE = 0.5 * np.sin(2 * np.pi * 440 * np.arange(1600) / 16000)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_read_integer_pcm_any_width_mixed_to_mono(tmp_path, width):
    path = write_pcm(tmp_path / "a.wav", TONE, width=width, channels=2)
    samples, rate = read_audio(path)
    assert rate == 16000 and samples.dtype == np.float32 and samples.shape == TONE.shape
    np.testing.assert_allclose(samples, TONE, atol=2.0 / 2 ** (8 * width - 1) + 1e-6)
    assert audio_info(path) == (1600, 16000)


def test_channels_are_averaged(tmp_path):
    left, right = TONE, -0.5 * TONE
    stereo = np.stack([left, right], axis=1).reshape(-1)
    path = tmp_path / "lr.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.round(stereo * 32767).astype("<i2").tobytes())
    samples, rate = read_audio(path)
    assert rate == 8000
    np.testing.assert_allclose(samples, (left + right) / 2, atol=1e-4)


def test_float_and_extensible_wav_are_read(tmp_path):
    """Formats the old hand-written decoder refused: IEEE float and WAVE_FORMAT_EXTENSIBLE."""
    floats = write_riff(tmp_path / "f.wav", 3, 32, TONE.astype("<f4").tobytes())
    ext = write_riff(tmp_path / "e.wav", 0xFFFE, 16, np.round(TONE * 32767).astype("<i2").tobytes(), extensible_sub=1)
    for path, atol in ((floats, 1e-7), (ext, 1e-4)):
        samples, rate = read_audio(path)
        assert rate == 16000 and audio_info(path) == (1600, 16000)
        np.testing.assert_allclose(samples, TONE, atol=atol)


@pytest.mark.parametrize("fmt, subtype, atol", [("FLAC", "PCM_16", 1e-4), ("OGG", "VORBIS", 0.05)])
def test_flac_and_ogg_are_read(tmp_path, fmt, subtype, atol):
    import soundfile

    rate = 22050
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
    path = tmp_path / f"a.{fmt.lower()}"
    soundfile.write(path, np.stack([tone, tone], axis=1), rate, format=fmt, subtype=subtype)
    samples, got_rate = read_audio(path)
    assert got_rate == rate and samples.dtype == np.float32 and audio_info(path) == (rate, rate)
    np.testing.assert_allclose(samples[2000:-2000], tone[2000:-2000], atol=atol)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "the audio file is empty (0 bytes)"),
    (lambda p: p.write_bytes(b"RIFF\x00\x00"), "cannot decode audio (Format not recognised)"),
    (lambda p: p.write_bytes(write_pcm(p, TONE).read_bytes()[:30]), "cannot decode audio (Error in WAV file"),
    (lambda p: p.write_text("this is not audio at all"), "cannot decode audio (Format not recognised)"),
    (lambda p: write_pcm(p, np.zeros(0)), "holds no samples"),
    (lambda p: p.mkdir(), "is a folder, not an audio file"),
    (lambda p: None, "no such audio file"),
])
def test_bad_audio_gives_one_line_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(DataError) as info:
        read_audio(path)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text and "()" not in text
    if message != "holds no samples":  # the header alone already says what is wrong
        with pytest.raises(DataError, match=re.escape(message)):
            audio_info(path)


@pytest.mark.parametrize("rate_in, rate_out", [(22050, 16000), (8000, 16000), (44100, 16000), (48000, 22050)])
def test_resample_keeps_frequency_level_and_length(rate_in, rate_out):
    tone = np.sin(2 * np.pi * 1000 * np.arange(rate_in) / rate_in)
    out = resample(tone, rate_in, rate_out)
    assert out.dtype == np.float32 and abs(len(out) - rate_out) <= 1
    expected = np.sin(2 * np.pi * 1000 * np.arange(len(out)) / rate_out)
    np.testing.assert_allclose(out[200:-200], expected[200:-200], atol=2e-3)


def test_resample_filters_above_the_new_nyquist_and_passes_equal_rates():
    rate_in = 22050
    high = np.sin(2 * np.pi * 10000 * np.arange(rate_in) / rate_in)  # above 8 kHz: filtered, not folded back
    assert np.abs(resample(high, rate_in, 16000)[200:-200]).max() < 0.01
    np.testing.assert_array_equal(resample(TONE, 16000, 16000), TONE.astype(np.float32))


def test_data_layer_imports_no_click():
    """The progress bar belongs to the CLI: building a database must not need click."""
    code = ("import sys; import serzoo.data.build, serzoo.data.demo, serzoo.data.audio; "
            "sys.exit(1 if 'click' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.fixture
def corpus(tmp_path):
    """Six short utterances by three speakers, listed out of speaker order, at two sample rates."""
    rng = np.random.default_rng(0)
    (tmp_path / "wav").mkdir()
    lines = ["file\temotion\tspeaker\tarousal"]
    speakers = ["s2", "s1", "s2", "s3", "s1", "s2"]
    for i, spk in enumerate(speakers):
        rate = 22050 if i % 2 else 16000
        n = int(rate * (0.2 + 0.05 * i))
        write_pcm(tmp_path / f"wav/u{i}.wav", 0.3 * rng.standard_normal(n).clip(-3, 3) / 3, rate=rate)
        lines.append(f"wav/u{i}.wav\t{i % 3}\t{spk}\t{i % 2}")
    (tmp_path / "meta.tsv").write_text("\n".join(lines) + "\n")
    return tmp_path / "meta.tsv"


@pytest.mark.parametrize("layout, context, shape", [
    ("1d", 1, (6, 20, 16)),
    ("1d", 3, (6, 6, 48)),
    ("2d", 2, (6, 10, 1, 2, 16)),
    ("3d", 4, (6, 1, 5, 4, 16)),
])
def test_build_layouts_and_groups(corpus, tmp_path, layout, context, shape):
    out = build_database(corpus, tmp_path / "db.h5", labels="emotion,arousal", group="speaker", n_mels=16,
                         max_steps=20, context=context, layout=layout,
                         class_names=["emotion=neutral,happy,angry"])
    import h5py

    with h5py.File(out, "r") as hf:
        assert hf["feat"].shape == shape and hf["label"].dtype == np.float64
        # rows ordered by group, groups in order of first appearance: s2 (0, 2, 5), s1 (1, 4), s3 (3)
        np.testing.assert_array_equal(hf["start_indice"][()], [0, 3, 5])
        np.testing.assert_array_equal(hf["end_indice"][()], [3, 5, 6])
    order = [0, 2, 5, 1, 4, 3]
    with open_database(out) as db:
        assert db.file_layout == layout and db.label_names == ["emotion", "arousal"]
        assert db.group_names == ["s2", "s1", "s3"]
        assert db.class_names == {"emotion": ["neutral", "happy", "angry"]}
        assert db.utterances == [f"wav/u{i}.wav" for i in order]
        np.testing.assert_array_equal(db.labels, [[i % 3, i % 2] for i in order])
        assert db.attrs["sample_rate"] == 16000 and db.attrs["features"]["context"] == context
        # the shortest utterance (0.2 s = 18 frames) is zero-padded at the end
        x = db.features([0])[0]
        steps = 18 // context
        assert db.lengths[0] == min(steps, shape[1] if layout != "3d" else shape[2])
        assert np.all(x[db.lengths[0]:] == 0) and np.any(x[: db.lengths[0]] != 0)


def test_build_matches_direct_extraction(corpus, tmp_path):
    calls = []
    out = build_database(corpus, tmp_path / "db.h5", n_mels=16,  # group: auto -> speaker
                         progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]
    direct = FeatureStack(plan_features("logmel", ["logmel.n_mels=16"])).from_file(corpus.parent / "wav/u1.wav")
    with open_database(out) as db:
        assert db.label_names == ["emotion", "arousal"] and len(db.groups) == 3
        row = db.utterances.index("wav/u1.wav")
        assert db.example_shape == (1 + (int(0.45 * 16000) - 400) // 160, 16)  # longest utterance: 0.45 s
        np.testing.assert_allclose(db.features([row])[0, : len(direct)], direct, rtol=1e-5, atol=1e-5)


def test_audio_loader_builds_once_into_the_cache(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("SERZOO_CACHE", str(tmp_path / "cache"))
    with open_database(corpus, n_mels=8, labels="emotion") as db:
        assert db.example_shape[1] == 8 and db.label_names == ["emotion"] and len(db.groups) == 3
        first = db.path
    with open_database(corpus, n_mels=8, labels="emotion") as db:
        assert db.path == first  # reused
    assert len(list((tmp_path / "cache" / "audio").glob("*.h5"))) == 1


@pytest.mark.parametrize("edit, message", [
    (lambda lines: lines[:1] + [lines[1] + "\textra"] + lines[2:], "line 2: 5 columns where the header has 4"),
    (lambda lines: lines[:2] + ["wav/u1.wav\tx\ts1\t0"] + lines[3:], "line 3, column 'emotion': 'x' is not an integer"),
    (lambda lines: lines[:2] + ["wav/nope.wav\t0\ts1\t0"] + lines[3:], "1 of 6 wav files are missing"),
    (lambda lines: lines[:1], "needs a header line and at least one row"),
])
def test_bad_meta_tables(corpus, tmp_path, edit, message):
    lines = corpus.read_text().splitlines()
    corpus.write_text("\n".join(edit(lines)) + "\n")
    with pytest.raises(DataError, match="meta.tsv") as info:
        build_database(corpus, tmp_path / "db.h5")
    assert message in str(info.value)
    assert not list(tmp_path.glob("*.h5")) and not list(tmp_path.glob(".*tmp"))  # nothing half-written


def test_bad_build_options(corpus, tmp_path):
    with pytest.raises(ConfigError, match="--group 'spk': .* has no such column"):
        build_database(corpus, tmp_path / "db.h5", group="spk")
    with pytest.raises(DataError, match="emotion 2 is outside the 2 classes"):
        build_database(corpus, tmp_path / "db.h5", class_names=["emotion=a,b"])
    with pytest.raises(ConfigError, match="is not one of the labels"):
        build_database(corpus, tmp_path / "db.h5", labels="emotion", class_names=["arousal=a,b"])
    with pytest.raises(ConfigError, match="several sample rates"):
        build_database(corpus, tmp_path / "db.h5", sample_rate=0)


def test_unreadable_wav_in_corpus_stops_the_build(corpus, tmp_path):
    (corpus.parent / "wav/u3.wav").write_text("not audio")
    with pytest.raises(DataError, match=r"u3\.wav: cannot decode audio"):
        build_database(corpus, tmp_path / "db.h5")
    assert not (tmp_path / "db.h5").exists()


def test_cli_build_shows_progress_and_errors(corpus, tmp_path, invoke):
    result = invoke("data", "build", corpus, "-o", tmp_path / "db.h5", "--labels", "emotion",
                    "--group", "speaker", "--n-mels", "8", "--layout", "2d", "--context", "2")
    assert result.exit_code == 0, result.output
    assert "Extracting features" in result.output and "6 rows" in result.output
    with open_database(tmp_path / "db.h5") as db:
        assert db.file_layout == "2d" and db.example_shape[1:] == (2, 8, 1)
    result = invoke("data", "build", corpus, "-o", tmp_path / "x.h5", "--labels", "mood")
    assert result.exit_code == 2 and "--labels 'mood'" in result.output
