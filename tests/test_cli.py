"""The command line: through a subprocess as a user runs it, and in this process (main(argv)) for
the errors that need no run."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

import stylelib
import stylelib.cli
import stylelib.optimize

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


def test_success_writes_the_output_and_says_so(capsys, inputs):
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
    # The same command again refuses to replace the file (in this process: no second import).
    _assert_clean_failure(
        capsys,
        [inputs / "content.png", inputs / "style.jpg", "-o", out, "--steps", "1"],
        "already exists",
        "--overwrite",
    )


def run_main(capsys, *args) -> tuple[int, list[str]]:
    """The command in this process (fast: no new TensorFlow import): exit code, stderr lines."""
    code = stylelib.cli.main([str(a) for a in args])
    return code, capsys.readouterr().err.strip().splitlines()


def _assert_clean_failure(capsys, args, *words):
    """The command, in this process (the subprocess tests above cover the entry point), exits 2
    with a last stderr line "stylelib: error: ..." holding ``words``, and raises nothing."""
    code, lines = run_main(capsys, *args)
    assert code == 2, lines
    assert lines[-1].startswith("stylelib: error:"), lines
    for word in words:
        assert word in lines[-1]


def test_unreadable_image_is_a_one_line_error(capsys, inputs, tmp_path):
    out = tmp_path / "never.png"
    missing = inputs / "missing.png"
    _assert_clean_failure(
        capsys, [missing, inputs / "style.jpg", "-o", out], str(missing), "no such file"
    )
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8 nonsense")
    _assert_clean_failure(capsys, [inputs / "content.png", garbage, "-o", out], str(garbage))
    assert not out.exists()


def test_bad_arguments(capsys, inputs, tmp_path):
    content, style = inputs / "content.png", inputs / "style.jpg"
    x = tmp_path / "x.png"
    _assert_clean_failure(capsys, [content, style, "-o", tmp_path / "x.gif"], ".gif")
    _assert_clean_failure(capsys, [content, style, "-o", x, "--steps", "-3"], "--steps")
    _assert_clean_failure(capsys, [content, style, "-o", x, "--preset", "nope"], "--preset")
    _assert_clean_failure(capsys, [content, style, "-o", content, "--overwrite"], "input")
    _assert_clean_failure(
        capsys,
        [content, style, "-o", x, "--weights", tmp_path / "no.h5"],
        "no such weights file",
    )
    assert not x.exists()
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


def test_bad_scales(capsys, inputs, tmp_path):
    content, style = inputs / "content.png", inputs / "style.jpg"
    out = tmp_path / "x.png"
    _assert_clean_failure(
        capsys, [content, style, "-o", out, "--max-dim", "64", "--scales", "32,48"], "end at"
    )
    _assert_clean_failure(capsys, [content, style, "-o", out, "--scales", "two"], "--scales")
    _assert_clean_failure(
        capsys, [content, style, "-o", out, "--max-dim", "64", "--scales", "3"], "fewer scales"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("--max-dim", "10", ["must be at least 32 px", "VGG19 halves the image 4 times", "got 10"]),
        ("--max-dim", "big", ["expected a whole number", "'big'"]),
        ("--style-max-dim", "16", ["must be at least 32 px", "got 16"]),
        ("--steps", "0", ["must be at least 1", "got 0"]),
        ("--steps", "1e3", ["expected a whole number", "'1e3'"]),
        ("--scales", "two", ["comma-separated sizes in px", "'two'"]),
        ("--scales", "0", ["at least 1"]),
        ("--scale-steps", "x", ["a number of steps", "'x'"]),
        ("--scale-steps", "5,-1", ["at least 0"]),
        ("--learning-rate", "0", ["> 0", "got 0.0"]),
        ("--learning-rate", "nan", ["finite"]),
        ("--learning-rate", "1e13", ["at most 1e+12"]),
        ("--content-weight", "inf", ["finite"]),
        ("--content-weight", "ten", ["expected a number", "'ten'"]),
        ("--style-weight", "1e40", ["at most 1e+12", "got 1e+40", "overflow float32"]),
        ("--tv-weight", "-1", [">= 0", "got -1.0"]),
        ("--seed", "x", ["expected a whole number"]),
        ("--seed", str(2**63), ["64 bits", str(2**63)]),
        ("--save-every", "0", ["at least 1"]),
        ("--preset", "nope", ["invalid choice: 'nope'"]),
        ("--optimizer", "sgd", ["invalid choice: 'sgd'"]),
    ],
)
def test_each_bad_option_is_one_line_naming_its_flag(
    capsys, inputs, tmp_path, option, value, words
):
    out = tmp_path / "never.png"
    code, lines = run_main(
        capsys, inputs / "content.png", inputs / "style.jpg", "-o", out, option, value
    )
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"stylelib: error: {option}: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    keyword = option[2:].replace("-", "_")  # the flag, never the library's keyword (max_dim)
    assert ("_" not in keyword or keyword not in lines[0]) and "Warning" not in lines[0]
    assert str(inputs) not in lines[0]  # the images are not blamed
    assert not out.exists()


def test_style_weight_1e40_is_one_line_and_exit_2_without_warnings(inputs, tmp_path):
    # As a user runs it: before, NumPy printed a RuntimeWarning with a site-packages path, then
    # "the loss became nan at step 0" after the network had been built.
    result = run_cli(
        inputs / "content.png",
        inputs / "style.jpg",
        "-o",
        tmp_path / "o.png",
        "--style-weight",
        "1e40",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[-1]] and lines[0].startswith("stylelib: error: --style-weight: "), lines
    assert "Warning" not in result.stderr and "site-packages" not in result.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    "args, start, words",
    [
        (["--max-dim", "64", "--scales", "32,48"], "--scales: must increase", ["end at", "64 px"]),
        (["--max-dim", "64", "--scales", "3"], "--scales: the coarsest scale", ["fewer scales"]),
        (["--max-dim", "128", "--scales", "2", "--scale-steps", "1,2,3"], "--scale-steps:", ["(2"]),
    ],
)
def test_scale_options_are_checked_against_the_image_before_any_work(
    capsys, inputs, tmp_path, args, start, words
):
    out = tmp_path / "never.png"
    code, lines = run_main(
        capsys,
        inputs / "content.png",
        inputs / "style.jpg",
        "-o",
        out,
        "--weights",
        "random",
        *args,
    )
    assert code == 2 and len(lines) == 1, lines  # not even the weights line: nothing was run
    assert lines[0].startswith(f"stylelib: error: {start}"), lines[0]
    for word in words:
        assert word in lines[0]


def test_value_errors_from_stylize_name_the_flag(capsys, inputs, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise ValueError("scale_steps must give one count >= 0 per scale (3), got [1, 2]")

    monkeypatch.setattr(stylelib.optimize, "stylize", refuse)
    code, lines = run_main(
        capsys, inputs / "content.png", inputs / "style.jpg", "-o", tmp_path / "o.png", "-q"
    )
    assert code == 2 and lines == [
        "stylelib: error: --scale-steps: must give one count >= 0 per scale (3), got [1, 2]"
    ]


def test_every_stylize_keyword_the_command_sets_maps_to_a_real_flag():
    import inspect

    parser = stylelib.cli.build_parser()
    flags = stylelib.cli._flags(parser)
    options = {s for action in parser._actions for s in action.option_strings}
    keywords = set(inspect.signature(stylelib.stylize).parameters)
    passed = set(stylelib.cli._PRESET_FLAGS) | {"scales", "scale_steps", "seed", "callback_every"}
    passed |= {"style_blend", "style_scale", "preserve_colors", "masks"}
    assert passed <= keywords
    for keyword in passed:
        assert flags[keyword] in options, keyword
        message = stylelib.cli._with_flag(f"{keyword} must be fine, got 1", flags)
        assert message == f"{flags[keyword]}: must be fine, got 1"
    assert flags["learning_rate"] == "--learning-rate" and flags["callback_every"] == "--save-every"
    assert stylelib.cli._with_flag("the coarsest scale", flags, "--scales") == (
        "--scales: the coarsest scale"
    )


def test_a_missing_argument_still_shows_the_usage(capsys):
    code, lines = run_main(capsys, "only-one.png")
    assert code == 2 and lines[0].startswith("usage: stylelib")
    assert lines[-1].startswith("stylelib: error: the following arguments are required")


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def test_output_files_get_ordinary_permissions(capsys, inputs, tmp_path, umask):
    umask(0o027)
    out = tmp_path / "gallery" / "out.png"
    args = [inputs / "content.png", inputs / "style.jpg", "-o", out, "--max-dim", "48"]
    args += ["--steps", "2", "--save-every", "1", "--weights", "random", "-q"]
    assert run_main(capsys, *args) == (0, [])
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # 0o666 less the umask, not 0o600
    os.chmod(out, 0o664)  # replacing keeps the permissions a class folder gave the file
    assert run_main(capsys, *args, "--overwrite") == (0, [])
    assert stat.S_IMODE(out.stat().st_mode) == 0o664
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.png"]


def test_an_unwritable_output_is_refused_before_the_run(capsys, inputs, tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    os.chmod(folder, 0o555)
    if os.geteuid() == 0:  # root may write anywhere: answer as a user would
        monkeypatch.setattr(os, "access", lambda p, mode: not (mode & os.W_OK))
    code, lines = run_main(
        capsys, inputs / "content.png", inputs / "style.jpg", "-o", folder / "sub" / "o.png"
    )
    assert code == 2 and lines == [
        f"stylelib: error: --output '{folder / 'sub' / 'o.png'}': cannot create files in "
        f"'{folder}' (permission denied)"
    ]


def test_defaults_are_the_librarys():
    """One default for the library and the command: the optimiser and automatic coarse to fine."""
    args = stylelib.cli.build_parser().parse_args(["c.png", "s.png", "-o", "o.png"])
    assert args.optimizer == stylelib.DEFAULT_OPTIMIZER
    assert args.scales == "auto"
    parse = stylelib.cli.build_parser().parse_args
    assert parse(["c.png", "s.png", "-o", "o.png", "--scales", "AUTO"]).scales == "auto"
    assert parse(["c.png", "s.png", "-o", "o.png", "--scales", "1"]).scales == 1


# --- control (several styles, blend, style scale, colours, masks) -------------------------------


@pytest.fixture(scope="module")
def control_inputs(inputs):
    stylelib.save_image(smooth_image(40, 40, 3), inputs / "style2.png")
    left = np.zeros((48, 64, 3), np.float32)
    left[:, :32] = 1.0
    stylelib.save_image(left, inputs / "left.png")
    stylelib.save_image(1.0 - left, inputs / "right.png")
    stylelib.save_image(np.ones((64, 64, 3), np.float32), inputs / "square.png")
    return inputs


def run_two_styles(capsys, folder, out, *args) -> tuple[int, list[str]]:
    """The command on content.png with style.jpg and style2.png, 64 px, random weights, 2 steps."""
    return run_main(
        capsys,
        *(folder / name for name in ("content.png", "style.jpg", "style2.png")),
        *("-o", out, "--weights", "random", "--max-dim", "64", "--steps", "2", *args),
    )


def test_several_styles_with_masks_colours_and_scale(capsys, control_inputs, tmp_path):
    folder, out = control_inputs, tmp_path / "o.png"
    code, lines = run_two_styles(
        capsys,
        folder,
        out,
        "--style-blend",
        "0.7,0.3",
        "--style-scale",
        "1.5",
        "--preserve-colors",
        "luminance",
        "--mask",
        folder / "left.png",
        "--mask",
        folder / "right.png",
    )
    assert code == 0, lines
    assert stylelib.load_image(out, max_dim=None).shape == (1, 48, 64, 3)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--style-blend", "1,2,3"], "--style-blend: has 3 weights for 2 style image(s)"),
        (["--style-blend", "1,-2"], "--style-blend: weights must be finite numbers >= 0"),
        (["--style-blend", "a,b"], "--style-blend: expected comma-separated numbers"),
        (["--style-scale", "0"], "--style-scale: must be a finite number > 0, got 0"),
        (["--style-scale", "0.1"], "--style-scale: 0.1 would make style image 0"),
        (["--preserve-colors", "yuv"], "--preserve-colors: invalid choice: 'yuv'"),
        (["--mask", "{left}"], "--mask: given 1 time(s) for 2 style image(s)"),
        (["--mask", "{left}", "--mask", "{square}"], "--mask '{square}' is 64x64 px"),
        (["--mask", "{left}", "--mask", "{missing}"], "{missing}"),
    ],
)
def test_bad_control_options_are_one_line_and_write_nothing(
    capsys, control_inputs, tmp_path, args, message
):
    folder, out = control_inputs, tmp_path / "never.png"
    names = {
        "left": folder / "left.png",
        "square": folder / "square.png",
        "missing": folder / "missing.png",
    }
    code, lines = run_two_styles(capsys, folder, out, "-q", *(a.format(**names) for a in args))
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("stylelib: error: ") and message.format(**names) in lines[0], lines
    assert not out.exists()
