"""serzoo compare and the statistics behind it, on synthetic runs whose scores are known."""

from __future__ import annotations

import csv
import io
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from runfactory import FINGERPRINT, make_run, require_extra
from serzoo.cli import cli
from serzoo.core.errors import ConfigError
from serzoo.report.compare import compare_runs, format_comparison, holm
from serzoo.training import stats

scipy_stats = require_extra("scipy.stats", "stats")

A = [[0.50, 0.60], [0.55, 0.70], [0.40, 0.65], [0.52, 0.58], [0.61, 0.47]]
B = [[0.58, 0.66], [0.57, 0.79], [0.47, 0.70], [0.60, 0.61], [0.66, 0.49]]


@pytest.fixture
def two_runs(tmp_path):
    return make_run(tmp_path / "a", A), make_run(tmp_path / "b", B, blocks="cnn1d,dense")


def test_differences_ci_and_wilcoxon_match_direct_computation(two_runs):
    result = compare_runs(list(two_runs))
    c = result["comparisons"][0]
    diffs = np.array(sum(B, [])) - np.array(sum(A, []))
    assert c["unit"] == "speaker" and [u["name"] for u in c["units"]] == [f"s{i}" for i in range(10)]
    assert np.allclose([u["diff"] for u in c["units"]], diffs)
    assert c["mean_diff"] == pytest.approx(diffs.mean())
    assert (c["ci_low"], c["ci_high"]) == stats.bootstrap_ci(diffs)
    assert c["ci_low"] < diffs.mean() < c["ci_high"]
    direct = scipy_stats.wilcoxon(diffs)
    assert c["test"]["p"] == pytest.approx(direct.pvalue) and c["test"]["statistic"] == pytest.approx(direct.statistic)
    fold_diffs = [np.mean(b) - np.mean(a) for a, b in zip(A, B)]
    assert [f["diff"] for f in c["folds"]] == pytest.approx(fold_diffs)
    # every speaker improved: with 10 units the exact test reaches p = 2/1024
    assert c["test"]["p"] == pytest.approx(2 / 1024) and c["significant"]
    assert "higher by" in c["verdict"] and "significant at 0.05" in c["verdict"] and "not significant" not in c["verdict"]


def test_too_few_units_say_no_verdict_is_possible(tmp_path):
    a = make_run(tmp_path / "a", [[0.5], [0.6], [0.4], [0.5]])
    b = make_run(tmp_path / "b", [[0.9], [0.9], [0.9], [0.9]])
    c = compare_runs([a, b])["comparisons"][0]
    assert c["test"]["min_p"] == pytest.approx(0.125) and not c["significant"]
    assert "no verdict possible" in c["verdict"] and "4 non-zero speaker differences" in c["verdict"]


@pytest.mark.parametrize("key", ["labels", "groups", "rows"])
def test_refuses_other_data_in_one_line(tmp_path, key):
    a = make_run(tmp_path / "a", A)
    b = make_run(tmp_path / "b", B, data={**FINGERPRINT, key: "other" if key != "rows" else 41})
    with pytest.raises(ConfigError, match="different data"):
        compare_runs([a, b])
    out = CliRunner().invoke(cli, ["compare", str(a), str(b)])
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1


def test_other_features_of_the_same_corpus_are_compared_with_a_note(tmp_path):
    a = make_run(tmp_path / "a", A)
    b = make_run(tmp_path / "b", B, data={**FINGERPRINT, "features": {"feature": "y"}, "file_shape": [40, 9]})
    result = compare_runs([a, b])
    assert any("different features" in n for n in result["notes"])


def test_refuses_other_folds(tmp_path):
    a = make_run(tmp_path / "a", A)
    b = make_run(tmp_path / "b", [[0.5, 0.6, 0.7]] + B[1:])
    with pytest.raises(ConfigError, match="different folds"):
        compare_runs([a, b])


def test_formats(two_runs):
    result = compare_runs(list(two_runs))
    assert json.loads(format_comparison(result, "json"))["comparisons"][0]["mean_diff"] == result["comparisons"][0]["mean_diff"]
    rows = list(csv.DictReader(io.StringIO(format_comparison(result, "csv"))))
    assert [r["kind"] for r in rows].count("fold") == 5 and [r["kind"] for r in rows].count("speaker") == 10
    mean_row = next(r for r in rows if r["kind"] == "mean")
    assert float(mean_row["diff"]) == pytest.approx(result["comparisons"][0]["mean_diff"])
    markdown = format_comparison(result, "markdown")
    assert "| fold" in markdown and "percentile bootstrap of the mean, 10000 resamples" in markdown
    out = CliRunner().invoke(cli, ["compare", *map(str, two_runs), "--format", "table"])
    assert out.exit_code == 0, out.output
    assert f"{result['comparisons'][0]['mean_diff']:+.4f}" in out.output and "Wilcoxon signed-rank" in out.output


def test_three_runs_get_holm_adjusted_p(tmp_path):
    runs = [make_run(tmp_path / "a", A), make_run(tmp_path / "b", B),
            make_run(tmp_path / "c", [[u + 0.01 * (i % 3 - 1) for i, u in enumerate(f)] for f in A])]
    result = compare_runs(runs)
    ps = [c["test"]["p"] for c in result["comparisons"]]
    assert [c["test"]["p_holm"] for c in result["comparisons"]] == pytest.approx(holm(ps))
    assert result["method"]["correction"] == "Holm"


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_bootstrap_is_seeded_and_correct_on_a_known_case():
    values = [0.0] * 10 + [1.0] * 10
    low, high = stats.bootstrap_ci(values)
    assert (low, high) == stats.bootstrap_ci(values)  # reproducible
    noisy = np.random.default_rng(5).normal(size=15)
    assert stats.bootstrap_ci(noisy, seed=1) != stats.bootstrap_ci(noisy, seed=0)  # the seed is used
    # the resampled mean is Binomial(20, 0.5) / 20: its 2.5% and 97.5% quantiles, to one step of 1/20
    assert low == pytest.approx(scipy_stats.binom.ppf(0.025, 20, 0.5) / 20, abs=0.05 + 1e-9)
    assert high == pytest.approx(scipy_stats.binom.ppf(0.975, 20, 0.5) / 20, abs=0.05 + 1e-9)
    assert stats.bootstrap_ci([0.7] * 5) == pytest.approx((0.7, 0.7))
    d = stats.describe([0.5, 0.7, float("nan")])
    assert d["n"] == 2 and d["mean"] == pytest.approx(0.6) and d["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))


def test_missing_scipy_is_one_line(monkeypatch, two_runs):
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    with pytest.raises(ConfigError, match=r"pip install 'serzoo\[stats\]'"):
        compare_runs(list(two_runs))


def test_unfinished_run_is_refused(tmp_path):
    a = make_run(tmp_path / "a", A)
    b = make_run(tmp_path / "b", B, finished=False)
    out = CliRunner().invoke(cli, ["compare", str(a), str(b)])
    assert out.exit_code == 2 and "has not finished" in out.output
