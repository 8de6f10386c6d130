"""benchmarks/tried.py (issue 12's parameterisations): every variant starts at the content image."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import import_benchmark


@pytest.fixture(scope="module")
def tried():
    return import_benchmark("tried")


@pytest.mark.parametrize(
    "variant",
    ["pixels", "adam:3", "pixels:5", "free", "pyramid:4", "pyramid:3:0.5", "colour", "diag:0.5"],
)
def test_each_variant_starts_at_the_content_and_keeps_its_bounds(tried, variant):
    rng = np.random.default_rng(0)
    content = rng.uniform(0.05, 0.95, (1, 20, 13, 3)).astype(np.float32)
    gradient = rng.normal(size=content.shape).astype(np.float32)
    to_image, z0, bounds = tried.parameterisation(variant, content, gradient)
    image = to_image(z0.astype(np.float32)).numpy()
    assert image.shape == content.shape
    np.testing.assert_allclose(image, content, atol=2e-6)
    if bounds is not None:  # the box in z is the box [0, 1] in the image
        low = to_image(np.array([b[0] for b in bounds], np.float32)).numpy()
        high = to_image(np.array([b[1] for b in bounds], np.float32)).numpy()
        np.testing.assert_allclose(low, 0.0, atol=1e-6)
        np.testing.assert_allclose(high, 1.0, atol=1e-6)


def test_an_unknown_variant_is_refused(tried):
    content = np.zeros((1, 4, 4, 3), np.float32)
    with pytest.raises(SystemExit, match="unknown variant 'spline'"):
        tried.parameterisation("spline", content, content)


def test_held_out_pairs_and_impossible_variants_are_refused(tried, capsys, tmp_path):
    out = ["--render", "--out", str(tmp_path / "tried.jsonl")]
    with pytest.raises(SystemExit):
        tried.main(["--pair", "hopper-noise", *out])
    assert "invalid choice: 'hopper-noise'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tried.main(["--variant", "adam:100", "--iterations", "100", *out])
    assert "leaves no L-BFGS" in capsys.readouterr().err
    assert not (tmp_path / "tried.jsonl").exists()


def test_the_table_divides_each_variant_by_its_own_pairs_baseline(tried):
    def line(pair, variant, marks, iterations=100, evaluations=104):
        return {
            "pair": pair,
            "variant": variant,
            "loss_after": marks,
            "iterations": iterations,
            "evaluations": evaluations,
        }

    lines = [
        line("a", "pixels", {"25": 10.0, "50": 8.0, "100": 4.0}),
        line("b", "pixels", {"25": 100.0, "50": 80.0, "100": 40.0}),
        line("a", "pyramid:4", {"25": 5.0, "50": 8.0, "100": 6.0}),
        line("b", "adam:25", {"25": 300.0, "50": 40.0}, iterations=50, evaluations=52),
        line("c", "colour", {"25": 1.0, "50": 1.0, "100": 1.0}),  # no baseline: left out
    ]
    table = tried.render(lines)
    assert "| pyramid:4 | a | 0.500 | 1.000 | 1.500 | 1.04 |" in table
    assert "| adam:25 | b | 3.000 | 0.500 | - | 1.04 |" in table
    assert "colour" not in table
    assert "- a: 10 / 8 / 4" in table
