"""``make bench``, part 2: resident memory stays bounded over long stylize runs.

The target (from the issue "Bounded memory"): over 2000 Adam steps at 128 px, and over a
coarse-to-fine L-BFGS run, resident memory (RSS) grows by less than 50 MB after the first 100
steps. Growth there would mean a leak that a user sees only on long runs: a function retraced
each step, tensors kept per step, a history of tensors instead of plain numbers.

Each run goes through stylelib's public API (``stylelib.stylize`` with a callback) in a fresh
Python subprocess, so that one run's memory does not blur into the next one's. The callback reads
RSS every few steps from /proc/self/statm (Linux), else from psutil when it is importable, else
RSS is marked unavailable. Images: the generated samples benchmarks/run.py uses (Grace Hopper and
waves, offline). Weights: stylelib's seeded untrained VGG19 ("random"); memory does not depend on
the weights' values.

Units: RSS in MiB (2**20 bytes), as the README's other memory figures (GiB, MiB). The target of
50 MB is 50 * 10**6 bytes = 47.7 MiB; growth is compared with that.

The runs:
  adam   ``optimizer="adam"``, 2000 steps at 128 px (one scale), RSS every 10 steps.
  lbfgs  coarse to fine, ``max_dim=256, scales=[128, 256], scale_steps=[50, 350]``: 400 L-BFGS
         iterations in all. The first scale is short on purpose, so that step 100 of the run (the
         reference point of the target) lies inside the final scale: a larger image legitimately
         needs a larger working set, and comparing 128 px at step 100 with 256 px at the end would
         count that as growth. Its RSS at the end of each scale is reported too. 256 px rather
         than 512 px keeps the whole benchmark near 15 minutes on 2 CPU cores: an L-BFGS
         iteration took 0.78 s at 256 px in make bench's table a, and 512 px has four times
         the pixels.

Writes benchmarks/results/memory.json and memory.md and prints the table. ``--smoke`` runs toy
sizes, both runs at once (tests/test_bench.py). ``--tracemalloc`` also traces Python allocations
in each run (slower): the Python heap at the reference step and at the end, and the ten sources
that grew most.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIB = 2**20
#: The issue's target: 50 MB = 50 * 10**6 bytes, in MiB.
TARGET_MIB = 50e6 / MIB

#: The runs. "smoke" is for the test that keeps this script working.
CONFIGS = {
    "full": {
        "reference_step": 100,
        "jobs": 1,
        "runs": {
            "adam": {
                "optimizer": "adam",
                "max_dim": 128,
                "steps": 2000,
                "scales": None,
                "every": 10,
            },
            "lbfgs": {
                "optimizer": "lbfgs",
                "max_dim": 256,
                "steps": 400,
                "scales": [128, 256],
                "scale_steps": [50, 350],
                "every": 5,
            },
        },
    },
    "smoke": {
        "reference_step": 10,
        "jobs": 2,
        "runs": {
            "adam": {"optimizer": "adam", "max_dim": 64, "steps": 24, "scales": None, "every": 2},
            "lbfgs": {
                "optimizer": "lbfgs",
                "max_dim": 96,
                "steps": 16,
                "scales": [48, 96],
                "scale_steps": [4, 12],
                "every": 2,
            },
        },
    },
}

LABELS = {
    "adam": "Adam, {max_dim} px",
    "lbfgs": "L-BFGS coarse to fine, {sizes} px",
}


# --------------------------------------------------------------------------------------------
# Reading RSS
# --------------------------------------------------------------------------------------------


def rss_reader():
    """A function returning this process's resident memory in MiB, and its source's name.

    /proc/self/statm (second field, in pages) on Linux; psutil where it is importable; else a
    function returning None, with the source "unavailable".
    """
    statm = Path("/proc/self/statm")
    if statm.exists():
        page = os.sysconf("SC_PAGE_SIZE")
        return (lambda: int(statm.read_text().split()[1]) * page / MIB), "/proc/self/statm"
    try:
        import psutil
    except ImportError:
        return (lambda: None), "unavailable"
    process = psutil.Process()
    return (lambda: process.memory_info().rss / MIB), "psutil"


def peak_rss_mib() -> float:
    """This process's peak RSS so far (ru_maxrss: KiB on Linux, bytes on macOS), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


def own_peak_rss_mib() -> float:
    """This process's peak RSS in MiB: VmHWM of /proc/self/status where there is one.

    Not ru_maxrss alone: on Linux a subprocess's ru_maxrss starts from its parent's peak (the
    high-water mark of the memory it replaced at exec), so a child of a large process would
    report the parent's peak. VmHWM is that of the child's own memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MIB
    except OSError:
        pass
    return peak_rss_mib()


# --------------------------------------------------------------------------------------------
# One run (in a subprocess)
# --------------------------------------------------------------------------------------------


def child(name: str, run: dict, reference_step: int, trace_python: bool) -> dict:
    """Run one stylize call, sampling RSS from its callback; return the samples and the figures."""
    import tracemalloc

    import stylelib

    read_rss, source = rss_reader()
    content = stylelib.sample_image("hopper", run["max_dim"])
    style = stylelib.sample_image("waves", run["max_dim"])
    before = read_rss()
    samples = []  # (step, scale, seconds, rss MiB, live Python objects)
    python_heap = {}
    start = time.perf_counter()

    def snapshot(key):
        gc.collect()
        python_heap[key] = tracemalloc.take_snapshot()

    def callback(step, image, record):
        samples.append(
            [
                int(step),
                int(record.scale),
                time.perf_counter() - start,
                read_rss(),
                len(gc.get_objects()),
            ]
        )
        if trace_python and step >= reference_step and "reference" not in python_heap:
            snapshot("reference")

    if trace_python:
        tracemalloc.start(5)
    extra = {"scales": run["scales"]}
    if "scale_steps" in run:
        extra["scale_steps"] = run["scale_steps"]
    result = stylelib.stylize(
        content,
        style,
        optimizer=run["optimizer"],
        steps=run["steps"],
        max_dim=run["max_dim"],
        weights="random",
        callback=callback,
        callback_every=run["every"],
        **extra,
    )
    seconds = time.perf_counter() - start
    after = read_rss()
    report = {
        "machine": bench_run().machine(),
        "run": name,
        "optimizer": run["optimizer"],
        "rss_source": source,
        "weights": "untrained (stylelib's seeded 'random' VGG19)",
        "weights_trained": bool(result.weights.trained) if result.weights else False,
        "size": list(result.image.shape[1:3]),
        "scales": [
            {
                "size": s["size"],
                "steps_planned": s["steps"],
                "iterations": s.get("iterations", s["steps"]),
                "evaluations": s.get("evaluations"),
                "stops": s.get("stops", []),
            }
            for s in result.extra["scales"]
        ],
        "steps": result.history[-1].step,
        "seconds": seconds,
        "rss_before_run_mib": before,
        "rss_after_return_mib": after,
        # ru_maxrss lags the kernel's RSS counters a little: the larger of it and the samples.
        "peak_rss_mib": max(
            [own_peak_rss_mib(), after] + [s[3] for s in samples if s[3] is not None]
        ),
        # Plain numbers, not tensors: the history of a long run must not hold TensorFlow objects.
        "history_plain_numbers": all(
            type(getattr(r, f)) in (int, float)
            for r in result.history
            for f in ("step", "seconds", "total", "content", "style", "tv", "scale")
        ),
        "history_records": len(result.history),
        "samples": samples,
    }
    if trace_python:
        snapshot("end")
        tracemalloc.stop()
        first, last = python_heap["reference"], python_heap["end"]
        report["python_heap_mib"] = {
            "reference": sum(s.size for s in first.statistics("filename")) / MIB,
            "end": sum(s.size for s in last.statistics("filename")) / MIB,
        }
        report["python_heap_growth_top"] = [
            {
                "where": str(d.traceback),
                "size_diff_kib": d.size_diff / 1024,
                "count_diff": d.count_diff,
            }
            for d in last.compare_to(first, "lineno")[:10]
        ]
    return report


def summarise(report: dict, reference_step: int) -> dict:
    """Add the figures to a run's report: RSS at the reference step, at the end, growth, verdict.

    The reference sample is the first one at or after ``reference_step`` steps of the run. Growth
    is the last sample minus the reference sample; the largest rise is the highest sample from
    the reference on minus the reference sample (a run can grow and fall back before its end).
    The verdict passes when both stay below the target. ``slope_mib_per_1000_steps`` fits a line
    to the samples from the reference on: near 0 when RSS is flat.
    """
    samples = [s for s in report["samples"] if s[3] is not None]
    later = [s for s in samples if s[0] >= reference_step]
    if not later:
        report.update(rss_available=False, verdict="RSS unavailable")
        return report
    reference, last = later[0], later[-1]
    steps = [s[0] for s in later]
    rss = [s[3] for s in later]
    mean_step, mean_rss = sum(steps) / len(steps), sum(rss) / len(rss)
    spread = sum((x - mean_step) ** 2 for x in steps)
    slope = (
        sum((x - mean_step) * (y - mean_rss) for x, y in zip(steps, rss, strict=True)) / spread
        if spread > 0
        else 0.0
    )
    growth = last[3] - reference[3]
    rise = max(rss) - reference[3]
    report.update(
        rss_available=True,
        reference_step=reference[0],
        reference_scale=reference[1],
        reference_size=report["scales"][reference[1]]["size"],
        rss_at_reference_mib=reference[3],
        rss_at_end_mib=last[3],
        rss_max_sampled_mib=max(s[3] for s in samples),
        growth_mib=growth,
        growth_mb=growth * MIB / 1e6,
        largest_rise_mib=rise,
        largest_rise_mb=rise * MIB / 1e6,
        slope_mib_per_1000_steps=slope * 1000,
        python_objects_at_reference=reference[4],
        python_objects_at_end=last[4],
        target_mib=TARGET_MIB,
        verdict="pass" if max(growth, rise) < TARGET_MIB else "FAIL",
        rss_at_end_of_scale_mib=[
            [s for s in samples if s[1] == k][-1][3] if any(s[1] == k for s in samples) else None
            for k in range(len(report["scales"]))
        ],
    )
    return report


def run_in_subprocess(name: str, config: dict, trace_python: bool) -> dict:
    """One run in a fresh interpreter (as benchmarks/run.py does for its table c)."""
    spec = json.dumps({"run": config["runs"][name], "reference_step": config["reference_step"]})
    command = [sys.executable, __file__, "--child", name, spec]
    if trace_python:
        command.append("--tracemalloc")
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory run {name!r} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def label(row: dict) -> str:
    """The run's name in the table."""
    sizes = " → ".join(str(max(s["size"])) for s in row["scales"])
    return LABELS[row["run"]].format(max_dim=max(row["size"]), sizes=sizes)


def markdown(report: dict) -> str:
    """The table of a report, with a line saying what was measured and how."""
    m = report["machine"]
    lines = [
        f"Measured {report['date']} on {m['cpu']}, {m['cores']} cores, no GPU, TensorFlow "
        f"{m['tensorflow']}, untrained VGG19 (`make bench`, `benchmarks/memory.py`, "
        f"`benchmarks/results/{report['name']}.json`). Each run in a fresh process; RSS read from "
        f"{report['rss_source']} in stylize's callback. MiB = 2^20 bytes; the target: RSS grows by "
        f"less than 50 MB = {TARGET_MIB:.1f} MiB after step {report['reference_step']}, at the end "
        "(growth) and at any sample (largest rise). Slope: a line fitted to the samples from "
        f"step {report['reference_step']} on.",
        "",
        "| run | steps | RSS at step {0} | RSS at end | peak RSS | growth after step {0} | "
        "largest rise after step {0} | slope | target | verdict |".format(report["reference_step"]),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        if not r.get("rss_available"):
            lines.append(f"| {label(r)} | {r['steps']} |" + " – |" * 7 + " RSS unavailable |")
            continue
        where = f" (step {r['reference_step']}"
        if len(r["scales"]) > 1:
            where += f", {max(r['reference_size'])} px scale"
        where += ")"
        iterations = sum(s["iterations"] for s in r["scales"])
        steps = (
            f"{iterations} iterations ({' + '.join(str(s['iterations']) for s in r['scales'])})"
            if r["optimizer"] == "lbfgs"
            else f"{r['steps']}"
        )
        lines.append(
            f"| {label(r)} | {steps} | {r['rss_at_reference_mib']:.0f} MiB{where} | "
            f"{r['rss_at_end_mib']:.0f} MiB | {r['peak_rss_mib']:.0f} MiB | "
            f"{r['growth_mib']:+.1f} MiB | {r['largest_rise_mib']:+.1f} MiB | "
            f"{r['slope_mib_per_1000_steps']:+.1f} MiB / 1000 steps | "
            f"< {TARGET_MIB:.1f} MiB | **{r['verdict']}** |"
        )
    return "\n".join(lines) + "\n"


def bench_run():
    """benchmarks/run.py as a module, for its machine() and _rounded() (imports TensorFlow)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", HERE / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes, well under a minute")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    parser.add_argument(
        "--only", choices=sorted(CONFIGS["full"]["runs"]), action="append", help="run only these"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slower)"
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="recompute the figures from an earlier report's samples; rewrite its JSON and table",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads(args.render.read_text())
        for row in report["runs"]:
            summarise(row, report["reference_step"])
        write(bench_run()._rounded(report), args.out)
        return 0
    if args.child:
        name, spec = args.child
        spec = json.loads(spec)
        report = child(name, spec["run"], spec["reference_step"], args.tracemalloc)
        print(json.dumps(bench_run()._rounded(summarise(report, spec["reference_step"]))))
        return 0
    config = CONFIGS["smoke" if args.smoke else "full"]
    name = "memory_smoke" if args.smoke else "memory"
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "name": name,
        "config": "smoke" if args.smoke else "full",
        "reference_step": config["reference_step"],
        "target_mib": round(TARGET_MIB, 2),
        "target": "growth of RSS after the reference step < 50 MB (50e6 bytes)",
        "runs": [],
    }
    names = args.only or list(config["runs"])
    # One after the other (full), or at once (smoke, to keep the test short): each run is its own
    # process either way, so its RSS is its own; only the wall times change.
    with ThreadPoolExecutor(max_workers=config["jobs"]) as pool:
        rows = pool.map(lambda run: run_in_subprocess(run, config, args.tracemalloc), names)
        for run, row in zip(names, rows, strict=True):
            report["runs"].append(row)
            summary = {
                k: v for k, v in row.items() if k not in ("samples", "python_heap_growth_top")
            }
            print(f"{run}: {json.dumps(summary)}", flush=True)
    report["rss_source"] = report["runs"][0]["rss_source"]
    report["machine"] = report["runs"][0].pop("machine")
    for row in report["runs"][1:]:
        row.pop("machine")
    write(report, args.out)
    return 0


def write(report: dict, out: Path, render=None) -> None:
    """Write the report's JSON and Markdown table (``render(report)``, by default this module's
    markdown) into ``out``; print the table. feedforward.py passes its own ``render``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{report['name']}.json").write_text(json.dumps(report, indent=1) + "\n")
    table = (render or markdown)(report)
    (out / f"{report['name']}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    sys.exit(main())
