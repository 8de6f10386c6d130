"""The loss terms of Gatys et al. (CVPR 2016), written exactly as the paper states them,
and the mean-squared variants the TensorFlow tutorial uses.

Notation (paper): a layer's feature map F has N channels and M = H*W positions, reshaped to an
M x N matrix. P is the content image's map, G and A the Gram matrices of the generated and the
style image. Introduced in notebooks 03 (content), 04 (Gram, style) and 05 (total variation).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._tf import tf

GRAM_NORMALIZATIONS = ("none", "locations", "elements")
TV_KINDS = ("absolute", "squared", "smooth")


def _as_float(value, name: str, function: str):
    """``value`` as a float tensor: tensors and variables as they are, NumPy arrays and nested lists
    of numbers as float32 (so every loss takes what TensorFlow ops take). Raises ValueError naming
    ``function`` and ``name`` for anything else: booleans, strings, ragged lists, integer tensors.
    """
    if isinstance(value, (tf.Tensor, tf.Variable)):
        if not value.dtype.is_floating:
            raise ValueError(
                f"{function}: {name} must hold floats, got a {value.dtype.name} tensor"
            )
        return value
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ValueError(
            f"{function}: {name} is not a rectangular array of numbers ({error})"
        ) from None
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"{function}: {name} must be numbers (a tensor, NumPy array or nested list), got "
            f"{type(value).__name__} of {array.dtype}"
        )
    return tf.convert_to_tensor(array, tf.float32)


def _static_shape(value) -> tf.TensorShape:
    """The shape known before running: of a tensor, variable, NumPy array or nested list."""
    shape = getattr(value, "shape", None)
    return tf.TensorShape(shape if shape is not None else np.shape(value))


def _shape_text(shape: tf.TensorShape) -> str:
    return "[unknown rank]" if shape.rank is None else str(shape.as_list())


def _check_features(features: tf.Tensor, name: str = "features", function: str = "") -> None:
    shape = _static_shape(features)
    if shape.rank != 4:
        where = f"{function}: " if function else ""
        raise ValueError(f"{where}{name} must be [B, H, W, C], got shape {_shape_text(shape)}")


def _feature_maps(function: str, **maps) -> list[tf.Tensor]:
    """Each keyword's value as a float feature map [B, H, W, C] (see _as_float), in order."""
    checked = []
    for name, value in maps.items():
        value = _as_float(value, name, function)
        _check_features(value, name, function)
        checked.append(value)
    return checked


def _check_same_shape(first, second, message: str, axes: tuple[int, ...] | None = None) -> None:
    """Refuse two tensors whose shapes (or whose sizes along ``axes``) differ, instead of broadcasting.

    ``message`` is formatted with ``{first}`` and ``{second}``, the two shapes. Sizes known before
    running are compared at once, in eager mode and while a tf.function is traced, raising
    ValueError. Sizes unknown until run time (a tf.function traced with ``None`` dimensions) get a
    runtime assertion, which raises tf.errors.InvalidArgumentError with the message and both
    shapes; XLA (``jit_compile=True``) drops such assertions, so there only known sizes are checked.
    """
    shape_a, shape_b = _static_shape(first), _static_shape(second)
    a, b = shape_a, shape_b
    if axes is not None and a.rank is not None and b.rank is not None:
        a, b = tf.TensorShape([a[i] for i in axes]), tf.TensorShape([b[i] for i in axes])
    if not a.is_compatible_with(b):
        raise ValueError(message.format(first=_shape_text(shape_a), second=_shape_text(shape_b)))
    if not (a.is_fully_defined() and b.is_fully_defined()):
        runtime_a, runtime_b = tf.shape(first), tf.shape(second)
        if axes is not None:
            runtime_a, runtime_b = tf.gather(runtime_a, axes), tf.gather(runtime_b, axes)
        text = message.format(first="x (below)", second="y (below)")
        tf.debugging.assert_equal(runtime_a, runtime_b, message=text, summarize=8)


def _check_pair(generated, target, function: str, names=("generated", "target")) -> None:
    """ValueError naming ``function`` and both shapes unless the two have the same shape."""
    first, second = names
    _check_same_shape(
        generated,
        target,
        f"{function}: {first} has shape {{first}} but {second} has shape {{second}}; "
        "they must be the same (no broadcasting)",
    )


def gram_matrix(features: tf.Tensor, normalize: str = "locations") -> tf.Tensor:
    """Channel-by-channel inner products of a feature map, per image in the batch.

    Args:
        features: float32 [B, H, W, C].
        normalize: "none" gives G = Fᵀ F with F reshaped to (H·W) x C; "locations" divides by
            H·W (the TensorFlow tutorial); "elements" divides by C·H·W (common in PyTorch code).

    Returns: float32 [B, C, C]. Introduced in notebook 04.
    Takes a tensor, a NumPy array or a nested list (see _as_float).
    """
    (features,) = _feature_maps("gram_matrix", features=features)
    if normalize not in GRAM_NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {GRAM_NORMALIZATIONS}, got {normalize!r}")
    gram = tf.einsum("bhwc,bhwd->bcd", features, features)
    shape = tf.shape(features)
    locations = tf.cast(shape[1] * shape[2], gram.dtype)
    if normalize == "locations":
        gram = gram / locations
    elif normalize == "elements":
        gram = gram / (locations * tf.cast(shape[3], gram.dtype))
    return gram


def guided_gram_matrix(features: tf.Tensor, guide: tf.Tensor) -> tf.Tensor:
    """The guided Gram matrix of Gatys et al. 2017: the Gram matrix of the features inside a region.

    With the guide m (a mask at this layer's resolution), the guided features are m·F and the
    guided Gram matrix is Σ_i m_i² f_i f_iᵀ / Σ_i m_i², the Gram matrix of the region normalised by
    its (weighted) number of positions, so a style fills a small region as strongly as the whole
    image. An all-ones guide gives exactly ``gram_matrix(features, "locations")``; an empty guide
    gives zeros.

    Args:
        features: float32 [B, H, W, C].
        guide: float32 [B, H, W, 1] or [1, H, W, 1], values in [0, 1].
    Returns: float32 [B, C, C]. Introduced in notebook 08.
    """
    features, guide = _feature_maps("guided_gram_matrix", features=features, guide=guide)
    _check_same_shape(
        features,
        guide,
        "guided_gram_matrix: features have shape {first} but guide has shape {second}; the guide "
        "must have the features' height and width (resize the mask to this layer first)",
        axes=(1, 2),
    )
    guide = tf.cast(guide, features.dtype)
    guided = features * guide
    gram = tf.einsum("bhwc,bhwd->bcd", guided, guided)
    area = tf.reduce_sum(tf.square(guide), axis=[1, 2, 3])
    return tf.math.divide_no_nan(gram, tf.reshape(area, [-1, 1, 1]))


def content_loss(generated: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """The paper's content loss, L_content = 1/2 · Σ (F − P)², summed over every element.

    Args:
        generated: F, float32 [B, H, W, C], features of the image being optimised.
        target: P, the same shape, features of the content image.
    Returns: a float32 scalar (summed over the batch too). Introduced in notebook 03.
    Raises ValueError naming both shapes when they differ: nothing is broadcast.
    """
    generated = _as_float(generated, "generated", "content_loss")
    target = _as_float(target, "target", "content_loss")
    _check_pair(generated, target, "content_loss")
    return 0.5 * tf.reduce_sum(tf.square(generated - target))


def gram_style_distance(gram: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """The paper's layer style loss from location-normalised Gram matrices [B, N, N] (÷ M).

    E_l = 1/(4 N² M²) · Σ (G − A)² = 1/(4 N²) · Σ (G/M − A/M)², so working with G/M gives the
    paper's number exactly when both images have M positions, and still compares like with like
    when the style image has a different size. Introduced in notebook 04.
    Raises ValueError naming both shapes when they differ.
    """
    gram = _as_float(gram, "gram", "gram_style_distance")
    target_gram = _as_float(target_gram, "target_gram", "gram_style_distance")
    _check_pair(gram, target_gram, "gram_style_distance", ("gram", "target_gram"))
    channels = tf.cast(tf.shape(gram)[-1], gram.dtype)
    return tf.reduce_sum(tf.square(gram - target_gram)) / (4.0 * channels**2)


def style_layer_loss(generated: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Gatys' layer style loss E_l = 1/(4 N² M²) · Σ (G − A)², with unnormalised Gram matrices.

    Args:
        generated: features of the image being optimised, float32 [B, H, W, C] (N = C, M = H·W).
        target: features of the style image, float32 [B, H', W', C]. When H'·W' ≠ H·W each Gram
            matrix is divided by its own number of positions (see gram_style_distance).
    Returns: a float32 scalar. Introduced in notebook 04.
    Raises ValueError naming both shapes when the batch sizes or the channel counts differ.
    """
    generated, target = _feature_maps("style_layer_loss", generated=generated, target=target)
    _check_same_shape(
        generated,
        target,
        "style_layer_loss: generated has shape {first} but target has shape {second}; the batch "
        "size and the number of channels must be the same (height and width may differ)",
        axes=(0, 3),
    )
    return gram_style_distance(
        gram_matrix(generated, "locations"), gram_matrix(target, "locations")
    )


def style_loss(
    generated: Mapping[str, tf.Tensor],
    targets: Mapping[str, tf.Tensor],
    layer_weights: Mapping[str, float] | None = None,
) -> tf.Tensor:
    """L_style = Σ_l w_l E_l over the layers of ``generated`` (features by layer name).

    Args:
        generated, targets: feature maps [B, H, W, C] by layer name (targets: of the style image).
        layer_weights: w_l by layer name; default 1 / (number of layers) each, as in the paper.
    Raises ValueError when ``generated``, ``targets`` and ``layer_weights`` do not name the same
    layers. Introduced in notebook 04.
    """
    names = list(generated)
    if not names:
        raise ValueError("style_loss: generated has no layers")
    _check_same_layers(names, targets, "targets")
    if layer_weights is None:
        layer_weights = {name: 1.0 / len(names) for name in names}
    _check_same_layers(names, layer_weights, "layer_weights")
    return tf.add_n([layer_weights[n] * style_layer_loss(generated[n], targets[n]) for n in names])


def _check_same_layers(names: list[str], other: Mapping, what: str) -> None:
    missing = [n for n in names if n not in other]
    extra = [n for n in other if n not in names]
    if missing or extra:
        raise ValueError(
            f"style_loss: {what} must name the same layers as generated {names}; "
            f"missing {missing}, not in generated {extra}"
        )


def mean_content_loss(generated: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """The TensorFlow tutorial's content term: mean over elements of (F − P)². Notebook 05.

    Raises ValueError naming both shapes when they differ.
    """
    generated = _as_float(generated, "generated", "mean_content_loss")
    target = _as_float(target, "target", "mean_content_loss")
    _check_pair(generated, target, "mean_content_loss")
    return tf.reduce_mean(tf.square(generated - target))


def mean_gram_distance(gram: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """The TensorFlow tutorial's style term: mean of (G/M − A/M)² over the Gram entries. Notebook 05.

    Raises ValueError naming both shapes when they differ.
    """
    gram = _as_float(gram, "gram", "mean_gram_distance")
    target_gram = _as_float(target_gram, "target_gram", "mean_gram_distance")
    _check_pair(gram, target_gram, "mean_gram_distance", ("gram", "target_gram"))
    return tf.reduce_mean(tf.square(gram - target_gram))


def total_variation_loss(
    image: tf.Tensor, kind: str = "absolute", epsilon: float = 0.01
) -> tf.Tensor:
    """Total variation: how much neighbouring pixels differ, summed over the batch.

    Args:
        image: float32 [B, H, W, 3].
        kind: "absolute" is Σ |x[i+1,j] − x[i,j]| + Σ |x[i,j+1] − x[i,j]| (anisotropic), the same
            number as ``tf.image.total_variation`` summed over the batch; this is what the TensorFlow
            tutorial uses, although its text describes squares. "squared" is the same sum of squared
            differences. "smooth" is Σ (sqrt(d² + ε²) − ε) over the same differences d (the
            Charbonnier form): within ε·(number of differences) of "absolute" and below it, but
            differentiable everywhere, so L-BFGS can handle it.
        epsilon: ε of the "smooth" kind, on the [0, 1] pixel scale.
    Introduced in notebook 05; "smooth" in notebook 07.
    """
    if kind not in TV_KINDS:
        raise ValueError(f"kind must be one of {TV_KINDS}, got {kind!r}")
    (image,) = _feature_maps("total_variation_loss", image=image)
    down = image[:, 1:, :, :] - image[:, :-1, :, :]
    right = image[:, :, 1:, :] - image[:, :, :-1, :]
    if kind == "absolute":
        return tf.reduce_sum(tf.abs(down)) + tf.reduce_sum(tf.abs(right))
    if kind == "squared":
        return tf.reduce_sum(tf.square(down)) + tf.reduce_sum(tf.square(right))
    if isinstance(epsilon, (int, float)) and not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")

    def charbonnier(d):
        return tf.reduce_sum(tf.sqrt(tf.square(d) + epsilon**2) - epsilon)

    return charbonnier(down) + charbonnier(right)
