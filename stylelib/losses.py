"""The loss terms of Gatys et al. (CVPR 2016), written exactly as the paper states them,
and the mean-squared variants the TensorFlow tutorial uses.

Notation (paper): a layer's feature map F has N channels and M = H*W positions, reshaped to an
M x N matrix. P is the content image's map, G and A the Gram matrices of the generated and the
style image. Introduced in notebooks 03 (content), 04 (Gram, style) and 05 (total variation).
"""

from __future__ import annotations

from collections.abc import Mapping

from ._tf import tf

GRAM_NORMALIZATIONS = ("none", "locations", "elements")
TV_KINDS = ("absolute", "squared", "smooth")


def _check_features(features: tf.Tensor, name: str = "features") -> None:
    if features.shape.rank != 4:
        raise ValueError(f"{name} must be [B, H, W, C], got shape {features.shape}")


def gram_matrix(features: tf.Tensor, normalize: str = "locations") -> tf.Tensor:
    """Channel-by-channel inner products of a feature map, per image in the batch.

    Args:
        features: float32 [B, H, W, C].
        normalize: "none" gives G = Fᵀ F with F reshaped to (H·W) x C; "locations" divides by
            H·W (the TensorFlow tutorial); "elements" divides by C·H·W (common in PyTorch code).

    Returns: float32 [B, C, C]. Introduced in notebook 04.
    """
    _check_features(features)
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


def content_loss(generated: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """The paper's content loss, L_content = 1/2 · Σ (F − P)², summed over every element.

    Args:
        generated: F, float32 [B, H, W, C], features of the image being optimised.
        target: P, the same shape, features of the content image.
    Returns: a float32 scalar (summed over the batch too). Introduced in notebook 03.
    """
    return 0.5 * tf.reduce_sum(tf.square(generated - target))


def gram_style_distance(gram: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """The paper's layer style loss from location-normalised Gram matrices [B, N, N] (÷ M).

    E_l = 1/(4 N² M²) · Σ (G − A)² = 1/(4 N²) · Σ (G/M − A/M)², so working with G/M gives the
    paper's number exactly when both images have M positions, and still compares like with like
    when the style image has a different size. Introduced in notebook 04.
    """
    channels = tf.cast(tf.shape(gram)[-1], gram.dtype)
    return tf.reduce_sum(tf.square(gram - target_gram)) / (4.0 * channels**2)


def style_layer_loss(generated: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Gatys' layer style loss E_l = 1/(4 N² M²) · Σ (G − A)², with unnormalised Gram matrices.

    Args:
        generated: features of the image being optimised, float32 [B, H, W, C] (N = C, M = H·W).
        target: features of the style image, float32 [B, H', W', C]. When H'·W' ≠ H·W each Gram
            matrix is divided by its own number of positions (see gram_style_distance).
    Returns: a float32 scalar. Introduced in notebook 04.
    """
    _check_features(generated, "generated")
    _check_features(target, "target")
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
    Introduced in notebook 04.
    """
    names = list(generated)
    if layer_weights is None:
        layer_weights = {name: 1.0 / len(names) for name in names}
    return tf.add_n([layer_weights[n] * style_layer_loss(generated[n], targets[n]) for n in names])


def mean_content_loss(generated: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """The TensorFlow tutorial's content term: mean over elements of (F − P)². Notebook 05."""
    return tf.reduce_mean(tf.square(generated - target))


def mean_gram_distance(gram: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """The TensorFlow tutorial's style term: mean of (G/M − A/M)² over the Gram entries. Notebook 05."""
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
