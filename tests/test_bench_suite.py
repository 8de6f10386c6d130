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
    # the race against the stored reference (64 px stands in for 512): a row per pair, and the
    # summary over the one held-out pair
    race = "64 px | final (TV 30), coarse to fine, against the stored reference"
    assert f"| photolike-stripes | held out | {race} |" in table
    assert f"| hopper-waves | settings | {race} |" in table
    assert "| final (TV 30), 64 px, coarse to fine, against the stored reference | 1 |" in table


def test_the_written_table_is_the_one_the_stored_report_renders(smoke, suite):
    # The run's table comes from the numbers it stores (4 digits), so `--render` of the JSON (how
    # the README is rebuilt from several sittings) cannot print another rounding of the same row.
    report = json.loads((smoke / "suite_smoke.json").read_text())
    assert (smoke / "suite_smoke.md").read_text() == suite.markdown(report)
    # a row whose unrounded times round differently from the stored ones: 840.54 s is stored as
    # 840.5 (printed 840 s); the ratio 10.0495 is stored as 10.05, which would print 10.1×, while
    # the stored times give 10.049, printed 10.0× as the run measured it
    reached = [r for r in report["rows"].values() if r["speedup"] is not None]
    assert reached, "no smoke row reached its reference"
    row = reached[0]
    row["reference"]["seconds"], row["stylelib"]["seconds"] = 840.54, 83.64
    row["speedup"] = 840.54 / 83.64
    stored = json.loads(json.dumps(suite.run._rounded(report)))
    assert suite.markdown(report) == suite.markdown(stored)
    assert "**10.0×**" in suite.markdown(stored) and "**10.1×**" not in suite.markdown(stored)


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


def test_rows_of_other_sittings_are_kept_and_those_of_other_code_measured_again(
    suite, tmp_path, monkeypatch
):
    """A suite measured size by size: a later sitting keeps the rows it was not asked for, even
    when the code changed in between, measures again a requested row made by other code, and
    the table names the runs its rows come from."""
    measured = []

    def fake_row(name, size, tv_weight, config, model, weights):
        measured.append((name, size))
        reference = {"seconds": 100.0, "steps": 1000, "loss": 10.0}
        ours = {"seconds": 10.0, "reached": True, "iterations": 50, "evaluations": 52}
        row = {"pair": name, "size": size, "tv_weight": tv_weight, "reference": reference}
        return row | {"stylelib": ours, "speedup": 10.0}

    monkeypatch.setattr(suite, "race_row", fake_row)
    monkeypatch.setattr(suite, "warm_up", lambda model, weights: None)
    monkeypatch.setattr(suite.run, "TutorialModel", lambda weights: None)
    monkeypatch.setattr(suite.stylelib, "load_vgg19", lambda weights: None)
    weights = tmp_path / "vgg19_random_notop.weights.h5"
    weights.write_bytes(b"not really weights")
    path = tmp_path / "suite.json"
    names = list(suite.pairs.HELD_OUT_PAIRS)[:2]
    config = {"sizes": [128], "loops": [0.0], "pairs": names}

    first = suite.measure(config, names, weights, path, fresh=False, command="first")
    assert measured == [(names[0], 128), (names[1], 128)]
    assert {r["run"]["command"] for r in first["rows"].values()} == {"first"}
    # the same code again: nothing to measure
    suite.measure(config, names, weights, path, fresh=False, command="again")
    assert len(measured) == 2

    monkeypatch.setattr(suite, "stylelib_source_sha", lambda: "changed")
    second = suite.measure(config | {"sizes": [256]}, names, weights, path, False, "second")
    assert measured[2:] == [(names[0], 256), (names[1], 256)]
    commands = {key: row["run"]["command"] for key, row in second["rows"].items()}
    assert commands == {
        f"{names[0]} 128px tv0": "first",
        f"{names[1]} 128px tv0": "first",
        f"{names[0]} 256px tv0": "second",
        f"{names[1]} 256px tv0": "second",
    }
    table = suite.markdown(second)
    assert "several runs, listed below the tables" in table
    assert (
        "`first`" in table
        and "`second`" in table
        and "128 px, the first (TV 0) loop, 2 pairs" in table
    )
    assert "do not compare" not in table  # only stylelib's source differs between the runs

    # a requested row made by other code is measured again
    third = suite.measure(config, names, weights, path, fresh=False, command="third")
    assert measured[4:] == [(names[0], 128), (names[1], 128)]
    assert third["rows"][f"{names[0]} 128px tv0"]["run"]["command"] == "third"
    # --fresh: only this sitting's rows
    fresh = suite.measure(config, names, weights, path, fresh=True, command="fresh")
    assert sorted(fresh["rows"]) == sorted(f"{n} 128px tv0" for n in names)
    assert "several runs" not in suite.markdown(fresh)


def test_beyond_continues_a_first_loop_miss_to_the_reference_loss(smoke, tmp_path):
    """benchmarks/beyond.py: a row that reached the reference after k iterations, marked as a
    miss, is run again with twice the suite's steps: its loss after k iterations is the row's
    (without TV, more steps continue the same run) and it reaches the reference after k."""
    report = json.loads((smoke / "suite_smoke.json").read_text())
    first = {k: r for k, r in report["rows"].items() if r["tv_weight"] == 0.0}
    key = max(first, key=lambda k: first[k]["stylelib"]["iterations"])
    row = first[key]
    k = row["stylelib"]["iterations"]
    assert row["stylelib"]["reached"] and k >= 2, (key, row["stylelib"])
    for other in first.values():
        other["stylelib"]["reached"] = other is not row  # only this row is a miss
    path = tmp_path / "suite_smoke.json"
    path.write_text(json.dumps(report))
    done = run_benchmark("beyond.py", "--report", path, "--steps", 60, "--out", tmp_path)
    out = json.loads((tmp_path / "beyond.json").read_text())
    assert [r["pair"] for r in out["rows"]] == [row["pair"]]
    result = out["rows"][0]
    assert result["same_as_default_run"] and result["same_stylelib_as_row"], done.stdout
    ours = result["stylelib"]
    assert ours["reached"] and ours["iterations"] == k, done.stdout
    assert result["speedup"] == pytest.approx(row["reference"]["seconds"] / ours["seconds"], 1e-3)
    assert f"reached after {k} it." in (tmp_path / "beyond.md").read_text()


def test_beyond_refuses_a_report_without_misses_or_of_other_weights(smoke, tmp_path):
    report = json.loads((smoke / "suite_smoke.json").read_text())
    for row in report["rows"].values():
        row["stylelib"]["reached"] = True
    path = tmp_path / "suite_smoke.json"
    path.write_text(json.dumps(report))
    beyond = import_benchmark("beyond")
    with pytest.raises(SystemExit, match="no first-loop misses to continue"):
        beyond.main(["--report", str(path), "--out", str(tmp_path)])
    row = report["rows"]["hopper-waves 48px tv0"]
    row["stylelib"]["reached"] = False
    row["run"]["fingerprint"]["weights"] = "0" * 16
    path.write_text(json.dumps(report))
    with pytest.raises(SystemExit, match="hopper-waves 48px was measured with another weights"):
        beyond.main(["--report", str(path), "--out", str(tmp_path)])


def _race_entry(name: str, seconds: float, reached: bool) -> dict:
    """A race_512 entry as suite.race_512 writes it (made up numbers)."""
    reference = {"seconds": 3600.0, "steps": 1000, "loss": 5.0, "date": "2026-11-26"}
    ours = {
        "seconds": seconds,
        "reached": reached,
        "iterations": 312 if reached else 400,
        "evaluations": 330,
        "iterations_per_scale": [200, 100, 12] if reached else [200, 100, 100],
        "final_loss": 4.9 if reached else 6.0,
    }
    return {
        "pair": name,
        "size": 512,
        "tv_weight": 30.0,
        "against": "stored reference",
        "reference": reference | {"fingerprint": {"weights": "w"}},
        "stylelib": ours,
        "speedup": 3600.0 / seconds if reached else None,
        "run": {
            "date": "2026-11-26",
            "time": "2026-11-26T23:00:00",
            "commit": "abc1234",
            "command": "race",
            "fingerprint": {"stylelib": "s", "reference": "r", "weights": "w", "tensorflow": "t"},
        },
    }


def test_the_512_race_has_a_row_per_pair_and_a_verdict_on_part_only_where_the_rest_cannot_change_it(
    suite,
):
    held = list(suite.pairs.HELD_OUT_PAIRS)
    report = {
        "machine": {"cpu": "a CPU", "cores": 2, "tensorflow": "2.20"},
        "weights_trained": False,
        "config": {"pairs": None},
        "rows": {},
        "race_512": {
            held[0]: _race_entry(held[0], 180.0, True),
            held[1]: _race_entry(held[1], 900.0, False),
        },
    }
    table = suite.markdown(report)
    assert (
        f"| {held[0]} | held out | 512 px | final (TV 30), coarse to fine, against the stored "
        "reference | 5, 3600 s (1000 steps, stored 2026-11-26) | 180.0 s (312 it.: 200 + 100 + 12 "
        "by scale, 1.06 eval./it.) | **20.0×** |"
    ) in table
    assert f"| {held[1]} | held out | 512 px |" in table and "ended at 1.20×" in table
    # in the suite's order, as every other row (not alphabetical: held[1] sorts before held[0])
    assert table.index(f"| {held[0]} |") < table.index(f"| {held[1]} |")
    # two of six pairs: the median of those measured, and no verdict
    assert "| 2 of 6: incomplete | 10.0× of those measured | 0.0× (no target) |" in table
    assert "met" not in table and "whatever the other" not in table
    assert "`race` on `abc1234`" in table

    # with a row of another run, the table lists both runs and what each made
    row = _race_entry(held[2], 10.0, True) | {"size": 128, "tv_weight": 0.0}
    del row["against"]
    row["reference"] = {"seconds": 250.0, "steps": 1000, "loss": 5.0}
    row["run"] = row["run"] | {
        "date": "2026-11-25",
        "time": "2026-11-25T10:00:00",
        "command": "rows",
    }
    report["rows"][f"{held[2]} 128px tv0"] = row
    table = suite.markdown(report)
    assert "- 2026-11-25, `rows` on `abc1234`: 128 px, the first (TV 0) loop, 1 pair (" in table
    assert "- 2026-11-26, `race` on `abc1234`: the 512 px race, 2 pairs (" in table

    # four of six, three of them misses: the median cannot reach 20x whatever the other two do
    # (0, 0, 0, 20, x, y: at most (0 + 20) / 2), so the table says so
    for name in held[2:4]:
        report["race_512"][name] = _race_entry(name, 900.0, False)
    table = suite.markdown(report)
    assert (
        "| 4 of 6: incomplete | 0.0× of those measured: missed whatever the other 2 do "
        "(target 20×) | 0.0× (no target) |"
    ) in table
    # four of six, all 20x or more: met whatever the other two do (at least (20 + 24) / 2)
    for name in held[1:4]:
        report["race_512"][name] = _race_entry(name, 150.0, True)
    table = suite.markdown(report)
    assert "| 4 of 6: incomplete | 24.0× of those measured: met whatever the other 2 do" in table

    for name in held[2:]:
        report["race_512"][name] = _race_entry(name, 150.0, True)
    report["race_512"][held[1]] = _race_entry(held[1], 900.0, False)
    table = suite.markdown(report)
    assert "| 6 | 24.0× (met, target 20×) | 0.0× (no target) |" in table


#: a stored reference as reference_512.json keeps it (every digit; photo-like x stripes's)
STORED_REFERENCE = {
    "seconds": 3675.391314818,
    "steps": 1000,
    "loss": 4485039.0,
    "date": "2026-11-26",
    "fingerprint": {"weights": "w"},
    "commit": "41e9e46",
}


def _fake_suite(suite, monkeypatch, tmp_path, earlier_races: dict) -> tuple[dict, list[str]]:
    """suite.main with its measuring replaced: the rows' run returns a report holding
    ``earlier_races``, every stored reference is STORED_REFERENCE, and a race returns a made-up
    entry; returns the calls each made, and the arguments every run needs."""
    calls = {"rows": [], "references": [], "races": []}

    def fake_measure(config, names, weights, path, fresh, command=""):
        calls["rows"].append((list(config["sizes"]), list(names)))
        last = _race_entry("any", 1.0, True)["run"] | {"command": command}
        return {
            "rows": {},
            "race_512": dict(earlier_races),
            "machine": {"cpu": "c", "cores": 2, "tensorflow": "t"},
            "config": config,
            "weights_trained": False,
            "last_run": last,
        }

    def fake_reference(path, name, size, weights):
        calls["references"].append(name)
        return dict(STORED_REFERENCE)

    def fake_race(name, size, steps, reference, weights):
        calls["races"].append((name, size))
        return _race_entry(name, 180.0, True)

    monkeypatch.setattr(suite, "measure", fake_measure)
    monkeypatch.setattr(suite, "stored_reference", fake_reference)
    monkeypatch.setattr(suite, "race_512", fake_race)
    weights = tmp_path / "vgg19_random_notop.weights.h5"
    weights.write_bytes(b"not really weights")
    return calls, ["--weights", str(weights), "--out", str(tmp_path)]


def test_only_and_sizes_512_race_the_named_pairs_without_the_other_rows(
    suite, tmp_path, monkeypatch
):
    """`--sizes 512 --only A B`: the race at 512 px on those pairs, needing their stored
    references only, and no 128/256 px rows; `--sizes 128` alone: no race."""
    calls, common = _fake_suite(suite, monkeypatch, tmp_path, earlier_races={})
    a, b = list(suite.pairs.HELD_OUT_PAIRS)[:2]
    assert suite.main(["--sizes", "512", "--only", a, b, *common]) == 0
    assert calls == {"rows": [([], [a, b])], "references": [a, b], "races": [(a, 512), (b, 512)]}
    report = json.loads((tmp_path / "suite.json").read_text())
    assert sorted(report["race_512"]) == sorted([a, b])
    assert "2 of 6: incomplete" in (tmp_path / "suite.md").read_text()

    for key in calls:
        calls[key].clear()
    (tmp_path / "suite.json").unlink()
    assert suite.main(["--sizes", "128", *common]) == 0
    assert calls["rows"] == [([128], list(suite.pairs.HELD_OUT_PAIRS))]
    assert calls["references"] == calls["races"] == []
    with pytest.raises(SystemExit):  # argparse: not a pair of the suite
        suite.main(["--only", "no-such-pair", *common])
    # nothing left to measure, or --only with another set: refused before any work
    for nothing in (["--quick", "--sizes", "512"], ["--sizes", "512", "--no-512"]):
        with pytest.raises(SystemExit):
            suite.main([*nothing, *common])
    with pytest.raises(SystemExit):  # the race is the final loop's
        suite.main(["--sizes", "512", "--loops", "0", *common])
    with pytest.raises(SystemExit):
        suite.main(["--pairs", "settings", "--only", a, *common])
    assert calls["rows"] == [([128], list(suite.pairs.HELD_OUT_PAIRS))]  # nothing more ran


def _stored_race(suite) -> dict:
    """A race against STORED_REFERENCE as suite.json keeps it: through JSON, 4 digits."""
    entry = _race_entry("photolike-stripes", 591.5, True)
    entry["reference"] = {k: STORED_REFERENCE[k] for k in suite.RACE_REFERENCE_KEYS}
    return json.loads(json.dumps(suite.run._rounded(entry)))


def test_an_earlier_race_is_kept_only_against_the_same_reference_and_code(suite):
    """A 512 px race already in the report stands only while the code that ran it and the
    stored reference it raced are the same (as far as suite.json's 4 digits tell): a changed
    reference or changed code races again (ten minutes), and an unchanged one is not raced
    for nothing."""
    entry = _stored_race(suite)
    assert entry["reference"]["seconds"] == 3675.0  # the stored race's, rounded
    code = entry["run"]["fingerprint"]
    stored = dict(STORED_REFERENCE)  # every digit, and a field the race does not keep
    assert suite.race_kept(entry, stored, code)
    assert not suite.race_kept(None, stored, code)
    assert not suite.race_kept(entry, stored, code | {"stylelib": "changed"})
    for changed in (
        {"seconds": 3676.0},
        {"loss": 4486000.0},
        {"date": "2026-11-27"},
        {"steps": 500},
        {"fingerprint": {"weights": "other"}},
    ):
        assert not suite.race_kept(entry, stored | changed, code), changed


def test_a_race_of_the_same_code_and_reference_is_kept_and_the_others_run(
    suite, tmp_path, monkeypatch
):
    """`--sizes 512 --only A B` where A's race is in suite.json already, against the same stored
    reference and by the same code: only B is raced, and A's entry is the one it had."""
    a, b = list(suite.pairs.HELD_OUT_PAIRS)[:2]
    earlier = _stored_race(suite) | {"pair": a}
    calls, common = _fake_suite(suite, monkeypatch, tmp_path, earlier_races={a: earlier})
    assert suite.main(["--sizes", "512", "--only", a, b, *common]) == 0
    assert calls["references"] == [a, b] and calls["races"] == [(b, 512)]
    report = json.loads((tmp_path / "suite.json").read_text())
    assert report["race_512"][a] == earlier


def test_a_summary_on_part_of_the_pairs_gives_only_the_verdicts_the_rest_cannot_change(suite):
    """Six pairs expected, some measured: a verdict on the median only when the missing pairs
    could not change it, were they all misses (0x) or unboundedly fast; on the worst pair, a
    miss as soon as one measured pair is below its target (the worst can only fall)."""

    def summary(ratios, target):
        rows = [
            {
                "speedup": r or None,
                "reference": {"seconds": 100.0 * r},
                "stylelib": {"seconds": 100.0},
            }
            for r in ratios
        ]
        return suite._summary_row("x", rows, 6, target)

    race = {"median": 20.0}  # the 512 px race's target: none on the worst pair
    # 6.2x and two misses (the 512 px race after three pairs); three more at 33.8x or above would make it 20x
    assert (
        summary([6.2, 0, 0], race)
        == "| x | 3 of 6: incomplete | 0.0× of those measured | 0.0× (no target) |"
    )
    # three misses and a 40x: at best (0 + 40) / 2 = 20x, which meets the target: no verdict
    assert "whatever" not in summary([0, 0, 0, 40], race)
    # three misses and a 20x: at best (0 + 20) / 2 = 10x
    assert "missed whatever the other 2 do (target 20×)" in summary([0, 0, 0, 20], race)
    # five of six, four of them misses: the median is 0x whatever the sixth does
    assert summary([6.2, 0, 0, 0, 0], race) == (
        "| x | 5 of 6: incomplete | 0.0× of those measured: missed whatever the other one does "
        "(target 20×) | 0.0× (no target) |"
    )
    # four at 20x: at worst (20 + 20) / 2 = 20x, met; one at 25x alone says nothing yet
    assert "20.0× of those measured: met whatever the other 2 do" in summary([20] * 4, race)
    assert (
        summary([25], race)
        == "| x | 1 of 6: incomplete | 25.0× of those measured | 25.0× (no target) |"
    )

    first = {"median": 15.0, "worst": 10.0}  # a loop's targets
    assert summary([0, 12], first).endswith("| 0.0× (missed, target 10×) |")
    assert summary([12, 14], first).endswith("| 13.0× of those measured | 12.0× |")
