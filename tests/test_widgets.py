"""Widget code works on ipywidgets 7.7 (Colab's) and 8 (JupyterLab 4's).

Run in .venv (ipywidgets 8) and in an environment with ipywidgets 7.7.1: only the construction of a
real FileUpload value depends on the installed version.
"""

from __future__ import annotations

import datetime
import io

import ipywidgets
import numpy as np
import pytest
from PIL import Image

import stylelib
from stylelib.display import LiveView, uploaded_files, uploaded_images

MAJOR = int(ipywidgets.__version__.split(".")[0])


def _png(colour=(10, 200, 30), size=(48, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _value_v7(files):
    """FileUpload.value as ipywidgets 7 builds it: {name: {"metadata": {...}, "content": bytes}}."""
    return {
        name: {
            "metadata": {"name": name, "type": "image/png", "size": len(data), "lastModified": 0},
            "content": data,
        }
        for name, data in files
    }


def _value_v8(files):
    """FileUpload.value as ipywidgets 8 builds it: a tuple of dicts, content a memoryview."""
    when = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    return tuple(
        {
            "name": name,
            "type": "image/png",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": when,
        }
        for name, data in files
    )


FILES = [("green.png", _png()), ("red.png", _png((220, 20, 20), (40, 64)))]


@pytest.mark.parametrize("make", [_value_v7, _value_v8], ids=["ipywidgets7", "ipywidgets8"])
def test_uploaded_files_reads_both_value_shapes(make):
    got = uploaded_files(make(FILES))
    assert got == FILES
    assert all(type(data) is bytes for _, data in got)
    assert uploaded_files(make([])) == []


def _real_upload(files):
    """A real FileUpload of the installed ipywidgets holding ``files``, as after an upload."""
    upload = ipywidgets.FileUpload(accept="image/*", multiple=True)
    if MAJOR >= 8:
        upload.value = _value_v8(files)
    else:  # 7.x: the front end sets metadata and data, then bumps _counter to rebuild value
        upload.metadata = [_value_v7(files)[name]["metadata"] for name, _ in files]
        upload.data = [data for _, data in files]
        upload._counter += 1
    return upload


def test_uploaded_files_reads_the_installed_widget():
    empty = ipywidgets.FileUpload(accept="image/*", multiple=False)
    assert uploaded_files(empty) == []
    upload = _real_upload(FILES)
    assert isinstance(upload.value, dict if MAJOR < 8 else tuple)
    assert uploaded_files(upload) == FILES


def test_uploaded_images_loads_each_file():
    (name, image), (name2, image2) = uploaded_images(_real_upload(FILES), max_dim=64)
    assert (name, name2) == ("green.png", "red.png")
    assert image.shape == (1, 53, 64, 3) and image2.shape == (1, 64, 40, 3)
    np.testing.assert_allclose(image[0, 10, 10].numpy(), np.array([10, 200, 30]) / 255, atol=1e-6)


def test_an_upload_that_is_not_an_image_names_the_file():
    upload = _real_upload([("notes.txt", b"hello, not an image")])
    with pytest.raises(stylelib.ImageError, match=r"^uploaded file 'notes.txt': not an image"):
        uploaded_images(upload)


def test_uploaded_files_rejects_other_objects():
    with pytest.raises(TypeError, match="FileUpload"):
        uploaded_files(42)


def test_live_view_updates_its_widgets(capsys):
    view = LiveView(title="test run")
    assert isinstance(view._image, ipywidgets.Image)
    image = stylelib.load_image(np.full((40, 50, 3), 0.5, dtype=np.float32), max_dim=None)
    for step in (0, 10):
        record = stylelib.StepRecord(
            step=step, seconds=0.5 * step, total=10.0 / (step + 1), content=1.0, style=2.0, tv=0.0
        )
        view(step, image, record)
    assert bytes(view._image.value[:8]) == b"\x89PNG\r\n\x1a\n"
    assert bytes(view._plot.value[:8]) == b"\x89PNG\r\n\x1a\n"
    assert view._label.value.startswith("test run: step 10")
    assert [r.step for r in view.records] == [0, 10]
    capsys.readouterr()  # outside Jupyter, display() prints the widget's repr
