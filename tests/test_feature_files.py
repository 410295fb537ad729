"""Databases built from per-utterance feature files (.npy, openSMILE-style .csv), and corpus x speaker groups."""

from __future__ import annotations

import numpy as np
import pytest

from serzoo.core.errors import ConfigError, DataError
from serzoo.data.build import build_database
from serzoo.data.loading import open_database
from serzoo.data.merge import merge_databases


def _npy_table(folder, lengths=(5, 9, 7, 6), dim=3):
    """One .npy per utterance; corpus a and b each have a speaker called 1 (the same name, other people)."""
    rng = np.random.default_rng(0)
    lines = ["file\temotion\tspeaker\tcorpus"]
    arrays = []
    for i, n in enumerate(lengths):
        x = rng.normal(size=(n, dim))
        np.save(folder / f"u{i}.npy", x)
        arrays.append(x)
        lines.append(f"u{i}.npy\t{i % 2}\t{1 + i % 2 if i < 2 else 1}\t{'a' if i < 2 else 'b'}")
    (folder / "meta.tsv").write_text("\n".join(lines) + "\n")
    return folder / "meta.tsv", arrays


def test_npy_frames_fill_the_1d_layout_padded_like_extracted_audio(tmp_path):
    meta, arrays = _npy_table(tmp_path)
    out = build_database(meta, tmp_path / "db.h5", labels="emotion", group="speaker,corpus")
    with open_database(out) as db:
        assert db.file_layout == "1d" and db.file_shape == (4, 9, 3)  # max_steps 0: the longest file
        assert db.attrs["features"]["feature"] == "files" and db.attrs["features"]["formats"] == ["npy"]
        for row, utterance in enumerate(db.utterances):
            x = arrays[int(utterance[1])]
            assert db.lengths[row] == len(x)
            np.testing.assert_allclose(db.features([row])[0, :len(x)], x, rtol=1e-6)
            assert not db.features([row])[0, len(x):].any()
    two_d = build_database(meta, tmp_path / "db2.h5", labels="emotion", layout="2d", context=2, max_steps=6)
    with open_database(two_d) as db:
        assert db.file_shape == (4, 3, 1, 2, 3)


def test_opensmile_csv_lld_and_functionals(tmp_path):
    lld = "name;frameTime;pcm_loudness;F0\n'unknown';0.00;0.5;120\n'unknown';0.01;0.7;125\n'unknown';0.02;0.6;0\n"
    (tmp_path / "a.csv").write_text(lld)
    (tmp_path / "b.csv").write_text(lld.replace("0.5", "0.1"))
    (tmp_path / "meta.tsv").write_text("file\temotion\na.csv\t0\nb.csv\t1\n")
    with open_database(build_database(tmp_path / "meta.tsv", tmp_path / "lld.h5", group=None)) as db:
        assert db.file_shape == (2, 3, 2)  # frameTime and name are not features
        np.testing.assert_allclose(db.features([0])[0], [[0.5, 120], [0.7, 125], [0.6, 0]])
    (tmp_path / "f.csv").write_text("name,mean,std,max\nx,1.5,2.5,3.5\n")
    (tmp_path / "g.csv").write_text("name,mean,std,max\ny,0.5,0.5,0.5\n")
    (tmp_path / "func.tsv").write_text("file\temotion\nf.csv\t0\ng.csv\t1\n")
    with open_database(build_database(tmp_path / "func.tsv", tmp_path / "func.h5", group=None)) as db:
        assert db.file_layout == "flat"
        np.testing.assert_allclose(db.features(), [[1.5, 2.5, 3.5], [0.5, 0.5, 0.5]])


def test_inconsistent_feature_files_are_one_line_errors(tmp_path):
    meta, _ = _npy_table(tmp_path)
    np.save(tmp_path / "u2.npy", np.zeros((4, 5)))
    with pytest.raises(DataError, match=r"u2.npy: features shaped \(4, 5\), but the first file holds frame-level "
                                         r"features of dimension 3"):
        build_database(meta, tmp_path / "db.h5", labels="emotion")
    with pytest.raises(ConfigError, match="names feature files, which are features already"):
        build_database(meta, tmp_path / "db.h5", labels="emotion", n_mels="40")
    (tmp_path / "mixed.tsv").write_text("file\temotion\nu0.npy\t0\nx.wav\t1\n")
    with pytest.raises(DataError, match="mixes feature files"):
        build_database(tmp_path / "mixed.tsv", tmp_path / "db.h5", group=None)
    assert not (tmp_path / "db.h5").exists()


def test_filter_by_corpus_and_speakers_unique_per_corpus(tmp_path):
    meta, _ = _npy_table(tmp_path)
    built = build_database(meta, tmp_path / "db.h5", labels="emotion", group="speaker,corpus")
    with open_database(built) as db:
        assert db.grouping("speaker").names == ["1", "2"]  # speaker 1 of a and of b are one group here
    every = merge_databases([built], tmp_path / "all.h5")
    with open_database(every) as db:
        assert db.grouping("speaker").names == ["a/1", "a/2", "b/1"]
        assert db.grouping("corpus").names == ["a", "b"]
    only_b = merge_databases([built], tmp_path / "b.h5", where={"corpus": ["b"]})
    with open_database(only_b) as db:
        assert db.n_rows == 2 and db.grouping("speaker").names == ["b/1"]
    with pytest.raises(ConfigError, match="no corpus 'c'"):
        merge_databases([built], tmp_path / "c.h5", where={"corpus": ["c"]})


def test_gain_statistics_of_a_table(tmp_path, invoke):
    import wave

    for name, peak in (("quiet.wav", 0.25), ("loud.wav", 0.5)):
        samples = (np.sin(np.linspace(0, 20, 800)) * peak * 32767).astype("<i2")
        samples[10] = -int(peak * 32767) - 1 if name == "loud.wav" else samples[10]
        with wave.open(str(tmp_path / name), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(samples.tobytes())
    (tmp_path / "meta.tsv").write_text("file\temotion\nquiet.wav\t0\nloud.wav\t1\n")
    from serzoo.data.gain import gain_statistics

    stats = gain_statistics(tmp_path / "meta.tsv")
    assert stats["files"] == 2 and stats["max_file"].endswith("loud.wav") and stats["min_file"].endswith("loud.wav")
    assert stats["min_gain"] == pytest.approx(-0.5, abs=1e-4) and stats["max_gain"] == pytest.approx(0.5, abs=1e-3)
    result = invoke("data", "gain", tmp_path / "meta.tsv", "-q")
    assert result.exit_code == 0 and result.output.startswith("min gain:\t-0.5")
