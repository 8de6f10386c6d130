"""benchmarks/run.py and memory.py keep working: their smoke configurations run end to end in a
subprocess.

The timings and memory figures they print are not checked against targets here (timings depend on
the machine's load, memory at toy sizes says nothing about long runs); what is checked is that the
reference loop and stylelib compute the same objective, and that the reports are complete.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "run.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
_spec = importlib.util.spec_from_file_location("memory", ROOT / "benchmarks" / "memory.py")
memory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(memory)


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--out", str(folder)]
        + ["--work", str(folder / "work")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "STYLELIB_VGG19_WEIGHTS": "random"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((folder / "smoke.json").read_text()), (folder / "smoke.md").read_text()


def test_reference_and_stylelib_compute_the_same_objective(smoke_report):
    report, _ = smoke_report
    assert [r["tv_weight"] for r in report["race"]] == [0.0, 30.0]
    for row in report["race"]:
        assert row["stylelib_loss_of_reference_image"] == pytest.approx(
            row["reference_loss"], rel=1e-3
        )
        assert row["lbfgs_final_loss"] < row["reference_loss"]


def test_report_is_complete(smoke_report):
    report, table = smoke_report
    assert report["machine"]["cores"] >= 1 and report["machine"]["tensorflow"]
    for row in report["step_times"]:
        for key in ("reference_ms", "stylelib_adam_ms", "stylelib_adam_xla_ms"):
            assert row[key] > 0
    (c2f,) = report["coarse_to_fine"]
    assert [max(s["size"]) for s in c2f["scales"]] == [48, 96]
    assert c2f["peak_rss_mb"] > 100  # TensorFlow alone takes more
    for heading in ("a. ms per step", "b. time to the tutorial's", "c. coarse-to-fine"):
        assert heading in table


def test_update_readme_replaces_only_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{bench.MARK_START}\nold\n{bench.MARK_END}\noutro\n")
    bench.update_readme(readme, "| new |\n")
    assert readme.read_text() == f"intro\n{bench.MARK_START}\n| new |\n{bench.MARK_END}\noutro\n"
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(SystemExit, match="markers"):
        bench.update_readme(tmp_path / "plain.md", "x")


def test_memory_smoke_report_is_complete(tmp_path):
    """benchmarks/memory.py --smoke: both runs, their RSS figures finite, the table written.

    Memory figures at toy sizes say nothing about the target, so no threshold is checked here;
    the growth and its verdict are make bench's (benchmarks/results/memory.md).
    """
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "memory.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "STYLELIB_VGG19_WEIGHTS": "random"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
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


def test_resume_quick_report_is_complete(tmp_path):
    """benchmarks/resume.py --quick at toy size: every case measured, every figure finite.

    What resuming L-BFGS costs at toy sizes says nothing about real runs, so no threshold is
    checked; the figures are benchmarks/results/resume.md's.
    """
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "resume.py"), "--quick", "--size", "48"]
        + ["--steps", "9", "--tv-weights", "30", "--fractions", "0.5", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "STYLELIB_VGG19_WEIGHTS": "random"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "resume_quick.json").read_text())
    table = (tmp_path / "resume_quick.md").read_text()
    assert report["complete"] and report["weights"]["trained"] is False
    assert "untrained" in table
    (row,) = report["rows"]
    assert row["steps"] == 9 and row["phases"] == 3
    assert row["stop_check"]["same_state"]
    assert math.isfinite(row["uninterrupted"]["final_loss"])
    cases = {c["case"]: c for c in row["cases"]}
    assert set(cases) == {"resumed at 50 %", "stopped 4 times", "resumed at the phase boundary"}
    for case in cases.values():
        assert case["iterations_run"] == 9, case
        for key in ("final_loss", "loss_ratio", "max_abs_pixel_difference"):
            assert math.isfinite(case[key]), (key, case)
        assert case["evaluations"] >= 9
        assert (case["reached_reference_at"] is None) != (case["extra_iterations"] is not None)
    assert cases["stopped 4 times"]["stops"] == [2, 4, 5, 7]
    assert cases["resumed at the phase boundary"]["stops"] == [3]
    assert [m["case"] for m in report["medians"]] == [c["case"] for c in row["cases"]]
