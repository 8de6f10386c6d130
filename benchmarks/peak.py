"""Where the peak memory of table c's 1024 px coarse-to-fine run goes (issue 12: "show where it goes").

``make bench``'s table c reports one number per run, the run's own peak resident memory (VmHWM).
This script runs the same 1024 px coarse-to-fine L-BFGS run (benchmarks/run.py's
``coarse_to_fine_run``: Grace Hopper and waves, 128 (100) -> 256 (50) -> 512 (25) -> 1024 (10)
iterations, the untrained weights file of benchmarks/work/) in a fresh interpreter, with a thread
that samples every 10 ms (nominally: the thread needs Python's lock, so a sample can wait; the
largest gap between samples is recorded):

  rss      resident memory, /proc/self/statm
  in use   what glibc's malloc has handed out and not had back (mallinfo2: uordblks + hblkhd)
  kept     free memory malloc holds inside the process instead of returning it (fordblks)

and the stage the run is in: "import" (Python, TensorFlow, stylelib), "load" (the two images),
then the scale of the iteration under way, named from stylize's callback (its global step). A
scale's label therefore includes stylize's set-up for it (for the first, building VGG19 and
loading its weights); a scale that L-BFGS-B ends early keeps the previous label until the next
scale's first iteration. At the largest sample it reports the three.

"Kept" is an upper bound of the part of the peak an allocator that returned free memory at once
would not have: it counts free bytes whether their pages are resident or not (after
``malloc_trim`` they are not). "In use" counts each block whole, touched or not (SciPy's
L-BFGS-B workspace is allocated for all its correction pairs and only filled ones take memory),
so it can exceed what it adds to RSS. For scale, it also gives a count: the bytes of one forward
pass's VGG19 activations at the last scale (every layer's output up to block5_conv2, the deepest
layer the loss reads, float32), which the gradient keeps until the backward pass reaches them.

Variants run the same child in an environment without glibc's allocator settings (``MALLOC_*``,
``GLIBC_TUNABLES``), then with the variant's: ``mmap`` (``MALLOC_MMAP_THRESHOLD_=131072``, read by
glibc when Python starts: blocks of 128 KiB and more come from the system and go back to it when
freed, instead of glibc raising that size up to 32 MiB as blocks are freed), and ``trim``
(``PEAK_MALLOC_TRIM=1``, read by this script: the child calls glibc's ``malloc_trim(0)`` after
every iteration, from stylize's callback, handing free memory back to the system; within an
iteration nothing changes, so its peak is a lower bound of what trimming can save). They show how
much of the peak is memory malloc keeps; neither is stylelib's setting (README "Memory over long
runs" says what the threshold costs). Each child records the allocator variables it ran with,
and ``LD_PRELOAD`` when set (another allocator).
The run's seconds are recorded, but the sampler (mallinfo2 locks malloc's arenas 100 times a
second) and variants run at once (``--jobs``) make them no timing.

Linux with glibc only (mallinfo2, glibc 2.33 or later). Writes benchmarks/results/peak.json and
peak.md. ``--smoke`` runs a toy size (tests/test_bench_peak.py).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from memory import MIB, own_peak_rss_mib  # benchmarks import each other by name

HERE = Path(__file__).resolve().parent

#: The run: table c's largest (benchmarks/run.py, CONFIGS["full"]), and a toy one for the test.
CONFIGS = {
    "full": {"size": 1024, "steps": {128: 100, 256: 50, 512: 25, 1024: 10}},
    "smoke": {"size": 96, "steps": {48: 3, 96: 2}},
}
#: Set in the child's environment: call glibc's malloc_trim(0) after every iteration.
TRIM = "PEAK_MALLOC_TRIM"
#: Environment of each variant, set before the child's Python starts.
VARIANTS = {
    "default": {},
    "mmap": {"MALLOC_MMAP_THRESHOLD_": "131072"},
    "trim": {TRIM: "1"},
}
#: Variables that change glibc's allocator: removed from every child's environment first.
ALLOCATOR_VARIABLES = ("MALLOC_", "GLIBC_TUNABLES")
#: Variables a report records besides those: the variants' own, and another allocator in front.
ENVIRONMENT = sorted({k for v in VARIANTS.values() for k in v} | {"LD_PRELOAD"})
SAMPLE_SECONDS = 0.01
#: VGG19 up to block5_conv2 (the deepest layer stylelib's default loss reads, model.py):
#: (convolutions, channels) per block; a 2x2 pool ends blocks 1-4.
VGG19_BLOCKS = [(2, 64), (2, 128), (4, 256), (4, 512), (2, 512)]


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def malloc_reader():
    """A function returning (in use, kept free) by glibc's malloc in MiB, or None without glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2

    def read():
        info = mallinfo2()
        return (info.uordblks + info.hblkhd) / MIB, info.fordblks / MIB

    return read


def activation_mib(height: int, width: int) -> float:
    """One forward pass's VGG19 activations up to block5_conv2, float32, in MiB.

    Every convolution's output (after ReLU) and every pool's, at an input of ``height`` x ``width``.
    """
    total = 0
    for block, (convolutions, channels) in enumerate(VGG19_BLOCKS):
        total += convolutions * height * width * channels
        if block < len(VGG19_BLOCKS) - 1:
            height, width = height // 2, width // 2
            total += height * width * channels
    return total * 4 / MIB


def child(size: int, steps: dict[int, int], weights: str) -> dict:
    """(in a subprocess) table c's run ending at ``size`` px, sampled; returns the figures."""
    statm = Path("/proc/self/statm")
    page = os.sysconf("SC_PAGE_SIZE")
    read_malloc = malloc_reader()
    stage = {"name": "import"}
    samples = []  # (seconds, stage, rss, in use, kept)
    done = threading.Event()
    start = time.perf_counter()

    def sample():
        rss = int(statm.read_text().split()[1]) * page / MIB
        in_use, kept = read_malloc() if read_malloc else (None, None)
        samples.append((time.perf_counter() - start, stage["name"], rss, in_use, kept))

    def sampler():
        while not done.wait(SAMPLE_SECONDS):
            sample()

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    import run as bench_run  # imports stylelib and TensorFlow; benchmarks import each other by name

    stage["name"] = "load"
    content, style = bench_run.images(size)
    sides = sorted(s for s in steps if s <= size)
    ends = [sum(steps[s] for s in sides[: k + 1]) for k in range(len(sides))]

    def scale_of(iteration):
        return next((s for s, end in zip(sides, ends, strict=True) if iteration <= end), sides[-1])

    trim = ctypes.CDLL("libc.so.6").malloc_trim if os.environ.get(TRIM) else None
    trims, callbacks = [], []

    def callback(step, image, record):
        stage["name"] = f"{scale_of(step + 1)} px" if step < ends[-1] else "end"
        callbacks.append(step)
        if trim is not None:
            trim(0)
            trims.append(step)

    stage["name"] = f"{sides[0]} px"
    begin = time.perf_counter()
    result = bench_run.coarse_to_fine_run(
        content, style, size, steps, weights, callback=callback, callback_every=1
    )
    seconds = time.perf_counter() - begin
    done.set()
    thread.join()
    sample()
    height, width = result.image.shape[1:3]
    peak = max(samples, key=lambda s: s[2])
    stages = {}
    for _, name, rss, _, _ in samples:
        stages[name] = max(stages.get(name, 0.0), rss)
    return {
        "size": size,
        "output": [height, width],
        "environment": {
            k: os.environ[k]
            for k in sorted(os.environ)
            if k in ENVIRONMENT or k.startswith(ALLOCATOR_VARIABLES)
        },
        "peak_rss_mib": own_peak_rss_mib(),
        "samples": len(samples),
        "sampled_peak": {
            "stage": peak[1],
            "rss_mib": peak[2],
            "in_use_mib": peak[3],
            "kept_mib": peak[4],
        },
        "rss_after_import_mib": max((s[2] for s in samples if s[1] == "import"), default=None),
        "stage_peaks_mib": stages,
        "activations_mib": activation_mib(height, width),
        "seconds": seconds,
        "callbacks": len(callbacks),
        "malloc_trims": len(trims),
        "largest_sample_gap_seconds": max(
            (b[0] - a[0] for a, b in zip(samples, samples[1:], strict=False)), default=None
        ),
        "final_loss": float(result.history[-1].total),
    }


def run(config: dict, variants: list[str], weights: Path, jobs: int) -> list[dict]:
    """Each variant in a fresh interpreter (``jobs`` at a time); their reports."""

    environment = {k: v for k, v in os.environ.items() if not k.startswith(ALLOCATOR_VARIABLES)}

    def one(name):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(config["size"]),
                json.dumps(config["steps"]),
                str(weights),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**environment, **VARIANTS[name]},
        )
        if out.returncode != 0:
            raise RuntimeError(f"variant {name} failed:\n{out.stderr[-3000:]}")
        return {"variant": name, **json.loads(out.stdout.strip().splitlines()[-1])}

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(one, variants))


def _mib(value) -> str:
    return "–" if value is None else f"{value:,.0f} MiB"


def markdown(report: dict) -> str:
    """The table of a report."""
    rows = report["runs"]
    first = rows[0]
    lines = [
        f"Measured {report['date']} (`{report['command']}`; untrained weights file, "
        f"Hopper and waves; {first['size']} px, height x width "
        f"{first['output'][0]} x {first['output'][1]}; scales (iterations) "
        f"{' -> '.join(f'{k} ({v})' for k, v in report['steps'].items())}). "
        f"Samples about every {SAMPLE_SECONDS * 1000:.0f} ms. In use: malloc's blocks handed out "
        "(mallinfo2 uordblks + hblkhd), each counted whole, touched or not. Kept: free memory "
        "malloc holds (fordblks), resident or not: at most what returning it at once would "
        "save (malloc_trim leaves its pages not resident, so the trim row's is not comparable). "
        "VGG19's activations at the last scale, one forward pass up to block5_conv2 "
        f"(counted, float32): {first['activations_mib']:,.0f} MiB.",
        "",
        "| variant | environment | peak RSS (VmHWM) | largest sample: stage | RSS | in use | kept "
        "| RSS after import | final loss |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        peak = row["sampled_peak"]
        env = ", ".join(f"`{k}={v}`" for k, v in row["environment"].items()) or "–"
        lines.append(
            f"| {row['variant']} | {env} | {_mib(row['peak_rss_mib'])} | {peak['stage']} "
            f"| {_mib(peak['rss_mib'])} | {_mib(peak['in_use_mib'])} | {_mib(peak['kept_mib'])} "
            f"| {_mib(row['rss_after_import_mib'])} | {row['final_loss']:.6g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a toy size, seconds")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--jobs", type=int, default=1, help="variants run at once (memory only)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    parser.add_argument("--work", type=Path, default=HERE / "work", help="weights file folder")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        size, steps, weights = args.child
        steps = {int(k): v for k, v in json.loads(steps).items()}
        print(json.dumps(child(int(size), steps, weights)))
        return 0
    import run as bench_run  # benchmarks import each other by name

    name = "smoke" if args.smoke else "full"
    config = CONFIGS[name]
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "config": name,
        "command": shlex.join(
            ["python", "benchmarks/peak.py", *map(str, sys.argv[1:] if argv is None else argv)]
        ),
        "steps": config["steps"],
        "runs": run(config, args.variants, bench_run.weights_file(args.work), args.jobs),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "peak_smoke" if args.smoke else "peak"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    table = markdown(report)
    (args.out / f"{stem}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
