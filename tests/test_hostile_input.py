"""Hostile and mistaken image input: every bad case gets an ImageError naming the argument or file.

Covers ``as_image`` (what ``stylize`` uses for ``content`` and each ``style``), ``load_image`` on
the same arrays, and ``save_image`` on a full disk and a read-only folder, where the file that was
there must survive byte for byte and no temporary file may be left behind.
"""

from __future__ import annotations

import errno
import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import stylelib
import stylelib.images
from stylelib import ImageError

H, W = 40, 48  # small images: above MIN_SIDE (32 px), quick to check


def _grey(value: float = 0.5, dtype=np.float32, shape=(H, W, 3)) -> np.ndarray:
    return np.full(shape, value, dtype=dtype)


def _with(array: np.ndarray, index, value) -> np.ndarray:
    array = array.copy()
    array[index] = value
    return array


def _png_bytes(size=(W, H), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG")
    return buf.getvalue()


# (id, source, words the message must contain). Every source is bad for as_image.
BAD_SOURCES = [
    ("nan-array", _with(_grey(), (0, 0, 0), np.nan), ["1 of 5,760 values are not finite", "NaN"]),
    (
        "inf-array",
        _with(_with(_grey(dtype=np.float64), (1, 1, 1), np.inf), (2, 2, 2), -np.inf),
        ["2 of 5,760", "2 infinite"],
    ),
    (
        "nan-tensor",
        tf.constant(_with(_grey(shape=(1, H, W, 3)), (0, 0, 0, 0), np.nan)),
        ["1 of 5,760", "1 NaN"],
    ),
    (
        "0-255-floats",
        _grey(200.0),
        ["must be in [0, 1]", "min 200", "max 200", "0-255", "divide by 255 or pass uint8"],
    ),
    (
        "0-255-float-tensor",
        tf.constant(_with(_grey(0.0, shape=(1, H, W, 3)), (0, 5, 5, 1), 255.0)),
        ["min 0", "max 255", "divide by 255"],
    ),
    ("minus-one-to-one", _with(_grey(), (0, 0, 0), -1.0), ["min -1", "max 0.5", "(x + 1) / 2"]),
    ("slightly-negative", _with(_grey(), (0, 0, 0), -0.01), ["min -0.01", "[0, 1]"]),
    ("overshoot-1.01", _with(_grey(), (0, 0, 0), 1.01), ["max 1.01", "[0, 1]"]),
    ("way-out", _grey(1e6), ["max 1e+06"]),
    ("zero-height", np.zeros((0, W, 3), np.float32), ["no pixels", "(0, 48, 3)"]),
    ("zero-width-tensor", tf.zeros((1, H, 0, 3)), ["no pixels", "[1, 40, 0, 3]"]),
    ("zero-channels", np.zeros((H, W, 0), np.uint8), ["no pixels"]),
    ("empty-list", [], ["no pixels"]),
    ("int64-array", np.zeros((H, W, 3), np.int64), ["dtype int64", "uint8", ".astype(np.uint8)"]),
    ("uint16-array", np.zeros((H, W, 3), np.uint16), ["dtype uint16", "65535"]),
    ("bool-array", np.zeros((H, W, 3), bool), ["dtype bool"]),
    ("complex-array", np.zeros((H, W, 3), complex), ["dtype complex128"]),
    ("string-list", [["a", "b"], ["c", "d"]], ["dtype <U1"]),
    ("int32-tensor", tf.zeros((1, H, W, 3), tf.int32), ["tensor dtype int32", "tf.uint8"]),
    ("bool-tensor", tf.zeros((1, H, W, 3), tf.bool), ["tensor dtype bool"]),
    ("string-tensor", tf.constant([["a"]]), ["tensor dtype string"]),
    ("complex-tensor", tf.zeros((1, H, W, 3), tf.complex64), ["tensor dtype complex64"]),
    (
        "rgba-tensor",
        tf.zeros((1, H, W, 4)),
        ["4 channels", "RGBA", "x[..., :3]", "composited on white"],
    ),
    ("rgba-tensor-no-batch", tf.zeros((H, W, 4)), ["4 channels"]),
    ("grey-tensor", tf.zeros((1, H, W, 1)), ["[1, H, W, 3]", "[1, 40, 48, 1]"]),
    ("batch-tensor", tf.zeros((2, H, W, 3)), ["a batch of 2", "x[k:k + 1]"]),
    ("channels-first-tensor", tf.zeros((1, 3, H, W)), ["channels-first"]),
    ("channels-first-array", np.zeros((3, H, W), np.float32), ["channels-first", "np.transpose"]),
    ("two-channels", np.zeros((H, W, 2), np.float32), ["expected an array", "(40, 48, 2)"]),
    ("batch-array", np.zeros((2, H, W, 3), np.float32), ["a batch of 2"]),
    ("rank-1", np.zeros(10, np.float32), ["expected an array", "(10,)"]),
    ("ragged-list", [[0.1, 0.2], [0.3]], ["rectangular grid of numbers"]),
    ("small-tensor", tf.zeros((1, 20, W, 3)), ["48x20 px", "below the 32 px", "own size"]),
    ("none", None, ["unsupported image source type NoneType"]),
    ("number", 3.5, ["unsupported image source type float"]),
    ("empty-path", "", ["empty path"]),
    ("nul-in-path", "a\0b.png", ["not a usable path", "NUL"]),
    ("path-too-long", "x" * 5000, ["not a usable path"]),
    ("empty-bytes", b"", ["not an image"]),
    ("garbage-bytes", b"not a picture at all", ["not an image"]),
    ("empty-pil", Image.new("RGB", (0, 0)), ["no pixels", "0x0"]),
    (
        "pil-float-nan",
        Image.fromarray(np.full((H, W), np.nan, np.float32), mode="F"),
        ["1,920 of 1,920 values are not finite"],
    ),
    ("thin-png", _png_bytes(size=(100, 10)), ["100x10 px becomes 64x6 px", "shorter side"]),
]

#: load_image takes no argument name: its messages start with a description of the source.
ARRAY_IDS = {
    "nan-array",
    "inf-array",
    "0-255-floats",
    "minus-one-to-one",
    "slightly-negative",
    "overshoot-1.01",
    "way-out",
    "zero-height",
    "zero-channels",
    "int64-array",
    "uint16-array",
    "bool-array",
    "complex-array",
    "channels-first-array",
    "two-channels",
    "batch-array",
    "rank-1",
}


def _params(ids=None):
    return [
        pytest.param(source, words, id=case_id)
        for case_id, source, words in BAD_SOURCES
        if ids is None or case_id in ids
    ]


@pytest.mark.parametrize("name", ["content", "style[1]"])
@pytest.mark.parametrize("source, words", _params())
def test_as_image_refuses_bad_input_naming_the_argument(source, words, name):
    with pytest.raises(ImageError) as info:
        stylelib.as_image(source, max_dim=64, name=name)
    message = str(info.value)
    assert isinstance(info.value, ValueError)  # callers catching ValueError keep working
    assert message.startswith(f"{name}: ") and not message.startswith(f"{name}: {name}"), message
    for word in words:
        assert word in message, message
    assert "Traceback" not in message and info.value.__cause__ is None


@pytest.mark.parametrize("source, words", _params(ARRAY_IDS))
def test_load_image_refuses_the_same_arrays(source, words):
    with pytest.raises(ImageError) as info:
        stylelib.load_image(source, max_dim=64)
    message = str(info.value)
    assert message.startswith("<ndarray ("), message  # names the source: type and shape
    for word in words:
        assert word in message, message


def test_path_errors_name_the_argument_and_the_file(tmp_path):
    missing = tmp_path / "x.png"
    with pytest.raises(ImageError) as info:
        stylelib.as_image(missing, name="content")
    assert str(info.value) == f"content: '{missing}': no such file"
    with pytest.raises(ImageError, match=r"^style\[0\]: '.*': is a directory"):
        stylelib.as_image(tmp_path, name="style[0]")


def test_an_unreadable_file_is_not_called_corrupt(tmp_path, monkeypatch):
    path = tmp_path / "locked.png"
    Image.new("RGB", (W, H)).save(path)
    real_open = Image.open

    def denied(fp, *args, **kwargs):  # what a file without read permission gives a non-root user
        if str(fp) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", denied)
    with pytest.raises(ImageError) as info:
        stylelib.as_image(path, name="content")
    assert str(info.value) == f"content: '{path}': cannot read (Permission denied)"


def test_a_bad_max_dim_is_blamed_on_max_dim_not_on_the_image():
    with pytest.raises(ImageError) as info:
        stylelib.as_image(_grey(), max_dim=8, name="content")
    assert str(info.value).startswith("max_dim must be at least 32 px")
    with pytest.raises(ImageError, match="^max_dim"):  # checked for tensors too, though unused
        stylelib.as_image(tf.constant(_grey()), max_dim=-1, name="content")


# ---- good input -------------------------------------------------------------------------------


def _check_image(image, shape):
    assert isinstance(image, tf.Tensor) and image.dtype == tf.float32
    assert tuple(image.shape) == shape
    values = image.numpy()
    assert values.min() >= 0.0 and values.max() <= 1.0
    return values


def test_float64_array_is_resized_and_becomes_float32():
    array = np.random.default_rng(0).random((H, W, 3))  # float64
    values = _check_image(stylelib.as_image(array, max_dim=64, name="content"), (1, 53, 64, 3))
    assert abs(values.mean() - array.mean()) < 0.01


@pytest.mark.parametrize("shape", [(1, H, W, 3), (H, W, 3)])
def test_uint8_tensor_is_divided_by_255_and_kept_at_its_size(shape):
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    image = stylelib.as_image(tf.constant(pixels), max_dim=64, name="content")
    values = _check_image(image, (1, H, W, 3))  # not resized: tensors keep their size
    np.testing.assert_array_equal(values, pixels.reshape(1, H, W, 3) / np.float32(255.0))


@pytest.mark.parametrize("dtype", [tf.float16, tf.float32, tf.float64])
def test_float_tensors_and_variables_become_float32(dtype):
    pixels = np.random.default_rng(2).random((1, H, W, 3))
    for source in (tf.constant(pixels, dtype), tf.Variable(tf.constant(pixels, dtype))):
        values = _check_image(stylelib.as_image(source, name="content"), (1, H, W, 3))
        np.testing.assert_allclose(values, pixels, atol=1e-3)


@pytest.mark.parametrize(
    "overshoot", [1.0000001, 1.0 + stylelib.RANGE_TOLERANCE, -stylelib.RANGE_TOLERANCE]
)
@pytest.mark.parametrize("kind", ["array", "tensor", "load_image"])
def test_an_overshoot_within_half_a_uint8_step_is_clipped_silently(overshoot, kind):
    pixels = _with(_grey(0.5, shape=(1, H, W, 3)), (0, 3, 4, 1), overshoot)
    if kind == "array":
        image = stylelib.as_image(pixels[0], max_dim=None, name="content")
    elif kind == "tensor":
        image = stylelib.as_image(tf.constant(pixels), name="content")
    else:
        image = stylelib.load_image(pixels[0], max_dim=None)
    values = _check_image(image, (1, H, W, 3))
    assert values[0, 3, 4, 1] == (1.0 if overshoot > 0 else 0.0)


def test_just_beyond_the_tolerance_is_refused():
    pixels = _with(_grey(), (3, 4, 1), 1.0 + 2 * stylelib.RANGE_TOLERANCE)
    with pytest.raises(ImageError, match="^content: float pixels must be in"):
        stylelib.as_image(pixels, name="content")


def test_arrays_with_four_channels_are_rgba_composited_on_white():
    rgba = np.zeros((1, H, W, 4), np.float32)  # black, fully transparent
    rgba[0, :, : W // 2, 3] = 1.0  # left half opaque black
    values = _check_image(stylelib.as_image(rgba, max_dim=None, name="style"), (1, H, W, 3))
    assert values[0, :, : W // 2].max() == 0.0 and values[0, :, W // 2 :].min() == 1.0


def test_a_nested_list_of_python_numbers_is_read_as_floats_in_unit_range():
    pixels = [[[0, 1, 0]] * W] * H  # Python ints 0 and 1, as floats in [0, 1]
    values = _check_image(stylelib.as_image(pixels, max_dim=None, name="content"), (1, H, W, 3))
    np.testing.assert_array_equal(values[0, 0, 0], [0, 1, 0])


def test_paths_bytes_and_pil_images_go_through_load_image(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGBA", (W, H), (255, 0, 0, 0)).save(path)  # transparent red -> white
    for source in (path, str(path), path.read_bytes(), Image.open(path)):
        values = _check_image(stylelib.as_image(source, max_dim=96, name="style"), (1, 80, 96, 3))
        assert values.min() == 1.0


# ---- saving: a full disk, a read-only folder ----------------------------------------------------


def _listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def existing(tmp_path):
    """A saved image at tmp_path/'result.png' and its bytes, which a failed save must keep."""
    path = stylelib.save_image(_grey(0.25), tmp_path / "result.png")
    return path, path.read_bytes()


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["pil-save", "fsync", "replace", "create"])
def test_a_full_disk_keeps_the_existing_file_and_leaves_no_temporary_file(
    existing, monkeypatch, where
):
    path, before = existing
    if where == "pil-save":

        def half_then_full(self, fp, format=None, **params):
            fp.write(b"half an image")
            _disk_full()

        monkeypatch.setattr(Image.Image, "save", half_then_full)
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", _disk_full)
    elif where == "replace":
        monkeypatch.setattr(os, "replace", _disk_full)
    else:
        monkeypatch.setattr(stylelib.images, "_create_beside", _disk_full)
    with pytest.raises(ImageError) as info:
        stylelib.save_image(_grey(0.75), path)
    message = str(info.value)
    assert message.startswith(f"'{path}': ") and "No space left on device" in message, message
    assert path.read_bytes() == before
    assert _listing(path.parent) == ["result.png"]  # no .result.png.*.tmp left behind


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="root writes into a 0o555 folder anyway; the simulated test below covers it",
)
def test_a_read_only_folder_refuses_the_save_and_keeps_the_file(existing):
    path, before = existing
    os.chmod(path.parent, 0o555)
    try:
        with pytest.raises(ImageError, match="Permission denied") as info:
            stylelib.save_image(_grey(0.75), path)
        assert str(path.parent) in str(info.value)
        assert path.read_bytes() == before and _listing(path.parent) == ["result.png"]
    finally:
        os.chmod(path.parent, 0o755)


def test_a_read_only_folder_simulated(existing, monkeypatch):
    path, before = existing
    real_open = os.open

    def read_only_folder(name, flags, *args, **kwargs):  # what os.open gives in a 0o555 folder
        if os.path.dirname(os.fspath(name)) == str(path.parent) and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_folder)
    with pytest.raises(ImageError) as info:
        stylelib.save_image(_grey(0.75), path)
    assert str(info.value) == (
        f"'{path}': cannot create a file in the folder '{path.parent}' (Permission denied); "
        "nothing was written"
    )
    monkeypatch.undo()
    assert path.read_bytes() == before and _listing(path.parent) == ["result.png"]


@pytest.mark.parametrize(
    "image, words",
    [
        (_with(_grey(), (0, 0, 0), np.nan), ["1 of 5,760 values are not finite"]),
        (np.zeros((0, W, 3), np.float32), ["no pixels"]),
        (np.zeros((H, W, 3), np.int64), ["dtype int64"]),
        (np.zeros((H, W, 4), np.float32), ["expected an image shaped"]),
    ],
    ids=["nan", "zero-size", "int64", "four-channels"],
)
def test_a_bad_image_is_not_saved_over_a_good_file(existing, image, words):
    path, before = existing
    with pytest.raises(ImageError) as info:
        stylelib.save_image(image, path)
    message = str(info.value)
    assert message.startswith(f"'{path}': the image to save: "), message
    for word in words:
        assert word in message, message
    assert path.read_bytes() == before and _listing(path.parent) == ["result.png"]


@pytest.mark.parametrize("quality", [0, 101, 50.5, True, "95"])
def test_a_bad_jpeg_quality_names_the_argument(tmp_path, quality):
    with pytest.raises(ImageError, match="^quality must be a whole number from 1 to 100"):
        stylelib.save_image(_grey(), tmp_path / "out.jpg", quality=quality)
    assert _listing(tmp_path) == []


# ---- stylize ----------------------------------------------------------------------------------


def test_stylize_names_content_when_its_tensor_holds_a_nan():
    content = tf.constant(_with(_grey(shape=(1, 64, 64, 3)), (0, 1, 2, 0), np.nan))
    style = stylelib.as_image(np.random.default_rng(4).random((64, 64, 3)), max_dim=64)
    with pytest.raises(ValueError, match="^content: 1 of 12,288 values are not finite"):
        stylelib.stylize(content=content, style=style, steps=1, weights="random", max_dim=64)
