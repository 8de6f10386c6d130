"""Shared fixtures. Tests run offline: they use untrained ("random") VGG19 weights only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stylelib


@pytest.fixture(autouse=True)
def _no_weights_env(monkeypatch):
    """Each test states the weights it wants; the test command's environment must not leak in."""
    monkeypatch.delenv(stylelib.WEIGHTS_ENV, raising=False)


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """A deterministic float32 [H, W, 3] image in [0, 1]: colour gradients plus stripes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    freq = rng.uniform(0.05, 0.3, size=3)
    phase = rng.uniform(0, np.pi, size=3)
    channels = [
        0.5 + 0.5 * np.sin(freq[c] * (x * np.cos(phase[c]) + y * np.sin(phase[c])) + phase[c])
        for c in range(3)
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


@pytest.fixture(scope="session")
def content_image():
    return stylelib.load_image(smooth_image(48, 64, seed=1), max_dim=64)


@pytest.fixture(scope="session")
def style_image():
    return stylelib.load_image(smooth_image(60, 60, seed=2), max_dim=64)


def run_benchmark(script: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run benchmarks/SCRIPT with ``args`` in a new interpreter with untrained weights; fail with
    the end of its stderr unless it exits 0 (the smoke tests of the benchmark scripts). Returns
    the finished process (its ``stdout`` as text)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / script
    done = subprocess.run(
        [sys.executable, str(path), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "STYLELIB_VGG19_WEIGHTS": "random"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def import_benchmark(name: str):
    """The module benchmarks/NAME.py, imported as the benchmarks import each other (by name)."""
    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, folder)
    try:
        return __import__(name)
    finally:
        sys.path.remove(folder)
