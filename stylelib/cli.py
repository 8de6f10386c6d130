"""The ``stylelib`` command: ``stylelib CONTENT STYLE [STYLE ...] -o OUT.png [options]``.

Exit codes: 0 success, 1 the optimisation failed (non-finite loss), 2 bad arguments, unreadable
images or unavailable weights, 130 interrupted. Every error is one line, ``stylelib: error: ...``;
a bad option value is reported under the flag that was typed (``--max-dim: ...``), also when the
library found it (its messages start with the keyword, which is mapped to the flag), and before
any image is read or the network is built. The output is written atomically, with the permissions
an ordinary ``open()`` would give, and an existing file is never replaced unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Library keywords whose command-line flag is not simply the keyword with dashes.
_KEYWORD_ALIASES = {"callback_every": "--save-every", "masks": "--mask"}


class _UsageError(Exception):
    """A command-line mistake found by argparse; main() prints it as one line and returns 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit; main() decides instead
        raise _UsageError(message)


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _side(text: str) -> int:
    """--max-dim / --style-max-dim: a whole number of pixels, at least images.MIN_SIDE."""
    from .errors import ImageError
    from .images import _check_max_dim

    value = _whole_number(text)
    try:
        _check_max_dim(value, name="")
    except ImageError as exc:
        raise argparse.ArgumentTypeError(str(exc).strip()) from None
    return value


def _number(text: str) -> float:
    """A float; its range is checked by make_preset, whose message is then given the flag."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _seed(text: str) -> int:
    """--seed: any whole number TensorFlow's stateless random ops take (64-bit signed)."""
    value = _whole_number(text)
    if not -(2**63) <= value < 2**63:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from -2**63 to 2**63 - 1 (64 bits), got {value}"
        )
    return value


def _counts(text: str, what: str, least: int) -> int | list[int]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if min(values) < least:
        raise argparse.ArgumentTypeError(f"each value must be at least {least}, got {text!r}")
    return values[0] if len(values) == 1 else values


def _scales(text: str) -> str | int | list[int]:
    """--scales: "auto", "N" (N sizes, each twice the last) or "256,512,1024" (longer sides, px)."""
    if text.strip().lower() == "auto":
        return "auto"
    return _counts(text, "auto, a number of scales or comma-separated sizes in px", 1)


def _weights_list(text: str) -> list[float]:
    """--style-blend: comma-separated numbers (their range is checked by style_blend_weights)."""
    try:
        return [float(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _scale_steps(text: str) -> int | list[int]:
    """--scale-steps: "N" (N steps at every scale) or "200,100,100" (one count per scale)."""
    return _counts(text, "a number of steps or one comma-separated count per scale", 0)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the command in the README)."""
    from .control import PRESERVE_COLORS
    from .objective import INITS, LBFGS_STEPS, MAX_WEIGHT, OPTIMIZERS, PRESETS, TV_KINDS
    from .optimize import AUTO_COARSEST, AUTO_SCALES_FROM, DEFAULT_OPTIMIZER

    parser = _Parser(
        prog="stylelib",
        description="Paint the content image in the style of the style image (Gatys et al. 2016).",
        epilog=(
            "Weights: 'imagenet' needs the Keras download (or its cache in ~/.keras/models/); "
            "offline, pass --weights PATH to a local vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5. "
            "'random' is an untrained network: it runs anywhere but does not show the real method."
        ),
    )
    parser.add_argument("content", help="content image (PNG, JPEG, ... any format Pillow reads)")
    parser.add_argument(
        "style", nargs="+", help="style image; several blend their styles (see --style-blend)"
    )
    parser.add_argument("-o", "--output", required=True, help="output image, .png or .jpg")
    parser.add_argument(
        "--max-dim",
        type=_side,
        default=512,
        metavar="PX",
        help="longer side of the output in pixels (default 512)",
    )
    parser.add_argument(
        "--style-max-dim",
        type=_side,
        default=None,
        metavar="PX",
        help="longer side the style image is scaled to (default: --max-dim)",
    )
    parser.add_argument(
        "--style-blend",
        type=_weights_list,
        metavar="W,W,...",
        help="with several styles, one weight >= 0 per style (normalised to sum 1; default equal)",
    )
    parser.add_argument(
        "--style-scale",
        type=_number,
        default=1.0,
        metavar="S",
        help="resize the style to S times its size: above 1, larger strokes and motifs (default 1)",
    )
    parser.add_argument(
        "--preserve-colors",
        choices=PRESERVE_COLORS,
        help="keep the content's colours: luminance (transfer on luminance only) or histogram "
        "(match the style's colours to the content's first)",
    )
    parser.add_argument(
        "--mask",
        action="append",
        metavar="FILE",
        help="where a style goes: an image, white = on, black = off (grey in between), drawn on the "
        "content image; give it once per style, in the styles' order",
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
        default=DEFAULT_OPTIMIZER,
        help=f"{DEFAULT_OPTIMIZER} (default, as in the library: reaches the tutorial's loss many "
        "times sooner, see README) or adam (the tutorial's optimiser)",
    )
    parser.add_argument(
        "--steps",
        type=_positive_int,
        help=f"iterations for lbfgs (default {LBFGS_STEPS}), steps for adam (preset's default)",
    )
    parser.add_argument(
        "--scales",
        type=_scales,
        default="auto",
        metavar="auto|N|PX,PX,...",
        help=f"coarse to fine: N sizes each twice the last, or the longer side of each "
        f"(e.g. 256,512,1024; the last must equal --max-dim); 1 for one scale. Default auto: "
        f"for lbfgs one scale below {AUTO_SCALES_FROM} px, from there sizes halving down to "
        f"{AUTO_COARSEST} px (stylelib.auto_scales); for adam one scale",
    )
    parser.add_argument(
        "--scale-steps",
        type=_scale_steps,
        metavar="N|N,N,...",
        help="steps at each scale (default: --steps at the first, half at each later one)",
    )
    limit = f"(default: the preset's; 0 to {MAX_WEIGHT:g})"
    parser.add_argument(
        "--learning-rate", type=_number, metavar="LR", help=f"Adam's step size {limit}"
    )
    parser.add_argument(
        "--content-weight", type=_number, metavar="ALPHA", help=f"content loss weight {limit}"
    )
    parser.add_argument(
        "--style-weight", type=_number, metavar="BETA", help=f"style loss weight {limit}"
    )
    parser.add_argument(
        "--tv-weight", type=_number, metavar="W", help=f"total variation weight {limit}"
    )
    parser.add_argument("--tv-kind", choices=TV_KINDS, help="total variation form (see README)")
    parser.add_argument("--init", choices=INITS, help="start from the content image or noise")
    parser.add_argument(
        "--weights",
        default=None,
        metavar="imagenet|random|PATH",
        help="VGG19 weights (default: $STYLELIB_VGG19_WEIGHTS, else imagenet)",
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed for noise initialisation")
    parser.add_argument(
        "--save-every",
        type=_positive_int,
        metavar="N",
        help="also write OUT's progress every N steps (same file, atomically)",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="save the run's state to FILE when interrupted (Ctrl-C) and every "
        "--checkpoint-every steps, to continue it later with --resume FILE",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=_positive_int,
        metavar="N",
        help="write --checkpoint every N steps (default: only when interrupted)",
    )
    parser.add_argument(
        "--resume",
        metavar="FILE",
        help="continue the run that saved FILE (give the same images and options; "
        "--checkpoint defaults to FILE)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUT (and --checkpoint FILE) if it exists (otherwise refuse)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    return parser


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"stylelib: error: {message}", file=sys.stderr)
    return code


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Library keyword -> the flag that sets it (max_dim -> --max-dim), read off the parser."""
    flags = {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings}
    return {**flags, **_KEYWORD_ALIASES}


def _with_flag(message: str, flags: dict[str, str], flag: str | None = None) -> str:
    """A library message ("learning_rate must be > 0, ...") as the user typed it ("--learning-rate:
    must be > 0, ..."). A message starting with no keyword is put under ``flag`` when given."""
    keyword, _, rest = message.partition(" ")
    if keyword in flags:
        return f"{flags[keyword]}: {rest}"
    return f"{flag}: {message}" if flag else message


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    """argparse's complaint: one line for a bad flag value; usage first for a missing argument."""
    message = message.removeprefix("argument ")
    if not message.startswith("-"):
        parser.print_usage(sys.stderr)
    return _fail(message)


def _settings(args) -> dict:
    """The make_preset keywords the flags set (None: the preset's value)."""
    return {key: getattr(args, key) for key in _PRESET_FLAGS}


#: The make_preset keywords that have a flag of their own.
_PRESET_FLAGS = (
    "steps",
    "optimizer",
    "learning_rate",
    "content_weight",
    "style_weight",
    "tv_weight",
    "tv_kind",
    "init",
)


def _check_output(args) -> str | None:
    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        return f"--output '{out}': use a .png, .jpg or .jpeg file name"
    if out.is_dir():
        return f"--output '{out}': is a directory"
    for name in (args.content, *args.style, *(args.mask or [])):
        if Path(name).exists() and out.exists() and os.path.samefile(name, out):
            return f"--output '{out}': is one of the input images; choose another file"
    if out.exists() and not args.overwrite:
        return f"--output '{out}': already exists; pass --overwrite to replace it"
    # Found now rather than after a long run: a folder or a file the user may not write.
    if out.exists() and not os.access(out, os.W_OK):
        return f"--output '{out}': the existing file is read-only"
    folder = out.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"--output '{out}': cannot create files in '{folder}' (permission denied)"
    return None


def _check_scales(args, content, flags) -> str | None:
    """--scales against the content image's size, and --scale-steps against the scales."""
    from .optimize import scale_sizes

    try:
        sizes = scale_sizes(*content.shape[1:3], args.scales)
    except ValueError as exc:
        return _with_flag(str(exc), flags, "--scales")
    counts = args.scale_steps
    if isinstance(counts, list) and len(counts) != len(sizes):
        return (
            f"--scale-steps: give one count per scale ({len(sizes)}, from --scales), or one "
            f"number for all; got {len(counts)}: {','.join(map(str, counts))}"
        )
    return None


def _check_styles(args) -> str | None:
    """--style-blend, --mask and --style-scale against the number of style images."""
    from .objective import style_blend_weights

    count = len(args.style)
    if args.style_blend is not None:
        try:
            style_blend_weights(args.style_blend, count)
        except ValueError as exc:
            return f"--style-blend: {str(exc).removeprefix('style_blend ')}"
    if args.mask is not None and len(args.mask) != count:
        return (
            f"--mask: given {len(args.mask)} time(s) for {count} style image(s); give one per style"
        )
    if not (args.style_scale > 0 and args.style_scale < float("inf")):
        return f"--style-scale: must be a finite number > 0, got {args.style_scale:g}"
    return None


def _check_checkpoint(args, flags) -> str | None:
    """--checkpoint, --checkpoint-every and --resume, before any image is read."""
    from .errors import CheckpointError
    from .optimize import _check_checkpointing

    if args.resume and not args.checkpoint:
        args.checkpoint = args.resume  # continue writing to the file resumed from
    try:
        _check_checkpointing(args.checkpoint, args.checkpoint_every, args.resume)
    except (CheckpointError, ValueError) as exc:
        return _with_flag(str(exc), flags)
    ckpt = Path(args.checkpoint) if args.checkpoint else None
    if ckpt is not None and ckpt.exists() and not args.overwrite:
        if not (args.resume and Path(args.resume).exists() and os.path.samefile(ckpt, args.resume)):
            return f"--checkpoint '{ckpt}': already exists; pass --overwrite to replace it"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    from .objective import make_preset

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _usage_error(parser, str(exc))
    flags = _flags(parser)
    try:  # every number is checked before any file is read or any weights are loaded
        make_preset(args.preset, **_settings(args))
    except ValueError as exc:
        return _fail(_with_flag(str(exc), flags))
    problem = _check_styles(args) or _check_output(args) or _check_checkpoint(args, flags)
    if problem:
        return _fail(problem)
    try:
        return _run(args, flags)
    except KeyboardInterrupt:
        return _fail("interrupted before the first step; nothing was written", EXIT_INTERRUPTED)


def _run(args, flags: dict[str, str]) -> int:
    from .control import load_mask
    from .errors import CheckpointError, ImageError, NonFiniteLossError, WeightsError
    from .images import load_image, save_image
    from .model import resolve_weights
    from .optimize import stylize

    try:
        weights = resolve_weights(args.weights)
        content = load_image(args.content, max_dim=args.max_dim)
        styles = [load_image(s, max_dim=args.style_max_dim or args.max_dim) for s in args.style]
        masks = [
            load_mask(m, tuple(content.shape[1:3]), name=f"--mask '{m}'") for m in args.mask or []
        ]
    except (ImageError, WeightsError, ValueError) as exc:
        return _fail(str(exc))
    problem = _check_scales(args, content, flags)
    if problem:
        return _fail(problem)
    if not args.quiet:
        print(weights, file=sys.stderr)

    def save_progress(step, image, record):
        save_image(image, args.output)

    started = time.perf_counter()
    try:
        result = stylize(
            content,
            styles,
            preset=args.preset,
            **_settings(args),
            style_blend=args.style_blend,
            style_scale=args.style_scale,
            preserve_colors=args.preserve_colors,
            masks=masks or None,
            scales=args.scales,
            scale_steps=args.scale_steps,
            seed=args.seed,
            weights=weights.spec,
            callback=save_progress if args.save_every else None,
            callback_every=args.save_every or 1,
            progress=not args.quiet and sys.stderr.isatty(),
            checkpoint=args.checkpoint,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            quiet=True,  # the command says it in its own line, with the file written
        )
    except (WeightsError, CheckpointError) as exc:
        return _fail(_with_flag(str(exc), flags))
    except NonFiniteLossError as exc:
        return _fail(str(exc).split(";")[0] + "; no output written", EXIT_FAILED)
    except ValueError as exc:
        return _fail(_with_flag(str(exc), flags))
    try:
        path = save_image(result.image, args.output)
    except ImageError as exc:
        return _fail(str(exc))
    if result.extra["stopped"] is not None:
        return _partial(args, result, path)
    if not args.quiet:
        h, w = result.image.shape[1:3]
        print(
            f"wrote {path} ({w}x{h} px, {result.preset.optimizer}, "
            f"{result.history[-1].step} steps, final loss {result.final_loss:.4g}) "
            f"in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    return EXIT_OK


def _partial(args, result, path: Path) -> int:
    """One line after an interrupted run whose partial result was written; exit code 130."""
    at = result.extra["stopped_at"]
    h, w = result.image.shape[1:3]
    scale = f", scale {at['scale'] + 1} of {at['scales']}" if at["scales"] > 1 else ""
    if "checkpoint" in at:
        then = f"; continue with the same command and --resume {at['checkpoint']} --overwrite"
    else:
        then = "; pass --checkpoint FILE to be able to continue an interrupted run"
    print(
        f"stylelib: interrupted after {at['step']} of {at['of']} steps{scale}: wrote the partial "
        f"result ({w}x{h} px, the lowest loss so far at this scale) to {path}{then}",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
