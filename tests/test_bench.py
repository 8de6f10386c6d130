"""benchmarks/run.py keeps working: its smoke configuration runs end to end in a subprocess
(memory.py and resume.py: tests/test_bench_memory.py and test_bench_resume.py, separate files so
that make test's two processes can run them at the same time).

The timings and memory figures they print are not checked against targets here (timings depend on
the machine's load, memory at toy sizes says nothing about long runs); what is checked is that the
reference loop and stylelib compute the same objective, and that the reports are complete.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from .conftest import run_benchmark

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "run.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    run_benchmark("run.py", "--smoke", "--out", folder, "--work", folder / "work")
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
