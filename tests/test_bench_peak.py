"""benchmarks/peak.py keeps working: its smoke configuration runs end to end, each variant in its
own interpreter with its environment, and its count of VGG19's activations matches the model's
own layer outputs. No threshold is checked: the 1024 px figures are make bench's (table c and
benchmarks/results/peak.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylelib._tf import tf

from .conftest import import_benchmark, run_benchmark

peak = import_benchmark("peak")


@pytest.mark.skipif(peak.malloc_reader() is None, reason="benchmarks/peak.py needs glibc (Linux)")
def test_peak_smoke_report_is_complete(tmp_path, monkeypatch):
    """Each variant runs with its own allocator settings and none inherited from the caller."""
    monkeypatch.setenv("MALLOC_ARENA_MAX", "1")  # both removed from every child's environment
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "999999")
    run_benchmark(
        "peak.py",
        "--smoke",
        "--variants",
        "default",
        "mmap",
        "trim",
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
    default, mmap, trim = report["runs"]
    assert [r["variant"] for r in report["runs"]] == ["default", "mmap", "trim"]
    assert default["environment"] == {}
    assert mmap["environment"] == {"MALLOC_MMAP_THRESHOLD_": "131072"}
    assert trim["environment"] == {"PEAK_MALLOC_TRIM": "1"}
    assert trim["malloc_trims"] == trim["callbacks"] >= 1
    assert default["malloc_trims"] == mmap["malloc_trims"] == 0
    for row in report["runs"]:
        assert row["output"] == [96, 82]  # Hopper at 96 px: height, width
        assert 100 < row["rss_after_import_mib"] <= row["peak_rss_mib"]  # TensorFlow: > 100 MiB
        sampled = row["sampled_peak"]
        assert sampled["kept_mib"] < sampled["rss_mib"] <= row["peak_rss_mib"] + 1
        assert np.isfinite(row["final_loss"])
        stages = set(row["stage_peaks_mib"])
        assert {"import", "48 px"} <= stages <= {"import", "load", "48 px", "96 px", "end"}
        assert sampled["stage"] in stages
        assert 0 < row["largest_sample_gap_seconds"] < 60
    for other in (mmap, trim):
        assert other["final_loss"] == pytest.approx(default["final_loss"], rel=1e-5)
    assert "| default | – |" in table
    assert "| mmap | `MALLOC_MMAP_THRESHOLD_=131072` |" in table
    assert "| trim | `PEAK_MALLOC_TRIM=1` |" in table
    assert report["command"].startswith("python benchmarks/peak.py --smoke --variants default")


def test_activation_count_matches_vgg19_layers():
    """activation_mib counts every layer output up to block5_conv2, as Keras's VGG19 makes them."""
    import stylelib

    model = stylelib.load_vgg19("random")
    names = [layer.name for layer in model.layers[1:]]
    layers = names[: names.index("block5_conv2") + 1]
    probe = tf.keras.Model(model.input, [model.get_layer(n).output for n in layers])
    outputs = probe(tf.zeros([1, 70, 53, 3]))
    counted = sum(int(np.prod(o.shape)) for o in outputs) * 4 / 2**20
    assert peak.activation_mib(70, 53) == pytest.approx(counted, rel=1e-12)
