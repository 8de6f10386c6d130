"""``python benchmarks/defaults.py``: where coarse-to-fine starts to win, and what the defaults cost.

For each output size (longer side in px) and each image pair, runs stylelib's L-BFGS on the
tutorial objective (TV 30) twice in this process:

* single scale: ``steps`` iterations at the output size;
* coarse to fine: sizes halving down to at least ``--coarsest`` px (stylelib.auto_scales), ``steps`` iterations at the
  coarsest scale and half as many at each later one (stylize's default ``scale_steps``).

and records each run's CPU and wall time from the call to the return (image loading excluded,
tracing included), the final loss, and the CPU time at which each run first reached (at the final
size) the higher of the two final losses: the loss both runs reach, so the race is fair whichever
run ends lower. The pairs are split: the size at which coarse-to-fine starts
to win is *chosen* on the "tune" pairs and *reported* on the "report" pairs, so the figure that goes
into the README was not tuned on.

Usage: ``python benchmarks/defaults.py [--sizes 128 256 384 512] [--steps 200] [--coarsest 128]``
``[--out DIR]``.
Writes ``defaults.json`` and ``defaults.md`` to ``--out`` (default benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import stylelib
from stylelib.optimize import AUTO_COARSEST, auto_scales

HERE = Path(__file__).resolve().parent

#: (content, style, role): settings are chosen on "tune" pairs and reported on "report" pairs.
PAIRS = [
    ("hopper", "waves", "tune"),
    ("landscape", "mosaic", "report"),
    ("hopper", "swirls", "report"),
]


def _timed(content, style, steps: int, scales) -> tuple:
    """One stylize call: (result, wall s, CPU s, [(step, scale, total, CPU s since the call)]).

    CPU time (this process, all threads) hardly depends on what else the machine runs, so it is
    the fair measure on a shared machine; wall time is what a user waits on an idle one.
    """
    cpu0, wall0 = time.process_time(), time.perf_counter()
    marks = []

    def mark(step, image, record):
        marks.append((step, record.scale, record.total, time.process_time() - cpu0))

    result = stylelib.stylize(
        content,
        style,
        optimizer="lbfgs",
        steps=steps,
        scales=scales,
        callback=mark,
        callback_every=1,
    )
    return result, time.perf_counter() - wall0, time.process_time() - cpu0, marks


def run_pair(content_name: str, style_name: str, size: int, steps: int, coarsest: int) -> dict:
    content = stylelib.sample_image(content_name, max_dim=size)
    style = stylelib.sample_image(style_name, max_dim=size)
    row = {"content": content_name, "style": style_name, "size": size, "steps": steps}

    single, row["single_seconds"], row["single_cpu"], single_marks = _timed(
        content, style, steps, None
    )
    row["single_loss"] = single.final_loss

    sides = auto_scales(size, start=0, coarsest=coarsest)
    row["c2f_scales"] = sides
    if len(sides) == 1:
        return row
    c2f, row["c2f_seconds"], row["c2f_cpu"], marks = _timed(content, style, steps, sides)
    row["c2f_loss"] = c2f.final_loss
    # The loss both runs reach: the higher of the two final losses. Each run's CPU time to it
    # (at the full size) is the fair race; a run that ends lower simply got there sooner.
    common = max(single.final_loss, c2f.final_loss)
    row["common_loss"] = common
    row["single_cpu_to_common"] = _first_cpu_at(single_marks, 0, common)
    row["c2f_cpu_to_common"] = _first_cpu_at(marks, len(sides) - 1, common)
    return row


def _first_cpu_at(marks: list, scale: int, loss: float) -> float | None:
    """CPU seconds at which the run's loss at ``scale`` first was at most ``loss`` (None: never)."""
    return next((cpu for _, s, total, cpu in marks if s == scale and total <= loss), None)


def markdown(rows: list[dict], machine: str) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {machine}, untrained VGG19 "
        "(`python benchmarks/defaults.py`). L-BFGS on the tutorial objective (TV 30). CPU seconds "
        "of the process (all threads), which the machine's other load hardly changes; wall "
        "seconds in brackets.",
        "",
        "| pair (role) | size | single scale: CPU s (wall), loss | coarse to fine (scales) | "
        "c2f: CPU s (wall), loss | CPU s to the higher final loss: single, c2f |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        pair = f"{r['content']} + {r['style']} ({r['role']})"
        single = f"{r['single_cpu']:.0f} ({r['single_seconds']:.0f}), {r['single_loss']:.4g}"
        if "c2f_cpu" not in r:
            lines.append(f"| {pair} | {r['size']} | {single} | – | – | – |")
            continue
        reach = ", ".join(
            "–" if t is None else f"{t:.0f}"
            for t in (r["single_cpu_to_common"], r["c2f_cpu_to_common"])
        )
        lines.append(
            f"| {pair} | {r['size']} | {single} | {' → '.join(map(str, r['c2f_scales']))} | "
            f"{r['c2f_cpu']:.0f} ({r['c2f_seconds']:.0f}), {r['c2f_loss']:.4g} | {reach} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 384, 512])
    parser.add_argument("--steps", type=int, default=stylelib.LBFGS_STEPS)
    parser.add_argument("--coarsest", type=int, default=AUTO_COARSEST)
    parser.add_argument("--roles", nargs="+", default=["tune", "report"])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    info = stylelib.weights_in_use()
    machine = f"{platform.processor() or platform.machine()}, {info.spec} weights"
    rows = []
    for content_name, style_name, role in PAIRS:
        if role not in args.roles:
            continue
        for size in args.sizes:
            row = run_pair(content_name, style_name, size, args.steps, args.coarsest)
            row["role"] = role
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "defaults.json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    (args.out / "defaults.md").write_text(markdown(rows, machine))
    print(markdown(rows, machine))


if __name__ == "__main__":
    main()
