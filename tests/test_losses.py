"""Each formula against an independent NumPy computation, and each gradient against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import stylelib

RNG = np.random.default_rng(1234)


def np_gram(f: np.ndarray, normalize: str) -> np.ndarray:
    b, h, w, c = f.shape
    out = np.stack([f[i].reshape(h * w, c).T @ f[i].reshape(h * w, c) for i in range(b)])
    return {"none": out, "locations": out / (h * w), "elements": out / (c * h * w)}[normalize]


@pytest.mark.parametrize("normalize", ["none", "locations", "elements"])
def test_gram_matrix_matches_numpy_for_each_normalisation(normalize):
    f = RNG.normal(size=(2, 5, 7, 4)).astype(np.float64)
    got = stylelib.gram_matrix(tf.constant(f), normalize=normalize).numpy()
    assert got.shape == (2, 4, 4)
    np.testing.assert_allclose(got, np_gram(f, normalize), rtol=1e-10)


def test_gram_matrix_is_per_image_in_a_batch():
    f = RNG.normal(size=(3, 4, 4, 2))
    batched = stylelib.gram_matrix(tf.constant(f), "none").numpy()
    single = stylelib.gram_matrix(tf.constant(f[1:2]), "none").numpy()
    np.testing.assert_allclose(batched[1], single[0], rtol=1e-12)
    assert not np.allclose(batched[0], batched[1])


def test_gram_matrix_rejects_bad_arguments():
    with pytest.raises(ValueError, match="normalize"):
        stylelib.gram_matrix(tf.zeros((1, 2, 2, 3)), normalize="channels")
    with pytest.raises(ValueError, match=r"\[B, H, W, C\]"):
        stylelib.gram_matrix(tf.zeros((2, 2, 3)))


def test_content_loss_is_half_the_sum_of_squares():
    f, p = RNG.normal(size=(1, 3, 5, 6)), RNG.normal(size=(1, 3, 5, 6))
    expected = 0.5 * np.sum((f - p) ** 2)
    np.testing.assert_allclose(stylelib.content_loss(tf.constant(f), tf.constant(p)), expected)


def test_style_layer_loss_is_the_papers_formula():
    f, s = RNG.normal(size=(1, 4, 6, 5)), RNG.normal(size=(1, 4, 6, 5))
    n, m = 5, 4 * 6
    g, a = np_gram(f, "none")[0], np_gram(s, "none")[0]
    expected = np.sum((g - a) ** 2) / (4 * n**2 * m**2)
    got = stylelib.style_layer_loss(tf.constant(f), tf.constant(s)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_style_layer_loss_compares_per_location_grams_when_sizes_differ():
    f, s = RNG.normal(size=(1, 4, 6, 3)), RNG.normal(size=(1, 8, 5, 3))
    g, a = np_gram(f, "locations")[0], np_gram(s, "locations")[0]
    expected = np.sum((g - a) ** 2) / (4 * 3**2)
    got = stylelib.style_layer_loss(tf.constant(f), tf.constant(s)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_style_loss_is_the_weighted_sum_of_layer_losses():
    gen = {n: tf.constant(RNG.normal(size=(1, 4, 4, 3))) for n in "ab"}
    tgt = {n: tf.constant(RNG.normal(size=(1, 4, 4, 3))) for n in "ab"}
    e = {n: stylelib.style_layer_loss(gen[n], tgt[n]).numpy() for n in "ab"}
    got = stylelib.style_loss(gen, tgt, {"a": 0.25, "b": 2.0}).numpy()
    np.testing.assert_allclose(got, 0.25 * e["a"] + 2.0 * e["b"], rtol=1e-6)
    default = stylelib.style_loss(gen, tgt).numpy()
    np.testing.assert_allclose(default, 0.5 * (e["a"] + e["b"]), rtol=1e-6)


def test_mean_variants_are_means_of_squares():
    f, p = RNG.normal(size=(1, 3, 3, 4)), RNG.normal(size=(1, 3, 3, 4))
    np.testing.assert_allclose(
        stylelib.mean_content_loss(tf.constant(f), tf.constant(p)), np.mean((f - p) ** 2)
    )
    g, a = np_gram(f, "locations"), np_gram(p, "locations")
    np.testing.assert_allclose(
        stylelib.mean_gram_distance(tf.constant(g), tf.constant(a)), np.mean((g - a) ** 2)
    )


def np_tv(x: np.ndarray, kind: str, epsilon: float = 0.01) -> float:
    down, right = np.diff(x, axis=1), np.diff(x, axis=2)
    ops = {
        "absolute": np.abs,
        "squared": np.square,
        "smooth": lambda d: np.sqrt(d**2 + epsilon**2) - epsilon,
    }
    return float(ops[kind](down).sum() + ops[kind](right).sum())


@pytest.mark.parametrize("kind", ["absolute", "squared", "smooth"])
def test_total_variation_matches_numpy(kind):
    x = RNG.random(size=(2, 6, 5, 3))
    got = stylelib.total_variation_loss(tf.constant(x), kind).numpy()
    np.testing.assert_allclose(got, np_tv(x, kind), rtol=1e-10)


def test_smooth_total_variation_tends_to_the_absolute_form():
    x = tf.constant(RNG.random(size=(1, 8, 8, 3)))
    absolute = stylelib.total_variation_loss(x, "absolute").numpy()
    gaps = [
        absolute - stylelib.total_variation_loss(x, "smooth", eps).numpy()
        for eps in (0.1, 0.01, 0.001)
    ]
    assert 0 < gaps[2] < gaps[1] < gaps[0]  # always below |d|, closer as ε shrinks
    assert gaps[2] < 1e-2 * absolute


def test_absolute_total_variation_equals_tf_image_total_variation():
    x = tf.constant(RNG.random(size=(2, 7, 9, 3)), dtype=tf.float32)
    expected = tf.reduce_sum(tf.image.total_variation(x)).numpy()
    np.testing.assert_allclose(stylelib.total_variation_loss(x, "absolute"), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="kind"):
        stylelib.total_variation_loss(x, "isotropic")


def _check_gradient(fn, x: np.ndarray, eps: float = 1e-6, samples: int = 6):
    """Compare tape gradients with central finite differences at a few coordinates (float64)."""
    var = tf.Variable(x)
    with tf.GradientTape() as tape:
        value = fn(var)
    grad = tape.gradient(value, var).numpy()
    rng = np.random.default_rng(0)
    for _ in range(samples):
        idx = tuple(rng.integers(0, s) for s in x.shape)
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric = (fn(tf.constant(plus)).numpy() - fn(tf.constant(minus)).numpy()) / (2 * eps)
        np.testing.assert_allclose(grad[idx], numeric, rtol=1e-5, atol=1e-7)


def test_content_loss_gradient():
    p = tf.constant(RNG.normal(size=(1, 3, 4, 5)))
    _check_gradient(lambda f: stylelib.content_loss(f, p), RNG.normal(size=(1, 3, 4, 5)))


@pytest.mark.parametrize("normalize", ["none", "locations", "elements"])
def test_gram_matrix_gradient(normalize):
    w = tf.constant(RNG.normal(size=(1, 4, 4)))
    _check_gradient(
        lambda f: tf.reduce_sum(w * stylelib.gram_matrix(f, normalize)),
        RNG.normal(size=(1, 3, 3, 4)),
    )


def test_style_layer_loss_gradient():
    s = tf.constant(RNG.normal(size=(1, 3, 5, 4)))
    _check_gradient(lambda f: stylelib.style_layer_loss(f, s), RNG.normal(size=(1, 3, 5, 4)))


@pytest.mark.parametrize("kind", ["absolute", "squared", "smooth"])
def test_total_variation_gradient(kind):
    # Random values make ties (where |.| has no derivative) vanishingly unlikely.
    _check_gradient(lambda x: stylelib.total_variation_loss(x, kind), RNG.random(size=(1, 5, 4, 3)))


PAIR_LOSSES = [
    (stylelib.content_loss, "content_loss", "generated", "target"),
    (stylelib.mean_content_loss, "mean_content_loss", "generated", "target"),
    (stylelib.gram_style_distance, "gram_style_distance", "gram", "target_gram"),
    (stylelib.mean_gram_distance, "mean_gram_distance", "gram", "target_gram"),
]


@pytest.mark.parametrize("loss, name, first, second", PAIR_LOSSES)
def test_losses_of_two_maps_refuse_mismatched_shapes_instead_of_broadcasting(
    loss, name, first, second
):
    # The example: [1, 4, 4, 8] against [1, 1, 1, 8] used to broadcast and return 64.0.
    a, b = tf.ones([1, 4, 4, 8]), tf.zeros([1, 1, 1, 8])
    for x, y in ((a, b), (b, a), (a, np.zeros((1, 4, 4, 7), np.float32))):
        with pytest.raises(ValueError) as info:
            loss(x, y)
        message = str(info.value)
        assert message.startswith(f"{name}: {first} has shape {list(x.shape)} but {second}")
        assert f"has shape {list(np.shape(y))}" in message
    assert float(loss(a, tf.ones([1, 4, 4, 8]))) == 0.0  # equal shapes still work


@pytest.mark.parametrize("loss, name, first, second", PAIR_LOSSES)
def test_shape_check_happens_when_a_tf_function_is_traced(loss, name, first, second):
    compiled = tf.function(loss)
    # AutoGraph prefixes the message with the traced lines; it stays a ValueError.
    with pytest.raises(ValueError, match=rf"{name}: {first} has shape \[1, 4, 4, 8\] but {second}"):
        compiled(tf.ones([1, 4, 4, 8]), tf.zeros([1, 1, 1, 8]))
    assert float(compiled(tf.ones([1, 2, 2, 8]), tf.zeros([1, 2, 2, 8]))) > 0


def test_shape_check_with_sizes_unknown_until_run_time():
    spec = tf.TensorSpec([None, None, None, 8], tf.float32)
    compiled = tf.function(stylelib.content_loss, input_signature=[spec, spec])
    assert float(compiled(tf.ones([1, 4, 4, 8]), tf.zeros([1, 4, 4, 8]))) == 64.0
    with pytest.raises(tf.errors.InvalidArgumentError, match="content_loss: generated has shape"):
        compiled(tf.ones([1, 4, 4, 8]), tf.zeros([1, 1, 1, 8]))
    # Sizes known to differ already at tracing time are a ValueError, as in eager mode.
    with pytest.raises(ValueError, match=r"\[None, None, None, 8\].*\[None, None, None, 7\]"):
        tf.function(stylelib.content_loss).get_concrete_function(
            spec, tf.TensorSpec([None, None, None, 7], tf.float32)
        )


def test_style_layer_loss_needs_equal_batch_and_channels_but_not_sizes():
    f = tf.constant(RNG.normal(size=(1, 4, 6, 3)))
    assert np.isfinite(stylelib.style_layer_loss(f, tf.constant(RNG.normal(size=(1, 7, 2, 3)))))
    for other in ((1, 4, 6, 5), (2, 4, 6, 3)):
        target = tf.constant(RNG.normal(size=other))
        with pytest.raises(ValueError) as info:
            stylelib.style_layer_loss(f, target)
        message = str(info.value)
        assert "style_layer_loss" in message and "[1, 4, 6, 3]" in message
        assert str(list(other)) in message and "channels" in message


def test_style_loss_needs_the_same_layer_names():
    maps = {n: tf.constant(RNG.normal(size=(1, 4, 4, 3))) for n in "abc"}
    generated = {n: maps[n] for n in "ab"}
    with pytest.raises(ValueError, match=r"targets .*missing \['b'\], not in generated \['c'\]"):
        stylelib.style_loss(generated, {n: maps[n] for n in "ac"})
    with pytest.raises(ValueError, match=r"layer_weights .*missing \['b'\]"):
        stylelib.style_loss(generated, generated, {"a": 1.0})
    with pytest.raises(ValueError, match=r"layer_weights .*not in generated \['z'\]"):
        stylelib.style_loss(generated, generated, {"a": 1.0, "b": 1.0, "z": 1.0})
    with pytest.raises(ValueError, match="no layers"):
        stylelib.style_loss({}, {})


def test_losses_accept_numpy_features():
    f, p = RNG.normal(size=(1, 3, 3, 2)), RNG.normal(size=(1, 3, 3, 2))
    np.testing.assert_allclose(stylelib.content_loss(f, p), 0.5 * np.sum((f - p) ** 2))
    with pytest.raises(ValueError, match=r"\[1, 3, 3, 2\].*\[3, 3, 2\]"):
        stylelib.content_loss(f, p[0])
