"""Check stylelib against Colab's pinned packages: nothing Colab ships may change when it installs.

Colab's runtime comes with its own TensorFlow (a CUDA build), NumPy, ipywidgets 7 and hundreds of
other packages. The notebooks' setup cell runs ``%pip install "stylelib @ git+..."`` there; if any
requirement of stylelib excluded a version Colab ships, pip would replace that package (and
ipywidgets 8 does not work in Colab's front end). The published package list is
``../shared/colab/pip-freeze.gpu.txt`` beside the repository (``COLAB_FREEZE`` overrides it).

    python tools/colab_env.py constraints [-o FILE]   # the pins pip can install, as a constraints file
    python tools/colab_env.py series                  # Colab's pins of the packages the series uses
    python tools/colab_env.py python                  # a Python 3.13 on this machine, else this one
    python tools/colab_env.py check-installed         # `pip freeze` of this environment vs the pins
    python tools/colab_env.py check-wheel WHEEL       # resolve WHEEL for Python 3.13 / manylinux

``check-wheel`` runs ``pip install --dry-run`` for Colab's Python and platform with the pins as
constraints (pip fetches metadata only, no TensorFlow download) and exits 1 if any pinned package
would be installed at another version, 3 if the package index cannot be reached.
Used by tests/test_colab_pins.py (``make test``) and ``make test-colab``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FREEZE = ROOT.parent / "shared" / "colab" / "pip-freeze.gpu.txt"
FREEZE_ENV = "COLAB_FREEZE"

#: Colab's Python, and platform tags its pip accepts (Ubuntu 22.04: glibc 2.35).
COLAB_PYTHON = "3.13"
COLAB_PLATFORMS = tuple(f"manylinux_2_{minor}_x86_64" for minor in (35, 34, 31, 28, 27, 24, 17)) + (
    "manylinux2014_x86_64",
    "linux_x86_64",
)

#: What the series imports or runs on Colab, besides stylelib itself: `make test-colab` installs
#: Colab's versions of these (and, through the constraints, of everything they need).
SERIES_PACKAGES = (
    "tensorflow",
    "keras",
    "numpy",
    "scipy",
    "pillow",
    "matplotlib",
    "ipywidgets",
    "widgetsnbextension",
    "jupyterlab-widgets",
    "ipython",
    "ipykernel",
    "jupyter-client",
    "tqdm",
    "threadpoolctl",
)

#: Exit status of check-wheel when pip could not reach the package index.
EXIT_OFFLINE = 3
_OFFLINE = re.compile(
    r"Failed to establish a new connection|Could not fetch URL|NewConnectionError|"
    r"Temporary failure in name resolution|Network is unreachable|ConnectTimeout|ProxyError"
)
_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(==|@)\s*(\S+)")


def normalise(name: str) -> str:
    """PEP 503 name: ``Jupyter_Client`` -> ``jupyter-client``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One line of the freeze: ``name==version`` or ``name @ url`` (version None)."""

    name: str
    version: str | None
    line: str

    @property
    def installable(self) -> bool:
        """A plain public version that PyPI serves (not ``+cu128`` builds, not ``@ file://``)."""
        return self.version is not None and "+" not in self.version

    @property
    def public_version(self) -> str | None:
        """The version without its local part: ``2.11.0+cu128`` -> ``2.11.0``."""
        return None if self.version is None else self.version.split("+")[0]


def freeze_path() -> Path:
    """Where Colab's package list is: ``$COLAB_FREEZE`` or ../shared/colab/pip-freeze.gpu.txt."""
    return Path(os.environ.get(FREEZE_ENV) or DEFAULT_FREEZE)


def read_pins(path: Path | None = None) -> dict[str, Pin]:
    """Colab's pins by normalised name, from a ``pip freeze`` listing.

    Raises FileNotFoundError naming the file and the variable to set when it is missing.
    """
    path = Path(path) if path is not None else freeze_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"Colab's package list {path} is missing; set {FREEZE_ENV} to a `pip freeze` listing"
        )
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        match = _LINE.match(line)
        if not match or line.startswith("#"):
            continue
        name, op, rest = match.groups()
        pins[normalise(name)] = Pin(normalise(name), rest if op == "==" else None, line)
    if not pins:
        raise ValueError(f"{path}: no `name==version` lines: is it a `pip freeze` listing?")
    return pins


def constraints(pins: dict[str, Pin]) -> list[str]:
    """``name==version`` for every pin pip can install from PyPI; the others are left out.

    Left out: local builds (``torch==2.11.0+cu128``, only on PyTorch's index) and ``name @ url``
    lines (files inside Colab's image). ``check_resolution`` still compares against them.
    """
    return [f"{p.name}=={p.version}" for p in pins.values() if p.installable]


def check_resolution(installs: dict[str, str], pins: dict[str, Pin]) -> list[str]:
    """What would change on Colab, one message per package: [] when nothing pinned moves.

    ``installs`` maps normalised names to the versions pip resolved (or `pip freeze` shows).
    A local build pin counts as kept when the public versions agree (pip keeps the installed
    build then); a ``name @ url`` pin counts as changed whenever pip would install the name.
    """
    problems = []
    for name, version in sorted(installs.items()):
        pin = pins.get(normalise(name))
        if pin is None:
            continue
        if pin.version is None:
            problems.append(f"{name}: would install {version} over Colab's {pin.line!r}")
        elif version.split("+")[0] != pin.public_version:
            problems.append(f"{name}: {version} instead of Colab's {pin.version}")
    return problems


def report_installs(report: dict) -> dict[str, str]:
    """Normalised name -> version of everything in a ``pip install --report`` JSON document."""
    return {
        normalise(item["metadata"]["name"]): item["metadata"]["version"]
        for item in report.get("install", [])
    }


def python313() -> str | None:
    """A Python 3.13 interpreter with pip on this machine (``$COLAB_PYTHON_EXE``, PATH, pyenv), or None.

    pip evaluates environment markers (``python_version < "3.12"``) for the interpreter it runs
    in, whatever ``--python-version`` says, so Colab's resolution is exact only when run by 3.13.
    """
    candidates = [os.environ.get("COLAB_PYTHON_EXE"), shutil.which(f"python{COLAB_PYTHON}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(map(str, pyenv.glob(f"{COLAB_PYTHON}*/bin/python{COLAB_PYTHON}")))
    for exe in filter(None, candidates):
        probe = subprocess.run(
            [exe, "-c", "import sys, pip; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(
            tuple(map(int, COLAB_PYTHON.split(".")))
        ):
            return exe
    return None


def dry_run_command(
    wheel: Path, constraints_file: Path, report: Path, target: Path, python: str = sys.executable
) -> list[str]:
    """``pip install --dry-run`` of ``wheel`` as Colab's Python 3.13 on manylinux would resolve it."""
    command = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    # Range requests read each wheel's metadata without downloading it: this index offers no
    # separate metadata files (PEP 658), and TensorFlow's wheel is 620 MB.
    command += ["--use-feature=fast-deps"]
    command += ["--disable-pip-version-check", "--report", str(report)]
    command += ["--python-version", COLAB_PYTHON, "--implementation", "cp", "--abi", "cp313"]
    for platform in COLAB_PLATFORMS:
        command += ["--platform", platform]
    command += ["--only-binary=:all:", "--target", str(target)]
    command += ["-c", str(constraints_file), str(wheel)]
    return command


@dataclass(frozen=True)
class WheelCheck:
    """Outcome of ``check_wheel``: ``problems`` is [] when nothing Colab pins would change."""

    offline: bool
    problems: list[str]
    installs: dict[str, str]
    pip_output: str
    python: str


def pip_explanation(output: str) -> str:
    """pip's own account of a failed resolution, without its progress and index warnings."""
    noise = ("Collecting ", "Downloading ", "Obtaining ", "Processing ", "WARNING: Location ")
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith(noise)]
    return "\n".join(line for line in lines if not line.startswith("  Using cached"))


def check_wheel(
    wheel: Path, pins: dict[str, Pin], python: str | None = None, timeout: float = 600
) -> WheelCheck:
    """Resolve ``wheel`` with Colab's pins as constraints; list the pins that would change.

    A resolution failure (a requirement excludes a pinned version) is itself a problem, reported
    with pip's explanation. ``offline`` is True when pip could not reach the package index.
    pip runs in ``python`` (default: this interpreter). pip evaluates environment markers for the
    interpreter it runs in, whatever ``--python-version`` says, so a dependency with a marker such
    as ``python_version < "3.12"`` is resolved as for that Python (``make test-colab`` installs
    into a real Python 3.13 where one is found). A Python 3.13 with pip older than 25 would not
    do: it downloads every wheel in full in a dry run.
    """
    python = python or sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "colab-constraints.txt").write_text("\n".join(constraints(pins)) + "\n")
        command = dry_run_command(
            Path(wheel), tmp / "colab-constraints.txt", tmp / "report.json", tmp / "target", python
        )
        env = {**os.environ, "PIP_NO_INPUT": "1"}
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        output = done.stdout + done.stderr
        if done.returncode != 0:
            if _OFFLINE.search(output):
                return WheelCheck(True, [], {}, output, python)
            problem = f"pip cannot install {Path(wheel).name} beside Colab's pins:\n"
            return WheelCheck(False, [problem + pip_explanation(output)], {}, output, python)
        installs = report_installs(json.loads((tmp / "report.json").read_text()))
    return WheelCheck(False, check_resolution(installs, pins), installs, output, python)


def installed_versions(python: str = sys.executable) -> dict[str, str]:
    """Normalised name -> version of what ``python -m pip freeze`` lists (editable/URL lines: skipped)."""
    out = subprocess.run(
        [python, "-m", "pip", "freeze", "--all", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        match = _LINE.match(line.strip())
        if match and match.group(2) == "==":
            found[normalise(match.group(1))] = match.group(3)
    return found


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--freeze",
        type=Path,
        help=f"pip freeze listing (default: ${FREEZE_ENV} or {DEFAULT_FREEZE})",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    out = sub.add_parser("constraints", help="write the installable pins as a constraints file")
    out.add_argument("-o", "--output", type=Path)
    sub.add_parser("series", help="print Colab's name==version of the packages the series uses")
    sub.add_parser("python", help="print a Python 3.13 to build Colab's environment with")
    inst = sub.add_parser("check-installed", help="compare `pip freeze` with the pins")
    inst.add_argument(
        "--python", default=sys.executable, help="interpreter whose packages to check"
    )
    wheel = sub.add_parser("check-wheel", help="dry-run resolve a wheel for Colab's Python")
    wheel.add_argument("wheel", type=Path)
    args = parser.parse_args(argv)

    if args.command == "python":
        found = python313()
        if found is None:
            print(
                f"colab_env: no Python {COLAB_PYTHON} with pip found; using {sys.executable} "
                f"(Python {sys.version_info.major}.{sys.version_info.minor}), not Colab's",
                file=sys.stderr,
            )
        print(found or sys.executable)
        return 0
    try:
        pins = read_pins(args.freeze)
    except (FileNotFoundError, ValueError) as error:
        print(f"colab_env: {error}", file=sys.stderr)
        return 2
    if args.command == "constraints":
        text = "\n".join(constraints(pins)) + "\n"
        if args.output:
            args.output.write_text(text)
        else:
            sys.stdout.write(text)
    elif args.command == "series":
        missing = [name for name in SERIES_PACKAGES if name not in pins]
        if missing:
            print(f"colab_env: not in Colab's list: {', '.join(missing)}", file=sys.stderr)
            return 2
        print("\n".join(f"{name}=={pins[name].version}" for name in SERIES_PACKAGES))
    elif args.command == "check-installed":
        problems = check_resolution(installed_versions(args.python), pins)
        if problems:
            print(
                "Installing changed packages that Colab pins:",
                *problems,
                sep="\n  ",
                file=sys.stderr,
            )
            return 1
        print("check-installed: every installed package that Colab pins is at Colab's version")
    else:
        result = check_wheel(args.wheel, pins)
        if result.offline:
            print(f"colab_env: package index unreachable:\n{result.pip_output}", file=sys.stderr)
            return EXIT_OFFLINE
        if result.problems:
            print(
                "Installing on Colab would change:", *result.problems, sep="\n  ", file=sys.stderr
            )
            return 1
        print(
            f"check-wheel: {len(result.installs)} packages resolved for Python {COLAB_PYTHON} "
            f"(pip run by {result.python}); none of Colab's pins changes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(_main())
