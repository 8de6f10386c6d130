"""The commands ``stylelib-train`` and ``stylelib-apply``: fast style transfer (stylelib.fast).

``stylelib-train STYLE CONTENT -o NET.keras --steps N [options]`` trains a transformer network on
the images of CONTENT (a folder, ``generated:`` for images made offline, or ``tfds:NAME`` for a
TensorFlow Datasets set) and writes it. ``stylelib-apply NET.keras INPUT -o OUTPUT`` stylises an
image (OUTPUT a .png/.jpg file) or every image of a folder (OUTPUT a folder).

The conventions of the ``stylelib`` command (stylelib.cli): exit codes 0 success, 1 a non-finite
loss, 2 bad arguments, unreadable inputs or unavailable weights, 130 interrupted; errors are one
line naming the flag; nothing is overwritten without ``--overwrite``, and an input never is.
On Ctrl-C, ``stylelib-train`` writes the network as it is after the last completed step (and the
checkpoint, with ``--checkpoint``) and exits with 130.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .cli import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    _check_checkpoint,
    _flags,
    _number,
    _Parser,
    _positive_int,
    _seed,
    _side,
    _UsageError,
    _whole_number,
    _with_flag,
)

#: CONTENT values that are not folders.
GENERATED = "generated:"
TFDS_PREFIX = "tfds:"


def _fail(prog: str, message: str, code: int = EXIT_USAGE) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    message = message.removeprefix("argument ")
    if not message.startswith("-"):
        parser.print_usage(sys.stderr)
    return _fail(parser.prog, message)


def _count(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {value}")
    return value


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated VGG19 layer names, got {text!r}"
        )
    return names


def build_train_parser() -> argparse.ArgumentParser:
    """The parser of ``stylelib-train``."""
    from . import fast

    parser = _Parser(
        prog="stylelib-train",
        description="Train a feed-forward network that paints any image in the style of STYLE "
        "in one pass (Johnson et al. 2016), with stylelib's objective.",
        epilog="Weights: as for the stylelib command. With --weights random (untrained VGG19) "
        "the network learns nothing meaningful: use it to try the mechanics only.",
    )
    parser.add_argument("style", help="the style image")
    parser.add_argument(
        "content",
        help=f"training images: a folder (searched recursively for .jpg/.png), '{GENERATED}' "
        f"(images made offline: mechanics only) or '{TFDS_PREFIX}NAME' (a TensorFlow Datasets set, "
        "e.g. tfds:tf_flowers; needs tensorflow-datasets and the internet)",
    )
    parser.add_argument("-o", "--output", required=True, help="the network file, NAME.keras")
    parser.add_argument("--steps", type=_positive_int, required=True, help="training steps")
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=fast.BATCH_SIZE,
        help=f"images per step (default {fast.BATCH_SIZE})",
    )
    parser.add_argument(
        "--image-size",
        type=_side,
        default=fast.IMAGE_SIZE,
        metavar="PX",
        help=f"side of the square training crops (default {fast.IMAGE_SIZE})",
    )
    parser.add_argument(
        "--style-size",
        type=_side,
        metavar="PX",
        help="longer side of the style image (default: --image-size)",
    )
    parser.add_argument(
        "--learning-rate",
        type=_number,
        default=fast.LEARNING_RATE,
        metavar="LR",
        help=f"Adam's step size (default {fast.LEARNING_RATE:g})",
    )
    tutorial = "(default: the tutorial preset's)"
    parser.add_argument(
        "--content-layers",
        type=_names,
        metavar="NAME,...",
        help="VGG19 content layers (default block5_conv2; Johnson et al. used block2_conv2)",
    )
    parser.add_argument(
        "--style-layers",
        type=_names,
        metavar="NAME,...",
        help="VGG19 style layers, equal weights (default block1_conv1,...,block5_conv1)",
    )
    parser.add_argument("--content-weight", type=_number, metavar="ALPHA", help=tutorial)
    parser.add_argument("--style-weight", type=_number, metavar="BETA", help=tutorial)
    parser.add_argument("--tv-weight", type=_number, metavar="W", help=tutorial)
    parser.add_argument(
        "--width",
        type=_positive_int,
        default=fast.WIDTH,
        help=f"channels of the first layer (default {fast.WIDTH})",
    )
    parser.add_argument(
        "--residual-blocks",
        type=_count,
        default=fast.RESIDUAL_BLOCKS,
        metavar="N",
        help=f"residual blocks (default {fast.RESIDUAL_BLOCKS})",
    )
    parser.add_argument(
        "--weights",
        default=None,
        metavar="imagenet|random|PATH",
        help="VGG19 weights (default: $STYLELIB_VGG19_WEIGHTS, else imagenet)",
    )
    parser.add_argument("--seed", type=_seed, default=0, help="initial weights, image order")
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="save the training state to FILE every --checkpoint-every steps, when interrupted "
        "and at the end, to continue later with --resume FILE",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=_positive_int,
        metavar="N",
        help="write --checkpoint every N steps",
    )
    parser.add_argument(
        "--resume",
        metavar="FILE",
        help="continue the training that saved FILE (same arguments; --steps may be larger)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace --output (and --checkpoint) if it exists"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    return parser


def _content(text: str, image_size: int, seed: int):
    from . import fast

    if text == GENERATED:
        return fast.generated_content(image_size, seed=seed)
    if text.startswith(TFDS_PREFIX):
        return fast.tfds_content(text[len(TFDS_PREFIX) :])
    return text


def _check_output(args, suffixes: tuple[str, ...], inputs: list[str]) -> str | None:
    """--output: the right kind of name, not an input, not existing unless --overwrite."""
    out = Path(args.output)
    if out.suffix.lower() not in suffixes:
        return f"--output '{out}': use a file name ending in {' or '.join(suffixes)}"
    if out.is_dir():
        return f"--output '{out}': is a folder"
    for name in inputs:
        if Path(name).exists() and out.exists() and os.path.samefile(name, out):
            return f"--output '{out}': is one of the inputs; choose another file"
    if out.exists() and not args.overwrite:
        return f"--output '{out}': already exists; pass --overwrite to replace it"
    return None


def train_main(argv: list[str] | None = None) -> int:
    """Run ``stylelib-train``; returns the exit code."""
    parser = build_train_parser()
    prog = parser.prog
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _usage_error(parser, str(exc))
    flags = _flags(parser)
    problem = _check_output(args, (".keras",), [args.style]) or _check_checkpoint(args, flags)
    if problem:
        return _fail(prog, problem)
    try:
        return _train(args, flags, prog)
    except KeyboardInterrupt:
        return _fail(
            prog, "interrupted before the first step; nothing was written", EXIT_INTERRUPTED
        )


def _train(args, flags: dict[str, str], prog: str) -> int:
    from . import fast
    from .errors import LayerError, NonFiniteLossError, StylelibError
    from .model import resolve_weights

    try:
        weights = resolve_weights(args.weights)
        content = _content(args.content, args.image_size, args.seed)
    except StylelibError as exc:
        return _fail(prog, str(exc))
    if not args.quiet:
        print(weights, file=sys.stderr)
    started = time.perf_counter()
    try:
        result = fast.train(
            args.style,
            content,
            steps=args.steps,
            batch_size=args.batch_size,
            image_size=args.image_size,
            style_size=args.style_size,
            weights=weights.spec,
            content_layers=args.content_layers,
            style_layers=args.style_layers,
            content_weight=args.content_weight,
            style_weight=args.style_weight,
            tv_weight=args.tv_weight,
            learning_rate=args.learning_rate,
            width=args.width,
            residual_blocks=args.residual_blocks,
            seed=args.seed,
            checkpoint=args.checkpoint,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            progress=not args.quiet and sys.stderr.isatty(),
            quiet=True,
        )
    except NonFiniteLossError as exc:
        return _fail(prog, str(exc).split(";")[0] + "; no network written", EXIT_FAILED)
    except LayerError as exc:
        return _fail(prog, f"--content-layers/--style-layers: {exc}")
    except (StylelibError, ValueError) as exc:
        return _fail(prog, _with_flag(str(exc), flags))
    try:
        path = fast.save_network(result.network, args.output, overwrite=True)
    except StylelibError as exc:
        return _fail(prog, str(exc))
    step, stopped = result.extra["step"], result.extra["stopped"]
    untrained = "" if weights.trained else "; VGG19 weights UNTRAINED: mechanics only"
    if stopped == "interrupted":
        then = (
            f"; continue with the same command and --resume {args.checkpoint} --overwrite"
            if args.checkpoint
            else "; pass --checkpoint FILE to be able to continue an interrupted run"
        )
        print(
            f"{prog}: interrupted after {step} of {args.steps} steps: wrote the network after "
            f"step {step} to {path}{then}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if not args.quiet:
        ran_out = f" (the content ran out after {step} steps)" if stopped == "exhausted" else ""
        print(
            f"wrote {path} ({step} steps{ran_out}, last batch loss {result.final_loss:.4g}"
            f"{untrained}) in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    return EXIT_OK


def build_apply_parser() -> argparse.ArgumentParser:
    """The parser of ``stylelib-apply``."""
    parser = _Parser(
        prog="stylelib-apply",
        description="Stylise an image, or every image of a folder, with a network written by "
        "stylelib-train.",
    )
    parser.add_argument("network", help="the network file (.keras)")
    parser.add_argument("input", help="an image, or a folder (its .jpg/.png images, recursively)")
    parser.add_argument(
        "-o", "--output", required=True, help="the output image (.png/.jpg), or a folder"
    )
    parser.add_argument(
        "--max-dim",
        type=_side,
        metavar="PX",
        help="resize each input to this longer side first (default: its own size)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace outputs that exist (never an input)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    return parser


def apply_main(argv: list[str] | None = None) -> int:
    """Run ``stylelib-apply``; returns the exit code."""
    from . import fast
    from .errors import StylelibError
    from .images import load_image, save_image

    parser = build_apply_parser()
    prog = parser.prog
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _usage_error(parser, str(exc))
    source = Path(args.input)
    if not source.exists():
        return _fail(prog, f"input '{source}': no such file or folder")
    if not source.is_dir():
        problem = _check_output(args, (".png", ".jpg", ".jpeg"), [args.input, args.network])
        if problem:
            return _fail(prog, problem)
    started = time.perf_counter()
    try:
        network = fast.load_network(args.network)
        if source.is_dir():
            written = fast.apply_to_folder(
                network,
                source,
                args.output,
                overwrite=args.overwrite,
                max_dim=args.max_dim,
                progress=not args.quiet and sys.stderr.isatty(),
            )
        else:
            image = fast.apply_network(network, load_image(source, max_dim=args.max_dim))
            written = [save_image(image, args.output)]
    except KeyboardInterrupt:
        return _fail(prog, "interrupted; the images written so far stay", EXIT_INTERRUPTED)
    except StylelibError as exc:
        message = str(exc).replace("out_dir", "--output").replace("in_dir", "input")
        return _fail(prog, message)
    if not args.quiet:
        info = fast.network_info(network)
        untrained = (
            "; the network was trained with UNTRAINED VGG19 weights: mechanics only"
            if info.get("vgg_weights_trained") is False
            else ""
        )
        print(
            f"wrote {len(written)} image(s) to {args.output} in "
            f"{time.perf_counter() - started:.1f} s{untrained}",
            file=sys.stderr,
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(train_main())
