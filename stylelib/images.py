"""Reading and writing images as float tensors.

Every image in stylelib is a ``tf.Tensor`` of dtype float32 and shape ``[1, H, W, 3]`` (a batch of
one, height, width, RGB) with values in [0, 1]. Introduced in notebook 01.
"""

from __future__ import annotations

import contextlib
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
    """A short name for an image source, for error messages (long paths are shortened)."""
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        return f"'{text}'" if len(text) <= 200 else f"'{text[:100]}...{text[-60:]}'"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.mode} {source.size[0]}x{source.size[1]}>"
    shape = getattr(source, "shape", None)
    return (
        f"<{type(source).__name__} {tuple(shape)}>"
        if shape is not None
        else f"<{type(source).__name__}>"
    )


def _open(source, name: str) -> Image.Image:
    """Open ``source`` as a fully decoded PIL image, or raise ImageError whose message starts
    with ``name`` (a description of the source, possibly prefixed with the argument's name)."""
    if isinstance(source, Image.Image):
        if source.width == 0 or source.height == 0:
            raise ImageError(f"{name}: has no pixels ({source.width}x{source.height})")
        return source
    if isinstance(source, (str, os.PathLike)):
        if os.fspath(source) in ("", b""):
            raise ImageError(f"{name}: an empty path names no file")
        if "\0" in os.fsdecode(source):
            raise ImageError(f"{name}: not a usable path (it contains a NUL character)")
        path = Path(os.fsdecode(source))
        try:
            exists, is_dir = path.exists(), path.is_dir()
        except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the file system
            reason = getattr(exc, "strerror", None) or exc
            raise ImageError(f"{name}: not a usable path ({reason})") from None
        if not exists:
            raise ImageError(f"{name}: no such file")
        if is_dir:
            raise ImageError(f"{name}: is a directory, not an image file")
        stream = path
    elif isinstance(source, (bytes, bytearray, memoryview)):
        stream = io.BytesIO(bytes(source))
    else:
        raise ImageError(
            f"{name}: unsupported image source type {type(source).__name__}; expected a path, "
            "encoded file bytes, a PIL image, a numpy array, a nested list or a tf.Tensor"
        )
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
    except PermissionError as exc:
        raise ImageError(f"{name}: cannot read ({exc.strerror or exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: truncated or corrupt image data ({exc})") from None
    if image.width == 0 or image.height == 0:
        raise ImageError(f"{name}: has no pixels ({image.width}x{image.height})")
    return image


#: Floats may overshoot [0, 1] by this much (half a uint8 step, 1/510) and are then clipped
#: silently: such values round to 0 or 255 anyway, and resizing or arithmetic produces them.
#: Anything further out is refused, because clipping it would change the picture.
RANGE_TOLERANCE = 0.5 / 255.0


def _check_dtype(dtype: np.dtype, name: str) -> None:
    """ImageError naming ``name`` unless ``dtype`` is uint8 (0-255) or a float type (0-1)."""
    if dtype == np.uint8 or np.issubdtype(dtype, np.floating):
        return
    if dtype == np.bool_:
        hint = "; convert with .astype(np.float32) if True means white"
    elif np.issubdtype(dtype, np.integer):
        hint = (
            "; for 0-255 values use .astype(np.uint8), for 16-bit data divide by 65535.0 "
            "(float 0-1)"
        )
    else:
        hint = ""
    raise ImageError(
        f"{name}: pixel dtype {dtype} is not supported; use uint8 (0-255) or float (0-1){hint}"
    )


def _check_finite(array: np.ndarray, name: str) -> None:
    """ImageError naming ``name`` and counting them if ``array`` holds NaN or infinite values."""
    finite = np.isfinite(array)
    if not finite.all():
        nan = int(np.isnan(array).sum())
        inf = int(array.size - finite.sum()) - nan
        raise ImageError(
            f"{name}: {nan + inf:,} of {array.size:,} values are not finite ({nan:,} NaN, "
            f"{inf:,} infinite); pixels must be numbers in [0, 1]"
        )


def _check_values(array: np.ndarray, name: str) -> np.ndarray:
    """Pixels of a supported dtype -> uint8 as is, or float32 in [0, 1].

    Floats must be finite and within [0, 1] up to ``RANGE_TOLERANCE``, which is clipped away;
    otherwise ImageError naming ``name``, with the count of non-finite values or the min and max.
    """
    if array.dtype == np.uint8:
        return array
    _check_finite(array, name)
    low, high = array.min(), array.max()
    tolerance = np.asarray(RANGE_TOLERANCE, dtype=array.dtype)  # -1/510 in float32 is -1/510
    if low < -tolerance or high > 1 + tolerance:
        low, high = float(low), float(high)
        hint = ""
        if 1.5 < high <= 255.0 and low >= -RANGE_TOLERANCE:
            hint = "; this looks like 0-255 data: divide by 255 or pass uint8"
        elif low >= -1.0 - RANGE_TOLERANCE and high <= 1.0 + RANGE_TOLERANCE:
            hint = "; this looks like [-1, 1] data: use (x + 1) / 2"
        raise ImageError(
            f"{name}: float pixels must be in [0, 1] (uint8: 0-255), found min {low:.6g} and "
            f"max {high:.6g}{hint}"
        )
    return np.clip(array, 0.0, 1.0).astype(np.float32, copy=False)


def _check_not_empty(array: np.ndarray, name: str) -> None:
    if array.size == 0:
        raise ImageError(f"{name}: has no pixels (shape {array.shape})")


def _looks_channels_first(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4)


def _array_to_pil(array: np.ndarray, name: str) -> Image.Image:
    """uint8 or float [0, 1] arrays shaped [H, W], [H, W, 1|3|4] or [1, H, W, 1|3|4] -> PIL image.

    Four channels are RGBA (composited on white later, by ``to_rgb``). Raises ImageError starting
    with ``name`` for a bad dtype, no pixels, a bad shape, NaN/infinite or out-of-range values.
    """
    array = np.asarray(array)
    _check_dtype(array.dtype, name)
    _check_not_empty(array, name)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        hint = ""
        if array.ndim == 4:
            hint = f"; a batch of {array.shape[0]} images: pass one, e.g. images[k]"
        elif _looks_channels_first(array.shape):
            hint = "; this looks channels-first [C, H, W]: use np.transpose(a, (1, 2, 0))"
        raise ImageError(
            f"{name}: expected an array shaped [H, W], [H, W, 3], [H, W, 4] or [1, H, W, 3], "
            f"got {array.shape}{hint}"
        )
    pixels = _check_values(array, name)
    if pixels.dtype != np.uint8:
        pixels = np.round(pixels * 255.0).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(pixels))  # [H, W] -> L, [H, W, 3|4] -> RGB(A)


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


def _is_tensor(source) -> bool:
    return isinstance(source, (tf.Tensor, tf.Variable))


def _is_array_like(source) -> bool:
    """numpy arrays, TensorFlow tensors and other objects numpy can read (``__array__``)."""
    return (
        isinstance(source, np.ndarray)
        or type(source).__module__.startswith("tensorflow")
        or (hasattr(source, "__array__") and not isinstance(source, Image.Image))
    )


def _load(source, max_dim: int | None, name: str) -> tf.Tensor:
    """load_image's work; every ImageError about the image starts with ``name``."""
    _check_max_dim(max_dim)
    if _is_array_like(source):
        try:
            array = np.asarray(source)
        except Exception as exc:  # e.g. a ragged or sparse tensor numpy cannot convert
            raise ImageError(f"{name}: cannot be read as an array of pixels ({exc})") from None
        image = _array_to_pil(array, name)
    else:
        image = _open(source, name)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block should not make an otherwise good image unusable
        pass
    if image.mode == "F":  # 32-bit float greyscale (0-1 or 0-255, see to_rgb): finite only
        _check_finite(np.asarray(image), name)
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


def load_image(source: ImageSource, max_dim: int | None = 512) -> tf.Tensor:
    """Load an image as float32 ``[1, H, W, 3]`` in [0, 1].

    Args:
        source: a path (``str`` or ``pathlib.Path``), encoded file bytes, a PIL image, or an array
            or tensor (uint8 0-255 or float 0-1, shaped [H, W], [H, W, 1|3|4] or [1, H, W, 1|3|4];
            4 channels are RGBA).
        max_dim: the longer side after resizing, in pixels; the aspect ratio is kept. Images are
            scaled down or up to it. ``None`` keeps the original size.

    Applies the EXIF orientation, converts every Pillow mode to RGB (alpha composited on white),
    and resizes with a Lanczos filter *before* the pixels become a tensor. Float values that
    overshoot [0, 1] by at most half a uint8 step (``RANGE_TOLERANCE`` = 1/510) are clipped.

    Raises:
        ImageError: naming the source, for a missing or unreadable file, a directory, an empty
            or unusable path, data that is not an image, truncated or corrupt data, more than
            ``MAX_PIXELS`` pixels, an image or array with no pixels, an array of another dtype
            than uint8 or float, of another shape, with NaN or infinite values or with values
            outside [0, 1] beyond the tolerance (the message gives the min and max), or a
            shorter side below ``MIN_SIDE`` pixels after resizing.
            Also (naming ``max_dim``, not the source) when ``max_dim`` is neither None nor a
            whole number >= ``MIN_SIDE``.

    Introduced in notebook 01.
    """
    return _load(source, max_dim, _describe(source))


def _tensor_image(source, name: str) -> tf.Tensor:
    """as_image for a tf.Tensor or tf.Variable: checked, cast to float32, never resized."""
    dtype = source.dtype
    if not (dtype == tf.uint8 or dtype.is_floating):
        hint = ""
        if dtype == tf.bool:
            hint = "; convert with tf.cast(x, tf.float32) if True means white"
        elif dtype.is_integer:
            hint = "; for 0-255 values use tf.cast(x, tf.uint8)"
        raise ImageError(
            f"{name}: tensor dtype {dtype.name} is not supported; use uint8 (0-255) or float "
            f"(0-1){hint}"
        )
    shape = tuple(source.shape)
    if any(side == 0 for side in shape):
        raise ImageError(f"{name}: has no pixels (shape {list(shape)})")
    if len(shape) == 3 and shape[-1] in (3, 4):
        shape = (1, *shape)  # [H, W, C]: add the batch axis
    if len(shape) == 4 and shape[0] == 1 and shape[-1] == 4:
        raise ImageError(
            f"{name}: the tensor has 4 channels (RGBA?), stylelib needs 3 (RGB): drop the alpha "
            f"channel with x[..., :3], or pass it as a numpy array, file or PIL image, where "
            f"alpha is composited on white"
        )
    if len(shape) != 4 or shape[0] != 1 or shape[-1] != 3:
        hint = ""
        if len(shape) == 4 and shape[0] != 1 and shape[-1] == 3:
            hint = f"; a batch of {shape[0]} images: pass one, e.g. x[k:k + 1]"
        elif len(shape) in (3, 4) and _looks_channels_first(shape[-3:]):
            hint = "; this looks channels-first: use tf.transpose to put channels last"
        raise ImageError(
            f"{name}: expected a tensor shaped [1, H, W, 3] or [H, W, 3], got "
            f"{list(source.shape)}{hint}"
        )
    height, width = shape[1], shape[2]
    if min(height, width) < MIN_SIDE:
        raise ImageError(
            f"{name}: {width}x{height} px, whose shorter side is below the {MIN_SIDE} px VGG19 "
            f"needs (stylelib.images.MIN_SIDE); tensors are used at their own size"
        )
    pixels = _check_values(np.asarray(source).reshape(shape), name)
    if pixels.dtype == np.uint8:
        pixels = pixels.astype(np.float32) / 255.0
    return tf.constant(pixels)


def as_image(source, *, max_dim: int | None = 512, name: str = "image") -> tf.Tensor:
    """Any image argument -> float32 ``[1, H, W, 3]`` in [0, 1], or ImageError naming ``name``.

    What ``stylize`` uses for its ``content`` and each ``style`` image. By kind of ``source``:

    - ``tf.Tensor`` / ``tf.Variable``: used at its own size (``max_dim`` is not applied), shaped
      ``[1, H, W, 3]`` or ``[H, W, 3]`` (the batch axis is added); uint8 is divided by 255,
      float16/32/64 become float32. Four channels are refused (drop alpha, or pass an array, file
      or PIL image, where alpha is composited on white).
    - numpy arrays and nested lists/tuples of numbers: read like ``load_image`` reads arrays
      (``[H, W]``, ``[H, W, 1|3|4]`` or ``[1, H, W, 1|3|4]``, 4 = RGBA on white) and resized so
      that the longer side is ``max_dim``. Lists of Python numbers are floats in [0, 1].
    - anything else (a path, encoded bytes, a PIL image): ``load_image(source, max_dim)``.

    Every pixel check applies to every kind: uint8 or float dtype only; no zero-size dimension;
    no NaN or infinity (the message counts them); floats within [0, 1] up to
    ``RANGE_TOLERANCE`` (half a uint8 step, 1/510), which is clipped, anything further out is
    refused with the min and max found (and a hint when it looks like 0-255 or [-1, 1] data);
    a shorter side of at least ``MIN_SIDE`` px.

    Args:
        source: the image, as above.
        max_dim: longer side in pixels after resizing (arrays, files, bytes, PIL); ``None`` keeps
            the size. Must be None or a whole number >= ``MIN_SIDE`` whatever the source.
        name: the argument's name, which starts every message about the image, e.g.
            ``"content: 'x.png': no such file"`` or ``"style[1]: 12 of 4,800 values are not
            finite ..."``. (A bad ``max_dim`` is reported as ``max_dim ...``: it is not the
            image's fault.)

    Returns:
        float32 ``tf.Tensor`` ``[1, H, W, 3]`` with values in [0, 1].

    Introduced in notebook 01.
    """
    _check_max_dim(max_dim)
    if _is_tensor(source):
        return _tensor_image(source, name)
    if isinstance(source, (list, tuple)):  # a nested list of numbers, as TensorFlow ops take
        try:
            array = np.asarray(source)
        except (ValueError, TypeError) as exc:
            raise ImageError(
                f"{name}: a nested list must be a rectangular grid of numbers ({exc})"
            ) from None
        if array.dtype.kind in "iu" and array.dtype != np.uint8:  # Python ints: floats in [0, 1]
            array = array.astype(np.float64)
        return _load(array, max_dim, name)
    if _is_array_like(source):
        return _load(source, max_dim, name)
    return _load(source, max_dim, f"{name}: {_describe(source)}")


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


def _pixels_to_save(image, name: str) -> np.ndarray:
    """save_image's ``image`` -> uint8 [H, W, 3], or ImageError starting with ``name``.

    uint8 or float only, with pixels, finite; floats outside [0, 1] are clipped (as documented:
    a result being saved is never refused for a small overshoot).
    """
    try:
        array = np.asarray(image)
    except Exception as exc:
        raise ImageError(f"{name}: the image to save is not an array of pixels ({exc})") from None
    label = f"{name}: the image to save"
    _check_dtype(array.dtype, label)
    _check_not_empty(array, label)
    if array.dtype != np.uint8:
        _check_finite(array, label)
    try:
        return to_uint8(array)
    except ImageError as exc:
        raise ImageError(f"{label}: {exc}") from None


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


def write_atomically(real: Path, write, failed) -> None:
    """Write the file ``real`` by ``write(stream)`` into a new file beside it, then rename it over.

    An interrupted or failed write (a full disk) never leaves a half-written file nor harms the
    existing one, and no temporary file remains. A replaced file keeps its permission bits.
    ``failed(stage, exc)`` turns an OSError into the exception to raise; ``stage`` is "create"
    (no file could be made in the folder) or "write". Used by save_image and checkpoints.
    """
    existing = real.stat() if real.exists() else None
    try:
        fd, tmp_name = _create_beside(real)
    except OSError as exc:
        raise failed("create", exc) from None
    try:
        with os.fdopen(fd, "wb") as tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        if existing is not None:
            os.chmod(tmp_name, stat.S_IMODE(existing.st_mode) & 0o777)
        os.replace(tmp_name, real)
    except OSError as exc:
        raise failed("write", exc) from None
    finally:
        if os.path.exists(tmp_name):
            with contextlib.suppress(OSError):  # never hide the real error behind a cleanup one
                os.unlink(tmp_name)


def save_image(image, path: str | os.PathLike, *, quality: int = 95) -> Path:
    """Write an image to ``path`` as PNG or JPEG (chosen by the extension), atomically.

    Args:
        image: float32 [1, H, W, 3] or [H, W, 3] in [0, 1] (values outside are clipped), or uint8.
            NaN or infinite values, no pixels or another dtype are refused (ImageError).
        path: where to write; missing parent folders are created.
        quality: JPEG quality, a whole number 1-100 (Pillow advises at most 95); ignored for PNG.

    The pixels go to a temporary file in the same folder, which is then renamed over ``path``, so an
    interrupted save never leaves a half-written file nor destroys an existing one. Permissions are
    those an ordinary ``open(path, "w")`` gives: a new file gets 0o666 less the umask (0o644 with
    the usual umask 022); replacing a file keeps its permission bits (its owner becomes whoever
    saves). A symbolic link is written through, like ``open`` does, and stays a link. A file the
    user may not write is refused, as ``open`` would refuse it.

    Raises:
        ImageError: naming the file and the cause (e.g. "No space left on device", "Permission
            denied" for a read-only folder); the file that was at ``path`` is then untouched and
            no temporary ``.NAME.*.tmp`` file is left behind.

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
    if fmt == "JPEG" and (
        isinstance(quality, bool)
        or not isinstance(quality, (int, np.integer))
        or not 1 <= quality <= 100
    ):
        raise ImageError(f"quality must be a whole number from 1 to 100 (JPEG), got {quality!r}")
    pil = Image.fromarray(np.ascontiguousarray(_pixels_to_save(image, f"'{target}'")))
    real = Path(os.path.realpath(target))  # through symbolic links, as open() writes
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"'{target}': cannot create its folder ({exc.strerror or exc})") from None
    if real.exists() and not os.access(real, os.W_OK):
        raise ImageError(f"'{target}': cannot write (the existing file is read-only)")
    options = {"quality": quality} if fmt == "JPEG" else {}

    def failed(stage: str, exc: OSError) -> ImageError:
        if stage == "create":  # a read-only or full folder: nothing was created, nothing is lost
            return ImageError(
                f"'{target}': cannot create a file in the folder '{real.parent}' "
                f"({exc.strerror or exc}); nothing was written"
            )
        return ImageError(f"'{target}': cannot write ({exc.strerror or exc})")

    write_atomically(real, lambda stream: pil.save(stream, format=fmt, **options), failed)
    return target
