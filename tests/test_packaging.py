"""pyproject.toml and environment.yml agree, nothing pins TensorFlow from above (Colab), and the
Makefile's targets say what they do (`make lab` as root, `make test-full`, CI's order)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ENVIRONMENT = yaml.safe_load((ROOT / "environment.yml").read_text())
REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")


def _requirements():
    project = PYPROJECT["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return reqs


def _name(req: str) -> str:
    return REQ.match(req).group(1).lower().replace("_", "-")


def test_runtime_dependencies_have_lower_bounds_only():
    for req in PYPROJECT["project"]["dependencies"]:
        spec = REQ.match(req.split(";")[0]).group(2)
        assert spec.startswith(">="), req
        assert "<" not in spec and "==" not in spec and "~=" not in spec, req
    assert any(_name(r) == "tensorflow" for r in PYPROJECT["project"]["dependencies"])


def test_environment_yml_agrees_with_pyproject():
    deps = ENVIRONMENT["dependencies"]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    # The same extras as `make lab` / `make test` install (the Makefile's .venv stamp rule).
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    extras = re.search(r'pip install \$\(PIP_QUIET\) -e "\.\[([a-z,]+)\]"', makefile).group(1)
    assert f"-e .[{extras}]" in pip_section
    # studio and browser (Voilà, Playwright) are for `make studio` and the browser test only.
    assert set(PYPROJECT["project"]["optional-dependencies"]) == {
        "notebooks",
        "test",
        "studio",
        "browser",
    }
    ours = {_name(r): REQ.match(r.split(";")[0]).group(2) for r in _requirements()}
    conda = [d for d in deps if isinstance(d, str)]
    python = next(d for d in conda if d.startswith("python"))
    assert python.replace("python", "") == PYPROJECT["project"]["requires-python"]
    for dep in conda:
        name, spec = REQ.match(dep).groups()
        if name in ("python", "pip"):
            continue
        # Anything conda installs itself must be a package pyproject asks for, with no other pin.
        assert name.lower() in ours, f"{name} is in environment.yml but not in pyproject.toml"
        assert spec in ("", ours[name.lower()]), f"{name}: {spec!r} vs {ours[name.lower()]!r}"


def test_console_script_points_at_main():
    assert PYPROJECT["project"]["scripts"]["stylelib"] == "stylelib.cli:main"


def test_python_range_is_what_tensorflow_has_wheels_for():
    """TensorFlow 2.16-2.21 publish wheels for CPython 3.10-3.13 only; Colab runs 3.13."""
    allowed = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert [v for v in ("3.9", "3.10", "3.13", "3.14") if allowed.contains(f"{v}.0")] == [
        "3.10",
        "3.13",
    ]


def test_files_named_in_pyproject_exist():
    for path in re.findall(
        r"\b(?:tools|tests)/[\w/]+\.py\b", (ROOT / "pyproject.toml").read_text()
    ):
        assert (ROOT / path).is_file(), f"pyproject.toml names {path}, which does not exist"


def _dry_run(target: str, *assignments: str) -> str:
    """What `make -n TARGET` would run (nothing is run), with the given variable assignments."""
    done = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, *assignments],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_make_lab_allows_root_only_for_root():
    """Jupyter refuses root without --allow-root; Colab, Docker and cloud shells run as root."""
    assert "jupyter lab --allow-root" in _dry_run("lab", "USER_ID=0")
    as_user = _dry_run("lab", "USER_ID=1000")
    assert "jupyter lab" in as_user and "--allow-root" not in as_user
    assert "Ctrl-C" in as_user  # and it says how to stop it


def test_make_test_full_runs_the_notebooks_without_fast_mode():
    [line] = [ln for ln in _dry_run("test-full").splitlines() if "pytest" in ln]
    assert "env -u STYLELIB_FAST" in line and "STYLELIB_FAST=1" not in line, line
    assert "STYLELIB_VGG19_WEIGHTS=random" in line and "notebooks --nbval-lax" in line, line


def test_ci_runs_the_tests_then_the_colab_environment():
    steps = re.findall(r"^\s*(?:exec )?make ([\w-]+)", (ROOT / ".ci/run").read_text(), re.M)
    assert steps[:2] == ["test", "test-colab"], steps
