"""Installing stylelib on Colab changes none of the packages Colab ships (tools/colab_env.py).

The wheel built from this checkout is resolved as Colab's pip would (Python 3.13, manylinux) with
Colab's published pins as constraints: any requirement that excludes a pinned version fails the
test. Needs the package index (metadata only); skipped only when the index cannot be reached.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("colab_env", ROOT / "tools" / "colab_env.py")
colab_env = importlib.util.module_from_spec(_spec)
sys.modules["colab_env"] = colab_env  # dataclasses look their module up by name
_spec.loader.exec_module(colab_env)

FREEZE = """\
# a comment
numpy==2.1.3
ipywidgets==7.7.1
Jupyter_Client==7.4.9
torch==2.11.0+cu128
google-colab @ file:///colabtools/dist/google_colab-1.0.0.tar.gz
"""


@pytest.fixture
def pins(tmp_path):
    path = tmp_path / "freeze.txt"
    path.write_text(FREEZE)
    return colab_env.read_pins(path)


def test_freeze_lines_are_read_with_normalised_names(pins):
    assert set(pins) == {"numpy", "ipywidgets", "jupyter-client", "torch", "google-colab"}
    assert pins["jupyter-client"].version == "7.4.9"
    assert pins["google-colab"].version is None


def test_constraints_leave_out_what_pypi_cannot_install(pins):
    # torch's CUDA build is on PyTorch's own index; google-colab is a file inside Colab's image.
    assert colab_env.constraints(pins) == [
        "numpy==2.1.3",
        "ipywidgets==7.7.1",
        "jupyter-client==7.4.9",
    ]


def test_a_moved_pin_is_reported_and_a_kept_one_is_not(pins):
    installs = {"numpy": "2.1.3", "ipywidgets": "8.1.5", "tqdm": "4.70.0"}
    assert colab_env.check_resolution(installs, pins) == [
        "ipywidgets: 8.1.5 instead of Colab's 7.7.1"
    ]


def test_pins_pypi_cannot_serve_are_still_checked(pins):
    # Same public version as Colab's local CUDA build: pip keeps the installed build.
    assert colab_env.check_resolution({"torch": "2.11.0"}, pins) == []
    assert colab_env.check_resolution({"torch": "2.12.0"}, pins) == [
        "torch: 2.12.0 instead of Colab's 2.11.0+cu128"
    ]
    [problem] = colab_env.check_resolution({"google-colab": "1.0.0"}, pins)
    assert problem.startswith("google-colab: would install 1.0.0 over Colab's")


def test_missing_freeze_names_the_file_and_the_variable(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.txt.*COLAB_FREEZE"):
        colab_env.read_pins(tmp_path / "nowhere.txt")


@pytest.fixture(scope="module")
def colab_pins():
    try:
        return colab_env.read_pins()
    except FileNotFoundError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{error} (a fresh clone beside ../shared has it; CI fails without it)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel built from this checkout, as pip builds it from the setup cell's git URL."""
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check"]
        + ["--quiet", "--wheel-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        if colab_env._OFFLINE.search(done.stdout + done.stderr):
            pytest.skip("package index unreachable: cannot fetch the build backend (setuptools)")
        pytest.fail(f"pip wheel failed:\n{done.stdout}{done.stderr}")
    [path] = out.glob("stylelib-*.whl")
    return path


def _check(wheel_path, pins):
    result = colab_env.check_wheel(wheel_path, pins)
    if result.offline:
        pytest.skip(f"package index unreachable, Colab pins not checked:\n{result.pip_output}")
    return result


def test_installing_the_wheel_on_colab_moves_no_pin(wheel, colab_pins):
    result = _check(wheel, colab_pins)
    assert result.problems == [], "\n".join(result.problems)
    # What the series needs is among what was resolved, at Colab's versions.
    for name in ("tensorflow", "numpy", "ipywidgets", "scipy"):
        assert result.installs[name] == colab_pins[name].version, name


def _with_requirement(wheel_path: Path, requirement: str, out: Path) -> Path:
    """A copy of the wheel whose METADATA requires ``requirement`` instead of its own version
    of that package (``"ipywidgets>=8.0"`` replaces the ``Requires-Dist: ipywidgets...`` line)."""
    name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
    line = re.compile(rf"^Requires-Dist: {re.escape(name)}\b[^;\n]*$", re.MULTILINE)
    target = out / wheel_path.name
    with zipfile.ZipFile(wheel_path) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".dist-info/METADATA"):
                text, count = line.subn(f"Requires-Dist: {requirement}", data.decode())
                assert count == 1, f"no single Requires-Dist line for {name}:\n{data.decode()}"
                data = text.encode()
            dst.writestr(item, data)
    return target


def test_a_floor_above_colabs_version_fails(wheel, colab_pins, tmp_path):
    """The check can fail: the old floor ipywidgets>=8.0 would replace Colab's 7.7.1."""
    bad = _with_requirement(wheel, "ipywidgets>=8.0", tmp_path)
    result = _check(bad, colab_pins)
    assert result.problems, "a wheel requiring ipywidgets>=8.0 passed the Colab check"
    assert "ipywidgets" in result.problems[0], result.problems[0]
