"""What one L-BFGS-B call costs besides the loss: scipy.optimize.minimize against minimize_box.

For images of 128 to 1024 px (3 variables per pixel), each in a fresh interpreter so that its
peak memory is its own (VmHWM): one call of each with bounds [0, 1], 2 iterations of a cheap
quadratic loss (so that the loss costs almost nothing), reporting the CPU seconds of the call and
how far the call raised the process's peak resident memory. stylize makes one such call per
smoothing phase (3 with the tutorial's TV) at each scale.

And SciPy's routine itself (``setulb``), which runs between any two loss evaluations: the CPU
time of the calling thread in each of its calls (the routine may also use OpenBLAS's threads,
which this does not count) during 40 iterations with 20 correction pairs on a loss whose minimum
lies partly outside the box (so that bounds are active, as pixels are in style transfer), in ms
per call and calls per iteration.

Usage: ``python benchmarks/lbfgsb_overhead.py [--sizes 128 256 ...] [--out DIR]``; writes
lbfgsb_overhead.json and .md to ``--out`` (default benchmarks/results/) and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {128: (128, 109), 256: (256, 218), 512: (512, 437), 1024: (1024, 874)}  # hopper's shape


def child(kind: str, n: int) -> dict:
    """(in a subprocess) one call of ``kind`` on n variables: CPU seconds, peak rise in MiB."""
    import numpy as np
    from memory import own_peak_rss_mib
    from scipy.optimize import Bounds, minimize

    from stylelib.lbfgsb import minimize_box

    target = np.random.default_rng(0).random(n)
    x0 = np.full(n, 0.5)

    def fun(x):
        d = x - target
        return float(0.5 * d @ d), d

    before = own_peak_rss_mib()
    start = time.process_time()
    if kind == "minimize":
        minimize(
            fun,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=Bounds(np.zeros(n), np.ones(n)),
            options=dict(maxiter=2, maxcor=20, ftol=0.0, gtol=0.0),
        )
    else:
        minimize_box(fun, x0, 0.0, 1.0, maxiter=2, maxfun=26, maxcor=20)
    return {
        "cpu_seconds": time.process_time() - start,
        "peak_rise_mib": own_peak_rss_mib() - before,
    }


@contextlib.contextmanager
def routine_timed(clock=time.thread_time):
    """Within the block, each call of SciPy's routine that stylelib.lbfgsb makes is timed with
    ``clock``; yields the running totals ``{"seconds": ..., "calls": ...}``."""
    from stylelib import lbfgsb

    real = lbfgsb._routine
    spent = {"seconds": 0.0, "calls": 0}

    def routine():
        found = real()
        if found is None:
            return None
        setulb, status_messages, task_messages = found

        def timed(*args):
            start = clock()
            setulb(*args)
            spent["seconds"] += clock() - start
            spent["calls"] += 1

        return timed, status_messages, task_messages

    lbfgsb._routine = routine
    try:
        yield spent
    finally:
        lbfgsb._routine = real


def routine_cost(n: int, iterations: int = 40) -> dict:
    """(in a subprocess) SciPy's setulb's own CPU time per call over ``iterations`` iterations."""
    import numpy as np

    from stylelib import lbfgsb

    if not lbfgsb.driver_in_use():  # a SciPy whose routine stylelib does not drive itself
        return {}
    rng = np.random.default_rng(0)
    curvature, centre = rng.uniform(0.1, 10, n), rng.uniform(-1, 2, n)  # 2/3 outside [0, 1]

    def fun(x):
        d = x - centre
        return float(0.5 * np.sum(curvature * d * d) + 0.1 * np.sin(7 * x).sum()), (
            curvature * d + 0.7 * np.cos(7 * x)
        )

    with routine_timed() as spent:
        result = lbfgsb.minimize_box(
            fun, np.full(n, 0.5), 0.0, 1.0, maxiter=iterations, maxfun=5 * iterations, maxcor=20
        )
    return {
        "ms_per_call": 1000 * spent["seconds"] / spent["calls"],
        "calls_per_iteration": spent["calls"] / result.nit,
        "iterations": result.nit,
    }


def markdown(report: dict) -> str:
    lines = [
        f"Measured {report['date']} (`python benchmarks/lbfgsb_overhead.py`): one L-BFGS-B call "
        "with bounds [0, 1] and 2 iterations of a cheap loss, each in a fresh process; the last "
        "column: SciPy's routine alone (setulb, the calling thread's CPU time) over 40 iterations, 20 "
        "correction pairs and active bounds.",
        "",
        "| image (variables) | scipy.optimize.minimize: CPU s, peak rise | "
        "stylelib.lbfgsb.minimize_box: CPU s, peak rise | SciPy's routine: CPU ms per call, "
        "calls per iteration |",
        "|---|---|---|---|",
    ]
    for r in report["rows"]:
        a, b = r["minimize"], r["minimize_box"]
        c = r.get("routine")
        routine = f"{c['ms_per_call']:.1f} ms, {c['calls_per_iteration']:.2f}" if c else "-"
        lines.append(
            f"| {r['shape'][0]}x{r['shape'][1]} px ({r['variables']:,}) | "
            f"{a['cpu_seconds']:.2f} s, {a['peak_rise_mib']:.0f} MiB | "
            f"{b['cpu_seconds']:.2f} s, {b['peak_rise_mib']:.0f} MiB | {routine} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, n = args.child[0], int(args.child[1])
        print(json.dumps(routine_cost(n) if kind == "routine" else child(kind, n)))
        return 0
    rows = []
    for size in args.sizes:
        height, width = SIZES[size]
        row = {"shape": [height, width], "variables": height * width * 3}
        for kind in ("minimize", "minimize_box", "routine"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(row["variables"])],
                capture_output=True,
                text=True,
                check=True,
            )
            row[kind] = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"date": time.strftime("%Y-%m-%d"), "name": "lbfgsb_overhead", "rows": rows}
    from memory import write

    write(report, args.out, render=markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
