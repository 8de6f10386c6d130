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

from .test_widgets import _png, _real_upload

TINY = dict(weights="random", max_dim=48, content="landscape", style="mosaic", preview_every=2)


def _is_png(data) -> bool:
    return bytes(data[:8]) == b"\x89PNG\r\n\x1a\n"


def _studio_threads() -> int:
    return sum(t.name == "stylelib-studio" for t in threading.enumerate())


def _run(studio: Studio, timeout: float = 120) -> None:
    assert studio.run(), studio.status
    assert studio.wait(timeout), "the run did not end in time"


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


def test_studio_widget_save_writes_the_result(finished, tmp_path):
    studio, _ = finished
    target = tmp_path / "out" / "result.png"
    assert studio.save(target) == target
    assert studio.status == f"Saved to {target}"
    assert Image.open(target).size == (48, 36)
    studio.save_path.value = str(tmp_path / "bad.xyz")  # an extension save_image refuses
    assert studio.save() is None and studio.status.startswith("Error:"), studio.status


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
            studio.stop()

    studio.preview.observe(on_preview, names="value")
    assert studio.run()
    assert studio.wait(120)
    assert seen[0] is False and seen[1].startswith("Running"), seen
    assert seen[2] == 1, f"{seen[2]} studio threads were running"
    assert studio.status.startswith("Stopped"), studio.status
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
    studio.content.choice.value = "upload"
    studio.content.upload = _real_upload([("notes.png", b"not an image at all")])
    _run(studio)
    assert studio.status.startswith("Error: content:") and "notes.png" in studio.status
    studio.content.upload = _real_upload([("green.png", _png(size=(64, 48)))])
    studio.mask.choice.value = "upload"
    studio.mask.upload = _real_upload([("tall.png", _png(size=(40, 120)))])
    _run(studio)
    assert studio.status.startswith("Error:") and "aspect ratio" in studio.status, studio.status
    studio.mask.upload = _real_upload([("wide.png", _png(size=(128, 96)))])  # the content's shape
    _run(studio)
    assert studio.status.startswith("Done"), studio.status
    assert studio.result.image.shape == (1, 36, 48, 3)  # the uploaded 64x48 content at 48 px


def test_studio_widget_reports_nan_and_unexpected_errors(monkeypatch):
    studio = Studio(steps=2, **TINY)

    def nan(*args, **kwargs):
        raise stylelib.NonFiniteLossError(
            "the loss became nan at step 1", step=1, image=None, history=[]
        )

    monkeypatch.setattr(stylelib.optimize, "stylize", nan)
    _run(studio)
    assert studio.status == "Error: the loss became nan at step 1"

    def broken(*args, **kwargs):
        raise RuntimeError("something deep went wrong")

    monkeypatch.setattr(stylelib.optimize, "stylize", broken)
    _run(studio)
    assert studio.status.startswith("Error: unexpected RuntimeError: something deep went wrong")
    assert "Traceback" in studio.log.value and "broken" in studio.log.value
    assert not studio.save_button.disabled and not studio.running()


def test_studio_widget_settings_follow_the_controls():
    studio = Studio(weights="random", max_dim=48)
    studio.optimizer.value = "adam"
    assert studio.steps.value == stylelib.PRESETS["tutorial"].steps
    assert studio.learning_rate.layout.display != "none"
    studio.preset.value = "gatys"
    kwargs = studio.stylize_kwargs()
    gatys = stylelib.PRESETS["gatys"]
    assert kwargs["content_layers"] == list(gatys.content_layers)
    assert kwargs["tv_weight"] == 0.0 and kwargs["style_weight"] == pytest.approx(1e3)
    studio.style_layers.value = ()
    _run(studio)
    assert studio.status.startswith("Error: style layers"), studio.status


def test_studio_rejects_unknown_settings():
    with pytest.raises(TypeError, match="unknown setting"):
        Studio(size=64)


def test_loss_plot_png_draws_the_positive_terms():
    history = [
        stylelib.StepRecord(s, 0.1 * s, 10.0 / (s + 1), 1.0, 9.0 / (s + 1), 0.0) for s in range(5)
    ]
    assert _is_png(studio_module.loss_plot_png(history))
