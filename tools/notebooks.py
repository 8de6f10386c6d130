"""Keep the notebooks consistent: navigation cells, clean outputs, execution.

    python tools/notebooks.py nav       # regenerate badge + previous | index | next cells
    python tools/notebooks.py strip     # remove every output except NBVAL_CHECK_OUTPUT cells'
    python tools/notebooks.py execute [NAME ...]  # run in fast mode, keep only checked outputs
    python tools/notebooks.py check     # exit 1 and list problems (what tests/test_notebooks.py runs)

The repository address for the Colab badges is read from pyproject.toml ([project.urls] Repository),
the one place it is kept.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAME_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"
NAV_TAG = "nav"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def repository_url() -> str:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data["project"]["urls"]["Repository"].rstrip("/")


def notebook_paths() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("*.ipynb") if not p.name.startswith("."))


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and NAV_TAG not in cell.metadata.get("tags", []):
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError("no '# Title' heading")


def colab_url(name: str) -> str:
    owner_repo = repository_url().removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{name}"


def nav_source(paths: list[Path], index: int, titles: list[str], top: bool) -> str:
    def link(i: int) -> str:
        return f"[{titles[i]}]({paths[i].name})"

    parts = []
    parts.append(f"← {link(index - 1)}" if index > 0 else "← (start)")
    parts.append(f"[Contents]({paths[0].name})")
    parts.append(f"{link(index + 1)} →" if index + 1 < len(paths) else "(end) →")
    line = " | ".join(parts)
    if top:
        badge = f"[![Open In Colab]({BADGE})]({colab_url(paths[index].name)})"
        return f"{badge}\n\n{line}"
    return line


def _nav_cell(source: str, where: str):
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = [NAV_TAG, where]
    cell.id = f"nav-{where}"
    return cell


def expected_nav(paths: list[Path]) -> dict[Path, tuple[str, str]]:
    notebooks = [nbformat.read(p, as_version=4) for p in paths]
    titles = [title_of(nb) for nb in notebooks]
    return {
        p: (nav_source(paths, i, titles, True), nav_source(paths, i, titles, False))
        for i, p in enumerate(paths)
    }


def _is_nav(cell, where: str) -> bool:
    return where in cell.metadata.get("tags", []) and NAV_TAG in cell.metadata.get("tags", [])


INSTALL_URL = re.compile(r"git\+https://github\.com/[^\"' ]+")


def install_line_ok(source: str) -> bool:
    """The setup cell installs stylelib from the repository named in pyproject.toml."""
    return all(url == f"git+{repository_url()}" for url in INSTALL_URL.findall(source))


def write_nav() -> None:
    paths = notebook_paths()
    for path, (top, bottom) in expected_nav(paths).items():
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if NAV_TAG not in c.metadata.get("tags", [])]
        for cell in cells:
            if cell.cell_type == "code":
                cell.source = INSTALL_URL.sub(f"git+{repository_url()}", cell.source)
        nb.cells = [_nav_cell(top, "top"), *cells, _nav_cell(bottom, "bottom")]
        nbformat.write(nb, path)


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(CHECK_MARKER)


def strip(nb) -> None:
    """Remove outputs except in NBVAL_CHECK_OUTPUT cells; drop volatile metadata."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        if not is_checked(cell):
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)


def execute(path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("STYLELIB_FAST", "1")
    os.environ.setdefault("STYLELIB_VGG19_WEIGHTS", "random")
    NotebookClient(nb, timeout=1200, resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    for i, cell in enumerate(nb.cells):  # warnings and log lines have no place in a lesson
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                print(f"  {path.name} cell {i} wrote to stderr:\n{output['text']}")
    strip(nb)
    count = 0
    for cell in nb.cells:  # renumber the kept cells 1, 2, ... so diffs stay small
        if cell.cell_type == "code" and cell.execution_count is not None:
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = count
    nbformat.write(nb, path)


def problems() -> list[str]:
    found = []
    paths = notebook_paths()
    if not paths:
        return ["no notebooks in notebooks/"]
    if paths[0].name != "00_index.ipynb":
        found.append("the first notebook must be 00_index.ipynb")
    for path in paths:
        if not NAME_PATTERN.match(path.name):
            found.append(f"{path.name}: name must be NN_snake_case.ipynb")
    for path, (top, bottom) in expected_nav(paths).items():
        nb = nbformat.read(path, as_version=4)
        name = path.name
        if not (_is_nav(nb.cells[0], "top") and nb.cells[0].source == top):
            found.append(f"{name}: top navigation cell missing or out of date (run `make nav`)")
        if not (_is_nav(nb.cells[-1], "bottom") and nb.cells[-1].source == bottom):
            found.append(f"{name}: bottom navigation cell missing or out of date (run `make nav`)")
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if not install_line_ok(cell.source):
                found.append(
                    f"{name} cell {i}: install URL differs from pyproject (run `make nav`)"
                )
            if is_checked(cell):
                if not cell.outputs or cell.execution_count is None:
                    found.append(f"{name} cell {i}: NBVAL_CHECK_OUTPUT cell has no stored output")
            elif cell.outputs or cell.execution_count is not None:
                found.append(f"{name} cell {i}: committed with outputs (run `make strip`)")
    return found


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("nav", "strip", "execute", "check"):
        print(__doc__)
        return 2
    command, names = argv[0], argv[1:]
    if command == "nav":
        write_nav()
    elif command == "strip":
        for path in notebook_paths():
            nb = nbformat.read(path, as_version=4)
            strip(nb)
            nbformat.write(nb, path)
    elif command == "execute":
        chosen = [NOTEBOOKS / n for n in names] if names else notebook_paths()
        for path in chosen:
            print(f"executing {path.name}", flush=True)
            execute(path)
    else:
        found = problems()
        for problem in found:
            print(problem)
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
