"""The command line, through a subprocess as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import stylelib

from .conftest import smooth_image


def run_cli(*args, env_extra=None):
    env = {**os.environ, "STYLELIB_VGG19_WEIGHTS": "random", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "stylelib", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    stylelib.save_image(smooth_image(48, 64, 1), folder / "content.png")
    stylelib.save_image(smooth_image(64, 64, 2), folder / "style.jpg")
    return folder


def test_help():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--output", "--max-dim", "--steps", "--optimizer", "--scales", "--seed"):
        assert option in result.stdout


def test_success_writes_the_output_and_says_so(inputs):
    out = inputs / "out" / "result.png"
    result = run_cli(
        inputs / "content.png",
        inputs / "style.jpg",
        "-o",
        out,
        "--max-dim",
        "48",
        "--steps",
        "3",
        "--weights",
        "random",
    )
    assert result.returncode == 0, result.stderr
    assert stylelib.load_image(out, max_dim=None).shape == (1, 36, 48, 3)
    assert "RANDOM (untrained" in result.stderr and "wrote" in result.stderr
    assert "Traceback" not in result.stderr
    # The same command again refuses to replace the file.
    again = run_cli(inputs / "content.png", inputs / "style.jpg", "-o", out, "--steps", "1")
    assert (
        again.returncode == 2 and "already exists" in again.stderr and "--overwrite" in again.stderr
    )


def _assert_clean_failure(result, *words):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("stylelib: error:")
    for word in words:
        assert word in lines[-1]


def test_unreadable_image_is_a_one_line_error(inputs, tmp_path):
    out = tmp_path / "never.png"
    missing = inputs / "missing.png"
    _assert_clean_failure(
        run_cli(missing, inputs / "style.jpg", "-o", out), str(missing), "no such file"
    )
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8 nonsense")
    _assert_clean_failure(run_cli(inputs / "content.png", garbage, "-o", out), str(garbage))
    assert not out.exists()


def test_bad_arguments(inputs, tmp_path):
    content, style = inputs / "content.png", inputs / "style.jpg"
    _assert_clean_failure(run_cli(content, style, "-o", tmp_path / "x.gif"), ".gif")
    _assert_clean_failure(
        run_cli(content, style, "-o", tmp_path / "x.png", "--steps", "-3"), "--steps"
    )
    _assert_clean_failure(
        run_cli(content, style, "-o", tmp_path / "x.png", "--preset", "nope"), "--preset"
    )
    _assert_clean_failure(run_cli(content, style, "-o", content, "--overwrite"), "input")
    _assert_clean_failure(
        run_cli(content, style, "-o", tmp_path / "x.png", "--weights", tmp_path / "no.h5"),
        "no such weights file",
    )
    assert not (tmp_path / "x.png").exists()
    assert np.asarray(stylelib.load_image(content, max_dim=None)).size  # input untouched


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimizer_and_scales(inputs, tmp_path, optimizer):
    out = tmp_path / "multi.png"
    result = run_cli(
        inputs / "content.png",
        inputs / "style.jpg",
        "-o",
        out,
        "--max-dim",
        "64",
        "--optimizer",
        optimizer,
        "--scales",
        "44,64",
        "--scale-steps",
        "2,1",
        "--weights",
        "random",
    )
    assert result.returncode == 0, result.stderr
    assert stylelib.load_image(out, max_dim=None).shape == (1, 48, 64, 3)
    summary = result.stderr.strip().splitlines()[-1]
    assert f"{optimizer}, 3 steps" in summary and summary.endswith(" s")


def test_bad_scales(inputs, tmp_path):
    content, style = inputs / "content.png", inputs / "style.jpg"
    out = tmp_path / "x.png"
    _assert_clean_failure(
        run_cli(content, style, "-o", out, "--max-dim", "64", "--scales", "32,48"), "end at"
    )
    _assert_clean_failure(run_cli(content, style, "-o", out, "--scales", "two"), "--scales")
    _assert_clean_failure(
        run_cli(content, style, "-o", out, "--max-dim", "64", "--scales", "3"), "fewer scales"
    )
    assert not out.exists()
