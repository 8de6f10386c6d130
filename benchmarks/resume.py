"""``python benchmarks/resume.py``: what resuming an L-BFGS run from a checkpoint costs.

Adam resumes bit-identically, but L-BFGS (scipy's L-BFGS-B) cannot save its curvature memory (the
last LBFGS_MEMORY correction pairs): a resumed run starts again from an empty memory, like the
first iteration of a run, at the checkpoint's image. This measures what that costs in loss,
iterations and loss-and-gradient evaluations.

For each image pair (benchmarks/defaults.py's PAIRS, the generated samples, offline) and each TV
weight (the tutorial preset's 30, absolute TV, so three smoothing phases LBFGS_TV_EPSILONS; and 0,
one phase), one scale at ``--size`` px, ``--steps`` iterations (default LBFGS_STEPS):

* uninterrupted: one run, writing a checkpoint after every iteration; the checkpoints at the
  steps below are kept (a checkpoint written while the run goes on holds the same state as one
  written when a run is stopped there: checked once per benchmark, see "stop_check");
* resumed from k: stylize(resume=) from the checkpoint of step k, for k at about 25, 50 and 75 %
  of the iterations, to the end;
* chain: stopped 4 times (at 20, 40, 60 and 80 %), each piece resumed from the previous piece's
  checkpoint and stopped by a threading.Event that its callback sets (``stop=``);
* phase boundary (first pair, TV 30 only): resumed exactly where the first smoothing phase ends;
  each phase starts L-BFGS-B afresh anyway, so only the checkpoint's float32 image can differ.

Per case: the resumed run's final loss over the uninterrupted run's (ratio), the extra
evaluations (``result.extra["scales"][0]["evaluations"]``, summed over the pieces by the
checkpoints), the step at which the resumed run first reached the uninterrupted run's final loss
("not reached" if it never did: a resumed run ends at the same step count), and the step at which
the uninterrupted run first reached the resumed run's final loss (the iterations the interruption
cost). Iterations, evaluations and loss ratios do not depend on the machine's load; no timing is
reported.

Weights: untrained VGG19 (weights="random", seeded). Numbers made with untrained weights are not
what ImageNet weights give.

Usage: ``python benchmarks/resume.py [--quick] [--size PX] [--steps N] [--pairs N] [--out DIR]``.
Writes ``resume.json`` and ``resume.md`` (``resume_quick.*`` with ``--quick``) to ``--out``
(default benchmarks/results/) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from defaults import PAIRS

import stylelib
from stylelib import checkpoint
from stylelib._tf import tf
from stylelib.optimize import LBFGS_MEMORY, LBFGS_TV_EPSILONS

HERE = Path(__file__).resolve().parent
UNTRAINED = (
    "untrained VGG19 (weights='random'): numbers made with untrained weights are not what "
    "ImageNet weights give"
)
FRACTIONS = (0.25, 0.5, 0.75)
CHAIN = (0.2, 0.4, 0.6, 0.8)


def _stylize(content, style, settings: dict, **kw) -> stylelib.StylizeResult:
    """One stylize call with the benchmark's settings (L-BFGS, one scale, untrained weights)."""
    return stylelib.stylize(
        content,
        style,
        optimizer="lbfgs",
        scales=1,
        weights="random",
        quiet=True,
        steps=settings["steps"],
        tv_weight=settings["tv_weight"],
        max_dim=None,
        **kw,
    )


def _evaluations(result) -> int:
    return int(result.extra["scales"][0]["evaluations"])


def _uninterrupted(content, style, settings, keep: dict[int, Path], work: Path):
    """The run never stopped. Writes a checkpoint after each iteration and copies it to
    ``keep[k]`` once step k's is written (``stop`` is asked right after each write)."""
    path = work / "running.npz"
    step = {"now": 0}

    def callback(k, image, record):
        step["now"] = k

    def stop() -> bool:
        target = keep.get(step["now"])
        if target is not None and not target.exists():
            shutil.copyfile(path, target)
        return False

    return _stylize(
        content,
        style,
        settings,
        checkpoint=path,
        checkpoint_every=1,
        callback=callback,
        callback_every=1,
        stop=stop,
    )


def _piece(content, style, settings, path: Path, stop_at: int | None, repairs=None):
    """Resume from ``path``; with ``stop_at``, stop after that step and checkpoint to ``path``
    (appending ``stop_at`` to ``repairs`` if its phase_start had to be repaired)."""
    if stop_at is None:
        return _stylize(content, style, settings, resume=path)
    before, _ = checkpoint.load(path)
    event = threading.Event()

    def callback(k, image, record):
        if k == stop_at:
            event.set()

    result = _stylize(
        content,
        style,
        settings,
        resume=path,
        checkpoint=path,
        callback=callback,
        callback_every=1,
        stop=event,
    )
    assert result.extra["stopped_at"]["step"] == stop_at, result.extra["stopped_at"]
    # stylize (9a16fbb) writes the resume step as phase_start when the phase began before the
    # resume, so the next resume would run that phase too long (the chain overruns its steps).
    # Put back the phase's true start, as a fixed stylize writes it, and count the repairs.
    meta, arrays = checkpoint.load(path)
    if meta["phase"] == before["phase"] and meta["phase_start"] != before["phase_start"]:
        meta["phase_start"] = before["phase_start"]
        checkpoint.save(path, meta, arrays)
        repairs.append(stop_at)
    return result


def _first_step(history, loss: float) -> int | None:
    """The first step whose recorded total loss is at most ``loss`` (None: never)."""
    return next((r.step for r in history if r.total <= loss), None)


def _compare(name: str, stops: list[int], resumed, reference, steps: int) -> dict:
    """One case's row: the resumed run against the uninterrupted ``reference``."""
    final, ref_final = resumed.final_loss, reference.final_loss
    reached = _first_step(resumed.history, ref_final)
    equivalent = _first_step(reference.history, final)
    same_image = bool(np.array_equal(resumed.image.numpy(), reference.image.numpy()))
    same_losses = [r.total for r in resumed.history] == [r.total for r in reference.history]
    return {
        "case": name,
        "iterations_run": resumed.history[-1].step,
        "stops": stops,
        "final_loss": final,
        "loss_ratio": final / ref_final,
        "evaluations": _evaluations(resumed),
        "extra_evaluations": _evaluations(resumed) - _evaluations(reference),
        # The resumed run's first step at or below the uninterrupted final loss; extra
        # iterations = that step - steps (<= 0 when reached in time); None: not reached.
        "reached_reference_at": reached,
        "extra_iterations": None if reached is None else reached - steps,
        # The uninterrupted run's first step at or below the resumed final loss: the resumed
        # run is worth that many uninterrupted iterations; None: the resumed run ended lower.
        "uninterrupted_step_at_resumed_loss": equivalent,
        "iterations_lost": None if equivalent is None else steps - equivalent,
        "bit_identical": same_image and same_losses,
        "max_abs_pixel_difference": float(
            np.max(np.abs(resumed.image.numpy() - reference.image.numpy()))
        ),
    }


def _same_checkpoint(a: Path, b: Path) -> bool:
    """Two checkpoints hold the same state: image, best image, step, evaluations and phase."""
    (meta_x, x), (meta_y, y) = (checkpoint.load(path) for path in (a, b))
    arrays = all(np.array_equal(x[k], y[k]) for k in ("image", "best_image"))
    losses = np.array_equal(x["history"][:, 2:], y["history"][:, 2:])  # not the seconds
    keys = ("step", "steps_done", "evaluations", "phase", "phase_start", "best_step")
    return arrays and losses and all(meta_x[k] == meta_y[k] for k in keys)


def run_pair(content_name, style_name, settings, work, boundary, stop_check, fractions=FRACTIONS):
    """All cases for one pair and one TV weight; returns the row with its cases."""
    size, steps = settings["size"], settings["steps"]
    content = stylelib.sample_image(content_name, max_dim=size)
    style = stylelib.sample_image(style_name, max_dim=size)
    phases = len(LBFGS_TV_EPSILONS) if settings["tv_weight"] > 0 else 1
    at = {f"resumed at {round(100 * f)} %": round(steps * f) for f in fractions}
    chain = [round(steps * f) for f in CHAIN]
    wanted = set(at.values()) | {chain[0]}
    if boundary and phases > 1:
        wanted.add(steps // phases)  # the first phase's last iteration (optimize.py's share)
    keep = {k: work / f"step{k}.npz" for k in sorted(wanted)}
    reference = _uninterrupted(content, style, settings, keep, work)
    row = {
        "content": content_name,
        "style": style_name,
        "tv_weight": settings["tv_weight"],
        "phases": phases,
        "steps": steps,
        "uninterrupted": {
            "final_loss": reference.final_loss,
            "evaluations": _evaluations(reference),
            "stops": reference.extra["scales"][0]["stops"],
        },
        "cases": [],
    }
    if stop_check:  # a run really stopped at the first kept step writes the same checkpoint
        first = min(keep)
        stopped = work / "stopped.npz"
        event = threading.Event()
        _stylize(
            content,
            style,
            settings,
            checkpoint=stopped,
            callback=lambda k, image, record: k == first and event.set(),
            callback_every=1,
            stop=event,
        )
        row["stop_check"] = {"step": first, "same_state": _same_checkpoint(stopped, keep[first])}
    for name, k in at.items():
        resumed = _piece(content, style, settings, keep[k], None)
        row["cases"].append(_compare(name, [k], resumed, reference, steps))
    path = work / "chain.npz"
    shutil.copyfile(keep[chain[0]], path)
    repairs: list[int] = []
    for stop_at in chain[1:]:
        _piece(content, style, settings, path, stop_at, repairs)
    resumed = _piece(content, style, settings, path, None)
    case = _compare(f"stopped {len(chain)} times", chain, resumed, reference, steps)
    case["phase_start_repaired_at"] = repairs
    row["cases"].append(case)
    if boundary and phases > 1:
        k = steps // phases
        resumed = _piece(content, style, settings, keep[k], None)
        row["cases"].append(
            _compare("resumed at the phase boundary", [k], resumed, reference, steps)
        )
    return row


def medians(rows: list[dict]) -> list[dict]:
    """Per TV weight and case: the median over pairs of ratio, extra evaluations, iterations lost."""
    out = []
    for tv in sorted({r["tv_weight"] for r in rows}, reverse=True):
        cases = [c for r in rows if r["tv_weight"] == tv for c in r["cases"]]
        for name in dict.fromkeys(c["case"] for c in cases):
            group = [c for c in cases if c["case"] == name]
            lost = [c["iterations_lost"] or 0 for c in group]  # None: ended lower, lost nothing
            out.append(
                {
                    "tv_weight": tv,
                    "case": name,
                    "pairs": len(group),
                    "loss_ratio": statistics.median(c["loss_ratio"] for c in group),
                    "extra_evaluations": statistics.median(c["extra_evaluations"] for c in group),
                    "iterations_lost": statistics.median(lost),
                    "reached": sum(c["reached_reference_at"] is not None for c in group),
                }
            )
    return out


def _reach(case: dict, steps: int) -> str:
    if case["reached_reference_at"] is None:
        return f"not reached, final ratio {case['loss_ratio']:.4f}"
    return f"step {case['reached_reference_at']} ({case['extra_iterations']:+d})"


def markdown(report: dict) -> str:
    s = report["settings"]
    command = "python benchmarks/resume.py" + (" --quick" if s["quick"] else "")
    if s["size"] != (128 if s["quick"] else 256):
        command += f" --size {s['size']}"
    if s["steps"] != (30 if s["quick"] else stylelib.LBFGS_STEPS):
        command += f" --steps {s['steps']}"
    lines = [
        f"Measured {report['date']} on {report['machine']} with {UNTRAINED}.",
        *([] if report["complete"] else ["", "**Partial: the run had not finished all pairs.**"]),
        "",
        f"`{command}`: stylize with L-BFGS "
        f"(memory {LBFGS_MEMORY} pairs), preset '{s['preset']}', one scale, {s['size']} px, "
        f"{s['steps']} iterations; TV weights {', '.join(f'{t:g}' for t in s['tv_weights'])} "
        f"(absolute TV > 0: {len(LBFGS_TV_EPSILONS)} smoothing phases; 0: one). Each resumed run "
        "restarts L-BFGS's curvature memory. Ratio: resumed final loss / uninterrupted final "
        "loss. Extra evals: loss-and-gradient evaluations beyond the uninterrupted run's. "
        "Iterations lost: the uninterrupted run reached the resumed run's final loss that many "
        "iterations before its end (0: less than one, or the resumed run ended lower). Reached: "
        "the resumed run's "
        "first step at the uninterrupted final loss.",
        "",
        "| pair | TV | case | ratio | extra evals | iterations lost | reached | bit-identical |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        pair = f"{r['content']} + {r['style']}"
        u = r["uninterrupted"]
        lines.append(
            f"| {pair} | {r['tv_weight']:g} | uninterrupted: loss {u['final_loss']:.5g}, "
            f"{u['evaluations']} evals | 1 | 0 | 0 | step {r['steps']} | – |"
        )
        for c in r["cases"]:
            lost = "0 (ended lower)" if c["iterations_lost"] is None else c["iterations_lost"]
            lines.append(
                f"| {pair} | {r['tv_weight']:g} | {c['case']} (at {', '.join(map(str, c['stops']))})"
                f" | {c['loss_ratio']:.4f} | {c['extra_evaluations']:+d} | {lost} | "
                f"{_reach(c, r['steps'])} | {'yes' if c['bit_identical'] else 'no'} |"
            )
    lines += [
        "",
        "Median over the pairs:",
        "",
        "| TV | case | pairs | ratio | extra evals | iterations lost | reached the uninterrupted loss |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in report["medians"]:
        lines.append(
            f"| {m['tv_weight']:g} | {m['case']} | {m['pairs']} | {m['loss_ratio']:.4f} | "
            f"{m['extra_evaluations']:+g} | {m['iterations_lost']:g} | "
            f"{m['reached']} of {m['pairs']} |"
        )
    checks = [r["stop_check"] for r in report["rows"] if "stop_check" in r]
    for check in checks:
        verdict = "the same state" if check["same_state"] else "a DIFFERENT state"
        lines += [
            "",
            f"A run really stopped at step {check['step']} wrote {verdict} as the checkpoint kept "
            "from the uninterrupted run at that step (image, best image, losses, step, "
            "evaluations, phase).",
        ]
    for r in report["rows"]:
        for c in r["cases"]:
            if c["case"] == "resumed at the phase boundary":
                lines += [
                    "",
                    f"Phase boundary ({r['content']} + {r['style']}, TV {r['tv_weight']:g}, step "
                    f"{c['stops'][0]}): bit-identical: {'yes' if c['bit_identical'] else 'no'}; "
                    f"largest pixel difference {c['max_abs_pixel_difference']:.3g}, loss ratio "
                    f"{c['loss_ratio']:.9f}, {c['extra_evaluations']:+d} evaluations (each "
                    "phase starts with an empty memory; checkpoints keep scipy's float64 iterate).",
                ]
    repaired = [c for r in report["rows"] for c in r["cases"] if c.get("phase_start_repaired_at")]
    if repaired:
        lines += [
            "",
            f"In {len(repaired)} chain(s) the checkpoint written by a resumed and stopped run had "
            "the resume step as its phase start; the benchmark put back the phase's true start "
            "before resuming again (otherwise the chain runs more iterations than asked).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one pair at 128 px, 30 iterations")
    parser.add_argument("--size", type=int, help="longer side in px (default 256; quick 128)")
    parser.add_argument("--steps", type=int, help=f"iterations (default {stylelib.LBFGS_STEPS})")
    parser.add_argument("--pairs", type=int, help="use the first N pairs (default all; quick 1)")
    parser.add_argument(
        "--tv-weights", type=float, nargs="+", help="TV weights (default the preset's and 0)"
    )
    parser.add_argument(
        "--fractions", type=float, nargs="+", default=list(FRACTIONS), help="resume points"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    size = args.size or (128 if args.quick else 256)
    steps = args.steps or (30 if args.quick else stylelib.LBFGS_STEPS)
    pairs = PAIRS[: args.pairs or (1 if args.quick else len(PAIRS))]
    preset = stylelib.make_preset("tutorial", optimizer="lbfgs", steps=steps)
    tv_weights = args.tv_weights or [preset.tv_weight, 0.0]
    info = stylelib.weights_in_use("random")
    report = {
        "weights": {"spec": info.spec, "trained": info.trained, "note": UNTRAINED},
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, TensorFlow {tf.__version__}",
        "settings": {
            "quick": args.quick,
            "preset": preset.name,
            "tv_kind": preset.tv_kind,
            "size": size,
            "steps": steps,
            "scales": 1,
            "tv_weights": tv_weights,
            "lbfgs_memory": LBFGS_MEMORY,
            "tv_epsilons": list(LBFGS_TV_EPSILONS),
            "fractions": args.fractions,
            "chain": list(CHAIN),
        },
        "rows": [],
    }
    start = time.perf_counter()
    name = "resume_quick" if args.quick else "resume"
    args.out.mkdir(parents=True, exist_ok=True)
    total = len(tv_weights) * len(pairs)
    with tempfile.TemporaryDirectory(prefix="resume-bench-") as tmp:
        # The default TV weight first, on every pair: the rows are written as they come.
        for tv in tv_weights:
            for index, (content_name, style_name, role) in enumerate(pairs):
                work = Path(tmp) / f"{index}_{tv:g}"
                work.mkdir()
                settings = {"size": size, "steps": steps, "tv_weight": tv}
                first = index == 0 and tv == tv_weights[0]
                row = run_pair(
                    content_name, style_name, settings, work, first, first, args.fractions
                )
                row["role"] = role
                report["rows"].append(row)
                for case in row["cases"]:
                    assert math.isfinite(case["final_loss"]), case
                print(json.dumps(row), flush=True)
                report["complete"] = len(report["rows"]) == total
                report["medians"] = medians(report["rows"])
                report["wall_seconds"] = time.perf_counter() - start  # shared machine: no result
                (args.out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
                (args.out / f"{name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
