"""benchmarks/suite.py (issue 12's speed suite) keeps working, and refuses what it must refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import import_benchmark, run_benchmark

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke suite: the stored reference first, then the race (each in a new interpreter)."""
    out = tmp_path_factory.mktemp("suite")
    run_benchmark("suite.py", "--smoke", "--reference", "--out", out, timeout=600)
    run_benchmark("suite.py", "--smoke", "--out", out, timeout=600)
    return out


@pytest.fixture(scope="module")
def suite():
    return import_benchmark("suite")


def test_every_row_races_both_sides_on_the_same_objective(smoke):
    report = json.loads((smoke / "suite_smoke.json").read_text())
    assert sorted(report["rows"]) == [
        "hopper-waves 48px tv0",
        "hopper-waves 48px tv30",
        "photolike-stripes 48px tv0",
        "photolike-stripes 48px tv30",
    ]
    for key, row in report["rows"].items():
        reference, ours = row["reference"], row["stylelib"]
        assert reference["steps"] == 30, key
        # stylelib's objective of the reference's image is the reference's own loss
        assert row["reference_loss_by_stylelib"] == pytest.approx(reference["loss"], rel=1e-3)
        assert ours["iterations"] >= 1 and ours["evaluations"] >= ours["iterations"], key
        if ours["reached"]:  # it stopped at the first iteration at or below the target
            assert ours["final_loss"] <= reference["loss"] * (1 + 1e-3), key
            assert row["speedup"] == pytest.approx(reference["seconds"] / ours["seconds"], 1e-3)
        else:
            assert row["speedup"] is None and ours["iterations"] == 30, key
    assert set(report["race_512"]) == {"hopper-waves", "photolike-stripes"}
    assert report["fingerprint"]["weights"] and report["fingerprint"]["stylelib"]


def test_the_table_says_which_pairs_chose_the_settings(smoke):
    table = (smoke / "suite_smoke.md").read_text()
    assert "untrained VGG19" in table
    assert "| photolike-stripes | held out |" in table
    assert "| hopper-waves | settings |" in table
    # the summary is over held-out pairs only: one here, at each loop
    assert "| first (TV 0), 48 px | 1 |" in table and "| final (TV 30), 48 px | 1 |" in table
    assert "target 15×" in table and "target 6×" in table


def test_a_stale_or_missing_reference_is_refused_naming_what_changed(smoke, suite, tmp_path):
    weights = BENCHMARKS / "work" / "vgg19_random_notop.weights.h5"
    stored = json.loads((smoke / "reference_64.json").read_text())
    assert suite.stored_reference(smoke / "reference_64.json", "hopper-waves", 64, weights)
    stored["pairs"]["hopper-waves"]["fingerprint"]["style"] = "0" * 16
    stale = tmp_path / "reference_64.json"
    stale.write_text(json.dumps(stored))
    with pytest.raises(SystemExit, match=r"pair 'hopper-waves' is stale \(changed since: style\)"):
        suite.stored_reference(stale, "hopper-waves", 64, weights)
    with pytest.raises(SystemExit, match="no reference for pair 'lineart-noise'.*bench-reference"):
        suite.stored_reference(stale, "lineart-noise", 64, weights)
    with pytest.raises(SystemExit, match="no stored 64 px reference"):
        suite.stored_reference(tmp_path / "missing.json", "hopper-waves", 64, weights)


def test_pairs_are_distinct_and_held_out_ones_were_never_settings_pairs(suite):
    pairs = suite.pairs
    assert len(pairs.HELD_OUT_PAIRS) >= 6
    assert not set(pairs.HELD_OUT_PAIRS) & set(pairs.SETTINGS_PAIRS)
    combos = [(c, s) for c, s, _ in pairs.PAIRS.values()]
    assert len(set(combos)) == len(combos)
    image = pairs.image("stripes", 64)
    assert image.shape == (1, 64, 64, 3)
    # drawn from a seed: the same pixels every time
    assert suite.pixels_sha(image) == suite.pixels_sha(pairs.image("stripes", 64))
