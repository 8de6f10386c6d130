"""The style-transfer objective: named presets of every setting, and StyleObjective.

Introduced in notebook 05 (the objective) and 06 (presets).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ._tf import tf
from .control import gray_rgb, luminance, pooled_mask, pools_before
from .losses import (
    TV_KINDS,
    content_loss,
    gram_matrix,
    gram_style_distance,
    guided_gram_matrix,
    mean_content_loss,
    mean_gram_distance,
    total_variation_loss,
)
from .model import DEFAULT_STYLE_LAYERS, FeatureExtractor

FORMULATIONS = ("paper", "tutorial")
OPTIMIZERS = ("adam", "lbfgs")
#: Iterations L-BFGS runs when ``steps`` is not given: an L-BFGS iteration does more than an Adam
#: step, and 200 of them pass the loss of the tutorial's 1000 Adam steps (README, "Benchmark").
LBFGS_STEPS = 200
INITS = ("content", "noise")

#: The largest loss weight (content_weight, style_weight, tv_weight, each layer's w_l) and learning
#: rate make_preset accepts. The loss is computed in float32, which overflows at 3.4e38: a weight
#: above that is infinite before it multiplies anything (``style_weight=1e40`` made the first loss
#: inf), and a large finite weight times a large loss term (or its gradient) overflows too. 1e12 is
#: six orders of magnitude above the largest weight any reference implementation uses (the PyTorch
#: tutorial's style weight 1e6, see the README's table), and a product with it stays finite while
#: the unweighted term and its gradient stay below 3.4e26. The learning rate multiplies Adam's
#: per-pixel step, whose other factor is of order one, so the same bound keeps it finite.
MAX_WEIGHT = 1e12


@dataclass(frozen=True)
class Preset:
    """Every setting of a stylize run. Build variants with ``dataclasses.replace`` or keywords.

    Attributes:
        content_layers, style_layers: layer name -> per-layer weight w_l.
        content_weight, style_weight, tv_weight: α, β and the total-variation weight.
        tv_kind: "absolute" (tf.image.total_variation) or "squared"; see total_variation_loss.
        formulation: "paper" (½Σ(F−P)², 1/(4N²M²)Σ(G−A)²) or "tutorial" (means of squares,
            Gram ÷ H·W): the same shapes of loss, different constants.
        optimizer, learning_rate, beta_1, beta_2, epsilon: the optimiser and its settings.
        steps: number of optimisation steps (Adam) or iterations (L-BFGS).
        init: "content" (start from the content image) or "noise" (uniform noise in [0, 1]).
        tv_epsilon: ε of the "smooth" total variation (see total_variation_loss).
    """

    name: str
    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]
    content_weight: float
    style_weight: float
    tv_weight: float
    tv_kind: str
    formulation: str
    optimizer: str
    learning_rate: float
    beta_1: float
    beta_2: float
    epsilon: float
    steps: int
    init: str
    tv_epsilon: float = 0.01


_EQUAL_STYLE = {name: 1.0 / len(DEFAULT_STYLE_LAYERS) for name in DEFAULT_STYLE_LAYERS}

#: Named settings. "tutorial" is the TensorFlow tutorial "Neural style transfer" exactly: its
#: objective, its Adam(0.02, β1 0.99, ε 0.1), 1000 steps, clipping to [0, 1], TV weight 30
#: (``tv_weight=0`` gives the tutorial's first loop). "gatys" is the paper's formulas with the
#: paper's layers (relu4_2 content, relu1_1..relu5_1 style with w_l = 1/5) and α/β = 1e-3 (the
#: ratio of the paper's Fig. 3 B-D; the paper's VGG had rescaled weights, so with Keras' weights
#: the balance of the two terms differs and style_weight may need tuning).
PRESETS: dict[str, Preset] = {
    "tutorial": Preset(
        name="tutorial",
        content_layers={"block5_conv2": 1.0},
        style_layers=dict(_EQUAL_STYLE),
        content_weight=1e4,
        style_weight=1e-2,
        tv_weight=30.0,
        tv_kind="absolute",
        formulation="tutorial",
        optimizer="adam",
        learning_rate=0.02,
        beta_1=0.99,
        beta_2=0.999,
        epsilon=0.1,
        steps=1000,
        init="content",
    ),
    "gatys": Preset(
        name="gatys",
        content_layers={"block4_conv2": 1.0},
        style_layers=dict(_EQUAL_STYLE),
        content_weight=1.0,
        style_weight=1e3,
        tv_weight=0.0,
        tv_kind="squared",
        formulation="paper",
        optimizer="adam",
        learning_rate=0.02,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        steps=500,
        init="content",
    ),
}


def _layer_weights(layers, what: str) -> dict[str, float]:
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, Mapping):
        weights = {str(k): v for k, v in layers.items()}
    elif isinstance(layers, Sequence):
        weights = {str(name): 1.0 / len(layers) for name in layers}
    else:
        raise ValueError(f"{what} must be a list of layer names or a name -> weight mapping")
    if not weights:
        raise ValueError(f"{what} must name at least one layer")
    return {name: _check_weight(f"{what}[{name!r}]", w) for name, w in weights.items()}


#: The settings _check_weight checks: finite, >= 0 (learning_rate > 0) and at most MAX_WEIGHT.
_WEIGHT_SETTINGS = ("content_weight", "style_weight", "tv_weight", "learning_rate")


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_weight(key: str, value, positive: bool = False) -> float:
    """``value`` as a float if it is finite, >= 0 (> 0 if ``positive``) and at most MAX_WEIGHT.

    Otherwise ValueError, whose message starts with ``key`` (the command line maps it to a flag).
    """
    bound = "> 0" if positive else ">= 0"
    if not _is_real(value):
        raise ValueError(f"{key} must be a number {bound}, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and (value > 0 or (value == 0 and not positive))):
        raise ValueError(f"{key} must be a finite number {bound}, got {value!r}")
    if value > MAX_WEIGHT:
        raise ValueError(
            f"{key} must be at most {MAX_WEIGHT:g}, got {value:g}: a larger value can overflow "
            "float32 (largest 3.4e38) once it multiplies a loss term (stylelib.objective.MAX_WEIGHT)"
        )
    return value


def make_preset(preset: str | Preset = "tutorial", **overrides) -> Preset:
    """The named preset with keyword overrides applied and every value checked.

    ``content_layers`` / ``style_layers`` may be a list of names (equal weights summing to 1) or a
    name -> weight mapping. Choosing ``optimizer="lbfgs"`` without ``steps`` caps the steps at
    LBFGS_STEPS. Raises ValueError naming the bad argument. Introduced in notebook 06.
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    known = {f.name for f in dataclasses.fields(Preset)} - {"name"}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown setting(s) {sorted(unknown)}; valid: {sorted(known)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    for key in ("content_layers", "style_layers"):
        if key in changes:
            changes[key] = _layer_weights(changes[key], key)
    if changes.get("optimizer") == "lbfgs" and "steps" not in changes:
        changes["steps"] = min(preset.steps, LBFGS_STEPS)
    result = dataclasses.replace(preset, **changes)
    checked = {
        key: _check_weight(key, getattr(result, key), positive=key == "learning_rate")
        for key in _WEIGHT_SETTINGS
    }
    steps = result.steps
    if isinstance(steps, bool) or not (isinstance(steps, numbers.Integral) and steps >= 0):
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    for key in ("beta_1", "beta_2"):
        value = getattr(result, key)
        if not (_is_real(value) and 0 <= value < 1):
            raise ValueError(f"{key} must be a number in [0, 1), got {value!r}")
    for key in ("epsilon", "tv_epsilon"):
        value = getattr(result, key)
        if not (_is_real(value) and math.isfinite(value) and value > 0):
            raise ValueError(f"{key} must be a finite number > 0, got {value!r}")
    for key, allowed in (
        ("tv_kind", TV_KINDS),
        ("formulation", FORMULATIONS),
        ("optimizer", OPTIMIZERS),
        ("init", INITS),
    ):
        if getattr(result, key) not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {getattr(result, key)!r}")
    return dataclasses.replace(result, steps=int(steps), **checked)


def _split_styles(style) -> list:
    """One style image, or a list of them, as a list (no image is loaded or converted).

    A tensor, array, path or a nested list of numbers shaped [1, H, W, 3] is one image; a list or
    tuple of such things is several.
    """
    if not isinstance(style, (list, tuple)):
        return [style]
    if style and isinstance(style[0], (list, tuple)):
        try:  # a nested list of numbers [1, H, W, 3] is one image; a list of such lists is several
            if np.asarray(style, dtype=np.float32).ndim == 4:
                return [style]
        except (TypeError, ValueError):
            pass
    if not style:
        raise ValueError("style is an empty list: give at least one style image")
    return list(style)


def style_blend_weights(style_blend, count: int) -> list[float]:
    """The blend weights of ``count`` style images, normalised to sum 1 (default: equal).

    ``style_blend`` is None or one finite number >= 0 per style, not all zero. Raises ValueError
    naming ``style_blend`` otherwise. Introduced in notebook 08.
    """
    if style_blend is None:
        return [1.0 / count] * count
    if isinstance(style_blend, (str, bytes)) or not isinstance(style_blend, Sequence):
        raise ValueError(f"style_blend must be a list of {count} numbers, got {style_blend!r}")
    values = list(style_blend)
    if len(values) != count:
        raise ValueError(
            f"style_blend has {len(values)} weights for {count} style image(s); give one per style"
        )
    for value in values:
        if not (_is_real(value) and math.isfinite(value) and value >= 0):
            raise ValueError(f"style_blend weights must be finite numbers >= 0, got {values}")
    total = float(sum(values))
    if total <= 0:
        raise ValueError(f"style_blend weights must not all be 0, got {values}")
    return [float(v) / total for v in values]


class StyleObjective:
    """The total loss α·L_content + β·L_style + λ_TV·TV of an image, with fixed targets.

    The content image's and style images' features are computed once, here; calling the objective
    on float32 [1, H, W, 3] in [0, 1] returns (total, content, style, tv) as float32 scalars, each
    already multiplied by its weight. Introduced in notebook 05.

    Several styles (notebook 08): ``style`` may be a list of images, with ``style_blend`` weights
    (normalised to sum 1, default equal). Without masks their Gram matrices are blended, layer by
    layer, into one target A_l = Σ_k b_k A_l^k. This has the same gradient as blending the styles'
    losses, Σ_k b_k E(G, A^k) = E(G, Σ_k b_k A^k) + a constant, since E is a squared distance,
    but its loss reads 0 when the result matches the blend, and it costs one distance per layer.

    Masks (notebook 08): ``masks``, one float32 [1, H, W, 1] in [0, 1] per style at the content's
    size, put each style only where its mask is on (Gatys et al. 2017's guided Gram matrices): style
    k's loss compares the guided Gram matrix of the result inside mask k with style k's own Gram
    matrix, and is weighted by n·b_k·a_k, where n is the number of styles, b_k its blend weight and
    a_k the mask's mean (its share of the image). Equal weights therefore give each region the
    strength one unmasked style has over the whole image, and one style with an all-ones mask gives
    exactly the unmasked objective.

    ``luminance_only=True`` (luminance-only transfer, notebook 08): the image is measured as the
    grey image of its luminance, gray_rgb(luminance(image)), by every term, so only its luminance
    Y is optimised and VGG19 never sees colour the result will not have.
    """

    def __init__(
        self,
        extractor: FeatureExtractor,
        content: tf.Tensor,
        style,
        preset,
        *,
        style_blend=None,
        masks=None,
        luminance_only: bool = False,
    ):
        self.preset = preset
        self.luminance_only = luminance_only
        self.extractor = extractor
        self.content_targets = extractor(content).content
        styles = _split_styles(style)
        self.blend = style_blend_weights(style_blend, len(styles))
        grams = [
            {name: gram_matrix(f, "locations") for name, f in extractor(s).style.items()}
            for s in styles
        ]
        self.masks = None
        if masks is not None:
            if len(masks) != len(styles):
                raise ValueError(f"masks: {len(masks)} mask(s) for {len(styles)} style image(s)")
            self.masks = [
                {name: pooled_mask(m, pools_before(name)) for name in preset.style_layers}
                for m in masks
            ]
            self.region_weights = [
                len(styles) * b * float(tf.reduce_mean(m))
                for b, m in zip(self.blend, masks, strict=True)
            ]
            self.style_targets_each = grams
            self.style_targets = None
        elif len(styles) == 1:
            self.style_targets = grams[0]
        else:
            self.style_targets = {
                name: tf.add_n([b * g[name] for b, g in zip(self.blend, grams, strict=True)])
                for name in grams[0]
            }
        if preset.formulation == "paper":
            self._content_term, self._style_term = content_loss, gram_style_distance
        else:
            self._content_term, self._style_term = mean_content_loss, mean_gram_distance

    def _style_sum(self, grams: Mapping, targets: Mapping):
        """Σ_l w_l E(G_l, A_l) over the preset's style layers."""
        return tf.add_n(
            [
                w * self._style_term(grams[n], targets[n])
                for n, w in self.preset.style_layers.items()
            ]
        )

    def terms(self, image: tf.Tensor):
        """(α·L_content, β·L_style) of float32 [1, H, W, 3] in [0, 1]."""
        p = self.preset
        features = self.extractor(self._seen(image))
        content = tf.add_n(
            [
                w * self._content_term(features.content[n], self.content_targets[n])
                for n, w in p.content_layers.items()
            ]
        )
        if self.masks is None:
            grams = {n: gram_matrix(features.style[n], "locations") for n in p.style_layers}
            style = self._style_sum(grams, self.style_targets)
        else:
            style = tf.add_n(
                [
                    weight
                    * self._style_sum(
                        {n: guided_gram_matrix(features.style[n], m[n]) for n in p.style_layers},
                        targets,
                    )
                    for weight, m, targets in zip(
                        self.region_weights, self.masks, self.style_targets_each, strict=True
                    )
                ]
            )
        return p.content_weight * content, p.style_weight * style

    def _seen(self, image: tf.Tensor) -> tf.Tensor:
        """The image as the terms measure it: itself, or its luminance as grey RGB."""
        return gray_rgb(luminance(image)) if self.luminance_only else image

    def tv(self, image: tf.Tensor, kind: str | None = None, epsilon: float | None = None):
        """λ_TV · TV(image), of the preset's kind unless ``kind`` is given."""
        p = self.preset
        if not p.tv_weight:
            return tf.constant(0.0)
        kind = kind or p.tv_kind
        return p.tv_weight * total_variation_loss(
            self._seen(image), kind, p.tv_epsilon if epsilon is None else epsilon
        )

    def __call__(self, image: tf.Tensor):
        """(total, content, style, tv) of the image, each term already weighted."""
        content, style = self.terms(image)
        tv = self.tv(image)
        return content + style + tv, content, style, tv
