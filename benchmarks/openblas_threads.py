"""``python benchmarks/openblas_threads.py PAIR SIZE STEPS``: one stylize run, timed, for comparing
OpenBLAS's thread settings (run it with and without ``OPENBLAS_NUM_THREADS=1`` in the environment).

L-BFGS, tutorial preset without TV, untrained VGG19 (the suite's weights file), one scale; after a
warm-up at 40 px in the same process. Prints one JSON line: the setting, wall and CPU seconds from
call to return, SciPy's routine's wall time per call, and the final loss (the iterates' last bits
depend on OpenBLAS's threads, so the losses of the two settings differ slightly). An anecdote per
run: compare on several pairs and runs before concluding anything.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import pairs
import run
from lbfgsb_overhead import routine_timed

import stylelib

HERE = Path(__file__).resolve().parent


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    name, size, steps = argv[0], int(argv[1]), int(argv[2])
    weights = str(run.weights_file(HERE / "work"))
    options = dict(preset="tutorial", optimizer="lbfgs", weights=weights, quiet=True)
    stylelib.stylize(*pairs.pair("hopper-waves", 40), steps=2, **options)
    content, style = pairs.pair(name, size)
    with routine_timed(time.perf_counter) as spent:
        start, cpu = time.perf_counter(), cpu_seconds()
        result = stylelib.stylize(content, style, tv_weight=0.0, steps=steps, **options)
    row = {
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "pair": name,
        "size": size,
        "steps": steps,
        "wall_seconds": round(time.perf_counter() - start, 2),
        "cpu_seconds": round(cpu_seconds() - cpu, 2),
        "routine_ms_per_call": round(1000 * spent["seconds"] / max(spent["calls"], 1), 1),
        "final_loss": result.history[-1].total,
    }
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
