"""Weights resolution, preprocessing and the feature extractor, with untrained weights only."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import stylelib
from stylelib import model as model_module


def _uncalibrated_vgg19():
    """The untrained VGG19 with Keras' initialisation only (what "random" meant before)."""
    vgg = tf.keras.applications.VGG19(include_top=False, weights=None)
    model_module._random_weights(vgg, model_module.RANDOM_WEIGHTS_SEED, calibrate=False)
    vgg.trainable = False
    return vgg


def test_random_weights_are_seeded_scaled_glorot_draws_and_the_model_is_frozen():
    vgg = stylelib.load_vgg19("random")
    assert vgg.trainable is False and not vgg.trainable_weights
    fresh = model_module._build(stylelib.resolve_weights("random"))  # built anew, not cached
    for a, b in zip(vgg.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    glorot = _uncalibrated_vgg19()
    kernel = glorot.get_layer("block1_conv1").get_weights()[0]
    limit = np.sqrt(6 / (3 * 3 * 3 + 3 * 3 * 64))  # Glorot uniform, as Keras initialises VGG19
    assert np.abs(kernel).max() <= limit
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.05 * limit
    # Calibration multiplies each layer's Glorot draws by one positive gain and keeps zero biases.
    for layer in glorot.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            drawn = layer.get_weights()[0]
            scaled, bias = vgg.get_layer(layer.name).get_weights()
            gain = float(np.sum(scaled * drawn) / np.sum(drawn * drawn))
            assert gain > 0 and not np.any(bias), layer.name
            np.testing.assert_allclose(scaled, gain * drawn, rtol=1e-5, atol=1e-8 * gain)


def test_calibrated_layers_have_the_target_size_on_the_calibration_images():
    images = model_module.calibration_images()
    targets = model_module.random_feature_targets()
    assert len(targets) == 16 and targets["block1_conv1"] == model_module.RANDOM_FEATURE_RMS
    assert targets["block5_conv1"] == model_module.RANDOM_FEATURE_RMS  # the last style layer
    assert targets["block5_conv2"] == model_module.RANDOM_CONTENT_RMS
    calibrated = model_module.feature_rms(stylelib.load_vgg19("random"), images)
    for name, target in targets.items():  # gains are rounded to 3 digits: within 0.5 % each
        assert abs(calibrated[name] / target - 1) < 0.01, (name, calibrated[name], target)
    # Keras' initialisation lets the activations shrink layer after layer: the problem it solves.
    glorot = model_module.feature_rms(_uncalibrated_vgg19(), images)
    assert glorot["block5_conv1"] < glorot["block1_conv1"] / 30
    # On images it was not calibrated on, the size stays near the target.
    other = [stylelib.sample_image(name, max_dim=128) for name in ("hopper", "swirls")]
    for name, value in model_module.feature_rms(stylelib.load_vgg19("random"), other).items():
        assert 0.5 < value / targets[name] < 2, (name, value)


_spec = importlib.util.spec_from_file_location(
    "untrained_bench", Path(__file__).resolve().parents[1] / "benchmarks" / "untrained.py"
)
untrained_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(untrained_bench)


@pytest.mark.parametrize("init", ["calibrated", "glorot"])
def test_untrained_network_transfers_style_and_keeps_the_content(monkeypatch, init):
    """Tutorial preset, 64 px, 8 L-BFGS iterations: with the calibrated network the style term
    falls many times, the colours move toward the style's and the content's detail stays; with
    Keras' initialisation alone none of that happens (the optimiser only blurs)."""
    monkeypatch.setattr(model_module, "_MODEL_CACHE", {})
    if init == "glorot":
        model_module._MODEL_CACHE["random"] = _uncalibrated_vgg19()
    content = stylelib.sample_image("hopper", max_dim=64)
    style = stylelib.sample_image("waves", max_dim=64)
    result = stylelib.stylize(
        content, style, optimizer="lbfgs", steps=8, scales=None, weights="random"
    )
    fell = result.history[0].style / result.history[-1].style
    detail = untrained_bench.detail_correlation(result.image, content)
    moved = untrained_bench.colour_distance(result.image, style) / untrained_bench.colour_distance(
        content, style
    )
    transferred = fell > 8 and moved < 0.8 and detail > 0.7
    assert transferred == (init == "calibrated"), (init, fell, moved, detail)


def test_resolution_order_and_descriptions(monkeypatch, tmp_path):
    assert stylelib.resolve_weights().spec == "imagenet"
    assert stylelib.resolve_weights().origin == "default"
    monkeypatch.setenv(stylelib.WEIGHTS_ENV, "random")
    info = stylelib.weights_in_use()
    assert (info.spec, info.trained, info.origin) == ("random", False, "environment")
    assert "untrained" in str(info) and "NOT" in str(info)
    assert stylelib.resolve_weights("imagenet").origin == "argument"
    with pytest.raises(stylelib.WeightsError, match="no such weights file"):
        stylelib.resolve_weights(tmp_path / "missing.h5")
    monkeypatch.setenv(stylelib.WEIGHTS_ENV, str(tmp_path / "gone.h5"))
    with pytest.raises(stylelib.WeightsError, match=stylelib.WEIGHTS_ENV):
        stylelib.resolve_weights()


def test_imagenet_offline_raises_a_clear_weights_error(monkeypatch, tmp_path):
    """No network and an empty Keras cache: a WeightsError that says what to do."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(model_module, "_MODEL_CACHE", {})

    def offline(*args, **kwargs):
        raise OSError("network is unreachable (simulated by the test)")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    monkeypatch.setattr(socket.socket, "connect", offline)
    with pytest.raises(stylelib.WeightsError) as info:
        stylelib.load_vgg19("imagenet")
    message = str(info.value)
    for hint in ("STYLELIB_VGG19_WEIGHTS", "random", "internet"):
        assert hint in message


def test_imagenet_description_says_whether_the_weights_are_cached(monkeypatch, tmp_path):
    """Nothing cached: the first use needs the internet (~80 MB), and what to do offline; cached:
    where the file is. The Keras cache folder is moved with KERAS_HOME."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert model_module.keras_weights_dir() == tmp_path / "keras" / "models"
    assert model_module.cached_imagenet_weights() is None
    text = str(stylelib.weights_in_use("imagenet"))
    for hint in (
        "NOT downloaded",
        "internet",
        "80 MB",
        str(tmp_path / "keras" / "models"),
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "253f8cb515780f3b799900260a226db6",
        "STYLELIB_VGG19_WEIGHTS=",
        "random",
    ):
        assert hint in text, hint
    cached = tmp_path / "keras" / "models" / model_module.IMAGENET_WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"stand-in")
    assert model_module.cached_imagenet_weights() == cached
    text = str(stylelib.weights_in_use("imagenet"))
    assert str(cached) in text and "NOT" not in text and "internet" not in text


def test_the_expected_hash_is_the_one_keras_checks():
    import inspect

    vgg19 = pytest.importorskip("keras.src.applications.vgg19")
    source = inspect.getsource(vgg19)
    assert model_module.IMAGENET_WEIGHTS_FILE in source
    assert f'file_hash="{model_module.IMAGENET_WEIGHTS_MD5}"' in source


def test_local_weights_file_round_trip_and_bad_file(tmp_path):
    path = tmp_path / "vgg19_random.weights.h5"
    stylelib.load_vgg19("random").save_weights(path)
    loaded = stylelib.load_vgg19(path)
    assert loaded is not stylelib.load_vgg19("random")
    np.testing.assert_array_equal(
        loaded.get_layer("block3_conv2").get_weights()[0],
        stylelib.load_vgg19("random").get_layer("block3_conv2").get_weights()[0],
    )
    assert stylelib.weights_in_use(path).trained  # a file is assumed to be trained weights
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(stylelib.WeightsError, match="junk.weights.h5"):
        stylelib.load_vgg19(junk)


def test_preprocessing_is_caffe_style_and_deprocess_inverts_it():
    rgb = tf.constant(np.random.default_rng(0).random((1, 4, 5, 3)), dtype=tf.float32)
    x = stylelib.vgg_preprocess(rgb).numpy()
    manual = rgb.numpy()[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68])
    np.testing.assert_allclose(x, manual, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        stylelib.vgg_deprocess(tf.constant(x)).numpy(), rgb.numpy(), atol=1e-6
    )


def test_extractor_layers_shapes_and_values(content_image):
    extractor = stylelib.FeatureExtractor(
        ["block4_conv2"], list(stylelib.DEFAULT_STYLE_LAYERS), weights="random"
    )
    features = extractor(content_image)
    assert list(features.content) == ["block4_conv2"]
    assert list(features.style) == [f"block{i}_conv1" for i in range(1, 6)]
    h, w = content_image.shape[1:3]  # 48 x 64
    expected = {
        "block1_conv1": (h, w, 64),
        "block2_conv1": (h // 2, w // 2, 128),
        "block3_conv1": (h // 4, w // 4, 256),
        "block4_conv1": (h // 8, w // 8, 512),
        "block5_conv1": (h // 16, w // 16, 512),
    }
    for name, shape in expected.items():
        assert tuple(features.style[name].shape) == (1, *shape)
    assert tuple(features.content["block4_conv2"].shape) == (1, h // 8, w // 8, 512)
    # The extractor's block1_conv1 equals the full network's, fed with VGG preprocessing.
    vgg = stylelib.load_vgg19("random")
    probe = tf.keras.Model(vgg.input, vgg.get_layer("block1_conv1").output)
    np.testing.assert_allclose(
        features.style["block1_conv1"].numpy(),
        probe(stylelib.vgg_preprocess(content_image)).numpy(),
        rtol=1e-5,
        atol=1e-4,
    )
    assert float(tf.reduce_min(features.style["block1_conv1"])) >= 0.0  # post-ReLU


def test_extractor_computes_only_needed_layers():
    extractor = stylelib.FeatureExtractor(["block2_conv2"], ["block1_conv1"], weights="random")
    names = [layer.name for layer in extractor.model.layers]
    assert "block2_conv2" in names and "block3_conv1" not in names


def test_unknown_layer_lists_the_valid_names():
    with pytest.raises(stylelib.LayerError) as info:
        stylelib.FeatureExtractor(["block5_conv9"], ["block1_conv1"], weights="random")
    assert "block5_conv9" in str(info.value) and "block4_conv2" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_layer_table_receptive_fields():
    rows = {row["name"]: row for row in stylelib.vgg19_layer_table(224, 224)}
    assert len(rows) == 21
    assert rows["block1_conv1"]["receptive_field"] == 3
    assert rows["block1_conv2"]["receptive_field"] == 5
    assert rows["block1_pool"]["receptive_field"] == 6
    assert rows["block2_conv1"]["receptive_field"] == 10
    assert rows["block5_pool"]["shape"] == (7, 7, 512)
    assert rows["block5_conv4"]["receptive_field"] == 252
    assert [r for r in rows] == stylelib.vgg19_layer_names("random")
