"""load_image / save_image on images the tests make themselves."""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import stylelib
from stylelib import ImageError


def _png_bytes(image: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def test_result_is_float32_batch_of_one_in_unit_range(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (100, 50), (255, 0, 10)).save(path)
    image = stylelib.load_image(path, max_dim=None)
    assert image.dtype.name == "float32" and tuple(image.shape) == (1, 50, 100, 3)
    np.testing.assert_allclose(image[0, 0, 0].numpy(), [1.0, 0.0, 10 / 255], atol=1e-6)


def test_resize_keeps_aspect_ratio_and_scales_the_longer_side(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (300, 120)).save(path)
    assert tuple(stylelib.load_image(path, max_dim=100).shape) == (1, 40, 100, 3)
    assert tuple(stylelib.load_image(str(path), max_dim=600).shape) == (1, 240, 600, 3)


def _mode_images():
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 0))  # fully transparent red
    p_transparent = Image.new("P", (40, 40), 0)
    p_transparent.putpalette([10, 20, 30] * 256)
    p_transparent.info["transparency"] = 0
    i16 = Image.fromarray(np.full((40, 40), 65535, dtype=np.uint16))  # white at 16 bits
    return {
        "L": (Image.new("L", (40, 40), 128), (128, 128, 128)),
        "LA": (Image.new("LA", (40, 40), (0, 0)), (255, 255, 255)),
        "1": (Image.new("1", (40, 40), 1), (255, 255, 255)),
        "P": (Image.new("P", (40, 40), 0).convert("P"), (0, 0, 0)),
        "P+transparency": (p_transparent, (255, 255, 255)),
        "RGBA": (rgba, (255, 255, 255)),
        "RGBA opaque": (Image.new("RGBA", (40, 40), (0, 0, 255, 255)), (0, 0, 255)),
        "CMYK": (Image.new("CMYK", (40, 40), (0, 0, 0, 0)), (255, 255, 255)),
        "I;16": (i16, (255, 255, 255)),
        "I": (Image.new("I", (40, 40), 32767), (127, 127, 127)),
        "F": (Image.new("F", (40, 40), 0.5), (128, 128, 128)),
        "YCbCr": (Image.new("YCbCr", (40, 40), (255, 128, 128)), (255, 255, 255)),
    }


@pytest.mark.parametrize("mode", list(_mode_images()))
def test_every_pillow_mode_becomes_rgb(mode):
    image, expected_rgb = _mode_images()[mode]
    loaded = stylelib.load_image(image, max_dim=None)
    assert tuple(loaded.shape) == (1, 40, 40, 3)
    pixel = np.round(loaded[0, 5, 5].numpy() * 255)
    np.testing.assert_allclose(pixel, expected_rgb, atol=1)


@pytest.mark.parametrize("mode", ["LA", "RGBA", "P+transparency", "I;16"])
def test_modes_survive_a_round_trip_through_png_bytes(mode):
    image, expected_rgb = _mode_images()[mode]
    loaded = stylelib.load_image(_png_bytes(image), max_dim=None)
    np.testing.assert_allclose(np.round(loaded[0, 0, 0].numpy() * 255), expected_rgb, atol=1)


def test_exif_orientation_is_applied(tmp_path):
    # A 60x40 image whose left half is red, stored with "rotate 90 CW to display" (orientation 6).
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[:, :30] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=95)
    loaded = stylelib.load_image(path, max_dim=None).numpy()[0]
    assert loaded.shape == (60, 40, 3)  # displayed upright: taller than wide
    assert loaded[5, 20, 0] > 0.9 and loaded[55, 20, 0] < 0.1  # red is now on top


def test_arrays_bytes_and_pil_images_are_accepted():
    array = np.zeros((40, 50, 3), dtype=np.uint8)
    array[..., 1] = 255
    for source in (
        array,
        array.astype(np.float32) / 255,
        Image.fromarray(array),
        _png_bytes(Image.fromarray(array)),
        array[None],
    ):
        loaded = stylelib.load_image(source, max_dim=None)
        assert tuple(loaded.shape) == (1, 40, 50, 3)
        np.testing.assert_allclose(loaded[0, 0, 0].numpy(), [0, 1, 0])


def _expect_error(source, *words, **kwargs):
    with pytest.raises(ImageError) as info:
        stylelib.load_image(source, **kwargs)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert isinstance(info.value, ValueError)
    return message


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    _expect_error(path, str(path), "no such file")


def test_directory(tmp_path):
    _expect_error(tmp_path, str(tmp_path), "directory")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    _expect_error(path, str(path), "not an image")


def test_truncated_image(tmp_path):
    data = _png_bytes(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    )
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, str(path), "truncated or corrupt")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size but carries almost no data (a decompression-bomb shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_too_many_pixels_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(50_000, 50_000))
    _expect_error(path, str(path), "too many pixels", "MAX_PIXELS")


def test_documented_pixel_limit_applies(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (200, 100)).save(path)
    monkeypatch.setattr(stylelib.images, "MAX_PIXELS", 10_000)
    _expect_error(path, str(path), "200x100", "20,000 pixels", "10,000")


def test_too_small_for_the_network(tmp_path):
    path = tmp_path / "strip.png"
    Image.new("RGB", (400, 20)).save(path)
    _expect_error(path, str(path), "shorter side", "32 px", max_dim=None)
    # A 1000x40 strip is fine at full size but too thin once scaled to 512 px wide.
    Image.new("RGB", (1000, 40)).save(path)
    assert stylelib.load_image(path, max_dim=None).shape[1] == 40
    _expect_error(path, "512x20", max_dim=512)


def test_bad_arrays_and_arguments():
    _expect_error(np.zeros((10, 10, 2)), "expected an array")
    _expect_error(np.full((40, 40, 3), np.nan, dtype=np.float32), "NaN")
    _expect_error(np.zeros((40, 40, 3), dtype=np.int64), "dtype")
    _expect_error(12345, "unsupported image source")


@pytest.mark.parametrize(
    "max_dim, words",
    [
        (10, ["max_dim must be at least 32 px", "got 10"]),
        (31, ["at least 32 px"]),
        (64.0, ["whole number", "64.0"]),
        (True, ["whole number", "True"]),
    ],
)
def test_bad_max_dim_names_the_argument_not_the_image(tmp_path, max_dim, words):
    path = tmp_path / "fine.png"
    Image.new("RGB", (64, 64)).save(path)
    with pytest.raises(ImageError) as info:  # an ImageError (a ValueError) as before ...
        stylelib.load_image(path, max_dim=max_dim)
    message = str(info.value)
    assert str(path) not in message and message.startswith("max_dim")  # ... blaming the argument
    for word in words:
        assert word in message, message
    assert stylelib.load_image(path, max_dim=np.int64(32)).shape == (1, 32, 32, 3)


def test_save_and_reload_png_is_exact(tmp_path):
    image = stylelib.load_image(np.random.default_rng(3).random((40, 48, 3)), max_dim=None)
    path = stylelib.save_image(image, tmp_path / "deep" / "er" / "out.png")
    assert path.exists()
    again = stylelib.load_image(path, max_dim=None)
    np.testing.assert_allclose(again.numpy(), image.numpy(), atol=0.5 / 255 + 1e-6)


def test_save_jpeg_and_clipping(tmp_path):
    values = np.full((1, 40, 40, 3), 2.0, dtype=np.float32)  # out of range: clipped to white
    path = stylelib.save_image(values, tmp_path / "out.JPG")
    with Image.open(path) as written:
        assert written.format == "JPEG"
        assert written.getpixel((3, 3)) == (255, 255, 255)


def test_save_rejects_unknown_extension(tmp_path):
    with pytest.raises(ImageError, match="unsupported extension '.gif'"):
        stylelib.save_image(np.zeros((40, 40, 3)), tmp_path / "out.gif")
    assert not (tmp_path / "out.gif").exists()


def test_interrupted_save_keeps_the_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    path.write_bytes(b"precious")

    def broken_save(self, fp, format=None, **params):
        fp.write(b"half an image")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        stylelib.save_image(np.zeros((40, 40, 3)), path)
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]  # no temporary file left


def test_save_over_an_existing_file_replaces_it_whole(tmp_path):
    path = tmp_path / "out.png"
    stylelib.save_image(np.zeros((40, 40, 3)), path)
    stylelib.save_image(np.ones((40, 40, 3)), path)
    assert stylelib.load_image(path, max_dim=None).numpy().min() == 1.0
    assert [p.name for p in Path(tmp_path).iterdir()] == ["out.png"]


@pytest.fixture
def umask():
    """Set the process umask for one test: ``umask(0o077)``; the old one is restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("name", ["new.png", "new.jpg"])
def test_new_files_get_the_permissions_open_would_give(tmp_path, umask, mask, expected, name):
    umask(mask)
    path = stylelib.save_image(np.zeros((40, 40, 3)), tmp_path / "sub" / name)
    assert _mode(path) == expected == 0o666 & ~mask
    with open(tmp_path / "plain.txt", "w") as plain:  # what an ordinary open() gives
        plain.write("x")
    assert _mode(path) == _mode(tmp_path / "plain.txt")


def test_replacing_a_file_keeps_its_permissions(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "shared.png"
    stylelib.save_image(np.zeros((40, 40, 3)), path)
    os.chmod(path, 0o664)  # e.g. group-writable in a class folder
    stylelib.save_image(np.ones((40, 40, 3)), path)
    assert _mode(path) == 0o664
    assert stylelib.load_image(path, max_dim=None).numpy().min() == 1.0
    os.chmod(path, 0o600)  # private stays private whatever the umask
    umask(0o000)
    stylelib.save_image(np.zeros((40, 40, 3)), path)
    assert _mode(path) == 0o600


def test_the_file_appears_whole_and_with_its_final_permissions(tmp_path, umask, monkeypatch):
    umask(0o027)
    path = tmp_path / "out.png"
    seen = []
    real_replace = os.replace

    def spy(src, dst):  # the renamed file must already be complete and have its final mode
        seen.append((_mode(src), Image.open(src).size))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    stylelib.save_image(np.zeros((40, 48, 3)), path)
    assert seen == [(0o640, (48, 40))] and _mode(path) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    stylelib.save_image(np.zeros((40, 40, 3)), path)
    os.chmod(path, 0o640)
    before = path.read_bytes()

    def disk_full(self, fp, format=None, **params):
        fp.write(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(ImageError, match="keep.png': cannot write .No space left on device"):
        stylelib.save_image(np.ones((40, 40, 3)), path)
    assert path.read_bytes() == before and _mode(path) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_saving_through_a_symbolic_link_keeps_the_link(tmp_path):
    real = tmp_path / "gallery" / "result.png"
    stylelib.save_image(np.zeros((40, 40, 3)), real)
    link = tmp_path / "latest.png"
    link.symlink_to(real)
    stylelib.save_image(np.ones((40, 40, 3)), link)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert stylelib.load_image(real, max_dim=None).numpy().min() == 1.0


def test_a_read_only_file_is_not_replaced(tmp_path, monkeypatch):
    path = tmp_path / "protected.png"
    stylelib.save_image(np.zeros((40, 40, 3)), path)
    os.chmod(path, 0o444)
    if os.name == "posix" and os.geteuid() == 0:  # root may write anything: answer as a user would
        monkeypatch.setattr(os, "access", lambda p, mode: not (mode & os.W_OK))
    before = path.read_bytes()
    with pytest.raises(ImageError, match="read-only"):
        stylelib.save_image(np.ones((40, 40, 3)), path)
    assert path.read_bytes() == before
