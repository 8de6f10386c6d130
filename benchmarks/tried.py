"""``python benchmarks/tried.py``: L-BFGS variants issue 12 suggested, compared by loss per iteration.

Each variant minimises the tutorial objective (first loop: no TV) of one settings pair at 128 px
from the content image with SciPy's L-BFGS-B for ``--iterations`` iterations, and records the
exact loss of the image (clipped to [0, 1]) after 25, 50 and 100 iterations. Iterations cost the
same VGG19 evaluation in every variant (a variant adds a few cheap image operations), and
evaluations per iteration are reported, so the loss reached after a number of iterations compares
variants without timing anything: the figures do not depend on the machine's load.

Variants (``--variant``, repeatable; ``name`` or ``name:argument``):

* ``pixels[:M]``: what stylize does: the pixels with bounds [0, 1], M correction pairs
  (default 20, LBFGS_MEMORY);
* ``free``: the pixels without bounds; the loss is that of the clipped image;
* ``pyramid:L[:G]``: a multi-resolution (Laplacian-pyramid-like) parameterisation: the image is the
  sum of L levels, level k held at 1/2^k of the size and upsampled bilinearly, times G^k (default
  G = 1); no bounds, the loss is that of the clipped image; starts with the content in level 0;
* ``colour``: colour-decorrelated: the image is the content's mean colour plus z times a 3x3
  matrix (the content's colour covariance's eigenvectors, scaled by the square roots of its
  eigenvalues over the largest); no bounds, clipped;
* ``adam:K``: K steps of the tutorial's Adam (0.02, beta1 0.99, eps 0.1, clipped to [0, 1]) from
  the content, then L-BFGS-B on the pixels with bounds; each Adam step counts as an iteration (it
  costs one evaluation);
* ``scale:T``: the pixels with bounds, the loss (and so its gradient) multiplied by T / max|g|, g
  the gradient at the start: L-BFGS-B's first trial step (the negative gradient, projected onto
  the box) then moves no pixel by more than T, where the unscaled loss sends every pixel whose
  gradient exceeds its distance to a bound onto it; later steps are scaled by L-BFGS-B's own
  curvature estimate;
* ``diag:P``: a per-pixel scaling: x = d * z with d = (|g| + 0.01 mean |g|)^-P, |g| the RMS over
  colours of the gradient at the start, normalised to geometric mean 1; bounds [0, 1/d] keep the
  box.

For choosing settings only: held-out pairs are refused. Usage:
``python benchmarks/tried.py --pair landscape-mosaic --variant pixels --variant pyramid:4``;
each run appends a JSON line to ``--out`` (default results/tried_128.jsonl); ``--render`` writes
the table (results/tried_128.md) from those lines.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pairs
import run
import scipy.optimize

import stylelib
from stylelib._tf import tf

HERE = Path(__file__).resolve().parent
MARKS = (25, 50, 100, 150, 200)
SIZE = 128  # px, the longer side: the table compares each variant with the baseline at this size


def _pyramid_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    sizes = [(height, width)]
    for _ in range(1, levels):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def parameterisation(variant: str, content: np.ndarray, gradient: np.ndarray):
    """(to_image, z0, bounds) of a variant: to_image maps float32 z [n] to [1, H, W, 3]."""
    name, _, arg = variant.partition(":")
    if name in ("adam", "scale"):  # measure() sets adam's start and scale's factor
        name = "pixels"
    shape = content.shape
    height, width = shape[1:3]
    x = content.ravel().astype(np.float64)
    if name in ("pixels", "free"):
        bounds = [(0.0, 1.0)] * x.size if name == "pixels" else None
        return (lambda z: tf.reshape(z, shape)), x, bounds
    if name == "pyramid":
        levels, _, gain = arg.partition(":")
        sizes = _pyramid_sizes(height, width, int(levels))
        gain = float(gain or 1.0)

        def to_image(z):
            out, offset = 0.0, 0
            for k, (h, w) in enumerate(sizes):
                n = h * w * 3
                level = tf.reshape(z[offset : offset + n], [1, h, w, 3])
                out += gain**k * tf.image.resize(level, (height, width), "bilinear")
                offset += n
            return out

        z0 = np.concatenate([x] + [np.zeros(h * w * 3) for h, w in sizes[1:]])
        return to_image, z0, None
    if name == "colour":
        pixels = content.reshape(-1, 3)
        values, vectors = np.linalg.eigh(np.cov(pixels.T) + 1e-4 * np.eye(3))
        matrix = (vectors * np.sqrt(values / values.max())).astype(np.float32)
        mean = pixels.mean(0).astype(np.float32)
        m_t = tf.constant(matrix.T)
        z0 = np.linalg.solve(matrix, (content.reshape(-1, 3) - mean).T).T.ravel()
        to_image = lambda z: tf.reshape(tf.reshape(z, [-1, 3]) @ m_t + mean, shape)  # noqa: E731
        return to_image, z0.astype(np.float64), None
    if name == "diag":
        power = float(arg)
        magnitude = np.sqrt((gradient**2).mean(-1, keepdims=True)) + np.zeros_like(gradient)
        d = (magnitude + 0.01 * magnitude.mean()) ** -power
        d = (d / np.exp(np.log(d).mean())).ravel()
        d32 = tf.constant(d.astype(np.float32))
        upper = (1.0 / d32.numpy().astype(np.float64)).tolist()
        bounds = list(zip([0.0] * x.size, upper, strict=True))
        z0 = (content.ravel() / d32.numpy()).astype(np.float64)
        return (lambda z: tf.reshape(z * d32, shape)), z0, bounds
    raise SystemExit(f"--variant: unknown variant {variant!r}")


def measure(name: str, size: int, variant: str, iterations: int, weights: Path) -> dict:
    """One variant on one pair: exact losses after MARKS iterations, evaluations, message."""
    content, style = pairs.pair(name, size)
    preset = stylelib.make_preset("tutorial", tv_weight=0.0)
    extractor = stylelib.FeatureExtractor(
        preset.content_layers, preset.style_layers, weights=str(weights)
    )
    objective = stylelib.StyleObjective(extractor, content, style, preset)
    start = tf.constant(content)
    with tf.GradientTape() as tape:
        tape.watch(start)
        loss = objective(start)[0]
    gradient = tape.gradient(loss, start).numpy()
    to_image, z0, bounds = parameterisation(variant, content.numpy(), gradient)
    memory = int(variant.split(":")[1]) if variant.startswith("pixels:") else 20
    scale = 1.0
    if variant.startswith("scale:"):
        scale = float(variant.split(":")[1]) / float(np.abs(gradient).max())
    losses = []
    if variant.startswith("adam:"):
        image = tf.Variable(content)
        adam = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=0.1)

        @tf.function
        def adam_step():
            with tf.GradientTape() as tape:
                loss = objective(image)[0]
            adam.apply_gradients([(tape.gradient(loss, image), image)])
            image.assign(tf.clip_by_value(image, 0.0, 1.0))

        for _ in range(int(variant.split(":")[1])):
            adam_step()
            losses.append(float(objective(image)[0]))
        z0 = image.numpy().ravel().astype(np.float64)

    @tf.function
    def value_and_grad(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            image = to_image(z)
            if bounds is None:  # (diag's bounds keep its image in [0, 1])
                image = tf.clip_by_value(image, 0.0, 1.0)
            loss = objective(image)[0]
        return loss, tape.gradient(loss, z)

    @tf.function
    def exact(z):
        return objective(tf.clip_by_value(to_image(z), 0.0, 1.0))[0]

    evaluations = [len(losses)]

    def fun(z):
        evaluations[0] += 1
        loss, grad = value_and_grad(tf.constant(z, tf.float32))
        return scale * float(loss), scale * grad.numpy().astype(np.float64)

    def callback(z):
        losses.append(float(exact(tf.constant(z, tf.float32))))

    began = time.perf_counter()
    result = scipy.optimize.minimize(
        fun,
        z0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=callback,
        options=dict(
            maxiter=iterations - len(losses),
            maxfun=3 * iterations,
            maxcor=memory,
            ftol=0,
            gtol=0,
        ),
    )
    return {
        "pair": name,
        "size": size,
        "variant": variant,
        "iterations": len(losses),
        "evaluations": evaluations[0],
        "max_abs_gradient_at_start": float(np.abs(gradient).max()),
        "loss_after": {str(k): losses[k - 1] for k in MARKS if k <= len(losses)},
        "message": str(result.message),
        "seconds_not_comparable": round(time.perf_counter() - began, 1),
        "date": time.strftime("%Y-%m-%d"),
    }


def render(lines: list[dict]) -> str:
    """The table: each variant's loss after 25/50/100 iterations over the baseline's."""
    base = {r["pair"]: r for r in lines if r["variant"] in ("pixels", "pixels:20")}
    out = [
        "Loss after k L-BFGS iterations, as a ratio to stylize's own parameterisation (pixels "
        "with bounds, 20 correction pairs) on the same pair: below 1 is better. Tutorial "
        "objective without TV, 128 px, from the content image, untrained VGG19 "
        "(`python benchmarks/tried.py`; settings pairs only).",
        "",
        "| variant | pair | after 25 | after 50 | after 100 | evaluations per iteration |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(lines, key=lambda r: (r["variant"], r["pair"])):
        if r["variant"] in ("pixels", "pixels:20") or r["pair"] not in base:
            continue
        b = base[r["pair"]]["loss_after"]
        cells = [
            f"{r['loss_after'][k] / b[k]:.3f}" if k in r["loss_after"] and k in b else "-"
            for k in ("25", "50", "100")
        ]
        per = r["evaluations"] / max(r["iterations"], 1)
        out.append(f"| {r['variant']} | {r['pair']} | {' | '.join(cells)} | {per:.2f} |")
    out += ["", "Baselines (pixels, bounds, 20 pairs): loss after 25 / 50 / 100 iterations:", ""]
    for name, r in base.items():
        marks = " / ".join(
            f"{r['loss_after'][k]:.4g}" if k in r["loss_after"] else "-"
            for k in ("25", "50", "100")
        )
        out.append(f"- {name}: {marks}")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair", action="append", choices=sorted(pairs.SETTINGS_PAIRS))
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "tried_128.jsonl")
    parser.add_argument("--render", action="store_true", help="only write the table")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    args = parser.parse_args(argv)
    for variant in args.variant:
        if variant.startswith("adam:") and int(variant.split(":")[1]) >= args.iterations:
            parser.error(
                f"--variant {variant}: as many Adam steps as --iterations leaves no L-BFGS"
            )
    if not args.render:
        weights = run.weights_file(args.work)
        for name in args.pair or sorted(pairs.SETTINGS_PAIRS):
            for variant in args.variant or ["pixels"]:
                row = measure(name, SIZE, variant, args.iterations, weights)
                print(json.dumps(row), flush=True)
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
    lines = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
    args.out.with_suffix(".md").write_text(render(lines))
    print(render(lines))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    raise SystemExit(main())
