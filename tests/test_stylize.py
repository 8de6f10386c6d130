"""The objective and the optimisation loop, on 64 px images with untrained weights."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tensorflow as tf

import stylelib
from stylelib import optimize


def test_tutorial_preset_is_the_tensorflow_tutorial():
    p = stylelib.PRESETS["tutorial"]
    assert p.content_layers == {"block5_conv2": 1.0}
    assert p.style_layers == {f"block{i}_conv1": 0.2 for i in range(1, 6)}
    assert (p.content_weight, p.style_weight, p.tv_weight) == (1e4, 1e-2, 30.0)
    assert (p.optimizer, p.learning_rate, p.beta_1, p.epsilon, p.steps) == (
        "adam",
        0.02,
        0.99,
        0.1,
        1000,
    )
    assert (p.tv_kind, p.formulation, p.init) == ("absolute", "tutorial", "content")


def test_tutorial_objective_matches_the_tutorials_own_code(content_image, style_image):
    """The tutorial's loss written out as it publishes it, against StyleObjective."""
    settings = stylelib.make_preset("tutorial")
    extractor = stylelib.FeatureExtractor(
        ["block5_conv2"], list(settings.style_layers), weights="random"
    )
    objective = stylelib.StyleObjective(extractor, content_image, style_image, settings)
    image = tf.clip_by_value(content_image + 0.1 * tf.sin(content_image * 20.0), 0.0, 1.0)

    def tutorial_gram(t):
        result = tf.linalg.einsum("bijc,bijd->bcd", t, t)
        shape = tf.shape(t)
        return result / tf.cast(shape[1] * shape[2], tf.float32)

    out, s_t, c_t = extractor(image), extractor(style_image), extractor(content_image)
    style = (
        tf.add_n(
            [
                tf.reduce_mean((tutorial_gram(out.style[n]) - tutorial_gram(s_t.style[n])) ** 2)
                for n in settings.style_layers
            ]
        )
        * 1e-2
        / 5
    )
    content = (
        tf.add_n([tf.reduce_mean((out.content[n] - c_t.content[n]) ** 2) for n in ["block5_conv2"]])
        * 1e4
        / 1
    )
    tv = 30 * tf.image.total_variation(image)[0]
    total, c, s, t = objective(image)
    np.testing.assert_allclose([c, s, t], [content, style, tv], rtol=1e-4)
    np.testing.assert_allclose(total, content + style + tv, rtol=1e-4)


def test_gatys_objective_uses_the_papers_formulas(content_image, style_image):
    settings = stylelib.make_preset("gatys")
    extractor = stylelib.FeatureExtractor(
        list(settings.content_layers), list(settings.style_layers), weights="random"
    )
    objective = stylelib.StyleObjective(extractor, content_image, style_image, settings)
    image = tf.reverse(content_image, axis=[1])
    out, s_t, c_t = extractor(image), extractor(style_image), extractor(content_image)
    content = stylelib.content_loss(out.content["block4_conv2"], c_t.content["block4_conv2"])
    style = stylelib.style_loss(out.style, s_t.style)  # default w_l = 1/5
    total, c, s, t = objective(image)
    np.testing.assert_allclose([c, s, t], [1.0 * content, 1e3 * style, 0.0], rtol=1e-4)


def test_overrides_and_validation():
    p = stylelib.make_preset("tutorial", tv_weight=0, style_layers=["block1_conv1", "block2_conv1"])
    assert p.tv_weight == 0 and p.style_layers == {"block1_conv1": 0.5, "block2_conv1": 0.5}
    assert p.content_weight == 1e4  # untouched values stay the preset's
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        stylelib.make_preset("fast")
    with pytest.raises(ValueError, match="style_weight"):
        stylelib.make_preset("gatys", style_weight=-1)
    with pytest.raises(ValueError, match="optimizer"):
        stylelib.make_preset("gatys", optimizer="sgd")
    with pytest.raises(TypeError, match="colour"):
        stylelib.make_preset("gatys", colour=1)


@pytest.mark.parametrize(
    "setting, value, words",
    [
        ("style_weight", 1e40, ["style_weight", "at most 1e+12", "float32"]),
        ("content_weight", float("inf"), ["content_weight", "finite"]),
        ("tv_weight", float("nan"), ["tv_weight", "finite"]),
        ("tv_weight", -1, ["tv_weight", ">= 0"]),
        ("learning_rate", 0, ["learning_rate", "> 0"]),
        ("learning_rate", 1e13, ["learning_rate", "at most"]),
        ("style_weight", "1e4", ["style_weight", "a number"]),
        ("style_weight", True, ["style_weight", "a number"]),
        ("style_layers", {"block1_conv1": 1e20}, ["style_layers['block1_conv1']", "at most"]),
        ("beta_1", 1.0, ["beta_1", "[0, 1)"]),
        ("epsilon", 0.0, ["epsilon", "> 0"]),
        ("steps", 2.5, ["steps", "integer"]),
    ],
)
def test_make_preset_rejects_each_bad_number_naming_it(setting, value, words):
    with pytest.raises(ValueError) as info:
        stylelib.make_preset("gatys", **{setting: value})
    message = str(info.value)
    assert message.startswith(setting), message  # the command line maps this word to its flag
    for word in words:
        assert word in message, message


def test_make_preset_accepts_the_largest_weight_and_numpy_numbers():
    p = stylelib.make_preset(
        "gatys",
        style_weight=np.float32(stylelib.objective.MAX_WEIGHT),
        content_weight=np.float32(2.5e-8),
        steps=np.int64(7),
    )
    assert p.style_weight == pytest.approx(1e12, rel=1e-6) and type(p.style_weight) is float
    assert p.steps == 7 and type(p.steps) is int


def test_a_weight_of_1e40_fails_before_any_tensorflow_warning(content_image, style_image):
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # the old path printed NumPy's "overflow encountered in cast"
        with pytest.raises(ValueError, match="style_weight must be at most"):
            stylelib.stylize(content_image, style_image, style_weight=1e40, weights="random")


@pytest.mark.parametrize("preset", ["tutorial", "gatys"])
def test_stylize_lowers_the_loss_and_keeps_pixels_valid(content_image, style_image, preset):
    calls = []
    result = stylelib.stylize(
        content_image,
        style_image,
        preset=preset,
        steps=12,
        init="noise",
        weights="random",
        callback=lambda *a: calls.append(a[0]),
        callback_every=5,
    )
    assert [r.step for r in result.history] == list(range(13))
    first, last = result.history[0].total, result.final_loss
    assert last < 0.5 * first, (first, last)
    image = result.image.numpy()
    assert image.shape == tuple(content_image.shape)
    assert np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0
    assert calls == [5, 10, 12]
    assert not result.weights.trained
    seconds = result.history_arrays()["seconds"]
    assert np.all(np.diff(seconds) >= 0)


def test_stylize_is_reproducible(content_image, style_image):
    runs = [
        stylelib.stylize(
            content_image,
            style_image,
            preset="gatys",
            steps=3,
            init="noise",
            seed=7,
            weights="random",
        )
        for _ in range(2)
    ]
    np.testing.assert_allclose(runs[0].image.numpy(), runs[1].image.numpy(), atol=1e-6)
    starts = [
        stylelib.stylize(
            content_image,
            style_image,
            preset="gatys",
            steps=0,
            init="noise",
            seed=seed,
            weights="random",
        ).image.numpy()
        for seed in (7, 8)
    ]
    assert not np.allclose(starts[0], starts[1])  # the seed changes the noise


def test_non_finite_loss_stops_with_the_last_finite_image(content_image, style_image, monkeypatch):
    class Broken(optimize.StyleObjective):
        def terms(self, image):
            content, style = super().terms(image)
            return content, style * np.nan

    monkeypatch.setattr(optimize, "StyleObjective", Broken)
    with pytest.raises(stylelib.NonFiniteLossError) as info:
        stylelib.stylize(content_image, style_image, steps=5, weights="random")
    error = info.value
    assert error.step == 0 and "nan" in str(error).lower()
    np.testing.assert_array_equal(error.image.numpy(), content_image.numpy())


def test_a_style_image_holding_nan_is_refused_before_any_work(content_image, style_image):
    with pytest.raises(stylelib.ImageError, match="^style: .* not finite"):
        stylelib.stylize(content_image, style_image * np.nan, steps=5, weights="random")


def test_stylize_accepts_image_sources(tmp_path, content_image, style_image):
    stylelib.save_image(content_image, tmp_path / "c.png")
    stylelib.save_image(style_image, tmp_path / "s.png")
    result = stylelib.stylize(
        tmp_path / "c.png", tmp_path / "s.png", steps=1, max_dim=48, weights="random"
    )
    assert tuple(result.image.shape) == (1, 36, 48, 3)


@pytest.mark.parametrize("steps", [3, 0])
def test_lbfgs_step_zero_records_the_exact_objective_of_the_start(
    content_image, style_image, steps
):
    """Step 0's record comes from L-BFGS-B's first evaluation (or, with no iterations, a forward
    pass): it must be the exact objective of the start, with the absolute TV, not its surrogate."""
    settings = stylelib.make_preset("tutorial", tv_weight=30.0)
    extractor = stylelib.FeatureExtractor(
        list(settings.content_layers), list(settings.style_layers), weights="random"
    )
    objective = stylelib.StyleObjective(extractor, content_image, style_image, settings)
    expected = [float(v) for v in objective(content_image)]
    result = stylelib.stylize(
        content_image, style_image, optimizer="lbfgs", steps=steps, weights="random", quiet=True
    )
    start = result.history[0]
    assert start.step == 0
    recorded = [start.total, start.content, start.style, start.tv]
    np.testing.assert_allclose(recorded, expected, rtol=1e-6)
    assert start.tv == pytest.approx(
        30.0
        * float(
            tf.reduce_sum(tf.abs(content_image[:, 1:] - content_image[:, :-1]))
            + tf.reduce_sum(tf.abs(content_image[:, :, 1:] - content_image[:, :, :-1]))
        ),
        rel=1e-5,
    )
