"""Thread safety: two stylize calls at once, in two threads, give what they give one after the other.

The interactive studio runs stylize in a worker thread while the notebook goes on; these tests run
two calls behind a barrier, so that both build the shared VGG19 and trace their steps at once.
"""

from __future__ import annotations

import threading
import time
import types

import numpy as np
import pytest
import tensorflow as tf

import stylelib
from stylelib import model as model_module

from .conftest import smooth_image

#: Seconds a thread may take before the test calls it stuck (generous: the CPU is shared).
JOIN_TIMEOUT = 600


def run_together(*functions):
    """Run each function in its own thread, all released at once by a barrier; return their
    results in order. An exception raised in a thread is raised here (the first one)."""
    barrier = threading.Barrier(len(functions), timeout=JOIN_TIMEOUT)
    results = [None] * len(functions)
    errors = []

    def work(index, function):
        try:
            barrier.wait()
            results[index] = function()
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread below
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=(i, f), daemon=True) for i, f in enumerate(functions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is still running"
    if errors:
        raise errors[0]
    return results


def test_run_together_reraises_an_exception_from_a_thread():
    def fails():
        raise ZeroDivisionError("raised in a worker thread")

    with pytest.raises(ZeroDivisionError, match="worker thread"):
        run_together(lambda: 1, fails)
    assert run_together(lambda: 1, lambda: 2) == [1, 2]


def test_concurrent_first_uses_build_the_model_once(monkeypatch):
    """Eight threads ask for the same weights on an empty cache at once: one build, one object.

    The builder is replaced by one that counts, waits a little (so the threads overlap inside it,
    as they do in a real multi-second build) and returns a fresh object."""
    monkeypatch.setattr(model_module, "_MODEL_CACHE", {})
    builds = []

    def slow_build(info):
        builds.append(info.spec)
        time.sleep(0.2)
        return types.SimpleNamespace(spec=info.spec)

    monkeypatch.setattr(model_module, "_build", slow_build)
    models = run_together(*[lambda: stylelib.load_vgg19("random")] * 8)
    assert builds == ["random"]
    assert all(model is models[0] for model in models)
    assert models[0].trainable is False


def test_the_shared_model_is_float32_whatever_policy_the_first_thread_set(monkeypatch):
    """Keras 3 keeps its dtype policy per thread; the cached model must not depend on which
    thread built it first, so a thread that set "mixed_float16" still gets (and shares) float32."""
    monkeypatch.setattr(model_module, "_MODEL_CACHE", {})

    def build_under_mixed_policy():
        tf.keras.mixed_precision.set_global_policy("mixed_float16")
        try:
            return stylelib.load_vgg19("random")
        finally:
            tf.keras.mixed_precision.set_global_policy("float32")

    (vgg,) = run_together(build_under_mixed_policy)
    assert {layer.compute_dtype for layer in vgg.layers[1:]} == {"float32"}
    assert stylelib.load_vgg19("random") is vgg


def test_the_float16_copy_is_made_once_and_shared(monkeypatch):
    monkeypatch.setattr(model_module, "_FLOAT16_CACHE", {})
    copies = []
    real_copy = model_module._float16_copy

    def counting_copy(model):
        copies.append(model)
        return real_copy(model)

    monkeypatch.setattr(model_module, "_float16_copy", counting_copy)
    layers = (["block2_conv2"], ["block1_conv1"])
    extractors = run_together(
        *[lambda: stylelib.FeatureExtractor(*layers, "random", "mixed_float16")] * 4
    )
    assert copies == [stylelib.load_vgg19("random")]
    conv = {id(e.model.get_layer("block1_conv1")) for e in extractors}
    assert len(conv) == 1
    assert extractors[0].model.get_layer("block1_conv1").compute_dtype == "float16"


def _history(result):
    return [(r.step, r.total, r.content, r.style, r.tv, r.scale) for r in result.history]


@pytest.mark.parametrize(
    "optimizer, steps", [("adam", 8), (None, 5)], ids=["adam-8-steps", "lbfgs-5-iterations"]
)
def test_two_stylize_calls_in_two_threads_give_what_they_give_one_after_the_other(
    monkeypatch, content_image, style_image, optimizer, steps
):
    """Two different calls (noise with a seed against one style; content start against another
    style) started at once on an empty model cache, then the same two one after the other: the
    same bits and the same loss histories. ``optimizer=None`` is the default (L-BFGS)."""
    other_style = stylelib.load_image(smooth_image(64, 48, seed=5), max_dim=64)
    options = {} if optimizer is None else {"optimizer": optimizer}
    calls = [
        lambda: stylelib.stylize(
            content_image,
            style_image,
            steps=steps,
            init="noise",
            seed=3,
            weights="random",
            **options,
        ),
        lambda: stylelib.stylize(
            content_image, other_style, steps=steps, init="content", weights="random", **options
        ),
    ]
    monkeypatch.setattr(model_module, "_MODEL_CACHE", {})
    together = run_together(*calls)
    alone = [call() for call in calls]
    assert not np.array_equal(alone[0].image.numpy(), alone[1].image.numpy())  # two different runs
    for concurrent, sequential in zip(together, alone, strict=True):
        np.testing.assert_array_equal(concurrent.image.numpy(), sequential.image.numpy())
        assert _history(concurrent) == _history(sequential)
