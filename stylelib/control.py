"""Control over the result (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
Transfer"): keep the content's colours, match the style's colours to the content, and masks that
say where each style goes.

Images are float32 [1, H, W, 3] in [0, 1]; masks are float32 [1, H, W, 1] in [0, 1]. Every function
also takes a NumPy array or a nested list of the same shape. Introduced in notebook 08.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._tf import tf
from .losses import _as_float, _feature_maps

#: How ``preserve_colors`` keeps the content's colours (see stylize).
PRESERVE_COLORS = ("luminance", "histogram")

#: Luminance-only transfer's colour space: the usual NTSC YIQ matrix (BT.601 luminance weights, I and
#: Q rounded to 3 decimals, as MATLAB's rgb2ntsc). Y's weights sum to 1, so Y is in [0, 1]; I, Q: colour.
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ],
    dtype=np.float64,
)
#: The exact inverse of RGB_TO_YIQ (computed, not the rounded published one), so RGB -> YIQ -> RGB
#: returns the same colours up to float32 rounding.
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)

#: Ways to take the matrix square roots of match_colors (see there).
COLOR_MATCH_METHODS = ("eigen", "cholesky")


def _image(value, name: str, function: str, channels: int = 3) -> tf.Tensor:
    """float32 [1, H, W, channels] from a tensor, array or nested list, or ValueError naming it."""
    (value,) = _feature_maps(function, **{name: value})
    value = tf.cast(value, tf.float32)
    if value.shape[0] != 1 or value.shape[-1] != channels:
        raise ValueError(
            f"{function}: {name} must have shape [1, H, W, {channels}], got {value.shape.as_list()}"
        )
    return value


def rgb_to_yiq(image) -> tf.Tensor:
    """RGB float32 [1, H, W, 3] in [0, 1] -> YIQ [1, H, W, 3] (Y in [0, 1], I and Q signed).

    Uses RGB_TO_YIQ (the usual NTSC YIQ matrix). Introduced in notebook 08.
    """
    image = _image(image, "image", "rgb_to_yiq")
    return tf.einsum("bhwc,dc->bhwd", image, tf.constant(RGB_TO_YIQ, tf.float32))


def yiq_to_rgb(yiq) -> tf.Tensor:
    """YIQ [1, H, W, 3] -> RGB float32 [1, H, W, 3], not clipped (clip before saving)."""
    yiq = _image(yiq, "yiq", "yiq_to_rgb")
    return tf.einsum("bhwc,dc->bhwd", yiq, tf.constant(YIQ_TO_RGB, tf.float32))


def luminance(image) -> tf.Tensor:
    """The luminance Y of RGB float32 [1, H, W, 3] in [0, 1]: float32 [1, H, W, 1] in [0, 1]."""
    return rgb_to_yiq(image)[..., :1]


def match_luminance(style_luminance, content_luminance) -> tf.Tensor:
    """Shift and scale the style's luminance to the content's mean and standard deviation.

    Gatys et al. 2017, luminance-only transfer: L_s' = σ_c / σ_s · (L_s − μ_s) + μ_c, so that the
    style's overall brightness and contrast do not pull the result away from the content's.

    Args:
        style_luminance, content_luminance: float32 [1, H, W, 1] (the sizes may differ).
    Returns: float32 [1, H, W, 1] of the style's size. Not clipped: the values may leave [0, 1]
        slightly, and VGG19 takes them as they are. A flat style (σ_s = 0) becomes the content's mean.
    """
    style = _image(style_luminance, "style_luminance", "match_luminance", channels=1)
    content = _image(content_luminance, "content_luminance", "match_luminance", channels=1)
    mean_s, var_s = tf.nn.moments(style, axes=[0, 1, 2, 3])
    mean_c, var_c = tf.nn.moments(content, axes=[0, 1, 2, 3])
    scale = tf.math.divide_no_nan(tf.sqrt(var_c), tf.sqrt(var_s))
    return (style - mean_s) * scale + mean_c


def gray_rgb(luminance_image) -> tf.Tensor:
    """float32 [1, H, W, 1] -> [1, H, W, 3] with the value in all three channels (grey RGB)."""
    value = _image(luminance_image, "luminance_image", "gray_rgb", channels=1)
    return tf.tile(value, [1, 1, 1, 3])


def with_content_colors(image, content) -> tf.Tensor:
    """The luminance of ``image`` with the colour (I and Q of YIQ) of ``content``.

    Luminance-only transfer's last step: the style was transferred to the luminance alone, and the
    content's colour channels are put back. Both are float32 [1, H, W, 3] in [0, 1] of the same size;
    the result is clipped to [0, 1], so its I and Q equal the content's wherever no channel had to
    be clipped. Introduced in notebook 08.
    """
    image = _image(image, "image", "with_content_colors")
    content = _image(content, "content", "with_content_colors")
    if image.shape != content.shape:
        raise ValueError(
            f"with_content_colors: image has shape {image.shape.as_list()} but content has shape "
            f"{content.shape.as_list()}; they must be the same"
        )
    yiq = tf.concat([luminance(image), rgb_to_yiq(content)[..., 1:]], axis=-1)
    return tf.clip_by_value(yiq_to_rgb(yiq), 0.0, 1.0)


def _sqrt_and_inverse(covariance: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """A matrix square root R of a 3x3 covariance (R Rᵀ = Σ) and its inverse."""
    # A ridge a millionth of the mean variance keeps flat or two-colour images (a singular
    # covariance) invertible, and moves the matched statistics by about that much.
    covariance = covariance + np.eye(3) * (1e-6 * np.trace(covariance) / 3 + 1e-12)
    if method == "cholesky":
        root = np.linalg.cholesky(covariance)
    else:
        values, vectors = np.linalg.eigh(covariance)
        root = vectors @ np.diag(np.sqrt(np.maximum(values, 0.0))) @ vectors.T
    return root, np.linalg.inv(root)


def match_colors(style, content, method: str = "eigen", clip: bool = True) -> tf.Tensor:
    """Transform the style image's colours so that their mean and covariance equal the content's.

    Gatys et al. 2017's colour matching ("histogram" preservation): each style pixel x becomes
    x' = A (x − μ_s) + μ_c with A = Σ_c^{1/2} Σ_s^{-1/2}, where μ and Σ are the mean and the 3x3
    covariance of the RGB values. Then x' has mean μ_c and covariance A Σ_s Aᵀ = Σ_c.

    Args:
        style, content: float32 [1, H, W, 3] in [0, 1] (the sizes may differ).
        method: the matrix square root. "eigen" (the default, the "image analogies" variant):
            symmetric roots U Λ^{±1/2} Uᵀ. They do not depend on the order of the colour channels,
            so swapping R and B in both images swaps them in the result and changes nothing else.
            "cholesky": triangular roots, which treat R, G and B differently (the result depends on
            the channel order), shown in notebook 08 for comparison.
        clip: clip the result to [0, 1] (the default, an image). The mean and covariance are exact
            before clipping; ``clip=False`` returns that unclipped transform.
    Returns: float32 [1, H, W, 3] of the style's size. Introduced in notebook 08.
    """
    if method not in COLOR_MATCH_METHODS:
        raise ValueError(
            f"match_colors: method must be one of {COLOR_MATCH_METHODS}, got {method!r}"
        )
    style = _image(style, "style", "match_colors")
    content = _image(content, "content", "match_colors")
    pixels_s = style.numpy().reshape(-1, 3).astype(np.float64)
    pixels_c = content.numpy().reshape(-1, 3).astype(np.float64)
    mean_s, mean_c = pixels_s.mean(axis=0), pixels_c.mean(axis=0)
    root_c, _ = _sqrt_and_inverse(np.cov(pixels_c, rowvar=False, bias=True), method)
    _, inverse_root_s = _sqrt_and_inverse(np.cov(pixels_s, rowvar=False, bias=True), method)
    transform = root_c @ inverse_root_s
    matched = (pixels_s - mean_s) @ transform.T + mean_c
    if clip:
        matched = np.clip(matched, 0.0, 1.0)
    matched = matched.reshape(style.shape).astype(np.float32)
    return tf.constant(matched)


def color_statistics(image) -> tuple[np.ndarray, np.ndarray]:
    """(mean [3], covariance [3, 3]) of the RGB values of float32 [1, H, W, 3], as float64."""
    pixels = _image(image, "image", "color_statistics").numpy().reshape(-1, 3).astype(np.float64)
    return pixels.mean(axis=0), np.cov(pixels, rowvar=False, bias=True)


def load_mask(mask, size: tuple[int, int], name: str = "mask") -> tf.Tensor:
    """A mask as float32 [1, H, W, 1] in [0, 1], resized (by area averaging) to ``size`` = (H, W).

    ``mask`` is [H, W], [1, H, W, 1] or [H, W, 1] (tensor, array or nested list, values in [0, 1]),
    or an image file, whose luminance is used (white = on, black = off). Its aspect ratio must be
    the image's within 2 % (a mask drawn for another picture is refused, not stretched). Raises
    ValueError naming ``name`` for a wrong shape, values outside [0, 1], or an all-zero mask.
    Introduced in notebook 08.
    """
    if isinstance(mask, (str, os.PathLike)):
        from .images import load_image

        value = luminance(load_image(Path(mask), max_dim=None))
    else:
        value = tf.cast(_as_float(mask, name, "load_mask"), tf.float32)
        if value.shape.rank == 2:
            value = value[tf.newaxis, :, :, tf.newaxis]
        elif value.shape.rank == 3 and value.shape[-1] == 1:
            value = value[tf.newaxis]
        if value.shape.rank != 4 or value.shape[0] != 1 or value.shape[-1] != 1:
            raise ValueError(
                f"{name} must be [H, W], [H, W, 1] or [1, H, W, 1], got shape {value.shape.as_list()}"
            )
        low, high = float(tf.reduce_min(value)), float(tf.reduce_max(value))
        if not (0.0 <= low and high <= 1.0):
            raise ValueError(f"{name} must have values in [0, 1], got {low:g} to {high:g}")
    height, width = int(value.shape[1]), int(value.shape[2])
    ratio, wanted = width / height, size[1] / size[0]
    if abs(ratio / wanted - 1.0) > 0.02:
        raise ValueError(
            f"{name} is {width}x{height} px (width x height), aspect ratio {ratio:.3f}, but the "
            f"image is {size[1]}x{size[0]}, aspect ratio {wanted:.3f}: draw the mask on the image"
        )
    if float(tf.reduce_max(value)) == 0.0:
        raise ValueError(f"{name} is zero everywhere: its style would go nowhere")
    if (height, width) != tuple(size):
        value = tf.clip_by_value(tf.image.resize(value, size, method="area"), 0.0, 1.0)
    return value


def pooled_mask(mask: tf.Tensor, pools: int) -> tf.Tensor:
    """The mask at the resolution of a VGG19 layer ``pools`` 2x2 poolings deep.

    Averages 2x2 blocks (stride 2, dropping an odd last row or column) ``pools`` times: exactly the
    positions VGG19's max pooling keeps, so the mask lines up with that layer's feature map, and an
    all-ones mask stays all ones. float32 [1, H, W, 1] -> [1, H / 2^pools, W / 2^pools, 1].
    """
    for _ in range(pools):
        mask = tf.nn.avg_pool2d(mask, ksize=2, strides=2, padding="VALID")
    return mask


def pools_before(layer: str) -> int:
    """How many poolings come before a VGG19 layer: block3_conv1 -> 2, block3_pool -> 3."""
    block, _, kind = layer.partition("_")
    index = int(block.removeprefix("block"))
    return index if kind == "pool" else index - 1


def threshold_mask(
    image,
    threshold: float = 0.5,
    channel: str = "luminance",
    softness: float = 0.05,
    above: bool = True,
    blur: float = 0.0,
) -> tf.Tensor:
    """A soft mask drawn from the image itself: on where ``channel`` is above ``threshold``.

    m = sigmoid((v − threshold) / softness) with v the luminance or one colour channel (in [0, 1]);
    ``above=False`` inverts it. ``softness`` is a width in the channel's values, not in pixels:
    where the channel changes gradually (a sky brightening towards the horizon) a larger softness
    spreads the transition over more pixels, so two styles blend into each other; at a sharp edge
    in the picture the mask's edge stays sharp and a larger softness only moves both sides away
    from 0 and 1. For a soft edge in pixels, pass ``blur`` (px): the mask is then smoothed with a
    Gaussian of that standard deviation. For a sky, ``channel="blue"`` with a threshold a little
    above the picture's mean is a good start.

    Args:
        image: float32 [1, H, W, 3] in [0, 1].
        channel: "luminance", "red", "green" or "blue".
        blur: standard deviation (px) of a Gaussian smoothing of the mask; 0 for none.
    Returns: float32 [1, H, W, 1] in [0, 1]. Introduced in notebook 08.
    """
    channels = {"luminance": None, "red": 0, "green": 1, "blue": 2}
    if channel not in channels:
        raise ValueError(
            f"threshold_mask: channel must be one of {tuple(channels)}, got {channel!r}"
        )
    if not (isinstance(softness, (int, float)) and softness > 0):
        raise ValueError(f"threshold_mask: softness must be a number > 0, got {softness!r}")
    image = _image(image, "image", "threshold_mask")
    index = channels[channel]
    value = luminance(image) if index is None else image[..., index : index + 1]
    mask = tf.sigmoid((value - float(threshold)) / float(softness))
    mask = mask if above else 1.0 - mask
    return gaussian_blur(mask, blur) if blur else mask


def gaussian_blur(mask, sigma: float) -> tf.Tensor:
    """float32 [1, H, W, 1] smoothed by a Gaussian of standard deviation ``sigma`` px.

    Separable, truncated at 3 sigma, and normalised at the borders (each output is a weighted mean
    of the pixels inside the image), so a constant mask stays constant and values stay in [0, 1].
    Introduced in notebook 08.
    """
    if not (isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and sigma >= 0):
        raise ValueError(f"gaussian_blur: sigma must be a number >= 0 px, got {sigma!r}")
    mask = _image(mask, "mask", "gaussian_blur", channels=1)
    radius = int(np.ceil(3 * sigma))
    if radius == 0:
        return mask
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = tf.constant(taps / taps.sum(), tf.float32)
    weights = tf.ones_like(mask)
    for shape in ([-1, 1, 1, 1], [1, -1, 1, 1]):
        kernel = tf.reshape(taps, shape)
        mask = tf.nn.conv2d(mask, kernel, strides=1, padding="SAME")
        weights = tf.nn.conv2d(weights, kernel, strides=1, padding="SAME")
    return tf.clip_by_value(mask / weights, 0.0, 1.0)
