"""Reading and writing images as float tensors.

Every image in stylelib is a ``tf.Tensor`` of dtype float32 and shape ``[1, H, W, 3]`` (a batch of
one, height, width, RGB) with values in [0, 1]. Introduced in notebook 01.
"""

from __future__ import annotations

import io
import os
import secrets
import stat
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ._tf import tf
from .errors import ImageError

#: Images with more pixels than this are refused before they are decoded (decompression bombs).
#: 100 megapixels is about a 10,000 x 10,000 photograph, far beyond what style transfer can use.
MAX_PIXELS = 100_000_000

#: The shorter side must be at least this many pixels after resizing. VGG19 halves the resolution
#: four times before ``block5_conv1``, so 32 px leaves a 2 x 2 feature map there.
MIN_SIDE = 32

ImageSource = Union[str, os.PathLike, bytes, "Image.Image", np.ndarray, "tf.Tensor"]

_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _describe(source) -> str:
    """A short name for an image source, for error messages."""
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.mode} {source.size[0]}x{source.size[1]}>"
    return f"<{type(source).__name__} {getattr(source, 'shape', '')}>"


def _open(source) -> Image.Image:
    """Open ``source`` as a fully decoded PIL image, or raise ImageError naming it."""
    name = _describe(source)
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageError(f"{name}: no such file")
        if path.is_dir():
            raise ImageError(f"{name}: is a directory, not an image file")
        stream = path
    elif isinstance(source, (bytes, bytearray)):
        stream = io.BytesIO(source)
    else:
        raise ImageError(f"{name}: unsupported image source type {type(source).__name__}")
    try:
        with warnings.catch_warnings():
            # We apply our own documented limit (MAX_PIXELS) below, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"{name}: {width}x{height} px is {width * height:,} pixels, more than the "
                    f"limit of {MAX_PIXELS:,} (stylelib.images.MAX_PIXELS); refusing to decode it"
                )
            image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{name}: too many pixels, refused before decoding ({exc}); stylelib's own limit is "
            f"{MAX_PIXELS:,} pixels (stylelib.images.MAX_PIXELS)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: truncated or corrupt image data ({exc})") from None
    return image


def _array_to_pil(array: np.ndarray, name: str) -> Image.Image:
    """uint8 or float [0, 1] arrays shaped [H, W], [H, W, 1|3|4] or [1, H, W, 3] -> PIL image."""
    array = np.asarray(array)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageError(
            f"{name}: expected an array shaped [H, W], [H, W, 3], [H, W, 4] or [1, H, W, 3], "
            f"got {array.shape}"
        )
    if array.dtype == np.uint8:
        data = array
    elif np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ImageError(f"{name}: array contains NaN or infinite values")
        data = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise ImageError(
            f"{name}: array dtype must be uint8 (0-255) or float (0-1), got {array.dtype}"
        )
    return Image.fromarray(np.ascontiguousarray(data))  # uint8 [H, W] -> L, [H, W, 3|4] -> RGB(A)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white.

    High-bit-depth greyscale (``I;16``, ``I``, ``F``) is rescaled rather than clipped at 255.
    Introduced in notebook 01.
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 65535.0
        elif mode == "F" and values.max(initial=0) <= 1.0:
            pass  # already in [0, 1]
        else:
            values = values / 255.0
        grey = np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
        mode == "P" and "transparency" in image.info
    )
    if mode in ("L", "P", "1") and not has_alpha:
        return image.convert("RGB")
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, ...


def _check_max_dim(max_dim: int | None, name: str = "max_dim") -> None:
    """Unless ``max_dim`` is None or a whole number >= MIN_SIDE, ImageError naming ``name``.

    (ImageError, a ValueError, as before, so that code catching it keeps working; the message
    names the argument, not the image, which is not at fault.)
    """
    if max_dim is None:
        return
    if isinstance(max_dim, bool) or not isinstance(max_dim, (int, np.integer)):
        raise ImageError(f"{name} must be a whole number of pixels or None, got {max_dim!r}")
    if max_dim < MIN_SIDE:
        raise ImageError(
            f"{name} must be at least {MIN_SIDE} px (VGG19 halves the image 4 times before "
            f"block5_conv1, leaving 2 x 2 there), got {max_dim}"
        )


def load_image(source: ImageSource, max_dim: int | None = 512) -> tf.Tensor:
    """Load an image as float32 ``[1, H, W, 3]`` in [0, 1].

    Args:
        source: a path (``str`` or ``pathlib.Path``), encoded file bytes, a PIL image, or an array
            (uint8 0-255 or float 0-1, shaped [H, W], [H, W, 3|4] or [1, H, W, 3]).
        max_dim: the longer side after resizing, in pixels; the aspect ratio is kept. Images are
            scaled down or up to it. ``None`` keeps the original size.

    Applies the EXIF orientation, converts every Pillow mode to RGB (alpha composited on white),
    and resizes with a Lanczos filter *before* the pixels become a tensor.

    Raises:
        ImageError: naming the source, for a missing file, a directory, data that is not an
            image, truncated or corrupt data, more than ``MAX_PIXELS`` pixels, or a shorter side
            below ``MIN_SIDE`` pixels after resizing.
            Also (naming ``max_dim``, not the source) when ``max_dim`` is neither None nor a
            whole number >= ``MIN_SIDE``.

    Introduced in notebook 01.
    """
    _check_max_dim(max_dim)
    name = _describe(source)
    if isinstance(source, np.ndarray) or type(source).__module__.startswith("tensorflow"):
        image = _array_to_pil(np.asarray(source), name)
    else:
        image = _open(source)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block should not make an otherwise good image unusable
        pass
    image = to_rgb(image)
    width, height = image.size
    if max_dim is not None and max(width, height) != max_dim:
        scale = max_dim / max(width, height)
        new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(new_size, Image.Resampling.LANCZOS)
    if min(image.size) < MIN_SIDE:
        raise ImageError(
            f"{name}: {width}x{height} px becomes {image.size[0]}x{image.size[1]} px, whose shorter "
            f"side is below the {MIN_SIDE} px VGG19 needs (stylelib.images.MIN_SIDE)"
        )
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    return tf.constant(pixels[np.newaxis])


def to_uint8(image) -> np.ndarray:
    """float [1, H, W, 3] or [H, W, 3] in [0, 1] (tensor or array) -> uint8 numpy [H, W, 3].

    Values outside [0, 1] are clipped. Introduced in notebook 01.
    """
    array = np.asarray(image)
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ImageError(f"expected a batch of one image, got shape {array.shape}")
        array = array[0]
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ImageError(f"expected an image shaped [1, H, W, 3] or [H, W, 3], got {array.shape}")
    if array.dtype == np.uint8:
        return array
    return np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def _create_beside(target: Path) -> tuple[int, str]:
    """A new empty file next to ``target``, opened for writing: (descriptor, name).

    It is created the way ``open(target, "w")`` creates a file, with mode 0o666 less the umask,
    not with the 0o600 of ``tempfile`` (which would leave a renamed result unreadable to others).
    """
    while True:
        name = os.path.join(target.parent, f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(name, flags, 0o666), name
        except FileExistsError:  # 48 random bits: a clash is practically impossible; retry
            continue


def save_image(image, path: str | os.PathLike, *, quality: int = 95) -> Path:
    """Write an image to ``path`` as PNG or JPEG (chosen by the extension), atomically.

    Args:
        image: float32 [1, H, W, 3] or [H, W, 3] in [0, 1] (values outside are clipped), or uint8.
        path: where to write; missing parent folders are created.
        quality: JPEG quality (1-95); ignored for PNG.

    The pixels go to a temporary file in the same folder, which is then renamed over ``path``, so an
    interrupted save never leaves a half-written file nor destroys an existing one. Permissions are
    those an ordinary ``open(path, "w")`` gives: a new file gets 0o666 less the umask (0o644 with
    the usual umask 022); replacing a file keeps its permission bits (its owner becomes whoever
    saves). A symbolic link is written through, like ``open`` does, and stays a link. A file the
    user may not write is refused, as ``open`` would refuse it.
    Returns the path written. Introduced in notebook 01.
    """
    target = Path(path)
    fmt = _SAVE_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"'{target}': unsupported extension '{target.suffix}'; use one of "
            + ", ".join(sorted(_SAVE_FORMATS))
        )
    if target.is_dir():
        raise ImageError(f"'{target}': is a directory")
    pil = Image.fromarray(np.ascontiguousarray(to_uint8(image)))
    real = Path(os.path.realpath(target))  # through symbolic links, as open() writes
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"'{target}': cannot create its folder ({exc.strerror})") from None
    existing = real.stat() if real.exists() else None
    if existing is not None and not os.access(real, os.W_OK):
        raise ImageError(f"'{target}': cannot write (the existing file is read-only)")
    options = {"quality": quality} if fmt == "JPEG" else {}
    tmp_name = None
    try:
        fd, tmp_name = _create_beside(real)
        with os.fdopen(fd, "wb") as tmp:
            pil.save(tmp, format=fmt, **options)
            tmp.flush()
            os.fsync(tmp.fileno())
        if existing is not None:
            os.chmod(tmp_name, stat.S_IMODE(existing.st_mode) & 0o777)
        os.replace(tmp_name, real)
    except OSError as exc:
        raise ImageError(f"'{target}': cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target
