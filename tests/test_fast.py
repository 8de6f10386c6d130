"""L-BFGS, coarse-to-fine and mixed precision (issue "Fast to a good image").

Behaviour only: timings live in benchmarks/run.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import stylelib
from stylelib import optimize


def _valid(image: tf.Tensor) -> bool:
    values = image.numpy()
    return bool(np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0)


@pytest.mark.parametrize("tv_weight", [0.0, 30.0])
def test_lbfgs_lowers_the_tutorial_loss(content_image, style_image, tv_weight):
    result = stylelib.stylize(
        content_image,
        style_image,
        optimizer="lbfgs",
        steps=12,
        tv_weight=tv_weight,
        weights="random",
    )
    totals = result.history_arrays()["total"]
    assert totals[-1] < 0.5 * totals[0], totals
    assert _valid(result.image)
    assert result.image.shape == content_image.shape
    assert [r.step for r in result.history] == list(range(len(result.history)))


def test_lbfgs_records_the_exact_objective_with_absolute_tv(content_image, style_image):
    # With L1 total variation L-BFGS minimises smooth surrogates; the history must still hold
    # the loss the preset defines, so that it can be compared with Adam's.
    result = stylelib.stylize(
        content_image, style_image, optimizer="lbfgs", steps=6, tv_weight=30, weights="random"
    )
    settings = result.preset
    extractor = stylelib.FeatureExtractor(
        list(settings.content_layers), list(settings.style_layers), weights="random"
    )
    objective = stylelib.StyleObjective(extractor, content_image, style_image, settings)
    total, _, _, tv = (float(v) for v in objective(result.image))
    assert result.history[-1].total == pytest.approx(total, rel=1e-4)
    assert result.history[-1].tv == pytest.approx(tv, rel=1e-4)
    assert tv == pytest.approx(30 * float(tf.reduce_sum(tf.image.total_variation(result.image))))


def test_lbfgs_beats_adam_per_step_on_the_first_loop(content_image, style_image):
    runs = {
        name: stylelib.stylize(
            content_image,
            style_image,
            optimizer=name,
            steps=15,
            tv_weight=0,
            weights="random",
        )
        for name in ("adam", "lbfgs")
    }
    assert runs["lbfgs"].final_loss < runs["adam"].final_loss


def test_lbfgs_default_steps():
    assert stylelib.make_preset("tutorial", optimizer="lbfgs").steps == stylelib.LBFGS_STEPS
    assert stylelib.make_preset("tutorial", optimizer="lbfgs", steps=7).steps == 7
    assert stylelib.make_preset("tutorial").steps == 1000


def test_lbfgs_non_finite_loss_keeps_the_start(content_image, style_image, monkeypatch):
    class Broken(optimize.StyleObjective):  # a NaN style image is refused before any work
        def terms(self, image):
            content, style = super().terms(image)
            return content, style * np.nan

    monkeypatch.setattr(optimize, "StyleObjective", Broken)
    with pytest.raises(stylelib.NonFiniteLossError) as info:
        stylelib.stylize(content_image, style_image, optimizer="lbfgs", steps=3, weights="random")
    np.testing.assert_array_equal(info.value.image.numpy(), content_image.numpy())


def test_scale_sizes():
    assert stylelib.scale_sizes(48, 64, None) == [(48, 64)]
    assert stylelib.scale_sizes(300, 400, 3) == [(75, 100), (150, 200), (300, 400)]
    assert stylelib.scale_sizes(300, 400, [200, 400]) == [(150, 200), (300, 400)]
    with pytest.raises(ValueError, match="end at"):
        stylelib.scale_sizes(300, 400, [200, 300])
    with pytest.raises(ValueError, match="increase"):
        stylelib.scale_sizes(300, 400, [400, 200, 400])
    with pytest.raises(ValueError, match="below the 32 px"):
        stylelib.scale_sizes(48, 64, 2)
    with pytest.raises(ValueError, match=">= 1"):
        stylelib.scale_sizes(48, 64, 0)
    with pytest.raises(ValueError, match="integer or a list"):
        stylelib.scale_sizes(48, 64, "2")


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_coarse_to_fine_continues_from_the_upsampled_coarse_result(optimizer):
    content = stylelib.sample_image("hopper", 96)
    style = stylelib.sample_image("waves", 96)
    steps = 8
    images = {}
    result = stylelib.stylize(
        content,
        style,
        optimizer=optimizer,
        steps=steps,
        scales=[48, 96],
        scale_steps=[steps, steps],
        tv_weight=0,
        init="noise",
        weights="random",
        callback=lambda step, image, record: images.__setitem__(step, image),
        callback_every=1,
    )
    assert result.image.shape == content.shape
    assert _valid(result.image)
    height, width = content.shape[1:3]
    sizes = [tuple(d["size"]) for d in result.extra["scales"]]
    assert sizes == stylelib.scale_sizes(height, width, [48, 96])
    assert max(sizes[0]) == 48 and sizes[1] == (height, width)
    history = result.history_arrays()
    assert list(np.unique(history["scale"])) == [0, 1]
    coarse = history["total"][history["scale"] == 0]
    fine = history["total"][history["scale"] == 1]
    assert coarse[-1] < coarse[0] and fine[-1] < fine[0]
    # The full-size scale starts from the coarse result, upsampled: its first recorded loss is the
    # objective of that image (whether that beats noise depends on the weights, not on the code).
    upsampled = stylelib.optimize._resize(images[steps], (height, width))
    extractor = stylelib.FeatureExtractor(
        list(result.preset.content_layers), list(result.preset.style_layers), weights="random"
    )
    objective = stylelib.StyleObjective(extractor, content, style, result.preset)
    assert fine[0] == pytest.approx(float(objective(upsampled)[0]), rel=1e-4)


def test_scale_steps_validation(content_image, style_image):
    with pytest.raises(ValueError, match="scale_steps"):
        stylelib.stylize(
            content_image, style_image, scales=[64], scale_steps=[1, 2], weights="random"
        )


def test_mixed_precision_extractor_gives_close_float32_features(content_image):
    # On a CPU stylize keeps float32; the float16 extractor is built explicitly to check it.
    layers = (["block4_conv2"], ["block1_conv1", "block3_conv1"])
    full = stylelib.FeatureExtractor(*layers, weights="random")
    half = stylelib.FeatureExtractor(*layers, weights="random", precision="mixed_float16")
    a, b = full(content_image), half(content_image)
    for name in layers[1]:
        assert b.style[name].dtype == tf.float32
        scale = float(tf.reduce_max(tf.abs(a.style[name])))
        np.testing.assert_allclose(b.style[name], a.style[name], atol=2e-2 * scale)
    with pytest.raises(ValueError, match="precision"):
        stylelib.FeatureExtractor(*layers, weights="random", precision="float16")


def test_mixed_precision_stays_float32_without_a_gpu(content_image, style_image):
    result = stylelib.stylize(
        content_image, style_image, steps=1, mixed_precision=True, weights="random"
    )
    expected = "mixed_float16" if stylelib.gpu_available() else "float32"
    assert result.extra["precision"] == expected


def test_auto_scales_start_at_the_measured_size():
    start, coarsest = stylelib.optimize.AUTO_SCALES_FROM, stylelib.optimize.AUTO_COARSEST
    assert stylelib.auto_scales(start - 1) == [start - 1]
    assert stylelib.auto_scales(256, start=256, coarsest=128) == [128, 256]
    assert stylelib.auto_scales(384, start=256, coarsest=128) == [192, 384]
    assert stylelib.auto_scales(1024, start=256, coarsest=128) == [128, 256, 512, 1024]
    for longer in (start, 2 * start, 3 * start):
        sides = stylelib.auto_scales(longer)
        assert sides[-1] == longer and len(sides) >= 2 and min(sides) >= coarsest
        assert all(b == 2 * a for a, b in zip(sides, sides[1:], strict=False))
    assert stylelib.scale_sizes(300, 400, "auto") == stylelib.scale_sizes(
        300, 400, stylelib.auto_scales(400)
    )


def test_defaults_are_lbfgs_and_auto_scales(monkeypatch):
    """stylize's defaults: L-BFGS, coarse to fine from AUTO_SCALES_FROM px (README, "Speed").

    The run uses a 96 px image with auto_scales' thresholds lowered to 96 and 48 px (what
    stylize's default scales="auto" calls, at call time), which runs the same code as a 512 px
    image at a fraction of the cost; the 512 px plan itself is checked without running it.
    """
    assert stylelib.auto_scales(stylelib.optimize.AUTO_SCALES_FROM) == [128, 256, 512]
    monkeypatch.setattr(stylelib.optimize.auto_scales, "__defaults__", (96, 48))
    content = stylelib.sample_image("landscape", 96)
    style = stylelib.sample_image("mosaic", 64)
    result = stylelib.stylize(content, style, steps=2, weights="random", max_dim=None)
    assert result.preset.optimizer == stylelib.DEFAULT_OPTIMIZER == "lbfgs"
    sides = [max(d["size"]) for d in result.extra["scales"]]
    assert sides == [48, 96] == stylelib.auto_scales(96)
    small = stylelib.sample_image("landscape", 64)
    single = stylelib.stylize(small, style, steps=1, weights="random")
    assert [max(d["size"]) for d in single.extra["scales"]] == [64]
    adam = stylelib.stylize(content, style, steps=1, optimizer="adam", weights="random")
    assert adam.preset.optimizer == "adam" and adam.preset.learning_rate == 0.02
    # Adam stays at one scale by default: with the tutorial preset it is the tutorial's loop.
    assert [max(d["size"]) for d in adam.extra["scales"]] == [96]


@pytest.mark.parametrize("seed", [2**63, -(2**63) - 1, 1.5, True, "7"])
def test_bad_seed_names_the_argument(content_image, style_image, seed):
    with pytest.raises(ValueError, match="^seed must be"):
        stylelib.stylize(content_image, style_image, seed=seed, init="noise", weights="random")
