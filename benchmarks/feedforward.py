"""A feed-forward network against ``stylize``: the time to stylise one 512 px image (issue 13).

What is measured, side by side on this machine's CPU, on the same content images (the offline
samples of stylelib.samples, longer side 512 px; "mosaic", a style sample, serves as a third
content image because only two content samples work offline) and the same style image ("waves"):

* network: the time of one ``fast.apply_network`` call (image in, stylised image out as a NumPy
  array), the median of ``repeats`` calls after one warm-up call at that size (the first call on
  a new size pays Keras and TensorFlow start-up costs). The network is stylelib.fast's default
  (``transformer_network()``: width 32, 5 residual blocks, seed 0) with its initial, untrained
  weights unless ``--train-steps`` trains it first: the time of a forward pass does not depend on
  the weights' values. Also its time at 256 and 1024 px (first image), for the README.
* stylize: the wall time of one ``stylelib.stylize(content, style, weights=...)`` call, from call
  to return, with the library's defaults (L-BFGS, ``scales="auto"``: coarse to fine at 512 px).
  VGG19 is loaded before the clock starts (the network is built before its clock starts, too);
  the tracing of the compiled loss at each scale is included (a few seconds). ``--quick`` passes
  ``steps=40`` (40 L-BFGS iterations at the first scale, 20 at each later one) and says so in the
  report: that is NOT the defaults.
* the ratio stylize time / network time, per image and the median over the images (and the
  ratio of their CPU seconds, which other processes' load disturbs less);
* the objective's loss of each output image: stylize's default preset evaluated by one
  StyleObjective on both outputs, with the same VGG19 weights. With untrained VGG19 weights the
  losses show the mechanics only; the untrained network's loss is meaningless (it has not been
  trained to lower it);
* peak RSS of each side (VmHWM, the process's own high-water mark). Each side runs in a fresh
  Python subprocess (the network: one for all images and sizes; stylize: one per image), so that
  its peak is its own; both
  include TensorFlow's own memory, reported too ("RSS after import"). The network's peak at
  512 px is read before the losses are computed (VGG19 is not part of the network's cost).
  CPU seconds of each side are recorded as well (less sensitive to other processes' load).

VGG19 weights: the ImageNet file from the Keras cache when it is there; otherwise (and with
STYLELIB_VGG19_WEIGHTS=random) stylelib's seeded untrained network, written once to
benchmarks/work/ as benchmarks/run.py does. The report records which, and whether trained.

Usage: ``python benchmarks/feedforward.py [--images N] [--quick | --smoke] [--train-steps N]
[--note TEXT] [--out DIR] [--work DIR]``, or ``--render JSON`` to rewrite the table of an earlier
report.
Writes feedforward.json and feedforward.md (feedforward_quick.* with ``--quick``,
feedforward_smoke.* with ``--smoke``) to ``--out`` (default benchmarks/results/) and prints
the table. The full run takes one to two hours on 2 CPU cores (one stylize call at 512 px: 15-25
CPU minutes or more); ``--smoke`` (64 px, a narrow network, 2 L-BFGS iterations) keeps
tests/test_feedforward_bench.py short.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from memory import own_peak_rss_mib, rss_reader
from memory import write as write_report

HERE = Path(__file__).resolve().parent
CONTENT_IMAGES = ("hopper", "landscape", "mosaic")
STYLE_IMAGE = "waves"

#: The runs. "stylize" holds the keywords passed to stylize besides the images and weights: empty
#: means the library's defaults. A network "width" / "residual_blocks" of None means
#: stylelib.fast's defaults (WIDTH 32, RESIDUAL_BLOCKS 5). "smoke" is for the test that keeps this
#: script working.
CONFIGS = {
    "full": {
        "size": 512,
        "images": 3,
        "width": None,
        "residual_blocks": None,
        "repeats": 5,
        "extra_sizes": [256, 1024],
        "stylize": {},
        "train": {"image_size": 256, "batch_size": 4},
    },
    "quick": {
        "size": 512,
        "images": 1,
        "width": None,
        "residual_blocks": None,
        "repeats": 5,
        "extra_sizes": [256, 1024],
        "stylize": {"steps": 40},
        "train": {"image_size": 256, "batch_size": 4},
    },
    "smoke": {
        "size": 64,
        "images": 1,
        "width": 4,
        "residual_blocks": 1,
        "repeats": 2,
        "extra_sizes": [48],
        "stylize": {"steps": 2},
        "train": {"image_size": 64, "batch_size": 1},
    },
}
UNTRAINED_VGG = (
    "stylelib's seeded 'random' network, written to the work folder; the losses show the "
    "mechanics only, not what ImageNet weights give"
)


def bench_run():
    """benchmarks/run.py, for machine(), weights_file() and _rounded() (imports TensorFlow)."""
    import run

    return run


def vgg19_weights(work: str) -> dict:
    """The VGG19 weights file both sides use, and whether it is trained.

    What stylelib would use by default (STYLELIB_VGG19_WEIGHTS, else "imagenet"): the ImageNet
    file of the Keras cache, a given file (assumed trained), or, for "random" and when the
    ImageNet file is not there (no internet here), stylelib's untrained network written once to
    ``work`` by benchmarks/run.py's weights_file.
    """
    from stylelib.model import cached_imagenet_weights, resolve_weights

    spec = resolve_weights(None).spec
    if spec == "imagenet" and cached_imagenet_weights() is not None:
        return {"path": str(cached_imagenet_weights()), "trained": True, "note": "ImageNet"}
    if spec not in ("imagenet", "random"):
        return {"path": spec, "trained": True, "note": "a given file, assumed trained"}
    path = bench_run().weights_file(Path(work))
    return {"path": str(path), "trained": False, "note": UNTRAINED_VGG}


def default_preset() -> str:
    """The preset stylize uses when not told (its signature's default)."""
    import stylelib

    return inspect.signature(stylelib.stylize).parameters["preset"].default


def images(name: str, size: int):
    """Content ``name`` and the style image at ``size`` px longer side: [1, H, W, 3] in [0, 1]."""
    import stylelib

    return stylelib.sample_image(name, size), stylelib.sample_image(STYLE_IMAGE, size)


def losses(pairs: list, weights: str) -> list[dict]:
    """The objective (stylize's default preset) of each (content, style, output) triple."""
    import stylelib

    preset = stylelib.make_preset(default_preset())
    extractor = stylelib.FeatureExtractor(
        list(preset.content_layers), list(preset.style_layers), weights=weights
    )
    rows = []
    for content, style, output in pairs:
        terms = stylelib.StyleObjective(extractor, content, style, preset)(output)
        rows.append(dict(zip(("total", "content", "style", "tv"), map(float, terms), strict=True)))
    return rows


# --------------------------------------------------------------------------------------------
# The two sides, each in its own subprocess
# --------------------------------------------------------------------------------------------


def _median_call(network, image, repeats: int) -> dict:
    """Warm up once, then time ``repeats`` calls of apply_network (wall and CPU seconds)."""
    from stylelib import fast

    fast.apply_network(network, image).numpy()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        output = fast.apply_network(network, image).numpy()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "seconds": statistics.median(wall),
        "seconds_all": wall,
        "cpu_seconds": statistics.median(cpu),
        "output": output,
    }


def _network(spec: dict):
    """The network to time: a trained one from ``spec["network_file"]``, else a new one."""
    from stylelib import fast

    if spec["network_file"]:
        return fast.load_network(spec["network_file"])
    kwargs = {k: spec[k] for k in ("width", "residual_blocks") if spec[k] is not None}
    return fast.transformer_network(**kwargs, seed=0)


def _architecture(network) -> dict:
    """width and residual_blocks of a new network or of one loaded from a file (its settings)."""
    info = network.stylelib_info
    info = info.get("settings", info)
    return {"width": info["width"], "residual_blocks": info["residual_blocks"]}


def network_child(spec: dict) -> dict:
    """The network's side: every image at ``size``, then the first image at the extra sizes.

    Its peak RSS at ``size`` is read before VGG19 is loaded (for the losses, the weights file
    and nothing else); the machine's facts are gathered here too, so the parent needs no
    TensorFlow.
    """
    import stylelib

    read_rss, _ = rss_reader()
    rss_import = read_rss()
    network = _network(spec)
    rows, pairs = [], []
    for name in spec["images"]:
        content, style = images(name, spec["size"])
        timed = _median_call(network, content, spec["repeats"])
        pairs.append((content, style, timed.pop("output")))
        rows.append({"image": name, "shape": list(content.shape[1:3]), **timed})
    peak = own_peak_rss_mib()
    sizes = []
    for size in spec["extra_sizes"] + [spec["size"]]:
        content = stylelib.sample_image(spec["images"][0], size)
        timed = _median_call(network, content, spec["repeats"])
        timed.pop("output")
        sizes.append({"size": size, "shape": list(content.shape[1:3]), **timed})
    peak_all = own_peak_rss_mib()
    weights = vgg19_weights(spec["work"])
    for row, loss in zip(rows, losses(pairs, weights["path"]), strict=True):
        row["loss"] = loss
    return {
        "machine": bench_run().machine(),
        "vgg19_weights": weights,
        "architecture": _architecture(network),
        "parameters": int(network.count_params()),
        "rss_after_import_mib": rss_import,
        "peak_rss_mib": peak,
        "peak_rss_all_sizes_mib": peak_all,
        "images": rows,
        "sizes": sorted(sizes, key=lambda r: r["size"]),
    }


def stylize_child(spec: dict) -> dict:
    """The stylize side for one image: one call with the defaults (plus ``spec["stylize"]``)."""
    import stylelib

    read_rss, _ = rss_reader()
    rss_import = read_rss()
    weights = vgg19_weights(spec["work"])["path"]
    content, style = images(spec["image"], spec["size"])
    stylelib.load_vgg19(weights)  # loaded before the clock, as the network is built before its
    start, start_cpu = time.perf_counter(), time.process_time()
    result = stylelib.stylize(content, style, weights=weights, **spec["stylize"])
    image = result.image.numpy()
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    peak = own_peak_rss_mib()
    return {
        "image": spec["image"],
        "shape": list(content.shape[1:3]),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "optimisation_seconds": result.seconds,
        "optimizer": result.preset.optimizer,
        "preset": result.preset.name,
        "scales": [
            {
                "size": list(s["size"]),
                "iterations": s.get("iterations", s.get("steps")),
                "evaluations": s.get("evaluations"),
            }
            for s in result.extra["scales"]
        ],
        "final_loss_recorded": result.final_loss,
        "loss": losses([(content, style, image)], weights)[0],
        "rss_after_import_mib": rss_import,
        "peak_rss_mib": peak,
    }


def train_child(spec: dict) -> dict:
    """Train the network ``spec["steps"]`` steps on generated images; save it (network_file)."""
    import stylelib
    from stylelib import fast

    style = stylelib.sample_image(STYLE_IMAGE, spec["image_size"])
    kwargs = {k: spec[k] for k in ("width", "residual_blocks") if spec[k] is not None}
    start = time.perf_counter()
    result = fast.train(
        style,
        fast.generated_content(spec["image_size"]),
        steps=spec["steps"],
        batch_size=spec["batch_size"],
        image_size=spec["image_size"],
        weights=vgg19_weights(spec["work"])["path"],
        preset=default_preset(),
        quiet=True,
        **kwargs,
    )
    fast.save_network(result.network, spec["network_file"], overwrite=True)
    return {
        "steps": spec["steps"],
        "content": "generated images (fast.generated_content): nothing useful for photographs",
        "batch_size": spec["batch_size"],
        "image_size": spec["image_size"],
        "seconds": time.perf_counter() - start,
        "first_loss": result.history[0].total,
        "final_loss": result.final_loss,
    }


CHILDREN = {"network": network_child, "stylize": stylize_child, "train": train_child}


def in_subprocess(kind: str, spec: dict) -> dict:
    """Run one side in a fresh interpreter; its report is the last line it prints."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the {kind} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def measure(
    config: dict, name: str, count: int, train_steps: int, work: Path, note: str | None = None
) -> dict:
    """Run both sides; return the report (see the module docstring)."""
    chosen = list(CONTENT_IMAGES[:count])
    net = {k: config[k] for k in ("size", "width", "residual_blocks", "repeats", "extra_sizes")}
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "name": name,
        "config": config,
        "command": shlex.join(["python", "benchmarks/feedforward.py", *sys.argv[1:]]),
        "load_average_start": list(os.getloadavg()),
        "style_image": STYLE_IMAGE,
        "stylize_settings": "the library's defaults"
        if not config["stylize"]
        else f"NOT the defaults: {config['stylize']}",
        "network_trained": False,
        "training": None,
        "note": note,
    }
    network_file = None
    if train_steps:
        network_file = str(work / f"ffbench_{name}_{train_steps}.keras")
        spec = {**config["train"], **net, "steps": train_steps, "work": str(work)}
        report["training"] = in_subprocess("train", {**spec, "network_file": network_file})
        report["network_trained"] = True
        print(f"train: {json.dumps(report['training'])}", flush=True)
    spec = {**net, "images": chosen, "work": str(work), "network_file": network_file}
    report["network"] = in_subprocess("network", spec)
    report["machine"] = report["network"].pop("machine")
    report["vgg19_weights"] = report["network"].pop("vgg19_weights")
    print(f"network: {json.dumps(report['network'])}", flush=True)
    report["stylize"] = []
    for image in chosen:
        spec = {"image": image, "size": config["size"], "stylize": config["stylize"]}
        row = in_subprocess("stylize", {**spec, "work": str(work)})
        report["stylize"].append(row)
        print(f"stylize: {json.dumps(row)}", flush=True)
    # From the rounded figures the children report (4 significant digits), to 4 digits too.
    report["ratios"] = [
        float(f"{s['seconds'] / n['seconds']:.4g}")
        for s, n in zip(report["stylize"], report["network"]["images"], strict=True)
    ]
    report["median_ratio"] = statistics.median(report["ratios"])
    report["load_average_end"] = list(os.getloadavg())
    return report


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _scales(row: dict) -> str:
    return " → ".join(f"{max(s['size'])} ({s['iterations']})" for s in row["scales"])


def markdown(report: dict) -> str:
    """The tables of a report, with the lines that say what was measured and how."""
    m, net, config = report["machine"], report["network"], report["config"]
    weights = report["vgg19_weights"]
    trained = report["network_trained"]
    first = report["stylize"][0]
    lines = [f"**{report['note']}**", ""] if report.get("note") else []
    lines += [
        f"Measured {report['date']} on {m['cpu']}, {m['cores']} cores, no GPU, TensorFlow "
        f"{m['tensorflow']} (`{report['command'].strip()}`, "
        f"`benchmarks/results/{report['name']}.json`); load average "
        f"{report['load_average_start'][0]:.1f} at the start, "
        f"{report['load_average_end'][0]:.1f} at the end.",
        "",
        f"- VGG19 weights: {'trained' if weights['trained'] else 'UNTRAINED'} ({weights['note']}).",
        f"- Network: `fast.transformer_network(width={net['architecture']['width']}, "
        f"residual_blocks={net['architecture']['residual_blocks']})`, "
        f"{net['parameters']:,} parameters, "
        + (
            f"trained {report['training']['steps']} steps on generated images "
            f"(loss {report['training']['first_loss']:.4g} → "
            f"{report['training']['final_loss']:.4g})"
            if trained
            else "UNTRAINED (its initial weights: a forward pass takes the same time whatever "
            "the weights' values)"
        )
        + f"; time of one `fast.apply_network` call, median of {config['repeats']} after one "
        "warm-up call at that size.",
        f"- stylize: `stylelib.stylize(content, style, weights=...)`, "
        f"{report['stylize_settings']} ({first['optimizer']}, preset {first['preset']!r}, "
        f"scales {_scales(first)} px (iterations)); wall time from call to return, VGG19 "
        "already loaded.",
        f"- Style image {report['style_image']!r}; each side in its own process; peak RSS is the "
        "process's (TensorFlow included: "
        f"{net['rss_after_import_mib']:.0f} MiB after import).",
        "",
        "| content image | size (W×H) | network | stylize | ratio stylize / network | "
        "ratio of CPU seconds | loss: network output | loss: stylize output | peak RSS network | "
        "peak RSS stylize |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, s, ratio in zip(net["images"], report["stylize"], report["ratios"], strict=True):
        lines.append(
            f"| {n['image']} | {n['shape'][1]}×{n['shape'][0]} | {n['seconds']:.3g} s | "
            f"{s['seconds']:.0f} s | **{ratio:.0f}×** | "
            f"{s['cpu_seconds'] / n['cpu_seconds']:.0f}× | {n['loss']['total']:.4g} | "
            f"{s['loss']['total']:.4g} | {net['peak_rss_mib']:.0f} MiB | "
            f"{s['peak_rss_mib']:.0f} MiB |"
        )
    if len(report["ratios"]) > 1:
        lines.append(
            f"| median | | {statistics.median(n['seconds'] for n in net['images']):.3g} s | "
            f"{statistics.median(s['seconds'] for s in report['stylize']):.0f} s | "
            f"**{report['median_ratio']:.0f}×** | | | | | |"
        )
    lines += [
        "",
        f"Losses: the objective of stylize's default preset ({first['preset']!r}) on each output, "
        "computed the same way for both. "
        + (
            "With untrained VGG19 weights they show the mechanics only. "
            if not weights["trained"]
            else ""
        )
        + (
            "The network is untrained, so its loss is meaningless: it says nothing about what a "
            "trained network reaches."
            if not trained
            else "The network was trained briefly on generated images: its loss says little "
            "about what a fully trained network reaches."
        ),
        "",
        "| network time per image, "
        + report["network"]["images"][0]["image"]
        + " | "
        + " | ".join(
            f"{max(r['shape'])} px ({r['shape'][1]}×{r['shape'][0]})" for r in net["sizes"]
        )
        + " |",
        "|---|" + "---|" * len(net["sizes"]),
        "| wall (median) | " + " | ".join(f"{r['seconds']:.3g} s" for r in net["sizes"]) + " |",
        "| CPU (median) | " + " | ".join(f"{r['cpu_seconds']:.3g} s" for r in net["sizes"]) + " |",
        "",
        "Peak RSS of the network's process over all sizes: "
        f"{net['peak_rss_all_sizes_mib']:.0f} MiB.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", help="one image, stylize steps=40 (not the defaults)"
    )
    mode.add_argument("--smoke", action="store_true", help="toy sizes, for the test")
    parser.add_argument(
        "--images", type=int, metavar="N", help=f"content images, 1 to {len(CONTENT_IMAGES)}"
    )
    parser.add_argument(
        "--train-steps", type=int, default=0, metavar="N", help="train the network first"
    )
    parser.add_argument("--note", help="a line printed in bold above the tables (e.g. the load)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    parser.add_argument("--work", type=Path, default=HERE / "work", help="weights file folder")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="only write the table of an earlier report"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, spec = args.child
        print(json.dumps(bench_run()._rounded(CHILDREN[kind](json.loads(spec))), default=float))
        return 0
    if args.render:
        write_report(json.loads(args.render.read_text()), args.out, render=markdown)
        return 0
    kind = "smoke" if args.smoke else "quick" if args.quick else "full"
    config = CONFIGS[kind]
    count = config["images"] if args.images is None else args.images
    if not 1 <= count <= len(CONTENT_IMAGES):
        parser.error(f"--images must be from 1 to {len(CONTENT_IMAGES)}, got {count}")
    if args.train_steps < 0:
        parser.error(f"--train-steps must be >= 0, got {args.train_steps}")
    name = "feedforward" if kind == "full" else f"feedforward_{kind}"
    report = measure(config, name, count, args.train_steps, args.work, args.note)
    write_report(report, args.out, render=markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
