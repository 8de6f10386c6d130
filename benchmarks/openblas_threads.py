"""``python benchmarks/openblas_threads.py PAIR SIZE STEPS [unlimited]``: one stylize run, timed, for
comparing OpenBLAS's thread settings: stylelib's own (one thread while L-BFGS-B runs,
``stylelib.lbfgsb.LIMIT_BLAS``), or with ``unlimited`` OpenBLAS's default (as many threads as
cores), or whatever ``OPENBLAS_NUM_THREADS`` in the environment says, with ``unlimited``.

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
from stylelib import lbfgsb

HERE = Path(__file__).resolve().parent


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4) or argv[3:] not in ([], ["unlimited"]):
        raise SystemExit(__doc__.split(":")[0].strip("`"))
    name, size, steps = argv[0], int(argv[1]), int(argv[2])
    lbfgsb.LIMIT_BLAS = argv[3:] != ["unlimited"]
    weights = str(run.weights_file(HERE / "work"))
    options = dict(preset="tutorial", optimizer="lbfgs", weights=weights, quiet=True)
    stylelib.stylize(*pairs.pair("hopper-waves", 40), steps=2, **options)
    content, style = pairs.pair(name, size)
    with routine_timed(time.perf_counter) as spent:
        start, cpu = time.perf_counter(), cpu_seconds()
        result = stylelib.stylize(content, style, tv_weight=0.0, steps=steps, **options)
    row = {
        "limited_by_stylelib": lbfgsb.LIMIT_BLAS,
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
