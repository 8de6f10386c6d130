"""``make bench``: stylelib's optimisers against the TensorFlow tutorial's loop, on this machine.

The reference is an independent re-implementation of the loop of the TensorFlow tutorial "Neural
style transfer" with its published settings: a multi-output VGG19 model, Gram matrices by einsum
divided by the number of locations, mean-square style and content losses (style weight 1e-2 over 5
layers, content weight 1e4), ``tf.image.total_variation`` times 30 in the final loop, and
Adam(lr 0.02, beta_1 0.99, epsilon 0.1) with clipping to [0, 1] after each step, 1000 steps. It does
not import stylelib's losses or loops. Both sides run in this process on the same images, at the
same size, on the same untrained VGG19 weights, written once to benchmarks/work/ and loaded from
that file by both (there is no internet here for the ImageNet weights; timings do not depend on
the weights' values, losses do).

Reports (JSON in benchmarks/results/bench.json, a Markdown table in results/bench.md and, with
``--readme``, in README.md between the bench markers):
  a. ms per step at 128 and 256 px: the reference's step, stylelib's Adam step (with and without
     XLA) and one L-BFGS evaluation;
  b. the reference's loss after 1000 steps at 128 px, and the wall time stylelib's L-BFGS needs to
     reach that loss on the same objective, for the first loop (no TV) and the final loop (TV 30);
  c. wall time and peak RSS of coarse-to-fine L-BFGS runs at 256, 512 and 1024 px, each in a fresh
     subprocess so that its peak memory is its own;
  d. the machine.

``--smoke`` runs everything at toy sizes in about a minute (tests/test_bench.py uses it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from memory import MIB, own_peak_rss_mib  # benchmarks import each other by name

import stylelib  # imports TensorFlow quietly
from stylelib._tf import tf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"

#: The runs. "smoke" is for the test that keeps this script working.
CONFIGS = {
    "full": {
        "step_sizes": [128, 256],
        "timed_steps": {128: 20, 256: 10},
        "race_size": 128,
        "reference_steps": 1000,
        "lbfgs_steps": 200,
        "c2f_sizes": [256, 512, 1024],
        "c2f_steps": {128: 100, 256: 50, 512: 25, 1024: 10},
    },
    "smoke": {
        "step_sizes": [64],
        "timed_steps": {64: 3},
        "race_size": 64,
        "reference_steps": 10,
        "lbfgs_steps": 10,
        "c2f_sizes": [96],
        "c2f_steps": {48: 3, 96: 2},
    },
}
WARMUP_STEPS = 3

#: Issue 12's memory target: peak RSS of the 1024 px coarse-to-fine run, in bytes (5 GB).
MEMORY_TARGET_SIZE, MEMORY_TARGET_BYTES = 1024, 5e9


# --------------------------------------------------------------------------------------------
# The reference: the TensorFlow tutorial's loop, written from its published description.
# --------------------------------------------------------------------------------------------

TUTORIAL_CONTENT_LAYERS = ["block5_conv2"]
TUTORIAL_STYLE_LAYERS = [f"block{i}_conv1" for i in range(1, 6)]


def tutorial_gram_matrix(features):
    """einsum over positions, divided by the number of locations H*W."""
    result = tf.linalg.einsum("bijc,bijd->bcd", features, features)
    shape = tf.shape(features)
    return result / tf.cast(shape[1] * shape[2], tf.float32)


class TutorialModel(tf.keras.Model):
    """VGG19 outputs at the style then content layers; Gram matrices for the style ones."""

    def __init__(self, weights_path: Path):
        super().__init__()
        vgg = tf.keras.applications.VGG19(include_top=False, weights=None)
        vgg.load_weights(weights_path)
        vgg.trainable = False
        outputs = [vgg.get_layer(n).output for n in TUTORIAL_STYLE_LAYERS + TUTORIAL_CONTENT_LAYERS]
        self.vgg = tf.keras.Model([vgg.input], outputs)
        self.vgg.trainable = False

    def call(self, inputs):
        """inputs: float32 [1, H, W, 3] in [0, 1]."""
        x = tf.keras.applications.vgg19.preprocess_input(inputs * 255.0)
        outputs = self.vgg(x)
        n = len(TUTORIAL_STYLE_LAYERS)
        return {
            "style": {
                name: tutorial_gram_matrix(out)
                for name, out in zip(TUTORIAL_STYLE_LAYERS, outputs[:n], strict=True)
            },
            "content": dict(zip(TUTORIAL_CONTENT_LAYERS, outputs[n:], strict=True)),
        }


class TutorialLoop:
    """The tutorial's optimisation: Adam(0.02, 0.99, eps 0.1), clip to [0, 1], TV weight as given."""

    style_weight, content_weight = 1e-2, 1e4

    def __init__(self, model: TutorialModel, content, style, tv_weight: float):
        self.model = model
        self.tv_weight = tv_weight
        self.style_targets = model(style)["style"]
        self.content_targets = model(content)["content"]
        self.image = tf.Variable(content)
        self.opt = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)
        self.train_step = tf.function(self._train_step)
        self.loss_of_image = tf.function(lambda: self.loss(self.image))

    def loss(self, image):
        outputs = self.model(image)
        style = tf.add_n(
            [
                tf.reduce_mean((outputs["style"][n] - self.style_targets[n]) ** 2)
                for n in TUTORIAL_STYLE_LAYERS
            ]
        )
        content = tf.add_n(
            [
                tf.reduce_mean((outputs["content"][n] - self.content_targets[n]) ** 2)
                for n in TUTORIAL_CONTENT_LAYERS
            ]
        )
        total = style * self.style_weight / len(TUTORIAL_STYLE_LAYERS)
        total += content * self.content_weight / len(TUTORIAL_CONTENT_LAYERS)
        return total + self.tv_weight * tf.image.total_variation(image)[0]

    def _train_step(self):
        with tf.GradientTape() as tape:
            loss = self.loss(self.image)
        grad = tape.gradient(loss, self.image)
        self.opt.apply_gradients([(grad, self.image)])
        self.image.assign(tf.clip_by_value(self.image, 0.0, 1.0))

    def run(self, steps: int) -> float:
        """Run ``steps`` steps; return the wall time in seconds (first-step tracing included)."""
        start = time.perf_counter()
        for _ in range(steps):
            self.train_step()
        self.image.numpy()  # wait for the last step
        return time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


def weights_file(work: Path) -> Path:
    """Untrained VGG19 weights written once (stylelib's seeded 'random' network) and reused."""
    path = work / "vgg19_random_notop.weights.h5"
    if not path.exists():
        work.mkdir(parents=True, exist_ok=True)
        partial = path.with_name("partial-" + path.name)
        stylelib.load_vgg19("random").save_weights(partial)
        os.replace(partial, path)
    return path


def images(size: int):
    """Content (Grace Hopper) and style (waves) at ``size`` px longer side: [1, H, W, 3] in [0, 1]."""
    return stylelib.sample_image("hopper", size), stylelib.sample_image("waves", size)


def machine() -> dict:
    """CPU model, cores, memory, library versions."""
    model = platform.processor() or "unknown"
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        model = found.group(1).strip() if found else model
        flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        simd = [f for f in ("avx2", "fma", "avx512f", "amx_bf16") if flags and f in flags.group(1)]
    except OSError:
        simd = []
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "simd": simd,
        "gpu": stylelib.gpu_available(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def _median_step_ms(history, warmup: int) -> float:
    seconds = np.array([r.seconds for r in history])
    return float(np.median(np.diff(seconds[warmup:])) * 1000)


def step_times(config, weights: Path) -> list[dict]:
    """a. ms per step of the reference and of stylelib, after warm-up (tracing excluded)."""
    rows = []
    for size in config["step_sizes"]:
        n = config["timed_steps"][size]
        content, style = images(size)
        loop = TutorialLoop(TutorialModel(weights), content, style, tv_weight=30.0)
        loop.run(WARMUP_STEPS)
        reference = loop.run(n) / n * 1000
        row = {"size": size, "reference_ms": reference}
        for key, options in (
            ("stylelib_adam_ms", {}),
            ("stylelib_adam_xla_ms", {"jit_compile": True}),
        ):
            result = stylelib.stylize(
                content, style, steps=WARMUP_STEPS + n, weights=str(weights), **options
            )
            row[key] = _median_step_ms(result.history, WARMUP_STEPS)
        result = stylelib.stylize(
            content, style, optimizer="lbfgs", steps=WARMUP_STEPS + n, weights=str(weights)
        )
        evaluations = sum(s["evaluations"] for s in result.extra["scales"])
        row["stylelib_lbfgs_iteration_ms"] = _median_step_ms(result.history, WARMUP_STEPS)
        row["lbfgs_evaluations_per_iteration"] = evaluations / max(1, result.history[-1].step)
        row["speedup_adam"] = reference / row["stylelib_adam_ms"]
        row["speedup_adam_xla"] = reference / row["stylelib_adam_xla_ms"]
        rows.append(row)
        print(f"a. {size} px: {json.dumps(_rounded(row))}", flush=True)
    return rows


def race(config, weights: Path) -> list[dict]:
    """b. Time for stylelib's L-BFGS to reach the loss of the reference's 1000 Adam steps."""
    size = config["race_size"]
    content, style = images(size)
    model = TutorialModel(weights)
    rows = []
    for tv_weight in (0.0, 30.0):
        loop = TutorialLoop(model, content, style, tv_weight)
        reference_seconds = loop.run(config["reference_steps"])
        reference_loss = float(loop.loss_of_image())
        result = stylelib.stylize(
            content,
            style,
            preset="tutorial",
            optimizer="lbfgs",
            tv_weight=tv_weight,
            steps=config["lbfgs_steps"],
            weights=str(weights),
        )
        # The same objective: stylelib's tutorial preset on the reference's final image.
        check = stylelib.StyleObjective(
            stylelib.FeatureExtractor(
                TUTORIAL_CONTENT_LAYERS, TUTORIAL_STYLE_LAYERS, weights=str(weights)
            ),
            content,
            style,
            result.preset,
        )(loop.image)[0]
        reached = [r for r in result.history if r.total <= reference_loss]
        row = {
            "loop": "first (TV 0)" if tv_weight == 0 else "final (TV 30)",
            "size": size,
            "tv_weight": tv_weight,
            "reference_steps": config["reference_steps"],
            "reference_seconds": reference_seconds,
            "reference_loss": reference_loss,
            "stylelib_loss_of_reference_image": float(check),
            "lbfgs_iterations_to_reach": reached[0].step if reached else None,
            "lbfgs_seconds_to_reach": reached[0].seconds if reached else None,
            "speedup": reference_seconds / reached[0].seconds if reached else None,
            "lbfgs_iterations": result.history[-1].step,
            "lbfgs_seconds": result.history[-1].seconds,
            "lbfgs_final_loss": result.final_loss,
        }
        rows.append(row)
        print(f"b. {json.dumps(_rounded(row))}", flush=True)
    return rows


def coarse_to_fine_run(content, style, size: int, steps: dict, weights: str, **options):
    """Table c's run: L-BFGS coarse to fine over the sides of ``steps`` up to ``size`` px, with
    ``steps[side]`` iterations at each; ``options`` go to ``stylize``. Returns its result."""
    sides = sorted(s for s in steps if s <= size)
    return stylelib.stylize(
        content,
        style,
        optimizer="lbfgs",
        scales=sides,
        scale_steps=[steps[s] for s in sides],
        weights=weights,
        **options,
    )


def coarse_to_fine_child(size: int, steps: dict, weights: str) -> dict:
    """c. (in a subprocess) one coarse-to-fine L-BFGS run ending at ``size`` px."""
    content, style = images(size)
    start = time.perf_counter()
    result = coarse_to_fine_run(content, style, size, steps, weights)
    seconds = time.perf_counter() - start
    history = result.history_arrays()
    return {
        "size": size,
        "output": list(result.image.shape[1:3]),
        "scales": [
            {
                "size": s["size"],
                "iterations": s["iterations"],
                "evaluations": s["evaluations"],
                "final_loss": float(history["total"][history["scale"] == k][-1]),
            }
            for k, s in enumerate(result.extra["scales"])
        ],
        "seconds": seconds,
        # VmHWM, not ru_maxrss: a subprocess's ru_maxrss starts from its parent's peak on Linux.
        "peak_rss_mb": own_peak_rss_mib(),
    }


def coarse_to_fine(config, weights: Path) -> list[dict]:
    """c. Each size in a fresh interpreter, so that its peak memory (VmHWM) is that run's own."""
    rows = []
    steps = json.dumps(config["c2f_steps"])
    for size in config["c2f_sizes"]:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size), steps, str(weights)],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"coarse-to-fine run at {size} px failed:\n{out.stderr[-3000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"c. {json.dumps(_rounded(row))}", flush=True)
    return rows


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def markdown(report: dict) -> str:
    """The README table of a report."""
    m = report["machine"]
    lines = [
        f"Measured {report['date']} on {m['cpu']}, {m['cores']} cores, no GPU, "
        f"TensorFlow {m['tensorflow']}, untrained VGG19 (`make bench`, "
        f"`benchmarks/results/bench.json`). The time of one step does not depend on the weights' "
        "values; losses, and so the time to reach a given loss, do.",
    ]
    if report.get("weights_note"):
        lines[0] += " " + report["weights_note"]
    steps = {row["size"]: row for row in report["step_times"]}
    sizes = sorted(steps)

    def row(label, key, fmt="{:.0f}"):
        cells = [fmt.format(steps[s][key]) for s in sizes]
        return f"| {label} | " + " | ".join(cells) + " |"

    lines += [
        "",
        "| a. ms per step (tutorial objective, TV 30) | "
        + " | ".join(f"{s} px" for s in sizes)
        + " |",
        "|---|" + "---|" * len(sizes),
        row("reference: the tutorial's Adam step", "reference_ms"),
        row("stylelib Adam step", "stylelib_adam_ms"),
        row("stylelib Adam step, XLA (`jit_compile=True`)", "stylelib_adam_xla_ms"),
        row("stylelib L-BFGS iteration", "stylelib_lbfgs_iteration_ms"),
        row("speed-up of stylelib's Adam step (target 1.25×)", "speedup_adam", "{:.2f}×"),
        "",
        "| b. time to the tutorial's 1000-step loss | reference loss | reference time | "
        "L-BFGS time to that loss | speed-up (target 10× for the first loop) |",
        "|---|---|---|---|---|",
    ]
    for r in report["race"]:
        reached = r["lbfgs_seconds_to_reach"]
        lines.append(
            f"| {r['loop']}, {r['size']} px | {r['reference_loss']:.4g} | "
            f"{r['reference_seconds']:.0f} s ({r['reference_steps']} steps) | "
            + (
                f"{reached:.1f} s ({r['lbfgs_iterations_to_reach']} iterations) | "
                f"**{r['speedup']:.1f}×** |"
                if reached is not None
                else f"not reached in {r['lbfgs_iterations']} iterations "
                f"(loss {r['lbfgs_final_loss']:.4g}) | – |"
            )
        )
    lines += [
        "",
        "| c. coarse-to-fine L-BFGS (tutorial preset) | scales (iterations) | time | "
        "peak RSS, the run's own (VmHWM) | target: ≤ 5 GB at 1024 px (issue 12) |",
        "|---|---|---|---|---|",
    ]
    for r in report["coarse_to_fine"]:
        scales = " → ".join(f"{max(s['size'])} ({s['iterations']})" for s in r["scales"])
        mib = r["peak_rss_mb"]
        lines.append(
            f"| {r['size']} px | {scales} | {r['seconds']:.0f} s | "
            f"{mib:,.0f} MiB ({mib * MIB / 1e9:.3f} GB) | {_memory_verdict(r['size'], mib)} |"
        )
    return "\n".join(lines) + "\n"


def _memory_verdict(size: int, peak_mib: float) -> str:
    """Table c's last cell: met or missed at the target's size, a dash at the others."""
    if size != MEMORY_TARGET_SIZE:
        return "–"
    return "**met**" if peak_mib * MIB <= MEMORY_TARGET_BYTES else "**missed**"


def update_readme(readme: Path, table: str, start: str = MARK_START, end: str = MARK_END) -> None:
    """Replace the text between the markers ``start`` and ``end`` of the README with ``table``."""
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{readme}: no {start} ... {end} markers to replace")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    partial = readme.with_name(readme.name + ".partial")
    partial.write_text(f"{head}{start}\n{table}{end}{tail}")
    os.replace(partial, readme)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes, about a minute")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    parser.add_argument("--work", type=Path, default=HERE / "work", help="weights file folder")
    parser.add_argument("--readme", type=Path, help="put the table into this README")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="only write the tables of an earlier report"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        size, steps, weights = args.child
        steps = {int(k): v for k, v in json.loads(steps).items()}
        print(json.dumps(coarse_to_fine_child(int(size), steps, weights)))
        return 0
    if args.render:
        table = markdown(json.loads(args.render.read_text()))
        print(table)
        if args.readme:
            update_readme(args.readme, table)
        return 0
    config = CONFIGS["smoke" if args.smoke else "full"]
    weights = weights_file(args.work)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "config": "smoke" if args.smoke else "full",
        "machine": machine(),
        "step_times": step_times(config, weights),
        "race": race(config, weights),
        "coarse_to_fine": coarse_to_fine(config, weights),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "smoke" if args.smoke else "bench"
    (args.out / f"{name}.json").write_text(json.dumps(_rounded(report), indent=1) + "\n")
    table = markdown(report)
    (args.out / f"{name}.md").write_text(table)
    print(table)
    if args.readme:
        update_readme(args.readme, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
