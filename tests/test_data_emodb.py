"""Real data: EmoDB builds with one command, and the database agrees with its meta.tsv."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest

from serzoo.data.loading import open_database


def _emodb() -> Path | None:
    for candidate in (Path(__file__).parents[2] / "shared/data/emodb", os.environ.get("SERZOO_EMODB")):
        if candidate and (Path(candidate) / "meta.tsv").is_file():
            return Path(candidate)
    return None


EMODB = _emodb()
CLASSES = "anger,boredom,disgust,fear,happiness,sadness,neutral"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(EMODB is None, reason="EmoDB copy not found (set SERZOO_EMODB)")]


def test_emodb_builds_and_matches_meta(tmp_path, invoke):
    out = tmp_path / "emodb.h5"
    start = time.perf_counter()
    result = invoke("data", "build", EMODB / "meta.tsv", "-o", out, "--labels", "emotion,arousal,valence",
                    "--group", "speaker", "--class-names", f"emotion={CLASSES}", "-q")
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    assert elapsed < 60

    with open(EMODB / "meta.tsv", newline="") as fh:
        meta = list(csv.DictReader(fh, delimiter="\t"))
    assert len(meta) == 535
    by_file = {row["file"]: row for row in meta}

    with open_database(out) as db:
        # 2.000 s at 16 kHz, 25 ms windows every 10 ms: 198 frames of 40 mel bands
        assert db.file_layout == "1d" and db.file_shape == (535, 198, 40)
        assert db.label_names == ["emotion", "arousal", "valence"]
        assert db.class_names["emotion"] == CLASSES.split(",")
        assert sorted(db.utterances) == sorted(by_file)
        for row, name in enumerate(db.utterances):
            expected = [int(by_file[name][k]) for k in ("emotion", "arousal", "valence")]
            assert db.labels[row].tolist() == expected, name
        # groups: the ten speakers in order of first appearance, each row in its speaker's group
        speakers = list(dict.fromkeys(row["speaker"] for row in meta))
        assert db.group_names == speakers and len(db.groups) == 10
        for row, name in enumerate(db.utterances):
            assert db.group_names[db.row_groups[row]] == by_file[name]["speaker"]
        sizes = [e - s for s, e in db.groups]
        assert sizes == [sum(r["speaker"] == spk for r in meta) for spk in speakers]
        assert db.groups[0][0] == 0 and db.groups[-1][1] == 535
        np.testing.assert_array_equal(db.class_counts("emotion"), [127, 81, 46, 69, 71, 62, 79])
        x = db.features(np.arange(0, 535, 50))
        assert np.isfinite(x).all() and x.std() > 1
