"""The ``stylelib`` command: ``stylelib CONTENT STYLE -o OUT.png [options]``.

Exit codes: 0 success, 1 the optimisation failed (non-finite loss), 2 bad arguments, unreadable
images or unavailable weights, 130 interrupted. The output is written atomically and an existing
file is never replaced unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _scales(text: str) -> int | list[int]:
    """--scales: "N" (N sizes, each twice the last) or "256,512,1024" (longer sides in px)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of scales or comma-separated sizes in px, got {text!r}"
        ) from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return values[0] if len(values) == 1 else values


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the command in the README)."""
    from .objective import INITS, LBFGS_STEPS, OPTIMIZERS, PRESETS, TV_KINDS

    parser = argparse.ArgumentParser(
        prog="stylelib",
        description="Paint the content image in the style of the style image (Gatys et al. 2016).",
        epilog=(
            "Weights: 'imagenet' needs the Keras download (or its cache in ~/.keras/models/); "
            "offline, pass --weights PATH to a local vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5. "
            "'random' is an untrained network: it runs anywhere but does not show the real method."
        ),
    )
    parser.add_argument("content", help="content image (PNG, JPEG, ... any format Pillow reads)")
    parser.add_argument("style", help="style image")
    parser.add_argument("-o", "--output", required=True, help="output image, .png or .jpg")
    parser.add_argument(
        "--max-dim",
        type=_positive_int,
        default=512,
        metavar="PX",
        help="longer side of the output in pixels (default 512)",
    )
    parser.add_argument(
        "--style-max-dim",
        type=_positive_int,
        default=None,
        metavar="PX",
        help="longer side the style image is scaled to (default: --max-dim)",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="tutorial",
        help="settings to start from (default: tutorial)",
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="lbfgs",
        help="lbfgs (default: reaches a given loss many times sooner, see README) or adam "
        "(the tutorial's optimiser)",
    )
    parser.add_argument(
        "--steps",
        type=_positive_int,
        help=f"iterations for lbfgs (default {LBFGS_STEPS}), steps for adam (preset's default)",
    )
    parser.add_argument(
        "--scales",
        type=_scales,
        metavar="N|PX,PX,...",
        help="coarse to fine: N sizes each twice the last, or the longer side of each "
        "(e.g. 256,512,1024; the last must equal --max-dim). Default: one scale",
    )
    parser.add_argument(
        "--scale-steps",
        type=_scales,
        metavar="N|N,N,...",
        help="steps at each scale (default: --steps at the first, half at each later one)",
    )
    parser.add_argument("--learning-rate", type=_non_negative_float, metavar="LR")
    parser.add_argument("--content-weight", type=_non_negative_float, metavar="ALPHA")
    parser.add_argument("--style-weight", type=_non_negative_float, metavar="BETA")
    parser.add_argument("--tv-weight", type=_non_negative_float, metavar="W")
    parser.add_argument("--tv-kind", choices=TV_KINDS, help="total variation form (see README)")
    parser.add_argument("--init", choices=INITS, help="start from the content image or noise")
    parser.add_argument(
        "--weights",
        default=None,
        metavar="imagenet|random|PATH",
        help="VGG19 weights (default: $STYLELIB_VGG19_WEIGHTS, else imagenet)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for noise initialisation")
    parser.add_argument(
        "--save-every",
        type=_positive_int,
        metavar="N",
        help="also write OUT's progress every N steps (same file, atomically)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace OUT if it exists (otherwise refuse)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    return parser


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"stylelib: error: {message}", file=sys.stderr)
    return code


def _check_output(args) -> str | None:
    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        return f"--output '{out}': use a .png, .jpg or .jpeg file name"
    if out.is_dir():
        return f"--output '{out}': is a directory"
    for name in (args.content, args.style):
        if Path(name).exists() and out.exists() and os.path.samefile(name, out):
            return f"--output '{out}': is one of the input images; choose another file"
    if out.exists() and not args.overwrite:
        return f"--output '{out}': already exists; pass --overwrite to replace it"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with code 2 and a usage line on bad arguments
    problem = _check_output(args)
    if problem:
        return _fail(problem)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return _fail("interrupted; the output file was not written", EXIT_INTERRUPTED)


def _run(args) -> int:
    from .errors import ImageError, NonFiniteLossError, WeightsError
    from .images import load_image, save_image
    from .model import resolve_weights
    from .optimize import stylize

    try:
        weights = resolve_weights(args.weights)
        content = load_image(args.content, max_dim=args.max_dim)
        style = load_image(args.style, max_dim=args.style_max_dim or args.max_dim)
    except (ImageError, WeightsError) as exc:
        return _fail(str(exc))
    if not args.quiet:
        print(weights, file=sys.stderr)

    def save_progress(step, image, record):
        save_image(image, args.output)

    started = time.perf_counter()
    try:
        result = stylize(
            content,
            style,
            preset=args.preset,
            steps=args.steps,
            optimizer=args.optimizer,
            learning_rate=args.learning_rate,
            content_weight=args.content_weight,
            style_weight=args.style_weight,
            tv_weight=args.tv_weight,
            tv_kind=args.tv_kind,
            init=args.init,
            scales=args.scales,
            scale_steps=args.scale_steps,
            seed=args.seed,
            weights=weights.spec,
            callback=save_progress if args.save_every else None,
            callback_every=args.save_every or 1,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    except WeightsError as exc:
        return _fail(str(exc))
    except NonFiniteLossError as exc:
        return _fail(str(exc).split(";")[0] + "; no output written", EXIT_FAILED)
    except ValueError as exc:
        return _fail(str(exc))
    try:
        path = save_image(result.image, args.output)
    except ImageError as exc:
        return _fail(str(exc))
    if not args.quiet:
        h, w = result.image.shape[1:3]
        print(
            f"wrote {path} ({w}x{h} px, {result.preset.optimizer}, "
            f"{result.history[-1].step} steps, final loss {result.final_loss:.4g}) "
            f"in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
