"""The optimisation loop: ``stylize`` with Adam or L-BFGS, at one size or coarse to fine.

Introduced in notebook 06 (Adam, the GradientTape loop) and notebook 07 (L-BFGS, coarse-to-fine).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import checkpoint as _ckpt
from . import control
from ._tf import tf
from .errors import CheckpointError, NonFiniteLossError
from .images import MAX_PIXELS, MIN_SIDE, as_image
from .lbfgsb import minimize_box
from .model import FeatureExtractor, WeightsInfo, gpu_available
from .objective import Preset, StyleObjective, _split_styles, make_preset, style_blend_weights

#: L-BFGS with the tutorial's absolute (L1) total variation: the corner of |d| at d = 0 makes the
#: objective non-smooth and L-BFGS-B stalls on it. stylelib instead minimises a sequence of smooth
#: (Charbonnier) surrogates with shrinking ε, each warm-started from the last, while recording the
#: exact objective. These ε (on the [0, 1] pixel scale) and the share of iterations for each were
#: chosen by measurement (see README, "Speed: which optimiser, coarse to fine, and the benchmark").
LBFGS_TV_EPSILONS = (0.05, 0.01, 0.002)

#: Number of correction pairs L-BFGS keeps (scipy's maxcor).
LBFGS_MEMORY = 20

#: The optimiser ``stylize`` and the command line use unless told otherwise. L-BFGS reached the
#: loss of the tutorial's 1000 Adam steps many times sooner (README, "Speed"); pass
#: ``optimizer="adam"`` for the tutorial's own loop.
DEFAULT_OPTIMIZER = "lbfgs"

#: ``scales="auto"`` (the default) runs L-BFGS coarse to fine from this longer side (in px) upwards,
#: and one scale below it. Adam runs one scale unless ``scales`` is given. Measured by racing the
#: two to the same loss (benchmarks/defaults.py, README "Speed"): on the tune pair one scale got
#: there first at 256 px, coarse to fine at 384 and 512 px; on the two held-out pairs one scale got
#: there first at 384 px too, so coarse to fine starts at 512 px, the size where the tune pair still
#: favoured it (the held-out pairs have not been raced at 512 px).
AUTO_SCALES_FROM = 512

#: The coarsest longer side (px) of an automatic coarse-to-fine run: sizes halve down to it.
AUTO_COARSEST = 128


@dataclass(frozen=True)
class StepRecord:
    """The loss of the image after ``step`` steps, measured ``seconds`` after the start.

    ``scale`` counts the sizes of a coarse-to-fine run (0 for the first); losses at different
    scales are not comparable, since the loss grows with the number of pixels.
    """

    step: int
    seconds: float
    total: float
    content: float
    style: float
    tv: float
    scale: int = 0


@dataclass
class StylizeResult:
    """What stylize returns.

    Attributes:
        image: float32 [1, H, W, 3] in [0, 1], the final image.
        history: StepRecords from step 0 (the initial image) to the last step of the last scale.
        preset: the resolved settings that were used.
        weights: which VGG19 weights were used (check ``weights.trained``).
        seconds: wall time of the optimisation (after the first targets were computed).
        extra: details: "sizes" per scale, "evaluations" (L-BFGS), "stop" reasons, "precision".
    """

    image: tf.Tensor
    history: list[StepRecord]
    preset: Preset
    weights: WeightsInfo | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        """Total loss of the returned image (at the last scale)."""
        return self.history[-1].total

    def history_arrays(self) -> dict[str, np.ndarray]:
        """The history as NumPy arrays: step, seconds, total, content, style, tv, scale."""
        return {
            f.name: np.array([getattr(r, f.name) for r in self.history])
            for f in dataclasses.fields(StepRecord)
        }


class _Stopped(Exception):
    """Ends a run early; ``reason`` is "interrupted" (Ctrl-C, a notebook's stop button) or "stop"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


#: How often each compiled function was traced (its Python body runs once per trace). A run
#: traces each function once per scale; tests/test_stylize.py checks that nothing retraces.
_TRACES: Counter = Counter()


@contextlib.contextmanager
def _same_bits():
    """Run the compiled functions called inside without grappler's AddN rewrite (this thread only).

    Grappler's memory optimizer (SchedulingPass in TensorFlow's memory_optimizer.cc) rewrites an
    AddN of three or more tensors into a temporary variable that AssignAdd fills in whatever order
    the inputs finish, whenever its static estimate of the graph's peak memory exceeds 80 % of the
    RAM that is free when the function is optimised. The style term's gradients meet in such AddNs
    (each style layer's output receives the next layer's gradient and two from its Gram matrix;
    the image receives the total variation's four and VGG19's), so from some image size on (here
    288x384 px; it depends on the free RAM) the sums were added in a run-dependent order and two
    runs differed in their last bits from the first gradient on (README, "Same inputs, same bits").
    With the memory optimizer off the AddNs stay, adding in a fixed order; where the rewrite did
    not happen anyway the bits are unchanged. The option travels with each call this thread makes
    inside the block (a callback's own functions included), not with the process: other threads
    and later calls keep their settings. It uses TensorFlow's per-thread function call options, a
    private API; where they are missing the block runs unchanged.
    """
    try:
        from tensorflow.core.protobuf import rewriter_config_pb2
        from tensorflow.python.eager import context

        ctx = context.context()
        saved = ctx.function_call_options
        options = copy.copy(saved)
        config = ctx.config
        config.graph_options.rewrite_options.memory_optimization = (
            rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
        )
        options.config_proto_serialized = config
    except (ImportError, AttributeError, ValueError):  # pragma: no cover - other TF versions
        yield
        return
    ctx.function_call_options = options
    try:
        yield
    finally:
        ctx.function_call_options = saved


class _Tracker:
    """Records history, reports progress, calls the user's callback, writes checkpoints and ends
    the run when asked (``stop``, or a Ctrl-C turned into a flag), across scales.

    Each runner sets ``snapshot`` to a function returning its current state (see _Snapshot), so
    that a run ended at any point can return its best image and save a checkpoint.
    """

    def __init__(self, total_steps, callback, callback_every, progress, stop=None):
        self.history: list[StepRecord] = []
        self.callback = callback
        self.every = callback_every
        self.bar = _progress_bar(total_steps, progress)
        self.offset = 0  # steps done at earlier scales
        self.scale = 0
        self.start = time.perf_counter()
        self.stop = stop
        self.interrupted = False  # set by the SIGINT handler stylize installs
        self.snapshot = None  # set by each runner
        self.checkpoint = None  # (every, write) when checkpoints are asked for

    def record(self, local_step: int, losses) -> StepRecord:
        """Make the record of the image after ``local_step`` steps at this scale; keep it if finite."""
        total, content, style, tv = (float(v) for v in losses)
        record = StepRecord(
            self.offset + local_step,
            time.perf_counter() - self.start,
            total,
            content,
            style,
            tv,
            self.scale,
        )
        if math.isfinite(total):
            self.history.append(record)
            if local_step > 0:
                self.bar.update(1)
                self.bar.set_postfix(loss=f"{total:.4g}", refresh=False)
        return record

    def step_done(self, local_step: int, image) -> None:
        """Call the callback with the image whose loss was just recorded, every N steps."""
        step = self.offset + local_step
        if self.callback is not None and local_step > 0 and step % self.every == 0:
            self.callback(step, tf.convert_to_tensor(image), self.history[-1])

    def check_stop(self) -> None:
        """Raise _Stopped if a Ctrl-C arrived or ``stop`` says so (checked after each step)."""
        if self.interrupted:
            raise _Stopped("interrupted")
        if self.stop is not None and (
            self.stop.is_set() if hasattr(self.stop, "is_set") else self.stop()
        ):
            raise _Stopped("stop")

    def after_step(self, steps_done: int) -> None:
        """After ``steps_done`` steps at this scale: write a checkpoint if one is due, then stop
        if asked to."""
        if self.checkpoint is not None:
            every, write = self.checkpoint
            if every and (self.offset + steps_done) % every == 0:
                write()
        self.check_stop()

    def fail(self, record: StepRecord, image) -> NonFiniteLossError:
        self.bar.close()
        return NonFiniteLossError(
            f"the loss became {record.total} at step {record.step} (content {record.content}, "
            f"style {record.style}, tv {record.tv}); error.image holds the last image whose loss "
            "was finite. Lower the learning rate or the loss weights.",
            step=record.step,
            image=tf.convert_to_tensor(image),
            history=self.history,
        )


@dataclass
class _Snapshot:
    """A runner's state at a step boundary: what a checkpoint stores and an early end returns.

    image: [1, h, w, 3] in [0, 1] after ``steps_done`` steps at this scale (float32 for Adam;
    float64 for L-BFGS, whose iterate scipy keeps in float64, so that it resumes exactly);
    optimizer: the optimiser's variables in order (Adam's step counter and moments; none for
    L-BFGS);
    best_image / best_loss / best_step: the lowest recorded loss at this scale so far;
    evaluations: L-BFGS loss-and-gradient evaluations at this scale; phase, phase_start: the
    L-BFGS smoothing phase under way (see LBFGS_TV_EPSILONS) and the step it began at; scale,
    offset: the scale this runner works at and the steps done at the scales before it.
    """

    image: np.ndarray
    steps_done: int
    optimizer: list[np.ndarray]
    best_image: np.ndarray
    best_loss: float
    best_step: int
    evaluations: int = 0
    phase: int = 0
    phase_start: int = 0
    scale: int = 0
    offset: int = 0


def _run_adam(objective, start_image, settings, steps, tracker, jit_compile, resume=None):
    """Adam with clipping to [0, 1] after each step (the TensorFlow tutorial's loop).

    ``resume`` (a _Snapshot) restores the image, Adam's step counter and moments and the best
    image so far, and continues from its step: the result is then bit-identical, on a CPU, to a
    run that was never stopped, wherever the compiled step itself repeats bit for bit (the resume
    is tested up to 256 px; the step repeats at 288x384 and 384x512 px too since stylize runs it
    under _same_bits: README, "Same inputs, same bits").
    """
    image = tf.Variable(start_image if resume is None else resume.image)
    last_good = tf.Variable(image)
    best = tf.Variable(image if resume is None else resume.best_image)
    best_loss = tf.Variable(math.inf if resume is None else resume.best_loss, dtype=tf.float32)
    best_step = tf.Variable(0 if resume is None else resume.best_step, dtype=tf.int64)
    opt = tf.keras.optimizers.Adam(
        learning_rate=settings.learning_rate,
        beta_1=settings.beta_1,
        beta_2=settings.beta_2,
        epsilon=settings.epsilon,
    )
    opt.build([image])
    if resume is not None:
        _restore(opt.variables, resume.optimizer)

    @tf.function(jit_compile=jit_compile)
    def step():
        _TRACES["adam_step"] += 1
        with tf.GradientTape() as tape:
            losses = objective(image)
        grad = tape.gradient(losses[0], image)
        ok = tf.math.is_finite(losses[0]) & tf.reduce_all(tf.math.is_finite(grad))
        last_good.assign(tf.where(ok, image, last_good))
        better = ok & (losses[0] < best_loss)
        best.assign(tf.where(better, image, best))
        best_step.assign(tf.where(better, opt.iterations, best_step))
        best_loss.assign(tf.where(better, losses[0], best_loss))
        opt.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return losses, ok

    scale, offset = tracker.scale, tracker.offset

    def snapshot() -> _Snapshot:
        return _Snapshot(
            scale=scale,
            offset=offset,
            image=image.numpy(),
            steps_done=int(opt.iterations.numpy()),
            optimizer=[v.numpy() for v in opt.variables],
            best_image=best.numpy(),
            best_loss=float(best_loss.numpy()),
            best_step=int(best_step.numpy()),
        )

    tracker.snapshot = snapshot
    for k in range(0 if resume is None else resume.steps_done, steps):
        losses, ok = step()  # the losses of the image after k steps, which last_good now holds
        record = tracker.record(k, losses)
        if not bool(ok):
            raise tracker.fail(record, last_good)
        tracker.step_done(k, last_good)
        tracker.after_step(k + 1)
    final = tracker.record(steps, tf.function(lambda: objective(image))())
    if not math.isfinite(final.total):
        raise tracker.fail(final, last_good)
    tracker.step_done(steps, image)
    return tf.convert_to_tensor(image), {}


def _restore(variables, values: list[np.ndarray]) -> None:
    """Assign saved optimiser values to freshly built variables, checking they fit."""
    if len(variables) != len(values) or any(
        tuple(v.shape) != tuple(x.shape) for v, x in zip(variables, values, strict=False)
    ):
        raise CheckpointError(
            "resume: the checkpoint's optimiser state does not fit this optimiser "
            f"({len(values)} saved values, {len(variables)} variables here)"
        )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


class _NonFinite(Exception):
    pass


def _run_lbfgs(objective, start_image, settings, steps, tracker, jit_compile, resume=None):
    """SciPy's L-BFGS-B on the pixels with bounds [0, 1] (driven by lbfgsb.minimize_box); loss and
    gradient in one tf.function.

    With absolute (L1) total variation, minimises smooth surrogates (LBFGS_TV_EPSILONS) in turn;
    the history always records the exact objective. ``resume`` continues from a _Snapshot's
    image and iteration count, with an empty curvature memory (scipy cannot save it).
    """
    shape = start_image.shape if resume is None else resume.image.shape
    smoothing = settings.tv_kind == "absolute" and settings.tv_weight > 0
    epsilons = LBFGS_TV_EPSILONS if smoothing else (None,)

    @tf.function(jit_compile=jit_compile)
    def value_and_grad(x, epsilon):
        _TRACES["lbfgs_value_and_grad"] += 1
        image = tf.reshape(x, shape)
        with tf.GradientTape() as tape:
            tape.watch(image)
            content, style = objective.terms(image)
            tv = objective.tv(image)
            optimised = content + style
            optimised += objective.tv(image, "smooth", epsilon) if smoothing else tv
        grad = tf.reshape(tape.gradient(optimised, image), [-1])
        return tf.stack([content + style + tv, content, style, tv]), optimised, grad

    @tf.function(jit_compile=jit_compile)
    def exact_losses(x):
        """(total, content, style, tv) of the exact objective: a forward pass, no gradient. Used
        when an accepted point was not the last evaluated, and for the start when no iteration
        runs at this scale (otherwise the first evaluation gives the start's record)."""
        _TRACES["lbfgs_exact_losses"] += 1
        return tf.stack(objective(tf.reshape(x, shape)))

    if resume is None:
        x = start_image.numpy().astype(np.float64).ravel()
        state = {"x": x, "evaluations": 0, "iteration": 0, "best": (math.inf, x, 0)}
        state.update(phase=0, phase_start=0, start_recorded=False)
    else:
        x = resume.image.astype(np.float64).ravel()
        best = (resume.best_loss, resume.best_image.astype(np.float64).ravel(), resume.best_step)
        state = {
            "x": x,
            "evaluations": resume.evaluations,
            "iteration": resume.steps_done,
            "best": best,
            "phase": resume.phase,
            "phase_start": resume.phase_start,
            "start_recorded": True,
        }
    stops = []
    # Iterations per phase: the last (sharpest) surrogate gets the remainder.
    share = [steps // len(epsilons)] * len(epsilons)
    share[-1] += steps - sum(share)

    def keep_if_best(x_k, total):
        if total < state["best"][0]:
            state["best"] = (total, x_k.copy(), state["iteration"])

    scale, offset = tracker.scale, tracker.offset

    def snapshot() -> _Snapshot:
        best_loss, best_x, best_step = state["best"]
        return _Snapshot(
            scale=scale,
            offset=offset,
            image=state["x"].reshape(shape).copy(),  # float64, scipy's own iterate
            steps_done=state["iteration"],
            optimizer=[],
            best_image=best_x.reshape(shape).copy(),
            best_loss=float(best_loss),
            best_step=best_step,
            evaluations=state["evaluations"],
            phase=state["phase"],
            phase_start=state["phase_start"],
        )

    tracker.snapshot = snapshot

    def record_start(x64, losses):
        """The record of step 0 (the start at this scale), from its exact losses."""
        state["start_recorded"] = True
        record = tracker.record(0, losses)
        if not math.isfinite(record.total):
            raise tracker.fail(record, start_image)
        keep_if_best(x64, record.total)

    def fun(x64, epsilon):
        if state["start_recorded"]:
            tracker.check_stop()  # within one evaluation of a stop, even inside a line search
        losses, optimised, grad = value_and_grad(tf.constant(x64, tf.float32), epsilon)
        state["evaluations"] += 1
        losses = losses.numpy()
        if not state["start_recorded"]:
            # L-BFGS-B's first evaluation is at the start: its exact losses are step 0's record,
            # which saves a forward pass at every scale (and usually exact_losses' trace).
            record_start(x64, losses)
        grad = grad.numpy().astype(np.float64)
        if not (np.all(np.isfinite(losses)) and np.all(np.isfinite(grad))):
            raise _NonFinite(losses)
        state["pending"] = (x64.copy(), losses)
        return float(optimised), grad

    def on_iteration(intermediate_result):
        x_k = intermediate_result.x
        pending_x, losses = state["pending"]
        if not np.array_equal(pending_x, x_k):  # the accepted point was not the last evaluated
            losses = exact_losses(tf.constant(x_k, tf.float32)).numpy()
        state["iteration"] += 1
        state["x"] = x_k.copy()
        tracker.record(state["iteration"], losses)
        keep_if_best(x_k, float(losses[0]))
        tracker.step_done(state["iteration"], tf.constant(x_k.reshape(shape), dtype=tf.float32))
        tracker.after_step(state["iteration"])

    for phase, (epsilon, iterations) in enumerate(zip(epsilons, share, strict=True)):
        if resume is not None and phase < resume.phase:
            continue
        if resume is not None and phase == resume.phase:
            remaining = iterations - (resume.steps_done - resume.phase_start)
        else:
            remaining = iterations
        if resume is None or phase != resume.phase:  # a resumed phase keeps its own start
            state["phase"], state["phase_start"] = phase, state["iteration"]
        if remaining <= 0:
            continue
        epsilon = tf.constant(epsilon or 1.0, tf.float32)  # unused when not smoothing
        try:
            # ftol = gtol = 0: run the iterations asked for, unless the line search fails.
            result = minimize_box(
                lambda x64, epsilon=epsilon: fun(x64, epsilon),
                state["x"],
                0.0,
                1.0,
                maxiter=remaining,
                maxfun=3 * remaining + 20,
                maxcor=LBFGS_MEMORY,
                callback=on_iteration,
            )
        except _NonFinite as exc:
            losses = exc.args[0]
            record = StepRecord(
                tracker.offset + state["iteration"] + 1,
                time.perf_counter() - tracker.start,
                *map(float, losses),
                tracker.scale,
            )
            raise tracker.fail(record, state["x"].reshape(shape).astype(np.float32)) from None
        stops.append(str(result.message))
    if not state["start_recorded"]:  # no iterations at this scale: nothing was evaluated
        record_start(state["x"], exact_losses(tf.constant(state["x"], tf.float32)).numpy())
    image = tf.constant(state["x"].reshape(shape), dtype=tf.float32)
    return image, {
        "evaluations": state["evaluations"],
        "stops": stops,
        "iterations": state["iteration"],
    }


_RUNNERS = {"adam": _run_adam, "lbfgs": _run_lbfgs}


def _style_images(style, max_dim) -> list[tf.Tensor]:
    """One style image or a list of them (tensors, arrays or anything load_image reads)."""
    styles = _split_styles(style)
    if len(styles) == 1:
        return [as_image(styles[0], max_dim=max_dim, name="style")]
    return [as_image(s, max_dim=max_dim, name=f"style[{k}]") for k, s in enumerate(styles)]


def _check_style_scale(style_scale, styles: list[tf.Tensor], factors: list[float]) -> float:
    """style_scale as a float, or ValueError if a style image would become too small or too big."""
    if not (
        isinstance(style_scale, (int, float, np.number))
        and not isinstance(style_scale, bool)
        and math.isfinite(style_scale)
        and style_scale > 0
    ):
        raise ValueError(f"style_scale must be a finite number > 0, got {style_scale!r}")
    for index, image in enumerate(styles):
        height, width = image.shape[1:3]
        small = min(height, width) * min(factors) * style_scale
        large = height * width * (max(factors) * style_scale) ** 2
        if style_scale < 1 and round(small) < MIN_SIDE:  # only a shrinking style_scale is blamed
            raise ValueError(
                f"style_scale {style_scale:g} would make style image {index} {round(small)} px on its "
                f"shorter side at the coarsest scale; VGG19 needs at least {MIN_SIDE} px"
            )
        if large > MAX_PIXELS:
            raise ValueError(
                f"style_scale {style_scale:g} would make style image {index} {large:,.0f} pixels, above "
                f"the limit of {MAX_PIXELS:,} (stylelib.images.MAX_PIXELS)"
            )
    return float(style_scale)


def _colorize_callback(callback, content: tf.Tensor):
    """Wrap a callback so that it sees luminance-only results in the content's colours."""
    if callback is None:
        return None

    def wrapped(step, image, record):
        callback(
            step, control.with_content_colors(image, _resize(content, image.shape[1:3])), record
        )

    return wrapped


def initial_image(content: tf.Tensor, init: str, seed: int = 0) -> tf.Tensor:
    """The starting image: the content image, or seeded uniform noise in [0, 1] of its shape."""
    if init == "content":
        return tf.identity(content)
    return tf.random.stateless_uniform(tf.shape(content), seed=[seed, 0], dtype=tf.float32)


def auto_scales(
    longer: int, start: int = AUTO_SCALES_FROM, coarsest: int = AUTO_COARSEST
) -> list[int]:
    """The longer sides (px) ``scales="auto"`` uses for an output whose longer side is ``longer``.

    One scale below ``start`` px; from there, sizes halving from ``longer`` down to no less than
    ``coarsest``: with the defaults 384 -> [384], 512 -> [128, 256, 512], 768 -> [192, 384, 768].
    Notebook 07.
    """
    sides = [int(longer)]
    if longer < start:
        return sides
    while sides[0] // 2 >= coarsest:
        sides.insert(0, sides[0] // 2)
    return sides


def scale_sizes(height: int, width: int, scales) -> list[tuple[int, int]]:
    """The (height, width) of each scale of a coarse-to-fine run, ending at (height, width).

    ``scales`` is None or 1 (one scale), "auto" (see auto_scales), an integer n (n sizes, each half
    the next), or an increasing sequence of longer sides in pixels whose last one is
    max(height, width). Raises ValueError when a scale's shorter side would be below MIN_SIDE.
    Notebook 07.
    """
    longer = max(height, width)
    if isinstance(scales, str) and scales == "auto":
        scales = auto_scales(longer)
    if scales is None:
        sides = [longer]
    elif isinstance(scales, (int, np.integer)) and not isinstance(scales, bool):
        if scales < 1:
            raise ValueError(f"scales must be >= 1, got {scales}")
        sides = [round(longer / 2**k) for k in range(scales - 1, -1, -1)]
    elif (
        isinstance(scales, Sequence)
        and scales
        and all(isinstance(s, (int, np.integer)) for s in scales)
    ):
        sides = [int(s) for s in scales]
        if sides != sorted(set(sides)) or sides[-1] != longer:
            raise ValueError(
                f"scales must increase and end at the image's longer side ({longer} px), got {sides}"
            )
    else:
        raise ValueError(f"scales must be an integer or a list of sizes in pixels, got {scales!r}")
    sizes = [(round(height * s / longer), round(width * s / longer)) for s in sides]
    if min(sizes[0]) < MIN_SIDE:
        raise ValueError(
            f"the coarsest scale would be {sizes[0][1]}x{sizes[0][0]} px, below the {MIN_SIDE} px "
            "VGG19 needs; use fewer scales"
        )
    return sizes


def _steps_per_scale(steps: int, n_scales: int, scale_steps) -> list[int]:
    if scale_steps is None:
        return [steps] + [steps // 2] * (n_scales - 1)
    if isinstance(scale_steps, (int, np.integer)):
        return [int(scale_steps)] * n_scales
    scale_steps = [int(s) for s in scale_steps]
    if len(scale_steps) != n_scales or min(scale_steps) < 0:
        raise ValueError(
            f"scale_steps must give one count >= 0 per scale ({n_scales}), got {scale_steps}"
        )
    return scale_steps


def _resize(image: tf.Tensor, size) -> tf.Tensor:
    if tuple(image.shape[1:3]) == tuple(size):
        return image
    return tf.clip_by_value(tf.image.resize(image, size, method="bilinear", antialias=True), 0, 1)


def stylize(
    content,
    style,
    *,
    preset: str | Preset = "tutorial",
    steps: int | None = None,
    optimizer: str | None = DEFAULT_OPTIMIZER,
    learning_rate: float | None = None,
    content_layers=None,
    style_layers=None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    tv_kind: str | None = None,
    init: str | None = None,
    style_blend=None,
    style_scale: float = 1.0,
    preserve_colors: str | None = None,
    masks=None,
    scales="auto",
    scale_steps=None,
    seed: int = 0,
    weights=None,
    max_dim: int | None = 512,
    jit_compile: bool = False,
    mixed_precision: bool = False,
    callback: Callable[[int, tf.Tensor, StepRecord], None] | None = None,
    callback_every: int = 50,
    progress: bool = False,
    stop=None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: str | os.PathLike | None = None,
    quiet: bool = False,
) -> StylizeResult:
    """Gatys-style neural style transfer by optimising the pixels of an image.

    Args:
        content, style: float32 [1, H, W, 3] in [0, 1], or anything as_image reads (then loaded
            with ``max_dim``). The output has the content image's size; the style image may have
            another size. ``style`` may be a list of images (several styles, see style_blend).
        preset: "tutorial" (the TensorFlow tutorial's objective) or "gatys" (the paper's
            formulas); see PRESETS. Every keyword below left as None keeps the preset's value.
        optimizer: "lbfgs" (the default, DEFAULT_OPTIMIZER: fastest to the tutorial's quality) or
            "adam" (with ``preset="tutorial"``: the TensorFlow tutorial's loop exactly). None takes
            the preset's optimiser (Adam for both presets).
        steps, learning_rate (Adam only), content_layers, style_layers, content_weight,
            style_weight, tv_weight, tv_kind, init: override the preset (see Preset). For L-BFGS
            ``steps`` counts iterations (default LBFGS_STEPS).
        style_blend: with several styles, one weight >= 0 per style, normalised to sum 1 (default
            equal). Their Gram matrices are blended (see StyleObjective); with masks, the weights
            scale each region's style loss.
        style_scale: resize each style image to this many times the size it would otherwise have
            (at each scale, the content's factor): > 1 makes strokes and motifs larger.
        preserve_colors: None, "luminance" (transfer on luminance only, with the style's
            luminance matched to the content's mean and standard deviation, then the content's
            YIQ colour channels put back: only the image's luminance is optimised, and the result
            has the content's colours wherever it is not clipped; the history records the losses
            of the luminance image) or "histogram" (each style's colours transformed to the content's mean and
            covariance first: control.match_colors).
        masks: one mask per style, each [H, W], [1, H, W, 1] or an image file, values in [0, 1]
            (see control.load_mask): each style applies only where its mask is on (guided Gram
            matrices, Gatys et al. 2017).
        scales: coarse-to-fine. "auto" (the default): for L-BFGS, one scale below
            AUTO_SCALES_FROM px and coarse to fine from there (see auto_scales); for Adam, one
            scale, so that ``optimizer="adam"`` with the tutorial preset is the tutorial's loop.
            An integer n runs n sizes, each twice the previous, ending at the content's size; a
            list gives the longer side of each size. Each scale starts from the previous result,
            upsampled. None or 1: one scale.
        scale_steps: steps per scale, an integer or one per scale. Default: ``steps`` at the first
            scale and half as many at each later one.
        seed: seeds the noise initialisation.
        weights: VGG19 weights, as for load_vgg19.
        jit_compile: compile each step with XLA (see the README's benchmark for when it helps).
        mixed_precision: run VGG19 in float16 on a GPU (losses stay float32). On a CPU it stays
            float32; ``result.extra["precision"]`` says which was used.
        callback: called as ``callback(step, image, record)`` every ``callback_every`` steps and
            after the last step.
        progress: show a tqdm progress bar (works in terminals and in Jupyter).
        stop: a ``threading.Event`` or a callable returning True to end the run early (for
            widgets and threads); checked after every step (L-BFGS: every evaluation after the
            first at each scale).
        checkpoint: a file to save the run's state in (see stylelib.checkpoint), atomically:
            every ``checkpoint_every`` steps, and when the run is interrupted or stopped.
            Defaults to ``resume``'s file when resuming.
        checkpoint_every: write ``checkpoint`` every this many steps (counted over all scales).
        resume: a checkpoint file to continue from. The other arguments must be those of the run
            that wrote it (settings, images, weights, stylelib version), or CheckpointError says
            what differs. Adam continues bit-identically (on a CPU, tested up to 256 px) to a
            run never stopped; L-BFGS continues with an empty curvature memory (scipy cannot save it).
        quiet: print nothing when the run ends early (callers that report it themselves).

    Ending early: Ctrl-C (a notebook's stop button) or ``stop`` ends the run after the step under
    way and returns the image with the lowest loss recorded at the current scale, with
    ``result.extra["stopped"]`` = "interrupted" or "stop" (None when the run finished) and
    ``result.extra["stopped_at"]`` (steps done, best step, scale, and the L-BFGS loss-and-gradient
    evaluations at that scale: ``extra["scales"]`` lists finished scales only), after printing one
    line to stderr. A second Ctrl-C raises KeyboardInterrupt at once. An interrupt before the first
    step's loss is known raises KeyboardInterrupt (there is nothing to return).

    Adam: each step is loss under ``tf.GradientTape``, gradient, optimiser step, clip to [0, 1],
    compiled once per image size with ``tf.function``. L-BFGS: scipy's L-BFGS-B with bounds [0, 1].
    Raises NonFiniteLossError (holding the last image whose loss was finite) if the loss becomes NaN
    or infinite. Introduced in notebook 06; L-BFGS and scales in notebook 07.
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
    if not (
        isinstance(seed, (int, np.integer))
        and not isinstance(seed, bool)
        and -(2**63) <= seed < 2**63
    ):
        raise ValueError(f"seed must be a whole number from -2**63 to 2**63 - 1, got {seed!r}")
    if preserve_colors is not None and preserve_colors not in control.PRESERVE_COLORS:
        raise ValueError(
            f"preserve_colors must be None or one of {control.PRESERVE_COLORS}, got "
            f"{preserve_colors!r}"
        )
    if stop is not None and not (callable(stop) or hasattr(stop, "is_set")):
        raise ValueError(f"stop must be a threading.Event or a callable, got {stop!r}")
    checkpoint, checkpoint_every, saved = _check_checkpointing(checkpoint, checkpoint_every, resume)
    content_image = as_image(content, max_dim=max_dim, name="content")
    style_images = _style_images(style, max_dim)
    blend = style_blend_weights(style_blend, len(style_images))  # refused before any work
    height, width = content_image.shape[1:3]
    if masks is not None:
        if isinstance(masks, (str, bytes)) or not isinstance(masks, Sequence):
            raise ValueError(f"masks must be a list with one mask per style, got {masks!r}")
        if len(masks) != len(style_images):
            raise ValueError(
                f"masks: {len(masks)} mask(s) for {len(style_images)} style image(s); give one per style"
            )
        masks = [
            control.load_mask(m, (height, width), name=f"masks[{k}]") for k, m in enumerate(masks)
        ]
    if isinstance(scales, str) and scales == "auto" and settings.optimizer != "lbfgs":
        scales = None  # coarse to fine is for L-BFGS only: Adam stays the tutorial's loop
    sizes = scale_sizes(height, width, scales)
    per_scale = _steps_per_scale(settings.steps, len(sizes), scale_steps)
    style_scale = _check_style_scale(style_scale, style_images, [h / height for h, _ in sizes])
    original_content, original_styles, user_callback = content_image, style_images, callback
    if preserve_colors == "luminance":
        content_luminance = control.luminance(content_image)
        style_images = [
            control.gray_rgb(control.match_luminance(control.luminance(s), content_luminance))
            for s in style_images
        ]
        content_image = control.gray_rgb(content_luminance)
        callback = _colorize_callback(callback, original_content)
    elif preserve_colors == "histogram":
        style_images = [control.match_colors(s, content_image) for s in style_images]
    precision = "mixed_float16" if mixed_precision and gpu_available() else "float32"
    extractor = FeatureExtractor(
        list(settings.content_layers),
        list(settings.style_layers),
        weights=weights,
        precision=precision,
    )
    runner = _RUNNERS[settings.optimizer]
    tracker = _Tracker(sum(per_scale), callback, callback_every, progress, stop=stop)
    details: list[dict] = []
    fingerprint = None
    if checkpoint is not None or resume is not None:
        fingerprint = _fingerprint(
            settings,
            sizes=sizes,
            scale_steps=per_scale,
            seed=seed,
            style_blend=blend,
            style_scale=style_scale,
            preserve_colors=preserve_colors,
            precision=precision,
            jit_compile=jit_compile,
            content=original_content,
            styles=original_styles,
            masks=masks,
            extractor=extractor,
        )
    if saved is not None:
        _ckpt.check_compatible(saved[0]["fingerprint"], fingerprint, resume)
        details = saved[0]["details"]
        tracker.history = _history_from_array(saved[1]["history"])
    if checkpoint is not None:
        state = {"details": details, "written": None}

        def write_checkpoint():
            _write_checkpoint(checkpoint, tracker, fingerprint, state)

        tracker.checkpoint = (checkpoint_every, write_checkpoint)
    stopped = None
    with _interrupt_to_flag(tracker):
        try:
            image = _run_scales(
                runner,
                tracker,
                settings=settings,
                sizes=sizes,
                per_scale=per_scale,
                content_image=content_image,
                style_images=style_images,
                style_scale=style_scale,
                style_blend=style_blend,
                masks=masks,
                luminance_only=preserve_colors == "luminance",
                extractor=extractor,
                seed=seed,
                jit_compile=jit_compile,
                details=details,
                saved=saved,
            )
        except _Stopped as exc:
            stopped = exc.reason
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside the main thread's handler
            stopped = "interrupted"
            if tracker.snapshot is None or not tracker.history:
                tracker.bar.close()
                raise
    tracker.bar.close()
    stopped_at = None
    if stopped is not None:
        image, stopped_at = _early_end(tracker, stopped, sum(per_scale), len(sizes))
        if checkpoint is not None:
            write_checkpoint()
            stopped_at["checkpoint"] = os.fspath(checkpoint)
        if not quiet:
            _say_stopped(stopped, stopped_at)
    if preserve_colors == "luminance":
        image = control.with_content_colors(image, _resize(original_content, image.shape[1:3]))
    if user_callback is not None and tracker.history[-1].step % callback_every != 0:
        user_callback(tracker.history[-1].step, image, tracker.history[-1])
    return StylizeResult(
        image=image,
        history=tracker.history,
        preset=settings,
        weights=extractor.weights,
        seconds=tracker.history[-1].seconds,
        extra={
            "scales": details,
            "precision": precision,
            "styles": len(style_images),
            "style_blend": blend,
            "style_scale": style_scale,
            "preserve_colors": preserve_colors,
            "stopped": stopped,
            "stopped_at": stopped_at,
        },
    )


def _run_scales(runner, tracker, *, sizes, per_scale, saved, details, **kw) -> tf.Tensor:
    """Run ``runner`` at each scale in turn, each starting from the last result, upsampled.

    With ``saved`` (a checkpoint's meta and arrays), skips the scales it had finished and
    continues the one it was in. Appends each finished scale's details to ``details``.
    """
    content_image, settings = kw["content_image"], kw["settings"]
    height = content_image.shape[1]
    resume_scale = saved[0]["scale"] if saved else 0
    image = None
    for index, (size, n_steps) in enumerate(zip(sizes, per_scale, strict=True)):
        if index < resume_scale:
            continue
        factor = size[0] / height * kw["style_scale"]
        styles = [
            _resize(s, (max(1, round(s.shape[1] * factor)), max(1, round(s.shape[2] * factor))))
            for s in kw["style_images"]
        ]
        objective = StyleObjective(
            kw["extractor"],
            _resize(content_image, size),
            styles,
            settings,
            style_blend=kw["style_blend"],
            masks=None if kw["masks"] is None else [_resize(m, size) for m in kw["masks"]],
            luminance_only=kw["luminance_only"],
        )
        tracker.scale = index
        tracker.offset = sum(per_scale[:index])
        resume = None
        if saved and index == resume_scale:
            resume = _snapshot_from(saved)
            tracker.start = time.perf_counter() - saved[0]["seconds"]
            image = tf.constant(resume.image, dtype=tf.float32)
        elif image is None:
            image = initial_image(_resize(content_image, size), settings.init, kw["seed"])
            tracker.start = time.perf_counter()
        else:
            image = _resize(image, size)
        with _same_bits():
            image, info = runner(
                objective, image, settings, n_steps, tracker, kw["jit_compile"], resume=resume
            )
        style_sizes = [list(s.shape[1:3]) for s in styles]
        details.append({"size": list(size), "style_sizes": style_sizes, "steps": n_steps, **info})
    return image


def _early_end(tracker, reason: str, total_steps: int, n_scales: int):
    """The image to return from a run ended early, and what ``extra["stopped_at"]`` says."""
    snap = tracker.snapshot()
    have_best = math.isfinite(snap.best_loss)
    image = snap.best_image if have_best else snap.image
    return tf.constant(image, dtype=tf.float32), {
        "reason": reason,
        "step": snap.offset + snap.steps_done,
        "of": total_steps,
        "best_step": snap.offset + snap.best_step if have_best else None,
        "scale": snap.scale,
        "scales": n_scales,
        "size": list(image.shape[1:3]),
        "evaluations": snap.evaluations,
    }


def _say_stopped(reason: str, at: dict) -> None:
    """The one line printed when a run ends early."""
    why = "interrupted" if reason == "interrupted" else "stopped"
    scale = f", scale {at['scale'] + 1} of {at['scales']}" if at["scales"] > 1 else ""
    best = f" (step {at['best_step']})" if at["best_step"] is not None else ""
    saved = f"; state saved to {at['checkpoint']}" if "checkpoint" in at else ""
    print(
        f"stylize: {why} after {at['step']} of {at['of']} steps{scale}; returning the image with "
        f"the lowest loss at this scale{best}{saved}",
        file=sys.stderr,
    )


@contextlib.contextmanager
def _interrupt_to_flag(tracker):
    """While the run lasts, the first Ctrl-C (SIGINT) only sets ``tracker.interrupted``, so the
    run ends cleanly after the step under way; a second one raises KeyboardInterrupt as usual.
    Only the main thread receives signals: elsewhere this does nothing (use ``stop``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGINT)
    except (ValueError, OSError):  # no signal support here
        yield
        return

    def handler(signum, frame):
        if tracker.interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        tracker.interrupted = True

    try:
        signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _check_checkpointing(checkpoint, checkpoint_every, resume):
    """Validate checkpoint, checkpoint_every and resume before any work.

    Returns (checkpoint path or None, checkpoint_every, the resumed checkpoint's (meta, arrays)
    or None); CheckpointError or ValueError naming the argument otherwise.
    """
    if checkpoint_every is not None and not (
        isinstance(checkpoint_every, (int, np.integer))
        and not isinstance(checkpoint_every, bool)
        and checkpoint_every >= 1
    ):
        raise ValueError(f"checkpoint_every must be a whole number >= 1, got {checkpoint_every!r}")
    saved = None
    if resume is not None:
        saved = _ckpt.load(resume, "resume")
        if checkpoint is None:  # a resumed run that is stopped again saves where it came from
            checkpoint = resume
    if checkpoint_every is not None and checkpoint is None:
        raise ValueError("checkpoint_every needs checkpoint, the file to write the checkpoints to")
    if checkpoint is not None:
        _ckpt.check_path(checkpoint, "checkpoint", must_exist=False)
    return checkpoint, checkpoint_every, saved


def _fingerprint(settings, *, content, styles, masks, extractor, **fields) -> dict:
    """What made a run, as plain JSON values: a resumed run must have the same."""
    from . import __version__

    values = {
        **{k: v for k, v in dataclasses.asdict(settings).items() if k != "name"},
        **fields,
        "preset": settings.name,
        "stylelib_version": __version__,
        "content_digest": _ckpt.array_digest(content),
        "style_digests": [_ckpt.array_digest(s) for s in styles],
        "mask_digests": None if masks is None else [_ckpt.array_digest(m) for m in masks],
        "weights_digest": _ckpt.weights_digest(extractor.model),
    }
    return json.loads(json.dumps(values, default=list))


_HISTORY_FIELDS = [f.name for f in dataclasses.fields(StepRecord)]


def _history_from_array(array: np.ndarray) -> list[StepRecord]:
    return [StepRecord(int(r[0]), float(r[1]), *map(float, r[2:6]), scale=int(r[6])) for r in array]


def _snapshot_from(saved) -> _Snapshot:
    meta, arrays = saved
    count = meta["optimizer_values"]
    return _Snapshot(
        image=arrays["image"],
        steps_done=meta["steps_done"],
        optimizer=[arrays[f"optimizer_{k}"] for k in range(count)],
        best_image=arrays["best_image"],
        best_loss=math.inf if meta["best_loss"] is None else meta["best_loss"],
        best_step=meta["best_step"],
        evaluations=meta["evaluations"],
        phase=meta["phase"],
        phase_start=meta["phase_start"],
    )


def _write_checkpoint(path, tracker, fingerprint: dict, state: dict) -> None:
    """Save the run's current state to ``path`` (once per step). A failure to write (a full
    disk) is reported in one line and the run goes on: the previous checkpoint is unchanged."""
    snap = tracker.snapshot() if tracker.snapshot is not None else None
    if snap is None:
        return
    key = (snap.scale, snap.steps_done)
    if state["written"] == key:
        return
    history = np.array(
        [[getattr(r, f) for f in _HISTORY_FIELDS] for r in tracker.history], dtype=np.float64
    ).reshape(-1, len(_HISTORY_FIELDS))
    meta = {
        "fingerprint": fingerprint,
        "scale": snap.scale,
        "steps_done": snap.steps_done,
        "step": snap.offset + snap.steps_done,
        "best_loss": snap.best_loss if math.isfinite(snap.best_loss) else None,
        "best_step": snap.best_step,
        "evaluations": snap.evaluations,
        "phase": snap.phase,
        "phase_start": snap.phase_start,
        "optimizer_values": len(snap.optimizer),
        "seconds": time.perf_counter() - tracker.start,
        "details": state["details"],
        "tensorflow_version": tf.__version__,
    }
    arrays = {"image": snap.image, "best_image": snap.best_image, "history": history}
    arrays.update({f"optimizer_{k}": v for k, v in enumerate(snap.optimizer)})
    try:
        _ckpt.save(path, meta, arrays)
    except CheckpointError as exc:
        if not state.get("failed"):
            print(f"stylize: {exc}; the run goes on", file=sys.stderr)
        state["failed"] = state.get("failed", 0) + 1
        return
    state["written"] = key


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
