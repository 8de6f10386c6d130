"""benchmarks/feedforward.py keeps working: its smoke configuration runs end to end.

The smoke run (64 px, a narrow untrained network, 2 L-BFGS iterations, untrained VGG19) says
nothing about speed; what is checked is that the report is complete and consistent: both times
for every image, the ratio computed from them, the weights labelled untrained, the table's
headings and labels. About 25 s of CPU (two subprocesses, each importing TensorFlow).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from .conftest import run_benchmark


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feedforward")
    run_benchmark("feedforward.py", "--smoke", "--out", folder, "--work", folder / "work")
    report = json.loads((folder / "feedforward_smoke.json").read_text())
    return report, (folder / "feedforward_smoke.md").read_text(), folder


def _finite_positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_every_image_has_both_times_and_their_ratio(smoke):
    report, _, _ = smoke
    network, stylize = report["network"]["images"], report["stylize"]
    assert [r["image"] for r in network] == [r["image"] for r in stylize] == ["hopper"]
    for n, s, ratio in zip(network, stylize, report["ratios"], strict=True):
        assert n["shape"] == s["shape"] and max(n["shape"]) == 64
        for value in (n["seconds"], n["cpu_seconds"], s["seconds"], s["cpu_seconds"], ratio):
            assert _finite_positive(value), (n, s, ratio)
        assert len(n["seconds_all"]) == report["config"]["repeats"]
        assert ratio == pytest.approx(s["seconds"] / n["seconds"], rel=1e-3)
        for side in (n, s):
            assert all(math.isfinite(side["loss"][k]) for k in ("total", "content", "style", "tv"))
        # stylize's own record of its final loss and the benchmark's evaluation of its output agree
        assert s["loss"]["total"] == pytest.approx(s["final_loss_recorded"], rel=1e-3)
        assert s["optimizer"] == "lbfgs" and sum(x["iterations"] for x in s["scales"]) == 2
    assert report["median_ratio"] == pytest.approx(report["ratios"][0])
    sizes = [r["size"] for r in report["network"]["sizes"]]
    assert sizes == [48, 64] and all(
        _finite_positive(r["seconds"]) for r in report["network"]["sizes"]
    )


def test_weights_memory_and_machine_recorded(smoke):
    report, _, folder = smoke
    weights = report["vgg19_weights"]
    assert weights["trained"] is False and "mechanics only" in weights["note"]
    assert Path(weights["path"]).parent == folder / "work"
    assert report["network_trained"] is False and report["training"] is None
    assert report["network"]["architecture"] == {"width": 4, "residual_blocks": 1}
    assert report["stylize_settings"].startswith("NOT the defaults")
    for peak in [report["network"]["peak_rss_mib"]] + [
        s["peak_rss_mib"] for s in report["stylize"]
    ]:
        assert 100 < peak < 64 * 1024  # TensorFlow alone takes more than 100 MiB
    assert report["machine"]["cores"] >= 1 and report["machine"]["tensorflow"]


def test_table_has_its_headings_and_labels(smoke):
    _, table, _ = smoke
    assert table.startswith("Measured ")
    for text in (
        "| content image | size (W×H) | network | stylize | ratio stylize / network |",
        "loss: network output | loss: stylize output | peak RSS network | peak RSS stylize |",
        "VGG19 weights: UNTRAINED",
        "UNTRAINED (its initial weights",
        "its loss is meaningless",
        "NOT the defaults",
        "| network time per image, hopper | 48 px",
    ):
        assert text in table, text
