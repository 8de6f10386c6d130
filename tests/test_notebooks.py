"""The notebooks are committed clean, with current navigation, and follow the series' shape."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("nbtools", ROOT / "tools" / "notebooks.py")
nbtools = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbtools)
PATHS = nbtools.notebook_paths()


def test_notebooks_are_clean_and_navigation_is_current():
    assert nbtools.problems() == []


def test_series_is_numbered_in_order():
    numbers = [int(p.name[:2]) for p in PATHS]
    assert numbers == list(range(len(PATHS))) and len(PATHS) >= 7


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_shape(path):
    nb = nbformat.read(path, as_version=4)
    assert nbtools.colab_url(path.name) in nb.cells[0].source
    assert nb.cells[1].cell_type == "markdown" and nb.cells[1].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup = [c for c in code if "setup_notice(" in c.source]
    assert len(setup) == 1 and code[0] is setup[0], "one setup cell, the first code cell"
    assert "google.colab" in setup[0].source and "STYLELIB_FAST" in setup[0].source
    headings = [
        line
        for c in nb.cells
        if c.cell_type == "markdown"
        for line in c.source.splitlines()
        if line.startswith("## ")
    ]
    if path.name != "00_index.ipynb":
        assert "## Summary" in headings and "## Exercises" in headings, headings
        assert "## Solutions" in headings, headings
    for c in code:  # nbval markers only work as the exact first line
        for line in c.source.splitlines()[1:]:
            assert not re.match(r"#\s*NBVAL_", line), f"marker not on the first line: {line}"


def test_links_between_notebooks_resolve():
    names = {p.name for p in PATHS}
    for path in PATHS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for target in re.findall(r"\]\(([0-9]{2}_[a-z0-9_]+\.ipynb)\)", cell.source):
                    assert target in names, f"{path.name} links to missing {target}"
