"""What the untrained ("random") VGG19 produces: Keras' initialisation against the calibrated one.

The offline path of the series (tests, CI, notebooks without the ImageNet weights) runs on an
untrained VGG19. This script runs ``stylelib.stylize`` with the "tutorial" preset, its weights
unchanged, once with each initialisation of that network:

* ``glorot``: Keras' default (Glorot-uniform kernels, zero biases), as stylelib used before;
* ``calibrated``: the same draws, each layer then scaled by ``calibrate_random_vgg19`` (what
  ``weights="random"`` now builds).

and records for each run:

* the style term at the start and at the end, and how many times it fell (start / end);
* the content term and the total variation (TV) term at the end;
* detail kept: the correlation between the content's and the result's greyscale detail (difference
  of Gaussian blurs with σ = 1 and 4 px): 1 is the content's edges exactly, 0 none of them;
* colour moved: the sliced Wasserstein distance between the result's and the style's pixel
  colours, divided by the same distance for the content image: below 1 the colours moved toward
  the style's, above 1 away from them.

Usage: ``python benchmarks/untrained.py [--size 192] [--steps 200] [--optimizer lbfgs]``
``[--pairs hopper+waves landscape+mosaic hopper+swirls] [--inits glorot calibrated]``
``[--feature-rms 300] [--content-rms 10] [--name untrained] [--out benchmarks/results]``
``[--figure docs/images/untrained_before_after.png]``. ``--feature-rms`` / ``--content-rms`` try
other calibration targets than stylelib's (RANDOM_FEATURE_RMS, RANDOM_CONTENT_RMS).
Writes ``untrained.json`` and ``untrained.md`` to ``--out`` and the figure (content, style, result
with each initialisation, one row per pair). Wall times are recorded but depend on the machine.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

import stylelib
from stylelib import model as model_module
from stylelib._tf import tf

HERE = Path(__file__).resolve().parent
INITS = ("glorot", "calibrated")
PAIRS = ("hopper+waves", "landscape+mosaic", "hopper+swirls")


def untrained_vgg19(init: str):
    """The untrained VGG19 with Keras' initialisation ("glorot") or calibrated ("calibrated")."""
    vgg = tf.keras.applications.VGG19(include_top=False, weights=None)
    model_module._random_weights(
        vgg, model_module.RANDOM_WEIGHTS_SEED, calibrate=init == "calibrated"
    )
    vgg.trainable = False
    return vgg


def use_untrained(init: str) -> None:
    """Make ``weights="random"`` mean that initialisation in this process (benchmark only)."""
    model_module._MODEL_CACHE["random"] = untrained_vgg19(init)


def _grey(image) -> np.ndarray:
    return np.asarray(image)[0] @ np.array([0.299, 0.587, 0.114])


def detail_correlation(result, content) -> float:
    """Correlation of the greyscale detail (Gaussian σ=1 minus σ=4 px) of two [1, H, W, 3] images."""

    def detail(image):
        grey = _grey(image)
        return (gaussian_filter(grey, 1.0) - gaussian_filter(grey, 4.0)).ravel()

    return float(np.corrcoef(detail(result), detail(content))[0, 1])


def colour_distance(a, b, projections: int = 64, seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance between the pixel colours of two images ([0, 1] scale)."""
    directions = np.random.default_rng(seed).normal(size=(projections, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    quantiles = np.linspace(0, 1, 257)
    a = np.asarray(a).reshape(-1, 3) @ directions.T
    b = np.asarray(b).reshape(-1, 3) @ directions.T
    qa, qb = np.quantile(a, quantiles, axis=0), np.quantile(b, quantiles, axis=0)
    return float(np.mean(np.abs(qa - qb)))


def run(pair: str, init: str, size: int, steps: int, optimizer: str):
    """One stylize run on the current untrained network; (row of the table, result image)."""
    content_name, style_name = pair.split("+")
    content = stylelib.sample_image(content_name, max_dim=size)
    style = stylelib.sample_image(style_name, max_dim=size)
    start = time.perf_counter()
    result = stylelib.stylize(
        content,
        style,
        preset="tutorial",
        optimizer=optimizer,
        steps=steps,
        scales=None,
        weights="random",
        max_dim=size,
    )
    seconds = time.perf_counter() - start
    first, last = result.history[0], result.history[-1]
    row = {
        "init": init,
        "pair": pair,
        "optimizer": optimizer,
        "steps": steps,
        "size": list(content.shape[1:3]),
        "style_start": first.style,
        "style_end": last.style,
        "style_fall": first.style / last.style,
        "content_end": last.content,
        "tv_start": first.tv,
        "tv_end": last.tv,
        "detail_corr": detail_correlation(result.image, content),
        "colour_moved": colour_distance(result.image, style) / colour_distance(content, style),
        "seconds": seconds,
    }
    return row, (content, style, result.image)


def figure(panels: dict, rows, path: Path, title: str) -> None:
    """One row per pair: content, style, result with Keras' init, result calibrated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    columns = ["content", "style", "untrained VGG19,\nKeras init (before)"]
    columns.append("untrained VGG19,\ncalibrated (after)")
    fig, axes = plt.subplots(len(rows), 4, figsize=(9.2, 2.45 * len(rows)), squeeze=False)
    for r, pair in enumerate(rows):
        content, style, before = panels[("glorot", pair)]
        after = panels[("calibrated", pair)][2]
        for c, image in enumerate((content, style, before, after)):
            ax = axes[r][c]
            ax.imshow(np.clip(np.asarray(image)[0], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(columns[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(pair.replace("+", " + "), fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    buffer.seek(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A 256-colour palette keeps the PNG small (README images must stay under 200 KB).
    Image.open(buffer).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(path)


def markdown(rows: list[dict], command: str, targets: tuple[float, float]) -> str:
    lines = [
        "Untrained VGG19, tutorial preset (weights unchanged), calibrated to RMS "
        f"{targets[0]:g} (layers to block5_conv1) and {targets[1]:g} (after it), "
        f"measured by `{command}`.",
        "",
        "| network | pair | optimiser, steps | style start → end | style fell × | content end "
        "| TV start → end | detail kept | colour moved |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['init']} | {r['pair']} ({r['size'][1]}×{r['size'][0]}) | {r['optimizer']}, "
            f"{r['steps']} | {r['style_start']:.4g} → {r['style_end']:.4g} | "
            f"{r['style_fall']:.3g} | {r['content_end']:.4g} | {r['tv_start']:.4g} → "
            f"{r['tv_end']:.4g} | {r['detail_corr']:.2f} | {r['colour_moved']:.2f} |"
        )
    lines += [
        "",
        "style fell ×: style term at the start / at the end (above 1: it fell). detail kept: "
        "correlation of the content's and the result's greyscale detail (difference of Gaussian "
        "blurs, σ = 1 and 4 px). colour moved: colour distance to the style image, result / "
        "content (below 1: toward the style's colours).",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=192, help="longer side in px")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--optimizer", default="lbfgs", choices=("lbfgs", "adam"))
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS))
    parser.add_argument("--inits", nargs="+", default=list(INITS), choices=INITS)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--name", default="untrained", help="file name of the results")
    parser.add_argument("--figure", type=Path, default=None, help="PNG path of the figure")
    parser.add_argument(
        "--feature-rms",
        type=float,
        default=model_module.RANDOM_FEATURE_RMS,
        help="calibrated size of the layers up to block5_conv1 (to compare other choices)",
    )
    parser.add_argument(
        "--content-rms",
        type=float,
        default=model_module.RANDOM_CONTENT_RMS,
        help="calibrated size of the layers after block5_conv1",
    )
    args = parser.parse_args(argv)
    model_module.RANDOM_FEATURE_RMS = args.feature_rms
    model_module.RANDOM_CONTENT_RMS = args.content_rms
    command = "python benchmarks/untrained.py " + " ".join(argv or sys.argv[1:])
    rows, panels = [], {}
    for init in args.inits:
        use_untrained(init)
        for pair in args.pairs:
            row, images = run(pair, init, args.size, args.steps, args.optimizer)
            rows.append(row)
            panels[(init, pair)] = images
            print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"command": command.strip(), "python": platform.python_version()}
    meta["feature_rms"], meta["content_rms"] = args.feature_rms, args.content_rms
    meta["tensorflow"] = tf.__version__
    (args.out / f"{args.name}.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    (args.out / f"{args.name}.md").write_text(
        markdown(rows, command.strip(), (args.feature_rms, args.content_rms))
    )
    if args.figure is not None and set(args.inits) == set(INITS):
        title = (
            f"Untrained VGG19 (random weights, not the trained network): tutorial preset, "
            f"{args.optimizer} {args.steps} steps"
        )
        figure(panels, args.pairs, args.figure, title)


if __name__ == "__main__":
    main()
