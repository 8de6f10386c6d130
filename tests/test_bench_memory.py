"""benchmarks/memory.py keeps working: its smoke configuration runs end to end in a subprocess,
and its figures are computed as documented. No threshold is checked: memory at toy sizes says
nothing about long runs (make bench does)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from .conftest import run_benchmark

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("memory", ROOT / "benchmarks" / "memory.py")
memory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(memory)


def test_memory_smoke_report_is_complete(tmp_path):
    """benchmarks/memory.py --smoke: both runs, their RSS figures finite, the table written.

    Memory figures at toy sizes say nothing about the target, so no threshold is checked here;
    the growth and its verdict are make bench's (benchmarks/results/memory.md).
    """
    run_benchmark("memory.py", "--smoke", "--out", tmp_path, timeout=300)
    report = json.loads((tmp_path / "memory_smoke.json").read_text())
    table = (tmp_path / "memory_smoke.md").read_text()
    assert report["machine"]["tensorflow"] and report["reference_step"] == 10
    assert [r["run"] for r in report["runs"]] == ["adam", "lbfgs"]
    for row in report["runs"]:
        assert row["rss_source"] in ("/proc/self/statm", "psutil")
        assert row["rss_available"] and row["history_plain_numbers"]
        assert row["weights_trained"] is False
        for key in ("rss_at_reference_mib", "rss_at_end_mib", "peak_rss_mib"):
            assert 100 < row[key] < 1e6, (key, row[key])  # TensorFlow alone takes more than 100
        for key in ("growth_mib", "growth_mb", "largest_rise_mib", "slope_mib_per_1000_steps"):
            assert math.isfinite(row[key]), (key, row[key])
        assert row["reference_step"] >= 10 and row["verdict"] in ("pass", "FAIL")
        assert row["samples"][-1][0] == row["steps"]
        assert row["peak_rss_mib"] >= row["rss_at_end_mib"]
        assert row["verdict"] in table
    lbfgs = report["runs"][1]
    assert [max(s["size"]) for s in lbfgs["scales"]] == [48, 96]
    assert lbfgs["reference_scale"] == 1  # step 10 lies in the final scale, as planned
    assert len(lbfgs["rss_at_end_of_scale_mib"]) == 2
    assert "RSS at step 10" in table and "47.7 MiB" in table


def test_memory_figures_from_samples():
    """Growth is end minus the first sample at or after the reference step; a rise that falls
    back before the end still fails the target; the slope of a flat series is 0."""
    scales = [{"size": [48, 41]}, {"size": [96, 82]}]
    # samples: step, scale, seconds, RSS MiB, Python objects
    rising = [[5, 0, 1.0, 700.0, 10], [10, 1, 2.0, 800.0, 10], [15, 1, 3.0, 860.0, 10]]
    rising.append([20, 1, 4.0, 810.0, 11])
    row = memory.summarise({"scales": scales, "samples": rising}, reference_step=8)
    assert (row["reference_step"], row["reference_scale"], row["reference_size"]) == (
        10,
        1,
        [96, 82],
    )
    assert row["growth_mib"] == pytest.approx(10.0) and row["largest_rise_mib"] == pytest.approx(60)
    assert row["verdict"] == "FAIL"  # 60 MiB above step 10's RSS at step 15
    assert row["rss_at_end_of_scale_mib"] == [700.0, 810.0]
    flat = [[k, 0, k, 900.0, 10] for k in range(0, 200, 10)]
    row = memory.summarise({"scales": scales[:1], "samples": flat}, reference_step=100)
    assert row["slope_mib_per_1000_steps"] == 0 and row["verdict"] == "pass"
    assert row["growth_mb"] == 0
