"""The style-transfer objective and the optimisation loop (``stylize``) with its presets.

Introduced in notebook 06; the objective's terms are built up in notebooks 03-05.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._tf import tf
from .errors import NonFiniteLossError
from .images import load_image
from .losses import (
    TV_KINDS,
    content_loss,
    gram_matrix,
    gram_style_distance,
    mean_content_loss,
    mean_gram_distance,
    total_variation_loss,
)
from .model import DEFAULT_STYLE_LAYERS, FeatureExtractor, WeightsInfo

FORMULATIONS = ("paper", "tutorial")
OPTIMIZERS = ("adam",)
INITS = ("content", "noise")


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
        steps: number of optimisation steps.
        init: "content" (start from the content image) or "noise" (uniform noise in [0, 1]).
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
        weights = {str(k): float(v) for k, v in layers.items()}
    elif isinstance(layers, Sequence):
        weights = {str(name): 1.0 / len(layers) for name in layers}
    else:
        raise ValueError(f"{what} must be a list of layer names or a name -> weight mapping")
    if not weights:
        raise ValueError(f"{what} must name at least one layer")
    return weights


def make_preset(preset: str | Preset = "tutorial", **overrides) -> Preset:
    """The named preset with keyword overrides applied and every value checked.

    ``content_layers`` / ``style_layers`` may be a list of names (equal weights summing to 1) or a
    name -> weight mapping. Raises ValueError naming the bad argument. Introduced in notebook 06.
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
    result = dataclasses.replace(preset, **changes)
    for key in ("content_weight", "style_weight", "tv_weight"):
        value = getattr(result, key)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{key} must be a finite number >= 0, got {value!r}")
    if not (isinstance(result.steps, (int, np.integer)) and result.steps >= 0):
        raise ValueError(f"steps must be an integer >= 0, got {result.steps!r}")
    if not (math.isfinite(result.learning_rate) and result.learning_rate > 0):
        raise ValueError(f"learning_rate must be > 0, got {result.learning_rate!r}")
    for key, allowed in (
        ("tv_kind", TV_KINDS),
        ("formulation", FORMULATIONS),
        ("optimizer", OPTIMIZERS),
        ("init", INITS),
    ):
        if getattr(result, key) not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {getattr(result, key)!r}")
    return result


class StyleObjective:
    """The total loss α·L_content + β·L_style + λ_TV·TV of an image, with fixed targets.

    The content image's and style image's features are computed once, here; calling the objective
    on float32 [1, H, W, 3] in [0, 1] returns (total, content, style, tv) as float32 scalars, each
    already multiplied by its weight. Introduced in notebook 05.
    """

    def __init__(self, extractor: FeatureExtractor, content: tf.Tensor, style: tf.Tensor, preset):
        self.preset = preset
        self.extractor = extractor
        self.content_targets = extractor(content).content
        self.style_targets = {
            name: gram_matrix(f, "locations") for name, f in extractor(style).style.items()
        }
        if preset.formulation == "paper":
            self._content_term, self._style_term = content_loss, gram_style_distance
        else:
            self._content_term, self._style_term = mean_content_loss, mean_gram_distance

    def __call__(self, image: tf.Tensor):
        p = self.preset
        features = self.extractor(image)
        content = tf.add_n(
            [
                w * self._content_term(features.content[n], self.content_targets[n])
                for n, w in p.content_layers.items()
            ]
        )
        style = tf.add_n(
            [
                w
                * self._style_term(
                    gram_matrix(features.style[n], "locations"), self.style_targets[n]
                )
                for n, w in p.style_layers.items()
            ]
        )
        content = p.content_weight * content
        style = p.style_weight * style
        tv = (
            p.tv_weight * total_variation_loss(image, p.tv_kind)
            if p.tv_weight
            else tf.constant(0.0)
        )
        return content + style + tv, content, style, tv


@dataclass(frozen=True)
class StepRecord:
    """The loss of the image after ``step`` optimiser steps, measured ``seconds`` after the start."""

    step: int
    seconds: float
    total: float
    content: float
    style: float
    tv: float


@dataclass
class StylizeResult:
    """What stylize returns.

    Attributes:
        image: float32 [1, H, W, 3] in [0, 1], the final image.
        history: one StepRecord per step, from step 0 (the initial image) to the last.
        preset: the resolved settings that were used.
        weights: which VGG19 weights were used (check ``weights.trained``).
        seconds: wall time of the optimisation (after the targets were computed).
    """

    image: tf.Tensor
    history: list[StepRecord]
    preset: Preset
    weights: WeightsInfo
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        """Total loss of the returned image."""
        return self.history[-1].total

    def history_arrays(self) -> dict[str, np.ndarray]:
        """The history as NumPy arrays: step, seconds, total, content, style, tv."""
        return {
            f.name: np.array([getattr(r, f.name) for r in self.history])
            for f in dataclasses.fields(StepRecord)
        }


def _as_image(source, max_dim) -> tf.Tensor:
    if isinstance(source, (tf.Tensor, tf.Variable)):
        if source.shape.rank != 4 or source.shape[0] != 1 or source.shape[-1] != 3:
            raise ValueError(f"image tensors must be [1, H, W, 3], got {source.shape}")
        return tf.cast(source, tf.float32)
    return load_image(source, max_dim=max_dim)


def initial_image(content: tf.Tensor, init: str, seed: int = 0) -> tf.Tensor:
    """The starting image: the content image, or seeded uniform noise in [0, 1] of its shape."""
    if init == "content":
        return tf.identity(content)
    return tf.random.stateless_uniform(tf.shape(content), seed=[seed, 0], dtype=tf.float32)


def _record(step: int, start: float, values) -> StepRecord:
    total, content, style, tv = (float(v) for v in values)
    return StepRecord(step, time.perf_counter() - start, total, content, style, tv)


def stylize(
    content,
    style,
    *,
    preset: str | Preset = "tutorial",
    steps: int | None = None,
    optimizer: str | None = None,
    learning_rate: float | None = None,
    content_layers=None,
    style_layers=None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    tv_kind: str | None = None,
    init: str | None = None,
    seed: int = 0,
    weights=None,
    max_dim: int | None = 512,
    callback: Callable[[int, tf.Tensor, StepRecord], None] | None = None,
    callback_every: int = 50,
    progress: bool = False,
) -> StylizeResult:
    """Gatys-style neural style transfer by optimising the pixels of an image.

    Args:
        content, style: float32 [1, H, W, 3] in [0, 1], or anything load_image reads (then loaded
            with ``max_dim``). The style image may have a different size.
        preset: "tutorial" (the TensorFlow tutorial exactly) or "gatys" (the paper's formulas); see
            PRESETS. Every other keyword left as None keeps the preset's value.
        steps, optimizer, learning_rate, content_layers, style_layers, content_weight, style_weight,
            tv_weight, tv_kind, init: override the preset (see Preset).
        seed: seeds the noise initialisation.
        weights: VGG19 weights, as for load_vgg19.
        callback: called as ``callback(step, image, record)`` every ``callback_every`` steps and
            after the last step.
        progress: show a tqdm progress bar (works in terminals and in Jupyter).

    Each step: loss under ``tf.GradientTape``, gradient, optimiser step, clip pixels to [0, 1];
    compiled once with ``tf.function``. Raises NonFiniteLossError (holding the last image whose loss
    was finite) if the loss becomes NaN or infinite. Introduced in notebook 06.
    """
    settings = make_preset(
        preset,
        steps=steps,
        optimizer=optimizer,
        learning_rate=learning_rate,
        content_layers=content_layers,
        style_layers=style_layers,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        tv_kind=tv_kind,
        init=init,
    )
    if not (isinstance(callback_every, int) and callback_every >= 1):
        raise ValueError(f"callback_every must be an integer >= 1, got {callback_every!r}")
    content_image = _as_image(content, max_dim)
    style_image = _as_image(style, max_dim)
    extractor = FeatureExtractor(
        list(settings.content_layers), list(settings.style_layers), weights=weights
    )
    objective = StyleObjective(extractor, content_image, style_image, settings)
    start_image = initial_image(content_image, settings.init, seed)
    result = _run_adam(objective, start_image, settings, callback, callback_every, progress)
    result.weights = extractor.weights
    return result


def _run_adam(objective, start_image, settings, callback, callback_every, progress):
    image = tf.Variable(start_image)
    last_good = tf.Variable(start_image)
    opt = tf.keras.optimizers.Adam(
        learning_rate=settings.learning_rate,
        beta_1=settings.beta_1,
        beta_2=settings.beta_2,
        epsilon=settings.epsilon,
    )
    opt.build([image])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            losses = objective(image)
        grad = tape.gradient(losses[0], image)
        ok = tf.math.is_finite(losses[0]) & tf.reduce_all(tf.math.is_finite(grad))
        last_good.assign(tf.where(ok, image, last_good))
        opt.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return losses, ok

    evaluate = tf.function(lambda: objective(image))
    history: list[StepRecord] = []
    bar = _progress_bar(settings.steps, progress)
    start = time.perf_counter()
    for k in range(settings.steps):
        losses, ok = step()
        record = _record(k, start, losses)
        if not bool(ok):
            bar.close()
            raise NonFiniteLossError(
                f"the loss became {record.total} at step {k} (content {record.content}, style "
                f"{record.style}, tv {record.tv}); error.image holds the last image whose loss was "
                "finite. Lower the learning rate or the loss weights.",
                step=k,
                image=tf.convert_to_tensor(last_good),
                history=history,
            )
        history.append(record)
        bar.update(1)
        bar.set_postfix(loss=f"{record.total:.4g}", refresh=False)
        if callback is not None and k > 0 and k % callback_every == 0:
            callback(k, tf.convert_to_tensor(image), record)
    bar.close()
    final = _record(settings.steps, start, evaluate())
    if not math.isfinite(final.total):
        raise NonFiniteLossError(
            f"the final loss is {final.total}; error.image holds the last image with a finite loss",
            step=settings.steps,
            image=tf.convert_to_tensor(last_good),
            history=history,
        )
    history.append(final)
    result_image = tf.convert_to_tensor(image)
    if callback is not None:
        callback(settings.steps, result_image, final)
    return StylizeResult(
        image=result_image, history=history, preset=settings, weights=None, seconds=final.seconds
    )


class _NoBar:
    def update(self, n):
        pass

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="stylize", unit="step")
