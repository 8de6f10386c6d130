"""benchmarks/resume.py keeps working: its quick configuration runs end to end at a toy size."""

from __future__ import annotations

import json
import math

from .conftest import run_benchmark


def test_resume_quick_report_is_complete(tmp_path):
    """benchmarks/resume.py --quick at toy size: every case measured, every figure finite.

    What resuming L-BFGS costs at toy sizes says nothing about real runs, so no threshold is
    checked; the figures are benchmarks/results/resume.md's.
    """
    options = ["--quick", "--size", "48", "--steps", "9", "--tv-weights", "30"]
    run_benchmark("resume.py", *options, "--fractions", "0.5", "--out", tmp_path, timeout=300)
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
