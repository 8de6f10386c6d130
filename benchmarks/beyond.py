"""How far past stylize's default iterations the speed suite's misses are (issue 12).

A row of the speed suite is a miss when ``stylize``'s default 200 L-BFGS iterations end above
the tutorial's 1000-step loss. This asks how many iterations it would have taken: for each miss
of the first loop (TV 0) in a suite report, ``stylize`` runs again on the same pair and size with
``steps=N`` (default 1000) and stops at the first iteration at or below the reference's loss.

Only the first loop: without TV, L-BFGS-B runs one phase, so a run with more steps is the same
run continued (its first 200 iterations are the default run's; this is checked against the
row's loss after 200 and printed). With TV, ``steps`` is shared among the smoothing phases
(stylelib.optimize.LBFGS_TV_EPSILONS), so a longer budget is another run, not a continuation.

The reference is not run again: its time is the one measured by the suite run that made the
row, in another process, and the speed-up divides it by this run's time. Both sides' time runs
from call to return, as in the suite. Writes results/beyond.json and results/beyond.md.

Usage: ``python benchmarks/beyond.py [--report JSON] [--sizes N ...] [--steps N] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import pairs
import run
import suite

import stylelib

HERE = Path(__file__).resolve().parent


def misses(report: dict, sizes: list[int] | None) -> list[dict]:
    """The first-loop rows of a suite report whose default run ended above the reference, at
    one scale (coarse to fine shares ``steps`` among the scales: more is another run)."""
    return [
        row
        for row in report["rows"].values()
        if row["tv_weight"] == 0.0
        and not row["stylelib"]["reached"]
        and len(row["stylelib"].get("iterations_per_scale", [0])) == 1  # one scale only
        and (not sizes or row["size"] in sizes)
    ]


def continue_row(row: dict, steps: int, weights: Path, now: dict) -> dict:
    """stylize on the row's pair with ``steps`` iterations, to the row's reference loss.
    ``now``: this run's code fingerprint (suite.code_fingerprint)."""
    content, style = pairs.pair(row["pair"], row["size"])
    if suite.pixels_sha(content) != row["images"]["content"]:
        raise SystemExit(f"{row['pair']}: the content's pixels differ from the suite's row")
    target = row["reference"]["loss"]
    ours = suite.stylelib_to(content, style, 0.0, target, steps, weights, with_totals=True)
    totals = ours.pop("totals")  # one scale: index k is the loss after k iterations
    default = row["stylelib"]["iterations"]
    at_default = totals[default] if len(totals) > default else None
    made = row["run"]["fingerprint"]
    return {
        "pair": row["pair"],
        "size": row["size"],
        "reference": row["reference"],
        "default_iterations": default,
        "default_final_loss": row["stylelib"]["final_loss"],
        "loss_at_default_now": at_default,
        # the continuation check: the default run's last loss, as the suite stored it
        "same_as_default_run": _same(at_default, row["stylelib"]["final_loss"]),
        "same_stylelib_as_row": made["stylelib"] == now["stylelib"],
        "steps": steps,
        "stylelib": ours,
        "speedup": row["reference"]["seconds"] / ours["seconds"] if ours["reached"] else None,
        "suite_run": row.get("run"),
    }


def _same(now: float | None, stored: float) -> bool:
    """The suite stores losses to 4 significant digits: equal to those."""
    return now is not None and float(f"{now:.4g}") == stored


def markdown(report: dict) -> str:
    """The table: each miss, where the default run ended, and when a longer one got there."""
    lines = [
        f"Measured {report['date']} (`{report['command']}`"
        + (f" on `{report['commit']}`" if report.get("commit") else "")
        + f", `benchmarks/results/{report['name']}.json`), "
        + (
            "untrained VGG19 weights"
            if report["weights_trained"] is False
            else "the VGG19 weights file named in the JSON"
        )
        + "; the reference's time is the one the suite measured for the row."
        + (
            " **On some rows the loss after the default run's iterations differs from the "
            "row's: there the longer run is not the default one continued.**"
            if not all(r["same_as_default_run"] for r in report["rows"])
            else ""
        )
        + (
            " The suite's rows were made by another version of stylelib's source than this run"
            " (both in the JSON)."
            if not all(r["same_stylelib_as_row"] for r in report["rows"])
            else ""
        ),
        "",
        "| pair | size | reference: loss, time | stylize's default run (the suite's row) "
        f"| stylize, up to {report['steps']} iterations | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        ref, ours = r["reference"], r["stylelib"]
        ended = r["default_final_loss"] / ref["loss"]
        if ours["reached"]:
            longer = f"reached after {ours['iterations']} it., {ours['seconds']:.0f} s"
            speedup = f"{r['speedup']:.1f}×"
        else:
            ratio = ours["final_loss"] / ref["loss"]
            longer = f"not reached ({ours['seconds']:.0f} s): ended at {ratio:.3f}×"
            speedup = "missed"
        lines.append(
            f"| {r['pair']} | {r['size']} px | {ref['loss']:.4g}, {ref['seconds']:.0f} s | "
            f"{r['default_iterations']} it.: ended at {ended:.3f}× the reference's loss | "
            f"{longer} | {speedup} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, default=HERE / "results" / "suite.json")
    parser.add_argument("--sizes", type=int, nargs="+")
    parser.add_argument("--steps", type=int, default=1000, help="the longer run's iterations")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    parser.add_argument("--work", type=Path, default=HERE / "work", help="weights file folder")
    parser.add_argument("--name", default="beyond", help="the results files' name")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        raise SystemExit(f"--report: {args.report}: no such file (run benchmarks/suite.py)")
    report = json.loads(args.report.read_text())
    rows = misses(report, args.sizes)
    if not rows:
        raise SystemExit(f"--report: {args.report}: no first-loop misses to continue")
    weights = run.weights_file(args.work)
    now = suite.code_fingerprint(weights)
    for row in rows:  # the reference's time is reused: its code, weights and TF must not differ
        made = row["run"]["fingerprint"]
        for part in ("weights", "reference", "tensorflow"):
            if made[part] != now[part]:
                raise SystemExit(
                    f"--report: row {row['pair']} {row['size']}px was measured with another "
                    f"{part} ({made[part]}, now {now[part]}): measure it again with suite.py"
                )
    model = run.TutorialModel(weights)
    stylelib.load_vgg19(str(weights))
    suite.warm_up(model, weights)
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": suite.code_version(),
        "command": shlex.join(["python", "benchmarks/beyond.py", *(argv or sys.argv[1:])]),
        "name": args.name,
        "steps": args.steps,
        "fingerprint": now,
        "weights_trained": report.get("weights_trained"),
        "rows": [],
    }
    for row in rows:
        done = continue_row(row, args.steps, weights, now)
        same = done["same_as_default_run"]
        print(
            f"{row['pair']} {row['size']}px: after {done['default_iterations']} it. "
            f"{done['loss_at_default_now']} (the suite's row: {row['stylelib']['final_loss']}, "
            f"{'the same' if same else 'NOT the same'}); "
            f"{json.dumps(run._rounded(suite._summary(done)))}",
            flush=True,
        )
        out["rows"].append(done)
        suite._write_json(args.out / f"{args.name}.json", out)
    table = markdown(out)
    (args.out / f"{args.name}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
