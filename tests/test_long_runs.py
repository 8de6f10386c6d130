"""Long runs: ending early (stop, Ctrl-C) keeps the work; checkpoints resume; nothing retraces."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

import stylelib
from stylelib import checkpoint as ckpt
from stylelib import optimize
from stylelib.errors import CheckpointError

from .conftest import smooth_image

ADAM = dict(weights="random", optimizer="adam", steps=12)
LBFGS = dict(weights="random", steps=8)


@pytest.fixture(scope="module")
def wide_content():
    """64x80 px: room for two scales (32x40 and 64x80 px) above VGG19's 32 px minimum."""
    return stylelib.load_image(smooth_image(64, 80, seed=1), max_dim=80)


@pytest.fixture(scope="module")
def adam_checkpoint(content_image, style_image, tmp_path_factory):
    """A checkpoint of an ADAM run stopped after 3 steps (tests copy it before changing it)."""
    path = tmp_path_factory.mktemp("checkpoint") / "run.ckpt"
    stylelib.stylize(
        content_image, style_image, stop=stop_after(3), checkpoint=path, quiet=True, **ADAM
    )
    return path


def stop_after(calls: int):
    """A stop callable that says "stop" on its ``calls``-th call."""
    count = {"n": 0}

    def stop():
        count["n"] += 1
        return count["n"] >= calls

    return stop


def bits(result) -> np.ndarray:
    return result.image.numpy()


def totals(result) -> list[float]:
    return [(r.step, r.total) for r in result.history]


# Ending early ---------------------------------------------------------------------------------


def test_stop_callable_ends_the_adam_run_after_that_step(content_image, style_image, capsys):
    result = stylelib.stylize(content_image, style_image, stop=stop_after(5), **ADAM)
    at = result.extra["stopped_at"]
    assert result.extra["stopped"] == "stop"
    assert at["step"] == 5 and at["of"] == 12
    assert [r.step for r in result.history] == [0, 1, 2, 3, 4]
    best = min(result.history, key=lambda r: r.total)
    assert at["best_step"] == best.step
    assert "stopped after 5 of 12 steps" in capsys.readouterr().err


def test_the_image_returned_early_is_the_one_with_the_lowest_recorded_loss(
    content_image, style_image
):
    stopped = stylelib.stylize(content_image, style_image, stop=stop_after(6), **ADAM)
    best_step = stopped.extra["stopped_at"]["best_step"]
    # The same run, told to make exactly best_step steps, ends on that image.
    exact = stylelib.stylize(content_image, style_image, **{**ADAM, "steps": best_step})
    assert np.array_equal(bits(stopped), bits(exact))


def test_a_finished_run_says_it_was_not_stopped(content_image, style_image):
    result = stylelib.stylize(content_image, style_image, **{**ADAM, "steps": 3})
    assert result.extra["stopped"] is None and result.extra["stopped_at"] is None


def test_an_event_set_from_another_thread_stops_the_run(content_image, style_image):
    event = threading.Event()
    timer = threading.Timer(0.0, event.set)

    def callback(step, image, record):
        if step == 3:
            timer.start()
            timer.join()

    result = stylelib.stylize(
        content_image, style_image, stop=event, callback=callback, callback_every=1, **ADAM
    )
    assert result.extra["stopped"] == "stop"
    assert result.extra["stopped_at"]["step"] == 4  # the step under way when it was set


def test_lbfgs_stops_within_one_evaluation(content_image, style_image):
    result = stylelib.stylize(content_image, style_image, stop=stop_after(4), quiet=True, **LBFGS)
    assert result.extra["stopped"] == "stop"
    assert result.extra["stopped_at"]["step"] < 4
    assert 1 <= result.extra["stopped_at"]["evaluations"] < 4  # the stopped scale's own count
    assert result.image.shape == content_image.shape


def test_ctrl_c_in_the_main_thread_ends_the_run_after_the_step(content_image, style_image):
    def callback(step, image, record):
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C and a notebook's stop button send

    before = signal.getsignal(signal.SIGINT)
    result = stylelib.stylize(
        content_image, style_image, callback=callback, callback_every=1, quiet=True, **ADAM
    )
    assert result.extra["stopped"] == "interrupted"
    assert result.extra["stopped_at"]["step"] == 5
    assert signal.getsignal(signal.SIGINT) is before  # the previous handler is back


def test_a_second_ctrl_c_ends_at_once_and_still_returns_the_work(content_image, style_image):
    seen = []

    def callback(step, image, record):
        if step == 3:
            signal.raise_signal(signal.SIGINT)  # the first: the run will end after this step
            try:
                signal.raise_signal(signal.SIGINT)  # the second: at once, mid-step
            except KeyboardInterrupt:
                seen.append("raised")
                raise

    result = stylelib.stylize(
        content_image, style_image, callback=callback, callback_every=1, quiet=True, **ADAM
    )
    assert seen == ["raised"]
    assert result.extra["stopped"] == "interrupted"
    assert result.history[-1].step == 3


def test_stop_must_be_an_event_or_a_callable(content_image, style_image):
    with pytest.raises(ValueError, match="^stop must be a threading.Event or a callable"):
        stylelib.stylize(content_image, style_image, stop=True, **ADAM)


# Checkpoints and resume --------------------------------------------------------------------


def test_adam_resumed_ends_bit_identical_to_a_run_never_stopped(
    content_image, style_image, tmp_path
):
    path = tmp_path / "run.ckpt"
    whole = stylelib.stylize(content_image, style_image, **ADAM)
    first = stylelib.stylize(
        content_image, style_image, stop=stop_after(7), checkpoint=path, quiet=True, **ADAM
    )
    assert first.extra["stopped_at"]["checkpoint"] == os.fspath(path)
    resumed = stylelib.stylize(content_image, style_image, resume=path, **ADAM)
    assert np.array_equal(bits(resumed), bits(whole))
    assert totals(resumed) == totals(whole)
    assert resumed.extra["stopped"] is None


def test_adam_coarse_to_fine_resumed_in_the_second_scale_is_bit_identical(
    wide_content, style_image, tmp_path
):
    kw = dict(ADAM, scales=2, scale_steps=6)
    path = tmp_path / "run.ckpt"
    whole = stylelib.stylize(wide_content, style_image, **kw)
    stopped = stylelib.stylize(
        wide_content, style_image, stop=stop_after(9), checkpoint=path, quiet=True, **kw
    )
    assert stopped.extra["stopped_at"]["scale"] == 1
    assert stopped.image.shape[1:3] == (64, 80)
    resumed = stylelib.stylize(wide_content, style_image, resume=path, **kw)
    assert np.array_equal(bits(resumed), bits(whole))
    assert totals(resumed) == totals(whole)


def test_periodic_checkpoints_hold_the_step_they_were_written_at(
    content_image, style_image, tmp_path
):
    path = tmp_path / "run.ckpt"
    stylelib.stylize(
        content_image, style_image, checkpoint=path, checkpoint_every=5, stop=stop_after(8), **ADAM
    )
    meta, arrays = ckpt.load(path)
    assert meta["step"] == 8  # the interrupt's checkpoint replaced the one of step 5
    assert arrays["history"].shape == (8, 7)
    assert [int(x) for x in arrays["optimizer_0"].ravel()] == [8]  # Adam's step counter
    stylelib.stylize(content_image, style_image, checkpoint=path, checkpoint_every=5, **ADAM)
    assert ckpt.load(path)[0]["step"] == 10  # 12 steps, written at 5 and 10


def test_lbfgs_resume_runs_the_remaining_iterations(wide_content, style_image, tmp_path):
    kw = dict(LBFGS, steps=6, scales=2, tv_weight=30.0, quiet=True)
    path = tmp_path / "run.ckpt"
    whole = stylelib.stylize(wide_content, style_image, **kw)
    stylelib.stylize(wide_content, style_image, stop=stop_after(12), checkpoint=path, **kw)
    at = ckpt.load(path)[0]["step"]
    assert 0 < at < whole.history[-1].step
    resumed = stylelib.stylize(wide_content, style_image, resume=path, **kw)
    steps = [r.step for r in resumed.history]
    assert steps == sorted(steps) and steps[-1] == whole.history[-1].step
    assert resumed.image.shape == whole.image.shape
    # No curvature memory after resuming: not the same bits, but the same kind of result.
    assert resumed.final_loss < whole.history[0].total


def stop_at_step(step: int):
    """(stop event, callback) that end a run right after ``step`` steps."""
    event = threading.Event()

    def callback(k, image, record):
        if k == step:
            event.set()

    return dict(stop=event, callback=callback, callback_every=1)


def test_lbfgs_resumed_at_a_phase_boundary_is_bit_identical(content_image, style_image, tmp_path):
    # TV 30: three smoothing phases of 2 iterations each; each phase starts with an empty memory.
    kw = dict(LBFGS, steps=6, tv_weight=30.0, quiet=True)
    path = tmp_path / "run.ckpt"
    whole = stylelib.stylize(content_image, style_image, **kw)
    stylelib.stylize(content_image, style_image, checkpoint=path, **stop_at_step(2), **kw)
    assert ckpt.load(path)[0]["step"] == 2
    resumed = stylelib.stylize(content_image, style_image, resume=path, **kw)
    assert np.array_equal(bits(resumed), bits(whole))
    assert totals(resumed) == totals(whole)


def test_lbfgs_stopped_and_resumed_twice_runs_the_iterations_asked_for(
    content_image, style_image, tmp_path
):
    kw = dict(LBFGS, steps=8, quiet=True)  # one phase (no TV)
    path = tmp_path / "run.ckpt"
    stylelib.stylize(content_image, style_image, checkpoint=path, **stop_at_step(2), **kw)
    stylelib.stylize(content_image, style_image, resume=path, **stop_at_step(5), **kw)
    assert ckpt.load(path)[0]["step"] == 5
    last = stylelib.stylize(content_image, style_image, resume=path, **kw)
    assert [r.step for r in last.history] == list(range(9))


@pytest.mark.parametrize(
    "change, says",
    [
        (dict(steps=13), "steps: 13 here, 12 in the checkpoint"),
        (dict(seed=1), "seed: 1 here, 0 in the checkpoint"),
        (dict(style_weight=1.0), "style_weight: 1.0 here, 0.01 in the checkpoint"),
        (dict(content="other"), "content differs"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused(
    content_image, style_image, adam_checkpoint, change, says
):
    path = adam_checkpoint
    kw = {**ADAM, **change}
    content = kw.pop("content", content_image)
    if isinstance(content, str):
        content = stylelib.load_image(smooth_image(48, 64, seed=9), max_dim=64)
    with pytest.raises(CheckpointError, match="made by a different run") as error:
        stylelib.stylize(content, style_image, resume=path, **kw)
    assert says in str(error.value)


def _edit_meta(path: Path, **fields) -> None:
    meta, arrays = ckpt.load(path)
    fingerprint = {**meta.pop("fingerprint"), **fields}
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    ckpt.save(path, {**meta, "fingerprint": fingerprint}, arrays)


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("stylelib_version", "0.0.1", "stylelib_version: "),
        ("weights_digest", "0" * 64, "weights differs"),
    ],
)
def test_a_checkpoint_of_other_weights_or_another_version_is_refused(
    content_image, style_image, adam_checkpoint, tmp_path, field, value, says
):
    path = tmp_path / "run.ckpt"
    path.write_bytes(adam_checkpoint.read_bytes())
    _edit_meta(path, **{field: value})
    with pytest.raises(CheckpointError, match=says):
        stylelib.stylize(content_image, style_image, resume=path, **ADAM)


@pytest.mark.parametrize(
    "kwargs, error, says",
    [
        (dict(checkpoint="FOLDER"), CheckpointError, "^checkpoint '.*': is a folder"),
        (dict(resume="FOLDER"), CheckpointError, "^resume '.*': is not a file"),
        (dict(resume="missing.ckpt"), CheckpointError, "^resume '.*missing.ckpt': no such file"),
        (dict(resume="image.png"), CheckpointError, "^resume '.*image.png': not a stylelib"),
        (dict(checkpoint_every=5), ValueError, "^checkpoint_every needs checkpoint"),
        (dict(checkpoint="c", checkpoint_every=0), ValueError, "^checkpoint_every must be"),
        (dict(checkpoint=3), CheckpointError, "^checkpoint must be a file path"),
    ],
)
def test_bad_checkpoint_arguments_are_named_before_any_work(
    content_image, style_image, tmp_path, monkeypatch, kwargs, error, says
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FOLDER").mkdir()
    stylelib.save_image(content_image, "image.png")
    monkeypatch.setattr(optimize, "FeatureExtractor", None)  # any work would fail differently
    with pytest.raises(error, match=says):
        stylelib.stylize(content_image, style_image, **ADAM, **kwargs)


def test_a_truncated_checkpoint_is_refused_clearly(
    content_image, style_image, adam_checkpoint, tmp_path
):
    path = tmp_path / "run.ckpt"
    path.write_bytes(adam_checkpoint.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="not a stylelib checkpoint"):
        stylelib.stylize(content_image, style_image, resume=path, **ADAM)


def test_a_full_disk_keeps_the_previous_checkpoint_and_the_run_goes_on(
    content_image, style_image, tmp_path, monkeypatch, capsys
):
    path = tmp_path / "run.ckpt"
    stylelib.stylize(
        content_image, style_image, checkpoint=path, checkpoint_every=2, stop=stop_after(2), **ADAM
    )
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt.np, "savez", full)
    result = stylelib.stylize(
        content_image, style_image, checkpoint=path, checkpoint_every=2, **ADAM
    )
    assert result.extra["stopped"] is None and result.history[-1].step == 12
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]  # no temporary file left
    err = capsys.readouterr().err
    assert err.count("No space left on device") == 1 and "the run goes on" in err


def test_checkpoint_files_are_plain_arrays_without_pickle(adam_checkpoint):
    path = adam_checkpoint
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
    assert "meta.npy" in names and "a_image.npy" in names
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
    assert meta["format"] == "stylelib-checkpoint" and meta["fingerprint"]["seed"] == 0


# No retracing -------------------------------------------------------------------------------


def test_each_compiled_function_is_traced_once_per_scale(wide_content, style_image):
    optimize._TRACES.clear()
    stylelib.stylize(wide_content, style_image, **{**ADAM, "steps": 6})
    assert dict(optimize._TRACES) == {"adam_step": 1}
    optimize._TRACES.clear()
    # Two scales, three smoothing phases each (absolute TV): still one trace per scale.
    stylelib.stylize(wide_content, style_image, scales=2, tv_weight=30.0, **{**LBFGS, "steps": 6})
    assert optimize._TRACES["lbfgs_value_and_grad"] == 2
    assert optimize._TRACES["lbfgs_exact_losses"] <= 2


# The command line ---------------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "STYLELIB_VGG19_WEIGHTS": "random", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(stylelib.__file__).parents[1])])
    command = [sys.executable, "-m", "stylelib", "c.png", "s.png", "-o", "out.png", *args]
    return subprocess.Popen(
        command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


@pytest.fixture
def cli_images(tmp_path):
    stylelib.save_image(smooth_image(72, 96, seed=1), tmp_path / "c.png")
    stylelib.save_image(smooth_image(64, 64, seed=2), tmp_path / "s.png")
    return tmp_path


def _wait_for(path: Path, process: subprocess.Popen) -> None:
    """Until ``path`` exists (the run is under way); fails if the process ends first."""
    for _ in range(1200):
        if path.exists():
            return
        if process.poll() is not None:
            pytest.fail(f"the command ended early: {process.communicate()[1]}")
        threading.Event().wait(0.1)
    process.kill()
    pytest.fail("the command never wrote its first checkpoint")


def test_ctrl_c_on_the_command_line_writes_the_partial_image_and_exits_130(cli_images):
    flags = ["--max-dim", "96", "--steps", "30", "--checkpoint", "run.ckpt"]
    process = _cli(cli_images, *flags, "--checkpoint-every", "2")
    _wait_for(cli_images / "run.ckpt", process)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("stylelib: interrupted after ") and "of 30 steps" in line, line
    assert "wrote the partial result (96x72 px" in line and "--resume run.ckpt" in line, line
    assert stylelib.load_image(cli_images / "out.png", max_dim=None).shape == (1, 72, 96, 3)
    steps = int(line.split("interrupted after ")[1].split()[0])
    assert ckpt.load(cli_images / "run.ckpt")[0]["step"] == steps
    # The same command with --resume (and --overwrite for out.png) finishes the run.
    done = _cli(cli_images, *flags, "--resume", "run.ckpt", "--overwrite")
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    assert "30 steps" in err.strip().splitlines()[-1]


def test_two_ctrl_c_end_the_command_promptly(cli_images):
    process = _cli(cli_images, "--max-dim", "96", "--steps", "2000", "--save-every", "1")
    _wait_for(cli_images / "out.png", process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "stylelib: interrupted" in err
    assert stylelib.load_image(cli_images / "out.png", max_dim=None).shape == (1, 72, 96, 3)


def test_the_command_refuses_an_existing_checkpoint_file_without_overwrite(cli_images):
    (cli_images / "run.ckpt").write_bytes(b"mine")
    process = _cli(cli_images, "--max-dim", "96", "--checkpoint", "run.ckpt")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "--checkpoint 'run.ckpt': already exists; pass --overwrite" in err
    assert (cli_images / "run.ckpt").read_bytes() == b"mine"


def test_a_jupyter_kernels_stop_button_ends_the_run_and_keeps_the_result(tmp_path):
    """The notebook's stop button: Jupyter interrupts the kernel (SIGINT), as JupyterLab does."""
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "STYLELIB_VGG19_WEIGHTS": "random", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = str(Path(stylelib.__file__).parents[1])
    manager, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        client.execute_interactive(
            "import numpy as np, stylelib\n"
            "rng = np.random.default_rng(0)\n"
            "images = [rng.random((64, 64, 3)), rng.random((64, 64, 3))]\n"
            "def started(step, image, record):\n"
            "    if step == 2: print('running', flush=True)\n",
            timeout=180,
        )
        msg_id = client.execute(
            "result = stylelib.stylize(*images, optimizer='adam', steps=100000, max_dim=64, "
            "callback=started, callback_every=1)"
        )
        while not client.get_iopub_msg(timeout=180)["content"].get("text", "").startswith("run"):
            pass  # until the run is under way
        manager.interrupt_kernel()  # what the stop button does
        reply = client.get_shell_msg(timeout=180)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "ok", reply["content"]  # no KeyboardInterrupt
        outputs = []
        client.execute_interactive(
            "print(result.extra['stopped'], result.extra['stopped_at']['step'] > 2, "
            "tuple(result.image.shape))",
            output_hook=lambda m: outputs.append(m["content"].get("text", "")),
            timeout=60,
        )
        assert "interrupted True (1, 64, 64, 3)" in "".join(outputs)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
