"""Try a change to stylelib's L-BFGS settings on the settings pairs, against stored references.

For choosing settings only (issue 12): the suite's held-out pairs are not to be used here. Reads a
suite report of the settings pairs (``python benchmarks/suite.py --pairs settings --sizes 128``
writes results/suite_settings.json), and for each of its rows races stylelib again to that row's
reference loss with the change applied, printing the time, iterations and evaluations, and the
speed-up against the reference's time as measured in that report. The reference is not run
again: figures from here are for comparing variants with each other, not for the README.

Changes: ``--set NAME=VALUE`` sets a constant of stylelib.optimize (e.g. LBFGS_MEMORY=50,
LBFGS_TV_EPSILONS="(0.05, 0.01)"); ``--stylize KEY=VALUE`` passes a keyword to stylize (e.g.
scales=2). Values are Python literals.

Usage: ``python benchmarks/tune.py [--report JSON] [--sizes N ...] [--set ...] [--stylize ...]``
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
from pathlib import Path

import pairs
import run
import suite

import stylelib

HERE = Path(__file__).resolve().parent


def _assignments(items: list[str]) -> dict:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name] = ast.literal_eval(value)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, default=HERE / "results" / "suite_settings.json")
    parser.add_argument("--sizes", type=int, nargs="+")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--stylize", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    held = [r["pair"] for r in report["rows"].values() if r["pair"] in pairs.HELD_OUT_PAIRS]
    if held:
        raise SystemExit(f"{args.report}: held-out pairs {sorted(set(held))}: not for tuning")
    for name, value in _assignments(args.set).items():
        if not hasattr(stylelib.optimize, name):
            raise SystemExit(f"--set: stylelib.optimize has no {name}")
        setattr(stylelib.optimize, name, value)
    options = _assignments(args.stylize)
    weights = run.weights_file(args.work)
    stylelib.load_vgg19(str(weights))
    suite.warm_up(run.TutorialModel(weights), weights)
    speedups = {}
    for row in report["rows"].values():
        if args.sizes and row["size"] not in args.sizes:
            continue
        content, style = pairs.pair(row["pair"], row["size"])
        reference = row["reference"]
        ours = suite.stylelib_to(
            content, style, row["tv_weight"], reference["loss"], None, weights, **options
        )
        speedup = reference["seconds"] / ours["seconds"] if ours["reached"] else 0.0
        speedups.setdefault((row["size"], row["tv_weight"]), []).append(speedup)
        print(
            f"{row['pair']} {row['size']}px tv{row['tv_weight']:g}: {ours['seconds']:.1f} s "
            f"(was {row['stylelib']['seconds']:.1f} s), {ours['iterations']} it. (was "
            f"{row['stylelib']['iterations']}), {ours['evaluations']} eval., {speedup:.1f}×",
            flush=True,
        )
    for (size, tv), values in sorted(speedups.items()):
        print(
            f"{size}px tv{tv:g}: median {statistics.median(values):.1f}×, worst {min(values):.1f}×"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
