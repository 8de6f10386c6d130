"""benchmarks/peak.py keeps working: its smoke configuration runs end to end, each variant in its
own interpreter with its environment, and its count of VGG19's activations matches the model's
own layer outputs. No threshold is checked: the 1024 px figures are make bench's table c and
benchmarks/results/peak.md."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylelib._tf import tf

from .conftest import import_benchmark, run_benchmark

peak = import_benchmark("peak")


def test_peak_smoke_report_is_complete(tmp_path):
    run_benchmark(
        "peak.py",
        "--smoke",
        "--variants",
        "default",
        "mmap",
        "--jobs",
        "2",
        "--out",
        tmp_path,
        "--work",
        tmp_path / "work",
        timeout=300,
    )
    report = json.loads((tmp_path / "peak_smoke.json").read_text())
    table = (tmp_path / "peak_smoke.md").read_text()
    default, mmap = report["runs"]
    assert (default["variant"], mmap["variant"]) == ("default", "mmap")
    assert default["environment"] == {}
    assert mmap["environment"] == {"MALLOC_MMAP_THRESHOLD_": "131072"}
    for row in report["runs"]:
        assert row["output"] == [96, 82]  # Hopper at 96 px: height, width
        assert 100 < row["rss_after_import_mib"] <= row["peak_rss_mib"]  # TensorFlow: > 100 MiB
        sampled = row["sampled_peak"]
        assert sampled["stage"] in ("import", "load", "48 px", "96 px", "end")
        assert 0 <= sampled["kept_mib"] < sampled["rss_mib"] <= row["peak_rss_mib"] + 1
        assert np.isfinite(row["final_loss"])
        assert set(row["stage_peaks_mib"]) >= {"import", "48 px", "96 px"}
    assert default["final_loss"] == pytest.approx(mmap["final_loss"], rel=1e-5)
    assert "| mmap | `MALLOC_MMAP_THRESHOLD_=131072` |" in table


def test_activation_count_matches_vgg19_layers():
    """activation_mib counts every layer output up to block5_conv1, as Keras's VGG19 makes them."""
    import stylelib

    model = stylelib.load_vgg19("random")
    names = [layer.name for layer in model.layers[1:]]
    layers = names[: names.index("block5_conv1") + 1]
    probe = tf.keras.Model(model.input, [model.get_layer(n).output for n in layers])
    outputs = probe(tf.zeros([1, 70, 53, 3]))
    counted = sum(int(np.prod(o.shape)) for o in outputs) * 4 / 2**20
    assert peak.activation_mib(70, 53) == pytest.approx(counted, rel=1e-12)
