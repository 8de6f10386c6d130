"""``python benchmarks/openblas_threads.py PAIR SIZE STEPS [unlimited]``: one stylize run, timed, for
comparing OpenBLAS's thread settings. Without ``unlimited``: stylelib's own (one thread while
L-BFGS-B runs, ``stylelib.lbfgsb.LIMIT_BLAS``; ``OPENBLAS_NUM_THREADS`` then makes no difference
during the run). With ``unlimited``: the limit is switched off, and OpenBLAS uses its default (as
many threads as cores) or what ``OPENBLAS_NUM_THREADS`` in the environment says.

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
from threadpoolctl import threadpool_info

import stylelib
from stylelib import lbfgsb

HERE = Path(__file__).resolve().parent


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def blas_thread_counts() -> set[int]:
    """The thread counts of the BLAS libraries loaded in this process, as threadpoolctl sees them."""
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4) or argv[3:] not in ([], ["unlimited"]):
        raise SystemExit(__doc__.split(":")[0].strip("`"))
    name, size, steps = argv[0], int(argv[1]), int(argv[2])
    lbfgsb.LIMIT_BLAS = argv[3:] != ["unlimited"]
    weights = str(run.weights_file(HERE / "work"))
    options = dict(preset="tutorial", optimizer="lbfgs", weights=weights, quiet=True)
    stylelib.stylize(*pairs.pair("hopper-waves", 40), steps=2, **options)
    content, style = pairs.pair(name, size)
    seen = set()

    def blas_threads(*_):
        seen.update(blas_thread_counts())

    with routine_timed(time.perf_counter) as spent:
        start, cpu = time.perf_counter(), cpu_seconds()
        result = stylelib.stylize(
            content,
            style,
            tv_weight=0.0,
            steps=steps,
            callback=blas_threads,  # inside the run (threadpool_info costs ms: twice per run)
            callback_every=max(1, steps // 2),
            **options,
        )
    row = {
        "limited_by_stylelib": lbfgsb.LIMIT_BLAS,
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "blas_threads_in_run": sorted(seen),
        "blas_threads_outside": sorted(blas_thread_counts()),
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
