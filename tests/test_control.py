"""Control over the result (notebook 08): colours, several styles, style scale, masks."""

from __future__ import annotations

import numpy as np
import pytest

import stylelib
from stylelib import control
from stylelib._tf import tf
from stylelib.losses import guided_gram_matrix
from stylelib.objective import StyleObjective, style_blend_weights

from .conftest import smooth_image


def _random_image(height: int, width: int, seed: int) -> tf.Tensor:
    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(0, 1, size=(1, height, width, 3)).astype(np.float32))


# --- colour spaces ---------------------------------------------------------------------------


def test_yiq_round_trip_and_luminance():
    image = _random_image(8, 9, 0)
    back = control.yiq_to_rgb(control.rgb_to_yiq(image))
    np.testing.assert_allclose(back.numpy(), image.numpy(), atol=2e-6)
    white, black = tf.ones([1, 2, 2, 3]), tf.zeros([1, 2, 2, 3])
    np.testing.assert_allclose(control.rgb_to_yiq(white).numpy()[..., 0], 1.0, atol=1e-6)
    # grey has no colour: I = Q = 0
    np.testing.assert_allclose(control.rgb_to_yiq(0.3 * white).numpy()[..., 1:], 0.0, atol=1e-6)
    assert float(tf.reduce_max(control.luminance(black))) == 0.0
    # NTSC luminance weights
    red = tf.constant([[[[1.0, 0.0, 0.0]]]])
    assert float(control.luminance(red)[0, 0, 0, 0]) == pytest.approx(0.299)


def test_match_luminance_matches_mean_and_std():
    style = control.luminance(_random_image(20, 30, 1)) * 0.3
    content = control.luminance(_random_image(16, 16, 2)) * 0.8 + 0.1
    matched = control.match_luminance(style, content)
    assert matched.shape == style.shape
    assert float(tf.reduce_mean(matched)) == pytest.approx(float(tf.reduce_mean(content)), abs=1e-5)
    assert float(tf.math.reduce_std(matched)) == pytest.approx(
        float(tf.math.reduce_std(content)), rel=1e-4
    )


def test_with_content_colors_keeps_chroma_where_not_clipped():
    image, content = _random_image(12, 12, 3), _random_image(12, 12, 4)
    result = control.with_content_colors(image, content)
    yiq_content = control.rgb_to_yiq(content)
    unclipped = control.yiq_to_rgb(
        tf.concat([control.luminance(image), yiq_content[..., 1:]], axis=-1)
    )
    inside = tf.reduce_all((unclipped >= 0) & (unclipped <= 1), axis=-1)
    assert 0 < float(tf.reduce_mean(tf.cast(inside, tf.float32))) < 1  # both cases occur
    chroma = tf.abs(control.rgb_to_yiq(result)[..., 1:] - yiq_content[..., 1:])
    assert float(tf.reduce_max(tf.boolean_mask(chroma, inside))) < 1e-5
    assert float(tf.reduce_max(tf.boolean_mask(chroma, ~inside))) > 1e-3
    np.testing.assert_allclose(
        control.luminance(result).numpy()[inside.numpy()],
        control.luminance(image).numpy()[inside.numpy()],
        atol=1e-5,
    )


@pytest.mark.parametrize("method", control.COLOR_MATCH_METHODS)
def test_match_colors_gives_the_content_mean_and_covariance(method):
    style = tf.constant(smooth_image(40, 30, seed=5)[None] * 0.5)
    content = tf.constant(smooth_image(24, 32, seed=6)[None])
    matched = control.match_colors(style, content, method, clip=False)
    assert matched.shape == style.shape
    mean_m, cov_m = control.color_statistics(matched)
    mean_c, cov_c = control.color_statistics(content)
    np.testing.assert_allclose(mean_m, mean_c, atol=1e-5)
    np.testing.assert_allclose(cov_m, cov_c, atol=1e-5)
    clipped = control.match_colors(style, content, method)
    assert 0.0 <= float(tf.reduce_min(clipped)) and float(tf.reduce_max(clipped)) <= 1.0


def test_match_colors_eigen_does_not_depend_on_channel_order_cholesky_does():
    style, content = _random_image(20, 20, 7) ** 2, _random_image(20, 20, 8)
    for method, same in (("eigen", True), ("cholesky", False)):
        plain = control.match_colors(style, content, method, clip=False)
        swapped = control.match_colors(style[..., ::-1], content[..., ::-1], method, clip=False)
        gap = float(tf.reduce_max(tf.abs(swapped[..., ::-1] - plain)))
        assert (gap < 1e-5) is same, (method, gap)


def test_match_colors_refuses_a_bad_method_and_shape():
    with pytest.raises(ValueError, match="method must be one of"):
        control.match_colors(_random_image(4, 4, 0), _random_image(4, 4, 1), "svd")
    with pytest.raises(ValueError, match=r"style must have shape \[1, H, W, 3\]"):
        control.match_colors(np.zeros((1, 4, 4, 1)), _random_image(4, 4, 1))


def test_match_colors_of_a_flat_style_stays_finite():
    flat = tf.fill([1, 8, 8, 3], 0.5)
    matched = control.match_colors(flat, _random_image(8, 8, 2))
    assert np.isfinite(matched.numpy()).all()


# --- masks and guided Gram matrices -----------------------------------------------------------


def test_guided_gram_with_an_all_ones_guide_is_the_gram_matrix_exactly():
    features = _random_image(6, 7, 9) * 3.0
    ones = tf.ones([1, 6, 7, 1])
    assert np.array_equal(
        guided_gram_matrix(features, ones).numpy(), stylelib.gram_matrix(features).numpy()
    )


def test_guided_gram_of_a_binary_guide_is_the_gram_of_the_region():
    features = tf.constant(np.random.default_rng(3).normal(size=(1, 6, 8, 5)).astype(np.float32))
    guide = np.zeros((1, 6, 8, 1), np.float32)
    guide[:, :, :3] = 1.0
    expected = stylelib.gram_matrix(features[:, :, :3, :])
    np.testing.assert_allclose(
        guided_gram_matrix(features, guide).numpy(), expected.numpy(), rtol=1e-5
    )
    assert float(tf.reduce_max(tf.abs(guided_gram_matrix(features, np.zeros_like(guide))))) == 0


def test_guided_gram_refuses_a_guide_of_another_size():
    with pytest.raises(ValueError, match="guide must have the features' height and width"):
        guided_gram_matrix(tf.ones([1, 6, 8, 5]), tf.ones([1, 3, 4, 1]))


def test_pooled_masks_line_up_with_the_vgg19_layers():
    height, width = 45, 67  # odd sizes: pooling drops the last row or column
    layers = list(stylelib.DEFAULT_STYLE_LAYERS)
    extractor = stylelib.FeatureExtractor(["block5_conv2"], layers, weights="random")
    features = extractor(tf.zeros([1, height, width, 3])).style
    mask = tf.ones([1, height, width, 1])
    for layer in layers:
        pooled = control.pooled_mask(mask, control.pools_before(layer))
        assert pooled.shape[1:3] == features[layer].shape[1:3], layer
        assert float(tf.reduce_min(pooled)) == 1.0
    assert control.pools_before("block3_pool") == 3


def test_load_mask_shapes_values_and_files(tmp_path):
    size = (30, 40)
    for shape in ((30, 40), (30, 40, 1), (1, 30, 40, 1), (60, 80)):
        mask = control.load_mask(np.full(shape, 0.5, np.float32), size)
        assert mask.shape == (1, 30, 40, 1)
        np.testing.assert_allclose(mask.numpy(), 0.5, atol=1e-6)
    with pytest.raises(ValueError, match=r"masks\[1\] must have values in \[0, 1\], got 0 to 2"):
        control.load_mask(np.linspace(0, 2, 1200).reshape(30, 40), size, name="masks[1]")
    with pytest.raises(ValueError, match="aspect ratio"):
        control.load_mask(np.ones((40, 40)), size)
    with pytest.raises(ValueError, match="zero everywhere"):
        control.load_mask(np.zeros((30, 40)), size)
    with pytest.raises(ValueError, match=r"must be \[H, W\]"):
        control.load_mask(np.ones((2, 30, 40)), size)
    white_left = np.zeros((60, 80, 3), np.float32)
    white_left[:, :40] = 1.0
    path = tmp_path / "mask.png"
    stylelib.save_image(white_left, path)
    mask = control.load_mask(path, size)  # read as luminance, halved to 30 x 40
    assert float(mask[0, 5, 5, 0]) == pytest.approx(1.0, abs=1e-3)
    assert float(mask[0, 5, 35, 0]) == pytest.approx(0.0, abs=1e-3)


def test_threshold_mask():
    image = tf.constant(np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 4, 16, 1) * [1, 1, 1])
    on = control.threshold_mask(image, 0.5)
    off = control.threshold_mask(image, 0.5, above=False)
    np.testing.assert_allclose((on + off).numpy(), 1.0, atol=1e-6)
    assert float(on[0, 0, 0, 0]) < 0.01 and float(on[0, -1, -1, 0]) > 0.99
    sharp, soft = control.threshold_mask(image, 0.5, softness=0.01), on
    middle = tf.abs(image[..., :1] - 0.45) < 0.02
    assert float(tf.reduce_min(tf.boolean_mask(soft, middle))) > float(
        tf.reduce_max(tf.boolean_mask(sharp, middle))
    )
    with pytest.raises(ValueError, match="channel must be one of"):
        control.threshold_mask(image, channel="alpha")


# --- several styles -------------------------------------------------------------------------


def test_style_blend_weights():
    assert style_blend_weights(None, 4) == [0.25] * 4
    assert style_blend_weights([3, 1], 2) == [0.75, 0.25]
    for bad, message in (
        ([1], "1 weights for 2 style"),
        ([1, -1], ">= 0"),
        ([0, 0], "not all be 0"),
        ([1, float("nan")], ">= 0"),
        ("1,2", "a list of 2 numbers"),
    ):
        with pytest.raises(ValueError, match=message):
            style_blend_weights(bad, 2)


@pytest.fixture(scope="module")
def setting(content_image, style_image):
    preset = stylelib.make_preset("tutorial")
    extractor = stylelib.FeatureExtractor(
        list(preset.content_layers), list(preset.style_layers), weights="random"
    )
    other = stylelib.load_image(smooth_image(50, 70, seed=11), max_dim=64)
    image = stylelib.initial_image(content_image, "noise", seed=3)
    return preset, extractor, content_image, style_image, other, image


def _value_and_gradient(objective, image):
    with tf.GradientTape() as tape:
        tape.watch(image)
        total = objective(image)[0]
    return float(total), tape.gradient(total, image).numpy()


def test_blend_one_zero_is_the_single_style_objective(setting):
    preset, extractor, content, style, other, image = setting
    single = StyleObjective(extractor, content, style, preset)
    blended = StyleObjective(extractor, content, [style, other], preset, style_blend=[1, 0])
    assert [float(v) for v in single(image)] == [float(v) for v in blended(image)]
    reverse = StyleObjective(extractor, content, [style, other], preset, style_blend=[0, 1])
    assert float(reverse(image)[2]) != float(single(image)[2])


def test_blending_targets_differs_from_blending_losses_by_a_constant(setting):
    """Σ_k b_k E(G, A_k) = E(G, Σ_k b_k A_k) + const: same gradient, so the choice is the reading."""
    preset, extractor, content, style, other, image = setting
    blend = [0.3, 0.7]
    blended = StyleObjective(extractor, content, [style, other], preset, style_blend=blend)
    each = [StyleObjective(extractor, content, s, preset) for s in (style, other)]
    gaps = []
    for candidate in (image, content, 0.5 * (image + content)):
        by_losses = sum(b * float(o.terms(candidate)[1]) for b, o in zip(blend, each, strict=True))
        gaps.append(by_losses - float(blended.terms(candidate)[1]))
    assert gaps[0] > 0
    np.testing.assert_allclose(gaps, gaps[0], rtol=1e-3)


def test_one_all_ones_mask_is_the_unmasked_objective(setting):
    preset, extractor, content, style, _, image = setting
    plain = StyleObjective(extractor, content, style, preset)
    masked = StyleObjective(extractor, content, style, preset, masks=[tf.ones([1, 48, 64, 1])])
    assert [float(v) for v in plain(image)] == [float(v) for v in masked(image)]
    value_p, grad_p = _value_and_gradient(plain, image)
    value_m, grad_m = _value_and_gradient(masked, image)
    assert value_p == value_m
    np.testing.assert_allclose(grad_m, grad_p, rtol=1e-5, atol=1e-6 * np.abs(grad_p).max())


def test_masks_send_each_style_to_its_region(setting):
    """With complementary masks, each style's loss only sees its half of the image."""
    preset, extractor, content, style, other, image = setting
    left = np.zeros((1, 48, 64, 1), np.float32)
    left[:, :, :32] = 1.0
    masked = StyleObjective(extractor, content, [style, other], preset, masks=[left, 1.0 - left])
    # n · b_k · a_k: two styles, equal blend, each mask covering half the image
    assert masked.region_weights == [pytest.approx(0.5), pytest.approx(0.5)]
    # Changing the right half leaves style 0's guided Gram matrices (left mask) unchanged at the
    # shallow layers, whose receptive fields stay inside the left half away from the border.
    changed = tf.concat([image[:, :, :32], tf.zeros_like(image[:, :, 32:])], axis=2)
    features_a, features_b = extractor(image).style, extractor(changed).style
    name = "block1_conv1"
    mask = masked.masks[0][name]
    inner = np.zeros(mask.shape, np.float32)
    inner[:, :, :30] = 1.0
    gram_a = guided_gram_matrix(features_a[name], inner)
    gram_b = guided_gram_matrix(features_b[name], inner)
    np.testing.assert_allclose(gram_a.numpy(), gram_b.numpy(), rtol=1e-6)
    swapped = StyleObjective(extractor, content, [other, style], preset, masks=[left, 1.0 - left])
    assert float(swapped(image)[2]) != pytest.approx(float(masked(image)[2]), rel=1e-3)


# --- stylize ---------------------------------------------------------------------------------

RUN = {"steps": 3, "weights": "random", "scales": None}


def test_stylize_with_several_styles(content_image, style_image):
    other = stylelib.load_image(smooth_image(50, 70, seed=11), max_dim=64)
    single = stylelib.stylize(content_image, style_image, **RUN)
    first = stylelib.stylize(content_image, [style_image, other], style_blend=[1, 0], **RUN)
    assert [r.total for r in single.history] == [r.total for r in first.history]
    both = stylelib.stylize(content_image, [style_image, other], **RUN)
    assert both.extra["styles"] == 2 and both.extra["style_blend"] == [0.5, 0.5]
    assert both.history[0].total != single.history[0].total


def test_stylize_style_scale_resizes_the_style(content_image, style_image):
    result = stylelib.stylize(content_image, style_image, style_scale=1.5, **RUN)
    (scale,) = result.extra["scales"]
    assert scale["style_sizes"] == [[96, 96]]  # 64 x 64 style, times 1.5
    plain = stylelib.stylize(content_image, style_image, **RUN)
    assert plain.extra["scales"][0]["style_sizes"] == [[64, 64]]
    assert result.history[0].style != plain.history[0].style


def test_stylize_preserve_colors_luminance_keeps_the_content_chroma(content_image, style_image):
    seen = []
    result = stylelib.stylize(
        content_image,
        style_image,
        preserve_colors="luminance",
        callback=lambda step, image, record: seen.append(image),
        callback_every=1,
        **RUN,
    )
    yiq_content = control.rgb_to_yiq(content_image)
    unclipped = control.yiq_to_rgb(
        tf.concat([control.luminance(result.image), yiq_content[..., 1:]], axis=-1)
    )
    inside = tf.reduce_all((unclipped >= 0) & (unclipped <= 1), axis=-1)
    assert float(tf.reduce_mean(tf.cast(inside, tf.float32))) > 0.5
    chroma = tf.abs(control.rgb_to_yiq(result.image)[..., 1:] - yiq_content[..., 1:])
    assert float(tf.reduce_max(tf.boolean_mask(chroma, inside))) < 1e-5
    # the callback sees the content's colours too, not the grey image being optimised
    assert np.array_equal(seen[-1].numpy(), result.image.numpy())
    grey = result.image - tf.reduce_mean(result.image, axis=-1, keepdims=True)
    assert float(tf.reduce_max(tf.abs(grey))) > 0.05


def test_stylize_preserve_colors_histogram_uses_matched_styles(content_image, style_image):
    result = stylelib.stylize(content_image, style_image, preserve_colors="histogram", **RUN)
    matched = control.match_colors(style_image, content_image)
    expected = stylelib.stylize(content_image, matched, **RUN)
    assert [r.total for r in result.history] == [r.total for r in expected.history]


def test_stylize_with_masks(content_image, style_image):
    other = stylelib.load_image(smooth_image(50, 70, seed=11), max_dim=64)
    mask = control.threshold_mask(content_image, 0.5)
    result = stylelib.stylize(content_image, [style_image, other], masks=[mask, 1.0 - mask], **RUN)
    assert np.isfinite(result.final_loss)
    big = stylelib.sample_image("landscape", 96)
    big_mask = control.threshold_mask(big, 0.5)
    coarse = stylelib.stylize(
        big, [style_image, other], masks=[big_mask, 1.0 - big_mask], **{**RUN, "scales": 2}
    )
    assert [d["size"] for d in coarse.extra["scales"]] == [[36, 48], [72, 96]]


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"style_scale": 0.1}, "style_scale 0.1 would make style image 0 6 px"),
        ({"style_scale": -1}, "style_scale must be a finite number > 0"),
        ({"style_blend": [1, 2]}, "style_blend has 2 weights for 1 style"),
        ({"preserve_colors": "yuv"}, "preserve_colors must be None or one of"),
        ({"masks": [np.ones((48, 64))] * 2}, r"masks: 2 mask\(s\) for 1 style"),
        ({"masks": [np.ones((10, 64))]}, r"masks\[0\] is 64x10 px"),
        ({"masks": "mask.png"}, "masks must be a list"),
    ],
)
def test_stylize_refuses_bad_control_settings(content_image, style_image, keywords, message):
    with pytest.raises(ValueError, match=message):
        stylelib.stylize(content_image, style_image, **{**RUN, **keywords})


def test_stylize_refuses_an_empty_style_list(content_image):
    with pytest.raises(ValueError, match="style is an empty list"):
        stylelib.stylize(content_image, [], **RUN)


# --- arrays and lists anywhere a tensor goes ---------------------------------------------------


def test_losses_take_arrays_and_nested_lists():
    features = np.arange(24, dtype=np.float64).reshape(1, 2, 3, 4) / 24
    expected = stylelib.gram_matrix(tf.constant(features, tf.float32)).numpy()
    np.testing.assert_allclose(stylelib.gram_matrix(features).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(stylelib.gram_matrix(features.tolist()).numpy(), expected, rtol=1e-6)
    assert float(stylelib.content_loss(features.tolist(), features)) == 0.0
    assert float(stylelib.style_layer_loss(features, features.tolist())) == 0.0
    assert float(stylelib.mean_gram_distance(expected, expected.tolist())) == 0.0
    assert float(stylelib.total_variation_loss(np.zeros((1, 4, 4, 3)).tolist())) == 0.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([[1.0, 2.0], [3.0]], "gram_matrix: features is not a rectangular array"),
        (np.ones((2, 2)), r"gram_matrix: features must be \[B, H, W, C\], got shape \[2, 2\]"),
        (np.ones((1, 2, 2, 3), bool), "gram_matrix: features must be numbers"),
        ("image.png", "gram_matrix: features must be numbers"),
        (tf.ones([1, 2, 2, 3], tf.int32), "gram_matrix: features must hold floats"),
    ],
)
def test_losses_refuse_what_is_not_a_feature_map(value, message):
    with pytest.raises(ValueError, match=message):
        stylelib.gram_matrix(value)


def test_stylize_and_the_objective_take_nested_lists(content_image, style_image, setting):
    """A nested list [1, H, W, 3] is one image, a list of images several styles."""
    preset, extractor, *_ = setting
    as_list = style_image.numpy().tolist()
    by_list = StyleObjective(extractor, content_image, as_list, preset)
    by_tensor = StyleObjective(extractor, content_image, style_image, preset)
    np.testing.assert_allclose(
        float(by_list(content_image)[0]), float(by_tensor(content_image)[0]), rtol=1e-6
    )
    result = stylelib.stylize(
        content_image.numpy().tolist(), [as_list, style_image], max_dim=None, **RUN
    )
    assert result.extra["styles"] == 2 and result.image.shape == content_image.shape


def test_gaussian_blur_widens_a_sharp_mask_edge_in_pixels():
    image = np.full((1, 8, 32, 3), 0.3, np.float32)
    image[:, :, 16:] = 0.7  # a step edge: softness alone keeps the mask's edge one pixel wide
    sharp = control.threshold_mask(image, 0.5, softness=0.3).numpy()[0, 0, :, 0]
    assert np.count_nonzero(np.abs(np.diff(sharp)) > 1e-3) == 1
    blurred = control.threshold_mask(image, 0.5, softness=0.01, blur=3).numpy()[0, 0, :, 0]
    assert np.count_nonzero((blurred > 0.05) & (blurred < 0.95)) >= 6
    assert np.all(np.diff(blurred) >= -1e-6) and blurred[0] < 0.01 and blurred[-1] > 0.99
    flat = control.gaussian_blur(np.full((1, 5, 7, 1), 0.4, np.float32), 10)
    np.testing.assert_allclose(flat.numpy(), 0.4, atol=1e-6)
    with pytest.raises(ValueError, match="sigma must be a number >= 0"):
        control.gaussian_blur(np.ones((1, 4, 4, 1)), -1)


def test_luminance_only_transfer_optimises_the_luminance_alone(content_image, style_image):
    """VGG19 sees grey: two images with the same luminance have the same objective."""
    preset = stylelib.make_preset("tutorial")
    extractor = stylelib.FeatureExtractor(
        list(preset.content_layers), list(preset.style_layers), weights="random"
    )
    grey = control.gray_rgb(control.luminance(content_image))
    objective = StyleObjective(extractor, grey, style_image, preset, luminance_only=True)
    values_colour = [float(v) for v in objective(content_image)]
    values_grey = [float(v) for v in objective(grey)]
    np.testing.assert_allclose(values_colour, values_grey, rtol=1e-5, atol=1e-3)
    plain = StyleObjective(extractor, grey, style_image, preset)
    assert float(plain(content_image)[0]) != pytest.approx(values_colour[0], rel=1e-3)
