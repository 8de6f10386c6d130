"""pyproject.toml and environment.yml agree, and nothing pins TensorFlow from above (Colab)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

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
    assert "-e .[notebooks,test]" in pip_section
    assert set(PYPROJECT["project"]["optional-dependencies"]) == {"notebooks", "test"}
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
