"""The studio (notebook 09), driven through its widget objects, without a browser.

Runs on tiny images with untrained weights. Tests whose names contain "widget" also run under
ipywidgets 7.7.1 (`make test-colab`), so they use only what both 7 and 8 have.
"""

from __future__ import annotations

import io
import threading

import ipywidgets
import pytest
from PIL import Image

import stylelib
from stylelib import studio as studio_module
from stylelib.studio import STATUS_WORDS, Studio

from .test_widgets import MAJOR, _png, _value_v7, _value_v8

TINY = dict(weights="random", max_dim=48, content="landscape", style="mosaic", preview_every=2)


def _is_png(data) -> bool:
    return bytes(data[:8]) == b"\x89PNG\r\n\x1a\n"


def _studio_threads() -> int:
    return sum(t.name == "stylelib-studio" for t in threading.enumerate())


def _run(studio: Studio, timeout: float = 120) -> None:
    assert studio.run(), studio.status
    assert studio.wait(timeout), "the run did not end in time"


def _upload(picker, files) -> None:
    """Fill a picker's own FileUpload (the one the page shows) as the front end does."""
    picker.choice.value = "upload"
    if MAJOR >= 8:
        picker.upload.value = _value_v8(files)
    else:  # 7.x: the front end sets metadata and data, then bumps _counter to rebuild value
        picker.upload.metadata = [_value_v7(files)[name]["metadata"] for name, _ in files]
        picker.upload.data = [data for _, data in files]
        picker.upload._counter += 1


@pytest.fixture(autouse=True)
def _no_run_left():
    """A failed test must not leave a run going: a new studio would refuse to Run."""
    yield
    studio_module.stop_all(timeout=120)


@pytest.fixture(scope="module")
def finished():
    """A studio that ran 6 L-BFGS iterations, previews every 2, counting the preview updates."""
    studio = Studio(steps=6, **TINY)
    updates = []
    studio.preview.observe(lambda change: updates.append(change["new"]), names="value")
    _run(studio)
    return studio, updates


def test_studio_widget_run_updates_preview_loss_and_progress(finished):
    studio, updates = finished
    assert studio.status.startswith("Done"), studio.status
    assert len(updates) >= 2 and all(_is_png(u) for u in updates), len(updates)
    assert len(set(map(bytes, updates))) >= 2, "the preview never changed"
    assert _is_png(studio.loss.value)
    assert studio.progress.value == studio.progress.max == 6
    assert studio.result is not None and studio.result.extra["stopped"] is None
    assert studio.result.history[-1].step == 6
    assert Image.open(io.BytesIO(bytes(studio.preview.value))).size == (48, 36)
    assert not studio.save_button.disabled


def test_studio_widget_save_writes_the_result(finished, tmp_path, monkeypatch):
    studio, _ = finished
    target = tmp_path / "out" / "result.png"
    assert studio.save(target) == target.resolve()
    assert studio.status == f"Saved to {target.resolve()}"
    assert Image.open(target).size == (48, 36)
    studio.save_path.value = str(tmp_path / "bad.xyz")  # an extension save_image refuses
    assert studio.save() is None and studio.status.startswith("Error:"), studio.status
    monkeypatch.chdir(tmp_path)  # a relative name: the kernel's working folder, said in full
    assert studio.save("relative.png") == tmp_path.resolve() / "relative.png"
    assert studio.status == f"Saved to {tmp_path.resolve() / 'relative.png'}"


def test_studio_widget_save_never_replaces_a_file_unasked(finished, tmp_path):
    studio, _ = finished
    mine = tmp_path / "my_photo.png"
    mine.write_bytes(b"the user's bytes")
    assert studio.save(mine) is None
    assert studio.status == (
        f"Error: {mine.resolve()} exists; tick overwrite to replace it, or choose another name "
        "(my_photo-2.png is free)"
    )
    assert mine.read_bytes() == b"the user's bytes"
    assert not studio.overwrite.value  # off by default
    studio.overwrite.value = True  # the box beside Save
    assert studio.save(mine) == mine.resolve() and studio.status.startswith("Saved to ")
    assert Image.open(mine).size == (48, 36)
    studio.overwrite.value = False


def test_studio_widget_save_never_writes_over_an_input(finished, tmp_path):
    studio, _ = finished
    photo = tmp_path / "content_in.png"
    photo.write_bytes(_png(size=(64, 48)))
    before = photo.read_bytes()
    run = Studio(steps=2, **TINY)
    run.content.choice.value = "file path"
    run.content.path.value = str(photo)
    _run(run)
    assert run.status.startswith("Done"), run.status
    run.content.choice.value = "mosaic"  # the run's input, even when the picker moved on
    link = tmp_path / "link.png"
    link.symlink_to(photo)
    for path in (photo, link):  # the same file by another name too
        assert run.save(path, overwrite=True) is None
        assert run.status == (
            f"Error: {photo.resolve()} is one of the run's input images; choose another name"
        ), run.status
    # a path box that names a file now is protected too, before it is ever run
    studio.mask.choice.value = "file path"
    studio.mask.path.value = str(photo)
    assert studio.save(photo, overwrite=True) is None and "input images" in studio.status
    studio.mask.choice.value = "none"
    assert photo.read_bytes() == before


def test_studio_widget_dom_contract(finished):
    studio, _ = finished
    for button, name in (
        (studio.run_button, "Run"),
        (studio.stop_button, "Stop"),
        (studio.save_button, "Save"),
    ):
        assert button.description == name
        assert f"stylelib-{name.lower()}" in button._dom_classes
    for widget, css in (
        (studio.status_html, "stylelib-status"),
        (studio.preview, "stylelib-preview"),
        (studio.loss, "stylelib-loss"),
        (studio.progress, "stylelib-progress"),
        (studio.save_path, "stylelib-save-path"),
        (studio.banner, "stylelib-untrained"),
    ):
        assert css in widget._dom_classes, css
    assert isinstance(studio.preview, ipywidgets.Image) and isinstance(
        studio.widget, ipywidgets.Box
    )
    assert isinstance(studio.progress, ipywidgets.IntProgress)
    assert studio.status.startswith(STATUS_WORDS)


def test_studio_widget_untrained_banner_only_for_random_weights():
    random = Studio(weights="random", max_dim=48)
    assert random.banner.layout.display != "none"
    assert "Untrained (random) VGG19 weights" in random.banner.value
    assert "RANDOM" in random.weights_label.value
    trained = Studio(weights="imagenet", max_dim=48)  # nothing is loaded before Run
    assert trained.banner.layout.display == "none"


def test_studio_widget_stop_keeps_the_image_and_a_second_run_is_refused():
    studio = Studio(steps=300, **TINY)
    seen = []

    def on_preview(change):  # in the worker thread, while the run goes on
        if not seen:
            seen.append(studio.run())  # a second Run: refused, not queued
            seen.append(studio.status)
            seen.append(_studio_threads())
            seen.append(studio.run_button.disabled)
            studio.stop()
            seen.append(studio.run())  # Run again before the run has ended
            seen.append(studio.status)

    studio.preview.observe(on_preview, names="value")
    assert studio.run()
    assert studio.wait(120)
    assert seen[0] is False and seen[1].startswith("Running: a run is already going"), seen
    assert seen[2] == 1, f"{seen[2]} studio threads were running"
    assert seen[3] is True, "the Run button was enabled during the run"
    assert seen[4] is False and seen[5].startswith("Running: stopping; press Run again"), seen
    assert not studio.run_button.disabled
    assert studio.status.startswith("Stopped") and "(48x36 px, " in studio.status, studio.status
    assert "lowest loss at this scale" in studio.status, studio.status
    assert studio.result.extra["stopped"] == "stop"
    assert 2 <= studio.result.history[-1].step < 300
    assert studio.progress.value < studio.progress.max
    assert studio.time_left.value.startswith("stopped at step"), studio.time_left.value


def test_studio_widget_bad_inputs_show_one_error_line_and_run_again(tmp_path):
    studio = Studio(steps=2, **TINY)
    studio.content.choice.value = "file path"
    studio.content.path.value = str(tmp_path / "missing.jpg")
    _run(studio)
    assert studio.status.startswith("Error: content:") and "missing.jpg" in studio.status
    assert "\n" not in studio.status and not studio.save_button.disabled
    _upload(studio.content, [("notes.png", b"not an image at all")])
    _run(studio)
    assert studio.status.startswith("Error: content:") and "notes.png" in studio.status
    _upload(studio.content, [("green.png", _png(size=(64, 48)))])
    _upload(studio.mask, [("tall.png", _png(size=(40, 120)))])
    _run(studio)
    assert studio.status.startswith("Error:") and "aspect ratio" in studio.status, studio.status
    _upload(studio.mask, [("wide.png", _png(size=(128, 96)))])  # the content's shape
    _run(studio)
    assert studio.status.startswith("Done"), studio.status
    assert studio.result.image.shape == (1, 36, 48, 3)  # the uploaded 64x48 content at 48 px


def test_studio_widget_reports_nan_and_unexpected_errors(finished, monkeypatch, tmp_path):
    studio = Studio(steps=2, **TINY)
    monkeypatch.setattr(stylelib.optimize, "stylize", lambda *a, **k: finished[0].result)
    _run(studio)  # a run that worked, then one that fails: Save must not write the first one
    assert studio.status.startswith("Done") and studio.result is not None, studio.status

    def nan(*args, **kwargs):
        raise stylelib.NonFiniteLossError(
            "the loss became nan at step 1", step=1, image=None, history=[]
        )

    monkeypatch.setattr(stylelib.optimize, "stylize", nan)
    _run(studio)
    assert studio.status == "Error: the loss became nan at step 1"
    assert studio.result is None
    assert studio.save(tmp_path / "after_nan.png") is None
    assert studio.status == "Error: nothing to save: the last run ended with an error"
    assert not (tmp_path / "after_nan.png").exists()

    def broken(*args, **kwargs):
        raise RuntimeError("something deep went wrong")

    monkeypatch.setattr(stylelib.optimize, "stylize", broken)
    _run(studio)
    assert studio.status.startswith("Error: unexpected RuntimeError: something deep went wrong")
    assert "Traceback" in studio.log.value and "broken" in studio.log.value
    assert not studio.save_button.disabled and not studio.running()


def test_studio_widget_settings_follow_the_controls():
    studio = Studio(weights="random", max_dim=48)
    studio.steps.value = 123  # the user's steps: neither the optimiser nor the preset resets them
    studio.optimizer.value = "adam"
    assert studio.learning_rate.layout.display != "none"
    studio.preset.value = "gatys"
    assert studio.steps.value == 123
    kwargs = studio.stylize_kwargs()
    gatys = stylelib.PRESETS["gatys"]
    assert kwargs["content_layers"] == list(gatys.content_layers)
    assert kwargs["tv_weight"] == 0.0 and kwargs["style_weight"] == pytest.approx(1e3)
    studio.style_layers.value = ()
    _run(studio)
    assert studio.status.startswith("Error: style layers"), studio.status


def test_studio_widget_colours_dropdown_starts_on_no():
    studio = Studio(weights="random", max_dim=48)
    assert studio.preserve_colors.label == "no" and studio.preserve_colors.index == 0
    assert studio.stylize_kwargs()["preserve_colors"] is None
    studio.preserve_colors.value = "luminance"
    assert studio.stylize_kwargs()["preserve_colors"] == "luminance"
    assert (
        Studio(weights="random", preserve_colors="histogram").preserve_colors.label == "histogram"
    )


def test_studio_widget_a_new_studio_refuses_while_an_old_one_runs():
    """Re-running the cell that shows a studio leaves the old one's run going: the new one
    refuses to Run, says why, and its Stop (or stop_all()) ends the old run."""
    old = Studio(steps=300, **TINY)
    assert old.run()
    new = Studio(steps=2, **TINY)
    assert new.status.startswith("Ready") and "another studio" in new.status, new.status
    assert new.run() is False and _studio_threads() == 1
    assert new.status.startswith("Error: another studio of this kernel is running"), new.status
    assert "stylelib.studio.stop_all()" in new.status
    new.stop()  # the new studio's Stop button
    assert new.status.startswith("Ready: asked 1 run(s) of another studio"), new.status
    assert old.wait(120) and old.status.startswith("Stopped"), old.status
    assert old.run()
    assert studio_module.running_studios() == [old]
    assert studio_module.stop_all(timeout=120) == 1
    assert not old.running() and old.status.startswith("Stopped"), old.status
    assert studio_module.stop_all() == 0


def test_studio_widget_download_on_colab(finished, tmp_path):
    studio, _ = finished
    sent = []

    class FakeFiles:  # google.colab.files
        @staticmethod
        def download(path):
            sent.append(path)

    studio._colab_files = FakeFiles
    studio.save_path.value = str(tmp_path / "sent.png")
    studio.download()
    assert sent == [str((tmp_path / "sent.png").resolve())], sent

    class BlockedFiles:
        @staticmethod
        def download(path):
            raise RuntimeError("the browser blocked the download")

    studio._colab_files = BlockedFiles
    studio.save_path.value = str(tmp_path / "blocked.png")
    studio.download()
    assert studio.status.startswith("Error: unexpected RuntimeError: the browser blocked"), (
        studio.status
    )
    studio._colab_files = None
    studio.download()
    assert studio.status == "Error: Download works on Colab only; use Save"


def test_time_left_weighs_each_step_by_its_scale():
    plan = studio_module._plan(512, 384, 20, "lbfgs", 3)
    assert [n for n, _ in plan] == [20, 10, 10]
    pixels = [p for _, p in plan]
    assert pixels[0] < pixels[1] < pixels[2] == 512 * 384
    assert studio_module._pixel_steps(plan, 21) == 20 * pixels[0] + pixels[1]
    assert studio_module._pixel_steps(plan, 40) == sum(n * p for n, p in plan)
    assert studio_module._plan(512, 384, 20, "adam", "auto") == [(20, 512 * 384)]


def test_studio_rejects_unknown_settings():
    with pytest.raises(TypeError, match="unknown setting"):
        Studio(size=64)


def test_loss_plot_png_draws_the_positive_terms():
    history = [
        stylelib.StepRecord(s, 0.1 * s, 10.0 / (s + 1), 1.0, 9.0 / (s + 1), 0.0) for s in range(5)
    ]
    assert _is_png(studio_module.loss_plot_png(history))
